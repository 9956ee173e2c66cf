//! Persistent blocks: one immutable directory per time range.
//!
//! ```text
//! <id>/meta.json        id, [minTime, maxTime), stats, compaction level, sources
//! <id>/chunks/000001 …  chunk segments (≤ 512 MiB each)
//! <id>/index            symbols, series, postings (roaring), postings table, TOC
//! <id>/tombstones       deleted (series, time range) pairs
//! ```
//!
//! Byte diagrams: `tsdb/docs/format/block.md`. Files are read through read-only memory
//! maps (`sys::Mmap`) without copying: chunk data is decoded straight from the mapped
//! bytes. Every read of on-disk bytes is bounds-checked and every section and chunk is
//! checksummed (CRC-32C); a malformed file gives an [`Error`] naming the file and offset,
//! never a panic.

pub(crate) mod writer;

use std::collections::HashMap;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ember_exposition::{Label, Labels, Matcher, Timestamp};
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

use crate::chunks::{ChunkIterator, Encoding};
use crate::enc::{Decbuf, DecodeError};
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::storage::{
    Point, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, StorageErrorKind, Warned,
};
use crate::sys::Mmap;

/// The decoder of a chunk: the one place the durable layer maps an [`Encoding`] to its
/// iterator (a new encoding in [`crate::chunks`] is added here).
pub(crate) type ChunkIter<'a> = ChunkIterator<'a>;

/// A decoder over `data`, a chunk of encoding `enc`.
pub(crate) fn chunk_iter(enc: Encoding, data: &[u8]) -> ChunkIter<'_> {
    ChunkIterator::with_limit(enc, data, u16::MAX)
}

pub(crate) const INDEX_MAGIC: [u8; 4] = *b"EMBI";
pub(crate) const CHUNKS_MAGIC: [u8; 4] = *b"EMBC";
pub(crate) const TOMBSTONES_MAGIC: [u8; 4] = *b"EMBT";
pub(crate) const VERSION: u8 = 1;
pub(crate) const CHUNK_SEGMENT_MAX: u64 = 512 << 20;

/// Block statistics, as in `meta.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// Samples in the block's chunks.
    pub num_samples: u64,
    /// Series.
    pub num_series: u64,
    /// Chunks.
    pub num_chunks: u64,
    /// Tombstones.
    pub num_tombstones: u64,
}

/// How a block came to be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// 1 for a block cut from the head, one more than its highest parent for a merge.
    pub level: u32,
    /// The level-1 blocks whose data this block holds.
    pub sources: Vec<String>,
    /// The blocks merged into this one.
    #[serde(default)]
    pub parents: Vec<String>,
}

/// A block's `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// The block id (26 characters, Crockford base32, time-ordered like a ULID).
    pub ulid: String,
    /// Oldest sample time (inclusive).
    pub min_time: Timestamp,
    /// End of the block's range (exclusive).
    pub max_time: Timestamp,
    /// Counts.
    pub stats: BlockStats,
    /// Level and ancestry.
    pub compaction: Compaction,
    /// Format version.
    pub version: u32,
}

/// A chunk handed to [`write_block`]: an XOR chunk's bytes (as built by
/// [`crate::chunks::XorEncoder`]) and the time range of its samples.
#[derive(Debug, Clone)]
pub struct XorChunk {
    /// Oldest sample time.
    pub min_t: Timestamp,
    /// Newest sample time.
    pub max_t: Timestamp,
    /// The encoded chunk, sample-count header included.
    pub data: Arc<[u8]>,
}

/// Writes a level-1 block of `series` covering `[min_time, max_time)` into a new
/// directory under `parent`, for tools that build blocks without a head (backfill).
/// `series` must be sorted by labels without duplicates, each series' chunks in time
/// order. The block is written under `<id>.tmp`, synced, then renamed; returns its meta.
pub fn write_block(
    parent: &Path,
    min_time: Timestamp,
    max_time: Timestamp,
    series: Vec<(Labels, Vec<XorChunk>)>,
) -> Result<BlockMeta> {
    let series: Vec<writer::SeriesOut> = series
        .into_iter()
        .map(|(l, cs)| {
            let cs = cs
                .into_iter()
                .map(|c| crate::head::ChunkOut {
                    min_t: c.min_t,
                    max_t: c.max_t,
                    encoding: Encoding::Xor,
                    data: c.data,
                })
                .collect();
            (l, cs)
        })
        .collect();
    let nb = writer::NewBlock { parent, min_time, max_time, level: 1, sources: vec![], parents: vec![] };
    writer::write_block(nb, &series, &[])
}

/// One series of a block's index: labels and the span of its chunks (no chunk data is read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSeries {
    /// The series' labels.
    pub labels: Labels,
    /// The first chunk's oldest sample time (`i64::MAX` without chunks).
    pub min_time: Timestamp,
    /// The last chunk's newest sample time (`i64::MIN` without chunks).
    pub max_time: Timestamp,
    /// Number of chunks.
    pub num_chunks: usize,
}

/// A new time-ordered id: 48 bits of milliseconds, then 80 bits of randomness, in
/// Crockford base32 (a ULID's layout).
pub fn new_block_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut h = std::hash::BuildHasher::hash_one(
        &std::collections::hash_map::RandomState::new(),
        (now, COUNTER.fetch_add(1, Ordering::Relaxed), std::process::id()),
    );
    let mut rand: u128 = 0;
    for _ in 0..2 {
        rand = (rand << 64) | h as u128;
        h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ now;
    }
    let v: u128 = ((now as u128 & ((1 << 48) - 1)) << 80) | (rand & ((1u128 << 80) - 1));
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    (0..26).rev().map(|i| ALPHABET[((v >> (i * 5)) & 31) as usize] as char).collect()
}

struct PostingEntry {
    name: u32,
    value: u32,
    range: Range<usize>,
}

struct Index {
    path: PathBuf,
    map: Mmap,
    /// Byte ranges of the symbols.
    symbols: Vec<Range<usize>>,
    series: Range<usize>,
    offsets: Range<usize>,
    num_series: u32,
    table: Vec<PostingEntry>,
}

/// A chunk's place in the block.
#[derive(Debug, Clone, Copy)]
struct ChunkMeta {
    min_t: Timestamp,
    max_t: Timestamp,
    r: u64,
}

struct BlockInner {
    dir: PathBuf,
    meta: BlockMeta,
    index: Index,
    chunks: Vec<Mmap>,
    /// Series ordinal → deleted ranges.
    tombstones: HashMap<u32, Vec<(Timestamp, Timestamp)>>,
}

/// An open block. Cloning shares it; the maps stay alive while any querier uses them.
#[derive(Clone)]
pub struct Block {
    inner: Arc<BlockInner>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block").field("dir", &self.inner.dir).field("meta", &self.inner.meta).finish()
    }
}

fn derr(path: &Path, base: usize, e: DecodeError) -> Error {
    Error::corrupt(path, (base + e.offset) as u64, e.what)
}

/// Reads a section (length, body, CRC) at `off`; returns the body's range.
fn read_section(path: &Path, b: &[u8], off: u64) -> Result<Range<usize>> {
    let off = usize::try_from(off).map_err(|_| Error::corrupt(path, off, "section offset"))?;
    let mut d =
        Decbuf::new(b.get(off..).ok_or_else(|| Error::corrupt(path, off as u64, "section offset past the end"))?);
    let len = d.u64().map_err(|e| derr(path, off, e))? as usize;
    let body = d.bytes(len).map_err(|e| derr(path, off, e))?;
    let stored = d.u32().map_err(|e| derr(path, off, e))?;
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(Error::new(ErrorKind::Checksum { stored, computed }).in_file(path).at(off as u64));
    }
    Ok(off + 8..off + 8 + len)
}

fn check_header(path: &Path, b: &[u8], magic: [u8; 4]) -> Result<()> {
    match b.get(..8) {
        Some(h) if h[..4] == magic && h[4] == VERSION => Ok(()),
        Some(h) if h[..4] == magic => Err(Error::new(ErrorKind::Format("unknown version")).in_file(path).at(4)),
        _ => Err(Error::new(ErrorKind::Format("bad magic number")).in_file(path).at(0)),
    }
}

impl Index {
    fn open(path: &Path) -> Result<Index> {
        let map = Mmap::open(path)?;
        let b: &[u8] = &map;
        check_header(path, b, INDEX_MAGIC)?;
        let toc_len = 5 * 8 + 4;
        let toc_at = b
            .len()
            .checked_sub(toc_len)
            .filter(|&t| t >= 8)
            .ok_or_else(|| Error::corrupt(path, 0, "index too short"))?;
        let mut d = Decbuf::new(&b[toc_at..]);
        let mut offs = [0u64; 5];
        for o in &mut offs {
            *o = d.u64().map_err(|e| derr(path, toc_at, e))?;
        }
        let stored = d.u32().map_err(|e| derr(path, toc_at, e))?;
        let computed = crc32c::crc32c(&b[toc_at..toc_at + 40]);
        if stored != computed {
            return Err(Error::new(ErrorKind::Checksum { stored, computed }).in_file(path).at(toc_at as u64));
        }
        let [sym_r, series, offsets, postings, table_r] = offs.map(|o| read_section(path, b, o));
        let (sym_r, series, offsets, postings, table_r) = (sym_r?, series?, offsets?, postings?, table_r?);

        let mut d = Decbuf::new(&b[sym_r.clone()]);
        let n = d.count(1).map_err(|e| derr(path, sym_r.start, e))?;
        let mut symbols = Vec::with_capacity(n);
        for _ in 0..n {
            let s = d.str().map_err(|e| derr(path, sym_r.start, e))?;
            let end = sym_r.start + d.pos();
            symbols.push(end - s.len()..end);
        }
        if offsets.len() % 4 != 0 {
            return Err(Error::corrupt(path, offsets.start as u64, "series offset table length"));
        }
        let num_series = u32::try_from(offsets.len() / 4)
            .map_err(|_| Error::corrupt(path, offsets.start as u64, "too many series"))?;

        let mut d = Decbuf::new(&b[table_r.clone()]);
        let n = d.count(4).map_err(|e| derr(path, table_r.start, e))?;
        let mut table = Vec::with_capacity(n);
        for _ in 0..n {
            let at = table_r.start + d.pos();
            let mut get = || d.uvarint().map_err(|e| derr(path, table_r.start, e));
            let (name, value, off, len) = (get()?, get()?, get()?, get()?);
            if name >= symbols.len() as u64 || value >= symbols.len() as u64 {
                return Err(Error::corrupt(path, at as u64, "symbol reference out of range"));
            }
            let start = postings.start as u64 + off;
            if off.checked_add(len).is_none_or(|e| e > postings.len() as u64) {
                return Err(Error::corrupt(path, at as u64, "postings range out of bounds"));
            }
            table.push(PostingEntry {
                name: name as u32,
                value: value as u32,
                range: start as usize..(start + len) as usize,
            });
        }
        Ok(Index { path: path.to_path_buf(), map, symbols, series, offsets, num_series, table })
    }

    fn sym(&self, i: u64) -> std::result::Result<&str, DecodeError> {
        let r = self.symbols.get(i as usize).ok_or(DecodeError { offset: 0, what: "symbol reference out of range" })?;
        // Validated as UTF-8 when the table was read.
        std::str::from_utf8(&self.map[r.clone()]).map_err(|_| DecodeError { offset: r.start, what: "symbol not UTF-8" })
    }

    /// The entries for label `name`, sorted by value.
    fn entries(&self, name: &str) -> &[PostingEntry] {
        let key = |e: &PostingEntry| self.sym(e.name as u64).unwrap_or("");
        let lo = self.table.partition_point(|e| key(e) < name);
        let hi = lo + self.table[lo..].partition_point(|e| key(e) == name);
        &self.table[lo..hi]
    }

    fn bitmap(&self, e: &PostingEntry) -> Result<RoaringBitmap> {
        RoaringBitmap::deserialize_from(&self.map[e.range.clone()])
            .map_err(|_| Error::corrupt(&self.path, e.range.start as u64, "postings bitmap does not decode"))
    }

    fn all(&self) -> RoaringBitmap {
        let mut b = RoaringBitmap::new();
        b.insert_range(0..self.num_series);
        b
    }

    /// Series ordinals matching every matcher (no matchers: none), by bitmap algebra on
    /// the postings; a matcher that matches `""` also selects series without the label.
    fn postings_for(&self, matchers: &[Matcher]) -> Result<RoaringBitmap> {
        if matchers.is_empty() {
            return Ok(RoaringBitmap::new());
        }
        let mut acc: Option<RoaringBitmap> = None;
        for m in matchers {
            let entries = self.entries(m.name());
            let mut set = RoaringBitmap::new();
            let negate = m.matches_empty();
            for e in entries {
                let v = self.sym(e.value as u64).map_err(|d| Error::corrupt(&self.path, d.offset as u64, d.what))?;
                if m.matches(v) != negate {
                    set |= self.bitmap(e)?;
                }
            }
            if negate {
                set = self.all() - set;
            }
            acc = Some(match acc {
                Some(a) => a & set,
                None => set,
            });
            if acc.as_ref().is_some_and(RoaringBitmap::is_empty) {
                break;
            }
        }
        Ok(acc.unwrap_or_default())
    }

    /// The labels and chunk metas of series `i`.
    fn series(&self, i: u32) -> Result<(Labels, Vec<ChunkMeta>)> {
        let at = self.offsets.start + i as usize * 4;
        let off = self
            .map
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| Error::corrupt(&self.path, at as u64, "series offset out of range"))?;
        let body = self.map[self.series.clone()]
            .get(off..)
            .ok_or_else(|| Error::corrupt(&self.path, at as u64, "series offset past the section"))?;
        let base = self.series.start + off;
        let mut d = Decbuf::new(body);
        let e = |e: DecodeError| derr(&self.path, base, e);
        let n = d.count(2).map_err(e)?;
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.sym(d.uvarint().map_err(e)?).map_err(e)?;
            let value = self.sym(d.uvarint().map_err(e)?).map_err(e)?;
            labels.push(Label { name: name.to_string(), value: value.to_string() });
        }
        if !labels.windows(2).all(|w| w[0].name < w[1].name) {
            return Err(Error::corrupt(&self.path, base as u64, "series labels not sorted and unique"));
        }
        let n = d.count(3).map_err(e)?;
        let mut chunks = Vec::with_capacity(n);
        let (mut prev_max, mut prev_ref) = (0i64, 0u64);
        for k in 0..n {
            let d0 = d.varint().map_err(e)?;
            let min_t = if k == 0 { d0 } else { prev_max.wrapping_add(d0) };
            let max_t = min_t.wrapping_add(d.uvarint().map_err(e)? as i64);
            let r = prev_ref.wrapping_add(d.uvarint().map_err(e)?);
            chunks.push(ChunkMeta { min_t, max_t, r });
            (prev_max, prev_ref) = (max_t, r);
        }
        Ok((Labels::from_sorted_vec(labels), chunks))
    }
}

fn parse_tombstones(path: &Path) -> Result<HashMap<u32, Vec<(Timestamp, Timestamp)>>> {
    let mut out: HashMap<u32, Vec<(Timestamp, Timestamp)>> = HashMap::new();
    let b = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(path, e)),
    };
    check_header(path, &b, TOMBSTONES_MAGIC)?;
    let r = read_section(path, &b, 8)?;
    let mut d = Decbuf::new(&b[r.clone()]);
    let e = |e: DecodeError| derr(path, r.start, e);
    let n = d.count(3).map_err(e)?;
    for _ in 0..n {
        let s = u32::try_from(d.uvarint().map_err(e)?)
            .map_err(|_| Error::corrupt(path, r.start as u64, "series ordinal"))?;
        let mint = d.varint().map_err(e)?;
        let maxt = mint.wrapping_add(d.varint().map_err(e)?);
        out.entry(s).or_default().push((mint, maxt));
    }
    Ok(out)
}

impl Block {
    /// Opens the block in `dir`: reads `meta.json` and tombstones, maps the index and
    /// chunk segments, and verifies the index's checksums.
    pub fn open(dir: &Path) -> Result<Block> {
        let meta_path = dir.join("meta.json");
        let raw = fs::read(&meta_path).ctx(&meta_path)?;
        let meta: BlockMeta = serde_json::from_slice(&raw).map_err(|e| {
            Error::new(ErrorKind::Corrupt("meta.json does not parse")).in_file(&meta_path).at(e.column() as u64)
        })?;
        if meta.version != 1 {
            return Err(Error::new(ErrorKind::Format("meta.json version")).in_file(&meta_path));
        }
        let index = Index::open(&dir.join("index"))?;
        let chunks_dir = dir.join("chunks");
        let mut segs: Vec<(u32, PathBuf)> = Vec::new();
        for e in fs::read_dir(&chunks_dir).ctx(&chunks_dir)? {
            let e = e.ctx(&chunks_dir)?;
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                segs.push((n, e.path()));
            }
        }
        segs.sort();
        let mut chunks = Vec::with_capacity(segs.len());
        for (i, (n, p)) in segs.iter().enumerate() {
            if *n as usize != i + 1 {
                return Err(Error::new(ErrorKind::Corrupt("missing chunk segment")).in_file(p));
            }
            let m = Mmap::open(p)?;
            check_header(p, &m, CHUNKS_MAGIC)?;
            chunks.push(m);
        }
        let tombstones = parse_tombstones(&dir.join("tombstones"))?;
        Ok(Block { inner: Arc::new(BlockInner { dir: dir.to_path_buf(), meta, index, chunks, tombstones }) })
    }

    /// The block's meta.
    pub fn meta(&self) -> &BlockMeta {
        &self.inner.meta
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Bytes on disk (index, chunks, tombstones, meta).
    pub fn size(&self) -> u64 {
        dir_size(&self.inner.dir)
    }

    /// Deleted time ranges recorded in the block's tombstones (as of when it was opened).
    pub fn tombstone_count(&self) -> usize {
        self.inner.tombstones.values().map(Vec::len).sum()
    }

    /// A querier over `[mint, maxt]`.
    pub fn querier(&self, mint: Timestamp, maxt: Timestamp) -> BlockQuerier {
        BlockQuerier { block: Arc::clone(&self.inner), mint, maxt }
    }

    /// Every series of the block with its samples (tombstones applied), sorted by
    /// labels; for compaction.
    pub(crate) fn all_series(&self) -> Result<Vec<(Labels, Vec<Point>)>> {
        let b = &self.inner;
        let mut out = Vec::with_capacity(b.index.num_series as usize);
        for i in 0..b.index.num_series {
            let (labels, metas) = b.index.series(i)?;
            let s = BlockSeries {
                block: Arc::clone(&self.inner),
                ordinal: i,
                labels,
                chunks: metas,
                mint: i64::MIN,
                maxt: i64::MAX,
            };
            let mut pts = Vec::new();
            let failed = {
                let mut it = s.iter();
                while let Some(p) = it.next() {
                    pts.push(p);
                }
                it.error().is_some()
            };
            if failed {
                return Err(Error::new(ErrorKind::Corrupt("chunk does not decode")).in_file(&b.dir));
            }
            out.push((s.labels, pts));
        }
        Ok(out)
    }

    /// Adds tombstones deleting `[mint, maxt]` from the series matching `matchers`; the
    /// tombstones file is replaced atomically (the block's only mutable file). Reopen the
    /// block to see them. Returns the number of series matched.
    pub fn add_tombstones(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Result<usize> {
        let b = &self.inner;
        let ids = b.index.postings_for(matchers)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let mut all: Vec<(u32, i64, i64)> =
            b.tombstones.iter().flat_map(|(&s, v)| v.iter().map(move |&(a, z)| (s, a, z))).collect();
        all.extend(ids.iter().map(|s| (s, mint, maxt)));
        all.sort_unstable();
        all.dedup();
        writer::replace_tombstones(&b.dir, &all)?;
        Ok(ids.len() as usize)
    }

    /// Every series of the index in label order, with its chunks' time span; for
    /// statistics such as `ember tsdb analyze`.
    pub fn index_series(&self) -> Result<Vec<IndexSeries>> {
        let idx = &self.inner.index;
        (0..idx.num_series)
            .map(|i| {
                let (labels, metas) = idx.series(i)?;
                Ok(IndexSeries {
                    labels,
                    min_time: metas.first().map_or(i64::MAX, |c| c.min_t),
                    max_time: metas.last().map_or(i64::MIN, |c| c.max_t),
                    num_chunks: metas.len(),
                })
            })
            .collect()
    }

    /// Checks every chunk's checksum and decodability; the first problem as an error.
    pub fn verify(&self) -> Result<()> {
        let b = &self.inner;
        for i in 0..b.index.num_series {
            let (_, metas) = b.index.series(i)?;
            for m in metas {
                let (enc, data) = b.chunk(m.r)?;
                let mut it = chunk_iter(enc, data);
                while it.next().is_some() {}
                if it.chunk_error().is_some() {
                    return Err(b.chunk_err(m.r, "chunk data does not decode"));
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => n += dir_size(&e.path()),
                Ok(m) => n += m.len(),
                Err(_) => {}
            }
        }
    }
    n
}

impl BlockInner {
    fn chunk_err(&self, r: u64, what: &'static str) -> Error {
        let seg = (r >> 32) as u32;
        Error::corrupt(&self.dir.join("chunks").join(format!("{seg:06}")), r & 0xffff_ffff, what)
    }

    /// The chunk at reference `r`: encoding and data, borrowed from the map, checksum verified.
    fn chunk(&self, r: u64) -> Result<(Encoding, &[u8])> {
        let seg = (r >> 32) as usize;
        let off = (r & 0xffff_ffff) as usize;
        let map = seg
            .checked_sub(1)
            .and_then(|s| self.chunks.get(s))
            .ok_or_else(|| self.chunk_err(r, "chunk segment does not exist"))?;
        let mut d = Decbuf::new(map.get(off..).ok_or_else(|| self.chunk_err(r, "chunk offset past the end"))?);
        let len = d.uvarint().map_err(|_| self.chunk_err(r, "chunk length"))? as usize;
        let start = d.pos();
        let body = d.bytes(len.saturating_add(1)).map_err(|_| self.chunk_err(r, "chunk runs past the end"))?;
        let stored = d.u32().map_err(|_| self.chunk_err(r, "chunk checksum missing"))?;
        if crc32c::crc32c(body) != stored {
            return Err(self.chunk_err(r, "chunk checksum mismatch"));
        }
        let _ = start;
        let enc = Encoding::from_u8(body[0]).map_err(|_| self.chunk_err(r, "unknown chunk encoding"))?;
        Ok((enc, &body[1..]))
    }
}

/// Reads one block.
pub struct BlockQuerier {
    block: Arc<BlockInner>,
    mint: Timestamp,
    maxt: Timestamp,
}

fn storage_err(b: &BlockInner) -> StorageError {
    StorageError { kind: StorageErrorKind::Corruption, source_name: Some(Arc::from(b.meta.ulid.as_str())) }
}

impl BlockQuerier {
    fn overlaps(&self) -> bool {
        self.block.meta.min_time <= self.maxt && self.block.meta.max_time > self.mint
    }

    fn strings(&self, name: Option<&str>, matchers: &[Matcher]) -> std::result::Result<Vec<String>, StorageError> {
        if !self.overlaps() {
            return Ok(Vec::new());
        }
        let idx = &self.block.index;
        let ids = if matchers.is_empty() {
            None
        } else {
            Some(idx.postings_for(matchers).map_err(|_| storage_err(&self.block))?)
        };
        let mut out = Vec::new();
        let entries: &[PostingEntry] = match name {
            Some(n) => idx.entries(n),
            None => &idx.table,
        };
        for e in entries {
            if let Some(ids) = &ids {
                if idx.bitmap(e).map_err(|_| storage_err(&self.block))?.is_disjoint(ids) {
                    continue;
                }
            }
            let s =
                idx.sym(if name.is_some() { e.value } else { e.name } as u64).map_err(|_| storage_err(&self.block))?;
            if out.last().is_none_or(|l: &String| l != s) {
                out.push(s.to_string());
            }
        }
        out.dedup();
        Ok(out)
    }
}

impl Querier for BlockQuerier {
    fn select(&self, _sorted: bool, _hints: Option<&SelectHints>, matchers: &[Matcher]) -> SeriesSet {
        if !self.overlaps() {
            return SeriesSet::empty();
        }
        let b = &self.block;
        let ids = match b.index.postings_for(matchers) {
            Ok(ids) => ids,
            Err(_) => return SeriesSet::error(storage_err(b)),
        };
        let mut out: Vec<Box<dyn Series>> = Vec::with_capacity(ids.len() as usize);
        // Ordinals follow label order, so the set comes out sorted.
        for i in ids {
            let (labels, mut chunks) = match b.index.series(i) {
                Ok(x) => x,
                Err(_) => return SeriesSet::error(storage_err(b)),
            };
            chunks.retain(|c| c.max_t >= self.mint && c.min_t <= self.maxt);
            if chunks.is_empty() {
                continue;
            }
            out.push(Box::new(BlockSeries {
                block: Arc::clone(b),
                ordinal: i,
                labels,
                chunks,
                mint: self.mint,
                maxt: self.maxt,
            }));
        }
        SeriesSet::from_vec(out, Vec::new())
    }

    fn label_names(&self, matchers: &[Matcher]) -> std::result::Result<Warned<Vec<String>>, StorageError> {
        Ok(Warned::ok(self.strings(None, matchers)?))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> std::result::Result<Warned<Vec<String>>, StorageError> {
        Ok(Warned::ok(self.strings(Some(name), matchers)?))
    }
}

/// A series of a block.
struct BlockSeries {
    block: Arc<BlockInner>,
    ordinal: u32,
    labels: Labels,
    chunks: Vec<ChunkMeta>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl Series for BlockSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        let deleted = self.block.tombstones.get(&self.ordinal).map_or(&[][..], Vec::as_slice);
        Box::new(BlockIter { s: self, deleted, next_chunk: 0, cur: None, at: None, err: None, done: false })
    }
}

struct BlockIter<'a> {
    s: &'a BlockSeries,
    deleted: &'a [(Timestamp, Timestamp)],
    next_chunk: usize,
    cur: Option<ChunkIter<'a>>,
    at: Option<Point>,
    err: Option<StorageError>,
    done: bool,
}

impl BlockIter<'_> {
    fn finish(&mut self) -> Option<Point> {
        self.done = true;
        self.at = None;
        None
    }
}

impl SampleIterator for BlockIter<'_> {
    fn next(&mut self) -> Option<Point> {
        if self.done {
            return None;
        }
        loop {
            if let Some(it) = &mut self.cur {
                match it.next() {
                    Some(p) if p.t < self.s.mint => continue,
                    Some(p) if p.t > self.s.maxt => return self.finish(),
                    Some(p) if self.deleted.iter().any(|&(a, b)| p.t >= a && p.t <= b) => continue,
                    Some(p) => {
                        self.at = Some(p);
                        return Some(p);
                    }
                    None if it.chunk_error().is_some() => {
                        self.err = Some(storage_err(&self.s.block));
                        return self.finish();
                    }
                    None => self.cur = None,
                }
            }
            let Some(m) = self.s.chunks.get(self.next_chunk) else { return self.finish() };
            self.next_chunk += 1;
            match self.s.block.chunk(m.r) {
                Ok((enc, data)) => self.cur = Some(chunk_iter(enc, data)),
                Err(_) => {
                    self.err = Some(storage_err(&self.s.block));
                    return self.finish();
                }
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
        let cur_ends_before =
            self.cur.is_none() || self.s.chunks.get(self.next_chunk.wrapping_sub(1)).is_some_and(|c| c.max_t < t);
        if cur_ends_before {
            while self.s.chunks.get(self.next_chunk).is_some_and(|c| c.max_t < t) {
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
        self.err.clone()
    }
}
