//! "No allocation after the first use of a child": every update path, run many times after a
//! warm-up, allocates nothing on the updating thread. A counting global allocator counts the
//! allocations this thread makes while a closure runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use ember_client::{
    Buckets, Counter, Family, Gauge, Histogram, LabelSet, LabelValue, StateSet, Summary, SummaryOpts, TypedFamily,
};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting only touches a
// const-initialised thread-local `Cell`, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` once to warm up, then 1,000 times, and returns how many allocations (and
/// reallocations) this thread made during the 1,000.
fn allocations(mut f: impl FnMut(u64)) -> u64 {
    f(0);
    let before = ALLOCS.with(Cell::get);
    for i in 1..=1000 {
        f(i);
    }
    ALLOCS.with(Cell::get) - before
}

#[test]
fn the_counter_really_counts() {
    // The allocator is wired up: a Vec push after the warm-up does allocate.
    let mut v: Vec<u64> = Vec::new();
    assert!(allocations(|i| v.push(i)) > 0);
}

#[test]
fn counters_and_gauges() {
    let c = Counter::<u64>::new();
    let f = Counter::<f64>::new();
    let g = Gauge::<i64>::new();
    let gf = Gauge::<f64>::new();
    assert_eq!(allocations(|_| c.inc()), 0);
    assert_eq!(allocations(|i| c.inc_by(i)), 0);
    assert_eq!(allocations(|i| f.inc_by(i as f64 * 0.5)), 0);
    assert_eq!(allocations(|i| g.set(i as i64)), 0);
    assert_eq!(allocations(|_| g.dec()), 0);
    assert_eq!(allocations(|i| gf.add(i as f64)), 0);
    assert_eq!(allocations(|_| gf.set_to_current_time()), 0);
}

#[test]
fn histograms_and_summaries() {
    let h = Histogram::new(&ember_client::exponential_buckets(0.001, 2.0, 16).unwrap());
    assert_eq!(allocations(|i| h.observe(i as f64 / 1000.0)), 0);
    let s = Summary::new(
        SummaryOpts::default().quantiles(&[0.5, 0.9, 0.99]).max_age(Duration::from_millis(20)).age_buckets(5),
    )
    .unwrap();
    // The window rotates many times during the run (every 4 ms); the value range is the
    // warm-up's, so the sketches' buckets are reused.
    s.observe(0.5);
    s.observe(2000.0);
    assert_eq!(
        allocations(|i| {
            s.observe(1.0 + (i % 1000) as f64);
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }),
        0
    );
}

#[test]
fn exemplars_reuse_their_buffers() {
    let c = Counter::<f64>::new();
    let h = Histogram::new(&Buckets::new([0.1, 1.0]).unwrap());
    let ids: Vec<String> = (0..1001).map(|i| format!("{:032x}", i * 7919)).collect();
    assert_eq!(allocations(|i| c.inc_by_with_exemplar(1.0, &[("trace_id", &ids[i as usize])]).unwrap()), 0);
    assert_eq!(allocations(|i| h.observe_with_exemplar(0.5, &[("trace_id", &ids[i as usize])]).unwrap()), 0);
}

#[derive(LabelValue)]
enum Method {
    Get,
}

#[derive(LabelSet)]
struct Route {
    method: Method,
    code: &'static str,
}

#[test]
fn labelled_lookups_of_existing_children() {
    let fam = Family::<Counter>::new(&["method", "code"]).unwrap();
    assert_eq!(allocations(|_| fam.with_label_values(&["GET", "200"]).inc()), 0);
    // Rotating over several children, and a value longer than the cache's inline words.
    let children = [["GET", "200"], ["POST", "201"], ["GET", "404"], ["DELETE", "a-much-longer-label-value"]];
    for c in &children {
        fam.with_label_values(c).inc();
    }
    assert_eq!(allocations(|i| fam.with_label_values(&children[i as usize % 4]).inc()), 0);
    let hist = Family::<Histogram>::new_with(&["handler"], || Histogram::new(&Buckets::default())).unwrap();
    assert_eq!(allocations(|i| hist.with_label_values(&["/api"]).observe(i as f64)), 0);
    let typed = TypedFamily::<Route, Gauge>::new().unwrap();
    assert_eq!(allocations(|i| typed.with_labels(&Route { method: Method::Get, code: "200" }).set(i as i64)), 0);
    let states = StateSet::new(&["starting", "running", "stopped"]).unwrap();
    assert_eq!(allocations(|i| assert!(states.set_only(["starting", "running"][i as usize % 2]))), 0);
}
