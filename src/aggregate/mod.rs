//! Aggregates built from connection facts: outcome and failure-cause counts, censuses
//! (versions, ciphers, groups, ALPN, ECH), latency histograms overall, per server, per version
//! and per outcome, resumption per mechanism, client profiles by fingerprint, the certificate
//! inventory and renegotiations, outcomes over capture time ([`timeline`]) and a bounded list
//! of failed connections with their evidence ([`failures`]). Each worker keeps its own and they
//! are merged at the end, so no lock is taken per connection. Every map keyed by
//! traffic-chosen values is capped.
//!
//! Layout: [`Merge`] and the top-level [`Aggregates`] (here), latency histograms (`latency`),
//! per-server and per-outcome breakdowns (`breakdown`), resumption and renegotiation (`resumption`),
//! capped name counts (`capped`), client profiles and "what breaks" (`clients`), the certificate
//! inventory (`certificates`), group and ECH censuses (`census`).

mod breakdown;
mod capped;
mod census;
mod certificates;
mod clients;
pub mod codec;
mod decryption;
pub mod failures;
mod latency;
mod resumption;
mod server;
#[cfg(test)]
pub(crate) mod tests;
pub mod timeline;
mod without_tls;

pub use breakdown::Breakdown;
pub use capped::{BoundedCounts, Capped, OTHER};
pub use census::{EchStats, GroupCensus, MAX_LISTED_GROUPS};
pub use certificates::CertEntry;
pub use clients::{ClientProfile, PolicyChange};
pub use decryption::DecryptionStats;
pub use latency::{Latency, Percentiles, Timings};
pub use resumption::{RenegotiationStats, ResumptionStats};
pub use server::{ServerEntry, TransportShare};
pub use without_tls::WithoutTlsCounts;

use crate::facts::{ConnectionFacts, Outcome, WithoutTls};
use crate::flow::Endpoint;
use crate::tls::ClientHello;
use crate::tls::names::{group_is_post_quantum, is_grease, version_rank};
use failures::FailedConnections;
use std::borrow::Cow;
use std::collections::BTreeMap;
use timeline::Timeline;

/// Things that combine per-worker partial results.
pub trait Merge {
    /// Adds `other` into `self`.
    fn merge_in(&mut self, other: Self);
}

impl<K: Ord, V: Merge + Default> Merge for BTreeMap<K, V> {
    fn merge_in(&mut self, other: Self) {
        for (k, v) in other {
            self.entry(k).or_default().merge_in(v);
        }
    }
}

/// Adds `n` to the count of `key`. Looks the key up once when it is present, which it almost
/// always is: `entry` would also build a handle and call `or_default` out of line.
pub(crate) fn count<K: Ord>(map: &mut BTreeMap<K, u64>, key: K, n: u64) {
    match map.get_mut(&key) {
        Some(c) => *c += n,
        None => {
            map.insert(key, n);
        }
    }
}

/// Runs `f` on the value of `key`, inserted as the default if missing; one look-up when
/// present.
pub(crate) fn update<K: Ord, V: Default>(map: &mut BTreeMap<K, V>, key: K, f: impl FnOnce(&mut V)) {
    match map.get_mut(&key) {
        Some(v) => f(v),
        None => f(map.entry(key).or_default()),
    }
}

impl Merge for u64 {
    fn merge_in(&mut self, other: Self) {
        *self += other;
    }
}

/// Servers tracked individually (the first by name); the others are pooled under
/// [`OTHER_SERVERS`] so memory stays bounded whatever the traffic.
pub const MAX_SERVERS: usize = 10_000;

/// The label of the pooled servers.
pub const OTHER_SERVERS: &str = "(other servers)";

/// Client fingerprints profiled individually; the others are pooled.
pub const MAX_CLIENTS: usize = 10_000;

/// Distinct certificates listed in the inventory; the others are pooled.
pub const MAX_CERTIFICATES: usize = 10_000;

/// Everything aggregated over a capture (or a live window). Serialized (see [`codec`]) into
/// the report's merge state, from which `tlsight merge` rebuilds it.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Aggregates {
    /// All TLS connections.
    pub all: Breakdown,
    /// The connections of each transport (`"tcp"`, `"quic"`, `"dtls"`; absent from the merge
    /// state of reports written before it was counted: read as none).
    #[serde(default, deserialize_with = "codec::static_keyed")]
    pub by_transport: BTreeMap<&'static str, Breakdown>,
    /// Negotiated versions.
    pub versions: BTreeMap<u16, u64>,
    /// Highest version offered by the client.
    pub offered_versions: BTreeMap<u16, u64>,
    /// Negotiated cipher suites.
    pub ciphers: BTreeMap<u16, u64>,
    /// Alerts by (sender, description name). Known descriptions are borrowed names, so
    /// counting an alert allocates nothing.
    #[serde(with = "codec::alerts")]
    pub alerts: BTreeMap<(&'static str, Cow<'static, str>), u64>,
    /// Per server (SNI, else ip:port), with each transport's share.
    pub servers: Capped<ServerEntry, MAX_SERVERS>,
    /// Resumption accepted, by mechanism name.
    #[serde(deserialize_with = "codec::static_keys")]
    pub resumed: BTreeMap<&'static str, u64>,
    /// Anomalies over all connections.
    #[serde(deserialize_with = "codec::static_keys")]
    pub anomalies: BTreeMap<&'static str, u64>,
    /// Latencies per negotiated version (`None`: no ServerHello; unknown codes pooled as 0).
    #[serde(with = "codec::pairs")]
    pub by_version: BTreeMap<Option<u16>, Timings>,
    /// Latencies per outcome.
    pub by_outcome: BTreeMap<Outcome, Timings>,
    /// Negotiated key-exchange groups (TLS 1.3 key share, TLS ≤ 1.2 ECDHE curve).
    pub groups_negotiated: BTreeMap<u16, u64>,
    /// Connections offering each group (GREASE left out).
    pub groups_offered: GroupCensus,
    /// Connections offering a post-quantum group.
    pub post_quantum_offered: u64,
    /// ALPN protocols offered (connections offering each).
    pub alpn_offered: BoundedCounts<64>,
    /// ALPN protocols negotiated.
    pub alpn_negotiated: BoundedCounts<64>,
    /// Encrypted Client Hello.
    pub ech: EchStats,
    /// Client profiles by JA4.
    pub clients: Capped<ClientProfile, MAX_CLIENTS>,
    /// Certificate inventory by SHA-256 (`other.connections`: sightings of certificates not
    /// listed).
    pub certificates: Capped<CertEntry, MAX_CERTIFICATES>,
    /// Renegotiations.
    pub renegotiation: RenegotiationStats,
    /// Connections, outcomes and failure causes over capture time.
    pub timeline: Timeline,
    /// The earliest failed connections of each cause, with their evidence.
    pub failed: FailedConnections,
    /// TCP connections without TLS per server (ip:port; absent from the merge state of reports
    /// written before it was counted: read as none).
    #[serde(default)]
    pub without_tls: Capped<WithoutTlsCounts, MAX_SERVERS, Endpoint>,
    /// Key-log decryption (analyses with key logs only).
    #[serde(default, skip_serializing_if = "DecryptionStats::is_empty")]
    pub decryption: DecryptionStats,
}

impl Aggregates {
    /// Adds one connection. Kept out of line so that profiles show aggregation as one symbol
    /// (it runs once per connection: the call costs nothing measurable).
    #[inline(never)]
    pub fn add(&mut self, f: &ConnectionFacts) {
        self.all.add(f);
        update(&mut self.by_transport, f.transport.name(), |b| b.add(f));
        if let Some(v) = f.version() {
            count(&mut self.versions, v, 1);
        }
        if let Some(v) = f.highest_offered_version() {
            count(&mut self.offered_versions, v, 1);
        }
        if let Some(c) = f.cipher() {
            count(&mut self.ciphers, c, 1);
        }
        for a in &f.alerts {
            let desc = match a.alert.description {
                Some(d) => d.name(),
                None => Cow::Borrowed("encrypted"),
            };
            count(&mut self.alerts, (a.from.name(), desc), 1);
        }
        if let Some(m) = f.resumption.accepted {
            count(&mut self.resumed, m.name(), 1);
        }
        for (k, n) in &f.anomalies {
            count(&mut self.anomalies, k, *n);
        }
        let version_key = f.version().map(|v| version_rank(v).map_or(0, |_| v));
        update(&mut self.by_version, version_key, |t| t.add(f));
        update(&mut self.by_outcome, f.outcome, |t| t.add(f));
        if let Some(g) = f.negotiated_group() {
            count(&mut self.groups_negotiated, g, 1);
        }
        if let Some(alpn) = f.alpn() {
            self.alpn_negotiated.add(alpn, 1);
        }
        self.add_renegotiation(f);
        let label = f.server_label();
        if let Some(ch) = f.client_hello.as_deref() {
            self.add_client_hello(f, ch, &label);
        }
        self.add_certificates(f, &label);
        self.servers.update(&*label, |b| b.add(f));
        self.timeline.add(f);
        self.failed.add(f);
        self.decryption.add(f);
    }

    /// Whether a handshake came over anything but TCP: only then do the summary and the HTML
    /// page split by transport (a TCP-only analysis reads as it did before QUIC and DTLS).
    pub fn beyond_tcp(&self) -> bool {
        self.by_transport.keys().any(|&t| t != "tcp")
    }

    /// Adds one TCP connection on which no TLS was found.
    pub fn add_without_tls(&mut self, server: Endpoint, kind: WithoutTls) {
        self.without_tls.update(&server, |c| c.add(kind));
    }

    fn add_client_hello(&mut self, f: &ConnectionFacts, ch: &ClientHello, label: &str) {
        let mut list = [0u16; MAX_LISTED_GROUPS];
        let mut len = 0;
        let mut pq = false;
        for &g in ch.groups.iter().filter(|g| !is_grease(**g)) {
            if let Some(slot) = list.get_mut(len) {
                *slot = g;
            }
            len += 1;
            pq |= group_is_post_quantum(g);
        }
        match list.get(..len) {
            Some(list) => self.groups_offered.add_list(list, 1),
            None => ch
                .groups
                .iter()
                .filter(|g| !is_grease(**g))
                .for_each(|&g| count(&mut self.groups_offered.groups, g, 1)),
        }
        self.post_quantum_offered += u64::from(pq);
        for p in &ch.alpn {
            self.alpn_offered.add(p, 1);
        }
        if ch.ech {
            self.ech.offered += 1;
            let confirmed = f
                .hello_retry_request
                .as_deref()
                .is_some_and(|hrr| hrr.extensions.contains(&EXT_ECH));
            self.ech.confirmed += u64::from(confirmed);
        }
        self.clients.update(&*ch.ja4, |p| p.add(f, ch, label));
    }

    fn add_certificates(&mut self, f: &ConnectionFacts, label: &str) {
        let chains = [(&f.certificates, false), (&f.client_certificates, true)];
        for (chain, client) in chains {
            for (position, c) in chain.iter().enumerate() {
                self.certificates.update(&c.cert.sha256, |entry| {
                    entry.add(c, position, client, label)
                });
            }
        }
    }

    fn add_renegotiation(&mut self, f: &ConnectionFacts) {
        let r = &f.renegotiation;
        let st = &mut self.renegotiation;
        st.connections += u64::from(f.renegotiations() > 0);
        st.client_initiated += u64::from(r.client_initiated);
        st.server_initiated += u64::from(r.server_initiated);
        st.completed += u64::from(r.completed);
        match r.secure {
            Some(true) => st.secure_supported += 1,
            Some(false) => st.secure_unsupported += 1,
            None => {}
        }
    }

    /// Each policy change with the client profiles it would break.
    pub fn what_breaks(&self) -> Vec<(PolicyChange, Vec<(&str, &ClientProfile)>)> {
        let breaks: Vec<_> = self
            .clients
            .entries
            .iter()
            .map(|(ja4, p)| (ja4.as_str(), p, p.breaks()))
            .collect();
        PolicyChange::ALL
            .iter()
            .map(|&change| {
                let mut clients: Vec<_> = breaks
                    .iter()
                    .filter(|(_, _, b)| b.contains(&change))
                    .map(|&(ja4, p, _)| (ja4, p))
                    .collect();
                clients.sort_by(|a, b| b.1.connections.cmp(&a.1.connections).then(a.0.cmp(b.0)));
                (change, clients)
            })
            .collect()
    }
}

impl Merge for Aggregates {
    fn merge_in(&mut self, other: Self) {
        self.all.merge_in(other.all);
        self.by_transport.merge_in(other.by_transport);
        self.versions.merge_in(other.versions);
        self.offered_versions.merge_in(other.offered_versions);
        self.ciphers.merge_in(other.ciphers);
        self.alerts.merge_in(other.alerts);
        self.resumed.merge_in(other.resumed);
        self.anomalies.merge_in(other.anomalies);
        self.servers.merge_in(other.servers);
        self.by_version.merge_in(other.by_version);
        self.by_outcome.merge_in(other.by_outcome);
        self.groups_negotiated.merge_in(other.groups_negotiated);
        self.groups_offered.merge_in(other.groups_offered);
        self.post_quantum_offered += other.post_quantum_offered;
        self.alpn_offered.merge_in(other.alpn_offered);
        self.alpn_negotiated.merge_in(other.alpn_negotiated);
        self.ech.merge_in(other.ech);
        self.clients.merge_in(other.clients);
        self.certificates.merge_in(other.certificates);
        self.renegotiation.merge_in(other.renegotiation);
        self.timeline.merge_in(other.timeline);
        self.failed.merge_in(other.failed);
        self.without_tls.merge_in(other.without_tls);
        self.decryption.merge_in(other.decryption);
    }
}

/// encrypted_client_hello extension type.
const EXT_ECH: u16 = 0xfe0d;
