//! Prometheus durations (`1h30m`, `5m`, `100ms`, `2w`), held as milliseconds.

use std::fmt;

const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// A non-negative span of time in milliseconds, written as Prometheus writes durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub i64);

impl Duration {
    /// `n` seconds.
    pub const fn from_secs(n: i64) -> Self {
        Duration(n * 1000)
    }

    /// `n` minutes.
    pub const fn from_mins(n: i64) -> Self {
        Duration(n * 60_000)
    }

    /// The length in milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses `1h30m` and friends; units must appear in descending order, each once.
    pub fn parse(s: &str) -> Result<Duration, String> {
        if s == "0" {
            return Ok(Duration(0));
        }
        if s.is_empty() {
            return Err("empty duration string".into());
        }
        let mut rest = s;
        let mut total: i64 = 0;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("not a valid duration string: {s:?}"));
            }
            let n: i64 = rest[..digits].parse().map_err(|_| format!("duration out of range: {s:?}"))?;
            rest = &rest[digits..];
            // "ms" must be tried before "m".
            let unit = UNITS
                .iter()
                .enumerate()
                .skip(next_unit)
                .filter(|(_, (u, _))| rest.starts_with(u))
                .max_by_key(|(_, (u, _))| u.len())
                .ok_or_else(|| format!("not a valid duration string: {s:?}"))?;
            let (i, (u, mult)) = unit;
            total = n
                .checked_mul(*mult)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("duration out of range: {s:?}"))?;
            rest = &rest[u.len()..];
            next_unit = i + 1;
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (u, mult) in UNITS {
            if ms >= mult {
                write!(f, "{}{u}", ms / mult)?;
                ms %= mult;
            }
        }
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, want: Option<i64>) {
        assert_eq!(Duration::parse(input).ok().map(|d| d.0), want, "{input}");
        if let Some(w) = want {
            assert_eq!(Duration::parse(&Duration(w).to_string()).unwrap().0, w);
        }
    }

    #[test]
    fn parse() {
        check("0", Some(0));
        check("5m", Some(300_000));
        check("1h30m", Some(5_400_000));
        check("100ms", Some(100));
        check("1m100ms", Some(60_100));
        check("2w1d", Some(15 * 86_400_000));
        check("1y", Some(365 * 86_400_000));
        check("", None);
        check("5", None);
        check("m", None);
        check("30m1h", None);
        check("1h1h", None);
        check("-5m", None);
        check("1.5h", None);
        assert_eq!(Duration(5_400_000).to_string(), "1h30m");
        assert_eq!(Duration(0).to_string(), "0s");
    }
}
