//! Record deframing: [`Deframer`] turns one direction's in-order TCP payload (split anywhere)
//! into TLS records. It also finds where TLS starts (by content, not port, with the signatures
//! of [`super::detect`]: straight away, after a plaintext STARTTLS-style preamble, or as an
//! SSLv2-compatible hello) and resynchronises after gaps and garbage. It copies a record body
//! only when its consumer asks for it (cleartext handshake and alert records), so encrypted
//! traffic is walked header by header without copying.
//!
//! Bounded: a record body buffer never exceeds [`MAX_RECORD_LEN`] (or the SSLv2 maximum of
//! 32767 bytes), and hostile length fields never cause an allocation beyond it.

use super::detect::{DETECT_WINDOW, Detect, detect};
use crate::flow::Timestamp;
use crate::tls::codes::ContentType;
use crate::tls::handshake::AnomalyKind;

/// Largest record body accepted: 2^14 plaintext bytes plus 2048 of expansion, the TLS 1.2 bound
/// on `TLSCiphertext.length` (RFC 5246 §6.2.3; TLS 1.3 allows less). Anything longer is not TLS.
pub const MAX_RECORD_LEN: u16 = 16384 + 2048;

/// Default number of bytes per direction scanned for the start of TLS before giving up: 64 KiB,
/// enough for any STARTTLS dialogue (banner, capabilities, the upgrade command and its reply).
pub const DEFAULT_MAX_PREAMBLE: u64 = 64 * 1024;

/// How records are framed on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// 5-byte TLS record headers (SSLv3 and later).
    #[default]
    Tls,
    /// SSLv2 record headers (2 bytes, or 3 with padding).
    Sslv2,
}

/// A record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// Framing the record came in.
    pub framing: Framing,
    /// TLS content type (20..=24); 0 for SSLv2 records, which have none.
    pub content_type: ContentType,
    /// Record-layer version; 0x0002 for SSLv2 records.
    pub version: u16,
    /// Body length.
    pub len: u16,
}

impl RecordHeader {
    /// Reads a TLS record header, with no judgement on its plausibility.
    fn tls(bytes: [u8; 5]) -> Self {
        RecordHeader {
            framing: Framing::Tls,
            content_type: ContentType(bytes[0]),
            version: u16::from_be_bytes([bytes[1], bytes[2]]),
            len: u16::from_be_bytes([bytes[3], bytes[4]]),
        }
    }

    /// Whether a TLS header could start a record of a TLS stream: a known content type,
    /// SSLv3..TLS 1.3 record version, and a length within [`MAX_RECORD_LEN`].
    pub fn is_plausible(&self) -> bool {
        (ContentType::CHANGE_CIPHER_SPEC..=ContentType::HEARTBEAT).contains(&self.content_type)
            && (0x0300..=0x0304).contains(&self.version)
            && self.len <= MAX_RECORD_LEN
    }

    /// The stricter test used when resynchronising in the middle of unknown bytes, where a
    /// false positive costs a record: nonempty, and a ChangeCipherSpec exactly one byte long.
    /// A candidate must also be followed by a header passing [`Self::confirms`].
    fn is_plausible_resync(&self) -> bool {
        self.is_plausible()
            && self.len > 0
            && (self.content_type != ContentType::CHANGE_CIPHER_SPEC || self.len == 1)
    }

    /// Whether this header, right after a resynchronisation `candidate`, confirms it: plausible
    /// on the same terms and with the same record version (a stream's records after its first
    /// share one version).
    fn confirms(&self, candidate: &RecordHeader) -> bool {
        self.is_plausible_resync() && self.version == candidate.version
    }
}

/// A record body as handed to the [`RecordSink`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordBody<'a> {
    /// The whole body (the sink asked for it).
    Data(&'a [u8]),
    /// Not copied: the sink did not ask for it.
    Skipped,
    /// Asked for, but part of it fell into a gap.
    Lost,
}

/// Receives what a [`Deframer`] finds; implemented by the observer for one direction.
pub trait RecordSink {
    /// Whether this record's body is needed. Bodies not needed are skipped without copying.
    fn wants_body(&self, header: &RecordHeader) -> bool;
    /// A complete record; `ts` is the time of the chunk that completed it.
    fn record(&mut self, header: RecordHeader, body: RecordBody<'_>, ts: Timestamp);
    /// A protocol oddity (`bad_record_header`, `resynchronised`).
    fn anomaly(&mut self, kind: AnomalyKind);
    /// Whether the other direction sent a ClientHello, which lets this direction's TLS start
    /// after a preamble with a ServerHello or an alert (the server side of a STARTTLS upgrade).
    fn peer_sent_client_hello(&self) -> bool;
    /// Framing of the next record once this direction has delivered one (SSLv2 only when the
    /// server answered in SSLv2).
    fn framing(&self) -> Framing;
}

/// What the deframer is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Looking for where TLS starts; `window[..window_len]` holds the undecided bytes.
    Detect,
    /// Collecting a record header into `window`.
    Header,
    /// Inside a record body.
    Body {
        /// The record's header.
        header: RecordHeader,
        /// Body bytes still to come.
        remaining: u16,
        /// Whether the body is being copied into `buf`.
        want: bool,
        /// Whether part of the body fell into a gap.
        lost: bool,
        /// A candidate record found while resynchronising, confirmed only by a plausible header
        /// right after it.
        probation: bool,
    },
    /// Lost sync: sliding `window` over the bytes looking for a plausible header.
    Resync,
    /// Not TLS (no start found within the preamble limit) or unrecoverable: ignore the rest.
    Off,
}

/// A resynchronisation candidate record waiting for the next header to confirm it.
#[derive(Clone, Copy, Debug)]
struct Held {
    header: RecordHeader,
    /// Where its body is.
    body: HeldBody,
    ts: Timestamp,
}

/// Where a held record's body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeldBody {
    InBuf,
    Skipped,
    Lost,
}

/// Splits one direction's byte stream into records.
#[derive(Debug)]
pub struct Deframer {
    state: State,
    framing: Framing,
    window: [u8; DETECT_WINDOW],
    window_len: usize,
    buf: Vec<u8>,
    held: Option<Held>,
    /// Records delivered.
    records: u64,
    preamble: u64,
    max_preamble: u64,
    /// Time of the last gap, for a record completed by it.
    gap_ts: Timestamp,
}

impl Default for Deframer {
    fn default() -> Self {
        Deframer::new(DEFAULT_MAX_PREAMBLE)
    }
}

impl Deframer {
    /// A deframer at the start of a stream, which gives up looking for TLS after `max_preamble`
    /// bytes.
    pub fn new(max_preamble: u64) -> Self {
        Deframer {
            state: State::Detect,
            framing: Framing::Tls,
            window: [0; DETECT_WINDOW],
            window_len: 0,
            buf: Vec::new(),
            held: None,
            records: 0,
            preamble: 0,
            max_preamble,
            gap_ts: Timestamp(0),
        }
    }

    /// Bytes skipped before TLS started (or scanned in vain).
    pub fn preamble_bytes(&self) -> u64 {
        self.preamble
    }

    /// Frees the body buffer, once no more cleartext records are expected.
    pub fn release(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = Vec::new();
        }
    }

    /// Feeds in-order bytes that arrived at `ts`.
    pub fn feed(&mut self, mut input: &[u8], ts: Timestamp, sink: &mut impl RecordSink) {
        self.complete_at_gap(sink);
        while !input.is_empty() {
            match self.state {
                State::Off => return,
                State::Detect => self.detect_byte(&mut input, ts, sink),
                State::Resync => self.resync_byte(&mut input, ts, sink),
                State::Header => self.header_bytes(&mut input, ts, sink),
                State::Body {
                    header,
                    remaining,
                    want,
                    lost,
                    probation,
                } => {
                    let take = usize::from(remaining).min(input.len());
                    let (now, rest) = input.split_at(take);
                    input = rest;
                    let remaining = remaining - take as u16;
                    let copy = want && !lost;
                    if remaining == 0 && copy && self.buf.is_empty() && !probation {
                        // The whole body is in this chunk: hand it over without copying.
                        self.state = State::Header;
                        self.deliver(header, RecordBody::Data(now), ts, sink);
                        continue;
                    }
                    if copy {
                        self.buf.extend_from_slice(now);
                    }
                    self.state = State::Body {
                        header,
                        remaining,
                        want,
                        lost,
                        probation,
                    };
                    if remaining == 0 {
                        self.body_done(ts, sink);
                    }
                }
            }
        }
    }

    /// `len` bytes are missing from the stream, at `ts`. Inside a record body the framing
    /// survives (the record is delivered with [`RecordBody::Lost`] if its body was wanted, when
    /// the stream goes on); anywhere else the deframer resynchronises on the next plausible
    /// header.
    pub fn gap(&mut self, len: u64, ts: Timestamp) {
        match self.state {
            State::Off => {}
            State::Detect => {
                self.preamble = self.preamble.saturating_add(self.window_len as u64 + len);
                self.window_len = 0;
                if self.preamble >= self.max_preamble {
                    self.state = State::Off;
                }
            }
            State::Body {
                header,
                remaining,
                want,
                probation,
                ..
            } if len <= u64::from(remaining) => {
                self.buf.clear();
                self.gap_ts = ts;
                self.state = State::Body {
                    header,
                    remaining: remaining - len as u16,
                    want,
                    lost: true,
                    probation,
                };
            }
            _ => self.lose_sync(),
        }
    }

    /// Completes a record whose body ended exactly at a gap.
    fn complete_at_gap(&mut self, sink: &mut impl RecordSink) {
        if let State::Body { remaining: 0, .. } = self.state {
            self.body_done(self.gap_ts, sink);
        }
    }

    /// Whether [`finish`](Self::finish) has a record to deliver.
    pub fn has_pending_record(&self) -> bool {
        self.held.is_some() || matches!(self.state, State::Body { remaining: 0, .. })
    }

    /// End of the stream: delivers a record that ended at a gap, and a resynchronisation
    /// candidate still waiting for confirmation (nothing follows it, so the next-header check
    /// cannot be made).
    pub fn finish(&mut self, sink: &mut impl RecordSink) {
        self.complete_at_gap(sink);
        if self.state == State::Header && self.window_len == 0 {
            self.confirm_held(sink);
        }
    }

    /// Drops all partial state and starts looking for a plausible header.
    fn lose_sync(&mut self) {
        self.held = None;
        self.buf.clear();
        self.window_len = 0;
        self.state = if self.framing == Framing::Tls {
            State::Resync
        } else {
            // SSLv2 headers carry too little to be recognised in the middle of a stream.
            State::Off
        };
    }

    /// A record body is complete (state is `Body` with `remaining == 0`).
    fn body_done(&mut self, ts: Timestamp, sink: &mut impl RecordSink) {
        let State::Body {
            header,
            want,
            lost,
            probation,
            ..
        } = self.state
        else {
            return;
        };
        self.state = State::Header;
        let held_body = match (want, lost) {
            (_, true) => HeldBody::Lost,
            (true, false) => HeldBody::InBuf,
            (false, false) => HeldBody::Skipped,
        };
        if probation {
            self.held = Some(Held {
                header,
                body: held_body,
                ts,
            });
            return;
        }
        self.deliver_from_buf(header, held_body, ts, sink);
    }

    fn deliver_from_buf(
        &mut self,
        header: RecordHeader,
        body: HeldBody,
        ts: Timestamp,
        sink: &mut impl RecordSink,
    ) {
        let buf = std::mem::take(&mut self.buf);
        let body_ref = match body {
            HeldBody::InBuf => RecordBody::Data(&buf),
            HeldBody::Skipped => RecordBody::Skipped,
            HeldBody::Lost => RecordBody::Lost,
        };
        self.deliver(header, body_ref, ts, sink);
        self.buf = buf;
        self.buf.clear();
    }

    fn deliver(
        &mut self,
        header: RecordHeader,
        body: RecordBody<'_>,
        ts: Timestamp,
        sink: &mut impl RecordSink,
    ) {
        self.records += 1;
        sink.record(header, body, ts);
    }

    /// Confirms the held resynchronisation candidate, if any.
    fn confirm_held(&mut self, sink: &mut impl RecordSink) {
        if let Some(held) = self.held.take() {
            sink.anomaly(AnomalyKind::Resynchronised);
            self.deliver_from_buf(held.header, held.body, held.ts, sink);
        }
    }

    /// Starts the body of a record whose header was accepted.
    fn start_body(
        &mut self,
        header: RecordHeader,
        probation: bool,
        ts: Timestamp,
        sink: &mut impl RecordSink,
    ) {
        let want = sink.wants_body(&header);
        self.state = State::Body {
            header,
            remaining: header.len,
            want,
            lost: false,
            probation,
        };
        if header.len == 0 {
            self.body_done(ts, sink);
        }
    }

    /// Length of the header being collected: 5 for TLS; for SSLv2, 2 or 3 depending on the
    /// first byte's top bit.
    fn header_len(&self) -> usize {
        match (self.framing, self.window_len) {
            (Framing::Tls, _) => 5,
            (Framing::Sslv2, 0) => 2,
            (Framing::Sslv2, _) if self.window[0] & 0x80 == 0 => 3,
            (Framing::Sslv2, _) => 2,
        }
    }

    /// Collects header bytes; on a complete header, judges it.
    fn header_bytes(&mut self, input: &mut &[u8], ts: Timestamp, sink: &mut impl RecordSink) {
        if self.window_len == 0 && self.records > 0 {
            self.framing = sink.framing();
        }
        while self.window_len < self.header_len() {
            let Some((&b, rest)) = input.split_first() else {
                return;
            };
            *input = rest;
            self.push_window(b);
        }
        self.window_len = 0;
        match self.framing {
            Framing::Sslv2 => {
                let [b0, b1, ..] = self.window;
                let len = if b0 & 0x80 != 0 {
                    u16::from_be_bytes([b0 & 0x7f, b1])
                } else {
                    u16::from_be_bytes([b0 & 0x3f, b1])
                };
                let header = RecordHeader {
                    framing: Framing::Sslv2,
                    content_type: ContentType(0),
                    version: 0x0002,
                    len,
                };
                self.start_body(header, false, ts, sink);
            }
            Framing::Tls => {
                let [a, b, c, d, e, ..] = self.window;
                let header = RecordHeader::tls([a, b, c, d, e]);
                let accepted = match &self.held {
                    Some(held) => header.confirms(&held.header),
                    None => header.is_plausible(),
                };
                if accepted {
                    self.confirm_held(sink);
                    self.start_body(header, false, ts, sink);
                    return;
                }
                if self.held.take().is_none() {
                    sink.anomaly(AnomalyKind::BadRecordHeader);
                }
                // A false resynchronisation candidate is dropped like garbage; its body is gone,
                // so scanning resumes after this header's first byte.
                self.buf.clear();
                self.window.copy_within(1..5, 0);
                self.window_len = 4;
                self.state = State::Resync;
            }
        }
    }

    /// Appends a byte to the window (never beyond its size).
    fn push_window(&mut self, b: u8) {
        if let Some(slot) = self.window.get_mut(self.window_len) {
            *slot = b;
            self.window_len += 1;
        }
    }

    /// Consumes one byte while resynchronising: with five bytes in the window, either accepts
    /// them as a candidate header (on probation) or slides on.
    fn resync_byte(&mut self, input: &mut &[u8], ts: Timestamp, sink: &mut impl RecordSink) {
        let Some((&b, rest)) = input.split_first() else {
            return;
        };
        *input = rest;
        self.push_window(b);
        if self.window_len < 5 {
            return;
        }
        let [a, b, c, d, e, ..] = self.window;
        let header = RecordHeader::tls([a, b, c, d, e]);
        if header.is_plausible_resync() {
            self.window_len = 0;
            self.start_body(header, true, ts, sink);
        } else {
            self.window.copy_within(1..5, 0);
            self.window_len = 4;
        }
    }

    /// Skips, without looking closer, the preamble bytes that cannot start a record (anything
    /// but an alert or handshake content type, or an SSLv2 header's first byte at the very
    /// start), so that long plaintext is scanned at memchr-like speed. Returns `false` when the
    /// preamble limit was reached.
    fn skip_to_candidate(&mut self, input: &mut &[u8]) -> bool {
        let at_start = self.preamble == 0;
        let skip = input
            .iter()
            .enumerate()
            .position(|(i, &b)| {
                b == ContentType::HANDSHAKE.0
                    || b == ContentType::ALERT.0
                    || (i == 0 && at_start && b & 0x80 != 0)
            })
            .unwrap_or(input.len());
        let room = self.max_preamble.saturating_sub(self.preamble);
        if skip as u64 >= room && skip > 0 {
            self.preamble = self.max_preamble;
            self.state = State::Off;
            return false;
        }
        self.preamble += skip as u64;
        *input = input.get(skip..).unwrap_or_default();
        true
    }

    /// Consumes one byte while looking for the start of TLS.
    fn detect_byte(&mut self, input: &mut &[u8], ts: Timestamp, sink: &mut impl RecordSink) {
        if self.window_len == 0 && !self.skip_to_candidate(input) {
            return;
        }
        if self.window_len == 0
            && let Some(head) = input.get(..DETECT_WINDOW)
            && let Detect::Yes(framing) =
                detect(head, self.preamble == 0, sink.peer_sent_client_hello())
        {
            // The whole window is at hand and TLS starts here: the verdict is the one the byte
            // at a time path below reaches (a signature's verdict is fixed once its bytes are
            // in, and no two signatures accept the same bytes), without a call per byte.
            self.framing = framing;
            self.state = State::Header;
            return;
        }
        let Some((&b, rest)) = input.split_first() else {
            return;
        };
        *input = rest;
        self.push_window(b);
        loop {
            let at_start = self.preamble == 0;
            let verdict = detect(
                &self.window[..self.window_len],
                at_start,
                sink.peer_sent_client_hello(),
            );
            match verdict {
                Detect::NeedMore => return,
                Detect::No => {
                    self.preamble += 1;
                    if self.preamble >= self.max_preamble {
                        self.state = State::Off;
                        return;
                    }
                    self.window.copy_within(1..self.window_len, 0);
                    self.window_len -= 1;
                    if self.window_len == 0 {
                        return;
                    }
                }
                Detect::Yes(framing) => {
                    let replay = self.window;
                    let n = self.window_len;
                    self.window_len = 0;
                    self.framing = framing;
                    self.state = State::Header;
                    if let Some(bytes) = replay.get(..n) {
                        self.feed(bytes, ts, sink);
                    }
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
}
