//! Parsers for the handshake message bodies tlsight reads: ClientHello (TLS and
//! SSLv2-compatible), ServerHello / HelloRetryRequest, Certificate, ServerKeyExchange and
//! NewSessionTicket. Built on `tls-parser`; they take a message body (after the 4-byte
//! handshake header) and return owned facts.
//!
//! INTERFACE STUB — implementation pending (tls-parsing helper).

use super::{ClientHello, ServerHello};

/// Why a handshake message body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The body ended before a field did.
    #[error("{message} truncated")]
    Truncated {
        /// Message name.
        message: &'static str,
    },
    /// A field had an impossible value.
    #[error("{message} malformed: {what}")]
    Malformed {
        /// Message name.
        message: &'static str,
        /// What was wrong.
        what: &'static str,
    },
}

/// Parses a ClientHello body (handshake type 1).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
    let _ = body;
    todo!("tls-parsing helper")
}

/// Parses the body of an SSLv2-format CLIENT-HELLO record (after the 2- or 3-byte SSLv2
/// record header, starting at the message type byte 1).
pub fn parse_sslv2_client_hello(msg: &[u8]) -> Result<ClientHello, HelloError> {
    let _ = msg;
    todo!("tls-parsing helper")
}

/// Parses a ServerHello body (type 2) or a draft-era HelloRetryRequest (type 6); a TLS 1.3
/// HelloRetryRequest sent as type 2 is recognised by its fixed random.
pub fn parse_server_hello(body: &[u8], handshake_type: u8) -> Result<ServerHello, HelloError> {
    let _ = (body, handshake_type);
    todo!("tls-parsing helper")
}

/// The DER certificates of a Certificate body (type 11), leaf first. `tls13_format` selects
/// the TLS 1.3 layout (request context, per-entry extensions).
pub fn parse_certificate_list(body: &[u8], tls13_format: bool) -> Result<Vec<&[u8]>, HelloError> {
    let _ = (body, tls13_format);
    todo!("tls-parsing helper")
}

/// The named curve of an ECDHE ServerKeyExchange body (type 12), if it is one.
pub fn parse_server_key_exchange_curve(body: &[u8]) -> Option<u16> {
    let _ = body;
    todo!("tls-parsing helper")
}

/// Lifetime hint and ticket length of a TLS ≤ 1.2 NewSessionTicket body (type 4).
pub fn parse_new_session_ticket(body: &[u8]) -> Option<(u32, u16)> {
    let _ = body;
    todo!("tls-parsing helper")
}
