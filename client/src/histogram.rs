//! [`Histogram`]: classic cumulative buckets, sharded per thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use thread_local::ThreadLocal;

use ember_exposition::MetricType;

use crate::encode::{Metric, MetricEncoder};
use crate::error::{ErrorKind, Result};
use crate::exemplar::{ExemplarSlot, now_seconds};
use crate::number::write_f64;

/// Prometheus's default buckets, for latencies in seconds.
pub const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// `count` buckets starting at `start`, `width` apart.
pub fn linear_buckets(start: f64, width: f64, count: usize) -> Result<Buckets> {
    if count == 0 || width.is_nan() || width <= 0.0 {
        return Err(ErrorKind::InvalidBuckets(format!(
            "linear buckets need count >= 1 and width > 0, got {count} and {width}"
        ))
        .into());
    }
    Buckets::new((0..count).map(|i| start + width * i as f64))
}

/// `count` buckets starting at `start`, each `factor` times the previous.
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Result<Buckets> {
    if count == 0 || start.is_nan() || start <= 0.0 || factor.is_nan() || factor <= 1.0 {
        return Err(ErrorKind::InvalidBuckets(format!(
            "exponential buckets need count >= 1, start > 0 and factor > 1, got {count}, {start} and {factor}"
        ))
        .into());
    }
    Buckets::new((0..count).scan(start, |b, _| {
        let v = *b;
        *b *= factor;
        Some(v)
    }))
}

/// Validated bucket upper bounds (strictly increasing, no NaN), shared by every histogram
/// made from them. The `+Inf` bucket is implicit.
#[derive(Debug, Clone)]
pub struct Buckets {
    bounds: Arc<[f64]>,
    /// `le` label values, pre-rendered, `+Inf` last.
    le: Arc<[Box<str>]>,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets::new(DEFAULT_BUCKETS).expect("default buckets are valid")
    }
}

impl Buckets {
    /// Buckets with these upper bounds; a trailing `+Inf` is dropped (it is always there).
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Result<Buckets> {
        let mut v: Vec<f64> = bounds.into_iter().collect();
        if v.last() == Some(&f64::INFINITY) {
            v.pop();
        }
        for (i, b) in v.iter().enumerate() {
            if b.is_nan() || *b == f64::INFINITY {
                return Err(ErrorKind::InvalidBuckets(format!("bound {i} is {b}")).into());
            }
            if i > 0 && v[i - 1] >= *b {
                return Err(ErrorKind::InvalidBuckets(format!(
                    "bounds not strictly increasing at {i}: {} then {b}",
                    v[i - 1]
                ))
                .into());
            }
        }
        let le = v
            .iter()
            .chain(std::iter::once(&f64::INFINITY))
            .map(|b| {
                let mut s = String::new();
                write_f64(&mut s, *b);
                s.into_boxed_str()
            })
            .collect();
        Ok(Buckets { bounds: v.into(), le })
    }

    /// The upper bounds, without `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }
}

/// 128 bytes: two cache lines, so adjacent-line prefetch does not couple shards either.
#[repr(align(128))]
#[derive(Default)]
struct Line([AtomicU64; 16]);

/// One thread's cells: the bucket counts (`+Inf` last), then the sum's bits. Only its own
/// thread writes them (a thread that exits leaves them to the next thread given its id).
struct Shard(Box<[Line]>);

impl Shard {
    fn new(cells: usize) -> Self {
        Shard((0..cells.div_ceil(16)).map(|_| Line::default()).collect())
    }

    #[inline]
    fn cell(&self, i: usize) -> &AtomicU64 {
        &self.0[i / 16].0[i % 16]
    }
}

/// A histogram with classic buckets.
///
/// Counts are kept per bucket (not cumulative) in one shard of cache-line-aligned cells
/// per thread that observes. A shard has a single writer, so `observe` needs no
/// read-modify-write instruction at all: a branchless bucket count, then a load and a
/// store for the bucket and for the sum; threads observing the same histogram never share
/// a cache line. A scrape adds the shards up; `_count` is the sum of the buckets, so
/// `_count` and `_bucket{le="+Inf"}` always agree, while `_sum` may miss observations that
/// are in flight during the scrape.
#[derive(Clone)]
pub struct Histogram {
    core: Arc<HistogramCore>,
}

struct HistogramCore {
    buckets: Buckets,
    shards: ThreadLocal<Shard>,
    created: f64,
    exemplars: Box<[ExemplarSlot]>,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (counts, sum) = self.snapshot();
        f.debug_struct("Histogram")
            .field("bounds", &self.core.buckets.bounds)
            .field("counts", &counts)
            .field("sum", &sum)
            .finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(&Buckets::default())
    }
}

impl HistogramCore {
    /// The bucket counts (`+Inf` last) and the sum, added over the shards; the sum is read
    /// first, so the counts include at least the observations it does.
    fn totals(&self) -> (Vec<u64>, f64) {
        let n = self.buckets.bounds.len() + 1;
        let mut sum = 0.0;
        for shard in self.shards.iter() {
            sum += f64::from_bits(shard.cell(n).load(Relaxed));
        }
        let mut counts = vec![0u64; n];
        for shard in self.shards.iter() {
            for (i, slot) in counts.iter_mut().enumerate() {
                *slot = slot.wrapping_add(shard.cell(i).load(Relaxed));
            }
        }
        (counts, sum)
    }
}

impl Histogram {
    /// A histogram with these buckets.
    pub fn new(buckets: &Buckets) -> Self {
        Histogram {
            core: Arc::new(HistogramCore {
                buckets: buckets.clone(),
                shards: ThreadLocal::new(),
                created: now_seconds(),
                exemplars: (0..=buckets.bounds.len()).map(|_| ExemplarSlot::default()).collect(),
            }),
        }
    }

    #[inline]
    fn bucket_index(&self, v: f64) -> usize {
        let b = &self.core.buckets.bounds;
        // NaN lands in +Inf, as in Prometheus's clients.
        if v.is_nan() {
            return b.len();
        }
        if b.len() <= 32 {
            // Bounds increase strictly, so the bucket is the number of bounds below `v`:
            // counted without branches (a search's exit branch mispredicts on varied values).
            b.iter().map(|&u| (u < v) as usize).sum()
        } else {
            b.partition_point(|&u| u < v)
        }
    }

    /// Records one observation.
    #[inline]
    pub fn observe(&self, v: f64) {
        self.observe_at(self.bucket_index(v), v);
    }

    #[inline(always)]
    fn observe_at(&self, bucket: usize, v: f64) {
        let c = &*self.core;
        let n = c.buckets.bounds.len();
        let shard = match c.shards.get() {
            Some(s) => s,
            None => self.new_shard(),
        };
        // This thread is the shard's only writer: a load and a store cannot lose an update.
        let count = shard.cell(bucket);
        count.store(count.load(Relaxed).wrapping_add(1), Relaxed);
        let sum = shard.cell(n + 1);
        sum.store((f64::from_bits(sum.load(Relaxed)) + v).to_bits(), Relaxed);
    }

    #[cold]
    #[inline(never)]
    fn new_shard(&self) -> &Shard {
        self.core.shards.get_or(|| Shard::new(self.core.buckets.bounds.len() + 2))
    }

    /// Records one observation and keeps an exemplar for its bucket.
    pub fn observe_with_exemplar(&self, v: f64, exemplar: &[(&str, &str)]) -> Result<()> {
        let b = self.bucket_index(v);
        self.observe_at(b, v);
        self.core.exemplars[b].set(exemplar, v)
    }

    /// Non-cumulative bucket counts (`+Inf` last) and the sum, added over the threads.
    pub fn snapshot(&self) -> (Vec<u64>, f64) {
        self.core.totals()
    }

    /// The bucket layout.
    pub fn buckets(&self) -> &Buckets {
        &self.core.buckets
    }
}

impl Metric for Histogram {
    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }

    fn encode(&self, enc: &mut MetricEncoder<'_>) {
        let c = &*self.core;
        let om = enc.is_openmetrics();
        let (counts, sum) = c.totals();
        let mut cumulative = 0u64;
        for (i, n) in counts.iter().enumerate() {
            cumulative = cumulative.wrapping_add(*n);
            let ex = if om { c.exemplars[i].get() } else { None };
            enc.sample_with_exemplar("_bucket", Some(("le", &c.buckets.le[i])), cumulative, ex.as_ref());
        }
        enc.sample("_sum", None, sum);
        enc.sample("_count", None, cumulative);
        if om {
            enc.sample("_created", None, c.created);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_helpers() {
        assert_eq!(linear_buckets(1.0, 2.0, 3).unwrap().bounds(), &[1.0, 3.0, 5.0]);
        assert_eq!(exponential_buckets(1.0, 10.0, 3).unwrap().bounds(), &[1.0, 10.0, 100.0]);
        assert!(linear_buckets(1.0, 0.0, 3).is_err());
        assert!(exponential_buckets(0.0, 2.0, 3).is_err());
        assert!(Buckets::new([1.0, 1.0]).is_err());
        assert!(Buckets::new([f64::NAN]).is_err());
        assert_eq!(Buckets::new([1.0, f64::INFINITY]).unwrap().bounds(), &[1.0]);
    }

    #[test]
    fn observations_land_in_the_right_bucket_from_many_threads() {
        let many = Buckets::new((0..40).map(f64::from)).unwrap();
        for buckets in [Buckets::new([1.0, 2.0]).unwrap(), many] {
            let h = Histogram::new(&buckets);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        for i in 0..1000 {
                            h.observe((i % 4) as f64 * 0.75); // 0, 0.75, 1.5, 2.25
                        }
                    });
                }
            });
            let (counts, sum) = h.snapshot();
            assert_eq!(counts.iter().sum::<u64>(), 4000);
            assert_eq!(sum, 4.0 * 250.0 * (0.75 + 1.5 + 2.25));
            if buckets.bounds().len() == 2 {
                assert_eq!(counts, vec![2000, 1000, 1000]);
            } else {
                assert_eq!(&counts[..4], &[1000, 1000, 1000, 1000]);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn bucket_index_is_the_first_bound_not_below(
            mut bounds in proptest::collection::vec(-1e3f64..1e3, 1..60),
            vs in proptest::collection::vec(proptest::prop_oneof![-2e3f64..2e3, proptest::strategy::Just(f64::NAN),
                proptest::strategy::Just(f64::INFINITY), proptest::strategy::Just(f64::NEG_INFINITY)], 1..20),
        ) {
            bounds.sort_by(f64::total_cmp);
            bounds.dedup();
            let h = Histogram::new(&Buckets::new(bounds.iter().copied()).unwrap());
            for v in vs.into_iter().chain(bounds.iter().copied()) {
                // Prometheus: the first bucket whose upper bound is >= v; NaN goes to +Inf.
                let naive = bounds.iter().position(|&u| v <= u).unwrap_or(bounds.len());
                proptest::prop_assert_eq!(h.bucket_index(v), naive, "{} in {:?}", v, bounds);
            }
        }
    }
}
