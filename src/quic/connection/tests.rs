use super::*;
use crate::quic::packet::protect;
use crate::quic::varint::encode;

const C: Direction = Direction::HiToLo;
const S: Direction = Direction::LoToHi;

fn ts(n: i64) -> Timestamp {
    Timestamp(n * 1000)
}

/// What a test sink saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Message(Direction, u8, usize, Timestamp),
    Protected(Direction, usize, Timestamp),
    Alert(Direction, Option<u8>, Timestamp),
    Gap(Direction, Timestamp),
    Anomaly(Direction, &'static str),
    Finish,
}

#[derive(Default)]
struct Sink(Vec<Seen>);

impl HandshakeSink for Sink {
    fn on_message(&mut self, dir: Direction, msg_type: u8, body: &[u8], ts: Timestamp) {
        self.0.push(Seen::Message(dir, msg_type, body.len(), ts));
    }
    fn on_protected(&mut self, dir: Direction, len: usize, ts: Timestamp) {
        self.0.push(Seen::Protected(dir, len, ts));
    }
    fn on_alert(&mut self, dir: Direction, alert: Alert, ts: Timestamp) {
        self.0
            .push(Seen::Alert(dir, alert.description.map(|d| d.0), ts));
    }
    fn on_gap(&mut self, dir: Direction, ts: Timestamp) {
        self.0.push(Seen::Gap(dir, ts));
    }
    fn anomaly(&mut self, dir: Direction, kind: &'static str) {
        self.0.push(Seen::Anomaly(dir, kind));
    }
    fn on_application_data(&mut self, _: Direction, _: usize, _: Timestamp) {
        unreachable!("the QUIC driver reads no application data");
    }
    fn on_change_cipher_spec(&mut self, _: Direction, _: Timestamp) {
        unreachable!("QUIC has no ChangeCipherSpec");
    }
    fn finish(&mut self) {
        self.0.push(Seen::Finish);
    }
}

impl Sink {
    fn messages(&self) -> Vec<(Direction, u8, usize)> {
        self.0
            .iter()
            .filter_map(|s| match s {
                Seen::Message(d, t, len, _) => Some((*d, *t, *len)),
                _ => None,
            })
            .collect()
    }
}

/// A handshake message of `len` body bytes.
fn message(msg_type: u8, len: usize) -> Vec<u8> {
    let mut m = vec![msg_type, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    m.extend((0..len).map(|i| i as u8));
    m
}

fn crypto(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    encode(offset, &mut f);
    encode(data.len() as u64, &mut f);
    f.extend_from_slice(data);
    f
}

/// A protected long-header packet (Initial, 0-RTT or Handshake) of `version` with a 2-byte
/// packet number; Initial payloads are padded to at least 1162 bytes as clients do.
fn long_packet(
    version: QuicVersion,
    ty: PacketType,
    dcid: &[u8],
    scid: &[u8],
    pn: u64,
    frames: &[u8],
    keys: &crate::quic::protection::PacketKeys,
) -> Vec<u8> {
    let params = version.params().expect("readable");
    let type_bits = params
        .long_types
        .iter()
        .position(|t| *t == ty)
        .expect("long type") as u8;
    let mut payload = frames.to_vec();
    if ty == PacketType::Initial && payload.len() < 100 {
        payload.resize(100, 0);
    }
    let mut header = vec![0xc1 | type_bits << 4];
    header.extend_from_slice(&version.0.to_be_bytes());
    header.push(dcid.len() as u8);
    header.extend_from_slice(dcid);
    header.push(scid.len() as u8);
    header.extend_from_slice(scid);
    if ty == PacketType::Initial {
        header.push(0); // token length
    }
    let length = (2 + payload.len() + 16) as u64;
    header.extend_from_slice(&(0x4000 | length as u16).to_be_bytes());
    header.extend_from_slice(&(pn as u16).to_be_bytes());
    protect(&header, pn, &payload, keys)
}

const DCID: &[u8] = &[0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

/// The client's first v1 Initial to `DCID`: a 200-byte ClientHello, packet number 0.
fn client_hello_initial(k: &InitialKeys) -> Vec<u8> {
    long_packet(
        QuicVersion::V1,
        PacketType::Initial,
        DCID,
        CLIENT_CID,
        0,
        &crypto(0, &message(1, 200)),
        &k.client,
    )
}
const CLIENT_CID: &[u8] = &[0xc1, 0xc1];
const SERVER_CID: &[u8] = &[0x5e, 0x5e, 0x5e];

fn keys(version: QuicVersion, dcid: &[u8]) -> InitialKeys {
    InitialKeys::derive(version.params().expect("readable"), dcid).expect("derive")
}

struct Run {
    conn: QuicConnection,
    ctx: QuicContext,
    sink: Sink,
}

impl Run {
    fn new() -> Run {
        Run {
            conn: QuicConnection::new(QuicConfig::default()),
            ctx: QuicContext::default(),
            sink: Sink::default(),
        }
    }

    fn feed(&mut self, dir: Direction, datagram: &[u8], at: i64) {
        self.conn
            .on_datagram(&mut self.ctx, dir, datagram, ts(at), &mut self.sink);
    }

    fn finish(self) -> (QuicFacts, Sink) {
        let mut sink = self.sink;
        let facts = self.conn.finish(&mut sink);
        (facts, sink)
    }
}

/// A v1 handshake: the ClientHello split over two Initials, the server's Initial (ACK +
/// ServerHello) coalesced with two Handshake packets, the client's Handshake flight.
#[test]
fn handshake_with_split_client_hello_and_coalesced_server_flight() {
    let v = QuicVersion::V1;
    let k = keys(v, DCID);
    let ch = message(1, 1500);
    let mut run = Run::new();
    let first = long_packet(
        v,
        PacketType::Initial,
        DCID,
        CLIENT_CID,
        0,
        &crypto(0, &ch[..1000]),
        &k.client,
    );
    let second = long_packet(
        v,
        PacketType::Initial,
        DCID,
        CLIENT_CID,
        1,
        &crypto(1000, &ch[1000..]),
        &k.client,
    );
    run.feed(C, &first, 1);
    assert!(run.sink.messages().is_empty());
    run.feed(C, &second, 2);
    assert_eq!(run.sink.messages(), [(C, 1, 1500)]);

    let sh = message(2, 90);
    let mut frames = vec![0x02, 1, 0, 0, 1];
    frames.extend_from_slice(&crypto(0, &sh));
    let mut flight = long_packet(
        v,
        PacketType::Initial,
        CLIENT_CID,
        SERVER_CID,
        0,
        &frames,
        &k.server,
    );
    let hs1 = long_packet(
        v,
        PacketType::Handshake,
        CLIENT_CID,
        SERVER_CID,
        0,
        &[0xaa; 900],
        &k.server,
    );
    let hs2 = long_packet(
        v,
        PacketType::Handshake,
        CLIENT_CID,
        SERVER_CID,
        1,
        &[0xbb; 40],
        &k.server,
    );
    flight.extend_from_slice(&hs1);
    flight.extend_from_slice(&hs2);
    run.feed(S, &flight, 5);
    let client_hs = long_packet(
        v,
        PacketType::Handshake,
        SERVER_CID,
        CLIENT_CID,
        0,
        &[0xcc; 60],
        &k.client,
    );
    run.feed(C, &client_hs, 9);

    let (facts, sink) = run.finish();
    assert_eq!(
        sink.0,
        [
            Seen::Message(C, 1, 1500, ts(2)),
            Seen::Message(S, 2, 90, ts(5)),
            Seen::Protected(S, hs1.len(), ts(5)),
            Seen::Protected(S, hs2.len(), ts(5)),
            Seen::Protected(C, client_hs.len(), ts(9)),
            Seen::Finish,
        ]
    );
    assert_eq!(facts.client, Some(C));
    assert_eq!(facts.version, Some(v));
    assert_eq!(facts.versions_seen, [v]);
    assert_eq!(
        facts.client_dcid.map(|c| c.to_hex()),
        Some("8394c8f03e515708".into())
    );
    assert_eq!(facts.client_scid.map(|c| c.to_hex()), Some("c1c1".into()));
    assert_eq!(facts.server_scid.map(|c| c.to_hex()), Some("5e5e5e".into()));
    let (c, s) = (facts.packets[C.index()], facts.packets[S.index()]);
    assert_eq!(
        (c.datagrams, c.initial, c.handshake, c.coalesced),
        (3, 2, 1, 0)
    );
    assert_eq!(
        (s.datagrams, s.initial, s.handshake, s.coalesced),
        (1, 1, 2, 1)
    );
    assert_eq!(facts.times.first_initial[C.index()], Some(ts(1)));
    assert_eq!(facts.times.first_initial[S.index()], Some(ts(5)));
    assert_eq!(facts.times.first_handshake[C.index()], Some(ts(9)));
    assert_eq!(facts.undecryptable_initials, [Undecryptable::default(); 2]);
    assert_eq!(facts.crypto_gaps, [0, 0]);
    assert!(!facts.early_data);
    assert_eq!(facts.stateless_reset, None);
}

/// The client later sends Initials to the server's connection ID (ACKs): the keys stay those
/// of its first DCID. A server answering in v2 to a v1 client (compatible negotiation) is read
/// with v2 keys from the same DCID.
#[test]
fn keys_stay_with_the_first_dcid_and_follow_the_server_version() {
    let k1 = keys(QuicVersion::V1, DCID);
    let k2 = keys(QuicVersion::V2, DCID);
    let mut run = Run::new();
    let ch = message(1, 300);
    run.feed(
        C,
        &long_packet(
            QuicVersion::V1,
            PacketType::Initial,
            DCID,
            CLIENT_CID,
            0,
            &crypto(0, &ch),
            &k1.client,
        ),
        1,
    );
    let sh = message(2, 90);
    run.feed(
        S,
        &long_packet(
            QuicVersion::V2,
            PacketType::Initial,
            CLIENT_CID,
            SERVER_CID,
            0,
            &crypto(0, &sh),
            &k2.server,
        ),
        2,
    );
    let ack = [0x02, 0, 0, 0, 0];
    run.feed(
        C,
        &long_packet(
            QuicVersion::V2,
            PacketType::Initial,
            SERVER_CID,
            CLIENT_CID,
            1,
            &ack,
            &k2.client,
        ),
        3,
    );
    let (facts, sink) = run.finish();
    assert_eq!(sink.messages(), [(C, 1, 300), (S, 2, 90)]);
    assert_eq!(facts.undecryptable_initials, [Undecryptable::default(); 2]);
    assert_eq!(facts.version, Some(QuicVersion::V1));
    assert_eq!(facts.versions_seen, [QuicVersion::V1, QuicVersion::V2]);
}

/// The capture starts at the server's Initial: it cannot be read (its keys come from the
/// client's DCID, not seen) and does not make the server a client.
#[test]
fn server_initial_first_is_counted_not_taken_for_a_client() {
    let k = keys(QuicVersion::V1, DCID);
    let mut run = Run::new();
    run.feed(
        S,
        &long_packet(
            QuicVersion::V1,
            PacketType::Initial,
            CLIENT_CID,
            SERVER_CID,
            0,
            &crypto(0, &message(2, 90)),
            &k.server,
        ),
        1,
    );
    assert_eq!(run.conn.facts().client, None);
    run.feed(
        C,
        &long_packet(
            QuicVersion::V1,
            PacketType::Initial,
            DCID,
            CLIENT_CID,
            2,
            &crypto(0, &message(1, 200)),
            &k.client,
        ),
        2,
    );
    let (facts, sink) = run.finish();
    assert_eq!(facts.client, Some(C));
    assert_eq!(
        facts.client_dcid.map(|c| c.to_hex()),
        Some("8394c8f03e515708".into())
    );
    assert_eq!(facts.undecryptable_initials[S.index()].keys_unknown, 1);
    assert_eq!(sink.messages(), [(C, 1, 200)]);
}

/// RFC 9001 A.2 and A.4: the client's Initial, the server's Retry (integrity checked against
/// the first DCID), then the client's Initial to the Retry's SCID, keyed by it.
#[test]
fn retry_switches_the_keys_to_its_scid() {
    let mut run = Run::new();
    let first = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/quic/rfc9001_client_initial.bin"
    ))
    .expect("fixture");
    let retry = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/quic/rfc9001_retry.bin"
    ))
    .expect("fixture");
    run.feed(C, &first, 1);
    assert_eq!(run.sink.messages().len(), 1, "the RFC's ClientHello");
    run.feed(S, &retry, 2);
    let new_dcid = [0xf0, 0x67, 0xa5, 0x50, 0x2a, 0x42, 0x62, 0xb5];
    let k = keys(QuicVersion::V1, &new_dcid);
    let mut ch = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/quic/rfc9001_client_initial_crypto.bin"
    ))
    .expect("fixture");
    ch.resize(1162, 0);
    run.feed(
        C,
        &long_packet(
            QuicVersion::V1,
            PacketType::Initial,
            &new_dcid,
            &[],
            3,
            &ch,
            &k.client,
        ),
        3,
    );
    let (facts, sink) = run.finish();
    let retry = facts.retry.expect("retry seen");
    assert_eq!(retry.token_len, 5);
    assert_eq!(retry.integrity, Some(RetryCheck::Valid));
    assert_eq!(retry.scid.as_bytes(), new_dcid);
    assert_eq!(
        facts.client_dcid.map(|c| c.to_hex()),
        Some("8394c8f03e515708".into())
    );
    // The resent ClientHello is the same bytes at the same offsets: one message.
    assert_eq!(sink.messages(), [(C, 1, 0xed)]);
    assert_eq!(facts.undecryptable_initials, [Undecryptable::default(); 2]);
    assert_eq!(facts.packets[S.index()].retry, 1);
}

/// A client offering a reserved version gets a Version Negotiation packet and comes back in v1
/// with a new DCID.
#[test]
fn version_negotiation_then_a_new_attempt() {
    let mut run = Run::new();
    let mut greased = vec![0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 4, 1, 2, 3, 4, 0];
    greased.extend_from_slice(&[0; 1200]);
    run.feed(C, &greased, 1);
    let vn = [
        0x80, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf,
    ];
    run.feed(S, &vn, 2);
    let k = keys(QuicVersion::V1, DCID);
    run.feed(
        C,
        &long_packet(
            QuicVersion::V1,
            PacketType::Initial,
            DCID,
            &[],
            0,
            &crypto(0, &message(1, 250)),
            &k.client,
        ),
        3,
    );
    let (facts, sink) = run.finish();
    let negotiation = facts.version_negotiation.expect("VN seen");
    assert_eq!(negotiation.from, S);
    assert_eq!(negotiation.offered, [QuicVersion::V1, QuicVersion::V2]);
    assert_eq!(facts.version, Some(QuicVersion::V1));
    assert_eq!(
        facts.versions_seen,
        [QuicVersion(0x1a2a_3a4a), QuicVersion::V1]
    );
    assert_eq!(facts.client, Some(C));
    assert_eq!(sink.messages(), [(C, 1, 250)]);
    assert_eq!(facts.packets[C.index()].unreadable, 1);
}

/// A server refusing the ClientHello with CRYPTO_ERROR 0x0178 (no_application_protocol) in its
/// Initial: an alert from the server, and the close in the facts.
#[test]
fn connection_close_with_crypto_error_is_an_alert() {
    let k = keys(QuicVersion::V1, DCID);
    let mut run = Run::new();
    run.feed(C, &client_hello_initial(&k), 1);
    let close = [0x1c, 0x41, 0x78, 0x06, 3, b'a', b'l', b'p'];
    run.feed(
        S,
        &long_packet(
            QuicVersion::V1,
            PacketType::Initial,
            CLIENT_CID,
            SERVER_CID,
            0,
            &close,
            &k.server,
        ),
        2,
    );
    let (facts, sink) = run.finish();
    assert!(sink.0.contains(&Seen::Alert(S, Some(120), ts(2))));
    let close = facts.connection_close.expect("close");
    assert_eq!(
        (
            close.from,
            close.space,
            close.error_code,
            close.frame_type,
            close.reason.as_str(),
            close.tls_alert
        ),
        (S, Space::Initial, 0x178, Some(6), "alp", Some(120))
    );
}

/// After the client is known, Initials that do not open with its keys are counted; a flood of
/// Initials with fresh DCIDs holds no memory (no stream, no keys kept).
#[test]
fn flood_of_initials_with_fresh_dcids() {
    let k = keys(QuicVersion::V1, DCID);
    let mut run = Run::new();
    for i in 0..50u8 {
        let dcid = [i; 8];
        let other = keys(QuicVersion::V1, &dcid);
        run.feed(
            S,
            &long_packet(
                QuicVersion::V1,
                PacketType::Initial,
                &dcid,
                SERVER_CID,
                0,
                &crypto(0, &message(2, 50)),
                &other.server,
            ),
            1,
        );
    }
    assert_eq!(
        run.conn.facts().undecryptable_initials[S.index()].keys_unknown,
        50
    );
    assert!(run.conn.attempt.is_none());
    assert!(run.conn.streams.iter().all(Option::is_none));
    run.feed(C, &client_hello_initial(&k), 2);
    for i in 0..50u8 {
        let dcid = [i; 8];
        let other = keys(QuicVersion::V1, &dcid);
        run.feed(
            C,
            &long_packet(
                QuicVersion::V1,
                PacketType::Initial,
                &dcid,
                CLIENT_CID,
                1,
                &crypto(0, &message(1, 50)),
                &other.client,
            ),
            3,
        );
    }
    let (facts, sink) = run.finish();
    assert_eq!(facts.undecryptable_initials[C.index()].authentication, 50);
    assert_eq!(sink.messages(), [(C, 1, 200)]);
}

/// Zero-RTT packets coalesced after the client's Initial: early data offered.
#[test]
fn zero_rtt_is_early_data() {
    let k = keys(QuicVersion::V1, DCID);
    let mut run = Run::new();
    let mut d = long_packet(
        QuicVersion::V1,
        PacketType::Initial,
        DCID,
        CLIENT_CID,
        0,
        &crypto(0, &message(1, 200)),
        &k.client,
    );
    d.extend_from_slice(&long_packet(
        QuicVersion::V1,
        PacketType::ZeroRtt,
        DCID,
        CLIENT_CID,
        0,
        &[0; 40],
        &k.client,
    ));
    run.feed(C, &d, 1);
    let (facts, _) = run.finish();
    assert!(facts.early_data);
    assert_eq!(facts.packets[C.index()].zero_rtt, 1);
    assert_eq!(facts.packets[C.index()].coalesced, 1);
}

/// The second half of a ClientHello only (the first Initial lost): a gap when the capture ends.
#[test]
fn lost_initial_leaves_a_gap_at_the_end() {
    let k = keys(QuicVersion::V1, DCID);
    let ch = message(1, 1500);
    let mut run = Run::new();
    run.feed(
        C,
        &long_packet(
            QuicVersion::V1,
            PacketType::Initial,
            DCID,
            CLIENT_CID,
            1,
            &crypto(1000, &ch[1000..]),
            &k.client,
        ),
        1,
    );
    run.feed(C, &[0x40, 1, 2], 4);
    let (facts, sink) = run.finish();
    assert_eq!(facts.crypto_gaps[C.index()], 1);
    assert_eq!(sink.0, [Seen::Gap(C, ts(4)), Seen::Finish]);
}

/// A server with no state answering the client's Initial with a short-header datagram.
#[test]
fn short_header_reply_to_an_initial_is_a_suspected_stateless_reset() {
    let k = keys(QuicVersion::V1, DCID);
    let mut run = Run::new();
    run.feed(C, &client_hello_initial(&k), 1);
    run.feed(S, &[0x40; 20], 2);
    assert_eq!(
        run.conn.facts().stateless_reset,
        None,
        "20 bytes is too short"
    );
    run.feed(S, &[0x41; 40], 3);
    let (facts, _) = run.finish();
    assert_eq!(facts.stateless_reset, Some(S));
    assert_eq!(facts.packets[S.index()].one_rtt, 2);
}

#[test]
fn odd_frames_and_packets_are_anomalies() {
    let k = keys(QuicVersion::V1, DCID);
    let mut run = Run::new();
    let mut frames = crypto(0, &message(1, 100));
    frames.extend_from_slice(&[0x08, 0, 0]);
    run.feed(
        C,
        &long_packet(
            QuicVersion::V1,
            PacketType::Initial,
            DCID,
            CLIENT_CID,
            0,
            &frames,
            &k.client,
        ),
        1,
    );
    run.feed(C, &[0xc0, 0, 0, 0, 1, 30], 2);
    run.feed(C, &[], 3);
    let (facts, sink) = run.finish();
    assert!(
        sink.0
            .contains(&Seen::Anomaly(C, "quic_initial_frame_stream"))
    );
    assert!(sink.0.contains(&Seen::Anomaly(C, "quic_malformed_packet")));
    assert_eq!(facts.packets[C.index()].malformed, 1);
    assert_eq!(facts.packets[C.index()].datagrams, 3);
}

#[test]
fn quic_is_found_by_content() {
    let k = keys(QuicVersion::V1, DCID);
    let initial = long_packet(
        QuicVersion::V1,
        PacketType::Initial,
        DCID,
        CLIENT_CID,
        0,
        &[1],
        &k.client,
    );
    assert!(starts_quic(&initial));
    let handshake = long_packet(
        QuicVersion::V1,
        PacketType::Handshake,
        DCID,
        CLIENT_CID,
        0,
        &[1],
        &k.client,
    );
    assert!(!starts_quic(&handshake));
    assert!(starts_quic(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
    let mut q050 = vec![0xc3, b'Q', b'0', b'5', b'0', 8];
    q050.extend_from_slice(&[0; 40]);
    assert!(starts_quic(&q050));
    // Zeek's vector-max-size-crash: a DNS query on UDP 443 with an unknown "version".
    let mut dns = vec![0xc3, 0x10, 0x01, 0x00, 0x00, 0];
    dns.extend_from_slice(&[0; 30]);
    assert!(!starts_quic(&dns));
    assert!(!starts_quic(b""));
    let mut reserved = vec![0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 0];
    reserved.extend_from_slice(&[0; 30]);
    assert!(starts_quic(&reserved));
    assert!(!starts_quic(b"GET / HTTP/1.1"));
}

/// A client Initial with another Source Connection ID is another connection on the 5-tuple;
/// one with the connection's own (a late retransmission), a short-header packet or bytes that
/// are no packet are not.
#[test]
fn only_an_initial_with_another_client_id_opens_another_connection() {
    let k = keys(QuicVersion::V1, DCID);
    let own = ConnectionId::new(CLIENT_CID).expect("cid");
    let other = ConnectionId::new(&[0xc2, 0xc2]).expect("cid");
    let initial = client_hello_initial(&k);
    assert!(!opens_another(&initial, &own));
    assert!(opens_another(&initial, &other));
    let handshake = long_packet(
        QuicVersion::V1,
        PacketType::Handshake,
        DCID,
        &[0xc2, 0xc2],
        0,
        &[0x01],
        &k.client,
    );
    assert!(!opens_another(&handshake, &own));
    assert!(!opens_another(&[0x41, 0x83, 0x94, 0, 0, 0], &own));
    assert!(!opens_another(&[], &own));
}
