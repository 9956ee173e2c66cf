//! Prometheus's configuration value units: [`PromDuration`] (`1h30m`, `500ms`, `1y`) and
//! [`ByteSize`] (`512MB`, base 2 as Prometheus reads it).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written as Prometheus writes durations: units `y` (365 days), `w`, `d`, `h`,
/// `m`, `s` and `ms`, largest first, each at most once, or a bare `0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration(pub Duration);

/// A string that is not a Prometheus duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitParseError {
    /// What kind of value was expected: `"duration"` or `"size"`.
    pub what: &'static str,
    /// The rejected input.
    pub input: String,
}

impl fmt::Display for UnitParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a valid {} string: {:?}", self.what, self.input)
    }
}

impl std::error::Error for UnitParseError {}

impl PromDuration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        PromDuration(Duration::from_secs(secs))
    }

    /// The duration as a [`std::time::Duration`].
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for PromDuration {
    type Err = UnitParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ms = ember_exposition::duration::parse_duration(s)
            .map_err(|_| UnitParseError { what: "duration", input: s.to_string() })?;
        Ok(PromDuration(Duration::from_millis(ms.unsigned_abs())))
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ember_exposition::duration::write_duration(f, i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A size in bytes written with a unit: `B`, `KB`, `MB`, `GB`, `TB`, `PB`, `EB` (powers of
/// 1024, as Prometheus reads them; `KiB`-style spellings are accepted too). A bare `0` means
/// no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const SIZE_UNITS: [(&str, &str, u32); 7] = [
    ("B", "B", 0),
    ("KB", "KiB", 1),
    ("MB", "MiB", 2),
    ("GB", "GiB", 3),
    ("TB", "TiB", 4),
    ("PB", "PiB", 5),
    ("EB", "EiB", 6),
];

impl FromStr for ByteSize {
    type Err = UnitParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnitParseError { what: "size", input: s.to_string() };
        if s == "0" {
            return Ok(ByteSize(0));
        }
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (num, unit) = s.split_at(split);
        if num.is_empty() {
            return Err(err());
        }
        let n: u64 = num.parse().map_err(|_| err())?;
        let &(_, _, pow) = SIZE_UNITS.iter().find(|(a, b, _)| *a == unit || *b == unit).ok_or_else(err)?;
        n.checked_mul(1u64 << (10 * pow)).map(ByteSize).ok_or_else(err)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0B");
        }
        let (unit, _, pow) = SIZE_UNITS
            .iter()
            .rev()
            .find(|(_, _, p)| self.0 % (1u64 << (10 * p)) == 0)
            .copied()
            .unwrap_or(SIZE_UNITS[0]);
        write!(f, "{}{unit}", self.0 >> (10 * pow))
    }
}

macro_rules! serde_via_str {
    ($t:ty, $expecting:literal) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$t, E> {
                        s.parse().map_err(E::custom)
                    }
                    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<$t, E> {
                        self.visit_str(&n.to_string())
                    }
                    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<$t, E> {
                        self.visit_str(&n.to_string())
                    }
                }
                d.deserialize_any(V)
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

serde_via_str!(PromDuration, "a duration such as 1h30m");
serde_via_str!(ByteSize, "a size such as 512MB");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: u64 = 86_400_000;
    const YEAR: u64 = 365 * DAY;

    proptest! {
        #[test]
        fn duration_display_parse_round_trip(ms in 0u64..(200 * YEAR)) {
            let d = PromDuration(Duration::from_millis(ms));
            prop_assert_eq!(d.to_string().parse::<PromDuration>().unwrap(), d);
        }

        #[test]
        fn size_display_parse_round_trip(n in 0u64..(1 << 50), shift in 0u32..13) {
            let b = ByteSize(n << shift);
            prop_assert_eq!(b.to_string().parse::<ByteSize>().unwrap(), b);
        }

        #[test]
        fn duration_parse_never_panics(s in "[0-9a-z]{0,12}") {
            let _ = s.parse::<PromDuration>();
        }
    }

    #[track_caller]
    fn check(input: &str, want: Option<u64>) {
        let got = input.parse::<PromDuration>().ok().map(|d| d.0.as_millis() as u64);
        assert_eq!(got, want, "{input:?}");
        if let Some(ms) = want {
            // Round trip through Display.
            let shown = PromDuration(Duration::from_millis(ms)).to_string();
            assert_eq!(shown.parse::<PromDuration>().unwrap().0.as_millis() as u64, ms);
        }
    }

    /// The grammar is tested in `ember_exposition::duration`; this checks the wrapper.
    #[test]
    fn durations() {
        check("0", Some(0));
        check("15s", Some(15_000));
        check("1h30m", Some(90 * 60_000));
        check("1y", Some(YEAR));
        check("", None);
        check("1m1h", None);
        check("99999999999999999999y", None);
        assert_eq!(PromDuration(Duration::from_millis(90 * 60_000)).to_string(), "1h30m");
        assert_eq!(PromDuration(Duration::from_millis(90 * DAY)).to_string(), "90d");
        assert_eq!(PromDuration::default().to_string(), "0s");
    }

    #[test]
    fn sizes() {
        let p = |s: &str| s.parse::<ByteSize>().map(|b| b.0).ok();
        assert_eq!(p("0"), Some(0));
        assert_eq!(p("10B"), Some(10));
        assert_eq!(p("10MB"), Some(10 << 20));
        assert_eq!(p("1KiB"), Some(1024));
        assert_eq!(p("2GB"), Some(2 << 30));
        assert_eq!(p("10"), None);
        assert_eq!(p("MB"), None);
        assert_eq!(p("10mb"), None);
        assert_eq!(p("1.5MB"), None);
        assert_eq!(ByteSize(10 << 20).to_string(), "10MB");
        assert_eq!(ByteSize(1025).to_string(), "1025B");
    }
}
