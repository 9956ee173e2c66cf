//! # ember-promql
//!
//! PromQL for Ember. The [`parser`] module turns query text into a typed, position-carrying
//! syntax tree and back into text; the [`engine`] evaluates that tree against any
//! `Queryable` (the head, merged queriers, a test storage). [`series`] reads the expanding
//! series notation (`1+2x3 _ stale`) that PromQL test scripts and rule unit tests share, and
//! `testing` (feature `test-util`) parses and runs the PromQL test-script format.
//!
//! ## Design: range-first evaluation
//!
//! Prometheus evaluates a range query node by node over all steps at once rather than
//! running an instant query per step, and so does Ember: a selector selects its series
//! once per query, copies each series' samples into one buffer, and walks it with a cursor
//! across the steps (lookback, staleness markers, `offset` and `@` applied per step); range
//! functions slide a window over that buffer; operators and aggregations step through
//! per-step vectors whose buffers are reused, with per-series caches for match signatures
//! and groups. An instant query is the one-step case. What it costs: a node's result is
//! held for all steps at once, which the `max_samples` limit bounds. What it buys: a range
//! query of 241 steps reads each stored sample once, not 241 times, as the example checks.
//!
//! ```
//! use ember_exposition::labels;
//! use ember_promql::engine::{Engine, Value};
//! use ember_tsdb::head::Head;
//! use ember_tsdb::storage::{AppendOptions, Value as Stored};
//!
//! // Two counters scraped every 15 s for an hour.
//! let head = Head::default();
//! let mut app = head.appender();
//! for (job, per_scrape) in [("a", 1.0), ("b", 3.0)] {
//!     let l = labels!("__name__" => "requests_total", "job" => job);
//!     for i in 0..=240 {
//!         app.append(None, &l, i * 15_000, Stored::Float(i as f64 * per_scrape), AppendOptions::NONE).unwrap();
//!     }
//! }
//! app.commit().unwrap();
//!
//! let engine = Engine::default();
//! let q = "sum(rate(requests_total[1m])) by (job)";
//! let res = engine.instant_query(&head, q, 3_600_000).unwrap();
//! let Value::Vector(v) = &res.value else { panic!("an instant vector") };
//! assert_eq!(v.len(), 2);
//! let b = v.iter().find(|s| s.metric.get("job") == Some("b")).unwrap();
//! assert!((b.f - 0.2).abs() < 1e-9, "3 per 15 s is 0.2/s");
//!
//! // The range query selects once: each stored sample read once, not once per step.
//! let res = engine.range_query(&head, "sum(requests_total)", 0, 3_600_000, 15_000).unwrap();
//! let Value::Matrix(m) = &res.value else { panic!("a matrix") };
//! assert_eq!(m[0].points.len(), 241);
//! assert_eq!(res.stats.samples_read, 2 * 241);
//! ```
//!
//! ## The parser: hand-written precedence climbing over bytes
//!
//! Prometheus generates its parser with yacc and lexes with a goroutine-free state machine.
//! Ember writes both by hand: the lexer scans bytes and hands out spans (strings are
//! unescaped only when used, keywords are recognised without allocating), and the parser
//! climbs operator precedence in a loop, so `a + b + c + …` costs no recursion and each
//! parenthesis costs a few stack frames. Type checks (Prometheus's `checkAST`) run as each
//! node is built, so an error points at the first offending part of the query by byte range.
//! What it gives up: the grammar is code, not a table, so it is checked by tests (every
//! query of the Prometheus conformance scripts, a table of invalid queries with their
//! messages, a parse → print → parse property test, a fuzz target) rather than by a parser
//! generator. Recursion is bounded by [`parser::ParseOptions::max_depth`], so hostile input
//! gets an error, never a stack overflow.
//!
//! Label matchers in the tree are [`ember_exposition::Matcher`]s, compiled and analysed once
//! at parse time so the engine uses their fast paths directly. Compiling a regex costs more
//! than parsing the query around it, so regex matchers come from a small per-thread cache
//! (like Prometheus's matcher cache); [`parser::ParseOptions::regex_cache`] turns it off.
//!
//! The experimental parts of PromQL are off by default, as in Prometheus 3, each behind the
//! switch named after its `--enable-feature` flag ([`parser::Feature`]): experimental
//! functions, `anchored`/`smoothed` selectors, `fill` modifiers. Switched off, they fail to
//! parse with Prometheus's words and a position; [`parser::ParseOptions::experimental`]
//! switches them all on, and [`engine::EngineOptions`] carries the same switches.
//!
//! ```
//! use ember_promql::parser::{self, BinaryOp, Expr, ParseErrorKind, ParseOptions};
//!
//! // `^` is right-associative and binds tighter than unary minus.
//! let e = parser::parse("-2 ^ 3 ^ 2").unwrap();
//! let Expr::Unary(u) = &e else { panic!("unary minus applies to the power") };
//! let Expr::Binary(pow) = &u.expr else { panic!() };
//! assert_eq!(pow.op, BinaryOp::Pow);
//! assert!(matches!(pow.rhs, Expr::Binary(_)), "2 ^ (3 ^ 2)");
//!
//! // Errors carry Prometheus's wording and the byte range of the offending part.
//! let err = parser::parse("rate(foo)").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"
//! );
//! assert_eq!((err.pos().start, err.pos().end), (5, 8));
//!
//! // Deep nesting is an error, not a crash.
//! let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
//! let err = parser::parse(&deep).unwrap_err();
//! assert!(matches!(err.kind(), ParseErrorKind::TooDeep(_)));
//!
//! // Printing is canonical and parses back to the same tree.
//! let q = "sum without(instance)(rate(x[5m]offset 1h))/on(job)group_left up";
//! let e = ParseOptions::default().parse(q).unwrap();
//! let printed = parser::print(&e);
//! assert_eq!(printed, "sum without (instance) (rate(x[5m] offset 1h)) / on (job) group_left up");
//! assert!(parser::parse(&printed).unwrap().same_structure(&e));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod engine;
pub mod parser;
pub mod series;
#[cfg(feature = "test-util")]
pub mod testing;
