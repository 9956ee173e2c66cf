//! The Prometheus text format 0.0.4, with Prometheus 3's quoted UTF-8 names.
//!
//! [`Parser`] is the streaming, zero-copy entry iterator; [`parse`] builds owned
//! [`MetricFamily`]s on top of it; [`encode`] writes families back.
//!
//! ```
//! use ember_exposition::text;
//! use ember_exposition::text::Entry;
//!
//! let input = "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 1027 1395066363000\n";
//! let mut values = Vec::new();
//! for entry in text::Parser::new(input) {
//!     if let Entry::Sample(s) = entry.unwrap() {
//!         let code = s.labels.get("code").unwrap();
//!         values.push((s.name, code, s.value, s.timestamp));
//!     }
//! }
//! assert_eq!(values, [("http_requests_total".into(), "200".into(), 1027.0, Some(1395066363000))]);
//!
//! // The owned API names counter families without `_total`.
//! let families = text::parse(input).unwrap();
//! assert_eq!(families[0].name, "http_requests");
//! let mut out = String::new();
//! text::encode(&mut out, &families).unwrap();
//! assert_eq!(out, input);
//! ```
//!
//! Format rules as Prometheus reads them: spaces and tabs may separate any tokens, blank
//! lines and `#` comments are allowed, a trailing comma may close a label set, values are
//! Go float literals without hex or underscores (`Inf`, `Infinity`, `NaN` in any case),
//! and timestamps are optional integer milliseconds. TYPE accepts `counter`, `gauge`,
//! `histogram`, `summary` and `untyped`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::lex::{
    Cursor, NumError, parse_float, parse_int_timestamp, unescape, write_float, write_meta_name, write_series,
};
pub use crate::lex::{Entry, ExemplarRef, Found, LabelIter, LabelsRef, ParseError, ParseErrorKind, SampleRef};
use crate::model::{MetricFamily, MetricType};
use crate::names::write_escaped_help;

/// Streaming, zero-copy parser: an iterator of [`Entry`]s borrowing from the input.
///
/// It allocates nothing per sample (a quoted name with escape sequences is the only
/// exception). After an error it yields nothing more; entries before it are valid.
/// Beyond syntax it checks only what one line shows (duplicate label names); grouping
/// of samples into families is [`parse`]'s job.
pub struct Parser<'a> {
    cur: Cursor<'a>,
    done: bool,
    entry_line: usize,
}

impl<'a> Parser<'a> {
    /// A parser over `input`.
    pub fn new(input: &'a str) -> Self {
        Parser { cur: Cursor::new(input, true), done: false, entry_line: 0 }
    }

    /// A parser over bytes, which must be UTF-8 (checked once, here).
    pub fn from_bytes(input: &'a [u8]) -> Result<Self, ParseError> {
        Ok(Parser::new(check_utf8(input)?))
    }

    /// The 1-based line of the entry most recently returned.
    pub fn line(&self) -> usize {
        self.entry_line
    }

    fn entry(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        let c = &mut self.cur;
        loop {
            c.skip_ws();
            match c.peek() {
                None => return Ok(None),
                Some(b'\n') => c.next_line(),
                Some(b'#') => {
                    self.entry_line = c.line;
                    let e = comment(c)?;
                    c.next_line();
                    return Ok(Some(e));
                }
                Some(_) => {
                    self.entry_line = c.line;
                    let s = sample(c)?;
                    c.next_line();
                    return Ok(Some(Entry::Sample(s)));
                }
            }
        }
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

pub(crate) fn check_utf8(input: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(input).map_err(|e| {
        let ok = &input[..e.valid_up_to()];
        let line = ok.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = ok.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = std::str::from_utf8(&ok[start..]).map_or(1, |s| s.chars().count() + 1);
        ParseError { line, column, kind: ParseErrorKind::InvalidUtf8 }
    })
}

fn comment<'a>(c: &mut Cursor<'a>) -> Result<Entry<'a>, ParseError> {
    c.pos += 1;
    let after_hash = c.pos;
    c.skip_ws();
    let rest = &c.b[c.pos..];
    let kw = |k: &[u8]| rest.starts_with(k) && matches!(rest.get(4), Some(b' ' | b'\t'));
    let is_help = kw(b"HELP");
    if !is_help && !kw(b"TYPE") {
        c.pos = after_hash;
        return Ok(Entry::Comment(c.rest_of_line()));
    }
    c.pos += 4;
    c.skip_ws();
    let name = c.metric_name("metric name")?;
    if is_help {
        if !c.at_eol() {
            if !matches!(c.peek(), Some(b' ' | b'\t')) {
                return Err(c.expected("whitespace after metric name"));
            }
            c.skip_ws();
        }
        let help = unescape(c.rest_of_line(), false);
        return Ok(Entry::Help { name, help });
    }
    if !matches!(c.peek(), Some(b' ' | b'\t')) {
        return Err(c.expected("whitespace and a metric type after metric name"));
    }
    c.skip_ws();
    let start = c.pos;
    let word = c.token();
    let metric_type = match word {
        b"counter" => MetricType::Counter,
        b"gauge" => MetricType::Gauge,
        b"histogram" => MetricType::Histogram,
        b"summary" => MetricType::Summary,
        b"untyped" => MetricType::Unknown,
        _ => {
            let w = String::from_utf8_lossy(word).into_owned();
            return Err(c.error_at(start, ParseErrorKind::InvalidMetricType(w)));
        }
    };
    c.skip_ws();
    if !c.at_eol() {
        return Err(c.expected("end of line after metric type"));
    }
    Ok(Entry::Type { name, metric_type })
}

#[inline]
fn sample<'a>(c: &mut Cursor<'a>) -> Result<SampleRef<'a>, ParseError> {
    let mut name = c.legacy_metric_name().map(Cow::Borrowed);
    let mut labels = LabelsRef::EMPTY;
    if name.is_some() && c.peek() != Some(b'{') {
        if !matches!(c.peek(), Some(b' ' | b'\t')) {
            return Err(c.expected("whitespace and a value after metric name"));
        }
        c.skip_ws();
    }
    if c.peek() == Some(b'{') {
        let (l, quoted) = c.labels(name.is_none())?;
        labels = l;
        if quoted.is_some() {
            name = quoted;
        }
        c.skip_ws();
    }
    let Some(name) = name else {
        return Err(c.expected("metric name"));
    };
    let vstart = c.pos;
    let tok = c.token();
    if tok.is_empty() {
        return Err(c.expected("a value"));
    }
    let value = match parse_float(tok) {
        Ok(v) => v,
        Err(NumError::Syntax) => {
            c.pos = vstart;
            return Err(c.expected("a float value"));
        }
        Err(NumError::Range) => return Err(c.error_at(vstart, ParseErrorKind::NumberOutOfRange)),
    };
    c.skip_ws();
    let mut timestamp = None;
    if !c.at_eol() {
        let tstart = c.pos;
        let tok = c.token();
        timestamp = match parse_int_timestamp(tok) {
            Ok(t) => Some(t),
            Err(NumError::Syntax) => {
                c.pos = tstart;
                return Err(c.expected("an integer timestamp or end of line"));
            }
            Err(NumError::Range) => return Err(c.error_at(tstart, ParseErrorKind::NumberOutOfRange)),
        };
        c.skip_ws();
        if !c.at_eol() {
            return Err(c.expected("end of line after timestamp"));
        }
    }
    Ok(SampleRef { name, labels, value, timestamp, exemplar: None })
}

// ---------------------------------------------------------------------------------------
// Owned parsing

struct Building {
    /// The name as written in metadata, or the first sample name of an untyped family.
    key: String,
    family: MetricFamily,
    typed: bool,
}

/// Whether sample `s` belongs to the family written as `key` with type `t`.
fn belongs(key: &str, t: MetricType, s: &str) -> bool {
    let suffix = |suf: &str| s.len() == key.len() + suf.len() && s.starts_with(key) && s.ends_with(suf);
    match t {
        MetricType::Counter => {
            let base = key.strip_suffix("_total").unwrap_or(key);
            s == key || s == base || s.strip_prefix(base).is_some_and(|r| r == "_total" || r == "_created")
        }
        MetricType::Summary => s == key || suffix("_sum") || suffix("_count") || suffix("_created"),
        MetricType::Histogram => suffix("_bucket") || suffix("_sum") || suffix("_count") || suffix("_created"),
        _ => s == key,
    }
}

/// Parses a whole text-format exposition into families, in order of first appearance.
///
/// Samples join the family whose TYPE/HELP name they fit (`_total`, `_created` for
/// counters, `_sum`, `_count`, `_created` for summaries, plus `_bucket` for histograms);
/// a sample that fits no family starts an untyped one. Counter families are named
/// without `_total`. A second TYPE or HELP for a family, or a TYPE after its samples, is
/// an error, as is a histogram bucket without a numeric `le` or a summary quantile
/// without a numeric `quantile`.
pub fn parse(input: &str) -> Result<Vec<MetricFamily>, ParseError> {
    let mut parser = Parser::new(input);
    let mut fams: Vec<Building> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut current: Option<usize> = None;
    let mut help_seen: Vec<bool> = Vec::new();
    let at = |p: &Parser<'_>, kind| ParseError { line: p.line(), column: 1, kind };

    fn get_or_create(fams: &mut Vec<Building>, by_key: &mut HashMap<String, usize>, key: &str) -> usize {
        if let Some(&i) = by_key.get(key) {
            return i;
        }
        fams.push(Building { key: key.to_string(), family: MetricFamily::new(key, MetricType::Unknown), typed: false });
        by_key.insert(key.to_string(), fams.len() - 1);
        fams.len() - 1
    }

    while let Some(entry) = parser.next() {
        match entry? {
            Entry::Help { name, help } => {
                let i = get_or_create(&mut fams, &mut by_key, &name);
                help_seen.resize(fams.len(), false);
                if help_seen[i] {
                    let kind = ParseErrorKind::DuplicateMetadata { family: name.into_owned(), what: "HELP" };
                    return Err(at(&parser, kind));
                }
                help_seen[i] = true;
                fams[i].family.help = Some(help.into_owned());
                current = Some(i);
            }
            Entry::Type { name, metric_type } => {
                let i = get_or_create(&mut fams, &mut by_key, &name);
                help_seen.resize(fams.len(), false);
                let f = &mut fams[i];
                if f.typed {
                    let kind = ParseErrorKind::DuplicateMetadata { family: name.into_owned(), what: "TYPE" };
                    return Err(at(&parser, kind));
                }
                if !f.family.samples.is_empty() {
                    return Err(at(&parser, ParseErrorKind::MetadataAfterSamples(name.into_owned())));
                }
                f.typed = true;
                f.family.metric_type = metric_type;
                current = Some(i);
            }
            Entry::Sample(s) => {
                let i = match current.filter(|&i| belongs(&fams[i].key, fams[i].family.metric_type, &s.name)) {
                    Some(i) => i,
                    None => {
                        let name: &str = &s.name;
                        let mut candidates: Vec<Cow<'_, str>> = vec![Cow::Borrowed(name)];
                        for suf in ["_total", "_created", "_sum", "_count", "_bucket"] {
                            if let Some(base) = name.strip_suffix(suf) {
                                candidates.push(Cow::Borrowed(base));
                                if suf == "_created" {
                                    candidates.push(Cow::Owned(format!("{base}_total")));
                                }
                            }
                        }
                        candidates.push(Cow::Owned(format!("{name}_total")));
                        let found = candidates.iter().find_map(|k| {
                            by_key
                                .get(k.as_ref())
                                .copied()
                                .filter(|&i| belongs(&fams[i].key, fams[i].family.metric_type, name))
                        });
                        match found {
                            Some(i) => i,
                            None if by_key.contains_key(name) => {
                                let f = &fams[by_key[name]];
                                return Err(at(
                                    &parser,
                                    ParseErrorKind::InvalidSampleName {
                                        sample: name.to_string(),
                                        family: f.key.clone(),
                                        metric_type: f.family.metric_type,
                                    },
                                ));
                            }
                            None => {
                                let i = get_or_create(&mut fams, &mut by_key, name);
                                help_seen.resize(fams.len(), false);
                                i
                            }
                        }
                    }
                };
                current = Some(i);
                let f = &mut fams[i];
                let t = f.family.metric_type;
                if t == MetricType::Histogram && s.name.ends_with("_bucket") {
                    check_numeric_label(&parser, &s, "le")?;
                } else if t == MetricType::Summary && s.name == f.key {
                    check_numeric_label(&parser, &s, "quantile")?;
                }
                f.family.samples.push(s.to_sample());
            }
            Entry::Comment(_) | Entry::Unit { .. } | Entry::Eof => {}
        }
    }
    Ok(fams
        .into_iter()
        .map(|mut b| {
            if b.family.metric_type == MetricType::Counter {
                if let Some(base) = b.key.strip_suffix("_total") {
                    b.family.name = base.to_string();
                }
            }
            b.family
        })
        .collect())
}

fn check_numeric_label(p: &Parser<'_>, s: &SampleRef<'_>, label: &str) -> Result<(), ParseError> {
    let at = |kind| ParseError { line: p.line(), column: 1, kind };
    match s.labels.get(label) {
        None => Err(at(ParseErrorKind::MissingLabel(label.to_string()))),
        Some(v) if parse_float(v.as_bytes()).is_err() => {
            Err(at(ParseErrorKind::InvalidLabelValue { label: label.to_string(), value: v.into_owned() }))
        }
        Some(_) => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// Encoding

/// The name and type a family gets on its TYPE line in the text format. A counter is
/// written under `<name>_total` unless its samples use the bare name or another family
/// already takes that name.
fn text_key<'f>(f: &'f MetricFamily, taken: &mut HashSet<String>) -> (Cow<'f, str>, &'static str) {
    match f.metric_type {
        MetricType::Counter => {
            let total = format!("{}_total", f.name);
            let bare = f.samples.iter().any(|s| s.name == f.name) || taken.contains(&total);
            let key = if bare && !taken.contains(&f.name) { f.name.clone() } else { total };
            taken.insert(key.clone());
            (Cow::Owned(key), "counter")
        }
        MetricType::Gauge => (Cow::Borrowed(&f.name), "gauge"),
        MetricType::Histogram => (Cow::Borrowed(&f.name), "histogram"),
        MetricType::GaugeHistogram => (Cow::Borrowed(&f.name), "histogram"),
        MetricType::Summary => (Cow::Borrowed(&f.name), "summary"),
        MetricType::Info => (Cow::Owned(format!("{}_info", f.name)), "gauge"),
        MetricType::StateSet => (Cow::Borrowed(&f.name), "gauge"),
        MetricType::Unknown => (Cow::Borrowed(&f.name), "untyped"),
    }
}

/// Writes families in the text format 0.0.4.
///
/// Counter families are written under `<name>_total` (or `<name>` when their samples
/// use the bare name); OpenMetrics-only types are written as the closest 0.0.4 type
/// (info and stateset as gauge, gauge histogram as histogram, unknown as untyped);
/// units and exemplars have no place in this format and are dropped. Names outside the
/// legacy character set are quoted. Floats are written in their shortest exact form.
pub fn encode<W: fmt::Write>(out: &mut W, families: &[MetricFamily]) -> fmt::Result {
    let mut taken: HashSet<String> =
        families.iter().filter(|f| f.metric_type != MetricType::Counter).map(|f| f.name.clone()).collect();
    for f in families {
        let (key, t) = text_key(f, &mut taken);
        if let Some(help) = &f.help {
            out.write_str("# HELP ")?;
            write_meta_name(out, &key)?;
            out.write_char(' ')?;
            write_escaped_help(out, help)?;
            out.write_char('\n')?;
        }
        out.write_str("# TYPE ")?;
        write_meta_name(out, &key)?;
        out.write_char(' ')?;
        out.write_str(t)?;
        out.write_char('\n')?;
        for s in &f.samples {
            write_series(out, &s.name, &s.labels)?;
            out.write_char(' ')?;
            write_float(out, s.value)?;
            if let Some(ts) = s.timestamp {
                write!(out, " {ts}")?;
            }
            out.write_char('\n')?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;
    use crate::model::Sample;

    #[track_caller]
    fn check_err(input: &str, want: &str) {
        let err = parse(input).expect_err(input);
        assert_eq!(err.to_string(), want, "{input:?}");
    }

    #[track_caller]
    fn check(input: &str, want: &[MetricFamily]) {
        let got = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert!(got.len() == want.len() && got.iter().zip(want).all(|(a, b)| a.bit_eq(b)), "{got:#?}\n!=\n{want:#?}");
        let mut out = String::new();
        encode(&mut out, &got).unwrap();
        let again = parse(&out).unwrap_or_else(|e| panic!("{out:?}: {e}"));
        assert!(again.iter().zip(&got).all(|(a, b)| a.bit_eq(b)) && again.len() == got.len(), "{out}");
    }

    fn fam(name: &str, t: MetricType, help: Option<&str>, samples: Vec<Sample>) -> MetricFamily {
        MetricFamily { name: name.into(), metric_type: t, help: help.map(Into::into), unit: None, samples }
    }

    #[test]
    fn spec_examples() {
        let input = r#"
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045
"#;
        let mut s1 = Sample::new("http_requests_total", labels! {"method" => "post", "code" => "200"}, 1027.0);
        s1.timestamp = Some(1395066363000);
        let mut s2 = Sample::new("http_requests_total", labels! {"method" => "post", "code" => "400"}, 3.0);
        s2.timestamp = Some(1395066363000);
        let mut w = Sample::new("something_weird", labels! {"problem" => "division by zero"}, f64::INFINITY);
        w.timestamp = Some(-3982045);
        check(
            input,
            &[
                fam("http_requests", MetricType::Counter, Some("The total number of HTTP requests."), vec![s1, s2]),
                fam(
                    "msdos_file_access_time_seconds",
                    MetricType::Unknown,
                    None,
                    vec![Sample::new(
                        "msdos_file_access_time_seconds",
                        labels! {"path" => r"C:\DIR\FILE.TXT", "error" => "Cannot find file:\n\"FILE.TXT\""},
                        1.458255915e9,
                    )],
                ),
                fam(
                    "metric_without_timestamp_and_labels",
                    MetricType::Unknown,
                    None,
                    vec![Sample::new("metric_without_timestamp_and_labels", labels! {}, 12.47)],
                ),
                fam("something_weird", MetricType::Unknown, None, vec![w]),
            ],
        );
    }

    #[test]
    fn histogram_summary_and_utf8() {
        let input = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n\
                     # TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n\
                     {\"my.metric\", \"a.b\"=\"c\",} 1\n# HELP \"my.metric\" dotted\n";
        let got = parse(input).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].samples.len(), 4);
        assert_eq!(got[1].samples.len(), 3);
        assert_eq!(got[2].name, "my.metric");
        assert_eq!(got[2].help.as_deref(), Some("dotted"));
        assert_eq!(got[2].samples[0].labels, labels! {"a.b" => "c"});
        let mut out = String::new();
        encode(&mut out, &got).unwrap();
        assert!(out.contains("{\"my.metric\",\"a.b\"=\"c\"} 1\n"), "{out}");
        assert!(parse(&out).unwrap().iter().zip(&got).all(|(a, b)| a.bit_eq(b)));
    }

    #[test]
    fn counters_keep_their_sample_names() {
        let input = "# TYPE c counter\nc 1\n# TYPE d_total counter\nd_total 1\nd_created 5\n";
        let got = parse(input).unwrap();
        assert_eq!((got[0].name.as_str(), got[0].samples[0].name.as_str()), ("c", "c"));
        assert_eq!((got[1].name.as_str(), got[1].samples.len()), ("d", 2));
        let mut out = String::new();
        encode(&mut out, &got).unwrap();
        assert_eq!(out, input);
    }

    #[test]
    fn counter_key_does_not_collide_with_other_family() {
        check(
            "# HELP a_total h\n# TYPE a counter\na_total 1\n",
            &[
                fam("a_total", MetricType::Unknown, Some("h"), vec![]),
                fam("a", MetricType::Counter, None, vec![Sample::new("a_total", labels! {}, 1.0)]),
            ],
        );
    }

    #[test]
    fn two_counters_with_one_model_name() {
        let got = parse("# TYPE a counter\na_total 1\n# TYPE a_total counter\na_total 2\n").unwrap();
        assert_eq!(got.len(), 2);
        let mut out = String::new();
        encode(&mut out, &got).unwrap();
        let again = parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert!(again.len() == 2 && again.iter().zip(&got).all(|(a, b)| a.bit_eq(b)), "{out}");
    }

    #[test]
    fn whitespace_comments_and_blank_lines() {
        let got = parse("  # a comment\n\n\t a {  x = \"1\" , y=\"2\" }\t2\t 5 \t\n#HELPER no\nb 1").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].samples[0].labels, labels! {"x" => "1", "y" => "2"});
        assert_eq!(got[0].samples[0].timestamp, Some(5));
    }

    #[test]
    fn errors() {
        check_err("a{b\"c\"} 1\n", "line 1, column 4: expected '=' after label name, found '\"'");
        check_err("a 1\n\nb{x=\"1\" y=\"2\"} 1\n", "line 3, column 9: expected ',' or '}' after label, found 'y'");
        check_err("a{x=\"1\",x=\"2\"} 1\n", "line 1, column 9: duplicate label name \"x\"");
        check_err("a\n", "line 1, column 2: expected whitespace and a value after metric name, found end of line");
        check_err("a 1 2 3\n", "line 1, column 7: expected end of line after timestamp, found '3'");
        check_err("a 0x1\n", "line 1, column 3: expected a float value, found '0'");
        check_err("a 1 1.5\n", "line 1, column 5: expected an integer timestamp or end of line, found '1'");
        check_err("a 1e999\n", "line 1, column 3: number out of range");
        check_err("# TYPE a info\n", "line 1, column 10: invalid metric type \"info\"");
        check_err("# TYPE a gauge\n# TYPE a gauge\n", "line 2, column 1: second TYPE line for family \"a\"");
        check_err("a 1\n# TYPE a gauge\n", "line 2, column 1: metadata for family \"a\" after its samples");
        check_err("a{x=\"1} 1\n", "line 1, column 10: expected closing '\"', found end of line");
        check_err("# TYPE h histogram\nh_bucket 1\n", "line 2, column 1: missing label \"le\"");
        check_err(
            "# TYPE h histogram\nh 1\n",
            "line 2, column 1: sample name \"h\" is not valid for histogram family \"h\"",
        );
        check_err("{} 1\n", "line 1, column 4: expected metric name, found '1'");
    }

    #[test]
    fn streaming_reports_error_at_bad_line() {
        let mut p = Parser::new("a 1\nb 2\nc{ 3\n");
        assert!(matches!(p.next(), Some(Ok(Entry::Sample(_)))));
        assert!(matches!(p.next(), Some(Ok(Entry::Sample(_)))));
        let e = p.next().unwrap().unwrap_err();
        assert_eq!((e.line, e.column), (3, 4));
        assert!(p.next().is_none());
    }

    #[test]
    fn invalid_utf8_position() {
        let e = Parser::from_bytes(b"a 1\nb{x=\"\xff\"} 1\n").err().unwrap();
        assert_eq!((e.line, e.column, e.kind), (2, 6, ParseErrorKind::InvalidUtf8));
    }
}
