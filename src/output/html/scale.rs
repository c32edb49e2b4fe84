//! Scales: values to pixels (linear for counts and times, logarithmic for latencies) and the
//! round-numbered ticks their axes are labelled with.

/// A linear map from a domain of values onto a range of pixels.
#[derive(Clone, Copy, Debug)]
pub(super) struct Linear {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Linear {
    /// `domain` onto `range`; an empty domain is widened by one so that nothing divides by 0.
    pub(super) fn new((d0, d1): (f64, f64), (r0, r1): (f64, f64)) -> Self {
        let d1 = if d1 > d0 { d1 } else { d0 + 1.0 };
        Linear { d0, d1, r0, r1 }
    }

    /// The same scale with the domain's end moved out to its last round tick (for about
    /// `max` ticks), so that the axis ends on a labelled value.
    pub(super) fn rounded(self, max: usize) -> Self {
        let step = nice_step((self.d1 - self.d0) / max.max(1) as f64);
        Linear {
            d1: (self.d1 / step).ceil() * step,
            ..self
        }
    }

    /// Pixel of `v`.
    pub(super) fn at(&self, v: f64) -> f64 {
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }

    /// Round ticks for counts (whole numbers 1, 2 or 5 × 10ⁿ apart) in the domain, at most
    /// about `max` of them.
    pub(super) fn count_ticks(&self, max: usize) -> Vec<f64> {
        let step = nice_step((self.d1 - self.d0) / max.max(1) as f64).max(1.0);
        let first = (self.d0 / step).ceil() as i64;
        let last = (self.d1 / step).floor() as i64;
        (first..=last).map(|i| i as f64 * step).collect()
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// Pixels a decade needs before its 2 and 5 ticks are labelled too.
const DENSE_DECADE: f64 = 150.0;

/// A base-10 logarithmic map for values that span decades (latencies in µs). Values at or
/// below the low end (including 0) are drawn at the low end.
#[derive(Clone, Copy, Debug)]
pub(super) struct Log {
    lo: f64,
    hi: f64,
    r0: f64,
    r1: f64,
}

impl Log {
    /// A domain from whole decades around `lo..=hi` (at least one decade) onto `range`.
    pub(super) fn new(lo: f64, hi: f64, (r0, r1): (f64, f64)) -> Self {
        let lo = lo.max(1.0).log10().floor();
        let hi = hi.max(1.0).log10().ceil().max(lo + 1.0);
        Log { lo, hi, r0, r1 }
    }

    /// Pixel of `v`.
    pub(super) fn at(&self, v: f64) -> f64 {
        let l = v.max(10f64.powf(self.lo)).log10();
        self.r0 + (l - self.lo) / (self.hi - self.lo) * (self.r1 - self.r0)
    }

    /// The decades of the domain (exponents), low to high.
    pub(super) fn decades(&self) -> std::ops::RangeInclusive<i32> {
        (self.lo as i32)..=(self.hi as i32)
    }

    /// Ticks: every decade, and 2 and 5 × 10ⁿ too when a decade is wide enough for their
    /// labels.
    pub(super) fn ticks(&self) -> Vec<f64> {
        let dense = (self.r1 - self.r0).abs() / (self.hi - self.lo) >= DENSE_DECADE;
        let mut v = Vec::new();
        for e in self.decades() {
            let base = 10f64.powi(e);
            v.push(base);
            if dense && e < self.hi as i32 {
                v.extend([2.0 * base, 5.0 * base]);
            }
        }
        v
    }
}

/// Round steps for a time axis, in nanoseconds.
const TIME_STEPS_NS: [i64; 26] = [
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
    15_000_000_000,
    30_000_000_000,
    60_000_000_000,
    120_000_000_000,
    300_000_000_000,
    600_000_000_000,
    900_000_000_000,
    1_800_000_000_000,
    3_600_000_000_000,
    10_800_000_000_000,
    21_600_000_000_000,
    43_200_000_000_000,
    86_400_000_000_000,
];

/// Tick times (ns since the epoch, multiples of a round step) between `start` and `end`, at
/// most about `max` of them, and the step.
pub(super) fn time_ticks(start: i64, end: i64, max: usize) -> (Vec<i64>, i64) {
    let span = end.saturating_sub(start).max(1);
    let wanted = span / max.max(1) as i64;
    let step = TIME_STEPS_NS
        .iter()
        .copied()
        .find(|&s| s >= wanted)
        .unwrap_or_else(|| {
            let day = TIME_STEPS_NS[TIME_STEPS_NS.len() - 1];
            (wanted + day - 1) / day * day
        });
    let first = start.div_euclid(step) + i64::from(start.rem_euclid(step) != 0);
    let ticks = (0..)
        .map(|i| (first + i).saturating_mul(step))
        .take_while(|&t| t <= end)
        .collect();
    (ticks, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round() {
        let s = Linear::new((0.0, 87.0), (0.0, 100.0));
        assert_eq!(s.count_ticks(5), vec![0.0, 20.0, 40.0, 60.0, 80.0]);
        assert_eq!(s.at(43.5), 50.0);
        assert_eq!(
            s.rounded(5).count_ticks(5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        let one = Linear::new((0.0, 1.0), (0.0, 10.0));
        assert_eq!(
            one.count_ticks(4),
            vec![0.0, 1.0],
            "counts tick on whole numbers"
        );
        let flat = Linear::new((3.0, 3.0), (0.0, 10.0));
        assert_eq!(flat.at(3.0), 0.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(7.0), 10.0);
    }

    #[test]
    fn log_scale_spans_whole_decades() {
        let s = Log::new(150.0, 2_400_000.0, (0.0, 600.0));
        assert_eq!(s.decades(), 2..=7);
        assert_eq!(s.at(100.0), 0.0);
        assert_eq!(s.at(10_000_000.0), 600.0);
        assert_eq!(s.at(0.0), 0.0, "zero is drawn at the low end");
        assert_eq!(s.ticks().len(), 6, "sparse: decades only");
        let narrow = Log::new(1_000.0, 90_000.0, (0.0, 400.0));
        assert_eq!(
            narrow.ticks(),
            vec![1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5],
            "dense within three decades"
        );
    }

    #[test]
    fn time_ticks_fall_on_round_steps() {
        let base = 1_700_000_000_000_000_000;
        let (ticks, step) = time_ticks(base + 3_000_000, base + 47_000_000, 5);
        assert_eq!(step, 10_000_000);
        assert_eq!(
            ticks,
            vec![
                base + 10_000_000,
                base + 20_000_000,
                base + 30_000_000,
                base + 40_000_000
            ]
        );
        let (ticks, step) = time_ticks(0, 40 * 86_400_000_000_000, 4);
        assert_eq!(step, 10 * 86_400_000_000_000);
        assert_eq!(ticks.len(), 5);
    }
}
