//! The `promtool test rules` files in `testdata/rule-tests` run through Ember's runner,
//! with the PromQL engine over an `ember-tsdb` head (the production pair).

use std::path::PathBuf;
use std::sync::Arc;

use ember_alerting::rules::file::promql_check;
use ember_alerting::rules::unittest::{EngineBackend, run_file};
use ember_promql::engine::Engine;
use ember_tsdb::head::Head;

fn backend() -> EngineBackend {
    EngineBackend::new(Engine::new(EngineBackend::engine_options(60_000)), || Arc::new(Head::builder().build()))
}

#[test]
fn testdata_rule_tests_pass() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/rule-tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{} files", files.len());
    let mut failed = Vec::new();
    for f in &files {
        let report = run_file(f, &promql_check, &mut backend());
        if !report.passed() {
            failed.push(format!("{}:\n{}", f.display(), report.failures.join("\n")));
        }
    }
    assert!(failed.is_empty(), "{} of {} files failed:\n{}", failed.len(), files.len(), failed.join("\n\n"));
}

/// A failing expectation fails (the runner is not vacuous over the real engine).
#[test]
fn a_wrong_expectation_fails() {
    let dir = std::env::temp_dir().join(format!("ember-rule-unittests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("r.yml"),
        "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  - alert: Down\n    expr: job:up:sum == 0\n    for: 1m\n",
    )
    .unwrap();
    let t = dir.join("t.yml");
    std::fs::write(
        &t,
        r#"rule_files: [r.yml]
tests:
  - interval: 1m
    input_series:
      - {series: 'up{job="a",instance="1"}', values: '1 0 0 0'}
      - {series: 'up{job="a",instance="2"}', values: '1 0 0 0'}
    promql_expr_test:
      - {expr: job:up:sum, eval_time: 0m, exp_samples: [{labels: 'job:up:sum{job="a"}', value: 2}]}
      - {expr: job:up:sum, eval_time: 1m, exp_samples: [{labels: 'job:up:sum{job="a"}', value: 5}]}
    alert_rule_test:
      - {eval_time: 1m, alertname: Down}
      - {eval_time: 2m, alertname: Down, exp_alerts: [{exp_labels: {job: a}}]}
      - {eval_time: 3m, alertname: Down}
"#,
    )
    .unwrap();
    let r = run_file(&t, &promql_check, &mut backend());
    assert_eq!(r.failures.len(), 2, "{:#?}", r.failures);
    assert!(r.failures[0].contains("time: 3m"), "{}", r.failures[0]);
    assert!(r.failures[1].contains("exp: {__name__=\"job:up:sum\", job=\"a\"} 5"), "{}", r.failures[1]);
}
