//! [`Registry`]: named families, custom collectors, and the scrape output.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ember_exposition::format::{Format, negotiate_offered};
use ember_exposition::{MetricFamily, MetricType};
use parking_lot::RwLock;

use crate::encode::{Metric, MetricEncoder, TextFormat, render_pairs, write_family, write_header};
use crate::error::{ErrorKind, Result, check_label_names, check_metric_name};

/// Yields metric families at scrape time: for exporters whose values live elsewhere
/// (another process, the kernel, a database).
pub trait Collector: Send + Sync + 'static {
    /// The families as they are now.
    fn collect(&self) -> Vec<MetricFamily>;
}

/// Identifies a registered [`Collector`] for [`Registry::unregister_collector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CollectorId(u64);

/// A registry of metric families; cloning gives another handle to the same registry.
///
/// [`with_prefix`](Self::with_prefix) and [`with_const_label`](Self::with_const_label) give
/// views that register into the same registry with a name prefix or extra constant labels.
/// Registration checks names: the same family name twice is [`ErrorKind::AlreadyRegistered`]
/// (or [`ErrorKind::ConflictingType`] when the types differ), and a family whose sample names
/// overlap another's (gauge `a_total` against counter `a`) is [`ErrorKind::NameCollision`].
#[derive(Clone, Default)]
pub struct Registry {
    shared: Arc<RwLock<State>>,
    prefix: String,
    const_labels: Vec<(Box<str>, Box<str>)>,
}

#[derive(Default)]
struct State {
    families: BTreeMap<String, Registered>,
    /// Sample name -> family (or collector family) producing it.
    samples: HashMap<String, String>,
    collectors: Vec<RegisteredCollector>,
    collector_names: HashMap<CollectorId, Vec<String>>,
}

/// A collector, its constant labels, and those labels rendered.
type RegisteredCollector = (CollectorId, Box<dyn Collector>, Vec<(Box<str>, Box<str>)>, String);

static NEXT_COLLECTOR: AtomicU64 = AtomicU64::new(1);

struct Registered {
    metric: Box<dyn Metric>,
    metric_type: MetricType,
    help: Option<String>,
    unit: Option<String>,
    const_labels: Vec<(Box<str>, Box<str>)>,
    rendered_const: String,
}

/// The sample names a family of this name and type produces.
fn sample_names(name: &str, t: MetricType) -> Vec<String> {
    let s = |suffix: &str| format!("{name}{suffix}");
    match t {
        MetricType::Counter => vec![s("_total"), s("_created")],
        MetricType::Histogram | MetricType::GaugeHistogram => {
            vec![s("_bucket"), s("_count"), s("_sum"), s("_created"), s("_gcount"), s("_gsum")]
        }
        MetricType::Summary => vec![s(""), s("_count"), s("_sum"), s("_created")],
        MetricType::Info => vec![s("_info")],
        MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => vec![s("")],
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.read();
        f.debug_struct("Registry")
            .field("prefix", &self.prefix)
            .field("families", &st.families.keys().collect::<Vec<_>>())
            .field("collectors", &st.collectors.len())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A view that prefixes every name it registers with `prefix_`.
    pub fn with_prefix(&self, prefix: &str) -> Result<Registry> {
        let prefix = if self.prefix.is_empty() { prefix.to_string() } else { format!("{}_{prefix}", self.prefix) };
        check_metric_name(&prefix)?;
        Ok(Registry { prefix, ..self.clone() })
    }

    /// A view that adds the label `name="value"` to every family it registers.
    pub fn with_const_label(&self, name: &str, value: &str) -> Result<Registry> {
        let mut const_labels = self.const_labels.clone();
        const_labels.push((name.into(), value.into()));
        check_label_names(&const_labels.iter().map(|(n, _)| n).collect::<Vec<_>>())?;
        Ok(Registry { const_labels, ..self.clone() })
    }

    fn full_name(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}_{name}", self.prefix) }
    }

    /// Registers `metric` (a clone of a handle you keep) under `name` with `help`.
    ///
    /// A counter's name may be given with or without `_total`.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) -> Result<()> {
        self.register_inner(name, Some(help), None, Box::new(metric))
    }

    /// Like [`register`](Self::register) with a unit (`seconds`, `bytes`): the name gets the
    /// suffix `_<unit>` unless it has it, and OpenMetrics output gets a `# UNIT` line.
    pub fn register_with_unit(&self, name: &str, help: &str, unit: &str, metric: impl Metric) -> Result<()> {
        self.register_inner(name, Some(help), Some(unit), Box::new(metric))
    }

    fn register_inner(
        &self,
        name: &str,
        help: Option<&str>,
        unit: Option<&str>,
        metric: Box<dyn Metric>,
    ) -> Result<()> {
        let t = metric.metric_type();
        let mut name = self.full_name(name);
        if t == MetricType::Counter
            && let Some(stripped) = name.strip_suffix("_total")
        {
            name = stripped.to_string();
        }
        if t == MetricType::Info
            && let Some(stripped) = name.strip_suffix("_info")
        {
            name = stripped.to_string();
        }
        if let Some(unit) = unit {
            check_metric_name(unit)?;
            if !name.ends_with(&format!("_{unit}")) {
                name = format!("{name}_{unit}");
            }
        }
        check_metric_name(&name)?;
        let mut st = self.shared.write();
        if let Some(existing) = st.families.get(&name) {
            return Err(if existing.metric_type == t {
                ErrorKind::AlreadyRegistered(name)
            } else {
                ErrorKind::ConflictingType { name, existing: existing.metric_type, new: t }
            }
            .into());
        }
        let samples = sample_names(&name, t);
        if let Some((sample, existing)) = samples.iter().find_map(|s| st.samples.get(s).map(|f| (s, f))) {
            return Err(ErrorKind::NameCollision { sample: sample.clone(), existing: existing.clone() }.into());
        }
        for s in samples {
            st.samples.insert(s, name.clone());
        }
        let rendered_const = render_pairs(self.const_labels.iter().map(|(n, v)| (&**n, &**v)));
        st.families.insert(
            name,
            Registered {
                metric,
                metric_type: t,
                help: help.map(str::to_string),
                unit: unit.map(str::to_string),
                const_labels: self.const_labels.clone(),
                rendered_const,
            },
        );
        Ok(())
    }

    /// Unregisters the family `name` (this view's prefix applied; a counter's `_total` optional).
    pub fn unregister(&self, name: &str) -> Result<()> {
        let name = self.full_name(name);
        let mut st = self.shared.write();
        let key = if st.families.contains_key(&name) {
            name
        } else {
            match name.strip_suffix("_total").or_else(|| name.strip_suffix("_info")) {
                Some(s) if st.families.contains_key(s) => s.to_string(),
                _ => return Err(ErrorKind::NotRegistered(name).into()),
            }
        };
        let r = st.families.remove(&key).expect("checked above");
        for s in sample_names(&key, r.metric_type) {
            st.samples.remove(&s);
        }
        Ok(())
    }

    /// Registers a custom collector. The families it yields now reserve their names (so later
    /// registrations cannot collide with them); it is asked again at every scrape.
    pub fn register_collector(&self, collector: impl Collector) -> Result<CollectorId> {
        let families = collector.collect();
        let mut st = self.shared.write();
        let mut reserved = Vec::new();
        for f in &families {
            check_metric_name(&f.name)?;
            if st.families.contains_key(&f.name) {
                return Err(ErrorKind::AlreadyRegistered(f.name.clone()).into());
            }
            for s in sample_names(&f.name, f.metric_type) {
                if let Some(existing) = st.samples.get(&s) {
                    return Err(ErrorKind::NameCollision { sample: s, existing: existing.clone() }.into());
                }
                reserved.push((s, f.name.clone()));
            }
        }
        let id = CollectorId(NEXT_COLLECTOR.fetch_add(1, Ordering::Relaxed));
        let reserved: Vec<String> = reserved
            .into_iter()
            .map(|(s, f)| {
                st.samples.insert(s.clone(), f);
                s
            })
            .collect();
        let rendered = render_pairs(self.const_labels.iter().map(|(n, v)| (&**n, &**v)));
        st.collectors.push((id, Box::new(collector), self.const_labels.clone(), rendered));
        st.collector_names.insert(id, reserved);
        Ok(id)
    }

    /// Removes a collector; returns whether it was registered.
    pub fn unregister_collector(&self, id: CollectorId) -> bool {
        let mut st = self.shared.write();
        let before = st.collectors.len();
        st.collectors.retain(|(i, ..)| *i != id);
        for s in st.collector_names.remove(&id).unwrap_or_default() {
            st.samples.remove(&s);
        }
        st.collectors.len() != before
    }

    /// Encodes every family in a text format into `out` (appending).
    ///
    /// Families come in name order, then the collectors' families; families without samples
    /// are left out; OpenMetrics output ends with `# EOF`.
    pub fn encode_into(&self, out: &mut String, format: TextFormat) {
        let st = self.shared.read();
        for (name, r) in &st.families {
            let start = out.len();
            write_header(out, format, name, r.metric_type, r.help.as_deref(), r.unit.as_deref());
            let body = out.len();
            r.metric.encode(&mut MetricEncoder::text(out, format, name, &r.rendered_const));
            if out.len() == body {
                out.truncate(start);
            }
        }
        for (_, c, _, rendered) in &st.collectors {
            for f in c.collect() {
                if !f.samples.is_empty() {
                    write_family(out, format, &f, rendered);
                }
            }
        }
        if format == TextFormat::OpenMetrics {
            out.push_str("# EOF\n");
        }
    }

    /// Encodes every family in a text format.
    pub fn encode(&self, format: TextFormat) -> String {
        let mut out = String::new();
        self.encode_into(&mut out, format);
        out
    }

    /// Every family as a [`MetricFamily`] (with `_created` samples and exemplars), in the
    /// order [`encode`](Self::encode) writes them. Costs an allocation per sample: the text
    /// path does not go through here.
    pub fn gather(&self) -> Vec<MetricFamily> {
        let st = self.shared.read();
        let mut out = Vec::with_capacity(st.families.len());
        for (name, r) in &st.families {
            let mut f = MetricFamily::new(name.clone(), r.metric_type);
            f.help = r.help.clone();
            f.unit = r.unit.clone();
            r.metric.encode(&mut MetricEncoder::samples(&mut f.samples, name, &r.const_labels));
            if !f.samples.is_empty() {
                out.push(f);
            }
        }
        for (_, c, const_labels, _) in &st.collectors {
            for mut f in c.collect() {
                if !const_labels.is_empty() {
                    for s in &mut f.samples {
                        let mut b = s.labels.builder();
                        for (n, v) in const_labels {
                            b.set(&**n, &**v);
                        }
                        s.labels = b.into_labels();
                    }
                }
                if !f.samples.is_empty() {
                    out.push(f);
                }
            }
        }
        out
    }

    /// Encodes every family in `format`: the text formats through the direct writer,
    /// protobuf (feature `protobuf`) through ember-exposition's encoder over [`gather`](Self::gather).
    pub fn encode_format(&self, format: Format) -> Result<Vec<u8>> {
        match format {
            Format::Text004 => Ok(self.encode(TextFormat::Text).into_bytes()),
            Format::OpenMetrics001 | Format::OpenMetrics100 => Ok(self.encode(TextFormat::OpenMetrics).into_bytes()),
            Format::Protobuf => self.encode_protobuf(),
        }
    }

    #[cfg(feature = "protobuf")]
    fn encode_protobuf(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        ember_exposition::protobuf::encode_families(&self.gather(), &mut out)
            .map_err(|e| ErrorKind::Encode(format!("family {}: {:?}", e.family, e.kind)))?;
        Ok(out)
    }

    #[cfg(not(feature = "protobuf"))]
    fn encode_protobuf(&self) -> Result<Vec<u8>> {
        Err(ErrorKind::Unsupported("protobuf needs the `protobuf` feature".into()).into())
    }

    /// Answers a scrape: picks the format from an `Accept` header (as Prometheus's clients
    /// do; protobuf only with the `protobuf` feature) and encodes every family in it.
    pub fn scrape(&self, accept: &str) -> Result<Scrape> {
        let offered: &[Format] = if cfg!(feature = "protobuf") {
            &Format::ALL
        } else {
            &[Format::Text004, Format::OpenMetrics001, Format::OpenMetrics100]
        };
        let format = negotiate_offered(accept, offered).format;
        Ok(Scrape { format, body: self.encode_format(format)? })
    }
}

/// A scrape response: the format chosen and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrape {
    /// The format of `body`; its [`Format::content_type`] is the header to send.
    pub format: Format,
    /// The encoded families.
    pub body: Vec<u8>,
}

impl Scrape {
    /// The Content-Type header value for the body.
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }
}
