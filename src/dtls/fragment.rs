//! DTLS handshake fragments and their reassembly into messages (RFC 6347 §4.2.2, RFC 9147
//! §5.5).
//!
//! Every DTLS handshake message travels as one or more fragments, each with a 12-byte header:
//! `msg_type, length (24), message_seq (16), fragment_offset (24), fragment_length (24)`. The
//! sender numbers its messages from 0 in each handshake and retransmits whole flights when
//! they are not acknowledged, possibly cut at other offsets; the network may reorder, drop and
//! duplicate datagrams.
//!
//! [`MessageJoiner`] reassembles one direction's messages: per `message_seq`, the bytes below
//! the first hole are kept in one buffer and the ones beyond it in the project's offset-keyed
//! [`Assembler`] (first copy wins, overlaps compared), and finished messages come out in
//! `message_seq` order, each with the capture time of the fragment that completed it. A
//! fragment that brings nothing new is a [`FragmentOutcome::Duplicate`] (the caller counts
//! retransmitted flights from those), one that contradicts what is held a
//! [`FragmentOutcome::Conflict`]. When a message is missing for good (the capture lost it)
//! the caller skips the hole ([`MessageJoiner::skip_hole`]) and reports a gap.
//!
//! Bounds: a message longer than [`JoinerLimits::max_message`] is skipped (no byte of it is
//! kept); at most [`JoinerLimits::max_pending`] messages wait at once, none more than that many
//! ahead of the next one due; the bytes held, plus the assembler's per-chunk overhead, stay
//! under [`JoinerLimits::max_buffered`]. Hostile lengths never allocate: buffers grow with the
//! bytes that arrive, never with the length a header claims.
//!
//! `tls-parser`'s `parse_dtls_message_handshake` reads the same header but also parses the body,
//! and fails on the message types it lacks (ServerKeyExchange, Finished, …), so the header is
//! read here with `nom`.

use std::collections::BTreeMap;

use nom::IResult;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16, be_u24};

use crate::flow::Timestamp;
use crate::stream::assembler::{Assembler, CHUNK_OVERHEAD};
use crate::tls::joiner::{Charge, DEFAULT_MAX_HANDSHAKE_MESSAGE, JoinBudget};

/// Length of a DTLS handshake fragment header.
pub const HEADER_LEN: usize = 12;

/// One handshake fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Handshake message type.
    pub msg_type: u8,
    /// Length of the whole message body.
    pub length: u32,
    /// The message's number in its sender's handshake.
    pub message_seq: u16,
    /// Where these bytes start in the message body.
    pub offset: u32,
    /// The bytes.
    pub bytes: &'a [u8],
}

impl Fragment<'_> {
    /// Offset just past these bytes.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + self.bytes.len() as u64
    }
}

/// Why the rest of a handshake record could not be read as fragments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// The record ended inside a fragment header or its bytes.
    #[error("DTLS handshake fragment truncated")]
    Truncated,
    /// `fragment_offset + fragment_length` is beyond the message length.
    #[error("DTLS handshake fragment beyond its message length")]
    BeyondMessage,
}

/// The fragments of one handshake record body, in order; the iteration ends after an error.
#[derive(Clone, Debug)]
pub struct Fragments<'a> {
    rest: &'a [u8],
}

/// Iterates over the handshake fragments of a (cleartext) handshake record body.
pub fn fragments(record_body: &[u8]) -> Fragments<'_> {
    Fragments { rest: record_body }
}

/// One fragment header and its bytes.
fn fragment(input: &[u8]) -> IResult<&[u8], (Fragment<'_>, u32)> {
    let (input, msg_type) = be_u8(input)?;
    let (input, length) = be_u24(input)?;
    let (input, message_seq) = be_u16(input)?;
    let (input, offset) = be_u24(input)?;
    let (input, fragment_length) = be_u24(input)?;
    let (input, bytes) = take(fragment_length)(input)?;
    let frag = Fragment {
        msg_type,
        length,
        message_seq,
        offset,
        bytes,
    };
    Ok((input, (frag, fragment_length)))
}

impl<'a> Iterator for Fragments<'a> {
    type Item = Result<Fragment<'a>, FragmentError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = match fragment(self.rest) {
            Err(_) => Err(FragmentError::Truncated),
            Ok((_, (frag, _))) if frag.end() > u64::from(frag.length) => {
                Err(FragmentError::BeyondMessage)
            }
            Ok((rest, (frag, _))) => {
                self.rest = rest;
                return Some(Ok(frag));
            }
        };
        self.rest = &[];
        Some(item)
    }
}

/// Caps of one direction's [`MessageJoiner`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinerLimits {
    /// Longest message body reassembled (see [`DEFAULT_MAX_HANDSHAKE_MESSAGE`]); longer ones
    /// are skipped.
    pub max_message: usize,
    /// Messages waiting at once, and how far ahead of the next one due a message may be.
    /// A flight holds at most about ten messages (a DTLS 1.2 server's: ServerHello,
    /// Certificate, CertificateStatus, ServerKeyExchange, CertificateRequest, ServerHelloDone).
    pub max_pending: u16,
    /// Bytes held while waiting, each out-of-order chunk charged [`CHUNK_OVERHEAD`] more.
    pub max_buffered: usize,
}

impl Default for JoinerLimits {
    fn default() -> Self {
        JoinerLimits {
            max_message: DEFAULT_MAX_HANDSHAKE_MESSAGE,
            max_pending: 32,
            max_buffered: 1 << 20,
        }
    }
}

/// What one fragment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragmentOutcome {
    /// It brought bytes not held before.
    New,
    /// Everything in it was already held or delivered: a retransmission (or a duplicated
    /// datagram). `first_seen` is when its message's first fragment arrived.
    Duplicate {
        /// Capture time of the message's first fragment.
        first_seen: Timestamp,
    },
    /// It contradicts what is held: another type or length for the same `message_seq`, or
    /// different bytes where copies overlap (the first copy wins).
    Conflict,
    /// Its message is longer than [`JoinerLimits::max_message`]: skipped (this fragment and
    /// every later one of the same message).
    TooLarge,
    /// Its `message_seq` is [`JoinerLimits::max_pending`] or more ahead of the next message
    /// due, or that many messages already wait: dropped.
    TooFarAhead,
    /// Holding it would exceed [`JoinerLimits::max_buffered`]: dropped.
    BufferFull,
    /// It belongs to a message given up on (skipped over a hole, or too large and already
    /// passed): ignored.
    Stale,
}

/// A reassembled message, or the place of one that was too large to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinedMessage {
    /// Handshake message type.
    pub msg_type: u8,
    /// Its `message_seq`.
    pub message_seq: u16,
    /// The body; empty when `too_large`.
    pub body: Vec<u8>,
    /// Capture time of the fragment that completed it (of its first fragment when too large).
    pub ts: Timestamp,
    /// Capture time of its first fragment.
    pub first_seen: Timestamp,
    /// Longer than [`JoinerLimits::max_message`]: not kept.
    pub too_large: bool,
}

/// A message not yet delivered.
#[derive(Debug)]
struct Pending {
    msg_type: u8,
    length: u32,
    /// The bytes from offset 0 up to the first hole.
    body: Vec<u8>,
    /// The bytes beyond the first hole.
    later: Assembler,
    first_seen: Timestamp,
    completed: Timestamp,
    too_large: bool,
}

impl Pending {
    fn is_complete(&self) -> bool {
        self.too_large || self.body.len() as u64 == u64::from(self.length)
    }

    /// Memory charged for it.
    fn charged(&self) -> usize {
        self.body.len() + self.later.charged() + CHUNK_OVERHEAD
    }

    /// Adds a fragment's bytes: the part below the first hole is compared with the body, the
    /// rest goes to the assembler, which then hands over whatever became contiguous.
    fn add(&mut self, frag: &Fragment<'_>, ts: Timestamp) -> FragmentOutcome {
        let held = self.body.len() as u64;
        let start = u64::from(frag.offset);
        let mut conflict = false;
        let mut new = false;
        // Overlap with the contiguous body.
        if start < held {
            let upto = held.min(frag.end());
            let mine = &self.body[start as usize..upto as usize];
            conflict |= mine != &frag.bytes[..(upto - start) as usize];
        }
        // Beyond it.
        if frag.end() > held {
            let from = start.max(held);
            let piece = &frag.bytes[(from - start) as usize..];
            let ins = self.later.insert(from, piece, ts);
            conflict |= ins.conflict;
            new |= ins.new_bytes > 0;
        }
        while self.later.first_offset() == Some(self.body.len() as u64) {
            if let Some((_, chunk)) = self.later.pop_first() {
                self.body.extend_from_slice(&chunk.data);
            }
        }
        if new && self.is_complete() {
            self.completed = ts;
        }
        match (conflict, new) {
            (true, _) => FragmentOutcome::Conflict,
            (false, true) => FragmentOutcome::New,
            (false, false) => FragmentOutcome::Duplicate {
                first_seen: self.first_seen,
            },
        }
    }
}

/// What is remembered of a message already delivered (or given up on), to tell its
/// retransmissions from contradictions.
#[derive(Clone, Copy, Debug)]
struct Done {
    msg_type: u8,
    length: u32,
    first_seen: Timestamp,
    /// Skipped over a hole, or too large to keep: its fragments are not retransmissions.
    stale: bool,
}

/// Reassembles one direction's handshake messages; see the module doc.
#[derive(Debug, Default)]
pub struct MessageJoiner {
    limits: JoinerLimits,
    /// The next `message_seq` to deliver.
    next_seq: u16,
    pending: BTreeMap<u16, Pending>,
    /// The last [`JoinerLimits::max_pending`] messages delivered or skipped.
    done: BTreeMap<u16, Done>,
    charged: usize,
    /// `charged`, once settled, taken from the worker's budget shared with every other
    /// flow's (if any).
    charge: Charge,
}

impl MessageJoiner {
    /// A joiner expecting `message_seq` 0 first.
    pub fn new(limits: JoinerLimits) -> Self {
        MessageJoiner {
            limits,
            ..MessageJoiner::default()
        }
    }

    /// The same joiner, its held bytes also charged to `budget` (the worker's, shared with
    /// its other flows): a fragment the budget cannot hold is dropped as one beyond
    /// [`JoinerLimits::max_buffered`] is.
    pub fn with_budget(mut self, budget: Option<JoinBudget>) -> Self {
        self.charge = Charge::new(budget);
        self
    }

    /// Brings what the budget holds for this joiner in line with `charged`; false when the
    /// budget cannot hold an increase (nothing is taken then).
    fn settle(&mut self) -> bool {
        self.charge.set(self.charged)
    }

    /// Drops the pending message `seq` (it becomes a hole, then a gap) and gives back its
    /// charge.
    fn drop_pending(&mut self, seq: u16) {
        if let Some(p) = self.pending.remove(&seq) {
            self.charged -= p.charged();
        }
        self.settle();
    }

    /// The next `message_seq` due.
    pub fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// Memory charged for what is held.
    pub fn charged(&self) -> usize {
        self.charged
    }

    /// Whether a fragment with this `message_seq` would be for a message not yet delivered.
    pub fn is_due(&self, message_seq: u16) -> bool {
        message_seq >= self.next_seq
    }

    /// Takes one fragment that arrived at `ts`.
    pub fn insert(&mut self, frag: &Fragment<'_>, ts: Timestamp) -> FragmentOutcome {
        let seq = frag.message_seq;
        if seq < self.next_seq {
            return match self.done.get(&seq) {
                Some(done) if done.stale => FragmentOutcome::Stale,
                Some(done) if (done.msg_type, done.length) != (frag.msg_type, frag.length) => {
                    FragmentOutcome::Conflict
                }
                Some(done) => FragmentOutcome::Duplicate {
                    first_seen: done.first_seen,
                },
                // Delivered too long ago to be remembered: nothing new either way.
                None => FragmentOutcome::Duplicate { first_seen: ts },
            };
        }
        if seq - self.next_seq >= self.limits.max_pending {
            return FragmentOutcome::TooFarAhead;
        }
        if let Some(p) = self.pending.get_mut(&seq) {
            if (p.msg_type, p.length) != (frag.msg_type, frag.length) {
                return FragmentOutcome::Conflict;
            }
            if p.too_large {
                return FragmentOutcome::TooLarge;
            }
            if self.charged + frag.bytes.len() + CHUNK_OVERHEAD > self.limits.max_buffered {
                return FragmentOutcome::BufferFull;
            }
            let before = p.charged();
            let outcome = p.add(frag, ts);
            self.charged = self.charged + p.charged() - before;
            // A fragment across several held pieces adds a chunk per hole it fills: if that
            // broke the flow's cap or the worker's budget, the message is dropped (it becomes
            // a hole, then a gap).
            if self.charged > self.limits.max_buffered || !self.settle() {
                self.drop_pending(seq);
                return FragmentOutcome::BufferFull;
            }
            return outcome;
        }
        if self.pending.len() >= usize::from(self.limits.max_pending) {
            return FragmentOutcome::TooFarAhead;
        }
        let too_large = frag.length as usize > self.limits.max_message;
        let mut p = Pending {
            msg_type: frag.msg_type,
            length: frag.length,
            body: Vec::new(),
            later: Assembler::default(),
            first_seen: ts,
            completed: ts,
            too_large,
        };
        // What holding it costs at most: the message's overhead, plus its bytes as one chunk.
        let cost = if too_large {
            CHUNK_OVERHEAD
        } else {
            frag.bytes.len() + 2 * CHUNK_OVERHEAD
        };
        if self.charged + cost > self.limits.max_buffered {
            return FragmentOutcome::BufferFull;
        }
        let outcome = if too_large {
            FragmentOutcome::TooLarge
        } else {
            // An empty message (ServerHelloDone) is complete with its first fragment.
            match p.add(frag, ts) {
                FragmentOutcome::Duplicate { .. } => FragmentOutcome::New,
                other => other,
            }
        };
        self.charged += p.charged();
        self.pending.insert(seq, p);
        if !self.settle() {
            self.drop_pending(seq);
            return FragmentOutcome::BufferFull;
        }
        outcome
    }

    /// The next message due, if it is complete.
    pub fn pop(&mut self) -> Option<JoinedMessage> {
        let entry = self.pending.first_entry()?;
        if *entry.key() != self.next_seq || !entry.get().is_complete() {
            return None;
        }
        let p = entry.remove();
        self.charged -= p.charged();
        self.settle();
        self.remember(self.next_seq, &p, p.too_large);
        let msg = JoinedMessage {
            msg_type: p.msg_type,
            message_seq: self.next_seq,
            body: if p.too_large { Vec::new() } else { p.body },
            ts: p.completed,
            first_seen: p.first_seen,
            too_large: p.too_large,
        };
        self.next_seq = self.next_seq.saturating_add(1);
        Some(msg)
    }

    /// Gives up on the messages in the way of the first complete one waiting: they are
    /// missing or incomplete (lost by the capture, or never to be resent). Returns how many
    /// `message_seq` values were skipped, 0 when nothing complete waits behind a hole.
    /// With `all`, also gives up on incomplete messages with nothing complete after them (the
    /// end of the connection).
    pub fn skip_hole(&mut self, all: bool) -> u16 {
        let target = self
            .pending
            .iter()
            .find(|(_, p)| p.is_complete())
            .map(|(&seq, _)| seq);
        let target = match (target, all) {
            (Some(seq), _) => seq,
            (None, true) => match self.pending.last_key_value() {
                Some((&seq, _)) => seq.saturating_add(1),
                None => return 0,
            },
            (None, false) => return 0,
        };
        let skipped = target.saturating_sub(self.next_seq);
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() >= target {
                break;
            }
            let (seq, p) = entry.remove_entry();
            self.charged -= p.charged();
            self.remember(seq, &p, true);
        }
        self.settle();
        self.next_seq = self.next_seq.max(target);
        skipped
    }

    /// Writes down a message leaving the pending set; forgets the oldest beyond the cap.
    fn remember(&mut self, seq: u16, p: &Pending, stale: bool) {
        // Only the message's identity is kept, never its bytes.
        self.done.insert(
            seq,
            Done {
                msg_type: p.msg_type,
                length: p.length,
                first_seen: p.first_seen,
                stale,
            },
        );
        while self.done.len() > usize::from(self.limits.max_pending) {
            self.done.pop_first();
        }
    }
}

#[cfg(test)]
mod tests;
