//! The counts and latencies of a subset of connections: all of them, one server's, one
//! version's, one outcome's.

use super::{Merge, ResumptionStats, Timings, count};
use crate::facts::{ConnectionFacts, FailureCause, Outcome};
use std::collections::BTreeMap;

/// Counts, causes and latencies of a group of connections (all of them, or one server's).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Breakdown {
    /// Connections.
    pub connections: u64,
    /// Connections by outcome.
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Failures by cause.
    pub failure_causes: BTreeMap<FailureCause, u64>,
    /// Latencies.
    pub timings: Timings,
    /// Resumption attempts and hits.
    pub resumption: ResumptionStats,
}

impl Breakdown {
    pub(super) fn add(&mut self, f: &ConnectionFacts) {
        self.connections += 1;
        count(&mut self.outcomes, f.outcome, 1);
        if let Some(failure) = &f.failure {
            count(&mut self.failure_causes, failure.cause, 1);
        }
        self.timings.add(f);
        self.resumption.add(f);
    }

    /// Failure causes, most frequent first (ties by cause order).
    pub fn ranked_causes(&self) -> Vec<(FailureCause, u64)> {
        let mut v: Vec<_> = self.failure_causes.iter().map(|(&c, &n)| (c, n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// Connections whose handshake failed or got no answer (not those the capture cut
    /// short: `incomplete` is not a failure).
    pub fn failed(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(o, _)| o.is_failure())
            .map(|(_, n)| n)
            .sum()
    }

    /// Connections that neither established nor resumed a session.
    pub fn unsuccessful(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(o, _)| !o.is_success())
            .map(|(_, n)| n)
            .sum()
    }
}

impl Merge for Breakdown {
    fn merge_in(&mut self, other: Self) {
        self.connections += other.connections;
        self.outcomes.merge_in(other.outcomes);
        self.failure_causes.merge_in(other.failure_causes);
        self.timings.merge_in(other.timings);
        self.resumption.merge_in(other.resumption);
    }
}
