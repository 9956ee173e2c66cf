//! The PromQL parser: lexer, precedence-climbing parser with Prometheus's type checks, a
//! typed AST with byte positions on every node, a visitor, and printers.
//!
//! ```
//! use ember_promql::parser::{parse, print, Expr, ValueType};
//!
//! let e = parse("sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))").unwrap();
//! assert_eq!(e.value_type(), ValueType::Vector);
//! assert!(matches!(e, Expr::Aggregate(_)));
//! assert_eq!(print(&e), "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))");
//! ```

mod ast;
mod error;
mod functions;
mod lexer;
mod parse;
mod printer;

pub use ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, DurationArg, Expr, FillModifier, GroupModifier,
    GroupSide, MatrixSelector, NumberLiteral, ParenExpr, PosRange, StringLiteral, SubqueryExpr, UnaryExpr, UnaryOp,
    ValueType, VectorMatching, VectorSelector, Visitor, inspect,
};
pub use error::{ParseError, ParseErrorKind};
pub use functions::{ANCHORED_FUNCTIONS, FUNCTIONS, Function, SMOOTHED_FUNCTIONS, get_function};
pub use printer::{MAX_LINE_WIDTH, pretty, print};

/// Parser settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept the functions and aggregations Prometheus marks experimental (`limitk`,
    /// `limit_ratio`, `info`, `sort_by_label`, `start()`, ...), as
    /// `--enable-feature=promql-experimental-functions` does. Default: off.
    pub experimental_functions: bool,
    /// The deepest nesting accepted (parentheses, operands, arguments). Deeper queries get
    /// [`ParseErrorKind::TooDeep`] instead of exhausting the stack. Default: 256.
    pub max_depth: usize,
    /// Reuse compiled regex matchers from a per-thread cache (1024 entries) instead of
    /// compiling `=~`/`!~` patterns on every parse. Default: on.
    pub regex_cache: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { experimental_functions: false, max_depth: 256, regex_cache: true }
    }
}

impl ParseOptions {
    /// Default options with experimental functions switched on.
    pub fn experimental() -> Self {
        ParseOptions { experimental_functions: true, ..Default::default() }
    }

    /// Parses `query` with these options.
    pub fn parse(&self, query: &str) -> Result<Expr, ParseError> {
        parse::Parser::new(query, *self)?.parse_query()
    }
}

/// Parses a PromQL expression with default options.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    ParseOptions::default().parse(query)
}
