//! # ember-client
//!
//! Instrumentation for any Rust application: metric types, labelled families, a registry
//! and encoders for `/metrics`.
//!
//! Empty for now: the ember-client issue ("instrument any Rust app") fills this crate.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
