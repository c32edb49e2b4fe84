//! The TLS layer: record deframing, handshake message joining and a passive observer that
//! turns each connection's two byte streams into a [`Transcript`] of timed [`TlsEvent`]s.
//!
//! Odd traffic is data, not failure: protocol oddities become [`Anomaly`] values in the
//! transcript, never errors.
//!
//! Layers: [`deframe`] (records, start-of-TLS detection, resynchronisation, handshake message
//! joining) under [`observer`] (the per-connection state machine).

pub mod cert;
pub mod compressed_cert;
pub mod decrypt;
pub mod deframe;
pub mod fingerprint;
pub mod hello;
pub mod key_schedule;
pub mod names;
pub mod observer;

pub use observer::{MessageParsers, ObserverConfig, TlsObserver, WireParsers};

use std::sync::Arc;

use crate::flow::{Direction, Timestamp};

/// Facts of a ClientHello (TLS, or SSLv2-compatible), codepoints exactly as on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// Sent in the SSLv2-compatible record format.
    pub sslv2_format: bool,
    /// `legacy_version` (client_version).
    pub legacy_version: u16,
    /// Length of the legacy session id.
    pub session_id_len: u8,
    /// The legacy session id (to tell whether the server echoed it).
    pub session_id: Vec<u8>,
    /// Cipher suites in wire order, GREASE included (for an SSLv2 hello, the kinds whose first
    /// byte is zero, i.e. the TLS suites).
    pub cipher_suites: Vec<u16>,
    /// SSLv2-only cipher kinds (3-byte codes with a nonzero first byte), for SSLv2 hellos.
    pub sslv2_ciphers: Vec<u32>,
    /// Compression methods.
    pub compression: Vec<u8>,
    /// Extension types in wire order, GREASE included.
    pub extensions: Vec<u16>,
    /// supported_versions (43), wire order, GREASE included.
    pub supported_versions: Vec<u16>,
    /// supported_groups (10), wire order, GREASE included.
    pub groups: Vec<u16>,
    /// ec_point_formats (11).
    pub ec_point_formats: Vec<u8>,
    /// Groups of the key_share (51) entries, wire order.
    pub key_share_groups: Vec<u16>,
    /// signature_algorithms (13), wire order.
    pub sig_algs: Vec<u16>,
    /// ALPN protocols (16), wire order.
    pub alpn: Vec<String>,
    /// server_name (0) host name.
    pub sni: Option<String>,
    /// psk_key_exchange_modes (45).
    pub psk_modes: Vec<u8>,
    /// Number of identities in pre_shared_key (41), when present.
    pub psk_identities: Option<u16>,
    /// early_data (42) present.
    pub early_data: bool,
    /// session_ticket (35) present, with the ticket's length (0 = asking for a new one).
    pub session_ticket_len: Option<u16>,
    /// renegotiation_info (0xff01) present, or TLS_EMPTY_RENEGOTIATION_INFO_SCSV offered.
    pub renegotiation_info: bool,
    /// encrypted_client_hello (0xfe0d) present.
    pub ech: bool,
    /// Extension types whose body did not decode (kept in `extensions` all the same), so
    /// that odd clients are counted rather than dropped.
    pub malformed_extensions: Vec<u16>,
    /// JA3 string (`version,ciphers,extensions,groups,point_formats`, GREASE removed).
    pub ja3_string: Arc<str>,
    /// MD5 of the JA3 string, lowercase hex.
    pub ja3: Arc<str>,
    /// JA4 fingerprint (TCP).
    pub ja4: Arc<str>,
}

/// Facts of a ServerHello or HelloRetryRequest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// A HelloRetryRequest (recognised by its fixed random, or draft HRR message type).
    pub hrr: bool,
    /// Sent as an SSLv2 SERVER-HELLO.
    pub sslv2_format: bool,
    /// `legacy_version` (server_version).
    pub legacy_version: u16,
    /// Negotiated version: supported_versions (43) when present, else `legacy_version`.
    pub version: u16,
    /// The server's session id.
    pub session_id: Vec<u8>,
    /// Chosen cipher suite.
    pub cipher: u16,
    /// Chosen compression method.
    pub compression: u8,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// Group of the key_share (51) entry (TLS 1.3), or the HRR's requested group.
    pub selected_group: Option<u16>,
    /// Negotiated ALPN protocol.
    pub alpn: Option<String>,
    /// Selected pre_shared_key identity (TLS 1.3 PSK resumption accepted).
    pub psk_selected: Option<u16>,
    /// session_ticket (35) present (the server will send a NewSessionTicket).
    pub session_ticket: bool,
    /// renegotiation_info (0xff01) present.
    pub renegotiation_info: bool,
    /// Extension types whose body did not decode (kept in `extensions` all the same).
    pub malformed_extensions: Vec<u16>,
    /// JA3S string.
    pub ja3s_string: Arc<str>,
    /// MD5 of the JA3S string, lowercase hex.
    pub ja3s: Arc<str>,
    /// JA4S fingerprint.
    pub ja4s: Arc<str>,
}

/// Facts of one X.509 certificate, parsed once per distinct DER.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Certificate {
    /// SHA-256 of the DER, lowercase hex.
    pub sha256: String,
    /// DER length in bytes.
    pub der_len: usize,
    /// Subject as an RFC 4514 string.
    pub subject: String,
    /// Subject common name(s).
    pub subject_cn: Vec<String>,
    /// Issuer as an RFC 4514 string.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// DNS names of the subjectAltName extension.
    pub san_dns: Vec<String>,
    /// IP addresses of the subjectAltName extension, as text.
    pub san_ip: Vec<String>,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
    /// Public key type: `"rsa"`, `"ec"`, `"ed25519"`, `"dsa"`, ... or `"unknown"`.
    pub key_type: String,
    /// Public key size in bits (RSA modulus, EC field size), when known.
    pub key_bits: Option<u32>,
    /// EC curve name, when EC.
    pub key_curve: Option<String>,
    /// Signature algorithm name (e.g. `sha256WithRSAEncryption`), or its OID.
    pub signature_algorithm: String,
    /// Subject equals issuer (a self-issued certificate).
    pub self_signed: bool,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    /// Why the DER did not parse, when it did not (the other fields are then empty).
    pub parse_error: Option<String>,
}

/// A TLS alert as seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alert {
    /// 1 warning, 2 fatal; `None` when encrypted.
    pub level: Option<u8>,
    /// RFC 8446 AlertDescription; `None` when encrypted.
    pub description: Option<u8>,
    /// Sent under encryption (after ChangeCipherSpec, or TLS 1.3 protected record).
    pub encrypted: bool,
    /// Not seen as an alert record but inferred from the traffic's shape (TLS 1.3: an
    /// alert-sized protected record where a Finished was due).
    pub inferred: bool,
}

impl Alert {
    /// An alert read in the clear.
    pub const fn cleartext(level: u8, description: u8) -> Self {
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
    /// CertificateVerify.
    CertificateVerify,
    /// NewSessionTicket (cleartext, TLS ≤ 1.2).
    NewSessionTicket {
        /// Ticket lifetime hint in seconds.
        lifetime: u32,
        /// Ticket length.
        ticket_len: u16,
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// Direction it was seen in.
    pub from: Direction,
    /// snake_case name, e.g. `bad_record_header`, `handshake_parse_error`, `resynchronised`.
    pub kind: &'static str,
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
    /// TLS records per direction.
    pub records: [u64; 2],
    /// Bytes of a plaintext preamble (e.g. STARTTLS dialogue) skipped before TLS began.
    pub preamble_bytes: [u64; 2],
    /// TLS 1.3: the client sent 0-RTT data and its first protected record after the
    /// ServerHello was EndOfEarlyData-sized with more records after it, i.e. the server
    /// accepted the early data (inferred from sizes; the acceptance itself is encrypted).
    pub early_data_accepted: bool,
}

/// State shared by all observers of one worker: the certificate cache, so that each distinct
/// certificate is parsed once.
#[derive(Debug, Default)]
pub struct TlsContext {
    /// Parsed certificates by SHA-256.
    pub certs: cert::CertCache,
}
