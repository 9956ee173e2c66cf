//! The synchronous half of a scrape: parse a body, turn each sample into a series of the
//! target, and append it — through a per-target [`ScrapeCache`] so that a series line seen
//! before costs one hash lookup and an append by reference.

use std::borrow::Cow;

use ember_exposition::format::Format;
use ember_exposition::relabel::{Relabel, process_builder};
use ember_exposition::{
    Entry, Exemplar, Labels, LabelsBuilder, LabelsRef, METRIC_NAME_LABEL, STALE_NAN, Timestamp, openmetrics, protobuf,
    text,
};
use ember_tsdb::storage::{AppendError, AppendErrorKind, AppendOptions, Appender, SeriesRef, Value};
use std::hash::{BuildHasher, Hasher};

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
    /// Pass exemplars to the appender (exemplar storage is enabled); when off (the
    /// default) they are not even converted.
    pub exemplars: bool,
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
            exemplars: false,
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

/// `Slot::r` of a line whose append has not succeeded yet.
const NEW: u64 = u64::MAX;
/// `Slot::r` of a line that metric relabeling drops.
const DROPPED: u64 = u64::MAX - 1;
/// `Slot::r` of an unused slot.
const FREE: u64 = u64::MAX - 2;

/// One cached series line, 24 bytes: where its key is, when it was last seen, and the
/// storage's reference. No labels: they are derived again from the key in the rare case
/// the storage forgot the reference.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The key's place in [`ScrapeCache::keys`]: the metric name, then the raw label text.
    start: u32,
    len: u32,
    name_len: u32,
    /// The scrape iteration that last saw it (wrapping; eviction keeps the distance small).
    seen: u32,
    /// The storage's reference, or [`NEW`], [`DROPPED`], [`FREE`].
    r: u64,
}

impl Slot {
    fn key<'k>(&self, keys: &'k str) -> (&'k str, &'k str) {
        let (s, n, l) = (self.start as usize, self.name_len as usize, self.len as usize);
        (&keys[s..s + n], &keys[s + n..s + l])
    }

    fn is(&self, keys: &str, name: &str, raw: &str) -> bool {
        self.name_len as usize == name.len()
            && self.len as usize == name.len() + raw.len()
            && self.key(keys) == (name, raw)
    }
}

/// What a target's previous scrapes taught: for each raw series text (the sample's name and
/// label block exactly as written), the storage's reference, so an unchanged line skips label
/// parsing, relabeling and the storage's index lookup; and which series the last successful
/// scrape wrote, so those that disappear get staleness markers.
///
/// The cache holds no [`Labels`]: a line costs its key bytes, a 24-byte slot and its place
/// in the hash index. A sample of a known line is appended by reference alone
/// ([`Appender::append_ref`]); when the storage no longer knows the reference (the series
/// was collected) or cannot append by reference, the labels are derived again from the key.
#[derive(Debug, Default)]
pub struct ScrapeCache {
    /// Indexes of `slots`, hashed by their key (stored once, in `keys`).
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    slots: Vec<Slot>,
    free: Vec<u32>,
    iter: u64,
    /// Slots written by the last successful scrape (subject to staleness).
    prev: Vec<u32>,
    /// Slots written by the scrape in progress.
    cur: Vec<u32>,
    /// Slots created by the scrape in progress (forgotten again if it fails).
    created: Vec<u32>,
    /// Scratch for the label text of protobuf samples.
    scratch: String,
    /// Every slot's key, back to back in creation order: a scrape whose lines come in the
    /// same order as last time reads it front to back, which the CPU prefetches.
    keys: String,
    /// Bytes of `keys` no slot uses any more.
    garbage: usize,
    /// The target's metric metadata (touched per metadata line, never per sample).
    metadata: super::MetadataCache,
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

fn hash_key(hasher: &DefaultHashBuilder, name: &str, raw: &str) -> u64 {
    let mut h = hasher.build_hasher();
    h.write(name.as_bytes());
    h.write_u8(0xff);
    h.write(raw.as_bytes());
    h.finish()
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

    /// Bytes the cache holds on the heap (its keys, slots, index and scratch lists), for
    /// memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity()
            + self.slots.capacity() * size_of::<Slot>()
            + self.index.capacity() * (size_of::<u32>() + 1)
            + (self.free.capacity() + self.prev.capacity() + self.cur.capacity() + self.created.capacity())
                * size_of::<u32>()
            + self.scratch.capacity()
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
        let iter = self.iter as u32;
        for i in 0..self.prev.len() {
            let slot = self.prev[i];
            if self.slots.get(slot as usize).is_some_and(|s| s.seen != iter) {
                self.append_stale(app, rules, slot, t);
            }
        }
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.evict();
        Ok(st)
    }

    /// After a failed scrape (rolled back): staleness markers at `t` for every series of
    /// the last successful scrape, which is then forgotten, as if the target had returned
    /// an empty body.
    pub fn append_failure(&mut self, app: &mut dyn Appender, rules: &SeriesRules, t: Timestamp) {
        self.append_stale_all(app, rules, t);
    }

    /// Staleness markers at `t` for every series of the last successful scrape (the target
    /// went away).
    pub fn append_stale_all(&mut self, app: &mut dyn Appender, rules: &SeriesRules, t: Timestamp) {
        let prev = std::mem::take(&mut self.prev);
        for &slot in &prev {
            self.append_stale(app, rules, slot, t);
        }
        self.prev = prev;
        self.prev.clear();
    }

    /// A staleness marker at `t` for the series of `slot`, if it has one.
    fn append_stale(&self, app: &mut dyn Appender, rules: &SeriesRules, slot: u32, t: Timestamp) {
        let Some(&Slot { r, .. }) = self.slots.get(slot as usize) else { return };
        if matches!(r, NEW | DROPPED | FREE) {
            return;
        }
        let v = Value::Float(STALE_NAN);
        if let Ok(None) = app.append_ref(SeriesRef(r), t, v, AppendOptions::NONE)
            && let Some(labels) = self.labels_of(slot, rules)
        {
            let _ = app.append(Some(SeriesRef(r)), &labels, t, v, AppendOptions::NONE);
        }
    }

    /// The stored labels of `slot`'s line, derived again from its key.
    fn labels_of(&self, slot: u32, rules: &SeriesRules) -> Option<Labels> {
        let (name, raw) = self.slots[slot as usize].key(&self.keys);
        rules.series_labels(name, LabelsRef::from_raw(raw))
    }

    fn forget_created(&mut self) {
        for slot in std::mem::take(&mut self.created) {
            self.remove(slot);
        }
        self.cur.clear();
        self.compact_keys();
    }

    fn remove(&mut self, slot: u32) {
        let Some(s) = self.slots.get_mut(slot as usize).filter(|s| s.r != FREE) else { return };
        s.r = FREE;
        let s = *s;
        let (name, raw) = s.key(&self.keys);
        let h = hash_key(&self.hasher, name, raw);
        if let Ok(found) = self.index.find_entry(h, |&x| x == slot) {
            found.remove();
        }
        self.garbage += s.len as usize;
        self.free.push(slot);
    }

    /// Rewrites `keys` without the garbage once it is most of it.
    fn compact_keys(&mut self) {
        if self.garbage < 4096 || self.garbage * 2 < self.keys.len() {
            return;
        }
        let mut keys = String::with_capacity(self.keys.len() - self.garbage);
        for s in self.slots.iter_mut().filter(|s| s.r != FREE) {
            let start = keys.len() as u32;
            keys.push_str(&self.keys[s.start as usize..(s.start + s.len) as usize]);
            s.start = start;
        }
        self.keys = keys;
        self.garbage = 0;
    }

    fn evict(&mut self) {
        if self.iter % CACHE_KEEP_ITERATIONS != 0 {
            return;
        }
        let iter = self.iter as u32;
        for slot in 0..self.slots.len() as u32 {
            let s = self.slots[slot as usize];
            if s.r != FREE && u64::from(iter.wrapping_sub(s.seen)) >= CACHE_KEEP_ITERATIONS {
                self.remove(slot);
            }
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
            let exemplar = match &s.exemplar {
                Some(e) if rules.exemplars => {
                    Some(Exemplar { labels: e.labels.to_labels(), value: e.value, timestamp: e.timestamp })
                }
                _ => None,
            };
            self.sample(app, rules, &s.name, s.labels, s.value, s.timestamp, exemplar, t, st)?;
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
        let mut raw = std::mem::take(&mut self.scratch);
        let mut res = Ok(());
        'families: for fam in &conv.families {
            for smp in &fam.samples {
                // The label text as a text-format body would write it, names quoted so that
                // any UTF-8 name reads back unambiguously.
                raw.clear();
                for l in &smp.labels {
                    raw.push('"');
                    push_escaped(&mut raw, &l.name);
                    raw.push_str("\"=\"");
                    push_escaped(&mut raw, &l.value);
                    raw.push_str("\",");
                }
                let labels = LabelsRef::from_raw(&raw);
                let exemplar = if rules.exemplars { smp.exemplar.clone() } else { None };
                res = self.sample(app, rules, &smp.name, labels, smp.value, smp.timestamp, exemplar, t, st);
                if res.is_err() {
                    break 'families;
                }
            }
        }
        self.scratch = raw;
        res
    }

    /// One sample of the line `name{labels}`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn sample(
        &mut self,
        app: &mut dyn Appender,
        rules: &SeriesRules,
        name: &str,
        labels: LabelsRef<'_>,
        value: f64,
        timestamp: Option<Timestamp>,
        exemplar: Option<Exemplar>,
        t: Timestamp,
        st: &mut AppendStats,
    ) -> Result<(), ScrapeError> {
        st.scraped += 1;
        let ts = match timestamp {
            Some(ts) if rules.honor_timestamps => ts,
            _ => t,
        };
        let tracked = timestamp.is_none() || !rules.honor_timestamps || rules.track_timestamps_staleness;
        let raw = labels.raw();
        let h = hash_key(&self.hasher, name, raw);
        let (slots, keys) = (&self.slots, self.keys.as_str());
        let found = self.index.find(h, |&s| slots[s as usize].is(keys, name, raw)).copied();
        // The labels of a line new to the cache, computed once for both checks and append.
        let mut fresh = None;
        let slot = match found {
            Some(slot) => {
                st.cache_hits += 1;
                slot
            }
            None => {
                let series = rules.series_labels(name, labels);
                if let Some(l) = &series {
                    rules.check_labels(l).map_err(ScrapeError::new)?;
                }
                let r = if series.is_some() { NEW } else { DROPPED };
                fresh = series;
                self.insert(h, name, raw, r)?
            }
        };
        let iter = self.iter as u32;
        let s = &mut self.slots[slot as usize];
        if s.r == DROPPED {
            s.seen = iter;
            return Ok(());
        }
        st.post_relabel += 1;
        let limit = rules.limits.sample_limit;
        if limit > 0 && st.post_relabel > limit {
            return Err(ScrapeError::new(ScrapeErrorKind::SampleLimit(limit)));
        }
        if s.seen == iter {
            st.duplicates += 1;
            return Ok(());
        }
        s.seen = iter;
        let known = s.r;
        let opts;
        let opts = match exemplar {
            Some(ex) => {
                opts = AppendOptions { exemplars: vec![ex], ..AppendOptions::default() };
                &opts
            }
            None => AppendOptions::NONE,
        };
        let v = Value::Float(value);
        let by_ref = if known == NEW { Ok(None) } else { app.append_ref(SeriesRef(known), ts, v, opts) };
        let res = match by_ref {
            Ok(Some(r)) => Ok(r),
            Ok(None) => {
                let labels = match fresh {
                    Some(l) => l,
                    None => match self.labels_of(slot, rules) {
                        Some(l) => l,
                        None => {
                            // Only when the rules changed since the line was cached.
                            self.slots[slot as usize].r = DROPPED;
                            st.post_relabel -= 1;
                            return Ok(());
                        }
                    },
                };
                let cached = (known != NEW).then_some(SeriesRef(known));
                app.append(cached, &labels, ts, v, opts)
            }
            Err(e) => Err(e),
        };
        match res {
            Ok(r) => {
                self.slots[slot as usize].r = r.0;
                if known == NEW {
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

    /// Caches the line `name{raw}` (hash `h`) with reference `r`; returns its slot.
    fn insert(&mut self, h: u64, name: &str, raw: &str, r: u64) -> Result<u32, ScrapeError> {
        let too_big = || ScrapeError::new(ScrapeErrorKind::Storage(AppendError::new(AppendErrorKind::SeriesLimit)));
        let start = u32::try_from(self.keys.len()).map_err(|_| too_big())?;
        let len = u32::try_from(name.len() + raw.len()).map_err(|_| too_big())?;
        start.checked_add(len).ok_or_else(too_big)?;
        self.keys.push_str(name);
        self.keys.push_str(raw);
        let slot = Slot { start, len, name_len: name.len() as u32, seen: (self.iter as u32).wrapping_sub(1), r };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        let (slots, hasher, keys) = (&self.slots, &self.hasher, self.keys.as_str());
        self.index.insert_unique(h, i, |&s| {
            let (n, r) = slots[s as usize].key(keys);
            hash_key(hasher, n, r)
        });
        self.created.push(i);
        Ok(i)
    }
}

/// Appends `s` with `\`, `"` and newlines escaped as in a text-format label value.
fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
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
                cache.append_failure(&mut *app, rules, t);
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
        assert_eq!((cache.len(), cache.garbage, cache.keys.as_str()), (1, 0, "series_number_599"));
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
    fn exemplars_pass_only_when_enabled() {
        let body = "# TYPE req counter\nreq_total 3 # {trace_id=\"abc\"} 0.5 1.5\n\
                    # TYPE lat histogram\nlat_bucket{le=\"1\"} 2 # {trace_id=\"def\"} 0.25\n\
                    lat_bucket{le=\"+Inf\"} 2\nlat_count 2\nlat_sum 0.5\n# EOF\n";
        for on in [false, true] {
            let head = Head::builder().max_exemplars(std::num::NonZeroUsize::new(8).unwrap()).build();
            let mut rules = SeriesRules::new(labels! {"job" => "j"});
            rules.exemplars = on;
            let mut cache = ScrapeCache::new();
            let mut app = Appendable::appender(&head);
            cache.append_body(&mut *app, &rules, body.as_bytes(), Format::OpenMetrics100, 2_000).unwrap();
            app.commit().unwrap();
            let got = head.query_exemplars(0, 10_000, &[vec![Matcher::regex("__name__", ".+").unwrap()]]);
            let got: Vec<(String, String, Option<i64>)> = got
                .iter()
                .flat_map(|s| {
                    s.exemplars.iter().map(|e| (s.labels.to_series_string(), e.labels.to_series_string(), e.timestamp))
                })
                .collect();
            let want: Vec<(String, String, Option<i64>)> = if on {
                vec![
                    ("lat_bucket{job=\"j\", le=\"1\"}".into(), "{trace_id=\"def\"}".into(), Some(2_000)),
                    ("req_total{job=\"j\"}".into(), "{trace_id=\"abc\"}".into(), Some(1_500)),
                ]
            } else {
                vec![]
            };
            assert_eq!(got, want, "exemplars {on}");
        }
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

    /// An appender that cannot append by reference alone (the trait's default), as a
    /// storage other than the head may be: every sample goes by labels derived again from
    /// the cached line.
    struct ByLabels(Box<dyn Appender>);

    impl Appender for ByLabels {
        fn append(
            &mut self,
            series: Option<SeriesRef>,
            labels: &Labels,
            t: Timestamp,
            v: Value,
            opts: &AppendOptions,
        ) -> Result<SeriesRef, AppendError> {
            self.0.append(series, labels, t, v, opts)
        }
        fn commit(self: Box<Self>) -> Result<(), AppendError> {
            self.0.commit()
        }
        fn rollback(self: Box<Self>) -> Result<(), AppendError> {
            self.0.rollback()
        }
    }

    /// Scrapes `bodies` (at t = 1000, 2000, …) into a fresh head, by reference or by labels.
    fn run(bodies: &[(&[u8], Format)], rules: &SeriesRules, by_labels: bool) -> BTreeMap<String, Vec<(i64, String)>> {
        let head = Head::default();
        let mut cache = ScrapeCache::new();
        for (i, (body, format)) in bodies.iter().enumerate() {
            let t = (i as i64 + 1) * 1000;
            let mut app = Appendable::appender(&head);
            if by_labels {
                app = Box::new(ByLabels(app));
            }
            match cache.append_body(&mut *app, rules, body, *format, t) {
                Ok(_) => app.commit().unwrap(),
                Err(_) => {
                    app.rollback().unwrap();
                    let mut app = Appendable::appender(&head);
                    cache.append_failure(&mut *app, rules, t);
                    app.commit().unwrap();
                }
            }
        }
        dump(&head)
    }

    #[test]
    fn by_reference_and_by_labels_store_the_same() {
        let fam = ember_exposition::MetricFamily {
            name: "p".into(),
            metric_type: ember_exposition::MetricType::Gauge,
            samples: vec![
                ember_exposition::Sample::new("p", labels! {"y" => "q\"z\\\n", "odd\",=name" => "v"}, 7.0),
                ember_exposition::Sample::new("p", labels! {"y" => "2"}, 8.0),
            ],
            ..Default::default()
        };
        let mut pb = Vec::new();
        protobuf::encode_families(&[fam], &mut pb).unwrap();
        let text = |s: &'static str| (s.as_bytes(), Format::Text004);
        let bodies = [
            text("a{x=\"1\"} 1\nb{x=\"a\\\\b\\\"c\\n\"} 2\n"),
            text("a{x=\"1\"} 3\nb{x=\"a\\\\b\\\"c\\n\"} 4\nc 5\n"),
            (&pb[..], Format::Protobuf),
            text("a{x=\"1\"} 6\nnot a metric line\n"),
            (&pb[..], Format::Protobuf),
            text("a{x=\"1\"} 7\n"),
        ];
        let mut rules = SeriesRules::new(labels! {"job" => "j", "instance" => "i:1"});
        rules.metric_relabel = vec![
            Relabel::new(
                serde_json::from_value(serde_json::json!({
                    "source_labels": ["__name__"], "regex": "c", "action": "drop"
                }))
                .unwrap(),
            )
            .unwrap(),
        ];
        let by_ref = run(&bodies, &rules, false);
        assert_eq!(by_ref, run(&bodies, &rules, true));
        let b = "b{instance=\"i:1\", job=\"j\", x=\"a\\\\b\\\"c\\n\"}";
        assert_eq!(by_ref[b], pts(&[(1000, "2"), (2000, "4"), (3000, "stale")]));
        let p = "p{instance=\"i:1\", job=\"j\", \"odd\\\",=name\"=\"v\", y=\"q\\\"z\\\\\\n\"}";
        assert_eq!(by_ref[p], pts(&[(3000, "7"), (4000, "stale"), (5000, "7"), (6000, "stale")]));
        assert!(!by_ref.keys().any(|k| k.starts_with("c{")), "{by_ref:?}");
    }

    #[test]
    fn collected_series_are_found_again_by_labels() {
        let head = Head::default();
        let mut cache = ScrapeCache::new();
        let rules = SeriesRules::new(labels! {"job" => "j"});
        let body = "a{x=\"q\\\"\"} 1\nb 2\n";
        scrape(&head, &mut cache, &rules, body, 1000).unwrap();
        // Every series is collected: the cached references are unknown to the head now.
        assert_eq!(head.truncate(1500).series_removed, 2);
        let st = scrape(&head, &mut cache, &rules, "a{x=\"q\\\"\"} 3\n", 2000).unwrap();
        assert_eq!((st.cache_hits, st.series_added, st.post_relabel), (1, 0, 1));
        // b's staleness marker recreates it too, as an append by labels would.
        let d = dump(&head);
        assert_eq!(d["a{job=\"j\", x=\"q\\\"\"}"], pts(&[(2000, "3")]));
        assert_eq!(d["b{job=\"j\"}"], pts(&[(2000, "stale")]));
        // And the refreshed reference is a plain hit again.
        let st = scrape(&head, &mut cache, &rules, "a{x=\"q\\\"\"} 4\n", 3000).unwrap();
        assert_eq!(st.cache_hits, 1);
        assert_eq!(dump(&head)["a{job=\"j\", x=\"q\\\"\"}"], pts(&[(2000, "3"), (3000, "4")]));
    }

    #[test]
    fn slots_hold_no_labels() {
        assert_eq!(size_of::<Slot>(), 24);
    }
}
