//! Record deframing and handshake-message joining: the two byte-level layers under the
//! observer.
//!
//! [`Deframer`] turns one direction's in-order TCP payload (split anywhere) into TLS records. It
//! also finds where TLS starts (by content, not port: straight away, or after a plaintext
//! STARTTLS-style preamble, or as an SSLv2-compatible hello) and resynchronises after gaps and
//! garbage. It copies a record body only when its consumer asks for it (cleartext handshake
//! and alert records), so encrypted traffic is walked header by header without copying.
//!
//! [`Joiner`] turns the bodies of consecutive handshake records into handshake messages, which
//! may span records or share one.
//!
//! Both are bounded: a record body buffer never exceeds [`MAX_RECORD_LEN`] (or the SSLv2 maximum
//! of 32767 bytes), a joined message never exceeds the joiner's cap, and hostile length fields
//! never cause an allocation beyond those caps.

use crate::flow::Timestamp;

/// Largest record body accepted: 2^14 plaintext bytes plus 2048 of expansion, the TLS 1.2 bound
/// on `TLSCiphertext.length` (RFC 5246 §6.2.3; TLS 1.3 allows less). Anything longer is not TLS.
pub const MAX_RECORD_LEN: u16 = 16384 + 2048;

/// Default cap on one joined handshake message: 256 KiB.
///
/// Why: the protocol allows 2^24 - 1 bytes, but the largest real messages are certificate
/// chains and CertificateRequest CA lists, which stay far below 256 KiB. The cap bounds the
/// memory a hostile or broken peer can make us hold per direction; a longer message is skipped
/// and counted as an anomaly.
pub const DEFAULT_MAX_HANDSHAKE_MESSAGE: usize = 256 * 1024;

/// Default number of bytes per direction scanned for the start of TLS before giving up: 64 KiB,
/// enough for any STARTTLS dialogue (banner, capabilities, the upgrade command and its reply).
pub const DEFAULT_MAX_PREAMBLE: u64 = 64 * 1024;

/// Content type of a ChangeCipherSpec record.
pub const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
/// Content type of an alert record.
pub const CONTENT_ALERT: u8 = 21;
/// Content type of a handshake record.
pub const CONTENT_HANDSHAKE: u8 = 22;
/// Content type of an application-data record.
pub const CONTENT_APPLICATION_DATA: u8 = 23;
/// Content type of a heartbeat record.
pub const CONTENT_HEARTBEAT: u8 = 24;

/// SSLv2 CLIENT-HELLO message type.
pub const SSLV2_CLIENT_HELLO: u8 = 1;
/// SSLv2 SERVER-HELLO message type.
pub const SSLV2_SERVER_HELLO: u8 = 4;

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
    pub content_type: u8,
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
            content_type: bytes[0],
            version: u16::from_be_bytes([bytes[1], bytes[2]]),
            len: u16::from_be_bytes([bytes[3], bytes[4]]),
        }
    }

    /// Whether a TLS header could start a record of a TLS stream: a known content type,
    /// SSLv3..TLS 1.3 record version, and a length within [`MAX_RECORD_LEN`].
    pub fn is_plausible(&self) -> bool {
        (CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_HEARTBEAT).contains(&self.content_type)
            && (0x0300..=0x0304).contains(&self.version)
            && self.len <= MAX_RECORD_LEN
    }

    /// The stricter test used when resynchronising in the middle of unknown bytes, where a
    /// false positive costs a record: nonempty, a ChangeCipherSpec exactly one byte long, and
    /// the record version of this stream's earlier records when known.
    fn is_plausible_resync(&self, version: Option<u16>) -> bool {
        self.is_plausible()
            && self.len > 0
            && (self.content_type != CONTENT_CHANGE_CIPHER_SPEC || self.len == 1)
            && version.is_none_or(|v| v == self.version)
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
    fn anomaly(&mut self, kind: &'static str);
    /// Whether the other direction sent a ClientHello, which lets this direction's TLS start
    /// after a preamble with a ServerHello or an alert (the server side of a STARTTLS upgrade).
    fn peer_sent_client_hello(&self) -> bool;
    /// Framing of the next record once this direction has delivered one (SSLv2 only when the
    /// server answered in SSLv2).
    fn framing(&self) -> Framing;
}

/// Longest prefix the start-of-TLS detection needs to decide (the SSLv2 SERVER-HELLO header).
const DETECT_WINDOW: usize = 13;

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
    /// Record version of the last accepted TLS record.
    version: Option<u16>,
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
            version: None,
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
        if header.framing == Framing::Tls {
            self.version = Some(header.version);
        }
        sink.record(header, body, ts);
    }

    /// Confirms the held resynchronisation candidate, if any.
    fn confirm_held(&mut self, sink: &mut impl RecordSink) {
        if let Some(held) = self.held.take() {
            sink.anomaly("resynchronised");
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
                    content_type: 0,
                    version: 0x0002,
                    len,
                };
                self.start_body(header, false, ts, sink);
            }
            Framing::Tls => {
                let [a, b, c, d, e, ..] = self.window;
                let header = RecordHeader::tls([a, b, c, d, e]);
                let accepted = match self.held {
                    Some(_) => header.is_plausible_resync(self.version),
                    None => header.is_plausible(),
                };
                if accepted {
                    self.confirm_held(sink);
                    self.start_body(header, false, ts, sink);
                    return;
                }
                if self.held.take().is_none() {
                    sink.anomaly("bad_record_header");
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
        if header.is_plausible_resync(self.version) {
            self.window_len = 0;
            self.start_body(header, true, ts, sink);
        } else {
            self.window.copy_within(1..5, 0);
            self.window_len = 4;
        }
    }

    /// Consumes one byte while looking for the start of TLS.
    fn detect_byte(&mut self, input: &mut &[u8], ts: Timestamp, sink: &mut impl RecordSink) {
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

/// Verdict of the start-of-TLS detection at one position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Detect {
    /// TLS starts here, in this framing.
    Yes(Framing),
    /// It does not.
    No,
    /// Not enough bytes to tell.
    NeedMore,
}

/// One byte-pattern element of a start-of-TLS signature.
#[derive(Clone, Copy)]
enum Pat {
    Is(u8),
    Range(u8, u8),
    Any,
}

impl Pat {
    fn matches(self, b: u8) -> bool {
        match self {
            Pat::Is(x) => b == x,
            Pat::Range(lo, hi) => (lo..=hi).contains(&b),
            Pat::Any => true,
        }
    }
}

/// Matches `bytes` against a signature: `No` as soon as a byte differs, `NeedMore` while the
/// prefix agrees, `Yes` when the whole signature agrees and `extra` accepts it.
fn signature(bytes: &[u8], pat: &[Pat], extra: impl Fn(&[u8]) -> bool) -> Detect {
    if bytes.iter().zip(pat).any(|(&b, p)| !p.matches(b)) {
        return Detect::No;
    }
    match bytes.get(..pat.len()) {
        None => Detect::NeedMore,
        Some(head) if extra(head) => Detect::Yes(Framing::Tls),
        Some(_) => Detect::No,
    }
}

fn be16(bytes: &[u8], at: usize) -> usize {
    match bytes.get(at..at + 2) {
        Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
        _ => 0,
    }
}

/// A TLS handshake record whose first message is `msg_type` (ClientHello or ServerHello):
/// record header, handshake header with a length that fits a 16-bit record... and a legacy
/// version 3.x at the start of the body.
fn hello_record(bytes: &[u8], msg_type: u8) -> Detect {
    const V: Pat = Pat::Range(0, 4);
    let pat = [
        Pat::Is(CONTENT_HANDSHAKE),
        Pat::Is(3),
        V,
        Pat::Any,
        Pat::Any,
        Pat::Is(msg_type),
        Pat::Is(0),
        Pat::Any,
        Pat::Any,
        Pat::Is(3),
        V,
    ];
    signature(bytes, &pat, |h| {
        let record_len = be16(h, 3);
        // The hello's body is at least 38 bytes (version, random, session id length).
        (42..=usize::from(MAX_RECORD_LEN)).contains(&record_len) && be16(h, 7) >= 38
    })
}

/// A cleartext alert record: how a server may answer a ClientHello it will not take.
fn alert_record(bytes: &[u8]) -> Detect {
    let pat = [
        Pat::Is(CONTENT_ALERT),
        Pat::Is(3),
        Pat::Range(0, 4),
        Pat::Is(0),
        Pat::Is(2),
        Pat::Range(1, 2),
        Pat::Any,
    ];
    signature(bytes, &pat, |_| true)
}

/// An SSLv2 CLIENT-HELLO with a 2-byte header whose lengths add up.
fn sslv2_client_hello(bytes: &[u8]) -> Detect {
    let pat = [
        Pat::Range(0x80, 0xff),
        Pat::Any,
        Pat::Is(SSLV2_CLIENT_HELLO),
        Pat::Range(0, 3),
        Pat::Range(0, 4),
        Pat::Any,
        Pat::Any,
        Pat::Is(0),
        Pat::Any,
        Pat::Is(0),
        Pat::Any,
    ];
    let verdict = signature(bytes, &pat, |h| {
        let len = be16(h, 0) & 0x7fff;
        let version = be16(h, 3);
        let (ciphers, session, challenge) = (be16(h, 5), be16(h, 7), be16(h, 9));
        (version == 0x0002 || (0x0300..=0x0304).contains(&version))
            && ciphers > 0
            && ciphers.is_multiple_of(3)
            && (session == 0 || session == 16)
            && (16..=32).contains(&challenge)
            && len == 9 + ciphers + session + challenge
    });
    sslv2(verdict)
}

/// An SSLv2 SERVER-HELLO with a 2-byte header whose lengths add up.
fn sslv2_server_hello(bytes: &[u8]) -> Detect {
    let pat = [
        Pat::Range(0x80, 0xff),
        Pat::Any,
        Pat::Is(SSLV2_SERVER_HELLO),
        Pat::Range(0, 1),
        Pat::Any,
        Pat::Is(0),
        Pat::Is(2),
        Pat::Any,
        Pat::Any,
        Pat::Any,
        Pat::Any,
        Pat::Is(0),
        Pat::Any,
    ];
    let verdict = signature(bytes, &pat, |h| {
        let len = be16(h, 0) & 0x7fff;
        let (cert, ciphers, conn_id) = (be16(h, 7), be16(h, 9), be16(h, 11));
        ciphers.is_multiple_of(3)
            && (16..=32).contains(&conn_id)
            && len == 11 + cert + ciphers + conn_id
    });
    sslv2(verdict)
}

fn sslv2(verdict: Detect) -> Detect {
    match verdict {
        Detect::Yes(_) => Detect::Yes(Framing::Sslv2),
        other => other,
    }
}

/// A start-of-TLS signature check.
type Check = fn(&[u8]) -> Detect;

/// Whether TLS starts at the beginning of `bytes`. At the very start of the stream any hello
/// (TLS or SSLv2, client or server) counts; after a preamble only a TLS ClientHello does, or a
/// ServerHello or alert once the peer sent its ClientHello.
fn detect(bytes: &[u8], at_start: bool, peer_sent_client_hello: bool) -> Detect {
    let checks: [(bool, Check); 5] = [
        (true, |b| hello_record(b, 1)),
        (at_start || peer_sent_client_hello, |b| hello_record(b, 2)),
        (peer_sent_client_hello, alert_record),
        (at_start, sslv2_client_hello),
        (at_start, sslv2_server_hello),
    ];
    let mut verdict = Detect::No;
    for (_, check) in checks.into_iter().filter(|(enabled, _)| *enabled) {
        match check(bytes) {
            yes @ Detect::Yes(_) => return yes,
            Detect::NeedMore => verdict = Detect::NeedMore,
            Detect::No => {}
        }
    }
    verdict
}

/// What a [`Joiner`] yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joined<'a> {
    /// A complete handshake message: its type and body (after the 4-byte header).
    Message {
        /// Handshake message type.
        msg_type: u8,
        /// Message body.
        body: &'a [u8],
    },
    /// A message longer than the cap, which is skipped.
    TooLarge {
        /// Handshake message type.
        msg_type: u8,
        /// Declared body length.
        len: usize,
    },
}

/// Joins handshake record bodies into handshake messages.
#[derive(Debug)]
pub struct Joiner {
    /// A partial message (header and the body bytes so far).
    buf: Vec<u8>,
    /// Bytes of an oversized message still to skip.
    skip: usize,
    max: usize,
}

impl Default for Joiner {
    fn default() -> Self {
        Joiner::new(DEFAULT_MAX_HANDSHAKE_MESSAGE)
    }
}

/// Type and body length of a handshake message header.
fn message_header(bytes: &[u8]) -> Option<(u8, usize)> {
    match bytes.get(..4) {
        Some(&[t, a, b, c]) => Some((
            t,
            usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c),
        )),
        _ => None,
    }
}

impl Joiner {
    /// A joiner that skips messages with a body longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Joiner {
            buf: Vec::new(),
            skip: 0,
            max,
        }
    }

    /// Whether part of a message is pending (or being skipped).
    pub fn is_partial(&self) -> bool {
        !self.buf.is_empty() || self.skip > 0
    }

    /// Forgets any partial message (after a gap, or when the stream turns encrypted).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.skip = 0;
    }

    /// Frees the buffer, once no more cleartext handshake records are expected.
    pub fn release(&mut self) {
        self.clear();
        self.buf = Vec::new();
    }

    /// Feeds the body of one handshake record; calls `f` for each message it completes.
    pub fn push(&mut self, mut data: &[u8], mut f: impl FnMut(Joined<'_>)) {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = data.get(n..).unwrap_or_default();
            }
            if data.is_empty() {
                return;
            }
            if self.buf.is_empty() {
                // Fast path: messages wholly inside this record need no copy.
                if let Some((msg_type, len)) = message_header(data) {
                    if len > self.max {
                        f(Joined::TooLarge { msg_type, len });
                        self.skip = len;
                        data = data.get(4..).unwrap_or_default();
                        continue;
                    }
                    if let Some(body) = data.get(4..4 + len) {
                        f(Joined::Message { msg_type, body });
                        data = data.get(4 + len..).unwrap_or_default();
                        continue;
                    }
                }
                self.buf.extend_from_slice(data);
                return;
            }
            if self.buf.len() < 4 {
                let n = (4 - self.buf.len()).min(data.len());
                let (now, rest) = data.split_at(n);
                self.buf.extend_from_slice(now);
                data = rest;
            }
            let Some((msg_type, len)) = message_header(&self.buf) else {
                return;
            };
            if len > self.max {
                f(Joined::TooLarge { msg_type, len });
                self.buf.clear();
                self.skip = len;
                continue;
            }
            let n = (4 + len - self.buf.len()).min(data.len());
            let (now, rest) = data.split_at(n);
            self.buf.extend_from_slice(now);
            data = rest;
            if self.buf.len() == 4 + len {
                if let Some(body) = self.buf.get(4..) {
                    f(Joined::Message { msg_type, body });
                }
                self.buf.clear();
            }
        }
    }
}
