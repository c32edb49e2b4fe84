//! TLS 1.0–1.2 record protection from a `CLIENT_RANDOM` master secret (RFC 5246 §6.3): the
//! suite's parameters, the key block, and records under AEAD (AES-GCM and AES-CCM with an
//! explicit nonce, RFC 5288 / 6655; ChaCha20-Poly1305 with the sequence-number nonce, RFC 7905)
//! or CBC-HMAC ([`super::cbc`]). SSL 3.0 (its own MAC and key derivation) is not decrypted.

use tls_parser::{TlsCipherEnc, TlsCipherEncMode, TlsCipherMac, TlsCipherSuite, TlsPRF};

use super::DecryptError;
use super::aead::{AeadAlgorithm, AeadKey};
use super::cbc::{CbcHmac, MacAlgorithm};
use super::prf::Prf;

/// How a TLS ≤ 1.2 suite protects records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bulk {
    /// An AEAD; `explicit_nonce` for GCM and CCM (8 bytes in each record after a 4-byte salt
    /// from the key block), not for ChaCha20-Poly1305 (12-byte IV XOR sequence number).
    Aead {
        /// The algorithm.
        alg: AeadAlgorithm,
        /// Whether records carry an 8-byte explicit nonce.
        explicit_nonce: bool,
    },
    /// AES-CBC with an HMAC.
    Cbc {
        /// AES key length (16 or 32).
        key_len: usize,
        /// The HMAC.
        mac: MacAlgorithm,
    },
}

/// What decryption needs to know of a TLS ≤ 1.2 cipher suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tls12Suite {
    /// Record protection.
    pub bulk: Bulk,
    /// The PRF hash under TLS 1.2 (SHA-384 for `_SHA384` suites, SHA-256 otherwise).
    pub prf: Prf,
}

impl Tls12Suite {
    /// The parameters of `cipher`, from tls-parser's IANA table; `None` for suites tlsight
    /// does not decrypt (RC4, 3DES, Camellia, ARIA, NULL, ...).
    pub fn of(cipher: u16) -> Option<Self> {
        let suite = TlsCipherSuite::from_id(cipher)?;
        let key_len = suite.enc_key_size();
        let bulk = match (suite.enc, suite.enc_mode) {
            (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm) => Bulk::Aead {
                alg: match key_len {
                    16 => AeadAlgorithm::Aes128Gcm,
                    32 => AeadAlgorithm::Aes256Gcm,
                    _ => return None,
                },
                explicit_nonce: true,
            },
            (TlsCipherEnc::Aes, TlsCipherEncMode::Ccm) => Bulk::Aead {
                alg: match (key_len, suite.name.ends_with("_8")) {
                    (16, false) => AeadAlgorithm::Aes128Ccm,
                    (32, false) => AeadAlgorithm::Aes256Ccm,
                    (16, true) => AeadAlgorithm::Aes128Ccm8,
                    (32, true) => AeadAlgorithm::Aes256Ccm8,
                    _ => return None,
                },
                explicit_nonce: true,
            },
            (TlsCipherEnc::Chacha20_Poly1305, _) => Bulk::Aead {
                alg: AeadAlgorithm::ChaCha20Poly1305,
                explicit_nonce: false,
            },
            (TlsCipherEnc::Aes, TlsCipherEncMode::Cbc) if key_len == 16 || key_len == 32 => {
                Bulk::Cbc {
                    key_len,
                    mac: match suite.mac {
                        TlsCipherMac::HmacSha1 => MacAlgorithm::Sha1,
                        TlsCipherMac::HmacSha256 => MacAlgorithm::Sha256,
                        TlsCipherMac::HmacSha384 => MacAlgorithm::Sha384,
                        _ => return None,
                    },
                }
            }
            _ => return None,
        };
        // TLS 1.3 suites are AEADs too, but have no key block.
        if suite.name.starts_with("TLS_AES_") || suite.name.starts_with("TLS_CHACHA20_") {
            return None;
        }
        let prf = if suite.prf == TlsPRF::Sha384 {
            Prf::Sha384
        } else {
            Prf::Sha256
        };
        Some(Tls12Suite { bulk, prf })
    }

    /// The PRF a connection of `version` uses with this suite (MD5+SHA-1 before TLS 1.2).
    pub fn prf_for(&self, version: u16) -> Prf {
        if version >= 0x0303 {
            self.prf
        } else {
            Prf::Md5Sha1
        }
    }
}

/// One direction's TLS ≤ 1.2 record protection. `Debug` shows the kind and sequence only.
pub struct Tls12Protection {
    seq: u64,
    cipher: Cipher,
}

enum Cipher {
    Aead {
        key: AeadKey,
        iv: [u8; 12],
        explicit_nonce: bool,
        tag_len: usize,
    },
    Cbc(CbcHmac),
}

impl std::fmt::Debug for Tls12Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.cipher {
            Cipher::Aead { .. } => "aead",
            Cipher::Cbc(_) => "cbc",
        };
        f.debug_struct("Tls12Protection")
            .field("kind", &kind)
            .field("seq", &self.seq)
            .finish()
    }
}

/// The protections of both directions of a TLS ≤ 1.2 handshake: what the client writes and
/// what the server writes.
#[derive(Debug)]
pub struct Tls12Keys {
    /// Protects records the client sends.
    pub client: Tls12Protection,
    /// Protects records the server sends.
    pub server: Tls12Protection,
}

impl Tls12Keys {
    /// Derives the key block of a handshake (RFC 5246 §6.3):
    /// `PRF(master, "key expansion", server_random + client_random)`, cut into MAC keys,
    /// cipher keys and IVs for each side. `encrypt_then_mac` as negotiated (CBC suites only).
    pub fn derive(
        version: u16,
        cipher: u16,
        master_secret: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        encrypt_then_mac: bool,
    ) -> Result<Self, DecryptError> {
        if !(0x0301..=0x0303).contains(&version) {
            return Err(DecryptError::UnsupportedVersion(version));
        }
        if master_secret.len() != 48 {
            return Err(DecryptError::BadSecretLength {
                got: master_secret.len(),
                need: 48,
            });
        }
        let suite = Tls12Suite::of(cipher).ok_or(DecryptError::UnsupportedCipher(cipher))?;
        let (mac_len, key_len, iv_len) = match suite.bulk {
            Bulk::Aead {
                alg,
                explicit_nonce,
            } => (0, alg.key_len(), if explicit_nonce { 4 } else { 12 }),
            Bulk::Cbc { key_len, mac } => (mac.output_len(), key_len, 16),
        };
        if matches!(suite.bulk, Bulk::Aead { .. }) && version < 0x0303 {
            // AEAD suites exist only from TLS 1.2 on.
            return Err(DecryptError::UnsupportedCipher(cipher));
        }
        let mut block = vec![0u8; 2 * (mac_len + key_len + iv_len)];
        suite.prf_for(version).derive(
            master_secret,
            b"key expansion",
            &[server_random, client_random],
            &mut block,
        );
        let (client_mac, rest) = block.split_at(mac_len);
        let (server_mac, rest) = rest.split_at(mac_len);
        let (client_key, rest) = rest.split_at(key_len);
        let (server_key, rest) = rest.split_at(key_len);
        let (client_iv, server_iv) = rest.split_at(iv_len);
        let side =
            |mac_key: &[u8], key: &[u8], iv: &[u8]| -> Result<Tls12Protection, DecryptError> {
                let cipher = match suite.bulk {
                    Bulk::Aead {
                        alg,
                        explicit_nonce,
                    } => {
                        let mut full = [0u8; 12];
                        full[..iv.len()].copy_from_slice(iv);
                        Cipher::Aead {
                            key: alg.key(key)?,
                            iv: full,
                            explicit_nonce,
                            tag_len: alg.tag_len(),
                        }
                    }
                    Bulk::Cbc { mac, .. } => Cipher::Cbc(CbcHmac::new(
                        key,
                        mac,
                        mac_key,
                        iv,
                        version == 0x0301,
                        encrypt_then_mac,
                    )?),
                };
                Ok(Tls12Protection { seq: 0, cipher })
            };
        let keys = Tls12Keys {
            client: side(client_mac, client_key, client_iv)?,
            server: side(server_mac, server_key, server_iv)?,
        };
        block.fill(0);
        Ok(keys)
    }
}

/// Largest TLS ≤ 1.2 ciphertext (RFC 5246 §6.2.3).
pub const MAX_CIPHERTEXT_LEN: usize = (1 << 14) + 2048;

impl Tls12Protection {
    /// Sequence number of the next record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Sets the sequence number of the next record (records lost in a capture gap).
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// Opens one record into `out` (the content type is the header's); on success the
    /// sequence number advances.
    pub fn open(
        &mut self,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        if body.len() > MAX_CIPHERTEXT_LEN {
            return Err(DecryptError::RecordOverflow(body.len()));
        }
        let seq = self.seq;
        match &mut self.cipher {
            Cipher::Aead {
                key,
                iv,
                explicit_nonce,
                tag_len,
            } => {
                let mut nonce = *iv;
                let sealed = if *explicit_nonce {
                    if body.len() < 8 {
                        return Err(DecryptError::TooShort);
                    }
                    nonce[4..].copy_from_slice(&body[..8]);
                    &body[8..]
                } else {
                    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                        *n ^= s;
                    }
                    body
                };
                let plain_len = sealed
                    .len()
                    .checked_sub(*tag_len)
                    .ok_or(DecryptError::TooShort)?;
                let mut aad = [0u8; 13];
                aad[..8].copy_from_slice(&seq.to_be_bytes());
                aad[8..11].copy_from_slice(&header[..3]);
                aad[11..].copy_from_slice(&(plain_len as u16).to_be_bytes());
                key.open(&nonce, &aad, sealed, out)?;
            }
            Cipher::Cbc(cbc) => cbc.open(seq, header, body, out)?,
        }
        self.seq += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_from_the_iana_table() {
        let aead = |alg, explicit_nonce| Bulk::Aead {
            alg,
            explicit_nonce,
        };
        let cases = [
            (0xc02f, aead(AeadAlgorithm::Aes128Gcm, true), Prf::Sha256),
            (0xc030, aead(AeadAlgorithm::Aes256Gcm, true), Prf::Sha384),
            (0x009c, aead(AeadAlgorithm::Aes128Gcm, true), Prf::Sha256),
            (
                0xcca8,
                aead(AeadAlgorithm::ChaCha20Poly1305, false),
                Prf::Sha256,
            ),
            (0xc0ac, aead(AeadAlgorithm::Aes128Ccm, true), Prf::Sha256),
            (0xc0ae, aead(AeadAlgorithm::Aes128Ccm8, true), Prf::Sha256),
            (
                0xc014,
                Bulk::Cbc {
                    key_len: 32,
                    mac: MacAlgorithm::Sha1,
                },
                Prf::Sha256,
            ),
            (
                0x003c,
                Bulk::Cbc {
                    key_len: 16,
                    mac: MacAlgorithm::Sha256,
                },
                Prf::Sha256,
            ),
            (
                0xc024,
                Bulk::Cbc {
                    key_len: 32,
                    mac: MacAlgorithm::Sha384,
                },
                Prf::Sha384,
            ),
        ];
        for (code, bulk, prf) in cases {
            assert_eq!(
                Tls12Suite::of(code),
                Some(Tls12Suite { bulk, prf }),
                "{code:#06x}"
            );
        }
        for code in [0x0005, 0x000a, 0x1301, 0x1303, 0x0000, 0xffff] {
            assert_eq!(Tls12Suite::of(code), None, "{code:#06x}");
        }
        let cbc = Tls12Suite::of(0xc014).expect("suite");
        assert_eq!(cbc.prf_for(0x0301), Prf::Md5Sha1);
    }

    #[test]
    fn unsupported_inputs_are_named() {
        let r = [0u8; 32];
        let err = |version, cipher, len| {
            Tls12Keys::derive(version, cipher, &vec![0; len], &r, &r, false).map(|_| ())
        };
        assert_eq!(
            err(0x0300, 0xc014, 48),
            Err(DecryptError::UnsupportedVersion(0x0300))
        );
        assert_eq!(
            err(0x0303, 0x0005, 48),
            Err(DecryptError::UnsupportedCipher(0x0005))
        );
        assert_eq!(
            err(0x0302, 0xc02f, 48),
            Err(DecryptError::UnsupportedCipher(0xc02f))
        );
        assert_eq!(
            err(0x0303, 0xc02f, 32),
            Err(DecryptError::BadSecretLength { got: 32, need: 48 })
        );
    }
}
