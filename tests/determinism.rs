//! Offline output must not depend on the worker count: the same capture gives byte-identical
//! NDJSON, JSON and HTML reports for `--workers 1` and `--workers 4`.

mod common;

use std::path::PathBuf;

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::real_captures_dir())
        .expect("real captures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    files.push(common::bench_seeds_dir().join("seed-hs.pcap"));
    files.push(common::bench_seeds_dir().join("seed-app.pcap"));
    files
}

#[test]
fn one_and_four_workers_give_identical_bytes() {
    let files = corpus();
    let one = common::analyze(&files, 1);
    let four = common::analyze(&files, 4);
    assert!(
        one.records_written > 100,
        "corpus should yield many records"
    );
    let (a, b) = (common::ndjson(&one), common::ndjson(&four));
    if a != b {
        let (la, lb): (Vec<_>, Vec<_>) = (
            a.split(|&c| c == b'\n').collect(),
            b.split(|&c| c == b'\n').collect(),
        );
        let first = la
            .iter()
            .zip(&lb)
            .position(|(x, y)| x != y)
            .unwrap_or(la.len().min(lb.len()));
        panic!(
            "NDJSON differs at line {}:\n 1 worker: {}\n 4 workers: {}",
            first + 1,
            la.get(first)
                .map(|l| String::from_utf8_lossy(l))
                .unwrap_or_default(),
            lb.get(first)
                .map(|l| String::from_utf8_lossy(l))
                .unwrap_or_default()
        );
    }
    assert_eq!(
        String::from_utf8_lossy(&common::report_json(&one)),
        String::from_utf8_lossy(&common::report_json(&four)),
        "JSON reports differ"
    );
    assert!(
        common::report_html(&one) == common::report_html(&four),
        "HTML reports differ"
    );
}
