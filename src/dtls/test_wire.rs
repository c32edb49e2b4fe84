//! Builders of DTLS wire bytes for the unit tests: records, fragments and hello bodies.

use crate::tls::codes::ProtocolVersion;

const DTLS1_2: u16 = ProtocolVersion::DTLS12.0;

/// A classic record: type, version, epoch, 48-bit sequence number, body.
pub fn record(content_type: u8, version: u16, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&epoch.to_be_bytes());
    r.extend_from_slice(&seq.to_be_bytes()[2..]);
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// One handshake fragment: `len` bytes of `body` from `offset`.
pub fn fragment(msg_type: u8, seq: u16, body: &[u8], offset: usize, len: usize) -> Vec<u8> {
    let mut f = vec![msg_type];
    f.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&(offset as u32).to_be_bytes()[1..]);
    f.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    f.extend_from_slice(&body[offset..offset + len]);
    f
}

/// A DTLS 1.2 handshake record holding one whole message.
pub fn handshake_record(
    epoch: u16,
    record_seq: u64,
    msg_type: u8,
    message_seq: u16,
    body: &[u8],
) -> Vec<u8> {
    let frag = fragment(msg_type, message_seq, body, 0, body.len());
    record(22, DTLS1_2, epoch, record_seq, &frag)
}

/// One extension: type and body.
fn extension(out: &mut Vec<u8>, typ: u16, body: &[u8]) {
    out.extend_from_slice(&typ.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// The connection_id extension (54).
fn cid_extension(out: &mut Vec<u8>, cid: &Option<Vec<u8>>) {
    if let Some(cid) = cid {
        let mut body = vec![cid.len() as u8];
        body.extend_from_slice(cid);
        extension(out, 54, &body);
    }
}

/// What a test ClientHello holds.
#[derive(Clone, Debug)]
pub struct ClientHelloSpec {
    /// client_version.
    pub version: u16,
    /// Every byte of the random.
    pub random: u8,
    /// The cookie.
    pub cookie: Vec<u8>,
    /// server_name.
    pub sni: Vec<u8>,
    /// connection_id (54).
    pub cid: Option<Vec<u8>>,
    /// supported_versions (43), when not empty.
    pub supported_versions: Vec<u16>,
}

impl Default for ClientHelloSpec {
    fn default() -> Self {
        ClientHelloSpec {
            version: DTLS1_2,
            random: 0x11,
            cookie: Vec::new(),
            sni: b"example.com".to_vec(),
            cid: None,
            supported_versions: Vec::new(),
        }
    }
}

impl ClientHelloSpec {
    /// The body.
    pub fn body(&self) -> Vec<u8> {
        let mut b = self.version.to_be_bytes().to_vec();
        b.extend_from_slice(&[self.random; 32]);
        b.push(0); // session id
        b.push(self.cookie.len() as u8);
        b.extend_from_slice(&self.cookie);
        b.extend_from_slice(&[0, 4, 0xc0, 0x2f, 0xc0, 0x30]);
        b.extend_from_slice(&[1, 0]);
        let mut exts = Vec::new();
        let mut sni = ((self.sni.len() + 3) as u16).to_be_bytes().to_vec();
        sni.push(0);
        sni.extend_from_slice(&(self.sni.len() as u16).to_be_bytes());
        sni.extend_from_slice(&self.sni);
        extension(&mut exts, 0, &sni);
        extension(&mut exts, 10, &[0, 2, 0, 0x1d]);
        if !self.supported_versions.is_empty() {
            let mut sv = vec![(self.supported_versions.len() * 2) as u8];
            for v in &self.supported_versions {
                sv.extend_from_slice(&v.to_be_bytes());
            }
            extension(&mut exts, 43, &sv);
        }
        cid_extension(&mut exts, &self.cid);
        b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        b.extend_from_slice(&exts);
        b
    }
}

/// A ClientHello body with `version`, `cookie` and server name `sni`.
pub fn client_hello_body(version: u16, cookie: &[u8], sni: &[u8]) -> Vec<u8> {
    ClientHelloSpec {
        version,
        cookie: cookie.to_vec(),
        sni: sni.to_vec(),
        ..ClientHelloSpec::default()
    }
    .body()
}

/// What a test ServerHello holds.
#[derive(Clone, Debug, Default)]
pub struct ServerHelloSpec {
    /// supported_versions (43) selected version (DTLS 1.3).
    pub selected: Option<u16>,
    /// A HelloRetryRequest (its fixed random).
    pub hrr: bool,
    /// A cookie extension (44), as a DTLS 1.3 HelloRetryRequest carries.
    pub cookie: Option<Vec<u8>>,
    /// connection_id (54).
    pub cid: Option<Vec<u8>>,
}

impl ServerHelloSpec {
    /// The body (server_version 0xfefd, cipher 0xc02f or 0x1301 with a selected version).
    pub fn body(&self) -> Vec<u8> {
        let mut b = DTLS1_2.to_be_bytes().to_vec();
        if self.hrr {
            b.extend_from_slice(&crate::tls::handshake::hello::HRR_RANDOM);
        } else {
            b.extend_from_slice(&[0x22; 32]);
        }
        b.push(0);
        let cipher: u16 = if self.selected.is_some() {
            0x1301
        } else {
            0xc02f
        };
        b.extend_from_slice(&cipher.to_be_bytes());
        b.push(0);
        let mut exts = Vec::new();
        if let Some(v) = self.selected {
            extension(&mut exts, 43, &v.to_be_bytes());
        }
        if let Some(cookie) = &self.cookie {
            let mut body = (cookie.len() as u16).to_be_bytes().to_vec();
            body.extend_from_slice(cookie);
            extension(&mut exts, 44, &body);
        }
        cid_extension(&mut exts, &self.cid);
        b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        b.extend_from_slice(&exts);
        b
    }
}

/// A HelloVerifyRequest body.
pub fn hello_verify_request_body(version: u16, cookie: &[u8]) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.push(cookie.len() as u8);
    b.extend_from_slice(cookie);
    b
}
