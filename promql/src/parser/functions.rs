//! The function table: names, argument types, arity, return type and the experimental flag,
//! as documented in Prometheus's `functions.md`.

use super::ast::ValueType;
use ValueType::{Matrix as M, Scalar as S, String as T, Vector as V};

/// A PromQL function's signature.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Function {
    /// The name, as written (functions are case-sensitive).
    pub name: &'static str,
    /// Argument types; when the function is variadic the last type repeats.
    pub arg_types: &'static [ValueType],
    /// The fewest arguments accepted.
    pub min_args: usize,
    /// The most arguments accepted; `None` for no limit.
    pub max_args: Option<usize>,
    /// The type of the result.
    pub return_type: ValueType,
    /// Needs [`ParseOptions::experimental_functions`](super::ParseOptions).
    pub experimental: bool,
}

impl Function {
    /// The expected type of argument `i` (the last type repeats for variadic functions).
    pub fn arg_type(&self, i: usize) -> Option<ValueType> {
        self.arg_types.get(i).or(self.arg_types.last()).copied()
    }

    /// Whether the function accepts a varying number of arguments.
    pub fn is_variadic(&self) -> bool {
        self.max_args != Some(self.min_args)
    }
}

const fn f(name: &'static str, arg_types: &'static [ValueType], ret: ValueType) -> Function {
    Function {
        name,
        arg_types,
        min_args: arg_types.len(),
        max_args: Some(arg_types.len()),
        return_type: ret,
        experimental: false,
    }
}

const fn var(
    name: &'static str,
    arg_types: &'static [ValueType],
    min: usize,
    max: Option<usize>,
    ret: ValueType,
) -> Function {
    Function { name, arg_types, min_args: min, max_args: max, return_type: ret, experimental: false }
}

const fn exp(mut func: Function) -> Function {
    func.experimental = true;
    func
}

/// Every function, sorted by name.
pub static FUNCTIONS: &[Function] = &[
    f("abs", &[V], V),
    f("absent", &[V], V),
    f("absent_over_time", &[M], V),
    f("acos", &[V], V),
    f("acosh", &[V], V),
    f("asin", &[V], V),
    f("asinh", &[V], V),
    f("atan", &[V], V),
    f("atanh", &[V], V),
    f("avg_over_time", &[M], V),
    f("ceil", &[V], V),
    f("changes", &[M], V),
    f("clamp", &[V, S, S], V),
    f("clamp_max", &[V, S], V),
    f("clamp_min", &[V, S], V),
    f("cos", &[V], V),
    f("cosh", &[V], V),
    f("count_over_time", &[M], V),
    var("day_of_month", &[V], 0, Some(1), V),
    var("day_of_week", &[V], 0, Some(1), V),
    var("day_of_year", &[V], 0, Some(1), V),
    var("days_in_month", &[V], 0, Some(1), V),
    f("deg", &[V], V),
    f("delta", &[M], V),
    f("deriv", &[M], V),
    exp(f("double_exponential_smoothing", &[M, S, S], V)),
    exp(f("end", &[], S)),
    f("exp", &[V], V),
    f("first_over_time", &[M], V),
    f("floor", &[V], V),
    f("histogram_avg", &[V], V),
    f("histogram_count", &[V], V),
    f("histogram_fraction", &[S, S, V], V),
    f("histogram_quantile", &[S, V], V),
    exp(var("histogram_quantiles", &[V, T, S], 3, Some(12), V)),
    f("histogram_stddev", &[V], V),
    f("histogram_stdvar", &[V], V),
    f("histogram_sum", &[V], V),
    var("hour", &[V], 0, Some(1), V),
    f("idelta", &[M], V),
    f("increase", &[M], V),
    exp(var("info", &[V, V], 1, Some(2), V)),
    f("irate", &[M], V),
    var("label_join", &[V, T, T, T], 3, None, V),
    f("label_replace", &[V, T, T, T, T], V),
    f("last_over_time", &[M], V),
    f("ln", &[V], V),
    f("log10", &[V], V),
    f("log2", &[V], V),
    exp(f("mad_over_time", &[M], V)),
    exp(f("max_of", &[S, S], S)),
    f("max_over_time", &[M], V),
    exp(f("min_of", &[S, S], S)),
    f("min_over_time", &[M], V),
    var("minute", &[V], 0, Some(1), V),
    var("month", &[V], 0, Some(1), V),
    f("pi", &[], S),
    f("predict_linear", &[M, S], V),
    f("present_over_time", &[M], V),
    f("quantile_over_time", &[S, M], V),
    f("rad", &[V], V),
    exp(f("range", &[], S)),
    f("rate", &[M], V),
    f("resets", &[M], V),
    var("round", &[V, S], 1, Some(2), V),
    f("scalar", &[V], S),
    f("sgn", &[V], V),
    f("sin", &[V], V),
    f("sinh", &[V], V),
    f("sort", &[V], V),
    exp(var("sort_by_label", &[V, T], 1, None, V)),
    exp(var("sort_by_label_desc", &[V, T], 1, None, V)),
    f("sort_desc", &[V], V),
    f("sqrt", &[V], V),
    exp(f("start", &[], S)),
    f("start_timestamp", &[V], V),
    f("stddev_over_time", &[M], V),
    f("stdvar_over_time", &[M], V),
    exp(f("step", &[], S)),
    f("sum_over_time", &[M], V),
    f("tan", &[V], V),
    f("tanh", &[V], V),
    f("time", &[], S),
    f("timestamp", &[V], V),
    exp(f("ts_of_first_over_time", &[M], V)),
    exp(f("ts_of_last_over_time", &[M], V)),
    exp(f("ts_of_max_over_time", &[M], V)),
    exp(f("ts_of_min_over_time", &[M], V)),
    f("vector", &[S], V),
    var("year", &[V], 0, Some(1), V),
];

/// Looks a function up by its exact name.
pub fn get_function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.binary_search_by(|f| f.name.cmp(name)).ok().map(|i| &FUNCTIONS[i])
}

/// Functions accepting a range selector with the `anchored` modifier, sorted. Any function
/// parses with such a selector; the engine rejects the others when it evaluates the call,
/// as Prometheus does.
pub const ANCHORED_FUNCTIONS: &[&str] = &["changes", "delta", "increase", "rate", "resets"];
/// Functions accepting a range selector with the `smoothed` modifier, sorted (checked when
/// evaluating, as for [`ANCHORED_FUNCTIONS`]).
pub const SMOOTHED_FUNCTIONS: &[&str] = &["delta", "increase", "rate"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_found() {
        assert!(FUNCTIONS.windows(2).all(|w| w[0].name < w[1].name));
        for func in FUNCTIONS {
            assert!(std::ptr::eq(get_function(func.name).unwrap(), func));
            assert!(func.max_args.is_none_or(|m| m >= func.min_args));
            assert!(func.min_args <= func.arg_types.len());
        }
        assert!(get_function("RATE").is_none());
        assert_eq!(get_function("round").unwrap().arg_type(1), Some(S));
        assert_eq!(get_function("label_join").unwrap().arg_type(7), Some(T));
    }
}
