//! TCP's TLS record layer for one connection: follows both directions' records and drives the
//! shared [`Handshake`] layer with what they carry.
//!
//! Each direction has a [`Deframer`] (records) and a [`Joiner`] (handshake messages). What is
//! record-specific stays here: which records are encrypted, ChangeCipherSpec, renegotiation
//! through encrypted records, and TLS 1.3's record-size inference:
//!
//! * TLS ≤ 1.2: after a side's ChangeCipherSpec its handshake records are encrypted (the first
//!   is its Finished, reported as an encrypted handshake flight) and its alerts unreadable.
//! * TLS 1.3 (and drafts): after the ServerHello the server's records are protected; the
//!   client's first protected record is its Finished (or its certificate flight). A client
//!   whose only protected record is alert-sized and last is taken to have sent an alert
//!   (see [`INFERRED_ALERT_LEN`]).

use std::ops::RangeInclusive;

use super::decrypt::{Decryption, Outcome};
use super::deframer::{
    DEFAULT_MAX_PREAMBLE, Deframer, ENCRYPTED_ALERT_LEN, Framing, RecordBody, RecordHeader,
    RecordSink,
};
use crate::flow::{Direction, Timestamp};
use crate::tls::codes::{AlertDescription, AlertLevel, ContentType, HandshakeType};
use crate::tls::handshake::{
    Alert, AnomalyKind, Carrier, Handshake, MessageParsers, TlsContext, Transcript, WireParsers,
};
use crate::tls::joiner::{JoinBudget, Joined, Joiner, MAX_HANDSHAKE_MESSAGE};

/// Lengths of a TLS 1.3 protected record that can be a bare alert: 2 alert bytes + 1 inner
/// content type + 16-byte AEAD tag = 19, plus up to 5 bytes of padding. Every TLS 1.3 Finished
/// is longer (at least 32 + 4 + 1 + 16 = 53 bytes), so such a record where the client's Finished
/// was due, with nothing after it, is an alert.
pub const INFERRED_ALERT_LEN: RangeInclusive<u16> = 19..=24;

/// Limits of one record layer.
#[derive(Clone, Debug)]
pub struct RecordConfig {
    /// Longest handshake message body joined per direction (the per-flow buffer budget; at
    /// most [`MAX_HANDSHAKE_MESSAGE`], the default).
    pub max_handshake_message: usize,
    /// Bytes per direction scanned for the start of TLS (see [`DEFAULT_MAX_PREAMBLE`]).
    pub max_preamble: u64,
    /// What partial handshake messages may hold across the connections sharing it (a
    /// worker's share of the global buffer budget); none: only `max_handshake_message` bounds
    /// them.
    pub join_budget: Option<JoinBudget>,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            max_handshake_message: MAX_HANDSHAKE_MESSAGE,
            max_preamble: DEFAULT_MAX_PREAMBLE,
            join_budget: None,
        }
    }
}

/// A TLS 1.3 protected record remembered to infer an alert at the end.
#[derive(Clone, Copy, Debug)]
struct Remembered {
    /// Index of its event in the transcript.
    event: usize,
    /// Record length.
    len: u16,
    /// The side's record count once it was counted.
    record: u64,
}

/// What one side's records have done so far.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    /// Records seen.
    records: u64,
    /// Sent a ChangeCipherSpec.
    ccs: bool,
    /// TLS ≤ 1.2: a ChangeCipherSpec was sent and its Finished not yet seen.
    finished_due: bool,
    /// TLS 1.3: protected records sent after the ServerHello.
    protected: u32,
    /// TLS 1.3 client: its first protected record.
    first_protected: Option<Remembered>,
    /// TLS 1.3: length of its latest protected record.
    last_protected_len: u16,
}

/// Record-level state shared by both directions, with the handshake layer it drives.
#[derive(Debug)]
struct Records<P> {
    hs: Handshake<P>,
    sides: [Side; 2],
    /// TLS 1.3: the server sent a record after the client's Finished.
    server_replied: bool,
    /// TLS 1.3: the server's first record after the client's Finished, unless the client's
    /// record before it was alert-sized (a close_notify exchange the client began).
    server_reply: Option<Remembered>,
    /// The client sent application data before any ServerHello (TLS 1.3 0-RTT).
    early_data_sent: bool,
    /// TLS ≤ 1.2: a renegotiation is under way (an encrypted handshake record followed both
    /// Finished); it ends when both sides have sent their ChangeCipherSpec and Finished.
    renegotiation: Option<[bool; 2]>,
    /// With key logs: the connection's keys and what they decrypted.
    decrypt: Option<Box<Decryption>>,
}

/// Why a handshake message of `len` bytes was skipped by a joiner joining at most `max`: too
/// long for any connection, or longer than what the shared buffer budget had left.
pub(super) fn too_large(len: usize, max: usize) -> AnomalyKind {
    if len > max {
        AnomalyKind::HandshakeMessageTooLarge
    } else {
        AnomalyKind::HandshakeBufferFull
    }
}

impl<P: MessageParsers> Records<P> {
    fn side(&mut self, dir: Direction) -> &mut Side {
        &mut self.sides[dir.index()]
    }

    /// Whether `dir`'s handshake records are encrypted now.
    fn handshake_encrypted(&self, dir: Direction) -> bool {
        if self.hs.is_tls13() {
            // The client's only cleartext-era handshake records are ClientHellos (a retry after
            // a HelloRetryRequest may follow a compatibility ChangeCipherSpec).
            self.hs.server_protected() && self.hs.is_server(dir)
        } else {
            self.sides[dir.index()].ccs
        }
    }

    /// Whether an alert record of `len` bytes from `dir` is encrypted.
    fn alert_encrypted(&self, dir: Direction, len: u16) -> bool {
        let side = &self.sides[dir.index()];
        if self.hs.is_tls13() {
            let protected = if self.hs.is_server(dir) {
                self.hs.server_protected()
            } else {
                side.protected > 0 || side.ccs
            };
            // Protected TLS 1.3 records are never shorter than an alert with its tag; shorter
            // alert records are cleartext ones (sent before the keys were in place).
            protected && len >= *INFERRED_ALERT_LEN.start()
        } else {
            side.ccs
        }
    }

    /// Whether no more cleartext records are expected, so per-direction buffers can go.
    fn cleartext_over(&self) -> bool {
        if self.hs.is_sslv2() {
            true
        } else if self.hs.is_tls13() {
            self.hs.server_protected()
                && self
                    .hs
                    .server()
                    .is_some_and(|server| self.sides[server.reverse().index()].protected > 0)
        } else {
            self.sides.iter().all(|s| s.ccs)
        }
    }

    fn wants_body(&self, dir: Direction, header: &RecordHeader) -> bool {
        let wanted = match header.framing {
            // Only the hello is read; what follows it is encrypted or of no interest.
            Framing::Sslv2 => self.sides[dir.index()].records == 0,
            Framing::Tls => match header.content_type {
                ContentType::ALERT => !self.alert_encrypted(dir, header.len),
                ContentType::HANDSHAKE => !self.handshake_encrypted(dir),
                _ => false,
            },
        };
        // With keys, protected records are read too.
        wanted
            || self
                .decrypt
                .as_ref()
                .is_some_and(|d| header.framing == Framing::Tls && d.wants_bodies())
    }

    fn on_record(
        &mut self,
        ctx: &mut TlsContext,
        joiner: &mut Joiner,
        dir: Direction,
        header: RecordHeader,
        body: RecordBody<'_>,
        ts: Timestamp,
    ) {
        self.side(dir).records += 1;
        if header.framing == Framing::Sslv2 {
            if let RecordBody::Data(msg) = body {
                self.hs.on_sslv2_hello(ctx, dir, msg, ts);
            }
            return;
        }
        match header.content_type {
            ContentType::CHANGE_CIPHER_SPEC => {
                self.hs.on_change_cipher_spec(dir, ts);
                let tls13 = self.hs.is_tls13();
                if let Some(ccs_seen) = &mut self.renegotiation {
                    ccs_seen[dir.index()] = true;
                }
                let side = self.side(dir);
                side.ccs = true;
                if !tls13 {
                    side.finished_due = true;
                    if joiner.is_partial() {
                        self.hs.anomaly(dir, AnomalyKind::HandshakeMessageCutByCcs);
                    }
                    joiner.clear();
                }
            }
            ContentType::ALERT => match body {
                RecordBody::Lost => {}
                RecordBody::Data(bytes) if !self.alert_encrypted(dir, header.len) => {
                    self.on_cleartext_alerts(dir, bytes, ts);
                }
                _ => self.hs.on_alert(dir, Alert::ENCRYPTED, ts),
            },
            ContentType::HANDSHAKE if self.handshake_encrypted(dir) => {
                if self.hs.is_tls13() {
                    self.on_protected(dir, header.len, ts);
                } else if std::mem::take(&mut self.side(dir).finished_due) {
                    self.hs.on_encrypted_handshake(dir, ts);
                    if self.renegotiation == Some([true, true])
                        && self.sides.iter().all(|s| !s.finished_due)
                    {
                        self.renegotiation = None;
                    }
                } else if self.renegotiation.is_none()
                    && self.sides.iter().all(|s| s.ccs && !s.finished_due)
                {
                    self.renegotiation = Some([false, false]);
                    self.hs.on_renegotiation(dir, ts);
                }
            }
            ContentType::HANDSHAKE => match body {
                RecordBody::Data(bytes) => {
                    let joiner_max = joiner.max_message();
                    joiner.push(bytes, |joined| match joined {
                        Joined::Message { msg_type, body } => {
                            self.hs
                                .on_message(ctx, dir, HandshakeType(msg_type), body, ts);
                        }
                        Joined::TooLarge { len, .. } => {
                            self.hs.anomaly(dir, too_large(len, joiner_max));
                        }
                    })
                }
                // Lost in a gap, or encryption started between header and body: whatever
                // message was being joined cannot be completed.
                RecordBody::Lost | RecordBody::Skipped => joiner.clear(),
            },
            ContentType::APPLICATION_DATA if self.hs.is_tls13() && self.hs.server_protected() => {
                self.on_protected(dir, header.len, ts);
            }
            ContentType::APPLICATION_DATA => {
                if self.hs.server().is_none() && self.hs.sent_client_hello(dir) {
                    self.early_data_sent = true;
                }
                self.hs.on_application_data(dir, ts);
            }
            ContentType::HEARTBEAT => self.hs.on_heartbeat(dir, header.len, ts),
            _ => {}
        }
    }

    /// With key logs, a record goes through the connection's keys first; returns whether it was
    /// decrypted (and its content delivered), so that the record layer proper skips it. Out of
    /// line: analyses without key logs never call it.
    #[inline(never)]
    fn decrypting(
        &mut self,
        ctx: &mut TlsContext,
        dir: Direction,
        header: &RecordHeader,
        body: &RecordBody<'_>,
        ts: Timestamp,
    ) -> bool {
        let Some(d) = self.decrypt.as_deref_mut() else {
            return false;
        };
        if header.framing != Framing::Tls {
            return false;
        }
        if header.content_type == ContentType::CHANGE_CIPHER_SPEC {
            d.change_cipher_spec(dir);
            return false;
        }
        match d.record(&mut self.hs, ctx, dir, header, body, ts) {
            Outcome::Decrypted { content_type } => {
                self.decrypted(dir, content_type);
                true
            }
            Outcome::Cleartext | Outcome::Encrypted => false,
        }
    }

    /// A record that was decrypted and delivered: the size-based bookkeeping of the encrypted
    /// path learns that `dir` sent a protected record, and infers nothing from it.
    fn decrypted(&mut self, dir: Direction, content_type: ContentType) {
        let tls13 = self.hs.is_tls13();
        let side = self.side(dir);
        if tls13 {
            side.protected = side.protected.saturating_add(1);
        } else if content_type == ContentType::HANDSHAKE {
            side.finished_due = false;
        }
    }

    /// An alert record its direction should have sent in cleartext: one or more 2-byte alerts.
    ///
    /// A level other than warning (1) or fatal (2) cannot be a cleartext alert (issue #20:
    /// after a gap, the bytes of an encrypted alert whose ChangeCipherSpec fell into the gap
    /// were read as `level 143, unknown_143`). Such a record is an encrypted alert when an
    /// encrypted alert can be that long, and otherwise not an alert at all (`bad_alert`).
    fn on_cleartext_alerts(&mut self, dir: Direction, bytes: &[u8], ts: Timestamp) {
        let impossible_level = bytes
            .chunks_exact(2)
            .any(|pair| !matches!(AlertLevel(pair[0]), AlertLevel::WARNING | AlertLevel::FATAL));
        if impossible_level {
            if ENCRYPTED_ALERT_LEN.contains(&(bytes.len() as u16)) {
                self.hs.on_alert(dir, Alert::ENCRYPTED, ts);
            } else {
                self.hs.anomaly(dir, AnomalyKind::BadAlert);
            }
            return;
        }
        if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
            self.hs.anomaly(dir, AnomalyKind::BadAlert);
        }
        for pair in bytes.chunks_exact(2) {
            if let &[level, description] = pair {
                self.hs.on_alert(
                    dir,
                    Alert::cleartext(AlertLevel(level), AlertDescription(description)),
                    ts,
                );
            }
        }
    }

    /// A TLS 1.3 protected record. The first of each side is its encrypted handshake flight;
    /// after that, the client's records are application data, and the server's are once the
    /// client has sent its Finished.
    fn on_protected(&mut self, dir: Direction, len: u16, ts: Timestamp) {
        let is_server = self.hs.is_server(dir);
        let peer = self.sides[dir.reverse().index()];
        let client_done = peer.protected > 0;
        let side = self.side(dir);
        let record = side.records;
        side.protected = side.protected.saturating_add(1);
        side.last_protected_len = len;
        if side.protected == 1 {
            let event = self.hs.on_encrypted_handshake(dir, ts);
            if let (false, Some(event)) = (is_server, event) {
                self.side(dir).first_protected = Some(Remembered { event, len, record });
            }
        } else if !is_server || client_done {
            let event = self.hs.on_application_data(dir, ts);
            if is_server && !std::mem::replace(&mut self.server_replied, true) {
                let client_closing = INFERRED_ALERT_LEN.contains(&peer.last_protected_len);
                if let (false, Some(event)) = (client_closing, event) {
                    self.server_reply = Some(Remembered { event, len, record });
                }
            }
        }
    }

    /// End of the connection, TLS 1.3: a client whose only protected record was alert-sized
    /// sent an alert, not a Finished; a server whose only record after the client's Finished
    /// was alert-sized (and last) rejected the client's flight, typically its certificate.
    fn infer_alerts(&mut self) {
        let Some(server) = self.hs.server() else {
            return;
        };
        if !self.hs.is_tls13() {
            return;
        }
        let client = server.reverse();
        // EndOfEarlyData (4 bytes + content type + 16-byte tag, padding aside) is the client's
        // first protected record only when the server accepted its 0-RTT data.
        let client_side = self.sides[client.index()];
        if let Some(first) = client_side.first_protected {
            self.hs.set_early_data_accepted(
                self.early_data_sent
                    && INFERRED_ALERT_LEN.contains(&first.len)
                    && client_side.records > first.record,
            );
        }
        let candidates = [
            (client, client_side.first_protected),
            (server, self.server_reply),
        ];
        for (dir, candidate) in candidates {
            if let Some(c) = candidate
                && INFERRED_ALERT_LEN.contains(&c.len)
                && self.sides[dir.index()].records == c.record
            {
                self.hs.infer_alert(c.event);
            }
        }
    }
}

/// One direction's view of the record layer, handed to its deframer.
struct SideSink<'a, P> {
    dir: Direction,
    records: &'a mut Records<P>,
    joiner: &'a mut Joiner,
    ctx: &'a mut TlsContext,
}

impl<P: MessageParsers> RecordSink for SideSink<'_, P> {
    fn wants_body(&self, header: &RecordHeader) -> bool {
        self.records.wants_body(self.dir, header)
    }
    fn record(&mut self, header: RecordHeader, body: RecordBody<'_>, ts: Timestamp) {
        if self.records.decrypt.is_some()
            && self
                .records
                .decrypting(self.ctx, self.dir, &header, &body, ts)
        {
            return;
        }
        self.records
            .on_record(self.ctx, self.joiner, self.dir, header, body, ts);
    }
    fn anomaly(&mut self, kind: AnomalyKind) {
        self.records.hs.anomaly(self.dir, kind);
    }
    fn peer_sent_client_hello(&self) -> bool {
        self.records.hs.sent_client_hello(self.dir.reverse())
    }
    fn framing(&self) -> Framing {
        if self.records.hs.is_sslv2() {
            Framing::Sslv2
        } else {
            Framing::Tls
        }
    }
}

/// Watches one TCP connection's two byte streams.
///
/// `P` chooses the message parsers; the default, [`WireParsers`], is the real ones.
#[derive(Debug)]
pub struct RecordLayer<P = WireParsers> {
    deframers: [Deframer; 2],
    joiners: [Joiner; 2],
    records: Records<P>,
}

impl Default for RecordLayer {
    fn default() -> Self {
        RecordLayer::new()
    }
}

impl RecordLayer {
    /// A fresh record layer with the default limits.
    pub fn new() -> Self {
        RecordLayer::with_config(RecordConfig::default())
    }

    /// A fresh record layer with the given limits.
    pub fn with_config(config: RecordConfig) -> Self {
        RecordLayer::with_parsers(config)
    }
}

impl<P: MessageParsers> RecordLayer<P> {
    /// A fresh record layer using the parsers `P`.
    pub fn with_parsers(config: RecordConfig) -> Self {
        RecordLayer {
            deframers: [
                Deframer::new(config.max_preamble),
                Deframer::new(config.max_preamble),
            ],
            joiners: [(); 2].map(|()| match &config.join_budget {
                Some(budget) => Joiner::with_budget(config.max_handshake_message, budget.clone()),
                None => Joiner::new(config.max_handshake_message),
            }),
            records: Records {
                hs: Handshake::new(Carrier::Tcp),
                sides: Default::default(),
                server_replied: false,
                server_reply: None,
                early_data_sent: false,
                renegotiation: None,
                decrypt: None,
            },
        }
    }

    /// Decrypts what the secrets of `keys` open (an analysis with key logs); call before the
    /// first bytes.
    pub fn decrypt_with(&mut self, keys: crate::keylog::SharedKeyLog) {
        let joiners = [self.joiners[0].sibling(), self.joiners[1].sibling()];
        self.records.decrypt = Some(Box::new(Decryption::new(keys, joiners)));
    }

    /// In-order bytes from one side, carried by a packet captured at `ts`.
    pub fn on_data(&mut self, ctx: &mut TlsContext, dir: Direction, bytes: &[u8], ts: Timestamp) {
        let i = dir.index();
        let mut sink = SideSink {
            dir,
            records: &mut self.records,
            joiner: &mut self.joiners[i],
            ctx,
        };
        self.deframers[i].feed(bytes, ts, &mut sink);
        if self.records.cleartext_over() && self.records.decrypt.is_none() {
            self.deframers.iter_mut().for_each(Deframer::release);
            self.joiners.iter_mut().for_each(Joiner::release);
        }
    }

    /// Bytes missing from one side; the layer resynchronises on the next plausible record.
    pub fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        let i = dir.index();
        self.records.hs.on_gap(dir);
        if let Some(d) = self.records.decrypt.as_deref_mut() {
            d.gap(dir);
        }
        self.joiners[i].clear();
        self.deframers[i].gap(len, ts);
    }

    /// Whether a TLS ClientHello or ServerHello was seen.
    pub fn is_tls(&self) -> bool {
        self.records.hs.is_tls()
    }

    /// Records each side sent and preamble bytes each skipped before TLS began (what tests
    /// check the record walk by).
    #[cfg(test)]
    fn counts(&self) -> ([u64; 2], [u64; 2]) {
        let records = self.records.sides.map(|s| s.records);
        let preamble = [
            self.deframers[0].preamble_bytes(),
            self.deframers[1].preamble_bytes(),
        ];
        (records, preamble)
    }

    /// Asks the CPU to start loading what the facts built from [`Self::finish`] read (see
    /// [`Transcript::prefetch`]).
    pub fn prefetch_transcript(&self, step: usize) {
        self.records.hs.transcript().prefetch(step);
    }

    /// The transcript.
    pub fn finish(mut self) -> Transcript {
        if self.deframers.iter().any(Deframer::has_pending_record) {
            // A record completed by the end of the stream; a certificate in it is parsed
            // outside the shared cache, as no context is at hand.
            let mut ctx = TlsContext::default();
            for dir in [Direction::LoToHi, Direction::HiToLo] {
                let i = dir.index();
                let mut sink = SideSink {
                    dir,
                    records: &mut self.records,
                    joiner: &mut self.joiners[i],
                    ctx: &mut ctx,
                };
                self.deframers[i].finish(&mut sink);
            }
        }
        let decryption = self.records.decrypt.take().map(|d| d.facts());
        if decryption.is_none_or(|d| d.decrypted_records == 0) {
            // Sizes tell what keys did not.
            self.records.infer_alerts();
        }
        if let Some(facts) = decryption {
            self.records.hs.set_decryption(facts);
        }
        self.records.hs.finish()
    }
}

#[cfg(test)]
mod tests;
