//! CRYPTO stream reassembly over arbitrary frame sequences, with small caps so that the
//! offset cap, the buffer cap (first hole becomes a gap), the worker's budget (shared with
//! other flows: smaller than one stream's caps, so it runs out too) and the end-of-capture
//! holes are all reached. Once the stream is dropped, the budget holds nothing.
//!
//! Input: `n (u8) | source stream (n * 4 bytes) | frames`, each frame 4 bytes
//! `offset (u16 LE) | len (u8) | flags`: the frame carries `source[offset..offset+len]` (bytes
//! past the source read as zeros), or differing bytes when `flags` bit 0 is set. Oracle: the
//! source joined in one piece by the TLS joiner. Messages delivered before the first gap must be
//! the oracle's first messages, in order (unless a differing copy was sent); nothing is
//! delivered after a gap; the delivery point never passes the offset cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsight::flow::Timestamp;
use tlsight::quic::crypto_stream::{CryptoEvent, CryptoLimits, CryptoStream};
use tlsight::tls::joiner::{JoinBudget, Joined, Joiner};

const LIMITS: CryptoLimits = CryptoLimits {
    max_offset: 2048,
    max_buffered: 1024,
    max_message: 512,
};

/// The worker's budget: less than a partial message and a full buffer together, so that a
/// message may be skipped (`TooLarge`) for want of budget though within `max_message`.
const BUDGET: usize = 1200;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let source_len = (usize::from(n) * 4).min(rest.len());
    let (source, frames) = rest.split_at(source_len);
    let mut oracle = Vec::new();
    let mut joiner = Joiner::new(LIMITS.max_message);
    joiner.push(source, |j| {
        if let Joined::Message { msg_type, body } = j {
            oracle.push((msg_type, body.to_vec()));
        }
    });

    let budget = JoinBudget::new(BUDGET);
    let mut stream = CryptoStream::new(LIMITS, Some(budget.clone()));
    let mut got: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut gapped = false;
    // How many delivered messages precede the first skipped for want of budget.
    let mut compared: Option<usize> = None;
    let mut differing = false;
    for (i, frame) in frames.chunks_exact(4).enumerate() {
        let offset = usize::from(u16::from_le_bytes([frame[0], frame[1]]));
        let len = usize::from(frame[2]);
        let bytes: Vec<u8> = (offset..offset + len)
            .map(|at| {
                let b = source.get(at).copied().unwrap_or(0);
                if frame[3] & 1 != 0 { b ^ 0x5a } else { b }
            })
            .collect();
        differing |= frame[3] & 1 != 0;
        let ts = Timestamp(i as i64);
        stream.insert(offset as u64, &bytes, ts, |e| match e {
            CryptoEvent::Message { msg_type, body, .. } => {
                assert!(!gapped, "message after a gap");
                assert!(body.len() <= LIMITS.max_message);
                got.push((msg_type, body.to_vec()));
            }
            CryptoEvent::TooLarge { len, .. } => {
                if len <= LIMITS.max_message {
                    assert!(4 + len + budget.held() > BUDGET, "skipped within the budget");
                    // Skipped for want of budget: the oracle's messages from here on may be
                    // missing, as after a gap.
                    compared.get_or_insert(got.len());
                }
            }
            CryptoEvent::Gap { len, .. } => {
                assert!(len > 0, "empty gap");
                gapped = true;
            }
        });
        assert!(stream.delivered() <= LIMITS.max_offset);
    }
    stream.finish(Timestamp(i64::MAX), |e| {
        assert!(
            matches!(e, CryptoEvent::Gap { .. }),
            "finish only reports holes"
        );
    });
    // Bytes past the source read as zeros: a zero-filled extension of the source may complete
    // more messages than the oracle saw, so compare on the oracle's length.
    if !differing {
        let n = got.len().min(oracle.len()).min(compared.unwrap_or(usize::MAX));
        assert_eq!(
            got[..n],
            oracle[..n],
            "messages differ from the in-order stream"
        );
    }
    assert!(budget.held() <= BUDGET);
    drop(stream);
    assert_eq!(budget.held(), 0, "a dropped stream gives back all it held");
});
