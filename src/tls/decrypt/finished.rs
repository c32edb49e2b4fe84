//! Finished verify_data (RFC 5246 §7.4.9, RFC 8446 §4.4.4): what a Finished message must hold
//! given the transcript before it, so a decrypted Finished can be checked and a secret that
//! does not belong to the connection is caught.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha384};

use crate::tls::key_schedule::{HashAlg, hkdf_expand_label};

use super::DecryptError;
use super::prf::Prf;

/// TLS ≤ 1.2: `PRF(master_secret, "client finished" | "server finished", transcript hash)`,
/// 12 bytes.
pub fn tls12_verify_data(
    prf: Prf,
    master_secret: &[u8],
    from_client: bool,
    transcript_hash: &[u8],
) -> [u8; 12] {
    let label: &[u8] = if from_client {
        b"client finished"
    } else {
        b"server finished"
    };
    let mut out = [0u8; 12];
    prf.derive(master_secret, label, &[transcript_hash], &mut out);
    out
}

/// TLS 1.3: `HMAC(HKDF-Expand-Label(base_key, "finished", "", Hash.length), transcript hash)`,
/// where `base_key` is the sender's handshake traffic secret.
pub fn tls13_verify_data(
    hash: HashAlg,
    base_key: &[u8],
    transcript_hash: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    let mut finished_key = vec![0u8; hash.output_len()];
    hkdf_expand_label(hash, base_key, b"finished", &[], &mut finished_key)?;
    let bad = |_| DecryptError::BadKeyLength;
    let out = match hash {
        HashAlg::Sha256 => {
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&finished_key).map_err(bad)?;
            m.update(transcript_hash);
            m.finalize().into_bytes().to_vec()
        }
        HashAlg::Sha384 => {
            let mut m = <Hmac<Sha384> as KeyInit>::new_from_slice(&finished_key).map_err(bad)?;
            m.update(transcript_hash);
            m.finalize().into_bytes().to_vec()
        }
    };
    finished_key.fill(0);
    Ok(out)
}
