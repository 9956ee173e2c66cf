//! Two threads updating the same metric at once: counter inc, histogram observe and
//! labelled lookup + inc, ember-client against prometheus-client 0.25 and prometheus 0.14 in
//! the same run.
//!
//! Contention is only measured when it happens: the two threads are pinned to two different
//! CPUs, start each round together at a spinning barrier, and a round counts only when
//! neither was preempted during it and the two ran side by side; a round's figure is the
//! time from the first thread's start to the last one's end per call of one thread (so
//! the slower thread sets it), and the result is the median over those rounds. On a busy
//! machine many rounds are thrown away (the output says how many were kept).
//!
//! `cargo bench -p ember-client --bench contended [-- counter|histogram|family]`

mod common;

use std::hint::black_box;

use prometheus_client::encoding::EncodeLabelSet;

const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PcLabels {
    method: String,
    code: String,
}

fn counter(ops: u64, rounds: usize) {
    let ours = ember_client::Counter::<u64>::new();
    let pc: prometheus_client::metrics::counter::Counter = Default::default();
    let p = prometheus::IntCounter::new("c", "c").unwrap();
    common::pinned_compare(
        "counter_inc_2_threads",
        ops,
        rounds,
        &[
            ("ember", &|_| black_box(&ours).inc()),
            ("prometheus_client", &|_| {
                black_box(&pc).inc();
            }),
            ("prometheus", &|_| black_box(&p).inc()),
        ],
    );
}

fn histogram(ops: u64, rounds: usize) {
    let vals = common::values(1024);
    let ours = ember_client::Histogram::new(&ember_client::Buckets::new(BUCKETS).unwrap());
    let pc = prometheus_client::metrics::histogram::Histogram::new(BUCKETS);
    let p =
        prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("h", "h").buckets(BUCKETS.to_vec())).unwrap();
    let v = &vals;
    common::pinned_compare(
        "histogram_observe_2_threads",
        ops,
        rounds,
        &[
            ("ember", &|i| ours.observe(black_box(v[i as usize & 1023]))),
            ("prometheus_client", &|i| pc.observe(black_box(v[i as usize & 1023]))),
            ("prometheus", &|i| p.observe(black_box(v[i as usize & 1023]))),
        ],
    );
}

fn family(ops: u64, rounds: usize) {
    let codes: Vec<String> = (0..100).map(|i| (200 + i).to_string()).collect();
    let ours = ember_client::Family::<ember_client::Counter>::new(&["method", "code"]).unwrap();
    let pc =
        prometheus_client::metrics::family::Family::<PcLabels, prometheus_client::metrics::counter::Counter>::default();
    let p = prometheus::IntCounterVec::new(prometheus::Opts::new("r", "r"), &["method", "code"]).unwrap();
    for code in &codes {
        ours.with_label_values(&["GET", code]).inc();
        pc.get_or_create(&PcLabels { method: "GET".into(), code: code.clone() }).inc();
        p.with_label_values(&["GET", code]).inc();
    }
    let key = PcLabels { method: "GET".into(), code: "250".into() };
    common::pinned_compare(
        "family_lookup_inc_2_threads",
        ops,
        rounds,
        &[
            ("ember", &|_| ours.with_label_values(black_box(&["GET", "250"])).inc()),
            ("prometheus_client", &|_| {
                pc.get_or_create(black_box(&key)).inc();
            }),
            ("prometheus", &|_| p.with_label_values(black_box(&["GET", "250"])).inc()),
        ],
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) one short round
    // checks that the harness runs.
    let (ops, rounds) = if args.iter().any(|a| a == "--bench") { (20_000, 240) } else { (100, 4) };
    let filter = args.iter().find(|a| !a.starts_with('-')).map(String::as_str).unwrap_or("");
    println!("load: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    if "counter".contains(filter) {
        counter(ops, rounds);
    }
    if "histogram".contains(filter) {
        histogram(ops, rounds);
    }
    if "family".contains(filter) {
        family(ops, rounds);
    }
}
