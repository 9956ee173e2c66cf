//! Rule unit tests in the `promtool test rules` file format.
//!
//! A test file names rule files and lists test groups; each group loads `input_series`
//! (in the expanding series notation), evaluates every rule group step by step from time 0
//! to the last `eval_time`, and checks the firing alerts of `alert_rule_test` cases and the
//! results of `promql_expr_test` cases.
//!
//! The runner reaches storage and PromQL through a [`Backend`]: the server and tests plug
//! in the TSDB head and the PromQL engine, the same pair rules use in production.

use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ember_exposition::{Labels, METRIC_NAME_LABEL, STALE_NAN};
use ember_promql::engine::{Engine, EngineOptions};
use ember_promql::series::{SeriesValue, parse_series_desc};
use ember_tsdb::storage::{AppendError, AppendOptions, Queryable, Storage, Value};
use serde::Deserialize;

use super::eval::{ALERT_NAME_LABEL, AlertState, Group, QueryFn, Rule, RuleEnv, Sample, SampleWriter, engine_query_fn};
use super::file::{Duration, RuleFile};

/// A `promtool test rules` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitTestFile {
    /// Rule files (relative to the test file; globs allowed).
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// The step between rule evaluations; default 1m.
    #[serde(default)]
    pub evaluation_interval: Option<Duration>,
    /// Groups evaluated first, in this order; the rest follow in file order.
    #[serde(default)]
    pub group_eval_order: Vec<String>,
    /// Ignore differences in the last bit of the mantissa when comparing values.
    #[serde(default)]
    pub fuzzy_compare: bool,
    /// The test groups.
    #[serde(default)]
    pub tests: Vec<TestGroup>,
}

/// One test group: input data plus test cases.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestGroup {
    /// The step between input values; default the evaluation interval.
    pub interval: Option<Duration>,
    /// The input series.
    pub input_series: Vec<InputSeries>,
    /// A name shown in failures.
    pub name: String,
    /// Alert checks.
    pub alert_rule_test: Vec<AlertTestCase>,
    /// Expression checks.
    pub promql_expr_test: Vec<PromqlTestCase>,
    /// External labels visible to templates.
    pub external_labels: BTreeMap<String, String>,
    /// External URL visible to templates.
    pub external_url: String,
}

/// An input series in the expanding notation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSeries {
    /// `metric{label="value"}`.
    pub series: String,
    /// `1 2+3x4 _ stale`.
    pub values: String,
}

/// The alerts expected to fire for one alert name at one time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTestCase {
    /// When to check.
    pub eval_time: Duration,
    /// Which alert name.
    pub alertname: String,
    /// The firing alerts expected (none when empty).
    #[serde(default)]
    pub exp_alerts: Vec<ExpectedAlert>,
}

/// One expected alert.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpectedAlert {
    /// Labels (without `alertname`, which is implied).
    pub exp_labels: BTreeMap<String, String>,
    /// Annotations.
    pub exp_annotations: BTreeMap<String, String>,
}

/// An expression and its expected instant-query result.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromqlTestCase {
    /// The expression.
    pub expr: String,
    /// When to evaluate it.
    pub eval_time: Duration,
    /// The expected samples (order does not matter).
    #[serde(default)]
    pub exp_samples: Vec<ExpectedSample>,
}

/// One expected sample.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSample {
    /// Labels in series notation (`name{a="b"}`, or `{}` for none).
    pub labels: String,
    /// The value.
    #[serde(default)]
    pub value: f64,
}

/// Storage plus PromQL for the runner.
pub trait Backend {
    /// Drops all data (between test groups).
    fn clear(&mut self);
    /// Appends samples (input series and rule results).
    fn append(&mut self, samples: &[Sample]) -> Result<(), String>;
    /// An instant-query function over the data appended so far and later.
    fn query_fn(&self) -> Arc<QueryFn>;
}

/// A [`Backend`] over any storage and the PromQL engine, the pair rules use in
/// production: `clear` swaps in a fresh storage from the factory, appends go through
/// one appender per batch, queries through [`engine_query_fn`].
pub struct EngineBackend {
    engine: Arc<Engine>,
    make: Box<dyn Fn() -> Arc<dyn Storage> + Send + Sync>,
    storage: Arc<dyn Storage>,
}

impl EngineBackend {
    /// A backend evaluating with `engine` over storages made by `make` (one per test group).
    pub fn new(engine: Engine, make: impl Fn() -> Arc<dyn Storage> + Send + Sync + 'static) -> Self {
        let storage = make();
        EngineBackend { engine: Arc::new(engine), make: Box::new(make), storage }
    }

    /// The engine options `promtool test rules` uses: Prometheus's defaults with the
    /// subquery step of the test file's evaluation interval.
    pub fn engine_options(evaluation_interval_ms: i64) -> EngineOptions {
        EngineOptions {
            default_subquery_step: std::time::Duration::from_millis(evaluation_interval_ms.max(1) as u64),
            ..EngineOptions::default()
        }
    }
}

impl fmt::Debug for EngineBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineBackend").field("engine", self.engine.options()).finish_non_exhaustive()
    }
}

impl Backend for EngineBackend {
    fn clear(&mut self) {
        self.storage = (self.make)();
    }

    fn append(&mut self, samples: &[Sample]) -> Result<(), String> {
        let mut app = self.storage.appender();
        for s in samples {
            app.append(None, &s.labels, s.t, Value::Float(s.v), AppendOptions::NONE)
                .map_err(|e| format!("appending {} at {}: {e}", s.labels, s.t))?;
        }
        app.commit().map_err(|e| e.to_string())
    }

    fn query_fn(&self) -> Arc<QueryFn> {
        let q: Arc<dyn Queryable> = self.storage.clone();
        engine_query_fn(self.engine.clone(), q)
    }
}

/// The outcome of one test file.
#[derive(Debug, Default)]
pub struct UnitTestReport {
    /// Failures, each a readable paragraph; empty when the file passed.
    pub failures: Vec<String>,
}

impl UnitTestReport {
    /// Whether every test passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

fn fmt_duration(ms: i64) -> String {
    let mut s = String::new();
    let (mut r, units) = (ms, [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]);
    for (u, n) in units {
        if r >= n {
            let _ = write!(s, "{}{u}", r / n);
            r %= n;
        }
    }
    if s.is_empty() { "0s".into() } else { s }
}

fn fmt_map(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Whether `a` and `b` are equal, or (with `fuzzy`) differ only in the last bit.
fn values_equal(a: f64, b: f64, fuzzy: bool) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    fuzzy && a.is_finite() && b.is_finite() && (a.to_bits() as i64 - b.to_bits() as i64).abs() <= 1
}

/// Expands `patterns` (relative to `base`; `*`, `?` in the file name) into sorted paths;
/// literal paths are kept whether or not they exist (loading reports missing ones).
pub(crate) fn expand_rule_files(base: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in patterns {
        let full = base.join(p);
        let name = full.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.contains(['*', '?', '[']) {
            let dir = match full.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let mut matched: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.file_name().and_then(|n| n.to_str()).is_some_and(|n| glob_match(name, n)))
                .collect();
            matched.sort();
            out.extend(matched);
        } else {
            out.push(full);
        }
    }
    Ok(out)
}

/// Shell-style `*` and `?` matching of one path component.
fn glob_match(pat: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pat.as_bytes(), s.as_bytes())
}

/// Runs one test file: `check_expr` validates rule expressions, `backend` evaluates them.
pub fn run_file(path: &Path, check_expr: super::file::ExprCheck<'_>, backend: &mut dyn Backend) -> UnitTestReport {
    let mut report = UnitTestReport::default();
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            report.failures.push(format!("{}: {e}", path.display()));
            return report;
        }
    };
    let file: UnitTestFile = match serde_norway::from_str(&src) {
        Ok(f) => f,
        Err(e) => {
            report.failures.push(format!("{}: {e}", path.display()));
            return report;
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let eval_interval = file.evaluation_interval.map_or(60_000, |d| d.0);
    let rule_paths = match expand_rule_files(base, &file.rule_files) {
        Ok(p) => p,
        Err(e) => {
            report.failures.push(e);
            return report;
        }
    };
    let mut groups_src = Vec::new();
    for p in &rule_paths {
        match RuleFile::load(p, check_expr) {
            Ok(rf) => groups_src.extend(rf.groups.into_iter().map(|g| (p.display().to_string(), g))),
            Err(errs) => {
                report.failures.extend(errs.iter().map(ToString::to_string));
            }
        }
    }
    if !report.failures.is_empty() {
        return report;
    }
    // group_eval_order first, the rest in file order.
    groups_src.sort_by_key(|(_, g)| file.group_eval_order.iter().position(|n| *n == g.name).unwrap_or(usize::MAX));
    for (i, tg) in file.tests.iter().enumerate() {
        let label = if tg.name.is_empty() { format!("test group {}", i + 1) } else { tg.name.clone() };
        let groups: Vec<Group> = groups_src.iter().map(|(f, g)| Group::from_file(f, g, eval_interval)).collect();
        if let Err(e) = run_group(tg, groups, eval_interval, file.fuzzy_compare, backend, &mut report.failures) {
            report.failures.push(format!("{label}: {e}"));
        }
    }
    report
}

fn run_group(
    tg: &TestGroup,
    mut groups: Vec<Group>,
    eval_interval: i64,
    fuzzy: bool,
    backend: &mut dyn Backend,
    failures: &mut Vec<String>,
) -> Result<(), String> {
    backend.clear();
    let interval = tg.interval.map_or(eval_interval, |d| d.0);
    let mut input = Vec::new();
    for s in &tg.input_series {
        let line = format!("{} {}", s.series, s.values);
        let d = parse_series_desc(&line).map_err(|e| format!("input series {:?}: {e}", s.series))?;
        for (k, v) in d.values.iter().enumerate() {
            let t = k as i64 * interval;
            let v = match v {
                SeriesValue::Float(f) => *f,
                SeriesValue::Stale => STALE_NAN,
                SeriesValue::Missing => continue,
                SeriesValue::Histogram(_) => {
                    return Err(format!("input series {:?}: native histograms are not supported yet", s.series));
                }
            };
            input.push(Sample { labels: d.labels.clone(), t, v });
        }
    }
    backend.append(&input)?;
    let env = RuleEnv {
        query: Some(backend.query_fn()),
        external_labels: tg.external_labels.clone(),
        external_url: tg.external_url.clone(),
    };
    let max_alert_t = tg.alert_rule_test.iter().map(|c| c.eval_time.0).max().unwrap_or(0);
    let max_t = tg.promql_expr_test.iter().map(|c| c.eval_time.0).max().unwrap_or(0).max(max_alert_t);
    let mut cases: Vec<&AlertTestCase> = tg.alert_rule_test.iter().collect();
    cases.sort_by_key(|c| c.eval_time.0);
    let mut next_case = 0;
    let mut ts = 0;
    while ts <= max_t {
        for g in &mut groups {
            let mut w = BackendWriter { backend: &mut *backend, batch: Vec::new(), error: None };
            g.eval_into(&env, ts, ts, &mut w, None);
            if let Some(e) = w.error {
                return Err(e);
            }
        }
        // Check every alert case due at or before this step (cases between steps see the
        // state of the last evaluation before them).
        let next_ts = ts + eval_interval;
        while next_case < cases.len() && cases[next_case].eval_time.0 < next_ts {
            failures.extend(check_alerts(cases[next_case], &groups));
            next_case += 1;
        }
        ts = next_ts;
    }
    for c in &tg.promql_expr_test {
        failures.extend(check_expr_case(c, &env, fuzzy));
    }
    Ok(())
}

/// Writes a rule's batch to the backend on commit (so later rules see it).
struct BackendWriter<'a> {
    backend: &'a mut dyn Backend,
    batch: Vec<Sample>,
    error: Option<String>,
}

impl SampleWriter for BackendWriter<'_> {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        self.batch.push(Sample { labels: labels.clone(), t, v });
        Ok(())
    }
    fn commit(&mut self) -> Result<(), AppendError> {
        let batch = std::mem::take(&mut self.batch);
        if !batch.is_empty()
            && let Err(e) = self.backend.append(&batch)
        {
            self.error.get_or_insert(e);
        }
        Ok(())
    }
}

/// An alert as compared: labels and annotations.
type AlertView = (BTreeMap<String, String>, BTreeMap<String, String>);

fn check_alerts(case: &AlertTestCase, groups: &[Group]) -> Option<String> {
    let mut got: Vec<AlertView> = Vec::new();
    for g in groups {
        for r in &g.rules {
            if let Rule::Alerting(a) = r
                && a.name() == case.alertname
            {
                for al in a.active_alerts() {
                    if al.state == AlertState::Firing {
                        let labels = al.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
                        got.push((labels, al.annotations.clone()));
                    }
                }
            }
        }
    }
    let mut exp: Vec<AlertView> = case
        .exp_alerts
        .iter()
        .map(|e| {
            let mut l = e.exp_labels.clone();
            l.insert(ALERT_NAME_LABEL.to_string(), case.alertname.clone());
            (l, e.exp_annotations.clone())
        })
        .collect();
    got.sort();
    exp.sort();
    if got == exp {
        return None;
    }
    let show = |v: &[AlertView]| -> String {
        v.iter()
            .enumerate()
            .map(|(i, (l, a))| {
                format!(
                    "\n            {i}:\n              Labels:{}\n              Annotations:{}",
                    fmt_map(l),
                    fmt_map(a)
                )
            })
            .collect()
    };
    Some(format!(
        "    alertname: {}, time: {}, \n        exp:[{}\n            ], \n        got:[{}\n            ]",
        case.alertname,
        fmt_duration(case.eval_time.0),
        show(&exp),
        show(&got)
    ))
}

fn check_expr_case(c: &PromqlTestCase, env: &RuleEnv, fuzzy: bool) -> Option<String> {
    let head = format!("    expr: {:?}, time: {},", c.expr, fmt_duration(c.eval_time.0));
    let q = env.query.as_ref()?;
    let got = match q(&c.expr, c.eval_time.0) {
        Ok(v) => v,
        Err(e) => return Some(format!("{head}\n        err: {e}")),
    };
    let mut exp: Vec<(Labels, f64)> = Vec::new();
    for s in &c.exp_samples {
        match parse_series_desc(&s.labels) {
            Ok(d) => exp.push((d.labels, s.value)),
            Err(e) => return Some(format!("{head}\n        expected sample labels {:?}: {e}", s.labels)),
        }
    }
    let mut got: Vec<(Labels, f64)> = got.into_iter().map(|s| (s.labels, s.v)).collect();
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let same = exp.len() == got.len() && exp.iter().zip(&got).all(|(e, g)| e.0 == g.0 && values_equal(e.1, g.1, fuzzy));
    if same {
        return None;
    }
    let show = |v: &[(Labels, f64)]| -> String {
        v.iter()
            .map(|(l, x)| format!("{l} {}", crate::template::format_g(*x, None)))
            .collect::<Vec<_>>()
            .join(",\n             ")
    };
    Some(format!("{head}\n        exp: {}\n        got: {}", show(&exp), show(&got)))
}

/// Labels for display without the metric name (used by callers that print alerts).
pub fn without_name(l: &Labels) -> Labels {
    l.filter(|x| x.name != METRIC_NAME_LABEL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::RwLock;

    /// A deliberately tiny backend: series in memory, queries limited to `name` and
    /// `name == <number>` with a 5m lookback (left-open, as Prometheus 3). Enough to drive
    /// the runner's control flow; the real engine is tested against the full files.
    type Series = BTreeMap<Labels, Vec<(i64, f64)>>;

    #[derive(Default)]
    struct Tiny {
        data: Arc<RwLock<Series>>,
    }

    impl Backend for Tiny {
        fn clear(&mut self) {
            self.data.write().clear();
        }
        fn append(&mut self, samples: &[Sample]) -> Result<(), String> {
            let mut d = self.data.write();
            for s in samples {
                d.entry(s.labels.clone()).or_default().push((s.t, s.v));
            }
            Ok(())
        }
        fn query_fn(&self) -> Arc<QueryFn> {
            let data = self.data.clone();
            Arc::new(move |expr: &str, t: i64| {
                let (name, eq) = match expr.split_once("==") {
                    Some((n, v)) => (n.trim(), Some(v.trim().parse::<f64>().map_err(|e| e.to_string())?)),
                    None => (expr.trim(), None),
                };
                let d = data.read();
                let mut out = Vec::new();
                for (l, pts) in d.iter() {
                    if l.metric_name() != Some(name) {
                        continue;
                    }
                    let Some(&(_, v)) = pts.iter().rev().find(|(pt, _)| *pt <= t && *pt > t - 300_000) else {
                        continue;
                    };
                    if ember_exposition::is_stale_nan(v) || eq.is_some_and(|x| x != v) {
                        continue;
                    }
                    let labels = if eq.is_some() { without_name(l) } else { l.clone() };
                    out.push(Sample { labels, t, v });
                }
                Ok(out)
            })
        }
    }

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ember-unittest-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const RULES: &str = "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 2m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.instance }} down'}\n  - record: up_copy\n    expr: up\n";

    #[test]
    fn passing_and_failing_files() {
        let dir = tmpdir("a");
        write(&dir, "rules.yml", RULES);
        let good = write(
            &dir,
            "good_test.yml",
            r#"
rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series:
      - series: 'up{instance="a"}'
        values: '1 0 0 0 0'
    alert_rule_test:
      - eval_time: 2m
        alertname: Down
        exp_alerts: []
      - eval_time: 3m
        alertname: Down
        exp_alerts:
          - exp_labels: {severity: page, instance: a}
            exp_annotations: {summary: a down}
    promql_expr_test:
      - expr: up_copy
        eval_time: 1m
        exp_samples:
          - labels: 'up_copy{instance="a"}'
            value: 0
"#,
        );
        let r = run_file(&good, &|_| Ok(()), &mut Tiny::default());
        assert!(r.passed(), "{:#?}", r.failures);
        let bad = write(
            &dir,
            "bad_test.yml",
            r#"
rule_files: ['rul*.yml']
tests:
  - interval: 1m
    input_series:
      - series: 'up{instance="a"}'
        values: '1 0 0 0 0'
    alert_rule_test:
      - eval_time: 2m
        alertname: Down
        exp_alerts:
          - exp_labels: {severity: page, instance: a}
    promql_expr_test:
      - expr: up_copy
        eval_time: 1m
        exp_samples:
          - labels: 'up_copy{instance="a"}'
            value: 1
"#,
        );
        let r = run_file(&bad, &|_| Ok(()), &mut Tiny::default());
        assert_eq!(r.failures.len(), 2, "{:#?}", r.failures);
        assert!(r.failures[0].contains("alertname: Down, time: 2m"), "{}", r.failures[0]);
        assert!(r.failures[1].contains("expr: \"up_copy\", time: 1m"), "{}", r.failures[1]);
        assert!(r.failures[1].contains("got: {__name__=\"up_copy\", instance=\"a\"} 0"), "{}", r.failures[1]);
    }

    #[test]
    fn bad_inputs_are_reported() {
        let dir = tmpdir("b");
        let p = write(&dir, "t.yml", "rule_files: [missing.yml]\ntests: []\n");
        let r = run_file(&p, &|_| Ok(()), &mut Tiny::default());
        assert!(r.failures[0].contains("missing.yml"), "{:?}", r.failures);
        let p = write(&dir, "t2.yml", "tests:\n- input_series:\n  - series: 'up'\n    values: '1+'\n");
        let r = run_file(&p, &|_| Ok(()), &mut Tiny::default());
        assert!(r.failures[0].contains("input series \"up\""), "{:?}", r.failures);
        let p = write(&dir, "t3.yml", "tests:\n- bogus: 1\n");
        assert!(run_file(&p, &|_| Ok(()), &mut Tiny::default()).failures[0].contains("unknown field `bogus`"));
    }

    #[test]
    fn testdata_files_parse() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/rule-tests");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yml") {
                let f: UnitTestFile = serde_norway::from_str(&std::fs::read_to_string(&p).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert!(!f.tests.is_empty());
                n += 1;
            }
        }
        assert!(n >= 10);
        assert!(glob_match("*.yml", "a.yml") && !glob_match("*.yml", "a.yaml") && glob_match("r?les.y*", "rules.yml"));
        assert_eq!(fmt_duration(90_000), "1m30s");
    }
}
