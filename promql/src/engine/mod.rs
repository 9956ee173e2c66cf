//! The PromQL evaluator.
//!
//! [`Engine`] parses a query and evaluates it over any [`Queryable`], as an instant query
//! ([`Engine::instant_query`]) or a range query ([`Engine::range_query`]), returning a
//! [`QueryResult`]: the [`Value`], the [`Annotations`] Prometheus would attach, and
//! [`QueryStats`].
//!
//! Evaluation is range-first, as in Prometheus: every node evaluates once over all steps of
//! the query. A selector selects its series once for the whole range and walks each series'
//! samples with a cursor across the steps; range functions slide a window over one buffer
//! per series; operators and aggregations step through the per-step vectors of their
//! operands, reusing their buffers. An instant query is a range query of one step.
//!
//! [`functions`] holds the numeric kernels (range-window functions such as `rate`, element-wise
//! math, classic-histogram quantiles, aggregation helpers) as pure functions over plain
//! slices. [`annotations`] are the warnings and infos returned beside a result.
//!
//! Semantics follow Prometheus 3 with delayed `__name__` removal: functions and operators
//! that drop the metric name mark the series, and the name is removed when the query ends
//! (so `label_replace` can still read it, and `sum by (__name__)` groups by it). With
//! [`EngineOptions::experimental_functions`] the experimental functions evaluate too: `limitk`,
//! `limit_ratio`, `sort_by_label`, `histogram_quantiles`, `info`; with
//! [`EngineOptions::extended_range_selectors`] the `anchored`/`smoothed` selectors and with
//! [`EngineOptions::binop_fill_modifiers`] the `fill` modifiers (each is a parser switch, see
//! [`ParseOptions`]; the engine evaluates whatever parsed). Duration expressions are always on. Native histograms are not evaluated
//! yet: storage holds floats only.
//!
//! ```
//! use ember_promql::engine::{CancelToken, Engine, EngineErrorKind, QueryKind};
//! use ember_tsdb::head::Head;
//!
//! let head = Head::default();
//! let engine = Engine::default();
//! // A query is cancelled from another thread through a token.
//! let token = CancelToken::new();
//! let remote = token.clone();
//! std::thread::spawn(move || remote.cancel()).join().unwrap();
//! let err = engine.query(&head, "vector(1)", QueryKind::Instant(0), Some(&token)).unwrap_err();
//! assert_eq!(err.kind(), &EngineErrorKind::Cancelled);
//! ```

pub mod annotations;
mod eval;
pub mod functions;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ember_exposition::Labels;
use ember_tsdb::storage::{Queryable, StorageError};

pub use self::annotations::{Annotation, AnnotationKind, Annotations, Severity};
pub use self::functions::FPoint;
use crate::parser::{ANCHORED_FUNCTIONS, ParseError, ParseOptions, SMOOTHED_FUNCTIONS};

/// Engine settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the latest sample. Default: 5 minutes.
    pub lookback_delta: Duration,
    /// The most samples a query may hold in memory at once; more is
    /// [`EngineErrorKind::TooManySamples`]. Default: 50,000,000.
    pub max_samples: usize,
    /// Queries running longer fail with [`EngineErrorKind::Timeout`]. Default: 2 minutes.
    pub timeout: Option<Duration>,
    /// The step of subqueries written without one (`x[1h:]`). Default: 1 minute.
    pub default_subquery_step: Duration,
    /// Accept experimental functions and aggregations (`limitk`, `sort_by_label`, …), like
    /// [`ParseOptions::experimental_functions`]. Default: off.
    pub experimental_functions: bool,
    /// Accept the `anchored` and `smoothed` selector modifiers, like
    /// [`ParseOptions::extended_range_selectors`]. Default: off.
    pub extended_range_selectors: bool,
    /// Accept the `fill`, `fill_left` and `fill_right` binary-operator modifiers, like
    /// [`ParseOptions::binop_fill_modifiers`]. Default: off.
    pub binop_fill_modifiers: bool,
}

impl EngineOptions {
    /// These options with the experimental-PromQL switches of `parse` (the other parser
    /// settings stay the engine's own: see [`Engine::parse_options`]).
    #[must_use]
    pub fn with_parse_features(mut self, parse: ParseOptions) -> Self {
        self.experimental_functions = parse.experimental_functions;
        self.extended_range_selectors = parse.extended_range_selectors;
        self.binop_fill_modifiers = parse.binop_fill_modifiers;
        self
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Some(Duration::from_secs(120)),
            default_subquery_step: Duration::from_secs(60),
            experimental_functions: false,
            extended_range_selectors: false,
            binop_fill_modifiers: false,
        }
    }
}

/// Cancels a running query from another thread: clone it, pass one copy to the query, call
/// [`CancelToken::cancel`] on the other.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// Asks every query holding this token to stop; they fail with
    /// [`EngineErrorKind::Cancelled`].
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series labels.
    pub metric: Labels,
    /// The evaluation time, ms.
    pub t: i64,
    /// The value.
    pub f: f64,
}

/// One series of a matrix: labels and points ascending by time.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series labels.
    pub metric: Labels,
    /// The points.
    pub points: Vec<FPoint>,
}

/// The value of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar at a time (ms).
    Scalar {
        /// Evaluation time, ms.
        t: i64,
        /// The value.
        v: f64,
    },
    /// A string at a time (ms).
    String {
        /// Evaluation time, ms.
        t: i64,
        /// The string.
        v: String,
    },
    /// An instant vector (instant queries).
    Vector(Vec<Sample>),
    /// A matrix: the result of a range query (series sorted by labels), or of an instant
    /// query whose expression is a range vector.
    Matrix(Vec<Series>),
}

/// Statistics of one query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Samples read from storage.
    pub samples_read: u64,
    /// The most samples held in memory at once.
    pub peak_samples: usize,
}

/// What a query returns.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The value.
    pub value: Value,
    /// Warnings and infos, with positions in the query.
    pub annotations: Annotations,
    /// Statistics.
    pub stats: QueryStats,
}

/// A failed query.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineError {
    kind: EngineErrorKind,
    phase: Option<QueryPhase>,
}

impl EngineError {
    pub(crate) fn new(kind: EngineErrorKind) -> Self {
        EngineError { kind, phase: None }
    }

    /// A query stopped ([`EngineErrorKind::Timeout`] or [`EngineErrorKind::Cancelled`]) in
    /// `phase`.
    pub(crate) fn stopped(kind: EngineErrorKind, phase: QueryPhase) -> Self {
        EngineError { kind, phase: Some(phase) }
    }

    /// What went wrong.
    pub fn kind(&self) -> &EngineErrorKind {
        &self.kind
    }

    /// For a query that timed out or was cancelled, the phase it was in; `None` for other
    /// errors.
    pub fn phase(&self) -> Option<QueryPhase> {
        self.phase
    }
}

/// Where a query was when it timed out or was cancelled. Prometheus names it in the message
/// (`query timed out in expression evaluation`), and so does [`EngineError`]'s `Display`.
/// Waiting for a query slot is the host's business: a server that queues queries words its
/// own `query timed out in query queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueryPhase {
    /// Before evaluation began: the deadline had passed or the token was cancelled when the
    /// query started (`query execution`).
    Execution,
    /// While the expression was evaluated (`expression evaluation`).
    Evaluation,
}

impl QueryPhase {
    /// The phase as Prometheus words it.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryPhase::Execution => "query execution",
            QueryPhase::Evaluation => "expression evaluation",
        }
    }
}

impl fmt::Display for QueryPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong with a query.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EngineErrorKind {
    /// The query does not parse (the error carries the position).
    Parse(ParseError),
    /// A range query's expression is not a scalar or instant vector.
    InvalidRangeQueryType(crate::parser::ValueType),
    /// A range query with a step that is not positive, an end before its start, or times
    /// beyond 2^52 ms from the epoch.
    InvalidRange,
    /// The query would hold more than this many samples in memory.
    TooManySamples(usize),
    /// The query ran longer than the timeout ([`EngineError::phase`] says when it noticed).
    Timeout,
    /// The query was cancelled through its [`CancelToken`] ([`EngineError::phase`] says when
    /// it noticed).
    Cancelled,
    /// The storage failed.
    Storage(StorageError),
    /// Two series of a vector ended up with the same labels.
    DuplicateLabelset,
    /// One side of a vector match has two series for one match group.
    DuplicateMatchSeries {
        /// The match group, Prometheus-formatted (`{job="a"}`).
        group: String,
        /// `left` or `right`.
        side: &'static str,
        /// The two series, Prometheus-formatted.
        series: [String; 2],
    },
    /// A one-to-one match found several partners for a series.
    ManyToOneNotExplicit,
    /// A many-to-one match produced one result series twice.
    GroupingNotUnique,
    /// `topk`/`bottomk`/`limitk` with a NaN parameter.
    ParameterNaN,
    /// `limit_ratio` with a NaN ratio.
    RatioNaN,
    /// `count_values` with an invalid label name (Go-quoted, as Prometheus prints it).
    InvalidLabelName(String),
    /// Two info metrics give one sample different values of a data label (`info()`).
    ConflictingInfoLabel(String),
    /// A `label_replace`/`label_join` argument is invalid.
    LabelFunction(functions::labels::LabelFnError),
    /// A function argument the function rejects (`double_exponential_smoothing` factors).
    Function(functions::FunctionError),
    /// A range selector with the experimental `anchored` or `smoothed` modifier given to a
    /// function that does not take it. Found when the call is evaluated, as in Prometheus
    /// (the query parses, and the message carries no position).
    ModifierNotAllowed {
        /// `anchored` or `smoothed`.
        modifier: &'static str,
        /// The function called.
        function: &'static str,
    },
    /// A feature this engine does not evaluate (native histograms, `info`).
    Unsupported(&'static str),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EngineErrorKind::Parse(e) => write!(f, "{e}"),
            EngineErrorKind::InvalidRangeQueryType(t) => {
                write!(f, "invalid expression type \"{t}\" for range query, must be Scalar or instant Vector")
            }
            EngineErrorKind::InvalidRange => f.write_str("invalid range query: the step must be positive, the end not before the start, and times within 2^52 ms of the epoch"),
            // Prometheus's exact words (API clients match on them); the limit is in the kind.
            EngineErrorKind::TooManySamples(_) => {
                write!(f, "query processing would load too many samples into memory in query execution")
            }
            EngineErrorKind::Timeout => {
                write!(f, "query timed out in {}", self.phase.unwrap_or(QueryPhase::Evaluation))
            }
            EngineErrorKind::Cancelled => {
                write!(f, "query was canceled in {}", self.phase.unwrap_or(QueryPhase::Evaluation))
            }
            EngineErrorKind::Storage(e) => write!(f, "{e}"),
            EngineErrorKind::DuplicateLabelset => f.write_str("vector cannot contain metrics with the same labelset"),
            EngineErrorKind::DuplicateMatchSeries { group, side, series } => write!(
                f,
                "found duplicate series for the match group {group} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                series[0], series[1]
            ),
            EngineErrorKind::ManyToOneNotExplicit => f.write_str(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
            ),
            EngineErrorKind::GroupingNotUnique => {
                f.write_str("multiple matches for labels: grouping labels must ensure unique matches")
            }
            EngineErrorKind::ParameterNaN => f.write_str("Parameter value is NaN"),
            EngineErrorKind::RatioNaN => f.write_str("Ratio value is NaN"),
            EngineErrorKind::InvalidLabelName(name) => write!(f, "invalid label name {name}"),
            EngineErrorKind::Function(e) => write!(f, "{e}"),
            EngineErrorKind::LabelFunction(e) => write!(f, "{e}"),
            EngineErrorKind::ConflictingInfoLabel(l) => write!(f, "conflicting label {l:?} in info metrics"),
            EngineErrorKind::ModifierNotAllowed { modifier, function } => {
                let allowed = if *modifier == "anchored" { ANCHORED_FUNCTIONS } else { SMOOTHED_FUNCTIONS };
                write!(f, "{modifier} modifier can only be used with: {} - not with {function}", allowed.join(", "))
            }
            EngineErrorKind::Unsupported(what) => write!(f, "not supported by this engine: {what}"),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<ParseError> for EngineError {
    fn from(e: ParseError) -> Self {
        EngineError::new(EngineErrorKind::Parse(e))
    }
}

impl From<StorageError> for EngineError {
    fn from(e: StorageError) -> Self {
        EngineError::new(EngineErrorKind::Storage(e))
    }
}

/// The PromQL engine: options only, so one engine serves any number of concurrent queries
/// (it is `Send + Sync`; each query keeps its state on its own stack).
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

/// Which query to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// At one time (ms).
    Instant(i64),
    /// From `start` to `end` (inclusive, ms) every `step` ms.
    Range {
        /// First evaluation time.
        start: i64,
        /// Last evaluation time (inclusive).
        end: i64,
        /// Step, > 0.
        step: i64,
    },
}

impl Engine {
    /// An engine with `opts`.
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// The options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// The parser options matching the engine's: [`Engine::query`] parses with them, and a
    /// caller that parses on its own before [`Engine::query_expr`] (a rule loader, say)
    /// should use them too, so that it accepts exactly what the engine would.
    pub fn parse_options(&self) -> ParseOptions {
        ParseOptions {
            experimental_functions: self.opts.experimental_functions,
            extended_range_selectors: self.opts.extended_range_selectors,
            binop_fill_modifiers: self.opts.binop_fill_modifiers,
            ..ParseOptions::default()
        }
    }

    /// Evaluates `query` at time `t` (ms).
    pub fn instant_query(&self, storage: &dyn Queryable, query: &str, t: i64) -> Result<QueryResult, EngineError> {
        self.query(storage, query, QueryKind::Instant(t), None)
    }

    /// Evaluates `query` from `start` to `end` every `step` (ms).
    pub fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, EngineError> {
        self.query(storage, query, QueryKind::Range { start, end, step }, None)
    }

    /// Evaluates `query`, stopping with [`EngineErrorKind::Cancelled`] when `cancel` is
    /// cancelled.
    pub fn query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        kind: QueryKind,
        cancel: Option<&CancelToken>,
    ) -> Result<QueryResult, EngineError> {
        let expr = self.parse_options().parse(query)?;
        self.query_expr(storage, &expr, kind, cancel)
    }

    /// Evaluates an already parsed expression (rule evaluation parses once). The expression
    /// is trusted as it is: the engine's experimental switches are not checked again, so
    /// parse it with [`Engine::parse_options`] to keep them.
    pub fn query_expr(
        &self,
        storage: &dyn Queryable,
        expr: &crate::parser::Expr,
        kind: QueryKind,
        cancel: Option<&CancelToken>,
    ) -> Result<QueryResult, EngineError> {
        let deadline = self.opts.timeout.map(|d| Instant::now() + d);
        eval::run(&self.opts, storage, expr, kind, deadline, cancel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Engine>();
        check::<CancelToken>();
    }
}
