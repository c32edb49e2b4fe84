//! DTLS through the whole pipeline (`tlsight analyze`): UDP flows found by content, the DTLS
//! driver, the shared handshake layer, facts, diagnosis and records.
//!
//! - Golden output: the NDJSON records and the JSON report of every DTLS scenario capture
//!   (`captures/dtls/`) and of the real DTLS captures (`captures/real/udp/`), pinned in
//!   `captures/expected/dtls/`; re-bless with `TLSIGHT_BLESS=1 cargo test --release --test
//!   dtls_pipeline` and review the diff.
//! - A key fact per capture, in plain words.
//! - Conformance: the records of the real DTLS captures against the facts tshark (and Zeek,
//!   where it logged the connection) reports for them, ≥ 99 % equal, every connection found.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;
use similar::TextDiff;
use tlsight::tls::codes::{AlertDescription, AlertLevel};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn real_udp() -> PathBuf {
    common::real_captures_dir().join("udp")
}

/// The DTLS captures: every scenario capture, and the real captures tshark found DTLS in.
fn dtls_captures() -> Vec<PathBuf> {
    let pcaps = |dir: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .collect();
        v.sort();
        v
    };
    let mut v = pcaps(&root().join("captures/dtls"));
    v.extend(
        pcaps(&real_udp())
            .into_iter()
            .filter(|p| !expected_connections(p).is_empty()),
    );
    v
}

/// The DTLS connections tshark reports for a real capture.
fn expected_connections(pcap: &Path) -> Vec<Value> {
    let name = pcap.file_name().unwrap().to_string_lossy();
    let json = real_udp().join(format!("expected/{name}.json"));
    let want: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    want["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["transport"] == "dtls")
        .cloned()
        .collect()
}

/// The records of one capture.
fn records_of(pcap: &Path) -> (common::Run, Vec<Value>) {
    let run = common::analyze(&[pcap.to_path_buf()], 2);
    let records = common::records(&run);
    (run, records)
}

fn check_golden(golden: &Path, actual: &str, bless: bool, failures: &mut Vec<String>) {
    if bless {
        std::fs::write(golden, actual).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
        return;
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (bless with TLSIGHT_BLESS=1 cargo test --release --test dtls_pipeline)",
            golden.display()
        )
    });
    if expected != actual {
        let diff = TextDiff::from_lines(&expected, actual)
            .unified_diff()
            .context_radius(2)
            .header("expected", "actual")
            .to_string();
        failures.push(format!("--- {} differs:\n{diff}", golden.display()));
    }
}

#[test]
fn dtls_outputs_match_goldens() {
    let bless = std::env::var_os("TLSIGHT_BLESS").is_some();
    let dir = root().join("captures/expected/dtls");
    if bless {
        std::fs::create_dir_all(&dir).expect("create captures/expected/dtls");
    }
    let captures = dtls_captures();
    assert!(captures.len() >= 25, "DTLS captures are missing");
    let prefix = format!("{}/", root().join("captures").display());
    let mut failures = Vec::new();
    for path in &captures {
        let name = path.file_name().unwrap().to_string_lossy();
        let (run, _) = records_of(path);
        let ndjson = String::from_utf8(common::ndjson(&run)).expect("UTF-8 NDJSON");
        check_golden(
            &dir.join(format!("{name}.ndjson")),
            &ndjson,
            bless,
            &mut failures,
        );
        let report = String::from_utf8(common::report_json(&run)).expect("UTF-8 report");
        check_golden(
            &dir.join(format!("{name}.report.json")),
            &report.replace(&prefix, "captures/"),
            bless,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `outcome` or `outcome/cause` of a record.
fn verdict(r: &Value) -> String {
    match r["failure"]["cause"].as_str() {
        Some(cause) => format!("{}/{cause}", r["outcome"].as_str().unwrap_or("?")),
        None => r["outcome"].as_str().unwrap_or("?").to_string(),
    }
}

/// The key fact of each scenario capture, in plain words, checked on its records.
#[test]
fn dtls_scenarios_key_facts() {
    let mut failures = Vec::new();
    for path in dtls_captures() {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let (_, recs) = records_of(&path);
        let dtls: Vec<&Value> = recs.iter().filter(|r| r["transport"] == "dtls").collect();
        let one = |want: &str| -> Result<&Value, String> {
            match dtls.as_slice() {
                [r] if verdict(r) == want => Ok(r),
                [r] => Err(format!("{}, not {want}", verdict(r))),
                _ => Err(format!("{} DTLS records, not one", dtls.len())),
            }
        };
        let field = |r: &Value, ptr: &str| r.pointer(ptr).cloned().unwrap_or(Value::Null);
        let fact: (&str, Result<bool, String>) = match name.as_str() {
            "openssl-dtls12" => (
                "a DTLS 1.2 handshake after a completed cookie exchange",
                one("established").map(|r| {
                    r["version"] == "DTLSv1.2"
                        && field(r, "/dtls/cookie_exchange/request") == "hello_verify_request"
                        && field(r, "/dtls/cookie_exchange/completed") == true
                }),
            ),
            "gnutls-dtls12-no-cookie" => (
                "established without a cookie exchange",
                one("established").map(|r| r["dtls"]["cookie_exchange"].is_null()),
            ),
            "gnutls-dtls12" | "gnutls-client-openssl-server-dtls12" => (
                "established after a HelloVerifyRequest",
                one("established")
                    .map(|r| field(r, "/dtls/cookie_exchange/request") == "hello_verify_request"),
            ),
            "openssl-client-gnutls-server-dtls12" => (
                "established; the client answers the CertificateRequest with no certificate",
                one("established").map(|r| r["client_certificate_empty"] == true),
            ),
            "openssl-dtls12-mutual-auth" => (
                "established with a client certificate",
                one("established").map(|r| {
                    r["certificate_requested"] == true
                        && r["client_certificates"]
                            .as_array()
                            .is_some_and(|c| !c.is_empty())
                }),
            ),
            "openssl-dtls12-resumption" => (
                "a full handshake, then one resumed by session id",
                Ok(dtls.iter().map(|r| verdict(r)).collect::<Vec<_>>()
                    == ["established", "resumed"]),
            ),
            "openssl-dtls12-no-shared-cipher" => (
                "the server shares no cipher with the client",
                one("failed/no_shared_cipher").map(|r| r["alerts"][0]["from"] == "server"),
            ),
            "openssl-dtls12-unknown-ca" => (
                "the client rejects the server certificate (unknown_ca, in the clear)",
                one("failed/client_rejected_certificate")
                    .map(|r| r["alerts"][0]["description"] == "unknown_ca"),
            ),
            "openssl-dtls12-version-mismatch" => (
                "no common version: the server refuses DTLS 1.0",
                one("failed/version_mismatch")
                    .map(|r| r["alerts"][0]["description"] == "protocol_version"),
            ),
            "openssl-dtls12-silent-server" => (
                "the server never answers; the client resends its ClientHello",
                one("no_response/no_response").map(|r| {
                    field(r, "/dtls/retransmitted_flights/client")
                        .as_u64()
                        .is_some_and(|n| n >= 2)
                }),
            ),
            "openssl-dtls12-cookie-unanswered" => (
                "the cookie exchange never completes",
                one("failed/cookie_exchange_incomplete")
                    .map(|r| field(r, "/dtls/cookie_exchange/completed") == false),
            ),
            "openssl-dtls12-retransmission-storm" => (
                "both sides resend their flights and the handshake stalls",
                one("failed/retransmission_storm").map(|r| {
                    field(r, "/dtls/retransmitted_flights/server")
                        .as_u64()
                        .is_some_and(|n| n >= 3)
                }),
            ),
            "openssl-dtls12-lost-flight" => (
                "a server flight lost once, resent, and the handshake completes",
                one("established").map(|r| {
                    field(r, "/dtls/retransmitted_flights/server")
                        .as_u64()
                        .is_some_and(|n| n >= 1)
                }),
            ),
            "openssl-dtls10" | "gnutls-dtls10" | "zeek__dtls1_0" => (
                "a DTLS 1.0 handshake",
                one("established").map(|r| r["version"] == "DTLSv1.0"),
            ),
            "openssl-dtls12-ipv6" => (
                "a DTLS 1.2 handshake over IPv6",
                one("established").map(|r| r["client"]["ip"] == "::1"),
            ),
            "wolfssl-dtls13" | "zeek__dtls13-wolfssl" => (
                "a DTLS 1.3 handshake after a HelloRetryRequest with a cookie",
                one("established").map(|r| {
                    r["version"] == "DTLSv1.3"
                        && field(r, "/dtls/cookie_exchange/request") == "hello_retry_request"
                }),
            ),
            "wolfssl-dtls13-unknown-ca" => (
                "DTLS 1.3: the client rejects the certificate (an inferred alert)",
                one("failed/client_rejected_certificate").map(|r| r["failure"]["inferred"] == true),
            ),
            "webrtc-stun-dtls12" | "zeek__webrtc-stun" => (
                "STUN and DTLS on one 5-tuple: the DTLS followed, the STUN counted",
                one("established").map(|r| {
                    field(r, "/dtls/datagrams/stun")
                        .as_u64()
                        .is_some_and(|n| n > 0)
                }),
            ),
            "zeek__dtls1_2" => (
                "a DTLS 1.2 handshake after a HelloVerifyRequest",
                one("established").map(|r| r["version"] == "DTLSv1.2"),
            ),
            "zeek__dtls-sequence-number-jumps" => (
                "a ClientHello in three fragments whose record numbers jump, reassembled; the \
                 ServerHello picks DTLS 1.3 and the capture ends there",
                one("incomplete").map(|r| {
                    r["version"] == "DTLSv1.3"
                        && r["messages"]
                            == serde_json::json!(["client:client_hello", "server:server_hello"])
                }),
            ),
            other => (
                "(no key fact)",
                Err(format!("{other}: no key fact written")),
            ),
        };
        match fact {
            (_, Ok(true)) => println!("{name}: {}", fact.0),
            (what, Ok(false)) => failures.push(format!("{name}: not {what}")),
            (what, Err(e)) => failures.push(format!("{name}: not {what}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Facts compared and the differences found.
#[derive(Default)]
struct Tally {
    facts: usize,
    differences: Vec<String>,
}

impl Tally {
    fn check(&mut self, what: String, ours: &Value, theirs: &Value) {
        self.facts += 1;
        if ours != theirs {
            self.differences
                .push(format!("{what}: ours {ours}, theirs {theirs}"));
        }
    }
}

/// `["0xc02f", …]` as numbers.
fn codes(v: &Value) -> Value {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| match x.as_str() {
                    Some(s) => u16::from_str_radix(s.trim_start_matches("0x"), 16)
                        .map_or(Value::Null, Value::from),
                    None => x.clone(),
                })
                .collect()
        })
        .unwrap_or_else(|| match v.as_str() {
            Some(s) => {
                u16::from_str_radix(s.trim_start_matches("0x"), 16).map_or(Value::Null, Value::from)
            }
            None => v.clone(),
        })
}

/// Compares one record with the peer's facts of its connection.
fn compare(name: &str, r: &Value, want: &Value, t: &mut Tally) {
    let at = |what: &str| format!("{name} {what}");
    let tuple = &want["five_tuple"];
    t.check(at("transport"), &r["transport"], &Value::from("dtls"));
    t.check(at("client ip"), &r["client"]["ip"], &tuple["client_ip"]);
    t.check(
        at("client port"),
        &r["client"]["port"],
        &tuple["client_port"],
    );
    t.check(at("server ip"), &r["server"]["ip"], &tuple["server_ip"]);
    t.check(
        at("server port"),
        &r["server"]["port"],
        &tuple["server_port"],
    );
    let (ch, w) = (&r["client_hello"], &want["client_hello"]);
    for (ours, theirs) in [
        ("version", "legacy_version"),
        ("supported_versions", "supported_versions"),
        ("cipher_suites", "cipher_suites"),
        ("groups", "supported_groups"),
        ("sig_algs", "signature_algorithms"),
    ] {
        // tshark has no list where the extension is absent; the records have an empty one.
        let theirs = match &w[theirs] {
            Value::Null if ours != "version" => Value::Array(Vec::new()),
            v => codes(v),
        };
        t.check(at(&format!("ch {ours}")), &ch[ours], &theirs);
    }
    for (ours, theirs) in [
        ("extensions", "extensions"),
        ("sni", "sni"),
        ("alpn", "alpn"),
        ("session_id_len", "session_id_length"),
    ] {
        t.check(at(&format!("ch {ours}")), &ch[ours], &w[theirs]);
    }
    for key in ["server_hello", "hello_retry_request"] {
        let (sh, w) = (&r[key], &want[key]);
        t.check(
            at(&format!("{key} present")),
            &Value::from(!sh.is_null()),
            &Value::from(!w.is_null()),
        );
        if sh.is_null() || w.is_null() {
            continue;
        }
        t.check(
            at(&format!("{key} legacy_version")),
            &sh["legacy_version"],
            &codes(&w["legacy_version"]),
        );
        t.check(
            at(&format!("{key} version")),
            &sh["version"],
            &codes(&w["negotiated_version"]),
        );
        t.check(
            at(&format!("{key} cipher")),
            &sh["cipher"],
            &codes(&w["cipher"]),
        );
        t.check(
            at(&format!("{key} extensions")),
            &sh["extensions"],
            &w["extensions"],
        );
    }
    // The HelloVerifyRequest, by the version it states.
    let hvr = &want["hello_verify_request"];
    let ours = match r.pointer("/dtls/cookie_exchange") {
        Some(c) if c["request"] == "hello_verify_request" => c["version"].clone(),
        _ => Value::Null,
    };
    let theirs = if hvr.is_null() {
        Value::Null
    } else {
        let code = codes(&hvr["version"]).as_u64().unwrap_or(0) as u16;
        Value::from(tlsight::tls::names::version_name(code).into_owned())
    };
    t.check(at("hello_verify_request version"), &ours, &theirs);
    // Alerts: sender, and level and description when in the clear.
    let alerts = |list: &Value, ours: bool| -> Value {
        let list = list.as_array().cloned().unwrap_or_default();
        Value::from(
            list.iter()
                .map(|a| {
                    let encrypted = a["encrypted"].as_bool().unwrap_or(false);
                    let (level, desc) = if ours {
                        (a["level"].clone(), a["description"].clone())
                    } else {
                        let n = |k: &str| a[k].as_u64().map(|n| n as u8);
                        (
                            n("level").map_or(Value::Null, |l| {
                                Value::from(if AlertLevel(l) == AlertLevel::WARNING {
                                    "warning"
                                } else {
                                    "fatal"
                                })
                            }),
                            n("description").map_or(Value::Null, |d| {
                                Value::from(AlertDescription(d).name().into_owned())
                            }),
                        )
                    };
                    serde_json::json!([a["from"], encrypted, level, desc])
                })
                .collect::<Vec<_>>(),
        )
    };
    t.check(
        at("alerts"),
        &alerts(&r["alerts"], true),
        &alerts(&want["alerts"], false),
    );
    let versions = |v: &Value| -> Value {
        let mut names: Vec<String> = v
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect();
        names.sort();
        Value::from(names)
    };
    let theirs: Vec<Value> = codes(&want["dtls"]["record_versions_seen"])
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let code = c.as_u64().unwrap_or(0) as u16;
            Value::from(tlsight::tls::names::version_name(code).into_owned())
        })
        .collect();
    t.check(
        at("record versions"),
        &versions(&r["dtls"]["record_versions"]),
        &versions(&Value::from(theirs)),
    );
    // Zeek's view of the outcome, where it logged the connection.
    if let Some(established) = want.pointer("/zeek/core/ssl/established") {
        t.check(
            at("established (Zeek)"),
            &Value::from(r["outcome"] == "established" || r["outcome"] == "resumed"),
            &Value::from(established == "T"),
        );
    }
}

/// Conformance: every DTLS connection of the real captures found through the pipeline, and
/// ≥ 99 % of the compared facts equal (the differences are printed).
#[test]
fn dtls_records_agree_with_peers_on_real_captures() {
    let mut t = Tally::default();
    let (mut expected, mut found) = (0, 0);
    for path in dtls_captures()
        .into_iter()
        .filter(|p| p.starts_with(real_udp()))
    {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (_, recs) = records_of(&path);
        for want in expected_connections(&path) {
            expected += 1;
            let port = &want["five_tuple"]["client_port"];
            let Some(r) = recs
                .iter()
                .find(|r| r["transport"] == "dtls" && &r["client"]["port"] == port)
            else {
                println!("{name}: connection from port {port} not found");
                continue;
            };
            found += 1;
            compare(&name, r, &want, &mut t);
        }
    }
    let equal = t.facts - t.differences.len();
    println!(
        "DTLS pipeline conformance: {found}/{expected} connections, {equal}/{} facts equal",
        t.facts
    );
    for d in &t.differences {
        println!("  {d}");
    }
    assert_eq!(found, expected, "connections missed");
    assert!(
        equal * 100 >= t.facts * 99,
        "{equal}/{} facts equal:\n{}",
        t.facts,
        t.differences.join("\n")
    );
}
