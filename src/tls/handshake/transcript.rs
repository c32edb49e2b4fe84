//! What the handshake layer writes down for one connection: a [`Transcript`] of timed
//! [`TlsEvent`]s (hellos, certificates, alerts, the encrypted flights) with its [`Anomaly`]s.
//! Every transport's driver produces the same transcript, so facts, aggregates and outputs never
//! know which transport carried the handshake.

use std::cell::RefCell;
use std::sync::Arc;

use super::{Certificate, ClientHello, ServerHello};
use crate::flow::{Direction, Timestamp};
use crate::prefetch;
use crate::spare::Spares;
use crate::tls::codes::{AlertDescription, AlertLevel};

/// A TLS alert as seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    /// Warning or fatal; `None` when encrypted.
    pub level: Option<AlertLevel>,
    /// RFC 8446 AlertDescription; `None` when encrypted.
    pub description: Option<AlertDescription>,
    /// Sent under encryption (after ChangeCipherSpec, or TLS 1.3 protected record).
    pub encrypted: bool,
    /// Not seen as an alert record but inferred from the traffic's shape (TLS 1.3: an
    /// alert-sized protected record where a Finished was due).
    pub inferred: bool,
}

impl Alert {
    /// An alert read in the clear.
    pub const fn cleartext(level: AlertLevel, description: AlertDescription) -> Self {
        Alert {
            level: Some(level),
            description: Some(description),
            encrypted: false,
            inferred: false,
        }
    }

    /// An alert record sent under encryption: its content is unknown.
    pub const ENCRYPTED: Alert = Alert {
        level: None,
        description: None,
        encrypted: true,
        inferred: false,
    };

    /// An alert sent under encryption and decrypted with a key log: exact.
    pub const fn decrypted(level: AlertLevel, description: AlertDescription) -> Self {
        Alert {
            level: Some(level),
            description: Some(description),
            encrypted: true,
            inferred: false,
        }
    }

    /// An encrypted alert inferred from the traffic's shape (TLS 1.3).
    pub const INFERRED: Alert = Alert {
        level: None,
        description: None,
        encrypted: true,
        inferred: true,
    };
}

/// Something the observer saw on one side of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsEvent {
    /// A ClientHello.
    ClientHello(Box<ClientHello>),
    /// A ServerHello or HelloRetryRequest.
    ServerHello(Box<ServerHello>),
    /// A Certificate message (TLS ≤ 1.2 or a cleartext draft), leaf first; empty when the
    /// sender had none to give.
    Certificate(Vec<Arc<Certificate>>),
    /// ServerKeyExchange, with the named curve when ECDHE.
    ServerKeyExchange {
        /// Named group of an ECDHE key exchange.
        curve: Option<u16>,
    },
    /// CertificateRequest from the server.
    CertificateRequest,
    /// ServerHelloDone.
    ServerHelloDone,
    /// CertificateStatus (stapled OCSP).
    CertificateStatus,
    /// ClientKeyExchange.
    ClientKeyExchange,
    /// CertificateVerify, with its signature scheme when read from a decrypted TLS 1.3
    /// message.
    CertificateVerify {
        /// SignatureScheme.
        scheme: Option<u16>,
    },
    /// EncryptedExtensions (TLS 1.3, decrypted).
    EncryptedExtensions {
        /// The ALPN protocol the server selected.
        alpn: Option<String>,
        /// The server accepted 0-RTT data.
        early_data: bool,
    },
    /// A decrypted Finished.
    Finished,
    /// A decrypted TLS 1.3 KeyUpdate.
    KeyUpdate {
        /// The sender asked its peer to update too.
        requested: bool,
    },
    /// NewSessionTicket (cleartext TLS ≤ 1.2, or decrypted TLS 1.3).
    NewSessionTicket {
        /// Ticket lifetime (hint) in seconds.
        lifetime: u32,
        /// Ticket length.
        ticket_len: u16,
        /// TLS 1.3: the ticket's `max_early_data_size`, when it allows 0-RTT.
        max_early_data: Option<u32>,
    },
    /// A cleartext handshake message not listed above (type code).
    OtherHandshake(u8),
    /// ChangeCipherSpec.
    ChangeCipherSpec,
    /// First encrypted handshake record after ChangeCipherSpec (the Finished, in TLS ≤ 1.2).
    EncryptedHandshake,
    /// TLS ≤ 1.2: an encrypted handshake record after both Finished, the start of a
    /// renegotiation by its sender (a ClientHello from the client, a HelloRequest from the
    /// server).
    Renegotiation,
    /// An alert.
    Alert(Alert),
    /// First application-data record of this side.
    ApplicationData,
    /// A heartbeat record (heartbleed-style traffic).
    Heartbeat {
        /// Record length.
        len: u16,
    },
}

/// An event with the time and side it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedEvent {
    /// Capture time of the packet that completed the record holding the message (or the record
    /// itself), as tshark attributes it.
    pub ts: Timestamp,
    /// Direction of the sender.
    pub from: Direction,
    /// What was seen.
    pub event: TlsEvent,
}

/// A protocol oddity, counted in the connection's facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// Direction it was seen in.
    pub from: Direction,
    /// What it was.
    pub kind: AnomalyKind,
}

/// The protocol oddities tlsight names. Declared in the order of their names, so that a map
/// keyed by kind lists them alphabetically (as records and reports do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnomalyKind {
    /// An alert record whose length is not a whole number of 2-byte alerts.
    BadAlert,
    /// A record header that cannot start a record (unknown type or version, absurd length).
    BadRecordHeader,
    /// A second ClientHello before any ServerHello, without a HelloRetryRequest.
    DuplicateClientHello,
    /// Bytes of the stream were missing (capture loss or a buffer cap).
    Gap,
    /// A handshake message skipped because the worker's budget for partial handshake messages
    /// (its share of the global buffer budget) could not hold it.
    HandshakeBufferFull,
    /// A ChangeCipherSpec arrived in the middle of a handshake message.
    HandshakeMessageCutByCcs,
    /// A handshake message longer than the per-connection cap (the per-flow buffer budget),
    /// skipped.
    HandshakeMessageTooLarge,
    /// A handshake message body that did not parse.
    HandshakeParseError,
    /// A heartbeat record (heartbleed-style traffic).
    Heartbeat,
    /// The record layer found its way back after garbage or a gap.
    Resynchronised,
    /// More events than a connection keeps; the rest were not recorded.
    TooManyEvents,
    /// An SSLv2 message that is neither a CLIENT-HELLO nor a SERVER-HELLO where a hello was due.
    UnexpectedSslv2Message,
    /// An oddity a transport driver (QUIC, DTLS) names in its own vocabulary (see
    /// [`super::HandshakeSink::anomaly`]). Facts count anomalies by name, so these sort with
    /// the others.
    Transport(&'static str),
}

impl AnomalyKind {
    /// snake_case name used in every output.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::BadAlert => "bad_alert",
            AnomalyKind::BadRecordHeader => "bad_record_header",
            AnomalyKind::DuplicateClientHello => "duplicate_client_hello",
            AnomalyKind::Gap => "gap",
            AnomalyKind::HandshakeBufferFull => "handshake_buffer_full",
            AnomalyKind::HandshakeMessageCutByCcs => "handshake_message_cut_by_ccs",
            AnomalyKind::HandshakeMessageTooLarge => "handshake_message_too_large",
            AnomalyKind::HandshakeParseError => "handshake_parse_error",
            AnomalyKind::Heartbeat => "heartbeat",
            AnomalyKind::Resynchronised => "resynchronised",
            AnomalyKind::TooManyEvents => "too_many_events",
            AnomalyKind::UnexpectedSslv2Message => "unexpected_sslv2_message",
            AnomalyKind::Transport(name) => name,
        }
    }

    /// Every kind the handshake and record layers name, in declaration (= name) order.
    pub const ALL: [AnomalyKind; 12] = [
        AnomalyKind::BadAlert,
        AnomalyKind::BadRecordHeader,
        AnomalyKind::DuplicateClientHello,
        AnomalyKind::Gap,
        AnomalyKind::HandshakeBufferFull,
        AnomalyKind::HandshakeMessageCutByCcs,
        AnomalyKind::HandshakeMessageTooLarge,
        AnomalyKind::HandshakeParseError,
        AnomalyKind::Heartbeat,
        AnomalyKind::Resynchronised,
        AnomalyKind::TooManyEvents,
        AnomalyKind::UnexpectedSslv2Message,
    ];
}

/// Everything the observer learnt about one connection.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    /// Side that sent the first ClientHello.
    pub client: Option<Direction>,
    /// Events in the order they were seen.
    pub events: Vec<TimedEvent>,
    /// Protocol oddities.
    pub anomalies: Vec<Anomaly>,
    /// TLS 1.3: the client sent 0-RTT data and its first protected record after the
    /// ServerHello was EndOfEarlyData-sized with more records after it, i.e. the server
    /// accepted the early data (inferred from sizes; the acceptance itself is encrypted).
    pub early_data_accepted: bool,
    /// What decryption did, when the analysis had key logs.
    pub decryption: Option<Box<crate::tls::decrypt::DecryptionFacts>>,
}

/// Room for events in a fresh list (a full TLS 1.2 handshake with alerts and a ticket is about
/// fourteen events).
const EVENTS_RESERVED: usize = 16;

thread_local! {
    /// Event lists of transcripts already turned into facts, for the next connections of this
    /// thread (see [`crate::spare`]).
    static SPARE_EVENT_LISTS: RefCell<Spares<TimedEvent, 64, EVENTS_RESERVED>> =
        const { RefCell::new(Spares::new()) };
}

/// An empty event list with room for a handshake: a spare one of this thread, else a new one.
pub(super) fn event_list() -> Vec<TimedEvent> {
    SPARE_EVENT_LISTS
        .with_borrow_mut(|spare| spare.take(EVENTS_RESERVED))
        .unwrap_or_else(|| Vec::with_capacity(EVENTS_RESERVED))
}

/// Gives a transcript's event list back once its events are taken, for the next transcript (one
/// that grew past a handshake's room is freed).
pub fn recycle_event_list(events: Vec<TimedEvent>) {
    SPARE_EVENT_LISTS.with_borrow_mut(|spare| spare.keep(events));
}

/// How many of a transcript's first events [`Transcript::prefetch`] follows: the hellos come
/// first.
const PREFETCH_EVENTS: usize = 16;

impl Transcript {
    /// Asks the CPU to start loading what building a connection's facts and record reads, for
    /// a segment that may close the connection. By then the connection's state has long left
    /// the cache (thousands of other connections were active since its hellos), and the facts
    /// walk the events, the hellos they point to and the hellos' lists: step 0 loads the
    /// events, step 1 the hellos, step 2 their lists, each step once the one before has had a
    /// segment's time to arrive.
    pub fn prefetch(&self, step: usize) {
        if step == 0 {
            prefetch::slice(&self.events);
            return;
        }
        for e in self.events.iter().take(PREFETCH_EVENTS) {
            match (&e.event, step) {
                (TlsEvent::ClientHello(h), 1) => prefetch::object::<ClientHello>(h),
                (TlsEvent::ServerHello(h), 1) => prefetch::object::<ServerHello>(h),
                (TlsEvent::ClientHello(h), _) => h.prefetch_lists(),
                (TlsEvent::ServerHello(h), _) => h.prefetch_lists(),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anomaly_kinds_are_declared_in_name_order() {
        let names: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(AnomalyKind::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
