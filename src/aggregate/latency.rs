//! Latency histograms (HDR, microseconds) and their percentiles.

use super::Merge;
use crate::facts::ConnectionFacts;
use hdrhistogram::Histogram;

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

/// Significant digits of every latency histogram: the same on every sensor, so that reports
/// merge exactly.
pub(super) const SIGFIG: u8 = 2;

/// A latency histogram in microseconds. Auto-resizing with two significant digits keeps
/// per-server histograms to a few KiB; the value error is under 1 %.
#[derive(Clone, Debug)]
pub struct Latency {
    pub(super) hist: Histogram<u32>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            // Two significant digits is always a valid precision; `new` cannot fail for it.
            hist: Histogram::new(SIGFIG).unwrap_or_else(|_| unreachable!("sigfig 2 is valid")),
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

    /// The distribution itself, for histograms and CDFs: each HDR bucket that holds samples,
    /// ascending, as (highest value it stands for in microseconds, samples).
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.hist
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_since_last_iteration()))
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
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    /// SYN → handshake ACK.
    pub tcp_handshake: Latency,
    /// ClientHello → ServerHello.
    pub client_hello_to_server_hello: Latency,
    /// ClientHello → handshake done.
    pub client_hello_to_done: Latency,
}

impl Timings {
    pub(super) fn add(&mut self, f: &ConnectionFacts) {
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
