//! # ember-alerting
//!
//! Recording and alerting rules, and an Alertmanager-compatible dispatcher.
//!
//! Empty for now: the ember-alerting issue fills this crate.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
