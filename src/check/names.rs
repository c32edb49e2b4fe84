//! Names a policy may use for versions, cipher suites, groups and signature schemes, turned
//! into the codepoints the records carry: IANA names (as the records print them), OpenSSL
//! names (as server configurations and Mozilla's guidelines spell ciphers), the aliases
//! people type (`P-256`, `X25519`, `TLS1.2`), and `0x1301`-style hex for anything else.

use std::collections::HashMap;
use std::sync::OnceLock;

use tls_parser::{TlsCipherEnc, TlsCipherEncMode, TlsCipherKx, TlsCipherMac, TlsCipherSuite};

use crate::tls::names::{group_name, version_name};

/// OpenSSL's cipher names and codes, from `openssl ciphers -V` (see the file's header).
const OPENSSL_CIPHER_NAMES: &str = include_str!("openssl-cipher-names.tsv");

/// Signature schemes by IANA name (TLS SignatureScheme registry; RFC 8446 and RFC 8422
/// legacy codepoints).
const SIGNATURE_SCHEMES: &[(&str, u16)] = &[
    ("rsa_pkcs1_md5", 0x0101),
    ("rsa_pkcs1_sha1", 0x0201),
    ("dsa_sha1", 0x0202),
    ("ecdsa_sha1", 0x0203),
    ("rsa_pkcs1_sha224", 0x0301),
    ("dsa_sha224", 0x0302),
    ("ecdsa_sha224", 0x0303),
    ("rsa_pkcs1_sha256", 0x0401),
    ("dsa_sha256", 0x0402),
    ("ecdsa_secp256r1_sha256", 0x0403),
    ("rsa_pkcs1_sha384", 0x0501),
    ("dsa_sha384", 0x0502),
    ("ecdsa_secp384r1_sha384", 0x0503),
    ("rsa_pkcs1_sha512", 0x0601),
    ("dsa_sha512", 0x0602),
    ("ecdsa_secp521r1_sha512", 0x0603),
    ("rsa_pss_rsae_sha256", 0x0804),
    ("rsa_pss_rsae_sha384", 0x0805),
    ("rsa_pss_rsae_sha512", 0x0806),
    ("ed25519", 0x0807),
    ("ed448", 0x0808),
    ("rsa_pss_pss_sha256", 0x0809),
    ("rsa_pss_pss_sha384", 0x080a),
    ("rsa_pss_pss_sha512", 0x080b),
    ("ecdsa_brainpoolP256r1tls13_sha256", 0x081a),
    ("ecdsa_brainpoolP384r1tls13_sha384", 0x081b),
    ("ecdsa_brainpoolP512r1tls13_sha512", 0x081c),
    ("mldsa44", 0x0904),
    ("mldsa65", 0x0905),
    ("mldsa87", 0x0906),
];

/// Group aliases beside the IANA names: OpenSSL's and NIST's curve names.
const GROUP_ALIASES: &[(&str, u16)] = &[
    ("prime256v1", 23),
    ("p-256", 23),
    ("p256", 23),
    ("p-384", 24),
    ("p384", 24),
    ("p-521", 25),
    ("p521", 25),
];

/// A `0x1234` hex codepoint.
fn hex(text: &str) -> Option<u16> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))?;
    u16::from_str_radix(digits, 16).ok()
}

/// A protocol version by name: `TLSv1.2`, `TLS1.2`, `TLSv1` (= 1.0), `SSLv3`, `DTLSv1.2`, or
/// hex.
pub fn version_code(name: &str) -> Option<u16> {
    if let Some(code) = hex(name) {
        return Some(code);
    }
    let lower = name.trim().to_ascii_lowercase().replace(' ', "");
    let code = match lower.as_str() {
        "sslv2" | "ssl2" | "ssl2.0" => 0x0002,
        "sslv3" | "ssl3" | "ssl3.0" => 0x0300,
        "tlsv1" | "tls1" | "tlsv1.0" | "tls1.0" => 0x0301,
        "tlsv1.1" | "tls1.1" => 0x0302,
        "tlsv1.2" | "tls1.2" => 0x0303,
        "tlsv1.3" | "tls1.3" => 0x0304,
        "dtlsv1" | "dtls1" | "dtlsv1.0" | "dtls1.0" => 0xfeff,
        "dtlsv1.2" | "dtls1.2" => 0xfefd,
        "dtlsv1.3" | "dtls1.3" => 0xfefc,
        _ => return None,
    };
    Some(code)
}

/// A cipher suite by IANA name, OpenSSL name or hex.
pub fn cipher_code(name: &str) -> Option<u16> {
    if let Some(code) = hex(name) {
        return Some(code);
    }
    if let Some(suite) = TlsCipherSuite::from_name(name) {
        return Some(suite.id.0);
    }
    static OPENSSL: OnceLock<HashMap<&'static str, u16>> = OnceLock::new();
    OPENSSL
        .get_or_init(|| {
            OPENSSL_CIPHER_NAMES
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (code, name) = l.split_once('\t')?;
                    Some((name, hex(&code.to_ascii_lowercase())?))
                })
                .collect()
        })
        .get(name)
        .copied()
}

/// A supported group by IANA name (any case), alias or hex.
pub fn group_code(name: &str) -> Option<u16> {
    if let Some(code) = hex(name) {
        return Some(code);
    }
    let lower = name.to_ascii_lowercase();
    if let Some(&(_, code)) = GROUP_ALIASES.iter().find(|(alias, _)| *alias == lower) {
        return Some(code);
    }
    static BY_NAME: OnceLock<HashMap<String, u16>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| {
            (0..=u16::MAX)
                .filter_map(|code| {
                    let name = group_name(code);
                    (!name.starts_with("0x") && name != "GREASE")
                        .then(|| (name.to_ascii_lowercase(), code))
                })
                .collect()
        })
        .get(&lower)
        .copied()
}

/// A signature scheme by IANA name or hex.
pub fn signature_scheme_code(name: &str) -> Option<u16> {
    hex(name).or_else(|| {
        SIGNATURE_SCHEMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, code)| code)
    })
}

/// The IANA name of a signature scheme, hex otherwise.
pub fn signature_scheme_name(code: u16) -> String {
    SIGNATURE_SCHEMES
        .iter()
        .find(|&&(_, c)| c == code)
        .map_or_else(|| format!("0x{code:04x}"), |(name, _)| (*name).to_string())
}

/// The name the records use for a version (`TLSv1.2`).
pub fn version_label(code: u16) -> String {
    version_name(code).into_owned()
}

/// Whether a cipher suite gives forward secrecy: an ephemeral (EC)DH key exchange, or any
/// TLS 1.3 suite. Unknown suites do not.
pub fn cipher_is_forward_secret(code: u16) -> bool {
    TlsCipherSuite::from_id(code).is_some_and(|s| {
        matches!(
            s.kx,
            TlsCipherKx::Dhe | TlsCipherKx::Ecdhe | TlsCipherKx::Tls13 | TlsCipherKx::Eccpwd
        )
    })
}

/// Whether a cipher suite is an AEAD (GCM, CCM, ChaCha20-Poly1305, AEGIS). Unknown suites
/// are not.
pub fn cipher_is_aead(code: u16) -> bool {
    TlsCipherSuite::from_id(code).is_some_and(|s| {
        s.mac == TlsCipherMac::Aead
            || matches!(s.enc_mode, TlsCipherEncMode::Gcm | TlsCipherEncMode::Ccm)
            || matches!(s.enc, TlsCipherEnc::Chacha20_Poly1305 | TlsCipherEnc::Aegis)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::names::cipher_name;

    #[test]
    fn versions_by_the_names_people_write() {
        assert_eq!(version_code("TLSv1.2"), Some(0x0303));
        assert_eq!(
            version_code("TLSv1"),
            Some(0x0301),
            "Mozilla's spelling of 1.0"
        );
        assert_eq!(version_code("tls1.3"), Some(0x0304));
        assert_eq!(version_code("SSLv3"), Some(0x0300));
        assert_eq!(version_code("DTLSv1.2"), Some(0xfefd));
        assert_eq!(version_code("dtls1.0"), Some(0xfeff));
        assert_eq!(version_code("0x7f17"), Some(0x7f17));
        assert_eq!(version_code("TLSv2"), None);
    }

    #[test]
    fn ciphers_by_iana_and_openssl_name() {
        let iana = cipher_code("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(iana, Some(0xc02f));
        assert_eq!(cipher_code("ECDHE-RSA-AES128-GCM-SHA256"), iana);
        assert_eq!(cipher_code("DES-CBC3-SHA"), Some(0x000a));
        // The names added by hand name the suites the IANA registry gives those codes.
        for (name, part) in [
            ("RC4-SHA", "RC4"),
            ("ECDHE-RSA-DES-CBC3-SHA", "ECDHE_RSA_WITH_3DES"),
        ] {
            let code = cipher_code(name).unwrap();
            assert!(
                cipher_name(code).contains(part),
                "{name}: {}",
                cipher_name(code)
            );
        }
        assert_eq!(cipher_code("TLS_AES_128_GCM_SHA256"), Some(0x1301));
        assert_eq!(cipher_code("0x1301"), Some(0x1301));
        assert_eq!(cipher_code("NOT-A-CIPHER"), None);
    }

    #[test]
    fn every_cipher_of_the_mozilla_guidelines_has_a_code() {
        for text in [
            include_str!("profiles/mozilla-5.7.json"),
            include_str!("profiles/mozilla-6.0.json"),
        ] {
            let doc: serde_json::Value = serde_json::from_str(text).unwrap();
            for (name, config) in doc["configurations"].as_object().unwrap() {
                for list in ["openssl", "iana"] {
                    for c in config["ciphers"][list].as_array().unwrap() {
                        let c = c.as_str().unwrap();
                        assert!(cipher_code(c).is_some(), "{name}: {c}");
                    }
                }
                for c in config["ciphersuites"].as_array().unwrap() {
                    assert!(cipher_code(c.as_str().unwrap()).is_some());
                }
                for g in config["tls_curves"].as_array().unwrap() {
                    assert!(group_code(g.as_str().unwrap()).is_some(), "{g}");
                }
            }
        }
    }

    #[test]
    fn groups_and_signature_schemes() {
        assert_eq!(group_code("X25519"), Some(29));
        assert_eq!(group_code("prime256v1"), Some(23));
        assert_eq!(group_code("X25519MLKEM768"), Some(0x11ec));
        assert_eq!(group_code("secp384r1"), Some(24));
        assert_eq!(signature_scheme_code("rsa_pkcs1_sha1"), Some(0x0201));
        assert_eq!(signature_scheme_name(0x0804), "rsa_pss_rsae_sha256");
        assert_eq!(signature_scheme_name(0x1234), "0x1234");
    }

    #[test]
    fn cipher_properties() {
        assert!(cipher_is_forward_secret(0xc02f));
        assert!(cipher_is_forward_secret(0x1301));
        assert!(!cipher_is_forward_secret(0x009c), "static RSA");
        assert!(cipher_is_aead(0xc02f));
        assert!(cipher_is_aead(0xcca8), "ChaCha20-Poly1305");
        assert!(!cipher_is_aead(0xc014), "CBC");
        assert!(!cipher_is_aead(0x0a0a), "GREASE");
    }
}
