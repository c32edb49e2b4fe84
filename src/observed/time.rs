//! RFC 3339 times as the records write them (`2026-11-22T16:18:37.177739Z`) and as users give
//! them (`--now 2027-01-01T00:00:00+01:00`), to and from microseconds since the epoch.

use crate::output::rfc3339_secs;

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// Parses an RFC 3339 date-time (`T` or space between date and time, optional fraction,
/// `Z` or a `±hh:mm` offset) into microseconds since 1970-01-01T00:00:00Z.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        b.get(range)?.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // A leap second reads as the last second of its minute.
    let second = second.min(59);
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            micros *= 10;
        }
    }
    let offset_secs = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let v = |d: u8| i64::from(d - b'0');
            let secs =
                (v(digits[0]) * 10 + v(digits[1])) * 3600 + (v(digits[2]) * 10 + v(digits[3])) * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1_000_000 + micros)
}

/// Formats microseconds since the epoch as RFC 3339 UTC with microseconds, as the records do.
pub fn format_micros(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let whole = rfc3339_secs(secs);
    match whole.strip_suffix('Z') {
        Some(stem) => format!("{stem}.{frac:06}Z"),
        None => whole,
    }
}

/// Formats microseconds since the epoch as RFC 3339 UTC to the second.
pub fn format_secs(micros: i64) -> String {
    rfc3339_secs(micros.div_euclid(1_000_000))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_records_write() {
        let t = parse_rfc3339("2026-11-22T16:18:37.177739Z").unwrap();
        assert_eq!(format_micros(t), "2026-11-22T16:18:37.177739Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00Z"),
            Some(951_868_800_000_000)
        );
    }

    #[test]
    fn offsets_and_fractions() {
        let utc = parse_rfc3339("2027-01-01T00:00:00Z").unwrap();
        assert_eq!(parse_rfc3339("2027-01-01T01:00:00+01:00"), Some(utc));
        assert_eq!(parse_rfc3339("2026-12-31T23:30:00-00:30"), Some(utc));
        assert_eq!(parse_rfc3339("2027-01-01 00:00:00.5Z"), Some(utc + 500_000));
        assert_eq!(
            parse_rfc3339("2027-01-01T00:00:00.123456789Z"),
            Some(utc + 123_456)
        );
        assert_eq!(format_secs(utc + 999_999), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn rejects_what_is_not_a_time() {
        for bad in [
            "",
            "2027-01-01",
            "2027-13-01T00:00:00Z",
            "2027-01-01T00:00:00",
            "2027-01-01T00:00:00+0100",
            "2027-01-01T00:00:00.Z",
            "yesterday at noon please",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
