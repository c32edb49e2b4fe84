//! Tests of `layer`.

use super::*;
use crate::tls::handshake::hello::HelloFormat;
use crate::tls::handshake::{
    Carrier, Certificate, ClientHello, HelloError, MAX_ANOMALIES, MAX_EVENTS, ServerHello,
    TlsEvent, fingerprint,
};
use std::sync::Arc;

const C: Direction = Direction::LoToHi;
const S: Direction = Direction::HiToLo;

/// Stand-in parsers with a made-up layout: hellos carry their version in the first two
/// body bytes (a ServerHello's third byte is 1 for a retry request), certificate lists are
/// length-prefixed (1 byte) DER blobs.
#[derive(Debug)]
struct Fake;

fn be16(body: &[u8]) -> Result<u16, HelloError> {
    match body {
        [a, b, ..] => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(HelloError::Truncated { message: "fake" }),
    }
}

impl MessageParsers for Fake {
    fn client_hello(body: &[u8], _: HelloFormat) -> Result<ClientHello, HelloError> {
        Ok(ClientHello {
            legacy_version: be16(body)?,
            ..ClientHello::default()
        })
    }
    fn sslv2_client_hello(msg: &[u8]) -> Result<ClientHello, HelloError> {
        Ok(ClientHello {
            sslv2_format: true,
            legacy_version: be16(msg.get(1..).unwrap_or_default())?,
            ..ClientHello::default()
        })
    }
    fn server_hello(body: &[u8], handshake_type: u8) -> Result<ServerHello, HelloError> {
        Ok(ServerHello {
            version: be16(body)?,
            hrr: handshake_type == 6 || body.get(2) == Some(&1),
            ..ServerHello::default()
        })
    }
    fn certificate_list(body: &[u8], _: bool) -> Result<Vec<&[u8]>, HelloError> {
        let mut out = Vec::new();
        let mut rest = body;
        while let Some((&n, tail)) = rest.split_first() {
            let der = tail
                .get(..usize::from(n))
                .ok_or(HelloError::Truncated { message: "fake" })?;
            out.push(der);
            rest = &tail[usize::from(n)..];
        }
        Ok(out)
    }
    fn certificate(_: &mut TlsContext, der: &[u8]) -> Arc<Certificate> {
        Arc::new(Certificate {
            der_len: der.len(),
            ..Certificate::default()
        })
    }
    fn server_key_exchange_curve(_: &[u8]) -> Option<u16> {
        Some(29)
    }
    fn new_session_ticket(body: &[u8]) -> Option<(u32, u16)> {
        Some((7200, u16::try_from(body.len()).ok()?))
    }
}

fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len();
    let mut m = vec![msg_type, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    m.extend_from_slice(body);
    m
}

/// A hello body: version, then filler up to the 38 bytes of a real one.
fn hello_body(version: u16, hrr: bool) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.push(u8::from(hrr));
    b.resize(60, 0);
    b
}

fn client_hello() -> Vec<u8> {
    let mut r = record(22, &message(1, &hello_body(0x0303, false)));
    r[2] = 1;
    r
}

fn server_hello(version: u16, hrr: bool) -> Vec<u8> {
    message(2, &hello_body(version, hrr))
}

/// One side's bytes, delivered at a time.
type Step = (Direction, Vec<u8>);

fn tls12_handshake() -> Vec<Step> {
    let mut flight = server_hello(0x0303, false);
    flight.extend(message(11, &[3, 1, 2, 3, 2, 4, 5]));
    flight.extend(message(12, &[0; 10]));
    flight.extend(message(14, &[]));
    let mut client2 = record(22, &message(16, &[0; 33]));
    client2.extend(record(20, &[1]));
    client2.extend(record(22, &[0; 40]));
    let mut server2 = record(22, &message(4, &[0; 100]));
    server2.extend(record(20, &[1]));
    server2.extend(record(22, &[0; 40]));
    let mut client3 = record(23, &[0; 50]);
    client3.extend(record(23, &[0; 50]));
    let mut server3 = record(23, &[0; 500]);
    server3.extend(record(21, &[0; 26]));
    vec![
        (C, client_hello()),
        (S, record(22, &flight)),
        (C, client2),
        (S, server2),
        (C, client3),
        (S, server3),
    ]
}

/// A transcript with the record counts the layer kept beside it.
struct Observed {
    t: Transcript,
    records: [u64; 2],
    preamble_bytes: [u64; 2],
}

impl std::ops::Deref for Observed {
    type Target = Transcript;
    fn deref(&self) -> &Transcript {
        &self.t
    }
}

fn observe(steps: &[Step]) -> (Observed, bool) {
    observe_with(RecordConfig::default(), steps, |_| vec![])
}

/// Feeds each step, split where `splits` says, each chunk with its own timestamp.
fn observe_with(
    config: RecordConfig,
    steps: &[Step],
    splits: impl Fn(usize) -> Vec<usize>,
) -> (Observed, bool) {
    let mut obs = RecordLayer::<Fake>::with_parsers(config);
    let mut ctx = TlsContext::default();
    let mut ts = 0;
    for (n, (dir, bytes)) in steps.iter().enumerate() {
        let mut from = 0;
        for cut in splits(n).into_iter().chain([bytes.len()]) {
            let cut = cut.clamp(from, bytes.len());
            ts += 1;
            obs.on_data(&mut ctx, *dir, &bytes[from..cut], Timestamp(ts));
            from = cut;
        }
    }
    let tls = obs.is_tls();
    let (records, preamble_bytes) = obs.counts();
    let observed = Observed {
        t: obs.finish(),
        records,
        preamble_bytes,
    };
    (observed, tls)
}

fn events(t: &Transcript) -> Vec<(Direction, TlsEvent)> {
    t.events.iter().map(|e| (e.from, e.event.clone())).collect()
}

fn kinds(t: &Transcript) -> Vec<&'static str> {
    t.anomalies.iter().map(|a| a.kind.name()).collect()
}

/// A ClientHello event as the handshake layer makes it: with its fingerprints.
fn client_hello_event(mut hello: ClientHello) -> TlsEvent {
    fingerprint::fill_client(&mut hello, Carrier::Tcp);
    TlsEvent::ClientHello(Box::new(hello))
}

fn ch(version: u16) -> TlsEvent {
    client_hello_event(ClientHello {
        legacy_version: version,
        ..ClientHello::default()
    })
}

fn sh(version: u16, hrr: bool) -> TlsEvent {
    let mut hello = ServerHello {
        version,
        hrr,
        ..ServerHello::default()
    };
    fingerprint::fill_server(&mut hello, Carrier::Tcp);
    TlsEvent::ServerHello(Box::new(hello))
}

fn cert(len: usize) -> Arc<Certificate> {
    Arc::new(Certificate {
        der_len: len,
        ..Certificate::default()
    })
}

const ENCRYPTED_ALERT: TlsEvent = TlsEvent::Alert(Alert::ENCRYPTED);

fn alert(level: u8, description: u8) -> TlsEvent {
    TlsEvent::Alert(Alert::cleartext(
        AlertLevel(level),
        AlertDescription(description),
    ))
}

#[test]
fn tls12_full_handshake() {
    let (t, tls) = observe(&tls12_handshake());
    assert!(tls);
    assert_eq!(t.client, Some(C));
    assert_eq!(
        events(&t),
        vec![
            (C, ch(0x0303)),
            (S, sh(0x0303, false)),
            (S, TlsEvent::Certificate(vec![cert(3), cert(2)])),
            (S, TlsEvent::ServerKeyExchange { curve: Some(29) }),
            (S, TlsEvent::ServerHelloDone),
            (C, TlsEvent::ClientKeyExchange),
            (C, TlsEvent::ChangeCipherSpec),
            (C, TlsEvent::EncryptedHandshake),
            (
                S,
                TlsEvent::NewSessionTicket {
                    lifetime: 7200,
                    ticket_len: 100,
                    max_early_data: None,
                }
            ),
            (S, TlsEvent::ChangeCipherSpec),
            (S, TlsEvent::EncryptedHandshake),
            (C, TlsEvent::ApplicationData),
            (S, TlsEvent::ApplicationData),
            (S, ENCRYPTED_ALERT),
        ]
    );
    assert_eq!(t.records, [6, 6]);
    assert!(t.anomalies.is_empty(), "{:?}", t.anomalies);
    assert_eq!(t.preamble_bytes, [0, 0]);
}

#[test]
fn events_do_not_depend_on_split_points() {
    let steps = tls12_handshake();
    let (whole, _) = observe(&steps);
    let expected = events(&whole);
    for (n, (_, bytes)) in steps.iter().enumerate() {
        for i in 0..=bytes.len() {
            let (t, _) = observe_with(RecordConfig::default(), &steps, |k| {
                if k == n { vec![i] } else { vec![] }
            });
            assert_eq!(events(&t), expected, "step {n} split at {i}");
            assert_eq!(t.records, whole.records);
            assert!(t.anomalies.is_empty());
        }
    }
    let (bytewise, _) = observe_with(RecordConfig::default(), &steps, |n| {
        (1..steps[n].1.len()).collect()
    });
    assert_eq!(events(&bytewise), expected);
}

#[test]
fn event_time_is_that_of_the_completing_chunk() {
    let mut flight = record(22, &server_hello(0x0303, false));
    let mut rest = message(11, &[3, 1, 2, 3]);
    rest.extend(message(14, &[]));
    flight.extend(record(22, &rest));
    let steps = vec![(C, client_hello()), (S, flight)];
    // Chunk 2 (ts 2) ends inside the second record, chunk 3 (ts 3) completes it: the
    // messages of a record take the time of the chunk that completed the record (as
    // tshark attributes them).
    for cut in [69, 75, 80] {
        let (t, _) = observe_with(RecordConfig::default(), &steps, |n| {
            if n == 1 { vec![cut] } else { vec![] }
        });
        let stamps: Vec<i64> = t.events.iter().map(|e| e.ts.0).collect();
        assert_eq!(stamps, vec![1, 2, 3, 3], "cut {cut}");
    }
}

#[test]
fn cleartext_alerts_are_read_and_several_per_record() {
    let steps = vec![(C, client_hello()), (S, record(21, &[1, 112, 2, 40]))];
    let (t, _) = observe(&steps);
    assert_eq!(events(&t)[1..], [(S, alert(1, 112)), (S, alert(2, 40))]);
    let steps = vec![
        (C, client_hello()),
        (S, record(21, &[2, 40])),
        (S, record(21, &[2, 40, 1])),
    ];
    let (t, _) = observe(&steps);
    assert_eq!(kinds(&t), vec!["bad_alert"]);
    assert_eq!(events(&t)[1..], [(S, alert(2, 40)), (S, alert(2, 40))]);
}

/// Regression (issue #20): the server's ChangeCipherSpec and Finished fall into a gap, so its
/// direction turned encrypted unseen; its encrypted alert after the resynchronisation (26
/// bytes beginning 0x8f) used to come out as a cleartext alert of level 143, `unknown_143`.
/// A level other than 1 or 2 makes it an encrypted alert; a 2-byte record with one is no alert.
#[test]
fn garbage_after_resynchronisation_is_not_read_as_alerts() {
    let steps = tls12_handshake();
    let mut server3 = record(23, &[0x55; 500]);
    server3.extend(record(21, &[0x8f; 26]));
    server3.extend(record(21, &[0x8f, 0x8f]));
    server3.extend(record(23, &[0x55; 40]));
    let mut obs = RecordLayer::<Fake>::with_parsers(RecordConfig::default());
    let mut ctx = TlsContext::default();
    for (dir, bytes) in &steps[..3] {
        obs.on_data(&mut ctx, *dir, bytes, Timestamp(1));
    }
    // The server's NewSessionTicket, ChangeCipherSpec and Finished, and the first bytes of
    // its application data, are lost.
    let lost = steps[3].1.len() + 7;
    obs.on_gap(S, lost as u64, Timestamp(2));
    obs.on_data(&mut ctx, S, &server3[7..], Timestamp(3));
    let t = obs.finish();
    let alerts: Vec<_> = events(&t)
        .into_iter()
        .filter(|(_, e)| matches!(e, TlsEvent::Alert(_)))
        .collect();
    assert_eq!(alerts, [(S, ENCRYPTED_ALERT)]);
    assert_eq!(kinds(&t), vec!["gap", "resynchronised", "bad_alert"]);
}

fn tls13_handshake(client_first_protected: usize) -> Vec<Step> {
    let mut flight = record(22, &server_hello(0x0304, false));
    flight.extend(record(20, &[1]));
    flight.extend(record(23, &[0; 30]));
    flight.extend(record(23, &[0; 900]));
    flight.extend(record(23, &[0; 300]));
    let mut client2 = record(20, &[1]);
    client2.extend(record(23, &vec![0; client_first_protected]));
    vec![(C, client_hello()), (S, flight), (C, client2)]
}

#[test]
fn tls13_handshake_is_protected_after_server_hello() {
    let mut steps = tls13_handshake(53);
    steps.push((C, record(23, &[0; 100])));
    steps.push((S, record(23, &[0; 200])));
    steps.push((S, record(23, &[0; 200])));
    let (t, _) = observe(&steps);
    assert_eq!(
        events(&t),
        vec![
            (C, ch(0x0303)),
            (S, sh(0x0304, false)),
            (S, TlsEvent::ChangeCipherSpec),
            (S, TlsEvent::EncryptedHandshake),
            (C, TlsEvent::ChangeCipherSpec),
            (C, TlsEvent::EncryptedHandshake),
            (C, TlsEvent::ApplicationData),
            (S, TlsEvent::ApplicationData),
        ]
    );
    assert_eq!(t.records, [4, 7]);
}

#[test]
fn tls13_alert_sized_last_client_record_is_an_inferred_alert() {
    let (t, _) = observe(&tls13_handshake(19));
    assert_eq!(
        t.events.last().map(|e| (e.from, e.event.clone())),
        Some((C, TlsEvent::Alert(Alert::INFERRED)))
    );
    // Followed by more client records, it was a Finished after all.
    let mut steps = tls13_handshake(19);
    steps.push((C, record(23, &[0; 40])));
    let (t, _) = observe(&steps);
    assert!(events(&t).contains(&(C, TlsEvent::EncryptedHandshake)));
    // A Finished-sized last record is not an alert.
    let (t, _) = observe(&tls13_handshake(53));
    assert_eq!(events(&t).last(), Some(&(C, TlsEvent::EncryptedHandshake)));
}

#[test]
fn tls13_alert_sized_last_server_reply_to_client_finished_is_an_inferred_alert() {
    // The server answers the client's Finished with one alert-sized record and stops.
    let mut steps = tls13_handshake(53);
    steps.push((S, record(23, &[0; 19])));
    let (t, _) = observe(&steps);
    assert_eq!(
        t.events.last().map(|e| (e.from, e.event.clone())),
        Some((S, TlsEvent::Alert(Alert::INFERRED)))
    );
    // A ticket-sized first reply followed by a close_notify is a normal session.
    let mut steps = tls13_handshake(53);
    steps.push((S, record(23, &[0; 200])));
    steps.push((S, record(23, &[0; 19])));
    let (t, _) = observe(&steps);
    assert_eq!(events(&t).last(), Some(&(S, TlsEvent::ApplicationData)));
    // The client closed first (its close_notify), the server only answered it.
    let mut steps = tls13_handshake(53);
    steps.push((C, record(23, &[0; 19])));
    steps.push((S, record(23, &[0; 19])));
    let (t, _) = observe(&steps);
    assert!(
        !t.events
            .iter()
            .any(|e| e.event == TlsEvent::Alert(Alert::INFERRED))
    );
    // More server records after it: not an alert.
    let mut steps = tls13_handshake(53);
    steps.push((S, record(23, &[0; 19])));
    steps.push((S, record(23, &[0; 300])));
    let (t, _) = observe(&steps);
    assert_eq!(events(&t).last(), Some(&(S, TlsEvent::ApplicationData)));
}

#[test]
fn tls13_type21_records_after_the_handshake_are_encrypted_alerts() {
    let mut steps = tls13_handshake(53);
    steps.push((S, record(21, &[0; 19])));
    steps.push((C, record(21, &[2, 80])));
    let (t, _) = observe(&steps);
    let tail = &events(&t)[events(&t).len() - 2..];
    assert_eq!(tail, [(S, ENCRYPTED_ALERT), (C, alert(2, 80))]);
}

#[test]
fn hello_retry_request_then_second_client_hello() {
    let mut client2 = record(20, &[1]);
    client2.extend(record(22, &message(1, &hello_body(0x0303, false))));
    let steps = vec![
        (C, client_hello()),
        (S, record(22, &server_hello(0x0304, true))),
        (C, client2),
        (S, record(22, &server_hello(0x0304, false))),
        (S, record(23, &[0; 100])),
    ];
    let (t, _) = observe(&steps);
    assert_eq!(
        events(&t),
        vec![
            (C, ch(0x0303)),
            (S, sh(0x0304, true)),
            (C, TlsEvent::ChangeCipherSpec),
            (C, ch(0x0303)),
            (S, sh(0x0304, false)),
            (S, TlsEvent::EncryptedHandshake),
        ]
    );
}

fn renegotiations(t: &Transcript) -> Vec<Direction> {
    t.events
        .iter()
        .filter(|e| e.event == TlsEvent::Renegotiation)
        .map(|e| e.from)
        .collect()
}

#[test]
fn encrypted_handshake_after_both_finished_is_a_renegotiation() {
    // Client-initiated, completed (both CCS + Finished), then a second one by the server.
    let mut steps = tls12_handshake();
    steps.push((C, record(22, &[0; 242])));
    steps.push((S, record(22, &[0; 113])));
    steps.push((S, record(22, &[0; 1805])));
    let mut finish = record(22, &[0; 61]);
    finish.extend(record(20, &[0; 25]));
    finish.extend(record(22, &[0; 40]));
    steps.push((C, finish.clone()));
    steps.push((S, finish));
    steps.push((S, record(22, &[0; 28])));
    let (t, _) = observe(&steps);
    assert_eq!(renegotiations(&t), vec![C, S]);
    // Refused: the records that follow the first attempt do not count again.
    let mut steps = tls12_handshake();
    steps.push((C, record(22, &[0; 242])));
    steps.push((S, record(21, &[0; 26])));
    steps.push((C, record(22, &[0; 242])));
    let (t, _) = observe(&steps);
    assert_eq!(renegotiations(&t), vec![C]);
}

#[test]
fn end_of_early_data_sized_first_client_record_means_0rtt_accepted() {
    let early = |client_first: usize| {
        let mut steps = tls13_handshake(client_first);
        // 0-RTT data right after the ClientHello, then the Finished after EndOfEarlyData.
        steps.insert(1, (C, record(23, &[0; 49])));
        steps.push((C, record(23, &[0; 53])));
        observe(&steps).0
    };
    assert!(early(21).early_data_accepted);
    assert!(
        !early(53).early_data_accepted,
        "rejected: no EndOfEarlyData"
    );
    assert!(!observe(&tls13_handshake(21)).0.early_data_accepted);
}

#[test]
fn cleartext_renegotiation_client_hello_is_recorded() {
    let steps = vec![
        (C, client_hello()),
        (S, record(22, &server_hello(0x0303, false))),
        (C, record(22, &message(1, &hello_body(0x0303, false)))),
    ];
    let (t, _) = observe(&steps);
    let hellos = t
        .events
        .iter()
        .filter(|e| matches!(e.event, TlsEvent::ClientHello(_)))
        .count();
    assert_eq!(hellos, 2);
}

#[test]
fn message_spanning_three_records_and_several_per_record() {
    let mut msgs = server_hello(0x0303, false);
    msgs.extend(message(11, &[200; 201]));
    msgs.extend(message(13, &[]));
    msgs.extend(message(14, &[]));
    let (a, rest) = msgs.split_at(70);
    let (b, c) = rest.split_at(100);
    let mut server = record(22, a);
    server.extend(record(22, b));
    server.extend(record(22, c));
    let (t, _) = observe(&[(C, client_hello()), (S, server)]);
    assert_eq!(
        events(&t)[1..],
        [
            (S, sh(0x0303, false)),
            (S, TlsEvent::Certificate(vec![cert(200)])),
            (S, TlsEvent::CertificateRequest),
            (S, TlsEvent::ServerHelloDone),
        ]
    );
}

#[test]
fn oversized_message_is_skipped_with_an_anomaly() {
    let mut msgs = server_hello(0x0303, false);
    msgs.extend(message(11, &[1; 3000]));
    msgs.extend(message(14, &[]));
    let config = RecordConfig {
        max_handshake_message: 1000,
        ..RecordConfig::default()
    };
    let (t, _) = observe_with(
        config,
        &[(C, client_hello()), (S, record(22, &msgs))],
        |_| vec![],
    );
    assert_eq!(kinds(&t), vec!["handshake_message_too_large"]);
    assert_eq!(
        events(&t)[1..],
        [(S, sh(0x0303, false)), (S, TlsEvent::ServerHelloDone)]
    );
}

#[test]
fn starttls_preambles_are_skipped_on_both_sides() {
    let client_text = b"EHLO client\r\nSTARTTLS\r\n".to_vec();
    let server_text = b"220 mx ESMTP\r\n250-mx\r\n250 STARTTLS\r\n220 go ahead\r\n".to_vec();
    let mut server = server_text.clone();
    server.extend(record(22, &server_hello(0x0303, false)));
    let mut client = client_text.clone();
    client.extend(client_hello());
    let steps = vec![
        (S, server_text[..14].to_vec()),
        (C, client),
        (S, server[14..].to_vec()),
    ];
    let (t, tls) = observe(&steps);
    assert!(tls);
    assert_eq!(events(&t), vec![(C, ch(0x0303)), (S, sh(0x0303, false))]);
    assert_eq!(
        t.preamble_bytes,
        [client_text.len() as u64, server_text.len() as u64]
    );
}

#[test]
fn postgres_ssl_request() {
    let mut client = vec![0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    client.extend(client_hello());
    let mut server = b"S".to_vec();
    server.extend(record(22, &server_hello(0x0304, false)));
    let (t, _) = observe(&[(C, client), (S, server)]);
    assert_eq!(t.preamble_bytes, [8, 1]);
    assert_eq!(events(&t), vec![(C, ch(0x0303)), (S, sh(0x0304, false))]);
}

#[test]
fn plain_text_is_not_tls() {
    let steps = vec![
        (C, b"GET / HTTP/1.1\r\n".repeat(5000)),
        (S, b"HTTP/1.1 200 OK\r\n".repeat(10)),
    ];
    let (t, tls) = observe(&steps);
    assert!(!tls);
    assert!(t.events.is_empty());
    assert_eq!(t.preamble_bytes[0], DEFAULT_MAX_PREAMBLE);
    assert_eq!(t.records, [0, 0]);
}

fn sslv2_client_hello() -> Vec<u8> {
    let mut m = vec![1, 3, 1, 0, 6, 0, 0, 0, 16, 0, 0, 0x2f, 0x07, 0x00, 0xc0];
    m.extend([0x55; 16]);
    let mut r = vec![0x80, m.len() as u8];
    r.extend(m);
    r
}

#[test]
fn sslv2_compatible_client_hello_then_tls() {
    let mut server = record(22, &server_hello(0x0301, false));
    server.extend(record(22, &message(14, &[])));
    let steps = vec![
        (C, sslv2_client_hello()),
        (S, server),
        (C, record(22, &message(16, &[0; 10]))),
    ];
    let (t, tls) = observe(&steps);
    assert!(tls);
    let client_hello = client_hello_event(ClientHello {
        sslv2_format: true,
        legacy_version: 0x0301,
        ..ClientHello::default()
    });
    assert_eq!(
        events(&t),
        vec![
            (C, client_hello),
            (S, sh(0x0301, false)),
            (S, TlsEvent::ServerHelloDone),
            (C, TlsEvent::ClientKeyExchange),
        ]
    );
    assert_eq!(t.records, [2, 2]);
}

#[test]
fn sslv2_server_hello_switches_both_sides_to_sslv2() {
    // SERVER-HELLO: no session hit, X.509, version 2, 5-byte certificate, one cipher kind,
    // 16-byte connection id.
    let mut m = vec![4, 0, 1, 0, 2, 0, 5, 0, 3, 0, 16];
    m.extend([9; 5]);
    m.extend([1, 0, 0x80]);
    m.extend([7; 16]);
    let mut server = vec![0x80, m.len() as u8];
    server.extend(m);
    server.extend([0x80, 3, 0xaa, 0xbb, 0xcc]);
    let client_master_key = vec![0x80, 4, 2, 1, 0, 0x80];
    let steps = vec![
        (C, sslv2_client_hello()),
        (S, server),
        (C, client_master_key),
    ];
    let (t, _) = observe(&steps);
    let server_hello = TlsEvent::ServerHello(Box::new(ServerHello {
        sslv2_format: true,
        legacy_version: 2,
        version: 2,
        ..ServerHello::default()
    }));
    assert_eq!(
        events(&t)[1..],
        [(S, server_hello), (S, TlsEvent::Certificate(vec![cert(5)]))]
    );
    assert_eq!(t.records, [2, 2]);
    assert!(t.anomalies.is_empty(), "{:?}", t.anomalies);
}

#[test]
fn gap_then_resync_keeps_counting() {
    let mut steps = tls12_handshake();
    let mut data = Vec::new();
    for _ in 0..4 {
        data.extend(record(23, &[0; 100]));
    }
    steps.push((C, data.clone()));
    let (base, _) = observe(&steps);
    let mut obs = RecordLayer::<Fake>::with_parsers(RecordConfig::default());
    let mut ctx = TlsContext::default();
    for (dir, bytes) in &steps[..steps.len() - 1] {
        obs.on_data(&mut ctx, *dir, bytes, Timestamp(1));
    }
    // Lose the second record's header.
    obs.on_data(&mut ctx, C, &data[..105], Timestamp(2));
    obs.on_gap(C, 50, Timestamp(3));
    obs.on_data(&mut ctx, C, &data[155..], Timestamp(4));
    let (records, _) = obs.counts();
    let t = obs.finish();
    assert_eq!(kinds(&t), vec!["gap", "resynchronised"]);
    assert_eq!(records[0], base.records[0] - 1);
    assert_eq!(events(&t), events(&base));
}

#[test]
fn garbage_after_the_handshake_is_reported_and_skipped() {
    let mut steps = tls12_handshake();
    let mut junk = b"\x00\x01garbage that is not TLS at all".to_vec();
    junk.extend(record(23, &[1; 40]));
    junk.extend(record(21, &[1; 30]));
    steps.push((C, junk));
    let (t, _) = observe(&steps);
    assert_eq!(kinds(&t), vec!["bad_record_header", "resynchronised"]);
    assert_eq!(events(&t).last(), Some(&(C, ENCRYPTED_ALERT)));
}

#[test]
fn hostile_lengths_do_not_allocate() {
    let mut server = record(22, &server_hello(0x0303, false));
    // A message header announcing 16 MiB, then a record header announcing 64 KiB.
    server.extend(record(22, &[11, 0xff, 0xff, 0xff, 0, 0]));
    server.extend([22, 3, 3, 0xff, 0xff]);
    server.extend([0; 64]);
    let config = RecordConfig {
        max_handshake_message: 1 << 16,
        ..RecordConfig::default()
    };
    let (t, _) = observe_with(config, &[(C, client_hello()), (S, server)], |_| vec![]);
    assert_eq!(
        kinds(&t),
        vec!["handshake_message_too_large", "bad_record_header"]
    );
}

#[test]
fn heartbeats_are_reported_and_events_are_capped() {
    let mut server = record(22, &server_hello(0x0303, false));
    for _ in 0..MAX_EVENTS + 10 {
        server.extend(record(24, &[1, 0x40, 0]));
    }
    let (t, _) = observe(&[(C, client_hello()), (S, server)]);
    assert_eq!(t.events.len(), MAX_EVENTS);
    assert_eq!(t.events[2].event, TlsEvent::Heartbeat { len: 3 });
    assert_eq!(kinds(&t), vec!["too_many_events"]);
    assert_eq!(t.records[1], MAX_EVENTS as u64 + 11);
}

#[test]
fn unparsable_hello_is_an_anomaly_but_still_tls() {
    // Detection needs a plausible hello first; put a good one first.
    let mut stream = client_hello();
    stream.extend(record(22, &message(1, &[3])));
    let (t, tls) = observe(&[(C, stream)]);
    assert!(tls);
    assert_eq!(kinds(&t), vec!["handshake_parse_error"]);
    assert_eq!(t.events.len(), 1);
}

#[test]
fn buffers_are_released_once_both_sides_encrypt() {
    let mut obs = RecordLayer::<Fake>::with_parsers(RecordConfig::default());
    let mut ctx = TlsContext::default();
    for (dir, bytes) in tls12_handshake() {
        obs.on_data(&mut ctx, dir, &bytes, Timestamp(1));
    }
    assert!(obs.records.cleartext_over());
    let big = record(23, &[0; 16000]);
    for c in big.chunks(700) {
        obs.on_data(&mut ctx, C, c, Timestamp(2));
    }
    assert_eq!(obs.counts().0[0], 7);
}

proptest::proptest! {
    #[test]
    fn arbitrary_input_never_panics(
        chunks in proptest::collection::vec(
            (proptest::bool::ANY, proptest::option::of(1u64..100_000), proptest::collection::vec(proptest::num::u8::ANY, 0..300)),
            0..40,
        ),
    ) {
        let mut obs = RecordLayer::<Fake>::with_parsers(RecordConfig::default());
        let mut ctx = TlsContext::default();
        // Start both sides as TLS so that the bytes reach the record layer.
        obs.on_data(&mut ctx, C, &client_hello(), Timestamp(0));
        obs.on_data(&mut ctx, S, &record(22, &server_hello(0x0303, false)), Timestamp(0));
        for (n, (server, gap, bytes)) in chunks.iter().enumerate() {
            let dir = if *server { S } else { C };
            if let Some(len) = gap {
                obs.on_gap(dir, *len, Timestamp(n as i64));
            }
            obs.on_data(&mut ctx, dir, bytes, Timestamp(n as i64));
        }
        let t = obs.finish();
        proptest::prop_assert!(t.events.len() <= MAX_EVENTS);
        proptest::prop_assert!(t.anomalies.len() <= MAX_ANOMALIES);
    }

    #[test]
    fn random_splits_give_the_same_events(cuts in proptest::collection::vec(0usize..700, 0..12)) {
        let steps = tls13_handshake(53);
        let (whole, _) = observe(&steps);
        let mut sorted = cuts.clone();
        sorted.sort_unstable();
        let (t, _) = observe_with(RecordConfig::default(), &steps, |_| sorted.clone());
        proptest::prop_assert_eq!(events(&t), events(&whole));
        proptest::prop_assert_eq!(t.records, whole.records);
    }
}
