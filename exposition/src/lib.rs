//! # ember-exposition
//!
//! The metric data model shared by every Ember crate, and the wire formats that carry it.
//!
//! - [`Labels`] and [`LabelsBuilder`]: sorted, de-duplicated label sets that are cheap to
//!   clone, hash and compare; [`labels!`] builds one inline.
//! - [`Matcher`] (feature `matchers`, on by default): `=`, `!=`, `=~`, `!~`, with
//!   regexes anchored as Prometheus anchors them.
//! - [`MetricFamily`], [`Sample`], [`Exemplar`], [`MetricType`] and the staleness marker
//!   [`STALE_NAN`].
//! - Name validation for both the legacy character set and Prometheus 3's UTF-8 names.
//! - [`protobuf`] (feature `protobuf`, on by default): the delimited
//!   `io.prometheus.client.MetricFamily` stream, native histograms included, and its
//!   conversion to and from the flat model.
//! - [`format`]: content negotiation (`Accept` → [`format::Format`] for servers, the
//!   `Accept` header Prometheus 3 sends and the reading of `Content-Type` for scrapers).
//!
//! ```
//! use ember_exposition::{labels, Matcher, MatchType, is_stale_nan, STALE_NAN};
//!
//! let series = labels! { "__name__" => "http_requests_total", "method" => "GET", "code" => "200" };
//! assert_eq!(series.to_series_string(), r#"http_requests_total{code="200", method="GET"}"#);
//!
//! let m = Matcher::new(MatchType::Regex, "code", "2..").unwrap();
//! assert!(m.matches_labels(&series));
//! // Regexes are fully anchored: "2" alone does not match "200".
//! assert!(!Matcher::regex("code", "2").unwrap().matches_labels(&series));
//! // A missing label matches as the empty string.
//! assert!(Matcher::equal("path", "").matches_labels(&series));
//!
//! assert!(is_stale_nan(STALE_NAN) && !is_stale_nan(f64::NAN));
//! ```
//!
//! ## Design
//!
//! This crate has no Ember dependencies, no async and no I/O: it is the layer every other
//! crate stands on, and the one a client library links, so it stays small. `regex` sits
//! behind the `matchers` feature and `prost` behind `protobuf` for users who need neither.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod format;
mod labels;
#[cfg(feature = "matchers")]
mod matcher;
mod model;
pub mod names;
#[cfg(feature = "protobuf")]
pub mod protobuf;

pub use labels::{Label, Labels, LabelsBuilder};
#[cfg(feature = "matchers")]
pub use matcher::{MatchType, Matcher, MatcherError};
pub use model::{
    Exemplar, MetricFamily, MetricType, STALE_NAN, STALE_NAN_BITS, Sample, Timestamp, UnknownMetricType, is_stale_nan,
};
pub use names::{METRIC_NAME_LABEL, ValidationScheme};
