//! QUIC packet unprotection and frame parsing: the per-flow driver over arbitrary datagrams.
//!
//! Input: records `meta | len (u16 LE) | bytes`. `meta` bit 0 is the direction. With bit 1
//! clear the bytes are a raw datagram (headers, coalescing, unprotection of whatever the
//! mutator makes of real Initials). With bit 1 set they are the *plaintext frames* of an
//! Initial packet, protected here under the keys of a fixed DCID (client keys from the
//! client's side, server keys from the server's), so that the frame parser, the CRYPTO
//! reassembly and the close handling are reached through the driver, not only through a
//! failed AEAD; bits 2-3 pick the version (v1, v2, draft-29), bits 4-7 the packet number.
//!
//! Key-log path: when the input's first byte has its top bit set, the connection has a key
//! log with a fixed client random's secrets, and a client Initial with a ClientHello of that
//! random and a server Initial with a ServerHello (AES-128-GCM, or ChaCha20-Poly1305 when the
//! first byte's bit 6 is set) come first. Records with bits 1 and 7 of `meta` set are then the
//! plaintext frames of a Handshake packet (bits 2-3 = 0) or of a 1-RTT packet (otherwise),
//! protected with the keys of those secrets, so that the Handshake CRYPTO stream, the 1-RTT
//! frame walk (HANDSHAKE_DONE, NEW_TOKEN, CONNECTION_CLOSE, skipped frames) and the last
//! packets opened at the end are reached. Every walk must end without a panic, and the facts
//! must stay within their caps.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tlsight::flow::{Direction, Timestamp};
use tlsight::quic::connection::{MAX_LISTED, MAX_REASON};
use tlsight::quic::frame::{application_frames, frames};
use tlsight::keylog::{KeyLog, SharedKeyLog};
use tlsight::quic::decrypt::KeySpace;
use tlsight::quic::keys::InitialKeys;
use tlsight::quic::packet::{packets, protect};
use tlsight::quic::protection::{PacketKeys, Suite};
use tlsight::quic::{QuicConfig, QuicConnection, QuicContext, QuicVersion};
use tlsight::tls::joiner::JoinBudget;
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

/// The client random of the key-log path, and its four traffic secrets (all 32 bytes).
const RANDOM: [u8; 32] = [0x5a; 32];
const SECRETS: [(&str, u8); 4] = [
    ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", 0xc1),
    ("SERVER_HANDSHAKE_TRAFFIC_SECRET", 0x51),
    ("CLIENT_TRAFFIC_SECRET_0", 0xc2),
    ("SERVER_TRAFFIC_SECRET_0", 0x52),
];

/// The key log of the key-log path.
fn key_log() -> SharedKeyLog {
    let mut log = KeyLog::default();
    for (label, byte) in SECRETS {
        let line = format!("{label} {} {}\n", hex(&RANDOM), hex(&[byte; 32]));
        log.add_text("fuzz", line.as_bytes());
    }
    SharedKeyLog::new(log)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The packet keys of `space` for the client's or the server's side under `suite`.
fn keyed(suite: Suite, space: KeySpace, client: bool) -> Option<PacketKeys> {
    let labels = &QuicVersion::V1.params()?.labels;
    let byte = SECRETS
        .iter()
        .find(|(label, _)| *label == space.secret(client).label())?
        .1;
    PacketKeys::from_secret(suite, labels, &[byte; 32]).ok()
}

/// A CRYPTO frame at offset 0 carrying one handshake message.
fn crypto_message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x06, 0x00, 0x40 | (body.len() + 4 >> 8) as u8, (body.len() + 4) as u8];
    frame.extend([msg_type, 0, (body.len() >> 8) as u8, body.len() as u8]);
    frame.extend_from_slice(body);
    frame
}

/// The ClientHello (with [`RANDOM`]) and the ServerHello choosing `cipher`, as Initial
/// packets' frames.
fn hellos(cipher: u16) -> [Vec<u8>; 2] {
    let mut ch = vec![3, 3];
    ch.extend(RANDOM);
    ch.extend([0, 0, 2, 0x13, 0x01, 1, 0, 0, 0]);
    let mut sh = vec![3, 3];
    sh.extend([7; 32]);
    sh.push(0);
    sh.extend(cipher.to_be_bytes());
    sh.extend([0, 0, 6, 0, 43, 0, 2, 3, 4]);
    [crypto_message(1, &ch), crypto_message(2, &sh)]
}

/// An Initial packet of `VERSIONS[pick]` carrying `frames`, protected for the sender's side.
fn initial(pick: usize, client: bool, pn: u8, frames: &[u8]) -> Vec<u8> {
    let version = VERSIONS[pick];
    let Some(keys) = keys(pick) else {
        return Vec::new();
    };
    let key = if client { &keys.client } else { &keys.server };
    long_packet(version, tlsight::quic::PacketType::Initial, client, pn, frames, key)
}

/// A long-header packet of `ty` carrying `frames`, protected with `key`.
fn long_packet(
    version: QuicVersion,
    ty: tlsight::quic::PacketType,
    client: bool,
    pn: u8,
    frames: &[u8],
    key: &PacketKeys,
) -> Vec<u8> {
    let Some(params) = version.params() else {
        return Vec::new();
    };
    let type_bits = params
        .long_types
        .iter()
        .position(|t| *t == ty)
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
    if ty == tlsight::quic::PacketType::Initial {
        header.push(0); // token length
    }
    let length = (1 + payload.len() + 16) as u16;
    header.extend_from_slice(&(0x4000 | length).to_be_bytes());
    header.push(pn);
    protect(&header, u64::from(pn), &payload, key)
}

/// A 1-RTT packet carrying `frames`, to the receiver's connection ID (the server's SCID
/// `9 9 9`, the client's `1 2`).
fn short_packet(client: bool, pn: u8, frames: &[u8], key: &PacketKeys) -> Vec<u8> {
    let mut payload = frames.get(..4000).unwrap_or(frames).to_vec();
    payload.resize(payload.len().max(20), 0);
    let mut header = vec![0x40];
    header.extend_from_slice(if client { &[9, 9, 9][..] } else { &[1, 2] });
    header.push(pn);
    protect(&header, u64::from(pn), &payload, key)
}

fuzz_target!(|data: &[u8]| {
    let mut conn = QuicConnection::new(QuicConfig::default());
    // The worker's budget, shared by the connection's CRYPTO streams (all spaces).
    let budget = JoinBudget::new(64 * 1024);
    let mut ctx = QuicContext::with_budget(Some(budget.clone()));
    let mut sink = Sink::default();
    let mut rest = data;
    let mut ts = 0i64;
    let keyed_path = data.first().is_some_and(|b| b & 0x80 != 0);
    let suite = if data.first().is_some_and(|b| b & 0x40 != 0) {
        Suite::ChaCha20Poly1305
    } else {
        Suite::Aes128Gcm
    };
    if keyed_path {
        conn = conn.with_key_log(key_log());
        let cipher = if suite == Suite::Aes128Gcm { 0x1301 } else { 0x1303 };
        let [ch, sh] = hellos(cipher);
        for (dir, frames) in [(Direction::LoToHi, ch), (Direction::HiToLo, sh)] {
            let datagram = initial(0, dir == Direction::LoToHi, 0, &frames);
            conn.on_datagram(&mut ctx, dir, &datagram, Timestamp(ts), &mut sink);
        }
        rest = &data[1..];
    }
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
        let client = dir == Direction::LoToHi;
        let datagram = if keyed_path && meta & 0x82 == 0x82 {
            let pn = meta >> 4 & 7;
            if meta >> 2 & 3 == 0 {
                let Some(key) = keyed(suite, KeySpace::Handshake, client) else {
                    continue;
                };
                let ty = tlsight::quic::PacketType::Handshake;
                long_packet(QuicVersion::V1, ty, client, pn, bytes, &key)
            } else {
                let Some(key) = keyed(suite, KeySpace::OneRtt, client) else {
                    continue;
                };
                short_packet(client, pn, bytes, &key)
            }
        } else if meta & 2 != 0 {
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
        for frame in frames(bytes).chain(application_frames(bytes)) {
            let _ = frame;
        }
        conn.on_datagram(&mut ctx, dir, &datagram, Timestamp(ts), &mut sink);
    }
    assert!(budget.held() <= 64 * 1024);
    let facts = conn.finish(&mut sink);
    assert_eq!(budget.held(), 0, "a finished connection gives back all it held");
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
