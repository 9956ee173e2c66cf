//! [`Db`]: the durable database — a directory holding the write-ahead log, the
//! persistent blocks, and a lock file, with the in-memory [`Head`] in front.
//!
//! ```text
//! <dir>/lock                 held (flock) while a Db has the directory open
//! <dir>/wal/00000000 …       WAL segments (see `wal`), checkpoint.N/
//! <dir>/01J…/                one block per time range (see `block`)
//! ```
//!
//! Appends go to the head; a commit first writes the batch to the WAL (series records
//! for series the log has not seen, then one samples record), then makes it visible in
//! the head, in one critical section so the log's order is the head's order. Opening
//! replays the log into a fresh head under the same series references.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ember_exposition::{Exemplar, Labels, Matcher, Timestamp};
use parking_lot::{Mutex, RwLock};

use crate::block::Block;
use crate::block::writer::{NewBlock, write_block};
use crate::compact;
use crate::error::{IoContext, Result};
use crate::head::{Head, HeadAppender, HeadBuilder};
use crate::storage::{
    AppendError, AppendErrorKind, AppendOptions, Appendable, Appender, MergeQuerier, Querier, Queryable, SeriesRef,
    StorageError, Value,
};
use crate::storage::{SampleIterator, SelectHints, Series, SeriesSet, Warned};
use crate::wal::{
    self, Encoder, Record, RefExemplar, RefSample, RefTombstone, ReplayStats, SyncPolicy, Wal, WalOptions,
};

mod clean;
pub use clean::CleanTombstonesStats;

/// Configures and opens a [`Db`].
#[derive(Debug, Clone)]
pub struct DbBuilder {
    dir: PathBuf,
    head: HeadBuilder,
    wal: Option<WalOptions>,
    block_range: i64,
    retention: Option<i64>,
    retention_bytes: Option<u64>,
    compact_every: Option<Duration>,
}

impl DbBuilder {
    /// The head's settings (chunk range, out-of-order window, …).
    pub fn head(mut self, head: HeadBuilder) -> Self {
        self.head = head;
        self
    }

    /// WAL settings (default: [`WalOptions::default`], synced every second).
    pub fn wal(mut self, opts: WalOptions) -> Self {
        self.wal = Some(opts);
        self
    }

    /// Shorthand for the WAL's sync policy.
    pub fn sync(mut self, sync: SyncPolicy) -> Self {
        self.wal.get_or_insert_with(WalOptions::default).sync = sync;
        self
    }

    /// Runs without a WAL: nothing in the head survives a restart.
    pub fn without_wal(mut self) -> Self {
        self.wal = None;
        self
    }

    /// The range of blocks cut from the head (default 2 h); the head's chunks are aligned
    /// to it. Values under a millisecond count as one.
    pub fn block_range(mut self, d: Duration) -> Self {
        self.block_range = i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1);
        self.head = self.head.chunk_range(d);
        self
    }

    /// Keep blocks whose data is newer than this much before the newest sample (default:
    /// forever). Merged blocks grow up to 10% of it.
    pub fn retention(mut self, d: Duration) -> Self {
        self.retention = Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self
    }

    /// Keep at most this many bytes of blocks, dropping the oldest first (default: no limit).
    pub fn retention_bytes(mut self, bytes: u64) -> Self {
        self.retention_bytes = Some(bytes);
        self
    }

    /// Run [`Db::compact`] on a background thread at this interval (default: never; the
    /// host calls `compact`). The thread stops when the last `Db` handle is dropped;
    /// failures are counted in [`DbMetrics::compaction_failures`].
    pub fn compact_every(mut self, every: Duration) -> Self {
        self.compact_every = Some(every);
        self
    }

    /// Opens (creating if needed) the database: takes the lock, replays the WAL.
    pub fn open(self) -> Result<Db> {
        Db::open_with(self)
    }
}

/// Counters of the durable layer, in the spirit of Prometheus's `prometheus_tsdb_*` metrics.
#[derive(Debug, Default)]
pub struct DbMetrics {
    /// WAL records dropped at replay because of corruption (`…_wal_corruptions` records).
    pub wal_records_dropped: AtomicU64,
    /// WAL repairs at replay (corruption found and cut off).
    pub wal_corruptions: AtomicU64,
    /// Torn WAL tails truncated at replay.
    pub wal_torn_tails: AtomicU64,
    /// WAL checkpoints written.
    pub checkpoints: AtomicU64,
    /// Commits that failed because the WAL could not be written.
    pub wal_write_failures: AtomicU64,
    /// Blocks skipped at open because they could not be read.
    pub corrupt_blocks: AtomicU64,
    /// Blocks written by compaction (from the head or by merging).
    pub compactions: AtomicU64,
    /// Blocks deleted by retention.
    pub retention_deletions: AtomicU64,
    /// Background compactions that failed.
    pub compaction_failures: AtomicU64,
}

/// What opening the database found.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// The WAL replay, including any repair.
    pub replay: ReplayStats,
    /// Samples in the WAL that were not applied (unknown series reference, out of bounds).
    pub samples_skipped: u64,
    /// Wall time of the replay.
    pub replay_time: Duration,
    /// Blocks that could not be opened, with the reason; they are skipped while the
    /// others serve, and left on disk for inspection.
    pub corrupt_blocks: Vec<(PathBuf, String)>,
}

struct WalState {
    wal: Arc<Wal>,
    enc: Encoder,
    buf: Vec<u8>,
    /// Head references the WAL has a series record for (bit per reference).
    logged: Vec<u64>,
}

impl WalState {
    #[inline]
    fn is_logged(&self, r: u64) -> bool {
        self.logged.get((r >> 6) as usize).is_some_and(|w| w & (1 << (r & 63)) != 0)
    }

    fn mark(&mut self, r: u64) {
        let i = (r >> 6) as usize;
        if self.logged.len() <= i {
            self.logged.resize(i + 1, 0);
        }
        self.logged[i] |= 1 << (r & 63);
    }
}

struct DbInner {
    dir: PathBuf,
    opts: DbBuilder,
    head: Head,
    blocks: RwLock<Vec<Block>>,
    /// Deleted ranges of head series (copy-on-write: queriers hold a snapshot).
    head_stones: RwLock<Arc<HeadTombstones>>,
    /// Serializes compactions, deletions and snapshots.
    compacting: Mutex<()>,
    /// Serializes WAL checkpoints.
    checkpointing: Mutex<()>,
    wal: Option<Mutex<WalState>>,
    metrics: DbMetrics,
    report: OpenReport,
    closed: RwLock<bool>,
    _lock: File,
}

/// The durable database. Cloning shares it.
///
/// ```
/// use ember_exposition::labels;
/// use ember_tsdb::db::Db;
/// use ember_tsdb::storage::{AppendOptions, Value};
///
/// let dir = tempfile::tempdir().unwrap();
/// let up = labels! {"__name__" => "up", "job" => "api"};
/// {
///     let db = Db::builder(dir.path()).open().unwrap();
///     let mut app = db.appender();
///     app.append(None, &up, 1_000, Value::Float(1.0), AppendOptions::NONE).unwrap();
///     app.commit().unwrap();
/// }
/// // Reopening replays the WAL.
/// let db = Db::builder(dir.path()).open().unwrap();
/// assert_eq!(db.head().num_series(), 1);
/// assert_eq!(db.open_report().replay.samples, 1);
/// ```
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    crate::sys::lock_file(&dir.join("lock"))
}

fn background_compaction(weak: std::sync::Weak<DbInner>, every: Duration) {
    let tick = Duration::from_millis(50).min(every);
    let mut waited = Duration::ZERO;
    loop {
        std::thread::sleep(tick);
        waited += tick;
        if weak.strong_count() == 0 {
            return;
        }
        if waited < every {
            continue;
        }
        waited = Duration::ZERO;
        // Held only while compacting, so dropping the last handle releases the lock.
        let Some(inner) = weak.upgrade() else { return };
        let db = Db { inner };
        if db.compact().is_err() {
            db.inner.metrics.compaction_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Deleted time ranges of head series, by labels.
type HeadTombstones = HashMap<Labels, Vec<(Timestamp, Timestamp)>>;

/// Blocks that failed to open, with the reason.
type CorruptBlocks = Vec<(PathBuf, String)>;

/// Opens every block directory under `dir`; those that fail are returned with the reason.
/// Leftover temporary and half-deleted directories are removed.
fn open_blocks(dir: &Path) -> Result<(Vec<Block>, CorruptBlocks)> {
    let mut blocks = Vec::new();
    let mut bad = Vec::new();
    for e in fs::read_dir(dir).ctx(dir)? {
        let e = e.ctx(dir)?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = e.path();
        if name.ends_with(".tmp") || name.ends_with(".deleted") {
            fs::remove_dir_all(&path).ctx(&path)?;
            continue;
        }
        if name.len() != 26 || !e.file_type().ctx(&path)?.is_dir() {
            continue;
        }
        match Block::open(&path) {
            Ok(b) => blocks.push(b),
            Err(err) => bad.push((path, err.to_string())),
        }
    }
    // A crash between writing a replacement block and removing its parents leaves both.
    clean::drop_replaced(&mut blocks)?;
    blocks.sort_by(|a, b| a.meta().min_time.cmp(&b.meta().min_time).then_with(|| a.meta().ulid.cmp(&b.meta().ulid)));
    Ok((blocks, bad))
}

/// Samples handed to one replay worker at a time.
const REPLAY_BATCH: usize = 4096;

/// Replays the WAL in `dir` into `head`; returns the references the log defines under
/// the head's own ids.
///
/// Three stages run at once: a thread decodes the log (`wal::replay`), this thread
/// creates series and routes each sample by its series to one of several apply workers
/// (one per core, at most 8), and the workers append. A series' samples all go to one
/// worker, in log order, so each series sees its samples in order; series are created
/// before any sample that names them is routed.
pub(crate) fn replay_into(head: &Head, dir: &Path, stones: &mut HeadTombstones) -> Result<(OpenReport, Vec<u64>)> {
    let start = Instant::now();
    // WAL reference -> head reference (0: unknown).
    let mut map: Vec<u32> = Vec::new();
    let mut logged: Vec<u64> = Vec::new();
    let mut skipped = 0u64;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let replay = std::thread::scope(|sc| {
        let mut senders = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = crossbeam_channel::bounded::<Vec<(u32, i64, u64)>>(32);
            senders.push(tx);
            handles.push(sc.spawn(move || {
                let empty = Labels::default();
                let mut skipped = 0u64;
                for batch in rx {
                    let mut app = head.appender();
                    for (to, t, v) in batch {
                        let v = Value::Float(f64::from_bits(v));
                        if app.append(Some(SeriesRef(to as u64)), &empty, t, v, AppendOptions::NONE).is_err() {
                            skipped += 1;
                        }
                    }
                    let _ = app.commit();
                }
                skipped
            }));
        }
        let mut bufs: Vec<Vec<(u32, i64, u64)>> = (0..workers).map(|_| Vec::with_capacity(REPLAY_BATCH)).collect();
        let replay = wal::replay(dir, |rec| match rec {
            Record::Series(series) => {
                for s in series {
                    let Some(r) = head.replay_series(s.r, &s.labels) else { continue };
                    let (Ok(from), Ok(to)) = (usize::try_from(s.r), u32::try_from(r.0)) else { continue };
                    if from >= map.len() {
                        map.resize(from + 1, 0);
                    }
                    map[from] = to;
                    if r.0 == s.r {
                        let i = (r.0 >> 6) as usize;
                        if logged.len() <= i {
                            logged.resize(i + 1, 0);
                        }
                        logged[i] |= 1 << (r.0 & 63);
                    }
                }
            }
            Record::Samples(samples) => {
                for s in samples {
                    match map.get(s.r as usize) {
                        Some(&to) if to != 0 => {
                            let w = to as usize % workers;
                            bufs[w].push((to, s.t, s.v));
                            if bufs[w].len() == REPLAY_BATCH {
                                let full = std::mem::replace(&mut bufs[w], Vec::with_capacity(REPLAY_BATCH));
                                // A worker only stops by panicking; its samples then count as lost below.
                                let _ = senders[w].send(full);
                            }
                        }
                        _ => skipped += 1,
                    }
                }
            }
            Record::Exemplars(ex) => {
                let store = head.exemplar_store();
                for e in ex {
                    match map.get(e.r as usize) {
                        Some(&to) if to != 0 && store.enabled() => {
                            let ex = Exemplar { labels: e.labels, value: f64::from_bits(e.v), timestamp: Some(e.t) };
                            // Refusals are counted by the store, as at append.
                            let _ = store.add(to, &ex);
                        }
                        _ => {}
                    }
                }
            }
            Record::Tombstones(ts) => {
                for t in ts {
                    let to = map.get(t.r as usize).copied().unwrap_or(0);
                    if let Some(l) = (to != 0).then(|| head.series_labels(SeriesRef(to as u64))).flatten() {
                        stones.entry(l).or_default().push((t.mint, t.maxt));
                    }
                }
            }
            _ => {}
        });
        for (buf, tx) in bufs.into_iter().zip(&senders) {
            if !buf.is_empty() {
                let _ = tx.send(buf);
            }
        }
        drop(senders);
        for h in handles {
            match h.join() {
                Ok(n) => skipped += n,
                Err(_) => return Err(crate::Error::new(crate::ErrorKind::Invalid("WAL replay worker panicked"))),
            }
        }
        replay
    })?;
    let report =
        OpenReport { replay, samples_skipped: skipped, replay_time: start.elapsed(), corrupt_blocks: Vec::new() };
    Ok((report, logged))
}

impl Db {
    /// A builder for the database in `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> DbBuilder {
        DbBuilder {
            dir: dir.into(),
            head: HeadBuilder::default(),
            wal: Some(WalOptions::default()),
            block_range: 2 * 3600 * 1000,
            retention: None,
            retention_bytes: None,
            compact_every: None,
        }
    }

    fn open_with(b: DbBuilder) -> Result<Db> {
        fs::create_dir_all(&b.dir).ctx(&b.dir)?;
        let lock = lock_dir(&b.dir)?;
        let head = b.head.clone().build();
        let metrics = DbMetrics::default();
        let (blocks, corrupt_blocks) = open_blocks(&b.dir)?;
        metrics.corrupt_blocks.fetch_add(corrupt_blocks.len() as u64, Ordering::Relaxed);
        if let Some(max) = blocks.iter().map(|b| b.meta().max_time).max() {
            // The head takes only what the blocks do not cover.
            head.truncate(max);
        }
        let wal_dir = b.dir.join("wal");
        let mut head_stones = HeadTombstones::new();
        let (mut report, wal) = match b.wal {
            Some(opts) => {
                let (report, logged) = replay_into(&head, &wal_dir, &mut head_stones)?;
                let r = &report.replay;
                metrics.wal_records_dropped.fetch_add(r.dropped_records, Ordering::Relaxed);
                metrics.wal_corruptions.fetch_add(r.repair.is_some() as u64, Ordering::Relaxed);
                metrics.wal_torn_tails.fetch_add(r.torn_tail as u64, Ordering::Relaxed);
                let wal = Wal::open(&wal_dir, opts)?;
                let st = WalState { wal: Arc::new(wal), enc: Encoder::new(opts.compress), buf: Vec::new(), logged };
                (report, Some(Mutex::new(st)))
            }
            None => (OpenReport::default(), None),
        };
        report.corrupt_blocks = corrupt_blocks;
        let every = b.compact_every;
        let db = Db {
            inner: Arc::new(DbInner {
                dir: b.dir.clone(),
                opts: b,
                head,
                blocks: RwLock::new(blocks),
                head_stones: RwLock::new(Arc::new(head_stones)),
                compacting: Mutex::new(()),
                checkpointing: Mutex::new(()),
                wal,
                metrics,
                report,
                closed: RwLock::new(false),
                _lock: lock,
            }),
        };
        if let Some(every) = every {
            let weak = Arc::downgrade(&db.inner);
            std::thread::Builder::new()
                .name("ember-compact".into())
                .spawn(move || background_compaction(weak, every))
                .ctx(&db.inner.dir)?;
        }
        Ok(db)
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The in-memory head.
    pub fn head(&self) -> &Head {
        &self.inner.head
    }

    /// What opening found (WAL replay and repairs).
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    /// The durable layer's counters.
    pub fn metrics(&self) -> &DbMetrics {
        &self.inner.metrics
    }

    /// A new appender whose commit writes the WAL, then the head.
    pub fn appender(&self) -> DbAppender {
        DbAppender {
            db: Arc::clone(&self.inner),
            app: Some(self.inner.head.appender()),
            samples: Vec::new(),
            exemplars: Vec::new(),
        }
    }

    /// A querier over `[mint, maxt]` spanning the head and every block that overlaps the
    /// range; series present in several are merged and equal samples deduplicated (the
    /// head wins a conflict, then newer blocks).
    pub fn querier(&self, mint: Timestamp, maxt: Timestamp) -> std::result::Result<Box<dyn Querier>, StorageError> {
        let mut head = Box::new(self.inner.head.querier(mint, maxt)?) as Box<dyn Querier>;
        let stones = Arc::clone(&self.inner.head_stones.read());
        if !stones.is_empty() {
            head = Box::new(DeletedQuerier { inner: head, stones });
        }
        let blocks = self.inner.blocks.read();
        let mut qs = vec![head];
        for b in blocks.iter().rev() {
            if b.meta().min_time <= maxt && b.meta().max_time > mint {
                qs.push(Box::new(b.querier(mint, maxt)));
            }
        }
        if qs.len() == 1 {
            return Ok(qs.pop().unwrap_or_else(|| unreachable!()));
        }
        Ok(Box::new(MergeQuerier::new(qs, Vec::new())))
    }

    /// The open blocks, oldest first.
    pub fn blocks(&self) -> Vec<Block> {
        self.inner.blocks.read().clone()
    }

    /// Runs compaction until there is nothing left to do: cuts blocks from the head while
    /// it spans 1.5 block ranges (then truncates the head and checkpoints the WAL), merges
    /// overlapping blocks and adjacent blocks that fill a window of the next level, and
    /// applies retention. Returns the number of blocks written.
    pub fn compact(&self) -> Result<usize> {
        let _g = self.inner.compacting.lock();
        let mut written = 0;
        let range = self.inner.opts.block_range;
        while let (Some(min), Some(max)) = (self.inner.head.min_time(), self.inner.head.max_time()) {
            if max - min < range + range / 2 {
                break;
            }
            let start = min.div_euclid(range) * range;
            self.cut_block(start, start + range)?;
            written += 1;
        }
        let ranges = compact::ranges(range, self.inner.opts.retention.map(|r| r / 10));
        loop {
            let blocks = self.blocks();
            let closed = self
                .inner
                .head
                .min_time()
                .unwrap_or(i64::MAX)
                .min(blocks.iter().map(|b| b.meta().max_time).max().unwrap_or(i64::MIN));
            let Some(group) = compact::plan(&blocks, &ranges, closed) else { break };
            let parts: Vec<Block> = group.iter().map(|&i| blocks[i].clone()).collect();
            let meta = compact::merge_blocks(&self.inner.dir, &parts)?;
            let nb = Block::open(&self.inner.dir.join(&meta.ulid))?;
            self.replace_blocks(&parts, Some(nb))?;
            self.inner.metrics.compactions.fetch_add(1, Ordering::Relaxed);
            written += 1;
        }
        self.apply_retention()?;
        Ok(written)
    }

    /// Writes the head's data in `[mint, maxt)` as a block, then drops it from the head
    /// and checkpoints the WAL.
    fn cut_block(&self, mint: Timestamp, maxt: Timestamp) -> Result<()> {
        // New appends into the range are refused from here on; taking the WAL lock waits
        // for commits in flight. (A batch appended before this point and committed after
        // it can still land samples in the range after they were read: Prometheus has the
        // same window, made small by only cutting ranges half a block behind the newest
        // sample, as here.)
        self.inner.head.set_min_valid_time(maxt);
        if let Some(w) = &self.inner.wal {
            drop(w.lock());
        }
        let series = self.head_chunks(mint, maxt - 1);
        if !series.is_empty() {
            let nb = NewBlock {
                parent: &self.inner.dir,
                min_time: mint,
                max_time: maxt,
                level: 1,
                sources: vec![],
                parents: vec![],
            };
            let meta = write_block(nb, &series, &[])?;
            let block = Block::open(&self.inner.dir.join(&meta.ulid))?;
            self.replace_blocks(&[], Some(block))?;
            self.inner.metrics.compactions.fetch_add(1, Ordering::Relaxed);
        }
        self.truncate_head(maxt)
    }

    fn replace_blocks(&self, old: &[Block], new: Option<Block>) -> Result<()> {
        {
            let mut blocks = self.inner.blocks.write();
            blocks.retain(|b| !old.iter().any(|o| o.meta().ulid == b.meta().ulid));
            blocks.extend(new);
            blocks.sort_by(|a, b| {
                a.meta().min_time.cmp(&b.meta().min_time).then_with(|| a.meta().ulid.cmp(&b.meta().ulid))
            });
        }
        // Open queriers keep their maps; the files go now.
        for b in old {
            compact::remove_block(b.dir())?;
        }
        Ok(())
    }

    fn apply_retention(&self) -> Result<()> {
        let blocks = self.blocks();
        let mut drop: Vec<Block> = Vec::new();
        if let Some(ret) = self.inner.opts.retention {
            let newest =
                self.inner.head.max_time().into_iter().chain(blocks.iter().map(|b| b.meta().max_time - 1)).max();
            if let Some(newest) = newest {
                drop.extend(blocks.iter().filter(|b| b.meta().max_time <= newest - ret).cloned());
            }
        }
        if let Some(limit) = self.inner.opts.retention_bytes {
            let mut total: u64 = blocks.iter().map(Block::size).sum();
            for b in &blocks {
                if total <= limit {
                    break;
                }
                total -= b.size();
                if !drop.iter().any(|d| d.meta().ulid == b.meta().ulid) {
                    drop.push(b.clone());
                }
            }
        }
        if !drop.is_empty() {
            self.inner.metrics.retention_deletions.fetch_add(drop.len() as u64, Ordering::Relaxed);
            self.replace_blocks(&drop, None)?;
        }
        Ok(())
    }

    /// Writes a snapshot into `dst` (on the same file system): every block hard-linked,
    /// and the head's data written as one more block. The result is a data directory
    /// that [`Db::builder`] opens.
    pub fn snapshot(&self, dst: &Path) -> Result<()> {
        let _g = self.inner.compacting.lock();
        fs::create_dir_all(dst).ctx(dst)?;
        for b in self.blocks() {
            compact::link_dir(b.dir(), &dst.join(&b.meta().ulid))?;
        }
        if let (Some(min), Some(max)) = (self.inner.head.min_time(), self.inner.head.max_time()) {
            let series = self.head_chunks(min, max);
            if !series.is_empty() {
                let nb = NewBlock {
                    parent: dst,
                    min_time: min,
                    max_time: max + 1,
                    level: 1,
                    sources: vec![],
                    parents: vec![],
                };
                write_block(nb, &series, &[])?;
            }
        }
        Ok(())
    }

    /// The head's chunks in `[mint, maxt]` for a block, re-encoded for it (packed chunks,
    /// see [`compact::encode_chunks`]) with head tombstones applied.
    fn head_chunks(&self, mint: Timestamp, maxt: Timestamp) -> Vec<(Labels, Vec<crate::head::ChunkOut>)> {
        let mut series = self.inner.head.chunks_in(mint, maxt);
        let stones = Arc::clone(&self.inner.head_stones.read());
        compact::repack(&mut series, |l| stones.get(l).map(|r| &r[..]));
        series
    }

    /// Deletes the samples of series matching `matchers` in `[mint, maxt]`, through
    /// tombstones: in blocks, a replaced `tombstones` file (applied at query time, removed
    /// from disk when the block is next compacted); in the head, a tombstones record in
    /// the WAL (replayed on open, kept by checkpoints) applied at query time and when the
    /// head's data is cut into a block. Returns the number of series affected (a series
    /// in the head and in a block counts twice).
    pub fn delete(&self, mint: Timestamp, maxt: Timestamp, matchers: &[Matcher]) -> Result<usize> {
        let mut n = self.delete_blocks(mint, maxt, matchers)?;
        let refs = self.inner.head.series_refs(matchers);
        if refs.is_empty() {
            return Ok(n);
        }
        if let Some(w) = &self.inner.wal {
            let mut st = w.lock();
            let stones: Vec<RefTombstone> = refs.iter().map(|r| RefTombstone { r: r.0, mint, maxt }).collect();
            let mut buf = Vec::new();
            st.enc.tombstones(&stones, &mut buf);
            st.wal.write(&buf)?;
        }
        let mut g = self.inner.head_stones.write();
        let mut next = (**g).clone();
        for r in refs {
            if let Some(l) = self.inner.head.series_labels(r) {
                next.entry(l).or_default().push((mint, maxt));
                n += 1;
            }
        }
        *g = Arc::new(next);
        Ok(n)
    }

    fn delete_blocks(&self, mint: Timestamp, maxt: Timestamp, matchers: &[Matcher]) -> Result<usize> {
        let _g = self.inner.compacting.lock();
        let mut n = 0;
        for b in self.blocks() {
            if b.meta().min_time > maxt || b.meta().max_time <= mint {
                continue;
            }
            let hit = b.add_tombstones(matchers, mint, maxt)?;
            if hit > 0 {
                n += hit;
                let reopened = Block::open(b.dir())?;
                let mut blocks = self.inner.blocks.write();
                for x in blocks.iter_mut() {
                    if x.meta().ulid == b.meta().ulid {
                        *x = reopened.clone();
                    }
                }
            }
        }
        Ok(n)
    }

    /// Syncs the WAL.
    pub fn sync(&self) -> Result<()> {
        match &self.inner.wal {
            Some(w) => w.lock().wal.sync(),
            None => Ok(()),
        }
    }

    /// Drops head data older than `mint` and checkpoints the WAL so the segments holding
    /// only dropped data can go.
    pub fn truncate_head(&self, mint: Timestamp) -> Result<()> {
        self.inner.head.truncate(mint);
        {
            let mut g = self.inner.head_stones.write();
            if g.values().flatten().any(|r| r.1 < mint) {
                let mut next = (**g).clone();
                next.retain(|_, ranges| {
                    ranges.retain(|r| r.1 >= mint);
                    !ranges.is_empty()
                });
                *g = Arc::new(next);
            }
        }
        if let Some(w) = &self.inner.wal {
            let _one_at_a_time = self.inner.checkpointing.lock();
            // Cut under the commit lock; rewrite while commits go on into the new segment.
            let (wal, upto) = {
                let st = w.lock();
                (Arc::clone(&st.wal), st.wal.cut()?)
            };
            let head = &self.inner.head;
            wal.checkpoint_upto(upto, mint, |r| head.series_labels(SeriesRef(r)).is_some())?;
            self.inner.metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The exemplars in `[start, end]` of the head series matching any of `matcher_sets`;
    /// see [`Head::query_exemplars`].
    pub fn query_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> Vec<crate::head::SeriesExemplars> {
        self.inner.head.query_exemplars(start, end, matcher_sets)
    }

    /// Series references matching `matchers` in the head.
    pub fn head_series(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        self.inner.head.series_refs(matchers)
    }

    /// Syncs the WAL and marks the database closed (later commits fail with
    /// [`AppendErrorKind::Closed`]). Dropping the last clone also releases the lock.
    pub fn close(&self) -> Result<()> {
        *self.inner.closed.write() = true;
        self.sync()
    }
}

/// A batch of appends to a [`Db`]. Dropping it without committing rolls it back.
pub struct DbAppender {
    db: Arc<DbInner>,
    app: Option<HeadAppender>,
    samples: Vec<RefSample>,
    exemplars: Vec<RefExemplar>,
}

impl DbAppender {
    /// Notes the exemplars of an accepted sample for the WAL, when the head keeps them.
    #[inline]
    fn log_exemplars(&mut self, r: SeriesRef, t: Timestamp, opts: &AppendOptions) {
        if opts.exemplars.is_empty() || self.db.wal.is_none() || !self.db.head.exemplar_store().enabled() {
            return;
        }
        for e in &opts.exemplars {
            if crate::exemplars::validate(e).is_ok() {
                let t = e.timestamp.unwrap_or(t);
                self.exemplars.push(RefExemplar { r: r.0, t, v: e.value.to_bits(), labels: e.labels.clone() });
            }
        }
    }
}

impl DbAppender {
    /// See [`Appender::append`].
    #[inline]
    pub fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> std::result::Result<SeriesRef, AppendError> {
        let app = self.app.as_mut().ok_or(AppendError::new(AppendErrorKind::Closed))?;
        let r = app.append(series, labels, t, v, opts)?;
        if let Some(f) = v.as_float() {
            self.samples.push(RefSample { r: r.0, t, v: f.to_bits() });
        }
        self.log_exemplars(r, t, opts);
        Ok(r)
    }

    /// See [`Appender::append_ref`].
    #[inline]
    pub fn append_ref(
        &mut self,
        series: SeriesRef,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> std::result::Result<Option<SeriesRef>, AppendError> {
        let app = self.app.as_mut().ok_or(AppendError::new(AppendErrorKind::Closed))?;
        let r = app.append_ref(series, t, v, opts)?;
        if let (Some(r), Some(f)) = (r, v.as_float()) {
            self.samples.push(RefSample { r: r.0, t, v: f.to_bits() });
            self.log_exemplars(r, t, opts);
        }
        Ok(r)
    }

    /// Writes the batch to the WAL (synced as the policy says), then commits it to the
    /// head. When the WAL write fails, nothing becomes visible and the error is
    /// [`AppendErrorKind::Io`].
    pub fn commit(mut self) -> std::result::Result<(), AppendError> {
        let Some(app) = self.app.take() else { return Err(AppendError::new(AppendErrorKind::Closed)) };
        let db = Arc::clone(&self.db);
        let closed = db.closed.read();
        if *closed {
            return Err(AppendError::new(AppendErrorKind::Closed));
        }
        let Some(wal) = &db.wal else { return app.commit() };
        if self.samples.is_empty() {
            return app.commit();
        }
        let mut guard = wal.lock();
        let st = &mut *guard;
        st.buf.clear();
        let mut new_series: Vec<(u64, Labels)> = Vec::new();
        for s in &self.samples {
            if !st.is_logged(s.r) {
                if let Some(l) = db.head.series_labels(SeriesRef(s.r)) {
                    new_series.push((s.r, l));
                }
                st.mark(s.r);
            }
        }
        if !new_series.is_empty() {
            st.enc.series(new_series.iter().map(|(r, l)| (*r, l)), &mut st.buf);
        }
        st.enc.samples(&self.samples, &mut st.buf);
        if !self.exemplars.is_empty() {
            st.enc.exemplars(&self.exemplars, &mut st.buf);
        }
        if st.wal.write(&st.buf).is_err() {
            for (r, _) in &new_series {
                let i = (*r >> 6) as usize;
                st.logged[i] &= !(1 << (*r & 63));
            }
            db.metrics.wal_write_failures.fetch_add(1, Ordering::Relaxed);
            drop(guard);
            let _ = app.rollback();
            return Err(AppendError::new(AppendErrorKind::Io));
        }
        let res = app.commit();
        drop(guard);
        res
    }

    /// Discards the batch.
    pub fn rollback(mut self) -> std::result::Result<(), AppendError> {
        self.samples.clear();
        self.exemplars.clear();
        match self.app.take() {
            Some(app) => app.rollback(),
            None => Ok(()),
        }
    }
}

impl Appender for DbAppender {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> std::result::Result<SeriesRef, AppendError> {
        DbAppender::append(self, series, labels, t, v, opts)
    }

    fn append_ref(
        &mut self,
        series: SeriesRef,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> std::result::Result<Option<SeriesRef>, AppendError> {
        DbAppender::append_ref(self, series, t, v, opts)
    }

    fn commit(self: Box<Self>) -> std::result::Result<(), AppendError> {
        DbAppender::commit(*self)
    }

    fn rollback(self: Box<Self>) -> std::result::Result<(), AppendError> {
        DbAppender::rollback(*self)
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(Db::appender(self))
    }
}

impl Queryable for Db {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> std::result::Result<Box<dyn Querier>, StorageError> {
        Db::querier(self, mint, maxt)
    }
}

/// The head's querier with deleted ranges filtered out.
struct DeletedQuerier {
    inner: Box<dyn Querier>,
    stones: Arc<HeadTombstones>,
}

impl Querier for DeletedQuerier {
    fn select(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> SeriesSet {
        let set = match self.inner.select(sorted, hints, matchers).collect_all() {
            Ok(w) => w,
            Err(e) => return SeriesSet::error(e),
        };
        let series = set
            .value
            .into_iter()
            .map(|s| match self.stones.get(s.labels()) {
                Some(r) => Box::new(DeletedSeries { inner: s, ranges: r.clone() }) as Box<dyn Series>,
                None => s,
            })
            .collect();
        SeriesSet::from_vec(series, set.warnings)
    }

    fn label_names(&self, matchers: &[Matcher]) -> std::result::Result<Warned<Vec<String>>, StorageError> {
        self.inner.label_names(matchers)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> std::result::Result<Warned<Vec<String>>, StorageError> {
        self.inner.label_values(name, matchers)
    }
}

struct DeletedSeries {
    inner: Box<dyn Series>,
    ranges: Vec<(Timestamp, Timestamp)>,
}

impl Series for DeletedSeries {
    fn labels(&self) -> &Labels {
        self.inner.labels()
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(DeletedIter { inner: self.inner.iter(), ranges: &self.ranges })
    }
}

struct DeletedIter<'a> {
    inner: Box<dyn SampleIterator + 'a>,
    ranges: &'a [(Timestamp, Timestamp)],
}

impl DeletedIter<'_> {
    fn skip(&mut self, mut p: Option<crate::storage::Point>) -> Option<crate::storage::Point> {
        while let Some(x) = p {
            if !self.ranges.iter().any(|&(a, b)| x.t >= a && x.t <= b) {
                return Some(x);
            }
            p = self.inner.next();
        }
        None
    }
}

impl SampleIterator for DeletedIter<'_> {
    fn next(&mut self) -> Option<crate::storage::Point> {
        let p = self.inner.next();
        self.skip(p)
    }

    fn at(&self) -> Option<crate::storage::Point> {
        self.inner.at()
    }

    fn seek(&mut self, t: Timestamp) -> Option<crate::storage::Point> {
        let p = self.inner.seek(t);
        self.skip(p)
    }

    fn error(&self) -> Option<StorageError> {
        self.inner.error()
    }
}
