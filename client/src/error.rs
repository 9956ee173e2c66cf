//! The crate's error type: a struct holding a `#[non_exhaustive]` kind.

use std::fmt;

use ember_exposition::MetricType;

/// What went wrong, with the names involved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A metric name outside `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName(String),
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`, or one starting with `__`.
    InvalidLabelName(String),
    /// A label name the metric type uses itself (`le` on histograms, `quantile` on summaries).
    ReservedLabelName(String),
    /// The same label name twice in one label set.
    DuplicateLabelName(String),
    /// A family was given the wrong number of label values.
    LabelCount {
        /// How many label names the family has.
        expected: usize,
        /// How many values were given.
        got: usize,
    },
    /// A family reached its cap on children; the new label values were refused.
    TooManyChildren {
        /// The family's cap.
        limit: usize,
    },
    /// A family of this name and type is already registered.
    AlreadyRegistered(String),
    /// A family of this name is registered with another type.
    ConflictingType {
        /// The family name.
        name: String,
        /// The type it is registered with.
        existing: MetricType,
        /// The type that was refused.
        new: MetricType,
    },
    /// A sample name of the new family is already produced by another family
    /// (e.g. gauge `a_total` against counter `a`).
    NameCollision {
        /// The colliding sample name.
        sample: String,
        /// The family that already produces it.
        existing: String,
    },
    /// No family of this name is registered.
    NotRegistered(String),
    /// Exemplar labels longer than the 128 characters OpenMetrics allows.
    ExemplarTooLong(usize),
    /// Histogram bucket bounds that are empty, unsorted, repeated or NaN.
    InvalidBuckets(String),
    /// Summary quantiles outside `[0, 1]`, or invalid window settings.
    InvalidSummary(String),
    /// A family the protobuf encoder cannot express (from a custom collector).
    Encode(String),
    /// The protobuf format was asked for but the `protobuf` feature is off.
    Unsupported(String),
    /// An I/O error (HTTP endpoint, Pushgateway).
    Io(String),
    /// A URL the Pushgateway client cannot use (only `http://host[:port][/path]`).
    InvalidUrl(String),
    /// The Pushgateway answered with a non-success status.
    HttpStatus {
        /// The status code.
        status: u16,
        /// The response body (truncated to 1 KiB).
        body: String,
    },
}

/// An error of this crate; [`Error::kind`] says what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
}

impl Error {
    /// The kind of error.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error { kind }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        ErrorKind::Io(e.to_string()).into()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::InvalidMetricName(n) => write!(f, "invalid metric name {n:?}"),
            ErrorKind::InvalidLabelName(n) => write!(f, "invalid label name {n:?}"),
            ErrorKind::ReservedLabelName(n) => write!(f, "label name {n:?} is reserved by the metric type"),
            ErrorKind::DuplicateLabelName(n) => write!(f, "label name {n:?} given twice"),
            ErrorKind::LabelCount { expected, got } => {
                write!(f, "family has {expected} label names but {got} values were given")
            }
            ErrorKind::TooManyChildren { limit } => {
                write!(f, "family already has its maximum of {limit} children; new label values refused")
            }
            ErrorKind::AlreadyRegistered(n) => write!(f, "metric family {n:?} is already registered"),
            ErrorKind::ConflictingType { name, existing, new } => {
                write!(f, "metric family {name:?} is registered as {existing}, cannot register it as {new}")
            }
            ErrorKind::NameCollision { sample, existing } => {
                write!(f, "sample name {sample:?} is already produced by family {existing:?}")
            }
            ErrorKind::NotRegistered(n) => write!(f, "no metric family {n:?} is registered"),
            ErrorKind::ExemplarTooLong(n) => {
                write!(f, "exemplar labels are {n} characters long, OpenMetrics allows 128")
            }
            ErrorKind::InvalidBuckets(why) => write!(f, "invalid histogram buckets: {why}"),
            ErrorKind::InvalidSummary(why) => write!(f, "invalid summary: {why}"),
            ErrorKind::Encode(e) => write!(f, "cannot encode: {e}"),
            ErrorKind::Unsupported(what) => write!(f, "unsupported: {what}"),
            ErrorKind::Io(e) => write!(f, "i/o error: {e}"),
            ErrorKind::InvalidUrl(u) => write!(f, "unsupported URL {u:?} (want http://host[:port][/path])"),
            ErrorKind::HttpStatus { status, body } => write!(f, "HTTP status {status}: {body}"),
        }
    }
}

impl std::error::Error for Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks a metric name against the legacy character set.
pub(crate) fn check_metric_name(name: &str) -> Result<()> {
    if ember_exposition::names::is_valid_legacy_metric_name(name) {
        Ok(())
    } else {
        Err(ErrorKind::InvalidMetricName(name.to_string()).into())
    }
}

/// Checks label names: legacy character set, no `__` prefix, no repeats.
pub(crate) fn check_label_names<S: AsRef<str>>(names: &[S]) -> Result<()> {
    for (i, n) in names.iter().enumerate() {
        let n = n.as_ref();
        if !ember_exposition::names::is_valid_legacy_label_name(n) || n.starts_with("__") {
            return Err(ErrorKind::InvalidLabelName(n.to_string()).into());
        }
        if names[..i].iter().any(|m| m.as_ref() == n) {
            return Err(ErrorKind::DuplicateLabelName(n.to_string()).into());
        }
    }
    Ok(())
}
