//! The element-wise kernels: math with Go's special cases, and the UTC date functions.

use std::f64::consts::{LN_2, PI};

use super::ElementwiseFunction as F;

pub(super) fn eval(func: F, v: f64, params: &[f64]) -> Option<f64> {
    let param = |i: usize, default: f64| params.get(i).copied().unwrap_or(default);
    Some(match func {
        F::Abs => v.abs(),
        F::Ceil => v.ceil(),
        F::Floor => v.floor(),
        F::Round => {
            // Inverting first loses less precision for fractions like 0.1; ties round up.
            let inverse = 1.0 / param(0, 1.0);
            (v * inverse + 0.5).floor() / inverse
        }
        F::Sqrt => v.sqrt(),
        F::Exp => v.exp(),
        F::Ln => v.ln(),
        F::Log2 => v.log2(),
        F::Log10 => v.log10(),
        F::Sgn => {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v // ±0 and NaN unchanged
            }
        }
        F::Clamp => return clamp(v, param(0, f64::NEG_INFINITY), param(1, f64::INFINITY)),
        F::ClampMin => return clamp(v, param(0, f64::NEG_INFINITY), f64::INFINITY),
        F::ClampMax => return clamp(v, f64::NEG_INFINITY, param(0, f64::INFINITY)),
        F::Deg => v * 180.0 / PI,
        F::Rad => v * PI / 180.0,
        F::Sin => v.sin(),
        F::Cos => v.cos(),
        F::Tan => v.tan(),
        F::Asin => v.asin(),
        F::Acos => v.acos(),
        F::Atan => v.atan(),
        F::Sinh => v.sinh(),
        F::Cosh => v.cosh(),
        F::Tanh => v.tanh(),
        F::Asinh => v.asinh(),
        F::Acosh => acosh(v),
        F::Atanh => v.atanh(),
        F::DayOfMonth => date(v, |d| d.day as f64),
        F::DayOfWeek => date(v, |d| d.weekday as f64),
        F::DayOfYear => date(v, |d| d.day_of_year as f64),
        F::DaysInMonth => date(v, |d| days_in_month(d.year, d.month) as f64),
        F::Hour => date(v, |d| d.hour as f64),
        F::Minute => date(v, |d| d.minute as f64),
        F::Month => date(v, |d| d.month as f64),
        F::Year => date(v, |d| d.year as f64),
    })
}

/// `max(min, min(max, v))` with Go's `math.Min`/`math.Max`, which (unlike Rust's) return
/// NaN for a NaN operand, except that an infinity on the side being selected wins.
fn clamp(v: f64, min: f64, max: f64) -> Option<f64> {
    if max < min {
        return None;
    }
    Some(go_max(min, go_min(max, v)))
}

fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { y } else { x }
    } else if x > y {
        x
    } else {
        y
    }
}

/// `acosh` that stays finite for huge arguments (the textbook formula overflows above
/// ~1e154 where `x * x` does; Go switches to `ln(x) + ln 2` from 2^28 on).
fn acosh(x: f64) -> f64 {
    if x >= (1u64 << 28) as f64 && x.is_finite() { x.ln() + LN_2 } else { x.acosh() }
}

/// A UTC calendar breakdown of a Unix time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    day_of_year: u32,
    weekday: u32,
    hour: u32,
    minute: u32,
}

/// Applies `f` to the UTC date of `v` Unix seconds (truncated toward zero, as Go's
/// `int64(v)`); NaN when `v` is not a representable time.
fn date(v: f64, f: impl FnOnce(Civil) -> f64) -> f64 {
    // 2^63 as f64: the range an i64 holds.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&v) {
        return f64::NAN;
    }
    f(civil(v as i64))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Calendar fields of `secs` since the epoch, proleptic Gregorian, UTC.
fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Days since 0000-03-01, split into 400-year eras of 146,097 days (Hinnant's method).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy_from_march = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy_from_march + 2) / 153;
    let day = (doy_from_march - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let before_march = 31 + if is_leap(year) { 29 } else { 28 };
    let day_of_year = if month <= 2 { doy_from_march - 306 + 1 } else { doy_from_march + before_march + 1 } as u32;
    Civil {
        year,
        month,
        day,
        day_of_year,
        weekday: (days + 4).rem_euclid(7) as u32, // 1970-01-01 was a Thursday
        hour: (sod / 3600) as u32,
        minute: (sod % 3600 / 60) as u32,
    }
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // values as the conformance scripts write them
mod tests {
    use super::*;

    #[track_caller]
    fn check(func: F, v: f64, params: &[f64], want: Option<f64>) {
        let got = eval(func, v, params);
        let same = match (got, want) {
            // Bit-exact, except a few ulps of libm difference from Go's own trigonometry.
            (Some(g), Some(w)) => {
                g.to_bits() == w.to_bits()
                    || (g.is_nan() && w.is_nan())
                    || (g.is_finite() && (g - w).abs() <= 1e-15 * w.abs())
            }
            (g, w) => g == w,
        };
        assert!(same, "{}({v}, {params:?}) = {got:?}, want {want:?}", func.name());
    }

    #[test]
    fn rounding_and_signs() {
        // functions.test: abs/ceil/floor/round over 2.5 2 -2.5 -2 0 -0 ±Inf NaN.
        let inf = f64::INFINITY;
        for (v, ceil, floor, round) in [
            (2.5, 3.0, 2.0, 3.0),
            (2.0, 2.0, 2.0, 2.0),
            (-2.5, -2.0, -3.0, -2.0),
            (-2.0, -2.0, -2.0, -2.0),
            (0.0, 0.0, 0.0, 0.0),
            (inf, inf, inf, inf),
            (-inf, -inf, -inf, -inf),
        ] {
            check(F::Ceil, v, &[], Some(ceil));
            check(F::Floor, v, &[], Some(floor));
            check(F::Round, v, &[], Some(round));
            check(F::Abs, v, &[], Some(v.abs()));
        }
        check(F::Round, f64::NAN, &[], Some(f64::NAN));
        check(F::Round, -0.0, &[], Some(0.0));
        check(F::Round, 0.15, &[0.1], Some(0.2));
        check(F::Round, 5.0, &[10.0], Some(10.0));
        check(F::Round, 14.0, &[10.0], Some(10.0));
        check(F::Round, 1.0, &[0.0], Some(f64::NAN)); // 1/0 = Inf, Inf/Inf
        // sgn.
        check(F::Sgn, -inf, &[], Some(-1.0));
        check(F::Sgn, inf, &[], Some(1.0));
        check(F::Sgn, -50.0, &[], Some(-1.0));
        check(F::Sgn, 100.0, &[], Some(1.0));
        check(F::Sgn, 0.0, &[], Some(0.0));
        check(F::Sgn, -0.0, &[], Some(-0.0));
        check(F::Sgn, f64::NAN, &[], Some(f64::NAN));
    }

    #[test]
    fn clamps() {
        // functions.test test_clamp: -50, 0, 100.
        for (v, max75, min_25, both) in [(-50.0, -50.0, -25.0, -25.0), (0.0, 0.0, 0.0, 0.0), (100.0, 75.0, 100.0, 75.0)]
        {
            check(F::ClampMax, v, &[75.0], Some(max75));
            check(F::ClampMin, v, &[-25.0], Some(min_25));
            check(F::Clamp, v, &[-25.0, 75.0], Some(both));
            // A NaN bound makes every sample NaN; min > max drops them.
            check(F::Clamp, v, &[0.0, f64::NAN], Some(f64::NAN));
            check(F::Clamp, v, &[f64::NAN, 0.0], Some(f64::NAN));
            check(F::Clamp, v, &[5.0, -5.0], None);
        }
        check(F::ClampMax, f64::NAN, &[75.0], Some(f64::NAN));
        check(F::ClampMin, f64::NAN, &[-25.0], Some(f64::NAN));
        // Go's Min/Max let an infinity beat NaN.
        check(F::ClampMax, f64::NAN, &[f64::NEG_INFINITY], Some(f64::NEG_INFINITY));
        check(F::ClampMin, f64::NAN, &[f64::INFINITY], Some(f64::INFINITY));
        check(F::Clamp, -0.0, &[0.0, 0.0], Some(0.0));
        check(F::Clamp, 0.0, &[-0.0, -0.0], Some(-0.0));
    }

    #[test]
    fn math() {
        // trig_functions.test values.
        check(F::Sin, 10.0, &[], Some(-0.5440211108893699));
        check(F::Cos, 20.0, &[], Some(0.40808206181339196));
        check(F::Asin, 10.0 - 10.1, &[], Some(-0.10016742116155944));
        check(F::Asin, 20.0 - 10.1, &[], Some(f64::NAN));
        check(F::Atan, 10.0, &[], Some(1.4711276743037345));
        check(F::Tan, 20.0, &[], Some(2.2371609442247427));
        check(F::Acos, 10.0 - 10.1, &[], Some(1.670963747956456));
        // trig_functions.test lists 11013.232920103324 (cosh(10)); its runner's tolerance hides that.
        check(F::Sinh, 10.0, &[], Some(11013.232874703393));
        check(F::Cosh, 20.0, &[], Some(2.4258259770489514e+08));
        check(F::Tanh, 10.0, &[], Some(0.9999999958776927));
        check(F::Tanh, 20.0, &[], Some(1.0));
        check(F::Asinh, 10.0, &[], Some(2.99822295029797));
        check(F::Asinh, 20.0, &[], Some(3.6895038689889055));
        check(F::Acosh, 10.0, &[], Some(2.993222846126381));
        check(F::Acosh, 20.0, &[], Some(3.6882538673612966));
        check(F::Atanh, 10.0 - 10.1, &[], Some(-0.10033534773107522));
        check(F::Atanh, 20.0 - 10.1, &[], Some(f64::NAN));
        check(F::Rad, 10.0, &[], Some(0.17453292519943295));
        check(F::Rad, 20.0, &[], Some(0.3490658503988659));
        check(F::Deg, 10.0, &[], Some(572.9577951308232));
        check(F::Deg, -20.0, &[], Some(-1145.9155902616465));
        check(F::Deg, 0.0, &[], Some(0.0));
        check(F::Sin, f64::NAN, &[], Some(f64::NAN));
        check(F::Deg, PI, &[], Some(180.0));
        check(F::Rad, 180.0, &[], Some(PI));
        // functions.test: exp, ln, sqrt, log2, log10 of 10 and 20.
        check(F::Exp, 10.0, &[], Some(22026.465794806718));
        check(F::Exp, 20.0, &[], Some(485165195.4097903));
        check(F::Exp, -10.0, &[], Some(4.5399929762484854e-05));
        check(F::Ln, 10.0, &[], Some(std::f64::consts::LN_10));
        check(F::Ln, 20.0, &[], Some(2.995732273553991));
        check(F::Sqrt, 10.0, &[], Some(3.1622776601683795));
        check(F::Sqrt, 20.0, &[], Some(4.47213595499958));
        check(F::Log2, 10.0, &[], Some(3.3219280948873626));
        check(F::Log2, 20.0, &[], Some(4.321928094887363));
        check(F::Log10, 10.0, &[], Some(1.0));
        check(F::Log10, 20.0, &[], Some(1.301029995663981));
        check(F::Ln, -1.0, &[], Some(f64::NAN));
        check(F::Ln, 0.0, &[], Some(f64::NEG_INFINITY));
        check(F::Log2, 8.0, &[], Some(3.0));
        check(F::Log10, 1000.0, &[], Some(3.0));
        check(F::Sqrt, -1.0, &[], Some(f64::NAN));
        check(F::Exp, f64::INFINITY, &[], Some(f64::INFINITY));
        check(F::Exp, f64::NEG_INFINITY, &[], Some(0.0));
        check(F::Atanh, 1.0, &[], Some(f64::INFINITY));
        check(F::Acosh, 0.5, &[], Some(f64::NAN));
        check(F::Acosh, 1.0, &[], Some(0.0));
        let big = eval(F::Acosh, 1e300, &[]).unwrap();
        assert!((big - (1e300f64.ln() + LN_2)).abs() < 1e-12);
        assert_eq!(eval(F::Acosh, f64::INFINITY, &[]), Some(f64::INFINITY));
    }

    #[test]
    fn dates() {
        // functions.test's time-function cases.
        check(F::Year, 1136239445.0, &[], Some(2006.0));
        check(F::Month, 1136239445.0, &[], Some(1.0));
        check(F::DayOfMonth, 1136239445.0, &[], Some(2.0));
        check(F::DayOfYear, 1136239445.0, &[], Some(2.0));
        check(F::DayOfWeek, 1136239445.0, &[], Some(1.0));
        check(F::Hour, 1136239445.0, &[], Some(22.0));
        check(F::Minute, 1136239445.0, &[], Some(4.0));
        check(F::DayOfWeek, 0.0, &[], Some(4.0));
        check(F::Year, 0.0, &[], Some(1970.0));
        check(F::Year, 1230767999.0, &[], Some(2008.0));
        check(F::Year, 1230768000.0, &[], Some(2009.0));
        check(F::Month, 1456790399.0, &[], Some(2.0));
        check(F::DayOfMonth, 1456790399.0, &[], Some(29.0));
        check(F::Month, 1456790400.0, &[], Some(3.0));
        check(F::DayOfMonth, 1456790400.0, &[], Some(1.0));
        check(F::DayOfYear, 1483191420.0, &[], Some(366.0));
        check(F::DayOfYear, 1672493820.0, &[], Some(365.0));
        check(F::DaysInMonth, 1454284800.0, &[], Some(29.0));
        check(F::DaysInMonth, 1485907200.0, &[], Some(28.0));
        // Before the epoch: 1969-12-31 23:59:59 is a Wednesday; -0.5 truncates to 0.
        check(F::Year, -1.0, &[], Some(1969.0));
        check(F::DayOfYear, -1.0, &[], Some(365.0));
        check(F::DayOfWeek, -1.0, &[], Some(3.0));
        check(F::Hour, -1.0, &[], Some(23.0));
        check(F::Minute, -1.0, &[], Some(59.0));
        check(F::Year, -0.5, &[], Some(1970.0));
        // 1900 is not a leap year, 2000 is.
        check(F::DaysInMonth, -2203977600.0, &[], Some(28.0)); // 1900-02-28
        check(F::DaysInMonth, -2203891200.0, &[], Some(31.0)); // 1900-03-01
        check(F::DaysInMonth, 951782400.0, &[], Some(29.0)); // 2000-02-29
        check(F::DayOfYear, 951782400.0, &[], Some(60.0));
        // Not a time.
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e19, -1e19] {
            check(F::Year, v, &[], Some(f64::NAN));
        }
        // The extremes of i64 do not overflow.
        assert!(eval(F::Year, -9.2e18, &[]).unwrap() < -2.9e11);
        assert!(eval(F::Year, 9.2e18, &[]).unwrap() > 2.9e11);
    }

    #[test]
    fn civil_agrees_with_day_counting() {
        // Walk 1960..2040 day by day and compare with a naive calendar.
        let mut secs = -315_619_200i64; // 1960-01-01
        let (mut y, mut m, mut d, mut doy) = (1960i64, 1u32, 1u32, 1u32);
        while y < 2040 {
            let c = civil(secs + 12 * 3600 + 34 * 60);
            assert_eq!((c.year, c.month, c.day, c.day_of_year, c.hour, c.minute), (y, m, d, doy, 12, 34));
            secs += 86_400;
            d += 1;
            doy += 1;
            if d > days_in_month(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                    doy = 1;
                }
            }
        }
    }
}
