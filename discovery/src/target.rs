//! Target building: from discovered [`TargetGroup`]s to scrape [`Target`]s, through
//! `relabel_configs`, following Prometheus's target label rules.
//!
//! Before relabeling each target starts from its group's labels overlaid with its own, and
//! gets `job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`,
//! `__scrape_timeout__` and one `__param_<name>` per configured parameter from the scrape
//! config unless discovery already set them. After relabeling a target without
//! `__address__` is dropped, `__meta_*` and `__tmp*` labels are removed, and `instance`
//! defaults to the address. The full post-relabel set (with the `__` labels that steer the
//! scrape) stays on the target; [`Target::labels`] is the public set without them.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use ember_exposition::relabel::{Relabel, RelabelError, process_builder};
use ember_exposition::{Labels, LabelsBuilder};

use crate::config::ScrapeConfig;
use crate::units::PromDuration;

/// `__address__`: the `host:port` to scrape.
pub const ADDRESS_LABEL: &str = "__address__";
/// `__scheme__`: `http` or `https`.
pub const SCHEME_LABEL: &str = "__scheme__";
/// `__metrics_path__`: the path to scrape.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// `__scrape_interval__`: the target's scrape interval.
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// `__scrape_timeout__`: the target's scrape timeout.
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// Prefix of labels that become URL parameters.
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// Prefix of discovery metadata labels, removed after relabeling.
pub const META_LABEL_PREFIX: &str = "__meta_";
/// Prefix of scratch labels for relabeling, removed after relabeling.
pub const TMP_LABEL_PREFIX: &str = "__tmp";
/// `job`.
pub const JOB_LABEL: &str = "job";
/// `instance`.
pub const INSTANCE_LABEL: &str = "instance";

/// A set of targets from one discovery source, with labels common to all of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetGroup {
    /// Identifies the group within its provider (e.g. a file path and index); a later group
    /// with the same source replaces the earlier one, and an empty one removes it.
    pub source: String,
    /// One label set per target; each has at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels for every target in the group; a target's own labels win.
    pub labels: Labels,
}

impl TargetGroup {
    /// A group of plain addresses with common labels, as `static_configs` gives.
    pub fn from_addresses<S: AsRef<str>>(source: impl Into<String>, addresses: &[S], labels: Labels) -> Self {
        TargetGroup {
            source: source.into(),
            targets: addresses.iter().map(|a| Labels::from_pairs([(ADDRESS_LABEL, a.as_ref())])).collect(),
            labels,
        }
    }
}

/// A target to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    discovered: Labels,
    full: Labels,
    public: Labels,
    url: String,
    interval: Duration,
    timeout: Duration,
}

impl Target {
    /// The labels as discovered, before relabeling (with the scrape config's defaults).
    pub fn discovered_labels(&self) -> &Labels {
        &self.discovered
    }

    /// The post-relabel labels, including the `__` labels that steer the scrape.
    pub fn full_labels(&self) -> &Labels {
        &self.full
    }

    /// The labels attached to every scraped series: the post-relabel set without `__` labels.
    pub fn labels(&self) -> &Labels {
        &self.public
    }

    /// The URL to scrape.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The scrape interval (from `__scrape_interval__`).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The scrape timeout (from `__scrape_timeout__`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The `job` label.
    pub fn job(&self) -> &str {
        self.full.get_or_empty(JOB_LABEL)
    }

    /// `__address__`.
    pub fn address(&self) -> &str {
        self.full.get_or_empty(ADDRESS_LABEL)
    }
}

/// Why a discovered target could not become a scrape target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetErrorKind {
    /// `__address__` is not a `host:port`.
    InvalidAddress(String),
    /// `__scrape_interval__` is not a positive duration.
    InvalidInterval(String),
    /// `__scrape_timeout__` is not a positive duration.
    InvalidTimeout(String),
    /// The timeout is greater than the interval.
    TimeoutExceedsInterval,
    /// `__scheme__` is neither `http` nor `https`.
    InvalidScheme(String),
}

/// A target that failed the post-relabel checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError {
    /// The target's labels before relabeling.
    pub discovered_labels: Labels,
    /// What is wrong.
    pub kind: TargetErrorKind,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TargetErrorKind::InvalidAddress(a) => write!(f, "{a:?} is not a valid hostname")?,
            TargetErrorKind::InvalidInterval(v) => write!(f, "error parsing scrape interval {v:?}")?,
            TargetErrorKind::InvalidTimeout(v) => write!(f, "error parsing scrape timeout {v:?}")?,
            TargetErrorKind::TimeoutExceedsInterval => {
                f.write_str("scrape timeout cannot be greater than scrape interval")?
            }
            TargetErrorKind::InvalidScheme(s) => write!(f, "invalid scheme {s:?}")?,
        }
        write!(f, " (target {})", self.discovered_labels)
    }
}

impl std::error::Error for TargetError {}

/// Why a target was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// A relabel rule dropped it.
    Relabeling,
    /// It had no `__address__` after relabeling.
    NoAddress,
}

/// A target dropped by relabeling, kept with its discovered labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTarget {
    /// The labels before relabeling.
    pub discovered_labels: Labels,
    /// Why it was dropped.
    pub reason: DropReason,
}

/// The outcome of building one job's targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// Targets to scrape, without duplicates, in discovery order.
    pub active: Vec<Target>,
    /// Targets dropped by relabeling (up to `keep_dropped_targets` when that is set).
    pub dropped: Vec<DroppedTarget>,
    /// How many targets were dropped in all, including those not kept.
    pub dropped_count: usize,
    /// Targets that failed the post-relabel checks.
    pub errors: Vec<TargetError>,
}

/// Turns target groups into targets for one scrape config.
#[derive(Debug, Clone)]
pub struct TargetBuilder {
    job: String,
    scheme: &'static str,
    metrics_path: String,
    interval: String,
    timeout: String,
    params: BTreeMap<String, Vec<String>>,
    relabel: Vec<Relabel>,
    keep_dropped: usize,
}

impl TargetBuilder {
    /// A builder for `cfg`; fails when a relabel rule does not compile (which
    /// [`Config::from_yaml`](crate::config::Config::from_yaml) has already checked).
    pub fn new(cfg: &ScrapeConfig) -> Result<Self, RelabelError> {
        Ok(TargetBuilder {
            job: cfg.job_name.clone(),
            scheme: cfg.scheme.as_str(),
            metrics_path: cfg.metrics_path.clone(),
            interval: cfg.interval().to_string(),
            timeout: cfg.timeout().to_string(),
            params: cfg.params.clone(),
            relabel: cfg.target_relabel()?,
            keep_dropped: usize::try_from(cfg.keep_dropped_targets).unwrap_or(usize::MAX),
        })
    }

    /// The job name.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// Builds the targets of `groups`.
    pub fn build<'a>(&self, groups: impl IntoIterator<Item = &'a TargetGroup>) -> Targets {
        let mut out = Targets::default();
        let mut seen = HashSet::new();
        for g in groups {
            for t in &g.targets {
                match self.populate(&g.labels, t) {
                    Populated::Active(target) => {
                        if seen.insert(target.full.clone()) {
                            out.active.push(target);
                        }
                    }
                    Populated::Dropped(d) => {
                        out.dropped_count += 1;
                        if self.keep_dropped == 0 || out.dropped.len() < self.keep_dropped {
                            out.dropped.push(d);
                        }
                    }
                    Populated::Error(e) => out.errors.push(e),
                }
            }
        }
        out
    }

    /// The labels a target starts relabeling with.
    pub fn discovered_labels(&self, group_labels: &Labels, target: &Labels) -> Labels {
        let mut lb = LabelsBuilder::from_labels(group_labels);
        for l in target {
            lb.set(l.name.as_str(), l.value.as_str());
        }
        let defaults = [
            (JOB_LABEL, self.job.as_str()),
            (SCHEME_LABEL, self.scheme),
            (METRICS_PATH_LABEL, self.metrics_path.as_str()),
            (SCRAPE_INTERVAL_LABEL, self.interval.as_str()),
            (SCRAPE_TIMEOUT_LABEL, self.timeout.as_str()),
        ];
        for (name, value) in defaults {
            if lb.get(name).is_none() {
                lb.set(name, value);
            }
        }
        for (name, values) in &self.params {
            let label = format!("{PARAM_LABEL_PREFIX}{name}");
            if let Some(first) = values.first()
                && lb.get(&label).is_none()
            {
                lb.set(label, first.as_str());
            }
        }
        lb.into_labels()
    }

    fn populate(&self, group_labels: &Labels, target: &Labels) -> Populated {
        let discovered = self.discovered_labels(group_labels, target);
        let mut lb = discovered.builder();
        if !process_builder(&mut lb, &self.relabel) {
            return Populated::Dropped(DroppedTarget { discovered_labels: discovered, reason: DropReason::Relabeling });
        }
        let Some(addr) = lb.get(ADDRESS_LABEL).map(str::to_string) else {
            return Populated::Dropped(DroppedTarget { discovered_labels: discovered, reason: DropReason::NoAddress });
        };
        let err = |kind| Populated::Error(TargetError { discovered_labels: discovered.clone(), kind });
        if addr.contains('/') || addr.contains(char::is_whitespace) {
            return err(TargetErrorKind::InvalidAddress(addr));
        }
        let parse = |name: &str| -> Option<Duration> {
            lb.get(name).and_then(|v| v.parse::<PromDuration>().ok()).map(PromDuration::get).filter(|d| !d.is_zero())
        };
        let Some(interval) = parse(SCRAPE_INTERVAL_LABEL) else {
            return err(TargetErrorKind::InvalidInterval(lb.get(SCRAPE_INTERVAL_LABEL).unwrap_or("").into()));
        };
        let Some(timeout) = parse(SCRAPE_TIMEOUT_LABEL) else {
            return err(TargetErrorKind::InvalidTimeout(lb.get(SCRAPE_TIMEOUT_LABEL).unwrap_or("").into()));
        };
        if timeout > interval {
            return err(TargetErrorKind::TimeoutExceedsInterval);
        }
        let scheme = lb.get(SCHEME_LABEL).unwrap_or(self.scheme);
        if scheme != "http" && scheme != "https" {
            return err(TargetErrorKind::InvalidScheme(scheme.into()));
        }
        lb.retain(|l| !l.name.starts_with(META_LABEL_PREFIX) && !l.name.starts_with(TMP_LABEL_PREFIX));
        if lb.get(INSTANCE_LABEL).is_none() {
            lb.set(INSTANCE_LABEL, addr.as_str());
        }
        let full = lb.into_labels();
        let Some(url) = self.url(&full) else {
            return err(TargetErrorKind::InvalidAddress(addr));
        };
        let public = full.filter(|l| !l.name.starts_with("__"));
        Populated::Active(Target { discovered, full, public, url, interval, timeout })
    }

    /// The scrape URL of a post-relabel label set: `__scheme__://__address____metrics_path__`
    /// with the configured params, each overridden by a `__param_<name>` label.
    fn url(&self, full: &Labels) -> Option<String> {
        let mut params = self.params.clone();
        for l in full {
            if let Some(name) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
                match params.get_mut(name) {
                    Some(v) if !v.is_empty() => v[0].clone_from(&l.value),
                    _ => {
                        params.insert(name.to_string(), vec![l.value.clone()]);
                    }
                }
            }
        }
        let scheme = full.get(SCHEME_LABEL).unwrap_or(self.scheme);
        let path = full.get(METRICS_PATH_LABEL).unwrap_or("");
        let mut url = reqwest::Url::parse(&format!("{scheme}://{}", full.get_or_empty(ADDRESS_LABEL))).ok()?;
        if url.host_str().is_none_or(str::is_empty) || url.path() != "/" || url.query().is_some() {
            return None;
        }
        url.set_path(path);
        if params.values().any(|v| !v.is_empty()) {
            let mut q = url.query_pairs_mut();
            for (k, vs) in &params {
                for v in vs {
                    q.append_pair(k, v);
                }
            }
        }
        Some(url.into())
    }
}

enum Populated {
    Active(Target),
    Dropped(DroppedTarget),
    Error(TargetError),
}
