//! The DTLS connection driver: one UDP flow's datagrams in, the handshake out.
//!
//! It takes the flow's datagrams in capture order, `(direction, bytes, time)`, and feeds a
//! [`HandshakeSink`]: whole handshake messages per direction (reassembled by
//! [`MessageJoiner`], in `message_seq` order, each with the time of the datagram that
//! completed it), ChangeCipherSpecs, alerts (read in epoch 0, [`Alert::ENCRYPTED`] after),
//! protected records with their sizes, application data, gaps and anomalies. Beside that it
//! writes down the transport's own facts ([`DtlsFacts`]).
//!
//! Rules worth knowing:
//! - Datagrams are demultiplexed by their first byte ([`demux::classify`]): STUN, RTP and the
//!   others are counted, DTLS is followed, so a handshake after ICE checks on the same 5-tuple
//!   is the normal case.
//! - The first ClientHello, a HelloVerifyRequest (or DTLS 1.3 HelloRetryRequest) and the
//!   second ClientHello are one connection; the round's cost is in [`CookieExchange`].
//! - Retransmissions: an endpoint resends a whole flight with new record sequence numbers.
//!   Fragments that bring nothing new, and repeated ChangeCipherSpecs, are counted; a run of
//!   them from one side, until it sends something new or repeats a fragment of the same run,
//!   is one retransmitted flight, listed with the delay since its first message was first sent.
//!   A resent encrypted Finished (after a repeated ChangeCipherSpec) is not passed on again.
//!   Records repeating an epoch and sequence number already seen were duplicated by the network
//!   or the capture, not resent: they count as `duplicated_records`, never as retransmissions,
//!   and only a duplicated cleartext handshake record is read again (in case a sender reused a
//!   sequence number for new bytes).
//! - Epochs: DTLS ≤ 1.2 records of epoch ≥ 1 are encrypted (the first handshake record of an
//!   epoch is the sender's Finished). With connection IDs every encrypted record is a tls12_cid
//!   record whose real type is hidden: a side's first one is taken for its Finished, the rest
//!   for application data. DTLS 1.3 protected records (unified header) are handshake-era in
//!   epoch 2 and application data in epochs 3 and later (0-RTT in epoch 1).
//! - DTLS 1.3 alerts after the ServerHello are encrypted: one is inferred from record sizes
//!   where the client's Finished flight, or the server's answer to it, was due
//!   (`ProtectedRecords`) and passed on as [`Alert::INFERRED`].
//! - Another handshake on the same 5-tuple: a first ClientHello (`message_seq` 0) with another
//!   random, or any once both sides have sent encrypted records, starts a new connection
//!   ([`DatagramVerdict::NewConnection`]), as in Zeek.
//! - Holes: a message that never arrives (lost by the capture) holds back the ones after it
//!   until the other side sends something new or the connection ends; then the hole becomes a
//!   gap and the waiting messages are delivered.

use super::DtlsAnomaly;
use super::demux::{self, DatagramKind};
use super::facts::{CookieExchange, CookieRequest, DtlsFacts, RetransmittedFlight};
use super::fragment::{self, FragmentError, FragmentOutcome, JoinerLimits, MessageJoiner};
use super::hello_verify::parse_hello_verify_request;
use super::record::{self, Header, Record, RecordError};
use crate::flow::{Direction, Timestamp};
use crate::tls::Alert;
use crate::tls::codes::{
    AlertDescription, AlertLevel, ContentType, ExtensionType, HandshakeType, ProtocolVersion,
};
use crate::tls::handshake::HandshakeSink;
use crate::tls::handshake::hello::{self, HelloFormat};
use crate::tls::joiner::JoinBudget;
use crate::tls::record::INFERRED_ALERT_LEN;

/// What the caller does with a datagram after [`DtlsConnection::on_datagram`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatagramVerdict {
    /// Taken by this connection.
    Taken,
    /// It starts another handshake on the same flow (a first ClientHello with another random,
    /// or after this handshake completed): not taken. Finish this connection and give the datagram to a new one.
    NewConnection,
}

/// Which record sequence numbers of one epoch were seen: the highest, and a 64-wide window
/// below it (RFC 6347 §4.1.2.6's anti-replay window, used here to spot duplicated datagrams).
#[derive(Clone, Copy, Debug, Default)]
struct SeenRecords {
    top: Option<u64>,
    /// Bit `i` set: `top - i` was seen.
    window: u64,
}

impl SeenRecords {
    /// Marks `seq` seen; returns whether it already was.
    fn check_and_set(&mut self, seq: u64) -> bool {
        let Some(top) = self.top else {
            self.top = Some(seq);
            self.window = 1;
            return false;
        };
        if seq > top {
            let shift = seq - top;
            self.window = if shift >= 64 { 0 } else { self.window << shift };
            self.window |= 1;
            self.top = Some(seq);
            return false;
        }
        let back = top - seq;
        if back >= 64 {
            return false; // too old to tell: taken as new
        }
        let bit = 1u64 << back;
        let seen = self.window & bit != 0;
        self.window |= bit;
        seen
    }
}

/// Something a sender repeated: one fragment (by `message_seq` and offset) or its
/// ChangeCipherSpec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resent {
    Fragment { message_seq: u16, offset: u32 },
    ChangeCipherSpec,
}

/// Repeats remembered per retransmitted flight (enough for any flight's fragments).
const MAX_RUN_UNITS: usize = 64;

/// What one side has sent so far.
#[derive(Debug, Default)]
struct Side {
    joiner: MessageJoiner,
    /// Highest classic epoch it used.
    epoch: u16,
    /// Record sequence numbers seen in epoch 0 and in its current epoch.
    seen: [SeenRecords; 2],
    /// The epochs in which it sent a ChangeCipherSpec (bit per epoch, the first 16).
    ccs_epochs: u16,
    /// Repeated ChangeCipherSpecs whose resent Finished has not come yet.
    resent_ccs: u32,
    /// It sent the first handshake record of its current (encrypted) epoch: its Finished.
    finished: bool,
    /// tls12_cid records it sent in its current epoch.
    cid_records: u64,
    /// The retransmitted flight being counted: what it repeated so far.
    run: Option<Vec<Resent>>,
}

/// One DTLS connection on a UDP flow; see the module doc.
#[derive(Debug)]
pub struct DtlsConnection {
    sides: [Side; 2],
    /// Sender of the first ClientHello, its random and when it was first sent.
    client: Option<(Direction, [u8; 32], Timestamp)>,
    /// The ServerHello (not a retry request) chose DTLS 1.3.
    tls13: bool,
    /// A ServerHello (not a retry request) was seen.
    server_hello: bool,
    /// Time of the latest datagram, for the gaps declared at the end.
    last_ts: Timestamp,
    /// DTLS 1.3 protected records (unified header), by what they may be.
    protected: ProtectedRecords,
    facts: DtlsFacts,
}

impl Default for DtlsConnection {
    fn default() -> Self {
        DtlsConnection::new(JoinerLimits::default())
    }
}

impl DtlsConnection {
    /// A connection whose handshake messages are reassembled within `limits` per direction.
    pub fn new(limits: JoinerLimits) -> Self {
        let side = || Side {
            joiner: MessageJoiner::new(limits),
            ..Side::default()
        };
        DtlsConnection {
            sides: [side(), side()],
            client: None,
            tls13: false,
            server_hello: false,
            last_ts: Timestamp::default(),
            protected: ProtectedRecords::default(),
            facts: DtlsFacts::default(),
        }
    }

    /// The same connection, the bytes its joiners hold also charged to `budget` (the
    /// worker's, shared with its other flows and TCP's partial messages).
    pub fn with_budget(mut self, budget: Option<JoinBudget>) -> Self {
        for side in &mut self.sides {
            side.joiner = std::mem::take(&mut side.joiner).with_budget(budget.clone());
        }
        self
    }

    /// The facts so far.
    pub fn facts(&self) -> &DtlsFacts {
        &self.facts
    }

    /// The sender of the first ClientHello, once seen.
    pub fn client(&self) -> Option<Direction> {
        self.client.map(|(dir, _, _)| dir)
    }

    /// Memory the connection holds: itself, what its joiners buffer (both directions), the
    /// retransmitted flights being counted and the facts' lists. What a flow table charges for
    /// it against its budget.
    pub fn charged(&self) -> usize {
        let sides: usize = self
            .sides
            .iter()
            .map(|s| {
                s.joiner.charged()
                    + s.run
                        .as_ref()
                        .map_or(0, |run| run.capacity() * size_of::<Resent>())
            })
            .sum();
        size_of::<Self>() + sides + self.facts.heap_bytes()
    }

    /// Takes one datagram of the flow, sent in `dir` and captured at `ts`.
    pub fn on_datagram(
        &mut self,
        dir: Direction,
        datagram: &[u8],
        ts: Timestamp,
        sink: &mut impl HandshakeSink,
    ) -> DatagramVerdict {
        let kind = demux::classify(datagram);
        if kind != DatagramKind::Dtls {
            self.facts.datagrams.add(kind);
            return DatagramVerdict::Taken;
        }
        let cid_len = self.cid_len_to(dir.reverse());
        if self.starts_another_handshake(datagram, cid_len) {
            return DatagramVerdict::NewConnection;
        }
        self.facts.datagrams.add(kind);
        self.last_ts = ts;
        if self.advances(dir, datagram, cid_len) {
            self.skip_holes(dir.reverse(), ts, sink, false);
        }
        for item in record::records(datagram, cid_len) {
            match item {
                Ok(rec) => self.on_record(dir, rec, ts, sink),
                Err(e) => {
                    let kind = match e {
                        RecordError::UnknownConnectionIdLength => {
                            DtlsAnomaly::ConnectionIdLengthUnknown
                        }
                        _ => DtlsAnomaly::BadRecordHeader,
                    };
                    sink.anomaly(dir, kind.name());
                }
            }
        }
        DatagramVerdict::Taken
    }

    /// Ends the connection: holes left become gaps, waiting messages are delivered, the sink
    /// is finished. Returns the transport facts.
    pub fn finish(mut self, sink: &mut impl HandshakeSink) -> DtlsFacts {
        for dir in [Direction::LoToHi, Direction::HiToLo] {
            self.skip_holes(dir, self.last_ts, sink, true);
        }
        for dir in [Direction::LoToHi, Direction::HiToLo] {
            // A side's last record, held for its size: an alert where a Finished was due.
            if let Some(held) = self.protected.held[dir.index()].take() {
                sink.on_alert(dir, Alert::INFERRED, held.ts);
            }
        }
        sink.finish();
        self.facts
    }

    /// Length of the connection ID on records sent to `receiver`, when known: the one it asked
    /// for in its hello, or none when the client asked for none (then neither side uses one).
    fn cid_len_to(&self, receiver: Direction) -> Option<usize> {
        let (client, _, _) = self.client?;
        let ids = &self.facts.connection_ids;
        if receiver == client {
            return Some(ids.client.as_ref().map_or(0, Vec::len));
        }
        match (&ids.client, self.server_hello && !self.tls13) {
            (None, _) => Some(0),
            (Some(_), true) => Some(ids.server.as_ref().map_or(0, Vec::len)),
            (Some(_), false) => ids.server.as_ref().map(Vec::len),
        }
    }

    /// Whether `datagram` holds the start of a first ClientHello (`message_seq` 0) of another
    /// handshake: with another random than this connection's first one, or with any random
    /// once this handshake has completed (as Zeek does). A ClientHello answering a cookie
    /// request has `message_seq` 1 and keeps the random (RFC 6347 §4.2.1); one resent
    /// before the handshake completed keeps both.
    fn starts_another_handshake(&self, datagram: &[u8], cid_len: Option<usize>) -> bool {
        let Some((_, random, _)) = &self.client else {
            return false;
        };
        let completed = self.completed();
        record::records(datagram, cid_len)
            .map_while(Result::ok)
            .filter(|r| is_cleartext_handshake(&r.header))
            .flat_map(|r| fragment::fragments(r.body).map_while(Result::ok))
            .any(|f| {
                f.msg_type == HandshakeType::CLIENT_HELLO.0
                    && f.message_seq == 0
                    && f.offset == 0
                    && (completed || f.bytes.get(2..34).is_some_and(|r| r != random))
            })
    }

    /// Whether both sides have sent encrypted records: the handshake is over (each side's
    /// first encrypted handshake record is its Finished).
    fn completed(&self) -> bool {
        [Direction::LoToHi, Direction::HiToLo]
            .into_iter()
            .all(|dir| self.sides[dir.index()].epoch > 0 || self.protected.count[dir.index()] > 0)
    }

    /// Whether `dir` sends something new in `datagram`: a fragment of a message not yet
    /// delivered, a record of a later epoch, or a DTLS 1.3 protected record. The other side's
    /// holes are then given up on (its flight must have been received).
    fn advances(&self, dir: Direction, datagram: &[u8], cid_len: Option<usize>) -> bool {
        let side = &self.sides[dir.index()];
        record::records(datagram, cid_len)
            .map_while(Result::ok)
            .any(|r| match r.header {
                Header::Unified { .. } => true,
                Header::Classic { epoch, .. } if epoch > side.epoch => true,
                Header::Classic { .. } if is_cleartext_handshake(&r.header) => {
                    fragment::fragments(r.body)
                        .map_while(Result::ok)
                        .any(|f| side.joiner.is_due(f.message_seq))
                }
                Header::Classic { .. } => false,
            })
    }

    /// Gives up on the messages `dir` is missing (all of them with `all`), reporting a gap and
    /// delivering what waited behind.
    fn skip_holes(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        sink: &mut impl HandshakeSink,
        all: bool,
    ) {
        while self.sides[dir.index()].joiner.skip_hole(all) > 0 {
            sink.on_gap(dir, ts);
            self.deliver(dir, sink);
        }
    }

    fn on_record(
        &mut self,
        dir: Direction,
        rec: Record<'_>,
        ts: Timestamp,
        sink: &mut impl HandshakeSink,
    ) {
        self.facts.records[dir.index()] += 1;
        match rec.header {
            Header::Unified { epoch_bits, cid } => {
                if !cid.is_empty() {
                    self.facts.connection_ids.records += 1;
                }
                let record = ProtectedRecord {
                    handshake: epoch_bits == 2,
                    len: rec.body.len(),
                    ts,
                };
                let client = self.client();
                for pass in self
                    .protected
                    .on_record(dir, client, record)
                    .into_iter()
                    .flatten()
                {
                    pass.pass_on(dir, sink);
                }
            }
            Header::Classic {
                content_type,
                version,
                epoch,
                seq,
                cid,
            } => {
                self.facts.saw_record_version(version);
                if !record::is_known_version(version) && version >> 8 != 0xfe {
                    sink.anomaly(dir, DtlsAnomaly::UnknownRecordVersion.name());
                }
                if !cid.is_empty() {
                    self.facts.connection_ids.records += 1;
                }
                let side = &mut self.sides[dir.index()];
                let older = epoch < side.epoch;
                if epoch > side.epoch {
                    side.epoch = epoch;
                    side.seen[1] = SeenRecords::default();
                    side.finished = false;
                    side.cid_records = 0;
                }
                let window = usize::from(epoch != 0);
                let replayed =
                    (epoch == 0 || epoch == side.epoch) && side.seen[window].check_and_set(seq);
                if replayed {
                    self.facts.duplicated_records += 1;
                    // A duplicated handshake record is still read, in case a sender reused a
                    // sequence number for new bytes; anything else is dropped.
                    if !(epoch == 0 && content_type == ContentType::HANDSHAKE.0) {
                        return;
                    }
                }
                let body = rec.body;
                match ContentType(content_type) {
                    ContentType::HANDSHAKE if epoch == 0 => {
                        self.on_handshake_record(dir, body, ts, replayed, older, sink)
                    }
                    ContentType::HANDSHAKE => {
                        self.on_protected_handshake(dir, body.len(), ts, sink)
                    }
                    ContentType::CHANGE_CIPHER_SPEC => {
                        self.on_change_cipher_spec(dir, epoch, ts, sink)
                    }
                    ContentType::ALERT if epoch == 0 => {
                        if older {
                            sink.anomaly(dir, DtlsAnomaly::EpochWentBackwards.name());
                        }
                        for pair in body.chunks(2) {
                            if let [level, description] = pair {
                                let alert = Alert::cleartext(
                                    AlertLevel(*level),
                                    AlertDescription(*description),
                                );
                                sink.on_alert(dir, alert, ts);
                            }
                        }
                    }
                    ContentType::ALERT => sink.on_alert(dir, Alert::ENCRYPTED, ts),
                    ContentType::APPLICATION_DATA => sink.on_application_data(dir, body.len(), ts),
                    ContentType::TLS12_CID => {
                        let side = &mut self.sides[dir.index()];
                        side.cid_records += 1;
                        if side.cid_records == 1 {
                            sink.on_protected(dir, body.len(), ts);
                        } else {
                            sink.on_application_data(dir, body.len(), ts);
                        }
                    }
                    // Heartbeats and DTLS 1.3 ACKs say nothing about the handshake; the record
                    // iterator yields no other content type.
                    _ => {}
                }
            }
        }
    }

    /// A cleartext handshake record: its fragments go to the side's joiner.
    fn on_handshake_record(
        &mut self,
        dir: Direction,
        body: &[u8],
        ts: Timestamp,
        replayed: bool,
        older_epoch: bool,
        sink: &mut impl HandshakeSink,
    ) {
        let mut new_bytes = false;
        for item in fragment::fragments(body) {
            let frag = match item {
                Ok(frag) => frag,
                Err(FragmentError::Truncated) => {
                    sink.anomaly(dir, DtlsAnomaly::BadHandshakeFragment.name());
                    break;
                }
                Err(FragmentError::BeyondMessage) => {
                    sink.anomaly(dir, DtlsAnomaly::FragmentBeyondMessageLength.name());
                    break;
                }
            };
            match self.sides[dir.index()].joiner.insert(&frag, ts) {
                FragmentOutcome::New | FragmentOutcome::TooLarge => {
                    new_bytes = true;
                    self.sides[dir.index()].run = None;
                }
                FragmentOutcome::Duplicate { first_seen } if !replayed => {
                    let unit = Resent::Fragment {
                        message_seq: frag.message_seq,
                        offset: frag.offset,
                    };
                    self.resent(dir, unit, ts.elapsed_since(first_seen), ts);
                }
                FragmentOutcome::Duplicate { .. } | FragmentOutcome::Stale => {}
                FragmentOutcome::Conflict => {
                    sink.anomaly(dir, DtlsAnomaly::InconsistentFragment.name())
                }
                FragmentOutcome::TooFarAhead => {
                    sink.anomaly(dir, DtlsAnomaly::MessageSeqTooFarAhead.name())
                }
                FragmentOutcome::BufferFull => {
                    sink.anomaly(dir, DtlsAnomaly::HandshakeBufferFull.name())
                }
            }
        }
        if older_epoch && new_bytes {
            sink.anomaly(dir, DtlsAnomaly::EpochWentBackwards.name());
        }
        self.deliver(dir, sink);
    }

    /// An encrypted handshake record (DTLS ≤ 1.2, epoch ≥ 1): the sender's Finished, a resent
    /// Finished after a repeated ChangeCipherSpec (not passed on), or a later handshake
    /// (renegotiation) for the layer to judge.
    fn on_protected_handshake(
        &mut self,
        dir: Direction,
        len: usize,
        ts: Timestamp,
        sink: &mut impl HandshakeSink,
    ) {
        let side = &mut self.sides[dir.index()];
        if side.finished && side.resent_ccs > 0 {
            side.resent_ccs -= 1;
            self.facts.retransmissions.fragments[dir.index()] += 1;
            return;
        }
        side.finished = true;
        sink.on_protected(dir, len, ts);
    }

    /// A ChangeCipherSpec sent in `epoch`: passed on the first time, a retransmission after.
    fn on_change_cipher_spec(
        &mut self,
        dir: Direction,
        epoch: u16,
        ts: Timestamp,
        sink: &mut impl HandshakeSink,
    ) {
        let side = &mut self.sides[dir.index()];
        let bit = 1u16.checked_shl(u32::from(epoch)).unwrap_or(0);
        if bit != 0 && side.ccs_epochs & bit != 0 {
            side.resent_ccs += 1;
            self.resent(dir, Resent::ChangeCipherSpec, None, ts);
            return;
        }
        side.ccs_epochs |= bit;
        sink.on_change_cipher_spec(dir, ts);
    }

    /// Counts what `dir` repeated: part of the flight being resent, or the first of a new one
    /// (`after_us`: since the repeated message was first sent).
    fn resent(&mut self, dir: Direction, unit: Resent, after_us: Option<i64>, ts: Timestamp) {
        self.facts.retransmissions.fragments[dir.index()] += 1;
        let side = &mut self.sides[dir.index()];
        if let Some(run) = &mut side.run
            && !run.contains(&unit)
        {
            if run.len() < MAX_RUN_UNITS {
                run.push(unit);
            }
            return;
        }
        side.run = Some(vec![unit]);
        let message_seq = match unit {
            Resent::Fragment { message_seq, .. } => Some(message_seq),
            Resent::ChangeCipherSpec => None,
        };
        self.facts.retransmissions.add(RetransmittedFlight {
            from: dir,
            ts,
            message_seq,
            after_us,
        });
    }

    /// Passes on `dir`'s messages that are complete and due.
    fn deliver(&mut self, dir: Direction, sink: &mut impl HandshakeSink) {
        while let Some(msg) = self.sides[dir.index()].joiner.pop() {
            if msg.too_large {
                sink.anomaly(dir, DtlsAnomaly::HandshakeMessageTooLarge.name());
                sink.on_gap(dir, msg.ts);
                continue;
            }
            self.interpret(dir, msg.msg_type, &msg.body, msg.first_seen);
            sink.on_message(dir, msg.msg_type, &msg.body, msg.ts);
        }
    }

    /// Learns the transport facts a message carries: who the client is, the cookie round,
    /// the version, connection IDs. `first_seen` is when its first fragment arrived (a resent
    /// message counts from its first sending).
    fn interpret(&mut self, dir: Direction, msg_type: u8, body: &[u8], first_seen: Timestamp) {
        match HandshakeType(msg_type) {
            HandshakeType::CLIENT_HELLO => {
                let Ok(ch) = hello::parse_client_hello_as(body, HelloFormat::Dtls) else {
                    return;
                };
                match self.client {
                    None => {
                        // The parse succeeded, so the random is there.
                        let random = body.get(2..34).and_then(|r| <[u8; 32]>::try_from(r).ok());
                        self.client = random.map(|random| (dir, random, first_seen));
                    }
                    Some((client, _, _)) if client == dir => {
                        if let Some(round) = &mut self.facts.cookie_exchange
                            && round.second_client_hello.is_none()
                        {
                            round.second_client_hello = Some(first_seen);
                        }
                    }
                    Some(_) => {}
                }
                if ch.connection_id.is_some() {
                    self.facts.connection_ids.client = ch.connection_id;
                }
            }
            HandshakeType::HELLO_VERIFY_REQUEST => {
                if let Some(hvr) = parse_hello_verify_request(body) {
                    self.cookie_requested(
                        CookieRequest::HelloVerifyRequest,
                        hvr.version,
                        Some(hvr.cookie_len),
                        first_seen,
                    );
                }
            }
            HandshakeType::SERVER_HELLO => {
                let Ok(sh) = hello::parse_server_hello(body, msg_type) else {
                    return;
                };
                if sh.hrr {
                    let cookie = sh.extensions.contains(&ExtensionType::COOKIE.0);
                    let request = CookieRequest::HelloRetryRequest { cookie };
                    self.cookie_requested(request, sh.version, None, first_seen);
                    return;
                }
                self.server_hello = true;
                self.tls13 = ProtocolVersion(sh.version) == ProtocolVersion::DTLS13;
                self.facts.version = Some(sh.version);
                if !self.tls13 && sh.connection_id.is_some() {
                    self.facts.connection_ids.server = sh.connection_id;
                }
            }
            _ => {}
        }
    }

    /// Notes the server's request for a second ClientHello (the first one only).
    fn cookie_requested(
        &mut self,
        request: CookieRequest,
        version: u16,
        cookie_len: Option<u8>,
        at: Timestamp,
    ) {
        let Some((_, _, first_client_hello)) = self.client else {
            return;
        };
        if self.facts.cookie_exchange.is_none() {
            self.facts.cookie_exchange = Some(CookieExchange {
                request,
                version,
                cookie_len,
                first_client_hello,
                requested: at,
                second_client_hello: None,
            });
        }
    }
}

/// One DTLS 1.3 protected record, as passed on (or held back).
#[derive(Clone, Copy, Debug)]
struct ProtectedRecord {
    /// Sent in epoch 2 (handshake keys); later epochs carry application data.
    handshake: bool,
    len: usize,
    ts: Timestamp,
}

impl ProtectedRecord {
    fn pass_on(self, dir: Direction, sink: &mut impl HandshakeSink) {
        if self.handshake {
            sink.on_protected(dir, self.len, self.ts);
        } else {
            sink.on_application_data(dir, self.len, self.ts);
        }
    }
}

/// DTLS 1.3 hides alerts as it hides the handshake, so, as for TLS 1.3 over TCP, an alert is
/// inferred from record sizes ([`INFERRED_ALERT_LEN`]: two alert bytes, the inner content
/// type, a 16-byte tag, a little padding): the client's first protected record (where its
/// Finished flight was due), or the server's first record after it (its answer to the client's
/// flight, typically a rejected certificate), when alert-sized and the sender's last record.
/// Such a record is held back until the sender sends another (then it is passed on as it
/// was) or the connection ends (then it is an alert). A Finished, an ACK or a ticket is never
/// that small.
#[derive(Debug, Default)]
struct ProtectedRecords {
    /// Protected records per direction.
    count: [u64; 2],
    /// Length of each direction's latest protected record.
    last_len: [usize; 2],
    /// The server's count when the client's first protected record came.
    server_count_at_client_flight: Option<u64>,
    /// A record per direction that may be an alert.
    held: [Option<ProtectedRecord>; 2],
}

impl ProtectedRecords {
    /// Notes a protected record from `dir` (the client being `client`); returns what to pass
    /// on now, in order: the record held before (not its sender's last after all), then this
    /// one unless it is held in turn.
    fn on_record(
        &mut self,
        dir: Direction,
        client: Option<Direction>,
        record: ProtectedRecord,
    ) -> [Option<ProtectedRecord>; 2] {
        let i = dir.index();
        let candidate = is_alert_sized(record.len)
            && match client {
                Some(c) if c == dir => self.count[i] == 0,
                Some(c) => {
                    self.server_count_at_client_flight == Some(self.count[i])
                        && !is_alert_sized(self.last_len[c.index()])
                }
                None => false,
            };
        if client == Some(dir) && self.count[i] == 0 {
            self.server_count_at_client_flight = Some(self.count[1 - i]);
        }
        self.count[i] += 1;
        self.last_len[i] = record.len;
        let before = self.held[i].take();
        if candidate {
            self.held[i] = Some(record);
            [before, None]
        } else {
            [before, Some(record)]
        }
    }
}

/// Whether a protected record's length is that of an alert.
fn is_alert_sized(len: usize) -> bool {
    u16::try_from(len).is_ok_and(|len| INFERRED_ALERT_LEN.contains(&len))
}

/// Whether a record header is a cleartext (epoch 0) handshake record.
fn is_cleartext_handshake(header: &Header<'_>) -> bool {
    matches!(
        header,
        Header::Classic { content_type, epoch: 0, .. } if *content_type == ContentType::HANDSHAKE.0
    )
}

#[cfg(test)]
mod tests;
