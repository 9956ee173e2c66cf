//! Prometheus's JSON number and time formats, written by hand for speed.
//!
//! Sample values are strings in the API (`"1.5"`, `"NaN"`, `"+Inf"`) so that every float
//! survives JSON; timestamps are seconds as JSON numbers with up to millisecond precision
//! (`1435781451.781`).

use std::fmt::Write as _;

/// Appends `v` the way Prometheus's API formats sample values: shortest round-trip decimal
/// without an exponent (`1000000`, `0.000001`), `NaN`, `+Inf`, `-Inf`.
pub fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let mut buf = ryu::Buffer::new();
        let s = buf.format_finite(v);
        push_plain_decimal(out, s);
    }
}

/// Rewrites ryu's shortest form (which may use `e` notation) as a plain decimal.
fn push_plain_decimal(out: &mut String, s: &str) {
    let (mantissa, exp) = match s.find('e') {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    let frac_part = if frac_part == "0" { "" } else { frac_part };
    let digits: String = format!("{int_part}{frac_part}");
    // Position of the decimal point within `digits`.
    let point = int_part.len() as i32 + exp;
    let digits = digits.trim_start_matches('0');
    let lead_zeros = (int_part.len() + frac_part.len() - digits.len()) as i32;
    let point = point - lead_zeros;
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        out.push_str(if neg { "-0" } else { "0" });
        return;
    }
    if neg {
        out.push('-');
    }
    let n = digits.len() as i32;
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        out.push_str(digits);
    } else if point >= n {
        out.push_str(digits);
        for _ in 0..point - n {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
}

/// Appends a millisecond timestamp as seconds, the way Prometheus's API writes it
/// (`1435781451.781`, `1435781451`, `-0.5`).
pub fn push_timestamp(out: &mut String, t_ms: i64) {
    let neg = t_ms < 0;
    let abs = t_ms.unsigned_abs();
    if neg {
        out.push('-');
    }
    let _ = write!(out, "{}", abs / 1000);
    let frac = abs % 1000;
    if frac != 0 {
        let s = format!("{frac:03}");
        out.push('.');
        out.push_str(s.trim_end_matches('0'));
    }
}

/// Appends `s` as a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn float(v: f64, want: &str) {
        let mut s = String::new();
        push_float(&mut s, v);
        assert_eq!(s, want, "{v:e}");
    }

    #[test]
    fn floats_match_go_strconv_f_minus_one() {
        float(1.0, "1");
        float(0.1, "0.1");
        float(-2.5, "-2.5");
        float(1e6, "1000000");
        float(1.5e21, "1500000000000000000000");
        float(1e-7, "0.0000001");
        float(123.456e-3, "0.123456");
        float(0.0, "0");
        float(-0.0, "-0");
        float(f64::NAN, "NaN");
        float(f64::INFINITY, "+Inf");
        float(f64::NEG_INFINITY, "-Inf");
        float(f64::MAX, &format!("17976931348623157{}", "0".repeat(292)));
        float(5e-324, &format!("0.{}5", "0".repeat(323)));
    }

    #[test]
    fn timestamps_are_seconds_with_trimmed_millis() {
        for (t, want) in
            [(1_435_781_451_781, "1435781451.781"), (1000, "1"), (1500, "1.5"), (-500, "-0.5"), (0, "0"), (10, "0.01")]
        {
            let mut s = String::new();
            push_timestamp(&mut s, t);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn strings_are_escaped_like_go() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\n<&>\u{1}é");
        assert_eq!(s, r#""a\"b\\c\n\u003c\u0026\u003e\u0001é""#);
    }
}
