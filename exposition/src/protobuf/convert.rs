//! Conversions between protobuf families and the flat [`MetricFamily`] model.
//!
//! The flat model is the OpenMetrics view of a family: a counter `foo` (or `foo_total`)
//! becomes samples `foo_total` and `foo_created`; a summary its quantile samples plus
//! `_sum`, `_count` and `_created`; a histogram its `_bucket{le=…}` samples (always ending
//! with `+Inf`), `_sum`, `_count` and `_created`; a gauge histogram `_bucket`, `_gcount` and
//! `_gsum`. `le` and `quantile` values are written as Prometheus 3 stores them (the
//! OpenMetrics canonical form: `0.005`, `1.0`, `1e+06`, `+Inf`), and `_created` values are
//! seconds since the epoch. A metric's timestamp goes on each of its samples.
//!
//! [`to_families`] never drops data silently: what the flat model cannot hold (native
//! histogram buckets, a created timestamp on a gauge histogram, a metric missing its value)
//! is listed in [`Conversion::losses`]. [`from_families`] is exact for counters, gauges,
//! unknown (untyped) families, summaries, histograms and gauge histograms shaped as
//! [`to_families`] shapes them, and refuses samples it cannot place with a
//! [`ConvertError`]. Info and state-set families, which protobuf has no types for, become
//! gauges named as their samples are (as Prometheus ingests them).

use std::collections::HashMap;
use std::fmt;

use super::proto;
use crate::labels::{Label, Labels};
use crate::model::{Exemplar, MetricFamily, MetricType, Sample, Timestamp};

/// The result of [`to_families`]: the flat families and what could not be carried over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversion {
    /// The converted families, in input order.
    pub families: Vec<MetricFamily>,
    /// Data the flat model cannot hold; empty when the conversion was lossless.
    pub losses: Vec<Loss>,
}

impl Conversion {
    /// Whether nothing was lost.
    pub fn is_lossless(&self) -> bool {
        self.losses.is_empty()
    }
}

/// Something [`to_families`] could not carry into the flat model.
#[derive(Debug, Clone, PartialEq)]
pub struct Loss {
    /// Index of the protobuf family in the input.
    pub family: usize,
    /// Index of the metric within the family, when the loss is about one metric.
    pub metric: Option<usize>,
    /// What was lost.
    pub kind: LossKind,
}

/// What [`to_families`] could not carry over.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LossKind {
    /// The native part of a histogram (schema, zero bucket, spans, native bucket counts
    /// and exemplars; reported whenever any such field is set). Its classic buckets, count
    /// and sum were converted; when it has no classic buckets only the `+Inf` bucket is
    /// written, as Prometheus does.
    NativeHistogram,
    /// A gauge histogram's created timestamp (gauge histograms have no `_created`).
    GaugeHistogramCreated,
    /// The family's type is not a known `MetricType` value; the family was skipped.
    UnknownType(i32),
    /// The metric lacks the field its family's type uses; the metric was skipped.
    MissingValue,
    /// The metric also sets value fields of other types; they were ignored.
    ExtraValue,
}

impl fmt::Display for LossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossKind::NativeHistogram => f.write_str("native histogram buckets dropped"),
            LossKind::GaugeHistogramCreated => f.write_str("created timestamp of a gauge histogram dropped"),
            LossKind::UnknownType(t) => write!(f, "family of unknown type {t} skipped"),
            LossKind::MissingValue => f.write_str("metric without a value for its type skipped"),
            LossKind::ExtraValue => f.write_str("value fields of other types ignored"),
        }
    }
}

/// Converts protobuf families to the flat model; see the [module docs](crate::protobuf).
pub fn to_families(families: &[proto::MetricFamily]) -> Conversion {
    let (default_counter, default_summary) = (proto::Counter::default(), proto::Summary::default());
    let default_histogram = proto::Histogram::default();
    let mut out = Conversion { families: Vec::with_capacity(families.len()), losses: Vec::new() };
    for (fi, pf) in families.iter().enumerate() {
        let mut loss = |metric, kind| out.losses.push(Loss { family: fi, metric, kind });
        let Ok(ty) = proto::MetricType::try_from(pf.r#type) else {
            loss(None, LossKind::UnknownType(pf.r#type));
            continue;
        };
        let (name, metric_type) = match ty {
            proto::MetricType::Counter => (pf.name.strip_suffix("_total").unwrap_or(&pf.name), MetricType::Counter),
            proto::MetricType::Gauge => (pf.name.as_str(), MetricType::Gauge),
            proto::MetricType::Untyped => (pf.name.as_str(), MetricType::Unknown),
            proto::MetricType::Summary => (pf.name.as_str(), MetricType::Summary),
            proto::MetricType::Histogram => (pf.name.as_str(), MetricType::Histogram),
            proto::MetricType::GaugeHistogram => (pf.name.as_str(), MetricType::GaugeHistogram),
        };
        let mut fam = MetricFamily::new(name, metric_type);
        fam.help = (!pf.help.is_empty()).then(|| pf.help.clone());
        fam.unit = (!pf.unit.is_empty()).then(|| pf.unit.clone());
        let suffixed = |s: &str| format!("{name}{s}");
        let mut floats = HashMap::new();
        for (mi, m) in pf.metric.iter().enumerate() {
            let set = [
                m.gauge.is_some(),
                m.counter.is_some(),
                m.summary.is_some(),
                m.untyped.is_some(),
                m.histogram.is_some(),
            ];
            let used = match ty {
                proto::MetricType::Gauge => 0,
                proto::MetricType::Counter => 1,
                proto::MetricType::Summary => 2,
                proto::MetricType::Untyped => 3,
                proto::MetricType::Histogram | proto::MetricType::GaugeHistogram => 4,
            };
            if !set[used] {
                loss(Some(mi), LossKind::MissingValue);
                continue;
            }
            if set.iter().filter(|s| **s).count() > 1 {
                loss(Some(mi), LossKind::ExtraValue);
            }
            let labels = labels_of(&m.label);
            let ts = m.timestamp_ms;
            let mut push = |name: String, labels: Labels, value: f64, exemplar: Option<&proto::Exemplar>| {
                fam.samples.push(Sample { name, labels, value, timestamp: ts, exemplar: exemplar.map(exemplar_of) });
            };
            let created = |c: &Option<proto::Timestamp>| c.map(|c| (suffixed("_created"), c.to_seconds_f64()));
            match ty {
                proto::MetricType::Gauge => {
                    push(name.to_string(), labels.clone(), m.gauge.unwrap_or_default().value, None)
                }
                proto::MetricType::Untyped => {
                    push(name.to_string(), labels.clone(), m.untyped.unwrap_or_default().value, None)
                }
                proto::MetricType::Counter => {
                    let c = m.counter.as_deref().unwrap_or(&default_counter);
                    push(suffixed("_total"), labels.clone(), c.value, c.exemplar.as_ref());
                    if let Some((n, v)) = created(&c.created_timestamp) {
                        push(n, labels.clone(), v, None);
                    }
                }
                proto::MetricType::Summary => {
                    let s = m.summary.as_deref().unwrap_or(&default_summary);
                    for q in &s.quantile {
                        push(name.to_string(), with_label(&labels, "quantile", q.quantile, &mut floats), q.value, None);
                    }
                    push(suffixed("_sum"), labels.clone(), s.sample_sum, None);
                    push(suffixed("_count"), labels.clone(), s.sample_count as f64, None);
                    if let Some((n, v)) = created(&s.created_timestamp) {
                        push(n, labels.clone(), v, None);
                    }
                }
                proto::MetricType::Histogram | proto::MetricType::GaugeHistogram => {
                    let h = m.histogram.as_deref().unwrap_or(&default_histogram);
                    let bucket = suffixed("_bucket");
                    for b in &h.bucket {
                        push(
                            bucket.clone(),
                            with_label(&labels, "le", b.upper_bound, &mut floats),
                            b.count(),
                            b.exemplar.as_ref(),
                        );
                    }
                    if h.bucket.last().is_none_or(|b| b.upper_bound != f64::INFINITY) {
                        push(bucket, with_label(&labels, "le", f64::INFINITY, &mut floats), h.count(), None);
                    }
                    if ty == proto::MetricType::Histogram {
                        push(suffixed("_sum"), labels.clone(), h.sample_sum, None);
                        push(suffixed("_count"), labels.clone(), h.count(), None);
                        if let Some((n, v)) = created(&h.created_timestamp) {
                            push(n, labels.clone(), v, None);
                        }
                    } else {
                        push(suffixed("_gcount"), labels.clone(), h.count(), None);
                        push(suffixed("_gsum"), labels.clone(), h.sample_sum, None);
                        if h.created_timestamp.is_some() {
                            loss(Some(mi), LossKind::GaugeHistogramCreated);
                        }
                    }
                    if h.has_native_fields() {
                        loss(Some(mi), LossKind::NativeHistogram);
                    }
                }
            }
        }
        out.families.push(fam);
    }
    out
}

fn labels_of(pairs: &[proto::LabelPair]) -> Labels {
    Labels::from_vec(pairs.iter().map(|l| Label::new(l.name.as_str(), l.value.as_str())).collect())
}

/// `labels` plus `name` set to `v` in canonical form; `floats` caches the formatted
/// values, as bucket bounds and quantiles repeat in every metric of a family.
fn with_label(labels: &Labels, name: &str, v: f64, floats: &mut HashMap<u64, String>) -> Labels {
    let value = floats.entry(v.to_bits()).or_insert_with(|| format_openmetrics_float(v));
    let mut b = labels.builder();
    b.set(name, value.as_str());
    b.into_labels()
}

fn exemplar_of(e: &proto::Exemplar) -> Exemplar {
    Exemplar { labels: labels_of(&e.label), value: e.value, timestamp: e.timestamp.map(proto::Timestamp::to_millis) }
}

fn exemplar_to_proto(e: &Exemplar) -> proto::Exemplar {
    proto::Exemplar {
        label: pairs_of(&e.labels),
        value: e.value,
        timestamp: e.timestamp.map(proto::Timestamp::from_millis),
    }
}

fn pairs_of(labels: &Labels) -> Vec<proto::LabelPair> {
    labels.iter().map(|l| proto::LabelPair { name: l.name.clone(), value: l.value.clone() }).collect()
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` does, plus `.0` for
/// integers, and `+Inf`, `-Inf`, `NaN`: the canonical OpenMetrics form of `le` and
/// `quantile` values, as [`to_families`] writes them.
pub fn format_openmetrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Shortest round-trip digits and exponent, e.g. "1.25e-7".
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut s = String::with_capacity(digits.len() + 8);
    if f < 0.0 {
        s.push('-');
    }
    if !(-4..6).contains(&exp) {
        // Go's shortest 'g' formatting switches to the exponent form outside 1e-4..1e6.
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", exp.abs()));
        return s;
    }
    if exp < 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        s.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            s.push_str(&digits);
            s.extend(std::iter::repeat_n('0', int_len - digits.len()));
            s.push_str(".0");
        } else {
            s.push_str(&digits[..int_len]);
            s.push('.');
            s.push_str(&digits[int_len..]);
        }
    }
    s
}

/// A flat family that [`from_family`] cannot express in protobuf.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertError {
    /// The family's name.
    pub family: String,
    /// Index of the offending sample in the family, when one sample is at fault.
    pub sample: Option<usize>,
    /// What is wrong.
    pub kind: ConvertErrorKind,
}

/// What [`from_family`] cannot express.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConvertErrorKind {
    /// The sample's name is not one the family's type has.
    UnexpectedSample(String),
    /// A bucket without `le` or a summary quantile without `quantile`.
    MissingLabel(&'static str),
    /// An `le` or `quantile` value that is not a float.
    InvalidLabelValue {
        /// `le` or `quantile`.
        label: &'static str,
        /// The value found.
        value: String,
    },
    /// A count protobuf cannot hold (negative, NaN, or fractional for a summary).
    InvalidCount(f64),
    /// A `_created` value that is not a finite number of seconds.
    InvalidCreated(f64),
    /// The same sample name and labels twice.
    DuplicateSample,
    /// Samples of one metric with different timestamps (protobuf has one per metric).
    InconsistentTimestamp,
    /// An exemplar on a sample protobuf has no exemplar slot for.
    UnsupportedExemplar,
    /// A counter metric with `_created` but no value sample.
    MissingValue,
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "family {:?}", self.family)?;
        if let Some(i) = self.sample {
            write!(f, ", sample {i}")?;
        }
        f.write_str(": ")?;
        match &self.kind {
            ConvertErrorKind::UnexpectedSample(n) => write!(f, "sample name {n:?} does not belong to the family"),
            ConvertErrorKind::MissingLabel(l) => write!(f, "missing label {l:?}"),
            ConvertErrorKind::InvalidLabelValue { label, value } => write!(f, "label {label}={value:?} is not a float"),
            ConvertErrorKind::InvalidCount(v) => write!(f, "count {v} cannot be expressed in protobuf"),
            ConvertErrorKind::InvalidCreated(v) => write!(f, "created value {v} is not a finite time in seconds"),
            ConvertErrorKind::DuplicateSample => f.write_str("duplicate sample"),
            ConvertErrorKind::InconsistentTimestamp => f.write_str("samples of one metric have different timestamps"),
            ConvertErrorKind::UnsupportedExemplar => {
                f.write_str("exemplar on a sample that protobuf cannot attach one to")
            }
            ConvertErrorKind::MissingValue => f.write_str("counter without a value sample"),
        }
    }
}

impl std::error::Error for ConvertError {}

/// Converts flat families to protobuf; stops at the first family that cannot be converted.
pub fn from_families(families: &[MetricFamily]) -> Result<Vec<proto::MetricFamily>, ConvertError> {
    families.iter().map(from_family).collect()
}

/// The parts of one metric (one label set) gathered from its samples.
#[derive(Default)]
struct Parts {
    labels: Labels,
    timestamp: Option<Option<Timestamp>>,
    value: Option<(f64, Option<proto::Exemplar>)>,
    created: Option<proto::Timestamp>,
    sum: Option<f64>,
    count: Option<f64>,
    quantiles: Vec<proto::Quantile>,
    buckets: Vec<proto::Bucket>,
    inf_exemplar: bool,
}

/// Converts one flat family to protobuf; see the [module docs](crate::protobuf).
pub fn from_family(f: &MetricFamily) -> Result<proto::MetricFamily, ConvertError> {
    let err = |sample: Option<usize>, kind| ConvertError { family: f.name.clone(), sample, kind };
    let base = match f.metric_type {
        MetricType::Counter => f.name.strip_suffix("_total").unwrap_or(&f.name),
        _ => f.name.as_str(),
    };
    let mut pf = proto::MetricFamily {
        name: f.name.clone(),
        help: f.help.clone().unwrap_or_default(),
        unit: f.unit.clone().unwrap_or_default(),
        ..Default::default()
    };
    // Gauges, untyped, info and state sets: one metric per sample, named as the samples are.
    if matches!(f.metric_type, MetricType::Gauge | MetricType::Unknown | MetricType::Info | MetricType::StateSet) {
        pf.r#type =
            if f.metric_type == MetricType::Unknown { proto::MetricType::Untyped } else { proto::MetricType::Gauge }
                as i32;
        if let Some(s) = f.samples.first() {
            pf.name = s.name.clone();
        } else if f.metric_type == MetricType::Info {
            pf.name = format!("{base}_info");
        }
        for (i, s) in f.samples.iter().enumerate() {
            if s.name != pf.name {
                return Err(err(Some(i), ConvertErrorKind::UnexpectedSample(s.name.clone())));
            }
            if s.exemplar.is_some() {
                return Err(err(Some(i), ConvertErrorKind::UnsupportedExemplar));
            }
            let mut m = proto::Metric { label: pairs_of(&s.labels), timestamp_ms: s.timestamp, ..Default::default() };
            if f.metric_type == MetricType::Unknown {
                m.untyped = Some(proto::Untyped { value: s.value });
            } else {
                m.gauge = Some(proto::Gauge { value: s.value });
            }
            pf.metric.push(m);
        }
        return Ok(pf);
    }

    let mut groups: Vec<Parts> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut counter_name: Option<&str> = None;
    for (i, s) in f.samples.iter().enumerate() {
        let err = |kind| err(Some(i), kind);
        let suffix = s.name.strip_prefix(base).unwrap_or("\u{0}");
        // Which part of the metric this sample is, and the labels that identify the metric.
        enum Part {
            Value,
            Created,
            Sum,
            Count,
            Quantile(f64),
            Bucket(f64),
        }
        let float_label = |label: &'static str| -> Result<(f64, Labels), ConvertError> {
            let v = s.labels.get(label).ok_or_else(|| err(ConvertErrorKind::MissingLabel(label)))?;
            let x = v
                .parse::<f64>()
                .map_err(|_| err(ConvertErrorKind::InvalidLabelValue { label, value: v.to_string() }))?;
            Ok((x, s.labels.filter(|l| l.name != label)))
        };
        let (part, labels) = match (f.metric_type, suffix) {
            (MetricType::Counter, "_total" | "") => {
                if *counter_name.get_or_insert(&s.name) != s.name {
                    return Err(err(ConvertErrorKind::UnexpectedSample(s.name.clone())));
                }
                (Part::Value, s.labels.clone())
            }
            (MetricType::Counter | MetricType::Summary | MetricType::Histogram, "_created") => {
                (Part::Created, s.labels.clone())
            }
            (MetricType::Summary | MetricType::Histogram, "_sum") | (MetricType::GaugeHistogram, "_gsum") => {
                (Part::Sum, s.labels.clone())
            }
            (MetricType::Summary | MetricType::Histogram, "_count") | (MetricType::GaugeHistogram, "_gcount") => {
                (Part::Count, s.labels.clone())
            }
            (MetricType::Summary, "") => {
                let (q, l) = float_label("quantile")?;
                (Part::Quantile(q), l)
            }
            (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => {
                let (le, l) = float_label("le")?;
                (Part::Bucket(le), l)
            }
            _ => return Err(err(ConvertErrorKind::UnexpectedSample(s.name.clone()))),
        };
        let gi = *index.entry(labels.clone()).or_insert_with(|| {
            groups.push(Parts { labels, ..Default::default() });
            groups.len() - 1
        });
        let g = &mut groups[gi];
        if *g.timestamp.get_or_insert(s.timestamp) != s.timestamp {
            return Err(err(ConvertErrorKind::InconsistentTimestamp));
        }
        let exemplar = s.exemplar.as_ref().map(exemplar_to_proto);
        if exemplar.is_some() && !matches!(part, Part::Value | Part::Bucket(_)) {
            return Err(err(ConvertErrorKind::UnsupportedExemplar));
        }
        let dup = match part {
            Part::Value => g.value.replace((s.value, exemplar)).is_some(),
            Part::Created => {
                let c = proto::Timestamp::from_seconds_f64(s.value)
                    .ok_or_else(|| err(ConvertErrorKind::InvalidCreated(s.value)))?;
                g.created.replace(c).is_some()
            }
            Part::Sum => g.sum.replace(s.value).is_some(),
            Part::Count => g.count.replace(s.value).is_some(),
            Part::Quantile(q) => {
                let dup = g.quantiles.iter().any(|x| x.quantile.to_bits() == q.to_bits());
                g.quantiles.push(proto::Quantile { quantile: q, value: s.value });
                dup
            }
            Part::Bucket(le) => {
                let dup = g.buckets.iter().any(|b| b.upper_bound.to_bits() == le.to_bits());
                let mut b = proto::Bucket { upper_bound: le, exemplar, ..Default::default() };
                set_count(&mut b.cumulative_count, &mut b.cumulative_count_float, s.value)
                    .map_err(|_| err(ConvertErrorKind::InvalidCount(s.value)))?;
                g.inf_exemplar |= le == f64::INFINITY && b.exemplar.is_some();
                g.buckets.push(b);
                dup
            }
        };
        if dup {
            return Err(err(ConvertErrorKind::DuplicateSample));
        }
    }

    pf.r#type = match f.metric_type {
        MetricType::Counter => proto::MetricType::Counter,
        MetricType::Summary => proto::MetricType::Summary,
        MetricType::Histogram => proto::MetricType::Histogram,
        _ => proto::MetricType::GaugeHistogram,
    } as i32;
    if f.metric_type == MetricType::Counter {
        pf.name = counter_name.map_or_else(|| format!("{base}_total"), str::to_string);
    }
    for g in groups {
        let mut m =
            proto::Metric { label: pairs_of(&g.labels), timestamp_ms: g.timestamp.flatten(), ..Default::default() };
        match f.metric_type {
            MetricType::Counter => {
                let Some((value, exemplar)) = g.value else {
                    return Err(err(None, ConvertErrorKind::MissingValue));
                };
                m.counter = Some(Box::new(proto::Counter { value, exemplar, created_timestamp: g.created }));
            }
            MetricType::Summary => {
                let mut s = proto::Summary {
                    sample_sum: g.sum.unwrap_or(0.0),
                    quantile: g.quantiles,
                    created_timestamp: g.created,
                    ..Default::default()
                };
                let count = g.count.unwrap_or(0.0);
                if !(count >= 0.0 && count.fract() == 0.0 && count < 18446744073709551616.0) {
                    return Err(err(None, ConvertErrorKind::InvalidCount(count)));
                }
                s.sample_count = count as u64;
                m.summary = Some(Box::new(s));
            }
            _ => {
                let mut buckets = g.buckets;
                // The +Inf bucket is implied by the count; keep it only when it says more.
                let inf = buckets.last().filter(|b| b.upper_bound == f64::INFINITY).map(proto::Bucket::count);
                let count = g.count.or(inf).unwrap_or(0.0);
                let mut h = proto::Histogram {
                    sample_sum: g.sum.unwrap_or(0.0),
                    created_timestamp: g.created,
                    ..Default::default()
                };
                set_count(&mut h.sample_count, &mut h.sample_count_float, count)
                    .map_err(|_| err(None, ConvertErrorKind::InvalidCount(count)))?;
                if inf.is_some_and(|c| c.to_bits() == count.to_bits()) && !g.inf_exemplar {
                    buckets.pop();
                }
                h.bucket = buckets;
                m.histogram = Some(Box::new(h));
            }
        }
        pf.metric.push(m);
    }
    Ok(pf)
}

/// Stores a count in the integer field when it is a whole number, else in the float field.
fn set_count(int: &mut u64, float: &mut f64, v: f64) -> Result<(), ()> {
    if v >= 0.0 && v.fract() == 0.0 && v < 18446744073709551616.0 && v.is_sign_positive() {
        *int = v as u64;
        Ok(())
    } else if v > 0.0 {
        *float = v;
        Ok(())
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_float(f: f64, want: &str) {
        assert_eq!(format_openmetrics_float(f), want, "{f:e}");
        if !f.is_nan() {
            assert_eq!(want.parse::<f64>().unwrap().to_bits(), f.to_bits(), "{want} parses back");
        }
    }

    #[test]
    fn openmetrics_floats() {
        check_float(0.005, "0.005");
        check_float(1.0, "1.0");
        check_float(0.0, "0.0");
        check_float(-0.0, "-0.0");
        check_float(2.5, "2.5");
        check_float(10.0, "10.0");
        check_float(123456.0, "123456.0");
        check_float(1e6, "1e+06");
        check_float(1234567.0, "1.234567e+06");
        check_float(0.0001, "0.0001");
        check_float(0.00001, "1e-05");
        check_float(1.5e-7, "1.5e-07");
        check_float(-0.25, "-0.25");
        check_float(1e100, "1e+100");
        check_float(f64::INFINITY, "+Inf");
        check_float(f64::NEG_INFINITY, "-Inf");
        check_float(f64::NAN, "NaN");
        check_float(0.1 + 0.2, "0.30000000000000004");
    }
}
