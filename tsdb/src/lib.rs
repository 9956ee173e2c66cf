//! # ember-tsdb
//!
//! Ember's time-series database: the storage boundary every upper layer talks to
//! ([`storage`]), and the engine behind it: the in-memory [`head`] (series in
//! lock-striped maps, a symbol table, a roaring-bitmap inverted index, Gorilla XOR
//! [`chunks`]), the write-ahead log ([`wal`]), immutable memory-mapped [`block`]s, and
//! [`db::Db`], which owns a directory and ties them together: WAL on commit, replay on
//! open, blocks cut from the head, leveled and vertical compaction, retention, deletion,
//! snapshots.
//!
//! ```
//! use ember_exposition::{labels, Matcher};
//! use ember_tsdb::db::Db;
//! use ember_tsdb::storage::{collect_points, AppendOptions, Appendable, Point, Queryable, Value};
//! use ember_tsdb::wal::SyncPolicy;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let up = labels! {"__name__" => "up", "job" => "api", "instance" => "host-1:9100"};
//! {
//!     // fsync on every commit: a commit that returned survives a crash.
//!     let db = Db::builder(dir.path()).sync(SyncPolicy::EveryCommit).open().unwrap();
//!     // Upper layers see only the traits: an `Arc<dyn Appendable>`, a `&dyn Queryable`.
//!     let storage: &dyn Appendable = &db;
//!     let mut app = storage.appender();
//!     let r = app.append(None, &up, 15_000, Value::Float(1.0), AppendOptions::NONE).unwrap();
//!     app.commit().unwrap();
//!     // The next scrape appends by the cached reference: no label lookup.
//!     let mut app = storage.appender();
//!     app.append(Some(r), &up, 30_000, Value::Float(0.0), AppendOptions::NONE).unwrap();
//!     app.commit().unwrap();
//! }
//! // Reopening replays the WAL under the same series references.
//! let db = Db::builder(dir.path()).open().unwrap();
//! assert_eq!(db.open_report().replay.samples, 2);
//! let q = Queryable::querier(&db, 0, 60_000).unwrap();
//! let matchers = [Matcher::equal("job", "api"), Matcher::regex("instance", "host-1.*").unwrap()];
//! let set = q.select(true, None, &matchers).collect_all().unwrap().value;
//! assert_eq!(collect_points(set[0].iter().as_mut()), [Point::float(15_000, 1.0), Point::float(30_000, 0.0)]);
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
//! Durability is a write-ahead log written at commit, in the same critical section as
//! the head commit, so the log's order is the head's order and a replay rebuilds the same
//! head under the same series references. The price is that commits of one `Db` are
//! serialized on the log (one `write` per commit); the gain is that replay needs no
//! reference remapping and a batch is all or nothing after a crash. See [`wal`] for the
//! durability contract of each [`wal::SyncPolicy`].
//!
//! **Unsafe.** Blocks are read through read-only memory maps (no copy: chunk bytes are
//! decoded straight from the map) and the directory lock is an `flock`; both live in one
//! private module with `// SAFETY:` comments, `clippy::undocumented_unsafe_blocks` is
//! denied, and `unsafe_code` is denied everywhere else except in the head's append path:
//! cache prefetch hints in the commit loop, and the id → series table
//! (`head/table.rs`), which appends read with plain loads, holding series by pointer
//! under an epoch pin instead of by reference count (with the slot-held newest timestamp
//! and the prefetches, about 2x samples/s in `head_append`'s `by_ref_1_thread` against
//! the striped-lock, `Arc`-per-sample path it replaced; each block has its `SAFETY`
//! comment, and collection under open appenders has tests). The immutability contract: block
//! files are never written after they are renamed into place (only `tombstones` is
//! replaced, by rename), so mapped bytes never change under a reader; every read of them
//! is bounds-checked.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

pub mod block;
pub mod chunks;
mod compact;
pub mod db;
mod enc;
pub mod error;
pub mod exemplars;
pub mod head;
pub mod storage;
mod sys;
pub mod wal;

pub use error::{Error, ErrorKind, Result};
