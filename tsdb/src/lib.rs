//! # ember-tsdb
//!
//! The storage boundary ([`storage`]: appender and querier traits, merge and fanout) and
//! the engine behind it: [`chunks`] (Gorilla XOR compression).
//!
//! ```
//! use ember_tsdb::chunks::{XorEncoder, XorIterator};
//! use ember_tsdb::storage::SampleIterator;
//! use ember_exposition::{is_stale_nan, STALE_NAN};
//!
//! let mut chunk = XorEncoder::new();
//! for i in 0..120 {
//!     chunk.append(i * 15_000, if i == 119 { STALE_NAN } else { 1.0 });
//! }
//! // Regular timestamps and a constant value cost about two bits per sample.
//! assert!(chunk.bytes().len() < 60);
//! let mut it = XorIterator::new(chunk.bytes());
//! let last = it.seek(119 * 15_000).unwrap();
//! assert!(is_stale_nan(last.v.as_float().unwrap()));
//! ```
#![deny(missing_docs)]

pub mod chunks;
pub mod storage;
