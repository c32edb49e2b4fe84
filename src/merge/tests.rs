use super::*;
use crate::output::write_report;
use crate::pipeline::{Config, analyze_files};

fn report_of(captures: &[&str]) -> Report {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let paths: Vec<_> = captures.iter().map(|c| dir.join(c)).collect();
    let cfg = Config {
        want_records: false,
        ..Config::default()
    };
    analyze_files(&paths, &cfg, &mut std::io::sink())
        .expect("analysis")
        .report
}

fn json(report: &Report) -> Vec<u8> {
    let mut out = Vec::new();
    write_report(report, &mut out).expect("write to a Vec");
    out
}

#[test]
fn a_report_read_back_writes_the_same_bytes() {
    let report = report_of(&[
        "tls12-mutual-auth.pcap",
        "cert-expired.pcap",
        "fail-no-shared-cipher.pcap",
        "tls13-resumption-psk.pcap",
    ]);
    let written = json(&report);
    let read = read_report(&written, "r.json").expect("read back");
    assert_eq!(
        String::from_utf8_lossy(&json(&read)),
        String::from_utf8_lossy(&written)
    );
}

#[test]
fn merging_one_report_with_an_empty_one_changes_nothing_but_the_inputs() {
    let report = report_of(&["tls12-ecdhe-rsa.pcap"]);
    let empty = Report::default();
    let mut merged = merge(vec![report.clone(), empty]).expect("merge");
    assert_eq!(merged.inputs.len(), 1);
    merged.inputs = report.inputs.clone();
    assert_eq!(json(&merged), json(&report));
}

#[test]
fn what_cannot_be_merged_is_named() {
    let err = read_report(b"{not json", "a.json").expect_err("not JSON");
    assert!(
        err.to_string()
            .starts_with("a.json is not a tlsight JSON report"),
        "{err}"
    );
    let mut report: serde_json::Value =
        serde_json::from_slice(&json(&report_of(&["tls12-ecdhe-rsa.pcap"]))).expect("json");
    report["merge_state"]["format"] = 99.into();
    let text = serde_json::to_vec(&report).expect("json");
    let err = read_report(&text, "b.json").expect_err("unknown format");
    assert!(err.to_string().contains("merge state format 99"), "{err}");
    report
        .as_object_mut()
        .expect("object")
        .remove("merge_state");
    let text = serde_json::to_vec(&report).expect("json");
    let err = read_report(&text, "c.json").expect_err("no state");
    assert!(err.to_string().contains("no merge_state"), "{err}");
    assert!(matches!(merge(Vec::new()), Err(MergeError::Empty)));
}

#[test]
fn the_slo_is_kept_only_when_every_report_agrees() {
    let mut a = report_of(&["tls12-ecdhe-rsa.pcap"]);
    a.slo_p95_ms = Some(5.0);
    let b = a.clone();
    assert_eq!(
        merge(vec![a.clone(), b]).expect("merge").slo_p95_ms,
        Some(5.0)
    );
    let mut c = a.clone();
    c.slo_p95_ms = Some(6.0);
    assert_eq!(merge(vec![a, c]).expect("merge").slo_p95_ms, None);
}

#[test]
fn the_merged_report_names_every_sensor() {
    let mut a = report_of(&["tls12-ecdhe-rsa.pcap"]);
    a.sensors.insert("dc1-lb".into());
    let mut b = a.clone();
    b.sensors = ["dc2-lb".to_string()].into();
    let merged = merge(vec![a, b]).expect("merge");
    let text = String::from_utf8(json(&merged)).expect("UTF-8");
    let read = read_report(text.as_bytes(), "m.json").expect("read back");
    assert_eq!(
        read.sensors,
        ["dc1-lb".to_string(), "dc2-lb".to_string()].into()
    );
    assert!(
        text.contains("\"sensors\": [\n    \"dc1-lb\",\n    \"dc2-lb\"\n  ]"),
        "{text}"
    );
}
