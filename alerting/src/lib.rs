//! # ember-alerting
//!
//! Recording and alerting rules, and an Alertmanager-compatible dispatcher.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod dispatch;
