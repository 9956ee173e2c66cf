//! Exemplars: a trace reference attached to a counter or a histogram bucket.

use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::encode::render_pairs;
use crate::error::{ErrorKind, Result, check_label_names};

/// The latest exemplar of a counter or bucket, as it will be exposed.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarValue {
    /// The exemplar's labels, e.g. `trace_id`.
    pub pairs: Vec<(Box<str>, Box<str>)>,
    /// The labels pre-rendered as `a="x",b="y"`.
    pub labels: String,
    /// The observed value (the increment for counters).
    pub value: f64,
    /// When it was recorded, in seconds since the Unix epoch.
    pub timestamp: f64,
}

/// Seconds since the Unix epoch, as OpenMetrics writes timestamps.
pub(crate) fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A slot holding the latest exemplar; touched only by the exemplar paths and by scrapes.
#[derive(Debug, Default)]
pub(crate) struct ExemplarSlot(Mutex<Option<ExemplarValue>>);

impl ExemplarSlot {
    pub fn set(&self, labels: &[(&str, &str)], value: f64) -> Result<()> {
        let names: Vec<&str> = labels.iter().map(|(n, _)| *n).collect();
        check_label_names(&names)?;
        let chars: usize = labels.iter().map(|(n, v)| n.chars().count() + v.chars().count()).sum();
        if chars > 128 {
            return Err(ErrorKind::ExemplarTooLong(chars).into());
        }
        let ex = ExemplarValue {
            pairs: labels.iter().map(|(n, v)| (Box::from(*n), Box::from(*v))).collect(),
            labels: render_pairs(labels.iter().copied()),
            value,
            timestamp: now_seconds(),
        };
        *self.0.lock() = Some(ex);
        Ok(())
    }

    pub fn get(&self) -> Option<ExemplarValue> {
        self.0.lock().clone()
    }
}
