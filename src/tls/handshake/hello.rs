//! Parsers for the handshake message bodies tlsight reads: ClientHello (TLS and
//! SSLv2-compatible), ServerHello / HelloRetryRequest, Certificate, ServerKeyExchange and
//! NewSessionTicket. They take a message body (after the 4-byte handshake header) and return
//! owned facts.
//!
//! The framing is walked by hand with a bounds-checked `Reader` rather than with
//! `tls-parser`'s message parsers, because a passive analyzer must keep what real traffic
//! sends even where `tls-parser` is strict or silent: it rejects a whole ClientHello when one
//! extension body is odd (we keep the extension *type* list regardless and only skip that
//! body), it has no SSLv2 CLIENT-HELLO parser, and it does not know the draft-era TLS 1.3
//! ServerHello layouts (no session id, no compression, type-6 HelloRetryRequest).

use std::sync::Arc;

use super::fingerprint::ja4_alpn;
use crate::tls::codes::ExtensionType;

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
    /// JA4's two characters for the first ALPN protocol, from its raw bytes (see
    /// [`super::fingerprint::ja4_alpn`]); `None` without one.
    pub ja4_alpn: Option<[u8; 2]>,
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
    /// JA4S's two characters for it, from its raw bytes.
    pub ja4_alpn: Option<[u8; 2]>,
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

/// A bounds-checked big-endian cursor: every read either succeeds or yields
/// [`HelloError::Truncated`], so wire data can never cause a panic.
#[derive(Debug, Clone, Copy)]
struct Reader<'a> {
    buf: &'a [u8],
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], message: &'static str) -> Self {
        Reader { buf, message }
    }

    fn truncated(&self) -> HelloError {
        HelloError::Truncated {
            message: self.message,
        }
    }

    fn malformed(&self, what: &'static str) -> HelloError {
        HelloError::Malformed {
            message: self.message,
            what,
        }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], HelloError> {
        if n > self.buf.len() {
            return Err(self.truncated());
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], HelloError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, HelloError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, HelloError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u24(&mut self) -> Result<usize, HelloError> {
        let [a, b, c] = self.array()?;
        Ok(usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c))
    }

    fn u32(&mut self) -> Result<u32, HelloError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A vector with a 1-byte length prefix, as a sub-reader.
    fn vec8(&mut self) -> Result<Reader<'a>, HelloError> {
        let n = usize::from(self.u8()?);
        Ok(Reader::new(self.take(n)?, self.message))
    }

    /// A vector with a 2-byte length prefix, as a sub-reader.
    fn vec16(&mut self) -> Result<Reader<'a>, HelloError> {
        let n = usize::from(self.u16()?);
        Ok(Reader::new(self.take(n)?, self.message))
    }

    /// A vector with a 3-byte length prefix, as a sub-reader.
    fn vec24(&mut self) -> Result<Reader<'a>, HelloError> {
        let n = self.u24()?;
        Ok(Reader::new(self.take(n)?, self.message))
    }

    /// The rest as big-endian u16 values; an odd byte count is malformed.
    fn u16_list(self, what: &'static str) -> Result<Vec<u16>, HelloError> {
        if !self.buf.len().is_multiple_of(2) {
            return Err(self.malformed(what));
        }
        Ok(self
            .buf
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect())
    }
}

/// One extension as framed on the wire: type and body.
struct RawExtension<'a> {
    typ: u16,
    body: Reader<'a>,
}

/// The (type, body) pairs of an extensions block in wire order, without allocating. Only
/// the framing is checked here: bodies are decoded by the caller one at a time, so one odd
/// body cannot hide the other extensions. A broken framing ends the iteration with an error.
struct Extensions<'a> {
    block: Reader<'a>,
}

impl<'a> Iterator for Extensions<'a> {
    type Item = Result<RawExtension<'a>, HelloError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.block.is_empty() {
            return None;
        }
        let item = self.block.u16().and_then(|typ| {
            Ok(RawExtension {
                typ,
                body: self.block.vec16()?,
            })
        });
        if item.is_err() {
            self.block.buf = &[];
        }
        Some(item)
    }
}

/// The optional extensions block at the end of a hello: absent (old clients and servers send
/// none) or a 2-byte length and the extensions. Bytes after the block are ignored.
fn optional_extensions<'a>(r: &mut Reader<'a>) -> Result<Extensions<'a>, HelloError> {
    let block = if r.is_empty() {
        Reader::new(&[], r.message)
    } else {
        r.vec16()?
    };
    Ok(Extensions { block })
}

/// The cipher suites of a hello: a 2-byte-length list of u16.
fn cipher_list(r: &mut Reader<'_>) -> Result<Vec<u16>, HelloError> {
    r.vec16()?.u16_list("odd cipher_suites length")
}

/// Lossy text of a protocol name or host name: these are meant to be ASCII, and a passive
/// analyzer reports what was sent rather than refusing it.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses a ClientHello body (handshake type 1).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
    let mut r = Reader::new(body, "ClientHello");
    let mut hello = ClientHello {
        legacy_version: r.u16()?,
        ..ClientHello::default()
    };
    r.take(32)?; // random
    let session_id = r.vec8()?.buf;
    hello.session_id_len = session_id.len() as u8;
    hello.session_id = session_id.to_vec();
    hello.cipher_suites = cipher_list(&mut r)?;
    hello.compression = r.vec8()?.buf.to_vec();
    let extensions = optional_extensions(&mut r)?;
    // One allocation: an extension takes at least 4 bytes of the block.
    hello.extensions = Vec::with_capacity(extensions.block.buf.len() / 4);
    for e in extensions {
        let e = e?;
        hello.extensions.push(e.typ);
        if decode_client_extension(&mut hello, e.typ, e.body).is_err() {
            hello.malformed_extensions.push(e.typ);
        }
    }
    hello.renegotiation_info |= hello.cipher_suites.contains(&RENEGOTIATION_SCSV);
    Ok(hello)
}

/// Decodes one ClientHello extension body into `hello`; unknown types are only listed.
fn decode_client_extension(
    hello: &mut ClientHello,
    typ: u16,
    mut body: Reader<'_>,
) -> Result<(), HelloError> {
    match ExtensionType(typ) {
        ExtensionType::SERVER_NAME => {
            // An empty body is legal in a ServerHello; in a ClientHello it has no name.
            if body.is_empty() {
                return Ok(());
            }
            let mut list = body.vec16()?;
            while !list.is_empty() {
                let name_type = list.u8()?;
                let name = list.vec16()?;
                if name_type == 0 && hello.sni.is_none() {
                    hello.sni = Some(text(name.buf));
                }
            }
        }
        ExtensionType::SUPPORTED_GROUPS => {
            hello.groups = body.vec16()?.u16_list("odd supported_groups")?
        }
        ExtensionType::EC_POINT_FORMATS => hello.ec_point_formats = body.vec8()?.buf.to_vec(),
        ExtensionType::SIGNATURE_ALGORITHMS => {
            hello.sig_algs = body.vec16()?.u16_list("odd signature_algorithms")?
        }
        ExtensionType::ALPN => {
            let mut list = body.vec16()?;
            while !list.is_empty() {
                let protocol = list.vec8()?.buf;
                if hello.alpn.is_empty() {
                    hello.ja4_alpn = ja4_alpn(protocol);
                }
                hello.alpn.push(text(protocol));
            }
        }
        ExtensionType::SESSION_TICKET => hello.session_ticket_len = Some(body.buf.len() as u16),
        ExtensionType::KEY_SHARE | ExtensionType::KEY_SHARE_DRAFT => {
            let mut list = body.vec16()?;
            while !list.is_empty() {
                hello.key_share_groups.push(list.u16()?);
                list.vec16()?; // key_exchange
            }
        }
        ExtensionType::PRE_SHARED_KEY => {
            let mut identities = body.vec16()?;
            let mut count: u16 = 0;
            while !identities.is_empty() {
                identities.vec16()?; // identity
                identities.u32()?; // obfuscated_ticket_age
                count = count.saturating_add(1);
            }
            hello.psk_identities = Some(count);
        }
        ExtensionType::EARLY_DATA => hello.early_data = true,
        ExtensionType::SUPPORTED_VERSIONS => {
            hello.supported_versions = body.vec8()?.u16_list("odd supported_versions")?
        }
        ExtensionType::PSK_KEY_EXCHANGE_MODES => hello.psk_modes = body.vec8()?.buf.to_vec(),
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
    let mut r = Reader::new(msg, "SSLv2 CLIENT-HELLO");
    if r.u8()? != 1 {
        return Err(r.malformed("not a CLIENT-HELLO"));
    }
    let legacy_version = r.u16()?;
    let cipher_spec_len = usize::from(r.u16()?);
    let session_id_len = usize::from(r.u16()?);
    let challenge_len = usize::from(r.u16()?);
    if !cipher_spec_len.is_multiple_of(3) {
        return Err(r.malformed("cipher_spec_length not a multiple of 3"));
    }
    let specs = r.take(cipher_spec_len)?;
    let session_id = r.take(session_id_len)?;
    r.take(challenge_len)?;
    let mut hello = ClientHello {
        sslv2_format: true,
        legacy_version,
        session_id_len: u8::try_from(session_id.len()).map_err(|_| r.malformed("session id"))?,
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
    Ok(hello)
}

/// SSLv2 CLIENT-HELLO message type.
pub const SSLV2_CLIENT_HELLO: u8 = 1;
/// SSLv2 SERVER-HELLO message type.
pub const SSLV2_SERVER_HELLO: u8 = 4;

/// Reads an SSLv2 SERVER-HELLO (from its type byte): the version and the certificate.
/// SSLv2 cipher kinds are 3-byte codes with no TLS equivalent, so `cipher` stays 0.
pub fn parse_sslv2_server_hello(msg: &[u8]) -> Option<(ServerHello, &[u8])> {
    let be16 = |at: usize| match msg.get(at..at + 2) {
        Some(&[hi, lo]) => Some(usize::from(hi) << 8 | usize::from(lo)),
        _ => None,
    };
    let version = u16::try_from(be16(3)?).ok()?;
    let cert_len = be16(5)?;
    let ciphers_len = be16(7)?;
    let conn_id_len = be16(9)?;
    if msg.len() < 11 + cert_len + ciphers_len + conn_id_len {
        return None;
    }
    let cert = msg.get(11..11 + cert_len)?;
    let sh = ServerHello {
        sslv2_format: true,
        legacy_version: version,
        version,
        ..ServerHello::default()
    };
    Some((sh, cert))
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
    let mut r = Reader::new(body, "ServerHello");
    let legacy_version = r.u16()?;
    let mut hello = ServerHello {
        legacy_version,
        ..ServerHello::default()
    };
    if handshake_type == 6 {
        hello.hrr = true;
        if legacy_version >= 0x7f13 && is_early_draft(legacy_version) {
            hello.cipher = r.u16()?;
        }
    } else {
        let random: [u8; 32] = r.array()?;
        hello.hrr = random == HRR_RANDOM;
        if is_early_draft(legacy_version) {
            hello.cipher = r.u16()?;
        } else {
            hello.session_id = r.vec8()?.buf.to_vec();
            hello.cipher = r.u16()?;
            hello.compression = r.u8()?;
        }
    }
    let mut selected_version = None;
    for e in optional_extensions(&mut r)? {
        let e = e?;
        hello.extensions.push(e.typ);
        match decode_server_extension(&mut hello, e.typ, e.body) {
            Ok(Some(v)) => selected_version = Some(v),
            Ok(None) => {}
            Err(_) => hello.malformed_extensions.push(e.typ),
        }
    }
    hello.version = selected_version.unwrap_or(legacy_version);
    Ok(hello)
}

/// Decodes one ServerHello extension body into `hello`; returns the selected version when
/// the extension is supported_versions.
fn decode_server_extension(
    hello: &mut ServerHello,
    typ: u16,
    mut body: Reader<'_>,
) -> Result<Option<u16>, HelloError> {
    match ExtensionType(typ) {
        ExtensionType::SUPPORTED_VERSIONS => return Ok(Some(body.u16()?)),
        // A HelloRetryRequest names only the group; a ServerHello adds its key share.
        ExtensionType::KEY_SHARE | ExtensionType::KEY_SHARE_DRAFT => {
            hello.selected_group = Some(body.u16()?)
        }
        ExtensionType::ALPN => {
            let mut list = body.vec16()?;
            let protocol = list.vec8()?.buf;
            hello.ja4_alpn = ja4_alpn(protocol);
            hello.alpn = Some(text(protocol));
        }
        ExtensionType::PRE_SHARED_KEY => hello.psk_selected = Some(body.u16()?),
        ExtensionType::SESSION_TICKET => hello.session_ticket = true,
        ExtensionType::RENEGOTIATION_INFO => hello.renegotiation_info = true,
        _ => {}
    }
    Ok(None)
}

/// The DER certificates of a Certificate body (type 11), leaf first. `tls13_format` selects
/// the TLS 1.3 layout (request context, per-entry extensions).
pub fn parse_certificate_list(body: &[u8], tls13_format: bool) -> Result<Vec<&[u8]>, HelloError> {
    let mut r = Reader::new(body, "Certificate");
    if tls13_format {
        r.vec8()?; // certificate_request_context
    }
    let mut list = r.vec24()?;
    let mut certs = Vec::new();
    while !list.is_empty() {
        certs.push(list.vec24()?.buf);
        if tls13_format {
            list.vec16()?; // per-entry extensions
        }
    }
    Ok(certs)
}

/// The named curve of an ECDHE ServerKeyExchange body (type 12), if it is one.
///
/// Only `ECCurveType.named_curve` (3) carries a group; explicit curves and the DHE/RSA
/// layouts (which do not start with a curve type) yield `None`. The caller knows from the
/// cipher suite whether the exchange is ECDHE; a DHE body could begin with a 3 by chance.
pub fn parse_server_key_exchange_curve(body: &[u8]) -> Option<u16> {
    match body {
        [3, hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// Lifetime hint and ticket length of a TLS ≤ 1.2 NewSessionTicket body (type 4).
pub fn parse_new_session_ticket(body: &[u8]) -> Option<(u32, u16)> {
    let mut r = Reader::new(body, "NewSessionTicket");
    let lifetime = r.u32().ok()?;
    let ticket = r.vec16().ok()?;
    Some((lifetime, ticket.buf.len() as u16))
}

#[cfg(test)]
mod tests;
