//! Link/IP/TCP decoding and IP defragmentation over a sequence of frames.
//!
//! Input: byte 0 picks the link type, then frames as `len (u16 LE) | bytes`. Frames share one
//! decoder, so fragments of one datagram can meet across frames; the clock advances 1 ms per
//! frame and a final far-future expiry flushes what is left.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsight::decode::{Decoded, Decoder, LinkType};
use tlsight::flow::Timestamp;

/// Link types the decoder understands, plus one it does not.
const LINKS: [LinkType; 11] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::RAW_BSD,
    LinkType::RAW_OPENBSD,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(147),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(pick) % LINKS.len()];
    let mut decoder = Decoder::new();
    let mut ts = 0i64;
    while let Some((frame, tail)) = next_frame(rest) {
        rest = tail;
        ts += 1_000_000;
        if let Ok(Decoded::Tcp(seg)) = decoder.decode(link, frame, Timestamp(ts)) {
            // The payload must lie within what a frame (or a reassembled datagram) can hold.
            assert!(seg.payload.len() <= 65_535 + frame.len());
        }
    }
    decoder.expire(Timestamp(i64::MAX));
    assert_eq!(decoder.fragments_in_progress(), 0);
});

/// Splits `len (u16 LE) | bytes` off the front; a short last frame takes what is left.
fn next_frame(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    Some(rest.split_at(len))
}
