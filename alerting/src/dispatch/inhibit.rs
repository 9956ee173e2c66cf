//! Inhibition: a firing source alert mutes target alerts with equal `equal` labels.
//!
//! Each rule indexes the fingerprints of its source alerts by a hash of their `equal`
//! label values, so deciding whether an alert is inhibited costs one hash lookup per
//! rule whose target matchers accept it, not a scan of all alerts.

use std::collections::{HashMap, HashSet};

use ember_exposition::{Labels, Timestamp};

use super::alert::Alert;
use super::config::InhibitRule;

#[derive(Debug)]
struct RuleIndex {
    rule: InhibitRule,
    /// hash of the `equal` values -> source fingerprints.
    sources: HashMap<u64, HashSet<u64>>,
}

/// Inhibition state for a configuration's `inhibit_rules`.
#[derive(Debug)]
pub struct Inhibitor {
    rules: Vec<RuleIndex>,
}

fn equal_hash(equal: &[String], labels: &Labels) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for n in equal {
        h.update(labels.get_or_empty(n).as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

impl Inhibitor {
    /// An inhibitor for `rules`.
    pub fn new(rules: &[InhibitRule]) -> Self {
        Inhibitor { rules: rules.iter().map(|r| RuleIndex { rule: r.clone(), sources: HashMap::new() }).collect() }
    }

    /// Records an alert that may act as a source.
    pub fn observe(&mut self, alert: &Alert) {
        for ri in &mut self.rules {
            if ri.rule.source_matchers.iter().all(|m| m.matches_labels(&alert.labels)) {
                ri.sources.entry(equal_hash(&ri.rule.equal, &alert.labels)).or_default().insert(alert.fingerprint());
            }
        }
    }

    /// Forgets source fingerprints no longer present in `alerts`.
    pub fn prune<A>(&mut self, alerts: &HashMap<u64, A>) {
        for ri in &mut self.rules {
            ri.sources.retain(|_, v| {
                v.retain(|fp| alerts.contains_key(fp));
                !v.is_empty()
            });
        }
    }

    /// Whether `labels` is inhibited at `now` by a firing alert in `alerts`.
    pub fn mutes<A: std::ops::Deref<Target = Alert>>(
        &self,
        labels: &Labels,
        alerts: &HashMap<u64, A>,
        now: Timestamp,
    ) -> bool {
        self.inhibited_by(labels, alerts, now).is_some()
    }

    /// The fingerprint of a firing alert in `alerts` that inhibits `labels` at `now`
    /// (the lowest one if several do, so the answer is stable).
    pub fn inhibited_by<A: std::ops::Deref<Target = Alert>>(
        &self,
        labels: &Labels,
        alerts: &HashMap<u64, A>,
        now: Timestamp,
    ) -> Option<u64> {
        self.rules
            .iter()
            .filter_map(|ri| {
                let r = &ri.rule;
                if !r.target_matchers.iter().all(|m| m.matches_labels(labels)) {
                    return None;
                }
                let fps = ri.sources.get(&equal_hash(&r.equal, labels))?;
                // An alert matching both sides cannot be inhibited by another such alert.
                let two_sided = r.source_matchers.iter().all(|m| m.matches_labels(labels));
                fps.iter()
                    .filter(|fp| {
                        alerts.get(fp).is_some_and(|src| {
                            !src.resolved_at(now)
                                && r.equal.iter().all(|n| src.labels.get_or_empty(n) == labels.get_or_empty(n))
                                && !(two_sided && r.target_matchers.iter().all(|m| m.matches_labels(&src.labels)))
                        })
                    })
                    .min()
                    .copied()
            })
            .min()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}
