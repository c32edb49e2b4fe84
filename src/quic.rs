//! The QUIC transport driver: reads what a passive observer can read of a QUIC connection and
//! hands its TLS handshake to the shared handshake layer, without a second hello parser.
//!
//! QUIC protects even its first packets, but Initial packets use keys anyone can derive from
//! the version's public salt and the Destination Connection ID of the client's first Initial
//! (RFC 9001 §5.2), so the ClientHello, the ServerHello and a CONNECTION_CLOSE sent in Initial
//! packets are readable; Handshake, 0-RTT and 1-RTT packets are not (without key logs), and are
//! counted and timed, or, with key logs, opened (see [`decrypt`]).
//!
//! Layers, each in its own file:
//! - [`version`]: what each version code means; salts, labels, type bits, Retry keys.
//! - [`varint`]: QUIC variable-length integers.
//! - [`protection`]: header protection and AEAD, keys held as bytes.
//! - [`keys`]: Initial keys from the client's DCID; the Retry integrity check.
//! - [`packet`]: the packets of a datagram, header first (no keys), then unprotection.
//! - [`frame`]: the frames of a packet.
//! - [`crypto_stream`]: CRYPTO frames back in order, joined into handshake messages.
//! - [`decrypt`]: Handshake and 1-RTT packets opened with key-log secrets.
//! - [`transport_parameters`]: the server's transport parameters (from a decrypted
//!   EncryptedExtensions).
//! - [`connection`]: the per-flow state machine feeding a [`HandshakeSink`](crate::tls::handshake::HandshakeSink), and [`QuicFacts`].

pub mod connection;
pub mod crypto_stream;
pub mod decrypt;
pub mod frame;
pub mod keys;
pub mod packet;
pub mod protection;
pub mod transport_parameters;
pub mod varint;
pub mod version;

pub use connection::{QuicConfig, QuicConnection, QuicContext, QuicFacts};
pub use version::QuicVersion;

/// The type of a QUIC packet, as counted per side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// Initial (long header).
    Initial,
    /// 0-RTT (long header): the client sending early data.
    ZeroRtt,
    /// Handshake (long header).
    Handshake,
    /// Retry (long header).
    Retry,
    /// Version Negotiation (long header, version 0).
    VersionNegotiation,
    /// 1-RTT (short header).
    OneRtt,
    /// A long header of a version tlsight cannot read (Google QUIC, unknown).
    Unreadable,
}

impl PacketType {
    /// snake_case name, as records print it.
    pub fn name(self) -> &'static str {
        match self {
            PacketType::Initial => "initial",
            PacketType::ZeroRtt => "0rtt",
            PacketType::Handshake => "handshake",
            PacketType::Retry => "retry",
            PacketType::VersionNegotiation => "version_negotiation",
            PacketType::OneRtt => "1rtt",
            PacketType::Unreadable => "unreadable",
        }
    }

    /// The packet number space of a packet that carries frames.
    pub fn space(self) -> Option<Space> {
        match self {
            PacketType::Initial => Some(Space::Initial),
            PacketType::Handshake => Some(Space::Handshake),
            PacketType::ZeroRtt | PacketType::OneRtt => Some(Space::Application),
            _ => None,
        }
    }
}

/// A packet number space (RFC 9000 §12.3): each has its own CRYPTO stream and keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// Initial packets.
    Initial,
    /// Handshake packets.
    Handshake,
    /// 0-RTT and 1-RTT packets.
    Application,
}

impl Space {
    /// snake_case name, as records print it.
    pub fn name(self) -> &'static str {
        match self {
            Space::Initial => "initial",
            Space::Handshake => "handshake",
            Space::Application => "application",
        }
    }
}
