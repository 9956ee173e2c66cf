//! How long do typical queries take over a head of 10,000 series x 2 h at 15 s (4.8 M
//! samples), as instant queries and as range queries over the 2 h at a 30 s step?
//! The data and queries are in `support/data.rs` (shared with the `engine_peer` example,
//! which times the same queries against a Prometheus server).

#[path = "support/data.rs"]
mod data;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ember_promql::engine::{Engine, EngineOptions};

fn bench(c: &mut Criterion) {
    let head = data::build_head();
    let engine = Engine::new(EngineOptions::default());
    let end = data::T0 + (data::SAMPLES - 1) * data::STEP_MS;
    let start = end - 2 * 3600 * 1000;
    let mut g = c.benchmark_group("engine");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for (name, q) in data::QUERIES {
        g.bench_function(format!("instant/{name}"), |b| {
            b.iter(|| black_box(engine.instant_query(&head, q, end).unwrap()))
        });
        g.bench_function(format!("range/{name}"), |b| {
            b.iter(|| black_box(engine.range_query(&head, q, start, end, 30_000).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
