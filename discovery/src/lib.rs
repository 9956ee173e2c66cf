//! # ember-discovery
//!
//! Service discovery (static, file, DNS, HTTP, Kubernetes), target building and the scrape loop.
//!
//! Empty for now: the ember-discovery issue fills this crate.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
