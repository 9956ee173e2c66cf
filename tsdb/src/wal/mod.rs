//! The write-ahead log: every committed batch is appended here before it becomes
//! visible in the head, so a restart replays it.
//!
//! A WAL directory holds numbered segment files (`00000000`, `00000001`, …; 128 MiB by
//! default) and at most one `checkpoint.NNNNNNNN/` directory. Each segment is a run of
//! framed records ([`record`]): type byte, length, CRC-32C, payload. A commit's records
//! are written with one `write` and never span two segments. Byte diagrams:
//! `tsdb/docs/format/wal.md`.
//!
//! **Durability contract.** With [`SyncPolicy::EveryCommit`], a commit that returned is
//! on stable storage (the segment was `fdatasync`ed before `commit` returned). With
//! [`SyncPolicy::Interval`], a commit is in the OS page cache when it returns and on
//! stable storage within the interval: a process crash loses nothing, a machine crash
//! loses at most the last interval. With [`SyncPolicy::Never`], the OS decides. In every
//! case a batch is all or nothing after a crash: its record either checks out or is cut
//! off at replay.
//!
//! **Repair.** Replay reads the checkpoint, then the segments after it. A record that is
//! cut short at the very end of the log is a torn write and is truncated silently.
//! Anything else that does not check out (bad header, checksum, undecodable payload)
//! truncates the log there: the segment is cut at the record's offset, later segments
//! are deleted, and the records lost that way are counted in [`ReplayStats`].
//!
//! **Checkpoints.** When the head drops old data, [`Wal::checkpoint`] rewrites the
//! segments before the current one into `checkpoint.N`: the series still alive, their
//! samples at or after the new minimum time, and tombstones; then those segments go.

pub mod record;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, ErrorKind, IoContext, Result};
pub use record::{Encoder, Record, RecordType, RefExemplar, RefSample, RefSeries, RefTombstone};
use record::{FrameError, decode, read_frame};

/// When the WAL is `fsync`ed; see the module docs for what each policy guarantees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// Every commit is synced before it returns.
    EveryCommit,
    /// A background thread syncs written data at this interval.
    Interval(Duration),
    /// Never synced explicitly (segments are synced when they are closed).
    Never,
}

/// WAL settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Segment size before a new segment is started (default 128 MiB).
    pub segment_size: u64,
    /// When to sync (default: every second).
    pub sync: SyncPolicy,
    /// Compress record payloads with zstd (needs the `zstd` feature; default off).
    pub compress: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_size: 128 << 20, sync: SyncPolicy::Interval(Duration::from_secs(1)), compress: false }
    }
}

fn segment_name(n: u64) -> String {
    format!("{n:08}")
}

/// Segment numbers in `dir`, sorted.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).ctx(dir)? {
        let e = e.ctx(dir)?;
        if let Some(n) = e.file_name().to_str().filter(|s| s.len() == 8).and_then(|s| s.parse::<u64>().ok()) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The newest complete checkpoint in `dir`: (number, path).
pub fn last_checkpoint(dir: &Path) -> Result<Option<(u64, PathBuf)>> {
    let mut best: Option<(u64, PathBuf)> = None;
    for e in fs::read_dir(dir).ctx(dir)? {
        let e = e.ctx(dir)?;
        let name = e.file_name();
        let Some(n) = name.to_str().and_then(|s| s.strip_prefix("checkpoint.")).and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        if best.as_ref().is_none_or(|b| n > b.0) {
            best = Some((n, e.path()));
        }
    }
    Ok(best)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).ctx(dir)
}

struct Segment {
    n: u64,
    file: File,
    path: PathBuf,
    size: u64,
}

struct State {
    dir: PathBuf,
    opts: WalOptions,
    seg: Segment,
    /// Bytes written since the last sync.
    dirty: bool,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// The WAL writer. Writes are serialized by the caller (the database holds it in a
/// mutex); a background thread syncs under [`SyncPolicy::Interval`].
pub struct Wal {
    shared: Arc<Shared>,
    flusher: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("segment", &self.shared.state.lock().seg.n).finish()
    }
}

fn create_segment(dir: &Path, n: u64) -> Result<Segment> {
    let path = dir.join(segment_name(n));
    let file = OpenOptions::new().create(true).append(true).open(&path).ctx(&path)?;
    let size = file.metadata().ctx(&path)?.len();
    Ok(Segment { n, file, path, size })
}

impl Wal {
    /// Opens the WAL in `dir` for writing, starting a new segment after the existing
    /// ones (replay first: see [`replay`]).
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal> {
        fs::create_dir_all(dir).ctx(dir)?;
        let next = match list_segments(dir)?.last() {
            Some(&n) => n + 1,
            None => last_checkpoint(dir)?.map_or(0, |c| c.0 + 1),
        };
        let seg = create_segment(dir, next)?;
        sync_dir(dir)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State { dir: dir.to_path_buf(), opts, seg, dirty: false, closed: false }),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let flusher = match opts.sync {
            SyncPolicy::Interval(every) => {
                let weak = Arc::downgrade(&shared);
                Some(
                    std::thread::Builder::new()
                        .name("ember-wal-sync".into())
                        .spawn(move || flush_loop(weak, every))
                        .map_err(|e| Error::io(dir, e))?,
                )
            }
            _ => None,
        };
        Ok(Wal { shared, flusher })
    }

    /// Appends framed records (whole records, from an [`Encoder`]) as one write, starting
    /// a new segment first if they would not fit; syncs if the policy says so.
    pub fn write(&self, records: &[u8]) -> Result<()> {
        let mut st = self.shared.state.lock();
        if st.closed {
            return Err(Error::new(ErrorKind::Invalid("WAL is closed")));
        }
        if st.seg.size > 0 && st.seg.size + records.len() as u64 > st.opts.segment_size {
            let n = st.seg.n + 1;
            Self::rotate(&mut st, n)?;
        }
        let seg = &mut st.seg;
        if let Err(e) = seg.file.write_all(records) {
            // Cut off whatever part was written so the log stays a run of whole records.
            let _ = seg.file.set_len(seg.size);
            return Err(Error::io(&seg.path, e).at(seg.size));
        }
        seg.size += records.len() as u64;
        match st.opts.sync {
            SyncPolicy::EveryCommit => st.seg.file.sync_data().ctx(&st.seg.path)?,
            _ => st.dirty = true,
        }
        Ok(())
    }

    fn rotate(st: &mut State, n: u64) -> Result<()> {
        if st.opts.sync != SyncPolicy::Never || st.dirty {
            st.seg.file.sync_data().ctx(&st.seg.path)?;
        }
        st.seg = create_segment(&st.dir, n)?;
        st.dirty = false;
        sync_dir(&st.dir)
    }

    /// Closes the current segment and starts the next; returns the number of the last
    /// closed segment (everything up to it can be checkpointed).
    pub fn cut(&self) -> Result<u64> {
        let mut st = self.shared.state.lock();
        let last = st.seg.n;
        Self::rotate(&mut st, last + 1)?;
        Ok(last)
    }

    /// Syncs what was written.
    pub fn sync(&self) -> Result<()> {
        let mut st = self.shared.state.lock();
        st.seg.file.sync_data().ctx(&st.seg.path)?;
        st.dirty = false;
        Ok(())
    }

    /// The number of the segment being written.
    pub fn current_segment(&self) -> u64 {
        self.shared.state.lock().seg.n
    }

    /// The WAL directory.
    pub fn dir(&self) -> PathBuf {
        self.shared.state.lock().dir.clone()
    }

    /// Syncs and stops the background thread; later writes fail.
    pub fn close(&mut self) -> Result<()> {
        *self.shared.stop.lock() = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.flusher.take() {
            let _ = t.join();
        }
        let mut st = self.shared.state.lock();
        if st.closed {
            return Ok(());
        }
        st.closed = true;
        st.seg.file.sync_data().ctx(&st.seg.path)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn flush_loop(weak: Weak<Shared>, every: Duration) {
    loop {
        let Some(shared) = weak.upgrade() else { return };
        {
            let mut stop = shared.stop.lock();
            if *stop {
                return;
            }
            shared.wake.wait_for(&mut stop, every);
            if *stop {
                return;
            }
        }
        // Sync a clone of the handle outside the lock, so commits go on meanwhile.
        let file = {
            let mut st = shared.state.lock();
            if !st.dirty || st.closed {
                continue;
            }
            st.dirty = false;
            st.seg.file.try_clone()
        };
        if let Ok(f) = file {
            let _ = f.sync_data();
        }
    }
}

/// Where and why a log was cut at replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The segment (or checkpoint) file that was cut.
    pub file: PathBuf,
    /// The offset it was cut at.
    pub offset: u64,
    /// What was found there.
    pub reason: String,
}

/// What a replay read and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records read and applied.
    pub records: u64,
    /// Samples read.
    pub samples: u64,
    /// Series records' entries read.
    pub series: u64,
    /// Exemplars read.
    pub exemplars: u64,
    /// Records of kinds this version does not know (skipped).
    pub unknown_records: u64,
    /// Segments read (the checkpoint's included).
    pub segments: u64,
    /// Whether the last record of the log was cut short (a torn write) and truncated.
    pub torn_tail: bool,
    /// Records dropped because the log was corrupt before them (0 without corruption).
    pub dropped_records: u64,
    /// Where the log was cut because of corruption.
    pub repair: Option<Repair>,
}

/// Outcome of scanning one file's bytes.
enum ScanEnd {
    Clean,
    /// Truncated record at `offset`, and only zeros or nothing after it.
    Torn(usize),
    /// Corruption at `offset`; `dropped` records lost from there to the end of this file.
    Corrupt {
        offset: usize,
        reason: String,
        dropped: u64,
    },
}

/// Counts records that still frame correctly after a corrupt one (for reporting).
fn count_after(b: &[u8], mut pos: usize) -> u64 {
    let mut n = 0;
    while pos < b.len() {
        match read_frame(&b[pos..]) {
            Ok((_, _, len)) => {
                n += 1;
                pos += len;
            }
            Err(_) => break,
        }
    }
    n
}

/// Decodes the records of one file's bytes, passing each to `f` in order.
fn scan(b: &[u8], mut f: impl FnMut(Record)) -> ScanEnd {
    let mut pos = 0;
    while pos < b.len() {
        let reason = match read_frame(&b[pos..]) {
            Ok((ty, payload, len)) => match decode(ty, payload) {
                Ok(rec) => {
                    f(rec);
                    pos += len;
                    continue;
                }
                Err(e) => {
                    let skip = count_after(b, pos + len);
                    return ScanEnd::Corrupt {
                        offset: pos,
                        reason: format!("undecodable record: {} at payload offset {}", e.what, e.offset),
                        dropped: 1 + skip,
                    };
                }
            },
            Err(FrameError::Truncated) => {
                if b[pos..].iter().all(|&x| x == 0) || is_torn(&b[pos..]) {
                    return ScanEnd::Torn(pos);
                }
                "record runs past the end of the segment".to_string()
            }
            Err(FrameError::BadHeader) if b[pos..].iter().all(|&x| x == 0) => return ScanEnd::Torn(pos),
            Err(FrameError::BadHeader) => "invalid record header".to_string(),
            Err(FrameError::Checksum { stored, computed }) => {
                format!("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
        };
        // Resynchronise on the declared length if it is plausible, to count what is lost.
        let declared =
            b.get(pos + 1..pos + 5).map_or(usize::MAX, |h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize);
        let after = pos.saturating_add(record::HEADER_LEN).saturating_add(declared);
        let skip = if after <= b.len() { count_after(b, after) } else { 0 };
        return ScanEnd::Corrupt { offset: pos, reason, dropped: 1 + skip };
    }
    ScanEnd::Clean
}

/// A truncated record whose header is sane: a write cut short.
fn is_torn(b: &[u8]) -> bool {
    b.len() < record::HEADER_LEN
        || (b[0] & !record::COMPRESSED != 0
            && (u32::from_le_bytes([b[1], b[2], b[3], b[4]]) as usize) <= record::MAX_PAYLOAD)
}

/// Reads the log in `dir` — the newest checkpoint, then the segments after it — and
/// passes every record to `apply`, in order. Decoding runs on a second thread while
/// `apply` runs on this one. A torn tail is truncated; corruption truncates the log
/// there (deleting later segments) and is reported in the stats, never as an error.
/// Errors are I/O failures only.
pub fn replay(dir: &Path, mut apply: impl FnMut(Record)) -> Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    if !dir.exists() {
        return Ok(stats);
    }
    let mut files: Vec<PathBuf> = Vec::new();
    let first_seg = match last_checkpoint(dir)? {
        Some((n, cp)) => {
            for s in list_segments(&cp)? {
                files.push(cp.join(segment_name(s)));
            }
            n + 1
        }
        None => 0,
    };
    let segs: Vec<u64> = list_segments(dir)?.into_iter().filter(|&s| s >= first_seg).collect();
    files.extend(segs.iter().map(|&s| dir.join(segment_name(s))));
    // Segments must be consecutive: a gap means lost data; replay up to it.
    let mut gap_at = None;
    for w in segs.windows(2) {
        if w[1] != w[0] + 1 {
            gap_at = Some(w[1]);
            break;
        }
    }

    let (tx, rx) = crossbeam_channel::bounded::<Vec<Record>>(16);
    let files_ref = &files;
    let (end, io_err) = std::thread::scope(|sc| {
        let decoder = sc.spawn(move || -> Result<Option<(usize, ScanEnd)>> {
            for (i, path) in files_ref.iter().enumerate() {
                if gap_at.is_some_and(|g| path.file_name().and_then(|n| n.to_str()) == Some(&segment_name(g))) {
                    return Ok(Some((
                        i,
                        ScanEnd::Corrupt { offset: 0, reason: "missing segment before this one".into(), dropped: 0 },
                    )));
                }
                let bytes = fs::read(path).ctx(path)?;
                let mut batch = Vec::with_capacity(64);
                let end = scan(&bytes, |r| {
                    batch.push(r);
                    if batch.len() == 64 {
                        let _ = tx.send(std::mem::replace(&mut batch, Vec::with_capacity(64)));
                    }
                });
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
                match end {
                    ScanEnd::Clean => {}
                    ScanEnd::Torn(_) if i + 1 == files_ref.len() => return Ok(Some((i, end))),
                    ScanEnd::Torn(off) => {
                        let reason = "record cut short before the last segment".to_string();
                        return Ok(Some((i, ScanEnd::Corrupt { offset: off, reason, dropped: 1 })));
                    }
                    ScanEnd::Corrupt { .. } => return Ok(Some((i, end))),
                }
            }
            Ok(None)
        });
        for batch in rx.iter() {
            for rec in batch {
                stats.records += 1;
                match &rec {
                    Record::Samples(s) => stats.samples += s.len() as u64,
                    Record::Series(s) => stats.series += s.len() as u64,
                    Record::Exemplars(e) => stats.exemplars += e.len() as u64,
                    Record::Unknown(_) => stats.unknown_records += 1,
                    _ => {}
                }
                apply(rec);
            }
        }
        match decoder.join() {
            Ok(Ok(end)) => (end, None),
            Ok(Err(e)) => (None, Some(e)),
            Err(_) => (None, Some(Error::new(ErrorKind::Invalid("WAL decoder thread panicked")))),
        }
    });
    if let Some(e) = io_err {
        return Err(e);
    }
    stats.segments = files.len() as u64;
    let Some((i, end)) = end else { return Ok(stats) };
    stats.segments = i as u64 + 1;
    let path = &files[i];
    match end {
        ScanEnd::Clean => {}
        ScanEnd::Torn(off) => {
            stats.torn_tail = true;
            truncate_file(path, off as u64)?;
        }
        ScanEnd::Corrupt { offset, reason, dropped } => {
            stats.dropped_records = dropped;
            // Count and remove what follows.
            for later in &files[i + 1..] {
                if let Ok(b) = fs::read(later) {
                    stats.dropped_records += count_after(&b, 0);
                }
            }
            let in_checkpoint = path.parent() != Some(dir);
            truncate_file(path, offset as u64)?;
            for later in &files[i + 1..] {
                if later.parent() == Some(dir) {
                    fs::remove_file(later).ctx(later)?;
                }
            }
            if in_checkpoint {
                // Segments after a damaged checkpoint no longer follow from it.
                for s in list_segments(dir)? {
                    let p = dir.join(segment_name(s));
                    if let Ok(b) = fs::read(&p) {
                        stats.dropped_records += count_after(&b, 0);
                    }
                    fs::remove_file(&p).ctx(&p)?;
                }
            }
            sync_dir(dir)?;
            stats.repair = Some(Repair { file: path.clone(), offset: offset as u64, reason });
        }
    }
    Ok(stats)
}

fn truncate_file(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new().write(true).open(path).ctx(path)?;
    f.set_len(len).ctx(path)?;
    f.sync_all().ctx(path)
}

/// What [`Wal::checkpoint`] kept and removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Series kept.
    pub series: u64,
    /// Samples kept.
    pub samples: u64,
    /// Segments deleted.
    pub segments_removed: u64,
}

impl Wal {
    /// Cuts the current segment, then rewrites the previous checkpoint and every closed
    /// segment into a new checkpoint, keeping series for which `keep` says yes, their
    /// samples at or after `mint`, and their tombstones; then deletes those segments and
    /// the old checkpoint. A crash at any point leaves a log that replays to the same
    /// head: the new checkpoint becomes visible by an atomic rename, and old files are
    /// deleted only after it.
    pub fn checkpoint(&self, mint: i64, keep: impl Fn(u64) -> bool) -> Result<CheckpointStats> {
        let upto = self.cut()?;
        self.checkpoint_upto(upto, mint, keep)
    }

    /// [`Wal::checkpoint`] of the segments up to `upto`, which must be closed (see
    /// [`Wal::cut`]); writes continue meanwhile.
    pub fn checkpoint_upto(&self, upto: u64, mint: i64, keep: impl Fn(u64) -> bool) -> Result<CheckpointStats> {
        if upto >= self.current_segment() {
            return Err(Error::new(ErrorKind::Invalid("checkpoint of the segment being written")));
        }
        let dir = self.dir();
        let opts = self.shared.state.lock().opts;
        let mut stats = CheckpointStats::default();
        let prev = last_checkpoint(&dir)?;
        let mut files = Vec::new();
        if let Some((_, cp)) = &prev {
            files.extend(list_segments(cp)?.into_iter().map(|s| cp.join(segment_name(s))));
        }
        let from = prev.as_ref().map_or(0, |p| p.0 + 1);
        let segs: Vec<u64> = list_segments(&dir)?.into_iter().filter(|&s| s >= from && s <= upto).collect();
        files.extend(segs.iter().map(|&s| dir.join(segment_name(s))));

        let tmp = dir.join(format!("checkpoint.{upto:08}.tmp"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).ctx(&tmp)?;
        let out_path = tmp.join(segment_name(0));
        let mut out = File::create(&out_path).ctx(&out_path)?;
        let mut enc = Encoder::new(opts.compress);
        let mut buf = Vec::with_capacity(1 << 20);
        for path in &files {
            let bytes = fs::read(path).ctx(path)?;
            let mut series = Vec::new();
            let mut samples = Vec::new();
            let mut stones = Vec::new();
            let mut exemplars = Vec::new();
            // A corrupt tail was cut at replay; anything found now stops this file.
            let _ = scan(&bytes, |rec| match rec {
                Record::Series(s) => {
                    series.clear();
                    series.extend(s.into_iter().filter(|s| keep(s.r)));
                    stats.series += series.len() as u64;
                    enc.series(series.iter().map(|s| (s.r, &s.labels)), &mut buf);
                }
                Record::Samples(s) => {
                    samples.clear();
                    samples.extend(s.into_iter().filter(|s| s.t >= mint && keep(s.r)));
                    if !samples.is_empty() {
                        stats.samples += samples.len() as u64;
                        enc.samples(&samples, &mut buf);
                    }
                }
                Record::Exemplars(e) => {
                    exemplars.clear();
                    exemplars.extend(e.into_iter().filter(|e| e.t >= mint && keep(e.r)));
                    if !exemplars.is_empty() {
                        enc.exemplars(&exemplars, &mut buf);
                    }
                }
                Record::Tombstones(t) => {
                    stones.clear();
                    stones.extend(t.into_iter().filter(|t| t.maxt >= mint && keep(t.r)));
                    if !stones.is_empty() {
                        enc.tombstones(&stones, &mut buf);
                    }
                }
                _ => {}
            });
            if buf.len() >= 1 << 20 {
                out.write_all(&buf).ctx(&out_path)?;
                buf.clear();
            }
        }
        out.write_all(&buf).ctx(&out_path)?;
        out.sync_all().ctx(&out_path)?;
        drop(out);
        sync_dir(&tmp)?;
        let final_dir = dir.join(format!("checkpoint.{upto:08}"));
        fs::rename(&tmp, &final_dir).ctx(&final_dir)?;
        sync_dir(&dir)?;
        for s in segs {
            let p = dir.join(segment_name(s));
            fs::remove_file(&p).ctx(&p)?;
            stats.segments_removed += 1;
        }
        if let Some((_, cp)) = prev {
            fs::remove_dir_all(&cp).ctx(&cp)?;
        }
        sync_dir(&dir)?;
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(r: u64, n: usize) -> Vec<RefSample> {
        (0..n).map(|i| RefSample { r, t: i as i64 * 1000, v: (i as f64).to_bits() }).collect()
    }

    fn write_log(dir: &Path, batches: usize, opts: WalOptions) {
        let wal = Wal::open(dir, opts).unwrap();
        let mut enc = Encoder::new(opts.compress);
        let mut buf = Vec::new();
        let l = ember_exposition::labels! {"a" => "b"};
        enc.series([(1, &l)], &mut buf);
        wal.write(&buf).unwrap();
        for _ in 0..batches {
            buf.clear();
            enc.samples(&samples(1, 10), &mut buf);
            wal.write(&buf).unwrap();
        }
    }

    fn read_all(dir: &Path) -> (Vec<Record>, ReplayStats) {
        let mut recs = Vec::new();
        let stats = replay(dir, |r| recs.push(r)).unwrap();
        (recs, stats)
    }

    #[test]
    fn segments_rotate_and_replay_in_order() {
        let d = tempfile::tempdir().unwrap();
        let opts = WalOptions { segment_size: 1000, sync: SyncPolicy::Never, compress: false };
        write_log(d.path(), 50, opts);
        assert!(list_segments(d.path()).unwrap().len() > 5);
        let (recs, stats) = read_all(d.path());
        assert_eq!(recs.len(), 51);
        assert_eq!(stats.samples, 500);
        assert_eq!(stats.dropped_records, 0);
        assert!(!stats.torn_tail);
    }

    #[test]
    fn torn_tail_is_truncated_silently() {
        let d = tempfile::tempdir().unwrap();
        write_log(d.path(), 5, WalOptions::default());
        let seg = d.path().join(segment_name(0));
        let len = fs::metadata(&seg).unwrap().len();
        truncate_file(&seg, len - 7).unwrap();
        let (recs, stats) = read_all(d.path());
        assert_eq!(recs.len(), 5);
        assert!(stats.torn_tail);
        assert_eq!(stats.dropped_records, 0);
        assert!(fs::metadata(&seg).unwrap().len() < len - 7, "the torn record is cut off");
        // Replaying again finds a clean log.
        let (recs, stats) = read_all(d.path());
        assert_eq!((recs.len(), stats.torn_tail), (5, false));
    }

    #[test]
    fn corruption_in_the_middle_truncates_and_counts() {
        let d = tempfile::tempdir().unwrap();
        let opts = WalOptions { segment_size: 600, sync: SyncPolicy::Never, compress: false };
        write_log(d.path(), 30, opts);
        let segs = list_segments(d.path()).unwrap();
        assert!(segs.len() >= 4);
        let (all, _) = read_all(d.path());
        // Flip a byte in the second record of the second segment.
        let p = d.path().join(segment_name(segs[1]));
        let mut b = fs::read(&p).unwrap();
        let (_, _, first) = read_frame(&b).unwrap();
        b[first + 20] ^= 0x40;
        fs::write(&p, &b).unwrap();
        let (recs, stats) = read_all(d.path());
        let repair = stats.repair.clone().unwrap();
        assert_eq!(repair.offset, first as u64);
        assert_eq!(repair.file, p);
        assert_eq!(recs.len() as u64 + stats.dropped_records, all.len() as u64, "{stats:?}");
        assert_eq!(recs[..], all[..recs.len()]);
        assert_eq!(list_segments(d.path()).unwrap(), segs[..2]);
        // The repaired log is clean and writable again.
        let (again, stats) = read_all(d.path());
        assert_eq!((again.len(), stats.dropped_records), (recs.len(), 0));
        Wal::open(d.path(), opts).unwrap().write(&[]).unwrap();
    }

    #[test]
    fn every_byte_flip_and_cut_is_survivable() {
        let d = tempfile::tempdir().unwrap();
        write_log(d.path(), 3, WalOptions { sync: SyncPolicy::Never, ..WalOptions::default() });
        let seg = d.path().join(segment_name(0));
        let orig = fs::read(&seg).unwrap();
        let (all, _) = read_all(d.path());
        for i in 0..orig.len() {
            for mode in 0..2 {
                let mut b = orig.clone();
                if mode == 0 {
                    b[i] ^= 0xff;
                } else {
                    b.truncate(i);
                }
                fs::write(&seg, &b).unwrap();
                let (recs, _) = read_all(d.path());
                assert!(recs.len() <= all.len());
                assert_eq!(recs[..], all[..recs.len()], "byte {i} mode {mode}");
            }
        }
    }

    #[test]
    fn checkpoint_keeps_live_series_and_new_samples() {
        let d = tempfile::tempdir().unwrap();
        let opts = WalOptions { segment_size: 700, sync: SyncPolicy::Never, compress: false };
        let wal = Wal::open(d.path(), opts).unwrap();
        let mut enc = Encoder::new(false);
        let mut buf = Vec::new();
        let (a, b) = (ember_exposition::labels! {"s" => "a"}, ember_exposition::labels! {"s" => "b"});
        enc.series([(1, &a), (2, &b)], &mut buf);
        for i in 0..20 {
            enc.samples(&[RefSample { r: 1 + i % 2, t: i as i64, v: 0 }], &mut buf);
        }
        wal.write(&buf).unwrap();
        let st = wal.checkpoint(10, |r| r == 1).unwrap();
        assert_eq!((st.series, st.samples), (1, 5));
        let mut extra = Vec::new();
        enc.samples(&[RefSample { r: 1, t: 100, v: 0 }], &mut extra);
        wal.write(&extra).unwrap();
        let (recs, stats) = read_all(d.path());
        assert_eq!(stats.dropped_records, 0);
        let n: usize = recs.iter().map(|r| if let Record::Samples(s) = r { s.len() } else { 0 }).sum();
        assert_eq!(n, 6);
        assert!(matches!(&recs[0], Record::Series(s) if s.len() == 1 && s[0].labels == a));
    }
}
