//! Where the DTLS driver's output goes: a stand-in for the shared handshake layer's API (issue
//! 12), and the protocol oddities it reports.
//!
//! The shared layer (hellos, certificates, key exchange, alerts, fingerprints, facts) is driven
//! by every transport through `on_message / on_protected / on_alert / on_gap / anomaly /
//! finish`. DTLS needs two more calls than TCP's record layer would, because its record layer
//! knows more: [`HandshakeSink::on_change_cipher_spec`] (a record, not a handshake message, but
//! part of the transcript) and [`HandshakeSink::on_application_data`] (DTLS 1.2 records say
//! their type, and DTLS 1.3 epochs tell handshake-era records from application-data ones).

use crate::flow::{Direction, Timestamp};
use crate::tls::Alert;

/// Receives one DTLS connection's handshake, in the order the driver learns it.
pub trait HandshakeSink {
    /// A whole handshake message (`body` after the 12-byte DTLS header), completed by a
    /// datagram captured at `ts`.
    fn on_message(&mut self, dir: Direction, msg_type: u8, body: &[u8], ts: Timestamp);
    /// A protected handshake-era record of `len` ciphertext bytes: a DTLS ≤ 1.2 Finished (the
    /// first epoch-1 handshake record), a DTLS 1.3 epoch-2 record, a tls12_cid record before
    /// application data. Sized like TLS 1.3's records, so the layer can infer an alert from
    /// its size as it does for TCP.
    fn on_protected(&mut self, dir: Direction, len: usize, ts: Timestamp);
    /// An application-data record of `len` bytes.
    fn on_application_data(&mut self, dir: Direction, len: usize, ts: Timestamp);
    /// A ChangeCipherSpec (DTLS ≤ 1.2): the sender's next records are in a new epoch.
    fn on_change_cipher_spec(&mut self, dir: Direction, ts: Timestamp);
    /// An alert: read in the clear in epoch 0, [`Alert::ENCRYPTED`] after.
    fn on_alert(&mut self, dir: Direction, alert: Alert, ts: Timestamp);
    /// Handshake messages of `dir` are missing (the capture lost them, or they were too
    /// large): the next `on_message` does not follow the last one.
    fn on_gap(&mut self, dir: Direction, ts: Timestamp);
    /// A protocol oddity seen in `dir`.
    fn anomaly(&mut self, dir: Direction, kind: DtlsAnomaly);
    /// The connection ended: nothing more comes.
    fn finish(&mut self);
}

/// Protocol oddities of the DTLS record and fragment layers, counted in the connection's facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DtlsAnomaly {
    /// A record header could not be read (truncated, longer than the datagram or the maximum,
    /// or not a header at all): the rest of its datagram is skipped.
    BadRecordHeader,
    /// A record carries a connection ID whose length is not known (a DTLS 1.3 server's is
    /// encrypted) and could not be inferred: the rest of its datagram is skipped.
    ConnectionIdLengthUnknown,
    /// A record version that is no DTLS version.
    UnknownRecordVersion,
    /// A handshake fragment header was cut short: the rest of its record is skipped.
    BadHandshakeFragment,
    /// `fragment_offset + fragment_length` beyond the message length.
    FragmentBeyondMessageLength,
    /// A fragment contradicts what is held: another type or length for a `message_seq`, or
    /// other bytes where copies overlap (the first copy wins).
    InconsistentFragment,
    /// A handshake message longer than the cap: skipped.
    HandshakeMessageTooLarge,
    /// A fragment too far ahead of the next message due, or too many messages waiting.
    MessageSeqTooFarAhead,
    /// The per-direction handshake buffer is full: the fragment was dropped.
    HandshakeBufferFull,
    /// A record of an older epoch than its sender already used brought something new (old
    /// epochs are expected only in retransmitted flights).
    EpochWentBackwards,
}

impl DtlsAnomaly {
    /// The snake_case name written in records.
    pub fn name(self) -> &'static str {
        match self {
            DtlsAnomaly::BadRecordHeader => "bad_record_header",
            DtlsAnomaly::ConnectionIdLengthUnknown => "connection_id_length_unknown",
            DtlsAnomaly::UnknownRecordVersion => "unknown_record_version",
            DtlsAnomaly::BadHandshakeFragment => "bad_handshake_fragment",
            DtlsAnomaly::FragmentBeyondMessageLength => "fragment_beyond_message_length",
            DtlsAnomaly::InconsistentFragment => "inconsistent_fragment",
            DtlsAnomaly::HandshakeMessageTooLarge => "handshake_message_too_large",
            DtlsAnomaly::MessageSeqTooFarAhead => "message_seq_too_far_ahead",
            DtlsAnomaly::HandshakeBufferFull => "handshake_buffer_full",
            DtlsAnomaly::EpochWentBackwards => "epoch_went_backwards",
        }
    }
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
        kind: DtlsAnomaly,
    },
    /// [`HandshakeSink::finish`].
    Finish,
}

/// A sink that writes every call down, in order: what the tests, the fuzz target and the
/// conformance check compare, until the shared handshake layer takes the driver's output.
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
    pub fn anomalies(&self) -> impl Iterator<Item = DtlsAnomaly> + '_ {
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
    fn anomaly(&mut self, dir: Direction, kind: DtlsAnomaly) {
        self.events.push(Event::Anomaly { dir, kind });
    }
    fn finish(&mut self) {
        self.events.push(Event::Finish);
    }
}
