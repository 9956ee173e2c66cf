//! Recording and alerting rules.
//!
//! [`file`](mod@file): rule files in Prometheus's YAML format with `promtool check rules`
//! validation. [`eval`]: recording rules, the alert state machine and group evaluation
//! over a query function. [`unittest`]: the `promtool test rules` file format and runner.
//! The scheduling rule manager arrives with the PromQL engine.

pub mod eval;
pub mod file;
pub mod unittest;
