//! Live windows: wall-clock boundaries, what a closed window holds, and what was lost.

use crate::aggregate::Aggregates;
use crate::capture::interface::KernelStats;
use crate::flow::Timestamp;

use super::sightings::Sightings;

/// Frames lost before analysis, counted since the capture started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    /// libpcap's counters (`ps_drop`: kernel buffer full; `ps_ifdrop`: interface).
    pub kernel: KernelStats,
    /// TCP segments tlsight dropped because a worker's queue was full.
    pub channel_segments: u64,
}

impl Drops {
    /// What was lost since `earlier`.
    pub fn since(&self, earlier: &Drops) -> Drops {
        Drops {
            kernel: KernelStats {
                received: self.kernel.received.saturating_sub(earlier.kernel.received),
                dropped: self.kernel.dropped.saturating_sub(earlier.kernel.dropped),
                if_dropped: self
                    .kernel
                    .if_dropped
                    .saturating_sub(earlier.kernel.if_dropped),
            },
            channel_segments: self
                .channel_segments
                .saturating_sub(earlier.channel_segments),
        }
    }
}

/// A closed live window: what every worker aggregated in it, merged, and what was lost.
#[derive(Clone, Debug)]
pub struct ClosedWindow {
    /// When the window started (wall clock).
    pub start: Timestamp,
    /// When it ended.
    pub end: Timestamp,
    /// Frames read in the window.
    pub packets: u64,
    /// Connections that ended in the window.
    pub aggregates: Aggregates,
    /// Certificates and version pairs seen in the window.
    pub sightings: Sightings,
    /// Lost in this window.
    pub drops: Drops,
    /// Lost since the capture started.
    pub drops_total: Drops,
}

/// Wall-clock window boundaries: the first window starts when capture starts and each lasts
/// `interval_ns`; a reader that was busy past several boundaries closes one window for all.
#[derive(Clone, Copy, Debug)]
pub struct WindowClock {
    start: Timestamp,
    interval_ns: i64,
}

impl WindowClock {
    /// Windows of `interval_ns` starting at `start`.
    pub fn new(start: Timestamp, interval_ns: i64) -> Self {
        WindowClock {
            start,
            interval_ns: interval_ns.max(1),
        }
    }

    /// If the current window is over at `now`, closes it: returns its `(start, end)` and
    /// starts the next one at `end`.
    pub fn close_if_due(&mut self, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let end = Timestamp(self.start.0.saturating_add(self.interval_ns));
        if now < end {
            return None;
        }
        let window = (self.start, now);
        self.start = now;
        Some(window)
    }

    /// Closes the current window early (at shutdown).
    pub fn close_now(&mut self, now: Timestamp) -> (Timestamp, Timestamp) {
        let window = (self.start, now.max(self.start));
        self.start = window.1;
        window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_clock_closes_on_interval_and_at_shutdown() {
        let s = 1_000_000_000;
        let mut c = WindowClock::new(Timestamp(0), 10 * s);
        assert_eq!(c.close_if_due(Timestamp(9 * s)), None);
        assert_eq!(
            c.close_if_due(Timestamp(10 * s)),
            Some((Timestamp(0), Timestamp(10 * s)))
        );
        // A late reader closes one longer window, not several empty ones.
        assert_eq!(
            c.close_if_due(Timestamp(35 * s)),
            Some((Timestamp(10 * s), Timestamp(35 * s)))
        );
        assert_eq!(
            c.close_now(Timestamp(36 * s)),
            (Timestamp(35 * s), Timestamp(36 * s))
        );
    }
}
