//! Shared lexing for the two text formats: the cursor with line/column tracking, the
//! zero-copy entry types, label blocks, quoted strings, escapes and number parsing.
//!
//! Everything here works on the bytes of a `&str`, so every slice cut at an ASCII
//! delimiter is again a valid `&str` and nothing is UTF-8 validated twice.

use std::borrow::Cow;
use std::fmt;

use crate::labels::{Label, Labels};
use crate::model::{Exemplar, MetricType, Sample, Timestamp};

// ---------------------------------------------------------------------------------------
// Errors

/// What the parser saw where it expected something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A character.
    Char(char),
    /// The end of the line.
    EndOfLine,
    /// The end of the input.
    EndOfInput,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Char(c) if c.is_control() || *c == ' ' => write!(f, "{c:?}"),
            Found::Char(c) => write!(f, "'{c}'"),
            Found::EndOfLine => f.write_str("end of line"),
            Found::EndOfInput => f.write_str("end of input"),
        }
    }
}

/// A text-format parse error: where, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// The 1-based line number.
    pub fn line(&self) -> usize {
        self.line
    }
    /// The 1-based column in characters.
    pub fn column(&self) -> usize {
        self.column
    }
    /// What went wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.kind)
    }
}

impl std::error::Error for ParseError {}

/// The kinds of [`ParseError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A syntax error: `what` was expected.
    Expected {
        /// What the grammar required here, e.g. `'=' after label name`.
        what: &'static str,
        /// What was there instead.
        found: Found,
    },
    /// The input is not UTF-8.
    InvalidUtf8,
    /// A number that does not fit a float64 (or, for timestamps, an int64).
    NumberOutOfRange,
    /// A label name appears twice in one label set.
    DuplicateLabel(String),
    /// A TYPE line names a type the format does not have.
    InvalidMetricType(String),
    /// A second TYPE, HELP or UNIT line for one family.
    DuplicateMetadata {
        /// The family name.
        family: String,
        /// `TYPE`, `HELP` or `UNIT`.
        what: &'static str,
    },
    /// A metadata line for a family that already had samples.
    MetadataAfterSamples(String),
    /// A family name appears twice, or a family's samples are not contiguous.
    DuplicateFamily(String),
    /// A metric (label set) of a family reappears after another metric started.
    InterleavedMetric(String),
    /// A sample name does not fit its family's type.
    InvalidSampleName {
        /// The sample name.
        sample: String,
        /// The family name.
        family: String,
        /// The family type.
        metric_type: MetricType,
    },
    /// A UNIT that is not a suffix of the family name, or a unit on a type that has none.
    InvalidUnit {
        /// The family name.
        family: String,
        /// The unit.
        unit: String,
    },
    /// A sample breaks a rule of its family's type; the text says which.
    InvalidSample(&'static str),
    /// A required label is missing (`le`, `quantile`, a stateset's state label).
    MissingLabel(String),
    /// A label that is not allowed on this sample.
    UnexpectedLabel(String),
    /// An `le` or `quantile` label whose value is not a valid number for it.
    InvalidLabelValue {
        /// The label name.
        label: String,
        /// The value.
        value: String,
    },
    /// An exemplar on a sample that cannot carry one.
    ExemplarNotAllowed,
    /// An exemplar label set longer than 128 characters.
    ExemplarTooLong(usize),
    /// A histogram or gauge histogram point breaks a bucket rule; the text says which.
    InvalidHistogram(&'static str),
    /// A metric's timestamps go backwards.
    TimestampDecreasing,
    /// OpenMetrics input without the final `# EOF`.
    MissingEof,
    /// Anything after `# EOF`.
    TextAfterEof,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseErrorKind::*;
        match self {
            Expected { what, found } => write!(f, "expected {what}, found {found}"),
            InvalidUtf8 => f.write_str("invalid UTF-8"),
            NumberOutOfRange => f.write_str("number out of range"),
            DuplicateLabel(n) => write!(f, "duplicate label name {n:?}"),
            InvalidMetricType(t) => write!(f, "invalid metric type {t:?}"),
            DuplicateMetadata { family, what } => write!(f, "second {what} line for family {family:?}"),
            MetadataAfterSamples(n) => write!(f, "metadata for family {n:?} after its samples"),
            DuplicateFamily(n) => write!(f, "family {n:?} appears twice (families must not be interleaved)"),
            InterleavedMetric(n) => write!(f, "a metric of family {n:?} reappears after another metric"),
            InvalidSampleName { sample, family, metric_type } => {
                write!(f, "sample name {sample:?} is not valid for {metric_type} family {family:?}")
            }
            InvalidUnit { family, unit } => write!(f, "unit {unit:?} is not valid for family {family:?}"),
            InvalidSample(why) => f.write_str(why),
            MissingLabel(n) => write!(f, "missing label {n:?}"),
            UnexpectedLabel(n) => write!(f, "label {n:?} is not allowed here"),
            InvalidLabelValue { label, value } => write!(f, "invalid value {value:?} for label {label:?}"),
            ExemplarNotAllowed => f.write_str("exemplars are only allowed on counter totals and histogram buckets"),
            ExemplarTooLong(n) => write!(f, "exemplar labels have {n} characters, more than 128"),
            InvalidHistogram(why) => f.write_str(why),
            TimestampDecreasing => f.write_str("timestamps of a metric must not decrease"),
            MissingEof => f.write_str("expected '# EOF' at the end of the input"),
            TextAfterEof => f.write_str("unexpected text after '# EOF'"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Entries

/// One entry of a text exposition, borrowing from the input.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Entry<'a> {
    /// `# HELP name text` (text unescaped).
    Help {
        /// The family name as written.
        name: Cow<'a, str>,
        /// The help text, unescaped.
        help: Cow<'a, str>,
    },
    /// `# TYPE name type`.
    Type {
        /// The family name as written.
        name: Cow<'a, str>,
        /// The type (`untyped` reads as [`MetricType::Unknown`]).
        metric_type: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics only).
    Unit {
        /// The family name.
        name: Cow<'a, str>,
        /// The unit.
        unit: Cow<'a, str>,
    },
    /// Any other `#` line (text format 0.0.4 only), without the `#`.
    Comment(&'a str),
    /// A sample line.
    Sample(SampleRef<'a>),
    /// `# EOF` (OpenMetrics only); nothing follows it.
    Eof,
}

/// A sample line, borrowing from the input. Labels are decoded lazily.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRef<'a> {
    /// The full sample name (borrowed unless a quoted name had escapes).
    pub name: Cow<'a, str>,
    /// The labels, other than a quoted metric name inside the braces.
    pub labels: LabelsRef<'a>,
    /// The value.
    pub value: f64,
    /// The timestamp in milliseconds, if given.
    pub timestamp: Option<Timestamp>,
    /// The exemplar, if any (OpenMetrics only).
    pub exemplar: Option<ExemplarRef<'a>>,
}

/// An exemplar, borrowing from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarRef<'a> {
    /// The exemplar's labels.
    pub labels: LabelsRef<'a>,
    /// The exemplar value.
    pub value: f64,
    /// The exemplar timestamp in milliseconds, if given.
    pub timestamp: Option<Timestamp>,
}

impl SampleRef<'_> {
    /// An owned [`Sample`] (allocates the name and labels).
    pub fn to_sample(&self) -> Sample {
        Sample {
            name: self.name.to_string(),
            labels: self.labels.to_labels(),
            value: self.value,
            timestamp: self.timestamp,
            exemplar: self.exemplar.as_ref().map(|e| Exemplar {
                labels: e.labels.to_labels(),
                value: e.value,
                timestamp: e.timestamp,
            }),
        }
    }
}

/// The raw text between a sample's braces, already validated; iterate to decode.
///
/// Iteration re-scans the validated text and yields `(name, value)` pairs as
/// [`Cow`]s that borrow from the input unless the text had escape sequences.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LabelsRef<'a> {
    raw: &'a str,
    escaped: bool,
}

impl fmt::Debug for LabelsRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.raw)
    }
}

impl<'a> LabelsRef<'a> {
    /// No labels.
    pub const EMPTY: LabelsRef<'static> = LabelsRef { raw: "", escaped: false };

    /// Labels from text a parser validated earlier: a copy of some [`LabelsRef::raw`] kept
    /// for later (a scrape cache keeps it instead of the decoded labels). Text that was never
    /// validated decodes to something without panicking, but not necessarily what it says.
    ///
    /// ```
    /// use ember_exposition::LabelsRef;
    /// let kept = String::from(r#"path="/a\"b",code="200""#);
    /// let l = LabelsRef::from_raw(&kept).to_labels();
    /// assert_eq!(l.to_series_string(), r#"{code="200", path="/a\"b"}"#);
    /// ```
    pub fn from_raw(raw: &'a str) -> Self {
        LabelsRef { raw, escaped: raw.as_bytes().contains(&b'\\') }
    }

    /// The raw text between the braces, escapes intact.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Iterates over the labels in written order.
    pub fn iter(&self) -> LabelIter<'a> {
        LabelIter { s: self.raw, pos: 0, escaped: self.escaped }
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Owned, sorted [`Labels`].
    pub fn to_labels(&self) -> Labels {
        if self.raw.is_empty() {
            return Labels::empty();
        }
        Labels::from_vec(self.iter().map(|(n, v)| Label { name: n.into_owned(), value: v.into_owned() }).collect())
    }
}

impl<'a> IntoIterator for LabelsRef<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);
    type IntoIter = LabelIter<'a>;
    fn into_iter(self) -> LabelIter<'a> {
        self.iter()
    }
}

/// Iterator over a [`LabelsRef`].
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    s: &'a str,
    pos: usize,
    escaped: bool,
}

impl<'a> LabelIter<'a> {
    /// Reads a quoted string starting at the opening quote; returns the raw inner text.
    fn quoted(&mut self) -> &'a str {
        let b = self.s.as_bytes();
        let start = self.pos + 1;
        let mut i = start;
        while i < b.len() && !STRING_STOP[b[i] as usize] {
            i += 1;
        }
        while i < b.len() {
            match b[i] {
                b'"' => break,
                b'\\' => i += 2,
                _ => match memchr::memchr2(b'"', b'\\', &b[i..]) {
                    Some(k) => i += k,
                    None => i = b.len(),
                },
            }
        }
        let end = i.min(b.len());
        self.pos = (end + 1).min(b.len());
        self.s.get(start..end).unwrap_or("")
    }

    fn cow(&self, raw: &'a str) -> Cow<'a, str> {
        if self.escaped { unescape(raw, true) } else { Cow::Borrowed(raw) }
    }
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.s.as_bytes();
        loop {
            while self.pos < b.len() && matches!(b[self.pos], b' ' | b'\t' | b',') {
                self.pos += 1;
            }
            if self.pos >= b.len() {
                return None;
            }
            let name = if b[self.pos] == b'"' {
                self.quoted()
            } else {
                let start = self.pos;
                while self.pos < b.len() && is_label_char(b[self.pos]) {
                    self.pos += 1;
                }
                if self.pos == start {
                    // Not reachable for validated input; stop rather than loop.
                    self.pos = b.len();
                    return None;
                }
                &self.s[start..self.pos]
            };
            while self.pos < b.len() && matches!(b[self.pos], b' ' | b'\t') {
                self.pos += 1;
            }
            if self.pos < b.len() && b[self.pos] == b'=' {
                self.pos += 1;
                while self.pos < b.len() && matches!(b[self.pos], b' ' | b'\t') {
                    self.pos += 1;
                }
                if self.pos >= b.len() || b[self.pos] != b'"' {
                    self.pos = b.len();
                    return None;
                }
                let value = self.quoted();
                return Some((self.cow(name), self.cow(value)));
            }
            // A bare quoted string is the metric name: not a label.
        }
    }
}

/// Unescapes `\\`, `\"` (when `quote`) and `\n`; other backslash sequences stay as written.
pub(crate) fn unescape(raw: &str, quote: bool) -> Cow<'_, str> {
    if !raw.as_bytes().contains(&b'\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------------------
// Character classes

const fn class_table(extra: &[u8], digits: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphabetic() || b == b'_' || (digits && b.is_ascii_digit());
        c += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

static METRIC_START: [bool; 256] = class_table(b":", false);
/// Bytes that end the plain part of a quoted string.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'\n' as usize] = true;
    t
};
static METRIC_CHAR: [bool; 256] = class_table(b":", true);
static LABEL_START: [bool; 256] = class_table(b"", false);
static LABEL_CHAR: [bool; 256] = class_table(b"", true);

#[inline]
pub(crate) fn is_label_char(b: u8) -> bool {
    LABEL_CHAR[b as usize]
}

// ---------------------------------------------------------------------------------------
// Cursor

/// A position in the input plus the line bookkeeping for error messages.
pub(crate) struct Cursor<'a> {
    pub src: &'a str,
    pub b: &'a [u8],
    pub pos: usize,
    /// 1-based number of the line `line_start` begins.
    pub line: usize,
    pub line_start: usize,
    /// Whether whitespace between tokens is free-form (text 0.0.4) or single spaces (OpenMetrics).
    pub lenient: bool,
}

impl<'a> Cursor<'a> {
    pub fn new(src: &'a str, lenient: bool) -> Self {
        Cursor { src, b: src.as_bytes(), pos: 0, line: 1, line_start: 0, lenient }
    }

    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline]
    pub fn at_eol(&self) -> bool {
        self.pos >= self.b.len() || self.b[self.pos] == b'\n'
    }

    #[inline]
    pub fn skip_ws(&mut self) {
        while self.pos < self.b.len() && matches!(self.b[self.pos], b' ' | b'\t') {
            self.pos += 1;
        }
    }

    /// Skips whitespace in lenient mode; a no-op in strict mode.
    #[inline]
    pub fn opt_ws(&mut self) {
        if self.lenient {
            self.skip_ws();
        }
    }

    /// Consumes the line feed at `pos` (if any) and starts the next line.
    #[inline]
    pub fn next_line(&mut self) {
        if self.pos < self.b.len() {
            self.pos += 1;
            self.line += 1;
            self.line_start = self.pos;
        }
    }

    pub fn found(&self) -> Found {
        match self.src.get(self.pos..).and_then(|s| s.chars().next()) {
            None => Found::EndOfInput,
            Some('\n') => Found::EndOfLine,
            Some(c) => Found::Char(c),
        }
    }

    pub fn error_at(&self, pos: usize, kind: ParseErrorKind) -> ParseError {
        let pos = pos.max(self.line_start);
        let column = match self.src.get(self.line_start..pos) {
            Some(s) => s.chars().count() + 1,
            None => pos - self.line_start + 1,
        };
        ParseError { line: self.line, column, kind }
    }

    pub fn error(&self, kind: ParseErrorKind) -> ParseError {
        self.error_at(self.pos, kind)
    }

    #[cold]
    pub fn expected(&self, what: &'static str) -> ParseError {
        self.error(ParseErrorKind::Expected { what, found: self.found() })
    }

    #[inline]
    pub fn expect(&mut self, c: u8, what: &'static str) -> Result<(), ParseError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// The rest of the line (without the line feed); leaves `pos` at the line feed.
    pub fn rest_of_line(&mut self) -> &'a str {
        let start = self.pos;
        self.pos = match memchr::memchr(b'\n', &self.b[self.pos..]) {
            Some(i) => start + i,
            None => self.b.len(),
        };
        &self.src[start..self.pos]
    }

    /// A token up to the next space, tab or line feed.
    #[inline]
    pub fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        let b = self.b;
        let mut i = start;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n') {
            i += 1;
        }
        self.pos = i;
        &b[start..i]
    }

    /// A legacy metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), or `None` if none starts here.
    #[inline]
    pub fn legacy_metric_name(&mut self) -> Option<&'a str> {
        let b = self.b;
        let start = self.pos;
        if start >= b.len() || !METRIC_START[b[start] as usize] {
            return None;
        }
        let mut i = start + 1;
        while i < b.len() && METRIC_CHAR[b[i] as usize] {
            i += 1;
        }
        self.pos = i;
        Some(&self.src[start..i])
    }

    /// A metric name: legacy, or quoted (only where `quoted_ok`).
    pub fn metric_name(&mut self, what: &'static str) -> Result<Cow<'a, str>, ParseError> {
        if let Some(n) = self.legacy_metric_name() {
            return Ok(Cow::Borrowed(n));
        }
        if self.peek() == Some(b'"') {
            let (raw, esc) = self.quoted()?;
            if raw.is_empty() {
                return Err(self.error_at(self.pos - 2, ParseErrorKind::Expected { what, found: Found::Char('"') }));
            }
            return Ok(if esc { unescape(raw, true) } else { Cow::Borrowed(raw) });
        }
        Err(self.expected(what))
    }

    /// A quoted string at `pos` (which holds `"`); returns the raw inner text and
    /// whether it contains escapes. Leaves `pos` after the closing quote.
    #[inline]
    pub fn quoted(&mut self) -> Result<(&'a str, bool), ParseError> {
        let b = self.b;
        let start = self.pos + 1;
        let mut i = start;
        let mut esc = false;
        // Most label values are short: a scalar scan beats setting up a vector search.
        let short_end = (start + 24).min(b.len());
        while i < short_end && !STRING_STOP[b[i] as usize] {
            i += 1;
        }
        if i < short_end && b[i] == b'"' {
            self.pos = i + 1;
            return Ok((&self.src[start..i], false));
        }
        loop {
            match memchr::memchr3(b'"', b'\\', b'\n', &b[i..]) {
                Some(k) => {
                    i += k;
                    match b[i] {
                        b'"' => break,
                        b'\\' => {
                            esc = true;
                            if i + 1 >= b.len() || b[i + 1] == b'\n' {
                                self.pos = i + 1;
                                return Err(self.expected("an escaped character after '\\'"));
                            }
                            i += 2;
                        }
                        _ => {
                            self.pos = i;
                            return Err(self.expected("closing '\"'"));
                        }
                    }
                }
                None => {
                    self.pos = b.len();
                    return Err(self.expected("closing '\"'"));
                }
            }
        }
        self.pos = i + 1;
        Ok((&self.src[start..i], esc))
    }

    /// A label block at `pos` (which holds `{`). Returns the labels and a quoted
    /// metric name if the block started with one (only allowed when `name_ok`).
    pub fn labels(&mut self, name_ok: bool) -> Result<(LabelsRef<'a>, Option<Cow<'a, str>>), ParseError> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        let mut metric_name = None;
        let mut names: [&'a str; 16] = [""; 16];
        let mut n = 0usize;
        let mut slow_dup_check = false;
        let mut first = true;
        loop {
            self.opt_ws();
            match self.peek() {
                Some(b'}') if first || self.lenient => break,
                Some(b'}') => return Err(self.expected("label name after ','")),
                _ => {}
            }
            let name_pos = self.pos;
            let name: &'a str;
            match self.peek() {
                Some(b'"') => {
                    let (raw, esc) = self.quoted()?;
                    self.opt_ws();
                    if self.peek() != Some(b'=') {
                        if name_ok && first && metric_name.is_none() {
                            if raw.is_empty() {
                                return Err(self.error_at(
                                    name_pos,
                                    ParseErrorKind::Expected { what: "non-empty metric name", found: Found::Char('"') },
                                ));
                            }
                            metric_name = Some(if esc { unescape(raw, true) } else { Cow::Borrowed(raw) });
                            first = false;
                            self.opt_ws();
                            match self.peek() {
                                Some(b',') => {
                                    self.pos += 1;
                                    // `{"name",}` is fine in text; OpenMetrics needs a label next.
                                    continue;
                                }
                                Some(b'}') => break,
                                _ => return Err(self.expected("',' or '}' after metric name")),
                            }
                        }
                        return Err(self.expected("'=' after label name"));
                    }
                    if raw.is_empty() {
                        return Err(self.error_at(
                            name_pos,
                            ParseErrorKind::Expected { what: "non-empty label name", found: Found::Char('"') },
                        ));
                    }
                    escaped |= esc;
                    slow_dup_check |= esc;
                    name = raw;
                }
                Some(c) if LABEL_START[c as usize] => {
                    let mut i = self.pos + 1;
                    while i < self.b.len() && LABEL_CHAR[self.b[i] as usize] {
                        i += 1;
                    }
                    name = &self.src[self.pos..i];
                    self.pos = i;
                    self.opt_ws();
                }
                _ => return Err(self.expected("label name")),
            }
            self.expect(b'=', "'=' after label name")?;
            self.opt_ws();
            if self.peek() != Some(b'"') {
                return Err(self.expected("'\"' to open the label value"));
            }
            let (_, esc) = self.quoted()?;
            escaped |= esc;
            // Duplicate names: a short stack list, or a full re-scan for long or escaped sets.
            if !slow_dup_check {
                if n < names.len() {
                    if names[..n].contains(&name) {
                        return Err(self.error_at(name_pos, ParseErrorKind::DuplicateLabel(name.to_string())));
                    }
                    names[n] = name;
                    n += 1;
                } else {
                    slow_dup_check = true;
                }
            }
            first = false;
            self.opt_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => break,
                _ => return Err(self.expected("',' or '}' after label")),
            }
        }
        let labels = LabelsRef { raw: &self.src[start..self.pos], escaped };
        self.pos += 1;
        if slow_dup_check {
            let v: Vec<_> = labels.iter().map(|(n, _)| n).collect();
            for (i, a) in v.iter().enumerate() {
                if v[..i].contains(a) {
                    return Err(self.error_at(start, ParseErrorKind::DuplicateLabel(a.to_string())));
                }
            }
        }
        Ok((labels, metric_name))
    }
}

// ---------------------------------------------------------------------------------------
// Numbers

/// Why a number did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumError {
    Syntax,
    Range,
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// A decimal number split into its parts (validated syntax).
struct Decimal<'s> {
    neg: bool,
    int: &'s [u8],
    frac: &'s [u8],
    exp: i64,
}

/// `[+-]? (digits [. digits*]? | . digits) ([eE] [+-]? digits)?`
fn split_decimal(s: &[u8]) -> Option<Decimal<'_>> {
    let mut i = 0;
    let neg = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let is = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    let int = &s[is..i];
    let mut frac: &[u8] = &[];
    if i < s.len() && s[i] == b'.' {
        i += 1;
        let fs = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        frac = &s[fs..i];
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp = 0i64;
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        let eneg = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let es = i;
        while i < s.len() && s[i].is_ascii_digit() {
            if exp < 100_000 {
                exp = exp * 10 + i64::from(s[i] - b'0');
            }
            i += 1;
        }
        if i == es {
            return None;
        }
        if eneg {
            exp = -exp;
        }
    }
    if i != s.len() {
        return None;
    }
    Some(Decimal { neg, int, frac, exp })
}

fn eq_ignore_case(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// Parses a float as both text formats spell one: decimal with optional exponent,
/// `[+-]inf`/`[+-]infinity` and `nan` in any case. Finite literals beyond float64
/// are a range error.
#[inline]
pub(crate) fn parse_float(s: &[u8]) -> Result<f64, NumError> {
    // Fast path: up to 19 significant digits, exact when they fit 2^53 and the power of
    // ten is at most 22 (both operands exact, one correctly rounded operation).
    let mut i = 0;
    let neg = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        Some(_) => false,
        None => return Err(NumError::Syntax),
    };
    let mut mant: u64 = 0;
    let mut ndig = 0u32;
    let mut any = false;
    while i < s.len() && s[i].is_ascii_digit() {
        mant = mant.wrapping_mul(10).wrapping_add(u64::from(s[i] - b'0'));
        ndig += u32::from(mant != 0);
        any = true;
        i += 1;
    }
    let mut scale = 0i32;
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            mant = mant.wrapping_mul(10).wrapping_add(u64::from(s[i] - b'0'));
            ndig += u32::from(mant != 0);
            scale += 1;
            any = true;
            i += 1;
        }
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') && any {
        let mut j = i + 1;
        let eneg = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let es = j;
        let mut e = 0i32;
        while j < s.len() && s[j].is_ascii_digit() && j - es < 4 {
            e = e * 10 + i32::from(s[j] - b'0');
            j += 1;
        }
        if j > es && j == s.len() {
            scale -= if eneg { -e } else { e };
            i = j;
        }
    }
    if i == s.len() && any && ndig <= 19 && mant <= (1u64 << 53) && (-22..=22).contains(&scale) {
        let v = if scale >= 0 { mant as f64 / POW10[scale as usize] } else { mant as f64 * POW10[(-scale) as usize] };
        return Ok(if neg { -v } else { v });
    }
    parse_float_slow(s)
}

#[cold]
fn parse_float_slow(s: &[u8]) -> Result<f64, NumError> {
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if eq_ignore_case(body, "inf") || eq_ignore_case(body, "infinity") {
        return Ok(if neg { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if eq_ignore_case(s, "nan") {
        return Ok(f64::NAN);
    }
    split_decimal(s).ok_or(NumError::Syntax)?;
    let text = std::str::from_utf8(s).map_err(|_| NumError::Syntax)?;
    let v: f64 = text.parse().map_err(|_| NumError::Syntax)?;
    if v.is_infinite() { Err(NumError::Range) } else { Ok(v) }
}

/// Parses an integer millisecond timestamp (text format 0.0.4): `[+-]?digits`.
#[inline]
pub(crate) fn parse_int_timestamp(s: &[u8]) -> Result<i64, NumError> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(NumError::Syntax);
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(NumError::Syntax);
        }
        let d = i64::from(c - b'0');
        v = v
            .checked_mul(10)
            .and_then(|v| if neg { v.checked_sub(d) } else { v.checked_add(d) })
            .ok_or(NumError::Range)?;
    }
    Ok(v)
}

/// Parses a timestamp in (possibly fractional) seconds (OpenMetrics) into milliseconds,
/// exactly, truncating toward zero below a millisecond and saturating beyond int64.
pub(crate) fn parse_seconds_timestamp(s: &[u8]) -> Result<i64, NumError> {
    let d = split_decimal(s).ok_or(NumError::Syntax)?;
    // Fast path: plain integer seconds.
    if d.frac.is_empty() && d.exp == 0 && d.int.len() <= 15 {
        let mut v: i64 = 0;
        for &c in d.int {
            v = v * 10 + i64::from(c - b'0');
        }
        let ms = v * 1000;
        return Ok(if d.neg { -ms } else { ms });
    }
    let mut m: u128 = 0;
    let mut scale: i64 = d.exp + 3;
    let mut kept = 0;
    for &c in d.int {
        if kept < 30 {
            m = m * 10 + u128::from(c - b'0');
            kept += usize::from(m != 0);
        } else {
            scale += 1;
        }
    }
    for &c in d.frac {
        if kept < 30 {
            m = m * 10 + u128::from(c - b'0');
            kept += usize::from(m != 0);
            scale -= 1;
        }
    }
    let mag: u128 = if m == 0 {
        0
    } else if scale >= 0 {
        if scale > 38 { u128::MAX } else { m.saturating_mul(10u128.pow(scale as u32)) }
    } else if -scale > 38 {
        0
    } else {
        m / 10u128.pow((-scale) as u32)
    };
    Ok(if d.neg {
        if mag > i64::MAX as u128 + 1 { i64::MIN } else { (mag as i128).wrapping_neg() as i64 }
    } else if mag > i64::MAX as u128 {
        i64::MAX
    } else {
        mag as i64
    })
}

// ---------------------------------------------------------------------------------------
// Writing

/// Writes a float as both formats read it back bit-exactly: integers without a
/// fraction, `-0`, `+Inf`, `-Inf`, `NaN`, otherwise Rust's shortest round-trip form.
pub(crate) fn write_float<W: fmt::Write + ?Sized>(out: &mut W, v: f64) -> fmt::Result {
    if v.is_nan() {
        return out.write_str("NaN");
    }
    if v.is_infinite() {
        return out.write_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    }
    if v == 0.0 {
        return out.write_str(if v.is_sign_negative() { "-0" } else { "0" });
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return write!(out, "{}", v as i64);
    }
    write!(out, "{v:?}")
}

/// Writes milliseconds as seconds with an exact decimal fraction.
pub(crate) fn write_seconds<W: fmt::Write + ?Sized>(out: &mut W, ms: i64) -> fmt::Result {
    if ms < 0 {
        out.write_char('-')?;
    }
    let a = ms.unsigned_abs();
    let (s, frac) = (a / 1000, a % 1000);
    if frac == 0 {
        write!(out, "{s}")
    } else if frac % 100 == 0 {
        write!(out, "{s}.{}", frac / 100)
    } else if frac % 10 == 0 {
        write!(out, "{s}.{:02}", frac / 10)
    } else {
        write!(out, "{s}.{frac:03}")
    }
}

/// Writes a metric name, quoted when it is not a legacy name, with labels:
/// `name{a="b"}` or `{"my.name",a="b"}`.
pub(crate) fn write_series<W: fmt::Write + ?Sized>(out: &mut W, name: &str, labels: &Labels) -> fmt::Result {
    use crate::names::{is_valid_legacy_metric_name, write_escaped_label_value, write_label_name};
    let legacy = is_valid_legacy_metric_name(name);
    if legacy {
        out.write_str(name)?;
        if labels.is_empty() {
            return Ok(());
        }
        out.write_char('{')?;
    } else {
        out.write_str("{\"")?;
        write_escaped_label_value(out, name)?;
        out.write_char('"')?;
    }
    for (i, l) in labels.iter().enumerate() {
        if i > 0 || !legacy {
            out.write_char(',')?;
        }
        write_label_name(out, &l.name)?;
        out.write_str("=\"")?;
        write_escaped_label_value(out, &l.value)?;
        out.write_char('"')?;
    }
    out.write_char('}')
}

/// Writes a name for a metadata line, quoted when it is not a legacy name.
pub(crate) fn write_meta_name<W: fmt::Write + ?Sized>(out: &mut W, name: &str) -> fmt::Result {
    if crate::names::is_valid_legacy_metric_name(name) {
        out.write_str(name)
    } else {
        out.write_char('"')?;
        crate::names::write_escaped_label_value(out, name)?;
        out.write_char('"')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_float(input: &str, want: Result<f64, NumError>) {
        let got = parse_float(input.as_bytes());
        match (got, want) {
            (Ok(g), Ok(w)) => assert_eq!(g.to_bits(), w.to_bits(), "{input}: {g} vs {w}"),
            (g, w) => assert_eq!(g, w, "{input}"),
        }
    }

    #[test]
    fn floats() {
        check_float("1", Ok(1.0));
        check_float("-0", Ok(-0.0));
        check_float("+1.5", Ok(1.5));
        check_float(".5", Ok(0.5));
        check_float("5.", Ok(5.0));
        check_float("1e3", Ok(1000.0));
        check_float("1.5E-3", Ok(0.0015));
        check_float("0.1", Ok(0.1));
        check_float("123456.789", Ok(123456.789));
        check_float("9223372036854775808", Ok(9223372036854775808.0));
        check_float("0000000000000000000000000000000000000000001", Ok(1.0));
        check_float("0.013300656000000001", Ok(0.013300656000000001));
        check_float("+Inf", Ok(f64::INFINITY));
        check_float("-inf", Ok(f64::NEG_INFINITY));
        check_float("Infinity", Ok(f64::INFINITY));
        check_float("+INF", Ok(f64::INFINITY));
        check_float("1e400", Err(NumError::Range));
        check_float("1e-400", Ok(0.0));
        for bad in ["", "+", ".", "e5", "1e", "1e+", "0x1", "0x1p-3", "1_000", "+nan", "1.2.3", "1z", "--1", "in"] {
            check_float(bad, Err(NumError::Syntax));
        }
        assert!(parse_float(b"NaN").unwrap().is_nan());
        assert!(parse_float(b"nan").unwrap().is_nan());
    }

    #[test]
    fn float_fast_path_matches_std() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if !v.is_finite() {
                continue;
            }
            let mut s = String::new();
            write_float(&mut s, v).unwrap();
            assert_eq!(parse_float(s.as_bytes()).unwrap().to_bits(), v.to_bits(), "{s}");
            let digits = format!("{}.{}", x % 100000, x % 1000);
            assert_eq!(parse_float(digits.as_bytes()).unwrap(), digits.parse::<f64>().unwrap(), "{digits}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_int_timestamp(b"-3982045"), Ok(-3982045));
        assert_eq!(parse_int_timestamp(b"9223372036854775808"), Err(NumError::Range));
        assert_eq!(parse_int_timestamp(b"1.5"), Err(NumError::Syntax));
        let s = |x: &str| parse_seconds_timestamp(x.as_bytes());
        assert_eq!(s("1"), Ok(1000));
        assert_eq!(s("1.5"), Ok(1500));
        assert_eq!(s("1234567890.123"), Ok(1234567890123));
        assert_eq!(s("-1.1"), Ok(-1100));
        assert_eq!(s("1.5e3"), Ok(1_500_000));
        assert_eq!(s("0.0000000001"), Ok(0));
        assert_eq!(s("000"), Ok(0));
        assert_eq!(s("12345678901234567890.1234567890"), Ok(i64::MAX));
        assert_eq!(s("-9223372036854775.808"), Ok(i64::MIN));
        assert_eq!(s("9223372036854775.807"), Ok(i64::MAX));
        assert_eq!(s("Inf"), Err(NumError::Syntax));
        assert_eq!(s("0x1p-3"), Err(NumError::Syntax));
        for ms in [0, 1, -1, 999, -1001, 1_700_000_000_123, i64::MAX, i64::MIN] {
            let mut out = String::new();
            write_seconds(&mut out, ms).unwrap();
            assert_eq!(s(&out), Ok(ms), "{out}");
        }
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape(r#"a\\b\"c\nd\z"#, true), "a\\b\"c\nd\\z");
        assert_eq!(unescape(r#"a\"b"#, false), "a\\\"b");
        assert!(matches!(unescape("plain", true), Cow::Borrowed(_)));
    }
}
