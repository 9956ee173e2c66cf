//! What does one evaluation cycle of the rule manager cost, apart from PromQL?
//!
//! `cargo bench -p ember-alerting --bench rule_manager -- --warm-up-time 1 --measurement-time 3`
//!
//! 1,000 rules in 10 groups (each group: 90 recording rules and 10 alerting rules with
//! `for: 0`), every rule's query answered by a stub returning 10 series, so a cycle stores
//! 9,000 recorded samples plus 2,000 `ALERTS`/`ALERTS_FOR_STATE` samples and keeps 1,000
//! alerts firing (sent every other cycle under the 1m resend delay).
//!
//! - `cycle/manager+head`: `Manager::run_pending` over an `ember-tsdb` `Head`, the clock
//!   advanced one interval per iteration so every group runs once: evaluation, per-rule
//!   appends and commits, staleness bookkeeping, alert conversion.
//! - `cycle/groups-only`: the same groups evaluated by `Group::eval` into memory (no
//!   storage, no scheduling), the baseline the manager's overhead is measured against.
//! - `cycle/manager+engine+head`: the same shape with real PromQL: 1,000 rules
//!   (`sum by (instance, job) (rate(m_k_total[5m]))` and `rate(m_k_total[5m]) > 0`) through
//!   `engine_query_fn` over a `Head` holding 10 counters × 10 instances scraped every 15s.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ember_alerting::dispatch::ManualClock;
use ember_alerting::rules::eval::{Group, QueryFn, RuleEnv, Sample, engine_query_fn};
use ember_alerting::rules::file::RuleFile;
use ember_alerting::rules::manager::ManagerBuilder;
use ember_exposition::Labels;
use ember_promql::engine::{Engine, EngineOptions};
use ember_tsdb::head::Head;
use ember_tsdb::storage::{AppendOptions, Value};

const GROUPS: usize = 10;
const RECORDING: usize = 90;
const ALERTING: usize = 10;
const SERIES: usize = 10;
const M: i64 = 60_000;
const T0: i64 = 1_704_067_200_000;

/// The rule file text and the stub's answers (expression -> vector).
fn setup() -> (String, Arc<QueryFn>) {
    let mut yaml = String::from("groups:\n");
    let mut answers: HashMap<String, Vec<Sample>> = HashMap::new();
    let vector = |name: Option<&str>, rule: usize| -> Vec<Sample> {
        (0..SERIES)
            .map(|k| {
                let mut l = vec![("instance".to_string(), format!("host-{k}:9100")), ("job".into(), "node".into())];
                l.push(("shard".into(), format!("{}", rule % 7)));
                if let Some(n) = name {
                    l.push(("__name__".into(), n.to_string()));
                }
                Sample { labels: Labels::from_pairs(l), t: 0, v: (rule * SERIES + k) as f64 }
            })
            .collect()
    };
    for g in 0..GROUPS {
        yaml.push_str(&format!("- name: group-{g}\n  interval: 1m\n  rules:\n"));
        for r in 0..RECORDING {
            let id = g * 1000 + r;
            let expr = format!("sum by (instance, job, shard) (rate(m_{id}_total[5m]))");
            yaml.push_str(&format!("  - record: job:m_{id}:rate5m\n    expr: {expr}\n"));
            answers.insert(expr, vector(None, id));
        }
        for a in 0..ALERTING {
            let id = g * 1000 + 500 + a;
            let expr = format!("m_{id} > 0");
            yaml.push_str(&format!(
                "  - alert: A{id}\n    expr: {expr}\n    labels: {{severity: page}}\n    annotations: {{summary: '{{{{ $labels.instance }}}} is {{{{ $value }}}}'}}\n"
            ));
            answers.insert(expr, vector(None, id));
        }
    }
    let answers = Arc::new(answers);
    let q: Arc<QueryFn> = Arc::new(move |expr: &str, t: i64| {
        let v = answers.get(expr).ok_or_else(|| format!("no answer for {expr}"))?;
        Ok(v.iter().map(|s| Sample { labels: s.labels.clone(), t, v: s.v }).collect())
    });
    (yaml, q)
}

fn bench(c: &mut Criterion) {
    let (yaml, q) = setup();
    let dir = std::env::temp_dir().join(format!("ember-bench-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules.yml");
    std::fs::write(&path, &yaml).unwrap();

    let mut g = c.benchmark_group("cycle");
    g.sample_size(20);
    {
        let head = Arc::new(Head::builder().build());
        let clock = ManualClock::new(T0);
        let m = ManagerBuilder::new(head.clone(), head.clone(), q.clone()).clock(Arc::new(clock.clone())).build();
        let report = m.load(&[path.display().to_string()]).unwrap();
        assert_eq!(report.rules, GROUPS * (RECORDING + ALERTING));
        // Warm up past the restore (second evaluation) so every cycle writes ALERTS.
        for _ in 0..3 {
            clock.advance(M);
            m.run_pending();
        }
        g.bench_function("manager+head", |b| {
            b.iter(|| {
                clock.advance(M);
                let r = m.run_pending();
                assert_eq!((r.groups_evaluated, r.errors.len()), (GROUPS, 0));
                black_box(r.alerts.len())
            })
        });
    }
    {
        let rf = RuleFile::parse("rules.yml", &yaml, &|_| Ok(())).unwrap();
        let mut groups: Vec<Group> = rf.groups.iter().map(|g| Group::from_file("rules.yml", g, M)).collect();
        let env = RuleEnv { query: Some(q.clone()), ..Default::default() };
        let mut t = T0;
        g.bench_function("groups-only", |b| {
            b.iter(|| {
                t += M;
                let mut n = 0;
                for grp in &mut groups {
                    n += grp.eval(&env, t).samples.len();
                }
                black_box(n)
            })
        });
    }
    {
        let head = Arc::new(Head::builder().build());
        let mut app = head.appender();
        for k in 0..(6 * 240) {
            let t = T0 - 10 * M + k * 15_000;
            for j in 0..10 {
                for i in 0..SERIES {
                    let l = Labels::from_pairs([
                        ("__name__", format!("m_{j}_total")),
                        ("instance", format!("host-{i}:9100")),
                        ("job", "node".to_string()),
                    ]);
                    app.append(None, &l, t, Value::Float((k * (i as i64 + 1)) as f64), AppendOptions::NONE).unwrap();
                }
            }
        }
        app.commit().unwrap();
        let mut yaml = String::from("groups:\n");
        for g in 0..GROUPS {
            yaml.push_str(&format!("- name: group-{g}\n  interval: 1m\n  rules:\n"));
            for r in 0..RECORDING {
                let id = g * 1000 + r;
                yaml.push_str(&format!(
                    "  - record: job:m_{id}:rate5m\n    expr: sum by (instance, job) (rate(m_{}_total[5m]))\n",
                    id % 10
                ));
            }
            for a in 0..ALERTING {
                let id = g * 1000 + 500 + a;
                yaml.push_str(&format!(
                    "  - alert: A{id}\n    expr: rate(m_{}_total[5m]) > 0\n    labels: {{severity: page}}\n    annotations: {{summary: '{{{{ $labels.instance }}}} is {{{{ $value }}}}'}}\n",
                    id % 10
                ));
            }
        }
        let path = dir.join("engine.yml");
        std::fs::write(&path, &yaml).unwrap();
        let clock = ManualClock::new(T0);
        let q = engine_query_fn(Arc::new(Engine::new(EngineOptions::default())), head.clone());
        let m = ManagerBuilder::new(head.clone(), head.clone(), q).clock(Arc::new(clock.clone())).build();
        m.load(&[path.display().to_string()]).unwrap();
        for _ in 0..3 {
            clock.advance(M);
            m.run_pending();
        }
        g.bench_function("manager+engine+head", |b| {
            b.iter(|| {
                clock.advance(M);
                let r = m.run_pending();
                // 9,000 recorded samples + 2,000 ALERTS/ALERTS_FOR_STATE per cycle while the data lasts (6h).
                assert_eq!((r.groups_evaluated, r.errors.len(), r.samples), (GROUPS, 0, 11_000));
                black_box(r.alerts.len())
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
