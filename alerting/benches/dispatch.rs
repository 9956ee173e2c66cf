//! How fast does the dispatcher route, ingest and flush?
//!
//! `cargo bench -p ember-alerting --bench dispatch -- --warm-up-time 1 --measurement-time 3`
//!
//! - `route/realistic`: `RouteTree::match_routes` for the 45 label sets of the
//!   realistic amtool test config (one iteration walks all 45).
//! - `put/10k`: ingesting 10,000 alerts into 100 groups.
//! - `poll/10k-unchanged`: flushing 100 groups (10,000 alerts) whose notifications the
//!   log suppresses.
//!
//! No Rust peer exists; Alertmanager (Go) is compared end to end by
//! `tests/alertmanager_compat.rs` for behaviour, not speed.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ember_alerting::dispatch::{Config, Dispatcher, ManualClock, PostableAlert};
use ember_exposition::Labels;

const T0: i64 = 1_704_067_200_000;

fn alerts(n: usize, groups: usize, ends: i64) -> Vec<PostableAlert> {
    // Deterministic "random" label values (xorshift), seeded.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| PostableAlert {
            labels: Labels::from_pairs([
                ("alertname", format!("Alert{}", i % groups)),
                ("instance", format!("host-{i}")),
                ("severity", ["warning", "critical", "page"][(next() % 3) as usize].to_string()),
                ("team", ["db", "web", "api"][(next() % 3) as usize].to_string()),
            ]),
            ends_at: Some(ends),
            starts_at: Some(T0),
            ..Default::default()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let cfg = Config::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/routes/realistic.yml")).unwrap();
    let label_sets: Vec<Labels> =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/routes/realistic.labels"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| Labels::from_pairs(l.split_whitespace().filter_map(|kv| kv.split_once('='))))
            .collect();
    c.bench_function("route/realistic", |b| {
        b.iter(|| {
            for l in &label_sets {
                black_box(cfg.route.match_routes(black_box(l)));
            }
        })
    });

    let cfg = Arc::new(
        Config::from_yaml(
            "route: {receiver: r, group_by: [alertname], group_wait: 30s, group_interval: 5m}\nreceivers: [{name: r, webhook_configs: [{url: 'http://127.0.0.1:9/'}]}]",
        )
        .unwrap(),
    );
    let input = alerts(10_000, 100, T0 + 3_600_000);
    c.bench_function("put/10k", |b| {
        b.iter_batched(
            || (Dispatcher::new(cfg.clone(), ManualClock::new(T0)), input.clone()),
            |(mut d, a)| {
                d.put(a);
                d
            },
            criterion::BatchSize::LargeInput,
        )
    });
    c.bench_function("poll/10k-unchanged", |b| {
        let clock = ManualClock::new(T0);
        let mut d = Dispatcher::new(cfg.clone(), clock.clone());
        d.put(input.clone());
        clock.set(T0 + 30_000);
        for n in d.poll() {
            d.complete(&n, true);
        }
        let mut t = T0 + 30_000;
        b.iter(|| {
            t += 300_000;
            clock.set(t);
            black_box(d.poll())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
