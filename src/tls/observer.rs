//! The passive observer: follows both directions of one connection through the handshake and
//! writes down what it sees as a [`Transcript`].
//!
//! Each direction has a [`Deframer`] (records) and a [`Joiner`] (handshake messages); the
//! shared [`Core`] knows which side is client and server, the negotiated version and what each
//! side has encrypted so far, which decides how each record is read:
//!
//! * TLS ≤ 1.2: after a side's ChangeCipherSpec its handshake records are encrypted (the first
//!   is its Finished, reported as [`TlsEvent::EncryptedHandshake`]) and its alerts unreadable.
//! * TLS 1.3 (and drafts): after the ServerHello the server's records are protected; the
//!   client's first protected record is its Finished (or its certificate flight). A client
//!   whose only protected record is alert-sized and last is taken to have sent an alert
//!   (see [`INFERRED_ALERT_LEN`]).
//!
//! Message bodies are parsed through [`MessageParsers`], so that the state machine can be
//! exercised with stand-in parsers.

use std::marker::PhantomData;
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::deframe::{
    CONTENT_ALERT, CONTENT_APPLICATION_DATA, CONTENT_CHANGE_CIPHER_SPEC, CONTENT_HANDSHAKE,
    CONTENT_HEARTBEAT, DEFAULT_MAX_HANDSHAKE_MESSAGE, DEFAULT_MAX_PREAMBLE, Deframer, Framing,
    Joined, Joiner, RecordBody, RecordHeader, RecordSink, SSLV2_CLIENT_HELLO, SSLV2_SERVER_HELLO,
};
use super::hello::{self, HelloError};
use super::{
    Alert, Anomaly, Certificate, ClientHello, ServerHello, TimedEvent, TlsContext, TlsEvent,
    Transcript,
};
use crate::flow::{Direction, Timestamp};

/// Events kept per connection; beyond, one `too_many_events` anomaly and nothing more. Real
/// handshakes produce a few dozen; the cap bounds memory against endless alert or heartbeat
/// streams.
pub const MAX_EVENTS: usize = 1024;

/// Anomalies kept per connection; beyond, they are dropped (the first ones tell the story).
pub const MAX_ANOMALIES: usize = 256;

/// Lengths of a TLS 1.3 protected record that can be a bare alert: 2 alert bytes + 1 inner
/// content type + 16-byte AEAD tag = 19, plus up to 5 bytes of padding. Every TLS 1.3 Finished
/// is longer (at least 32 + 4 + 1 + 16 = 53 bytes), so such a record where the client's Finished
/// was due, with nothing after it, is an alert.
pub const INFERRED_ALERT_LEN: RangeInclusive<u16> = 19..=24;

/// Handshake message types the observer names.
mod msg {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    /// HelloRetryRequest as its own message type (TLS 1.3 drafts before 22).
    pub const HELLO_RETRY_REQUEST: u8 = 6;
    pub const CERTIFICATE: u8 = 11;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const CERTIFICATE_REQUEST: u8 = 13;
    pub const SERVER_HELLO_DONE: u8 = 14;
    pub const CERTIFICATE_VERIFY: u8 = 15;
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    pub const CERTIFICATE_STATUS: u8 = 22;
}

/// The message-body parsers the observer uses. A trait (implemented by [`WireParsers`]) so the
/// record and state logic can be tested with stand-ins.
pub trait MessageParsers {
    /// A ClientHello body.
    fn client_hello(body: &[u8]) -> Result<ClientHello, HelloError>;
    /// An SSLv2 CLIENT-HELLO message (from its type byte).
    fn sslv2_client_hello(msg: &[u8]) -> Result<ClientHello, HelloError>;
    /// A ServerHello (type 2) or draft HelloRetryRequest (type 6) body.
    fn server_hello(body: &[u8], handshake_type: u8) -> Result<ServerHello, HelloError>;
    /// The DER certificates of a Certificate body.
    fn certificate_list(body: &[u8], tls13_format: bool) -> Result<Vec<&[u8]>, HelloError>;
    /// The facts of one DER certificate.
    fn certificate(ctx: &mut TlsContext, der: &[u8]) -> Arc<Certificate>;
    /// The named curve of a ServerKeyExchange body.
    fn server_key_exchange_curve(body: &[u8]) -> Option<u16>;
    /// Lifetime hint and ticket length of a NewSessionTicket body.
    fn new_session_ticket(body: &[u8]) -> Option<(u32, u16)>;
}

/// The real parsers of [`hello`] and the context's certificate cache.
#[derive(Clone, Copy, Debug, Default)]
pub struct WireParsers;

impl MessageParsers for WireParsers {
    fn client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
        hello::parse_client_hello(body)
    }
    fn sslv2_client_hello(msg: &[u8]) -> Result<ClientHello, HelloError> {
        hello::parse_sslv2_client_hello(msg)
    }
    fn server_hello(body: &[u8], handshake_type: u8) -> Result<ServerHello, HelloError> {
        hello::parse_server_hello(body, handshake_type)
    }
    fn certificate_list(body: &[u8], tls13_format: bool) -> Result<Vec<&[u8]>, HelloError> {
        hello::parse_certificate_list(body, tls13_format)
    }
    fn certificate(ctx: &mut TlsContext, der: &[u8]) -> Arc<Certificate> {
        ctx.certs.get_or_parse(der)
    }
    fn server_key_exchange_curve(body: &[u8]) -> Option<u16> {
        hello::parse_server_key_exchange_curve(body)
    }
    fn new_session_ticket(body: &[u8]) -> Option<(u32, u16)> {
        hello::parse_new_session_ticket(body)
    }
}

/// Limits of one observer.
#[derive(Clone, Copy, Debug)]
pub struct ObserverConfig {
    /// Longest handshake message body joined (see [`DEFAULT_MAX_HANDSHAKE_MESSAGE`]).
    pub max_handshake_message: usize,
    /// Bytes per direction scanned for the start of TLS (see [`DEFAULT_MAX_PREAMBLE`]).
    pub max_preamble: u64,
}

impl Default for ObserverConfig {
    fn default() -> Self {
        ObserverConfig {
            max_handshake_message: DEFAULT_MAX_HANDSHAKE_MESSAGE,
            max_preamble: DEFAULT_MAX_PREAMBLE,
        }
    }
}

/// Whether a negotiated version is TLS 1.3: the final 0x0304, the IETF drafts 0x7fNN, Google's
/// experiment codepoints 0x7eNN and Facebook's draft codepoints 0xfb17 / 0xfb1a.
pub fn is_tls13(version: u16) -> bool {
    version == 0x0304 || matches!(version >> 8, 0x7e | 0x7f) || matches!(version, 0xfb17 | 0xfb1a)
}

/// The client's first protected TLS 1.3 record, kept to infer an alert at the end.
#[derive(Clone, Copy, Debug)]
struct FirstProtected {
    /// Index of its `EncryptedHandshake` event.
    event: usize,
    /// Record length.
    len: u16,
    /// The side's record count once it was counted.
    record: u64,
}

/// What one side has done so far.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    /// Sent a ClientHello.
    client_hello: bool,
    /// Sent a ChangeCipherSpec.
    ccs: bool,
    /// TLS ≤ 1.2: a ChangeCipherSpec was sent and its Finished not yet seen.
    finished_due: bool,
    /// TLS 1.3: protected records sent after the ServerHello.
    protected: u32,
    /// An `ApplicationData` event was reported.
    app_data: bool,
    /// TLS 1.3 client: its first protected record.
    first_protected: Option<FirstProtected>,
}

/// Connection state shared by both directions, and the transcript being written.
#[derive(Debug, Default)]
struct Core {
    t: Transcript,
    sides: [Side; 2],
    /// Sender of the ServerHello.
    server: Option<Direction>,
    /// The ServerHello (or HelloRetryRequest) chose TLS 1.3.
    tls13: bool,
    /// A TLS 1.3 ServerHello (not a retry request) was seen: the server's records are
    /// protected from here on.
    server_protected: bool,
    /// The server answered in SSLv2: both sides speak SSLv2 records.
    sslv2: bool,
    /// A ClientHello or ServerHello was seen.
    hello_seen: bool,
    /// [`MAX_EVENTS`] was reached.
    events_capped: bool,
}

impl Core {
    fn side(&mut self, dir: Direction) -> &mut Side {
        &mut self.sides[dir.index()]
    }

    fn anomaly(&mut self, from: Direction, kind: &'static str) {
        if self.t.anomalies.len() < MAX_ANOMALIES {
            self.t.anomalies.push(Anomaly { from, kind });
        }
    }

    /// Appends an event; returns its index, or `None` once the cap is reached.
    fn push(&mut self, from: Direction, ts: Timestamp, event: TlsEvent) -> Option<usize> {
        if self.t.events.len() >= MAX_EVENTS {
            if !self.events_capped {
                self.events_capped = true;
                self.anomaly(from, "too_many_events");
            }
            return None;
        }
        self.t.events.push(TimedEvent { ts, from, event });
        Some(self.t.events.len() - 1)
    }

    fn is_server(&self, dir: Direction) -> bool {
        self.server == Some(dir)
    }

    /// Whether `dir`'s handshake records are encrypted now.
    fn handshake_encrypted(&self, dir: Direction) -> bool {
        if self.tls13 {
            // The client's only cleartext-era handshake records are ClientHellos (a retry after
            // a HelloRetryRequest may follow a compatibility ChangeCipherSpec).
            self.server_protected && self.is_server(dir)
        } else {
            self.sides[dir.index()].ccs
        }
    }

    /// Whether an alert record of `len` bytes from `dir` is encrypted.
    fn alert_encrypted(&self, dir: Direction, len: u16) -> bool {
        let side = &self.sides[dir.index()];
        if self.tls13 {
            let protected = if self.is_server(dir) {
                self.server_protected
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
        if self.sslv2 {
            true
        } else if self.tls13 {
            self.server_protected
                && self
                    .server
                    .is_some_and(|server| self.sides[server.reverse().index()].protected > 0)
        } else {
            self.sides.iter().all(|s| s.ccs)
        }
    }

    fn wants_body(&self, dir: Direction, header: &RecordHeader) -> bool {
        match header.framing {
            // Only the hello is read; what follows it is encrypted or of no interest.
            Framing::Sslv2 => self.t.records[dir.index()] == 0,
            Framing::Tls => match header.content_type {
                CONTENT_ALERT => !self.alert_encrypted(dir, header.len),
                CONTENT_HANDSHAKE => !self.handshake_encrypted(dir),
                _ => false,
            },
        }
    }

    fn on_record<P: MessageParsers>(
        &mut self,
        ctx: &mut TlsContext,
        joiner: &mut Joiner,
        dir: Direction,
        header: RecordHeader,
        body: RecordBody<'_>,
        ts: Timestamp,
    ) {
        self.t.records[dir.index()] += 1;
        if header.framing == Framing::Sslv2 {
            if let RecordBody::Data(msg) = body {
                self.on_sslv2_hello::<P>(ctx, dir, msg, ts);
            }
            return;
        }
        match header.content_type {
            CONTENT_CHANGE_CIPHER_SPEC => {
                self.push(dir, ts, TlsEvent::ChangeCipherSpec);
                let tls13 = self.tls13;
                let side = self.side(dir);
                side.ccs = true;
                if !tls13 {
                    side.finished_due = true;
                    if joiner.is_partial() {
                        self.anomaly(dir, "handshake_message_cut_by_ccs");
                    }
                    joiner.clear();
                }
            }
            CONTENT_ALERT => match body {
                RecordBody::Lost => {}
                RecordBody::Data(bytes) if !self.alert_encrypted(dir, header.len) => {
                    self.on_cleartext_alerts(dir, bytes, ts);
                }
                _ => {
                    let alert = Alert {
                        level: None,
                        description: None,
                        encrypted: true,
                        inferred: false,
                    };
                    self.push(dir, ts, TlsEvent::Alert(alert));
                }
            },
            CONTENT_HANDSHAKE if self.handshake_encrypted(dir) => {
                if self.tls13 {
                    self.on_protected(dir, header.len, ts);
                } else if std::mem::take(&mut self.side(dir).finished_due) {
                    self.push(dir, ts, TlsEvent::EncryptedHandshake);
                }
            }
            CONTENT_HANDSHAKE => match body {
                RecordBody::Data(bytes) => joiner.push(bytes, |joined| match joined {
                    Joined::Message { msg_type, body } => {
                        self.on_message::<P>(ctx, dir, msg_type, body, ts);
                    }
                    Joined::TooLarge { .. } => self.anomaly(dir, "handshake_message_too_large"),
                }),
                // Lost in a gap, or encryption started between header and body: whatever
                // message was being joined cannot be completed.
                RecordBody::Lost | RecordBody::Skipped => joiner.clear(),
            },
            CONTENT_APPLICATION_DATA if self.tls13 && self.server_protected => {
                self.on_protected(dir, header.len, ts);
            }
            CONTENT_APPLICATION_DATA => self.on_application_data(dir, ts),
            CONTENT_HEARTBEAT => {
                self.push(dir, ts, TlsEvent::Heartbeat { len: header.len });
            }
            _ => {}
        }
    }

    /// Cleartext alert record: one or more 2-byte alerts.
    fn on_cleartext_alerts(&mut self, dir: Direction, bytes: &[u8], ts: Timestamp) {
        if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
            self.anomaly(dir, "bad_alert");
        }
        for pair in bytes.chunks_exact(2) {
            if let &[level, description] = pair {
                let alert = Alert {
                    level: Some(level),
                    description: Some(description),
                    encrypted: false,
                    inferred: false,
                };
                self.push(dir, ts, TlsEvent::Alert(alert));
            }
        }
    }

    fn on_application_data(&mut self, dir: Direction, ts: Timestamp) {
        if !std::mem::replace(&mut self.side(dir).app_data, true) {
            self.push(dir, ts, TlsEvent::ApplicationData);
        }
    }

    /// A TLS 1.3 protected record. The first of each side is its encrypted handshake flight;
    /// after that, the client's records are application data, and the server's are once the
    /// client has sent its Finished.
    fn on_protected(&mut self, dir: Direction, len: u16, ts: Timestamp) {
        let is_server = self.is_server(dir);
        let client_done = self.sides[dir.reverse().index()].protected > 0;
        let record = self.t.records[dir.index()];
        let side = self.side(dir);
        side.protected = side.protected.saturating_add(1);
        if side.protected == 1 {
            let event = self.push(dir, ts, TlsEvent::EncryptedHandshake);
            if let (false, Some(event)) = (is_server, event) {
                self.side(dir).first_protected = Some(FirstProtected { event, len, record });
            }
        } else if !is_server || client_done {
            self.on_application_data(dir, ts);
        }
    }

    fn on_message<P: MessageParsers>(
        &mut self,
        ctx: &mut TlsContext,
        dir: Direction,
        msg_type: u8,
        body: &[u8],
        ts: Timestamp,
    ) {
        let event = match msg_type {
            msg::CLIENT_HELLO => {
                self.client_hello_seen(dir);
                P::client_hello(body).map(|ch| TlsEvent::ClientHello(Box::new(ch)))
            }
            msg::SERVER_HELLO | msg::HELLO_RETRY_REQUEST => {
                P::server_hello(body, msg_type).map(|sh| {
                    self.server_hello_seen(dir, &sh);
                    TlsEvent::ServerHello(Box::new(sh))
                })
            }
            msg::NEW_SESSION_TICKET => P::new_session_ticket(body)
                .map(|(lifetime, ticket_len)| TlsEvent::NewSessionTicket {
                    lifetime,
                    ticket_len,
                })
                .ok_or(HelloError::Malformed {
                    message: "NewSessionTicket",
                    what: "body",
                }),
            msg::CERTIFICATE => P::certificate_list(body, self.tls13).map(|ders| {
                TlsEvent::Certificate(
                    ders.into_iter()
                        .map(|der| P::certificate(ctx, der))
                        .collect(),
                )
            }),
            msg::SERVER_KEY_EXCHANGE => Ok(TlsEvent::ServerKeyExchange {
                curve: P::server_key_exchange_curve(body),
            }),
            msg::CERTIFICATE_REQUEST => Ok(TlsEvent::CertificateRequest),
            msg::SERVER_HELLO_DONE => Ok(TlsEvent::ServerHelloDone),
            msg::CERTIFICATE_VERIFY => Ok(TlsEvent::CertificateVerify),
            msg::CLIENT_KEY_EXCHANGE => Ok(TlsEvent::ClientKeyExchange),
            msg::CERTIFICATE_STATUS => Ok(TlsEvent::CertificateStatus),
            other => Ok(TlsEvent::OtherHandshake(other)),
        };
        match event {
            Ok(event) => {
                self.push(dir, ts, event);
            }
            Err(_) => self.anomaly(dir, "handshake_parse_error"),
        }
    }

    fn client_hello_seen(&mut self, dir: Direction) {
        self.hello_seen = true;
        self.side(dir).client_hello = true;
        self.t.client.get_or_insert(dir);
    }

    fn server_hello_seen(&mut self, dir: Direction, sh: &ServerHello) {
        self.hello_seen = true;
        self.server = Some(dir);
        self.tls13 = is_tls13(sh.version);
        if self.tls13 && !sh.hrr {
            self.server_protected = true;
        }
    }

    /// The first record of an SSLv2-framed direction: a CLIENT-HELLO or SERVER-HELLO.
    fn on_sslv2_hello<P: MessageParsers>(
        &mut self,
        ctx: &mut TlsContext,
        dir: Direction,
        msg: &[u8],
        ts: Timestamp,
    ) {
        match msg.first().copied() {
            Some(SSLV2_CLIENT_HELLO) => {
                self.client_hello_seen(dir);
                match P::sslv2_client_hello(msg) {
                    Ok(ch) => {
                        self.push(dir, ts, TlsEvent::ClientHello(Box::new(ch)));
                    }
                    Err(_) => self.anomaly(dir, "handshake_parse_error"),
                }
            }
            Some(SSLV2_SERVER_HELLO) => match parse_sslv2_server_hello(msg) {
                Some((sh, cert)) => {
                    self.server_hello_seen(dir, &sh);
                    self.sslv2 = true;
                    self.push(dir, ts, TlsEvent::ServerHello(Box::new(sh)));
                    if !cert.is_empty() {
                        let cert = P::certificate(ctx, cert);
                        self.push(dir, ts, TlsEvent::Certificate(vec![cert]));
                    }
                }
                None => self.anomaly(dir, "handshake_parse_error"),
            },
            _ => self.anomaly(dir, "unexpected_sslv2_message"),
        }
    }

    /// End of the connection: a TLS 1.3 client whose only protected record was alert-sized
    /// sent an alert, not a Finished.
    fn infer_client_alert(&mut self) {
        let Some(server) = self.server else {
            return;
        };
        let client = server.reverse();
        let Some(first) = self.sides[client.index()].first_protected else {
            return;
        };
        if self.tls13
            && INFERRED_ALERT_LEN.contains(&first.len)
            && self.t.records[client.index()] == first.record
            && let Some(ev) = self.t.events.get_mut(first.event)
        {
            ev.event = TlsEvent::Alert(Alert {
                level: None,
                description: None,
                encrypted: true,
                inferred: true,
            });
        }
    }
}

/// Reads an SSLv2 SERVER-HELLO (from its type byte): the version and the certificate.
/// SSLv2 cipher kinds are 3-byte codes with no TLS equivalent, so `cipher` stays 0.
fn parse_sslv2_server_hello(msg: &[u8]) -> Option<(ServerHello, &[u8])> {
    let be16 = |at: usize| match msg.get(at..at + 2) {
        Some(&[hi, lo]) => Some(usize::from(hi) << 8 | usize::from(lo)),
        _ => None,
    };
    let version = u16::try_from(be16(3)?).ok()?;
    let cert_len = be16(5)?;
    let ciphers_len = be16(7)?;
    let conn_id_len = be16(9)?;
    if msg.len() < 11 + cert_len + ciphers_len + conn_id_len {
        return None;
    }
    let cert = msg.get(11..11 + cert_len)?;
    let sh = ServerHello {
        sslv2_format: true,
        legacy_version: version,
        version,
        ..ServerHello::default()
    };
    Some((sh, cert))
}

/// One direction's view of the observer, handed to its deframer.
struct SideSink<'a, P> {
    dir: Direction,
    core: &'a mut Core,
    joiner: &'a mut Joiner,
    ctx: &'a mut TlsContext,
    parsers: PhantomData<P>,
}

impl<P: MessageParsers> RecordSink for SideSink<'_, P> {
    fn wants_body(&self, header: &RecordHeader) -> bool {
        self.core.wants_body(self.dir, header)
    }
    fn record(&mut self, header: RecordHeader, body: RecordBody<'_>, ts: Timestamp) {
        self.core
            .on_record::<P>(self.ctx, self.joiner, self.dir, header, body, ts);
    }
    fn anomaly(&mut self, kind: &'static str) {
        self.core.anomaly(self.dir, kind);
    }
    fn peer_sent_client_hello(&self) -> bool {
        self.core.sides[self.dir.reverse().index()].client_hello
    }
    fn framing(&self) -> Framing {
        if self.core.sslv2 {
            Framing::Sslv2
        } else {
            Framing::Tls
        }
    }
}

/// Watches one connection's two byte streams.
///
/// `P` chooses the message parsers; the default, [`WireParsers`], is the real ones.
#[derive(Debug)]
pub struct TlsObserver<P = WireParsers> {
    deframers: [Deframer; 2],
    joiners: [Joiner; 2],
    core: Core,
    parsers: PhantomData<P>,
}

impl Default for TlsObserver {
    fn default() -> Self {
        TlsObserver::new()
    }
}

impl TlsObserver {
    /// A fresh observer with the default limits.
    pub fn new() -> Self {
        TlsObserver::with_config(ObserverConfig::default())
    }

    /// A fresh observer with the given limits.
    pub fn with_config(config: ObserverConfig) -> Self {
        TlsObserver::with_parsers(config)
    }
}

impl<P: MessageParsers> TlsObserver<P> {
    /// A fresh observer using the parsers `P`.
    pub fn with_parsers(config: ObserverConfig) -> Self {
        TlsObserver {
            deframers: [
                Deframer::new(config.max_preamble),
                Deframer::new(config.max_preamble),
            ],
            joiners: [
                Joiner::new(config.max_handshake_message),
                Joiner::new(config.max_handshake_message),
            ],
            core: Core::default(),
            parsers: PhantomData,
        }
    }

    /// In-order bytes from one side, carried by a packet captured at `ts`.
    pub fn on_data(&mut self, ctx: &mut TlsContext, dir: Direction, bytes: &[u8], ts: Timestamp) {
        let i = dir.index();
        let mut sink = SideSink::<P> {
            dir,
            core: &mut self.core,
            joiner: &mut self.joiners[i],
            ctx,
            parsers: PhantomData,
        };
        self.deframers[i].feed(bytes, ts, &mut sink);
        if self.core.cleartext_over() {
            self.deframers.iter_mut().for_each(Deframer::release);
            self.joiners.iter_mut().for_each(Joiner::release);
        }
    }

    /// Bytes missing from one side; the observer resynchronises on the next plausible record.
    pub fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        let i = dir.index();
        self.core.anomaly(dir, "gap");
        self.joiners[i].clear();
        self.deframers[i].gap(len, ts);
    }

    /// Whether a TLS ClientHello or ServerHello was seen.
    pub fn is_tls(&self) -> bool {
        self.core.hello_seen
    }

    /// The transcript.
    pub fn finish(mut self) -> Transcript {
        if self.deframers.iter().any(Deframer::has_pending_record) {
            // A record completed by the end of the stream; a certificate in it is parsed
            // outside the shared cache, as no context is at hand.
            let mut ctx = TlsContext::default();
            for dir in [Direction::LoToHi, Direction::HiToLo] {
                let i = dir.index();
                let mut sink = SideSink::<P> {
                    dir,
                    core: &mut self.core,
                    joiner: &mut self.joiners[i],
                    ctx: &mut ctx,
                    parsers: PhantomData,
                };
                self.deframers[i].finish(&mut sink);
            }
        }
        self.core.infer_client_alert();
        for (count, deframer) in self.core.t.preamble_bytes.iter_mut().zip(&self.deframers) {
            *count = deframer.preamble_bytes();
        }
        self.core.t
    }
}
