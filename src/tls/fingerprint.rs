//! Client and server fingerprints: JA3/JA3S (Salesforce) and JA4/JA4S (FoxIO), computed to
//! their published specifications, so that values can be compared with other tools' output.
//!
//! GREASE values (RFC 8701, `0x?a?a`) are removed from every list in all four fingerprints:
//! clients randomise them per connection, and keeping them would split one client into many
//! fingerprints.

use std::fmt::Write as _;

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::names::is_grease;
use super::{ClientHello, ServerHello};

/// Extension types left out of JA4's extension hash: they are already in the `a` part.
const JA4_SNI: u16 = 0x0000;
const JA4_ALPN: u16 = 0x0010;

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

#[cfg(test)]
mod tests {
    //! Reference values are the worked examples of the FoxIO JA4 specification and the
    //! Salesforce JA3 definition; end-to-end values on real hellos are tested in `hello`.
    use super::*;

    #[test]
    fn grease_values() {
        let grease: Vec<u16> = (0..16).map(|i| 0x0a0a + i * 0x1010).collect();
        assert!(grease.iter().all(|&v| is_grease(v)));
        assert_eq!(grease.last(), Some(&0xfafa));
        for v in [0x0a0b, 0x1a0a, 0x0000, 0x1301, 0xaaab, 0xfe0d] {
            assert!(!is_grease(v), "{v:#06x}");
        }
    }

    #[test]
    fn ja4_spec_hashes() {
        let ciphers = [
            0x002f, 0x0035, 0x009c, 0x009d, 0x1301, 0x1302, 0x1303, 0xc013, 0xc014, 0xc02b, 0xc02c,
            0xc02f, 0xc030, 0xcca8, 0xcca9,
        ];
        assert_eq!(sha256_12(&hex_list(&ciphers)), "8daaf6152771");
        let exts = [
            0x0005, 0x000a, 0x000b, 0x000d, 0x0012, 0x0015, 0x0017, 0x001b, 0x0023, 0x002b, 0x002d,
            0x0033, 0x4469, 0xff01,
        ];
        assert_eq!(sha256_12(&hex_list(&exts)), "6d807ffa2a79");
    }

    /// The specification's example hello, GREASE added.
    fn spec_hello() -> ClientHello {
        ClientHello {
            legacy_version: 0x0303,
            supported_versions: vec![0x2a2a, 0x0304, 0x0303],
            cipher_suites: vec![
                0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0x4a4a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005,
                0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
            ],
            sig_algs: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            alpn: vec!["h2".into(), "http/1.1".into()],
            groups: vec![0x5a5a, 29, 23, 24],
            ec_point_formats: vec![0],
            ..ClientHello::default()
        }
    }

    #[test]
    fn ja4_of_spec_example() {
        let mut h = spec_hello();
        assert_eq!(ja4(&h), "t13d1516h2_8daaf6152771_e5627efa2ab1");
        h.sig_algs.clear();
        assert_eq!(ja4(&h), "t13d1516h2_8daaf6152771_6d807ffa2a79");
    }

    #[test]
    fn ja4_edge_cases() {
        let mut h = ClientHello {
            legacy_version: 0x0301,
            ..ClientHello::default()
        };
        assert_eq!(ja4(&h), "t10i000000_000000000000_000000000000");
        h.legacy_version = 0x0300;
        h.extensions = vec![0x0000, 0x0010];
        h.alpn = vec!["\u{1}x".into()];
        assert_eq!(ja4(&h), "ts3d000208_000000000000_000000000000");
        h.legacy_version = 0x7f12;
        h.cipher_suites = (1..=120).collect();
        assert!(ja4(&h).starts_with("t00d9902"));
    }

    #[test]
    fn ja4_alpn_rules() {
        assert_eq!(ja4_alpn(None), "00");
        assert_eq!(ja4_alpn(Some("")), "00");
        assert_eq!(ja4_alpn(Some("http/1.1")), "h1");
        assert_eq!(ja4_alpn(Some("h2")), "h2");
        assert_eq!(ja4_alpn(Some("x")), "xx");
        // Either end not alphanumeric: high nibble of the first byte, low of the last.
        assert_eq!(ja4_alpn(Some("h2/")), "6f", "hex of 'h2/' is 68322f");
        assert_eq!(ja4_alpn(Some("\u{1}x")), "08");
    }

    #[test]
    fn ja3_removes_grease_everywhere() {
        let (s, md5) = ja3(&spec_hello());
        assert_eq!(
            s,
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,\
             27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0"
        );
        assert_eq!(md5.len(), 32);
        assert_eq!(md5, hex::encode(Md5::digest(s.as_bytes())));
    }

    #[test]
    fn ja3s_and_ja4s() {
        let sh = ServerHello {
            legacy_version: 0x0303,
            version: 0x0304,
            cipher: 0x1301,
            extensions: vec![51, 43],
            ..ServerHello::default()
        };
        let (s, md5) = ja3s(&sh);
        assert_eq!(s, "771,4865,51-43");
        // tshark's ja3s for this ServerHello (sv__ja4-rules).
        assert_eq!(md5, "eb1d94daa7e0344597e756a1fb6e7054");
        assert_eq!(
            ja4s(&sh),
            format!("t130200_1301_{}", sha256_12("0033,002b"))
        );
        let bare = ServerHello {
            legacy_version: 0x0300,
            version: 0x0300,
            cipher: 0x000a,
            ..ServerHello::default()
        };
        assert_eq!(ja4s(&bare), "ts30000_000a_000000000000");
    }
}
