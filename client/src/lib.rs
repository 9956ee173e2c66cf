//! # ember-client
//!
//! Instrumentation for any Rust application: counters, gauges, histograms, summaries, info
//! and state sets; labelled families (by `&[&str]` or a `#[derive(LabelSet)]` struct); a
//! [`Registry`] that writes the Prometheus text format 0.0.4, OpenMetrics and protobuf,
//! chosen from an `Accept` header; a [`ProcessCollector`]; and, behind features, a tiny
//! blocking `/metrics` server (`http-server`) and a Pushgateway client (`push`).
//!
//! ```
//! use ember_client::{Counter, Family, Histogram, Buckets, Registry, TextFormat};
//!
//! let registry = Registry::new();
//! let requests = Family::<Counter>::new(&["method", "code"]).unwrap();
//! registry.register("http_requests", "Requests served.", requests.clone()).unwrap();
//! let buckets = Buckets::new([0.1, 0.5]).unwrap();
//! let latency = Histogram::new(&buckets);
//! registry.register("http_request_duration_seconds", "Time to answer.", latency.clone()).unwrap();
//!
//! requests.with_label_values(&["GET", "200"]).inc();
//! requests.with_label_values(&["GET", "200"]).inc_by(2);
//! latency.observe(0.25);
//!
//! assert_eq!(
//!     registry.encode(TextFormat::Text),
//!     r#"# HELP http_request_duration_seconds Time to answer.
//! ## TYPE http_request_duration_seconds histogram
//! http_request_duration_seconds_bucket{le="0.1"} 0
//! http_request_duration_seconds_bucket{le="0.5"} 1
//! http_request_duration_seconds_bucket{le="+Inf"} 1
//! http_request_duration_seconds_sum 0.25
//! http_request_duration_seconds_count 1
//! ## HELP http_requests_total Requests served.
//! ## TYPE http_requests_total counter
//! http_requests_total{method="GET",code="200"} 3
//! "#
//! );
//!
//! // Registering the same name twice is a typed error, not a second family.
//! let again = registry.register("http_requests_total", "Again.", Counter::<u64>::new());
//! assert!(matches!(again.unwrap_err().kind(), ember_client::ErrorKind::AlreadyRegistered(_)));
//! ```
//!
//! ## Design: the hot path touches only the metric's own cache line
//!
//! Updating a metric is what an application does millions of times; scraping is what
//! Prometheus does every few seconds. So every choice moves work from the first to the
//! second:
//!
//! - **Gauges** are one `AtomicU64`: `set` is one relaxed store. **Counters** have two
//!   cells on separate cache lines: the first thread to increment a counter owns the first
//!   and adds with a plain load and store (no locked instruction), any other thread adds to
//!   the second with one relaxed `fetch_add`, and a read sums them ([`Counter`] explains
//!   how ownership passes on when the owner exits). A counter costs 256 bytes.
//! - **Histograms** keep non-cumulative bucket counts and the sum in one *shard* of
//!   cache-line-aligned cells per observing thread ([`Histogram`]). A shard has one writer, so
//!   an observation is plain loads and stores (no locked instruction), and two threads
//!   observing one histogram never touch the same cache line. The scrape adds the shards up. `_count` is derived from the buckets, so the two always
//!   agree; `_sum` is not updated in the same atomic step (no client makes it so without a
//!   lock or a hot/cold swap that every observation pays for).
//! - **Labelled lookups** ([`Family`]) hash the `&[&str]` without allocating (one multiply
//!   per value) and find the child in a per-family, per-thread cache (validated by the
//!   family's removal generation) that hands out a borrow: no lock and no shared reference
//!   count on a hit, so threads looking up the same child do not bounce a lock word between
//!   cores. Short values are compared as the words the hash read, and a thread that keeps
//!   updating one child skips the hash and the table altogether (that child's words and
//!   metric sit beside the cache's borrow flag and are compared first). What it gives up:
//!   the [`Child`] handle borrows the family and is `!Send` (use [`Family::handle`] for a
//!   handle to keep), and each thread keeps up to 4096 cached children per family until
//!   the family is dropped or a removal invalidates the cache.
//! - **Exemplars** go to a per-counter (per-bucket) slot behind its own small mutex, off
//!   the `inc`/`observe` path; recording one rewrites the slot's buffers in place, so it
//!   allocates nothing once they have grown to the size of the application's exemplars.
//!   `tests/no_alloc.rs` checks with a counting allocator that no update path (counters,
//!   gauges, histograms, summaries, exemplars, labelled and typed lookups of existing
//!   children, state sets) allocates after its first use.
//! - **Encoding** writes straight from the atomics into one `String`: label blocks are
//!   rendered once when a child is created and bucket bounds when a histogram is, so a
//!   scrape of a series is a few `memcpy`s and a number format. Custom [`Collector`]s and
//!   the protobuf format go through [`ember_exposition::MetricFamily`].
//!
//! Families have a cap on children ([`DEFAULT_MAX_CHILDREN`]); past it, [`Family::get`]
//! fails with [`ErrorKind::TooManyChildren`] and [`Family::with_label_values`] sends the
//! update to a detached child that is never exported and counts the refusal.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod counter;
mod encode;
mod error;
mod exemplar;
mod family;
mod gauge;
mod histogram;
mod info;
mod number;
mod registry;
mod summary;

pub use counter::Counter;
pub use ember_exposition::format::Format;
pub use encode::{Metric, MetricEncoder, TextFormat};
pub use error::{Error, ErrorKind, Result};
pub use exemplar::ExemplarValue;
pub use family::{Child, DEFAULT_MAX_CHILDREN, Family, LabelSet, LabelValue, TypedFamily};
pub use gauge::Gauge;
pub use histogram::{Buckets, DEFAULT_BUCKETS, Histogram, exponential_buckets, linear_buckets};
pub use info::{Info, StateSet};
pub use number::{Number, write_f64};
pub use registry::{Collector, CollectorId, Registry, Scrape};
pub use summary::{Summary, SummaryOpts};

/// Derives [`LabelSet`] for a struct with named fields (`#[label(rename = "...")]` renames).
#[cfg(feature = "derive")]
pub use ember_client_derive::LabelSet;
/// Derives [`LabelValue`] for a fieldless enum (`#[label(rename = "...")]` renames).
#[cfg(feature = "derive")]
pub use ember_client_derive::LabelValue;

mod process;
pub use process::ProcessCollector;

#[cfg(feature = "http-server")]
pub mod http;
#[cfg(feature = "push")]
pub mod push;
