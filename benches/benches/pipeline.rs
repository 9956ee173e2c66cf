//! What does one scrape cycle cost end to end — exposition parsing, the per-target scrape
//! cache, target labels, staleness tracking, the head append and the write-ahead log — in
//! each format; and what do dashboard queries cost over 2 h of such scrapes? 40 simulated
//! node-exporter-like targets of about 300 series each (`ember_benches::Fleet`), seeded.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_benches::{Fleet, Pipeline};
use ember_exposition::format::Format;

const TARGETS: usize = 40;
const STEP_MS: i64 = 15_000;

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(10)
}

/// One scrape of all 40 targets per iteration, timestamps 15 s apart, into a `Db` with its
/// WAL; the bodies of 16 ticks are encoded before timing and taken in turn.
fn scrape_cycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("scrape_cycle");
    for (name, format) in
        [("text004", Format::Text004), ("openmetrics", Format::OpenMetrics100), ("protobuf", Format::Protobuf)]
    {
        let mut fleet = Fleet::new(TARGETS, 1);
        let ticks: Vec<Vec<Vec<u8>>> = (0..16)
            .map(|_| {
                fleet.tick();
                fleet.bodies(format)
            })
            .collect();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut p = Pipeline::open(dir.path(), TARGETS).expect("a database");
        let first = p.scrape(&ticks[0], format, 0).expect("the first scrape");
        g.throughput(Throughput::Elements(first.samples));
        let mut i = 1usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                let st = p.scrape(&ticks[i % ticks.len()], format, i as i64 * STEP_MS).expect("a scrape");
                i += 1;
                black_box(st)
            })
        });
    }
    g.finish();
}

/// The queries of a node and HTTP dashboard.
const QUERIES: [(&str, &str); 6] = [
    ("cpu_busy", r#"100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))"#),
    ("cpu_by_mode", "sum by (mode) (rate(node_cpu_seconds_total[5m]))"),
    ("http_p99", "histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))"),
    (
        "error_ratio",
        r#"sum by (instance) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (instance) (rate(http_requests_total[5m]))"#,
    ),
    ("memory_available", "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"),
    ("topk_network", "topk(5, rate(node_network_receive_bytes_total[5m]))"),
];

/// Each query over the last hour at a 30 s step (a dashboard panel), after 2 h of scrapes of
/// the 40 targets.
fn dashboard(c: &mut Criterion) {
    let mut fleet = Fleet::new(TARGETS, 2);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut p = Pipeline::open(dir.path(), TARGETS).expect("a database");
    let ticks = 2 * 3600 * 1000 / STEP_MS;
    for i in 0..ticks {
        fleet.tick();
        p.scrape(&fleet.bodies(Format::Text004), Format::Text004, i * STEP_MS).expect("a scrape");
    }
    let end = (ticks - 1) * STEP_MS;
    let mut g = c.benchmark_group("dashboard");
    for (name, q) in QUERIES {
        g.bench_function(name, |b| {
            b.iter(|| black_box(p.range_query(q, end - 3600 * 1000, end, 30_000).expect("a query")))
        });
    }
    g.finish();
}

criterion_group! { name = benches; config = config(); targets = scrape_cycle, dashboard }
criterion_main!(benches);
