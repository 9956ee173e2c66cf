//! The streaming parsers allocate nothing per sample: parsing 10 samples and 10,000
//! samples makes the same number of heap allocations (zero), counted by a global
//! allocator installed only in this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use ember_exposition::{Entry, openmetrics, text};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; we only count.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `n` samples of distinct series with 8 labels each, in a few histogram and gauge
/// families, with timestamps (seconds in OpenMetrics, milliseconds in text).
fn payload(n: usize, om: bool) -> String {
    let mut s = String::new();
    let per_family = 100;
    for f in 0..n.div_ceil(per_family) {
        writeln!(s, "# HELP fam_{f} Family {f}.").unwrap();
        writeln!(s, "# TYPE fam_{f} gauge").unwrap();
        for i in 0..per_family.min(n - f * per_family) {
            write!(s, "fam_{f}{{").unwrap();
            for l in 0..8 {
                if l > 0 {
                    s.push(',');
                }
                write!(s, "label_{l}=\"value-{i}-{l}\"").unwrap();
            }
            let ts = if om { "1700000000.5" } else { "1700000000500" };
            writeln!(s, "}} {}.25 {ts}", i * 7).unwrap();
        }
    }
    if om {
        s.push_str("# EOF\n");
    }
    s
}

fn count<F: FnOnce() -> usize>(f: F) -> (usize, usize) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let samples = f();
    (ALLOCATIONS.load(Ordering::Relaxed) - before, samples)
}

fn touch(entry: Entry<'_>, sum: &mut f64) -> usize {
    match entry {
        Entry::Sample(s) => {
            *sum += s.value + s.timestamp.unwrap_or(0) as f64;
            for (n, v) in s.labels.iter() {
                *sum += (n.len() + v.len()) as f64;
            }
            1
        }
        _ => 0,
    }
}

#[test]
fn streaming_parsers_do_not_allocate_per_sample() {
    for om in [false, true] {
        let small = payload(10, om);
        let large = payload(10_000, om);
        let mut sum = 0.0;
        let mut run = |input: &str| {
            count(|| {
                if om {
                    openmetrics::Parser::new(input).map(|e| touch(e.unwrap(), &mut sum)).sum()
                } else {
                    text::Parser::new(input).map(|e| touch(e.unwrap(), &mut sum)).sum()
                }
            })
        };
        let (a_small, n_small) = run(&small);
        let (a_large, n_large) = run(&large);
        let format = if om { "openmetrics" } else { "text" };
        println!("{format}: {a_small} allocations for {n_small} samples, {a_large} allocations for {n_large} samples");
        assert_eq!((n_small, n_large), (10, 10_000));
        assert_eq!(a_small, a_large, "{format}: allocations grow with the number of samples");
        assert_eq!(a_large, 0, "{format}: the streaming parser allocated");
        assert!(sum > 0.0);
    }
}
