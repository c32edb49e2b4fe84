//! Golden tests: tlsight's full output (NDJSON connection log and JSON report) on every scenario
//! capture in `captures/` is pinned in `captures/expected/`. A failure prints a unified diff.
//!
//! After an intended output change, re-bless with:
//! `TLSIGHT_BLESS=1 cargo test --release --test golden` and review the diff in git.

mod common;

use std::path::{Path, PathBuf};

use similar::TextDiff;

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

/// Every capture in `captures/` (pcap and pcapng), sorted.
fn scenario_captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(captures_dir())
        .expect("captures/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

/// The report with the input paths made relative, so goldens do not depend on the checkout.
fn portable_report(analysis: &tlsight::pipeline::Analysis) -> String {
    let text = String::from_utf8(common::report_json(analysis)).expect("UTF-8 report");
    let dir = format!("{}/", captures_dir().display());
    text.replace(&dir, "captures/")
}

fn check(golden: &Path, actual: &str, bless: bool, failures: &mut Vec<String>) {
    if bless {
        std::fs::write(golden, actual).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
        return;
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (bless with TLSIGHT_BLESS=1 cargo test --release --test golden)",
            golden.display()
        )
    });
    if expected != actual {
        let diff = TextDiff::from_lines(&expected, actual)
            .unified_diff()
            .context_radius(2)
            .header("expected", "actual")
            .to_string();
        failures.push(format!("--- {} differs:\n{diff}", golden.display()));
    }
}

#[test]
fn outputs_match_goldens() {
    let bless = std::env::var_os("TLSIGHT_BLESS").is_some();
    let expected_dir = captures_dir().join("expected");
    if bless {
        std::fs::create_dir_all(&expected_dir).expect("create captures/expected");
    }
    let captures = scenario_captures();
    assert!(captures.len() >= 40, "scenario captures are missing");
    let mut failures = Vec::new();
    for path in &captures {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name");
        let analysis = common::analyze(std::slice::from_ref(path), 2);
        let ndjson = String::from_utf8(common::ndjson(&analysis)).expect("UTF-8 NDJSON");
        check(
            &expected_dir.join(format!("{name}.ndjson")),
            &ndjson,
            bless,
            &mut failures,
        );
        check(
            &expected_dir.join(format!("{name}.report.json")),
            &portable_report(&analysis),
            bless,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
