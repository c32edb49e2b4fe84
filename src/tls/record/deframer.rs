//! Record deframing: [`Deframer`] turns one direction's in-order TCP payload (split anywhere)
//! into TLS records. It also finds where TLS starts (by content, not port, with the signatures
//! of `super::detect`: straight away, after a plaintext STARTTLS-style preamble, or as an
//! SSLv2-compatible hello) and resynchronises after gaps and garbage. It copies a record body
//! only when its consumer asks for it (cleartext handshake and alert records), so encrypted
//! traffic is walked header by header without copying.
//!
//! Bounded: a record body buffer never exceeds [`MAX_RECORD_LEN`] (or the SSLv2 maximum of
//! 32767 bytes), and hostile length fields never cause an allocation beyond it.

use std::cell::RefCell;
use std::ops::RangeInclusive;

use super::detect::{DETECT_WINDOW, Detect, detect};
use crate::flow::Timestamp;
use crate::spare::Spares;
use crate::tls::codes::ContentType;
use crate::tls::handshake::AnomalyKind;

/// Largest record body accepted: 2^14 plaintext bytes plus 2048 of expansion, the TLS 1.2 bound
/// on `TLSCiphertext.length` (RFC 5246 §6.2.3; TLS 1.3 allows less). Anything longer is not TLS.
pub const MAX_RECORD_LEN: u16 = 16384 + 2048;

/// Lengths an encrypted alert record can have: from a 2-byte alert with the shortest MAC of a
/// stream cipher (MD5's 16 bytes) up to the TLS ≤ 1.2 bound on ciphertext expansion (2048
/// bytes); TLS 1.3 may pad beyond, which no implementation does for an alert.
pub const ENCRYPTED_ALERT_LEN: RangeInclusive<u16> = 18..=2 + 2048;

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
    /// false positive costs a record: nonempty, a ChangeCipherSpec exactly one byte long, an
    /// alert as long as a cleartext alert (2 bytes) or an encrypted one
    /// ([`ENCRYPTED_ALERT_LEN`]). A candidate must also be followed by a header passing
    /// [`Self::confirms`].
    fn is_plausible_resync(&self) -> bool {
        self.is_plausible()
            && self.len > 0
            && match self.content_type {
                ContentType::CHANGE_CIPHER_SPEC => self.len == 1,
                ContentType::ALERT => self.len == 2 || ENCRYPTED_ALERT_LEN.contains(&self.len),
                _ => true,
            }
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

thread_local! {
    /// Body buffers of deframers that are gone, for the next records of this thread that span
    /// segments (see [`crate::spare`]): a certificate chain's record nearly always does.
    static SPARE_BODY_BUFFERS: RefCell<Spares<u8, 32, { 16 * 1024 }>> =
        const { RefCell::new(Spares::new()) };
}

/// An empty buffer with room for a record body of `len` bytes: a spare one of this thread,
/// else a new one of that size.
fn body_buffer(len: usize) -> Vec<u8> {
    SPARE_BODY_BUFFERS
        .with_borrow_mut(|spare| spare.take(len))
        .unwrap_or_else(|| Vec::with_capacity(len))
}

/// Gives a body buffer back for [`body_buffer`].
fn keep_body_buffer(buf: Vec<u8>) {
    SPARE_BODY_BUFFERS.with_borrow_mut(|spare| spare.keep(buf));
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

/// A deframer's body buffer outlives it as a spare of its thread.
impl Drop for Deframer {
    fn drop(&mut self) {
        keep_body_buffer(std::mem::take(&mut self.buf));
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

    /// Lets the body buffer go (to this thread's spares), once no more cleartext records are
    /// expected.
    pub fn release(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            keep_body_buffer(std::mem::take(&mut self.buf));
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
                        if self.buf.capacity() == 0 {
                            self.buf = body_buffer(now.len() + usize::from(remaining));
                        }
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
    ) -> bool {
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
        want
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
        // A whole TLS header in the input (the usual case) is read where it is: collected byte
        // by byte into the window and read back as words at once, it cost a store-forwarding
        // stall per record.
        let whole = match (self.framing, self.window_len) {
            (Framing::Tls, 0) => input.split_first_chunk::<5>(),
            _ => None,
        };
        let bytes = match whole {
            Some((&bytes, rest)) => {
                *input = rest;
                bytes
            }
            None => {
                while self.window_len < self.header_len() {
                    let Some((&b, rest)) = input.split_first() else {
                        return;
                    };
                    *input = rest;
                    self.push_window(b);
                }
                self.window_len = 0;
                let [a, b, c, d, e, ..] = self.window;
                [a, b, c, d, e]
            }
        };
        match self.framing {
            Framing::Sslv2 => {
                let [b0, b1, ..] = bytes;
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
                let header = RecordHeader::tls(bytes);
                let accepted = match &self.held {
                    Some(held) => header.confirms(&held.header),
                    None => header.is_plausible(),
                };
                if accepted {
                    self.confirm_held(sink);
                    let want = self.start_body(header, false, ts, sink);
                    // The whole body in the input too (the usual case): delivered (or skipped)
                    // now, with the header in hand. Read back from the state just written, it
                    // cost a store-forwarding stall per record.
                    if header.len > 0
                        && self.buf.is_empty()
                        && let Some((body, rest)) = input.split_at_checked(usize::from(header.len))
                    {
                        *input = rest;
                        self.state = State::Header;
                        let body = if want {
                            RecordBody::Data(body)
                        } else {
                            RecordBody::Skipped
                        };
                        self.deliver(header, body, ts, sink);
                    }
                    return;
                }
                if self.held.take().is_none() {
                    sink.anomaly(AnomalyKind::BadRecordHeader);
                }
                // A false resynchronisation candidate is dropped like garbage; its body is gone,
                // so scanning resumes after this header's first byte.
                self.buf.clear();
                let [_, rest @ ..] = bytes;
                self.window[..4].copy_from_slice(&rest);
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
mod tests;
