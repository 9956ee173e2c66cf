//! A hand-written lexer over bytes. Tokens are spans into the query; string and number
//! values are decoded only when the parser asks for them.

use super::ast::{AggregateOp, BinaryOp, PosRange};
use super::error::{ParseError, ParseErrorKind};

/// Token kinds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum T {
    Eof,
    /// An identifier; `Token::kw` says whether it is a keyword (case-insensitive).
    Ident,
    /// A number literal; value in `Token::num`.
    Number,
    /// A duration literal; milliseconds in `Token::ms`, seconds in `Token::num`.
    Duration,
    /// A quoted string; the span includes the quotes. `Token::esc` when it has escapes.
    Str,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    At,
    /// `=`
    Assign,
    /// `=~`
    EqlRegex,
    /// `!~`
    NeqRegex,
    /// A symbolic binary operator (`+`, `==`, `</`, ...). `!=` is also the matcher operator.
    Op(BinaryOp),
}

/// Keywords, matched case-insensitively as Prometheus does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kw {
    Op(BinaryOp),
    Agg(AggregateOp),
    By,
    Without,
    On,
    Ignoring,
    GroupLeft,
    GroupRight,
    Bool,
    Offset,
    Start,
    End,
    Anchored,
    Smoothed,
    Fill,
    FillLeft,
    FillRight,
    Inf,
    Nan,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub t: T,
    pub kw: Option<Kw>,
    pub start: usize,
    pub end: usize,
    pub num: f64,
    pub ms: i64,
    pub esc: bool,
}

impl Token {
    pub fn pos(&self) -> PosRange {
        PosRange::new(self.start, self.end)
    }
}

#[derive(Clone)]
pub(crate) struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
    /// Open `[` count: inside brackets `:` is always a colon, never part of a name.
    brackets: u32,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

pub(crate) fn keyword(word: &str) -> Option<Kw> {
    if word.len() < 2 || word.len() > 12 {
        return None;
    }
    let mut buf = [0u8; 12];
    for (d, s) in buf.iter_mut().zip(word.bytes()) {
        *d = s.to_ascii_lowercase();
    }
    Some(match &buf[..word.len()] {
        b"and" => Kw::Op(BinaryOp::And),
        b"or" => Kw::Op(BinaryOp::Or),
        b"unless" => Kw::Op(BinaryOp::Unless),
        b"atan2" => Kw::Op(BinaryOp::Atan2),
        b"sum" => Kw::Agg(AggregateOp::Sum),
        b"avg" => Kw::Agg(AggregateOp::Avg),
        b"min" => Kw::Agg(AggregateOp::Min),
        b"max" => Kw::Agg(AggregateOp::Max),
        b"group" => Kw::Agg(AggregateOp::Group),
        b"count" => Kw::Agg(AggregateOp::Count),
        b"count_values" => Kw::Agg(AggregateOp::CountValues),
        b"stddev" => Kw::Agg(AggregateOp::Stddev),
        b"stdvar" => Kw::Agg(AggregateOp::Stdvar),
        b"topk" => Kw::Agg(AggregateOp::Topk),
        b"bottomk" => Kw::Agg(AggregateOp::Bottomk),
        b"quantile" => Kw::Agg(AggregateOp::Quantile),
        b"limitk" => Kw::Agg(AggregateOp::Limitk),
        b"limit_ratio" => Kw::Agg(AggregateOp::LimitRatio),
        b"by" => Kw::By,
        b"without" => Kw::Without,
        b"on" => Kw::On,
        b"ignoring" => Kw::Ignoring,
        b"group_left" => Kw::GroupLeft,
        b"group_right" => Kw::GroupRight,
        b"bool" => Kw::Bool,
        b"offset" => Kw::Offset,
        b"start" => Kw::Start,
        b"end" => Kw::End,
        b"anchored" => Kw::Anchored,
        b"smoothed" => Kw::Smoothed,
        b"fill" => Kw::Fill,
        b"fill_left" => Kw::FillLeft,
        b"fill_right" => Kw::FillRight,
        b"inf" => Kw::Inf,
        b"nan" => Kw::Nan,
        _ => return None,
    })
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer { src, b: src.as_bytes(), i: 0, brackets: 0 }
    }

    fn err(&self, start: usize, end: usize, kind: ParseErrorKind) -> ParseError {
        ParseError::new(self.src, PosRange::new(start, end), kind)
    }

    fn tok(&self, t: T, start: usize) -> Token {
        Token { t, kw: None, start, end: self.i, num: 0.0, ms: 0, esc: false }
    }

    pub fn next_token(&mut self) -> Result<Token, ParseError> {
        // Skip white space and comments.
        loop {
            match self.b.get(self.i) {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.i += 1,
                Some(b'#') => {
                    while self.i < self.b.len() && self.b[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
        let start = self.i;
        let Some(&c) = self.b.get(start) else {
            return Ok(self.tok(T::Eof, start));
        };
        let next = self.b.get(start + 1).copied();
        self.i += 1;
        let t = match c {
            b'(' => T::LParen,
            b')' => T::RParen,
            b'{' => T::LBrace,
            b'}' => T::RBrace,
            b'[' => {
                self.brackets += 1;
                T::LBracket
            }
            b']' => {
                self.brackets = self.brackets.saturating_sub(1);
                T::RBracket
            }
            b',' => T::Comma,
            b'@' => T::At,
            b'+' => T::Op(BinaryOp::Add),
            b'-' => T::Op(BinaryOp::Sub),
            b'*' => T::Op(BinaryOp::Mul),
            b'/' => T::Op(BinaryOp::Div),
            b'%' => T::Op(BinaryOp::Mod),
            b'^' => T::Op(BinaryOp::Pow),
            b'=' => match next {
                Some(b'=') => {
                    self.i += 1;
                    T::Op(BinaryOp::Eql)
                }
                Some(b'~') => {
                    self.i += 1;
                    T::EqlRegex
                }
                _ => T::Assign,
            },
            b'!' => match next {
                Some(b'=') => {
                    self.i += 1;
                    T::Op(BinaryOp::Neq)
                }
                Some(b'~') => {
                    self.i += 1;
                    T::NeqRegex
                }
                _ => return Err(self.err(start, start + 1, ParseErrorKind::UnexpectedCharacter('!'))),
            },
            b'<' => match next {
                Some(b'=') => {
                    self.i += 1;
                    T::Op(BinaryOp::Lte)
                }
                Some(b'/') => {
                    self.i += 1;
                    T::Op(BinaryOp::TrimUpper)
                }
                _ => T::Op(BinaryOp::Lss),
            },
            b'>' => match next {
                Some(b'=') => {
                    self.i += 1;
                    T::Op(BinaryOp::Gte)
                }
                Some(b'/') => {
                    self.i += 1;
                    T::Op(BinaryOp::TrimLower)
                }
                _ => T::Op(BinaryOp::Gtr),
            },
            b'"' | b'\'' | b'`' => return self.lex_string(start, c),
            b':' if self.brackets > 0 => T::Colon,
            b'0'..=b'9' => return self.lex_number(start),
            b'.' if next.is_some_and(|d| d.is_ascii_digit()) => return self.lex_number(start),
            c if is_ident_start(c) => {
                while self.i < self.b.len() && is_ident_char(self.b[self.i]) {
                    self.i += 1;
                }
                let mut t = self.tok(T::Ident, start);
                t.kw = keyword(&self.src[start..self.i]);
                return Ok(t);
            }
            _ => {
                let ch = self.src[start..].chars().next().unwrap_or('\u{fffd}');
                return Err(self.err(start, start + ch.len_utf8(), ParseErrorKind::UnexpectedCharacter(ch)));
            }
        };
        Ok(self.tok(t, start))
    }

    fn lex_string(&mut self, start: usize, q: u8) -> Result<Token, ParseError> {
        let mut esc = false;
        loop {
            match self.b.get(self.i) {
                None => return Err(self.err(start, self.i, ParseErrorKind::UnterminatedString)),
                Some(b'\n') if q != b'`' => return Err(self.err(start, self.i, ParseErrorKind::UnterminatedString)),
                Some(b'\\') if q != b'`' => {
                    esc = true;
                    self.i += 2;
                }
                Some(&c) => {
                    self.i += 1;
                    if c == q {
                        break;
                    }
                }
            }
        }
        if self.i > self.b.len() {
            return Err(self.err(start, self.b.len(), ParseErrorKind::UnterminatedString));
        }
        let mut t = self.tok(T::Str, start);
        t.esc = esc;
        Ok(t)
    }

    fn lex_number(&mut self, start: usize) -> Result<Token, ParseError> {
        let b = self.b;
        let digits = |mut i: usize, hex: bool| {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_' || (hex && b[i].is_ascii_hexdigit())) {
                i += 1;
            }
            i
        };
        let mut i = start;
        let mut value = None;
        if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
            let end = digits(i + 2, true);
            if end > i + 2 {
                i = end;
                value = parse_hex(&self.src[start + 2..end]);
            }
        }
        if value.is_none() {
            i = digits(start, false);
            if b.get(i) == Some(&b'.') {
                i = digits(i + 1, false);
            }
            if matches!(b.get(i), Some(b'e' | b'E')) {
                let mut j = i + 1;
                if matches!(b.get(j), Some(b'+' | b'-')) {
                    j += 1;
                }
                if b.get(j).is_some_and(u8::is_ascii_digit) {
                    i = digits(j, false);
                }
            }
            value = parse_decimal(&self.src[start..i]);
        }
        // A letter right after the digits: this must be a duration such as `1h30m`.
        if b.get(i).is_some_and(|&c| is_ident_char(c) && c != b':') || b.get(i) == Some(&b'.') {
            let mut end = i;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            let text = &self.src[start..end];
            self.i = end;
            return match parse_duration(text) {
                Ok(ms) => {
                    let mut t = self.tok(T::Duration, start);
                    t.ms = ms;
                    t.num = ms as f64 / 1000.0;
                    Ok(t)
                }
                Err(kind) => Err(self.err(start, end, kind)),
            };
        }
        self.i = i;
        match value {
            Some(v) => {
                let mut t = self.tok(T::Number, start);
                t.num = v;
                Ok(t)
            }
            None => Err(self.err(start, i, ParseErrorKind::BadNumberOrDuration(self.src[start..i].to_string()))),
        }
    }
}

/// Underscores are allowed only between digits.
fn strip_underscores(s: &str, hex: bool) -> Option<std::borrow::Cow<'_, str>> {
    if !s.contains('_') {
        return Some(s.into());
    }
    let b = s.as_bytes();
    let is_digit = |c: u8| if hex { c.is_ascii_hexdigit() } else { c.is_ascii_digit() };
    for (k, &c) in b.iter().enumerate() {
        if c == b'_' {
            let before_ok = k > 0 && is_digit(b[k - 1]);
            let after_ok = b.get(k + 1).is_some_and(|&n| is_digit(n));
            if !(before_ok || hex && k == 0) || !after_ok {
                return None;
            }
        }
    }
    Some(s.replace('_', "").into())
}

fn parse_hex(digits: &str) -> Option<f64> {
    let clean = strip_underscores(digits, true)?;
    let mut v: f64 = 0.0;
    for c in clean.bytes() {
        v = v * 16.0 + (c as char).to_digit(16)? as f64;
    }
    if v >= 9.223_372_036_854_776e18 {
        return None; // Prometheus parses hex as int64.
    }
    Some(v)
}

fn parse_decimal(s: &str) -> Option<f64> {
    let clean = strip_underscores(s, false)?;
    clean.parse::<f64>().ok()
}

/// Parses `1h30m`, `500ms`, `2d` (see [`ember_exposition::duration`]). Returns milliseconds.
pub(crate) fn parse_duration(s: &str) -> Result<i64, ParseErrorKind> {
    use ember_exposition::duration::{DurationErrorKind, parse_duration};
    parse_duration(s).map_err(|e| match e.kind {
        DurationErrorKind::OutOfRange => ParseErrorKind::InvalidDuration(format!("duration out of range: {s:?}")),
        _ => ParseErrorKind::BadNumberOrDuration(s.to_string()),
    })
}

/// Formats milliseconds as a duration literal (`1h30m`, `0s`); negative values get a `-`.
pub(crate) fn format_duration(out: &mut String, ms: i64) {
    // Writing to a String cannot fail.
    let _ = ember_exposition::duration::write_duration(out, ms);
}

/// Decodes a string token (quotes included) into its value; `raw` holds the bytes when
/// escapes produced invalid UTF-8.
/// A decoded string: its value and, when escapes produced invalid UTF-8, the exact bytes.
pub(crate) type Unquoted = (String, Option<Box<[u8]>>);

pub(crate) fn unquote(src: &str, tok: &Token) -> Result<Unquoted, ParseError> {
    let body = &src[tok.start + 1..tok.end - 1];
    if !tok.esc {
        return Ok((body.to_string(), None));
    }
    let quote = src.as_bytes()[tok.start];
    let b = body.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    let err = |at: usize, len: usize| {
        let s = tok.start + 1 + at;
        let end = (s + len).min(tok.end - 1);
        ParseError::new(src, PosRange::new(s, end), ParseErrorKind::InvalidEscape(src[s..end].to_string()))
    };
    while i < b.len() {
        let c = b[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = b.get(i + 1) else {
            return Err(err(i, 1));
        };
        let simple = match e {
            b'a' => Some(7),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' => Some(b'\\'),
            q if q == quote => Some(q),
            _ => None,
        };
        if let Some(v) = simple {
            out.push(v);
            i += 2;
            continue;
        }
        let hex = |from: usize, n: usize| -> Option<u32> {
            let s = body.get(from..from + n)?;
            if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(s, 16).ok()
        };
        match e {
            b'0'..=b'7' => {
                let s = body.get(i + 1..i + 4).filter(|s| s.bytes().all(|c| (b'0'..=b'7').contains(&c)));
                match s.and_then(|s| u8::from_str_radix(s, 8).ok()) {
                    Some(v) => out.push(v),
                    None => return Err(err(i, 4)),
                }
                i += 4;
            }
            b'x' => {
                let v = hex(i + 2, 2).ok_or_else(|| err(i, 4))?;
                out.push(v as u8);
                i += 4;
            }
            b'u' | b'U' => {
                let n = if e == b'u' { 4 } else { 8 };
                let ch = hex(i + 2, n).and_then(char::from_u32).ok_or_else(|| err(i, n + 2))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i += n + 2;
            }
            _ => {
                let len = body[i + 1..].chars().next().map_or(1, |c| c.len_utf8() + 1);
                return Err(err(i, len));
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Ok((s, None)),
        Err(e) => {
            let bytes = e.into_bytes();
            Ok((String::from_utf8_lossy(&bytes).into_owned(), Some(bytes.into_boxed_slice())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<T> {
        let mut l = Lexer::new(s);
        let mut v = vec![];
        loop {
            let t = l.next_token().unwrap();
            if t.t == T::Eof {
                return v;
            }
            v.push(t.t);
        }
    }

    #[test]
    fn tokens() {
        use BinaryOp::*;
        assert_eq!(
            kinds("a{b=~\"c\"} </ >/ != !~ == <= >= # comment\n @ [5m:1m]"),
            vec![
                T::Ident,
                T::LBrace,
                T::Ident,
                T::EqlRegex,
                T::Str,
                T::RBrace,
                T::Op(TrimUpper),
                T::Op(TrimLower),
                T::Op(Neq),
                T::NeqRegex,
                T::Op(Eql),
                T::Op(Lte),
                T::Op(Gte),
                T::At,
                T::LBracket,
                T::Duration,
                T::Colon,
                T::Duration,
                T::RBracket
            ]
        );
        assert_eq!(kinds("a:b:c"), vec![T::Ident]);
    }

    #[test]
    fn numbers_and_durations() {
        let num = |s: &str| {
            let t = Lexer::new(s).next_token().unwrap();
            (t.t, t.num)
        };
        assert_eq!(num("1_000_000"), (T::Number, 1e6));
        assert_eq!(num(".123_456"), (T::Number, 0.123456));
        assert_eq!(num("0x_53_AB"), (T::Number, 0x53AB as f64));
        assert_eq!(num("3.4e-9"), (T::Number, 3.4e-9));
        assert_eq!(num("5."), (T::Number, 5.0));
        assert_eq!(num("1h30m"), (T::Duration, 5400.0));
        assert_eq!(num("54s321ms"), (T::Duration, 54.321));
        for bad in ["1.5h", "0xABm", "1m1h", "1mm", "1_", "1__0", "5x"] {
            assert!(Lexer::new(bad).next_token().is_err(), "{bad}");
        }
        let mut s = String::new();
        format_duration(&mut s, 90_061_001);
        assert_eq!(s, "1d1h1m1s1ms");
    }

    #[test]
    fn strings() {
        let un = |s: &str| {
            let t = Lexer::new(s).next_token().unwrap();
            unquote(s, &t)
        };
        assert_eq!(un(r#""a\n\"\x41\101\u00e4\U0001F600""#).unwrap().0, "a\n\"AAä😀");
        assert_eq!(un(r"'a\'b'").unwrap().0, "a'b");
        assert_eq!(un(r"`a\nb`").unwrap().0, "a\\nb");
        let (v, raw) = un(r#""a\xc5z""#).unwrap();
        assert_eq!(raw.as_deref(), Some(&b"a\xc5z"[..]));
        assert_eq!(v, "a\u{fffd}z");
        assert!(un(r#""a\q""#).is_err());
        assert!(un(r#""a\'""#).is_err());
        assert!(Lexer::new("\"abc").next_token().is_err());
        assert!(Lexer::new("\"a\nb\"").next_token().is_err());
    }
}
