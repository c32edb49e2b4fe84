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

use std::cell::RefCell;
use std::sync::Arc;

use nom::Err;
use nom::sequence::{pair, tuple};
use smallvec::SmallVec;

use super::fingerprint::ja4_alpn;
use crate::prefetch;
use crate::spare::SpareBoxes;
use crate::tls::codes::ExtensionType;
use crate::wire::{
    WireError, WireResult, be_u8, be_u16, be_u32, malformed, take, u16_list, vec8, vec16, vec24,
};

/// A list read from a hello: inline up to `N` entries, on the heap beyond. Hellos are parsed
/// for every connection and live in its transcript while it is open, so each list's capacity
/// fits what real stacks send (Chrome and Firefox: 16-18 suites, 16-18 extensions, 8-11
/// signature algorithms; OpenSSL 3: 31 suites, 20 signature algorithms, 10 groups): a usual
/// hello then allocates nothing for its lists, and one list the size of its capacity takes
/// less room inline than a `Vec` and its heap block. Derefs to a slice.
pub type List<T, const N: usize> = SmallVec<[T; N]>;

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
    pub session_id: List<u8, 32>,
    /// DTLS only: length of the cookie after the session id (non-zero in the ClientHello that
    /// answers a HelloVerifyRequest); `None` for TLS.
    pub cookie_len: Option<u8>,
    /// Cipher suites in wire order, GREASE included (for an SSLv2 hello, the kinds whose first
    /// byte is zero, i.e. the TLS suites).
    pub cipher_suites: List<u16, 32>,
    /// SSLv2-only cipher kinds (3-byte codes with a nonzero first byte), for SSLv2 hellos.
    pub sslv2_ciphers: List<u32, 4>,
    /// Compression methods.
    pub compression: List<u8, 16>,
    /// Extension types in wire order, GREASE included.
    pub extensions: List<u16, 24>,
    /// supported_versions (43), wire order, GREASE included.
    pub supported_versions: List<u16, 8>,
    /// supported_groups (10), wire order, GREASE included.
    pub groups: List<u16, 12>,
    /// ec_point_formats (11).
    pub ec_point_formats: List<u8, 16>,
    /// Groups of the key_share (51) entries, wire order.
    pub key_share_groups: List<u16, 8>,
    /// signature_algorithms (13), wire order.
    pub sig_algs: List<u16, 24>,
    /// ALPN protocols (16), wire order.
    pub alpn: Vec<String>,
    /// JA4's two characters for the first ALPN protocol, from its raw bytes (see
    /// [`super::fingerprint::ja4_alpn`]); `None` without one.
    pub ja4_alpn: Option<[u8; 2]>,
    /// server_name (0) host name.
    pub sni: Option<String>,
    /// psk_key_exchange_modes (45).
    pub psk_modes: List<u8, 16>,
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
    /// DTLS connection_id (54): the connection ID this client asks to receive on its records.
    pub connection_id: Option<Vec<u8>>,
    /// Extension types whose body did not decode (kept in `extensions` all the same), so
    /// that odd clients are counted rather than dropped.
    pub malformed_extensions: List<u16, 8>,
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
    pub session_id: List<u8, 32>,
    /// Chosen cipher suite.
    pub cipher: u16,
    /// Chosen compression method.
    pub compression: u8,
    /// Extension types in wire order.
    pub extensions: List<u16, 16>,
    /// Group of the key_share (51) entry (TLS 1.3), or the HRR's requested group.
    pub selected_group: Option<u16>,
    /// Negotiated ALPN protocol.
    pub alpn: Option<String>,
    /// JA4S's two characters for it, from its raw bytes.
    pub ja4_alpn: Option<[u8; 2]>,
    /// Selected pre_shared_key identity (TLS 1.3 PSK resumption accepted).
    pub psk_selected: Option<u16>,
    /// session_ticket (35) present (the server will send a NewSessionTicket).
    pub session_ticket: bool,
    /// renegotiation_info (0xff01) present.
    pub renegotiation_info: bool,
    /// DTLS 1.2 connection_id (54): the connection ID this server asks to receive on its
    /// records (DTLS 1.3 servers send theirs in the encrypted EncryptedExtensions).
    pub connection_id: Option<Vec<u8>>,
    /// Extension types whose body did not decode (kept in `extensions` all the same).
    pub malformed_extensions: List<u16, 8>,
    /// JA3S string.
    pub ja3s_string: Arc<str>,
    /// MD5 of the JA3S string, lowercase hex.
    pub ja3s: Arc<str>,
    /// JA4S fingerprint.
    pub ja4s: Arc<str>,
}

/// Hellos kept per thread for reuse (see [`crate::spare`]).
const SPARE_HELLOS: usize = 64;

thread_local! {
    /// Boxes of hellos whose connection's facts are done with, for the next hellos of this
    /// thread: each box was an allocation of a few hundred bytes per hello, served by
    /// mimalloc's slow path most times (~220 instructions).
    static SPARE_CLIENT_HELLOS: RefCell<SpareBoxes<ClientHello, SPARE_HELLOS>> =
        const { RefCell::new(SpareBoxes::new()) };
    static SPARE_SERVER_HELLOS: RefCell<SpareBoxes<ServerHello, SPARE_HELLOS>> =
        const { RefCell::new(SpareBoxes::new()) };
}

impl ClientHello {
    /// The hello boxed (for its event), in a spare box of this thread when there is one.
    pub fn boxed(self) -> Box<ClientHello> {
        SPARE_CLIENT_HELLOS.with_borrow_mut(|spare| spare.boxed(self))
    }

    /// Gives a boxed hello back once it is done with, for [`Self::boxed`].
    pub fn recycle(hello: Box<ClientHello>) {
        SPARE_CLIENT_HELLOS.with_borrow_mut(|spare| spare.keep(hello));
    }

    /// Starts loading the lists the facts and the record read (see
    /// [`super::Transcript::prefetch`]) that are not inside the hello itself: the ones longer
    /// than their inline capacity, the ALPN protocols and the server name.
    pub fn prefetch_lists(&self) {
        prefetch_spilled(&self.cipher_suites);
        prefetch_spilled(&self.extensions);
        prefetch_spilled(&self.supported_versions);
        prefetch_spilled(&self.groups);
        prefetch_spilled(&self.ec_point_formats);
        prefetch_spilled(&self.key_share_groups);
        prefetch_spilled(&self.sig_algs);
        prefetch_spilled(&self.compression);
        prefetch_spilled(&self.session_id);
        prefetch_spilled(&self.psk_modes);
        prefetch::line(self.alpn.as_ptr().cast());
        if let Some(sni) = &self.sni {
            prefetch::line(sni.as_ptr());
        }
    }
}

impl ServerHello {
    /// The hello boxed (for its event), in a spare box of this thread when there is one.
    pub fn boxed(self) -> Box<ServerHello> {
        SPARE_SERVER_HELLOS.with_borrow_mut(|spare| spare.boxed(self))
    }

    /// Gives a boxed hello back once it is done with, for [`Self::boxed`].
    pub fn recycle(hello: Box<ServerHello>) {
        SPARE_SERVER_HELLOS.with_borrow_mut(|spare| spare.keep(hello));
    }

    /// Starts loading the lists the facts and the record read (see
    /// [`super::Transcript::prefetch`]) that are not inside the hello itself.
    pub fn prefetch_lists(&self) {
        prefetch_spilled(&self.extensions);
        prefetch_spilled(&self.session_id);
    }
}

/// Starts loading the first line of a list on the heap; an inline one is loaded with its hello.
fn prefetch_spilled<A: smallvec::Array>(list: &SmallVec<A>) {
    if list.spilled() {
        prefetch::line(list.as_ptr().cast());
    }
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
fn vec16_of_u16<'a, const N: usize>(
    i: &'a [u8],
    what: &'static str,
) -> WireResult<'a, List<u16, N>> {
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

/// The two layouts of a ClientHello body: DTLS (RFC 6347 §4.2.1, RFC 9147 §5.3) adds a cookie
/// (`legacy_cookie` in DTLS 1.3) after the session id; everything else is the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelloFormat {
    /// TLS over TCP (and QUIC).
    Tls,
    /// DTLS: a 1-byte-length cookie follows the session id.
    Dtls,
}

/// Parses a TLS ClientHello body (handshake type 1).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
    parse_client_hello_as(body, HelloFormat::Tls)
}

/// Parses a ClientHello body (handshake type 1) laid out as `format` says.
pub fn parse_client_hello_as(body: &[u8], format: HelloFormat) -> Result<ClientHello, HelloError> {
    client_hello(body, format)
        .map(|(_, h)| h)
        .map_err(hello_error("ClientHello"))
}

fn client_hello(i: &[u8], format: HelloFormat) -> WireResult<'_, ClientHello> {
    let (i, legacy_version) = be_u16(i)?;
    let (i, _random) = take(32usize)(i)?;
    let (i, session_id) = vec8(i)?;
    let (i, cookie_len) = match format {
        HelloFormat::Tls => (i, None),
        HelloFormat::Dtls => {
            let (i, cookie) = vec8(i)?;
            (i, Some(cookie.len() as u8))
        }
    };
    let (i, cipher_suites) = vec16_of_u16(i, "odd cipher_suites length")?;
    let (i, compression) = vec8(i)?;
    let (i, mut block) = optional_extensions(i)?;
    let mut hello = ClientHello {
        legacy_version,
        cookie_len,
        session_id_len: session_id.len() as u8,
        session_id: List::from_slice(session_id),
        cipher_suites,
        compression: List::from_slice(compression),
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
        ExtensionType::EC_POINT_FORMATS => hello.ec_point_formats = List::from_slice(vec8(body)?.1),
        ExtensionType::SIGNATURE_ALGORITHMS => {
            hello.sig_algs = vec16_of_u16(body, "odd signature_algorithms")?.1
        }
        ExtensionType::ALPN => {
            let (_, mut list) = vec16(body)?;
            while !list.is_empty() {
                let (rest, protocol) = vec8(list)?;
                list = rest;
                if hello.alpn.is_empty() {
                    hello.ja4_alpn = ja4_alpn(protocol);
                }
                hello.alpn.push(text(protocol));
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
        ExtensionType::PSK_KEY_EXCHANGE_MODES => hello.psk_modes = List::from_slice(vec8(body)?.1),
        ExtensionType::RENEGOTIATION_INFO => hello.renegotiation_info = true,
        ExtensionType::ENCRYPTED_CLIENT_HELLO => hello.ech = true,
        ExtensionType::CONNECTION_ID => hello.connection_id = Some(vec8(body)?.1.to_vec()),
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
            hello.session_id = List::from_slice(session_id);
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
            let protocol = vec8(list)?.1;
            hello.ja4_alpn = ja4_alpn(protocol);
            hello.alpn = Some(text(protocol));
        }
        ExtensionType::PRE_SHARED_KEY => hello.psk_selected = Some(be_u16(body)?.1),
        ExtensionType::SESSION_TICKET => hello.session_ticket = true,
        ExtensionType::RENEGOTIATION_INFO => hello.renegotiation_info = true,
        ExtensionType::CONNECTION_ID => hello.connection_id = Some(vec8(body)?.1.to_vec()),
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
mod tests;
