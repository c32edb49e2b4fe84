//! The TCP record layer with decryption on (an analysis with key logs): two arbitrary byte
//! streams, deframed, opened with the secrets of one of the committed key logs
//! (`captures/keylog/`), decrypted records joined into messages for the handshake layer. Seeded
//! with the captures recorded with those key logs, so mutations start from records that open.
//!
//! Input: byte 0 picks the key log (`KEY_LOGS`, in name order); then chunks as `tls_stream`'s:
//! `ctl | len (u16 LE) | bytes`, bit 0 of `ctl` the direction, bit 1 a gap of `len` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsight::flow::{Direction, Timestamp};
use tlsight::keylog::{KeyLog, SharedKeyLog};
use tlsight::tls::{RecordLayer, TlsContext};

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
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    // A fresh key log each run: connections take their secrets out of it.
    let mut keys = KeyLog::default();
    keys.add_text("fuzz", KEY_LOGS[usize::from(pick) % KEY_LOGS.len()].as_bytes());
    let keys = SharedKeyLog::new(keys);
    let mut ctx = TlsContext {
        keys: Some(keys.clone()),
        ..TlsContext::default()
    };
    let mut observer = RecordLayer::new();
    observer.decrypt_with(keys);
    let mut ts = 0i64;
    while let Some((&ctl, tail)) = rest.split_first() {
        let Some((len, tail)) = tail.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_le_bytes(*len));
        let dir = if ctl & 1 == 0 {
            Direction::LoToHi
        } else {
            Direction::HiToLo
        };
        ts += 1_000;
        if ctl & 2 != 0 {
            observer.on_gap(dir, len as u64, Timestamp(ts));
            rest = tail;
        } else {
            let (bytes, tail) = tail.split_at(len.min(tail.len()));
            observer.on_data(&mut ctx, dir, bytes, Timestamp(ts));
            rest = tail;
        }
    }
    let transcript = observer.finish();
    assert!(transcript.events.len() <= tlsight::tls::handshake::MAX_EVENTS + 1);
    let d = transcript.decryption.expect("decryption facts");
    assert!(d.decrypted_records + d.failed_records <= d.protected_records);
});
