//! Property: for generated syntax trees that the parser can produce, parse(print(ast)) and
//! parse(pretty(ast)) give back the same tree (positions ignored).

use ember_exposition::{MatchType, Matcher};
use ember_promql::parser::*;
use proptest::prelude::*;

const P: PosRange = PosRange { start: 0, end: 0 };

/// A seeded generator of well-typed trees (no shrinking, but every case is reproducible).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn labels(&mut self) -> Vec<String> {
        let n = self.below(3);
        (0..n).map(|_| self.pick(&["job", "instance", "a.b", "le", "on"]).to_string()).collect()
    }

    fn number(&mut self) -> Expr {
        let (value, duration) = match self.below(6) {
            0 => (self.pick(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 0.0]), false),
            1 => ((self.below(100_000) as f64) / 1000.0, true),
            2 => (self.pick(&[1e-7, 1.5e20, -2.5e-5, 123456789.125]), false),
            _ => ((self.below(1000) as f64) - 500.0, false),
        };
        Expr::NumberLiteral(NumberLiteral { value, duration, pos: P })
    }

    fn fixed_duration(&mut self) -> DurationArg {
        DurationArg::Fixed(self.pick(&[1, 1000, 60_000, 300_000, 5_400_000, 86_400_000, 31_536_000_001]))
    }

    fn duration_expr(&mut self, depth: u32) -> Expr {
        if depth == 0 || self.chance(30) {
            return match self.below(3) {
                0 => Expr::Call(Box::new(Call {
                    func: get_function(self.pick(&["step", "range"])).unwrap(),
                    args: vec![],
                    pos: P,
                })),
                1 => {
                    let args =
                        vec![self.duration_expr(depth.saturating_sub(1)), self.duration_expr(depth.saturating_sub(1))];
                    let func = get_function(self.pick(&["min_of", "max_of"])).unwrap();
                    Expr::Call(Box::new(Call { func, args, pos: P }))
                }
                _ => Expr::NumberLiteral(NumberLiteral {
                    value: self.below(600) as f64,
                    duration: self.chance(50),
                    pos: P,
                }),
            };
        }
        let op = self.pick(&[BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Mod, BinaryOp::Pow]);
        let (l, r) = (self.duration_expr(depth - 1), self.duration_expr(depth - 1));
        binary(op, l, r, false, None, FillModifier::default())
    }

    fn duration(&mut self, offset: bool) -> DurationArg {
        if self.chance(70) {
            let d = self.fixed_duration();
            return match d {
                DurationArg::Fixed(ms) if offset && self.chance(30) => DurationArg::Fixed(-ms),
                d => d,
            };
        }
        let e = self.duration_expr(2);
        let e = if offset && !matches!(e, Expr::Call(_)) { paren(e) } else { e };
        if offset && self.chance(30) {
            return DurationArg::Expr(Box::new(Expr::Unary(Box::new(UnaryExpr { op: UnaryOp::Neg, expr: e, pos: P }))));
        }
        match e {
            Expr::NumberLiteral(_) => self.fixed_duration(),
            e => DurationArg::Expr(Box::new(e)),
        }
    }

    fn selector(&mut self, modifiers: bool) -> VectorSelector {
        let name = self.chance(80).then(|| self.pick(&["up", "http_requests_total", "sum", "by", "my.metric", "a:b"]));
        let mut matchers: Vec<Matcher> = name.iter().map(|n| Matcher::equal("__name__", *n)).collect();
        let n = if name.is_some() { self.below(3) } else { 1 + self.below(2) };
        for i in 0..n {
            let label = self.pick(&["job", "instance", "a.b", "bool", "offset"]);
            let (kind, value) = if name.is_none() && i == 0 {
                (MatchType::Equal, "x")
            } else {
                let kind = self.pick(&[MatchType::Equal, MatchType::NotEqual, MatchType::Regex, MatchType::NotRegex]);
                let value = match kind {
                    MatchType::Equal | MatchType::NotEqual => self.pick(&["", "x", "q\"u\\o\nte", "é"]),
                    _ => self.pick(&["", "x", "a|b", "foo.+", "\\d+\"", "é"]),
                };
                (kind, value)
            };
            matchers.push(Matcher::new(kind, label, value).unwrap());
        }
        let mut vs = VectorSelector {
            name: name.map(str::to_string),
            matchers,
            offset: None,
            at: None,
            anchored: false,
            smoothed: false,
            pos: P,
        };
        if modifiers {
            if self.chance(20) {
                vs.offset = Some(self.duration(true));
            }
            if self.chance(15) {
                vs.at = Some(match self.below(3) {
                    0 => AtModifier::Start,
                    1 => AtModifier::End,
                    _ => AtModifier::Timestamp(self.pick(&[0i64, 1_609_746_000_000, -1500, 1])),
                });
            }
        }
        vs
    }

    fn matrix(&mut self, depth: u32) -> Expr {
        if depth > 0 && self.chance(30) {
            let inner = self.vector(depth - 1);
            let expr = match inner {
                Expr::VectorSelector(_) | Expr::Call(_) | Expr::Aggregate(_) | Expr::Paren(_) => inner,
                e => paren(e),
            };
            let step = self.chance(60).then(|| self.duration(false));
            let (offset, at) =
                (self.chance(20).then(|| self.duration(true)), self.chance(10).then_some(AtModifier::End));
            let range = self.duration(false);
            return Expr::Subquery(Box::new(SubqueryExpr { expr, range, step, offset, at, pos: P }));
        }
        let mut selector = self.selector(false);
        if self.chance(20) {
            selector.offset = Some(self.duration(true));
        }
        let range = self.duration(false);
        Expr::MatrixSelector(Box::new(MatrixSelector { selector, range, pos: P }))
    }

    fn scalar(&mut self, depth: u32) -> Expr {
        if depth == 0 {
            return self.number();
        }
        match self.below(7) {
            0 | 1 => self.number(),
            2 => call("time", vec![]),
            3 => call("scalar", vec![self.vector(depth - 1)]),
            4 => paren(self.scalar(depth - 1)),
            5 => unary(UnaryOp::Neg, self.scalar(depth - 1)),
            _ => {
                let op = self.pick(&[
                    BinaryOp::Add,
                    BinaryOp::Mul,
                    BinaryOp::Pow,
                    BinaryOp::Sub,
                    BinaryOp::Lte,
                    BinaryOp::Atan2,
                ]);
                let (l, r) = (self.scalar(depth - 1), self.scalar(depth - 1));
                binary(op, l, r, op.is_comparison(), None, FillModifier::default())
            }
        }
    }

    fn vector(&mut self, depth: u32) -> Expr {
        if depth == 0 {
            return Expr::VectorSelector(Box::new(self.selector(true)));
        }
        let d = depth - 1;
        match self.below(9) {
            0 => Expr::VectorSelector(Box::new(self.selector(true))),
            1 => {
                let op = self.pick(&AggregateOp::ALL);
                let param = match op.param_type() {
                    Some(ValueType::String) => Some(string("label")),
                    Some(_) => Some(self.scalar(d)),
                    None => None,
                };
                let without = self.chance(30);
                let grouping = self.labels();
                let expr = self.vector(d);
                Expr::Aggregate(Box::new(AggregateExpr { op, expr, param, grouping, without, pos: P }))
            }
            2 => {
                let f = self.pick(&["rate", "max_over_time", "changes", "quantile_over_time"]);
                let m = self.matrix(d);
                if f == "quantile_over_time" { call(f, vec![self.scalar(d), m]) } else { call(f, vec![m]) }
            }
            3 => match self.below(4) {
                0 => call("histogram_quantile", vec![self.scalar(d), self.vector(d)]),
                1 => call(
                    "label_replace",
                    vec![self.vector(d), string("dst"), string("$1"), string("src"), string("(.*)")],
                ),
                2 => call("round", vec![self.vector(d)]),
                _ => call("hour", vec![]),
            },
            4 => paren(self.vector(d)),
            5 => {
                let op = self.pick(&[UnaryOp::Neg, UnaryOp::Pos]);
                unary(op, self.vector(d))
            }
            _ => {
                let op = self.pick(&[
                    BinaryOp::Add,
                    BinaryOp::Sub,
                    BinaryOp::Mul,
                    BinaryOp::Div,
                    BinaryOp::Pow,
                    BinaryOp::Eql,
                    BinaryOp::Gtr,
                    BinaryOp::And,
                    BinaryOp::Or,
                    BinaryOp::Unless,
                    BinaryOp::Atan2,
                    BinaryOp::TrimUpper,
                ]);
                let lhs = self.vector(d);
                let rhs = if !op.is_set() && self.chance(30) { self.scalar(d) } else { self.vector(d) };
                let both = rhs.value_type() == ValueType::Vector;
                let return_bool = op.is_comparison() && self.chance(50);
                let matching = (both && self.chance(50)).then(|| VectorMatching {
                    on: self.chance(50),
                    labels: self.labels(),
                    group: (!op.is_set() && self.chance(50)).then(|| GroupModifier {
                        side: self.pick(&[GroupSide::Left, GroupSide::Right]),
                        include: if self.chance(50) { vec!["extra".into()] } else { vec![] },
                    }),
                });
                let mut fill = FillModifier::default();
                if !op.is_set() && self.chance(20) {
                    fill.left = self.chance(60).then_some(0.0);
                    fill.right = self.chance(60).then_some(self.pick(&[0.0, -1.5, f64::NAN]));
                }
                binary(op, lhs, rhs, return_bool, matching, fill)
            }
        }
    }
}

fn string(s: &str) -> Expr {
    Expr::StringLiteral(Box::new(StringLiteral { value: s.into(), raw: None, pos: P }))
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Call(Box::new(Call { func: get_function(name).unwrap(), args, pos: P }))
}

fn paren(e: Expr) -> Expr {
    Expr::Paren(Box::new(ParenExpr { expr: e, pos: P }))
}

/// A sign as the parser builds it: a literal operand would be folded, so it is
/// parenthesised, and so is a binary operand below `^`.
fn unary(op: UnaryOp, e: Expr) -> Expr {
    let e = match e {
        Expr::NumberLiteral(_) => paren(e),
        Expr::Binary(ref b) if b.op != BinaryOp::Pow => paren(e),
        e => e,
    };
    Expr::Unary(Box::new(UnaryExpr { op, expr: e, pos: P }))
}

/// A binary node with its operands parenthesised where precedence requires.
fn binary(
    op: BinaryOp,
    lhs: Expr,
    rhs: Expr,
    return_bool: bool,
    matching: Option<VectorMatching>,
    fill: FillModifier,
) -> Expr {
    let p = op.precedence();
    let lhs = match &lhs {
        Expr::Binary(b) if b.op.precedence() < p || (b.op.precedence() == p && op.is_right_assoc()) => paren(lhs),
        Expr::Unary(_) if op == BinaryOp::Pow => paren(lhs),
        Expr::NumberLiteral(n) if op == BinaryOp::Pow && n.value.is_sign_negative() => paren(lhs),
        _ => lhs,
    };
    let rhs = match &rhs {
        Expr::Binary(b) if b.op.precedence() < p || (b.op.precedence() == p && !op.is_right_assoc()) => paren(rhs),
        _ => rhs,
    };
    Expr::Binary(Box::new(BinaryExpr { op, lhs, rhs, return_bool, matching, fill, pos: P }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn print_parse_roundtrip(seed in 1u64..) {
        let ast = Gen(seed).vector(4);
        let opts = ParseOptions::experimental();
        let text = print(&ast);
        let back = opts.parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert!(back.same_structure(&ast), "{}\n{:?}\n{:?}", text, ast, back);
        let p = pretty(&ast);
        let back = opts.parse(&p).map_err(|e| TestCaseError::fail(format!("{p}: {e}")))?;
        prop_assert!(back.same_structure(&ast), "pretty:\n{}", p);
    }
}
