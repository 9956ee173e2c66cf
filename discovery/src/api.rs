//! The `/api/v1/targets` view: serde-serializable structs with Prometheus's JSON field names,
//! so a server can expose active and dropped targets as Prometheus does.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ember_exposition::Labels;
use serde::{Serialize, Serializer};

use crate::target::{DroppedTarget, Target, Targets};
use crate::units::PromDuration;

/// A target's scrape health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

/// What the scrape loop knows about a target; the default is "not scraped yet".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeStatus {
    /// Health after the last scrape.
    pub health: Health,
    /// The last scrape's error, empty when it succeeded.
    pub last_error: String,
    /// When the last scrape started.
    pub last_scrape: Option<SystemTime>,
    /// How long the last scrape took.
    pub last_scrape_duration: Duration,
}

fn labels_as_map<S: Serializer>(labels: &Labels, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())))
}

fn rfc3339<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_rfc3339(*t))
}

/// Formats a time as RFC 3339 in UTC with nanoseconds; `None` is Go's zero time
/// (`0001-01-01T00:00:00Z`), which is what Prometheus shows for a target not yet scraped.
pub fn format_rfc3339(t: Option<SystemTime>) -> String {
    let Some(d) = t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) else {
        return "0001-01-01T00:00:00Z".to_string();
    };
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, sec) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}Z")
    } else {
        let frac = format!("{nanos:09}");
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}.{}Z", frac.trim_end_matches('0'))
    }
}

/// One entry of `activeTargets`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    /// Labels before relabeling.
    #[serde(serialize_with = "labels_as_map")]
    pub discovered_labels: Labels,
    /// Labels after relabeling, without `__` labels.
    #[serde(serialize_with = "labels_as_map")]
    pub labels: Labels,
    /// The scrape pool (job) name.
    pub scrape_pool: String,
    /// The URL scraped.
    pub scrape_url: String,
    /// The URL as seen from outside this host.
    pub global_url: String,
    /// The last scrape's error, or empty.
    pub last_error: String,
    /// When the last scrape started (RFC 3339).
    #[serde(serialize_with = "rfc3339")]
    pub last_scrape: Option<SystemTime>,
    /// How long the last scrape took, in seconds.
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    pub health: Health,
    /// The scrape interval, as a Prometheus duration.
    pub scrape_interval: String,
    /// The scrape timeout, as a Prometheus duration.
    pub scrape_timeout: String,
}

impl ActiveTarget {
    /// The view of `target` in `pool` with `status`. `hostname`, when given, replaces a
    /// loopback host (`localhost`, `127.0.0.1`, `[::1]`) in `globalUrl`, as Prometheus does
    /// with its own host name.
    pub fn new(target: &Target, pool: &str, status: &ScrapeStatus, hostname: Option<&str>) -> Self {
        let scrape_url = target.url().to_string();
        let global_url = match (hostname, reqwest::Url::parse(&scrape_url)) {
            (Some(h), Ok(mut u)) if matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) => {
                if u.set_host(Some(h)).is_ok() { u.into() } else { scrape_url.clone() }
            }
            _ => scrape_url.clone(),
        };
        ActiveTarget {
            discovered_labels: target.discovered_labels().clone(),
            labels: target.labels().clone(),
            scrape_pool: pool.to_string(),
            scrape_url,
            global_url,
            last_error: status.last_error.clone(),
            last_scrape: status.last_scrape,
            last_scrape_duration: status.last_scrape_duration.as_secs_f64(),
            health: status.health,
            scrape_interval: PromDuration(target.interval()).to_string(),
            scrape_timeout: PromDuration(target.timeout()).to_string(),
        }
    }
}

/// One entry of `droppedTargets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTargetView {
    /// Labels before relabeling.
    #[serde(serialize_with = "labels_as_map")]
    pub discovered_labels: Labels,
    /// The scrape pool (job) name.
    pub scrape_pool: String,
}

impl DroppedTargetView {
    /// The view of a dropped target of `pool`.
    pub fn new(target: &DroppedTarget, pool: &str) -> Self {
        DroppedTargetView { discovered_labels: target.discovered_labels.clone(), scrape_pool: pool.to_string() }
    }
}

/// The `data` of `/api/v1/targets`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetDiscovery {
    /// Targets being scraped.
    pub active_targets: Vec<ActiveTarget>,
    /// Targets dropped by relabeling.
    pub dropped_targets: Vec<DroppedTargetView>,
    /// Per pool, how many targets were dropped (including those not kept).
    pub dropped_target_counts: BTreeMap<String, usize>,
}

impl TargetDiscovery {
    /// Adds one pool's targets; `status` gives each active target's scrape state.
    pub fn add_pool(
        &mut self,
        pool: &str,
        targets: &Targets,
        mut status: impl FnMut(&Target) -> ScrapeStatus,
        hostname: Option<&str>,
    ) {
        for t in &targets.active {
            self.active_targets.push(ActiveTarget::new(t, pool, &status(t), hostname));
        }
        self.dropped_targets.extend(targets.dropped.iter().map(|d| DroppedTargetView::new(d, pool)));
        self.dropped_target_counts.insert(pool.to_string(), targets.dropped_count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats() {
        assert_eq!(format_rfc3339(None), "0001-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(Some(UNIX_EPOCH)), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_484_662_064, 723_715_405);
        assert_eq!(format_rfc3339(Some(t)), "2017-01-17T14:07:44.723715405Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 500_000_000); // 2000-02-29
        assert_eq!(format_rfc3339(Some(t)), "2000-02-29T00:00:00.5Z");
    }
}
