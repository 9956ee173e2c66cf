//! Chunks: compressed runs of samples of one series, tagged with their encoding.
//!
//! Float samples use Prometheus's XOR encoding (Gorilla: delta-of-delta timestamps,
//! XOR'd values), byte for byte as `chunks.md` in the Prometheus format docs lays it out,
//! so blocks written later can share Prometheus's chunk format. Every chunk is tagged
//! with an [`Encoding`], so native-histogram encodings slot in beside XOR.
//!
//! The encoding stores the bits of each `f64`, so every value round-trips exactly,
//! including NaN payloads (the staleness marker), infinities and `-0.0`.
//!
//! The head writes [`Encoding::Decimal`] chunks while every value is a short decimal
//! (most series: integers and values such as `12345.67`) and XOR otherwise; see
//! [`ChunkEncoder`]. Decimal chunks are an Ember encoding, not one Prometheus reads.
//!
//! Blocks re-encode each series' run of short decimals as one [`Encoding::Packed`] chunk
//! ([`encode_packed`]): written at once, with codings chosen for the whole run, it is
//! smaller than the head's sample-by-sample chunks (another Ember encoding).

mod bstream;
mod decimal;
mod packed;
mod xor;

use std::fmt;

pub use bstream::{BitReader, BitWriter};
pub(crate) use decimal::is_short_decimal;
pub use decimal::{ChunkEncoder, ChunkIterator, DecimalEncoder, DecimalIterator, MAX_SCALE};
pub use packed::{PackedIterator, encode_packed};
pub use xor::{XorEncoder, XorIterator};

/// A chunk's encoding, as stored in its one-byte tag (Prometheus's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum Encoding {
    /// Float samples, Gorilla XOR.
    Xor = 1,
    /// Float samples that are all short decimals, as scaled integers (an Ember encoding;
    /// the tag is outside the range Prometheus uses).
    Decimal = 0x41,
    /// Float samples that are all short decimals, packed by a block writer with codings
    /// chosen for the whole run (an Ember encoding).
    Packed = 0x42,
}

impl Encoding {
    /// The encoding for a tag byte.
    pub fn from_u8(b: u8) -> Result<Self, ChunkError> {
        match b {
            1 => Ok(Encoding::Xor),
            0x41 => Ok(Encoding::Decimal),
            0x42 => Ok(Encoding::Packed),
            other => Err(ChunkError { kind: ChunkErrorKind::UnknownEncoding(other), offset: 0 }),
        }
    }

    /// The tag byte.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

/// What is wrong with a chunk's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkErrorKind {
    /// The encoding tag is not one this version knows.
    UnknownEncoding(u8),
    /// The data ends before its header says it should.
    Truncated,
    /// A decimal chunk's scale is larger than [`MAX_SCALE`].
    BadScale,
    /// A packed chunk's header holds a value out of range (a stream mode, a field width,
    /// a predictor).
    BadHeader,
}

/// A chunk that could not be decoded, and the byte offset in the chunk where that showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkError {
    /// What is wrong.
    pub kind: ChunkErrorKind,
    /// Byte offset inside the chunk data.
    pub offset: usize,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ChunkErrorKind::UnknownEncoding(b) => write!(f, "unknown chunk encoding {b}"),
            ChunkErrorKind::Truncated => write!(f, "chunk data truncated at byte {}", self.offset),
            ChunkErrorKind::BadScale => write!(f, "decimal chunk scale above {MAX_SCALE} at byte {}", self.offset),
            ChunkErrorKind::BadHeader => write!(f, "packed chunk header field out of range at byte {}", self.offset),
        }
    }
}

impl std::error::Error for ChunkError {}
