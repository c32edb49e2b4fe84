//! The TLS 1.3 key schedule's one primitive, HKDF-Expand-Label (RFC 8446 §7.1), shared by every
//! user of TLS 1.3-style secrets: QUIC Initial keys (RFC 9001 §5, derived from public salts),
//! and, with key logs, TLS 1.3 and QUIC handshake and traffic keys.
//!
//! Only what the derivations need is here; the AEADs that use the keys live with their
//! transports.

use hkdf::Hkdf;
use sha2::{Sha256, Sha384};

/// The hash a TLS 1.3 cipher suite's key schedule runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-256 (TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256, QUIC Initial keys).
    Sha256,
    /// SHA-384 (TLS_AES_256_GCM_SHA384).
    Sha384,
}

impl HashAlg {
    /// Output length in bytes (the length of every secret derived with it).
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }
}

/// Why a derivation could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyScheduleError {
    /// The secret is shorter than the hash output (HKDF-Expand needs a pseudorandom key of
    /// at least that length).
    #[error("secret of {got} bytes is shorter than the {need}-byte hash output")]
    ShortSecret {
        /// Bytes given.
        got: usize,
        /// Bytes the hash needs.
        need: usize,
    },
    /// The requested output is longer than HKDF can expand to, or the label or context does
    /// not fit its one-byte length.
    #[error("HKDF-Expand-Label input or output out of range")]
    OutOfRange,
}

/// HKDF-Extract(salt, ikm): the pseudorandom key that starts a schedule (QUIC: the Initial
/// secret from the version's salt and the client's first Destination Connection ID).
pub fn hkdf_extract(hash: HashAlg, salt: &[u8], ikm: &[u8]) -> Vec<u8> {
    match hash {
        HashAlg::Sha256 => Hkdf::<Sha256>::extract(Some(salt), ikm).0.to_vec(),
        HashAlg::Sha384 => Hkdf::<Sha384>::extract(Some(salt), ikm).0.to_vec(),
    }
}

/// HKDF-Expand-Label(secret, label, context, len) of RFC 8446 §7.1: `label` without the
/// `"tls13 "` prefix, which is added here (QUIC v1 labels such as `"quic key"` and QUIC v2's
/// `"quicv2 key"` are passed the same way).
pub fn hkdf_expand_label(
    hash: HashAlg,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), KeyScheduleError> {
    const PREFIX: &[u8] = b"tls13 ";
    let full_label_len = PREFIX.len() + label.len();
    let (Ok(out_len), Ok(label_len), Ok(context_len)) = (
        u16::try_from(out.len()),
        u8::try_from(full_label_len),
        u8::try_from(context.len()),
    ) else {
        return Err(KeyScheduleError::OutOfRange);
    };
    let mut info = Vec::with_capacity(4 + full_label_len + context.len());
    info.extend_from_slice(&out_len.to_be_bytes());
    info.push(label_len);
    info.extend_from_slice(PREFIX);
    info.extend_from_slice(label);
    info.push(context_len);
    info.extend_from_slice(context);
    let need = hash.output_len();
    if secret.len() < need {
        return Err(KeyScheduleError::ShortSecret {
            got: secret.len(),
            need,
        });
    }
    let expanded = match hash {
        HashAlg::Sha256 => Hkdf::<Sha256>::from_prk(secret)
            .map_err(|_| KeyScheduleError::OutOfRange)?
            .expand(&info, out),
        HashAlg::Sha384 => Hkdf::<Sha384>::from_prk(secret)
            .map_err(|_| KeyScheduleError::OutOfRange)?
            .expand(&info, out),
    };
    expanded.map_err(|_| KeyScheduleError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test vector hex")
    }

    /// RFC 9001 Appendix A.1: QUIC v1 Initial secrets for DCID 0x8394c8f03e515708.
    #[test]
    fn rfc9001_initial_secrets() {
        let salt = unhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
        let initial = hkdf_extract(HashAlg::Sha256, &salt, &unhex("8394c8f03e515708"));
        assert_eq!(
            initial,
            unhex("7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44")
        );
        let mut client = [0u8; 32];
        hkdf_expand_label(HashAlg::Sha256, &initial, b"client in", &[], &mut client)
            .expect("expand");
        assert_eq!(
            client.to_vec(),
            unhex("c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea")
        );
        let mut key = [0u8; 16];
        hkdf_expand_label(HashAlg::Sha256, &client, b"quic key", &[], &mut key).expect("key");
        assert_eq!(key.to_vec(), unhex("1f369613dd76d5467730efcbe3b1a22d"));
        let mut iv = [0u8; 12];
        hkdf_expand_label(HashAlg::Sha256, &client, b"quic iv", &[], &mut iv).expect("iv");
        assert_eq!(iv.to_vec(), unhex("fa044b2f42a3fd3b46fb255c"));
        let mut hp = [0u8; 16];
        hkdf_expand_label(HashAlg::Sha256, &client, b"quic hp", &[], &mut hp).expect("hp");
        assert_eq!(hp.to_vec(), unhex("9f50449e04a0e810283a1e9933adedd2"));
    }

    /// RFC 8448 §3 (simple 1-RTT handshake): the server handshake traffic key and IV.
    #[test]
    fn rfc8448_server_handshake_key() {
        let secret = unhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
        let mut key = [0u8; 16];
        hkdf_expand_label(HashAlg::Sha256, &secret, b"key", &[], &mut key).expect("key");
        assert_eq!(key.to_vec(), unhex("3fce516009c21727d0f2e4e86ee403bc"));
        let mut iv = [0u8; 12];
        hkdf_expand_label(HashAlg::Sha256, &secret, b"iv", &[], &mut iv).expect("iv");
        assert_eq!(iv.to_vec(), unhex("5d313eb2671276ee13000b30"));
    }

    #[test]
    fn short_secret_and_long_label_are_errors() {
        let mut out = [0u8; 16];
        assert_eq!(
            hkdf_expand_label(HashAlg::Sha384, &[0; 32], b"key", &[], &mut out),
            Err(KeyScheduleError::ShortSecret { got: 32, need: 48 })
        );
        assert_eq!(
            hkdf_expand_label(HashAlg::Sha256, &[0; 32], &[b'x'; 250], &[], &mut out),
            Err(KeyScheduleError::OutOfRange)
        );
    }
}
