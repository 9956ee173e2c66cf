//! Histogram observe on one thread: ember-client against prometheus-client 0.25 and
//! prometheus 0.14, default buckets. (Two threads on one histogram: `benches/contended.rs`.)

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

fn peers() -> (ember_client::Histogram, prometheus_client::metrics::histogram::Histogram, prometheus::Histogram) {
    let ours = ember_client::Histogram::new(&ember_client::Buckets::new(BUCKETS).unwrap());
    let pc = prometheus_client::metrics::histogram::Histogram::new(BUCKETS);
    let p =
        prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("h", "h").buckets(BUCKETS.to_vec())).unwrap();
    (ours, pc, p)
}

fn observe(c: &mut Criterion) {
    let vals = common::values(1024);
    let (ours, pc, p) = peers();
    let mut g = c.benchmark_group("histogram_observe");
    let mut i = 0;
    g.bench_function("ember", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            ours.observe(black_box(vals[i]))
        })
    });
    g.bench_function("prometheus_client", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            pc.observe(black_box(vals[i]))
        })
    });
    g.bench_function("prometheus", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            p.observe(black_box(vals[i]))
        })
    });
    g.finish();
}

/// The same operations measured by this thread's CPU time rather than wall time.
fn cpu_time(_: &mut Criterion) {
    const N: u64 = 1_000_000;
    let vals = common::values(1024);
    let (ours, pc, p) = peers();
    let v = &vals;
    common::cpu_compare(
        "histogram_observe",
        N,
        &mut [
            ("ember", &mut |n| common::cpu_ns(n, |i| ours.observe(black_box(v[i as usize & 1023])))),
            ("prometheus_client", &mut |n| common::cpu_ns(n, |i| pc.observe(black_box(v[i as usize & 1023])))),
            ("prometheus", &mut |n| common::cpu_ns(n, |i| p.observe(black_box(v[i as usize & 1023])))),
        ],
    );
}

criterion_group! { name = benches; config = common::config(); targets = observe, cpu_time }
criterion_main!(benches);
