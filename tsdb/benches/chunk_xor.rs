//! How fast do XOR chunks encode and decode realistic samples, and how small are they?
//! 2,000 realistic series, 120-sample chunks. The peer is a plain copy of 16-byte
//! samples (what an uncompressed head would do), measured in the same run.

mod support;

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_tsdb::chunks::{ChunkEncoder, XorEncoder, XorIterator};
use ember_tsdb::storage::SampleIterator;

fn bench(c: &mut Criterion) {
    let mut rng = support::Rng::new(3);
    let generated = support::series(2_000);
    let kinds: Vec<String> =
        generated.iter().map(|s| format!("{:?}", s.kind).split([' ', '(']).next().unwrap_or("").to_string()).collect();
    let data: Vec<Vec<(i64, f64)>> = generated
        .into_iter()
        .map(|mut s| {
            (0..120)
                .map(|k| {
                    let t = support::scrape_time(&mut rng, k);
                    (t, s.next_value(t))
                })
                .collect()
        })
        .collect();
    let samples = (data.len() * 120) as u64;
    let chunks: Vec<Vec<u8>> = data
        .iter()
        .map(|ss| {
            let mut e = XorEncoder::new();
            for &(t, v) in ss {
                e.append(t, v);
            }
            e.into_bytes()
        })
        .collect();
    // The head's choice per chunk (decimal when every value is a short decimal, else XOR).
    let chosen: Vec<usize> = data
        .iter()
        .map(|ss| {
            let mut e = ChunkEncoder::with_capacity(256);
            for &(t, v) in ss {
                e.append(t, v);
            }
            e.bytes().len()
        })
        .collect();
    let bytes: usize = chunks.iter().map(Vec::len).sum();
    let chosen_bytes: usize = chosen.iter().sum();
    eprintln!(
        "chunk_xor: {samples} samples: XOR {:.3} bytes/sample, head's choice (decimal or XOR) {:.3} bytes/sample",
        bytes as f64 / samples as f64,
        chosen_bytes as f64 / samples as f64
    );
    let mut by_kind: std::collections::BTreeMap<&str, (usize, usize, usize)> = Default::default();
    for ((k, c), d) in kinds.iter().zip(&chunks).zip(&chosen) {
        let e = by_kind.entry(k).or_default();
        e.0 += 1;
        e.1 += c.len();
        e.2 += d;
    }
    for (k, (n, b, d)) in by_kind {
        eprintln!(
            "  {k}: {n} series, XOR {:.3} bytes/sample, chosen {:.3}, {:.1} % of XOR bytes",
            b as f64 / (n * 120) as f64,
            d as f64 / (n * 120) as f64,
            100.0 * b as f64 / bytes as f64
        );
    }

    let mut g = c.benchmark_group("chunk_xor");
    g.throughput(Throughput::Elements(samples));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("encode", |b| {
        b.iter(|| {
            let mut n = 0;
            for ss in &data {
                let mut e = XorEncoder::new();
                for &(t, v) in ss {
                    e.append(t, v);
                }
                n += e.bytes().len();
            }
            n
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut sum = 0i64;
            for c in &chunks {
                let mut it = XorIterator::new(c);
                while let Some(p) = it.next() {
                    sum = sum.wrapping_add(p.t);
                }
            }
            sum
        })
    });
    g.bench_function("seek_last_sample", |b| {
        b.iter(|| {
            let mut n = 0;
            for (c, ss) in chunks.iter().zip(&data) {
                let mut it = XorIterator::new(c);
                n += it.seek(ss[119].0).is_some() as usize;
            }
            n
        })
    });
    g.bench_function("peer_copy_uncompressed", |b| {
        b.iter(|| {
            let mut n = 0;
            for ss in &data {
                let v: Vec<(i64, f64)> = ss.clone();
                n += v.len();
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
