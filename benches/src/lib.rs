//! # ember-benches
//!
//! Cross-crate criterion benchmarks (scrape → store → query). Per-crate benches live in
//! each crate's own `benches/` folder.
//!
//! Empty for now: the end-to-end benches arrive once the tsdb, PromQL and discovery crates exist.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
