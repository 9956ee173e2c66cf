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
///
/// The experimental parts of PromQL are off by default, as in Prometheus 3, and each is
/// switched on by its own field, named after the `--enable-feature` flag that turns it on in
/// Prometheus (see [`Feature`]). [`ParseOptions::experimental`] switches them all on.
///
/// ```
/// use ember_promql::parser::{Feature, ParseErrorKind, ParseOptions};
///
/// let err = ParseOptions::default().parse("a + fill(0) b").unwrap_err();
/// assert_eq!(err.to_string(), "1:1: parse error: binop fill modifiers are experimental and not enabled");
/// assert_eq!(err.kind().feature(), Some(Feature::BinopFillModifiers));
///
/// let opts = ParseOptions::default().with_feature(Feature::BinopFillModifiers);
/// assert!(opts.parse("a + fill(0) b").is_ok());
/// assert!(ParseOptions::experimental().parse("rate(a[5m] anchored)").is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept the functions and aggregations Prometheus marks experimental (`limitk`,
    /// `limit_ratio`, `info`, `sort_by_label`, `start()`, ...), as
    /// `--enable-feature=promql-experimental-functions` does. Default: off; when off they
    /// fail with [`ParseErrorKind::NotEnabled`].
    pub experimental_functions: bool,
    /// Accept the `anchored` and `smoothed` selector modifiers (`rate(x[5m] anchored)`), as
    /// `--enable-feature=promql-extended-range-selectors` does. Default: off; when off they
    /// fail with [`ParseErrorKind::ExtendedRangeSelectorNotEnabled`].
    pub extended_range_selectors: bool,
    /// Accept the `fill`, `fill_left` and `fill_right` binary-operator modifiers
    /// (`a + fill(0) b`), as `--enable-feature=promql-binop-fill-modifiers` does. Default:
    /// off; when off they fail with [`ParseErrorKind::FillModifiersNotEnabled`].
    pub binop_fill_modifiers: bool,
    /// The deepest nesting accepted (parentheses, operands, arguments). Deeper queries get
    /// [`ParseErrorKind::TooDeep`] instead of exhausting the stack. Default: 256.
    pub max_depth: usize,
    /// Reuse compiled regex matchers from a per-thread cache (1024 entries) instead of
    /// compiling `=~`/`!~` patterns on every parse. Default: on.
    pub regex_cache: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            experimental_functions: false,
            extended_range_selectors: false,
            binop_fill_modifiers: false,
            max_depth: 256,
            regex_cache: true,
        }
    }
}

impl ParseOptions {
    /// Default options with every experimental feature ([`Feature::ALL`]) switched on: what
    /// Prometheus's test scripts (`promqltest`) parse with.
    pub fn experimental() -> Self {
        Feature::ALL.iter().fold(ParseOptions::default(), |o, &f| o.with_feature(f))
    }

    /// These options with `feature` switched on.
    #[must_use]
    pub fn with_feature(mut self, feature: Feature) -> Self {
        self.set_feature(feature, true);
        self
    }

    /// Switches `feature` on or off.
    pub fn set_feature(&mut self, feature: Feature, on: bool) {
        match feature {
            Feature::ExperimentalFunctions => self.experimental_functions = on,
            Feature::ExtendedRangeSelectors => self.extended_range_selectors = on,
            Feature::BinopFillModifiers => self.binop_fill_modifiers = on,
        }
    }

    /// Whether `feature` is switched on.
    pub fn feature(&self, feature: Feature) -> bool {
        match feature {
            Feature::ExperimentalFunctions => self.experimental_functions,
            Feature::ExtendedRangeSelectors => self.extended_range_selectors,
            Feature::BinopFillModifiers => self.binop_fill_modifiers,
        }
    }

    /// Parses `query` with these options.
    pub fn parse(&self, query: &str) -> Result<Expr, ParseError> {
        parse::Parser::new(query, *self)?.parse_query()
    }
}

/// An experimental part of PromQL that [`ParseOptions`] leaves off unless asked, named like
/// Prometheus's `--enable-feature` flag for it ([`Feature::flag`]).
///
/// ```
/// use ember_promql::parser::Feature;
///
/// assert_eq!(Feature::from_flag("promql-binop-fill-modifiers"), Some(Feature::BinopFillModifiers));
/// assert_eq!(Feature::ExtendedRangeSelectors.flag(), "promql-extended-range-selectors");
/// assert_eq!(Feature::from_flag("exemplar-storage"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// Experimental functions and aggregations: `promql-experimental-functions`.
    ExperimentalFunctions,
    /// The `anchored` and `smoothed` selector modifiers: `promql-extended-range-selectors`.
    ExtendedRangeSelectors,
    /// The `fill`, `fill_left` and `fill_right` binary-operator modifiers:
    /// `promql-binop-fill-modifiers`.
    BinopFillModifiers,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Feature; 3] =
        [Feature::ExperimentalFunctions, Feature::ExtendedRangeSelectors, Feature::BinopFillModifiers];

    /// The name Prometheus's `--enable-feature` flag gives it.
    pub fn flag(self) -> &'static str {
        match self {
            Feature::ExperimentalFunctions => "promql-experimental-functions",
            Feature::ExtendedRangeSelectors => "promql-extended-range-selectors",
            Feature::BinopFillModifiers => "promql-binop-fill-modifiers",
        }
    }

    /// The feature an `--enable-feature` name stands for; `None` for names that are not a
    /// PromQL parser feature.
    pub fn from_flag(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.flag() == name)
    }
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.flag())
    }
}

/// Parses a PromQL expression with default options.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    ParseOptions::default().parse(query)
}
