//! Recording and alerting rules.
//!
//! [`file`](mod@file): rule files in Prometheus's YAML format with `promtool check rules`
//! validation. [`eval`]: recording rules, the alert state machine and group evaluation
//! over a query function. [`manager`]: the rule manager (loading, scheduling, storage,
//! alert sending, `for` restoration, reloads, API views). [`unittest`]: the
//! `promtool test rules` file format and runner.

pub mod eval;
pub mod file;
pub mod manager;
pub mod unittest;
