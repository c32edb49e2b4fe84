//! QUIC and DTLS through `tlsight analyze`'s pipeline (reader → UDP flow table → drivers →
//! the shared handshake layer → facts → records):
//!
//! - golden NDJSON records for every QUIC and DTLS scenario capture (`captures/quic/`,
//!   `captures/dtls/`) and every real UDP capture (`captures/real/udp/`, `captures/real/quic/`),
//!   in `captures/expected/udp/` (re-bless with `TLSIGHT_BLESS=1 cargo test --test udp_pipeline`);
//! - a plain-word key fact per capture, asserted on the records;
//! - conformance of the records with the peer facts of the real UDP captures (tshark, and the
//!   JA4 project where it published them): every connection found, ≥ 99 % of facts equal, every
//!   disagreement in `tests/udp_pipeline_known_differences.json` with its reason.

mod common;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use similar::TextDiff;
use tlsight::tls::codes::AlertDescription;

fn project(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The captures of `dir`, sorted.
fn captures_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(project(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

/// The records of one capture analysed alone (two workers: sharding must not matter).
fn records(path: &Path) -> (Vec<u8>, Vec<Value>) {
    let run = common::analyze(std::slice::from_ref(&path.to_path_buf()), 2);
    (common::ndjson(&run), common::records(&run))
}

const DIRS: [&str; 4] = [
    "captures/quic",
    "captures/dtls",
    "captures/real/udp",
    "captures/real/quic",
];

#[test]
fn records_match_goldens() {
    let bless = std::env::var_os("TLSIGHT_BLESS").is_some();
    let expected_dir = project("captures/expected/udp");
    if bless {
        std::fs::create_dir_all(&expected_dir).expect("create captures/expected/udp");
    }
    let mut failures = Vec::new();
    for dir in DIRS {
        for path in captures_in(dir) {
            let name = format!(
                "{}__{}.ndjson",
                dir.trim_start_matches("captures/").replace('/', "_"),
                path.file_name().and_then(|n| n.to_str()).expect("name")
            );
            let golden = expected_dir.join(&name);
            let (ndjson, _) = records(&path);
            let actual = String::from_utf8(ndjson).expect("UTF-8");
            if bless {
                std::fs::write(&golden, &actual).expect("write golden");
                continue;
            }
            let expected = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (bless with TLSIGHT_BLESS=1 cargo test --test udp_pipeline)",
                    golden.display()
                )
            });
            if expected != actual {
                let diff = TextDiff::from_lines(&expected, &actual)
                    .unified_diff()
                    .context_radius(1)
                    .header("expected", "actual")
                    .to_string();
                failures.push(format!("--- {name} differs:\n{diff}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The records of a scenario capture.
fn scenario(rel: &str) -> Vec<Value> {
    records(&project(rel)).1
}

/// The only record of a scenario capture.
fn one(rel: &str) -> Value {
    let mut r = scenario(rel);
    assert_eq!(r.len(), 1, "{rel}: {r:#?}");
    r.remove(0)
}

fn cause(r: &Value) -> (&str, Option<&str>, bool) {
    (
        r["outcome"].as_str().expect("outcome"),
        r["failure"]["cause"].as_str(),
        r["failure"]["inferred"].as_bool().unwrap_or(false),
    )
}

/// Key fact: without key logs, a QUIC connection's record is written as soon as its handshake
/// is confirmed (nothing its later 1-RTT packets carry is readable), so its flow is not held
/// with its handshake until the idle timeout: the record says `handshake_confirmed`, counts the
/// datagrams up to the confirming one, and the report counts the rest, so none is lost.
#[test]
fn a_confirmed_quic_handshake_is_recorded_at_confirmation() {
    let path = project("captures/quic/aioquic-v1-h3.pcap");
    let run = common::analyze(std::slice::from_ref(&path), 2);
    let records = common::records(&run);
    let [r] = &records[..] else {
        panic!("{records:#?}");
    };
    assert_eq!(cause(r), ("established", None, false));
    assert_eq!(r["quic"]["close"], "handshake_confirmed");
    let packets = &r["quic"]["packets"];
    // The confirming datagram is the client's first with a 1-RTT packet.
    assert_eq!(packets["client"]["1rtt"], 1);
    let in_record: u64 = ["client", "server"]
        .iter()
        .map(|side| packets[side]["datagrams"].as_u64().expect("datagrams"))
        .sum();
    let report = &run.report;
    let flows = &report.input.flows;
    assert_eq!(flows.udp_recorded_at_confirmation, 1);
    assert!(flows.udp_datagrams_after_record > 0);
    assert_eq!(
        in_record + flows.udp_datagrams_after_record,
        report.input.udp_datagrams
    );
}

/// Key fact: two connections after one another from one client socket to one server (the
/// same 5-tuple, as a quinn endpoint makes) are two records: the second's first Initial
/// carries another client Source Connection ID, which no late packet of the first can, so it
/// starts a new flow whether the first was recorded at confirmation (no keys) or is still read
/// (key logs).
#[test]
fn two_quic_connections_on_one_socket_are_two_records() {
    let path = project("captures/quic/aioquic-two-connections-one-socket.pcap");
    let run = common::analyze(std::slice::from_ref(&path), 2);
    let records = common::records(&run);
    let summary: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().expect("outcome"),
                r["quic"]["close"].as_str().expect("close"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("established", "handshake_confirmed"),
            ("established", "handshake_confirmed")
        ]
    );
    assert_ne!(
        records[0]["quic"]["client_scid"],
        records[1]["quic"]["client_scid"]
    );
    assert_eq!(records[0]["client"], records[1]["client"]);
    assert_eq!(records[0]["server"], records[1]["server"]);
    // Every datagram is in one record or counted after its record, none in both.
    let in_records: u64 = records
        .iter()
        .flat_map(|r| ["client", "server"].map(|side| &r["quic"]["packets"][side]["datagrams"]))
        .map(|n| n.as_u64().expect("datagrams"))
        .sum();
    let input = &run.report.input;
    assert_eq!(
        in_records + input.flows.udp_datagrams_after_record,
        input.udp_datagrams
    );
}

/// Key facts of the QUIC scenarios, one plain sentence each.
#[test]
fn quic_scenarios_key_facts() {
    // A v1 handshake with ALPN h3 is established, over QUIC, with a `q` JA4 and no TCP object.
    let r = one("captures/quic/aioquic-v1-h3.pcap");
    assert_eq!(
        (r["transport"].as_str(), r["tcp"].is_null()),
        (Some("quic"), true)
    );
    assert_eq!(cause(&r), ("established", None, false));
    assert_eq!(r["quic"]["version_name"], "v1");
    assert!(
        r["client_hello"]["ja4"]
            .as_str()
            .expect("ja4")
            .starts_with("q13")
    );
    assert!(r["timing_us"]["client_hello_to_done"].as_i64().is_some());
    // QUIC v2 is read with its own salt and labels.
    let r = one("captures/quic/aioquic-v2-h3.pcap");
    assert_eq!(
        (r["quic"]["version"].as_u64(), cause(&r).0),
        (Some(0x6b33_43cf), "established")
    );
    // A ClientHello spread over three Initial packets is joined.
    let r = one("captures/quic/aioquic-client-hello-3-initials.pcap");
    assert_eq!(r["sni"], "server.test");
    assert!(r["quic"]["packets"]["client"]["initial"].as_u64() >= Some(3));
    // The server's ALPN refusal is a CRYPTO_ERROR close: the no_application_protocol alert.
    let r = one("captures/quic/aioquic-alpn-mismatch.pcap");
    assert_eq!(
        cause(&r),
        ("failed", Some("no_application_protocol"), false)
    );
    assert_eq!(r["alerts"][0]["from"], "server");
    assert_eq!(
        r["quic"]["connection_close"]["tls_alert"],
        "no_application_protocol"
    );
    // No shared cipher: handshake_failure from the server before any ServerHello.
    let r = one("captures/quic/aioquic-no-shared-cipher.pcap");
    assert_eq!(cause(&r), ("failed", Some("no_shared_cipher"), false));
    // CONNECTION_REFUSED is a transport error with a cause of its own.
    let r = one("captures/quic/aioquic-server-refuses.pcap");
    assert_eq!(cause(&r), ("failed", Some("connection_refused"), false));
    assert_eq!(
        r["quic"]["connection_close"]["error_name"],
        "CONNECTION_REFUSED"
    );
    // A client rejecting the certificate closes inside a Handshake packet: inferred, both stacks.
    for rel in [
        "captures/quic/aioquic-client-rejects-certificate.pcap",
        "captures/quic/quinn-client-rejects-certificate.pcap",
    ] {
        let r = one(rel);
        assert_eq!(
            cause(&r),
            ("failed", Some("client_rejected_certificate"), true),
            "{rel}"
        );
    }
    // A silent server: the client's Initials go unanswered.
    let r = one("captures/quic/aioquic-silent-server.pcap");
    assert_eq!(cause(&r), ("no_response", Some("no_response"), false));
    // Retry: token recorded, integrity checked, handshake completes with the new keys.
    for rel in [
        "captures/quic/aioquic-retry.pcap",
        "captures/quic/quinn-retry.pcap",
    ] {
        let r = one(rel);
        assert_eq!(r["quic"]["retry"]["integrity"], "valid", "{rel}");
        assert_eq!(cause(&r).0, "established", "{rel}");
    }
    // Version Negotiation then a handshake in the offered version; and one that fails.
    let r = one("captures/quic/aioquic-version-negotiation.pcap");
    assert!(!r["quic"]["version_negotiation"].is_null());
    assert_eq!(cause(&r).0, "established");
    let r = one("captures/quic/aioquic-version-negotiation-failed.pcap");
    assert_eq!(cause(&r), ("failed", Some("version_mismatch"), false));
    // Resumption with 0-RTT: the second connection is resumed and offered early data.
    let r = scenario("captures/quic/aioquic-resumption-0rtt.pcap");
    assert_eq!(r.len(), 2);
    assert_eq!(cause(&r[1]).0, "resumed");
    assert_eq!(r[1]["quic"]["early_data"], true);
    // IPv6 on port 8443: found by content.
    let r = one("captures/quic/aioquic-ipv6-port-8443.pcap");
    assert_eq!(
        (r["server"]["port"].as_u64(), cause(&r).0),
        (Some(8443), "established")
    );
    assert!(r["server"]["ip"].as_str().expect("ip").contains(':'));
    // A lost client Initial leaves a gap in the client's CRYPTO stream.
    let r = one("captures/quic/aioquic-lost-client-initial.pcap");
    assert_eq!(r["quic"]["crypto_gaps"]["client"], 1);
    assert_eq!(r["anomalies"]["gap"], 1);
}

/// Key facts of the DTLS scenarios, one plain sentence each.
#[test]
fn dtls_scenarios_key_facts() {
    // A DTLS 1.2 handshake with a cookie exchange is one established connection.
    let r = one("captures/dtls/openssl-dtls12.pcap");
    assert_eq!(
        (r["transport"].as_str(), r["version"].as_str()),
        (Some("dtls"), Some("DTLSv1.2"))
    );
    assert_eq!(cause(&r).0, "established");
    assert_eq!(r["dtls"]["cookie_exchange"]["completed"], true);
    assert!(
        r["client_hello"]["ja4"]
            .as_str()
            .expect("ja4")
            .starts_with("dd")
    );
    assert_eq!(
        r["anomalies"],
        json!({}),
        "the cookie round is no duplicate ClientHello"
    );
    // Without the cookie exchange, too.
    let r = one("captures/dtls/gnutls-dtls12-no-cookie.pcap");
    assert!(r["dtls"]["cookie_exchange"].is_null());
    assert_eq!(cause(&r).0, "established");
    // DTLS 1.0.
    let r = one("captures/dtls/openssl-dtls10.pcap");
    assert_eq!(r["version"], "DTLSv1.0");
    // No shared cipher and an unknown CA are diagnosed as over TCP.
    let r = one("captures/dtls/openssl-dtls12-no-shared-cipher.pcap");
    assert_eq!(cause(&r), ("failed", Some("no_shared_cipher"), false));
    let r = one("captures/dtls/openssl-dtls12-unknown-ca.pcap");
    assert_eq!(
        cause(&r),
        ("failed", Some("client_rejected_certificate"), false)
    );
    // A silent server.
    let r = one("captures/dtls/openssl-dtls12-silent-server.pcap");
    assert_eq!(cause(&r), ("no_response", Some("no_response"), false));
    // Resumption: the second connection is resumed.
    let r = scenario("captures/dtls/openssl-dtls12-resumption.pcap");
    assert_eq!(
        r.iter().map(|r| cause(r).0).collect::<Vec<_>>(),
        ["established", "resumed"]
    );
    // A flight lost once is retransmitted and the handshake completes.
    let r = one("captures/dtls/openssl-dtls12-lost-flight.pcap");
    let flights = &r["dtls"]["retransmitted_flights"];
    assert!(flights["client"].as_u64().unwrap_or(0) + flights["server"].as_u64().unwrap_or(0) > 0);
    assert_eq!(cause(&r).0, "established");
    // WebRTC: STUN on the same ports after the handshake began is counted on the flow.
    let r = one("captures/dtls/webrtc-stun-dtls12.pcap");
    assert!(r["dtls"]["datagrams"]["stun"].as_u64() > Some(0));
    // DTLS 1.3 (wolfSSL): the HelloRetryRequest cookie round.
    let r = one("captures/dtls/wolfssl-dtls13.pcap");
    assert_eq!(
        (r["version"].as_str(), cause(&r).0),
        (Some("DTLSv1.3"), "established")
    );
    assert_eq!(
        r["dtls"]["cookie_exchange"]["request"],
        "hello_retry_request"
    );
    // DTLS 1.3, the client rejects the certificate: its only protected record is alert-sized,
    // an inferred alert.
    let r = one("captures/dtls/wolfssl-dtls13-unknown-ca.pcap");
    assert_eq!(
        cause(&r),
        ("failed", Some("client_rejected_certificate"), true)
    );
    // No common version: the server refuses DTLS 1.0 in the clear after the cookie round.
    let r = one("captures/dtls/openssl-dtls12-version-mismatch.pcap");
    assert_eq!(cause(&r), ("failed", Some("version_mismatch"), false));
    assert_eq!(r["alerts"][0]["from"], "server");
    // The server's HelloVerifyRequests never reach the client: the cookie exchange never
    // completes.
    let r = one("captures/dtls/openssl-dtls12-cookie-unanswered.pcap");
    assert_eq!(
        cause(&r),
        ("failed", Some("cookie_exchange_incomplete"), true)
    );
    assert_eq!(r["dtls"]["cookie_exchange"]["completed"], false);
    // The server's flight never reaches the client: both resend until the client gives up.
    let r = one("captures/dtls/openssl-dtls12-retransmission-storm.pcap");
    assert_eq!(cause(&r), ("failed", Some("retransmission_storm"), true));
    assert!(r["dtls"]["retransmitted_flights"]["server"].as_u64() >= Some(3));
    // Zeek's synthetic capture: a ClientHello in three fragments whose record numbers jump,
    // reassembled; the ServerHello picks DTLS 1.3 and the capture ends there.
    let r = one("captures/real/udp/zeek__dtls-sequence-number-jumps.pcap");
    assert_eq!(
        (cause(&r).0, r["version"].as_str()),
        ("incomplete", Some("DTLSv1.3"))
    );
    assert_eq!(
        r["messages"],
        json!(["client:client_hello", "server:server_hello"])
    );
}

/// `0x1301`-style text of a codepoint.
fn hex(v: &Value) -> Value {
    match v.as_u64() {
        Some(n) => json!(format!("{n:#06x}")),
        None => Value::Null,
    }
}

fn hex_list(v: &Value) -> Value {
    Value::Array(
        v.as_array()
            .map_or_else(Vec::new, |a| a.iter().map(hex).collect()),
    )
}

/// Peer facts of the real UDP captures compared with the pipeline's records.
#[derive(Default)]
struct Tally {
    compared: usize,
    differences: Vec<Value>,
}

impl Tally {
    fn check(&mut self, capture: &str, fact: &str, expected: &Value, got: Value) {
        self.compared += 1;
        if *expected != got {
            self.differences.push(json!({
                "capture": capture, "fact": fact, "expected": expected, "got": got
            }));
        }
    }
}

/// The peer facts of each capture of `dir` (`dir/expected/<capture>.json`, sorted) with the
/// pipeline's records of the capture.
fn peer_facts(dir: &str) -> Vec<(Value, Vec<Value>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(project(dir).join("expected"))
        .expect("expected")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let want: Value =
                serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
            let name = want["name"].as_str().expect("name");
            let got = records(&project(dir).join(name)).1;
            (want, got)
        })
        .collect()
}

/// `captures/real/udp/`: tshark's facts per connection.
fn compare_udp(tally: &mut Tally) {
    for (want, got) in peer_facts("captures/real/udp") {
        let name = want["name"].as_str().expect("name");
        let conns = want["connections"].as_array().expect("connections");
        tally.check(name, "connections", &json!(conns.len()), json!(got.len()));
        for w in conns {
            let t = &w["five_tuple"];
            let id = format!(
                "{}:{}",
                t["client_ip"].as_str().unwrap_or(""),
                t["client_port"]
            );
            let Some(r) = got.iter().find(|r| {
                r["client"]["ip"] == t["client_ip"]
                    && r["client"]["port"] == t["client_port"]
                    && r["server"]["ip"] == t["server_ip"]
                    && r["server"]["port"] == t["server_port"]
            }) else {
                tally.check(name, &format!("{id} found"), &json!(true), json!(false));
                continue;
            };
            let mut fact = |what: &str, expected: &Value, value: Value| {
                tally.check(name, &format!("{id} {what}"), expected, value);
            };
            fact("transport", &w["transport"], r["transport"].clone());
            let (ch, wch) = (&r["client_hello"], &w["client_hello"]);
            fact(
                "client_hello.legacy_version",
                &wch["legacy_version"],
                hex(&ch["version"]),
            );
            fact(
                "client_hello.supported_versions",
                &wch["supported_versions"],
                hex_list(&ch["supported_versions"]),
            );
            fact(
                "client_hello.cipher_suites",
                &wch["cipher_suites"],
                hex_list(&ch["cipher_suites"]),
            );
            fact(
                "client_hello.extensions",
                &wch["extensions"],
                ch["extensions"].clone(),
            );
            fact("client_hello.sni", &wch["sni"], ch["sni"].clone());
            fact("client_hello.alpn", &wch["alpn"], ch["alpn"].clone());
            fact(
                "client_hello.session_id_length",
                &wch["session_id_length"],
                ch["session_id_len"].clone(),
            );
            fact(
                "client_hello.supported_groups",
                &wch["supported_groups"],
                hex_list(&ch["groups"]),
            );
            // tshark has no list where the extension (13) is absent; tlsight an empty one.
            let has_sig_algs = ch["extensions"]
                .as_array()
                .is_some_and(|e| e.contains(&json!(13)));
            let sig_algs = if has_sig_algs {
                hex_list(&ch["sig_algs"])
            } else {
                Value::Null
            };
            fact(
                "client_hello.signature_algorithms",
                &wch["signature_algorithms"],
                sig_algs,
            );
            let (sh, wsh) = (&r["server_hello"], &w["server_hello"]);
            if !wsh.is_null() {
                fact(
                    "server_hello.negotiated_version",
                    &wsh["negotiated_version"],
                    hex(&sh["version"]),
                );
                fact("server_hello.cipher", &wsh["cipher"], hex(&sh["cipher"]));
                fact(
                    "server_hello.extensions",
                    &wsh["extensions"],
                    sh["extensions"].clone(),
                );
            }
            if w["transport"] == "quic" {
                let version = r["quic"]["version"].as_u64().map(|v| format!("{v:#010x}"));
                fact("quic_version", &w["quic_version"], json!(version));
            }
            if w["transport"] == "dtls" {
                compare_dtls(w, r, &mut fact);
            }
        }
    }
}

/// The DTLS facts beyond the hellos: the HelloRetryRequest, the HelloVerifyRequest's version,
/// alerts with their sender (level and description when in the clear), the record-layer
/// versions seen, and Zeek's `established` where Zeek logged the connection.
fn compare_dtls(w: &Value, r: &Value, fact: &mut impl FnMut(&str, &Value, Value)) {
    let (hrr, whrr) = (&r["hello_retry_request"], &w["hello_retry_request"]);
    fact(
        "hello_retry_request.cipher",
        &whrr["cipher"],
        hex(&hrr["cipher"]),
    );
    let hvr_version = r["dtls"]["cookie_exchange"]
        .as_object()
        .filter(|c| c["request"] == "hello_verify_request")
        .map(|c| c["version"].clone());
    let whvr = &w["hello_verify_request"];
    let wanted = whvr["version"].as_str().map(|v| {
        let code = u16::from_str_radix(v.trim_start_matches("0x"), 16).unwrap_or(0);
        json!(tlsight::tls::names::version_name(code))
    });
    fact(
        "hello_verify_request.version",
        &json!(wanted),
        json!(hvr_version),
    );
    let alert = |a: &Value, named: bool| {
        let encrypted = a["encrypted"].as_bool().unwrap_or(false);
        let (level, description) = if named || encrypted {
            (a["level"].clone(), a["description"].clone())
        } else {
            let code = |k: &str| a[k].as_u64().and_then(|n| u8::try_from(n).ok());
            (
                json!(code("level").map(|l| if l == 1 { "warning" } else { "fatal" })),
                json!(code("description").map(|d| AlertDescription(d).name())),
            )
        };
        json!([a["from"], encrypted, level, description])
    };
    let list = |v: &Value, named| {
        Value::Array(
            v.as_array()
                .map_or_else(Vec::new, |a| a.iter().map(|x| alert(x, named)).collect()),
        )
    };
    fact(
        "alerts",
        &list(&w["alerts"], false),
        list(&r["alerts"], true),
    );
    let names = |v: &Value| {
        let mut n: Vec<String> = v.as_array().map_or_else(Vec::new, |a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        });
        n.sort();
        json!(n)
    };
    let wanted: Vec<Value> =
        w["dtls"]["record_versions_seen"]
            .as_array()
            .map_or_else(Vec::new, |a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .map(|v| {
                        let code = u16::from_str_radix(v.trim_start_matches("0x"), 16).unwrap_or(0);
                        json!(tlsight::tls::names::version_name(code))
                    })
                    .collect()
            });
    fact(
        "dtls.record_versions",
        &names(&json!(wanted)),
        names(&r["dtls"]["record_versions"]),
    );
    if let Some(established) = w.pointer("/zeek/core/ssl/established") {
        let ours = r["outcome"] == "established" || r["outcome"] == "resumed";
        fact(
            "established (Zeek)",
            &json!(established == "T"),
            json!(ours),
        );
    }
}

/// `captures/real/quic/`: tshark's hello packets (SNI, ALPN, suites, versions, QUIC version).
fn compare_quic(tally: &mut Tally) {
    for (want, got) in peer_facts("captures/real/quic") {
        let name = want["name"].as_str().expect("name");
        let hellos = want["hello_packets"].as_array().expect("hello_packets");
        for h in hellos.iter().filter(|h| h["hs_types"] == "1") {
            let id = format!(
                "{}:{}",
                h["ip_src"].as_str().unwrap_or(""),
                h["sport"].as_str().unwrap_or("")
            );
            let Some(r) = got.iter().find(|r| {
                let port = |v: &Value| v.as_str().and_then(|p| p.parse::<u64>().ok());
                r["client"]["port"].as_u64() == port(&h["sport"])
                    && r["server"]["port"].as_u64() == port(&h["dport"])
            }) else {
                tally.check(name, &format!("{id} found"), &json!(true), json!(false));
                continue;
            };
            let mut fact = |what: &str, expected: &Value, value: Value| {
                tally.check(name, &format!("{id} {what}"), expected, value);
            };
            let ch = &r["client_hello"];
            fact("sni", &h["sni"], ch["sni"].clone());
            let alpn = ch["alpn"].as_array().map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("|")
            });
            fact("alpn", &h["alpn"], json!(alpn.unwrap_or_default()));
            let suites = hex_list(&ch["cipher_suites"]);
            let joined = suites.as_array().map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("|")
            });
            fact(
                "cipher_suites",
                &h["cipher_suites"],
                json!(joined.unwrap_or_default()),
            );
            let version = r["quic"]["version"].as_u64().map(|v| format!("{v:#010x}"));
            fact(
                "quic_version",
                &h["quic_version"],
                json!(version.unwrap_or_default()),
            );
        }
    }
}

#[test]
fn real_udp_captures_agree_with_peers() {
    let mut tally = Tally::default();
    compare_udp(&mut tally);
    compare_quic(&mut tally);
    let known: Value = serde_json::from_slice(
        &std::fs::read(project("tests/udp_pipeline_known_differences.json")).expect("read"),
    )
    .expect("json");
    let known = known["differences"].as_array().cloned().unwrap_or_default();
    let is_known = |d: &Value| {
        known
            .iter()
            .any(|k| k["capture"] == d["capture"] && k["fact"] == d["fact"] && k["got"] == d["got"])
    };
    let unknown: Vec<&Value> = tally.differences.iter().filter(|d| !is_known(d)).collect();
    assert!(
        unknown.is_empty(),
        "{} of {} facts differ from the peers without a known reason:\n{}",
        unknown.len(),
        tally.compared,
        serde_json::to_string_pretty(&unknown).unwrap_or_default()
    );
    let equal = tally.compared - tally.differences.len();
    println!("UDP conformance: {equal} of {} facts equal", tally.compared);
    assert!(
        equal * 100 >= tally.compared * 99,
        "{equal} of {} facts equal",
        tally.compared
    );
    assert!(
        tally.compared >= 100,
        "only {} facts compared",
        tally.compared
    );
}
