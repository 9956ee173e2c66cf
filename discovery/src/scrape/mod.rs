//! The scrape loop: from discovered targets to samples in storage.
//!
//! A [`ScrapeManager`] holds one pool per `scrape_configs` job. Each time discovery
//! publishes a [`DiscoveryState`](crate::discovery::DiscoveryState) the manager rebuilds the
//! job's targets with [`TargetBuilder`](crate::target::TargetBuilder), starts one loop per
//! new target and stops the loops of targets that went away. A loop scrapes its target
//! every interval, at an offset within the interval derived from a hash of the target and
//! the interval, so targets spread evenly over time and keep their slot across restarts.
//!
//! One scrape: an HTTP(S) GET with the `Accept` header of the job's `scrape_protocols`,
//! gzip, authentication and TLS from `<http_config>`, bounded by the scrape timeout and
//! `body_size_limit`; the body is parsed in the format of the response's `Content-Type`
//! (falling back to `fallback_scrape_protocol`), each sample gets the target's labels
//! (`honor_labels`), its own or the scrape's timestamp (`honor_timestamps`) and
//! `metric_relabel_configs`, and the batch is appended through one
//! [`Appender`](ember_tsdb::storage::Appender) — committed whole, or rolled back whole
//! when a limit is exceeded or the body does not parse. Then the synthetic series `up`,
//! `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added` are written, and
//! staleness markers for the series the previous scrape had and this one has not (all of
//! them when the scrape failed, and when the target is removed).
//!
//! The per-target [`ScrapeCache`] is what makes the hot path cheap: the raw text of a
//! series line (name and label block as written) maps to the storage's
//! [`SeriesRef`](ember_tsdb::storage::SeriesRef), so a line seen before costs a hash lookup
//! and an append by reference
//! ([`Appender::append_ref`](ember_tsdb::storage::Appender::append_ref)): no label parsing,
//! no relabeling, no index lookup. The cache keeps no second copy of the labels (the head
//! has them); in the rare case the storage forgot a reference, they are derived again from
//! the cached line.
//!
//! ```
//! use ember_discovery::scrape::{ScrapeCache, SeriesRules};
//! use ember_exposition::format::Format;
//! use ember_exposition::labels;
//! use ember_tsdb::head::Head;
//! use ember_tsdb::storage::Appendable;
//!
//! let head = Head::default();
//! let rules = SeriesRules::new(labels! {"job" => "node", "instance" => "10.0.0.1:9100"});
//! let mut cache = ScrapeCache::new();
//! let mut scrape = |body: &str, t| {
//!     let mut app = Appendable::appender(&head);
//!     let stats = cache.append_body(&mut *app, &rules, body.as_bytes(), Format::Text004, t).unwrap();
//!     app.commit().unwrap();
//!     stats
//! };
//! let first = scrape("a{x=\"1\"} 1\nb 2\n", 1000);
//! assert_eq!((first.series_added, first.cache_hits), (2, 0));
//! // Unchanged lines are cache hits: no label parsing, no index lookup.
//! let second = scrape("a{x=\"1\"} 3\n", 2000);
//! assert_eq!((second.series_added, second.cache_hits), (0, 1));
//! // `b` left the scrape: the second scrape wrote its staleness marker.
//! assert_eq!(head.num_series(), 2);
//! assert_eq!(head.append_counts().0, 4);
//! ```

mod append;
mod http;
mod manager;
mod metadata;

use std::fmt;
use std::time::Duration;

use ember_exposition::format::Format;
use ember_exposition::{Labels, ParseError};
use ember_tsdb::storage::AppendError;

pub use append::{AppendStats, ScrapeCache, SeriesRules};
pub use http::{ScrapeClient, ScrapeResponse};
pub use manager::{ScrapeManager, ScrapeOptions, ScrapeStats, TargetMetadataView, target_offset};
pub use metadata::{METADATA_KEEP_ITERATIONS, MetadataCache, MetricMetadata, TargetMetadata};

/// The limits of `scrape_configs` that fail a whole scrape; `0` means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// `sample_limit`: samples after metric relabeling.
    pub sample_limit: u64,
    /// `label_limit`: labels per series (after relabeling).
    pub label_limit: u64,
    /// `label_name_length_limit`.
    pub label_name_length_limit: u64,
    /// `label_value_length_limit`.
    pub label_value_length_limit: u64,
    /// `body_size_limit` in bytes of the uncompressed body.
    pub body_size_limit: u64,
}

/// A failed scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeError {
    /// What went wrong.
    pub kind: ScrapeErrorKind,
}

/// What went wrong with a scrape.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScrapeErrorKind {
    /// The request could not be sent or the response not read.
    Http(String),
    /// The target answered with a status other than 200.
    Status(u16),
    /// The scrape took longer than its timeout.
    Timeout(Duration),
    /// The uncompressed body is larger than `body_size_limit` bytes.
    BodySizeLimit(u64),
    /// The response's `Content-Type` is no exposition format and no fallback is configured.
    UnsupportedContentType(String),
    /// The body does not parse in the format of its `Content-Type`.
    Parse {
        /// The format the body was read as.
        format: Format,
        /// Where and what.
        error: ParseError,
    },
    /// The protobuf body does not decode.
    Protobuf(String),
    /// More samples than `sample_limit` after metric relabeling.
    SampleLimit(u64),
    /// A series has more labels than `label_limit`.
    LabelLimit {
        /// The limit.
        limit: u64,
        /// The offending series.
        labels: Labels,
    },
    /// A label name is longer than `label_name_length_limit`.
    LabelNameLength {
        /// The limit.
        limit: u64,
        /// The label.
        name: String,
        /// The offending series.
        labels: Labels,
    },
    /// A label value is longer than `label_value_length_limit`.
    LabelValueLength {
        /// The limit.
        limit: u64,
        /// The label whose value is too long.
        name: String,
        /// The offending series.
        labels: Labels,
    },
    /// The storage refused the batch (closed, or out of series).
    Storage(AppendError),
    /// The HTTP client could not be built from `<http_config>`.
    Client(String),
}

impl ScrapeError {
    /// An error of `kind`.
    pub fn new(kind: ScrapeErrorKind) -> Self {
        ScrapeError { kind }
    }

    pub(crate) fn parse(format: Format, error: ParseError) -> Self {
        ScrapeError::new(ScrapeErrorKind::Parse { format, error })
    }
}

impl fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ScrapeErrorKind::Http(m) => write!(f, "HTTP request failed: {m}"),
            ScrapeErrorKind::Status(s) => write!(f, "server returned HTTP status {s}"),
            ScrapeErrorKind::Timeout(d) => write!(f, "scrape timed out after {d:?}"),
            ScrapeErrorKind::BodySizeLimit(l) => write!(f, "body size limit exceeded ({l} bytes)"),
            ScrapeErrorKind::UnsupportedContentType(c) => {
                write!(f, "received unsupported Content-Type {c:?} and no fallback_scrape_protocol specified")
            }
            ScrapeErrorKind::Parse { format, error } => write!(f, "{format} parse error: {error}"),
            ScrapeErrorKind::Protobuf(m) => write!(f, "protobuf decode error: {m}"),
            ScrapeErrorKind::SampleLimit(l) => write!(f, "sample limit exceeded (limit {l})"),
            ScrapeErrorKind::LabelLimit { limit, labels } => write!(
                f,
                "label_limit exceeded (metric: {}, number of labels: {}, limit: {limit})",
                labels.get_or_empty("__name__"),
                labels.len()
            ),
            ScrapeErrorKind::LabelNameLength { limit, name, labels } => write!(
                f,
                "label_name_length_limit exceeded (metric: {}, label name: {name}, limit: {limit})",
                labels.get_or_empty("__name__")
            ),
            ScrapeErrorKind::LabelValueLength { limit, name, labels } => write!(
                f,
                "label_value_length_limit exceeded (metric: {}, label name: {name}, limit: {limit})",
                labels.get_or_empty("__name__")
            ),
            ScrapeErrorKind::Storage(e) => write!(f, "storage: {e}"),
            ScrapeErrorKind::Client(m) => write!(f, "HTTP client: {m}"),
        }
    }
}

impl std::error::Error for ScrapeError {}
