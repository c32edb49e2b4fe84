//! The key fact of every scenario capture, in plain words, so that re-blessing the goldens can
//! never silently bless a wrong answer.

mod common;

use std::path::Path;

use serde_json::Value;

/// The connection records tlsight reports for `captures/<name>`.
fn records(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name);
    common::records(&common::analyze(&[path], 2))
}

/// The only connection of a single-connection capture.
fn only(name: &str) -> Value {
    let mut r = records(name);
    assert_eq!(
        r.len(),
        1,
        "{name}: expected one TLS connection, got {r:#?}"
    );
    r.remove(0)
}

/// The JSON report over `captures/<name>...` analysed as one capture, with an optional SLO.
fn report(names: &[&str], slo_p95_ms: Option<f64>) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let paths: Vec<_> = names.iter().map(|n| dir.join(n)).collect();
    let mut analysis = common::analyze(&paths, 2);
    analysis.analysis.report.slo_p95_ms = slo_p95_ms;
    serde_json::from_slice(&common::report_json(&analysis)).expect("report is JSON")
}

/// The entry of a report list whose `key` is `value`.
fn find<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|e| e[key] == value))
        .unwrap_or_else(|| panic!("no {key} = {value} in {list:#}"))
}

fn established(r: &Value, version: &str, cipher: u64) {
    assert_eq!(r["outcome"], "established", "{r:#}");
    assert_eq!(r["version"], version, "{r:#}");
    assert_eq!(r["server_hello"]["cipher"], cipher, "{r:#}");
    assert!(r["failure"].is_null());
    assert!(
        r["timing_us"]["client_hello_to_done"].as_i64().is_some(),
        "{r:#}"
    );
}

fn failed(r: &Value, cause: &str) {
    assert_eq!(r["outcome"], "failed", "{r:#}");
    assert_eq!(r["failure"]["cause"], cause, "{r:#}");
}

fn has_alert(r: &Value, from: &str, level: &str, description: &str) {
    let alerts = r["alerts"].as_array().expect("alerts list");
    assert!(
        alerts
            .iter()
            .any(|a| a["from"] == from && a["level"] == level && a["description"] == description),
        "no {level} {description} alert from the {from}: {alerts:#?}"
    );
}

fn leaf_findings(r: &Value) -> Vec<String> {
    r["certificates"][0]["findings"]
        .as_array()
        .expect("leaf certificate with findings")
        .iter()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

#[test]
fn protocol_versions_and_key_exchanges_are_named() {
    established(&only("tls10-ecdhe-rsa.pcap"), "TLSv1.0", 0xc014);
    established(&only("tls11-ecdhe-rsa.pcap"), "TLSv1.1", 0xc014);
    let rsa = only("tls12-rsa-kx-aes128gcm.pcap");
    established(&rsa, "TLSv1.2", 0x009c);
    assert!(
        rsa["server_key_exchange_group"].is_null(),
        "static RSA has no ServerKeyExchange"
    );
    let ecdhe = only("tls12-ecdhe-rsa.pcap");
    established(&ecdhe, "TLSv1.2", 0xc02f);
    assert_eq!(ecdhe["resumption"]["tickets_issued"], 1);
    assert!(ecdhe["server_key_exchange_group"].as_u64().is_some());
    established(&only("tls12-ecdhe-ecdsa.pcap"), "TLSv1.2", 0xc02c);
    established(&only("tls13-aes128gcm.pcap"), "TLSv1.3", 0x1301);
    established(&only("tls13-ecdsa-chacha20.pcap"), "TLSv1.3", 0x1303);
}

#[test]
fn pcapng_and_nanosecond_captures_give_the_same_facts() {
    let pcap = only("tls12-ecdhe-rsa.pcap");
    let ng = only("tls12-ecdhe-rsa.pcapng");
    assert_eq!(pcap["client_hello"], ng["client_hello"]);
    assert_eq!(pcap["ts"], ng["ts"]);
    let micro = only("tls12-ecdhe-ecdsa.pcap");
    let nano = only("tls12-ecdhe-ecdsa-nsec.pcap");
    assert_eq!(micro["ts"], nano["ts"]);
    assert_eq!(micro["timing_us"], nano["timing_us"]);
}

#[test]
fn hello_retry_request_is_recorded_with_the_retried_hello() {
    let r = only("tls13-hello-retry-request.pcap");
    established(&r, "TLSv1.3", 0x1302);
    assert_eq!(r["hello_retry_request"]["hrr"], true);
    assert_eq!(r["hello_retry_request"]["group"], 29, "HRR asks for x25519");
    assert_eq!(
        r["retry_client_hello"]["key_share_groups"],
        serde_json::json!([29])
    );
}

#[test]
fn mutual_tls_shows_the_client_chain() {
    let r = only("tls12-mutual-auth.pcap");
    established(
        &r,
        "TLSv1.2",
        r["server_hello"]["cipher"].as_u64().unwrap_or(0),
    );
    assert_eq!(r["certificate_requested"], true);
    let client = r["client_certificates"].as_array().expect("client chain");
    assert_eq!(client.len(), 2, "client.test + intermediate");
    assert!(
        client[0]["subject"]
            .as_str()
            .unwrap_or("")
            .contains("client.test")
    );
    assert_eq!(only("tls13-mutual-auth.pcap")["outcome"], "established");
}

#[test]
fn resumption_is_detected_per_mechanism() {
    for (name, mechanism) in [
        ("tls12-resumption-session-id.pcap", "session_id"),
        ("tls12-resumption-ticket.pcap", "ticket"),
        ("tls13-resumption-psk.pcap", "psk"),
    ] {
        let r = records(name);
        assert_eq!(r.len(), 2, "{name}");
        assert_eq!(
            r[0]["outcome"], "established",
            "{name}: first connection is full"
        );
        assert_eq!(r[1]["outcome"], "resumed", "{name}: {:#}", r[1]);
        assert_eq!(r[1]["resumption"]["accepted"], mechanism, "{name}");
    }
    let early = records("tls13-early-data.pcap");
    assert_eq!(early[1]["resumption"]["early_data_offered"], true);
    assert_eq!(early[1]["outcome"], "resumed");
}

#[test]
fn a_second_stack_is_understood() {
    established(
        &only("gnutls-client-openssl-server-tls13.pcap"),
        "TLSv1.3",
        0x1302,
    );
    established(
        &only("gnutls-client-openssl-server-tls12.pcap"),
        "TLSv1.2",
        0xc030,
    );
    established(
        &only("openssl-client-gnutls-server-tls13.pcap"),
        "TLSv1.3",
        0x1302,
    );
    let r = only("openssl-client-gnutls-server-tls12.pcap");
    established(&r, "TLSv1.2", 0xc030);
    assert_eq!(r["client_certificate_empty"], true);
}

#[test]
fn failures_name_their_cause_and_sender() {
    for name in ["fail-no-shared-cipher.pcap", "fail-no-shared-cipher.pcapng"] {
        let r = only(name);
        failed(&r, "no_shared_cipher");
        has_alert(&r, "server", "fatal", "handshake_failure");
    }
    let r = only("fail-protocol-version.pcap");
    failed(&r, "version_mismatch");
    has_alert(&r, "server", "fatal", "protocol_version");
    let why = r["failure"]["explanation"].as_str().unwrap_or("");
    assert!(
        why.contains("the server accepts none of the client's versions")
            && why.contains("client offered up to TLSv1.2"),
        "offered vs demanded: {why}"
    );
    for name in ["fail-unknown-ca-tls12.pcap", "fail-unknown-ca-tls13.pcap"] {
        let r = only(name);
        failed(&r, "client_rejected_certificate");
        has_alert(&r, "client", "fatal", "unknown_ca");
    }
    let r = only("fail-expired-cert-tls12.pcap");
    failed(&r, "client_rejected_certificate");
    has_alert(&r, "client", "fatal", "certificate_expired");
    assert!(leaf_findings(&r).contains(&"expired".to_string()));
    let r = only("fail-sni-unrecognized-name.pcap");
    failed(&r, "unrecognized_name");
    has_alert(&r, "server", "fatal", "unrecognized_name");
    let r = only("fail-client-cert-missing-tls12.pcap");
    failed(&r, "server_rejected_client_certificate");
    has_alert(&r, "server", "fatal", "handshake_failure");
    assert_eq!(r["client_certificate_empty"], true);
    // TLS 1.3 hides the server's alert: one alert-sized record after the client's Finished,
    // then the server closes.
    let r = only("fail-client-cert-missing-tls13.pcap");
    failed(&r, "server_rejected_client_certificate");
    assert_eq!(r["failure"]["inferred"], true, "{r:#}");
    let alert = &r["alerts"][0];
    assert_eq!(
        (&alert["from"], &alert["inferred"], &alert["after"]),
        (
            &serde_json::json!("server"),
            &serde_json::json!(true),
            &serde_json::json!("client:finished")
        ),
        "{r:#}"
    );
    let r = only("fail-reset-after-client-hello.pcap");
    failed(&r, "server_reset");
    assert_eq!(r["tcp"]["rst_from"], "server");
    let r = only("fail-client-hello-unanswered.pcap");
    assert_eq!(r["outcome"], "no_response", "{r:#}");
}

#[test]
fn certificate_findings_are_judged_at_capture_time() {
    for (name, finding) in [
        ("cert-expired.pcap", "expired"),
        ("cert-expiring-in-10-days.pcap", "expiring_soon"),
        ("cert-self-signed.pcap", "self_signed"),
        ("cert-sni-not-in-san.pcap", "sni_mismatch"),
        ("cert-incomplete-chain.pcap", "chain_incomplete"),
        ("cert-rsa-1024.pcap", "weak_key"),
        ("cert-sha1-signature.pcap", "weak_signature"),
        ("cert-validity-825-days.pcap", "validity_too_long"),
    ] {
        let r = only(name);
        let findings = leaf_findings(&r);
        assert!(
            findings.contains(&finding.to_string()),
            "{name}: {findings:?}"
        );
    }
    let clean = only("tls12-ecdhe-rsa.pcap");
    assert!(
        leaf_findings(&clean).is_empty(),
        "a good chain has no findings"
    );
}

#[test]
fn transport_and_framing_variants_are_followed() {
    let r = only("tls12-renegotiation-ok.pcap");
    assert_eq!(r["outcome"], "established");
    let r = only("tls12-client-hello-split-3-segments.pcap");
    assert_eq!(r["outcome"], "established", "{r:#}");
    assert!(r["client_hello"]["sni"].is_string());
    let r = only("tls13-ipv6-loopback.pcap");
    assert_eq!(r["client"]["ip"], "::1");
    assert_eq!(r["outcome"], "established");
    let r = only("smtp-starttls.pcap");
    assert_eq!(r["outcome"], "established", "STARTTLS upgrade found: {r:#}");
    assert_eq!(r["server"]["port"], 20063);
    assert_eq!(
        only("tls13-nonstandard-port-40443.pcap")["server"]["port"],
        40443
    );
    assert_eq!(only("tls12-netns-mtu576.pcap")["outcome"], "established");
    assert_eq!(only("tls12-vlan-100.pcap")["outcome"], "established");
}

#[test]
fn capture_defects_are_survived_and_reported() {
    let r = only("defect-reordered-server-flight.pcap");
    assert_eq!(r["outcome"], "established", "{r:#}");
    let r = only("defect-retransmitted-segment.pcap");
    assert_eq!(r["outcome"], "established");
    assert!(r["tcp"]["retransmissions"].as_u64().unwrap_or(0) >= 1);
    let r = only("defect-lost-certificate-segment.pcap");
    let gaps = r["tcp"]["gaps"]["server"].as_u64().unwrap_or(0);
    assert!(gaps >= 1, "the lost segment is reported as a gap: {r:#}");
    let r = only("defect-starts-at-client-hello.pcap");
    assert_eq!(r["tcp"]["syn_seen"], false);
    assert_eq!(r["outcome"], "established");
    // Picked up after the ClientHello: the handshake is still recognised from the server side.
    let r = records("defect-starts-after-client-hello.pcap");
    assert_eq!(r.len(), 1, "{r:#?}");
    assert!(r[0]["server_hello"].is_object());
    assert_eq!(
        r[0]["outcome"], "incomplete",
        "the handshake's start was not captured"
    );
    // A truncated file still yields the connection read before the cut, and the input error.
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/defect-truncated-mid-packet.pcap");
    let analysis = common::analyze(&[path], 2);
    assert!(analysis.input_failed());
    let error = analysis.report.inputs[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("defect-truncated-mid-packet.pcap") && error.contains("packet"),
        "{error}"
    );
    assert!(analysis.records_written >= 1);
}

#[test]
fn failure_causes_are_ranked_per_server() {
    let r = report(
        &[
            "fail-unknown-ca-tls12.pcap",
            "fail-unknown-ca-tls13.pcap",
            "fail-expired-cert-tls12.pcap",
            "fail-no-shared-cipher.pcap",
            "fail-reset-after-client-hello.pcap",
        ],
        None,
    );
    let by_server = r["failure_causes_by_server"].as_array().expect("list");
    assert_eq!(
        by_server[0]["cause"], "client_rejected_certificate",
        "{r:#}"
    );
    assert_eq!(by_server[0]["count"], 3);
    let server = find(&r["servers"], "server", "server.test");
    let ranked = &server["failure_causes_ranked"];
    assert_eq!(
        ranked[0]["cause"], "client_rejected_certificate",
        "{server:#}"
    );
    assert_eq!(ranked[0]["count"], 3);
    assert_eq!(ranked.as_array().map(Vec::len), Some(3), "{server:#}");
}

#[test]
fn latency_is_kept_per_version_and_outcome_and_judged_against_the_slo() {
    let names = [
        "tls12-ecdhe-rsa.pcap",
        "tls13-aes128gcm.pcap",
        "tls12-resumption-ticket.pcap",
        "fail-no-shared-cipher.pcap",
    ];
    let r = report(&names, Some(0.001));
    let v12 = find(&r["latency_by_version_us"], "version", "TLSv1.2");
    assert_eq!(
        v12["latency_us"]["client_hello_to_done"]["count"], 3,
        "{v12:#}"
    );
    let v13 = find(&r["latency_by_version_us"], "version", "TLSv1.3");
    let done13 = &v13["latency_us"]["client_hello_to_done"];
    assert_eq!(done13["count"], 1);
    assert!(
        done13["p95"].as_u64().is_some_and(|us| us < 100_000),
        "TLS 1.3 is done at the client's Finished, not at its first data: {done13:#}"
    );
    let resumed = find(&r["latency_by_outcome_us"], "outcome", "resumed");
    assert_eq!(resumed["latency_us"]["client_hello_to_done"]["count"], 1);
    let failed = find(&r["latency_by_outcome_us"], "outcome", "failed");
    assert_eq!(failed["latency_us"]["client_hello_to_done"]["count"], 0);
    // A 1 µs SLO flags the server; a 10 s one does not.
    assert_eq!(r["slo_p95_ms"], 0.001);
    assert_eq!(r["servers_above_slo"][0]["server"], "server.test", "{r:#}");
    assert_eq!(
        find(&r["servers"], "server", "server.test")["above_slo"],
        true
    );
    let r = report(&names, Some(10_000.0));
    assert_eq!(r["servers_above_slo"], serde_json::json!([]));
    assert_eq!(
        find(&r["servers"], "server", "server.test")["above_slo"],
        false
    );
    assert!(report(&names, None)["servers"][0]["above_slo"].is_null());
}

#[test]
fn resumption_is_counted_per_mechanism_and_server() {
    let r = report(
        &[
            "tls12-resumption-session-id.pcap",
            "tls12-resumption-ticket.pcap",
            "tls13-resumption-psk.pcap",
            "tls13-early-data.pcap",
        ],
        None,
    );
    let res = &r["resumption"];
    assert_eq!(res["hits"], 4, "{res:#}");
    for (mechanism, offered, accepted) in [("session_id", 2, 1), ("ticket", 1, 1), ("psk", 2, 2)] {
        let m = find(&res["by_mechanism"], "mechanism", mechanism);
        assert_eq!(
            (&m["offered"], &m["accepted"]),
            (&offered.into(), &accepted.into()),
            "{res:#}"
        );
    }
    assert_eq!(res["early_data_offered"], 1);
    assert_eq!(res["early_data_accepted"], 1, "EndOfEarlyData seen");
    assert!(
        res["tickets_issued"].as_u64().is_some_and(|n| n >= 1),
        "{res:#}"
    );
    let server = find(&r["servers"], "server", "server.test");
    assert_eq!(server["resumption"]["hits"], 4);
    assert!(server["resumption"]["hit_rate"].as_f64().is_some());
    let early = records("tls13-early-data.pcap");
    assert_eq!(early[1]["resumption"]["early_data_accepted"], true);
    assert_eq!(early[0]["resumption"]["early_data_accepted"], false);
    // A TLS 1.3 client's random legacy session id is not a resumption attempt.
    let fresh = only("tls13-aes128gcm.pcap");
    assert_eq!(fresh["resumption"]["offered"], serde_json::json!([]));
}

#[test]
fn clients_are_profiled_by_fingerprint_with_what_would_break() {
    let r = report(
        &[
            "tls10-ecdhe-rsa.pcap",
            "tls12-rsa-kx-aes128gcm.pcap",
            "tls13-aes128gcm.pcap",
            "tls12-ecdhe-rsa.pcap",
        ],
        None,
    );
    let ja4 = |name: &str| {
        only(name)["client_hello"]["ja4"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let old = find(&r["clients"], "ja4", &ja4("tls10-ecdhe-rsa.pcap"));
    assert_eq!(old["highest_version"], "TLSv1.0");
    assert!(
        old["breaks_if"]
            .as_array()
            .is_some_and(|b| b.contains(&"disable_below_tls1_2".into()))
    );
    let rsa = find(&r["clients"], "ja4", &ja4("tls12-rsa-kx-aes128gcm.pcap"));
    assert!(
        rsa["breaks_if"]
            .as_array()
            .is_some_and(|b| b.contains(&"remove_rsa_key_exchange".into())),
        "{rsa:#}"
    );
    let modern = find(&r["clients"], "ja4", &ja4("tls13-aes128gcm.pcap"));
    assert_eq!(modern["breaks_if"], serde_json::json!([]));
    assert_eq!(modern["connections"], 1);
    assert_eq!(modern["servers"][0]["name"], "server.test");
    assert!(
        modern["groups"]
            .as_array()
            .is_some_and(|g| g.contains(&"x25519".into()))
    );
    let breaks = &r["what_breaks"];
    assert_eq!(
        find(breaks, "change", "disable_below_tls1_2")["clients"],
        1,
        "{breaks:#}"
    );
    assert_eq!(
        find(breaks, "change", "remove_rsa_key_exchange")["clients"],
        1
    );
    assert_eq!(find(breaks, "change", "tls1_3_only")["clients"], 3);
    // Who speaks what: negotiated groups by name, with the post-quantum flag.
    let x25519 = find(&r["groups_negotiated"], "name", "x25519");
    assert_eq!(x25519["post_quantum"], false);
    assert_eq!(only("tls13-aes128gcm.pcap")["group"], "x25519");
}

#[test]
fn each_certificate_is_listed_once_with_its_findings() {
    let r = report(
        &[
            "cert-expired.pcap",
            "fail-expired-cert-tls12.pcap",
            "cert-incomplete-chain.pcap",
            "tls12-ecdhe-rsa.pcap",
        ],
        None,
    );
    let certs = r["certificates"].as_array().expect("inventory");
    let expired: Vec<_> = certs
        .iter()
        .filter(|c| {
            c["certificate"]["findings"]
                .as_array()
                .is_some_and(|f| f.contains(&"expired".into()))
        })
        .collect();
    assert_eq!(
        expired.len(),
        1,
        "the expired leaf is listed once: {certs:#?}"
    );
    assert_eq!(expired[0]["connections"], 2);
    assert_eq!(expired[0]["leaf"], true);
    let intermediate = certs
        .iter()
        .find(|c| c["certificate"]["is_ca"] == true)
        .expect("the intermediate CA");
    assert_eq!(intermediate["connections"], 3, "shared by three chains");
    // An incomplete chain is a fact of the connection, not of the certificate.
    let incomplete = certs
        .iter()
        .find(|c| c["connection_findings"]["chain_incomplete"] == 1)
        .expect("leaf sent without its intermediate");
    assert_eq!(incomplete["certificate"]["findings"], serde_json::json!([]));
    assert_eq!(incomplete["connections"], 2, "{incomplete:#}");
}

#[test]
fn renegotiations_are_counted_with_initiator_and_secure_support() {
    let ok = only("tls12-renegotiation-ok.pcap");
    assert_eq!(ok["renegotiations"], 1);
    assert_eq!(
        ok["renegotiation"],
        serde_json::json!({"client_initiated": 1, "server_initiated": 0, "completed": 1, "secure": true})
    );
    assert_eq!(ok["outcome"], "established");
    let refused = only("tls12-renegotiation-refused.pcap");
    assert_eq!(refused["renegotiation"]["client_initiated"], 1);
    assert_eq!(refused["renegotiation"]["completed"], 0);
    let r = report(
        &[
            "tls12-renegotiation-ok.pcap",
            "tls12-renegotiation-refused.pcap",
        ],
        None,
    );
    assert_eq!(r["renegotiation"]["connections"], 2);
    assert_eq!(r["renegotiation"]["completed"], 1);
    assert_eq!(r["renegotiation"]["secure_supported"], 2);
    assert!(only("tls13-aes128gcm.pcap")["renegotiation"]["secure"].is_null());
}

#[test]
fn groups_alpn_and_ech_are_censused_with_post_quantum_hybrids_named() {
    let pq = only("tls13-pq-hybrid-ech-grease.pcap");
    assert_eq!(pq["group"], "X25519MLKEM768", "{pq:#}");
    assert_eq!(pq["client_hello"]["ech"], true);
    let alpn = only("tls12-alpn-h2.pcap");
    assert_eq!(alpn["alpn"], "h2");
    let r = report(
        &["tls13-pq-hybrid-ech-grease.pcap", "tls12-alpn-h2.pcap"],
        None,
    );
    let hybrid = find(&r["groups_negotiated"], "name", "X25519MLKEM768");
    assert_eq!(
        (&hybrid["code"], &hybrid["post_quantum"]),
        (&0x11ec.into(), &true.into())
    );
    assert_eq!(
        find(&r["groups_offered"], "name", "X25519MLKEM768")["count"],
        1
    );
    assert!(
        r["groups_offered"]
            .as_array()
            .is_some_and(|g| g.iter().all(|g| g["name"] != "GREASE")),
        "GREASE is left out: {:#}",
        r["groups_offered"]
    );
    assert_eq!(
        r["post_quantum"],
        serde_json::json!({"offered": 1, "negotiated": 1})
    );
    assert_eq!(find(&r["alpn_offered"], "name", "h2")["count"], 2);
    assert_eq!(find(&r["alpn_negotiated"], "name", "h2")["count"], 1);
    assert_eq!(
        r["ech"],
        serde_json::json!({"offered": 1, "confirmed": 0, "unconfirmed": 1})
    );
    let chrome_like = find(&r["clients"], "ja4", "t13d0714h2_04ca88ad2b9b_de124e8f7d01");
    assert_eq!(chrome_like["post_quantum"], true);
    assert_eq!(chrome_like["breaks_if"], serde_json::json!([]));
}
