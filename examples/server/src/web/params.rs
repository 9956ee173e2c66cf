//! Request parameters as Prometheus's HTTP API reads them.

use std::fmt;

/// A request parameter that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter's name (`time`, `start`, `step`, …).
    pub param: String,
    /// What was wrong, in Prometheus's words.
    pub message: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid parameter {:?}: {}", self.param, self.message)
    }
}

impl std::error::Error for ParamError {}

fn err(param: &str, message: impl Into<String>) -> ParamError {
    ParamError { param: param.to_owned(), message: message.into() }
}

/// The earliest time the API accepts and prints (Go's `math.MinInt64 / 2` ms as Prometheus).
pub const MIN_TIME_MS: i64 = -9_223_372_036_854_775_808 / 2 / 1_000_000 * 1000;
/// The latest time the API accepts.
pub const MAX_TIME_MS: i64 = 9_223_372_036_854_775_807 / 2 / 1_000_000 * 1000;

/// Reads a time: Unix seconds with an optional fraction (`1435781451.781`) or RFC 3339
/// (`2015-07-01T20:10:51.781Z`). Returns milliseconds.
pub fn parse_time(param: &str, s: &str) -> Result<i64, ParamError> {
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(err(param, format!("cannot parse {s:?} to a valid timestamp")));
        }
        let ms = (f * 1000.0).round();
        if ms < MIN_TIME_MS as f64 || ms > MAX_TIME_MS as f64 {
            return Err(err(param, format!("cannot parse {s:?} to a valid timestamp")));
        }
        return Ok(ms as i64);
    }
    match s.parse::<jiff::Timestamp>() {
        Ok(ts) => Ok(ts.as_millisecond()),
        Err(_) => Err(err(param, format!("cannot parse {s:?} to a valid timestamp"))),
    }
}

/// Reads a duration: seconds with an optional fraction (`15`, `0.5`) or a Prometheus
/// duration (`5m`, `1h30m`). Returns milliseconds.
pub fn parse_duration(param: &str, s: &str) -> Result<i64, ParamError> {
    if let Ok(f) = s.parse::<f64>() {
        let ms = f * 1000.0;
        if !ms.is_finite() || ms.abs() >= i64::MAX as f64 {
            return Err(err(param, format!("cannot parse {s:?} to a valid duration. It overflows int64")));
        }
        return Ok(ms.round() as i64);
    }
    ember_promql::series::parse_duration_ms(s)
        .ok_or_else(|| err(param, format!("cannot parse {s:?} to a valid duration")))
}

/// Decodes an `application/x-www-form-urlencoded` string (a query string or a POST body)
/// into pairs, in order; repeated keys (`match[]`) repeat.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (unescape(k), unescape(v)),
            None => (unescape(p), String::new()),
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The parameters of one request, from the query string and (for POST) the form body.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parameters from a query string and an optional form body (body values come after).
    pub fn new(query: Option<&str>, body: Option<&str>) -> Self {
        let mut all = query.map(parse_form).unwrap_or_default();
        if let Some(b) = body {
            all.extend(parse_form(b));
        }
        Params(all)
    }

    /// The first value of `key`, if present and non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == key && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (for `match[]`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// `key` as a time, or `default` when absent.
    pub fn time_or(&self, key: &str, default: i64) -> Result<i64, ParamError> {
        self.get(key).map_or(Ok(default), |s| parse_time(key, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("time", "1435781451.781").unwrap(), 1_435_781_451_781);
        assert_eq!(parse_time("time", "1").unwrap(), 1000);
        assert_eq!(parse_time("time", "2015-07-01T20:10:51.781Z").unwrap(), 1_435_781_451_781);
        assert_eq!(parse_time("time", "2015-07-01T22:10:51.781+02:00").unwrap(), 1_435_781_451_781);
        let e = parse_time("start", "yesterday").unwrap_err();
        assert_eq!(e.to_string(), r#"invalid parameter "start": cannot parse "yesterday" to a valid timestamp"#);
        assert!(parse_time("time", "NaN").is_err());
        assert!(parse_time("time", "1e300").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("step", "15").unwrap(), 15_000);
        assert_eq!(parse_duration("step", "0.5").unwrap(), 500);
        assert_eq!(parse_duration("step", "1h30m").unwrap(), 5_400_000);
        assert!(parse_duration("step", "1x").is_err());
        assert!(parse_duration("step", "1e30").is_err());
    }

    #[test]
    fn forms() {
        let p = Params::new(Some("query=up%7Bjob%3D%22a%22%7D&match[]=a&match%5B%5D=b+c&x"), Some("time=5"));
        assert_eq!(p.get("query"), Some("up{job=\"a\"}"));
        assert_eq!(p.all("match[]"), vec!["a", "b c"]);
        assert_eq!(p.get("x"), None);
        assert_eq!(p.get("time"), Some("5"));
        assert_eq!(parse_form("a=%zz%4"), vec![("a".to_owned(), "%zz%4".to_owned())]);
    }
}
