//! The rule manager: loads rule files, evaluates each group on its own schedule, stores
//! the results, restores `for` state after a restart, and hands alerts to [`AlertSink`]s.
//!
//! Like the dispatcher, the manager is a synchronous state machine over a pluggable
//! [`Clock`]: [`Manager::run_pending`] evaluates every group whose slot has come and
//! returns the alerts to send, so every timing rule is tested by advancing a
//! [`ManualClock`](crate::dispatch::ManualClock). [`Manager::run`] is the async loop for
//! servers: it evaluates each group on its own blocking thread when its slot comes, so a
//! slow group never delays another.
//!
//! Behaviour follows Prometheus:
//! - **Slots.** A group evaluates at `slot + k·interval`, where the slot is a hash of file
//!   and group name ([`Group::offset_ms`]); the first evaluation is the first slot after
//!   loading; missed slots are skipped (counted in [`GroupView::iterations_missed`]).
//! - **Storage.** Each rule's results go out as one [`Appender`] batch, committed before
//!   the next rule runs; series a rule no longer returns get a staleness marker; when a
//!   group is removed by a reload, its series are marked stale two intervals later.
//! - **Alerts.** Firing and newly resolved alerts are sent after each evaluation, at most
//!   once per resend delay, with `endsAt` four intervals (or resend delays) ahead;
//!   external labels are added where the alert lacks them, then `alert_relabel_configs`
//!   run.
//! - **Restarts.** On the first load, alerting rules write no `ALERTS` samples until the
//!   group's second evaluation, after which their `for` state is restored from
//!   `ALERTS_FOR_STATE` ([`Group::restore_for_state`]: outage tolerance and grace period).
//! - **Reloads.** An unchanged group keeps running untouched; a changed one starts anew
//!   with the state of the rules it still has ([`Group::copy_state_from`]). A reload with
//!   any invalid file changes nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use ember_exposition::relabel::{Relabel, process_builder};
use ember_exposition::{Labels, Timestamp};
use ember_tsdb::storage::{AppendError, AppendOptions, Appendable, Appender, Queryable, StorageError, Value};
use parking_lot::Mutex;

use super::eval::{
    Alert, AlertState, EvalError, Group, QueryFn, RestoreReport, Rule, RuleEnv, RuleStatus, SampleWriter,
};
use super::file::{RuleError, RuleFile, RuleGroup, promql_check};
use crate::dispatch::{AlertSink, Clock, PostableAlert, SystemClock};

/// Checks an expression when rule files load (the PromQL parser by default).
pub type ExprChecker = dyn Fn(&str) -> Result<(), String> + Send + Sync;

/// Why loading rule files failed (the running configuration is then left as it was).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManagerErrorKind {
    /// A `rule_files` pattern is malformed or its directory cannot be read.
    Glob {
        /// The pattern.
        pattern: String,
        /// What went wrong.
        message: String,
    },
    /// Rule files are invalid: every problem, each naming file, group and rule.
    RuleFiles(Vec<RuleError>),
}

/// A failed [`Manager::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerError {
    /// What went wrong.
    pub kind: ManagerErrorKind,
}

impl fmt::Display for ManagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ManagerErrorKind::Glob { pattern, message } => write!(f, "rule files {pattern:?}: {message}"),
            ManagerErrorKind::RuleFiles(errs) => {
                for (i, e) in errs.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ManagerError {}

/// What a [`Manager::load`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Files loaded.
    pub files: usize,
    /// Groups now configured.
    pub groups: usize,
    /// Rules now configured.
    pub rules: usize,
    /// Groups left running untouched (identical to before).
    pub unchanged: usize,
    /// Groups replaced by a changed version (state carried over).
    pub changed: usize,
    /// Groups new in this load.
    pub added: usize,
    /// Groups removed (their series are marked stale two intervals later).
    pub removed: usize,
}

/// What one [`Manager::run_pending`] did.
#[derive(Debug, Default)]
pub struct CycleReport {
    /// Groups evaluated.
    pub groups_evaluated: usize,
    /// Samples the rules returned.
    pub samples: usize,
    /// Rule failures (evaluation or storage), each naming its rule.
    pub errors: Vec<EvalError>,
    /// Alerts to send, already carrying external labels and relabeled.
    pub alerts: Vec<PostableAlert>,
    /// Errors reading `ALERTS_FOR_STATE` while restoring (rule name, error).
    pub restore_errors: Vec<(String, StorageError)>,
}

/// A group as `/api/v1/rules` shows it.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// Group name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// Evaluation interval (ms).
    pub interval_ms: i64,
    /// Query offset (ms).
    pub query_offset_ms: i64,
    /// Per-rule limit (0 = none).
    pub limit: u64,
    /// The rules in evaluation order.
    pub rules: Vec<RuleView>,
    /// How long the last evaluation took.
    pub evaluation_time: StdDuration,
    /// When the last evaluation ran (clock ms).
    pub last_evaluation: Option<Timestamp>,
    /// The next evaluation slot (ms).
    pub next_evaluation: Timestamp,
    /// Slots skipped because evaluation fell behind.
    pub iterations_missed: u64,
}

/// A rule as `/api/v1/rules` shows it.
#[derive(Debug, Clone)]
pub struct RuleView {
    /// The recorded metric or alert name.
    pub name: String,
    /// The expression.
    pub query: String,
    /// The rule's labels (templates, for alerting rules).
    pub labels: Labels,
    /// Health, last error, last evaluation, evaluation time.
    pub status: RuleStatus,
    /// Recording or alerting specifics.
    pub kind: RuleViewKind,
}

/// The kind-specific part of a [`RuleView`].
#[derive(Debug, Clone)]
pub enum RuleViewKind {
    /// A recording rule.
    Recording,
    /// An alerting rule.
    Alerting {
        /// The greatest state among its alerts.
        state: AlertState,
        /// `for` (ms).
        for_ms: i64,
        /// `keep_firing_for` (ms).
        keep_firing_for_ms: i64,
        /// Annotation templates.
        annotations: BTreeMap<String, String>,
        /// Pending and firing alerts.
        alerts: Vec<Alert>,
    },
}

/// Configures a [`Manager`]; defaults are Prometheus's.
pub struct ManagerBuilder {
    appendable: Arc<dyn Appendable>,
    queryable: Arc<dyn Queryable>,
    query: Arc<QueryFn>,
    clock: Arc<dyn Clock>,
    interval_ms: i64,
    query_offset_ms: i64,
    resend_delay_ms: i64,
    outage_tolerance_ms: i64,
    for_grace_period_ms: i64,
    external_labels: Labels,
    external_url: String,
    relabel: Vec<Relabel>,
    sinks: Vec<Arc<dyn AlertSink>>,
    check: Arc<ExprChecker>,
}

/// What a configuration reload may change ([`Manager::reload`]): Prometheus re-applies
/// `global.evaluation_interval`, `global.rule_query_offset`, `global.external_labels` and
/// `alerting.alert_relabel_configs` on every reload.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The interval of groups that set none.
    pub evaluation_interval: StdDuration,
    /// The query offset of groups that set none.
    pub query_offset: StdDuration,
    /// Labels added to alerts that lack them, and `$externalLabels` in templates.
    pub external_labels: Labels,
    /// `alert_relabel_configs`, run on alerts before they are sent.
    pub alert_relabel: Vec<Relabel>,
}

/// The settings in force, with the template environment derived from them.
struct Live {
    interval_ms: i64,
    query_offset_ms: i64,
    external_labels: Labels,
    relabel: Vec<Relabel>,
    env: RuleEnv,
}

impl Live {
    fn new(b: &ManagerBuilder, s: Settings) -> Live {
        let env = RuleEnv {
            query: Some(b.query.clone()),
            external_labels: s.external_labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect(),
            external_url: b.external_url.clone(),
        };
        Live {
            interval_ms: ms(s.evaluation_interval).max(1),
            query_offset_ms: ms(s.query_offset),
            external_labels: s.external_labels,
            relabel: s.alert_relabel,
            env,
        }
    }
}

fn ms(d: StdDuration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl ManagerBuilder {
    /// A manager writing to `appendable`, restoring from `queryable` and evaluating
    /// through `query` (usually the PromQL engine over the same storage).
    pub fn new(appendable: Arc<dyn Appendable>, queryable: Arc<dyn Queryable>, query: Arc<QueryFn>) -> Self {
        ManagerBuilder {
            appendable,
            queryable,
            query,
            clock: Arc::new(SystemClock),
            interval_ms: 60_000,
            query_offset_ms: 0,
            resend_delay_ms: 60_000,
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
            external_labels: Labels::empty(),
            external_url: String::new(),
            relabel: Vec::new(),
            sinks: Vec::new(),
            check: Arc::new(promql_check),
        }
    }

    /// The clock (the system clock by default).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The interval of groups that set none (`evaluation_interval`, default 1m).
    pub fn evaluation_interval(mut self, d: StdDuration) -> Self {
        self.interval_ms = ms(d).max(1);
        self
    }

    /// The query offset of groups that set none (`rule_query_offset`, default 0).
    pub fn query_offset(mut self, d: StdDuration) -> Self {
        self.query_offset_ms = ms(d);
        self
    }

    /// The minimum time between two sends of a firing alert (default 1m).
    pub fn resend_delay(mut self, d: StdDuration) -> Self {
        self.resend_delay_ms = ms(d);
        self
    }

    /// How far back `for` state is restored from (`rules.alert.for-outage-tolerance`, default 1h).
    pub fn outage_tolerance(mut self, d: StdDuration) -> Self {
        self.outage_tolerance_ms = ms(d);
        self
    }

    /// The minimum time an alert waits after a restart before firing, and the shortest
    /// `for` that is restored at all (`rules.alert.for-grace-period`, default 10m).
    pub fn for_grace_period(mut self, d: StdDuration) -> Self {
        self.for_grace_period_ms = ms(d);
        self
    }

    /// External labels: visible to templates, added to sent alerts that lack them.
    pub fn external_labels(mut self, labels: Labels) -> Self {
        self.external_labels = labels;
        self
    }

    /// The external URL: visible to templates, the base of alerts' generator URLs.
    pub fn external_url(mut self, url: impl Into<String>) -> Self {
        self.external_url = url.into().trim_end_matches('/').to_string();
        self
    }

    /// `alert_relabel_configs`, applied to sent alerts after external labels.
    pub fn alert_relabel(mut self, rules: Vec<Relabel>) -> Self {
        self.relabel = rules;
        self
    }

    /// Adds a destination for alerts (the embedded dispatcher, an Alertmanager notifier).
    pub fn sink(mut self, sink: Arc<dyn AlertSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Replaces the expression check used when loading and reloading (default:
    /// [`promql_check`], the PromQL parser with every experimental feature on).
    pub fn expr_check(mut self, check: Arc<ExprChecker>) -> Self {
        self.check = check;
        self
    }

    /// Checks expressions when loading and reloading with the PromQL parser and `opts`
    /// ([`promql_checker`](super::file::promql_checker)); pass the evaluating engine's
    /// [`parse_options`](ember_promql::engine::Engine::parse_options) so a rule file is
    /// refused at load when it uses an experimental construct the engine has switched off.
    pub fn parse_options(self, opts: ember_promql::parser::ParseOptions) -> Self {
        self.expr_check(Arc::new(super::file::promql_checker(opts)))
    }

    /// The manager, with no rules loaded yet.
    pub fn build(self) -> Manager {
        let settings = Settings {
            evaluation_interval: StdDuration::from_millis(self.interval_ms.max(1) as u64),
            query_offset: StdDuration::from_millis(self.query_offset_ms.max(0) as u64),
            external_labels: self.external_labels.clone(),
            alert_relabel: self.relabel.clone(),
        };
        let live = Live::new(&self, settings);
        Manager {
            inner: Arc::new(Inner {
                live: parking_lot::RwLock::new(Arc::new(live)),
                opts: self,
                state: Mutex::new(State::default()),
                eval_lock: Mutex::new(()),
                wake: tokio::sync::Notify::new(),
                stopped: AtomicBool::new(false),
            }),
        }
    }
}

/// Loads, schedules and evaluates rule groups. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager").field("groups", &self.inner.state.lock().groups.len()).finish_non_exhaustive()
    }
}

struct Inner {
    opts: ManagerBuilder,
    /// The reloadable settings ([`Manager::reload`]).
    live: parking_lot::RwLock<Arc<Live>>,
    state: Mutex<State>,
    /// Serialises evaluation cycles.
    eval_lock: Mutex<()>,
    wake: tokio::sync::Notify,
    stopped: AtomicBool,
}

#[derive(Default)]
struct State {
    groups: BTreeMap<(String, String), Arc<Mutex<Entry>>>,
    removed: Vec<RemovedGroup>,
    loaded: bool,
}

struct Entry {
    /// `None` once replaced or removed by a reload.
    group: Option<Group>,
    source: RuleGroup,
    next_eval: Timestamp,
    should_restore: bool,
    evaluations: u64,
    iterations_missed: u64,
}

/// Series of a removed group, marked stale at `t` once `due` has passed.
struct RemovedGroup {
    series: Vec<Labels>,
    t: Timestamp,
    due: Timestamp,
}

/// Writes each rule's batch through one appender, committed per rule.
struct StorageWriter<'a> {
    storage: &'a dyn Appendable,
    app: Option<Box<dyn Appender>>,
}

impl SampleWriter for StorageWriter<'_> {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        let app = self.app.get_or_insert_with(|| self.storage.appender());
        app.append(None, labels, t, Value::Float(v), AppendOptions::NONE).map(|_| ())
    }

    fn commit(&mut self) -> Result<(), AppendError> {
        self.app.take().map_or(Ok(()), |a| a.commit())
    }
}

/// `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Inner {
    fn to_postable(&self, live: &Live, a: &Alert, expr: &str) -> Option<PostableAlert> {
        let mut lb = a.labels.builder();
        for l in &live.external_labels {
            if lb.get(&l.name).is_none_or(str::is_empty) {
                lb.set(l.name.as_str(), l.value.as_str());
            }
        }
        if !live.relabel.is_empty() && !process_builder(&mut lb, &live.relabel) {
            return None;
        }
        let labels = lb.into_labels();
        if labels.is_empty() {
            return None;
        }
        Some(PostableAlert {
            labels,
            annotations: Labels::from_pairs(a.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            starts_at: Some(a.fired_at.unwrap_or(a.active_at)),
            ends_at: a.resolved_at.or(a.valid_until),
            generator_url: format!("{}/graph?g0.expr={}&g0.tab=1", self.opts.external_url, query_escape(expr)),
        })
    }

    /// Evaluates one entry if due at `now`.
    fn eval_entry(&self, e: &mut Entry, now: Timestamp, report: &mut CycleReport) {
        let Some(group) = e.group.as_mut() else { return };
        if now < e.next_eval {
            return;
        }
        let interval = group.interval_ms.max(1);
        let missed = (now - e.next_eval) / interval;
        let ts = e.next_eval + missed * interval;
        e.iterations_missed += missed as u64;
        e.next_eval = ts + interval;
        let mut w = StorageWriter { storage: self.opts.appendable.as_ref(), app: None };
        let live = self.live.read().clone();
        let out = group.eval_into(&live.env, ts, now, &mut w, Some(self.opts.resend_delay_ms));
        e.evaluations += 1;
        report.groups_evaluated += 1;
        report.samples += out.samples;
        report.errors.extend(out.errors);
        for batch in &out.alerts {
            report.alerts.extend(batch.alerts.iter().filter_map(|a| self.to_postable(&live, a, &batch.expr)));
        }
        // Prometheus restores after the second evaluation, so recording rules the alerts
        // depend on have caught up.
        if e.should_restore && e.evaluations >= 2 {
            e.should_restore = false;
            let r = match self.opts.queryable.querier(now - self.opts.outage_tolerance_ms, now) {
                Ok(q) => group.restore_for_state(q.as_ref(), now, self.opts.for_grace_period_ms),
                Err(err) => {
                    group.set_restored(true);
                    RestoreReport { alerts: 0, errors: vec![(group.name.clone(), err)] }
                }
            };
            report.restore_errors.extend(r.errors);
        }
    }
}

impl Manager {
    /// Loads (or reloads) the rule files matching `patterns` (`*`, `?` in the file name).
    /// On the first load, groups restore their `for` state; on later loads, unchanged
    /// groups keep running and changed ones keep the state of their remaining rules.
    /// Any invalid file fails the whole load and leaves the running rules as they were.
    pub fn load<S: AsRef<str>>(&self, patterns: &[S]) -> Result<LoadReport, ManagerError> {
        let (groups, files) = self.read(patterns)?;
        let mut report = self.apply_with(groups, None);
        report.files = files;
        Ok(report)
    }

    /// Like [`load`](Self::load), with new [`Settings`] in force from then on (groups that
    /// inherit a changed interval or offset count as changed). All or nothing: with any
    /// invalid file, neither the rules nor the settings change.
    pub fn reload<S: AsRef<str>>(&self, patterns: &[S], settings: Settings) -> Result<LoadReport, ManagerError> {
        let (groups, files) = self.read(patterns)?;
        let live = Live::new(&self.inner.opts, settings);
        let mut report = self.apply_with(groups, Some(live));
        report.files = files;
        Ok(report)
    }

    /// The settings in force.
    pub fn settings(&self) -> Settings {
        let live = self.inner.live.read();
        Settings {
            evaluation_interval: StdDuration::from_millis(live.interval_ms as u64),
            query_offset: StdDuration::from_millis(live.query_offset_ms.max(0) as u64),
            external_labels: live.external_labels.clone(),
            alert_relabel: live.relabel.clone(),
        }
    }

    /// Reads and checks the rule files matching `patterns`: the groups by file, and how many
    /// files.
    #[allow(clippy::type_complexity)]
    fn read<S: AsRef<str>>(&self, patterns: &[S]) -> Result<(Vec<(String, RuleGroup)>, usize), ManagerError> {
        let mut paths: Vec<PathBuf> = Vec::new();
        for p in patterns {
            let p = p.as_ref();
            let found = super::unittest::expand_rule_files(std::path::Path::new(""), &[p.to_string()])
                .map_err(|message| ManagerError { kind: ManagerErrorKind::Glob { pattern: p.to_string(), message } })?;
            for f in found {
                if !paths.contains(&f) {
                    paths.push(f);
                }
            }
        }
        let mut groups = Vec::new();
        let mut errors = Vec::new();
        for p in &paths {
            match RuleFile::load(p, &*self.inner.opts.check) {
                Ok(rf) => groups.extend(rf.groups.into_iter().map(|g| (p.display().to_string(), g))),
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            return Err(ManagerError { kind: ManagerErrorKind::RuleFiles(errors) });
        }
        Ok((groups, paths.len()))
    }

    /// Replaces the configured groups with `groups` (file name, group), as [`Manager::load`]
    /// does after reading the files. For hosts that keep rules elsewhere than in files.
    pub fn apply(&self, groups: Vec<(String, RuleGroup)>) -> LoadReport {
        self.apply_with(groups, None)
    }

    /// [`apply`](Self::apply), switching to `live` settings (if given) at the same moment.
    fn apply_with(&self, groups: Vec<(String, RuleGroup)>, live: Option<Live>) -> LoadReport {
        let inner = &self.inner;
        let now = inner.opts.clock.now();
        let mut state = inner.state.lock();
        let live = match live {
            Some(l) => {
                let l = Arc::new(l);
                *inner.live.write() = l.clone();
                l
            }
            None => inner.live.read().clone(),
        };
        let first = !state.loaded;
        state.loaded = true;
        let mut old = std::mem::take(&mut state.groups);
        let mut report = LoadReport::default();
        for (file, src) in groups {
            let key = (file.clone(), src.name.clone());
            let mut group = Group::from_file(&file, &src, live.interval_ms);
            if src.query_offset.is_none() {
                group.query_offset_ms = live.query_offset_ms;
            }
            report.groups += 1;
            report.rules += group.rules.len();
            let mut should_restore = false;
            if let Some(prev) = old.remove(&key) {
                let mut pe = prev.lock();
                let same = pe.source == src
                    && pe.group.as_ref().is_some_and(|g| {
                        g.interval_ms == group.interval_ms && g.query_offset_ms == group.query_offset_ms
                    });
                if same {
                    drop(pe);
                    state.groups.insert(key, prev);
                    report.unchanged += 1;
                    continue;
                }
                report.changed += 1;
                if let Some(g) = pe.group.take() {
                    group.copy_state_from(g);
                }
            } else {
                report.added += 1;
                should_restore = first;
            }
            group.set_restored(!should_restore);
            let next_eval = group.eval_timestamp(now) + group.interval_ms.max(1);
            let entry = Entry {
                group: Some(group),
                source: src,
                next_eval,
                should_restore,
                evaluations: 0,
                iterations_missed: 0,
            };
            state.groups.insert(key, Arc::new(Mutex::new(entry)));
        }
        for (_, prev) in old {
            let mut pe = prev.lock();
            if let Some(g) = pe.group.take() {
                report.removed += 1;
                let (t, due) = (now - g.query_offset_ms, now + 2 * g.interval_ms);
                let series = g.into_series();
                if !series.is_empty() {
                    state.removed.push(RemovedGroup { series, t, due });
                }
            }
        }
        drop(state);
        inner.wake.notify_one();
        report
    }

    /// Evaluates every group whose slot has come (by the clock), writes pending
    /// staleness markers of removed groups, and returns what happened, including the
    /// alerts to send. [`Manager::run`] calls this and sends the alerts to the sinks.
    pub fn run_pending(&self) -> CycleReport {
        let inner = &self.inner;
        let _serial = inner.eval_lock.lock();
        let now = inner.opts.clock.now();
        let mut report = CycleReport::default();
        for e in self.entries() {
            inner.eval_entry(&mut e.lock(), now, &mut report);
        }
        self.write_removed(now);
        report
    }

    /// The earliest time something is due: a group's next slot or a removed group's
    /// staleness markers.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let state = self.inner.state.lock();
        let groups = state.groups.values().filter_map(|e| {
            let e = e.lock();
            e.group.as_ref().map(|_| e.next_eval)
        });
        groups.chain(state.removed.iter().map(|r| r.due)).min()
    }

    /// Evaluates on schedule until [`Manager::stop`]. Each group runs on its own blocking
    /// thread (`spawn_blocking`) when its slot comes, independently of the others, as
    /// Prometheus runs one goroutine per group: a group whose queries take long delays only
    /// itself (its later slots count as missed), never another group. When a group's
    /// evaluation ends, its alerts go to every sink. Between slots the loop sleeps until the
    /// next deadline (at most a minute; a reload or a finished evaluation wakes it). After
    /// `stop`, `run` waits for the evaluations in flight and sends their alerts, so nothing
    /// is written once it has returned.
    pub async fn run(&self) {
        // Entries in flight, by address: a task may not have locked its entry yet when the
        // loop comes round again.
        let mut in_flight: std::collections::HashSet<usize> = std::collections::HashSet::new();
        let mut running: tokio::task::JoinSet<(usize, CycleReport)> = tokio::task::JoinSet::new();
        while !self.inner.stopped.load(Ordering::SeqCst) {
            let now = self.inner.opts.clock.now();
            let mut next: Option<Timestamp> = None;
            for e in self.entries() {
                let key = Arc::as_ptr(&e) as usize;
                if in_flight.contains(&key) {
                    continue;
                }
                // A locked entry is being reloaded; the reload wakes the loop.
                let Some(due) = e.try_lock().and_then(|g| g.group.as_ref().map(|_| g.next_eval)) else { continue };
                if due > now {
                    next = Some(next.map_or(due, |n: Timestamp| n.min(due)));
                    continue;
                }
                in_flight.insert(key);
                let me = self.clone();
                running.spawn_blocking(move || {
                    let mut report = CycleReport::default();
                    let now = me.inner.opts.clock.now();
                    me.inner.eval_entry(&mut e.lock(), now, &mut report);
                    (key, report)
                });
            }
            if let Some(due) = self.write_removed(now) {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
            let wait = next.map_or(60_000, |t| (t - now).clamp(0, 60_000));
            tokio::select! {
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok((key, report)) = done {
                        in_flight.remove(&key);
                        self.send(report.alerts).await;
                    }
                }
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(StdDuration::from_millis(wait as u64)) => {}
            }
        }
        while let Some(done) = running.join_next().await {
            if let Ok((_, report)) = done {
                self.send(report.alerts).await;
            }
        }
    }

    /// Sends alerts to every sink.
    async fn send(&self, alerts: Vec<PostableAlert>) {
        if alerts.is_empty() {
            return;
        }
        for sink in &self.inner.opts.sinks {
            sink.send(alerts.clone()).await;
        }
    }

    /// Writes the staleness markers of removed groups that are due at `now`; returns when
    /// the next ones are due.
    fn write_removed(&self, now: Timestamp) -> Option<Timestamp> {
        let due = {
            let mut state = self.inner.state.lock();
            let (due, keep): (Vec<RemovedGroup>, Vec<RemovedGroup>) =
                std::mem::take(&mut state.removed).into_iter().partition(|r| r.due <= now);
            state.removed = keep;
            due
        };
        for r in due {
            let mut w = StorageWriter { storage: self.inner.opts.appendable.as_ref(), app: None };
            for l in &r.series {
                // Rejections are expected when a renamed rule now writes the series.
                let _ = w.append(l, r.t, ember_exposition::STALE_NAN);
            }
            let _ = w.commit();
        }
        self.inner.state.lock().removed.iter().map(|r| r.due).min()
    }

    /// Runs [`Manager::run`] until `shutdown` resolves, then stops it and waits for the
    /// evaluations in flight.
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) {
        let run = self.run();
        tokio::pin!(run);
        tokio::select! {
            _ = &mut run => return,
            _ = shutdown => self.stop(),
        }
        run.await;
    }

    /// Stops [`Manager::run`] for good: no evaluation starts any more, and `run` returns once
    /// those in flight have finished (a later `run` returns at once). Pending staleness markers of removed groups are dropped, as Prometheus drops
    /// them on shutdown.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.state.lock().removed.clear();
        self.inner.wake.notify_one();
    }

    fn entries(&self) -> Vec<Arc<Mutex<Entry>>> {
        self.inner.state.lock().groups.values().cloned().collect()
    }

    /// The groups and their rules, sorted by file then group name (`/api/v1/rules`).
    pub fn rule_groups(&self) -> Vec<GroupView> {
        let mut out = Vec::new();
        for e in self.entries() {
            let e = e.lock();
            let Some(g) = e.group.as_ref() else { continue };
            let rules = g
                .rules
                .iter()
                .zip(g.rule_status())
                .map(|(r, status)| match r {
                    Rule::Recording(r) => RuleView {
                        name: r.name().to_string(),
                        query: r.expr().to_string(),
                        labels: r.labels(),
                        status: status.clone(),
                        kind: RuleViewKind::Recording,
                    },
                    Rule::Alerting(r) => RuleView {
                        name: r.name().to_string(),
                        query: r.expr().to_string(),
                        labels: Labels::from_pairs(r.labels().iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                        status: status.clone(),
                        kind: RuleViewKind::Alerting {
                            state: r.state(),
                            for_ms: r.hold_ms(),
                            keep_firing_for_ms: r.keep_firing_for_ms(),
                            annotations: r.annotations().clone(),
                            alerts: active(r.active_alerts()),
                        },
                    },
                })
                .collect();
            out.push(GroupView {
                name: g.name.clone(),
                file: g.file.clone(),
                interval_ms: g.interval_ms,
                query_offset_ms: g.query_offset_ms,
                limit: g.limit,
                rules,
                evaluation_time: g.evaluation_time(),
                last_evaluation: g.last_evaluation(),
                next_evaluation: e.next_eval,
                iterations_missed: e.iterations_missed,
            });
        }
        out
    }

    /// Every pending and firing alert, by rule then labels (`/api/v1/alerts`).
    pub fn alerts(&self) -> Vec<Alert> {
        let mut out = Vec::new();
        for e in self.entries() {
            let e = e.lock();
            let Some(g) = e.group.as_ref() else { continue };
            for r in &g.rules {
                if let Rule::Alerting(r) = r {
                    out.extend(active(r.active_alerts()));
                }
            }
        }
        out
    }
}

fn active(alerts: Vec<&Alert>) -> Vec<Alert> {
    alerts.into_iter().filter(|a| a.state != AlertState::Inactive).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escape_matches_go() {
        assert_eq!(query_escape("sum(up{job=\"a b\"}) > 0"), "sum%28up%7Bjob%3D%22a+b%22%7D%29+%3E+0");
        assert_eq!(query_escape("a-b_c.d~"), "a-b_c.d~");
    }
}
