//! Hooks for the durable layers: re-creating series under the references the WAL
//! recorded, and reading whole chunks out for a block. Kept apart from the append path.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::series::MemSeries;
use super::{Head, Sym};
use crate::chunks::Encoding;
use crate::storage::{SeriesRef, validate_labels};
use ember_exposition::{Labels, Timestamp};

/// A chunk handed to a block writer.
pub(crate) struct ChunkOut {
    pub(crate) min_t: Timestamp,
    pub(crate) max_t: Timestamp,
    pub(crate) encoding: Encoding,
    pub(crate) data: Arc<[u8]>,
}

impl Head {
    /// The series `labels`, created under reference `id` when it is new and `id` is free
    /// (as the WAL recorded it); an existing series with these labels keeps its own id.
    /// `None` when the labels are invalid or ids are exhausted.
    pub(crate) fn replay_series(&self, id: u64, labels: &Labels) -> Option<SeriesRef> {
        let h = &*self.inner;
        let hash = labels.stable_hash();
        if let Some(s) = h.lookup(hash, labels) {
            return Some(SeriesRef(s.id as u64));
        }
        let id = match u32::try_from(id) {
            Ok(id) if id != 0 && id != u32::MAX && !h.table.contains(id) => id,
            // Taken or out of range: a fresh id (the caller maps the WAL's to it).
            _ => return h.get_or_create(labels).ok().map(|(s, _)| SeriesRef(s.id as u64)),
        };
        validate_labels(labels).ok()?;
        let interned: Vec<(Sym, Sym)> =
            labels.iter().map(|l| (h.symbols.intern(&l.name), h.symbols.intern(&l.value))).collect();
        let s = Arc::new(MemSeries::new(id, hash, interned.iter().map(|((n, _), (v, _))| (*n, *v)).collect()));
        h.table.insert(&s);
        h.by_hash[hash as usize & h.mask].write().insert_unique(hash, Arc::clone(&s), |s| s.hash);
        h.next_id.fetch_max(id + 1, Ordering::Relaxed);
        h.index.write().add(id, interned.iter().map(|((_, n), (_, v))| (n, v)));
        Some(SeriesRef(id as u64))
    }

    /// Refuses appends older than `t` from now on (as truncation does) without dropping data.
    pub(crate) fn set_min_valid_time(&self, t: Timestamp) {
        self.inner.min_valid_t.fetch_max(t, Ordering::AcqRel);
    }

    /// Every series with its labels and the chunks lying wholly in `[mint, maxt]`
    /// (chunks are cut at chunk-range boundaries, so an aligned range gets whole chunks),
    /// sorted by labels. Out-of-order samples are not included.
    pub(crate) fn chunks_in(&self, mint: Timestamp, maxt: Timestamp) -> Vec<(Labels, Vec<ChunkOut>)> {
        let h = &*self.inner;
        let mut out = Vec::new();
        for s in h.all_series() {
            let mut inner = s.inner.lock();
            // An open chunk wholly inside the range is closed first, so it is handed out
            // with its encoding like any other (the series continues in a new chunk).
            if inner.open.as_ref().is_some_and(|o| o.enc.num_samples() > 0 && o.min_t >= mint && o.enc.last_t() <= maxt)
            {
                inner.cut();
            }
            let chunks: Vec<ChunkOut> = inner
                .chunks
                .iter()
                .filter(|c| c.min_t >= mint && c.max_t <= maxt)
                .map(|c| ChunkOut { min_t: c.min_t, max_t: c.max_t, encoding: c.encoding, data: Arc::clone(&c.data) })
                .collect();
            drop(inner);
            if !chunks.is_empty() {
                out.push((h.labels_of(&s), chunks));
            }
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
