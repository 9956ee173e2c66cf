//! The seeded data set of the engine bench (shared with the `engine_peer` example): 10,000
//! series x 2 h at 15 s. `m` 7,200 counters (9 jobs x 800 instances), `h_bucket` 2,000
//! classic-histogram buckets (200 instances x 10 `le`), `node_info` 800 info series.

#![allow(dead_code)]

use ember_exposition::Labels;
use ember_tsdb::head::Head;
use ember_tsdb::storage::{AppendOptions, SeriesRef, Value};

/// Scrape interval, ms.
pub const STEP_MS: i64 = 15_000;
/// Samples per series (2 h).
pub const SAMPLES: i64 = 2 * 3600 * 1000 / STEP_MS;
/// First sample time, ms.
pub const T0: i64 = 1_700_000_000_000;

/// The bench queries, by name.
pub const QUERIES: &[(&str, &str)] = &[
    ("sum_rate", "sum by (job) (rate(m[5m]))"),
    ("histogram_quantile", "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))"),
    ("topk", "topk(5, m)"),
    ("regex_selector", "m{instance=~\"i-1[0-9]+\", job=~\"job-[0-3]\"}"),
    ("many_to_one_join", "m * on (instance) group_left (version) node_info"),
    ("subquery", "max_over_time(rate(m[5m])[30m:1m])"),
];

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

/// The series' labels.
pub fn series() -> Vec<Labels> {
    let mut out = Vec::with_capacity(10_000);
    for job in 0..9 {
        for inst in 0..800 {
            out.push(Labels::from_pairs([
                ("__name__", "m".to_owned()),
                ("job", format!("job-{job}")),
                ("instance", format!("i-{inst}")),
            ]));
        }
    }
    let les = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
    for inst in 0..200 {
        for le in les {
            out.push(Labels::from_pairs([
                ("__name__", "h_bucket".to_owned()),
                ("instance", format!("i-{inst}")),
                ("le", le.to_owned()),
            ]));
        }
    }
    for inst in 0..800 {
        out.push(Labels::from_pairs([
            ("__name__", "node_info".to_owned()),
            ("instance", format!("i-{inst}")),
            ("version", format!("v{}", inst % 7)),
        ]));
    }
    out
}

/// Calls `f(series index, t, value)` for every sample, scrape by scrape.
pub fn samples(n_series: usize, mut f: impl FnMut(usize, i64, f64)) {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut state = vec![0.0; n_series];
    for i in 0..SAMPLES {
        let t = T0 + i * STEP_MS;
        let mut base = 0.0;
        for (j, st) in state.iter_mut().enumerate() {
            let v = if j < 7_200 {
                *st += (rng.unit() * 10.0).floor();
                *st
            } else if j < 9_200 {
                // Cumulative buckets: each adds a share of this scrape's observations.
                if (j - 7_200) % 10 == 0 {
                    base = 0.0;
                }
                base += (rng.unit() * 5.0).floor();
                *st += base;
                *st
            } else {
                1.0
            };
            f(j, t, v);
        }
    }
}

/// A head holding the whole data set, one commit per scrape.
pub fn build_head() -> Head {
    let labels = series();
    let head = Head::default();
    let mut refs: Vec<Option<SeriesRef>> = vec![None; labels.len()];
    let mut app = Some(head.appender());
    let mut last_t = T0;
    samples(labels.len(), |j, t, v| {
        if t != last_t {
            app.take().expect("appender").commit().expect("commit");
            app = Some(head.appender());
            last_t = t;
        }
        let a = app.as_mut().expect("appender");
        refs[j] = Some(a.append(refs[j], &labels[j], t, Value::Float(v), AppendOptions::NONE).expect("append"));
    });
    app.take().expect("appender").commit().expect("commit");
    head
}
