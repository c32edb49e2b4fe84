//! X.509 certificate facts (via `x509-parser`) and a per-worker cache so that each distinct
//! certificate (by its DER bytes) is parsed once, however many connections carry it.
//!
//! Conventions, chosen to match what other tools print so that values compare exactly:
//! - subject and issuer are RFC 4514 strings: most-specific RDN first (the reverse of DER
//!   order), short names `CN L ST O OU C STREET DC UID`, other attributes as dotted OIDs, the
//!   value as text with `\` escapes for `, + " \ < > ;` (as Python `cryptography`'s
//!   `rfc4514_string` does);
//! - the serial number is uppercase hex without leading zero bytes (as OpenSSL and Zeek);
//! - curve names are OpenSSL's short names (`prime256v1`, `secp384r1`, ...).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::memo::BoundedMemo;

use sha2::{Digest as _, Sha256};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::{FromDer as _, X509Certificate, X509Name};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::AttributeTypeAndValue;

/// Facts of one X.509 certificate, parsed once per distinct DER (serializable: the report's
/// merge state carries the certificate inventory).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Certificate {
    /// SHA-256 of the DER, lowercase hex.
    pub sha256: String,
    /// DER length in bytes.
    pub der_len: usize,
    /// Subject as an RFC 4514 string.
    pub subject: String,
    /// Subject common name(s).
    pub subject_cn: Vec<String>,
    /// Issuer as an RFC 4514 string.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// DNS names of the subjectAltName extension.
    pub san_dns: Vec<String>,
    /// IP addresses of the subjectAltName extension, as text.
    pub san_ip: Vec<String>,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
    /// Public key type: `"rsa"`, `"ec"`, `"ed25519"`, `"dsa"`, ... or `"unknown"`.
    pub key_type: String,
    /// Public key size in bits (RSA modulus, EC field size), when known.
    pub key_bits: Option<u32>,
    /// EC curve name, when EC.
    pub key_curve: Option<String>,
    /// Signature algorithm name (e.g. `sha256WithRSAEncryption`), or its OID.
    pub signature_algorithm: String,
    /// Subject equals issuer (a self-issued certificate).
    pub self_signed: bool,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    /// Why the DER did not parse, when it did not (the other fields are then empty).
    pub parse_error: Option<String>,
}

/// RFC 4514 short names of attribute types, by OID.
const ATTRIBUTE_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.6", "C"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// Signature algorithm names (OpenSSL's long names), by OID.
const SIGNATURE_NAMES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.2", "md2WithRSAEncryption"),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.2.840.113549.1.1.10", "rsassaPss"),
    ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption"),
    ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption"),
    ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption"),
    ("1.2.840.113549.1.1.14", "sha224WithRSAEncryption"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10045.4.3.1", "ecdsa-with-SHA224"),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512"),
    ("1.2.840.10040.4.3", "dsaWithSHA1"),
    ("2.16.840.1.101.3.4.3.2", "dsa_with_SHA256"),
    ("1.3.101.112", "ED25519"),
    ("1.3.101.113", "ED448"),
];

/// Public key algorithm OIDs and the `key_type` they report.
const KEY_TYPES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.1", "rsa"),
    ("1.2.840.113549.1.1.10", "rsa"),
    ("1.2.840.10045.2.1", "ec"),
    ("1.3.101.112", "ed25519"),
    ("1.3.101.113", "ed448"),
    ("1.2.840.10040.4.1", "dsa"),
];

/// Named curves: OID, OpenSSL name, field size in bits.
const CURVES: &[(&str, &str, u32)] = &[
    ("1.2.840.10045.3.1.1", "prime192v1", 192),
    ("1.3.132.0.33", "secp224r1", 224),
    ("1.2.840.10045.3.1.7", "prime256v1", 256),
    ("1.3.132.0.34", "secp384r1", 384),
    ("1.3.132.0.35", "secp521r1", 521),
    ("1.3.132.0.10", "secp256k1", 256),
    ("1.3.36.3.3.2.8.1.1.7", "brainpoolP256r1", 256),
    ("1.3.36.3.3.2.8.1.1.11", "brainpoolP384r1", 384),
    ("1.3.36.3.3.2.8.1.1.13", "brainpoolP512r1", 512),
];

/// The entry of `table` for `oid`.
fn lookup<'t, T>(table: &'t [(&str, T)], oid: &Oid<'_>) -> Option<&'t T> {
    let id = oid.to_id_string();
    table.iter().find(|(k, _)| *k == id).map(|(_, v)| v)
}

/// Parses one DER certificate. Never fails: a DER that does not parse yields a `Certificate`
/// with its hash, length and `parse_error` set.
pub fn parse_certificate(der: &[u8]) -> Certificate {
    let mut cert = Certificate {
        sha256: hex::encode(Sha256::digest(der)),
        der_len: der.len(),
        ..Certificate::default()
    };
    match X509Certificate::from_der(der) {
        Ok((_, x509)) => fill(&mut cert, &x509),
        Err(e) => cert.parse_error = Some(e.to_string()),
    }
    cert
}

/// Copies the facts of a parsed certificate into `cert`.
fn fill(cert: &mut Certificate, x509: &X509Certificate<'_>) {
    cert.subject = rfc4514(x509.subject());
    cert.issuer = rfc4514(x509.issuer());
    cert.subject_cn = x509
        .subject()
        .iter_common_name()
        .map(attribute_text)
        .collect();
    cert.serial = serial_hex(x509.raw_serial());
    cert.not_before = x509.validity().not_before.timestamp();
    cert.not_after = x509.validity().not_after.timestamp();
    cert.self_signed = x509.subject().as_raw() == x509.issuer().as_raw();
    cert.is_ca = x509.is_ca();
    let sig_oid = &x509.signature_algorithm.algorithm;
    cert.signature_algorithm = lookup(SIGNATURE_NAMES, sig_oid)
        .map(|s| (*s).to_owned())
        .unwrap_or_else(|| sig_oid.to_id_string());
    fill_key(cert, x509);
    if let Ok(Some(san)) = x509.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => cert.san_dns.push((*dns).to_owned()),
                GeneralName::IPAddress(ip) => cert.san_ip.push(ip_text(ip)),
                _ => {}
            }
        }
    }
}

/// Key type, size and curve.
fn fill_key(cert: &mut Certificate, x509: &X509Certificate<'_>) {
    let spki = x509.public_key();
    cert.key_type = lookup(KEY_TYPES, &spki.algorithm.algorithm)
        .map_or("unknown", |t| *t)
        .to_owned();
    match cert.key_type.as_str() {
        "rsa" => {
            if let Ok(PublicKey::RSA(rsa)) = spki.parsed() {
                cert.key_bits = Some(bit_length(rsa.modulus));
            }
        }
        "ec" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            match curve {
                Some(oid) => {
                    let id = oid.to_id_string();
                    match CURVES.iter().find(|(k, _, _)| *k == id) {
                        Some((_, name, bits)) => {
                            cert.key_curve = Some((*name).to_owned());
                            cert.key_bits = Some(*bits);
                        }
                        None => cert.key_curve = Some(id),
                    }
                }
                None => cert.key_curve = Some("explicit".to_owned()),
            }
        }
        "ed25519" => cert.key_bits = Some(256),
        "ed448" => cert.key_bits = Some(456),
        "dsa" => {
            if let Ok(PublicKey::DSA(y)) = spki.parsed() {
                cert.key_bits = Some(bit_length(y));
            }
        }
        _ => {}
    }
}

/// Bits of a big-endian unsigned integer, leading zeros ignored.
fn bit_length(n: &[u8]) -> u32 {
    let skip = n.iter().take_while(|&&b| b == 0).count();
    match n.get(skip..) {
        Some([first, rest @ ..]) => rest.len() as u32 * 8 + (8 - first.leading_zeros()),
        _ => 0,
    }
}

/// Uppercase hex of the serial's magnitude (leading zero bytes dropped, at least one byte).
fn serial_hex(raw: &[u8]) -> String {
    let skip = raw.iter().take_while(|&&b| b == 0).count();
    let magnitude = raw
        .get(skip.min(raw.len().saturating_sub(1))..)
        .unwrap_or(raw);
    hex::encode_upper(magnitude)
}

/// Text form of a subjectAltName IP address.
fn ip_text(ip: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(ip) {
        Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(ip) {
        Ipv6Addr::from(v6).to_string()
    } else {
        hex::encode(ip)
    }
}

/// The text of an attribute value, whatever its string type.
fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> String {
    if let Ok(s) = attr.as_str() {
        return s.to_owned();
    }
    let bytes = attr.as_slice();
    match attr.attr_value().tag() {
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| match c {
                    [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                    _ => 0xfffd,
                })
                .collect();
            String::from_utf16_lossy(&units)
        }
        Tag::UniversalString => bytes
            .chunks(4)
            .map(|c| match c {
                [a, b, c, d] => char::from_u32(u32::from_be_bytes([*a, *b, *c, *d])),
                _ => None,
            })
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect(),
        // T61String and others: Latin-1 is the usual intent.
        _ => match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
        },
    }
}

/// RFC 4514 string of a name (most-specific RDN first).
fn rfc4514(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    let rdns: Vec<_> = name.iter_rdn().collect();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            match lookup(ATTRIBUTE_NAMES, attr.attr_type()) {
                Some(short) => out.push_str(short),
                None => out.push_str(&attr.attr_type().to_id_string()),
            }
            out.push('=');
            escape_value(&attribute_text(attr), &mut out);
        }
    }
    out
}

/// Appends `value` with RFC 4514 escaping.
fn escape_value(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        if special {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Most certificates a [`CertCache`] holds before it is emptied.
pub const CERT_CACHE_CAPACITY: usize = 4096;
/// Most DER bytes a [`CertCache`] holds before it is emptied: the keys are the certificates
/// themselves, and a handshake message may carry a certificate of up to 256 KiB.
pub const CERT_CACHE_DER_BYTES: usize = 8 << 20;

/// Parsed certificates by their DER bytes, bounded in count and bytes.
///
/// Keyed by the DER itself (a fast hash, then an exact comparison) rather than by its SHA-256:
/// a repeat then costs one pass of a cheap hash and a `memcmp`, and the SHA-256 (for the
/// `sha256` field) is only computed on a miss. The exact comparison keeps the cache safe
/// against crafted hash collisions.
///
/// When full, the cache is cleared before the next insertion: certificates on a network are
/// heavily repeated (a few CA and server certificates carry most connections), so the popular
/// ones are back after one parse each, and clearing is O(1) bookkeeping with no per-entry
/// recency tracking. Entries handed out stay valid (`Arc`).
#[derive(Debug)]
pub struct CertCache {
    by_der: BoundedMemo<Box<[u8]>, Arc<Certificate>>,
}

impl Default for CertCache {
    fn default() -> Self {
        CertCache {
            by_der: BoundedMemo::new(CERT_CACHE_CAPACITY, CERT_CACHE_DER_BYTES),
        }
    }
}

impl CertCache {
    /// The facts of `der`, parsed now or taken from the cache.
    pub fn get_or_parse(&mut self, der: &[u8]) -> Arc<Certificate> {
        if let Some(cert) = self.by_der.get(der) {
            return Arc::clone(cert);
        }
        let cert = Arc::new(parse_certificate(der));
        self.by_der.insert(der.into(), Arc::clone(&cert), der.len());
        cert
    }

    /// Number of certificates held.
    pub fn len(&self) -> usize {
        self.by_der.len()
    }

    /// Whether the cache holds none.
    pub fn is_empty(&self) -> bool {
        self.by_der.is_empty()
    }
}

#[cfg(test)]
mod tests {
    //! Certificates come from the public captures (expected values from
    //! `expected/*.json` `server_certificate`, dates and sizes from `openssl x509`), plus one
    //! EC certificate made with `openssl req` for the key facts no capture has.
    use super::*;

    /// The leaf DER of a TLS 1.2 Certificate message body.
    fn leaf(body: &[u8]) -> &[u8] {
        crate::tls::handshake::hello::parse_certificate_list(body, false).unwrap()[0]
    }

    const GOOGLE: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls/cert_tls12_google.bin"
    ));
    const NETSCREEN: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls/cert_netscreen.bin"
    ));
    const PRE_1970: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls/cert_pre1970.bin"
    ));
    const GENERALIZED_TIME: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls/cert_generalizedtime.bin"
    ));
    const EC_P384: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls/ec_p384_selfsigned.der"
    ));

    #[test]
    fn google_leaf() {
        let c = parse_certificate(leaf(GOOGLE));
        assert_eq!(c.parse_error, None);
        assert_eq!(
            c.sha256,
            "ee623e2c2700fe20dd9fb1ac6ed5203ac7573490b531c8b8e9b6b48d3ddf5b8b"
        );
        assert_eq!(c.der_len, 1151);
        assert_eq!(
            c.subject,
            "CN=*.google.de,O=Google Inc,L=Mountain View,ST=California,C=US"
        );
        assert_eq!(
            c.issuer,
            "CN=Google Internet Authority G2,O=Google Inc,C=US"
        );
        assert_eq!(c.subject_cn, ["*.google.de"]);
        assert_eq!(c.san_dns, ["*.google.de", "google.de"]);
        assert!(c.san_ip.is_empty());
        assert_eq!(c.serial, "5F16E91E8E863F49");
        assert_eq!((c.not_before, c.not_after), (1_397_045_265, 1_404_777_600));
        assert_eq!((c.key_type.as_str(), c.key_bits), ("rsa", Some(2048)));
        assert_eq!(c.key_curve, None);
        assert_eq!(c.signature_algorithm, "sha1WithRSAEncryption");
        assert!(!c.self_signed && !c.is_ca);
    }

    #[test]
    fn escaped_names_and_email_attribute() {
        let c = parse_certificate(leaf(NETSCREEN));
        assert_eq!(
            c.sha256,
            "9b8a39a0ce1a16413bcbf6830ea8c9fdfcb2934eb2d406332c4073f0fc80661a"
        );
        assert_eq!(
            c.subject,
            "1.2.840.113549.1.9.1=aturner@netscreen.com,CN=sigdb.secteam.netscreen.com,\
             OU=Security Team,O=NetScreen Technologies\\, Inc.,L=Sunnyvale,ST=California,C=US"
        );
        assert_eq!(
            c.issuer,
            "1.2.840.113549.1.9.1=fulfillment@onesecure.com,CN=jumper.sv-staging.onesecure.com,\
             OU=Fulfillment,O=OneSecure\\, Inc.,L=Sunnyvale,ST=California,C=US"
        );
        assert_eq!(c.signature_algorithm, "md5WithRSAEncryption");
        assert_eq!(c.key_bits, Some(1024));
        assert_eq!(c.serial, "55");
    }

    #[test]
    fn pre_1970_not_before() {
        let c = parse_certificate(leaf(PRE_1970));
        assert_eq!(
            c.sha256,
            "6ded6ad00f50d930239004cc46325300993d33af77a96d3c4e4716721d389c1d"
        );
        assert_eq!(c.subject, "CN=fkp.samsungcloudsolution.com,OU=vd");
        assert_eq!(c.not_before, -86_400, "1969-12-31T00:00:00Z");
        assert_eq!(c.not_after, 2_177_367_003, "2038-12-31T00:10:03Z");
        assert_eq!(c.signature_algorithm, "sha256WithRSAEncryption");
        assert!(c.is_ca);
    }

    #[test]
    fn generalized_time_and_self_signed() {
        let c = parse_certificate(leaf(GENERALIZED_TIME));
        assert_eq!(
            c.sha256,
            "cd08183f5ed85d69936278bf8d3e9a850abe14921dbe45e6b28364512a19e0b8"
        );
        assert_eq!((c.not_before, c.not_after), (1_441_114_417, 1_756_733_617));
        assert!(c.self_signed);
        assert_eq!(c.serial, "03E8");
        assert_eq!(c.key_bits, Some(1024));
    }

    #[test]
    fn ec_key_and_ip_alt_names() {
        let c = parse_certificate(EC_P384);
        assert_eq!(c.parse_error, None);
        assert_eq!(c.subject, "CN=example.com,O=Org,C=US");
        assert_eq!(c.key_type, "ec");
        assert_eq!(c.key_curve.as_deref(), Some("secp384r1"));
        assert_eq!(c.key_bits, Some(384));
        assert_eq!(c.signature_algorithm, "ecdsa-with-SHA384");
        assert_eq!(c.san_dns, ["example.com"]);
        assert_eq!(c.san_ip, ["192.0.2.1", "2001:db8::1"]);
        assert!(c.self_signed && c.is_ca);
    }

    #[test]
    fn unparsable_der_keeps_hash_and_length() {
        let der = &leaf(GOOGLE)[..100];
        let c = parse_certificate(der);
        assert!(c.parse_error.is_some());
        assert_eq!(c.der_len, 100);
        assert_eq!(c.sha256, hex::encode(Sha256::digest(der)));
        assert!(c.subject.is_empty() && c.key_type.is_empty());
        let empty = parse_certificate(&[]);
        assert!(empty.parse_error.is_some());
    }

    #[test]
    fn helpers() {
        assert_eq!(bit_length(&[0, 0, 0x01, 0xff]), 9);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(serial_hex(&[0, 0x80, 1]), "8001");
        assert_eq!(serial_hex(&[0]), "00");
        assert_eq!(serial_hex(&[]), "");
        let mut s = String::new();
        escape_value(" a,b+c\"d\\e<f>g;h ", &mut s);
        assert_eq!(s, "\\ a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h\\ ");
        let mut s = String::new();
        escape_value("#x", &mut s);
        assert_eq!(s, "\\#x");
    }

    #[test]
    fn cache_parses_each_certificate_once() {
        let mut cache = CertCache::default();
        let a = cache.get_or_parse(leaf(GOOGLE));
        let b = cache.get_or_parse(leaf(GOOGLE));
        assert!(Arc::ptr_eq(&a, &b), "the second lookup is the first parse");
        assert_eq!(cache.len(), 1);
        let c = cache.get_or_parse(EC_P384);
        assert_eq!(c.key_type, "ec");
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn cache_is_bounded() {
        let mut cache = CertCache::default();
        for i in 0..=CERT_CACHE_CAPACITY as u32 {
            cache.get_or_parse(&i.to_be_bytes());
        }
        assert_eq!(
            cache.len(),
            1,
            "cleared when full, then the new entry inserted"
        );
        assert!(!cache.is_empty());
    }

    #[test]
    fn cache_is_bounded_in_bytes() {
        let mut cache = CertCache::default();
        let big = vec![0x30u8; CERT_CACHE_DER_BYTES / 2 + 1];
        let a = cache.get_or_parse(&big);
        assert!(a.parse_error.is_some());
        assert_eq!(cache.len(), 1);
        let mut other = big.clone();
        other[1] = 0x31;
        cache.get_or_parse(&other);
        assert_eq!(cache.len(), 1, "cleared before the second half-size entry");
        assert!(cache.by_der.bytes() <= CERT_CACHE_DER_BYTES);
        let a2 = cache.get_or_parse(&big);
        assert_eq!(a2.sha256, a.sha256, "same facts after a re-parse");
        assert!(
            !Arc::ptr_eq(&a, &a2),
            "the first entry was gone: parsed again"
        );
    }
}
