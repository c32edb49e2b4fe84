//! Conformance: tlsight's facts on real captures from other projects' test suites, compared
//! with what trusted peers (tshark, Zeek) report for them (`captures/real`, copied from
//! `../shared/captures/real` with their provenance and licenses).
//! Any disagreement not listed, with the reason tlsight is right, in
//! `tests/conformance_known_differences.json` fails the test.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use tlsight::tls::codes::AlertDescription;

use serde_json::Value;

/// One fact compared on one connection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Disagreement {
    capture: String,
    connection: String,
    fact: String,
    expected: String,
    found: String,
}

fn hex_to_u64(v: &Value) -> Option<u64> {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
}

fn show(v: &Value) -> String {
    v.to_string()
}

/// The record of the connection between the expected five-tuple's endpoints (either way round).
fn find_record<'a>(records: &'a [Value], tuple: &Value) -> Option<&'a Value> {
    let ep = |ip: &Value, port: &Value| (ip.as_str().map(str::to_string), port.as_u64());
    let a = ep(&tuple["client_ip"], &tuple["client_port"]);
    let b = ep(&tuple["server_ip"], &tuple["server_port"]);
    records.iter().find(|r| {
        let c = ep(&r["client"]["ip"], &r["client"]["port"]);
        let s = ep(&r["server"]["ip"], &r["server"]["port"]);
        (c == a && s == b) || (c == b && s == a)
    })
}

/// The alerts as `(from, description-or-"encrypted")` pairs; inferred alerts are tlsight's
/// own reading of TLS 1.3 traffic, which peers cannot make, so they are left out.
fn our_alerts(r: &Value) -> Vec<(String, String)> {
    r["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["inferred"] != Value::Bool(true))
        .map(|a| {
            let desc = if a["encrypted"] == Value::Bool(true) {
                "encrypted".to_string()
            } else {
                a["description"].as_str().unwrap_or("?").to_string()
            };
            (a["from"].as_str().unwrap_or("?").to_string(), desc)
        })
        .collect()
}

fn expected_alerts(c: &Value) -> Vec<(String, String)> {
    c["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let desc = if a["encrypted"] == Value::Bool(true) {
                "encrypted".to_string()
            } else {
                a["description"]
                    .as_u64()
                    .and_then(|d| u8::try_from(d).ok())
                    .map(|d| AlertDescription(d).name().into_owned())
                    .unwrap_or_else(|| "?".into())
            };
            (a["from"].as_str().unwrap_or("?").to_string(), desc)
        })
        .collect()
}

/// Compares one expected connection with tlsight's record; returns (facts compared, disagreements).
fn compare(capture: &str, conn_id: &str, exp: &Value, ours: &Value) -> (usize, Vec<Disagreement>) {
    let mut compared = 0;
    let mut bad = Vec::new();
    let mut check = |fact: &str, expected: Value, found: Value| {
        compared += 1;
        if expected != found {
            bad.push(Disagreement {
                capture: capture.to_string(),
                connection: conn_id.to_string(),
                fact: fact.to_string(),
                expected: show(&expected),
                found: show(&found),
            });
        }
    };
    let ech = &exp["client_hello"];
    let och = &ours["client_hello"];
    if ech.is_object() {
        check("sni", ech["sni"].clone(), och["sni"].clone());
        check("client_alpn", ech["alpn"].clone(), och["alpn"].clone());
        check("ja3", ech["ja3"].clone(), och["ja3"].clone());
        check(
            "extensions",
            ech["extensions"].clone(),
            och["extensions"].clone(),
        );
    } else if exp["sslv2"].is_object() {
        check(
            "sslv2_client_hello",
            Value::Bool(true),
            och["sslv2_format"].clone(),
        );
    }
    let esh = &exp["server_hello"];
    let osh = &ours["server_hello"];
    if esh.is_object() {
        check(
            "version",
            hex_to_u64(&esh["negotiated_version"]).into(),
            osh["version"].clone(),
        );
        check(
            "cipher",
            hex_to_u64(&esh["cipher"]).into(),
            osh["cipher"].clone(),
        );
        check("server_alpn", esh["alpn"].clone(), osh["alpn"].clone());
    }
    let ea = expected_alerts(exp);
    let oa = our_alerts(ours);
    check("alerts", format!("{ea:?}").into(), format!("{oa:?}").into());
    if let Some(sha) = exp["server_certificate"]["leaf_sha256"].as_str() {
        check(
            "leaf_sha256",
            sha.into(),
            ours["certificates"][0]["sha256"].clone(),
        );
    }
    (compared, bad)
}

#[derive(serde::Deserialize)]
struct KnownDifference {
    capture: String,
    connection: String,
    fact: String,
    reason: String,
}

#[test]
fn facts_agree_with_peers_on_real_captures() {
    let real = common::real_captures_dir();
    let known: Vec<KnownDifference> =
        serde_json::from_str(include_str!("conformance_known_differences.json"))
            .expect("known differences file is valid JSON");
    let known_keys: BTreeSet<(String, String, String)> = known
        .iter()
        .map(|k| {
            assert!(
                !k.reason.trim().is_empty(),
                "a known difference needs a reason"
            );
            (k.capture.clone(), k.connection.clone(), k.fact.clone())
        })
        .collect();

    let mut captures: Vec<PathBuf> = std::fs::read_dir(&real)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", real.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    captures.sort();

    let (mut expected_conns, mut found_conns, mut facts, mut equal) = (0, 0, 0, 0);
    let mut unexplained = Vec::new();
    let mut missing = Vec::new();
    for path in &captures {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let exp_path = real.join("expected").join(format!("{name}.json"));
        let exp: Value = serde_json::from_slice(
            &std::fs::read(&exp_path).unwrap_or_else(|e| panic!("{}: {e}", exp_path.display())),
        )
        .expect("expected JSON");
        let analysis = common::analyze(std::slice::from_ref(path), 2);
        let records = common::records(&analysis);
        for conn in exp["connections"].as_array().into_iter().flatten() {
            expected_conns += 1;
            let t = &conn["five_tuple"];
            let conn_id = format!(
                "{}:{}-{}:{}",
                t["client_ip"].as_str().unwrap_or("?"),
                t["client_port"],
                t["server_ip"].as_str().unwrap_or("?"),
                t["server_port"]
            );
            let Some(ours) = find_record(&records, t) else {
                if !known_keys.contains(&(name.clone(), conn_id.clone(), "found".into())) {
                    missing.push(format!("{name} {conn_id}"));
                }
                continue;
            };
            found_conns += 1;
            let (n, bad) = compare(&name, &conn_id, conn, ours);
            facts += n;
            equal += n - bad.len();
            unexplained.extend(bad.into_iter().filter(|d| {
                !known_keys.contains(&(d.capture.clone(), d.connection.clone(), d.fact.clone()))
            }));
        }
    }
    let ratio = equal as f64 / facts.max(1) as f64;
    let mut msg = String::new();
    let _ = writeln!(
        msg,
        "connections found {found_conns}/{expected_conns}; facts equal {equal}/{facts} ({:.2} %)",
        ratio * 100.0
    );
    for m in &missing {
        let _ = writeln!(msg, "  MISSING connection {m}");
    }
    for d in &unexplained {
        let _ = writeln!(
            msg,
            "  {} {} {}:\n      expected {}\n      tlsight  {}",
            d.capture, d.connection, d.fact, d.expected, d.found
        );
    }
    println!("{msg}");
    assert!(missing.is_empty() && unexplained.is_empty(), "{msg}");
    assert_eq!(expected_conns, 122, "the real corpus has 122 connections");
    assert!(ratio >= 0.99, "{msg}");
}
