//! The id → series map, read by appends without a lock or a reference count.
//!
//! A cached reference is resolved on every append, and the series it names is usually
//! not in cache: a locked instruction on that miss (a read lock, an `Arc` clone) stalls
//! the core until it completes, so misses are taken one at a time. Here an append reads
//! two hot pointers and the id's [`Slot`] with plain loads, and holds the series by raw
//! pointer. The slot also carries what an in-order append needs to know of the series
//! (its newest timestamp) and where its open chunk is: a scrape's series have
//! consecutive ids, so their slots are consecutive too, and an append touches no line of
//! the series itself; the commit prefetches the series and its chunk from the slot.
//!
//! **Reclamation.** Each non-null entry owns one strong count of its series. A reader
//! that keeps raw pointers *pins* the table for as long as it uses them (an appender pins
//! once, for its whole batch); a removed series is *retired* into a list tagged with the
//! epoch of its removal and dropped only when every pin taken at or before that epoch is
//! gone. Pins and retirements are counted under one mutex: an appender takes it twice per
//! batch, not per sample.

use std::collections::VecDeque;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::series::{MemSeries, SeriesInner, prefetch_line};

/// Entries per page; pages per directory; directories (ids are `u32`).
const PAGE_BITS: u32 = 12;
const DIR_BITS: u32 = 10;
const TOP: usize = 1 << (32 - PAGE_BITS - DIR_BITS);

type Page = Box<[Slot]>;

/// One id's entry.
#[repr(C, align(32))]
pub(crate) struct Slot {
    series: AtomicPtr<MemSeries>,
    /// Newest in-order timestamp of the series (`i64::MIN` when none). Written under
    /// the series' lock, read without it.
    pub(crate) max_t: AtomicI64,
    /// Addresses of the first and the last written byte of the series' open chunk (a
    /// prefetch hint; 0 when unknown).
    chunk_hint: [AtomicUsize; 2],
}

impl Slot {
    fn new() -> Self {
        Slot {
            series: AtomicPtr::new(ptr::null_mut()),
            max_t: AtomicI64::new(i64::MIN),
            chunk_hint: [AtomicUsize::new(0), AtomicUsize::new(0)],
        }
    }

    /// Records where the open chunk's bytes are, for [`prefetch_chunk`](Self::prefetch_chunk).
    #[inline]
    pub(crate) fn set_chunk_hint(&self, inner: &SeriesInner) {
        if let Some(o) = &inner.open {
            let b = o.enc.bytes();
            let start = b.as_ptr() as usize;
            self.chunk_hint[0].store(start, Ordering::Relaxed);
            self.chunk_hint[1].store(start + b.len().saturating_sub(1), Ordering::Relaxed);
        }
    }

    /// Asks the CPU to start loading what the next append to the open chunk writes (its
    /// header and its end), as last recorded.
    #[inline(always)]
    pub(crate) fn prefetch_chunk(&self) {
        let (a, b) = (self.chunk_hint[0].load(Ordering::Relaxed), self.chunk_hint[1].load(Ordering::Relaxed));
        if a != 0 {
            prefetch_line(a);
            if b / 64 != a / 64 {
                prefetch_line(b);
            }
        }
    }
}

/// A slot, by pointer: valid while the table is (slots are freed only with it).
#[derive(Clone, Copy)]
pub(crate) struct SlotRef(NonNull<Slot>);

// SAFETY: as for `SeriesPtr`: a shared reference in all but lifetime to a `Sync` type
// (atomics only).
#[allow(unsafe_code)]
unsafe impl Send for SlotRef {}

impl SlotRef {
    /// The slot.
    ///
    /// # Safety
    ///
    /// The table it came from is still alive.
    #[allow(unsafe_code)]
    #[inline(always)]
    pub(crate) unsafe fn get<'a>(self) -> &'a Slot {
        // SAFETY: slots live in pages that are freed only when the table is dropped, which
        // the caller guarantees has not happened; they are accessed by shared reference.
        unsafe { self.0.as_ref() }
    }
}
type Dir = Box<[OnceLock<Page>]>;

/// A series held by raw pointer, valid while the holder's [`Pin`] is (see the module doc).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeriesPtr(NonNull<MemSeries>);

// SAFETY: a `SeriesPtr` is a shared reference in all but lifetime, and `MemSeries` is
// `Sync` (its mutable state is behind a mutex and atomics), so sending or sharing the
// pointer across threads is as safe as sending `&MemSeries`.
#[allow(unsafe_code)]
unsafe impl Send for SeriesPtr {}
// SAFETY: as for `Send` above.
#[allow(unsafe_code)]
unsafe impl Sync for SeriesPtr {}

impl SeriesPtr {
    pub(crate) fn of(s: &Arc<MemSeries>) -> Self {
        SeriesPtr(NonNull::from(&**s))
    }

    /// The series.
    ///
    /// # Safety
    ///
    /// The pointer came from [`SeriesTable::get_ptr`] under a pin the caller still holds,
    /// or from an `Arc` the caller still holds (the series is not freed before either is
    /// released).
    #[allow(unsafe_code)]
    #[inline(always)]
    pub(crate) unsafe fn get<'a>(self) -> &'a MemSeries {
        // SAFETY: per the contract above the allocation is live; `MemSeries` is only ever
        // accessed through shared references.
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn addr(self) -> *const MemSeries {
        self.0.as_ptr()
    }
}

/// A pin: pointers read under it stay valid until it is passed to [`SeriesTable::unpin`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub(crate) struct Pin(u64);

#[derive(Default)]
struct Epochs {
    current: u64,
    /// (epoch, open pins taken in it), epochs increasing.
    pinned: VecDeque<(u64, usize)>,
    /// (epoch of removal, series), epochs increasing.
    retired: VecDeque<(u64, Arc<MemSeries>)>,
}

impl Epochs {
    /// Retired series no pin can still see.
    fn collect(&mut self, out: &mut Vec<Arc<MemSeries>>) {
        let oldest = self.pinned.front().map_or(u64::MAX, |e| e.0);
        while self.retired.front().is_some_and(|r| r.0 < oldest) {
            out.extend(self.retired.pop_front().map(|r| r.1));
        }
    }
}

pub(crate) struct SeriesTable {
    top: Box<[OnceLock<Dir>]>,
    epochs: Mutex<Epochs>,
}

impl Default for SeriesTable {
    fn default() -> Self {
        SeriesTable { top: (0..TOP).map(|_| OnceLock::new()).collect(), epochs: Mutex::default() }
    }
}

impl Drop for SeriesTable {
    fn drop(&mut self) {
        for dir in self.top.iter_mut().filter_map(OnceLock::get_mut) {
            for page in dir.iter_mut().filter_map(OnceLock::get_mut) {
                for e in page.iter_mut() {
                    let p = std::mem::replace(e.series.get_mut(), ptr::null_mut());
                    if !p.is_null() {
                        #[allow(unsafe_code)]
                        // SAFETY: a non-null entry owns one strong count, from `Arc::into_raw`
                        // in `insert`; the entry is cleared, so it is given back exactly once.
                        drop(unsafe { Arc::from_raw(p) });
                    }
                }
            }
        }
    }
}

#[inline(always)]
fn split(id: u32) -> (usize, usize, usize) {
    let id = id as usize;
    (id >> (PAGE_BITS + DIR_BITS), (id >> PAGE_BITS) & ((1 << DIR_BITS) - 1), id & ((1 << PAGE_BITS) - 1))
}

impl SeriesTable {
    #[inline(always)]
    fn entry(&self, id: u32) -> Option<&Slot> {
        let (a, b, c) = split(id);
        Some(&self.top[a].get()?[b].get()?[c])
    }

    fn entry_or_new(&self, id: u32) -> &Slot {
        let (a, b, c) = split(id);
        let dir = self.top[a].get_or_init(|| (0..1 << DIR_BITS).map(|_| OnceLock::new()).collect());
        let page = dir[b].get_or_init(|| (0..1 << PAGE_BITS).map(|_| Slot::new()).collect());
        &page[c]
    }

    /// Pins the table (see the module doc).
    pub(crate) fn pin(&self) -> Pin {
        let mut e = self.epochs.lock();
        let now = e.current;
        match e.pinned.back_mut() {
            Some((epoch, n)) if *epoch == now => *n += 1,
            _ => e.pinned.push_back((now, 1)),
        }
        Pin(now)
    }

    /// Releases a pin; series retired since it was taken may be dropped.
    pub(crate) fn unpin(&self, pin: Pin) {
        let mut free = Vec::new();
        {
            let mut e = self.epochs.lock();
            if let Some(i) = e.pinned.iter().position(|p| p.0 == pin.0) {
                e.pinned[i].1 -= 1;
                if e.pinned[i].1 == 0 {
                    e.pinned.remove(i);
                }
            }
            e.collect(&mut free);
        }
        // Series (and their chunks) are freed outside the lock.
        drop(free);
    }

    /// The series with this id, as a pointer valid while `_pin` is held, and its slot.
    #[inline(always)]
    pub(crate) fn get_ptr(&self, id: u64, _pin: &Pin) -> Option<(SeriesPtr, SlotRef)> {
        let e = self.entry(u32::try_from(id).ok()?)?;
        NonNull::new(e.series.load(Ordering::Acquire)).map(|p| (SeriesPtr(p), SlotRef(NonNull::from(e))))
    }

    /// The slot of `id` (created if need be: a series is found by labels before it is
    /// inserted here).
    pub(crate) fn slot(&self, id: u32) -> SlotRef {
        SlotRef(NonNull::from(self.entry_or_new(id)))
    }

    /// The series with this id, shared.
    pub(crate) fn get_arc(&self, id: u64, pin: &Pin) -> Option<Arc<MemSeries>> {
        let (p, _) = self.get_ptr(id, pin)?;
        #[allow(unsafe_code)]
        // SAFETY: `p` was read under `pin`, so the table's or the retired list's strong
        // count keeps the allocation alive, and it came from `Arc::into_raw`; taking one
        // more count and turning it into an `Arc` is balanced by that `Arc`'s drop.
        unsafe {
            Arc::increment_strong_count(p.addr());
            Some(Arc::from_raw(p.addr()))
        }
    }

    /// [`get_arc`](Self::get_arc) under a pin of its own.
    pub(crate) fn get(&self, id: u64) -> Option<Arc<MemSeries>> {
        let pin = self.pin();
        let s = self.get_arc(id, &pin);
        self.unpin(pin);
        s
    }

    /// Whether an entry exists for `id`.
    pub(crate) fn contains(&self, id: u32) -> bool {
        self.entry(id).is_some_and(|e| !e.series.load(Ordering::Acquire).is_null())
    }

    /// Stores `s` under its id. A series already there is retired (callers hand out
    /// fresh ids, so there is none).
    pub(crate) fn insert(&self, s: &Arc<MemSeries>) {
        let new = Arc::into_raw(Arc::clone(s)).cast_mut();
        let e = self.entry_or_new(s.id);
        e.max_t.store(i64::MIN, Ordering::Release);
        e.chunk_hint[0].store(0, Ordering::Relaxed);
        let old = e.series.swap(new, Ordering::AcqRel);
        if let Some(old) = NonNull::new(old) {
            self.retire(old);
        }
    }

    /// Removes `s` if it is still the series under its id.
    pub(crate) fn remove(&self, s: &Arc<MemSeries>) {
        let Some(e) = self.entry(s.id) else { return };
        let p = Arc::as_ptr(s).cast_mut();
        if e.series.compare_exchange(p, ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire).is_ok() {
            // `p` is non-null: it came from an `Arc`.
            self.retire(NonNull::from(&**s));
        }
    }

    /// Takes over the strong count an entry held, after the entry was cleared.
    fn retire(&self, p: NonNull<MemSeries>) {
        #[allow(unsafe_code)]
        // SAFETY: the caller unlinked `p` from its entry, whose strong count (from
        // `Arc::into_raw` in `insert`) is taken over here exactly once.
        let s = unsafe { Arc::from_raw(p.as_ptr().cast_const()) };
        let mut free = Vec::new();
        {
            let mut e = self.epochs.lock();
            let now = e.current;
            e.retired.push_back((now, s));
            // Pins taken from now on cannot see `s`.
            e.current += 1;
            e.collect(&mut free);
        }
        drop(free);
    }

    /// Every series, in id order.
    pub(crate) fn all(&self) -> Vec<Arc<MemSeries>> {
        let pin = self.pin();
        let mut out = Vec::new();
        for dir in self.top.iter().filter_map(OnceLock::get) {
            for page in dir.iter().filter_map(OnceLock::get) {
                for e in page.iter() {
                    if let Some(p) = NonNull::new(e.series.load(Ordering::Acquire)) {
                        #[allow(unsafe_code)]
                        // SAFETY: as in `get_arc`: read under `pin`, from `Arc::into_raw`.
                        unsafe {
                            Arc::increment_strong_count(p.as_ptr());
                            out.push(Arc::from_raw(p.as_ptr().cast_const()));
                        }
                    }
                }
            }
        }
        self.unpin(pin);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(id: u32) -> Arc<MemSeries> {
        Arc::new(MemSeries::new(id, 0, Box::new([])))
    }

    #[test]
    fn a_removed_series_lives_until_older_pins_are_gone() {
        let t = SeriesTable::default();
        let s = series(5);
        t.insert(&s);
        let pin = t.pin();
        let (p, _) = t.get_ptr(5, &pin).unwrap();
        assert_eq!(Arc::strong_count(&s), 2);
        t.remove(&s);
        assert!(t.get_ptr(5, &pin).is_none());
        // The table's count moved to the retired list: `p` is still valid.
        assert_eq!(Arc::strong_count(&s), 2);
        #[allow(unsafe_code)]
        // SAFETY: `p` was read under `pin`, still held.
        let id = unsafe { p.get() }.id;
        assert_eq!(id, 5);
        // A later pin does not hold it back.
        let later = t.pin();
        t.unpin(pin);
        assert_eq!(Arc::strong_count(&s), 1);
        t.unpin(later);
    }

    #[test]
    fn ids_across_pages_and_directories() {
        let t = SeriesTable::default();
        let ids = [0, 1, 4095, 4096, (1 << 22) - 1, 1 << 22, u32::MAX - 1];
        let all: Vec<_> = ids.iter().map(|&id| series(id)).collect();
        for s in &all {
            t.insert(s);
        }
        for &id in &ids {
            assert_eq!(t.get(id as u64).map(|s| s.id), Some(id));
        }
        assert!(t.get(2).is_none());
        assert!(t.get(u64::from(u32::MAX) + 1).is_none());
        assert_eq!(t.all().iter().map(|s| s.id).collect::<Vec<_>>(), ids);
        drop(t);
        assert!(all.iter().all(|s| Arc::strong_count(s) == 1));
    }
}
