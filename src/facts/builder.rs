//! The fold that turns a connection's transcript into its facts: one method per kind of event,
//! then the timings, resumption, certificate findings and the outcome once every event is in.

use std::collections::BTreeMap;
use std::sync::Arc;

use smallvec::SmallVec;

use super::certificates::judge_chain;
use super::diagnosis::{HandshakeEvidence, diagnose};
use super::{
    AlertFact, ConnectionFacts, Decrypted, FactsConfig, Mechanism, Outcome, Renegotiation,
    Resumption, Side, Timing, TransportFacts,
};
use crate::flow::{Direction, FlowKey, Timestamp};
use crate::tls::codes::AlertLevel;
use crate::tls::handshake::recycle_event_list;
use crate::tls::names::version_rank;
use crate::tls::{Alert, AnomalyKind, Certificate, ClientHello, ServerHello, TlsEvent, Transcript};

/// Builds the facts of a connection that spoke TLS from its transport's facts and its
/// handshake transcript.
pub fn build(
    key: &FlowKey,
    transport: TransportFacts,
    transcript: Transcript,
    cfg: &FactsConfig,
) -> ConnectionFacts {
    let client_dir = transcript
        .client
        .or(transport.opener())
        .unwrap_or(Direction::LoToHi);
    let mut b = Builder {
        f: ConnectionFacts {
            client_hello_ts: None,
            client: key.source(client_dir),
            server: key.destination(client_dir),
            client_dir,
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
            alerts: SmallVec::new(),
            messages: SmallVec::new(),
            resumption: Resumption::default(),
            renegotiation: Renegotiation::default(),
            anomalies: BTreeMap::new(),
            decrypted: None,
            transport,
        },
        sides: Default::default(),
        server_hello_ts: None,
        server_chain: Vec::new(),
        client_chain: Vec::new(),
        last_message: None,
        renegotiation_ccs: None,
        decrypted: Decrypted::default(),
        hello_verify_request: false,
    };
    let mut events = transcript.events;
    for ev in events.drain(..) {
        let side = if ev.from == client_dir {
            Side::Client
        } else {
            Side::Server
        };
        if let Some(message) = b.event(side, ev.event, ev.ts) {
            b.f.messages.push((side, message));
            b.last_message = Some((side, message));
        }
    }
    recycle_event_list(events);
    for a in &transcript.anomalies {
        *b.f.anomalies.entry(a.kind.name()).or_default() += 1;
    }
    b.f.resumption.early_data_accepted |= transcript.early_data_accepted;
    if let Some(accounting) = transcript.decryption {
        b.decrypted.accounting = *accounting;
        b.f.decrypted = Some(Box::new(std::mem::take(&mut b.decrypted)));
    }
    // Finished in place and moved out once: the facts are a kilobyte, and every move of
    // them or of the builder is a copy of it.
    b.finish(cfg);
    b.f
}

/// What happened per side, gathered in one pass over the events.
#[derive(Clone, Copy, Debug, Default)]
struct SideState {
    ccs: Option<Timestamp>,
    finished: Option<Timestamp>,
    app_data: Option<Timestamp>,
    certificate: bool,
}

/// The facts being built, and what the fold keeps beside them until the end.
struct Builder {
    f: ConnectionFacts,
    /// Indexed by [`Side`].
    sides: [SideState; 2],
    server_hello_ts: Option<Timestamp>,
    server_chain: Vec<Arc<Certificate>>,
    client_chain: Vec<Arc<Certificate>>,
    /// The last handshake message and its sender: the stage an alert arrives at.
    last_message: Option<(Side, &'static str)>,
    /// ChangeCipherSpec seen per side since the current renegotiation began.
    renegotiation_ccs: Option<[bool; 2]>,
    /// What only decrypted messages tell, kept when the transcript has decryption facts.
    decrypted: Decrypted,
    /// A DTLS HelloVerifyRequest asked for the ClientHello again (not yet answered).
    hello_verify_request: bool,
}

/// HelloVerifyRequest's handshake type (DTLS ≤ 1.2's cookie challenge; reserved in TLS).
const HELLO_VERIFY_REQUEST: u8 = 3;

impl Builder {
    /// Takes one event; returns the name of the handshake message it was, if it was one.
    fn event(&mut self, side: Side, event: TlsEvent, ts: Timestamp) -> Option<&'static str> {
        let st = &mut self.sides[side as usize];
        match event {
            TlsEvent::ClientHello(ch) => Some(self.client_hello(ch, ts)),
            TlsEvent::ServerHello(sh) => Some(self.server_hello(sh, ts)),
            TlsEvent::Certificate(chain) => {
                st.certificate = true;
                self.certificate(side, chain);
                Some("certificate")
            }
            TlsEvent::ServerKeyExchange { curve } => {
                self.f.server_key_exchange_curve = self.f.server_key_exchange_curve.or(curve);
                Some("server_key_exchange")
            }
            TlsEvent::CertificateRequest => {
                self.f.certificate_requested = true;
                Some("certificate_request")
            }
            TlsEvent::ServerHelloDone => Some("server_hello_done"),
            TlsEvent::CertificateStatus => {
                self.f.certificate_status = true;
                Some("certificate_status")
            }
            TlsEvent::ClientKeyExchange => Some("client_key_exchange"),
            TlsEvent::CertificateVerify { scheme } => {
                let slot = &mut self.decrypted.certificate_verify[side as usize];
                *slot = slot.or(scheme);
                Some("certificate_verify")
            }
            TlsEvent::NewSessionTicket {
                lifetime,
                max_early_data,
                ..
            } => {
                self.f.resumption.tickets_issued += 1;
                let d = &mut self.decrypted;
                d.ticket_lifetime.get_or_insert(lifetime);
                d.ticket_max_early_data = d.ticket_max_early_data.max(max_early_data);
                Some("new_session_ticket")
            }
            TlsEvent::EncryptedExtensions { alpn, early_data } => {
                let d = &mut self.decrypted;
                d.alpn = d.alpn.take().or(alpn);
                self.f.resumption.early_data_accepted |= early_data;
                Some("encrypted_extensions")
            }
            TlsEvent::Finished => {
                st.finished.get_or_insert(ts);
                Some("finished")
            }
            TlsEvent::KeyUpdate { .. } => {
                self.decrypted.key_updates[side as usize] += 1;
                Some("key_update")
            }
            TlsEvent::OtherHandshake(HELLO_VERIFY_REQUEST) => {
                self.hello_verify_request = true;
                Some("hello_verify_request")
            }
            TlsEvent::OtherHandshake(_) => Some("other_handshake"),
            TlsEvent::ChangeCipherSpec => {
                st.ccs.get_or_insert(ts);
                self.change_cipher_spec(side);
                Some("change_cipher_spec")
            }
            TlsEvent::Renegotiation => Some(self.renegotiation(side)),
            TlsEvent::EncryptedHandshake => {
                st.finished.get_or_insert(ts);
                Some("finished")
            }
            TlsEvent::Alert(alert) => {
                self.alert(side, alert, ts);
                None
            }
            TlsEvent::ApplicationData => {
                st.app_data.get_or_insert(ts);
                None
            }
            TlsEvent::Heartbeat { .. } => {
                *self
                    .f
                    .anomalies
                    .entry(AnomalyKind::Heartbeat.name())
                    .or_default() += 1;
                None
            }
        }
    }

    /// The first ClientHello, the one after a HelloRetryRequest, or a renegotiation's.
    fn client_hello(&mut self, ch: Box<ClientHello>, ts: Timestamp) -> &'static str {
        let f = &mut self.f;
        if f.client_hello.is_none() {
            f.client_hello_ts = Some(ts);
            f.client_hello = Some(ch);
        } else if f.hello_retry_request.is_some() && f.retry_client_hello.is_none() {
            f.retry_client_hello = Some(ch);
        } else if f.server_hello.is_some() {
            // A decrypted ClientHello answering the server's HelloRequest belongs to the
            // renegotiation the server started.
            if self.renegotiation_ccs.is_none() {
                f.renegotiation.client_initiated += 1;
            }
            self.renegotiation_ccs = Some([false, false]);
        } else if std::mem::take(&mut self.hello_verify_request) {
            // DTLS's cookie round: the ClientHello again, with the cookie (the first one's
            // facts and time stand).
        } else {
            *f.anomalies
                .entry(AnomalyKind::DuplicateClientHello.name())
                .or_default() += 1;
        }
        "client_hello"
    }

    /// A ServerHello (the first one counts) or a HelloRetryRequest.
    fn server_hello(&mut self, sh: Box<ServerHello>, ts: Timestamp) -> &'static str {
        if sh.hrr {
            self.f.hello_retry_request = Some(sh);
            return "hello_retry_request";
        }
        if self.f.server_hello.is_none() {
            self.server_hello_ts = Some(ts);
            self.f.server_hello = Some(sh);
        }
        "server_hello"
    }

    /// Each side's first Certificate message is its chain.
    fn certificate(&mut self, side: Side, chain: Vec<Arc<Certificate>>) {
        match side {
            Side::Server if self.server_chain.is_empty() => self.server_chain = chain,
            Side::Client if self.client_chain.is_empty() => {
                self.f.client_certificate_empty = chain.is_empty();
                self.client_chain = chain;
            }
            _ => {}
        }
    }

    /// A ChangeCipherSpec: a renegotiation completes once both sides sent theirs.
    fn change_cipher_spec(&mut self, side: Side) {
        if let Some(seen) = &mut self.renegotiation_ccs {
            seen[side as usize] = true;
            if seen == &[true, true] {
                self.f.renegotiation.completed += 1;
                self.renegotiation_ccs = None;
            }
        }
    }

    /// An encrypted renegotiation started by `side`; its message's name.
    fn renegotiation(&mut self, side: Side) -> &'static str {
        self.renegotiation_ccs = Some([false, false]);
        match side {
            Side::Client => {
                self.f.renegotiation.client_initiated += 1;
                "client_hello"
            }
            Side::Server => {
                self.f.renegotiation.server_initiated += 1;
                "hello_request"
            }
        }
    }

    /// An alert, with the stage it came at.
    fn alert(&mut self, side: Side, alert: Alert, ts: Timestamp) {
        // An alert-sized server record after the client had already closed is the server's
        // close_notify answering it, not a rejection.
        if alert.inferred
            && side == Side::Server
            && self.f.transport.closed_by(self.f.client_dir, ts)
        {
            self.sides[Side::Server as usize].app_data.get_or_insert(ts);
            return;
        }
        self.f.alerts.push(AlertFact {
            from: side,
            alert,
            ts,
            after: self.last_message,
        });
    }

    /// Everything that needs all the events: resumption, secure renegotiation, timings,
    /// certificate findings, the outcome.
    fn finish(&mut self, cfg: &FactsConfig) {
        self.resumption_offered();
        let f = &mut self.f;
        if let (Some(sh), Some(ch)) = (f.server_hello.as_deref(), f.client_hello.as_deref())
            && !f.is_tls13()
        {
            f.renegotiation.secure = Some(sh.renegotiation_info && ch.renegotiation_info);
        }
        match &f.transport {
            TransportFacts::Tcp(tcp) => tcp.time(&mut f.timing),
            TransportFacts::Quic(quic) => quic.time(f.client_dir, &mut f.timing),
            TransportFacts::Dtls(_) => {}
        }
        let done_ts = self.handshake_done();
        let f = &mut self.f;
        // QUIC: the client's Handshake flight is its Finished only if it went on to 1-RTT.
        let done_ts = done_ts.filter(|_| match &f.transport {
            TransportFacts::Quic(quic) => quic.handshake_confirmed(f.client_dir),
            TransportFacts::Tcp(_) | TransportFacts::Dtls(_) => true,
        });
        if let Some(ch_ts) = f.client_hello_ts {
            f.timing.client_hello_to_server_hello_us =
                self.server_hello_ts.and_then(|t| t.elapsed_since(ch_ts));
            f.timing.client_hello_to_done_us = done_ts.and_then(|t| t.elapsed_since(ch_ts));
        }
        self.f.resumption.accepted = self.accepted_resumption();
        let f = &mut self.f;
        // Certificates and their findings at capture time.
        let judge_at = self
            .server_hello_ts
            .or(f.client_hello_ts)
            .unwrap_or_else(|| f.first_ts());
        let certificates = judge_chain(
            std::mem::take(&mut self.server_chain),
            f.sni(),
            judge_at,
            cfg,
        );
        f.certificates = certificates;
        f.client_certificates =
            judge_chain(std::mem::take(&mut self.client_chain), None, judge_at, cfg);
        match done_ts {
            Some(_) if f.resumption.accepted.is_some() => f.outcome = Outcome::Resumed,
            Some(_) => f.outcome = Outcome::Established,
            None => {
                let seen = HandshakeEvidence {
                    server_ccs: self.sides[Side::Server as usize].ccs.is_some(),
                };
                (f.outcome, f.failure) = diagnose(f, seen);
            }
        }
    }

    /// The resumption mechanisms the first ClientHello offered.
    fn resumption_offered(&mut self) {
        let f = &mut self.f;
        let Some(ch) = f.client_hello.as_deref() else {
            return;
        };
        // A TLS 1.3 client fills the legacy session id with random bytes (middlebox
        // compatibility); it is a resumption offer only where TLS ≤ 1.2 was negotiated.
        let offers_tls13 = f.highest_offered_version().and_then(version_rank) == Some(0x0304);
        let negotiated_tls12_or_lower = f
            .version()
            .and_then(version_rank)
            .is_some_and(|v| v < 0x0304);
        let r = &mut f.resumption;
        if ch.session_id_len > 0 && (!offers_tls13 || negotiated_tls12_or_lower) {
            r.offered.push(Mechanism::SessionId);
        }
        if ch.session_ticket_len.is_some_and(|len| len > 0) {
            r.offered.push(Mechanism::Ticket);
        }
        if ch.psk_identities.is_some() {
            r.offered.push(Mechanism::Psk);
        }
        r.early_data_offered = ch.early_data;
    }

    /// When the handshake completed, if it did: TLS ≤ 1.2, both Finished (encrypted handshake
    /// after CCS) or application data both ways; TLS 1.3, the client's first protected record
    /// after the ServerHello (its Finished) unless that record was an alert.
    fn handshake_done(&self) -> Option<Timestamp> {
        let sh_ts = self.server_hello_ts?;
        let [client, server] = self.sides;
        if self.f.alerts.iter().any(|a| {
            a.alert.level == Some(AlertLevel::FATAL) || (a.alert.inferred && a.ts >= sh_ts)
        }) {
            return None;
        }
        if self.f.is_tls13() {
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

    /// The resumption mechanism the server accepted: a selected PSK, whatever the version code
    /// (only TLS 1.3, its drafts and experiments have one); otherwise, before TLS 1.3, an
    /// abbreviated handshake (no server Certificate, server Finished before the client's).
    fn accepted_resumption(&self) -> Option<Mechanism> {
        let sh = self.f.server_hello.as_deref()?;
        if sh.psk_selected.is_some() {
            return Some(Mechanism::Psk);
        }
        if self.f.is_tls13() {
            return None;
        }
        let [client, server] = self.sides;
        let abbreviated = !server.certificate
            && match (server.ccs, client.ccs) {
                (Some(s), Some(c)) => s <= c,
                (Some(_), None) => true,
                _ => false,
            };
        if !abbreviated {
            return None;
        }
        if self.f.resumption.offered.contains(&Mechanism::Ticket) {
            Some(Mechanism::Ticket)
        } else {
            Some(Mechanism::SessionId)
        }
    }
}
