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
    /// Scratch for the series text of protobuf samples.
    pb: PbScratch,
    /// Every slot's key, back to back in creation order: a scrape whose lines come in the
    /// same order as last time reads it front to back, which the CPU prefetches.
    keys: String,
    /// Bytes of `keys` no slot uses any more.
    garbage: usize,
    /// The target's metric metadata (touched per metadata line, never per sample).
    metadata: super::MetadataCache,
    /// Take protobuf bodies the owned way (decode, `to_families`), as a reference.
    #[cfg(test)]
    owned_protobuf: bool,
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
            + self.pb.heap_bytes()
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
            #[cfg(test)]
            Format::Protobuf if self.owned_protobuf => self.append_protobuf_owned(app, rules, body, t, &mut st),
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
        let mut pb = std::mem::take(&mut self.pb);
        let res = self.append_protobuf_views(&mut pb, app, rules, body, t, st);
        self.pb = pb;
        res
    }

    /// The samples of each family as [`protobuf::to_families`] flattens them, read from
    /// borrowing views: the series text of a sample is written into reused buffers, so a
    /// cached series costs no allocation.
    fn append_protobuf_views(
        &mut self,
        pb: &mut PbScratch,
        app: &mut dyn Appender,
        rules: &SeriesRules,
        body: &[u8],
        t: Timestamp,
        st: &mut AppendStats,
    ) -> Result<(), ScrapeError> {
        use protobuf::proto::MetricType as P;
        // One allocation per scrape, reused for every metric's label pairs.
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for fam in protobuf::Decoder::new().views(body) {
            let fam = fam.map_err(|e| ScrapeError::new(ScrapeErrorKind::Protobuf(e.to_string())))?;
            self.metadata.observe_protobuf_family(fam.name(), fam.metric_type(), fam.help(), fam.unit());
            let Ok(ty) = P::try_from(fam.metric_type()) else { continue };
            let name = match ty {
                P::Counter => fam.name().strip_suffix("_total").unwrap_or(fam.name()),
                _ => fam.name(),
            };
            pb.name.clear();
            pb.name.push_str(name);
            let base = name.len();
            let mut metrics = fam.metrics();
            while let Some(m) = metrics.next_into(&mut pairs) {
                let m = m.map_err(|e| ScrapeError::new(ScrapeErrorKind::Protobuf(e.to_string())))?;
                if !pairs.windows(2).all(|w| w[0].0 < w[1].0) {
                    // As the owned model does: sorted by name, the last of a name wins.
                    pairs.sort_by(|a, b| a.0.cmp(b.0));
                    let mut w = 0;
                    for r in 0..pairs.len() {
                        if w > 0 && pairs[w - 1].0 == pairs[r].0 {
                            pairs[w - 1] = pairs[r];
                        } else {
                            pairs[w] = pairs[r];
                            w += 1;
                        }
                    }
                    pairs.truncate(w);
                }
                let ts = m.timestamp_ms();
                let mut one = |this: &mut Self, pb: &mut PbScratch, suffix: &str, v: f64, ex: Option<Exemplar>| {
                    pb.name.truncate(base);
                    pb.name.push_str(suffix);
                    this.sample(app, rules, &pb.name, LabelsRef::from_raw(&pb.raw), v, ts, ex, t, st)
                };
                match ty {
                    P::Gauge | P::Untyped => {
                        let v = if ty == P::Gauge { m.gauge() } else { m.untyped() };
                        let Some(v) = v else { continue };
                        render_pairs(&mut pb.raw, &pairs, None);
                        one(self, pb, "", v, None)?;
                    }
                    P::Counter => {
                        let Some(c) = m.counter() else { continue };
                        render_pairs(&mut pb.raw, &pairs, None);
                        let cs = c.scalars();
                        let ex = if rules.exemplars && cs.has_exemplar { c.exemplar().map(exemplar_of) } else { None };
                        one(self, pb, "_total", cs.value, ex)?;
                        if let Some(created) = cs.created {
                            one(self, pb, "_created", created.to_seconds_f64(), None)?;
                        }
                    }
                    P::Summary => {
                        let Some(s) = m.summary() else { continue };
                        let ss = s.scalars();
                        render_pairs(&mut pb.raw, &pairs, Some("quantile"));
                        let len = pb.raw.len();
                        for (i, (q, v)) in s.quantiles().enumerate() {
                            pb.raw.truncate(len);
                            push_extra(&mut pb.raw, "quantile", pb.floats.get(i, q));
                            one(self, pb, "", v, None)?;
                        }
                        render_pairs(&mut pb.raw, &pairs, None);
                        one(self, pb, "_sum", ss.sample_sum, None)?;
                        one(self, pb, "_count", ss.sample_count as f64, None)?;
                        if let Some(created) = ss.created {
                            one(self, pb, "_created", created.to_seconds_f64(), None)?;
                        }
                    }
                    P::Histogram | P::GaugeHistogram => {
                        let Some(h) = m.histogram() else { continue };
                        let sc = h.scalars();
                        render_pairs(&mut pb.raw, &pairs, Some("le"));
                        let len = pb.raw.len();
                        let mut last = None;
                        for (i, b) in h.buckets().enumerate() {
                            pb.raw.truncate(len);
                            push_extra(&mut pb.raw, "le", pb.floats.get(i, b.upper_bound));
                            let ex = if rules.exemplars { b.exemplar().map(exemplar_of) } else { None };
                            one(self, pb, "_bucket", b.count(), ex)?;
                            last = Some(b.upper_bound);
                        }
                        if last.is_none_or(|b| b != f64::INFINITY) {
                            pb.raw.truncate(len);
                            push_extra(&mut pb.raw, "le", "+Inf");
                            one(self, pb, "_bucket", sc.count(), None)?;
                        }
                        render_pairs(&mut pb.raw, &pairs, None);
                        if ty == P::Histogram {
                            one(self, pb, "_sum", sc.sample_sum, None)?;
                            one(self, pb, "_count", sc.count(), None)?;
                            if let Some(created) = sc.created {
                                one(self, pb, "_created", created.to_seconds_f64(), None)?;
                            }
                        } else {
                            one(self, pb, "_gcount", sc.count(), None)?;
                            one(self, pb, "_gsum", sc.sample_sum, None)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The reference protobuf path: owned messages, converted by `to_families`.
    #[cfg(test)]
    fn append_protobuf_owned(
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
        let mut raw = String::new();
        for fam in &conv.families {
            for smp in &fam.samples {
                raw.clear();
                for l in &smp.labels {
                    push_pair(&mut raw, &l.name, &l.value);
                }
                let labels = LabelsRef::from_raw(&raw);
                let exemplar = if rules.exemplars { smp.exemplar.clone() } else { None };
                self.sample(app, rules, &smp.name, labels, smp.value, smp.timestamp, exemplar, t, st)?;
            }
        }
        Ok(())
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

/// Reused buffers of the protobuf path.
#[derive(Debug, Default)]
struct PbScratch {
    /// The sample name being appended.
    name: String,
    /// Its label text, as a text-format body would write it.
    raw: String,
    /// Formatted `le` and `quantile` values.
    floats: FloatTexts,
}

impl PbScratch {
    fn heap_bytes(&self) -> usize {
        self.name.capacity()
            + self.raw.capacity()
            + self.floats.0.capacity() * size_of::<(u64, String)>()
            + self.floats.0.iter().map(|(_, s)| s.capacity()).sum::<usize>()
    }
}

/// The canonical text of bucket bounds and quantiles by their position in the metric: the
/// metrics of a family (and of every scrape) repeat the same bounds in the same places, so a
/// position almost always holds the text already.
#[derive(Debug, Default)]
struct FloatTexts(Vec<(u64, String)>);

impl FloatTexts {
    /// Entries beyond this position are formatted each time rather than kept.
    const MAX: usize = 256;

    fn get(&mut self, i: usize, v: f64) -> &str {
        let bits = v.to_bits();
        if i >= Self::MAX {
            self.0.truncate(Self::MAX);
            self.0.push((bits, protobuf::format_openmetrics_float(v)));
            return &self.0[Self::MAX].1;
        }
        while self.0.len() <= i {
            self.0.push((f64::NAN.to_bits() ^ 1, String::new()));
        }
        let e = &mut self.0[i];
        if e.0 != bits || e.1.is_empty() {
            *e = (bits, protobuf::format_openmetrics_float(v));
        }
        &e.1
    }
}

/// Writes `pairs` (sorted, unique names) as the label text of a text-format body, names
/// quoted so that any UTF-8 name reads back unambiguously; the label `skip` (set again
/// after) is left out.
fn render_pairs(out: &mut String, pairs: &[(&str, &str)], skip: Option<&str>) {
    out.clear();
    for &(n, v) in pairs {
        if Some(n) == skip {
            continue;
        }
        push_pair(out, n, v);
    }
}

fn push_pair(out: &mut String, n: &str, v: &str) {
    out.push('"');
    push_escaped(out, n);
    out.push_str("\"=\"");
    push_escaped(out, v);
    out.push_str("\",");
}

/// Appends the pair `name="value"` (a `le` or `quantile`, whose values need no escaping).
fn push_extra(out: &mut String, name: &str, value: &str) {
    push_pair(out, name, value);
}

/// The owned exemplar of a protobuf one, as [`protobuf::to_families`] converts it.
fn exemplar_of(e: protobuf::view::ExemplarView<'_>) -> Exemplar {
    Exemplar {
        labels: Labels::from_vec(e.labels().map(|(n, v)| ember_exposition::Label::new(n, v)).collect()),
        value: e.value(),
        timestamp: e.timestamp().map(protobuf::proto::Timestamp::to_millis),
    }
}

/// Appends `s` with `\`, `"` and newlines escaped as in a text-format label value.
fn push_escaped(out: &mut String, s: &str) {
    if !s.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(s);
        return;
    }
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

    mod pb {
        pub use ember_exposition::protobuf::proto::*;
        pub fn lp(n: &str, v: &str) -> LabelPair {
            LabelPair { name: n.into(), value: v.into() }
        }
        pub fn ex(trace: &str, v: f64, ms: Option<i64>) -> Exemplar {
            Exemplar { label: vec![lp("trace_id", trace)], value: v, timestamp: ms.map(Timestamp::from_millis) }
        }
    }

    /// Families of every type the text formats share with protobuf, with exemplars, created
    /// timestamps, explicit timestamps, escapes and a label that clashes with a target label.
    fn pb_families(tick: f64) -> Vec<pb::MetricFamily> {
        use pb::*;
        let created = Some(Timestamp { seconds: 1_700_000_000, nanos: 250_000_000 });
        vec![
            MetricFamily {
                name: "http_requests_total".into(),
                help: "Requests.".into(),
                r#type: MetricType::Counter as i32,
                metric: vec![
                    Metric {
                        label: vec![lp("code", "200"), lp("job", "app"), lp("path", "/a\"b\\c\nd")],
                        counter: Some(Box::new(Counter {
                            value: 10.0 + tick,
                            exemplar: Some(ex("abc", 0.5, Some(1_500))),
                            created_timestamp: created,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        label: vec![lp("code", "500")],
                        counter: Some(Box::new(Counter { value: tick, ..Default::default() })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
            MetricFamily {
                name: "temperature".into(),
                r#type: MetricType::Gauge as i32,
                metric: vec![Metric {
                    label: vec![lp("room", "b"), lp("floor", "1")],
                    gauge: Some(Gauge { value: -3.25 * tick - 1.0 }),
                    timestamp_ms: Some(900),
                    ..Default::default()
                }],
                ..Default::default()
            },
            MetricFamily {
                name: "misc".into(),
                r#type: MetricType::Untyped as i32,
                metric: vec![Metric { untyped: Some(Untyped { value: 1e-9 }), ..Default::default() }],
                ..Default::default()
            },
            MetricFamily {
                name: "rpc_seconds".into(),
                r#type: MetricType::Summary as i32,
                metric: vec![Metric {
                    label: vec![lp("service", "x")],
                    summary: Some(Box::new(Summary {
                        sample_count: 7,
                        sample_sum: 1.5 + tick,
                        quantile: vec![
                            Quantile { quantile: 0.5, value: 0.1 },
                            Quantile { quantile: 0.99, value: 0.7 + tick },
                        ],
                        created_timestamp: created,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            },
            MetricFamily {
                name: "latency_seconds".into(),
                r#type: MetricType::Histogram as i32,
                metric: ["GET", "POST"]
                    .iter()
                    .map(|m| Metric {
                        label: vec![lp("method", m)],
                        histogram: Some(Box::new(Histogram {
                            sample_count: 9,
                            sample_sum: 2.5 + tick,
                            bucket: vec![
                                Bucket {
                                    cumulative_count: 2,
                                    upper_bound: 0.005,
                                    exemplar: Some(ex("def", 0.004, None)),
                                    ..Default::default()
                                },
                                Bucket { cumulative_count: 5, upper_bound: 1.0, ..Default::default() },
                                Bucket { cumulative_count: 8, upper_bound: 1e6, ..Default::default() },
                            ],
                            created_timestamp: created,
                            ..Default::default()
                        })),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
        ]
    }

    /// Scrapes `bodies` in turn (t = 1000, 2000, …) into a fresh head; every series, the
    /// stats of each scrape and the exemplars stored.
    #[allow(clippy::type_complexity)]
    fn scrape_all(
        bodies: &[(Vec<u8>, Format)],
        rules: &SeriesRules,
        owned: bool,
    ) -> (BTreeMap<String, Vec<(i64, String)>>, Vec<Result<AppendStats, String>>, Vec<(String, String, f64, Option<i64>)>)
    {
        let head = Head::builder().max_exemplars(std::num::NonZeroUsize::new(64).unwrap()).build();
        let mut cache = ScrapeCache::new();
        cache.owned_protobuf = owned;
        let mut stats = Vec::new();
        for (i, (body, format)) in bodies.iter().enumerate() {
            let t = (i as i64 + 1) * 1000;
            let mut app = Appendable::appender(&head);
            match cache.append_body(&mut *app, rules, body, *format, t) {
                Ok(st) => {
                    app.commit().unwrap();
                    stats.push(Ok(st));
                }
                Err(e) => {
                    app.rollback().unwrap();
                    let mut app = Appendable::appender(&head);
                    cache.append_failure(&mut *app, rules, t);
                    app.commit().unwrap();
                    stats.push(Err(e.to_string()));
                }
            }
        }
        let ex = head.query_exemplars(0, i64::MAX, &[vec![Matcher::regex("__name__", ".+").unwrap()]]);
        let ex = ex
            .iter()
            .flat_map(|s| {
                s.exemplars
                    .iter()
                    .map(|e| (s.labels.to_series_string(), e.labels.to_series_string(), e.value, e.timestamp))
            })
            .collect();
        (dump(&head), stats, ex)
    }

    #[test]
    fn protobuf_appends_what_text_does() {
        let ticks: Vec<Vec<pb::MetricFamily>> = (0..3).map(|i| pb_families(f64::from(i))).collect();
        let mut bodies: BTreeMap<&str, Vec<(Vec<u8>, Format)>> = BTreeMap::new();
        for fams in &ticks {
            let mut body = Vec::new();
            protobuf::encode(fams, &mut body);
            bodies.entry("protobuf").or_default().push((body, Format::Protobuf));
            let flat = protobuf::to_families(fams);
            assert!(flat.is_lossless());
            let mut text = String::new();
            text::encode(&mut text, &flat.families).unwrap();
            bodies.entry("text").or_default().push((text.into_bytes(), Format::Text004));
            let mut om = String::new();
            openmetrics::encode(&mut om, &flat.families).unwrap();
            bodies.entry("openmetrics").or_default().push((om.into_bytes(), Format::OpenMetrics100));
        }
        // The last scrape drops a family: staleness markers, the same in both.
        for b in bodies.values_mut() {
            let last = b[0].clone();
            b.push(last);
        }
        let mut fewer = Vec::new();
        protobuf::encode(&ticks[0][1..], &mut fewer);
        bodies.get_mut("protobuf").unwrap().push((fewer, Format::Protobuf));
        let mut text = String::new();
        text::encode(&mut text, &protobuf::to_families(&ticks[0][1..]).families).unwrap();
        bodies.get_mut("text").unwrap().push((text.into_bytes(), Format::Text004));
        let mut om = String::new();
        openmetrics::encode(&mut om, &protobuf::to_families(&ticks[0][1..]).families).unwrap();
        bodies.get_mut("openmetrics").unwrap().push((om.into_bytes(), Format::OpenMetrics100));

        for honor_labels in [false, true] {
            for exemplars in [false, true] {
                let case = format!("honor_labels {honor_labels}, exemplars {exemplars}");
                let mut rules = SeriesRules::new(labels! {"job" => "j", "instance" => "i:1"});
                rules.honor_labels = honor_labels;
                rules.exemplars = exemplars;
                let (pb_series, pb_stats, pb_ex) = scrape_all(&bodies["protobuf"], &rules, false);
                let (text_series, text_stats, _) = scrape_all(&bodies["text"], &rules, false);
                assert_eq!(pb_series, text_series, "{case}");
                assert_eq!(pb_stats, text_stats, "{case}");
                assert!(pb_stats.iter().all(|s| s.is_ok()), "{case}: {pb_stats:?}");
                // Some series, every kind of sample name, went stale in the last scrape.
                let stale = pb_series.values().filter(|p| p.last().is_some_and(|(_, v)| v == "stale")).count();
                assert_eq!(stale, 3, "{case}: {pb_series:#?}");
                let clash = if honor_labels {
                    "http_requests_total{code=\"200\", instance=\"i:1\", job=\"app\", path=\"/a\\\"b\\\\c\\nd\"}"
                } else {
                    "http_requests_total{code=\"200\", exported_job=\"app\", instance=\"i:1\", job=\"j\", path=\"/a\\\"b\\\\c\\nd\"}"
                };
                assert!(pb_series.contains_key(clash), "{case}: {pb_series:#?}");
                for name in ["latency_seconds_bucket", "latency_seconds_count", "rpc_seconds_created", "misc"] {
                    assert!(pb_series.keys().any(|k| k.starts_with(&format!("{name}{{"))), "{case}: {name}");
                }
                let (_, om_stats, om_ex) = scrape_all(&bodies["openmetrics"], &rules, false);
                assert_eq!(pb_stats, om_stats, "{case}");
                // Exemplars: as OpenMetrics carries them, when enabled; none otherwise.
                assert_eq!(pb_ex, om_ex, "{case}");
                assert_eq!(pb_ex.is_empty(), !exemplars, "{case}: {pb_ex:?}");
            }
        }
    }

    /// The borrowing path appends exactly what the owned path (decode, `to_families`) did,
    /// on odd but valid bodies and on every truncation and many corruptions of them.
    #[test]
    fn protobuf_views_match_the_owned_path() {
        use pb::*;
        let odd = vec![
            MetricFamily {
                name: "odd".into(),
                r#type: MetricType::Histogram as i32,
                metric: vec![
                    Metric {
                        // Unsorted, a name twice, an empty value, a `le` of its own.
                        label: vec![lp("z", "1"), lp("a", "x"), lp("z", "2"), lp("e", ""), lp("le", "7")],
                        histogram: Some(Box::new(Histogram {
                            sample_count_float: 2.5,
                            bucket: vec![
                                Bucket {
                                    cumulative_count_float: 1.5,
                                    upper_bound: f64::NAN,
                                    exemplar: Some(ex("q", 1.0, Some(3))),
                                    ..Default::default()
                                },
                                Bucket { upper_bound: f64::INFINITY, ..Default::default() },
                            ],
                            schema: 3,
                            ..Default::default()
                        })),
                        gauge: Some(Gauge { value: 4.0 }),
                        ..Default::default()
                    },
                    Metric { label: vec![lp("__name__", "renamed")], ..Default::default() },
                    Metric { histogram: Some(Box::default()), timestamp_ms: Some(-1), ..Default::default() },
                ],
                ..Default::default()
            },
            MetricFamily {
                name: "gh".into(),
                r#type: MetricType::GaugeHistogram as i32,
                metric: vec![Metric {
                    label: vec![lp("a", "1"), lp("a", "1")],
                    histogram: Some(Box::new(Histogram {
                        sample_count: 1,
                        bucket: vec![Bucket { cumulative_count: 1, upper_bound: 0.25, ..Default::default() }],
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            },
            MetricFamily { name: "weird".into(), r#type: 42, ..Default::default() },
            MetricFamily {
                name: "c".into(),
                r#type: MetricType::Counter as i32,
                metric: vec![Metric {
                    counter: Some(Box::new(Counter { exemplar: Some(ex("", 2.0, None)), ..Default::default() })),
                    ..Default::default()
                }],
                ..Default::default()
            },
            MetricFamily {
                name: "s".into(),
                r#type: MetricType::Summary as i32,
                metric: vec![Metric {
                    label: vec![lp("quantile", "x")],
                    summary: Some(Box::new(Summary {
                        quantile: vec![Quantile { quantile: -0.0, value: 1.0 }],
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            },
        ];
        let mut body = Vec::new();
        protobuf::encode(&odd, &mut body);
        let mut rules = SeriesRules::new(labels! {"job" => "j"});
        let mut variants = vec![body.clone()];
        for n in (0..body.len()).step_by(3) {
            variants.push(body[..n].to_vec());
            for v in [0x00, 0x0a, 0x80, 0xff] {
                let mut t = body.clone();
                t[n] = v;
                variants.push(t);
            }
        }
        for exemplars in [false, true] {
            rules.exemplars = exemplars;
            for v in &variants {
                // The variant after the original (cache hits) and before it (staleness).
                let bodies =
                    [(body.clone(), Format::Protobuf), (v.clone(), Format::Protobuf), (body.clone(), Format::Protobuf)];
                let want = scrape_all(&bodies, &rules, true);
                let got = scrape_all(&bodies, &rules, false);
                assert_eq!(got.0, want.0, "{v:02x?}");
                assert_eq!(got.2, want.2, "{v:02x?}");
                // Errors may word their cause differently; successes and counts agree.
                let ok =
                    |s: &[Result<AppendStats, String>]| s.iter().map(|r| r.as_ref().ok().copied()).collect::<Vec<_>>();
                assert_eq!(ok(&got.1), ok(&want.1), "{v:02x?}");
            }
        }
    }

    #[test]
    fn protobuf_errors_say_where_and_keep_nothing() {
        let head = Head::default();
        let rules = SeriesRules::new(labels! {"job" => "j"});
        let mut cache = ScrapeCache::new();
        let mut body = Vec::new();
        protobuf::encode(&pb_families(0.0), &mut body);
        let good = body.len();
        // A second copy of the families, its last byte cut: the error names that message.
        protobuf::encode(&pb_families(1.0), &mut body);
        body.pop();
        let mut app = Appendable::appender(&head);
        let err = cache.append_body(&mut *app, &rules, &body, Format::Protobuf, 1000).unwrap_err();
        app.rollback().unwrap();
        assert!(matches!(err.kind, ScrapeErrorKind::Protobuf(_)), "{err}");
        assert!(err.to_string().contains("message at byte"), "{err}");
        assert!(dump(&head).is_empty());
        // The cache forgot what the failed scrape created: the good part is all new again.
        let mut app = Appendable::appender(&head);
        let st = cache.append_body(&mut *app, &rules, &body[..good], Format::Protobuf, 2000).unwrap();
        app.commit().unwrap();
        assert_eq!((st.cache_hits, st.series_added), (0, st.scraped));
    }
}
