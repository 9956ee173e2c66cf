//! AST → PromQL text: a canonical one-line form ([`print`], also `Display`) and a
//! pretty form that splits long expressions over lines ([`pretty`]), in the style of
//! `promtool promql format`.
//!
//! The printer never adds parentheses: [`Expr::Paren`] nodes carry them, so printing a
//! parsed tree and parsing the text again gives the same tree.

use std::fmt::{self, Write};

use ember_exposition::names::{is_valid_legacy_metric_name, write_escaped_label_value, write_label_name};

use super::ast::*;
use super::lexer::{Kw, format_duration, keyword};

/// Lines longer than this are split by [`pretty`].
pub const MAX_LINE_WIDTH: usize = 100;

/// Canonical one-line PromQL text for `expr`.
pub fn print(expr: &Expr) -> String {
    let mut s = String::new();
    write_expr(&mut s, expr);
    s
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print(self))
    }
}

/// Writes a number so that the lexer reads back the same value.
pub(crate) fn write_number(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Inf" } else { "-Inf" });
    } else if v == 0.0 || (1e-4..1e15).contains(&v.abs()) {
        let _ = write!(out, "{v}");
    } else {
        let _ = write!(out, "{v:e}");
    }
}

fn write_number_literal(out: &mut String, n: &NumberLiteral) {
    // The lexer computes a duration's value as `ms / 1000`; invert exactly that.
    let ms = (n.value * 1000.0).round();
    if n.duration && ms.is_finite() && ms.abs() < 9.2e18 && ms / 1000.0 == n.value {
        if ms == 0.0 && n.value.is_sign_negative() {
            out.push('-');
        }
        format_duration(out, ms as i64);
    } else {
        write_number(out, n.value);
    }
}

/// A double-quoted string literal that the lexer reads back to the same value.
pub(crate) fn write_quoted(out: &mut String, s: &str, raw: Option<&[u8]>) {
    out.push('"');
    match raw {
        Some(bytes) => {
            for chunk in bytes.utf8_chunks() {
                write_quoted_body(out, chunk.valid());
                for b in chunk.invalid() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
        }
        None => write_quoted_body(out, s),
    }
    out.push('"');
}

fn write_quoted_body(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

fn write_labels(out: &mut String, labels: &[String]) {
    out.push('(');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write_label_name(out, l);
    }
    out.push(')');
}

/// A metric name that must be written in the quoted form: not a legacy name, or a word
/// that would read back as a keyword or a number.
fn needs_quoted_name(name: &str) -> bool {
    !is_valid_legacy_metric_name(name)
        || matches!(
            keyword(name),
            Some(Kw::On | Kw::Ignoring | Kw::GroupLeft | Kw::GroupRight | Kw::Bool | Kw::Inf | Kw::Nan)
        )
}

fn write_selector(out: &mut String, vs: &VectorSelector) {
    let matchers = if vs.name.is_some() { vs.matchers.get(1..).unwrap_or(&[]) } else { &vs.matchers[..] };
    let quoted_name = vs.name.as_deref().filter(|n| needs_quoted_name(n));
    if let Some(name) = vs.name.as_deref().filter(|_| quoted_name.is_none()) {
        out.push_str(name);
        if matchers.is_empty() {
            return;
        }
    }
    out.push('{');
    let mut first = true;
    if let Some(name) = quoted_name {
        write_quoted(out, name, None);
        first = false;
    }
    for m in matchers {
        if !first {
            out.push_str(", ");
        }
        first = false;
        let _ = write_label_name(out, m.name());
        out.push_str(m.kind().as_str());
        out.push('"');
        let _ = write_escaped_label_value(out, m.value());
        out.push('"');
    }
    out.push('}');
}

fn write_duration_arg(out: &mut String, d: &DurationArg) {
    match d {
        DurationArg::Fixed(ms) => format_duration(out, *ms),
        DurationArg::Expr(e) => write_expr(out, e),
    }
}

fn write_modifiers(
    out: &mut String,
    at: Option<&AtModifier>,
    offset: Option<&DurationArg>,
    anchored: bool,
    smoothed: bool,
) {
    match at {
        Some(AtModifier::Start) => out.push_str(" @ start()"),
        Some(AtModifier::End) => out.push_str(" @ end()"),
        Some(AtModifier::Timestamp(ms)) => {
            let sign = if *ms < 0 { "-" } else { "" };
            let a = ms.unsigned_abs();
            let _ = write!(out, " @ {sign}{}.{:03}", a / 1000, a % 1000);
        }
        None => {}
    }
    if let Some(d) = offset {
        out.push_str(" offset ");
        write_duration_arg(out, d);
    }
    if anchored {
        out.push_str(" anchored");
    }
    if smoothed {
        out.push_str(" smoothed");
    }
}

pub(crate) fn write_binary_op(out: &mut String, b: &BinaryExpr) {
    out.push_str(b.op.as_str());
    if b.return_bool {
        out.push_str(" bool");
    }
    if let Some(vm) = &b.matching {
        out.push_str(if vm.on { " on " } else { " ignoring " });
        write_labels(out, &vm.labels);
        if let Some(g) = &vm.group {
            out.push_str(if g.side == GroupSide::Left { " group_left" } else { " group_right" });
            // An empty list is written only when the right operand starts with `(`, which
            // would otherwise be read as the label list.
            if !g.include.is_empty() || starts_with_paren(&b.rhs) {
                out.push(' ');
                write_labels(out, &g.include);
            }
        }
    }
    let fill = b.fill;
    match (fill.left, fill.right) {
        (Some(l), Some(r)) if l.to_bits() == r.to_bits() => {
            out.push_str(" fill(");
            write_number(out, l);
            out.push(')');
        }
        (l, r) => {
            for (name, v) in [("fill_left", l), ("fill_right", r)] {
                if let Some(v) = v {
                    let _ = write!(out, " {name}(");
                    write_number(out, v);
                    out.push(')');
                }
            }
        }
    }
}

/// Whether the printed form of `e` begins with `(`.
fn starts_with_paren(e: &Expr) -> bool {
    match e {
        Expr::Paren(_) => true,
        Expr::Subquery(s) => starts_with_paren(&s.expr),
        Expr::Binary(b) => starts_with_paren(&b.lhs),
        _ => false,
    }
}

fn write_aggregate_head(out: &mut String, a: &AggregateExpr) {
    out.push_str(a.op.as_str());
    if a.without || !a.grouping.is_empty() {
        out.push_str(if a.without { " without " } else { " by " });
        write_labels(out, &a.grouping);
        out.push(' ');
    }
}

fn write_expr(out: &mut String, e: &Expr) {
    match e {
        Expr::NumberLiteral(n) => write_number_literal(out, n),
        Expr::StringLiteral(s) => write_quoted(out, &s.value, s.raw.as_deref()),
        Expr::VectorSelector(vs) => {
            write_selector(out, vs);
            write_modifiers(out, vs.at.as_ref(), vs.offset.as_ref(), vs.anchored, vs.smoothed);
        }
        Expr::MatrixSelector(m) => {
            let vs = &m.selector;
            write_selector(out, vs);
            out.push('[');
            write_duration_arg(out, &m.range);
            out.push(']');
            write_modifiers(out, vs.at.as_ref(), vs.offset.as_ref(), vs.anchored, vs.smoothed);
        }
        Expr::Subquery(s) => {
            write_expr(out, &s.expr);
            write_subquery_suffix(out, s);
        }
        Expr::Paren(p) => {
            out.push('(');
            write_expr(out, &p.expr);
            out.push(')');
        }
        Expr::Unary(u) => {
            out.push(if u.op == UnaryOp::Neg { '-' } else { '+' });
            write_expr(out, &u.expr);
        }
        Expr::Binary(b) => {
            write_expr(out, &b.lhs);
            out.push(' ');
            write_binary_op(out, b);
            out.push(' ');
            write_expr(out, &b.rhs);
        }
        Expr::Aggregate(a) => {
            write_aggregate_head(out, a);
            out.push('(');
            if let Some(p) = &a.param {
                write_expr(out, p);
                out.push_str(", ");
            }
            write_expr(out, &a.expr);
            out.push(')');
        }
        Expr::Call(c) => {
            out.push_str(c.func.name);
            out.push('(');
            for (i, a) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, a);
            }
            out.push(')');
        }
    }
}

fn write_subquery_suffix(out: &mut String, s: &SubqueryExpr) {
    out.push('[');
    write_duration_arg(out, &s.range);
    out.push(':');
    if let Some(step) = &s.step {
        write_duration_arg(out, step);
    }
    out.push(']');
    write_modifiers(out, s.at.as_ref(), s.offset.as_ref(), false, false);
}

/// PromQL text split over lines: expressions that fit in [`MAX_LINE_WIDTH`] stay on one
/// line; longer ones put each operand, argument and parenthesised expression on its own
/// line, indented by two spaces per level, with binary operators on a line of their own.
pub fn pretty(expr: &Expr) -> String {
    let mut out = String::new();
    write_pretty(&mut out, expr, 0);
    out
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_pretty(out: &mut String, e: &Expr, level: usize) {
    let flat = print(e);
    if flat.len() <= MAX_LINE_WIDTH {
        indent(out, level);
        out.push_str(&flat);
        return;
    }
    match e {
        Expr::Binary(b) => {
            write_pretty(out, &b.lhs, level + 1);
            out.push('\n');
            indent(out, level);
            write_binary_op(out, b);
            out.push('\n');
            write_pretty(out, &b.rhs, level + 1);
        }
        Expr::Paren(p) => {
            indent(out, level);
            out.push_str("(\n");
            write_pretty(out, &p.expr, level + 1);
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Aggregate(a) => {
            indent(out, level);
            write_aggregate_head(out, a);
            out.push_str("(\n");
            if let Some(p) = &a.param {
                write_pretty(out, p, level + 1);
                out.push_str(",\n");
            }
            write_pretty(out, &a.expr, level + 1);
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Call(c) if !c.args.is_empty() => {
            indent(out, level);
            out.push_str(c.func.name);
            out.push_str("(\n");
            for (i, a) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                write_pretty(out, a, level + 1);
            }
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Subquery(s) => {
            write_pretty(out, &s.expr, level);
            write_subquery_suffix(out, s);
        }
        Expr::Unary(u) => {
            indent(out, level);
            out.push(if u.op == UnaryOp::Neg { '-' } else { '+' });
            let mut inner = String::new();
            write_pretty(&mut inner, &u.expr, level);
            out.push_str(inner.trim_start());
        }
        _ => {
            indent(out, level);
            out.push_str(&flat);
        }
    }
}
