//! # ember-tsdb
//!
//! The storage boundary (`storage`: appender and querier traits) and the engine behind it.
//!
//! Empty for now: the tsdb issues ("the in-memory head" and "durability") fill this crate.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
