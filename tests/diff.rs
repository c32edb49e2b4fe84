//! `tlsight diff`: a capture against itself and against a re-recording of the same traffic
//! (fresh PKI, other ports and timings) shows no change; against a recording with one injected
//! regression it names exactly that regression. Sides may be captures, NDJSON records or
//! reports. `captures/README.md` ("Diff captures") describes the captures.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tlsight::diff::{ChangeKind, DiffResult, Subject, Thresholds, diff};
use tlsight::observed::{self, Observation};
use tlsight::pipeline::Config;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &Path) -> Observation {
    observed::load(&[path.to_path_buf()], &Config::default()).expect("loads")
}

fn diff_files(base: &Path, current: &Path) -> DiffResult {
    diff(&load(base), &load(current), &Thresholds::default(), &[])
}

fn capture(name: &str) -> PathBuf {
    root().join("captures").join(name)
}

/// (kind, subject) of every change.
fn changes(result: &DiffResult) -> Vec<(ChangeKind, Subject)> {
    result
        .changes
        .iter()
        .map(|c| (c.kind, c.subject.clone()))
        .collect()
}

fn server() -> Subject {
    Subject::Server {
        name: "server.test".into(),
    }
}

#[test]
fn every_capture_against_itself_is_empty() {
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in ["captures", "captures/diff"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                paths.push(p);
            }
        }
    }
    assert!(paths.len() > 50);
    for p in &paths {
        let o = load(p);
        let result = diff(&o, &o, &Thresholds::default(), &ChangeKind::ALL);
        assert!(
            result.changes.is_empty(),
            "{}: {:?}",
            p.display(),
            result.changes
        );
    }
}

#[test]
fn a_re_recording_of_the_same_traffic_is_empty() {
    let result = diff_files(&capture("diff/base.pcap"), &capture("diff/rerecorded.pcap"));
    assert!(result.changes.is_empty(), "{:#?}", result.changes);
    // What the re-recording did change, and the diff ignored.
    let (b, c) = (
        load(&capture("diff/base.pcap")),
        load(&capture("diff/rerecorded.pcap")),
    );
    let ports =
        |o: &Observation| -> Vec<u16> { o.connections().iter().map(|c| c.client.port).collect() };
    assert_ne!(ports(&b), ports(&c));
    let leaf = |o: &Observation| o.connections()[0].certificates[0].clone();
    assert_ne!(leaf(&b).serial, leaf(&c).serial);
    assert_ne!(leaf(&b).sha256, leaf(&c).sha256);
    let handshakes = |o: &Observation| -> Vec<Option<u64>> {
        o.connections().iter().map(|c| c.handshake_us).collect()
    };
    assert_ne!(handshakes(&b), handshakes(&c));
}

#[test]
fn an_injected_version_downgrade_is_named_and_nothing_else() {
    let result = diff_files(
        &capture("diff/base.pcap"),
        &capture("diff/regress-version.pcap"),
    );
    assert_eq!(changes(&result), [(ChangeKind::VersionDowngrade, server())]);
    let c = &result.changes[0];
    assert_eq!(
        (c.base.as_str(), c.current.as_str()),
        ("TLSv1.2 (20)", "TLSv1.0 (20)")
    );
}

#[test]
fn an_injected_client_certificate_failure_is_named_and_nothing_else() {
    let result = diff_files(
        &capture("diff/base.pcap"),
        &capture("diff/regress-client-cert.pcap"),
    );
    let client = Subject::Client {
        ja4: load(&capture("diff/base.pcap")).connections()[0]
            .ja4()
            .unwrap()
            .to_string(),
    };
    assert_eq!(
        changes(&result),
        [
            (ChangeKind::NewFailureCause, server()),
            (ChangeKind::FailureRateIncrease, server()),
            (ChangeKind::ClientFailureIncrease, client),
        ]
    );
    assert_eq!(
        result.changes[0].current,
        "server_rejected_client_certificate (20)"
    );
}

#[test]
fn an_injected_latency_regression_is_named_and_nothing_else() {
    let result = diff_files(
        &capture("diff/base.pcap"),
        &capture("diff/regress-latency.pcap"),
    );
    assert_eq!(
        changes(&result),
        [(ChangeKind::LatencyRegression, server())]
    );
    // The other way round it is an improvement.
    let back = diff_files(
        &capture("diff/regress-latency.pcap"),
        &capture("diff/base.pcap"),
    );
    assert_eq!(changes(&back), [(ChangeKind::LatencyImprovement, server())]);
    // Thresholds decide: a 10x change needs a floor above it to be ignored.
    let lenient = Thresholds {
        latency_floor_us: 1_000_000,
        ..Thresholds::default()
    };
    let base = load(&capture("diff/base.pcap"));
    let slow = load(&capture("diff/regress-latency.pcap"));
    assert!(diff(&base, &slow, &lenient, &[]).changes.is_empty());
}

#[test]
fn servers_clients_and_certificates_that_come_and_go() {
    let result = diff_files(
        &capture("tls12-ecdhe-rsa.pcap"),
        &capture("tls13-aes128gcm.pcap"),
    );
    let kinds: Vec<ChangeKind> = result.changes.iter().map(|c| c.kind).collect();
    // Same SNI: the server stays; the TLS 1.2 client is gone and a TLS 1.3 one appears; its
    // certificates are encrypted, so the TLS 1.2 ones are gone.
    for k in [
        ChangeKind::VersionUpgrade,
        ChangeKind::CipherChange,
        ChangeKind::NewClient,
        ChangeKind::ClientGone,
        ChangeKind::CertificateGone,
        ChangeKind::OfferedVersionChange,
    ] {
        assert!(kinds.contains(&k), "{k:?} in {kinds:?}");
    }
    let result = diff_files(
        &capture("tls12-ecdhe-rsa.pcap"),
        &capture("cert-expired.pcap"),
    );
    let finding = result
        .changes
        .iter()
        .find(|c| c.kind == ChangeKind::CertificateFindingNew)
        .expect("a new finding");
    assert_eq!(finding.current, "expired");
    assert!(matches!(&finding.subject, Subject::Certificate { role, .. } if role == "leaf"));
}

#[test]
fn reports_and_records_on_either_side() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("base.json");
    let records = dir.path().join("base.ndjson");
    let out = Command::new(env!("CARGO_BIN_EXE_tlsight"))
        .args(["analyze", "-q", "--json"])
        .arg(&report)
        .arg("--ndjson")
        .arg(&records)
        .arg(capture("diff/base.pcap"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let from_report = diff_files(&report, &capture("diff/rerecorded.pcap"));
    assert!(from_report.changes.is_empty(), "{:#?}", from_report.changes);
    assert_eq!(
        from_report.notes.len(),
        1,
        "says what a report cannot compare"
    );
    let from_records = diff_files(&records, &capture("diff/rerecorded.pcap"));
    assert!(from_records.changes.is_empty() && from_records.notes.is_empty());
    // From a report, versions are compared over all servers.
    let result = diff_files(&report, &capture("diff/regress-version.pcap"));
    assert_eq!(
        changes(&result),
        [(ChangeKind::VersionDowngrade, Subject::All)]
    );
    let result = diff_files(&records, &report);
    assert!(result.changes.is_empty(), "{:#?}", result.changes);
}

#[test]
fn fail_on_sets_the_exit_code_and_json_names_the_changes() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("diff.json");
    let run = |current: &str, fail_on: &str| {
        Command::new(env!("CARGO_BIN_EXE_tlsight"))
            .current_dir(root())
            .args([
                "diff",
                "captures/diff/base.pcap",
                current,
                "--fail-on",
                fail_on,
                "--json",
            ])
            .arg(&json)
            .output()
            .unwrap()
    };
    let out = run(
        "captures/diff/regress-version.pcap",
        "new-failure-cause,version-downgrade",
    );
    assert_eq!(out.status.code(), Some(4));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("server server.test\n ! version-downgrade"),
        "{text}"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["type"], "diff");
    assert_eq!(doc["failing"], 1);
    assert_eq!(doc["changes"][0]["kind"], "version-downgrade");
    assert_eq!(doc["changes"][0]["subject"]["name"], "server.test");
    let out = run("captures/diff/regress-version.pcap", "latency-regression");
    assert_eq!(
        out.status.code(),
        Some(0),
        "a change, but not of a --fail-on kind"
    );
    let out = run("captures/diff/rerecorded.pcap", "any");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("No changes."));
    let out = run("captures/diff/rerecorded.pcap", "latency");
    assert_eq!(out.status.code(), Some(2), "unknown kind");
}
