//! # ember-tsdb
//!
//! Ember's time-series database: the storage boundary every upper layer talks to
//! ([`storage`]), and the engine behind it. This part is the in-memory [`head`]: series
//! in lock-striped maps, a symbol table, a roaring-bitmap inverted index, and Gorilla
//! XOR [`chunks`]. The WAL, blocks and compaction come next and keep the head's shapes:
//! series references are stable `u64`s, chunks carry an encoding tag, and chunks are cut
//! at chunk-range boundaries so a block gets whole chunks.
//!
//! ```
//! use ember_exposition::{labels, Matcher};
//! use ember_tsdb::head::Head;
//! use ember_tsdb::storage::{collect_points, AppendOptions, Appendable, Point, Queryable, Value};
//!
//! let head = Head::builder().build();
//! // Upper layers see only the traits: an `Arc<dyn Appendable>`, a `&dyn Queryable`.
//! let storage: &dyn Appendable = &head;
//!
//! let up = labels! {"__name__" => "up", "job" => "api", "instance" => "host-1:9100"};
//! let mut app = storage.appender();
//! let r = app.append(None, &up, 15_000, Value::Float(1.0), AppendOptions::NONE).unwrap();
//! app.commit().unwrap();
//!
//! // The next scrape appends by the cached reference: no label lookup.
//! let mut app = storage.appender();
//! app.append(Some(r), &up, 30_000, Value::Float(0.0), AppendOptions::NONE).unwrap();
//! // A querier opened before the commit never sees the batch, not even part of it.
//! let before = Queryable::querier(&head, 0, 60_000).unwrap();
//! app.commit().unwrap();
//!
//! let select = |q: &dyn ember_tsdb::storage::Querier| {
//!     let matchers = [Matcher::equal("job", "api"), Matcher::regex("instance", "host-1.*").unwrap()];
//!     let set = q.select(true, None, &matchers).collect_all().unwrap().value;
//!     collect_points(set[0].iter().as_mut())
//! };
//! assert_eq!(select(before.as_ref()), [Point::float(15_000, 1.0)]);
//! let after = Queryable::querier(&head, 0, 60_000).unwrap();
//! assert_eq!(select(after.as_ref()), [Point::float(15_000, 1.0), Point::float(30_000, 0.0)]);
//! ```
//!
//! ## Design
//!
//! The head is built for the scrape path: an append by cached reference is a striped
//! map lookup and one atomic load to rule out out-of-order samples; the encoding happens
//! at commit, one short per-series lock per sample. What that costs is the way a batch
//! becomes visible: rather than Prometheus's per-sample append ids, a commit holds a
//! shared gate and creating a querier takes it exclusively for an instant (see [`head`]).
//! Queriers therefore wait for in-flight commits (tens of microseconds), and commits
//! never wait for queries. Chunks are immutable once closed and shared with readers by
//! reference count; a reader copies only the ~100-byte open chunk of each series it
//! selects, so a query holds no lock while it decodes.
//!
//! Matchers are resolved on the inverted index alone: `=` is one bitmap, `a|b|c` a
//! union of a few, `prefix.*` a union over a range of the sorted values, `.*` nothing at
//! all; only other regexes test each value of their label, never each series.
//!
//! `unsafe_code` is denied except where a bench showed it pays, allowed block by block
//! with a `SAFETY` comment: one cache prefetch hint in the head's commit loop (about +15 %
//! samples/s in `head_append`).
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

pub mod chunks;
pub mod head;
pub mod storage;
