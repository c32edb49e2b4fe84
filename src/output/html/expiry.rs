//! The certificate calendar: one row per certificate, a bar from not-before to not-after on a
//! time axis centred on the capture, and a marker at the expiry whose shape (not only colour)
//! says its state: expired ✕, expiring soon ▲, not yet valid ◆, valid ●.

use super::format::{clip, date};
use super::scale::Linear;
use super::svg::{Anchor, Shape, Svg};
use crate::output::time::{civil_from_days, days_from_civil};

const WIDTH: f64 = 900.0;
const LEFT: f64 = 260.0;
const RIGHT: f64 = 20.0;
const ROW: f64 = 18.0;
const DAY: i64 = 86_400;
/// The axis reaches at least this far either side of the capture, and at most this far (longer
/// validities are cut, with an arrow).
const MIN_REACH: i64 = 60 * DAY;
const MAX_REACH: i64 = 5 * 365 * DAY;

/// What a certificate's expiry means at capture time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Valid,
    ExpiringSoon,
    Expired,
    NotYetValid,
}

impl State {
    /// The state its findings give.
    pub(super) fn of(findings: &[&str]) -> State {
        if findings.contains(&"expired") {
            State::Expired
        } else if findings.contains(&"not_yet_valid") {
            State::NotYetValid
        } else if findings.contains(&"expiring_soon") {
            State::ExpiringSoon
        } else {
            State::Valid
        }
    }

    /// Its marker shape and CSS class.
    pub(super) fn look(self) -> (Shape, &'static str) {
        match self {
            State::Valid => (Shape::Circle, "cert-valid"),
            State::ExpiringSoon => (Shape::Triangle, "cert-expiring"),
            State::Expired => (Shape::Cross, "cert-expired"),
            State::NotYetValid => (Shape::Diamond, "cert-future"),
        }
    }

    /// How the legend names it.
    pub(super) fn name(self) -> &'static str {
        match self {
            State::Valid => "valid",
            State::ExpiringSoon => "expiring soon",
            State::Expired => "expired",
            State::NotYetValid => "not yet valid",
        }
    }
}

/// One certificate row.
pub(super) struct CertRow {
    /// Short label (subject).
    pub label: String,
    /// Tooltip: subject, issuer, validity, findings.
    pub tip: String,
    /// Validity, seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// Its state at capture time.
    pub state: State,
}

/// The calendar of `rows` around the capture (`capture` = its first and last second).
pub(super) fn calendar(title: &str, rows: &[CertRow], capture: (i64, i64)) -> String {
    // In order whatever the capture's clock did, so that the axis' ends are in order too.
    let (at0, at1) = (capture.0.min(capture.1), capture.0.max(capture.1));
    let lo = rows
        .iter()
        .map(|r| r.not_before.min(r.not_after))
        .min()
        .unwrap_or(at0)
        .clamp(at0 - MAX_REACH, at0 - MIN_REACH);
    let hi = rows
        .iter()
        .map(|r| r.not_after)
        .max()
        .unwrap_or(at1)
        .clamp(at1 + MIN_REACH, at1 + MAX_REACH);
    let top = 22.0;
    let bottom = top + ROW * rows.len() as f64;
    let mut svg = Svg::new(WIDTH, bottom + 28.0, title);
    let x = Linear::new((lo as f64, hi as f64), (LEFT, WIDTH - RIGHT));
    for t in month_ticks(lo, hi, 8) {
        svg.line(
            (x.at(t as f64), top),
            (x.at(t as f64), bottom + 4.0),
            "gridline",
        );
        svg.text(
            (x.at(t as f64), bottom + 18.0),
            Anchor::Middle,
            "tick",
            date(t).get(..7).unwrap_or_default(),
        );
    }
    let (c0, c1) = (x.at(at0 as f64), x.at(at1 as f64));
    svg.rect(
        (c0 - 1.0, top - 6.0),
        ((c1 - c0) + 2.0, bottom - top + 6.0),
        "capture",
        "capture",
    );
    svg.text(
        (c1 + 4.0, top - 8.0),
        Anchor::Start,
        "mark-label",
        "capture",
    );
    for (i, r) in rows.iter().enumerate() {
        let cy = top + ROW * i as f64 + ROW / 2.0;
        let (shape, class) = r.state.look();
        svg.text_tip(
            (LEFT - 8.0, cy + 4.0),
            Anchor::End,
            "label",
            &clip(&r.label, 36),
            &r.label,
        );
        let (b, a) = (r.not_before.clamp(lo, hi), r.not_after.clamp(lo, hi));
        svg.rect(
            (x.at(b as f64), cy - 4.0),
            (x.at(a as f64) - x.at(b as f64), 8.0),
            class,
            &r.tip,
        );
        if r.not_after > hi {
            svg.text((x.at(hi as f64), cy + 4.0), Anchor::End, "tick", "→");
        } else {
            svg.marker(shape, (x.at(a as f64), cy), 10.0, class, &r.tip);
        }
    }
    svg.finish()
}

/// The first days of months between `lo` and `hi` (seconds), every 1, 3, 6 or 12 months so
/// that there are at most about `max`.
fn month_ticks(lo: i64, hi: i64, max: usize) -> Vec<i64> {
    let months = (hi - lo) / (30 * DAY);
    let step = [1, 3, 6, 12, 24, 60]
        .into_iter()
        .find(|&s| months / s <= max as i64)
        .unwrap_or(120);
    let (y, m, _) = civil_from_days(lo.div_euclid(DAY));
    let mut index = y * 12 + i64::from(m) - 1;
    index += (step - index.rem_euclid(step)) % step;
    let mut ticks = Vec::new();
    loop {
        let t = days_from_civil(index.div_euclid(12), (index.rem_euclid(12) + 1) as u32, 1) * DAY;
        if t > hi {
            return ticks;
        }
        if t >= lo {
            ticks.push(t);
        }
        index += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_ticks_are_first_days_of_round_months() {
        // 2023-11-14 to about 2025-05.
        let lo = 1_700_000_000;
        let ticks = month_ticks(lo, lo + 540 * DAY, 8);
        let dates: Vec<String> = ticks.iter().map(|&t| date(t)).collect();
        assert_eq!(
            dates,
            [
                "2024-01-01",
                "2024-04-01",
                "2024-07-01",
                "2024-10-01",
                "2025-01-01",
                "2025-04-01"
            ]
        );
    }

    #[test]
    fn states_come_from_findings_and_long_validities_are_cut() {
        assert_eq!(State::of(&["self_signed", "expired"]), State::Expired);
        assert_eq!(State::of(&["expiring_soon"]), State::ExpiringSoon);
        assert_eq!(State::of(&[]), State::Valid);
        let at = 1_700_000_000;
        let rows = [
            CertRow {
                label: "CN=old".into(),
                tip: "CN=old expired".into(),
                not_before: at - 400 * DAY,
                not_after: at - 10 * DAY,
                state: State::Expired,
            },
            CertRow {
                label: "CN=root".into(),
                tip: "CN=root".into(),
                not_before: at - 3650 * DAY,
                not_after: at + 7300 * DAY,
                state: State::Valid,
            },
        ];
        // A capture whose last packet is stamped before its first still draws.
        assert!(calendar("certificates", &rows, (at + 60, at - 400 * DAY)).contains("→"));
        let svg = calendar("certificates", &rows, (at, at + 60));
        assert!(
            svg.contains("class=\"cert-expired\"><title>CN=old expired</title></polygon>"),
            "{svg}"
        );
        assert!(svg.contains(">→</text>"), "cut at the axis end: {svg}");
    }
}
