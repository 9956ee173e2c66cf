//! [`Family`]: children of one metric, looked up by label values.
//!
//! The authoritative map sits behind a `RwLock`. In front of it each family keeps, per
//! thread (the `thread_local` crate's per-object storage), a small cache of the children
//! that thread has used, keyed by a hash of the label values and validated by the
//! family's *generation*, which every removal bumps. For up to four values of up to 16
//! bytes each (nearly every real label set), the lookup is unrolled per arity: each value
//! is read once as one or two words that stay in registers, hashed with one multiply per
//! value, and compared word for word with at most two slots of a thread-local two-way
//! set-associative table. No lock, no string comparison, no reference-count traffic on
//! shared cache lines. The price: the handle it returns, [`Child`], is tied to the thread
//! (`!Send`); [`Family::handle`] gives a `Send` clone of the metric for keeping.

use std::cell::{Cell, Ref, RefCell};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use ember_exposition::MetricType;
use hashbrown::HashTable;
use parking_lot::RwLock;
use thread_local::ThreadLocal;

use crate::encode::{LabelBlock, Metric, MetricEncoder, render_pairs};
use crate::error::{ErrorKind, Result, check_label_names};

/// The default cap on children per family.
pub const DEFAULT_MAX_CHILDREN: usize = 10_000;

/// A thread's cache of one family has at most this many slots.
const MAX_CACHED: usize = 4096;
/// Slots of a thread's cache when it is created.
const MIN_CACHED: usize = 16;

/// A family of metrics of type `C`, one child per combination of label values.
///
/// Cloning gives another handle to the same family.
pub struct Family<C: Send + Sync + 'static> {
    inner: Arc<Inner<C>>,
}

impl<C: Send + Sync + 'static> Clone for Family<C> {
    fn clone(&self) -> Self {
        Family { inner: self.inner.clone() }
    }
}

type Make<C> = Box<dyn Fn() -> C + Send + Sync>;

struct Inner<C: Send + Sync + 'static> {
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
    /// Per-thread caches of children, each validated against `generation`.
    cache: ThreadLocal<Padded<RefCell<ThreadCache<C>>>>,
}

/// A thread's cache on cache lines of its own: a lookup writes its borrow flag, and two
/// threads' caches side by side on one line would bounce it between their cores.
#[repr(align(128))]
struct Padded<T>(T);

impl<T> Deref for Padded<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A two-way set-associative cache: the child with cache hash `h` sits in one of the two
/// ways (slots `2s`, `2s + 1`) of set `s = h & (sets - 1)`, so a hit is two compares at most
/// and no probing loop. An insert into a full set doubles the table (up to [`MAX_CACHED`]
/// slots), then evicts.
///
/// In front of it, the child this thread repeats: once two lookups in a row found the same
/// child (a loop, a worker on one queue), that child's words and a clone of its metric sit
/// in `repeated`, beside the borrow flag, and the next lookups compare the values with those
/// words first, without hashing and without reaching into the table, until a lookup finds
/// another child. Lookups that move from child to child pay one predictable branch for it.
struct ThreadCache<C> {
    generation: u64,
    slots: Box<[Option<Local<C>>]>,
    /// `slots.len() / 2 - 1`: the set of hash `h` is `h & mask`.
    mask: usize,
    /// The slot the last lookup found, or `usize::MAX`.
    last: Cell<usize>,
    /// Whether the last two lookups found the same slot (then `repeated` is that child).
    repeating: Cell<bool>,
    repeated: Option<(Words, C)>,
}

/// Where a lookup found the child in a thread's cache.
enum Found {
    /// The repeated child.
    Repeated,
    /// This slot; `true` when the lookup before found it too.
    Slot(usize, bool),
}

impl<C> ThreadCache<C> {
    fn new(generation: u64, slots: usize) -> Self {
        ThreadCache {
            generation,
            slots: (0..slots).map(|_| None).collect(),
            mask: slots / 2 - 1,
            last: Cell::new(usize::MAX),
            repeating: Cell::new(false),
            repeated: None,
        }
    }

    /// The entry in slot `i`, if any.
    #[inline(always)]
    fn slot(&self, i: usize) -> Option<&Local<C>> {
        self.slots.get(i).and_then(Option::as_ref)
    }

    /// Makes the child in slot `i` the repeated one (if its values are short).
    fn promote(&mut self, i: usize)
    where
        C: Clone,
    {
        if let Some(Local { key: LocalKey::Short(w), metric, .. }) = self.slot(i)
            && self.repeated.as_ref().is_none_or(|(r, _)| r != w)
        {
            self.repeated = Some((*w, metric.clone()));
        }
    }

    /// Where the cached child for these values is.
    #[inline(always)]
    fn lookup(&self, seed: u64, values: &[&str]) -> Option<Found> {
        if self.repeating.get()
            && let Some((w, _)) = &self.repeated
            && w.equals(values)
        {
            return Some(Found::Repeated);
        }
        // One arm per small arity, so the words stay in registers (a call site with a
        // literal array keeps only its own arm).
        let i = match values.len() {
            1 => self.lookup_short::<1>(seed, values),
            2 => self.lookup_short::<2>(seed, values),
            3 => self.lookup_short::<3>(seed, values),
            4 => self.lookup_short::<4>(seed, values),
            _ => self.lookup_any(seed, values),
        };
        let Some(i) = i else {
            self.last.set(usize::MAX);
            self.repeating.set(false);
            return None;
        };
        let repeat = self.last.replace(i) == i;
        self.repeating.set(repeat);
        Some(Found::Slot(i, repeat))
    }

    /// Looks up `N` (at most [`SHORT_VALUES`]) values: their words are read once, into
    /// registers, hashed and compared with the set's. Values longer than 16 bytes go the
    /// general way.
    #[inline(always)]
    fn lookup_short<const N: usize>(&self, seed: u64, values: &[&str]) -> Option<usize> {
        let Some(w) = <&[&str; N]>::try_from(values).ok().and_then(Words::read::<N>) else {
            return self.lookup_any(seed, values);
        };
        self.find(w.hash::<N>(seed), |key| matches!(key, LocalKey::Short(k) if k.same::<N>(&w)))
    }

    /// The slot of the set for `hash` whose entry has this hash and a key `same` accepts.
    #[inline(always)]
    fn find(&self, hash: u64, same: impl Fn(&LocalKey) -> bool) -> Option<usize> {
        let s = (hash as usize & self.mask) * 2;
        let pair = self.slots.get(s..s + 2)?;
        let hit = |l: &Option<Local<C>>| l.as_ref().is_some_and(|l| l.hash == hash && same(&l.key));
        if hit(&pair[0]) {
            Some(s)
        } else if hit(&pair[1]) {
            Some(s + 1)
        } else {
            None
        }
    }

    /// Looks up any number of values of any length.
    #[inline(never)]
    fn lookup_any(&self, seed: u64, values: &[&str]) -> Option<usize> {
        let probe = probe(seed, values);
        self.find(cache_hash(seed, values.len(), &probe), |key| key.matches(values, &probe))
    }

    /// Inserts the entry (its `hash` is the cache hash, [`cache_hash`]) and makes it the one
    /// found last.
    fn insert(&mut self, local: Local<C>) {
        let s = (local.hash as usize & self.mask) * 2;
        let full = self.slots[s].is_some() && self.slots[s + 1].is_some();
        if full && self.slots.len() < MAX_CACHED {
            let old = std::mem::replace(self, ThreadCache::new(self.generation, self.slots.len() * 2));
            for l in old.slots.into_vec().into_iter().flatten() {
                self.insert(l);
            }
            return self.insert(local);
        }
        // The newest goes first; the one it displaces moves to the second way.
        let displaced = self.slots[s].replace(local);
        if displaced.is_some() {
            self.slots[s + 1] = displaced;
        }
        self.last.set(s);
    }
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

/// A child of a family, borrowed from the family for the current thread; dereferences to
/// the metric.
///
/// Usually a borrow of the thread's cache entry (no reference counting at all); the first
/// lookup of a child on a thread holds a clone of the metric instead.
pub struct Child<'a, C>(Repr<'a, C>);

enum Repr<'a, C> {
    Cached(Ref<'a, C>),
    Owned(C),
}

/// A thread's cache entry: the hash, the values (see [`LocalKey`]), and the metric.
struct Local<C> {
    hash: u64,
    key: LocalKey,
    metric: C,
}

/// Label values as a thread's cache keeps them for comparison.
enum LocalKey {
    /// Up to [`SHORT_VALUES`] values of at most 16 bytes each, as the words the hash read
    /// ([`Words`]): a hit compares these words and never reads the stored bytes again.
    Short(Words),
    /// Anything else, flattened into one buffer (each value as a 4-byte length then its
    /// bytes, so a comparison walks one allocation).
    Flat(Box<[u8]>),
}

/// This many values, each at most 16 bytes long, compare as words.
const SHORT_VALUES: usize = 4;

/// Label values (at most [`SHORT_VALUES`], each at most 16 bytes) as words: a value of up to
/// 8 bytes is `lo` (all its bytes, see [`tail_word`]) and `hi = 0`; up to 16 bytes, its first
/// and last 8 bytes. With the lengths, these words are the values exactly.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Words {
    lens: u32,
    lo: [u64; SHORT_VALUES],
    hi: [u64; SHORT_VALUES],
}

/// A length of 8 or more in any byte of [`Words::lens`]: then some `hi` word is not 0.
const ANY_LONG: u32 = 0xf8f8_f8f8;

impl Words {
    /// The words of `N` values, or `None` when one is longer than 16 bytes.
    #[inline(always)]
    fn read<const N: usize>(values: &[&str; N]) -> Option<Words> {
        let mut w = Words::default();
        for (i, v) in values.iter().enumerate() {
            let b = v.as_bytes();
            // As `short_words`, with the length check only where a value can be long.
            (w.lo[i], w.hi[i]) = match (b.first_chunk::<8>(), b.last_chunk::<8>()) {
                (Some(_), _) if b.len() > 16 => return None,
                (Some(first), Some(last)) => (u64::from_le_bytes(*first), u64::from_le_bytes(*last)),
                _ => (tail_word(b), 0),
            };
            w.lens |= (b.len() as u32) << (8 * i);
        }
        Some(w)
    }

    /// Whether these are the values, read afresh (a stored length is at most 16, so an equal
    /// length lets `short_words` read the value).
    #[inline(always)]
    fn equals(&self, values: &[&str]) -> bool {
        values.len() <= SHORT_VALUES
            && values.iter().zip(self.lo.iter().zip(&self.hi)).enumerate().all(|(i, (v, (&lo, &hi)))| {
                let b = v.as_bytes();
                b.len() == ((self.lens >> (8 * i)) & 0xff) as usize && short_words(b) == (lo, hi)
            })
    }

    /// Whether the first `N` values agree (the `hi` words are 0 unless a value has 8 bytes
    /// or more, so equal lengths below 8 leave only the `lo` words to compare).
    #[inline(always)]
    fn same<const N: usize>(&self, other: &Words) -> bool {
        let mut diff = u64::from(self.lens ^ other.lens);
        for i in 0..N {
            diff |= self.lo[i] ^ other.lo[i];
        }
        if self.lens & ANY_LONG != 0 {
            for i in 0..N {
                diff |= self.hi[i] ^ other.hi[i];
            }
        }
        diff == 0
    }

    /// Whether the first `n` values agree.
    #[inline(always)]
    fn matches(&self, n: usize, other: &Words) -> bool {
        self.lens == other.lens
            && (0..n.min(SHORT_VALUES)).all(|i| self.lo[i] == other.lo[i] && self.hi[i] == other.hi[i])
    }

    /// The thread cache's hash of the first `n` values: one multiply per value, then one
    /// folding multiply with the lengths.
    #[inline(always)]
    fn hash<const N: usize>(&self, seed: u64) -> u64 {
        self.hash_n(seed, N)
    }

    #[inline(always)]
    fn hash_n(&self, seed: u64, n: usize) -> u64 {
        let mut acc = seed;
        for i in 0..n.min(SHORT_VALUES) {
            acc = (acc ^ self.lo[i]).wrapping_mul(K) ^ self.hi[i];
        }
        folded_mul(acc ^ u64::from(self.lens), K ^ seed)
    }
}

/// The hash a thread's cache files these values under: for short values (words), the
/// cheap [`Words::hash_n`]; otherwise the family's hash.
#[inline]
fn cache_hash(seed: u64, n: usize, probe: &Probe) -> u64 {
    if probe.short { probe.words.hash_n(seed, n) } else { probe.hash }
}

/// A lookup's view of the values: their hash, and their words when they are short.
struct Probe {
    hash: u64,
    short: bool,
    words: Words,
}

impl LocalKey {
    fn new(values: &[&str], probe: &Probe) -> Self {
        if probe.short { LocalKey::Short(probe.words) } else { LocalKey::Flat(flat_key(values)) }
    }

    #[inline(always)]
    fn matches(&self, values: &[&str], probe: &Probe) -> bool {
        match self {
            LocalKey::Short(mine) => probe.short && mine.matches(values.len(), &probe.words),
            LocalKey::Flat(key) => !probe.short && key_matches(key, values),
        }
    }
}

fn flat_key(values: &[&str]) -> Box<[u8]> {
    let mut k = Vec::with_capacity(values.iter().map(|v| v.len() + 4).sum());
    for v in values {
        k.extend_from_slice(&(v.len() as u32).to_le_bytes());
        k.extend_from_slice(v.as_bytes());
    }
    k.into_boxed_slice()
}

#[inline(always)]
fn key_matches(mut key: &[u8], values: &[&str]) -> bool {
    for v in values {
        let v = v.as_bytes();
        if key.len() < 4 + v.len() || key[..4] != (v.len() as u32).to_le_bytes() {
            return false;
        }
        if !eq_bytes(&key[4..4 + v.len()], v) {
            return false;
        }
        key = &key[4 + v.len()..];
    }
    key.is_empty()
}

impl<C> Deref for Child<'_, C> {
    type Target = C;
    #[inline]
    fn deref(&self) -> &C {
        match &self.0 {
            Repr::Cached(r) => r,
            Repr::Owned(c) => c,
        }
    }
}

impl<C: std::fmt::Debug> std::fmt::Debug for Child<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Child").field(&**self).finish()
    }
}

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// The 128-bit product of `a` and `b`, folded to 64 bits: one multiply that mixes every
/// input bit into the middle of the result.
#[inline(always)]
fn folded_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn word(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// The last `b.len() % 8` bytes (or all of a short value) as a word, read without a copy
/// through the stack (a copy followed by a wide load stalls store forwarding).
#[inline(always)]
fn tail_word(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        word(&b[n - 8..])
    } else if n >= 4 {
        let lo = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
        let hi = u32::from_le_bytes(b[n - 4..].try_into().expect("4 bytes"));
        (u64::from(hi) << 32) | u64::from(lo)
    } else if let Some(first) = b.first_chunk::<2>() {
        u64::from(u16::from_le_bytes(*first)) | (u64::from(b[n - 1]) << 16)
    } else {
        b.first().map_or(0, |&c| u64::from(c))
    }
}

/// A value as two words: up to 8 bytes, all of them and 0; up to 16, the first and last 8;
/// longer, 16-byte chunks folded into the first word.
#[inline(always)]
fn value_words(seed: u64, b: &[u8]) -> (u64, u64) {
    if b.len() <= 16 { short_words(b) } else { long_words(seed, b) }
}

/// [`value_words`] of a value of at most 16 bytes: from 8 bytes, its first and last 8
/// (overlapping below 16); below 8, all its bytes in `lo` ([`tail_word`]) and `hi = 0`.
#[inline(always)]
fn short_words(b: &[u8]) -> (u64, u64) {
    match (b.first_chunk::<8>(), b.last_chunk::<8>()) {
        (Some(first), Some(last)) => (u64::from_le_bytes(*first), u64::from_le_bytes(*last)),
        _ => (tail_word(b), 0),
    }
}

#[cold]
#[inline(never)]
fn long_words(seed: u64, b: &[u8]) -> (u64, u64) {
    let n = b.len();
    let mut acc = seed;
    let mut rest = b;
    while rest.len() > 16 {
        acc = folded_mul(acc ^ word(rest), word(&rest[8..]) ^ K);
        rest = &rest[16..];
    }
    (acc ^ word(&b[n - 16..]), tail_word(b))
}

/// One value's step of the hash: its words and length in one multiply, combined with the
/// values before it through a rotation.
#[inline(always)]
fn mix(hash: u64, seed: u64, lo: u64, hi: u64, len: u32) -> u64 {
    hash.rotate_left(26) ^ folded_mul(lo ^ seed, hi ^ K ^ u64::from(len))
}

/// Hashes label values without allocating, and keeps the words it read when the values are
/// short. Each value is one multiply of its two words and its length (so `["ab", "c"]` and
/// `["a", "bc"]` differ); the values hash independently, so their multiplies overlap
/// instead of forming a chain, and combine by position through a rotation.
#[inline(always)]
fn probe(seed: u64, values: &[&str]) -> Probe {
    let (mut hash, mut short, mut lens) = (seed, values.len() <= SHORT_VALUES, 0u32);
    let (mut los, mut his) = ([0u64; SHORT_VALUES], [0u64; SHORT_VALUES]);
    for (i, v) in values.iter().enumerate() {
        let b = v.as_bytes();
        let n = b.len();
        let (lo, hi) = value_words(seed, b);
        short &= n <= 16;
        if i < SHORT_VALUES {
            los[i] = lo;
            his[i] = hi;
            lens |= ((n & 0xff) as u32) << (8 * i);
        }
        hash = mix(hash, seed, lo, hi, n as u32);
    }
    Probe { hash, short, words: Words { lens, lo: los, hi: his } }
}

/// The hash of label values (as [`probe`] computes it).
#[inline]
fn hash_values(seed: u64, values: &[&str]) -> u64 {
    probe(seed, values).hash
}

/// Byte equality; values up to 16 bytes compare as two overlapping words, no `memcmp` call.
#[inline(always)]
fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n <= 8 {
        // tail_word reads every byte of a value shorter than 9 bytes.
        tail_word(a) == tail_word(b)
    } else if n <= 16 {
        a[..8] == b[..8] && tail_word(a) == tail_word(b)
    } else {
        a == b
    }
}

#[inline]
fn same_values(stored: &[Box<str>], values: &[&str]) -> bool {
    stored.len() == values.len() && stored.iter().zip(values).all(|(a, b)| eq_bytes(a.as_bytes(), b.as_bytes()))
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
                seed: RandomState::new().hash_one(0u8),
                names: label_names.iter().map(|n| Box::from(*n)).collect(),
                metric_type,
                make: Box::new(make),
                max_children: AtomicUsize::new(DEFAULT_MAX_CHILDREN),
                generation: AtomicU64::new(0),
                children: RwLock::new(Children { index: HashTable::new(), list: Vec::new() }),
                detached: OnceLock::new(),
                refused: AtomicU64::new(0),
                cache: ThreadLocal::new(),
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
    pub fn get(&self, values: &[&str]) -> Result<Child<'_, C>> {
        let inner = &*self.inner;
        if values.len() != inner.names.len() {
            return Err(ErrorKind::LabelCount { expected: inner.names.len(), got: values.len() }.into());
        }
        match self.cached(values) {
            Some(metric) => Ok(Child(Repr::Cached(metric))),
            None => self.get_slow(values),
        }
    }

    /// The fast path: this thread's cache, if it is current and holds the child.
    #[inline(always)]
    fn cached(&self, values: &[&str]) -> Option<Ref<'_, C>> {
        let inner = &*self.inner;
        let cell = inner.cache.get()?;
        let cache = cell.try_borrow().ok()?;
        if cache.generation != inner.generation.load(Ordering::Acquire) {
            return None;
        }
        match cache.lookup(inner.seed, values)? {
            Found::Repeated => Ref::filter_map(cache, |c| c.repeated.as_ref().map(|(_, m)| m)).ok(),
            Found::Slot(i, repeat) => {
                let cache = if repeat {
                    // Two in a row: make it the repeated child (skipped while a child is
                    // borrowed).
                    drop(cache);
                    if let Ok(mut c) = cell.try_borrow_mut() {
                        c.promote(i);
                    }
                    cell.try_borrow().ok()?
                } else {
                    cache
                };
                Ref::filter_map(cache, |c| c.slot(i).map(|l| &l.metric)).ok()
            }
        }
    }

    #[cold]
    fn get_slow(&self, values: &[&str]) -> Result<Child<'_, C>> {
        let probe = &probe(self.inner.seed, values);
        let (entry, generation) = self.shared_entry(values, probe.hash)?;
        let metric = entry.metric.clone();
        let cell = self.inner.cache.get_or(|| Padded(RefCell::new(ThreadCache::new(generation, MIN_CACHED))));
        // Busy when this thread still holds a child of this family: then skip the cache.
        if let Ok(mut cache) = cell.try_borrow_mut() {
            if cache.generation != generation {
                // A removal happened since this thread filled its cache: start over.
                *cache = ThreadCache::new(generation, MIN_CACHED);
            }
            let hash = cache_hash(self.inner.seed, values.len(), probe);
            cache.insert(Local { hash, key: LocalKey::new(values, probe), metric: metric.clone() });
        }
        Ok(Child(Repr::Owned(metric)))
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
    #[inline(always)]
    pub fn with_label_values(&self, values: &[&str]) -> Child<'_, C> {
        // Kept apart from `get` so the hot path never builds a `Result` (which would travel
        // through memory) and the child comes back in registers.
        if values.len() == self.inner.names.len()
            && let Some(metric) = self.cached(values)
        {
            return Child(Repr::Cached(metric));
        }
        self.with_label_values_slow(values)
    }

    #[cold]
    #[inline(never)]
    fn with_label_values_slow(&self, values: &[&str]) -> Child<'_, C> {
        match self.get(values) {
            Ok(c) => c,
            Err(_) => {
                let inner = &*self.inner;
                inner.refused.fetch_add(1, Ordering::Relaxed);
                let entry = inner.detached.get_or_init(|| {
                    Arc::new(Entry { hash: 0, values: Box::new([]), rendered: Box::from(""), metric: (inner.make)() })
                });
                Child(Repr::Owned(entry.metric.clone()))
            }
        }
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

impl<C: Send + Sync + 'static> std::fmt::Debug for Family<C> {
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
pub struct TypedFamily<L, C: Send + Sync + 'static> {
    family: Family<C>,
    _labels: PhantomData<fn(&L)>,
}

impl<L, C: Send + Sync + 'static> Clone for TypedFamily<L, C> {
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
    pub fn get(&self, labels: &L) -> Result<Child<'_, C>> {
        labels.with_values(|v| self.family.get(v))
    }

    /// The child for these labels, never failing ([`Family::with_label_values`]).
    #[inline]
    pub fn with_labels(&self, labels: &L) -> Child<'_, C> {
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
    fn short_compare_is_byte_equality() {
        let words =
            ["", "a", "ab", "abc", "abcd", "abcde", "abcdefgh", "abcdefghi", "abcdefghijklmnop", "abcdefghijklmnopq"];
        for a in words {
            for b in words {
                assert_eq!(eq_bytes(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
            }
            let mut changed = a.as_bytes().to_vec();
            for i in 0..changed.len() {
                changed[i] ^= 1;
                assert!(!eq_bytes(a.as_bytes(), &changed), "{a:?} differs at {i}");
                changed[i] ^= 1;
            }
        }
    }

    #[test]
    fn hash_separates_values() {
        assert_ne!(hash_values(1, &["ab", "c"]), hash_values(1, &["a", "bc"]));
        assert_ne!(hash_values(1, &["", "x"]), hash_values(1, &["x", ""]));
        assert_eq!(hash_values(7, &["GET", "200"]), hash_values(7, &["GET", "200"]));
    }

    #[test]
    fn words_keep_lengths_apart() {
        // Same first and last 8 bytes, different lengths: the words alone would agree.
        let f = Family::<Counter>::new(&["a", "b"]).unwrap();
        let nines = "a".repeat(9);
        let tens = "a".repeat(10);
        for (v, n) in [(&nines, 1), (&tens, 2), (&nines, 4)] {
            f.with_label_values(&[v, "x"]).inc_by(n);
        }
        assert_eq!(f.handle(&[&nines, "x"]).unwrap().get(), 5);
        assert_eq!(f.handle(&[&tens, "x"]).unwrap().get(), 2);
    }

    proptest::proptest! {
        /// Lookups through the thread cache (short words and flat keys alike) land on the
        /// same children as a plain map of the values would.
        #[test]
        fn lookups_agree_with_a_map(
            arity in 1usize..7,
            pool in proptest::collection::vec("[ab\\x00]{0,20}", 1..6),
            picks in proptest::collection::vec(proptest::collection::vec(0usize..6, 6), 1..200),
        ) {
            let ops: Vec<Vec<String>> =
                picks.iter().map(|p| p.iter().map(|&i| pool[i % pool.len()].clone()).collect()).collect();
            let names: Vec<String> = (0..arity).map(|i| format!("l{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let f = Family::<Counter>::new(&names).unwrap();
            let mut naive = std::collections::HashMap::<Vec<String>, u64>::new();
            for (i, op) in ops.iter().enumerate() {
                let values: Vec<&str> = op[..arity].iter().map(String::as_str).collect();
                f.with_label_values(&values).inc_by(i as u64 + 1);
                *naive.entry(op[..arity].to_vec()).or_default() += i as u64 + 1;
            }
            proptest::prop_assert_eq!(f.len(), naive.len());
            for (values, want) in &naive {
                let values: Vec<&str> = values.iter().map(String::as_str).collect();
                proptest::prop_assert_eq!(f.get(&values).unwrap().get(), *want, "{:?}", values);
            }
        }
    }

    /// A child looked up once is found in the thread's cache the next time, whatever the
    /// arity and value lengths (the cache hash a lookup computes is the one an insert files
    /// under; a mismatch would still give the right child, through the slow path).
    #[test]
    fn second_lookup_hits_the_thread_cache() {
        let lens = [0usize, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 40];
        for arity in 0..7 {
            let names: Vec<String> = (0..arity).map(|i| format!("l{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let f = Family::<Counter>::new(&names).unwrap();
            let mut want = std::collections::HashMap::<Vec<String>, u64>::new();
            for (k, &n) in lens.iter().enumerate() {
                let owned: Vec<String> =
                    (0..arity).map(|i| "xyz".repeat(n + 2).chars().skip(i + k).take(n).collect()).collect();
                let values: Vec<&str> = owned.iter().map(String::as_str).collect();
                f.with_label_values(&values).inc();
                for _ in 0..3 {
                    assert!(f.cached(&values).is_some(), "arity {arity}, values {values:?}");
                    f.with_label_values(&values).inc();
                }
                *want.entry(owned).or_default() += 4;
            }
            for (owned, n) in &want {
                let values: Vec<&str> = owned.iter().map(String::as_str).collect();
                assert_eq!(f.handle(&values).unwrap().get(), *n, "{values:?}");
            }
        }
    }

    #[test]
    fn repeated_child_follows_runs_and_removals() {
        let f = Family::<Counter>::new(&["a", "b"]).unwrap();
        for (v, times) in [("x", 3), ("y", 4), ("x", 1), ("x", 5), ("y", 1)] {
            for _ in 0..times {
                f.with_label_values(&["k", v]).inc();
            }
        }
        assert_eq!(f.handle(&["k", "x"]).unwrap().get(), 9);
        assert_eq!(f.handle(&["k", "y"]).unwrap().get(), 5);
        for _ in 0..3 {
            f.with_label_values(&["k", "y"]).inc();
        }
        assert!(f.remove(&["k", "y"]));
        f.with_label_values(&["k", "y"]).inc();
        f.with_label_values(&["k", "y"]).inc();
        assert_eq!(f.handle(&["k", "y"]).unwrap().get(), 2, "the repeated child outlived its removal");
        // While a child is borrowed, lookups still work (the cache is not promoted).
        let held = f.with_label_values(&["k", "x"]);
        for _ in 0..3 {
            f.with_label_values(&["k", "x"]).inc();
        }
        drop(held);
        assert_eq!(f.handle(&["k", "x"]).unwrap().get(), 12);
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
    fn thread_cache_grows_and_evicts_without_mixing_children() {
        // More children than the cache has slots: some lookups miss and refill it.
        let f = Family::<Counter>::new(&["a"]).unwrap();
        let n = MAX_CACHED + 1000;
        for round in 0..3 {
            for i in 0..n {
                f.with_label_values(&[&i.to_string()]).inc_by(i as u64 + 1);
            }
            let c = f.get(&["7"]).unwrap();
            assert_eq!(c.get(), 8 * (round + 1));
        }
        for i in (0..n).step_by(97) {
            assert_eq!(f.handle(&[&i.to_string()]).unwrap().get(), 3 * (i as u64 + 1), "{i}");
        }
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
        assert_eq!(f.refused(), 1, "only with_label_values counts refusals");
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
