//! Helpers shared by the integration tests: run the pipeline on files and read its outputs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tlsight::pipeline::{Analysis, Config, analyze_files};

/// The shared folder beside the project (real captures, benchmark seeds).
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// Runs the offline pipeline on `paths` with `workers` workers.
pub fn analyze(paths: &[PathBuf], workers: usize) -> Analysis {
    let cfg = Config {
        workers,
        ..Config::default()
    };
    analyze_files(paths, &cfg)
}

/// The NDJSON log of an analysis.
pub fn ndjson(analysis: &Analysis) -> Vec<u8> {
    let mut out = Vec::new();
    analysis.write_ndjson(&mut out).expect("write to a Vec");
    out
}

/// The NDJSON log of an analysis, one JSON value per record.
pub fn records(analysis: &Analysis) -> Vec<serde_json::Value> {
    ndjson(analysis)
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("valid NDJSON line"))
        .collect()
}

/// The JSON report of an analysis.
pub fn report_json(analysis: &Analysis) -> Vec<u8> {
    let mut out = Vec::new();
    tlsight::output::write_report(&analysis.report, &mut out).expect("write to a Vec");
    out
}
