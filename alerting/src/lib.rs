//! # ember-alerting
//!
//! Recording and alerting rules ([`rules`]: rule files, evaluation, the alert state machine,
//! the scheduling [`rules::manager::Manager`], `promtool test rules` unit tests), [`template`] (Go `text/template` with Prometheus's
//! functions, shared by alert labels/annotations and notifications) and [`dispatch`], an
//! Alertmanager-compatible dispatcher: the `alertmanager.yml` route tree, receivers,
//! inhibition, silences, time intervals, grouping and the notification log, with
//! webhook, Slack and PagerDuty integrations and a client for external Alertmanagers.
//!
//! ```
//! use std::sync::Arc;
//! use ember_alerting::dispatch::{Config, Dispatcher, ManualClock, PostableAlert, format_amtool_routes};
//! use ember_exposition::labels;
//!
//! let config = Config::from_yaml(r#"
//! route:
//!   receiver: default
//!   group_by: [alertname]
//!   group_wait: 30s
//!   routes:
//!     - matchers: ['team="db"']
//!       receiver: db-pager
//!       continue: true
//!     - matchers: ['severity=~"crit.*"']
//!       receiver: oncall
//! receivers:
//!   - name: default
//!   - name: db-pager
//!     webhook_configs: [{url: "http://127.0.0.1:9/hook"}]
//!   - name: oncall
//! "#).unwrap();
//!
//! // Which receivers does a label set reach? (`amtool config routes test`)
//! let alert = labels! {"alertname" => "DiskFull", "team" => "db", "severity" => "critical"};
//! assert_eq!(format_amtool_routes(&config.route.receivers_for(&alert)), "db-pager,oncall\n");
//!
//! // The dispatcher is a synchronous state machine over a pluggable clock: advancing
//! // a manual clock is all it takes to test group_wait, with no sleeping and no runtime.
//! let t0 = 1_700_000_000_000;
//! let clock = ManualClock::new(t0);
//! let mut d = Dispatcher::new(Arc::new(config), clock.clone());
//! // Like Prometheus, the producer sends an end time in the future and refreshes it.
//! d.put([PostableAlert { labels: alert, ends_at: Some(t0 + 3_600_000), ..Default::default() }]);
//! clock.advance(29_999);
//! assert!(d.poll().is_empty());
//! clock.advance(1);
//! let sent = d.poll();
//! assert_eq!(sent.len(), 1); // db-pager's webhook; `default` and `oncall` have no integrations
//! assert_eq!(sent[0].group_key, r#"{}/{team="db"}:{alertname="DiskFull"}"#);
//! for n in &sent { d.complete(n, true) }
//! // The notification log suppresses the unchanged group until repeat_interval (4h).
//! clock.advance(5 * 60_000); // one group_interval later
//! assert!(d.poll().is_empty());
//! // Once the alert resolves, the next group_interval tick reports it (send_resolved).
//! clock.set(t0 + 3_600_000);
//! let resolved = d.poll();
//! assert_eq!(resolved.len(), 1);
//! assert_eq!(resolved[0].status().as_str(), "resolved");
//! ```
//!
//! ## Design
//!
//! **Async only at the edges.** [`dispatch::Dispatcher`] owns all state (alerts,
//! aggregation groups, silences, inhibition index, notification log) and never blocks,
//! sleeps or spawns: `put` routes alerts, `poll` flushes the groups due at the clock's
//! current time and returns [`dispatch::Notification`]s, `complete` records the outcome.
//! Every timing rule (group_wait, group_interval, repeat_interval, resolve_timeout,
//! silence expiry, time intervals) is therefore a pure function of the [`dispatch::Clock`]
//! and is tested by advancing a [`dispatch::ManualClock`]. The tokio parts,
//! [`dispatch::DispatcherService`] (delivery with retries and backoff) and
//! [`dispatch::AlertmanagerNotifier`], are thin loops around those calls.
//!
//! **Efficient state.** Alerts are keyed by [`ember_exposition::Labels::stable_hash`];
//! groups by a hash of (route, group labels); due groups come off a binary heap, so a
//! poll costs O(due groups), not O(all groups); each inhibition rule indexes its source
//! alerts by the hash of their `equal` labels, so inhibition is a lookup, not a scan.
//!
//! The rule manager follows the same pattern: [`rules::manager::Manager::run_pending`]
//! evaluates the groups whose slot has come by its clock and returns the alerts to send;
//! `run` is the async loop around it. Each rule's results are committed before the next
//! rule runs, so rules chained within a group see each other at the same timestamp.
//!
//! **State survives restarts.** Silences and the notification log persist under the
//! host's data directory ([`dispatch::DispatcherBuilder::silences_file`],
//! [`dispatch::DispatcherBuilder::nflog_file`]): a restarted dispatcher neither forgets a
//! silence nor re-sends a group it notified before `repeat_interval`. The log's snapshot is
//! a checksummed binary file keyed by unseeded hashes, so any process reads another's; a
//! corrupt one is set aside and never stops the host (see the [`dispatch`] docs).
//!
//! **What it gives up.** The dispatcher is one `&mut` state machine: concurrent
//! producers serialise on the service's lock (ingest is a few microseconds per alert, see
//! `examples/dispatch_load.rs`). Notification texts do not go through the [`template`]
//! engine yet; text fields take `{{ .Field }}` placeholders and defaults approximate
//! Alertmanager's. The built-in
//! transport speaks plain HTTP; HTTPS endpoints need a TLS-capable
//! [`dispatch::Transport`]. There is no clustering (gossip) between dispatchers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod dispatch;
pub mod rules;
pub mod template;
