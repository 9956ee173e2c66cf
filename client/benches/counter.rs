//! Counter inc and gauge set on one thread: ember-client against prometheus-client 0.25 and
//! prometheus 0.14. (Two threads on one counter: `benches/contended.rs`.)

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

fn counter_inc(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_inc");
    let ours = ember_client::Counter::<u64>::new();
    g.bench_function("ember", |b| b.iter(|| black_box(&ours).inc()));
    let pc: prometheus_client::metrics::counter::Counter = Default::default();
    g.bench_function("prometheus_client", |b| b.iter(|| black_box(&pc).inc()));
    let p = prometheus::IntCounter::new("c", "c").unwrap();
    g.bench_function("prometheus", |b| b.iter(|| black_box(&p).inc()));
    g.finish();
}

fn gauge_set(c: &mut Criterion) {
    let mut g = c.benchmark_group("gauge_set");
    let ours = ember_client::Gauge::<i64>::new();
    g.bench_function("ember", |b| b.iter(|| black_box(&ours).set(black_box(42))));
    let pc: prometheus_client::metrics::gauge::Gauge = Default::default();
    g.bench_function("prometheus_client", |b| b.iter(|| black_box(&pc).set(black_box(42))));
    let p = prometheus::IntGauge::new("g", "g").unwrap();
    g.bench_function("prometheus", |b| b.iter(|| black_box(&p).set(black_box(42))));
    g.finish();
}

/// The same operations measured by this thread's CPU time rather than wall time.
fn cpu_time(_: &mut Criterion) {
    const N: u64 = 2_000_000;
    let ours = ember_client::Counter::<u64>::new();
    let pc: prometheus_client::metrics::counter::Counter = Default::default();
    let p = prometheus::IntCounter::new("c", "c").unwrap();
    common::cpu_compare(
        "counter_inc",
        N,
        &mut [
            ("ember", &mut |n| common::cpu_ns(n, |_| black_box(&ours).inc())),
            ("prometheus_client", &mut |n| {
                common::cpu_ns(n, |_| {
                    black_box(&pc).inc();
                })
            }),
            ("prometheus", &mut |n| common::cpu_ns(n, |_| black_box(&p).inc())),
        ],
    );
    let og = ember_client::Gauge::<i64>::new();
    let pcg: prometheus_client::metrics::gauge::Gauge = Default::default();
    let pg = prometheus::IntGauge::new("g", "g").unwrap();
    common::cpu_compare(
        "gauge_set",
        N,
        &mut [
            ("ember", &mut |n| common::cpu_ns(n, |i| black_box(&og).set(i as i64))),
            ("prometheus_client", &mut |n| {
                common::cpu_ns(n, |i| {
                    black_box(&pcg).set(i as i64);
                })
            }),
            ("prometheus", &mut |n| common::cpu_ns(n, |i| black_box(&pg).set(i as i64))),
        ],
    );
}

criterion_group! { name = benches; config = common::config(); targets = counter_inc, gauge_set, cpu_time }
criterion_main!(benches);
