//! [`Info`] and [`StateSet`]: textual information and sets of boolean states.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use ember_exposition::MetricType;

use crate::encode::{LabelBlock, Metric, MetricEncoder, render_pairs};
use crate::error::{ErrorKind, Result, check_label_names};

/// An info metric: constant labels with the value 1, exposed as `<name>_info`.
///
/// ```
/// let build = ember_client::Info::new(&[("version", "1.2.3"), ("revision", "abc")]).unwrap();
/// # let _ = build;
/// ```
#[derive(Debug, Clone)]
pub struct Info {
    names: Arc<[Box<str>]>,
    values: Arc<[Box<str>]>,
    rendered: Arc<str>,
}

impl Info {
    /// An info metric with these label pairs.
    pub fn new(pairs: &[(&str, &str)]) -> Result<Self> {
        let names: Vec<&str> = pairs.iter().map(|(n, _)| *n).collect();
        check_label_names(&names)?;
        Ok(Info {
            names: names.iter().map(|n| Box::from(*n)).collect(),
            values: pairs.iter().map(|(_, v)| Box::from(*v)).collect(),
            rendered: render_pairs(pairs.iter().copied()).into(),
        })
    }
}

impl Metric for Info {
    fn metric_type(&self) -> MetricType {
        MetricType::Info
    }

    fn encode(&self, enc: &mut MetricEncoder<'_>) {
        // Info labels come after any family labels: encode through a nested label block.
        let block = LabelBlock { rendered: &self.rendered, names: &self.names, values: &self.values };
        enc.with_extra_labels(block).sample("_info", None, 1u64);
    }
}

/// A state set: a fixed list of states, each true or false, exposed with one series per
/// state (the state name is the value of a label named after the family).
#[derive(Debug, Clone)]
pub struct StateSet {
    states: Arc<[Box<str>]>,
    values: Arc<[AtomicBool]>,
}

impl StateSet {
    /// A state set with these states, all false.
    pub fn new(states: &[&str]) -> Result<Self> {
        if let Some((_, s)) = states.iter().enumerate().find(|(i, s)| states[..*i].contains(s)) {
            return Err(ErrorKind::DuplicateLabelName((*s).to_string()).into());
        }
        Ok(StateSet {
            states: states.iter().map(|s| Box::from(*s)).collect(),
            values: states.iter().map(|_| AtomicBool::new(false)).collect(),
        })
    }

    /// Sets one state; returns false when there is no such state.
    pub fn set(&self, state: &str, on: bool) -> bool {
        match self.states.iter().position(|s| &**s == state) {
            Some(i) => {
                self.values[i].store(on, Relaxed);
                true
            }
            None => false,
        }
    }

    /// Makes `state` the only true state (an enum); returns false when there is no such state.
    pub fn set_only(&self, state: &str) -> bool {
        let Some(i) = self.states.iter().position(|s| &**s == state) else { return false };
        for (j, v) in self.values.iter().enumerate() {
            v.store(i == j, Relaxed);
        }
        true
    }

    /// Whether `state` is true (false for unknown states).
    pub fn get(&self, state: &str) -> bool {
        self.states.iter().position(|s| &**s == state).is_some_and(|i| self.values[i].load(Relaxed))
    }
}

impl Metric for StateSet {
    fn metric_type(&self) -> MetricType {
        MetricType::StateSet
    }

    fn encode(&self, enc: &mut MetricEncoder<'_>) {
        let name = enc.family_name();
        for (s, v) in self.states.iter().zip(self.values.iter()) {
            enc.sample("", Some((name, s)), u64::from(v.load(Relaxed)));
        }
    }
}
