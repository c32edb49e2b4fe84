//! The ClientHello and ServerHello body parsers on `nom` 7, written to measure nom against the
//! hand-written cursor of [`super::hello`] (issue 12: "if a benchmark shows nom costs more than
//! 3 % on handshakes-only, keep one hand-written cursor"). Same inputs, same values, same
//! errors: `tests/hello_parsers_agree.rs` checks it on arbitrary bytes and on the hellos of
//! every bundled capture. The cargo feature `nom-hellos` makes the pipeline use these.
//!
//! Written as a nom reading layer would be: nom's big-endian integers and `length_data` for
//! the framing, a small error type of our own (truncated / malformed, no input kept) mapped to
//! [`HelloError`] at the message boundary.

use nom::error::{ErrorKind, ParseError};
use nom::multi::length_data;
use nom::number::complete::{be_u8, be_u16, be_u32};
use nom::sequence::pair;
use nom::{Err, IResult};

use super::hello::{
    ClientHello, HRR_RANDOM, HelloError, RENEGOTIATION_SCSV, ServerHello, is_early_draft, text,
};
use crate::tls::codes::ExtensionType;

/// Why a read failed, without the input (nom's own error type keeps a slice and a kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireError {
    /// The input ended before a field did.
    Truncated,
    /// A field had an impossible value.
    Malformed(&'static str),
}

impl<I> ParseError<I> for WireError {
    fn from_error_kind(_: I, kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Eof | ErrorKind::Complete => WireError::Truncated,
            _ => WireError::Malformed("unexpected input"),
        }
    }

    fn append(_: I, _: ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a [u8], T, WireError>;

/// The [`HelloError`] of a failed read of a `message` body.
fn hello_error(message: &'static str) -> impl Fn(Err<WireError>) -> HelloError {
    move |e| match e {
        Err::Incomplete(_)
        | Err::Error(WireError::Truncated)
        | Err::Failure(WireError::Truncated) => HelloError::Truncated { message },
        Err::Error(WireError::Malformed(what)) | Err::Failure(WireError::Malformed(what)) => {
            HelloError::Malformed { message, what }
        }
    }
}

/// A vector with a 1-byte length prefix.
fn vec8(i: &[u8]) -> Res<'_, &[u8]> {
    length_data(be_u8)(i)
}

/// A vector with a 2-byte length prefix.
fn vec16(i: &[u8]) -> Res<'_, &[u8]> {
    length_data(be_u16)(i)
}

/// The whole input as big-endian u16 values; an odd byte count is malformed.
fn u16_list(what: &'static str) -> impl Fn(&[u8]) -> Res<'_, Vec<u16>> {
    move |i| {
        if !i.len().is_multiple_of(2) {
            return Err(Err::Error(WireError::Malformed(what)));
        }
        let list = i
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        Ok((&i[i.len()..], list))
    }
}

/// A 2-byte-length vector of u16 values.
fn vec16_of_u16(what: &'static str) -> impl Fn(&[u8]) -> Res<'_, Vec<u16>> {
    move |i| {
        let (i, list) = vec16(i)?;
        Ok((i, u16_list(what)(list)?.1))
    }
}

/// The optional extensions block at the end of a hello: absent, or a 2-byte length and the
/// extensions.
fn optional_extensions(i: &[u8]) -> Res<'_, &[u8]> {
    if i.is_empty() { Ok((i, i)) } else { vec16(i) }
}

/// Parses a ClientHello body (handshake type 1).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
    client_hello(body)
        .map(|(_, h)| h)
        .map_err(hello_error("ClientHello"))
}

fn client_hello(i: &[u8]) -> Res<'_, ClientHello> {
    let (i, legacy_version) = be_u16(i)?;
    let (i, _random) = nom::bytes::complete::take(32usize)(i)?;
    let (i, session_id) = vec8(i)?;
    let (i, cipher_suites) = vec16_of_u16("odd cipher_suites length")(i)?;
    let (i, compression) = vec8(i)?;
    let (i, mut block) = optional_extensions(i)?;
    let mut hello = ClientHello {
        legacy_version,
        session_id_len: session_id.len() as u8,
        session_id: session_id.to_vec(),
        cipher_suites,
        compression: compression.to_vec(),
        extensions: Vec::with_capacity(block.len() / 4),
        ..ClientHello::default()
    };
    while !block.is_empty() {
        let (rest, (typ, body)) = pair(be_u16, vec16)(block)?;
        block = rest;
        hello.extensions.push(typ);
        if client_extension(&mut hello, typ, body).is_err() {
            hello.malformed_extensions.push(typ);
        }
    }
    hello.renegotiation_info |= hello.cipher_suites.contains(&RENEGOTIATION_SCSV);
    Ok((i, hello))
}

/// Decodes one ClientHello extension body into `hello`; unknown types are only listed.
fn client_extension(hello: &mut ClientHello, typ: u16, body: &[u8]) -> Result<(), Err<WireError>> {
    match ExtensionType(typ) {
        ExtensionType::SERVER_NAME => {
            if body.is_empty() {
                return Ok(());
            }
            let (_, mut list) = vec16(body)?;
            while !list.is_empty() {
                let (rest, (name_type, name)) = pair(be_u8, vec16)(list)?;
                list = rest;
                if name_type == 0 && hello.sni.is_none() {
                    hello.sni = Some(text(name));
                }
            }
        }
        ExtensionType::SUPPORTED_GROUPS => {
            hello.groups = vec16_of_u16("odd supported_groups")(body)?.1
        }
        ExtensionType::EC_POINT_FORMATS => hello.ec_point_formats = vec8(body)?.1.to_vec(),
        ExtensionType::SIGNATURE_ALGORITHMS => {
            hello.sig_algs = vec16_of_u16("odd signature_algorithms")(body)?.1
        }
        ExtensionType::ALPN => {
            let (_, mut list) = vec16(body)?;
            while !list.is_empty() {
                let (rest, name) = vec8(list)?;
                list = rest;
                hello.alpn.push(text(name));
            }
        }
        ExtensionType::SESSION_TICKET => hello.session_ticket_len = Some(body.len() as u16),
        ExtensionType::KEY_SHARE | ExtensionType::KEY_SHARE_DRAFT => {
            let (_, mut list) = vec16(body)?;
            while !list.is_empty() {
                let (rest, group) = be_u16(list)?;
                hello.key_share_groups.push(group);
                (list, _) = vec16(rest)?; // key_exchange
            }
        }
        ExtensionType::PRE_SHARED_KEY => {
            let (_, mut identities) = vec16(body)?;
            let mut count: u16 = 0;
            while !identities.is_empty() {
                let (rest, _identity_and_age) = pair(vec16, be_u32)(identities)?;
                identities = rest;
                count = count.saturating_add(1);
            }
            hello.psk_identities = Some(count);
        }
        ExtensionType::EARLY_DATA => hello.early_data = true,
        ExtensionType::SUPPORTED_VERSIONS => {
            let (_, list) = vec8(body)?;
            hello.supported_versions = u16_list("odd supported_versions")(list)?.1
        }
        ExtensionType::PSK_KEY_EXCHANGE_MODES => hello.psk_modes = vec8(body)?.1.to_vec(),
        ExtensionType::RENEGOTIATION_INFO => hello.renegotiation_info = true,
        ExtensionType::ENCRYPTED_CLIENT_HELLO => hello.ech = true,
        _ => {}
    }
    Ok(())
}

/// Parses a ServerHello body (type 2) or a draft-era HelloRetryRequest (type 6).
pub fn parse_server_hello(body: &[u8], handshake_type: u8) -> Result<ServerHello, HelloError> {
    server_hello(body, handshake_type)
        .map(|(_, h)| h)
        .map_err(hello_error("ServerHello"))
}

fn server_hello(i: &[u8], handshake_type: u8) -> Res<'_, ServerHello> {
    let (mut i, legacy_version) = be_u16(i)?;
    let mut hello = ServerHello {
        legacy_version,
        ..ServerHello::default()
    };
    if handshake_type == 6 {
        hello.hrr = true;
        if legacy_version >= 0x7f13 && is_early_draft(legacy_version) {
            (i, hello.cipher) = be_u16(i)?;
        }
    } else {
        let (rest, random) = nom::bytes::complete::take(32usize)(i)?;
        i = rest;
        hello.hrr = random == HRR_RANDOM;
        if is_early_draft(legacy_version) {
            (i, hello.cipher) = be_u16(i)?;
        } else {
            let (rest, session_id) = vec8(i)?;
            hello.session_id = session_id.to_vec();
            (i, (hello.cipher, hello.compression)) = pair(be_u16, be_u8)(rest)?;
        }
    }
    let (i, mut block) = optional_extensions(i)?;
    let mut selected_version = None;
    while !block.is_empty() {
        let (rest, (typ, body)) = pair(be_u16, vec16)(block)?;
        block = rest;
        hello.extensions.push(typ);
        match server_extension(&mut hello, typ, body) {
            Ok(Some(v)) => selected_version = Some(v),
            Ok(None) => {}
            Err(_) => hello.malformed_extensions.push(typ),
        }
    }
    hello.version = selected_version.unwrap_or(legacy_version);
    Ok((i, hello))
}

/// Decodes one ServerHello extension body into `hello`; returns the selected version when
/// the extension is supported_versions.
fn server_extension(
    hello: &mut ServerHello,
    typ: u16,
    body: &[u8],
) -> Result<Option<u16>, Err<WireError>> {
    match ExtensionType(typ) {
        ExtensionType::SUPPORTED_VERSIONS => return Ok(Some(be_u16(body)?.1)),
        ExtensionType::KEY_SHARE | ExtensionType::KEY_SHARE_DRAFT => {
            hello.selected_group = Some(be_u16(body)?.1)
        }
        ExtensionType::ALPN => {
            let (_, list) = vec16(body)?;
            hello.alpn = Some(text(vec8(list)?.1));
        }
        ExtensionType::PRE_SHARED_KEY => hello.psk_selected = Some(be_u16(body)?.1),
        ExtensionType::SESSION_TICKET => hello.session_ticket = true,
        ExtensionType::RENEGOTIATION_INFO => hello.renegotiation_info = true,
        _ => {}
    }
    Ok(None)
}
