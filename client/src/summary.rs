//! [`Summary`]: count, sum and quantiles over a sliding time window.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use ember_exposition::MetricType;
use parking_lot::Mutex;

use crate::encode::{Metric, MetricEncoder};
use crate::error::{ErrorKind, Result};
use crate::exemplar::now_seconds;
use crate::number::{add_f64, write_f64};

/// How a [`Summary`] computes its quantiles.
///
/// Like Prometheus's Go client, the window is `max_age` long and slides in `age_buckets`
/// steps: every observation goes into each of `age_buckets` streams, the oldest of which is
/// read and is reset every `max_age / age_buckets`. Unlike the Go client, each stream is a
/// log-bucketed sketch with a *relative value* error bound (a reported quantile is within
/// `relative_accuracy` of a value whose rank is exact), instead of a rank error bound.
#[derive(Debug, Clone)]
pub struct SummaryOpts {
    quantiles: Vec<f64>,
    max_age: Duration,
    age_buckets: u32,
    relative_accuracy: f64,
}

impl Default for SummaryOpts {
    /// Quantiles 0.5, 0.9, 0.99; a 10 minute window in 5 steps; 1% relative accuracy.
    fn default() -> Self {
        SummaryOpts {
            quantiles: vec![0.5, 0.9, 0.99],
            max_age: Duration::from_secs(600),
            age_buckets: 5,
            relative_accuracy: 0.01,
        }
    }
}

impl SummaryOpts {
    /// The quantiles to expose, each in `[0, 1]` (empty: only `_count` and `_sum`).
    pub fn quantiles(mut self, q: &[f64]) -> Self {
        self.quantiles = q.to_vec();
        self
    }

    /// How far back the quantiles look.
    pub fn max_age(mut self, d: Duration) -> Self {
        self.max_age = d;
        self
    }

    /// In how many steps the window slides.
    pub fn age_buckets(mut self, n: u32) -> Self {
        self.age_buckets = n;
        self
    }

    /// The relative error of reported quantile values, in `(0, 1)`.
    pub fn relative_accuracy(mut self, a: f64) -> Self {
        self.relative_accuracy = a;
        self
    }

    fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(ErrorKind::InvalidSummary(why).into());
        if let Some(q) = self.quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return bad(format!("quantile {q} outside [0, 1]"));
        }
        if self.age_buckets == 0 || self.max_age.is_zero() {
            return bad("max_age and age_buckets must be positive".into());
        }
        if !(self.relative_accuracy > 0.0 && self.relative_accuracy < 1.0) {
            return bad(format!("relative accuracy {} outside (0, 1)", self.relative_accuracy));
        }
        Ok(())
    }
}

/// At most this many bins per sign; lower bins are merged beyond it.
const MAX_BINS: usize = 2048;

/// Bins of `ceil(log_gamma(|v|))`, one store per sign, plus a zero count.
#[derive(Debug, Clone)]
struct Sketch {
    pos: Bins,
    neg: Bins,
    zero: u64,
    count: u64,
}

#[derive(Debug, Clone, Default)]
struct Bins {
    offset: i32,
    counts: Vec<u64>,
}

impl Bins {
    fn add(&mut self, key: i32) {
        if self.counts.is_empty() {
            self.offset = key;
            self.counts.push(0);
        }
        if key < self.offset {
            let grow = (self.offset - key) as usize;
            if self.counts.len() + grow > MAX_BINS {
                // Too wide: count it in the lowest bin (the sketch stays accurate at the top).
                self.counts[0] += 1;
                return;
            }
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = key;
        }
        let i = (key - self.offset) as usize;
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
            if self.counts.len() > MAX_BINS {
                let extra = self.counts.len() - MAX_BINS;
                let merged: u64 = self.counts.drain(..extra).sum();
                self.counts[0] += merged;
                self.offset += extra as i32;
            }
        }
        let last = self.counts.len() - 1;
        self.counts[i.min(last)] += 1;
    }

    fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
    }
}

impl Sketch {
    fn new() -> Self {
        Sketch { pos: Bins::default(), neg: Bins::default(), zero: 0, count: 0 }
    }

    fn add(&mut self, v: f64, ln_gamma: f64) {
        if v.is_nan() {
            return;
        }
        self.count += 1;
        let a = v.abs();
        if a < 1e-12 {
            self.zero += 1;
            return;
        }
        let key = (a.ln() / ln_gamma).ceil().clamp(i32::MIN as f64 / 2.0, i32::MAX as f64 / 2.0) as i32;
        if v > 0.0 { self.pos.add(key) } else { self.neg.add(key) }
    }

    fn clear(&mut self) {
        self.pos.clear();
        self.neg.clear();
        self.zero = 0;
        self.count = 0;
    }

    /// The value at quantile `q`; NaN when empty.
    fn quantile(&self, q: f64, gamma: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let rank = (q * (self.count - 1) as f64).round() as u64;
        let value = |key: i32| 2.0 * gamma.powi(key) / (gamma + 1.0);
        let mut seen = 0u64;
        for (i, c) in self.neg.counts.iter().enumerate().rev() {
            seen += c;
            if seen > rank {
                return -value(self.neg.offset + i as i32);
            }
        }
        seen += self.zero;
        if seen > rank {
            return 0.0;
        }
        for (i, c) in self.pos.counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                return value(self.pos.offset + i as i32);
            }
        }
        f64::NAN
    }
}

struct Window {
    streams: Vec<Sketch>,
    head: usize,
    head_expires: Instant,
    step: Duration,
}

impl Window {
    fn rotate(&mut self, now: Instant) {
        while now >= self.head_expires {
            self.streams[self.head].clear();
            self.head = (self.head + 1) % self.streams.len();
            self.head_expires += self.step;
        }
    }
}

/// A summary: `_count`, `_sum` and quantiles over a sliding window (see [`SummaryOpts`]).
///
/// Count and sum are atomics; the quantile streams are behind a mutex, as in Prometheus's
/// Go client: a summary costs more per observation than a histogram, and cannot be
/// aggregated across instances. Prefer [`Histogram`](crate::Histogram) unless you need
/// exact-rank quantiles of one process.
#[derive(Clone)]
pub struct Summary {
    core: Arc<SummaryCore>,
}

struct SummaryCore {
    quantiles: Box<[(f64, Box<str>)]>,
    gamma: f64,
    ln_gamma: f64,
    count: AtomicU64,
    sum: AtomicU64,
    window: Mutex<Window>,
    created: f64,
}

impl std::fmt::Debug for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Summary").field("count", &self.count()).field("sum", &self.sum()).finish()
    }
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new(SummaryOpts::default()).expect("default options are valid")
    }
}

impl Summary {
    /// A summary with these options.
    pub fn new(opts: SummaryOpts) -> Result<Self> {
        opts.validate()?;
        let gamma = (1.0 + opts.relative_accuracy) / (1.0 - opts.relative_accuracy);
        let step = opts.max_age / opts.age_buckets;
        let quantiles = opts
            .quantiles
            .iter()
            .map(|q| {
                let mut s = String::new();
                write_f64(&mut s, *q);
                (*q, s.into_boxed_str())
            })
            .collect();
        Ok(Summary {
            core: Arc::new(SummaryCore {
                quantiles,
                gamma,
                ln_gamma: gamma.ln(),
                count: AtomicU64::new(0),
                sum: AtomicU64::new(0),
                window: Mutex::new(Window {
                    streams: vec![Sketch::new(); opts.age_buckets as usize],
                    head: 0,
                    head_expires: Instant::now() + step,
                    step: step.max(Duration::from_nanos(1)),
                }),
                created: now_seconds(),
            }),
        })
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let c = &*self.core;
        if !c.quantiles.is_empty() {
            let mut w = c.window.lock();
            w.rotate(Instant::now());
            for s in &mut w.streams {
                s.add(v, c.ln_gamma);
            }
        }
        c.count.fetch_add(1, Relaxed);
        add_f64(&c.sum, v);
    }

    /// How many observations were made.
    pub fn count(&self) -> u64 {
        self.core.count.load(Relaxed)
    }

    /// The sum of the observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.core.sum.load(Relaxed))
    }

    /// The current estimate of quantile `q` over the window (NaN when the window is empty).
    pub fn quantile(&self, q: f64) -> f64 {
        let c = &*self.core;
        let mut w = c.window.lock();
        w.rotate(Instant::now());
        w.streams[w.head].quantile(q, c.gamma)
    }
}

impl Metric for Summary {
    fn metric_type(&self) -> MetricType {
        MetricType::Summary
    }

    fn encode(&self, enc: &mut MetricEncoder<'_>) {
        let c = &*self.core;
        if !c.quantiles.is_empty() {
            let values: Vec<f64> = {
                let mut w = c.window.lock();
                w.rotate(Instant::now());
                let head = &w.streams[w.head];
                c.quantiles.iter().map(|(q, _)| head.quantile(*q, c.gamma)).collect()
            };
            for ((_, label), v) in c.quantiles.iter().zip(values) {
                enc.sample("", Some(("quantile", label)), v);
            }
        }
        enc.sample("_sum", None, self.sum());
        enc.sample("_count", None, self.count());
        if enc.is_openmetrics() {
            enc.sample("_created", None, c.created);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_relative_accuracy() {
        let s = Summary::new(SummaryOpts::default().quantiles(&[0.0, 0.5, 0.9, 0.99, 1.0])).unwrap();
        for i in 1..=10_000 {
            s.observe(i as f64);
        }
        for (q, want) in [(0.0, 1.0), (0.5, 5000.0), (0.9, 9000.0), (0.99, 9900.0), (1.0, 10_000.0)] {
            let got = s.quantile(q);
            assert!((got - want).abs() <= want * 0.011, "q{q}: got {got}, want {want}");
        }
        assert_eq!(s.count(), 10_000);
        assert_eq!(s.sum(), 50_005_000.0);
    }

    #[test]
    fn negative_and_zero_values() {
        let s = Summary::new(SummaryOpts::default().quantiles(&[0.0, 0.5, 1.0])).unwrap();
        for v in [-100.0, -1.0, 0.0, 1.0, 100.0] {
            s.observe(v);
        }
        assert!((s.quantile(0.0) + 100.0).abs() <= 1.0);
        assert_eq!(s.quantile(0.5), 0.0);
        assert!((s.quantile(1.0) - 100.0).abs() <= 1.0);
    }

    #[test]
    fn window_forgets_old_observations() {
        let s = Summary::new(SummaryOpts::default().max_age(Duration::from_millis(60)).age_buckets(3)).unwrap();
        s.observe(1000.0);
        assert!(!s.quantile(0.5).is_nan());
        std::thread::sleep(Duration::from_millis(90));
        assert!(s.quantile(0.5).is_nan(), "observation older than max_age still counted");
        assert_eq!(s.count(), 1, "count and sum are not windowed");
    }

    #[test]
    fn invalid_options() {
        assert!(Summary::new(SummaryOpts::default().quantiles(&[1.5])).is_err());
        assert!(Summary::new(SummaryOpts::default().age_buckets(0)).is_err());
        assert!(Summary::new(SummaryOpts::default().relative_accuracy(0.0)).is_err());
    }

    #[test]
    fn extreme_ranges_stay_bounded() {
        let s = Summary::new(SummaryOpts::default()).unwrap();
        for e in -300..300 {
            s.observe(10f64.powi(e));
        }
        let w = s.core.window.lock();
        assert!(w.streams[0].pos.counts.len() <= MAX_BINS);
    }
}
