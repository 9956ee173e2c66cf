//! What each target says about its metric families: type, help and unit, as the
//! `# TYPE`, `# HELP` and `# UNIT` lines (or the protobuf family fields) of its last scrapes
//! report them — the data of Prometheus's `/api/v1/metadata` and `/api/v1/targets/metadata`.
//!
//! The loop side, [`MetadataCache`], lives inside the target's
//! [`ScrapeCache`](super::ScrapeCache) and is touched once per metadata line, never per
//! sample: a line that repeats what the cache holds costs one hash lookup and a compare. Only
//! when something changed (a new family, a new help text, a family gone for
//! [`METADATA_KEEP_ITERATIONS`] scrapes) does the end of the scrape publish a new sorted
//! snapshot to the reader side, [`TargetMetadata`], which API handlers read without ever
//! waiting on a scrape in progress. Memory is bounded by the families a target exposes
//! (families unseen for a few scrapes are forgotten), not by time or samples.
//!
//! ```
//! use ember_discovery::scrape::{MetadataCache, MetricMetadata};
//! use ember_exposition::MetricType;
//!
//! let mut cache = MetadataCache::new();
//! let reader = cache.target().clone();
//! cache.begin();
//! cache.set_type("http_requests_total", MetricType::Counter);
//! cache.set_help("http_requests_total", "Requests served.");
//! cache.finish(true);
//! let want = MetricMetadata {
//!     metric_family: "http_requests_total".into(),
//!     metric_type: MetricType::Counter,
//!     help: "Requests served.".into(),
//!     unit: String::new(),
//! };
//! assert_eq!(reader.get("http_requests_total"), Some(want));
//! // Unchanged lines publish nothing new: the same snapshot stays shared.
//! let before = reader.list();
//! cache.begin();
//! cache.set_type("http_requests_total", MetricType::Counter);
//! cache.set_help("http_requests_total", "Requests served.");
//! cache.finish(true);
//! assert!(std::sync::Arc::ptr_eq(&before, &reader.list()));
//! ```

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ember_exposition::MetricType;

/// Families not seen for this many successful scrapes are forgotten.
pub const METADATA_KEEP_ITERATIONS: u64 = 10;

/// The metadata of one metric family of one target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricMetadata {
    /// The family name as the target wrote it in its metadata lines.
    pub metric_family: String,
    /// The declared type ([`MetricType::Unknown`] when only help or unit was given, and for
    /// `untyped`).
    pub metric_type: MetricType,
    /// The help text, unescaped (empty when none was given).
    pub help: String,
    /// The unit (OpenMetrics and protobuf only; empty otherwise).
    pub unit: String,
}

/// The reader side: a target's metric metadata as of its last scrape that changed it,
/// sorted by family name. Cheap to clone the snapshot out of; never blocked by a scrape.
#[derive(Debug, Default)]
pub struct TargetMetadata {
    current: RwLock<Arc<[MetricMetadata]>>,
}

impl TargetMetadata {
    /// Every family's metadata, sorted by family name.
    pub fn list(&self) -> Arc<[MetricMetadata]> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The metadata of the family named `metric_family`, if the target reported any.
    pub fn get(&self, metric_family: &str) -> Option<MetricMetadata> {
        let list = self.list();
        list.binary_search_by(|m| m.metric_family.as_str().cmp(metric_family)).ok().map(|i| list[i].clone())
    }

    fn publish(&self, list: Arc<[MetricMetadata]>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = list;
    }
}

#[derive(Debug)]
struct Entry {
    metric_type: MetricType,
    help: Box<str>,
    unit: Box<str>,
    /// The scrape that last mentioned the family.
    seen: u64,
}

/// The loop side: updated from the metadata lines of each scrape, publishing to its
/// [`TargetMetadata`] only when something changed.
#[derive(Debug)]
pub struct MetadataCache {
    entries: HashMap<Box<str>, Entry>,
    iter: u64,
    changed: bool,
    target: Arc<TargetMetadata>,
}

impl Default for MetadataCache {
    fn default() -> Self {
        MetadataCache::new()
    }
}

impl MetadataCache {
    /// An empty cache with a fresh reader.
    pub fn new() -> Self {
        MetadataCache { entries: HashMap::new(), iter: 0, changed: false, target: Arc::default() }
    }

    /// The reader that [`MetadataCache::finish`] publishes to.
    pub fn target(&self) -> &Arc<TargetMetadata> {
        &self.target
    }

    /// Families cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no family is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Starts a scrape.
    pub fn begin(&mut self) {
        self.iter += 1;
    }

    fn entry(&mut self, family: &str) -> &mut Entry {
        let iter = self.iter;
        if !self.entries.contains_key(family) {
            self.changed = true;
            self.entries.insert(
                family.into(),
                Entry { metric_type: MetricType::Unknown, help: "".into(), unit: "".into(), seen: iter },
            );
        }
        let e = self.entries.get_mut(family).unwrap_or_else(|| unreachable!("inserted above"));
        e.seen = iter;
        e
    }

    /// A `# TYPE` line.
    pub fn set_type(&mut self, family: &str, metric_type: MetricType) {
        let e = self.entry(family);
        if e.metric_type != metric_type {
            e.metric_type = metric_type;
            self.changed = true;
        }
    }

    /// A `# HELP` line.
    pub fn set_help(&mut self, family: &str, help: &str) {
        let e = self.entry(family);
        if *e.help != *help {
            e.help = help.into();
            self.changed = true;
        }
    }

    /// A `# UNIT` line.
    pub fn set_unit(&mut self, family: &str, unit: &str) {
        let e = self.entry(family);
        if *e.unit != *unit {
            e.unit = unit.into();
            self.changed = true;
        }
    }

    /// One parsed line of a text or OpenMetrics body; anything but `# TYPE`, `# HELP` and
    /// `# UNIT` is ignored.
    #[inline]
    pub fn observe(&mut self, entry: &ember_exposition::Entry<'_>) {
        use ember_exposition::Entry as E;
        match entry {
            E::Type { name, metric_type } => self.set_type(name, *metric_type),
            E::Help { name, help } => self.set_help(name, help),
            E::Unit { name, unit } => self.set_unit(name, unit),
            _ => {}
        }
    }

    /// The families of a protobuf body, under their names as sent (counters keep `_total`,
    /// as Prometheus reports them).
    pub fn observe_protobuf(&mut self, families: &[ember_exposition::protobuf::proto::MetricFamily]) {
        for f in families {
            self.observe_protobuf_family(&f.name, f.r#type, &f.help, &f.unit);
        }
    }

    /// One family of a protobuf body (name as sent, raw type number, help, unit), as
    /// [`MetadataCache::observe_protobuf`] observes each; unknown type numbers are
    /// [`MetricType::Unknown`].
    pub fn observe_protobuf_family(&mut self, name: &str, metric_type: i32, help: &str, unit: &str) {
        use ember_exposition::protobuf::proto::MetricType as P;
        let t = match P::try_from(metric_type) {
            Ok(P::Counter) => MetricType::Counter,
            Ok(P::Gauge) => MetricType::Gauge,
            Ok(P::Summary) => MetricType::Summary,
            Ok(P::Histogram) => MetricType::Histogram,
            Ok(P::GaugeHistogram) => MetricType::GaugeHistogram,
            Ok(P::Untyped) | Err(_) => MetricType::Unknown,
        };
        // One lookup for the three fields: a family as last seen costs a hash and compares.
        if let Some(e) = self.entries.get_mut(name) {
            e.seen = self.iter;
            if e.metric_type == t && *e.help == *help && *e.unit == *unit {
                return;
            }
        }
        self.set_type(name, t);
        self.set_help(name, help);
        self.set_unit(name, unit);
    }

    /// Ends a scrape: after a successful one, families unseen for
    /// [`METADATA_KEEP_ITERATIONS`] scrapes are dropped; then, if anything changed, a new
    /// snapshot is published.
    pub fn finish(&mut self, success: bool) {
        if success {
            let iter = self.iter;
            let before = self.entries.len();
            self.entries.retain(|_, e| e.seen + METADATA_KEEP_ITERATIONS > iter);
            self.changed |= self.entries.len() != before;
        }
        if !std::mem::take(&mut self.changed) {
            return;
        }
        let mut list: Vec<MetricMetadata> = self
            .entries
            .iter()
            .map(|(name, e)| MetricMetadata {
                metric_family: name.to_string(),
                metric_type: e.metric_type,
                help: e.help.to_string(),
                unit: e.unit.to_string(),
            })
            .collect();
        list.sort_unstable_by(|a, b| a.metric_family.cmp(&b.metric_family));
        self.target.publish(list.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(family: &str, t: MetricType, help: &str, unit: &str) -> MetricMetadata {
        MetricMetadata { metric_family: family.into(), metric_type: t, help: help.into(), unit: unit.into() }
    }

    #[test]
    fn changes_publish_and_unseen_families_expire() {
        let mut c = MetadataCache::new();
        let r = Arc::clone(c.target());
        assert!(r.list().is_empty());
        c.begin();
        c.set_help("b", "B.");
        c.set_type("a", MetricType::Gauge);
        c.set_unit("a", "seconds");
        c.finish(true);
        assert_eq!(
            &*r.list(),
            [md("a", MetricType::Gauge, "", "seconds"), md("b", MetricType::Unknown, "B.", "")].as_slice()
        );
        // A changed help text is a new snapshot.
        c.begin();
        c.set_help("b", "B, again.");
        c.set_type("a", MetricType::Gauge);
        c.finish(true);
        assert_eq!(r.get("b").unwrap().help, "B, again.");
        assert_eq!(r.get("nope"), None);
        // `a` and `b` leave the exposition: kept for a while, then gone.
        for i in 1..METADATA_KEEP_ITERATIONS {
            c.begin();
            c.finish(true);
            assert_eq!(r.list().len(), 2, "scrape {i}");
        }
        c.begin();
        c.finish(true);
        assert!(r.list().is_empty());
        assert!(c.is_empty());
    }

    #[test]
    fn failed_scrapes_expire_nothing() {
        let mut c = MetadataCache::new();
        c.begin();
        c.set_type("a", MetricType::Counter);
        c.finish(true);
        for _ in 0..2 * METADATA_KEEP_ITERATIONS {
            c.begin();
            c.finish(false);
        }
        assert_eq!(c.target().list().len(), 1);
    }

    /// Through the scrape cache: every format reports its metadata, and unchanged scrapes
    /// publish nothing.
    #[test]
    fn scrape_cache_keeps_metadata_of_every_format() {
        use ember_exposition::format::Format;
        use ember_exposition::labels;
        use ember_tsdb::head::Head;
        use ember_tsdb::storage::Appendable;

        use crate::scrape::{ScrapeCache, SeriesRules};

        let head = Head::default();
        let rules = SeriesRules::new(labels! {"job" => "j"});
        let scrape = |cache: &mut ScrapeCache, body: &[u8], format, t| {
            let mut app = Appendable::appender(&head);
            let r = cache.append_body(&mut *app, &rules, body, format, t);
            app.commit().unwrap();
            r
        };
        let mut cache = ScrapeCache::new();
        let text = "# HELP up_total Ups.\n# TYPE up_total counter\nup_total 1\n# TYPE u untyped\nu 2\n";
        scrape(&mut cache, text.as_bytes(), Format::Text004, 1000).unwrap();
        let r = Arc::clone(cache.metadata());
        assert_eq!(
            &*r.list(),
            [md("u", MetricType::Unknown, "", ""), md("up_total", MetricType::Counter, "Ups.", "")].as_slice()
        );
        let first = r.list();
        scrape(&mut cache, text.as_bytes(), Format::Text004, 2000).unwrap();
        assert!(Arc::ptr_eq(&first, &r.list()), "nothing changed, nothing published");

        let mut cache = ScrapeCache::new();
        let om = "# TYPE d_seconds gauge\n# UNIT d_seconds seconds\n# HELP d_seconds Delay.\nd_seconds 1\n# EOF\n";
        scrape(&mut cache, om.as_bytes(), Format::OpenMetrics100, 1000).unwrap();
        assert_eq!(cache.metadata().get("d_seconds"), Some(md("d_seconds", MetricType::Gauge, "Delay.", "seconds")));

        let fam = ember_exposition::MetricFamily {
            name: "p".into(),
            metric_type: MetricType::Counter,
            help: Some("P.".into()),
            samples: vec![ember_exposition::Sample::new("p_total", labels! {}, 7.0)],
            ..Default::default()
        };
        let mut body = Vec::new();
        ember_exposition::protobuf::encode_families(&[fam], &mut body).unwrap();
        let mut cache = ScrapeCache::new();
        scrape(&mut cache, &body, Format::Protobuf, 1000).unwrap();
        assert_eq!(&*cache.metadata().list(), [md("p_total", MetricType::Counter, "P.", "")].as_slice());
    }
}
