//! Labelled lookup + inc with 2 labels, child already present: ember-client against
//! prometheus-client 0.25 and prometheus 0.14. 100 children exist; the same child is hit
//! (`family_lookup_inc`), or 8 children in turn (`family_lookup_inc_rotating`, so no
//! shortcut for a repeated child applies).
//! (Two threads on one family: `benches/contended.rs`.)

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use prometheus_client::encoding::EncodeLabelSet;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PcLabels {
    method: String,
    code: String,
}

/// The children `family_lookup_inc_rotating` takes in turn (all among the 100).
const ROTATE: [&str; 8] = ["200", "213", "227", "241", "250", "262", "278", "299"];

fn codes() -> Vec<String> {
    (0..100).map(|i| (200 + i).to_string()).collect()
}

fn lookup_inc(c: &mut Criterion) {
    let codes: &'static [String] = Box::leak(codes().into_boxed_slice());
    let mut g = c.benchmark_group("family_lookup_inc");

    let ours = ember_client::Family::<ember_client::Counter>::new(&["method", "code"]).unwrap();
    for code in codes {
        ours.with_label_values(&["GET", code]).inc();
    }
    g.bench_function("ember", |b| b.iter(|| ours.with_label_values(black_box(&["GET", "250"])).inc()));

    #[derive(ember_client::LabelSet)]
    struct Typed<'a> {
        method: &'a str,
        code: &'a str,
    }
    let typed = ember_client::TypedFamily::<Typed<'static>, ember_client::Counter>::new().unwrap();
    for code in codes {
        typed.with_labels(&Typed { method: "GET", code }).inc();
    }
    g.bench_function("ember_typed", |b| {
        b.iter(|| typed.with_labels(black_box(&Typed { method: "GET", code: "250" })).inc())
    });

    let pc =
        prometheus_client::metrics::family::Family::<PcLabels, prometheus_client::metrics::counter::Counter>::default();
    for code in codes {
        pc.get_or_create(&PcLabels { method: "GET".into(), code: code.clone() }).inc();
    }
    let key = PcLabels { method: "GET".into(), code: "250".into() };
    g.bench_function("prometheus_client", |b| b.iter(|| pc.get_or_create(black_box(&key)).inc()));

    let p = prometheus::IntCounterVec::new(prometheus::Opts::new("r", "r"), &["method", "code"]).unwrap();
    for code in codes {
        p.with_label_values(&["GET", code]).inc();
    }
    g.bench_function("prometheus", |b| b.iter(|| p.with_label_values(black_box(&["GET", "250"])).inc()));
    g.finish();
}

/// The same operations measured by this thread's CPU time rather than wall time.
fn cpu_time(_: &mut Criterion) {
    const N: u64 = 1_000_000;
    let codes: &'static [String] = Box::leak(codes().into_boxed_slice());
    let ours = ember_client::Family::<ember_client::Counter>::new(&["method", "code"]).unwrap();
    let pc =
        prometheus_client::metrics::family::Family::<PcLabels, prometheus_client::metrics::counter::Counter>::default();
    let p = prometheus::IntCounterVec::new(prometheus::Opts::new("r", "r"), &["method", "code"]).unwrap();
    for code in codes {
        ours.with_label_values(&["GET", code]).inc();
        pc.get_or_create(&PcLabels { method: "GET".into(), code: code.clone() }).inc();
        p.with_label_values(&["GET", code]).inc();
    }
    let key = PcLabels { method: "GET".into(), code: "250".into() };
    let keys: Vec<PcLabels> = ROTATE.iter().map(|c| PcLabels { method: "GET".into(), code: c.to_string() }).collect();
    common::cpu_compare(
        "family_lookup_inc_rotating",
        N,
        &mut [
            ("ember", &mut |n| {
                common::cpu_ns(n, |i| ours.with_label_values(black_box(&["GET", ROTATE[i as usize & 7]])).inc())
            }),
            ("prometheus_client", &mut |n| {
                common::cpu_ns(n, |i| {
                    pc.get_or_create(black_box(&keys[i as usize & 7])).inc();
                })
            }),
            ("prometheus", &mut |n| {
                common::cpu_ns(n, |i| p.with_label_values(black_box(&["GET", ROTATE[i as usize & 7]])).inc())
            }),
        ],
    );
    common::cpu_compare(
        "family_lookup_inc",
        N,
        &mut [
            ("ember", &mut |n| common::cpu_ns(n, |_| ours.with_label_values(black_box(&["GET", "250"])).inc())),
            ("prometheus_client", &mut |n| {
                common::cpu_ns(n, |_| {
                    pc.get_or_create(black_box(&key)).inc();
                })
            }),
            ("prometheus", &mut |n| common::cpu_ns(n, |_| p.with_label_values(black_box(&["GET", "250"])).inc())),
        ],
    );
}

criterion_group! { name = benches; config = common::config(); targets = lookup_inc, cpu_time }
criterion_main!(benches);
