//! Handshake-message joining: [`Joiner`] turns an in-order run of handshake bytes — the bodies
//! of consecutive TLS handshake records, or a QUIC CRYPTO stream — into handshake messages,
//! which may span records or share one. Bounded by a cap on one message.

use nom::sequence::pair;

use crate::wire::{WireError, be_u8, be_u24};

/// Default cap on one joined handshake message: 256 KiB.
///
/// Why: the protocol allows 2^24 - 1 bytes, but the largest real messages are certificate
/// chains and CertificateRequest CA lists, which stay far below 256 KiB. The cap bounds the
/// memory a hostile or broken peer can make us hold per direction; a longer message is skipped
/// and counted as an anomaly.
pub const DEFAULT_MAX_HANDSHAKE_MESSAGE: usize = 256 * 1024;

/// What a [`Joiner`] yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joined<'a> {
    /// A complete handshake message: its type and body (after the 4-byte header).
    Message {
        /// Handshake message type.
        msg_type: u8,
        /// Message body.
        body: &'a [u8],
    },
    /// A message longer than the cap, which is skipped.
    TooLarge {
        /// Handshake message type.
        msg_type: u8,
        /// Declared body length.
        len: usize,
    },
}

/// Joins handshake record bodies into handshake messages.
#[derive(Debug)]
pub struct Joiner {
    /// A partial message (header and the body bytes so far).
    buf: Vec<u8>,
    /// Bytes of an oversized message still to skip.
    skip: usize,
    max: usize,
}

impl Default for Joiner {
    fn default() -> Self {
        Joiner::new(DEFAULT_MAX_HANDSHAKE_MESSAGE)
    }
}

/// Type and body length of a handshake message header.
fn message_header(bytes: &[u8]) -> Option<(u8, usize)> {
    let (_, (msg_type, len)) = pair(be_u8::<_, WireError>, be_u24)(bytes).ok()?;
    Some((msg_type, len as usize))
}

impl Joiner {
    /// Longest message body joined.
    pub fn max_message(&self) -> usize {
        self.max
    }

    /// A joiner that skips messages with a body longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Joiner {
            buf: Vec::new(),
            skip: 0,
            max,
        }
    }

    /// Whether part of a message is pending (or being skipped).
    pub fn is_partial(&self) -> bool {
        !self.buf.is_empty() || self.skip > 0
    }

    /// Forgets any partial message (after a gap, or when the stream turns encrypted).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.skip = 0;
    }

    /// Frees the buffer, once no more cleartext handshake records are expected.
    pub fn release(&mut self) {
        self.clear();
        self.buf = Vec::new();
    }

    /// Feeds the body of one handshake record; calls `f` for each message it completes.
    pub fn push(&mut self, mut data: &[u8], mut f: impl FnMut(Joined<'_>)) {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = data.get(n..).unwrap_or_default();
            }
            if data.is_empty() {
                return;
            }
            if self.buf.is_empty() {
                // Fast path: messages wholly inside this record need no copy.
                if let Some((msg_type, len)) = message_header(data) {
                    if len > self.max {
                        f(Joined::TooLarge { msg_type, len });
                        self.skip = len;
                        data = data.get(4..).unwrap_or_default();
                        continue;
                    }
                    if let Some(body) = data.get(4..4 + len) {
                        f(Joined::Message { msg_type, body });
                        data = data.get(4 + len..).unwrap_or_default();
                        continue;
                    }
                }
                self.buf.extend_from_slice(data);
                return;
            }
            if self.buf.len() < 4 {
                let n = (4 - self.buf.len()).min(data.len());
                let (now, rest) = data.split_at(n);
                self.buf.extend_from_slice(now);
                data = rest;
            }
            let Some((msg_type, len)) = message_header(&self.buf) else {
                return;
            };
            if len > self.max {
                f(Joined::TooLarge { msg_type, len });
                self.buf.clear();
                self.skip = len;
                continue;
            }
            let n = (4 + len - self.buf.len()).min(data.len());
            let (now, rest) = data.split_at(n);
            self.buf.extend_from_slice(now);
            data = rest;
            if self.buf.len() == 4 + len {
                if let Some(body) = self.buf.get(4..) {
                    f(Joined::Message { msg_type, body });
                }
                self.buf.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join_all(max: usize, records: &[&[u8]]) -> Vec<(u8, Vec<u8>, bool)> {
        let mut j = Joiner::new(max);
        let mut out = Vec::new();
        for r in records {
            j.push(r, |m| match m {
                Joined::Message { msg_type, body } => out.push((msg_type, body.to_vec(), false)),
                Joined::TooLarge { msg_type, len } => {
                    out.push((msg_type, vec![0; len.min(8)], true))
                }
            });
        }
        out
    }

    fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let n = body.len();
        let mut m = vec![msg_type, (n >> 16) as u8, (n >> 8) as u8, n as u8];
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn several_messages_in_one_record() {
        let mut r = message(2, &[1; 50]);
        r.extend(message(11, &[2; 30]));
        r.extend(message(14, &[]));
        let out = join_all(1000, &[&r]);
        assert_eq!(
            out,
            vec![
                (2, vec![1; 50], false),
                (11, vec![2; 30], false),
                (14, vec![], false)
            ]
        );
    }

    #[test]
    fn a_message_across_three_records_at_any_split() {
        let mut s = message(11, &(0..=255u8).cycle().take(700).collect::<Vec<_>>());
        s.extend(message(14, &[]));
        let expected = join_all(1000, &[&s]);
        assert_eq!(expected.len(), 2);
        for i in 0..=s.len() {
            for j in (i..=s.len()).step_by(7) {
                assert_eq!(
                    join_all(1000, &[&s[..i], &s[i..j], &s[j..]]),
                    expected,
                    "split {i} {j}"
                );
            }
        }
    }

    #[test]
    fn oversized_messages_are_skipped() {
        let mut s = message(11, &[3; 300]);
        s.extend(message(14, &[]));
        let expected = vec![(11, vec![0; 8], true), (14, vec![], false)];
        for i in 0..=s.len() {
            assert_eq!(join_all(100, &[&s[..i], &s[i..]]), expected, "split {i}");
        }
    }

    #[test]
    fn joiner_clear_forgets_a_partial_message() {
        let m = message(11, &[3; 30]);
        let mut j = Joiner::new(100);
        j.push(&m[..10], |_| panic!("incomplete"));
        assert!(j.is_partial());
        j.clear();
        assert!(!j.is_partial());
        let mut got = 0;
        j.push(&message(14, &[]), |_| got += 1);
        assert_eq!(got, 1);
    }
}
