//! RFC 3339 times as every output writes them: capture timestamps with microseconds, and
//! certificate validity dates in whole seconds.

use serde::Serialize;

use super::json::{self, Json};

use crate::flow::Timestamp;

/// Formats a capture timestamp as RFC 3339 UTC with microseconds.
pub fn rfc3339_micros(ts: Timestamp) -> String {
    Rfc3339::micros(ts).to_string()
}

/// Formats seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339_secs(secs: i64) -> String {
    Rfc3339::secs(secs).to_string()
}

/// An RFC 3339 UTC time that formats itself (`Display`, and as a JSON string), so that records
/// carry their times without a `String` each.
#[derive(Clone, Copy)]
pub(super) struct Rfc3339 {
    secs: i64,
    /// Microseconds within the second, when they are to be written.
    micros: Option<i64>,
}

impl Rfc3339 {
    pub(super) fn micros(ts: Timestamp) -> Self {
        let micros = ts.as_micros();
        Rfc3339 {
            secs: micros.div_euclid(1_000_000),
            micros: Some(micros.rem_euclid(1_000_000)),
        }
    }

    pub(super) fn secs(secs: i64) -> Self {
        Rfc3339 { secs, micros: None }
    }
}

/// `"00"` to `"99"`: two digits per table look-up.
const PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        pairs[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    pairs
};

/// The last two decimal digits of `v`.
fn pair(v: u64) -> [u8; 2] {
    PAIRS[(v % 100) as usize]
}

/// The text of an [`Rfc3339`] formatted by hand: `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
struct Rfc3339Text {
    buf: [u8; 27],
    len: usize,
}

impl Rfc3339Text {
    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.bytes()).ok()
    }
}

impl Rfc3339 {
    /// The time formatted by hand into a fixed-size array, two digits per table look-up (no
    /// `core::fmt`, no bounds check per piece); `None` for years outside 0..=9999, which
    /// `Display` writes the general way.
    fn text(&self) -> Option<Rfc3339Text> {
        let days = self.secs.div_euclid(86_400);
        // Within 0..86_400, so each part has two digits.
        let rem = self.secs.rem_euclid(86_400).unsigned_abs();
        let (y, m, d) = civil_from_days(days);
        let y = u64::try_from(y).ok().filter(|&y| y <= 9999)?;
        let mut buf = *b"0000-00-00T00:00:00.000000Z";
        [buf[0], buf[1]] = pair(y / 100);
        [buf[2], buf[3]] = pair(y);
        [buf[5], buf[6]] = pair(m.into());
        [buf[8], buf[9]] = pair(d.into());
        [buf[11], buf[12]] = pair(rem / 3600);
        [buf[14], buf[15]] = pair(rem / 60 % 60);
        [buf[17], buf[18]] = pair(rem % 60);
        let len = match self.micros {
            Some(frac) => {
                let frac = frac.unsigned_abs();
                [buf[20], buf[21]] = pair(frac / 10_000);
                [buf[22], buf[23]] = pair(frac / 100);
                [buf[24], buf[25]] = pair(frac);
                27
            }
            None => {
                buf[19] = b'Z';
                20
            }
        };
        Some(Rfc3339Text { buf, len })
    }
}

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.text().as_ref().and_then(Rfc3339Text::as_str) {
            Some(s) => f.write_str(s),
            None => self.write_general(f),
        }
    }
}

impl Rfc3339 {
    /// Any year, through `core::fmt`.
    fn write_general(&self, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )?;
        if let Some(frac) = self.micros {
            write!(f, ".{frac:06}")?;
        }
        f.write_str("Z")
    }
}

impl Json for Rfc3339 {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        match self.text() {
            Some(text) => out.extend_from_slice(text.bytes()),
            None => {
                let _ = std::fmt::write(&mut json::Text(out), format_args!("{self}"));
            }
        }
        out.push(b'"');
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.text().as_ref().and_then(Rfc3339Text::as_str) {
            Some(text) => s.serialize_str(text),
            None => s.collect_str(self),
        }
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Proleptic Gregorian date to days since 1970-01-01 (H. Hinnant's algorithm; the inverse of
/// [`civil_from_days`]).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads a UTC time as users give it (`--now`): `2025-01-31`, `2025-01-31T12:00:00Z` (or
/// with a space, without the `Z`), or seconds since the epoch. Seconds since the epoch.
pub fn parse_utc(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<i64>() {
        return Ok(secs);
    }
    let bad = || format!("'{text}' is not a UTC time (e.g. 2025-01-31 or 2025-01-31T12:00:00Z)");
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm.trim_end_matches('Z')),
        None => (t, "00:00:00"),
    };
    let num = |s: &str| s.parse::<u32>().map_err(|_| bad());
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d) = (y.parse::<i64>().map_err(|_| bad())?, num(m)?, num(d)?);
    let clock: Vec<&str> = time.split(':').collect();
    let (hh, mm, ss) = match clock.as_slice() {
        [h, m] => (num(h)?, num(m)?, 0),
        [h, m, s] => (num(h)?, num(m)?, num(s)?),
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return Err(bad());
    }
    Ok(days * 86_400 + i64::from(hh * 3600 + mm * 60 + ss))
}

/// Reads back a time written by [`rfc3339_micros`] (`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, years
/// 0000–9999), for reports read back by `tlsight merge`; `None` for any other text.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let month = u32::try_from(month).ok().filter(|m| (1..=12).contains(m))?;
    let day = u32::try_from(day).ok().filter(|d| (1..=31).contains(d))?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let nanos = match b.get(19) {
        Some(b'Z') if b.len() == 20 => 0,
        Some(b'.') if b.last() == Some(&b'Z') => {
            let frac = b.get(20..b.len() - 1)?;
            if frac.is_empty() || frac.len() > 9 {
                return None;
            }
            let n = num(20..b.len() - 1)?;
            n * 10i64.pow(9 - frac.len() as u32)
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(Timestamp::from_parts(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_as_users_give_them() {
        assert_eq!(parse_utc("1970-01-01"), Ok(0));
        assert_eq!(parse_utc("2000-02-29T00:00:00Z"), Ok(951_782_400));
        assert_eq!(parse_utc("2023-11-14 22:13:20"), Ok(1_700_000_000));
        assert_eq!(parse_utc("2023-11-14T22:13"), Ok(1_699_999_980));
        assert_eq!(parse_utc("1700000000"), Ok(1_700_000_000));
        for bad in [
            "2023-02-30",
            "2023-13-01",
            "yesterday",
            "2023-11-14T25:00:00Z",
        ] {
            assert!(parse_utc(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes() {
        for ts in [
            0,
            951_782_400_123_456_000,
            -1_000,
            1_763_827_118_632_301_000,
        ] {
            let ts = Timestamp(ts);
            assert_eq!(
                parse_rfc3339(&rfc3339_micros(ts)),
                Some(Timestamp(ts.0.div_euclid(1000) * 1000))
            );
        }
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:01Z"),
            Some(Timestamp(1_000_000_000))
        );
        for bad in [
            "",
            "1970-01-01",
            "1970-13-01T00:00:00Z",
            "1970-01-01T00:00:00",
            "x970-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_secs(-1), "1969-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_micros(Timestamp::from_parts(1_700_000_000, 123_456_789)),
            "2023-11-14T22:13:20.123456Z"
        );
    }

    #[test]
    fn rfc3339_by_hand_matches_core_fmt_and_leaves_odd_years_to_it() {
        let general = |t: Rfc3339| {
            let mut s = String::new();
            t.write_general(&mut s).unwrap();
            s
        };
        // Every ~11.6 days from year 0 to 9999, and every second around the epoch.
        let first = -62_167_219_200i64;
        let last = 253_402_300_799i64;
        let sweep = (first..=last).step_by(1_000_003).chain(-100_000..100_000);
        for secs in sweep.chain([first, last]) {
            for t in [
                Rfc3339::secs(secs),
                Rfc3339::micros(Timestamp(secs * 1_000_000 + 7)),
            ] {
                let fast = t.text();
                assert_eq!(
                    fast.as_ref().and_then(Rfc3339Text::as_str),
                    Some(general(t).as_str())
                );
            }
        }
        for secs in [
            first - 1,
            last + 1,
            i64::MIN / 1_000_000,
            i64::MAX / 1_000_000,
        ] {
            assert!(Rfc3339::secs(secs).text().is_none());
        }
        assert_eq!(rfc3339_secs(last + 1), "10000-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(first - 1), "-001-12-31T23:59:59Z");
    }
}
