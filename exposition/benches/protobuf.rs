//! How fast is the protobuf exposition? Decode, encode and conversion of a 10,000-series
//! scrape (100 families of 100 series: counters, gauges and 10-bucket histograms), with
//! seeded data. The peer is prost itself: decoding the same messages without our framing
//! and checks (`prost_raw_decode`), so the ratio is the cost of the stream layer.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_exposition::protobuf::{self, proto};
use prost::Message;

/// A small deterministic generator (xorshift), so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn families() -> Vec<proto::MetricFamily> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..100)
        .map(|f| {
            let t = [proto::MetricType::Counter, proto::MetricType::Gauge, proto::MetricType::Histogram][f % 3];
            let metric = (0..100)
                .map(|i| {
                    let label = vec![
                        proto::LabelPair { name: "instance".into(), value: format!("host-{}:9100", i % 10) },
                        proto::LabelPair { name: "path".into(), value: format!("/api/v1/resource/{i}") },
                    ];
                    let v = (rng.next() % 1_000_000) as f64 / 7.0;
                    let mut m = proto::Metric { label, ..Default::default() };
                    match t {
                        proto::MetricType::Counter => {
                            m.counter = Some(Box::new(proto::Counter {
                                value: v,
                                exemplar: None,
                                created_timestamp: Some(proto::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
                            }))
                        }
                        proto::MetricType::Gauge => m.gauge = Some(proto::Gauge { value: v }),
                        _ => {
                            let mut cum = 0;
                            let bucket = (0..10)
                                .map(|b| {
                                    cum += rng.next() % 100;
                                    proto::Bucket {
                                        cumulative_count: cum,
                                        upper_bound: 0.005 * f64::from(1 << b),
                                        ..Default::default()
                                    }
                                })
                                .collect();
                            m.histogram = Some(Box::new(proto::Histogram {
                                sample_count: cum,
                                sample_sum: v,
                                bucket,
                                ..Default::default()
                            }))
                        }
                    }
                    m
                })
                .collect();
            proto::MetricFamily {
                name: format!("family_{f}_total"),
                help: "Some help.".into(),
                r#type: t as i32,
                metric,
                unit: String::new(),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let fams = families();
    let mut buf = Vec::new();
    protobuf::encode(&fams, &mut buf);
    let bodies: Vec<Vec<u8>> = fams.iter().map(|f| f.encode_to_vec()).collect();
    let flat = protobuf::to_families(&fams).families;

    let mut g = c.benchmark_group("protobuf_10k_series");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("decode", |b| b.iter(|| protobuf::decode(&buf).unwrap()));
    g.bench_function("prost_raw_decode", |b| {
        b.iter(|| bodies.iter().map(|m| proto::MetricFamily::decode(m.as_slice()).unwrap()).collect::<Vec<_>>())
    });
    let mut out = Vec::with_capacity(buf.len());
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            protobuf::encode(&fams, &mut out);
            out.len()
        })
    });
    g.bench_function("to_families", |b| b.iter(|| protobuf::to_families(&fams)));
    g.bench_function("from_families", |b| b.iter(|| protobuf::from_families(&flat).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
