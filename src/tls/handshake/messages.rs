//! The seam between the handshake layer and the message-body parsers: [`MessageParsers`], and
//! [`WireParsers`], the real ones (`hello`, `certificate`).

use std::sync::Arc;

use super::hello::{self, ClientHello, HelloError, HelloFormat, ServerHello};
use super::{Certificate, TlsContext};

/// The message-body parsers the handshake layer uses. A trait (implemented by [`WireParsers`])
/// so that the layer and the drivers above it can be tested with stand-ins.
pub trait MessageParsers {
    /// A ClientHello body laid out as `format` says (DTLS adds a cookie).
    fn client_hello(body: &[u8], format: HelloFormat) -> Result<ClientHello, HelloError>;
    /// An SSLv2 CLIENT-HELLO message (from its type byte).
    fn sslv2_client_hello(msg: &[u8]) -> Result<ClientHello, HelloError>;
    /// A ServerHello (type 2) or draft HelloRetryRequest (type 6) body.
    fn server_hello(body: &[u8], handshake_type: u8) -> Result<ServerHello, HelloError>;
    /// The DER certificates of a Certificate body.
    fn certificate_list(body: &[u8], tls13_format: bool) -> Result<Vec<&[u8]>, HelloError>;
    /// The facts of one DER certificate.
    fn certificate(ctx: &mut TlsContext, der: &[u8]) -> Arc<Certificate>;
    /// The named curve of a ServerKeyExchange body.
    fn server_key_exchange_curve(body: &[u8]) -> Option<u16>;
    /// Lifetime hint and ticket length of a NewSessionTicket body.
    fn new_session_ticket(body: &[u8]) -> Option<(u32, u16)>;
}

/// The real parsers of [`hello`] and the context's certificate cache.
#[derive(Clone, Copy, Debug, Default)]
pub struct WireParsers;

impl MessageParsers for WireParsers {
    fn client_hello(body: &[u8], format: HelloFormat) -> Result<ClientHello, HelloError> {
        hello::parse_client_hello_as(body, format)
    }
    fn sslv2_client_hello(msg: &[u8]) -> Result<ClientHello, HelloError> {
        hello::parse_sslv2_client_hello(msg)
    }
    fn server_hello(body: &[u8], handshake_type: u8) -> Result<ServerHello, HelloError> {
        hello::parse_server_hello(body, handshake_type)
    }
    fn certificate_list(body: &[u8], tls13_format: bool) -> Result<Vec<&[u8]>, HelloError> {
        hello::parse_certificate_list(body, tls13_format)
    }
    fn certificate(ctx: &mut TlsContext, der: &[u8]) -> Arc<Certificate> {
        ctx.certs.get_or_parse(der)
    }
    fn server_key_exchange_curve(body: &[u8]) -> Option<u16> {
        hello::parse_server_key_exchange_curve(body)
    }
    fn new_session_ticket(body: &[u8]) -> Option<(u32, u16)> {
        hello::parse_new_session_ticket(body)
    }
}
