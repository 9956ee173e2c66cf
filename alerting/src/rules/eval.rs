//! Rule evaluation: recording rules, the alert state machine, and a group's evaluation
//! with staleness tracking.
//!
//! Rules see PromQL through a [`QueryFn`] (an instant query at a time), which the rule
//! manager wires to the PromQL engine; that keeps this state machine testable with exact
//! inputs. Evaluation returns the samples to append (recorded series, `ALERTS`,
//! `ALERTS_FOR_STATE`, staleness markers); appending them is the caller's business.

use std::collections::BTreeMap;

use hashbrown::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use ember_exposition::{Label, Labels, METRIC_NAME_LABEL, MatchType, Matcher, STALE_NAN, is_stale_nan};
use ember_tsdb::storage::{AppendError, Querier, Queryable, StorageError};

use super::file::{RuleGroup, RuleNode};
use crate::template::{ALERT_TEMPLATE_HEADER, AlertTemplateData, Context, QuerySample, Template, TemplateError};

/// One sample of an instant-query result or of a rule's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Series labels (including `__name__` where there is one).
    pub labels: Labels,
    /// Timestamp, ms.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// Runs an instant query: `(expr, time in ms) -> vector`, or an error message.
pub type QueryFn = dyn Fn(&str, i64) -> Result<Vec<Sample>, String> + Send + Sync;

/// A [`QueryFn`] over the PromQL engine and a storage, as Prometheus's `EngineQueryFunc`:
/// an instant vector is returned as is, a scalar as one sample without labels, anything
/// else is an error.
pub fn engine_query_fn(engine: Arc<ember_promql::engine::Engine>, storage: Arc<dyn Queryable>) -> Arc<QueryFn> {
    use ember_promql::engine::Value;
    Arc::new(move |expr: &str, t: i64| {
        let r = engine.instant_query(storage.as_ref(), expr, t).map_err(|e| e.to_string())?;
        match r.value {
            Value::Vector(v) => Ok(v.into_iter().map(|s| Sample { labels: s.metric, t: s.t, v: s.f }).collect()),
            Value::Scalar { t, v } => Ok(vec![Sample { labels: Labels::empty(), t, v }]),
            _ => Err("rule result is not a vector or scalar".to_string()),
        }
    })
}

/// The label carrying the alert name.
pub const ALERT_NAME_LABEL: &str = "alertname";
/// The label carrying the alert state in `ALERTS`.
pub const ALERT_STATE_LABEL: &str = "alertstate";
/// The series that exposes every pending and firing alert.
pub const ALERT_METRIC_NAME: &str = "ALERTS";
/// The series that records when each active alert became active (for restoring `for`).
pub const ALERT_FOR_STATE_METRIC_NAME: &str = "ALERTS_FOR_STATE";
/// How long resolved alerts are kept so they are sent as resolved.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// An alert's state, ordered `Inactive < Pending < Firing` (a rule's state is the
/// greatest state of its alerts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertState {
    /// Resolved (kept for a while so it is reported as resolved).
    Inactive,
    /// Active, but not yet for the `for` duration.
    Pending,
    /// Active for at least the `for` duration.
    Firing,
}

impl AlertState {
    /// The state as `ALERTS{alertstate=…}` and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert of an alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Identifying labels: the result's labels without `__name__`, plus the rule's labels
    /// (expanded) and `alertname`.
    pub labels: Labels,
    /// Expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// The state.
    pub state: AlertState,
    /// The value of the sample that last made the alert active.
    pub value: f64,
    /// When the alert became active (ms).
    pub active_at: i64,
    /// When it started firing (ms).
    pub fired_at: Option<i64>,
    /// When it resolved (ms).
    pub resolved_at: Option<i64>,
    /// When it was last sent to a notifier (ms).
    pub last_sent_at: Option<i64>,
    /// Until when the last send is valid (ms); the notifier uses it as `endsAt`.
    pub valid_until: Option<i64>,
    /// Since when the condition has not held while `keep_firing_for` keeps it firing.
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    /// Whether the alert should be sent now, given the resend delay.
    pub fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        // Resolved since the last send: send the resolution.
        if let (Some(r), Some(s)) = (self.resolved_at, self.last_sent_at)
            && r > s
        {
            return true;
        }
        match self.last_sent_at {
            None => true,
            Some(s) => s + resend_delay_ms < ts,
        }
    }
}

/// A rule evaluation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvalErrorKind {
    /// The query failed.
    Query(String),
    /// Two results have the same labels once the rule's labels are applied.
    DuplicateLabelset,
    /// The rule produced more series or alerts than the group's limit.
    LimitExceeded {
        /// The limit.
        limit: u64,
        /// How many there were.
        got: usize,
    },
    /// Storage rejected a result sample or the commit (the first such error of the
    /// evaluation; the other samples were still stored).
    Append(AppendError),
}

/// A failed evaluation of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    /// The rule's name.
    pub rule: String,
    /// What went wrong.
    pub kind: EvalErrorKind,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {:?}: ", self.rule)?;
        match &self.kind {
            EvalErrorKind::Query(m) => f.write_str(m),
            EvalErrorKind::DuplicateLabelset => {
                f.write_str("vector contains metrics with the same labelset after applying rule labels")
            }
            EvalErrorKind::LimitExceeded { limit, got } => write!(f, "exceeded limit of {limit} with {got} series"),
            EvalErrorKind::Append(e) => write!(f, "appending the result: {e}"),
        }
    }
}

impl std::error::Error for EvalError {}

/// What rules need from their surroundings besides the query function.
#[derive(Clone, Default)]
pub struct RuleEnv {
    /// Runs queries (for rule expressions and the `query` template function).
    pub query: Option<Arc<QueryFn>>,
    /// External labels, visible to templates as `$externalLabels`.
    pub external_labels: BTreeMap<String, String>,
    /// The external URL, visible to templates as `$externalURL`.
    pub external_url: String,
}

impl fmt::Debug for RuleEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleEnv")
            .field("external_labels", &self.external_labels)
            .field("external_url", &self.external_url)
            .finish_non_exhaustive()
    }
}

impl RuleEnv {
    fn run(&self, rule: &str, expr: &str, t: i64) -> Result<Vec<Sample>, EvalError> {
        let q = self
            .query
            .as_ref()
            .ok_or_else(|| EvalError { rule: rule.into(), kind: EvalErrorKind::Query("no query function".into()) })?;
        q(expr, t).map_err(|m| EvalError { rule: rule.into(), kind: EvalErrorKind::Query(m) })
    }

    fn template_context(&self, t: i64) -> Context {
        let query = self.query.clone().map(|q| {
            let f: Arc<crate::template::QueryFn> = Arc::new(move |expr: &str| {
                q(expr, t).map(|v| {
                    v.into_iter()
                        .map(|s| QuerySample {
                            labels: s.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect(),
                            value: s.v,
                        })
                        .collect()
                })
            });
            f
        });
        Context { query, external_url: self.external_url.clone(), now: t as f64 / 1000.0 }
    }
}

fn has_duplicates(v: &[Sample]) -> bool {
    let mut seen = HashSet::with_capacity(v.len());
    v.iter().any(|s| !seen.insert(&s.labels))
}

/// A recording rule: stores an expression's result under a new metric name.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    name: String,
    expr: String,
    labels: Vec<Label>,
}

impl RecordingRule {
    /// A rule recording `expr` as `name` with extra `labels`.
    pub fn new(name: impl Into<String>, expr: impl Into<String>, labels: &BTreeMap<String, String>) -> Self {
        RecordingRule {
            name: name.into(),
            expr: expr.into(),
            labels: labels.iter().map(|(k, v)| Label::new(k.clone(), v.clone())).collect(),
        }
    }

    /// The recorded metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The labels added to the results (group labels under the rule's own).
    pub fn labels(&self) -> Labels {
        Labels::from_vec(self.labels.clone())
    }

    /// Evaluates at `ts` (the query runs at `ts - query_offset_ms`); the samples are
    /// timestamped at the query time.
    pub fn eval(&self, env: &RuleEnv, ts: i64, query_offset_ms: i64, limit: u64) -> Result<Vec<Sample>, EvalError> {
        let qt = ts - query_offset_ms;
        let mut v = env.run(&self.name, &self.expr, qt)?;
        for s in &mut v {
            let mut lb = s.labels.builder();
            lb.set(METRIC_NAME_LABEL, self.name.as_str());
            for l in &self.labels {
                lb.set(l.name.as_str(), l.value.as_str());
            }
            s.labels = lb.build();
            s.t = qt;
        }
        if has_duplicates(&v) {
            return Err(EvalError { rule: self.name.clone(), kind: EvalErrorKind::DuplicateLabelset });
        }
        if limit > 0 && v.len() as u64 > limit {
            return Err(EvalError {
                rule: self.name.clone(),
                kind: EvalErrorKind::LimitExceeded { limit, got: v.len() },
            });
        }
        Ok(v)
    }
}

/// An alerting rule and its active alerts.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    name: String,
    expr: String,
    hold_ms: i64,
    keep_firing_for_ms: i64,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    active: HashMap<Labels, Alert>,
    /// Until `for` state is restored after a restart, no `ALERTS` samples are written.
    restored: bool,
    /// Label and annotation templates, parsed at the first evaluation.
    templates: Option<Arc<RuleTemplates>>,
}

/// A label or annotation value: plain text, a parsed template, or a parse error (reported
/// on every alert, as Prometheus reports expansion errors).
#[derive(Debug)]
enum Expansion {
    Text(String),
    Template(Template),
    Error(TemplateError),
}

/// An alerting rule's templates, parsed once.
#[derive(Debug)]
struct RuleTemplates {
    labels: Vec<(String, Expansion)>,
    annotations: Vec<(String, Expansion)>,
    /// Whether any value is a template (else no template data is built).
    any: bool,
}

impl RuleTemplates {
    fn parse(rule: &str, labels: &BTreeMap<String, String>, annotations: &BTreeMap<String, String>) -> Self {
        let name = format!("__alert_{rule}");
        let one = |text: &String| {
            if !text.contains("{{") {
                return Expansion::Text(text.clone());
            }
            match Template::parse(&name, &format!("{ALERT_TEMPLATE_HEADER}{text}")) {
                Ok(t) => Expansion::Template(t),
                Err(e) => Expansion::Error(e),
            }
        };
        let labels: Vec<(String, Expansion)> = labels.iter().map(|(k, v)| (k.clone(), one(v))).collect();
        let annotations: Vec<(String, Expansion)> = annotations.iter().map(|(k, v)| (k.clone(), one(v))).collect();
        let any = labels.iter().chain(&annotations).any(|(_, e)| !matches!(e, Expansion::Text(_)));
        RuleTemplates { labels, annotations, any }
    }
}

impl AlertingRule {
    /// An alerting rule.
    pub fn new(
        name: impl Into<String>,
        expr: impl Into<String>,
        hold_ms: i64,
        keep_firing_for_ms: i64,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    ) -> Self {
        AlertingRule {
            name: name.into(),
            expr: expr.into(),
            hold_ms,
            keep_firing_for_ms,
            labels,
            annotations,
            active: HashMap::new(),
            restored: true,
            templates: None,
        }
    }

    /// The alert name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The `for` duration (ms).
    pub fn hold_ms(&self) -> i64 {
        self.hold_ms
    }

    /// The `keep_firing_for` duration (ms).
    pub fn keep_firing_for_ms(&self) -> i64 {
        self.keep_firing_for_ms
    }

    /// The label templates added to alerts (group labels under the rule's own).
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The annotation templates.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// The rule's state: the greatest state among its alerts (`Inactive` when none).
    pub fn state(&self) -> AlertState {
        self.active.values().map(|a| a.state).max().unwrap_or(AlertState::Inactive)
    }

    /// Whether `for` state has been restored (or needs no restoring).
    pub fn restored(&self) -> bool {
        self.restored
    }

    /// Active alerts (pending, firing, and resolved ones still retained), sorted by labels.
    pub fn active_alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self.active.values().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// Marks whether `for` state has been restored; until then no `ALERTS` samples are produced.
    pub fn set_restored(&mut self, restored: bool) {
        self.restored = restored;
    }

    /// Restores the active-since time of an alert with these labels (from `ALERTS_FOR_STATE`).
    pub fn restore_active_at(&mut self, labels: &Labels, active_at: i64) {
        if let Some(a) = self.active.get_mut(labels) {
            a.active_at = active_at;
        }
    }

    /// Evaluates at `ts`: updates the alerts' states and returns the `ALERTS` and
    /// `ALERTS_FOR_STATE` samples for pending and firing alerts.
    pub fn eval(&mut self, env: &RuleEnv, ts: i64, query_offset_ms: i64, limit: u64) -> Result<Vec<Sample>, EvalError> {
        let qt = ts - query_offset_ms;
        let res = env.run(&self.name, &self.expr, qt)?;
        let templates = self
            .templates
            .get_or_insert_with(|| Arc::new(RuleTemplates::parse(&self.name, &self.labels, &self.annotations)))
            .clone();
        let ctx = templates.any.then(|| env.template_context(ts));
        let mut fresh: HashMap<Labels, Alert> = HashMap::with_capacity(res.len());
        for s in res {
            let data = ctx.as_ref().map(|_| {
                AlertTemplateData {
                    labels: s.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect(),
                    external_labels: env.external_labels.clone(),
                    external_url: env.external_url.clone(),
                    value: s.v,
                }
                .to_value()
            });
            let expand = |t: &Expansion| match (t, &data, &ctx) {
                (Expansion::Text(s), _, _) => s.clone(),
                (Expansion::Template(t), Some(d), Some(c)) => match t.execute(d, c) {
                    Ok(r) => r,
                    Err(e) => format!("<error expanding template: {e}>"),
                },
                (Expansion::Error(e), _, _) => format!("<error expanding template: {e}>"),
                (Expansion::Template(_), _, _) => String::new(),
            };
            let mut lb = s.labels.builder();
            lb.del(METRIC_NAME_LABEL);
            for (k, t) in &templates.labels {
                lb.set(k.as_str(), expand(t));
            }
            lb.set(ALERT_NAME_LABEL, self.name.as_str());
            let annotations = templates.annotations.iter().map(|(k, t)| (k.clone(), expand(t))).collect();
            let labels = lb.into_labels();
            if fresh.contains_key(&labels) {
                return Err(EvalError { rule: self.name.clone(), kind: EvalErrorKind::DuplicateLabelset });
            }
            let alert = Alert {
                labels: labels.clone(),
                annotations,
                state: AlertState::Pending,
                value: s.v,
                active_at: ts,
                fired_at: None,
                resolved_at: None,
                last_sent_at: None,
                valid_until: None,
                keep_firing_since: None,
            };
            fresh.insert(labels, alert);
        }
        let seen: HashSet<Labels> = fresh.keys().cloned().collect();
        for (k, a) in fresh {
            match self.active.get_mut(&k) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations;
                }
                _ => {
                    self.active.insert(k, a);
                }
            }
        }
        let mut out = Vec::new();
        let mut num_active = 0usize;
        let mut remove = Vec::new();
        let keep_for = self.keep_firing_for_ms;
        let hold = self.hold_ms;
        let mut keys: Vec<Labels> = self.active.keys().cloned().collect();
        keys.sort();
        for k in keys {
            let a = self.active.get_mut(&k).expect("key from the map");
            if !seen.contains(&k) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < keep_for;
                }
                if a.state == AlertState::Pending || a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS) {
                    remove.push(k.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            num_active += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= hold {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            if self.restored {
                out.push(alert_sample(a, qt));
                out.push(for_state_sample(a, qt));
            }
        }
        for k in remove {
            self.active.remove(&k);
        }
        if limit > 0 && num_active as u64 > limit {
            self.active.clear();
            return Err(EvalError {
                rule: self.name.clone(),
                kind: EvalErrorKind::LimitExceeded { limit, got: num_active },
            });
        }
        Ok(out)
    }

    /// The alerts to send at `ts` (marking them sent): firing ones not sent within the
    /// resend delay and newly resolved ones. `valid_until` is set to four times the
    /// larger of the resend delay and the group interval after `ts`.
    pub fn alerts_to_send(&mut self, ts: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.needs_sending(ts, resend_delay_ms) {
                a.last_sent_at = Some(ts);
                a.valid_until = Some(ts + 4 * resend_delay_ms.max(interval_ms));
                out.push(a.clone());
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

fn alert_sample(a: &Alert, t: i64) -> Sample {
    let mut b = a.labels.builder();
    b.set(METRIC_NAME_LABEL, ALERT_METRIC_NAME);
    b.set(ALERT_STATE_LABEL, a.state.as_str());
    Sample { labels: b.into_labels(), t, v: 1.0 }
}

fn for_state_sample(a: &Alert, t: i64) -> Sample {
    let mut b = a.labels.builder();
    b.set(METRIC_NAME_LABEL, ALERT_FOR_STATE_METRIC_NAME);
    Sample { labels: b.into_labels(), t, v: (a.active_at / 1000) as f64 }
}

/// A rule of either kind.
#[derive(Debug, Clone)]
pub enum Rule {
    /// A recording rule.
    Recording(RecordingRule),
    /// An alerting rule.
    Alerting(AlertingRule),
}

impl Rule {
    /// The rule's name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => r.name(),
            Rule::Alerting(r) => r.name(),
        }
    }

    /// Builds a rule from its file form, with the group's labels under the rule's own.
    pub fn from_node(node: &RuleNode, group_labels: &BTreeMap<String, String>) -> Rule {
        let mut labels = group_labels.clone();
        labels.extend(node.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        match (&node.record, &node.alert) {
            (Some(name), _) => Rule::Recording(RecordingRule::new(name.clone(), node.expr.clone(), &labels)),
            (None, alert) => Rule::Alerting(AlertingRule::new(
                alert.clone().unwrap_or_default(),
                node.expr.clone(),
                node.for_.map_or(0, |d| d.0),
                node.keep_firing_for.map_or(0, |d| d.0),
                labels,
                node.annotations.clone(),
            )),
        }
    }
}

/// Where a group's evaluation stores each rule's output.
///
/// Every rule's samples (and the staleness markers of its vanished series) form one batch,
/// committed before the next rule runs, so a rule sees the results of the rules before it
/// in the group at the same timestamp, as in Prometheus. The rule manager implements this
/// over an [`ember_tsdb::storage::Appendable`]; the unit-test runner over its backend.
pub trait SampleWriter {
    /// Adds a sample to the current batch; a rejected sample is reported and skipped.
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError>;
    /// Commits the current batch (a no-op when nothing was appended).
    fn commit(&mut self) -> Result<(), AppendError>;
}

/// A [`SampleWriter`] that keeps everything in a vector (accepting every sample).
#[derive(Debug, Default)]
pub struct VecWriter {
    /// The samples, in append order.
    pub samples: Vec<Sample>,
}

impl SampleWriter for VecWriter {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        self.samples.push(Sample { labels: labels.clone(), t, v });
        Ok(())
    }
    fn commit(&mut self) -> Result<(), AppendError> {
        Ok(())
    }
}

/// The result of one group evaluation through [`Group::eval`].
#[derive(Debug, Default)]
pub struct GroupEvalResult {
    /// Samples to append, rule by rule (each rule's results, then staleness markers for
    /// its series that disappeared since the previous evaluation).
    pub samples: Vec<Sample>,
    /// Rules that failed (the others still ran).
    pub errors: Vec<EvalError>,
}

/// Alerts of one alerting rule that are due to be sent.
#[derive(Debug, Clone)]
pub struct AlertsToSend {
    /// The rule's expression (for the generator URL).
    pub expr: String,
    /// The alerts (firing ones past the resend delay, and newly resolved ones).
    pub alerts: Vec<Alert>,
}

/// The outcome of one group evaluation through [`Group::eval_into`].
#[derive(Debug, Default)]
pub struct GroupEvalOutcome {
    /// Samples the rules returned (before storage; not counting staleness markers).
    pub samples: usize,
    /// Rules that failed to evaluate or whose results storage rejected.
    pub errors: Vec<EvalError>,
    /// Alerts to send, per alerting rule (only when a resend delay was given).
    pub alerts: Vec<AlertsToSend>,
}

/// What [`Group::restore_for_state`] did.
#[derive(Debug, Default)]
pub struct RestoreReport {
    /// Alerts whose active-since time came from storage.
    pub alerts: usize,
    /// Rules whose `ALERTS_FOR_STATE` series could not be read, with the error.
    pub errors: Vec<(String, StorageError)>,
}

/// A rule's health after its last evaluation, as `/api/v1/rules` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleHealth {
    /// Not evaluated yet.
    #[default]
    Unknown,
    /// The last evaluation succeeded.
    Good,
    /// The last evaluation failed.
    Bad,
}

impl RuleHealth {
    /// `"unknown"`, `"ok"` or `"err"`, as Prometheus's API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleHealth::Unknown => "unknown",
            RuleHealth::Good => "ok",
            RuleHealth::Bad => "err",
        }
    }
}

/// What is known about a rule's last evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleStatus {
    /// Health.
    pub health: RuleHealth,
    /// The last error, when the health is bad.
    pub last_error: Option<EvalError>,
    /// When the rule was last evaluated (ms, the caller's clock).
    pub last_evaluation: Option<i64>,
    /// How long the last evaluation took.
    pub evaluation_time: StdDuration,
}

/// The key that matches a rule across reloads: its name and its labels (Prometheus's
/// `nameAndLabels`).
type RuleIdentity = (String, Vec<(String, String)>);

fn rule_identity(r: &Rule) -> RuleIdentity {
    let labels = match r {
        Rule::Recording(r) => r.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect(),
        Rule::Alerting(r) => r.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    };
    (r.name().to_string(), labels)
}

/// A group of rules evaluated in order, remembering what each rule returned last time so
/// vanished series get staleness markers.
#[derive(Debug, Clone)]
pub struct Group {
    /// The group name.
    pub name: String,
    /// The file the group came from.
    pub file: String,
    /// Evaluation interval (ms).
    pub interval_ms: i64,
    /// Query offset (ms).
    pub query_offset_ms: i64,
    /// Per-rule output limit (0 = none).
    pub limit: u64,
    /// The rules, in order.
    pub rules: Vec<Rule>,
    previous: Vec<HashSet<Labels>>,
    status: Vec<RuleStatus>,
    /// Series of rules removed by a reload, marked stale at the next evaluation.
    stale_series: Vec<Labels>,
    last_evaluation: Option<i64>,
    last_eval_timestamp: Option<i64>,
    evaluation_time: StdDuration,
}

impl Group {
    /// A group from its file form.
    pub fn from_file(file: &str, g: &RuleGroup, default_interval_ms: i64) -> Group {
        let rules: Vec<Rule> = g.rules.iter().map(|r| Rule::from_node(r, &g.labels)).collect();
        Group {
            name: g.name.clone(),
            file: file.to_string(),
            interval_ms: g.interval.map_or(default_interval_ms, |d| d.0),
            query_offset_ms: g.query_offset.map_or(0, |d| d.0),
            limit: g.limit,
            previous: vec![HashSet::new(); rules.len()],
            status: vec![RuleStatus::default(); rules.len()],
            rules,
            stale_series: Vec::new(),
            last_evaluation: None,
            last_eval_timestamp: None,
            evaluation_time: StdDuration::ZERO,
        }
    }

    /// The group's evaluation offset within its interval: a hash of file and name, as
    /// Prometheus spreads groups so they do not all evaluate at once.
    pub fn offset_ms(&self) -> i64 {
        if self.interval_ms <= 0 {
            return 0;
        }
        let mut h = xxhash_rust::xxh64::Xxh64::new(0);
        for (n, v) in [("file", self.file.as_str()), ("name", self.name.as_str())] {
            h.update(n.as_bytes());
            h.update(&[0xff]);
            h.update(v.as_bytes());
            h.update(&[0xff]);
        }
        // Prometheus works in nanoseconds; do the same so the slots agree.
        let interval_ns = self.interval_ms as u64 * 1_000_000;
        ((h.digest() % interval_ns) / 1_000_000) as i64
    }

    /// The evaluation slot at or before `now_ms`.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        if self.interval_ms <= 0 {
            return now_ms;
        }
        let offset = self.offset_ms();
        let adj = now_ms - offset;
        adj - adj.rem_euclid(self.interval_ms) + offset
    }

    /// Per-rule status, in rule order.
    pub fn rule_status(&self) -> &[RuleStatus] {
        &self.status
    }

    /// When the group was last evaluated (the `started_at` given to [`Group::eval_into`]).
    pub fn last_evaluation(&self) -> Option<i64> {
        self.last_evaluation
    }

    /// The evaluation timestamp (slot) of the last evaluation.
    pub fn last_eval_timestamp(&self) -> Option<i64> {
        self.last_eval_timestamp
    }

    /// How long the last evaluation took.
    pub fn evaluation_time(&self) -> StdDuration {
        self.evaluation_time
    }

    /// Marks every alerting rule as restored or not (until restored, no `ALERTS` and
    /// `ALERTS_FOR_STATE` samples are written).
    pub fn set_restored(&mut self, restored: bool) {
        for r in &mut self.rules {
            if let Rule::Alerting(a) = r {
                a.set_restored(restored);
            }
        }
    }

    /// Evaluates every rule at `ts`, in order, collecting the output in memory (every
    /// sample accepted).
    pub fn eval(&mut self, env: &RuleEnv, ts: i64) -> GroupEvalResult {
        let mut w = VecWriter::default();
        let out = self.eval_into(env, ts, ts, &mut w, None);
        GroupEvalResult { samples: w.samples, errors: out.errors }
    }

    /// Evaluates every rule at `ts` in order, writing each rule's output through `w` and
    /// committing it before the next rule runs. `started_at` is recorded as the rules'
    /// last evaluation time. With a `resend_delay_ms`, alerting rules also report the
    /// alerts due to be sent (and mark them sent).
    ///
    /// As in Prometheus: a failed rule keeps its previous series (no staleness markers);
    /// samples storage rejects are not counted as returned, so they are marked stale if
    /// they were returned before; staleness markers that storage rejects are ignored.
    pub fn eval_into(
        &mut self,
        env: &RuleEnv,
        ts: i64,
        started_at: i64,
        w: &mut dyn SampleWriter,
        resend_delay_ms: Option<i64>,
    ) -> GroupEvalOutcome {
        let group_start = Instant::now();
        let stale_t = ts - self.query_offset_ms;
        let mut out = GroupEvalOutcome::default();
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let t0 = Instant::now();
            let res = match &mut *rule {
                Rule::Recording(r) => r.eval(env, ts, self.query_offset_ms, self.limit),
                Rule::Alerting(r) => r.eval(env, ts, self.query_offset_ms, self.limit),
            };
            let status = &mut self.status[i];
            status.last_evaluation = Some(started_at);
            let samples = match res {
                Ok(s) => s,
                Err(e) => {
                    status.health = RuleHealth::Bad;
                    status.last_error = Some(e.clone());
                    status.evaluation_time = t0.elapsed();
                    out.errors.push(e);
                    continue;
                }
            };
            out.samples += samples.len();
            if let (Some(delay), Rule::Alerting(r)) = (resend_delay_ms, &mut *rule) {
                let alerts = r.alerts_to_send(ts, delay, self.interval_ms);
                if !alerts.is_empty() {
                    out.alerts.push(AlertsToSend { expr: r.expr.clone(), alerts });
                }
            }
            let mut failed = None;
            let mut returned = HashSet::with_capacity(samples.len());
            for s in samples {
                match w.append(&s.labels, s.t, s.v) {
                    Ok(()) => {
                        returned.insert(s.labels);
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
            let mut gone: Vec<&Labels> = self.previous[i].iter().filter(|l| !returned.contains(*l)).collect();
            gone.sort();
            for l in gone {
                // Rejections are expected when another rule writes the same series.
                let _ = w.append(l, stale_t, STALE_NAN);
            }
            match w.commit() {
                Ok(()) => self.previous[i] = returned,
                Err(e) => failed = Some(e),
            }
            match failed {
                None => {
                    status.health = RuleHealth::Good;
                    status.last_error = None;
                }
                Some(e) => {
                    let e = EvalError { rule: rule.name().to_string(), kind: EvalErrorKind::Append(e) };
                    status.health = RuleHealth::Bad;
                    status.last_error = Some(e.clone());
                    out.errors.push(e);
                }
            }
            status.evaluation_time = t0.elapsed();
        }
        if !self.stale_series.is_empty() {
            for l in &self.stale_series {
                let _ = w.append(l, stale_t, STALE_NAN);
            }
            if w.commit().is_ok() {
                self.stale_series.clear();
            }
        }
        self.last_evaluation = Some(started_at);
        self.last_eval_timestamp = Some(ts);
        self.evaluation_time = group_start.elapsed();
        out
    }

    /// Takes over the state of `from`, the previous version of this group before a
    /// reload (Prometheus's `CopyState`): rules are matched by name and labels (the first
    /// duplicate with the first, and so on); a matched rule keeps its series (for
    /// staleness) and, if alerting, its active alerts and status; series of rules that no
    /// longer exist are marked stale at the next evaluation.
    pub fn copy_state_from(&mut self, from: Group) {
        self.last_evaluation = from.last_evaluation;
        self.last_eval_timestamp = from.last_eval_timestamp;
        self.evaluation_time = from.evaluation_time;
        let mut by_key: HashMap<RuleIdentity, Vec<usize>> = HashMap::new();
        for (fi, r) in from.rules.iter().enumerate() {
            by_key.entry(rule_identity(r)).or_default().push(fi);
        }
        let mut from_rules: Vec<Option<Rule>> = from.rules.into_iter().map(Some).collect();
        let mut from_prev: Vec<Option<HashSet<Labels>>> = from.previous.into_iter().map(Some).collect();
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let Some(list) = by_key.get_mut(&rule_identity(rule)) else { continue };
            if list.is_empty() {
                continue;
            }
            let fi = list.remove(0);
            self.previous[i] = from_prev[fi].take().unwrap_or_default();
            if let (Rule::Alerting(new), Some(Rule::Alerting(old))) = (rule, from_rules[fi].take()) {
                new.active.extend(old.active);
            }
        }
        self.stale_series = from.stale_series;
        for prev in from_prev.into_iter().flatten() {
            self.stale_series.extend(prev);
        }
        self.stale_series.sort();
    }

    /// Every series the group's rules returned at their last evaluation, plus those
    /// already waiting to be marked stale: what a removed group marks stale.
    pub fn into_series(self) -> Vec<Labels> {
        let mut v = self.stale_series;
        for p in self.previous {
            v.extend(p);
        }
        v.sort();
        v
    }

    /// Restores the `for` state of the alerting rules from `ALERTS_FOR_STATE`, as
    /// Prometheus does after a restart. `q` covers `[ts - outage_tolerance, ts]`.
    ///
    /// Rules whose `for` is shorter than `for_grace_period_ms` are not restored (they
    /// will simply wait their `for` again). For each active alert with a stored series
    /// whose last sample is not a staleness marker: if it had been pending for its whole
    /// `for` before the outage, nothing changes (it fires at the next evaluation);
    /// if less than the grace period of `for` remained, it fires one grace period after
    /// `ts`; otherwise its active-since time moves forward by the outage duration. Every
    /// alerting rule is marked restored afterwards, even when reading its series failed
    /// (there is no retry, as in Prometheus).
    pub fn restore_for_state(&mut self, q: &dyn Querier, ts: i64, for_grace_period_ms: i64) -> RestoreReport {
        let mut report = RestoreReport::default();
        for rule in &mut self.rules {
            let Rule::Alerting(r) = rule else { continue };
            let hold = r.hold_ms;
            if hold < for_grace_period_ms || r.active.is_empty() {
                r.restored = true;
                continue;
            }
            let mut matchers = Vec::with_capacity(r.labels.len() + 2);
            let mut push = |n: &str, v: &str| {
                if let Ok(m) = Matcher::new(MatchType::Equal, n, v) {
                    matchers.push(m);
                }
            };
            push(METRIC_NAME_LABEL, ALERT_FOR_STATE_METRIC_NAME);
            push(ALERT_NAME_LABEL, &r.name);
            for (k, v) in &r.labels {
                push(k, v);
            }
            let mut last: HashMap<Labels, (i64, f64)> = HashMap::new();
            let mut failed = false;
            for series in q.select(false, None, &matchers) {
                let series = match series {
                    Ok(s) => s,
                    Err(e) => {
                        report.errors.push((r.name.clone(), e));
                        failed = true;
                        break;
                    }
                };
                let mut it = series.iter();
                let mut lastp = None;
                while let Some(p) = it.next() {
                    if let Some(v) = p.v.as_float() {
                        lastp = Some((p.t, v));
                    }
                }
                if let Some(e) = it.error() {
                    report.errors.push((r.name.clone(), e));
                    continue;
                }
                if let Some(p) = lastp {
                    last.insert(series.labels().without_metric_name(), p);
                }
            }
            if failed {
                r.restored = true;
                continue;
            }
            for a in r.active.values_mut() {
                let Some(&(t, v)) = last.get(&a.labels) else { continue };
                if is_stale_nan(v) {
                    continue;
                }
                // Prometheus works in whole seconds here.
                let down_at = t.div_euclid(1000) * 1000;
                let mut active_at = v as i64 * 1000;
                let remaining = hold - (down_at - active_at);
                if remaining <= 0 {
                    // It was firing before the outage; the next evaluation fires it again.
                } else if remaining < for_grace_period_ms {
                    active_at = ts + for_grace_period_ms - hold;
                } else {
                    active_at += ts - down_at;
                }
                a.active_at = active_at;
                report.alerts += 1;
            }
            r.restored = true;
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_exposition::labels;
    use parking_lot::Mutex;

    /// A query function answering from a table: expression -> time -> vector.
    /// (expression, query time, result).
    type Row = (&'static str, i64, Vec<(Labels, f64)>);

    fn table(rows: Vec<Row>) -> Arc<QueryFn> {
        let rows = Arc::new(Mutex::new(rows));
        Arc::new(move |expr: &str, t: i64| {
            Ok(rows
                .lock()
                .iter()
                .filter(|(e, rt, _)| *e == expr && *rt == t)
                .flat_map(|(_, _, v)| v.iter().map(|(l, x)| Sample { labels: l.clone(), t, v: *x }))
                .collect())
        })
    }

    const M: i64 = 60_000;

    fn env(q: Arc<QueryFn>) -> RuleEnv {
        RuleEnv {
            query: Some(q),
            external_labels: [("cluster".into(), "eu".into())].into(),
            external_url: "http://x".into(),
        }
    }

    #[test]
    fn recording_rule_renames_and_labels() {
        let q = table(vec![("sum(up)", 60_000, vec![(labels! {"job" => "a"}, 2.0)])]);
        let r = RecordingRule::new("job:up:sum", "sum(up)", &[("team".to_string(), "x".to_string())].into());
        let out = r.eval(&env(q.clone()), M, 0, 0).unwrap();
        assert_eq!(
            out,
            [Sample { labels: labels! {"__name__" => "job:up:sum", "job" => "a", "team" => "x"}, t: M, v: 2.0 }]
        );
        // Query offset moves the query and the sample time back.
        let out = r.eval(&env(q), 2 * M, M, 0).unwrap();
        assert_eq!(out[0].t, M);
        let dup = table(vec![("e", 0, vec![(labels! {"__name__" => "a"}, 1.0), (labels! {"__name__" => "b"}, 1.0)])]);
        let e = RecordingRule::new("r", "e", &BTreeMap::new()).eval(&env(dup.clone()), 0, 0, 0).unwrap_err();
        assert_eq!(e.kind, EvalErrorKind::DuplicateLabelset);
        let e = RecordingRule::new("r", "e2", &BTreeMap::new());
        let two = table(vec![("e2", 0, vec![(labels! {"a" => "1"}, 1.0), (labels! {"a" => "2"}, 1.0)])]);
        assert_eq!(e.eval(&env(two), 0, 0, 1).unwrap_err().kind, EvalErrorKind::LimitExceeded { limit: 1, got: 2 });
    }

    fn states(r: &AlertingRule) -> Vec<(String, AlertState)> {
        r.active_alerts().iter().map(|a| (a.labels.get("instance").unwrap_or("").to_string(), a.state)).collect()
    }

    #[test]
    fn pending_firing_resolved() {
        let down = |t| ("up == 0", t, vec![(labels! {"__name__" => "up", "instance" => "a"}, 0.0)]);
        let q = table(vec![down(M), down(2 * M), down(3 * M), down(4 * M)]);
        let mut r = AlertingRule::new(
            "Down",
            "up == 0",
            2 * M,
            0,
            [("severity".to_string(), "page".to_string())].into(),
            [("summary".to_string(), "{{ $labels.instance }} in {{ $externalLabels.cluster }}".to_string())].into(),
        );
        let e = env(q);
        assert!(r.eval(&e, 0, 0, 0).unwrap().is_empty());
        let out = r.eval(&e, M, 0, 0).unwrap();
        assert_eq!(states(&r), [("a".into(), AlertState::Pending)]);
        assert_eq!(
            out[0].labels,
            labels! {"__name__" => "ALERTS", "alertname" => "Down", "alertstate" => "pending", "instance" => "a", "severity" => "page"}
        );
        assert_eq!(out[1].labels.metric_name(), Some("ALERTS_FOR_STATE"));
        assert_eq!(out[1].v, 60.0);
        assert!(r.alerts_to_send(M, M, M).is_empty(), "pending alerts are not sent");
        r.eval(&e, 2 * M, 0, 0).unwrap();
        assert_eq!(states(&r), [("a".into(), AlertState::Pending)]);
        let out = r.eval(&e, 3 * M, 0, 0).unwrap();
        assert_eq!(states(&r), [("a".into(), AlertState::Firing)]);
        assert_eq!(out[0].labels.get("alertstate"), Some("firing"));
        let sent = r.alerts_to_send(3 * M, M, M);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].annotations["summary"], "a in eu");
        assert_eq!(sent[0].valid_until, Some(7 * M));
        assert!(r.alerts_to_send(3 * M + 1, M, M).is_empty(), "within the resend delay");
        r.eval(&e, 4 * M, 0, 0).unwrap();
        assert_eq!(r.alerts_to_send(4 * M + 1, M, M).len(), 1, "resent after the delay");
        // Condition gone: resolved, sent once more as resolved, then kept for 15m.
        assert!(r.eval(&e, 5 * M, 0, 0).unwrap().is_empty());
        assert_eq!(states(&r), [("a".into(), AlertState::Inactive)]);
        let sent = r.alerts_to_send(5 * M, M, M);
        assert_eq!((sent.len(), sent[0].resolved_at), (1, Some(5 * M)));
        r.eval(&e, 20 * M, 0, 0).unwrap();
        assert_eq!(r.active_alerts().len(), 1);
        r.eval(&e, 20 * M + 1, 0, 0).unwrap();
        assert!(r.active_alerts().is_empty(), "dropped after the resolved retention");
    }

    #[test]
    fn pending_alert_that_clears_is_dropped_and_zero_for_fires_at_once() {
        let q = table(vec![("x > 1", M, vec![(labels! {"instance" => "a"}, 2.0)])]);
        let e = env(q);
        let mut r = AlertingRule::new("A", "x > 1", 5 * M, 0, BTreeMap::new(), BTreeMap::new());
        r.eval(&e, M, 0, 0).unwrap();
        r.eval(&e, 2 * M, 0, 0).unwrap();
        assert!(r.active_alerts().is_empty());
        let mut r = AlertingRule::new("A", "x > 1", 0, 0, BTreeMap::new(), BTreeMap::new());
        r.eval(&e, M, 0, 0).unwrap();
        assert_eq!(states(&r), [("a".into(), AlertState::Firing)]);
    }

    #[test]
    fn keep_firing_for() {
        let hot = |t| ("q > 100", t, vec![(labels! {"instance" => "a"}, 150.0)]);
        let q = table(vec![hot(M), hot(2 * M), hot(3 * M)]);
        let e = env(q);
        let mut r = AlertingRule::new("Q", "q > 100", M, 2 * M, BTreeMap::new(), BTreeMap::new());
        for t in 1..=3 {
            r.eval(&e, t * M, 0, 0).unwrap();
        }
        assert_eq!(states(&r), [("a".into(), AlertState::Firing)]);
        // Condition stops at 4m: still firing at 4m and 5m, resolved at 6m.
        assert_eq!(r.eval(&e, 4 * M, 0, 0).unwrap().len(), 2);
        r.eval(&e, 5 * M, 0, 0).unwrap();
        assert_eq!(states(&r), [("a".into(), AlertState::Firing)]);
        assert!(r.eval(&e, 6 * M, 0, 0).unwrap().is_empty());
        assert_eq!(states(&r), [("a".into(), AlertState::Inactive)]);
    }

    #[test]
    fn template_errors_are_reported_on_the_alert() {
        let q = table(vec![("e", 0, vec![(labels! {"a" => "1"}, 1.0)])]);
        let mut r =
            AlertingRule::new("T", "e", 0, 0, BTreeMap::new(), [("s".to_string(), "{{ nosuch }}".to_string())].into());
        r.eval(&env(q), 0, 0, 0).unwrap();
        let a = r.active_alerts()[0];
        assert!(a.annotations["s"].starts_with("<error expanding template: "), "{}", a.annotations["s"]);
    }

    #[test]
    fn group_marks_vanished_series_stale() {
        let q = table(vec![
            ("sum by (job) (up)", 0, vec![(labels! {"job" => "a"}, 1.0), (labels! {"job" => "b"}, 1.0)]),
            ("sum by (job) (up)", M, vec![(labels! {"job" => "a"}, 1.0)]),
        ]);
        let src = "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n";
        let f = crate::rules::file::RuleFile::parse("f.yml", src, &|_| Ok(())).unwrap();
        let mut g = Group::from_file("f.yml", &f.groups[0], M);
        let e = env(q);
        assert_eq!(g.eval(&e, 0).samples.len(), 2);
        let r = g.eval(&e, M);
        assert_eq!(r.samples.len(), 2);
        assert_eq!(r.samples[0].v, 1.0);
        assert_eq!(r.samples[1].labels, labels! {"__name__" => "job:up:sum", "job" => "b"});
        assert!(is_stale_nan(r.samples[1].v));
    }

    #[test]
    fn evaluation_slots_are_spread_but_stable() {
        let src = "groups:\n- name: g\n  interval: 1m\n  rules: []\n";
        let f = crate::rules::file::RuleFile::parse("f.yml", src, &|_| Ok(())).unwrap();
        let g = Group::from_file("f.yml", &f.groups[0], M);
        let off = g.offset_ms();
        assert!((0..M).contains(&off));
        let t = g.eval_timestamp(10 * M + 5);
        assert!(t <= 10 * M + 5 && t > 9 * M - M);
        assert_eq!(t.rem_euclid(M), off);
        assert_eq!(g.eval_timestamp(t), t);
    }
}
