//! TLS record deframing, handshake message joining and the passive observer over two
//! arbitrary byte streams (the message parsers run too, on whatever the joiner completes).
//!
//! Input: chunks `ctl | len (u16 LE) | bytes`; bit 0 of `ctl` is the direction, bit 1 makes
//! the chunk a gap of `len` bytes (no bytes follow).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsight::flow::{Direction, Timestamp};
use tlsight::tls::{RecordLayer, TlsContext};

fuzz_target!(|data: &[u8]| {
    let mut ctx = TlsContext::default();
    let mut observer = RecordLayer::new();
    let mut rest = data;
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
    assert!(transcript.anomalies.len() <= tlsight::tls::handshake::MAX_ANOMALIES + 1);
});
