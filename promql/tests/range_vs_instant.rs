//! Range-first evaluation against the naive definition: a range query's value at each step
//! equals the instant query at that time, for random data and a set of queries that cover
//! selectors, lookback and staleness, range functions, subqueries, `offset`/`@`, operators
//! with matching, and aggregations.

use std::collections::BTreeMap;

use ember_exposition::Labels;
use ember_promql::engine::{Engine, Value};
use ember_promql::series::{SeriesDesc, SeriesValue};
use ember_promql::testing::load;
use ember_tsdb::storage::MemStorage;
use proptest::prelude::*;

const QUERIES: &[&str] = &[
    "m",
    "m offset 1m",
    "m @ 300",
    "rate(m[2m])",
    "max_over_time(m[3m])",
    "sum by (job) (m)",
    "avg without (i) (m)",
    "topk(2, m)",
    "count(m > 3)",
    "m * on (job) group_left n",
    "m - ignoring (i) group_left n",
    "m and on (job) n",
    "m or n",
    "m unless on (job) n",
    "sum_over_time(m[4m:30s])",
    "max_over_time(rate(m[2m])[5m:1m] offset 30s)",
    "-m + 1",
    "abs(m - 5) > bool 2",
    "histogram_quantile(0.5, m)",
    "label_replace(m, \"x\", \"$1\", \"i\", \"(.*)\")",
    "absent(nothing)",
    "time() - timestamp(m)",
];

/// `m{job, i}` and `n{job}` with values or gaps (`_`) or staleness markers every 30 s.
fn data() -> impl Strategy<Value = Vec<SeriesDesc>> {
    let value = prop_oneof![
        6 => (0u8..20).prop_map(|v| SeriesValue::Float(f64::from(v))),
        2 => Just(SeriesValue::Missing),
        1 => Just(SeriesValue::Stale),
    ];
    prop::collection::vec(prop::collection::vec(value, 1..24), 6).prop_map(|vals| {
        let names =
            [("m", "a", "1"), ("m", "a", "2"), ("m", "b", "1"), ("m", "b", "+Inf"), ("n", "a", ""), ("n", "b", "")];
        names
            .iter()
            .zip(vals)
            .map(|(&(name, job, i), values)| {
                let mut pairs = vec![("__name__", name.to_owned()), ("job", job.to_owned())];
                if !i.is_empty() {
                    pairs.push(("i", i.to_owned()));
                    // `le` makes `m` usable as buckets.
                    pairs.push(("le", i.to_owned()));
                }
                SeriesDesc { labels: Labels::from_pairs(pairs), values, start_timestamps: false }
            })
            .collect()
    })
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn range_query_equals_instant_queries(series in data(), start in 0i64..6, steps in 1i64..12) {
        let st = MemStorage::new();
        load(&st, 0, 30_000, &series).unwrap();
        let engine = Engine::default();
        let (start, step) = (start * 30_000 + 15_000, 45_000);
        let end = start + (steps - 1) * step;
        for q in QUERIES {
            let range = engine.range_query(&st, q, start, end, step).unwrap();
            let Value::Matrix(m) = range.value else { panic!("{q}: not a matrix") };
            let mut from_range: BTreeMap<(String, i64), f64> = BTreeMap::new();
            for s in &m {
                for p in &s.points {
                    from_range.insert((s.metric.to_string(), p.t), p.f);
                }
            }
            let mut from_instant: BTreeMap<(String, i64), f64> = BTreeMap::new();
            for k in 0..steps {
                let t = start + k * step;
                match engine.instant_query(&st, q, t).unwrap().value {
                    Value::Vector(v) => {
                        for s in v {
                            from_instant.insert((s.metric.to_string(), t), s.f);
                        }
                    }
                    Value::Scalar { v, .. } => {
                        from_instant.insert(("{}".into(), t), v);
                    }
                    other => panic!("{q}: {other:?}"),
                }
            }
            prop_assert_eq!(from_range.len(), from_instant.len(), "{}: {:?} vs {:?}", q, from_range, from_instant);
            for (k, v) in &from_range {
                let w = from_instant.get(k);
                prop_assert!(w.is_some_and(|w| same(*v, *w)), "{}: {:?} range {} instant {:?}", q, k, v, w);
            }
        }
    }
}
