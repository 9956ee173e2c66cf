//! Prometheus durations (`1h30m`, `5m`, `100ms`, `2w`), held as milliseconds.

use std::fmt;

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

    /// Parses `1h30m` and friends; units must appear in descending order, each once (see
    /// [`ember_exposition::duration`]).
    pub fn parse(s: &str) -> Result<Duration, String> {
        ember_exposition::duration::parse_duration(s).map(Duration).map_err(|e| e.to_string())
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ember_exposition::duration::write_duration(f, self.0)
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
