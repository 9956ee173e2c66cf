//! The evaluator: walks the syntax tree once over all steps of a query.

use std::time::Instant;

use ember_exposition::{Labels, METRIC_NAME_LABEL, Matcher, is_stale_nan};
use ember_tsdb::storage::{Querier, Queryable, SelectHints};
use hashbrown::HashMap;

use super::annotations::{Annotation, AnnotationKind, Annotations};
use super::functions::FPoint;
use super::{
    CancelToken, EngineError, EngineErrorKind, EngineOptions, QueryKind, QueryPhase, QueryResult, QueryStats, Sample,
    Series, Value,
};
use crate::parser::{AtModifier, BinaryOp, DurationArg, Expr, PosRange, UnaryOp, ValueType, VectorSelector};

mod aggregate;
mod binary;
mod calls;

pub(crate) type Result<T> = std::result::Result<T, EngineError>;

pub(crate) fn err<T>(kind: EngineErrorKind) -> Result<T> {
    Err(EngineError::new(kind))
}

/// The steps of one evaluation: `start, start + interval, …, end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range {
    pub start: i64,
    pub end: i64,
    pub interval: i64,
}

impl Range {
    pub fn steps(&self) -> usize {
        ((self.end - self.start) / self.interval) as usize + 1
    }
    pub fn ts(&self, k: usize) -> i64 {
        self.start + k as i64 * self.interval
    }
    /// Index of the step at `t` (which must be one of the steps).
    pub fn index(&self, t: i64) -> usize {
        ((t - self.start) / self.interval) as usize
    }
}

/// One series over the steps of an evaluation (or, inside a range argument, its raw
/// samples). `drop_name` marks a series whose `__name__` goes when the query ends.
#[derive(Debug, Clone)]
pub(crate) struct SeriesBuf {
    pub labels: Labels,
    pub points: Vec<FPoint>,
    pub drop_name: bool,
}

/// An evaluated node.
#[derive(Debug)]
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    String(String),
    /// An instant vector over the steps: points at step times.
    Vector(Vec<SeriesBuf>),
    /// A range vector (only as the result of an instant query).
    Matrix(Vec<SeriesBuf>),
}

/// One element of a per-step vector.
#[derive(Debug, Clone)]
pub(crate) struct Elem {
    pub labels: Labels,
    pub f: f64,
    pub drop_name: bool,
    /// Index of the series in the operand it came from (for per-series caches).
    pub src: u32,
    /// Identifies the output series within one node across steps (the input series it
    /// passes through, the group it aggregates, the pair it joins), so collecting it needs
    /// no label hashing; [`NO_KEY`] when there is none.
    pub key: u64,
}

/// No collector key: the output series is found by its labels.
pub(crate) const NO_KEY: u64 = u64::MAX;
/// Key tags, so keys of different kinds never meet in one collector.
pub(crate) const KEY_GROUP: u64 = 1 << 62;
pub(crate) const KEY_PAIR: u64 = 2 << 62;

/// Walks the series of a vector operand step by step.
pub(crate) struct Cursor<'a> {
    series: &'a [SeriesBuf],
    /// Operand index, folded into element keys.
    arg: u64,
    pos: Vec<usize>,
    pub buf: Vec<Elem>,
}

impl<'a> Cursor<'a> {
    pub fn new(series: &'a [SeriesBuf], arg: usize) -> Self {
        Cursor { series, arg: (arg as u64) << 40, pos: vec![0; series.len()], buf: Vec::with_capacity(series.len()) }
    }

    /// Fills `buf` with the elements at step time `ts` (steps must ascend).
    pub fn fill(&mut self, ts: i64) {
        self.buf.clear();
        for (i, s) in self.series.iter().enumerate() {
            let p = &mut self.pos[i];
            while *p < s.points.len() && s.points[*p].t < ts {
                *p += 1;
            }
            if let Some(pt) = s.points.get(*p) {
                if pt.t == ts {
                    self.buf.push(Elem {
                        labels: s.labels.clone(),
                        f: pt.f,
                        drop_name: s.drop_name,
                        src: i as u32,
                        key: self.arg | i as u64,
                    });
                }
            }
        }
    }
}

/// Assembles per-step output vectors into series.
pub(crate) struct Collector {
    map: HashMap<Labels, usize>,
    keys: HashMap<u64, usize>,
    pub series: Vec<SeriesBuf>,
}

impl Collector {
    pub fn new() -> Self {
        Collector { map: HashMap::new(), keys: HashMap::new(), series: Vec::new() }
    }

    /// Adds `e` at step `ts` to its series: by key when it has one (no label hashing),
    /// else (and the first time for a key) by labels.
    pub fn push(&mut self, ts: i64, e: Elem) -> Result<()> {
        let known = if e.key == NO_KEY { None } else { self.keys.get(&e.key).copied() };
        let i = match known {
            Some(i) => i,
            None => {
                let i = match self.map.get(&e.labels) {
                    Some(&i) => i,
                    None => {
                        self.map.insert(e.labels.clone(), self.series.len());
                        self.series.push(SeriesBuf { labels: e.labels, points: Vec::new(), drop_name: e.drop_name });
                        self.series.len() - 1
                    }
                };
                if e.key != NO_KEY {
                    self.keys.insert(e.key, i);
                }
                i
            }
        };
        let s = &mut self.series[i];
        if s.points.last().is_some_and(|p| p.t == ts) {
            return err(EngineErrorKind::DuplicateLabelset);
        }
        s.points.push(FPoint { t: ts, f: e.f });
        Ok(())
    }
}

/// Raw samples of a range argument (matrix selector or subquery), with how to find the
/// window of each step.
pub(crate) struct RangeData {
    pub series: Vec<SeriesBuf>,
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
    /// The selector's experimental `anchored` / `smoothed` modifiers: the series also
    /// hold the samples up to one lookback before each window (and after it, smoothed).
    pub anchored: bool,
    pub smoothed: bool,
}

impl RangeData {
    /// The window end for the step at `ts`.
    pub fn window_end(&self, ts: i64) -> i64 {
        self.at.unwrap_or(ts) - self.offset
    }
}

/// The state of one query.
pub(crate) struct Evaluator<'q> {
    pub opts: &'q EngineOptions,
    querier: Box<dyn Querier>,
    /// The whole query's start and end (for `@ start()`, `@ end()`, `start()`, `end()`).
    pub query_start: i64,
    pub query_end: i64,
    /// The query's step (0 for instant queries), for `step()`.
    pub query_step: i64,
    pub lookback: i64,
    pub annotations: Annotations,
    samples_read: u64,
    cur_samples: usize,
    peak_samples: usize,
    deadline: Option<Instant>,
    cancel: Option<&'q CancelToken>,
    /// Whether the top-level query is a range query (for `sort` warnings).
    pub is_range_query: bool,
}

pub(crate) fn run(
    opts: &EngineOptions,
    storage: &dyn Queryable,
    expr: &Expr,
    kind: QueryKind,
    deadline: Option<Instant>,
    cancel: Option<&CancelToken>,
) -> Result<QueryResult> {
    let (range, is_range) = match kind {
        QueryKind::Instant(t) => (Range { start: t, end: t, interval: 1 }, false),
        QueryKind::Range { start, end, step } => {
            if step <= 0 || end < start {
                return err(EngineErrorKind::InvalidRange);
            }
            let vt = expr.value_type();
            if vt != ValueType::Scalar && vt != ValueType::Vector {
                return err(EngineErrorKind::InvalidRangeQueryType(vt));
            }
            (Range { start, end, interval: step }, true)
        }
    };
    if range.start.abs() > TIME_LIMIT || range.end.abs() > TIME_LIMIT {
        return err(EngineErrorKind::InvalidRange);
    }
    if range.steps() > opts.max_samples {
        return err(EngineErrorKind::TooManySamples(opts.max_samples));
    }
    // Out of time or cancelled before anything was evaluated.
    check_stop(deadline, cancel, QueryPhase::Execution)?;
    let lookback = clamp_ms(opts.lookback_delta.as_millis());
    let mut bounds = (i64::MAX, i64::MIN);
    let probe = Probe {
        opts,
        query_start: range.start,
        query_end: range.end,
        query_step: if is_range { range.interval } else { 0 },
        lookback,
    };
    probe.time_bounds(expr, range.start, range.end, &mut bounds)?;
    if bounds.0 > bounds.1 {
        bounds = (range.start, range.end);
    }
    let querier = storage.querier(bounds.0, bounds.1)?;
    let mut ev = Evaluator {
        opts,
        querier,
        query_start: range.start,
        query_end: range.end,
        query_step: probe.query_step,
        lookback,
        annotations: Annotations::new(),
        samples_read: 0,
        cur_samples: 0,
        peak_samples: 0,
        deadline,
        cancel,
        is_range_query: is_range,
    };
    let val = ev.eval(expr, range)?;
    let value = match val {
        Val::Scalar(v) => {
            if is_range {
                let points = v.iter().enumerate().map(|(k, &f)| FPoint { t: range.ts(k), f }).collect();
                Value::Matrix(vec![Series { metric: Labels::empty(), points }])
            } else {
                Value::Scalar { t: range.start, v: v[0] }
            }
        }
        Val::String(s) => Value::String { t: range.start, v: s },
        Val::Vector(series) => {
            let series = finish_names(series)?;
            if is_range {
                let mut m: Vec<Series> =
                    series.into_iter().map(|s| Series { metric: s.labels, points: s.points }).collect();
                m.sort_by(|a, b| a.metric.cmp(&b.metric));
                Value::Matrix(m)
            } else {
                Value::Vector(
                    series
                        .into_iter()
                        .filter_map(|s| s.points.first().map(|p| Sample { metric: s.labels.clone(), t: p.t, f: p.f }))
                        .collect(),
                )
            }
        }
        Val::Matrix(series) => {
            let series = finish_names(series)?;
            Value::Matrix(series.into_iter().map(|s| Series { metric: s.labels, points: s.points }).collect())
        }
    };
    Ok(QueryResult {
        value,
        annotations: ev.annotations,
        stats: QueryStats { samples_read: ev.samples_read, peak_samples: ev.peak_samples },
    })
}

/// Drops `__name__` from the series marked for it; series that then share labels merge
/// when their points do not overlap, else the query fails.
fn finish_names(mut series: Vec<SeriesBuf>) -> Result<Vec<SeriesBuf>> {
    if !series.iter().any(|s| s.drop_name) {
        return Ok(series);
    }
    for s in &mut series {
        if s.drop_name {
            // The type and unit labels (`__type__`, `__unit__`) describe the name and go
            // with it.
            s.labels = s.labels.drop_names(&[METRIC_NAME_LABEL, "__type__", "__unit__"]);
        }
        s.drop_name = false;
    }
    merge_same_labels(series)
}

/// Merges series with equal labels whose points do not share a timestamp; a shared
/// timestamp is [`EngineErrorKind::DuplicateLabelset`].
pub(crate) fn merge_same_labels(series: Vec<SeriesBuf>) -> Result<Vec<SeriesBuf>> {
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    let mut out: Vec<SeriesBuf> = Vec::with_capacity(series.len());
    for s in series {
        match index.get(&s.labels) {
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
            Some(&i) => {
                let target = &mut out[i];
                let mut merged = Vec::with_capacity(target.points.len() + s.points.len());
                let (mut a, mut b) = (target.points.iter().peekable(), s.points.iter().peekable());
                loop {
                    let next = match (a.peek(), b.peek()) {
                        (Some(x), Some(y)) if x.t == y.t => return err(EngineErrorKind::DuplicateLabelset),
                        (Some(x), Some(y)) if x.t < y.t => a.next(),
                        (Some(_), Some(_)) => b.next(),
                        (Some(_), None) => a.next(),
                        (None, Some(_)) => b.next(),
                        (None, None) => break,
                    };
                    merged.extend(next.copied());
                }
                target.points = merged;
                target.drop_name |= s.drop_name;
            }
        }
    }
    Ok(out)
}

/// What the time-range pre-pass needs: resolves durations and `@` without a querier.
struct Probe<'q> {
    opts: &'q EngineOptions,
    query_start: i64,
    query_end: i64,
    query_step: i64,
    lookback: i64,
}

impl Probe<'_> {
    fn time_bounds(&self, e: &Expr, start: i64, end: i64, b: &mut (i64, i64)) -> Result<()> {
        match e {
            Expr::VectorSelector(vs) => {
                let (lo, hi) = self.selector_refs(vs, start, end)?;
                b.0 = b.0.min(lo - self.lookback);
                b.1 = b.1.max(hi + if vs.smoothed { self.lookback } else { 0 });
            }
            Expr::MatrixSelector(ms) => {
                let (lo, hi) = self.selector_refs(&ms.selector, start, end)?;
                let range = duration_ms(&ms.range, self.query_start, self.query_end, self.query_step)?;
                let vs = &ms.selector;
                let before = if vs.anchored || vs.smoothed { self.lookback } else { 0 };
                let after = if vs.smoothed { self.lookback } else { 0 };
                b.0 = b.0.min(lo - range - before);
                b.1 = b.1.max(hi + after);
            }
            Expr::Subquery(sq) => {
                let inner = subquery_range(self, sq, start, end)?;
                self.time_bounds(&sq.expr, inner.start, inner.end, b)?;
            }
            Expr::Call(c) if c.func.name == "info" => {
                self.time_bounds(&c.args[0], start, end, b)?;
                let (at, offset) = info_reference(self, &c.args[0])?;
                let (lo, hi) = at.map_or((start, end), |a| (a, a));
                b.0 = b.0.min(lo - offset - self.lookback);
                b.1 = b.1.max(hi - offset);
            }
            _ => {
                for c in e.children() {
                    self.time_bounds(c, start, end, b)?;
                }
            }
        }
        Ok(())
    }

    fn selector_refs(&self, vs: &VectorSelector, start: i64, end: i64) -> Result<(i64, i64)> {
        let offset = opt_duration_ms(vs.offset.as_ref(), self.query_start, self.query_end, self.query_step)?;
        Ok(match resolve_at(vs.at, self.query_start, self.query_end) {
            Some(a) => (a - offset, a - offset),
            None => (start - offset, end - offset),
        })
    }
}

/// Fails when `cancel` was cancelled or `deadline` has passed, saying the query was in `phase`.
fn check_stop(deadline: Option<Instant>, cancel: Option<&CancelToken>, phase: QueryPhase) -> Result<()> {
    if cancel.is_some_and(CancelToken::is_cancelled) {
        return Err(EngineError::stopped(EngineErrorKind::Cancelled, phase));
    }
    if deadline.is_some_and(|d| Instant::now() > d) {
        return Err(EngineError::stopped(EngineErrorKind::Timeout, phase));
    }
    Ok(())
}

/// Times and durations are clamped to ±2^52 ms (142,000 years), so sums of a few of them
/// never overflow.
const TIME_LIMIT: i64 = 1 << 52;

pub(crate) trait TimeCtx {
    fn qs(&self) -> (i64, i64, i64);
    fn default_step(&self) -> i64;
    fn max_samples(&self) -> usize;
}

impl TimeCtx for Probe<'_> {
    fn qs(&self) -> (i64, i64, i64) {
        (self.query_start, self.query_end, self.query_step)
    }
    fn default_step(&self) -> i64 {
        clamp_ms(self.opts.default_subquery_step.as_millis())
    }
    fn max_samples(&self) -> usize {
        self.opts.max_samples
    }
}

impl TimeCtx for Evaluator<'_> {
    fn qs(&self) -> (i64, i64, i64) {
        (self.query_start, self.query_end, self.query_step)
    }
    fn default_step(&self) -> i64 {
        clamp_ms(self.opts.default_subquery_step.as_millis())
    }
    fn max_samples(&self) -> usize {
        self.opts.max_samples
    }
}

fn clamp_ms(ms: u128) -> i64 {
    ms.min(TIME_LIMIT as u128) as i64
}

/// The inner steps of a subquery evaluated for outer steps `start..=end`.
fn subquery_range(ctx: &impl TimeCtx, sq: &crate::parser::SubqueryExpr, start: i64, end: i64) -> Result<Range> {
    let (qs, qe, qstep) = ctx.qs();
    let offset = opt_duration_ms(sq.offset.as_ref(), qs, qe, qstep)?;
    let range = duration_ms(&sq.range, qs, qe, qstep)?;
    let step = match &sq.step {
        Some(d) => duration_ms(d, qs, qe, qstep)?,
        None => ctx.default_step(),
    };
    let step = step.max(1);
    let (s, e) = match resolve_at(sq.at, qs, qe) {
        Some(a) => (a, a),
        None => (start, end),
    };
    let lo = s - offset - range;
    // First multiple of `step` strictly after `lo`... Prometheus aligns to the first
    // multiple at or after it.
    let mut first = lo.div_euclid(step) * step;
    if first < lo {
        first += step;
    }
    let last = e - offset;
    let r = Range { start: first, end: last.max(first - step), interval: step };
    if r.steps() > ctx.max_samples() {
        return err(EngineErrorKind::TooManySamples(ctx.max_samples()));
    }
    Ok(r)
}

/// Where `info(v, …)` reads its info series, as Prometheus decides it: from the first vector
/// selector of `v` (depth first, left to right) and the subqueries above it. Returns the
/// pinned time, if an `@` on that path pins one, and the offset to subtract from it (or from
/// each step): an `@` discards the offsets of the subqueries above it, and the offsets below
/// it add up. `info(m offset 1m)` reads at each step minus 1m;
/// `info(last_over_time((m offset 1m)[10m:1m] @ 180))` reads at 2m.
pub(crate) fn info_reference(ctx: &impl TimeCtx, v: &Expr) -> Result<(Option<i64>, i64)> {
    fn walk(ctx: &impl TimeCtx, e: &Expr, at: Option<i64>, offset: i64) -> Result<Option<(Option<i64>, i64)>> {
        let (qs, qe, step) = ctx.qs();
        // An `@` pins the time and restarts the offsets; otherwise the offset adds up.
        let shift = |a: Option<AtModifier>, o: Option<&DurationArg>| -> Result<(Option<i64>, i64)> {
            let o = opt_duration_ms(o, qs, qe, step)?;
            Ok(match resolve_at(a, qs, qe) {
                Some(a) => (Some(a), o),
                None => (at, offset + o),
            })
        };
        match e {
            Expr::VectorSelector(vs) => shift(vs.at, vs.offset.as_ref()).map(Some),
            Expr::MatrixSelector(ms) => shift(ms.selector.at, ms.selector.offset.as_ref()).map(Some),
            Expr::Subquery(sq) => {
                let (at, offset) = shift(sq.at, sq.offset.as_ref())?;
                walk(ctx, &sq.expr, at, offset)
            }
            // Prometheus visits an aggregation's expression before its parameter.
            Expr::Aggregate(a) => match walk(ctx, &a.expr, at, offset)? {
                Some(found) => Ok(Some(found)),
                None => a.param.as_ref().map_or(Ok(None), |p| walk(ctx, p, at, offset)),
            },
            _ => {
                for c in e.children() {
                    if let Some(found) = walk(ctx, c, at, offset)? {
                        return Ok(Some(found));
                    }
                }
                Ok(None)
            }
        }
    }
    Ok(walk(ctx, v, None, 0)?.unwrap_or((None, 0)))
}

fn resolve_at(at: Option<AtModifier>, qs: i64, qe: i64) -> Option<i64> {
    at.map(|a| match a {
        AtModifier::Timestamp(t) => t.clamp(-TIME_LIMIT, TIME_LIMIT),
        AtModifier::Start => qs,
        AtModifier::End => qe,
    })
}

fn opt_duration_ms(d: Option<&DurationArg>, qs: i64, qe: i64, step: i64) -> Result<i64> {
    d.map_or(Ok(0), |d| duration_ms(d, qs, qe, step))
}

/// A duration argument in milliseconds.
fn duration_ms(d: &DurationArg, qs: i64, qe: i64, step: i64) -> Result<i64> {
    match d {
        DurationArg::Fixed(ms) => Ok((*ms).clamp(-TIME_LIMIT, TIME_LIMIT)),
        DurationArg::Expr(e) => {
            let secs = duration_expr(e, qs, qe, step)?;
            Ok(((secs * 1000.0).round() as i64).clamp(-TIME_LIMIT, TIME_LIMIT))
        }
    }
}

/// Evaluates a duration expression to seconds.
fn duration_expr(e: &Expr, qs: i64, qe: i64, step: i64) -> Result<f64> {
    let rec = |e: &Expr| duration_expr(e, qs, qe, step);
    Ok(match e {
        Expr::NumberLiteral(n) => n.value,
        Expr::Paren(p) => rec(&p.expr)?,
        Expr::Unary(u) => match u.op {
            UnaryOp::Neg => -rec(&u.expr)?,
            UnaryOp::Pos => rec(&u.expr)?,
        },
        Expr::Binary(b) => {
            let (l, r) = (rec(&b.lhs)?, rec(&b.rhs)?);
            binary::scalar_arith(b.op, l, r).unwrap_or(f64::NAN)
        }
        Expr::Call(c) => match c.func.name {
            "step" => step as f64 / 1000.0,
            "range" => (qe - qs) as f64 / 1000.0,
            "min_of" | "max_of" => {
                let (a, b) = (rec(&c.args[0])?, rec(&c.args[1])?);
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else if c.func.name == "min_of" {
                    a.min(b)
                } else {
                    a.max(b)
                }
            }
            _ => return err(EngineErrorKind::Unsupported("function in a duration expression")),
        },
        _ => return err(EngineErrorKind::Unsupported("expression in a duration")),
    })
}

impl<'q> Evaluator<'q> {
    /// Checks the deadline and the cancel token.
    pub fn check(&self) -> Result<()> {
        check_stop(self.deadline, self.cancel, QueryPhase::Evaluation)
    }

    /// Accounts for `n` more samples held.
    pub fn alloc(&mut self, n: usize) -> Result<()> {
        self.cur_samples += n;
        if self.cur_samples > self.opts.max_samples {
            return err(EngineErrorKind::TooManySamples(self.opts.max_samples));
        }
        self.peak_samples = self.peak_samples.max(self.cur_samples);
        Ok(())
    }

    /// Releases the samples of a value no longer needed.
    pub fn free(&mut self, v: &Val) {
        let n = match v {
            Val::Scalar(_) | Val::String(_) => 0,
            Val::Vector(s) | Val::Matrix(s) => s.iter().map(|s| s.points.len()).sum(),
        };
        self.cur_samples = self.cur_samples.saturating_sub(n);
    }

    pub fn free_series(&mut self, s: &[SeriesBuf]) {
        let n: usize = s.iter().map(|s| s.points.len()).sum();
        self.cur_samples = self.cur_samples.saturating_sub(n);
    }

    pub fn annotate(&mut self, kind: AnnotationKind, pos: PosRange) {
        self.annotations.push(Annotation::new(kind, pos));
    }

    pub fn duration(&self, d: Option<&DurationArg>) -> Result<i64> {
        opt_duration_ms(d, self.query_start, self.query_end, self.query_step)
    }

    pub fn at(&self, at: Option<AtModifier>) -> Option<i64> {
        resolve_at(at, self.query_start, self.query_end)
    }

    /// Evaluates `e` over the steps of `r`.
    pub fn eval(&mut self, e: &Expr, r: Range) -> Result<Val> {
        self.check()?;
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.value; r.steps()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.value.clone())),
            Expr::Paren(p) => self.eval(&p.expr, r),
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.eval_vector_selector(vs, r, false)?)),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                // A range vector as a result: only meaningful for one step.
                let data = self.eval_range_arg(e, r)?;
                let ts = r.start;
                let end = data.window_end(ts);
                let start = end - data.range;
                let mut out = Vec::with_capacity(data.series.len());
                for s in data.series {
                    let pts: Vec<FPoint> = s.points.into_iter().filter(|p| p.t > start && p.t <= end).collect();
                    if !pts.is_empty() {
                        out.push(SeriesBuf { labels: s.labels, points: pts, drop_name: s.drop_name });
                    }
                }
                Ok(Val::Matrix(out))
            }
            Expr::Unary(u) => {
                let v = self.eval(&u.expr, r)?;
                Ok(match (u.op, v) {
                    (UnaryOp::Pos, v) => v,
                    (UnaryOp::Neg, Val::Scalar(mut s)) => {
                        s.iter_mut().for_each(|x| *x = -*x);
                        Val::Scalar(s)
                    }
                    (UnaryOp::Neg, Val::Vector(mut series)) => {
                        for s in &mut series {
                            s.points.iter_mut().for_each(|p| p.f = -p.f);
                            s.drop_name = true;
                        }
                        Val::Vector(series)
                    }
                    (_, v) => v,
                })
            }
            Expr::Binary(b) => self.eval_binary(b, r),
            Expr::Aggregate(a) => self.eval_aggregate(a, r),
            Expr::Call(c) => self.eval_call(c, r),
        }
    }

    /// Evaluates an expression that must be a scalar, per step.
    pub fn eval_scalar(&mut self, e: &Expr, r: Range) -> Result<Vec<f64>> {
        match self.eval(e, r)? {
            Val::Scalar(v) => Ok(v),
            _ => Ok(vec![f64::NAN; r.steps()]),
        }
    }

    fn select(
        &mut self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
        range: Option<i64>,
        func: Option<&str>,
    ) -> Result<Vec<(Labels, Vec<FPoint>)>> {
        let hints = SelectHints {
            start: mint,
            end: maxt,
            step: if self.query_step > 0 { Some(self.query_step) } else { None },
            range,
            func: func.map(str::to_owned),
            grouping: Vec::new(),
            by: false,
        };
        let matchers: &[Matcher] = &vs.matchers;
        let set = self.querier.select(false, Some(&hints), matchers);
        let mut out = Vec::new();
        for s in set {
            let s = s?;
            self.check()?;
            let mut it = s.iter();
            let mut pts = Vec::new();
            let mut p = it.seek(mint);
            while let Some(pt) = p {
                if pt.t > maxt {
                    break;
                }
                if let Some(f) = pt.v.as_float() {
                    pts.push(FPoint { t: pt.t, f });
                }
                p = it.next();
            }
            if let Some(e) = it.error() {
                return Err(e.into());
            }
            self.samples_read += pts.len() as u64;
            out.push((s.labels().clone(), pts));
        }
        Ok(out)
    }

    /// An instant selector over the steps; `timestamps` yields sample times (seconds)
    /// instead of values, for `timestamp()`.
    pub fn eval_vector_selector(&mut self, vs: &VectorSelector, r: Range, timestamps: bool) -> Result<Vec<SeriesBuf>> {
        let offset = self.duration(vs.offset.as_ref())?;
        let at = self.at(vs.at);
        let (lo, hi) = match at {
            Some(a) => (a - offset, a - offset),
            None => (r.start - offset, r.end - offset),
        };
        let lookback = self.lookback;
        // `smoothed` interpolates between the samples around each step: read one lookback
        // past the last step too.
        let after = if vs.smoothed { lookback } else { 0 };
        let raw = self.select(vs, lo - lookback + 1, hi + after, None, None)?;
        let steps = r.steps();
        let mut out = Vec::with_capacity(raw.len());
        for (labels, buf) in raw {
            let mut pts = Vec::new();
            let mut j = 0;
            for k in 0..steps {
                let ts = r.ts(k);
                let refk = at.unwrap_or(ts) - offset;
                while j < buf.len() && buf[j].t <= refk {
                    j += 1;
                }
                if j > 0 {
                    let p = buf[j - 1];
                    if p.t > refk - lookback && !is_stale_nan(p.f) {
                        let mut f = if timestamps { p.t as f64 / 1000.0 } else { p.f };
                        if vs.smoothed && !timestamps && p.t < refk {
                            if let Some(n) = buf.get(j).filter(|n| n.t <= refk + lookback && !is_stale_nan(n.f)) {
                                f = p.f + (n.f - p.f) * (refk - p.t) as f64 / (n.t - p.t) as f64;
                            }
                        }
                        pts.push(FPoint { t: ts, f });
                    }
                }
            }
            if !pts.is_empty() {
                self.alloc(pts.len())?;
                out.push(SeriesBuf { labels, points: pts, drop_name: false });
            }
        }
        Ok(out)
    }

    /// The raw samples of a range argument over all windows of `r`.
    pub fn eval_range_arg(&mut self, e: &Expr, r: Range) -> Result<RangeData> {
        match e {
            Expr::Paren(p) => self.eval_range_arg(&p.expr, r),
            Expr::MatrixSelector(ms) => {
                let vs = &ms.selector;
                let offset = self.duration(vs.offset.as_ref())?;
                let range = duration_ms(&ms.range, self.query_start, self.query_end, self.query_step)?;
                let at = self.at(vs.at);
                let (lo, hi) = match at {
                    Some(a) => (a - offset, a - offset),
                    None => (r.start - offset, r.end - offset),
                };
                let before = if vs.anchored || vs.smoothed { self.lookback } else { 0 };
                let after = if vs.smoothed { self.lookback } else { 0 };
                let raw = self.select(vs, lo - range - before + 1, hi + after, Some(range), None)?;
                let mut series = Vec::with_capacity(raw.len());
                for (labels, mut pts) in raw {
                    pts.retain(|p| !is_stale_nan(p.f));
                    if !pts.is_empty() {
                        self.alloc(pts.len())?;
                        series.push(SeriesBuf { labels, points: pts, drop_name: false });
                    }
                }
                Ok(RangeData { series, range, offset, at, anchored: vs.anchored, smoothed: vs.smoothed })
            }
            Expr::Subquery(sq) => {
                let inner = subquery_range(self, sq, r.start, r.end)?;
                let offset = self.duration(sq.offset.as_ref())?;
                let range = duration_ms(&sq.range, self.query_start, self.query_end, self.query_step)?;
                let at = self.at(sq.at);
                let v = self.eval(&sq.expr, inner)?;
                let series = match v {
                    Val::Vector(s) => s,
                    Val::Scalar(v) => {
                        let points = v.iter().enumerate().map(|(k, &f)| FPoint { t: inner.ts(k), f }).collect();
                        vec![SeriesBuf { labels: Labels::empty(), points, drop_name: false }]
                    }
                    _ => Vec::new(),
                };
                Ok(RangeData { series, range, offset, at, anchored: false, smoothed: false })
            }
            _ => err(EngineErrorKind::Unsupported("range argument")),
        }
    }

    /// Runs `f` at every step with the step's operand values, collecting its output.
    pub fn step_loop(
        &mut self,
        r: Range,
        args: &[&Val],
        mut f: impl FnMut(&mut Self, usize, &[StepArg<'_>], &mut Vec<Elem>) -> Result<()>,
    ) -> Result<Vec<SeriesBuf>> {
        let mut cursors: Vec<Option<Cursor<'_>>> = args
            .iter()
            .enumerate()
            .map(|(i, a)| match a {
                Val::Vector(s) => Some(Cursor::new(s, i)),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        let mut col = Collector::new();
        let mut produced = 0usize;
        for k in 0..r.steps() {
            if k % 64 == 0 {
                self.check()?;
            }
            let ts = r.ts(k);
            for c in cursors.iter_mut().flatten() {
                c.fill(ts);
            }
            let step_args: Vec<StepArg<'_>> = args
                .iter()
                .zip(cursors.iter())
                .map(|(_, c)| match c {
                    Some(c) => StepArg::Vector(&c.buf),
                    None => StepArg::Vector(&[]),
                })
                .collect();
            out.clear();
            f(self, k, &step_args, &mut out)?;
            produced += out.len();
            for e in out.drain(..) {
                col.push(ts, e)?;
            }
        }
        self.alloc(produced)?;
        Ok(col.series)
    }
}

/// One operand's value at one step.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StepArg<'a> {
    Vector(&'a [Elem]),
}

impl<'a> StepArg<'a> {
    pub fn vector(&self) -> &'a [Elem] {
        let StepArg::Vector(v) = self;
        v
    }
}

/// Formats labels as Prometheus prints them in errors: `{__name__="a", b="c"}`.
pub(crate) fn go_labels(l: &Labels) -> String {
    let mut s = String::from("{");
    for (i, lb) in l.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&lb.name);
        s.push('=');
        s.push_str(&format!("{:?}", lb.value));
    }
    s.push('}');
    s
}

/// Whether a binary operator's result drops the metric name.
pub(crate) fn op_drops_name(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Pow | BinaryOp::Atan2
    )
}
