//! The range-window kernels: one window of float samples in, one value (or none) out.

use std::cell::RefCell;

use super::kahan::inc;
use super::quantile::quantile;
use super::{FPoint, Mean, RangeFunction, RangeWindow, Variance, validate_smoothing_params};
use crate::engine::annotations::AnnotationKind;

thread_local! {
    /// Scratch space for the kernels that must reorder values (quantiles, MAD), so a range
    /// query does not allocate per step.
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

pub(super) fn eval(
    func: RangeFunction,
    w: &RangeWindow<'_>,
    eval_ts: i64,
    params: &[f64],
    issues: &mut Vec<AnnotationKind>,
) -> Option<f64> {
    let points = w.points;
    let param = |i: usize| params.get(i).copied().unwrap_or(f64::NAN);
    let first = points.first()?;
    let last = points[points.len() - 1];
    Some(match func {
        RangeFunction::Rate => extrapolated_rate(w, true, true)?,
        RangeFunction::Increase => extrapolated_rate(w, true, false)?,
        RangeFunction::Delta => extrapolated_rate(w, false, false)?,
        RangeFunction::Irate => instant_value(points, true)?,
        RangeFunction::Idelta => instant_value(points, false)?,
        RangeFunction::Deriv => {
            if points.len() < 2 {
                return None;
            }
            // Times relative to the first sample keep the sums small (Prometheus #2674).
            linear_regression(points, first.t).0
        }
        RangeFunction::PredictLinear => {
            if points.len() < 2 {
                return None;
            }
            let (slope, intercept) = linear_regression(points, eval_ts);
            slope * param(0) + intercept
        }
        RangeFunction::Resets => points.windows(2).filter(|p| p[1].f < p[0].f).count() as f64,
        RangeFunction::Changes => {
            points.windows(2).filter(|p| p[1].f != p[0].f && !(p[1].f.is_nan() && p[0].f.is_nan())).count() as f64
        }
        RangeFunction::DoubleExponentialSmoothing => {
            let (sf, tf) = (param(0), param(1));
            if validate_smoothing_params(sf, tf).is_err() || points.len() < 2 {
                return None;
            }
            double_exponential_smoothing(points, sf, tf)
        }
        RangeFunction::AvgOverTime => avg(points),
        RangeFunction::MinOverTime => extreme(points, |cur, best| cur < best).f,
        RangeFunction::MaxOverTime => extreme(points, |cur, best| cur > best).f,
        RangeFunction::SumOverTime => {
            let (sum, c) = points.iter().fold((0.0, 0.0), |(s, c), p| inc(p.f, s, c));
            if sum.is_infinite() { sum } else { sum + c }
        }
        RangeFunction::CountOverTime => points.len() as f64,
        RangeFunction::QuantileOverTime => {
            let q = param(0);
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                issues.push(AnnotationKind::InvalidQuantile(q));
            }
            with_values(points, |v| quantile(q, v))
        }
        RangeFunction::StddevOverTime => variance(points).sqrt(),
        RangeFunction::StdvarOverTime => variance(points),
        RangeFunction::LastOverTime => last.f,
        RangeFunction::FirstOverTime => first.f,
        RangeFunction::PresentOverTime => 1.0,
        RangeFunction::MadOverTime => {
            // A NaN makes the median, and so the deviation, undefined (Prometheus 3.6+).
            if points.iter().any(|p| p.f.is_nan()) {
                return Some(f64::NAN);
            }
            with_values(points, |v| {
                let median = quantile(0.5, v);
                v.iter_mut().for_each(|x| *x = (*x - median).abs());
                quantile(0.5, v)
            })
        }
        RangeFunction::TsOfMinOverTime => seconds(extreme(points, |cur, best| cur <= best).t),
        RangeFunction::TsOfMaxOverTime => seconds(extreme(points, |cur, best| cur >= best).t),
        RangeFunction::TsOfFirstOverTime => seconds(first.t),
        RangeFunction::TsOfLastOverTime => seconds(last.t),
    })
}

fn seconds(t_ms: i64) -> f64 {
    t_ms as f64 / 1000.0
}

/// Runs `f` over the window's values in the thread's scratch buffer.
fn with_values(points: &[FPoint], f: impl FnOnce(&mut [f64]) -> f64) -> f64 {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            buf.extend(points.iter().map(|p| p.f));
            f(&mut buf)
        }
        // Re-entered (cannot happen today): fall back to a fresh buffer.
        Err(_) => f(&mut points.iter().map(|p| p.f).collect::<Vec<_>>()),
    })
}

/// The sample that wins `better(candidate, best)` scanning forward; a NaN best is always
/// replaced, so NaNs only win when nothing else is there. `<`/`>` keep the first of equal
/// extremes, `<=`/`>=` the last (as the `ts_of_*` functions want).
fn extreme(points: &[FPoint], better: impl Fn(f64, f64) -> bool) -> FPoint {
    let mut best = points[0];
    for p in points {
        if better(p.f, best.f) || best.f.is_nan() {
            best = *p;
        }
    }
    best
}

/// `rate`, `increase` and `delta`: the difference between the last and first samples
/// (plus the value before every drop, for counters), extrapolated towards the window's
/// edges. An edge further than 1.1 average intervals from its sample is assumed to lie
/// beyond the series' start or end, so extrapolation stops half an interval out; a counter
/// is never extrapolated below zero.
fn extrapolated_rate(w: &RangeWindow<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    let points = w.points;
    if points.len() < 2 {
        return None;
    }
    let (first, last) = (points[0], points[points.len() - 1]);
    let mut result = last.f - first.f;
    if is_counter {
        for p in points.windows(2) {
            if p[1].f < p[0].f {
                result += p[0].f;
            }
        }
    }
    let mut to_start = seconds(first.t - w.start);
    let mut to_end = seconds(w.end - last.t);
    let sampled = seconds(last.t - first.t);
    let average = sampled / (points.len() - 1) as f64;
    let threshold = average * 1.1;
    if to_start >= threshold {
        to_start = average / 2.0;
    }
    if is_counter {
        // The counter's zero point, if it comes before the extrapolated start.
        if result > 0.0 && first.f >= 0.0 {
            let to_zero = sampled * (first.f / result);
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
    }
    if to_end >= threshold {
        to_end = average / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= seconds(w.end - w.start);
    }
    Some(result * factor)
}

pub(super) fn anchored_start(points: &[FPoint], start: i64) -> Option<usize> {
    let last = points.last()?;
    if last.t <= start {
        return None;
    }
    // Samples are ascending, so the index searches are bisections (over all but the last
    // sample, as in Prometheus).
    Some(points[..points.len() - 1].partition_point(|p| p.t <= start).saturating_sub(1))
}

pub(super) fn extended_rate(
    points: &[FPoint],
    start: i64,
    end: i64,
    is_counter: bool,
    is_rate: bool,
    smoothed: bool,
) -> Option<f64> {
    let n = points.len();
    if n == 0 {
        return None;
    }
    let mut first = points[..n - 1].partition_point(|p| p.t <= start).saturating_sub(1);
    let mut last = if smoothed { points[..n - 1].partition_point(|p| p.t < end) } else { n - 1 };
    if points[last].t <= start || (smoothed && points[first].t > end) {
        return None;
    }
    // Linear interpolation at `t`; across a counter reset the counter restarts from 0.
    let interpolate = |p1: FPoint, p2: FPoint, t: i64| {
        let y1 = if is_counter && p2.f < p1.f { 0.0 } else { p1.f };
        y1 + (p2.f - y1) * (t - p1.t) as f64 / (p2.t - p1.t) as f64
    };
    let left = if smoothed && points[first].t < start && first + 1 < n {
        interpolate(points[first], points[first + 1], start)
    } else {
        points[first].f
    };
    let right = if smoothed && last > 0 && points[last].t > end {
        interpolate(points[last - 1], points[last], end)
    } else {
        points[last].f
    };
    let mut result = right - left;
    if is_counter {
        // Resets at the edges are already in the interpolated boundary values.
        if points[first].t <= start {
            first += 1;
        }
        if points[last].t >= end {
            last = last.wrapping_sub(1);
        }
        let mut prev = left;
        let inner = if last == usize::MAX || first > last { &[][..] } else { &points[first..=last] };
        for p in inner {
            if p.f < prev {
                result += prev;
            }
            prev = p.f;
        }
        if right < prev {
            result += prev;
        }
    }
    if is_rate {
        result /= seconds(end - start);
    }
    Some(result)
}

/// `irate` and `idelta` from the last two samples; `irate` takes a drop for a reset (the
/// increase is then the last value).
fn instant_value(points: &[FPoint], is_rate: bool) -> Option<f64> {
    let [.., prev, last] = points else { return None };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    let mut result = last.f;
    if !is_rate || last.f >= prev.f || last.f.is_nan() || prev.f.is_nan() {
        result = last.f - prev.f;
    }
    if is_rate {
        result /= seconds(interval);
    }
    Some(result)
}

/// Least-squares fit of value against time (seconds relative to `intercept_ms`), with
/// compensated sums; returns the slope and the value at `intercept_ms`. A constant series
/// gives slope 0 (NaN for a constant ±Inf).
fn linear_regression(points: &[FPoint], intercept_ms: i64) -> (f64, f64) {
    let init_y = points[0].f;
    let mut const_y = true;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, p) in points.iter().enumerate() {
        if const_y && i > 0 && p.f != init_y {
            const_y = false;
        }
        let x = (p.t - intercept_ms) as f64 / 1e3;
        (sum_x, c_x) = inc(x, sum_x, c_x);
        (sum_y, c_y) = inc(p.f, sum_y, c_y);
        (sum_xy, c_xy) = inc(x * p.f, sum_xy, c_xy);
        (sum_x2, c_x2) = inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let n = points.len() as f64;
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Holt's linear (double exponential) smoothing; the last smoothed value.
fn double_exponential_smoothing(points: &[FPoint], sf: f64, tf: f64) -> f64 {
    let mut s0 = 0.0;
    let mut s1 = points[0].f;
    let mut b = points[1].f - points[0].f;
    for (i, p) in points.iter().enumerate().skip(1) {
        let x = sf * p.f;
        // The trend starts as the first difference and is smoothed from the third sample on.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    s1
}

fn avg(points: &[FPoint]) -> f64 {
    let mut m = Mean::default();
    points.iter().for_each(|p| m.add(p.f));
    m.value()
}

fn variance(points: &[FPoint]) -> f64 {
    let mut v = Variance::default();
    points.iter().for_each(|p| v.add(p.f));
    v.variance()
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // values as the conformance scripts write them
mod tests {
    use super::*;
    use crate::engine::functions::{anchored_start, extended_rate};

    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;

    /// A series sampled every `step_ms` from 0 on; NaN-free `None`s are gaps.
    fn series(step_ms: i64, values: &[Option<f64>]) -> Vec<FPoint> {
        values.iter().enumerate().filter_map(|(i, v)| v.map(|f| FPoint { t: i as i64 * step_ms, f })).collect()
    }

    fn vals(values: &[f64]) -> Vec<Option<f64>> {
        values.iter().copied().map(Some).collect()
    }

    /// `start + step * i` for `i` in `0..=n` (the `a+bxn` series notation).
    fn ramp(start: f64, step: f64, n: usize) -> Vec<f64> {
        (0..=n).map(|i| start + step * i as f64).collect()
    }

    /// Evaluates at `eval_ms` over `range_ms` (no offset), selecting the left-open window.
    fn run(
        func: RangeFunction,
        points: &[FPoint],
        eval_ms: i64,
        range_ms: i64,
        params: &[f64],
    ) -> (Option<f64>, Vec<AnnotationKind>) {
        let (start, end) = (eval_ms - range_ms, eval_ms);
        let inside: Vec<FPoint> = points.iter().copied().filter(|p| p.t > start && p.t <= end).collect();
        let mut issues = Vec::new();
        let got = eval(func, &RangeWindow { points: &inside, start, end }, eval_ms, params, &mut issues);
        (got, issues)
    }

    #[track_caller]
    fn check(func: RangeFunction, points: &[FPoint], eval_ms: i64, range_ms: i64, params: &[f64], want: Option<f64>) {
        let (got, issues) = run(func, points, eval_ms, range_ms, params);
        let same = match (got, want) {
            (Some(g), Some(w)) => (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= 1e-12 * w.abs().max(1e-300),
            (g, w) => g == w,
        };
        assert!(same, "{}(.., eval {eval_ms} ms, range {range_ms} ms) = {got:?}, want {want:?}", func.name());
        if func != RangeFunction::QuantileOverTime {
            assert!(issues.is_empty(), "unexpected {issues:?}");
        }
    }

    const M: i64 = 60_000;
    const S: i64 = 1_000;

    #[test]
    fn increase_and_rate_extrapolation() {
        use RangeFunction::*;
        // functions.test: increase(http_requests_total[50m]) and [100m] at 50m.
        let foo = series(5 * M, &vals(&ramp(0.0, 10.0, 10)));
        let mut bar_values = ramp(0.0, 18.0, 5);
        bar_values.extend(ramp(0.0, 18.0, 5));
        let bar = series(5 * M, &vals(&bar_values));
        let dings = series(5 * M, &vals(&ramp(10.0, 10.0, 10)));
        let bumms = series(5 * M, &vals(&ramp(1.0, 10.0, 10)));
        check(Increase, &foo, 50 * M, 50 * M, &[], Some(100.0));
        check(Increase, &bar, 50 * M, 50 * M, &[], Some(160.0));
        check(Increase, &dings, 50 * M, 50 * M, &[], Some(100.0));
        check(Increase, &bumms, 50 * M, 50 * M, &[], Some(100.0));
        check(Increase, &foo, 50 * M, 100 * M, &[], Some(100.0));
        check(Increase, &bar, 50 * M, 100 * M, &[], Some(162.0));
        check(Increase, &dings, 50 * M, 100 * M, &[], Some(105.0));
        check(Increase, &bumms, 50 * M, 100 * M, &[], Some(101.0));
        // Counter reset: 0 1 2 3 2 3 4 reads as 3 0 1 2 ...
        let reset = series(5 * M, &vals(&[0.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0]));
        check(Increase, &reset, 30 * M, 30 * M, &[], Some(7.0));
        // rate: reset in the middle, reset at the end.
        let mut middle = ramp(0.0, 27.0, 4);
        middle.extend(ramp(0.0, 27.0, 5));
        check(Rate, &series(5 * M, &vals(&middle)), 50 * M, 50 * M, &[], Some(0.08));
        let mut end = ramp(0.0, 10.0, 9);
        end.extend([0.0, 10.0]);
        let end = series(5 * M, &vals(&end));
        check(Rate, &end, 50 * M, 5 * M, &[], None);
        check(Rate, &end, 50 * M, 6 * M, &[], Some(0.0));
        check(Rate, &series(5 * M, &vals(&ramp(0.0, 80.0, 10))), 50 * M, 50 * M, &[], Some(0.26666666666666666));
        // Zero cutoff of the left extrapolation (load 4m, 60·k + 240x10).
        for (k, at10, at50) in [(0, 0.5, 0.6), (1, 0.55, 0.6), (2, 0.6, 0.6), (5, 0.6, 0.6)] {
            let s = series(4 * M, &vals(&ramp(60.0 * k as f64, 240.0, 10)));
            check(Rate, &s, 10 * M, 20 * M, &[], Some(at10));
            check(Rate, &s, 50 * M, 20 * M, &[], Some(at50));
        }
        // Fewer than two samples.
        check(Rate, &foo, 50 * M, 5 * M, &[], None); // (45m, 50m] holds only the 50m sample
    }

    #[test]
    fn delta_irate_idelta() {
        use RangeFunction::*;
        let up = series(5 * M, &vals(&[0.0, 50.0, 100.0, 150.0, 200.0]));
        let down = series(5 * M, &vals(&[200.0, 150.0, 100.0, 50.0, 0.0]));
        check(Delta, &up, 20 * M, 20 * M, &[], Some(200.0));
        check(Delta, &down, 20 * M, 20 * M, &[], Some(-200.0));
        let foo = series(5 * M, &vals(&ramp(0.0, 10.0, 10)));
        let mut bar = ramp(0.0, 10.0, 5);
        bar.extend(ramp(0.0, 10.0, 5));
        let bar = series(5 * M, &vals(&bar));
        check(Irate, &foo, 50 * M, 50 * M, &[], Some(10.0 / 300.0));
        check(Irate, &bar, 50 * M, 50 * M, &[], Some(10.0 / 300.0));
        check(Irate, &bar, 30 * M, 50 * M, &[], Some(0.0));
        // 1 NaN NaN 5 11 over [15m1s], steps 0..20m.
        let nan = series(5 * M, &vals(&[1.0, NAN, NAN, 5.0, 11.0]));
        let window = 15 * M + S;
        check(Irate, &nan, 0, window, &[], None);
        for at in [5, 10, 15] {
            check(Irate, &nan, at * M, window, &[], Some(NAN));
            check(Idelta, &nan, at * M, window, &[], Some(NAN));
        }
        check(Irate, &nan, 20 * M, window, &[], Some(0.02));
        check(Idelta, &nan, 20 * M, window, &[], Some(6.0));
        let idelta = series(5 * M, &vals(&[0.0, 50.0, 100.0, 50.0]));
        check(Idelta, &idelta, 20 * M, 20 * M, &[], Some(-50.0));
        check(Idelta, &idelta, 20 * M, 5 * M, &[], None);
    }

    #[test]
    fn deriv_and_predict_linear() {
        use RangeFunction::*;
        let mut v = ramp(0.0, 10.0, 4);
        v.extend(ramp(0.0, 10.0, 5));
        let reset_middle = series(5 * M, &vals(&v));
        check(Deriv, &reset_middle, 50 * M, 100 * M, &[], Some(0.010606060606060607));
        check(Deriv, &series(5 * M, &vals(&ramp(0.0, 80.0, 10))), 50 * M, 50 * M, &[], Some(0.26666666666666666));
        check(PredictLinear, &reset_middle, 50 * M, 50 * M, &[3600.0], Some(70.0));
        // `[55m] @ 3000` evaluated at 50m, 10m and 70m: the window stays, the intercept moves.
        for (eval_s, want) in [(3000, 76.81818181818181), (600, 51.36363636363637), (4200, 89.54545454545455)] {
            let inside: Vec<FPoint> =
                reset_middle.iter().copied().filter(|p| p.t > -300 * S && p.t <= 3000 * S).collect();
            let w = RangeWindow { points: &inside, start: -300 * S, end: 3000 * S };
            let got = eval(PredictLinear, &w, eval_s * S, &[3600.0], &mut Vec::new()).unwrap();
            assert!((got - want).abs() < 1e-9, "at {eval_s}: {got} vs {want}");
        }
        // ±Inf samples make the fit NaN; a constant series has slope 0, a constant Inf NaN.
        let mut inf = vec![-INF];
        inf.extend(ramp(0.0, 80.0, 10));
        inf.push(INF);
        let inf = series(5 * M, &vals(&inf));
        check(Deriv, &inf, 100 * M, 100 * M, &[], Some(NAN));
        check(PredictLinear, &inf, 100 * M, 100 * M, &[6000.0], Some(NAN));
        let flat = series(M, &vals(&[3.0, 3.0, 3.0]));
        check(Deriv, &flat, 2 * M, 5 * M, &[], Some(0.0));
        check(PredictLinear, &flat, 2 * M, 5 * M, &[100.0], Some(3.0));
        check(Deriv, &series(M, &vals(&[INF, INF])), M, 5 * M, &[], Some(NAN));
        check(Deriv, &flat, 2 * M, M, &[], None);
    }

    #[test]
    fn resets_and_changes() {
        use RangeFunction::*;
        let foo = series(5 * M, &vals(&[1.0, 2.0, 3.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0]));
        let bar = series(5 * M, &vals(&[1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
        let biz = series(5 * M, &vals(&[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]));
        for (range, foo_r, bar_r) in [(10, 0.0, 0.0), (20, 1.0, 0.0), (30, 1.0, 0.0), (32, 2.0, 1.0), (50, 3.0, 1.0)] {
            check(Resets, &foo, 50 * M, range * M, &[], Some(foo_r));
            check(Resets, &bar, 50 * M, range * M, &[], Some(bar_r));
            check(Resets, &biz, 50 * M, range * M, &[], Some(0.0));
        }
        check(Resets, &foo, 50 * M, 5 * M, &[], None);
        for (range, foo_c, bar_c, biz_c) in
            [(6, 0.0, 0.0, 0.0), (20, 2.0, 2.0, 0.0), (30, 3.0, 4.0, 0.0), (50, 7.0, 8.0, 1.0)]
        {
            check(Changes, &foo, 50 * M, range * M, &[], Some(foo_c));
            check(Changes, &bar, 50 * M, range * M, &[], Some(bar_c));
            check(Changes, &biz, 50 * M, range * M, &[], Some(biz_c));
        }
        // NaN → NaN is no change; number ↔ NaN is.
        check(Changes, &series(5 * M, &vals(&[NAN, NAN, NAN])), 15 * M, 20 * M, &[], Some(0.0));
        check(Changes, &series(5 * M, &vals(&[0.0, NAN, 0.0])), 15 * M, 20 * M, &[], Some(2.0));
        check(Resets, &series(5 * M, &vals(&[1.0, NAN, 0.0])), 15 * M, 20 * M, &[], Some(0.0));
    }

    #[test]
    fn double_exponential_smoothing_trends() {
        use RangeFunction::DoubleExponentialSmoothing as Des;
        let p = [0.01, 0.1];
        // load 10s 0+10x1000 100+30x1000, and friends, at 8000s over [1m].
        for slope in [10.0, 20.0, 30.0, 40.0] {
            let s = series(10 * S, &vals(&ramp(0.0, slope, 1000)));
            check(Des, &s, 8000 * S, M, &p, Some(800.0 * slope));
        }
        let falling = series(10 * S, &vals(&ramp(8000.0, -10.0, 1000)));
        check(Des, &falling, 8000 * S, M, &p, Some(0.0));
        // Invalid factors give nothing (the evaluator raises the error); NaN passes.
        let s = series(10 * S, &vals(&ramp(0.0, 10.0, 10)));
        for bad in [[0.0, 0.5], [1.0, 0.5], [0.5, 0.0], [0.5, 1.5]] {
            check(Des, &s, 100 * S, M, &bad, None);
            assert!(validate_smoothing_params(bad[0], bad[1]).is_err());
        }
        check(Des, &s, 100 * S, M, &[NAN, 0.5], Some(NAN));
        check(Des, &s, 100 * S, 10 * S, &p, None);
        assert_eq!(
            validate_smoothing_params(1.0, 0.5).unwrap_err().to_string(),
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
        );
        assert_eq!(
            validate_smoothing_params(0.5, -0.25).unwrap_err().to_string(),
            "invalid trend factor. Expected: 0 < tf < 1, got: -0.250000"
        );
    }

    #[test]
    fn avg_sum_count_over_time() {
        use RangeFunction::*;
        let at = 55 * S;
        let cases: &[(&[f64], f64, f64)] = &[
            (&[1.0, 2.0, 3.0, 4.0, 5.0], 3.0, 15.0),
            (&[1.0, 2.0, 3.0, 4.0, INF], INF, INF),
            (&[1.0, 2.0, 3.0, 4.0, -INF], -INF, -INF),
            (&[1.0, 2.0, 3.0, INF, -INF], NAN, NAN),
            (&[INF, 0.0, INF], INF, INF),
            (&[INF, INF, INF, -INF], NAN, NAN),
            (&[1.0, 2.0, 3.0, -INF, -INF], -INF, -INF),
            (&[-INF, 0.0, -INF], -INF, -INF),
            (&[-INF, -INF, -INF, INF], NAN, NAN),
            (&[1.0, 2.0, -INF, -INF, INF], NAN, NAN),
            (&[9.988465674311579e307, 9.988465674311579e307], 9.988465674311579e307, INF),
            (&[-9.988465674311579e307; 3], -9.988465674311579e307, -INF),
            (&[-9.988465674311579e307, 9.988465674311579e307], 0.0, 0.0),
            (&[1.0, 2.0, 3.0, NAN, NAN], NAN, NAN),
            (&[1e10, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6], 1.6666666666666675e9, 1.0000000000000005e10),
            (&[1.78264e50, 0.76342771, 1.9592258, 7.69805412, 458.90154], 3.56528e49, 1.78264e50),
            (
                &[1.78264E+50, 0.76342771, 1.9592258, 2.258E+220, 7.69805412, 458.90154],
                3.76333333333333E+219,
                2.258E+220,
            ),
            (
                &[-1.78264E+215, 0.76342771, 1.9592258, 2.258E+220, 7.69805412, -458.90154],
                3.76330362266667E+219,
                2.25798217360000E+220,
            ),
            (
                &[
                    -1.78264E+219,
                    0.76342771,
                    1.9592258,
                    2.3757689E+217,
                    -2.3757689E+217,
                    2.258E+220,
                    7.69805412,
                    1.78264E+219,
                    -458.90154,
                ],
                2.5088888888888888e219,
                2.258E+220,
            ),
        ];
        for (values, avg, sum) in cases {
            let step = if values.len() > 5 { 5 * S } else { 10 * S };
            let s = series(step, &vals(values));
            let tol = |want: f64, got: f64| {
                (want.is_nan() && got.is_nan()) || want == got || (got - want).abs() <= 1e-13 * want.abs()
            };
            let got_avg = run(AvgOverTime, &s, at, M, &[]).0.unwrap();
            let got_sum = run(SumOverTime, &s, at, M, &[]).0.unwrap();
            assert!(tol(*avg, got_avg), "avg {values:?} = {got_avg}, want {avg}");
            assert!(tol(*sum, got_sum), "sum {values:?} = {got_sum}, want {sum}");
            check(CountOverTime, &s, at, M, &[], Some(values.len() as f64));
        }
        // The large values cancel exactly but even Kahan loses the small ones: 0, as Prometheus.
        let s = series(
            5 * S,
            &vals(&[
                -2.258E+220,
                -1.78264E+219,
                0.76342771,
                1.9592258,
                2.3757689E+217,
                -2.3757689E+217,
                2.258E+220,
                7.69805412,
                1.78264E+219,
                -458.90154,
            ]),
        );
        check(AvgOverTime, &s, at, M, &[], Some(0.0));
        // Kahan keeps the small values beside huge ones.
        let s = series(10 * S, &vals(&[1.0, 1e100, 1.0, -1e100]));
        check(SumOverTime, &s, M, 2 * M, &[], Some(2.0));
        check(AvgOverTime, &s, M, 2 * M, &[], Some(0.5));
        // Direct mean of a constant is exact.
        let s = series(10 * S, &vals(&[52.0; 101]));
        for range in [100, 110, 120, 130] {
            check(AvgOverTime, &s, 10 * M, range * S, &[], Some(52.0));
        }
        // Dense samples: 1ms apart, 1+0x4000.
        let s = series(1, &vals(&[1.0; 4001]));
        for range in [1000, 1001, 1002, 1003, 2000, 3003] {
            check(SumOverTime, &s, 4 * S, range, &[], Some(range as f64));
        }
        check(AvgOverTime, &s, 4 * S, 0, &[], None);
        check(AvgOverTime, &series(10 * S, &vals(&[1.0, 2.0, 3.0, 4.0, 5.0])), at, 20 * S, &[], Some(5.0));
        check(AvgOverTime, &series(10 * S, &vals(&[1.0, 2.0, 3.0, NAN, NAN])), 20 * S, M, &[], Some(2.0));
    }

    #[test]
    fn variance_and_mad() {
        use RangeFunction::*;
        let s = series(10 * S, &vals(&[0.0, 8.0, 8.0, 2.0, 3.0]));
        check(StdvarOverTime, &s, M, 2 * M, &[], Some(10.56));
        check(StddevOverTime, &s, M, 2 * M, &[], Some(10.56f64.sqrt()));
        let s = series(10 * S, &vals(&[1.5990505637277868; 3]));
        check(StdvarOverTime, &s, 55 * S, M, &[], Some(0.0));
        check(StddevOverTime, &s, 55 * S, M, &[], Some(0.0));
        check(StdvarOverTime, &series(10 * S, &vals(&[7.0])), 0, 10 * S, &[], Some(0.0));
        let s = series(10 * S, &vals(&[4.0, 6.0, 2.0, 1.0, 999.0, 1.0, 2.0]));
        check(MadOverTime, &s, 70 * S, 70 * S, &[], Some(1.0));
        check(MadOverTime, &series(10 * S, &vals(&[1.0, 2.0, 3.0, 4.0, 5.0])), 40 * S, 50 * S, &[], Some(1.0));
        check(MadOverTime, &series(10 * S, &vals(&[7.0; 5])), 40 * S, 50 * S, &[], Some(0.0));
        check(MadOverTime, &series(10 * S, &vals(&[5.0])), 0, 10 * S, &[], Some(0.0));
        check(MadOverTime, &series(10 * S, &vals(&[1.0, 2.0, NAN, 4.0])), 30 * S, 40 * S, &[], Some(NAN));
    }

    #[test]
    fn extremes_first_last_timestamps() {
        use RangeFunction::*;
        let step = 10 * S;
        for (values, min, max) in [
            (vec![2.0, 0.0, 3.0], 0.0, 3.0),
            (vec![2.0, 0.0, NAN], 0.0, 2.0),
            (vec![2.0, NAN, 1.0], 1.0, 2.0),
            (vec![NAN, 0.0, 1.0], 0.0, 1.0),
            (vec![NAN, NAN, NAN], NAN, NAN),
        ] {
            let s = series(step, &vals(&values));
            check(MinOverTime, &s, M, 2 * M, &[], Some(min));
            check(MaxOverTime, &s, M, 2 * M, &[], Some(max));
            check(FirstOverTime, &s, M, 2 * M, &[], Some(values[0]));
            check(LastOverTime, &s, M, 2 * M, &[], Some(values[2]));
            check(PresentOverTime, &s, M, 2 * M, &[], Some(1.0));
        }
        let sparse = series(step, &[None, Some(5.0), Some(2.0), None, Some(4.0), None]);
        check(MinOverTime, &sparse, M, 2 * M, &[], Some(2.0));
        check(MaxOverTime, &sparse, M, 2 * M, &[], Some(5.0));
        check(FirstOverTime, &sparse, M, 2 * M, &[], Some(5.0));
        check(LastOverTime, &sparse, M, 2 * M, &[], Some(4.0));
        check(CountOverTime, &sparse, M, 2 * M, &[], Some(3.0));
        check(PresentOverTime, &sparse, 5 * M, M, &[], None);
        // Odd interval (10.053 s) to catch rounding in the seconds.
        let odd = series(10_053, &vals(&[1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 2.0, 1.0, 4.0]));
        check(TsOfMinOverTime, &odd, 90 * S, 90 * S, &[], Some(30.159));
        check(TsOfMaxOverTime, &odd, 90 * S, 90 * S, &[], Some(50.265));
        let ties = series(10 * S, &vals(&[1.0, 3.0, 1.0, 3.0]));
        check(TsOfMinOverTime, &ties, 30 * S, M, &[], Some(20.0));
        check(TsOfMaxOverTime, &ties, 30 * S, M, &[], Some(30.0));
        let last = series(10_053, &[Some(1.0), Some(2.0), Some(3.0), None, None]);
        check(TsOfLastOverTime, &last, 90 * S, 90 * S, &[], Some(20.106));
        check(TsOfLastOverTime, &last, 95 * S, 90 * S, &[], Some(20.106));
        let first = series(10_053, &[None, None, Some(1.0), Some(2.0), Some(3.0), None, None]);
        check(TsOfFirstOverTime, &first, 90 * S, 90 * S, &[], Some(20.106));
        check(TsOfFirstOverTime, &first, 15 * S, 90 * S, &[], None);
    }

    #[test]
    fn quantile_over_time_annotates_bad_quantiles() {
        use RangeFunction::QuantileOverTime as Q;
        let two = series(10 * S, &vals(&[0.0, 1.0]));
        let three = series(10 * S, &vals(&[0.0, 1.0, 2.0]));
        let uneven = series(10 * S, &vals(&[0.0, 1.0, 4.0]));
        for (q, a, b, c) in [
            (0.0, 0.0, 0.0, 0.0),
            (0.5, 0.5, 1.0, 1.0),
            (0.75, 0.75, 1.5, 2.5),
            (0.8, 0.8, 1.6, 2.8),
            (1.0, 1.0, 2.0, 4.0),
            (-1.0, -INF, -INF, -INF),
            (2.0, INF, INF, INF),
        ] {
            for (s, want) in [(&two, a), (&three, b), (&uneven, c)] {
                check(Q, s, M, 2 * M, &[q], Some(want));
                let (_, issues) = run(Q, s, M, 2 * M, &[q]);
                let want_issues =
                    if (0.0..=1.0).contains(&q) { vec![] } else { vec![AnnotationKind::InvalidQuantile(q)] };
                assert_eq!(issues, want_issues);
            }
        }
        let (got, issues) = run(Q, &two, M, 2 * M, &[NAN]);
        assert!(got.unwrap().is_nan());
        assert!(matches!(issues[..], [AnnotationKind::InvalidQuantile(q)] if q.is_nan()));
        // No samples: no value and no annotation.
        assert_eq!(run(Q, &two, 10 * M, M, &[2.0]), (None, vec![]));
    }

    /// Runs an anchored/smoothed `increase` at `eval_ms` over 1m: supplies the samples in
    /// the window, the last one at or before its start, and (smoothed) the first after it.
    fn extended(points: &[FPoint], eval_ms: i64, smoothed: bool) -> Option<f64> {
        let (start, end) = (eval_ms - M, eval_ms);
        let before = points.iter().rposition(|p| p.t <= start);
        let after = points.iter().position(|p| p.t > end);
        let from = before.unwrap_or(0);
        let to = if smoothed { after.map_or(points.len(), |i| i + 1) } else { after.unwrap_or(points.len()) };
        extended_rate(&points[from..to], start, end, true, false, smoothed)
    }

    #[test]
    fn anchored_and_smoothed_increase() {
        // extended_vectors.test: load 15s, metric 1+1x4 9+1x4, increase(metric[1m] …).
        let mut v = ramp(1.0, 1.0, 4);
        v.extend(ramp(9.0, 1.0, 4));
        let full = series(15 * S, &vals(&v));
        let anchored = [0.0, 1.0, 2.0, 3.0, 4.0, 7.0, 7.0, 7.0, 7.0];
        let smoothed = [1.0 / 3.0, 4.0 / 3.0, 7.0 / 3.0, 10.0 / 3.0, 5.0, 7.0, 7.0, 7.0, 6.0];
        for (i, at) in (5..=125).step_by(15).enumerate() {
            let got = extended(&full, at * S, false).unwrap();
            assert!((got - anchored[i]).abs() < 1e-9, "anchored at {at}s: {got}");
            let got = extended(&full, at * S, true).unwrap();
            assert!((got - smoothed[i]).abs() < 1e-9, "smoothed at {at}s: {got}");
        }
        // Partial dataset: 1+1x2 _ _ 9+1x4.
        let mut v: Vec<Option<f64>> = vals(&ramp(1.0, 1.0, 2));
        v.extend([None, None]);
        v.extend(vals(&ramp(9.0, 1.0, 4)));
        let partial = series(15 * S, &v);
        let anchored = [0.0, 1.0, 2.0, 2.0, 2.0, 7.0, 7.0, 8.0, 9.0];
        let smoothed =
            [1.0 / 3.0, 4.0 / 3.0, 8.0 / 3.0, 14.0 / 3.0, 19.0 / 3.0, 7.0, 20.0 / 3.0, 17.0 / 3.0, 14.0 / 3.0];
        for (i, at) in (5..=125).step_by(15).enumerate() {
            let got = extended(&partial, at * S, false).unwrap();
            assert!((got - anchored[i]).abs() < 1e-9, "partial anchored at {at}s: {got}");
            let got = extended(&partial, at * S, true).unwrap();
            assert!((got - smoothed[i]).abs() < 1e-9, "partial smoothed at {at}s: {got}");
        }
        // Left-open: 1 2 _ 4 5 at 1m steps, at 2m.
        let gap = series(M, &[Some(1.0), Some(2.0), None, Some(4.0), Some(5.0)]);
        assert_eq!(extended(&gap, 2 * M, true), Some(1.0));
        assert_eq!(extended(&gap, 2 * M, false), None);
        // Counter resets at 1m30s: 1+1x4 1+1x4, 3 2+2x9, 5+3x2 3+3x6.
        for (values, want) in [
            ([1.0, 2.0, 3.0, 4.0, 5.0, 1.0].to_vec(), 1.0),
            ([3.0, 2.0, 4.0, 6.0].to_vec(), 2.0),
            ([5.0, 8.0, 11.0, 3.0].to_vec(), 3.0),
        ] {
            let s = series(M, &vals(&values));
            assert_eq!(extended(&s, 90 * S, true), Some(want), "{values:?} smoothed");
            assert_eq!(extended(&s, 90 * S, false), Some(want), "{values:?} anchored");
        }
        assert_eq!(anchored_start(&full, 20 * S), Some(1));
        assert_eq!(anchored_start(&full, -5 * S), Some(0));
        assert_eq!(anchored_start(&full, 135 * S), None);
        assert_eq!(extended_rate(&[], 0, M, true, true, false), None);
        let rate = extended_rate(&full[..3], -30 * S, 30 * S, true, true, false).unwrap();
        assert_eq!(rate, 2.0 / 60.0);
    }

    #[test]
    fn empty_windows_give_nothing() {
        for func in RangeFunction::ALL {
            let w = RangeWindow { points: &[], start: 0, end: M };
            assert_eq!(eval(func, &w, M, &[0.5, 0.5], &mut Vec::new()), None, "{}", func.name());
        }
    }
}
