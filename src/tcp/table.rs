//! TCP's connections over the shared flow table: their TCP bookkeeping (half-streams, SYN/FIN/
//! RST, port reuse), the per-connection and table-wide buffer caps, and the hand-over of a
//! closed connection with everything still buffered flushed. Connections that have not
//! carried a byte yet are held in the compact [`HalfOpenTable`] until their first byte.

use super::half::{HalfStream, Out};
use super::half_open::{HalfOpenTable, Offered, Opening};
use super::seq::SeqNum;
use super::{CloseReason, Connection, Limits, Segment, StreamConsumer, TcpMeta, TcpStats};
use crate::flow::{Direction, FlowKey, Timestamp};
use crate::stream::table::Remaining;
use crate::stream::{Entry, FlowTable, Lookup, TableLimits};

/// TCP connections still open at the end of the capture, by first packet time then key
/// ([`TcpTable::take_remaining`]).
pub struct RemainingConnections<S>(Remaining<TcpFlow<S>>);

impl<S: StreamConsumer> RemainingConnections<S> {
    /// The first packet time of the next connection, if any is left.
    pub fn next_first_ts(&self) -> Option<Timestamp> {
        self.0.next_first_ts()
    }

    /// Closes the next connection (close time [`Timestamp::MAX`], buffered data after gaps
    /// flushed) and hands it to `closed`; false when none is left.
    pub fn close_next(&mut self, closed: &mut impl FnMut(Connection<S>, CloseReason)) -> bool {
        let Some((key, flow)) = self.0.next() else {
            return false;
        };
        flow.close(key, CloseReason::CaptureEnd, Timestamp::MAX, closed);
        true
    }
}

/// A TCP connection while it is tracked.
#[derive(Debug)]
struct TcpFlow<S> {
    meta: TcpMeta,
    consumer: S,
    /// Half-streams indexed by [`Direction::index`].
    halves: [HalfStream; 2],
}

impl<S: StreamConsumer> TcpFlow<S> {
    fn new(consumer: S, ts: Timestamp) -> Self {
        TcpFlow {
            meta: TcpMeta {
                first_ts: ts,
                last_ts: ts,
                ..TcpMeta::default()
            },
            consumer,
            halves: Default::default(),
        }
    }

    /// The connection the full table would have built from the segments `opening` holds.
    fn from_opening(consumer: S, opening: &Opening) -> Self {
        let mut halves: [HalfStream; 2] = Default::default();
        for (i, half) in halves.iter_mut().enumerate() {
            if let Some(isn) = opening.isn(i) {
                half.on_syn(isn);
            }
        }
        TcpFlow {
            meta: opening.meta(),
            consumer,
            halves,
        }
    }

    fn buffered(&self) -> usize {
        self.halves.iter().map(HalfStream::buffered).sum()
    }

    /// Whether `seg` is a SYN opening a new connection on the ports of this one.
    fn is_reused_by(&self, seg: &Segment<&[u8]>) -> bool {
        if !seg.header.flags.syn() || seg.header.flags.ack() {
            return false;
        }
        let both_fins = self.meta.fin.iter().all(Option::is_some);
        both_fins || self.halves[seg.dir.index()].is_other_incarnation(SeqNum(seg.header.seq))
    }

    /// Applies one segment; returns why the connection ends, if it does.
    fn handle(
        &mut self,
        seg: &Segment<&[u8]>,
        limits: &Limits,
        stats: &mut TcpStats,
    ) -> Option<CloseReason> {
        let TcpFlow {
            meta,
            consumer,
            halves,
        } = self;
        let (dir, i, flags) = (seg.dir, seg.dir.index(), seg.header.flags);
        if meta.count(seg) {
            return Some(CloseReason::Rst);
        }
        let [lo_to_hi, hi_to_lo] = halves;
        let (half, peer) = match dir {
            Direction::LoToHi => (lo_to_hi, hi_to_lo),
            Direction::HiToLo => (hi_to_lo, lo_to_hi),
        };
        let seq = SeqNum(seg.header.seq);
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
            peer.on_peer_ack(SeqNum(seg.header.ack), &mut peer_out);
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
        closed_at: Timestamp,
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
                closed_at,
            },
            reason,
        );
    }
}

/// The TCP connections of one worker.
#[derive(Debug)]
pub struct TcpTable<S> {
    limits: Limits,
    flows: FlowTable<TcpFlow<S>>,
    /// Connections that have not carried a byte yet.
    half_open: HalfOpenTable,
    /// Out-of-order bytes buffered by all connections.
    buffered: usize,
    stats: TcpStats,
}

impl<S: StreamConsumer> TcpTable<S> {
    /// An empty table.
    pub fn new(limits: Limits) -> Self {
        TcpTable {
            limits,
            flows: FlowTable::new(limits.table()),
            half_open: HalfOpenTable::new(TableLimits {
                idle_timeout_ns: limits.idle_timeout_ns,
                max_flows: limits.max_half_open,
            }),
            buffered: 0,
            stats: TcpStats::default(),
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
        seg: &Segment<&[u8]>,
        new_consumer: &mut impl FnMut(&FlowKey) -> S,
        closed: &mut impl FnMut(Connection<S>, CloseReason),
    ) {
        let key = seg.key;
        // The common case, a segment of a connection already tracked and still current, takes
        // one probe of the map.
        let reason = match self.flows.lookup(&key, seg.clock) {
            Lookup::Current(entry) if !entry.flow.is_reused_by(seg) => Self::feed(
                entry,
                seg,
                &self.limits,
                &mut self.stats,
                &mut self.buffered,
            ),
            Lookup::Absent => self.start_and_feed(seg, new_consumer, closed),
            Lookup::Current(_) | Lookup::Idle => {
                self.close_stale(seg, closed);
                self.start_and_feed(seg, new_consumer, closed)
            }
        };
        if let Some(reason) = reason {
            self.close(key, reason, seg.clock, closed);
        }
    }

    /// Closes the connection tracked under `seg`'s key that `seg` cannot belong to: idle
    /// past the timeout (at its deadline, exactly as `expire_idle` would have), or current
    /// but with its ports reused by `seg`.
    fn close_stale(
        &mut self,
        seg: &Segment<&[u8]>,
        closed: &mut impl FnMut(Connection<S>, CloseReason),
    ) {
        let buffered = &mut self.buffered;
        let mut hand_over = |key, flow: TcpFlow<S>, reason, at| {
            *buffered -= flow.buffered();
            flow.close(key, reason, at, closed);
        };
        if self
            .flows
            .close_if_idle(&seg.key, seg.clock, &mut hand_over)
        {
            self.flows
                .close(seg.key, CloseReason::PortReused, seg.clock, &mut hand_over);
        }
    }

    /// [`Self::process`] for a segment of a connection this table does not track: lets the
    /// half-open table hold, update or give up the connection, and otherwise starts tracking
    /// it here (unless the segment cannot start a connection) and feeds the segment. Returns
    /// why the connection ends with it, if it does.
    fn start_and_feed(
        &mut self,
        seg: &Segment<&[u8]>,
        new_consumer: &mut impl FnMut(&FlowKey) -> S,
        closed: &mut impl FnMut(Connection<S>, CloseReason),
    ) -> Option<CloseReason> {
        let key = seg.key;
        let offered = self.half_open.offer(seg, &mut |key, opening, reason, at| {
            TcpFlow::from_opening(new_consumer(&key), &opening).close(key, reason, at, closed);
        });
        let flow = match offered {
            Offered::Held => return None,
            Offered::Promote(opening) => TcpFlow::from_opening(new_consumer(&key), &opening),
            Offered::NotHeld => {
                let flags = seg.header.flags;
                if seg.payload.is_empty() && !flags.syn() && !flags.fin() && !flags.rst() {
                    return None;
                }
                TcpFlow::new(new_consumer(&key), seg.ts)
            }
        };
        if seg.header.flags.rst() {
            // The connection ends with this segment: handed over without being tracked (a
            // refused SYN, a stray reset), so it can evict nothing.
            let mut flow = flow;
            flow.meta.count(seg);
            flow.close(key, CloseReason::Rst, seg.clock, closed);
            return None;
        }
        let buffered = &mut self.buffered;
        let entry = self
            .flows
            .insert(key, flow, seg.clock, &mut |key, flow, reason, at| {
                *buffered -= flow.buffered();
                flow.close(key, reason, at, closed);
            });
        Self::feed(
            entry,
            seg,
            &self.limits,
            &mut self.stats,
            &mut self.buffered,
        )
    }

    /// Feeds a segment to its tracked connection and keeps the global buffer bound. Returns
    /// why the connection ends with this segment, if it does.
    fn feed(
        entry: &mut Entry<TcpFlow<S>>,
        seg: &Segment<&[u8]>,
        limits: &Limits,
        stats: &mut TcpStats,
        buffered: &mut usize,
    ) -> Option<CloseReason> {
        entry.touch(seg.clock);
        let flow = &mut entry.flow;
        let before = flow.buffered();
        let reason = flow.handle(seg, limits, stats);
        *buffered = *buffered - before + flow.buffered();
        // Only this segment's direction grew, so skipping its holes restores the bound.
        while *buffered > limits.max_total_buffer {
            let before = flow.buffered();
            if !flow.skip_first_hole(seg.dir, seg.ts) {
                break;
            }
            flow.meta.buffer_cap_hits += 1;
            stats.total_buffer_cap_hits += 1;
            *buffered = *buffered - before + flow.buffered();
        }
        stats.peak_buffered_bytes = stats.peak_buffered_bytes.max(*buffered as u64);
        reason
    }

    /// Asks the CPU to start loading the state of `key`'s connection (its entry, which holds
    /// the consumer inline, or its half-open slot), for a segment coming soon: connection
    /// state is scattered over the heap, and every segment would otherwise wait for memory.
    pub fn prefetch(&self, key: &FlowKey) {
        if !self.flows.prefetch(key) {
            self.half_open.prefetch(key);
        }
    }

    /// For a segment of direction `dir` that may close `key`'s connection (a FIN or RST
    /// coming soon, `rst` telling which): if it will close it (an RST, or a FIN after the
    /// peer's), asks its consumer to start loading what closing it reads, `step` pointers
    /// deep (see [`StreamConsumer::prefetch_close`]).
    pub fn prefetch_close(&self, key: &FlowKey, dir: Direction, rst: bool, step: usize) {
        if let Some(flow) = self.flows.peek(key)
            && (rst || flow.meta.fin[dir.reverse().index()].is_some())
        {
            flow.consumer.prefetch_close(step);
        }
    }

    /// Closes every connection idle since before `now - idle_timeout`; `now` is a capture
    /// clock value (see [`Segment::clock`]). Connections that never carried a byte get their
    /// consumer from `new_consumer` only now.
    pub fn expire_idle(
        &mut self,
        now: Timestamp,
        new_consumer: &mut impl FnMut(&FlowKey) -> S,
        closed: &mut impl FnMut(Connection<S>, CloseReason),
    ) {
        let buffered = &mut self.buffered;
        self.flows.expire_idle(now, &mut |key, flow, reason, at| {
            *buffered -= flow.buffered();
            flow.close(key, reason, at, closed);
        });
        self.half_open
            .expire_idle(now, &mut |key, opening, reason, at| {
                TcpFlow::from_opening(new_consumer(&key), &opening).close(key, reason, at, closed);
            });
    }

    /// Closes every remaining connection (end of capture), flushing buffered data after gaps:
    /// the half-open ones by last activity, then the others by first packet time, then key,
    /// so output does not depend on hash order.
    pub fn drain(
        &mut self,
        new_consumer: &mut impl FnMut(&FlowKey) -> S,
        closed: &mut impl FnMut(Connection<S>, CloseReason),
    ) {
        let mut remaining = self.take_remaining(new_consumer, closed);
        while remaining.close_next(closed) {}
    }

    /// End of capture, in the order records are written: closes the half-open connections now
    /// (by last activity, as [`TcpTable::drain`]; they carry no TLS, so they write records
    /// only with `--tcp-failure-records`) and returns the others, to be closed one at a time
    /// by first packet time (the worker hands their records over as it goes).
    pub fn take_remaining(
        &mut self,
        new_consumer: &mut impl FnMut(&FlowKey) -> S,
        closed: &mut impl FnMut(Connection<S>, CloseReason),
    ) -> RemainingConnections<S> {
        self.buffered = 0;
        self.half_open.drain(&mut |key, opening, reason, at| {
            TcpFlow::from_opening(new_consumer(&key), &opening).close(key, reason, at, closed);
        });
        RemainingConnections(self.flows.take_remaining(|flow| Some(flow.meta.first_ts)))
    }

    /// Counters of the table.
    pub fn stats(&self) -> TcpStats {
        TcpStats {
            table: self.flows.stats().clone(),
            half_open: self.half_open.stats().clone(),
            ..self.stats.clone()
        }
    }

    /// Closes a connection, flushes it and hands it to `closed`.
    fn close(
        &mut self,
        key: FlowKey,
        reason: CloseReason,
        closed_at: Timestamp,
        closed: &mut impl FnMut(Connection<S>, CloseReason),
    ) {
        let buffered = &mut self.buffered;
        self.flows
            .close(key, reason, closed_at, &mut |key, flow, reason, at| {
                *buffered -= flow.buffered();
                flow.close(key, reason, at, closed);
            });
    }
}
