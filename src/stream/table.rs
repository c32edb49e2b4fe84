//! The flow table: one worker's flows by key, with idle expiry, eviction of the least recently
//! active flow when full, and a deterministic close time for each. Transport-neutral: TCP's
//! driver keeps its connections here, and UDP flows (QUIC, DTLS) use the same machinery.
//!
//! A flow's close time depends only on the packets (its closing packet's clock, its idle
//! deadline, or the end of the capture), never on when a sweep ran, so records can be streamed
//! out in close order whatever the number of workers.

use std::collections::VecDeque;

use super::flow_map::FlowMap;
use crate::flow::{FlowKey, Timestamp};

/// Entries of closed flows the activity queue may hold beyond one per tracked flow before it
/// is compacted (see [`FlowTable::queue`]): a pass per this many closes at least.
const ACTIVITY_SLACK: usize = 1024;

/// Why a flow left the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// TCP: both directions sent FIN.
    Fin,
    /// TCP: a RST was seen.
    Rst,
    /// No packet for the idle timeout.
    IdleTimeout,
    /// Evicted because the table was full.
    Evicted,
    /// The capture ended with the flow open.
    CaptureEnd,
    /// QUIC without key logs: the handshake was confirmed, and the record written then (the
    /// flow's later packets are encrypted; it is held, without its handshake, until idle).
    HandshakeConfirmed,
    /// TCP: a new SYN reused the connection's ports (the old connection had finished, or the
    /// SYN's sequence number does not belong to it).
    PortReused,
}

/// Caps and timeouts every flow table has.
#[derive(Clone, Copy, Debug)]
pub struct TableLimits {
    /// Flows idle this long (capture clock) are closed.
    pub idle_timeout_ns: i64,
    /// Flows tracked at once; beyond, the least recently active is evicted.
    pub max_flows: usize,
}

/// Counters of one table.
#[derive(Clone, Debug, Default)]
pub struct TableStats {
    /// Flows evicted because `max_flows` was reached.
    pub flows_evicted: u64,
    /// Most flows tracked at once.
    pub peak_flows: u64,
}

/// A tracked flow: the transport's state and the table's bookkeeping.
#[derive(Debug)]
pub struct Entry<F> {
    /// The transport driver's state of this flow.
    pub flow: F,
    /// The flow's key (here, not in the map's slots: see [`FlowMap`]).
    pub(super) key: FlowKey,
    /// Capture clock of the last packet (see [`crate::flow::Timestamp`] and the readers'
    /// monotonic clock).
    last_clock: Timestamp,
    /// The clock of this flow's entry in the activity queue (at most `last_clock`).
    queued_clock: Timestamp,
}

impl<F> Entry<F> {
    /// The entry of a flow first seen at `clock`.
    pub(super) fn new(key: FlowKey, flow: F, clock: Timestamp) -> Self {
        Entry {
            flow,
            key,
            last_clock: clock,
            queued_clock: clock,
        }
    }

    /// Notes a packet at capture clock `clock`: the flow stays alive an idle timeout from here.
    pub fn touch(&mut self, clock: Timestamp) {
        self.last_clock = self.last_clock.max(clock);
    }
}

/// The flows still open at the end of a capture, in the order of their records' first packet
/// time ([`FlowTable::take_remaining`]); each is freed as it is taken.
#[derive(Debug)]
pub struct Remaining<F> {
    flows: std::vec::IntoIter<(Timestamp, FlowKey, Box<Entry<F>>)>,
}

impl<F> Remaining<F> {
    /// The first packet time of the next flow, if any is left.
    pub fn next_first_ts(&self) -> Option<Timestamp> {
        self.flows.as_slice().first().map(|(ts, _, _)| *ts)
    }
}

impl<F> Iterator for Remaining<F> {
    type Item = (FlowKey, F);

    fn next(&mut self) -> Option<(FlowKey, F)> {
        self.flows.next().map(|(_, key, entry)| (key, entry.flow))
    }
}

/// What [`FlowTable::lookup`] found.
#[derive(Debug)]
pub enum Lookup<'a, F> {
    /// A flow active within the idle timeout.
    Current(&'a mut Entry<F>),
    /// A flow idle past the timeout, still to be closed.
    Idle,
    /// No flow.
    Absent,
}

/// All flows of one worker for one transport.
///
/// Nothing observable depends on the map's iteration order: expiry and eviction follow the
/// activity queue, and the final drain sorts by first packet time then key.
#[derive(Debug)]
pub struct FlowTable<F> {
    limits: TableLimits,
    /// Boxed: a flow's state (with its consumer) is up to a kilobyte. Inline entries made every
    /// probe of the map a cache miss and every resize a large move, and the map keeps up to half
    /// of its slots empty after growing: an empty slot (a hash and a box) costs 16 bytes, not a
    /// kilobyte (measured with a million half-open connections: see benches/flood.sh). The box
    /// costs one allocation per flow, none per packet.
    flows: FlowMap<F>,
    /// `(queued_clock, key)` entries in order: one per tracked flow, and those of flows closed
    /// since (see [`Self::queue`]). Updated lazily: packets only move `last_clock`; an entry
    /// found stale when it reaches the head is re-queued at the flow's real last activity, and
    /// one whose flow is gone is dropped there. The per-packet cost is nil, closing a flow
    /// costs nothing here, and expiry and eviction touch only entries that are due. (A
    /// `BTreeSet` with an exact removal per close cost 3 % of the CPU time of a run of short
    /// connections: benches/README, session 9.)
    activity: VecDeque<(Timestamp, FlowKey)>,
    stats: TableStats,
}

impl<F> FlowTable<F> {
    /// An empty table.
    pub fn new(limits: TableLimits) -> Self {
        FlowTable {
            limits,
            flows: FlowMap::default(),
            activity: VecDeque::new(),
            stats: TableStats::default(),
        }
    }

    /// The flow of `key` if it is tracked and was active within the idle timeout before
    /// `clock`: one probe of the map, the common case of every packet.
    pub fn current(&mut self, key: &FlowKey, clock: Timestamp) -> Option<&mut Entry<F>> {
        match self.lookup(key, clock) {
            Lookup::Current(entry) => Some(entry),
            Lookup::Idle | Lookup::Absent => None,
        }
    }

    /// The flow of `key` if it is tracked, idle or not, without touching it.
    pub fn get(&self, key: &FlowKey) -> Option<&F> {
        self.flows.get(key).map(|e| &e.flow)
    }

    /// What the table holds for `key` at `clock`, in one probe of the map: the current flow,
    /// or whether an idle one (to close with [`Self::close_if_idle`]) or none is tracked.
    pub fn lookup(&mut self, key: &FlowKey, clock: Timestamp) -> Lookup<'_, F> {
        let cutoff = self.cutoff(clock);
        match self.flows.get_mut(key) {
            Some(e) if e.last_clock >= cutoff => Lookup::Current(e),
            Some(_) => Lookup::Idle,
            None => Lookup::Absent,
        }
    }

    /// Closes the flow of `key` if it is tracked but idle past the timeout at `clock`, exactly
    /// as [`Self::expire_idle`] would have (at its idle deadline), so that the result does not
    /// depend on how often, or on which worker, the sweep ran. Returns whether a flow of `key`
    /// is still tracked.
    pub fn close_if_idle(
        &mut self,
        key: &FlowKey,
        clock: Timestamp,
        closed: &mut impl FnMut(FlowKey, F, CloseReason, Timestamp),
    ) -> bool {
        let cutoff = self.cutoff(clock);
        match self.flows.get(key) {
            Some(e) if e.last_clock < cutoff => {
                let deadline = self.idle_deadline(e.last_clock);
                self.close(*key, CloseReason::IdleTimeout, deadline, closed);
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Starts tracking `flow` under `key` (not tracked yet) at capture clock `clock`, evicting
    /// the least recently active flows if the table is full.
    pub fn insert(
        &mut self,
        key: FlowKey,
        flow: F,
        clock: Timestamp,
        closed: &mut impl FnMut(FlowKey, F, CloseReason, Timestamp),
    ) -> &mut Entry<F> {
        self.make_room(clock, closed);
        self.queue(clock, key);
        self.stats.peak_flows = self.stats.peak_flows.max(self.flows.len() as u64 + 1);
        self.flows.insert(Box::new(Entry::new(key, flow, clock)))
    }

    /// Stops tracking the flow of `key` (if tracked) and hands it to `closed` with `reason` and
    /// its close time `closed_at`.
    pub fn close(
        &mut self,
        key: FlowKey,
        reason: CloseReason,
        closed_at: Timestamp,
        closed: &mut impl FnMut(FlowKey, F, CloseReason, Timestamp),
    ) {
        if let Some(entry) = self.flows.remove(&key) {
            // Its activity entry stays until it reaches the head or the queue is compacted.
            closed(key, entry.flow, reason, closed_at);
        }
    }

    /// Asks the CPU to start loading the entry of `key`, for a packet coming soon (a hint);
    /// returns whether `key` is tracked (by its hash: see [`FlowMap::prefetch`]).
    pub fn prefetch(&self, key: &FlowKey) -> bool {
        self.flows.prefetch(key)
    }

    /// The flow of `key`, if tracked (for hints: it may be idle).
    pub fn peek(&self, key: &FlowKey) -> Option<&F> {
        self.flows.get(key).map(|e| &e.flow)
    }

    /// Closes every flow idle since before `now - idle_timeout`; `now` is a capture clock
    /// value.
    ///
    /// Cost is proportional to the flows that are due (plus queue entries made stale by activity
    /// since the last call), not to the table size, so it can be called every batch.
    pub fn expire_idle(
        &mut self,
        now: Timestamp,
        closed: &mut impl FnMut(FlowKey, F, CloseReason, Timestamp),
    ) {
        let cutoff = self.cutoff(now);
        // Entries are never later than their flow's activity: a head at or after the cutoff
        // means nothing is due.
        while self
            .activity
            .front()
            .is_some_and(|&(queued, _)| queued < cutoff)
        {
            match self.least_recently_active() {
                Some((last, key)) if last < cutoff => {
                    let deadline = self.idle_deadline(last);
                    self.close(key, CloseReason::IdleTimeout, deadline, closed);
                }
                _ => break,
            }
        }
    }

    /// Removes every remaining flow (end of capture) in hash order, each still in its box.
    fn take_all(&mut self) -> Vec<(FlowKey, Box<Entry<F>>)> {
        self.activity.clear();
        self.flows.drain().map(|entry| (entry.key, entry)).collect()
    }

    /// Removes every remaining flow (end of capture), to be closed one at a time by
    /// `record_ts` (the first packet time the flow's record will carry), then key: the order
    /// the records are written in, so that the worker can hand them over as it goes instead
    /// of all at once. A flow with no record to write (`record_ts` `None`) is dropped now.
    pub fn take_remaining(&mut self, record_ts: impl Fn(&F) -> Option<Timestamp>) -> Remaining<F> {
        let mut all: Vec<_> = self
            .take_all()
            .into_iter()
            .filter_map(|(key, entry)| Some((record_ts(&entry.flow)?, key, entry)))
            .collect();
        all.sort_unstable_by_key(|(ts, key, _)| (*ts, *key));
        Remaining {
            flows: all.into_iter(),
        }
    }

    /// Table-wide counters.
    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The clock before which a flow's last activity makes it idle at `clock`.
    fn cutoff(&self, clock: Timestamp) -> Timestamp {
        Timestamp(clock.0.saturating_sub(self.limits.idle_timeout_ns))
    }

    /// The clock at which a flow last active at `last` becomes idle.
    fn idle_deadline(&self, last: Timestamp) -> Timestamp {
        Timestamp(last.0.saturating_add(self.limits.idle_timeout_ns))
    }

    /// Evicts least recently active flows until one more fits; `now` is the clock of the
    /// packet that needs the room.
    fn make_room(
        &mut self,
        now: Timestamp,
        closed: &mut impl FnMut(FlowKey, F, CloseReason, Timestamp),
    ) {
        while self.flows.len() >= self.limits.max_flows.max(1) {
            let Some((_, key)) = self.least_recently_active() else {
                break;
            };
            self.stats.flows_evicted += 1;
            self.close(key, CloseReason::Evicted, now, closed);
        }
    }

    /// The least recently active flow and its last activity.
    ///
    /// Re-queues stale head entries at their flow's last activity until the head is current;
    /// then every other entry's flow was active at or after the head's time. Each re-queue
    /// consumes activity since the previous one, so the work is amortized over packets.
    fn least_recently_active(&mut self) -> Option<(Timestamp, FlowKey)> {
        while let Some(&(queued, key)) = self.activity.front() {
            match self.flows.get_mut(&key) {
                Some(e) if e.queued_clock == queued && e.last_clock == queued => {
                    return Some((queued, key));
                }
                Some(e) if e.queued_clock == queued => {
                    self.activity.pop_front();
                    e.queued_clock = e.last_clock;
                    let clock = e.queued_clock;
                    self.queue(clock, key);
                }
                // A closed flow's entry (or one left by an earlier flow of the same key).
                _ => {
                    self.activity.pop_front();
                }
            }
        }
        None
    }

    /// Adds the activity entry `(clock, key)` in order: at the back, as clocks only grow,
    /// unless a re-queued flow's last activity is older than the newest entry (then it goes
    /// where it belongs, near the back). Entries of closed flows are left in place; once they
    /// would make up more than half of the queue, one pass drops them (and duplicates), so the
    /// queue stays within twice the flows tracked, plus [`ACTIVITY_SLACK`].
    fn queue(&mut self, clock: Timestamp, key: FlowKey) {
        let entry = (clock, key);
        if self.activity.back().is_none_or(|last| *last <= entry) {
            self.activity.push_back(entry);
        } else {
            let at = self.activity.partition_point(|e| *e < entry);
            self.activity.insert(at, entry);
        }
        if self.activity.len() > 2 * self.flows.len() + ACTIVITY_SLACK {
            let flows = &self.flows;
            let mut kept: Option<(Timestamp, FlowKey)> = None;
            self.activity.retain(|&(clock, key)| {
                let live = kept != Some((clock, key))
                    && flows.get(&key).is_some_and(|e| e.queued_clock == clock);
                if live {
                    kept = Some((clock, key));
                }
                live
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Endpoint, Transport};
    use std::net::{IpAddr, Ipv4Addr};

    fn key(port: u16) -> FlowKey {
        let ep = |port| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        };
        FlowKey::from_endpoints(Transport::Udp, ep(port), ep(443)).0
    }

    const SEC: i64 = 1_000_000_000;

    fn table(max_flows: usize) -> FlowTable<u16> {
        FlowTable::new(TableLimits {
            idle_timeout_ns: 10 * SEC,
            max_flows,
        })
    }

    type Closed = Vec<(u16, CloseReason, i64)>;

    fn closer(log: &mut Closed) -> impl FnMut(FlowKey, u16, CloseReason, Timestamp) + '_ {
        |_, flow, reason, at| log.push((flow, reason, at.0 / SEC))
    }

    #[test]
    fn idle_flows_close_at_their_deadline_however_late_the_sweep() {
        let mut t = table(10);
        let mut log = Closed::new();
        t.insert(key(1), 1, Timestamp(0), &mut closer(&mut log));
        t.insert(key(2), 2, Timestamp(0), &mut closer(&mut log));
        t.current(&key(2), Timestamp(5 * SEC))
            .expect("active")
            .touch(Timestamp(5 * SEC));
        // A sweep long after both deadlines closes each at its own.
        t.expire_idle(Timestamp(100 * SEC), &mut closer(&mut log));
        assert_eq!(
            log,
            [
                (1, CloseReason::IdleTimeout, 10),
                (2, CloseReason::IdleTimeout, 15)
            ]
        );
        assert!(t.is_empty());
    }

    #[test]
    fn a_packet_after_the_timeout_finds_no_current_flow_and_closes_the_old_one() {
        let mut t = table(10);
        let mut log = Closed::new();
        t.insert(key(1), 1, Timestamp(0), &mut closer(&mut log));
        assert!(t.current(&key(1), Timestamp(10 * SEC)).is_some());
        assert!(t.current(&key(1), Timestamp(11 * SEC)).is_none());
        assert!(!t.close_if_idle(&key(1), Timestamp(11 * SEC), &mut closer(&mut log)));
        assert_eq!(log, [(1, CloseReason::IdleTimeout, 10)]);
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_active_flow() {
        let mut t = table(2);
        let mut log = Closed::new();
        t.insert(key(1), 1, Timestamp(0), &mut closer(&mut log));
        t.insert(key(2), 2, Timestamp(SEC), &mut closer(&mut log));
        t.current(&key(1), Timestamp(2 * SEC))
            .expect("active")
            .touch(Timestamp(2 * SEC));
        t.insert(key(3), 3, Timestamp(3 * SEC), &mut closer(&mut log));
        assert_eq!(log, [(2, CloseReason::Evicted, 3)]);
        assert_eq!(t.stats().flows_evicted, 1);
        assert_eq!(t.stats().peak_flows, 2);
        // The rest by the caller's first packet time (here the reverse of the flows' own).
        let remaining = t.take_remaining(|flow| Some(Timestamp(-i64::from(*flow))));
        assert_eq!(remaining.next_first_ts(), Some(Timestamp(-3)));
        assert_eq!(remaining.map(|(_, flow)| flow).collect::<Vec<_>>(), [3, 1]);
        assert!(t.is_empty());
    }

    #[test]
    fn closed_flows_leave_the_activity_queue_bounded() {
        let mut t = table(10);
        let mut log = Closed::new();
        // The same ports over and over at one clock (a capture without timestamps), and new
        // ports at growing clocks: each closed at once.
        for i in 0..10_000u16 {
            let (k, clock) = if i % 2 == 0 {
                (key(7), Timestamp(0))
            } else {
                (key(i), Timestamp(i64::from(i)))
            };
            t.insert(k, i, clock, &mut closer(&mut log));
            t.close(k, CloseReason::Fin, clock, &mut closer(&mut log));
            assert!(t.activity.len() <= 2 * t.len() + ACTIVITY_SLACK + 1);
        }
        assert_eq!(log.len(), 10_000);
        assert!(t.is_empty());
    }

    /// What the table must do, by brute force: flows with their last activity; expiry closes
    /// every flow idle past the timeout in (last activity, key) order, eviction the least
    /// (last activity, key).
    #[derive(Default)]
    struct Oracle {
        flows: Vec<(FlowKey, u16, Timestamp)>,
    }

    impl Oracle {
        fn least(&self) -> Option<usize> {
            (0..self.flows.len()).min_by_key(|&i| (self.flows[i].2, self.flows[i].0))
        }
    }

    proptest::proptest! {
        /// Random inserts, packets, closes, sweeps and evictions on a small table: the same
        /// flows close, for the same reasons, at the same times, in the same order as the
        /// oracle's.
        #[test]
        fn expiry_and_eviction_match_a_brute_force_oracle(
            ops in proptest::collection::vec((0u8..4, 0u16..12, 0i64..3), 1..300),
        ) {
            let mut t = table(5);
            let mut o = Oracle::default();
            let (mut log, mut want) = (Closed::new(), Closed::new());
            let timeout = 10 * SEC;
            let mut now = Timestamp(0);
            for (op, port, step) in ops {
                now = Timestamp(now.0 + step * SEC);
                let k = key(port);
                // Expiry due before this packet, as the worker sweeps each batch.
                t.expire_idle(now, &mut closer(&mut log));
                while let Some(i) = o.least().filter(|&i| o.flows[i].2.0 + timeout < now.0) {
                    let (_, flow, last) = o.flows.remove(i);
                    want.push((flow, CloseReason::IdleTimeout, (last.0 + timeout) / SEC));
                }
                let tracked = o.flows.iter().position(|f| f.0 == k);
                match (op, tracked) {
                    (0 | 1, Some(i)) => {
                        o.flows[i].2 = now;
                        t.current(&k, now).expect("tracked and current").touch(now);
                    }
                    (0 | 1, None) => {
                        if o.flows.len() >= 5 {
                            let (_, flow, _) = o.flows.remove(o.least().expect("full"));
                            want.push((flow, CloseReason::Evicted, now.0 / SEC));
                        }
                        o.flows.push((k, port, now));
                        t.insert(k, port, now, &mut closer(&mut log));
                    }
                    (2, Some(i)) => {
                        let (_, flow, _) = o.flows.remove(i);
                        want.push((flow, CloseReason::Fin, now.0 / SEC));
                        t.close(k, CloseReason::Fin, now, &mut closer(&mut log));
                    }
                    _ => {}
                }
                proptest::prop_assert_eq!(&log, &want);
                proptest::prop_assert_eq!(t.len(), o.flows.len());
            }
        }
    }
}
