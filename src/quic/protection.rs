//! Packet protection (RFC 9001 §5): the AEAD that seals a packet's payload and the header
//! protection that hides its first byte's low bits and its packet number.
//!
//! Keys are held as their bytes ([`PacketKeys`], 92 bytes per direction) and the cipher objects
//! are built per packet: a connection opens only a handful of Initial packets, building an AES
//! key schedule costs far less than the HKDF derivation every connection needs anyway, and a
//! flow table of a million QUIC flows then holds bytes rather than expanded key schedules.
//!
//! Crates: RustCrypto's `aes-gcm`, `aes` (header protection: AES-ECB on one block),
//! `chacha20poly1305` and `chacha20` — the same family as the `hkdf`/`sha2` already used for the
//! key schedule, pure Rust, with AES-NI and CLMUL selected at run time. Measured against `ring`
//! per client Initial (both directions' keys from a fresh DCID, header protection, AES-128-GCM
//! open of the 1200-byte RFC 9001 A.2 packet; `benches/quic_crypto_compare`, medians of 15
//! alternating rounds): RustCrypto 9.8 µs vs ring 8.9 µs in one run, 11.0 vs 10.7 µs in
//! another. RustCrypto derives keys faster (6.2 vs 8.6 µs) and opens slower (about 4.8 vs
//! 2.1 µs). `ring` is not clearly better, so the crates already in the tree stay; the AEAD
//! open is the lever if QUIC's per-connection cost needs it (`benches/README.md`). Criterion
//! figures of tlsight's own path: `cargo bench --bench hot -- quic`.

use aes::cipher::consts::U16;
use aes::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipherCore};
use aes_gcm::aead::AeadInOut;

use super::version::Labels;
use crate::tls::key_schedule::{HashAlg, KeyScheduleError, Prk};

/// Length of the AEAD tag of every QUIC packet.
pub const TAG_LEN: usize = 16;
/// Length of the header-protection sample.
pub const SAMPLE_LEN: usize = 16;

/// The AEAD of a TLS 1.3 cipher suite, which also decides the header-protection cipher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// TLS_AES_128_GCM_SHA256 (every Initial packet).
    Aes128Gcm,
    /// TLS_AES_256_GCM_SHA384.
    Aes256Gcm,
    /// TLS_CHACHA20_POLY1305_SHA256.
    ChaCha20Poly1305,
}

impl Suite {
    /// The suite of a TLS 1.3 cipher-suite code (for key logs), if QUIC can use it.
    pub fn from_cipher_suite(code: u16) -> Option<Suite> {
        match code {
            0x1301 => Some(Suite::Aes128Gcm),
            0x1302 => Some(Suite::Aes256Gcm),
            0x1303 => Some(Suite::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// Key length of the AEAD and of the header protection.
    pub fn key_len(self) -> usize {
        match self {
            Suite::Aes128Gcm => 16,
            Suite::Aes256Gcm | Suite::ChaCha20Poly1305 => 32,
        }
    }

    /// The hash of the suite's key schedule.
    pub fn hash(self) -> HashAlg {
        match self {
            Suite::Aes256Gcm => HashAlg::Sha384,
            Suite::Aes128Gcm | Suite::ChaCha20Poly1305 => HashAlg::Sha256,
        }
    }
}

/// Why a packet could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The packet is too short for a header-protection sample or an AEAD tag.
    #[error("packet too short to remove its protection")]
    TooShort,
    /// The AEAD tag did not verify: other keys, or corrupted bytes.
    #[error("AEAD tag did not verify")]
    Authentication,
}

/// One direction's packet-protection keys, as bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketKeys {
    /// The AEAD and header-protection algorithm.
    pub suite: Suite,
    /// AEAD key (the first `suite.key_len()` bytes are used).
    pub key: [u8; 32],
    /// AEAD IV, XORed with the packet number to make the nonce.
    pub iv: [u8; 12],
    /// Header-protection key (the first `suite.key_len()` bytes are used).
    pub hp: [u8; 32],
}

impl PacketKeys {
    /// The keys of a traffic secret (RFC 9001 §5.1): `key`, `iv` and `hp` expanded with the
    /// version's labels.
    pub fn from_secret(
        suite: Suite,
        labels: &Labels,
        secret: &[u8],
    ) -> Result<PacketKeys, KeyScheduleError> {
        let prk = Prk::new(suite.hash(), secret)?;
        let n = suite.key_len();
        let mut keys = PacketKeys {
            suite,
            key: [0; 32],
            iv: [0; 12],
            hp: [0; 32],
        };
        prk.expand_label(labels.key, &[], &mut keys.key[..n])?;
        prk.expand_label(labels.iv, &[], &mut keys.iv)?;
        prk.expand_label(labels.hp, &[], &mut keys.hp[..n])?;
        Ok(keys)
    }

    /// The AEAD key actually used.
    pub fn aead_key(&self) -> &[u8] {
        &self.key[..self.suite.key_len()]
    }

    /// The header-protection key actually used.
    pub fn hp_key(&self) -> &[u8] {
        &self.hp[..self.suite.key_len()]
    }

    /// The header-protection mask for a sample (RFC 9001 §5.4.3, §5.4.4): the first five bytes
    /// of AES-ECB(hp, sample), or of ChaCha20 keyed with hp, counter and nonce from the sample.
    pub fn header_mask(&self, sample: &[u8; SAMPLE_LEN]) -> [u8; 5] {
        let mut mask = [0u8; 5];
        match self.suite {
            Suite::Aes128Gcm => mask_aes(
                &aes::Aes128::new(&prefix(&self.hp).into()),
                sample,
                &mut mask,
            ),
            Suite::Aes256Gcm => mask_aes(&aes::Aes256::new(&self.hp.into()), sample, &mut mask),
            Suite::ChaCha20Poly1305 => {
                // The cipher's core, not its stream wrapper: the wrapper refuses (panics on)
                // the 32-bit counter's last block, 0xffffffff, which a sample may name.
                let counter = u32::from_le_bytes(prefix(sample));
                let nonce: [u8; 12] = prefix(&sample[4..]);
                let mut core = chacha20::ChaChaCore::<chacha20::R20, chacha20::variants::Ietf>::new(
                    &self.hp.into(),
                    &nonce.into(),
                );
                core.set_block_pos(counter);
                let mut block = Default::default();
                core.write_keystream_block(&mut block);
                mask.copy_from_slice(&block[..5]);
            }
        }
        mask
    }

    /// Opens a payload in place: `payload` holds the ciphertext followed by the tag, `aad` the
    /// unprotected header. Returns the plaintext length (the plaintext is `payload[..len]`).
    pub fn open_in_place(
        &self,
        packet_number: u64,
        aad: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, OpenError> {
        let len = payload
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(OpenError::TooShort)?;
        let (text, tag) = payload.split_at_mut(len);
        let tag: [u8; TAG_LEN] = prefix(tag);
        let tag = &tag.into();
        let nonce = &self.nonce(packet_number).into();
        let opened =
            match self.suite {
                Suite::Aes128Gcm => aes_gcm::Aes128Gcm::new(&prefix(&self.key).into())
                    .decrypt_inout_detached(nonce, aad, text.into(), tag),
                Suite::Aes256Gcm => aes_gcm::Aes256Gcm::new(&self.key.into())
                    .decrypt_inout_detached(nonce, aad, text.into(), tag),
                Suite::ChaCha20Poly1305 => {
                    chacha20poly1305::ChaCha20Poly1305::new(&self.key.into())
                        .decrypt_inout_detached(nonce, aad, text.into(), tag)
                }
            };
        opened.map(|()| len).map_err(|_| OpenError::Authentication)
    }
}

impl PacketKeys {
    /// Seals a payload in place (the opposite of [`PacketKeys::open_in_place`]): encrypts
    /// `payload` and appends the tag. tlsight never sends; this builds test packets and the
    /// benchmark corpus (every replayed connection re-protected under fresh keys).
    pub fn seal(&self, packet_number: u64, aad: &[u8], payload: &mut Vec<u8>) {
        let nonce = &self.nonce(packet_number).into();
        let text = &mut payload[..];
        // Infallible: QUIC payloads are far below the AEADs' length limits.
        let tag = match self.suite {
            Suite::Aes128Gcm => aes_gcm::Aes128Gcm::new(&prefix(&self.key).into())
                .encrypt_inout_detached(nonce, aad, text.into()),
            Suite::Aes256Gcm => aes_gcm::Aes256Gcm::new(&self.key.into()).encrypt_inout_detached(
                nonce,
                aad,
                text.into(),
            ),
            Suite::ChaCha20Poly1305 => chacha20poly1305::ChaCha20Poly1305::new(&self.key.into())
                .encrypt_inout_detached(nonce, aad, text.into()),
        };
        payload.extend_from_slice(&tag.unwrap_or_default());
    }

    /// The AEAD nonce of a packet: the IV XOR the packet number (RFC 9001 §5.3).
    fn nonce(&self, packet_number: u64) -> [u8; 12] {
        let mut nonce = self.iv;
        for (n, p) in nonce[4..].iter_mut().zip(packet_number.to_be_bytes()) {
            *n ^= p;
        }
        nonce
    }
}

/// The first `N` bytes of `bytes` (which callers size to hold at least `N`; missing bytes
/// would read as zeros).
fn prefix<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}

fn mask_aes(
    cipher: &impl BlockCipherEncrypt<BlockSize = U16>,
    sample: &[u8; SAMPLE_LEN],
    mask: &mut [u8; 5],
) {
    let mut block = aes::Block::from(*sample);
    cipher.encrypt_block(&mut block);
    mask.copy_from_slice(&block[..5]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quic::version::QuicVersion;
    use aes::cipher::{StreamCipher, StreamCipherSeek};

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test hex")
    }

    fn labels(v: QuicVersion) -> Labels {
        v.params().expect("readable").labels
    }

    /// RFC 9001 A.5 and RFC 9369 A.5: ChaCha20-Poly1305 keys from a 1-RTT secret, the
    /// header mask of the sample, and the payload opened.
    #[test]
    fn chacha20_short_header_vectors() {
        let secret = unhex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b");
        let cases = [
            (
                QuicVersion::V1,
                "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8",
                "e0459b3474bdd0e44a41c144",
                "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4",
                "5e5cd55c41f69080575d7999c25a5bfb",
                "aefefe7d03",
                "655e5cd55c41f69080575d7999c25a5bfb",
            ),
            (
                QuicVersion::V2,
                "3bfcddd72bcf02541d7fa0dd1f5f9eeea817e09a6963a0e6c7df0f9a1bab90f2",
                "a6b5bc6ab7dafce30ffff5dd",
                "d659760d2ba434a226fd37b35c69e2da8211d10c4f12538787d65645d5d1b8e2",
                "e7b6b932bc27d786f4bc2bb20f2162ba",
                "97580e32bf",
                "0ae7b6b932bc27d786f4bc2bb20f2162ba",
            ),
        ];
        for (version, key, iv, hp, sample, mask, ciphertext) in cases {
            let keys = PacketKeys::from_secret(Suite::ChaCha20Poly1305, &labels(version), &secret)
                .expect("derive");
            assert_eq!(keys.aead_key(), unhex(key), "{version:?}");
            assert_eq!(keys.iv.to_vec(), unhex(iv));
            assert_eq!(keys.hp_key(), unhex(hp));
            let sample: [u8; 16] = unhex(sample).try_into().expect("16 bytes");
            assert_eq!(keys.header_mask(&sample).to_vec(), unhex(mask));
            let mut payload = unhex(ciphertext);
            let len = keys
                .open_in_place(654_360_564, &unhex("4200bff4"), &mut payload)
                .expect("opens");
            assert_eq!(&payload[..len], &[0x01]);
        }
    }

    /// A ChaCha20 sample naming the counter's last block (0xffffffff) gives a mask, as any
    /// other does (a fuzzer found the stream wrapper panicking there), and the mask of block
    /// 0xfffffffe is the stream cipher's.
    #[test]
    fn chacha20_mask_at_the_last_counter_block() {
        let keys =
            PacketKeys::from_secret(Suite::ChaCha20Poly1305, &labels(QuicVersion::V1), &[7; 32])
                .expect("derive");
        let mut last = [0x11u8; SAMPLE_LEN];
        last[..4].copy_from_slice(&[0xff; 4]);
        let mut before = last;
        before[0] = 0xfe;
        let mut expected = [0u8; 5];
        let mut cipher = chacha20::ChaCha20::new(&keys.hp.into(), &[0x11; 12].into());
        cipher.seek(0xffff_fffeu64 * 64);
        cipher.apply_keystream(&mut expected);
        assert_eq!(keys.header_mask(&before), expected);
        assert_ne!(keys.header_mask(&last), keys.header_mask(&before));
    }

    #[test]
    fn wrong_aad_or_short_payload_fails() {
        let keys =
            PacketKeys::from_secret(Suite::ChaCha20Poly1305, &labels(QuicVersion::V1), &[7; 32])
                .expect("derive");
        let mut payload = vec![0u8; 17];
        assert_eq!(
            keys.open_in_place(1, b"x", &mut payload),
            Err(OpenError::Authentication)
        );
        assert_eq!(
            keys.open_in_place(1, b"x", &mut [0u8; 15]),
            Err(OpenError::TooShort)
        );
    }

    #[test]
    fn suites_from_codes() {
        assert_eq!(Suite::from_cipher_suite(0x1302), Some(Suite::Aes256Gcm));
        assert_eq!(Suite::from_cipher_suite(0x1304), None);
        assert_eq!(Suite::Aes256Gcm.hash(), HashAlg::Sha384);
    }
}
