//! Compaction: cutting blocks from the head, merging blocks (leveled and vertical),
//! retention, and snapshots. Driven by [`crate::db::Db::compact`].

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use ember_exposition::{Labels, Timestamp};

use crate::block::writer::{NewBlock, SeriesOut, write_block};
use crate::block::{Block, BlockMeta};
use crate::chunks::{ChunkEncoder, Encoding, encode_packed};
use crate::error::{IoContext, Result};
use crate::head::ChunkOut;
use crate::storage::{Point, SampleIterator};

/// Samples per chunk for values that are not short decimals (XOR chunks), as in the head.
const SAMPLES_PER_CHUNK: usize = 120;
/// Most samples per packed chunk: 4 h at 15 s, so a 2 h block has one chunk per series
/// while a query into a long block still decodes a bounded run.
const SAMPLES_PER_PACKED_CHUNK: usize = 960;
/// Points that fit a packed chunk end an XOR chunk when at least this many follow in a row.
const PACKED_RESUME: usize = 8;

fn is_short_decimal(p: &Point) -> bool {
    p.v.as_float().is_some_and(crate::chunks::is_short_decimal)
}

/// Encodes sorted points into chunks for a block: runs of short decimals as packed chunks
/// of up to [`SAMPLES_PER_PACKED_CHUNK`] samples, other runs as head-style chunks (XOR, or
/// decimal) of up to [`SAMPLES_PER_CHUNK`] samples.
pub(crate) fn encode_chunks(points: &[Point]) -> Vec<ChunkOut> {
    let mut out = Vec::new();
    let mut rest = points;
    while !rest.is_empty() {
        let (n, encoding, data) = match encode_packed(rest, SAMPLES_PER_PACKED_CHUNK) {
            Some((n, bytes)) => (n, Encoding::Packed, bytes),
            None => {
                // Up to a chunk's worth, ending early where a packable run starts.
                let mut n = 1;
                while n < rest.len().min(SAMPLES_PER_CHUNK) {
                    let ahead = &rest[n..rest.len().min(n + PACKED_RESUME)];
                    if ahead.iter().all(is_short_decimal) {
                        break;
                    }
                    n += 1;
                }
                let mut e = ChunkEncoder::with_capacity(n * 2 + 16);
                for p in &rest[..n] {
                    e.append(p.t, p.v.as_float().unwrap_or(f64::NAN));
                }
                (n, e.encoding(), e.bytes().to_vec())
            }
        };
        out.push(ChunkOut { min_t: rest[0].t, max_t: rest[n - 1].t, encoding, data: Arc::from(data) });
        rest = &rest[n..];
    }
    out
}

/// Re-encodes the chunks of every series with [`encode_chunks`], leaving out the samples
/// `deleted` names for a series; series left empty are dropped. Runs on all cores.
pub(crate) fn repack<'d>(series: &mut Vec<SeriesOut>, deleted: impl Fn(&Labels) -> Option<&'d [(i64, i64)]> + Sync) {
    let deleted = &deleted;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let per = series.len().div_ceil(threads).max(1);
    std::thread::scope(|sc| {
        for part in series.chunks_mut(per) {
            sc.spawn(move || {
                let mut pts = Vec::new();
                for (labels, chunks) in part.iter_mut() {
                    let ranges = deleted(labels);
                    pts.clear();
                    for c in chunks.iter() {
                        let mut it = crate::block::chunk_iter(c.encoding, &c.data);
                        while let Some(p) = it.next() {
                            if !ranges.is_some_and(|r| r.iter().any(|&(a, b)| p.t >= a && p.t <= b)) {
                                pts.push(p);
                            }
                        }
                    }
                    *chunks = encode_chunks(&pts);
                }
            });
        }
    });
    series.retain(|(_, c)| !c.is_empty());
}

/// Merges the series of `blocks` (earlier blocks win on equal timestamps) into one
/// block under `parent`; tombstones are applied, equal samples deduplicated.
pub(crate) fn merge_blocks(parent: &Path, blocks: &[Block]) -> Result<BlockMeta> {
    let mut merged: BTreeMap<Labels, Vec<Point>> = BTreeMap::new();
    for b in blocks {
        for (labels, pts) in b.all_series()? {
            merged.entry(labels).or_default().extend(pts);
        }
    }
    let series: Vec<SeriesOut> = merged
        .into_iter()
        .filter_map(|(l, mut pts)| {
            // Stable: for equal timestamps the earlier block's sample stays first.
            pts.sort_by_key(|p| p.t);
            pts.dedup_by_key(|p| p.t);
            (!pts.is_empty()).then(|| (l, encode_chunks(&pts)))
        })
        .collect();
    let mut sources: Vec<String> = blocks.iter().flat_map(|b| b.meta().compaction.sources.iter().cloned()).collect();
    sources.sort();
    sources.dedup();
    let nb = NewBlock {
        parent,
        min_time: blocks.iter().map(|b| b.meta().min_time).min().unwrap_or(0),
        max_time: blocks.iter().map(|b| b.meta().max_time).max().unwrap_or(0),
        level: blocks.iter().map(|b| b.meta().compaction.level).max().unwrap_or(0) + 1,
        sources,
        parents: blocks.iter().map(|b| b.meta().ulid.clone()).collect(),
    };
    write_block(nb, &series, &[])
}

/// Block groups to merge next: overlapping blocks first (vertical), then adjacent
/// blocks that fill an aligned window of one of `ranges` (leveled), only windows that
/// end at or before `closed_before`. Blocks are sorted by min time.
pub(crate) fn plan(blocks: &[Block], ranges: &[i64], closed_before: Timestamp) -> Option<Vec<usize>> {
    // Vertical: any overlap.
    for i in 0..blocks.len() {
        let mut group = vec![i];
        let mut end = blocks[i].meta().max_time;
        for (j, b) in blocks.iter().enumerate().skip(i + 1) {
            if b.meta().min_time < end {
                group.push(j);
                end = end.max(b.meta().max_time);
            }
        }
        if group.len() > 1 {
            return Some(group);
        }
    }
    // Leveled: the largest window first.
    for &r in ranges.iter().skip(1).rev() {
        let mut i = 0;
        while i < blocks.len() {
            let start = blocks[i].meta().min_time.div_euclid(r) * r;
            let end = start + r;
            let group: Vec<usize> = (i..blocks.len())
                .take_while(|&j| blocks[j].meta().max_time <= end && blocks[j].meta().min_time >= start)
                .collect();
            let n = group.len().max(1);
            if group.len() > 1 && end <= closed_before {
                return Some(group);
            }
            i += n;
        }
    }
    None
}

/// The leveled ranges: `base`, ×3, ×3, … up to `max` (at least `base`).
pub(crate) fn ranges(base: i64, max: Option<i64>) -> Vec<i64> {
    let mut out = vec![base];
    let max = max.unwrap_or(base * 3 * 3 * 3 * 3);
    while let Some(&last) = out.last() {
        let next = last * 3;
        if next > max || out.len() >= 10 {
            break;
        }
        out.push(next);
    }
    out
}

/// Deletes a block directory (renamed first, so a crash leaves no half-deleted block).
pub(crate) fn remove_block(dir: &Path) -> Result<()> {
    let trash = dir.with_extension("deleted");
    fs::rename(dir, &trash).ctx(dir)?;
    fs::remove_dir_all(&trash).ctx(&trash)
}

/// Hard-links every file of `src` into `dst` (same file system), recursively.
pub(crate) fn link_dir(src: &Path, dst: &Path) -> Result<()> {
    fs::create_dir_all(dst).ctx(dst)?;
    for e in fs::read_dir(src).ctx(src)? {
        let e = e.ctx(src)?;
        let to = dst.join(e.file_name());
        if e.file_type().ctx(&e.path())?.is_dir() {
            link_dir(&e.path(), &to)?;
        } else {
            fs::hard_link(e.path(), &to).ctx(&to)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_exposition::STALE_NAN;

    /// Encodes, checks the chunks decode to the points by bits; returns the encodings.
    #[track_caller]
    fn check(points: &[Point]) -> Vec<(Encoding, usize)> {
        let chunks = encode_chunks(points);
        let mut got = Vec::new();
        let mut shape = Vec::new();
        for c in &chunks {
            let mut it = crate::block::chunk_iter(c.encoding, &c.data);
            let before = got.len();
            while let Some(p) = it.next() {
                got.push((p.t, p.v.as_float().map(f64::to_bits)));
            }
            assert!(it.chunk_error().is_none());
            assert_eq!((c.min_t, c.max_t), (got[before].0, got[got.len() - 1].0));
            shape.push((c.encoding, got.len() - before));
        }
        let want: Vec<(i64, Option<u64>)> = points.iter().map(|p| (p.t, p.v.as_float().map(f64::to_bits))).collect();
        assert_eq!(got, want);
        shape
    }

    #[test]
    fn decimal_runs_pack_and_other_values_fall_back() {
        let pts = |vs: &[f64]| -> Vec<Point> {
            vs.iter().enumerate().map(|(i, &v)| Point::float(i as i64 * 15_000, v)).collect()
        };
        assert_eq!(check(&[]), vec![]);
        assert_eq!(check(&pts(&[1.5; 480])), vec![(Encoding::Packed, 480)]);
        assert_eq!(check(&pts(&[1.0; 1000])), vec![(Encoding::Packed, 960), (Encoding::Packed, 40)]);
        // A stale marker at the end: one small chunk after the packed run.
        let mut vs = vec![2.0; 100];
        vs.push(STALE_NAN);
        assert_eq!(check(&pts(&vs)), vec![(Encoding::Packed, 100), (Encoding::Xor, 1)]);
        // Values that are not decimals: XOR chunks of 120, until a decimal run starts.
        let mut vs: Vec<f64> = (0..200).map(|i| (i as f64 + 0.5).sqrt()).collect();
        vs.extend([7.0; 50]);
        assert_eq!(check(&pts(&vs))[..], [(Encoding::Xor, 120), (Encoding::Xor, 80), (Encoding::Packed, 50)]);
    }
}
