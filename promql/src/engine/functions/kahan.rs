//! Compensated summation, and the mean and variance accumulators built on it.

use super::{Mean, Variance};

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

impl Mean {
    /// Adds a value.
    pub fn add(&mut self, v: f64) {
        self.count += 1.0;
        if self.count == 1.0 {
            self.sum = v;
            return;
        }
        if !self.incremental {
            let (sum, c) = inc(v, self.sum, self.c);
            if !sum.is_infinite() {
                (self.sum, self.c) = (sum, c);
                return;
            }
            // The direct sum would overflow: carry on with the mean so far.
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        let q = (self.count - 1.0) / self.count;
        (self.mean, self.c) = inc(v / self.count, q * self.mean, q * self.c);
    }

    /// The mean of the values added (NaN when there are none).
    pub fn value(&self) -> f64 {
        if self.count == 0.0 {
            f64::NAN
        } else if self.incremental {
            self.mean + self.c
        } else {
            self.sum / self.count + self.c / self.count
        }
    }

    /// How many values were added.
    pub fn count(&self) -> f64 {
        self.count
    }
}

impl Variance {
    /// Adds a value.
    pub fn add(&mut self, v: f64) {
        self.count += 1.0;
        let delta = v - (self.mean + self.c_mean);
        (self.mean, self.c_mean) = inc(delta / self.count, self.mean, self.c_mean);
        (self.aux, self.c_aux) = inc(delta * (v - (self.mean + self.c_mean)), self.aux, self.c_aux);
    }

    /// The population variance (NaN when no values were added).
    pub fn variance(&self) -> f64 {
        (self.aux + self.c_aux) / self.count
    }

    /// The population standard deviation.
    pub fn stddev(&self) -> f64 {
        self.variance().sqrt()
    }

    /// How many values were added.
    pub fn count(&self) -> f64 {
        self.count
    }
}
