//! The functions a template can call: Go's built-ins and Prometheus's additions.

use std::cmp::Ordering;
use std::fmt::Write;

use super::Context;
use super::value::{Value, format_e, format_g, format_g_flags};

type R = Result<Value, String>;

fn arity(name: &str, args: &[Value], want: usize) -> Result<(), String> {
    if args.len() != want {
        return Err(format!("wrong number of args for {name}: want {want} got {}", args.len()));
    }
    Ok(())
}

fn to_float(v: &Value) -> Result<f64, String> {
    v.as_f64().ok_or_else(|| format!("can't convert {} to float", v.to_go_string()))
}

fn to_str<'v>(name: &str, v: &'v Value) -> Result<&'v str, String> {
    v.as_str().ok_or_else(|| format!("{name}: expected string; found {}", v.to_go_string()))
}

/// Calls the function `name`.
pub(crate) fn call(name: &str, a: &[Value], ctx: &Context) -> R {
    match name {
        "not" => {
            arity(name, a, 1)?;
            Ok(Value::Bool(!a[0].truthy()))
        }
        "len" => {
            arity(name, a, 1)?;
            Ok(Value::Int(match &a[0] {
                Value::Str(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                Value::StrMap(m) => m.len(),
                other => return Err(format!("len of type {}", other.type_name())),
            } as i64))
        }
        "index" => index(a),
        "slice" => slice(a),
        "print" => Ok(Value::from(sprint(a))),
        "println" => {
            let mut s = a.iter().map(Value::to_go_string).collect::<Vec<_>>().join(" ");
            s.push('\n');
            Ok(Value::from(s))
        }
        "printf" => {
            let Some((f, rest)) = a.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            Ok(Value::from(sprintf(to_str(name, f)?, rest)))
        }
        "eq" => {
            if a.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            for b in &a[1..] {
                if compare(&a[0], b)? == Some(Ordering::Equal) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(name, a, 2)?;
            let ord = compare(&a[0], &a[1])?;
            if name == "ne" {
                return Ok(Value::Bool(ord != Some(Ordering::Equal)));
            }
            let Some(ord) = ord else { return Err("invalid type for comparison".into()) };
            Ok(Value::Bool(match name {
                "lt" => ord == Ordering::Less,
                "le" => ord != Ordering::Greater,
                "gt" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        "html" => Ok(Value::from(html_escape(&sprint(a)))),
        "js" => Ok(Value::from(js_escape(&sprint(a)))),
        "urlquery" | "urlQueryEscape" => Ok(Value::from(query_escape(&sprint(a)))),
        "query" => {
            arity(name, a, 1)?;
            let q = to_str(name, &a[0])?;
            let Some(f) = &ctx.query else { return Err("no query function is configured".into()) };
            let rows = f(q)?;
            Ok(Value::list(
                rows.into_iter()
                    .map(|s| Value::map([("Labels", Value::str_map(s.labels)), ("Value", Value::Float(s.value))])),
            ))
        }
        "first" => {
            arity(name, a, 1)?;
            match &a[0] {
                Value::List(l) => l.first().cloned().ok_or_else(|| "first() called on vector with no elements".into()),
                other => Err(format!("first() called on {}", other.type_name())),
            }
        }
        "label" => {
            arity(name, a, 2)?;
            let l = to_str(name, &a[0])?;
            a[1].field("Labels")?.field(l)
        }
        "value" => {
            arity(name, a, 1)?;
            a[0].field("Value")
        }
        "strvalue" => {
            arity(name, a, 1)?;
            a[0].field("Labels")?.field("__value__")
        }
        "sortByLabel" => {
            arity(name, a, 2)?;
            let l = to_str(name, &a[0])?;
            let Value::List(items) = &a[1] else { return Err("sortByLabel: expected a list of samples".into()) };
            let mut keyed: Vec<(String, Value)> = items
                .iter()
                .map(|s| {
                    let k = s.field("Labels").and_then(|m| m.field(l)).map(|v| v.to_go_string()).unwrap_or_default();
                    (k, s.clone())
                })
                .collect();
            keyed.sort_by(|x, y| x.0.cmp(&y.0));
            Ok(Value::list(keyed.into_iter().map(|(_, v)| v)))
        }
        "humanize" => {
            arity(name, a, 1)?;
            Ok(Value::from(humanize(to_float(&a[0])?)))
        }
        "humanize1024" => {
            arity(name, a, 1)?;
            Ok(Value::from(humanize1024(to_float(&a[0])?)))
        }
        "humanizeDuration" => {
            arity(name, a, 1)?;
            Ok(Value::from(humanize_duration(to_float(&a[0])?)))
        }
        "humanizePercentage" => {
            arity(name, a, 1)?;
            Ok(Value::from(format!("{}%", format_g(to_float(&a[0])? * 100.0, Some(4)))))
        }
        "humanizeTimestamp" => {
            arity(name, a, 1)?;
            let v = to_float(&a[0])?;
            if !v.is_finite() {
                return Ok(Value::from(format_g(v, Some(4))));
            }
            Ok(Value::from(go_time_string((v * 1e9) as i64 / 1_000_000)))
        }
        "toTime" => {
            arity(name, a, 1)?;
            let v = to_float(&a[0])?;
            if !v.is_finite() {
                return Err(format!("cannot convert {} to time", format_g(v, None)));
            }
            Ok(Value::from(go_time_string((v * 1e9) as i64 / 1_000_000)))
        }
        "toDuration" => {
            arity(name, a, 1)?;
            let v = to_float(&a[0])?;
            if !v.is_finite() {
                return Err(format!("cannot convert {} to duration", format_g(v, None)));
            }
            Ok(Value::from(go_duration_string((v * 1e9).round() as i128)))
        }
        "now" => {
            arity(name, a, 0)?;
            Ok(Value::Float(ctx.now))
        }
        "parseDuration" => {
            arity(name, a, 1)?;
            let s = to_str(name, &a[0])?;
            parse_prom_duration(s).map(|ms| Value::Float(ms as f64 / 1000.0))
        }
        "title" => {
            arity(name, a, 1)?;
            Ok(Value::from(title(to_str(name, &a[0])?)))
        }
        "toUpper" => {
            arity(name, a, 1)?;
            Ok(Value::from(to_str(name, &a[0])?.to_uppercase()))
        }
        "toLower" => {
            arity(name, a, 1)?;
            Ok(Value::from(to_str(name, &a[0])?.to_lowercase()))
        }
        "stripPort" => {
            arity(name, a, 1)?;
            let s = to_str(name, &a[0])?;
            Ok(Value::from(split_host_port(s).map_or(s, |(h, _)| h)))
        }
        "stripDomain" => {
            arity(name, a, 1)?;
            Ok(Value::from(strip_domain(to_str(name, &a[0])?)))
        }
        "match" => {
            arity(name, a, 2)?;
            let re = regex::Regex::new(to_str(name, &a[0])?).map_err(|e| e.to_string())?;
            Ok(Value::Bool(re.is_match(to_str(name, &a[1])?)))
        }
        "reReplaceAll" => {
            arity(name, a, 3)?;
            let re = regex::Regex::new(to_str(name, &a[0])?).map_err(|e| e.to_string())?;
            Ok(Value::from(re.replace_all(to_str(name, &a[2])?, to_str(name, &a[1])?).into_owned()))
        }
        "graphLink" | "tableLink" => {
            arity(name, a, 1)?;
            let tab = if name == "graphLink" { 0 } else { 1 };
            Ok(Value::from(format!("/graph?g0.expr={}&g0.tab={tab}", query_escape(to_str(name, &a[0])?))))
        }
        "args" => Ok(Value::map(a.iter().enumerate().map(|(i, v)| (format!("arg{i}"), v.clone())))),
        "safeHtml" => {
            arity(name, a, 1)?;
            Ok(Value::from(to_str(name, &a[0])?))
        }
        "externalURL" => {
            arity(name, a, 0)?;
            Ok(Value::from(ctx.external_url.as_str()))
        }
        "pathPrefix" => {
            arity(name, a, 0)?;
            Ok(Value::from(url_path(&ctx.external_url)))
        }
        "call" => Err("call is not supported: templates have no function values".into()),
        _ => Err(format!("function {name:?} not defined")),
    }
}

fn index(a: &[Value]) -> R {
    let Some((item, idx)) = a.split_first() else { return Err("wrong number of args for index".into()) };
    let mut v = item.clone();
    for i in idx {
        v = match (&v, i) {
            (Value::List(l), Value::Int(n)) => {
                usize::try_from(*n).ok().and_then(|n| l.get(n)).cloned().ok_or(format!("index out of range: {n}"))?
            }
            (Value::Str(s), Value::Int(n)) => usize::try_from(*n)
                .ok()
                .and_then(|n| s.as_bytes().get(n))
                .map(|b| Value::Int(i64::from(*b)))
                .ok_or(format!("index out of range: {n}"))?,
            (Value::Map(m), Value::Str(k)) => m.get(&**k).cloned().unwrap_or(Value::Nil),
            (Value::StrMap(m), Value::Str(k)) => Value::str(m.get(&**k).map_or("", String::as_str)),
            (Value::Nil, _) => return Err("index of untyped nil".into()),
            (c, k) => return Err(format!("can't index item of type {} with {}", c.type_name(), k.type_name())),
        };
    }
    Ok(v)
}

fn slice(a: &[Value]) -> R {
    let Some((item, idx)) = a.split_first() else { return Err("wrong number of args for slice".into()) };
    let mut ix = Vec::new();
    for i in idx {
        match i {
            Value::Int(n) if *n >= 0 => ix.push(*n as usize),
            other => return Err(format!("cannot index slice/array with {}", other.to_go_string())),
        }
    }
    let len = match item {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let (lo, hi) = match ix.as_slice() {
        [] => (0, len),
        [lo] => (*lo, len),
        [lo, hi] => (*lo, *hi),
        _ => return Err("too many slice indexes".into()),
    };
    if lo > hi || hi > len {
        return Err(format!("index out of range: {hi}"));
    }
    match item {
        Value::Str(s) => s.get(lo..hi).map(Value::str).ok_or_else(|| "slice splits a UTF-8 character".into()),
        Value::List(l) => Ok(Value::list(l[lo..hi].iter().cloned())),
        _ => unreachable!("checked above"),
    }
}

fn compare(a: &Value, b: &Value) -> Result<Option<Ordering>, String> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let (x, y) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            x.partial_cmp(&y)
        }
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => {
            if x == y {
                Some(Ordering::Equal)
            } else {
                None
            }
        }
        (Value::Nil, Value::Nil) => Some(Ordering::Equal),
        _ => return Err(format!("incompatible types for comparison: {} and {}", a.type_name(), b.type_name())),
    })
}

/// Go's `fmt.Sprint`: spaces between operands when neither side is a string.
fn sprint(a: &[Value]) -> String {
    let mut s = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_)) {
            s.push(' ');
        }
        v.write_go(&mut s);
    }
    s
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '\'' => o.push_str("&#39;"),
            '"' => o.push_str("&#34;"),
            '\0' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

fn js_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '"' => o.push_str("\\\""),
            '<' => o.push_str("\\u003C"),
            '>' => o.push_str("\\u003E"),
            '&' => o.push_str("\\u0026"),
            '=' => o.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => o.push(b as char),
            b' ' => o.push('+'),
            _ => {
                let _ = write!(o, "%{b:02X}");
            }
        }
    }
    o
}

fn url_path(u: &str) -> &str {
    let after_scheme = u.find("://").map_or(u, |i| &u[i + 3..]);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("")
}

/// Prometheus's `humanize`: metric prefixes, four significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format_g(v, Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", format_g(v, Some(4)))
}

/// Prometheus's `humanize1024`: binary prefixes, four significant digits.
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return format_g(v, Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", format_g(v, Some(4)))
}

/// Prometheus's `humanizeDuration`: `1d 2h 3m 4s`, or seconds with a prefix below one.
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return format_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", format_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let d = v as i64;
        let (days, hours, minutes, seconds) = (d / 86400, (d / 3600) % 24, (d / 60) % 60, d % 60);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", format_g(v, Some(4)));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_g(v, Some(4)))
}

/// Days since the epoch to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's `time.Time.String()` for a UTC instant given in milliseconds.
pub(crate) fn go_time_string(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut s = format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}", sod / 3600, (sod / 60) % 60, sod % 60);
    if frac != 0 {
        let f = format!("{frac:03}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// Go's `time.Duration.String()`.
pub(crate) fn go_duration_string(ns: i128) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let frac = |whole: u128, rem: u128, digits: usize| -> String {
        let mut f = format!("{rem:0digits$}");
        while f.ends_with('0') {
            f.pop();
        }
        if f.is_empty() { whole.to_string() } else { format!("{whole}.{f}") }
    };
    if u < 1_000 {
        let _ = write!(s, "{u}ns");
    } else if u < 1_000_000 {
        s.push_str(&frac(u / 1_000, u % 1_000, 3));
        s.push_str("µs");
    } else if u < 1_000_000_000 {
        s.push_str(&frac(u / 1_000_000, u % 1_000_000, 6));
        s.push_str("ms");
    } else {
        let total_s = u / 1_000_000_000;
        let (h, m, sec) = (total_s / 3600, (total_s / 60) % 60, total_s % 60);
        if h > 0 {
            let _ = write!(s, "{h}h");
        }
        if h > 0 || m > 0 {
            let _ = write!(s, "{m}m");
        }
        s.push_str(&frac(sec, u % 1_000_000_000, 9));
        s.push('s');
    }
    s
}

/// Parses a Prometheus duration (`1h30m`, `500ms`, `1d`, `1w`, `1y`) into milliseconds.
pub fn parse_prom_duration(s: &str) -> Result<i64, String> {
    ember_exposition::duration::parse_duration(s).map_err(|e| e.to_string())
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start && c.is_alphanumeric() {
            out.extend(c.to_uppercase());
            at_start = false;
        } else {
            out.push(c);
            if !(c.is_alphanumeric() || c == '\'' || c == '_') {
                at_start = true;
            }
        }
    }
    out
}

/// Go's `net.SplitHostPort`.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let port = rest[end + 1..].strip_prefix(':')?;
        return Some((&rest[..end], port));
    }
    let i = s.rfind(':')?;
    if s[..i].contains(':') {
        return None;
    }
    Some((&s[..i], &s[i + 1..]))
}

fn strip_domain(s: &str) -> String {
    let (host, port) = match split_host_port(s) {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return s.to_string();
    }
    let short = host.split('.').next().unwrap_or(host);
    match port {
        Some(p) => format!("{short}:{p}"),
        None => short.to_string(),
    }
}

/// A `printf` directive's flags, width and precision.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(spec: &Spec, body: String, numeric: bool) -> String {
    let Some(w) = spec.width else { return body };
    let len = body.chars().count();
    if len >= w {
        return body;
    }
    let fill = w - len;
    if spec.minus {
        return body + &" ".repeat(fill);
    }
    if spec.zero && numeric {
        let (sign, digits) = match body.strip_prefix(['-', '+', ' ']) {
            Some(d) => (&body[..1], d),
            None => ("", body.as_str()),
        };
        return format!("{sign}{}{digits}", "0".repeat(fill));
    }
    " ".repeat(fill) + &body
}

fn sign(spec: &Spec, s: String) -> String {
    if s.starts_with('-') {
        s
    } else if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        v => format!("%!{verb}({}={})", v.type_name(), v.to_go_string()),
    }
}

fn quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn format_one(verb: char, spec: &Spec, v: &Value) -> String {
    let float = |f: f64| -> Option<String> {
        Some(match verb {
            'f' | 'F' => {
                if f.is_finite() {
                    format!("{:.*}", spec.prec.unwrap_or(6), f)
                } else {
                    format_g(f, None)
                }
            }
            'e' | 'E' => format_e(f, spec.prec.unwrap_or(6), verb == 'E'),
            'g' | 'G' => format_g_flags(f, spec.prec, verb == 'G', spec.sharp),
            'v' => format_g_flags(f, spec.prec, false, spec.sharp),
            _ => return None,
        })
    };
    match (verb, v) {
        ('v', Value::Float(f)) | ('f' | 'F' | 'e' | 'E' | 'g' | 'G', Value::Float(f)) => {
            pad(spec, sign(spec, float(*f).unwrap_or_default()), true)
        }
        ('v' | 'd', Value::Int(i)) => pad(spec, sign(spec, i.to_string()), true),
        ('x', Value::Int(i)) => {
            pad(spec, sign(spec, if *i < 0 { format!("-{:x}", i.unsigned_abs()) } else { format!("{i:x}") }), true)
        }
        ('X', Value::Int(i)) => {
            pad(spec, sign(spec, if *i < 0 { format!("-{:X}", i.unsigned_abs()) } else { format!("{i:X}") }), true)
        }
        ('o', Value::Int(i)) => pad(spec, sign(spec, format!("{i:o}")), true),
        ('b', Value::Int(i)) => pad(spec, sign(spec, format!("{i:b}")), true),
        ('c', Value::Int(i)) => {
            pad(spec, u32::try_from(*i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}').to_string(), false)
        }
        ('q', Value::Int(i)) => {
            let c = u32::try_from(*i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
            pad(spec, format!("'{c}'"), false)
        }
        ('s' | 'v', Value::Str(s)) => {
            let s: String = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            pad(spec, s, false)
        }
        ('q', Value::Str(s)) => pad(spec, quote(s), false),
        ('x', Value::Str(s)) => pad(spec, s.bytes().map(|b| format!("{b:02x}")).collect(), false),
        ('X', Value::Str(s)) => pad(spec, s.bytes().map(|b| format!("{b:02X}")).collect(), false),
        ('t' | 'v', Value::Bool(b)) => pad(spec, b.to_string(), false),
        ('v' | 's', Value::List(_) | Value::Map(_) | Value::StrMap(_)) => pad(spec, v.to_go_string(), false),
        ('v', Value::Nil) => pad(spec, "<nil>".into(), false),
        _ => bad_verb(verb, v),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use.
pub(crate) fn sprintf(f: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(f.len() + 16);
    let mut args_it = args.iter();
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&fl) = chars.peek() {
            match fl {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let mut num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<usize> {
            if chars.peek() == Some(&'*') {
                chars.next();
                return match args_it.next() {
                    Some(Value::Int(n)) if *n >= 0 => Some(*n as usize),
                    _ => None,
                };
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize).min(1 << 16));
                chars.next();
            }
            n
        };
        spec.width = num(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(num(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args_it.next() {
            Some(v) => out.push_str(&format_one(verb, &spec, v)),
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
        }
    }
    let extra: Vec<&Value> = args_it.collect();
    if !extra.is_empty() {
        out.push_str("%!(EXTRA ");
        for (i, v) in extra.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", v.type_name(), v.to_go_string());
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(got: String, want: &str) {
        assert_eq!(got, want);
    }

    #[test]
    fn humanizers() {
        check(humanize(0.0), "0");
        check(humanize(1234567.0), "1.235M");
        check(humanize(999.0), "999");
        check(humanize(0.001234), "1.234m");
        check(humanize(-12345.0), "-12.35k");
        check(humanize(f64::INFINITY), "+Inf");
        check(humanize1024(1024.0), "1ki");
        check(humanize1024(1.0), "1");
        check(humanize1024(1048576.0 * 3.5), "3.5Mi");
        check(humanize_duration(0.0), "0s");
        check(humanize_duration(1.0), "1s");
        check(humanize_duration(90.0), "1m 30s");
        check(humanize_duration(86400.0 * 2.0 + 3661.0), "2d 1h 1m 1s");
        check(humanize_duration(0.0015), "1.5ms");
        check(humanize_duration(-90.0), "-1m 30s");
        check(humanize_duration(12.3456), "12.35s");
    }

    #[test]
    fn times_and_durations() {
        check(go_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        check(go_time_string(1_500), "1970-01-01 00:00:01.5 +0000 UTC");
        check(go_time_string(1_700_000_000_000), "2023-11-14 22:13:20 +0000 UTC");
        check(go_time_string(-1000), "1969-12-31 23:59:59 +0000 UTC");
        check(go_duration_string(0), "0s");
        check(go_duration_string(1_500_000_000), "1.5s");
        check(go_duration_string(3_600_000_000_000), "1h0m0s");
        check(go_duration_string(1_500_000), "1.5ms");
        check(go_duration_string(-90_000_000_000), "-1m30s");
        assert_eq!(parse_prom_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_prom_duration("500ms").unwrap(), 500);
        assert_eq!(parse_prom_duration("1d").unwrap(), 86_400_000);
        assert!(parse_prom_duration("30m1h").is_err());
        assert!(parse_prom_duration("1.5h").is_err());
        assert!(parse_prom_duration("").is_err());
    }

    #[test]
    fn printf() {
        let f = |fmt: &str, a: &[Value]| sprintf(fmt, a);
        check(f("%.2f", &[Value::Float(1.23456)]), "1.23");
        check(f("%d items", &[Value::Int(3)]), "3 items");
        check(f("%5.1f|%-4d|%04d", &[Value::Float(2.25), Value::Int(7), Value::Int(-7)]), "  2.2|7   |-007");
        check(f("%s=%q", &[Value::str("a"), Value::str("b\"c")]), "a=\"b\\\"c\"");
        check(f("%v %v", &[Value::Float(1e6), Value::Bool(true)]), "1e+06 true");
        check(f("%d", &[Value::str("x")]), "%!d(string=x)");
        check(f("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        check(f("%d", &[Value::Int(1), Value::Int(2)]), "1%!(EXTRA int=2)");
        check(f("100%%", &[]), "100%");
        check(f("%x %X", &[Value::Int(255), Value::str("hi")]), "ff 6869");
        check(f("%.3g|%e", &[Value::Float(1234.5), Value::Float(0.5)]), "1.23e+03|5.000000e-01");
    }

    #[test]
    fn strings() {
        check(title("hello wORLD foo-bar"), "Hello WORLD Foo-Bar");
        check(strip_domain("foo.example.com:9100"), "foo:9100");
        check(strip_domain("10.0.0.1:9100"), "10.0.0.1:9100");
        assert_eq!(split_host_port("[::1]:80"), Some(("::1", "80")));
        assert_eq!(split_host_port("host"), None);
        check(query_escape("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(url_path("http://x:9090/prom/?a=b"), "/prom/");
        check(sprint(&[Value::Int(1), Value::Int(2), Value::str("a"), Value::Int(3)]), "1 2a3");
    }
}
