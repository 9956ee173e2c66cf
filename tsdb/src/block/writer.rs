//! Writes a block directory: chunk segments, index, tombstones, then `meta.json`, into a
//! temporary directory that is synced and renamed into place.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use ember_exposition::Labels;
use roaring::RoaringBitmap;

use super::{
    BlockMeta, BlockStats, CHUNK_SEGMENT_MAX, CHUNKS_MAGIC, Compaction, INDEX_MAGIC, TOMBSTONES_MAGIC, VERSION,
    new_block_id,
};
use crate::enc::PutExt;
use crate::error::{IoContext, Result};
use crate::head::ChunkOut;

/// One series to write: labels and chunks in time order.
pub(crate) type SeriesOut = (Labels, Vec<ChunkOut>);

/// Where a new block goes and what it is.
pub(crate) struct NewBlock<'a> {
    pub(crate) parent: &'a Path,
    pub(crate) min_time: i64,
    /// Exclusive.
    pub(crate) max_time: i64,
    pub(crate) level: u32,
    pub(crate) sources: Vec<String>,
    pub(crate) parents: Vec<String>,
}

struct ChunkWriter {
    dir: PathBuf,
    seg: u32,
    out: BufWriter<File>,
    path: PathBuf,
    size: u64,
}

impl ChunkWriter {
    fn new(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).ctx(dir)?;
        let (out, path) = Self::segment(dir, 1)?;
        Ok(ChunkWriter { dir: dir.to_path_buf(), seg: 1, out, path, size: 8 })
    }

    fn segment(dir: &Path, n: u32) -> Result<(BufWriter<File>, PathBuf)> {
        let path = dir.join(format!("{n:06}"));
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).ctx(&path)?);
        out.write_all(&CHUNKS_MAGIC).ctx(&path)?;
        out.write_all(&[VERSION, 0, 0, 0]).ctx(&path)?;
        Ok((out, path))
    }

    fn finish_segment(&mut self) -> Result<()> {
        self.out.flush().ctx(&self.path)?;
        self.out.get_ref().sync_all().ctx(&self.path)
    }

    /// Writes one chunk; returns its reference (segment << 32 | offset).
    fn write(&mut self, c: &ChunkOut, scratch: &mut Vec<u8>) -> Result<u64> {
        scratch.clear();
        scratch.put_uvarint(c.data.len() as u64);
        let len_bytes = scratch.len();
        scratch.push(c.encoding.as_u8());
        scratch.extend_from_slice(&c.data);
        let crc = crc32c::crc32c(&scratch[len_bytes..]);
        scratch.put_u32(crc);
        if self.size + scratch.len() as u64 > CHUNK_SEGMENT_MAX {
            self.finish_segment()?;
            self.seg += 1;
            let (out, path) = Self::segment(&self.dir, self.seg)?;
            (self.out, self.path, self.size) = (out, path, 8);
        }
        let r = ((self.seg as u64) << 32) | self.size;
        self.out.write_all(scratch).ctx(&self.path)?;
        self.size += scratch.len() as u64;
        Ok(r)
    }
}

/// Appends a section: length, bytes, CRC-32C.
fn section(out: &mut Vec<u8>, body: &[u8]) -> u64 {
    let off = out.len() as u64;
    out.put_u64(body.len() as u64);
    out.extend_from_slice(body);
    out.put_u32(crc32c::crc32c(body));
    off
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).ctx(dir)
}

/// Writes a block of `series` (sorted by labels, chunks in time order) with the given
/// tombstones (series ordinal, mint, maxt); returns its meta. Series without chunks are
/// left out.
pub(crate) fn write_block(nb: NewBlock<'_>, series: &[SeriesOut], tombstones: &[(u32, i64, i64)]) -> Result<BlockMeta> {
    let id = new_block_id();
    let tmp = nb.parent.join(format!("{id}.tmp"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).ctx(&tmp)?;

    // Chunks.
    let mut cw = ChunkWriter::new(&tmp.join("chunks"))?;
    let mut scratch = Vec::with_capacity(1024);
    let mut refs: Vec<Vec<u64>> = Vec::with_capacity(series.len());
    let mut stats = BlockStats::default();
    for (_, chunks) in series {
        let mut rs = Vec::with_capacity(chunks.len());
        for c in chunks {
            rs.push(cw.write(c, &mut scratch)?);
            stats.num_chunks += 1;
            stats.num_samples +=
                u16::from_be_bytes([c.data.first().copied().unwrap_or(0), c.data.get(1).copied().unwrap_or(0)]) as u64;
        }
        refs.push(rs);
    }
    cw.finish_segment()?;

    // Symbols: every label string, sorted.
    let mut symbols: Vec<&str> =
        series.iter().flat_map(|(l, _)| l.iter().flat_map(|l| [l.name.as_str(), l.value.as_str()])).collect();
    symbols.sort_unstable();
    symbols.dedup();
    let sym = |s: &str| symbols.binary_search(&s).unwrap_or(0) as u64;
    let mut idx = Vec::with_capacity(64 + series.len() * 64);
    idx.extend_from_slice(&INDEX_MAGIC);
    idx.extend_from_slice(&[VERSION, 0, 0, 0]);
    let mut body = Vec::new();
    body.put_uvarint(symbols.len() as u64);
    for s in &symbols {
        body.put_str(s);
    }
    let symbols_off = section(&mut idx, &body);

    // Series, and postings by (name, value).
    body.clear();
    let mut offsets = Vec::with_capacity(series.len() * 4);
    let mut postings: BTreeMap<(&str, &str), RoaringBitmap> = BTreeMap::new();
    for (i, ((labels, chunks), rs)) in series.iter().zip(&refs).enumerate() {
        offsets.put_u32(body.len() as u32);
        body.put_uvarint(labels.len() as u64);
        for l in labels.iter() {
            body.put_uvarint(sym(&l.name));
            body.put_uvarint(sym(&l.value));
            postings.entry((l.name.as_str(), l.value.as_str())).or_default().insert(i as u32);
        }
        body.put_uvarint(chunks.len() as u64);
        let (mut prev_max, mut prev_ref) = (0i64, 0u64);
        for (k, (c, &r)) in chunks.iter().zip(rs).enumerate() {
            if k == 0 {
                body.put_varint(c.min_t);
            } else {
                body.put_varint(c.min_t.wrapping_sub(prev_max));
            }
            body.put_uvarint(c.max_t.wrapping_sub(c.min_t) as u64);
            body.put_uvarint(r.wrapping_sub(prev_ref));
            prev_max = c.max_t;
            prev_ref = r;
        }
        stats.num_series += 1;
    }
    let series_off = section(&mut idx, &body);
    let offsets_off = section(&mut idx, &offsets);

    body.clear();
    let mut table = Vec::new();
    table.put_uvarint(postings.len() as u64);
    for ((n, v), bm) in &postings {
        table.put_uvarint(sym(n));
        table.put_uvarint(sym(v));
        table.put_uvarint(body.len() as u64);
        let before = body.len();
        bm.serialize_into(&mut body).ctx(&tmp)?;
        table.put_uvarint((body.len() - before) as u64);
    }
    let postings_off = section(&mut idx, &body);
    let table_off = section(&mut idx, &table);
    let toc_start = idx.len();
    for off in [symbols_off, series_off, offsets_off, postings_off, table_off] {
        idx.put_u64(off);
    }
    let crc = crc32c::crc32c(&idx[toc_start..]);
    idx.put_u32(crc);
    let index_path = tmp.join("index");
    write_synced(&index_path, &idx)?;

    write_synced(&tmp.join("tombstones"), &encode_tombstones(tombstones))?;
    stats.num_tombstones = tombstones.len() as u64;

    let meta = BlockMeta {
        ulid: id.clone(),
        min_time: nb.min_time,
        max_time: nb.max_time,
        stats,
        compaction: Compaction {
            level: nb.level,
            sources: if nb.sources.is_empty() { vec![id.clone()] } else { nb.sources },
            parents: nb.parents,
        },
        version: 1,
    };
    let json =
        serde_json::to_vec_pretty(&meta).map_err(|_| crate::Error::new(crate::ErrorKind::Invalid("meta.json")))?;
    write_synced(&tmp.join("meta.json"), &json)?;
    sync_dir(&tmp.join("chunks"))?;
    sync_dir(&tmp)?;
    let dest = nb.parent.join(&id);
    fs::rename(&tmp, &dest).ctx(&dest)?;
    sync_dir(nb.parent)?;
    Ok(meta)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).ctx(path)?;
    f.write_all(bytes).ctx(path)?;
    f.sync_all().ctx(path)
}

/// The tombstones file for (series ordinal, mint, maxt) entries.
pub(crate) fn encode_tombstones(tombstones: &[(u32, i64, i64)]) -> Vec<u8> {
    let mut ts = Vec::new();
    ts.extend_from_slice(&TOMBSTONES_MAGIC);
    ts.extend_from_slice(&[VERSION, 0, 0, 0]);
    let mut tb = Vec::new();
    tb.put_uvarint(tombstones.len() as u64);
    for &(s, mint, maxt) in tombstones {
        tb.put_uvarint(s as u64);
        tb.put_varint(mint);
        tb.put_varint(maxt.wrapping_sub(mint));
    }
    section(&mut ts, &tb);
    ts
}

/// Replaces `dir`'s tombstones file atomically (write, sync, rename).
pub(crate) fn replace_tombstones(dir: &Path, tombstones: &[(u32, i64, i64)]) -> Result<()> {
    let tmp = dir.join("tombstones.tmp");
    write_synced(&tmp, &encode_tombstones(tombstones))?;
    let dest = dir.join("tombstones");
    fs::rename(&tmp, &dest).ctx(&dest)?;
    sync_dir(dir)
}
