//! The numbers a counter or gauge can hold, all stored in one `AtomicU64`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

mod sealed {
    pub trait Sealed {}
    impl Sealed for u64 {}
    impl Sealed for i64 {}
    impl Sealed for f64 {}
}

/// A number stored in an `AtomicU64`: `u64` and `f64` for counters, `i64` and `f64` for gauges.
///
/// Shared cells add integers with one relaxed `fetch_add` and floats with a compare-and-swap
/// loop on their bits; a cell with one writer adds with a plain load and store.
pub trait Number: sealed::Sealed + Copy + PartialOrd + Send + Sync + 'static {
    /// The value one.
    const ONE: Self;
    /// The value zero.
    const ZERO: Self;
    /// Adds `v` to the cell.
    fn add(cell: &AtomicU64, v: Self);
    /// Stores `v` in the cell.
    fn store(cell: &AtomicU64, v: Self) {
        cell.store(Self::to_bits(v), Relaxed);
    }
    /// Reads the cell.
    fn load(cell: &AtomicU64) -> Self {
        Self::from_bits(cell.load(Relaxed))
    }
    /// The bit pattern of `from_bits(bits) + v` (integers wrap), for a cell with one
    /// writer, which adds with a plain load and store.
    fn add_bits(bits: u64, v: Self) -> u64;
    /// The bit pattern stored for `v`.
    fn to_bits(v: Self) -> u64;
    /// The value of a bit pattern.
    fn from_bits(b: u64) -> Self;
    /// The value as a float (for protobuf and for exemplars).
    fn as_f64(self) -> f64;
    /// Whether the value may be added to a counter (not negative, not NaN).
    fn is_valid_increment(self) -> bool;
    /// Writes the value as the text formats want it.
    fn write(self, out: &mut String);
}

impl Number for u64 {
    const ONE: Self = 1;
    const ZERO: Self = 0;
    #[inline]
    fn add(cell: &AtomicU64, v: Self) {
        cell.fetch_add(v, Relaxed);
    }
    #[inline]
    fn add_bits(bits: u64, v: Self) -> u64 {
        bits.wrapping_add(v)
    }
    #[inline]
    fn to_bits(v: Self) -> u64 {
        v
    }
    #[inline]
    fn from_bits(b: u64) -> Self {
        b
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn is_valid_increment(self) -> bool {
        true
    }
    fn write(self, out: &mut String) {
        out.push_str(itoa::Buffer::new().format(self));
    }
}

impl Number for i64 {
    const ONE: Self = 1;
    const ZERO: Self = 0;
    #[inline]
    fn add(cell: &AtomicU64, v: Self) {
        // Two's complement: wrapping addition of the bit patterns is signed addition.
        cell.fetch_add(v as u64, Relaxed);
    }
    #[inline]
    fn add_bits(bits: u64, v: Self) -> u64 {
        bits.wrapping_add(v as u64)
    }
    #[inline]
    fn to_bits(v: Self) -> u64 {
        v as u64
    }
    #[inline]
    fn from_bits(b: u64) -> Self {
        b as i64
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn is_valid_increment(self) -> bool {
        self >= 0
    }
    fn write(self, out: &mut String) {
        out.push_str(itoa::Buffer::new().format(self));
    }
}

impl Number for f64 {
    const ONE: Self = 1.0;
    const ZERO: Self = 0.0;
    #[inline]
    fn add(cell: &AtomicU64, v: Self) {
        add_f64(cell, v);
    }
    #[inline]
    fn add_bits(bits: u64, v: Self) -> u64 {
        (f64::from_bits(bits) + v).to_bits()
    }
    #[inline]
    fn to_bits(v: Self) -> u64 {
        v.to_bits()
    }
    #[inline]
    fn from_bits(b: u64) -> Self {
        f64::from_bits(b)
    }
    fn as_f64(self) -> f64 {
        self
    }
    #[inline]
    fn is_valid_increment(self) -> bool {
        self >= 0.0
    }
    fn write(self, out: &mut String) {
        write_f64(out, self);
    }
}

/// Adds `v` to the float whose bits are in `cell`.
#[inline]
pub(crate) fn add_f64(cell: &AtomicU64, v: f64) {
    let mut cur = cell.load(Relaxed);
    loop {
        let new = (f64::from_bits(cur) + v).to_bits();
        match cell.compare_exchange_weak(cur, new, Relaxed, Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

/// Writes a float as both text formats accept it: `+Inf`, `-Inf`, `NaN`, otherwise the
/// shortest representation that reads back to the same bits (`1.0`, `0.25`, `1e-7`).
pub fn write_f64(out: &mut String, v: f64) {
    if v.is_finite() {
        out.push_str(ryu::Buffer::new().format_finite(v));
    } else if v.is_nan() {
        out.push_str("NaN");
    } else if v > 0.0 {
        out.push_str("+Inf");
    } else {
        out.push_str("-Inf");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_so_they_read_back() {
        #[track_caller]
        fn check(v: f64, want: &str) {
            let mut s = String::new();
            write_f64(&mut s, v);
            assert_eq!(s, want);
        }
        check(1.0, "1.0");
        check(0.25, "0.25");
        check(f64::INFINITY, "+Inf");
        check(f64::NEG_INFINITY, "-Inf");
        check(f64::NAN, "NaN");
        check(1e-7, "1e-7");
    }

    #[test]
    fn signed_addition_through_bits() {
        let c = AtomicU64::new(0);
        i64::add(&c, 5);
        i64::add(&c, -7);
        assert_eq!(i64::load(&c), -2);
        f64::add(&c, 0.0);
        let f = AtomicU64::new(0.5f64.to_bits());
        f64::add(&f, 0.25);
        assert_eq!(f64::load(&f), 0.75);
    }
}
