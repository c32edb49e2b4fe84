//! Client and server fingerprints: JA3/JA3S (Salesforce) and JA4/JA4S (FoxIO), computed to
//! their published specifications, so that values can be compared with other tools' output.
//!
//! GREASE values (RFC 8701, `0x?a?a`) are removed from every list in all four fingerprints:
//! clients randomise them per connection, and keeping them would split one client into many
//! fingerprints.

use std::fmt::Write as _;

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::{ClientHello, ServerHello};

/// Extension types left out of JA4's extension hash: they are already in the `a` part.
const JA4_SNI: u16 = 0x0000;
const JA4_ALPN: u16 = 0x0010;

/// Whether `v` is a GREASE codepoint (RFC 8701: both bytes equal, low nibble 0xa).
pub fn is_grease(v: u16) -> bool {
    let [hi, lo] = v.to_be_bytes();
    hi == lo && lo & 0x0f == 0x0a
}

/// Decimal values joined with `-`, GREASE removed: one JA3 field.
fn ja3_field<T: Copy + Into<u16>>(values: &[T]) -> String {
    let mut out = String::new();
    for v in values.iter().map(|&v| v.into()).filter(|&v| !is_grease(v)) {
        if !out.is_empty() {
            out.push('-');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{v}");
    }
    out
}

/// The JA3 string and its MD5.
fn with_md5(s: String) -> (String, String) {
    let digest = hex::encode(Md5::digest(s.as_bytes()));
    (s, digest)
}

/// JA3 string and its MD5 (lowercase hex) for a parsed ClientHello.
pub fn ja3(hello: &ClientHello) -> (String, String) {
    with_md5(format!(
        "{},{},{},{},{}",
        hello.legacy_version,
        ja3_field(&hello.cipher_suites),
        ja3_field(&hello.extensions),
        ja3_field(&hello.groups),
        ja3_field(&hello.ec_point_formats),
    ))
}

/// JA3S string and its MD5 for a parsed ServerHello (the version is the `legacy_version`
/// field, as the specification reads it from the message).
pub fn ja3s(hello: &ServerHello) -> (String, String) {
    with_md5(format!(
        "{},{},{}",
        hello.legacy_version,
        hello.cipher,
        ja3_field(&hello.extensions),
    ))
}

/// JA4's two-character version code.
fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// A count as JA4's two digits, capped at 99.
fn ja4_count(n: usize) -> String {
    format!("{:02}", n.min(99))
}

/// JA4's two ALPN characters: first and last character of the first protocol, `00` when
/// there is none; when either end is not ASCII alphanumeric, the first and last characters
/// of the protocol's hex form instead.
fn ja4_alpn(alpn: Option<&str>) -> String {
    let Some(proto) = alpn.filter(|p| !p.is_empty()) else {
        return "00".to_owned();
    };
    let bytes = proto.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&f), Some(&l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => {
            format!("{}{}", char::from(f), char::from(l))
        }
        _ => {
            let hex = hex::encode(bytes);
            let mut chars = hex.chars();
            let first = chars.next().unwrap_or('0');
            let last = chars.next_back().unwrap_or(first);
            format!("{first}{last}")
        }
    }
}

/// Comma-joined 4-digit lowercase hex values.
fn hex_list(values: &[u16]) -> String {
    let mut out = String::with_capacity(values.len() * 5);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{v:04x}");
    }
    out
}

/// First 12 hex characters of the SHA-256 of `s`.
fn sha256_12(s: &str) -> String {
    let mut hex = hex::encode(Sha256::digest(s.as_bytes()));
    hex.truncate(12);
    hex
}

/// Values without GREASE.
fn no_grease(values: &[u16]) -> Vec<u16> {
    values.iter().copied().filter(|&v| !is_grease(v)).collect()
}

/// JA4 (TCP, `t` prefix) of a parsed ClientHello.
///
/// An empty cipher list or an empty extension list (after SNI and ALPN are removed) hashes
/// to `000000000000`, as the reference implementation does.
pub fn ja4(hello: &ClientHello) -> String {
    let version = no_grease(&hello.supported_versions)
        .into_iter()
        .max()
        .unwrap_or(hello.legacy_version);
    let sni = if hello.extensions.contains(&JA4_SNI) {
        'd'
    } else {
        'i'
    };
    let mut ciphers = no_grease(&hello.cipher_suites);
    let extensions = no_grease(&hello.extensions);
    let a = format!(
        "t{}{}{}{}{}",
        ja4_version(version),
        sni,
        ja4_count(ciphers.len()),
        ja4_count(extensions.len()),
        ja4_alpn(hello.alpn.first().map(String::as_str)),
    );
    ciphers.sort_unstable();
    let b = if ciphers.is_empty() {
        "000000000000".to_owned()
    } else {
        sha256_12(&hex_list(&ciphers))
    };
    let mut hashed_exts: Vec<u16> = extensions
        .into_iter()
        .filter(|&e| e != JA4_SNI && e != JA4_ALPN)
        .collect();
    hashed_exts.sort_unstable();
    let c = if hashed_exts.is_empty() {
        "000000000000".to_owned()
    } else {
        let mut input = hex_list(&hashed_exts);
        let sig_algs = no_grease(&hello.sig_algs);
        if !sig_algs.is_empty() {
            input.push('_');
            input.push_str(&hex_list(&sig_algs));
        }
        sha256_12(&input)
    };
    format!("{a}_{b}_{c}")
}

/// JA4S (TCP) of a parsed ServerHello: `t`, negotiated version, extension count, ALPN
/// characters, then the cipher and a hash of the extensions in wire order.
pub fn ja4s(hello: &ServerHello) -> String {
    let extensions = no_grease(&hello.extensions);
    let hash = if extensions.is_empty() {
        "000000000000".to_owned()
    } else {
        sha256_12(&hex_list(&extensions))
    };
    format!(
        "t{}{}{}_{:04x}_{}",
        ja4_version(hello.version),
        ja4_count(extensions.len()),
        ja4_alpn(hello.alpn.as_deref()),
        hello.cipher,
        hash,
    )
}
