//! The packed chunk: a run of one series' short-decimal samples encoded at once, as
//! blocks store them.
//!
//! The head encodes sample by sample and cannot look ahead; a block writer has the whole
//! run, so it can choose the coding for it. A packed chunk stores timestamps and values as
//! two separate streams of integer residuals, each coded with parameters picked by trying
//! the candidates and keeping the smallest:
//!
//! - timestamps against a regular grid: the interval is the median step, and a timestamp
//!   within `tolerance` of the grid point leaves the grid where it was, so a jittered
//!   scrape costs one residual instead of the two or three of delta-of-delta coding (with
//!   `tolerance` 0 this is plain delta coding against the interval);
//! - values as integers `k` (`v == k / 10^scale`, as in the decimal chunk), in units of
//!   the greatest common divisor of their steps (memory gauges that move in 4096-byte
//!   pages cost 12 bits less per change), predicted either as the previous value plus a
//!   constant drift (counters growing by a random amount) or as the previous value plus the
//!   previous step (clocks, steady counters);
//! - each residual stream as all zeros (no bits at all: constant series, regular
//!   timestamps), as three buckets of chosen widths (`0` + w1 bits, `10` + w2, `11` + w3),
//!   or as runs of zeros (Rice-coded run lengths) between non-zero residuals (`0` + w2
//!   bits, `1` + w3).
//!
//! ```text
//! num_samples <u16 BE> | scale <u8> | t_0 <varint> | k_0 <varint>
//! | interval <uvarint> | tolerance <uvarint> | timestamp stream mode
//! | g <uvarint> | predictor <u8> | drift <varint> | value stream mode
//! | timestamp stream length <uvarint> | timestamp bits, padded | value bits, padded
//! stream mode: 0 (all zero) | 1 w1 w2 w3 (buckets) | 2 p w2 w3 (runs), one byte each
//! ```
//!
//! Byte diagram and decoding rules: `tsdb/docs/format/chunks.md`.

use super::bstream::{BitReader, BitWriter, read_uvarint, read_varint, write_uvarint, write_varint};
use super::decimal::{MAX_SCALE, decode_k, encode_k, fit_scale};
use super::{ChunkError, ChunkErrorKind};
use crate::storage::{Point, SampleIterator, StorageError, StorageErrorKind};

/// The largest Rice parameter a run-length stream may use.
const MAX_RICE: u8 = 32;
/// Longest zero run a stream may encode (more than a chunk can hold).
const MAX_RUN: u64 = 1 << 16;

/// Bits needed to hold `r` as a signed field of [`write_field`]: 0 for 0, and `w` with
/// `-2^(w-1) < r <= 2^(w-1)` otherwise (64: any value).
#[inline]
fn width(r: i64) -> u32 {
    let w = if r == 0 {
        0
    } else if r > 0 {
        65 - (r as u64 - 1).leading_zeros()
    } else {
        65 - r.unsigned_abs().leading_zeros()
    };
    w.min(64)
}

#[inline]
fn write_field(w: &mut BitWriter, r: i64, bits: u32) {
    if bits == 64 {
        w.write_bits(r as u64, 64);
    } else if bits > 0 {
        w.write_bits(r as u64 & ((1u64 << bits) - 1), bits);
    }
}

#[inline]
fn read_field(r: &mut BitReader<'_>, bits: u32) -> Option<i64> {
    let x = r.read_bits(bits)?;
    Some(match bits {
        0 => 0,
        64 => x as i64,
        // Fields cover (-2^(bits-1), 2^(bits-1)]; the top value reads as positive.
        _ if x > 1u64 << (bits - 1) => (x as i64).wrapping_sub(1i64 << bits),
        _ => x as i64,
    })
}

/// How a stream of residuals is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every residual is zero; no bits.
    Zero,
    /// `0` + w[0] bits, `10` + w[1] bits, `11` + w[2] bits.
    Buckets([u8; 3]),
    /// Zero runs as Rice codes with parameter `p`, each non-zero residual as `0` + w[0]
    /// bits or `1` + w[1] bits.
    Runs { p: u8, w: [u8; 2] },
}

impl Mode {
    /// The mode coding `rs` in the fewest bits, and that number of bits.
    fn plan(rs: &[i64]) -> (Mode, u64) {
        let mut hist = [0u64; 65];
        for &r in rs {
            hist[width(r) as usize] += 1;
        }
        let top = (0..65).rev().find(|&b| hist[b] > 0).unwrap_or(0);
        if top == 0 {
            return (Mode::Zero, 0);
        }
        let n = rs.len() as u64;
        let mut cum = [0u64; 65];
        let mut acc = 0;
        for b in 0..65 {
            acc += hist[b];
            cum[b] = acc;
        }
        let mut best = (Mode::Buckets([top as u8; 3]), u64::MAX);
        for w1 in 0..=top {
            for w2 in w1..=top {
                let c1 = cum[w1];
                let c2 = cum[w2];
                let bits = c1 * (1 + w1 as u64) + (c2 - c1) * (2 + w2 as u64) + (n - c2) * (2 + top as u64);
                if bits < best.1 {
                    best = (Mode::Buckets([w1 as u8, w2 as u8, top as u8]), bits);
                }
            }
        }
        // Runs: zero-run lengths, then the non-zero values.
        let mut runs = Vec::new();
        let mut zeros = 0u64;
        for &r in rs {
            if r == 0 {
                zeros += 1;
            } else {
                runs.push(zeros);
                zeros = 0;
            }
        }
        if zeros > 0 {
            runs.push(zeros);
        }
        let rice = (0..=16u8)
            .map(|p| (p, runs.iter().map(|&l| (l >> p) + 1 + p as u64).sum::<u64>()))
            .min_by_key(|&(_, b)| b)
            .unwrap_or((0, 0));
        let nz = n - hist[0];
        let mut nz_cum = 0;
        for (w2, &count) in hist.iter().enumerate().take(top + 1).skip(1) {
            nz_cum += count;
            let bits = rice.1 + nz_cum * (1 + w2 as u64) + (nz - nz_cum) * (1 + top as u64);
            if bits < best.1 {
                best = (Mode::Runs { p: rice.0, w: [w2 as u8, top as u8] }, bits);
            }
        }
        best
    }

    fn write_header(self, w: &mut BitWriter) {
        match self {
            Mode::Zero => w.write_byte(0),
            Mode::Buckets(ws) => {
                w.write_byte(1);
                ws.iter().for_each(|&b| w.write_byte(b));
            }
            Mode::Runs { p, w: ws } => {
                w.write_byte(2);
                w.write_byte(p);
                ws.iter().for_each(|&b| w.write_byte(b));
            }
        }
    }

    fn read_header(r: &mut BitReader<'_>) -> Option<Mode> {
        let width = |r: &mut BitReader<'_>| r.read_byte().filter(|&b| b <= 64);
        match r.read_byte()? {
            0 => Some(Mode::Zero),
            1 => Some(Mode::Buckets([width(r)?, width(r)?, width(r)?])),
            2 => {
                let p = r.read_byte().filter(|&p| p <= MAX_RICE)?;
                Some(Mode::Runs { p, w: [width(r)?, width(r)?] })
            }
            _ => None,
        }
    }

    fn write(self, w: &mut BitWriter, rs: &[i64]) {
        match self {
            Mode::Zero => {}
            Mode::Buckets([w1, w2, w3]) => {
                for &r in rs {
                    let b = width(r);
                    if b <= w1 as u32 {
                        w.write_bit(false);
                        write_field(w, r, w1 as u32);
                    } else if b <= w2 as u32 {
                        w.write_bits(0b10, 2);
                        write_field(w, r, w2 as u32);
                    } else {
                        w.write_bits(0b11, 2);
                        write_field(w, r, w3 as u32);
                    }
                }
            }
            Mode::Runs { p, w: [w2, w3] } => {
                let rice = |w: &mut BitWriter, l: u64| {
                    let q = l >> p;
                    for _ in 0..q {
                        w.write_bit(true);
                    }
                    w.write_bit(false);
                    write_field(w, (l & ((1u64 << p) - 1)) as i64, p as u32);
                };
                let mut zeros = 0u64;
                for &r in rs {
                    if r == 0 {
                        zeros += 1;
                        continue;
                    }
                    rice(w, zeros);
                    zeros = 0;
                    if width(r) <= w2 as u32 {
                        w.write_bit(false);
                        write_field(w, r, w2 as u32);
                    } else {
                        w.write_bit(true);
                        write_field(w, r, w3 as u32);
                    }
                }
                if zeros > 0 {
                    rice(w, zeros);
                }
            }
        }
    }
}

/// Reads one residual stream.
#[derive(Debug, Clone, Copy)]
struct StreamReader {
    mode: Mode,
    /// Zeros still to hand out before the next non-zero residual (runs mode).
    zeros: u64,
    /// Whether the next residual starts with a run length (runs mode).
    need_run: bool,
}

impl StreamReader {
    fn new(mode: Mode) -> Self {
        StreamReader { mode, zeros: 0, need_run: true }
    }

    #[inline]
    fn next(&mut self, r: &mut BitReader<'_>) -> Option<i64> {
        match self.mode {
            Mode::Zero => Some(0),
            Mode::Buckets([w1, w2, w3]) => {
                if !r.read_bit()? {
                    read_field(r, w1 as u32)
                } else if !r.read_bit()? {
                    read_field(r, w2 as u32)
                } else {
                    read_field(r, w3 as u32)
                }
            }
            Mode::Runs { p, w: [w2, w3] } => {
                if self.need_run {
                    let mut q = 0u64;
                    while r.read_bit()? {
                        q += 1;
                        if q > MAX_RUN {
                            return None;
                        }
                    }
                    self.zeros = (q << p) | r.read_bits(p as u32)?;
                    self.need_run = false;
                }
                if self.zeros > 0 {
                    self.zeros -= 1;
                    return Some(0);
                }
                self.need_run = true;
                let bits = if r.read_bit()? { w3 } else { w2 };
                read_field(r, bits as u32)
            }
        }
    }
}

/// The timestamp grid: the point each timestamp is predicted at, and how it moves.
#[derive(Debug, Clone, Copy)]
struct Grid {
    base: i64,
    interval: i64,
    tolerance: u64,
}

impl Grid {
    /// The residual of `t`, moving the grid.
    #[inline]
    fn residual(&mut self, t: i64) -> i64 {
        let predicted = self.base.wrapping_add(self.interval);
        let r = t.wrapping_sub(predicted);
        self.advance(predicted, r);
        r
    }

    /// The timestamp of residual `r`, moving the grid.
    #[inline]
    fn timestamp(&mut self, r: i64) -> i64 {
        let predicted = self.base.wrapping_add(self.interval);
        let t = predicted.wrapping_add(r);
        self.advance(predicted, r);
        t
    }

    #[inline]
    fn advance(&mut self, predicted: i64, r: i64) {
        self.base = if r.unsigned_abs() <= self.tolerance { predicted } else { predicted.wrapping_add(r) };
    }
}

/// How values are predicted, in units of `g`.
#[derive(Debug, Clone, Copy)]
struct ValuePredictor {
    /// 0: previous + drift; 1: previous + previous step (the first step predicted as drift).
    kind: u8,
    drift: i64,
    prev_step: i64,
}

impl ValuePredictor {
    fn new(kind: u8, drift: i64) -> Self {
        ValuePredictor { kind, drift, prev_step: drift }
    }

    #[inline]
    fn predicted_step(&self) -> i64 {
        if self.kind == 0 { self.drift } else { self.prev_step }
    }

    #[inline]
    fn residual(&mut self, step: i64) -> i64 {
        let r = step.wrapping_sub(self.predicted_step());
        self.prev_step = step;
        r
    }

    #[inline]
    fn step(&mut self, r: i64) -> i64 {
        let step = r.wrapping_add(self.predicted_step());
        self.prev_step = step;
        step
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn median(xs: &[i64]) -> i64 {
    if xs.is_empty() {
        return 0;
    }
    let mut v = xs.to_vec();
    let mid = v.len() / 2;
    *v.select_nth_unstable(mid).1
}

/// The scale and integers of the longest prefix of `points` (at most `max` samples) whose
/// values are all decimals at one scale; `None` when the first value is not one.
fn decimal_prefix(points: &[Point], max: usize) -> Option<(u8, Vec<i64>)> {
    let mut scale = 0u8;
    let mut ks: Vec<i64> = Vec::with_capacity(points.len().min(max));
    for p in points.iter().take(max) {
        let Some(v) = p.v.as_float() else { break };
        if let Some(k) = encode_k(v, scale) {
            ks.push(k);
            continue;
        }
        let Some((s, k)) = fit_scale(v, scale + 1) else { break };
        // Every earlier value must fit the larger scale too.
        let rescaled: Option<Vec<i64>> =
            points[..ks.len()].iter().map(|q| q.v.as_float().and_then(|v| encode_k(v, s))).collect();
        let Some(rescaled) = rescaled else { break };
        ks = rescaled;
        ks.push(k);
        scale = s;
    }
    (!ks.is_empty()).then_some((scale, ks))
}

/// Encodes the longest prefix of `points` (at most `max`, at most `u16::MAX` samples)
/// whose values are short decimals at one scale as a packed chunk; returns the number of
/// samples taken and the chunk's bytes, or `None` when the first value is not such a
/// decimal (an XOR chunk is needed there). Any timestamps round-trip, ordered or not.
pub fn encode_packed(points: &[Point], max: usize) -> Option<(usize, Vec<u8>)> {
    let (scale, ks) = decimal_prefix(points, max.min(u16::MAX as usize))?;
    let n = ks.len();
    let ts: Vec<i64> = points[..n].iter().map(|p| p.t).collect();

    // Timestamps: the interval is the median step; try a few tolerances.
    let steps: Vec<i64> = ts.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let interval = median(&steps).max(0);
    let mut best_t: Option<(u64, Mode, u64, Vec<i64>)> = None;
    for tolerance in [0, interval as u64 / 16, interval as u64 / 2] {
        if best_t.as_ref().is_some_and(|b| b.0 == tolerance) {
            continue;
        }
        let mut g = Grid { base: ts[0], interval, tolerance };
        let rs: Vec<i64> = ts[1..].iter().map(|&t| g.residual(t)).collect();
        let (mode, bits) = Mode::plan(&rs);
        if best_t.as_ref().is_none_or(|b| bits < b.2) {
            best_t = Some((tolerance, mode, bits, rs));
        }
    }
    let (tolerance, t_mode, _, t_rs) = best_t.unwrap_or((0, Mode::Zero, 0, Vec::new()));

    // Values: steps in units of their gcd; try drift 0, the median step, and the previous step.
    let g = ks.windows(2).fold(0u64, |g, w| gcd(g, w[1].wrapping_sub(w[0]).unsigned_abs())).max(1);
    let vsteps: Vec<i64> = ks.windows(2).map(|w| w[1].wrapping_sub(w[0]) / g as i64).collect();
    let mut best_v: Option<(u8, i64, Mode, u64, Vec<i64>)> = None;
    for (kind, drift) in [(0u8, 0i64), (0, median(&vsteps)), (1, 0)] {
        let mut pred = ValuePredictor::new(kind, drift);
        let rs: Vec<i64> = vsteps.iter().map(|&s| pred.residual(s)).collect();
        let (mode, bits) = Mode::plan(&rs);
        if best_v.as_ref().is_none_or(|b| bits < b.3) {
            best_v = Some((kind, drift, mode, bits, rs));
        }
    }
    let (kind, drift, v_mode, _, v_rs) = best_v.unwrap_or((0, 0, Mode::Zero, 0, Vec::new()));

    let mut tw = BitWriter::with_prefix(&[], t_rs.len() / 4 + 8);
    t_mode.write(&mut tw, &t_rs);
    let t_bytes = tw.into_bytes();
    let mut w = BitWriter::with_prefix(&(n as u16).to_be_bytes(), 32 + t_bytes.len() + v_rs.len());
    w.write_byte(scale);
    write_varint(&mut w, ts[0]);
    write_varint(&mut w, ks[0]);
    write_uvarint(&mut w, interval as u64);
    write_uvarint(&mut w, tolerance);
    t_mode.write_header(&mut w);
    write_uvarint(&mut w, g);
    w.write_byte(kind);
    write_varint(&mut w, drift);
    v_mode.write_header(&mut w);
    write_uvarint(&mut w, t_bytes.len() as u64);
    for &b in &t_bytes {
        w.write_byte(b);
    }
    v_mode.write(&mut w, &v_rs);
    Some((n, w.into_bytes()))
}

/// Decodes a packed chunk, sample by sample.
#[derive(Debug, Clone)]
pub struct PackedIterator<'a> {
    ts: BitReader<'a>,
    vs: BitReader<'a>,
    t_stream: StreamReader,
    v_stream: StreamReader,
    grid: Grid,
    pred: ValuePredictor,
    g: i64,
    total: u16,
    read: u16,
    scale: u8,
    t: i64,
    k: i64,
    cur: Option<Point>,
    err: Option<ChunkError>,
}

/// The parsed header: everything before the bit streams.
struct Header<'a> {
    total: u16,
    scale: u8,
    t0: i64,
    k0: i64,
    grid: Grid,
    t_mode: Mode,
    g: i64,
    pred: ValuePredictor,
    v_mode: Mode,
    ts: &'a [u8],
    vs: &'a [u8],
}

fn parse_header(bytes: &[u8]) -> Result<Header<'_>, ChunkError> {
    let bad = |kind, offset| ChunkError { kind, offset };
    let (Some(&hi), Some(&lo)) = (bytes.first(), bytes.get(1)) else {
        return Err(bad(ChunkErrorKind::Truncated, 0));
    };
    let mut r = BitReader::new(&bytes[2..]);
    let at = |r: &BitReader<'_>| 2 + r.position() / 8;
    let trunc = |r: &BitReader<'_>| bad(ChunkErrorKind::Truncated, at(r));
    let scale = r.read_byte().ok_or_else(|| trunc(&r))?;
    if scale > MAX_SCALE {
        return Err(bad(ChunkErrorKind::BadScale, 2));
    }
    let t0 = read_varint(&mut r).ok_or_else(|| trunc(&r))?;
    let k0 = read_varint(&mut r).ok_or_else(|| trunc(&r))?;
    let interval = read_uvarint(&mut r).ok_or_else(|| trunc(&r))? as i64;
    let tolerance = read_uvarint(&mut r).ok_or_else(|| trunc(&r))?;
    let header_err = |r: &BitReader<'_>| bad(ChunkErrorKind::BadHeader, at(r));
    let t_mode = Mode::read_header(&mut r).ok_or_else(|| header_err(&r))?;
    let g = read_uvarint(&mut r).ok_or_else(|| trunc(&r))? as i64;
    let kind = r.read_byte().ok_or_else(|| trunc(&r))?;
    if kind > 1 {
        return Err(header_err(&r));
    }
    let drift = read_varint(&mut r).ok_or_else(|| trunc(&r))?;
    let v_mode = Mode::read_header(&mut r).ok_or_else(|| header_err(&r))?;
    let t_len = read_uvarint(&mut r).ok_or_else(|| trunc(&r))?;
    let start = at(&r);
    let t_end = usize::try_from(t_len)
        .ok()
        .and_then(|l| start.checked_add(l))
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad(ChunkErrorKind::Truncated, start))?;
    Ok(Header {
        total: u16::from_be_bytes([hi, lo]),
        scale,
        t0,
        k0,
        grid: Grid { base: t0, interval, tolerance },
        t_mode,
        g,
        pred: ValuePredictor::new(kind, drift),
        v_mode,
        ts: &bytes[start..t_end],
        vs: &bytes[t_end..],
    })
}

impl<'a> PackedIterator<'a> {
    /// Iterates the whole chunk `bytes` (header included).
    pub fn new(bytes: &'a [u8]) -> Self {
        PackedIterator::with_limit(bytes, u16::MAX)
    }

    /// Iterates at most `limit` samples of the chunk.
    pub fn with_limit(bytes: &'a [u8], limit: u16) -> Self {
        let (h, err) = match parse_header(bytes) {
            Ok(h) => (h, None),
            Err(e) => (
                Header {
                    total: 0,
                    scale: 0,
                    t0: 0,
                    k0: 0,
                    grid: Grid { base: 0, interval: 0, tolerance: 0 },
                    t_mode: Mode::Zero,
                    g: 1,
                    pred: ValuePredictor::new(0, 0),
                    v_mode: Mode::Zero,
                    ts: &[],
                    vs: &[],
                },
                Some(e),
            ),
        };
        PackedIterator {
            ts: BitReader::new(h.ts),
            vs: BitReader::new(h.vs),
            t_stream: StreamReader::new(h.t_mode),
            v_stream: StreamReader::new(h.v_mode),
            grid: h.grid,
            pred: h.pred,
            g: h.g,
            total: h.total.min(limit),
            read: 0,
            scale: h.scale,
            t: h.t0,
            k: h.k0,
            cur: None,
            err,
        }
    }

    /// The decoding error that stopped iteration, if any.
    pub fn chunk_error(&self) -> Option<ChunkError> {
        self.err
    }

    #[inline]
    fn decode(&mut self) -> Option<()> {
        let rt = self.t_stream.next(&mut self.ts)?;
        let rv = self.v_stream.next(&mut self.vs)?;
        self.t = self.grid.timestamp(rt);
        self.k = self.k.wrapping_add(self.pred.step(rv).wrapping_mul(self.g));
        Some(())
    }
}

impl SampleIterator for PackedIterator<'_> {
    #[inline]
    fn next(&mut self) -> Option<Point> {
        if self.read >= self.total || self.err.is_some() {
            self.cur = None;
            return None;
        }
        // The first sample is in the header.
        if self.read > 0 && self.decode().is_none() {
            // Offset: the header is not kept, so report where the value stream stopped
            // relative to the streams' start.
            self.err = Some(ChunkError { kind: ChunkErrorKind::Truncated, offset: self.vs.position() / 8 });
            self.cur = None;
            return None;
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

#[cfg(test)]
mod tests {
    use super::*;
    use ember_exposition::STALE_NAN;
    use proptest::prelude::*;

    fn decode(bytes: &[u8]) -> Vec<(i64, u64)> {
        let mut it = PackedIterator::new(bytes);
        let mut out = Vec::new();
        while let Some(p) = it.next() {
            out.push((p.t, p.v.as_float().unwrap().to_bits()));
        }
        assert!(it.chunk_error().is_none(), "{:?}", it.chunk_error());
        out
    }

    /// Packs `samples`, checks the packed prefix decodes bit for bit; returns (taken, bytes).
    #[track_caller]
    fn check(samples: &[(i64, f64)], max: usize) -> Option<(usize, usize)> {
        let pts: Vec<Point> = samples.iter().map(|&(t, v)| Point::float(t, v)).collect();
        let (n, bytes) = encode_packed(&pts, max)?;
        assert!(n >= 1 && n <= max.min(samples.len()));
        let want: Vec<(i64, u64)> = samples[..n].iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(decode(&bytes), want);
        Some((n, bytes.len()))
    }

    #[test]
    fn widths_and_fields_at_their_edges() {
        for (r, w) in [(0i64, 0u32), (1, 1), (-1, 2), (2, 2), (3, 3), (4, 3), (-4, 4), (i64::MAX, 64), (i64::MIN, 64)] {
            assert_eq!(width(r), w, "{r}");
        }
        let vals = [0i64, 1, -1, 2, -3, 4, 1 << 40, -(1 << 40) + 1, i64::MAX, i64::MIN, 5];
        let mut wr = BitWriter::with_prefix(&[], 16);
        for &v in &vals {
            write_field(&mut wr, v, width(v));
            write_field(&mut wr, v, 64);
        }
        let mut rd = BitReader::new(wr.bytes());
        for &v in &vals {
            assert_eq!(read_field(&mut rd, width(v)), Some(v));
            assert_eq!(read_field(&mut rd, 64), Some(v));
        }
    }

    #[test]
    fn what_is_packed_and_what_stops_a_run() {
        assert_eq!(check(&[], 10), None);
        assert_eq!(check(&[(0, STALE_NAN)], 10), None);
        assert_eq!(check(&[(0, 1.0)], 10).map(|c| c.0), Some(1));
        assert_eq!(check(&[(0, 1.0), (15, 2.5), (30, f64::NAN), (45, 3.0)], 10).map(|c| c.0), Some(2));
        assert_eq!(check(&[(0, 1.0), (15, -0.0)], 10).map(|c| c.0), Some(1));
        // The scale rises mid-run; earlier values are rescaled.
        assert_eq!(check(&[(0, 1.0), (15, 2.5), (30, 0.125), (45, 1e-12)], 10).map(|c| c.0), Some(4));
        // 2^52 does not fit one decimal, so 0.5 starts the next chunk.
        assert_eq!(check(&[(0, 4_503_599_627_370_496.0), (15, 0.5)], 10).map(|c| c.0), Some(1));
        assert_eq!(check(&[(0, 1.0), (15, 2.0), (30, 3.0)], 2).map(|c| c.0), Some(2));
    }

    #[test]
    fn regular_series_cost_almost_nothing() {
        // A constant with 5 % jittered timestamps: about 10 bits per jitter, none per sample.
        let jit = |i: i64| if i % 20 == 7 { 2 } else { 0 };
        let s: Vec<(i64, f64)> = (0..480).map(|i| (1_700_000_000_000 + i * 15_000 + jit(i), 1.0)).collect();
        let (_, len) = check(&s, 1000).unwrap();
        assert!(len < 60, "{len} bytes");
        // Memory in 4096-byte pages: steps cost bits of the page count, not of the bytes.
        let s: Vec<(i64, f64)> = (0..480).map(|i| (i * 15_000, 4e9 + 4096.0 * ((i * 37 % 64) - 31) as f64)).collect();
        let (_, len) = check(&s, 1000).unwrap();
        assert!(len < 480 * 3 / 2, "{len} bytes");
        // A counter with a steady rate: a few bits per sample.
        let s: Vec<(i64, f64)> = (0..480).map(|i| (i * 15_000, (i * 1000 + i % 3) as f64 / 100.0)).collect();
        let (_, len) = check(&s, 1000).unwrap();
        assert!(len < 200, "{len} bytes");
    }

    #[test]
    fn truncated_and_bad_chunks_are_errors_not_panics() {
        let s: Vec<Point> = (0..50).map(|i| Point::float(i * 15_000 + (i % 3), (i * i) as f64 / 100.0)).collect();
        let (_, bytes) = encode_packed(&s, 100).unwrap();
        for cut in 0..bytes.len() {
            let mut it = PackedIterator::new(&bytes[..cut]);
            let mut n = 0;
            while it.next().is_some() {
                n += 1;
            }
            assert!(it.chunk_error().is_some() || n < 50, "cut {cut}");
        }
        let mut bad = bytes.clone();
        bad[2] = MAX_SCALE + 1;
        let mut it = PackedIterator::new(&bad);
        assert!(it.next().is_none());
        assert_eq!(it.chunk_error().map(|e| e.kind), Some(ChunkErrorKind::BadScale));
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => (-1_000_000i64..1_000_000, 0u8..=6).prop_map(|(k, s)| decode_k(k, s)),
            2 => (0i64..1 << 53).prop_map(|k| k as f64),
            1 => (0i64..1 << 20).prop_map(|k| 4e9 + 4096.0 * k as f64),
            1 => any::<u64>().prop_map(f64::from_bits),
            1 => Just(STALE_NAN),
        ]
    }

    proptest! {
        #[test]
        fn any_samples_round_trip_by_bits(
            start in any::<i64>(),
            steps in proptest::collection::vec(prop_oneof![
                4 => Just(15_000i64), 2 => 14_990i64..15_010, 1 => 0i64..100_000, 1 => any::<i64>()
            ], 0..300),
            values in proptest::collection::vec(value(), 300),
            runs in proptest::collection::vec(1usize..20, 300),
            max in 1usize..400,
        ) {
            let mut t = start;
            let mut vals = values.iter().zip(&runs).flat_map(|(&v, &n)| std::iter::repeat_n(v, n));
            let samples: Vec<(i64, f64)> = steps
                .iter()
                .map(|&d| { t = t.wrapping_add(d); (t, vals.next().unwrap_or(0.0)) })
                .collect();
            // Pack the whole series chunk by chunk, as a block writer does.
            let mut rest = &samples[..];
            while !rest.is_empty() {
                let n = check(rest, max).map_or(1, |c| c.0);
                rest = &rest[n..];
            }
        }

        #[test]
        fn decimals_pack_whole(
            ks in proptest::collection::vec(-(1i64 << 40)..(1i64 << 40), 1..300),
            scale in 0u8..=MAX_SCALE,
        ) {
            let samples: Vec<(i64, f64)> =
                ks.iter().enumerate().map(|(i, &k)| (i as i64 * 15_000, decode_k(k, scale))).collect();
            prop_assert_eq!(check(&samples, 1000).map(|c| c.0), Some(samples.len()));
        }

        #[test]
        fn residual_streams_round_trip(rs in proptest::collection::vec(prop_oneof![
            4 => Just(0i64), 2 => -5i64..5, 1 => -100_000i64..100_000, 1 => any::<i64>()
        ], 0..300)) {
            let (mode, bits) = Mode::plan(&rs);
            let mut w = BitWriter::with_prefix(&[], 16);
            mode.write(&mut w, &rs);
            prop_assert_eq!(w.bit_len() as u64, bits);
            let mut hw = BitWriter::with_prefix(&[], 8);
            mode.write_header(&mut hw);
            prop_assert_eq!(Mode::read_header(&mut BitReader::new(hw.bytes())), Some(mode));
            let bytes = w.bytes();
            let mut r = BitReader::new(bytes);
            let mut s = StreamReader::new(mode);
            for &want in &rs {
                prop_assert_eq!(s.next(&mut r), Some(want));
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut it = PackedIterator::new(&bytes);
            while it.next().is_some() {}
        }
    }
}
