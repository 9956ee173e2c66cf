//! A bit stream: most-significant bit first, as Prometheus's `bstream` lays bits out
//! (see `tsdb/docs/format` in the specs, `bstream.md`).

/// Appends bits to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    /// The stream, followed by zeroed slack so a write never needs to grow it bit by bit.
    buf: Vec<u8>,
    /// Bits written.
    bits: usize,
}

/// Zeroed bytes kept beyond the written ones (a write touches at most 9 bytes).
const SLACK: usize = 16;

impl BitWriter {
    /// A writer whose stream starts after `prefix` (e.g. a header).
    pub fn with_prefix(prefix: &[u8], capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(prefix.len()) + SLACK);
        buf.extend_from_slice(prefix);
        buf.resize(prefix.len() + SLACK, 0);
        BitWriter { buf, bits: prefix.len() * 8 }
    }

    /// Empties the writer for a new stream after `prefix`, keeping its allocation.
    pub fn reset(&mut self, prefix: &[u8]) {
        self.buf.clear();
        self.buf.extend_from_slice(prefix);
        self.buf.resize(prefix.len() + SLACK, 0);
        self.bits = prefix.len() * 8;
    }

    /// The bytes written so far; unused bits of the last byte are zero.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.bits.div_ceil(8)]
    }

    /// The bytes, mutably (to patch a header).
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let n = self.bits.div_ceil(8);
        &mut self.buf[..n]
    }

    /// Consumes the writer, returning the bytes.
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.buf.truncate(self.bits.div_ceil(8));
        self.buf
    }

    /// Number of bits written, including any prefix.
    pub fn bit_len(&self) -> usize {
        self.bits
    }

    /// Writes one bit.
    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        self.write_bits(bit as u64, 1);
    }

    /// Writes the low `n` bits of `v` (`n <= 64`), most significant first.
    #[inline]
    pub fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let (byte, off) = (self.bits / 8, (self.bits % 8) as u32);
        if self.buf.len() < byte + 9 {
            let grow = (self.buf.len() / 2).max(SLACK);
            self.buf.resize(byte + 9 + grow, 0);
        }
        // The bits to write, at the top of a word, ORed in as a big-endian u64 at `byte`
        // (unwritten bits are zero); what does not fit goes into a ninth byte.
        let top = v << (64 - n);
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.buf[byte..byte + 8]);
        let w = u64::from_be_bytes(word) | (top >> off);
        self.buf[byte..byte + 8].copy_from_slice(&w.to_be_bytes());
        if off + n > 64 {
            self.buf[byte + 8] = ((top << (64 - off)) >> 56) as u8;
        }
        self.bits += n as usize;
    }

    /// Writes a byte (not necessarily aligned).
    #[inline]
    pub fn write_byte(&mut self, b: u8) {
        self.write_bits(b as u64, 8);
    }
}

/// Reads bits written by [`BitWriter`].
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    buf: &'a [u8],
    /// Next bit to read, from the start of `buf`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over `buf`, starting at bit 0.
    pub fn new(buf: &'a [u8]) -> Self {
        BitReader { buf, pos: 0 }
    }

    /// The bit position of the next read.
    pub fn position(&self) -> usize {
        self.pos
    }

    #[inline]
    fn load_be(&self, byte: usize) -> u64 {
        match self.buf.get(byte..byte + 8) {
            Some(s) => u64::from_be_bytes(s.try_into().unwrap_or([0; 8])),
            None => {
                let mut w = [0u8; 8];
                let tail = self.buf.get(byte..).unwrap_or(&[]);
                w[..tail.len()].copy_from_slice(tail);
                u64::from_be_bytes(w)
            }
        }
    }

    /// Reads `n <= 64` bits as the low bits of the result; `None` past the end.
    #[inline]
    pub fn read_bits(&mut self, n: u32) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        if self.pos + n as usize > self.buf.len() * 8 {
            return None;
        }
        let byte = self.pos / 8;
        let off = (self.pos % 8) as u32;
        let mut v = self.load_be(byte) << off;
        if off + n > 64 {
            let next = self.buf.get(byte + 8).copied().unwrap_or(0) as u64;
            v |= next >> (8 - off);
        }
        self.pos += n as usize;
        Some(v >> (64 - n))
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bit(&mut self) -> Option<bool> {
        self.read_bits(1).map(|b| b == 1)
    }

    /// Reads a byte.
    #[inline]
    pub fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|b| b as u8)
    }
}

/// Writes `v` as a LEB128 unsigned varint into the bit stream.
pub fn write_uvarint(w: &mut BitWriter, mut v: u64) {
    while v >= 0x80 {
        w.write_byte((v as u8) | 0x80);
        v >>= 7;
    }
    w.write_byte(v as u8);
}

/// Writes `v` as a zig-zag varint into the bit stream.
pub fn write_varint(w: &mut BitWriter, v: i64) {
    write_uvarint(w, ((v << 1) ^ (v >> 63)) as u64);
}

/// Reads a LEB128 unsigned varint; `None` if truncated or longer than 10 bytes.
pub fn read_uvarint(r: &mut BitReader<'_>) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = r.read_byte()?;
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Reads a zig-zag varint.
pub fn read_varint(r: &mut BitReader<'_>) -> Option<i64> {
    let u = read_uvarint(r)?;
    Some(((u >> 1) as i64) ^ -((u & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bits_round_trip(items in proptest::collection::vec((any::<u64>(), 0u32..=64), 0..64), prefix in 0usize..3) {
            let mut w = BitWriter::with_prefix(&vec![0xAB; prefix], 0);
            for &(v, n) in &items {
                w.write_bits(v, n);
            }
            let total: usize = items.iter().map(|&(_, n)| n as usize).sum();
            prop_assert_eq!(w.bit_len(), prefix * 8 + total);
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes[prefix..]);
            for &(v, n) in &items {
                let want = if n == 64 { v } else { v & ((1u64 << n) - 1) };
                prop_assert_eq!(r.read_bits(n), Some(want));
            }
        }

        #[test]
        fn varints_round_trip(vs in proptest::collection::vec(any::<i64>(), 0..20), skew in 0u32..8) {
            let mut w = BitWriter::default();
            w.write_bits(0, skew);
            for &v in &vs {
                write_varint(&mut w, v);
                write_uvarint(&mut w, v as u64);
            }
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes);
            r.read_bits(skew).unwrap();
            for &v in &vs {
                prop_assert_eq!(read_varint(&mut r), Some(v));
                prop_assert_eq!(read_uvarint(&mut r), Some(v as u64));
            }
        }
    }

    #[test]
    fn reading_past_the_end_is_none() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read_bits(9), None);
        assert_eq!(r.read_bits(8), Some(0xff));
        assert_eq!(r.read_bit(), None);
    }
}
