//! [`Db::clean_tombstones`]: rewriting blocks without their deleted data, and the recovery
//! rule at open that makes the rewrite crash-safe.
//!
//! A block with tombstones is rewritten through the ordinary block writer (the same path a
//! compaction takes) into a new block covering the same time range, at the same level,
//! naming the old block as its only parent. The new block is complete and synced on disk
//! (written to `<id>.tmp`, synced, renamed, directory synced) before the old one is touched;
//! then the old one is renamed to `<id>.deleted` and removed. A block left with no samples is
//! simply removed.
//!
//! A crash before the rename leaves a `.tmp` directory that opening deletes; a crash after it
//! leaves both blocks, and opening removes every block that another loaded block names as a
//! parent ([`drop_replaced`]), so the old data never shows twice and deleted samples never come
//! back. This is the same rule that finishes an interrupted merge.

use std::collections::HashSet;

use crate::block::Block;
use crate::block::writer::{NewBlock, SeriesOut, write_block};
use crate::compact;
use crate::error::Result;

use super::Db;

/// What [`Db::clean_tombstones`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanTombstonesStats {
    /// Blocks rewritten without their deleted data.
    pub blocks_rewritten: usize,
    /// Blocks removed because every sample in them was deleted.
    pub blocks_removed: usize,
}

impl Db {
    /// Removes deleted data from disk (Prometheus's `CleanTombstones`): every block with
    /// tombstones is rewritten without the deleted samples (series left empty are dropped;
    /// a block left empty is removed), and its tombstones go with it. Crash-safe: the new
    /// block (same range and level, naming the old block as its parent) is durable before the
    /// old one is removed, and opening after a crash in between removes every block another
    /// block names as its parent, so nothing shows twice. Deleted ranges of head series stay
    /// tombstones until the head's data is cut into a block, where they are applied.
    /// Serialized with compaction, deletion and snapshots.
    ///
    /// ```
    /// use ember_exposition::{Matcher, labels};
    /// use ember_tsdb::db::Db;
    /// use ember_tsdb::storage::{AppendOptions, Value};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::builder(dir.path()).open().unwrap();
    /// let mut app = db.appender();
    /// for t in 0..4 {
    ///     let l = labels! {"__name__" => "m", "i" => t.to_string().as_str()};
    ///     app.append(None, &l, t * 3_600_000, Value::Float(1.0), AppendOptions::NONE).unwrap();
    /// }
    /// app.commit().unwrap();
    /// db.compact().unwrap();
    /// assert_eq!(db.blocks().len(), 1, "[0h, 2h) was cut from the head");
    /// db.delete(i64::MIN, i64::MAX, &[Matcher::equal("i", "0")]).unwrap();
    /// assert_eq!(db.blocks()[0].tombstone_count(), 1);
    /// let st = db.clean_tombstones().unwrap();
    /// assert_eq!((st.blocks_rewritten, st.blocks_removed), (1, 0));
    /// assert_eq!(db.blocks()[0].tombstone_count(), 0);
    /// assert_eq!(db.blocks()[0].index_series().unwrap().len(), 1, "only i=1 is left on disk");
    /// ```
    pub fn clean_tombstones(&self) -> Result<CleanTombstonesStats> {
        let _g = self.inner.compacting.lock();
        let mut st = CleanTombstonesStats::default();
        for old in self.blocks() {
            if old.tombstone_count() == 0 {
                continue;
            }
            let series: Vec<SeriesOut> = old
                .all_series()?
                .into_iter()
                .filter(|(_, pts)| !pts.is_empty())
                .map(|(labels, pts)| (labels, compact::encode_chunks(&pts)))
                .collect();
            let new = if series.is_empty() {
                st.blocks_removed += 1;
                None
            } else {
                let m = old.meta();
                let nb = NewBlock {
                    parent: &self.inner.dir,
                    min_time: m.min_time,
                    max_time: m.max_time,
                    level: m.compaction.level,
                    sources: m.compaction.sources.clone(),
                    parents: vec![m.ulid.clone()],
                };
                let meta = write_block(nb, &series, &[])?;
                st.blocks_rewritten += 1;
                Some(Block::open(&self.inner.dir.join(&meta.ulid))?)
            };
            self.replace_blocks(std::slice::from_ref(&old), new)?;
        }
        Ok(st)
    }
}

/// Removes, from disk and from `blocks`, every block that another block in `blocks` names as a
/// parent: what a crash between writing a replacement (a merge, a tombstone rewrite) and
/// removing its parents leaves behind.
pub(super) fn drop_replaced(blocks: &mut Vec<Block>) -> Result<()> {
    let replaced: HashSet<String> = blocks.iter().flat_map(|b| b.meta().compaction.parents.iter().cloned()).collect();
    if replaced.is_empty() {
        return Ok(());
    }
    let mut keep = Vec::with_capacity(blocks.len());
    for b in blocks.drain(..) {
        if replaced.contains(&b.meta().ulid) {
            compact::remove_block(b.dir())?;
        } else {
            keep.push(b);
        }
    }
    *blocks = keep;
    Ok(())
}
