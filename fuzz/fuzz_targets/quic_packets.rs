//! QUIC packet unprotection and frame parsing: the per-flow driver over arbitrary datagrams.
//!
//! Input: records `meta | len (u16 LE) | bytes`. `meta` bit 0 is the direction. With bit 1
//! clear the bytes are a raw datagram (headers, coalescing, unprotection of whatever the
//! mutator makes of real Initials). With bit 1 set they are the *plaintext frames* of an
//! Initial packet, protected here under the keys of a fixed DCID (client keys from the
//! client's side, server keys from the server's), so that the frame parser, the CRYPTO
//! reassembly and the close handling are reached through the driver, not only through a
//! failed AEAD; bits 2-3 pick the version (v1, v2, draft-29), bits 4-7 the packet number.
//! Every walk must end without a panic, and the facts must stay within their caps.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tlsight::flow::{Direction, Timestamp};
use tlsight::quic::connection::{MAX_LISTED, MAX_REASON};
use tlsight::quic::frame::frames;
use tlsight::quic::keys::InitialKeys;
use tlsight::quic::packet::{packets, protect};
use tlsight::quic::{QuicConfig, QuicConnection, QuicContext, QuicVersion};
use tlsight::tls::Alert;
use tlsight::tls::handshake::HandshakeSink;

const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
const VERSIONS: [QuicVersion; 4] = [
    QuicVersion::V1,
    QuicVersion::V2,
    QuicVersion::DRAFT_29,
    QuicVersion::V1,
];

/// Counts what the driver reports and checks each report is sane.
#[derive(Default)]
struct Sink {
    events: usize,
}

impl HandshakeSink for Sink {
    fn on_message(&mut self, _dir: Direction, _msg_type: u8, body: &[u8], _ts: Timestamp) {
        assert!(body.len() < 1 << 24);
        self.events += 1;
    }
    fn on_protected(&mut self, _dir: Direction, len: usize, _ts: Timestamp) {
        assert!(len > 0);
        self.events += 1;
    }
    fn on_application_data(&mut self, _: Direction, _: usize, _: Timestamp) {
        unreachable!("the QUIC driver reads no application data");
    }
    fn on_change_cipher_spec(&mut self, _: Direction, _: Timestamp) {
        unreachable!("QUIC has no ChangeCipherSpec");
    }
    fn on_alert(&mut self, _dir: Direction, alert: Alert, _ts: Timestamp) {
        assert!(alert.description.is_some());
        self.events += 1;
    }
    fn on_gap(&mut self, _dir: Direction, _ts: Timestamp) {
        self.events += 1;
    }
    fn anomaly(&mut self, _dir: Direction, kind: &'static str) {
        assert!(!kind.is_empty());
        self.events += 1;
    }
    fn finish(&mut self) {}
}

/// The Initial keys of DCID for each entry of VERSIONS, derived once per process (the
/// harness's speed; the driver under test still derives its own per connection).
fn keys(pick: usize) -> Option<&'static InitialKeys> {
    static KEYS: OnceLock<Vec<Option<InitialKeys>>> = OnceLock::new();
    let all = KEYS.get_or_init(|| {
        VERSIONS
            .iter()
            .map(|v| v.params().and_then(|p| InitialKeys::derive(p, &DCID).ok()))
            .collect()
    });
    all.get(pick)?.as_ref()
}

/// An Initial packet of `VERSIONS[pick]` carrying `frames`, protected for the sender's side.
fn initial(pick: usize, client: bool, pn: u8, frames: &[u8]) -> Vec<u8> {
    let version = VERSIONS[pick];
    let (Some(params), Some(keys)) = (version.params(), keys(pick)) else {
        return Vec::new();
    };
    let type_bits = params
        .long_types
        .iter()
        .position(|t| *t == tlsight::quic::PacketType::Initial)
        .unwrap_or(0) as u8;
    // At most 4000 bytes, so that the Length field always fits its 2-byte form.
    let mut payload = frames.get(..4000).unwrap_or(frames).to_vec();
    payload.resize(payload.len().max(20), 0);
    let mut header = vec![0xc0 | type_bits << 4];
    header.extend_from_slice(&version.0.to_be_bytes());
    let (dcid, scid): (&[u8], &[u8]) = if client {
        (&DCID, &[1, 2])
    } else {
        (&[1, 2], &[9, 9, 9])
    };
    header.push(dcid.len() as u8);
    header.extend_from_slice(dcid);
    header.push(scid.len() as u8);
    header.extend_from_slice(scid);
    header.push(0);
    let length = (1 + payload.len() + 16) as u16;
    header.extend_from_slice(&(0x4000 | length).to_be_bytes());
    header.push(pn);
    let key = if client { &keys.client } else { &keys.server };
    protect(&header, u64::from(pn), &payload, key)
}

fuzz_target!(|data: &[u8]| {
    let mut conn = QuicConnection::new(QuicConfig::default());
    let mut ctx = QuicContext::default();
    let mut sink = Sink::default();
    let mut rest = data;
    let mut ts = 0i64;
    while let [meta, lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        ts += 1_000_000;
        let dir = if meta & 1 == 0 {
            Direction::LoToHi
        } else {
            Direction::HiToLo
        };
        let datagram = if meta & 2 != 0 {
            initial(
                usize::from(meta >> 2 & 3),
                dir == Direction::HiToLo,
                meta >> 4,
                bytes,
            )
        } else {
            bytes.to_vec()
        };
        for packet in packets(&datagram) {
            let _ = packet.map(|p| p.len());
        }
        for frame in frames(bytes) {
            let _ = frame;
        }
        conn.on_datagram(&mut ctx, dir, &datagram, Timestamp(ts), &mut sink);
    }
    let facts = conn.finish(&mut sink);
    assert!(facts.versions_seen.len() <= MAX_LISTED);
    if let Some(vn) = &facts.version_negotiation {
        assert!(vn.offered.len() <= MAX_LISTED);
    }
    if let Some(close) = &facts.connection_close {
        assert!(
            close.reason.len() <= 3 * MAX_REASON,
            "lossy UTF-8 at most triples"
        );
    }
});
