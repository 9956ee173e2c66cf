//! WAL records: framing and payload encodings.
//!
//! See `tsdb/docs/format/wal.md` for the byte diagrams. A record is
//!
//! ```text
//! type <u8> | payload length <u32 LE> | CRC-32C <u32 LE> of type, length and payload | payload
//! ```
//!
//! The high bit of the type byte marks a zstd-compressed payload; the low 7 bits name the
//! record kind. Kinds this version does not know are skipped (their checksum is still
//! verified), so later versions can add histograms, exemplars or metadata records.

use ember_exposition::{Label, Labels, Timestamp};

use crate::enc::{DResult, Decbuf, DecodeError, PutExt};

/// Bytes of a record header.
pub const HEADER_LEN: usize = 9;
/// Largest payload accepted (a longer length field is treated as corruption).
pub const MAX_PAYLOAD: usize = 64 << 20;
/// Type-byte flag for a zstd-compressed payload.
pub const COMPRESSED: u8 = 0x80;

/// Record kinds (the low 7 bits of the type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[repr(u8)]
pub enum RecordType {
    /// Series definitions: reference and labels.
    Series = 1,
    /// Float samples by series reference.
    Samples = 2,
    /// Deletions: series reference and time range.
    Tombstones = 3,
    /// Exemplars by series reference.
    Exemplars = 4,
}

/// A series definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSeries {
    /// The series reference (the head's id).
    pub r: u64,
    /// Its labels.
    pub labels: Labels,
}

/// A float sample, its value as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefSample {
    /// The series reference.
    pub r: u64,
    /// Timestamp.
    pub t: Timestamp,
    /// The value's bits (`f64::to_bits`), so NaN payloads survive.
    pub v: u64,
}

/// A deleted time range of one series (inclusive bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefTombstone {
    /// The series reference.
    pub r: u64,
    /// Start of the deleted range.
    pub mint: Timestamp,
    /// End of the deleted range.
    pub maxt: Timestamp,
}

/// An exemplar of a series: timestamp, value bits and its own labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefExemplar {
    /// The series reference.
    pub r: u64,
    /// Timestamp.
    pub t: Timestamp,
    /// The value's bits.
    pub v: u64,
    /// The exemplar's labels (`trace_id`, …).
    pub labels: Labels,
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Record {
    /// Series definitions.
    Series(Vec<RefSeries>),
    /// Samples.
    Samples(Vec<RefSample>),
    /// Deletions.
    Tombstones(Vec<RefTombstone>),
    /// Exemplars.
    Exemplars(Vec<RefExemplar>),
    /// A kind this version does not know (skipped on replay).
    Unknown(u8),
}

/// Encodes records into framed bytes, reusing its buffers.
#[derive(Debug, Default)]
pub struct Encoder {
    payload: Vec<u8>,
    #[cfg(feature = "zstd")]
    compressed: Vec<u8>,
    #[cfg_attr(not(feature = "zstd"), allow(dead_code))]
    compress: bool,
}

impl Encoder {
    /// An encoder; `compress` asks for zstd payloads (ignored without the `zstd` feature).
    pub fn new(compress: bool) -> Self {
        Encoder { compress: compress && cfg!(feature = "zstd"), ..Encoder::default() }
    }

    /// Appends a framed series record to `out`.
    pub fn series<'a>(&mut self, series: impl IntoIterator<Item = (u64, &'a Labels)>, out: &mut Vec<u8>) {
        self.payload.clear();
        let p = &mut self.payload;
        let mut n = 0u64;
        p.extend_from_slice(&[0; 10]);
        for (r, labels) in series {
            p.put_uvarint(r);
            put_labels(p, labels);
            n += 1;
        }
        self.finish_counted(n, RecordType::Series, out);
    }

    /// Appends a framed samples record to `out`: references and timestamps delta-coded
    /// against the first sample, values as 8 bytes.
    pub fn samples(&mut self, samples: &[RefSample], out: &mut Vec<u8>) {
        self.payload.clear();
        let p = &mut self.payload;
        p.put_uvarint(samples.len() as u64);
        if let Some(first) = samples.first() {
            p.put_uvarint(first.r);
            p.put_varint(first.t);
            for s in samples {
                p.put_varint(s.r.wrapping_sub(first.r) as i64);
                p.put_varint(s.t.wrapping_sub(first.t));
                p.put_u64(s.v);
            }
        }
        self.finish(RecordType::Samples, out);
    }

    /// Appends a framed tombstones record to `out`.
    pub fn tombstones(&mut self, stones: &[RefTombstone], out: &mut Vec<u8>) {
        self.payload.clear();
        let p = &mut self.payload;
        p.put_uvarint(stones.len() as u64);
        for s in stones {
            p.put_uvarint(s.r);
            p.put_varint(s.mint);
            p.put_varint(s.maxt.wrapping_sub(s.mint));
        }
        self.finish(RecordType::Tombstones, out);
    }

    /// Appends a framed exemplars record to `out`: references and timestamps delta-coded
    /// against the first exemplar, as in a samples record, then each exemplar's labels.
    pub fn exemplars(&mut self, exemplars: &[RefExemplar], out: &mut Vec<u8>) {
        self.payload.clear();
        let p = &mut self.payload;
        p.put_uvarint(exemplars.len() as u64);
        if let Some(first) = exemplars.first() {
            p.put_uvarint(first.r);
            p.put_varint(first.t);
            for e in exemplars {
                p.put_varint(e.r.wrapping_sub(first.r) as i64);
                p.put_varint(e.t.wrapping_sub(first.t));
                p.put_u64(e.v);
                put_labels(p, &e.labels);
            }
        }
        self.finish(RecordType::Exemplars, out);
    }

    /// Payload built with 10 reserved bytes for a count known only at the end.
    fn finish_counted(&mut self, n: u64, ty: RecordType, out: &mut Vec<u8>) {
        let mut head = Vec::with_capacity(10);
        head.put_uvarint(n);
        let start = 10 - head.len();
        self.payload[start..10].copy_from_slice(&head);
        self.payload.drain(..start);
        self.finish(ty, out);
    }

    fn finish(&mut self, ty: RecordType, out: &mut Vec<u8>) {
        #[cfg(feature = "zstd")]
        if self.compress && self.payload.len() > 256 {
            self.compressed.clear();
            if zstd::stream::copy_encode(&self.payload[..], &mut self.compressed, 1).is_ok()
                && self.compressed.len() < self.payload.len()
            {
                frame(ty as u8 | COMPRESSED, &self.compressed, out);
                return;
            }
        }
        frame(ty as u8, &self.payload, out);
    }
}

fn put_labels(p: &mut Vec<u8>, labels: &Labels) {
    p.put_uvarint(labels.len() as u64);
    for l in labels.iter() {
        p.put_str(&l.name);
        p.put_str(&l.value);
    }
}

fn labels(d: &mut Decbuf<'_>) -> DResult<Labels> {
    let nl = d.count(2)?;
    let mut labels = Vec::with_capacity(nl);
    for _ in 0..nl {
        let name = d.str()?.to_string();
        let value = d.str()?.to_string();
        labels.push(Label { name, value });
    }
    if labels.windows(2).any(|w| w[0].name >= w[1].name) {
        return Err(d.err("labels not sorted"));
    }
    Ok(Labels::from_sorted_vec(labels))
}

/// Appends the header and payload of one record to `out`.
pub fn frame(ty: u8, payload: &[u8], out: &mut Vec<u8>) {
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&[ty]), &len), payload);
    out.push(ty);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Why a framed record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The bytes end inside the header or payload (a torn write at the end of a file).
    Truncated,
    /// The header is impossible (type 0, a length beyond [`MAX_PAYLOAD`]).
    BadHeader,
    /// The checksum does not match.
    Checksum { stored: u32, computed: u32 },
}

/// Reads the framed record at the start of `b`: (type byte, payload, total length).
pub(crate) fn read_frame(b: &[u8]) -> Result<(u8, &[u8], usize), FrameError> {
    let Some(h) = b.get(..HEADER_LEN) else { return Err(FrameError::Truncated) };
    let ty = h[0];
    let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
    let stored = u32::from_le_bytes([h[5], h[6], h[7], h[8]]);
    if ty & !COMPRESSED == 0 || len > MAX_PAYLOAD {
        return Err(FrameError::BadHeader);
    }
    let Some(payload) = b.get(HEADER_LEN..HEADER_LEN + len) else { return Err(FrameError::Truncated) };
    let computed = crc32c::crc32c_append(crc32c::crc32c(&h[..5]), payload);
    if computed != stored {
        return Err(FrameError::Checksum { stored, computed });
    }
    Ok((ty, payload, HEADER_LEN + len))
}

/// Decodes a record's payload (decompressing if flagged).
pub(crate) fn decode(ty: u8, payload: &[u8]) -> DResult<Record> {
    if ty & COMPRESSED != 0 {
        #[cfg(feature = "zstd")]
        {
            let raw = zstd::stream::decode_all(payload)
                .map_err(|_| DecodeError { offset: 0, what: "zstd payload does not decompress" })?;
            return decode(ty & !COMPRESSED, &raw);
        }
        #[cfg(not(feature = "zstd"))]
        return Err(DecodeError { offset: 0, what: "zstd-compressed record (build with the `zstd` feature)" });
    }
    let mut d = Decbuf::new(payload);
    let rec = match ty {
        1 => {
            let n = d.count(2)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let r = d.uvarint()?;
                out.push(RefSeries { r, labels: labels(&mut d)? });
            }
            Record::Series(out)
        }
        2 => {
            let n = d.count(10)?;
            let mut out = Vec::with_capacity(n);
            if n > 0 {
                let r0 = d.uvarint()?;
                let t0 = d.varint()?;
                for _ in 0..n {
                    let r = r0.wrapping_add(d.varint()? as u64);
                    let t = t0.wrapping_add(d.varint()?);
                    let v = d.u64()?;
                    out.push(RefSample { r, t, v });
                }
            }
            Record::Samples(out)
        }
        3 => {
            let n = d.count(3)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let r = d.uvarint()?;
                let mint = d.varint()?;
                let maxt = mint.wrapping_add(d.varint()?);
                out.push(RefTombstone { r, mint, maxt });
            }
            Record::Tombstones(out)
        }
        4 => {
            let n = d.count(11)?;
            let mut out = Vec::with_capacity(n);
            if n > 0 {
                let r0 = d.uvarint()?;
                let t0 = d.varint()?;
                for _ in 0..n {
                    let r = r0.wrapping_add(d.varint()? as u64);
                    let t = t0.wrapping_add(d.varint()?);
                    let v = d.u64()?;
                    out.push(RefExemplar { r, t, v, labels: labels(&mut d)? });
                }
            }
            Record::Exemplars(out)
        }
        other => return Ok(Record::Unknown(other)),
    };
    if d.remaining() != 0 {
        return Err(d.err("trailing bytes after the record"));
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(bytes: &[u8]) -> Record {
        let (ty, payload, n) = read_frame(bytes).unwrap();
        assert_eq!(n, bytes.len());
        decode(ty, payload).unwrap()
    }

    #[test]
    fn series_round_trip() {
        let a = ember_exposition::labels! {"__name__" => "up", "job" => "a"};
        let b = Labels::default();
        let mut out = Vec::new();
        Encoder::new(false).series([(1, &a), (7, &b)], &mut out);
        assert_eq!(one(&out), Record::Series(vec![RefSeries { r: 1, labels: a }, RefSeries { r: 7, labels: b }]));
    }

    #[test]
    fn unknown_kinds_are_skipped_but_checked() {
        let mut out = Vec::new();
        frame(42, b"future", &mut out);
        assert_eq!(one(&out), Record::Unknown(42));
        out[10] ^= 1;
        assert!(matches!(read_frame(&out), Err(FrameError::Checksum { .. })));
    }

    #[test]
    fn samples_are_compact() {
        let samples: Vec<RefSample> =
            (0..1000).map(|i| RefSample { r: 5000 + i, t: 1_700_000_000_000 + (i as i64 % 7), v: 0 }).collect();
        let mut out = Vec::new();
        Encoder::new(false).samples(&samples, &mut out);
        // Two bytes of reference delta, one of time delta, eight of value.
        assert!(out.len() < 1000 * 12, "{}", out.len());
        assert_eq!(one(&out), Record::Samples(samples));
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn compressed_records_are_flagged_and_smaller() {
        let samples: Vec<RefSample> =
            (0..1000).map(|i| RefSample { r: 7 + i % 100, t: 1_700_000_000_000, v: 42f64.to_bits() }).collect();
        let (mut plain, mut packed) = (Vec::new(), Vec::new());
        Encoder::new(false).samples(&samples, &mut plain);
        Encoder::new(true).samples(&samples, &mut packed);
        assert_eq!(packed[0], RecordType::Samples as u8 | COMPRESSED);
        assert!(packed.len() * 4 < plain.len(), "{} vs {}", packed.len(), plain.len());
        assert_eq!(one(&packed), Record::Samples(samples));
    }

    proptest! {
        #[test]
        fn samples_and_tombstones_round_trip(
            s in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<u64>()), 0..50),
            ts in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<i64>()), 0..10),
            compress in any::<bool>(),
        ) {
            let samples: Vec<RefSample> = s.iter().map(|&(r, t, v)| RefSample { r, t, v }).collect();
            let stones: Vec<RefTombstone> = ts.iter().map(|&(r, mint, maxt)| RefTombstone { r, mint, maxt }).collect();
            let mut enc = Encoder::new(compress);
            let mut out = Vec::new();
            enc.samples(&samples, &mut out);
            let n = out.len();
            enc.tombstones(&stones, &mut out);
            prop_assert_eq!(one(&out[..n]), Record::Samples(samples));
            prop_assert_eq!(one(&out[n..]), Record::Tombstones(stones));
        }

        #[test]
        fn exemplars_round_trip(
            ex in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<u64>(), "[a-z]{0,3}", "\\PC{0,4}"), 0..20),
            compress in any::<bool>(),
        ) {
            let exemplars: Vec<RefExemplar> = ex
                .iter()
                .map(|(r, t, v, name, value)| {
                    let labels = if name.is_empty() {
                        Labels::default()
                    } else {
                        Labels::from_sorted_vec(vec![Label { name: name.clone(), value: value.clone() }])
                    };
                    RefExemplar { r: *r, t: *t, v: *v, labels }
                })
                .collect();
            let mut out = Vec::new();
            Encoder::new(compress).exemplars(&exemplars, &mut out);
            prop_assert_eq!(one(&out), Record::Exemplars(exemplars));
        }

        #[test]
        fn garbage_never_panics(ty in 0u8..=255, b in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode(ty, &b);
            let _ = read_frame(&b);
        }
    }
}
