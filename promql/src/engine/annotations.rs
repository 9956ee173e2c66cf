//! Annotations: the warnings and infos a query result carries beside its value.
//!
//! The wording follows Prometheus's, so a PromQL test script's `expect warn msg: …` lines
//! compare equal. An annotation is a [`AnnotationKind`] (what happened) plus the byte range of
//! the expression it concerns; [`Annotation::message`] renders it against the query text as
//! `PromQL warning: … (line:col)`.

use std::fmt;

use crate::parser::PosRange;

/// How serious an annotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Probably a wrong result (`PromQL warning:`).
    Warning,
    /// Possibly a wrong result (`PromQL info:`).
    Info,
}

/// What an annotation reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AnnotationKind {
    /// A quantile parameter outside `[0, 1]` (or NaN) was given to `quantile`,
    /// `quantile_over_time` or `histogram_quantile`.
    InvalidQuantile(f64),
    /// A `limit_ratio` ratio outside `[-1, 1]`; the value given and the value used.
    InvalidRatio {
        /// The ratio in the query.
        given: f64,
        /// The ratio used instead.
        capped: f64,
    },
    /// A classic histogram bucket series whose `le` label is missing or not a number.
    BadBucketLabel {
        /// The `le` value seen (empty when missing).
        le: String,
        /// The metric name of the bucket series.
        metric_name: String,
    },
    /// `histogram_quantile` had to fix non-monotonic bucket counts.
    HistogramQuantileForcedMonotonicity {
        /// The metric name of the buckets.
        metric_name: String,
    },
    /// `rate`/`increase`/… on a metric whose name does not look like a counter.
    PossibleNonCounter {
        /// The metric name.
        metric_name: String,
    },
    /// `sort`-like functions in a range query, where they have no effect.
    SortInRangeQuery,
    /// A vector mixed floats and native histograms for one metric name.
    MixedFloatsHistograms {
        /// The metric name.
        metric_name: String,
    },
    /// A vector mixed classic and native histograms for one metric name.
    MixedClassicNativeHistograms {
        /// The metric name.
        metric_name: String,
    },
    /// A native histogram was ignored by an aggregation that only takes floats.
    HistogramIgnoredInAggregation {
        /// The aggregation operator (`topk`, `quantile`, …).
        aggregation: String,
    },
}

impl AnnotationKind {
    /// Whether this is a warning or an info.
    pub fn severity(&self) -> Severity {
        match self {
            AnnotationKind::HistogramQuantileForcedMonotonicity { .. }
            | AnnotationKind::PossibleNonCounter { .. }
            | AnnotationKind::HistogramIgnoredInAggregation { .. } => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

impl fmt::Display for AnnotationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnnotationKind::InvalidQuantile(q) => {
                write!(f, "quantile value should be between 0 and 1, got {}", fmt_float(*q))
            }
            AnnotationKind::InvalidRatio { given, capped } => write!(
                f,
                "ratio value should be between -1 and 1, got {}, capping to {}",
                fmt_float(*given),
                fmt_float(*capped)
            ),
            AnnotationKind::BadBucketLabel { le, metric_name } => write!(
                f,
                "bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {metric_name:?}"
            ),
            AnnotationKind::HistogramQuantileForcedMonotonicity { metric_name } => write!(
                f,
                "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {metric_name:?}"
            ),
            AnnotationKind::PossibleNonCounter { metric_name } => write!(
                f,
                "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric_name:?}"
            ),
            AnnotationKind::SortInRangeQuery => {
                f.write_str("sort is ineffective for range queries since results are always ordered by labels")
            }
            AnnotationKind::MixedFloatsHistograms { metric_name } => {
                write!(f, "encountered a mix of histograms and floats for metric name {metric_name:?}")
            }
            AnnotationKind::MixedClassicNativeHistograms { metric_name } => {
                write!(f, "vector contains a mix of classic and native histograms for metric name {metric_name:?}")
            }
            AnnotationKind::HistogramIgnoredInAggregation { aggregation } => {
                write!(f, "ignored histogram in {aggregation} aggregation")
            }
        }
    }
}

/// Formats a float the way Go's `%g` does for the values annotations show.
fn fmt_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

/// One annotation: what happened and where in the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// What happened.
    pub kind: AnnotationKind,
    /// The byte range of the expression it concerns.
    pub pos: PosRange,
}

impl Annotation {
    /// An annotation of `kind` at `pos`.
    pub fn new(kind: AnnotationKind, pos: PosRange) -> Self {
        Annotation { kind, pos }
    }

    /// Warning or info.
    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }

    /// The full message as Prometheus prints it, with the 1-based line and column of the
    /// expression's start in `query`: `PromQL warning: … (1:6)`.
    pub fn message(&self, query: &str) -> String {
        let (line, col) = line_col(query, self.pos.start);
        let prefix = match self.severity() {
            Severity::Warning => "PromQL warning",
            Severity::Info => "PromQL info",
        };
        format!("{prefix}: {} ({line}:{col})", self.kind)
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The annotations of one query, in the order they were raised, without duplicates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations(Vec<Annotation>);

impl Annotations {
    /// No annotations.
    pub fn new() -> Self {
        Annotations(Vec::new())
    }

    /// Adds `a` unless an equal annotation is already present.
    pub fn push(&mut self, a: Annotation) {
        if !self.0.contains(&a) {
            self.0.push(a);
        }
    }

    /// Adds every annotation of `other`.
    pub fn extend(&mut self, other: Annotations) {
        for a in other.0 {
            self.push(a);
        }
    }

    /// All annotations.
    pub fn as_slice(&self) -> &[Annotation] {
        &self.0
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Annotation> {
        self.0.iter().filter(|a| a.severity() == Severity::Warning)
    }

    /// The infos.
    pub fn infos(&self) -> impl Iterator<Item = &Annotation> {
        self.0.iter().filter(|a| a.severity() == Severity::Info)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_prometheus_wording_and_position() {
        let q = "quantile(NaN, x)";
        let a = Annotation::new(AnnotationKind::InvalidQuantile(f64::NAN), PosRange::new(9, 12));
        assert_eq!(a.message(q), "PromQL warning: quantile value should be between 0 and 1, got NaN (1:10)");
        let a = Annotation::new(AnnotationKind::InvalidRatio { given: 1.1, capped: 1.0 }, PosRange::new(0, 1));
        assert_eq!(
            a.message("x"),
            "PromQL warning: ratio value should be between -1 and 1, got 1.1, capping to 1 (1:1)"
        );
        let a = Annotation::new(AnnotationKind::PossibleNonCounter { metric_name: "m".into() }, PosRange::new(3, 4));
        assert_eq!(
            a.message("a\nbm"),
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"m\" (2:2)"
        );
    }

    #[test]
    fn duplicates_are_kept_once() {
        let mut all = Annotations::new();
        let a = Annotation::new(AnnotationKind::SortInRangeQuery, PosRange::new(0, 4));
        all.push(a.clone());
        all.push(a);
        assert_eq!(all.as_slice().len(), 1);
        assert_eq!(all.warnings().count(), 1);
        assert_eq!(all.infos().count(), 0);
    }
}
