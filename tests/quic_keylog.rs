//! `tlsight analyze --keylog` over the QUIC scenario captures recorded with their key logs
//! (`captures/quic/NAME.keys`, written by aioquic and quinn: `captures/quic/record.sh`):
//! Handshake and 1-RTT packets opened with the TLS secrets.
//!
//! - Each capture's full NDJSON output is pinned in `captures/quic/expected/` (re-bless with
//!   `TLSIGHT_BLESS=1 cargo test --test quic_keylog`);
//! - each scenario has its key fact in plain words;
//! - the same capture with its secrets injected as a pcapng Decryption Secrets Block
//!   (`editcap --inject-secrets`) gives the same answer with no `--keylog`;
//! - certificates (SHA-256), ALPN and alerts equal what tshark shows given the same key log.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::keylog_cli::{
    analyze_with_keylogs, check_golden, connection_records as records, shown,
};
use common::tshark_tls::{Over, Shown, tshark_available, tshark_shows_over};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/quic")
}

/// The records of `capture` analysed with `keylog`, or with none; a key log problem on
/// standard error fails the test.
fn analyze(capture: &Path, keylog: Option<&Path>) -> String {
    let keylogs: Vec<PathBuf> = keylog.into_iter().map(Path::to_path_buf).collect();
    let (ndjson, stderr) = analyze_with_keylogs(capture, &keylogs);
    assert!(
        !stderr.contains("key log"),
        "{}: {stderr}",
        capture.display()
    );
    ndjson
}

/// The connection records of `NAME.pcap` analysed with `NAME.keys`.
fn connections(name: &str) -> Vec<Value> {
    let keys = dir().join(format!("{name}.keys"));
    records(&analyze(&dir().join(format!("{name}.pcap")), Some(&keys)))
}

/// The one connection of a scenario.
fn one(name: &str) -> Value {
    let mut c = connections(name);
    assert_eq!(c.len(), 1, "{name}");
    c.remove(0)
}

/// Every capture of `captures/quic/` with a key log beside it.
fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("captures/quic")
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "keys").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    names
}

/// Every Handshake and 1-RTT packet read was opened: nothing failed, no secret missing.
fn fully_decrypted(c: &Value, name: &str) {
    assert_eq!(c["decryption"], "full", "{name}: {c}");
    assert_eq!(c["decryption_failed"], 0, "{name}");
    assert_eq!(c["decryption_missing"], Value::Null, "{name}");
}

/// A handshake confirmed by the server's HANDSHAKE_DONE, with the chain and ALPN h3 that only
/// the decrypted Handshake packets carry, and the server's transport parameters naming the
/// client's first DCID.
fn confirmed_with_chain(c: &Value, name: &str) {
    fully_decrypted(c, name);
    if name != "aioquic-retry" {
        assert_eq!(
            c["finished_verified"],
            json!({"client": true, "server": true}),
            "{name}"
        );
    }
    assert_eq!(c["outcome"], "established", "{name}");
    assert_eq!(c["quic"]["handshake_done"], true, "{name}");
    // With keys the flow is read to its end (tickets, a close after the handshake), not
    // recorded at confirmation as it is without them.
    assert_eq!(c["quic"]["close"], "capture_end", "{name}");
    assert_eq!(c["alpn"], "h3", "{name}: ALPN from EncryptedExtensions");
    let chain = c["certificates"].as_array().expect("chain");
    assert_eq!(chain.len(), 1, "{name}");
    assert_eq!(chain[0]["subject"], "CN=server.test", "{name}");
    assert_eq!(chain[0]["issuer"], "CN=tlsight QUIC test CA", "{name}");
    let params = &c["quic"]["transport_parameters"]["server"];
    assert_eq!(
        params["original_destination_connection_id"], c["quic"]["client_dcid"],
        "{name}"
    );
    assert_eq!(
        params["initial_source_connection_id"], c["quic"]["server_scid"],
        "{name}"
    );
    let messages: Vec<&str> = c["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for m in [
        "server:encrypted_extensions",
        "server:certificate",
        "server:certificate_verify",
        "server:finished",
        "client:finished",
        "server:new_session_ticket",
    ] {
        assert!(messages.contains(&m), "{name}: {m} in {messages:?}");
    }
    assert!(
        c["resumption"]["tickets_issued"].as_u64() >= Some(1),
        "{name}: NewSessionTickets from the 1-RTT CRYPTO frames"
    );
}

#[test]
fn outputs_match_goldens() {
    let mut failures = Vec::new();
    for name in names() {
        let ndjson = analyze(
            &dir().join(format!("{name}.pcap")),
            Some(&dir().join(format!("{name}.keys"))),
        );
        let golden = dir().join("expected").join(format!("{name}.ndjson"));
        check_golden(&golden, &ndjson, "quic_keylog", &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// aioquic and quinn, v1 with ALPN h3 (and aioquic's IPv6, port 8443 and three-Initial
/// ClientHello variants): the certificate chain, ALPN h3 from EncryptedExtensions and the
/// server's transport parameters, which the same capture without keys does not show.
#[test]
fn v1_handshakes_show_the_chain_alpn_and_transport_parameters() {
    for name in [
        "aioquic-v1-h3",
        "quinn-v1-h3",
        "aioquic-ipv6-port-8443",
        "aioquic-client-hello-3-initials",
    ] {
        let c = one(name);
        confirmed_with_chain(&c, name);
        let plain = records(&analyze(&dir().join(format!("{name}.pcap")), None));
        assert_eq!(
            plain[0]["certificates"],
            json!([]),
            "{name}: hidden without keys"
        );
        assert_eq!(plain[0]["alpn"], Value::Null, "{name}");
        assert!(plain[0].get("decryption").is_none(), "{name}");
        assert!(plain[0]["quic"].get("transport_parameters").is_none());
    }
    // quinn sends two NewSessionTickets and greases the QUIC bit.
    let quinn = one("quinn-v1-h3");
    assert_eq!(quinn["resumption"]["tickets_issued"], 2);
    assert_eq!(
        quinn["quic"]["transport_parameters"]["server"]["grease_quic_bit"],
        true
    );
}

/// QUIC v2: the Handshake and 1-RTT keys come from the `quicv2` labels.
#[test]
fn v2_keys_use_the_v2_labels() {
    let c = one("aioquic-v2-h3");
    assert_eq!(c["quic"]["version_name"], "v2");
    confirmed_with_chain(&c, "aioquic-v2-h3");
}

/// A client rejecting the server's certificate closes inside a Handshake packet: with keys the
/// alert is exact (aioquic's bad_certificate, quinn's unknown_ca) and from the client, where
/// without keys it is only inferred.
#[test]
fn client_rejecting_the_certificate_is_exact() {
    for (name, alert) in [
        ("aioquic-client-rejects-certificate", "bad_certificate"),
        ("quinn-client-rejects-certificate", "unknown_ca"),
    ] {
        let c = one(name);
        fully_decrypted(&c, name);
        assert_eq!(c["outcome"], "failed", "{name}");
        assert_eq!(
            c["failure"]["cause"], "client_rejected_certificate",
            "{name}"
        );
        assert_eq!(c["failure"]["inferred"], false, "{name}");
        assert_eq!(
            c["alerts"],
            json!([{"from": "client", "level": "fatal", "description": alert,
                    "encrypted": true, "inferred": false, "after": "server:finished"}]),
            "{name}"
        );
        let close = &c["quic"]["connection_close"];
        assert_eq!(close["from"], "client", "{name}");
        assert_eq!(close["space"], "handshake", "{name}");
        assert_eq!(close["tls_alert"], alert, "{name}");
        assert_eq!(c["quic"]["handshake_done"], false, "{name}");
        assert_eq!(
            c["certificates"].as_array().map(Vec::len),
            Some(1),
            "{name}"
        );
        assert_eq!(
            c["finished_verified"],
            json!({"client": null, "server": true}),
            "{name}: the client sent no Finished"
        );
        let plain = &records(&analyze(&dir().join(format!("{name}.pcap")), None))[0];
        assert_eq!(
            plain["failure"]["inferred"], true,
            "{name}: inferred without keys"
        );
    }
}

/// After a Retry the secrets still match: aioquic sends a new ClientHello (a new random) in
/// its Initial after the Retry, quinn the same one; the server's transport parameters name
/// the Retry's connection ID. aioquic's Finished messages cannot be checked: the transcript
/// holds its first ClientHello (the CRYPTO stream keeps the first copy of offset 0).
#[test]
fn retry_connections_are_decrypted() {
    for name in ["aioquic-retry", "quinn-retry"] {
        let c = one(name);
        confirmed_with_chain(&c, name);
        assert_eq!(
            c["quic"]["transport_parameters"]["server"]["retry_source_connection_id"],
            c["quic"]["retry"]["scid"],
            "{name}"
        );
    }
    assert_eq!(
        one("aioquic-retry")["finished_verified"],
        json!({"client": null, "server": null})
    );
}

/// Resumption with 0-RTT: the first connection's ticket, the second resumed (PSK), its 0-RTT
/// packets seen and accepted, its Handshake flight decrypted (no certificate: resumed).
#[test]
fn resumption_with_0rtt() {
    let conns = connections("aioquic-resumption-0rtt");
    assert_eq!(conns.len(), 2);
    confirmed_with_chain(&conns[0], "first");
    let resumed = &conns[1];
    fully_decrypted(resumed, "resumed");
    assert_eq!(resumed["outcome"], "resumed");
    assert_eq!(resumed["quic"]["early_data"], true);
    // The server's EncryptedExtensions accepted the 0-RTT data (exact, not inferred), under a
    // ticket that allowed it (QUIC's early-data limit is 0xffffffff: RFC 9001 §4.6.1).
    assert_eq!(resumed["resumption"]["early_data_accepted"], true);
    assert_eq!(conns[0]["ticket_max_early_data"], 0xffff_ffffu32);
    assert_eq!(resumed["quic"]["handshake_done"], true);
    assert_eq!(resumed["certificates"], json!([]));
    assert_eq!(resumed["alpn"], "h3");
}

/// A server refusing the connection closes in an Initial packet: nothing is protected, so
/// nothing is decrypted and no secret is missing; a capture that lost the ClientHello's start
/// cannot be matched to its secrets, and says which one it missed.
#[test]
fn nothing_to_decrypt_or_no_match_is_said() {
    let refused = one("aioquic-server-refuses");
    assert_eq!(refused["decryption"], "none");
    assert_eq!(refused["decryption_missing"], Value::Null);
    assert_eq!(refused["quic"]["connection_close"]["space"], "initial");
    let lost = one("aioquic-lost-client-initial");
    assert_eq!(lost["decryption"], "none");
    assert_eq!(
        lost["decryption_missing"],
        "SERVER_HANDSHAKE_TRAFFIC_SECRET"
    );
}

/// An established connection's closes after the handshake, read from each side's last 1-RTT
/// packet: the client's application close comes first (both stacks' example clients close
/// with application error 0; quinn's says "done").
#[test]
fn close_after_the_handshake_is_read() {
    for name in ["aioquic-v1-h3", "quinn-v1-h3"] {
        let c = one(name);
        let close = &c["quic"]["connection_close"];
        assert_eq!(close["from"], "client", "{name}");
        assert_eq!(close["space"], "application", "{name}");
        assert_eq!(close["application"], true, "{name}");
        assert_eq!(close["error_code"], 0, "{name}");
        assert_eq!(c["outcome"], "established", "{name}");
    }
}

/// The key log injected into the capture as a pcapng Decryption Secrets Block (by editcap,
/// which `scripts/ensure-deps.sh` installs with tshark) gives the same records with no
/// `--keylog`.
#[test]
fn secrets_block_gives_the_same_answer_as_the_key_log() {
    if Command::new("editcap").arg("-V").output().is_err() {
        eprintln!("SKIPPED: editcap is not installed (scripts/ensure-deps.sh installs tshark)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    for name in ["aioquic-v1-h3", "quinn-client-rejects-certificate"] {
        let pcapng = tmp.path().join(format!("{name}.pcapng"));
        let status = Command::new("editcap")
            .arg("--inject-secrets")
            .arg(format!(
                "tls,{}",
                dir().join(format!("{name}.keys")).display()
            ))
            .arg(dir().join(format!("{name}.pcap")))
            .arg(&pcapng)
            .status()
            .expect("run editcap");
        assert!(status.success(), "{name}: editcap");
        let from_dsb = records(&analyze(&pcapng, None));
        let from_file = connections(name);
        assert_eq!(from_dsb.len(), 1, "{name}");
        fully_decrypted(&from_dsb[0], name);
        for key in [
            "outcome",
            "alerts",
            "messages",
            "certificates",
            "alpn",
            "decryption",
        ] {
            assert_eq!(from_dsb[0][key], from_file[0][key], "{name}: {key}");
        }
        assert_eq!(
            from_dsb[0]["quic"]["transport_parameters"],
            from_file[0]["quic"]["transport_parameters"]
        );
    }
}

/// Certificates (SHA-256), ALPN and alerts that `tlsight analyze --keylog` reports equal what
/// tshark shows with the same key log, for every QUIC capture with keys that tshark follows.
/// Skipped, with the reason printed, where tshark is not installed.
#[test]
fn analyze_agrees_with_tshark() {
    if !tshark_available() {
        eprintln!("SKIPPED: tshark is not installed (scripts/ensure-deps.sh installs it)");
        return;
    }
    for name in names() {
        let keys = dir().join(format!("{name}.keys"));
        let theirs = tshark_shows_over(&dir().join(format!("{name}.pcap")), &keys, Over::Quic);
        if let Some((_, why)) = TSHARK_DOES_NOT_DECRYPT.iter().find(|(n, _)| *n == name) {
            assert!(
                theirs
                    .iter()
                    .all(|t| t.server_certs.is_empty() && t.alpn.is_none()),
                "{name}: tshark now decrypts it; compare it again"
            );
            eprintln!("{name}: not compared: {why}");
            continue;
        }
        let ours: Vec<Shown> = connections(&name).iter().map(shown).collect();
        assert_eq!(ours, theirs, "{name}");
    }
}

/// Captures tshark (4.x) shows nothing decrypted of, and why tlsight is right to.
/// (tlsight's records of them are fully decrypted: every packet's AEAD tag verified.)
const TSHARK_DOES_NOT_DECRYPT: [(&str, &str); 2] = [
    (
        "aioquic-retry",
        "aioquic answers the Retry with a new ClientHello (a new random, the one its key log \
         names); tshark keeps the first ClientHello's random and finds no secrets for it",
    ),
    (
        "aioquic-version-negotiation",
        "after Version Negotiation the client starts again with a new ClientHello (a new \
         random, the one its key log names); tshark keeps the first one's",
    ),
];
