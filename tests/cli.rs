//! The binary as users meet it: outputs, exit codes and messages for bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tlsight() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tlsight"))
}

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

#[test]
fn analyze_writes_ndjson_report_and_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ndjson = dir.path().join("c.ndjson");
    let json = dir.path().join("r.json");
    let out = tlsight()
        .arg("analyze")
        .arg(capture("fail-no-shared-cipher.pcap"))
        .arg("--ndjson")
        .arg(&ndjson)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run tlsight");
    assert!(out.status.success(), "{out:?}");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("no_shared_cipher"), "{summary}");
    let line = std::fs::read_to_string(&ndjson).expect("ndjson written");
    let record: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON record");
    assert_eq!(record["type"], "connection");
    assert_eq!(record["outcome"], "failed");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("report written")).expect("JSON");
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["summary"]["tls_connections"], 1);
}

#[test]
fn ndjson_to_stdout_moves_the_summary_to_stderr() {
    let out = tlsight()
        .arg("analyze")
        .arg(capture("tls13-aes128gcm.pcap"))
        .args(["--ndjson", "-"])
        .output()
        .expect("run tlsight");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().all(|l| l.starts_with('{')), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Outcomes"));
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = tlsight()
        .args(["analyze", "/nonexistent/capture.pcap"])
        .output()
        .expect("run tlsight");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/capture.pcap") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_a_capture_is_named() {
    let out = tlsight()
        .arg("analyze")
        .arg(capture("README.md"))
        .output()
        .expect("run tlsight");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("README.md") && err.contains("not a pcap"),
        "{err}"
    );
}

#[test]
fn truncated_capture_reports_what_was_read_and_exits_3() {
    let out = tlsight()
        .arg("analyze")
        .arg(capture("defect-truncated-mid-packet.pcap"))
        .args(["--ndjson", "-"])
        .output()
        .expect("run tlsight");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("defect-truncated-mid-packet.pcap")
            && err.contains("reading stopped at packet"),
        "{err}"
    );
}

#[test]
fn bad_arguments_exit_2() {
    let out = tlsight()
        .args(["analyze", "--workers", "0", "x.pcap"])
        .output()
        .expect("run tlsight");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--workers"));
    let out = tlsight()
        .args(["analyze", "--sensor", " ", "x.pcap"])
        .output()
        .expect("run tlsight");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sensor must not be empty"));
}

#[test]
fn kafka_settings_that_cannot_work_are_named() {
    let capture = capture("tls12-ecdhe-rsa.pcap");
    let out = tlsight()
        .arg("analyze")
        .arg(&capture)
        .args(["--kafka", "127.0.0.1:1", "--kafka-option", "linger.ms"])
        .output()
        .expect("run tlsight");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'linger.ms' is not key=value"), "{err}");
    let out = tlsight()
        .arg("analyze")
        .arg(&capture)
        .args([
            "--kafka",
            "127.0.0.1:1",
            "--kafka-option",
            "no.such.setting=1",
        ])
        .output()
        .expect("run tlsight");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Kafka producer for 127.0.0.1:1"), "{err}");
    assert!(err.contains("no.such.setting"), "{err}");
}

#[test]
fn a_report_that_cannot_be_merged_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"type\": \"report\"}").expect("write");
    let out = tlsight()
        .arg("merge")
        .arg(&bad)
        .output()
        .expect("run tlsight");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.json is not a tlsight JSON report"),
        "{err}"
    );
}

#[test]
fn html_report_to_a_file_or_standard_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join("r.html");
    let out = tlsight()
        .arg("analyze")
        .arg(capture("fail-no-shared-cipher.pcap"))
        .arg("--html")
        .arg(&html)
        .arg("--failed-per-cause")
        .arg("5")
        .output()
        .expect("run tlsight");
    assert!(out.status.success(), "{out:?}");
    let page = std::fs::read_to_string(&html).expect("page written");
    assert!(page.starts_with("<!DOCTYPE html>"), "{}", &page[..80]);
    assert!(page.contains("The earliest 5 failed connections of each cause"));
    assert!(page.contains("<tr data-cause=\"no_shared_cipher\">"));
    // To standard output, the summary moves to standard error.
    let out = tlsight()
        .arg("analyze")
        .arg(capture("fail-no-shared-cipher.pcap"))
        .args(["--html", "-"])
        .output()
        .expect("run tlsight");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        out.stdout,
        page.replace("earliest 5 ", "earliest 100 ").into_bytes()
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_shared_cipher"));
    // One output at most on standard output.
    let out = tlsight()
        .arg("analyze")
        .arg(capture("fail-no-shared-cipher.pcap"))
        .args(["--html", "-", "--json", "-"])
        .output()
        .expect("run tlsight");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--html can write to standard output"));
}
