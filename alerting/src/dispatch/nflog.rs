//! The notification log: what was last sent to each integration for each group, so an
//! unchanged group is not re-sent before `repeat_interval`.

use std::collections::HashMap;

use ember_exposition::Timestamp;

/// What was last sent to one integration for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NflogEntry {
    /// Fingerprints of the firing alerts notified (sorted).
    pub firing: Vec<u64>,
    /// Fingerprints of the resolved alerts notified (sorted).
    pub resolved: Vec<u64>,
    /// When it was sent.
    pub timestamp: Timestamp,
    /// When the entry may be forgotten.
    pub expires_at: Timestamp,
}

/// The log, keyed by (group key hash, integration).
#[derive(Debug, Default)]
pub struct NotificationLog {
    /// Keyed by (group key hash, integration name hash).
    entries: HashMap<(u64, u64), NflogEntry>,
    retention_ms: i64,
}

fn subset(small: &[u64], big: &[u64]) -> bool {
    small.iter().all(|x| big.binary_search(x).is_ok())
}

impl NotificationLog {
    /// A log keeping entries for `retention_ms`.
    pub fn new(retention_ms: i64) -> Self {
        NotificationLog { entries: HashMap::new(), retention_ms }
    }

    /// The entry for a group and integration.
    pub fn get(&self, group: u64, integration: &str) -> Option<&NflogEntry> {
        self.entries.get(&(group, xxhash_rust::xxh3::xxh3_64(integration.as_bytes())))
    }

    /// Records a successful notification.
    pub fn log(&mut self, group: u64, integration: &str, firing: Vec<u64>, resolved: Vec<u64>, now: Timestamp) {
        let e = NflogEntry { firing, resolved, timestamp: now, expires_at: now + self.retention_ms };
        self.entries.insert((group, xxhash_rust::xxh3::xxh3_64(integration.as_bytes())), e);
    }

    /// Forgets expired entries.
    pub fn gc(&mut self, now: Timestamp) {
        self.entries.retain(|_, e| e.expires_at > now);
    }

    /// Alertmanager's dedup decision: notify when something new fires, when all
    /// alerts resolved after a firing notification, when (with `send_resolved`) new
    /// alerts resolved, or when `repeat_ms` has passed since the last notification.
    /// `firing` and `resolved` must be sorted.
    pub fn needs_update(
        entry: Option<&NflogEntry>,
        firing: &[u64],
        resolved: &[u64],
        send_resolved: bool,
        repeat_ms: i64,
        now: Timestamp,
    ) -> bool {
        let Some(e) = entry else {
            return !firing.is_empty();
        };
        if !subset(firing, &e.firing) {
            return true;
        }
        if firing.is_empty() {
            return !e.firing.is_empty();
        }
        if send_resolved && !subset(resolved, &e.resolved) {
            return true;
        }
        e.timestamp < now - repeat_ms
    }
}
