//! QUIC conformance with peers: the UDP payloads of the real QUIC captures bundled in
//! `captures/real/udp/` and `captures/real/quic/` (copied from other projects' test suites,
//! with tshark's facts beside them) go through the QUIC driver; the ClientHello and ServerHello
//! it joins are parsed with the shared hello parsers, and the facts are compared with tshark's:
//! every connection found, and every disagreement listed in
//! `tests/quic_conformance_known_differences.json` with the reason tlsight is right.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::quic::run;
use serde_json::{Value, json};
use tlsight::quic::QuicFacts;

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
        let found: Vec<_> = run(&path)
            .into_iter()
            .filter(|f| f.facts.client.is_some())
            .collect();
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
                json!(got.client_hellos()),
            );
            let (ch, ch_frame) = got.client_hello().expect("ClientHello joined");
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
                json!(&ch.extensions[..]),
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
            match &got.server_hello() {
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
                        json!(&sh.extensions[..]),
                    );
                }
                sh => fact("server_hello", &json!(!w.is_null()), json!(sh.is_some())),
            }
            fact(
                "hello_retry_request",
                &json!(!want["hello_retry_request"].is_null()),
                json!(got.server_hello().is_some_and(|(sh, _)| sh.hrr)),
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
            fact(
                "quic.initial_packets_not_decrypted",
                &q["initial_packets_not_decrypted"],
                json!(got.undecryptable_initials()),
            );
            // Not peer facts, checked apart: these real handshakes are complete and clean.
            assert_eq!(got.facts.crypto_gaps, [0, 0], "{name} {id}");
            assert!(
                got.seen.gaps.is_empty() && got.seen.alerts.is_empty(),
                "{name} {id}"
            );
            assert!(
                got.seen.anomalies.is_empty(),
                "{name} {id}: {:?}",
                got.seen.anomalies
            );
        }
    }
}

/// The `quic/` captures: tshark's hello packets (one entry per packet carrying a hello).
fn check_hello_packet_captures(tally: &mut Tally) {
    for (path, expected) in expected_files("captures/real/quic") {
        let name = expected["name"].as_str().expect("name");
        let found: Vec<_> = run(&path)
            .into_iter()
            .filter(|f| f.facts.client.is_some())
            .collect();
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
                let (ch, frame) = got.client_hello().expect("ClientHello joined");
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
                let (sh, frame) = got.server_hello().expect("ServerHello joined");
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
