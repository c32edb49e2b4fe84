//! Runs the QUIC driver over every UDP flow of a capture that starts like QUIC, collecting what
//! it hands to the handshake layer, for the QUIC conformance and scenario tests.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::Path;

use tlsight::flow::{Direction, Endpoint, FlowKey, Timestamp, Transport};
use tlsight::quic::connection::starts_quic;
use tlsight::quic::{QuicConfig, QuicConnection, QuicContext, QuicFacts};
use tlsight::tls::handshake::HandshakeSink;
use tlsight::tls::handshake::hello::{parse_client_hello, parse_server_hello};
use tlsight::tls::{Alert, ClientHello, ServerHello};

/// A handshake message with the capture frame that completed it and its time.
#[derive(Clone, Debug)]
pub struct Message {
    pub dir: Direction,
    pub msg_type: u8,
    pub body: Vec<u8>,
    pub frame: u64,
    pub ts: Timestamp,
}

/// What the driver handed to the handshake layer.
#[derive(Default, Debug)]
pub struct Collected {
    pub messages: Vec<Message>,
    /// Protected (Handshake) packets: direction, length, frame.
    pub protected: Vec<(Direction, usize, u64)>,
    pub alerts: Vec<(Direction, Alert)>,
    pub gaps: Vec<Direction>,
    pub anomalies: Vec<(Direction, &'static str)>,
    /// Frame of the datagram being read.
    frame: u64,
}

impl HandshakeSink for Collected {
    fn on_message(&mut self, dir: Direction, msg_type: u8, body: &[u8], ts: Timestamp) {
        let frame = self.frame;
        self.messages.push(Message {
            dir,
            msg_type,
            body: body.to_vec(),
            frame,
            ts,
        });
    }
    fn on_protected(&mut self, dir: Direction, len: usize, _ts: Timestamp) {
        self.protected.push((dir, len, self.frame));
    }
    fn on_alert(&mut self, dir: Direction, alert: Alert, _ts: Timestamp) {
        self.alerts.push((dir, alert));
    }
    fn on_gap(&mut self, dir: Direction, _ts: Timestamp) {
        self.gaps.push(dir);
    }
    fn anomaly(&mut self, dir: Direction, kind: &'static str) {
        self.anomalies.push((dir, kind));
    }
    fn on_application_data(&mut self, _: Direction, _: usize, _: Timestamp) {}
    fn on_change_cipher_spec(&mut self, _: Direction, _: Timestamp) {}
    fn finish(&mut self) {}
}

/// A QUIC connection found in a capture.
#[derive(Debug)]
pub struct Found {
    /// The client's endpoint (`facts.client`'s side), else the first sender's.
    pub client: Endpoint,
    pub server: Endpoint,
    pub facts: QuicFacts,
    pub seen: Collected,
}

impl Found {
    fn hellos(&self, from_client: bool, msg_type: u8) -> impl Iterator<Item = &Message> {
        let dir = self
            .facts
            .client
            .map(|c| if from_client { c } else { c.reverse() });
        self.seen
            .messages
            .iter()
            .filter(move |m| Some(m.dir) == dir && m.msg_type == msg_type)
    }

    /// The first ClientHello, parsed by the shared parser, with the frame that completed it.
    pub fn client_hello(&self) -> Option<(ClientHello, u64)> {
        let m = self.hellos(true, 1).next()?;
        Some((
            parse_client_hello(&m.body).expect("ClientHello parses"),
            m.frame,
        ))
    }

    /// The first ServerHello, parsed by the shared parser, with its frame.
    pub fn server_hello(&self) -> Option<(ServerHello, u64)> {
        let m = self.hellos(false, 2).next()?;
        Some((
            parse_server_hello(&m.body, 2).expect("ServerHello parses"),
            m.frame,
        ))
    }

    /// Initial packets that could not be opened, both sides, all reasons.
    pub fn undecryptable_initials(&self) -> u64 {
        self.facts
            .undecryptable_initials
            .iter()
            .map(|u| u.total())
            .sum()
    }

    /// ClientHello messages joined.
    pub fn client_hellos(&self) -> usize {
        self.hellos(true, 1).count()
    }
}

/// Runs the driver over every UDP flow of `path` whose first datagram starts like QUIC.
pub fn run(path: &Path) -> Vec<Found> {
    let mut flows: BTreeMap<FlowKey, (QuicConnection, Collected, Direction)> = BTreeMap::new();
    let mut ctx = QuicContext::default();
    for d in super::udp::datagrams(path) {
        let (key, dir) = FlowKey::from_endpoints(Transport::Udp, d.src, d.dst);
        let (conn, seen, _) = match flows.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                if !starts_quic(&d.payload) {
                    continue;
                }
                let conn = QuicConnection::new(QuicConfig::default());
                v.insert((conn, Collected::default(), dir))
            }
        };
        seen.frame = d.frame;
        conn.on_datagram(&mut ctx, dir, &d.payload, d.ts, seen);
    }
    flows
        .into_iter()
        .map(|(key, (conn, mut seen, first))| {
            let facts = conn.finish(&mut seen);
            let client = facts.client.unwrap_or(first);
            Found {
                client: key.source(client),
                server: key.destination(client),
                facts,
                seen,
            }
        })
        .collect()
}
