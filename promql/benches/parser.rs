//! How fast is the PromQL parser on typical dashboard and alerting queries, against the
//! `promql-parser` crate on the same 100 queries in the same run?
//!
//! Run: `cargo bench -p ember-promql --bench parser -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_promql::parser::ParseOptions;

const QUERIES: &str = include_str!("queries.txt");

fn queries() -> Vec<&'static str> {
    QUERIES.lines().filter(|l| !l.trim().is_empty()).collect()
}

fn bench(c: &mut Criterion) {
    let qs = queries();
    assert_eq!(qs.len(), 100);
    run(c, "parse_100_queries", &qs, ParseOptions::default());
    // Every regex compiled on every parse, as on the first parse of a query.
    run(c, "parse_100_queries_cold_regex", &qs, ParseOptions { regex_cache: false, ..Default::default() });
    // The same queries with regex matchers turned into equality matchers: the parsers
    // without the regex compiler's share.
    let plain: Vec<String> = qs.iter().map(|q| q.replace("=~", "=").replace("!~", "!=")).collect();
    let plain: Vec<&str> = plain.iter().map(String::as_str).collect();
    run(c, "parse_100_queries_no_regex", &plain, ParseOptions::default());
}

fn run(c: &mut Criterion, name: &str, qs: &[&str], opts: ParseOptions) {
    for q in qs {
        ember_promql::parser::parse(q).unwrap_or_else(|e| panic!("ember: {q}: {e}"));
        promql_parser::parser::parse(q).unwrap_or_else(|e| panic!("promql-parser: {q}: {e}"));
    }
    let bytes: usize = qs.iter().map(|q| q.len()).sum();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("ember", |b| {
        b.iter(|| {
            for q in qs {
                black_box(opts.parse(black_box(q)).ok());
            }
        })
    });
    g.bench_function("promql-parser", |b| {
        b.iter(|| {
            for q in qs {
                black_box(promql_parser::parser::parse(black_box(q)).ok());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
