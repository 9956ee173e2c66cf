//! Per-thread stripe selection for contended cells (used by histograms).
//!
//! Each thread carries a probe, seeded from a global sequence on first use. A metric with
//! `n` stripes (a power of two) uses stripe `probe & (n - 1)`; when a thread notices
//! contention (a failed compare-and-swap), it moves to another stripe, so threads that
//! hammer the same metric settle on different cache lines.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

static SEED: AtomicU32 = AtomicU32::new(0);

thread_local! {
    static PROBE: Cell<u32> = const { Cell::new(0) };
}

/// The current thread's probe (never zero).
#[inline]
pub(crate) fn probe() -> u32 {
    PROBE.with(|p| {
        let v = p.get();
        if v != 0 {
            return v;
        }
        // Golden-ratio steps spread consecutive threads over the stripes.
        let v = SEED.fetch_add(0x9e37_79b9, Relaxed).wrapping_add(0x9e37_79b9) | 1;
        p.set(v);
        v
    })
}

/// Moves the current thread to another stripe after contention.
#[cold]
pub(crate) fn advance() {
    PROBE.with(|p| {
        let mut x = p.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p.set(x | 1);
    })
}

/// How many stripes a contended metric gets: twice the parallelism, rounded up to a power
/// of two, between 2 and 16.
pub(crate) fn stripes() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        let p = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        (p * 2).next_power_of_two().clamp(2, 16)
    })
}
