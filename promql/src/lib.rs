//! # ember-promql
//!
//! PromQL for Ember. The [`parser`] module turns query text into a typed, position-carrying
//! syntax tree and back into text; the evaluation engine (a later module) walks that tree
//! against any `Queryable`. [`series`] reads the expanding series notation (`1+2x3 _ stale`)
//! that PromQL test scripts and rule unit tests share, and `testing` (feature `test-util`)
//! parses the PromQL test-script format.
//!
//! ## Design: a hand-written precedence-climbing parser over bytes
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
//! at parse time so an engine can use their fast paths directly. Compiling a regex costs more
//! than parsing the query around it, so regex matchers come from a small per-thread cache
//! (like Prometheus's matcher cache); [`parser::ParseOptions::regex_cache`] turns it off.
//! The tree holds no storage handles: an engine wraps or annotates it (for example to mark
//! step-invariant subtrees) in its own types.
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
