//! Connections that have not carried a byte yet (SYN, SYN-ACK and pure ACKs only), kept in a
//! few dozen bytes each, as a kernel's SYN queue keeps them: 64 bytes for an IPv4 connection,
//! 88 for IPv6, against the ~0.65 KiB of a full connection. A SYN flood or a port scan then
//! costs a bounded table of small slots instead of a full flow entry per SYN, and it can only
//! evict other half-open connections, never an established one.
//!
//! A connection leaves this table for the full one ([`super::TcpTable`]) on the first segment
//! the compact form cannot represent exactly: payload, FIN, RST, an acknowledgment or sequence
//! number that would move the stream state, a time more than ~4.29 s after the first packet
//! (times are kept as 32-bit nanosecond offsets), or its 256th packet. The promoted
//! connection's state is then exactly what the full table would have built from the same
//! segments, so every record and counter is the same as if it had been full from its SYN
//! (the property tests in `tcp/tests.rs` check that against a table without this one).
//!
//! Slots live in chunks that never move (no copy of the whole table when it grows), found
//! through a hash table of 4-byte slot numbers, and queued in the order they arrived for idle
//! expiry and eviction. A packet on a held connection only marks it active (no queue
//! operation per packet); a marked connection that reaches the head of the queue is moved to
//! its tail instead of being evicted (the "second chance" approximation of least recently
//! active). Idle connections close at their exact deadline whenever the sweep finds them, and
//! a packet on one closes it first, so the output never depends on the sweep.

use std::hash::Hasher;
use std::net::IpAddr;

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use super::seq::SeqNum;
use super::{Segment, TcpMeta};
use crate::flow::{Direction, Endpoint, FlowKey, Timestamp, Transport};
use crate::prefetch;
use crate::stream::{CloseReason, TableLimits, TableStats};

/// A time offset that was not seen (SYN-ACK, handshake ACK).
const NONE: u32 = u32::MAX;
/// Indexes of [`Opening::times`].
const SYN: usize = 0;
const SYN_ACK: usize = 1;
const HANDSHAKE_ACK: usize = 2;
const LAST: usize = 3;
/// Bits of [`Opening::flags`].
const SYN_SEEN: u8 = 1;
const SYN_FROM_HI: u8 = 2;
const ISN_SEEN: [u8; 2] = [4, 8];
/// Active since it was queued: gets a second turn when it reaches the head of the queue.
const TOUCHED: u8 = 16;

/// What a connection that has not carried a byte has shown: what [`TcpMeta`] and the two
/// half-streams would hold after the same segments. Packed to 4-byte alignment so that an
/// IPv4 slot is 64 bytes.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
pub(super) struct Opening {
    /// Capture time of the first packet.
    first_ts: i64,
    /// Capture clock of the last packet (idle expiry).
    last_clock: i64,
    /// Initial sequence number per direction (valid where `ISN_SEEN`).
    isn: [u32; 2],
    /// SYN, SYN-ACK, handshake ACK and last packet, in nanoseconds after `first_ts` (`NONE`:
    /// not seen).
    times: [u32; 4],
    /// Packets per direction.
    packets: [u8; 2],
    /// `SYN_SEEN`, `SYN_FROM_HI`, `ISN_SEEN`, `TOUCHED`.
    flags: u8,
}

impl Opening {
    /// The compact state of a connection whose first segment is `seg`, if it can hold it (a
    /// SYN or SYN-ACK without payload: a pure ACK starts no connection at all).
    fn start(seg: &Segment<&[u8]>) -> Option<Opening> {
        if !seg.header.flags.syn() {
            return None;
        }
        let mut opening = Opening {
            first_ts: seg.ts.0,
            last_clock: seg.clock.0,
            isn: [0; 2],
            times: [NONE, NONE, NONE, 0],
            packets: [0; 2],
            flags: 0,
        };
        opening.apply(seg).then_some(opening)
    }

    /// Applies a segment exactly as the full connection would (`TcpFlow::handle`); false when
    /// the result would not be representable here (then `self` must be discarded and the
    /// connection promoted with its state from before the segment).
    fn apply(&mut self, seg: &Segment<&[u8]>) -> bool {
        let flags = seg.header.flags;
        if !seg.payload.is_empty() || flags.fin() || flags.rst() {
            return false;
        }
        let Some(at) = seg
            .ts
            .0
            .checked_sub(self.first_ts)
            .and_then(|d| u32::try_from(d).ok())
            .filter(|&d| d != NONE)
        else {
            return false;
        };
        let i = seg.dir.index();
        let Some(packets) = self.packets[i].checked_add(1) else {
            return false;
        };
        self.packets[i] = packets;
        let mut times = self.times;
        times[LAST] = times[LAST].max(at);
        let seq = SeqNum(seg.header.seq);
        if flags.syn() {
            if flags.ack() {
                if times[SYN_ACK] == NONE {
                    times[SYN_ACK] = at;
                }
            } else if self.flags & SYN_SEEN == 0 {
                times[SYN] = at;
                self.flags |= SYN_SEEN;
                if seg.dir == Direction::HiToLo {
                    self.flags |= SYN_FROM_HI;
                }
            }
            if self.isn(i).is_none() {
                self.isn[i] = seq.0;
                self.flags |= ISN_SEEN[i];
            }
        } else if flags.ack()
            && times[HANDSHAKE_ACK] == NONE
            && times[SYN_ACK] != NONE
            && self.syn_dir() == Some(seg.dir)
        {
            times[HANDSHAKE_ACK] = at;
        }
        self.times = times;
        let data_seq = if flags.syn() { seq + 1 } else { seq };
        // The half-stream counts an empty segment beyond its delivery point as a
        // retransmission, and an acknowledgment beyond the peer's SYN moves what the peer
        // acknowledged: state this form does not keep.
        let beyond = |isn: Option<SeqNum>, seq: SeqNum| isn.is_some_and(|isn| seq - (isn + 1) > 0);
        if beyond(self.isn(i), data_seq) {
            return false;
        }
        !(flags.ack() && beyond(self.isn(1 - i), SeqNum(seg.header.ack)))
    }

    /// Whether a SYN `seg` opens a new connection on these ports (as
    /// `TcpFlow::is_reused_by`: no FIN can have been seen here).
    fn is_reused_by(&self, seg: &Segment<&[u8]>) -> bool {
        let flags = seg.header.flags;
        flags.syn()
            && !flags.ack()
            && self
                .isn(seg.dir.index())
                .is_some_and(|isn| isn != SeqNum(seg.header.seq))
    }

    /// Notes a packet at capture clock `clock`.
    fn touch(&mut self, clock: Timestamp) {
        self.last_clock = self.last_clock.max(clock.0);
        self.flags |= TOUCHED;
    }

    /// The initial sequence number of direction `i`, if its SYN was seen.
    pub(super) fn isn(&self, i: usize) -> Option<SeqNum> {
        let isn = self.isn;
        (self.flags & ISN_SEEN[i] != 0).then_some(SeqNum(isn[i]))
    }

    fn syn_dir(&self) -> Option<Direction> {
        (self.flags & SYN_SEEN != 0).then_some(if self.flags & SYN_FROM_HI != 0 {
            Direction::HiToLo
        } else {
            Direction::LoToHi
        })
    }

    /// Capture time of the first packet.
    pub(super) fn first_ts(&self) -> Timestamp {
        Timestamp(self.first_ts)
    }

    fn last_clock(&self) -> Timestamp {
        Timestamp(self.last_clock)
    }

    fn time(&self, which: usize) -> Option<Timestamp> {
        let offset = self.times[which];
        (offset != NONE).then_some(Timestamp(self.first_ts + i64::from(offset)))
    }

    /// The TCP facts the full connection would have collected from the same segments.
    pub(super) fn meta(&self) -> TcpMeta {
        let packets = self.packets;
        TcpMeta {
            first_ts: self.first_ts(),
            last_ts: self.time(LAST).unwrap_or(self.first_ts()),
            syn: self.syn_dir().zip(self.time(SYN)),
            syn_ack: self.time(SYN_ACK),
            handshake_ack: self.time(HANDSHAKE_ACK),
            packets: packets.map(u64::from),
            ..TcpMeta::default()
        }
    }
}

/// A [`FlowKey`] of one address family, packed for the table (the transport is TCP).
trait PackedKey: Copy + Eq {
    /// The packed form of `key`, if it is of this family.
    fn pack(key: &FlowKey) -> Option<Self>;
    /// The key again.
    fn unpack(&self) -> FlowKey;
    /// A hash of the key, a few word-sized steps (a derived `Hash` feeds each small array
    /// with its length prefix: several times the work, on every SYN, SYN-ACK and ACK).
    fn hash(&self) -> u64;
}

/// FxHash of `words`.
fn hash_words(words: impl IntoIterator<Item = u64>) -> u64 {
    let mut h = FxHasher::default();
    for w in words {
        h.write_u64(w);
    }
    h.finish()
}

/// An IPv4 key: 12 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct V4Key {
    ips: [[u8; 4]; 2],
    ports: [u16; 2],
}

impl PackedKey for V4Key {
    fn hash(&self) -> u64 {
        let [lo, hi] = self.ips.map(u32::from_ne_bytes);
        let ips = u64::from(lo) << 32 | u64::from(hi);
        let ports = u64::from(self.ports[0]) << 16 | u64::from(self.ports[1]);
        hash_words([ips, ports])
    }

    fn pack(key: &FlowKey) -> Option<Self> {
        match (key.lo.ip, key.hi.ip) {
            (IpAddr::V4(lo), IpAddr::V4(hi)) => Some(V4Key {
                ips: [lo.octets(), hi.octets()],
                ports: [key.lo.port, key.hi.port],
            }),
            _ => None,
        }
    }

    fn unpack(&self) -> FlowKey {
        let ep = |i: usize| Endpoint {
            ip: IpAddr::from(self.ips[i]),
            port: self.ports[i],
        };
        FlowKey {
            transport: Transport::Tcp,
            lo: ep(0),
            hi: ep(1),
        }
    }
}

/// An IPv6 key: 36 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct V6Key {
    ips: [[u8; 16]; 2],
    ports: [u16; 2],
}

impl PackedKey for V6Key {
    fn hash(&self) -> u64 {
        let [lo, hi] = self.ips.map(u128::from_ne_bytes);
        let ports = u64::from(self.ports[0]) << 16 | u64::from(self.ports[1]);
        hash_words([
            lo as u64,
            (lo >> 64) as u64,
            hi as u64,
            (hi >> 64) as u64,
            ports,
        ])
    }

    fn pack(key: &FlowKey) -> Option<Self> {
        match (key.lo.ip, key.hi.ip) {
            (IpAddr::V6(lo), IpAddr::V6(hi)) => Some(V6Key {
                ips: [lo.octets(), hi.octets()],
                ports: [key.lo.port, key.hi.port],
            }),
            _ => None,
        }
    }

    fn unpack(&self) -> FlowKey {
        let ep = |i: usize| Endpoint {
            ip: IpAddr::from(self.ips[i]),
            port: self.ports[i],
        };
        FlowKey {
            transport: Transport::Tcp,
            lo: ep(0),
            hi: ep(1),
        }
    }
}

/// No slot: the end of a list.
const NIL: u32 = u32::MAX;
/// Slots per chunk (256 KiB of IPv4 slots).
const CHUNK: usize = 4096;

/// One connection: its key, its neighbours in activity order (or the next free slot), its
/// state.
#[derive(Clone, Copy, Debug)]
struct Slot<K> {
    key: K,
    /// Less recently active neighbour.
    prev: u32,
    /// More recently active neighbour, or the next free slot.
    next: u32,
    opening: Opening,
}

/// The connections of one address family, by key and in activity order.
#[derive(Debug)]
struct Slots<K> {
    /// Slot numbers by the hash of their key.
    index: HashTable<u32>,
    /// Fixed-capacity chunks: growing never moves a slot.
    chunks: Vec<Vec<Slot<K>>>,
    /// First free slot (freed slots are reused before new ones are made).
    free: u32,
    /// Least recently active connection.
    head: u32,
    /// Most recently active connection.
    tail: u32,
}

impl<K: PackedKey> Slots<K> {
    fn new() -> Self {
        Slots {
            index: HashTable::new(),
            chunks: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
        }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn slot(&self, i: u32) -> &Slot<K> {
        &self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn slot_mut(&mut self, i: u32) -> &mut Slot<K> {
        &mut self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    /// Asks the CPU to start loading the slot of `key`, if held (a hint).
    fn prefetch(&self, key: &K) {
        if let Some(i) = self.find(key) {
            prefetch::object(self.slot(i));
        }
    }

    fn find(&self, key: &K) -> Option<u32> {
        let chunks = &self.chunks;
        self.index
            .find(key.hash(), |&i| {
                chunks[i as usize / CHUNK][i as usize % CHUNK].key == *key
            })
            .copied()
    }

    /// The connection at the head of the queue: its slot, last activity, and whether it was
    /// active since it was queued.
    fn head(&self) -> Option<(u32, Timestamp, bool)> {
        (self.head != NIL).then(|| {
            let opening = &self.slot(self.head).opening;
            let touched = opening.flags & TOUCHED != 0;
            (self.head, opening.last_clock(), touched)
        })
    }

    /// Adds a connection as the most recently active.
    fn insert(&mut self, key: K, opening: Opening) {
        let slot = Slot {
            key,
            prev: NIL,
            next: NIL,
            opening,
        };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.slot(i).next;
            *self.slot_mut(i) = slot;
            i
        } else {
            if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                self.chunks.push(Vec::with_capacity(CHUNK));
            }
            let i = (self.chunks.len() - 1) * CHUNK + self.chunks.last().map_or(0, Vec::len);
            if let Some(chunk) = self.chunks.last_mut() {
                chunk.push(slot);
            }
            // At most `max_flows` slots are live, and far fewer than 2^32 fit in memory.
            i as u32
        };
        let chunks = &self.chunks;
        self.index.insert_unique(key.hash(), i, |&j| {
            chunks[j as usize / CHUNK][j as usize % CHUNK].key.hash()
        });
        self.link_last(i);
    }

    /// Moves slot `i` (the head) to the tail, its activity mark cleared.
    fn requeue(&mut self, i: u32) {
        self.slot_mut(i).opening.flags &= !TOUCHED;
        if self.tail != i {
            self.unlink(i);
            self.link_last(i);
        }
    }

    /// Removes slot `i`, returning its connection.
    fn remove(&mut self, i: u32) -> (K, Opening) {
        let Slot { key, opening, .. } = *self.slot(i);
        if let Ok(entry) = self.index.find_entry(key.hash(), |&j| j == i) {
            entry.remove();
        }
        self.unlink(i);
        self.slot_mut(i).next = self.free;
        self.free = i;
        (key, opening)
    }

    fn link_last(&mut self, i: u32) {
        let tail = self.tail;
        let slot = self.slot_mut(i);
        slot.prev = tail;
        slot.next = NIL;
        if tail == NIL {
            self.head = i;
        } else {
            self.slot_mut(tail).next = i;
        }
        self.tail = i;
    }

    fn unlink(&mut self, i: u32) {
        let Slot { prev, next, .. } = *self.slot(i);
        if prev == NIL {
            self.head = next;
        } else {
            self.slot_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slot_mut(next).prev = prev;
        }
    }
}

/// What the table did with a segment (see [`HalfOpenTable::offer`]).
#[derive(Debug)]
pub(super) enum Offered {
    /// The connection is (still) held here.
    Held,
    /// The connection no longer fits here: its state before the segment, for the full table,
    /// which must now take the segment.
    Promote(Opening),
    /// Not a connection this table holds or can start: the full table decides.
    NotHeld,
}

/// Half-open connections of one worker (see the module documentation).
#[derive(Debug)]
pub(super) struct HalfOpenTable {
    limits: TableLimits,
    v4: Slots<V4Key>,
    v6: Slots<V6Key>,
    stats: TableStats,
}

/// Where a connection that leaves the table goes: its key, state, why, and when.
pub(super) type Closed<'a> = dyn FnMut(FlowKey, Opening, CloseReason, Timestamp) + 'a;

impl HalfOpenTable {
    /// An empty table; `limits.max_flows` is its own cap (half-open connections do not count
    /// against the full table's); 0 holds nothing (every connection goes to the full table).
    pub(super) fn new(limits: TableLimits) -> Self {
        HalfOpenTable {
            limits,
            v4: Slots::new(),
            v6: Slots::new(),
            stats: TableStats::default(),
        }
    }

    /// Takes a segment of a connection the full table does not track: updates the connection
    /// held here (closing it first if it is idle past the timeout, or if the segment is a SYN
    /// reusing its ports), or starts holding a new one, or says it belongs to the full table.
    pub(super) fn offer(&mut self, seg: &Segment<&[u8]>, closed: &mut Closed<'_>) -> Offered {
        if self.limits.max_flows == 0 {
            return Offered::NotHeld;
        }
        let found = if let Some(key) = V4Key::pack(&seg.key) {
            offer_to(&mut self.v4, key, seg, &self.limits, closed)
        } else if let Some(key) = V6Key::pack(&seg.key) {
            offer_to(&mut self.v6, key, seg, &self.limits, closed)
        } else {
            return Offered::NotHeld;
        };
        if let Some(offered) = found {
            return offered;
        }
        let Some(opening) = Opening::start(seg) else {
            return Offered::NotHeld;
        };
        self.make_room(seg.clock, closed);
        if let Some(key) = V4Key::pack(&seg.key) {
            self.v4.insert(key, opening);
        } else if let Some(key) = V6Key::pack(&seg.key) {
            self.v6.insert(key, opening);
        }
        self.stats.peak_flows = self.stats.peak_flows.max(self.len() as u64);
        Offered::Held
    }

    /// Asks the CPU to start loading the slot of `key`'s connection, if it is held here (a
    /// hint, for a segment coming soon).
    pub(super) fn prefetch(&self, key: &FlowKey) {
        if let Some(key) = V4Key::pack(key) {
            self.v4.prefetch(&key);
        } else if let Some(key) = V6Key::pack(key) {
            self.v6.prefetch(&key);
        }
    }

    /// Closes every connection idle since before `now - idle_timeout`, at its idle deadline
    /// (as far as the queue shows them: see the module documentation).
    pub(super) fn expire_idle(&mut self, now: Timestamp, closed: &mut Closed<'_>) {
        let cutoff = Timestamp(now.0.saturating_sub(self.limits.idle_timeout_ns));
        while let Some((last, key, opening)) = self.remove_head(Some(cutoff)) {
            let deadline = Timestamp(last.0.saturating_add(self.limits.idle_timeout_ns));
            closed(key, opening, CloseReason::IdleTimeout, deadline);
        }
    }

    /// Closes every connection (end of capture) in queue order: an order that depends only on
    /// the packets, never on hash order, and needs no copy of the table.
    pub(super) fn drain(&mut self, closed: &mut Closed<'_>) {
        while let Some((_, key, opening)) = self.remove_head(None) {
            closed(key, opening, CloseReason::CaptureEnd, Timestamp::MAX);
        }
        self.v4 = Slots::new();
        self.v6 = Slots::new();
    }

    /// Evictions and the most connections held at once.
    pub(super) fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// Connections held now.
    pub(super) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Evicts connections from the head of the queue until one more fits.
    fn make_room(&mut self, now: Timestamp, closed: &mut Closed<'_>) {
        while self.len() >= self.limits.max_flows {
            let Some((_, key, opening)) = self.remove_head(None) else {
                break;
            };
            self.stats.flows_evicted += 1;
            closed(key, opening, CloseReason::Evicted, now);
        }
    }

    /// Removes the connection at the head of either family's queue (the one queued first),
    /// giving marked ones their second turn. With a `cutoff`, only one idle since before it,
    /// and the search stops at the first unmarked connection that is not.
    fn remove_head(&mut self, cutoff: Option<Timestamp>) -> Option<(Timestamp, FlowKey, Opening)> {
        loop {
            let v4 = self.v4.head();
            let v6 = self.v6.head();
            let v4_first = match (v4, v6) {
                (None, None) => return None,
                (Some((_, l4, _)), Some((_, l6, _))) => l4 <= l6,
                (v4, _) => v4.is_some(),
            };
            let (i, last, touched) = if v4_first { v4? } else { v6? };
            let idle = cutoff.is_some_and(|cutoff| last < cutoff);
            if touched && !idle {
                if v4_first {
                    self.v4.requeue(i);
                } else {
                    self.v6.requeue(i);
                }
                continue;
            }
            if cutoff.is_some() && !idle {
                return None;
            }
            return Some(if v4_first {
                let (key, opening) = self.v4.remove(i);
                (last, key.unpack(), opening)
            } else {
                let (key, opening) = self.v6.remove(i);
                (last, key.unpack(), opening)
            });
        }
    }
}

/// [`HalfOpenTable::offer`] for a connection of one family that may be held: `None` when it
/// is not (any more: an idle or reused one is closed first).
fn offer_to<K: PackedKey>(
    slots: &mut Slots<K>,
    key: K,
    seg: &Segment<&[u8]>,
    limits: &TableLimits,
    closed: &mut Closed<'_>,
) -> Option<Offered> {
    let i = slots.find(&key)?;
    let opening = slots.slot(i).opening;
    let last = opening.last_clock();
    if last.0 < seg.clock.0.saturating_sub(limits.idle_timeout_ns) {
        slots.remove(i);
        let deadline = Timestamp(last.0.saturating_add(limits.idle_timeout_ns));
        closed(seg.key, opening, CloseReason::IdleTimeout, deadline);
        return None;
    }
    if opening.is_reused_by(seg) {
        slots.remove(i);
        closed(seg.key, opening, CloseReason::PortReused, seg.clock);
        return None;
    }
    let mut updated = opening;
    if updated.apply(seg) {
        updated.touch(seg.clock);
        slots.slot_mut(i).opening = updated;
        Some(Offered::Held)
    } else {
        slots.remove(i);
        Some(Offered::Promote(opening))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_a_few_dozen_bytes() {
        assert_eq!(std::mem::size_of::<Slot<V4Key>>(), 64);
        assert_eq!(std::mem::size_of::<Slot<V6Key>>(), 88);
    }
}
