//! [`MergeQuerier`]: one querier over several, merging their sorted series sets.

use std::cmp::Ordering;

use ember_exposition::{Labels, Matcher, Timestamp};

use super::{Point, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, Warned, Warning, Warnings};

/// Reads from several queriers as one.
///
/// Series with equal labels from different queriers become one [`MergedSeries`] whose
/// samples are merged by time; when two sources have a sample at the same timestamp, the
/// one from the earlier querier wins (sources are expected to agree). Errors of a
/// primary querier fail the read; errors of a secondary become [`Warning::SecondaryFailed`].
pub struct MergeQuerier {
    queriers: Vec<(Box<dyn Querier>, bool)>,
}

impl MergeQuerier {
    /// A merge of `primaries` (whose errors fail reads) and `secondaries` (whose errors
    /// become warnings).
    pub fn new(primaries: Vec<Box<dyn Querier>>, secondaries: Vec<Box<dyn Querier>>) -> Self {
        let queriers =
            primaries.into_iter().map(|q| (q, false)).chain(secondaries.into_iter().map(|q| (q, true))).collect();
        MergeQuerier { queriers }
    }

    fn merge_strings(
        &self,
        f: impl Fn(&dyn Querier) -> Result<Warned<Vec<String>>, StorageError>,
    ) -> Result<Warned<Vec<String>>, StorageError> {
        let mut out: Vec<String> = Vec::new();
        let mut warnings = Warnings::new();
        for (q, secondary) in &self.queriers {
            match f(q.as_ref()) {
                Ok(w) => {
                    out.extend(w.value);
                    warnings.extend(w.warnings);
                }
                Err(e) if *secondary => warnings.push(Warning::SecondaryFailed(e)),
                Err(e) => return Err(e),
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(Warned { value: out, warnings })
    }
}

impl Querier for MergeQuerier {
    fn select(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> SeriesSet {
        if self.queriers.len() == 1 {
            return self.queriers[0].0.select(sorted, hints, matchers);
        }
        let mut sets: Vec<Vec<Box<dyn Series>>> = Vec::with_capacity(self.queriers.len());
        let mut warnings = Warnings::new();
        for (q, secondary) in &self.queriers {
            // Merging needs every input sorted, whatever the caller asked for.
            match q.select(true, hints, matchers).collect_all() {
                Ok(w) => {
                    warnings.extend(w.warnings);
                    sets.push(w.value);
                }
                Err(e) if *secondary => warnings.push(Warning::SecondaryFailed(e)),
                Err(e) => return SeriesSet::error(e),
            }
        }
        SeriesSet::from_vec(merge_sorted_sets(sets), warnings)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Warned<Vec<String>>, StorageError> {
        self.merge_strings(|q| q.label_names(matchers))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Warned<Vec<String>>, StorageError> {
        self.merge_strings(|q| q.label_values(name, matchers))
    }
}

/// Merges label-sorted lists of series; equal label sets become one [`MergedSeries`].
pub(crate) fn merge_sorted_sets(sets: Vec<Vec<Box<dyn Series>>>) -> Vec<Box<dyn Series>> {
    let mut iters: Vec<std::iter::Peekable<std::vec::IntoIter<Box<dyn Series>>>> =
        sets.into_iter().map(|s| s.into_iter().peekable()).collect();
    let mut out: Vec<Box<dyn Series>> = Vec::new();
    loop {
        let mut min: Option<Labels> = None;
        for it in iters.iter_mut() {
            if let Some(s) = it.peek() {
                if min.as_ref().is_none_or(|m| s.labels().cmp(m) == Ordering::Less) {
                    min = Some(s.labels().clone());
                }
            }
        }
        let Some(min) = min else { break };
        let mut same: Vec<Box<dyn Series>> = Vec::new();
        for it in iters.iter_mut() {
            if it.peek().is_some_and(|s| *s.labels() == min) {
                same.extend(it.next());
            }
        }
        if same.len() == 1 {
            out.extend(same);
        } else {
            out.push(Box::new(MergedSeries { labels: min, parts: same }));
        }
    }
    out
}

/// Several series with the same labels, read as one.
pub struct MergedSeries {
    labels: Labels,
    parts: Vec<Box<dyn Series>>,
}

impl MergedSeries {
    /// Merges `parts`, which must all carry `labels`. Earlier parts win on equal timestamps.
    pub fn new(labels: Labels, parts: Vec<Box<dyn Series>>) -> Self {
        MergedSeries { labels, parts }
    }
}

impl Series for MergedSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        let iters = self.parts.iter().map(|p| (p.iter(), None)).collect();
        Box::new(MergeIterator { iters, cur: None, started: false })
    }
}

/// A k-way merge of sample iterators that drops repeated timestamps.
pub(crate) struct MergeIterator<'a> {
    /// Each source with its current (not yet returned) point.
    iters: Vec<(Box<dyn SampleIterator + 'a>, Option<Point>)>,
    cur: Option<Point>,
    started: bool,
}

impl MergeIterator<'_> {
    fn pick(&mut self) -> Option<Point> {
        let mut best: Option<Point> = None;
        for (_, head) in &self.iters {
            if let Some(p) = head {
                if best.is_none_or(|b| p.t < b.t) {
                    best = Some(*p);
                }
            }
        }
        let best = best?;
        for (it, head) in &mut self.iters {
            if head.is_some_and(|p| p.t == best.t) {
                *head = it.next();
            }
        }
        self.cur = Some(best);
        Some(best)
    }
}

impl SampleIterator for MergeIterator<'_> {
    fn next(&mut self) -> Option<Point> {
        if !self.started {
            self.started = true;
            for (it, head) in &mut self.iters {
                *head = it.next();
            }
        }
        let p = self.pick();
        if p.is_none() {
            self.cur = None;
        }
        p
    }

    fn at(&self) -> Option<Point> {
        self.cur
    }

    fn seek(&mut self, t: Timestamp) -> Option<Point> {
        if let Some(p) = self.cur {
            if p.t >= t {
                return Some(p);
            }
        }
        self.started = true;
        for (it, head) in &mut self.iters {
            if head.is_none_or(|p| p.t < t) {
                *head = it.seek(t);
            }
        }
        self.pick()
    }

    fn error(&self) -> Option<StorageError> {
        self.iters.iter().find_map(|(it, _)| it.error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{VecSeries, collect_points};
    use ember_exposition::labels;

    fn series(l: Labels, ts: &[(i64, f64)]) -> Box<dyn Series> {
        Box::new(VecSeries { labels: l, points: ts.iter().map(|&(t, v)| Point::float(t, v)).collect() })
    }

    #[test]
    fn merges_and_deduplicates() {
        let a = vec![series(labels! {"a" => "1"}, &[(1, 1.0), (3, 3.0)]), series(labels! {"a" => "3"}, &[(1, 1.0)])];
        let b = vec![series(labels! {"a" => "1"}, &[(2, 2.0), (3, 30.0), (4, 4.0)]), series(labels! {"a" => "2"}, &[])];
        let out = merge_sorted_sets(vec![a, b]);
        let names: Vec<String> = out.iter().map(|s| s.labels().to_string()).collect();
        assert_eq!(names, [r#"{a="1"}"#, r#"{a="2"}"#, r#"{a="3"}"#]);
        let pts = collect_points(out[0].iter().as_mut());
        assert_eq!(
            pts.iter().map(|p| (p.t, p.v.as_float().unwrap())).collect::<Vec<_>>(),
            [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]
        );
        let mut it = out[0].iter();
        assert_eq!(it.seek(2).unwrap().t, 2);
        assert_eq!(it.seek(1).unwrap().t, 2);
        assert_eq!(it.next().unwrap().t, 3);
        assert_eq!(it.seek(4).unwrap().t, 4);
        assert_eq!(it.next(), None);
    }
}
