//! # ember-promql
//!
//! PromQL: a parser with a typed AST and printer, and an engine that evaluates over any
//! `Queryable`.
//!
//! So far: [`series`], the expanding series notation (`1+2x3 _ stale`) that PromQL test
//! scripts and rule unit tests share, and (feature `test-util`) the test-script parser in
//! `testing`. The parser and engine arrive with the PromQL issues.
//!
//! ```
//! use ember_promql::series::{parse_series_desc, SeriesValue};
//!
//! let d = parse_series_desc(r#"http_requests_total{job="api"} 0+10x2 _ stale"#).unwrap();
//! assert_eq!(d.labels.get("job"), Some("api"));
//! assert_eq!(d.values[..3], [SeriesValue::Float(0.0), SeriesValue::Float(10.0), SeriesValue::Float(20.0)]);
//! assert_eq!(d.values[3..], [SeriesValue::Missing, SeriesValue::Stale]);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod series;
#[cfg(feature = "test-util")]
pub mod testing;
