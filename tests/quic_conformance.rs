//! QUIC conformance with peers: the UDP payloads of the real QUIC captures bundled in
//! `captures/real/udp/` and `captures/real/quic/` (copied from other projects' test suites,
//! with tshark's facts beside them) go through the QUIC driver; the ClientHello and ServerHello
//! it joins are parsed with the shared hello parsers, and the facts are compared with tshark's:
//! every connection found, and every disagreement listed in
//! `tests/quic_conformance_known_differences.json` with the reason tlsight is right.

mod common;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tlsight::flow::{Direction, Endpoint, FlowKey, Timestamp, Transport};
use tlsight::quic::connection::starts_quic;
use tlsight::quic::{HandshakeSink, QuicConfig, QuicConnection, QuicContext, QuicFacts};
use tlsight::tls::hello::{parse_client_hello, parse_server_hello};
use tlsight::tls::{Alert, ClientHello, ServerHello};

/// Collects what the driver hands to the handshake layer.
#[derive(Default)]
struct Collected {
    /// Messages with the capture frame that completed them.
    messages: Vec<(Direction, u8, Vec<u8>, u64)>,
    /// Frame of the datagram being read.
    frame: u64,
    alerts: Vec<(Direction, Alert)>,
    gaps: usize,
    anomalies: Vec<&'static str>,
}

impl HandshakeSink for Collected {
    fn on_message(&mut self, dir: Direction, msg_type: u8, body: &[u8], _ts: Timestamp) {
        self.messages
            .push((dir, msg_type, body.to_vec(), self.frame));
    }
    fn on_protected(&mut self, _dir: Direction, _len: usize, _ts: Timestamp) {}
    fn on_alert(&mut self, dir: Direction, alert: Alert, _ts: Timestamp) {
        self.alerts.push((dir, alert));
    }
    fn on_gap(&mut self, _dir: Direction, _ts: Timestamp) {
        self.gaps += 1;
    }
    fn anomaly(&mut self, _dir: Direction, kind: &'static str) {
        self.anomalies.push(kind);
    }
    fn finish(&mut self) {}
}

/// A QUIC connection found in a capture.
struct Found {
    client: Endpoint,
    server: Endpoint,
    facts: QuicFacts,
    /// With the frame that completed it.
    client_hello: Option<(ClientHello, u64)>,
    server_hello: Option<(ServerHello, u64)>,
    client_hellos: usize,
    alerts: usize,
    gaps: usize,
    anomalies: Vec<&'static str>,
}

/// Runs the driver over every UDP flow of `path` that starts like QUIC.
fn run(path: &Path) -> Vec<Found> {
    let mut flows: BTreeMap<FlowKey, (QuicConnection, Collected)> = BTreeMap::new();
    let mut ctx = QuicContext::default();
    for d in common::udp::datagrams(path) {
        let (key, dir) = FlowKey::from_endpoints(Transport::Udp, d.src, d.dst);
        let (conn, sink) = match flows.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                if !starts_quic(&d.payload) {
                    continue;
                }
                v.insert((
                    QuicConnection::new(QuicConfig::default()),
                    Collected::default(),
                ))
            }
        };
        sink.frame = d.frame;
        conn.on_datagram(&mut ctx, dir, &d.payload, d.ts, sink);
    }
    flows
        .into_iter()
        .filter_map(|(key, (conn, mut sink))| {
            let facts = conn.finish(&mut sink);
            let client = facts.client?;
            let hello = |dir: Direction, t: u8| {
                sink.messages
                    .iter()
                    .filter(move |(d, m, _, _)| *d == dir && *m == t)
                    .map(|(_, _, body, frame)| (body, *frame))
            };
            let client_hello = hello(client, 1)
                .next()
                .map(|(b, f)| (parse_client_hello(b).expect("ClientHello parses"), f));
            let server_hello = hello(client.reverse(), 2)
                .next()
                .map(|(b, f)| (parse_server_hello(b, 2).expect("ServerHello parses"), f));
            Some(Found {
                client: key.source(client),
                server: key.destination(client),
                client_hellos: hello(client, 1).count(),
                alerts: sink.alerts.len(),
                gaps: sink.gaps,
                anomalies: sink.anomalies.clone(),
                facts,
                client_hello,
                server_hello,
            })
        })
        .collect()
}

fn hex16(v: u16) -> Value {
    json!(format!("{v:#06x}"))
}

fn hex_list(v: &[u16]) -> Value {
    Value::Array(v.iter().map(|&x| hex16(x)).collect())
}

fn quic_version(facts: &QuicFacts) -> Value {
    json!(facts.version.map(|v| format!("{:#010x}", v.0)))
}

/// Compared facts and the disagreements among them.
#[derive(Default)]
struct Tally {
    compared: usize,
    differences: Vec<(String, String, Value, Value)>,
}

impl Tally {
    fn check(&mut self, capture: &str, fact: String, expected: &Value, got: Value) {
        self.compared += 1;
        if *expected != got {
            self.differences
                .push((capture.to_string(), fact, expected.clone(), got));
        }
    }
}

fn project(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn expected_files(dir: &str) -> Vec<(PathBuf, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(project(dir).join("expected"))
        .expect("expected folder")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json");
            let name = v["name"].as_str().expect("name").to_string();
            (project(dir).join(name), v)
        })
        .collect()
}

/// The `udp/` captures: tshark's per-connection facts.
fn check_udp_captures(tally: &mut Tally) {
    for (path, expected) in expected_files("captures/real/udp") {
        let name = expected["name"].as_str().expect("name");
        let found = run(&path);
        let conns = expected["connections"].as_array().expect("connections");
        let quic: Vec<&Value> = conns.iter().filter(|c| c["transport"] == "quic").collect();
        tally.check(
            name,
            "connections".into(),
            &json!(quic.len()),
            json!(found.len()),
        );
        for want in quic {
            let t = &want["five_tuple"];
            let id = format!(
                "{}:{}",
                t["client_ip"].as_str().unwrap_or(""),
                t["client_port"]
            );
            let Some(got) = found.iter().find(|f| {
                f.client.ip.to_string() == t["client_ip"].as_str().unwrap_or("")
                    && json!(f.client.port) == t["client_port"]
                    && f.server.ip.to_string() == t["server_ip"].as_str().unwrap_or("")
                    && json!(f.server.port) == t["server_port"]
            }) else {
                tally.check(name, format!("{id} found"), &json!(true), json!(false));
                continue;
            };
            let mut fact = |what: &str, expected: &Value, value: Value| {
                tally.check(name, format!("{id} {what}"), expected, value)
            };
            fact(
                "quic_version",
                &want["quic_version"],
                quic_version(&got.facts),
            );
            fact(
                "client_hello_count",
                &want["client_hello_count"],
                json!(got.client_hellos),
            );
            let (ch, ch_frame) = got.client_hello.as_ref().expect("ClientHello joined");
            let w = &want["client_hello"];
            fact("client_hello.frame", &w["frame"], json!(ch_frame));
            fact(
                "client_hello.legacy_version",
                &w["legacy_version"],
                hex16(ch.legacy_version),
            );
            fact(
                "client_hello.supported_versions",
                &w["supported_versions"],
                hex_list(&ch.supported_versions),
            );
            fact(
                "client_hello.cipher_suites",
                &w["cipher_suites"],
                hex_list(&ch.cipher_suites),
            );
            fact(
                "client_hello.extensions",
                &w["extensions"],
                json!(ch.extensions),
            );
            fact("client_hello.sni", &w["sni"], json!(ch.sni));
            fact("client_hello.alpn", &w["alpn"], json!(ch.alpn));
            fact(
                "client_hello.session_id_length",
                &w["session_id_length"],
                json!(ch.session_id_len),
            );
            fact(
                "client_hello.supported_groups",
                &w["supported_groups"],
                hex_list(&ch.groups),
            );
            fact(
                "client_hello.signature_algorithms",
                &w["signature_algorithms"],
                hex_list(&ch.sig_algs),
            );
            let w = &want["server_hello"];
            match &got.server_hello {
                Some((sh, sh_frame)) if !w.is_null() => {
                    fact("server_hello.frame", &w["frame"], json!(sh_frame));
                    let selected = sh.extensions.contains(&43).then(|| hex16(sh.version));
                    fact(
                        "server_hello.selected_version",
                        &w["selected_version"],
                        json!(selected),
                    );
                    fact(
                        "server_hello.legacy_version",
                        &w["legacy_version"],
                        hex16(sh.legacy_version),
                    );
                    fact(
                        "server_hello.negotiated_version",
                        &w["negotiated_version"],
                        hex16(sh.version),
                    );
                    fact("server_hello.cipher", &w["cipher"], hex16(sh.cipher));
                    fact(
                        "server_hello.extensions",
                        &w["extensions"],
                        json!(sh.extensions),
                    );
                }
                sh => fact("server_hello", &json!(!w.is_null()), json!(sh.is_some())),
            }
            fact(
                "hello_retry_request",
                &json!(!want["hello_retry_request"].is_null()),
                json!(got.server_hello.as_ref().is_some_and(|(sh, _)| sh.hrr)),
            );
            fact("retry", &want["retry"], json!(got.facts.retry.is_some()));
            fact(
                "version_negotiation",
                &want["version_negotiation"],
                json!(got.facts.version_negotiation.is_some()),
            );
            fact(
                "connection_close",
                &json!(!want["connection_close"].is_null()),
                json!(got.facts.connection_close.is_some()),
            );
            let q = &want["quic"];
            let cid = |c: Option<tlsight::quic::packet::ConnectionId>| json!(c.map(|c| c.to_hex()));
            fact(
                "quic.client_initial_dcid",
                &q["client_initial_dcid"],
                cid(got.facts.client_dcid),
            );
            fact(
                "quic.client_initial_scid",
                &q["client_initial_scid"],
                cid(got.facts.client_scid),
            );
            fact(
                "quic.server_initial_scid",
                &q["server_initial_scid"],
                cid(got.facts.server_scid),
            );
            let versions: Vec<String> = got
                .facts
                .versions_seen
                .iter()
                .map(|v| format!("{:#010x}", v.0))
                .collect();
            fact("quic.versions_seen", &q["versions_seen"], json!(versions));
            let client = got.facts.client.expect("client known");
            for (side, dir) in [("client", client), ("server", client.reverse())] {
                let p = got.facts.packets[dir.index()];
                for (ty, n) in [
                    ("initial", p.initial),
                    ("handshake", p.handshake),
                    ("0rtt", p.zero_rtt),
                    ("short", p.one_rtt),
                    ("retry", p.retry),
                ] {
                    let key = format!("{side}_{ty}");
                    let want_n = q["packets"].get(&key).cloned().unwrap_or(json!(0));
                    fact(&format!("quic.packets.{key}"), &want_n, json!(n));
                }
            }
            let undecrypted: u64 = got
                .facts
                .undecryptable_initials
                .iter()
                .map(|u| u.total())
                .sum();
            fact(
                "quic.initial_packets_not_decrypted",
                &q["initial_packets_not_decrypted"],
                json!(undecrypted),
            );
            // Not peer facts, checked apart: these real handshakes are complete and clean.
            assert_eq!(got.facts.crypto_gaps, [0, 0], "{name} {id}");
            assert_eq!((got.gaps, got.alerts), (0, 0), "{name} {id}");
            assert!(got.anomalies.is_empty(), "{name} {id}: {:?}", got.anomalies);
        }
    }
}

/// The `quic/` captures: tshark's hello packets (one entry per packet carrying a hello).
fn check_hello_packet_captures(tally: &mut Tally) {
    for (path, expected) in expected_files("captures/real/quic") {
        let name = expected["name"].as_str().expect("name");
        let found = run(&path);
        let packets = expected["hello_packets"].as_array().expect("hello_packets");
        let clients: std::collections::BTreeSet<(String, String)> = packets
            .iter()
            .filter(|p| p["hs_types"] == "1")
            .map(|p| {
                (
                    p["ip_src"].as_str().unwrap_or("").to_string(),
                    p["sport"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        tally.check(
            name,
            "connections".into(),
            &json!(clients.len()),
            json!(found.len()),
        );
        for p in packets {
            let (ip, port, is_client) = match p["hs_types"].as_str() {
                Some("1") => (&p["ip_src"], &p["sport"], true),
                Some("2") => (&p["ip_dst"], &p["dport"], false),
                other => panic!("{name}: hello type {other:?}"),
            };
            let id = format!(
                "{}:{} frame {}",
                ip.as_str().unwrap_or(""),
                port.as_str().unwrap_or(""),
                p["frame"]
            );
            let Some(got) = found.iter().find(|f| {
                json!(f.client.ip.to_string()) == *ip && json!(f.client.port.to_string()) == *port
            }) else {
                tally.check(name, format!("{id} found"), &json!(true), json!(false));
                continue;
            };
            let joined = |v: Vec<String>| json!(v.join("|"));
            let version = p["quic_version"]
                .as_str()
                .unwrap_or("")
                .split('|')
                .next()
                .unwrap_or("");
            if is_client {
                tally.check(
                    name,
                    format!("{id} quic_version"),
                    &json!(version),
                    quic_version(&got.facts),
                );
                let (ch, frame) = got.client_hello.as_ref().expect("ClientHello joined");
                tally.check(
                    name,
                    format!("{id} frame"),
                    &p["frame"],
                    json!(frame.to_string()),
                );
                tally.check(
                    name,
                    format!("{id} sni"),
                    &p["sni"],
                    json!(ch.sni.clone().unwrap_or_default()),
                );
                tally.check(
                    name,
                    format!("{id} alpn"),
                    &p["alpn"],
                    joined(ch.alpn.clone()),
                );
                let hexes = |v: &[u16]| joined(v.iter().map(|x| format!("{x:#06x}")).collect());
                tally.check(
                    name,
                    format!("{id} cipher_suites"),
                    &p["cipher_suites"],
                    hexes(&ch.cipher_suites),
                );
                tally.check(
                    name,
                    format!("{id} supported_versions"),
                    &p["supported_versions"],
                    hexes(&ch.supported_versions),
                );
            } else {
                let (sh, frame) = got.server_hello.as_ref().expect("ServerHello joined");
                tally.check(
                    name,
                    format!("{id} server frame"),
                    &p["frame"],
                    json!(frame.to_string()),
                );
                tally.check(
                    name,
                    format!("{id} server cipher"),
                    &p["cipher_suites"],
                    json!(format!("{:#06x}", sh.cipher)),
                );
                tally.check(
                    name,
                    format!("{id} server version"),
                    &p["supported_versions"],
                    json!(format!("{:#06x}", sh.version)),
                );
            }
        }
    }
}

#[test]
fn quic_facts_agree_with_tshark() {
    let mut tally = Tally::default();
    check_udp_captures(&mut tally);
    check_hello_packet_captures(&mut tally);

    let known: Value = serde_json::from_slice(
        &std::fs::read(project("tests/quic_conformance_known_differences.json")).expect("read"),
    )
    .expect("json");
    let known = known["differences"].as_array().expect("differences");
    let mut report = String::new();
    let mut unexplained = 0;
    for (capture, fact, expected, got) in &tally.differences {
        let listed = known.iter().any(|k| {
            k["capture"] == json!(capture)
                && k["fact"] == json!(fact)
                && k["tshark"] == *expected
                && k["tlsight"] == *got
        });
        if !listed {
            unexplained += 1;
            let _ = writeln!(
                report,
                "{capture}: {fact}: tshark {expected}, tlsight {got}"
            );
        }
    }
    for k in known {
        let seen = tally
            .differences
            .iter()
            .any(|(c, f, _, _)| k["capture"] == json!(c) && k["fact"] == json!(f));
        assert!(seen, "known difference no longer seen (remove it): {k}");
    }
    let agreed = tally.compared - tally.differences.len();
    eprintln!(
        "QUIC conformance: {agreed} of {} facts agree ({} known differences)",
        tally.compared,
        tally.differences.len()
    );
    assert_eq!(unexplained, 0, "facts that disagree with tshark:\n{report}");
    assert!(
        agreed * 100 >= tally.compared * 99,
        "{agreed} of {} facts agree",
        tally.compared
    );
}
