//! `tlsight analyze --keylog` run as users run it, and what the key-log tests read of its
//! records: the connection records, their chains' SHA-256s and alerts as tshark shows them,
//! and the goldens of whole outputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use similar::TextDiff;
use tlsight::tls::decrypt::connection::Sender::{Client, Server};

use super::tshark_tls::Shown;

/// Runs `tlsight analyze CAPTURE --keylog K... --ndjson -` from the project's root, the files
/// named relative to it (records name their input file: goldens must not depend on where the
/// checkout is); returns stdout and stderr.
pub fn analyze_with_keylogs(capture: &Path, keylogs: &[PathBuf]) -> (String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tlsight"));
    cmd.current_dir(root)
        .arg("analyze")
        .arg(capture.strip_prefix(root).unwrap_or(capture));
    for k in keylogs {
        cmd.arg("--keylog").arg(k.strip_prefix(root).unwrap_or(k));
    }
    let out = cmd
        .args(["--ndjson", "-", "--quiet", "--workers", "2"])
        .output()
        .expect("run tlsight");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{}: {stderr}", capture.display());
    (String::from_utf8(out.stdout).expect("UTF-8"), stderr)
}

/// The connection records of an NDJSON output.
pub fn connection_records(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|r| r["type"] == "connection")
        .collect()
}

/// The SHA-256s of a record's chain (`certificates` or `client_certificates`).
pub fn sha256s(c: &Value, key: &str) -> Vec<String> {
    c[key]
        .as_array()
        .expect("chain")
        .iter()
        .map(|cert| cert["sha256"].as_str().expect("sha256").to_string())
        .collect()
}

/// An alert description's code, from its name in records.
pub fn alert_code(name: &str) -> u8 {
    (0..=255u8)
        .find(|&c| tlsight::tls::codes::AlertDescription(c).name() == name)
        .unwrap_or_else(|| panic!("unknown alert name {name}"))
}

/// What a record shows of what tshark shows: chains, ALPN, alerts (sender, level, code).
pub fn shown(c: &Value) -> Shown {
    Shown {
        server_certs: sha256s(c, "certificates"),
        client_certs: sha256s(c, "client_certificates"),
        alpn: c["alpn"].as_str().map(str::to_string),
        alerts: c["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .map(|a| {
                let from = if a["from"] == "client" {
                    Client
                } else {
                    Server
                };
                let level = match a["level"].as_str() {
                    Some("warning") => 1,
                    Some("fatal") => 2,
                    _ => 0,
                };
                (
                    from,
                    level,
                    alert_code(a["description"].as_str().unwrap_or("")),
                )
            })
            .collect(),
    }
}

/// Compares `actual` with the golden file, or writes it when blessing (`TLSIGHT_BLESS` set);
/// a difference is pushed to `failures` as a readable diff. `test` names the test to re-bless
/// with.
pub fn check_golden(golden: &Path, actual: &str, test: &str, failures: &mut Vec<String>) {
    if std::env::var_os("TLSIGHT_BLESS").is_some() {
        if let Some(dir) = golden.parent() {
            std::fs::create_dir_all(dir).expect("create the goldens' directory");
        }
        std::fs::write(golden, actual).expect("bless");
        return;
    }
    let want = std::fs::read_to_string(golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (bless with TLSIGHT_BLESS=1 cargo test --test {test})",
            golden.display()
        )
    });
    if want != actual {
        let diff = TextDiff::from_lines(&want, actual)
            .unified_diff()
            .context_radius(2)
            .header("expected", "actual")
            .to_string();
        failures.push(format!("--- {} differs:\n{diff}", golden.display()));
    }
}
