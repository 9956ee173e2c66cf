//! The OpenMetrics 1.0 text format, with Prometheus 3's quoted UTF-8 names.
//!
//! [`Parser`] is the streaming, zero-copy entry iterator and enforces the format's rules
//! line by line; [`parse`] builds owned [`MetricFamily`]s and adds the checks that need
//! memory of the whole exposition; [`encode`] writes families and the final `# EOF`.
//!
//! ```
//! use ember_exposition::openmetrics;
//!
//! let input = "# TYPE req counter\n# UNIT req \n# HELP req Requests.\n\
//!              req_total{code=\"200\"} 7 1520879607.789 # {trace_id=\"a1\"} 1.5\n# EOF\n";
//! let families = openmetrics::parse(input).unwrap();
//! assert_eq!(families[0].name, "req");
//! let sample = &families[0].samples[0];
//! assert_eq!(sample.timestamp, Some(1_520_879_607_789)); // seconds become milliseconds
//! assert_eq!(sample.exemplar.as_ref().unwrap().labels.get("trace_id"), Some("a1"));
//!
//! // Rules are enforced: a counter total must not go negative, and `# EOF` is required.
//! let err = openmetrics::parse("# TYPE a counter\na_total -1\n# EOF\n").unwrap_err();
//! assert_eq!(err.to_string(), "line 2, column 1: counter _total must not be NaN or negative");
//! assert!(openmetrics::parse("a 1\n").is_err());
//! ```
//!
//! What the streaming parser checks: the ABNF (single spaces, no blank lines, no comments
//! other than TYPE/HELP/UNIT/EOF, nothing after `# EOF`), metadata before samples and
//! at most once per family, UNIT a suffix of the name and absent on info and stateset,
//! sample suffixes per type, value rules (counter totals, bucket, count and sum values
//! are non-negative and not NaN, counts integral, info 1, stateset 0 or 1), `le` and
//! `quantile` labels, buckets increasing in `le` and cumulative with a +Inf bucket equal
//! to `_count`, `_count`/`_sum` together and no `_sum` beside negative buckets,
//! exemplars only on totals and buckets with at most 128 label characters, and
//! non-decreasing timestamps within a metric. [`parse`] adds that no family name
//! appears twice or clashes with another family's sample names, and that no metric
//! reappears after another metric of its family.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::labels::{Label, Labels};
use crate::lex::{Cursor, NumError, parse_float, parse_seconds_timestamp, unescape, write_float, write_meta_name};
pub use crate::lex::{Entry, ExemplarRef, Found, LabelIter, LabelsRef, ParseError, ParseErrorKind, SampleRef};
use crate::lex::{write_seconds, write_series};
use crate::model::{MetricFamily, MetricType};
use crate::names::write_escaped_label_value;

/// Which part of a metric point a sample is, from its name's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suffix {
    None,
    Total,
    Created,
    Count,
    Sum,
    Bucket,
    GCount,
    GSum,
    Info,
}

fn suffixes(t: MetricType) -> &'static [(&'static str, Suffix)] {
    match t {
        MetricType::Counter => &[("_total", Suffix::Total), ("_created", Suffix::Created)],
        MetricType::Summary => {
            &[("", Suffix::None), ("_count", Suffix::Count), ("_sum", Suffix::Sum), ("_created", Suffix::Created)]
        }
        MetricType::Histogram => &[
            ("_bucket", Suffix::Bucket),
            ("_count", Suffix::Count),
            ("_sum", Suffix::Sum),
            ("_created", Suffix::Created),
        ],
        MetricType::GaugeHistogram => {
            &[("_bucket", Suffix::Bucket), ("_gcount", Suffix::GCount), ("_gsum", Suffix::GSum)]
        }
        MetricType::Info => &[("_info", Suffix::Info)],
        MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[("", Suffix::None)],
    }
}

fn suffix_of(t: MetricType, family: &str, sample: &str) -> Option<Suffix> {
    let rest = sample.strip_prefix(family)?;
    suffixes(t).iter().find(|(s, _)| *s == rest).map(|&(_, k)| k)
}

/// Which label of a sample is not part of its metric's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    Le,
    Quantile,
    /// A stateset's state label, named like the family.
    State,
}

struct Family<'a> {
    name: Cow<'a, str>,
    metric_type: MetricType,
    has_type: bool,
    has_help: bool,
    has_unit: bool,
    unit: Cow<'a, str>,
    has_samples: bool,
}

#[derive(Default)]
struct Point {
    active: bool,
    buckets: u32,
    last_le: f64,
    last_bucket: f64,
    inf: Option<f64>,
    count: Option<f64>,
    sum: Option<f64>,
    negative_le: bool,
}

struct Prev<'a> {
    labels: LabelsRef<'a>,
    skip: Skip,
    timestamp: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Eof,
    Done,
}

/// Streaming, zero-copy OpenMetrics parser: an iterator of [`Entry`]s borrowing from the
/// input, which validates as it goes (see the module docs for what it checks).
///
/// It allocates nothing per sample. After an error it yields nothing more; entries
/// before it are valid. The last entry of a valid input is [`Entry::Eof`].
pub struct Parser<'a> {
    cur: Cursor<'a>,
    state: State,
    entry_line: usize,
    family: Option<Family<'a>>,
    family_seq: u64,
    prev: Option<Prev<'a>>,
    metric_seq: u64,
    point: Point,
}

impl<'a> Parser<'a> {
    /// A parser over `input`.
    pub fn new(input: &'a str) -> Self {
        Parser {
            cur: Cursor::new(input, false),
            state: State::Running,
            entry_line: 0,
            family: None,
            family_seq: 0,
            prev: None,
            metric_seq: 0,
            point: Point::default(),
        }
    }

    /// A parser over bytes, which must be UTF-8 (checked once, here).
    pub fn from_bytes(input: &'a [u8]) -> Result<Self, ParseError> {
        Ok(Parser::new(crate::text::check_utf8(input)?))
    }

    /// The 1-based line of the entry most recently returned.
    pub fn line(&self) -> usize {
        self.entry_line
    }

    /// The name and type of the family the most recent entry belongs to.
    pub fn family(&self) -> Option<(&str, MetricType)> {
        self.family.as_ref().map(|f| (f.name.as_ref(), f.metric_type))
    }

    fn line_error(&self, kind: ParseErrorKind) -> ParseError {
        self.cur.error_at(self.cur.line_start, kind)
    }

    fn entry(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        if self.cur.pos >= self.cur.b.len() {
            self.entry_line = self.cur.line;
            return Err(self.cur.error(ParseErrorKind::MissingEof));
        }
        self.entry_line = self.cur.line;
        let entry = match self.cur.peek() {
            Some(b'#') => self.meta()?,
            _ => {
                let s = self.sample()?;
                self.check_sample(&s)?;
                Entry::Sample(s)
            }
        };
        if entry != Entry::Eof {
            if self.cur.peek().is_none() {
                return Err(self.cur.error(ParseErrorKind::MissingEof));
            }
            if self.cur.peek() != Some(b'\n') {
                return Err(self.cur.expected("end of line"));
            }
            self.cur.next_line();
        }
        Ok(Some(entry))
    }

    fn meta(&mut self) -> Result<Entry<'a>, ParseError> {
        let c = &mut self.cur;
        c.pos += 1;
        c.expect(b' ', "' ' after '#'")?;
        let rest = &c.b[c.pos..];
        if rest.starts_with(b"EOF") {
            c.pos += 3;
            match c.peek() {
                None => {}
                Some(b'\n') if c.pos + 1 == c.b.len() => c.pos += 1,
                Some(b'\n') => {
                    c.next_line();
                    return Err(c.error(ParseErrorKind::TextAfterEof));
                }
                Some(_) => return Err(c.error(ParseErrorKind::TextAfterEof)),
            }
            self.end_family()?;
            self.state = State::Eof;
            return Ok(Entry::Eof);
        }
        let kind = match rest.get(..5) {
            Some(b"HELP ") => 0,
            Some(b"TYPE ") => 1,
            Some(b"UNIT ") => 2,
            _ => return Err(c.expected("HELP, TYPE, UNIT or EOF after '# '")),
        };
        c.pos += 5;
        let name = c.metric_name("metric name")?;
        c.expect(b' ', "' ' after metric name")?;
        let entry = match kind {
            0 => Entry::Help { name, help: unescape(c.rest_of_line(), true) },
            1 => {
                let start = c.pos;
                let word = c.token();
                let metric_type = match word {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"gaugehistogram" => MetricType::GaugeHistogram,
                    b"summary" => MetricType::Summary,
                    b"info" => MetricType::Info,
                    b"stateset" => MetricType::StateSet,
                    b"unknown" => MetricType::Unknown,
                    _ => {
                        let w = String::from_utf8_lossy(word).into_owned();
                        return Err(c.error_at(start, ParseErrorKind::InvalidMetricType(w)));
                    }
                };
                Entry::Type { name, metric_type }
            }
            _ => {
                let start = c.pos;
                let unit = c.rest_of_line();
                if let Some(i) = unit.bytes().position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b':')) {
                    c.pos = start + i;
                    return Err(c.expected("a unit of [a-zA-Z0-9_:] characters"));
                }
                Entry::Unit { name, unit: Cow::Borrowed(unit) }
            }
        };
        self.check_meta(&entry)?;
        Ok(entry)
    }

    fn check_meta(&mut self, entry: &Entry<'a>) -> Result<(), ParseError> {
        let name = match entry {
            Entry::Help { name, .. } | Entry::Type { name, .. } | Entry::Unit { name, .. } => name,
            _ => return Ok(()),
        };
        if self.family.as_ref().is_none_or(|f| f.name != *name) {
            self.end_family()?;
            self.family_seq += 1;
            self.family = Some(Family {
                name: name.clone(),
                metric_type: MetricType::Unknown,
                has_type: false,
                has_help: false,
                has_unit: false,
                unit: Cow::Borrowed(""),
                has_samples: false,
            });
        }
        let f = self.family.as_mut().expect("family set above");
        if f.has_samples {
            return Err(self.cur.error_at(self.cur.line_start, ParseErrorKind::MetadataAfterSamples(name.to_string())));
        }
        let (seen, what) = match entry {
            Entry::Help { .. } => (&mut f.has_help, "HELP"),
            Entry::Type { .. } => (&mut f.has_type, "TYPE"),
            _ => (&mut f.has_unit, "UNIT"),
        };
        if *seen {
            let kind = ParseErrorKind::DuplicateMetadata { family: name.to_string(), what };
            return Err(self.cur.error_at(self.cur.line_start, kind));
        }
        *seen = true;
        match entry {
            Entry::Type { metric_type, .. } => f.metric_type = *metric_type,
            Entry::Unit { unit, .. } => f.unit = unit.clone(),
            _ => {}
        }
        if !f.unit.is_empty() {
            let ok = matches!(f.name.strip_suffix(f.unit.as_ref()), Some(base) if base.ends_with('_'))
                && !matches!(f.metric_type, MetricType::Info | MetricType::StateSet);
            if !ok {
                let kind = ParseErrorKind::InvalidUnit { family: f.name.to_string(), unit: f.unit.to_string() };
                return Err(self.cur.error_at(self.cur.line_start, kind));
            }
        }
        Ok(())
    }

    fn sample(&mut self) -> Result<SampleRef<'a>, ParseError> {
        let c = &mut self.cur;
        let mut name = c.legacy_metric_name().map(Cow::Borrowed);
        let mut labels = LabelsRef::EMPTY;
        if c.peek() == Some(b'{') {
            let (l, quoted) = c.labels(name.is_none())?;
            labels = l;
            if quoted.is_some() {
                name = quoted;
            }
        }
        let Some(name) = name else {
            return Err(c.expected("metric name or '#'"));
        };
        c.expect(b' ', "' ' and a value after metric name or labels")?;
        let value = om_value(c)?;
        let mut timestamp = None;
        let mut exemplar = None;
        if c.peek() == Some(b' ') {
            c.pos += 1;
            if c.peek() != Some(b'#') {
                timestamp = Some(om_timestamp(c)?);
                if c.peek() == Some(b' ') {
                    c.pos += 1;
                    if c.peek() != Some(b'#') {
                        return Err(c.expected("'#' to start an exemplar"));
                    }
                }
            }
            if c.peek() == Some(b'#') {
                c.pos += 1;
                c.expect(b' ', "' ' after '#' of an exemplar")?;
                if c.peek() != Some(b'{') {
                    return Err(c.expected("'{' to open the exemplar labels"));
                }
                let (elabels, _) = c.labels(false)?;
                c.expect(b' ', "' ' and a value after exemplar labels")?;
                let evalue = om_value(c)?;
                let mut ets = None;
                if c.peek() == Some(b' ') {
                    c.pos += 1;
                    ets = Some(om_timestamp(c)?);
                }
                exemplar = Some(ExemplarRef { labels: elabels, value: evalue, timestamp: ets });
            }
        }
        Ok(SampleRef { name, labels, value, timestamp, exemplar })
    }

    fn end_family(&mut self) -> Result<(), ParseError> {
        self.finish_point()?;
        self.prev = None;
        Ok(())
    }

    fn finish_point(&mut self) -> Result<(), ParseError> {
        let p = std::mem::take(&mut self.point);
        let Some(f) = &self.family else { return Ok(()) };
        if !p.active {
            return Ok(());
        }
        let err = |why| Err(self.line_error(ParseErrorKind::InvalidHistogram(why)));
        match f.metric_type {
            MetricType::Histogram => {
                if p.inf.is_none() {
                    return err("histogram point ends without a +Inf bucket");
                }
                if p.count.is_some() != p.sum.is_some() {
                    return err("histogram _count and _sum must appear together");
                }
            }
            MetricType::GaugeHistogram => {
                if p.inf.is_none() {
                    return err("gauge histogram point ends without a +Inf bucket");
                }
                if p.count.is_some() != p.sum.is_some() {
                    return err("gauge histogram _gcount and _gsum must appear together");
                }
                if p.sum.is_some_and(|s| s < 0.0) && !p.negative_le {
                    return err("gauge histogram _gsum is negative without negative buckets");
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn check_sample(&mut self, s: &SampleRef<'a>) -> Result<(), ParseError> {
        let at = |p: &Self, kind| Err(p.line_error(kind));
        let suffix = match &self.family {
            Some(f) => match suffix_of(f.metric_type, &f.name, &s.name) {
                Some(k) => Some(k),
                None if f.name == s.name => {
                    let kind = ParseErrorKind::InvalidSampleName {
                        sample: s.name.to_string(),
                        family: f.name.to_string(),
                        metric_type: f.metric_type,
                    };
                    return at(self, kind);
                }
                None => None,
            },
            None => None,
        };
        let suffix = match suffix {
            Some(k) => k,
            None => {
                self.end_family()?;
                self.family_seq += 1;
                self.family = Some(Family {
                    name: s.name.clone(),
                    metric_type: MetricType::Unknown,
                    has_type: false,
                    has_help: false,
                    has_unit: false,
                    unit: Cow::Borrowed(""),
                    has_samples: false,
                });
                Suffix::None
            }
        };
        let f = self.family.as_mut().expect("family set above");
        f.has_samples = true;
        let t = f.metric_type;
        let v = s.value;
        let invalid = |p: &Self, why| at(p, ParseErrorKind::InvalidSample(why));
        let counter_like = |v: f64| !v.is_nan() && v >= 0.0;
        let integral = |v: f64| counter_like(v) && v.fract() == 0.0;
        let mut skip = Skip::Nothing;
        let mut le = 0.0;
        let mut exemplar_ok = false;
        let why = match (t, suffix) {
            (MetricType::Counter, Suffix::Total) => {
                exemplar_ok = true;
                (!counter_like(v)).then_some("counter _total must not be NaN or negative")
            }
            (MetricType::Histogram | MetricType::GaugeHistogram, Suffix::Bucket) => {
                exemplar_ok = true;
                skip = Skip::Le;
                le = number_label(self, s, "le", true)?;
                (!integral(v)).then_some("bucket values must be non-negative integers")
            }
            (MetricType::Histogram | MetricType::GaugeHistogram, Suffix::Count | Suffix::GCount) => {
                (!integral(v)).then_some("histogram counts must be non-negative integers")
            }
            (MetricType::Histogram, Suffix::Sum) => {
                (!counter_like(v)).then_some("histogram _sum must not be NaN or negative")
            }
            (MetricType::GaugeHistogram, Suffix::GSum) => v.is_nan().then_some("gauge histogram _gsum must not be NaN"),
            (MetricType::Summary, Suffix::None) => {
                skip = Skip::Quantile;
                let q = number_label(self, s, "quantile", false)?;
                if !(0.0..=1.0).contains(&q) {
                    let value = s.labels.get("quantile").unwrap_or_default().into_owned();
                    return at(self, ParseErrorKind::InvalidLabelValue { label: "quantile".into(), value });
                }
                (v < 0.0).then_some("quantile values must not be negative")
            }
            (MetricType::Summary, Suffix::Count) => {
                (!integral(v)).then_some("summary _count must be a non-negative integer")
            }
            (MetricType::Summary, Suffix::Sum) => {
                (!counter_like(v)).then_some("summary _sum must not be NaN or negative")
            }
            (MetricType::Info, _) => (v != 1.0).then_some("info values must be 1"),
            (MetricType::StateSet, _) => {
                skip = Skip::State;
                let f = self.family.as_ref().expect("family set above");
                if s.labels.get(&f.name).is_none() {
                    return at(self, ParseErrorKind::MissingLabel(f.name.to_string()));
                }
                (v != 0.0 && v != 1.0).then_some("stateset values must be 0 or 1")
            }
            _ => None,
        };
        if let Some(why) = why {
            return invalid(self, why);
        }
        // Labels that belong to other samples of the point.
        match (t, skip) {
            (MetricType::Histogram | MetricType::GaugeHistogram, Skip::Nothing) if s.labels.get("le").is_some() => {
                return at(self, ParseErrorKind::UnexpectedLabel("le".into()));
            }
            (MetricType::Summary, Skip::Nothing) if s.labels.get("quantile").is_some() => {
                return at(self, ParseErrorKind::UnexpectedLabel("quantile".into()));
            }
            _ => {}
        }
        if let Some(e) = &s.exemplar {
            if !exemplar_ok {
                return at(self, ParseErrorKind::ExemplarNotAllowed);
            }
            let n: usize = e.labels.iter().map(|(n, v)| n.chars().count() + v.chars().count()).sum();
            if n > 128 {
                return at(self, ParseErrorKind::ExemplarTooLong(n));
            }
        }
        // Metric and point boundaries.
        let family_name = &self.family.as_ref().expect("family set above").name;
        let same_metric =
            self.prev.as_ref().is_some_and(|p| same_metric(&p.labels, p.skip, &s.labels, skip, family_name));
        if same_metric {
            let prev_ts = self.prev.as_ref().and_then(|p| p.timestamp);
            match (prev_ts, s.timestamp) {
                (Some(a), Some(b)) if b < a => return at(self, ParseErrorKind::TimestampDecreasing),
                (a, b) if a != b => self.finish_point()?,
                _ => {}
            }
        } else {
            self.finish_point()?;
            self.metric_seq += 1;
        }
        self.prev = Some(Prev { labels: s.labels, skip, timestamp: s.timestamp });
        self.point.active = true;
        let hist = |p: &Self, why| at(p, ParseErrorKind::InvalidHistogram(why));
        let p = &mut self.point;
        match suffix {
            Suffix::Bucket => {
                if p.inf.is_some() {
                    return hist(self, "bucket after the +Inf bucket");
                }
                if p.buckets > 0 && le <= p.last_le {
                    return hist(self, "buckets must be in increasing order of le");
                }
                if p.buckets > 0 && v < p.last_bucket {
                    return hist(self, "bucket values must not decrease");
                }
                p.buckets += 1;
                p.last_le = le;
                p.last_bucket = v;
                p.negative_le |= le < 0.0;
                if le == f64::INFINITY {
                    p.inf = Some(v);
                }
            }
            Suffix::Count | Suffix::GCount if t != MetricType::Summary => {
                if p.count.is_some() {
                    return hist(self, "second count in one histogram point");
                }
                p.count = Some(v);
            }
            Suffix::Sum | Suffix::GSum if t != MetricType::Summary => {
                if p.sum.is_some() {
                    return hist(self, "second sum in one histogram point");
                }
                p.sum = Some(v);
            }
            _ => {}
        }
        let p = &self.point;
        if let (Some(inf), Some(count)) = (p.inf, p.count) {
            if inf != count {
                return hist(self, "histogram count must equal the +Inf bucket");
            }
        }
        if t == MetricType::Histogram && p.negative_le && p.sum.is_some() {
            return hist(self, "histogram with negative buckets must not have a _sum");
        }
        Ok(())
    }

    pub(crate) fn family_seq(&self) -> u64 {
        self.family_seq
    }

    pub(crate) fn metric_seq(&self) -> u64 {
        self.metric_seq
    }

    /// The label of the last sample that is not part of its metric's identity.
    pub(crate) fn skip_label(&self) -> Option<&str> {
        match self.prev.as_ref()?.skip {
            Skip::Nothing => None,
            Skip::Le => Some("le"),
            Skip::Quantile => Some("quantile"),
            Skip::State => self.family.as_ref().map(|f| f.name.as_ref()),
        }
    }
}

/// A numeric `le` or `quantile` label: required, not NaN, infinities spelled canonically.
fn number_label(p: &Parser<'_>, s: &SampleRef<'_>, label: &str, inf_ok: bool) -> Result<f64, ParseError> {
    let Some(raw) = s.labels.get(label) else {
        return Err(p.line_error(ParseErrorKind::MissingLabel(label.into())));
    };
    let v = parse_float(raw.as_bytes())
        .ok()
        .filter(|v| !v.is_nan() && (!v.is_infinite() || (inf_ok && (raw == "+Inf" || raw == "-Inf"))));
    v.ok_or_else(|| p.line_error(ParseErrorKind::InvalidLabelValue { label: label.into(), value: raw.into_owned() }))
}

/// Whether two samples belong to the same metric: equal labels apart from each one's
/// point label (`le`, `quantile`, a stateset's state), in any order.
fn same_metric(a: &LabelsRef<'_>, askip: Skip, b: &LabelsRef<'_>, bskip: Skip, family: &str) -> bool {
    if askip == Skip::Nothing && bskip == Skip::Nothing && a.raw() == b.raw() {
        return true;
    }
    let skipped = |name: &str, skip: Skip| match skip {
        Skip::Nothing => false,
        Skip::Le => name == "le",
        Skip::Quantile => name == "quantile",
        Skip::State => name == family,
    };
    let na = a.iter().filter(|(n, _)| !skipped(n, askip)).count();
    let nb = b.iter().filter(|(n, _)| !skipped(n, bskip)).count();
    na == nb && a.iter().filter(|(n, _)| !skipped(n, askip)).all(|(n, v)| b.iter().any(|(m, w)| m == n && w == v))
}

fn om_value(c: &mut Cursor<'_>) -> Result<f64, ParseError> {
    let start = c.pos;
    let tok = c.token();
    match parse_float(tok) {
        Ok(v) => Ok(v),
        Err(NumError::Syntax) => {
            c.pos = start;
            Err(c.expected("a number"))
        }
        Err(NumError::Range) => Err(c.error_at(start, ParseErrorKind::NumberOutOfRange)),
    }
}

fn om_timestamp(c: &mut Cursor<'_>) -> Result<i64, ParseError> {
    let start = c.pos;
    let tok = c.token();
    parse_seconds_timestamp(tok).map_err(|_| {
        c.pos = start;
        c.expected("a timestamp")
    })
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.state {
            State::Done => None,
            State::Eof => {
                self.state = State::Done;
                None
            }
            State::Running => match self.entry() {
                Ok(e) => e.map(Ok),
                Err(e) => {
                    self.state = State::Done;
                    Some(Err(e))
                }
            },
        }
    }
}

// ---------------------------------------------------------------------------------------
// Owned parsing

/// Parses a whole OpenMetrics exposition into families, in order.
///
/// Everything [`Parser`] checks, plus: a family name must not repeat nor clash with
/// another family's sample names (a gauge `foo_total` beside a counter `foo`), and a
/// metric must not reappear after another metric of its family. Empty HELP and UNIT
/// read as absent. Counter families are named without `_total`, info families without
/// `_info`.
pub fn parse(input: &str) -> Result<Vec<MetricFamily>, ParseError> {
    let mut p = Parser::new(input);
    let mut out: Vec<MetricFamily> = Vec::new();
    let mut family_seq = 0;
    let mut metric_seq = 0;
    let mut types: HashMap<String, MetricType> = HashMap::new();
    let mut metrics: HashSet<Labels> = HashSet::new();
    let mut first_line = 0;
    let clash =
        |line: usize, name: &str| ParseError { line, column: 1, kind: ParseErrorKind::DuplicateFamily(name.into()) };
    while let Some(entry) = p.next() {
        let entry = entry?;
        if entry == Entry::Eof {
            break;
        }
        if p.family_seq() != family_seq {
            if let Some(f) = out.last() {
                register(&mut types, f).map_err(|n| clash(first_line, &n))?;
            }
            family_seq = p.family_seq();
            first_line = p.line();
            let (name, _) = p.family().expect("an entry belongs to a family");
            out.push(MetricFamily::new(name, MetricType::Unknown));
            metrics.clear();
        }
        let f = out.last_mut().expect("pushed above");
        match entry {
            Entry::Type { metric_type, .. } => f.metric_type = metric_type,
            Entry::Help { help, .. } => f.help = Some(help.into_owned()).filter(|h| !h.is_empty()),
            Entry::Unit { unit, .. } => f.unit = Some(unit.into_owned()).filter(|u| !u.is_empty()),
            Entry::Sample(s) => {
                if p.metric_seq() != metric_seq {
                    metric_seq = p.metric_seq();
                    let skip = p.skip_label();
                    let key = Labels::from_vec(
                        s.labels
                            .iter()
                            .filter(|(n, _)| Some(n.as_ref()) != skip)
                            .map(|(n, v)| Label { name: n.into_owned(), value: v.into_owned() })
                            .collect(),
                    );
                    if !metrics.insert(key) {
                        let kind = ParseErrorKind::InterleavedMetric(f.name.clone());
                        return Err(ParseError { line: p.line(), column: 1, kind });
                    }
                }
                f.samples.push(s.to_sample());
            }
            _ => {}
        }
    }
    if let Some(f) = out.last() {
        register(&mut types, f).map_err(|n| clash(first_line, &n))?;
    }
    Ok(out)
}

/// Records a finished family; fails with its name if it repeats or clashes with another.
fn register(types: &mut HashMap<String, MetricType>, f: &MetricFamily) -> Result<(), String> {
    let n = f.name.as_str();
    if types.contains_key(n) {
        return Err(n.to_string());
    }
    for &(suf, _) in suffixes(f.metric_type) {
        if !suf.is_empty() && types.contains_key(&format!("{n}{suf}")) {
            return Err(n.to_string());
        }
    }
    for suf in ["_total", "_created", "_count", "_sum", "_bucket", "_gcount", "_gsum", "_info"] {
        if let Some(base) = n.strip_suffix(suf) {
            if types.get(base).is_some_and(|&t| suffixes(t).iter().any(|&(s, _)| s == suf)) {
                return Err(n.to_string());
            }
        }
    }
    types.insert(n.to_string(), f.metric_type);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Encoding

/// Writes families in the OpenMetrics text format, ending with `# EOF`.
///
/// Families are written as given (TYPE, then UNIT and HELP when non-empty, then the
/// samples in order), with timestamps as exact decimal seconds and exemplars after
/// ` # `. Names outside the legacy character set are quoted. The encoder does not check
/// OpenMetrics' rules: families that break them (say, a counter sample without
/// `_total`) are written as they are and will not parse back.
pub fn encode<W: fmt::Write>(out: &mut W, families: &[MetricFamily]) -> fmt::Result {
    for f in families {
        out.write_str("# TYPE ")?;
        write_meta_name(out, &f.name)?;
        out.write_char(' ')?;
        out.write_str(f.metric_type.as_str())?;
        out.write_char('\n')?;
        if let Some(unit) = f.unit.as_deref().filter(|u| !u.is_empty()) {
            out.write_str("# UNIT ")?;
            write_meta_name(out, &f.name)?;
            out.write_char(' ')?;
            out.write_str(unit)?;
            out.write_char('\n')?;
        }
        if let Some(help) = f.help.as_deref().filter(|h| !h.is_empty()) {
            out.write_str("# HELP ")?;
            write_meta_name(out, &f.name)?;
            out.write_char(' ')?;
            write_escaped_label_value(out, help)?;
            out.write_char('\n')?;
        }
        for s in &f.samples {
            write_series(out, &s.name, &s.labels)?;
            out.write_char(' ')?;
            write_float(out, s.value)?;
            if let Some(ts) = s.timestamp {
                out.write_char(' ')?;
                write_seconds(out, ts)?;
            }
            if let Some(e) = &s.exemplar {
                out.write_str(" # {")?;
                for (i, l) in e.labels.iter().enumerate() {
                    if i > 0 {
                        out.write_char(',')?;
                    }
                    crate::names::write_label_name(out, &l.name)?;
                    out.write_str("=\"")?;
                    write_escaped_label_value(out, &l.value)?;
                    out.write_char('"')?;
                }
                out.write_str("} ")?;
                write_float(out, e.value)?;
                if let Some(ts) = e.timestamp {
                    out.write_char(' ')?;
                    write_seconds(out, ts)?;
                }
            }
            out.write_char('\n')?;
        }
    }
    out.write_str("# EOF\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_err(input: &str, want: &str) {
        let err = parse(input).expect_err(input);
        assert_eq!(err.to_string(), want, "{input:?}");
    }

    #[track_caller]
    fn check_ok(input: &str) -> Vec<MetricFamily> {
        let got = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let mut out = String::new();
        encode(&mut out, &got).unwrap();
        let again = parse(&out).unwrap_or_else(|e| panic!("{out:?}: {e}"));
        assert!(again.len() == got.len() && again.iter().zip(&got).all(|(a, b)| a.bit_eq(b)), "{out}");
        got
    }

    #[test]
    fn spec_examples() {
        let f = check_ok(
            "# TYPE foo histogram\nfoo_bucket{le=\"0.01\"} 0\nfoo_bucket{le=\"0.1\"} 8 # {} 0.054\n\
             foo_bucket{le=\"1\"} 11 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
             foo_bucket{le=\"10\"} 17 # {trace_id=\"oHg5SJYRHA0\"} 9.8 1520879607.789\n\
             foo_bucket{le=\"+Inf\"} 17\nfoo_count 17\nfoo_sum 324789.3\nfoo_created 1520430000.123\n# EOF\n",
        );
        assert_eq!(f[0].samples.len(), 8);
        assert_eq!(f[0].samples[3].exemplar.as_ref().unwrap().timestamp, Some(1520879607789));
        check_ok("# TYPE foo stateset\nfoo{entity=\"a\",foo=\"a\"} 1.0\nfoo{entity=\"a\",foo=\"bb\"} 0.0\n# EOF");
        check_ok("# TYPE foo info\nfoo_info{name=\"pretty name\",version=\"8.2.7\"} 1\n# EOF\n");
        check_ok(
            "# TYPE foo_seconds summary\n# UNIT foo_seconds seconds\nfoo_seconds_count{a=\"bb\"} 0 123\n\
             foo_seconds_sum{a=\"bb\"} 0 123\nfoo_seconds_count{a=\"bb\"} 0 456\nfoo_seconds_sum{a=\"bb\"} 0 456\n\
             foo_seconds_count{a=\"ccc\"} 0 123\nfoo_seconds_sum{a=\"ccc\"} 0 123\n# EOF\n",
        );
        let u = check_ok("# TYPE \"my.metric\" gauge\n{\"my.metric\",\"a.b\"=\"c\"} 1\n# EOF\n");
        assert_eq!(u[0].name, "my.metric");
    }

    #[test]
    fn errors() {
        check_err(
            "# TYPE foo_seconds summary\nfoo_seconds_count{a=\"bb\"} 0 123\nfoo_seconds_count{a=\"ccc\"} 0 123\n\
             foo_seconds_count{a=\"bb\"} 0 456\n# EOF\n",
            "line 4, column 1: a metric of family \"foo_seconds\" reappears after another metric",
        );
        check_err(
            "# TYPE foo_seconds summary\nfoo_seconds_count{a=\"bb\"} 0 123\nfoo_seconds_count{a=\"bb\"} 0 456\n\
             foo_seconds_sum{a=\"bb\"} 0 123\n# EOF\n",
            "line 4, column 1: timestamps of a metric must not decrease",
        );
        check_err(
            "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n# EOF\n",
            "line 5, column 1: family \"a\" appears twice (families must not be interleaved)",
        );
        check_err(
            "# TYPE a counter\na_total 1\n# TYPE a_total gauge\n# EOF\n",
            "line 3, column 1: family \"a_total\" appears twice (families must not be interleaved)",
        );
        check_err("a{a=\"1\" } 1\n# EOF\n", "line 1, column 8: expected ',' or '}' after label, found ' '");
        check_err("a 1\n", "line 2, column 1: expected '# EOF' at the end of the input");
        check_err("a 1\n# EOF\n\n", "line 3, column 1: unexpected text after '# EOF'");
        check_err(
            "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count 2\na_sum 1\n# EOF\n",
            "line 3, column 1: histogram count must equal the +Inf bucket",
        );
        check_err(
            "# TYPE a histogram\na_bucket{le=\"1\"} 1\n# EOF\n",
            "line 3, column 1: histogram point ends without a +Inf bucket",
        );
        check_err(
            "# TYPE a summary\na_sum{quantile=\"0.5\"} 1\n# EOF\n",
            "line 2, column 1: label \"quantile\" is not allowed here",
        );
        check_err(
            "# TYPE a summary\na{quantile=\"1.5\"} 1\n# EOF\n",
            "line 2, column 1: invalid value \"1.5\" for label \"quantile\"",
        );
        check_err(
            "# TYPE a counter\na_total 1 # {x=\"y\"} 1\t\n# EOF\n",
            "line 2, column 22: expected end of line, found '\\t'",
        );
        check_err(
            "# TYPE a_x counter\n# UNIT a_x y\n# EOF\n",
            "line 2, column 1: unit \"y\" is not valid for family \"a_x\"",
        );
        check_err("# TYPE a stateset\na{b=\"1\"} 1\n# EOF\n", "line 2, column 1: missing label \"a\"");
    }

    #[test]
    fn streaming_entries() {
        let input = "# HELP a x\n# TYPE a gauge\na{b=\"c\"} 1 2\n# EOF\n";
        let entries: Vec<_> = Parser::new(input).collect::<Result<_, _>>().unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[3], Entry::Eof);
        match &entries[2] {
            Entry::Sample(s) => {
                assert_eq!(s.labels.iter().collect::<Vec<_>>(), vec![("b".into(), "c".into())]);
                assert_eq!(s.timestamp, Some(2000));
            }
            e => panic!("{e:?}"),
        }
    }
}
