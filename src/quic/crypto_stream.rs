//! One direction's CRYPTO stream in one packet number space, back in order and joined into
//! TLS handshake messages.
//!
//! CRYPTO frames carry the handshake at explicit offsets, so they may arrive out of order,
//! duplicated, or retransmitted with other boundaries (a ClientHello split over several Initial
//! packets is the normal case since post-quantum key shares). In-order bytes go straight to the
//! joiner; bytes beyond a hole wait in the crate's bounded offset assembler (the one TCP uses),
//! first copy wins. Messages are joined by the TLS handshake joiner (`tls::joiner::Joiner`),
//! the same one TLS records feed.
//!
//! Bounds: bytes at offsets beyond [`CryptoLimits::max_offset`] are dropped and counted;
//! out-of-order bytes are charged as the TCP buffers are (bytes plus a fixed overhead per
//! chunk), and when the charge passes [`CryptoLimits::max_buffered`], or the worker's budget
//! shared by all its flows ([`JoinBudget`], `--max-buffer-mib`) cannot hold it, the first hole
//! becomes a gap. After a gap, message boundaries are unknown (there is no record framing to
//! resynchronise on), so the rest of the stream is neither joined nor held: one gap is
//! reported per stream.
//!
//! A message is stamped with the capture time of the packet that completed it (as tshark
//! attributes a reassembled message).

use crate::flow::Timestamp;
use crate::stream::assembler::Assembler;
use crate::tls::joiner::{Charge, DEFAULT_MAX_HANDSHAKE_MESSAGE, JoinBudget, Joined, Joiner};

/// Caps of one CRYPTO stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CryptoLimits {
    /// Bytes at stream offsets at or beyond this are dropped (and counted). The Initial
    /// stream carries one or two hellos (a few KiB even with post-quantum key shares).
    pub max_offset: u64,
    /// Out-of-order bytes held (charged with the assembler's per-chunk overhead) before the
    /// first hole is declared a gap.
    pub max_buffered: usize,
    /// Longest handshake message joined; longer ones are skipped and reported.
    pub max_message: usize,
}

impl Default for CryptoLimits {
    /// 64 KiB of stream, 128 KiB charged for out-of-order bytes, messages up to the joiner's
    /// usual 256 KiB (never reached under the offset cap).
    fn default() -> Self {
        CryptoLimits {
            max_offset: 64 * 1024,
            max_buffered: 128 * 1024,
            max_message: DEFAULT_MAX_HANDSHAKE_MESSAGE,
        }
    }
}

/// What a CRYPTO stream yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoEvent<'a> {
    /// A complete handshake message.
    Message {
        /// Handshake message type.
        msg_type: u8,
        /// Message body (after the 4-byte header).
        body: &'a [u8],
        /// Capture time of the packet that completed it.
        ts: Timestamp,
    },
    /// A message longer than the cap, skipped.
    TooLarge {
        /// Handshake message type.
        msg_type: u8,
        /// Declared body length.
        len: usize,
    },
    /// `len` bytes will never be delivered (a cap was hit, or the capture ended with a hole).
    Gap {
        /// Missing bytes.
        len: u64,
        /// Capture time of the event that declared it.
        ts: Timestamp,
    },
}

/// What one CRYPTO frame changed, for counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CryptoInsert {
    /// Bytes already received (delivered or held): retransmissions and duplicates.
    pub duplicate_bytes: u64,
    /// Whether an overlapping copy differed from the one held.
    pub conflict: bool,
    /// Bytes dropped for lying beyond [`CryptoLimits::max_offset`].
    pub beyond_cap: u64,
    /// The worker's budget could not hold these bytes beyond a hole: the hole became a gap.
    pub budget_exhausted: bool,
}

/// One direction's CRYPTO stream in one packet number space.
#[derive(Debug)]
pub struct CryptoStream {
    limits: CryptoLimits,
    /// Next offset to deliver: everything before it was delivered or declared a gap.
    delivered: u64,
    /// Bytes beyond a hole.
    ahead: Assembler,
    joiner: Joiner,
    /// A gap was declared: message boundaries are lost, nothing more is joined.
    desynchronised: bool,
    /// What `ahead` holds, taken from the worker's budget (if any).
    charge: Charge,
}

impl CryptoStream {
    /// An empty stream with these caps, charging what it holds (bytes beyond a hole, a
    /// partial message) to `budget` too: the worker's, shared with its other flows.
    pub fn new(limits: CryptoLimits, budget: Option<JoinBudget>) -> CryptoStream {
        let joiner = match &budget {
            Some(budget) => Joiner::with_budget(limits.max_message, budget.clone()),
            None => Joiner::new(limits.max_message),
        };
        CryptoStream {
            limits,
            delivered: 0,
            ahead: Assembler::default(),
            joiner,
            desynchronised: false,
            charge: Charge::new(budget),
        }
    }

    /// Brings what the budget holds for `ahead` in line with its charge; false when the
    /// budget cannot hold an increase (nothing is taken then).
    fn settle(&mut self) -> bool {
        self.charge.set(self.ahead.charged())
    }

    /// Offset up to which the stream was delivered (or given up as a gap).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Whether a message is partly received (more bytes are awaited).
    pub fn is_partial(&self) -> bool {
        self.joiner.is_partial() || self.ahead.first_offset().is_some()
    }

    /// Takes the bytes of one CRYPTO frame; `f` gets every message (and gap) it completes.
    pub fn insert(
        &mut self,
        offset: u64,
        data: &[u8],
        ts: Timestamp,
        mut f: impl FnMut(CryptoEvent<'_>),
    ) -> CryptoInsert {
        let mut out = CryptoInsert::default();
        let end = offset.saturating_add(data.len() as u64);
        let kept_end = end.min(self.limits.max_offset);
        out.beyond_cap = end - kept_end.max(offset);
        if self.desynchronised {
            return out;
        }
        let start = offset.max(self.delivered);
        if kept_end <= start {
            out.duplicate_bytes = kept_end.min(self.delivered).saturating_sub(offset);
            return out;
        }
        out.duplicate_bytes = start - offset;
        let data = &data[(start - offset) as usize..(kept_end - offset) as usize];
        if start == self.delivered {
            self.deliver(data, ts, &mut f);
            self.drain(ts, &mut out, &mut f);
            self.settle();
        } else {
            let inserted = self.ahead.insert(start, data, ts);
            out.duplicate_bytes += (data.len() - inserted.new_bytes) as u64;
            out.conflict = inserted.conflict;
            let over_cap = self.ahead.charged() > self.limits.max_buffered;
            if over_cap || !self.settle() {
                out.budget_exhausted = !over_cap;
                self.skip_first_hole(ts, &mut f);
                self.drain(ts, &mut out, &mut f);
                // Nothing after a gap is joined: the buffered bytes are of no use.
                self.ahead = Assembler::default();
                self.settle();
            }
        }
        out
    }

    /// The capture ended: every hole before buffered bytes becomes a gap (the bytes after it
    /// are not joined: boundaries are lost).
    pub fn finish(&mut self, ts: Timestamp, mut f: impl FnMut(CryptoEvent<'_>)) {
        if self.ahead.first_offset().is_some() {
            self.skip_first_hole(ts, &mut f);
            let mut out = CryptoInsert::default();
            self.drain(ts, &mut out, &mut f);
            self.settle();
        }
    }

    /// Delivers buffered chunks that now start at or before the delivery point.
    fn drain(
        &mut self,
        ts: Timestamp,
        out: &mut CryptoInsert,
        f: &mut impl FnMut(CryptoEvent<'_>),
    ) {
        while let Some(first) = self.ahead.first_offset() {
            if first > self.delivered {
                break;
            }
            let Some((offset, chunk)) = self.ahead.pop_first() else {
                break;
            };
            let skip = (self.delivered - offset).min(chunk.data.len() as u64) as usize;
            out.duplicate_bytes += skip as u64;
            if let Some(rest) = chunk.data.get(skip..) {
                self.deliver(rest, ts, f);
            }
        }
    }

    /// Declares the hole before the first buffered chunk a gap.
    fn skip_first_hole(&mut self, ts: Timestamp, f: &mut impl FnMut(CryptoEvent<'_>)) {
        if let Some(first) = self.ahead.first_offset() {
            f(CryptoEvent::Gap {
                len: first - self.delivered,
                ts,
            });
            self.delivered = first;
            self.desynchronised = true;
            self.joiner.release();
        }
    }

    fn deliver(&mut self, bytes: &[u8], ts: Timestamp, f: &mut impl FnMut(CryptoEvent<'_>)) {
        self.delivered += bytes.len() as u64;
        if self.desynchronised {
            return;
        }
        self.joiner.push(bytes, |joined| match joined {
            Joined::Message { msg_type, body } => f(CryptoEvent::Message { msg_type, body, ts }),
            Joined::TooLarge { msg_type, len } => f(CryptoEvent::TooLarge { msg_type, len }),
        });
        if !self.joiner.is_partial() {
            // An Initial stream carries one or two messages, and its flow is held until the
            // idle timeout (QUIC shows no close): a buffer kept for the next message would
            // stay allocated for nothing.
            self.joiner.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An event with owned bytes, for comparisons.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Seen {
        Message(u8, Vec<u8>, Timestamp),
        TooLarge(u8, usize),
        Gap(u64, Timestamp),
    }

    fn record(seen: &mut Vec<Seen>) -> impl FnMut(CryptoEvent<'_>) + '_ {
        |e| {
            seen.push(match e {
                CryptoEvent::Message { msg_type, body, ts } => {
                    Seen::Message(msg_type, body.to_vec(), ts)
                }
                CryptoEvent::TooLarge { msg_type, len } => Seen::TooLarge(msg_type, len),
                CryptoEvent::Gap { len, ts } => Seen::Gap(len, ts),
            })
        }
    }

    fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let len = body.len() as u32;
        let mut m = vec![msg_type, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        m.extend_from_slice(body);
        m
    }

    const T1: Timestamp = Timestamp(1);
    const T2: Timestamp = Timestamp(2);
    const T3: Timestamp = Timestamp(3);

    /// Flows share the worker's budget: bytes beyond a hole that one stream holds, another
    /// cannot take (its hole becomes a gap, as at its own cap), and a dropped stream (its flow
    /// closed) gives back what it held.
    #[test]
    fn streams_share_the_workers_budget_and_give_back_what_they_held() {
        let budget = JoinBudget::new(3000);
        let stream = || CryptoStream::new(CryptoLimits::default(), Some(budget.clone()));
        let (mut a, mut b) = (stream(), stream());
        let ch = message(1, &[7; 2500]);
        let mut seen = Vec::new();
        let out = a.insert(1000, &ch[1000..], T1, record(&mut seen));
        assert!(!out.budget_exhausted);
        let held = budget.held();
        assert!(held > 1500, "{held}");
        let out = b.insert(1000, &ch[1000..], T1, record(&mut seen));
        assert!(out.budget_exhausted);
        assert_eq!(seen, [Seen::Gap(1000, T1)]);
        assert_eq!(budget.held(), held, "the refused stream holds nothing");
        drop(a);
        assert_eq!(budget.held(), 0);
        drop(b);
        assert_eq!(budget.held(), 0);
    }

    /// A ClientHello split over three Initial packets arriving 3, 1, 2: the message completes
    /// with the last one and carries its time.
    #[test]
    fn client_hello_in_three_packets_out_of_order() {
        let ch = message(1, &[7; 2500]);
        let mut s = CryptoStream::new(CryptoLimits::default(), None);
        let mut seen = Vec::new();
        s.insert(2000, &ch[2000..], T1, record(&mut seen));
        s.insert(0, &ch[..1000], T2, record(&mut seen));
        assert!(seen.is_empty());
        assert!(s.is_partial());
        s.insert(1000, &ch[1000..2000], T3, record(&mut seen));
        assert_eq!(seen, [Seen::Message(1, vec![7; 2500], T3)]);
        assert!(!s.is_partial());
        assert_eq!(s.delivered(), ch.len() as u64);
    }

    #[test]
    fn retransmission_with_other_boundaries_counts_duplicates() {
        let ch = message(1, b"hello");
        let mut s = CryptoStream::new(CryptoLimits::default(), None);
        let mut seen = Vec::new();
        s.insert(0, &ch[..4], T1, record(&mut seen));
        s.insert(6, &ch[6..], T1, record(&mut seen));
        let ins = s.insert(2, &ch[2..7], T2, record(&mut seen));
        assert_eq!(ins.duplicate_bytes, 2 + 1);
        assert!(!ins.conflict);
        assert_eq!(seen, [Seen::Message(1, b"hello".to_vec(), T2)]);
        let again = s.insert(0, &ch, T3, record(&mut seen));
        assert_eq!(again.duplicate_bytes, ch.len() as u64);
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn differing_copy_is_a_conflict_first_copy_wins() {
        let mut s = CryptoStream::new(CryptoLimits::default(), None);
        let mut seen = Vec::new();
        s.insert(4, b"AB", T1, record(&mut seen));
        let ins = s.insert(4, b"XY", T1, record(&mut seen));
        assert!(ins.conflict);
        s.insert(0, &[1, 0, 0, 2], T2, record(&mut seen));
        assert_eq!(seen, [Seen::Message(1, b"AB".to_vec(), T2)]);
    }

    #[test]
    fn bytes_beyond_the_offset_cap_are_dropped() {
        let limits = CryptoLimits {
            max_offset: 10,
            ..CryptoLimits::default()
        };
        let mut s = CryptoStream::new(limits, None);
        let mut seen = Vec::new();
        let ins = s.insert(8, &[0; 5], T1, record(&mut seen));
        assert_eq!(ins.beyond_cap, 3);
        let ins = s.insert(20, &[0; 5], T1, record(&mut seen));
        assert_eq!(ins.beyond_cap, 5);
        assert_eq!(s.delivered(), 0);
    }

    /// One-byte frames after a hole: the charge (bytes + per-chunk overhead) passes the cap,
    /// the hole becomes a gap and nothing more is joined.
    #[test]
    fn buffer_cap_turns_the_first_hole_into_a_gap() {
        let limits = CryptoLimits {
            max_buffered: 1000,
            ..CryptoLimits::default()
        };
        let mut s = CryptoStream::new(limits, None);
        let mut seen = Vec::new();
        for i in 0..10u64 {
            s.insert(100 + 2 * i, &[1], T1, record(&mut seen));
        }
        assert_eq!(seen, [Seen::Gap(100, T1)]);
        assert_eq!(s.delivered(), 101);
        // Later complete messages are not joined: boundaries are lost.
        s.insert(101, &message(2, b"x"), T2, record(&mut seen));
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn finish_reports_the_hole() {
        let mut s = CryptoStream::new(CryptoLimits::default(), None);
        let mut seen = Vec::new();
        s.insert(0, &[1, 0, 0], T1, record(&mut seen));
        s.insert(10, &[9; 4], T1, record(&mut seen));
        s.finish(T3, record(&mut seen));
        assert_eq!(seen, [Seen::Gap(7, T3)]);
        assert_eq!(s.delivered(), 14);
        let mut complete = CryptoStream::new(CryptoLimits::default(), None);
        complete.finish(T3, record(&mut seen));
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn oversized_message_is_reported() {
        let limits = CryptoLimits {
            max_message: 8,
            ..CryptoLimits::default()
        };
        let mut s = CryptoStream::new(limits, None);
        let mut seen = Vec::new();
        let mut bytes = message(11, &[0; 20]);
        bytes.extend_from_slice(&message(20, b"fin"));
        s.insert(0, &bytes, T1, record(&mut seen));
        assert_eq!(
            seen,
            [
                Seen::TooLarge(11, 20),
                Seen::Message(20, b"fin".to_vec(), T1)
            ]
        );
    }

    proptest! {
        /// Oracle: the original byte stream joined in one piece. The same bytes cut at any
        /// offsets, with copies of some pieces, delivered in any order, give the same messages.
        #[test]
        fn any_cuts_orders_and_duplicates_join_the_same_messages(
            bodies in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..300)), 1..6),
            cuts in prop::collection::vec(0usize..2000, 0..12),
            dups in prop::collection::vec((0usize..2000, 1usize..200), 0..6),
            order in prop::collection::vec(any::<u32>(), 30),
        ) {
            let stream: Vec<u8> = bodies.iter().flat_map(|(t, b)| message(*t, b)).collect();
            let mut expected = Vec::new();
            let mut joiner = Joiner::new(CryptoLimits::default().max_message);
            joiner.push(&stream, |j| if let Joined::Message { msg_type, body } = j {
                expected.push((msg_type, body.to_vec()));
            });

            let mut points: Vec<usize> = cuts.iter().map(|c| c % stream.len()).collect();
            points.extend([0, stream.len()]);
            points.sort_unstable();
            points.dedup();
            let mut pieces: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
            for (at, len) in dups {
                let start = at % stream.len();
                pieces.push((start, (start + len).min(stream.len())));
            }
            let mut keyed: Vec<(u32, (usize, usize))> =
                pieces.into_iter().enumerate().map(|(i, p)| (order[i % order.len()], p)).collect();
            keyed.sort_by_key(|(k, _)| *k);

            let mut s = CryptoStream::new(CryptoLimits::default(), None);
            let mut got = Vec::new();
            for (_, (start, end)) in keyed {
                s.insert(start as u64, &stream[start..end], T1, |e| match e {
                    CryptoEvent::Message { msg_type, body, .. } => got.push((msg_type, body.to_vec())),
                    other => panic!("unexpected {other:?}"),
                });
            }
            s.finish(T2, |e| panic!("nothing left to report: {e:?}"));
            prop_assert_eq!(got, expected);
            prop_assert_eq!(s.delivered(), stream.len() as u64);
            prop_assert!(!s.is_partial());
        }
    }
}
