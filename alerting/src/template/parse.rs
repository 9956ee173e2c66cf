//! Lexing and parsing of Go `text/template` source into a tree.

use std::collections::HashMap;

use super::value::{Value, parse_go_float};
use super::{TemplateError, TemplateErrorKind};

/// A position in the template source (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Dot,
    Nil,
    Const(Value),
    /// `.a.b` on dot.
    Field(Vec<String>),
    /// `$x.a.b`; name without `$`, empty for `$`.
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    /// `(pipeline).a.b`.
    Sub(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Command {
    pub args: Vec<Operand>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipeline {
    /// Declared or assigned variables (without `$`).
    pub vars: Vec<String>,
    /// `=` rather than `:=`.
    pub assign: bool,
    pub cmds: Vec<Command>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Template(String, Option<Pipeline>, Pos),
    Break(Pos),
    Continue(Pos),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    /// Start of an action.
    Open,
    Close,
    Ident(String),
    Field(String),
    /// A field directly after a variable, field or closing paren: `$x.a`, `.a.b`, `(p).a`.
    ChainField(String),
    Var(String),
    Dot,
    Str(String),
    Num(Value),
    Declare,
    Assign,
    Pipe,
    LParen,
    RParen,
    Comma,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    name: &'a str,
    toks: Vec<(Tok, usize)>,
}

pub(crate) fn pos_of(src: &str, offset: usize) -> Pos {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() as u32 + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    Pos { line, column: col }
}

impl<'a> Lexer<'a> {
    fn err(&self, offset: usize, msg: impl Into<String>) -> TemplateError {
        TemplateError {
            template: self.name.to_string(),
            pos: pos_of(self.src, offset),
            kind: TemplateErrorKind::Parse(msg.into()),
        }
    }

    fn run(mut self) -> Result<Vec<(Tok, usize)>, TemplateError> {
        let mut trim_next = false;
        while self.pos < self.src.len() {
            let rest = &self.src[self.pos..];
            let open = rest.find("{{");
            let text_end = open.map_or(self.src.len(), |o| self.pos + o);
            let mut text = &self.src[self.pos..text_end];
            if trim_next {
                text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            }
            let Some(_) = open else {
                if !text.is_empty() {
                    self.toks.push((Tok::Text(text.to_string()), self.pos));
                }
                break;
            };
            let after = &self.src[text_end + 2..];
            let trim_left = after.starts_with("- ")
                || after.starts_with("-\t")
                || after.starts_with("-\n")
                || after.starts_with("-\r");
            if trim_left {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            }
            if !text.is_empty() {
                self.toks.push((Tok::Text(text.to_string()), self.pos));
            }
            self.pos = text_end + 2 + if trim_left { 2 } else { 0 };
            trim_next = self.action(text_end)?;
        }
        Ok(self.toks)
    }

    /// Lexes one action; returns whether it ended with a right trim marker.
    fn action(&mut self, start: usize) -> Result<bool, TemplateError> {
        let b = self.src.as_bytes();
        // Comments.
        let rest = &self.src[self.pos..];
        if rest.starts_with("/*") {
            let Some(end) = rest.find("*/") else { return Err(self.err(start, "unclosed comment")) };
            self.pos += end + 2;
            let rest = &self.src[self.pos..];
            if let Some(r) = rest.strip_prefix(" -}}") {
                let _ = r;
                self.pos += 4;
                return Ok(true);
            }
            if rest.starts_with("}}") {
                self.pos += 2;
                return Ok(false);
            }
            return Err(self.err(self.pos, "comment ends before closing delimiter"));
        }
        self.toks.push((Tok::Open, start));
        let mut depth = 0usize;
        let mut last_end = usize::MAX;
        let mut chainable = false;
        loop {
            while self.pos < b.len() && matches!(b[self.pos], b' ' | b'\t' | b'\r' | b'\n') {
                // A right trim marker is " -}}".
                if self.src[self.pos..].starts_with(" -}}")
                    || self.src[self.pos..].starts_with("\t-}}")
                    || self.src[self.pos..].starts_with("\n-}}")
                    || self.src[self.pos..].starts_with("\r-}}")
                {
                    if depth > 0 {
                        return Err(self.err(self.pos, "unclosed left paren"));
                    }
                    self.toks.push((Tok::Close, self.pos));
                    self.pos += 4;
                    return Ok(true);
                }
                self.pos += 1;
            }
            if self.pos >= b.len() {
                return Err(self.err(start, "unclosed action"));
            }
            let at = self.pos;
            let c = b[at];
            if self.src[at..].starts_with("}}") {
                if depth > 0 {
                    return Err(self.err(at, "unclosed left paren"));
                }
                self.toks.push((Tok::Close, at));
                self.pos += 2;
                return Ok(false);
            }
            let tok = match c {
                b'|' => {
                    self.pos += 1;
                    Tok::Pipe
                }
                b'(' => {
                    depth += 1;
                    self.pos += 1;
                    Tok::LParen
                }
                b')' => {
                    if depth == 0 {
                        return Err(self.err(at, "unexpected right paren"));
                    }
                    depth -= 1;
                    self.pos += 1;
                    Tok::RParen
                }
                b',' => {
                    self.pos += 1;
                    Tok::Comma
                }
                b':' if b.get(at + 1) == Some(&b'=') => {
                    self.pos += 2;
                    Tok::Declare
                }
                b'=' => {
                    self.pos += 1;
                    Tok::Assign
                }
                b'"' => Tok::Str(self.quoted()?),
                b'`' => {
                    let Some(end) = self.src[at + 1..].find('`') else {
                        return Err(self.err(at, "unterminated raw quoted string"));
                    };
                    self.pos = at + 1 + end + 1;
                    Tok::Str(self.src[at + 1..at + 1 + end].to_string())
                }
                b'\'' => {
                    let s = self.char_const()?;
                    Tok::Num(Value::Int(s as i64))
                }
                b'$' => {
                    self.pos += 1;
                    let name = self.ident_chars();
                    Tok::Var(name.to_string())
                }
                b'.' => {
                    let next = b.get(at + 1).copied().unwrap_or(b' ');
                    let next_char = self.src[at + 1..].chars().next().unwrap_or(' ');
                    if next.is_ascii_digit() {
                        self.number()?
                    } else if next_char.is_alphanumeric() || next_char == '_' {
                        self.pos += 1;
                        let name = self.ident_chars().to_string();
                        if at == last_end && chainable { Tok::ChainField(name) } else { Tok::Field(name) }
                    } else {
                        self.pos += 1;
                        Tok::Dot
                    }
                }
                b'0'..=b'9' | b'-' | b'+' => self.number()?,
                c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                    let name = self.ident_chars();
                    if name.is_empty() {
                        // A non-ASCII character that cannot start a name (e.g. a combining mark).
                        let ch = self.src[at..].chars().next().unwrap_or('?');
                        return Err(self.err(at, format!("unexpected {ch:?} in command")));
                    }
                    Tok::Ident(name.to_string())
                }
                _ => {
                    let ch = self.src[at..].chars().next().unwrap_or('?');
                    return Err(self.err(at, format!("unexpected {ch:?} in command")));
                }
            };
            chainable = matches!(tok, Tok::Var(_) | Tok::Field(_) | Tok::ChainField(_) | Tok::RParen);
            last_end = self.pos;
            self.toks.push((tok, at));
        }
    }

    fn ident_chars(&mut self) -> &'a str {
        let start = self.pos;
        let src: &'a str = self.src;
        for (i, ch) in src[start..].char_indices() {
            if !(ch.is_alphanumeric() || ch == '_') {
                self.pos = start + i;
                return &src[start..start + i];
            }
        }
        self.pos = src.len();
        &src[start..]
    }

    fn number(&mut self) -> Result<Tok, TemplateError> {
        let start = self.pos;
        let b = self.src.as_bytes();
        let mut end = start;
        if matches!(b.get(end), Some(b'-' | b'+')) {
            end += 1;
        }
        while end < b.len() && (b[end].is_ascii_alphanumeric() || matches!(b[end], b'.' | b'_')) {
            // Allow a sign directly after an exponent marker.
            end += 1;
            if matches!(b[end - 1], b'e' | b'E' | b'p' | b'P')
                && matches!(b.get(end), Some(b'-' | b'+'))
                && !self.src[start..end].starts_with("0x")
            {
                end += 1;
            }
        }
        let text = &self.src[start..end];
        self.pos = end;
        let clean = text.replace('_', "");
        let (neg, body) = match clean.strip_prefix('-') {
            Some(r) => (true, r.to_string()),
            None => (false, clean.trim_start_matches('+').to_string()),
        };
        let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            i64::from_str_radix(h, 16).ok()
        } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            i64::from_str_radix(o, 8).ok()
        } else if let Some(bin) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            i64::from_str_radix(bin, 2).ok()
        } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
            i64::from_str_radix(&body[1..], 8).ok()
        } else {
            body.parse::<i64>().ok()
        };
        if let Some(i) = int {
            return Ok(Tok::Num(Value::Int(if neg { -i } else { i })));
        }
        if body.bytes().next().is_some_and(|c| c.is_ascii_digit() || c == b'.')
            && let Some(f) = parse_go_float(&body)
        {
            return Ok(Tok::Num(Value::Float(if neg { -f } else { f })));
        }
        Err(self.err(start, format!("bad number syntax: {text:?}")))
    }

    fn char_const(&mut self) -> Result<char, TemplateError> {
        let start = self.pos;
        let rest = &self.src[start + 1..];
        let Some(end) = rest.find('\'') else { return Err(self.err(start, "unterminated character constant")) };
        let body = &rest[..end];
        let s = unescape(body).map_err(|m| self.err(start, m))?;
        let mut it = s.chars();
        match (it.next(), it.next()) {
            (Some(c), None) => {
                self.pos = start + 1 + end + 1;
                Ok(c)
            }
            _ => Err(self.err(start, format!("malformed character constant: '{body}'"))),
        }
    }

    fn quoted(&mut self) -> Result<String, TemplateError> {
        let start = self.pos;
        let b = self.src.as_bytes();
        let mut i = start + 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => break,
                b'\n' => return Err(self.err(start, "unterminated quoted string")),
                _ => i += 1,
            }
        }
        if i >= b.len() {
            return Err(self.err(start, "unterminated quoted string"));
        }
        self.pos = i + 1;
        unescape(&self.src[start + 1..i]).map_err(|m| self.err(start, m))
    }
}

/// Go string-literal escapes.
fn unescape(s: &str) -> Result<String, String> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = it.next().ok_or("invalid escape at end of string")?;
        let hex = |it: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| -> Result<u32, String> {
            let h: String = (0..n).filter_map(|_| it.next()).collect();
            if h.len() != n {
                return Err("invalid escape sequence".into());
            }
            u32::from_str_radix(&h, 16).map_err(|_| format!("invalid escape sequence \\{e}{h}"))
        };
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'x' => out.push(char::from_u32(hex(&mut it, 2)?).ok_or("invalid \\x escape")?),
            'u' => out.push(char::from_u32(hex(&mut it, 4)?).ok_or("invalid \\u escape")?),
            'U' => out.push(char::from_u32(hex(&mut it, 8)?).ok_or("invalid \\U escape")?),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = it.next().and_then(|c| c.to_digit(8)).ok_or("invalid octal escape")?;
                    v = v * 8 + d;
                }
                out.push(char::from_u32(v).ok_or("invalid octal escape")?);
            }
            other => return Err(format!("unknown escape sequence: \\{other}")),
        }
    }
    Ok(out)
}

/// A parsed template set: the main tree plus `define`d templates.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

struct Parser<'a> {
    src: &'a str,
    name: &'a str,
    toks: Vec<(Tok, usize)>,
    i: usize,
    defines: HashMap<String, Vec<Node>>,
    range_depth: usize,
}

/// What ended a list of nodes.
#[allow(clippy::enum_variant_names)]
enum End {
    Eof,
    End(usize),
    Else(usize),
}

const KEYWORDS: &[&str] = &["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"];

impl<'a> Parser<'a> {
    fn err(&self, offset: usize, msg: impl Into<String>) -> TemplateError {
        TemplateError {
            template: self.name.to_string(),
            pos: pos_of(self.src, offset),
            kind: TemplateErrorKind::Parse(msg.into()),
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.i).map_or(self.src.len(), |(_, o)| *o)
    }

    fn next(&mut self) -> Option<(Tok, usize)> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn expect_close(&mut self, ctx: &str) -> Result<(), TemplateError> {
        match self.next() {
            Some((Tok::Close, _)) => Ok(()),
            Some((t, o)) => Err(self.err(o, format!("unexpected {} in {ctx}", describe(&t)))),
            None => Err(self.err(self.src.len(), format!("unclosed action in {ctx}"))),
        }
    }

    /// Parses nodes until `{{end}}`, `{{else}}` or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, End), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            let Some((tok, off)) = self.next() else { return Ok((nodes, End::Eof)) };
            match tok {
                Tok::Text(t) => nodes.push(Node::Text(t)),
                Tok::Open => {
                    let kw = match self.peek() {
                        Some(Tok::Ident(k)) if KEYWORDS.contains(&k.as_str()) => Some(k.clone()),
                        _ => None,
                    };
                    match kw.as_deref() {
                        Some("end") => {
                            self.i += 1;
                            self.expect_close("end")?;
                            return Ok((nodes, End::End(off)));
                        }
                        Some("else") => {
                            self.i += 1;
                            return Ok((nodes, End::Else(off)));
                        }
                        Some("if") | Some("range") | Some("with") => {
                            self.i += 1;
                            let k = kw.expect("checked above");
                            nodes.push(self.control(&k, off)?);
                        }
                        Some("define") => {
                            self.i += 1;
                            let name = self.template_name("define")?;
                            self.expect_close("define")?;
                            let (body, end) = self.list()?;
                            if !matches!(end, End::End(_)) {
                                return Err(self.err(off, "unexpected EOF in define"));
                            }
                            self.defines.insert(name, body);
                        }
                        Some("block") => {
                            self.i += 1;
                            let name = self.template_name("block")?;
                            let pipe = self.pipeline("block", false)?;
                            let (body, end) = self.list()?;
                            if !matches!(end, End::End(_)) {
                                return Err(self.err(off, "unexpected EOF in block"));
                            }
                            self.defines.insert(name.clone(), body);
                            nodes.push(Node::Template(name, Some(pipe), pos_of(self.src, off)));
                        }
                        Some("template") => {
                            self.i += 1;
                            let name = self.template_name("template")?;
                            let pipe = if matches!(self.peek(), Some(Tok::Close)) {
                                self.i += 1;
                                None
                            } else {
                                Some(self.pipeline("template", false)?)
                            };
                            nodes.push(Node::Template(name, pipe, pos_of(self.src, off)));
                        }
                        Some(k @ ("break" | "continue")) => {
                            let k = k.to_string();
                            if self.range_depth == 0 {
                                return Err(self.err(off, format!("{{{{{k}}}}} outside {{{{range}}}}")));
                            }
                            self.i += 1;
                            self.expect_close(&k)?;
                            let p = pos_of(self.src, off);
                            nodes.push(if k == "break" { Node::Break(p) } else { Node::Continue(p) });
                        }
                        _ => {
                            let p = self.pipeline("command", true)?;
                            nodes.push(Node::Action(p));
                        }
                    }
                }
                other => return Err(self.err(off, format!("unexpected {}", describe(&other)))),
            }
        }
    }

    fn template_name(&mut self, ctx: &str) -> Result<String, TemplateError> {
        match self.next() {
            Some((Tok::Str(s), _)) => Ok(s),
            Some((t, o)) => Err(self.err(o, format!("unexpected {} in {ctx} clause", describe(&t)))),
            None => Err(self.err(self.src.len(), format!("unexpected EOF in {ctx} clause"))),
        }
    }

    fn control(&mut self, kw: &str, off: usize) -> Result<Node, TemplateError> {
        let pipe = self.pipeline(kw, true)?;
        if kw == "range" {
            self.range_depth += 1;
        }
        let listed = self.list();
        if kw == "range" {
            self.range_depth -= 1;
        }
        let (body, end) = listed?;
        let else_list = match end {
            End::Eof => return Err(self.err(off, format!("unexpected EOF in {kw}"))),
            End::End(_) => Vec::new(),
            End::Else(else_off) => {
                // `{{else if ...}}` / `{{else with ...}}` chain into a nested node.
                match self.peek() {
                    Some(Tok::Ident(k)) if (k == "if" && kw == "if") || (k == "with" && kw == "with") => {
                        let k = k.clone();
                        self.i += 1;
                        vec![self.control(&k, else_off)?]
                    }
                    _ => {
                        self.expect_close("else")?;
                        let (l, end) = self.list()?;
                        if !matches!(end, End::End(_)) {
                            return Err(self.err(else_off, format!("expected end; found else or EOF in {kw}")));
                        }
                        l
                    }
                }
            }
        };
        Ok(match kw {
            "if" => Node::If(pipe, body, else_list),
            "range" => Node::Range(pipe, body, else_list),
            _ => Node::With(pipe, body, else_list),
        })
    }

    /// Parses a pipeline up to and including the closing delimiter (or the right paren
    /// when `sub`), with an optional variable declaration when `decl`.
    fn pipeline(&mut self, ctx: &str, decl: bool) -> Result<Pipeline, TemplateError> {
        let start = self.offset();
        let mut vars = Vec::new();
        let mut assign = false;
        if decl && let Some(Tok::Var(_)) = self.peek() {
            let save = self.i;
            let mut names = Vec::new();
            while let Some(Tok::Var(v)) = self.peek().cloned() {
                self.i += 1;
                names.push(v);
                match self.peek() {
                    Some(Tok::Comma) if ctx == "range" && names.len() < 2 => self.i += 1,
                    _ => break,
                }
            }
            match self.peek() {
                Some(Tok::Declare) => {
                    self.i += 1;
                    vars = names;
                }
                Some(Tok::Assign) => {
                    self.i += 1;
                    vars = names;
                    assign = true;
                }
                _ => self.i = save,
            }
        }
        let mut cmds = Vec::new();
        loop {
            if matches!(self.peek(), Some(Tok::Close) | None) {
                return Err(self.err(self.offset(), format!("missing value for {ctx}")));
            }
            let cmd = self.command()?;
            cmds.push(cmd);
            match self.next() {
                Some((Tok::Pipe, _)) => continue,
                Some((Tok::Close, _)) => break,
                Some((Tok::RParen, o)) => {
                    return Err(self.err(o, "unexpected right paren"));
                }
                Some((t, o)) => return Err(self.err(o, format!("unexpected {} in {ctx}", describe(&t)))),
                None => return Err(self.err(self.src.len(), format!("unclosed action in {ctx}"))),
            }
        }
        Ok(Pipeline { vars, assign, cmds, pos: pos_of(self.src, start) })
    }

    fn sub_pipeline(&mut self) -> Result<Pipeline, TemplateError> {
        let start = self.offset();
        let mut cmds = Vec::new();
        loop {
            cmds.push(self.command()?);
            match self.next() {
                Some((Tok::Pipe, _)) => continue,
                Some((Tok::RParen, _)) => break,
                Some((t, o)) => {
                    return Err(self.err(o, format!("unexpected {} in parenthesized pipeline", describe(&t))));
                }
                None => return Err(self.err(self.src.len(), "unclosed left paren")),
            }
        }
        Ok(Pipeline { vars: Vec::new(), assign: false, cmds, pos: pos_of(self.src, start) })
    }

    fn fields(&mut self) -> Vec<String> {
        let mut f = Vec::new();
        while let Some(Tok::ChainField(name)) = self.peek() {
            f.push(name.clone());
            self.i += 1;
        }
        f
    }

    fn command(&mut self) -> Result<Command, TemplateError> {
        let start = self.offset();
        let mut args = Vec::new();
        while let Some(tok) = self.peek().cloned() {
            let off = self.offset();
            let op = match tok {
                Tok::Close | Tok::Pipe | Tok::RParen => break,
                Tok::Dot => {
                    self.i += 1;
                    Operand::Dot
                }
                Tok::Field(name) => {
                    self.i += 1;
                    let mut chain = vec![name];
                    chain.extend(self.fields());
                    Operand::Field(chain)
                }
                Tok::Var(v) => {
                    self.i += 1;
                    Operand::Var(v, self.fields())
                }
                Tok::Str(s) => {
                    self.i += 1;
                    Operand::Const(Value::from(s))
                }
                Tok::Num(n) => {
                    self.i += 1;
                    Operand::Const(n)
                }
                Tok::LParen => {
                    self.i += 1;
                    let p = self.sub_pipeline()?;
                    Operand::Sub(Box::new(p), self.fields())
                }
                Tok::Ident(id) => {
                    self.i += 1;
                    match id.as_str() {
                        "true" => Operand::Const(Value::Bool(true)),
                        "false" => Operand::Const(Value::Bool(false)),
                        "nil" => Operand::Nil,
                        k if KEYWORDS.contains(&k) => {
                            return Err(self.err(off, format!("unexpected <{k}> in command")));
                        }
                        _ => Operand::Func(id),
                    }
                }
                other => return Err(self.err(off, format!("unexpected {} in operand", describe(&other)))),
            };
            args.push(op);
        }
        if args.is_empty() {
            return Err(self.err(start, "missing value for command"));
        }
        Ok(Command { args, pos: pos_of(self.src, start) })
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Open => "\"{{\"".into(),
        Tok::Close => "\"}}\"".into(),
        Tok::Ident(s) => format!("<{s}>"),
        Tok::Field(s) | Tok::ChainField(s) => format!("<.{s}>"),
        Tok::Var(s) => format!("<${s}>"),
        Tok::Dot => "<.>".into(),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Num(v) => v.to_go_string(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Comma => "\",\"".into(),
    }
}

pub(crate) fn parse(name: &str, src: &str) -> Result<Tree, TemplateError> {
    let toks = Lexer { src, pos: 0, name, toks: Vec::new() }.run()?;
    let mut p = Parser { src, name, toks, i: 0, defines: HashMap::new(), range_depth: 0 };
    let (root, end) = p.list()?;
    match end {
        End::Eof => Ok(Tree { root, defines: p.defines }),
        End::End(o) => Err(p.err(o, "unexpected {{end}}")),
        End::Else(o) => Err(p.err(o, "unexpected {{else}}")),
    }
}
