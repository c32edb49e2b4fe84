//! `tlsight check`: every condition of the policy language, each on a capture from
//! `captures/` that satisfies it and one that breaks it (the offending value named), and the
//! Mozilla profiles on captures whose verdict is known.

use std::path::{Path, PathBuf};

use tlsight::check::{CheckResult, EvalOptions, Policy, Reference, Status, evaluate};
use tlsight::observed::{self, Observation};
use tlsight::pipeline::Config;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn observe(name: &str) -> Observation {
    observed::load(&[capture(name)], &Config::default()).expect("capture loads")
}

fn options() -> EvalOptions {
    EvalOptions {
        reference: Reference {
            fixed_us: None,
            warn_days: 30,
        },
        examples: 3,
    }
}

fn check(policy: &Policy, name: &str) -> CheckResult {
    evaluate(policy, &observe(name), &options())
}

/// The single rule's verdicts on a capture: (status, offending values).
fn verdict(rule: &str, name: &str) -> (Status, Vec<String>) {
    let policy = Policy::from_toml(&format!("[[rule]]\nid = \"r\"\n{rule}\n"), "test.toml")
        .unwrap_or_else(|e| panic!("{rule}: {e}"));
    let result = check(&policy, name);
    assert_eq!(result.verdicts.len(), 1, "{rule} on {name}: one server");
    let v = &result.verdicts[0];
    (
        v.status,
        v.violations.iter().map(|x| x.value.clone()).collect(),
    )
}

/// Asserts that `rule` holds on `passing` and is broken on `violating` with exactly the
/// offending `values`.
fn holds_and_breaks(rule: &str, passing: &str, violating: &str, values: &[&str]) {
    let (status, found) = verdict(rule, passing);
    assert_eq!(status, Status::Pass, "{rule} on {passing}: {found:?}");
    let (status, found) = verdict(rule, violating);
    assert_eq!(status, Status::Fail, "{rule} on {violating}");
    assert_eq!(found, values, "{rule} on {violating}");
}

#[test]
fn negotiated_versions() {
    holds_and_breaks(
        "min_version = \"TLSv1.2\"",
        "tls12-ecdhe-rsa.pcap",
        "tls10-ecdhe-rsa.pcap",
        &["TLSv1.0"],
    );
    holds_and_breaks(
        "allowed_versions = [\"TLSv1.3\"]",
        "tls13-aes128gcm.pcap",
        "tls12-ecdhe-rsa.pcap",
        &["TLSv1.2"],
    );
    holds_and_breaks(
        "forbidden_versions = [\"TLSv1.1\"]",
        "tls12-ecdhe-rsa.pcap",
        "tls11-ecdhe-rsa.pcap",
        &["TLSv1.1"],
    );
}

#[test]
fn negotiated_ciphers_by_iana_and_openssl_names() {
    holds_and_breaks(
        "allowed_ciphers = [\"ECDHE-RSA-AES128-GCM-SHA256\", \"TLS_AES_128_GCM_SHA256\"]",
        "tls12-ecdhe-rsa.pcap",
        "tls12-ecdhe-ecdsa.pcap",
        &["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"],
    );
    holds_and_breaks(
        "forbidden_ciphers = [\"AES128-GCM-SHA256\"]",
        "tls12-ecdhe-rsa.pcap",
        "tls12-rsa-kx-aes128gcm.pcap",
        &["TLS_RSA_WITH_AES_128_GCM_SHA256"],
    );
    holds_and_breaks(
        "forward_secrecy = true",
        "tls12-ecdhe-rsa.pcap",
        "tls12-rsa-kx-aes128gcm.pcap",
        &["TLS_RSA_WITH_AES_128_GCM_SHA256"],
    );
    holds_and_breaks(
        "aead = true",
        "tls12-ecdhe-rsa.pcap",
        "tls10-ecdhe-rsa.pcap",
        &["TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"],
    );
}

#[test]
fn key_exchange_groups_and_post_quantum() {
    let gnutls = "gnutls-client-openssl-server-tls12.pcap";
    holds_and_breaks(
        "allowed_groups = [\"X25519\"]",
        "tls12-ecdhe-rsa.pcap",
        gnutls,
        &["secp256r1"],
    );
    holds_and_breaks(
        "forbidden_groups = [\"P-256\"]",
        "tls12-ecdhe-rsa.pcap",
        gnutls,
        &["secp256r1"],
    );
    let pq = "tls13-pq-hybrid-ech-grease.pcap";
    holds_and_breaks(
        "post_quantum = \"negotiated\"",
        pq,
        "tls13-aes128gcm.pcap",
        &["x25519"],
    );
    holds_and_breaks(
        "post_quantum = \"offered\"",
        pq,
        "tls13-aes128gcm.pcap",
        &["no post-quantum group offered"],
    );
}

#[test]
fn what_clients_offer() {
    holds_and_breaks(
        "offered_min_version = \"TLSv1.2\"",
        "tls12-ecdhe-rsa.pcap",
        "tls10-ecdhe-rsa.pcap",
        &["highest offered TLSv1.0"],
    );
    holds_and_breaks(
        "offered_forbidden_versions = [\"TLSv1.0\"]",
        "tls12-ecdhe-rsa.pcap",
        "tls10-ecdhe-rsa.pcap",
        &["offers TLSv1.0"],
    );
    holds_and_breaks(
        "offered_forbidden_ciphers = [\"AES128-GCM-SHA256\"]",
        "tls12-ecdhe-rsa.pcap",
        "tls12-rsa-kx-aes128gcm.pcap",
        &["offers TLS_RSA_WITH_AES_128_GCM_SHA256"],
    );
    holds_and_breaks(
        "offered_one_of_ciphers = [\"TLS_AES_128_GCM_SHA256\"]",
        "tls13-aes128gcm.pcap",
        "tls12-ecdhe-rsa.pcap",
        &["offers none of the allowed suites"],
    );
    holds_and_breaks(
        "offered_forbidden_groups = [\"x448\"]",
        "tls13-pq-hybrid-ech-grease.pcap",
        "tls12-ecdhe-rsa.pcap",
        &["offers x448"],
    );
    holds_and_breaks(
        "offered_one_of_groups = [\"X25519MLKEM768\"]",
        "tls13-pq-hybrid-ech-grease.pcap",
        "tls13-aes128gcm.pcap",
        &["offers none of the allowed groups"],
    );
    holds_and_breaks(
        "offered_forbidden_signature_schemes = [\"rsa_pkcs1_sha1\", \"ecdsa_sha1\"]",
        "tls12-ecdhe-rsa.pcap",
        "cert-rsa-1024.pcap",
        &["offers rsa_pkcs1_sha1", "offers ecdsa_sha1"],
    );
    // What OpenSSL 3.0 offers at the default security level, and not what it adds at level 0.
    let default_level: Vec<String> = [
        0x0403u16, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080a, 0x080b, 0x0804, 0x0805, 0x0806,
        0x0401, 0x0501, 0x0601, 0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602,
    ]
    .iter()
    .map(|c| format!("\"0x{c:04x}\""))
    .collect();
    holds_and_breaks(
        &format!(
            "offered_allowed_signature_schemes = [{}]",
            default_level.join(", ")
        ),
        "tls12-ecdhe-rsa.pcap",
        "cert-rsa-1024.pcap",
        &[
            "offers rsa_pkcs1_sha1",
            "offers dsa_sha1",
            "offers ecdsa_sha1",
        ],
    );
    holds_and_breaks(
        "forbidden_client_fingerprints = [\"t10d*\"]",
        "tls12-ecdhe-rsa.pcap",
        "tls10-ecdhe-rsa.pcap",
        &["fingerprint t10d090600_c491f621fb4c_195413a0cc0f"],
    );
}

#[test]
fn failures() {
    holds_and_breaks(
        "max_failure_rate = 0.0",
        "tls12-ecdhe-rsa.pcap",
        "fail-no-shared-cipher.pcap",
        &["failure rate above 0%"],
    );
    holds_and_breaks(
        "forbidden_failure_causes = [\"no_shared_cipher\", \"version_mismatch\"]",
        "tls12-ecdhe-rsa.pcap",
        "fail-no-shared-cipher.pcap",
        &["no_shared_cipher"],
    );
}

#[test]
fn certificates() {
    let ok = "tls12-ecdhe-rsa.pcap";
    holds_and_breaks(
        "forbidden_certificate_findings = [\"expired\", \"self_signed\"]",
        ok,
        "cert-expired.pcap",
        &["expired"],
    );
    holds_and_breaks(
        "certificate_min_days_left = 30",
        ok,
        "cert-expiring-in-10-days.pcap",
        &["valid fewer than 30 more days"],
    );
    holds_and_breaks(
        "certificate_max_lifetime_days = 398",
        ok,
        "cert-validity-825-days.pcap",
        &["lifetime over 398 days"],
    );
    holds_and_breaks(
        "certificate_min_rsa_bits = 2048",
        ok,
        "cert-rsa-1024.pcap",
        &["rsa key of 1024 bits"],
    );
    holds_and_breaks(
        "certificate_allowed_key_types = [\"rsa\"]",
        ok,
        "tls12-ecdhe-ecdsa.pcap",
        &["key type ec"],
    );
    holds_and_breaks(
        "certificate_allowed_signature_algorithms = [\"sha256WithRSAEncryption\"]",
        ok,
        "cert-sha1-signature.pcap",
        &["signed with sha1WithRSAEncryption"],
    );
    // Only one capture has an EC leaf (P-256): the EC conditions pass and break on it by
    // threshold, and are not judged on an RSA leaf.
    let ec = "tls12-ecdhe-ecdsa.pcap";
    assert_eq!(verdict("certificate_min_ec_bits = 256", ec).0, Status::Pass);
    assert_eq!(
        verdict("certificate_min_ec_bits = 384", ec).1,
        ["ec key of 256 bits"]
    );
    assert_eq!(
        verdict("certificate_min_ec_bits = 384", ok).0,
        Status::NotJudged
    );
    assert_eq!(
        verdict("certificate_allowed_curves = [\"prime256v1\"]", ec).0,
        Status::Pass
    );
    assert_eq!(
        verdict("certificate_allowed_curves = [\"secp384r1\"]", ec).1,
        ["curve prime256v1"]
    );
    // TLS 1.3 encrypts the certificates: nothing to judge, which is said, not passed.
    assert_eq!(
        verdict("certificate_min_rsa_bits = 2048", "tls13-aes128gcm.pcap").0,
        Status::NotJudged
    );
}

#[test]
fn handshake_latency_over_enough_handshakes() {
    holds_and_breaks(
        "max_handshake_ms = { p95 = 20 }\nmin_handshakes = 20",
        "diff/base.pcap",
        "diff/regress-latency.pcap",
        &["p95 above 20 ms"],
    );
    // One handshake is not enough for a rule that asks for twenty.
    let (status, _) = verdict(
        "max_handshake_ms = { p95 = 0.001 }\nmin_handshakes = 20",
        "tls12-ecdhe-rsa.pcap",
    );
    assert_eq!(status, Status::NotJudged);
}

#[test]
fn resumption_rate() {
    holds_and_breaks(
        "min_resumption_rate = 1.0",
        "tls12-resumption-ticket.pcap",
        "openssl-client-gnutls-server-tls12.pcap",
        &["resumption rate below 100%"],
    );
}

#[test]
fn renegotiation() {
    let reneg = "tls12-renegotiation-ok.pcap";
    holds_and_breaks(
        "forbid_client_renegotiation = true",
        "tls12-ecdhe-rsa.pcap",
        reneg,
        &["client-initiated renegotiation"],
    );
    holds_and_breaks(
        "max_renegotiations = 0",
        "tls12-ecdhe-rsa.pcap",
        reneg,
        &["more than 0 renegotiations"],
    );
    holds_and_breaks(
        "secure_renegotiation = true",
        "tls12-ecdhe-rsa.pcap",
        "real/sv__sslv2-tls-upgrade-01__ssl-v2-s1.pcap",
        &["no RFC 5746 secure renegotiation"],
    );
}

#[test]
fn ocsp_stapling_where_the_client_asked() {
    holds_and_breaks(
        "ocsp_stapling = true",
        "real/zeek__ocsp-stapling-twimg.pcap",
        "gnutls-client-openssl-server-tls12.pcap",
        &["no OCSP response stapled"],
    );
    // The OpenSSL client does not ask (no status_request): nothing to judge.
    assert_eq!(
        verdict("ocsp_stapling = true", "tls12-ecdhe-rsa.pcap").0,
        Status::NotJudged
    );
}

#[test]
fn evidence_names_the_connection_and_the_certificate() {
    let policy = Policy::from_toml(
        "[[rule]]\nid = \"certs\"\nforbidden_certificate_findings = [\"expired\"]\n",
        "p.toml",
    )
    .unwrap();
    let result = check(&policy, "cert-expired.pcap");
    let v = &result.verdicts[0];
    assert_eq!(
        (v.rule.as_str(), v.server.as_str()),
        ("certs", "server.test")
    );
    let violation = &v.violations[0];
    assert_eq!(violation.connections, 1);
    let cert = violation
        .certificate
        .as_ref()
        .expect("names the certificate");
    assert_eq!(cert.subject, "CN=server.test,O=tlsight test");
    let e = &violation.examples[0];
    assert_eq!(e.server.port, 20050);
    assert_eq!(e.sni.as_deref(), Some("server.test"));
    assert!(e.ts.starts_with("2026-11-22T"), "{}", e.ts);
    assert!(e.value.starts_with("expired: not after "), "{}", e.value);
}

#[test]
fn certificates_are_judged_at_now_when_asked() {
    let policy = Policy::from_toml(
        "[[rule]]\nid = \"days\"\ncertificate_min_days_left = 30\n\
         [[rule]]\nid = \"expired\"\nforbidden_certificate_findings = [\"expired\"]\n",
        "p.toml",
    )
    .unwrap();
    let obs = observe("tls12-ecdhe-rsa.pcap");
    let at = |now: Option<&str>| {
        let mut opts = options();
        opts.reference.fixed_us = now.map(|t| tlsight::observed::time::parse_rfc3339(t).unwrap());
        evaluate(&policy, &obs, &opts)
    };
    // Valid 2026-11-21 … 2027-02-20: fine at capture time, 10 days left on 2027-02-10 and
    // expired in March.
    assert!(!at(None).fails());
    let february = at(Some("2027-02-10T16:00:00Z"));
    assert_eq!(
        february.verdicts[0].violations[0].detail.as_deref(),
        Some("10 days left")
    );
    assert_eq!(february.verdicts[1].status, Status::Pass);
    let march = at(Some("2027-03-01T00:00:00Z"));
    assert_eq!(march.verdicts[1].violations[0].value, "expired");
    assert_eq!(
        march.reference_time.as_deref(),
        Some("2027-03-01T00:00:00Z")
    );
}

#[test]
fn scopes_select_servers_and_clients() {
    let rule = |scope: &str| {
        let policy = Policy::from_toml(
            &format!("[[rule]]\nid = \"r\"\n{scope}\nmin_version = \"TLSv1.2\"\n"),
            "p.toml",
        )
        .unwrap();
        check(&policy, "tls10-ecdhe-rsa.pcap")
    };
    assert!(rule("servers = [\"*.test\"]").fails());
    assert!(rule("servers = [\"127.0.0.1:20010\"]").fails());
    assert!(rule("servers = [\"127.0.0.0/8\"]").fails());
    assert!(rule("clients = [\"127.0.0.1\"]").fails());
    assert!(rule("clients = [\"t10d*\"]").fails());
    assert!(!rule("clients = [\"t13d*\"]").fails());
    assert!(!rule("servers = [\"127.0.0.1:443\"]").fails());
    // A server named literally but absent is reported as not seen (not silently passed).
    let result = rule("servers = [\"api.example.com\"]");
    assert_eq!(result.verdicts.len(), 1);
    assert_eq!(result.verdicts[0].status, Status::NotSeen);
}

#[test]
fn latency_matches_the_report() {
    let policy = Policy::from_toml(
        "[[rule]]\nid = \"slow\"\nmax_handshake_ms = { p95 = 1 }\n",
        "p.toml",
    )
    .unwrap();
    let obs = observe("diff/regress-latency.pcap");
    let result = evaluate(&policy, &obs, &options());
    let detail = result.verdicts[0].violations[0].detail.clone().unwrap();
    let p95 = obs.report.as_ref().unwrap().servers[0]
        .latency_us
        .client_hello_to_done
        .p95;
    assert_eq!(
        detail,
        format!("p95 {:.1} ms over 20 handshakes", p95 as f64 / 1000.0)
    );
}

/// Rule ids and statuses of a check, for the profile tests.
fn failing_rules(result: &CheckResult) -> Vec<String> {
    result
        .verdicts
        .iter()
        .filter(|v| v.status == Status::Fail)
        .map(|v| v.rule.clone())
        .collect()
}

#[test]
fn mozilla_intermediate_fails_tls10_and_passes_a_modern_tls12_server() {
    for version in ["5.7", "6.0"] {
        let profile = Policy::from_profile(&format!("mozilla-intermediate@{version}")).unwrap();
        let r = check(&profile, "tls10-ecdhe-rsa.pcap");
        assert_eq!(
            failing_rules(&r),
            [
                "mozilla-intermediate/versions",
                "mozilla-intermediate/ciphers",
                "mozilla-intermediate/client-versions",
                "mozilla-intermediate/client-ciphers"
            ],
            "{version}"
        );
        assert_eq!(r.policy, [format!("mozilla-intermediate@{version}")]);
        let r = check(&profile, "tls11-ecdhe-rsa.pcap");
        assert!(failing_rules(&r).contains(&"mozilla-intermediate/versions".to_string()));
        assert!(
            !check(&profile, "tls12-ecdhe-rsa.pcap").fails(),
            "{version}"
        );
        // Static RSA key exchange is not in the guideline, and that client offers nothing else
        // (nor any group: 6.0 intermediate allows only ECDHE, so clients need one).
        let r = check(&profile, "tls12-rsa-kx-aes128gcm.pcap");
        let mut expected = vec![
            "mozilla-intermediate/ciphers",
            "mozilla-intermediate/client-ciphers",
        ];
        if version == "6.0" {
            expected.push("mozilla-intermediate/client-groups");
        }
        assert_eq!(failing_rules(&r), expected, "{version}");
        // A client that offers OCSP stapling to a server that does not staple.
        let r = check(&profile, "gnutls-client-openssl-server-tls12.pcap");
        assert!(failing_rules(&r).contains(&"mozilla-intermediate/ocsp-stapling".to_string()));
    }
}

#[test]
fn mozilla_modern_passes_tls13_with_x25519_and_fails_tls12() {
    for version in ["5.7", "6.0"] {
        let profile = Policy::from_profile(&format!("mozilla-modern@{version}")).unwrap();
        let r = check(&profile, "tls13-aes128gcm.pcap");
        assert!(!r.fails(), "{version}: {:?}", failing_rules(&r));
        // TLS 1.3 encrypts the certificate: the certificate rules are not judged, not passed.
        let cert = r
            .verdicts
            .iter()
            .find(|v| v.rule == "mozilla-modern/certificate-types")
            .unwrap();
        assert_eq!(cert.status, Status::NotJudged);
        let r = check(&profile, "tls12-ecdhe-rsa.pcap");
        let failing = failing_rules(&r);
        for rule in [
            "versions",
            "ciphers",
            "client-versions",
            "client-ciphers",
            "certificate-types",
        ] {
            assert!(
                failing.contains(&format!("mozilla-modern/{rule}")),
                "{version} {rule}: {failing:?}"
            );
        }
    }
}

#[test]
fn mozilla_old_accepts_tls10_with_its_ciphers() {
    let profile = Policy::from_profile("mozilla-old@5.7").unwrap();
    let r = check(&profile, "tls10-ecdhe-rsa.pcap");
    assert!(!r.fails(), "{:?}", failing_rules(&r));
}

#[test]
fn a_policy_extends_a_profile_and_relaxes_it() {
    let text = "extends = \"mozilla-intermediate@5.7\"\n\
                disable = [\"mozilla-intermediate/ocsp-stapling\"]\n\
                [[rule]]\nid = \"mozilla-intermediate/groups\"\n\
                allowed_groups = [\"x25519\", \"secp256r1\", \"secp384r1\", \"ffdhe2048\"]\n";
    let policy = Policy::from_toml(text, "relaxed.toml").unwrap();
    let strict = Policy::from_profile("mozilla-intermediate@5.7").unwrap();
    let capture = "gnutls-client-openssl-server-tls12.pcap";
    assert!(check(&strict, capture).fails());
    let relaxed = check(&policy, capture);
    assert!(!relaxed.fails(), "{:?}", failing_rules(&relaxed));
    assert_eq!(relaxed.policy, ["mozilla-intermediate@5.7", "relaxed.toml"]);
}
