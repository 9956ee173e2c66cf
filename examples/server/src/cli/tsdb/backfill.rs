//! `ember tsdb create-blocks-from openmetrics FILE DIR`: turns an OpenMetrics file whose
//! samples carry timestamps into TSDB blocks, one per aligned block window.
//!
//! One pass over the file, which is never held whole in memory: a reader thread cuts it
//! into pieces of about 8 MiB at family boundaries (before a metadata line that follows
//! a sample line), and workers parse pieces in parallel with the streaming OpenMetrics
//! parser. Each worker keeps its series in a hash map keyed by the raw series text
//! (name and label block as written; consecutive lines of one series skip even the
//! hash) and encodes samples straight into XOR chunks, cut at 120 samples and at block
//! window boundaries. At the end the series are sorted by labels once, split by window,
//! and the blocks are written in parallel into a staging directory inside `DIR`, which
//! is renamed into place only when everything succeeded: a failure leaves `DIR` as it
//! was.

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ember_exposition::openmetrics::{Entry, Parser};
use ember_exposition::{Label, Labels, ParseErrorKind};
use ember_tsdb::block::{BlockMeta, XorChunk, write_block};
use ember_tsdb::chunks::XorEncoder;
use hashbrown::HashMap;

/// Bytes per piece handed to a parsing worker.
const PIECE: usize = 8 << 20;
/// Samples per chunk, as Prometheus's head cuts them.
const SAMPLES_PER_CHUNK: u16 = 120;
/// The default block duration: 2 h.
pub const DEFAULT_BLOCK_DURATION_MS: i64 = 2 * 3600 * 1000;

/// Settings of a backfill run.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// The longest block to write, in milliseconds; the block duration used is the
    /// largest of 2 h × 3ⁿ not above it (at least 2 h), like promtool's.
    pub max_block_duration_ms: i64,
    /// Parsing threads (0: one per available core).
    pub threads: usize,
    /// Show a progress bar on stderr (it stays hidden when stderr is not a terminal).
    pub progress: bool,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions { max_block_duration_ms: DEFAULT_BLOCK_DURATION_MS, threads: 0, progress: false }
    }
}

/// A failed backfill: what went wrong, and where in the input when it is the input's fault.
#[derive(Debug)]
pub struct BackfillError {
    /// What went wrong.
    pub kind: BackfillErrorKind,
    /// The file it concerns.
    pub path: PathBuf,
    /// 1-based line in the input (0: not about a line).
    pub line: usize,
    /// 1-based column (0: unknown).
    pub column: usize,
}

/// The kinds of [`BackfillError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum BackfillErrorKind {
    /// The input could not be read.
    Read(std::io::Error),
    /// The input is not valid OpenMetrics.
    Parse(ParseErrorKind),
    /// A sample without a timestamp (backfilled samples need one).
    MissingTimestamp(String),
    /// A sample older than an earlier sample of its series.
    OutOfOrder(String),
    /// A second sample with the same timestamp and a different value.
    DuplicateTimestamp(String),
    /// Metadata for a family that already had samples.
    MetadataAfterSamples(String),
    /// The output directory or a block could not be written.
    Write(ember_tsdb::Error),
    /// `--max-block-duration` below the 2 h minimum.
    BlockDuration(i64),
}

impl fmt::Display for BackfillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        f.write_str(": ")?;
        match &self.kind {
            BackfillErrorKind::Read(e) => write!(f, "read: {e}"),
            BackfillErrorKind::Parse(k) => write!(f, "{k}"),
            BackfillErrorKind::MissingTimestamp(s) => write!(f, "expected timestamp for series {s}, got none"),
            BackfillErrorKind::OutOfOrder(s) => write!(f, "out of order sample for series {s}"),
            BackfillErrorKind::DuplicateTimestamp(s) => {
                write!(f, "duplicate sample for timestamp with a different value for series {s}")
            }
            BackfillErrorKind::MetadataAfterSamples(n) => write!(f, "metadata for family {n:?} after its samples"),
            BackfillErrorKind::Write(e) => write!(f, "write: {e}"),
            BackfillErrorKind::BlockDuration(d) => {
                write!(f, "max block duration {d}ms is below the minimum of {DEFAULT_BLOCK_DURATION_MS}ms")
            }
        }
    }
}

impl std::error::Error for BackfillError {}

/// The block duration for `max`: the largest 2 h × 3ⁿ not above it.
pub fn block_duration(max: i64) -> Option<i64> {
    if max < DEFAULT_BLOCK_DURATION_MS {
        return None;
    }
    let mut d = DEFAULT_BLOCK_DURATION_MS;
    while d.checked_mul(3).is_some_and(|n| n <= max) {
        d *= 3;
    }
    Some(d)
}

/// The series of one block: labels and chunks, sorted by labels.
type BlockSeries = Vec<(Labels, Vec<XorChunk>)>;

/// A slice of the input cut at a family boundary.
struct Piece {
    idx: usize,
    /// Line number of the piece's first line in the input.
    first_line: usize,
    data: Vec<u8>,
}

/// A series being collected.
struct SeriesBuf {
    labels: Labels,
    /// Input line of its first sample (for errors and merge order).
    first_line: usize,
    first_t: i64,
    last_t: i64,
    last_v: u64,
    chunks: Vec<XorChunk>,
    enc: XorEncoder,
    enc_min: i64,
    enc_window: i64,
}

impl SeriesBuf {
    fn new(labels: Labels, first_line: usize) -> Self {
        SeriesBuf {
            labels,
            first_line,
            first_t: 0,
            last_t: i64::MIN,
            last_v: 0,
            chunks: Vec::new(),
            enc: XorEncoder::with_capacity(192),
            enc_min: 0,
            enc_window: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.enc.num_samples() == 0
    }

    /// Appends a sample in time order; the error kind when it is out of order.
    #[inline]
    fn append(&mut self, t: i64, v: f64, block: i64) -> Result<(), fn(String) -> BackfillErrorKind> {
        let vb = v.to_bits();
        if self.is_empty() {
            self.first_t = t;
        } else if t <= self.last_t {
            return match (t == self.last_t, vb == self.last_v) {
                (true, true) => Ok(()),
                (true, false) => Err(BackfillErrorKind::DuplicateTimestamp),
                _ => Err(BackfillErrorKind::OutOfOrder),
            };
        }
        let w = t.div_euclid(block);
        let n = self.enc.num_samples();
        if n > 0 && (w != self.enc_window || n >= SAMPLES_PER_CHUNK) {
            self.close();
        }
        if self.enc.num_samples() == 0 {
            self.enc_min = t;
            self.enc_window = w;
        }
        self.enc.append(t, v);
        self.last_t = t;
        self.last_v = vb;
        Ok(())
    }

    /// Closes the open chunk, if any.
    fn close(&mut self) {
        if self.enc.num_samples() == 0 {
            return;
        }
        let enc = std::mem::replace(&mut self.enc, XorEncoder::with_capacity(192));
        self.chunks.push(XorChunk { min_t: self.enc_min, max_t: self.last_t, data: Arc::from(enc.into_bytes()) });
    }
}

/// What a parsing worker found.
#[derive(Default)]
struct Shard {
    series: Vec<SeriesBuf>,
    /// Per piece: (index, first metadata family, last metadata family, first line).
    pieces: Vec<(usize, Option<String>, Option<String>, usize)>,
    samples: u64,
}

fn labels_of(name: &str, raw: ember_exposition::LabelsRef<'_>) -> Labels {
    let mut v: Vec<Label> = Vec::with_capacity(8);
    v.push(Label { name: "__name__".to_string(), value: name.to_string() });
    for (n, val) in raw.iter() {
        if !val.is_empty() {
            v.push(Label { name: n.into_owned(), value: val.into_owned() });
        }
    }
    Labels::from_vec(v)
}

/// An error at a line of the input (`path` is filled in by the caller).
fn at(kind: BackfillErrorKind, line: usize, column: usize) -> BackfillError {
    BackfillError { kind, path: PathBuf::new(), line, column }
}

impl Shard {
    /// Parses one piece into the shard.
    fn parse(&mut self, keys: &mut HashMap<Box<[u8]>, u32>, piece: &Piece, block: i64) -> Result<(), BackfillError> {
        let line0 = piece.first_line - 1;
        let mut p = Parser::from_bytes(&piece.data).map_err(|e| {
            let col = e.column;
            at(BackfillErrorKind::Parse(e.kind), line0 + e.line, col)
        })?;
        let (mut first_meta, mut last_meta): (Option<String>, Option<String>) = (None, None);
        let mut key = Vec::with_capacity(256);
        let mut prev: Option<(std::borrow::Cow<'_, str>, &str)> = None;
        let mut cur = 0usize;
        let mut samples = 0u64;
        while let Some(e) = p.next() {
            let e = match e {
                Ok(e) => e,
                Err(e) => {
                    let col = e.column;
                    return Err(at(BackfillErrorKind::Parse(e.kind), line0 + e.line, col));
                }
            };
            match e {
                Entry::Sample(s) => {
                    let line = line0 + p.line();
                    let same = prev.as_ref().is_some_and(|(n, r)| *n == s.name && *r == s.labels.raw());
                    if !same {
                        key.clear();
                        key.extend_from_slice(s.name.as_bytes());
                        key.push(0xff);
                        key.extend_from_slice(s.labels.raw().as_bytes());
                        cur = match keys.get(key.as_slice()) {
                            Some(&i) => i as usize,
                            None => {
                                let i = self.series.len();
                                keys.insert(key.as_slice().into(), i as u32);
                                self.series.push(SeriesBuf::new(labels_of(&s.name, s.labels), line));
                                i
                            }
                        };
                        prev = Some((s.name.clone(), s.labels.raw()));
                    }
                    let sb = &mut self.series[cur];
                    let Some(t) = s.timestamp else {
                        return Err(at(BackfillErrorKind::MissingTimestamp(sb.labels.to_series_string()), line, 0));
                    };
                    if let Err(kind) = sb.append(t, s.value, block) {
                        return Err(at(kind(sb.labels.to_series_string()), line, 0));
                    }
                    samples += 1;
                }
                Entry::Help { name, .. } | Entry::Type { name, .. } | Entry::Unit { name, .. } => {
                    if first_meta.is_none() {
                        first_meta = Some(name.to_string());
                    }
                    if last_meta.as_deref() != Some(&name) {
                        last_meta = Some(name.into_owned());
                    }
                }
                Entry::Eof => break,
                _ => {}
            }
        }
        self.samples += samples;
        self.pieces.push((piece.idx, first_meta, last_meta, piece.first_line));
        Ok(())
    }
}

/// The byte offset to cut `buf` at: the start of a metadata line whose previous line is
/// a sample line, as late as possible (never 0).
fn find_cut(buf: &[u8], from: usize) -> Option<usize> {
    let from = from.saturating_sub(3);
    for nl in memchr::memmem::rfind_iter(&buf[from..], b"\n# ").map(|i| i + from) {
        let start = memchr::memrchr(b'\n', &buf[..nl]).map_or(0, |i| i + 1);
        if start < nl && buf[start] != b'#' {
            return Some(nl + 1);
        }
    }
    None
}

/// Reads `file` in pieces and sends them; returns the total bytes read.
fn read_pieces(
    mut file: fs::File,
    tx: &crossbeam_channel::Sender<(Piece, bool)>,
    stop: &AtomicBool,
    progress: &indicatif::ProgressBar,
) -> std::io::Result<()> {
    let mut carry: Vec<u8> = Vec::new();
    let (mut idx, mut line) = (0usize, 1usize);
    loop {
        let mut buf = Vec::with_capacity(PIECE + carry.len() + 64);
        buf.append(&mut carry);
        let mut eof = false;
        // Where the search for a cut starts: nothing before it had one.
        let mut from = 0;
        loop {
            let searched = buf.len();
            let want = if searched < PIECE { PIECE - searched } else { 1 << 20 };
            let n = (&mut file).take(want as u64).read_to_end(&mut buf)?;
            progress.inc(n as u64);
            if n == 0 {
                eof = true;
                break;
            }
            if buf.len() >= PIECE {
                if let Some(cut) = find_cut(&buf, searched.min(from)) {
                    carry.extend_from_slice(&buf[cut..]);
                    buf.truncate(cut);
                    break;
                }
                from = buf.len();
            }
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let lines = memchr::memchr_iter(b'\n', &buf).count();
        if !eof {
            buf.extend_from_slice(b"# EOF\n");
        }
        if tx.send((Piece { idx, first_line: line, data: buf }, eof)).is_err() || eof {
            return Ok(());
        }
        idx += 1;
        line += lines;
    }
}

/// Runs the backfill: parses `input`, writes the blocks into `out` (created if needed).
/// Returns the metas of the blocks written, oldest first.
pub fn create_blocks_from_openmetrics(
    input: &Path,
    out: &Path,
    opts: &BackfillOptions,
) -> Result<Vec<BlockMeta>, BackfillError> {
    let with_path = |mut e: BackfillError, p: &Path| {
        e.path = p.to_path_buf();
        e
    };
    let block = block_duration(opts.max_block_duration_ms)
        .ok_or_else(|| with_path(at(BackfillErrorKind::BlockDuration(opts.max_block_duration_ms), 0, 0), input))?;
    let file = fs::File::open(input).map_err(|e| with_path(at(BackfillErrorKind::Read(e), 0, 0), input))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::with_draw_target(Some(size), indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg:>8} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})",
        ) {
            b.set_style(style);
        }
        b.set_message("parsing");
        b
    } else {
        indicatif::ProgressBar::hidden()
    };

    // Parse.
    let stop = AtomicBool::new(false);
    let (tx, rx) = crossbeam_channel::bounded::<(Piece, bool)>(threads * 2);
    let (read_res, results) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                let stop = &stop;
                s.spawn(move || {
                    let mut shard = Shard::default();
                    let mut keys = HashMap::new();
                    for (piece, _) in rx.iter() {
                        if stop.load(Ordering::Relaxed) {
                            continue;
                        }
                        if let Err(e) = shard.parse(&mut keys, &piece, block) {
                            stop.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    Ok(shard)
                })
            })
            .collect();
        drop(rx);
        let read_res = read_pieces(file, &tx, &stop, &bar);
        drop(tx);
        let results: Vec<_> =
            workers.into_iter().map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect();
        (read_res, results)
    });
    let mut errors: Vec<BackfillError> = Vec::new();
    let mut shards = Vec::new();
    for r in results {
        match r {
            Ok(s) => shards.push(s),
            Err(e) => errors.push(e),
        }
    }
    if let Some(e) = errors.into_iter().min_by_key(|e| e.line) {
        bar.abandon();
        return Err(with_path(e, input));
    }
    read_res.map_err(|e| with_path(at(BackfillErrorKind::Read(e), 0, 0), input))?;

    // Families must not continue across a cut.
    let mut pieces: Vec<_> = shards.iter_mut().flat_map(|s| s.pieces.drain(..)).collect();
    pieces.sort_by_key(|p| p.0);
    for w in pieces.windows(2) {
        if let (Some(last), Some(first)) = (&w[0].2, &w[1].1) {
            if last == first {
                return Err(with_path(at(BackfillErrorKind::MetadataAfterSamples(first.clone()), w[1].3, 1), input));
            }
        }
    }

    // Series sorted by labels; the same series from several places merged in input order.
    let mut all: Vec<SeriesBuf> = shards.into_iter().flat_map(|s| s.series).collect();
    for s in &mut all {
        s.close();
    }
    all.sort_unstable_by(|a, b| a.labels.cmp(&b.labels).then(a.first_line.cmp(&b.first_line)));
    let mut merged: Vec<SeriesBuf> = Vec::with_capacity(all.len());
    for s in all {
        match merged.last_mut() {
            Some(m) if m.labels == s.labels => {
                if s.first_t <= m.last_t {
                    let kind = if s.first_t == m.last_t {
                        BackfillErrorKind::DuplicateTimestamp
                    } else {
                        BackfillErrorKind::OutOfOrder
                    };
                    return Err(with_path(at(kind(s.labels.to_series_string()), s.first_line, 0), input));
                }
                m.chunks.extend(s.chunks);
                m.last_t = s.last_t;
            }
            _ => merged.push(s),
        }
    }

    // Split by block window.
    let mut windows: std::collections::BTreeMap<i64, BlockSeries> = Default::default();
    for s in merged {
        let mut chunks = s.chunks.into_iter().peekable();
        while let Some(c) = chunks.next() {
            let w = c.min_t.div_euclid(block);
            let mut run = vec![c];
            while let Some(c) = chunks.next_if(|c| c.min_t.div_euclid(block) == w) {
                run.push(c);
            }
            windows.entry(w).or_default().push((s.labels.clone(), run));
        }
    }

    // Write into a staging directory, then move the blocks into place.
    fs::create_dir_all(out)
        .map_err(|e| with_path(at(BackfillErrorKind::Write(ember_tsdb::Error::io(out, e)), 0, 0), out))?;
    let staging = out.join(format!("backfill-{}.tmp", ember_tsdb::block::new_block_id()));
    let written = write_blocks(&staging, windows, threads, &bar);
    let result = written.and_then(|metas| {
        for m in &metas {
            let (from, to) = (staging.join(&m.ulid), out.join(&m.ulid));
            fs::rename(&from, &to).map_err(|e| ember_tsdb::Error::io(&to, e))?;
        }
        Ok(metas)
    });
    let _ = fs::remove_dir_all(&staging);
    bar.finish_and_clear();
    result.map_err(|e| with_path(at(BackfillErrorKind::Write(e), 0, 0), out))
}

fn write_blocks(
    staging: &Path,
    windows: std::collections::BTreeMap<i64, BlockSeries>,
    threads: usize,
    bar: &indicatif::ProgressBar,
) -> ember_tsdb::Result<Vec<BlockMeta>> {
    fs::create_dir_all(staging).map_err(|e| ember_tsdb::Error::io(staging, e))?;
    bar.set_message("writing");
    bar.set_length(windows.len() as u64);
    bar.set_position(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg:>8} [{elapsed_precise}] {wide_bar} {pos}/{len} blocks")
    {
        bar.set_style(style);
    }
    let jobs: Vec<parking_lot::Mutex<Option<BlockSeries>>> =
        windows.into_values().map(|v| parking_lot::Mutex::new(Some(v))).collect();
    let next = AtomicUsize::new(0);
    let results: Vec<ember_tsdb::Result<Vec<BlockMeta>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(jobs.len()).max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut metas = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        let Some(series) = job.lock().take() else { continue };
                        let mint = series.iter().filter_map(|(_, c)| c.first()).map(|c| c.min_t).min().unwrap_or(0);
                        let maxt = series.iter().filter_map(|(_, c)| c.last()).map(|c| c.max_t).max().unwrap_or(0);
                        metas.push(write_block(staging, mint, maxt + 1, series)?);
                        bar.inc(1);
                    }
                    Ok(metas)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    let mut metas = Vec::new();
    for r in results {
        metas.extend(r?);
    }
    metas.sort_by_key(|m| m.min_time);
    Ok(metas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_durations() {
        let h = 3600 * 1000;
        assert_eq!(block_duration(2 * h), Some(2 * h));
        assert_eq!(block_duration(5 * h), Some(2 * h));
        assert_eq!(block_duration(6 * h), Some(6 * h));
        assert_eq!(block_duration(24 * h), Some(18 * h));
        assert_eq!(block_duration(h), None);
    }

    #[test]
    fn cuts_before_metadata_after_samples() {
        let s = b"# TYPE a gauge\na 1 1\n# TYPE b gauge\n# HELP b x\nb 1 1\n";
        assert_eq!(find_cut(s, 0), Some(21));
        assert_eq!(find_cut(s, 30), None);
        assert_eq!(find_cut(b"# TYPE a gauge\n# HELP a x\na 1 1\n", 0), None);
    }
}
