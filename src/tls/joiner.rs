//! Handshake-message joining: [`Joiner`] turns an in-order run of handshake bytes — the bodies
//! of consecutive TLS handshake records, or a QUIC CRYPTO stream — into handshake messages,
//! which may span records or share one. Bounded by a cap on one message and, when given one, by
//! a [`JoinBudget`] shared by many joiners.

use std::cell::Cell;
use std::rc::Rc;

use nom::sequence::pair;

use crate::wire::{WireError, be_u8, be_u24};

/// Default cap on one joined handshake message where no budget says otherwise: 256 KiB.
///
/// Why: the protocol allows 2^24 - 1 bytes, but the largest real messages are certificate
/// chains and CertificateRequest CA lists, which stay far below 256 KiB. The cap bounds the
/// memory a hostile or broken peer can make us hold per direction; a longer message is skipped
/// and counted as an anomaly.
pub const DEFAULT_MAX_HANDSHAKE_MESSAGE: usize = 256 * 1024;

/// The longest handshake message the protocol can carry (its length is 24 bits). TCP
/// connections may join messages up to this long (real certificate chains of several hundred
/// kilobytes exist) within their buffer budgets.
pub const MAX_HANDSHAKE_MESSAGE: usize = (1 << 24) - 1;

/// A partial message's buffer this large or larger is freed when the message is done, so
/// that what a joiner keeps between messages stays small and uncharged.
const KEEP_CAPACITY: usize = 16 * 1024;

/// Bytes that a worker's connections may hold at once while joining handshake messages: TCP's
/// partial messages, QUIC's CRYPTO bytes beyond a hole, DTLS's fragments. Clones share one
/// count; each holder keeps what it took in a [`Charge`].
#[derive(Clone, Debug)]
pub struct JoinBudget(Rc<BudgetState>);

#[derive(Debug)]
struct BudgetState {
    limit: usize,
    held: Cell<usize>,
}

impl JoinBudget {
    /// A budget of `limit` bytes, none held.
    pub fn new(limit: usize) -> Self {
        JoinBudget(Rc::new(BudgetState {
            limit,
            held: Cell::new(0),
        }))
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.0.held.get()
    }

    /// Takes `n` bytes if they fit.
    fn take(&self, n: usize) -> bool {
        let held = self.0.held.get();
        let fits = n <= self.0.limit.saturating_sub(held);
        if fits {
            self.0.held.set(held + n);
        }
        fits
    }

    /// Gives back `n` bytes taken before.
    fn give(&self, n: usize) {
        self.0.held.set(self.0.held.get().saturating_sub(n));
    }
}

/// What one holder (a joiner, a CRYPTO stream, a DTLS message joiner) has taken from a shared
/// [`JoinBudget`], if it has one: kept equal to what it holds by [`Charge::set`], and given back
/// when the holder is dropped (its connection closed or evicted), so no holder can leak budget.
#[derive(Debug, Default)]
pub struct Charge {
    budget: Option<JoinBudget>,
    taken: usize,
}

impl Charge {
    /// Nothing taken yet from `budget` (none: every [`Charge::set`] succeeds).
    pub fn new(budget: Option<JoinBudget>) -> Self {
        Charge { budget, taken: 0 }
    }

    /// The budget charged, if any.
    pub fn budget(&self) -> Option<&JoinBudget> {
        self.budget.as_ref()
    }

    /// Takes (or gives back) the difference between `held` and what was taken; false, with
    /// nothing taken, when the budget cannot hold an increase.
    pub fn set(&mut self, held: usize) -> bool {
        let Some(budget) = &self.budget else {
            return true;
        };
        if held > self.taken {
            if !budget.take(held - self.taken) {
                return false;
            }
        } else {
            budget.give(self.taken - held);
        }
        self.taken = held;
        true
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give(self.taken);
        }
    }
}

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
    /// A message that could not be held, which is skipped: longer than the cap, or (with a
    /// budget) longer than what the budget had left.
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
    /// What the partial message took from the budget shared with other joiners, if any.
    charge: Charge,
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
            charge: Charge::default(),
        }
    }

    /// A fresh joiner with the same limits (and budget) as this one: the decrypted messages of a
    /// connection are joined apart from its cleartext ones, within the same bounds.
    pub fn sibling(&self) -> Joiner {
        let mut joiner = Joiner::new(self.max);
        joiner.charge = Charge::new(self.charge.budget().cloned());
        joiner
    }

    /// A joiner that also skips a message when `budget` cannot hold it.
    pub fn with_budget(max: usize, budget: JoinBudget) -> Self {
        let mut joiner = Joiner::new(max);
        joiner.charge = Charge::new(Some(budget));
        joiner
    }

    /// Whether part of a message is pending (or being skipped).
    pub fn is_partial(&self) -> bool {
        !self.buf.is_empty() || self.skip > 0
    }

    /// Forgets any partial message (after a gap, or when the stream turns encrypted).
    pub fn clear(&mut self) {
        self.done_with_message();
        self.skip = 0;
    }

    /// Frees the buffer, once no more cleartext handshake records are expected.
    pub fn release(&mut self) {
        self.clear();
        self.buf = Vec::new();
    }

    /// Empties the partial message's buffer (freeing a large one) and gives its charge back.
    fn done_with_message(&mut self) {
        if self.buf.capacity() >= KEEP_CAPACITY {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        self.charge.set(0);
    }

    /// Makes room for a whole message of `len` body bytes before holding its first bytes,
    /// taking it from the budget; false if the budget cannot hold it.
    fn hold(&mut self, len: usize) -> bool {
        let whole = 4 + len;
        if !self.charge.set(whole) {
            return false;
        }
        self.buf.reserve_exact(whole.saturating_sub(self.buf.len()));
        true
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
                    if len <= self.max
                        && let Some(body) = data.get(4..4 + len)
                    {
                        f(Joined::Message { msg_type, body });
                        data = data.get(4 + len..).unwrap_or_default();
                        continue;
                    }
                    if len > self.max || !self.hold(len) {
                        f(Joined::TooLarge { msg_type, len });
                        self.skip = len;
                        data = data.get(4..).unwrap_or_default();
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
            if len > self.max || !self.hold(len) {
                f(Joined::TooLarge { msg_type, len });
                self.done_with_message();
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
                self.done_with_message();
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

    /// Regression (issue #20): a real 330 KB certificate chain (see the conformance test of
    /// `zeek__tls-fragmented-handshake.pcap`) is joined when the cap allows it, and several
    /// joiners sharing a budget hold at most that budget: a message that does not fit is
    /// skipped, and its charge (like every finished message's) is given back.
    #[test]
    fn messages_beyond_256_kib_are_joined_within_a_shared_budget() {
        let big = message(11, &(0..=255u8).cycle().take(330_000).collect::<Vec<_>>());
        let budget = JoinBudget::new(400_000);
        let mut a = Joiner::with_budget(MAX_HANDSHAKE_MESSAGE, budget.clone());
        let mut b = Joiner::with_budget(MAX_HANDSHAKE_MESSAGE, budget.clone());
        let mut got = Vec::new();
        fn feed(who: char, j: &mut Joiner, bytes: &[u8], got: &mut Vec<(char, usize, bool)>) {
            for record in bytes.chunks(16_384) {
                j.push(record, |m| match m {
                    Joined::Message { body, .. } => got.push((who, body.len(), false)),
                    Joined::TooLarge { len, .. } => got.push((who, len, true)),
                });
            }
        }
        feed('a', &mut a, &big[..100_000], &mut got);
        assert_eq!(budget.held(), big.len(), "the whole message is charged");
        // The second joiner's message does not fit beside the first: skipped whole.
        feed('b', &mut b, &big, &mut got);
        feed('a', &mut a, &big[100_000..], &mut got);
        assert_eq!(got, [('b', 330_000, true), ('a', 330_000, false)]);
        assert_eq!(budget.held(), 0);
        feed('b', &mut b, &big, &mut got);
        assert_eq!(got[2], ('b', 330_000, false));
        b.push(&big[..10], |_| panic!("incomplete"));
        assert_eq!(budget.held(), big.len());
        drop(b);
        assert_eq!(budget.held(), 0, "a dropped joiner gives its charge back");
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
