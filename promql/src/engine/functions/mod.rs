//! Numeric kernels of PromQL's functions, free of storage and of the evaluator.
//!
//! CONTRACT (scaffold; the bodies are filled in on the `funcs` branch, the evaluator on the
//! `engine` branch calls exactly these signatures):
//!
//! * Range-window functions take the float samples of one series inside one window (already
//!   left-open: `start < t <= end`, ascending, staleness markers removed) and return the
//!   output value, or `None` when the function yields no sample for that series.
//! * Element-wise functions map one float (with scalar parameters) to one float, or `None`
//!   to drop the sample (e.g. `clamp` with `min > max` yields an empty vector).
//! * Problems a kernel notices are pushed as [`AnnotationKind`]s; the evaluator attaches
//!   the expression's position.
//!
//! Beyond the contract this module adds [`eval_range_at`] (the evaluation time that
//! `predict_linear` needs), [`validate_smoothing_params`] (the error
//! `double_exponential_smoothing` raises), [`extended_rate`] and [`anchored_start`] (the
//! experimental `anchored`/`smoothed` selectors), [`bucket_quantile_detailed`] (the details
//! of Prometheus 3's monotonicity info), [`bucket_fraction`] (classic
//! `histogram_fraction`), the [`Mean`] and [`Variance`] accumulators (shared with the `avg`,
//! `stddev` and `stdvar` aggregations), [`sort_order`] (`sort`, `sort_desc`), the name
//! tables ([`RangeFunction::name`], [`ElementwiseFunction::name`]) and [`labels`], the label
//! kernels of `label_replace`, `label_join`, `absent` and `sort_by_label`.
//!
//! ```
//! use ember_promql::engine::functions::{eval_range, FPoint, RangeFunction, RangeWindow};
//!
//! // rate over a 60 s window holding a counter that reset once: 10 → 40, reset, 0 → 20.
//! let points = [
//!     FPoint { t: 15_000, f: 10.0 },
//!     FPoint { t: 30_000, f: 40.0 },
//!     FPoint { t: 45_000, f: 0.0 },
//!     FPoint { t: 60_000, f: 20.0 },
//! ];
//! let window = RangeWindow { points: &points, start: 0, end: 60_000 };
//! let mut issues = Vec::new();
//! let rate = eval_range(RangeFunction::Rate, &window, &[], &mut issues).unwrap();
//! // The samples see an increase of 10 + 40 (the reset adds the value before it) = 50
//! // over 45 s. Extrapolating to the window's start would mean 15 s more, but at that
//! // slope the counter was zero only 9 s before the first sample, so 9 s it is; the last
//! // sample sits on the window's end. 50 * (45 + 9) / 45 over 60 s:
//! assert_eq!(rate, 1.0);
//! assert!(issues.is_empty());
//! ```

use std::fmt;

use crate::engine::annotations::AnnotationKind;

mod elementwise;
mod kahan;
pub mod labels;
mod quantile;
mod range;

/// One float sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FPoint {
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The value.
    pub f: f64,
}

/// The samples of one series inside one range window.
#[derive(Debug, Clone, Copy)]
pub struct RangeWindow<'a> {
    /// Samples with `start < t <= end`, ascending by time.
    pub points: &'a [FPoint],
    /// Exclusive lower bound of the window, ms (evaluation time − offset − range).
    pub start: i64,
    /// Inclusive upper bound of the window, ms (evaluation time − offset).
    pub end: i64,
}

/// Functions that reduce a range window to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RangeFunction {
    /// `rate`
    Rate,
    /// `increase`
    Increase,
    /// `delta`
    Delta,
    /// `irate`
    Irate,
    /// `idelta`
    Idelta,
    /// `deriv`
    Deriv,
    /// `predict_linear(v, t)`: param 0 is `t` in seconds.
    PredictLinear,
    /// `resets`
    Resets,
    /// `changes`
    Changes,
    /// `double_exponential_smoothing(v, sf, tf)` (also named `holt_winters` in 2.x):
    /// params are `sf`, `tf`.
    DoubleExponentialSmoothing,
    /// `avg_over_time`
    AvgOverTime,
    /// `min_over_time`
    MinOverTime,
    /// `max_over_time`
    MaxOverTime,
    /// `sum_over_time`
    SumOverTime,
    /// `count_over_time`
    CountOverTime,
    /// `quantile_over_time(q, v)`: param 0 is `q`.
    QuantileOverTime,
    /// `stddev_over_time`
    StddevOverTime,
    /// `stdvar_over_time`
    StdvarOverTime,
    /// `last_over_time`
    LastOverTime,
    /// `first_over_time` (experimental)
    FirstOverTime,
    /// `present_over_time`
    PresentOverTime,
    /// `mad_over_time` (experimental)
    MadOverTime,
    /// `ts_of_min_over_time` (experimental): timestamp in seconds.
    TsOfMinOverTime,
    /// `ts_of_max_over_time` (experimental): timestamp in seconds.
    TsOfMaxOverTime,
    /// `ts_of_first_over_time` (experimental): timestamp in seconds.
    TsOfFirstOverTime,
    /// `ts_of_last_over_time` (experimental): timestamp in seconds.
    TsOfLastOverTime,
}

impl RangeFunction {
    /// Every range-window function, in [`RangeFunction::name`] order of declaration.
    pub const ALL: [RangeFunction; 26] = [
        RangeFunction::Rate,
        RangeFunction::Increase,
        RangeFunction::Delta,
        RangeFunction::Irate,
        RangeFunction::Idelta,
        RangeFunction::Deriv,
        RangeFunction::PredictLinear,
        RangeFunction::Resets,
        RangeFunction::Changes,
        RangeFunction::DoubleExponentialSmoothing,
        RangeFunction::AvgOverTime,
        RangeFunction::MinOverTime,
        RangeFunction::MaxOverTime,
        RangeFunction::SumOverTime,
        RangeFunction::CountOverTime,
        RangeFunction::QuantileOverTime,
        RangeFunction::StddevOverTime,
        RangeFunction::StdvarOverTime,
        RangeFunction::LastOverTime,
        RangeFunction::FirstOverTime,
        RangeFunction::PresentOverTime,
        RangeFunction::MadOverTime,
        RangeFunction::TsOfMinOverTime,
        RangeFunction::TsOfMaxOverTime,
        RangeFunction::TsOfFirstOverTime,
        RangeFunction::TsOfLastOverTime,
    ];

    /// The function of this PromQL name, if it is a range-window function. `holt_winters`
    /// (the 2.x name of `double_exponential_smoothing`) is not accepted: Prometheus 3
    /// removed it.
    pub fn from_name(name: &str) -> Option<RangeFunction> {
        RangeFunction::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The PromQL name.
    pub fn name(self) -> &'static str {
        match self {
            RangeFunction::Rate => "rate",
            RangeFunction::Increase => "increase",
            RangeFunction::Delta => "delta",
            RangeFunction::Irate => "irate",
            RangeFunction::Idelta => "idelta",
            RangeFunction::Deriv => "deriv",
            RangeFunction::PredictLinear => "predict_linear",
            RangeFunction::Resets => "resets",
            RangeFunction::Changes => "changes",
            RangeFunction::DoubleExponentialSmoothing => "double_exponential_smoothing",
            RangeFunction::AvgOverTime => "avg_over_time",
            RangeFunction::MinOverTime => "min_over_time",
            RangeFunction::MaxOverTime => "max_over_time",
            RangeFunction::SumOverTime => "sum_over_time",
            RangeFunction::CountOverTime => "count_over_time",
            RangeFunction::QuantileOverTime => "quantile_over_time",
            RangeFunction::StddevOverTime => "stddev_over_time",
            RangeFunction::StdvarOverTime => "stdvar_over_time",
            RangeFunction::LastOverTime => "last_over_time",
            RangeFunction::FirstOverTime => "first_over_time",
            RangeFunction::PresentOverTime => "present_over_time",
            RangeFunction::MadOverTime => "mad_over_time",
            RangeFunction::TsOfMinOverTime => "ts_of_min_over_time",
            RangeFunction::TsOfMaxOverTime => "ts_of_max_over_time",
            RangeFunction::TsOfFirstOverTime => "ts_of_first_over_time",
            RangeFunction::TsOfLastOverTime => "ts_of_last_over_time",
        }
    }

    /// Whether the function treats its input as a counter (resets handled), so the
    /// evaluator should raise [`AnnotationKind::PossibleNonCounter`] for names that do not
    /// end in `_total`, `_sum`, `_count` or `_bucket`.
    ///
    /// As in Prometheus, only `rate` and `increase` raise it (`irate` and `resets` also
    /// read counters but stay silent), and only for a series with a metric name whose
    /// window produced a float result.
    pub fn is_counter_function(self) -> bool {
        matches!(self, RangeFunction::Rate | RangeFunction::Increase)
    }
}

/// Evaluates `func` over one window. `params` are the function's scalar arguments in order
/// (see each [`RangeFunction`] variant). Returns `None` when the function gives no sample
/// (e.g. `rate` with fewer than two points).
///
/// `predict_linear` extrapolates from the evaluation time, which differs from
/// `window.end` under `offset` or `@`; this function assumes they coincide; the evaluator
/// calls [`eval_range_at`] to pass it.
pub fn eval_range(
    func: RangeFunction,
    window: &RangeWindow<'_>,
    params: &[f64],
    issues: &mut Vec<AnnotationKind>,
) -> Option<f64> {
    eval_range_at(func, window, window.end, params, issues)
}

/// [`eval_range`] with the evaluation time `eval_ts` (ms): the step's timestamp before
/// `offset` and `@` move the window. Only `predict_linear` reads it (its regression
/// line's intercept is taken at `eval_ts`, and it predicts `t` seconds after that).
///
/// Parameter checks: `quantile_over_time` with `q` outside `[0, 1]` (or NaN) pushes
/// [`AnnotationKind::InvalidQuantile`] once per call that yields a value. A missing
/// parameter (an evaluator bug) reads as NaN. `double_exponential_smoothing` with factors
/// that [`validate_smoothing_params`] rejects gives `None`; Prometheus fails the query
/// instead, so the evaluator checks them first.
pub fn eval_range_at(
    func: RangeFunction,
    window: &RangeWindow<'_>,
    eval_ts: i64,
    params: &[f64],
    issues: &mut Vec<AnnotationKind>,
) -> Option<f64> {
    range::eval(func, window, eval_ts, params, issues)
}

/// `rate`, `increase` (`is_counter`) and `delta` over a selector with the experimental
/// `anchored` or `smoothed` modifier. `points` are ascending and, unlike a [`RangeWindow`],
/// reach beyond the window `(start, end]`: for `anchored`, the last sample at or before
/// `start` (found within the lookback delta) followed by the window's samples; for
/// `smoothed` (`smoothed = true`), additionally the first sample after `end`. The result is
/// the difference between the values at the edges — the anchor sample's, or with
/// `smoothed` values interpolated linearly at `start` and `end` (from 0 across a counter
/// reset) — plus the value before every reset in between for counters, with no
/// extrapolation; `is_rate` divides by the window's length in seconds. `None` when no
/// sample lies after `start` (or, smoothed, none at or before `end`).
pub fn extended_rate(
    points: &[FPoint],
    start: i64,
    end: i64,
    is_counter: bool,
    is_rate: bool,
    smoothed: bool,
) -> Option<f64> {
    range::extended_rate(points, start, end, is_counter, is_rate, smoothed)
}

/// For `changes` and `resets` over an `anchored` selector: given `points` as for
/// [`extended_rate`], the index of the first sample to count from (the last one at or
/// before `start`, else 0), or `None` when no sample lies after `start`. The evaluator
/// passes `points[i..]` to [`eval_range`] as the window's points.
pub fn anchored_start(points: &[FPoint], start: i64) -> Option<usize> {
    range::anchored_start(points, start)
}

/// `double_exponential_smoothing`'s smoothing factor `sf` and trend factor `tf` must each
/// lie strictly between 0 and 1 (NaN passes, as in Prometheus, and yields NaN). Prometheus
/// fails the query with this error as soon as a series is evaluated.
pub fn validate_smoothing_params(sf: f64, tf: f64) -> Result<(), FunctionError> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(FunctionError { kind: FunctionErrorKind::InvalidSmoothingFactor(sf) });
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(FunctionError { kind: FunctionErrorKind::InvalidTrendFactor(tf) });
    }
    Ok(())
}

/// A function argument that fails the query (rather than raising an annotation).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionError {
    /// What is wrong.
    pub kind: FunctionErrorKind,
}

/// What is wrong with a function argument.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FunctionErrorKind {
    /// `double_exponential_smoothing`'s `sf` is not in `(0, 1)`.
    InvalidSmoothingFactor(f64),
    /// `double_exponential_smoothing`'s `tf` is not in `(0, 1)`.
    InvalidTrendFactor(f64),
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Prometheus's wording, with Go's `%f` rendering of the value.
        match self.kind {
            FunctionErrorKind::InvalidSmoothingFactor(v) => {
                write!(f, "invalid smoothing factor. Expected: 0 < sf < 1, got: {}", go_fixed(v))
            }
            FunctionErrorKind::InvalidTrendFactor(v) => {
                write!(f, "invalid trend factor. Expected: 0 < tf < 1, got: {}", go_fixed(v))
            }
        }
    }
}

impl std::error::Error for FunctionError {}

/// Go's `%f`: six decimals, `NaN`, `+Inf`, `-Inf`.
fn go_fixed(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v:.6}")
    }
}

/// Functions applied to each sample's value independently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ElementwiseFunction {
    /// `abs`
    Abs,
    /// `ceil`
    Ceil,
    /// `floor`
    Floor,
    /// `round(v, to_nearest=1)`: param 0 (optional) is `to_nearest`.
    Round,
    /// `sqrt`
    Sqrt,
    /// `exp`
    Exp,
    /// `ln`
    Ln,
    /// `log2`
    Log2,
    /// `log10`
    Log10,
    /// `sgn`
    Sgn,
    /// `clamp(v, min, max)`
    Clamp,
    /// `clamp_min(v, min)`
    ClampMin,
    /// `clamp_max(v, max)`
    ClampMax,
    /// `deg`
    Deg,
    /// `rad`
    Rad,
    /// `sin`
    Sin,
    /// `cos`
    Cos,
    /// `tan`
    Tan,
    /// `asin`
    Asin,
    /// `acos`
    Acos,
    /// `atan`
    Atan,
    /// `sinh`
    Sinh,
    /// `cosh`
    Cosh,
    /// `tanh`
    Tanh,
    /// `asinh`
    Asinh,
    /// `acosh`
    Acosh,
    /// `atanh`
    Atanh,
    /// `day_of_month`: the value is a Unix time in seconds (UTC).
    DayOfMonth,
    /// `day_of_week` (0 = Sunday)
    DayOfWeek,
    /// `day_of_year`
    DayOfYear,
    /// `days_in_month`
    DaysInMonth,
    /// `hour`
    Hour,
    /// `minute`
    Minute,
    /// `month`
    Month,
    /// `year`
    Year,
}

impl ElementwiseFunction {
    /// Every element-wise function.
    pub const ALL: [ElementwiseFunction; 35] = [
        ElementwiseFunction::Abs,
        ElementwiseFunction::Ceil,
        ElementwiseFunction::Floor,
        ElementwiseFunction::Round,
        ElementwiseFunction::Sqrt,
        ElementwiseFunction::Exp,
        ElementwiseFunction::Ln,
        ElementwiseFunction::Log2,
        ElementwiseFunction::Log10,
        ElementwiseFunction::Sgn,
        ElementwiseFunction::Clamp,
        ElementwiseFunction::ClampMin,
        ElementwiseFunction::ClampMax,
        ElementwiseFunction::Deg,
        ElementwiseFunction::Rad,
        ElementwiseFunction::Sin,
        ElementwiseFunction::Cos,
        ElementwiseFunction::Tan,
        ElementwiseFunction::Asin,
        ElementwiseFunction::Acos,
        ElementwiseFunction::Atan,
        ElementwiseFunction::Sinh,
        ElementwiseFunction::Cosh,
        ElementwiseFunction::Tanh,
        ElementwiseFunction::Asinh,
        ElementwiseFunction::Acosh,
        ElementwiseFunction::Atanh,
        ElementwiseFunction::DayOfMonth,
        ElementwiseFunction::DayOfWeek,
        ElementwiseFunction::DayOfYear,
        ElementwiseFunction::DaysInMonth,
        ElementwiseFunction::Hour,
        ElementwiseFunction::Minute,
        ElementwiseFunction::Month,
        ElementwiseFunction::Year,
    ];

    /// The function of this PromQL name, if it is element-wise.
    pub fn from_name(name: &str) -> Option<ElementwiseFunction> {
        ElementwiseFunction::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The PromQL name.
    pub fn name(self) -> &'static str {
        match self {
            ElementwiseFunction::Abs => "abs",
            ElementwiseFunction::Ceil => "ceil",
            ElementwiseFunction::Floor => "floor",
            ElementwiseFunction::Round => "round",
            ElementwiseFunction::Sqrt => "sqrt",
            ElementwiseFunction::Exp => "exp",
            ElementwiseFunction::Ln => "ln",
            ElementwiseFunction::Log2 => "log2",
            ElementwiseFunction::Log10 => "log10",
            ElementwiseFunction::Sgn => "sgn",
            ElementwiseFunction::Clamp => "clamp",
            ElementwiseFunction::ClampMin => "clamp_min",
            ElementwiseFunction::ClampMax => "clamp_max",
            ElementwiseFunction::Deg => "deg",
            ElementwiseFunction::Rad => "rad",
            ElementwiseFunction::Sin => "sin",
            ElementwiseFunction::Cos => "cos",
            ElementwiseFunction::Tan => "tan",
            ElementwiseFunction::Asin => "asin",
            ElementwiseFunction::Acos => "acos",
            ElementwiseFunction::Atan => "atan",
            ElementwiseFunction::Sinh => "sinh",
            ElementwiseFunction::Cosh => "cosh",
            ElementwiseFunction::Tanh => "tanh",
            ElementwiseFunction::Asinh => "asinh",
            ElementwiseFunction::Acosh => "acosh",
            ElementwiseFunction::Atanh => "atanh",
            ElementwiseFunction::DayOfMonth => "day_of_month",
            ElementwiseFunction::DayOfWeek => "day_of_week",
            ElementwiseFunction::DayOfYear => "day_of_year",
            ElementwiseFunction::DaysInMonth => "days_in_month",
            ElementwiseFunction::Hour => "hour",
            ElementwiseFunction::Minute => "minute",
            ElementwiseFunction::Month => "month",
            ElementwiseFunction::Year => "year",
        }
    }

    /// Whether this is one of the date functions, which without an argument apply to the
    /// evaluation time (`vector(time())`).
    pub fn is_date_function(self) -> bool {
        matches!(
            self,
            ElementwiseFunction::DayOfMonth
                | ElementwiseFunction::DayOfWeek
                | ElementwiseFunction::DayOfYear
                | ElementwiseFunction::DaysInMonth
                | ElementwiseFunction::Hour
                | ElementwiseFunction::Minute
                | ElementwiseFunction::Month
                | ElementwiseFunction::Year
        )
    }
}

/// Applies `func` to `v` with scalar `params`; `None` drops the sample.
///
/// `round`'s `to_nearest` defaults to 1 when absent; a missing `clamp*` bound (an evaluator
/// bug) reads as unbounded. Only `clamp` with `min > max` drops samples. NaN inputs give NaN
/// (`clamp` with a NaN bound gives NaN, as Go's `math.Min`/`math.Max` do). The date
/// functions read `v` as Unix seconds, truncated toward zero, in UTC; for NaN, ±Inf and
/// values beyond ±2^63 s they give NaN (Prometheus converts those to an undefined,
/// platform-dependent integer).
pub fn eval_elementwise(func: ElementwiseFunction, v: f64, params: &[f64]) -> Option<f64> {
    elementwise::eval(func, v, params)
}

/// One classic-histogram bucket: upper bound (`le`) and cumulative count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// The `le` bound.
    pub upper_bound: f64,
    /// The cumulative count.
    pub count: f64,
}

/// The result of [`bucket_quantile`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketQuantile {
    /// The estimated quantile (NaN when it cannot be estimated).
    pub value: f64,
    /// Counts had to be made monotonic (raise
    /// [`AnnotationKind::HistogramQuantileForcedMonotonicity`]).
    pub forced_monotonicity: bool,
}

/// `histogram_quantile` over classic buckets of one series group, with Prometheus 3's
/// rules: buckets sorted by bound, a `+Inf` bucket required, small floating-point
/// non-monotonicity fixed, linear interpolation (the first bucket's lower bound is 0 when its
/// upper bound is positive), `q < 0` → `-Inf`, `q > 1` → `+Inf`, NaN `q` → NaN.
/// `buckets` may be reordered.
///
/// Before interpolating, buckets with equal bounds are merged (counts added), relative
/// differences between neighbouring counts below 1e-12 are ignored in either direction
/// (floating-point noise, silently), and remaining decreases are lifted to the running
/// maximum (`forced_monotonicity`). Fewer than two buckets after merging, a highest bound
/// other than `+Inf`, or zero observations give NaN. A rank in the `+Inf` bucket gives the
/// second-highest bound; a rank in a first bucket whose bound is `<= 0` gives that bound.
/// Bucket bounds must not be NaN (the evaluator drops buckets whose `le` does not parse).
pub fn bucket_quantile(q: f64, buckets: &mut [Bucket]) -> BucketQuantile {
    let (value, fix) = quantile::bucket_quantile(q, buckets);
    BucketQuantile { value, forced_monotonicity: fix.is_some() }
}

/// [`bucket_quantile`], also describing the monotonicity fix for Prometheus 3's detailed
/// info message ("… from buckets {min_bucket} to {max_bucket}, with a max diff of
/// {max_diff}, over N samples from T1 to T2"). `None` when no decrease had to be lifted.
pub fn bucket_quantile_detailed(q: f64, buckets: &mut [Bucket]) -> (f64, Option<MonotonicityFix>) {
    quantile::bucket_quantile(q, buckets)
}

/// How [`bucket_quantile_detailed`] had to lift decreasing bucket counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonotonicityFix {
    /// The lowest `le` whose count was lifted.
    pub min_bucket: f64,
    /// The highest `le` whose count was lifted.
    pub max_bucket: f64,
    /// The largest amount a count was lifted by.
    pub max_diff: f64,
}

/// `histogram_fraction(lower, upper, b)` over the classic buckets of one series group: the
/// estimated fraction of observations in `(lower, upper]`, interpolating linearly inside a
/// bucket. The first bucket spans `(0, le]` when `le > 0`, else `(-Inf, le]`; the
/// observations of an infinitely wide bucket count as sitting at its infinite end (no
/// interpolation). Buckets are sorted, merged and made monotonic as for
/// [`bucket_quantile`]. A highest bound other than `+Inf`, zero observations or a NaN
/// bound give NaN; `lower >= upper` gives 0. `buckets` may be reordered.
pub fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [Bucket]) -> f64 {
    quantile::bucket_fraction(lower, upper, buckets)
}

/// The φ-quantile of `values` as `quantile` and `quantile_over_time` compute it (linear
/// interpolation between closest ranks; `q < 0` → `-Inf`, `q > 1` → `+Inf`, NaN → NaN).
/// `values` may be reordered.
/// No values give NaN. NaN values sort below every number, as in Prometheus.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    quantile::quantile(q, values)
}

/// Kahan-Babuška-Neumaier compensated summation, as Prometheus uses for `sum`, `avg` and the
/// `*_over_time` functions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KahanSum {
    /// The running sum.
    pub sum: f64,
    /// The running compensation.
    pub c: f64,
}

impl KahanSum {
    /// Adds `v`. Once the running sum is infinite the compensation is reset to 0, so an
    /// overflow reads as ±Inf rather than NaN.
    pub fn add(&mut self, v: f64) {
        (self.sum, self.c) = kahan::inc(v, self.sum, self.c);
    }

    /// The compensated total: `sum + c`, or `sum` when it is infinite.
    pub fn value(&self) -> f64 {
        if self.sum.is_infinite() { self.sum } else { self.sum + self.c }
    }
}

/// The order of `sort` (`descending = false`) and `sort_desc`: by value, NaN last in both.
/// Ties compare equal; the evaluator breaks them (Prometheus leaves them in its sort's
/// unspecified order).
pub fn sort_order(a: f64, b: f64, descending: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if descending => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// The arithmetic mean as Prometheus computes `avg` and `avg_over_time`: a compensated
/// direct sum divided by the count while that sum stays finite (more accurate than an
/// incremental mean in practice), switching to a compensated incremental mean once the sum
/// would overflow (so `avg(MAX, MAX)` is `MAX`, not `+Inf`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Mean {
    count: f64,
    sum: f64,
    mean: f64,
    c: f64,
    incremental: bool,
}

/// Population variance by Welford's method with compensated running mean and sum of
/// squared deviations, as `stdvar_over_time` and `stddev_over_time` compute it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Variance {
    count: f64,
    mean: f64,
    c_mean: f64,
    aux: f64,
    c_aux: f64,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn kahan(values: &[f64]) -> KahanSum {
        let mut k = KahanSum::default();
        values.iter().for_each(|v| k.add(*v));
        k
    }

    #[test]
    fn kahan_keeps_what_naive_summation_loses() {
        assert_eq!(kahan(&[1.0, 1e100, 1.0, -1e100]).value(), 2.0);
        assert_eq!([1.0, 1e100, 1.0, -1e100].iter().sum::<f64>(), 0.0);
        assert_eq!(kahan(&[0.1; 10]).value(), 1.0);
        assert_eq!(kahan(&[]).value(), 0.0);
    }

    #[test]
    fn kahan_infinities_and_nan() {
        let inf = f64::INFINITY;
        // Overflow reads as Inf, not NaN, and the compensation is dropped.
        let k = kahan(&[f64::MAX, f64::MAX]);
        assert_eq!((k.sum, k.c, k.value()), (inf, 0.0, inf));
        assert_eq!(kahan(&[f64::MAX, f64::MAX, -1.0]).value(), inf);
        assert_eq!(kahan(&[-inf, 3.0]).value(), -inf);
        assert_eq!(kahan(&[1.5, inf, 2.0]).value(), inf);
        assert!(kahan(&[inf, -inf]).value().is_nan());
        assert!(kahan(&[1.0, f64::NAN, 2.0]).value().is_nan());
        assert!(kahan(&[inf, f64::NAN]).value().is_nan());
        // The sum starts at +0, so a sum of negative zeros is +0 (as in Prometheus).
        assert_eq!(kahan(&[-0.0, -0.0]).value().to_bits(), 0.0f64.to_bits());
    }

    proptest! {
        /// Dyadic rationals a / 2^b are exact in f64, so their exact sum is an integer
        /// count of 2^-20: the compensated sum must be within rounding of it.
        #[test]
        fn kahan_matches_exact_rational_sums(terms in prop::collection::vec((-1_000_000i64..1_000_000, 0u32..20), 0..60)) {
            let values: Vec<f64> = terms.iter().map(|&(a, b)| a as f64 / (1u64 << b) as f64).collect();
            let exact_scaled: i128 = terms.iter().map(|&(a, b)| i128::from(a) << (20 - b)).sum();
            let exact = exact_scaled as f64 / (1u64 << 20) as f64;
            let got = kahan(&values).value();
            prop_assert!((got - exact).abs() <= 2.0 * f64::EPSILON * exact.abs() + 1e-20, "{got} vs {exact}");
        }
    }

    #[test]
    fn mean_and_variance_accumulators() {
        let mut m = Mean::default();
        assert!(m.value().is_nan());
        m.add(f64::MAX);
        m.add(f64::MAX);
        assert_eq!((m.value(), m.count()), (f64::MAX, 2.0));
        let mut m = Mean::default();
        [1.0, 2.0, 3.0, 4.0].iter().for_each(|v| m.add(*v));
        assert_eq!(m.value(), 2.5);
        let mut v = Variance::default();
        assert!(v.variance().is_nan());
        [0.0, 8.0, 8.0, 2.0, 3.0].iter().for_each(|x| v.add(*x));
        assert!((v.variance() - 10.56).abs() < 1e-12);
        assert!((v.stddev() - 10.56f64.sqrt()).abs() < 1e-12);
        assert_eq!(v.count(), 5.0);
    }

    #[test]
    fn sort_orders_put_nan_last() {
        let mut v = [300.0, f64::NAN, 100.0, 800.0, f64::NEG_INFINITY];
        v.sort_by(|a, b| sort_order(*a, *b, false));
        assert_eq!(format!("{v:?}"), "[-inf, 100.0, 300.0, 800.0, NaN]");
        v.sort_by(|a, b| sort_order(*a, *b, true));
        assert_eq!(format!("{v:?}"), "[800.0, 300.0, 100.0, -inf, NaN]");
    }

    #[test]
    fn names_round_trip() {
        for f in RangeFunction::ALL {
            assert_eq!(RangeFunction::from_name(f.name()), Some(f));
            assert_eq!(ElementwiseFunction::from_name(f.name()), None);
        }
        for f in ElementwiseFunction::ALL {
            assert_eq!(ElementwiseFunction::from_name(f.name()), Some(f));
        }
        assert_eq!(RangeFunction::from_name("holt_winters"), None);
        assert_eq!(RangeFunction::from_name("absent_over_time"), None);
        assert!(RangeFunction::Rate.is_counter_function() && RangeFunction::Increase.is_counter_function());
        assert!(!RangeFunction::Irate.is_counter_function() && !RangeFunction::Delta.is_counter_function());
        assert!(ElementwiseFunction::Year.is_date_function() && !ElementwiseFunction::Abs.is_date_function());
        assert_eq!(go_fixed(f64::NAN), "NaN");
        assert_eq!(go_fixed(f64::NEG_INFINITY), "-Inf");
        assert_eq!(go_fixed(0.5), "0.500000");
    }
}
