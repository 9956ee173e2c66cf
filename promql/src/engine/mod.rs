//! The PromQL evaluator.
//!
//! [`functions`] holds the numeric kernels (range-window functions such as `rate`, element-wise
//! math, classic-histogram quantiles, aggregation helpers) as pure functions over plain
//! slices; the evaluator around them selects series through the storage traits, steps
//! through time and assembles vectors and matrices. [`annotations`] are the warnings and
//! infos returned beside a result.

pub mod annotations;
pub mod functions;
