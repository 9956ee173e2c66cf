//! Byte-level encoding helpers shared by the WAL and block formats: LEB128 varints,
//! zig-zag, fixed-width integers, length-prefixed strings, and a bounds-checked decoder
//! that reports the offset where decoding failed.

/// Appends to a byte vector.
pub(crate) trait PutExt {
    fn put_uvarint(&mut self, v: u64);
    fn put_varint(&mut self, v: i64);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_str(&mut self, s: &str);
}

impl PutExt for Vec<u8> {
    #[inline]
    fn put_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }

    #[inline]
    fn put_varint(&mut self, v: i64) {
        self.put_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }

    #[inline]
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }

    #[inline]
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }

    fn put_str(&mut self, s: &str) {
        self.put_uvarint(s.len() as u64);
        self.extend_from_slice(s.as_bytes());
    }
}

/// Why a decode stopped: the offset (relative to the decoder's start) and what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub(crate) offset: usize,
    pub(crate) what: &'static str,
}

/// A bounds-checked reader over bytes. Every read either succeeds or reports where it
/// failed; none panics.
#[derive(Debug, Clone)]
pub(crate) struct Decbuf<'a> {
    b: &'a [u8],
    pos: usize,
}

pub(crate) type DResult<T> = Result<T, DecodeError>;

impl<'a> Decbuf<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Decbuf { b, pos: 0 }
    }

    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    #[inline]
    pub(crate) fn err(&self, what: &'static str) -> DecodeError {
        DecodeError { offset: self.pos, what }
    }

    #[inline]
    pub(crate) fn uvarint(&mut self) -> DResult<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.b.get(self.pos) else { return Err(self.err("truncated varint")) };
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> DResult<i64> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    #[inline]
    pub(crate) fn bytes(&mut self, n: usize) -> DResult<&'a [u8]> {
        match self.b.get(self.pos..self.pos.saturating_add(n)) {
            Some(s) if self.pos.checked_add(n).is_some() => {
                self.pos += n;
                Ok(s)
            }
            _ => Err(self.err("truncated")),
        }
    }

    #[inline]
    pub(crate) fn u32(&mut self) -> DResult<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    pub(crate) fn u64(&mut self) -> DResult<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length-prefixed UTF-8 string.
    pub(crate) fn str(&mut self) -> DResult<&'a str> {
        let start = self.pos;
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| DecodeError { offset: start, what: "string length" })?;
        let b = self.bytes(n)?;
        std::str::from_utf8(b).map_err(|_| DecodeError { offset: start, what: "string is not UTF-8" })
    }

    /// A count of items each at least `min_item` bytes long, checked against what is left.
    pub(crate) fn count(&mut self, min_item: usize) -> DResult<usize> {
        let start = self.pos;
        let n = self.uvarint()?;
        if n.saturating_mul(min_item.max(1) as u64) > self.remaining() as u64 {
            return Err(DecodeError { offset: start, what: "count exceeds the data" });
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(u in any::<u64>(), i in any::<i64>(), s in ".{0,20}") {
            let mut b = Vec::new();
            b.put_uvarint(u);
            b.put_varint(i);
            b.put_str(&s);
            b.put_u32(u as u32);
            b.put_u64(u);
            let mut d = Decbuf::new(&b);
            prop_assert_eq!(d.uvarint().unwrap(), u);
            prop_assert_eq!(d.varint().unwrap(), i);
            prop_assert_eq!(d.str().unwrap(), s.as_str());
            prop_assert_eq!(d.u32().unwrap(), u as u32);
            prop_assert_eq!(d.u64().unwrap(), u);
            prop_assert_eq!(d.remaining(), 0);
            prop_assert!(d.bytes(1).is_err());
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut d = Decbuf::new(&b);
            while d.str().is_ok() {}
            let mut d = Decbuf::new(&b);
            let _ = d.count(3);
            while d.varint().is_ok() {}
        }
    }
}
