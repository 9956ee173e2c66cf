//! The head: the in-memory part of the database, where every sample lands first.
//!
//! - Series live in a lock-free id table (for appends by [`SeriesRef`]: an append reads
//!   it with plain loads and holds the series by pointer, no reference count, while its
//!   appender is open; removed series are freed once no older appender is) and in a
//!   lock-striped map by label hash (a hash finds candidates; labels are compared, so
//!   collisions are harmless).
//! - Label strings are interned once in a symbol table; a series holds `u32` pairs.
//! - An inverted index maps label name → value → series ids as roaring bitmaps; matchers
//!   are evaluated by bitmap algebra, with fast paths for `a|b|c`, `prefix.*`, `.*`, `.+`.
//! - Samples go into chunks of up to 120 samples (configurable), cut at chunk-range
//!   boundaries so later blocks get whole chunks; closed chunks are shared with readers.
//!   A chunk is decimal (scaled integers) while its values are short decimals, else XOR
//!   ([`crate::chunks::ChunkEncoder`]).
//!
//! **Isolation.** A commit holds a shared gate while it writes its batch and takes a
//! commit sequence number; creating a querier takes the gate exclusively for an instant
//! and records the sequence it saw. So every commit is either wholly before a querier or
//! wholly after it, and the later ones are exactly the newest samples of each series: a
//! series remembers `(sequence, sample ordinal)` for commits made while older readers
//! exist, and a reader stops at the first ordinal it must not see. With no reader open,
//! nothing is recorded and commits pay one atomic for the gate.

mod index;
mod replay;
pub(crate) use replay::ChunkOut;
mod series;
mod symbols;
mod table;

use std::collections::BTreeMap;
use std::num::{NonZeroU16, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use ember_exposition::{Exemplar, Label, Labels, METRIC_NAME_LABEL, Matcher, Timestamp};
use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};

use crate::exemplars::ExemplarStore;
use crate::storage::{
    AppendError, AppendErrorKind, AppendOptions, Appendable, Appender, Metadata, PointsIterator, Querier, Queryable,
    SampleIterator, SelectHints, Series, SeriesRef, SeriesSet, StorageError, StorageErrorKind, Value, Warned,
    validate_labels,
};
use index::Index;
use series::{Check, ChunksIterator, MemSeries, Snapshot, float_bits, merge_with_ooo};
use symbols::SymbolTable;
use table::{Pin, SeriesPtr, SeriesTable, SlotRef};

/// Configures and builds a [`Head`].
#[derive(Debug, Clone)]
pub struct HeadBuilder {
    chunk_range: i64,
    samples_per_chunk: u16,
    ooo_window: Option<i64>,
    stripes: usize,
    created_timestamp_zero_ingestion: bool,
    max_exemplars: Option<NonZeroUsize>,
}

impl Default for HeadBuilder {
    fn default() -> Self {
        HeadBuilder {
            chunk_range: 2 * 3600 * 1000,
            samples_per_chunk: 120,
            ooo_window: None,
            stripes: 4096,
            created_timestamp_zero_ingestion: false,
            max_exemplars: None,
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl HeadBuilder {
    /// The block range chunks are aligned to (default 2 h): no chunk spans a multiple of
    /// it. Values under a millisecond count as one millisecond.
    pub fn chunk_range(mut self, d: Duration) -> Self {
        self.chunk_range = millis(d).max(1);
        self
    }

    /// Samples per chunk before a new one is cut (default 120, as Prometheus targets).
    pub fn samples_per_chunk(mut self, n: NonZeroU16) -> Self {
        self.samples_per_chunk = n.get();
        self
    }

    /// Accept out-of-order samples up to `window` older than the newest sample in the
    /// head (default: out-of-order samples are rejected with
    /// [`AppendErrorKind::OutOfOrder`]). Older ones fail with [`AppendErrorKind::TooOld`].
    pub fn ooo_window(mut self, window: Duration) -> Self {
        self.ooo_window = Some(millis(window));
        self
    }

    /// Number of lock stripes for the series map by labels (rounded up to a power of two;
    /// default 4096).
    pub fn stripes(mut self, n: NonZeroUsize) -> Self {
        self.stripes = n.get().next_power_of_two();
        self
    }

    /// When an append carries a created timestamp older than the sample, also store a
    /// zero at that time (Prometheus's created-timestamp zero ingestion). Off by default.
    pub fn created_timestamp_zero_ingestion(mut self, on: bool) -> Self {
        self.created_timestamp_zero_ingestion = on;
        self
    }

    /// Keep up to `n` exemplars, the newest, in a ring (default: exemplars are not kept;
    /// [`Head::resize_exemplars`] changes it later). See [`crate::exemplars`].
    pub fn max_exemplars(mut self, n: NonZeroUsize) -> Self {
        self.max_exemplars = Some(n);
        self
    }

    /// Builds the head.
    pub fn build(self) -> Head {
        let stripes = self.stripes;
        Head {
            inner: Arc::new(HeadInner {
                symbols: SymbolTable::new(),
                index: RwLock::new(Index::default()),
                table: SeriesTable::default(),
                by_hash: (0..stripes).map(|_| RwLock::new(HashTable::new())).collect(),
                mask: stripes - 1,
                batch_hint: AtomicUsize::new(0),
                next_id: AtomicU32::new(1),
                min_t: AtomicI64::new(i64::MAX),
                max_t: AtomicI64::new(i64::MIN),
                min_valid_t: AtomicI64::new(i64::MIN),
                iso: Isolation::default(),
                samples_appended: AtomicU64::new(0),
                samples_dropped: AtomicU64::new(0),
                exemplars: ExemplarStore::new(self.max_exemplars.map_or(0, NonZeroUsize::get)),
                opts: self,
            }),
        }
    }
}

#[derive(Default)]
struct Isolation {
    gate: RwLock<()>,
    seq: AtomicU64,
    readers: Mutex<BTreeMap<u64, usize>>,
    active: AtomicUsize,
}

impl Isolation {
    fn begin_read(&self) -> u64 {
        let _g = self.gate.write();
        let seen = self.seq.load(Ordering::Acquire);
        *self.readers.lock().entry(seen).or_default() += 1;
        self.active.fetch_add(1, Ordering::AcqRel);
        seen
    }

    fn end_read(&self, seen: u64) {
        let mut r = self.readers.lock();
        if let Some(n) = r.get_mut(&seen) {
            *n -= 1;
            if *n == 0 {
                r.remove(&seen);
            }
        }
        self.active.fetch_sub(1, Ordering::AcqRel);
    }

    /// The oldest sequence a reader has seen, or `u64::MAX` with no readers. Call with the
    /// gate held shared.
    fn low(&self) -> u64 {
        if self.active.load(Ordering::Acquire) == 0 {
            return u64::MAX;
        }
        self.readers.lock().keys().next().copied().unwrap_or(u64::MAX)
    }
}

/// How many samples ahead a commit prefetches series, and their open chunks (in
/// `head_append`, distances from 8 to 32 measure the same, within noise).
const PREFETCH_SERIES: usize = 16;
const PREFETCH_CHUNK: usize = 8;
/// An interned symbol: id and shared string.
type Sym = (u32, Arc<str>);

struct HeadInner {
    opts: HeadBuilder,
    symbols: SymbolTable,
    index: RwLock<Index>,
    table: SeriesTable,
    by_hash: Box<[RwLock<HashTable<Arc<MemSeries>>>]>,
    mask: usize,
    /// Size of the last committed batch, to size the next appender's buffer.
    batch_hint: AtomicUsize,
    next_id: AtomicU32,
    min_t: AtomicI64,
    max_t: AtomicI64,
    min_valid_t: AtomicI64,
    iso: Isolation,
    samples_appended: AtomicU64,
    samples_dropped: AtomicU64,
    exemplars: ExemplarStore,
}

/// The in-memory head of the database. Cloning shares it.
///
/// ```
/// use ember_tsdb::head::Head;
/// use ember_tsdb::storage::{AppendErrorKind, AppendOptions, Value};
/// use ember_exposition::labels;
///
/// let head = Head::builder().build();
/// let mut app = head.appender();
/// let up = labels! {"__name__" => "up", "job" => "api"};
/// let r = app.append(None, &up, 1_000, Value::Float(1.0), AppendOptions::NONE).unwrap();
/// app.commit();
///
/// let mut app = head.appender();
/// let err = app.append(Some(r), &up, 500, Value::Float(1.0), AppendOptions::NONE).unwrap_err();
/// assert_eq!(err.kind, AppendErrorKind::OutOfOrder);
/// assert_eq!(head.num_series(), 1);
/// ```
#[derive(Clone)]
pub struct Head {
    inner: Arc<HeadInner>,
}

impl Default for Head {
    fn default() -> Self {
        Head::builder().build()
    }
}

impl HeadInner {
    fn series_by_id(&self, id: u64) -> Option<Arc<MemSeries>> {
        self.table.get(id)
    }

    fn labels_eq(&self, s: &MemSeries, labels: &Labels) -> bool {
        s.labels.len() == labels.len()
            && s.labels
                .iter()
                .zip(labels.iter())
                .all(|(&(n, v), l)| self.symbols.with(n, |x| x == l.name) && self.symbols.with(v, |x| x == l.value))
    }

    fn labels_of(&self, s: &MemSeries) -> Labels {
        Labels::from_sorted_vec(
            s.labels
                .iter()
                .map(|&(n, v)| Label {
                    name: self.symbols.resolve(n).to_string(),
                    value: self.symbols.resolve(v).to_string(),
                })
                .collect(),
        )
    }

    fn lookup(&self, hash: u64, labels: &Labels) -> Option<Arc<MemSeries>> {
        let g = self.by_hash[hash as usize & self.mask].read();
        g.find(hash, |s| self.labels_eq(s, labels)).cloned()
    }

    /// The series for `labels`, created if new; `true` when created.
    fn get_or_create(&self, labels: &Labels) -> Result<(Arc<MemSeries>, bool), AppendError> {
        let hash = labels.stable_hash();
        if let Some(s) = self.lookup(hash, labels) {
            return Ok((s, false));
        }
        validate_labels(labels)?;
        let interned: Vec<(Sym, Sym)> =
            labels.iter().map(|l| (self.symbols.intern(&l.name), self.symbols.intern(&l.value))).collect();
        let mut g = self.by_hash[hash as usize & self.mask].write();
        if let Some(s) = g.find(hash, |s| self.labels_eq(s, labels)) {
            return Ok((Arc::clone(s), false));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if id == u32::MAX {
            self.next_id.store(u32::MAX, Ordering::Relaxed);
            return Err(AppendError::new(AppendErrorKind::SeriesLimit));
        }
        let s = Arc::new(MemSeries::new(id, hash, interned.iter().map(|((n, _), (v, _))| (*n, *v)).collect()));
        // In the id table first: its slot is reset there before anyone can find the series.
        self.table.insert(&s);
        g.insert_unique(hash, Arc::clone(&s), |s| s.hash);
        drop(g);
        self.index.write().add(id, interned.iter().map(|((_, n), (_, v))| (n, v)));
        Ok((s, true))
    }

    /// Removes a series marked deleted from the maps and the index.
    fn remove_series(&self, s: &Arc<MemSeries>) {
        {
            let mut g = self.by_hash[s.hash as usize & self.mask].write();
            if let Ok(e) = g.find_entry(s.hash, |x| Arc::ptr_eq(x, s)) {
                e.remove();
            }
        }
        self.table.remove(s);
        let names: Vec<(Arc<str>, Arc<str>)> =
            s.labels.iter().map(|&(n, v)| (self.symbols.resolve(n), self.symbols.resolve(v))).collect();
        self.index.write().remove(s.id, names.iter().map(|(n, v)| (&**n, &**v)));
    }

    fn all_series(&self) -> Vec<Arc<MemSeries>> {
        self.table.all()
    }

    fn ooo_ok(&self, t: Timestamp) -> Result<(), AppendErrorKind> {
        match self.opts.ooo_window {
            Some(w) if t >= self.max_t.load(Ordering::Relaxed).saturating_sub(w) => Ok(()),
            Some(_) => Err(AppendErrorKind::TooOld),
            None => Err(AppendErrorKind::OutOfOrder),
        }
    }
}

impl Head {
    /// A builder with Prometheus's defaults.
    pub fn builder() -> HeadBuilder {
        HeadBuilder::default()
    }

    /// A new appender, monomorphic (the [`Appendable`] impl boxes the same type).
    pub fn appender(&self) -> HeadAppender {
        HeadAppender {
            pin: Some(self.inner.table.pin()),
            head: Arc::clone(&self.inner),
            pending: Vec::with_capacity(self.inner.batch_hint.load(Ordering::Relaxed).min(1 << 16)),
            created: Vec::new(),
            held: Vec::new(),
            metadata: Vec::new(),
            exemplars: Vec::new(),
            mint: i64::MAX,
            maxt: i64::MIN,
        }
    }

    /// A querier over `[mint, maxt]` that sees what was committed before this call.
    pub fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<HeadQuerier, StorageError> {
        if mint > maxt {
            return Err(StorageError::new(StorageErrorKind::InvalidTimeRange { mint, maxt }));
        }
        let seen = self.inner.iso.begin_read();
        Ok(HeadQuerier { head: Arc::clone(&self.inner), mint, maxt, seen })
    }

    /// The references of series matching every matcher, resolved on the index alone
    /// (series without samples included); no matchers select nothing.
    pub fn series_refs(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let ids = self.inner.index.read().postings_for_matchers(matchers);
        ids.iter().map(|id| SeriesRef(id as u64)).collect()
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.inner.index.read().all().len() as usize
    }

    /// Oldest sample time, if any sample is stored.
    pub fn min_time(&self) -> Option<Timestamp> {
        Some(self.inner.min_t.load(Ordering::Acquire)).filter(|&t| t != i64::MAX)
    }

    /// Newest sample time, if any sample is stored.
    pub fn max_time(&self) -> Option<Timestamp> {
        Some(self.inner.max_t.load(Ordering::Acquire)).filter(|&t| t != i64::MIN)
    }

    /// Samples committed and samples a commit dropped (out of order against a sample
    /// committed after they were appended).
    pub fn append_counts(&self) -> (u64, u64) {
        (self.inner.samples_appended.load(Ordering::Relaxed), self.inner.samples_dropped.load(Ordering::Relaxed))
    }

    /// The labels of a series, if it exists.
    pub fn series_labels(&self, r: SeriesRef) -> Option<Labels> {
        self.inner.series_by_id(r.0).map(|s| self.inner.labels_of(&s))
    }

    /// The latest metadata appended for a series.
    pub fn metadata(&self, r: SeriesRef) -> Option<Metadata> {
        let s = self.inner.series_by_id(r.0)?;
        let m = s.inner.lock().metadata.clone();
        m.map(|m| (*m).clone())
    }

    /// The exemplars kept for a series, oldest first (none unless
    /// [`HeadBuilder::max_exemplars`] is set).
    pub fn exemplars(&self, r: SeriesRef) -> Vec<Exemplar> {
        match u32::try_from(r.0) {
            Ok(id) => self.inner.exemplars.series(id, i64::MIN, i64::MAX),
            Err(_) => Vec::new(),
        }
    }

    /// The exemplar store (capacity 0 unless [`HeadBuilder::max_exemplars`] was set or
    /// [`Head::resize_exemplars`] called).
    pub fn exemplar_store(&self) -> &ExemplarStore {
        &self.inner.exemplars
    }

    /// Changes how many exemplars are kept (0: none), keeping the newest; returns how many
    /// were dropped.
    pub fn resize_exemplars(&self, capacity: usize) -> usize {
        self.inner.exemplars.resize(capacity)
    }

    /// The exemplars in `[start, end]` of the series matching any of `matcher_sets` (each
    /// set a conjunction, as in one selector), per series in label order, each series'
    /// exemplars oldest first. Series without exemplars in the range are left out.
    pub fn query_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> Vec<SeriesExemplars> {
        let store = &self.inner.exemplars;
        if !store.enabled() || start > end {
            return Vec::new();
        }
        let mut ids = roaring::RoaringBitmap::new();
        {
            let index = self.inner.index.read();
            for set in matcher_sets {
                ids |= index.postings_for_matchers(set);
            }
        }
        let mut out: Vec<SeriesExemplars> = ids
            .iter()
            .filter_map(|id| {
                let exemplars = store.series(id, start, end);
                if exemplars.is_empty() {
                    return None;
                }
                let labels = self.series_labels(SeriesRef(id as u64))?;
                Some(SeriesExemplars { labels, exemplars })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Drops data older than `mint`, refuses appends older than it from now on
    /// ([`AppendErrorKind::OutOfBounds`]), and collects series left without data.
    pub fn truncate(&self, mint: Timestamp) -> TruncateStats {
        let h = &self.inner;
        h.min_valid_t.fetch_max(mint, Ordering::AcqRel);
        let mut stats = TruncateStats::default();
        let mut new_min = i64::MAX;
        for s in h.all_series() {
            let mut inner = s.inner.lock();
            let before = inner.chunks.len() + inner.open.is_some() as usize;
            let empty = inner.truncate(mint);
            stats.chunks_removed += before - inner.chunks.len() - inner.open.is_some() as usize;
            if empty && !inner.deleted {
                inner.deleted = true;
                drop(inner);
                h.remove_series(&s);
                stats.series_removed += 1;
            } else if let Some(t) = inner.min_time() {
                new_min = new_min.min(t);
            }
        }
        h.min_t.store(new_min, Ordering::Release);
        if new_min == i64::MAX {
            h.max_t.store(i64::MIN, Ordering::Release);
        }
        stats
    }

    /// Statistics as Prometheus's `/api/v1/status/tsdb` reports them, each list the top
    /// `limit` entries by count.
    pub fn stats(&self, limit: usize) -> HeadStats {
        let h = &self.inner;
        let (mut num_chunks, mut chunk_bytes) = (0, 0);
        for s in h.all_series() {
            let (c, b) = s.inner.lock().chunk_stats();
            num_chunks += c as u64;
            chunk_bytes += b as u64;
        }
        let idx = h.index.read();
        let top = |mut v: Vec<(String, u64)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(limit);
            v
        };
        let by_metric = idx
            .values(METRIC_NAME_LABEL)
            .map(|vals| vals.iter().map(|(v, b)| (v.to_string(), b.len())).collect())
            .unwrap_or_default();
        let mut value_counts = Vec::new();
        let mut memory = Vec::new();
        let mut pairs = Vec::new();
        let mut num_label_pairs = 0;
        for (name, vals) in idx.names() {
            num_label_pairs += vals.len() as u64;
            value_counts.push((name.to_string(), vals.len() as u64));
            memory.push((name.to_string(), vals.keys().map(|v| v.len() as u64).sum()));
            pairs.extend(vals.iter().map(|(v, b)| (format!("{name}={v}"), b.len())));
        }
        let (num_symbols, symbol_bytes) = h.symbols.size();
        HeadStats {
            num_series: idx.all().len(),
            num_label_pairs,
            num_chunks,
            chunk_bytes,
            num_symbols: num_symbols as u64,
            symbol_bytes: symbol_bytes as u64,
            min_time: self.min_time(),
            max_time: self.max_time(),
            series_count_by_metric_name: top(by_metric),
            label_value_count_by_label_name: top(value_counts),
            memory_in_bytes_by_label_name: top(memory),
            series_count_by_label_value_pair: top(pairs),
        }
    }
}

/// One series' exemplars, as [`Head::query_exemplars`] returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesExemplars {
    /// The series' labels.
    pub labels: Labels,
    /// Its exemplars in the range, oldest first (each with its timestamp).
    pub exemplars: Vec<Exemplar>,
}

/// What [`Head::truncate`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TruncateStats {
    /// Series collected because no data was left.
    pub series_removed: usize,
    /// Chunks dropped.
    pub chunks_removed: usize,
}

/// Head statistics, as in Prometheus's `/api/v1/status/tsdb`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadStats {
    /// Number of series.
    pub num_series: u64,
    /// Number of distinct `name=value` label pairs over all series (Prometheus's
    /// `numLabelPairs`: the entries of the postings index, not limited like the lists).
    pub num_label_pairs: u64,
    /// Number of chunks (closed and open).
    pub num_chunks: u64,
    /// Bytes of chunk data.
    pub chunk_bytes: u64,
    /// Interned strings.
    pub num_symbols: u64,
    /// Bytes of interned strings.
    pub symbol_bytes: u64,
    /// Oldest sample time.
    pub min_time: Option<Timestamp>,
    /// Newest sample time.
    pub max_time: Option<Timestamp>,
    /// Metric names by number of series.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Label names by number of distinct values.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Label names by the total length of their distinct values.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// `name=value` pairs by number of series.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

struct Pending {
    series: SeriesPtr,
    slot: SlotRef,
    t: Timestamp,
    bits: u64,
}

/// A batch of appends to the [`Head`]. Dropping it without committing rolls it back.
///
/// An open appender pins the head's series table: series it resolved stay allocated
/// (not necessarily in the head) until it is committed, rolled back or dropped.
pub struct HeadAppender {
    head: Arc<HeadInner>,
    /// `Some` until dropped; every `SeriesPtr` below is valid while it is held.
    pin: Option<Pin>,
    pending: Vec<Pending>,
    /// Series this batch created (removed again on rollback).
    created: Vec<Arc<MemSeries>>,
    /// Series resolved by labels (kept alive by this count rather than by the pin).
    held: Vec<Arc<MemSeries>>,
    metadata: Vec<(SeriesPtr, Metadata)>,
    exemplars: Vec<(u32, Exemplar)>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl HeadAppender {
    /// See [`Appender::append`].
    #[inline]
    pub fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError> {
        let bits = self.check_value(t, v)?;
        let h = &*self.head;
        let pin = self.pin.as_ref().ok_or(AppendError::new(AppendErrorKind::Closed))?;
        // The id is the reference's (the series' own line is not read on this path).
        let (ptr, slot, id) = match series.and_then(|r| Some((h.table.get_ptr(r.0, pin)?, r.0 as u32))) {
            Some(((p, slot), id)) => (p, slot, id),
            None => {
                let (s, created) = h.get_or_create(labels)?;
                let p = (SeriesPtr::of(&s), h.table.slot(s.id), s.id);
                if created { &mut self.created } else { &mut self.held }.push(s);
                p
            }
        };
        self.push(ptr, slot, id, t, bits, opts)
    }

    /// See [`Appender::append_ref`]: `Ok(None)` when no series has the reference (any more).
    #[inline]
    pub fn append_ref(
        &mut self,
        series: SeriesRef,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> Result<Option<SeriesRef>, AppendError> {
        let bits = self.check_value(t, v)?;
        let pin = self.pin.as_ref().ok_or(AppendError::new(AppendErrorKind::Closed))?;
        match self.head.table.get_ptr(series.0, pin) {
            Some((ptr, slot)) => self.push(ptr, slot, series.0 as u32, t, bits, opts).map(Some),
            None => Ok(None),
        }
    }

    /// The bits of `v`, if the head stores its kind and `t` is not before the truncation point.
    #[inline]
    fn check_value(&self, t: Timestamp, v: Value) -> Result<u64, AppendError> {
        let bits = float_bits(v).ok_or(AppendError::new(AppendErrorKind::UnsupportedValue))?;
        if t < self.head.min_valid_t.load(Ordering::Relaxed) {
            return Err(AppendError::at(AppendErrorKind::OutOfBounds, t));
        }
        Ok(bits)
    }

    /// Adds the checked sample `(t, bits)` of the series at `ptr` (id `id`, table slot
    /// `slot`) to the batch.
    #[inline]
    fn push(
        &mut self,
        ptr: SeriesPtr,
        slot: SlotRef,
        id: u32,
        t: Timestamp,
        bits: u64,
        opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError> {
        let h = &*self.head;
        #[allow(unsafe_code)]
        // SAFETY: the appender holds the head, so the table is alive.
        let max_t = unsafe { slot.get() }.max_t.load(Ordering::Acquire);
        // The series itself is only read when the sample is not newer than its newest.
        if t <= max_t {
            #[allow(unsafe_code)]
            // SAFETY: `ptr` was read from the table under `self.pin`, or comes from an `Arc`
            // in `self.created` / `self.held`; both outlive this call.
            let s = unsafe { ptr.get() };
            let ooo = h.ooo_ok(t);
            let check = s.inner.lock().check(max_t, t, bits, ooo.is_ok());
            match check {
                Check::InOrder | Check::OutOfOrder | Check::Duplicate => {}
                Check::DuplicateTimestamp => return Err(AppendError::at(AppendErrorKind::DuplicateTimestamp, t)),
                Check::Rejected => return Err(AppendError::at(ooo.err().unwrap_or(AppendErrorKind::OutOfOrder), t)),
            }
        }
        if let Some(ct) = opts.created_timestamp {
            if h.opts.created_timestamp_zero_ingestion
                && ct < t
                && ct > max_t
                && ct >= h.min_valid_t.load(Ordering::Relaxed)
            {
                self.pending.push(Pending { series: ptr, slot, t: ct, bits: 0f64.to_bits() });
                self.mint = self.mint.min(ct);
            }
        }
        if let Some(m) = &opts.metadata {
            self.metadata.push((ptr, m.clone()));
        }
        if !opts.exemplars.is_empty() && h.exemplars.enabled() {
            // Without its own timestamp an exemplar takes the sample's.
            self.exemplars.extend(
                opts.exemplars
                    .iter()
                    .map(|e| (id, Exemplar { timestamp: Some(e.timestamp.unwrap_or(t)), ..e.clone() })),
            );
        }
        self.pending.push(Pending { series: ptr, slot, t, bits });
        self.mint = self.mint.min(t);
        self.maxt = self.maxt.max(t);
        Ok(SeriesRef(id as u64))
    }

    /// See [`Appender::commit`].
    pub fn commit(mut self) -> Result<(), AppendError> {
        let h = Arc::clone(&self.head);
        let pending = std::mem::take(&mut self.pending);
        self.created.clear();
        if pending.is_empty() && self.metadata.is_empty() {
            return Ok(());
        }
        let opts = &h.opts;
        let _gate = h.iso.gate.read();
        let seq = h.iso.seq.fetch_add(1, Ordering::AcqRel) + 1;
        let low = h.iso.low();
        // The window is judged against the head's newest time including this batch.
        if self.maxt != i64::MIN {
            h.max_t.fetch_max(self.maxt, Ordering::AcqRel);
        }
        let (mut stored, mut dropped) = (0u64, 0u64);
        h.batch_hint.store(pending.len(), Ordering::Relaxed);
        for (i, p) in pending.iter().take(PREFETCH_SERIES).enumerate() {
            series::prefetch_series(p.series.addr());
            if i < PREFETCH_CHUNK {
                #[allow(unsafe_code)]
                // SAFETY: the appender holds the head, so the table is alive.
                unsafe { p.slot.get() }.prefetch_chunk();
            }
        }
        for (i, p) in pending.iter().enumerate() {
            // The batch's series and chunks are usually not in cache: fetch them ahead while
            // this one is written (locked instructions would otherwise wait for each miss in
            // turn). Both addresses are known without touching the series: its pointer, and
            // its open chunk's from its slot (which the append just read).
            if let Some(ahead) = pending.get(i + PREFETCH_SERIES) {
                series::prefetch_series(ahead.series.addr());
            }
            if let Some(ahead) = pending.get(i + PREFETCH_CHUNK) {
                #[allow(unsafe_code)]
                // SAFETY: the appender holds the head, so the table is alive.
                unsafe { ahead.slot.get() }.prefetch_chunk();
            }
            let successor;
            #[allow(unsafe_code)]
            // SAFETY: pending series pointers are valid while `self.pin` is held (see
            // `append`).
            let mut series = unsafe { p.series.get() };
            #[allow(unsafe_code)]
            // SAFETY: the appender holds the head, so the table is alive.
            let mut slot = unsafe { p.slot.get() };
            let mut inner = series.inner.lock();
            if inner.deleted {
                // Collected while we held it: store into its successor.
                drop(inner);
                let labels = h.labels_of(series);
                match h.get_or_create(&labels) {
                    Ok((s, _)) => successor = s,
                    Err(_) => {
                        dropped += 1;
                        continue;
                    }
                }
                series = &successor;
                #[allow(unsafe_code)]
                // SAFETY: as above.
                let s = unsafe { h.table.slot(series.id).get() };
                slot = s;
                inner = series.inner.lock();
            }
            let max_t = slot.max_t.load(Ordering::Acquire);
            let ooo_ok = p.t <= max_t && h.ooo_ok(p.t).is_ok();
            match inner.check(max_t, p.t, p.bits, ooo_ok) {
                Check::InOrder => {
                    inner.append_in_order(p.t, p.bits, seq, low, opts.chunk_range, opts.samples_per_chunk);
                    slot.set_chunk_hint(&inner);
                    slot.max_t.store(p.t, Ordering::Release);
                    stored += 1;
                }
                Check::OutOfOrder => {
                    inner.insert_ooo(p.t, p.bits, seq);
                    stored += 1;
                }
                Check::Duplicate => {}
                Check::DuplicateTimestamp | Check::Rejected => dropped += 1,
            }
        }
        for (p, m) in std::mem::take(&mut self.metadata) {
            #[allow(unsafe_code)]
            // SAFETY: as above.
            let mut inner = unsafe { p.get() }.inner.lock();
            if inner.metadata.as_deref() != Some(&m) {
                inner.metadata = Some(Arc::new(m));
            }
        }
        for (id, e) in std::mem::take(&mut self.exemplars) {
            // Refusals (out of order, label set too long) are counted by the store.
            let _ = h.exemplars.add(id, &e);
        }
        if stored > 0 {
            h.min_t.fetch_min(self.mint, Ordering::AcqRel);
        }
        h.samples_appended.fetch_add(stored, Ordering::Relaxed);
        if dropped > 0 {
            h.samples_dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        Ok(())
    }

    /// See [`Appender::rollback`].
    pub fn rollback(mut self) -> Result<(), AppendError> {
        self.discard();
        Ok(())
    }

    fn discard(&mut self) {
        self.pending.clear();
        self.metadata.clear();
        self.exemplars.clear();
        // Series this batch created and nobody has written to vanish again.
        for s in std::mem::take(&mut self.created) {
            let mut inner = s.inner.lock();
            if inner.appended == 0 && inner.is_empty() && !inner.deleted {
                inner.deleted = true;
                drop(inner);
                self.head.remove_series(&s);
            }
        }
    }
}

impl Drop for HeadAppender {
    fn drop(&mut self) {
        self.discard();
        self.held.clear();
        if let Some(pin) = self.pin.take() {
            self.head.table.unpin(pin);
        }
    }
}

impl Appender for HeadAppender {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError> {
        HeadAppender::append(self, series, labels, t, v, opts)
    }

    fn append_ref(
        &mut self,
        series: SeriesRef,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> Result<Option<SeriesRef>, AppendError> {
        HeadAppender::append_ref(self, series, t, v, opts)
    }

    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        HeadAppender::commit(*self)
    }

    fn rollback(self: Box<Self>) -> Result<(), AppendError> {
        HeadAppender::rollback(*self)
    }
}

impl Appendable for Head {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(Head::appender(self))
    }
}

impl Queryable for Head {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(Head::querier(self, mint, maxt)?))
    }
}

/// Reads the head as of its creation.
pub struct HeadQuerier {
    head: Arc<HeadInner>,
    mint: Timestamp,
    maxt: Timestamp,
    seen: u64,
}

impl Drop for HeadQuerier {
    fn drop(&mut self) {
        self.head.iso.end_read(self.seen);
    }
}

impl HeadQuerier {
    /// The ids of series matching `matchers` (no time filtering).
    fn postings(&self, matchers: &[Matcher]) -> roaring::RoaringBitmap {
        self.head.index.read().postings_for_matchers(matchers)
    }

    fn overlaps(&self) -> bool {
        let h = &self.head;
        h.min_t.load(Ordering::Acquire) <= self.maxt && h.max_t.load(Ordering::Acquire) >= self.mint
    }

    /// The matching series with their visible data, in id order.
    pub fn select_series(&self, matchers: &[Matcher]) -> Vec<HeadSeries> {
        let mut out = Vec::new();
        let pin = self.head.table.pin();
        for id in self.postings(matchers) {
            let Some(s) = self.head.table.get_arc(id as u64, &pin) else { continue };
            let snap = s.inner.lock().snapshot(self.seen, self.mint, self.maxt);
            if snap.is_empty() {
                continue;
            }
            out.push(HeadSeries { labels: self.head.labels_of(&s), snap, mint: self.mint, maxt: self.maxt });
        }
        self.head.table.unpin(pin);
        out
    }

    fn label_strings(&self, name: Option<&str>, matchers: &[Matcher]) -> Vec<String> {
        if !self.overlaps() {
            return Vec::new();
        }
        let ids = (!matchers.is_empty()).then(|| self.postings(matchers));
        let idx = self.head.index.read();
        let wanted = |b: &roaring::RoaringBitmap| ids.as_ref().is_none_or(|ids| !b.is_disjoint(ids));
        let mut out: Vec<String> = match name {
            Some(n) => idx
                .values(n)
                .map(|vals| vals.iter().filter(|(_, b)| wanted(b)).map(|(v, _)| v.to_string()).collect())
                .unwrap_or_default(),
            None => idx.names().filter(|(_, vals)| vals.values().any(&wanted)).map(|(n, _)| n.to_string()).collect(),
        };
        out.sort_unstable();
        out
    }
}

impl Querier for HeadQuerier {
    fn select(&self, sorted: bool, _hints: Option<&SelectHints>, matchers: &[Matcher]) -> SeriesSet {
        let mut series = self.select_series(matchers);
        if sorted {
            series.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        }
        SeriesSet::from_vec(series.into_iter().map(|s| Box::new(s) as Box<dyn Series>).collect(), Vec::new())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Warned<Vec<String>>, StorageError> {
        Ok(Warned::ok(self.label_strings(None, matchers)))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Warned<Vec<String>>, StorageError> {
        Ok(Warned::ok(self.label_strings(Some(name), matchers)))
    }
}

/// A head series as a querier saw it: its labels and the chunks visible to it.
pub struct HeadSeries {
    labels: Labels,
    snap: Snapshot,
    mint: Timestamp,
    maxt: Timestamp,
}

impl Series for HeadSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        if self.snap.ooo.is_empty() {
            Box::new(ChunksIterator::new(&self.snap.chunks, self.mint, self.maxt))
        } else {
            Box::new(PointsIterator::new(merge_with_ooo(&self.snap, self.mint, self.maxt)))
        }
    }
}
