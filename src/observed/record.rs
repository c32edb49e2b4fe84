//! A connection record (`"type":"connection"` in the NDJSON log) as `check` and `diff` need it:
//! the fields of the README's table they judge, parsed leniently (names the reader does not
//! know are ignored, missing ones take their empty value) and kept compact. What repeats across
//! connections (a client's offer, a certificate) is shared, so a million records of a few
//! client stacks and servers cost a million small structs, not a million copies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::time::parse_rfc3339;
use crate::tls::names::{is_grease, version_rank};

/// One end of a connection, as the record writes it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// Address.
    pub ip: IpAddr,
    /// Port (0 for transports without ports).
    #[serde(default)]
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// What a client offered in its first ClientHello, shared by every connection that offered
/// exactly the same.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct Offer {
    /// Versions offered: `supported_versions` when present, else the legacy version (GREASE
    /// left out).
    pub versions: Vec<u16>,
    /// Cipher suites in wire order (GREASE included, as on the wire).
    pub cipher_suites: Vec<u16>,
    /// Supported groups (GREASE included).
    pub groups: Vec<u16>,
    /// Groups with a key share.
    pub key_share_groups: Vec<u16>,
    /// Signature schemes.
    pub sig_algs: Vec<u16>,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// JA4 fingerprint.
    pub ja4: Option<String>,
    /// JA3 fingerprint (MD5).
    pub ja3: Option<String>,
}

impl Offer {
    /// The highest version offered, drafts ranked as the version they stand for.
    pub fn highest_version(&self) -> Option<u16> {
        self.versions.iter().filter_map(|&v| version_rank(v)).max()
    }

    /// Whether the client asked for an OCSP response (status_request, extension 5).
    pub fn requests_ocsp(&self) -> bool {
        self.extensions.contains(&5)
    }

    /// Values of a list without GREASE.
    pub fn without_grease(list: &[u16]) -> impl Iterator<Item = u16> + '_ {
        list.iter().copied().filter(|&v| !is_grease(v))
    }
}

/// A certificate as sent, shared by every connection that presented it.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Certificate {
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// Subject (RFC 4514).
    pub subject: String,
    /// Issuer (RFC 4514).
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// DNS names of the subjectAltName extension.
    pub san_dns: Vec<String>,
    /// Start of validity (RFC 3339).
    pub not_before: Option<String>,
    /// End of validity (RFC 3339).
    pub not_after: Option<String>,
    /// `rsa`, `ec`, `dsa`, `ed25519`, …
    pub key_type: Option<String>,
    /// Key size in bits.
    pub key_bits: Option<u32>,
    /// Named curve of an EC key (`prime256v1`, …).
    pub key_curve: Option<String>,
    /// Signature algorithm (`sha256WithRSAEncryption`, `ecdsa-with-SHA256`, …).
    pub signature_algorithm: Option<String>,
    /// Issuer and subject are the same and the signature verifies with its own key.
    pub self_signed: bool,
    /// A CA certificate.
    pub is_ca: bool,
    /// Findings judged at capture time.
    pub findings: Vec<String>,
}

impl Certificate {
    /// Start of validity in microseconds since the epoch.
    pub fn not_before_us(&self) -> Option<i64> {
        self.not_before.as_deref().and_then(parse_rfc3339)
    }

    /// End of validity in microseconds since the epoch.
    pub fn not_after_us(&self) -> Option<i64> {
        self.not_after.as_deref().and_then(parse_rfc3339)
    }
}

/// One TLS connection as its record tells it.
#[derive(Debug)]
pub struct Connection {
    /// First packet (`ts`), microseconds since the epoch.
    pub ts_us: i64,
    /// The side that sent the ClientHello (else the SYN).
    pub client: Endpoint,
    /// The other side.
    pub server: Endpoint,
    /// `tcp`, `quic`, `dtls` (`tcp` for records written before transports were named).
    pub transport: Arc<str>,
    /// SNI of the first ClientHello.
    pub sni: Option<Arc<str>>,
    /// Negotiated version code (from the ServerHello).
    pub version: Option<u16>,
    /// Negotiated cipher suite code.
    pub cipher: Option<u16>,
    /// Key-exchange group used: the TLS 1.3 key share, else the ServerKeyExchange curve.
    pub group: Option<u16>,
    /// `established`, `resumed`, `failed`, `no_response`, `incomplete`.
    pub outcome: Arc<str>,
    /// Failure cause, when the connection failed.
    pub failure_cause: Option<Arc<str>>,
    /// ClientHello → handshake done, microseconds.
    pub handshake_us: Option<u64>,
    /// The first ClientHello.
    pub offer: Option<Arc<Offer>>,
    /// The server's chain as sent, leaf first (empty when encrypted or not sent).
    pub certificates: Vec<Arc<Certificate>>,
    /// An OCSP response was stapled (CertificateStatus seen).
    pub ocsp_stapled: bool,
    /// The client offered a resumption mechanism.
    pub resumption_offered: bool,
    /// The server accepted it.
    pub resumed: bool,
    /// Renegotiations seen.
    pub renegotiations: u64,
    /// Of which started by the client.
    pub client_renegotiations: u64,
    /// RFC 5746 secure renegotiation supported by both sides (None: not applicable).
    pub secure_renegotiation: Option<bool>,
}

impl Connection {
    /// The server's name as reports and verdicts use it: the SNI, else ip:port.
    pub fn server_name(&self) -> String {
        match &self.sni {
            Some(sni) => sni.to_string(),
            None => self.server.to_string(),
        }
    }

    /// The client's JA4 fingerprint, when a ClientHello was seen.
    pub fn ja4(&self) -> Option<&str> {
        self.offer.as_deref().and_then(|o| o.ja4.as_deref())
    }

    /// The handshake got a ServerHello (so something was negotiated).
    pub fn negotiated(&self) -> bool {
        self.version.is_some()
    }
}

/// The record as written; converted into a [`Connection`] by [`Interner::connection`].
#[derive(Deserialize)]
pub(super) struct RawRecord {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    ts: String,
    client: Option<Endpoint>,
    server: Option<Endpoint>,
    #[serde(default)]
    transport: Option<String>,
    #[serde(default)]
    sni: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    failure: Option<RawFailure>,
    #[serde(default)]
    timing_us: Option<RawTiming>,
    #[serde(default)]
    client_hello: Option<RawClientHello>,
    #[serde(default)]
    server_hello: Option<RawServerHello>,
    #[serde(default)]
    server_key_exchange_group: Option<u16>,
    #[serde(default)]
    certificate_status: bool,
    #[serde(default)]
    certificates: Vec<Certificate>,
    #[serde(default)]
    resumption: Option<RawResumption>,
    #[serde(default)]
    renegotiations: u64,
    #[serde(default)]
    renegotiation: Option<RawRenegotiation>,
}

#[derive(Deserialize)]
struct RawFailure {
    cause: String,
}

#[derive(Deserialize)]
struct RawTiming {
    #[serde(default)]
    client_hello_to_done: Option<u64>,
}

#[derive(Deserialize)]
#[serde(default)]
#[derive(Default)]
struct RawClientHello {
    version: u16,
    supported_versions: Vec<u16>,
    cipher_suites: Vec<u16>,
    extensions: Vec<u16>,
    groups: Vec<u16>,
    key_share_groups: Vec<u16>,
    sig_algs: Vec<u16>,
    ja3: Option<String>,
    ja4: Option<String>,
}

#[derive(Deserialize)]
struct RawServerHello {
    version: u16,
    cipher: u16,
    #[serde(default)]
    group: Option<u16>,
}

#[derive(Deserialize)]
struct RawResumption {
    #[serde(default)]
    offered: Vec<String>,
    #[serde(default)]
    accepted: Option<String>,
}

#[derive(Deserialize)]
struct RawRenegotiation {
    #[serde(default)]
    client_initiated: u64,
    #[serde(default)]
    secure: Option<bool>,
}

impl RawRecord {
    /// Whether this line is a connection record (live logs also hold windows and alerts).
    pub(super) fn is_connection(&self) -> bool {
        self.kind == "connection"
    }
}

/// Shares what repeats across records: offers, certificates and short strings.
#[derive(Default)]
pub(super) struct Interner {
    offers: HashMap<Arc<Offer>, ()>,
    certificates: HashMap<String, Arc<Certificate>>,
    strings: HashMap<String, Arc<str>>,
}

/// Distinct values of each kind remembered for sharing; beyond this many, new ones are kept
/// unshared (memory then grows with them, as it would without sharing), so hostile variety
/// cannot make the tables themselves grow without bound.
const MAX_SHARED: usize = 100_000;

impl Interner {
    fn string(&mut self, s: String) -> Arc<str> {
        if let Some(shared) = self.strings.get(&s) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = Arc::from(s.as_str());
        if self.strings.len() < MAX_SHARED {
            self.strings.insert(s, Arc::clone(&shared));
        }
        shared
    }

    fn offer(&mut self, offer: Offer) -> Arc<Offer> {
        if let Some((shared, ())) = self.offers.get_key_value(&offer) {
            return Arc::clone(shared);
        }
        let shared = Arc::new(offer);
        if self.offers.len() < MAX_SHARED {
            self.offers.insert(Arc::clone(&shared), ());
        }
        shared
    }

    fn certificate(&mut self, cert: Certificate) -> Arc<Certificate> {
        if let Some(shared) = self.certificates.get(&cert.sha256) {
            return Arc::clone(shared);
        }
        let shared = Arc::new(cert);
        if self.certificates.len() < MAX_SHARED {
            self.certificates
                .insert(shared.sha256.clone(), Arc::clone(&shared));
        }
        shared
    }

    /// The connection a record describes; `None` when it lacks the endpoints every record has.
    pub(super) fn connection(&mut self, raw: RawRecord) -> Option<Connection> {
        let (client, server) = (raw.client?, raw.server?);
        let offer = raw.client_hello.map(|ch| {
            let mut versions: Vec<u16> = Offer::without_grease(&ch.supported_versions).collect();
            if versions.is_empty() {
                versions.push(ch.version);
            }
            self.offer(Offer {
                versions,
                cipher_suites: ch.cipher_suites,
                groups: ch.groups,
                key_share_groups: ch.key_share_groups,
                sig_algs: ch.sig_algs,
                extensions: ch.extensions,
                ja4: ch.ja4,
                ja3: ch.ja3,
            })
        });
        let (resumption_offered, resumed) = raw.resumption.map_or((false, false), |r| {
            (!r.offered.is_empty(), r.accepted.is_some())
        });
        let (client_renegotiations, secure_renegotiation) = raw
            .renegotiation
            .map_or((0, None), |r| (r.client_initiated, r.secure));
        let server_hello = raw.server_hello;
        Some(Connection {
            ts_us: parse_rfc3339(&raw.ts).unwrap_or(0),
            client,
            server,
            transport: self.string(raw.transport.unwrap_or_else(|| "tcp".into())),
            sni: raw.sni.map(|s| self.string(s)),
            version: server_hello.as_ref().map(|sh| sh.version),
            cipher: server_hello.as_ref().map(|sh| sh.cipher),
            group: server_hello
                .as_ref()
                .and_then(|sh| sh.group)
                .or(raw.server_key_exchange_group),
            outcome: self.string(raw.outcome.unwrap_or_else(|| "incomplete".into())),
            failure_cause: raw.failure.map(|f| self.string(f.cause)),
            handshake_us: raw.timing_us.and_then(|t| t.client_hello_to_done),
            offer,
            certificates: raw
                .certificates
                .into_iter()
                .map(|c| self.certificate(c))
                .collect(),
            ocsp_stapled: raw.certificate_status,
            resumption_offered,
            resumed,
            renegotiations: raw.renegotiations,
            client_renegotiations,
            secure_renegotiation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"type":"connection","ts":"2026-11-22T16:18:37.177739Z",
        "client":{"ip":"127.0.0.1","port":44762},"server":{"ip":"127.0.0.1","port":20013},
        "version":"TLSv1.2","sni":"server.test","outcome":"established","failure":null,
        "timing_us":{"client_hello_to_done":3900},"client_hello":{"version":771,
        "supported_versions":[2570,772,771],"cipher_suites":[49199,255],"extensions":[0,5],
        "ja4":"t13d020700_x_y"},"server_hello":{"version":771,"cipher":49199,"group":null},
        "server_key_exchange_group":29,"certificates":[{"sha256":"ab","subject":"CN=s",
        "key_type":"rsa","key_bits":2048,"findings":["self_signed"]}],
        "resumption":{"offered":["ticket"],"accepted":null},"renegotiations":1,
        "renegotiation":{"client_initiated":1,"secure":true},"a_future_field":[1,2]}"#;

    #[test]
    fn reads_the_fields_it_judges_and_ignores_others() {
        let raw: RawRecord = serde_json::from_str(RECORD).unwrap();
        assert!(raw.is_connection());
        let c = Interner::default().connection(raw).unwrap();
        assert_eq!(c.server_name(), "server.test");
        assert_eq!(
            (c.version, c.cipher, c.group),
            (Some(771), Some(49199), Some(29))
        );
        assert_eq!(c.handshake_us, Some(3900));
        let offer = c.offer.as_deref().unwrap();
        assert_eq!(offer.versions, vec![772, 771], "GREASE left out");
        assert_eq!(offer.highest_version(), Some(772));
        assert!(offer.requests_ocsp());
        assert_eq!(c.certificates[0].key_bits, Some(2048));
        assert!(c.resumption_offered && !c.resumed);
        assert_eq!((c.renegotiations, c.client_renegotiations), (1, 1));
        assert_eq!(c.secure_renegotiation, Some(true));
        assert_eq!(&*c.transport, "tcp");
    }

    #[test]
    fn repeated_offers_and_certificates_are_shared() {
        let mut interner = Interner::default();
        let a = interner
            .connection(serde_json::from_str(RECORD).unwrap())
            .unwrap();
        let b = interner
            .connection(serde_json::from_str(RECORD).unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(
            a.offer.as_ref().unwrap(),
            b.offer.as_ref().unwrap()
        ));
        assert!(Arc::ptr_eq(&a.certificates[0], &b.certificates[0]));
    }

    #[test]
    fn ipv6_endpoints_print_in_brackets() {
        let e = Endpoint {
            ip: "::1".parse().unwrap(),
            port: 443,
        };
        assert_eq!(e.to_string(), "[::1]:443");
    }
}
