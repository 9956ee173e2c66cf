//! In-memory exemplar storage: one fixed-size circular buffer shared by all series.
//!
//! Prometheus keeps exemplars (with `--enable-feature=exemplar-storage`) in a ring of
//! `storage.exemplars.max_exemplars` entries; so does [`ExemplarStore`]. Each entry
//! remembers the next newer entry of the same series, and a small index maps a series to
//! its oldest and newest entry, so
//!
//! - memory is bounded by the capacity, however many series carry exemplars (a series
//!   costs one index entry while it has at least one exemplar in the ring);
//! - adding overwrites the globally oldest entry, which is always the oldest of its own
//!   series, so unlinking it is O(1);
//! - a series' exemplars are read oldest first by following its chain, already in time
//!   order, because an exemplar older than its series' newest is refused.
//!
//! What it gives up: a query walks the chain of every selected series from its oldest
//! entry (no time index), and exemplars are kept only as long as the ring has room, not
//! by age.
//!
//! ```
//! use ember_exposition::{Exemplar, labels};
//! use ember_tsdb::exemplars::{ExemplarErrorKind, ExemplarStore};
//!
//! let store = ExemplarStore::new(2);
//! let ex = |t, v| Exemplar { labels: labels! {"trace_id" => "abc"}, value: v, timestamp: Some(t) };
//! assert!(store.add(1, &ex(1_000, 1.0)).unwrap());
//! assert!(!store.add(1, &ex(1_000, 1.0)).unwrap(), "the newest again is a silent duplicate");
//! assert_eq!(store.add(1, &ex(500, 2.0)).unwrap_err().kind, ExemplarErrorKind::OutOfOrder);
//! store.add(2, &ex(2_000, 3.0)).unwrap();
//! store.add(2, &ex(3_000, 4.0)).unwrap(); // the ring holds 2: series 1's exemplar goes
//! assert!(store.series(1, i64::MIN, i64::MAX).is_empty());
//! assert_eq!(store.series(2, 0, 2_500).len(), 1);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ember_exposition::{Exemplar, Timestamp};
use parking_lot::Mutex;

/// Most UTF-8 characters (runes) an exemplar's label names and values may hold together
/// (OpenMetrics).
pub const MAX_LABEL_SET_RUNES: usize = 128;

/// Why an exemplar was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExemplarErrorKind {
    /// Older than the newest exemplar of its series.
    OutOfOrder,
    /// The label names and values hold more than [`MAX_LABEL_SET_RUNES`] characters.
    LabelSetTooLong {
        /// The characters found.
        runes: usize,
    },
    /// The exemplar has no timestamp (the appender gives it the sample's).
    MissingTimestamp,
}

/// A refused exemplar: what was wrong and its timestamp (when it had one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExemplarError {
    /// What went wrong.
    pub kind: ExemplarErrorKind,
    /// The exemplar's timestamp.
    pub timestamp: Option<Timestamp>,
}

impl fmt::Display for ExemplarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ExemplarErrorKind::OutOfOrder => f.write_str("out of order exemplar")?,
            ExemplarErrorKind::LabelSetTooLong { runes } => {
                write!(f, "exemplar label set is {runes} characters long, more than the {MAX_LABEL_SET_RUNES} allowed")?
            }
            ExemplarErrorKind::MissingTimestamp => f.write_str("exemplar without timestamp")?,
        }
        match self.timestamp {
            Some(t) => write!(f, " (timestamp {t})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ExemplarError {}

/// Checks what can be checked of an exemplar without the store: the length of its label
/// set.
pub fn validate(e: &Exemplar) -> Result<(), ExemplarError> {
    let runes: usize = e.labels.iter().map(|l| l.name.chars().count() + l.value.chars().count()).sum();
    if runes > MAX_LABEL_SET_RUNES {
        return Err(ExemplarError { kind: ExemplarErrorKind::LabelSetTooLong { runes }, timestamp: e.timestamp });
    }
    Ok(())
}

/// No entry (end of a chain, empty slot).
const NONE: u32 = u32::MAX;

struct Entry {
    series: u32,
    exemplar: Exemplar,
    /// The next newer entry of the same series, or [`NONE`].
    next: u32,
}

#[derive(Default)]
struct Ring {
    slots: Vec<Option<Entry>>,
    /// The slot written next (holding the oldest entry once the ring is full).
    head: usize,
    len: usize,
    /// Series -> (oldest, newest) slot.
    index: HashMap<u32, (u32, u32)>,
}

impl Ring {
    fn with_capacity(cap: usize) -> Ring {
        let mut slots = Vec::new();
        slots.resize_with(cap, || None);
        Ring { slots, ..Ring::default() }
    }

    fn newest(&self, series: u32) -> Option<&Exemplar> {
        let &(_, newest) = self.index.get(&series)?;
        self.slots[newest as usize].as_ref().map(|e| &e.exemplar)
    }

    /// Writes `e` at the head, evicting the oldest entry if the ring is full.
    fn push(&mut self, series: u32, exemplar: Exemplar) {
        let slot = self.head;
        if let Some(old) = self.slots[slot].take() {
            // The globally oldest entry is the oldest of its series.
            match old.next {
                NONE => {
                    self.index.remove(&old.series);
                }
                next => {
                    if let Some(ix) = self.index.get_mut(&old.series) {
                        ix.0 = next;
                    }
                }
            }
        } else {
            self.len += 1;
        }
        let s = slot as u32;
        match self.index.get_mut(&series) {
            Some(ix) => {
                if let Some(prev) = self.slots[ix.1 as usize].as_mut() {
                    prev.next = s;
                }
                ix.1 = s;
            }
            None => {
                self.index.insert(series, (s, s));
            }
        }
        self.slots[slot] = Some(Entry { series, exemplar, next: NONE });
        self.head = (slot + 1) % self.slots.len();
    }

    /// Every entry, oldest first.
    fn drain_in_order(&mut self) -> Vec<(u32, Exemplar)> {
        let cap = self.slots.len();
        let mut out = Vec::with_capacity(self.len);
        for i in 0..cap {
            if let Some(e) = self.slots[(self.head + i) % cap].take() {
                out.push((e.series, e.exemplar));
            }
        }
        out
    }
}

/// Counters and sizes of an [`ExemplarStore`], as Prometheus's
/// `prometheus_tsdb_exemplar_*` metrics report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExemplarStats {
    /// Exemplars in the ring (`…_exemplars_in_storage`).
    pub exemplars_in_storage: usize,
    /// Series with at least one exemplar in the ring (`…_series_with_exemplars_in_storage`).
    pub series_with_exemplars: usize,
    /// The ring's capacity (`…_max_exemplars`).
    pub max_exemplars: usize,
    /// Exemplars stored since start (`…_exemplars_appended_total`).
    pub appended_total: u64,
    /// Exemplars refused as out of order (`…_out_of_order_exemplars_total`).
    pub out_of_order_total: u64,
    /// Exemplars refused for their label set's length.
    pub invalid_total: u64,
    /// Timestamp of the oldest exemplar in the ring (`…_last_exemplars_timestamp_seconds` in ms).
    pub oldest_timestamp: Option<Timestamp>,
}

/// A bounded, thread-safe exemplar store keyed by series id (see the module docs).
pub struct ExemplarStore {
    ring: Mutex<Ring>,
    /// The capacity, readable without the lock (0: storing nothing).
    cap: AtomicUsize,
    appended: AtomicU64,
    out_of_order: AtomicU64,
    invalid: AtomicU64,
}

impl fmt::Debug for ExemplarStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExemplarStore").field("stats", &self.stats()).finish()
    }
}

impl Default for ExemplarStore {
    /// A store of capacity 0, which keeps nothing until [`ExemplarStore::resize`]d.
    fn default() -> Self {
        ExemplarStore::new(0)
    }
}

impl ExemplarStore {
    /// A store holding up to `capacity` exemplars (0 keeps none). Capacities beyond
    /// `u32::MAX - 1` are cut to it.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.min(NONE as usize - 1);
        ExemplarStore {
            ring: Mutex::new(Ring::with_capacity(capacity)),
            cap: AtomicUsize::new(capacity),
            appended: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
        }
    }

    /// Whether the store keeps anything (capacity above 0). Cheap: one relaxed load.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.cap.load(Ordering::Relaxed) > 0
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// Adds an exemplar (which must carry its timestamp) to `series`. `Ok(true)` when
    /// stored; `Ok(false)` when it equals the series' newest exemplar (labels, value bits
    /// and timestamp; a silent duplicate) or the store's capacity is 0.
    pub fn add(&self, series: u32, e: &Exemplar) -> Result<bool, ExemplarError> {
        let Some(t) = e.timestamp else {
            return Err(ExemplarError { kind: ExemplarErrorKind::MissingTimestamp, timestamp: None });
        };
        if let Err(err) = validate(e) {
            self.invalid.fetch_add(1, Ordering::Relaxed);
            return Err(err);
        }
        let mut ring = self.ring.lock();
        if ring.slots.is_empty() {
            return Ok(false);
        }
        if let Some(newest) = ring.newest(series) {
            let nt = newest.timestamp.unwrap_or(i64::MIN);
            if nt == t && newest.value.to_bits() == e.value.to_bits() && newest.labels == e.labels {
                return Ok(false);
            }
            if t < nt {
                self.out_of_order.fetch_add(1, Ordering::Relaxed);
                return Err(ExemplarError { kind: ExemplarErrorKind::OutOfOrder, timestamp: Some(t) });
            }
        }
        ring.push(series, e.clone());
        self.appended.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// The exemplars of `series` with timestamps in `[start, end]`, oldest first.
    pub fn series(&self, series: u32, start: Timestamp, end: Timestamp) -> Vec<Exemplar> {
        let ring = self.ring.lock();
        let mut out = Vec::new();
        let Some(&(mut at, _)) = ring.index.get(&series) else { return out };
        while let Some(e) = ring.slots.get(at as usize).and_then(Option::as_ref) {
            let t = e.exemplar.timestamp.unwrap_or(i64::MIN);
            if t > end {
                break;
            }
            if t >= start {
                out.push(e.exemplar.clone());
            }
            at = e.next;
        }
        out
    }

    /// The series ids holding at least one exemplar, in no particular order.
    pub fn series_ids(&self) -> Vec<u32> {
        self.ring.lock().index.keys().copied().collect()
    }

    /// Changes the capacity, keeping the newest exemplars that fit (Prometheus does this
    /// on a configuration reload). Returns how many were dropped.
    pub fn resize(&self, capacity: usize) -> usize {
        let capacity = capacity.min(NONE as usize - 1);
        let mut ring = self.ring.lock();
        if capacity == ring.slots.len() {
            return 0;
        }
        let all = ring.drain_in_order();
        let dropped = all.len().saturating_sub(capacity);
        let mut next = Ring::with_capacity(capacity);
        for (s, e) in all.into_iter().skip(dropped) {
            next.push(s, e);
        }
        *ring = next;
        self.cap.store(capacity, Ordering::Relaxed);
        dropped
    }

    /// Sizes and counters.
    pub fn stats(&self) -> ExemplarStats {
        let ring = self.ring.lock();
        let oldest = (0..ring.slots.len())
            .find_map(|i| ring.slots[(ring.head + i) % ring.slots.len()].as_ref())
            .and_then(|e| e.exemplar.timestamp);
        ExemplarStats {
            exemplars_in_storage: ring.len,
            series_with_exemplars: ring.index.len(),
            max_exemplars: ring.slots.len(),
            appended_total: self.appended.load(Ordering::Relaxed),
            out_of_order_total: self.out_of_order.load(Ordering::Relaxed),
            invalid_total: self.invalid.load(Ordering::Relaxed),
            oldest_timestamp: oldest,
        }
    }
}

#[cfg(test)]
mod tests {
    use ember_exposition::labels;
    use proptest::prelude::*;

    use super::*;

    fn ex(t: i64, v: f64) -> Exemplar {
        Exemplar { labels: labels! {"trace_id" => "t"}, value: v, timestamp: Some(t) }
    }

    #[test]
    fn label_set_limit_counts_runes_not_bytes() {
        let at_limit = Exemplar { labels: labels! {"a" => "é".repeat(127)}, value: 1.0, timestamp: Some(1) };
        assert!(validate(&at_limit).is_ok(), "127 two-byte runes + 1 = 128 runes");
        let over = Exemplar { labels: labels! {"ab" => "é".repeat(127)}, value: 1.0, timestamp: Some(1) };
        let store = ExemplarStore::new(4);
        let err = store.add(1, &over).unwrap_err();
        assert_eq!(err.kind, ExemplarErrorKind::LabelSetTooLong { runes: 129 });
        assert_eq!(store.stats().invalid_total, 1);
        let none = Exemplar { timestamp: None, ..ex(1, 1.0) };
        assert_eq!(store.add(1, &none).unwrap_err().kind, ExemplarErrorKind::MissingTimestamp);
    }

    #[test]
    fn same_timestamp_with_other_value_is_kept() {
        let store = ExemplarStore::new(4);
        assert!(store.add(1, &ex(10, 1.0)).unwrap());
        assert!(store.add(1, &ex(10, 2.0)).unwrap(), "e.g. two buckets observed at once");
        assert!(!store.add(1, &ex(10, 2.0)).unwrap());
        assert_eq!(store.series(1, 10, 10).len(), 2);
        assert_eq!(store.stats().out_of_order_total, 0);
    }

    #[test]
    fn zero_capacity_keeps_nothing_until_resized() {
        let store = ExemplarStore::default();
        assert!(!store.enabled());
        assert!(!store.add(1, &ex(1, 1.0)).unwrap());
        store.resize(3);
        assert!(store.enabled());
        assert!(store.add(1, &ex(1, 1.0)).unwrap());
        assert_eq!(store.stats().exemplars_in_storage, 1);
    }

    #[test]
    fn resize_keeps_the_newest() {
        let store = ExemplarStore::new(5);
        for t in 0..7 {
            store.add((t % 2) as u32, &ex(t, t as f64)).unwrap();
        }
        // Holds 2..=6; shrink to 3 keeps 4, 5, 6.
        assert_eq!(store.resize(3), 2);
        let ts = |s| store.series(s, i64::MIN, i64::MAX).iter().map(|e| e.timestamp.unwrap()).collect::<Vec<_>>();
        assert_eq!(ts(0), vec![4, 6]);
        assert_eq!(ts(1), vec![5]);
        store.resize(10);
        store.add(1, &ex(7, 7.0)).unwrap();
        assert_eq!(ts(1), vec![5, 7]);
        let st = store.stats();
        assert_eq!((st.exemplars_in_storage, st.series_with_exemplars, st.max_exemplars), (4, 2, 10));
        assert_eq!(st.oldest_timestamp, Some(4));
    }

    /// The ring against a naive model: a list of all accepted exemplars, truncated to the
    /// newest `cap`.
    fn naive(cap: usize, ops: &[(u32, i64)]) -> Vec<(u32, i64)> {
        let mut kept: Vec<(u32, i64)> = Vec::new();
        for &(s, t) in ops {
            // Checked against the series' newest exemplar still kept.
            let in_ring = kept.iter().rev().find(|k| k.0 == s).map(|k| k.1);
            match in_ring {
                Some(n) if t < n => continue,
                Some(n) if t == n => continue, // identical value below: a duplicate
                _ => {}
            }
            kept.push((s, t));
            if kept.len() > cap {
                kept.remove(0);
            }
        }
        kept
    }

    proptest! {
        #[test]
        fn ring_matches_naive(cap in 1usize..8, ops in proptest::collection::vec((0u32..4, 0i64..20), 0..60)) {
            let store = ExemplarStore::new(cap);
            for &(s, t) in &ops {
                let _ = store.add(s, &ex(t, 1.0));
            }
            let want = naive(cap, &ops);
            for s in 0..4 {
                let got: Vec<i64> = store.series(s, i64::MIN, i64::MAX).iter().map(|e| e.timestamp.unwrap()).collect();
                let w: Vec<i64> = want.iter().filter(|k| k.0 == s).map(|k| k.1).collect();
                prop_assert_eq!(got, w, "series {}", s);
            }
            prop_assert_eq!(store.stats().exemplars_in_storage, want.len());
            prop_assert_eq!(store.stats().series_with_exemplars,
                want.iter().map(|k| k.0).collect::<std::collections::HashSet<_>>().len());
        }
    }
}
