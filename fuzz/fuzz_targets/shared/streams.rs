//! The input format `tls_stream` and `record_decrypt` share: chunks `ctl | len (u16 LE) |
//! bytes`; bit 0 of `ctl` is the direction, bit 1 makes the chunk a gap of `len` bytes (no bytes
//! follow). Fed to a record layer, then finished.

use tlsight::flow::{Direction, Timestamp};
use tlsight::tls::{RecordLayer, TlsContext, Transcript};

/// Feeds `data`'s chunks to `observer` and returns its transcript, checked for its caps.
pub fn feed(mut observer: RecordLayer, ctx: &mut TlsContext, data: &[u8]) -> Transcript {
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
            observer.on_data(ctx, dir, bytes, Timestamp(ts));
            rest = tail;
        }
    }
    let transcript = observer.finish();
    assert!(transcript.events.len() <= tlsight::tls::handshake::MAX_EVENTS + 1);
    assert!(transcript.anomalies.len() <= tlsight::tls::handshake::MAX_ANOMALIES + 1);
    transcript
}
