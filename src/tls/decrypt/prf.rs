//! The TLS 1.0–1.2 pseudorandom function (RFC 2246 §5, RFC 5246 §5): P_hash with HMAC, for the
//! key block and the Finished verify_data.

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha384};

/// Which PRF a connection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prf {
    /// TLS 1.0 and 1.1: P_MD5 XOR P_SHA1 over the two halves of the secret.
    Md5Sha1,
    /// TLS 1.2, SHA-256 (every suite without `_SHA384`).
    Sha256,
    /// TLS 1.2 suites ending in `_SHA384`.
    Sha384,
}

impl Prf {
    /// PRF(secret, label, seed) into `out`.
    pub fn derive(self, secret: &[u8], label: &[u8], seed: &[&[u8]], out: &mut [u8]) {
        match self {
            Prf::Sha256 => p_hash::<Hmac<Sha256>>(secret, label, seed, out),
            Prf::Sha384 => p_hash::<Hmac<Sha384>>(secret, label, seed, out),
            Prf::Md5Sha1 => {
                // S1 and S2 are the halves of the secret, sharing the middle byte if odd.
                let half = secret.len().div_ceil(2);
                let (s1, s2) = (&secret[..half], &secret[secret.len() - half..]);
                p_hash::<Hmac<Md5>>(s1, label, seed, out);
                let mut sha = vec![0u8; out.len()];
                p_hash::<Hmac<Sha1>>(s2, label, seed, &mut sha);
                for (o, s) in out.iter_mut().zip(&sha) {
                    *o ^= s;
                }
            }
        }
    }
}

/// P_hash(secret, label + seed): A(i) = HMAC(secret, A(i-1)), output HMAC(secret, A(i) + seed).
fn p_hash<M: Mac + KeyInit + Clone>(secret: &[u8], label: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    let Ok(keyed) = <M as KeyInit>::new_from_slice(secret) else {
        // HMAC takes keys of any length; nothing to do if it ever refused one.
        return;
    };
    let with_seed = |mut m: M| {
        m.update(label);
        for s in seed {
            m.update(s);
        }
        m
    };
    let mut a = with_seed(keyed.clone()).finalize().into_bytes();
    let mut filled = 0;
    while filled < out.len() {
        let mut m = keyed.clone();
        m.update(&a);
        let block = with_seed(m).finalize().into_bytes();
        let take = (out.len() - filled).min(block.len());
        out[filled..filled + take].copy_from_slice(&block[..take]);
        filled += take;
        let mut m = keyed.clone();
        m.update(&a);
        a = m.finalize().into_bytes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    fn prf(prf: Prf, secret: &str, label: &[u8], seed: &str, len: usize) -> String {
        let mut out = vec![0u8; len];
        prf.derive(&unhex(secret), label, &[&unhex(seed)], &mut out);
        hex::encode(out)
    }

    /// The TLS 1.2 PRF vectors posted to the TLS WG list (msg03416), as BearSSL's and
    /// BouncyCastle's test suites carry them: SHA-256, 100 bytes.
    #[test]
    fn tls12_prf_sha256() {
        assert_eq!(
            prf(
                Prf::Sha256,
                "9bbe436ba940f017b17652849a71db35",
                b"test label",
                "a0ba9f936cda311827a6f796ffd5198c",
                100
            ),
            concat!(
                "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a",
                "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab",
                "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701",
                "87347b66"
            )
        );
    }

    /// Same source: SHA-384, 148 bytes.
    #[test]
    fn tls12_prf_sha384() {
        assert_eq!(
            prf(
                Prf::Sha384,
                "b80b733d6ceefcdc71566ea48e5567df",
                b"test label",
                "cd665cf6a8447dd6ff8b27555edb7465",
                148
            ),
            concat!(
                "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd",
                "e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd",
                "8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425",
                "9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6",
                "91c8f3a26854308d5eaa3be85e0990703d73e56f"
            )
        );
    }

    /// The TLS 1.0/1.1 PRF vector of the old ietf-tls list (msg01589), as in BearSSL's tests:
    /// 48 bytes of 0xab, "PRF Testvector", 64 bytes of 0xcd, 104 bytes out.
    #[test]
    fn tls10_prf_md5_sha1() {
        assert_eq!(
            prf(
                Prf::Md5Sha1,
                &"ab".repeat(48),
                b"PRF Testvector",
                &"cd".repeat(64),
                104
            ),
            concat!(
                "d3d4d1e349b5d515044666d51de32bab258cb521b6b053463e354832fd976754",
                "443bcf9a296519bc289abcbc1187e4ebd31e602353776c408aafb74cbc85eff6",
                "9255f9788faa184cbb957a9819d84a5d7eb006eb459d3ae8de9810454b8b2d8f",
                "1afbc655a8c9a013"
            )
        );
    }
}
