//! [`Family`]: children of one metric, looked up by label values.
//!
//! The authoritative map sits behind a `RwLock`. In front of it every thread keeps a small
//! cache of the children it has used, keyed by (family, hash of the label values) and
//! validated by the family's *generation*, which every removal bumps. A lookup of a child
//! the thread has seen before is therefore a hash of the values, a probe of a thread-local
//! table, a string comparison and one atomic load: no lock and no reference-count traffic
//! on shared cache lines. The price: the handle it returns, [`Child`], is tied to the thread
//! (`!Send`); [`Family::handle`] gives a `Send` clone of the metric for keeping.

use std::any::Any;
use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use ember_exposition::MetricType;
use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::encode::{LabelBlock, Metric, MetricEncoder, render_pairs};
use crate::error::{ErrorKind, Result, check_label_names};

/// The default cap on children per family.
pub const DEFAULT_MAX_CHILDREN: usize = 10_000;

/// Thread-local caches hold at most this many children before they are emptied.
const MAX_CACHED: usize = 4096;

static NEXT_FAMILY_ID: AtomicU64 = AtomicU64::new(1);

/// A family of metrics of type `C`, one child per combination of label values.
///
/// Cloning gives another handle to the same family.
pub struct Family<C> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for Family<C> {
    fn clone(&self) -> Self {
        Family { inner: self.inner.clone() }
    }
}

type Make<C> = Box<dyn Fn() -> C + Send + Sync>;

struct Inner<C> {
    id: u64,
    seed: u64,
    names: Box<[Box<str>]>,
    metric_type: MetricType,
    make: Make<C>,
    max_children: AtomicUsize,
    generation: AtomicU64,
    children: RwLock<Children<C>>,
    /// The child `with_label_values` hands out when it must refuse (never exported).
    detached: OnceLock<Arc<Entry<C>>>,
    refused: AtomicU64,
}

struct Children<C> {
    index: HashTable<usize>,
    list: Vec<Arc<Entry<C>>>,
}

struct Entry<C> {
    hash: u64,
    values: Box<[Box<str>]>,
    rendered: Box<str>,
    metric: C,
}

/// A child of a family, borrowed for the current thread; dereferences to the metric.
pub struct Child<C> {
    local: Rc<Local<C>>,
}

struct Local<C> {
    entry: Arc<Entry<C>>,
    metric: C,
}

impl<C> Deref for Child<C> {
    type Target = C;
    #[inline]
    fn deref(&self) -> &C {
        &self.local.metric
    }
}

impl<C: std::fmt::Debug> std::fmt::Debug for Child<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child").field("labels", &self.local.entry.values).field("metric", &self.local.metric).finish()
    }
}

struct Slot {
    family: u64,
    hash: u64,
    generation: u64,
    local: Rc<dyn Any>,
}

thread_local! {
    static CACHE: RefCell<HashTable<Slot>> = const { RefCell::new(HashTable::new()) };
}

const K: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline]
fn fold(h: u64, word: u64) -> u64 {
    (h ^ word).wrapping_mul(K).rotate_left(29)
}

/// Hashes label values without allocating; each value's length goes into its last word, so
/// `["ab", "c"]` and `["a", "bc"]` differ.
#[inline]
fn hash_values(seed: u64, values: &[&str]) -> u64 {
    let mut h = seed;
    for v in values {
        let b = v.as_bytes();
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            h = fold(h, u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        }
        let mut tail = [0u8; 8];
        let rem = chunks.remainder();
        tail[..rem.len()].copy_from_slice(rem);
        h = fold(h, u64::from_le_bytes(tail) ^ ((b.len() as u64) << 56));
    }
    // Final avalanche (the top bits pick the hashbrown group).
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

#[inline]
fn same_values(stored: &[Box<str>], values: &[&str]) -> bool {
    stored.len() == values.len() && stored.iter().zip(values).all(|(a, b)| a.as_bytes() == b.as_bytes())
}

impl<C: Metric + Clone + Default> Family<C> {
    /// A family with these label names, whose children start as `C::default()`.
    pub fn new(label_names: &[&str]) -> Result<Self> {
        Self::new_with(label_names, C::default)
    }
}

impl<C: Metric + Clone> Family<C> {
    /// A family with these label names, whose children `make` creates (e.g. histograms with
    /// given buckets).
    pub fn new_with(label_names: &[&str], make: impl Fn() -> C + Send + Sync + 'static) -> Result<Self> {
        check_label_names(label_names)?;
        let proto = make();
        let metric_type = proto.metric_type();
        let reserved = match metric_type {
            MetricType::Histogram | MetricType::GaugeHistogram => Some("le"),
            MetricType::Summary => Some("quantile"),
            _ => None,
        };
        if let Some(r) = reserved.filter(|r| label_names.contains(r)) {
            return Err(ErrorKind::ReservedLabelName(r.to_string()).into());
        }
        Ok(Family {
            inner: Arc::new(Inner {
                id: NEXT_FAMILY_ID.fetch_add(1, Ordering::Relaxed),
                seed: RandomState::new().hash_one(0u8),
                names: label_names.iter().map(|n| Box::from(*n)).collect(),
                metric_type,
                make: Box::new(make),
                max_children: AtomicUsize::new(DEFAULT_MAX_CHILDREN),
                generation: AtomicU64::new(0),
                children: RwLock::new(Children { index: HashTable::new(), list: Vec::new() }),
                detached: OnceLock::new(),
                refused: AtomicU64::new(0),
            }),
        })
    }

    /// Sets the cap on children (default [`DEFAULT_MAX_CHILDREN`]); existing children stay.
    pub fn with_max_children(self, max: usize) -> Self {
        self.inner.max_children.store(max, Ordering::Relaxed);
        self
    }

    /// The label names.
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.inner.names.iter().map(|n| &**n)
    }

    /// The child for these label values, created on first use.
    ///
    /// Fails when the number of values is wrong, or when the family is at its cap and these
    /// values are new ([`ErrorKind::TooManyChildren`]).
    #[inline]
    pub fn get(&self, values: &[&str]) -> Result<Child<C>> {
        let inner = &*self.inner;
        if values.len() != inner.names.len() {
            return Err(ErrorKind::LabelCount { expected: inner.names.len(), got: values.len() }.into());
        }
        let hash = hash_values(inner.seed, values);
        let key = hash ^ inner.id.wrapping_mul(K);
        let generation = inner.generation.load(Ordering::Acquire);
        let hit = CACHE.try_with(|cache| {
            let cache = cache.borrow();
            let slot = cache.find(key, |s| s.family == inner.id && s.hash == hash)?;
            if slot.generation != generation {
                return None;
            }
            let local = slot.local.clone().downcast::<Local<C>>().ok()?;
            same_values(&local.entry.values, values).then_some(local)
        });
        if let Ok(Some(local)) = hit {
            return Ok(Child { local });
        }
        self.get_slow(values, hash, key)
    }

    #[cold]
    fn get_slow(&self, values: &[&str], hash: u64, key: u64) -> Result<Child<C>> {
        let (entry, generation) = self.shared_entry(values, hash)?;
        let local = Rc::new(Local { metric: entry.metric.clone(), entry });
        let id = self.inner.id;
        let _ = CACHE.try_with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            let slot = Slot { family: id, hash, generation, local: local.clone() };
            // Slots of one family are keyed by value hash; one slot per hash is enough (a
            // colliding pair of label sets just takes turns in the cache).
            match cache.find_mut(key, |s| s.family == id && s.hash == hash) {
                Some(s) => *s = slot,
                None => {
                    cache.insert_unique(key, slot, |s| s.hash ^ s.family.wrapping_mul(K));
                }
            }
        });
        Ok(Child { local })
    }

    /// Finds or creates the entry; returns it with the generation it was seen in.
    fn shared_entry(&self, values: &[&str], hash: u64) -> Result<(Arc<Entry<C>>, u64)> {
        let inner = &*self.inner;
        {
            let children = inner.children.read();
            if let Some(&i) = children.index.find(hash, |&i| same_values(&children.list[i].values, values)) {
                return Ok((children.list[i].clone(), inner.generation.load(Ordering::Acquire)));
            }
        }
        let mut children = inner.children.write();
        let Children { index, list } = &mut *children;
        if let Some(&i) = index.find(hash, |&i| same_values(&list[i].values, values)) {
            return Ok((list[i].clone(), inner.generation.load(Ordering::Acquire)));
        }
        let max = inner.max_children.load(Ordering::Relaxed);
        if list.len() >= max {
            inner.refused.fetch_add(1, Ordering::Relaxed);
            return Err(ErrorKind::TooManyChildren { limit: max }.into());
        }
        let entry = Arc::new(Entry {
            hash,
            values: values.iter().map(|v| Box::from(*v)).collect(),
            rendered: render_pairs(inner.names.iter().map(|n| &**n).zip(values.iter().copied())).into_boxed_str(),
            metric: (inner.make)(),
        });
        index.insert_unique(hash, list.len(), |&i| list[i].hash);
        list.push(entry.clone());
        Ok((entry, inner.generation.load(Ordering::Acquire)))
    }

    /// Like [`get`](Self::get), but never fails: when the values are refused, the updates go
    /// to a detached child that is never exported, and [`refused`](Self::refused) counts it.
    #[inline]
    pub fn with_label_values(&self, values: &[&str]) -> Child<C> {
        match self.get(values) {
            Ok(c) => c,
            Err(_) => self.detached(),
        }
    }

    #[cold]
    fn detached(&self) -> Child<C> {
        let inner = &*self.inner;
        inner.refused.fetch_add(1, Ordering::Relaxed);
        let entry = inner
            .detached
            .get_or_init(|| {
                Arc::new(Entry { hash: 0, values: Box::new([]), rendered: Box::from(""), metric: (inner.make)() })
            })
            .clone();
        Child { local: Rc::new(Local { metric: entry.metric.clone(), entry }) }
    }

    /// How many label value sets were refused (wrong count, or over the cap).
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    /// A `Send` handle to the child for these values (a clone of the metric), for keeping in
    /// a struct; updates through it go to the family's child until the child is removed.
    pub fn handle(&self, values: &[&str]) -> Result<C> {
        if values.len() != self.inner.names.len() {
            return Err(ErrorKind::LabelCount { expected: self.inner.names.len(), got: values.len() }.into());
        }
        let (entry, _) = self.shared_entry(values, hash_values(self.inner.seed, values))?;
        Ok(entry.metric.clone())
    }

    /// Removes the child for these values; returns whether there was one.
    pub fn remove(&self, values: &[&str]) -> bool {
        let inner = &*self.inner;
        let hash = hash_values(inner.seed, values);
        let mut children = inner.children.write();
        let Children { index, list } = &mut *children;
        let Ok(found) = index.find_entry(hash, |&i| same_values(&list[i].values, values)) else {
            return false;
        };
        let (i, _) = found.remove();
        list.swap_remove(i);
        if i < list.len() {
            // The last child moved into the hole: point its index slot at its new place.
            let moved = list.len();
            if let Some(slot) = index.find_mut(list[i].hash, |&j| j == moved) {
                *slot = i;
            }
        }
        inner.generation.fetch_add(1, Ordering::Release);
        true
    }

    /// Removes every child.
    pub fn clear(&self) {
        let mut children = self.inner.children.write();
        children.index.clear();
        children.list.clear();
        self.inner.generation.fetch_add(1, Ordering::Release);
    }

    /// How many children there are.
    pub fn len(&self) -> usize {
        self.inner.children.read().list.len()
    }

    /// Whether there are no children.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<C: Metric + Clone> Metric for Family<C> {
    fn metric_type(&self) -> MetricType {
        self.inner.metric_type
    }

    fn encode(&self, enc: &mut MetricEncoder<'_>) {
        let children = self.inner.children.read();
        for e in &children.list {
            let block = LabelBlock { rendered: &e.rendered, names: &self.inner.names, values: &e.values };
            e.metric.encode(&mut enc.with_labels(block));
        }
    }
}

impl<C> std::fmt::Debug for Family<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family")
            .field("label_names", &self.inner.names)
            .field("metric_type", &self.inner.metric_type)
            .finish()
    }
}

/// A label value: what a field of a [`LabelSet`] struct turns into.
pub trait LabelValue {
    /// The value as it appears in the label.
    fn label_value(&self) -> &str;
}

impl LabelValue for str {
    fn label_value(&self) -> &str {
        self
    }
}
impl LabelValue for String {
    fn label_value(&self) -> &str {
        self
    }
}
impl LabelValue for &str {
    fn label_value(&self) -> &str {
        self
    }
}
impl LabelValue for Box<str> {
    fn label_value(&self) -> &str {
        self
    }
}
impl LabelValue for Arc<str> {
    fn label_value(&self) -> &str {
        self
    }
}
impl LabelValue for std::borrow::Cow<'_, str> {
    fn label_value(&self) -> &str {
        self
    }
}
impl LabelValue for bool {
    fn label_value(&self) -> &str {
        if *self { "true" } else { "false" }
    }
}

/// A typed set of labels: a struct whose fields are the label values.
///
/// Derive it with `#[derive(LabelSet)]` (feature `derive`); fields are [`LabelValue`]s, and
/// fieldless enums get `#[derive(LabelValue)]`.
pub trait LabelSet {
    /// The label names, in field order.
    const NAMES: &'static [&'static str];
    /// Calls `f` with the values, in the order of [`NAMES`](Self::NAMES).
    fn with_values<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R;
}

/// A [`Family`] addressed by a typed [`LabelSet`] instead of a slice of values.
pub struct TypedFamily<L, C> {
    family: Family<C>,
    _labels: PhantomData<fn(&L)>,
}

impl<L, C> Clone for TypedFamily<L, C> {
    fn clone(&self) -> Self {
        TypedFamily { family: self.family.clone(), _labels: PhantomData }
    }
}

impl<L: LabelSet, C: Metric + Clone + Default> TypedFamily<L, C> {
    /// A family labelled by `L`, children starting as `C::default()`.
    pub fn new() -> Result<Self> {
        Ok(TypedFamily { family: Family::new(L::NAMES)?, _labels: PhantomData })
    }
}

impl<L: LabelSet, C: Metric + Clone> TypedFamily<L, C> {
    /// A family labelled by `L`, children made by `make`.
    pub fn new_with(make: impl Fn() -> C + Send + Sync + 'static) -> Result<Self> {
        Ok(TypedFamily { family: Family::new_with(L::NAMES, make)?, _labels: PhantomData })
    }

    /// The child for these labels ([`Family::get`]).
    #[inline]
    pub fn get(&self, labels: &L) -> Result<Child<C>> {
        labels.with_values(|v| self.family.get(v))
    }

    /// The child for these labels, never failing ([`Family::with_label_values`]).
    #[inline]
    pub fn with_labels(&self, labels: &L) -> Child<C> {
        labels.with_values(|v| self.family.with_label_values(v))
    }

    /// Removes the child for these labels.
    pub fn remove(&self, labels: &L) -> bool {
        labels.with_values(|v| self.family.remove(v))
    }

    /// The untyped family underneath.
    pub fn family(&self) -> &Family<C> {
        &self.family
    }
}

impl<L: 'static, C: Metric + Clone> Metric for TypedFamily<L, C> {
    fn metric_type(&self) -> MetricType {
        self.family.metric_type()
    }

    fn encode(&self, enc: &mut MetricEncoder<'_>) {
        self.family.encode(enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Counter;

    #[test]
    fn hash_separates_values() {
        assert_ne!(hash_values(1, &["ab", "c"]), hash_values(1, &["a", "bc"]));
        assert_ne!(hash_values(1, &["", "x"]), hash_values(1, &["x", ""]));
        assert_eq!(hash_values(7, &["GET", "200"]), hash_values(7, &["GET", "200"]));
    }

    #[test]
    fn removal_invalidates_thread_caches() {
        let f = Family::<Counter>::new(&["a"]).unwrap();
        f.get(&["x"]).unwrap().inc();
        f.get(&["x"]).unwrap().inc();
        let before = f.handle(&["x"]).unwrap();
        assert_eq!(before.get(), 2);
        assert!(f.remove(&["x"]));
        assert!(!f.remove(&["x"]));
        f.get(&["x"]).unwrap().inc();
        assert_eq!(f.handle(&["x"]).unwrap().get(), 1, "a removed child came back from a cache");
        assert_eq!(before.get(), 2);
    }

    #[test]
    fn swap_remove_keeps_the_index_right() {
        let f = Family::<Counter>::new(&["a"]).unwrap();
        for v in ["0", "1", "2", "3"] {
            f.get(&[v]).unwrap().inc_by(v.parse().unwrap());
        }
        assert!(f.remove(&["1"]));
        for v in ["0", "2", "3"] {
            assert_eq!(f.handle(&[v]).unwrap().get(), v.parse::<u64>().unwrap(), "{v}");
        }
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn cap_and_count_errors() {
        let f = Family::<Counter>::new(&["a"]).unwrap().with_max_children(2);
        f.get(&["1"]).unwrap();
        f.get(&["2"]).unwrap();
        let e = f.get(&["3"]).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::TooManyChildren { limit: 2 });
        assert!(f.get(&["2"]).is_ok(), "existing children are still reachable at the cap");
        assert_eq!(f.get(&["1", "2"]).unwrap_err().kind(), &ErrorKind::LabelCount { expected: 1, got: 2 });
        f.with_label_values(&["4"]).inc();
        assert_eq!(f.len(), 2);
        assert!(f.refused() >= 2);
    }

    #[test]
    fn threads_share_children() {
        let f = Family::<Counter>::new(&["a", "b"]).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..1000 {
                        f.with_label_values(&["x", if i % 2 == 0 { "even" } else { "odd" }]).inc();
                    }
                });
            }
        });
        assert_eq!(f.handle(&["x", "even"]).unwrap().get(), 2000);
        assert_eq!(f.handle(&["x", "odd"]).unwrap().get(), 2000);
    }
}
