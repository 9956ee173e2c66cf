//! How long do typical queries take over a head of 10,000 series x 2 h at 15 s (4.8 M
//! samples), as instant queries and as range queries over the 2 h at a 30 s step?
//!
//! Data (seeded, deterministic): `m` 7,200 counters (9 jobs x 800 instances),
//! `h_bucket` 2,000 classic-histogram buckets (200 instances x 10 `le`), `node_info` 800
//! info series (one per instance, joined many-to-one).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ember_exposition::Labels;
use ember_promql::engine::{Engine, EngineOptions};
use ember_tsdb::head::Head;
use ember_tsdb::storage::{AppendOptions, SeriesRef, Value};

const STEP_MS: i64 = 15_000;
const SAMPLES: i64 = 2 * 3600 * 1000 / STEP_MS; // 480
const T0: i64 = 1_700_000_000_000;

/// A small seeded generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn build_head() -> Head {
    let mut series: Vec<(Labels, u8)> = Vec::new(); // kind: 0 counter, 1 bucket, 2 info
    for job in 0..9 {
        for inst in 0..800 {
            series.push((
                Labels::from_pairs([
                    ("__name__", "m".to_owned()),
                    ("job", format!("job-{job}")),
                    ("instance", format!("i-{inst}")),
                ]),
                0,
            ));
        }
    }
    let les = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
    for inst in 0..200 {
        for (k, le) in les.iter().enumerate() {
            series.push((
                Labels::from_pairs([
                    ("__name__", "h_bucket".to_owned()),
                    ("instance", format!("i-{inst}")),
                    ("le", (*le).to_owned()),
                ]),
                1 + k as u8,
            ));
        }
    }
    for inst in 0..800 {
        series.push((
            Labels::from_pairs([
                ("__name__", "node_info".to_owned()),
                ("instance", format!("i-{inst}")),
                ("version", format!("v{}", inst % 7)),
            ]),
            100,
        ));
    }
    assert_eq!(series.len(), 10_000);
    let head = Head::default();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut refs: Vec<Option<SeriesRef>> = vec![None; series.len()];
    let mut state: Vec<f64> = vec![0.0; series.len()];
    for i in 0..SAMPLES {
        let t = T0 + i * STEP_MS;
        let mut app = head.appender();
        let mut base = 0.0;
        for (j, (labels, kind)) in series.iter().enumerate() {
            let v = match *kind {
                0 => {
                    state[j] += (rng.unit() * 10.0).floor();
                    state[j]
                }
                100 => 1.0,
                k => {
                    // Cumulative buckets: each adds a share of this scrape's observations.
                    if k == 1 {
                        base = 0.0;
                    }
                    base += (rng.unit() * 5.0).floor();
                    state[j] += base;
                    state[j]
                }
            };
            refs[j] = Some(app.append(refs[j], labels, t, Value::Float(v), AppendOptions::NONE).unwrap());
        }
        app.commit().unwrap();
    }
    head
}

const QUERIES: &[(&str, &str)] = &[
    ("sum_rate", "sum by (job) (rate(m[5m]))"),
    ("histogram_quantile", "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))"),
    ("topk", "topk(5, m)"),
    ("regex_selector", "m{instance=~\"i-1[0-9]+\", job=~\"job-[0-3]\"}"),
    ("many_to_one_join", "m * on (instance) group_left (version) node_info"),
    ("subquery", "max_over_time(rate(m[5m])[30m:1m])"),
];

fn bench(c: &mut Criterion) {
    let head = build_head();
    let engine = Engine::new(EngineOptions::default());
    let end = T0 + (SAMPLES - 1) * STEP_MS;
    let start = end - 2 * 3600 * 1000;
    let mut g = c.benchmark_group("engine");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for (name, q) in QUERIES {
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
