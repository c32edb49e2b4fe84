//! Outcomes and failure causes over capture time: connections counted in time bins (by their
//! first packet) whose width adapts to the capture's span, so that a 50 ms test capture and a
//! week of traffic both come out as a readable number of bars.
//!
//! Widths come from a fixed ladder (1 ms, 2 ms, 10 ms, … 1 day, then doubling), each a multiple
//! of the one before, and bins are aligned to multiples of their width since the epoch: a bin
//! of a coarser width is exactly the union of whole bins of a finer one. A timeline uses the
//! finest width at which its connections fit in [`MAX_BINS`] bins. That width only grows as
//! connections are added, and the finest width that fits the union of two timelines is at least
//! the width of each, so merging (coarsen the finer one, add bin by bin, coarsen while too
//! wide) gives exactly the timeline of all the connections counted at once, whatever the worker
//! count and the order.

use std::collections::{BTreeMap, VecDeque};

use super::{Merge, count};
use crate::facts::{ConnectionFacts, FailureCause, Outcome};
use crate::flow::Timestamp;

/// Most bins a timeline spans (first to last, empty ones included): enough for a readable
/// chart a page wide, few enough that memory and the report stay small.
pub const MAX_BINS: usize = 240;

/// Bin widths in nanoseconds, finest first; each divides the next. Beyond the last, widths
/// double.
const LADDER_NS: [i64; 19] = [
    1_000_000,          // 1 ms
    2_000_000,          // 2 ms
    10_000_000,         // 10 ms
    20_000_000,         // 20 ms
    100_000_000,        // 100 ms
    200_000_000,        // 200 ms
    1_000_000_000,      // 1 s
    2_000_000_000,      // 2 s
    10_000_000_000,     // 10 s
    20_000_000_000,     // 20 s
    60_000_000_000,     // 1 min
    120_000_000_000,    // 2 min
    600_000_000_000,    // 10 min
    1_200_000_000_000,  // 20 min
    3_600_000_000_000,  // 1 h
    7_200_000_000_000,  // 2 h
    21_600_000_000_000, // 6 h
    43_200_000_000_000, // 12 h
    86_400_000_000_000, // 1 day
];

/// Width of bins at `level` of the ladder, in nanoseconds (saturating far beyond any capture).
fn width_ns(level: u32) -> i64 {
    match LADDER_NS.get(level as usize) {
        Some(&w) => w,
        None => {
            let doublings = level as usize - (LADDER_NS.len() - 1);
            let last = LADDER_NS[LADDER_NS.len() - 1];
            u32::try_from(doublings)
                .ok()
                .and_then(|d| 2i64.checked_pow(d))
                .and_then(|factor| last.checked_mul(factor))
                .unwrap_or(i64::MAX)
        }
    }
}

/// The connections of one time bin.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bin {
    /// Connections whose first packet falls in the bin.
    pub connections: u64,
    /// Those connections by outcome ([`Outcome::index`] order).
    outcomes: [u64; 5],
    /// Those that failed, by cause.
    pub failure_causes: BTreeMap<FailureCause, u64>,
}

impl Bin {
    fn add(&mut self, f: &ConnectionFacts) {
        self.connections += 1;
        self.outcomes[f.outcome.index()] += 1;
        if let Some(failure) = &f.failure {
            count(&mut self.failure_causes, failure.cause, 1);
        }
    }

    /// Connections that ended with `outcome`.
    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome.index()]
    }

    /// The outcomes that occurred, with their counts.
    pub fn outcomes(&self) -> impl Iterator<Item = (Outcome, u64)> + '_ {
        Outcome::ALL
            .into_iter()
            .map(|o| (o, self.outcome(o)))
            .filter(|&(_, n)| n > 0)
    }

    /// Whether no connection fell in the bin.
    pub fn is_empty(&self) -> bool {
        self.connections == 0
    }
}

impl Merge for Bin {
    fn merge_in(&mut self, other: Self) {
        self.connections += other.connections;
        for (mine, theirs) in self.outcomes.iter_mut().zip(other.outcomes) {
            *mine += theirs;
        }
        self.failure_causes.merge_in(other.failure_causes);
    }
}

/// Connections per time bin over the capture (see the module documentation). Carried as is in
/// a report's merge state: bins of another width are merged by the same rule as workers'.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Timeline {
    /// Place of the bin width on the ladder.
    level: u32,
    /// The bin width, `width_ns(level)` (0 until the first connection).
    width: i64,
    /// Index (start / width) of the first bin.
    first: i64,
    /// Consecutive bins from `first`, at most [`MAX_BINS`]; empty when nothing was counted.
    bins: VecDeque<Bin>,
}

impl Timeline {
    /// Counts a connection in the bin of its first packet.
    pub fn add(&mut self, f: &ConnectionFacts) {
        let ts = f.first_ts().0;
        // Nearly always the bin exists already: one division and an index.
        let held = ts.div_euclid(self.width()).wrapping_sub(self.first);
        let at = match usize::try_from(held) {
            Ok(at) if at < self.bins.len() => at,
            _ => self.make_room(ts),
        };
        if let Some(bin) = self.bins.get_mut(at) {
            bin.add(f);
        }
    }

    /// Width of the bins in nanoseconds.
    pub fn bin_width_ns(&self) -> i64 {
        width_ns(self.level)
    }

    /// The bin width, set on first use (a default timeline is all zeros).
    fn width(&mut self) -> i64 {
        if self.width == 0 {
            self.width = width_ns(self.level);
        }
        self.width
    }

    /// Every bin from the first non-empty one to the last, empty ones included, with its start.
    pub fn bins(&self) -> impl Iterator<Item = (Timestamp, &Bin)> {
        let width = self.bin_width_ns();
        (self.first..)
            .zip(&self.bins)
            .map(move |(index, bin)| (Timestamp(index.saturating_mul(width)), bin))
    }

    /// Coarsens (if needed) until the bin of `ts` fits with the others, adds empty bins up to
    /// it, and returns its position in `bins`.
    fn make_room(&mut self, ts: i64) -> usize {
        loop {
            let index = ts.div_euclid(self.width());
            if self.bins.is_empty() {
                self.first = index;
                self.bins.push_back(Bin::default());
                return 0;
            }
            let last = self.first + self.bins.len() as i64 - 1;
            let (lo, hi) = (self.first.min(index), last.max(index));
            if hi - lo < MAX_BINS as i64 {
                while self.first > index {
                    self.bins.push_front(Bin::default());
                    self.first -= 1;
                }
                while self.first + (self.bins.len() as i64) <= index {
                    self.bins.push_back(Bin::default());
                }
                return (index - self.first) as usize;
            }
            self.coarsen();
        }
    }

    /// Moves to the next width of the ladder, merging the bins each new bin covers.
    fn coarsen(&mut self) {
        let old = self.width();
        self.level += 1;
        self.width = width_ns(self.level);
        let ratio = self.width / old;
        let first = self.first.div_euclid(ratio);
        let mut bins: VecDeque<Bin> = VecDeque::new();
        for (index, bin) in (self.first..).zip(std::mem::take(&mut self.bins)) {
            let at = (index.div_euclid(ratio) - first) as usize;
            if bins.len() <= at {
                bins.resize_with(at + 1, Bin::default);
            }
            if let Some(slot) = bins.get_mut(at) {
                slot.merge_in(bin);
            }
        }
        self.first = first;
        self.bins = bins;
    }
}

impl Merge for Timeline {
    fn merge_in(&mut self, mut other: Self) {
        if other.bins.is_empty() {
            return;
        }
        if self.bins.is_empty() {
            *self = other;
            return;
        }
        while self.level < other.level {
            self.coarsen();
        }
        while other.level < self.level {
            other.coarsen();
        }
        let width = self.bin_width_ns();
        for (index, bin) in (other.first..).zip(other.bins) {
            if bin.is_empty() {
                continue;
            }
            // The bin's start at this timeline's width, which may grow while making room.
            let start = index.saturating_mul(width);
            let at = self.make_room(start);
            if let Some(slot) = self.bins.get_mut(at) {
                slot.merge_in(bin);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A connection that started at `ns` with `outcome`.
    fn facts_at(ns: i64, outcome: Outcome) -> ConnectionFacts {
        let mut f = crate::aggregate::tests::empty_facts();
        crate::aggregate::tests::set_times(&mut f, Timestamp(ns), Timestamp(ns));
        f.outcome = outcome;
        f
    }

    /// The oracle: connections counted per bin of the finest ladder width at which they span
    /// at most `MAX_BINS` bins, found by trying every width.
    fn oracle(times: &[i64]) -> (i64, BTreeMap<i64, u64>) {
        let level = (0..)
            .find(|&level| {
                let w = width_ns(level);
                let lo = times.iter().map(|t| t.div_euclid(w)).min().unwrap_or(0);
                let hi = times.iter().map(|t| t.div_euclid(w)).max().unwrap_or(0);
                hi - lo < MAX_BINS as i64
            })
            .unwrap_or_default();
        let w = width_ns(level);
        let mut bins = BTreeMap::new();
        for t in times {
            *bins.entry(t.div_euclid(w) * w).or_default() += 1;
        }
        (w, bins)
    }

    fn non_empty(t: &Timeline) -> BTreeMap<i64, u64> {
        t.bins()
            .filter(|(_, b)| !b.is_empty())
            .map(|(start, b)| (start.0, b.connections))
            .collect()
    }

    #[test]
    fn ladder_widths_divide_each_other() {
        for level in 0..40 {
            let (a, b) = (width_ns(level), width_ns(level + 1));
            assert!(b > a || b == i64::MAX, "level {level}");
            if b != i64::MAX {
                assert_eq!(b % a, 0, "level {level}");
            }
        }
    }

    #[test]
    fn short_captures_get_millisecond_bins_and_long_ones_coarser() {
        let mut t = Timeline::default();
        for ms in [5, 1, 30] {
            t.add(&facts_at(
                1_700_000_000_000_000_000 + ms * 1_000_000,
                Outcome::Failed,
            ));
        }
        assert_eq!(t.bin_width_ns(), 1_000_000);
        assert_eq!(t.bins().count(), 30, "1 ms to 30 ms, empty bins included");
        // A day later: 10 min bins (a day spans 145 of them; 2 min bins would need 721).
        t.add(&facts_at(
            1_700_000_000_000_000_000 + 86_400_000_000_000,
            Outcome::Established,
        ));
        assert_eq!(t.bin_width_ns(), 600_000_000_000);
        let bins: Vec<_> = t.bins().filter(|(_, b)| !b.is_empty()).collect();
        assert_eq!(bins.len(), 2);
        assert_eq!(bins[0].1.connections, 3);
        assert_eq!(bins[0].1.outcome(Outcome::Failed), 3);
        assert_eq!(
            bins[0].1.outcomes().collect::<Vec<_>>(),
            [(Outcome::Failed, 3)]
        );
        assert_eq!(bins[1].1.outcome(Outcome::Established), 1);
        assert!(t.bins().count() <= MAX_BINS);
    }

    #[test]
    fn extreme_timestamps_stay_bounded() {
        let mut t = Timeline::default();
        for ns in [i64::MIN, -1, 0, i64::MAX] {
            t.add(&facts_at(ns, Outcome::Incomplete));
        }
        assert!(t.bins().count() <= MAX_BINS);
        assert_eq!(t.bins().map(|(_, b)| b.connections).sum::<u64>(), 4);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Split over any number of "workers" in any order and merged, the timeline is the
        /// oracle's: the same width and the same counts per bin.
        #[test]
        fn merged_timelines_equal_the_oracle(
            base in -1_000_000_000_000_000_000i64..3_000_000_000_000_000_000,
            offsets in prop::collection::vec(
                prop_oneof![0i64..50_000_000, 0i64..5_000_000_000_000, 0i64..1_000_000_000_000_000],
                1..120,
            ),
            workers in 1usize..5,
        ) {
            let times: Vec<i64> = offsets.iter().map(|o| base + o).collect();
            let mut parts = vec![Timeline::default(); workers];
            for (i, &t) in times.iter().enumerate() {
                parts[(t as usize ^ i) % workers].add(&facts_at(t, Outcome::Established));
            }
            let mut merged = Timeline::default();
            for part in parts.into_iter().rev() {
                merged.merge_in(part);
            }
            let (width, bins) = oracle(&times);
            prop_assert_eq!(merged.bin_width_ns(), width);
            prop_assert_eq!(non_empty(&merged), bins);
            prop_assert!(merged.bins().count() <= MAX_BINS);
        }
    }
}
