//! Parse errors: where and what.

use std::fmt;

use super::Feature;
use super::ast::{PosRange, ValueType};

/// A query could not be parsed or did not type-check.
///
/// Displays like Prometheus's errors: `1:5: parse error: unexpected "}"` (line and byte
/// column, both from 1). Prometheus shows that text everywhere a query fails to parse: its
/// query API answers `bad_data` with `invalid parameter "query": 1:5: parse error: …`, its
/// rule loader `could not parse expression: 1:5: parse error: …`, and its test scripts
/// compare the whole text. Errors found while evaluating a parsed query carry no position
/// (see [`EngineError`](crate::engine::EngineError)).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    inner: Box<Inner>,
}

#[derive(Debug, Clone, PartialEq)]
struct Inner {
    pos: PosRange,
    line: usize,
    column: usize,
    kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(input: &str, pos: PosRange, kind: ParseErrorKind) -> Self {
        let start = pos.start.min(input.len());
        let before = &input.as_bytes()[..start];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        ParseError { inner: Box::new(Inner { pos, line, column: start - line_start + 1, kind }) }
    }

    /// The byte range of the offending part of the query.
    pub fn pos(&self) -> PosRange {
        self.inner.pos
    }

    /// 1-based line of the start of the offending part.
    pub fn line(&self) -> usize {
        self.inner.line
    }

    /// 1-based column (in bytes) of the start of the offending part.
    pub fn column(&self) -> usize {
        self.inner.column
    }

    /// What went wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.inner.kind
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: parse error: {}", self.inner.line, self.inner.column, self.inner.kind)
    }
}

impl std::error::Error for ParseError {}

/// The kinds of parse error. Each displays as Prometheus words it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The query is empty (or only comments).
    NoExpression,
    /// A token that does not fit: `unexpected <found> in <context>, expected <expected>`.
    Unexpected {
        /// The token found (`"}"`, `identifier "foo"`, `end of input`).
        found: String,
        /// Where in the grammar (`label matching`, `aggregation`), if known.
        context: Option<&'static str>,
        /// What would have fitted, if known.
        expected: Option<&'static str>,
    },
    /// A character that starts no token.
    UnexpectedCharacter(char),
    /// A string literal without its closing quote.
    UnterminatedString,
    /// A bad escape sequence in a string literal.
    InvalidEscape(String),
    /// A malformed number or duration (`1.5h`, `0xABm`).
    BadNumberOrDuration(String),
    /// A duration outside the representable range or not allowed here.
    InvalidDuration(String),
    /// `(` without `)`.
    UnclosedParen,
    /// `)` without `(`.
    UnexpectedRightParen,
    /// `{` without `}`.
    UnclosedBrace,
    /// `[` without `]`.
    UnclosedBracket,
    /// An unknown function name.
    UnknownFunction(String),
    /// An experimental function (its name) called while
    /// [`ParseOptions::experimental_functions`](super::ParseOptions) is off: `function "sort_by_label"
    /// is not enabled`. The position is the function name's.
    NotEnabled(String),
    /// A function called with too few or too many arguments.
    ArgumentCount {
        /// The function.
        function: String,
        /// `""`, `"at least "` or `"at most "`.
        bound: &'static str,
        /// The expected count.
        expected: usize,
        /// The count given.
        got: usize,
    },
    /// An aggregation with the wrong number of arguments.
    AggregateArgumentCount {
        /// Expected.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// An operand of the wrong type: `expected type <want> in <context>, got <got>`.
    TypeMismatch {
        /// The expected type.
        expected: ValueType,
        /// Where (`call to function "rate"`, `aggregation expression`).
        context: String,
        /// The type given.
        got: ValueType,
    },
    /// Any other type or structure error, in Prometheus's words.
    Invalid(String),
    /// A label matcher with an invalid regular expression.
    InvalidRegex(String),
    /// The expression nests deeper than [`ParseOptions::max_depth`](super::ParseOptions).
    TooDeep(usize),
    /// An `anchored` or `smoothed` modifier (the string) while
    /// [`ParseOptions::extended_range_selectors`](super::ParseOptions) is off: `anchored
    /// modifier is experimental and not enabled`. The position is the modified selector's.
    ExtendedRangeSelectorNotEnabled(&'static str),
    /// An experimental aggregation (`limitk`, `limit_ratio`: the string) while
    /// [`ParseOptions::experimental_functions`](super::ParseOptions) is off: `limitk() is
    /// experimental and must be enabled with --enable-feature=promql-experimental-functions`.
    /// The position is the whole aggregation's.
    ExperimentalAggregationNotEnabled(&'static str),
    /// A `fill`, `fill_left` or `fill_right` modifier while
    /// [`ParseOptions::binop_fill_modifiers`](super::ParseOptions) is off: `binop fill
    /// modifiers are experimental and not enabled`. The position is the binary expression's.
    FillModifiersNotEnabled,
}

impl ParseErrorKind {
    /// The feature that would have accepted the query, when the error is only that an
    /// experimental part of PromQL is switched off.
    pub fn feature(&self) -> Option<Feature> {
        match self {
            ParseErrorKind::NotEnabled(_) | ParseErrorKind::ExperimentalAggregationNotEnabled(_) => {
                Some(Feature::ExperimentalFunctions)
            }
            ParseErrorKind::ExtendedRangeSelectorNotEnabled(_) => Some(Feature::ExtendedRangeSelectors),
            ParseErrorKind::FillModifiersNotEnabled => Some(Feature::BinopFillModifiers),
            _ => None,
        }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseErrorKind::*;
        match self {
            NoExpression => f.write_str("no expression found in input"),
            Unexpected { found, context, expected } => {
                write!(f, "unexpected {found}")?;
                if let Some(c) = context {
                    write!(f, " in {c}")?;
                }
                if let Some(e) = expected {
                    write!(f, ", expected {e}")?;
                }
                Ok(())
            }
            UnexpectedCharacter(c) => write!(f, "unexpected character: {c:?}"),
            UnterminatedString => f.write_str("unterminated quoted string"),
            InvalidEscape(s) => write!(f, "unknown escape sequence {s}"),
            BadNumberOrDuration(s) => write!(f, "bad number or duration syntax: {s:?}"),
            InvalidDuration(s) => f.write_str(s),
            UnclosedParen => f.write_str("unclosed left parenthesis"),
            UnexpectedRightParen => f.write_str("unexpected right parenthesis ')'"),
            UnclosedBrace => f.write_str("unexpected end of input inside braces"),
            UnclosedBracket => f.write_str("unclosed left bracket"),
            UnknownFunction(name) => write!(f, "unknown function with name {name:?}"),
            NotEnabled(name) => write!(f, "function {name:?} is not enabled"),
            ExperimentalAggregationNotEnabled(op) => write!(
                f,
                "{op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
            ),
            ArgumentCount { function, bound, expected, got } => {
                write!(f, "expected {bound}{expected} argument(s) in call to {function:?}, got {got}")
            }
            AggregateArgumentCount { expected, got } => {
                write!(f, "wrong number of arguments for aggregate expression provided, expected {expected}, got {got}")
            }
            TypeMismatch { expected, context, got } => write!(f, "expected type {expected} in {context}, got {got}"),
            Invalid(s) => f.write_str(s),
            InvalidRegex(s) => f.write_str(s),
            TooDeep(max) => write!(f, "expression nests deeper than the maximum depth of {max}"),
            ExtendedRangeSelectorNotEnabled(modifier) => {
                write!(f, "{modifier} modifier is experimental and not enabled")
            }
            FillModifiersNotEnabled => f.write_str("binop fill modifiers are experimental and not enabled"),
        }
    }
}
