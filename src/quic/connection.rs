//! The per-flow QUIC state machine: datagrams in (direction, bytes, time), the TLS handshake
//! out through a [`HandshakeSink`] (the shared handshake layer's API), and the transport facts
//! of the connection in [`QuicFacts`].
//!
//! Rules that decide what is readable:
//! - **The client** is the sender of the first Initial packet that opens with the client keys
//!   derived from its own Destination Connection ID. A server Initial never does (its keys come
//!   from the *client's* DCID), so a capture that starts at the server's reply cannot mistake
//!   the server for the client.
//! - **Keys** come from the DCID of the client's first Initial of the attempt, and stay: the
//!   client switching to the server's connection ID does not change them. They change after a
//!   valid Retry (to the Retry's SCID, which the client uses next) and after Version
//!   Negotiation (the client's next Initial starts a new attempt). The server may answer in
//!   another version (compatible negotiation, RFC 9368): keys are derived per version from the
//!   same DCID, at most two versions per attempt.
//! - Handshake, 0-RTT and 1-RTT packets cannot be opened without secrets: Handshake packets go
//!   to [`HandshakeSink::on_protected`] (the client's first one is its Finished flight), and
//!   all are counted per side. With a key log ([`QuicConnection::with_key_log`]), Handshake
//!   packets are opened and their CRYPTO frames joined into messages as the Initial ones are,
//!   and 1-RTT packets until HANDSHAKE_DONE ([`super::decrypt`]); a packet that does not open
//!   falls back to the path without keys.
//! - **Stateless resets** look like short-header packets with 16 random bytes at the end, and
//!   the token that proves one is only sent under encryption, so a passive observer cannot
//!   confirm one. What is sound: a short-header datagram of at least 21 bytes (RFC 9000
//!   §10.3) from a side that has sent no long-header packet on this flow, while the other
//!   side has, cannot be 1-RTT data of that connection (1-RTT keys need a handshake), so it is
//!   reported as a suspected reset. A reset sent later in a connection, after the handshake,
//!   looks like any other 1-RTT packet and is not recognised.
//!
//! Memory per flow is bounded: keys as bytes (at most two versions), one CRYPTO stream per
//! direction (Initial space) under [`CryptoLimits`], and lists in the facts capped
//! ([`MAX_LISTED`], [`MAX_REASON`]). A flood of Initials with fresh DCIDs on one flow costs one
//! key derivation per packet and no memory.

use super::crypto_stream::{CryptoEvent, CryptoLimits, CryptoStream};
use super::decrypt::{KeyLogDecryption, KeySpace, QuicDecrypted, Seen};
use super::frame::{ConnectionClose, Frame, application_frames, frames, not_allowed_in_initial};
use super::keys::{InitialKeys, RetryCheck, check_retry};
use super::packet::{
    ConnectionId, LongPacket, Packet, RetryPacket, VersionNegotiation, packets, unprotect,
};
use super::protection::OpenError;
use super::version::{QuicVersion, VersionKind};
use super::{PacketType, Space};
use crate::flow::{Direction, Timestamp};
use crate::keylog::SharedKeyLog;
use crate::tls::Alert;
use crate::tls::codes::{AlertDescription, AlertLevel};
use crate::tls::handshake::HandshakeSink;
use crate::tls::joiner::JoinBudget;

/// Caps of the driver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuicConfig {
    /// Caps of each CRYPTO stream.
    pub crypto: CryptoLimits,
}

/// State shared by the QUIC connections of one worker: the buffer packets are decrypted in
/// (one per worker rather than one per flow), and the worker's budget for bytes waiting to be
/// joined into handshake messages (CRYPTO bytes beyond a hole, partial messages), shared with
/// its other flows and TCP's, so that a flood of flows each holding CRYPTO bytes is bounded.
#[derive(Debug, Default)]
pub struct QuicContext {
    scratch: Vec<u8>,
    budget: Option<JoinBudget>,
}

impl QuicContext {
    /// A context whose connections charge what their CRYPTO streams hold to `budget`.
    pub fn with_budget(budget: Option<JoinBudget>) -> QuicContext {
        QuicContext {
            scratch: Vec::new(),
            budget,
        }
    }
}

/// Most entries kept in a list of the facts (versions seen, versions offered).
pub const MAX_LISTED: usize = 16;
/// Longest CONNECTION_CLOSE reason phrase kept, in bytes.
pub const MAX_REASON: usize = 256;

/// Packets counted on one side of a connection, by type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketCounts {
    /// UDP datagrams.
    pub datagrams: u64,
    /// Datagrams holding more than one QUIC packet.
    pub coalesced: u64,
    /// Initial packets.
    pub initial: u64,
    /// 0-RTT packets.
    pub zero_rtt: u64,
    /// Handshake packets.
    pub handshake: u64,
    /// Retry packets.
    pub retry: u64,
    /// Version Negotiation packets.
    pub version_negotiation: u64,
    /// Short-header (1-RTT) packets.
    pub one_rtt: u64,
    /// Long headers of versions tlsight cannot read.
    pub unreadable: u64,
    /// Bytes that did not parse as a QUIC packet (the rest of their datagram is skipped).
    pub malformed: u64,
}

impl PacketCounts {
    fn count(&mut self, ty: PacketType) {
        let n = match ty {
            PacketType::Initial => &mut self.initial,
            PacketType::ZeroRtt => &mut self.zero_rtt,
            PacketType::Handshake => &mut self.handshake,
            PacketType::Retry => &mut self.retry,
            PacketType::VersionNegotiation => &mut self.version_negotiation,
            PacketType::OneRtt => &mut self.one_rtt,
            PacketType::Unreadable => &mut self.unreadable,
        };
        *n += 1;
    }

    /// Long-header packets of any type.
    pub fn long_header(&self) -> u64 {
        self.initial
            + self.zero_rtt
            + self.handshake
            + self.retry
            + self.version_negotiation
            + self.unreadable
    }
}

/// Initial packets of one side that could not be opened, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Undecryptable {
    /// No client Initial was read, so the keys are unknown (e.g. the capture missed it).
    pub keys_unknown: u64,
    /// The AEAD tag did not verify with the connection's keys (another connection attempt,
    /// or corrupted bytes).
    pub authentication: u64,
    /// Too short to hold a header-protection sample and a tag.
    pub too_short: u64,
}

impl Undecryptable {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.keys_unknown + self.authentication + self.too_short
    }
}

/// A Retry seen on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryFacts {
    /// Length of the token the client must echo.
    pub token_len: usize,
    /// The Retry's SCID: the client's next DCID, and the source of its new keys.
    pub scid: ConnectionId,
    /// The integrity check against the client's original DCID; `None` when no client
    /// Initial was read before it.
    pub integrity: Option<RetryCheck>,
    /// When it was seen.
    pub ts: Timestamp,
}

/// A Version Negotiation packet seen on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionNegotiationFacts {
    /// The side that sent it (the server).
    pub from: Direction,
    /// The versions it offered, wire order (at most [`MAX_LISTED`]).
    pub offered: Vec<QuicVersion>,
    /// When it was seen.
    pub ts: Timestamp,
}

/// The first CONNECTION_CLOSE read on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFacts {
    /// Who sent it.
    pub from: Direction,
    /// The packet number space it was read in (Initial; Handshake and application with key
    /// logs).
    pub space: Space,
    /// Frame type 0x1d (application error) rather than 0x1c.
    pub application: bool,
    /// The error code.
    pub error_code: u64,
    /// The frame type that caused the error (0x1c only).
    pub frame_type: Option<u64>,
    /// The reason phrase (lossy UTF-8, at most [`MAX_REASON`] bytes).
    pub reason: String,
    /// The TLS alert of a CRYPTO_ERROR (0x0100 + alert).
    pub tls_alert: Option<u8>,
    /// When it was seen.
    pub ts: Timestamp,
}

/// Capture times of the connection's milestones, per direction (indexed by
/// [`Direction::index`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuicTimes {
    /// First datagram of each side.
    pub first_datagram: [Option<Timestamp>; 2],
    /// First Initial packet of each side.
    pub first_initial: [Option<Timestamp>; 2],
    /// First Handshake packet of each side (the client's is its Finished flight).
    pub first_handshake: [Option<Timestamp>; 2],
}

/// The transport facts of one QUIC connection, for its record (`quic` object). Per-side
/// arrays are indexed by [`Direction::index`]; `client` says which side is the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuicFacts {
    /// Version of the client's first readable Initial (else of the first long header seen).
    pub version: Option<QuicVersion>,
    /// Distinct versions of the long headers seen, in order (at most [`MAX_LISTED`]).
    pub versions_seen: Vec<QuicVersion>,
    /// The side whose Initial opened with client keys.
    pub client: Option<Direction>,
    /// DCID of the client's first Initial read (the one its keys came from).
    pub client_dcid: Option<ConnectionId>,
    /// SCID of the client's first Initial.
    pub client_scid: Option<ConnectionId>,
    /// SCID of the server's first Initial (or Handshake) packet.
    pub server_scid: Option<ConnectionId>,
    /// The Retry, when the server sent one.
    pub retry: Option<RetryFacts>,
    /// The Version Negotiation packet, when the server sent one.
    pub version_negotiation: Option<VersionNegotiationFacts>,
    /// The first CONNECTION_CLOSE read.
    pub connection_close: Option<CloseFacts>,
    /// The client sent 0-RTT packets (early data offered).
    pub early_data: bool,
    /// Packets per side.
    pub packets: [PacketCounts; 2],
    /// Gaps in each side's CRYPTO streams (Initial; with key logs, Handshake and 1-RTT too).
    pub crypto_gaps: [u64; 2],
    /// CRYPTO bytes dropped for lying beyond the cap, per side.
    pub crypto_beyond_cap: [u64; 2],
    /// Initial packets that could not be opened, per side.
    pub undecryptable_initials: [Undecryptable; 2],
    /// The side that sent a suspected stateless reset.
    pub stateless_reset: Option<Direction>,
    /// Milestones.
    pub times: QuicTimes,
    /// What key-log decryption read (connections of an analysis with key logs only).
    pub decrypted: Option<Box<QuicDecrypted>>,
}

impl QuicFacts {
    /// Whether `client` went on to send 1-RTT packets with no CONNECTION_CLOSE read: the
    /// handshake is confirmed as far as packets without keys show (a client that rejects the
    /// server's flight closes inside a Handshake packet and sends no 1-RTT packet).
    pub fn client_went_on(&self, client: Direction) -> bool {
        self.connection_close.is_none() && self.packets[client.index()].one_rtt > 0
    }
}

/// The keys of the current connection attempt.
#[derive(Clone, Debug)]
struct Attempt {
    /// The DCID the keys come from.
    dcid: ConnectionId,
    /// Keys per version (the client's, and the server's under compatible negotiation).
    keys: [Option<(QuicVersion, InitialKeys)>; 2],
}

impl Attempt {
    /// The keys for `version`, derived on first use (the second slot is reused when a third
    /// version shows up, so at most two are held).
    fn keys(&mut self, version: QuicVersion) -> Option<InitialKeys> {
        if let Some((_, keys)) = self.keys.iter().flatten().find(|(v, _)| *v == version) {
            return Some(*keys);
        }
        let keys = InitialKeys::derive(version.params()?, self.dcid.as_bytes()).ok()?;
        let slot = if self.keys[0].is_none() { 0 } else { 1 };
        self.keys[slot] = Some((version, keys));
        Some(keys)
    }
}

/// One QUIC connection (one UDP flow) as seen from the wire.
#[derive(Debug, Default)]
pub struct QuicConnection {
    config: QuicConfig,
    attempt: Option<Attempt>,
    /// Initial-space CRYPTO stream of each direction, made on first use.
    streams: [Option<Box<CryptoStream>>; 2],
    /// Largest Initial packet number opened per direction.
    largest_pn: [Option<u64>; 2],
    /// A Version Negotiation packet ended the attempt: the client's next Initial starts anew.
    renegotiating: bool,
    last_ts: Timestamp,
    facts: QuicFacts,
    /// Handshake and 1-RTT decryption, with a key log.
    decrypt: Option<Box<KeyLogDecryption>>,
}

impl QuicConnection {
    /// A connection with these caps.
    pub fn new(config: QuicConfig) -> QuicConnection {
        QuicConnection {
            config,
            ..QuicConnection::default()
        }
    }

    /// The same connection, opening Handshake and 1-RTT packets with secrets from `keys`.
    pub fn with_key_log(mut self, keys: SharedKeyLog) -> QuicConnection {
        self.decrypt = Some(Box::new(KeyLogDecryption::new(keys)));
        self
    }

    /// The facts so far.
    pub fn facts(&self) -> &QuicFacts {
        &self.facts
    }

    /// Whether `datagram`, sent in `dir`, opens another connection on this one's 5-tuple
    /// ([`opens_another`]), once the server has answered this one (before, a client's new
    /// Initial may still belong to it: after a Version Negotiation, say).
    pub fn starts_another(&self, dir: Direction, datagram: &[u8]) -> bool {
        let f = &self.facts;
        f.client == Some(dir)
            && f.server_scid.is_some()
            && f.client_scid
                .is_some_and(|scid| opens_another(datagram, &scid))
    }

    /// Whether, without key logs, the handshake is confirmed as far as an observer can tell:
    /// the client sent its Finished flight (a Handshake packet) and then 1-RTT packets, and no
    /// CONNECTION_CLOSE was read ([`QuicFacts::client_went_on`]). Nothing later is readable.
    pub fn confirmed_without_keys(&self) -> bool {
        self.decrypt.is_none()
            && self.facts.client.is_some_and(|client| {
                self.facts.packets[client.index()].handshake > 0
                    && self.facts.client_went_on(client)
            })
    }

    /// Reads one UDP datagram sent in direction `dir`.
    pub fn on_datagram(
        &mut self,
        ctx: &mut QuicContext,
        dir: Direction,
        datagram: &[u8],
        ts: Timestamp,
        sink: &mut impl HandshakeSink,
    ) {
        self.last_ts = ts;
        let side = dir.index();
        self.facts.times.first_datagram[side].get_or_insert(ts);
        self.facts.packets[side].datagrams += 1;
        let mut in_datagram = 0;
        for packet in packets(datagram) {
            let packet = match packet {
                Ok(p) => p,
                Err(_) => {
                    self.facts.packets[side].malformed += 1;
                    sink.anomaly(dir, "quic_malformed_packet");
                    break;
                }
            };
            in_datagram += 1;
            self.facts.packets[side].count(packet.ty());
            match packet {
                Packet::Long(p) => {
                    self.version_seen(p.version);
                    self.on_long(ctx, dir, &p, ts, sink);
                }
                Packet::Retry(r) => {
                    self.version_seen(r.version);
                    self.on_retry(dir, &r, ts);
                }
                Packet::VersionNegotiation(vn) => self.on_version_negotiation(dir, &vn, ts),
                Packet::Unreadable { version, .. } => self.version_seen(version),
                Packet::Short { bytes } => self.on_short(ctx, dir, bytes, ts, sink),
            }
        }
        if in_datagram > 1 {
            self.facts.packets[side].coalesced += 1;
        }
    }

    /// The capture ended or the flow was closed: reports holes left in the CRYPTO streams,
    /// finishes the sink and returns the facts.
    pub fn finish(mut self, sink: &mut impl HandshakeSink) -> QuicFacts {
        for dir in [Direction::LoToHi, Direction::HiToLo] {
            if let Some(stream) = self.streams[dir.index()].as_mut() {
                let mut gaps = 0;
                stream.finish(self.last_ts, |e| {
                    if let CryptoEvent::Gap { ts, .. } = e {
                        gaps += 1;
                        sink.on_gap(dir, ts);
                    }
                });
                self.facts.crypto_gaps[dir.index()] += gaps;
            }
        }
        if let (Some(d), Some(client)) = (self.decrypt.as_deref_mut(), self.facts.client) {
            // The last 1-RTT packet of each side, kept since opening stopped: a
            // CONNECTION_CLOSE after the handshake is there.
            let mut scratch = Vec::new();
            for (dir, bytes, ts) in d.take_last_packets() {
                let pn_offset = short_pn_offset(&self.facts, dir);
                if let Some(opened) = d.open_last(dir, client, &bytes, pn_offset, &mut scratch) {
                    let payload = opened.payload;
                    space_frames(
                        &mut self.facts,
                        None,
                        Space::Application,
                        dir,
                        payload,
                        ts,
                        sink,
                        |_| {},
                    );
                }
            }
        }
        sink.finish();
        self.facts.decrypted = self.decrypt.map(|d| Box::new(d.finish()));
        self.facts
    }

    fn version_seen(&mut self, version: QuicVersion) {
        let seen = &mut self.facts.versions_seen;
        if !seen.contains(&version) && seen.len() < MAX_LISTED {
            seen.push(version);
        }
        self.facts.version.get_or_insert(version);
    }

    fn on_long(
        &mut self,
        ctx: &mut QuicContext,
        dir: Direction,
        p: &LongPacket<'_>,
        ts: Timestamp,
        sink: &mut impl HandshakeSink,
    ) {
        let side = dir.index();
        match p.ty {
            PacketType::Initial => {
                self.facts.times.first_initial[side].get_or_insert(ts);
                self.on_initial(ctx, dir, p, ts, sink);
            }
            PacketType::Handshake => {
                self.facts.times.first_handshake[side].get_or_insert(ts);
                if self.facts.client == Some(dir.reverse()) && self.facts.server_scid.is_none() {
                    self.facts.server_scid = ConnectionId::new(p.scid);
                }
                self.on_handshake(ctx, dir, p, ts, sink);
            }
            PacketType::ZeroRtt => {
                self.facts.early_data |= self.facts.client != Some(dir.reverse());
            }
            _ => {}
        }
    }

    fn on_initial(
        &mut self,
        ctx: &mut QuicContext,
        dir: Direction,
        p: &LongPacket<'_>,
        ts: Timestamp,
        sink: &mut impl HandshakeSink,
    ) {
        let side = dir.index();
        let is_client = match self.facts.client {
            Some(client) => client == dir,
            None => true,
        };
        if is_client && (self.attempt.is_none() || self.renegotiating) {
            self.start_attempt(p);
        }
        let keys = match self.attempt.as_mut().and_then(|a| a.keys(p.version)) {
            Some(keys) => keys,
            None => {
                self.facts.undecryptable_initials[side].keys_unknown += 1;
                return;
            }
        };
        let key = if is_client {
            &keys.client
        } else {
            &keys.server
        };
        let opened = match unprotect(
            p.bytes,
            p.pn_offset,
            key,
            self.largest_pn[side],
            &mut ctx.scratch,
        ) {
            Ok(opened) => opened,
            Err(e) => {
                let counts = &mut self.facts.undecryptable_initials[side];
                match e {
                    OpenError::TooShort => counts.too_short += 1,
                    OpenError::Authentication if self.facts.client.is_none() => {
                        // Not a client Initial (or not of this attempt): the keys are unknown.
                        counts.keys_unknown += 1;
                        self.attempt = None;
                    }
                    OpenError::Authentication => counts.authentication += 1,
                }
                return;
            }
        };
        if is_client && self.facts.client_scid.is_none() {
            // The client's first Initial read.
            self.facts.client = Some(dir);
            self.facts.version = Some(p.version);
            self.facts.client_dcid = self.attempt.as_ref().map(|a| a.dcid);
            self.facts.client_scid = ConnectionId::new(p.scid);
        }
        if !is_client && self.facts.server_scid.is_none() {
            self.facts.server_scid = ConnectionId::new(p.scid);
        }
        let largest = &mut self.largest_pn[side];
        *largest = Some(largest.map_or(opened.packet_number, |l| l.max(opened.packet_number)));
        if opened.reserved_bits != 0 {
            sink.anomaly(dir, "quic_reserved_bits_set");
        }
        let limits = self.config.crypto;
        let stream = self.streams[side]
            .get_or_insert_with(|| Box::new(CryptoStream::new(limits, ctx.budget.clone())));
        let decrypt = &mut self.decrypt;
        space_frames(
            &mut self.facts,
            Some(stream),
            Space::Initial,
            dir,
            opened.payload,
            ts,
            sink,
            |seen| {
                if let Some(d) = decrypt {
                    d.initial_crypto(is_client, seen);
                }
            },
        );
    }

    /// A Handshake packet: opened with the key log's secrets when there are some, its frames
    /// read as the Initial ones; otherwise (or when it does not open) reported as protected.
    fn on_handshake(
        &mut self,
        ctx: &mut QuicContext,
        dir: Direction,
        p: &LongPacket<'_>,
        ts: Timestamp,
        sink: &mut impl HandshakeSink,
    ) {
        let (Some(d), Some(client)) = (self.decrypt.as_deref_mut(), self.facts.client) else {
            sink.on_protected(dir, p.bytes.len(), ts);
            return;
        };
        if !d.reads() {
            // Confirmed: endpoints have dropped the Handshake keys; late ones say nothing.
            return;
        }
        let Some(opened) = d.open(
            KeySpace::Handshake,
            dir,
            client,
            Some(p.version),
            p.bytes,
            p.pn_offset,
            &mut ctx.scratch,
        ) else {
            sink.on_protected(dir, p.bytes.len(), ts);
            return;
        };
        if opened.reserved_bits != 0 {
            sink.anomaly(dir, "quic_reserved_bits_set");
        }
        let limits = self.config.crypto;
        let (stream, mut reader) = d.stream(KeySpace::Handshake, dir, limits, &ctx.budget);
        space_frames(
            &mut self.facts,
            Some(stream),
            Space::Handshake,
            dir,
            opened.payload,
            ts,
            sink,
            |seen| reader.seen(dir == client, seen, ts),
        );
    }

    /// The client's Initial starts an attempt: keys from its DCID.
    fn start_attempt(&mut self, p: &LongPacket<'_>) {
        let Some(dcid) = ConnectionId::new(p.dcid) else {
            return;
        };
        if self.renegotiating {
            // A new attempt after Version Negotiation: a new CRYPTO stream and packet numbers.
            self.renegotiating = false;
            self.streams = [None, None];
            if let Some(d) = self.decrypt.as_deref_mut() {
                d.restart();
            }
            self.largest_pn = [None, None];
            self.facts.version = Some(p.version);
        }
        self.attempt = Some(Attempt {
            dcid,
            keys: [None, None],
        });
    }

    fn on_retry(&mut self, dir: Direction, r: &RetryPacket<'_>, ts: Timestamp) {
        if self.facts.client == Some(dir) || self.facts.retry.is_some() {
            return;
        }
        let Some(scid) = ConnectionId::new(r.scid) else {
            return;
        };
        let integrity = match (&self.attempt, r.version.params()) {
            (Some(attempt), Some(params)) => {
                Some(check_retry(params, attempt.dcid.as_bytes(), r.bytes))
            }
            _ => None,
        };
        self.facts.retry = Some(RetryFacts {
            token_len: r.token.len(),
            scid,
            integrity,
            ts,
        });
        if integrity != Some(RetryCheck::Invalid) {
            // The client's next Initial packets use the Retry's SCID as DCID, and their keys.
            self.attempt = Some(Attempt {
                dcid: scid,
                keys: [None, None],
            });
        }
    }

    fn on_version_negotiation(
        &mut self,
        dir: Direction,
        vn: &VersionNegotiation<'_>,
        ts: Timestamp,
    ) {
        if self.facts.client == Some(dir) || self.facts.version_negotiation.is_some() {
            return;
        }
        self.facts.client.get_or_insert(dir.reverse());
        self.facts.version_negotiation = Some(VersionNegotiationFacts {
            from: dir,
            offered: vn.versions().take(MAX_LISTED).collect(),
            ts,
        });
        self.renegotiating = true;
    }

    fn on_short(
        &mut self,
        ctx: &mut QuicContext,
        dir: Direction,
        bytes: &[u8],
        ts: Timestamp,
        sink: &mut impl HandshakeSink,
    ) {
        if let (Some(d), Some(client)) = (self.decrypt.as_deref_mut(), self.facts.client) {
            if d.reads() {
                let pn_offset = short_pn_offset(&self.facts, dir);
                if let Some(opened) = d.open(
                    KeySpace::OneRtt,
                    dir,
                    client,
                    None,
                    bytes,
                    pn_offset,
                    &mut ctx.scratch,
                ) {
                    let limits = self.config.crypto;
                    let (stream, mut reader) = d.stream(KeySpace::OneRtt, dir, limits, &ctx.budget);
                    space_frames(
                        &mut self.facts,
                        Some(stream),
                        Space::Application,
                        dir,
                        opened.payload,
                        ts,
                        sink,
                        |seen| reader.seen(dir == client, seen, ts),
                    );
                    d.settle();
                }
            } else {
                d.keep_last(dir, bytes, ts);
            }
        }
        let [this, other] = [dir.index(), dir.reverse().index()];
        if self.facts.stateless_reset.is_none()
            && bytes.len() >= 21
            && self.facts.packets[this].long_header() == 0
            && self.facts.packets[other].long_header() > 0
        {
            self.facts.stateless_reset = Some(dir);
        }
    }
}

/// Reads the frames of an opened packet of `space`: CRYPTO frames into `stream` (ignored
/// without one), whose messages go to `sink` (frames and messages shown to `seen` first),
/// CONNECTION_CLOSE into the facts and, with a CRYPTO_ERROR, to `sink` as the alert it
/// carries; HANDSHAKE_DONE and NEW_TOKEN (1-RTT) to `seen`.
#[allow(clippy::too_many_arguments)]
fn space_frames(
    facts: &mut QuicFacts,
    mut stream: Option<&mut CryptoStream>,
    space: Space,
    dir: Direction,
    payload: &[u8],
    ts: Timestamp,
    sink: &mut impl HandshakeSink,
    mut seen: impl FnMut(Seen<'_>),
) {
    let side = dir.index();
    let not_allowed = |frame_type| match space {
        Space::Initial => not_allowed_in_initial(frame_type),
        Space::Handshake => "quic_handshake_frame_not_allowed",
        Space::Application => "quic_unknown_frame",
    };
    let walk = match space {
        Space::Application => application_frames(payload),
        Space::Initial | Space::Handshake => frames(payload),
    };
    for frame in walk {
        match frame {
            Ok(Frame::Crypto { offset, data }) => {
                seen(Seen::Frame { offset, data });
                let Some(stream) = stream.as_deref_mut() else {
                    continue;
                };
                let mut gaps = 0;
                let inserted = stream.insert(offset, data, ts, |e| match e {
                    CryptoEvent::Message { msg_type, body, ts } => {
                        seen(Seen::Message { msg_type, body });
                        sink.on_message(dir, msg_type, body, ts)
                    }
                    CryptoEvent::TooLarge { .. } => {
                        sink.anomaly(dir, "handshake_message_too_large")
                    }
                    CryptoEvent::Gap { ts, .. } => {
                        gaps += 1;
                        sink.on_gap(dir, ts);
                    }
                });
                facts.crypto_gaps[side] += gaps;
                if inserted.conflict {
                    sink.anomaly(dir, "quic_crypto_conflicting_overlap");
                }
                if inserted.budget_exhausted {
                    sink.anomaly(dir, "quic_crypto_budget_exhausted");
                }
                if inserted.beyond_cap > 0 {
                    if facts.crypto_beyond_cap[side] == 0 {
                        sink.anomaly(dir, "quic_crypto_beyond_cap");
                    }
                    facts.crypto_beyond_cap[side] += inserted.beyond_cap;
                }
            }
            Ok(Frame::ConnectionClose(close)) => {
                if close.application && space != Space::Application {
                    sink.anomaly(dir, not_allowed(0x1d));
                }
                record_close(facts, sink, dir, space, &close, ts);
            }
            Ok(Frame::NotAllowed { frame_type }) => sink.anomaly(dir, not_allowed(frame_type)),
            Ok(Frame::HandshakeDone) => seen(Seen::HandshakeDone),
            Ok(Frame::NewToken { .. }) => seen(Seen::NewToken),
            Ok(Frame::Padding { .. } | Frame::Ping | Frame::Ack(_) | Frame::Skipped { .. }) => {}
            Err(_) => sink.anomaly(dir, "quic_malformed_frame"),
        }
    }
}

/// Where a short header's packet number starts: after the first byte and the DCID, which is
/// the receiver's connection ID (the server's SCID, or the client's).
fn short_pn_offset(facts: &QuicFacts, dir: Direction) -> usize {
    let receiver = if facts.client == Some(dir) {
        facts.server_scid
    } else {
        facts.client_scid
    };
    1 + receiver.map_or(0, |c| c.as_bytes().len())
}

/// A CONNECTION_CLOSE read in `space`: a CRYPTO_ERROR goes to `sink` as its TLS alert (exact:
/// cleartext in Initial packets, decrypted in the others), and the first close is kept.
fn record_close(
    facts: &mut QuicFacts,
    sink: &mut impl HandshakeSink,
    dir: Direction,
    space: Space,
    close: &ConnectionClose<'_>,
    ts: Timestamp,
) {
    let tls_alert = close.tls_alert();
    if let Some(alert) = tls_alert {
        // CRYPTO_ERROR carries the alert description; such alerts are fatal.
        let (level, description) = (AlertLevel::FATAL, AlertDescription(alert));
        let alert = match space {
            Space::Initial => Alert::cleartext(level, description),
            _ => Alert::decrypted(level, description),
        };
        sink.on_alert(dir, alert, ts);
    }
    if facts.connection_close.is_none() {
        let reason = close.reason.get(..MAX_REASON).unwrap_or(close.reason);
        facts.connection_close = Some(CloseFacts {
            from: dir,
            space,
            application: close.application,
            error_code: close.error_code,
            frame_type: close.frame_type,
            reason: String::from_utf8_lossy(reason).into_owned(),
            tls_alert,
            ts,
        });
    }
}

/// Whether `datagram`, from a connection's client, starts with an Initial whose Source
/// Connection ID is not `client_scid`: another connection on the same 5-tuple. A client picks
/// a new ID for each connection, and one UDP socket may carry several connections to the
/// same server (a quinn endpoint does); a late Initial of the same connection keeps its ID.
pub fn opens_another(datagram: &[u8], client_scid: &ConnectionId) -> bool {
    datagram.first().is_some_and(|b| b & 0x80 != 0)
        && matches!(packets(datagram).next(),
            Some(Ok(Packet::Long(p))) if p.ty == PacketType::Initial && p.scid != client_scid.as_bytes())
}

/// Whether a datagram starts a QUIC flow, judged by content (any port): an Initial packet
/// with the fixed bit of a readable version, a long header with the fixed bit of Google QUIC
/// or of a reserved version (a client forcing Version Negotiation), or a Version Negotiation
/// packet. A long header of an unknown version is not enough: any UDP payload whose first byte
/// has the top bit set reads as one.
pub fn starts_quic(datagram: &[u8]) -> bool {
    let fixed_bit = datagram.first().is_some_and(|b| b & 0x40 != 0);
    match packets(datagram).next() {
        Some(Ok(Packet::Long(p))) => fixed_bit && p.ty == PacketType::Initial,
        Some(Ok(Packet::VersionNegotiation(_))) => true,
        Some(Ok(Packet::Unreadable { version, .. })) => {
            fixed_bit && matches!(version.kind(), VersionKind::Google | VersionKind::Reserved)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
