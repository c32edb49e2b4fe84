//! Parsers for the handshake message bodies tlsight reads: ClientHello (TLS and
//! SSLv2-compatible), ServerHello / HelloRetryRequest, Certificate, ServerKeyExchange and
//! NewSessionTicket. They take a message body (after the 4-byte handshake header) and return
//! owned facts.
//!
//! The framing is walked with the shared reading layer ([`crate::wire`]: nom's big-endian
//! integers and length-prefixed vectors) rather than with `tls-parser`'s message parsers,
//! because a passive analyzer must keep what real traffic sends even where `tls-parser` is
//! strict or silent: it rejects a whole ClientHello when one extension body is odd (we keep
//! the extension *type* list regardless and only skip that body), it has no SSLv2
//! CLIENT-HELLO parser, and it does not know the draft-era TLS 1.3 ServerHello layouts (no
//! session id, no compression, type-6 HelloRetryRequest).

use std::sync::Arc;

use nom::Err;
use nom::sequence::{pair, tuple};

use crate::tls::codes::ExtensionType;
use crate::wire::{
    WireError, WireResult, be_u8, be_u16, be_u32, malformed, take, u16_list, vec8, vec16, vec24,
};

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

/// `SHA-256("HelloRetryRequest")`: the fixed random by which a TLS 1.3 (draft 22+)
/// HelloRetryRequest sent as a ServerHello is recognised (RFC 8446 §4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746), the cipher-list form of renegotiation_info.
const RENEGOTIATION_SCSV: u16 = 0x00ff;

/// The [`HelloError`] of a failed read of a `message` body.
fn hello_error(message: &'static str) -> impl Fn(Err<WireError>) -> HelloError {
    move |e| match WireError::of(e) {
        WireError::Truncated => HelloError::Truncated { message },
        WireError::Malformed(what) => HelloError::Malformed { message, what },
    }
}

/// A 2-byte-length vector of u16 codepoints; an odd byte count is malformed (`what`).
fn vec16_of_u16<'a>(i: &'a [u8], what: &'static str) -> WireResult<'a, Vec<u16>> {
    let (i, list) = vec16(i)?;
    let list = u16_list(list, what).map_err(Err::Error)?;
    Ok((i, list))
}

/// The optional extensions block at the end of a hello: absent (old clients and servers send
/// none) or a 2-byte length and the extensions. Bytes after the block are ignored.
fn optional_extensions(i: &[u8]) -> WireResult<'_, &[u8]> {
    if i.is_empty() { Ok((i, i)) } else { vec16(i) }
}

/// The first extension of an extensions block as framed on the wire: type and body. Only the
/// framing is checked here: bodies are decoded by the caller one at a time, so one odd body
/// cannot hide the other extensions; a broken framing fails the whole hello.
fn extension(block: &[u8]) -> WireResult<'_, (u16, &[u8])> {
    pair(be_u16, vec16)(block)
}

/// Lossy text of a protocol name or host name: these are meant to be ASCII, and a passive
/// analyzer reports what was sent rather than refusing it.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses a ClientHello body (handshake type 1).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
    client_hello(body)
        .map(|(_, h)| h)
        .map_err(hello_error("ClientHello"))
}

fn client_hello(i: &[u8]) -> WireResult<'_, ClientHello> {
    let (i, legacy_version) = be_u16(i)?;
    let (i, _random) = take(32usize)(i)?;
    let (i, session_id) = vec8(i)?;
    let (i, cipher_suites) = vec16_of_u16(i, "odd cipher_suites length")?;
    let (i, compression) = vec8(i)?;
    let (i, mut block) = optional_extensions(i)?;
    let mut hello = ClientHello {
        legacy_version,
        session_id_len: session_id.len() as u8,
        session_id: session_id.to_vec(),
        cipher_suites,
        compression: compression.to_vec(),
        // One allocation: an extension takes at least 4 bytes of the block.
        extensions: Vec::with_capacity(block.len() / 4),
        ..ClientHello::default()
    };
    while !block.is_empty() {
        let (rest, (typ, body)) = extension(block)?;
        block = rest;
        hello.extensions.push(typ);
        if decode_client_extension(&mut hello, typ, body).is_err() {
            hello.malformed_extensions.push(typ);
        }
    }
    hello.renegotiation_info |= hello.cipher_suites.contains(&RENEGOTIATION_SCSV);
    Ok((i, hello))
}

/// Decodes one ClientHello extension body into `hello`; unknown types are only listed.
fn decode_client_extension(
    hello: &mut ClientHello,
    typ: u16,
    body: &[u8],
) -> Result<(), Err<WireError>> {
    match ExtensionType(typ) {
        ExtensionType::SERVER_NAME => {
            // An empty body is legal in a ServerHello; in a ClientHello it has no name.
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
            hello.groups = vec16_of_u16(body, "odd supported_groups")?.1
        }
        ExtensionType::EC_POINT_FORMATS => hello.ec_point_formats = vec8(body)?.1.to_vec(),
        ExtensionType::SIGNATURE_ALGORITHMS => {
            hello.sig_algs = vec16_of_u16(body, "odd signature_algorithms")?.1
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
                // Listed before its key is read: a cut entry still names its group.
                hello.key_share_groups.push(group);
                (list, _) = vec16(rest)?; // key_exchange
            }
        }
        ExtensionType::PRE_SHARED_KEY => {
            let (_, mut identities) = vec16(body)?;
            let mut count: u16 = 0;
            while !identities.is_empty() {
                // identity, obfuscated_ticket_age
                (identities, _) = pair(vec16, be_u32)(identities)?;
                count = count.saturating_add(1);
            }
            hello.psk_identities = Some(count);
        }
        ExtensionType::EARLY_DATA => hello.early_data = true,
        ExtensionType::SUPPORTED_VERSIONS => {
            let (_, list) = vec8(body)?;
            hello.supported_versions =
                u16_list(list, "odd supported_versions").map_err(Err::Error)?
        }
        ExtensionType::PSK_KEY_EXCHANGE_MODES => hello.psk_modes = vec8(body)?.1.to_vec(),
        ExtensionType::RENEGOTIATION_INFO => hello.renegotiation_info = true,
        ExtensionType::ENCRYPTED_CLIENT_HELLO => hello.ech = true,
        _ => {}
    }
    Ok(())
}

/// Parses the body of an SSLv2-format CLIENT-HELLO record (after the 2- or 3-byte SSLv2
/// record header, starting at the message type byte 1).
///
/// Cipher kinds whose first byte is zero are TLS suites and go to `cipher_suites`; the others
/// are SSLv2-only kinds and go to `sslv2_ciphers`. JA3 and JA4 are computed from the TLS view
/// of the hello (version, TLS suites, no extensions): no peer defines a fingerprint for SSLv2
/// hellos (tshark and Salesforce's ja3 compute none), and this keeps a client that upgrades
/// from SSLv2 framing comparable with the suites it would offer in a TLS hello.
pub fn parse_sslv2_client_hello(msg: &[u8]) -> Result<ClientHello, HelloError> {
    sslv2_client_hello(msg)
        .map(|(_, h)| h)
        .map_err(hello_error("SSLv2 CLIENT-HELLO"))
}

fn sslv2_client_hello(i: &[u8]) -> WireResult<'_, ClientHello> {
    let (i, msg_type) = be_u8(i)?;
    if msg_type != SSLV2_CLIENT_HELLO {
        return malformed("not a CLIENT-HELLO");
    }
    let (i, (legacy_version, cipher_spec_len, session_id_len, challenge_len)) =
        tuple((be_u16, be_u16, be_u16, be_u16))(i)?;
    if !cipher_spec_len.is_multiple_of(3) {
        return malformed("cipher_spec_length not a multiple of 3");
    }
    let (i, specs) = take(cipher_spec_len)(i)?;
    let (i, session_id) = take(session_id_len)(i)?;
    let (i, _challenge) = take(challenge_len)(i)?;
    let Ok(session_id_len) = u8::try_from(session_id.len()) else {
        return malformed("session id");
    };
    let mut hello = ClientHello {
        sslv2_format: true,
        legacy_version,
        session_id_len,
        ..ClientHello::default()
    };
    for spec in specs.chunks_exact(3) {
        match spec {
            [0, hi, lo] => hello.cipher_suites.push(u16::from_be_bytes([*hi, *lo])),
            [a, b, c] => hello
                .sslv2_ciphers
                .push(u32::from_be_bytes([0, *a, *b, *c])),
            _ => {}
        }
    }
    hello.renegotiation_info = hello.cipher_suites.contains(&RENEGOTIATION_SCSV);
    Ok((i, hello))
}

/// SSLv2 CLIENT-HELLO message type.
pub const SSLV2_CLIENT_HELLO: u8 = 1;
/// SSLv2 SERVER-HELLO message type.
pub const SSLV2_SERVER_HELLO: u8 = 4;

/// Reads an SSLv2 SERVER-HELLO (from its type byte): the version and the certificate.
/// SSLv2 cipher kinds are 3-byte codes with no TLS equivalent, so `cipher` stays 0.
pub fn parse_sslv2_server_hello(msg: &[u8]) -> Option<(ServerHello, &[u8])> {
    let (_, hello) = sslv2_server_hello(msg).ok()?;
    Some(hello)
}

fn sslv2_server_hello(i: &[u8]) -> WireResult<'_, (ServerHello, &[u8])> {
    // Message type, session_id_hit, certificate_type.
    let (i, _) = take(3usize)(i)?;
    let (i, (version, cert_len, ciphers_len, conn_id_len)) =
        tuple((be_u16, be_u16, be_u16, be_u16))(i)?;
    let (i, cert) = take(cert_len)(i)?;
    let (i, _ciphers) = take(ciphers_len)(i)?;
    let (i, _connection_id) = take(conn_id_len)(i)?;
    let sh = ServerHello {
        sslv2_format: true,
        legacy_version: version,
        version,
        ..ServerHello::default()
    };
    Ok((i, (sh, cert)))
}

/// Whether a ServerHello `version` field names a TLS 1.3 draft up to 21 (0x7f00..=0x7f15),
/// whose ServerHello has neither session id nor compression method.
fn is_early_draft(version: u16) -> bool {
    (0x7f00..=0x7f15).contains(&version)
}

/// Parses a ServerHello body (type 2) or a draft-era HelloRetryRequest (type 6); a TLS 1.3
/// HelloRetryRequest sent as type 2 is recognised by its fixed random.
///
/// Layouts: draft ≤ 21 ServerHello is `version, random, cipher, extensions`; draft 22+ and
/// final TLS 1.3 use the TLS 1.2 layout with supported_versions. A type-6 HelloRetryRequest
/// is `version, extensions`, with a cipher suite after the version from draft 19 on.
pub fn parse_server_hello(body: &[u8], handshake_type: u8) -> Result<ServerHello, HelloError> {
    server_hello(body, handshake_type)
        .map(|(_, h)| h)
        .map_err(hello_error("ServerHello"))
}

fn server_hello(i: &[u8], handshake_type: u8) -> WireResult<'_, ServerHello> {
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
        let random;
        (i, random) = take(32usize)(i)?;
        hello.hrr = random == HRR_RANDOM;
        if is_early_draft(legacy_version) {
            (i, hello.cipher) = be_u16(i)?;
        } else {
            let session_id;
            (i, session_id) = vec8(i)?;
            hello.session_id = session_id.to_vec();
            (i, (hello.cipher, hello.compression)) = pair(be_u16, be_u8)(i)?;
        }
    }
    let (i, mut block) = optional_extensions(i)?;
    let mut selected_version = None;
    while !block.is_empty() {
        let (rest, (typ, body)) = extension(block)?;
        block = rest;
        hello.extensions.push(typ);
        match decode_server_extension(&mut hello, typ, body) {
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
fn decode_server_extension(
    hello: &mut ServerHello,
    typ: u16,
    body: &[u8],
) -> Result<Option<u16>, Err<WireError>> {
    match ExtensionType(typ) {
        ExtensionType::SUPPORTED_VERSIONS => return Ok(Some(be_u16(body)?.1)),
        // A HelloRetryRequest names only the group; a ServerHello adds its key share.
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

/// The DER certificates of a Certificate body (type 11), leaf first. `tls13_format` selects
/// the TLS 1.3 layout (request context, per-entry extensions).
pub fn parse_certificate_list(body: &[u8], tls13_format: bool) -> Result<Vec<&[u8]>, HelloError> {
    certificate_list(body, tls13_format)
        .map(|(_, list)| list)
        .map_err(hello_error("Certificate"))
}

fn certificate_list(i: &[u8], tls13_format: bool) -> WireResult<'_, Vec<&[u8]>> {
    let mut i = i;
    if tls13_format {
        (i, _) = vec8(i)?; // certificate_request_context
    }
    let (i, mut list) = vec24(i)?;
    let mut certs = Vec::new();
    while !list.is_empty() {
        let cert;
        (list, cert) = vec24(list)?;
        certs.push(cert);
        if tls13_format {
            (list, _) = vec16(list)?; // per-entry extensions
        }
    }
    Ok((i, certs))
}

/// `ECCurveType.named_curve` (RFC 8422 §5.4).
const NAMED_CURVE: u8 = 3;

/// The named curve of an ECDHE ServerKeyExchange body (type 12), if it is one.
///
/// Only `ECCurveType.named_curve` (3) carries a group; explicit curves and the DHE/RSA
/// layouts (which do not start with a curve type) yield `None`. The caller knows from the
/// cipher suite whether the exchange is ECDHE; a DHE body could begin with a 3 by chance.
pub fn parse_server_key_exchange_curve(body: &[u8]) -> Option<u16> {
    let (_, (curve_type, group)) = pair(be_u8::<_, WireError>, be_u16)(body).ok()?;
    (curve_type == NAMED_CURVE).then_some(group)
}

/// Lifetime hint and ticket length of a TLS ≤ 1.2 NewSessionTicket body (type 4).
pub fn parse_new_session_ticket(body: &[u8]) -> Option<(u32, u16)> {
    let (_, (lifetime, ticket)) = pair(be_u32::<_, WireError>, vec16)(body).ok()?;
    Some((lifetime, ticket.len() as u16))
}

#[cfg(test)]
mod tests {
    //! Fixtures are handshake message bodies cut out of the public captures in
    //! `/work/shared/captures/real` (named after them); expected values come from the
    //! peers' facts in `expected/*.json` (tshark's ja3/ja3s, Suricata's ja4).
    use super::*;
    use crate::tls::handshake::{Carrier, fingerprint};

    // The parsers with the fingerprints the handshake layer adds over TCP, so that both are
    // checked against the peers' values.

    fn parse_client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
        let mut h = super::parse_client_hello(body)?;
        fingerprint::fill_client(&mut h, Carrier::Tcp);
        Ok(h)
    }

    fn parse_sslv2_client_hello(msg: &[u8]) -> Result<ClientHello, HelloError> {
        let mut h = super::parse_sslv2_client_hello(msg)?;
        fingerprint::fill_client(&mut h, Carrier::Tcp);
        Ok(h)
    }

    fn parse_server_hello(body: &[u8], handshake_type: u8) -> Result<ServerHello, HelloError> {
        let mut h = super::parse_server_hello(body, handshake_type)?;
        fingerprint::fill_server(&mut h, Carrier::Tcp);
        Ok(h)
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/tls/",
                $name
            ))
            .as_slice()
        };
    }

    /// sv__ja4-rules: Chrome TLS 1.3 ClientHello with GREASE.
    const CH_TLS13_GREASE: &[u8] = fixture!("ch_tls13_grease.bin");
    /// zeek__chrome-34-google: TLS 1.2 ClientHello with NPN/ALPN.
    const CH_TLS12: &[u8] = fixture!("ch_tls12_chrome34.bin");
    /// zeek__tls13draft16-chrome55: draft-era hello, key_share as extension 40.
    const CH_DRAFT: &[u8] = fixture!("ch_draft_chrome55.bin");
    /// sv__tls-pre-1970: TLS 1.0 ClientHello with two extensions.
    const CH_TLS10: &[u8] = fixture!("ch_no_ext_pre1970.bin");
    /// sv__sslv2-tls-upgrade-01: SSLv2 CLIENT-HELLO offering TLS 1.0.
    const SSLV2_CH: &[u8] = fixture!("sslv2_ch.bin");

    #[test]
    fn tls13_client_hello_with_grease() {
        let h = parse_client_hello(CH_TLS13_GREASE).unwrap();
        assert_eq!(h.legacy_version, 0x0303);
        assert_eq!(h.session_id_len, 32);
        assert_eq!(h.cipher_suites.len(), 16);
        assert_eq!(h.cipher_suites[0], 0xbaba, "GREASE kept in wire order");
        assert_eq!(
            h.extensions,
            [
                2570, 0, 23, 65281, 10, 11, 35, 16, 5, 13, 18, 51, 45, 43, 27, 17513, 35466, 21
            ]
        );
        assert_eq!(h.supported_versions, [0x3a3a, 0x0304, 0x0303]);
        assert_eq!(h.sni.as_deref(), Some("cloudflare-quic.com"));
        assert_eq!(h.alpn, ["h2", "http/1.1"]);
        assert_eq!(h.session_ticket_len, Some(0));
        assert_eq!(h.psk_modes, [1]);
        assert_eq!(h.key_share_groups.len(), 2);
        assert!(crate::tls::names::is_grease(h.key_share_groups[0]));
        assert!(h.renegotiation_info);
        assert!(!h.ech && !h.early_data && h.psk_identities.is_none());
        assert!(h.malformed_extensions.is_empty());
        assert_eq!(&*h.ja3, "cd08e31494f9531f560d64c695473da9");
        assert_eq!(&*h.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn tls12_client_hello() {
        let h = parse_client_hello(CH_TLS12).unwrap();
        assert_eq!(h.cipher_suites.len(), 20);
        assert_eq!(
            h.extensions,
            [0, 65281, 10, 11, 35, 13172, 16, 30032, 5, 13, 18]
        );
        assert_eq!(h.sni.as_deref(), Some("google.de"));
        assert_eq!(h.alpn, ["spdy/3", "spdy/3.1", "http/1.1"]);
        assert_eq!(h.groups, [23, 24, 25]);
        assert_eq!(h.ec_point_formats, [0]);
        assert!(h.supported_versions.is_empty());
        assert_eq!(&*h.ja3, "a607f3a5c94c2ee592af1456f36c8367");
        assert!(h.ja3_string.starts_with("771,"));
    }

    /// tls-parser agrees on the framing of well-formed hellos: same suites, same extension
    /// types in the same order; except that it reports every GREASE extension as 0xfafa,
    /// where the wire (and tshark) has the real value: one reason the types are walked here.
    #[test]
    fn agrees_with_tls_parser() {
        use tls_parser::{TlsExtensionType, TlsMessage, TlsMessageHandshake};
        for body in [CH_TLS13_GREASE, CH_TLS12, CH_DRAFT, CH_TLS10] {
            let mut msg = vec![1, 0];
            msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
            msg.extend_from_slice(body);
            let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(theirs)))) =
                tls_parser::parse_tls_message_handshake(&msg)
            else {
                panic!("tls-parser rejected a real ClientHello");
            };
            let ours = parse_client_hello(body).unwrap();
            let suites: Vec<u16> = theirs.ciphers.iter().map(|c| c.0).collect();
            assert_eq!(ours.cipher_suites, suites);
            let (_, exts) =
                tls_parser::parse_tls_client_hello_extensions(theirs.ext.unwrap_or(&[])).unwrap();
            let types: Vec<u16> = exts.iter().map(|e| TlsExtensionType::from(e).0).collect();
            let normalised: Vec<u16> = ours
                .extensions
                .iter()
                .map(|&t| {
                    if crate::tls::names::is_grease(t) {
                        0xfafa
                    } else {
                        t
                    }
                })
                .collect();
            assert_eq!(normalised, types);
        }
    }

    #[test]
    fn draft_client_hello_reads_draft_key_share() {
        let h = parse_client_hello(CH_DRAFT).unwrap();
        assert_eq!(
            h.supported_versions,
            [0x0a0a, 0x7f0e, 0x0303, 0x0302, 0x0301]
        );
        assert_eq!(h.sni, None);
        assert!(h.key_share_groups.contains(&29));
        assert_eq!(&*h.ja3, "1bbe072c914653f5696401459ca0f9b8");
    }

    #[test]
    fn tls10_client_hello() {
        let h = parse_client_hello(CH_TLS10).unwrap();
        assert_eq!(h.legacy_version, 0x0301);
        assert_eq!(h.extensions, [0, 35]);
        assert_eq!(h.sni.as_deref(), Some("fkp.samsungcloudsolution.com"));
        assert_eq!(&*h.ja3, "f271b89dfd3fc1647182ed19a5c37285");
    }

    /// Offset of the extensions block in a ClientHello body.
    fn client_extensions_offset(body: &[u8]) -> usize {
        let sid = 35 + usize::from(body[34]);
        let ciphers = sid + 2 + usize::from(u16::from_be_bytes([body[sid], body[sid + 1]]));
        ciphers + 1 + usize::from(body[ciphers])
    }

    #[test]
    fn client_hello_without_extensions_block() {
        let cut = client_extensions_offset(CH_TLS10);
        let h = parse_client_hello(&CH_TLS10[..cut]).unwrap();
        assert!(h.extensions.is_empty() && h.sni.is_none());
        assert_eq!(h.cipher_suites.len(), 5);
        assert_eq!(*h.ja3_string, format!("769,{},,,", ja3_ciphers(&h)));
    }

    fn ja3_ciphers(h: &ClientHello) -> String {
        let v: Vec<String> = h.cipher_suites.iter().map(u16::to_string).collect();
        v.join("-")
    }

    #[test]
    fn malformed_extension_body_keeps_type_list() {
        let mut body = CH_TLS12.to_vec();
        // Corrupt the ALPN list length (ext 16) so that the body no longer decodes.
        let mut pos = client_extensions_offset(CH_TLS12) + 2;
        let mut block = &CH_TLS12[pos..];
        loop {
            let (rest, (typ, ext)) = extension(block).unwrap();
            if typ == 16 {
                body[pos + 4] = 0xff;
                break;
            }
            block = rest;
            pos += 4 + ext.len();
        }
        let h = parse_client_hello(&body).unwrap();
        assert_eq!(
            h.extensions,
            [0, 65281, 10, 11, 35, 13172, 16, 30032, 5, 13, 18]
        );
        assert_eq!(h.malformed_extensions, [16]);
        assert!(h.alpn.is_empty());
        assert_eq!(&*h.ja3, "a607f3a5c94c2ee592af1456f36c8367");
    }

    #[test]
    fn sslv2_client_hello() {
        let h = parse_sslv2_client_hello(SSLV2_CH).unwrap();
        assert!(h.sslv2_format);
        assert_eq!(h.legacy_version, 0x0301);
        assert_eq!(
            h.sslv2_ciphers,
            [0x010080, 0x030080, 0x0700c0, 0x060040, 0x020080, 0x040080]
        );
        assert_eq!(h.cipher_suites.len(), 20);
        assert_eq!(h.cipher_suites[..3], [0x39, 0x38, 0x35]);
        assert_eq!(h.session_id_len, 0);
        assert!(h.extensions.is_empty());
        assert!(h.ja3_string.starts_with("769,57-56-53-"));
        assert!(h.ja3_string.ends_with(",,,"));
        assert!(h.ja4.starts_with("t10i2000"), "{}", h.ja4);
    }

    #[test]
    fn sslv2_rejects_other_messages_and_bad_lengths() {
        let mut server_hello = SSLV2_CH.to_vec();
        server_hello[0] = 4;
        assert!(matches!(
            parse_sslv2_client_hello(&server_hello),
            Err(HelloError::Malformed { .. })
        ));
        let mut odd = SSLV2_CH.to_vec();
        odd[4] = 0x4d; // cipher_spec_length 77
        assert!(parse_sslv2_client_hello(&odd).is_err());
    }

    #[test]
    fn tls13_server_hello() {
        let h = parse_server_hello(fixture!("sh_tls13.bin"), 2).unwrap();
        assert!(!h.hrr);
        assert_eq!(
            (h.legacy_version, h.version, h.cipher),
            (0x0303, 0x0304, 0x1301)
        );
        assert_eq!(h.extensions, [51, 43]);
        assert_eq!(h.session_id.len(), 32);
        assert_eq!(h.selected_group, Some(29));
        assert_eq!(&*h.ja3s, "eb1d94daa7e0344597e756a1fb6e7054");
        assert_eq!(&*h.ja3s_string, "771,4865,51-43");
        assert!(h.ja4s.starts_with("t130200_1301_"), "{}", h.ja4s);
    }

    #[test]
    fn tls12_server_hello() {
        let h = parse_server_hello(fixture!("sh_tls12_chrome34.bin"), 2).unwrap();
        assert_eq!((h.version, h.cipher), (0x0303, 0xc02f));
        assert_eq!(h.extensions, [0, 65281, 11, 35, 30032, 16]);
        assert_eq!(h.alpn.as_deref(), Some("spdy/3.1"));
        assert!(h.session_ticket && h.renegotiation_info);
        assert_eq!(h.selected_group, None);
        assert_eq!(&*h.ja3s, "9f5e2e0d84076af5475bbe44debdb03e");
        assert!(h.ja4s.starts_with("t1206s1_c02f_"), "{}", h.ja4s);
    }

    #[test]
    fn hello_retry_request_then_server_hello() {
        let hrr = parse_server_hello(fixture!("sh_hrr.bin"), 2).unwrap();
        assert!(hrr.hrr);
        assert_eq!((hrr.version, hrr.cipher), (0x0304, 0x1302));
        assert!(hrr.selected_group.is_some());
        let sh = parse_server_hello(fixture!("sh_after_hrr.bin"), 2).unwrap();
        assert!(!sh.hrr);
        assert_eq!(sh.extensions, [43, 51]);
        assert_eq!(sh.selected_group, hrr.selected_group);
        assert_eq!(&*sh.ja3s, "15af977ce25de452b96affa2addb1036");
    }

    #[test]
    fn psk_server_hello() {
        let h = parse_server_hello(fixture!("sh_tls13_psk.bin"), 2).unwrap();
        assert_eq!(h.extensions, [43, 51, 41]);
        assert_eq!(h.psk_selected, Some(0));
        assert_eq!(&*h.ja3s, "b4f2541b0a0b815edb08e1c3ffe8aad8");
    }

    /// Expected facts of one draft-era ServerHello fixture.
    struct DraftCase {
        body: &'static [u8],
        legacy_version: u16,
        version: u16,
        cipher: u16,
        extensions: &'static [u16],
        hrr: bool,
        /// tshark's ja3s; `None` where the peers give none (HelloRetryRequest).
        ja3s: Option<&'static str>,
    }

    #[test]
    fn draft_server_hellos() {
        let cases = [
            DraftCase {
                body: fixture!("sh_draft19.bin"),
                legacy_version: 0x7f13,
                version: 0x7f13,
                cipher: 0x1302,
                extensions: &[40],
                hrr: false,
                ja3s: Some("cd05e941742c0d4f628a68716ca021f9"),
            },
            DraftCase {
                body: fixture!("sh_draft_chrome55.bin"),
                legacy_version: 0x7f0e,
                version: 0x7f0e,
                cipher: 0xcca9,
                extensions: &[40],
                hrr: false,
                ja3s: Some("9ce213de238ed8aea57e81e02c0e4882"),
            },
            DraftCase {
                body: fixture!("sh_draft16_ff52.bin"),
                legacy_version: 0x7f10,
                version: 0x7f10,
                cipher: 0x1303,
                extensions: &[13, 40],
                hrr: false,
                ja3s: Some("ddc938d7dbdf21719feb5ed34c1d267d"),
            },
            DraftCase {
                body: fixture!("sh_draft22_hrr.bin"),
                legacy_version: 0x0303,
                version: 0x7f16,
                cipher: 0x1301,
                extensions: &[43, 40],
                hrr: true,
                ja3s: None,
            },
            DraftCase {
                body: fixture!("sh_draft22.bin"),
                legacy_version: 0x0303,
                version: 0x7f16,
                cipher: 0x1301,
                extensions: &[40, 43],
                hrr: false,
                ja3s: Some("d9f520f64c0731564298ee69133d59d2"),
            },
            DraftCase {
                body: fixture!("sh_draft28.bin"),
                legacy_version: 0x0303,
                version: 0x7f1c,
                cipher: 0x1302,
                extensions: &[43, 51],
                hrr: false,
                ja3s: Some("15af977ce25de452b96affa2addb1036"),
            },
        ];
        for case in cases {
            let h = parse_server_hello(case.body, 2).unwrap();
            assert_eq!(
                (h.legacy_version, h.version, h.cipher),
                (case.legacy_version, case.version, case.cipher)
            );
            assert_eq!(h.extensions, case.extensions);
            assert_eq!(h.hrr, case.hrr);
            assert!(h.selected_group.is_some());
            if let Some(ja3s) = case.ja3s {
                assert_eq!(&*h.ja3s, ja3s);
            }
            if case.legacy_version >= 0x7f00 {
                assert!(h.session_id.is_empty());
            }
        }
    }

    #[test]
    fn draft_type6_hello_retry_request() {
        // Draft 18: version, extensions (key_share naming x25519).
        let d18 = [0x7f, 0x12, 0x00, 0x06, 0x00, 0x28, 0x00, 0x02, 0x00, 0x1d];
        let h = parse_server_hello(&d18, 6).unwrap();
        assert!(h.hrr);
        assert_eq!(
            (h.version, h.cipher, h.selected_group),
            (0x7f12, 0, Some(0x1d))
        );
        // Draft 19+: version, cipher, extensions.
        let d19 = [
            0x7f, 0x13, 0x13, 0x01, 0x00, 0x06, 0x00, 0x28, 0x00, 0x02, 0x00, 0x17,
        ];
        let h = parse_server_hello(&d19, 6).unwrap();
        assert_eq!(
            (h.version, h.cipher, h.selected_group),
            (0x7f13, 0x1301, Some(0x17))
        );
    }

    /// Every strict prefix either fails or (cut exactly before an optional extensions
    /// block) parses with no extensions; nothing panics.
    fn assert_prefixes_fail<T>(body: &[u8], parse: impl Fn(&[u8]) -> Result<T, HelloError>)
    where
        T: std::fmt::Debug,
    {
        let mut ok = 0;
        for cut in 0..body.len() {
            if parse(&body[..cut]).is_ok() {
                ok += 1;
            }
        }
        assert!(ok <= 1, "{ok} prefixes parsed");
    }

    #[test]
    fn truncated_hellos_are_errors() {
        for body in [CH_TLS13_GREASE, CH_TLS12, CH_DRAFT, CH_TLS10] {
            assert_prefixes_fail(body, parse_client_hello);
            let cut = client_extensions_offset(body);
            assert!(matches!(
                parse_client_hello(&body[..cut + 1]),
                Err(HelloError::Truncated {
                    message: "ClientHello"
                })
            ));
        }
        for body in [
            fixture!("sh_tls13.bin"),
            fixture!("sh_tls12_chrome34.bin"),
            fixture!("sh_hrr.bin"),
            fixture!("sh_draft19.bin"),
            fixture!("sh_draft22.bin"),
            fixture!("sh_draft16_ff52.bin"),
        ] {
            assert_prefixes_fail(body, |b| parse_server_hello(b, 2));
        }
        for cut in 0..SSLV2_CH.len() {
            assert!(parse_sslv2_client_hello(&SSLV2_CH[..cut]).is_err());
        }
    }

    const CERTS_TLS12: &[u8] = fixture!("cert_tls12_google.bin");

    #[test]
    fn certificate_list_tls12() {
        let certs = parse_certificate_list(CERTS_TLS12, false).unwrap();
        assert_eq!(certs.len(), 3);
        assert_eq!(certs[0].len(), 1151);
        assert!(certs.iter().all(|c| c.first() == Some(&0x30)));
        for cut in 0..CERTS_TLS12.len() {
            assert!(parse_certificate_list(&CERTS_TLS12[..cut], false).is_err());
        }
    }

    #[test]
    fn certificate_list_tls13() {
        let ders = parse_certificate_list(CERTS_TLS12, false).unwrap();
        let mut entries = Vec::new();
        for (i, der) in ders.iter().enumerate() {
            entries.extend_from_slice(&(der.len() as u32).to_be_bytes()[1..]);
            entries.extend_from_slice(der);
            // The leaf carries a 5-byte extension; the others none.
            let exts: &[u8] = if i == 0 {
                &[0, 5, 0, 5, 0, 1, 0]
            } else {
                &[0, 0]
            };
            entries.extend_from_slice(exts);
        }
        let mut body = vec![2, 0xaa, 0xbb];
        body.extend_from_slice(&(entries.len() as u32).to_be_bytes()[1..]);
        body.extend_from_slice(&entries);
        assert_eq!(parse_certificate_list(&body, true).unwrap(), ders);
        assert!(parse_certificate_list(&body, false).is_err());
        for cut in 0..body.len() {
            assert!(parse_certificate_list(&body[..cut], true).is_err());
        }
        assert_eq!(
            parse_certificate_list(&[0, 0, 0, 0], true).unwrap().len(),
            0
        );
    }

    #[test]
    fn server_key_exchange_curve() {
        assert_eq!(
            parse_server_key_exchange_curve(fixture!("ske_ecdhe_google.bin")),
            Some(0x0017)
        );
        assert_eq!(parse_server_key_exchange_curve(&[1, 0, 0]), None);
        assert_eq!(parse_server_key_exchange_curve(&[3, 0]), None);
        assert_eq!(parse_server_key_exchange_curve(&[]), None);
    }

    #[test]
    fn new_session_ticket() {
        let nst = fixture!("nst_google.bin");
        assert_eq!(parse_new_session_ticket(nst), Some((100_800, 212)));
        for cut in 0..nst.len() {
            assert_eq!(parse_new_session_ticket(&nst[..cut]), None);
        }
    }

    /// Issue #7 (a ClientHello with 10,000 extensions): the 2-byte extensions length bounds a
    /// hello to 16,383 empty extensions; all are listed, nothing is truncated, and the
    /// fingerprints still come out.
    #[test]
    fn largest_possible_extension_block_is_listed_in_full() {
        let n: u16 = 16_383;
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0x11; 32]);
        body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend_from_slice(&(n * 4).to_be_bytes());
        for i in 0..n {
            body.extend_from_slice(&(0x1000 + i).to_be_bytes());
            body.extend_from_slice(&[0, 0]);
        }
        let h = parse_client_hello(&body).expect("parses");
        assert_eq!(h.extensions.len(), usize::from(n));
        assert_eq!(h.extensions.last(), Some(&(0x1000 + n - 1)));
        assert!(h.malformed_extensions.is_empty());
        assert!(h.ja4.starts_with("t12i0199"), "{}", h.ja4);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(0u8..=255, 0..600)) {
            let _ = parse_client_hello(&bytes);
            let _ = parse_sslv2_client_hello(&bytes);
            let _ = parse_server_hello(&bytes, 2);
            let _ = parse_server_hello(&bytes, 6);
            let _ = parse_certificate_list(&bytes, false);
            let _ = parse_certificate_list(&bytes, true);
            let _ = parse_server_key_exchange_curve(&bytes);
            let _ = parse_new_session_ticket(&bytes);
        }

        #[test]
        fn mutated_client_hello_never_panics(pos in 0usize..508, val in 0u8..=255) {
            let mut body = CH_TLS13_GREASE.to_vec();
            let n = body.len();
            body[pos % n] = val;
            let _ = parse_client_hello(&body);
        }
    }
}
