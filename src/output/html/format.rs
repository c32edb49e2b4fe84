//! Numbers with units for people: counts with thousands separators, shares as percentages,
//! durations in µs/ms/s, capture times in UTC, and HTML escaping. Every function is pure and
//! formats floats with a fixed precision, so the page's bytes depend only on the report.

use std::fmt;

use crate::flow::Timestamp;
use crate::output::time::Rfc3339;

/// Text escaped for HTML content and double- or single-quoted attribute values.
pub(super) struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// `1234567` → `1,234,567`.
pub(super) use crate::output::table::thousands as count;

/// `part` of `whole` as a percentage with one decimal (`12.5 %`); `<0.1 %` for a non-zero
/// share that would round to zero, `–` when `whole` is zero.
pub(super) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if part > 0 && p < 0.05 {
        "<0.1 %".into()
    } else {
        format!("{p:.1} %")
    }
}

/// A duration in microseconds with three significant digits and its unit: `850 µs`,
/// `18.4 ms`, `1.47 s`, `95.2 s`.
pub(super) fn micros(us: u64) -> String {
    let (value, unit) = if us < 1_000 {
        return format!("{us} µs");
    } else if us < 1_000_000 {
        (us as f64 / 1_000.0, "ms")
    } else {
        (us as f64 / 1_000_000.0, "s")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

/// An axis tick of a round number of microseconds, in whole units where it is one: `100 µs`,
/// `1 ms`, `20 ms`, `1 s` (else as [`micros`]).
pub(super) fn micros_tick(us: u64) -> String {
    if us >= 1_000_000 && us.is_multiple_of(1_000_000) {
        format!("{} s", us / 1_000_000)
    } else if us >= 1_000 && us.is_multiple_of(1_000) {
        format!("{} ms", us / 1_000)
    } else {
        micros(us)
    }
}

/// A span of time for a sentence: `35 ms`, `2 min 30 s`, `3 d 4 h`.
pub(super) fn span(ns: i64) -> String {
    let ns = ns.max(0);
    let secs = ns / 1_000_000_000;
    if secs < 60 {
        return micros((ns / 1_000) as u64);
    }
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h) {
        (0, 0) => format!("{m} min {s} s"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// A bin width or step in whole units where it has them: `1 ms`, `20 s`, `10 min`, `6 h`,
/// `2 d` (else as [`span`]).
pub(super) fn width(ns: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "min"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
    ];
    UNITS
        .iter()
        .find(|&&(unit, _)| ns >= unit && ns % unit == 0)
        .map_or_else(|| span(ns), |&(unit, name)| format!("{} {name}", ns / unit))
}

/// A capture time as `2023-11-14 22:13:20.123 UTC` (milliseconds).
pub(super) fn time(ts: Timestamp) -> String {
    let text = Rfc3339::micros(ts).to_string();
    match (text.get(..10), text.get(11..23)) {
        (Some(date), Some(clock)) if text.len() == 27 => format!("{date} {clock} UTC"),
        _ => text,
    }
}

/// A date (seconds since the epoch) as `2024-05-01`.
pub(super) fn date(secs: i64) -> String {
    let text = Rfc3339::secs(secs).to_string();
    text.get(..10).map_or(text.clone(), str::to_string)
}

/// A coordinate for SVG: one decimal, no trailing `.0`, so charts stay small and their bytes
/// stable.
pub(super) fn coord(v: f64) -> String {
    let rounded = (v * 10.0).round() / 10.0;
    if rounded == rounded.trunc() {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded:.1}")
    }
}

/// `text` cut to `max` characters with an ellipsis, for chart labels (the full text goes in a
/// tooltip).
pub(super) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            Esc("<a href=\"x\">Tom & 'Jerry'</a>").to_string(),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(Esc("plain").to_string(), "plain");
    }

    #[test]
    fn numbers_with_units() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(90_000), "90,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(percent(1, 3), "33.3 %");
        assert_eq!(percent(1, 100_000), "<0.1 %");
        assert_eq!(percent(0, 10), "0.0 %");
        assert_eq!(percent(1, 0), "–");
        assert_eq!(micros(850), "850 µs");
        assert_eq!(micros(18_432), "18.4 ms");
        assert_eq!(micros(184_319), "184 ms");
        assert_eq!(micros(1_474_559), "1.47 s");
        assert_eq!(micros_tick(100), "100 µs");
        assert_eq!(micros_tick(20_000), "20 ms");
        assert_eq!(micros_tick(10_000_000), "10 s");
        assert_eq!(micros_tick(1_500), "1.50 ms");
        assert_eq!(span(35_000_000), "35.0 ms");
        assert_eq!(width(20_000_000_000), "20 s");
        assert_eq!(width(1_000_000), "1 ms");
        assert_eq!(width(600_000_000_000), "10 min");
        assert_eq!(width(172_800_000_000_000), "2 d");
        assert_eq!(width(1_500_000), "1.50 ms");
        assert_eq!(span(150_000_000_000), "2 min 30 s");
        assert_eq!(
            span(3 * 86_400_000_000_000 + 4 * 3_600_000_000_000),
            "3 d 4 h"
        );
        assert_eq!(
            time(Timestamp::from_parts(1_700_000_000, 123_456_789)),
            "2023-11-14 22:13:20.123 UTC"
        );
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(coord(12.04), "12");
        assert_eq!(coord(-3.24), "-3.2");
        assert_eq!(coord(7.06), "7.1");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
