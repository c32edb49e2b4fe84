//! A bounded list of failed connections with their evidence, for the reports' failed-connections
//! tables: per failure cause, the earliest connections in capture time (at most a set number
//! per cause, so that a storm of one cause cannot hide a rare other one), and how many more
//! there were.
//!
//! Which connections are listed depends neither on the worker count nor on the order they
//! closed in: each cause keeps the smallest keys (first packet time, client, server, last
//! packet time) it has seen, and merging keeps the smallest of both. Two connections with the
//! same key (the same ports reused within the same instant) run on the same worker, which sees
//! them in capture order and keeps the first.

use std::collections::BTreeMap;

use super::Merge;
use crate::facts::{AlertFact, ConnectionFacts, Failure, FailureCause, Finding, Outcome, Side};
use crate::flow::{Endpoint, Timestamp, Transport};
use crate::tcp::CloseReason;

/// Failed connections listed per failure cause unless configured otherwise.
pub const DEFAULT_PER_CAUSE: usize = 100;
/// Alerts kept as evidence per connection (the first ones: the fatal alert that ended a
/// handshake comes first).
const ALERTS_KEPT: usize = 4;
/// Handshake messages kept as evidence per connection (the last ones: where it stopped).
const MESSAGES_KEPT: usize = 4;

/// A failed connection and the evidence a reader needs to judge its diagnosis.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailedConnection {
    /// The transport that carried it.
    pub transport: Transport,
    /// First packet.
    pub first_ts: Timestamp,
    /// Last packet.
    pub last_ts: Timestamp,
    /// The side that sent the ClientHello.
    pub client: Endpoint,
    /// The other side.
    pub server: Endpoint,
    /// Server name asked for.
    pub sni: Option<String>,
    /// How the handshake ended.
    pub outcome: Outcome,
    /// Cause and its one-sentence explanation.
    pub failure: Failure,
    /// Negotiated version, when a ServerHello came.
    pub version: Option<u16>,
    /// Highest version the client offered.
    pub offered_version: Option<u16>,
    /// The client's JA4 fingerprint.
    pub ja4: Option<String>,
    /// The first alerts, with their sender.
    pub alerts: Vec<AlertFact>,
    /// The last handshake messages, with their sender.
    #[serde(deserialize_with = "super::codec::sided_names")]
    pub last_messages: Vec<(Side, &'static str)>,
    /// Subject of the server's leaf certificate, when one was seen.
    pub certificate_subject: Option<String>,
    /// Findings of the server's leaf certificate on this connection.
    pub certificate_findings: Vec<Finding>,
    /// Why the connection left the flow table (TCP).
    pub close: Option<CloseReason>,
    /// Which side reset the connection, if one did (TCP).
    pub reset_by: Option<Side>,
    /// Bytes missing from the capture, both directions (TCP).
    pub gap_bytes: u64,
}

impl FailedConnection {
    /// The evidence of a connection that failed with `failure`.
    fn new(f: &ConnectionFacts, failure: &Failure) -> Self {
        let leaf = f.certificates.first();
        let skip = f.messages.len().saturating_sub(MESSAGES_KEPT);
        let tcp = f.tcp();
        FailedConnection {
            transport: f.transport.transport(),
            first_ts: f.first_ts(),
            last_ts: f.last_ts(),
            client: f.client,
            server: f.server,
            sni: f.sni().map(str::to_string),
            outcome: f.outcome,
            failure: failure.clone(),
            version: f.version(),
            offered_version: f.highest_offered_version(),
            ja4: f.client_hello.as_deref().map(|ch| ch.ja4.to_string()),
            alerts: f.alerts.iter().take(ALERTS_KEPT).cloned().collect(),
            last_messages: f.messages.iter().skip(skip).copied().collect(),
            certificate_subject: leaf.map(|c| c.cert.subject.clone()),
            certificate_findings: leaf.map(|c| c.findings.to_vec()).unwrap_or_default(),
            close: tcp.map(|t| t.close),
            reset_by: tcp.and_then(|t| t.meta.rst).map(|(dir, _)| {
                if dir == f.client_dir {
                    Side::Client
                } else {
                    Side::Server
                }
            }),
            gap_bytes: tcp.map_or(0, |t| t.meta.gap_bytes.iter().sum()),
        }
    }

    /// The order connections are chosen and listed in.
    fn key(&self) -> Key {
        (
            self.first_ts,
            self.client,
            self.server,
            self.transport,
            self.last_ts,
        )
    }

    /// Microseconds from the first packet to the last (negative when the capture's clock
    /// stepped back; saturating for timestamps too far apart to subtract).
    pub fn duration_us(&self) -> i64 {
        self.last_ts
            .0
            .saturating_sub(self.first_ts.0)
            .div_euclid(1_000)
    }

    /// Server name, else address.
    pub fn server_label(&self) -> String {
        self.sni.clone().unwrap_or_else(|| self.server.to_string())
    }
}

/// First packet, client, server, transport, last packet.
type Key = (Timestamp, Endpoint, Endpoint, Transport, Timestamp);

/// The listed connections of one cause, and how many there were in all. In a report's merge
/// state the listed ones are a list (their keys are their own fields).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct CauseList {
    seen: u64,
    #[serde(with = "kept_list")]
    kept: BTreeMap<Key, FailedConnection>,
}

/// [`CauseList::kept`] as a list of connections, keyed again when read.
mod kept_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{FailedConnection, Key};

    pub fn serialize<S: Serializer>(
        kept: &BTreeMap<Key, FailedConnection>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(kept.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<Key, FailedConnection>, D::Error> {
        let list = Vec::<FailedConnection>::deserialize(d)?;
        Ok(list.into_iter().map(|c| (c.key(), c)).collect())
    }
}

impl CauseList {
    /// Keeps `c` if it is among the `limit` smallest keys (the earlier one on a tie).
    fn offer(&mut self, key: Key, limit: usize, c: impl FnOnce() -> FailedConnection) {
        if self.kept.len() >= limit {
            match self.kept.last_key_value() {
                Some((largest, _)) if key < *largest => {}
                _ => return,
            }
        }
        self.kept.entry(key).or_insert_with(c);
        while self.kept.len() > limit {
            self.kept.pop_last();
        }
    }
}

/// Failed connections by cause, the earliest of each listed (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailedConnections {
    /// Connections listed per cause; `None` until set, meaning [`DEFAULT_PER_CAUSE`].
    per_cause: Option<usize>,
    by_cause: BTreeMap<FailureCause, CauseList>,
}

impl FailedConnections {
    /// An empty list that keeps `per_cause` connections per cause.
    pub fn with_limit(per_cause: usize) -> Self {
        FailedConnections {
            per_cause: Some(per_cause),
            by_cause: BTreeMap::new(),
        }
    }

    /// Connections listed per cause.
    pub fn per_cause(&self) -> usize {
        self.per_cause.unwrap_or(DEFAULT_PER_CAUSE)
    }

    /// Lists `f` if it failed and is among the earliest of its cause.
    pub fn add(&mut self, f: &ConnectionFacts) {
        let Some(failure) = &f.failure else {
            return;
        };
        let limit = self.per_cause();
        let list = self.by_cause.entry(failure.cause).or_default();
        list.seen += 1;
        let (first_ts, client, server, transport) = f.sort_key();
        let key = (first_ts, client, server, transport, f.last_ts());
        list.offer(key, limit, || FailedConnection::new(f, failure));
    }

    /// The listed connections, earliest first (then client, server).
    pub fn listed(&self) -> Vec<&FailedConnection> {
        let mut v: Vec<&FailedConnection> = self
            .by_cause
            .values()
            .flat_map(|list| list.kept.values())
            .collect();
        v.sort_by_key(|c| c.key());
        v
    }

    /// Failed connections not listed, per cause (causes with none left out).
    pub fn not_listed(&self) -> BTreeMap<FailureCause, u64> {
        self.by_cause
            .iter()
            .map(|(&cause, list)| (cause, list.seen - list.kept.len() as u64))
            .filter(|&(_, n)| n > 0)
            .collect()
    }
}

impl Merge for FailedConnections {
    /// The limit of a list that was given one wins over the default; of two given ones, the
    /// smaller.
    fn merge_in(&mut self, other: Self) {
        self.per_cause = match (self.per_cause, other.per_cause) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let limit = self.per_cause();
        for (cause, theirs) in other.by_cause {
            let mine = self.by_cause.entry(cause).or_default();
            mine.seen += theirs.seen;
            for (key, c) in theirs.kept {
                mine.offer(key, limit, || c);
            }
        }
        for list in self.by_cause.values_mut() {
            while list.kept.len() > limit {
                list.kept.pop_last();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::tests::empty_facts;
    use proptest::prelude::*;

    fn failed_at(ns: i64, port: u16, cause: FailureCause) -> ConnectionFacts {
        let mut f = empty_facts();
        crate::aggregate::tests::set_times(&mut f, Timestamp(ns), Timestamp(ns + 5));
        f.client.port = port;
        f.outcome = Outcome::Failed;
        f.failure = Some(Failure {
            cause,
            explanation: format!("{} at {ns}", cause.name()),
            inferred: false,
        });
        f
    }

    #[test]
    fn keeps_the_earliest_of_each_cause_and_counts_the_rest() {
        let mut list = FailedConnections::with_limit(2);
        for (ns, cause) in [
            (50, FailureCause::NoResponse),
            (10, FailureCause::NoResponse),
            (40, FailureCause::NoResponse),
            (30, FailureCause::NoSharedCipher),
            (20, FailureCause::NoResponse),
        ] {
            list.add(&failed_at(ns, 1000, cause));
        }
        let mut succeeded = empty_facts();
        succeeded.failure = None;
        list.add(&succeeded);
        let times: Vec<i64> = list.listed().iter().map(|c| c.first_ts.0).collect();
        assert_eq!(times, [10, 20, 30], "earliest first, two per cause");
        assert_eq!(
            list.not_listed(),
            BTreeMap::from([(FailureCause::NoResponse, 2)])
        );
        assert_eq!(
            list.listed()[2].failure.explanation,
            "no_shared_cipher at 30"
        );
    }

    #[test]
    fn evidence_keeps_the_last_messages_and_the_first_alerts() {
        let mut f = failed_at(1, 1, FailureCause::Unknown);
        f.messages = (0..10).map(|_| (Side::Client, "client_hello")).collect();
        f.messages.push((Side::Server, "server_hello"));
        let c = FailedConnection::new(&f, f.failure.as_ref().unwrap());
        assert_eq!(c.last_messages.len(), MESSAGES_KEPT);
        assert_eq!(
            c.last_messages.last(),
            Some(&(Side::Server, "server_hello"))
        );
        assert_eq!(
            c.server_label(),
            f.server.to_string(),
            "no SNI: the address"
        );
    }

    #[test]
    fn a_given_limit_wins_over_the_default_when_merged() {
        let mut merged = FailedConnections::default();
        let mut part = FailedConnections::with_limit(3);
        for i in 0..5 {
            part.add(&failed_at(i, 7, FailureCause::ServerReset));
        }
        merged.merge_in(part);
        assert_eq!(merged.per_cause(), 3);
        assert_eq!(merged.listed().len(), 3);
        assert_eq!(
            merged.not_listed(),
            BTreeMap::from([(FailureCause::ServerReset, 2)])
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// However connections are split over workers and in whatever order they close, the
        /// merged list is the oracle's: per cause, the `limit` smallest keys.
        #[test]
        fn merged_lists_equal_the_oracle(
            conns in prop::collection::vec((0i64..1_000, 1u16..20, 0usize..3), 0..80),
            limit in 1usize..6,
            workers in 1usize..4,
        ) {
            let causes = [FailureCause::NoResponse, FailureCause::ServerReset, FailureCause::Unknown];
            let mut parts = vec![FailedConnections::with_limit(limit); workers];
            for (i, &(ns, port, cause)) in conns.iter().enumerate() {
                parts[(port as usize + i) % workers].add(&failed_at(ns, port, causes[cause]));
            }
            let mut merged = FailedConnections::default();
            for part in parts {
                merged.merge_in(part);
            }
            let mut expected = Vec::new();
            let mut not_listed = BTreeMap::new();
            for (c, &cause) in causes.iter().enumerate() {
                let mut keys: Vec<(i64, u16)> = conns
                    .iter()
                    .filter(|x| x.2 == c)
                    .map(|&(ns, port, _)| (ns, port))
                    .collect();
                let total = keys.len() as u64;
                keys.sort_unstable();
                keys.dedup();
                keys.truncate(limit);
                if total > keys.len() as u64 {
                    not_listed.insert(cause, total - keys.len() as u64);
                }
                expected.extend(keys);
            }
            expected.sort_unstable();
            let listed: Vec<(i64, u16)> = merged
                .listed()
                .iter()
                .map(|c| (c.first_ts.0, c.client.port))
                .collect();
            prop_assert_eq!(listed, expected);
            prop_assert_eq!(merged.not_listed(), not_listed);
        }
    }
}
