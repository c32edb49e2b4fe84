//! The handshake layer: one per connection, shared by every transport. A transport's driver
//! (TLS records over TCP, QUIC CRYPTO frames, DTLS records) tells it what went by — a handshake
//! message (direction, type, body, time), an encrypted handshake flight, application data, an
//! alert, a ChangeCipherSpec, a gap, an anomaly — and it interprets the messages (hellos,
//! certificates, key exchange, tickets, SSLv2 hellos), computes the fingerprints with the
//! carrier's prefix, and writes the [`Transcript`] that facts are built from.
//!
//! What the layer does not do is decide what a transport's protected bytes are: whether a
//! TLS 1.3 record is the client's Finished or an alert is inferred from record sizes by the TCP
//! record layer ([`super::record`]); QUIC knows it from packet types. Drivers call
//! [`Handshake::on_encrypted_handshake`] or [`Handshake::on_application_data`] accordingly.
//!
//! Message bodies are parsed through [`MessageParsers`], so that the layer and its drivers can be
//! exercised with stand-in parsers.

pub mod certificate;
pub mod fingerprint;
pub mod hello;
mod input;
mod messages;
pub mod protected;
pub mod sink;
mod transcript;

pub use certificate::{CertCache, Certificate};
pub use hello::{ClientHello, HelloError, ServerHello};
pub use input::HandshakeInput;
pub use messages::{MessageParsers, WireParsers};
pub use sink::{EventLog, HandshakeSink};
pub use transcript::{
    Alert, Anomaly, AnomalyKind, TimedEvent, TlsEvent, Transcript, recycle_event_list,
};

use std::marker::PhantomData;

use super::codes::{HandshakeType, ProtocolVersion};
use crate::flow::{Direction, Timestamp};

/// Events kept per connection; beyond, one `too_many_events` anomaly and nothing more. Real
/// handshakes produce a few dozen; the cap bounds memory against endless alert or heartbeat
/// streams.
pub const MAX_EVENTS: usize = 1024;

/// Anomalies kept per connection; beyond, they are dropped (the first ones tell the story).
pub const MAX_ANOMALIES: usize = 256;

/// What carries a connection's handshake messages. Fingerprints name it: JA4's first
/// character is `t`, `q` or `d`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Carrier {
    /// TLS records over TCP.
    #[default]
    Tcp,
    /// QUIC CRYPTO frames.
    Quic,
    /// DTLS records over UDP.
    Dtls,
}

impl Carrier {
    /// JA4's transport character.
    pub fn ja4_prefix(self) -> char {
        match self {
            Carrier::Tcp => 't',
            Carrier::Quic => 'q',
            Carrier::Dtls => 'd',
        }
    }

    /// How its ClientHello bodies are laid out (DTLS's carry a cookie).
    pub fn hello_format(self) -> hello::HelloFormat {
        match self {
            Carrier::Tcp | Carrier::Quic => hello::HelloFormat::Tls,
            Carrier::Dtls => hello::HelloFormat::Dtls,
        }
    }
}

/// State shared by the handshake layers of one worker: the certificate cache, so that each
/// distinct certificate is parsed once.
#[derive(Debug, Default)]
pub struct TlsContext {
    /// Parsed certificates by SHA-256.
    pub certs: CertCache,
    /// The analysis's key logs, when it has any: record layers made with this context decrypt
    /// what their secrets open.
    pub keys: Option<crate::keylog::SharedKeyLog>,
}

/// One connection's handshake layer.
///
/// `P` chooses the message parsers; the default, [`WireParsers`], is the real ones.
#[derive(Debug)]
pub struct Handshake<P = WireParsers> {
    carrier: Carrier,
    t: Transcript,
    /// Sender of the ServerHello.
    server: Option<Direction>,
    /// The ServerHello (or HelloRetryRequest) chose TLS 1.3.
    tls13: bool,
    /// A TLS 1.3 ServerHello (not a retry request) was seen: the server's records are
    /// protected from here on.
    server_protected: bool,
    /// The server answered in SSLv2.
    sslv2: bool,
    /// A ClientHello or ServerHello was seen.
    hello_seen: bool,
    /// Each side sent a ClientHello.
    client_hello_sent: [bool; 2],
    /// Each side's first application data was reported.
    app_data_seen: [bool; 2],
    /// Each side's first protected handshake flight was reported (UDP drivers).
    protected_flight_seen: [bool; 2],
    /// [`MAX_EVENTS`] was reached.
    events_capped: bool,
    parsers: PhantomData<P>,
}

impl<P> Default for Handshake<P> {
    fn default() -> Self {
        Handshake::new(Carrier::Tcp)
    }
}

impl<P> Handshake<P> {
    /// A fresh layer for a connection whose messages `carrier` carries.
    pub fn new(carrier: Carrier) -> Self {
        Handshake {
            carrier,
            t: Transcript::default(),
            server: None,
            tls13: false,
            server_protected: false,
            sslv2: false,
            hello_seen: false,
            client_hello_sent: [false; 2],
            app_data_seen: [false; 2],
            protected_flight_seen: [false; 2],
            events_capped: false,
            parsers: PhantomData,
        }
    }

    /// Whether a ClientHello or ServerHello was seen: the connection speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.hello_seen
    }

    /// The sender of the ServerHello, once seen.
    pub fn server(&self) -> Option<Direction> {
        self.server
    }

    /// Whether `dir` sent the ServerHello.
    pub fn is_server(&self, dir: Direction) -> bool {
        self.server == Some(dir)
    }

    /// Whether `dir` sent a ClientHello.
    pub fn sent_client_hello(&self, dir: Direction) -> bool {
        self.client_hello_sent[dir.index()]
    }

    /// Whether the ServerHello (or HelloRetryRequest) chose TLS 1.3.
    pub fn is_tls13(&self) -> bool {
        self.tls13
    }

    /// Whether a TLS 1.3 ServerHello (not a retry request) was seen: everything the server
    /// sends after it is protected.
    pub fn server_protected(&self) -> bool {
        self.server_protected
    }

    /// Whether the server answered in SSLv2.
    pub fn is_sslv2(&self) -> bool {
        self.sslv2
    }

    /// Notes a protocol oddity.
    pub fn anomaly(&mut self, from: Direction, kind: AnomalyKind) {
        if self.t.anomalies.len() < MAX_ANOMALIES {
            self.t.anomalies.push(Anomaly { from, kind });
        }
    }

    /// Bytes of `dir` were lost: whatever message was in flight cannot be completed.
    pub fn on_gap(&mut self, dir: Direction) {
        self.anomaly(dir, AnomalyKind::Gap);
    }

    /// A ChangeCipherSpec from `dir`.
    pub fn on_change_cipher_spec(&mut self, dir: Direction, ts: Timestamp) {
        self.push(dir, ts, TlsEvent::ChangeCipherSpec);
    }

    /// An encrypted handshake flight from `dir` (its Finished: TLS ≤ 1.2 after its
    /// ChangeCipherSpec, TLS 1.3's first protected record, QUIC's Handshake packets). Returns
    /// the event's index, for a driver that may later find it was an alert.
    pub fn on_encrypted_handshake(&mut self, dir: Direction, ts: Timestamp) -> Option<usize> {
        self.push(dir, ts, TlsEvent::EncryptedHandshake)
    }

    /// A protected handshake-era unit from `dir` as the UDP drivers report them (a QUIC
    /// Handshake packet, a DTLS Finished or epoch-2 record): a side's first is its encrypted
    /// handshake flight ([`Self::on_encrypted_handshake`]), the rest add nothing.
    pub fn on_protected_flight(&mut self, dir: Direction, ts: Timestamp) {
        if !std::mem::replace(&mut self.protected_flight_seen[dir.index()], true) {
            self.on_encrypted_handshake(dir, ts);
        }
    }

    /// TLS ≤ 1.2: an encrypted handshake record after both Finished, the start of a
    /// renegotiation by `dir`.
    pub fn on_renegotiation(&mut self, dir: Direction, ts: Timestamp) {
        self.push(dir, ts, TlsEvent::Renegotiation);
    }

    /// Application data from `dir`; only a side's first is an event. Returns its index when it
    /// was.
    pub fn on_application_data(&mut self, dir: Direction, ts: Timestamp) -> Option<usize> {
        if std::mem::replace(&mut self.app_data_seen[dir.index()], true) {
            None
        } else {
            self.push(dir, ts, TlsEvent::ApplicationData)
        }
    }

    /// An alert from `dir`.
    pub fn on_alert(&mut self, dir: Direction, alert: Alert, ts: Timestamp) {
        self.push(dir, ts, TlsEvent::Alert(alert));
    }

    /// A heartbeat record of `len` bytes from `dir`.
    pub fn on_heartbeat(&mut self, dir: Direction, len: u16, ts: Timestamp) {
        self.push(dir, ts, TlsEvent::Heartbeat { len });
    }

    /// The event at `index` (an encrypted flight) was, by its shape, an alert.
    pub fn infer_alert(&mut self, index: usize) {
        if let Some(ev) = self.t.events.get_mut(index) {
            ev.event = TlsEvent::Alert(Alert::INFERRED);
        }
    }

    /// What decryption did for this connection (the record layer's count, with key logs).
    pub fn set_decryption(&mut self, facts: crate::tls::decrypt::DecryptionFacts) {
        self.t.decryption = Some(Box::new(facts));
    }

    /// The side that sent the first ClientHello.
    pub fn client(&self) -> Option<Direction> {
        self.t.client
    }

    /// TLS 1.3: the server accepted the client's 0-RTT data (inferred by the driver).
    pub fn set_early_data_accepted(&mut self, accepted: bool) {
        self.t.early_data_accepted = accepted;
    }

    /// The transcript.
    pub fn finish(self) -> Transcript {
        self.t
    }

    /// The transcript so far (to prefetch what [`Self::finish`]'s caller will read).
    pub fn transcript(&self) -> &Transcript {
        &self.t
    }

    /// Appends an event; returns its index, or `None` once the cap is reached. Inlined: the
    /// event, passed through memory, was read back with other widths than the caller wrote
    /// it with (a store-forwarding stall per event).
    #[inline(always)]
    fn push(&mut self, from: Direction, ts: Timestamp, event: TlsEvent) -> Option<usize> {
        if self.t.events.len() >= MAX_EVENTS {
            if !self.events_capped {
                self.events_capped = true;
                self.anomaly(from, AnomalyKind::TooManyEvents);
            }
            return None;
        }
        if self.t.events.capacity() == 0 {
            // A full handshake is a dozen events or so: a list with room for them, not four
            // growths.
            self.t.events = transcript::event_list();
        }
        self.t.events.push(TimedEvent { ts, from, event });
        Some(self.t.events.len() - 1)
    }

    fn client_hello_seen(&mut self, dir: Direction) {
        self.hello_seen = true;
        self.client_hello_sent[dir.index()] = true;
        self.t.client.get_or_insert(dir);
    }

    fn server_hello_seen(&mut self, dir: Direction, sh: &ServerHello) {
        self.hello_seen = true;
        self.server = Some(dir);
        self.tls13 = ProtocolVersion(sh.version).is_tls13();
        if self.tls13 && !sh.hrr {
            self.server_protected = true;
        }
    }
}

impl<P: MessageParsers> Handshake<P> {
    /// A complete cleartext (or decrypted) handshake message from `dir`: its type and body
    /// (after the 4-byte header), completed by a packet captured at `ts`.
    pub fn on_message(
        &mut self,
        ctx: &mut TlsContext,
        dir: Direction,
        msg_type: HandshakeType,
        body: &[u8],
        ts: Timestamp,
    ) {
        let event = match msg_type {
            HandshakeType::CLIENT_HELLO => {
                self.client_hello_seen(dir);
                P::client_hello(body, self.carrier.hello_format()).map(|mut ch| {
                    fingerprint::fill_client(&mut ch, self.carrier);
                    TlsEvent::ClientHello(ch.boxed())
                })
            }
            HandshakeType::SERVER_HELLO | HandshakeType::HELLO_RETRY_REQUEST => {
                self.hello_seen = true;
                P::server_hello(body, msg_type.0).map(|mut sh| {
                    fingerprint::fill_server(&mut sh, self.carrier);
                    self.server_hello_seen(dir, &sh);
                    TlsEvent::ServerHello(sh.boxed())
                })
            }
            HandshakeType::NEW_SESSION_TICKET if !self.tls13 => P::new_session_ticket(body)
                .map(|(lifetime, ticket_len)| TlsEvent::NewSessionTicket {
                    lifetime,
                    ticket_len,
                    max_early_data: None,
                })
                .ok_or(HelloError::Malformed {
                    message: "NewSessionTicket",
                    what: "body",
                }),
            HandshakeType::CERTIFICATE => Self::certificates(ctx, body, self.tls13),
            HandshakeType::SERVER_KEY_EXCHANGE => Ok(TlsEvent::ServerKeyExchange {
                curve: P::server_key_exchange_curve(body),
            }),
            HandshakeType::CERTIFICATE_REQUEST => Ok(TlsEvent::CertificateRequest),
            HandshakeType::SERVER_HELLO_DONE => Ok(TlsEvent::ServerHelloDone),
            HandshakeType::CERTIFICATE_VERIFY => Ok(TlsEvent::CertificateVerify {
                scheme: self
                    .tls13
                    .then(|| protected::certificate_verify_scheme(body))
                    .flatten(),
            }),
            HandshakeType::CLIENT_KEY_EXCHANGE => Ok(TlsEvent::ClientKeyExchange),
            HandshakeType::CERTIFICATE_STATUS => Ok(TlsEvent::CertificateStatus),
            // What only decryption shows, out of the cleartext path's way.
            other => self.protected_message(ctx, dir, other, body),
        };
        match event {
            Ok(event) => {
                self.push(dir, ts, event);
            }
            Err(_) => self.anomaly(dir, AnomalyKind::HandshakeParseError),
        }
    }

    /// A Certificate message's chain, each certificate parsed once per worker.
    fn certificates(
        ctx: &mut TlsContext,
        body: &[u8],
        tls13_format: bool,
    ) -> Result<TlsEvent, HelloError> {
        P::certificate_list(body, tls13_format).map(|ders| {
            TlsEvent::Certificate(
                ders.into_iter()
                    .map(|der| P::certificate(ctx, der))
                    .collect(),
            )
        })
    }

    /// The first record of an SSLv2-framed direction: a CLIENT-HELLO or SERVER-HELLO message
    /// (from its type byte).
    pub fn on_sslv2_hello(
        &mut self,
        ctx: &mut TlsContext,
        dir: Direction,
        msg: &[u8],
        ts: Timestamp,
    ) {
        match msg.first().copied() {
            Some(hello::SSLV2_CLIENT_HELLO) => {
                self.client_hello_seen(dir);
                match P::sslv2_client_hello(msg) {
                    Ok(mut ch) => {
                        fingerprint::fill_client(&mut ch, self.carrier);
                        self.push(dir, ts, TlsEvent::ClientHello(ch.boxed()));
                    }
                    Err(_) => self.anomaly(dir, AnomalyKind::HandshakeParseError),
                }
            }
            Some(hello::SSLV2_SERVER_HELLO) => match hello::parse_sslv2_server_hello(msg) {
                // No fingerprint: JA3S and JA4S define none for an SSLv2 SERVER-HELLO.
                Some((sh, cert)) => {
                    self.server_hello_seen(dir, &sh);
                    self.sslv2 = true;
                    self.push(dir, ts, TlsEvent::ServerHello(sh.boxed()));
                    if !cert.is_empty() {
                        let cert = P::certificate(ctx, cert);
                        self.push(dir, ts, TlsEvent::Certificate(vec![cert]));
                    }
                }
                None => self.anomaly(dir, AnomalyKind::HandshakeParseError),
            },
            _ => self.anomaly(dir, AnomalyKind::UnexpectedSslv2Message),
        }
    }
}
