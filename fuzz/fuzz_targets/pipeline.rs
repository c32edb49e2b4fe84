//! The whole pipeline over arbitrary capture bytes: libpcap reads them from a file (it needs
//! one), then decode, reassembly, TLS, facts, aggregates and every report (JSON, summary,
//! HTML: traffic-chosen names and times reach the page's markup and charts).
#![no_main]

use std::io::Write;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use tlsight::output;
use tlsight::pipeline::{Config, analyze_files};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("tlsight-fuzz-{}.pcap", std::process::id()));
    let written = std::fs::File::create(&path).and_then(|mut f| f.write_all(data));
    if written.is_err() {
        return;
    }
    let paths: [PathBuf; 1] = [path.clone()];
    let mut sink = Vec::new();
    if let Ok(analysis) = analyze_files(&paths, &Config::default(), &mut sink) {
        output::write_report(&analysis.report, &mut sink).ok();
        output::write_summary(
            &analysis.report,
            &output::SummaryOptions {
                top: None,
                now: None,
            },
            &mut sink,
        )
        .ok();
        output::html::write_html(&analysis.report, &mut sink).ok();
    }
    let _ = std::fs::remove_file(&path);
});
