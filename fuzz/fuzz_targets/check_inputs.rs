//! What `tlsight check` and `tlsight diff` read from users rather than from the wire: a policy
//! file (TOML) and NDJSON connection records, then everything done with them (evaluation at
//! capture time and at fixed times, every renderer, a diff of the records with themselves).
//!
//! Input: the policy's text, a 0 byte, then the records.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use tlsight::check::{EvalOptions, Policy, Reference, evaluate, render};
use tlsight::diff::{self, ChangeKind, Thresholds};
use tlsight::observed::{Observation, RecordSink};

fuzz_target!(|data: &[u8]| {
    let (policy, records) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let mut sink = RecordSink::default();
    let connections = match sink.write_all(records) {
        Ok(()) => sink.finish().unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let observation = Observation {
        connections: Some(connections),
        ..Observation::default()
    };
    let changes = diff::diff(
        &observation,
        &observation,
        &Thresholds::default(),
        &ChangeKind::ALL,
    );
    assert!(
        changes.changes.is_empty(),
        "records differ from themselves: {:?}",
        changes.changes
    );
    let Ok(text) = std::str::from_utf8(policy) else {
        return;
    };
    let Ok(policy) = Policy::from_toml(text, "fuzz.toml") else {
        return;
    };
    for fixed_us in [None, Some(0), Some(4_102_444_800_000_000)] {
        let opts = EvalOptions {
            reference: Reference {
                fixed_us,
                warn_days: 30,
            },
            examples: 2,
        };
        let result = evaluate(&policy, &observation, &opts);
        let mut out = Vec::new();
        render::terminal::write(&result, &mut out).unwrap();
        render::junit::write(&result, &mut out).unwrap();
        render::sarif::write(&result, &mut out).unwrap();
        render::json(&result, &mut out).unwrap();
    }
});
