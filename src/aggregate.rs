//! Aggregates built from connection facts: outcome and failure-cause counts, censuses
//! (versions, ciphers, groups, ALPN, ECH), latency histograms overall, per server, per version
//! and per outcome, resumption per mechanism, client profiles by fingerprint, the certificate
//! inventory and renegotiations. Each worker keeps its own and they are merged at the end,
//! so no lock is taken per connection. Every map keyed by traffic-chosen values is capped.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hdrhistogram::Histogram;
use rustc_hash::FxHashMap;

use crate::facts::{ChainCert, ConnectionFacts, FailureCause, Finding, Mechanism, Outcome};
use crate::tls::names::{
    cipher_is_rsa_kx, cipher_is_tls13, group_is_post_quantum, is_grease, version_rank,
};
use crate::tls::{Certificate, ClientHello};

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
fn count<K: Ord>(map: &mut BTreeMap<K, u64>, key: K, n: u64) {
    match map.get_mut(&key) {
        Some(c) => *c += n,
        None => {
            map.insert(key, n);
        }
    }
}

/// Runs `f` on the value of `key`, inserted as the default if missing; one look-up when
/// present.
fn update<K: Ord, V: Default>(map: &mut BTreeMap<K, V>, key: K, f: impl FnOnce(&mut V)) {
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

/// Percentiles of a latency distribution, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest sample.
    pub max: u64,
}

/// A latency histogram in microseconds. Auto-resizing with two significant digits keeps
/// per-server histograms to a few KiB; the value error is under 1 %.
#[derive(Clone, Debug)]
pub struct Latency {
    hist: Histogram<u32>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            // Two significant digits is always a valid precision; `new` cannot fail for it.
            hist: Histogram::new(2).unwrap_or_else(|_| unreachable!("sigfig 2 is valid")),
        }
    }
}

impl Latency {
    /// Records one duration; negative durations (clock going backwards) are recorded as 0.
    pub fn record(&mut self, micros: i64) {
        let value = micros.max(0) as u64;
        // Auto-resize makes `record` grow the histogram; only values beyond its absolute limit
        // fail, and those are clamped.
        if self.hist.record(value).is_err() {
            self.hist.saturating_record(value);
        }
    }

    /// Samples at or below `micros` (to the histogram's precision), for cumulative buckets
    /// such as Prometheus histograms.
    pub fn count_at_most(&self, micros: u64) -> u64 {
        self.hist.count_between(0, micros)
    }

    /// Sum of the samples in microseconds (to the histogram's precision).
    pub fn sum(&self) -> f64 {
        self.hist.mean() * self.hist.len() as f64
    }

    /// The distribution's percentiles.
    pub fn percentiles(&self) -> Percentiles {
        let h = &self.hist;
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

impl Merge for Latency {
    fn merge_in(&mut self, other: Self) {
        // Auto-resizing histograms of one precision always add.
        let _ = self.hist.add(&other.hist);
    }
}

/// The latencies tlsight keeps per group of connections.
#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// SYN → handshake ACK.
    pub tcp_handshake: Latency,
    /// ClientHello → ServerHello.
    pub client_hello_to_server_hello: Latency,
    /// ClientHello → handshake done.
    pub client_hello_to_done: Latency,
}

impl Timings {
    fn add(&mut self, f: &ConnectionFacts) {
        if let Some(us) = f.timing.tcp_handshake_us {
            self.tcp_handshake.record(us);
        }
        if let Some(us) = f.timing.client_hello_to_server_hello_us {
            self.client_hello_to_server_hello.record(us);
        }
        if let Some(us) = f.timing.client_hello_to_done_us {
            self.client_hello_to_done.record(us);
        }
    }
}

impl Merge for Timings {
    fn merge_in(&mut self, other: Self) {
        self.tcp_handshake.merge_in(other.tcp_handshake);
        self.client_hello_to_server_hello
            .merge_in(other.client_hello_to_server_hello);
        self.client_hello_to_done
            .merge_in(other.client_hello_to_done);
    }
}

/// Resumption attempts and hits of a group of connections, per mechanism.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResumptionStats {
    /// Connections whose ClientHello offered each mechanism ([`Mechanism::index`] order).
    pub offered: [u64; 3],
    /// Connections on which the server accepted each mechanism.
    pub accepted: [u64; 3],
    /// Connections that offered any mechanism.
    pub attempts: u64,
    /// Connections resumed.
    pub hits: u64,
    /// NewSessionTicket messages seen (cleartext, TLS ≤ 1.2).
    pub tickets_issued: u64,
    /// Connections offering 0-RTT early data.
    pub early_data_offered: u64,
    /// Connections whose early data the server accepted (inferred).
    pub early_data_accepted: u64,
}

impl ResumptionStats {
    fn add(&mut self, f: &ConnectionFacts) {
        let r = &f.resumption;
        for m in &r.offered {
            self.offered[m.index()] += 1;
        }
        if let Some(m) = r.accepted {
            self.accepted[m.index()] += 1;
            self.hits += 1;
        }
        self.attempts += u64::from(!r.offered.is_empty());
        self.tickets_issued += u64::from(r.tickets_issued);
        self.early_data_offered += u64::from(r.early_data_offered);
        self.early_data_accepted += u64::from(r.early_data_accepted);
    }

    /// Hits per attempt, when there were attempts.
    pub fn hit_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.hits as f64 / self.attempts as f64)
    }
}

impl Merge for ResumptionStats {
    fn merge_in(&mut self, other: Self) {
        for m in Mechanism::ALL {
            self.offered[m.index()] += other.offered[m.index()];
            self.accepted[m.index()] += other.accepted[m.index()];
        }
        self.attempts += other.attempts;
        self.hits += other.hits;
        self.tickets_issued += other.tickets_issued;
        self.early_data_offered += other.early_data_offered;
        self.early_data_accepted += other.early_data_accepted;
    }
}

/// Counts, causes and latencies of a group of connections (all of them, or one server's).
#[derive(Clone, Debug, Default)]
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
    fn add(&mut self, f: &ConnectionFacts) {
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

/// A map from names to aggregates that holds at most `N` names: the `N` smallest, so that
/// which names are held depends neither on arrival order nor on the worker count (a held name
/// always has its exact total). Everything else is merged into `other`. Only a new name
/// allocates.
#[derive(Clone, Debug, Default)]
pub struct Capped<V, const N: usize> {
    /// Aggregates by name.
    pub entries: BTreeMap<String, V>,
    /// Everything not held by name.
    pub other: V,
}

impl<V: Default + Merge, const N: usize> Capped<V, N> {
    /// Runs `f` on the aggregate of `name`: one map lookup when `name` is held already.
    pub fn update(&mut self, name: &str, f: impl FnOnce(&mut V)) {
        match self.entries.get_mut(name) {
            Some(v) => f(v),
            None => f(self.entry(name)),
        }
    }

    /// Sets the aggregate of `name` (merged into `other` when `name` is not held), as
    /// `BTreeMap::insert` does for maps without a cap.
    pub fn insert(&mut self, name: String, v: V) {
        if self.entries.len() < N || self.entries.contains_key(&name) {
            self.entries.insert(name, v);
        } else {
            self.entry(&name).merge_in(v);
        }
    }

    /// The aggregate of `name` (inserted if missing), or `other` when `name` is not among
    /// the `N` smallest names seen.
    pub fn entry(&mut self, name: &str) -> &mut V {
        if !self.entries.contains_key(name) {
            if self.entries.len() >= N {
                let smaller = self
                    .entries
                    .last_key_value()
                    .is_some_and(|(largest, _)| name < largest.as_str());
                if !smaller {
                    return &mut self.other;
                }
                if let Some((_, evicted)) = self.entries.pop_last() {
                    self.other.merge_in(evicted);
                }
            }
            self.entries.insert(name.to_owned(), V::default());
        }
        // Present, or inserted just above.
        self.entries
            .get_mut(name)
            .unwrap_or_else(|| unreachable!("entry present or inserted above"))
    }
}

impl<V, const N: usize> Capped<V, N> {
    /// The aggregate held under `name`, if it is held by name.
    pub fn get(&self, name: &str) -> Option<&V> {
        self.entries.get(name)
    }
}

/// Iterates the entries held by name (not the pooled `other`), in name order.
impl<'a, V, const N: usize> IntoIterator for &'a Capped<V, N> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, String, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl<V: Default + Merge, const N: usize> Merge for Capped<V, N> {
    fn merge_in(&mut self, other: Self) {
        for (name, v) in other.entries {
            self.update(&name, |mine| mine.merge_in(v));
        }
        self.other.merge_in(other.other);
    }
}

/// Label of the pooled entries of a capped map.
pub const OTHER: &str = "(other)";

/// Counts by name, at most `N` names (see [`Capped`]).
pub type BoundedCounts<const N: usize> = Capped<u64, N>;

impl<const N: usize> Capped<u64, N> {
    /// Adds `n` to `name`.
    pub fn add(&mut self, name: &str, n: u64) {
        self.update(name, |count| *count += n);
    }

    /// Names by count (descending), then name; the pooled rest last as [`OTHER`].
    pub fn ranked(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<_> = self.entries.iter().map(|(k, &n)| (k.as_str(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        if self.other > 0 {
            v.push((OTHER, self.other));
        }
        v
    }
}

/// What one client fingerprint (JA4) offers, how often it connected and to which servers.
#[derive(Clone, Debug, Default)]
pub struct ClientProfile {
    /// Connections.
    pub connections: u64,
    /// Connections that neither established nor resumed a session.
    pub unsuccessful: u64,
    /// JA3 hashes seen with this JA4 (GREASE-free orderings differ per JA3), with counts.
    pub ja3: BoundedCounts<8>,
    /// Versions offered (supported_versions, else the legacy version), GREASE left out.
    pub versions: BTreeSet<u16>,
    /// Cipher suites offered, GREASE left out.
    pub ciphers: BTreeSet<u16>,
    /// Groups offered, GREASE left out.
    pub groups: BTreeSet<u16>,
    /// ALPN protocols offered, with the connections offering them.
    pub alpn: BoundedCounts<8>,
    /// Servers it connected to.
    pub servers: BoundedCounts<16>,
}

impl ClientProfile {
    fn add(&mut self, f: &ConnectionFacts, ch: &ClientHello, server: &str) {
        self.connections += 1;
        self.unsuccessful += u64::from(!f.outcome.is_success());
        self.servers.add(server, 1);
        for p in &ch.alpn {
            self.alpn.add(p, 1);
        }
        // The same JA3 means the same suites, extensions and groups: only a new one can add
        // anything to the sets.
        if let Some(n) = self.ja3.entries.get_mut(&*ch.ja3) {
            *n += 1;
            return;
        }
        self.ja3.add(&ch.ja3, 1);
        if ch.supported_versions.is_empty() {
            self.versions.insert(ch.legacy_version);
        } else {
            self.versions
                .extend(ch.supported_versions.iter().filter(|v| !is_grease(**v)));
        }
        self.ciphers
            .extend(ch.cipher_suites.iter().filter(|c| !is_grease(**c)));
        self.groups
            .extend(ch.groups.iter().filter(|g| !is_grease(**g)));
    }

    /// Highest version offered (drafts rank as TLS 1.3).
    pub fn highest_version(&self) -> Option<u16> {
        self.versions
            .iter()
            .filter_map(|&v| version_rank(v).map(|rank| (rank, v)))
            .max()
            .map(|(_, v)| v)
    }

    /// Whether it offers TLS 1.3 (or a draft of it).
    pub fn offers_tls13(&self) -> bool {
        self.versions
            .iter()
            .any(|&v| version_rank(v) == Some(0x0304))
    }

    /// The policy changes that would leave this client without a handshake.
    pub fn breaks(&self) -> Vec<PolicyChange> {
        let below_tls12 = self
            .highest_version()
            .and_then(version_rank)
            .is_none_or(|v| v < 0x0303);
        let tls13 = self.offers_tls13() && self.ciphers.iter().any(|&c| cipher_is_tls13(c));
        let forward_secret = self.ciphers.iter().any(|&c| {
            !cipher_is_rsa_kx(c) && !cipher_is_tls13(c) && cipher_name_known(c) && c != 0x00ff
        });
        let mut v = Vec::new();
        if below_tls12 {
            v.push(PolicyChange::MinimumTls12);
        }
        if !tls13 && !forward_secret {
            v.push(PolicyChange::NoRsaKeyExchange);
        }
        if !tls13 {
            v.push(PolicyChange::Tls13Only);
        }
        v
    }
}

/// Whether a suite is a known key-exchange suite (not GREASE, not a signalling value).
fn cipher_name_known(c: u16) -> bool {
    tls_parser::TlsCipherSuite::from_id(c).is_some_and(|s| s.kx != tls_parser::TlsCipherKx::Null)
}

impl Merge for ClientProfile {
    fn merge_in(&mut self, other: Self) {
        self.connections += other.connections;
        self.unsuccessful += other.unsuccessful;
        self.ja3.merge_in(other.ja3);
        self.versions.extend(other.versions);
        self.ciphers.extend(other.ciphers);
        self.groups.extend(other.groups);
        self.alpn.merge_in(other.alpn);
        self.servers.merge_in(other.servers);
    }
}

/// A server-side policy change whose effect on the observed clients is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyChange {
    /// TLS 1.0 and 1.1 (and SSL) switched off.
    MinimumTls12,
    /// Static RSA key exchange suites removed.
    NoRsaKeyExchange,
    /// Only TLS 1.3 allowed.
    Tls13Only,
}

impl PolicyChange {
    /// Every change, in report order.
    pub const ALL: [PolicyChange; 3] = [
        PolicyChange::MinimumTls12,
        PolicyChange::NoRsaKeyExchange,
        PolicyChange::Tls13Only,
    ];

    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            PolicyChange::MinimumTls12 => "disable_below_tls1_2",
            PolicyChange::NoRsaKeyExchange => "remove_rsa_key_exchange",
            PolicyChange::Tls13Only => "tls1_3_only",
        }
    }
}

/// One distinct certificate of the inventory: parsed once, with where it was seen and every
/// finding it had on any connection.
#[derive(Clone, Debug, Default)]
pub struct CertEntry {
    /// The parsed certificate.
    pub cert: Arc<Certificate>,
    /// Connections that presented it.
    pub connections: u64,
    /// Presented by a client (mutual TLS) at least once.
    pub client_certificate: bool,
    /// Position in the chain when first seen: 0 = leaf.
    pub chain_position: usize,
    /// Findings about the certificate itself, on any connection (e.g. expired), sorted.
    pub findings: Vec<Finding>,
    /// Findings that depend on the connection ([`Finding::is_per_connection`]), with the
    /// number of connections that had each.
    pub connection_findings: BTreeMap<Finding, u64>,
    /// Servers of the connections that presented it.
    pub servers: BoundedCounts<16>,
}

impl CertEntry {
    /// Adds one sighting: `c` at `position` of a chain (client chain when `client`) on a
    /// connection to `server`.
    fn add(&mut self, c: &ChainCert, position: usize, client: bool, server: &str) {
        if self.connections == 0 {
            self.cert = Arc::clone(&c.cert);
            self.chain_position = position;
        }
        self.connections += 1;
        self.client_certificate |= client;
        self.chain_position = self.chain_position.min(position);
        for &finding in &c.findings {
            if finding.is_per_connection() {
                count(&mut self.connection_findings, finding, 1);
            } else {
                self.add_finding(finding);
            }
        }
        self.servers.add(server, 1);
    }

    /// Adds a finding about the certificate itself, keeping the list sorted and unique.
    fn add_finding(&mut self, finding: Finding) {
        if let Err(at) = self.findings.binary_search(&finding) {
            self.findings.insert(at, finding);
        }
    }
}

impl Merge for CertEntry {
    fn merge_in(&mut self, other: Self) {
        if self.connections == 0 {
            // A fresh entry: it takes the certificate it is merged with.
            self.cert = other.cert;
            self.chain_position = other.chain_position;
        } else {
            self.chain_position = self.chain_position.min(other.chain_position);
        }
        self.connections += other.connections;
        self.client_certificate |= other.client_certificate;
        for finding in other.findings {
            self.add_finding(finding);
        }
        self.connection_findings.merge_in(other.connection_findings);
        self.servers.merge_in(other.servers);
    }
}

/// Renegotiation counts over all connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenegotiationStats {
    /// Connections with at least one renegotiation.
    pub connections: u64,
    /// Renegotiations started by clients.
    pub client_initiated: u64,
    /// Renegotiations started by servers.
    pub server_initiated: u64,
    /// Renegotiations that completed.
    pub completed: u64,
    /// TLS ≤ 1.2 connections where both sides support secure renegotiation (RFC 5746).
    pub secure_supported: u64,
    /// TLS ≤ 1.2 connections where one side does not.
    pub secure_unsupported: u64,
}

impl Merge for RenegotiationStats {
    fn merge_in(&mut self, other: Self) {
        self.connections += other.connections;
        self.client_initiated += other.client_initiated;
        self.server_initiated += other.server_initiated;
        self.completed += other.completed;
        self.secure_supported += other.secure_supported;
        self.secure_unsupported += other.secure_unsupported;
    }
}

/// Encrypted Client Hello use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EchStats {
    /// ClientHellos carrying encrypted_client_hello.
    pub offered: u64,
    /// Of those, the server confirmed ECH in the clear (its HelloRetryRequest carried the
    /// extension): real ECH, accepted.
    pub confirmed: u64,
}

impl Merge for EchStats {
    fn merge_in(&mut self, other: Self) {
        self.offered += other.offered;
        self.confirmed += other.confirmed;
    }
}

/// Longest GREASE-free group list counted as a list by [`GroupCensus`]; longer ones (not sent
/// by any common client) are counted group by group.
const MAX_LISTED_GROUPS: usize = 32;
/// Distinct group lists [`GroupCensus`] holds; connections with other lists are counted group
/// by group, so memory stays bounded whatever the traffic.
const MAX_GROUP_LISTS: usize = 1024;

/// Connections offering each key-exchange group, counted per distinct GREASE-free group list:
/// a client stack sends the same list every time, so a connection costs one hash look-up
/// instead of one map look-up per group. [`GroupCensus::counts`] expands the lists when a
/// report is written; the totals do not depend on which lists were held.
#[derive(Clone, Debug, Default)]
pub struct GroupCensus {
    /// Connections per distinct list (at most [`MAX_GROUP_LISTS`]).
    lists: FxHashMap<Box<[u16]>, u64>,
    /// Counts per group of the connections whose list is not held.
    groups: BTreeMap<u16, u64>,
}

impl GroupCensus {
    /// Counts `n` connections offering `list` (each occurrence of a group counts once).
    fn add_list(&mut self, list: &[u16], n: u64) {
        if let Some(held) = self.lists.get_mut(list) {
            *held += n;
        } else if self.lists.len() < MAX_GROUP_LISTS {
            self.lists.insert(list.into(), n);
        } else {
            for &g in list {
                count(&mut self.groups, g, n);
            }
        }
    }

    /// Connections offering each group, by group code.
    pub fn counts(&self) -> BTreeMap<u16, u64> {
        let mut counts = self.groups.clone();
        for (list, &n) in &self.lists {
            for &g in list.iter() {
                count(&mut counts, g, n);
            }
        }
        counts
    }
}

impl Merge for GroupCensus {
    fn merge_in(&mut self, other: Self) {
        for (list, n) in other.lists {
            self.add_list(&list, n);
        }
        self.groups.merge_in(other.groups);
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

/// Everything aggregated over a capture (or a live window).
#[derive(Clone, Debug, Default)]
pub struct Aggregates {
    /// All TLS connections.
    pub all: Breakdown,
    /// Negotiated versions.
    pub versions: BTreeMap<u16, u64>,
    /// Highest version offered by the client.
    pub offered_versions: BTreeMap<u16, u64>,
    /// Negotiated cipher suites.
    pub ciphers: BTreeMap<u16, u64>,
    /// Alerts by (sender, description name). Known descriptions are borrowed names, so
    /// counting an alert allocates nothing.
    pub alerts: BTreeMap<(&'static str, Cow<'static, str>), u64>,
    /// Per server (SNI, else ip:port).
    pub servers: Capped<Breakdown, MAX_SERVERS>,
    /// Resumption accepted, by mechanism name.
    pub resumed: BTreeMap<&'static str, u64>,
    /// Anomalies over all connections.
    pub anomalies: BTreeMap<&'static str, u64>,
    /// Latencies per negotiated version (`None`: no ServerHello; unknown codes pooled as 0).
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
}

impl Aggregates {
    /// Adds one connection. Kept out of line so that profiles show aggregation as one symbol
    /// (it runs once per connection: the call costs nothing measurable).
    #[inline(never)]
    pub fn add(&mut self, f: &ConnectionFacts) {
        self.all.add(f);
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
            count(&mut self.anomalies, k.name(), *n);
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
        self.servers.update(&label, |b| b.add(f));
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
        self.clients.update(&ch.ja4, |p| p.add(f, ch, label));
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

/// encrypted_client_hello extension type.
const EXT_ECH: u16 = 0xfe0d;

impl Merge for Aggregates {
    fn merge_in(&mut self, other: Self) {
        self.all.merge_in(other.all);
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_and_merge() {
        let mut a = Latency::default();
        let mut b = Latency::default();
        for us in 1..=50 {
            a.record(us * 1000);
        }
        for us in 51..=100 {
            b.record(us * 1000);
        }
        a.merge_in(b);
        let p = a.percentiles();
        assert_eq!(p.count, 100);
        assert!((49_000..=51_000).contains(&p.p50), "{p:?}");
        assert!((98_000..=100_000).contains(&p.p99), "{p:?}");
        assert!((99_000..=101_000).contains(&p.max), "{p:?}");
    }

    #[test]
    fn cumulative_counts_and_sum() {
        let mut a = Latency::default();
        for us in [100, 200, 300, 5000] {
            a.record(us);
        }
        assert_eq!(a.count_at_most(99), 0);
        assert_eq!(a.count_at_most(300), 3);
        assert_eq!(a.count_at_most(1_000_000), 4);
        assert!((a.sum() - 5600.0).abs() < 60.0, "{}", a.sum());
    }

    #[test]
    fn negative_durations_count_as_zero() {
        let mut a = Latency::default();
        a.record(-5);
        assert_eq!(a.percentiles().max, 0);
        assert_eq!(a.percentiles().count, 1);
    }

    #[test]
    fn capped_maps_keep_the_smallest_names_whatever_the_order() {
        let names = ["d", "a", "e", "c", "b", "a", "e", "d"];
        let mut one: BoundedCounts<3> = Capped::default();
        for n in names {
            one.add(n, 1);
        }
        // The same names split over two "workers" in another order, then merged.
        let (mut left, mut right): (BoundedCounts<3>, BoundedCounts<3>) = Default::default();
        for n in names.iter().rev().step_by(2) {
            left.add(n, 1);
        }
        for n in names.iter().rev().skip(1).step_by(2) {
            right.add(n, 1);
        }
        left.merge_in(right);
        for counts in [&one, &left] {
            assert_eq!(
                counts.ranked(),
                vec![("a", 2), ("b", 1), ("c", 1), (OTHER, 4)]
            );
        }
    }

    #[test]
    fn resumption_counts_attempts_and_hits_per_mechanism() {
        let mut st = ResumptionStats::default();
        let mut f = empty_facts();
        f.resumption.offered = vec![Mechanism::SessionId, Mechanism::Ticket];
        f.resumption.accepted = Some(Mechanism::Ticket);
        f.resumption.tickets_issued = 1;
        st.add(&f);
        f.resumption.offered = vec![Mechanism::Psk];
        f.resumption.accepted = None;
        f.resumption.tickets_issued = 0;
        f.resumption.early_data_offered = true;
        st.add(&f);
        f.resumption.offered.clear();
        st.add(&f);
        assert_eq!(st.offered, [1, 1, 1]);
        assert_eq!(st.accepted, [0, 1, 0]);
        assert_eq!((st.attempts, st.hits, st.tickets_issued), (2, 1, 1));
        assert_eq!(st.early_data_offered, 2);
        assert_eq!(st.hit_rate(), Some(0.5));
        assert_eq!(ResumptionStats::default().hit_rate(), None);
    }

    /// Facts of a connection with no TLS events, to fill in by hand.
    fn empty_facts() -> ConnectionFacts {
        use crate::flow::{Endpoint, FlowKey, Transport};
        let ep = |port| Endpoint {
            ip: std::net::IpAddr::from([10, 0, 0, 1]),
            port,
        };
        let key = FlowKey::from_endpoints(Transport::Tcp, ep(50000), ep(443)).0;
        crate::facts::build(
            &key,
            crate::facts::TransportFacts::Tcp(crate::facts::TcpFacts {
                meta: crate::tcp::TcpMeta::default(),
                close: crate::tcp::CloseReason::Fin,
            }),
            crate::tls::Transcript::default(),
            &crate::facts::FactsConfig::default(),
        )
    }

    fn profile(versions: &[u16], ciphers: &[u16]) -> ClientProfile {
        ClientProfile {
            versions: versions.iter().copied().collect(),
            ciphers: ciphers.iter().copied().collect(),
            ..Default::default()
        }
    }

    #[test]
    fn policy_changes_break_the_clients_that_depend_on_what_they_remove() {
        use PolicyChange::*;
        // TLS 1.0-only client with forward-secret suites.
        assert_eq!(
            profile(&[0x0301], &[0xc014]).breaks(),
            vec![MinimumTls12, Tls13Only]
        );
        // TLS 1.2 client with static RSA only (plus the renegotiation SCSV).
        assert_eq!(
            profile(&[0x0303], &[0x009c, 0x00ff]).breaks(),
            vec![NoRsaKeyExchange, Tls13Only]
        );
        // TLS 1.3 client (draft versions rank as 1.3) breaks on nothing.
        assert_eq!(
            profile(&[0x7f17, 0x0303], &[0x1301, 0x009c]).breaks(),
            vec![]
        );
        assert_eq!(profile(&[0x0304, 0x0303], &[0x1301]).breaks(), vec![]);
    }

    #[test]
    fn group_census_totals_do_not_depend_on_which_lists_are_held() {
        // More distinct lists than are held, split over two "workers" and merged, against
        // counting group by group.
        let lists: Vec<Vec<u16>> = (0..MAX_GROUP_LISTS as u16 + 50)
            .map(|i| vec![0x001d, 0x0017, 0x0100 + i, 0x0017])
            .collect();
        let (mut one, mut left, mut right) = <(GroupCensus, GroupCensus, GroupCensus)>::default();
        let mut expected = BTreeMap::new();
        for (i, list) in lists.iter().enumerate() {
            one.add_list(list, 1);
            if i % 2 == 0 { &mut left } else { &mut right }.add_list(list, 2);
            for &g in list {
                count(&mut expected, g, 1);
            }
        }
        assert_eq!(one.lists.len(), MAX_GROUP_LISTS);
        assert_eq!(one.counts(), expected);
        assert_eq!(expected[&0x0017], 2 * lists.len() as u64);
        left.merge_in(right);
        let doubled: BTreeMap<u16, u64> = expected.iter().map(|(&g, &n)| (g, 2 * n)).collect();
        assert_eq!(left.counts(), doubled);
    }

    #[test]
    fn offered_groups_count_each_connection_whatever_the_list_length() {
        // GREASE left out; a list longer than `MAX_LISTED_GROUPS` is counted group by group.
        let short = vec![0x0a0a, 0x11ec, 0x001d, 0x0017];
        let long: Vec<u16> = (0x0100..0x0100 + MAX_LISTED_GROUPS as u16 + 8).collect();
        let mut agg = Aggregates::default();
        for groups in [&short, &long, &short] {
            let mut f = empty_facts();
            f.client_hello = Some(Box::new(ClientHello {
                groups: groups.clone(),
                ..Default::default()
            }));
            agg.add(&f);
        }
        let counts = agg.groups_offered.counts();
        assert_eq!(counts.get(&0x0a0a), None);
        assert_eq!(
            (counts[&0x11ec], counts[&0x001d], counts[&0x0017]),
            (2, 2, 2)
        );
        assert_eq!(counts[&0x0100], 1);
        assert_eq!(counts.len(), 3 + long.len());
        assert_eq!(agg.groups_offered.lists.len(), 1);
        assert_eq!(agg.post_quantum_offered, 2);
    }

    #[test]
    fn maps_merge_by_key() {
        let mut a: BTreeMap<&str, u64> = BTreeMap::from([("x", 1), ("y", 2)]);
        a.merge_in(BTreeMap::from([("y", 3), ("z", 4)]));
        assert_eq!(a, BTreeMap::from([("x", 1), ("y", 5), ("z", 4)]));
    }
}
