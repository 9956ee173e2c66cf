//! The synchronous half of a scrape: parse a body, turn each sample into a series of the
//! target, and append it — through a per-target [`ScrapeCache`] so that a series line seen
//! before costs one hash lookup and an append by reference.

use std::borrow::Cow;

use ember_exposition::format::Format;
use ember_exposition::relabel::{Relabel, process_builder};
use ember_exposition::{
    Entry, Exemplar, Labels, LabelsBuilder, METRIC_NAME_LABEL, STALE_NAN, SampleRef, Timestamp, openmetrics, protobuf,
    text,
};
use ember_tsdb::storage::{AppendErrorKind, AppendOptions, Appender, SeriesRef, Value};
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::{Limits, ScrapeError, ScrapeErrorKind};

/// How a target's samples become series: its labels, `honor_labels`, `honor_timestamps`,
/// `metric_relabel_configs` and the limits.
#[derive(Debug, Clone)]
pub struct SeriesRules {
    /// The target's public labels (`job`, `instance`, …), attached to every series.
    pub target_labels: Labels,
    /// `honor_labels`: on a clash the scraped label wins (else it becomes `exported_<name>`).
    pub honor_labels: bool,
    /// `honor_timestamps`: use timestamps the target exposes (else the scrape time).
    pub honor_timestamps: bool,
    /// `track_timestamps_staleness`: series with explicit timestamps also get staleness
    /// markers when they disappear.
    pub track_timestamps_staleness: bool,
    /// Compiled `metric_relabel_configs`.
    pub metric_relabel: Vec<Relabel>,
    /// The limits that fail a scrape.
    pub limits: Limits,
}

impl SeriesRules {
    /// Rules for `target_labels` with Prometheus's defaults: labels not honored, timestamps
    /// honored, no relabeling, no limits.
    pub fn new(target_labels: Labels) -> Self {
        SeriesRules {
            target_labels,
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            metric_relabel: Vec::new(),
            limits: Limits::default(),
        }
    }

    /// The stored labels of a scraped sample `name{labels}`: target labels merged in as
    /// `honor_labels` says, then `metric_relabel_configs`. `None` when relabeling drops it.
    pub fn series_labels<'a>(
        &self,
        name: &str,
        labels: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
    ) -> Option<Labels> {
        let mut lb = LabelsBuilder::new();
        lb.set(METRIC_NAME_LABEL, name);
        for (n, v) in labels {
            lb.set(n.into_owned(), v.into_owned());
        }
        for l in &self.target_labels {
            match lb.get(&l.name) {
                Some(_) if self.honor_labels => continue,
                Some(existing) => {
                    let existing = existing.to_string();
                    let mut exported = format!("exported_{}", l.name);
                    while lb.get(&exported).is_some() {
                        exported.insert_str(0, "exported_");
                    }
                    lb.set(exported, existing);
                }
                None => {}
            }
            lb.set(l.name.as_str(), l.value.as_str());
        }
        if !process_builder(&mut lb, &self.metric_relabel) || lb.as_slice().is_empty() {
            return None;
        }
        Some(lb.into_labels())
    }

    /// Checks `label_limit` and the name and value length limits on a new series.
    fn check_labels(&self, labels: &Labels) -> Result<(), ScrapeErrorKind> {
        let l = &self.limits;
        if l.label_limit > 0 && labels.len() as u64 > l.label_limit {
            return Err(ScrapeErrorKind::LabelLimit { limit: l.label_limit, labels: labels.clone() });
        }
        for lb in labels {
            if l.label_name_length_limit > 0 && lb.name.len() as u64 > l.label_name_length_limit {
                return Err(ScrapeErrorKind::LabelNameLength {
                    limit: l.label_name_length_limit,
                    name: lb.name.clone(),
                    labels: labels.clone(),
                });
            }
            if l.label_value_length_limit > 0 && lb.value.len() as u64 > l.label_value_length_limit {
                return Err(ScrapeErrorKind::LabelValueLength {
                    limit: l.label_value_length_limit,
                    name: lb.name.clone(),
                    labels: labels.clone(),
                });
            }
        }
        Ok(())
    }
}

/// One cached series line.
#[derive(Debug)]
struct Entry_ {
    /// The key's place in [`ScrapeCache::keys`].
    key: (u32, u32),
    /// The stored labels and the storage's reference; `None` when relabeling dropped it.
    series: Option<(Labels, SeriesRef)>,
    /// The scrape iteration that last saw it.
    seen: u64,
}

/// What a target's previous scrapes taught: for each raw series text (the sample's name and
/// label block exactly as written), the labels it became and the storage reference, so an
/// unchanged line skips label parsing, relabeling and the storage's index lookup; and which
/// series the last successful scrape wrote, so those that disappear get staleness markers.
#[derive(Debug, Default)]
pub struct ScrapeCache {
    /// Slots of `entries`, hashed by their key (stored once, in the entry).
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    entries: Vec<Option<Entry_>>,
    free: Vec<u32>,
    iter: u64,
    /// Slots written by the last successful scrape (subject to staleness).
    prev: Vec<u32>,
    /// Slots written by the scrape in progress.
    cur: Vec<u32>,
    /// Slots created by the scrape in progress (forgotten again if it fails).
    created: Vec<u32>,
    key: String,
    /// Every entry's key, back to back in creation order: a scrape whose lines come in the
    /// same order as last time reads it front to back, which the CPU prefetches.
    keys: String,
    /// Bytes of `keys` no entry uses any more.
    garbage: usize,
    /// The target's metric metadata (touched per metadata line, never per sample).
    metadata: super::MetadataCache,
}

fn key_of<'k>(keys: &'k str, e: &Entry_) -> &'k str {
    &keys[e.key.0 as usize..(e.key.0 + e.key.1) as usize]
}

/// Entries unseen for this many scrapes are forgotten.
const CACHE_KEEP_ITERATIONS: u64 = 10;

/// What one scrape appended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendStats {
    /// Samples in the body (`scrape_samples_scraped`).
    pub scraped: u64,
    /// Samples left after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub post_relabel: u64,
    /// Series new to the cache (`scrape_series_added`).
    pub series_added: u64,
    /// Samples the storage rejected as out of order, out of bounds, too old or duplicate.
    pub rejected: u64,
    /// Samples whose series appeared twice in the body (the later ones are skipped).
    pub duplicates: u64,
    /// Cache hits.
    pub cache_hits: u64,
}

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> Self {
        ScrapeCache::default()
    }

    /// How many series lines are cached.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The target's metric metadata as of its scrapes so far (a shared handle that later
    /// scrapes keep updating).
    pub fn metadata(&self) -> &std::sync::Arc<super::TargetMetadata> {
        self.metadata.target()
    }

    /// Appends the samples of `body` (in `format`) at scrape time `t` and staleness markers
    /// for series of the previous successful scrape that are missing. On error nothing
    /// useful has been appended: the caller rolls `app` back and calls
    /// [`ScrapeCache::append_failure`] on a fresh appender.
    pub fn append_body(
        &mut self,
        app: &mut dyn Appender,
        rules: &SeriesRules,
        body: &[u8],
        format: Format,
        t: Timestamp,
    ) -> Result<AppendStats, ScrapeError> {
        self.iter += 1;
        self.cur.clear();
        self.created.clear();
        self.metadata.begin();
        let mut st = AppendStats::default();
        let res = match format {
            Format::Text004 => {
                let p = text::Parser::from_bytes(body).map_err(|e| ScrapeError::parse(format, e))?;
                self.append_entries(app, rules, p, format, t, &mut st)
            }
            Format::OpenMetrics001 | Format::OpenMetrics100 => {
                let p = openmetrics::Parser::from_bytes(body).map_err(|e| ScrapeError::parse(format, e))?;
                self.append_entries(app, rules, p, format, t, &mut st)
            }
            Format::Protobuf => self.append_protobuf(app, rules, body, t, &mut st),
        };
        self.metadata.finish(res.is_ok());
        if let Err(e) = res {
            self.forget_created();
            return Err(e);
        }
        // Series of the last scrape that this one did not write go stale.
        let iter = self.iter;
        for &slot in &self.prev {
            if let Some(Some(e)) = self.entries.get(slot as usize)
                && e.seen != iter
                && let Some((labels, r)) = &e.series
            {
                let _ = app.append(Some(*r), labels, t, Value::Float(STALE_NAN), AppendOptions::NONE);
            }
        }
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.evict();
        Ok(st)
    }

    /// After a failed scrape (rolled back): staleness markers at `t` for every series of
    /// the last successful scrape, which is then forgotten, as if the target had returned
    /// an empty body.
    pub fn append_failure(&mut self, app: &mut dyn Appender, t: Timestamp) {
        self.append_stale_all(app, t);
    }

    /// Staleness markers at `t` for every series of the last successful scrape (the target
    /// went away).
    pub fn append_stale_all(&mut self, app: &mut dyn Appender, t: Timestamp) {
        for slot in std::mem::take(&mut self.prev) {
            if let Some(Some(Entry_ { series: Some((labels, r)), .. })) = self.entries.get(slot as usize) {
                let _ = app.append(Some(*r), labels, t, Value::Float(STALE_NAN), AppendOptions::NONE);
            }
        }
    }

    fn forget_created(&mut self) {
        for slot in std::mem::take(&mut self.created) {
            self.remove(slot);
        }
        self.cur.clear();
        self.compact_keys();
    }

    fn remove(&mut self, slot: u32) {
        let Some(e) = self.entries.get_mut(slot as usize).and_then(Option::take) else { return };
        let h = self.hasher.hash_one(key_of(&self.keys, &e));
        if let Ok(found) = self.index.find_entry(h, |&s| s == slot) {
            found.remove();
        }
        self.garbage += e.key.1 as usize;
        self.free.push(slot);
    }

    /// Rewrites `keys` without the garbage once it is most of it.
    fn compact_keys(&mut self) {
        if self.garbage < 4096 || self.garbage * 2 < self.keys.len() {
            return;
        }
        let mut keys = String::with_capacity(self.keys.len() - self.garbage);
        for e in self.entries.iter_mut().flatten() {
            let start = keys.len() as u32;
            keys.push_str(key_of(&self.keys, e));
            e.key.0 = start;
        }
        self.keys = keys;
        self.garbage = 0;
    }

    fn evict(&mut self) {
        if self.iter % CACHE_KEEP_ITERATIONS != 0 {
            return;
        }
        let iter = self.iter;
        let old: Vec<u32> = (0..self.entries.len() as u32)
            .filter(|&s| self.entries[s as usize].as_ref().is_some_and(|e| e.seen + CACHE_KEEP_ITERATIONS <= iter))
            .collect();
        for slot in old {
            self.remove(slot);
        }
        self.compact_keys();
    }

    fn append_entries<'a, P>(
        &mut self,
        app: &mut dyn Appender,
        rules: &SeriesRules,
        parser: P,
        format: Format,
        t: Timestamp,
        st: &mut AppendStats,
    ) -> Result<(), ScrapeError>
    where
        P: Iterator<Item = Result<Entry<'a>, ember_exposition::ParseError>>,
    {
        for entry in parser {
            let s = match entry {
                Ok(Entry::Sample(s)) => s,
                Ok(other) => {
                    self.metadata.observe(&other);
                    continue;
                }
                Err(e) => return Err(ScrapeError::parse(format, e)),
            };
            self.key.clear();
            self.key.push_str(&s.name);
            self.key.push('{');
            self.key.push_str(s.labels.raw());
            self.key.push('}');
            let exemplar = s.exemplar.as_ref().map(|e| Exemplar {
                labels: e.labels.to_labels(),
                value: e.value,
                timestamp: e.timestamp,
            });
            self.sample(app, rules, &s, exemplar, t, st)?;
        }
        Ok(())
    }

    fn append_protobuf(
        &mut self,
        app: &mut dyn Appender,
        rules: &SeriesRules,
        body: &[u8],
        t: Timestamp,
        st: &mut AppendStats,
    ) -> Result<(), ScrapeError> {
        let mut families = Vec::new();
        for f in protobuf::Decoder::new().iter(body) {
            families.push(f.map_err(|e| ScrapeError::new(ScrapeErrorKind::Protobuf(e.to_string())))?);
        }
        self.metadata.observe_protobuf(&families);
        let conv = protobuf::to_families(&families);
        for fam in &conv.families {
            for smp in &fam.samples {
                self.key.clear();
                self.key.push_str(&smp.name);
                self.key.push('{');
                for l in &smp.labels {
                    self.key.push_str(&l.name);
                    self.key.push_str("=\"");
                    for c in l.value.chars() {
                        if matches!(c, '"' | '\\') {
                            self.key.push('\\');
                        }
                        self.key.push(c);
                    }
                    self.key.push_str("\",");
                }
                self.key.push('}');
                let labels =
                    smp.labels.iter().map(|l| (Cow::Borrowed(l.name.as_str()), Cow::Borrowed(l.value.as_str())));
                let s = SampleRef {
                    name: Cow::Borrowed(smp.name.as_str()),
                    labels: ember_exposition::LabelsRef::EMPTY,
                    value: smp.value,
                    timestamp: smp.timestamp,
                    exemplar: None,
                };
                self.sample_with(app, rules, &s, labels, smp.exemplar.clone(), t, st)?;
            }
        }
        Ok(())
    }

    #[inline]
    fn sample(
        &mut self,
        app: &mut dyn Appender,
        rules: &SeriesRules,
        s: &SampleRef<'_>,
        exemplar: Option<Exemplar>,
        t: Timestamp,
        st: &mut AppendStats,
    ) -> Result<(), ScrapeError> {
        self.sample_with(app, rules, s, s.labels.iter(), exemplar, t, st)
    }

    /// One sample whose cache key is in `self.key`; `labels` are its labels, decoded only
    /// on a cache miss.
    #[allow(clippy::too_many_arguments)]
    fn sample_with<'a>(
        &mut self,
        app: &mut dyn Appender,
        rules: &SeriesRules,
        s: &SampleRef<'_>,
        labels: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
        exemplar: Option<Exemplar>,
        t: Timestamp,
        st: &mut AppendStats,
    ) -> Result<(), ScrapeError> {
        st.scraped += 1;
        let ts = match s.timestamp {
            Some(ts) if rules.honor_timestamps => ts,
            _ => t,
        };
        let tracked = s.timestamp.is_none() || !rules.honor_timestamps || rules.track_timestamps_staleness;
        let h = self.hasher.hash_one(self.key.as_str());
        let (entries, keys) = (&self.entries, self.keys.as_str());
        let key = self.key.as_str();
        let found = self.index.find(h, |&s| entries[s as usize].as_ref().is_some_and(|e| key_of(keys, e) == key));
        let slot = match found {
            Some(&slot) => {
                st.cache_hits += 1;
                slot
            }
            None => {
                let series = match rules.series_labels(&s.name, labels) {
                    Some(l) => {
                        rules.check_labels(&l).map_err(ScrapeError::new)?;
                        Some((l, SeriesRef(u64::MAX)))
                    }
                    None => None,
                };
                let start = u32::try_from(self.keys.len()).map_err(|_| {
                    ScrapeError::new(ScrapeErrorKind::Storage(ember_tsdb::storage::AppendError::new(
                        AppendErrorKind::SeriesLimit,
                    )))
                })?;
                self.keys.push_str(&self.key);
                let entry = Entry_ { key: (start, self.key.len() as u32), series, seen: 0 };
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.entries[slot as usize] = Some(entry);
                        slot
                    }
                    None => {
                        self.entries.push(Some(entry));
                        (self.entries.len() - 1) as u32
                    }
                };
                let (entries, hasher, keys) = (&self.entries, &self.hasher, self.keys.as_str());
                self.index.insert_unique(h, slot, |&s| {
                    entries[s as usize].as_ref().map_or(0, |e| hasher.hash_one(key_of(keys, e)))
                });
                self.created.push(slot);
                slot
            }
        };
        let iter = self.iter;
        let e = self.entries[slot as usize].as_mut().expect("indexed slots are live");
        let Some((labels, r)) = &mut e.series else {
            e.seen = iter;
            return Ok(());
        };
        st.post_relabel += 1;
        let limit = rules.limits.sample_limit;
        if limit > 0 && st.post_relabel > limit {
            return Err(ScrapeError::new(ScrapeErrorKind::SampleLimit(limit)));
        }
        if e.seen == iter {
            st.duplicates += 1;
            return Ok(());
        }
        e.seen = iter;
        let new = r.0 == u64::MAX;
        let cached = if new { None } else { Some(*r) };
        let opts;
        let opts = match exemplar {
            Some(ex) => {
                opts = AppendOptions { exemplars: vec![ex], ..AppendOptions::default() };
                &opts
            }
            None => AppendOptions::NONE,
        };
        match app.append(cached, labels, ts, Value::Float(s.value), opts) {
            Ok(nr) => {
                *r = nr;
                if new {
                    st.series_added += 1;
                }
                if tracked {
                    self.cur.push(slot);
                }
            }
            Err(err) => match err.kind {
                AppendErrorKind::OutOfOrder
                | AppendErrorKind::OutOfBounds
                | AppendErrorKind::TooOld
                | AppendErrorKind::DuplicateTimestamp => st.rejected += 1,
                _ => return Err(ScrapeError::new(ScrapeErrorKind::Storage(err))),
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ember_exposition::{Matcher, is_stale_nan, labels};
    use ember_tsdb::head::Head;
    use ember_tsdb::storage::{Appendable, Queryable, collect_points};

    use super::*;

    /// Every series in `head` as `series string -> [(t, value)]`, stale markers as "stale".
    fn dump(head: &Head) -> BTreeMap<String, Vec<(i64, String)>> {
        let q = Queryable::querier(head, i64::MIN, i64::MAX).unwrap();
        let set = q.select(true, None, &[Matcher::regex("__name__", ".+").unwrap()]);
        let mut out = BTreeMap::new();
        for s in set {
            let s = s.unwrap();
            let pts = collect_points(&mut *s.iter())
                .into_iter()
                .map(|p| {
                    let v = p.v.as_float().unwrap();
                    (p.t, if is_stale_nan(v) { "stale".to_string() } else { v.to_string() })
                })
                .collect();
            out.insert(s.labels().to_series_string(), pts);
        }
        out
    }

    fn scrape(
        head: &Head,
        cache: &mut ScrapeCache,
        rules: &SeriesRules,
        body: &str,
        t: i64,
    ) -> Result<AppendStats, ScrapeError> {
        let mut app = Appendable::appender(head);
        let r = cache.append_body(&mut *app, rules, body.as_bytes(), Format::Text004, t);
        match &r {
            Ok(_) => app.commit().unwrap(),
            Err(_) => {
                app.rollback().unwrap();
                let mut app = Appendable::appender(head);
                cache.append_failure(&mut *app, t);
                app.commit().unwrap();
            }
        }
        r
    }

    fn pts(v: &[(i64, &str)]) -> Vec<(i64, String)> {
        v.iter().map(|(t, s)| (*t, s.to_string())).collect()
    }

    #[test]
    fn cache_hits_and_staleness() {
        let head = Head::default();
        let mut cache = ScrapeCache::new();
        let rules = SeriesRules::new(labels! {"job" => "j", "instance" => "i:1"});
        let st = scrape(&head, &mut cache, &rules, "a 1\nb{x=\"1\"} 2\n", 1000).unwrap();
        assert_eq!((st.scraped, st.post_relabel, st.series_added, st.cache_hits), (2, 2, 2, 0));
        let st = scrape(&head, &mut cache, &rules, "a 3\n", 2000).unwrap();
        assert_eq!((st.scraped, st.series_added, st.cache_hits), (1, 0, 1));
        // b left the scrape: one staleness marker, then nothing.
        let st = scrape(&head, &mut cache, &rules, "a 4\n", 3000).unwrap();
        assert_eq!(st.cache_hits, 1);
        let d = dump(&head);
        assert_eq!(d["a{instance=\"i:1\", job=\"j\"}"], pts(&[(1000, "1"), (2000, "3"), (3000, "4")]));
        assert_eq!(d["b{instance=\"i:1\", job=\"j\", x=\"1\"}"], pts(&[(1000, "2"), (2000, "stale")]));
    }

    #[test]
    fn unseen_entries_are_evicted() {
        let head = Head::default();
        let mut cache = ScrapeCache::new();
        let rules = SeriesRules::new(labels! {"job" => "j"});
        scrape(&head, &mut cache, &rules, "a 1\nb 1\n", 1000).unwrap();
        assert_eq!(cache.len(), 2);
        // Eviction runs every `CACHE_KEEP_ITERATIONS` scrapes.
        for t in 2..=2 * CACHE_KEEP_ITERATIONS as i64 {
            scrape(&head, &mut cache, &rules, "a 1\n", t * 1000).unwrap();
        }
        assert_eq!(cache.len(), 1);
        // A forgotten line is a new series to the cache again, stored in the same series.
        let st = scrape(&head, &mut cache, &rules, "a 1\nb 2\n", 30_000).unwrap();
        assert_eq!((st.series_added, st.cache_hits), (1, 1));
        assert_eq!(head.num_series(), 2);
    }

    #[test]
    fn keys_are_compacted() {
        let head = Head::default();
        let mut cache = ScrapeCache::new();
        let rules = SeriesRules::new(labels! {"job" => "j"});
        let all: String = (0..600).map(|i| format!("series_number_{i} 1\n")).collect();
        scrape(&head, &mut cache, &rules, &all, 1000).unwrap();
        for t in 2..=2 * CACHE_KEEP_ITERATIONS as i64 {
            scrape(&head, &mut cache, &rules, "series_number_599 1\n", t * 1000).unwrap();
        }
        assert_eq!((cache.len(), cache.garbage, cache.keys.as_str()), (1, 0, "series_number_599{}"));
        let st = scrape(&head, &mut cache, &rules, &all, 30_000).unwrap();
        assert_eq!((st.series_added, st.cache_hits), (599, 1));
        let st = scrape(&head, &mut cache, &rules, &all, 31_000).unwrap();
        assert_eq!((st.series_added, st.cache_hits), (0, 600));
    }

    #[test]
    fn failure_rolls_back_and_marks_stale() {
        let head = Head::default();
        let mut cache = ScrapeCache::new();
        let rules = SeriesRules::new(labels! {"job" => "j"});
        scrape(&head, &mut cache, &rules, "a 1\n", 1000).unwrap();
        // `c` parses before the error: nothing of this scrape may be stored.
        let err = scrape(&head, &mut cache, &rules, "a 2\nc 5\nnot a metric line\n", 2000).unwrap_err();
        assert!(matches!(err.kind, ScrapeErrorKind::Parse { .. }), "{err}");
        assert!(err.to_string().contains("line 3"), "{err}");
        let d = dump(&head);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d["a{job=\"j\"}"], pts(&[(1000, "1"), (2000, "stale")]));
        // The cache forgot `c`; the next good scrape counts both as... `a` cached, `c` new.
        let st = scrape(&head, &mut cache, &rules, "a 3\nc 6\n", 3000).unwrap();
        assert_eq!((st.series_added, st.cache_hits), (1, 1));
    }

    #[test]
    fn honor_labels_and_exported() {
        let head = Head::default();
        let mut rules = SeriesRules::new(labels! {"job" => "j", "instance" => "t"});
        let mut cache = ScrapeCache::new();
        scrape(&head, &mut cache, &rules, "m{job=\"x\",exported_job=\"y\"} 1\n", 1000).unwrap();
        let d = dump(&head);
        let key = "m{exported_exported_job=\"x\", exported_job=\"y\", instance=\"t\", job=\"j\"}";
        assert!(d.contains_key(key), "{d:?}");
        rules.honor_labels = true;
        let head = Head::default();
        let mut cache = ScrapeCache::new();
        scrape(&head, &mut cache, &rules, "m{job=\"x\"} 1\n", 1000).unwrap();
        assert!(dump(&head).contains_key("m{instance=\"t\", job=\"x\"}"));
    }

    #[test]
    fn timestamps_and_relabel() {
        let head = Head::default();
        let mut rules = SeriesRules::new(labels! {"job" => "j"});
        rules.metric_relabel = vec![
            Relabel::new(
                serde_json::from_value(serde_json::json!({
                    "source_labels": ["__name__"], "regex": "drop_.*", "action": "drop"
                }))
                .unwrap(),
            )
            .unwrap(),
        ];
        let mut cache = ScrapeCache::new();
        let st = scrape(&head, &mut cache, &rules, "drop_me 1\nkeep 2 500\n", 1000).unwrap();
        assert_eq!((st.scraped, st.post_relabel), (2, 1));
        let st = scrape(&head, &mut cache, &rules, "drop_me 1\n", 2000).unwrap();
        assert_eq!((st.scraped, st.post_relabel, st.cache_hits), (1, 0, 1));
        // Explicit timestamps are honored and such series get no staleness marker.
        assert_eq!(dump(&head)["keep{job=\"j\"}"], pts(&[(500, "2")]));
        rules.honor_timestamps = false;
        let head = Head::default();
        let mut cache = ScrapeCache::new();
        scrape(&head, &mut cache, &rules, "keep 2 500\n", 1000).unwrap();
        scrape(&head, &mut cache, &rules, "", 2000).unwrap();
        assert_eq!(dump(&head)["keep{job=\"j\"}"], pts(&[(1000, "2"), (2000, "stale")]));
    }

    #[track_caller]
    fn check_limit(limits: Limits, body: &str, want: &str) {
        let head = Head::default();
        let mut rules = SeriesRules::new(labels! {"job" => "j"});
        rules.limits = limits;
        let mut cache = ScrapeCache::new();
        let err = scrape(&head, &mut cache, &rules, body, 1000).unwrap_err();
        assert_eq!(err.to_string(), want);
        assert!(dump(&head).is_empty(), "nothing partial may be stored");
    }

    #[test]
    fn limits_fail_the_whole_scrape() {
        let l = Limits::default();
        check_limit(Limits { sample_limit: 2, ..l }, "a 1\nb 1\nc 1\n", "sample limit exceeded (limit 2)");
        check_limit(
            Limits { label_limit: 2, ..l },
            "a 1\nb{x=\"1\"} 1\n",
            "label_limit exceeded (metric: b, number of labels: 3, limit: 2)",
        );
        check_limit(
            Limits { label_name_length_limit: 8, ..l },
            "a{too_long_name=\"1\"} 1\n",
            "label_name_length_limit exceeded (metric: a, label name: too_long_name, limit: 8)",
        );
        check_limit(
            Limits { label_value_length_limit: 3, ..l },
            "a{x=\"1234\"} 1\n",
            "label_value_length_limit exceeded (metric: a, label name: x, limit: 3)",
        );
    }

    #[test]
    fn openmetrics_and_protobuf() {
        let head = Head::default();
        let rules = SeriesRules::new(labels! {"job" => "j"});
        let mut cache = ScrapeCache::new();
        let mut app = Appendable::appender(&head);
        let om = "# TYPE a gauge\na{x=\"1\"} 1.5\n# EOF\n";
        cache.append_body(&mut *app, &rules, om.as_bytes(), Format::OpenMetrics100, 1000).unwrap();
        app.commit().unwrap();
        // Missing `# EOF` is an OpenMetrics error.
        let mut app = Appendable::appender(&head);
        assert!(cache.append_body(&mut *app, &rules, b"a 1\n", Format::OpenMetrics100, 2000).is_err());
        drop(app);
        let fam = ember_exposition::MetricFamily {
            name: "p".into(),
            metric_type: ember_exposition::MetricType::Gauge,
            samples: vec![ember_exposition::Sample::new("p", labels! {"y" => "q\"z"}, 7.0)],
            ..Default::default()
        };
        let mut body = Vec::new();
        protobuf::encode_families(&[fam], &mut body).unwrap();
        let mut cache = ScrapeCache::new();
        for t in [3000, 4000] {
            let mut app = Appendable::appender(&head);
            let st = cache.append_body(&mut *app, &rules, &body, Format::Protobuf, t).unwrap();
            assert_eq!(st.scraped, 1);
            app.commit().unwrap();
        }
        let d = dump(&head);
        assert_eq!(d["a{job=\"j\", x=\"1\"}"], pts(&[(1000, "1.5")]));
        assert_eq!(d["p{job=\"j\", y=\"q\\\"z\"}"], pts(&[(3000, "7"), (4000, "7")]));
    }
}
