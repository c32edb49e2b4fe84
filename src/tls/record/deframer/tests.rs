//! Tests of `deframer`.

use super::*;

/// What a test sink saw.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Record(u8, u16, Option<Vec<u8>>, bool),
    Anomaly(&'static str),
}

/// Collects records; wants handshake and alert bodies, like the observer in cleartext.
#[derive(Default)]
struct Sink {
    seen: Vec<Seen>,
    peer_hello: bool,
    framing: Framing,
    stamps: Vec<Timestamp>,
}

impl RecordSink for Sink {
    fn wants_body(&self, h: &RecordHeader) -> bool {
        h.framing == Framing::Sslv2
            || matches!(h.content_type, ContentType::ALERT | ContentType::HANDSHAKE)
    }
    fn record(&mut self, h: RecordHeader, body: RecordBody<'_>, ts: Timestamp) {
        let (data, lost) = match body {
            RecordBody::Data(b) => (Some(b.to_vec()), false),
            RecordBody::Skipped => (None, false),
            RecordBody::Lost => (None, true),
        };
        self.seen
            .push(Seen::Record(h.content_type.0, h.len, data, lost));
        self.stamps.push(ts);
    }
    fn anomaly(&mut self, kind: AnomalyKind) {
        self.seen.push(Seen::Anomaly(kind.name()));
    }
    fn peer_sent_client_hello(&self) -> bool {
        self.peer_hello
    }
    fn framing(&self) -> Framing {
        self.framing
    }
}

fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A handshake record holding a ClientHello-shaped message of `n` body bytes.
fn hello_record_bytes(msg_type: u8, n: usize) -> Vec<u8> {
    let mut body = vec![msg_type, 0, (n >> 8) as u8, n as u8, 3, 3];
    body.resize(4 + n, 0xaa);
    let mut r = record(ContentType::HANDSHAKE.0, &body);
    r[2] = 1;
    r
}

fn run(chunks: &[&[u8]]) -> (Vec<Seen>, u64) {
    let mut d = Deframer::default();
    let mut sink = Sink::default();
    for (i, c) in chunks.iter().enumerate() {
        d.feed(c, Timestamp(i as i64), &mut sink);
    }
    d.finish(&mut sink);
    (sink.seen, d.preamble_bytes())
}

fn stream() -> Vec<u8> {
    let mut s = hello_record_bytes(1, 40);
    s.extend(record(ContentType::ALERT.0, &[1, 0, 2, 40]));
    s.extend(record(ContentType::APPLICATION_DATA.0, &[9; 30]));
    s.extend(record(ContentType::CHANGE_CIPHER_SPEC.0, &[1]));
    s.extend(record(ContentType::HANDSHAKE.0, &[]));
    s.extend(record(ContentType::HEARTBEAT.0, &[1, 2, 3]));
    s
}

#[test]
fn records_are_the_same_whatever_the_split() {
    let s = stream();
    let (whole, pre) = run(&[&s]);
    assert_eq!(pre, 0);
    assert_eq!(whole.len(), 6);
    assert_eq!(
        whole[1],
        Seen::Record(ContentType::ALERT.0, 4, Some(vec![1, 0, 2, 40]), false)
    );
    assert_eq!(
        whole[2],
        Seen::Record(ContentType::APPLICATION_DATA.0, 30, None, false)
    );
    assert_eq!(
        whole[4],
        Seen::Record(ContentType::HANDSHAKE.0, 0, Some(vec![]), false)
    );
    for i in 0..=s.len() {
        for j in i..=s.len() {
            let (a, b) = s.split_at(i);
            let (b, c) = b.split_at(j - i);
            assert_eq!(run(&[a, b, c]).0, whole, "split at {i}, {j}");
        }
    }
    let bytes: Vec<&[u8]> = s.chunks(1).collect();
    assert_eq!(run(&bytes).0, whole);
}

#[test]
fn timestamp_is_that_of_the_completing_chunk() {
    let s = stream();
    let mut d = Deframer::default();
    let mut sink = Sink::default();
    // The alert record's last byte comes in the second chunk.
    let cut = 49 + 5 + 3;
    d.feed(&s[..cut], Timestamp(1), &mut sink);
    d.feed(&s[cut..], Timestamp(2), &mut sink);
    assert_eq!(
        sink.stamps,
        vec![
            Timestamp(1),
            Timestamp(2),
            Timestamp(2),
            Timestamp(2),
            Timestamp(2),
            Timestamp(2)
        ]
    );
}

#[test]
fn starttls_preamble_is_skipped() {
    let mut s = b"EHLO example.org\r\nSTARTTLS\r\n".to_vec();
    let pre = s.len() as u64;
    s.extend(hello_record_bytes(1, 40));
    for i in 0..=s.len() {
        let (seen, skipped) = run(&[&s[..i], &s[i..]]);
        assert_eq!(skipped, pre, "split {i}");
        assert!(matches!(
            seen.as_slice(),
            [Seen::Record(22, 44, Some(_), false)]
        ));
    }
}

#[test]
fn near_misses_in_the_preamble_are_skipped() {
    // Content-type bytes and almost-records in the plaintext, then the real ClientHello.
    let mut s = b"\x16\x16\x03\x01\x00\x10\x02 text \x15\x03\x03\x00\x02\x02".to_vec();
    let mut almost = hello_record_bytes(1, 40);
    almost[9] = 2; // legacy version 2.x: not a ClientHello
    s.extend(&almost[..12]);
    let pre = s.len() as u64;
    s.extend(hello_record_bytes(1, 40));
    for i in 0..=s.len() {
        let (seen, skipped) = run(&[&s[..i], &s[i..]]);
        assert_eq!((seen.len(), skipped), (1, pre), "split {i}");
    }
}

#[test]
fn mysql_ssl_request_before_client_hello() {
    // A 36-byte MySQL SSL request packet, then the ClientHello.
    let mut s = vec![0x20, 0, 0, 1, 0x85, 0xae, 0x7f, 0];
    s.resize(36, 0);
    s.extend(hello_record_bytes(1, 200));
    let (seen, skipped) = run(&[&s]);
    assert_eq!(skipped, 36);
    assert_eq!(seen.len(), 1);
}

#[test]
fn server_side_starts_after_preamble_only_once_the_client_said_hello() {
    let mut s = b"220 ready\r\n".to_vec();
    s.extend(hello_record_bytes(2, 60));
    let (seen, skipped) = run(&[&s]);
    assert!(seen.is_empty());
    assert_eq!(skipped, s.len() as u64);

    let mut d = Deframer::default();
    let mut sink = Sink {
        peer_hello: true,
        ..Sink::default()
    };
    d.feed(&s, Timestamp(0), &mut sink);
    assert_eq!(d.preamble_bytes(), 11);
    assert_eq!(sink.seen.len(), 1);

    // A server hello at the very start needs no client hello.
    let (seen, _) = run(&[&hello_record_bytes(2, 60)]);
    assert_eq!(seen.len(), 1);
}

#[test]
fn server_alert_after_preamble() {
    let mut s = b"S".to_vec();
    s.extend(record(ContentType::ALERT.0, &[2, 70]));
    let mut d = Deframer::default();
    let mut sink = Sink {
        peer_hello: true,
        ..Sink::default()
    };
    d.feed(&s, Timestamp(0), &mut sink);
    assert_eq!(d.preamble_bytes(), 1);
    assert_eq!(
        sink.seen,
        vec![Seen::Record(
            ContentType::ALERT.0,
            2,
            Some(vec![2, 70]),
            false
        )]
    );
}

#[test]
fn gives_up_after_the_preamble_limit() {
    let text = vec![b'x'; 100];
    let mut s = text.clone();
    s.extend(hello_record_bytes(1, 40));
    let mut d = Deframer::new(64);
    let mut sink = Sink::default();
    d.feed(&s, Timestamp(0), &mut sink);
    assert!(sink.seen.is_empty());
    assert_eq!(d.preamble_bytes(), 64);
}

/// An SSLv2-compatible CLIENT-HELLO: 3 cipher kinds, no session id, 16-byte challenge.
fn sslv2_client_hello_bytes() -> Vec<u8> {
    let mut m = vec![1, 3, 1, 0, 9, 0, 0, 0, 16];
    m.extend([0, 0, 0x2f, 0x01, 0x00, 0x80, 0, 0, 0x0a]);
    m.extend([0x55; 16]);
    let mut r = vec![0x80 | (m.len() >> 8) as u8, m.len() as u8];
    r.extend(m);
    r
}

#[test]
fn sslv2_client_hello_is_detected_at_the_start_only() {
    let s = sslv2_client_hello_bytes();
    for i in 0..=s.len() {
        let (seen, skipped) = run(&[&s[..i], &s[i..]]);
        assert_eq!(skipped, 0);
        assert_eq!(seen.len(), 1, "split {i}");
        let Seen::Record(0, len, Some(body), false) = &seen[0] else {
            panic!("{seen:?}");
        };
        assert_eq!(usize::from(*len), s.len() - 2);
        assert_eq!(body[0], crate::tls::handshake::hello::SSLV2_CLIENT_HELLO);
    }
    let mut late = b"hi".to_vec();
    late.extend(&s);
    assert!(run(&[&late]).0.is_empty());
}

#[test]
fn detection_on_a_whole_window_agrees_with_byte_at_a_time() {
    let mut after_preamble = b"220 mail ESMTP\r\n\x16\x03 STARTTLS\r\n".to_vec();
    after_preamble.extend(stream());
    let mut near_miss = hello_record_bytes(1, 40);
    near_miss[9] = 0x09; // not a known version: no TLS here, TLS a few bytes on
    near_miss.extend(stream());
    for s in [
        stream(),
        sslv2_client_hello_bytes(),
        after_preamble,
        near_miss,
    ] {
        let whole = run(&[&s]);
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(run(&bytes), whole, "{s:?}");
        assert!(!whole.0.is_empty(), "{s:?}");
    }
}

#[test]
fn sslv2_framing_reads_two_and_three_byte_headers() {
    let mut s = sslv2_client_hello_bytes();
    s.extend([0x80, 3, 1, 2, 3]);
    s.extend([0x00, 4, 7, 1, 2, 3, 4]);
    let mut d = Deframer::default();
    let mut sink = Sink {
        framing: Framing::Sslv2,
        ..Sink::default()
    };
    d.feed(&s, Timestamp(0), &mut sink);
    assert_eq!(sink.seen.len(), 3);
    assert_eq!(sink.seen[1], Seen::Record(0, 3, Some(vec![1, 2, 3]), false));
    assert_eq!(
        sink.seen[2],
        Seen::Record(0, 4, Some(vec![1, 2, 3, 4]), false)
    );
}

#[test]
fn garbage_is_reported_and_skipped() {
    let mut s = hello_record_bytes(1, 40);
    s.extend(b"GET / HTTP/1.1\r\n\r\n");
    s.extend(record(ContentType::APPLICATION_DATA.0, &[1; 10]));
    s.extend(record(ContentType::APPLICATION_DATA.0, &[2; 20]));
    let expected = vec![
        Seen::Record(
            ContentType::HANDSHAKE.0,
            44,
            Some(hello_record_bytes(1, 40)[5..].to_vec()),
            false,
        ),
        Seen::Anomaly("bad_record_header"),
        Seen::Anomaly("resynchronised"),
        Seen::Record(ContentType::APPLICATION_DATA.0, 10, None, false),
        Seen::Record(ContentType::APPLICATION_DATA.0, 20, None, false),
    ];
    for i in 0..=s.len() {
        assert_eq!(run(&[&s[..i], &s[i..]]).0, expected, "split {i}");
    }
}

#[test]
fn hostile_length_is_a_bad_header() {
    let mut s = hello_record_bytes(1, 40);
    s.extend([ContentType::HANDSHAKE.0, 3, 3, 0xff, 0xff]);
    s.extend([0u8; 100]);
    let (seen, _) = run(&[&s]);
    assert_eq!(seen[1], Seen::Anomaly("bad_record_header"));
    assert_eq!(seen.len(), 2);
}

#[test]
fn gap_inside_a_body_keeps_the_framing() {
    let s = stream();
    let mut d = Deframer::default();
    let mut sink = Sink::default();
    // Lose 10 bytes inside the ClientHello record's body.
    d.feed(&s[..20], Timestamp(0), &mut sink);
    d.gap(10, Timestamp(1));
    d.feed(&s[30..], Timestamp(2), &mut sink);
    assert_eq!(
        sink.seen[0],
        Seen::Record(ContentType::HANDSHAKE.0, 44, None, true)
    );
    assert_eq!(sink.seen.len(), 6);
    assert!(!sink.seen.iter().any(|s| matches!(s, Seen::Anomaly(_))));
}

#[test]
fn gap_ending_a_body_completes_the_record() {
    let s = hello_record_bytes(1, 40);
    let mut d = Deframer::default();
    let mut sink = Sink::default();
    d.feed(&s[..20], Timestamp(0), &mut sink);
    d.gap((s.len() - 20) as u64, Timestamp(1));
    d.finish(&mut sink);
    assert_eq!(
        sink.seen,
        vec![Seen::Record(ContentType::HANDSHAKE.0, 44, None, true)]
    );
    assert_eq!(sink.stamps, vec![Timestamp(1)]);
}

#[test]
fn gap_across_records_resynchronises() {
    let mut s = hello_record_bytes(1, 40);
    let start = s.len();
    for i in 0..6u8 {
        s.extend(record(ContentType::APPLICATION_DATA.0, &[i; 25]));
    }
    let mut d = Deframer::default();
    let mut sink = Sink::default();
    // Lose from the middle of the second app-data record into the middle of the third.
    let from = start + 30 + 10;
    let to = start + 60 + 12;
    d.feed(&s[..from], Timestamp(0), &mut sink);
    d.gap((to - from) as u64, Timestamp(1));
    d.feed(&s[to..], Timestamp(2), &mut sink);
    let records = sink
        .seen
        .iter()
        .filter(|s| matches!(s, Seen::Record(..)))
        .count();
    // The ClientHello, the first app-data record, then the fourth to sixth.
    assert_eq!(records, 5);
    assert_eq!(sink.seen[2], Seen::Anomaly("resynchronised"));
}

#[test]
fn a_resync_candidate_at_the_end_is_delivered_by_finish() {
    let mut s = hello_record_bytes(1, 40);
    s.extend(b"junk");
    s.extend(record(ContentType::ALERT.0, &[1, 0]));
    let (seen, _) = run(&[&s]);
    assert_eq!(
        seen[1..],
        [
            Seen::Anomaly("bad_record_header"),
            Seen::Anomaly("resynchronised"),
            Seen::Record(ContentType::ALERT.0, 2, Some(vec![1, 0]), false),
        ]
    );
}

#[test]
fn a_false_candidate_is_dropped() {
    let mut s = hello_record_bytes(1, 40);
    // Looks like a header, but what follows its 3-byte body is not one.
    s.extend([
        0xee,
        ContentType::APPLICATION_DATA.0,
        3,
        3,
        0,
        3,
        1,
        2,
        3,
        0xee,
        0xee,
        0xee,
        0xee,
        0xee,
    ]);
    s.extend(record(ContentType::APPLICATION_DATA.0, &[7; 8]));
    s.extend(record(ContentType::APPLICATION_DATA.0, &[7; 8]));
    let (seen, _) = run(&[&s]);
    assert_eq!(
        seen[1..],
        [
            Seen::Anomaly("bad_record_header"),
            Seen::Anomaly("resynchronised"),
            Seen::Record(ContentType::APPLICATION_DATA.0, 8, None, false),
            Seen::Record(ContentType::APPLICATION_DATA.0, 8, None, false),
        ]
    );
}

#[test]
fn skipped_bodies_are_not_buffered() {
    let mut s = hello_record_bytes(1, 40);
    s.extend(record(ContentType::APPLICATION_DATA.0, &[5; 16000]));
    let mut d = Deframer::default();
    let mut sink = Sink::default();
    for c in s.chunks(1000) {
        d.feed(c, Timestamp(0), &mut sink);
    }
    assert_eq!(sink.seen.len(), 2);
    // Only the ClientHello, split by the detection, was ever copied.
    assert!(d.buf.capacity() < 100);
}

/// Regression (issue #20): resynchronising, an alert header is a candidate only when its
/// length is one an alert record can have (2 bytes in cleartext, or [`ENCRYPTED_ALERT_LEN`]),
/// so that encrypted bytes that happen to read `15 03 03` are not taken for an alert.
#[test]
fn resync_rejects_alert_candidates_of_impossible_length() {
    for (len, candidate) in [
        (2u16, true),
        (4, false),
        (17, false),
        (18, true),
        (2050, true),
    ]
    .into_iter()
    .chain([(2051, false), (16_000, false)])
    {
        let mut s = hello_record_bytes(1, 40);
        s.extend(b"junk");
        s.extend(record(ContentType::ALERT.0, &vec![1; usize::from(len)]));
        s.extend(record(ContentType::APPLICATION_DATA.0, &[7; 8]));
        let (seen, _) = run(&[&s]);
        let alert_seen = seen.iter().any(
            |x| matches!(x, Seen::Record(t, l, ..) if *t == ContentType::ALERT.0 && *l == len),
        );
        assert_eq!(alert_seen, candidate, "alert of {len} bytes: {seen:?}");
    }
}
