//! [`MemStorage`]: a small in-memory storage for tests of upper layers.

use std::sync::Arc;

use ember_exposition::{Labels, Matcher, Timestamp};
use hashbrown::HashMap;
use parking_lot::RwLock;

use super::{
    AppendError, AppendErrorKind, AppendOptions, Appendable, Appender, Point, Querier, Queryable, SelectHints, Series,
    SeriesRef, SeriesSet, StorageError, StorageErrorKind, Value, VecSeries, Warned, matches_all, validate_labels,
};

/// An in-memory storage with the same append rules as the head (no out-of-order window),
/// simple enough to be obviously right: a reference for tests, not for production.
///
/// Commits are applied under one write lock, so a batch is visible all at once; a querier
/// copies what it selects.
#[derive(Clone, Default)]
pub struct MemStorage {
    inner: Arc<RwLock<MemInner>>,
}

#[derive(Default)]
struct MemInner {
    series: Vec<VecSeries>,
    by_labels: HashMap<Labels, usize>,
}

impl MemStorage {
    /// An empty storage.
    pub fn new() -> Self {
        MemStorage::default()
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.inner.read().series.len()
    }
}

impl Appendable for MemStorage {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(MemAppender { inner: Arc::clone(&self.inner), pending: Vec::new() })
    }
}

struct MemAppender {
    inner: Arc<RwLock<MemInner>>,
    pending: Vec<(Labels, Point)>,
}

/// Checks `p` against the newest point `last` of its series.
fn check(last: Option<&Point>, p: &Point) -> Result<bool, AppendError> {
    match last {
        Some(l) if p.t < l.t => Err(AppendError::at(AppendErrorKind::OutOfOrder, p.t)),
        Some(l) if p.t == l.t && !l.v.bit_eq(p.v) => Err(AppendError::at(AppendErrorKind::DuplicateTimestamp, p.t)),
        Some(l) if p.t == l.t => Ok(false),
        _ => Ok(true),
    }
}

impl Appender for MemAppender {
    fn append(
        &mut self,
        _series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: Value,
        _opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError> {
        validate_labels(labels)?;
        let p = Point { t, v };
        let inner = self.inner.read();
        let idx = inner.by_labels.get(labels).copied();
        let pending_last = self.pending.iter().rev().find(|(l, _)| l == labels).map(|(_, p)| p);
        let last = pending_last.or_else(|| idx.and_then(|i| inner.series[i].points.last()));
        check(last, &p)?;
        drop(inner);
        self.pending.push((labels.clone(), p));
        // References of not-yet-created series are not stable here; the label lookup is.
        Ok(SeriesRef(idx.map_or(0, |i| i as u64 + 1)))
    }

    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        let mut inner = self.inner.write();
        for (labels, p) in self.pending {
            let idx = match inner.by_labels.get(&labels) {
                Some(&i) => i,
                None => {
                    let i = inner.series.len();
                    inner.series.push(VecSeries { labels: labels.clone(), points: Vec::new() });
                    inner.by_labels.insert(labels, i);
                    i
                }
            };
            let s = &mut inner.series[idx];
            if let Ok(true) = check(s.points.last(), &p) {
                s.points.push(p);
            }
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), AppendError> {
        Ok(())
    }
}

impl Queryable for MemStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        if mint > maxt {
            return Err(StorageError::new(StorageErrorKind::InvalidTimeRange { mint, maxt }));
        }
        Ok(Box::new(MemQuerier { inner: Arc::clone(&self.inner), mint, maxt }))
    }
}

struct MemQuerier {
    inner: Arc<RwLock<MemInner>>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl MemQuerier {
    fn matching(&self, matchers: &[Matcher]) -> Vec<VecSeries> {
        let inner = self.inner.read();
        let mut out: Vec<VecSeries> = inner
            .series
            .iter()
            .filter(|s| matches_all(&s.labels, matchers))
            .map(|s| VecSeries {
                labels: s.labels.clone(),
                points: s.points.iter().filter(|p| p.t >= self.mint && p.t <= self.maxt).copied().collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

impl Querier for MemQuerier {
    fn select(&self, _sorted: bool, _hints: Option<&SelectHints>, matchers: &[Matcher]) -> SeriesSet {
        if matchers.is_empty() {
            return SeriesSet::empty();
        }
        let series = self.matching(matchers).into_iter().map(|s| Box::new(s) as Box<dyn Series>).collect();
        SeriesSet::from_vec(series, Vec::new())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Warned<Vec<String>>, StorageError> {
        let mut names: Vec<String> =
            self.matching(matchers).iter().flat_map(|s| s.labels.iter().map(|l| l.name.clone())).collect();
        names.sort_unstable();
        names.dedup();
        Ok(Warned::ok(names))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Warned<Vec<String>>, StorageError> {
        let mut values: Vec<String> =
            self.matching(matchers).iter().filter_map(|s| s.labels.get(name).map(str::to_string)).collect();
        values.sort_unstable();
        values.dedup();
        Ok(Warned::ok(values))
    }
}
