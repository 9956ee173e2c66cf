//! An Alertmanager-compatible dispatcher.
//!
//! - Configuration: [`Config::from_yaml`] parses and validates `alertmanager.yml`
//!   (route tree, receivers, inhibit rules, time intervals); errors name the field
//!   ([`ConfigError::path`]) and unknown fields are errors.
//! - Routing: [`RouteTree::receivers_for`] answers "which receivers does this label set
//!   reach", and [`format_amtool_routes`] prints it as `amtool config routes test` does.
//! - The state machine: [`Dispatcher`] (`put`, `poll`, `complete`) over a [`Clock`].
//! - Silences: [`Silences`], persisted atomically to a JSON snapshot.
//! - The notification log: [`NotificationLog`], persisted to a checksummed binary
//!   snapshot (format in its module docs) so a restart does not re-notify (see
//!   "Persistence across restarts" below).
//! - Inspection (what Alertmanager's API v2 shows): [`Dispatcher::alerts`],
//!   [`Dispatcher::muted_by`] (silencing IDs, inhibiting fingerprint),
//!   [`Dispatcher::group_alerts`], and [`DispatcherService::notification_counts`].
//! - Delivery: [`payload`] renders webhook (version 4), Slack and PagerDuty v2 bodies;
//!   [`DispatcherService`] delivers them over a [`Transport`] with retries and backoff;
//!   [`AlertmanagerNotifier`] forwards alerts to external Alertmanagers instead.
//!
//! ## Persistence across restarts
//!
//! Alertmanager snapshots its silences and notification log to its data directory and
//! loads them at start; without the log, every firing group is notified again right after
//! a restart. A host embedding the dispatcher does the same with:
//!
//! - [`DispatcherBuilder::silences_file`] and [`DispatcherBuilder::nflog_file`]: loaded on
//!   [`build`](DispatcherBuilder::build). A corrupt log snapshot never stops the build: it
//!   is logged (`tracing`), renamed to `<file>.corrupt`, and the log starts empty
//!   ([`Dispatcher::nflog_load`] says what happened).
//! - [`DispatcherService::run`] writes the log after deliveries change it (at most once per
//!   [`DispatcherService::with_nflog_save_interval`], 5 s by default, off the dispatcher's
//!   lock) and when it stops; call [`DispatcherService::save_nflog`] after a final
//!   [`step`](DispatcherService::step) on shutdown. Synchronous hosts call
//!   [`Dispatcher::save_nflog`].
//! - Hosts with their own storage use [`NotificationLog::encode`] /
//!   [`NotificationLog::decode`] and [`DispatcherBuilder::notification_log`].
//!
//! Writes are atomic (temporary file, fsync, rename); expired entries are not written
//! and are dropped on load. Keys are stable across processes: group keys and
//! fingerprints are unseeded xxh3 hashes of the configuration and the labels.
//!
//! ## Compatibility
//!
//! Differences from Alertmanager 0.25 worth knowing: fingerprints are
//! [`ember_exposition::Labels::stable_hash`] (xxh3), not FNV, so the webhook
//! `fingerprint` values differ; regexes let `.` match newlines (Prometheus's anchoring
//! `^(?s:…)$`, where Alertmanager uses `^(?:…)$`); label names in `matchers` may be
//! double-quoted as in the UTF-8 matcher syntax; Go templates are replaced by
//! `{{ .Field }}` placeholders (see [`payload`]); there is no gossip clustering.

mod alert;
mod clock;
mod config;
mod dispatcher;
mod duration;
mod error;
mod inhibit;
mod matchers;
mod nflog;
mod notify;
pub mod payload;
mod route;
mod silence;
mod timeinterval;

pub use alert::{Alert, AlertStatus, PostableAlert};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    Config, DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_PAGERDUTY_URL, DEFAULT_REPEAT_INTERVAL,
    DEFAULT_RESOLVE_TIMEOUT, GlobalConfig, InhibitRule, PagerdutyConfig, Receiver, SlackConfig, WebhookConfig,
};
pub use dispatcher::{Dispatcher, DispatcherBuilder, GroupInfo, Integration, MutedBy, Notification};
pub use duration::Duration;
pub use error::{
    ConfigError, ConfigErrorKind, NflogError, NflogErrorKind, NotifyError, NotifyErrorKind, SilenceError,
    SilenceErrorKind,
};
pub use inhibit::Inhibitor;
pub use matchers::{format_matchers, parse_matcher, parse_matchers};
pub use nflog::{NFLOG_FORMAT_VERSION, NFLOG_MAGIC, NflogEntry, NflogLoad, NotificationLog};
pub use notify::{
    AlertSink, AlertmanagerNotifier, BoxFuture, DEFAULT_NFLOG_SAVE_INTERVAL, DispatcherService, HttpTransport,
    NotificationCounts, RetryPolicy, Transport, deliver,
};
pub use route::{GroupBy, Route, RouteId, RouteOpts, RouteTree, format_amtool_routes};
pub use silence::{DEFAULT_SILENCE_RETENTION_MS, Silence, SilenceState, Silences};
pub use timeinterval::{TimeInterval, TimeIntervalSpec};
