//! What a UDP datagram carries, and when a UDP flow is DTLS.
//!
//! WebRTC (and SIP with DTLS-SRTP) sends STUN connectivity checks, the DTLS handshake and
//! SRTP/SRTCP media on one 5-tuple; RFC 7983 §7 (updated by RFC 9443 §3 for QUIC) tells them
//! apart by the first byte:
//!
//! | first byte | protocol |
//! |---|---|
//! | 0–3 | STUN |
//! | 16–19 | ZRTP |
//! | 20–63 | DTLS (20–26 content types, 32–63 the DTLS 1.3 unified header) |
//! | 64–79 | TURN ChannelData (RFC 9443 lets QUIC short headers use it too where no TURN channel is in use: not decidable from one byte, reported as TURN) |
//! | 80–127 | QUIC short header (RFC 9443) |
//! | 128–191 | RTP, or RTCP when the second byte is 192–223 (RFC 5761 §4) |
//! | 192–255 | QUIC long header (RFC 9443) |
//!
//! A DTLS handshake is found by content, on any port: a datagram that starts with a plausible
//! DTLS record (handshake content type, a DTLS version tlsight knows, epoch 0, a length that
//! fits) holding a ClientHello fragment whose header is consistent. A flow whose first
//! datagrams are STUN becomes DTLS at its first such datagram.

use super::fragment::{self, Fragment};
use super::record::{self, Header, is_known_version};
use crate::tls::codes::{ContentType, HandshakeType};

/// What a datagram's first byte says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatagramKind {
    /// STUN (binding requests and responses of ICE).
    Stun,
    /// ZRTP.
    Zrtp,
    /// DTLS records.
    Dtls,
    /// TURN ChannelData (or a QUIC short header, see the module doc).
    TurnChannel,
    /// QUIC (short header 80–127, long header 192–255).
    Quic,
    /// RTP (SRTP media).
    Rtp,
    /// RTCP (SRTCP control).
    Rtcp,
    /// Empty, or a first byte no protocol of RFC 7983 uses (4–15).
    Unknown,
}

/// Classifies a datagram by its first byte (and, for RTP/RTCP, its second).
pub fn classify(datagram: &[u8]) -> DatagramKind {
    match datagram {
        [] => DatagramKind::Unknown,
        [0..=3, ..] => DatagramKind::Stun,
        [16..=19, ..] => DatagramKind::Zrtp,
        [20..=63, ..] => DatagramKind::Dtls,
        [64..=79, ..] => DatagramKind::TurnChannel,
        [80..=127, ..] => DatagramKind::Quic,
        [128..=191, 192..=223, ..] => DatagramKind::Rtcp,
        [128..=191, ..] => DatagramKind::Rtp,
        [192..=255, ..] => DatagramKind::Quic,
        [4..=15, ..] => DatagramKind::Unknown,
    }
}

/// The shortest ClientHello body: version, random, three empty length-prefixed fields (session
/// id, cookie, compression needs one method) and a two-byte cipher list length.
const MIN_CLIENT_HELLO: u32 = 2 + 32 + 1 + 1 + 2 + 2 + 1;

/// Whether `datagram` starts a DTLS handshake: its first record is an epoch-0 handshake record
/// with a known DTLS version, and its first fragment belongs to a ClientHello whose header is
/// consistent (and, when it holds the start of the body, whose `client_version` is DTLS too).
pub fn starts_handshake(datagram: &[u8]) -> bool {
    let Some(Ok(first)) = record::records(datagram, Some(0)).next() else {
        return false;
    };
    let Header::Classic {
        content_type,
        version,
        epoch: 0,
        ..
    } = first.header
    else {
        return false;
    };
    if content_type != ContentType::HANDSHAKE.0 || !is_known_version(version) {
        return false;
    }
    match fragment::fragments(first.body).next() {
        Some(Ok(f)) => is_client_hello_fragment(&f),
        _ => false,
    }
}

/// A fragment of a plausible ClientHello (one of the first two messages of a handshake).
fn is_client_hello_fragment(f: &Fragment<'_>) -> bool {
    if f.msg_type != HandshakeType::CLIENT_HELLO.0
        || f.message_seq > 1
        || f.length < MIN_CLIENT_HELLO
    {
        return false;
    }
    match (f.offset, f.bytes) {
        (0, [hi, lo, ..]) => is_known_version(u16::from_be_bytes([*hi, *lo])),
        (0, _) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::test_wire;

    #[test]
    fn first_byte_ranges() {
        let cases: [(&[u8], DatagramKind); 12] = [
            (&[0x00, 0x01], DatagramKind::Stun),
            (&[0x01, 0x01], DatagramKind::Stun),
            (&[3], DatagramKind::Stun),
            (&[16], DatagramKind::Zrtp),
            (&[22, 0xfe, 0xfd], DatagramKind::Dtls),
            (&[0x2f], DatagramKind::Dtls),
            (&[0x40, 0x00], DatagramKind::TurnChannel),
            (&[0x50], DatagramKind::Quic),
            (&[0x80, 0x60], DatagramKind::Rtp),
            (&[0x80, 0xc8], DatagramKind::Rtcp),
            (&[0xc3, 0, 0, 0, 1], DatagramKind::Quic),
            (&[8], DatagramKind::Unknown),
        ];
        for (bytes, kind) in cases {
            assert_eq!(classify(bytes), kind, "{bytes:?}");
        }
        assert_eq!(classify(&[]), DatagramKind::Unknown);
        // Every byte value has a kind, and the DTLS range is exactly 20..=63.
        for b in 0..=255u8 {
            assert_eq!(
                classify(&[b, 0]) == DatagramKind::Dtls,
                (20..=63).contains(&b)
            );
        }
    }

    #[test]
    fn client_hello_starts_a_handshake() {
        let body = test_wire::client_hello_body(0xfefd, &[], b"example.com");
        let d = test_wire::handshake_record(0, 0, 1, 0, &body);
        assert!(starts_handshake(&d));
        // Only its second half (reordered): still a ClientHello fragment.
        let mut frag = test_wire::fragment(1, 0, &body, 40, body.len() - 40);
        let second = test_wire::record(22, 0xfefd, 0, 1, &frag);
        assert!(starts_handshake(&second));
        // Not a ClientHello, a TLS version, epoch 1, a non-DTLS client_version.
        frag = test_wire::fragment(2, 0, &body, 0, body.len());
        assert!(!starts_handshake(&test_wire::record(
            22, 0xfefd, 0, 1, &frag
        )));
        assert!(!starts_handshake(&test_wire::record(
            22,
            0x0303,
            0,
            1,
            &test_wire::fragment(1, 0, &body, 0, body.len())
        )));
        assert!(!starts_handshake(&test_wire::record(
            22,
            0xfefd,
            1,
            1,
            &test_wire::fragment(1, 0, &body, 0, body.len())
        )));
        let tls_body = test_wire::client_hello_body(0x0303, &[], b"x");
        assert!(!starts_handshake(&test_wire::handshake_record(
            0, 0, 1, 0, &tls_body
        )));
        // Too short to be a ClientHello, and STUN.
        assert!(!starts_handshake(&test_wire::handshake_record(
            0,
            0,
            1,
            0,
            &body[..10]
        )));
        assert!(!starts_handshake(&[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]));
    }
}
