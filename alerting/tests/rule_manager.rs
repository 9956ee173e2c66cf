//! The rule manager through its public API, over `MemStorage` with a manual clock and a
//! small query function (instant selectors and comparisons against a number).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ember_alerting::dispatch::{AlertSink, BoxFuture, ManualClock, PostableAlert};
use ember_alerting::rules::eval::{AlertState, EvalErrorKind, QueryFn, RuleHealth, Sample};
use ember_alerting::rules::manager::{Manager, ManagerBuilder, ManagerErrorKind, RuleViewKind};
use ember_exposition::relabel::{Relabel, RelabelAction, RelabelConfig};
use ember_exposition::{Labels, MatchType, Matcher, is_stale_nan, labels};
use ember_tsdb::storage::{AppendOptions, Appendable, MemStorage, Querier, Queryable, Value};

const M: i64 = 60_000;
const T0: i64 = 1_700_000_000_000;

/// `name`, or `name <op> number` with op `>`, `<`, `==` (which drops `__name__`, as
/// PromQL's comparisons do): the latest non-stale sample in the 5m lookback.
fn query_fn(st: MemStorage) -> Arc<QueryFn> {
    Arc::new(move |expr: &str, t: i64| {
        let parts: Vec<&str> = expr.split_whitespace().collect();
        let (name, cmp) = match parts.as_slice() {
            [n] => (*n, None),
            [n, op, x] => {
                let x: f64 = x.parse().map_err(|_| format!("bad number in {expr:?}"))?;
                (*n, Some((op.to_string(), x)))
            }
            _ => return Err(format!("unsupported expression {expr:?}")),
        };
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
            return Err(format!("unsupported expression {expr:?}"));
        }
        let q = st.querier(t - 5 * M + 1, t).map_err(|e| e.to_string())?;
        let m = Matcher::new(MatchType::Equal, "__name__", name).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for s in q.select(true, None, &[m]) {
            let s = s.map_err(|e| e.to_string())?;
            let mut it = s.iter();
            let mut last = None;
            while let Some(p) = it.next() {
                last = p.v.as_float();
            }
            let Some(v) = last.filter(|v| !is_stale_nan(*v)) else { continue };
            match &cmp {
                None => out.push(Sample { labels: s.labels().clone(), t, v }),
                Some((op, x)) => {
                    let keep = match op.as_str() {
                        ">" => v > *x,
                        "<" => v < *x,
                        "==" => v == *x,
                        _ => return Err(format!("unsupported operator {op}")),
                    };
                    if keep {
                        out.push(Sample { labels: s.labels().without_metric_name(), t, v });
                    }
                }
            }
        }
        Ok(out)
    })
}

fn put(st: &MemStorage, samples: &[(Labels, i64, f64)]) {
    let mut app = st.appender();
    for (l, t, v) in samples {
        app.append(None, l, *t, Value::Float(*v), AppendOptions::NONE).unwrap();
    }
    app.commit().unwrap();
}

/// Every sample of series named `name` in `[mint, maxt]`, by series.
fn read(st: &MemStorage, name: &str, mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let q = st.querier(mint, maxt).unwrap();
    let m = Matcher::new(MatchType::Equal, "__name__", name).unwrap();
    q.select(true, None, &[m])
        .map(|s| {
            let s = s.unwrap();
            let mut it = s.iter();
            let mut pts = Vec::new();
            while let Some(p) = it.next() {
                pts.push((p.t, p.v.as_float().unwrap()));
            }
            (s.labels().clone(), pts)
        })
        .collect()
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-manager-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

fn manager(st: &MemStorage, clock: &ManualClock) -> ManagerBuilder {
    let s: Arc<MemStorage> = Arc::new(st.clone());
    ManagerBuilder::new(s.clone(), s, query_fn(st.clone())).clock(Arc::new(clock.clone()))
}

/// Moves the clock to the next deadline and runs the due groups.
fn step(m: &Manager, clock: &ManualClock) -> ember_alerting::rules::manager::CycleReport {
    clock.set(m.next_deadline().expect("something scheduled"));
    m.run_pending()
}

#[test]
fn groups_run_in_their_slots_and_rules_see_earlier_results() {
    let dir = tmpdir("slots");
    let f = write(
        &dir,
        "rec.yml",
        "groups:\n- name: rec\n  rules:\n  - record: up_copy\n    expr: up\n  - record: up_positive\n    expr: up_copy > 0\n",
    );
    let st = MemStorage::new();
    put(
        &st,
        &[
            (labels! {"__name__" => "up", "instance" => "a"}, T0, 1.0),
            (labels! {"__name__" => "up", "instance" => "b"}, T0, 1.0),
        ],
    );
    let clock = ManualClock::new(T0);
    let m = manager(&st, &clock).build();
    let r = m.load(&[&f]).unwrap();
    assert_eq!((r.files, r.groups, r.rules, r.added), (1, 1, 2, 1));
    let next = m.next_deadline().unwrap();
    assert!(next > T0 && next <= T0 + M, "first slot after loading: {next}");
    assert_eq!(m.rule_groups()[0].next_evaluation, next);
    assert_eq!(m.run_pending().groups_evaluated, 0, "nothing is due before the slot");
    let ts = next;
    let c = step(&m, &clock);
    assert_eq!((c.groups_evaluated, c.samples, c.errors.len()), (1, 4, 0));
    // The second rule saw the first rule's output at the same timestamp.
    let got = read(&st, "up_positive", 0, i64::MAX);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], (labels! {"__name__" => "up_positive", "instance" => "a"}, vec![(ts, 1.0)]));
    // The slot is stable: the next one is exactly one interval later.
    assert_eq!(m.next_deadline(), Some(ts + M));
    // Only `a` keeps reporting; fall 5 slots behind: one evaluation at the latest slot,
    // and b's recorded series get staleness markers there.
    put(&st, &[(labels! {"__name__" => "up", "instance" => "a"}, ts + 5 * M + 30_000, 1.0)]);
    clock.set(ts + 6 * M + 30_000);
    let c = m.run_pending();
    assert_eq!(c.groups_evaluated, 1);
    let g = &m.rule_groups()[0];
    assert_eq!(g.iterations_missed, 5);
    assert_eq!(g.last_evaluation, Some(ts + 6 * M + 30_000));
    assert_eq!(g.next_evaluation, ts + 7 * M);
    for name in ["up_copy", "up_positive"] {
        let got = read(&st, name, 0, i64::MAX);
        assert_eq!(got[0].1, vec![(ts, 1.0), (ts + 6 * M, 1.0)], "{name} a");
        assert_eq!(got[1].1[0], (ts, 1.0));
        assert_eq!(got[1].1[1].0, ts + 6 * M, "{name} b marked stale at the slot");
        assert!(is_stale_nan(got[1].1[1].1));
    }
    // Only once.
    let c = step(&m, &clock);
    assert_eq!(c.samples, 2);
    assert_eq!(read(&st, "up_copy", 0, i64::MAX)[1].1.len(), 2);
}

#[derive(Default)]
struct Capture(Mutex<Vec<PostableAlert>>);

impl AlertSink for Capture {
    fn send(&self, alerts: Vec<PostableAlert>) -> BoxFuture<'_, ()> {
        self.0.lock().unwrap().extend(alerts);
        Box::pin(std::future::ready(()))
    }
}

#[test]
fn alerts_are_stored_sent_relabeled_and_resolved() {
    let dir = tmpdir("alerts");
    let f = write(
        &dir,
        "alerts.yml",
        r#"groups:
- name: up
  rules:
  - alert: Up
    expr: up > 0
    for: 2m
    labels: {severity: page}
    annotations: {summary: "{{ $labels.instance }} is up in {{ $externalLabels.cluster }}"}
"#,
    );
    let st = MemStorage::new();
    let clock = ManualClock::new(T0);
    let drop_b = Relabel::new(RelabelConfig {
        source_labels: vec!["instance".into()],
        regex: "b".into(),
        action: RelabelAction::Drop,
        ..Default::default()
    })
    .unwrap();
    let m = manager(&st, &clock)
        .external_labels(labels! {"cluster" => "eu", "severity" => "ignored"})
        .external_url("http://prom.example:9090/")
        .alert_relabel(vec![drop_b])
        .build();
    m.load(&[&f]).unwrap();
    let s1 = m.next_deadline().unwrap();
    let up = |inst: &str, t: i64, v: f64| (labels! {"__name__" => "up", "instance" => inst}, t, v);
    put(&st, &[up("a", T0, 1.0), up("b", T0, 1.0)]);
    let feed = |t: i64, a: f64| put(&st, &[up("a", t, a), up("b", t, 1.0)]);

    let c = step(&m, &clock);
    assert!(c.alerts.is_empty(), "pending alerts are not sent");
    assert_eq!(m.alerts().iter().map(|a| a.state).collect::<Vec<_>>(), [AlertState::Pending; 2]);
    assert!(read(&st, "ALERTS", 0, i64::MAX).is_empty(), "no ALERTS before for-state restoration");
    feed(s1 + M, 1.0);
    step(&m, &clock);
    feed(s1 + 2 * M, 1.0);
    let c = step(&m, &clock);
    assert_eq!(c.alerts.len(), 1, "b is dropped by alert_relabel_configs: {:?}", c.alerts);
    let a = &c.alerts[0];
    assert_eq!(a.labels, labels! {"alertname" => "Up", "cluster" => "eu", "instance" => "a", "severity" => "page"});
    assert_eq!(a.annotations, labels! {"summary" => "a is up in eu"});
    assert_eq!((a.starts_at, a.ends_at), (Some(s1 + 2 * M), Some(s1 + 6 * M)));
    assert_eq!(a.generator_url, "http://prom.example:9090/graph?g0.expr=up+%3E+0&g0.tab=1");
    // Restored after the second evaluation: ALERTS and ALERTS_FOR_STATE from the third.
    let alerts = read(&st, "ALERTS", 0, i64::MAX);
    assert_eq!(alerts.len(), 2);
    assert_eq!(
        alerts[0],
        (
            labels! {"__name__" => "ALERTS", "alertname" => "Up", "alertstate" => "firing", "instance" => "a", "severity" => "page"},
            vec![(s1 + 2 * M, 1.0)]
        )
    );
    let fs = read(&st, "ALERTS_FOR_STATE", 0, i64::MAX);
    assert_eq!(fs[0].1, vec![(s1 + 2 * M, (s1 / 1000) as f64)]);
    // Resend delay 1m, strictly: not resent one interval later, resent two later.
    feed(s1 + 3 * M, 1.0);
    assert!(step(&m, &clock).alerts.is_empty());
    feed(s1 + 4 * M, 1.0);
    assert_eq!(step(&m, &clock).alerts.len(), 1);
    // a goes down: resolved, sent once with endsAt = the resolution time.
    feed(s1 + 5 * M, 0.0);
    let c = step(&m, &clock);
    assert_eq!(c.alerts.len(), 1);
    assert_eq!(c.alerts[0].ends_at, Some(s1 + 5 * M));
    assert_eq!(m.alerts().len(), 1, "the resolved alert is not listed; b still is");
    let alerts = read(&st, "ALERTS", 0, i64::MAX);
    let (t, v) = *alerts[0].1.last().unwrap();
    assert_eq!(t, s1 + 5 * M);
    assert!(is_stale_nan(v), "a's ALERTS series is marked stale");
    feed(s1 + 6 * M, 0.0);
    assert!(step(&m, &clock).alerts.is_empty(), "resolved alerts are sent once");
    // Views.
    let g = &m.rule_groups()[0];
    let r = &g.rules[0];
    assert_eq!((r.name.as_str(), r.query.as_str(), r.status.health), ("Up", "up > 0", RuleHealth::Good));
    match &r.kind {
        RuleViewKind::Alerting { state, for_ms, alerts, .. } => {
            assert_eq!((*state, *for_ms, alerts.len()), (AlertState::Firing, 2 * M, 1));
        }
        RuleViewKind::Recording => panic!("alerting rule expected"),
    }
}

#[test]
fn for_state_is_restored_after_a_restart() {
    let dir = tmpdir("restore");
    let f = write(
        &dir,
        "slow.yml",
        "groups:\n- name: slow\n  rules:\n  - alert: Slow\n    expr: lat > 1\n    for: 30m\n  - alert: Quick\n    expr: lat > 1\n    for: 5m\n",
    );
    let st = MemStorage::new();
    // What the previous process left: (instance, active since, last written).
    let prev = [
        ("a", T0 - 20 * M, T0 - 5 * M),    // 15m of 30m left: shifted by the outage
        ("b", T0 - 25 * M, T0 - M),        // 6m left, under the 10m grace period: fires 10m after restore
        ("c", T0 - 40 * M, T0 - M),        // was firing: fires at the next evaluation
        ("d", T0 - 200 * M, T0 - 120 * M), // outage beyond the 1h tolerance: starts over
    ];
    let mut old = Vec::new();
    for (inst, active, down) in prev {
        for name in ["Slow", "Quick"] {
            let l = labels! {"__name__" => "ALERTS_FOR_STATE", "alertname" => name, "instance" => inst};
            old.push((l.clone(), down - M, (active / 1000) as f64));
            old.push((l, down, (active / 1000) as f64));
        }
    }
    put(&st, &old);
    let clock = ManualClock::new(T0);
    let m = manager(&st, &clock).build();
    m.load(&[&f]).unwrap();
    let s1 = m.next_deadline().unwrap();
    let mut fired: Vec<(String, String, i64)> = Vec::new();
    for k in 0..35 {
        let t = s1 + k * M;
        let lat: Vec<_> =
            ["a", "b", "c", "d"].iter().map(|i| (labels! {"__name__" => "lat", "instance" => *i}, t, 5.0)).collect();
        put(&st, &lat);
        clock.set(t);
        let c = m.run_pending();
        assert_eq!(c.groups_evaluated, 1);
        for a in c.alerts {
            if a.starts_at == Some(t) {
                let l = |n| a.labels.get(n).unwrap().to_string();
                fired.push((l("alertname"), l("instance"), (t - s1) / M));
            }
        }
    }
    fired.sort();
    let restore = s1 + M; // restored after the second evaluation, at its time
    let want_a = (T0 - 20 * M + (restore - (T0 - 5 * M)) + 30 * M - s1 + M - 1) / M;
    let want_b = (restore + 10 * M - s1 + M - 1) / M;
    let want = vec![
        // Quick's `for` is under the grace period: not restored, fires 5m after s1.
        ("Quick".to_string(), "a".to_string(), 5),
        ("Quick".into(), "b".into(), 5),
        ("Quick".into(), "c".into(), 5),
        ("Quick".into(), "d".into(), 5),
        ("Slow".into(), "a".into(), want_a),
        ("Slow".into(), "b".into(), want_b),
        ("Slow".into(), "c".into(), 2),
        ("Slow".into(), "d".into(), 30),
    ];
    assert_eq!(fired, want);
    assert_eq!((want_a, want_b), (16, 11));
}

#[test]
fn reload_keeps_unchanged_groups_and_carries_state() {
    let dir = tmpdir("reload");
    let v1 = "groups:\n- name: g1\n  rules:\n  - alert: A\n    expr: up > 0\n  - record: r1\n    expr: up\n- name: g2\n  rules:\n  - record: r2\n    expr: up\n";
    let f = write(&dir, "rules.yml", v1);
    let st = MemStorage::new();
    let clock = ManualClock::new(T0);
    let m = manager(&st, &clock).build();
    m.load(&[dir.join("*.yml").display().to_string()]).unwrap();
    let up = |t| put(&st, &[(labels! {"__name__" => "up", "instance" => "a"}, t, 1.0)]);
    up(T0);
    for _ in 0..4 {
        let t = m.next_deadline().unwrap();
        up(t);
        step(&m, &clock);
    }
    let active_at = m.alerts()[0].active_at;
    let before = m.rule_groups();
    // Unchanged: nothing restarts.
    clock.advance(1000);
    let r = m.load(&[&f]).unwrap();
    assert_eq!((r.unchanged, r.changed, r.added, r.removed), (2, 0, 0, 0));
    let after = m.rule_groups();
    assert_eq!(after[0].next_evaluation, before[0].next_evaluation);
    assert_eq!(after[0].rules[0].status, before[0].rules[0].status);
    // Invalid files change nothing and name file, group and rule.
    let bad = write(&dir, "bad.yml", "groups:\n- name: b\n  rules:\n  - record: x\n    expr: 'sum('\n");
    let e = m.load(&[&f, &bad]).unwrap_err();
    match &e.kind {
        ManagerErrorKind::RuleFiles(errs) => {
            assert_eq!(errs.len(), 1);
            assert_eq!((errs[0].group.as_deref(), errs[0].rule.clone()), (Some("b"), Some((1, "x".to_string()))));
        }
        k => panic!("unexpected {k:?}"),
    }
    assert!(e.to_string().contains("bad.yml"), "{e}");
    std::fs::remove_file(&bad).unwrap();
    assert_eq!(m.rule_groups().len(), 2);
    // g1 changes (r1 replaced by r3), g2 goes away.
    clock.advance(1000);
    let reload_at = clock_now(&clock);
    let v2 = "groups:\n- name: g1\n  rules:\n  - alert: A\n    expr: up > 0\n  - record: r3\n    expr: up\n";
    write(&dir, "rules.yml", v2);
    let r = m.load(&[dir.join("*.yml").display().to_string()]).unwrap();
    assert_eq!((r.unchanged, r.changed, r.added, r.removed), (0, 1, 0, 1));
    assert_eq!(m.alerts()[0].active_at, active_at, "A's alert carried over");
    assert_eq!(m.alerts()[0].state, AlertState::Firing);
    let t = m.next_deadline().unwrap();
    up(t);
    let c = step(&m, &clock);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let r1 = read(&st, "r1", 0, i64::MAX);
    let (last_t, last_v) = *r1[0].1.last().unwrap();
    assert_eq!(last_t, t, "r1 marked stale at g1's first evaluation after the reload");
    assert!(is_stale_nan(last_v));
    assert_eq!(read(&st, "r3", 0, i64::MAX)[0].1, vec![(t, 1.0)]);
    // g2's series are marked stale two intervals after the reload, at the reload time.
    let r2_len = read(&st, "r2", 0, i64::MAX)[0].1.len();
    clock.set(reload_at + 2 * M - 1);
    m.run_pending();
    assert_eq!(read(&st, "r2", 0, i64::MAX)[0].1.len(), r2_len);
    clock.set(reload_at + 2 * M);
    m.run_pending();
    let r2 = read(&st, "r2", 0, i64::MAX);
    let (last_t, last_v) = *r2[0].1.last().unwrap();
    assert_eq!(last_t, reload_at);
    assert!(is_stale_nan(last_v));
    assert_eq!(m.rule_groups().len(), 1);
}

#[test]
fn failing_rules_report_health_and_the_others_run() {
    let dir = tmpdir("health");
    let f = write(
        &dir,
        "h.yml",
        "groups:\n- name: h\n  interval: 30s\n  limit: 1\n  rules:\n  - record: bad\n    expr: rate(up[5m])\n  - record: good\n    expr: up\n  - record: too_many\n    expr: many\n",
    );
    let st = MemStorage::new();
    put(&st, &[(labels! {"__name__" => "up"}, T0, 1.0)]);
    put(
        &st,
        &[(labels! {"__name__" => "many", "i" => "1"}, T0, 1.0), (labels! {"__name__" => "many", "i" => "2"}, T0, 1.0)],
    );
    let clock = ManualClock::new(T0);
    let m = manager(&st, &clock).build();
    m.load(&[&f]).unwrap();
    let g = &m.rule_groups()[0];
    assert_eq!((g.interval_ms, g.limit), (30_000, 1));
    assert!(g.rules.iter().all(|r| r.status.health == RuleHealth::Unknown));
    let c = step(&m, &clock);
    assert_eq!(c.errors.len(), 2);
    let g = &m.rule_groups()[0];
    let [bad, good, many] = &g.rules[..] else { panic!() };
    assert_eq!(bad.status.health, RuleHealth::Bad);
    assert!(
        matches!(&bad.status.last_error.as_ref().unwrap().kind, EvalErrorKind::Query(m) if m.contains("unsupported")),
        "{:?}",
        bad.status.last_error
    );
    assert_eq!((good.status.health, good.status.last_evaluation), (RuleHealth::Good, Some(clock_now(&clock))));
    assert_eq!(many.status.last_error.as_ref().unwrap().kind, EvalErrorKind::LimitExceeded { limit: 1, got: 2 });
    assert_eq!(g.last_evaluation, Some(clock_now(&clock)));
    assert_eq!(read(&st, "good", 0, i64::MAX).len(), 1);
    // A rejected sample (out of order against what is stored) makes the rule unhealthy.
    put(&st, &[(labels! {"__name__" => "good"}, T0 + 10 * M, 7.0)]);
    step(&m, &clock);
    let good = &m.rule_groups()[0].rules[1];
    assert_eq!(good.status.health, RuleHealth::Bad);
    assert!(matches!(good.status.last_error.as_ref().unwrap().kind, EvalErrorKind::Append(_)));
}

fn clock_now(c: &ManualClock) -> i64 {
    use ember_alerting::dispatch::Clock;
    c.now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sends_alerts_to_sinks_until_stopped() {
    let dir = tmpdir("run");
    let f = write(&dir, "r.yml", "groups:\n- name: r\n  rules:\n  - alert: Up\n    expr: up > 0\n");
    let st = MemStorage::new();
    put(&st, &[(labels! {"__name__" => "up", "instance" => "a"}, T0, 1.0)]);
    let clock = ManualClock::new(T0);
    let sink = Arc::new(Capture::default());
    let m = manager(&st, &clock).sink(sink.clone()).resend_delay(Duration::from_secs(0)).build();
    m.load(&[&f]).unwrap();
    clock.set(m.next_deadline().unwrap());
    let runner = {
        let m = m.clone();
        tokio::spawn(async move { m.run().await })
    };
    for _ in 0..200 {
        if !sink.0.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    m.stop();
    tokio::time::timeout(Duration::from_secs(5), runner).await.expect("run returns after stop").unwrap();
    let got = sink.0.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, labels! {"alertname" => "Up", "instance" => "a"});
}

#[test]
fn manager_over_the_promql_engine_and_a_head() {
    use ember_alerting::rules::eval::engine_query_fn;
    use ember_promql::engine::{Engine, EngineOptions};
    use ember_tsdb::head::Head;
    let dir = tmpdir("engine");
    let f = write(
        &dir,
        "e.yml",
        r#"groups:
- name: e
  rules:
  - record: job:req:rate1m
    expr: sum by (job) (rate(req_total[1m]))
  - alert: Busy
    expr: job:req:rate1m > 1
    for: 1m
    annotations: {summary: "{{ $labels.job }} at {{ $value | humanize }}/s"}
"#,
    );
    let head = Arc::new(Head::builder().build());
    let q = engine_query_fn(Arc::new(Engine::new(EngineOptions::default())), head.clone());
    let clock = ManualClock::new(T0);
    let m = ManagerBuilder::new(head.clone(), head.clone(), q).clock(Arc::new(clock.clone())).build();
    m.load(&[&f]).unwrap();
    let s1 = m.next_deadline().unwrap();
    // Two instances, each 90 requests a minute (1.5/s), sampled every 15s.
    let mut app = head.appender();
    for k in 0..40 {
        let t = s1 - 2 * M + k * 15_000;
        for i in ["1", "2"] {
            let l = labels! {"__name__" => "req_total", "job" => "api", "instance" => i};
            app.append(None, &l, t, Value::Float(k as f64 * 22.5), AppendOptions::NONE).unwrap();
        }
    }
    app.commit().unwrap();
    let mut sent = Vec::new();
    for k in 0..4 {
        clock.set(s1 + k * M);
        let c = m.run_pending();
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        sent.extend(c.alerts);
    }
    let q = head.querier(0, i64::MAX).unwrap();
    let rec: Vec<_> = q
        .select(true, None, &[Matcher::new(MatchType::Equal, "__name__", "job:req:rate1m").unwrap()])
        .map(|s| s.unwrap().labels().clone())
        .collect();
    assert_eq!(rec, [labels! {"__name__" => "job:req:rate1m", "job" => "api"}]);
    // Fires at the second evaluation; the 1m resend delay is strict, so resent at the fourth.
    assert_eq!(sent.len(), 2);
    assert_eq!((sent[1].starts_at, sent[1].ends_at), (Some(s1 + M), Some(s1 + 7 * M)));
    assert_eq!(sent[0].labels, labels! {"alertname" => "Busy", "job" => "api"});
    assert_eq!(sent[0].annotations, labels! {"summary" => "api at 3/s"});
    assert_eq!(sent[0].starts_at, Some(s1 + M));
}

/// Prometheus runs each group on its own: a group whose query takes 4 s must not hold back
/// a 1 s group beside it (its own later slots are what it misses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_group_does_not_delay_the_others() {
    let dir = tmpdir("slow");
    let f = write(
        &dir,
        "r.yml",
        "groups:\n- name: slow\n  interval: 1s\n  rules:\n  - record: slow_out\n    expr: slow\n\
         - name: fast\n  interval: 1s\n  rules:\n  - record: fast_out\n    expr: up\n",
    );
    let st = MemStorage::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    put(&st, &[(labels! {"__name__" => "up", "instance" => "a"}, now, 1.0)]);
    let plain = query_fn(st.clone());
    let q: Arc<QueryFn> = Arc::new(move |expr: &str, t: i64| {
        if expr == "slow" {
            std::thread::sleep(Duration::from_secs(4));
            return Ok(Vec::new());
        }
        plain(expr, t)
    });
    let s: Arc<MemStorage> = Arc::new(st.clone());
    let m = ManagerBuilder::new(s.clone(), s, q).build();
    m.load(&[&f]).unwrap();
    let runner = {
        let m = m.clone();
        tokio::spawn(async move { m.run().await })
    };
    tokio::time::sleep(Duration::from_millis(3500)).await;
    m.stop();
    tokio::time::timeout(Duration::from_secs(10), runner).await.expect("run returns after stop").unwrap();
    let fast: usize = read(&st, "fast_out", 0, i64::MAX).iter().map(|(_, pts)| pts.len()).sum();
    // Slots every second for 3.5 s, the first within a second of loading: at least 2, even
    // on a loaded machine; evaluated one group after the other, at most 1.
    assert!(fast >= 2, "the fast group evaluated {fast} times while the slow one ran");
    let slow = m.rule_groups().into_iter().find(|g| g.name == "slow").unwrap();
    // `run` returned only after the slow evaluation in flight had finished.
    assert!(slow.last_evaluation.is_some() && slow.evaluation_time >= Duration::from_secs(4), "{slow:?}");
}

/// A reload re-applies the global settings, as Prometheus does: groups without their own
/// interval take the new `evaluation_interval`, alerts get the new external labels and
/// relabeling; an invalid file changes neither rules nor settings.
#[test]
fn reload_applies_new_settings_all_or_nothing() {
    use ember_alerting::rules::manager::Settings;
    let dir = tmpdir("settings");
    let f = write(
        &dir,
        "r.yml",
        "groups:\n- name: inherits\n  rules:\n  - alert: Up\n    expr: up > 0\n\
         - name: own\n  interval: 30s\n  rules:\n  - record: x\n    expr: up\n",
    );
    let st = MemStorage::new();
    let clock = ManualClock::new(T0);
    let m = manager(&st, &clock).external_labels(labels! {"cluster" => "eu"}).build();
    m.load(&[&f]).unwrap();
    let interval = |name: &str| m.rule_groups().into_iter().find(|g| g.name == name).unwrap().interval_ms;
    assert_eq!((interval("inherits"), interval("own")), (M, 30_000));

    let keep_a = Relabel::new(RelabelConfig {
        source_labels: vec!["instance".into()],
        regex: "a".into(),
        action: RelabelAction::Keep,
        ..Default::default()
    })
    .unwrap();
    let settings = Settings {
        evaluation_interval: Duration::from_secs(20),
        query_offset: Duration::from_secs(0),
        external_labels: labels! {"cluster" => "us"},
        alert_relabel: vec![keep_a],
    };
    let r = m.reload(&[&f], settings.clone()).unwrap();
    assert_eq!((r.changed, r.unchanged), (1, 1), "only the group inheriting the interval changed");
    assert_eq!((interval("inherits"), interval("own")), (20_000, 30_000));

    // An invalid file: nothing changes, the new settings included.
    let bad = write(&dir, "bad.yml", "groups:\n- name: b\n  rules:\n  - record: y\n    expr: 'up +'\n");
    let other = Settings { evaluation_interval: Duration::from_secs(5), ..settings };
    assert!(m.reload(&[&f, &bad], other).is_err());
    assert_eq!((interval("inherits"), m.settings().evaluation_interval), (20_000, Duration::from_secs(20)));

    // Alerts carry the new external labels and pass the new relabeling.
    let up = |inst: &str, v: f64| (labels! {"__name__" => "up", "instance" => inst}, clock_now(&clock), v);
    put(&st, &[up("a", 1.0), up("b", 1.0)]);
    let mut sent = Vec::new();
    for _ in 0..3 {
        let t = m.next_deadline().unwrap();
        put(&st, &[(labels! {"__name__" => "up", "instance" => "a"}, t, 1.0)]);
        put(&st, &[(labels! {"__name__" => "up", "instance" => "b"}, t, 1.0)]);
        sent.extend(step(&m, &clock).alerts);
    }
    assert!(!sent.is_empty(), "the alert fires");
    assert!(
        sent.iter().all(|a| a.labels == labels! {"alertname" => "Up", "cluster" => "us", "instance" => "a"}),
        "{sent:?}"
    );
}

/// With the parse options of an engine whose experimental switches are off, a rule file
/// using a gated construct is refused at load and at reload, with the parser's words; with
/// the switch on it loads.
#[test]
fn gated_promql_is_refused_without_its_feature() {
    use ember_alerting::rules::manager::Settings;
    use ember_promql::parser::{Feature, ParseOptions};
    let dir = tmpdir("features");
    let ok = write(&dir, "ok.yml", "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n");
    let cases = [
        ("limitk(1, up)", Feature::ExperimentalFunctions, "limitk() is experimental"),
        ("rate(up[5m] anchored)", Feature::ExtendedRangeSelectors, "anchored modifier is experimental and not enabled"),
        ("up + fill(0) up", Feature::BinopFillModifiers, "binop fill modifiers are experimental and not enabled"),
    ];
    let st = MemStorage::new();
    let clock = ManualClock::new(T0);
    for (i, (expr, feature, words)) in cases.into_iter().enumerate() {
        let gated = write(
            &dir,
            &format!("gated{i}.yml"),
            &format!("groups:\n- name: g{i}\n  rules:\n  - record: r{i}\n    expr: '{expr}'\n"),
        );
        let off = manager(&st, &clock).parse_options(ParseOptions::default()).build();
        let err = off.load(&[&gated]).unwrap_err().to_string();
        assert!(err.contains(words) && err.contains(&gated), "{expr}: {err}");
        // A reload is checked the same way and changes nothing.
        off.load(&[&ok]).unwrap();
        let settings: Settings = off.settings();
        assert!(off.reload(&[&ok, &gated], settings).is_err(), "{expr}");
        assert_eq!(off.rule_groups().len(), 1, "{expr}");

        let on = manager(&st, &clock).parse_options(ParseOptions::default().with_feature(feature)).build();
        on.load(&[&gated]).unwrap_or_else(|e| panic!("{expr} with {feature}: {e}"));
        // The default check accepts every experimental construct.
        manager(&st, &clock).build().load(&[&gated]).unwrap();
    }
}
