//! The compensated-summation step shared by [`super::KahanSum`] and the range kernels.

/// Adds `inc` to `sum` with Neumaier's compensation `c`, returning the new pair. When the
/// new sum is infinite the compensation is dropped to 0: it would otherwise become NaN
/// (`Inf - Inf`) and poison an honest overflow.
#[inline]
pub(super) fn inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}
