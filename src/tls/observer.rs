//! The passive observer: follows both directions of one connection through the handshake and
//! writes down what it sees as a [`Transcript`].
//!
//! Each direction has a [`Deframer`] (records) and a [`Joiner`] (handshake messages); the
//! shared connection state knows which side is client and server, the negotiated version and what each
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

/// Handshake message types the observer names (RFC 8446 §4, RFC 6066 §8).
mod msg {
    /// ClientHello.
    pub const CLIENT_HELLO: u8 = 1;
    /// ServerHello (and TLS 1.3 HelloRetryRequest).
    pub const SERVER_HELLO: u8 = 2;
    /// NewSessionTicket.
    pub const NEW_SESSION_TICKET: u8 = 4;
    /// HelloRetryRequest as its own message type (TLS 1.3 drafts before 22).
    pub const HELLO_RETRY_REQUEST: u8 = 6;
    /// Certificate.
    pub const CERTIFICATE: u8 = 11;
    /// ServerKeyExchange.
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    /// CertificateRequest.
    pub const CERTIFICATE_REQUEST: u8 = 13;
    /// ServerHelloDone.
    pub const SERVER_HELLO_DONE: u8 = 14;
    /// CertificateVerify.
    pub const CERTIFICATE_VERIFY: u8 = 15;
    /// ClientKeyExchange.
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    /// CertificateStatus.
    pub const CERTIFICATE_STATUS: u8 = 22;
}

/// Events room is made for at a connection's first event (a full TLS 1.2 handshake with
/// alerts and a ticket is about fourteen).
const EVENTS_RESERVED: usize = 16;

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
    /// TLS 1.3: length of its latest protected record.
    last_protected_len: u16,
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
    /// TLS 1.3: the server sent a record after the client's Finished.
    server_replied: bool,
    /// TLS 1.3: the server's first record after the client's Finished, unless the client's
    /// record before it was alert-sized (a close_notify exchange the client began).
    server_reply: Option<FirstProtected>,
    /// The client sent application data before any ServerHello (TLS 1.3 0-RTT).
    early_data_sent: bool,
    /// TLS ≤ 1.2: a renegotiation is under way (an encrypted handshake record followed both
    /// Finished); it ends when both sides have sent their ChangeCipherSpec and Finished.
    renegotiation: Option<[bool; 2]>,
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
        if self.t.events.is_empty() {
            // A full handshake is a dozen events or so: one allocation, not four.
            self.t.events.reserve(EVENTS_RESERVED);
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
                if let Some(ccs_seen) = &mut self.renegotiation {
                    ccs_seen[dir.index()] = true;
                }
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
                    let alert = Alert::ENCRYPTED;
                    self.push(dir, ts, TlsEvent::Alert(alert));
                }
            },
            CONTENT_HANDSHAKE if self.handshake_encrypted(dir) => {
                if self.tls13 {
                    self.on_protected(dir, header.len, ts);
                } else if std::mem::take(&mut self.side(dir).finished_due) {
                    self.push(dir, ts, TlsEvent::EncryptedHandshake);
                    if self.renegotiation == Some([true, true])
                        && self.sides.iter().all(|s| !s.finished_due)
                    {
                        self.renegotiation = None;
                    }
                } else if self.renegotiation.is_none()
                    && self.sides.iter().all(|s| s.ccs && !s.finished_due)
                {
                    self.renegotiation = Some([false, false]);
                    self.push(dir, ts, TlsEvent::Renegotiation);
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
            CONTENT_APPLICATION_DATA => {
                if self.server.is_none() && self.sides[dir.index()].client_hello {
                    self.early_data_sent = true;
                }
                self.on_application_data(dir, ts);
            }
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
                let alert = Alert::cleartext(level, description);
                self.push(dir, ts, TlsEvent::Alert(alert));
            }
        }
    }

    /// Reports the side's first application-data record; returns its event index then.
    fn on_application_data(&mut self, dir: Direction, ts: Timestamp) -> Option<usize> {
        if std::mem::replace(&mut self.side(dir).app_data, true) {
            None
        } else {
            self.push(dir, ts, TlsEvent::ApplicationData)
        }
    }

    /// A TLS 1.3 protected record. The first of each side is its encrypted handshake flight;
    /// after that, the client's records are application data, and the server's are once the
    /// client has sent its Finished.
    fn on_protected(&mut self, dir: Direction, len: u16, ts: Timestamp) {
        let is_server = self.is_server(dir);
        let peer = self.sides[dir.reverse().index()];
        let client_done = peer.protected > 0;
        let record = self.t.records[dir.index()];
        let side = self.side(dir);
        side.protected = side.protected.saturating_add(1);
        side.last_protected_len = len;
        if side.protected == 1 {
            let event = self.push(dir, ts, TlsEvent::EncryptedHandshake);
            if let (false, Some(event)) = (is_server, event) {
                self.side(dir).first_protected = Some(FirstProtected { event, len, record });
            }
        } else if !is_server || client_done {
            let event = self.on_application_data(dir, ts);
            if is_server && !std::mem::replace(&mut self.server_replied, true) {
                let client_closing = INFERRED_ALERT_LEN.contains(&peer.last_protected_len);
                if let (false, Some(event)) = (client_closing, event) {
                    self.server_reply = Some(FirstProtected { event, len, record });
                }
            }
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
                self.hello_seen = true;
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

    /// End of the connection, TLS 1.3: a client whose only protected record was alert-sized
    /// sent an alert, not a Finished; a server whose only record after the client's Finished
    /// was alert-sized (and last) rejected the client's flight, typically its certificate.
    fn infer_alerts(&mut self) {
        let Some(server) = self.server else {
            return;
        };
        if !self.tls13 {
            return;
        }
        let client = server.reverse();
        // EndOfEarlyData (4 bytes + content type + 16-byte tag, padding aside) is the client's
        // first protected record only when the server accepted its 0-RTT data.
        if let Some(first) = self.sides[client.index()].first_protected {
            self.t.early_data_accepted = self.early_data_sent
                && INFERRED_ALERT_LEN.contains(&first.len)
                && self.t.records[client.index()] > first.record;
        }
        let candidates = [
            (client, self.sides[client.index()].first_protected),
            (server, self.server_reply),
        ];
        for (dir, candidate) in candidates {
            if let Some(c) = candidate
                && INFERRED_ALERT_LEN.contains(&c.len)
                && self.t.records[dir.index()] == c.record
                && let Some(ev) = self.t.events.get_mut(c.event)
            {
                ev.event = TlsEvent::Alert(Alert::INFERRED);
            }
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
        self.core.infer_alerts();
        for (count, deframer) in self.core.t.preamble_bytes.iter_mut().zip(&self.deframers) {
            *count = deframer.preamble_bytes();
        }
        self.core.t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        fn client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
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

    fn observe(steps: &[Step]) -> (Transcript, bool) {
        observe_with(ObserverConfig::default(), steps, |_| vec![])
    }

    /// Feeds each step, split where `splits` says, each chunk with its own timestamp.
    fn observe_with(
        config: ObserverConfig,
        steps: &[Step],
        splits: impl Fn(usize) -> Vec<usize>,
    ) -> (Transcript, bool) {
        let mut obs = TlsObserver::<Fake>::with_parsers(config);
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
        (obs.finish(), tls)
    }

    fn events(t: &Transcript) -> Vec<(Direction, TlsEvent)> {
        t.events.iter().map(|e| (e.from, e.event.clone())).collect()
    }

    fn kinds(t: &Transcript) -> Vec<&'static str> {
        t.anomalies.iter().map(|a| a.kind).collect()
    }

    fn ch(version: u16) -> TlsEvent {
        TlsEvent::ClientHello(Box::new(ClientHello {
            legacy_version: version,
            ..ClientHello::default()
        }))
    }

    fn sh(version: u16, hrr: bool) -> TlsEvent {
        TlsEvent::ServerHello(Box::new(ServerHello {
            version,
            hrr,
            ..ServerHello::default()
        }))
    }

    fn cert(len: usize) -> Arc<Certificate> {
        Arc::new(Certificate {
            der_len: len,
            ..Certificate::default()
        })
    }

    const ENCRYPTED_ALERT: TlsEvent = TlsEvent::Alert(Alert::ENCRYPTED);

    fn alert(level: u8, description: u8) -> TlsEvent {
        TlsEvent::Alert(Alert::cleartext(level, description))
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
                        ticket_len: 100
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
                let (t, _) = observe_with(ObserverConfig::default(), &steps, |k| {
                    if k == n { vec![i] } else { vec![] }
                });
                assert_eq!(events(&t), expected, "step {n} split at {i}");
                assert_eq!(t.records, whole.records);
                assert!(t.anomalies.is_empty());
            }
        }
        let (bytewise, _) = observe_with(ObserverConfig::default(), &steps, |n| {
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
            let (t, _) = observe_with(ObserverConfig::default(), &steps, |n| {
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
        let config = ObserverConfig {
            max_handshake_message: 1000,
            ..ObserverConfig::default()
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
        let client_hello = TlsEvent::ClientHello(Box::new(ClientHello {
            sslv2_format: true,
            legacy_version: 0x0301,
            ..ClientHello::default()
        }));
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
        let mut obs = TlsObserver::<Fake>::with_parsers(ObserverConfig::default());
        let mut ctx = TlsContext::default();
        for (dir, bytes) in &steps[..steps.len() - 1] {
            obs.on_data(&mut ctx, *dir, bytes, Timestamp(1));
        }
        // Lose the second record's header.
        obs.on_data(&mut ctx, C, &data[..105], Timestamp(2));
        obs.on_gap(C, 50, Timestamp(3));
        obs.on_data(&mut ctx, C, &data[155..], Timestamp(4));
        let t = obs.finish();
        assert_eq!(kinds(&t), vec!["gap", "resynchronised"]);
        assert_eq!(t.records[0], base.records[0] - 1);
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
        let config = ObserverConfig {
            max_handshake_message: 1 << 16,
            ..ObserverConfig::default()
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
        let mut obs = TlsObserver::<Fake>::with_parsers(ObserverConfig::default());
        let mut ctx = TlsContext::default();
        for (dir, bytes) in tls12_handshake() {
            obs.on_data(&mut ctx, dir, &bytes, Timestamp(1));
        }
        assert!(obs.core.cleartext_over());
        let big = record(23, &[0; 16000]);
        for c in big.chunks(700) {
            obs.on_data(&mut ctx, C, c, Timestamp(2));
        }
        assert_eq!(obs.finish().records[0], 7);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(
            chunks in proptest::collection::vec(
                (proptest::bool::ANY, proptest::option::of(1u64..100_000), proptest::collection::vec(proptest::num::u8::ANY, 0..300)),
                0..40,
            ),
        ) {
            let mut obs = TlsObserver::<Fake>::with_parsers(ObserverConfig::default());
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
            let (t, _) = observe_with(ObserverConfig::default(), &steps, |_| sorted.clone());
            proptest::prop_assert_eq!(events(&t), events(&whole));
            proptest::prop_assert_eq!(t.records, whole.records);
        }
    }
}
