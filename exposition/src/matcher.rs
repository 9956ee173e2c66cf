//! Label matchers: `=`, `!=`, `=~` and `!~`.
//!
//! Regular expressions use RE2 syntax (the `regex` crate's) and are anchored at both ends
//! the way Prometheus anchors them, as `^(?s:<re>)$`: `=~"foo"` matches only `foo`, and
//! `.` also matches a line feed. A missing label is matched as the empty string, so
//! `{x=""}` selects series without `x`.
//!
//! Each matcher is compiled once, and analysed once for the fast paths an index can
//! use: a finite set of literal values ([`Matcher::set_matches`], `a|b|c`), a literal
//! prefix ([`Matcher::prefix`], `foo.*`), and the match-anything forms `.*` and `.+`.

use std::fmt;

use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind};

use crate::labels::Labels;
use crate::names::{write_escaped_label_value, write_label_name};

/// The four kinds of label matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchType {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }

    /// Whether this is a negative matcher (`!=`, `!~`).
    pub fn is_negative(self) -> bool {
        matches!(self, MatchType::NotEqual | MatchType::NotRegex)
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A regular expression in a matcher did not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatcherError {
    /// The label name of the matcher.
    pub name: String,
    /// The expression as written.
    pub pattern: String,
    /// What the regex compiler said.
    pub message: String,
}

impl fmt::Display for MatcherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid regular expression {:?} for label {:?}: {}", self.pattern, self.name, self.message)
    }
}

impl std::error::Error for MatcherError {}

/// At most this many literal values are enumerated for [`Matcher::set_matches`].
const MAX_SET_MATCHES: usize = 256;

#[derive(Clone)]
struct CompiledRegex {
    /// The compiled automaton; `None` when a fast path below decides every match, which
    /// saves compiling it (the costliest part of parsing a selector like `{job=~"a|b"}`).
    re: Option<Regex>,
    /// The finite set of strings the regex matches, when small.
    set: Option<Vec<String>>,
    /// A literal prefix when the regex is `prefix.*`.
    prefix: Option<String>,
    /// `.*`: matches every string.
    match_all: bool,
    /// `.+`: matches every non-empty string.
    match_non_empty: bool,
}

/// A label matcher: a label name, an operator and a value.
#[derive(Clone)]
pub struct Matcher {
    kind: MatchType,
    name: String,
    value: String,
    re: Option<Box<CompiledRegex>>,
}

impl Matcher {
    /// Builds a matcher, compiling and analysing the regex for `=~` and `!~`.
    pub fn new(kind: MatchType, name: impl Into<String>, value: impl Into<String>) -> Result<Self, MatcherError> {
        let (name, value) = (name.into(), value.into());
        let re = match kind {
            MatchType::Regex | MatchType::NotRegex => Some(Box::new(compile(&name, &value)?)),
            _ => None,
        };
        Ok(Matcher { kind, name, value, re })
    }

    /// `name="value"`; cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher { kind: MatchType::Equal, name: name.into(), value: value.into(), re: None }
    }

    /// `name!="value"`; cannot fail.
    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher { kind: MatchType::NotEqual, name: name.into(), value: value.into(), re: None }
    }

    /// `name=~"re"`.
    pub fn regex(name: impl Into<String>, re: impl Into<String>) -> Result<Self, MatcherError> {
        Matcher::new(MatchType::Regex, name, re)
    }

    /// `name!~"re"`.
    pub fn not_regex(name: impl Into<String>, re: impl Into<String>) -> Result<Self, MatcherError> {
        Matcher::new(MatchType::NotRegex, name, re)
    }

    /// The operator.
    pub fn kind(&self) -> MatchType {
        self.kind
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value or regex as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the matcher accepts the label value `v` (`""` for a missing label).
    #[inline]
    pub fn matches(&self, v: &str) -> bool {
        match self.kind {
            MatchType::Equal => v == self.value,
            MatchType::NotEqual => v != self.value,
            MatchType::Regex => self.regex_matches(v),
            MatchType::NotRegex => !self.regex_matches(v),
        }
    }

    #[inline]
    fn regex_matches(&self, v: &str) -> bool {
        let Some(c) = self.re.as_deref() else {
            return false;
        };
        if c.match_all {
            return true;
        }
        if c.match_non_empty {
            return !v.is_empty();
        }
        if let Some(set) = &c.set {
            return set.iter().any(|s| s == v);
        }
        if let Some(p) = &c.prefix {
            return v.starts_with(p.as_str());
        }
        c.re.as_ref().is_some_and(|re| re.is_match(v))
    }

    /// Whether the matcher accepts the series `labels`.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get_or_empty(&self.name))
    }

    /// Whether the matcher accepts the empty string, i.e. series without the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For `=~`/`!~` whose regex matches a small finite set of strings (`a|b|c`, `foo`,
    /// `(?:a|b)c`), that set, sorted and de-duplicated. `None` for other matchers.
    pub fn set_matches(&self) -> Option<&[String]> {
        self.re.as_deref().and_then(|c| c.set.as_deref())
    }

    /// For `=~`/`!~` of the form `prefix.*`, the literal prefix.
    pub fn prefix(&self) -> Option<&str> {
        self.re.as_deref().and_then(|c| c.prefix.as_deref())
    }

    /// Whether this is `=~".*"` (or equivalent): it accepts everything, including absence.
    pub fn matches_everything(&self) -> bool {
        match self.kind {
            MatchType::Regex => self.re.as_deref().is_some_and(|c| c.match_all),
            _ => false,
        }
    }

    /// Whether the regex (before negation) is `.+`: any non-empty value.
    pub fn is_any_non_empty(&self) -> bool {
        self.re.as_deref().is_some_and(|c| c.match_non_empty)
    }

    /// Whether the regex (before negation) is `.*`: any value.
    pub fn is_any(&self) -> bool {
        self.re.as_deref().is_some_and(|c| c.match_all)
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.name == other.name && self.value == other.value
    }
}

impl Eq for Matcher {}

impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.name.hash(state);
        self.value.hash(state);
    }
}

/// `name="value"` as PromQL writes it; names outside the legacy set are quoted.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_label_name(f, &self.name)?;
        f.write_str(self.kind.as_str())?;
        f.write_str("\"")?;
        write_escaped_label_value(f, &self.value)?;
        f.write_str("\"")
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn compile(name: &str, pattern: &str) -> Result<CompiledRegex, MatcherError> {
    let err = |message: String| MatcherError { name: name.to_string(), pattern: pattern.to_string(), message };
    // Parse (and so validate) the pattern with the flags the anchored form uses.
    let hir = regex_syntax::ParserBuilder::new()
        .dot_matches_new_line(true)
        .build()
        .parse(pattern)
        .map_err(|e| err(e.to_string()))?;
    let hir = strip_captures(&hir);
    let mut c = CompiledRegex { re: None, set: None, prefix: None, match_all: false, match_non_empty: false };
    if is_any_char_star(&hir, 0) {
        c.match_all = true;
    } else if is_any_char_star(&hir, 1) {
        c.match_non_empty = true;
    } else if let Some(mut set) = finite_strings(&hir, MAX_SET_MATCHES) {
        set.sort();
        set.dedup();
        c.set = Some(set);
    } else if let HirKind::Concat(parts) = hir.kind()
        && let [head @ .., last] = parts.as_slice()
        && is_any_char_star(last, 0)
        && !head.is_empty()
    {
        let mut prefix = String::new();
        if head.iter().all(|h| literal_into(h, &mut prefix)) {
            c.prefix = Some(prefix);
        }
    }
    if !(c.match_all || c.match_non_empty || c.set.is_some() || c.prefix.is_some()) {
        c.re = Some(Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| err(e.to_string()))?);
    }
    Ok(c)
}

/// Removes capture groups, which do not change what matches.
fn strip_captures(h: &Hir) -> Hir {
    match h.kind() {
        HirKind::Capture(c) => strip_captures(&c.sub),
        HirKind::Concat(v) => Hir::concat(v.iter().map(strip_captures).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.iter().map(strip_captures).collect()),
        HirKind::Repetition(r) => {
            let mut r = r.clone();
            r.sub = Box::new(strip_captures(&r.sub));
            Hir::repetition(r)
        }
        _ => h.clone(),
    }
}

/// Whether `h` is "any character", repeated at least `min` times without bound.
fn is_any_char_star(h: &Hir, min: u32) -> bool {
    match h.kind() {
        HirKind::Repetition(r) => r.min == min && r.max.is_none() && is_any_char(&r.sub),
        _ => false,
    }
}

fn is_any_char(h: &Hir) -> bool {
    match h.kind() {
        HirKind::Class(Class::Unicode(c)) => {
            let r = c.ranges();
            r.len() == 1 && r[0].start() == '\0' && r[0].end() == char::MAX
        }
        _ => false,
    }
}

fn literal_into(h: &Hir, out: &mut String) -> bool {
    match h.kind() {
        HirKind::Literal(l) => match std::str::from_utf8(&l.0) {
            Ok(s) => {
                out.push_str(s);
                true
            }
            Err(_) => false,
        },
        HirKind::Empty => true,
        _ => false,
    }
}

/// The finite language of `h` when it has at most `limit` strings.
fn finite_strings(h: &Hir, limit: usize) -> Option<Vec<String>> {
    match h.kind() {
        HirKind::Empty => Some(vec![String::new()]),
        HirKind::Literal(l) => Some(vec![String::from_utf8(l.0.to_vec()).ok()?]),
        HirKind::Class(Class::Unicode(c)) => {
            let mut out = Vec::new();
            for r in c.ranges() {
                let n = (r.end() as u32).checked_sub(r.start() as u32)? as usize + 1;
                if out.len() + n > limit {
                    return None;
                }
                for ch in r.start()..=r.end() {
                    out.push(ch.to_string());
                }
            }
            Some(out)
        }
        HirKind::Capture(c) => finite_strings(&c.sub, limit),
        HirKind::Alternation(v) => {
            let mut out = Vec::new();
            for sub in v {
                out.extend(finite_strings(sub, limit)?);
                if out.len() > limit {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Concat(v) => {
            let mut acc = vec![String::new()];
            for sub in v {
                let next = finite_strings(sub, limit)?;
                if acc.len().saturating_mul(next.len()) > limit {
                    return None;
                }
                acc = acc.iter().flat_map(|a| next.iter().map(move |b| format!("{a}{b}"))).collect();
            }
            Some(acc)
        }
        HirKind::Repetition(r) if r.max == Some(r.min) && r.min <= 4 => {
            let sub = finite_strings(&r.sub, limit)?;
            let mut acc = vec![String::new()];
            for _ in 0..r.min {
                if acc.len().saturating_mul(sub.len()) > limit {
                    return None;
                }
                acc = acc.iter().flat_map(|a| sub.iter().map(move |b| format!("{a}{b}"))).collect();
            }
            Some(acc)
        }
        HirKind::Repetition(r) if r.min == 0 && r.max == Some(1) => {
            let mut v = finite_strings(&r.sub, limit)?;
            v.push(String::new());
            (v.len() <= limit).then_some(v)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;

    #[track_caller]
    fn check(kind: MatchType, re: &str, yes: &[&str], no: &[&str]) {
        let m = Matcher::new(kind, "x", re).unwrap();
        for v in yes {
            assert!(m.matches(v), "{m} should match {v:?}");
        }
        for v in no {
            assert!(!m.matches(v), "{m} should not match {v:?}");
        }
    }

    #[test]
    fn anchoring() {
        check(MatchType::Regex, "foo", &["foo"], &["foobar", "xfoo", ""]);
        check(MatchType::Regex, "foo|bar", &["foo", "bar"], &["foobar", "fo"]);
        check(MatchType::Regex, "a.b", &["a\nb", "axb"], &["ab"]);
        check(MatchType::Regex, ".*", &["", "anything\n"], &[]);
        check(MatchType::Regex, ".+", &["a"], &[""]);
        check(MatchType::NotRegex, "foo.*", &["bar", ""], &["foo", "foobar"]);
        check(MatchType::Regex, "(?i)foo", &["FOO", "foo", "fOo"], &["fo"]);
        check(MatchType::Regex, "f[a-c]o", &["fao", "fbo"], &["fdo"]);
        check(MatchType::Regex, "x\\d+", &["x12"], &["x", "x1a"]);
        check(MatchType::Equal, "", &[""], &["a"]);
        check(MatchType::NotEqual, "", &["a"], &[""]);
    }

    #[test]
    fn fast_paths() {
        let m = Matcher::regex("x", "b|a|c").unwrap();
        assert_eq!(m.set_matches().unwrap(), ["a", "b", "c"]);
        let m = Matcher::regex("x", "(foo|foobar)").unwrap();
        assert_eq!(m.set_matches().unwrap(), ["foo", "foobar"]);
        let m = Matcher::regex("x", "host-1.*").unwrap();
        assert_eq!(m.prefix(), Some("host-1"));
        assert!(m.set_matches().is_none());
        assert!(Matcher::regex("x", ".*").unwrap().matches_everything());
        assert!(Matcher::regex("x", "(.*)").unwrap().is_any());
        assert!(Matcher::regex("x", ".+").unwrap().is_any_non_empty());
        assert!(Matcher::regex("x", "a+").unwrap().set_matches().is_none());
        let m = Matcher::regex("x", "(?i)ab").unwrap();
        assert_eq!(m.set_matches().unwrap().len(), 4);
    }

    #[test]
    fn fast_paths_agree_with_the_regex() {
        let cases = ["a|b|c", "(foo|foobar)", "host-1.*", ".*", ".+", "(?i)ab", "x?y", "a{2}b", "[a-c]z", "é|ü"];
        let inputs = [
            "", "a", "b", "c", "d", "foo", "foobar", "host-1", "host-12", "AB", "ab", "aB", "y", "xy", "aab", "az",
            "cz", "é", "\n",
        ];
        for p in cases {
            let m = Matcher::regex("x", p).unwrap();
            let re = Regex::new(&format!("^(?s:{p})$")).unwrap();
            for i in inputs {
                assert_eq!(m.matches(i), re.is_match(i), "{p} on {i:?}");
            }
        }
    }

    #[test]
    fn missing_label_is_empty() {
        let l = labels! {"a" => "1"};
        assert!(Matcher::equal("x", "").matches_labels(&l));
        assert!(!Matcher::equal("a", "").matches_labels(&l));
        assert!(Matcher::regex("x", "|y").unwrap().matches_labels(&l));
    }

    #[test]
    fn display_and_errors() {
        assert_eq!(Matcher::regex("job", "a\"b").unwrap().to_string(), r#"job=~"a\"b""#);
        assert_eq!(Matcher::equal("a.b", "c").to_string(), r#""a.b"="c""#);
        let e = Matcher::regex("job", "(").unwrap_err();
        assert_eq!(e.name, "job");
        assert!(e.to_string().contains("invalid regular expression"));
    }
}
