//! The TCP record layer with decryption on (an analysis with key logs): two arbitrary byte
//! streams, deframed, opened with the secrets of one of the committed key logs
//! (`captures/keylog/`), decrypted records joined into messages for the handshake layer. Seeded
//! with the captures recorded with those key logs, so mutations start from records that open.
//!
//! Input: byte 0 picks the key log (`KEY_LOGS`, in name order); then chunks as `tls_stream`'s:
//! `ctl | len (u16 LE) | bytes`, bit 0 of `ctl` the direction, bit 1 a gap of `len` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsight::keylog::{KeyLog, SharedKeyLog};
use tlsight::tls::{RecordLayer, TlsContext};

#[path = "shared/streams.rs"]
mod streams;

/// The committed key logs, in name order (as `seeds.py` numbers them).
const KEY_LOGS: [&str; 13] = [
    include_str!("../../captures/keylog/tls10-cbc-implicit-iv.keylog"),
    include_str!("../../captures/keylog/tls12-cbc-etm-renegotiation.keylog"),
    include_str!("../../captures/keylog/tls12-cbc-sha1-mte.keylog"),
    include_str!("../../captures/keylog/tls12-chacha20.keylog"),
    include_str!("../../captures/keylog/tls12-gcm-renegotiation.keylog"),
    include_str!("../../captures/keylog/tls13-aes128gcm.keylog"),
    include_str!("../../captures/keylog/tls13-aes256gcm.keylog"),
    include_str!("../../captures/keylog/tls13-certificate-required.keylog"),
    include_str!("../../captures/keylog/tls13-chacha20.keylog"),
    include_str!("../../captures/keylog/tls13-hello-retry-request.keylog"),
    include_str!("../../captures/keylog/tls13-mutual-auth.keylog"),
    include_str!("../../captures/keylog/tls13-resumption-psk.keylog"),
    include_str!("../../captures/keylog/tls13-unknown-ca.keylog"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    // A fresh key log each run: connections take their secrets out of it.
    let mut keys = KeyLog::default();
    keys.add_text(
        "fuzz",
        KEY_LOGS[usize::from(pick) % KEY_LOGS.len()].as_bytes(),
    );
    let keys = SharedKeyLog::new(keys);
    let mut ctx = TlsContext {
        keys: Some(keys.clone()),
        ..TlsContext::default()
    };
    let mut observer = RecordLayer::new();
    observer.decrypt_with(keys);
    let transcript = streams::feed(observer, &mut ctx, rest);
    let d = transcript.decryption.expect("decryption facts");
    assert!(d.decrypted_records + d.failed_records <= d.protected_records);
});
