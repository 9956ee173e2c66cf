//! The engine's public API: values, limits, cancellation, statistics, concurrency.

use std::sync::Arc;
use std::time::Duration;

use ember_promql::engine::{CancelToken, Engine, EngineErrorKind, EngineOptions, QueryKind, QueryPhase, Value};
use ember_promql::parser::Feature;
use ember_promql::series::parse_series_desc;
use ember_promql::testing::load;
use ember_tsdb::storage::{MemStorage, Querier, Queryable, StorageError};

/// `m{i="0".."9"}` every 15 s for 1 h (241 samples each), plus `s` with a stale marker.
fn storage() -> MemStorage {
    let st = MemStorage::new();
    let mut descs: Vec<_> = (0..10).map(|i| parse_series_desc(&format!("m{{i=\"{i}\"}} 0+{i}x240")).unwrap()).collect();
    descs.push(parse_series_desc("s 1 2 stale 4").unwrap());
    load(&st, 0, 15_000, &descs).unwrap();
    st
}

#[track_caller]
fn check(query: &str, t_s: i64, want: &[(&str, f64)]) {
    let st = storage();
    let res = Engine::default().instant_query(&st, query, t_s * 1000).unwrap();
    let got: Vec<(String, f64)> = match res.value {
        Value::Vector(v) => v.into_iter().map(|s| (s.metric.to_series_string(), s.f)).collect(),
        Value::Scalar { v, .. } => vec![(String::new(), v)],
        other => panic!("unexpected {other:?}"),
    };
    let mut got = got;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<(String, f64)> = want.iter().map(|(l, v)| (l.to_string(), *v)).collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want, "{query} at {t_s}s");
}

#[test]
fn instant_queries() {
    check("m{i=\"3\"}", 60, &[("m{i=\"3\"}", 12.0)]);
    // Lookback: the last sample (t=30s) is still visible 5 minutes later, not after.
    check("s", 30, &[]);
    check("s", 15, &[("s", 2.0)]);
    check("s", 45 + 299, &[("s", 4.0)]);
    check("s", 45 + 300, &[]);
    check("sum(m)", 60, &[("{}", 4.0 * 45.0)]);
    check("m{i=\"2\"} offset 1m", 120, &[("m{i=\"2\"}", 8.0)]);
    check("m{i=\"2\"} @ 60", 3000, &[("m{i=\"2\"}", 8.0)]);
    check("count(m > 30)", 60, &[("{}", 2.0)]);
    check("1 + 2 * 3", 0, &[("", 7.0)]);
    check("max_over_time(sum(m)[1m:15s])", 60, &[("{}", 180.0)]);
    check("m{i=\"1\"} + on(i) group_left m{i=\"1\"}", 60, &[("{i=\"1\"}", 8.0)]);
}

#[test]
fn range_queries_select_each_series_once() {
    let st = storage();
    let res = Engine::default().range_query(&st, "sum(m)", 0, 3_600_000, 15_000).unwrap();
    let Value::Matrix(m) = res.value else { panic!() };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].points.len(), 241);
    assert_eq!(m[0].points[240].f, 45.0 * 240.0);
    // Every stored sample read once, not once per step.
    assert_eq!(res.stats.samples_read, 10 * 241);
    assert!(res.stats.peak_samples >= 241);
}

#[test]
fn limits_and_cancellation_are_typed_errors() {
    let st = storage();
    let small = Engine::new(EngineOptions { max_samples: 100, ..Default::default() });
    let e = small.range_query(&st, "m", 0, 3_600_000, 15_000).unwrap_err();
    assert_eq!(e.kind(), &EngineErrorKind::TooManySamples(100));

    // Cancelled or out of time before evaluation began: Prometheus's "query execution".
    let token = CancelToken::new();
    let other = token.clone();
    std::thread::spawn(move || other.cancel()).join().unwrap();
    let e = Engine::default().query(&st, "sum(m)", QueryKind::Instant(0), Some(&token)).unwrap_err();
    assert_eq!((e.kind(), e.phase()), (&EngineErrorKind::Cancelled, Some(QueryPhase::Execution)));
    assert_eq!(e.to_string(), "query was canceled in query execution");

    let instant = Engine::new(EngineOptions { timeout: Some(Duration::ZERO), ..Default::default() });
    std::thread::sleep(Duration::from_millis(2));
    let e = instant.range_query(&st, "sum(m)", 0, 3_600_000, 15_000).unwrap_err();
    assert_eq!((e.kind(), e.phase()), (&EngineErrorKind::Timeout, Some(QueryPhase::Execution)));
    assert_eq!(e.to_string(), "query timed out in query execution");

    // Step counts are bounded by the sample limit before anything is allocated.
    let e = small.range_query(&st, "1", 0, i64::MAX / 4, 1).unwrap_err();
    assert!(matches!(e.kind(), EngineErrorKind::InvalidRange | EngineErrorKind::TooManySamples(_)));
    let e = small.range_query(&st, "1", 0, 1_000_000, 1).unwrap_err();
    assert_eq!(e.kind(), &EngineErrorKind::TooManySamples(100));
    let e = small.instant_query(&st, "max_over_time(m[1y:1ms])", 0).unwrap_err();
    assert_eq!(e.kind(), &EngineErrorKind::TooManySamples(100));
    // Extreme times and offsets are clamped, never overflow.
    for q in ["m @ 9e15", "m offset 100000y", "rate(m[100000y] @ -9e15)", "m[1h:1m] offset -100000y"] {
        let _ = Engine::default().instant_query(&st, q, 0);
    }

    let e = Engine::default().instant_query(&st, "sum(", 0).unwrap_err();
    assert!(matches!(e.kind(), EngineErrorKind::Parse(_)));
    let e = Engine::default().range_query(&st, "m[5m]", 0, 60_000, 15_000).unwrap_err();
    assert!(matches!(e.kind(), EngineErrorKind::InvalidRangeQueryType(_)));
}

#[test]
fn matching_errors_carry_prometheus_wording() {
    let st = storage();
    let e = Engine::default().instant_query(&st, "m + on() m", 60_000).unwrap_err();
    assert!(e.to_string().starts_with("found duplicate series for the match group {} on the right hand-side"), "{e}");
}

#[test]
fn many_queries_at_once() {
    let st = Arc::new(storage());
    let engine = Arc::new(Engine::default());
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let (st, engine) = (Arc::clone(&st), Arc::clone(&engine));
            std::thread::spawn(move || {
                let r = engine.instant_query(&*st, "sum(m)", 60_000 * (k + 1)).unwrap();
                match r.value {
                    Value::Vector(v) => v[0].f,
                    _ => f64::NAN,
                }
            })
        })
        .collect();
    let got: Vec<f64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, [180.0, 360.0, 540.0, 720.0]);
}

/// A storage whose querier takes `delay` to open, so a query's deadline passes after the
/// query started but before its first step is evaluated.
struct SlowStorage {
    inner: MemStorage,
    delay: Duration,
}

impl Queryable for SlowStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        std::thread::sleep(self.delay);
        self.inner.querier(mint, maxt)
    }
}

#[test]
fn timeout_during_evaluation_is_worded_as_prometheus_does() {
    let st = SlowStorage { inner: storage(), delay: Duration::from_millis(200) };
    let engine = Engine::new(EngineOptions { timeout: Some(Duration::from_millis(50)), ..Default::default() });
    let e = engine.instant_query(&st, "sum(m)", 60_000).unwrap_err();
    assert_eq!((e.kind(), e.phase()), (&EngineErrorKind::Timeout, Some(QueryPhase::Evaluation)));
    assert_eq!(e.to_string(), "query timed out in expression evaluation");
    // Other errors have no phase.
    let e = Engine::default().instant_query(&st.inner, "sum(", 0).unwrap_err();
    assert_eq!(e.phase(), None);
}

#[test]
fn range_modifiers_are_checked_when_the_call_is_evaluated() {
    let st = storage();
    // Without the engine's switch the modifiers do not parse.
    let off = Engine::new(EngineOptions { experimental_functions: true, ..Default::default() });
    let e = off.instant_query(&st, "rate(m[3m] smoothed)", 60_000).unwrap_err();
    assert_eq!(e.to_string(), "1:6: parse error: smoothed modifier is experimental and not enabled");
    assert!(
        matches!(e.kind(), EngineErrorKind::Parse(p) if p.kind().feature() == Some(Feature::ExtendedRangeSelectors)),
        "{e:?}"
    );
    let engine = Engine::new(EngineOptions { extended_range_selectors: true, ..off.options().clone() });
    assert!(engine.parse_options().extended_range_selectors && !engine.parse_options().binop_fill_modifiers);
    #[track_caller]
    fn check_err(engine: &Engine, st: &MemStorage, q: &str, want: &str) {
        // The query parses, as in Prometheus: `promtool check rules` accepts it too.
        engine.parse_options().parse(q).unwrap();
        let e = engine.instant_query(st, q, 60_000).unwrap_err();
        assert!(matches!(e.kind(), EngineErrorKind::ModifierNotAllowed { .. }), "{q}: {e:?}");
        assert_eq!(e.to_string(), want, "{q}");
        // Evaluation errors carry no position (parse errors do: `1:7: parse error: ...`).
        let e = engine.range_query(st, q, 0, 120_000, 60_000).unwrap_err();
        assert_eq!(e.to_string(), want, "{q} (range)");
    }
    check_err(
        &engine,
        &st,
        "deriv(m[3m] smoothed)",
        "smoothed modifier can only be used with: delta, increase, rate - not with deriv",
    );
    check_err(
        &engine,
        &st,
        "sum(predict_linear(m[3m] anchored, 4))",
        "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with predict_linear",
    );
    check_err(
        &engine,
        &st,
        "absent_over_time(nothing[3m] anchored)",
        "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with absent_over_time",
    );
    // A subquery without a step in its window evaluates nothing, so nothing is rejected.
    let empty = "max_over_time(deriv(m[1m] smoothed)[10s:1m])";
    assert_eq!(engine.instant_query(&st, empty, 30_000).unwrap().value, Value::Vector(Vec::new()));
    for ok in ["rate(m[3m] smoothed)", "resets(m[3m] anchored)", "changes(m[3m] anchored)"] {
        engine.instant_query(&st, ok, 60_000).unwrap();
    }
}

/// `info()` reads the info series at the times the samples of its argument come from, through
/// `@` and `offset` on selectors and on the subqueries above them. As Prometheus's script
/// runner does, each instant query is also run at other times (the `@` pins the result) and
/// as the middle step of a range query.
#[test]
fn info_follows_at_and_offset_through_subqueries() {
    let st = MemStorage::new();
    let descs: Vec<_> = [
        r#"metric{instance="a", job="1"} 0 1 2 3 4 5 6 7 8"#,
        r#"target_info{instance="a", job="1", version="old"} 1 1 1 stale"#,
        r#"target_info{instance="a", job="1", version="new"} _ _ _ 1 1 1 1 1 1"#,
    ]
    .iter()
    .map(|d| parse_series_desc(d).unwrap())
    .collect();
    load(&st, 0, 60_000, &descs).unwrap();
    let engine = Engine::new(EngineOptions { experimental_functions: true, ..Default::default() });
    let one = |q: &str, t: i64| -> Vec<(String, f64)> {
        let Value::Vector(v) = engine.instant_query(&st, q, t).unwrap().value else { panic!("{q}") };
        v.into_iter().map(|s| (s.metric.to_series_string(), s.f)).collect()
    };
    let at_step = |q: &str, t: i64| -> Vec<(String, f64)> {
        let Value::Matrix(m) = engine.range_query(&st, q, t - 60_000, t + 60_000, 60_000).unwrap().value else {
            panic!("{q}")
        };
        m.into_iter()
            .filter_map(|s| s.points.iter().find(|p| p.t == t).map(|p| (s.metric.to_series_string(), p.f)))
            .collect()
    };
    let old = r#"metric{instance="a", job="1", version="old"}"#;
    let new = r#"metric{instance="a", job="1", version="new"}"#;
    for (q, want) in [
        ("info(last_over_time(metric[10m:1m] @ 420))", (new, 7.0)),
        ("info(last_over_time((metric offset 1m)[10m:1m] @ 180))", (old, 2.0)),
        ("info(last_over_time(metric[10m:1m] @ 420 offset 5m))", (old, 2.0)),
        ("info(metric @ 120)", (old, 2.0)),
    ] {
        for t in [0, 480_000, 2_400_000, 24_000_000] {
            let want = vec![(want.0.to_owned(), want.1)];
            assert_eq!(one(q, t), want, "{q} at {t}");
            assert_eq!(at_step(q, t), want, "{q} at {t} (range)");
        }
    }
    // Without `@`, the subquery's offset shifts the reference time step by step.
    let q = "info(last_over_time(metric[5m:1m] offset 6m))";
    assert_eq!(one(q, 480_000), vec![(old.to_owned(), 2.0)]);
    assert_eq!(one(q, 540_000), vec![(new.to_owned(), 3.0)]);
    assert_eq!(at_step(q, 540_000), vec![(new.to_owned(), 3.0)]);
}
