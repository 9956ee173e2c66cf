//! Compaction: cutting blocks from the head, merging blocks (leveled and vertical),
//! retention, and snapshots. Driven by [`crate::db::Db::compact`].

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use ember_exposition::{Labels, Timestamp};

use crate::block::writer::{NewBlock, SeriesOut, write_block};
use crate::block::{Block, BlockMeta};
use crate::chunks::ChunkEncoder;
use crate::error::{IoContext, Result};
use crate::head::ChunkOut;
use crate::storage::Point;

/// Samples per chunk in merged blocks.
const SAMPLES_PER_CHUNK: usize = 120;

/// Encodes sorted points into chunks of up to [`SAMPLES_PER_CHUNK`] samples, each in the
/// encoding the head would pick (decimal for short decimals, XOR otherwise).
pub(crate) fn encode_chunks(points: &[Point]) -> Vec<ChunkOut> {
    points
        .chunks(SAMPLES_PER_CHUNK)
        .map(|run| {
            let mut e = ChunkEncoder::with_capacity(run.len() * 2 + 16);
            for p in run {
                e.append(p.t, p.v.as_float().unwrap_or(f64::NAN));
            }
            ChunkOut {
                min_t: run[0].t,
                max_t: run[run.len() - 1].t,
                encoding: e.encoding(),
                data: Arc::from(e.bytes()),
            }
        })
        .collect()
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
