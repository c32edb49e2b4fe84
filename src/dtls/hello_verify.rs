//! The HelloVerifyRequest (handshake type 3, RFC 6347 §4.2.1): a DTLS ≤ 1.2 server's stateless
//! cookie challenge. The client must send its ClientHello again with the cookie, which costs a
//! round trip before the handshake proper starts.
//!
//! Read with `nom`: `tls-parser` parses it only inside a whole, unfragmented handshake record
//! (`parse_dtls_message_handshake`), not as a reassembled body.

use nom::IResult;
use nom::multi::length_data;
use nom::number::complete::{be_u8, be_u16};

/// What a HelloVerifyRequest says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloVerifyRequest {
    /// `server_version` (RFC 6347 asks for 0xfeff, DTLS 1.0, whatever will be negotiated).
    pub version: u16,
    /// Length of the cookie.
    pub cookie_len: u8,
}

fn parse(body: &[u8]) -> IResult<&[u8], HelloVerifyRequest> {
    let (body, version) = be_u16(body)?;
    let (body, cookie) = length_data(be_u8)(body)?;
    Ok((
        body,
        HelloVerifyRequest {
            version,
            cookie_len: cookie.len() as u8,
        },
    ))
}

/// Parses a HelloVerifyRequest body; `None` when it is cut short. Bytes after the cookie are
/// ignored, as in every hello.
pub fn parse_hello_verify_request(body: &[u8]) -> Option<HelloVerifyRequest> {
    parse(body).ok().map(|(_, hvr)| hvr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::test_wire::hello_verify_request_body;

    #[test]
    fn version_and_cookie() {
        let body = hello_verify_request_body(0xfeff, &[7; 20]);
        assert_eq!(
            parse_hello_verify_request(&body),
            Some(HelloVerifyRequest {
                version: 0xfeff,
                cookie_len: 20
            })
        );
        for cut in 0..body.len() {
            assert_eq!(parse_hello_verify_request(&body[..cut]), None);
        }
    }
}
