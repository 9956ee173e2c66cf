//! The typed PromQL syntax tree.
//!
//! Every node carries a [`PosRange`] of byte offsets into the query it was parsed from.
//! Large variants are boxed so that [`Expr`] itself stays small (a tag and a pointer, or an
//! inline number literal).

use std::fmt;

use ember_exposition::Matcher;

use super::functions::Function;

/// A half-open byte range `start..end` into the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PosRange {
    /// First byte of the node.
    pub start: usize,
    /// One past the last byte of the node.
    pub end: usize,
}

impl PosRange {
    /// A range from `start` to `end`.
    pub const fn new(start: usize, end: usize) -> Self {
        PosRange { start, end }
    }

    /// The smallest range covering both.
    pub fn to(self, other: PosRange) -> PosRange {
        PosRange { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// The four PromQL value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A single float.
    Scalar,
    /// One sample per series at one instant.
    Vector,
    /// A range of samples per series.
    Matrix,
    /// A string (only as function or aggregation parameter, or as a whole query).
    String,
}

impl ValueType {
    /// The name Prometheus uses in its error messages (`instant vector`, ...).
    pub fn documented_name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.documented_name())
    }
}

/// A PromQL expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// `1`, `-2.5e3`, `0x1f`, `Inf`, `NaN`, or a duration such as `5m` used as a number of seconds.
    NumberLiteral(NumberLiteral),
    /// `"text"`, `'text'` or `` `text` ``.
    StringLiteral(Box<StringLiteral>),
    /// `metric{label="value"}` with optional modifiers.
    VectorSelector(Box<VectorSelector>),
    /// `metric{...}[5m]`.
    MatrixSelector(Box<MatrixSelector>),
    /// `expr[range:step]`.
    Subquery(Box<SubqueryExpr>),
    /// `(expr)`.
    Paren(Box<ParenExpr>),
    /// `-expr` or `+expr`.
    Unary(Box<UnaryExpr>),
    /// `lhs op rhs` with optional modifiers.
    Binary(Box<BinaryExpr>),
    /// `sum by (job) (expr)` and the other aggregation operators.
    Aggregate(Box<AggregateExpr>),
    /// `rate(expr)` and the other functions.
    Call(Box<Call>),
}

/// A float literal.
#[derive(Debug, Clone, Copy)]
pub struct NumberLiteral {
    /// The value (in seconds when written as a duration).
    pub value: f64,
    /// Written as a duration (`5m`); printed back as one.
    pub duration: bool,
    /// Where it was written.
    pub pos: PosRange,
}

/// A string literal.
#[derive(Debug, Clone)]
pub struct StringLiteral {
    /// The unescaped value. When `raw` is set this is its lossy UTF-8 conversion.
    pub value: String,
    /// The exact bytes, only when escapes (`\xc5`) produced invalid UTF-8: an engine that
    /// validates label names sees the original bytes.
    pub raw: Option<Box<[u8]>>,
    /// Where it was written.
    pub pos: PosRange,
}

/// A duration written in a selector, subquery or offset.
#[derive(Debug, Clone)]
pub enum DurationArg {
    /// A literal, in milliseconds (`5m` is `300000`; a plain number is seconds).
    Fixed(i64),
    /// A duration expression (`5m * 2`, `step()`, `max_of(step(), 5s)`), evaluated by the
    /// engine to seconds. Its nodes are number literals, `+ - * / % ^`, unary signs,
    /// parentheses and calls to `step`, `range`, `min_of` and `max_of`.
    Expr(Box<Expr>),
}

/// The `@` modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtModifier {
    /// `@ <timestamp>`, in milliseconds since the epoch.
    Timestamp(i64),
    /// `@ start()`.
    Start,
    /// `@ end()`.
    End,
}

/// An instant vector selector.
#[derive(Debug, Clone)]
pub struct VectorSelector {
    /// The metric name, when written (`foo` or `{"foo"}`). When set, `matchers[0]` is the
    /// matching `__name__="name"` matcher, as Prometheus builds it.
    pub name: Option<String>,
    /// All label matchers, including the metric-name matcher.
    pub matchers: Vec<Matcher>,
    /// `offset <duration>` (negative allowed).
    pub offset: Option<DurationArg>,
    /// `@ <timestamp>`, `@ start()`, `@ end()`.
    pub at: Option<AtModifier>,
    /// The experimental `anchored` modifier.
    pub anchored: bool,
    /// The experimental `smoothed` modifier.
    pub smoothed: bool,
    /// From the name or `{` to the end of the selector and its modifiers.
    pub pos: PosRange,
}

/// A range vector selector: `selector[range]`. Modifiers written after the range live in
/// the inner selector (`offset`, `@`, `anchored`, `smoothed`).
#[derive(Debug, Clone)]
pub struct MatrixSelector {
    /// The selector, with its modifiers.
    pub selector: VectorSelector,
    /// The range.
    pub range: DurationArg,
    /// Where the whole selector was written.
    pub pos: PosRange,
}

/// A subquery: `expr[range:step]`.
#[derive(Debug, Clone)]
pub struct SubqueryExpr {
    /// The inner instant-vector expression.
    pub expr: Expr,
    /// The range.
    pub range: DurationArg,
    /// The resolution; `None` for `[range:]` (the engine's default step).
    pub step: Option<DurationArg>,
    /// `offset <duration>`.
    pub offset: Option<DurationArg>,
    /// `@` modifier.
    pub at: Option<AtModifier>,
    /// Where the subquery was written.
    pub pos: PosRange,
}

/// `(expr)`.
#[derive(Debug, Clone)]
pub struct ParenExpr {
    /// The inner expression.
    pub expr: Expr,
    /// From `(` to `)`.
    pub pos: PosRange,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `+`
    Pos,
}

/// `-expr` / `+expr`. A sign before a number literal is folded into the literal.
#[derive(Debug, Clone)]
pub struct UnaryExpr {
    /// The operator.
    pub op: UnaryOp,
    /// The operand.
    pub expr: Expr,
    /// From the sign to the end of the operand.
    pub pos: PosRange,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `</` (histogram trim upper)
    TrimUpper,
    /// `>/` (histogram trim lower)
    TrimLower,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `<`
    Lss,
    /// `<=`
    Lte,
    /// `>`
    Gtr,
    /// `>=`
    Gte,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinaryOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            Pow => "^",
            Atan2 => "atan2",
            TrimUpper => "</",
            TrimLower => ">/",
            Eql => "==",
            Neq => "!=",
            Lss => "<",
            Lte => "<=",
            Gtr => ">",
            Gte => ">=",
            And => "and",
            Or => "or",
            Unless => "unless",
        }
    }

    /// Precedence, higher binds tighter: `or` 1, `and unless` 2, comparisons 3, `+ -` 4,
    /// `* / % atan2 </ >/` 5, `^` 6.
    pub fn precedence(self) -> u8 {
        use BinaryOp::*;
        match self {
            Or => 1,
            And | Unless => 2,
            Eql | Neq | Lss | Lte | Gtr | Gte => 3,
            Add | Sub => 4,
            Mul | Div | Mod | Atan2 | TrimUpper | TrimLower => 5,
            Pow => 6,
        }
    }

    /// Only `^` is right-associative.
    pub fn is_right_assoc(self) -> bool {
        self == BinaryOp::Pow
    }

    /// `== != < <= > >=`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// `and or unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side of a many-to-one match is the "many" side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupSide {
    /// `group_left`: many on the left.
    Left,
    /// `group_right`: many on the right.
    Right,
}

/// `group_left(labels)` / `group_right(labels)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupModifier {
    /// Which side is "many".
    pub side: GroupSide,
    /// Labels copied from the "one" side.
    pub include: Vec<String>,
}

/// `on(labels)` / `ignoring(labels)` and an optional group modifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VectorMatching {
    /// `on` (true) or `ignoring` (false).
    pub on: bool,
    /// The label list.
    pub labels: Vec<String>,
    /// `group_left` / `group_right`.
    pub group: Option<GroupModifier>,
}

/// Experimental fill modifiers: values used for series missing on one side.
#[derive(Debug, Clone, Copy, Default)]
pub struct FillModifier {
    /// `fill_left(v)` (or `fill(v)`).
    pub left: Option<f64>,
    /// `fill_right(v)` (or `fill(v)`).
    pub right: Option<f64>,
}

impl FillModifier {
    /// No fill written.
    pub fn is_empty(&self) -> bool {
        self.left.is_none() && self.right.is_none()
    }
}

/// `lhs op [bool] [on|ignoring(...)] [group_x(...)] [fill...] rhs`.
#[derive(Debug, Clone)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Expr,
    /// Right operand.
    pub rhs: Expr,
    /// `bool` modifier.
    pub return_bool: bool,
    /// Matching modifiers, when written.
    pub matching: Option<VectorMatching>,
    /// Fill modifiers.
    pub fill: FillModifier,
    /// From the start of `lhs` to the end of `rhs`.
    pub pos: PosRange,
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `count`
    Count,
    /// `count_values(label, v)`
    CountValues,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk(k, v)`
    Topk,
    /// `bottomk(k, v)`
    Bottomk,
    /// `quantile(φ, v)`
    Quantile,
    /// `limitk(k, v)` (experimental)
    Limitk,
    /// `limit_ratio(r, v)` (experimental)
    LimitRatio,
}

impl AggregateOp {
    /// Every aggregation operator.
    pub const ALL: [AggregateOp; 14] = [
        AggregateOp::Sum,
        AggregateOp::Avg,
        AggregateOp::Min,
        AggregateOp::Max,
        AggregateOp::Group,
        AggregateOp::Count,
        AggregateOp::CountValues,
        AggregateOp::Stddev,
        AggregateOp::Stdvar,
        AggregateOp::Topk,
        AggregateOp::Bottomk,
        AggregateOp::Quantile,
        AggregateOp::Limitk,
        AggregateOp::LimitRatio,
    ];

    /// The name as written (lower case).
    pub fn as_str(self) -> &'static str {
        use AggregateOp::*;
        match self {
            Sum => "sum",
            Avg => "avg",
            Min => "min",
            Max => "max",
            Group => "group",
            Count => "count",
            CountValues => "count_values",
            Stddev => "stddev",
            Stdvar => "stdvar",
            Topk => "topk",
            Bottomk => "bottomk",
            Quantile => "quantile",
            Limitk => "limitk",
            LimitRatio => "limit_ratio",
        }
    }

    /// The type of the parameter, for operators that take one.
    pub fn param_type(self) -> Option<ValueType> {
        use AggregateOp::*;
        match self {
            CountValues => Some(ValueType::String),
            Topk | Bottomk | Quantile | Limitk | LimitRatio => Some(ValueType::Scalar),
            _ => None,
        }
    }

    /// Whether the operator needs the experimental-functions switch.
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

impl fmt::Display for AggregateOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `op [by|without (labels)] ([param,] expr)`.
#[derive(Debug, Clone)]
pub struct AggregateExpr {
    /// The operator.
    pub op: AggregateOp,
    /// The aggregated expression.
    pub expr: Expr,
    /// The parameter of `topk`, `quantile`, `count_values`, ...
    pub param: Option<Expr>,
    /// The `by`/`without` label list.
    pub grouping: Vec<String>,
    /// `without` (true) or `by` (false).
    pub without: bool,
    /// From the operator to the end of the expression.
    pub pos: PosRange,
}

/// A function call.
#[derive(Debug, Clone)]
pub struct Call {
    /// The function, from [`FUNCTIONS`](super::FUNCTIONS).
    pub func: &'static Function,
    /// The arguments.
    pub args: Vec<Expr>,
    /// From the name to `)`.
    pub pos: PosRange,
}

impl Expr {
    /// The position of the node.
    pub fn pos(&self) -> PosRange {
        match self {
            Expr::NumberLiteral(n) => n.pos,
            Expr::StringLiteral(s) => s.pos,
            Expr::VectorSelector(v) => v.pos,
            Expr::MatrixSelector(m) => m.pos,
            Expr::Subquery(s) => s.pos,
            Expr::Paren(p) => p.pos,
            Expr::Unary(u) => u.pos,
            Expr::Binary(b) => b.pos,
            Expr::Aggregate(a) => a.pos,
            Expr::Call(c) => c.pos,
        }
    }

    /// The type the expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::NumberLiteral(_) => ValueType::Scalar,
            Expr::StringLiteral(_) => ValueType::String,
            Expr::VectorSelector(_) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren(p) => p.expr.value_type(),
            Expr::Unary(u) => u.expr.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar && b.rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.return_type,
        }
    }

    /// The direct children, in source order (duration expressions included).
    pub fn children(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        fn push_dur<'a>(d: Option<&'a DurationArg>, out: &mut Vec<&'a Expr>) {
            if let Some(DurationArg::Expr(e)) = d {
                out.push(e);
            }
        }
        match self {
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
            Expr::VectorSelector(v) => push_dur(v.offset.as_ref(), &mut out),
            Expr::MatrixSelector(m) => {
                push_dur(Some(&m.range), &mut out);
                push_dur(m.selector.offset.as_ref(), &mut out);
            }
            Expr::Subquery(s) => {
                out.push(&s.expr);
                push_dur(Some(&s.range), &mut out);
                push_dur(s.step.as_ref(), &mut out);
                push_dur(s.offset.as_ref(), &mut out);
            }
            Expr::Paren(p) => out.push(&p.expr),
            Expr::Unary(u) => out.push(&u.expr),
            Expr::Binary(b) => {
                out.push(&b.lhs);
                out.push(&b.rhs);
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    out.push(p);
                }
                out.push(&a.expr);
            }
            Expr::Call(c) => out.extend(c.args.iter()),
        }
        out
    }

    /// Walks the tree depth-first, calling `visitor` on every node before its children.
    /// Stops early when the visitor returns an error.
    pub fn walk<V: Visitor + ?Sized>(&self, visitor: &mut V) -> Result<(), V::Error> {
        walk_inner(self, visitor, &mut Vec::new())
    }

    /// Sets every position in the tree to `0..0`, so trees can be compared by structure.
    pub fn clear_positions(&mut self) {
        fn dur(d: Option<&mut DurationArg>) {
            if let Some(DurationArg::Expr(e)) = d {
                e.clear_positions();
            }
        }
        let zero = PosRange::default();
        match self {
            Expr::NumberLiteral(n) => n.pos = zero,
            Expr::StringLiteral(s) => s.pos = zero,
            Expr::VectorSelector(v) => {
                v.pos = zero;
                dur(v.offset.as_mut());
            }
            Expr::MatrixSelector(m) => {
                m.pos = zero;
                m.selector.pos = zero;
                dur(Some(&mut m.range));
                dur(m.selector.offset.as_mut());
            }
            Expr::Subquery(s) => {
                s.pos = zero;
                s.expr.clear_positions();
                dur(Some(&mut s.range));
                dur(s.step.as_mut());
                dur(s.offset.as_mut());
            }
            Expr::Paren(p) => {
                p.pos = zero;
                p.expr.clear_positions();
            }
            Expr::Unary(u) => {
                u.pos = zero;
                u.expr.clear_positions();
            }
            Expr::Binary(b) => {
                b.pos = zero;
                b.lhs.clear_positions();
                b.rhs.clear_positions();
            }
            Expr::Aggregate(a) => {
                a.pos = zero;
                a.expr.clear_positions();
                if let Some(p) = &mut a.param {
                    p.clear_positions();
                }
            }
            Expr::Call(c) => {
                c.pos = zero;
                c.args.iter_mut().for_each(Expr::clear_positions);
            }
        }
    }

    /// Structural equality ignoring positions; floats compare by their shortest printed
    /// form, so `NaN` equals `NaN` and `-0` differs from `0`.
    pub fn same_structure(&self, other: &Expr) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.clear_positions();
        b.clear_positions();
        format!("{a:?}") == format!("{b:?}")
    }
}

/// A visitor over the syntax tree, with the path of ancestors.
///
/// ```
/// use ember_promql::parser::{parse, Expr, Visitor};
///
/// struct Names(Vec<String>);
/// impl Visitor for Names {
///     type Error = std::convert::Infallible;
///     fn visit(&mut self, e: &Expr, _path: &[&Expr]) -> Result<(), Self::Error> {
///         match e {
///             Expr::VectorSelector(v) => self.0.extend(v.name.clone()),
///             Expr::MatrixSelector(m) => self.0.extend(m.selector.name.clone()),
///             _ => {}
///         }
///         Ok(())
///     }
/// }
/// let mut names = Names(vec![]);
/// parse("sum(rate(a[5m])) / on() b").unwrap().walk(&mut names).unwrap();
/// assert_eq!(names.0, ["a", "b"]);
/// ```
pub trait Visitor {
    /// What stops the walk.
    type Error;
    /// Called for every node before its children; `path` holds the ancestors, root first.
    fn visit(&mut self, expr: &Expr, path: &[&Expr]) -> Result<(), Self::Error>;
}

fn walk_inner<'a, V: Visitor + ?Sized>(e: &'a Expr, v: &mut V, path: &mut Vec<&'a Expr>) -> Result<(), V::Error> {
    v.visit(e, path)?;
    path.push(e);
    let mut res = Ok(());
    for child in e.children() {
        res = walk_inner(child, v, path);
        if res.is_err() {
            break;
        }
    }
    path.pop();
    res
}

/// Inspects every node with a closure (`Visitor` for the common case).
pub fn inspect(expr: &Expr, mut f: impl FnMut(&Expr, &[&Expr])) {
    struct F<G>(G);
    impl<G: FnMut(&Expr, &[&Expr])> Visitor for F<G> {
        type Error = std::convert::Infallible;
        fn visit(&mut self, e: &Expr, p: &[&Expr]) -> Result<(), Self::Error> {
            (self.0)(e, p);
            Ok(())
        }
    }
    let _ = expr.walk(&mut F(&mut f));
}
