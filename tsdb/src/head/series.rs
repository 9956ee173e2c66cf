//! One in-memory series: its label symbols, its chunks, and what readers may see of them.

use std::sync::Arc;

use ember_exposition::Timestamp;
use parking_lot::Mutex;

use crate::chunks::{ChunkEncoder, ChunkIterator, Encoding};
use crate::storage::{Metadata, Point, SampleIterator, StorageError, Value};

/// A closed chunk.
pub(crate) struct HeadChunk {
    pub(crate) min_t: Timestamp,
    pub(crate) max_t: Timestamp,
    /// Ordinal (count of in-order samples ever appended to the series) of its first sample.
    pub(crate) first_ordinal: u64,
    pub(crate) encoding: Encoding,
    pub(crate) data: Arc<[u8]>,
}

/// The chunk being written.
pub(crate) struct OpenChunk {
    pub(crate) min_t: Timestamp,
    /// Samples with `t >= end` go to a new chunk (chunk-range boundary, for blocks).
    pub(crate) end: Timestamp,
    pub(crate) first_ordinal: u64,
    pub(crate) enc: ChunkEncoder,
}

/// A series in the head. What an append needs without the lock (its newest timestamp)
/// is in its [`Slot`](super::table::Slot) in the id table.
///
/// Laid out for the commit: cache-line aligned (the `Arc` counts, which appends never
/// touch, get a line of their own), the lock and the state a commit writes first, so an
/// in-order commit touches [`HOT_LINES`] lines of it.
#[repr(C, align(64))]
pub(crate) struct MemSeries {
    pub(crate) inner: Mutex<SeriesInner>,
    pub(crate) id: u32,
    pub(crate) hash: u64,
    /// (name, value) symbol ids, sorted by name.
    pub(crate) labels: Box<[(u32, u32)]>,
}

/// Lines of a [`MemSeries`] an in-order commit touches: the lock word (padded to 8
/// bytes) and [`SeriesInner`] up to its closed chunks.
const HOT_LINES: usize = (8 + std::mem::offset_of!(SeriesInner, chunks)).div_ceil(64);
// More lines than this and a commit's prefetches start queueing behind each other.
const _: () = assert!(HOT_LINES <= 4, "the state an in-order commit writes outgrew its lines");

/// `repr(C)`: what every append touches comes first, so a commit reads few cache lines.
#[derive(Default)]
#[repr(C)]
pub(crate) struct SeriesInner {
    /// In-order samples ever appended (ordinals survive truncation).
    pub(crate) appended: u64,
    pub(crate) last_value: u64,
    /// For readers older than recent commits: (commit sequence, ordinal before it).
    pub(crate) txs: Vec<(u64, u64)>,
    /// Collected: appenders holding it re-resolve by labels.
    pub(crate) deleted: bool,
    pub(crate) open: Option<OpenChunk>,
    pub(crate) chunks: Vec<HeadChunk>,
    /// Out-of-order samples: (t, value bits, commit sequence), sorted by t.
    pub(crate) ooo: Vec<(Timestamp, u64, u64)>,
    pub(crate) metadata: Option<Arc<Metadata>>,
}

/// Where a sample at `t` would go, or why it cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    InOrder,
    OutOfOrder,
    Duplicate,
    DuplicateTimestamp,
    Rejected,
}

impl SeriesInner {
    /// Classifies a sample against what is stored; `ooo_ok` says whether out-of-order
    /// samples are accepted for this timestamp.
    pub(crate) fn check(&self, max_t: Timestamp, t: Timestamp, bits: u64, ooo_ok: bool) -> Check {
        if self.appended == 0 || t > max_t {
            return Check::InOrder;
        }
        if t == max_t {
            return if bits == self.last_value { Check::Duplicate } else { Check::DuplicateTimestamp };
        }
        if !ooo_ok {
            return Check::Rejected;
        }
        match self.ooo.binary_search_by_key(&t, |e| e.0) {
            Ok(i) if self.ooo[i].1 == bits => Check::Duplicate,
            Ok(_) => Check::DuplicateTimestamp,
            Err(_) => Check::OutOfOrder,
        }
    }

    /// Appends in order. `low` is the oldest commit a reader still needs (`u64::MAX` when
    /// there are no readers), `seq` this commit's sequence.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append_in_order(
        &mut self,
        t: Timestamp,
        bits: u64,
        seq: u64,
        low: u64,
        chunk_range: i64,
        samples_per_chunk: u16,
    ) {
        if low == u64::MAX {
            self.txs.clear();
        } else {
            self.txs.retain(|e| e.0 > low);
            if self.txs.last().is_none_or(|e| e.0 != seq) {
                self.txs.push((seq, self.appended));
            }
        }
        let cut = match &self.open {
            Some(o) => o.enc.num_samples() >= samples_per_chunk || t >= o.end || o.enc.is_full(),
            None => true,
        };
        if cut {
            // The closed chunk's bytes are copied out; the encoder's buffer is reused.
            let enc = match self.cut() {
                Some(mut enc) => {
                    enc.reset();
                    enc
                }
                None => ChunkEncoder::with_capacity(samples_per_chunk as usize + 32),
            };
            let end = t.div_euclid(chunk_range).saturating_add(1).saturating_mul(chunk_range);
            self.open = Some(OpenChunk { min_t: t, end, first_ordinal: self.appended, enc });
        }
        if let Some(o) = &mut self.open {
            o.enc.append(t, f64::from_bits(bits));
        }
        self.appended += 1;
        self.last_value = bits;
    }

    /// Closes the open chunk, if any; returns its encoder for reuse.
    pub(crate) fn cut(&mut self) -> Option<ChunkEncoder> {
        let o = self.open.take()?;
        if o.enc.num_samples() > 0 {
            self.chunks.push(HeadChunk {
                min_t: o.min_t,
                max_t: o.enc.last_t(),
                first_ordinal: o.first_ordinal,
                encoding: o.enc.encoding(),
                data: Arc::from(o.enc.bytes()),
            });
        }
        Some(o.enc)
    }

    pub(crate) fn insert_ooo(&mut self, t: Timestamp, bits: u64, seq: u64) {
        if let Err(i) = self.ooo.binary_search_by_key(&t, |e| e.0) {
            self.ooo.insert(i, (t, bits, seq));
        }
    }

    /// Drops data older than `mint`; returns whether nothing is left.
    pub(crate) fn truncate(&mut self, mint: Timestamp) -> bool {
        self.chunks.retain(|c| c.max_t >= mint);
        if self.open.as_ref().is_some_and(|o| o.enc.last_t() < mint && o.enc.num_samples() > 0) {
            self.open = None;
        }
        self.ooo.retain(|e| e.0 >= mint);
        self.is_empty()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.open.is_none() && self.ooo.is_empty()
    }

    /// Chunks and bytes held.
    pub(crate) fn chunk_stats(&self) -> (usize, usize) {
        let closed = self.chunks.iter().map(|c| c.data.len()).sum::<usize>();
        let open = self.open.as_ref().map_or(0, |o| o.enc.bytes().len());
        (self.chunks.len() + self.open.is_some() as usize, closed + open)
    }

    pub(crate) fn min_time(&self) -> Option<Timestamp> {
        let c = self.chunks.first().map(|c| c.min_t).or(self.open.as_ref().map(|o| o.min_t));
        let o = self.ooo.first().map(|e| e.0);
        match (c, o) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What a reader that saw commits up to `seen` may read in `[mint, maxt]`.
    pub(crate) fn snapshot(&self, seen: u64, mint: Timestamp, maxt: Timestamp) -> Snapshot {
        let visible = self.txs.iter().find(|e| e.0 > seen).map_or(self.appended, |e| e.1);
        let mut chunks = Vec::new();
        for c in &self.chunks {
            if c.first_ordinal >= visible || c.max_t < mint || c.min_t > maxt {
                continue;
            }
            let limit = (visible - c.first_ordinal).min(u16::MAX as u64) as u16;
            chunks.push(ChunkSnap { encoding: c.encoding, max_t: c.max_t, limit, data: Arc::clone(&c.data) });
        }
        if let Some(o) = &self.open {
            if o.first_ordinal < visible && o.min_t <= maxt && o.enc.last_t() >= mint {
                let limit = (visible - o.first_ordinal).min(u16::MAX as u64) as u16;
                let max_t = if limit == o.enc.num_samples() { o.enc.last_t() } else { Timestamp::MAX };
                chunks.push(ChunkSnap { encoding: o.enc.encoding(), max_t, limit, data: Arc::from(o.enc.bytes()) });
            }
        }
        let ooo = self
            .ooo
            .iter()
            .filter(|e| e.2 <= seen && e.0 >= mint && e.0 <= maxt)
            .map(|e| Point::float(e.0, f64::from_bits(e.1)))
            .collect();
        Snapshot { chunks, ooo }
    }
}

/// A chunk as a reader sees it.
pub(crate) struct ChunkSnap {
    pub(crate) encoding: Encoding,
    /// Upper bound of the visible samples' timestamps.
    pub(crate) max_t: Timestamp,
    pub(crate) limit: u16,
    pub(crate) data: Arc<[u8]>,
}

/// A series' data as a reader sees it.
pub(crate) struct Snapshot {
    pub(crate) chunks: Vec<ChunkSnap>,
    pub(crate) ooo: Vec<Point>,
}

impl Snapshot {
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.ooo.is_empty()
    }
}

/// Iterates a series' chunks within `[mint, maxt]`; seeks skip whole chunks by time.
pub(crate) struct ChunksIterator<'a> {
    chunks: &'a [ChunkSnap],
    next_chunk: usize,
    cur: Option<ChunkIterator<'a>>,
    mint: Timestamp,
    maxt: Timestamp,
    at: Option<Point>,
    done: bool,
}

impl<'a> ChunksIterator<'a> {
    pub(crate) fn new(chunks: &'a [ChunkSnap], mint: Timestamp, maxt: Timestamp) -> Self {
        ChunksIterator { chunks, next_chunk: 0, cur: None, mint, maxt, at: None, done: false }
    }

    fn open_next(&mut self) -> bool {
        match self.chunks.get(self.next_chunk) {
            Some(c) => {
                self.cur = Some(ChunkIterator::with_limit(c.encoding, &c.data, c.limit));
                self.next_chunk += 1;
                true
            }
            None => false,
        }
    }

    fn finish(&mut self) -> Option<Point> {
        self.done = true;
        self.at = None;
        None
    }
}

impl SampleIterator for ChunksIterator<'_> {
    fn next(&mut self) -> Option<Point> {
        if self.done {
            return None;
        }
        loop {
            if let Some(it) = &mut self.cur {
                match it.next() {
                    Some(p) if p.t < self.mint => continue,
                    Some(p) if p.t > self.maxt => return self.finish(),
                    Some(p) => {
                        self.at = Some(p);
                        return Some(p);
                    }
                    None if it.chunk_error().is_some() => return self.finish(),
                    None => {}
                }
            }
            if !self.open_next() {
                return self.finish();
            }
        }
    }

    fn at(&self) -> Option<Point> {
        self.at
    }

    fn seek(&mut self, t: Timestamp) -> Option<Point> {
        if let Some(p) = self.at {
            if p.t >= t {
                return Some(p);
            }
        }
        if self.done {
            return None;
        }
        // Skip chunks that end before t without decoding them.
        let cur_ends_before =
            self.cur.is_none() || self.chunks.get(self.next_chunk.wrapping_sub(1)).is_some_and(|c| c.max_t < t);
        if cur_ends_before {
            while self.chunks.get(self.next_chunk).is_some_and(|c| c.max_t < t) {
                self.next_chunk += 1;
            }
            self.cur = None;
        }
        while let Some(p) = self.next() {
            if p.t >= t {
                return Some(p);
            }
        }
        None
    }

    fn error(&self) -> Option<StorageError> {
        self.cur.as_ref().and_then(|c| c.error())
    }
}

/// Merges the in-order chunks with out-of-order samples (rare) into one sorted vector;
/// on equal timestamps the in-order sample wins.
pub(crate) fn merge_with_ooo(snap: &Snapshot, mint: Timestamp, maxt: Timestamp) -> Vec<Point> {
    let mut it = ChunksIterator::new(&snap.chunks, mint, maxt);
    let mut out = Vec::with_capacity(snap.ooo.len() + 120);
    let mut ooo = snap.ooo.iter().peekable();
    while let Some(p) = it.next() {
        while let Some(o) = ooo.next_if(|o| o.t < p.t) {
            out.push(*o);
        }
        ooo.next_if(|o| o.t == p.t);
        out.push(p);
    }
    out.extend(ooo);
    out
}

/// Whether `v` is a float the head can store.
pub(crate) fn float_bits(v: Value) -> Option<u64> {
    v.as_float().map(f64::to_bits)
}

/// Asks the CPU to start loading the cache line at `addr` (a hint: it never faults, so
/// any address will do; no effect on targets other than x86-64).
#[inline(always)]
pub(crate) fn prefetch_line(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        #[allow(unsafe_code)]
        // SAFETY: prefetching is a hint that never faults and has no effect on the
        // program's semantics, whatever the address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(addr as *const i8)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Asks the CPU to start loading the lines of a series an in-order commit touches.
#[inline(always)]
pub(crate) fn prefetch_series(s: *const MemSeries) {
    for line in 0..HOT_LINES {
        prefetch_line(s as usize + 64 * line);
    }
}

impl MemSeries {
    /// A new, empty series.
    pub(crate) fn new(id: u32, hash: u64, labels: Box<[(u32, u32)]>) -> Self {
        MemSeries { id, hash, labels, inner: Mutex::new(SeriesInner::default()) }
    }
}
