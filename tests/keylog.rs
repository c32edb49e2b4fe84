//! Decryption with key logs over real captures, standalone (before the pipeline wiring): the
//! project's reader, reassembly and deframer feed `tls::decrypt::ConnectionKeys`.

mod common;

use std::path::{Path, PathBuf};

use common::replay::replay;
use tlsight::keylog::KeyLog;
use tlsight::tls::decrypt::connection::Sender;

/// The real captures copied into the project (`captures/real/`, with provenance and licenses).
fn real(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/real")
        .join(name)
}

/// Zeek's TLS 1.2 key log capture (ECDHE-RSA-AES256-GCM-SHA384): the client random of the
/// key log matches the connection, both Finished messages decrypt and verify against the
/// transcript, and the encrypted alert at the end is a close_notify.
#[test]
fn zeek_tls12_keylog_every_finished_decrypts_and_verifies() {
    let mut keys = KeyLog::default();
    keys.load_file(&real("keylogs/zeek__tls-1.2-stream-keylog.pcap.keylog"))
        .expect("key log");
    assert_eq!(keys.len(), 1);
    let conns = replay(&real("zeek__tls-1.2-stream-keylog.pcap"), &mut keys);
    assert_eq!(conns.len(), 1, "one connection");
    let c = &conns[0];
    assert!(keys.is_empty(), "the connection took its secrets");
    let finished: Vec<_> = c
        .messages
        .iter()
        .filter(|m| m.1 == 20)
        .map(|m| (m.0, m.2.len(), m.3))
        .collect();
    assert_eq!(
        finished,
        vec![(Sender::Client, 12, true), (Sender::Server, 12, true)],
        "both Finished decrypted (12-byte verify_data)"
    );
    assert_eq!(
        c.finished,
        vec![(Sender::Client, Some(true)), (Sender::Server, Some(true))],
        "both Finished verified"
    );
    assert_eq!(c.not_decrypted, vec![], "every protected record decrypted");
    assert!(
        c.decrypted > 2,
        "application data records decrypted too: {}",
        c.decrypted
    );
    assert_eq!(
        c.alerts,
        vec![(Sender::Client, 1, 0, true)],
        "encrypted close_notify"
    );
}

/// Without the key log, nothing is decrypted and the reason is the missing master secret.
#[test]
fn zeek_tls12_without_keys_names_the_missing_secret() {
    let mut keys = KeyLog::default();
    let conns = replay(&real("zeek__tls-1.2-stream-keylog.pcap"), &mut keys);
    let c = &conns[0];
    assert_eq!(c.decrypted, 0);
    assert!(!c.not_decrypted.is_empty());
    assert!(
        c.not_decrypted
            .iter()
            .all(|w| format!("{w:?}") == "MissingSecret(MasterSecret)")
    );
    assert!(
        c.finished.is_empty(),
        "no Finished seen: they are encrypted"
    );
}
