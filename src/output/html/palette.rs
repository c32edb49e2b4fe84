//! What each series is drawn with. Colours are the Okabe–Ito palette (distinguishable with
//! every common colour-vision deficiency; defined in `style.css`), and the series that matter
//! most are also told apart without colour: failures are hatched, unanswered hellos dotted,
//! incomplete handshakes cross-hatched, and every chart carries labels or a legend with numbers.

use crate::facts::Outcome;

/// Outcomes in the order they are stacked and listed: successes first.
pub(super) const OUTCOMES: [Outcome; 5] = Outcome::ALL;

/// CSS class of an outcome's fill.
pub(super) fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Established => "o-established",
        Outcome::Resumed => "o-resumed",
        Outcome::Failed => "o-failed",
        Outcome::NoResponse => "o-no_response",
        Outcome::Incomplete => "o-incomplete",
    }
}

/// The SVG patterns the outcome classes fill with (hatching drawn over the colour), placed
/// once in the page and referred to by `url(#…)` from the CSS.
pub(super) const PATTERNS: &str = concat!(
    "<svg class=\"defs\" width=\"0\" height=\"0\" aria-hidden=\"true\" focusable=\"false\"><defs>",
    "<pattern id=\"p-failed\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" ",
    "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" class=\"c-vermillion\"/>",
    "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" class=\"hatch\"/></pattern>",
    "<pattern id=\"p-no_response\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">",
    "<rect width=\"6\" height=\"6\" class=\"c-orange\"/>",
    "<circle cx=\"3\" cy=\"3\" r=\"1.2\" class=\"dot\"/></pattern>",
    "<pattern id=\"p-incomplete\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">",
    "<rect width=\"6\" height=\"6\" class=\"c-grey\"/>",
    "<path d=\"M0 3H6M3 0V6\" class=\"hatch\"/></pattern>",
    "<pattern id=\"p-pq\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" ",
    "patternTransform=\"rotate(-45)\"><rect width=\"6\" height=\"6\" class=\"c-green\"/>",
    "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" class=\"hatch\"/></pattern>",
    "</defs></svg>"
);
