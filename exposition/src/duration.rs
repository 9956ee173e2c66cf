//! Prometheus durations: `1h30m`, `500ms`, `2w`, `1y`, the form configuration files, PromQL
//! range selectors, flags, rule files and templates all use.
//!
//! One parser and one printer serve every crate, so they cannot disagree on edge cases:
//!
//! - Units are `y` (365 days), `w`, `d`, `h`, `m`, `s`, `ms`; each may appear at most once,
//!   largest first, each with a non-negative integer amount (`1h30m`, never `30m1h`, `1.5h`
//!   or `-5m`). A bare `0` is zero; the empty string is an error.
//! - The printer writes `0s` for zero and otherwise the shortest unit sequence, except that
//!   years and weeks are used only when they divide the duration exactly: `90d`, not
//!   `12w6d`; `14d` prints as `2w`.
//!
//! ```
//! use ember_exposition::duration::{format_duration, parse_duration};
//!
//! assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
//! assert_eq!(format_duration(90 * 86_400_000), "90d");
//! assert!(parse_duration("30m1h").is_err());
//! ```

use std::fmt;

const MS: i64 = 1;
const SEC: i64 = 1000 * MS;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
const YEAR: i64 = 365 * DAY;

/// Units in the only order they may appear, with their length in milliseconds and whether
/// the printer uses them only when they divide the value exactly.
const UNITS: [(&str, i64, bool); 7] = [
    ("y", YEAR, true),
    ("w", WEEK, true),
    ("d", DAY, false),
    ("h", HOUR, false),
    ("m", MIN, false),
    ("s", SEC, false),
    ("ms", MS, false),
];

/// Why a string is not a Prometheus duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurationErrorKind {
    /// The string is empty.
    Empty,
    /// The string does not have the `<int><unit>…` form, a unit is unknown, repeated or out
    /// of order.
    Invalid,
    /// The value does not fit in 64-bit milliseconds.
    OutOfRange,
}

/// A string that is not a Prometheus duration: the input and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    /// The rejected input.
    pub input: String,
    /// What is wrong with it.
    pub kind: DurationErrorKind,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DurationErrorKind::Empty => f.write_str("empty duration string"),
            DurationErrorKind::Invalid => write!(f, "not a valid duration string: {:?}", self.input),
            DurationErrorKind::OutOfRange => write!(f, "duration out of range: {:?}", self.input),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses a Prometheus duration into milliseconds (see the [module docs](self) for the
/// grammar). The result is never negative.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    let err = |kind| DurationError { input: s.to_string(), kind };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err(DurationErrorKind::Empty));
    }
    let b = s.as_bytes();
    let (mut i, mut next_unit, mut total) = (0usize, 0usize, 0i64);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(err(DurationErrorKind::Invalid));
        }
        let digits = &s[start..i];
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let Some(pos) = UNITS[next_unit..].iter().position(|(u, _, _)| *u == unit) else {
            return Err(err(DurationErrorKind::Invalid));
        };
        let mult = UNITS[next_unit + pos].1;
        next_unit += pos + 1;
        total = digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| err(DurationErrorKind::OutOfRange))?;
    }
    Ok(total)
}

/// Writes `ms` as a Prometheus duration; a negative value gets a leading `-` (PromQL
/// offsets), zero is `0s`.
pub fn write_duration(out: &mut impl fmt::Write, ms: i64) -> fmt::Result {
    if ms == 0 {
        return out.write_str("0s");
    }
    if ms < 0 {
        out.write_char('-')?;
    }
    let mut rest = ms.unsigned_abs();
    for (unit, size, exact) in UNITS {
        let size = size as u64;
        if exact && rest % size != 0 {
            continue;
        }
        if rest >= size {
            write!(out, "{}{unit}", rest / size)?;
            rest %= size;
        }
    }
    Ok(())
}

/// `ms` as a Prometheus duration string (see [`write_duration`]).
pub fn format_duration(ms: i64) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_duration(&mut s, ms);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn check(input: &str, want: Result<i64, DurationErrorKind>) {
        assert_eq!(parse_duration(input).map_err(|e| e.kind), want, "{input:?}");
    }

    #[test]
    fn parses() {
        use DurationErrorKind::*;
        check("0", Ok(0));
        check("0s", Ok(0));
        check("0h", Ok(0));
        check("5m", Ok(300_000));
        check("1h30m", Ok(5_400_000));
        check("100ms", Ok(100));
        check("1m100ms", Ok(60_100));
        check("20s500ms", Ok(20_500));
        check("2w1d", Ok(15 * DAY));
        check("1y", Ok(YEAR));
        check("1y2w3d4h5m6s7ms", Ok(YEAR + 2 * WEEK + 3 * DAY + 4 * HOUR + 5 * MIN + 6 * SEC + 7));
        check("", Err(Empty));
        check("5", Err(Invalid));
        check("m", Err(Invalid));
        check("30m1h", Err(Invalid));
        check("1h1h", Err(Invalid));
        check("1s1m", Err(Invalid));
        check("1ms1s", Err(Invalid));
        check("-5m", Err(Invalid));
        check("1.5h", Err(Invalid));
        check("5M", Err(Invalid));
        check("5 m", Err(Invalid));
        check("5mm", Err(Invalid));
        check("99999999999999999999s", Err(OutOfRange));
        check("300000000y", Err(OutOfRange));
    }

    #[test]
    fn formats() {
        for (ms, want) in [
            (0, "0s"),
            (1, "1ms"),
            (5_400_000, "1h30m"),
            (90_061_001, "1d1h1m1s1ms"),
            (90 * DAY, "90d"),
            (14 * DAY, "2w"),
            (15 * DAY, "15d"),
            (YEAR, "1y"),
            (YEAR + DAY, "366d"),
            (2 * YEAR, "2y"),
            (2 * YEAR + 2 * WEEK, "744d"),
            (-300_000, "-5m"),
        ] {
            assert_eq!(format_duration(ms), want, "{ms}");
        }
    }

    proptest! {
        #[test]
        fn print_then_parse_is_identity(ms in 0i64..=i64::MAX / 2) {
            prop_assert_eq!(parse_duration(&format_duration(ms)).unwrap(), ms);
        }
    }
}
