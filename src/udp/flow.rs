//! One UDP flow that speaks TLS: the transport driver chosen by the flow's first datagram
//! ([`UdpDriver`]: QUIC or DTLS) and the shared handshake layer it feeds. The per-transport
//! dispatch lives here and nowhere else: a new UDP transport adds a variant.

use crate::dtls::{DatagramVerdict, DtlsConnection, DtlsFacts, demux};
use crate::flow::{Direction, Timestamp};
use crate::keylog::SharedKeyLog;
use crate::quic::connection::starts_quic;
use crate::quic::{QuicConfig, QuicConnection, QuicContext, QuicFacts};
use crate::tls::handshake::{Carrier, Handshake, HandshakeInput, HandshakeSink};
use crate::tls::joiner::JoinBudget;
use crate::tls::{TlsContext, Transcript};

/// The transport driver of a UDP flow, chosen by its first datagram.
#[derive(Debug)]
pub enum UdpDriver {
    /// QUIC ([`crate::quic`]); with key logs it opens Handshake and 1-RTT packets itself.
    Quic(Box<QuicConnection>),
    /// DTLS ([`crate::dtls`]).
    Dtls(Box<DtlsConnection>),
}

/// What a UDP flow's transport knows of it when it closes (boxed: a few hundred bytes each).
#[derive(Clone, Debug)]
pub enum UdpTransportFacts {
    /// QUIC's facts.
    Quic(Box<QuicFacts>),
    /// DTLS's facts.
    Dtls(Box<DtlsFacts>),
}

/// A UDP flow carrying a TLS handshake: its driver and its handshake layer.
#[derive(Debug)]
pub struct UdpFlow {
    driver: UdpDriver,
    hs: Handshake,
    /// Capture time of the first and last datagram.
    pub first_ts: Timestamp,
    /// See `first_ts`.
    pub last_ts: Timestamp,
    /// The input (command-line file) of the datagram that started the flow.
    pub input: u16,
    /// Directions that sent a datagram, one bit per [`Direction::index`].
    directions: u8,
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
            (UdpDriver::Quic(Box::new(connection)), Carrier::Quic)
        } else if demux::starts_handshake(datagram) {
            let connection = DtlsConnection::default().with_budget(budget.cloned());
            (UdpDriver::Dtls(Box::new(connection)), Carrier::Dtls)
        } else {
            return None;
        };
        Some(UdpFlow {
            driver,
            hs: Handshake::new(carrier),
            first_ts: ts,
            last_ts: ts,
            input,
            directions: 0,
        })
    }

    /// Reads one datagram sent in `dir`; `tls` and `quic` are the worker's shared state
    /// (certificate cache, QUIC's decryption buffer).
    pub fn on_datagram(
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
        let taken = match &mut self.driver {
            UdpDriver::Quic(q) => {
                q.on_datagram(quic, dir, datagram, ts, &mut input);
                Taken::Yes
            }
            UdpDriver::Dtls(d) => match d.on_datagram(dir, datagram, ts, &mut input) {
                DatagramVerdict::Taken => Taken::Yes,
                DatagramVerdict::NewConnection => Taken::StartsAnother,
            },
        };
        if taken == Taken::Yes {
            self.last_ts = self.last_ts.max(ts);
            self.directions |= 1 << dir.index();
        }
        taken
    }

    /// Whether both sides have sent a datagram: until then the flow is one a flood of
    /// client Initials or ClientHellos makes, held apart (see [`crate::udp::unanswered`]).
    pub fn answered(&self) -> bool {
        self.directions == 0b11
    }

    /// Ends the flow: the driver flushes what it holds into the handshake layer; returns the
    /// transport's facts and the handshake transcript, `None` when no hello was read and no
    /// Version Negotiation either (the flow did not speak TLS that tlsight could read).
    pub fn finish(self, tls: &mut TlsContext) -> (UdpTransportFacts, Option<Transcript>) {
        let UdpFlow { driver, mut hs, .. } = self;
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
