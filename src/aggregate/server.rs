//! One server's aggregate: its breakdown over every transport, and how its connections split by
//! transport, so that a server reached over both TCP and QUIC (or DTLS) shows each transport's
//! share, outcomes and failure causes apart.

use super::{Breakdown, Merge, codec, count, update};
use crate::facts::{ConnectionFacts, FailureCause, Outcome};
use std::collections::BTreeMap;
use std::ops::Deref;

/// A server's connections over all transports (`all`, what the server's row reports), and the
/// same connections by transport. Latencies are kept once, over all transports: a per-transport
/// histogram per server would cost every connection three more histogram records, and
/// latencies by transport over all servers are in the report's `transports`.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ServerEntry {
    /// Every connection to the server. Flattened, so a server's merge state written before
    /// the transport split was counted reads back unchanged.
    #[serde(flatten)]
    pub all: Breakdown,
    /// Connections by transport name (`"tcp"`, `"quic"`, `"dtls"`; absent from older merge
    /// states: read as none).
    #[serde(default, deserialize_with = "codec::static_keyed")]
    pub transports: BTreeMap<&'static str, TransportShare>,
}

/// One transport's share of a server's connections.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TransportShare {
    /// Connections over this transport.
    pub connections: u64,
    /// Those connections by outcome.
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Their failures by cause.
    pub failure_causes: BTreeMap<FailureCause, u64>,
}

impl ServerEntry {
    pub(super) fn add(&mut self, f: &ConnectionFacts) {
        self.all.add(f);
        update(&mut self.transports, f.transport.name(), |share| {
            share.connections += 1;
            count(&mut share.outcomes, f.outcome, 1);
            if let Some(failure) = &f.failure {
                count(&mut share.failure_causes, failure.cause, 1);
            }
        });
    }
}

/// A server's entry reads as its breakdown over all transports: the report, summary, HTML
/// page, metrics and watch rules judge a server by all its connections.
impl Deref for ServerEntry {
    type Target = Breakdown;

    fn deref(&self) -> &Breakdown {
        &self.all
    }
}

impl Merge for ServerEntry {
    fn merge_in(&mut self, other: Self) {
        self.all.merge_in(other.all);
        self.transports.merge_in(other.transports);
    }
}

impl Merge for TransportShare {
    fn merge_in(&mut self, other: Self) {
        self.connections += other.connections;
        self.outcomes.merge_in(other.outcomes);
        self.failure_causes.merge_in(other.failure_causes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_state_from_before_the_transport_split_reads_back() {
        let mut all = Breakdown {
            connections: 2,
            ..Breakdown::default()
        };
        all.outcomes.insert(Outcome::Established, 2);
        all.timings.client_hello_to_done.record(1_500);
        let old = serde_json::to_string(&all).expect("serialize");
        let entry: ServerEntry = serde_json::from_str(&old).expect("read back");
        assert_eq!(entry.connections, 2);
        assert_eq!(entry.outcomes, all.outcomes);
        assert_eq!(entry.timings.client_hello_to_done.percentiles().count, 1);
        assert!(entry.transports.is_empty());
        let again: ServerEntry =
            serde_json::from_str(&serde_json::to_string(&entry).expect("serialize"))
                .expect("read back");
        assert_eq!(again.connections, 2);
    }
}
