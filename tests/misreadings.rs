//! Misreadings found by running tlsight over other projects' real captures (issue #20), each
//! fixed and pinned here on the capture that showed it, with the fact in plain words.

mod common;

use std::path::PathBuf;

use serde_json::Value;
use tlsight::pipeline::{Config, analyze_files};

fn real(name: &str) -> PathBuf {
    common::real_captures_dir().join(name)
}

fn records_with(path: PathBuf, cfg: &Config) -> Vec<Value> {
    let mut ndjson = Vec::new();
    analyze_files(&[path], cfg, &mut ndjson).expect("analyze");
    ndjson
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("NDJSON"))
        .collect()
}

fn records(path: PathBuf) -> Vec<Value> {
    records_with(path, &Config::default())
}

/// Zeek's `tls-fragmented-handshake.pcap`: the server's Certificate message is 330 KB, sent
/// in 21 records. It used to be skipped (`handshake_message_too_large`, the cap was 256 KiB);
/// a message may now be as long as the per-connection buffer budget (1 MiB by default).
#[test]
fn a_330_kb_certificate_message_is_read() {
    let r = records(real("zeek__tls-fragmented-handshake.pcap"));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["anomalies"], serde_json::json!({}));
    assert_eq!(r[0]["certificates"][0]["subject"], "CN=Bro");
    let messages = r[0]["messages"].as_array().expect("messages");
    assert!(
        messages.iter().any(|m| m == "server:certificate"),
        "{messages:?}"
    );
}

/// The same message beyond the budgets: skipped and counted, the rest of the handshake read.
#[test]
fn a_certificate_message_beyond_the_buffer_budgets_is_counted() {
    let mut cfg = Config::default();
    cfg.limits.max_flow_buffer = 256 * 1024;
    let r = records_with(real("zeek__tls-fragmented-handshake.pcap"), &cfg);
    assert_eq!(r[0]["anomalies"]["handshake_message_too_large"], 1);
    let messages = r[0]["messages"].as_array().expect("messages");
    assert_eq!(
        messages.last().expect("messages"),
        "server:server_hello_done"
    );
    assert!(!messages.iter().any(|m| m == "server:certificate"));
    let mut cfg = Config::default();
    cfg.limits.max_total_buffer = 300_000;
    let r = records_with(real("zeek__tls-fragmented-handshake.pcap"), &cfg);
    assert_eq!(r[0]["anomalies"]["handshake_buffer_full"], 1);
    assert_eq!(r[0]["certificates"], serde_json::json!([]));
}
