//! One UDP flow that speaks TLS: the transport driver chosen by the flow's first datagram
//! ([`UdpDriver`]: QUIC or DTLS) and the shared handshake layer it feeds. The per-transport
//! dispatch lives here and nowhere else: a new UDP transport adds a variant.
//!
//! A QUIC connection shows a passive observer no close without key logs (its
//! CONNECTION_CLOSE travels in 1-RTT packets), so its flow would be held with its whole
//! handshake until the idle timeout. Once its handshake is confirmed
//! (`OpenFlow::settled_client`) nothing its later packets carry can change the record, so
//! the record is written then and the flow keeps only its times and its client's direction
//! and connection ID ([`UdpFlow::take_settled`]): a few dozen bytes that take its 1-RTT
//! datagrams until it goes idle, and tell another connection's first Initial on the 5-tuple.

use super::UdpConnection;
use crate::dtls::{DatagramVerdict, DtlsConnection, DtlsFacts, demux};
use crate::flow::{Direction, FlowKey, Timestamp};
use crate::keylog::SharedKeyLog;
use crate::quic::connection::{opens_another, starts_quic};
use crate::quic::packet::ConnectionId;
use crate::quic::{QuicConfig, QuicConnection, QuicContext, QuicFacts};
use crate::tls::handshake::{Carrier, Handshake, HandshakeInput, HandshakeSink};
use crate::tls::joiner::JoinBudget;
use crate::tls::{TlsContext, Transcript};

/// The transport driver of a UDP flow, chosen by its first datagram.
// Held inline in the flow's one `Box<OpenFlow>`: boxing the variants would cost a second
// allocation per flow to save the ~200 bytes a DTLS flow leaves unused.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum UdpDriver {
    /// QUIC ([`crate::quic`]); with key logs it opens Handshake and 1-RTT packets itself.
    Quic(QuicConnection),
    /// DTLS ([`crate::dtls`]).
    Dtls(DtlsConnection),
}

/// What a UDP flow's transport knows of it when it closes (boxed: a few hundred bytes each).
#[derive(Clone, Debug)]
pub enum UdpTransportFacts {
    /// QUIC's facts.
    Quic(Box<QuicFacts>),
    /// DTLS's facts.
    Dtls(Box<DtlsFacts>),
}

/// A UDP flow carrying a TLS handshake, as the flow table holds it.
#[derive(Debug)]
pub struct UdpFlow {
    state: FlowState,
    /// Capture time of the first and last datagram.
    pub first_ts: Timestamp,
    /// See `first_ts`.
    pub last_ts: Timestamp,
    /// The input (command-line file) of the datagram that started the flow.
    pub input: u16,
    /// Directions that sent a datagram, one bit per [`Direction::index`].
    directions: u8,
}

/// Whether a flow's record is still to be written.
#[derive(Debug)]
enum FlowState {
    /// The driver and handshake layer, boxed together (about a kilobyte, with the parsed
    /// hellos behind it).
    Open(Box<OpenFlow>),
    /// The record was written early ([`UdpFlow::take_settled`]); what is kept tells another
    /// connection's first Initial on the same 5-tuple from this one's late datagrams.
    Recorded(QuicClient),
}

/// A QUIC connection's client, as a flow whose record was written remembers it.
#[derive(Clone, Copy, Debug)]
struct QuicClient {
    dir: Direction,
    scid: Option<ConnectionId>,
}

/// What a UDP flow reads its datagrams with until its record is written: the transport
/// driver and the shared handshake layer it feeds.
#[derive(Debug)]
pub struct OpenFlow {
    driver: UdpDriver,
    hs: Handshake,
}

/// What a flow did with a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// The flow read it.
    Yes,
    /// It starts another handshake on the same 5-tuple (DTLS: a ClientHello with another
    /// random): the flow is over, and the datagram starts a new one.
    StartsAnother,
}

impl UdpFlow {
    /// A flow for `datagram` if it starts QUIC or a DTLS handshake (by content, on any port);
    /// `None` for anything else, which then costs no state. `keys`: the analysis's key logs;
    /// `budget`: the worker's budget for bytes waiting to be joined into handshake messages.
    pub fn start(
        datagram: &[u8],
        quic: QuicConfig,
        keys: Option<&SharedKeyLog>,
        budget: Option<&JoinBudget>,
        ts: Timestamp,
        input: u16,
    ) -> Option<UdpFlow> {
        let (driver, carrier) = if starts_quic(datagram) {
            let mut connection = QuicConnection::new(quic);
            if let Some(keys) = keys {
                connection = connection.with_key_log(keys.clone());
            }
            (UdpDriver::Quic(connection), Carrier::Quic)
        } else if demux::starts_handshake(datagram) {
            let connection = DtlsConnection::default().with_budget(budget.cloned());
            (UdpDriver::Dtls(connection), Carrier::Dtls)
        } else {
            return None;
        };
        Some(UdpFlow {
            state: FlowState::Open(Box::new(OpenFlow {
                driver,
                hs: Handshake::new(carrier),
            })),
            first_ts: ts,
            last_ts: ts,
            input,
            directions: 0,
        })
    }

    /// Reads one datagram sent in `dir`; `tls` and `quic` are the worker's shared state
    /// (certificate cache, QUIC's decryption buffer). A flow whose record was written takes
    /// every datagram without reading it.
    pub fn on_datagram(
        &mut self,
        tls: &mut TlsContext,
        quic: &mut QuicContext,
        dir: Direction,
        datagram: &[u8],
        ts: Timestamp,
    ) -> Taken {
        let taken = match &mut self.state {
            FlowState::Open(open) => open.on_datagram(tls, quic, dir, datagram, ts),
            FlowState::Recorded(client) => {
                if client.dir == dir && client.scid.is_some_and(|c| opens_another(datagram, &c)) {
                    Taken::StartsAnother
                } else {
                    Taken::Yes
                }
            }
        };
        if taken == Taken::Yes {
            self.last_ts = self.last_ts.max(ts);
            self.directions |= 1 << dir.index();
        }
        taken
    }

    /// Whether the flow's record was written early ([`Self::take_settled`]): it is held only
    /// to take its later datagrams until it goes idle.
    pub fn is_recorded(&self) -> bool {
        matches!(self.state, FlowState::Recorded(_))
    }

    /// The connection of a flow whose handshake is settled (`OpenFlow::settled_client`),
    /// its record due now (`settled_at`, the capture clock); the flow stays in its table
    /// without its driver and handshake. `None` for any other flow.
    pub fn take_settled(&mut self, key: FlowKey, settled_at: Timestamp) -> Option<UdpConnection> {
        let FlowState::Open(open) = &self.state else {
            return None;
        };
        let client = open.settled_client()?;
        let state = std::mem::replace(&mut self.state, FlowState::Recorded(client));
        UdpFlow { state, ..*self }.into_connection(key, settled_at)
    }

    /// The flow as it leaves its table, with `key` and its close time: `None` for one whose
    /// record was already written.
    pub fn into_connection(self, key: FlowKey, closed_at: Timestamp) -> Option<UdpConnection> {
        Some(UdpConnection {
            key,
            open: match self.state {
                FlowState::Open(open) => open,
                FlowState::Recorded(_) => return None,
            },
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            input: self.input,
            closed_at,
        })
    }

    /// Whether both sides have sent a datagram: until then the flow is one a flood of
    /// client Initials or ClientHellos makes, held apart (see [`crate::udp::unanswered`]).
    pub fn answered(&self) -> bool {
        self.directions == 0b11
    }
}

impl OpenFlow {
    /// Reads one datagram sent in `dir` through the driver into the handshake layer, unless
    /// it opens another connection on the flow's 5-tuple.
    fn on_datagram(
        &mut self,
        tls: &mut TlsContext,
        quic: &mut QuicContext,
        dir: Direction,
        datagram: &[u8],
        ts: Timestamp,
    ) -> Taken {
        let mut input = HandshakeInput {
            hs: &mut self.hs,
            ctx: tls,
        };
        match &mut self.driver {
            UdpDriver::Quic(q) if q.starts_another(dir, datagram) => Taken::StartsAnother,
            UdpDriver::Quic(q) => {
                q.on_datagram(quic, dir, datagram, ts, &mut input);
                Taken::Yes
            }
            UdpDriver::Dtls(d) => match d.on_datagram(dir, datagram, ts, &mut input) {
                DatagramVerdict::Taken => Taken::Yes,
                DatagramVerdict::NewConnection => Taken::StartsAnother,
            },
        }
    }

    /// The client of a flow nothing whose later datagrams carry can change its record but
    /// packet counts, `None` for any other: a QUIC connection without key logs whose
    /// ServerHello was read and whose handshake is confirmed
    /// ([`QuicConnection::confirmed_without_keys`]): later packets are 1-RTT, unreadable
    /// without keys. DTLS flows are held to the end (their alerts and retransmissions after
    /// the handshake are read).
    fn settled_client(&self) -> Option<QuicClient> {
        match &self.driver {
            UdpDriver::Quic(q) if self.hs.server().is_some() && q.confirmed_without_keys() => {
                let facts = q.facts();
                Some(QuicClient {
                    dir: facts.client?,
                    scid: facts.client_scid,
                })
            }
            UdpDriver::Quic(_) | UdpDriver::Dtls(_) => None,
        }
    }

    /// Ends the flow: the driver flushes what it holds into the handshake layer; returns the
    /// transport's facts and the handshake transcript, `None` when no hello was read and no
    /// Version Negotiation either (the flow did not speak TLS that tlsight could read).
    pub fn finish(self, tls: &mut TlsContext) -> (UdpTransportFacts, Option<Transcript>) {
        let OpenFlow { driver, mut hs } = self;
        let mut input = HandshakeInput {
            hs: &mut hs,
            ctx: tls,
        };
        let facts = match driver {
            UdpDriver::Quic(q) => UdpTransportFacts::Quic(Box::new(q.finish(&mut input))),
            UdpDriver::Dtls(d) => UdpTransportFacts::Dtls(Box::new(d.finish(&mut input))),
        };
        input.finish();
        if let UdpTransportFacts::Quic(q) = &facts
            && let Some(decrypted) = &q.decrypted
        {
            hs.set_decryption(decrypted.accounting);
        }
        // A Version Negotiation answering an unreadable client Initial is a handshake that
        // failed before any hello could be read: it gets a record too.
        let negotiated =
            matches!(&facts, UdpTransportFacts::Quic(q) if q.version_negotiation.is_some());
        let transcript = (hs.is_tls() || negotiated).then(|| hs.finish());
        (facts, transcript)
    }
}
