//! Human-readable names for TLS codepoints (versions, cipher suites, groups), so that
//! reports read like the RFCs while the wire-exact codes stay available beside them.

use std::borrow::Cow;

/// Name of a protocol version: `"TLSv1.2"`, drafts as `"TLSv1.3-draft23"`, experiments as
/// `"TLSv1.3-exp1"` / `"TLSv1.3-fb23"`, otherwise `"0x1234"`.
pub fn version_name(version: u16) -> Cow<'static, str> {
    match version {
        0x0002 => "SSLv2".into(),
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1.0".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        0xfeff => "DTLSv1.0".into(),
        0xfefd => "DTLSv1.2".into(),
        0xfefc => "DTLSv1.3".into(),
        0x7f00..=0x7fff => format!("TLSv1.3-draft{}", version & 0xff).into(),
        0x7e00..=0x7eff => format!("TLSv1.3-exp{}", version & 0xff).into(),
        0xfb00..=0xfbff => format!("TLSv1.3-fb{}", version & 0xff).into(),
        _ => hex_code(version).into(),
    }
}

/// The version a draft or experiment stands for, so that censuses can rank versions: drafts and
/// experiments of TLS 1.3 rank as 0x0304, DTLS versions as the TLS version each is based on
/// (DTLS 1.0 on TLS 1.1, 1.2 on 1.2, 1.3 on 1.3), GREASE and unknown values as `None`.
pub fn version_rank(version: u16) -> Option<u16> {
    match version {
        0x0002 | 0x0300..=0x0304 => Some(version),
        0xfeff => Some(0x0302),
        0xfefd => Some(0x0303),
        0xfefc => Some(0x0304),
        0x7e00..=0x7fff | 0xfb00..=0xfbff => Some(0x0304),
        _ => None,
    }
}

/// IANA name of a cipher suite, or `"0x1301"`-style hex when unknown.
pub fn cipher_name(id: u16) -> Cow<'static, str> {
    match tls_parser::TlsCipherSuite::from_id(id) {
        Some(suite) => suite.name.into(),
        None if is_grease(id) => "GREASE".into(),
        None => hex_code(id).into(),
    }
}

/// Whether a cipher suite uses static RSA key exchange (no forward secrecy), the kind a
/// "remove RSA key exchange" policy switches off.
pub fn cipher_is_rsa_kx(id: u16) -> bool {
    tls_parser::TlsCipherSuite::from_id(id)
        .is_some_and(|suite| suite.kx == tls_parser::TlsCipherKx::Rsa)
}

/// Whether a cipher suite is a TLS 1.3 one (usable only with TLS 1.3).
pub fn cipher_is_tls13(id: u16) -> bool {
    tls_parser::TlsCipherSuite::from_id(id)
        .is_some_and(|suite| suite.kx == tls_parser::TlsCipherKx::Tls13)
}

/// IANA name of a supported group (key exchange), post-quantum hybrids included, `"GREASE"`
/// for GREASE values, otherwise `"0x11ec"`-style hex.
pub fn group_name(id: u16) -> Cow<'static, str> {
    let name = match id {
        19 => "secp192r1",
        21 => "secp224r1",
        22 => "secp256k1",
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        31 => "brainpoolP256r1tls13",
        32 => "brainpoolP384r1tls13",
        33 => "brainpoolP512r1tls13",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        0x0200 => "MLKEM512",
        0x0201 => "MLKEM768",
        0x0202 => "MLKEM1024",
        0x11eb => "SecP256r1MLKEM768",
        0x11ec => "X25519MLKEM768",
        0x11ed => "SecP384r1MLKEM1024",
        0x6399 => "X25519Kyber768Draft00",
        0x639a => "SecP256r1Kyber768Draft00",
        _ if is_grease(id) => "GREASE",
        _ => return hex_code(id).into(),
    };
    name.into()
}

/// Whether a group is post-quantum (ML-KEM, or a hybrid with ML-KEM or its Kyber draft).
pub fn group_is_post_quantum(id: u16) -> bool {
    matches!(id, 0x0200..=0x0202 | 0x11eb..=0x11ed | 0x6399 | 0x639a)
}

/// Whether a 16-bit codepoint is a GREASE value (RFC 8701: 0x?a?a with equal bytes).
pub fn is_grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
}

/// `0x1234`-style hex of a codepoint.
pub fn hex_code(value: u16) -> String {
    format!("0x{value:04x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_versions_drafts_and_unknowns() {
        assert_eq!(version_name(0x0303), "TLSv1.2");
        assert_eq!(version_name(0x7f17), "TLSv1.3-draft23");
        assert_eq!(version_name(0x7e01), "TLSv1.3-exp1");
        assert_eq!(version_name(0x1234), "0x1234");
        assert_eq!(version_rank(0x7f1c), Some(0x0304));
        assert_eq!(version_rank(0x0a0a), None);
        assert_eq!(version_rank(0xfefd), Some(0x0303));
        assert_eq!(version_name(0xfefc), "DTLSv1.3");
    }

    #[test]
    fn names_ciphers_and_alerts() {
        assert_eq!(cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0x9a9a), "GREASE");
        assert!(is_grease(0xdada));
        assert!(!is_grease(0xda0a));
    }

    #[test]
    fn names_groups_and_flags_post_quantum_hybrids() {
        assert_eq!(group_name(29), "x25519");
        assert_eq!(group_name(0x11ec), "X25519MLKEM768");
        assert_eq!(group_name(0x11eb), "SecP256r1MLKEM768");
        assert_eq!(group_name(0x6399), "X25519Kyber768Draft00");
        assert_eq!(group_name(0x2a2a), "GREASE");
        assert_eq!(group_name(0x4321), "0x4321");
        assert!(group_is_post_quantum(0x11ec));
        assert!(group_is_post_quantum(0x6399));
        assert!(!group_is_post_quantum(29));
    }

    #[test]
    fn classifies_cipher_key_exchange() {
        assert!(cipher_is_rsa_kx(0x009c), "TLS_RSA_WITH_AES_128_GCM_SHA256");
        assert!(!cipher_is_rsa_kx(0xc02f), "ECDHE_RSA is forward secret");
        assert!(!cipher_is_rsa_kx(0x1301));
        assert!(cipher_is_tls13(0x1301));
        assert!(!cipher_is_tls13(0xc02f));
        assert!(!cipher_is_rsa_kx(0x0a0a), "GREASE");
    }
}
