//! The XOR chunk: Gorilla compression for float samples, in Prometheus's byte layout.
//!
//! ```text
//! num_samples <u16 BE> | ts_0 <varint> | v_0 <64 bits> | ts_1 - ts_0 <uvarint> | v_1 <xor>
//!                      | dod_2 <varbit_ts> | v_2 <xor> | ... | padding to a byte
//! varbit_ts: 0 (dod = 0) | 10 + 14 bits | 110 + 17 bits | 1110 + 20 bits | 1111 + 64 bits
//! xor:       0 (same value) | 10 + bits in the previous window
//!                           | 11 + leading<5> + significant<6, 0 means 64> + bits
//! ```
//!
//! Timestamp arithmetic wraps, so any sequence of `i64` round-trips, even an unsorted one
//! (callers append in order; the head never relies on the encoding to check it).

use ember_exposition::Timestamp;

use super::bstream::{BitReader, BitWriter, read_uvarint, read_varint, write_uvarint, write_varint};
use super::{ChunkError, ChunkErrorKind};
use crate::storage::{Point, SampleIterator, StorageError, StorageErrorKind};

/// Bytes of the sample-count header.
const HEADER: usize = 2;

/// Builds one XOR chunk.
#[derive(Debug, Clone)]
pub struct XorEncoder {
    w: BitWriter,
    num: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    /// Leading zeros of the current XOR window; `0xff` before the first window.
    leading: u8,
    trailing: u8,
}

impl Default for XorEncoder {
    fn default() -> Self {
        XorEncoder::new()
    }
}

#[inline]
fn bit_range(x: i64, nbits: u32) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= x && x <= 1i64 << (nbits - 1)
}

/// Writes a timestamp's delta of deltas in Prometheus's variable-width buckets.
#[inline]
pub(super) fn write_dod(w: &mut BitWriter, dod: i64) {
    if dod == 0 {
        w.write_bit(false);
    } else if bit_range(dod, 14) {
        w.write_bits((0b10 << 14) | (dod as u64 & 0x3fff), 16);
    } else if bit_range(dod, 17) {
        w.write_bits((0b110 << 17) | (dod as u64 & 0x1_ffff), 20);
    } else if bit_range(dod, 20) {
        w.write_bits((0b1110 << 20) | (dod as u64 & 0xf_ffff), 24);
    } else {
        w.write_bits(0b1111, 4);
        w.write_bits(dod as u64, 64);
    }
}

/// Reads what [`write_dod`] wrote.
#[inline]
pub(super) fn read_dod(r: &mut BitReader<'_>) -> Option<i64> {
    let mut ones = 0;
    while ones < 4 && r.read_bit()? {
        ones += 1;
    }
    Some(match ones {
        0 => 0,
        4 => r.read_bits(64)? as i64,
        n => {
            let sz = [0, 14, 17, 20][n];
            let bits = r.read_bits(sz)? as i64;
            if bits > 1i64 << (sz - 1) { bits - (1i64 << sz) } else { bits }
        }
    })
}

impl XorEncoder {
    /// An empty chunk.
    pub fn new() -> Self {
        XorEncoder::with_capacity(128)
    }

    /// An empty chunk with room for `bytes` bytes before reallocating.
    pub fn with_capacity(bytes: usize) -> Self {
        XorEncoder {
            w: BitWriter::with_prefix(&[0, 0], bytes),
            num: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0xff,
            trailing: 0,
        }
    }

    /// Number of samples appended.
    #[inline]
    pub fn num_samples(&self) -> u16 {
        self.num
    }

    /// Whether the chunk cannot take another sample (its count is a `u16`).
    pub fn is_full(&self) -> bool {
        self.num == u16::MAX
    }

    /// The chunk's bytes so far, header included; a valid chunk at every point.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// Consumes the encoder, returning its writer (to reuse the allocation).
    pub(super) fn into_writer(self) -> BitWriter {
        self.w
    }

    /// Consumes the encoder, returning the chunk bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// The newest timestamp appended (meaningless when empty).
    pub fn last_t(&self) -> Timestamp {
        self.t
    }

    /// The newest value appended, as bits (meaningless when empty).
    pub fn last_value_bits(&self) -> u64 {
        self.v
    }

    /// Appends a sample. Callers keep timestamps increasing; the chunk must not be full.
    #[inline]
    pub fn append(&mut self, t: Timestamp, v: f64) {
        debug_assert!(!self.is_full());
        let vb = v.to_bits();
        match self.num {
            0 => {
                write_varint(&mut self.w, t);
                self.w.write_bits(vb, 64);
            }
            1 => {
                let delta = t.wrapping_sub(self.t);
                write_uvarint(&mut self.w, delta as u64);
                self.t_delta = delta;
                self.write_value(vb);
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                write_dod(&mut self.w, delta.wrapping_sub(self.t_delta));
                self.t_delta = delta;
                self.write_value(vb);
            }
        }
        self.t = t;
        self.v = vb;
        self.num += 1;
        self.w.bytes_mut()[..HEADER].copy_from_slice(&self.num.to_be_bytes());
    }

    #[inline]
    fn write_value(&mut self, vb: u64) {
        let delta = vb ^ self.v;
        if delta == 0 {
            self.w.write_bit(false);
            return;
        }
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.write_bits(0b10, 2);
            let sig = 64 - self.leading as u32 - self.trailing as u32;
            self.w.write_bits(delta >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            let sig = 64 - leading as u32 - trailing as u32;
            // 2 control bits, 5 bits of leading zeros, 6 of significant bits (64 as 0).
            self.w.write_bits((0b11 << 11) | ((leading as u64) << 6) | (sig as u64 & 63), 13);
            self.w.write_bits(delta >> trailing, sig);
        }
    }
}

/// Decodes an XOR chunk, sample by sample.
#[derive(Debug, Clone)]
pub struct XorIterator<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
    cur: Option<Point>,
    err: Option<ChunkError>,
}

impl<'a> XorIterator<'a> {
    /// Iterates the whole chunk `bytes` (header included).
    pub fn new(bytes: &'a [u8]) -> Self {
        XorIterator::with_limit(bytes, u16::MAX)
    }

    /// Iterates at most `limit` samples of the chunk: a reader of a chunk still being
    /// written sees only the samples that were visible when it looked.
    pub fn with_limit(bytes: &'a [u8], limit: u16) -> Self {
        let (total, err, body) = match bytes.get(..HEADER) {
            Some(h) => (u16::from_be_bytes([h[0], h[1]]).min(limit), None, &bytes[HEADER..]),
            None => (0, Some(ChunkError { kind: ChunkErrorKind::Truncated, offset: 0 }), &[][..]),
        };
        XorIterator {
            r: BitReader::new(body),
            total,
            read: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0xff,
            trailing: 0,
            cur: None,
            err,
        }
    }

    /// The decoding error that stopped iteration, if any.
    pub fn chunk_error(&self) -> Option<ChunkError> {
        self.err
    }

    fn fail(&mut self) -> Option<Point> {
        self.err = Some(ChunkError { kind: ChunkErrorKind::Truncated, offset: HEADER + self.r.position() / 8 });
        self.cur = None;
        None
    }

    #[inline]
    fn decode(&mut self) -> Option<()> {
        match self.read {
            0 => {
                self.t = read_varint(&mut self.r)?;
                self.v = self.r.read_bits(64)?;
            }
            1 => {
                self.t_delta = read_uvarint(&mut self.r)? as i64;
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
            _ => {
                self.t_delta = self.t_delta.wrapping_add(read_dod(&mut self.r)?);
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
        }
        Some(())
    }

    #[inline]
    fn read_value(&mut self) -> Option<()> {
        if !self.r.read_bit()? {
            return Some(());
        }
        if self.r.read_bit()? {
            let hdr = self.r.read_bits(11)?;
            self.leading = (hdr >> 6) as u8;
            let sig = match (hdr & 63) as u8 {
                0 => 64,
                s => s,
            };
            self.trailing = 64u8.checked_sub(self.leading + sig)?;
        } else if self.leading == 0xff {
            return None;
        }
        let sig = 64 - self.leading as u32 - self.trailing as u32;
        let bits = self.r.read_bits(sig)?;
        self.v ^= bits.checked_shl(self.trailing as u32).unwrap_or(0);
        Some(())
    }
}

impl SampleIterator for XorIterator<'_> {
    #[inline]
    fn next(&mut self) -> Option<Point> {
        if self.read >= self.total || self.err.is_some() {
            self.cur = None;
            return None;
        }
        if self.decode().is_none() {
            return self.fail();
        }
        self.read += 1;
        let p = Point::float(self.t, f64::from_bits(self.v));
        self.cur = Some(p);
        Some(p)
    }

    fn at(&self) -> Option<Point> {
        self.cur
    }

    fn error(&self) -> Option<StorageError> {
        self.err.map(|_| StorageError::new(StorageErrorKind::Corruption))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_exposition::STALE_NAN;
    use proptest::prelude::*;

    fn round_trip(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
        let mut e = XorEncoder::new();
        for &(t, v) in samples {
            e.append(t, v);
        }
        let mut it = XorIterator::new(e.bytes());
        let mut out = Vec::new();
        while let Some(p) = it.next() {
            out.push((p.t, p.v.as_float().unwrap().to_bits()));
        }
        assert!(it.chunk_error().is_none());
        out
    }

    #[track_caller]
    fn check(samples: &[(i64, f64)]) {
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(round_trip(samples), want);
    }

    #[test]
    fn special_values() {
        check(&[]);
        check(&[(0, 0.0)]);
        check(&[(1, -0.0), (2, 0.0), (3, -0.0)]);
        check(&[(1, STALE_NAN), (2, f64::NAN), (3, STALE_NAN), (4, f64::INFINITY), (5, f64::NEG_INFINITY)]);
        check(&[(i64::MIN, f64::MIN_POSITIVE), (i64::MAX, f64::MAX), (0, f64::from_bits(1)), (-5, f64::MIN)]);
        check(&[(1000, 1.0), (16000, 1.0), (31000, 2.0), (46001, 2.5), (60999, 1e300), (75000, 1e-300)]);
    }

    #[test]
    fn layout_matches_prometheus() {
        let mut e = XorEncoder::new();
        e.append(1, 1.0);
        // count 1, zig-zag varint 1 = 0x02, then 1.0's bits.
        assert_eq!(e.bytes(), &[0, 1, 0x02, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
        e.append(16, 1.0);
        // uvarint 15, then a single 0 bit (same value), padded.
        assert_eq!(&e.bytes()[..2], &[0, 2]);
        assert_eq!(&e.bytes()[11..], &[15, 0]);
    }

    #[test]
    fn limit_hides_newer_samples() {
        let mut e = XorEncoder::new();
        for i in 0..10 {
            e.append(i * 15_000, i as f64);
        }
        let mut it = XorIterator::with_limit(e.bytes(), 4);
        let mut n = 0;
        while it.next().is_some() {
            n += 1;
        }
        assert_eq!(n, 4);
    }

    #[test]
    fn truncated_data_is_an_error_not_a_panic() {
        let mut e = XorEncoder::new();
        for i in 0..50 {
            e.append(i * 15_000 + (i % 3), (i as f64).sqrt());
        }
        let bytes = e.bytes();
        for cut in 0..bytes.len() {
            let mut it = XorIterator::new(&bytes[..cut]);
            while it.next().is_some() {}
            assert!(it.chunk_error().is_some() || cut >= bytes.len() - 1, "cut {cut}");
        }
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<u64>().prop_map(f64::from_bits),
            Just(STALE_NAN),
            Just(-0.0),
            Just(f64::INFINITY),
            (0u32..1000).prop_map(|v| v as f64 / 10.0),
        ]
    }

    proptest! {
        #[test]
        fn any_samples_round_trip_by_bits(
            start in any::<i64>(),
            steps in proptest::collection::vec(prop_oneof![Just(15_000i64), 0i64..100_000, any::<i64>()], 0..300),
            values in proptest::collection::vec(value(), 300),
        ) {
            let mut t = start;
            let samples: Vec<(i64, f64)> = steps.iter().zip(&values).map(|(&d, &v)| { t = t.wrapping_add(d); (t, v) }).collect();
            let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            prop_assert_eq!(round_trip(&samples), want);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut it = XorIterator::new(&bytes);
            while it.next().is_some() {}
        }
    }
}
