//! [`Counter`]: a monotonically increasing integer or float.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use ember_exposition::MetricType;

use crate::encode::{Metric, MetricEncoder};
use crate::error::Result;
use crate::exemplar::{ExemplarSlot, now_seconds};
use crate::number::Number;

/// A counter: `u64` (the default) or `f64`.
///
/// Cloning gives another handle to the same value. [`inc`](Self::inc) is one relaxed
/// `fetch_add` on an integer counter (a compare-and-swap loop on a float one).
#[derive(Debug)]
pub struct Counter<N: Number = u64> {
    core: Arc<CounterCore>,
    _n: PhantomData<N>,
}

#[derive(Debug)]
struct CounterCore {
    value: AtomicU64,
    created: f64,
    exemplar: ExemplarSlot,
}

impl<N: Number> Clone for Counter<N> {
    fn clone(&self) -> Self {
        Counter { core: self.core.clone(), _n: PhantomData }
    }
}

impl<N: Number> Default for Counter<N> {
    fn default() -> Self {
        Counter {
            core: Arc::new(CounterCore {
                value: AtomicU64::new(N::to_bits(N::ZERO)),
                created: now_seconds(),
                exemplar: ExemplarSlot::default(),
            }),
            _n: PhantomData,
        }
    }
}

impl<N: Number> Counter<N> {
    /// A counter at zero, created now.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        N::add(&self.core.value, N::ONE);
    }

    /// Adds `v`; negative and NaN increments are ignored (a counter never goes down).
    #[inline]
    pub fn inc_by(&self, v: N) {
        if v.is_valid_increment() {
            N::add(&self.core.value, v);
        }
    }

    /// Adds `v` and records an exemplar (e.g. `&[("trace_id", id)]`) for OpenMetrics scrapes.
    ///
    /// The value is added even when the exemplar is refused (labels longer than 128 characters
    /// or invalid label names); the error says why.
    pub fn inc_by_with_exemplar(&self, v: N, exemplar: &[(&str, &str)]) -> Result<()> {
        if !v.is_valid_increment() {
            return Ok(());
        }
        N::add(&self.core.value, v);
        self.core.exemplar.set(exemplar, v.as_f64())
    }

    /// The current value.
    pub fn get(&self) -> N {
        N::load(&self.core.value)
    }

    /// When the counter was created, in seconds since the Unix epoch.
    pub fn created(&self) -> f64 {
        self.core.created
    }
}

impl<N: Number> Metric for Counter<N> {
    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    fn encode(&self, enc: &mut MetricEncoder<'_>) {
        let ex = self.core.exemplar.get();
        enc.sample_with_exemplar("_total", None, self.get(), ex.as_ref());
        if enc.is_openmetrics() {
            enc.sample("_created", None, self.core.created);
        }
    }
}
