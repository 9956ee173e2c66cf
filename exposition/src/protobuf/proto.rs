//! The `io.prometheus.client` messages, as hand-written `prost` structs.
//!
//! Field numbers and types follow `io/prometheus/client/metrics.proto` (the proto3 copy
//! Prometheus vendors, see `specs/prometheus/proto/`). Scalar fields have proto3 semantics:
//! a zero value is not written and reads back as zero (so `-0.0` reads back as `0.0`, as
//! with Prometheus' own encoder). Two deliberate departures, neither visible on the wire:
//!
//! - [`Metric::timestamp_ms`] keeps presence (`Option<i64>`, as in client_model's proto2
//!   schema), because `0` is a valid timestamp and "no timestamp" means "scrape time".
//! - The large optional sub-messages of [`Metric`] ([`Counter`], [`Summary`],
//!   [`Histogram`]) are boxed, so a hostile stream of empty `Metric` messages (two bytes
//!   each) costs about 100 bytes of memory per message rather than 500.
//!
//! What client_model calls `created_timestamp` Prometheus' copy calls `start_timestamp`;
//! the field numbers are the same.

/// A label: name and value.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct LabelPair {
    /// The label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Timestamp {
    /// Whole seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, `0..=999_999_999` when well formed.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The timestamp of a millisecond time.
    pub fn from_millis(ms: i64) -> Self {
        Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
    }

    /// Milliseconds since the epoch, rounded down; saturates instead of overflowing.
    pub fn to_millis(self) -> i64 {
        let ms = i128::from(self.seconds) * 1000 + i128::from(self.nanos).div_euclid(1_000_000);
        ms.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Seconds since the epoch as a float, the value of an OpenMetrics `_created` sample.
    pub fn to_seconds_f64(self) -> f64 {
        self.seconds as f64 + f64::from(self.nanos) * 1e-9
    }

    /// The timestamp closest to `secs` seconds since the epoch whose
    /// [`to_seconds_f64`](Self::to_seconds_f64) gives back exactly `secs` when any does.
    /// `None` for NaN, infinities and values outside the `i64` seconds range.
    pub fn from_seconds_f64(secs: f64) -> Option<Self> {
        if !secs.is_finite() || secs.abs() >= 9.2e18 {
            return None;
        }
        let seconds = secs.floor();
        let nanos = ((secs - seconds) * 1e9).round() as i64;
        let seconds = seconds as i64;
        // Look a few nanoseconds either side for the value that converts back bit-exactly.
        let exact = (-2..=2)
            .map(|d| nanos + d)
            .filter(|n| (0..1_000_000_000).contains(n))
            .find(|&n| Timestamp { seconds, nanos: n as i32 }.to_seconds_f64().to_bits() == secs.to_bits());
        let (seconds, nanos) = match exact.unwrap_or(nanos) {
            n if n >= 1_000_000_000 => (seconds + 1, n - 1_000_000_000),
            n => (seconds, n.max(0)),
        };
        Some(Timestamp { seconds, nanos: nanos as i32 })
    }
}

/// The type of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// Uses [`Metric::counter`].
    Counter = 0,
    /// Uses [`Metric::gauge`].
    Gauge = 1,
    /// Uses [`Metric::summary`].
    Summary = 2,
    /// Uses [`Metric::untyped`].
    Untyped = 3,
    /// Uses [`Metric::histogram`].
    Histogram = 4,
    /// Uses [`Metric::histogram`].
    GaugeHistogram = 5,
}

/// A gauge value.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Gauge {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
}

/// A counter value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Counter {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// An exemplar, if any.
    #[prost(message, optional, tag = "2")]
    pub exemplar: Option<Exemplar>,
    /// When the counter was created (last reset).
    #[prost(message, optional, tag = "3")]
    pub created_timestamp: Option<Timestamp>,
}

/// One quantile of a summary.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Quantile {
    /// The quantile, `0.0..=1.0`.
    #[prost(double, tag = "1")]
    pub quantile: f64,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
}

/// A summary.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// Number of observations.
    #[prost(uint64, tag = "1")]
    pub sample_count: u64,
    /// Sum of observations.
    #[prost(double, tag = "2")]
    pub sample_sum: f64,
    /// The quantiles.
    #[prost(message, repeated, tag = "3")]
    pub quantile: Vec<Quantile>,
    /// When the summary was created (last reset).
    #[prost(message, optional, tag = "4")]
    pub created_timestamp: Option<Timestamp>,
}

/// An untyped value.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Untyped {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
}

/// A histogram: classic buckets, native (sparse) buckets, or both.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Number of observations.
    #[prost(uint64, tag = "1")]
    pub sample_count: u64,
    /// Number of observations as a float; overrides `sample_count` when `> 0`.
    #[prost(double, tag = "4")]
    pub sample_count_float: f64,
    /// Sum of observations.
    #[prost(double, tag = "2")]
    pub sample_sum: f64,
    /// Classic buckets in increasing order of upper bound; the `+Inf` bucket is optional.
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    /// When the histogram was created (last reset).
    #[prost(message, optional, tag = "15")]
    pub created_timestamp: Option<Timestamp>,
    /// Native: the bucket schema, `-4..=8` for the base-2 schemas.
    #[prost(sint32, tag = "5")]
    pub schema: i32,
    /// Native: width of the zero bucket.
    #[prost(double, tag = "6")]
    pub zero_threshold: f64,
    /// Native: observations in the zero bucket.
    #[prost(uint64, tag = "7")]
    pub zero_count: u64,
    /// Native: observations in the zero bucket as a float; overrides `zero_count` when `> 0`.
    #[prost(double, tag = "8")]
    pub zero_count_float: f64,
    /// Native: spans of negative buckets.
    #[prost(message, repeated, tag = "9")]
    pub negative_span: Vec<BucketSpan>,
    /// Native: negative bucket counts as deltas to the previous bucket (integer histograms).
    #[prost(sint64, repeated, tag = "10")]
    pub negative_delta: Vec<i64>,
    /// Native: absolute negative bucket counts (float histograms).
    #[prost(double, repeated, tag = "11")]
    pub negative_count: Vec<f64>,
    /// Native: spans of positive buckets. A no-op span (offset 0, length 0) marks a native
    /// histogram that has no observations yet.
    #[prost(message, repeated, tag = "12")]
    pub positive_span: Vec<BucketSpan>,
    /// Native: positive bucket counts as deltas to the previous bucket (integer histograms).
    #[prost(sint64, repeated, tag = "13")]
    pub positive_delta: Vec<i64>,
    /// Native: absolute positive bucket counts (float histograms).
    #[prost(double, repeated, tag = "14")]
    pub positive_count: Vec<f64>,
    /// Native: exemplars, each with a timestamp.
    #[prost(message, repeated, tag = "16")]
    pub exemplars: Vec<Exemplar>,
}

impl Histogram {
    /// Whether this carries a native histogram, decided as Prometheus' protobuf parser
    /// decides it: any span (a no-op span counts), a zero threshold > 0 or a zero count > 0.
    pub fn is_native(&self) -> bool {
        !self.positive_span.is_empty()
            || !self.negative_span.is_empty()
            || self.zero_threshold > 0.0
            || self.zero_count > 0
    }

    /// Whether any native-histogram field is set, even where [`is_native`](Self::is_native)
    /// would still call the histogram classic.
    pub fn has_native_fields(&self) -> bool {
        self.is_native()
            || self.schema != 0
            || self.zero_count_float != 0.0
            || !self.negative_delta.is_empty()
            || !self.negative_count.is_empty()
            || !self.positive_delta.is_empty()
            || !self.positive_count.is_empty()
            || !self.exemplars.is_empty()
    }

    /// The observation count: `sample_count_float` when `> 0`, else `sample_count`.
    pub fn count(&self) -> f64 {
        if self.sample_count_float > 0.0 { self.sample_count_float } else { self.sample_count as f64 }
    }
}

/// A classic histogram bucket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Bucket {
    /// Observations at or below `upper_bound`.
    #[prost(uint64, tag = "1")]
    pub cumulative_count: u64,
    /// The same as a float; overrides `cumulative_count` when `> 0`.
    #[prost(double, tag = "4")]
    pub cumulative_count_float: f64,
    /// The inclusive upper bound.
    #[prost(double, tag = "2")]
    pub upper_bound: f64,
    /// An exemplar, if any.
    #[prost(message, optional, tag = "3")]
    pub exemplar: Option<Exemplar>,
}

impl Bucket {
    /// The cumulative count: `cumulative_count_float` when `> 0`, else `cumulative_count`.
    pub fn count(&self) -> f64 {
        if self.cumulative_count_float > 0.0 { self.cumulative_count_float } else { self.cumulative_count as f64 }
    }
}

/// A run of consecutive native buckets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span, or the index of the first bucket for the first span.
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// An exemplar.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// The exemplar's labels.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// The observed value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// When it was observed.
    #[prost(message, optional, tag = "3")]
    pub timestamp: Option<Timestamp>,
}

/// One metric (series) of a family.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// The labels, without the metric name.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Set for [`MetricType::Gauge`].
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Gauge>,
    /// Set for [`MetricType::Counter`].
    #[prost(message, optional, boxed, tag = "3")]
    pub counter: Option<Box<Counter>>,
    /// Set for [`MetricType::Summary`].
    #[prost(message, optional, boxed, tag = "4")]
    pub summary: Option<Box<Summary>>,
    /// Set for [`MetricType::Untyped`].
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<Untyped>,
    /// Set for [`MetricType::Histogram`] and [`MetricType::GaugeHistogram`].
    #[prost(message, optional, boxed, tag = "7")]
    pub histogram: Option<Box<Histogram>>,
    /// An explicit timestamp in milliseconds, if any.
    #[prost(int64, optional, tag = "6")]
    pub timestamp_ms: Option<i64>,
}

/// A metric family: name, help, type and metrics.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricFamily {
    /// The family name (for counters usually ending in `_total`).
    #[prost(string, tag = "1")]
    pub name: String,
    /// The help text.
    #[prost(string, tag = "2")]
    pub help: String,
    /// The type, a [`MetricType`] value; see `MetricFamily::r#type()`.
    #[prost(enumeration = "MetricType", tag = "3")]
    pub r#type: i32,
    /// The metrics.
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
    /// The unit (OpenMetrics), empty when none.
    #[prost(string, tag = "5")]
    pub unit: String,
}
