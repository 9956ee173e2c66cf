//! Runs PromQL test scripts against the engine and a [`MemStorage`].
//!
//! [`load`] writes expanded series into any [`Appendable`] (rule unit tests reuse it);
//! [`run_script`] executes one script and returns a [`ScriptReport`]; [`run_dir`] runs every
//! `*.test` file of a directory. Native histograms are not evaluated yet: a case that loads
//! or expects them is skipped with its reason, everything else passes or fails.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use ember_exposition::{Labels, METRIC_NAME_LABEL, STALE_NAN};
use ember_tsdb::storage::{AppendError, AppendOptions, Appendable, MemStorage, Value as StoredValue, matches_all};
use regex::Regex;

use super::script::{Command, Eval, EvalKind, Expect, Expected, MessageMatch, parse_script};
use crate::engine::{Engine, EngineOptions, QueryKind, QueryResult, Severity, Value};
use crate::parser::{Expr, ParseOptions, inspect};
use crate::series::{SeriesDesc, SeriesValue};

/// What [`load`] wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Float samples (and staleness markers) appended.
    pub samples: usize,
    /// Series that had native-histogram values, which were not loaded.
    pub histogram_series: Vec<Labels>,
    /// Series written with start timestamps (`name@st`), which were not loaded.
    pub start_timestamp_series: Vec<Labels>,
}

/// A failed [`load`]: the storage rejected a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The series.
    pub labels: Labels,
    /// The sample's timestamp, ms.
    pub t: i64,
    /// Why.
    pub source: AppendError,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loading {} at {}: {}", self.labels, self.t, self.source)
    }
}

impl std::error::Error for LoadError {}

/// Appends `series` to `storage` in one batch, value `i` of each at `start_ms + i *
/// interval_ms`; `_` writes nothing and `stale` writes the staleness marker. Native-histogram
/// values are not written (they are listed in the report).
pub fn load(
    storage: &dyn Appendable,
    start_ms: i64,
    interval_ms: i64,
    series: &[SeriesDesc],
) -> Result<LoadReport, LoadError> {
    let mut report = LoadReport::default();
    // Series may be written twice in one block; the later value of a timestamp wins.
    let mut merged: Vec<(Labels, std::collections::BTreeMap<i64, f64>)> = Vec::new();
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    for s in series {
        if s.start_timestamps {
            report.start_timestamp_series.push(s.labels.clone());
            continue;
        }
        let i = *index.entry(s.labels.clone()).or_insert_with(|| {
            merged.push((s.labels.clone(), Default::default()));
            merged.len() - 1
        });
        let mut had_histogram = false;
        for (k, v) in s.values.iter().enumerate() {
            let t = start_ms + k as i64 * interval_ms;
            let f = match v {
                SeriesValue::Float(f) => *f,
                SeriesValue::Stale => STALE_NAN,
                SeriesValue::Missing => continue,
                SeriesValue::Histogram(_) => {
                    had_histogram = true;
                    continue;
                }
            };
            merged[i].1.insert(t, f);
        }
        if had_histogram {
            report.histogram_series.push(s.labels.clone());
        }
    }
    let mut app = storage.appender();
    for (labels, points) in &merged {
        let mut sref = None;
        for (&t, &f) in points {
            let r = app
                .append(sref, labels, t, StoredValue::Float(f), AppendOptions::NONE)
                .map_err(|source| LoadError { labels: labels.clone(), t, source })?;
            sref = Some(r);
            report.samples += 1;
        }
    }
    app.commit().map_err(|source| LoadError { labels: Labels::empty(), t: start_ms, source })?;
    Ok(report)
}

/// The engine options Prometheus's runner uses for these scripts.
pub fn conformance_engine_options() -> EngineOptions {
    EngineOptions {
        lookback_delta: Duration::from_secs(300),
        max_samples: 10_000,
        timeout: Some(Duration::from_secs(100)),
        default_subquery_step: Duration::from_secs(60),
        experimental_functions: true,
        extended_range_selectors: true,
        binop_fill_modifiers: true,
    }
}

/// The outcome of one `eval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    /// As expected.
    Passed,
    /// Not as expected, with what differed.
    Failed(String),
    /// Not run, with why.
    Skipped(String),
}

/// One `eval` of a script and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseReport {
    /// Line of the `eval`.
    pub line: usize,
    /// The query.
    pub query: String,
    /// The outcome.
    pub outcome: CaseOutcome,
}

/// The outcomes of one script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptReport {
    /// The file name (or any name given).
    pub name: String,
    /// Every case in order.
    pub cases: Vec<CaseReport>,
    /// A script-level problem (the script does not parse, a load failed).
    pub error: Option<String>,
}

impl ScriptReport {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.outcome == CaseOutcome::Passed).count()
    }
    /// Cases that failed (a script-level error counts as one failure).
    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|c| matches!(c.outcome, CaseOutcome::Failed(_))).count()
            + usize::from(self.error.is_some())
    }
    /// Cases skipped.
    pub fn skipped(&self) -> usize {
        self.cases.iter().filter(|c| matches!(c.outcome, CaseOutcome::Skipped(_))).count()
    }

    /// The summary line: `promqltest FILE: N passed, M failed, K skipped`, followed by the
    /// distinct skip reasons with their counts.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "promqltest {}: {} passed, {} failed, {} skipped",
            self.name,
            self.passed(),
            self.failed(),
            self.skipped()
        );
        let mut reasons: Vec<(String, usize)> = Vec::new();
        for c in &self.cases {
            if let CaseOutcome::Skipped(r) = &c.outcome {
                match reasons.iter_mut().find(|(x, _)| x == r) {
                    Some(e) => e.1 += 1,
                    None => reasons.push((r.clone(), 1)),
                }
            }
        }
        if !reasons.is_empty() {
            let list: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
            s.push_str(&format!(" (skipped: {})", list.join("; ")));
        }
        s
    }

    /// The failures, one per line: `FILE:LINE: query: why`.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.error.iter().map(|e| format!("{}: {e}", self.name)).collect();
        for c in &self.cases {
            if let CaseOutcome::Failed(why) = &c.outcome {
                out.push(format!("{}:{}: {}: {why}", self.name, c.line, c.query));
            }
        }
        out
    }
}

/// Runs one script's text with `engine`.
pub fn run_script(name: &str, src: &str, engine: &Engine) -> ScriptReport {
    let mut report = ScriptReport { name: name.to_owned(), ..Default::default() };
    let script = match parse_script(src) {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(format!("script does not parse: {e}"));
            return report;
        }
    };
    let mut storage = MemStorage::new();
    // Labels of series whose native-histogram samples were not loaded.
    let mut histograms: Vec<Labels> = Vec::new();
    for cmd in &script.commands {
        match cmd {
            Command::Clear { .. } => {
                storage = MemStorage::new();
                histograms.clear();
            }
            Command::Load { line, interval_ms, with_nhcb, series } => {
                let descs: Vec<SeriesDesc> = series.iter().map(|(_, d)| d.clone()).collect();
                match load(&storage, 0, *interval_ms, &descs) {
                    Ok(r) => {
                        histograms.extend(r.histogram_series);
                        histograms.extend(r.start_timestamp_series);
                        if *with_nhcb {
                            histograms.extend(descs.iter().filter_map(|d| nhcb_labels(&d.labels)));
                        }
                    }
                    Err(e) => {
                        report.error = Some(format!("line {line}: {e}"));
                        return report;
                    }
                }
            }
            Command::Eval(e) => {
                let outcome = match skip_reason(e, &histograms) {
                    Some(r) => CaseOutcome::Skipped(r),
                    // A panic is a failed case, not a lost run.
                    None => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_eval(e, &storage, engine)))
                        .unwrap_or_else(|p| {
                            let why = p
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                .unwrap_or_default();
                            CaseOutcome::Failed(format!("panicked: {why}"))
                        }),
                };
                report.cases.push(CaseReport { line: e.line, query: e.query.clone(), outcome });
            }
        }
    }
    report
}

/// The native histogram with custom buckets that `load_with_nhcb` derives from a classic
/// histogram series: the base name, labels without `le`.
fn nhcb_labels(l: &Labels) -> Option<Labels> {
    let name = l.metric_name()?;
    let base = ["_bucket", "_count", "_sum"].iter().find_map(|s| name.strip_suffix(s))?;
    let mut b = l.builder();
    b.del("le");
    b.set(METRIC_NAME_LABEL, base.to_owned());
    Some(b.build())
}

fn skip_reason(e: &Eval, histograms: &[Labels]) -> Option<String> {
    let expects_histogram = e.results.iter().any(|(_, r)| match r {
        Expected::Series(s) => s.values.iter().any(|v| matches!(v, SeriesValue::Histogram(_))),
        Expected::Scalar(_) => false,
    });
    if expects_histogram {
        return Some("expect native histograms".into());
    }
    if histograms.is_empty() {
        return None;
    }
    let expr = ParseOptions::experimental().parse(&e.query).ok()?;
    let mut touches = false;
    inspect(&expr, |n, _| {
        let matchers = match n {
            Expr::VectorSelector(v) => &v.matchers,
            Expr::MatrixSelector(m) => &m.selector.matchers,
            _ => return,
        };
        if histograms.iter().any(|l| matches_all(l, matchers)) {
            touches = true;
        }
    });
    touches.then(|| "read native histograms".into())
}

fn message_matches(m: &MessageMatch, text: &str) -> bool {
    match m {
        MessageMatch::Exact(s) => s == text,
        MessageMatch::Regex(re) => Regex::new(re).is_ok_and(|r| r.is_match(text)),
    }
}

fn run_eval(e: &Eval, storage: &MemStorage, engine: &Engine) -> CaseOutcome {
    let kind = match e.kind {
        EvalKind::Instant { at_ms } => QueryKind::Instant(at_ms),
        EvalKind::Range { start_ms, end_ms, step_ms } => {
            QueryKind::Range { start: start_ms, end: end_ms, step: step_ms }
        }
    };
    let res = engine.query(storage, &e.query, kind, None);
    let fail_expects: Vec<&Option<MessageMatch>> =
        e.expects.iter().filter_map(|x| if let Expect::Fail(m) = x { Some(m) } else { None }).collect();
    let res = match res {
        Err(err) => {
            if fail_expects.is_empty() {
                return CaseOutcome::Failed(format!("unexpected error: {err}"));
            }
            let msg = err.to_string();
            for m in fail_expects.iter().copied().flatten() {
                if !message_matches(m, &msg) {
                    return CaseOutcome::Failed(format!("error {msg:?} does not match {m:?}"));
                }
            }
            return CaseOutcome::Passed;
        }
        Ok(r) => r,
    };
    if !fail_expects.is_empty() {
        return CaseOutcome::Failed("expected an error, query succeeded".into());
    }
    if let Err(why) = check_annotations(e, &res) {
        return CaseOutcome::Failed(why);
    }
    match check_value(e, &res.value) {
        Ok(()) => CaseOutcome::Passed,
        Err(why) => CaseOutcome::Failed(why),
    }
}

fn check_annotations(e: &Eval, res: &QueryResult) -> Result<(), String> {
    for sev in [Severity::Warning, Severity::Info] {
        let msgs: Vec<String> =
            res.annotations.as_slice().iter().filter(|a| a.severity() == sev).map(|a| a.message(&e.query)).collect();
        let (word, none_expected) = match sev {
            Severity::Warning => ("warn", e.expects.contains(&Expect::NoWarn)),
            Severity::Info => ("info", e.expects.contains(&Expect::NoInfo)),
        };
        if none_expected && !msgs.is_empty() {
            return Err(format!("expected no {word} annotation, got {msgs:?}"));
        }
        let wanted: Vec<&Option<MessageMatch>> = e
            .expects
            .iter()
            .filter_map(|x| match (x, sev) {
                (Expect::Warn(m), Severity::Warning) | (Expect::Info(m), Severity::Info) => Some(m),
                _ => None,
            })
            .collect();
        if wanted.is_empty() {
            continue;
        }
        if msgs.is_empty() {
            return Err(format!("expected a {word} annotation, got none"));
        }
        for w in wanted.iter().copied().flatten() {
            if !msgs.iter().any(|m| message_matches(w, m)) {
                return Err(format!("no {word} annotation matches {w:?}; got {msgs:?}"));
            }
        }
        if wanted.iter().all(|w| w.is_some()) {
            for m in &msgs {
                if !wanted.iter().copied().flatten().any(|w| message_matches(w, m)) {
                    return Err(format!("unexpected {word} annotation {m:?}"));
                }
            }
        }
    }
    Ok(())
}

/// Prometheus's `almost.Equal` with epsilon 1e-6; NaN equals NaN.
pub fn almost_equal(a: f64, b: f64) -> bool {
    const EPS: f64 = 1e-6;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPS * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPS
}

fn fmt_points(p: &[(i64, f64)]) -> String {
    let v: Vec<String> = p.iter().map(|(t, f)| format!("{f}@{}", *t as f64 / 1000.0)).collect();
    v.join(" ")
}

fn check_value(e: &Eval, v: &Value) -> Result<(), String> {
    if let Some(want) = e.expects.iter().find_map(|x| if let Expect::String(s) = x { Some(s) } else { None }) {
        return match v {
            Value::String { v, .. } if v == want => Ok(()),
            other => Err(format!("expected string {want:?}, got {other:?}")),
        };
    }
    let ordered = e.expects.contains(&Expect::Ordered);
    match (e.kind, v) {
        (_, Value::Scalar { v, .. }) => match e.results.as_slice() {
            [(_, Expected::Scalar(want))] if almost_equal(*want, *v) => Ok(()),
            other => Err(format!("expected {other:?}, got scalar {v}")),
        },
        (_, Value::String { v, .. }) => Err(format!("unexpected string result {v:?}")),
        (EvalKind::Instant { .. }, Value::Vector(samples)) => {
            let mut want: Vec<(Labels, f64)> = Vec::new();
            for (line, r) in &e.results {
                match r {
                    Expected::Series(s) => {
                        let vals: Vec<f64> = s
                            .values
                            .iter()
                            .filter_map(|v| match v {
                                SeriesValue::Float(f) => Some(*f),
                                SeriesValue::Stale => Some(STALE_NAN),
                                _ => None,
                            })
                            .collect();
                        if vals.len() != 1 {
                            return Err(format!("line {line}: expected one value for an instant query"));
                        }
                        want.push((s.labels.clone(), vals[0]));
                    }
                    Expected::Scalar(f) => return Err(format!("expected scalar {f}, got a vector")),
                }
            }
            if want.len() != samples.len() {
                let got: Vec<String> = samples.iter().map(|s| format!("{} {}", s.metric, s.f)).collect();
                return Err(format!("expected {} samples, got {}: {got:?}", want.len(), samples.len()));
            }
            for (i, s) in samples.iter().enumerate() {
                let found = if ordered {
                    want.get(i).filter(|w| w.0 == s.metric)
                } else {
                    want.iter().find(|w| w.0 == s.metric)
                };
                match found {
                    None => return Err(format!("unexpected sample {} {} (at position {i})", s.metric, s.f)),
                    Some(w) if !almost_equal(w.1, s.f) => {
                        return Err(format!("{}: expected {}, got {}", s.metric, w.1, s.f));
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        (EvalKind::Instant { .. }, Value::Matrix(m)) => {
            let (start, step) = e
                .expects
                .iter()
                .find_map(|x| match x {
                    Expect::RangeVector { start_ms, step_ms, .. } => Some((*start_ms, *step_ms)),
                    _ => None,
                })
                .unwrap_or((0, 0));
            compare_matrix(e, m, start, step, step == 0)
        }
        (EvalKind::Range { start_ms, step_ms, .. }, Value::Matrix(m)) => compare_matrix(e, m, start_ms, step_ms, false),
        (EvalKind::Range { .. }, Value::Vector(_)) => Err("range query returned a vector".into()),
    }
}

fn compare_matrix(
    e: &Eval,
    m: &[crate::engine::Series],
    start: i64,
    step: i64,
    ignore_times: bool,
) -> Result<(), String> {
    let mut want: Vec<(Labels, Vec<(i64, f64)>)> = Vec::new();
    for (line, r) in &e.results {
        let Expected::Series(s) = r else { return Err(format!("line {line}: scalar expected for a matrix")) };
        let mut pts = Vec::new();
        for (i, v) in s.values.iter().enumerate() {
            let t = start + i as i64 * step;
            match v {
                SeriesValue::Float(f) => pts.push((t, *f)),
                SeriesValue::Stale => pts.push((t, STALE_NAN)),
                _ => {}
            }
        }
        want.push((s.labels.clone(), pts));
    }
    let got: Vec<(Labels, Vec<(i64, f64)>)> =
        m.iter().map(|s| (s.metric.clone(), s.points.iter().map(|p| (p.t, p.f)).collect())).collect();
    if want.len() != got.len() {
        let names: Vec<String> = got.iter().map(|(l, p)| format!("{l} {}", fmt_points(p))).collect();
        return Err(format!("expected {} series, got {}: {names:?}", want.len(), got.len()));
    }
    for (i, (l, pts)) in got.iter().enumerate() {
        let w = if e.expects.contains(&Expect::Ordered) {
            want.get(i).filter(|w| w.0 == *l)
        } else {
            want.iter().find(|w| w.0 == *l)
        };
        let Some(w) = w else { return Err(format!("unexpected series {l} {}", fmt_points(pts))) };
        let same = w.1.len() == pts.len()
            && w.1.iter().zip(pts).all(|(a, b)| (ignore_times || a.0 == b.0) && almost_equal(a.1, b.1));
        if !same {
            return Err(format!("{l}: expected {}, got {}", fmt_points(&w.1), fmt_points(pts)));
        }
    }
    Ok(())
}

/// The figures of several scripts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirReport {
    /// One report per script, by file name.
    pub scripts: Vec<ScriptReport>,
}

impl DirReport {
    /// Totals: (passed, failed, skipped).
    pub fn totals(&self) -> (usize, usize, usize) {
        self.scripts.iter().fold((0, 0, 0), |t, s| (t.0 + s.passed(), t.1 + s.failed(), t.2 + s.skipped()))
    }

    /// The last line: `promqltest: N passed, M failed, K skipped`.
    pub fn summary(&self) -> String {
        let (p, f, s) = self.totals();
        format!("promqltest: {p} passed, {f} failed, {s} skipped")
    }

    /// The report of the script named `name`.
    pub fn script(&self, name: &str) -> Option<&ScriptReport> {
        self.scripts.iter().find(|s| s.name == name)
    }
}

/// Runs every `*.test` file in `dir` (sorted by name) with the conformance engine options.
pub fn run_dir(dir: &Path) -> std::io::Result<DirReport> {
    let engine = Engine::new(conformance_engine_options());
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let mut report = DirReport::default();
    for f in files {
        let src = std::fs::read_to_string(&f)?;
        let name = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        report.scripts.push(run_script(&name, &src, &engine));
    }
    Ok(report)
}
