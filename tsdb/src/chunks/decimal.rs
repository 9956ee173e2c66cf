//! The decimal chunk: float samples that are exact decimals with few digits (integers,
//! `12345.67`, `0.25`), stored as scaled integers.
//!
//! Most exporters publish integers (byte and packet counters, sizes, states) or values
//! with a few decimals (CPU seconds in hundredths, load averages, temperatures). XOR
//! compresses integers well, but a decimal fraction such as `0.67` has no short binary
//! form, so every change costs 40-50 bits of mantissa. Here each value `v` is stored as
//! the integer `k` with `v == k / 10^scale` (bit for bit, `k` within ±2^53), one scale per
//! chunk, and `k` is coded as the difference from a prediction: the previous value when
//! the series looks like a gauge, the previous value plus the previous step when the last
//! two steps went the same way (a counter).
//!
//! ```text
//! num_samples <u16 BE> | scale <u8> | ts_0 <varint> | k_0 <varint> | ts_1 - ts_0 <uvarint>
//!                      | r_1 <varbit_k> | dod_2 <varbit_ts> | r_2 <varbit_k> | ... | padding
//! varbit_ts: as the XOR chunk
//! varbit_k:  0 (r = 0) | 10 + 7 bits | 110 + 14 bits | 1110 + 24 bits | 11110 + 40 bits
//!                      | 11111 + 64 bits
//! ```
//!
//! A value that is not such a decimal (NaN, infinities, `-0.0`, `0.1 + 0.2`) does not fit:
//! [`DecimalEncoder::append`] refuses it and the caller re-encodes the chunk as XOR
//! ([`ChunkEncoder`] does that).

use ember_exposition::Timestamp;

use super::bstream::{BitReader, BitWriter, read_uvarint, read_varint, write_uvarint, write_varint};
use super::xor::{read_dod, write_dod};
use super::{ChunkError, ChunkErrorKind, Encoding, PackedIterator, XorEncoder, XorIterator};
use crate::storage::{Point, SampleIterator, StorageError, StorageErrorKind};

/// Bytes before the bit stream: the sample count and the scale.
const HEADER: usize = 3;
/// The largest scale (decimal digits after the point) tried.
pub const MAX_SCALE: u8 = 12;
/// |k| must stay below this, so `k` converts to `f64` exactly.
const K_LIMIT: i64 = 1 << 53;

const POW10: [f64; MAX_SCALE as usize + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12];

/// The value `k / 10^scale` decodes to.
#[inline]
pub(super) fn decode_k(k: i64, scale: u8) -> f64 {
    if scale == 0 { k as f64 } else { k as f64 / POW10[scale as usize] }
}

/// `k` with `k / 10^scale == v` bit for bit, if there is one within ±2^53.
#[inline]
pub(super) fn encode_k(v: f64, scale: u8) -> Option<i64> {
    let x = v * POW10[scale as usize];
    // NaN and infinities fail the range check.
    if x.is_nan() || x.abs() >= K_LIMIT as f64 {
        return None;
    }
    // Rounds to nearest by truncating (no libm call); `x - t` is exact below 2^53. Any `k`
    // that decodes to `v` exactly will do, and the check below decides.
    let t = x as i64;
    let frac = x - t as f64;
    let k = t + (frac >= 0.5) as i64 - (frac <= -0.5) as i64;
    (decode_k(k, scale).to_bits() == v.to_bits()).then_some(k)
}

/// The smallest scale at least `from` at which `v` fits.
pub(super) fn fit_scale(v: f64, from: u8) -> Option<(u8, i64)> {
    (from..=MAX_SCALE).find_map(|s| encode_k(v, s).map(|k| (s, k)))
}

/// Whether `v` is a decimal with at most [`MAX_SCALE`] digits after the point (and fits
/// a decimal or packed chunk).
pub(crate) fn is_short_decimal(v: f64) -> bool {
    fit_scale(v, 0).is_some()
}

/// The prediction for the next `k`: a step like the last one when the last two steps
/// went the same way, otherwise no change.
#[inline]
fn predict(k: i64, d1: i64, d2: i64) -> i64 {
    if (d1 > 0 && d2 > 0) || (d1 < 0 && d2 < 0) { k.wrapping_add(d1) } else { k }
}

#[inline]
fn fits(x: i64, nbits: u32) -> bool {
    -(1i64 << (nbits - 1)) < x && x <= 1i64 << (nbits - 1)
}

/// (prefix, prefix length, payload bits) of the residual buckets, after the `0` bucket.
const BUCKETS: [(u64, u32, u32); 5] =
    [(0b10, 2, 7), (0b110, 3, 14), (0b1110, 4, 24), (0b11110, 5, 40), (0b11111, 5, 64)];

#[inline]
fn write_residual(w: &mut BitWriter, r: i64) {
    if r == 0 {
        w.write_bit(false);
        return;
    }
    for &(prefix, plen, bits) in &BUCKETS[..4] {
        if fits(r, bits) {
            w.write_bits((prefix << bits) | (r as u64 & ((1u64 << bits) - 1)), plen + bits);
            return;
        }
    }
    w.write_bits(0b11111, 5);
    w.write_bits(r as u64, 64);
}

#[inline]
fn read_residual(r: &mut BitReader<'_>) -> Option<i64> {
    let mut ones = 0;
    while ones < 5 && r.read_bit()? {
        ones += 1;
    }
    if ones == 0 {
        return Some(0);
    }
    let bits = BUCKETS[ones - 1].2;
    let x = r.read_bits(bits)?;
    if bits == 64 {
        return Some(x as i64);
    }
    // Payloads cover (-2^(bits-1), 2^(bits-1)]; the top value reads as positive.
    let half = 1u64 << (bits - 1);
    Some(if x > half { x as i64 - (1i64 << bits) } else { x as i64 })
}

/// Builds one decimal chunk.
#[derive(Debug, Clone)]
pub struct DecimalEncoder {
    w: BitWriter,
    num: u16,
    scale: u8,
    t: i64,
    t_delta: i64,
    k: i64,
    /// The last two steps of `k`, newest first.
    d1: i64,
    d2: i64,
    v_bits: u64,
}

impl DecimalEncoder {
    /// An empty chunk with room for `bytes` bytes before reallocating.
    pub fn with_capacity(bytes: usize) -> Self {
        DecimalEncoder {
            w: BitWriter::with_prefix(&[0; HEADER], bytes),
            num: 0,
            scale: 0,
            t: 0,
            t_delta: 0,
            k: 0,
            d1: 0,
            d2: 0,
            v_bits: 0,
        }
    }

    /// Number of samples appended.
    #[inline]
    pub fn num_samples(&self) -> u16 {
        self.num
    }

    /// Empties the chunk, keeping its allocation. Every piece of predictor state goes back
    /// to its initial value, so the next chunk decodes on its own.
    pub fn reset(&mut self) {
        let mut w = std::mem::replace(&mut self.w, BitWriter::with_prefix(&[0; HEADER], 0));
        w.reset(&[0; HEADER]);
        *self = DecimalEncoder { w, ..DecimalEncoder::with_capacity(0) };
    }

    /// The decimal digits after the point every value of the chunk has.
    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// The chunk's bytes so far, header included; a valid chunk at every point.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// The newest timestamp appended (meaningless when empty).
    #[inline]
    pub fn last_t(&self) -> Timestamp {
        self.t
    }

    /// Appends a sample; returns `false` (and changes nothing) when `v` is not a decimal
    /// with at most [`MAX_SCALE`] digits after the point that fits this chunk. Raising the
    /// chunk's scale re-encodes it. The chunk must not be full (`u16::MAX` samples).
    #[inline]
    pub fn append(&mut self, t: Timestamp, v: f64) -> bool {
        debug_assert!(self.num < u16::MAX);
        let bits = v.to_bits();
        let k = if self.num > 0 && bits == self.v_bits {
            self.k
        } else {
            match encode_k(v, self.scale) {
                Some(k) => k,
                None => return self.rescale_and_append(t, v),
            }
        };
        self.push(t, k, bits);
        true
    }

    #[inline]
    fn push(&mut self, t: Timestamp, k: i64, bits: u64) {
        match self.num {
            0 => {
                self.w.bytes_mut()[2] = self.scale;
                write_varint(&mut self.w, t);
                write_varint(&mut self.w, k);
            }
            1 => {
                let delta = t.wrapping_sub(self.t);
                write_uvarint(&mut self.w, delta as u64);
                self.t_delta = delta;
                write_residual(&mut self.w, k.wrapping_sub(self.k));
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                write_dod(&mut self.w, delta.wrapping_sub(self.t_delta));
                self.t_delta = delta;
                write_residual(&mut self.w, k.wrapping_sub(predict(self.k, self.d1, self.d2)));
            }
        }
        if self.num > 0 {
            self.d2 = self.d1;
            self.d1 = k.wrapping_sub(self.k);
        }
        self.t = t;
        self.k = k;
        self.v_bits = bits;
        self.num += 1;
        self.w.bytes_mut()[..2].copy_from_slice(&self.num.to_be_bytes());
    }

    /// `v` needs a larger scale: re-encodes the chunk at the scale `v` needs, if every
    /// stored value still fits there.
    #[cold]
    fn rescale_and_append(&mut self, t: Timestamp, v: f64) -> bool {
        let Some((scale, _)) = fit_scale(v, self.scale + 1) else {
            return false;
        };
        let mut out = DecimalEncoder::with_capacity(self.w.bytes().len() + 16);
        out.scale = scale;
        let mut it = DecimalIterator::new(self.bytes());
        while let Some(p) = it.next() {
            let old = p.v.as_float().unwrap_or(f64::NAN);
            match encode_k(old, scale) {
                Some(k) => out.push(p.t, k, old.to_bits()),
                None => return false,
            }
        }
        let Some(k) = encode_k(v, scale) else { return false };
        out.push(t, k, v.to_bits());
        *self = out;
        true
    }
}

/// Decodes a decimal chunk, sample by sample.
#[derive(Debug, Clone)]
pub struct DecimalIterator<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    scale: u8,
    t: i64,
    t_delta: i64,
    k: i64,
    d1: i64,
    d2: i64,
    cur: Option<Point>,
    err: Option<ChunkError>,
}

impl<'a> DecimalIterator<'a> {
    /// Iterates the whole chunk `bytes` (header included).
    pub fn new(bytes: &'a [u8]) -> Self {
        DecimalIterator::with_limit(bytes, u16::MAX)
    }

    /// Iterates at most `limit` samples of the chunk.
    pub fn with_limit(bytes: &'a [u8], limit: u16) -> Self {
        let truncated = |offset| Some(ChunkError { kind: ChunkErrorKind::Truncated, offset });
        let (total, scale, err, body) = match bytes.get(..HEADER) {
            Some(h) if h[2] <= MAX_SCALE => (u16::from_be_bytes([h[0], h[1]]).min(limit), h[2], None, &bytes[HEADER..]),
            Some(_) => (0, 0, Some(ChunkError { kind: ChunkErrorKind::BadScale, offset: 2 }), &[][..]),
            None => (0, 0, truncated(0), &[][..]),
        };
        DecimalIterator {
            r: BitReader::new(body),
            total,
            read: 0,
            scale,
            t: 0,
            t_delta: 0,
            k: 0,
            d1: 0,
            d2: 0,
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
        let k = match self.read {
            0 => {
                self.t = read_varint(&mut self.r)?;
                read_varint(&mut self.r)?
            }
            1 => {
                self.t_delta = read_uvarint(&mut self.r)? as i64;
                self.t = self.t.wrapping_add(self.t_delta);
                self.k.wrapping_add(read_residual(&mut self.r)?)
            }
            _ => {
                self.t_delta = self.t_delta.wrapping_add(read_dod(&mut self.r)?);
                self.t = self.t.wrapping_add(self.t_delta);
                predict(self.k, self.d1, self.d2).wrapping_add(read_residual(&mut self.r)?)
            }
        };
        if self.read > 0 {
            self.d2 = self.d1;
            self.d1 = k.wrapping_sub(self.k);
        }
        self.k = k;
        Some(())
    }
}

impl SampleIterator for DecimalIterator<'_> {
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
        let p = Point::float(self.t, decode_k(self.k, self.scale));
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

/// Builds a float chunk in the smaller encoding that can hold it: decimal while every
/// value is a short decimal, XOR from the first value that is not (the samples so far are
/// re-encoded then, at most one chunk's worth, once per chunk).
#[derive(Debug, Clone)]
pub enum ChunkEncoder {
    /// Every value so far is a decimal.
    Decimal(DecimalEncoder),
    /// General floats.
    Xor(XorEncoder),
}

impl ChunkEncoder {
    /// An empty chunk (decimal until a value says otherwise) with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        ChunkEncoder::Decimal(DecimalEncoder::with_capacity(bytes))
    }

    /// An empty XOR chunk (for callers that know the values are not decimals).
    pub fn xor_with_capacity(bytes: usize) -> Self {
        ChunkEncoder::Xor(XorEncoder::with_capacity(bytes))
    }

    /// Empties the chunk (decimal again), keeping an allocation for the bytes.
    pub fn reset(&mut self) {
        match self {
            ChunkEncoder::Decimal(d) => d.reset(),
            ChunkEncoder::Xor(x) => {
                let mut w = std::mem::take(x).into_writer();
                w.reset(&[0; HEADER]);
                *self = ChunkEncoder::Decimal(DecimalEncoder { w, ..DecimalEncoder::with_capacity(0) });
            }
        }
    }

    /// The encoding of the bytes as they are now.
    #[inline]
    pub fn encoding(&self) -> Encoding {
        match self {
            ChunkEncoder::Decimal(_) => Encoding::Decimal,
            ChunkEncoder::Xor(_) => Encoding::Xor,
        }
    }

    /// Appends a sample; timestamps increase and the chunk must not be full.
    #[inline]
    pub fn append(&mut self, t: Timestamp, v: f64) {
        match self {
            ChunkEncoder::Decimal(d) => {
                if !d.append(t, v) {
                    self.switch_to_xor().append(t, v);
                }
            }
            ChunkEncoder::Xor(x) => x.append(t, v),
        }
    }

    #[cold]
    fn switch_to_xor(&mut self) -> &mut XorEncoder {
        if let ChunkEncoder::Decimal(d) = self {
            let mut x = XorEncoder::with_capacity(d.bytes().len() * 2 + 64);
            let mut it = DecimalIterator::new(d.bytes());
            while let Some(p) = it.next() {
                x.append(p.t, p.v.as_float().unwrap_or(f64::NAN));
            }
            *self = ChunkEncoder::Xor(x);
        }
        match self {
            ChunkEncoder::Xor(x) => x,
            ChunkEncoder::Decimal(_) => unreachable!("converted above"),
        }
    }

    /// Number of samples appended.
    #[inline]
    pub fn num_samples(&self) -> u16 {
        match self {
            ChunkEncoder::Decimal(d) => d.num_samples(),
            ChunkEncoder::Xor(x) => x.num_samples(),
        }
    }

    /// Whether the chunk cannot take another sample.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.num_samples() == u16::MAX
    }

    /// The newest timestamp appended (meaningless when empty).
    #[inline]
    pub fn last_t(&self) -> Timestamp {
        match self {
            ChunkEncoder::Decimal(d) => d.last_t(),
            ChunkEncoder::Xor(x) => x.last_t(),
        }
    }

    /// The chunk's bytes so far, in [`encoding`](Self::encoding).
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self {
            ChunkEncoder::Decimal(d) => d.bytes(),
            ChunkEncoder::Xor(x) => x.bytes(),
        }
    }
}

/// Iterates a float chunk of either encoding.
#[derive(Debug, Clone)]
pub enum ChunkIterator<'a> {
    /// A decimal chunk.
    Decimal(DecimalIterator<'a>),
    /// An XOR chunk.
    Xor(XorIterator<'a>),
    /// A packed chunk.
    Packed(PackedIterator<'a>),
}

impl<'a> ChunkIterator<'a> {
    /// Iterates at most `limit` samples of a chunk of `encoding`.
    pub fn with_limit(encoding: Encoding, bytes: &'a [u8], limit: u16) -> Self {
        match encoding {
            Encoding::Xor => ChunkIterator::Xor(XorIterator::with_limit(bytes, limit)),
            Encoding::Decimal => ChunkIterator::Decimal(DecimalIterator::with_limit(bytes, limit)),
            Encoding::Packed => ChunkIterator::Packed(PackedIterator::with_limit(bytes, limit)),
        }
    }

    /// The decoding error that stopped iteration, if any.
    pub fn chunk_error(&self) -> Option<ChunkError> {
        match self {
            ChunkIterator::Decimal(d) => d.chunk_error(),
            ChunkIterator::Xor(x) => x.chunk_error(),
            ChunkIterator::Packed(p) => p.chunk_error(),
        }
    }
}

impl SampleIterator for ChunkIterator<'_> {
    #[inline]
    fn next(&mut self) -> Option<Point> {
        match self {
            ChunkIterator::Decimal(d) => d.next(),
            ChunkIterator::Xor(x) => x.next(),
            ChunkIterator::Packed(p) => p.next(),
        }
    }

    fn at(&self) -> Option<Point> {
        match self {
            ChunkIterator::Decimal(d) => d.at(),
            ChunkIterator::Xor(x) => x.at(),
            ChunkIterator::Packed(p) => p.at(),
        }
    }

    fn error(&self) -> Option<StorageError> {
        match self {
            ChunkIterator::Decimal(d) => d.error(),
            ChunkIterator::Xor(x) => x.error(),
            ChunkIterator::Packed(p) => p.error(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_exposition::STALE_NAN;
    use proptest::prelude::*;

    fn decode(enc: &ChunkEncoder) -> Vec<(i64, u64)> {
        let mut it = ChunkIterator::with_limit(enc.encoding(), enc.bytes(), u16::MAX);
        let mut out = Vec::new();
        while let Some(p) = it.next() {
            out.push((p.t, p.v.as_float().unwrap().to_bits()));
        }
        assert!(it.chunk_error().is_none());
        out
    }

    /// Encodes, decodes and compares bits; returns the encoding used.
    #[track_caller]
    fn check(samples: &[(i64, f64)]) -> Encoding {
        let mut e = ChunkEncoder::with_capacity(16);
        for &(t, v) in samples {
            e.append(t, v);
        }
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(decode(&e), want);
        e.encoding()
    }

    #[test]
    fn decimals_stay_decimal() {
        assert_eq!(check(&[]), Encoding::Decimal);
        assert_eq!(check(&[(0, 0.0), (15, 1.0), (30, 2.0)]), Encoding::Decimal);
        assert_eq!(check(&[(0, 12.3), (15, 12.31), (30, 12.5), (45, 1e-12)]), Encoding::Decimal);
        assert_eq!(check(&[(0, -4.0), (15, 9_007_199_254_740_991.0)]), Encoding::Decimal);
        assert_eq!(check(&[(0, -4.5), (15, 9_007_199_254_740_991.0)]), Encoding::Xor, "needs k beyond 2^53");
        assert_eq!(check(&[(0, 1_700_000_000.123456), (15, 1_700_000_015.000001)]), Encoding::Decimal);
    }

    #[test]
    fn other_values_switch_to_xor() {
        assert_eq!(check(&[(1, 1.0), (2, STALE_NAN)]), Encoding::Xor);
        assert_eq!(check(&[(1, -0.0)]), Encoding::Xor);
        assert_eq!(check(&[(1, 0.0), (2, -0.0), (3, 0.0)]), Encoding::Xor);
        assert_eq!(check(&[(1, 5.0), (2, 0.1 + 0.2)]), Encoding::Xor);
        assert_eq!(check(&[(1, 1e300)]), Encoding::Xor);
        assert_eq!(check(&[(1, f64::INFINITY), (2, 3.0)]), Encoding::Xor);
        // 2^53 + 2 is an integer, but outside the exact range of k.
        assert_eq!(check(&[(1, 9_007_199_254_740_994.0)]), Encoding::Xor);
        // Rescaling 2^52 to one decimal would leave the range.
        assert_eq!(check(&[(1, 4_503_599_627_370_496.0), (2, 0.5)]), Encoding::Xor);
    }

    #[test]
    fn residual_buckets_at_their_edges() {
        let mut vals = vec![0i64];
        for bits in [7u32, 14, 24, 40] {
            let h = 1i64 << (bits - 1);
            vals.extend([h, -h + 1, h + 1, -h]);
        }
        vals.extend([i64::MAX / 2, -(1 << 52), 1 << 52, 0]);
        let mut w = BitWriter::with_prefix(&[], 64);
        for &v in &vals {
            write_residual(&mut w, v);
        }
        let mut r = BitReader::new(w.bytes());
        for &v in &vals {
            assert_eq!(read_residual(&mut r), Some(v));
        }
    }

    #[test]
    fn counters_cost_about_two_bytes() {
        let mut e = ChunkEncoder::with_capacity(16);
        let mut v = 12_345.67f64;
        for i in 0..120 {
            v = ((v * 100.0).round() + 1_150.0 + (i % 7) as f64 * 20.0) / 100.0;
            e.append(1_700_000_000_000 + i * 15_000, v);
        }
        assert_eq!(e.encoding(), Encoding::Decimal);
        assert!(e.bytes().len() < 120 * 2, "{} bytes", e.bytes().len());
    }

    #[test]
    fn truncated_and_bad_chunks_are_errors_not_panics() {
        let mut e = DecimalEncoder::with_capacity(16);
        for i in 0..50 {
            assert!(e.append(i * 15_000 + (i % 3), (i * i) as f64 / 100.0));
        }
        let bytes = e.bytes();
        for cut in 0..bytes.len() {
            let mut it = DecimalIterator::new(&bytes[..cut]);
            while it.next().is_some() {}
            assert!(it.chunk_error().is_some() || cut >= bytes.len() - 1, "cut {cut}");
        }
        let mut bad = bytes.to_vec();
        bad[2] = MAX_SCALE + 1;
        let mut it = DecimalIterator::new(&bad);
        assert!(it.next().is_none());
        assert_eq!(it.chunk_error().map(|e| e.kind), Some(ChunkErrorKind::BadScale));
    }

    #[test]
    fn limit_hides_newer_samples() {
        let mut e = DecimalEncoder::with_capacity(16);
        for i in 0..10 {
            e.append(i * 15_000, i as f64 / 4.0);
        }
        let mut it = DecimalIterator::with_limit(e.bytes(), 4);
        let mut n = 0;
        while it.next().is_some() {
            n += 1;
        }
        assert_eq!(n, 4);
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => (-1_000_000i64..1_000_000, 0u8..=6).prop_map(|(k, s)| decode_k(k, s)),
            2 => (0i64..1 << 53).prop_map(|k| k as f64),
            1 => any::<u64>().prop_map(f64::from_bits),
            1 => Just(STALE_NAN),
            1 => Just(-0.0),
            1 => Just(f64::INFINITY),
        ]
    }

    proptest! {
        #[test]
        fn any_samples_round_trip_by_bits(
            start in any::<i64>(),
            steps in proptest::collection::vec(prop_oneof![Just(15_000i64), 0i64..100_000, any::<i64>()], 0..200),
            values in proptest::collection::vec(value(), 200),
            runs in proptest::collection::vec(1usize..20, 200),
        ) {
            // Repeat values in runs, as gauges do.
            let mut t = start;
            let mut vals = values.iter().zip(&runs).flat_map(|(&v, &n)| std::iter::repeat_n(v, n));
            let samples: Vec<(i64, f64)> = steps
                .iter()
                .map(|&d| { t = t.wrapping_add(d); (t, vals.next().unwrap_or(0.0)) })
                .collect();
            check(&samples);
        }

        #[test]
        fn decimals_only_round_trip_as_decimal(
            ks in proptest::collection::vec(-(1i64 << 40)..(1i64 << 40), 1..200),
            scale in 0u8..=MAX_SCALE,
        ) {
            let samples: Vec<(i64, f64)> =
                ks.iter().enumerate().map(|(i, &k)| (i as i64 * 15_000, decode_k(k, scale))).collect();
            prop_assert_eq!(check(&samples), Encoding::Decimal);
        }

        #[test]
        fn encode_k_agrees_with_libm_round(v in value(), scale in 0u8..=MAX_SCALE, mul in 0.0f64..1e6) {
            let naive = |v: f64| {
                let k = (v * POW10[scale as usize]).round();
                (k.abs() < K_LIMIT as f64).then_some(k as i64).filter(|&k| decode_k(k, scale).to_bits() == v.to_bits())
            };
            prop_assert_eq!(encode_k(v, scale), naive(v));
            prop_assert_eq!(encode_k(v * mul, scale), naive(v * mul));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut it = DecimalIterator::new(&bytes);
            while it.next().is_some() {}
        }
    }
}

#[cfg(test)]
mod reset_tests {
    use super::*;
    use crate::storage::SampleIterator;

    /// Regression: `reset` kept the previous chunk's step predictor, so a counter's second
    /// chunk decoded as a constant after its second sample.
    #[test]
    fn reset_encoder_writes_a_chunk_that_decodes_alone() {
        let mut e = DecimalEncoder::with_capacity(64);
        for b in 0..120i64 {
            assert!(e.append(b * 10, (b * 100) as f64));
        }
        e.reset();
        for b in 120..240i64 {
            assert!(e.append(b * 10, (b * 100) as f64));
        }
        let mut it = DecimalIterator::new(e.bytes());
        let mut b = 120i64;
        while let Some(p) = it.next() {
            assert_eq!((p.t, p.v.as_float()), (b * 10, Some((b * 100) as f64)));
            b += 1;
        }
        assert_eq!(b, 240);
    }
}
