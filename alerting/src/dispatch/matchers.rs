//! Alertmanager's matcher strings: `foo="bar"`, `baz=~"q.*"`, `{a="b", c!=d}`, with
//! unquoted values accepted as Alertmanager's classic parser (the one `amtool` 0.25
//! and `alertmanager.yml` `matchers:` lists use) accepts them.
//!
//! Grammar, per comma-separated item (commas inside double quotes do not split):
//! optional spaces, a label name `[a-zA-Z_:][a-zA-Z0-9_:]*` or a double-quoted name,
//! spaces, one of `=~ = != !~`, spaces, then the value up to trailing spaces. A value
//! that starts with `"` must end with `"`; inside it `\"`, `\\` and `\n` are escapes and
//! any other backslash is literal. Regexes are anchored, as in Prometheus.

use ember_exposition::{MatchType, Matcher};

/// Parses a matcher list such as `{a="b", c=~"d|e"}` (braces optional).
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, String> {
    let s = input.trim();
    let s = s.strip_prefix('{').unwrap_or(s);
    let s = s.strip_suffix('}').unwrap_or(s);
    let mut tokens = Vec::new();
    let (mut in_quotes, mut escaped) = (false, false);
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            ',' if !in_quotes => {
                tokens.push(&s[start..i]);
                start = i + 1;
                continue;
            }
            '"' if !escaped => in_quotes = !in_quotes,
            '\\' => {
                escaped = !escaped;
                continue;
            }
            _ => {}
        }
        escaped = false;
    }
    let last = s[start..].trim();
    if !last.is_empty() {
        tokens.push(last);
    }
    tokens.into_iter().map(parse_matcher).collect()
}

/// Parses one matcher such as `foo=~"b.*"` or `foo = bar`.
pub fn parse_matcher(input: &str) -> Result<Matcher, String> {
    let bad = || format!("bad matcher format: {input}");
    let s = input.trim_start();
    let (name, rest) = if let Some(q) = s.strip_prefix('"') {
        let (name, n) = unquote_prefix(q).ok_or_else(bad)?;
        (name, &q[n..])
    } else {
        let n = s
            .char_indices()
            .take_while(|&(i, c)| c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
            .count();
        if n == 0 {
            return Err(bad());
        }
        (s[..n].to_string(), &s[n..])
    };
    let rest = rest.trim_start();
    let (kind, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchType::Regex, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchType::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchType::NotRegex, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchType::Equal, r)
    } else {
        return Err(bad());
    };
    let raw = rest.trim();
    let value = unescape_value(raw)?;
    Matcher::new(kind, name, value).map_err(|e| e.to_string())
}

/// Reads a double-quoted string body (after the opening quote); returns the value and
/// the bytes consumed including the closing quote.
fn unquote_prefix(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                c @ ('"' | '\\') => out.push(c),
                c => {
                    out.push('\\');
                    out.push(c);
                }
            },
            c => out.push(c),
        }
    }
    None
}

fn unescape_value(raw: &str) -> Result<String, String> {
    let unescaped_quote = || format!("matcher value contains unescaped double quote: {raw}");
    let (body, mut expect_quote) = match raw.strip_prefix('"') {
        Some(b) => (b, true),
        None => (raw, false),
    };
    let mut out = String::with_capacity(body.len());
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if escaped {
            escaped = false;
            match c {
                'n' => out.push('\n'),
                '"' | '\\' => out.push(c),
                _ => {
                    out.push('\\');
                    out.push(c);
                }
            }
            continue;
        }
        match c {
            '\\' if i + 1 < body.len() => escaped = true,
            '\\' => out.push('\\'),
            '"' => {
                if !expect_quote || i + 1 < body.len() {
                    return Err(unescaped_quote());
                }
                expect_quote = false;
            }
            c => out.push(c),
        }
    }
    if expect_quote {
        return Err(unescaped_quote());
    }
    Ok(out)
}

/// Formats matchers as Alertmanager prints a route's matchers: `{a="b",c=~"d"}`.
pub fn format_matchers(ms: &[Matcher]) -> String {
    let mut s = String::from("{");
    for (i, m) in ms.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(m.name());
        s.push_str(m.kind().as_str());
        push_go_quoted(&mut s, m.value());
    }
    s.push('}');
    s
}

/// Appends `v` double-quoted with Go-style escapes (`\"`, `\\`, `\n`, `\t`).
pub(crate) fn push_go_quoted(s: &mut String, v: &str) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c if c.is_control() => s.push_str(&format!("\\x{:02x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, want: Result<&[(&str, MatchType, &str)], ()>) {
        let got = parse_matchers(input);
        match want {
            Ok(w) => {
                let got = got.unwrap_or_else(|e| panic!("{input}: {e}"));
                let got: Vec<_> = got.iter().map(|m| (m.name(), m.kind(), m.value())).collect();
                assert_eq!(got, w, "{input}");
            }
            Err(()) => assert!(got.is_err(), "{input} should fail, got {got:?}"),
        }
    }

    #[test]
    fn classic_syntax() {
        use MatchType::*;
        check(r#"foo="bar""#, Ok(&[("foo", Equal, "bar")]));
        check(r#"foo=bar"#, Ok(&[("foo", Equal, "bar")]));
        check(r#"  foo  !=  bar baz  "#, Ok(&[("foo", NotEqual, "bar baz")]));
        check(r#"baz=~"q.*""#, Ok(&[("baz", Regex, "q.*")]));
        check(r#"baz!~q.*"#, Ok(&[("baz", NotRegex, "q.*")]));
        check(r#"{a="b", c=~"d,e"}"#, Ok(&[("a", Equal, "b"), ("c", Regex, "d,e")]));
        check(r#"{a="b",}"#, Ok(&[("a", Equal, "b")]));
        check(r#"a="quoted \"x\" \\ \n""#, Ok(&[("a", Equal, "quoted \"x\" \\ \n")]));
        check(r#"a=b\d"#, Ok(&[("a", Equal, "b\\d")]));
        check(r#"a="""#, Ok(&[("a", Equal, "")]));
        check(r#"a="#, Ok(&[("a", Equal, "")]));
        check(r#"a==b"#, Ok(&[("a", Equal, "=b")]));
        check(r#""a.b"="c""#, Ok(&[("a.b", Equal, "c")]));
        check("{}", Ok(&[]));
        check(r#"a="b"c""#, Err(()));
        check(r#"a="b"#, Err(()));
        check(r#"1a=b"#, Err(()));
        check(r#"a~b"#, Err(()));
        check(r#"a=~"(""#, Err(()));
    }

    #[test]
    fn format() {
        let ms = parse_matchers(r#"{a="b", c=~"d\"e"}"#).unwrap();
        assert_eq!(format_matchers(&ms), r#"{a="b",c=~"d\"e"}"#);
    }
}
