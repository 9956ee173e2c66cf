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

use crate::engine::annotations::AnnotationKind;

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
    /// The function of this PromQL name, if it is a range-window function.
    pub fn from_name(name: &str) -> Option<RangeFunction> {
        todo!("funcs branch: {name}")
    }

    /// Whether the function treats its input as a counter (resets handled), so the
    /// evaluator should raise [`AnnotationKind::PossibleNonCounter`] for names that do not
    /// end in `_total`, `_sum`, `_count` or `_bucket`.
    pub fn is_counter_function(self) -> bool {
        todo!()
    }
}

/// Evaluates `func` over one window. `params` are the function's scalar arguments in order
/// (see each [`RangeFunction`] variant). Returns `None` when the function gives no sample
/// (e.g. `rate` with fewer than two points).
pub fn eval_range(
    func: RangeFunction,
    window: &RangeWindow<'_>,
    params: &[f64],
    issues: &mut Vec<AnnotationKind>,
) -> Option<f64> {
    let _ = (func, window, params, issues);
    todo!()
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
    /// The function of this PromQL name, if it is element-wise.
    pub fn from_name(name: &str) -> Option<ElementwiseFunction> {
        todo!("funcs branch: {name}")
    }
}

/// Applies `func` to `v` with scalar `params`; `None` drops the sample.
pub fn eval_elementwise(func: ElementwiseFunction, v: f64, params: &[f64]) -> Option<f64> {
    let _ = (func, v, params);
    todo!()
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
pub fn bucket_quantile(q: f64, buckets: &mut [Bucket]) -> BucketQuantile {
    let _ = (q, buckets);
    todo!()
}

/// The φ-quantile of `values` as `quantile` and `quantile_over_time` compute it (linear
/// interpolation between closest ranks; `q < 0` → `-Inf`, `q > 1` → `+Inf`, NaN → NaN).
/// `values` may be reordered.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    let _ = (q, values);
    todo!()
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
    /// Adds `v`.
    pub fn add(&mut self, v: f64) {
        let _ = v;
        todo!()
    }

    /// The compensated total.
    pub fn value(&self) -> f64 {
        todo!()
    }
}
