//! Latency distributions drawn from the HDR histograms' buckets on a logarithmic time axis:
//! histograms and CDFs with p50/p95/p99 marked (each by its own line style and marker shape)
//! and the SLO line, and per-server percentile strips. Charts of one group share their axis so
//! that they compare at a glance.

use super::format::{clip, count, micros, micros_tick};
use super::scale::{Linear, Log};
use super::svg::{Anchor, Shape, Svg};
use crate::aggregate::{Latency, Percentiles};

/// Size of one histogram or CDF (they come in small multiples).
const WIDTH: f64 = 440.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 28.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 36.0;
/// Display bins per decade of the histogram.
const BINS_PER_DECADE: f64 = 10.0;

/// The percentiles marked on every distribution, with how each is drawn.
const MARKS: [(&str, Shape, &str); 3] = [
    ("p50", Shape::Circle, "mark-p50"),
    ("p95", Shape::Triangle, "mark-p95"),
    ("p99", Shape::Diamond, "mark-p99"),
];

/// The time axis shared by a group of charts: whole decades around every sample.
#[derive(Clone, Copy, Debug)]
pub(super) struct Axis {
    lo: f64,
    hi: f64,
}

impl Axis {
    /// The axis covering every sample of `latencies` and the SLO (µs).
    pub(super) fn covering<'a>(
        latencies: impl IntoIterator<Item = &'a Latency>,
        slo_us: Option<u64>,
    ) -> Self {
        let (mut lo, mut hi) = (f64::MAX, 1.0f64);
        for l in latencies {
            for (v, _) in l.buckets() {
                if v > 0 {
                    lo = lo.min(v as f64);
                }
                hi = hi.max(v as f64);
            }
        }
        if let Some(slo) = slo_us {
            lo = lo.min(slo as f64);
            hi = hi.max(slo as f64);
        }
        Axis {
            lo: if lo == f64::MAX { 1.0 } else { lo },
            hi,
        }
    }

    fn scale(&self, (r0, r1): (f64, f64)) -> Log {
        Log::new(self.lo, self.hi, (r0, r1))
    }
}

/// Draws a log time axis along `y`, from `x`'s range.
fn time_axis(svg: &mut Svg, x: &Log, y: f64, (x0, x1): (f64, f64)) {
    svg.line((x0, y), (x1, y), "axis");
    for t in x.ticks() {
        let px = x.at(t);
        svg.line((px, y), (px, y + 4.0), "axis");
        svg.text(
            (px, y + 16.0),
            Anchor::Middle,
            "tick",
            &micros_tick(t.round() as u64),
        );
    }
}

/// Marks the percentiles and the SLO on a chart whose plot spans `top..bottom`: a line each,
/// with its marker shape at the top and a label (staggered so that close lines stay legible).
fn mark_percentiles(
    svg: &mut Svg,
    x: &Log,
    p: &Percentiles,
    slo_us: Option<u64>,
    (top, bottom): (f64, f64),
) {
    let values = [p.p50, p.p95, p.p99];
    for (i, ((name, shape, class), v)) in MARKS.iter().zip(values).enumerate() {
        let px = x.at(v as f64);
        let label = format!("{name} {}", micros(v));
        svg.line((px, top), (px, bottom), class);
        let row = top - 30.0 + 10.0 * i as f64;
        svg.marker(*shape, (px, row - 3.5), 7.0, class, &label);
        let (anchor, dx) = if px > WIDTH - 100.0 {
            (Anchor::End, -6.0)
        } else {
            (Anchor::Start, 6.0)
        };
        svg.text((px + dx, row), anchor, "mark-label", &label);
    }
    if let Some(slo) = slo_us {
        let px = x.at(slo as f64);
        svg.line((px, top - 4.0), (px, bottom), "slo");
        let anchor = if px > WIDTH - 100.0 {
            Anchor::End
        } else {
            Anchor::Start
        };
        let dx = if px > WIDTH - 100.0 { -4.0 } else { 4.0 };
        svg.text(
            (px + dx, top + 10.0),
            anchor,
            "slo-label",
            &format!("SLO {}", micros(slo)),
        );
    }
}

/// Sample counts per display bin (10 per decade of `x`), low to high, with each bin's bounds.
fn binned(latency: &Latency, x: &Log) -> Vec<(f64, f64, u64)> {
    let decades = x.decades();
    let lo_exp = f64::from(*decades.start());
    let n = ((f64::from(*decades.end()) - lo_exp) * BINS_PER_DECADE) as usize;
    let mut bins: Vec<(f64, f64, u64)> = (0..n)
        .map(|i| {
            let a = 10f64.powf(lo_exp + i as f64 / BINS_PER_DECADE);
            let b = 10f64.powf(lo_exp + (i + 1) as f64 / BINS_PER_DECADE);
            (a, b, 0)
        })
        .collect();
    for (v, c) in latency.buckets() {
        let at = if v == 0 {
            0
        } else {
            (((v as f64).log10() - lo_exp) * BINS_PER_DECADE)
                .floor()
                .max(0.0) as usize
        };
        if let Some(bin) = bins.get_mut(at.min(n.saturating_sub(1))) {
            bin.2 += c;
        }
    }
    bins
}

/// A histogram of `latency` on `axis`, titled `title`.
pub(super) fn histogram(title: &str, latency: &Latency, axis: Axis, slo_us: Option<u64>) -> String {
    let p = latency.percentiles();
    let mut svg = Svg::new(WIDTH, HEIGHT, title);
    let (top, bottom) = (TOP, HEIGHT - BOTTOM);
    let x = axis.scale((LEFT, WIDTH - RIGHT));
    let bins = binned(latency, &x);
    let max = bins.iter().map(|b| b.2).max().unwrap_or(0);
    let y = svg.count_axis(max, (bottom, top), (LEFT, WIDTH - RIGHT), 4);
    for &(a, b, c) in &bins {
        if c == 0 {
            continue;
        }
        let (x0, x1) = (x.at(a), x.at(b));
        let tip = format!(
            "{} – {}: {} ({})",
            micros(a as u64),
            micros(b as u64),
            count(c),
            super::format::percent(c, p.count)
        );
        svg.rect(
            (x0, y.at(c as f64)),
            ((x1 - x0 - 0.5).max(0.5), bottom - y.at(c as f64)),
            "hist",
            &tip,
        );
    }
    time_axis(&mut svg, &x, bottom, (LEFT, WIDTH - RIGHT));
    mark_percentiles(&mut svg, &x, &p, slo_us, (top, bottom));
    svg.finish()
}

/// The cumulative distribution of `latency` on `axis`: the share of samples at or below each
/// time.
pub(super) fn cdf(title: &str, latency: &Latency, axis: Axis, slo_us: Option<u64>) -> String {
    let p = latency.percentiles();
    let mut svg = Svg::new(WIDTH, HEIGHT, title);
    let (top, bottom) = (TOP, HEIGHT - BOTTOM);
    let x = axis.scale((LEFT, WIDTH - RIGHT));
    let y = Linear::new((0.0, 1.0), (bottom, top));
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        svg.line((LEFT, y.at(t)), (WIDTH - RIGHT, y.at(t)), "gridline");
        svg.text(
            (LEFT - 5.0, y.at(t) + 4.0),
            Anchor::End,
            "tick",
            &format!("{:.0} %", t * 100.0),
        );
    }
    let total = p.count.max(1) as f64;
    let mut points = vec![(LEFT, bottom)];
    let mut seen = 0u64;
    for (a, b, c) in binned(latency, &x) {
        if c == 0 && seen == 0 {
            continue;
        }
        if seen == 0 {
            points.push((x.at(a), bottom));
        }
        seen += c;
        points.push((x.at(b), y.at(seen as f64 / total)));
    }
    points.push((WIDTH - RIGHT, y.at(seen as f64 / total)));
    svg.polyline(&points, "cdf", title);
    time_axis(&mut svg, &x, bottom, (LEFT, WIDTH - RIGHT));
    mark_percentiles(&mut svg, &x, &p, slo_us, (top, bottom));
    svg.finish()
}

/// One row of percentile strips.
pub(super) struct Strip<'a> {
    /// Whose latencies.
    pub label: &'a str,
    /// Their percentiles.
    pub percentiles: Percentiles,
}

/// Width and row height of the strips.
const STRIPS_WIDTH: f64 = 900.0;
const STRIPS_LEFT: f64 = 250.0;
const STRIPS_RIGHT: f64 = 90.0;
const STRIP_ROW: f64 = 18.0;

/// One row per entry: a line from p50 to p99 with each percentile's marker, on one log axis
/// with the SLO line across all rows.
pub(super) fn strips(title: &str, rows: &[Strip<'_>], axis: Axis, slo_us: Option<u64>) -> String {
    let top = 8.0;
    let bottom = top + STRIP_ROW * rows.len() as f64;
    let mut svg = Svg::new(STRIPS_WIDTH, bottom + 26.0, title);
    let x = axis.scale((STRIPS_LEFT, STRIPS_WIDTH - STRIPS_RIGHT));
    for t in x.ticks() {
        svg.line((x.at(t), top), (x.at(t), bottom), "gridline");
    }
    for (i, row) in rows.iter().enumerate() {
        let cy = top + STRIP_ROW * i as f64 + STRIP_ROW / 2.0;
        let p = &row.percentiles;
        svg.text_tip(
            (STRIPS_LEFT - 8.0, cy + 4.0),
            Anchor::End,
            "label",
            &clip(row.label, 36),
            row.label,
        );
        svg.line((x.at(p.p50 as f64), cy), (x.at(p.p99 as f64), cy), "strip");
        for ((name, shape, class), v) in MARKS.iter().zip([p.p50, p.p95, p.p99]) {
            let tip = format!("{}: {name} {}", row.label, micros(v));
            svg.marker(*shape, (x.at(v as f64), cy), 8.0, class, &tip);
        }
        svg.text(
            (STRIPS_WIDTH - STRIPS_RIGHT + 8.0, cy + 4.0),
            Anchor::Start,
            "value",
            &format!("n = {}", count(p.count)),
        );
    }
    time_axis(
        &mut svg,
        &x,
        bottom,
        (STRIPS_LEFT, STRIPS_WIDTH - STRIPS_RIGHT),
    );
    if let Some(slo) = slo_us {
        let px = x.at(slo as f64);
        svg.line((px, top - 4.0), (px, bottom), "slo");
        svg.text(
            (px + 4.0, top + 2.0),
            Anchor::Start,
            "slo-label",
            &format!("SLO {}", micros(slo)),
        );
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(values: &[i64]) -> Latency {
        let mut l = Latency::default();
        for &v in values {
            l.record(v);
        }
        l
    }

    #[test]
    fn bins_hold_every_sample_ten_per_decade() {
        let l = latency(&[0, 150, 150, 1_000, 9_999, 90_000]);
        let axis = Axis::covering([&l], None);
        let x = axis.scale((0.0, 1.0));
        let bins = binned(&l, &x);
        assert_eq!(bins.len(), 30, "100 µs to 100 ms");
        assert_eq!(bins.iter().map(|b| b.2).sum::<u64>(), 6);
        assert_eq!(bins[0].2, 1, "zero goes to the first bin");
        assert_eq!(bins[1].2, 2, "150 µs: 126–158 µs");
        assert_eq!(bins[29].2, 1);
    }

    #[test]
    fn the_slo_widens_the_axis_and_is_drawn() {
        let l = latency(&[1_000, 2_000, 3_000]);
        let axis = Axis::covering([&l], Some(500_000));
        let svg = histogram("ClientHello → done", &l, axis, Some(500_000));
        assert!(svg.contains(">SLO 500 ms</text>"), "{svg}");
        // HDR values are the top of their bucket (two significant digits: within 1 %).
        assert!(svg.contains(">p50 2.01 ms</text>"), "{svg}");
        assert!(svg.contains(">p99 3.01 ms</text>"), "{svg}");
        assert!(
            svg.contains(">1 s</text>"),
            "axis up to the decade above: {svg}"
        );
        let cdf = cdf("ClientHello → done", &l, axis, None);
        assert!(cdf.contains("<polyline"), "{cdf}");
        assert!(!cdf.contains("SLO"));
    }

    #[test]
    fn strips_mark_each_percentile_per_row() {
        let l = latency(&[1_000, 2_000, 30_000]);
        let rows = [Strip {
            label: "www.example.test",
            percentiles: l.percentiles(),
        }];
        let svg = strips("servers", &rows, Axis::covering([&l], None), Some(20_000));
        assert!(svg.contains("www.example.test: p95 "), "{svg}");
        assert!(svg.contains(">n = 3</text>"));
        assert!(svg.contains("class=\"slo\""));
    }
}
