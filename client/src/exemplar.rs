//! Exemplars: a trace reference attached to a counter or a histogram bucket.

use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Release};

use parking_lot::Mutex;

use crate::encode::write_pair;
use crate::error::{ErrorKind, Result};

/// The latest exemplar of a counter or bucket, as it will be exposed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExemplarValue {
    /// Names and values back to back; `spans` says where each ends.
    text: String,
    /// Per pair: the end of its name and the end of its value in `text`.
    spans: Vec<(u32, u32)>,
    /// The labels pre-rendered as `a="x",b="y"`.
    labels: String,
    /// The observed value (the increment for counters).
    pub value: f64,
    /// When it was recorded, in seconds since the Unix epoch.
    pub timestamp: f64,
}

impl ExemplarValue {
    /// The exemplar's labels as `(name, value)` pairs, e.g. `("trace_id", "4bf9…")`.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut at = 0usize;
        self.spans.iter().map(move |&(n, v)| {
            let (n, v) = (n as usize, v as usize);
            let pair = (&self.text[at..n], &self.text[n..v]);
            at = v;
            pair
        })
    }

    /// The labels rendered as they appear in OpenMetrics, `a="x",b="y"`.
    pub fn labels(&self) -> &str {
        &self.labels
    }

    /// Overwrites this exemplar in place, reusing its buffers: once they have grown to the
    /// size of the exemplars an application records, recording allocates nothing.
    fn overwrite(&mut self, labels: &[(&str, &str)], value: f64, timestamp: f64) {
        self.text.clear();
        self.spans.clear();
        self.labels.clear();
        for (i, (n, v)) in labels.iter().enumerate() {
            self.text.push_str(n);
            let name_end = self.text.len() as u32;
            self.text.push_str(v);
            self.spans.push((name_end, self.text.len() as u32));
            if i > 0 {
                self.labels.push(',');
            }
            write_pair(&mut self.labels, n, v);
        }
        self.value = value;
        self.timestamp = timestamp;
    }
}

/// Seconds since the Unix epoch, as OpenMetrics writes timestamps.
pub(crate) fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A slot holding the latest exemplar; touched only by the exemplar paths and by scrapes.
///
/// Recording takes the slot's (uncontended, unfair) mutex and rewrites the exemplar in
/// buffers it already owns, so after the first exemplar of a similar size it allocates
/// nothing; the plain `inc`/`observe` paths never touch the slot.
///
/// The exemplar lives in a box allocated at the first one, so a metric that never records
/// an exemplar carries only the slot's 16 bytes.
#[derive(Debug, Default)]
pub(crate) struct ExemplarSlot {
    /// Set once the first exemplar is in: until then a scrape skips the lock.
    present: AtomicBool,
    value: Mutex<Option<Box<ExemplarValue>>>,
}

impl ExemplarSlot {
    pub fn set(&self, labels: &[(&str, &str)], value: f64) -> Result<()> {
        check_label_name_pairs(labels)?;
        let chars: usize = labels.iter().map(|(n, v)| n.chars().count() + v.chars().count()).sum();
        if chars > 128 {
            return Err(ErrorKind::ExemplarTooLong(chars).into());
        }
        let timestamp = now_seconds();
        self.value.lock().get_or_insert_with(Box::default).overwrite(labels, value, timestamp);
        self.present.store(true, Release);
        Ok(())
    }

    pub fn get(&self) -> Option<ExemplarValue> {
        if !self.present.load(Acquire) {
            return None;
        }
        self.value.lock().as_deref().cloned()
    }
}

/// [`check_label_names`](crate::error::check_label_names) over the names of `pairs`,
/// without collecting them.
fn check_label_name_pairs(pairs: &[(&str, &str)]) -> Result<()> {
    for (i, (n, _)) in pairs.iter().enumerate() {
        if !ember_exposition::names::is_valid_legacy_label_name(n) || n.starts_with("__") {
            return Err(ErrorKind::InvalidLabelName(n.to_string()).into());
        }
        if pairs[..i].iter().any(|(m, _)| m == n) {
            return Err(ErrorKind::DuplicateLabelName(n.to_string()).into());
        }
    }
    Ok(())
}
