//! Metric and label name validation, and the escaping rules of the text formats.
//!
//! Prometheus 3 accepts any non-empty UTF-8 string as a metric or label name
//! ([`ValidationScheme::Utf8`]); older servers and many tools only accept the legacy
//! character sets ([`ValidationScheme::Legacy`]). Names outside the legacy set are written
//! in the quoted form, `{"my.metric", "a.b"="c"}`, by every Ember encoder.

use std::fmt;

/// The label name that carries a series' metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// Which names a component accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ValidationScheme {
    /// Only `[a-zA-Z_:][a-zA-Z0-9_:]*` metric names and `[a-zA-Z_][a-zA-Z0-9_]*` label names.
    Legacy,
    /// Any non-empty UTF-8 string (Prometheus 3's default).
    #[default]
    Utf8,
}

impl ValidationScheme {
    /// Whether `name` is a valid metric name under this scheme.
    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            ValidationScheme::Legacy => is_valid_legacy_metric_name(name),
            ValidationScheme::Utf8 => !name.is_empty(),
        }
    }

    /// Whether `name` is a valid label name under this scheme.
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            ValidationScheme::Legacy => is_valid_legacy_label_name(name),
            ValidationScheme::Utf8 => !name.is_empty(),
        }
    }
}

/// Whether `name` matches `[a-zA-Z_:][a-zA-Z0-9_:]*`.
#[inline]
pub fn is_valid_legacy_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Whether `name` matches `[a-zA-Z_][a-zA-Z0-9_]*`.
#[inline]
pub fn is_valid_legacy_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Writes `s` escaped as a label value is escaped in both text formats:
/// `\` as `\\`, `"` as `\"` and a line feed as `\n`. No quotes are added.
pub fn write_escaped_label_value<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            b'\n' => "\\n",
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        out.write_str(rep)?;
        start = i + 1;
    }
    out.write_str(&s[start..])
}

/// Writes `s` escaped as HELP text is escaped in the text format 0.0.4:
/// `\` as `\\` and a line feed as `\n`.
pub fn write_escaped_help<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        out.write_str(rep)?;
        start = i + 1;
    }
    out.write_str(&s[start..])
}

/// Writes a label name, quoted and escaped when it is not a legacy label name.
pub fn write_label_name<W: fmt::Write + ?Sized>(out: &mut W, name: &str) -> fmt::Result {
    if is_valid_legacy_label_name(name) {
        out.write_str(name)
    } else {
        out.write_char('"')?;
        write_escaped_label_value(out, name)?;
        out.write_char('"')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names() {
        for ok in ["a", "_", ":", "a:b_c9", "http_requests_total", "__name__"] {
            assert!(is_valid_legacy_metric_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a.b", "ä", "a b"] {
            assert!(!is_valid_legacy_metric_name(bad), "{bad}");
        }
        assert!(is_valid_legacy_label_name("__name__"));
        assert!(!is_valid_legacy_label_name("a:b"));
        assert!(!is_valid_legacy_label_name(":a"));
        assert!(ValidationScheme::Utf8.is_valid_label_name("a.b"));
        assert!(!ValidationScheme::Utf8.is_valid_label_name(""));
        assert!(!ValidationScheme::Legacy.is_valid_label_name("a.b"));
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        write_escaped_label_value(&mut s, "a\\b\"c\nd").unwrap();
        assert_eq!(s, r#"a\\b\"c\nd"#);
        let mut s = String::new();
        write_escaped_help(&mut s, "a\\b\"c\nd").unwrap();
        assert_eq!(s, r#"a\\b"c\nd"#);
        let mut s = String::new();
        write_label_name(&mut s, "a.b").unwrap();
        assert_eq!(s, r#""a.b""#);
    }
}
