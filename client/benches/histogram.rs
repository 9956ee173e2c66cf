//! Histogram observe, alone and with a second thread observing the same histogram:
//! ember-client against prometheus-client 0.25 and prometheus 0.14, default buckets.

mod common;

use std::hint::black_box;
use std::sync::Arc;

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

fn observe_2_threads(c: &mut Criterion) {
    let vals: Arc<[f64]> = common::values(1024).into();
    let (ours, pc, p) = peers();
    let mut g = c.benchmark_group("histogram_observe_2_threads");
    let v = vals.clone();
    let op = Arc::new(move |i: u64| ours.observe(black_box(v[i as usize & 1023])));
    g.bench_function("ember", |b| b.iter_custom(|n| common::contended(n, op.clone())));
    let v = vals.clone();
    let op = Arc::new(move |i: u64| pc.observe(black_box(v[i as usize & 1023])));
    g.bench_function("prometheus_client", |b| b.iter_custom(|n| common::contended(n, op.clone())));
    let v = vals.clone();
    let op = Arc::new(move |i: u64| p.observe(black_box(v[i as usize & 1023])));
    g.bench_function("prometheus", |b| b.iter_custom(|n| common::contended(n, op.clone())));
    g.finish();
}

/// The same operations measured by this thread's CPU time rather than wall time.
fn cpu_time(_: &mut Criterion) {
    const N: u64 = 1_000_000;
    let vals: Arc<[f64]> = common::values(1024).into();
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
    let (v1, v2, v3) = (vals.clone(), vals.clone(), vals.clone());
    let ours = Arc::new(move |i: u64| ours.observe(black_box(v1[i as usize & 1023])));
    let pc = Arc::new(move |i: u64| pc.observe(black_box(v2[i as usize & 1023])));
    let p = Arc::new(move |i: u64| p.observe(black_box(v3[i as usize & 1023])));
    common::cpu_compare(
        "histogram_observe_2_threads",
        N,
        &mut [
            ("ember", &mut |n| common::cpu_ns_contended(n, ours.clone())),
            ("prometheus_client", &mut |n| common::cpu_ns_contended(n, pc.clone())),
            ("prometheus", &mut |n| common::cpu_ns_contended(n, p.clone())),
        ],
    );
}

criterion_group! { name = benches; config = common::config(); targets = observe, observe_2_threads, cpu_time }
criterion_main!(benches);
