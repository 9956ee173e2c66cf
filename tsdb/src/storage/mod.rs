//! The storage boundary: how upper layers write samples and read series.
//!
//! Every layer above the engine (scrape loops, the PromQL engine, rule evaluation) sees
//! storage only through these traits, in Prometheus's vocabulary:
//!
//! - [`Appendable`] hands out [`Appender`]s. An appender buffers a batch
//!   ([`Appender::append`], by labels or by a cached [`SeriesRef`]) and makes it visible to
//!   queries all at once on [`Appender::commit`], or not at all on [`Appender::rollback`].
//!   Rejected samples come back as an [`AppendError`] whose [`AppendErrorKind`] a scraper
//!   counts without looking at strings.
//! - [`Queryable`] hands out [`Querier`]s over an inclusive millisecond range; a querier
//!   selects series by [`Matcher`]s into a [`SeriesSet`] and answers label-name and
//!   label-value questions, with [`Warnings`] beside every result.
//! - [`MergeQuerier`] merges several queriers (head + blocks, local + remote), [`Fanout`]
//!   writes to a primary and secondaries, and `MemStorage` (feature `test-util`) is a
//!   small reference implementation for tests of upper layers.
//!
//! The traits are object safe: a query borrows a `&dyn Queryable`, a scrape loop keeps an
//! `Arc<dyn Appendable>`. Implementations stay monomorphic inside their hot loops.
//!
//! This module depends only on `ember-exposition`, never on the engine's modules, so it can
//! move into its own crate the day something outside ember-tsdb implements it (a test
//! guards this).

use std::fmt;
use std::sync::Arc;

use ember_exposition::{Exemplar, Labels, Matcher, MetricType, Timestamp};

mod fanout;
#[cfg(feature = "test-util")]
mod mem;
mod merge;

pub use fanout::Fanout;
#[cfg(feature = "test-util")]
pub use mem::MemStorage;
pub use merge::{MergeQuerier, MergedSeries};

/// A reference to a series, stable for the series' life in one storage.
///
/// An appender returns it from [`Appender::append`]; passing it back on the next append
/// skips the label lookup. A reference the storage no longer knows is not an error: the
/// storage falls back to the labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u64);

/// A sample value.
///
/// Only floats today; native histograms will be a second variant, so match with a
/// wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A float sample (including the staleness marker [`ember_exposition::STALE_NAN`]).
    Float(f64),
}

impl Value {
    /// The float, if this is a float sample.
    #[inline]
    pub fn as_float(self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(f),
        }
    }

    /// Bit-level equality: NaNs with the same payload are equal, `0.0` and `-0.0` are not.
    #[inline]
    pub fn bit_eq(self, other: Value) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
        }
    }
}

/// One stored sample: a timestamp and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Milliseconds since the epoch.
    pub t: Timestamp,
    /// The value.
    pub v: Value,
}

impl Point {
    /// A float point.
    #[inline]
    pub fn float(t: Timestamp, v: f64) -> Self {
        Point { t, v: Value::Float(v) }
    }

    /// Bit-level equality of time and value.
    #[inline]
    pub fn bit_eq(&self, other: &Point) -> bool {
        self.t == other.t && self.v.bit_eq(other.v)
    }
}

/// Metric metadata carried along an append.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// The family's type.
    pub metric_type: MetricType,
    /// HELP text.
    pub help: String,
    /// UNIT, empty when none.
    pub unit: String,
}

/// Optional data carried by an append besides the sample.
#[derive(Debug, Clone, Default)]
pub struct AppendOptions {
    /// Exemplars observed with the sample.
    pub exemplars: Vec<Exemplar>,
    /// The family's metadata, when the scrape knows it.
    pub metadata: Option<Metadata>,
    /// The created timestamp (`_created`) of a counter, summary or histogram, if known.
    pub created_timestamp: Option<Timestamp>,
}

impl AppendOptions {
    /// No exemplars, metadata or created timestamp.
    pub const NONE: &'static AppendOptions =
        &AppendOptions { exemplars: Vec::new(), metadata: None, created_timestamp: None };
}

/// What went wrong with an append, as a countable kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AppendErrorKind {
    /// Older than the newest sample of the series, and no out-of-order window applies.
    OutOfOrder,
    /// Older than the oldest time the storage still accepts (before its truncation point).
    OutOfBounds,
    /// Out of order and older than the out-of-order window allows.
    TooOld,
    /// Same timestamp as a stored sample, different value.
    DuplicateTimestamp,
    /// The label set is empty, has an empty name, or repeats a name.
    InvalidLabels,
    /// The value kind is not supported by this storage.
    UnsupportedValue,
    /// The storage has run out of series identifiers or hit a configured series limit.
    SeriesLimit,
    /// The storage is closed.
    Closed,
    /// The batch could not be made durable (the write-ahead log failed to write).
    Io,
}

impl AppendErrorKind {
    /// A short stable name, usable as a metric label (`out_of_order`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AppendErrorKind::OutOfOrder => "out_of_order",
            AppendErrorKind::OutOfBounds => "out_of_bounds",
            AppendErrorKind::TooOld => "too_old",
            AppendErrorKind::DuplicateTimestamp => "duplicate_timestamp",
            AppendErrorKind::InvalidLabels => "invalid_labels",
            AppendErrorKind::UnsupportedValue => "unsupported_value",
            AppendErrorKind::SeriesLimit => "series_limit",
            AppendErrorKind::Closed => "closed",
            AppendErrorKind::Io => "io",
        }
    }
}

/// A rejected append: the kind, and the sample's timestamp when there was one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendError {
    /// What went wrong.
    pub kind: AppendErrorKind,
    /// The timestamp of the rejected sample, if the error is about one sample.
    pub timestamp: Option<Timestamp>,
}

impl AppendError {
    /// An error of `kind` about the sample at `t`.
    pub fn at(kind: AppendErrorKind, t: Timestamp) -> Self {
        AppendError { kind, timestamp: Some(t) }
    }

    /// An error of `kind` not tied to one sample.
    pub fn new(kind: AppendErrorKind) -> Self {
        AppendError { kind, timestamp: None }
    }
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            AppendErrorKind::OutOfOrder => "out of order sample",
            AppendErrorKind::OutOfBounds => "out of bounds",
            AppendErrorKind::TooOld => "too old sample",
            AppendErrorKind::DuplicateTimestamp => "duplicate sample for timestamp",
            AppendErrorKind::InvalidLabels => "invalid label set",
            AppendErrorKind::UnsupportedValue => "unsupported value type",
            AppendErrorKind::SeriesLimit => "series limit reached",
            AppendErrorKind::Closed => "storage closed",
            AppendErrorKind::Io => "write-ahead log write failed",
        };
        match self.timestamp {
            Some(t) => write!(f, "{what} (timestamp {t})"),
            None => f.write_str(what),
        }
    }
}

impl std::error::Error for AppendError {}

/// What went wrong with a read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// `mint > maxt`.
    InvalidTimeRange {
        /// The requested start.
        mint: Timestamp,
        /// The requested end.
        maxt: Timestamp,
    },
    /// The storage is closed.
    Closed,
    /// Stored data could not be decoded.
    Corruption,
}

/// A failed read: the kind, and which storage said so (for merged reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// What went wrong.
    pub kind: StorageErrorKind,
    /// The storage that failed, when known (e.g. `"head"`).
    pub source_name: Option<Arc<str>>,
}

impl StorageError {
    /// An error of `kind` from an unnamed storage.
    pub fn new(kind: StorageErrorKind) -> Self {
        StorageError { kind, source_name: None }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.source_name {
            write!(f, "{s}: ")?;
        }
        match &self.kind {
            StorageErrorKind::InvalidTimeRange { mint, maxt } => write!(f, "invalid time range [{mint}, {maxt}]"),
            StorageErrorKind::Closed => f.write_str("storage closed"),
            StorageErrorKind::Corruption => f.write_str("corrupted data"),
        }
    }
}

impl std::error::Error for StorageError {}

/// A non-fatal problem reported beside a result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A secondary storage failed; its data is missing from the result.
    SecondaryFailed(StorageError),
    /// A result was truncated to a limit.
    Truncated {
        /// The limit applied.
        limit: usize,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::SecondaryFailed(e) => write!(f, "secondary storage failed: {e}"),
            Warning::Truncated { limit } => write!(f, "results truncated to {limit}"),
        }
    }
}

/// Warnings beside a result, in the order they arose.
pub type Warnings = Vec<Warning>;

/// A result with the warnings that came with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Warned<T> {
    /// The result.
    pub value: T,
    /// Problems that did not prevent it.
    pub warnings: Warnings,
}

impl<T> Warned<T> {
    /// A result without warnings.
    pub fn ok(value: T) -> Self {
        Warned { value, warnings: Vec::new() }
    }
}

/// Hints an engine gives [`Querier::select`] so the storage can do less. A storage may
/// ignore them; results must be correct either way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectHints {
    /// Start of the data the caller needs (inclusive ms).
    pub start: Timestamp,
    /// End of the data the caller needs (inclusive ms).
    pub end: Timestamp,
    /// Evaluation step of a range query, if any.
    pub step: Option<i64>,
    /// The range of a range selector (`[5m]`), if any.
    pub range: Option<i64>,
    /// The function around the selector (`rate`, `series` for metadata only), if any.
    pub func: Option<String>,
    /// Labels of an enclosing aggregation's `by`/`without` clause.
    pub grouping: Vec<String>,
    /// Whether `grouping` is a `by` (true) or `without` (false) list.
    pub by: bool,
}

/// An iterator over a series' samples in timestamp order.
///
/// Only [`SampleIterator::next`] and [`SampleIterator::at`] are required; chunk iterators
/// override [`SampleIterator::seek`] to skip whole chunks.
pub trait SampleIterator: Send {
    /// Advances to the next sample and returns it, or `None` at the end.
    fn next(&mut self) -> Option<Point>;

    /// The sample last returned by `next` or `seek`, if any.
    fn at(&self) -> Option<Point>;

    /// Advances to the first sample at or after `t` and returns it. Never moves backwards:
    /// if the current sample is already at or after `t`, returns it again.
    fn seek(&mut self, t: Timestamp) -> Option<Point> {
        if let Some(p) = self.at() {
            if p.t >= t {
                return Some(p);
            }
        }
        while let Some(p) = self.next() {
            if p.t >= t {
                return Some(p);
            }
        }
        None
    }

    /// An error that ended iteration early, if any.
    fn error(&self) -> Option<StorageError> {
        None
    }
}

/// A series: its labels and a way to iterate its samples (as often as needed).
pub trait Series: Send + Sync {
    /// The label set.
    fn labels(&self) -> &Labels;
    /// A fresh iterator over the samples.
    fn iter(&self) -> Box<dyn SampleIterator + '_>;
}

/// A series held as a vector of points, sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub struct VecSeries {
    /// The labels.
    pub labels: Labels,
    /// The points, sorted by timestamp, at most one per timestamp.
    pub points: Vec<Point>,
}

impl Series for VecSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(SliceIterator::new(self.points.as_slice()))
    }
}

/// A [`SampleIterator`] over sorted points held in `P` (a slice, or an owned `Vec`),
/// seeking by binary search.
#[derive(Debug, Clone)]
pub struct PointsIterator<P> {
    points: P,
    /// Index of the next point to return.
    next: usize,
}

/// A [`PointsIterator`] over a borrowed slice.
pub type SliceIterator<'a> = PointsIterator<&'a [Point]>;

impl<P: AsRef<[Point]>> PointsIterator<P> {
    /// Iterates `points`, which must be sorted by timestamp.
    pub fn new(points: P) -> Self {
        PointsIterator { points, next: 0 }
    }
}

impl<P: AsRef<[Point]> + Send> SampleIterator for PointsIterator<P> {
    #[inline]
    fn next(&mut self) -> Option<Point> {
        let points = self.points.as_ref();
        let p = points.get(self.next).copied();
        self.next = (self.next + 1).min(points.len() + 1);
        p
    }

    fn at(&self) -> Option<Point> {
        self.next.checked_sub(1).and_then(|i| self.points.as_ref().get(i).copied())
    }

    fn seek(&mut self, t: Timestamp) -> Option<Point> {
        if let Some(p) = self.at() {
            if p.t >= t {
                return Some(p);
            }
        }
        let points = self.points.as_ref();
        let start = self.next.min(points.len());
        self.next = start + points[start..].partition_point(|p| p.t < t);
        self.next()
    }
}

/// Collects an iterator's remaining points.
pub fn collect_points(it: &mut dyn SampleIterator) -> Vec<Point> {
    let mut out = Vec::new();
    while let Some(p) = it.next() {
        out.push(p);
    }
    out
}

/// The series a [`Querier::select`] found, with warnings.
///
/// Iterating yields each series (or an error that ends the set). When the select asked
/// for `sorted`, series come in label order.
pub struct SeriesSet {
    inner: Box<dyn Iterator<Item = Result<Box<dyn Series>, StorageError>> + Send>,
    warnings: Warnings,
}

impl SeriesSet {
    /// A set from series already in the order the caller promised.
    pub fn from_vec(series: Vec<Box<dyn Series>>, warnings: Warnings) -> Self {
        SeriesSet { inner: Box::new(series.into_iter().map(Ok)), warnings }
    }

    /// A set from any iterator of series or errors.
    pub fn from_iter<I>(iter: I, warnings: Warnings) -> Self
    where
        I: Iterator<Item = Result<Box<dyn Series>, StorageError>> + Send + 'static,
    {
        SeriesSet { inner: Box::new(iter), warnings }
    }

    /// A set with no series and one error.
    pub fn error(err: StorageError) -> Self {
        SeriesSet { inner: Box::new(std::iter::once(Err(err))), warnings: Vec::new() }
    }

    /// The empty set.
    pub fn empty() -> Self {
        SeriesSet::from_vec(Vec::new(), Vec::new())
    }

    /// Warnings known so far.
    pub fn warnings(&self) -> &Warnings {
        &self.warnings
    }

    /// Takes the warnings out of the set.
    pub fn take_warnings(&mut self) -> Warnings {
        std::mem::take(&mut self.warnings)
    }

    /// Collects every series, or the first error.
    pub fn collect_all(self) -> Result<Warned<Vec<Box<dyn Series>>>, StorageError> {
        let warnings = self.warnings;
        let value = self.inner.collect::<Result<Vec<_>, _>>()?;
        Ok(Warned { value, warnings })
    }
}

impl Iterator for SeriesSet {
    type Item = Result<Box<dyn Series>, StorageError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl fmt::Debug for SeriesSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesSet").field("warnings", &self.warnings).finish_non_exhaustive()
    }
}

/// Reads series over a fixed time range. Obtained from [`Queryable::querier`].
pub trait Querier: Send + Sync {
    /// The series matching all `matchers` with data in the querier's range; in label
    /// order when `sorted`. Iterators yield only samples inside the range; a series whose
    /// chunks overlap the range may still yield none. An empty matcher list selects nothing.
    fn select(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> SeriesSet;

    /// The sorted label names of series matching `matchers` (all series when empty).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Warned<Vec<String>>, StorageError>;

    /// The sorted values of label `name` among series matching `matchers`.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Warned<Vec<String>>, StorageError>;
}

/// Something that can be read: hands out queriers.
pub trait Queryable: Send + Sync {
    /// A querier over `[mint, maxt]` (inclusive milliseconds). It sees the data committed
    /// before it was created, and no batch committed later.
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError>;
}

/// Buffers one batch of appends.
pub trait Appender: Send {
    /// Adds a sample to the batch, by cached reference when `series` is given (falling back
    /// to `labels` when the reference is unknown), and returns the series' reference.
    /// Samples the storage would reject fail here with a countable error; the rest of the
    /// batch is unaffected.
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError>;

    /// Adds a sample to the series `series` refers to without naming its labels, for a
    /// caller that keeps references but not label sets (a scrape cache). `Ok(None)` means
    /// nothing was added: the reference is unknown (any more) or this storage cannot append
    /// by reference alone, and the caller calls [`Appender::append`] with the labels. The
    /// default always answers `Ok(None)`.
    fn append_ref(
        &mut self,
        series: SeriesRef,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> Result<Option<SeriesRef>, AppendError> {
        let _ = (series, t, v, opts);
        Ok(None)
    }

    /// Makes the whole batch visible to queriers created from now on, atomically.
    fn commit(self: Box<Self>) -> Result<(), AppendError>;

    /// Discards the batch; nothing of it is ever visible.
    fn rollback(self: Box<Self>) -> Result<(), AppendError>;
}

/// Something that can be written: hands out appenders.
pub trait Appendable: Send + Sync {
    /// A new, empty appender.
    fn appender(&self) -> Box<dyn Appender>;
}

/// Both sides of a storage, for [`Fanout`].
pub trait Storage: Appendable + Queryable {}

impl<T: Appendable + Queryable + ?Sized> Storage for T {}

/// Whether `labels` is a valid series label set: non-empty, no empty name, names strictly
/// increasing (what [`Labels`] already guarantees when built normally).
pub fn validate_labels(labels: &Labels) -> Result<(), AppendError> {
    let s = labels.as_slice();
    if s.is_empty() || s.iter().any(|l| l.name.is_empty()) || !s.windows(2).all(|w| w[0].name < w[1].name) {
        return Err(AppendError::new(AppendErrorKind::InvalidLabels));
    }
    Ok(())
}

/// Whether `labels` matches every matcher.
pub fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_iterator_seek() {
        let pts: Vec<Point> = (0..10).map(|i| Point::float(i * 10, i as f64)).collect();
        let mut it = SliceIterator::new(pts.as_slice());
        assert_eq!(it.at(), None);
        assert_eq!(it.seek(35).unwrap().t, 40);
        assert_eq!(it.seek(0).unwrap().t, 40, "seek never moves back");
        assert_eq!(it.next().unwrap().t, 50);
        assert_eq!(it.seek(95), None);
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    /// `storage` must not depend on the engine: it moves to its own crate one day.
    #[test]
    fn storage_does_not_depend_on_the_engine() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            // Built at run time so this file does not match itself.
            for module in ["head", "chunks", "wal", "block", "index"] {
                let forbidden = format!("crate::{module}");
                assert!(!text.contains(&forbidden), "{} uses {forbidden}", path.display());
            }
            checked += 1;
        }
        assert!(checked >= 3);
    }
}
