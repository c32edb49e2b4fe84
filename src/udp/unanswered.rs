//! The UDP flows whose other side has not sent a datagram yet, capped apart from `--max-flows`
//! as TCP's half-open connections are: a flood of client Initials (or DTLS ClientHellos) from
//! fresh addresses makes one readable flow per datagram, each a few KiB, and nothing else
//! bounds them below `--max-flows`. Beyond the cap the oldest such flow is closed (its record
//! written, `close` `evicted`) and counted; flows that got an answer are never touched.
//!
//! The queue holds a flow's key and first datagram time in arrival order; entries of flows
//! answered or gone since are skipped when they reach the front and dropped in bulk when they
//! outnumber the live ones, so the queue stays within twice the flows it counts (plus a
//! constant).

use std::collections::VecDeque;

use crate::flow::{FlowKey, Timestamp};

/// Flows without an answer, oldest first.
#[derive(Debug, Default)]
pub struct Unanswered {
    /// Key and first datagram time of each flow queued (some since answered or closed).
    queue: VecDeque<(FlowKey, Timestamp)>,
    /// Flows in the table without an answer.
    count: usize,
    /// Most such flows held.
    max: usize,
}

/// What the table says of a queued flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queued {
    /// Still in the table, not answered: the flow to evict.
    Waiting,
    /// Answered, closed, or replaced by a later flow on the same 5-tuple: skip.
    Stale,
}

impl Unanswered {
    /// At most `max` flows without an answer (0: no cap).
    pub fn new(max: usize) -> Self {
        Unanswered {
            max,
            ..Unanswered::default()
        }
    }

    /// A new flow without an answer (nothing is kept without a cap).
    pub fn push(&mut self, key: FlowKey, first_ts: Timestamp) {
        if self.max == 0 {
            return;
        }
        self.queue.push_back((key, first_ts));
        self.count += 1;
    }

    /// A counted flow got its answer or left the table.
    pub fn remove(&mut self) {
        self.count = self.count.saturating_sub(1);
    }

    /// Flows without an answer now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no flow waits for an answer.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The oldest flow to evict while over the cap: `state` says what the table holds under a
    /// queued key and first datagram time. `None` when within the cap (or none is left); then
    /// stale entries are dropped if they have piled up.
    pub fn over_cap(
        &mut self,
        mut state: impl FnMut(&FlowKey, Timestamp) -> Queued,
    ) -> Option<FlowKey> {
        if self.max == 0 || self.count <= self.max {
            self.compact(&mut state);
            return None;
        }
        while let Some((key, first_ts)) = self.queue.pop_front() {
            if state(&key, first_ts) == Queued::Waiting {
                return Some(key);
            }
        }
        None
    }

    /// Drops stale entries once they outnumber the live ones.
    fn compact(&mut self, state: &mut impl FnMut(&FlowKey, Timestamp) -> Queued) {
        if self.queue.len() > 2 * self.count + 1024 {
            self.queue
                .retain(|(key, first_ts)| state(key, *first_ts) == Queued::Waiting);
        }
    }

    /// Forgets every flow (the table was emptied).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Endpoint, Transport};
    use std::collections::HashSet;
    use std::net::{IpAddr, Ipv4Addr};

    fn key(port: u16) -> FlowKey {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let server = Endpoint { ip, port: 443 };
        FlowKey::from_endpoints(Transport::Udp, Endpoint { ip, port }, server).0
    }

    /// Flows answered since they were queued are skipped, and their entries do not pile up:
    /// the queue stays within twice the flows counted plus the constant.
    #[test]
    fn answered_flows_are_skipped_and_their_entries_dropped() {
        let mut u = Unanswered::new(2);
        let mut waiting: HashSet<FlowKey> = HashSet::new();
        for port in 1..=5000u16 {
            u.push(key(port), Timestamp(i64::from(port)));
            waiting.insert(key(port));
            // Every flow but the 1,000th ones gets its answer at once.
            if port % 1000 != 0 {
                waiting.remove(&key(port));
                u.remove();
            }
            let state = |k: &FlowKey, _| {
                if waiting.contains(k) {
                    Queued::Waiting
                } else {
                    Queued::Stale
                }
            };
            if let Some(evicted) = u.over_cap(state) {
                waiting.remove(&evicted);
                u.remove();
            }
            assert!(u.queue.len() <= 2 * u.len() + 1025, "{}", u.queue.len());
        }
        // 1000, 2000, ... 5000 waited; the cap of 2 kept the last two.
        let mut left: Vec<_> = waiting.into_iter().collect();
        left.sort();
        assert_eq!(left, [key(4000), key(5000)]);
        assert_eq!(u.len(), 2);
    }
}
