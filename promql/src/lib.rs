//! # ember-promql
//!
//! PromQL: a parser with a typed AST and printer, and an engine that evaluates over any
//! `Queryable`.
//!
//! Empty for now: the PromQL issues ("lexer, parser, typed AST, printer" and "the evaluator")
//! fill this crate.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
