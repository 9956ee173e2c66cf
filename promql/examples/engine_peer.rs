//! Times the engine bench's queries on Ember and, when given, on a Prometheus server
//! holding the same data, in one run:
//!
//! ```text
//! cargo run --release -p ember-promql --example engine_peer -- --openmetrics /tmp/bench.om
//! promtool tsdb create-blocks-from openmetrics /tmp/bench.om /tmp/promdata
//! prometheus --storage.tsdb.path=/tmp/promdata --storage.tsdb.retention.time=20y \
//!     --config.file=/dev/null --web.listen-address=127.0.0.1:19090 &
//! cargo run --release -p ember-promql --example engine_peer -- --prometheus 127.0.0.1:19090
//! ```
//!
//! Each figure is the median of 5 runs. Prometheus's time is measured over HTTP and so
//! includes encoding the result as JSON; Ember's is the engine call alone.

#[path = "../benches/support/data.rs"]
mod data;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ember_promql::engine::Engine;

fn median(mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..5).map(|_| f()).collect();
    v.sort();
    v[2]
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One HTTP/1.0 GET; the time until the whole response is read.
fn http_get(addr: &str, path: &str) -> std::io::Result<(Duration, String)> {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok((start.elapsed(), body))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    if let Some(path) = flag("--openmetrics") {
        let labels = data::series();
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create file"));
        // `name{a="b",c="d"}` without spaces, as OpenMetrics parsers want it.
        let names: Vec<String> = labels
            .iter()
            .map(|l| {
                let pairs: Vec<String> = l
                    .iter()
                    .filter(|lb| lb.name != "__name__")
                    .map(|lb| format!("{}={:?}", lb.name, lb.value))
                    .collect();
                format!("{}{{{}}}", l.metric_name().unwrap_or(""), pairs.join(","))
            })
            .collect();
        // OpenMetrics wants a family's samples together: one family per metric, by series.
        let mut per_series: Vec<Vec<(i64, f64)>> = vec![Vec::new(); labels.len()];
        data::samples(labels.len(), |j, t, v| per_series[j].push((t, v)));
        let mut current = String::new();
        for (j, pts) in per_series.iter().enumerate() {
            let family = labels[j].metric_name().unwrap_or("").to_owned();
            if family != current {
                writeln!(out, "# TYPE {family} gauge").unwrap();
                current = family;
            }
            for (t, v) in pts {
                writeln!(out, "{} {v} {}.{:03}", names[j], t / 1000, t % 1000).unwrap();
            }
        }
        writeln!(out, "# EOF").unwrap();
        println!("wrote {path}");
        return;
    }
    let prometheus = flag("--prometheus");
    let head = data::build_head();
    let engine = Engine::default();
    let end = data::T0 + (data::SAMPLES - 1) * data::STEP_MS;
    let start = end - 2 * 3600 * 1000;
    println!("{:<28} {:>12} {:>12} {:>8}", "query", "ember", "prometheus", "ratio");
    for (name, q) in data::QUERIES {
        for range in [false, true] {
            let ember = median(|| {
                let t = Instant::now();
                let r = if range {
                    engine.range_query(&head, q, start, end, 30_000)
                } else {
                    engine.instant_query(&head, q, end)
                };
                r.expect("query");
                t.elapsed()
            });
            let peer = prometheus.as_ref().map(|addr| {
                let path = if range {
                    format!("/api/v1/query_range?query={}&start={}&end={}&step=30", encode(q), start / 1000, end / 1000)
                } else {
                    format!("/api/v1/query?query={}&time={}", encode(q), end / 1000)
                };
                median(|| {
                    let (d, body) = http_get(addr, &path).expect("prometheus request");
                    assert!(body.contains("\"status\":\"success\""), "{name}: {body:.300}");
                    d
                })
            });
            let label = format!("{}/{name}", if range { "range" } else { "instant" });
            match peer {
                Some(p) => println!(
                    "{label:<28} {:>10.2}ms {:>10.2}ms {:>7.2}x",
                    ember.as_secs_f64() * 1e3,
                    p.as_secs_f64() * 1e3,
                    p.as_secs_f64() / ember.as_secs_f64()
                ),
                None => println!("{label:<28} {:>10.2}ms", ember.as_secs_f64() * 1e3),
            }
        }
    }
}
