//! Charts over capture time: stacked columns (connections by outcome per time bin) and small
//! multiples (one strip of columns per failure cause, on a shared scale so that rows compare).

use super::format::{clip, count, time, width};
use super::scale::{Linear, time_ticks};
use super::svg::{Anchor, Svg};
use crate::flow::Timestamp;

/// Width of the charts over time.
const WIDTH: f64 = 900.0;
/// Room for the y-axis labels (stacked columns) or the row labels (strips).
const LEFT: f64 = 60.0;
const STRIP_LEFT: f64 = 190.0;
/// Room for the row totals on the right of the strips.
const STRIP_RIGHT: f64 = 80.0;
const RIGHT: f64 = 12.0;
/// Height of one strip.
const STRIP: f64 = 34.0;

/// One series of a chart over time: its name, its fill class and one value per bin.
pub(super) type Series = (String, &'static str, Vec<u64>);

/// Bins over time: their start (ns since the epoch) and one value per series.
pub(super) struct Bins<'a> {
    /// Width of each bin in nanoseconds.
    pub width_ns: i64,
    /// The bins, consecutive from the first.
    pub starts: &'a [i64],
    /// Per series: its name, its fill class and one value per bin.
    pub series: &'a [Series],
}

impl Bins<'_> {
    fn range(&self) -> (i64, i64) {
        let start = self.starts.first().copied().unwrap_or(0);
        let end = self
            .starts
            .last()
            .map_or(start, |&s| s.saturating_add(self.width_ns));
        (start, end)
    }

    /// Nanoseconds from the first bin's start to `t`, as the x scale takes them (in floating
    /// point: timestamps from a damaged capture can be further apart than an `i64` holds).
    fn offset(&self, t: i64) -> f64 {
        t as f64 - self.range().0 as f64
    }

    /// The x scale: relative nanoseconds onto `left..WIDTH - right`.
    fn x(&self, left: f64, right: f64) -> Linear {
        let (_, end) = self.range();
        Linear::new((0.0, self.offset(end)), (left, WIDTH - right))
    }

    /// Text for the bin at `start`: when, and each series' value.
    fn tip(&self, i: usize, start: i64) -> String {
        let mut tip = format!("{} + {}:", time(Timestamp(start)), width(self.width_ns));
        for (name, _, values) in self.series {
            let v = values.get(i).copied().unwrap_or(0);
            if v > 0 {
                tip.push_str(&format!(" {name} {}", count(v)));
            }
        }
        tip
    }
}

/// Draws the time axis of `bins` at `y`, with round ticks labelled for their step.
fn time_axis(svg: &mut Svg, bins: &Bins<'_>, x: &Linear, y: f64) {
    let (start, end) = bins.range();
    let (ticks, step) = time_ticks(start, end, 8);
    for t in ticks {
        let px = x.at(bins.offset(t));
        svg.line((px, y), (px, y + 4.0), "axis");
        svg.text((px, y + 16.0), Anchor::Middle, "tick", &tick_label(t, step));
    }
    svg.line((x.at(0.0), y), (x.at(bins.offset(end)), y), "axis");
}

/// A tick's label, as precise as its step needs: `22:13:20.150`, `22:13:20`, `22:13`,
/// `11-14 00:00` (UTC).
fn tick_label(t: i64, step: i64) -> String {
    let text = time(Timestamp(t));
    let (date, clock) = (
        text.get(5..10).unwrap_or(""),
        text.get(11..23).unwrap_or(""),
    );
    let clock = if step < 1_000_000_000 {
        clock
    } else if step < 60_000_000_000 {
        clock.get(..8).unwrap_or(clock)
    } else {
        clock.get(..5).unwrap_or(clock)
    };
    if step >= 86_400_000_000_000 {
        date.to_string()
    } else if step >= 3_600_000_000_000 {
        format!("{date} {clock}")
    } else {
        clock.to_string()
    }
}

/// Stacked columns: per bin, one block per series (bottom first), with a y axis of counts.
pub(super) fn stacked_columns(title: &str, bins: &Bins<'_>, y_label: &str) -> String {
    let (top, bottom) = (26.0, 240.0);
    let mut svg = Svg::new(WIDTH, bottom + 34.0, title);
    let x = bins.x(LEFT, RIGHT);
    let totals: Vec<u64> = (0..bins.starts.len())
        .map(|i| {
            bins.series
                .iter()
                .map(|s| s.2.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0);
    let y = svg.count_axis(max, (bottom, top), (LEFT, WIDTH - RIGHT), 5);
    svg.text((4.0, top - 14.0), Anchor::Start, "axis-label", y_label);
    for (i, &bin_start) in bins.starts.iter().enumerate() {
        if totals[i] == 0 {
            continue;
        }
        let x0 = x.at(bins.offset(bin_start));
        let x1 = x.at(bins.offset(bin_start) + bins.width_ns as f64);
        let w = (x1 - x0 - 0.6).max(0.6);
        let tip = bins.tip(i, bin_start);
        let mut base = 0u64;
        for (_, class, values) in bins.series {
            let v = values.get(i).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            let (y0, y1) = (y.at(base as f64), y.at((base + v) as f64));
            svg.rect((x0, y1), (w, y0 - y1), class, &tip);
            base += v;
        }
    }
    time_axis(&mut svg, bins, &x, bottom);
    svg.finish()
}

/// Small multiples: one strip of columns per series, all on one scale, labelled with the
/// series' name and total.
pub(super) fn strips(title: &str, bins: &Bins<'_>) -> String {
    let rows = bins.series.len().max(1);
    let height = STRIP * rows as f64 + 30.0;
    let mut svg = Svg::new(WIDTH, height, title);
    let x = bins.x(STRIP_LEFT, STRIP_RIGHT);
    let max = bins
        .series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    for (row, (name, class, values)) in bins.series.iter().enumerate() {
        let bottom = STRIP * (row + 1) as f64;
        let y = Linear::new((0.0, max as f64), (bottom - 2.0, bottom - STRIP + 6.0));
        svg.line(
            (STRIP_LEFT, bottom - 2.0),
            (WIDTH - STRIP_RIGHT, bottom - 2.0),
            "gridline",
        );
        svg.text_tip(
            (STRIP_LEFT - 6.0, bottom - 10.0),
            Anchor::End,
            "label",
            &clip(name, 28),
            name,
        );
        let total: u64 = values.iter().sum();
        svg.text(
            (WIDTH - STRIP_RIGHT + 6.0, bottom - 10.0),
            Anchor::Start,
            "value",
            &count(total),
        );
        for (i, (&v, &bin_start)) in values.iter().zip(bins.starts).enumerate() {
            if v == 0 {
                continue;
            }
            let x0 = x.at(bins.offset(bin_start));
            let x1 = x.at(bins.offset(bin_start) + bins.width_ns as f64);
            let top = y.at(v as f64);
            let tip = format!("{name}: {} in {}", count(v), bins.tip(i, bin_start));
            svg.rect(
                (x0, top),
                ((x1 - x0 - 0.6).max(0.6), bottom - 2.0 - top),
                class,
                &tip,
            );
        }
    }
    time_axis(&mut svg, bins, &x, STRIP * rows as f64);
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<i64>, Vec<Series>) {
        let base = 1_700_000_000_000_000_000;
        let starts = (0..4).map(|i| base + i * 1_000_000).collect();
        let series = vec![
            ("established".to_string(), "o-established", vec![3, 0, 1, 2]),
            ("failed".to_string(), "o-failed", vec![1, 0, 0, 5]),
        ];
        (starts, series)
    }

    #[test]
    fn columns_stack_each_bin_and_skip_empty_ones() {
        let (starts, series) = sample();
        let bins = Bins {
            width_ns: 1_000_000,
            starts: &starts,
            series: &series,
        };
        let svg = stacked_columns("outcomes over time", &bins, "connections per 1 ms");
        // Five non-empty blocks.
        assert_eq!(svg.matches("class=\"o-").count(), 5, "{svg}");
        assert!(svg.contains("2023-11-14 22:13:20.003 UTC + 1 ms: established 2 failed 5"));
        assert!(svg.contains(">22:13:20.002</text>"), "{svg}");
    }

    #[test]
    fn strips_share_one_scale_and_show_totals() {
        let (starts, series) = sample();
        let bins = Bins {
            width_ns: 1_000_000,
            starts: &starts,
            series: &series,
        };
        let svg = strips("causes over time", &bins);
        assert!(svg.contains(">6</text>"), "total of failed: {svg}");
        assert!(svg.contains("failed: 5 in "));
    }

    #[test]
    fn tick_labels_follow_the_step() {
        let t = 1_700_000_000_123_000_000;
        assert_eq!(tick_label(t, 1_000_000), "22:13:20.123");
        assert_eq!(tick_label(t, 10_000_000_000), "22:13:20");
        assert_eq!(tick_label(t, 600_000_000_000), "22:13");
        assert_eq!(tick_label(t, 21_600_000_000_000), "11-14 22:13");
        assert_eq!(tick_label(t, 86_400_000_000_000), "11-14");
    }
}
