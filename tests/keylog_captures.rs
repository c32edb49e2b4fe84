//! The scenario captures recorded with key logs (`captures/keylog/`, `record.sh keylog`),
//! decrypted standalone (before the pipeline wiring): each capture's key fact in plain words,
//! and, where tshark is installed, the certificates, ALPN and alerts that decryption reveals
//! compared with what tshark shows given the same key log.

mod common;

use std::path::{Path, PathBuf};

use common::replay::{Replayed, replay};
use common::tshark_tls::{Shown, tshark_available, tshark_shows};
use tlsight::keylog::KeyLog;
use tlsight::tls::decrypt::connection::Sender::{self, Client, Server};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/keylog")
}

/// Replays `captures/keylog/NAME.pcap` with `NAME.keylog`.
fn run(name: &str) -> Vec<Replayed> {
    let mut keys = KeyLog::default();
    keys.load_file(&dir().join(format!("{name}.keylog")))
        .expect("key log");
    assert_eq!(keys.stats().bad_lines, 0);
    let conns = replay(&dir().join(format!("{name}.pcap")), &mut keys);
    assert!(keys.is_empty(), "{name}: every connection took its secrets");
    conns
}

/// Every protected record decrypted and every Finished verified.
fn all_clear(c: &Replayed, name: &str) {
    assert_eq!(
        c.not_decrypted,
        vec![],
        "{name}: every protected record decrypted"
    );
    assert!(
        c.finished.iter().all(|f| f.1 == Some(true)),
        "{name}: {:?}",
        c.finished
    );
}

const CLOSE_NOTIFY_BOTH: [(Sender, u8, u8, bool); 2] = [(Client, 1, 0, true), (Server, 1, 0, true)];

#[test]
fn tls13_three_suites_decrypt_the_server_flight() {
    for name in ["tls13-aes128gcm", "tls13-aes256gcm", "tls13-chacha20"] {
        let conns = run(name);
        assert_eq!(conns.len(), 1);
        let c = &conns[0];
        all_clear(c, name);
        assert_eq!(c.finished.len(), 2, "{name}: both Finished");
        let ee = c.of_type(8);
        assert!(
            ee.len() == 1 && ee[0].2,
            "{name}: EncryptedExtensions decrypted"
        );
        assert_eq!(
            c.certificate_sha256s(Server).len(),
            2,
            "{name}: leaf + intermediate"
        );
        assert_eq!(
            c.of_type(4).len(),
            2,
            "{name}: OpenSSL's two NewSessionTickets"
        );
        assert_eq!(
            c.alerts, CLOSE_NOTIFY_BOTH,
            "{name}: encrypted close_notify both ways"
        );
    }
    assert_eq!(
        run("tls13-aes128gcm")[0].alpn().as_deref(),
        Some("h2"),
        "ALPN from EE"
    );
}

#[test]
fn tls13_client_rejecting_the_certificate_sends_unknown_ca() {
    let c = &run("tls13-unknown-ca")[0];
    assert_eq!(c.not_decrypted, vec![]);
    // OpenSSL 3.0 sends this alert before switching its own writes to the handshake keys, so
    // it is a cleartext record (tshark agrees); the keys reveal the certificate it rejected.
    assert_eq!(
        c.alerts,
        vec![(Client, 2, 48, false)],
        "fatal unknown_ca from the client"
    );
    assert_eq!(
        c.certificate_sha256s(Server).len(),
        2,
        "the rejected chain, decrypted"
    );
    assert_eq!(
        c.finished,
        vec![(Server, Some(true))],
        "the client never finished"
    );
}

#[test]
fn tls13_server_wanting_a_client_certificate_sends_certificate_required() {
    let c = &run("tls13-certificate-required")[0];
    assert_eq!(c.not_decrypted, vec![]);
    assert_eq!(c.of_type(13).len(), 1, "CertificateRequest decrypted");
    assert!(
        c.certificate_sha256s(Client).is_empty(),
        "empty client Certificate"
    );
    assert_eq!(
        c.alerts,
        vec![(Server, 2, 116, true)],
        "fatal certificate_required"
    );
}

#[test]
fn tls13_mutual_auth_shows_the_client_chain() {
    let c = &run("tls13-mutual-auth")[0];
    all_clear(c, "mutual");
    assert_eq!(
        c.certificate_sha256s(Client).len(),
        2,
        "client leaf + intermediate"
    );
    assert_eq!(
        c.of_type(15).iter().filter(|m| m.0 == Client).count(),
        1,
        "client CertificateVerify"
    );
}

#[test]
fn tls13_hello_retry_then_full_handshake() {
    let c = &run("tls13-hello-retry-request")[0];
    all_clear(c, "hrr");
    assert_eq!(c.of_type(1).len(), 2, "two ClientHellos");
    assert_eq!(
        c.finished.len(),
        2,
        "Finished verified over the message_hash transcript"
    );
}

#[test]
fn tls13_psk_resumption_with_tickets() {
    let conns = run("tls13-resumption-psk");
    assert_eq!(conns.len(), 2);
    for c in &conns {
        all_clear(c, "psk");
    }
    assert_eq!(
        conns[0].of_type(4).len(),
        2,
        "tickets issued on the first connection"
    );
    assert!(
        conns[1].certificate_sha256s(Server).is_empty(),
        "resumed: no certificate"
    );
    assert_eq!(
        conns[1].of_type(4).len(),
        1,
        "a fresh ticket on the resumed connection"
    );
}

#[test]
fn tls12_renegotiation_inside_the_encrypted_channel() {
    for name in ["tls12-gcm-renegotiation", "tls12-cbc-etm-renegotiation"] {
        let c = &run(name)[0];
        all_clear(c, name);
        let hellos = c.of_type(1);
        assert_eq!(hellos.len(), 2, "{name}");
        assert!(
            !hellos[0].2 && hellos[1].2,
            "{name}: the second ClientHello was encrypted"
        );
        assert_eq!(
            c.finished.len(),
            4,
            "{name}: two handshakes, four Finished verified"
        );
        assert_eq!(c.alerts, CLOSE_NOTIFY_BOTH, "{name}");
    }
}

#[test]
fn tls12_and_tls10_cbc_and_chacha() {
    for name in [
        "tls12-cbc-sha1-mte",
        "tls12-chacha20",
        "tls10-cbc-implicit-iv",
    ] {
        let c = &run(name)[0];
        all_clear(c, name);
        assert_eq!(c.finished.len(), 2, "{name}");
        assert!(c.decrypted >= 4, "{name}: {}", c.decrypted);
        assert_eq!(c.alerts, CLOSE_NOTIFY_BOTH, "{name}");
    }
}

/// The same TLS 1.3 capture with its secrets inside the pcapng (a Decryption Secrets Block
/// written by `editcap --inject-secrets`): decrypts exactly like the key log file.
#[test]
fn secrets_from_a_decryption_secrets_block() {
    let dsb = dir().join("tls13-aes128gcm-dsb.pcapng");
    let mut keys = KeyLog::default();
    let read = keys.load_pcapng_secrets(&dsb).expect("DSB");
    assert_eq!((read.tls, read.other), (1, 0));
    assert_eq!(keys.stats().bad_lines, 0);
    let from_dsb = replay(&dsb, &mut keys);
    let from_file = run("tls13-aes128gcm");
    assert_eq!(from_dsb.len(), 1);
    all_clear(&from_dsb[0], "dsb");
    assert_eq!(from_dsb[0].messages, from_file[0].messages);
    assert_eq!(from_dsb[0].alerts, from_file[0].alerts);
}

/// Certificates (SHA-256), ALPN and alerts from standalone decryption equal tshark's, for
/// every capture with keys. Skipped, with the reason printed, where tshark is not installed.
#[test]
fn decryption_agrees_with_tshark() {
    if !tshark_available() {
        eprintln!("SKIPPED: tshark is not installed (scripts/ensure-deps.sh installs it)");
        return;
    }
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("captures/keylog")
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_string))
        .filter(|n| dir().join(format!("{n}.keylog")).exists())
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 13, "{names:?}");
    for name in names {
        let keylog = dir().join(format!("{name}.keylog"));
        let theirs = tshark_shows(&dir().join(format!("{name}.pcap")), &keylog);
        let ours: Vec<Shown> = run(&name)
            .iter()
            .map(|c| Shown {
                server_certs: c.certificate_sha256s(Server),
                client_certs: c.certificate_sha256s(Client),
                alpn: c.alpn(),
                alerts: c.alerts.iter().map(|a| (a.0, a.1, a.2)).collect(),
            })
            .collect();
        assert_eq!(ours, theirs, "{name}");
    }
}
