//! The SVG drawing primitives every chart is made of. Colours and fills come from CSS classes
//! (see `style.css`), never from `style` attributes, which the page's Content-Security-Policy
//! forbids; tooltips are SVG `<title>` elements, which need no script.

use std::fmt::Write as _;

use super::format::{Esc, coord, count};
use super::scale::Linear;

/// Where a text's anchor point is.
#[derive(Clone, Copy)]
pub(super) enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn name(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// Marker shapes: told apart without colour (p50, p95, p99; certificate states).
#[derive(Clone, Copy)]
pub(super) enum Shape {
    Circle,
    Triangle,
    Diamond,
    Cross,
}

/// An SVG image being drawn, `width` × `height` user units that scale with the page.
pub(super) struct Svg {
    out: String,
}

impl Svg {
    /// A chart labelled `label` for assistive technology (and as its tooltip).
    pub(super) fn new(width: f64, height: f64, label: &str) -> Self {
        Svg::with_class("chart", width, height, label)
    }

    /// An image of CSS class `class` (`mini`: a sparkline in a table cell).
    pub(super) fn with_class(class: &str, width: f64, height: f64, label: &str) -> Self {
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg class=\"{class}\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
             role=\"img\" aria-label=\"{label}\"><title>{label}</title>",
            w = coord(width),
            h = coord(height),
            label = Esc(label),
        );
        Svg { out }
    }

    /// A rectangle of CSS class `class`, with a tooltip unless `tip` is empty.
    pub(super) fn rect(&mut self, (x, y): (f64, f64), (w, h): (f64, f64), class: &str, tip: &str) {
        let _ = write!(
            self.out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"{class}\"",
            coord(x),
            coord(y),
            coord(w.max(0.0)),
            coord(h.max(0.0)),
        );
        self.close(tip, "rect");
    }

    /// A line of class `class`.
    pub(super) fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), class: &str) {
        let _ = write!(
            self.out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"{class}\"/>",
            coord(x1),
            coord(y1),
            coord(x2),
            coord(y2),
        );
    }

    /// A polyline through `points`, of class `class`.
    pub(super) fn polyline(&mut self, points: &[(f64, f64)], class: &str, tip: &str) {
        self.out.push_str("<polyline points=\"");
        for (i, &(x, y)) in points.iter().enumerate() {
            if i > 0 {
                self.out.push(' ');
            }
            let _ = write!(self.out, "{},{}", coord(x), coord(y));
        }
        let _ = write!(self.out, "\" class=\"{class}\"");
        self.close(tip, "polyline");
    }

    /// Text at `(x, y)` (its baseline), anchored as `anchor`.
    pub(super) fn text(&mut self, (x, y): (f64, f64), anchor: Anchor, class: &str, text: &str) {
        let _ = write!(
            self.out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{}\" class=\"{class}\">{}</text>",
            coord(x),
            coord(y),
            anchor.name(),
            Esc(text),
        );
    }

    /// Text with a tooltip (for labels cut short).
    pub(super) fn text_tip(
        &mut self,
        at: (f64, f64),
        anchor: Anchor,
        class: &str,
        text: &str,
        tip: &str,
    ) {
        if tip == text {
            return self.text(at, anchor, class, text);
        }
        let _ = write!(self.out, "<g><title>{}</title>", Esc(tip));
        self.text(at, anchor, class, text);
        self.out.push_str("</g>");
    }

    /// A marker of `shape` centred on `(x, y)`, about `size` units across.
    pub(super) fn marker(
        &mut self,
        shape: Shape,
        (x, y): (f64, f64),
        size: f64,
        class: &str,
        tip: &str,
    ) {
        let r = size / 2.0;
        match shape {
            Shape::Circle => {
                let _ = write!(
                    self.out,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" class=\"{class}\"",
                    coord(x),
                    coord(y),
                    coord(r)
                );
                self.close(tip, "circle");
            }
            Shape::Triangle => {
                self.polygon(&[(x, y - r), (x + r, y + r), (x - r, y + r)], class, tip)
            }
            Shape::Diamond => {
                self.polygon(
                    &[(x, y - r), (x + r, y), (x, y + r), (x - r, y)],
                    class,
                    tip,
                );
            }
            Shape::Cross => {
                let (a, b) = (r * 0.35, r);
                let pts = [
                    (x - b, y - b + a),
                    (x - b + a, y - b),
                    (x, y - a),
                    (x + b - a, y - b),
                    (x + b, y - b + a),
                    (x + a, y),
                    (x + b, y + b - a),
                    (x + b - a, y + b),
                    (x, y + a),
                    (x - b + a, y + b),
                    (x - b, y + b - a),
                    (x - a, y),
                ];
                self.polygon(&pts, class, tip);
            }
        }
    }

    fn polygon(&mut self, points: &[(f64, f64)], class: &str, tip: &str) {
        self.out.push_str("<polygon points=\"");
        for (i, &(x, y)) in points.iter().enumerate() {
            if i > 0 {
                self.out.push(' ');
            }
            let _ = write!(self.out, "{},{}", coord(x), coord(y));
        }
        let _ = write!(self.out, "\" class=\"{class}\"");
        self.close(tip, "polygon");
    }

    /// Ends an element: empty, or with its tooltip.
    fn close(&mut self, tip: &str, element: &str) {
        if tip.is_empty() {
            self.out.push_str("/>");
        } else {
            let _ = write!(self.out, "><title>{}</title></{element}>", Esc(tip));
        }
    }

    /// A count axis from 0 to about `max` over `bottom..top` (rounded up to its last tick):
    /// gridlines across `left..right` and labels left of them. Returns the scale.
    pub(super) fn count_axis(
        &mut self,
        max: u64,
        (bottom, top): (f64, f64),
        (left, right): (f64, f64),
        ticks: usize,
    ) -> Linear {
        let y = Linear::new((0.0, max.max(1) as f64), (bottom, top)).rounded(ticks);
        for t in y.count_ticks(ticks) {
            self.line((left, y.at(t)), (right, y.at(t)), "gridline");
            self.text(
                (left - 5.0, y.at(t) + 4.0),
                Anchor::End,
                "tick",
                &count(t as u64),
            );
        }
        y
    }

    /// The finished `<svg>` element.
    pub(super) fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// A small swatch of class `class` for legends and table cells.
pub(super) fn swatch(class: &str) -> String {
    format!(
        "<svg class=\"swatch\" viewBox=\"0 0 12 12\" width=\"12\" height=\"12\" aria-hidden=\"true\">\
         <rect width=\"12\" height=\"12\" class=\"{class}\"/></svg>"
    )
}

/// A marker shape alone, for legends.
pub(super) fn shape_swatch(shape: Shape, class: &str) -> String {
    let mut svg = String::from(
        "<svg class=\"swatch\" viewBox=\"0 0 12 12\" width=\"12\" height=\"12\" aria-hidden=\"true\">",
    );
    let mut s = Svg { out: String::new() };
    s.marker(shape, (6.0, 6.0), 10.0, class, "");
    svg.push_str(&s.out);
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_escape_their_text_and_carry_tooltips() {
        let mut svg = Svg::new(100.0, 50.0, "a <b> chart");
        svg.rect((1.0, 2.0), (3.25, -4.0), "bar", "5 & 6");
        svg.text((0.0, 10.0), Anchor::End, "label", "x<y");
        svg.line((0.0, 0.0), (1.0, 1.0), "axis");
        let text = svg.finish();
        assert!(text.starts_with("<svg class=\"chart\" viewBox=\"0 0 100 50\""));
        assert!(text.contains("aria-label=\"a &lt;b&gt; chart\""));
        assert!(
            text.contains(
                "<rect x=\"1\" y=\"2\" width=\"3.3\" height=\"0\" class=\"bar\"><title>5 &amp; 6</title></rect>"
            ),
            "{text}"
        );
        assert!(text.contains(">x&lt;y</text>"));
        assert!(text.ends_with("</svg>"));
        assert!(!text.contains("style="), "the CSP forbids style attributes");
    }
}
