//! Connections that never carry TLS (issue #20): a SYN flood, refused probes, connections
//! closed before a byte and plain-text ones are counted per server in the report, never
//! written as records, while a real handshake among them is reported as usual; a full
//! half-open table evicts only half-open connections, and counts them; UDP flows whose server
//! never answered are capped apart the same way.

mod common;

use std::path::PathBuf;

use serde_json::Value;
use tlsight::pipeline::{Config, analyze_files};

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;

/// An Ethernet/IPv4/TCP frame (checksums left 0: tlsight does not check them).
fn frame(
    src: [u8; 4],
    dst: [u8; 4],
    ports: (u16, u16),
    seq: u32,
    flags: u8,
    data: &[u8],
) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    let total = (40 + data.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&ports.0.to_be_bytes());
    f.extend_from_slice(&ports.1.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(data);
    f
}

/// A capture: the frames of `captures/tls12-ecdhe-rsa.pcap` (one TLS 1.2 handshake) in the
/// middle of the attack frames, one millisecond apart.
fn capture(dir: &tempfile::TempDir, attack: &[Vec<u8>]) -> PathBuf {
    let real = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/tls12-ecdhe-rsa.pcap"),
    )
    .expect("read the handshake capture");
    let mut legit = Vec::new();
    let mut at = 24;
    while at + 16 <= real.len() {
        let len = u32::from_le_bytes(real[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        legit.push(real[at + 16..at + 16 + len].to_vec());
        at += 16 + len;
    }
    let (before, after) = attack.split_at(attack.len() / 2);
    let mut out = real[..24].to_vec();
    for (i, f) in before.iter().chain(&legit).chain(after).enumerate() {
        let us = i as u32 * 1000;
        for v in [
            1_700_000_000 + us / 1_000_000,
            us % 1_000_000,
            f.len() as u32,
            f.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    let path = dir.path().join("flood.pcap");
    std::fs::write(&path, out).expect("write the capture");
    path
}

const SERVER: [u8; 4] = [198, 51, 100, 1];

fn client(i: u32) -> [u8; 4] {
    [10, 1, (i >> 8) as u8, i as u8]
}

/// 3,000 unanswered SYNs to :443, 200 SYNs refused by :8443, 100 connections to :25 closed
/// before a byte, 50 plain-text HTTP exchanges on :80.
fn attack() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for i in 0..3000 {
        frames.push(frame(client(i), SERVER, (20_000, 443), i, SYN, b""));
    }
    for i in 0..200 {
        frames.push(frame(client(i), SERVER, (30_000, 8443), i, SYN, b""));
        frames.push(frame(SERVER, client(i), (8443, 30_000), 0, RST | ACK, b""));
    }
    for i in 0..100 {
        let (c, s) = ((40_000, 25), (25, 40_000));
        frames.push(frame(client(i), SERVER, c, 100, SYN, b""));
        frames.push(frame(SERVER, client(i), s, 900, SYN | ACK, b""));
        frames.push(frame(client(i), SERVER, c, 101, ACK, b""));
        frames.push(frame(client(i), SERVER, c, 101, FIN | ACK, b""));
        frames.push(frame(SERVER, client(i), s, 901, FIN | ACK, b""));
    }
    for i in 0..50 {
        let (c, s) = ((50_000, 80), (80, 50_000));
        frames.push(frame(client(i), SERVER, c, 100, SYN, b""));
        frames.push(frame(SERVER, client(i), s, 900, SYN | ACK, b""));
        frames.push(frame(
            client(i),
            SERVER,
            c,
            101,
            ACK,
            b"GET / HTTP/1.1\r\n\r\n",
        ));
    }
    frames
}

fn run(path: &PathBuf, workers: usize, max_half_open: usize) -> (Value, Vec<u8>) {
    let mut cfg = Config {
        workers,
        want_records: true,
        ..Config::default()
    };
    cfg.limits.max_half_open = max_half_open;
    let mut ndjson = Vec::new();
    let analysis = analyze_files(std::slice::from_ref(path), &cfg, &mut ndjson).expect("analyze");
    let report = serde_json::from_slice(&common::report_json(&analysis)).expect("JSON report");
    (report, ndjson)
}

fn server<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tcp_without_tls_by_server"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|s| s["server"] == name)
        .unwrap_or_else(|| panic!("no entry for {name}"))
}

#[test]
fn a_syn_flood_is_counted_per_server_and_never_recorded() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = capture(&dir, &attack());
    let (report, ndjson) = run(&path, 2, Config::default().limits.max_half_open);
    let records: Vec<Value> = ndjson
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("NDJSON"))
        .collect();
    assert_eq!(records.len(), 1, "only the TLS connection is a record");
    assert_eq!(records[0]["outcome"], "established");
    let summary = &report["summary"];
    assert_eq!(summary["input"]["tcp_connections"], 3351);
    assert_eq!(summary["input"]["tcp_connections_without_tls"], 3350);
    assert_eq!(summary["input"]["half_open_evicted"], 0);
    let totals = &summary["tcp_without_tls"];
    assert_eq!(totals["connections"], 3350);
    assert_eq!(totals["tcp_no_answer"], 3000);
    assert_eq!(totals["tcp_refused"], 200);
    assert_eq!(totals["closed_before_hello"], 100);
    assert_eq!(totals["not_tls"], 50);
    assert_eq!(server(&report, "198.51.100.1:443")["tcp_no_answer"], 3000);
    assert_eq!(server(&report, "198.51.100.1:8443")["tcp_refused"], 200);
    assert_eq!(
        server(&report, "198.51.100.1:25")["closed_before_hello"],
        100
    );
    assert_eq!(server(&report, "198.51.100.1:80")["not_tls"], 50);
    assert_eq!(
        report["tcp_without_tls_by_server"][0]["server"],
        "198.51.100.1:443"
    );
    let (one_worker, ndjson_one) = run(&path, 1, Config::default().limits.max_half_open);
    assert_eq!(
        one_worker, report,
        "the report does not depend on the worker count"
    );
    assert_eq!(ndjson_one, ndjson);
}

#[test]
fn a_full_half_open_table_evicts_only_half_open_connections() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = capture(&dir, &attack());
    let (report, ndjson) = run(&path, 1, 1000);
    let input = &report["summary"]["input"];
    // 3,001 connections opened (the real one too) through 1,000 places: 2,001 evictions, the
    // real connection's SYN among the evicting, not the evicted (its first byte follows).
    assert_eq!(input["half_open_evicted"], 2001);
    assert_eq!(input["flows_evicted"], 0);
    assert_eq!(report["summary"]["outcomes"]["established"], 1);
    assert_eq!(ndjson.iter().filter(|&&b| b == b'\n').count(), 1);
    // Evicted or not, each is counted once, by how it went.
    assert_eq!(report["summary"]["tcp_without_tls"]["tcp_no_answer"], 3000);
}

#[test]
fn reports_merge_the_connections_without_tls_exactly() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = capture(&dir, &attack());
    let (report, _) = run(&path, 1, Config::default().limits.max_half_open);
    let text = serde_json::to_vec(&report).expect("JSON");
    let read = |name| tlsight::merge::read_report(&text, name).expect("a report tlsight wrote");
    let merged = tlsight::merge::merge(vec![read("a.json"), read("b.json")]).expect("merge");
    let mut out = Vec::new();
    tlsight::output::write_report(&merged, &mut out).expect("write to a Vec");
    let merged: Value = serde_json::from_slice(&out).expect("JSON report");
    assert_eq!(merged["summary"]["tcp_without_tls"]["tcp_refused"], 400);
    assert_eq!(server(&merged, "198.51.100.1:443")["tcp_no_answer"], 6000);
    assert_eq!(merged["summary"]["input"]["half_open_evicted"], 0);
}

/// Issue #17: `--tcp-failures` writes a `tcp_failure` record for each connection that failed
/// before TLS on a TLS port (listed, or one TLS was seen on), never for plain-text ones; the
/// records do not depend on the worker count.
#[test]
fn tcp_failures_are_records_on_tls_ports_only_when_asked() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // Five SYNs refused by the port the real handshake (127.0.0.1:20013) then uses.
    let mut frames = attack();
    for i in 0..5 {
        frames.insert(
            0,
            frame(
                [127, 0, 0, 1],
                [127, 0, 0, 1],
                (60_000 + i, 20013),
                7,
                SYN,
                b"",
            ),
        );
        frames.insert(
            1,
            frame(
                [127, 0, 0, 1],
                [127, 0, 0, 1],
                (20013, 60_000 + i),
                0,
                RST | ACK,
                b"",
            ),
        );
    }
    let path = capture(&dir, &frames);
    let records_of = |workers, tls_ports: Vec<u16>| {
        let cfg = Config {
            workers,
            want_records: true,
            tcp_failure_records: true,
            tls_ports,
            ..Config::default()
        };
        let mut ndjson = Vec::new();
        analyze_files(std::slice::from_ref(&path), &cfg, &mut ndjson).expect("analyze");
        (
            ndjson.clone(),
            ndjson
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice::<Value>(l).expect("NDJSON"))
                .collect::<Vec<Value>>(),
        )
    };
    let count = |records: &[Value], cause: &str, server: &str| {
        records
            .iter()
            .filter(|r| r["type"] == "tcp_failure" && r["cause"] == cause)
            .filter(|r| {
                format!(
                    "{}:{}",
                    r["server"]["ip"].as_str().unwrap_or(""),
                    r["server"]["port"]
                ) == server
            })
            .count()
    };
    let (bytes, records) = records_of(2, tlsight::facts::WELL_KNOWN_TLS_PORTS.to_vec());
    assert_eq!(count(&records, "tcp_no_answer", "198.51.100.1:443"), 3000);
    assert_eq!(count(&records, "tcp_refused", "198.51.100.1:8443"), 200);
    assert_eq!(
        count(&records, "tcp_refused", "127.0.0.1:20013"),
        5,
        "TLS seen there"
    );
    assert_eq!(
        records.len(),
        3000 + 200 + 5 + 1,
        "not :25 nor :80, and the TLS record"
    );
    let refused = records
        .iter()
        .find(|r| r["cause"] == "tcp_refused")
        .expect("a refused connection");
    assert_eq!(refused["tcp"]["rst_from"], "server");
    assert!(
        refused["community_id"]
            .as_str()
            .is_some_and(|c| c.starts_with("1:"))
    );
    assert!(
        refused["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("reset"))
    );
    let (_, only_seen) = records_of(1, Vec::new());
    assert_eq!(only_seen.len(), 5 + 1, "only where TLS was seen");
    assert_eq!(only_seen[0]["type"], "connection", "the TLS record first");
    assert_eq!(only_seen[1]["server"]["port"], 20013);
    let (one_worker, _) = records_of(1, tlsight::facts::WELL_KNOWN_TLS_PORTS.to_vec());
    assert_eq!(
        one_worker, bytes,
        "records do not depend on the worker count"
    );
}

/// Key fact: UDP flows whose server never answered are capped apart (`--max-unanswered`): a
/// DTLS ClientHello left unanswered is evicted (its record written, `close` "evicted") when a
/// QUIC client Initial, also unanswered, comes while the cap of one is full; the report and
/// the summary count it.
#[test]
fn unanswered_udp_flows_beyond_their_cap_are_evicted_and_counted() {
    let captures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures");
    let dir = tempfile::tempdir().expect("temp dir");
    let report_path = dir.path().join("report.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlsight"))
        .arg("analyze")
        .arg(captures.join("quic/aioquic-silent-server.pcap"))
        .arg(captures.join("dtls/openssl-dtls12-silent-server.pcap"))
        // One worker, and flows idle long enough that the DTLS one (days older) is still held.
        .args([
            "--workers",
            "1",
            "--max-unanswered",
            "1",
            "--idle-timeout",
            "1000000000",
        ])
        .args(["--ndjson", "-", "--json"])
        .arg(&report_path)
        .output()
        .expect("run tlsight");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    let closes: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            let t = r["transport"].as_str().expect("transport").to_string();
            (t.clone(), r[t.as_str()]["close"].to_string())
        })
        .collect();
    assert_eq!(
        closes,
        [
            ("dtls".to_string(), "\"evicted\"".to_string()),
            ("quic".to_string(), "\"capture_end\"".to_string())
        ]
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(&report_path).expect("report")).expect("JSON");
    assert_eq!(report["summary"]["input"]["udp_unanswered_evicted"], 1);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("1 QUIC/DTLS flow evicted before their server answered"),
        "{summary}"
    );
}
