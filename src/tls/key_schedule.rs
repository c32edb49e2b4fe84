//! The TLS 1.3 key schedule's one primitive, HKDF-Expand-Label (RFC 8446 §7.1), shared by every
//! user of TLS 1.3-style secrets: QUIC Initial keys (RFC 9001 §5, derived from public salts),
//! and, with key logs, TLS 1.3 and QUIC handshake and traffic keys.
//!
//! HKDF keeps its HMAC keyed: a [`Prk`] expands any number of labels from one secret with one
//! keying, and a [`Salt`] extracts from many inputs under one salt (QUIC's per-version salts)
//! with one. A QUIC connection's Initial keys then take 24 SHA-256 compressions instead of 38
//! (`benches/README.md`, "QUIC in the pipeline").
//!
//! Only what the derivations need is here; the AEADs that use the keys live with their
//! transports.

use hkdf::{Hkdf, HkdfExtract};
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

/// A pseudorandom key ready for HKDF-Expand-Label: the HMAC keyed with it once (two
/// compressions of the hash), then cloned for each output block. Expanding several labels from
/// one secret (QUIC's `key`, `iv` and `hp`; both sides' Initial secrets) through one `Prk`
/// re-keys once instead of once per label.
#[derive(Clone, Debug)]
pub enum Prk {
    /// A SHA-256 key.
    Sha256(Hkdf<Sha256>),
    /// A SHA-384 key.
    Sha384(Hkdf<Sha384>),
}

impl Prk {
    /// The key of a secret (a traffic secret from a key log, or a derived one).
    pub fn new(hash: HashAlg, secret: &[u8]) -> Result<Prk, KeyScheduleError> {
        let need = hash.output_len();
        let short = KeyScheduleError::ShortSecret {
            got: secret.len(),
            need,
        };
        match hash {
            HashAlg::Sha256 => Hkdf::<Sha256>::from_prk(secret).map(Prk::Sha256),
            HashAlg::Sha384 => Hkdf::<Sha384>::from_prk(secret).map(Prk::Sha384),
        }
        .map_err(|_| short)
    }

    /// HKDF-Extract(salt, ikm), the key that starts a schedule, ready to expand (see
    /// [`Salt::extract`], cheaper when one salt serves many inputs).
    pub fn extract(hash: HashAlg, salt: &[u8], ikm: &[u8]) -> Prk {
        Salt::new(hash, salt).extract(ikm)
    }

    /// HKDF-Expand-Label(this key, label, context, len) of RFC 8446 §7.1: `label` without the
    /// `"tls13 "` prefix, which is added here (QUIC v1 labels such as `"quic key"` and QUIC
    /// v2's `"quicv2 key"` are passed the same way). The label is fed to the HMAC in pieces,
    /// never copied into an allocation.
    pub fn expand_label(
        &self,
        label: &[u8],
        context: &[u8],
        out: &mut [u8],
    ) -> Result<(), KeyScheduleError> {
        const PREFIX: &[u8] = b"tls13 ";
        let (Ok(out_len), Ok(label_len), Ok(context_len)) = (
            u16::try_from(out.len()),
            u8::try_from(PREFIX.len() + label.len()),
            u8::try_from(context.len()),
        ) else {
            return Err(KeyScheduleError::OutOfRange);
        };
        let [len_hi, len_lo] = out_len.to_be_bytes();
        let info: [&[u8]; 5] = [
            &[len_hi, len_lo, label_len],
            PREFIX,
            label,
            &[context_len],
            context,
        ];
        match self {
            Prk::Sha256(h) => h.expand_multi_info(&info, out),
            Prk::Sha384(h) => h.expand_multi_info(&info, out),
        }
        .map_err(|_| KeyScheduleError::OutOfRange)
    }
}

/// An HKDF-Extract salt with its HMAC keyed once. QUIC extracts every connection's Initial
/// secret under its version's published salt (RFC 9001 §5.2): keeping the salt keyed saves
/// two of the hash's compressions per connection.
#[derive(Clone, Debug)]
pub enum Salt {
    /// A SHA-256 salt.
    Sha256(HkdfExtract<Sha256>),
    /// A SHA-384 salt.
    Sha384(HkdfExtract<Sha384>),
}

impl Salt {
    /// The salt, keyed.
    pub fn new(hash: HashAlg, salt: &[u8]) -> Salt {
        match hash {
            HashAlg::Sha256 => Salt::Sha256(HkdfExtract::new(Some(salt))),
            HashAlg::Sha384 => Salt::Sha384(HkdfExtract::new(Some(salt))),
        }
    }

    /// HKDF-Extract(this salt, ikm) (QUIC: the Initial secret from the client's first
    /// Destination Connection ID), ready to expand.
    pub fn extract(&self, ikm: &[u8]) -> Prk {
        match self {
            Salt::Sha256(salt) => {
                let mut extract = salt.clone();
                extract.input_ikm(ikm);
                Prk::Sha256(extract.finalize().1)
            }
            Salt::Sha384(salt) => {
                let mut extract = salt.clone();
                extract.input_ikm(ikm);
                Prk::Sha384(extract.finalize().1)
            }
        }
    }
}

/// HKDF-Expand-Label(secret, label, context, len) of RFC 8446 §7.1 for a single label (see
/// [`Prk::expand_label`]; several labels from one secret are cheaper through one [`Prk`]).
pub fn hkdf_expand_label(
    hash: HashAlg,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), KeyScheduleError> {
    Prk::new(hash, secret)?.expand_label(label, context, out)
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
        let initial = Prk::extract(HashAlg::Sha256, &salt, &unhex("8394c8f03e515708"));
        // The initial secret itself (7db5df06...) is only ever expanded: the same expansion
        // from its bytes must agree with the one from the extracted key.
        let initial_bytes =
            unhex("7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44");
        let mut client = [0u8; 32];
        initial
            .expand_label(b"client in", &[], &mut client)
            .expect("expand");
        let mut again = [0u8; 32];
        hkdf_expand_label(
            HashAlg::Sha256,
            &initial_bytes,
            b"client in",
            &[],
            &mut again,
        )
        .expect("expand");
        assert_eq!(client, again);
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
