//! Aggregates built from connection facts: outcome and failure-cause counts, version and
//! cipher censuses, and latency histograms overall and per server. Each worker keeps its own
//! and they are merged at the end, so no lock is taken per connection.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::facts::{ConnectionFacts, FailureCause, Outcome};

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
}

impl Breakdown {
    fn add(&mut self, f: &ConnectionFacts) {
        self.connections += 1;
        *self.outcomes.entry(f.outcome).or_default() += 1;
        if let Some(failure) = &f.failure {
            *self.failure_causes.entry(failure.cause).or_default() += 1;
        }
        self.timings.add(f);
    }
}

impl Merge for Breakdown {
    fn merge_in(&mut self, other: Self) {
        self.connections += other.connections;
        self.outcomes.merge_in(other.outcomes);
        self.failure_causes.merge_in(other.failure_causes);
        self.timings.merge_in(other.timings);
    }
}

/// Servers tracked individually; beyond this many, new servers are pooled under
/// [`OTHER_SERVERS`] so memory stays bounded whatever the traffic.
pub const MAX_SERVERS: usize = 10_000;
/// The label of the pooled servers.
pub const OTHER_SERVERS: &str = "(other servers)";

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
    /// Alerts by (sender, description name).
    pub alerts: BTreeMap<(&'static str, String), u64>,
    /// Per server (SNI, else ip:port).
    pub servers: BTreeMap<String, Breakdown>,
    /// Resumption accepted, by mechanism name.
    pub resumed: BTreeMap<&'static str, u64>,
    /// Anomalies over all connections.
    pub anomalies: BTreeMap<&'static str, u64>,
}

impl Aggregates {
    /// Adds one connection.
    pub fn add(&mut self, f: &ConnectionFacts) {
        self.all.add(f);
        if let Some(v) = f.version {
            *self.versions.entry(v).or_default() += 1;
        }
        if let Some(v) = f.highest_offered_version() {
            *self.offered_versions.entry(v).or_default() += 1;
        }
        if let Some(c) = f.cipher {
            *self.ciphers.entry(c).or_default() += 1;
        }
        for a in &f.alerts {
            let desc = match a.alert.description {
                Some(d) => crate::tls::names::alert_name(d).into_owned(),
                None => "encrypted".to_string(),
            };
            *self.alerts.entry((a.from.name(), desc)).or_default() += 1;
        }
        if let Some(m) = f.resumption.accepted {
            *self.resumed.entry(m.name()).or_default() += 1;
        }
        for (k, n) in &f.anomalies {
            *self.anomalies.entry(k).or_default() += n;
        }
        self.server_entry(f.server_label()).add(f);
    }

    /// The per-server entry of `label`, or the pooled one once [`MAX_SERVERS`] are tracked.
    fn server_entry(&mut self, label: String) -> &mut Breakdown {
        let label = if self.servers.len() < MAX_SERVERS || self.servers.contains_key(&label) {
            label
        } else {
            OTHER_SERVERS.to_string()
        };
        self.servers.entry(label).or_default()
    }
}

impl Merge for Aggregates {
    fn merge_in(&mut self, other: Self) {
        self.all.merge_in(other.all);
        self.versions.merge_in(other.versions);
        self.offered_versions.merge_in(other.offered_versions);
        self.ciphers.merge_in(other.ciphers);
        self.alerts.merge_in(other.alerts);
        self.resumed.merge_in(other.resumed);
        self.anomalies.merge_in(other.anomalies);
        for (label, stats) in other.servers {
            self.server_entry(label).merge_in(stats);
        }
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
    fn maps_merge_by_key() {
        let mut a: BTreeMap<&str, u64> = BTreeMap::from([("x", 1), ("y", 2)]);
        a.merge_in(BTreeMap::from([("y", 3), ("z", 4)]));
        assert_eq!(a, BTreeMap::from([("x", 1), ("y", 5), ("z", 4)]));
    }
}
