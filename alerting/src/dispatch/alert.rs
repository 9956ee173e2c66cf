//! Alerts as the dispatcher receives and keeps them.

use ember_exposition::{Labels, Timestamp};

/// An alert as a producer sends it (the body of Alertmanager's `POST /api/v2/alerts`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PostableAlert {
    /// Identifying labels.
    pub labels: Labels,
    /// Descriptive annotations (same shape as labels, not identifying).
    pub annotations: Labels,
    /// When the alert started firing; the receive time when absent.
    pub starts_at: Option<Timestamp>,
    /// When the alert resolves; `resolve_timeout` after receipt when absent.
    pub ends_at: Option<Timestamp>,
    /// A link to the source of the alert.
    pub generator_url: String,
}

/// Whether an alert is firing or resolved at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    /// Still firing.
    Firing,
    /// Resolved: its end time has passed.
    Resolved,
}

impl AlertStatus {
    /// `"firing"` or `"resolved"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// An alert held by the dispatcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Identifying labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// Start time (Unix ms).
    pub starts_at: Timestamp,
    /// End time (Unix ms); `None` in a notification for an alert still firing.
    pub ends_at: Option<Timestamp>,
    /// A link to the source of the alert.
    pub generator_url: String,
    /// When the dispatcher last received this alert.
    pub updated_at: Timestamp,
    /// Whether `ends_at` came from `resolve_timeout` rather than the producer.
    pub timeout: bool,
    fingerprint: u64,
}

impl Alert {
    /// Builds a stored alert from a posted one received at `now`, applying
    /// Alertmanager's defaults for missing start and end times.
    pub fn from_postable(p: PostableAlert, now: Timestamp, resolve_timeout_ms: i64) -> Alert {
        let starts_at = p.starts_at.unwrap_or(p.ends_at.unwrap_or(now));
        let (ends_at, timeout) = match p.ends_at {
            Some(e) => (Some(e), false),
            None => (Some(now + resolve_timeout_ms), true),
        };
        let fingerprint = p.labels.stable_hash();
        Alert {
            labels: p.labels,
            annotations: p.annotations,
            starts_at,
            ends_at,
            generator_url: p.generator_url,
            updated_at: now,
            timeout,
            fingerprint,
        }
    }

    /// The label fingerprint ([`Labels::stable_hash`]).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Whether the alert is resolved at `t`.
    pub fn resolved_at(&self, t: Timestamp) -> bool {
        self.ends_at.is_some_and(|e| e <= t)
    }

    /// The status at `t`.
    pub fn status_at(&self, t: Timestamp) -> AlertStatus {
        if self.resolved_at(t) { AlertStatus::Resolved } else { AlertStatus::Firing }
    }

    /// Merges a newer update `o` of the same alert into `self`, as Alertmanager does:
    /// the earliest start wins; an explicit later end of an older copy survives a
    /// timeout-derived end.
    pub fn merge(&self, o: &Alert) -> Alert {
        let (old, new) = if o.updated_at < self.updated_at { (o, self) } else { (self, o) };
        let mut res = new.clone();
        if old.starts_at < new.starts_at {
            res.starts_at = old.starts_at;
        }
        let after = |a: Option<Timestamp>, b: Option<Timestamp>| matches!((a, b), (Some(a), Some(b)) if a > b);
        if new.resolved_at(new.updated_at) {
            if old.resolved_at(old.updated_at) && after(old.ends_at, new.ends_at) {
                res.ends_at = old.ends_at;
            }
        } else if after(old.ends_at, new.ends_at) && !old.timeout {
            res.ends_at = old.ends_at;
        }
        res
    }

    /// Whether an incoming update `new` overlaps this alert in time (and so is merged
    /// into it rather than replacing it), by Alertmanager's rule: the new end falls
    /// strictly inside the old range, or the new start does.
    pub fn overlaps(&self, new: &Alert) -> bool {
        let (os, oe) = (self.starts_at, self.ends_at.unwrap_or(i64::MAX));
        let (ns, ne) = (new.starts_at, new.ends_at.unwrap_or(i64::MAX));
        (ne > os && ne < oe) || (ns > os && ns < oe)
    }
}

/// Sorts alerts as Alertmanager orders them in a notification: by `job`, then
/// `instance`, then the whole label set.
pub(crate) fn sort_alerts(alerts: &mut [Alert]) {
    alerts.sort_by(notification_order);
}

/// The order of [`sort_alerts`].
pub(crate) fn notification_order(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    for k in ["job", "instance"] {
        let (x, y) = (a.labels.get(k), b.labels.get(k));
        match (x, y) {
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            (Some(_), None) => return std::cmp::Ordering::Less,
            (None, Some(_)) => return std::cmp::Ordering::Greater,
            _ => {}
        }
    }
    a.labels.cmp(&b.labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_exposition::labels;

    fn post(start: Option<i64>, end: Option<i64>) -> PostableAlert {
        PostableAlert { labels: labels! {"a" => "b"}, starts_at: start, ends_at: end, ..Default::default() }
    }

    #[test]
    fn defaults() {
        let a = Alert::from_postable(post(None, None), 1000, 300_000);
        assert_eq!((a.starts_at, a.ends_at, a.timeout), (1000, Some(301_000), true));
        let a = Alert::from_postable(post(None, Some(500)), 1000, 300_000);
        assert_eq!((a.starts_at, a.ends_at, a.timeout), (500, Some(500), false));
        assert!(a.resolved_at(1000));
        assert_eq!(a.status_at(499), AlertStatus::Firing);
    }

    #[test]
    fn merge() {
        let old = Alert::from_postable(post(Some(0), Some(10_000)), 1000, 300_000);
        // Newer update without end: timeout end, but old explicit later end wins.
        let new = Alert::from_postable(post(Some(500), None), 2000, 5000);
        let m = old.merge(&new);
        assert_eq!(m.starts_at, 0);
        assert_eq!(m.ends_at, Some(10_000));
        // A resolving update wins over the old end.
        let res = Alert::from_postable(post(Some(0), Some(2500)), 3000, 5000);
        assert_eq!(old.merge(&res).ends_at, Some(2500));
        assert!(old.overlaps(&new));
    }
}
