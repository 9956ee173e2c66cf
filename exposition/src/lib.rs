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
//! - [`relabel`] (feature `relabel`, on by default): `relabel_configs` as a pure
//!   `Labels -> Option<Labels>` step.
//! - The text formats: [`text`] (0.0.4) and [`openmetrics`] (1.0), parsers and encoders.
//! - [`protobuf`] (feature `protobuf`, on by default): the delimited
//!   `io.prometheus.client.MetricFamily` stream, native histograms included, and its
//!   conversion to and from the flat model.
//! - [`format`](mod@format): content negotiation (`Accept` → [`format::Format`] for servers, the
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
//! ## Wire formats
//!
//! [`text`] (Prometheus 0.0.4, with Prometheus 3's quoted UTF-8 names) and
//! [`openmetrics`] (OpenMetrics 1.0) each offer a pull-based, zero-copy `Parser` that
//! yields [`Entry`]s borrowing from the input, an owned `parse` that builds
//! [`MetricFamily`]s on top of it, and an `encode` that writes families back.
//!
//! ```
//! use std::borrow::Cow;
//! use ember_exposition::{text, Entry};
//!
//! let scrape = "# TYPE rpc_seconds summary\nrpc_seconds{quantile=\"0.5\",path=\"/a\"} 0.25 1700000000000\n";
//! let mut parser = text::Parser::new(scrape);
//! assert!(matches!(parser.next(), Some(Ok(Entry::Type { .. }))));
//! let Some(Ok(Entry::Sample(s))) = parser.next() else { panic!() };
//! // Names and label values point into `scrape`: nothing was copied or allocated...
//! assert!(matches!(s.name, Cow::Borrowed(_)));
//! assert!(s.labels.iter().all(|(n, v)| matches!((n, v), (Cow::Borrowed(_), Cow::Borrowed(_)))));
//! assert_eq!(s.labels.raw(), r#"quantile="0.5",path="/a""#);
//! // ...and labels are decoded only when asked for.
//! assert_eq!(s.labels.get("path").as_deref(), Some("/a"));
//! assert_eq!((s.value, s.timestamp), (0.25, Some(1_700_000_000_000)));
//! assert!(parser.next().is_none());
//! ```
//!
//! The parser is pull-based so an ingester decides per sample what to keep, and
//! zero-copy so parsing a scrape costs no allocation per sample (a test counts them).
//! What it gives up: an [`Entry`] borrows the input, so a caller that keeps samples
//! copies them (as `parse` does), and checks that need memory of the whole exposition
//! (a family name repeating far apart) live in `parse`, not in the streaming parser.
//!
//! ## Design
//!
//! This crate has no Ember dependencies, no async and no I/O: it is the layer every other
//! crate stands on, and the one a client library links, so it stays small. `regex` sits
//! behind the `matchers` feature and `prost` behind `protobuf` for users who need neither.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod duration;
pub mod format;
mod labels;
mod lex;
#[cfg(feature = "matchers")]
mod matcher;
mod model;
pub mod names;
pub mod openmetrics;
#[cfg(feature = "protobuf")]
pub mod protobuf;
#[cfg(feature = "relabel")]
pub mod relabel;
pub mod text;

pub use labels::{Label, Labels, LabelsBuilder};
pub use lex::{Entry, ExemplarRef, Found, LabelIter, LabelsRef, ParseError, ParseErrorKind, SampleRef};
#[cfg(feature = "matchers")]
pub use matcher::{MatchType, Matcher, MatcherError};
pub use model::{
    Exemplar, MetricFamily, MetricType, STALE_NAN, STALE_NAN_BITS, Sample, Timestamp, UnknownMetricType, is_stale_nan,
};
pub use names::{METRIC_NAME_LABEL, ValidationScheme};
