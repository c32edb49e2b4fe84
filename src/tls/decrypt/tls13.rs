//! TLS 1.3 record protection (RFC 8446 §5.2–5.4, §7.2–7.3): traffic keys from a traffic secret,
//! the per-record nonce (IV XOR sequence number), the record header as additional data, the
//! inner plaintext's content type and padding, and KeyUpdate's next-generation secret.

use crate::tls::key_schedule::{HashAlg, hkdf_expand_label};

use super::DecryptError;
use super::aead::{AeadAlgorithm, AeadKey};

/// Largest TLS 1.3 ciphertext: 2^14 plaintext bytes plus 256 (RFC 8446 §5.2).
pub const MAX_CIPHERTEXT_LEN: usize = (1 << 14) + 256;

/// The AEAD and hash of a TLS 1.3 cipher suite, `None` for a code that is not one.
pub fn tls13_suite(cipher: u16) -> Option<(AeadAlgorithm, HashAlg)> {
    Some(match cipher {
        0x1301 => (AeadAlgorithm::Aes128Gcm, HashAlg::Sha256),
        0x1302 => (AeadAlgorithm::Aes256Gcm, HashAlg::Sha384),
        0x1303 => (AeadAlgorithm::ChaCha20Poly1305, HashAlg::Sha256),
        0x1304 => (AeadAlgorithm::Aes128Ccm, HashAlg::Sha256),
        0x1305 => (AeadAlgorithm::Aes128Ccm8, HashAlg::Sha256),
        _ => return None,
    })
}

/// One direction's TLS 1.3 protection under one traffic secret: the key, the IV, and the
/// sequence number of the next record. `Debug` shows the suite and counters only.
pub struct Tls13Protection {
    aead: AeadAlgorithm,
    hash: HashAlg,
    secret: Vec<u8>,
    key: AeadKey,
    iv: [u8; 12],
    seq: u64,
    generation: u32,
}

impl std::fmt::Debug for Tls13Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls13Protection")
            .field("aead", &self.aead)
            .field("seq", &self.seq)
            .field("generation", &self.generation)
            .finish()
    }
}

impl Drop for Tls13Protection {
    fn drop(&mut self) {
        self.secret.fill(0);
        self.iv.fill(0);
    }
}

/// A decrypted TLS 1.3 record: the real content type from the inner plaintext; the content is
/// left in the caller's buffer, padding removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InnerPlaintext {
    /// Content type of the inner plaintext (handshake 22, alert 21, application data 23).
    pub content_type: u8,
}

impl Tls13Protection {
    /// Protection from `secret` (a traffic secret from a key log) for the suite `cipher`.
    pub fn new(cipher: u16, secret: &[u8]) -> Result<Self, DecryptError> {
        let (aead, hash) = tls13_suite(cipher).ok_or(DecryptError::UnsupportedCipher(cipher))?;
        Self::with(aead, hash, secret.to_vec(), 0)
    }

    fn with(
        aead: AeadAlgorithm,
        hash: HashAlg,
        secret: Vec<u8>,
        generation: u32,
    ) -> Result<Self, DecryptError> {
        if secret.len() != hash.output_len() {
            return Err(DecryptError::BadSecretLength {
                got: secret.len(),
                need: hash.output_len(),
            });
        }
        let mut key = [0u8; 32];
        let key = &mut key[..aead.key_len()];
        hkdf_expand_label(hash, &secret, b"key", &[], key)?;
        let mut iv = [0u8; 12];
        hkdf_expand_label(hash, &secret, b"iv", &[], &mut iv)?;
        let cipher = aead.key(key);
        key.fill(0);
        Ok(Tls13Protection {
            aead,
            hash,
            secret,
            key: cipher?,
            iv,
            seq: 0,
            generation,
        })
    }

    /// The traffic secret (the base key of this sender's Finished).
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The suite's hash.
    pub fn hash(&self) -> HashAlg {
        self.hash
    }

    /// Sequence number of the next record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// KeyUpdates applied so far.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Opens one protected record (`header` is its 5-byte record header, the additional data)
    /// into `out`; on success the sequence number advances and `out` holds the content.
    pub fn open(
        &mut self,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<InnerPlaintext, DecryptError> {
        if body.len() > MAX_CIPHERTEXT_LEN {
            return Err(DecryptError::RecordOverflow(body.len()));
        }
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        self.key.open(&nonce, header, body, out)?;
        // The content type is the last nonzero byte; zeros after it are padding.
        let Some(end) = out.iter().rposition(|&b| b != 0) else {
            return Err(DecryptError::NoContentType);
        };
        let content_type = out[end];
        out.truncate(end);
        self.seq += 1;
        Ok(InnerPlaintext { content_type })
    }

    /// Accounts for `n` records sent under this secret that could not be opened here (early
    /// data sent before the ServerHello named the suite, records lost in a capture gap).
    pub fn skip_records(&mut self, n: u64) {
        self.seq += n;
    }

    /// Sets the sequence number of the next record (undoing a trial of [`skip_records`]).
    ///
    /// [`skip_records`]: Self::skip_records
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// Moves to the next generation after a KeyUpdate from this sender (RFC 8446 §7.2):
    /// `secret' = HKDF-Expand-Label(secret, "traffic upd", "", Hash.length)`, new key and IV,
    /// sequence number 0.
    pub fn key_update(&mut self) -> Result<(), DecryptError> {
        let mut next = vec![0u8; self.hash.output_len()];
        hkdf_expand_label(self.hash, &self.secret, b"traffic upd", &[], &mut next)?;
        *self = Self::with(self.aead, self.hash, next, self.generation + 1)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).expect("hex")
    }

    /// RFC 8448 §3: the server's handshake record (EncryptedExtensions, Certificate,
    /// CertificateVerify, Finished) under the server handshake traffic secret.
    #[test]
    fn rfc8448_simple_handshake_server_flight() {
        let secret = unhex(
            "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38",
        );
        let record = unhex(super::super::tests::RFC8448_SERVER_HANDSHAKE_RECORD);
        let mut p = Tls13Protection::new(0x1301, &secret).expect("protection");
        let header: [u8; 5] = record[..5].try_into().expect("header");
        let mut out = Vec::new();
        let inner = p.open(&header, &record[5..], &mut out).expect("open");
        assert_eq!(inner.content_type, 22);
        assert_eq!(
            out.len(),
            40 + 445 + 136 + 36,
            "EE, Certificate, CertificateVerify, Finished"
        );
        assert_eq!(
            &out[..6],
            &[0x08, 0x00, 0x00, 0x24, 0x00, 0x22],
            "EncryptedExtensions"
        );
        assert_eq!(p.seq(), 1);
        // The same record again is under sequence number 1 now: it does not open.
        assert_eq!(
            p.open(&header, &record[5..], &mut out),
            Err(DecryptError::Authentication)
        );
        assert_eq!(p.seq(), 1, "a failed record does not advance the sequence");
    }

    #[test]
    fn key_update_derives_the_next_generation() {
        let secret = [7u8; 32];
        let mut p = Tls13Protection::new(0x1303, &secret).expect("protection");
        let mut expected = [0u8; 32];
        hkdf_expand_label(HashAlg::Sha256, &secret, b"traffic upd", &[], &mut expected)
            .expect("expand");
        p.key_update().expect("update");
        assert_eq!(p.secret(), &expected);
        assert_eq!((p.generation(), p.seq()), (1, 0));
    }

    #[test]
    fn secrets_of_the_wrong_length_and_unknown_suites_are_refused() {
        assert_eq!(
            Tls13Protection::new(0x1302, &[0; 32]).map(|_| ()),
            Err(DecryptError::BadSecretLength { got: 32, need: 48 })
        );
        assert_eq!(
            Tls13Protection::new(0xc02f, &[0; 32]).map(|_| ()),
            Err(DecryptError::UnsupportedCipher(0xc02f))
        );
        let mut p = Tls13Protection::new(0x1301, &[0; 32]).expect("p");
        let mut out = Vec::new();
        assert_eq!(
            p.open(
                &[23, 3, 3, 0x44, 0x01],
                &vec![0; MAX_CIPHERTEXT_LEN + 1],
                &mut out
            ),
            Err(DecryptError::RecordOverflow(MAX_CIPHERTEXT_LEN + 1))
        );
        assert!(!format!("{p:?}").contains("secret"));
    }
}
