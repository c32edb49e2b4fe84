//! Initial keys (RFC 9001 §5.2) and the Retry integrity check (§5.8): everything a passive
//! observer can derive from public constants and the client's first Destination Connection ID.
//!
//! No key is cached across connections: every connection picks a fresh DCID, so a cache
//! would only hold keys nobody asks for again (and would make a benchmark lie). What is the
//! same for every connection of a version is kept: its salt's HMAC, keyed once per thread.

use std::cell::RefCell;

use aes_gcm::aead::{AeadInOut, KeyInit};

use super::protection::{PacketKeys, Suite, TAG_LEN};
use super::version::{RetryIntegrity, VersionParams};
use crate::tls::key_schedule::{HashAlg, KeyScheduleError, Prk, Salt};

/// The Initial keys of both directions of one connection attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitialKeys {
    /// Protects what the client sends.
    pub client: PacketKeys,
    /// Protects what the server sends.
    pub server: PacketKeys,
}

impl InitialKeys {
    /// Derives both directions' keys from the version's salt and the DCID of the client's first
    /// Initial packet (or the SCID of a Retry, which the client then uses).
    pub fn derive(params: &VersionParams, dcid: &[u8]) -> Result<InitialKeys, KeyScheduleError> {
        let initial = initial_secret(&params.salt, dcid);
        let side = |label: &[u8]| {
            let mut secret = [0u8; 32];
            initial.expand_label(label, &[], &mut secret)?;
            PacketKeys::from_secret(Suite::Aes128Gcm, &params.labels, &secret)
        };
        Ok(InitialKeys {
            client: side(b"client in")?,
            server: side(b"server in")?,
        })
    }
}

thread_local! {
    /// The keyed HMAC of each salt used on this thread (one per readable version's salt: a
    /// handful, never more than the table in `version.rs` holds).
    static SALTS: RefCell<Vec<([u8; 20], Salt)>> = const { RefCell::new(Vec::new()) };
}

/// The Initial secret of a DCID under a version's salt (RFC 9001 §5.2), from the salt's HMAC
/// keyed once per thread.
fn initial_secret(salt: &[u8; 20], dcid: &[u8]) -> Prk {
    SALTS.with_borrow_mut(|salts| {
        if let Some((_, keyed)) = salts.iter().find(|(s, _)| s == salt) {
            return keyed.extract(dcid);
        }
        let keyed = Salt::new(HashAlg::Sha256, salt);
        let initial = keyed.extract(dcid);
        salts.push((*salt, keyed));
        initial
    })
}

/// What the integrity check of a Retry packet found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryCheck {
    /// The tag (or, before draft 25, the echoed DCID) matches the client's original DCID.
    Valid,
    /// It does not: a forged or corrupted Retry, or one for another connection attempt.
    Invalid,
}

/// Checks a Retry packet (`retry`: the whole packet as sent) against the DCID of the client
/// Initial it answers.
///
/// Draft 25 on: the last 16 bytes are the AES-128-GCM tag over the pseudo-packet
/// `odcid_len || odcid || retry-without-tag`, with the version's published key and nonce.
/// Before: the packet carries `odcid_len || odcid` after its SCID, which must equal it.
pub fn check_retry(params: &VersionParams, original_dcid: &[u8], retry: &[u8]) -> RetryCheck {
    let valid = match params.retry {
        RetryIntegrity::Tag { key, nonce } => {
            let Some(body_len) = retry.len().checked_sub(TAG_LEN) else {
                return RetryCheck::Invalid;
            };
            let (body, tag) = retry.split_at(body_len);
            let Ok(odcid_len) = u8::try_from(original_dcid.len()) else {
                return RetryCheck::Invalid;
            };
            let mut pseudo = Vec::with_capacity(1 + original_dcid.len() + body.len());
            pseudo.push(odcid_len);
            pseudo.extend_from_slice(original_dcid);
            pseudo.extend_from_slice(body);
            let mut tag_bytes = [0u8; TAG_LEN];
            tag_bytes.copy_from_slice(tag);
            aes_gcm::Aes128Gcm::new(&key.into())
                .decrypt_inout_detached(
                    &nonce.into(),
                    &pseudo,
                    (&mut [][..]).into(),
                    &tag_bytes.into(),
                )
                .is_ok()
        }
        RetryIntegrity::OriginalDcid => echoed_dcid(retry) == Some(original_dcid),
    };
    if valid {
        RetryCheck::Valid
    } else {
        RetryCheck::Invalid
    }
}

/// The original DCID echoed by a pre-draft-25 Retry: after the first byte, version, DCID and
/// SCID comes `odcid_len || odcid`.
fn echoed_dcid(retry: &[u8]) -> Option<&[u8]> {
    let dcid_len = usize::from(*retry.get(5)?);
    let scid_len_at = 6 + dcid_len;
    let scid_len = usize::from(*retry.get(scid_len_at)?);
    let odcid_len_at = scid_len_at + 1 + scid_len;
    let odcid_len = usize::from(*retry.get(odcid_len_at)?);
    retry.get(odcid_len_at + 1..odcid_len_at + 1 + odcid_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quic::version::QuicVersion;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test hex")
    }

    const DCID: &str = "8394c8f03e515708";

    /// RFC 9001 A.1 and RFC 9369 A.1: client and server key, IV and header-protection key.
    #[test]
    fn rfc_initial_keys() {
        let cases = [
            (
                QuicVersion::V1,
                [
                    "1f369613dd76d5467730efcbe3b1a22d",
                    "fa044b2f42a3fd3b46fb255c",
                    "9f50449e04a0e810283a1e9933adedd2",
                ],
                [
                    "cf3a5331653c364c88f0f379b6067e37",
                    "0ac1493ca1905853b0bba03e",
                    "c206b8d9b9f0f37644430b490eeaa314",
                ],
            ),
            (
                QuicVersion::V2,
                [
                    "8b1a0bc121284290a29e0971b5cd045d",
                    "91f73e2351d8fa91660e909f",
                    "45b95e15235d6f45a6b19cbcb0294ba9",
                ],
                [
                    "82db637861d55e1d011f19ea71d5d2a7",
                    "dd13c276499c0249d3310652",
                    "edf6d05c83121201b436e16877593c3a",
                ],
            ),
        ];
        for (version, client, server) in cases {
            let params = version.params().expect("readable");
            let keys = InitialKeys::derive(params, &unhex(DCID)).expect("derive");
            for (got, [key, iv, hp]) in [(keys.client, client), (keys.server, server)] {
                assert_eq!(got.aead_key(), unhex(key), "{version:?}");
                assert_eq!(got.iv.to_vec(), unhex(iv), "{version:?}");
                assert_eq!(got.hp_key(), unhex(hp), "{version:?}");
            }
        }
    }

    /// RFC 9001 A.4 and RFC 9369 A.4: the Retry answering the client Initial of A.2.
    #[test]
    fn rfc_retry_integrity() {
        let cases = [
            (
                QuicVersion::V1,
                &include_bytes!("../../tests/fixtures/quic/rfc9001_retry.bin")[..],
            ),
            (
                QuicVersion::V2,
                &include_bytes!("../../tests/fixtures/quic/rfc9369_retry.bin")[..],
            ),
        ];
        for (version, retry) in cases {
            let params = version.params().expect("readable");
            assert_eq!(check_retry(params, &unhex(DCID), retry), RetryCheck::Valid);
            assert_eq!(
                check_retry(params, &unhex("8394c8f03e515709"), retry),
                RetryCheck::Invalid
            );
            let mut corrupted = retry.to_vec();
            corrupted[20] ^= 1;
            assert_eq!(
                check_retry(params, &unhex(DCID), &corrupted),
                RetryCheck::Invalid
            );
            assert_eq!(
                check_retry(params, &unhex(DCID), &retry[..10]),
                RetryCheck::Invalid
            );
        }
        // The v1 Retry does not verify under v2's key.
        let v2 = QuicVersion::V2.params().expect("readable");
        let v1_retry = include_bytes!("../../tests/fixtures/quic/rfc9001_retry.bin");
        assert_eq!(check_retry(v2, &unhex(DCID), v1_retry), RetryCheck::Invalid);
    }

    #[test]
    fn pre_draft_25_retry_echoes_the_dcid() {
        let params = QuicVersion::draft(23).params().expect("readable");
        // first byte, version, DCID (2), SCID (1), ODCID (3), token.
        let retry = unhex("f0ff00001702aaaa01bb03010203746f6b");
        assert_eq!(check_retry(params, &[1, 2, 3], &retry), RetryCheck::Valid);
        assert_eq!(check_retry(params, &[1, 2, 4], &retry), RetryCheck::Invalid);
        assert_eq!(
            check_retry(params, &[1, 2, 3], &retry[..9]),
            RetryCheck::Invalid
        );
    }
}
