//! Progress of a running analysis, for a progress line: the capture thread publishes what it
//! has read every few thousand packets, workers their connections after each batch; whoever
//! draws the line reads a [`ProgressSnapshot`]. Nothing is published per packet.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::output::InputStats;

/// Counters shared between the pipeline's threads and a progress display.
#[derive(Debug)]
pub struct Progress {
    packets: AtomicU64,
    /// Bytes of the inputs consumed (frames with their record headers).
    bytes: AtomicU64,
    connections: AtomicU64,
    /// Bytes of all inputs, when known (regular, uncompressed files): what an ETA needs.
    total_bytes: Option<u64>,
    started: Instant,
}

/// Bytes of a classic pcap record header: what a frame takes in the file besides its bytes.
const RECORD_HEADER: u64 = 16;

/// What a progress line shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProgressSnapshot {
    /// Frames read.
    pub packets: u64,
    /// Bytes of the inputs read.
    pub bytes: u64,
    /// TLS connections analysed.
    pub connections: u64,
    /// Bytes of all inputs, when known.
    pub total_bytes: Option<u64>,
    /// Since the analysis started.
    pub elapsed: Duration,
}

impl Progress {
    /// Progress of an analysis of `total_bytes` of input (when known), starting now.
    pub fn new(total_bytes: Option<u64>) -> Self {
        Progress {
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            total_bytes,
            started: Instant::now(),
        }
    }

    /// The capture thread's counters so far.
    pub(super) fn reader_read(&self, stats: &InputStats) {
        let frames = stats.packets + stats.filtered_out;
        self.packets.store(frames, Ordering::Relaxed);
        let bytes = stats.bytes + stats.filtered_out_bytes + frames * RECORD_HEADER;
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// A worker analysed `n` more TLS connections.
    pub(super) fn connections_done(&self, n: u64) {
        if n > 0 {
            self.connections.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            total_bytes: self.total_bytes,
            elapsed: self.started.elapsed(),
        }
    }
}

impl ProgressSnapshot {
    /// Packets per second so far.
    pub fn packets_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.packets as f64 / secs
        } else {
            0.0
        }
    }

    /// Time left at the rate so far, when the total is known and some progress made.
    pub fn eta(&self) -> Option<Duration> {
        let total = self.total_bytes?;
        if self.bytes == 0 || self.bytes >= total {
            return None;
        }
        let rate = self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-3);
        Some(Duration::from_secs_f64((total - self.bytes) as f64 / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_follows_the_rate_so_far() {
        let s = ProgressSnapshot {
            packets: 1000,
            bytes: 250,
            connections: 3,
            total_bytes: Some(1000),
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(s.eta(), Some(Duration::from_secs(6)));
        assert_eq!(s.packets_per_second(), 500.0);
        let unknown = ProgressSnapshot {
            total_bytes: None,
            ..s
        };
        assert_eq!(unknown.eta(), None);
    }
}
