//! The Prometheus protobuf exposition format: a stream of `io.prometheus.client.MetricFamily`
//! messages, each preceded by its length as a varint (`encoding=delimited`).
//!
//! [`decode`] and [`encode`] work on that stream; [`proto`] has the messages, including
//! every native-histogram field, which pass through decode and encode unchanged.
//! [`to_families`] and [`from_families`] convert to and from the flat [`MetricFamily`](crate::MetricFamily)
//! model of the text formats.
//!
//! ```
//! use ember_exposition::protobuf::{self, proto};
//!
//! let family = proto::MetricFamily {
//!     name: "http_requests_total".into(),
//!     r#type: proto::MetricType::Counter as i32,
//!     metric: vec![proto::Metric {
//!         counter: Some(Box::new(proto::Counter { value: 7.0, ..Default::default() })),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let mut buf = Vec::new();
//! protobuf::encode(std::slice::from_ref(&family), &mut buf);
//! assert_eq!(protobuf::decode(&buf).unwrap(), vec![family]);
//!
//! // A length prefix that promises more than the input holds is refused before anything
//! // is allocated, and the error names the offset of the message.
//! let err = protobuf::decode(&[0x05, 0x0a]).unwrap_err();
//! assert_eq!(err.offset, 0);
//! assert!(matches!(err.kind, protobuf::ProtobufErrorKind::MessageOverrun { len: 5, remaining: 1 }));
//! ```
//!
//! ## Memory on hostile input
//!
//! Decoding reads from a slice the caller already holds, so the input is bounded by the
//! caller (a scraper's body size limit). Each message is checked before it is decoded: its
//! length must fit in what remains and must not exceed [`Decoder::max_message_len`]
//! (64 MiB by default). `prost` allocates no more than the elements actually present, and
//! the large sub-messages of [`proto::Metric`] are boxed (it is 96 bytes), so the worst
//! case, a run of empty `Metric` messages of two bytes each, costs about 100 bytes of memory
//! per byte of input counting `Vec` growth; real expositions cost a small multiple of their
//! length. A reader of untrusted input lowers the cap to what it is willing to spend.

mod convert;
pub mod proto;
pub mod view;

use std::fmt;

use prost::Message as _;

pub use convert::{
    Conversion, ConvertError, ConvertErrorKind, Loss, LossKind, format_openmetrics_float, from_families, from_family,
    to_families,
};
pub use view::{FamilyView, FamilyViews, Malformed, MetricView};

/// The default cap on the length of one message: 64 MiB.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 64 << 20;

/// Decodes a whole delimited stream with the default [`Decoder`].
///
/// Empty input is an empty exposition. Messages that repeat a family name are returned as
/// they come; merging or rejecting them is the caller's policy.
pub fn decode(input: &[u8]) -> Result<Vec<proto::MetricFamily>, ProtobufError> {
    Decoder::new().decode(input)
}

/// Appends each family to `out`, each preceded by its length as a varint.
pub fn encode(families: &[proto::MetricFamily], out: &mut Vec<u8>) {
    for f in families {
        encode_one(f, out);
    }
}

/// Converts flat families with [`from_families`] and appends them to `out` as a delimited
/// stream; on error `out` is left as it was.
pub fn encode_families(families: &[crate::MetricFamily], out: &mut Vec<u8>) -> Result<(), ConvertError> {
    let protos = from_families(families)?;
    encode(&protos, out);
    Ok(())
}

/// Appends one family, preceded by its length as a varint.
pub fn encode_one(family: &proto::MetricFamily, out: &mut Vec<u8>) {
    let len = family.encoded_len();
    out.reserve(len + prost::length_delimiter_len(len));
    prost::encoding::encode_varint(len as u64, out);
    family.encode_raw(out);
}

/// Options for decoding a delimited stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    max_message_len: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with the default limits.
    pub fn new() -> Self {
        Decoder { max_message_len: DEFAULT_MAX_MESSAGE_LEN }
    }

    /// Refuse any message longer than `len` bytes (default [`DEFAULT_MAX_MESSAGE_LEN`]).
    pub fn max_message_len(mut self, len: usize) -> Self {
        self.max_message_len = len;
        self
    }

    /// Decodes a whole stream.
    pub fn decode(&self, input: &[u8]) -> Result<Vec<proto::MetricFamily>, ProtobufError> {
        self.iter(input).collect()
    }

    /// Decodes a stream one family at a time; the iterator ends after the first error.
    pub fn iter<'a>(&self, input: &'a [u8]) -> Families<'a> {
        Families { input, pos: 0, max_message_len: self.max_message_len, failed: false }
    }

    /// Reads a stream one family at a time as borrowing [views](view), which read names,
    /// labels and values straight from `input` without allocating; each family's metrics
    /// are checked as [`FamilyView::metrics`] reaches them. Families and metrics together
    /// accept exactly what [`Decoder::iter`] accepts; the iterator ends after the first
    /// error.
    pub fn views<'a>(&self, input: &'a [u8]) -> FamilyViews<'a> {
        FamilyViews { input, pos: 0, max_message_len: self.max_message_len, failed: false }
    }
}

/// The body of the length-delimited message at `start` and the offset just past it.
fn delimited(input: &[u8], start: usize, max_message_len: usize) -> Result<(&[u8], usize), ProtobufErrorKind> {
    let rest = &input[start..];
    let (len, prefix) = read_varint(rest)?;
    let remaining = rest.len() - prefix;
    if len > remaining as u64 {
        return Err(ProtobufErrorKind::MessageOverrun { len, remaining });
    }
    if len > max_message_len as u64 {
        return Err(ProtobufErrorKind::MessageTooLarge { len, max: max_message_len });
    }
    let end = start + prefix + len as usize;
    Ok((&input[start + prefix..end], end))
}

/// An iterator over the families of a delimited stream; see [`Decoder::iter`].
#[derive(Debug, Clone)]
pub struct Families<'a> {
    input: &'a [u8],
    pos: usize,
    max_message_len: usize,
    failed: bool,
}

impl Families<'_> {
    /// Byte offset of the next message's length prefix.
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn next_message(&mut self) -> Result<proto::MetricFamily, ProtobufError> {
        let start = self.pos;
        let err = |kind| ProtobufError { offset: start, kind };
        let (body, end) = delimited(self.input, start, self.max_message_len).map_err(err)?;
        let family = proto::MetricFamily::decode(body).map_err(|e| err(ProtobufErrorKind::Decode(e)))?;
        self.pos = end;
        Ok(family)
    }
}

impl Iterator for Families<'_> {
    type Item = Result<proto::MetricFamily, ProtobufError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.input.len() {
            return None;
        }
        let r = self.next_message();
        self.failed = r.is_err();
        Some(r)
    }
}

#[cfg(test)]
pub(crate) fn encode_varint_for_tests(v: u64, out: &mut Vec<u8>) {
    prost::encoding::encode_varint(v, out);
}

/// Reads a base-128 varint; returns the value and the number of bytes it took.
fn read_varint(b: &[u8]) -> Result<(u64, usize), ProtobufErrorKind> {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return Err(ProtobufErrorKind::InvalidLengthPrefix);
        }
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    if b.len() < 10 {
        Err(ProtobufErrorKind::TruncatedLengthPrefix)
    } else {
        Err(ProtobufErrorKind::InvalidLengthPrefix)
    }
}

/// A delimited stream that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtobufError {
    /// Byte offset of the length prefix of the message that failed.
    pub offset: usize,
    /// What went wrong.
    pub kind: ProtobufErrorKind,
}

/// What went wrong decoding a delimited stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtobufErrorKind {
    /// The input ends inside a length prefix.
    TruncatedLengthPrefix,
    /// The length prefix is not a valid varint (longer than ten bytes or above `u64::MAX`).
    InvalidLengthPrefix,
    /// The length prefix promises more bytes than remain.
    MessageOverrun {
        /// The declared length.
        len: u64,
        /// The bytes left after the prefix.
        remaining: usize,
    },
    /// The message is longer than the decoder allows.
    MessageTooLarge {
        /// The declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The message is not a valid `MetricFamily`.
    Decode(prost::DecodeError),
    /// The message is not a valid `MetricFamily` (as the [views](view) report it).
    Malformed {
        /// Absolute byte offset, in the input, of the field at fault.
        at: usize,
        /// What is wrong with it.
        problem: Malformed,
    },
}

impl fmt::Display for ProtobufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "protobuf exposition, message at byte {}: ", self.offset)?;
        match &self.kind {
            ProtobufErrorKind::TruncatedLengthPrefix => f.write_str("input ends inside the length prefix"),
            ProtobufErrorKind::InvalidLengthPrefix => f.write_str("invalid varint length prefix"),
            ProtobufErrorKind::MessageOverrun { len, remaining } => {
                write!(f, "length prefix says {len} bytes but only {remaining} remain")
            }
            ProtobufErrorKind::MessageTooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max} bytes")
            }
            ProtobufErrorKind::Decode(e) => write!(f, "invalid MetricFamily: {e}"),
            ProtobufErrorKind::Malformed { at, problem } => write!(f, "invalid MetricFamily: {problem} at byte {at}"),
        }
    }
}

impl std::error::Error for ProtobufError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ProtobufErrorKind::Decode(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::proto::*;
    use super::{Decoder, ProtobufErrorKind, decode, encode, read_varint};

    #[track_caller]
    fn check_err(input: &[u8], offset: usize, want: ProtobufErrorKind) {
        let err = decode(input).unwrap_err();
        assert_eq!((err.offset, err.kind), (offset, want), "input {input:02x?}");
    }

    fn family(name: &str) -> MetricFamily {
        MetricFamily {
            name: name.into(),
            r#type: MetricType::Gauge as i32,
            metric: vec![Metric { gauge: Some(Gauge { value: 1.5 }), ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn varints() {
        assert_eq!(read_varint(&[0]), Ok((0, 1)));
        assert_eq!(read_varint(&[0x96, 0x01]), Ok((150, 2)));
        assert_eq!(read_varint(&[0xff; 9].iter().copied().chain([1]).collect::<Vec<_>>()), Ok((u64::MAX, 10)));
        assert_eq!(
            read_varint(&[0xff; 9].iter().copied().chain([2]).collect::<Vec<_>>()),
            Err(ProtobufErrorKind::InvalidLengthPrefix)
        );
        assert_eq!(read_varint(&[0x80; 11]), Err(ProtobufErrorKind::InvalidLengthPrefix));
        assert_eq!(read_varint(&[0x80, 0x80]), Err(ProtobufErrorKind::TruncatedLengthPrefix));
        assert_eq!(read_varint(&[]), Err(ProtobufErrorKind::TruncatedLengthPrefix));
    }

    #[test]
    fn errors_name_the_failing_message() {
        let mut buf = Vec::new();
        encode(&[family("a"), family("b")], &mut buf);
        let second = buf.len() / 2;
        assert_eq!(decode(&buf).unwrap().len(), 2);
        assert_eq!(decode(&[]).unwrap(), vec![]);

        let mut t = buf.clone();
        t.push(0x80);
        check_err(&t, buf.len(), ProtobufErrorKind::TruncatedLengthPrefix);
        let mut t = buf[..buf.len() - 1].to_vec();
        check_err(
            &t,
            second,
            ProtobufErrorKind::MessageOverrun {
                len: (buf.len() - second - 1) as u64,
                remaining: buf.len() - second - 2,
            },
        );
        t.truncate(second);
        t.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        check_err(&t, second, ProtobufErrorKind::MessageOverrun { len: (1 << 63) - 1, remaining: 0 });
        let mut t = buf[..second].to_vec();
        t.extend([0x02, 0x0a, 0x05]); // field 1 (name) says 5 bytes, has none
        let err = decode(&t).unwrap_err();
        assert_eq!(err.offset, second);
        assert!(matches!(err.kind, ProtobufErrorKind::Decode(_)), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("protobuf exposition, message at byte {second}: invalid MetricFamily")),
            "{err}"
        );

        let err = Decoder::new().max_message_len(3).decode(&buf).unwrap_err();
        assert_eq!(err.offset, 0);
        assert!(matches!(err.kind, ProtobufErrorKind::MessageTooLarge { max: 3, .. }));
    }

    #[test]
    fn iterator_stops_after_error() {
        let mut buf = Vec::new();
        encode(&[family("a")], &mut buf);
        buf.push(0x80);
        let mut it = Decoder::new().iter(&buf);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn native_histogram_round_trips_byte_identically() {
        let ts = Timestamp { seconds: 1_700_000_000, nanos: 123_000_000 };
        let ex = Exemplar {
            label: vec![LabelPair { name: "trace_id".into(), value: "abc".into() }],
            value: 0.3,
            timestamp: Some(ts),
        };
        let h = Histogram {
            sample_count: 12,
            sample_sum: 3.5,
            bucket: vec![Bucket {
                cumulative_count: 2,
                upper_bound: 0.1,
                exemplar: Some(ex.clone()),
                ..Default::default()
            }],
            created_timestamp: Some(ts),
            schema: -3,
            zero_threshold: 1e-128,
            zero_count: 1,
            zero_count_float: 0.0,
            negative_span: vec![BucketSpan { offset: -2, length: 1 }],
            negative_delta: vec![3],
            negative_count: vec![],
            positive_span: vec![BucketSpan { offset: 0, length: 2 }, BucketSpan { offset: 3, length: 1 }],
            positive_delta: vec![1, -1, 5],
            positive_count: vec![],
            exemplars: vec![ex],
            sample_count_float: 0.0,
        };
        let mut float_h = h.clone();
        float_h.positive_delta.clear();
        float_h.negative_delta.clear();
        float_h.positive_count = vec![1.0, 0.5, 4.0];
        float_h.negative_count = vec![3.0];
        float_h.zero_count_float = 1.5;
        float_h.sample_count_float = 9.5;
        let fam = MetricFamily {
            name: "rpc_duration_seconds".into(),
            help: "RPC latency.".into(),
            r#type: MetricType::Histogram as i32,
            unit: "seconds".into(),
            metric: vec![
                Metric { histogram: Some(Box::new(h)), timestamp_ms: Some(0), ..Default::default() },
                Metric {
                    label: vec![LabelPair { name: "kind".into(), value: "float".into() }],
                    histogram: Some(Box::new(float_h)),
                    ..Default::default()
                },
            ],
        };
        assert!(fam.metric.iter().all(|m| m.histogram.as_ref().unwrap().is_native()));
        let mut buf = Vec::new();
        encode(std::slice::from_ref(&fam), &mut buf);
        let back = decode(&buf).unwrap();
        assert_eq!(back, vec![fam]);
        let mut again = Vec::new();
        encode(&back, &mut again);
        assert_eq!(again, buf);
    }

    #[test]
    fn reads_proto2_style_explicit_defaults_and_unpacked_repeats() {
        // client_golang (proto2) writes fields even when zero; repeated scalars may arrive
        // unpacked. Field 4 (metric) { field 2 (gauge) { field 1 (value) = 0.0 } }.
        let body = [0x0a, 0x01, b'g', 0x18, 0x01, 0x22, 0x0b, 0x12, 0x09, 0x09, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut input = vec![body.len() as u8];
        input.extend(body);
        let got = decode(&input).unwrap();
        assert_eq!(got[0].name, "g");
        assert_eq!(got[0].r#type(), MetricType::Gauge);
        assert_eq!(got[0].metric[0].gauge, Some(Gauge { value: 0.0 }));
        // Histogram { positive_delta (13, sint64) unpacked: 1, then 2 } in a Metric.
        let h = [0x68, 0x02, 0x68, 0x04];
        let m = [&[0x3a, h.len() as u8][..], &h].concat();
        let body = [&[0x22, m.len() as u8][..], &m].concat();
        let input = [&[body.len() as u8][..], &body].concat();
        let got = decode(&input).unwrap();
        assert_eq!(got[0].metric[0].histogram.as_ref().unwrap().positive_delta, vec![1, 2]);
    }

    #[test]
    fn memory_per_input_byte_is_bounded() {
        // The smallest encodings of repeated elements are two bytes (tag, zero length);
        // these sizes back the amplification bound in the module docs (Vec growth at most
        // doubles them).
        use std::mem::size_of;
        for size in [size_of::<Metric>(), size_of::<LabelPair>(), size_of::<Bucket>(), size_of::<Exemplar>()] {
            assert!(size <= 2 * 64, "{size}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(Timestamp::from_millis(-1), Timestamp { seconds: -1, nanos: 999_000_000 });
        assert_eq!(Timestamp::from_millis(-1).to_millis(), -1);
        assert_eq!(Timestamp::from_millis(i64::MIN).to_millis(), i64::MIN);
        assert_eq!(Timestamp::from_millis(i64::MAX).to_millis(), i64::MAX);
        assert_eq!(Timestamp { seconds: i64::MAX, nanos: 0 }.to_millis(), i64::MAX);
        assert_eq!(Timestamp::from_millis(1_700_000_000_123).to_millis(), 1_700_000_000_123);
        for s in [0.0, 1.5, 1_700_000_000.123, -3.25, 1e-9, 1_699_999_999.999_999_9] {
            let t = Timestamp::from_seconds_f64(s).unwrap();
            assert!((0..1_000_000_000).contains(&t.nanos), "{s}: {t:?}");
            assert_eq!(t.to_seconds_f64(), s, "{s}: {t:?}");
        }
        assert_eq!(Timestamp::from_seconds_f64(f64::NAN), None);
        assert_eq!(Timestamp::from_seconds_f64(1e300), None);
    }
}
