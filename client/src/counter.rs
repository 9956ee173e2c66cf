//! [`Counter`]: a monotonically increasing integer or float.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;

use parking_lot::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use ember_exposition::MetricType;

use crate::encode::{Metric, MetricEncoder};
use crate::error::Result;
use crate::exemplar::{ExemplarSlot, now_seconds};
use crate::number::Number;

/// A counter: `u64` (the default) or `f64`.
///
/// Cloning gives another handle to the same value.
///
/// The first thread that increments a counter becomes its *owner* and adds with a plain
/// load and store to a cell only it writes (no locked instruction: about half the time of
/// a `fetch_add`, and for a float counter no compare-and-swap loop). Every other thread
/// adds with one relaxed `fetch_add` (a compare-and-swap loop for floats) to a second
/// cell on another cache line, so the owner never waits for them and two threads
/// updating one counter do not bounce a cache line between them. A read adds the two
/// cells. When the owner thread exits, the next thread to increment the counter takes
/// the ownership over; a cell never has two writers.
#[derive(Debug)]
pub struct Counter<N: Number = u64> {
    core: Arc<CounterCore>,
    _n: PhantomData<N>,
}

/// A counter's cells, each on its own 64-byte line: the read-mostly fields (the owner's
/// id is read by every increment), the owner's cell, the shared cell.
#[derive(Debug)]
#[repr(C, align(64))]
struct CounterCore {
    /// The owning thread's id ([`UNCLAIMED`] until the first increment).
    owner: AtomicU64,
    created: f64,
    exemplar: ExemplarSlot,
    own: Line,
    shared: Line,
}

/// One cell alone on a cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Line(AtomicU64);

/// No thread owns the counter yet. No thread id has all bits set (see [`thread_id`]), and
/// a thread without an id reads 0, so neither ever matches this or a real owner.
const UNCLAIMED: u64 = u64::MAX;

/// Thread ids are `generation << SLOT_BITS | slot`: a slot is held by one live thread at a
/// time and reused after it exits, under a new generation.
const SLOT_BITS: u32 = 10;
const SLOTS: usize = 1 << SLOT_BITS;

/// Per slot, the id of the live thread holding it (0 when free).
static LIVE: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
/// The next never-used slot.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
/// Ids to hand out next: freed slots under their next generation.
static FREE_IDS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's id (0 until its first claim attempt, and again once it is exiting).
    /// No destructor, so reading it is a plain thread-local load.
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
    /// Frees the id's slot when the thread exits.
    static ID_GUARD: IdGuard = const { IdGuard };
}

/// Frees this thread's slot when the thread exits, which ends its ownerships: the next
/// thread that finds a counter's owner gone takes the counter over (see
/// [`CounterCore::claim_and_add`]).
struct IdGuard;

impl Drop for IdGuard {
    fn drop(&mut self) {
        let id = THREAD_ID.with(|id| id.replace(0));
        if id != 0 {
            let slot = id as usize & (SLOTS - 1);
            // Release: everything this thread wrote to the cells it owned happens before a
            // claimer that sees the slot free (or held by a later generation).
            LIVE[slot].store(0, Release);
            let next = (id >> SLOT_BITS).wrapping_add(1).max(1);
            // Generations wrap after 2^54 reuses of one slot; the all-ones id is skipped.
            let next_id = (next << SLOT_BITS) | slot as u64;
            if next_id != UNCLAIMED {
                FREE_IDS.lock().push(next_id);
            }
        }
    }
}

/// This thread's id, given out on first use; 0 when there is none (more than [`SLOTS`]
/// threads alive at once, or a thread already being torn down): such a thread never owns
/// a counter and adds to shared cells.
#[cold]
fn thread_id() -> u64 {
    let id = THREAD_ID.with(Cell::get);
    if id != 0 {
        return id;
    }
    // Register the guard first: a thread being torn down (the guard is gone) gets no id.
    if ID_GUARD.try_with(|_| ()).is_err() {
        return 0;
    }
    let id = match FREE_IDS.lock().pop() {
        Some(id) => id,
        None => match NEXT_SLOT.fetch_add(1, Relaxed) {
            slot if slot < SLOTS => (1 << SLOT_BITS) | slot as u64,
            _ => return 0,
        },
    };
    // Release: a claimer that reads this id here also sees the previous holder's writes
    // (they happen before its free, which happens before our pop under the mutex).
    LIVE[id as usize & (SLOTS - 1)].store(id, Release);
    THREAD_ID.with(|c| c.set(id));
    id
}

/// Whether the thread `owner` names is still alive.
#[inline(always)]
fn alive(owner: u64) -> bool {
    LIVE[owner as usize & (SLOTS - 1)].load(Acquire) == owner
}

impl<N: Number> Clone for Counter<N> {
    fn clone(&self) -> Self {
        Counter { core: self.core.clone(), _n: PhantomData }
    }
}

impl<N: Number> Default for Counter<N> {
    fn default() -> Self {
        Counter {
            core: Arc::new(CounterCore {
                owner: AtomicU64::new(UNCLAIMED),
                created: now_seconds(),
                exemplar: ExemplarSlot::default(),
                own: Line(AtomicU64::new(N::to_bits(N::ZERO))),
                shared: Line(AtomicU64::new(N::to_bits(N::ZERO))),
            }),
            _n: PhantomData,
        }
    }
}

impl CounterCore {
    /// Adds `v`: a plain load and store on the owner's cell from the owner thread, a
    /// read-modify-write on the shared cell from any other.
    #[inline(always)]
    fn add<N: Number>(&self, v: N) {
        // Acquire (free on x86): a thread that sees an owner also sees that owner's slot
        // marked live (the owner marked it before its release compare-and-swap), so it
        // cannot mistake a live owner for an exited one.
        let owner = self.owner.load(Acquire);
        if owner == THREAD_ID.with(Cell::get) {
            // Only the owner thread writes `own` (an id belongs to one live thread, and a
            // counter changes owner only once its owner has exited), so a load and a
            // store cannot lose an update.
            let own = &self.own.0;
            own.store(N::add_bits(own.load(Relaxed), v), Relaxed);
        } else if owner != UNCLAIMED && alive(owner) {
            N::add(&self.shared.0, v);
        } else {
            self.claim_and_add(owner, v);
        }
    }

    /// The counter has no owner, or its owner has exited: this thread tries to become
    /// the owner. Winning the compare-and-swap from the owner this thread saw makes it the
    /// only writer of `own`; the exited owner's last writes happen before (see
    /// [`IdGuard`]), so adding on top of them loses nothing.
    #[cold]
    #[inline(never)]
    fn claim_and_add<N: Number>(&self, seen: u64, v: N) {
        let me = thread_id();
        let owns = me != 0
            && match self.owner.compare_exchange(seen, me, AcqRel, Relaxed) {
                Ok(_) => true,
                Err(current) => current == me,
            };
        if owns {
            let own = &self.own.0;
            own.store(N::add_bits(own.load(Relaxed), v), Relaxed);
        } else {
            N::add(&self.shared.0, v);
        }
    }

    fn get<N: Number>(&self) -> N {
        N::from_bits(N::add_bits(self.own.0.load(Relaxed), N::load(&self.shared.0)))
    }
}

impl<N: Number> Counter<N> {
    /// A counter at zero, created now.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.core.add(N::ONE);
    }

    /// Adds `v`; negative and NaN increments are ignored (a counter never goes down).
    #[inline]
    pub fn inc_by(&self, v: N) {
        if v.is_valid_increment() {
            self.core.add(v);
        }
    }

    /// Adds `v` and records an exemplar (e.g. `&[("trace_id", id)]`) for OpenMetrics scrapes.
    ///
    /// The value is added even when the exemplar is refused (labels longer than 128 characters
    /// or invalid label names); the error says why.
    pub fn inc_by_with_exemplar(&self, v: N, exemplar: &[(&str, &str)]) -> Result<()> {
        if !v.is_valid_increment() {
            return Ok(());
        }
        self.core.add(v);
        self.core.exemplar.set(exemplar, v.as_f64())
    }

    /// The current value.
    pub fn get(&self) -> N {
        self.core.get()
    }

    /// When the counter was created, in seconds since the Unix epoch.
    pub fn created(&self) -> f64 {
        self.core.created
    }
}

impl<N: Number> Metric for Counter<N> {
    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    fn encode(&self, enc: &mut MetricEncoder<'_>) {
        let ex = self.core.exemplar.get();
        enc.sample_with_exemplar("_total", None, self.get(), ex.as_ref());
        if enc.is_openmetrics() {
            enc.sample("_created", None, self.core.created);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_sit_on_their_own_lines() {
        assert_eq!(std::mem::align_of::<CounterCore>(), 64);
        assert_eq!(std::mem::size_of::<CounterCore>(), 192);
        assert_eq!(std::mem::offset_of!(CounterCore, own), 64);
        assert_eq!(std::mem::offset_of!(CounterCore, shared), 128);
    }

    #[test]
    fn many_threads_lose_no_increment() {
        let c = Counter::<u64>::new();
        let f = Counter::<f64>::new();
        std::thread::scope(|s| {
            for t in 0..6u64 {
                let (c, f) = (&c, &f);
                s.spawn(move || {
                    for i in 0..50_000u64 {
                        c.inc();
                        c.inc_by(t);
                        // Small integers add exactly in f64.
                        f.inc_by((i % 3) as f64);
                    }
                });
            }
        });
        assert_eq!(c.get(), 6 * 50_000 + 50_000 * (0..6).sum::<u64>());
        assert_eq!(f.get(), 6.0 * (0..50_000u64).map(|i| (i % 3) as f64).sum::<f64>());
        // Some thread owned the counter (and, as owners exited, others took it over).
        assert_ne!(c.core.owner.load(Relaxed), UNCLAIMED);
        assert!(c.core.own.0.load(Relaxed) > 0);
    }

    #[test]
    fn the_owner_exiting_loses_nothing() {
        let c = Counter::<u64>::new();
        std::thread::scope(|s| {
            s.spawn(|| (0..1000).for_each(|_| c.inc()));
        });
        let owner = c.core.owner.load(Relaxed);
        assert_ne!(owner, UNCLAIMED);
        // The owner exited (scope returns once the thread's closure has; its thread-locals
        // are torn down just after): wait for its slot to be freed.
        let t0 = std::time::Instant::now();
        while alive(owner) {
            assert!(t0.elapsed() < std::time::Duration::from_secs(10), "the owner's slot was never freed");
            std::thread::yield_now();
        }
        // The next thread to increment takes the counter over and adds on top of the
        // exited owner's count.
        std::thread::scope(|s| {
            s.spawn(|| {
                c.inc_by(5);
                assert_eq!(c.core.owner.load(Relaxed), THREAD_ID.with(Cell::get));
            });
        });
        assert_eq!(c.get(), 1005);
        assert_eq!(c.core.own.0.load(Relaxed), 1005);
    }

    #[test]
    fn ownership_handed_on_by_short_lived_threads_loses_nothing() {
        // Owners keep exiting while others add: every hand-over races with increments.
        let c = Counter::<u64>::new();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let steady = std::thread::scope(|s| {
            let steady = s.spawn(|| {
                let mut n = 0u64;
                while !stop.load(Relaxed) {
                    c.inc();
                    n += 1;
                }
                n
            });
            for _ in 0..20 {
                std::thread::scope(|w| {
                    for _ in 0..3 {
                        w.spawn(|| (0..10_000).for_each(|_| c.inc()));
                    }
                });
            }
            stop.store(true, Relaxed);
            steady.join().unwrap()
        });
        assert_eq!(c.get(), steady + 20 * 3 * 10_000);
    }

    #[test]
    fn invalid_increments_are_ignored() {
        let f = Counter::<f64>::new();
        f.inc_by(-1.0);
        f.inc_by(f64::NAN);
        f.inc_by(2.5);
        assert_eq!(f.get(), 2.5);
    }
}
