//! `tlsight analyze --keylog` over the captures recorded with key logs (`captures/keylog/`):
//! decryption wired into the pipeline. Each capture's full NDJSON output is pinned in
//! `captures/keylog/expected/` (re-bless with `TLSIGHT_BLESS=1`), each has its key fact in
//! plain words, the Decryption Secrets Block capture gives the same answer as its key log file,
//! the Zeek TLS 1.2 key-log capture is fully decrypted, and what tlsight reports agrees with
//! tshark given the same keys.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::keylog_cli::{
    analyze_with_keylogs as analyze, check_golden, connection_records as records, sha256s, shown,
};
use common::tshark_tls::{Shown, tshark_available, tshark_shows};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/keylog")
}

/// The connection records of `NAME.pcap` analysed with `NAME.keylog`.
fn connections(name: &str) -> Vec<Value> {
    let (ndjson, _) = analyze(
        &dir().join(format!("{name}.pcap")),
        &[dir().join(format!("{name}.keylog"))],
    );
    records(&ndjson)
}

/// Every capture name with a key log beside it.
fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("captures/keylog")
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_string))
        .filter(|n| dir().join(format!("{n}.keylog")).exists())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn alerts(c: &Value) -> Vec<(String, String, bool)> {
    c["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| {
            (
                a["from"].as_str().unwrap_or("?").to_string(),
                a["description"].as_str().unwrap_or("?").to_string(),
                a["inferred"].as_bool().unwrap_or(true),
            )
        })
        .collect()
}

fn messages(c: &Value) -> Vec<&str> {
    c["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m.as_str().expect("name"))
        .collect()
}

fn fully_decrypted(c: &Value, name: &str) {
    assert_eq!(c["decryption"], "full", "{name}: {c}");
    assert_eq!(c["decryption_failed"], 0, "{name}");
    assert_eq!(c["decryption_missing"], Value::Null, "{name}");
}

#[test]
fn outputs_match_goldens() {
    let mut failures = Vec::new();
    for name in names() {
        let (ndjson, stderr) = analyze(
            &dir().join(format!("{name}.pcap")),
            &[dir().join(format!("{name}.keylog"))],
        );
        assert!(!stderr.contains("key log"), "{name}: {stderr}");
        let golden = dir().join("expected").join(format!("{name}.ndjson"));
        check_golden(&golden, &ndjson, "keylog_analyze", &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// TLS 1.3 with each suite: everything decrypted, both Finished verified, the chain of two,
/// ALPN h2 from EncryptedExtensions, OpenSSL's two tickets, close_notify both ways exact.
#[test]
fn tls13_three_suites_are_fully_decrypted() {
    for name in ["tls13-aes128gcm", "tls13-aes256gcm", "tls13-chacha20"] {
        let conns = connections(name);
        assert_eq!(conns.len(), 1, "{name}");
        let c = &conns[0];
        fully_decrypted(c, name);
        assert_eq!(c["outcome"], "established", "{name}");
        assert_eq!(
            c["finished_verified"],
            serde_json::json!({"client": true, "server": true})
        );
        assert_eq!(sha256s(c, "certificates").len(), 2, "{name}: leaf + CA");
        assert_eq!(c["resumption"]["tickets_issued"], 2, "{name}");
        assert_eq!(c["ticket_lifetime_s"], 7200, "{name}");
        assert_eq!(
            alerts(c),
            vec![
                ("client".into(), "close_notify".into(), false),
                ("server".into(), "close_notify".into(), false)
            ],
            "{name}"
        );
        assert!(messages(c).contains(&"server:certificate_verify"), "{name}");
    }
    assert_eq!(connections("tls13-aes128gcm")[0]["alpn"], "h2");
}

/// The client rejects the server's certificate: an exact `unknown_ca` from the client after the
/// server's Finished, not an inference from record sizes.
#[test]
fn tls13_unknown_ca_is_exact() {
    let c = &connections("tls13-unknown-ca")[0];
    assert_eq!(
        alerts(c),
        vec![("client".into(), "unknown_ca".into(), false)]
    );
    assert_eq!(c["failure"]["cause"], "client_rejected_certificate");
    assert_eq!(c["failure"]["inferred"], false);
    assert_eq!(
        sha256s(c, "certificates").len(),
        2,
        "the rejected chain is seen"
    );
}

/// The server asks for a certificate, the client sends none: CertificateRequest decrypted and
/// the server's exact `certificate_required`.
#[test]
fn tls13_certificate_required_is_exact() {
    let c = &connections("tls13-certificate-required")[0];
    fully_decrypted(c, "certificate-required");
    assert_eq!(c["certificate_requested"], true);
    assert_eq!(c["client_certificate_empty"], true);
    assert!(
        alerts(c).contains(&("server".into(), "certificate_required".into(), false)),
        "{:?}",
        alerts(c)
    );
}

/// Mutual TLS 1.3: the client's chain is in the record, with its CertificateVerify scheme.
#[test]
fn tls13_mutual_auth_shows_the_client_chain() {
    let c = &connections("tls13-mutual-auth")[0];
    fully_decrypted(c, "mutual-auth");
    assert_eq!(c["outcome"], "established");
    assert!(!sha256s(c, "client_certificates").is_empty());
    assert!(c["certificate_verify_scheme"]["client"].is_u64());
}

/// HelloRetryRequest then a full handshake: both ClientHellos, decrypted after the retry.
#[test]
fn tls13_hello_retry_request_then_full_handshake() {
    let c = &connections("tls13-hello-retry-request")[0];
    fully_decrypted(c, "hrr");
    assert!(c["hello_retry_request"].is_object());
    assert!(c["retry_client_hello"].is_object());
    assert_eq!(
        c["finished_verified"],
        serde_json::json!({"client": true, "server": true})
    );
}

/// PSK resumption: the first connection's tickets counted, the second resumes with no
/// certificate.
#[test]
fn tls13_psk_resumption_with_tickets() {
    let conns = connections("tls13-resumption-psk");
    assert_eq!(conns.len(), 2);
    for c in &conns {
        fully_decrypted(c, "resumption");
    }
    assert!(conns[0]["resumption"]["tickets_issued"].as_u64() >= Some(1));
    assert_eq!(conns[1]["outcome"], "resumed");
    assert_eq!(sha256s(&conns[1], "certificates").len(), 0);
}

/// TLS 1.2 GCM and CBC (encrypt-then-MAC) with a renegotiation inside the encrypted channel:
/// the renegotiation is seen and completed, both Finished verified, close_notify exact.
#[test]
fn tls12_encrypted_renegotiation() {
    for name in ["tls12-gcm-renegotiation", "tls12-cbc-etm-renegotiation"] {
        let c = &connections(name)[0];
        fully_decrypted(c, name);
        let r = &c["renegotiation"];
        assert_eq!(
            r["client_initiated"].as_u64().unwrap_or(0)
                + r["server_initiated"].as_u64().unwrap_or(0),
            1,
            "{name}: {r}"
        );
        assert_eq!(r["completed"], 1, "{name}: {r}");
        assert_eq!(
            c["finished_verified"],
            serde_json::json!({"client": true, "server": true}),
            "{name}"
        );
        assert_eq!(
            messages(c)
                .iter()
                .filter(|m| m.ends_with("client_hello"))
                .count(),
            2,
            "{name}: the new ClientHello is read"
        );
        assert!(
            alerts(c).iter().all(|a| a.1 == "close_notify" && !a.2),
            "{name}"
        );
    }
}

/// The other TLS ≤ 1.2 suites: CBC with MAC-then-encrypt, TLS 1.0's implicit IV, ChaCha20.
#[test]
fn tls12_and_tls10_cbc_and_chacha() {
    for name in [
        "tls12-cbc-sha1-mte",
        "tls10-cbc-implicit-iv",
        "tls12-chacha20",
    ] {
        let c = &connections(name)[0];
        fully_decrypted(c, name);
        assert_eq!(
            c["finished_verified"],
            serde_json::json!({"client": true, "server": true}),
            "{name}"
        );
    }
}

/// The secrets stored in the pcapng's Decryption Secrets Block give the same records as the
/// key log file, with no `--keylog`.
#[test]
fn secrets_block_gives_the_same_answer_as_the_key_log() {
    let (from_dsb, _) = analyze(&dir().join("tls13-aes128gcm-dsb.pcapng"), &[]);
    let from_file = connections("tls13-aes128gcm");
    let from_dsb = records(&from_dsb);
    assert_eq!(from_dsb.len(), 1);
    fully_decrypted(&from_dsb[0], "dsb");
    for key in [
        "alerts",
        "messages",
        "certificates",
        "alpn",
        "finished_verified",
    ] {
        assert_eq!(from_dsb[0][key], from_file[0][key], "{key}");
    }
}

/// Without a key log nothing is decrypted and no decryption field appears; with a key log
/// that lacks the connection, the record says which secret was missing.
#[test]
fn without_keys_nothing_changes_and_missing_secrets_are_named() {
    let capture = dir().join("tls13-aes128gcm.pcap");
    let (plain, _) = analyze(&capture, &[]);
    assert!(!plain.contains("\"decryption\""));
    assert_eq!(records(&plain)[0]["certificates"], serde_json::json!([]));
    let other = dir().join("tls12-chacha20.keylog");
    let c = &records(&analyze(&capture, &[other]).0)[0];
    assert_eq!(c["decryption"], "none");
    assert_eq!(c["decryption_missing"], "SERVER_HANDSHAKE_TRAFFIC_SECRET");
}

/// A bad key log line is named by file and line, and skipped.
#[test]
fn bad_key_log_lines_are_named_and_skipped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("bad.keylog");
    let good = std::fs::read_to_string(dir().join("tls13-aes128gcm.keylog")).expect("read");
    std::fs::write(&path, format!("CLIENT_RANDOM nothex\n{good}")).expect("write");
    let (ndjson, stderr) = analyze(
        &dir().join("tls13-aes128gcm.pcap"),
        std::slice::from_ref(&path),
    );
    assert!(
        stderr.contains(&format!("{}:1:", path.display())),
        "{stderr}"
    );
    fully_decrypted(&records(&ndjson)[0], "bad line skipped");
}

/// Zeek's TLS 1.2 key-log capture (third-party): every connection fully decrypted, both
/// Finished verified.
#[test]
fn zeek_tls12_keylog_capture_is_fully_decrypted() {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real");
    let (ndjson, _) = analyze(
        &real.join("zeek__tls-1.2-stream-keylog.pcap"),
        &[real.join("keylogs/zeek__tls-1.2-stream-keylog.pcap.keylog")],
    );
    let conns = records(&ndjson);
    assert!(!conns.is_empty());
    for c in &conns {
        fully_decrypted(c, "zeek");
        assert_eq!(
            c["finished_verified"],
            serde_json::json!({"client": true, "server": true})
        );
    }
}

/// Certificates (SHA-256), ALPN and alerts that `tlsight analyze --keylog` reports equal what
/// tshark shows with the same key log, for every capture with keys. Skipped, with the reason
/// printed, where tshark is not installed.
#[test]
fn analyze_agrees_with_tshark() {
    if !tshark_available() {
        eprintln!("SKIPPED: tshark is not installed (scripts/ensure-deps.sh installs it)");
        return;
    }
    for name in names() {
        let keylog = dir().join(format!("{name}.keylog"));
        let mut theirs = tshark_shows(&dir().join(format!("{name}.pcap")), &keylog);
        // A renegotiation sends the chain again; a record keeps each side's first chain.
        for shown in &mut theirs {
            first_chain(&mut shown.server_certs);
            first_chain(&mut shown.client_certs);
        }
        let ours: Vec<Shown> = connections(&name).iter().map(shown).collect();
        assert_eq!(ours, theirs, "{name}");
    }
}

/// Drops a chain's repetitions (the same certificates sent again in a renegotiation).
fn first_chain(certs: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    certs.retain(|c| seen.insert(c.clone()));
}

/// The report counts connections by decryption level and names the missing secrets; a key log
/// whose secret is wrong counts `decryption_failed` records.
#[test]
fn report_counts_decryption() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = tmp.path().join("report.json");
    // The key log's server handshake secret damaged: its records have keys and do not open.
    let good = std::fs::read_to_string(dir().join("tls13-aes128gcm.keylog")).expect("read");
    let wrong: String = good
        .lines()
        .map(
            |l| match l.strip_prefix("SERVER_HANDSHAKE_TRAFFIC_SECRET ") {
                Some(rest) => {
                    let (random, secret) = rest.split_once(' ').expect("two fields");
                    format!(
                        "SERVER_HANDSHAKE_TRAFFIC_SECRET {random} {}\n",
                        "00".repeat(secret.len() / 2)
                    )
                }
                None => format!("{l}\n"),
            },
        )
        .collect();
    let keylog = tmp.path().join("wrong.keylog");
    std::fs::write(&keylog, wrong).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_tlsight"))
        .arg("analyze")
        .arg(dir().join("tls13-aes128gcm.pcap"))
        .arg(dir().join("tls12-chacha20.pcap"))
        .arg("--keylog")
        .arg(&keylog)
        .arg("--json")
        .arg(&report)
        .output()
        .expect("run tlsight");
    assert!(out.status.success());
    // The terminal summary goes to standard output when no output claims it.
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("decryption_failed:"), "{summary}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
    let d = &report["decryption"];
    assert_eq!(d["missing"]["CLIENT_RANDOM"], 1, "{d}");
    assert!(d["failed_records"].as_u64() > Some(0), "{d}");
    assert_eq!(d["failed_connections"], 1, "{d}");
}
