//! # ember-alerting
//!
//! Recording and alerting rules, and an Alertmanager-compatible dispatcher.
//!
//! So far: [`template`], the Go `text/template` language with Prometheus's functions,
//! which alert labels and annotations (rules) and notification texts (dispatch) share, and
//! [`rules::file`], rule files validated like `promtool check rules`.
//!
//! ```
//! use ember_alerting::template::{Context, Template, Value};
//!
//! let t = Template::parse("t", "{{ range . }}{{ . | humanize }} {{ end }}").unwrap();
//! let out = t.execute(&Value::list([Value::Float(1500.0), Value::Float(0.002)]), &Context::default()).unwrap();
//! assert_eq!(out, "1.5k 2m ");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod rules;
pub mod template;
