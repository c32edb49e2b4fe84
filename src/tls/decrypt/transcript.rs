//! The running hash of a handshake's messages (RFC 5246 §7.4.9, RFC 8446 §4.4.1), which
//! Finished messages are checked against.
//!
//! The hash is known only once the ServerHello has chosen the suite (and the version), so the
//! messages before it are held, bounded, until [`Transcript::start`]. A TLS 1.3
//! HelloRetryRequest replaces the first ClientHello by a synthetic `message_hash` message.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384};

/// The hash a transcript runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranscriptHash {
    /// TLS 1.0/1.1: MD5 and SHA-1 side by side (36 bytes).
    Md5Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

#[derive(Clone)]
enum Hasher {
    Md5Sha1(Md5, Sha1),
    Sha256(Sha256),
    Sha384(Sha384),
}

impl Hasher {
    fn new(hash: TranscriptHash) -> Self {
        match hash {
            TranscriptHash::Md5Sha1 => Hasher::Md5Sha1(Md5::new(), Sha1::new()),
            TranscriptHash::Sha256 => Hasher::Sha256(Sha256::new()),
            TranscriptHash::Sha384 => Hasher::Sha384(Sha384::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Md5Sha1(m, s) => {
                m.update(bytes);
                s.update(bytes);
            }
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
        }
    }

    fn current(&self) -> Vec<u8> {
        match self.clone() {
            Hasher::Md5Sha1(m, s) => {
                let mut out = m.finalize().to_vec();
                out.extend_from_slice(&s.finalize());
                out
            }
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
        }
    }
}

/// Most bytes held before the hash is chosen: a ClientHello and a ServerHello each fit the
/// handshake layer's 256 KiB message cap, so twice that; past it the transcript gives up.
pub const MAX_HELD: usize = 512 * 1024;

/// A handshake transcript.
#[derive(Clone, Default)]
pub struct Transcript {
    held: Vec<u8>,
    hasher: Option<Hasher>,
    overflowed: bool,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcript")
            .field("held", &self.held.len())
            .field("started", &self.hasher.is_some())
            .field("overflowed", &self.overflowed)
            .finish()
    }
}

impl Transcript {
    /// Adds one handshake message (its 4-byte header is rebuilt from `msg_type` and the body).
    pub fn add(&mut self, msg_type: u8, body: &[u8]) {
        let len = (body.len() as u32).to_be_bytes();
        let header = [msg_type, len[1], len[2], len[3]];
        match &mut self.hasher {
            Some(h) => {
                h.update(&header);
                h.update(body);
            }
            None if self.held.len() + 4 + body.len() <= MAX_HELD => {
                self.held.extend_from_slice(&header);
                self.held.extend_from_slice(body);
            }
            None => {
                self.overflowed = true;
                self.held = Vec::new();
            }
        }
    }

    /// Chooses the hash (at the ServerHello, before adding it) and hashes what was held.
    pub fn start(&mut self, hash: TranscriptHash) {
        if self.hasher.is_some() {
            return;
        }
        let mut h = Hasher::new(hash);
        h.update(&self.held);
        self.held = Vec::new();
        self.hasher = Some(h);
    }

    /// A TLS 1.3 HelloRetryRequest arrived (call before adding it): the transcript so far (the
    /// first ClientHello) becomes `message_hash(254) || 00 00 len || Hash(ClientHello1)`.
    pub fn hello_retry(&mut self, hash: TranscriptHash) {
        self.start(hash);
        let Some(inner) = self.current() else {
            return;
        };
        let mut h = Hasher::new(hash);
        h.update(&[254, 0, 0, inner.len() as u8]);
        h.update(&inner);
        self.hasher = Some(h);
    }

    /// The hash of the messages so far; `None` before [`start`](Self::start) or if the
    /// messages before it overflowed [`MAX_HELD`].
    pub fn current(&self) -> Option<Vec<u8>> {
        if self.overflowed {
            return None;
        }
        self.hasher.as_ref().map(Hasher::current)
    }

    /// Starts over for a new handshake on the same connection (a renegotiation).
    pub fn restart(&mut self) {
        *self = Transcript::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_messages_are_hashed_once_the_hash_is_known() {
        let mut t = Transcript::default();
        t.add(1, b"client hello");
        assert_eq!(t.current(), None);
        t.start(TranscriptHash::Sha256);
        t.add(2, b"server hello");
        let mut want = Sha256::new();
        want.update([1, 0, 0, 12]);
        want.update(b"client hello");
        want.update([2, 0, 0, 12]);
        want.update(b"server hello");
        assert_eq!(t.current(), Some(want.finalize().to_vec()));
    }

    #[test]
    fn md5_sha1_is_both_hashes() {
        let mut t = Transcript::default();
        t.start(TranscriptHash::Md5Sha1);
        t.add(1, b"x");
        let h = t.current().expect("started");
        assert_eq!(h.len(), 36);
        assert_eq!(h[..16], Md5::digest([1, 0, 0, 1, b'x'])[..]);
        assert_eq!(h[16..], Sha1::digest([1, 0, 0, 1, b'x'])[..]);
    }

    #[test]
    fn hello_retry_replaces_the_first_client_hello() {
        let mut t = Transcript::default();
        t.add(1, b"ch1");
        t.hello_retry(TranscriptHash::Sha256);
        t.add(2, b"hrr");
        let ch1 = Sha256::digest([1, 0, 0, 3, b'c', b'h', b'1']);
        let mut want = Sha256::new();
        want.update([254, 0, 0, 32]);
        want.update(ch1);
        want.update([2, 0, 0, 3]);
        want.update(b"hrr");
        assert_eq!(t.current(), Some(want.finalize().to_vec()));
    }

    #[test]
    fn too_much_before_the_server_hello_gives_up() {
        let mut t = Transcript::default();
        t.add(1, &vec![0; MAX_HELD]);
        t.start(TranscriptHash::Sha384);
        assert_eq!(t.current(), None);
    }
}
