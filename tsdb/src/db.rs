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

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ember_exposition::{Labels, Matcher, Timestamp};
use parking_lot::{Mutex, RwLock};

use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::head::{Head, HeadAppender, HeadBuilder};
use crate::storage::{
    AppendError, AppendErrorKind, AppendOptions, Appendable, Appender, Querier, Queryable, SeriesRef,
    StorageError, Value,
};
use crate::wal::{self, Encoder, Record, RefSample, ReplayStats, SyncPolicy, Wal, WalOptions};

/// Configures and opens a [`Db`].
#[derive(Debug, Clone)]
pub struct DbBuilder {
    dir: PathBuf,
    head: HeadBuilder,
    wal: Option<WalOptions>,
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
}

struct WalState {
    wal: Wal,
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
    head: Head,
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
    let path = dir.join("lock");
    let f = File::options().create(true).truncate(false).write(true).open(&path).ctx(&path)?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => {
            Err(Error::new(ErrorKind::Locked).in_file(&path))
        }
        Err(fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// Replays the WAL in `dir` into `head`; returns the references the log defines under
/// the head's own ids.
pub(crate) fn replay_into(head: &Head, dir: &Path) -> Result<(OpenReport, Vec<u64>)> {
    let start = Instant::now();
    // WAL reference -> head reference (0: unknown).
    let mut map: Vec<u32> = Vec::new();
    let mut logged: Vec<u64> = Vec::new();
    let mut skipped = 0u64;
    let empty = Labels::default();
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
            let mut app = head.appender();
            for s in samples {
                match map.get(s.r as usize) {
                    Some(&to) if to != 0 => {
                        let v = Value::Float(f64::from_bits(s.v));
                        if app.append(Some(SeriesRef(to as u64)), &empty, s.t, v, AppendOptions::NONE).is_err() {
                            skipped += 1;
                        }
                    }
                    _ => skipped += 1,
                }
            }
            let _ = app.commit();
        }
        _ => {}
    })?;
    let report = OpenReport { replay, samples_skipped: skipped, replay_time: start.elapsed() };
    Ok((report, logged))
}

impl Db {
    /// A builder for the database in `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> DbBuilder {
        DbBuilder { dir: dir.into(), head: HeadBuilder::default(), wal: Some(WalOptions::default()) }
    }

    fn open_with(b: DbBuilder) -> Result<Db> {
        fs::create_dir_all(&b.dir).ctx(&b.dir)?;
        let lock = lock_dir(&b.dir)?;
        let head = b.head.clone().build();
        let metrics = DbMetrics::default();
        let wal_dir = b.dir.join("wal");
        let (report, wal) = match b.wal {
            Some(opts) => {
                let (report, logged) = replay_into(&head, &wal_dir)?;
                let r = &report.replay;
                metrics.wal_records_dropped.fetch_add(r.dropped_records, Ordering::Relaxed);
                metrics.wal_corruptions.fetch_add(r.repair.is_some() as u64, Ordering::Relaxed);
                metrics.wal_torn_tails.fetch_add(r.torn_tail as u64, Ordering::Relaxed);
                let wal = Wal::open(&wal_dir, opts)?;
                let st = WalState { wal, enc: Encoder::new(opts.compress), buf: Vec::new(), logged };
                (report, Some(Mutex::new(st)))
            }
            None => (OpenReport::default(), None),
        };
        Ok(Db {
            inner: Arc::new(DbInner {
                dir: b.dir,
                head,
                wal,
                metrics,
                report,
                closed: RwLock::new(false),
                _lock: lock,
            }),
        })
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
        DbAppender { db: Arc::clone(&self.inner), app: Some(self.inner.head.appender()), samples: Vec::new() }
    }

    /// A querier over `[mint, maxt]`.
    pub fn querier(&self, mint: Timestamp, maxt: Timestamp) -> std::result::Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(self.inner.head.querier(mint, maxt)?))
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
        if let Some(w) = &self.inner.wal {
            let st = w.lock();
            let head = &self.inner.head;
            st.wal.checkpoint(mint, |r| head.series_labels(SeriesRef(r)).is_some())?;
            self.inner.metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
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

