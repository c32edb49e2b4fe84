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
