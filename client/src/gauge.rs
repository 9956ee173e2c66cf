//! [`Gauge`]: an integer or float that goes up and down.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use ember_exposition::MetricType;

use crate::encode::{Metric, MetricEncoder};
use crate::number::Number;

/// A gauge: `i64` (the default) or `f64`. Cloning gives another handle to the same value.
#[derive(Debug)]
pub struct Gauge<N: Number = i64> {
    value: Arc<AtomicU64>,
    _n: PhantomData<N>,
}

impl<N: Number> Clone for Gauge<N> {
    fn clone(&self) -> Self {
        Gauge { value: self.value.clone(), _n: PhantomData }
    }
}

impl<N: Number> Default for Gauge<N> {
    fn default() -> Self {
        Gauge { value: Arc::new(AtomicU64::new(N::to_bits(N::ZERO))), _n: PhantomData }
    }
}

impl<N: Number> Gauge<N> {
    /// A gauge at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value (one relaxed store).
    #[inline]
    pub fn set(&self, v: N) {
        N::store(&self.value, v);
    }

    /// Adds `v` (which may be negative).
    #[inline]
    pub fn add(&self, v: N) {
        N::add(&self.value, v);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        N::add(&self.value, N::ONE);
    }

    /// The current value.
    pub fn get(&self) -> N {
        N::load(&self.value)
    }
}

impl Gauge<i64> {
    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        i64::add(&self.value, -1);
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: i64) {
        i64::add(&self.value, v.wrapping_neg());
    }
}

impl Gauge<f64> {
    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        f64::add(&self.value, -1.0);
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: f64) {
        f64::add(&self.value, -v);
    }

    /// Sets the gauge to the current time in seconds since the Unix epoch.
    pub fn set_to_current_time(&self) {
        self.set(crate::exemplar::now_seconds());
    }
}

impl<N: Number> Metric for Gauge<N> {
    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }

    fn encode(&self, enc: &mut MetricEncoder<'_>) {
        enc.sample("", None, self.get());
    }
}
