//! The direct writer: metrics write their samples straight into the response buffer.
//!
//! Every metric implements [`Metric::encode`] against a [`MetricEncoder`], which either writes
//! text (0.0.4 or OpenMetrics) into a `String` with pre-rendered label blocks, or collects
//! [`Sample`]s for a [`MetricFamily`] (used for protobuf and [`Registry::gather`]). The text
//! path is the one a scrape takes; it allocates nothing per series once the buffer has grown.
//!
//! [`Registry::gather`]: crate::Registry::gather

use ember_exposition::names::{write_escaped_help, write_escaped_label_value, write_label_name};
use ember_exposition::{Exemplar, Label, Labels, MetricFamily, MetricType, Sample};

use crate::exemplar::ExemplarValue;
use crate::number::{Number, write_f64};

/// The text format an encoder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextFormat {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text (exemplars, `_created`, `# EOF`).
    OpenMetrics,
}

/// A metric type that can be registered and scraped.
///
/// Implemented by every metric of this crate and by [`Family`](crate::Family); implement it
/// to expose a value type of your own (it writes samples, the registry writes the headers).
pub trait Metric: Send + Sync + 'static {
    /// The family type this metric is exposed as.
    fn metric_type(&self) -> MetricType;
    /// Writes this metric's samples.
    fn encode(&self, enc: &mut MetricEncoder<'_>);
}

/// The labels of the series being written: constant labels, the child's labels, and the
/// pre-rendered text of both (`a="x",b="y"`).
#[derive(Clone, Copy, Default)]
pub(crate) struct LabelBlock<'a> {
    pub rendered: &'a str,
    pub names: &'a [Box<str>],
    pub values: &'a [Box<str>],
}

enum Target<'a> {
    Text { out: &'a mut String, format: TextFormat },
    Samples { out: &'a mut Vec<Sample>, const_labels: &'a [(Box<str>, Box<str>)] },
}

/// Where a [`Metric`] writes its samples; see [`MetricEncoder::sample`].
pub struct MetricEncoder<'a> {
    target: Target<'a>,
    name: &'a str,
    const_labels: &'a str,
    /// The family child's labels, then labels the metric adds itself (an info's pairs).
    labels: [LabelBlock<'a>; 2],
}

impl<'a> MetricEncoder<'a> {
    pub(crate) fn text(out: &'a mut String, format: TextFormat, name: &'a str, const_labels: &'a str) -> Self {
        MetricEncoder { target: Target::Text { out, format }, name, const_labels, labels: Default::default() }
    }

    pub(crate) fn samples(out: &'a mut Vec<Sample>, name: &'a str, const_labels: &'a [(Box<str>, Box<str>)]) -> Self {
        MetricEncoder {
            target: Target::Samples { out, const_labels },
            name,
            const_labels: "",
            labels: Default::default(),
        }
    }

    /// The encoder for a child of a family: the same output, with the child's labels.
    pub(crate) fn with_labels<'b>(&'b mut self, labels: LabelBlock<'b>) -> MetricEncoder<'b> {
        self.nested(0, labels)
    }

    /// The same output with labels the metric adds after the family's (an info's pairs).
    pub(crate) fn with_extra_labels<'b>(&'b mut self, labels: LabelBlock<'b>) -> MetricEncoder<'b> {
        self.nested(1, labels)
    }

    fn nested<'b>(&'b mut self, slot: usize, block: LabelBlock<'b>) -> MetricEncoder<'b> {
        let target = match &mut self.target {
            Target::Text { out, format } => Target::Text { out, format: *format },
            Target::Samples { out, const_labels } => Target::Samples { out, const_labels },
        };
        let mut labels = self.labels;
        labels[slot] = block;
        MetricEncoder { target, name: self.name, const_labels: self.const_labels, labels }
    }

    /// The family name being written (without suffixes).
    pub fn family_name(&self) -> &'a str {
        self.name
    }

    /// Whether the output is OpenMetrics (which carries `_created` samples and exemplars).
    pub fn is_openmetrics(&self) -> bool {
        !matches!(self.target, Target::Text { format: TextFormat::Text, .. })
    }

    /// Writes one sample: the family name plus `suffix`, the series labels plus an optional
    /// `extra` label (`le`, `quantile`, or the state of a state set), and the value.
    pub fn sample<N: Number>(&mut self, suffix: &str, extra: Option<(&str, &str)>, value: N) {
        self.sample_with_exemplar(suffix, extra, value, None);
    }

    /// Like [`sample`](Self::sample), with an exemplar (written only in OpenMetrics).
    pub fn sample_with_exemplar<N: Number>(
        &mut self,
        suffix: &str,
        extra: Option<(&str, &str)>,
        value: N,
        exemplar: Option<&ExemplarValue>,
    ) {
        match &mut self.target {
            Target::Text { out, format } => {
                out.push_str(self.name);
                out.push_str(suffix);
                let parts = [self.const_labels, self.labels[0].rendered, self.labels[1].rendered];
                let mut first = true;
                for part in parts.iter().filter(|p| !p.is_empty()) {
                    out.push(if first { '{' } else { ',' });
                    first = false;
                    out.push_str(part);
                }
                if let Some((n, v)) = extra {
                    out.push(if first { '{' } else { ',' });
                    first = false;
                    write_pair(out, n, v);
                }
                if !first {
                    out.push('}');
                }
                out.push(' ');
                value.write(out);
                if let (Some(ex), TextFormat::OpenMetrics) = (exemplar, *format) {
                    out.push_str(" # {");
                    out.push_str(ex.labels());
                    out.push_str("} ");
                    write_f64(out, ex.value);
                    out.push(' ');
                    write_f64(out, ex.timestamp);
                }
                out.push('\n');
            }
            Target::Samples { out, const_labels } => {
                let mut pairs: Vec<Label> = const_labels.iter().map(|(n, v)| Label::new(&**n, &**v)).collect();
                for b in &self.labels {
                    pairs.extend(b.names.iter().zip(b.values).map(|(n, v)| Label::new(&**n, &**v)));
                }
                if let Some((n, v)) = extra {
                    pairs.push(Label::new(n, v));
                }
                let mut s = Sample::new(format!("{}{}", self.name, suffix), Labels::from_vec(pairs), value.as_f64());
                s.exemplar = exemplar.map(|e| Exemplar {
                    labels: Labels::from_pairs(e.pairs()),
                    value: e.value,
                    timestamp: Some((e.timestamp * 1000.0) as i64),
                });
                out.push(s);
            }
        }
    }
}

/// Appends `name="value"` with the name quoted when needed and the value escaped.
pub(crate) fn write_pair(out: &mut String, name: &str, value: &str) {
    // Writing into a String cannot fail.
    let _ = write_label_name(out, name);
    out.push_str("=\"");
    let _ = write_escaped_label_value(out, value);
    out.push('"');
}

/// Renders label pairs as `a="x",b="y"`.
pub(crate) fn render_pairs<'p>(pairs: impl IntoIterator<Item = (&'p str, &'p str)>) -> String {
    let mut s = String::new();
    for (n, v) in pairs {
        if !s.is_empty() {
            s.push(',');
        }
        write_pair(&mut s, n, v);
    }
    s
}

/// The name a family is announced under in `# HELP`/`# TYPE`, and its TYPE word.
fn header_name_and_type(name: &str, t: MetricType, format: TextFormat) -> (String, &'static str) {
    match format {
        TextFormat::OpenMetrics => (name.to_string(), t.as_str()),
        TextFormat::Text => match t {
            MetricType::Counter => (format!("{name}_total"), "counter"),
            MetricType::Info => (format!("{name}_info"), "gauge"),
            MetricType::StateSet => (name.to_string(), "gauge"),
            MetricType::Gauge => (name.to_string(), "gauge"),
            MetricType::Histogram => (name.to_string(), "histogram"),
            MetricType::Summary => (name.to_string(), "summary"),
            MetricType::GaugeHistogram => (name.to_string(), "histogram"),
            MetricType::Unknown => (name.to_string(), "untyped"),
        },
    }
}

/// Writes the `# HELP`, `# TYPE` and (OpenMetrics only) `# UNIT` lines of a family.
pub(crate) fn write_header(
    out: &mut String,
    format: TextFormat,
    name: &str,
    t: MetricType,
    help: Option<&str>,
    unit: Option<&str>,
) {
    let (hname, tword) = header_name_and_type(name, t, format);
    if let Some(help) = help {
        out.push_str("# HELP ");
        out.push_str(&hname);
        out.push(' ');
        match format {
            // OpenMetrics escapes HELP like a label value.
            TextFormat::OpenMetrics => drop(write_escaped_label_value(out, help)),
            TextFormat::Text => drop(write_escaped_help(out, help)),
        }
        out.push('\n');
    }
    out.push_str("# TYPE ");
    out.push_str(&hname);
    out.push(' ');
    out.push_str(tword);
    out.push('\n');
    if let (Some(unit), TextFormat::OpenMetrics) = (unit, format) {
        out.push_str("# UNIT ");
        out.push_str(&hname);
        out.push(' ');
        out.push_str(unit);
        out.push('\n');
    }
}

/// Writes a family given as a [`MetricFamily`] (what custom collectors yield).
pub(crate) fn write_family(out: &mut String, format: TextFormat, f: &MetricFamily, const_labels: &str) {
    write_header(out, format, &f.name, f.metric_type, f.help.as_deref(), f.unit.as_deref());
    for s in &f.samples {
        if format == TextFormat::Text && s.name.ends_with("_created") && f.metric_type != MetricType::Gauge {
            continue;
        }
        out.push_str(&s.name);
        let mut first = true;
        if !const_labels.is_empty() {
            out.push('{');
            out.push_str(const_labels);
            first = false;
        }
        for l in s.labels.iter() {
            out.push(if first { '{' } else { ',' });
            first = false;
            write_pair(out, &l.name, &l.value);
        }
        if !first {
            out.push('}');
        }
        out.push(' ');
        write_f64(out, s.value);
        if let Some(ts) = s.timestamp {
            out.push(' ');
            match format {
                TextFormat::Text => out.push_str(itoa::Buffer::new().format(ts)),
                TextFormat::OpenMetrics => write_f64(out, ts as f64 / 1000.0),
            }
        }
        if let (Some(ex), TextFormat::OpenMetrics) = (&s.exemplar, format) {
            out.push_str(" # {");
            out.push_str(&render_pairs(ex.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))));
            out.push_str("} ");
            write_f64(out, ex.value);
            if let Some(ts) = ex.timestamp {
                out.push(' ');
                write_f64(out, ts as f64 / 1000.0);
            }
        }
        out.push('\n');
    }
}
