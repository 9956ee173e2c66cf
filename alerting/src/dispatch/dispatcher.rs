//! The dispatcher's core: a synchronous state machine driven by a [`Clock`].
//!
//! [`Dispatcher::put`] routes alerts into aggregation groups; [`Dispatcher::poll`]
//! flushes every group whose timer is due and runs the notification pipeline
//! (inhibition, time intervals, silences, dedup against the notification log),
//! returning the [`Notification`]s to send; the caller reports each outcome with
//! [`Dispatcher::complete`]. Nothing here blocks or spawns: tests advance a
//! [`ManualClock`](super::ManualClock) and call `poll`, and the async
//! [`DispatcherService`](super::DispatcherService) is a thin loop around the same calls.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use ember_exposition::{Labels, Timestamp};

use super::alert::{Alert, PostableAlert, sort_alerts};
use super::clock::Clock;
use super::config::{Config, PagerdutyConfig, SlackConfig, WebhookConfig};
use super::error::NflogError;
use super::inhibit::Inhibitor;
use super::nflog::{NflogLoad, NotificationLog};
use super::route::RouteId;
use super::silence::{DEFAULT_SILENCE_RETENTION_MS, Silences};

/// One integration of a receiver, with its configuration.
#[derive(Debug, Clone)]
pub enum Integration {
    /// A webhook.
    Webhook(WebhookConfig),
    /// A Slack incoming webhook.
    Slack(SlackConfig),
    /// PagerDuty Events API v2.
    Pagerduty(PagerdutyConfig),
}

impl Integration {
    /// Whether resolved alerts are sent.
    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(c) => c.send_resolved,
            Integration::Slack(c) => c.send_resolved,
            Integration::Pagerduty(c) => c.send_resolved,
        }
    }

    /// `webhook`, `slack` or `pagerduty`.
    pub fn kind(&self) -> &'static str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Slack(_) => "slack",
            Integration::Pagerduty(_) => "pagerduty",
        }
    }
}

/// A message to deliver: one group's alerts for one integration of one receiver.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Identifies this notification to [`Dispatcher::complete`].
    pub id: u64,
    /// The receiver name.
    pub receiver: String,
    /// `receiver/kind[index]`, the name the notification log uses.
    pub integration_name: String,
    /// The integration and its configuration.
    pub integration: Integration,
    /// Alertmanager's group key: `{route key}:{group labels}`.
    pub group_key: String,
    /// The group labels.
    pub group_labels: Labels,
    /// The alerts to send, sorted; firing ones have `ends_at == None`.
    pub alerts: Vec<Alert>,
    /// When the group was flushed.
    pub flushed_at: Timestamp,
    /// Give up delivering after this time (flush time + `group_interval`).
    pub deadline: Timestamp,
    /// The external URL of this dispatcher, for links.
    pub external_url: String,
    flush: u64,
    group_hash: u64,
    firing: Vec<u64>,
    resolved: Vec<u64>,
}

impl Notification {
    /// `firing` if any alert is firing, else `resolved`.
    pub fn status(&self) -> super::AlertStatus {
        if self.alerts.iter().any(|a| a.ends_at.is_none()) {
            super::AlertStatus::Firing
        } else {
            super::AlertStatus::Resolved
        }
    }
}

#[derive(Debug)]
struct AggrGroup {
    route: RouteId,
    labels: Labels,
    key: String,
    key_hash: u64,
    alerts: HashMap<u64, Arc<Alert>>,
    next_flush: Timestamp,
    has_flushed: bool,
}

#[derive(Debug)]
struct PendingFlush {
    group: u64,
    remaining: usize,
    ok: bool,
    /// (fingerprint, updated_at) of resolved alerts in the flush.
    resolved: Vec<(u64, Timestamp)>,
}

/// A summary of one aggregation group, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group key.
    pub key: String,
    /// The receiver.
    pub receiver: String,
    /// The group labels.
    pub labels: Labels,
    /// Number of alerts held.
    pub alerts: usize,
    /// When the group flushes next.
    pub next_flush: Timestamp,
}

/// Why an alert is muted (see [`Dispatcher::muted_by`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MutedBy {
    /// IDs of the active silences muting the alert, sorted.
    pub silenced_by: Vec<String>,
    /// The fingerprint of a firing alert inhibiting it.
    pub inhibited_by: Option<u64>,
}

impl MutedBy {
    /// Whether the alert is muted at all (Alertmanager's `suppressed` state).
    pub fn is_muted(&self) -> bool {
        !self.silenced_by.is_empty() || self.inhibited_by.is_some()
    }
}

/// Options for a [`Dispatcher`].
#[derive(Debug, Clone)]
pub struct DispatcherBuilder {
    config: Arc<Config>,
    external_url: String,
    silences: Option<std::path::PathBuf>,
    nflog_file: Option<std::path::PathBuf>,
    nflog: Option<NotificationLog>,
    retention_ms: i64,
}

impl DispatcherBuilder {
    /// The URL notifications link back to (default `http://localhost:9093`).
    pub fn external_url(mut self, url: impl Into<String>) -> Self {
        self.external_url = url.into();
        self
    }

    /// Persists silences to this file (loaded on build if it exists).
    pub fn silences_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.silences = Some(path.into());
        self
    }

    /// Persists the notification log to this file: loaded on build if it exists (a
    /// corrupt file is set aside and the log starts empty, see [`NotificationLog::open`]),
    /// written by [`Dispatcher::save_nflog`] and
    /// [`DispatcherService::save_nflog`](super::DispatcherService::save_nflog). With it,
    /// a restarted dispatcher does not re-send what was delivered before the restart.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ember_alerting::dispatch::{Config, Dispatcher, ManualClock, NflogLoad, PostableAlert};
    ///
    /// let yaml = "route: {receiver: r, group_wait: 0s}\n\
    ///             receivers: [{name: r, webhook_configs: [{url: 'http://127.0.0.1:9/'}]}]";
    /// let config = Arc::new(Config::from_yaml(yaml).unwrap());
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = dir.path().join("nflog");
    /// let clock = ManualClock::new(1_700_000_000_000);
    /// let alert = || PostableAlert { labels: ember_exposition::labels! {"alertname" => "A"}, ..Default::default() };
    ///
    /// let mut d = Dispatcher::builder(config.clone()).nflog_file(&file).build(clock.clone()).unwrap();
    /// d.put([alert()]);
    /// let sent = d.poll();
    /// assert_eq!(sent.len(), 1);
    /// for n in &sent {
    ///     d.complete(n, true);
    /// }
    /// assert!(d.save_nflog().unwrap()); // on shutdown, or periodically
    ///
    /// // After a restart the same alert is not notified again before repeat_interval.
    /// clock.advance(60_000);
    /// let mut d = Dispatcher::builder(config).nflog_file(&file).build(clock.clone()).unwrap();
    /// assert_eq!(d.nflog_load(), Some(&NflogLoad::Loaded { entries: 1, expired: 0 }));
    /// d.put([alert()]);
    /// assert!(d.poll().is_empty());
    /// ```
    pub fn nflog_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.nflog_file = Some(path.into());
        self
    }

    /// Starts from this notification log (for example one a host decoded with
    /// [`NotificationLog::decode`] from its own storage) instead of an empty one or the
    /// one in [`nflog_file`](Self::nflog_file).
    pub fn notification_log(mut self, log: NotificationLog) -> Self {
        self.nflog = Some(log);
        self
    }

    /// How long expired silences and notification-log entries are kept (default 120h).
    pub fn retention_ms(mut self, ms: i64) -> Self {
        self.retention_ms = ms;
        self
    }

    /// Builds the dispatcher.
    pub fn build<C: Clock>(self, clock: C) -> Result<Dispatcher<C>, super::SilenceError> {
        let silences = match &self.silences {
            Some(p) => Silences::open(p, self.retention_ms)?,
            None => Silences::new(self.retention_ms),
        };
        let (nflog, nflog_load) = match (self.nflog, &self.nflog_file) {
            (Some(log), _) => (log, None),
            (None, Some(p)) => {
                let (log, load) = NotificationLog::open(p, self.retention_ms, clock.now());
                (log, Some(load))
            }
            (None, None) => (NotificationLog::new(self.retention_ms), None),
        };
        Ok(Dispatcher {
            nflog_saved: nflog.generation(),
            nflog,
            nflog_file: self.nflog_file,
            nflog_load,
            clock,
            inhibitor: Inhibitor::new(&self.config.inhibit_rules),
            config: self.config,
            alerts: HashMap::new(),
            groups: HashMap::new(),
            schedule: BinaryHeap::new(),
            silences,
            pending: HashMap::new(),
            next_id: 0,
            external_url: self.external_url,
            last_maintenance: i64::MIN,
        })
    }
}

/// The Alertmanager-compatible dispatcher (see the module docs).
#[derive(Debug)]
pub struct Dispatcher<C: Clock> {
    clock: C,
    config: Arc<Config>,
    /// Every alert received, by fingerprint (inhibition sources, listing); groups
    /// share the same allocations.
    alerts: HashMap<u64, Arc<Alert>>,
    /// Aggregation groups by hash of (route, group labels).
    groups: HashMap<u64, AggrGroup>,
    /// Flush timers: (due time, group id); stale entries are skipped.
    schedule: BinaryHeap<Reverse<(Timestamp, u64)>>,
    silences: Silences,
    inhibitor: Inhibitor,
    nflog: NotificationLog,
    nflog_file: Option<std::path::PathBuf>,
    nflog_load: Option<NflogLoad>,
    /// The log generation last written to `nflog_file`.
    nflog_saved: u64,
    pending: HashMap<u64, PendingFlush>,
    next_id: u64,
    external_url: String,
    last_maintenance: Timestamp,
}

const MAINTENANCE_INTERVAL_MS: i64 = 30_000;

impl Dispatcher<super::SystemClock> {
    /// Options for a dispatcher over `config`; [`DispatcherBuilder::build`] picks the clock.
    pub fn builder(config: Arc<Config>) -> DispatcherBuilder {
        DispatcherBuilder {
            config,
            external_url: "http://localhost:9093".into(),
            silences: None,
            nflog_file: None,
            nflog: None,
            retention_ms: DEFAULT_SILENCE_RETENTION_MS,
        }
    }
}

impl<C: Clock> Dispatcher<C> {
    /// A dispatcher with default options and in-memory silences.
    pub fn new(config: Arc<Config>, clock: C) -> Self {
        Dispatcher::builder(config).build(clock).expect("in-memory silences cannot fail to open")
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The current time of the dispatcher's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The silences.
    pub fn silences(&self) -> &Silences {
        &self.silences
    }

    /// The silences, for creating, updating and expiring them.
    pub fn silences_mut(&mut self) -> &mut Silences {
        &mut self.silences
    }

    /// The notification log.
    pub fn nflog(&self) -> &NotificationLog {
        &self.nflog
    }

    /// The file the notification log persists to, if any.
    pub fn nflog_file(&self) -> Option<&std::path::Path> {
        self.nflog_file.as_deref()
    }

    /// What loading [`DispatcherBuilder::nflog_file`] found at build (`None` without a
    /// file, or when [`DispatcherBuilder::notification_log`] supplied the log).
    pub fn nflog_load(&self) -> Option<&NflogLoad> {
        self.nflog_load.as_ref()
    }

    /// Whether the notification log changed since it was loaded or last saved.
    pub fn nflog_unsaved(&self) -> bool {
        self.nflog.generation() != self.nflog_saved
    }

    /// Writes the notification log's snapshot (entries live now) to the
    /// [`nflog_file`](DispatcherBuilder::nflog_file) if it changed since the last save;
    /// returns whether it wrote. The write (with its fsync) happens under `&mut self`:
    /// [`DispatcherService::save_nflog`](super::DispatcherService::save_nflog) does it
    /// outside the dispatcher's lock.
    pub fn save_nflog(&mut self) -> Result<bool, NflogError> {
        let Some((path, bytes, generation)) = self.nflog_snapshot() else { return Ok(false) };
        super::nflog::write_snapshot(&path, &bytes)?;
        self.nflog_saved(generation);
        Ok(true)
    }

    /// The file, the encoded snapshot and the generation it captures, if there is a file
    /// and something to save.
    pub(crate) fn nflog_snapshot(&self) -> Option<(std::path::PathBuf, Vec<u8>, u64)> {
        let path = self.nflog_file.clone()?;
        self.nflog_unsaved().then(|| (path, self.nflog.encode(self.clock.now()), self.nflog.generation()))
    }

    /// Records that the snapshot of `generation` is on disk.
    pub(crate) fn nflog_saved(&mut self, generation: u64) {
        // Saves may complete out of order; the newest wins.
        self.nflog_saved = self.nflog_saved.max(generation);
    }

    /// Creates or updates a silence at the clock's current time (see [`Silences::set`]).
    pub fn set_silence(&mut self, s: super::Silence) -> Result<String, super::SilenceError> {
        let now = self.clock.now();
        self.silences.set(s, now)
    }

    /// Expires a silence now.
    pub fn expire_silence(&mut self, id: &str) -> Result<(), super::SilenceError> {
        let now = self.clock.now();
        self.silences.expire(id, now)
    }

    /// Silences matching `filter`, optionally in one of `states`, as of now.
    pub fn query_silences(
        &self,
        filter: &[ember_exposition::Matcher],
        states: Option<&[super::SilenceState]>,
    ) -> Vec<&super::Silence> {
        self.silences.query(filter, states, self.clock.now())
    }

    /// Every alert held, in no particular order.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values().map(|a| &**a)
    }

    /// Number of alerts held.
    pub fn alert_count(&self) -> usize {
        self.alerts.len()
    }

    /// The aggregation groups, sorted by key.
    pub fn groups(&self) -> Vec<GroupInfo> {
        let mut v: Vec<GroupInfo> = self
            .groups
            .values()
            .map(|g| GroupInfo {
                key: g.key.clone(),
                receiver: self.config.route.get(g.route).opts.receiver.clone(),
                labels: g.labels.clone(),
                alerts: g.alerts.len(),
                next_flush: g.next_flush,
            })
            .collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// The aggregation groups with the alerts each holds (sorted by key; alerts in
    /// notification order), for `GET /api/v2/alerts/groups`.
    pub fn group_alerts(&self) -> Vec<(GroupInfo, Vec<&Alert>)> {
        let mut v: Vec<(GroupInfo, Vec<&Alert>)> = self
            .groups
            .values()
            .map(|g| {
                let info = GroupInfo {
                    key: g.key.clone(),
                    receiver: self.config.route.get(g.route).opts.receiver.clone(),
                    labels: g.labels.clone(),
                    alerts: g.alerts.len(),
                    next_flush: g.next_flush,
                };
                let mut alerts: Vec<&Alert> = g.alerts.values().map(|a| &**a).collect();
                alerts.sort_by(|a, b| super::alert::notification_order(a, b));
                (info, alerts)
            })
            .collect();
        v.sort_by(|a, b| a.0.key.cmp(&b.0.key));
        v
    }

    /// Why `labels` is muted now: the IDs of the active silences that mute it (sorted)
    /// and the fingerprint of an alert inhibiting it, as the `status` of an alert in
    /// Alertmanager's API reports them.
    pub fn muted_by(&self, labels: &Labels) -> MutedBy {
        let now = self.clock.now();
        MutedBy {
            silenced_by: self.silences.mutes(labels, now).into_iter().map(str::to_owned).collect(),
            inhibited_by: self.inhibitor.inhibited_by(labels, &self.alerts, now),
        }
    }

    /// Whether `labels` is muted now by a silence or an inhibition rule.
    pub fn is_muted(&self, labels: &Labels) -> bool {
        let now = self.clock.now();
        self.silences.is_silenced(labels, now) || self.inhibitor.mutes(labels, &self.alerts, now)
    }

    /// Receives alerts: stores (merging with earlier copies), routes, and groups them.
    pub fn put(&mut self, alerts: impl IntoIterator<Item = PostableAlert>) {
        let now = self.clock.now();
        let resolve_timeout = self.config.global.resolve_timeout.as_millis();
        let mut matched = Vec::new();
        for p in alerts {
            let mut alert = Alert::from_postable(p, now, resolve_timeout);
            let fp = alert.fingerprint();
            if let Some(old) = self.alerts.get(&fp) {
                if old.overlaps(&alert) {
                    alert = old.merge(&alert);
                }
            }
            self.inhibitor.observe(&alert);
            let alert = Arc::new(alert);
            matched.clear();
            self.config.route.match_routes(&alert.labels).into_iter().for_each(|r| matched.push(r));
            for &route_id in &matched {
                self.insert_into_group(route_id, &alert, now);
            }
            self.alerts.insert(fp, alert);
        }
    }

    fn insert_into_group(&mut self, route_id: RouteId, alert: &Arc<Alert>, now: Timestamp) {
        let route = self.config.route.get(route_id);
        let group_labels = route.opts.group_by.group_labels(&alert.labels);
        let gid = {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(&(route_id as u64).to_le_bytes());
            h.update(&group_labels.stable_hash().to_le_bytes());
            h.digest()
        };
        let group_wait = route.opts.group_wait.as_millis();
        let g = self.groups.entry(gid).or_insert_with(|| {
            let key = format!("{}:{}", route.key(), group_labels);
            let key_hash = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
            let next_flush = now + group_wait;
            self.schedule.push(Reverse((next_flush, gid)));
            AggrGroup {
                route: route_id,
                labels: group_labels,
                key,
                key_hash,
                alerts: HashMap::new(),
                next_flush,
                has_flushed: false,
            }
        });
        // An alert that has been firing longer than group_wait flushes a new group at once.
        if !g.has_flushed && alert.starts_at + group_wait < now && g.next_flush > now {
            g.next_flush = now;
            self.schedule.push(Reverse((now, gid)));
        }
        g.alerts.insert(alert.fingerprint(), Arc::clone(alert));
    }

    /// The earliest time a group is due to flush, if any group exists.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.schedule.peek().map(|Reverse((t, _))| *t)
    }

    /// Flushes every group due at the clock's current time and returns the
    /// notifications to deliver. Each must be reported back with
    /// [`Dispatcher::complete`]. Also garbage-collects silences, the notification log
    /// and resolved alerts every 30 seconds.
    pub fn poll(&mut self) -> Vec<Notification> {
        let now = self.clock.now();
        let mut out = Vec::new();
        while let Some(&Reverse((t, gid))) = self.schedule.peek() {
            if t > now {
                break;
            }
            self.schedule.pop();
            let Some(g) = self.groups.get_mut(&gid) else { continue };
            if g.next_flush != t {
                continue; // superseded timer
            }
            let interval = self.config.route.get(g.route).opts.group_interval.as_millis();
            let mut next = t + interval;
            if next <= now {
                next = now + interval;
            }
            g.next_flush = next;
            g.has_flushed = true;
            self.schedule.push(Reverse((next, gid)));
            self.flush(gid, now, &mut out);
        }
        if now.saturating_sub(self.last_maintenance) >= MAINTENANCE_INTERVAL_MS {
            self.maintenance(now);
        }
        out
    }

    fn flush(&mut self, gid: u64, now: Timestamp, out: &mut Vec<Notification>) {
        let g = &self.groups[&gid];
        if g.alerts.is_empty() {
            self.groups.remove(&gid);
            return;
        }
        let route = self.config.route.get(g.route);
        let resolved_in_group: Vec<(u64, Timestamp)> =
            g.alerts.values().filter(|a| a.resolved_at(now)).map(|a| (a.fingerprint(), a.updated_at)).collect();
        let flush_id = self.next_id;
        self.next_id += 1;
        let mut pending = PendingFlush { group: gid, remaining: 0, ok: true, resolved: resolved_in_group };

        // Pipeline: active/mute time intervals, inhibition, silences.
        let in_interval = |n: &String| self.config.time_intervals.get(n).is_some_and(|ti| ti.contains(now));
        let muted_by_time = route.opts.mute_time_intervals.iter().any(in_interval)
            || (!route.opts.active_time_intervals.is_empty()
                && !route.opts.active_time_intervals.iter().any(in_interval));
        let mut kept: Vec<&Arc<Alert>> = Vec::new();
        if !muted_by_time {
            let check_silences = self.silences.any_active(now);
            let check_inhibit = !self.inhibitor.is_empty();
            kept = g
                .alerts
                .values()
                .filter(|a| {
                    !(check_inhibit && self.inhibitor.mutes(&a.labels, &self.alerts, now)
                        || check_silences && self.silences.is_silenced(&a.labels, now))
                })
                .collect();
        }
        if !kept.is_empty() {
            let mut firing: Vec<u64> = kept.iter().filter(|a| !a.resolved_at(now)).map(|a| a.fingerprint()).collect();
            let mut resolved: Vec<u64> = kept.iter().filter(|a| a.resolved_at(now)).map(|a| a.fingerprint()).collect();
            firing.sort_unstable();
            resolved.sort_unstable();
            let repeat = route.opts.repeat_interval.as_millis();
            let deadline = now + route.opts.group_interval.as_millis();
            let receiver = self.config.receiver(&route.opts.receiver).expect("validated receiver");
            let integrations = receiver
                .webhook_configs
                .iter()
                .cloned()
                .map(Integration::Webhook)
                .enumerate()
                .chain(receiver.slack_configs.iter().cloned().map(Integration::Slack).enumerate())
                .chain(receiver.pagerduty_configs.iter().cloned().map(Integration::Pagerduty).enumerate());
            // The snapshot is built only if some integration needs a notification, so
            // flushing an unchanged group copies nothing.
            let mut snapshot: Option<Vec<Alert>> = None;
            for (idx, integration) in integrations {
                let name = format!("{}/{}[{idx}]", receiver.name, integration.kind());
                let entry = self.nflog.get(g.key_hash, &name);
                let send_resolved = integration.send_resolved();
                if !NotificationLog::needs_update(entry, &firing, &resolved, send_resolved, repeat, now) {
                    continue;
                }
                let snapshot = snapshot.get_or_insert_with(|| {
                    // Alerts not resolved at flush time are sent with no end time.
                    let mut v: Vec<Alert> = kept
                        .iter()
                        .map(|a| {
                            let mut a = Alert::clone(a);
                            if !a.resolved_at(now) {
                                a.ends_at = None;
                            }
                            a
                        })
                        .collect();
                    sort_alerts(&mut v);
                    v
                });
                let alerts: Vec<Alert> = if send_resolved {
                    snapshot.clone()
                } else {
                    snapshot.iter().filter(|a| a.ends_at.is_none()).cloned().collect()
                };
                if alerts.is_empty() {
                    // Nothing to say to this integration, but remember the resolution.
                    self.nflog.log(g.key_hash, &name, firing.clone(), resolved.clone(), now);
                    continue;
                }
                pending.remaining += 1;
                let id = self.next_id;
                self.next_id += 1;
                out.push(Notification {
                    id,
                    receiver: receiver.name.clone(),
                    integration_name: name,
                    integration,
                    group_key: g.key.clone(),
                    group_labels: g.labels.clone(),
                    alerts,
                    flushed_at: now,
                    deadline,
                    external_url: self.external_url.clone(),
                    flush: flush_id,
                    group_hash: g.key_hash,
                    firing: firing.clone(),
                    resolved: resolved.clone(),
                });
            }
        }
        if pending.remaining == 0 {
            self.finish_flush(pending);
        } else {
            self.pending.insert(flush_id, pending);
        }
    }

    /// Reports the outcome of delivering `n` (after retries). Success is written to
    /// the notification log; when every notification of a flush succeeded, the
    /// resolved alerts it carried are dropped from their group.
    pub fn complete(&mut self, n: &Notification, ok: bool) {
        let now = self.clock.now();
        if ok {
            self.nflog.log(n.group_hash, &n.integration_name, n.firing.clone(), n.resolved.clone(), now);
        }
        if let Some(p) = self.pending.get_mut(&n.flush) {
            p.ok &= ok;
            p.remaining = p.remaining.saturating_sub(1);
            if p.remaining == 0 {
                let p = self.pending.remove(&n.flush).expect("present");
                self.finish_flush(p);
            }
        }
    }

    fn finish_flush(&mut self, p: PendingFlush) {
        if !p.ok {
            return;
        }
        let Some(g) = self.groups.get_mut(&p.group) else { return };
        for (fp, updated_at) in p.resolved {
            // Only if not received again since the flush.
            if g.alerts.get(&fp).is_some_and(|a| a.updated_at == updated_at) {
                g.alerts.remove(&fp);
            }
        }
        if g.alerts.is_empty() {
            self.groups.remove(&p.group);
        }
    }

    fn maintenance(&mut self, now: Timestamp) {
        self.last_maintenance = now;
        let _ = self.silences.gc(now);
        self.nflog.gc(now);
        // Resolved alerts no group holds any more are forgotten.
        let before = self.alerts.len();
        let mut held: std::collections::HashSet<u64> = std::collections::HashSet::new();
        if self.alerts.values().any(|a| a.resolved_at(now)) {
            for g in self.groups.values() {
                held.extend(g.alerts.keys().copied());
            }
            self.alerts.retain(|fp, a| !a.resolved_at(now) || held.contains(fp));
        }
        if self.alerts.len() != before {
            self.inhibitor.prune(&self.alerts);
        }
    }

    /// Replaces the configuration, regrouping the held alerts under the new routes
    /// (groups restart their `group_wait`, as on an Alertmanager reload).
    pub fn reload(&mut self, config: Arc<Config>) {
        let now = self.clock.now();
        self.config = config;
        self.inhibitor = Inhibitor::new(&self.config.inhibit_rules);
        self.groups.clear();
        self.schedule.clear();
        self.pending.clear();
        let alerts: Vec<Arc<Alert>> = self.alerts.values().cloned().collect();
        for a in &alerts {
            self.inhibitor.observe(a);
            for r in self.config.route.match_routes(&a.labels) {
                self.insert_into_group(r, a, now);
            }
        }
    }
}
