//! The recursive-descent / precedence-climbing parser and its type checks.

use ember_exposition::names::is_valid_legacy_label_name;
use ember_exposition::{METRIC_NAME_LABEL, MatchType, Matcher};

use super::ParseOptions;
use super::ast::*;
use super::error::{ParseError, ParseErrorKind as K};
use super::functions::{Function, get_function};
use super::lexer::{Kw, Lexer, T, Token, unquote};

type Result<T> = std::result::Result<T, ParseError>;

/// Entries kept per thread; the cache is emptied when it fills up.
const REGEX_CACHE_SIZE: usize = 1024;

thread_local! {
    static REGEX_CACHE: std::cell::RefCell<std::collections::HashMap<(bool, String, String), Matcher>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Unary operators bind like `*`: only `^` binds tighter.
const UNARY_OPERAND_PREC: u8 = 6;

pub(crate) struct Parser<'a> {
    lx: Lexer<'a>,
    src: &'a str,
    tok: Token,
    opts: ParseOptions,
    depth: usize,
    /// End of the last consumed token.
    prev_end: usize,
    /// Selectors without a non-empty matcher; an error unless they turn out to be the
    /// second argument of `info()`.
    empty_selectors: Vec<PosRange>,
}

fn describe(src: &str, t: &Token) -> String {
    let text = &src[t.start..t.end];
    match t.t {
        T::Eof => "end of input".into(),
        T::Ident if t.kw.is_some() => format!("<{}>", text.to_ascii_lowercase()),
        T::Ident => format!("identifier {text:?}"),
        T::Number | T::Duration => format!("number {text:?}"),
        T::Str => format!("string {text}"),
        T::Op(_) | T::Assign | T::EqlRegex | T::NeqRegex => format!("<op:{text}>"),
        _ => format!("{text:?}"),
    }
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a str, opts: ParseOptions) -> Result<Self> {
        let mut lx = Lexer::new(src);
        let tok = lx.next_token()?;
        Ok(Parser { lx, src, tok, opts, depth: 0, prev_end: 0, empty_selectors: Vec::new() })
    }

    pub fn parse_query(mut self) -> Result<Expr> {
        if self.tok.t == T::Eof {
            return Err(self.error(self.tok.pos(), K::NoExpression));
        }
        let e = self.parse_expr(0)?;
        if self.tok.t != T::Eof {
            return Err(match self.tok.t {
                T::RParen => self.error(self.tok.pos(), K::UnexpectedRightParen),
                _ => self.unexpected(None, None),
            });
        }
        if let Some(&pos) = self.empty_selectors.first() {
            return Err(self.invalid(pos, "vector selector must contain at least one non-empty matcher"));
        }
        Ok(e)
    }

    // ----- helpers -------------------------------------------------------------------------

    fn error(&self, pos: PosRange, kind: K) -> ParseError {
        ParseError::new(self.src, pos, kind)
    }

    fn invalid(&self, pos: PosRange, msg: impl Into<String>) -> ParseError {
        self.error(pos, K::Invalid(msg.into()))
    }

    fn unexpected(&self, context: Option<&'static str>, expected: Option<&'static str>) -> ParseError {
        let found = describe(self.src, &self.tok);
        self.error(self.tok.pos(), K::Unexpected { found, context, expected })
    }

    fn advance(&mut self) -> Result<Token> {
        let next = self.lx.next_token()?;
        self.prev_end = self.tok.end;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    /// The token after the current one, without consuming anything.
    fn peek2(&self) -> Option<T> {
        self.lx.clone().next_token().ok().map(|t| t.t)
    }

    fn expect(&mut self, t: T, context: &'static str, expected: &'static str) -> Result<Token> {
        if self.tok.t == t { self.advance() } else { Err(self.unexpected(Some(context), Some(expected))) }
    }

    fn text(&self, t: &Token) -> &'a str {
        &self.src[t.start..t.end]
    }

    fn enter(&mut self, n: usize) -> Result<()> {
        self.depth += n;
        if self.depth > self.opts.max_depth {
            return Err(self.error(self.tok.pos(), K::TooDeep(self.opts.max_depth)));
        }
        Ok(())
    }

    fn kw(&self) -> Option<Kw> {
        if self.tok.t == T::Ident { self.tok.kw } else { None }
    }

    // ----- expressions ---------------------------------------------------------------------

    fn binop(&self) -> Option<BinaryOp> {
        match self.tok.t {
            T::Op(op) => Some(op),
            T::Ident => match self.tok.kw {
                Some(Kw::Op(op)) => Some(op),
                _ => None,
            },
            _ => None,
        }
    }

    fn parse_expr(&mut self, min_prec: u8) -> Result<Expr> {
        self.enter(1)?;
        let mut lhs = self.parse_unary()?;
        let mut chain = 0;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.advance()?;
            let (return_bool, matching, fill) = self.parse_bin_modifiers()?;
            let rhs = self.parse_expr(if op.is_right_assoc() { prec } else { prec + 1 })?;
            chain += 1;
            self.enter(1)?;
            lhs = self.new_binary(op, lhs, rhs, return_bool, matching, fill)?;
        }
        self.depth -= chain + 1;
        Ok(lhs)
    }

    fn parse_unary(&mut self) -> Result<Expr> {
        let op = match self.tok.t {
            T::Op(BinaryOp::Sub) => UnaryOp::Neg,
            T::Op(BinaryOp::Add) => UnaryOp::Pos,
            _ => {
                let e = self.parse_primary()?;
                return self.parse_postfix(e);
            }
        };
        let sign = self.advance()?;
        let operand = self.parse_expr(UNARY_OPERAND_PREC)?;
        let pos = sign.pos().to(operand.pos());
        if let Expr::NumberLiteral(mut n) = operand {
            if op == UnaryOp::Neg {
                n.value = -n.value;
            }
            n.pos = pos;
            return Ok(Expr::NumberLiteral(n));
        }
        let t = operand.value_type();
        if t != ValueType::Scalar && t != ValueType::Vector {
            return Err(self.invalid(
                operand.pos(),
                format!(
                    "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                    t.documented_name()
                ),
            ));
        }
        Ok(Expr::Unary(Box::new(UnaryExpr { op, expr: operand, pos })))
    }

    fn parse_primary(&mut self) -> Result<Expr> {
        let tok = self.tok;
        match tok.t {
            T::Number | T::Duration => {
                self.advance()?;
                Ok(Expr::NumberLiteral(NumberLiteral {
                    value: tok.num,
                    duration: tok.t == T::Duration,
                    pos: tok.pos(),
                }))
            }
            T::Str => {
                self.advance()?;
                let (value, raw) = unquote(self.src, &tok)?;
                Ok(Expr::StringLiteral(Box::new(StringLiteral { value, raw, pos: tok.pos() })))
            }
            T::LParen => {
                self.advance()?;
                let inner = self.parse_expr(0)?;
                if self.tok.t != T::RParen {
                    return Err(match self.tok.t {
                        T::Eof => self.error(tok.pos(), K::UnclosedParen),
                        _ => self.unexpected(Some("paren expression"), Some("\")\"")),
                    });
                }
                let close = self.advance()?;
                Ok(Expr::Paren(Box::new(ParenExpr { expr: inner, pos: tok.pos().to(close.pos()) })))
            }
            T::LBrace => self.parse_selector(None),
            T::Ident => match tok.kw {
                Some(Kw::Inf | Kw::Nan) => {
                    self.advance()?;
                    let value = if tok.kw == Some(Kw::Inf) { f64::INFINITY } else { f64::NAN };
                    Ok(Expr::NumberLiteral(NumberLiteral { value, duration: false, pos: tok.pos() }))
                }
                Some(Kw::Agg(op)) if matches!(self.peek2(), Some(T::LParen)) || self.peek_grouping_kw() => {
                    self.parse_aggregate(op)
                }
                Some(Kw::On | Kw::Ignoring | Kw::GroupLeft | Kw::GroupRight | Kw::Bool) => {
                    Err(self.unexpected(None, None))
                }
                _ if self.peek2() == Some(T::LParen) && !self.text(&tok).contains(':') => self.parse_call(),
                _ => {
                    self.advance()?;
                    self.parse_selector(Some(tok))
                }
            },
            T::RParen => Err(self.error(tok.pos(), K::UnexpectedRightParen)),
            _ => Err(self.unexpected(None, None)),
        }
    }

    fn peek_grouping_kw(&self) -> bool {
        let mut lx = self.lx.clone();
        matches!(lx.next_token(), Ok(t) if t.t == T::Ident && matches!(t.kw, Some(Kw::By | Kw::Without)))
    }

    // ----- selectors -----------------------------------------------------------------------

    fn label_name(&mut self, context: &'static str) -> Result<(String, PosRange)> {
        let tok = self.tok;
        match tok.t {
            T::Ident => {
                let name = self.text(&tok);
                if !is_valid_legacy_label_name(name) {
                    return Err(self.invalid(tok.pos(), format!("invalid label name {name:?} in {context}")));
                }
                self.advance()?;
                Ok((name.to_string(), tok.pos()))
            }
            T::Str => {
                self.advance()?;
                let (v, _) = unquote(self.src, &tok)?;
                if v.is_empty() {
                    return Err(self.invalid(tok.pos(), format!("empty label name in {context}")));
                }
                Ok((v, tok.pos()))
            }
            _ => Err(self.unexpected(Some(context), Some("label"))),
        }
    }

    /// Parses `{...}` (if present) after an optional metric name token.
    fn parse_selector(&mut self, name_tok: Option<Token>) -> Result<Expr> {
        let mut name = name_tok.map(|t| self.text(&t).to_string());
        let start = name_tok.map_or(self.tok.start, |t| t.start);
        let mut end = name_tok.map_or(self.tok.start, |t| t.end);
        let mut matchers = Vec::new();
        if self.tok.t == T::LBrace {
            let open = self.advance()?;
            loop {
                if self.tok.t == T::RBrace {
                    break;
                }
                if self.tok.t == T::Eof {
                    return Err(self.error(open.pos(), K::UnclosedBrace));
                }
                // `{"metric.name"}`: a bare quoted string is the metric name.
                if self.tok.t == T::Str && matches!(self.peek2(), Some(T::Comma | T::RBrace)) {
                    let tok = self.advance()?;
                    let (v, _) = unquote(self.src, &tok)?;
                    if let Some(old) = &name {
                        return Err(
                            self.invalid(tok.pos(), format!("metric name must not be set twice: {old:?} or {v:?}"))
                        );
                    }
                    name = Some(v);
                } else {
                    let (label, _) = self.label_name("label matching")?;
                    let kind = match self.tok.t {
                        T::Assign => MatchType::Equal,
                        T::Op(BinaryOp::Neq) => MatchType::NotEqual,
                        T::EqlRegex => MatchType::Regex,
                        T::NeqRegex => MatchType::NotRegex,
                        _ => return Err(self.unexpected(Some("label matching"), Some("label matching operator"))),
                    };
                    self.advance()?;
                    if self.tok.t != T::Str {
                        return Err(self.unexpected(Some("label matching"), Some("string")));
                    }
                    let vtok = self.advance()?;
                    let (value, _) = unquote(self.src, &vtok)?;
                    let m = self.matcher(kind, label, value, vtok.pos())?;
                    matchers.push(m);
                }
                match self.tok.t {
                    T::Comma => {
                        self.advance()?;
                    }
                    T::RBrace => {}
                    T::Eof => return Err(self.error(open.pos(), K::UnclosedBrace)),
                    _ => return Err(self.unexpected(Some("label matching"), Some("\",\" or \"}\""))),
                }
            }
            end = self.advance()?.end;
        }
        let pos = PosRange::new(start, end);
        if let Some(n) = &name {
            if let Some(m) = matchers.iter().find(|m| m.name() == METRIC_NAME_LABEL) {
                return Err(self.invalid(pos, format!("metric name must not be set twice: {n:?} or {:?}", m.value())));
            }
            matchers.insert(0, Matcher::equal(METRIC_NAME_LABEL, n.clone()));
        }
        if name.is_none() && matchers.iter().all(|m| m.matches_empty()) {
            self.empty_selectors.push(pos);
        }
        Ok(Expr::VectorSelector(Box::new(VectorSelector {
            name,
            matchers,
            offset: None,
            at: None,
            anchored: false,
            smoothed: false,
            pos,
        })))
    }

    /// Builds a matcher; regex matchers come from a small per-thread cache, because the
    /// same dashboards and rules are parsed again and again and compiling a regex costs
    /// more than parsing the whole query around it (Prometheus caches them too).
    fn matcher(&self, kind: MatchType, label: String, value: String, pos: PosRange) -> Result<Matcher> {
        let compile = |label, value| {
            Matcher::new(kind, label, value).map_err(|e| self.error(pos, K::InvalidRegex(e.to_string())))
        };
        if matches!(kind, MatchType::Equal | MatchType::NotEqual) || !self.opts.regex_cache {
            return compile(label, value);
        }
        REGEX_CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            let key = (kind == MatchType::Regex, label, value);
            if let Some(m) = cache.get(&key) {
                return Ok(m.clone());
            }
            let m = compile(key.1.clone(), key.2.clone())?;
            if cache.len() >= REGEX_CACHE_SIZE {
                cache.clear();
            }
            cache.insert(key, m.clone());
            Ok(m)
        })
    }

    // ----- postfix: ranges, subqueries, offset, @, anchored/smoothed -----------------------

    fn parse_postfix(&mut self, mut e: Expr) -> Result<Expr> {
        loop {
            match self.tok.t {
                T::LBracket => e = self.parse_range(e)?,
                T::At => e = self.parse_at(e)?,
                T::Ident => match self.tok.kw {
                    Some(Kw::Offset) => e = self.parse_offset(e)?,
                    Some(Kw::Anchored | Kw::Smoothed) => e = self.parse_extended(e)?,
                    _ => return Ok(e),
                },
                _ => return Ok(e),
            }
        }
    }

    fn parse_range(&mut self, e: Expr) -> Result<Expr> {
        let open = self.advance()?;
        if matches!(self.tok.t, T::RBracket | T::Colon) {
            return Err(self.unexpected(Some("subquery selector"), Some("number or duration")));
        }
        let range = self.parse_duration_arg(true)?;
        match self.tok.t {
            T::RBracket => {
                let close = self.advance()?;
                let pos = e.pos().to(close.pos());
                let bracket = open.pos().to(close.pos());
                let Expr::VectorSelector(vs) = e else {
                    return Err(self.invalid(bracket, "ranges only allowed for vector selectors"));
                };
                if vs.offset.is_some() {
                    return Err(self.invalid(bracket, "no offset modifiers allowed before range"));
                }
                if vs.at.is_some() {
                    return Err(self.invalid(bracket, "no @ modifiers allowed before range"));
                }
                if vs.anchored || vs.smoothed {
                    return Err(self.invalid(bracket, "no anchored or smoothed modifiers allowed before range"));
                }
                Ok(Expr::MatrixSelector(Box::new(MatrixSelector { selector: *vs, range, pos })))
            }
            T::Colon => {
                self.advance()?;
                let step = if self.tok.t == T::RBracket { None } else { Some(self.parse_duration_arg(true)?) };
                if self.tok.t != T::RBracket {
                    return Err(self.unexpected(Some("subquery selector"), Some("\"]\"")));
                }
                let close = self.advance()?;
                let t = e.value_type();
                if t != ValueType::Vector {
                    return Err(self.invalid(
                        e.pos(),
                        format!("subquery is only allowed on instant vector, got {} instead", t.documented_name()),
                    ));
                }
                let pos = e.pos().to(close.pos());
                Ok(Expr::Subquery(Box::new(SubqueryExpr { expr: e, range, step, offset: None, at: None, pos })))
            }
            T::Eof => Err(self.error(open.pos(), K::UnclosedBracket)),
            _ => Err(self.unexpected(Some("subquery or range"), Some("\":\" or \"]\""))),
        }
    }

    fn parse_offset(&mut self, mut e: Expr) -> Result<Expr> {
        let kw = self.advance()?;
        let d = self.parse_offset_duration()?;
        let end = self.prev_end;
        let slot = match &mut e {
            Expr::VectorSelector(v) => &mut v.offset,
            Expr::MatrixSelector(m) => &mut m.selector.offset,
            Expr::Subquery(s) => &mut s.offset,
            _ => {
                return Err(self.invalid(
                    kw.pos(),
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if slot.is_some() {
            return Err(self.invalid(kw.pos(), "offset may not be set multiple times"));
        }
        *slot = Some(d);
        set_end(&mut e, end);
        Ok(e)
    }

    fn parse_at(&mut self, mut e: Expr) -> Result<Expr> {
        let at_tok = self.advance()?;
        let at = match self.tok.t {
            T::Ident if matches!(self.tok.kw, Some(Kw::Start | Kw::End)) => {
                let which = self.advance()?;
                self.expect(T::LParen, "@", "\"(\"")?;
                self.expect(T::RParen, "@", "\")\"")?;
                if which.kw == Some(Kw::Start) { AtModifier::Start } else { AtModifier::End }
            }
            _ => {
                let start = self.tok.start;
                let neg = match self.tok.t {
                    T::Op(BinaryOp::Sub) => {
                        self.advance()?;
                        true
                    }
                    T::Op(BinaryOp::Add) => {
                        self.advance()?;
                        false
                    }
                    _ => false,
                };
                let v = match (self.tok.t, self.tok.kw) {
                    (T::Number | T::Duration, _) => self.tok.num,
                    (T::Ident, Some(Kw::Inf)) => f64::INFINITY,
                    (T::Ident, Some(Kw::Nan)) => f64::NAN,
                    _ => return Err(self.unexpected(Some("@"), Some("timestamp"))),
                };
                let num = self.advance()?;
                let v = if neg { -v } else { v };
                if !v.is_finite() || v * 1000.0 >= i64::MAX as f64 || v * 1000.0 <= i64::MIN as f64 {
                    return Err(self.invalid(
                        PosRange::new(start, num.end),
                        format!("timestamp out of bounds for @ modifier: {v}"),
                    ));
                }
                AtModifier::Timestamp((v * 1000.0).round() as i64)
            }
        };
        let end = self.prev_end;
        let slot = match &mut e {
            Expr::VectorSelector(v) => &mut v.at,
            Expr::MatrixSelector(m) => &mut m.selector.at,
            Expr::Subquery(s) => &mut s.at,
            _ => {
                return Err(self.invalid(
                    at_tok.pos(),
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if slot.is_some() {
            return Err(self.invalid(at_tok.pos(), "@ <timestamp> may not be set multiple times"));
        }
        *slot = Some(at);
        set_end(&mut e, end);
        Ok(e)
    }

    fn parse_extended(&mut self, mut e: Expr) -> Result<Expr> {
        let tok = self.advance()?;
        let anchored = tok.kw == Some(Kw::Anchored);
        let name = if anchored { "anchored" } else { "smoothed" };
        if !self.opts.extended_range_selectors {
            // Prometheus checks the switch first, whatever precedes the modifier.
            return Err(self.error(e.pos(), K::ExtendedRangeSelectorNotEnabled(name)));
        }
        let vs = match &mut e {
            Expr::VectorSelector(v) => &mut **v,
            Expr::MatrixSelector(m) => &mut m.selector,
            _ => {
                return Err(self.invalid(
                    tok.pos(),
                    format!("{name} modifier must be preceded by an instant vector selector or range vector selector"),
                ));
            }
        };
        if vs.anchored || vs.smoothed {
            return Err(self.invalid(tok.pos(), "anchored or smoothed modifier may not be set multiple times"));
        }
        if anchored {
            vs.anchored = true;
        } else {
            vs.smoothed = true;
        }
        set_end(&mut e, tok.end);
        Ok(e)
    }

    // ----- durations -----------------------------------------------------------------------

    /// A duration inside `[...]`: a full duration expression.
    fn parse_duration_arg(&mut self, positive: bool) -> Result<DurationArg> {
        let start = self.tok.start;
        let e = self.parse_dur_expr(0)?;
        let pos = PosRange::new(start, self.prev_end);
        match e {
            Expr::NumberLiteral(n) => {
                let ms = self.secs_to_ms(n.value, pos)?;
                if positive && ms <= 0 {
                    return Err(self.error(pos, K::InvalidDuration("duration must be greater than 0".into())));
                }
                Ok(DurationArg::Fixed(ms))
            }
            e => Ok(DurationArg::Expr(Box::new(e))),
        }
    }

    fn secs_to_ms(&self, secs: f64, pos: PosRange) -> Result<i64> {
        // Durations such as `1001ms` pass through seconds (1.001) and come back a hair under
        // the integer; snap those to it, truncate real fractions as Prometheus does.
        let raw = secs * 1000.0;
        let ms = if (raw - raw.round()).abs() < 1e-6 { raw.round() } else { raw.trunc() };
        if !ms.is_finite() || ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
            return Err(self.error(pos, K::InvalidDuration(format!("duration out of range: {secs}s"))));
        }
        Ok(ms as i64)
    }

    /// After `offset`: `[-]literal`, `[-](expr)` or `[-]step()`-like calls.
    fn parse_offset_duration(&mut self) -> Result<DurationArg> {
        let start = self.tok.start;
        let neg = self.tok.t == T::Op(BinaryOp::Sub);
        if neg || self.tok.t == T::Op(BinaryOp::Add) {
            self.advance()?;
        }
        let e = match self.tok.t {
            T::Number | T::Duration | T::LParen | T::Ident => self.parse_dur_primary()?,
            _ => return Err(self.unexpected(Some("offset"), Some("number, duration, or duration expression"))),
        };
        let pos = PosRange::new(start, self.prev_end);
        match e {
            Expr::NumberLiteral(n) => {
                let ms = self.secs_to_ms(n.value, pos)?;
                Ok(DurationArg::Fixed(if neg { -ms } else { ms }))
            }
            e if neg => {
                Ok(DurationArg::Expr(Box::new(Expr::Unary(Box::new(UnaryExpr { op: UnaryOp::Neg, expr: e, pos })))))
            }
            e => Ok(DurationArg::Expr(Box::new(e))),
        }
    }

    fn parse_dur_expr(&mut self, min_prec: u8) -> Result<Expr> {
        self.enter(1)?;
        let mut lhs = self.parse_dur_unary()?;
        let mut chain = 0;
        while let T::Op(op) = self.tok.t {
            if !matches!(
                op,
                BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Pow
            ) {
                break;
            }
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.advance()?;
            let rhs = self.parse_dur_expr(if op.is_right_assoc() { prec } else { prec + 1 })?;
            chain += 1;
            self.enter(1)?;
            let pos = lhs.pos().to(rhs.pos());
            lhs = Expr::Binary(Box::new(BinaryExpr {
                op,
                lhs,
                rhs,
                return_bool: false,
                matching: None,
                fill: FillModifier::default(),
                pos,
            }));
        }
        self.depth -= chain + 1;
        Ok(lhs)
    }

    fn parse_dur_unary(&mut self) -> Result<Expr> {
        let op = match self.tok.t {
            T::Op(BinaryOp::Sub) => UnaryOp::Neg,
            T::Op(BinaryOp::Add) => UnaryOp::Pos,
            _ => return self.parse_dur_primary(),
        };
        let sign = self.advance()?;
        let operand = self.parse_dur_expr(UNARY_OPERAND_PREC)?;
        let pos = sign.pos().to(operand.pos());
        if let Expr::NumberLiteral(mut n) = operand {
            if op == UnaryOp::Neg {
                n.value = -n.value;
            }
            n.pos = pos;
            return Ok(Expr::NumberLiteral(n));
        }
        Ok(Expr::Unary(Box::new(UnaryExpr { op, expr: operand, pos })))
    }

    fn parse_dur_primary(&mut self) -> Result<Expr> {
        let tok = self.tok;
        match tok.t {
            T::Number | T::Duration => {
                self.advance()?;
                Ok(Expr::NumberLiteral(NumberLiteral {
                    value: tok.num,
                    duration: tok.t == T::Duration,
                    pos: tok.pos(),
                }))
            }
            T::LParen => {
                self.advance()?;
                let inner = self.parse_dur_expr(0)?;
                if self.tok.t != T::RParen {
                    return Err(self.unexpected(Some("duration expression"), Some("\")\"")));
                }
                let close = self.advance()?;
                Ok(Expr::Paren(Box::new(ParenExpr { expr: inner, pos: tok.pos().to(close.pos()) })))
            }
            T::Ident => {
                let name = self.text(&tok).to_ascii_lowercase();
                let func = match name.as_str() {
                    "step" | "range" | "min_of" | "max_of" => get_function(&name),
                    _ => None,
                };
                let Some(func) = func else {
                    return Err(
                        self.unexpected(Some("duration expression"), Some("number, duration or duration function"))
                    );
                };
                self.advance()?;
                self.expect(T::LParen, "duration expression", "\"(\"")?;
                let mut args = Vec::new();
                while self.tok.t != T::RParen {
                    if !args.is_empty() {
                        self.expect(T::Comma, "duration expression", "\",\" or \")\"")?;
                    }
                    args.push(self.parse_dur_expr(0)?);
                }
                let close = self.advance()?;
                let pos = tok.pos().to(close.pos());
                if args.len() != func.min_args {
                    return Err(self.error(
                        pos,
                        K::ArgumentCount {
                            function: func.name.into(),
                            bound: "",
                            expected: func.min_args,
                            got: args.len(),
                        },
                    ));
                }
                Ok(Expr::Call(Box::new(Call { func, args, pos })))
            }
            _ => Err(self.unexpected(Some("duration expression"), Some("number, duration or duration function"))),
        }
    }

    // ----- binary operators ----------------------------------------------------------------

    fn grouping_labels(&mut self, context: &'static str) -> Result<Vec<String>> {
        self.expect(T::LParen, context, "\"(\"")?;
        let mut labels = Vec::new();
        loop {
            if self.tok.t == T::RParen {
                break;
            }
            let (l, _) = self.label_name(context)?;
            labels.push(l);
            match self.tok.t {
                T::Comma => {
                    self.advance()?;
                }
                T::RParen => {}
                _ => return Err(self.unexpected(Some(context), Some("\",\" or \")\""))),
            }
        }
        self.advance()?;
        Ok(labels)
    }

    fn parse_bin_modifiers(&mut self) -> Result<(bool, Option<VectorMatching>, FillModifier)> {
        let mut return_bool = false;
        let mut matching = None;
        let mut fill = FillModifier::default();
        if self.kw() == Some(Kw::Bool) {
            self.advance()?;
            return_bool = true;
        }
        if let Some(k @ (Kw::On | Kw::Ignoring)) = self.kw() {
            self.advance()?;
            let labels = self.grouping_labels("grouping opts")?;
            let mut vm = VectorMatching { on: k == Kw::On, labels, group: None };
            if let Some(g @ (Kw::GroupLeft | Kw::GroupRight)) = self.kw() {
                self.advance()?;
                let include = if self.tok.t == T::LParen { self.grouping_labels("grouping opts")? } else { Vec::new() };
                let side = if g == Kw::GroupLeft { GroupSide::Left } else { GroupSide::Right };
                vm.group = Some(GroupModifier { side, include });
            }
            matching = Some(vm);
        }
        let mut seen = (false, false);
        while let Some(k @ (Kw::Fill | Kw::FillLeft | Kw::FillRight)) = self.kw() {
            if self.peek2() != Some(T::LParen) {
                break;
            }
            let kw_tok = self.advance()?;
            self.advance()?;
            let v = self.signed_number("fill modifier")?;
            self.expect(T::RParen, "fill modifier", "\")\"")?;
            let (l, r) = match k {
                Kw::Fill => (true, true),
                Kw::FillLeft => (true, false),
                _ => (false, true),
            };
            if (l && seen.0) || (r && seen.1) {
                return Err(self.invalid(kw_tok.pos(), "fill modifier may not be set multiple times for a side"));
            }
            if l {
                seen.0 = true;
                fill.left = Some(v);
            }
            if r {
                seen.1 = true;
                fill.right = Some(v);
            }
        }
        Ok((return_bool, matching, fill))
    }

    fn signed_number(&mut self, context: &'static str) -> Result<f64> {
        let neg = match self.tok.t {
            T::Op(BinaryOp::Sub) => {
                self.advance()?;
                true
            }
            T::Op(BinaryOp::Add) => {
                self.advance()?;
                false
            }
            _ => false,
        };
        let v = match (self.tok.t, self.tok.kw) {
            (T::Number | T::Duration, _) => self.tok.num,
            (T::Ident, Some(Kw::Inf)) => f64::INFINITY,
            (T::Ident, Some(Kw::Nan)) => f64::NAN,
            _ => return Err(self.unexpected(Some(context), Some("number"))),
        };
        self.advance()?;
        Ok(if neg { -v } else { v })
    }

    fn new_binary(
        &self,
        op: BinaryOp,
        lhs: Expr,
        rhs: Expr,
        return_bool: bool,
        matching: Option<VectorMatching>,
        fill: FillModifier,
    ) -> Result<Expr> {
        let pos = lhs.pos().to(rhs.pos());
        if !fill.is_empty() && !self.opts.binop_fill_modifiers {
            return Err(self.error(pos, K::FillModifiersNotEnabled));
        }
        let (lt, rt) = (lhs.value_type(), rhs.value_type());
        for (t, side) in [(lt, &lhs), (rt, &rhs)] {
            if t != ValueType::Scalar && t != ValueType::Vector {
                return Err(
                    self.invalid(side.pos(), "binary expression must contain only scalar and instant vector types")
                );
            }
        }
        let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
        if return_bool && !op.is_comparison() {
            return Err(self.invalid(pos, "bool modifier can only be used on comparison operators"));
        }
        if op.is_comparison() && !return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar {
            return Err(self.invalid(pos, "comparisons between scalars must use BOOL modifier"));
        }
        if op.is_set() && (lt == ValueType::Scalar || rt == ValueType::Scalar) {
            return Err(
                self.invalid(pos, format!("set operator {:?} not allowed in binary scalar expression", op.as_str()))
            );
        }
        if let Some(vm) = &matching {
            if !both_vectors && (!vm.labels.is_empty() || vm.group.is_some()) {
                return Err(self.invalid(pos, "vector matching only allowed between instant vectors"));
            }
            if let Some(g) = &vm.group {
                if op.is_set() {
                    return Err(self.invalid(pos, format!("no grouping allowed for {:?} operation", op.as_str())));
                }
                if vm.on {
                    if let Some(l) = g.include.iter().find(|l| vm.labels.contains(l)) {
                        return Err(
                            self.invalid(pos, format!("label {l:?} must not occur in ON and GROUP clause at once"))
                        );
                    }
                }
            }
        }
        if !fill.is_empty() && op.is_set() {
            return Err(self.invalid(pos, format!("fill modifiers are not allowed for set operator {:?}", op.as_str())));
        }
        Ok(Expr::Binary(Box::new(BinaryExpr { op, lhs, rhs, return_bool, matching, fill, pos })))
    }

    // ----- aggregations and calls ----------------------------------------------------------

    fn parse_aggregate(&mut self, op: AggregateOp) -> Result<Expr> {
        let op_tok = self.advance()?;
        let mut grouping = None;
        if let Some(k @ (Kw::By | Kw::Without)) = self.kw() {
            self.advance()?;
            grouping = Some((k == Kw::Without, self.grouping_labels("grouping opts")?));
        }
        if self.tok.t != T::LParen {
            return Err(self.unexpected(Some("aggregation"), Some("\"(\"")));
        }
        let (mut args, close) = self.call_args()?;
        let mut end = close;
        if let Some(k @ (Kw::By | Kw::Without)) = self.kw() {
            if grouping.is_some() {
                return Err(self.unexpected(Some("aggregation"), None));
            }
            self.advance()?;
            grouping = Some((k == Kw::Without, self.grouping_labels("grouping opts")?));
            end = self.prev_end;
        }
        let pos = PosRange::new(op_tok.start, end);
        // As in Prometheus, the switch is checked once the arguments are read, over the
        // whole aggregation.
        if op.is_experimental() && !self.opts.experimental_functions && !args.is_empty() {
            return Err(self.error(pos, K::ExperimentalAggregationNotEnabled(op.as_str())));
        }
        let want = if op.param_type().is_some() { 2 } else { 1 };
        if args.len() != want {
            return Err(self.error(pos, K::AggregateArgumentCount { expected: want, got: args.len() }));
        }
        let expr = args.pop().expect("counted");
        let param = args.pop();
        if expr.value_type() != ValueType::Vector {
            return Err(self.error(
                expr.pos(),
                K::TypeMismatch {
                    expected: ValueType::Vector,
                    context: "aggregation expression".into(),
                    got: expr.value_type(),
                },
            ));
        }
        if let (Some(p), Some(want)) = (&param, op.param_type()) {
            if p.value_type() != want {
                return Err(self.error(
                    p.pos(),
                    K::TypeMismatch { expected: want, context: "aggregation parameter".into(), got: p.value_type() },
                ));
            }
        }
        let (without, grouping) = grouping.unwrap_or_default();
        Ok(Expr::Aggregate(Box::new(AggregateExpr { op, expr, param, grouping, without, pos })))
    }

    /// `( expr, ... )`; returns the arguments and the end of `)`.
    fn call_args(&mut self) -> Result<(Vec<Expr>, usize)> {
        let open = self.expect(T::LParen, "function call", "\"(\"")?;
        let mut args = Vec::new();
        loop {
            match self.tok.t {
                T::RParen => break,
                T::Eof => return Err(self.error(open.pos(), K::UnclosedParen)),
                _ => {}
            }
            args.push(self.parse_expr(0)?);
            match self.tok.t {
                T::Comma => {
                    let comma = self.advance()?;
                    if self.tok.t == T::RParen {
                        return Err(self.invalid(comma.pos(), "trailing commas not allowed in function call args"));
                    }
                }
                T::RParen => {}
                T::Eof => return Err(self.error(open.pos(), K::UnclosedParen)),
                _ => return Err(self.unexpected(Some("function call"), Some("\",\" or \")\""))),
            }
        }
        let close = self.advance()?;
        Ok((args, close.end))
    }

    fn parse_call(&mut self) -> Result<Expr> {
        let name_tok = self.advance()?;
        let name = self.text(&name_tok);
        let func =
            get_function(name).ok_or_else(|| self.error(name_tok.pos(), K::UnknownFunction(name.to_string())))?;
        if func.experimental && !self.opts.experimental_functions {
            return Err(self.error(name_tok.pos(), K::NotEnabled(name.to_string())));
        }
        let n_empty = self.empty_selectors.len();
        let (args, end) = self.call_args()?;
        let pos = PosRange::new(name_tok.start, end);
        if func.name == "info" {
            if let Some(Expr::VectorSelector(vs)) = args.get(1) {
                let p = vs.pos;
                if let Some(i) = self.empty_selectors[n_empty..].iter().position(|&e| e == p) {
                    self.empty_selectors.remove(n_empty + i);
                }
            }
        }
        self.check_call(func, &args, pos)?;
        Ok(Expr::Call(Box::new(Call { func, args, pos })))
    }

    fn check_call(&self, func: &'static Function, args: &[Expr], pos: PosRange) -> Result<()> {
        let n = args.len();
        let count_err =
            |bound, expected| self.error(pos, K::ArgumentCount { function: func.name.into(), bound, expected, got: n });
        if !func.is_variadic() && n != func.min_args {
            return Err(count_err("", func.min_args));
        }
        if n < func.min_args {
            return Err(count_err("at least ", func.min_args));
        }
        if let Some(max) = func.max_args {
            if n > max {
                return Err(count_err("at most ", max));
            }
        }
        for (i, arg) in args.iter().enumerate() {
            let want = func.arg_type(i).expect("arity checked");
            let got = arg.value_type();
            if got != want {
                return Err(self.error(
                    arg.pos(),
                    K::TypeMismatch { expected: want, context: format!("call to function {:?}", func.name), got },
                ));
            }
        }
        Ok(())
    }
}

/// Extends the position of a selector or subquery to cover a modifier written after it.
fn set_end(e: &mut Expr, end: usize) {
    match e {
        Expr::VectorSelector(v) => v.pos.end = end,
        Expr::MatrixSelector(m) => m.pos.end = end,
        Expr::Subquery(s) => s.pos.end = end,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ParseOptions, parse, pretty, print};
    use super::*;

    /// Fully parenthesised structure: shows how operators grouped.
    fn sexpr(e: &Expr) -> String {
        match e {
            Expr::Binary(b) => {
                let mut op = String::new();
                super::super::printer::write_binary_op(&mut op, b);
                format!("({} {op} {})", sexpr(&b.lhs), sexpr(&b.rhs))
            }
            Expr::Unary(u) => format!("({}{})", if u.op == UnaryOp::Neg { "-" } else { "+" }, sexpr(&u.expr)),
            Expr::Paren(p) => format!("[{}]", sexpr(&p.expr)),
            _ => print(e),
        }
    }

    #[track_caller]
    fn check(input: &str, want: &str) {
        let e = ParseOptions::experimental().parse(input).unwrap_or_else(|err| panic!("{input}: {err}"));
        assert_eq!(sexpr(&e), want, "{input}");
    }

    #[test]
    fn precedence_and_associativity() {
        check("1 + 2 * 3", "(1 + (2 * 3))");
        check("1 * 2 + 3", "((1 * 2) + 3)");
        check("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))");
        check("2 * 3 % 2", "((2 * 3) % 2)");
        check("a - b - c", "((a - b) - c)");
        check("-2 ^ 2", "(-(2 ^ 2))");
        check("-a * b", "((-a) * b)");
        check("-a ^ b", "(-(a ^ b))");
        check("a ^ -b * c", "((a ^ (-b)) * c)");
        check("-5", "-5");
        check("+5m", "5m");
        check("- - 1", "1");
        check("a or b and c unless d", "(a or ((b and c) unless d))");
        check("a == b or c > d", "((a == b) or (c > d))");
        check("a atan2 b + c", "((a atan2 b) + c)");
        check("a </ 2 * 3", "((a </ 2) * 3)");
    }

    #[test]
    fn modifiers_bind_to_selectors() {
        check("a offset 5m + b", "(a offset 5m + b)");
        check("-a offset 5m", "(-a offset 5m)");
        check("a + max_over_time(b[5m:] @ end())", "(a + max_over_time(b[5m:] @ end()))");
        check("rate(a[5m] offset -1h @ 100)", "rate(a[5m] @ 100.000 offset -1h)");
        check("a offset 1h @ start()", "a @ start() offset 1h");
        check("sum(a)[1h:5m] offset 1d", "sum(a)[1h:5m] offset 1d");
        check("a[300]", "a[5m]");
        check("a[1.5]", "a[1s500ms]");
        check("a[5m * 2]", "a[5m * 2]");
        check("a[STep() + 1:]", "a[step() + 1:]");
        check("a offset (1h / 2)", "a offset (1h / 2)");
        check("a offset -(1h)", "a offset -(1h)");
        check("a offset +5m", "a offset 5m");
        check("a offset step() * 0", "(a offset step() * 0)");
        check("a[1m] anchored", "a[1m] anchored");
        check("a @ 100 smoothed", "a @ 100.000 smoothed");
    }

    #[test]
    fn selectors_and_keywords() {
        check("sum", "sum");
        check("sum + by", "(sum + by)");
        check("SUM BY (job) (a)", "sum by (job) (a)");
        check("sum(a) without (x,)", "sum without (x) (a)");
        check("sum by () (a)", "sum(a)");
        check("{\"my.metric\"}", "{\"my.metric\"}");
        check("{\"my.metric\", \"a.b\"=\"c\"}", "{\"my.metric\", \"a.b\"=\"c\"}");
        check("{__name__=\"on\"}", "{__name__=\"on\"}");
        check("a{b='c',}", "a{b=\"c\"}");
        check("a{b=`c\\d`}", "a{b=\"c\\\\d\"}");
        check("nan + Inf", "(NaN + Inf)");
        check("0x10 + 1e3 + 1_000", "((16 + 1000) + 1000)");
        check("a # comment\n + b", "(a + b)");
        check("topk by (x) (5, a)", "topk by (x) (5, a)");
        check("count_values(\"v\", a)", "count_values(\"v\", a)");
        check("a * on(x) group_left(y) b", "(a * on (x) group_left (y) b)");
        check("a * ignoring(x) group_right b", "(a * ignoring (x) group_right b)");
        check("a * on(x) group_right () (b)", "(a * on (x) group_right () [b])");
        check("a + fill(0) b", "(a + fill(0) b)");
        check("a + fill_right(1) fill_left(2) b", "(a + fill_left(2) fill_right(1) b)");
        check("fill + fill(0) fill", "(fill + fill(0) fill)");
        check("a == bool on() b", "(a == bool on () b)");
        check("info(a, {x=~\".*\"})", "info(a, {x=~\".*\"})");
        check("\"a\\xc5z\"", "\"a\\xc5z\"");
        // Found by fuzzing: huge durations keep their duration form when printed.
        check("-20000000w ^ 1m", "(-(20000000w ^ 1m))");
    }

    #[test]
    fn positions() {
        let e = parse("sum(rate(foo[5m])) by (job) + 1").unwrap();
        let Expr::Binary(b) = &e else { panic!() };
        assert_eq!(b.pos, PosRange::new(0, 31));
        let Expr::Aggregate(a) = &b.lhs else { panic!() };
        assert_eq!(a.pos, PosRange::new(0, 27));
        let Expr::Call(c) = &a.expr else { panic!() };
        assert_eq!(c.pos, PosRange::new(4, 17));
        assert_eq!(c.args[0].pos(), PosRange::new(9, 16));
        assert_eq!(b.rhs.pos(), PosRange::new(30, 31));
        let e = parse("-1").unwrap();
        assert_eq!(e.pos(), PosRange::new(0, 2));
        let e = parse("a offset 5m").unwrap();
        assert_eq!(e.pos(), PosRange::new(0, 11));
    }

    #[test]
    fn pretty_splits_long_expressions() {
        let q = "sum by (job, instance) (rate(http_requests_total{status=~\"5..\", handler!=\"/metrics\"}[5m])) / sum by (job, instance) (rate(http_requests_total[5m]))";
        let e = parse(q).unwrap();
        let p = pretty(&e);
        assert_eq!(
            p,
            "  sum by (job, instance) (rate(http_requests_total{status=~\"5..\", handler!=\"/metrics\"}[5m]))\n/\n  sum by (job, instance) (rate(http_requests_total[5m]))"
        );
        assert_eq!(pretty(&parse("up").unwrap()), "up");
        let long = format!("histogram_quantile(0.9, sum by (le) (rate({}[5m])))", "a".repeat(90));
        assert_eq!(
            pretty(&parse(&long).unwrap()),
            format!("histogram_quantile(\n  0.9,\n  sum by (le) (\n    rate({}[5m])\n  )\n)", "a".repeat(90))
        );
    }
}
