//! CBC-HMAC record protection of TLS 1.0–1.2 (RFC 5246 §6.2.3.2): AES-128/256-CBC with
//! HMAC-SHA1/SHA256/SHA384, MAC-then-encrypt by default and encrypt-then-MAC when the
//! `encrypt_then_mac` extension was negotiated (RFC 7366). TLS 1.0 chains the IV from the
//! previous record (the last ciphertext block); TLS 1.1 and later send it explicitly.
//!
//! CBC is chained by hand over the `aes` block cipher: one XOR per block, with the key
//! expanded once per direction instead of once per record.

use aes::cipher::{BlockCipherDecrypt, KeyInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384};

use super::DecryptError;

const BLOCK: usize = 16;

/// The HMAC of a CBC suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacAlgorithm {
    /// HMAC-SHA1 (suites ending in `_SHA`).
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA384.
    Sha384,
}

impl MacAlgorithm {
    /// MAC (and MAC key) length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            MacAlgorithm::Sha1 => 20,
            MacAlgorithm::Sha256 => 32,
            MacAlgorithm::Sha384 => 48,
        }
    }

    /// HMAC(key, parts...).
    fn compute(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else {
                return Vec::new();
            };
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        match self {
            MacAlgorithm::Sha1 => run::<Hmac<Sha1>>(key, parts),
            MacAlgorithm::Sha256 => run::<Hmac<Sha256>>(key, parts),
            MacAlgorithm::Sha384 => run::<Hmac<Sha384>>(key, parts),
        }
    }
}

enum BlockCipher {
    Aes128(Box<aes::Aes128>),
    Aes256(Box<aes::Aes256>),
}

impl BlockCipher {
    fn decrypt(&self, block: &mut aes::Block) {
        match self {
            BlockCipher::Aes128(c) => c.decrypt_block(block),
            BlockCipher::Aes256(c) => c.decrypt_block(block),
        }
    }
}

/// One direction's CBC-HMAC protection. `Debug` shows the MAC and mode only.
pub struct CbcHmac {
    cipher: BlockCipher,
    mac: MacAlgorithm,
    mac_key: Vec<u8>,
    /// TLS 1.0: the IV of the next record (the previous record's last ciphertext block).
    chained_iv: Option<[u8; BLOCK]>,
    encrypt_then_mac: bool,
}

impl std::fmt::Debug for CbcHmac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CbcHmac")
            .field("mac", &self.mac)
            .field("chained_iv", &self.chained_iv.is_some())
            .field("encrypt_then_mac", &self.encrypt_then_mac)
            .finish()
    }
}

impl Drop for CbcHmac {
    fn drop(&mut self) {
        self.mac_key.fill(0);
    }
}

impl CbcHmac {
    /// Protection from the key block's pieces: `iv` is used only by TLS 1.0 (`chain_iv`).
    pub fn new(
        key: &[u8],
        mac: MacAlgorithm,
        mac_key: &[u8],
        iv: &[u8],
        chain_iv: bool,
        encrypt_then_mac: bool,
    ) -> Result<Self, DecryptError> {
        let bad = |_| DecryptError::BadKeyLength;
        let cipher = match key.len() {
            16 => BlockCipher::Aes128(Box::new(aes::Aes128::new_from_slice(key).map_err(bad)?)),
            32 => BlockCipher::Aes256(Box::new(aes::Aes256::new_from_slice(key).map_err(bad)?)),
            _ => return Err(DecryptError::BadKeyLength),
        };
        let chained_iv = if chain_iv {
            Some(iv.try_into().map_err(|_| DecryptError::BadKeyLength)?)
        } else {
            None
        };
        Ok(CbcHmac {
            cipher,
            mac,
            mac_key: mac_key.to_vec(),
            chained_iv,
            encrypt_then_mac,
        })
    }

    /// Opens record number `seq` into `out` (content only: IV, MAC and padding removed).
    pub fn open(
        &mut self,
        seq: u64,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        let mac_len = self.mac.output_len();
        let seq = seq.to_be_bytes();
        let (iv_and_ct, mac) = if self.encrypt_then_mac {
            let at = body
                .len()
                .checked_sub(mac_len)
                .ok_or(DecryptError::TooShort)?;
            let (data, mac) = body.split_at(at);
            let len = (data.len() as u16).to_be_bytes();
            let want = self
                .mac
                .compute(&self.mac_key, &[&seq, &header[..3], &len, data]);
            if want != mac {
                return Err(DecryptError::Authentication);
            }
            (data, None)
        } else {
            (body, Some(()))
        };
        let (iv, ct) = match self.chained_iv {
            Some(iv) => (iv, iv_and_ct),
            None => {
                if iv_and_ct.len() < BLOCK {
                    return Err(DecryptError::TooShort);
                }
                let (iv, ct) = iv_and_ct.split_at(BLOCK);
                (iv.try_into().map_err(|_| DecryptError::TooShort)?, ct)
            }
        };
        if ct.is_empty() || ct.len() % BLOCK != 0 {
            return Err(DecryptError::TooShort);
        }
        self.decrypt(iv, ct, out);
        let pad = usize::from(*out.last().ok_or(DecryptError::TooShort)?);
        let tail = pad + 1 + if mac.is_some() { mac_len } else { 0 };
        if tail > out.len()
            || out[out.len() - pad - 1..]
                .iter()
                .any(|&b| usize::from(b) != pad)
        {
            return Err(DecryptError::BadPadding);
        }
        let content_len = out.len() - tail;
        if mac.is_some() {
            let (content, rest) = out.split_at(content_len);
            let len = (content_len as u16).to_be_bytes();
            let want = self
                .mac
                .compute(&self.mac_key, &[&seq, &header[..3], &len, content]);
            if want != rest[..mac_len] {
                return Err(DecryptError::Authentication);
            }
        }
        out.truncate(content_len);
        if let Some(chained) = &mut self.chained_iv {
            chained.copy_from_slice(&ct[ct.len() - BLOCK..]);
        }
        Ok(())
    }

    /// CBC-decrypts `ct` (whole blocks) with `iv` into `out`.
    fn decrypt(&self, iv: [u8; BLOCK], ct: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(ct.len());
        let mut prev = iv;
        for chunk in ct.chunks_exact(BLOCK) {
            let mut block = aes::Block::default();
            block.copy_from_slice(chunk);
            self.cipher.decrypt(&mut block);
            out.extend(block.iter().zip(prev).map(|(b, p)| b ^ p));
            prev.copy_from_slice(chunk);
        }
    }
}

/// Test helper: seals a record the way a TLS peer does (the decryptor never encrypts). The
/// arguments are the record's inputs in the order RFC 5246 lists them.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn seal_for_test(
    key: &[u8],
    mac: MacAlgorithm,
    mac_key: &[u8],
    seq: u64,
    header: &[u8; 5],
    iv: [u8; BLOCK],
    explicit_iv: bool,
    encrypt_then_mac: bool,
    content: &[u8],
) -> Vec<u8> {
    use aes::cipher::BlockCipherEncrypt;
    let enc = |block: &mut aes::Block| match key.len() {
        16 => aes::Aes128::new_from_slice(key)
            .expect("key")
            .encrypt_block(block),
        _ => aes::Aes256::new_from_slice(key)
            .expect("key")
            .encrypt_block(block),
    };
    let seq = seq.to_be_bytes();
    let mut plain = content.to_vec();
    if !encrypt_then_mac {
        let len = (content.len() as u16).to_be_bytes();
        plain.extend(mac.compute(mac_key, &[&seq, &header[..3], &len, content]));
    }
    let pad = BLOCK - 1 - plain.len() % BLOCK;
    plain.extend(std::iter::repeat_n(pad as u8, pad + 1));
    let mut out = if explicit_iv { iv.to_vec() } else { Vec::new() };
    let mut prev = iv;
    for chunk in plain.chunks_exact(BLOCK) {
        let mut block = aes::Block::default();
        for (b, (c, p)) in block.iter_mut().zip(chunk.iter().zip(prev)) {
            *b = c ^ p;
        }
        enc(&mut block);
        out.extend_from_slice(&block);
        prev.copy_from_slice(&block);
    }
    if encrypt_then_mac {
        let len = (out.len() as u16).to_be_bytes();
        let tag = mac.compute(mac_key, &[&seq, &header[..3], &len, &out]);
        out.extend(tag);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = [0x11; 16];
    const MAC_KEY: [u8; 20] = [0x22; 20];
    const HEADER: [u8; 5] = [23, 3, 3, 0, 0];

    #[test]
    fn mac_then_encrypt_with_explicit_iv() {
        let sealed = seal_for_test(
            &KEY,
            MacAlgorithm::Sha1,
            &MAC_KEY,
            5,
            &HEADER,
            [0x33; 16],
            true,
            false,
            b"hello",
        );
        let mut p =
            CbcHmac::new(&KEY, MacAlgorithm::Sha1, &MAC_KEY, &[], false, false).expect("keys");
        let mut out = Vec::new();
        p.open(5, &HEADER, &sealed, &mut out).expect("open");
        assert_eq!(out, b"hello");
        assert_eq!(
            p.open(6, &HEADER, &sealed, &mut out),
            Err(DecryptError::Authentication),
            "the sequence number is in the MAC"
        );
        let mut damaged = sealed.clone();
        let last = damaged.len() - 1;
        damaged[last - 16] ^= 0x01; // flips the last plaintext byte: the padding length
        assert!(p.open(5, &HEADER, &damaged, &mut out).is_err());
    }

    #[test]
    fn tls10_chains_the_iv_across_records() {
        let iv0 = [0x44; 16];
        let first = seal_for_test(
            &KEY,
            MacAlgorithm::Sha1,
            &MAC_KEY,
            0,
            &HEADER,
            iv0,
            false,
            false,
            b"first record",
        );
        let iv1: [u8; 16] = first[first.len() - 16..].try_into().expect("block");
        let second = seal_for_test(
            &KEY,
            MacAlgorithm::Sha1,
            &MAC_KEY,
            1,
            &HEADER,
            iv1,
            false,
            false,
            b"second",
        );
        let mut p =
            CbcHmac::new(&KEY, MacAlgorithm::Sha1, &MAC_KEY, &iv0, true, false).expect("keys");
        let mut out = Vec::new();
        p.open(0, &HEADER, &first, &mut out).expect("first");
        assert_eq!(out, b"first record");
        p.open(1, &HEADER, &second, &mut out).expect("second");
        assert_eq!(out, b"second");
    }

    #[test]
    fn encrypt_then_mac_checks_the_mac_first() {
        let key = [0x55; 32];
        let mac_key = [0x66; 48];
        let sealed = seal_for_test(
            &key,
            MacAlgorithm::Sha384,
            &mac_key,
            9,
            &HEADER,
            [0x77; 16],
            true,
            true,
            &[0xab; 40],
        );
        let mut p =
            CbcHmac::new(&key, MacAlgorithm::Sha384, &mac_key, &[], false, true).expect("keys");
        let mut out = Vec::new();
        p.open(9, &HEADER, &sealed, &mut out).expect("open");
        assert_eq!(out, vec![0xab; 40]);
        let mut damaged = sealed.clone();
        damaged[20] ^= 1;
        assert_eq!(
            p.open(9, &HEADER, &damaged, &mut out),
            Err(DecryptError::Authentication)
        );
        // Without EtM, the same bytes are not a valid MtE record.
        let mut mte =
            CbcHmac::new(&key, MacAlgorithm::Sha384, &mac_key, &[], false, false).expect("keys");
        assert!(mte.open(9, &HEADER, &sealed, &mut out).is_err());
    }

    #[test]
    fn short_and_ragged_records_are_refused() {
        let mut p =
            CbcHmac::new(&KEY, MacAlgorithm::Sha256, &[0; 32], &[], false, false).expect("keys");
        let mut out = Vec::new();
        assert_eq!(
            p.open(0, &HEADER, &[0; 10], &mut out),
            Err(DecryptError::TooShort)
        );
        assert_eq!(
            p.open(0, &HEADER, &[0; 16], &mut out),
            Err(DecryptError::TooShort)
        );
        assert_eq!(
            p.open(0, &HEADER, &[0; 40], &mut out),
            Err(DecryptError::TooShort)
        );
        assert!(p.open(0, &HEADER, &[0; 48], &mut out).is_err());
    }
}
