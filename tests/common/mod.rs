//! Helpers shared by the integration tests: run the pipeline on files and read its outputs.

#![allow(dead_code)]

pub mod quic;
pub mod udp;

use std::ops::Deref;
use std::path::{Path, PathBuf};

use tlsight::pipeline::{Analysis, Config, analyze_files};

/// Real captures from other projects' test suites, with the facts peers report for them
/// (copied into the project with their provenance and licenses: `captures/real/README.md`).
pub fn real_captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real")
}

/// The benchmark seed captures (`benches/seed/README.md`).
pub fn bench_seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/seed")
}

/// An analysis and the NDJSON log it wrote.
pub struct Run {
    pub analysis: Analysis,
    pub ndjson: Vec<u8>,
}

impl Deref for Run {
    type Target = Analysis;

    fn deref(&self) -> &Analysis {
        &self.analysis
    }
}

/// Runs the offline pipeline on `paths` with `workers` workers.
pub fn analyze(paths: &[PathBuf], workers: usize) -> Run {
    let mut cfg = Config {
        workers,
        ..Config::default()
    };
    // Records name their input by file name, so goldens do not depend on the checkout.
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            p.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        })
        .collect();
    cfg.record_format.inputs = names.into();
    let mut ndjson = Vec::new();
    let analysis = analyze_files(paths, &cfg, &mut ndjson).expect("write to a Vec");
    Run { analysis, ndjson }
}

/// The NDJSON log of an analysis.
pub fn ndjson(run: &Run) -> Vec<u8> {
    run.ndjson.clone()
}

/// The NDJSON log of an analysis, one JSON value per record.
pub fn records(run: &Run) -> Vec<serde_json::Value> {
    run.ndjson
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("valid NDJSON line"))
        .collect()
}

/// The HTML report of an analysis.
pub fn report_html(analysis: &Analysis) -> Vec<u8> {
    let mut out = Vec::new();
    tlsight::output::html::write_html(&analysis.report, &mut out).expect("write to a Vec");
    out
}

/// The JSON report of an analysis.
pub fn report_json(analysis: &Analysis) -> Vec<u8> {
    let mut out = Vec::new();
    tlsight::output::write_report(&analysis.report, &mut out).expect("write to a Vec");
    out
}

pub mod keylog_cli;
pub mod replay;
pub mod tshark_tls;
