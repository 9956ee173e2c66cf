//! XOR, decimal and packed chunks (bits 2 and 3 of the first byte pick the encoding):
//! decoding arbitrary bytes never panics, stops with an error or at the sample count, and
//! `seek` agrees with a linear scan. Samples encoded from the input decode back bit for
//! bit (packed: chunk after chunk, as a block writer cuts them).
#![no_main]

use ember_tsdb::chunks::{ChunkEncoder, ChunkIterator, Encoding, encode_packed};
use ember_tsdb::storage::{Point, SampleIterator};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    if sel & 1 == 0 {
        // Decode: the rest is a chunk (header included); the first 8 bytes of it also pick a seek target.
        let target = rest.get(..8).map_or(0, |b| i64::from_le_bytes(b.try_into().unwrap()));
        let limit = if sel & 2 == 0 { u16::MAX } else { u16::from(sel) };
        let enc = match sel & 12 {
            0 => Encoding::Xor,
            4 => Encoding::Decimal,
            _ => Encoding::Packed,
        };
        let mut it = ChunkIterator::with_limit(enc, rest, limit);
        let mut all: Vec<Point> = Vec::new();
        while let Some(p) = it.next() {
            assert_eq!(it.at().map(|a| a.t), Some(p.t));
            all.push(p);
            assert!(all.len() <= usize::from(limit));
        }
        let failed = it.chunk_error().is_some();
        assert_eq!(failed, it.error().is_some());
        let mut it = ChunkIterator::with_limit(enc, rest, limit);
        let got = it.seek(target);
        // Seek returns the first sample at or after the target (timestamps may be unordered
        // in garbage, so compare with the first such sample in the scan).
        if !failed && all.windows(2).all(|w| w[0].t < w[1].t) {
            let want = all.iter().find(|p| p.t >= target);
            assert_eq!(
                got.map(|p| (p.t, p.v.as_float().unwrap().to_bits())),
                want.map(|p| (p.t, p.v.as_float().unwrap().to_bits()))
            );
        }
        while it.next().is_some() {}
    } else if sel & 8 != 0 {
        // Pack: 16-byte (t, v) pairs (any timestamps; values often short decimals), cut
        // into packed chunks of at most `max` samples, one sample where a value does not fit.
        let max = usize::from(sel >> 4) * 16 + 1;
        let pts: Vec<Point> = rest
            .chunks_exact(16)
            .map(|c| {
                let t = i64::from_le_bytes(c[..8].try_into().unwrap());
                let bits = u64::from_le_bytes(c[8..].try_into().unwrap());
                // Mostly decimals: low bits pick a scaled integer unless the top bit is set.
                let v = if bits >> 63 == 0 {
                    (bits as i64 % 1_000_000_000) as f64 / 10f64.powi((bits >> 56) as i32 % 7)
                } else {
                    f64::from_bits(bits)
                };
                Point::float(t, v)
            })
            .collect();
        let mut rest = &pts[..];
        while !rest.is_empty() {
            let Some((n, bytes)) = encode_packed(rest, max) else {
                rest = &rest[1..];
                continue;
            };
            assert!(n >= 1 && n <= max.min(rest.len()));
            let mut it = ChunkIterator::with_limit(Encoding::Packed, &bytes, u16::MAX);
            let mut got = Vec::new();
            while let Some(p) = it.next() {
                got.push((p.t, p.v.as_float().unwrap().to_bits()));
            }
            assert!(it.chunk_error().is_none());
            let want: Vec<(i64, u64)> = rest[..n].iter().map(|p| (p.t, p.v.as_float().unwrap().to_bits())).collect();
            assert_eq!(got, want);
            rest = &rest[n..];
        }
    } else {
        // Encode: 16-byte (t, v) pairs, timestamps made increasing.
        let mut enc =
            if sel & 4 == 0 { ChunkEncoder::xor_with_capacity(256) } else { ChunkEncoder::with_capacity(256) };
        let mut want = Vec::new();
        let mut t = 0i64;
        for c in rest.chunks_exact(16) {
            if enc.is_full() {
                break;
            }
            let dt = i64::from_le_bytes(c[..8].try_into().unwrap()) & 0x0000_ffff_ffff_ffff;
            t = match t.checked_add(dt.max(1)) {
                Some(t) => t,
                None => break,
            };
            let v = f64::from_bits(u64::from_le_bytes(c[8..].try_into().unwrap()));
            enc.append(t, v);
            want.push((t, v.to_bits()));
        }
        let mut it = ChunkIterator::with_limit(enc.encoding(), enc.bytes(), u16::MAX);
        let mut got = Vec::new();
        while let Some(p) = it.next() {
            got.push((p.t, p.v.as_float().unwrap().to_bits()));
        }
        assert!(it.chunk_error().is_none());
        assert_eq!(got, want);
    }
});
