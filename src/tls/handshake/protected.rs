//! Bodies of the handshake messages that TLS 1.3 encrypts and that tlsight reads once a key
//! log lets the record layer decrypt them: EncryptedExtensions (the negotiated ALPN, early data
//! accepted), CertificateVerify (its signature scheme), TLS 1.3 NewSessionTicket (lifetime,
//! early-data limit) and KeyUpdate. Certificates and CompressedCertificate have their own
//! parsers (`hello::parse_certificate_list`, `tls::compressed_cert`).

use nom::sequence::tuple;

use super::{Handshake, HelloError, MessageParsers, TlsContext, TlsEvent};
use crate::flow::Direction;
use crate::tls::codes::{ExtensionType, HandshakeType};
use crate::wire::{WireError, WireResult, be_u8, be_u16, be_u32, vec8, vec16};

impl<P: MessageParsers> Handshake<P> {
    /// The messages a cleartext handshake does not carry (TLS 1.3's encrypted ones, a
    /// TLS ≤ 1.2 Finished or HelloRequest read from decrypted records), and any other type.
    /// Kept out of line: without key logs they never come, and the cleartext path stays as
    /// small as it was.
    #[cold]
    #[inline(never)]
    pub(super) fn protected_message(
        &mut self,
        ctx: &mut TlsContext,
        dir: Direction,
        msg_type: HandshakeType,
        body: &[u8],
    ) -> Result<TlsEvent, HelloError> {
        let malformed = |message, what| HelloError::Malformed { message, what };
        match msg_type {
            HandshakeType::NEW_SESSION_TICKET => parse_tls13_ticket(body)
                .map(|t| TlsEvent::NewSessionTicket {
                    lifetime: t.lifetime,
                    ticket_len: t.ticket_len,
                    max_early_data: t.max_early_data,
                })
                .ok_or(malformed("NewSessionTicket", "body")),
            // RFC 8879: the Certificate message it stands for, compressed (TLS 1.3 only).
            HandshakeType::COMPRESSED_CERTIFICATE => {
                match crate::tls::compressed_cert::decompress_certificate(body) {
                    Ok((_, certificate)) => Self::certificates(ctx, &certificate, true),
                    Err(_) => Err(malformed("CompressedCertificate", "compressed data")),
                }
            }
            HandshakeType::ENCRYPTED_EXTENSIONS => parse_encrypted_extensions(body)
                .map(|ee| TlsEvent::EncryptedExtensions {
                    alpn: ee.alpn,
                    early_data: ee.early_data,
                })
                .ok_or(malformed("EncryptedExtensions", "extensions")),
            HandshakeType::KEY_UPDATE if self.tls13 => key_update_requested(body)
                .map(|requested| TlsEvent::KeyUpdate { requested })
                .ok_or(malformed("KeyUpdate", "body")),
            HandshakeType::FINISHED => Ok(TlsEvent::Finished),
            HandshakeType::HELLO_REQUEST if self.is_server(dir) => Ok(TlsEvent::Renegotiation),
            other => Ok(TlsEvent::OtherHandshake(other.0)),
        }
    }
}

/// What an EncryptedExtensions message (type 8) says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncryptedExtensions {
    /// The ALPN protocol the server selected.
    pub alpn: Option<String>,
    /// The server accepted the client's 0-RTT data (an empty `early_data` extension).
    pub early_data: bool,
    /// Extension types, in order.
    pub extensions: Vec<u16>,
}

/// Reads an EncryptedExtensions body: a 16-bit-length-prefixed list of extensions.
pub fn parse_encrypted_extensions(body: &[u8]) -> Option<EncryptedExtensions> {
    let (_, mut block) = vec16::<WireError>(body).ok()?;
    let mut ee = EncryptedExtensions::default();
    while !block.is_empty() {
        let (rest, (typ, data)) = extension(block).ok()?;
        block = rest;
        ee.extensions.push(typ);
        match ExtensionType(typ) {
            ExtensionType::ALPN => {
                let (_, list) = vec16::<WireError>(data).ok()?;
                let (_, name) = vec8::<WireError>(list).ok()?;
                ee.alpn = Some(String::from_utf8_lossy(name).into_owned());
            }
            ExtensionType::EARLY_DATA => ee.early_data = true,
            _ => {}
        }
    }
    Some(ee)
}

/// The body of extension `typ` in an EncryptedExtensions body (QUIC's transport parameters:
/// the QUIC driver reads them itself), `None` when absent or malformed.
pub fn encrypted_extension(body: &[u8], typ: ExtensionType) -> Option<&[u8]> {
    let (_, mut block) = vec16::<WireError>(body).ok()?;
    while !block.is_empty() {
        let (rest, (t, data)) = extension(block).ok()?;
        if ExtensionType(t) == typ {
            return Some(data);
        }
        block = rest;
    }
    None
}

/// A TLS 1.3 NewSessionTicket (RFC 8446 §4.6.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tls13Ticket {
    /// Seconds the ticket may be used for.
    pub lifetime: u32,
    /// Ticket length.
    pub ticket_len: u16,
    /// The `early_data` extension's `max_early_data_size`, when the ticket allows 0-RTT.
    pub max_early_data: Option<u32>,
}

/// Reads a TLS 1.3 NewSessionTicket body: lifetime, age_add, nonce, ticket, extensions.
pub fn parse_tls13_ticket(body: &[u8]) -> Option<Tls13Ticket> {
    let (_, (lifetime, _age_add, _nonce, ticket, mut block)) =
        tuple((be_u32, be_u32, vec8, vec16, vec16::<WireError>))(body).ok()?;
    let mut out = Tls13Ticket {
        lifetime,
        ticket_len: ticket.len() as u16,
        max_early_data: None,
    };
    while !block.is_empty() {
        let (rest, (typ, data)) = extension(block).ok()?;
        block = rest;
        if ExtensionType(typ) == ExtensionType::EARLY_DATA {
            out.max_early_data = Some(be_u32::<_, WireError>(data).ok()?.1);
        }
    }
    Some(out)
}

/// The signature scheme of a TLS 1.2 or 1.3 CertificateVerify body (its first two bytes).
pub fn certificate_verify_scheme(body: &[u8]) -> Option<u16> {
    Some(be_u16::<_, WireError>(body).ok()?.1)
}

/// Whether a KeyUpdate body asks the peer to update its keys too (`update_requested`).
pub fn key_update_requested(body: &[u8]) -> Option<bool> {
    match be_u8::<_, WireError>(body).ok()? {
        (b"", 0) => Some(false),
        (b"", 1) => Some(true),
        _ => None,
    }
}

/// One extension: type and body.
fn extension(block: &[u8]) -> WireResult<'_, (u16, &[u8])> {
    tuple((be_u16, vec16))(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_extensions_give_alpn_and_early_data() {
        // ALPN "h2", early_data (empty), server_name (empty).
        let body = [
            0, 17, 0, 16, 0, 5, 0, 3, 2, b'h', b'2', 0, 42, 0, 0, 0, 0, 0, 0,
        ];
        let ee = parse_encrypted_extensions(&body).expect("parsed");
        assert_eq!(ee.alpn.as_deref(), Some("h2"));
        assert!(ee.early_data);
        assert_eq!(ee.extensions, vec![16, 42, 0]);
        assert_eq!(parse_encrypted_extensions(&[0, 5, 0]), None, "truncated");
        assert_eq!(
            parse_encrypted_extensions(&[0, 0]),
            Some(EncryptedExtensions::default())
        );
    }

    #[test]
    fn tls13_ticket_gives_lifetime_and_early_data_limit() {
        let mut body = vec![0, 0, 0x1c, 0x20, 1, 2, 3, 4, 1, 0, 0, 3, 9, 9, 9];
        body.extend_from_slice(&[0, 8, 0, 42, 0, 4, 0, 0, 0x40, 0]);
        let t = parse_tls13_ticket(&body).expect("parsed");
        assert_eq!(
            t,
            Tls13Ticket {
                lifetime: 7200,
                ticket_len: 3,
                max_early_data: Some(16384)
            }
        );
        assert_eq!(parse_tls13_ticket(&body[..10]), None);
    }

    #[test]
    fn certificate_verify_and_key_update() {
        assert_eq!(certificate_verify_scheme(&[0x08, 0x04, 0, 0]), Some(0x0804));
        assert_eq!(certificate_verify_scheme(&[8]), None);
        assert_eq!(key_update_requested(&[1]), Some(true));
        assert_eq!(key_update_requested(&[0]), Some(false));
        assert_eq!(key_update_requested(&[2]), None);
        assert_eq!(key_update_requested(&[0, 0]), None);
    }
}
