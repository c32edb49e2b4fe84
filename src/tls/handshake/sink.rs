//! The transport drivers' side of the handshake layer: [`HandshakeSink`], what QUIC and DTLS
//! (whose record layers know more than TCP's) report of a connection's handshake, and
//! [`EventLog`], a sink that writes it down for tests. `udp`'s flows feed a [`super::Handshake`]
//! through it.

use crate::flow::{Direction, Timestamp};
use crate::tls::Alert;

/// What a transport driver reports of one connection's handshake, in the order it learns it:
/// the shared handshake layer's input ([`HandshakeInput`](super::HandshakeInput) feeds a [`super::Handshake`]), or a
/// recording sink in tests ([`EventLog`]).
pub trait HandshakeSink {
    /// A whole handshake message (`body` after its header), completed by a packet captured at
    /// `ts`.
    fn on_message(&mut self, dir: Direction, msg_type: u8, body: &[u8], ts: Timestamp);
    /// A protected handshake-era unit of `len` bytes: a QUIC Handshake packet, a DTLS ≤ 1.2
    /// Finished (the first epoch-1 handshake record), a DTLS 1.3 epoch-2 record, a tls12_cid
    /// record before application data. Its size lets the transport infer an alert where the
    /// wire hides it.
    fn on_protected(&mut self, dir: Direction, len: usize, ts: Timestamp);
    /// An application-data record of `len` bytes.
    fn on_application_data(&mut self, dir: Direction, len: usize, ts: Timestamp);
    /// A ChangeCipherSpec (DTLS ≤ 1.2): the sender's next records are encrypted.
    fn on_change_cipher_spec(&mut self, dir: Direction, ts: Timestamp);
    /// An alert: read in the clear (a DTLS epoch-0 alert, a QUIC CONNECTION_CLOSE with a
    /// CRYPTO_ERROR), [`Alert::ENCRYPTED`] when it was not.
    fn on_alert(&mut self, dir: Direction, alert: Alert, ts: Timestamp);
    /// Handshake bytes or messages of `dir` are missing (the capture lost them, or they were
    /// too large): the next `on_message` does not follow the last one.
    fn on_gap(&mut self, dir: Direction, ts: Timestamp);
    /// A protocol oddity of the transport seen in `dir`, by its snake_case name (each
    /// transport keeps its own vocabulary: `DtlsAnomaly`, QUIC's named kinds).
    fn anomaly(&mut self, dir: Direction, kind: &'static str);
    /// The connection ended: nothing more comes.
    fn finish(&mut self);
}

/// One call a [`HandshakeSink`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// [`HandshakeSink::on_message`].
    Message {
        /// Sender.
        dir: Direction,
        /// Handshake type.
        msg_type: u8,
        /// Body.
        body: Vec<u8>,
        /// Time.
        ts: Timestamp,
    },
    /// [`HandshakeSink::on_protected`].
    Protected {
        /// Sender.
        dir: Direction,
        /// Ciphertext length.
        len: usize,
        /// Time.
        ts: Timestamp,
    },
    /// [`HandshakeSink::on_application_data`].
    ApplicationData {
        /// Sender.
        dir: Direction,
        /// Length.
        len: usize,
        /// Time.
        ts: Timestamp,
    },
    /// [`HandshakeSink::on_change_cipher_spec`].
    ChangeCipherSpec {
        /// Sender.
        dir: Direction,
        /// Time.
        ts: Timestamp,
    },
    /// [`HandshakeSink::on_alert`].
    Alert {
        /// Sender.
        dir: Direction,
        /// The alert.
        alert: Alert,
        /// Time.
        ts: Timestamp,
    },
    /// [`HandshakeSink::on_gap`].
    Gap {
        /// Direction with missing messages.
        dir: Direction,
        /// Time.
        ts: Timestamp,
    },
    /// [`HandshakeSink::anomaly`].
    Anomaly {
        /// Direction.
        dir: Direction,
        /// What.
        kind: &'static str,
    },
    /// [`HandshakeSink::finish`].
    Finish,
}

/// A sink that writes every call down, in order: what the drivers' tests, fuzz targets and
/// standalone conformance checks compare.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    /// The calls received.
    pub events: Vec<Event>,
}

impl EventLog {
    /// The handshake messages received: (sender, type, body, time).
    pub fn messages(&self) -> impl Iterator<Item = (Direction, u8, &[u8], Timestamp)> {
        self.events.iter().filter_map(|e| match e {
            Event::Message {
                dir,
                msg_type,
                body,
                ts,
            } => Some((*dir, *msg_type, body.as_slice(), *ts)),
            _ => None,
        })
    }

    /// The anomalies received.
    pub fn anomalies(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.events.iter().filter_map(|e| match e {
            Event::Anomaly { kind, .. } => Some(*kind),
            _ => None,
        })
    }
}

impl HandshakeSink for EventLog {
    fn on_message(&mut self, dir: Direction, msg_type: u8, body: &[u8], ts: Timestamp) {
        self.events.push(Event::Message {
            dir,
            msg_type,
            body: body.to_vec(),
            ts,
        });
    }
    fn on_protected(&mut self, dir: Direction, len: usize, ts: Timestamp) {
        self.events.push(Event::Protected { dir, len, ts });
    }
    fn on_application_data(&mut self, dir: Direction, len: usize, ts: Timestamp) {
        self.events.push(Event::ApplicationData { dir, len, ts });
    }
    fn on_change_cipher_spec(&mut self, dir: Direction, ts: Timestamp) {
        self.events.push(Event::ChangeCipherSpec { dir, ts });
    }
    fn on_alert(&mut self, dir: Direction, alert: Alert, ts: Timestamp) {
        self.events.push(Event::Alert { dir, alert, ts });
    }
    fn on_gap(&mut self, dir: Direction, ts: Timestamp) {
        self.events.push(Event::Gap { dir, ts });
    }
    fn anomaly(&mut self, dir: Direction, kind: &'static str) {
        self.events.push(Event::Anomaly { dir, kind });
    }
    fn finish(&mut self) {
        self.events.push(Event::Finish);
    }
}
