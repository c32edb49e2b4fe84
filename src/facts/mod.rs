//! Connection facts: pairs a connection's handshake transcript (hellos, certificates, alerts with
//! their sender) with its transport's facts, and classifies its outcome and, when it failed,
//! the cause.
//!
//! Layout: the fact types (here), the fold over the transcript ([`build`], `builder`), the
//! diagnosis of a handshake that did not complete (`diagnosis`: TLS evidence shared by every
//! transport, then the transport's own evidence: `tcp`, `quic`, `dtls`), and certificate findings
//! (`certificates`).

mod builder;
mod certificates;
mod diagnosis;
mod dtls;
mod quic;
mod tcp;
#[cfg(test)]
mod tests;

pub mod scope;

pub use builder::build;
pub use certificates::{Finding, name_matches};
pub use dtls::DtlsTransport;
pub use quic::{QuicTransport, transport_error_name};
pub use tcp::{TcpFacts, WELL_KNOWN_TLS_PORTS, WithoutTls};

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::flow::{Direction, Endpoint, Timestamp, Transport};
use crate::tls::names::version_rank;
use crate::tls::{Alert, Certificate, ClientHello, ServerHello};

/// Which end of the connection did something.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The side that sent the ClientHello (else the SYN).
    Client,
    /// The other side.
    Server,
}

impl Side {
    /// `"client"` or `"server"`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// How a connection's handshake ended.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Full handshake completed.
    Established,
    /// Abbreviated handshake completed (session resumed).
    Resumed,
    /// The handshake was aborted (alert, reset, close).
    Failed,
    /// The ClientHello was never answered.
    NoResponse,
    /// The capture (or connection tracking) ended mid-handshake.
    Incomplete,
}

impl Outcome {
    /// Every outcome, in [`Outcome::index`] order (successes first).
    pub const ALL: [Outcome; 5] = [
        Outcome::Established,
        Outcome::Resumed,
        Outcome::Failed,
        Outcome::NoResponse,
        Outcome::Incomplete,
    ];

    /// Position in [`Outcome::ALL`], for per-outcome counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether a session was established (fully or by resumption).
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Established | Outcome::Resumed)
    }

    /// Whether the handshake failed or went unanswered (`incomplete` is neither: the capture
    /// ended first).
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::NoResponse)
    }

    /// snake_case name used in every output.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Established => "established",
            Outcome::Resumed => "resumed",
            Outcome::Failed => "failed",
            Outcome::NoResponse => "no_response",
            Outcome::Incomplete => "incomplete",
        }
    }
}

/// Why a handshake did not complete.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FailureCause {
    /// The server found no cipher suite (or parameters) in common.
    NoSharedCipher,
    /// Client and server support no common protocol version.
    VersionMismatch,
    /// The client refused the server's certificate.
    ClientRejectedCertificate,
    /// The server refused (or missed) the client's certificate.
    ServerRejectedClientCertificate,
    /// The server does not serve the requested name.
    UnrecognizedName,
    /// The handshake failed after a HelloRetryRequest.
    HelloRetryFailed,
    /// The client and server agree on no application protocol (ALPN).
    NoApplicationProtocol,
    /// The server reset the connection mid-handshake.
    ServerReset,
    /// The client reset or closed the connection mid-handshake.
    ClientAbort,
    /// The server closed the connection mid-handshake without an alert.
    ServerClosed,
    /// The server answered with something that is not TLS.
    ServerNotTls,
    /// The ClientHello was never answered.
    NoResponse,
    /// Captured bytes are missing, so the handshake cannot be followed.
    CaptureGap,
    /// QUIC: the server refused the connection (CONNECTION_REFUSED).
    ConnectionRefused,
    /// QUIC: a side closed the connection with a transport (or application) error that
    /// carries no TLS alert; the explanation names the code.
    TransportError,
    /// DTLS: the server asked for a cookie (HelloVerifyRequest, or a HelloRetryRequest with
    /// one) and the client never sent its ClientHello again with it.
    CookieExchangeIncomplete,
    /// DTLS: both ends kept resending their flights and the handshake never got further
    /// (datagrams lost between them).
    RetransmissionStorm,
    /// Nothing above fits; the explanation lists the evidence.
    Unknown,
}

impl FailureCause {
    /// snake_case name used in every output.
    pub fn name(self) -> &'static str {
        match self {
            FailureCause::NoSharedCipher => "no_shared_cipher",
            FailureCause::VersionMismatch => "version_mismatch",
            FailureCause::ClientRejectedCertificate => "client_rejected_certificate",
            FailureCause::ServerRejectedClientCertificate => "server_rejected_client_certificate",
            FailureCause::UnrecognizedName => "unrecognized_name",
            FailureCause::HelloRetryFailed => "hello_retry_failed",
            FailureCause::NoApplicationProtocol => "no_application_protocol",
            FailureCause::ServerReset => "server_reset",
            FailureCause::ClientAbort => "client_abort",
            FailureCause::ServerClosed => "server_closed",
            FailureCause::ServerNotTls => "server_not_tls",
            FailureCause::NoResponse => "no_response",
            FailureCause::CaptureGap => "capture_gap",
            FailureCause::ConnectionRefused => "connection_refused",
            FailureCause::TransportError => "transport_error",
            FailureCause::CookieExchangeIncomplete => "cookie_exchange_incomplete",
            FailureCause::RetransmissionStorm => "retransmission_storm",
            FailureCause::Unknown => "unknown",
        }
    }
}

/// A failure cause with its one-sentence explanation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// The cause.
    pub cause: FailureCause,
    /// One sentence built from the evidence.
    pub explanation: String,
    /// The cause was inferred from the traffic's shape rather than read from an alert.
    pub inferred: bool,
}

/// An alert with its sender and the handshake stage it arrived at.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlertFact {
    /// Who sent it.
    pub from: Side,
    /// The alert.
    pub alert: Alert,
    /// When.
    pub ts: Timestamp,
    /// The last handshake message seen before it (either side) and its sender.
    #[serde(deserialize_with = "crate::aggregate::codec::sided_name")]
    pub after: Option<(Side, &'static str)>,
}

/// A certificate of a chain with the findings judged for this connection (capture time, SNI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainCert {
    /// Parsed certificate (shared across connections).
    pub cert: Arc<Certificate>,
    /// Findings, e.g. expired, SNI mismatch: inline (sixteen one-byte findings fit in the
    /// room of a `Vec`'s pointer and length, so no certificate allocates for them).
    pub findings: SmallVec<[Finding; 16]>,
}

/// Durations of the connection's phases, in microseconds of capture time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// SYN → handshake ACK.
    pub tcp_handshake_us: Option<i64>,
    /// SYN → SYN-ACK (round trip as seen at the capture point).
    pub tcp_syn_to_syn_ack_us: Option<i64>,
    /// ClientHello → ServerHello (the final one, after any HelloRetryRequest).
    pub client_hello_to_server_hello_us: Option<i64>,
    /// ClientHello → handshake done (last Finished; QUIC: the client's Handshake flight).
    pub client_hello_to_done_us: Option<i64>,
    /// QUIC: the client's first datagram → the server's first datagram.
    pub server_first_reply_us: Option<i64>,
}

/// A session resumption mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mechanism {
    /// TLS ≤ 1.2 session id.
    SessionId,
    /// TLS ≤ 1.2 session ticket (RFC 5077).
    Ticket,
    /// TLS 1.3 pre-shared key.
    Psk,
}

impl Mechanism {
    /// Every mechanism, in [`Mechanism::index`] order.
    pub const ALL: [Mechanism; 3] = [Mechanism::SessionId, Mechanism::Ticket, Mechanism::Psk];

    /// Position in [`Mechanism::ALL`], for per-mechanism counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::SessionId => "session_id",
            Mechanism::Ticket => "ticket",
            Mechanism::Psk => "psk",
        }
    }
}

/// What the client offered for resumption and what the server accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resumption {
    /// Mechanisms the client offered.
    pub offered: Vec<Mechanism>,
    /// The one the server accepted.
    pub accepted: Option<Mechanism>,
    /// The client offered 0-RTT early data.
    pub early_data_offered: bool,
    /// The server accepted it (inferred: the client sent EndOfEarlyData).
    pub early_data_accepted: bool,
    /// NewSessionTicket messages seen (cleartext, TLS ≤ 1.2).
    pub tickets_issued: u32,
}

/// TLS ≤ 1.2 renegotiations of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Renegotiation {
    /// Started by the client (a ClientHello after the first handshake, cleartext or
    /// encrypted).
    pub client_initiated: u32,
    /// Started by the server (an encrypted HelloRequest after the first handshake).
    pub server_initiated: u32,
    /// Renegotiations that got as far as both ChangeCipherSpecs.
    pub completed: u32,
    /// Secure renegotiation (RFC 5746): the client offered renegotiation_info or its SCSV and
    /// the server answered with renegotiation_info; `None` for TLS 1.3 or no ServerHello.
    pub secure: Option<bool>,
}

/// Knobs of the fact builder.
#[derive(Clone, Copy, Debug)]
pub struct FactsConfig {
    /// Certificates expiring within this many days (of capture time) get `expiring_soon`.
    pub cert_warn_days: i64,
}

impl Default for FactsConfig {
    fn default() -> Self {
        FactsConfig { cert_warn_days: 30 }
    }
}

/// What the transport that carried a connection knows of it: the evidence the diagnosis uses
/// besides the handshake, and the record's transport object. One variant per transport driver.
#[derive(Clone, Debug)]
// TCP's facts stay inline: boxing them would cost every TCP connection an allocation.
#[allow(clippy::large_enum_variant)]
pub enum TransportFacts {
    /// TCP: the connection's segments, closing and losses.
    Tcp(TcpFacts),
    /// QUIC: versions, connection IDs, packets by space, Retry, Version Negotiation, the
    /// CONNECTION_CLOSE read. Boxed (as is DTLS's), so that TCP's facts stay as small as
    /// they were.
    Quic(Box<QuicTransport>),
    /// DTLS: version, cookie exchange, retransmitted flights, connection IDs, the datagrams
    /// sharing the flow.
    Dtls(Box<DtlsTransport>),
}

impl TransportFacts {
    /// The flow's transport protocol.
    pub fn transport(&self) -> Transport {
        match self {
            TransportFacts::Tcp(_) => Transport::Tcp,
            TransportFacts::Quic(_) | TransportFacts::Dtls(_) => Transport::Udp,
        }
    }

    /// `"tcp"`, `"quic"` or `"dtls"`: the record's `transport`.
    pub fn name(&self) -> &'static str {
        match self {
            TransportFacts::Tcp(_) => "tcp",
            TransportFacts::Quic(_) => "quic",
            TransportFacts::Dtls(_) => "dtls",
        }
    }

    /// First packet of the connection.
    pub fn first_ts(&self) -> Timestamp {
        match self {
            TransportFacts::Tcp(t) => t.meta.first_ts,
            TransportFacts::Quic(q) => q.first_ts,
            TransportFacts::Dtls(d) => d.first_ts,
        }
    }

    /// Last packet of the connection.
    pub fn last_ts(&self) -> Timestamp {
        match self {
            TransportFacts::Tcp(t) => t.meta.last_ts,
            TransportFacts::Quic(q) => q.last_ts,
            TransportFacts::Dtls(d) => d.last_ts,
        }
    }

    /// The side that opened the connection at the transport level (TCP: the SYN's sender;
    /// QUIC: the sender of the client Initial), the client when no ClientHello tells.
    fn opener(&self) -> Option<Direction> {
        match self {
            TransportFacts::Tcp(t) => t.meta.syn.map(|(dir, _)| dir),
            TransportFacts::Quic(q) => q.client(),
            TransportFacts::Dtls(_) => None,
        }
    }

    /// Whether the side `dir` had closed its sending direction by `ts` (TCP: its FIN).
    fn closed_by(&self, dir: Direction, ts: Timestamp) -> bool {
        match self {
            TransportFacts::Tcp(t) => t.meta.fin[dir.index()].is_some_and(|fin| fin <= ts),
            TransportFacts::Quic(_) | TransportFacts::Dtls(_) => false,
        }
    }
}

/// What key-log decryption revealed that has no field of its own elsewhere, with its
/// accounting; only in records of an analysis with key logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decrypted {
    /// What the record layer decrypted and what it could not.
    pub accounting: crate::tls::decrypt::DecryptionFacts,
    /// TLS 1.3: the ALPN protocol of the decrypted EncryptedExtensions.
    pub alpn: Option<String>,
    /// The signature scheme of each side's CertificateVerify (TLS 1.3), indexed by [`Side`].
    pub certificate_verify: [Option<u16>; 2],
    /// KeyUpdates each side sent, indexed by [`Side`].
    pub key_updates: [u32; 2],
    /// The first NewSessionTicket's lifetime, in seconds.
    pub ticket_lifetime: Option<u32>,
    /// The largest `max_early_data_size` a TLS 1.3 ticket allowed.
    pub ticket_max_early_data: Option<u32>,
}

/// Everything tlsight knows about one connection that spoke TLS.
#[derive(Clone, Debug)]
pub struct ConnectionFacts {
    /// When the first ClientHello was complete.
    pub client_hello_ts: Option<Timestamp>,
    /// The ClientHello sender (else the side that opened the connection).
    pub client: Endpoint,
    /// The other end.
    pub server: Endpoint,
    /// Direction (relative to the flow key) of the client.
    pub client_dir: Direction,
    /// How the handshake ended.
    pub outcome: Outcome,
    /// Why, when it did not complete.
    pub failure: Option<Failure>,
    /// Phase durations.
    pub timing: Timing,
    /// The first ClientHello.
    pub client_hello: Option<Box<ClientHello>>,
    /// The ClientHello sent after a HelloRetryRequest.
    pub retry_client_hello: Option<Box<ClientHello>>,
    /// The HelloRetryRequest, if any.
    pub hello_retry_request: Option<Box<ServerHello>>,
    /// The (final) ServerHello.
    pub server_hello: Option<Box<ServerHello>>,
    /// ECDHE curve of the ServerKeyExchange (TLS ≤ 1.2).
    pub server_key_exchange_curve: Option<u16>,
    /// The server asked for a client certificate.
    pub certificate_requested: bool,
    /// The server stapled an OCSP response.
    pub certificate_status: bool,
    /// Server chain as sent, leaf first.
    pub certificates: Vec<ChainCert>,
    /// Client chain as sent (empty when the client sent an empty Certificate).
    pub client_certificates: Vec<ChainCert>,
    /// The client answered a CertificateRequest with an empty Certificate.
    pub client_certificate_empty: bool,
    /// Alerts in order (inline up to two: most connections end with one alert per side).
    pub alerts: SmallVec<[AlertFact; 2]>,
    /// Handshake messages in order with their sender (inline up to a full handshake's).
    pub messages: SmallVec<[(Side, &'static str); 16]>,
    /// Resumption offered/accepted.
    pub resumption: Resumption,
    /// TLS ≤ 1.2 renegotiations: who started them, how many completed, secure renegotiation
    /// support.
    pub renegotiation: Renegotiation,
    /// Protocol oddities by name ([`crate::tls::AnomalyKind::name`]): the handshake layer's and the
    /// transport driver's, in one alphabetical map.
    pub anomalies: BTreeMap<&'static str, u64>,
    /// What decryption revealed (analyses with key logs only).
    pub decrypted: Option<Box<Decrypted>>,
    /// The transport's facts.
    pub transport: TransportFacts,
}

/// The hellos' boxes go back to the thread's spares for the next connections' hellos (see
/// [`ClientHello::boxed`]).
impl Drop for ConnectionFacts {
    fn drop(&mut self) {
        if let Some(hello) = self.client_hello.take() {
            ClientHello::recycle(hello);
        }
        if let Some(hello) = self.retry_client_hello.take() {
            ClientHello::recycle(hello);
        }
        if let Some(hello) = self.server_hello.take() {
            ServerHello::recycle(hello);
        }
        if let Some(hello) = self.hello_retry_request.take() {
            ServerHello::recycle(hello);
        }
    }
}

impl ConnectionFacts {
    /// First packet of the connection.
    pub fn first_ts(&self) -> Timestamp {
        self.transport.first_ts()
    }

    /// Last packet of the connection.
    pub fn last_ts(&self) -> Timestamp {
        self.transport.last_ts()
    }

    /// The key records are ordered by: first packet time, then client and server, then the
    /// transport (a TCP and a UDP connection on the same endpoints).
    pub fn sort_key(&self) -> (Timestamp, Endpoint, Endpoint, Transport) {
        (
            self.first_ts(),
            self.client,
            self.server,
            self.transport.transport(),
        )
    }

    /// The TCP facts, when TCP carried the connection.
    pub fn tcp(&self) -> Option<&TcpFacts> {
        match &self.transport {
            TransportFacts::Tcp(t) => Some(t),
            _ => None,
        }
    }

    /// Negotiated version (the ServerHello's), if any.
    pub fn version(&self) -> Option<u16> {
        self.server_hello.as_deref().map(|sh| sh.version)
    }

    /// Negotiated cipher suite.
    pub fn cipher(&self) -> Option<u16> {
        self.server_hello.as_deref().map(|sh| sh.cipher)
    }

    /// SNI of the first ClientHello.
    pub fn sni(&self) -> Option<&str> {
        self.client_hello
            .as_deref()
            .and_then(|ch| ch.sni.as_deref())
    }

    /// Negotiated ALPN protocol.
    pub fn alpn(&self) -> Option<&str> {
        self.server_hello
            .as_deref()
            .and_then(|sh| sh.alpn.as_deref())
            .or_else(|| self.decrypted.as_deref()?.alpn.as_deref())
    }

    /// Whether the negotiated version is TLS 1.3 (or a draft of it).
    pub fn is_tls13(&self) -> bool {
        self.version()
            .is_some_and(|v| crate::tls::codes::ProtocolVersion(v).is_tls13())
    }

    /// TLS ≤ 1.2 renegotiations started (cleartext or encrypted), by either side.
    pub fn renegotiations(&self) -> u32 {
        self.renegotiation.client_initiated + self.renegotiation.server_initiated
    }

    /// The server's label for per-server aggregates: SNI, else `ip:port`. Borrowed when there
    /// is an SNI, so that aggregating a connection allocates nothing for it.
    pub fn server_label(&self) -> Cow<'_, str> {
        match self.sni() {
            Some(sni) => Cow::Borrowed(sni),
            None => Cow::Owned(self.server.to_string()),
        }
    }

    /// The key-exchange group used: the TLS 1.3 key share, else the ECDHE curve of a TLS ≤ 1.2
    /// ServerKeyExchange.
    pub fn negotiated_group(&self) -> Option<u16> {
        self.server_hello
            .as_deref()
            .and_then(|sh| sh.selected_group)
            .or(self.server_key_exchange_curve)
    }

    /// Highest version the client offered (supported_versions, else legacy version), ranking
    /// drafts as TLS 1.3 but reporting the codepoint actually offered.
    pub fn highest_offered_version(&self) -> Option<u16> {
        self.client_hello.as_deref().and_then(highest_offered)
    }
}

/// Highest version a ClientHello offers.
fn highest_offered(ch: &ClientHello) -> Option<u16> {
    ch.supported_versions
        .iter()
        .copied()
        .filter_map(|v| version_rank(v).map(|rank| (rank, v)))
        .max()
        .map(|(_, v)| v)
        .or(Some(ch.legacy_version))
}
