//! # ember-discovery
//!
//! What Prometheus does between `prometheus.yml` and a scrape: the typed scrape
//! configuration ([`config`]), service discovery providers that emit [`TargetGroup`]s
//! ([`discovery`]: static, file, DNS, HTTP, Kubernetes), target building with relabeling
//! ([`target`]), the scrape loop that writes into any
//! [`Appendable`](ember_tsdb::storage::Appendable) ([`scrape`]), and the
//! `/api/v1/targets` view ([`api`]).
//!
//! ```
//! use ember_discovery::config::Config;
//! use ember_discovery::target::{TargetBuilder, TargetGroup};
//! use ember_exposition::labels;
//!
//! let cfg = Config::from_yaml(r#"
//! global:
//!   scrape_interval: 15s
//! scrape_configs:
//!   - job_name: node
//!     params: { format: [prometheus] }
//!     relabel_configs:
//!       - source_labels: [__meta_env]
//!         target_label: env
//!       - source_labels: [__address__]
//!         regex: 'canary-.*'
//!         action: drop
//! "#).unwrap();
//! let node = cfg.scrape_config("node").unwrap();
//! // Inherited from `global`; the timeout is the 10s default.
//! assert_eq!(node.interval().to_string(), "15s");
//! assert_eq!(node.timeout().to_string(), "10s");
//!
//! // A group as any provider emits it: the manager hands the same shape to the builder
//! // whether it came from static_configs, a file, DNS, HTTP or Kubernetes.
//! let group = TargetGroup {
//!     source: "0".into(),
//!     targets: vec![labels! {"__address__" => "10.0.0.1:9100"}, labels! {"__address__" => "canary-1:9100"}],
//!     labels: labels! {"__meta_env" => "prod"},
//! };
//! let targets = TargetBuilder::new(node).unwrap().build([&group]);
//! assert_eq!(targets.active.len(), 1);
//! let t = &targets.active[0];
//! assert_eq!(t.url(), "http://10.0.0.1:9100/metrics?format=prometheus");
//! // `__meta_*` is gone and `instance` defaults to the address; `__` labels stay on the
//! // full set, which steers the scrape, but not on the public one.
//! assert_eq!(t.labels(), &labels! {"env" => "prod", "instance" => "10.0.0.1:9100", "job" => "node"});
//! assert_eq!(t.full_labels().get("__scrape_interval__"), Some("15s"));
//! // The canary was dropped by relabeling and is kept, as discovered, for the targets page.
//! assert_eq!(targets.dropped[0].discovered_labels.get("__address__"), Some("canary-1:9100"));
//! ```
//!
//! ## Design
//!
//! Providers send their **complete** current set of groups on every change rather than
//! deltas, and the [`discovery::Manager`] keeps the latest set per provider and publishes a
//! debounced snapshot per job on a `watch` channel. Consumers (the scrape manager, the
//! targets API) therefore always rebuild from one consistent snapshot with a pure function,
//! [`target::TargetBuilder::build`], and a failing provider keeps its last good targets
//! just by staying silent. The price is re-sending unchanged groups (Kubernetes with many
//! objects sends them all on each change, coalesced by the debounce); target building is
//! cheap next to a scrape, and the simplicity removes a whole class of merge bugs.
//!
//! The scrape manager follows the same rule: on each published snapshot it rebuilds every
//! job's targets and diffs them against its running loops by the hash of their labels and
//! URL, so a target whose labels change is simply a new target (the old one's series go
//! stale). Each loop owns a cache from the raw text of a series line to the labels it
//! became and the storage's reference; that keeps label parsing, relabeling and index
//! lookups off the steady-state path, at the cost of memory proportional to the series of
//! the target.
//!
//! Async (tokio) appears only in the providers and the manager, where there is network or
//! timer I/O; configuration and target building are synchronous and pure. HTTP goes
//! through `reqwest` with rustls; DNS through a small built-in client whose server can be
//! set, so every provider is tested against a real server on 127.0.0.1.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod config;
pub mod discovery;
pub mod scrape;
pub mod target;
pub mod units;

pub use target::{Target, TargetGroup};
