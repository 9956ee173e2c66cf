//! The expanding series notation of PromQL test scripts and `promtool test rules`:
//! `metric{label="value"} 1 2+3x4 _ stale _x3 -1-1x2 {{schema:0 sum:1 count:2}}`.
//!
//! `a+bxn` is `a`, then `n` further values each `b` larger (added step by step, so rounding
//! matches Prometheus's runner); `a-bxn` counts down; `axn` is `a` repeated `n + 1` times;
//! `_` is a missing sample and `_xn` is `n` of them; `stale` is the staleness marker. Native
//! histograms in `{{…}}` are parsed into a [`HistogramSpec`] so callers can report or skip them.

use std::fmt;

use ember_exposition::{Label, Labels, METRIC_NAME_LABEL};

/// One value slot of a series.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    /// A float sample.
    Float(f64),
    /// The staleness marker.
    Stale,
    /// No sample at this step (`_`).
    Missing,
    /// A native histogram sample.
    Histogram(Box<HistogramSpec>),
}

/// A native histogram written as `{{schema:1 sum:3 count:22 buckets:[5 10 7]}}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramSpec {
    /// `schema`.
    pub schema: i32,
    /// `sum`.
    pub sum: f64,
    /// `count`.
    pub count: f64,
    /// `z_bucket`: the zero bucket's count.
    pub zero_count: f64,
    /// `z_bucket_w`: the zero bucket's width.
    pub zero_threshold: f64,
    /// `buckets`: positive bucket counts.
    pub buckets: Vec<f64>,
    /// `offset`: index of the first positive bucket.
    pub offset: i32,
    /// `n_buckets`: negative bucket counts.
    pub n_buckets: Vec<f64>,
    /// `n_offset`: index of the first negative bucket.
    pub n_offset: i32,
    /// `custom_values`: bucket bounds for schema -53.
    pub custom_values: Vec<f64>,
    /// `counter_reset_hint`, when given (`unknown`, `reset`, `not_reset`, `gauge`).
    pub counter_reset_hint: Option<String>,
}

impl HistogramSpec {
    fn scaled(&self, f: f64) -> HistogramSpec {
        let mut h = self.clone();
        h.sum *= f;
        h.count *= f;
        h.zero_count *= f;
        h.buckets.iter_mut().chain(h.n_buckets.iter_mut()).for_each(|b| *b *= f);
        h
    }

    /// The same histogram at a lower resolution `target` (< schema): buckets merge as
    /// native histograms merge them.
    fn reduced(&self, target: i32) -> HistogramSpec {
        if target >= self.schema {
            return self.clone();
        }
        let shift = (self.schema - target) as u32;
        let re = |v: &[f64], off: i32| -> (Vec<f64>, i32) {
            if v.is_empty() {
                return (Vec::new(), 0);
            }
            // Bucket indices are 1-based boundaries: idx -> ((idx - 1) >> shift) + 1.
            let map = |i: i32| ((i - 1) >> shift) + 1;
            let lo = map(off);
            let hi = map(off + v.len() as i32 - 1);
            let mut out = vec![0.0; (hi - lo + 1) as usize];
            for (k, x) in v.iter().enumerate() {
                out[(map(off + k as i32) - lo) as usize] += x;
            }
            (out, lo)
        };
        let (buckets, offset) = re(&self.buckets, self.offset);
        let (n_buckets, n_offset) = re(&self.n_buckets, self.n_offset);
        HistogramSpec { schema: target, buckets, offset, n_buckets, n_offset, ..self.clone() }
    }

    /// Adds `d` bucket by bucket (both must share a schema, and custom bounds for schema -53).
    pub fn add(&self, d: &HistogramSpec) -> Result<HistogramSpec, String> {
        if self.schema != d.schema {
            if self.schema == -53 || d.schema == -53 {
                return Err("cannot add a custom-bucket histogram to an exponential one".into());
            }
            // Adding reduces to the lower resolution, as native histograms do.
            let target = self.schema.min(d.schema);
            return self.reduced(target).add(&d.reduced(target));
        }
        if self.schema == -53 && !d.custom_values.is_empty() && self.custom_values != d.custom_values {
            return Err("cannot add histograms with different custom bucket bounds".into());
        }
        fn merge(a: &[f64], ao: i32, b: &[f64], bo: i32) -> (Vec<f64>, i32) {
            if a.is_empty() {
                return (b.to_vec(), bo);
            }
            if b.is_empty() {
                return (a.to_vec(), ao);
            }
            let lo = ao.min(bo);
            let hi = (ao + a.len() as i32).max(bo + b.len() as i32);
            let mut v = vec![0.0; (hi - lo) as usize];
            for (i, x) in a.iter().enumerate() {
                v[(ao - lo) as usize + i] += x;
            }
            for (i, x) in b.iter().enumerate() {
                v[(bo - lo) as usize + i] += x;
            }
            (v, lo)
        }
        let (buckets, offset) = merge(&self.buckets, self.offset, &d.buckets, d.offset);
        let (n_buckets, n_offset) = merge(&self.n_buckets, self.n_offset, &d.n_buckets, d.n_offset);
        Ok(HistogramSpec {
            schema: self.schema,
            sum: self.sum + d.sum,
            count: self.count + d.count,
            zero_count: self.zero_count + d.zero_count,
            zero_threshold: self.zero_threshold.max(d.zero_threshold),
            buckets,
            offset,
            n_buckets,
            n_offset,
            custom_values: self.custom_values.clone(),
            counter_reset_hint: self.counter_reset_hint.clone(),
        })
    }
}

/// A series description: labels and expanded values.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDesc {
    /// The series labels, including `__name__` when a name was given.
    pub labels: Labels,
    /// The values, one per step.
    pub values: Vec<SeriesValue>,
    /// Written as `labels@st …`: the values are start (created) timestamps, given as
    /// durations relative to each step, in milliseconds.
    pub start_timestamps: bool,
}

/// A series description that does not parse, with the byte column (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesError {
    /// Byte column in the input, from 1.
    pub column: usize,
    /// What was expected.
    pub message: String,
}

impl fmt::Display for SeriesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for SeriesError {}

struct Cur<'a> {
    s: &'a str,
    i: usize,
    /// Values are signed durations (`-30s`), read as milliseconds.
    durations: bool,
}

impl<'a> Cur<'a> {
    fn err(&self, message: impl Into<String>) -> SeriesError {
        SeriesError { column: self.i + 1, message: message.into() }
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s.as_bytes()[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self, metric: bool) -> &'a str {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' || (metric && c == b':') {
                self.i += 1;
            } else {
                break;
            }
        }
        &self.s[start..self.i]
    }

    fn string(&mut self) -> Result<String, SeriesError> {
        let q = self.peek().ok_or_else(|| self.err("expected a quoted string"))?;
        if !matches!(q, b'"' | b'\'' | b'`') {
            return Err(self.err("expected a quoted string"));
        }
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(ch) = self.s[self.i..].chars().next() else {
                self.i = start;
                return Err(self.err("unterminated quoted string"));
            };
            self.i += ch.len_utf8();
            if ch as u32 == u32::from(q) {
                return Ok(out);
            }
            if ch == '\\' && q != b'`' {
                let Some(e) = self.s[self.i..].chars().next() else {
                    return Err(self.err("unterminated escape"));
                };
                self.i += e.len_utf8();
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' => '\\',
                    '"' => '"',
                    '\'' => '\'',
                    'a' => '\x07',
                    'b' => '\x08',
                    'f' => '\x0c',
                    'v' => '\x0b',
                    other => return Err(self.err(format!("unknown escape sequence \\{other}"))),
                });
            } else {
                out.push(ch);
            }
        }
    }

    /// A float token: decimal, exponent, `Inf`, `NaN`, with an optional sign; in duration
    /// mode a signed duration such as `-1m30s`, in milliseconds.
    fn number(&mut self) -> Result<f64, SeriesError> {
        let start = self.i;
        if self.durations {
            let b = self.s.as_bytes();
            let mut j = self.i;
            let neg = b.get(j) == Some(&b'-');
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let body_start = j;
            while b.get(j).is_some_and(|c| c.is_ascii_digit() || matches!(c, b'y' | b'w' | b'd' | b'h' | b'm' | b's')) {
                j += 1;
            }
            let ms = parse_duration_ms(&self.s[body_start..j])
                .ok_or_else(|| self.err(format!("expected a duration, found {:?}", &self.s[start..j])))?;
            self.i = j;
            return Ok(if neg { -(ms as f64) } else { ms as f64 });
        }
        let b = self.s.as_bytes();
        let mut j = self.i;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let rest = &self.s[j..];
        let lower = rest.get(..3).map(str::to_ascii_lowercase);
        if lower.as_deref() == Some("inf") || lower.as_deref() == Some("nan") {
            j += 3;
            if rest.get(..8).is_some_and(|r| r.eq_ignore_ascii_case("infinity")) {
                j += 5;
            }
        } else {
            while b.get(j).is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
                j += 1;
            }
            if matches!(b.get(j), Some(b'e' | b'E')) {
                let mut k = j + 1;
                if matches!(b.get(k), Some(b'+' | b'-')) {
                    k += 1;
                }
                if b.get(k).is_some_and(u8::is_ascii_digit) {
                    while b.get(k).is_some_and(u8::is_ascii_digit) {
                        k += 1;
                    }
                    j = k;
                }
            }
        }
        let tok = &self.s[start..j];
        let v = parse_float(tok).ok_or_else(|| {
            let word = self.s[start..].split(|c: char| c.is_ascii_whitespace()).next().unwrap_or("");
            self.err(format!("expected a number, found {word:?}"))
        })?;
        self.i = j;
        Ok(v)
    }
}

/// Parses a Prometheus duration (`1m30s`, `500ms`, `0`) into milliseconds; `None` when it
/// is not one (see [`ember_exposition::duration`]).
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    ember_exposition::duration::parse_duration(s).ok()
}

/// Parses a float as the scripts write them: decimal, exponent, `Inf`, `NaN` (no hex: in
/// `0+0x10` the `x` is the repetition marker).
pub fn parse_float(tok: &str) -> Option<f64> {
    let (neg, body) = match tok.as_bytes().first()? {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    let v = if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        f64::INFINITY
    } else if body.eq_ignore_ascii_case("nan") {
        f64::NAN
    } else {
        if body.is_empty() || !body.as_bytes()[0].is_ascii_digit() && body.as_bytes()[0] != b'.' {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn parse_labels(c: &mut Cur<'_>) -> Result<Labels, SeriesError> {
    let mut v: Vec<Label> = Vec::new();
    c.ws();
    let mut name = None;
    if c.peek().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':') {
        name = Some(c.ident(true).to_string());
    }
    let braces = c.peek() == Some(b'{');
    if c.eat(b'{') {
        loop {
            c.ws();
            if c.eat(b'}') {
                break;
            }
            let lname = if matches!(c.peek(), Some(b'"' | b'\'' | b'`')) {
                let s = c.string()?;
                c.ws();
                if matches!(c.peek(), Some(b',' | b'}')) {
                    // A quoted metric name: {"my.metric", ...}.
                    if name.is_some() {
                        return Err(c.err("metric name given twice"));
                    }
                    name = Some(s);
                    c.eat(b',');
                    continue;
                }
                s
            } else {
                let s = c.ident(false);
                if s.is_empty() {
                    return Err(c.err("expected a label name"));
                }
                s.to_string()
            };
            c.ws();
            if !c.eat(b'=') {
                return Err(c.err(format!("expected '=' after label name {lname:?}")));
            }
            c.ws();
            let value = c.string()?;
            v.push(Label::new(lname, value));
            c.ws();
            if c.eat(b',') {
                continue;
            }
            if c.eat(b'}') {
                break;
            }
            return Err(c.err("expected ',' or '}' in label set"));
        }
    }
    if let Some(n) = name {
        v.push(Label::new(METRIC_NAME_LABEL, n));
    }
    if v.is_empty() && !braces {
        return Err(c.err("expected a metric name or a label set"));
    }
    Ok(Labels::from_vec(v))
}

fn parse_list(c: &mut Cur<'_>) -> Result<Vec<f64>, SeriesError> {
    c.ws();
    if !c.eat(b'[') {
        return Err(c.err("expected '['"));
    }
    let mut out = Vec::new();
    loop {
        c.ws();
        if c.eat(b']') {
            return Ok(out);
        }
        out.push(c.number()?);
        c.ws();
        c.eat(b',');
    }
}

fn parse_histogram(c: &mut Cur<'_>) -> Result<HistogramSpec, SeriesError> {
    // Called after "{{".
    let mut h = HistogramSpec::default();
    loop {
        c.ws();
        if c.s[c.i..].starts_with("}}") {
            c.i += 2;
            return Ok(h);
        }
        let key = c.ident(false).to_string();
        if key.is_empty() {
            return Err(c.err("expected a histogram field name or '}}'"));
        }
        c.ws();
        if !c.eat(b':') {
            return Err(c.err(format!("expected ':' after histogram field {key:?}")));
        }
        c.ws();
        let int = |c: &mut Cur<'_>| -> Result<i32, SeriesError> {
            let at = c.i;
            let v = c.number()?;
            if v.fract() != 0.0 || v.abs() > f64::from(i32::MAX) {
                c.i = at;
                return Err(c.err("expected an integer"));
            }
            Ok(v as i32)
        };
        match key.as_str() {
            "schema" => h.schema = int(c)?,
            "sum" => h.sum = c.number()?,
            "count" => h.count = c.number()?,
            "z_bucket" => h.zero_count = c.number()?,
            "z_bucket_w" => h.zero_threshold = c.number()?,
            "buckets" => h.buckets = parse_list(c)?,
            "offset" => h.offset = int(c)?,
            "n_buckets" => h.n_buckets = parse_list(c)?,
            "n_offset" => h.n_offset = int(c)?,
            "custom_values" => h.custom_values = parse_list(c)?,
            "counter_reset_hint" => {
                let v = c.ident(false);
                if !matches!(v, "unknown" | "reset" | "not_reset" | "gauge") {
                    return Err(c.err(format!("invalid counter_reset_hint {v:?}")));
                }
                h.counter_reset_hint = Some(v.to_string());
            }
            other => return Err(c.err(format!("unknown histogram field {other:?}"))),
        }
    }
}

/// Parses the values part of a series description (everything after the labels).
pub fn parse_values(s: &str) -> Result<Vec<SeriesValue>, SeriesError> {
    let mut c = Cur { s, i: 0, durations: false };
    parse_values_at(&mut c)
}

/// At most this many values in one series description, so a typo like `1x99999999999`
/// is an error rather than an allocation of terabytes.
pub const MAX_SERIES_VALUES: usize = 1_000_000;

fn times(c: &mut Cur<'_>) -> Result<Option<usize>, SeriesError> {
    if !c.eat(b'x') {
        return Ok(None);
    }
    let start = c.i;
    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
        c.i += 1;
    }
    if start == c.i {
        return Err(c.err("expected a repetition count after 'x'"));
    }
    match c.s[start..c.i].parse::<usize>() {
        Ok(n) if n < MAX_SERIES_VALUES => Ok(Some(n)),
        _ => {
            c.i = start;
            Err(c.err(format!("repetition count too large (at most {} values per series)", MAX_SERIES_VALUES - 1)))
        }
    }
}

fn parse_values_at(c: &mut Cur<'_>) -> Result<Vec<SeriesValue>, SeriesError> {
    let mut out = Vec::new();
    loop {
        c.ws();
        let Some(b) = c.peek() else { return Ok(out) };
        let tok_start = c.i;
        if b == b'_' {
            c.i += 1;
            let n = times(c)?.unwrap_or(1);
            out.extend(std::iter::repeat_n(SeriesValue::Missing, n));
        } else if c.s[c.i..].starts_with("stale") {
            c.i += 5;
            if times(c)?.is_some() {
                c.i = tok_start;
                return Err(c.err("stale cannot be repeated"));
            }
            out.push(SeriesValue::Stale);
        } else if c.s[c.i..].starts_with("{{") {
            c.i += 2;
            let h = parse_histogram(c)?;
            let delta = match c.peek() {
                Some(sign @ (b'+' | b'-')) => {
                    c.i += 1;
                    if !c.s[c.i..].starts_with("{{") {
                        return Err(c.err("expected '{{' after a histogram increment"));
                    }
                    c.i += 2;
                    let d = parse_histogram(c)?;
                    Some(if sign == b'-' { d.scaled(-1.0) } else { d })
                }
                _ => None,
            };
            match (times(c)?, delta) {
                (Some(n), delta) => {
                    let mut k = h;
                    for step in 0..=n {
                        if step > 0
                            && let Some(d) = &delta
                        {
                            let at = c.i;
                            k = k.add(d).map_err(|m| SeriesError { column: at + 1, message: m })?;
                        }
                        out.push(SeriesValue::Histogram(Box::new(k.clone())));
                    }
                }
                (None, Some(_)) => return Err(c.err("expected 'x' and a count after a histogram increment")),
                (None, None) => out.push(SeriesValue::Histogram(Box::new(h))),
            }
        } else {
            let a = c.number()?;
            let step = match c.peek() {
                Some(b'+') | Some(b'-') => {
                    let neg = c.peek() == Some(b'-');
                    c.i += 1;
                    let d = c.number()?;
                    if neg { -d } else { d }
                }
                _ => 0.0,
            };
            match times(c)? {
                Some(n) => {
                    let mut k = a;
                    for _ in 0..=n {
                        out.push(SeriesValue::Float(k));
                        k += step;
                    }
                }
                None if step != 0.0 => {
                    return Err(c.err("expected 'x' and a count after an increment"));
                }
                None => out.push(SeriesValue::Float(a)),
            }
        }
        if let Some(b) = c.peek()
            && !b.is_ascii_whitespace()
        {
            return Err(c.err(format!("unexpected {:?} in series values", b as char)));
        }
        if out.len() > MAX_SERIES_VALUES {
            c.i = tok_start;
            return Err(c.err(format!("too many values (at most {MAX_SERIES_VALUES} per series)")));
        }
    }
}

/// Parses `metric{a="b"} 1 2+3x4 …` into labels and expanded values.
pub fn parse_series_desc(s: &str) -> Result<SeriesDesc, SeriesError> {
    let mut c = Cur { s, i: 0, durations: false };
    let labels = parse_labels(&mut c)?;
    let start_timestamps = c.s[c.i..].starts_with("@st");
    if start_timestamps {
        c.i += 3;
    }
    if c.peek().is_some_and(|b| !b.is_ascii_whitespace()) {
        return Err(c.err("expected whitespace after the series labels"));
    }
    c.durations = start_timestamps;
    let values = parse_values_at(&mut c)?;
    Ok(SeriesDesc { labels, values, start_timestamps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_exposition::labels;

    fn floats(v: &[SeriesValue]) -> Vec<String> {
        v.iter()
            .map(|x| match x {
                SeriesValue::Float(f) => f.to_string(),
                SeriesValue::Stale => "stale".into(),
                SeriesValue::Missing => "_".into(),
                SeriesValue::Histogram(_) => "h".into(),
            })
            .collect()
    }

    #[track_caller]
    fn check(input: &str, want_labels: Labels, want: &str) {
        let d = parse_series_desc(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(d.labels, want_labels, "{input:?}");
        assert_eq!(floats(&d.values).join(" "), want, "{input:?}");
    }

    #[test]
    fn expanding_notation() {
        let m = labels! {"__name__" => "m"};
        check("m -2+4x3", m.clone(), "-2 2 6 10");
        check("m 1-2x4", m.clone(), "1 -1 -3 -5 -7");
        check("m 1x4", m.clone(), "1 1 1 1 1");
        check("m 1 _x3 stale", m.clone(), "1 _ _ _ stale");
        check("m 0+10x2 _ 5", m.clone(), "0 10 20 _ 5");
        check("m Inf -Inf NaN", m.clone(), "inf -inf NaN");
        check("m 1e3 -1e-3 0x10", m.clone(), "1000 -0.001 0 0 0 0 0 0 0 0 0 0 0");
        check("m 0+0x2", m.clone(), "0 0 0");
        check("m", m.clone(), "");
        check("m 1+1e1x1", m, "1 11");
    }

    #[test]
    fn label_sets() {
        check(r#"m{a="b", c='d'} 1"#, labels! {"__name__" => "m", "a" => "b", "c" => "d"}, "1");
        check(r#"{__name__="m", a="x\"y"} 1"#, labels! {"__name__" => "m", "a" => "x\"y"}, "1");
        check(r#"{"my.metric", "a.b"="c"} 2"#, labels! {"__name__" => "my.metric", "a.b" => "c"}, "2");
        check(r#"{a="b"} 1"#, labels! {"a" => "b"}, "1");
        check(r#"m:rec{} 1"#, labels! {"__name__" => "m:rec"}, "1");
    }

    #[test]
    fn histograms() {
        let d = parse_series_desc(
            "h {{schema:1 sum:-0.3 count:3.1 z_bucket:7 buckets:[5 10 7] offset:-3 counter_reset_hint:gauge}} 1",
        )
        .unwrap();
        let SeriesValue::Histogram(h) = &d.values[0] else { panic!("not a histogram") };
        assert_eq!((h.schema, h.sum, h.count, h.offset), (1, -0.3, 3.1, -3));
        assert_eq!(h.buckets, [5.0, 10.0, 7.0]);
        assert_eq!(h.counter_reset_hint.as_deref(), Some("gauge"));
        assert_eq!(d.values[1], SeriesValue::Float(1.0));
        let d =
            parse_series_desc("h {{count:1 buckets:[1] offset:1}}+{{count:2 buckets:[1 1] offset:0}}x2 {{sum:1}}x1")
                .unwrap();
        let hs: Vec<&HistogramSpec> =
            d.values.iter().map(|v| if let SeriesValue::Histogram(h) = v { &**h } else { panic!() }).collect();
        assert_eq!(hs.len(), 5);
        assert_eq!((hs[2].count, hs[2].offset, hs[2].buckets.clone()), (5.0, 0, vec![2.0, 3.0]));
        assert_eq!(hs[4].sum, 1.0);
    }

    #[test]
    fn errors() {
        let e = |s: &str| parse_series_desc(s).unwrap_err().to_string();
        assert_eq!(e("m 1+2"), "column 6: expected 'x' and a count after an increment");
        assert_eq!(e("m{a=b} 1"), "column 5: expected a quoted string");
        assert_eq!(e("m 1x"), "column 5: expected a repetition count after 'x'");
        assert_eq!(e("m abc"), "column 3: expected a number, found \"abc\"");
        assert_eq!(e("1 1"), "column 1: expected a metric name or a label set");
        assert_eq!(parse_series_desc("{} 1").unwrap().labels, Labels::empty());
        assert_eq!(e("m {{foo:1}}"), "column 9: unknown histogram field \"foo\"");
        assert_eq!(e("m 1x99999999999"), "column 5: repetition count too large (at most 999999 values per series)");
        assert!(e(&format!("m{}", " 1x600000".repeat(2))).contains("too many values"));
    }
}
