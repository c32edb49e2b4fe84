use super::*;
use crate::dtls::facts::DatagramCounts;
const DTLS1_0: u16 = ProtocolVersion::DTLS10.0;
const DTLS1_2: u16 = ProtocolVersion::DTLS12.0;
const DTLS1_3: u16 = ProtocolVersion::DTLS13.0;
use crate::dtls::test_wire::{
    ClientHelloSpec, ServerHelloSpec, fragment as frag_bytes, handshake_record,
    hello_verify_request_body, record,
};
use crate::tls::handshake::sink::{Event, EventLog};

const C: Direction = Direction::LoToHi;
const S: Direction = Direction::HiToLo;

fn ms(n: i64) -> Timestamp {
    Timestamp(n * 1_000_000)
}

/// A connection and the log of what it passed on.
struct Run {
    conn: DtlsConnection,
    log: EventLog,
}

impl Run {
    fn new() -> Self {
        Run {
            conn: DtlsConnection::default(),
            log: EventLog::default(),
        }
    }

    fn send(&mut self, dir: Direction, datagram: &[u8], at: Timestamp) -> DatagramVerdict {
        self.conn.on_datagram(dir, datagram, at, &mut self.log)
    }

    fn finish(self) -> (DtlsFacts, EventLog) {
        let mut log = self.log;
        let facts = self.conn.finish(&mut log);
        (facts, log)
    }
}

/// (sender, type) of every message passed on.
fn message_types(log: &EventLog) -> Vec<(Direction, u8)> {
    log.messages().map(|(d, t, _, _)| (d, t)).collect()
}

/// A ClientHello cut into two fragments in two records of one datagram each.
fn fragmented_client_hello(body: &[u8], message_seq: u16, first_record_seq: u64) -> [Vec<u8>; 2] {
    let half = body.len() / 2;
    [
        record(
            22,
            DTLS1_0,
            0,
            first_record_seq,
            &frag_bytes(1, message_seq, body, 0, half),
        ),
        record(
            22,
            DTLS1_0,
            0,
            first_record_seq + 1,
            &frag_bytes(1, message_seq, body, half, body.len() - half),
        ),
    ]
}

#[test]
fn dtls12_handshake_with_cookie_exchange() {
    let mut run = Run::new();
    // ICE checks first, on the same 5-tuple.
    run.send(C, &[0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42], ms(0));
    run.send(S, &[1, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42], ms(1));
    let ch1 = ClientHelloSpec::default().body();
    let [a, b] = fragmented_client_hello(&ch1, 0, 0);
    run.send(C, &a, ms(10));
    run.send(C, &b, ms(11));
    run.send(
        S,
        &handshake_record(0, 0, 3, 0, &hello_verify_request_body(DTLS1_0, &[9; 20])),
        ms(40),
    );
    let ch2 = ClientHelloSpec {
        cookie: vec![9; 20],
        ..ClientHelloSpec::default()
    }
    .body();
    run.send(C, &handshake_record(0, 2, 1, 1, &ch2), ms(45));
    // Server flight: ServerHello, a certificate in two fragments out of order, ServerHelloDone.
    let sh = ServerHelloSpec::default().body();
    let cert = vec![0x30; 700];
    let mut flight = handshake_record(0, 1, 2, 1, &sh);
    flight.extend(record(
        22,
        DTLS1_2,
        0,
        2,
        &frag_bytes(11, 2, &cert, 400, 300),
    ));
    run.send(S, &flight, ms(80));
    let mut rest = record(22, DTLS1_2, 0, 3, &frag_bytes(11, 2, &cert, 0, 400));
    rest.extend(handshake_record(0, 4, 14, 3, b""));
    run.send(S, &rest, ms(81));
    // Client: ClientKeyExchange, ChangeCipherSpec, Finished (epoch 1).
    let mut cflight = handshake_record(0, 3, 16, 2, &[0x41; 66]);
    cflight.extend(record(20, DTLS1_2, 0, 4, &[1]));
    cflight.extend(record(22, DTLS1_2, 1, 0, &[0xee; 40]));
    run.send(C, &cflight, ms(90));
    let mut sflight = record(20, DTLS1_2, 0, 5, &[1]);
    sflight.extend(record(22, DTLS1_2, 1, 0, &[0xdd; 40]));
    run.send(S, &sflight, ms(120));
    run.send(C, &record(23, DTLS1_2, 1, 1, &[0xaa; 100]), ms(130));
    // SRTP media afterwards.
    run.send(C, &[0x80, 0x60, 0, 1], ms(140));
    run.send(S, &[0x80, 0xc8, 0, 1], ms(141));
    let (facts, log) = run.finish();

    assert_eq!(
        message_types(&log),
        [(C, 1), (S, 3), (C, 1), (S, 2), (S, 11), (S, 14), (C, 16)]
    );
    let msgs: Vec<_> = log.messages().collect();
    assert_eq!(msgs[0].2, &ch1[..]);
    assert_eq!(
        msgs[0].3,
        ms(11),
        "a message carries the time of its last fragment"
    );
    assert_eq!(msgs[4].2, &cert[..]);
    assert_eq!(msgs[4].3, ms(81));
    let rest: Vec<_> = log
        .events
        .iter()
        .filter(|e| !matches!(e, Event::Message { .. }))
        .cloned()
        .collect();
    assert_eq!(
        rest,
        [
            Event::ChangeCipherSpec { dir: C, ts: ms(90) },
            Event::Protected {
                dir: C,
                len: 40,
                ts: ms(90)
            },
            Event::ChangeCipherSpec {
                dir: S,
                ts: ms(120)
            },
            Event::Protected {
                dir: S,
                len: 40,
                ts: ms(120)
            },
            Event::ApplicationData {
                dir: C,
                len: 100,
                ts: ms(130)
            },
            Event::Finish,
        ]
    );
    let round = facts.cookie_exchange.expect("cookie exchange");
    assert_eq!(round.request, CookieRequest::HelloVerifyRequest);
    assert_eq!((round.version, round.cookie_len), (DTLS1_0, Some(20)));
    assert_eq!(
        (
            round.first_client_hello,
            round.requested,
            round.second_client_hello
        ),
        (ms(10), ms(40), Some(ms(45)))
    );
    assert_eq!(round.cost_us(), Some(35_000));
    assert_eq!(facts.version, Some(DTLS1_2));
    assert_eq!(facts.record_versions, [DTLS1_0, DTLS1_2]);
    assert_eq!(
        facts.datagrams,
        DatagramCounts {
            dtls: 9,
            stun: 2,
            rtp: 1,
            rtcp: 1,
            ..DatagramCounts::default()
        }
    );
    assert_eq!(facts.records, [7, 7]);
    assert_eq!(facts.retransmissions.total(), 0);
    assert_eq!(facts.duplicated_records, 0);
}

#[test]
fn retransmitted_flights_are_counted_with_their_delay_and_duplicates_are_not() {
    let mut run = Run::new();
    let ch = ClientHelloSpec::default().body();
    run.send(C, &handshake_record(0, 0, 1, 0, &ch), ms(0));
    // The capture holds the same datagram twice: not a retransmission.
    run.send(C, &handshake_record(0, 0, 1, 0, &ch), ms(0));
    // Resent after 1 s and 3 s (new record sequence numbers), the second time cut in two.
    run.send(C, &handshake_record(0, 1, 1, 0, &ch), ms(1000));
    let [a, b] = fragmented_client_hello(&ch, 0, 2);
    run.send(C, &a, ms(3000));
    run.send(C, &b, ms(3000));
    // The server answers; its flight is resent once too, cut differently.
    let sh = ServerHelloSpec::default().body();
    let mut flight = handshake_record(0, 0, 2, 0, &sh);
    flight.extend(handshake_record(0, 1, 14, 1, b""));
    run.send(S, &flight, ms(3050));
    let mut again = record(22, DTLS1_2, 0, 2, &frag_bytes(2, 0, &sh, 0, 10));
    again.extend(record(
        22,
        DTLS1_2,
        0,
        3,
        &frag_bytes(2, 0, &sh, 10, sh.len() - 10),
    ));
    again.extend(handshake_record(0, 4, 14, 1, b""));
    run.send(S, &again, ms(4050));
    let (facts, log) = run.finish();

    assert_eq!(message_types(&log), [(C, 1), (S, 2), (S, 14)]);
    let r = &facts.retransmissions;
    assert_eq!(r.flights, [2, 1]);
    assert_eq!(r.fragments, [3, 3]);
    let listed: Vec<_> = r
        .listed
        .iter()
        .map(|f| (f.from, f.ts, f.message_seq, f.after_us))
        .collect();
    assert_eq!(
        listed,
        [
            (C, ms(1000), Some(0), Some(1_000_000)),
            (C, ms(3000), Some(0), Some(3_000_000)),
            (S, ms(4050), Some(0), Some(1_000_000)),
        ]
    );
    assert_eq!(facts.duplicated_records, 1);
    assert_eq!(log.anomalies().count(), 0);
}

#[test]
fn resent_change_cipher_spec_and_finished_are_not_passed_on_twice() {
    let mut run = Run::new();
    run.send(
        C,
        &handshake_record(0, 0, 1, 0, &ClientHelloSpec::default().body()),
        ms(0),
    );
    run.send(
        S,
        &handshake_record(0, 0, 2, 0, &ServerHelloSpec::default().body()),
        ms(10),
    );
    let mut fin = record(20, DTLS1_2, 0, 1, &[1]);
    fin.extend(record(22, DTLS1_2, 1, 0, &[0xdd; 40]));
    run.send(S, &fin, ms(11));
    let mut fin_again = record(20, DTLS1_2, 0, 2, &[1]);
    fin_again.extend(record(22, DTLS1_2, 1, 1, &[0xde; 40]));
    run.send(S, &fin_again, ms(1011));
    let (facts, log) = run.finish();
    let ccs = log
        .events
        .iter()
        .filter(|e| matches!(e, Event::ChangeCipherSpec { .. }))
        .count();
    let protected = log
        .events
        .iter()
        .filter(|e| matches!(e, Event::Protected { .. }))
        .count();
    assert_eq!((ccs, protected), (1, 1));
    assert_eq!(facts.retransmissions.flights, [0, 1]);
    assert_eq!(facts.retransmissions.listed[0].message_seq, None);
    assert_eq!(facts.retransmissions.fragments, [0, 2]);
}

#[test]
fn alerts_in_the_clear_and_encrypted() {
    let mut run = Run::new();
    run.send(
        C,
        &handshake_record(0, 0, 1, 0, &ClientHelloSpec::default().body()),
        ms(0),
    );
    // handshake_failure, fatal.
    run.send(S, &record(21, DTLS1_2, 0, 0, &[2, 40]), ms(5));
    // After a ChangeCipherSpec, the client's alert is unreadable.
    run.send(C, &record(20, DTLS1_2, 0, 1, &[1]), ms(6));
    run.send(C, &record(21, DTLS1_2, 1, 0, &[0x55; 26]), ms(7));
    let (_, log) = run.finish();
    let alerts: Vec<_> = log
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Alert { dir, alert, ts } => Some((*dir, *alert, *ts)),
            _ => None,
        })
        .collect();
    assert_eq!(
        alerts,
        [
            (
                S,
                Alert::cleartext(AlertLevel::FATAL, AlertDescription::HANDSHAKE_FAILURE),
                ms(5),
            ),
            (C, Alert::ENCRYPTED, ms(7))
        ]
    );
}

#[test]
fn a_client_hello_with_another_random_is_another_connection() {
    let mut run = Run::new();
    let first = ClientHelloSpec::default().body();
    assert_eq!(
        run.send(C, &handshake_record(0, 0, 1, 0, &first), ms(0)),
        DatagramVerdict::Taken
    );
    // The same random again (a retransmission, or the second ClientHello of a cookie round).
    let same = ClientHelloSpec {
        cookie: vec![1; 8],
        ..ClientHelloSpec::default()
    }
    .body();
    assert_eq!(
        run.send(C, &handshake_record(0, 1, 1, 1, &same), ms(5)),
        DatagramVerdict::Taken
    );
    let other = ClientHelloSpec {
        random: 0x77,
        ..ClientHelloSpec::default()
    }
    .body();
    let datagram = handshake_record(0, 0, 1, 0, &other);
    assert_eq!(
        run.send(C, &datagram, ms(9)),
        DatagramVerdict::NewConnection
    );
    let (facts, log) = run.finish();
    assert_eq!(message_types(&log), [(C, 1), (C, 1)]);
    assert_eq!(
        facts.datagrams.dtls, 2,
        "the refused datagram is not counted"
    );
    let mut next = Run::new();
    assert_eq!(next.send(C, &datagram, ms(9)), DatagramVerdict::Taken);
}

#[test]
fn a_message_lost_by_the_capture_becomes_a_gap() {
    let mut run = Run::new();
    run.send(
        C,
        &handshake_record(0, 0, 1, 0, &ClientHelloSpec::default().body()),
        ms(0),
    );
    // The ServerHello (seq 0) is missing; Certificate and ServerHelloDone wait behind it.
    let mut flight = handshake_record(0, 1, 11, 1, &[0x30; 100]);
    flight.extend(handshake_record(0, 2, 14, 2, b""));
    run.send(S, &flight, ms(10));
    assert_eq!(message_types(&run.log), [(C, 1)]);
    // A retransmitted ClientHello says nothing about the server's flight.
    run.send(
        C,
        &handshake_record(0, 1, 1, 0, &ClientHelloSpec::default().body()),
        ms(500),
    );
    assert_eq!(message_types(&run.log), [(C, 1)]);
    // The client's next flight does: the server's messages come out after a gap.
    run.send(C, &handshake_record(0, 2, 16, 1, &[0x41; 66]), ms(20));
    let (_, log) = run.finish();
    assert_eq!(message_types(&log), [(C, 1), (S, 11), (S, 14), (C, 16)]);
    assert!(log.events.contains(&Event::Gap { dir: S, ts: ms(20) }));
}

#[test]
fn incomplete_messages_at_the_end_are_a_gap() {
    let mut run = Run::new();
    let ch = ClientHelloSpec::default().body();
    let [a, _] = fragmented_client_hello(&ch, 0, 0);
    run.send(C, &a, ms(3));
    let (_, log) = run.finish();
    assert_eq!(
        log.events,
        [Event::Gap { dir: C, ts: ms(3) }, Event::Finish]
    );
}

#[test]
fn dtls13_hello_retry_request_with_cookie_then_protected_records() {
    let mut run = Run::new();
    let ch1 = ClientHelloSpec {
        supported_versions: vec![DTLS1_3],
        ..ClientHelloSpec::default()
    };
    run.send(C, &handshake_record(0, 0, 1, 0, &ch1.body()), ms(0));
    let hrr = ServerHelloSpec {
        selected: Some(DTLS1_3),
        hrr: true,
        cookie: Some(vec![5; 32]),
        ..ServerHelloSpec::default()
    };
    run.send(S, &handshake_record(0, 0, 2, 0, &hrr.body()), ms(30));
    run.send(C, &handshake_record(0, 1, 1, 1, &ch1.body()), ms(31));
    let sh = ServerHelloSpec {
        selected: Some(DTLS1_3),
        ..ServerHelloSpec::default()
    };
    let mut flight = handshake_record(0, 1, 2, 1, &sh.body());
    // Unified headers, epoch 2: S=1 L=1, then one without a length to the end.
    flight.extend([0x2e, 0, 1, 0, 5, 1, 2, 3, 4, 5]);
    flight.extend([0x2a, 0, 2, 9, 9, 9]);
    run.send(S, &flight, ms(60));
    run.send(
        C,
        &[0x2e, 0, 1, 0, 60]
            .into_iter()
            .chain([7; 60])
            .collect::<Vec<u8>>(),
        ms(70),
    );
    run.send(
        C,
        &[0x2f, 0, 2, 0, 30]
            .into_iter()
            .chain([7; 30])
            .collect::<Vec<u8>>(),
        ms(71),
    );
    let (facts, log) = run.finish();
    assert_eq!(message_types(&log), [(C, 1), (S, 2), (C, 1), (S, 2)]);
    let protected: Vec<_> = log
        .events
        .iter()
        .filter(|e| matches!(e, Event::Protected { .. } | Event::ApplicationData { .. }))
        .cloned()
        .collect();
    assert_eq!(
        protected,
        [
            Event::Protected {
                dir: S,
                len: 5,
                ts: ms(60)
            },
            Event::Protected {
                dir: S,
                len: 3,
                ts: ms(60)
            },
            Event::Protected {
                dir: C,
                len: 60,
                ts: ms(70)
            },
            Event::ApplicationData {
                dir: C,
                len: 30,
                ts: ms(71)
            },
        ]
    );
    assert_eq!(facts.version, Some(DTLS1_3));
    let round = facts.cookie_exchange.unwrap();
    assert_eq!(
        round.request,
        CookieRequest::HelloRetryRequest { cookie: true }
    );
    assert_eq!(round.cost_us(), Some(31_000));
}

#[test]
fn connection_ids_are_learnt_from_the_hellos() {
    let mut run = Run::new();
    let ch = ClientHelloSpec {
        cid: Some(vec![0xc1, 0xc2]),
        ..ClientHelloSpec::default()
    };
    run.send(C, &handshake_record(0, 0, 1, 0, &ch.body()), ms(0));
    let sh = ServerHelloSpec {
        cid: Some(vec![0x51, 0x52, 0x53, 0x54]),
        ..ServerHelloSpec::default()
    };
    run.send(S, &handshake_record(0, 0, 2, 0, &sh.body()), ms(10));
    // tls12_cid records: client → server carry the server's 4-byte CID, and back the client's 2.
    let cid_rec = |cid: &[u8], seq: u8, body: &[u8]| {
        let mut r = vec![25, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, seq];
        r.extend_from_slice(cid);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    };
    let mut two = cid_rec(&[0x51, 0x52, 0x53, 0x54], 1, &[1; 40]);
    two.extend(cid_rec(&[0x51, 0x52, 0x53, 0x54], 2, &[2; 50]));
    run.send(C, &two, ms(20));
    run.send(S, &cid_rec(&[0xc1, 0xc2], 1, &[3; 40]), ms(30));
    let (facts, log) = run.finish();
    assert_eq!(
        facts.connection_ids.client.as_deref(),
        Some(&[0xc1, 0xc2][..])
    );
    assert_eq!(
        facts.connection_ids.server.as_deref(),
        Some(&[0x51, 0x52, 0x53, 0x54][..])
    );
    assert_eq!(facts.connection_ids.records, 3);
    assert_eq!(log.anomalies().count(), 0);
    assert!(log.events.contains(&Event::Protected {
        dir: C,
        len: 40,
        ts: ms(20)
    }));
    assert!(log.events.contains(&Event::ApplicationData {
        dir: C,
        len: 50,
        ts: ms(20)
    }));
}

#[test]
fn odd_traffic_is_counted_not_fatal() {
    let mut run = Run::new();
    run.send(
        C,
        &handshake_record(0, 0, 1, 0, &ClientHelloSpec::default().body()),
        ms(0),
    );
    // A record header cut short after a good record, and a first byte that is no record.
    let mut d = record(22, DTLS1_2, 0, 1, &frag_bytes(16, 1, &[1; 10], 0, 10));
    d.extend([22, 0xfe]);
    run.send(C, &d, ms(1));
    run.send(C, &record(30, DTLS1_2, 0, 2, &[0]), ms(2));
    // A fragment reaching past its message, a fragment cut short.
    let mut bad = frag_bytes(11, 2, &[0; 10], 0, 10);
    bad[3] = 4; // length 4 < 10
    run.send(C, &record(22, DTLS1_2, 0, 3, &bad), ms(4));
    run.send(C, &record(22, DTLS1_2, 0, 5, &[11, 0, 0]), ms(6));
    // A message far ahead, and one too large for the joiner.
    run.send(C, &handshake_record(0, 6, 11, 200, &[1; 4]), ms(7));
    let mut big = frag_bytes(11, 2, &[0; 10], 0, 10);
    big[1..4].copy_from_slice(&[0x10, 0, 0]); // length 1 MiB
    run.send(C, &record(22, DTLS1_2, 0, 7, &big), ms(8));
    // New handshake bytes in epoch 0 after the client moved to epoch 1.
    run.send(C, &record(23, DTLS1_2, 1, 0, &[0; 10]), ms(9));
    run.send(C, &handshake_record(0, 8, 15, 3, &[1; 10]), ms(10));
    // A record version that is no DTLS version.
    run.send(C, &record(23, 0x0303, 1, 1, &[0; 10]), ms(11));
    let (_, log) = run.finish();
    let kinds: Vec<_> = log.anomalies().collect();
    assert_eq!(
        kinds,
        [
            DtlsAnomaly::BadRecordHeader.name(),
            DtlsAnomaly::BadRecordHeader.name(),
            DtlsAnomaly::FragmentBeyondMessageLength.name(),
            DtlsAnomaly::BadHandshakeFragment.name(),
            DtlsAnomaly::MessageSeqTooFarAhead.name(),
            DtlsAnomaly::HandshakeMessageTooLarge.name(),
            DtlsAnomaly::EpochWentBackwards.name(),
            DtlsAnomaly::UnknownRecordVersion.name(),
        ]
    );
    assert_eq!(message_types(&log), [(C, 1), (C, 16), (C, 15)]);
}

#[test]
fn record_window_tells_repeats_from_new_records() {
    let mut w = SeenRecords::default();
    assert!(!w.check_and_set(10));
    assert!(w.check_and_set(10));
    assert!(!w.check_and_set(8), "older but not seen");
    assert!(w.check_and_set(8));
    assert!(!w.check_and_set(100), "a jump forward");
    assert!(w.check_and_set(100));
    assert!(
        !w.check_and_set(37),
        "37 is 63 below the top: inside the window, not seen"
    );
    assert!(w.check_and_set(37));
    assert!(!w.check_and_set(10), "beyond the window: taken as new");
}

/// A DTLS 1.2 handshake without a cookie round, up to both Finished.
fn completed_dtls12(run: &mut Run, ch: &[u8]) {
    run.send(C, &handshake_record(0, 0, 1, 0, ch), ms(0));
    let mut flight = handshake_record(0, 0, 2, 0, &ServerHelloSpec::default().body());
    flight.extend(handshake_record(0, 1, 14, 1, b""));
    run.send(S, &flight, ms(10));
    let mut cflight = handshake_record(0, 1, 16, 1, &[0x41; 66]);
    cflight.extend(record(20, DTLS1_2, 0, 2, &[1]));
    cflight.extend(record(22, DTLS1_2, 1, 0, &[0xee; 40]));
    run.send(C, &cflight, ms(20));
    let mut sflight = record(20, DTLS1_2, 0, 2, &[1]);
    sflight.extend(record(22, DTLS1_2, 1, 0, &[0xdd; 40]));
    run.send(S, &sflight, ms(30));
}

#[test]
fn a_first_client_hello_after_a_completed_handshake_is_another_connection() {
    let mut run = Run::new();
    let ch = ClientHelloSpec::default().body();
    completed_dtls12(&mut run, &ch);
    // The same random (a client that reuses it, or a replay): the handshake is over, so a
    // ClientHello with message_seq 0 starts another one.
    let again = handshake_record(0, 0, 1, 0, &ch);
    assert_eq!(run.send(C, &again, ms(40)), DatagramVerdict::NewConnection);
    let (_, log) = run.finish();
    assert_eq!(message_types(&log), [(C, 1), (S, 2), (S, 14), (C, 16)]);
}

#[test]
fn a_client_hello_answering_a_cookie_request_stays_in_the_connection() {
    let mut run = Run::new();
    run.send(
        C,
        &handshake_record(0, 0, 1, 0, &ClientHelloSpec::default().body()),
        ms(0),
    );
    run.send(
        S,
        &handshake_record(0, 0, 3, 0, &hello_verify_request_body(DTLS1_0, &[9; 20])),
        ms(1),
    );
    // message_seq 1: the answer to the request, even from a client that changed its random.
    let answer = ClientHelloSpec {
        random: 0x66,
        cookie: vec![9; 20],
        ..ClientHelloSpec::default()
    }
    .body();
    assert_eq!(
        run.send(C, &handshake_record(0, 1, 1, 1, &answer), ms(2)),
        DatagramVerdict::Taken
    );
    // The first ClientHello resent (message_seq 0, same random) is a retransmission.
    assert_eq!(
        run.send(
            C,
            &handshake_record(0, 2, 1, 0, &ClientHelloSpec::default().body()),
            ms(3)
        ),
        DatagramVerdict::Taken
    );
    let (facts, log) = run.finish();
    assert_eq!(message_types(&log), [(C, 1), (S, 3), (C, 1)]);
    assert_eq!(facts.retransmissions.flights, [1, 0]);
    assert!(
        facts
            .cookie_exchange
            .is_some_and(|r| r.second_client_hello == Some(ms(2)))
    );
}

/// A DTLS 1.3 connection up to the server's protected flight (epoch 2).
fn dtls13_up_to_server_flight() -> Run {
    let mut run = Run::new();
    let ch = ClientHelloSpec {
        supported_versions: vec![DTLS1_3],
        ..ClientHelloSpec::default()
    };
    run.send(C, &handshake_record(0, 0, 1, 0, &ch.body()), ms(0));
    let sh = ServerHelloSpec {
        selected: Some(DTLS1_3),
        ..ServerHelloSpec::default()
    };
    let mut flight = handshake_record(0, 0, 2, 0, &sh.body());
    flight.extend(unified(2, 0, 900));
    run.send(S, &flight, ms(10));
    run
}

/// A unified-header record (16-bit sequence number, length present) of `len` bytes.
fn unified(epoch: u8, seq: u8, len: u16) -> Vec<u8> {
    let mut r = vec![0x2c | (epoch & 3), 0, seq];
    r.extend(len.to_be_bytes());
    r.extend(std::iter::repeat_n(0x77, usize::from(len)));
    r
}

/// Protected records and alerts passed on: `(sender, kind, len)`, kind `P` (handshake-era),
/// `A` (application data), `!` (inferred alert).
fn protected_events(log: &EventLog) -> Vec<(Direction, char, usize)> {
    log.events
        .iter()
        .filter_map(|e| match e {
            Event::Protected { dir, len, .. } => Some((*dir, 'P', *len)),
            Event::ApplicationData { dir, len, .. } => Some((*dir, 'A', *len)),
            Event::Alert { dir, alert, .. } if *alert == Alert::INFERRED => Some((*dir, '!', 0)),
            _ => None,
        })
        .collect()
}

#[test]
fn dtls13_alert_sized_last_client_record_is_an_inferred_alert() {
    let mut run = dtls13_up_to_server_flight();
    run.send(C, &unified(2, 0, 19), ms(20));
    // The server, hearing no Finished, resends its flight.
    run.send(S, &unified(2, 1, 900), ms(1010));
    let (_, log) = run.finish();
    assert_eq!(
        protected_events(&log),
        [(S, 'P', 900), (S, 'P', 900), (C, '!', 0)]
    );
    assert!(log.events.contains(&Event::Alert {
        dir: C,
        alert: Alert::INFERRED,
        ts: ms(20)
    }));
}

#[test]
fn dtls13_server_rejecting_the_client_flight_and_a_normal_close() {
    // The server answers the client's flight with one alert-sized record and stops.
    let mut run = dtls13_up_to_server_flight();
    run.send(C, &unified(2, 0, 700), ms(20));
    run.send(S, &unified(3, 0, 19), ms(21));
    let (_, log) = run.finish();
    assert_eq!(
        protected_events(&log),
        [(S, 'P', 900), (C, 'P', 700), (S, '!', 0)]
    );

    // A completed connection closed by both sides: no alert inferred, and a small record
    // followed by another is passed on in order.
    let mut run = dtls13_up_to_server_flight();
    run.send(C, &unified(2, 0, 61), ms(20));
    run.send(S, &unified(3, 0, 35), ms(21));
    run.send(C, &unified(3, 0, 30), ms(22));
    run.send(C, &unified(3, 1, 19), ms(23));
    run.send(S, &unified(3, 1, 19), ms(24));
    let (_, log) = run.finish();
    assert_eq!(
        protected_events(&log),
        [
            (S, 'P', 900),
            (C, 'P', 61),
            (S, 'A', 35),
            (C, 'A', 30),
            (C, 'A', 19),
            (S, 'A', 19)
        ]
    );

    // An alert-sized first client record that is not its last: passed on, in order.
    let mut run = dtls13_up_to_server_flight();
    run.send(C, &unified(2, 0, 20), ms(20));
    run.send(C, &unified(3, 0, 40), ms(21));
    let (_, log) = run.finish();
    assert_eq!(
        protected_events(&log),
        [(S, 'P', 900), (C, 'P', 20), (C, 'A', 40)]
    );
}

#[test]
fn charged_counts_what_the_connection_holds() {
    let mut run = Run::new();
    let empty = run.conn.charged();
    assert!(empty >= size_of::<DtlsConnection>());
    // Half a message held by the joiner.
    let ch = ClientHelloSpec::default().body();
    let [a, _] = fragmented_client_hello(&ch, 0, 0);
    run.send(C, &a, ms(0));
    assert!(run.conn.charged() >= empty + ch.len() / 2);
}
