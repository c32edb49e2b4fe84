//! Bar charts: labelled horizontal bars for censuses and rankings, and one stacked bar for a
//! whole split into parts (outcomes), with its legend.

use std::fmt::Write as _;

use super::format::{Esc, clip, count, percent};
use super::svg::{Anchor, Svg, swatch};

/// Width of every bar chart.
const WIDTH: f64 = 720.0;
/// Room for the labels on the left.
const LABEL_WIDTH: f64 = 300.0;
/// Room for the value after the longest bar.
const VALUE_WIDTH: f64 = 120.0;
/// Height of one row.
const ROW: f64 = 20.0;
/// Characters of a label shown before it is cut short (the tooltip has all of it).
const LABEL_CHARS: usize = 40;

/// One bar.
pub(super) struct Bar {
    /// What it counts.
    pub label: String,
    /// How many.
    pub value: u64,
    /// CSS class of its fill.
    pub class: &'static str,
}

/// Horizontal bars, longest first as given, each labelled with its count and its share of
/// `total`.
pub(super) fn hbars(title: &str, bars: &[Bar], total: u64) -> String {
    let height = ROW * bars.len().max(1) as f64 + 4.0;
    let mut svg = Svg::new(WIDTH, height, title);
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let room = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    for (i, bar) in bars.iter().enumerate() {
        let y = 2.0 + ROW * i as f64;
        let w = room * bar.value as f64 / max;
        let value = format!("{} ({})", count(bar.value), percent(bar.value, total));
        svg.text_tip(
            (LABEL_WIDTH - 6.0, y + 14.0),
            Anchor::End,
            "label",
            &clip(&bar.label, LABEL_CHARS),
            &bar.label,
        );
        if bar.value > 0 {
            svg.rect(
                (LABEL_WIDTH, y + 3.0),
                (w.max(1.0), ROW - 6.0),
                bar.class,
                &format!("{}: {value}", bar.label),
            );
        }
        svg.text(
            (LABEL_WIDTH + w + 5.0, y + 14.0),
            Anchor::Start,
            "value",
            &value,
        );
    }
    svg.finish()
}

/// One part of a whole.
pub(super) struct Part {
    /// Its name.
    pub label: String,
    /// How many.
    pub value: u64,
    /// CSS class of its fill.
    pub class: &'static str,
}

/// One bar split into `parts` in proportion, followed by a legend with each part's count and
/// share (parts with none left out).
pub(super) fn share(title: &str, parts: &[Part]) -> String {
    let total: u64 = parts.iter().map(|p| p.value).sum();
    let mut svg = Svg::new(WIDTH, 28.0, title);
    let mut x = 0.0;
    for p in parts.iter().filter(|p| p.value > 0) {
        let w = WIDTH * p.value as f64 / total.max(1) as f64;
        let tip = format!(
            "{}: {} ({})",
            p.label,
            count(p.value),
            percent(p.value, total)
        );
        svg.rect((x, 2.0), (w, 24.0), p.class, &tip);
        x += w;
    }
    let mut html = format!("<figure class=\"share\">{}", svg.finish());
    html.push_str("<figcaption><ul class=\"legend\">");
    for p in parts.iter().filter(|p| p.value > 0) {
        let _ = write!(
            html,
            "<li>{} {} <b>{}</b> ({})</li>",
            swatch(p.class),
            Esc(&p.label),
            count(p.value),
            percent(p.value, total)
        );
    }
    html.push_str("</ul></figcaption></figure>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_carry_counts_and_shares() {
        let bars = [
            Bar {
                label: "TLSv1.3".into(),
                value: 30,
                class: "bar",
            },
            Bar {
                label: "a very long label that will not fit in the room given".into(),
                value: 10,
                class: "bar",
            },
        ];
        let svg = hbars("versions", &bars, 40);
        assert!(svg.contains(">30 (75.0 %)</text>"), "{svg}");
        assert!(svg.contains(">10 (25.0 %)</text>"));
        assert!(svg.contains(">a very long label that will not fit in …</text>"));
        assert!(
            svg.contains("<title>a very long label that will not fit in the room given</title>")
        );
        // The longest bar fills the room; the other is a third of it.
        assert!(svg.contains("width=\"300\""), "{svg}");
        assert!(svg.contains("width=\"100\""), "{svg}");
    }

    #[test]
    fn a_share_leaves_out_empty_parts() {
        let parts = [
            Part {
                label: "established".into(),
                value: 3,
                class: "o-established",
            },
            Part {
                label: "failed".into(),
                value: 0,
                class: "o-failed",
            },
            Part {
                label: "no_response".into(),
                value: 1,
                class: "o-no_response",
            },
        ];
        let html = share("outcomes", &parts);
        assert!(html.contains("established <b>3</b> (75.0 %)"), "{html}");
        assert!(!html.contains("failed"));
        assert_eq!(
            html.matches("<rect").count(),
            2 + 2,
            "two parts, two swatches"
        );
    }
}
