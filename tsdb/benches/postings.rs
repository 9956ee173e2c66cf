//! How fast are matchers resolved on the inverted index? 100,000 realistic series
//! (the 1,000,000-series figure comes from `examples/head_footprint.rs`, run once).

mod support;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ember_exposition::Matcher;
use ember_tsdb::head::Head;
use ember_tsdb::storage::{AppendOptions, Value};

fn bench(c: &mut Criterion) {
    let head = Head::default();
    let mut app = head.appender();
    support::for_each_series(100_000, |s| {
        app.append(None, &s.labels, 0, Value::Float(1.0), AppendOptions::NONE).unwrap();
    });
    app.commit().unwrap();

    let re = |n: &str, v: &str| Matcher::regex(n, v).unwrap();
    let cases: Vec<(&str, Vec<Matcher>)> = vec![
        (
            "name_job_instance_prefix",
            vec![Matcher::equal("__name__", "node_load1"), Matcher::equal("job", "node"), re("instance", "host-1.*")],
        ),
        ("equal_equal", vec![Matcher::equal("__name__", "node_cpu_seconds_total"), Matcher::equal("mode", "idle")]),
        ("alternation", vec![Matcher::equal("job", "kube-state-metrics"), re("namespace", "team-1|team-2|team-3")]),
        ("not_equal", vec![Matcher::equal("__name__", "node_cpu_seconds_total"), Matcher::not_equal("mode", "idle")]),
        ("any_non_empty_and_prefix", vec![re("pod", ".+"), re("uid", "0.*")]),
        ("general_regex", vec![Matcher::equal("job", "node"), re("instance", "host-[0-9]*7:9100")]),
        ("name_only_large", vec![Matcher::equal("job", "node")]),
    ];
    let mut g = c.benchmark_group("postings");
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(2));
    for (name, ms) in &cases {
        g.bench_function(*name, |b| b.iter(|| head.series_refs(ms).len()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
