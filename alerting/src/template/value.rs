//! Template values and how Go's `fmt` prints them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

/// A value flowing through a template: the data passed in, variables, function results.
///
/// Maps iterate in key order, as Go's `range` does over maps. A [`Value::StrMap`] (a label
/// set) gives `""` for a missing key, as a Go `map[string]string` does; a [`Value::Map`]
/// gives nil, printed as `<no value>`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's nil.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(Arc<str>),
    /// A list.
    List(Arc<Vec<Value>>),
    /// A map or struct with fields of any type.
    Map(Arc<BTreeMap<String, Value>>),
    /// A map from string to string (label sets).
    StrMap(Arc<BTreeMap<String, String>>),
}

impl Value {
    /// A string value.
    pub fn str(s: impl AsRef<str>) -> Value {
        Value::Str(Arc::from(s.as_ref()))
    }

    /// A map value from pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(Arc::new(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect()))
    }

    /// A string map (label set) from pairs.
    pub fn str_map<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Value {
        Value::StrMap(Arc::new(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect()))
    }

    /// A list value.
    pub fn list(items: impl IntoIterator<Item = Value>) -> Value {
        Value::List(Arc::new(items.into_iter().collect()))
    }

    /// Go's notion of truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::StrMap(_) => "map[string]string",
        }
    }

    /// The value as a float, converting integers and parsing strings as Prometheus's
    /// humanize functions do.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => parse_go_float(s),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Field or key lookup (`.name`).
    pub fn field(&self, name: &str) -> Result<Value, String> {
        match self {
            Value::Map(m) => Ok(m.get(name).cloned().unwrap_or(Value::Nil)),
            Value::StrMap(m) => Ok(Value::str(m.get(name).map(String::as_str).unwrap_or(""))),
            Value::Nil => Err(format!("nil pointer evaluating .{name}")),
            other => Err(format!("can't evaluate field {name} in type {}", other.type_name())),
        }
    }

    /// Writes the value as Go's `%v` (and `{{ . }}`) prints it.
    pub fn write_go(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<no value>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_g(*f, None)),
            Value::Str(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_nested(out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_nested(out);
                }
                out.push(']');
            }
            Value::StrMap(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    out.push_str(v);
                }
                out.push(']');
            }
        }
    }

    fn write_nested(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            other => other.write_go(out),
        }
    }

    /// The value printed as Go's `%v`.
    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write_go(&mut s);
        s
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(Arc::from(s))
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// Parses a float as Go's `strconv.ParseFloat` does for the common forms (decimal,
/// exponent, `Inf`, `NaN`, with an optional sign).
pub fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let v = match body.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            if body.is_empty()
                || !body.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
            {
                return None;
            }
            body.replace('_', "").parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// Splits a finite non-zero float into its decimal digits and exponent: `d.ddd × 10^exp`.
/// With `digits`, rounds to that many significant digits; otherwise the shortest digits that
/// round-trip.
fn decimal_digits(v: f64, digits: Option<usize>) -> (String, i32) {
    let s = match digits {
        Some(p) => format!("{:.*e}", p.saturating_sub(1), v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mant, exp) = s.split_once('e').expect("exponent format has an e");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    (mant.replace('.', ""), exp)
}

fn push_exponent(out: &mut String, exp: i32, upper: bool) {
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    let _ = write!(out, "{a}");
}

/// Formats like Go's `%g` (`precision` given) or `%v` (shortest, `None`) for floats.
pub fn format_g(v: f64, precision: Option<usize>) -> String {
    format_g_flags(v, precision, false, false)
}

/// Go's `%g`/`%G` with an optional precision; `sharp` keeps trailing zeros.
pub(crate) fn format_g_flags(v: f64, precision: Option<usize>, upper: bool, sharp: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    if v == 0.0 {
        out.push('0');
        if sharp {
            let p = precision.unwrap_or(6).max(1);
            if p > 1 {
                out.push('.');
                out.push_str(&"0".repeat(p - 1));
            }
        }
        return out;
    }
    let prec = precision.map(|p| p.max(1));
    let (mut digits, exp) = decimal_digits(v, prec);
    let eprec = match prec {
        None => 6,
        Some(p) => {
            let nd = digits.len() as i32;
            if p as i32 > nd && nd > exp { nd } else { p as i32 }
        }
    };
    if !sharp {
        while digits.len() > 1 && digits.ends_with('0') {
            digits.pop();
        }
    } else if let Some(p) = prec {
        while digits.len() < p {
            digits.push('0');
        }
    }
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        push_exponent(&mut out, exp, upper);
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// Go's `%e`/`%E` with a precision (default 6).
pub(crate) fn format_e(v: f64, precision: usize, upper: bool) -> String {
    if !v.is_finite() {
        return format_g(v, None);
    }
    let s = format!("{:.*e}", precision, v);
    let (mant, exp) = s.split_once('e').expect("exponent format has an e");
    let mut out = mant.to_string();
    push_exponent(&mut out, exp.parse().expect("exponent is an integer"), upper);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(v: f64, p: Option<usize>, want: &str) {
        assert_eq!(format_g(v, p), want, "{v} with precision {p:?}");
    }

    #[test]
    fn go_float_formatting() {
        check(1.0, None, "1");
        check(1e6, None, "1e+06");
        check(123456.0, None, "123456");
        check(1234567.0, None, "1.234567e+06");
        check(0.0001, None, "0.0001");
        check(0.00001, None, "1e-05");
        check(-2.5, None, "-2.5");
        check(0.1 + 0.2, None, "0.30000000000000004");
        check(1234.5678, Some(4), "1235");
        check(1.5, Some(4), "1.5");
        check(123456.0, Some(4), "1.235e+05");
        check(0.000012345, Some(4), "1.234e-05");
        check(100.0, Some(4), "100");
        check(f64::INFINITY, Some(4), "+Inf");
        check(f64::NAN, None, "NaN");
        check(0.0, Some(4), "0");
        assert_eq!(format_e(1234.5, 2, false), "1.23e+03");
    }

    #[test]
    fn printing() {
        let v = Value::list([Value::Int(1), Value::str("a"), Value::Nil]);
        assert_eq!(v.to_go_string(), "[1 a <nil>]");
        let m = Value::str_map([("b", "2"), ("a", "1")]);
        assert_eq!(m.to_go_string(), "map[a:1 b:2]");
        assert_eq!(m.field("zzz").unwrap(), Value::str(""));
        assert_eq!(Value::Nil.to_go_string(), "<no value>");
        assert!(!Value::str("").truthy());
        assert!(Value::Float(0.5).truthy());
    }
}
