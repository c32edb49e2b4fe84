//! The AEAD algorithms that protect TLS records (TLS 1.3, and the TLS 1.2 AEAD suites), from
//! RustCrypto. Opening never changes the caller's bytes: ciphertext is copied out first, so a
//! record can be tried with another key or sequence number after a failure.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use ccm::Ccm;
use ccm::consts::{U8, U12, U16};
use chacha20poly1305::ChaCha20Poly1305;

use super::DecryptError;

type Aes128Ccm = Ccm<aes::Aes128, U16, U12>;
type Aes256Ccm = Ccm<aes::Aes256, U16, U12>;
type Aes128Ccm8 = Ccm<aes::Aes128, U8, U12>;
type Aes256Ccm8 = Ccm<aes::Aes256, U8, U12>;

/// An AEAD algorithm with a 12-byte nonce, as TLS uses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AeadAlgorithm {
    /// AES-128-GCM.
    Aes128Gcm,
    /// AES-256-GCM.
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 8439).
    ChaCha20Poly1305,
    /// AES-128-CCM, 16-byte tag.
    Aes128Ccm,
    /// AES-256-CCM, 16-byte tag.
    Aes256Ccm,
    /// AES-128-CCM, 8-byte tag.
    Aes128Ccm8,
    /// AES-256-CCM, 8-byte tag.
    Aes256Ccm8,
}

impl AeadAlgorithm {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            AeadAlgorithm::Aes128Gcm | AeadAlgorithm::Aes128Ccm | AeadAlgorithm::Aes128Ccm8 => 16,
            _ => 32,
        }
    }

    /// Authentication tag length in bytes.
    pub fn tag_len(self) -> usize {
        match self {
            AeadAlgorithm::Aes128Ccm8 | AeadAlgorithm::Aes256Ccm8 => 8,
            _ => 16,
        }
    }

    /// A key of this algorithm (`key` must be [`key_len`](Self::key_len) bytes).
    pub fn key(self, key: &[u8]) -> Result<AeadKey, DecryptError> {
        let bad = |_| DecryptError::BadKeyLength;
        Ok(AeadKey(match self {
            AeadAlgorithm::Aes128Gcm => {
                Cipher::Aes128Gcm(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad)?))
            }
            AeadAlgorithm::Aes256Gcm => {
                Cipher::Aes256Gcm(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?))
            }
            AeadAlgorithm::ChaCha20Poly1305 => Cipher::ChaCha20Poly1305(Box::new(
                ChaCha20Poly1305::new_from_slice(key).map_err(bad)?,
            )),
            AeadAlgorithm::Aes128Ccm => {
                Cipher::Aes128Ccm(Box::new(Aes128Ccm::new_from_slice(key).map_err(bad)?))
            }
            AeadAlgorithm::Aes256Ccm => {
                Cipher::Aes256Ccm(Box::new(Aes256Ccm::new_from_slice(key).map_err(bad)?))
            }
            AeadAlgorithm::Aes128Ccm8 => {
                Cipher::Aes128Ccm8(Box::new(Aes128Ccm8::new_from_slice(key).map_err(bad)?))
            }
            AeadAlgorithm::Aes256Ccm8 => {
                Cipher::Aes256Ccm8(Box::new(Aes256Ccm8::new_from_slice(key).map_err(bad)?))
            }
        }))
    }
}

/// An expanded AEAD key. `Debug` does not show it.
pub struct AeadKey(Cipher);

enum Cipher {
    Aes128Gcm(Box<Aes128Gcm>),
    Aes256Gcm(Box<Aes256Gcm>),
    ChaCha20Poly1305(Box<ChaCha20Poly1305>),
    Aes128Ccm(Box<Aes128Ccm>),
    Aes256Ccm(Box<Aes256Ccm>),
    Aes128Ccm8(Box<Aes128Ccm8>),
    Aes256Ccm8(Box<Aes256Ccm8>),
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadKey(..)")
    }
}

impl AeadKey {
    /// Opens `sealed` (ciphertext followed by the tag) into `out`, which then holds the
    /// plaintext. `sealed` is not modified; on failure `out`'s contents are unspecified.
    pub fn open(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        fn run<A: AeadInOut>(
            aead: &A,
            nonce: &[u8; 12],
            aad: &[u8],
            sealed: &[u8],
            out: &mut Vec<u8>,
        ) -> Result<(), DecryptError> {
            let tag_len = A::TagSize::USIZE;
            let Some(text_len) = sealed.len().checked_sub(tag_len) else {
                return Err(DecryptError::TooShort);
            };
            let (text, tag) = sealed.split_at(text_len);
            out.clear();
            out.extend_from_slice(text);
            let nonce = aes_gcm::aead::Nonce::<A>::try_from(&nonce[..])
                .map_err(|_| DecryptError::BadKeyLength)?;
            let tag = aes_gcm::aead::Tag::<A>::try_from(tag).map_err(|_| DecryptError::TooShort)?;
            aead.decrypt_inout_detached(&nonce, aad, out.as_mut_slice().into(), &tag)
                .map_err(|_| DecryptError::Authentication)
        }
        use aes_gcm::aead::array::typenum::Unsigned;
        match &self.0 {
            Cipher::Aes128Gcm(a) => run(a.as_ref(), nonce, aad, sealed, out),
            Cipher::Aes256Gcm(a) => run(a.as_ref(), nonce, aad, sealed, out),
            Cipher::ChaCha20Poly1305(a) => run(a.as_ref(), nonce, aad, sealed, out),
            Cipher::Aes128Ccm(a) => run(a.as_ref(), nonce, aad, sealed, out),
            Cipher::Aes256Ccm(a) => run(a.as_ref(), nonce, aad, sealed, out),
            Cipher::Aes128Ccm8(a) => run(a.as_ref(), nonce, aad, sealed, out),
            Cipher::Aes256Ccm8(a) => run(a.as_ref(), nonce, aad, sealed, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439 §2.8.2: the AEAD_CHACHA20_POLY1305 test vector.
    #[test]
    fn chacha20_poly1305_rfc8439() {
        let key = hex::decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
            .expect("hex");
        let nonce: [u8; 12] = hex::decode("070000004041424344454647")
            .expect("hex")
            .try_into()
            .expect("12");
        let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").expect("hex");
        let sealed = hex::decode(concat!(
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6",
            "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36",
            "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc",
            "3ff4def08e4b7a9de576d26586cec64b6116",
            "1ae10b594f09e26a7e902ecbd0600691"
        ))
        .expect("hex");
        let key = AeadAlgorithm::ChaCha20Poly1305.key(&key).expect("key");
        let mut out = Vec::new();
        key.open(&nonce, &aad, &sealed, &mut out).expect("open");
        assert!(out.starts_with(b"Ladies and Gentlemen of the class of '99"));
        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert_eq!(
            key.open(&nonce, &aad, &tampered, &mut out),
            Err(DecryptError::Authentication)
        );
        assert_eq!(
            key.open(&nonce, &aad, &sealed[..15], &mut out),
            Err(DecryptError::TooShort)
        );
    }

    #[test]
    fn key_lengths_are_checked() {
        for alg in [
            AeadAlgorithm::Aes128Gcm,
            AeadAlgorithm::Aes256Gcm,
            AeadAlgorithm::ChaCha20Poly1305,
            AeadAlgorithm::Aes128Ccm,
            AeadAlgorithm::Aes256Ccm,
            AeadAlgorithm::Aes128Ccm8,
            AeadAlgorithm::Aes256Ccm8,
        ] {
            assert!(alg.key(&vec![0; alg.key_len()]).is_ok(), "{alg:?}");
            assert_eq!(
                alg.key(&vec![0; alg.key_len() + 1]).map(|_| ()),
                Err(DecryptError::BadKeyLength),
                "{alg:?}"
            );
        }
    }
}
