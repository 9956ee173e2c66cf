//! The metric data model: families, samples, exemplars, and the staleness marker.
//!
//! A [`MetricFamily`] is what one `# TYPE` block describes: a name, a [`MetricType`],
//! optional help and unit, and its samples in exposition order. A [`Sample`] carries its
//! full sample name (with any suffix such as `_total`, `_bucket` or `_created`), the
//! labels other than `__name__`, a value, an optional timestamp and an optional exemplar.
//! Timestamps are milliseconds since the Unix epoch everywhere in Ember, as in Prometheus.

use std::fmt;
use std::str::FromStr;

use crate::labels::Labels;

/// Milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// The bit pattern of the staleness marker: a NaN that no arithmetic produces.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker, written when a series disappears from a scrape or a target goes away.
///
/// Compare with [`is_stale_nan`], never with `==` (it is a NaN).
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// Whether `v` is the staleness marker (bit-exact; other NaNs are ordinary values).
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    /// A monotonically increasing value (`_total`, `_created`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets (`_bucket`, `_count`, `_sum`, `_created`).
    Histogram,
    /// Buckets of a current distribution (`_bucket`, `_gcount`, `_gsum`).
    GaugeHistogram,
    /// Quantiles plus `_count` and `_sum`.
    Summary,
    /// Textual information as labels (`_info`), value always 1.
    Info,
    /// A set of boolean states, one label value each.
    StateSet,
    /// No type given (`untyped` in the text format 0.0.4).
    #[default]
    Unknown,
}

impl MetricType {
    /// The OpenMetrics name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// Every type, in declaration order.
    pub const ALL: [MetricType; 8] = [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::GaugeHistogram,
        MetricType::Summary,
        MetricType::Info,
        MetricType::StateSet,
        MetricType::Unknown,
    ];
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A type name that is not one of the known metric types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMetricType(pub String);

impl fmt::Display for UnknownMetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown metric type {:?}", self.0)
    }
}

impl std::error::Error for UnknownMetricType {}

impl FromStr for MetricType {
    type Err = UnknownMetricType;

    /// Accepts the OpenMetrics names plus `untyped` (text format 0.0.4) for [`MetricType::Unknown`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "unknown" | "untyped" => MetricType::Unknown,
            other => return Err(UnknownMetricType(other.to_string())),
        })
    }
}

/// An exemplar: a reference to data outside the metric set, typically a trace id.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The exemplar's own labels (e.g. `trace_id`).
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// When it was observed, if known.
    pub timestamp: Option<Timestamp>,
}

/// One sample line of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The full sample name, including any suffix (`_total`, `_bucket`, `_created`, …).
    pub name: String,
    /// Labels other than `__name__`.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// The explicit timestamp, if the exposition gave one.
    pub timestamp: Option<Timestamp>,
    /// An exemplar attached to the sample, if any.
    pub exemplar: Option<Exemplar>,
}

impl Sample {
    /// A sample with no timestamp and no exemplar.
    pub fn new(name: impl Into<String>, labels: Labels, value: f64) -> Self {
        Sample { name: name.into(), labels, value, timestamp: None, exemplar: None }
    }

    /// The series labels: the sample's labels plus `__name__`.
    pub fn series_labels(&self) -> Labels {
        let mut b = self.labels.builder();
        b.set(crate::names::METRIC_NAME_LABEL, self.name.as_str());
        b.into_labels()
    }

    /// Bit-level equality: like `==` but NaN equals NaN of the same bits, so parsed
    /// families can be compared after a round trip.
    pub fn bit_eq(&self, other: &Sample) -> bool {
        fn ex_eq(a: &Option<Exemplar>, b: &Option<Exemplar>) -> bool {
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => {
                    a.labels == b.labels && a.value.to_bits() == b.value.to_bits() && a.timestamp == b.timestamp
                }
                _ => false,
            }
        }
        self.name == other.name
            && self.labels == other.labels
            && self.value.to_bits() == other.value.to_bits()
            && self.timestamp == other.timestamp
            && ex_eq(&self.exemplar, &other.exemplar)
    }
}

/// A metric family: the samples one `# TYPE` block describes, in exposition order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricFamily {
    /// The family name (without `_total` for counters, without `_info` for info metrics).
    pub name: String,
    /// The declared type; [`MetricType::Unknown`] when none was declared.
    pub metric_type: MetricType,
    /// The HELP text, unescaped.
    pub help: Option<String>,
    /// The UNIT (OpenMetrics only).
    pub unit: Option<String>,
    /// The samples in exposition order.
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// An empty family of the given name and type.
    pub fn new(name: impl Into<String>, metric_type: MetricType) -> Self {
        MetricFamily { name: name.into(), metric_type, ..Default::default() }
    }

    /// Bit-level equality of families (see [`Sample::bit_eq`]).
    pub fn bit_eq(&self, other: &MetricFamily) -> bool {
        self.name == other.name
            && self.metric_type == other.metric_type
            && self.help == other.help
            && self.unit == other.unit
            && self.samples.len() == other.samples.len()
            && self.samples.iter().zip(&other.samples).all(|(a, b)| a.bit_eq(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_nan() {
        assert!(is_stale_nan(STALE_NAN));
        assert!(STALE_NAN.is_nan());
        assert!(!is_stale_nan(f64::NAN));
        assert!(!is_stale_nan(1.0));
    }

    #[test]
    fn types_round_trip() {
        for t in MetricType::ALL {
            assert_eq!(t.as_str().parse::<MetricType>().unwrap(), t);
        }
        assert_eq!("untyped".parse::<MetricType>().unwrap(), MetricType::Unknown);
        assert!("bogus".parse::<MetricType>().is_err());
    }
}
