//! # ember-server
//!
//! The pieces of the `ember` binary: a Prometheus-compatible server composed only from the
//! public APIs of the Ember crates, and the promtool/amtool-like subcommands beside it.
//! The binary (`src/main.rs`) parses flags and hands over to these modules; tests drive
//! them directly.
//!
//! ## Design: the API speaks Prometheus's JSON byte for byte
//!
//! Grafana and other clients read sample values as strings and timestamps as float
//! seconds. The [`web::json`] writers produce exactly Go's formatting (shortest
//! round-trip decimal without an exponent, `+Inf`, millisecond timestamps with trailing
//! zeros trimmed), so responses compare equal to Prometheus's:
//!
//! ```
//! use ember_server::web::json::{push_float, push_timestamp};
//!
//! let mut s = String::new();
//! push_timestamp(&mut s, 1_435_781_451_781);
//! s.push(',');
//! push_float(&mut s, 1e6);
//! s.push(',');
//! push_float(&mut s, f64::INFINITY);
//! assert_eq!(s, "1435781451.781,1000000,+Inf");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod embedded;
pub mod features;
pub mod notifier;
pub mod redact;
pub mod server;
pub mod telemetry;
pub mod web;
