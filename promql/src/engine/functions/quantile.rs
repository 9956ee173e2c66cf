//! `quantile`, `quantile_over_time`, `mad_over_time` and classic `histogram_quantile`.

use std::cmp::Ordering;

use super::{Bucket, MonotonicityFix};

/// Relative differences between neighbouring bucket counts up to this size are taken for
/// floating-point noise (they come from summing rates in different orders) and ignored.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// Orders NaN below every number, the way Prometheus sorts values for quantiles.
#[inline]
fn nan_first(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        // Neither is NaN, so the comparison is defined.
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

pub(super) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let n = values.len();
    let rank = q * (n - 1) as f64;
    let lower = rank.floor().max(0.0) as usize;
    let upper = (lower + 1).min(n - 1);
    let weight = rank - rank.floor();
    // Only the two order statistics around the rank are needed: select instead of sort.
    let (_, lo, rest) = values.select_nth_unstable_by(lower, nan_first);
    let lo = *lo;
    let hi = if upper == lower { lo } else { rest.iter().copied().min_by(nan_first).unwrap_or(lo) };
    // Written as Prometheus writes it, so `Inf * 0` gives the same NaN.
    lo * (1.0 - weight) + hi * weight
}

/// Whether `a` and `b` differ by less than `epsilon` relative to their magnitude (absolute
/// near zero, where relative differences mean nothing).
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Go's `sort.Search`: the first index in `0..n` where `pred` holds, assuming it is
/// monotonic; the same bisection, so non-monotonic inputs (NaN counts) land where they do
/// in Prometheus.
fn search(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = i + (j - i) / 2;
        if pred(h) {
            j = h;
        } else {
            i = h + 1;
        }
    }
    i
}

pub(super) fn bucket_quantile(q: f64, buckets: &mut [Bucket]) -> (f64, Option<MonotonicityFix>) {
    let nan = (f64::NAN, None);
    if q.is_nan() {
        return nan;
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, None);
    }
    if q > 1.0 {
        return (f64::INFINITY, None);
    }
    buckets.sort_by(|a, b| a.upper_bound.partial_cmp(&b.upper_bound).unwrap_or(Ordering::Equal));
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return nan,
    }
    let buckets = coalesce(buckets);
    let fix = ensure_monotonic(buckets);
    let n = buckets.len();
    if n < 2 {
        return nan;
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return nan;
    }
    let mut rank = q * observations;
    let b = search(n - 1, |i| buckets[i].count >= rank);
    let value = if b == n - 1 {
        buckets[n - 2].upper_bound
    } else if b == 0 && buckets[0].upper_bound <= 0.0 {
        buckets[0].upper_bound
    } else {
        let end = buckets[b].upper_bound;
        let mut count = buckets[b].count;
        let mut start = 0.0;
        if b > 0 {
            start = buckets[b - 1].upper_bound;
            count -= buckets[b - 1].count;
            rank -= buckets[b - 1].count;
        }
        start + (end - start) * (rank / count)
    };
    (value, fix)
}

pub(super) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [Bucket]) -> f64 {
    buckets.sort_by(|a, b| a.upper_bound.partial_cmp(&b.upper_bound).unwrap_or(Ordering::Equal));
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    let buckets = coalesce(buckets);
    ensure_monotonic(buckets);
    let total = buckets[buckets.len() - 1].count;
    if total == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    // The rank (observations below) of `x` inside the bucket (lo, hi] holding `count`,
    // given `rank` below `lo`. Observations in an infinitely wide bucket sit at its
    // infinite end, so no part of it is interpolated.
    let rank_at = |x: f64, lo: f64, hi: f64, count: f64, rank: f64| -> f64 {
        if lo == f64::NEG_INFINITY {
            rank + count
        } else if hi == f64::INFINITY {
            rank
        } else {
            rank + count * (x - lo) / (hi - lo)
        }
    };
    let (mut lower_rank, mut upper_rank) = (None, None);
    let mut rank = 0.0;
    let mut prev_count = 0.0;
    for (i, b) in buckets.iter().enumerate() {
        // The first bucket starts at 0 when its bound is positive, as in histogram_quantile.
        let lo = match i {
            0 if b.upper_bound > 0.0 => 0.0,
            0 => f64::NEG_INFINITY,
            _ => buckets[i - 1].upper_bound,
        };
        let hi = b.upper_bound;
        let count = b.count - prev_count;
        prev_count = b.count;
        for (x, r) in [(lower, &mut lower_rank), (upper, &mut upper_rank)] {
            if r.is_none() && lo >= x {
                *r = Some(rank);
            } else if r.is_none() && lo < x && hi > x {
                *r = Some(rank_at(x, lo, hi, count, rank));
            }
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank += count;
    }
    let clamp = |r: Option<f64>| r.filter(|r| *r <= total).unwrap_or(total);
    (clamp(upper_rank) - clamp(lower_rank)) / total
}

/// Merges sorted buckets with equal bounds (adding their counts); returns the merged prefix.
fn coalesce(buckets: &mut [Bucket]) -> &mut [Bucket] {
    let mut last = buckets[0];
    let mut i = 0;
    for j in 1..buckets.len() {
        let b = buckets[j];
        if b.upper_bound == last.upper_bound {
            last.count += b.count;
        } else {
            buckets[i] = last;
            last = b;
            i += 1;
        }
    }
    buckets[i] = last;
    &mut buckets[..=i]
}

/// Ignores numerically insignificant differences between neighbouring counts (either
/// direction), then lifts every decrease to the running maximum. Describes the real
/// decreases that had to be lifted, if any.
fn ensure_monotonic(buckets: &mut [Bucket]) -> Option<MonotonicityFix> {
    let mut fix: Option<MonotonicityFix> = None;
    let mut prev = buckets[0].count;
    for b in &mut buckets[1..] {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            b.count = prev;
            continue;
        }
        if curr < prev {
            b.count = prev;
            let f = fix.get_or_insert(MonotonicityFix {
                min_bucket: f64::INFINITY,
                max_bucket: f64::NEG_INFINITY,
                max_diff: 0.0,
            });
            f.min_bucket = f.min_bucket.min(b.upper_bound);
            f.max_bucket = f.max_bucket.max(b.upper_bound);
            f.max_diff = f.max_diff.max(prev - curr);
            continue;
        }
        prev = curr;
    }
    fix
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // values as the conformance scripts write them
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[track_caller]
    fn check_q(q: f64, values: &[f64], want: f64) {
        let got = quantile(q, &mut values.to_vec());
        let same = got == want || (got.is_nan() && want.is_nan()) || (got - want).abs() <= 1e-12 * want.abs();
        assert!(same, "quantile({q}, {values:?}) = {got}, want {want}");
    }

    #[test]
    fn quantile_table() {
        // functions.test, quantile_over_time.
        check_q(0.0, &[0.0, 1.0], 0.0);
        check_q(0.5, &[0.0, 1.0], 0.5);
        check_q(0.75, &[0.0, 1.0, 2.0], 1.5);
        check_q(0.8, &[0.0, 1.0, 4.0], 2.8);
        check_q(1.0, &[4.0, 0.0, 1.0], 4.0);
        check_q(-1.0, &[0.0, 1.0], f64::NEG_INFINITY);
        check_q(2.0, &[0.0, 1.0], f64::INFINITY);
        check_q(f64::NAN, &[0.0, 1.0], f64::NAN);
        check_q(0.5, &[], f64::NAN);
        check_q(0.5, &[7.0], 7.0);
        // NaN sorts first: the median of {NaN, 1, 2, 4} is between 1 and 2.
        check_q(0.5, &[1.0, 2.0, f64::NAN, 4.0], 1.5);
        check_q(0.0, &[1.0, f64::NAN], f64::NAN);
        // Inf * 0 weight is NaN, as in Prometheus.
        check_q(1.0, &[1.0, f64::INFINITY], f64::NAN);
        check_q(0.5, &[f64::NEG_INFINITY, f64::INFINITY, 0.0], f64::NAN); // 0 * 1 + Inf * 0
        check_q(0.5, &[f64::NEG_INFINITY, f64::INFINITY, 1.0, 0.0], 0.5);
    }

    fn naive(q: f64, values: &[f64]) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(nan_first);
        let n = v.len() as f64;
        let rank = q * (n - 1.0);
        let lo = rank.floor().max(0.0);
        let hi = (lo + 1.0).min(n - 1.0);
        let w = rank - rank.floor();
        v[lo as usize] * (1.0 - w) + v[hi as usize] * w
    }

    proptest! {
        #[test]
        fn quantile_matches_sorting(
            values in prop::collection::vec(prop_oneof![8 => -1e6f64..1e6, 1 => Just(f64::NAN), 1 => Just(0.0f64)], 1..40),
            q in 0.0f64..=1.0,
        ) {
            let want = naive(q, &values);
            let got = quantile(q, &mut values.clone());
            prop_assert!(got.to_bits() == want.to_bits() || got == want, "{got} vs {want}");
        }
    }

    fn b(upper_bound: f64, count: f64) -> Bucket {
        Bucket { upper_bound, count }
    }

    #[track_caller]
    fn check_b(q: f64, buckets: &[Bucket], want: f64, want_forced: bool) {
        let (value, fix) = bucket_quantile(q, &mut buckets.to_vec());
        let same = value == want || (value.is_nan() && want.is_nan()) || (value - want).abs() < 1e-9;
        assert!(same, "bucket_quantile({q}) = {value}, want {want}");
        assert_eq!(fix.is_some(), want_forced, "forced");
    }

    #[track_caller]
    fn check_f(lower: f64, upper: f64, buckets: &[Bucket], want: f64) {
        let got = bucket_fraction(lower, upper, &mut buckets.to_vec());
        let same = got == want || (got.is_nan() && want.is_nan()) || (got - want).abs() < 1e-12;
        assert!(same, "bucket_fraction({lower}, {upper}) = {got}, want {want}");
    }

    #[test]
    fn bucket_fraction_table() {
        let inf = f64::INFINITY;
        // histograms.test's classic histogram_fraction cases.
        let pos = [b(1.0, 1.0), b(2.0, 3.0), b(3.0, 6.0), b(inf, 100.0)];
        let neg = [b(-3.0, 10.0), b(-2.0, 12.0), b(-1.0, 15.0), b(inf, 100.0)];
        check_f(0.0, 1.5, &pos, 0.02);
        check_f(-4.0, -2.0, &neg, 0.02);
        check_f(-inf, -1.5, &neg, 0.135);
        check_f(-inf, inf, &pos, 1.0);
        check_f(-inf, inf, &neg, 1.0);
        check_f(4.0, 5.0, &pos, 0.0);
        check_f(0.0, 1.0, &neg, 0.0);
        check_f(2.0, 400.0, &pos, 0.03);
        check_f(400.0, inf, &pos, 0.94);
        check_f(2.0, 2.0, &pos, 0.0);
        check_f(3.0, 2.0, &pos, 0.0);
        check_f(0.0, 5.0, &[b(inf, 100.0)], 0.0);
        check_f(0.0, 5.0, &[b(1.0, 0.0), b(2.0, 0.0), b(inf, 0.0)], f64::NAN);
        check_f(2.0, 3.5, &pos, 0.03);
        check_f(0.5, 2.0, &pos, 0.025);
        check_f(f64::NAN, 2.0, &pos, f64::NAN);
        // testhistogram3 at 50m.
        let positive = [b(0.0, 0.0), b(0.1, 50.0), b(0.2, 70.0), b(1.0, 110.0), b(inf, 110.0)];
        let negative = [b(-0.25, 0.0), b(-0.2, 10.0), b(-0.1, 20.0), b(0.3, 20.0), b(inf, 20.0)];
        check_f(0.0, 0.2, &positive, 0.6363636363636364);
        check_f(0.0, 0.2, &negative, 0.0);
        check_f(0.0, 2.0, &[b(1.0, 1.0), b(2.0, 3.0)], f64::NAN);
        check_f(0.0, 2.0, &[], f64::NAN);
        // testhistogram2 (buckets 0, 2, 4, 6 with 1 observation each... scaled): 0..4 is 2/3.
        check_f(0.0, 4.0, &[b(0.0, 0.0), b(2.0, 1.0), b(4.0, 2.0), b(6.0, 3.0), b(inf, 3.0)], 2.0 / 3.0);
        check_f(0.0, 3.5, &[b(0.0, 0.0), b(2.0, 1.0), b(4.0, 2.0), b(6.0, 3.0), b(inf, 3.0)], 0.5833333333333334);
    }

    #[test]
    fn bucket_quantile_table() {
        let inf = f64::INFINITY;
        // histograms.test, nonmonotonic_bucket at 50m: counts 20 10 50 40 90 80.
        let nonmono = [b(0.1, 20.0), b(1.0, 10.0), b(10.0, 50.0), b(100.0, 40.0), b(1000.0, 90.0), b(inf, 80.0)];
        check_b(0.01, &nonmono, 0.0045, true);
        check_b(0.5, &nonmono, 8.5, true);
        check_b(0.99, &nonmono, 979.75, true);
        // Unsorted input, rank in the +Inf bucket gives the second-highest bound.
        let plain = [b(inf, 10.0), b(1.0, 5.0), b(2.0, 8.0)];
        check_b(0.5, &plain, 1.0, false);
        check_b(0.65, &plain, 1.5, false);
        check_b(0.95, &plain, 2.0, false);
        check_b(0.0, &plain, 0.0, false);
        check_b(1.0, &plain, 2.0, false);
        // q outside [0, 1], NaN q.
        check_b(-0.1, &plain, f64::NEG_INFINITY, false);
        check_b(1.1, &plain, inf, false);
        check_b(f64::NAN, &plain, f64::NAN, false);
        // No +Inf bucket, a single bucket, zero observations.
        check_b(0.5, &[b(1.0, 1.0), b(2.0, 2.0)], f64::NAN, false);
        check_b(0.5, &[b(inf, 3.0)], f64::NAN, false);
        check_b(0.5, &[b(1.0, 0.0), b(inf, 0.0)], f64::NAN, false);
        check_b(0.5, &[], f64::NAN, false);
        // A first bucket with a non-positive bound returns that bound.
        check_b(0.1, &[b(-1.0, 5.0), b(0.0, 6.0), b(inf, 10.0)], -1.0, false);
        check_b(0.55, &[b(-1.0, 5.0), b(0.0, 6.0), b(inf, 10.0)], -0.5, false);
        // Equal bounds (`le="1"` and `le="1.0"`) are merged.
        check_b(0.5, &[b(1.0, 2.0), b(1.0, 2.0), b(2.0, 8.0), b(inf, 8.0)], 1.0, false);
        // Tiny relative differences are noise: neither forced nor a jump.
        let noisy = [b(1.0, 1e13), b(2.0, 1e13 - 1e-2), b(inf, 1e13)];
        check_b(1.0, &noisy, 1.0, false);
        // A real decrease is forced, and reported.
        check_b(0.5, &[b(1.0, 4.0), b(2.0, 3.0), b(inf, 8.0)], 1.0, true);
        // The fix is described: buckets 1 to 100 lifted, by at most 10 (20 → 10 at le=1).
        let (_, fix) = bucket_quantile(0.5, &mut nonmono.to_vec());
        assert_eq!(fix, Some(MonotonicityFix { min_bucket: 1.0, max_bucket: inf, max_diff: 10.0 }));
    }
}
