//! Connection facts: pairs a connection's TLS events (hellos, certificates, alerts with their
//! sender) with its TCP facts, and classifies its outcome and, when it failed, the cause.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::flow::{Direction, Endpoint, FlowKey, Timestamp};
use crate::tcp::{CloseReason, TcpMeta};
use crate::tls::names::{alert_name, version_name, version_rank};
use crate::tls::{Alert, Certificate, ClientHello, ServerHello, TlsEvent, Transcript};

/// Which end of the connection did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    /// Whether a session was established (fully or by resumption).
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Established | Outcome::Resumed)
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
            FailureCause::Unknown => "unknown",
        }
    }
}

/// A failure cause with its one-sentence explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The cause.
    pub cause: FailureCause,
    /// One sentence built from the evidence.
    pub explanation: String,
    /// The cause was inferred from the traffic's shape rather than read from an alert.
    pub inferred: bool,
}

/// An alert with its sender and the handshake stage it arrived at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertFact {
    /// Who sent it.
    pub from: Side,
    /// The alert.
    pub alert: Alert,
    /// When.
    pub ts: Timestamp,
    /// The last handshake message seen before it (either side) and its sender.
    pub after: Option<(Side, &'static str)>,
}

/// A certificate of a chain with the findings judged for this connection (capture time, SNI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainCert {
    /// Parsed certificate (shared across connections).
    pub cert: Arc<Certificate>,
    /// snake_case findings, e.g. `expired`, `sni_mismatch`.
    pub findings: Vec<&'static str>,
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
    /// ClientHello → handshake done (last Finished).
    pub client_hello_to_done_us: Option<i64>,
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

/// Everything tlsight knows about one TCP connection that spoke TLS.
#[derive(Clone, Debug)]
pub struct ConnectionFacts {
    /// First packet of the connection.
    pub first_ts: Timestamp,
    /// Last packet of the connection.
    pub last_ts: Timestamp,
    /// When the first ClientHello was complete.
    pub client_hello_ts: Option<Timestamp>,
    /// The ClientHello sender (else the SYN sender).
    pub client: Endpoint,
    /// The other end.
    pub server: Endpoint,
    /// Negotiated version (ServerHello), if any.
    pub version: Option<u16>,
    /// Negotiated cipher suite.
    pub cipher: Option<u16>,
    /// SNI of the first ClientHello.
    pub sni: Option<String>,
    /// Negotiated ALPN protocol.
    pub alpn: Option<String>,
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
    /// Alerts in order.
    pub alerts: Vec<AlertFact>,
    /// Handshake messages in order with their sender.
    pub messages: Vec<(Side, &'static str)>,
    /// Resumption offered/accepted.
    pub resumption: Resumption,
    /// TLS ≤ 1.2 renegotiations (cleartext or encrypted).
    pub renegotiations: u32,
    /// Who started them, how many completed, secure renegotiation support.
    pub renegotiation: Renegotiation,
    /// Protocol oddities by name (TLS and TCP).
    pub anomalies: BTreeMap<&'static str, u64>,
    /// TCP facts.
    pub tcp: TcpMeta,
    /// Why the connection left the flow table.
    pub close: CloseReason,
    /// Direction (relative to the flow key) of the client.
    pub client_dir: Direction,
}

impl ConnectionFacts {
    /// The key records are ordered by: first packet time, then client and server.
    pub fn sort_key(&self) -> (Timestamp, Endpoint, Endpoint) {
        (self.first_ts, self.client, self.server)
    }

    /// The server's label for per-server aggregates: SNI, else `ip:port`. Borrowed when there
    /// is an SNI, so that aggregating a connection allocates nothing for it.
    pub fn server_label(&self) -> Cow<'_, str> {
        match &self.sni {
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

/// What happened per side, gathered in one pass over the events.
#[derive(Default)]
struct SideState {
    ccs: Option<Timestamp>,
    finished: Option<Timestamp>,
    app_data: Option<Timestamp>,
    certificate: bool,
}

/// Builds the facts of a connection that spoke TLS from its TCP facts and TLS transcript.
pub fn build(
    key: &FlowKey,
    tcp: TcpMeta,
    close: CloseReason,
    transcript: Transcript,
    cfg: &FactsConfig,
) -> ConnectionFacts {
    let client_dir = transcript
        .client
        .or(tcp.syn.map(|(dir, _)| dir))
        .unwrap_or(Direction::LoToHi);
    let side_of = |dir: Direction| {
        if dir == client_dir {
            Side::Client
        } else {
            Side::Server
        }
    };

    let mut f = ConnectionFacts {
        first_ts: tcp.first_ts,
        last_ts: tcp.last_ts,
        client_hello_ts: None,
        client: key.source(client_dir),
        server: key.destination(client_dir),
        version: None,
        cipher: None,
        sni: None,
        alpn: None,
        outcome: Outcome::Incomplete,
        failure: None,
        timing: Timing::default(),
        client_hello: None,
        retry_client_hello: None,
        hello_retry_request: None,
        server_hello: None,
        server_key_exchange_curve: None,
        certificate_requested: false,
        certificate_status: false,
        certificates: Vec::new(),
        client_certificates: Vec::new(),
        client_certificate_empty: false,
        alerts: Vec::new(),
        // Nearly every event is a handshake message: one allocation instead of a few.
        messages: Vec::with_capacity(transcript.events.len()),
        resumption: Resumption::default(),
        renegotiations: 0,
        renegotiation: Renegotiation::default(),
        anomalies: BTreeMap::new(),
        tcp,
        close,
        client_dir,
    };
    let mut sides: [SideState; 2] = Default::default();
    let mut client_hello_ts = None;
    let mut server_hello_ts = None;
    let mut server_cert_chain: Vec<Arc<Certificate>> = Vec::new();
    let mut client_cert_chain: Vec<Arc<Certificate>> = Vec::new();
    let mut last_message: Option<(Side, &'static str)> = None;
    // ChangeCipherSpec seen per side since the current renegotiation began.
    let mut renegotiation_ccs: Option<[bool; 2]> = None;

    for ev in transcript.events {
        let side = side_of(ev.from);
        let st = &mut sides[side as usize];
        let message: Option<&'static str> = match ev.event {
            TlsEvent::ClientHello(ch) => {
                if f.client_hello.is_none() {
                    client_hello_ts = Some(ev.ts);
                    f.client_hello = Some(ch);
                } else if f.hello_retry_request.is_some() && f.retry_client_hello.is_none() {
                    f.retry_client_hello = Some(ch);
                } else if f.server_hello.is_some() {
                    f.renegotiations += 1;
                    f.renegotiation.client_initiated += 1;
                    renegotiation_ccs = Some([false, false]);
                } else {
                    *f.anomalies.entry("duplicate_client_hello").or_default() += 1;
                }
                Some("client_hello")
            }
            TlsEvent::ServerHello(sh) => {
                if sh.hrr {
                    f.hello_retry_request = Some(sh);
                    Some("hello_retry_request")
                } else {
                    if f.server_hello.is_none() {
                        server_hello_ts = Some(ev.ts);
                        f.server_hello = Some(sh);
                    }
                    Some("server_hello")
                }
            }
            TlsEvent::Certificate(chain) => {
                st.certificate = true;
                match side {
                    Side::Server if server_cert_chain.is_empty() => server_cert_chain = chain,
                    Side::Client if client_cert_chain.is_empty() => {
                        f.client_certificate_empty = chain.is_empty();
                        client_cert_chain = chain;
                    }
                    _ => {}
                }
                Some("certificate")
            }
            TlsEvent::ServerKeyExchange { curve } => {
                f.server_key_exchange_curve = f.server_key_exchange_curve.or(curve);
                Some("server_key_exchange")
            }
            TlsEvent::CertificateRequest => {
                f.certificate_requested = true;
                Some("certificate_request")
            }
            TlsEvent::ServerHelloDone => Some("server_hello_done"),
            TlsEvent::CertificateStatus => {
                f.certificate_status = true;
                Some("certificate_status")
            }
            TlsEvent::ClientKeyExchange => Some("client_key_exchange"),
            TlsEvent::CertificateVerify => Some("certificate_verify"),
            TlsEvent::NewSessionTicket { .. } => {
                f.resumption.tickets_issued += 1;
                Some("new_session_ticket")
            }
            TlsEvent::OtherHandshake(_) => Some("other_handshake"),
            TlsEvent::ChangeCipherSpec => {
                st.ccs.get_or_insert(ev.ts);
                if let Some(seen) = &mut renegotiation_ccs {
                    seen[side as usize] = true;
                    if seen == &[true, true] {
                        f.renegotiation.completed += 1;
                        renegotiation_ccs = None;
                    }
                }
                Some("change_cipher_spec")
            }
            TlsEvent::Renegotiation => {
                f.renegotiations += 1;
                renegotiation_ccs = Some([false, false]);
                Some(match side {
                    Side::Client => {
                        f.renegotiation.client_initiated += 1;
                        "client_hello"
                    }
                    Side::Server => {
                        f.renegotiation.server_initiated += 1;
                        "hello_request"
                    }
                })
            }
            TlsEvent::EncryptedHandshake => {
                st.finished.get_or_insert(ev.ts);
                Some("finished")
            }
            // An alert-sized server record after the client had already closed is the
            // server's close_notify answering it, not a rejection.
            TlsEvent::Alert(alert)
                if alert.inferred
                    && side == Side::Server
                    && f.tcp.fin[client_dir.index()].is_some_and(|fin| fin <= ev.ts) =>
            {
                st.app_data.get_or_insert(ev.ts);
                None
            }
            TlsEvent::Alert(alert) => {
                f.alerts.push(AlertFact {
                    from: side,
                    alert,
                    ts: ev.ts,
                    after: last_message,
                });
                None
            }
            TlsEvent::ApplicationData => {
                st.app_data.get_or_insert(ev.ts);
                None
            }
            TlsEvent::Heartbeat { .. } => {
                *f.anomalies.entry("heartbeat").or_default() += 1;
                None
            }
        };
        if let Some(m) = message {
            f.messages.push((side, m));
            last_message = Some((side, m));
        }
    }
    f.client_hello_ts = client_hello_ts;
    for a in &transcript.anomalies {
        *f.anomalies.entry(a.kind).or_default() += 1;
    }

    if let Some(ch) = &f.client_hello {
        f.sni = ch.sni.clone();
        // A TLS 1.3 client fills the legacy session id with random bytes (middlebox
        // compatibility); it is a resumption offer only where TLS ≤ 1.2 was negotiated.
        let offers_tls13 = f.highest_offered_version().and_then(version_rank) == Some(0x0304);
        let negotiated_tls12_or_lower = f
            .server_hello
            .as_deref()
            .and_then(|sh| version_rank(sh.version))
            .is_some_and(|v| v < 0x0304);
        if ch.session_id_len > 0 && (!offers_tls13 || negotiated_tls12_or_lower) {
            f.resumption.offered.push(Mechanism::SessionId);
        }
        if ch.session_ticket_len.is_some_and(|len| len > 0) {
            f.resumption.offered.push(Mechanism::Ticket);
        }
        if ch.psk_identities.is_some() {
            f.resumption.offered.push(Mechanism::Psk);
        }
        f.resumption.early_data_offered = ch.early_data;
    }
    f.resumption.early_data_accepted = transcript.early_data_accepted;
    if let Some(sh) = &f.server_hello {
        f.version = Some(sh.version);
        f.cipher = Some(sh.cipher);
        f.alpn = sh.alpn.clone();
        if let Some(ch) = f.client_hello.as_deref()
            && !is_tls13(&f)
        {
            f.renegotiation.secure = Some(sh.renegotiation_info && ch.renegotiation_info);
        }
    }

    // Timing.
    if let Some((_, syn_ts)) = f.tcp.syn {
        f.timing.tcp_syn_to_syn_ack_us = f.tcp.syn_ack.and_then(|t| t.elapsed_since(syn_ts));
        f.timing.tcp_handshake_us = f.tcp.handshake_ack.and_then(|t| t.elapsed_since(syn_ts));
    }
    let done_ts = handshake_done(&f, &sides, server_hello_ts);
    if let Some(ch_ts) = client_hello_ts {
        f.timing.client_hello_to_server_hello_us =
            server_hello_ts.and_then(|t| t.elapsed_since(ch_ts));
        f.timing.client_hello_to_done_us = done_ts.and_then(|t| t.elapsed_since(ch_ts));
    }

    // Resumption accepted.
    f.resumption.accepted = accepted_resumption(&f, &sides);

    // Certificates and their findings at capture time.
    let judge_at = server_hello_ts.or(client_hello_ts).unwrap_or(f.first_ts);
    f.certificates = judge_chain(server_cert_chain, f.sni.as_deref(), judge_at, cfg);
    f.client_certificates = judge_chain(client_cert_chain, None, judge_at, cfg);

    // Outcome.
    match done_ts {
        Some(_) => {
            f.outcome = if f.resumption.accepted.is_some() {
                Outcome::Resumed
            } else {
                Outcome::Established
            };
        }
        None => {
            let (outcome, failure) = diagnose(&f, &sides);
            f.outcome = outcome;
            f.failure = failure;
        }
    }
    f
}

/// Whether the negotiated version is TLS 1.3 (or a draft of it).
fn is_tls13(f: &ConnectionFacts) -> bool {
    f.version.and_then(version_rank) == Some(0x0304)
}

/// When the handshake completed, if it did: TLS ≤ 1.2, both Finished (encrypted handshake
/// after CCS) or application data both ways; TLS 1.3, the client's first protected record
/// after the ServerHello (its Finished) unless that record was an alert.
fn handshake_done(
    f: &ConnectionFacts,
    sides: &[SideState; 2],
    server_hello_ts: Option<Timestamp>,
) -> Option<Timestamp> {
    let sh_ts = server_hello_ts?;
    let [client, server] = sides;
    if f.alerts
        .iter()
        .any(|a| a.alert.level == Some(2) || (a.alert.inferred && a.ts >= sh_ts))
    {
        return None;
    }
    if is_tls13(f) {
        // The client's first protected record is its final flight (Finished, with its
        // certificate first under mutual TLS); application data may follow much later.
        return client.finished.or(client.app_data.filter(|&t| t >= sh_ts));
    }
    match (client.finished, server.finished) {
        (Some(c), Some(s)) => Some(c.max(s)),
        _ => match (client.app_data, server.app_data) {
            (Some(c), Some(s)) => Some(c.max(s)),
            _ => None,
        },
    }
}

/// The resumption mechanism the server accepted: TLS 1.3, a selected PSK; TLS ≤ 1.2, an
/// abbreviated handshake (no server Certificate, server Finished before the client's).
fn accepted_resumption(f: &ConnectionFacts, sides: &[SideState; 2]) -> Option<Mechanism> {
    let sh = f.server_hello.as_deref()?;
    if is_tls13(f) {
        return sh.psk_selected.map(|_| Mechanism::Psk);
    }
    let [client, server] = sides;
    let abbreviated = !server.certificate
        && match (server.ccs, client.ccs) {
            (Some(s), Some(c)) => s <= c,
            (Some(_), None) => true,
            _ => false,
        };
    if !abbreviated {
        return None;
    }
    if f.resumption.offered.contains(&Mechanism::Ticket) {
        Some(Mechanism::Ticket)
    } else {
        Some(Mechanism::SessionId)
    }
}

/// Outcome and cause of a handshake that did not complete, from the evidence.
fn diagnose(f: &ConnectionFacts, sides: &[SideState; 2]) -> (Outcome, Option<Failure>) {
    let failed = |cause: FailureCause, explanation: String, inferred: bool| {
        (
            Outcome::Failed,
            Some(Failure {
                cause,
                explanation,
                inferred,
            }),
        )
    };
    // Picked up after the ClientHello: the start of the handshake was not captured, so what
    // follows cannot be judged.
    if f.client_hello.is_none() && f.server_hello.is_some() {
        return (Outcome::Incomplete, None);
    }
    let server_spoke = f.server_hello.is_some()
        || f.hello_retry_request.is_some()
        || f.alerts.iter().any(|a| a.from == Side::Server)
        || sides[Side::Server as usize].ccs.is_some();
    let server_dir = f.client_dir.reverse();

    // An alert ends the handshake: the first fatal one, else the first that is not close_notify.
    let decisive = f
        .alerts
        .iter()
        .find(|a| a.alert.level == Some(2) || (a.alert.encrypted && !a.alert.inferred))
        .or_else(|| f.alerts.iter().find(|a| a.alert.inferred))
        .or_else(|| {
            f.alerts
                .iter()
                .find(|a| a.alert.description.is_some_and(|d| d != 0))
        });
    if let Some(a) = decisive {
        let (cause, explanation) = alert_cause(f, a);
        return failed(cause, explanation, a.alert.inferred);
    }

    let after = f.messages.last().map_or_else(
        || "the start".to_string(),
        |&(side, m)| message_phrase(side, m),
    );
    if let Some((dir, _)) = f.tcp.rst {
        return if dir == server_dir {
            failed(
                FailureCause::ServerReset,
                format!("The server reset the connection after {after}."),
                false,
            )
        } else if !server_spoke && f.tcp.payload_bytes[server_dir.index()] == 0 {
            (
                Outcome::NoResponse,
                Some(Failure {
                    cause: FailureCause::NoResponse,
                    explanation: "The server never answered the ClientHello; the client reset the connection."
                        .to_string(),
                    inferred: false,
                }),
            )
        } else {
            failed(
                FailureCause::ClientAbort,
                format!("The client reset the connection after {after}."),
                false,
            )
        };
    }
    if !server_spoke {
        let server_bytes = f.tcp.payload_bytes[server_dir.index()];
        if server_bytes > 0 && f.tcp.gaps[server_dir.index()] == 0 {
            return failed(
                FailureCause::ServerNotTls,
                format!(
                    "The server answered the ClientHello with {server_bytes} bytes that are not TLS."
                ),
                false,
            );
        }
        // The server closing first is its answer; closing after the client gave up is not.
        let client_fin = f.tcp.fin[f.client_dir.index()];
        if let Some(server_fin) = f.tcp.fin[server_dir.index()]
            && client_fin.is_none_or(|c| server_fin < c)
        {
            return failed(
                FailureCause::ServerClosed,
                "The server closed the connection without answering the ClientHello.".to_string(),
                false,
            );
        }
        if f.close == CloseReason::CaptureEnd {
            return (Outcome::Incomplete, None);
        }
        return (
            Outcome::NoResponse,
            Some(Failure {
                cause: FailureCause::NoResponse,
                explanation: match client_fin {
                    Some(fin) => format!(
                        "The server never answered the ClientHello; the client gave up after {} ms.",
                        client_hello_wait_ms(f, fin)
                    ),
                    None => "The server never answered the ClientHello.".to_string(),
                },
                inferred: false,
            }),
        );
    }
    if f.tcp.gaps.iter().any(|&g| g > 0) {
        return failed(
            FailureCause::CaptureGap,
            format!(
                "Captured bytes are missing ({} bytes in {} gaps), so the handshake could not be followed past {after}.",
                f.tcp.gap_bytes.iter().sum::<u64>(),
                f.tcp.gaps.iter().sum::<u64>()
            ),
            true,
        );
    }
    if f.tcp.fin[f.client_dir.index()].is_some() {
        return failed(
            FailureCause::ClientAbort,
            format!("The client closed the connection after {after} without an alert."),
            false,
        );
    }
    if f.tcp.fin[server_dir.index()].is_some() {
        return failed(
            FailureCause::ServerClosed,
            format!("The server closed the connection after {after} without an alert."),
            false,
        );
    }
    (Outcome::Incomplete, None)
}

/// `the client's ClientHello`: a handshake message named as the RFCs do, with its sender.
fn message_phrase(side: Side, message: &str) -> String {
    let wire_name: String = message
        .split('_')
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect();
    format!("the {}'s {wire_name}", side.name())
}

/// Milliseconds from the ClientHello (else the first packet) to `until`.
fn client_hello_wait_ms(f: &ConnectionFacts, until: Timestamp) -> i64 {
    until.micros_since(f.client_hello_ts.unwrap_or(f.first_ts)) / 1000
}

/// Cause and explanation of a failure ended by alert `a`.
fn alert_cause(f: &ConnectionFacts, a: &AlertFact) -> (FailureCause, String) {
    let who = a.from.name();
    let Some(desc) = a.alert.description else {
        if a.alert.inferred {
            return match a.from {
                Side::Client => (
                    FailureCause::ClientRejectedCertificate,
                    "The client sent an alert-sized encrypted record where its Finished was due \
                     and closed: most likely it rejected the server certificate (TLS 1.3 hides \
                     both)."
                        .to_string(),
                ),
                Side::Server => (
                    FailureCause::ServerRejectedClientCertificate,
                    "The server answered the client's Finished with one alert-sized encrypted \
                     record and closed: most likely it required a client certificate and did not \
                     get one it accepts (TLS 1.3 hides both)."
                        .to_string(),
                ),
            };
        }
        return (
            FailureCause::Unknown,
            format!("The {who} sent an encrypted alert before the handshake finished."),
        );
    };
    let name = alert_name(desc);
    let level = match a.alert.level {
        Some(1) => "warning",
        _ => "fatal",
    };
    let stage = a
        .after
        .map(|(side, m)| format!(" after {}", message_phrase(side, m)))
        .unwrap_or_default();
    let base = format!("The {who} sent a {level} {name} alert{stage}");
    if f.hello_retry_request.is_some() && f.server_hello.is_none() {
        return (
            FailureCause::HelloRetryFailed,
            format!("{base} following a HelloRetryRequest."),
        );
    }
    let offered = f.client_hello.as_deref();
    match (a.from, desc) {
        (Side::Server, 40 | 71) if f.server_hello.is_none() => (
            FailureCause::NoSharedCipher,
            format!(
                "{base}: it shares no cipher suite or parameters with the client, which offered {} suites.",
                offered.map_or(0, |ch| ch.cipher_suites.len())
            ),
        ),
        (_, 70 | 86) => {
            let highest = f
                .highest_offered_version()
                .map_or_else(|| "nothing".into(), version_name);
            let demand = match (a.from, f.version) {
                (Side::Client, Some(chosen)) => format!(
                    "the server chose {}, which the client refuses",
                    version_name(chosen)
                ),
                _ => "the server accepts none of the client's versions".to_string(),
            };
            (
                FailureCause::VersionMismatch,
                format!(
                    "{base}: no common protocol version ({demand}; client offered up to {highest})."
                ),
            )
        }
        (_, 112) => (
            FailureCause::UnrecognizedName,
            format!(
                "{base}: the server does not serve {}.",
                f.sni
                    .as_deref()
                    .unwrap_or("the requested name (no SNI sent)")
            ),
        ),
        (_, 120) => (
            FailureCause::NoApplicationProtocol,
            format!(
                "{base}: no common application protocol (client offered {}).",
                offered.map_or(String::new(), |ch| ch.alpn.join(", "))
            ),
        ),
        (Side::Client, 42..=46 | 48 | 49) => {
            let findings: Vec<&str> = f
                .certificates
                .iter()
                .flat_map(|c| c.findings.iter().copied())
                .collect();
            let why = if findings.is_empty() {
                String::new()
            } else {
                format!(" (certificate findings: {})", findings.join(", "))
            };
            (
                FailureCause::ClientRejectedCertificate,
                format!("{base}: it rejected the server certificate{why}."),
            )
        }
        (Side::Server, 116) | (Side::Server, 41..=46 | 48 | 49) => (
            FailureCause::ServerRejectedClientCertificate,
            format!(
                "{base}: it {} the client certificate.",
                if f.client_certificate_empty || desc == 116 {
                    "required and did not get"
                } else {
                    "rejected"
                }
            ),
        ),
        (Side::Server, 40) if f.certificate_requested => (
            FailureCause::ServerRejectedClientCertificate,
            format!(
                "{base}: it requested a client certificate and {}.",
                if f.client_certificate_empty {
                    "the client sent none"
                } else {
                    "refused the one sent"
                }
            ),
        ),
        _ => (FailureCause::Unknown, format!("{base}.")),
    }
}

/// Certificate findings that depend on the connection (the name asked for, the chain sent
/// with it) rather than on the certificate itself.
pub const CONNECTION_FINDINGS: [&str; 3] =
    ["sni_mismatch", "chain_incomplete", "chain_out_of_order"];

const DAY_SECS: i64 = 86_400;

/// Judges each certificate of a chain at capture time `at`; `sni` is checked against the leaf.
fn judge_chain(
    chain: Vec<Arc<Certificate>>,
    sni: Option<&str>,
    at: Timestamp,
    cfg: &FactsConfig,
) -> Vec<ChainCert> {
    let now = at.0.div_euclid(1_000_000_000);
    let n = chain.len();
    let mut out: Vec<ChainCert> = Vec::with_capacity(n);
    for (i, cert) in chain.iter().enumerate() {
        let mut findings = Vec::new();
        if cert.parse_error.is_some() {
            findings.push("unparsable");
            out.push(ChainCert {
                cert: Arc::clone(cert),
                findings,
            });
            continue;
        }
        let leaf = i == 0;
        if now > cert.not_after {
            findings.push("expired");
        } else if now < cert.not_before {
            findings.push("not_yet_valid");
        } else if cert.not_after - now < cfg.cert_warn_days * DAY_SECS {
            findings.push("expiring_soon");
        }
        if leaf {
            if let Some(name) = sni
                && !name_matches(cert, name)
            {
                findings.push("sni_mismatch");
            }
            if cert.self_signed {
                findings.push("self_signed");
            }
            if cert.not_after - cert.not_before > 398 * DAY_SECS {
                findings.push("validity_too_long");
            }
        }
        // Each certificate should be issued by the next one; the root may be left out.
        match chain.get(i + 1) {
            Some(next) if next.subject != cert.issuer => {
                if chain.iter().any(|c| c.subject == cert.issuer) {
                    findings.push("chain_out_of_order");
                } else {
                    findings.push("chain_incomplete");
                }
            }
            None if leaf && !cert.self_signed => findings.push("chain_incomplete"),
            _ => {}
        }
        let weak_key = match (cert.key_type.as_str(), cert.key_bits) {
            ("rsa" | "dsa", Some(bits)) => bits < 2048,
            ("ec", Some(bits)) => bits < 256,
            _ => false,
        };
        if weak_key {
            findings.push("weak_key");
        }
        let sig = cert.signature_algorithm.to_ascii_lowercase();
        if !cert.self_signed && (sig.contains("sha1") || sig.contains("md5") || sig.contains("md2"))
        {
            findings.push("weak_signature");
        }
        out.push(ChainCert {
            cert: Arc::clone(cert),
            findings,
        });
    }
    out
}

/// RFC 6125 name matching: SAN DNS names (else the subject CN), case-insensitive, a wildcard
/// only as the whole left-most label and matching exactly one label.
pub fn name_matches(cert: &Certificate, name: &str) -> bool {
    let name = name.trim_end_matches('.');
    if name.parse::<std::net::IpAddr>().is_ok() {
        return cert.san_ip.iter().any(|ip| ip == name);
    }
    let patterns: &[String] = if cert.san_dns.is_empty() {
        &cert.subject_cn
    } else {
        &cert.san_dns
    };
    patterns.iter().any(|p| dns_pattern_matches(p, name))
}

fn dns_pattern_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    if let Some(rest) = pattern.strip_prefix("*.") {
        // The wildcard stands for exactly one non-empty label; the rest must have two labels
        // at least so that `*.com` matches nothing.
        if !rest.contains('.') {
            return false;
        }
        return match name.split_once('.') {
            Some((label, tail)) => !label.is_empty() && tail.eq_ignore_ascii_case(rest),
            None => false,
        };
    }
    pattern.eq_ignore_ascii_case(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Transport;
    use crate::tls::TimedEvent;
    use std::net::{IpAddr, Ipv4Addr};

    fn key() -> FlowKey {
        let c = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 50000,
        };
        let s = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            port: 443,
        };
        FlowKey::from_endpoints(Transport::Tcp, c, s).0
    }

    fn ts(ms: i64) -> Timestamp {
        Timestamp(ms * 1_000_000)
    }

    fn ev(ms: i64, from: Direction, event: TlsEvent) -> TimedEvent {
        TimedEvent {
            ts: ts(ms),
            from,
            event,
        }
    }

    const C: Direction = Direction::LoToHi;
    const S: Direction = Direction::HiToLo;

    fn hello() -> TlsEvent {
        TlsEvent::ClientHello(Box::new(ClientHello {
            legacy_version: 0x0303,
            cipher_suites: vec![0xc02f, 0x009c],
            sni: Some("www.example.test".into()),
            ..Default::default()
        }))
    }

    fn server_hello(version: u16) -> TlsEvent {
        TlsEvent::ServerHello(Box::new(ServerHello {
            legacy_version: 0x0303,
            version,
            cipher: 0xc02f,
            ..Default::default()
        }))
    }

    fn alert(level: u8, description: u8) -> TlsEvent {
        TlsEvent::Alert(Alert::cleartext(level, description))
    }

    fn run(events: Vec<TimedEvent>, tcp: TcpMeta, close: CloseReason) -> ConnectionFacts {
        let transcript = Transcript {
            client: Some(C),
            events,
            ..Default::default()
        };
        build(&key(), tcp, close, transcript, &FactsConfig::default())
    }

    #[test]
    fn full_tls12_handshake_is_established_with_timing() {
        let tcp = TcpMeta {
            syn: Some((C, ts(0))),
            syn_ack: Some(ts(1)),
            handshake_ack: Some(ts(2)),
            ..Default::default()
        };
        let f = run(
            vec![
                ev(3, C, hello()),
                ev(5, S, server_hello(0x0303)),
                ev(5, S, TlsEvent::Certificate(vec![])),
                ev(7, C, TlsEvent::ChangeCipherSpec),
                ev(7, C, TlsEvent::EncryptedHandshake),
                ev(9, S, TlsEvent::ChangeCipherSpec),
                ev(9, S, TlsEvent::EncryptedHandshake),
            ],
            tcp,
            CloseReason::Fin,
        );
        assert_eq!(f.outcome, Outcome::Established);
        assert_eq!(f.timing.tcp_handshake_us, Some(2000));
        assert_eq!(f.timing.client_hello_to_server_hello_us, Some(2000));
        assert_eq!(f.timing.client_hello_to_done_us, Some(6000));
        assert_eq!(f.sni.as_deref(), Some("www.example.test"));
    }

    #[test]
    fn server_handshake_failure_before_server_hello_is_no_shared_cipher() {
        let f = run(
            vec![ev(1, C, hello()), ev(2, S, alert(2, 40))],
            TcpMeta::default(),
            CloseReason::Fin,
        );
        assert_eq!(f.outcome, Outcome::Failed);
        let failure = f.failure.expect("failure");
        assert_eq!(failure.cause, FailureCause::NoSharedCipher);
        assert!(
            failure
                .explanation
                .contains("server sent a fatal handshake_failure"),
            "{}",
            failure.explanation
        );
        assert_eq!(f.alerts[0].from, Side::Server);
        assert_eq!(f.alerts[0].after, Some((Side::Client, "client_hello")));
    }

    #[test]
    fn abbreviated_tls12_handshake_is_resumed() {
        let f = run(
            vec![
                ev(1, C, hello()),
                ev(2, S, server_hello(0x0303)),
                ev(2, S, TlsEvent::ChangeCipherSpec),
                ev(2, S, TlsEvent::EncryptedHandshake),
                ev(3, C, TlsEvent::ChangeCipherSpec),
                ev(3, C, TlsEvent::EncryptedHandshake),
            ],
            TcpMeta::default(),
            CloseReason::Fin,
        );
        assert_eq!(f.outcome, Outcome::Resumed);
        assert_eq!(f.resumption.accepted, Some(Mechanism::SessionId));
    }

    #[test]
    fn unanswered_hello_is_no_response_or_incomplete() {
        let f = run(
            vec![ev(1, C, hello())],
            TcpMeta::default(),
            CloseReason::IdleTimeout,
        );
        assert_eq!(f.outcome, Outcome::NoResponse);
        let f = run(
            vec![ev(1, C, hello())],
            TcpMeta::default(),
            CloseReason::CaptureEnd,
        );
        assert_eq!(f.outcome, Outcome::Incomplete);
    }

    #[test]
    fn server_reset_names_the_last_message() {
        let tcp = TcpMeta {
            rst: Some((S, ts(2))),
            ..Default::default()
        };
        let f = run(vec![ev(1, C, hello())], tcp, CloseReason::Rst);
        let failure = f.failure.expect("failure");
        assert_eq!(failure.cause, FailureCause::ServerReset);
        assert!(
            failure
                .explanation
                .contains("after the client's ClientHello"),
            "{}",
            failure.explanation
        );
    }

    #[test]
    fn tls13_inferred_client_alert_is_certificate_rejection() {
        let f = run(
            vec![
                ev(1, C, hello()),
                ev(2, S, server_hello(0x0304)),
                ev(3, C, TlsEvent::Alert(Alert::INFERRED)),
            ],
            TcpMeta::default(),
            CloseReason::Fin,
        );
        assert_eq!(f.outcome, Outcome::Failed);
        let failure = f.failure.expect("failure");
        assert_eq!(failure.cause, FailureCause::ClientRejectedCertificate);
        assert!(failure.inferred);
    }

    /// A TLS 1.3 handshake whose server answers the client's Finished with an alert-sized
    /// record (inferred alert) at 4 ms.
    fn tls13_server_reply_to_finished(tcp: TcpMeta) -> ConnectionFacts {
        run(
            vec![
                ev(1, C, hello()),
                ev(2, S, server_hello(0x0304)),
                ev(2, S, TlsEvent::EncryptedHandshake),
                ev(3, C, TlsEvent::EncryptedHandshake),
                ev(4, S, TlsEvent::Alert(Alert::INFERRED)),
            ],
            tcp,
            CloseReason::Fin,
        )
    }

    #[test]
    fn tls13_inferred_server_alert_after_client_finished_is_client_certificate_rejection() {
        let f = tls13_server_reply_to_finished(TcpMeta::default());
        assert_eq!(f.outcome, Outcome::Failed);
        let failure = f.failure.expect("failure");
        assert_eq!(failure.cause, FailureCause::ServerRejectedClientCertificate);
        assert!(failure.inferred);
        assert!(
            failure.explanation.contains("client's Finished"),
            "{}",
            failure.explanation
        );
    }

    #[test]
    fn tls13_server_record_after_the_client_closed_is_its_close_notify() {
        let mut tcp = TcpMeta::default();
        tcp.fin[C.index()] = Some(ts(3));
        let f = tls13_server_reply_to_finished(tcp);
        assert_eq!(f.outcome, Outcome::Established);
        assert!(f.alerts.is_empty());
    }

    fn cert(san: &[&str], cn: &str) -> Certificate {
        Certificate {
            san_dns: san.iter().map(|s| s.to_string()).collect(),
            subject_cn: vec![cn.to_string()],
            ..Default::default()
        }
    }

    #[test]
    fn rfc6125_wildcards() {
        let c = cert(&["*.example.com", "example.org"], "ignored.test");
        assert!(name_matches(&c, "www.example.com"));
        assert!(name_matches(&c, "WWW.Example.COM."));
        assert!(!name_matches(&c, "a.b.example.com"));
        assert!(!name_matches(&c, "example.com"));
        assert!(name_matches(&c, "example.org"));
        assert!(
            !name_matches(&c, "ignored.test"),
            "CN is ignored when SANs exist"
        );
        assert!(name_matches(&cert(&[], "cn.test"), "cn.test"));
        assert!(!name_matches(&cert(&["*.com"], ""), "example.com"));
    }

    #[test]
    fn certificate_findings_at_capture_time() {
        let day = DAY_SECS;
        let leaf = Arc::new(Certificate {
            subject: "CN=leaf".into(),
            issuer: "CN=ca".into(),
            san_dns: vec!["other.test".into()],
            not_before: 0,
            not_after: 100 * day,
            key_type: "rsa".into(),
            key_bits: Some(1024),
            signature_algorithm: "sha1WithRSAEncryption".into(),
            ..Default::default()
        });
        let judged = judge_chain(
            vec![leaf],
            Some("www.example.test"),
            Timestamp::from_parts(80 * day, 0),
            &FactsConfig::default(),
        );
        assert_eq!(
            judged[0].findings,
            vec![
                "expiring_soon",
                "sni_mismatch",
                "chain_incomplete",
                "weak_key",
                "weak_signature"
            ]
        );
    }
}
