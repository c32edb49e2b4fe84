//! The flow table: connections by key, their TCP bookkeeping, idle expiry, eviction and the
//! table-wide buffer cap.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;

use super::half::{HalfStream, Out};
use super::seq::SeqNum;
use super::{CloseReason, Connection, Limits, Segment, StreamConsumer, TableStats, TcpMeta};
use crate::flow::{Direction, FlowKey, Timestamp};

/// A connection while it is tracked.
#[derive(Debug)]
struct Tracked<S> {
    meta: TcpMeta,
    consumer: S,
    /// Half-streams indexed by [`Direction::index`].
    halves: [HalfStream; 2],
    /// The timestamp of this connection's entry in the activity queue (at most `meta.last_ts`).
    queued_ts: Timestamp,
}

impl<S: StreamConsumer> Tracked<S> {
    fn new(consumer: S, ts: Timestamp) -> Self {
        Tracked {
            meta: TcpMeta {
                first_ts: ts,
                last_ts: ts,
                ..TcpMeta::default()
            },
            consumer,
            halves: Default::default(),
            queued_ts: ts,
        }
    }

    fn buffered(&self) -> usize {
        self.halves.iter().map(HalfStream::buffered).sum()
    }

    /// Whether `seg` is a SYN opening a new connection on the ports of this one.
    fn is_reused_by(&self, seg: &Segment<'_>) -> bool {
        if !seg.flags.syn() || seg.flags.ack() {
            return false;
        }
        let both_fins = self.meta.fin.iter().all(Option::is_some);
        both_fins || self.halves[seg.dir.index()].is_other_incarnation(SeqNum(seg.seq))
    }

    /// Applies one segment; returns why the connection ends, if it does.
    fn handle(
        &mut self,
        seg: &Segment<'_>,
        limits: &Limits,
        stats: &mut TableStats,
    ) -> Option<CloseReason> {
        let Tracked {
            meta,
            consumer,
            halves,
            ..
        } = self;
        let (dir, i, flags) = (seg.dir, seg.dir.index(), seg.flags);
        meta.packets[i] += 1;
        meta.payload_bytes[i] += seg.payload.len() as u64;
        // Capture clocks can step back; `last_ts` only moves forward so the activity queue
        // stays ordered.
        meta.last_ts = meta.last_ts.max(seg.ts);
        if flags.rst() {
            // Payload on a RST is a diagnostic, not stream data.
            meta.rst.get_or_insert((dir, seg.ts));
            return Some(CloseReason::Rst);
        }
        let [lo_to_hi, hi_to_lo] = halves;
        let (half, peer) = match dir {
            Direction::LoToHi => (lo_to_hi, hi_to_lo),
            Direction::HiToLo => (hi_to_lo, lo_to_hi),
        };
        let seq = SeqNum(seg.seq);
        if flags.syn() {
            if flags.ack() {
                meta.syn_ack.get_or_insert(seg.ts);
            } else {
                meta.syn.get_or_insert((dir, seg.ts));
            }
            meta.syn_data |= !seg.payload.is_empty();
            half.on_syn(seq);
        } else if flags.ack()
            && meta.handshake_ack.is_none()
            && meta.syn_ack.is_some()
            && meta.syn.is_some_and(|(syn_dir, _)| syn_dir == dir)
        {
            meta.handshake_ack = Some(seg.ts);
        }
        let data_seq = if flags.syn() { seq + 1 } else { seq };
        if !seg.payload.is_empty() || flags.fin() {
            half.start_at(data_seq);
        }
        let mut out = Out {
            dir,
            ts: seg.ts,
            consumer: &mut *consumer,
            meta: &mut *meta,
        };
        half.receive(data_seq, seg.payload, &mut out);
        if flags.fin() {
            out.meta.fin[i].get_or_insert(seg.ts);
            // Payload lengths fit in u32 (IP packets are smaller); truncation cannot happen.
            half.on_fin(data_seq + seg.payload.len() as u32, &mut out);
        }
        while half.buffered() > limits.max_flow_buffer && half.skip_first_hole(&mut out) {
            out.meta.buffer_cap_hits += 1;
            stats.flow_buffer_cap_hits += 1;
        }
        if flags.ack() {
            let mut peer_out = Out {
                dir: dir.reverse(),
                ts: seg.ts,
                consumer: &mut *consumer,
                meta: &mut *meta,
            };
            peer.on_peer_ack(SeqNum(seg.ack), &mut peer_out);
        }
        (half.finished() && peer.finished()).then_some(CloseReason::Fin)
    }

    /// Declares the first hole of direction `dir` a gap (a cap was hit); false if none.
    fn skip_first_hole(&mut self, dir: Direction, ts: Timestamp) -> bool {
        let mut out = Out {
            dir,
            ts,
            consumer: &mut self.consumer,
            meta: &mut self.meta,
        };
        self.halves[dir.index()].skip_first_hole(&mut out)
    }

    /// Delivers everything still buffered (gaps first) and hands the connection over.
    fn close(
        mut self,
        key: FlowKey,
        reason: CloseReason,
        closed: &mut impl FnMut(Connection<S>, CloseReason),
    ) {
        let ts = self.meta.last_ts;
        for (half, dir) in self
            .halves
            .iter_mut()
            .zip([Direction::LoToHi, Direction::HiToLo])
        {
            half.flush(&mut Out {
                dir,
                ts,
                consumer: &mut self.consumer,
                meta: &mut self.meta,
            });
        }
        closed(
            Connection {
                key,
                meta: self.meta,
                consumer: self.consumer,
            },
            reason,
        );
    }
}

/// All connections of one worker.
///
/// Lookups use FxHash (fast, and seedless, so runs are reproducible); nothing observable depends
/// on the map's iteration order: expiry and eviction follow the activity queue, and the final
/// drain sorts by first packet time then key.
#[derive(Debug)]
pub struct FlowTable<S> {
    limits: Limits,
    flows: FxHashMap<FlowKey, Tracked<S>>,
    /// One `(queued_ts, key)` entry per tracked connection, ordered by time. Updated lazily:
    /// packets only move `meta.last_ts`; an entry found stale when popped is re-queued at the
    /// connection's real last activity. The per-packet cost is nil, and expiry and eviction
    /// touch only entries that are due.
    activity: BTreeSet<(Timestamp, FlowKey)>,
    /// Out-of-order bytes buffered by all connections.
    buffered: usize,
    stats: TableStats,
}

impl<S: StreamConsumer> FlowTable<S> {
    /// An empty table.
    pub fn new(limits: Limits) -> Self {
        FlowTable {
            limits,
            flows: FxHashMap::default(),
            activity: BTreeSet::new(),
            buffered: 0,
            stats: TableStats::default(),
        }
    }

    /// Feeds one segment; `new_consumer` makes the consumer of a connection seen for the first
    /// time; connections that end (FIN/RST, eviction, idle) are handed to `closed`.
    ///
    /// A pure ACK (no payload, SYN, FIN or RST) does not create a connection: it carries no
    /// stream data, and the last ACK of every closed connection would otherwise leave a phantom
    /// connection behind until the idle timeout.
    pub fn process(
        &mut self,
        seg: &Segment<'_>,
        new_consumer: &mut impl FnMut(&FlowKey) -> S,
        closed: &mut impl FnMut(Connection<S>, CloseReason),
    ) {
        let key = seg.key;
        if self.flows.get(&key).is_some_and(|t| t.is_reused_by(seg)) {
            self.close(key, CloseReason::PortReused, closed);
        }
        if !self.flows.contains_key(&key) {
            let flags = seg.flags;
            if seg.payload.is_empty() && !flags.syn() && !flags.fin() && !flags.rst() {
                return;
            }
            self.make_room(closed);
            self.flows
                .insert(key, Tracked::new(new_consumer(&key), seg.ts));
            self.activity.insert((seg.ts, key));
            self.stats.flows_created += 1;
            self.stats.peak_flows = self.stats.peak_flows.max(self.flows.len() as u64);
        }
        let Some(tracked) = self.flows.get_mut(&key) else {
            return;
        };
        let before = tracked.buffered();
        let reason = tracked.handle(seg, &self.limits, &mut self.stats);
        self.buffered = self.buffered - before + tracked.buffered();
        // Only this segment's direction grew, so skipping its holes restores the bound.
        while self.buffered > self.limits.max_total_buffer {
            let before = tracked.buffered();
            if !tracked.skip_first_hole(seg.dir, seg.ts) {
                break;
            }
            tracked.meta.buffer_cap_hits += 1;
            self.stats.total_buffer_cap_hits += 1;
            self.buffered = self.buffered - before + tracked.buffered();
        }
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(self.buffered as u64);
        if let Some(reason) = reason {
            self.close(key, reason, closed);
        }
    }

    /// Closes every connection idle since before `now - idle_timeout`.
    ///
    /// Cost is proportional to the connections that are due (plus queue entries made stale by
    /// activity since the last call), not to the table size, so it can be called every batch.
    pub fn expire_idle(
        &mut self,
        now: Timestamp,
        closed: &mut impl FnMut(Connection<S>, CloseReason),
    ) {
        let cutoff = Timestamp(now.0.saturating_sub(self.limits.idle_timeout_ns));
        while let Some((last, key)) = self.least_recently_active() {
            if last >= cutoff {
                break;
            }
            self.close(key, CloseReason::IdleTimeout, closed);
        }
    }

    /// Closes every remaining connection (end of capture), flushing buffered data after gaps.
    /// Connections are handed over by first packet time, then key, so output does not depend
    /// on hash order.
    pub fn drain(&mut self, closed: &mut impl FnMut(Connection<S>, CloseReason)) {
        let mut all: Vec<(FlowKey, Tracked<S>)> = self.flows.drain().collect();
        all.sort_unstable_by_key(|(key, t)| (t.meta.first_ts, *key));
        self.activity.clear();
        self.buffered = 0;
        for (key, tracked) in all {
            tracked.close(key, CloseReason::CaptureEnd, closed);
        }
    }

    /// Table-wide counters.
    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// Evicts least recently active connections until one more fits.
    fn make_room(&mut self, closed: &mut impl FnMut(Connection<S>, CloseReason)) {
        while self.flows.len() >= self.limits.max_flows.max(1) {
            let Some((_, key)) = self.least_recently_active() else {
                break;
            };
            self.stats.flows_evicted += 1;
            self.close(key, CloseReason::Evicted, closed);
        }
    }

    /// The least recently active connection and its last activity.
    ///
    /// Re-queues stale head entries at their connection's last activity until the head is
    /// current; then every other entry's connection was active at or after the head's time.
    /// Each re-queue consumes activity since the previous one, so the work is amortized over
    /// packets.
    fn least_recently_active(&mut self) -> Option<(Timestamp, FlowKey)> {
        while let Some(&(queued, key)) = self.activity.first() {
            match self.flows.get_mut(&key) {
                Some(tracked) if tracked.meta.last_ts == queued => return Some((queued, key)),
                Some(tracked) => {
                    self.activity.remove(&(queued, key));
                    tracked.queued_ts = tracked.meta.last_ts;
                    self.activity.insert((tracked.queued_ts, key));
                }
                None => {
                    self.activity.remove(&(queued, key));
                }
            }
        }
        None
    }

    /// Removes a connection, flushes it and hands it to `closed`.
    fn close(
        &mut self,
        key: FlowKey,
        reason: CloseReason,
        closed: &mut impl FnMut(Connection<S>, CloseReason),
    ) {
        if let Some(tracked) = self.flows.remove(&key) {
            self.activity.remove(&(tracked.queued_ts, key));
            self.buffered -= tracked.buffered();
            tracked.close(key, reason, closed);
        }
    }
}
