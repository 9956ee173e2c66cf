//! Recording and alerting rules.
//!
//! So far: [`file`], rule files in Prometheus's YAML format with `promtool check rules`
//! validation. The rule manager (evaluation, alert state machine, `ALERTS` series) arrives
//! with the PromQL engine.

pub mod file;
