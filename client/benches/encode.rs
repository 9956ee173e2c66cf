//! Encoding 10,000 counter series (a family with labels `method` and `path`) to the text
//! format: ember-client against prometheus-client 0.25 (OpenMetrics text, its only format)
//! and prometheus 0.14 (gather + text 0.0.4).

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use prometheus::Encoder;
use prometheus_client::encoding::EncodeLabelSet;

const SERIES: usize = 10_000;
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PcLabels {
    method: String,
    path: String,
}

fn series() -> Vec<(&'static str, String, u64)> {
    let vals = common::values(SERIES);
    (0..SERIES).map(|i| (METHODS[i % 4], format!("/api/v1/resource/{}", i / 4), (vals[i] * 1e6) as u64)).collect()
}

fn encode(c: &mut Criterion) {
    let data = series();
    let mut g = c.benchmark_group("encode_10k_series");

    let reg = ember_client::Registry::new();
    let fam =
        ember_client::Family::<ember_client::Counter>::new(&["method", "path"]).unwrap().with_max_children(SERIES);
    reg.register("http_requests", "Requests.", fam.clone()).unwrap();
    for (m, p, v) in &data {
        fam.with_label_values(&[m, p]).inc_by(*v);
    }
    let mut buf = String::new();
    g.bench_function("ember_text", |b| {
        b.iter(|| {
            buf.clear();
            reg.encode_into(&mut buf, ember_client::TextFormat::Text);
            black_box(buf.len())
        })
    });
    g.bench_function("ember_openmetrics", |b| {
        b.iter(|| {
            buf.clear();
            reg.encode_into(&mut buf, ember_client::TextFormat::OpenMetrics);
            black_box(buf.len())
        })
    });

    let mut pcreg = prometheus_client::registry::Registry::default();
    let pcfam =
        prometheus_client::metrics::family::Family::<PcLabels, prometheus_client::metrics::counter::Counter>::default();
    pcreg.register("http_requests", "Requests.", pcfam.clone());
    for (m, p, v) in &data {
        pcfam.get_or_create(&PcLabels { method: m.to_string(), path: p.clone() }).inc_by(*v);
    }
    g.bench_function("prometheus_client", |b| {
        b.iter(|| {
            buf.clear();
            prometheus_client::encoding::text::encode(&mut buf, &pcreg).unwrap();
            black_box(buf.len())
        })
    });

    let preg = prometheus::Registry::new();
    let pvec =
        prometheus::IntCounterVec::new(prometheus::Opts::new("http_requests_total", "Requests."), &["method", "path"])
            .unwrap();
    preg.register(Box::new(pvec.clone())).unwrap();
    for (m, p, v) in &data {
        pvec.with_label_values(&[*m, p.as_str()]).inc_by(*v);
    }
    let mut bytes = Vec::new();
    g.bench_function("prometheus", |b| {
        b.iter(|| {
            bytes.clear();
            prometheus::TextEncoder::new().encode(&preg.gather(), &mut bytes).unwrap();
            black_box(bytes.len())
        })
    });
    g.finish();

    // The same by this thread's CPU time.
    common::cpu_compare(
        "encode_10k_series",
        3,
        &mut [
            ("ember_text", &mut |n| {
                common::cpu_ns(n, |_| {
                    buf.clear();
                    reg.encode_into(&mut buf, ember_client::TextFormat::Text);
                })
            }),
            ("ember_openmetrics", &mut |n| {
                let mut b = String::new();
                common::cpu_ns(n, |_| {
                    b.clear();
                    reg.encode_into(&mut b, ember_client::TextFormat::OpenMetrics);
                })
            }),
            ("prometheus_client", &mut |n| {
                let mut b = String::new();
                common::cpu_ns(n, |_| {
                    b.clear();
                    prometheus_client::encoding::text::encode(&mut b, &pcreg).unwrap();
                })
            }),
            ("prometheus", &mut |n| {
                common::cpu_ns(n, |_| {
                    bytes.clear();
                    prometheus::TextEncoder::new().encode(&preg.gather(), &mut bytes).unwrap();
                })
            }),
        ],
    );
}

criterion_group! { name = benches; config = common::config(); targets = encode }
criterion_main!(benches);
