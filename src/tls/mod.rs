//! The TLS layer. Transport drivers hand it what they carry, and it writes each connection's
//! [`Transcript`] of timed [`TlsEvent`]s:
//!
//! - [`record`]: TCP's record layer (records, start-of-TLS detection, resynchronisation,
//!   which records are encrypted), driving the handshake layer;
//! - [`joiner`]: handshake messages joined from an in-order run of handshake bytes (TLS
//!   handshake records, a QUIC CRYPTO stream);
//! - [`handshake`]: the layer every transport shares — message interpretation (hellos,
//!   certificates, key exchange, tickets, SSLv2 hellos), fingerprints with the carrier's
//!   prefix, alerts, the transcript;
//! - [`codes`] and [`names`]: codepoints as open newtypes, and their readable names;
//! - [`key_schedule`]: HKDF-Expand-Label for QUIC Initial keys and key-log decryption;
//! - [`decrypt`]: record decryption with key-log secrets (driven by TCP's record layer on
//!   connections with keys; QUIC's packet protection with key logs is `quic::decrypt`), and
//!   [`compressed_cert`]: RFC 8879 CompressedCertificate bodies.
//!
//! Odd traffic is data, not failure: protocol oddities become [`Anomaly`] values in the
//! transcript, never errors.

pub mod codes;
pub mod compressed_cert;
pub mod decrypt;
pub mod handshake;
pub mod joiner;
pub mod key_schedule;
pub mod names;
pub mod record;

pub use handshake::{
    Alert, Anomaly, AnomalyKind, Carrier, Certificate, ClientHello, Handshake, MessageParsers,
    ServerHello, TimedEvent, TlsContext, TlsEvent, Transcript, WireParsers,
};
pub use record::{RecordConfig, RecordLayer};
