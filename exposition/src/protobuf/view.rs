//! Borrowing views of a delimited stream: the zero-copy way to read a protobuf exposition.
//!
//! [`Decoder::views`](super::Decoder::views) yields a [`FamilyView`] for each `MetricFamily`
//! message whose own fields check out, and [`FamilyView::metrics`] checks each `Metric` in
//! one pass when it reaches it (every field the owned [`decode`](super::decode) would read,
//! with the same rules: wire types, varints, lengths, UTF-8, packed repeats, unknown fields
//! and groups), handing out its label pairs from that same pass
//! ([`Metrics::next_into`]). Names, labels and help texts are `&str` slices of the input.
//! Reading a checked metric allocates nothing and cannot fail. A stream whose families and
//! metrics the views all accept is exactly one [`decode`](super::decode) accepts, failing at
//! the same message otherwise, and [`FamilyView::to_proto`] gives the family it decodes to.
//!
//! What the view gives up: a field is found by scanning its message again, so a view suits
//! reading each field once or twice, in order, as a scraper does; a caller who wants random
//! access to everything decodes owned messages instead.
//!
//! Protobuf merges a non-repeated sub-message that occurs twice (its fields as if written
//! once, later scalars winning, repeated fields concatenated); the views read such messages
//! that way too, over every occurrence.
//!
//! ```
//! use ember_exposition::protobuf::{self, proto, Decoder};
//!
//! let family = proto::MetricFamily {
//!     name: "up".into(),
//!     r#type: proto::MetricType::Gauge as i32,
//!     metric: vec![proto::Metric {
//!         label: vec![proto::LabelPair { name: "job".into(), value: "node".into() }],
//!         gauge: Some(proto::Gauge { value: 1.0 }),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let mut buf = Vec::new();
//! protobuf::encode(std::slice::from_ref(&family), &mut buf);
//! let view = Decoder::new().views(&buf).next().unwrap().unwrap();
//! assert_eq!(view.name(), "up");
//! let metric = view.metrics().next().unwrap().unwrap();
//! assert_eq!(metric.labels().collect::<Vec<_>>(), [("job", "node")]);
//! assert_eq!(metric.gauge(), Some(1.0));
//! assert_eq!(view.to_proto().unwrap(), family);
//! ```

use std::fmt;

use super::{ProtobufError, ProtobufErrorKind, proto, read_varint};

/// What is wrong with a message, as [`ProtobufErrorKind::Malformed`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// A varint runs past the end of its message or does not fit in 64 bits.
    Varint,
    /// A field key is invalid: above `u32::MAX`, field number 0, or wire type 6 or 7.
    Key,
    /// A known field has a wire type its schema does not allow.
    WireType {
        /// The message, e.g. `Metric`.
        message: &'static str,
        /// The field, e.g. `label`.
        field: &'static str,
    },
    /// A length-delimited or fixed-width value runs past the end of its message.
    Overrun,
    /// A string field is not valid UTF-8.
    Utf8 {
        /// The message.
        message: &'static str,
        /// The field.
        field: &'static str,
    },
    /// Packed repeated values do not fill their field exactly.
    Packed {
        /// The message.
        message: &'static str,
        /// The field.
        field: &'static str,
    },
    /// An end-group tag without a matching start group.
    EndGroup,
    /// Groups nested too deeply inside an unknown field.
    RecursionLimit,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Varint => f.write_str("invalid or truncated varint"),
            Malformed::Key => f.write_str("invalid field key"),
            Malformed::WireType { message, field } => write!(f, "wrong wire type for {message}.{field}"),
            Malformed::Overrun => f.write_str("field runs past the end of its message"),
            Malformed::Utf8 { message, field } => write!(f, "{message}.{field} is not UTF-8"),
            Malformed::Packed { message, field } => write!(f, "packed {message}.{field} does not fill its field"),
            Malformed::EndGroup => f.write_str("unexpected end-group tag"),
            Malformed::RecursionLimit => f.write_str("groups nested too deeply"),
        }
    }
}

/// One field's value as the wire carries it.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    I64(u64),
    Len(&'a [u8]),
    I32,
    /// A checked label pair (only ever handed to a checker's callback).
    Pair(&'a str, &'a str),
    /// A group, already skipped.
    Group,
    EndGroup,
}

/// The recursion budget prost gives a top-level message; each nested message or group
/// spends one.
const RECURSION_LIMIT: u32 = 100;

/// Reads one field at `*pos`: its tag and value. Groups are skipped with `ctx` as the
/// budget of the message holding them.
#[inline]
fn read_field<'a>(b: &'a [u8], pos: &mut usize, ctx: u32) -> Result<(u32, Wire<'a>), Malformed> {
    let key = varint(b, pos)?;
    if key > u64::from(u32::MAX) || key & 7 > 5 || key >> 3 == 0 {
        return Err(Malformed::Key);
    }
    let tag = (key >> 3) as u32;
    let w = match key & 7 {
        0 => Wire::Varint(varint(b, pos)?),
        1 => Wire::I64(u64::from_le_bytes(fixed::<8>(b, pos)?)),
        2 => {
            let len = varint(b, pos)?;
            if len > (b.len() - *pos) as u64 {
                return Err(Malformed::Overrun);
            }
            let v = &b[*pos..*pos + len as usize];
            *pos += len as usize;
            Wire::Len(v)
        }
        3 => {
            skip_group(b, pos, tag, ctx)?;
            Wire::Group
        }
        4 => Wire::EndGroup,
        _ => {
            fixed::<4>(b, pos)?;
            Wire::I32
        }
    };
    Ok((tag, w))
}

/// Skips the rest of group `tag`, whose start was read by a message with budget `ctx`.
fn skip_group(b: &[u8], pos: &mut usize, tag: u32, ctx: u32) -> Result<(), Malformed> {
    loop {
        let (inner, w) = read_field_no_group(b, pos)?;
        match w {
            Some(Wire::EndGroup) if inner == tag => return Ok(()),
            Some(Wire::EndGroup) => return Err(Malformed::EndGroup),
            _ if ctx <= 1 => return Err(Malformed::RecursionLimit),
            None => skip_group(b, pos, inner, ctx - 1)?,
            Some(_) => {}
        }
    }
}

/// As [`read_field`], but a group start is returned as `None` with nothing skipped.
fn read_field_no_group<'a>(b: &'a [u8], pos: &mut usize) -> Result<(u32, Option<Wire<'a>>), Malformed> {
    let save = *pos;
    let key = varint(b, pos)?;
    if key & 7 == 3 && key <= u64::from(u32::MAX) && key >> 3 != 0 {
        return Ok(((key >> 3) as u32, None));
    }
    *pos = save;
    let (tag, w) = read_field(b, pos, 0)?;
    Ok((tag, Some(w)))
}

#[inline]
fn varint(b: &[u8], pos: &mut usize) -> Result<u64, Malformed> {
    if let Some(&x) = b.get(*pos)
        && x < 0x80
    {
        *pos += 1;
        return Ok(u64::from(x));
    }
    let (v, n) = read_varint(&b[*pos..]).map_err(|_| Malformed::Varint)?;
    *pos += n;
    Ok(v)
}

fn fixed<const N: usize>(b: &[u8], pos: &mut usize) -> Result<[u8; N], Malformed> {
    let v: [u8; N] = b.get(*pos..*pos + N).and_then(|s| s.try_into().ok()).ok_or(Malformed::Overrun)?;
    *pos += N;
    Ok(v)
}

/// The fields of a checked message, in order; stops early only on input it never gets.
#[derive(Debug, Clone, Copy)]
struct Fields<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(b: &'a [u8]) -> Self {
        Fields { b, pos: 0 }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u32, Wire<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.b.len() {
            return None;
        }
        match read_field(self.b, &mut self.pos, RECURSION_LIMIT) {
            Ok(f) => Some(f),
            Err(_) => {
                self.pos = self.b.len();
                None
            }
        }
    }
}

/// A message read as protobuf merges it: the fields of every occurrence of `path` (a
/// chain of non-repeated message fields) below `root`, in order.
#[derive(Debug, Clone, Copy)]
struct Msg<'a> {
    root: &'a [u8],
    path: [u32; 3],
    len: usize,
}

impl<'a> Msg<'a> {
    fn root(b: &'a [u8]) -> Self {
        Msg { root: b, path: [0; 3], len: 0 }
    }

    fn child(&self, tag: u32) -> Self {
        let mut m = *self;
        if m.len < m.path.len() {
            m.path[m.len] = tag;
            m.len += 1;
        }
        m
    }

    fn fields(&self) -> MsgFields<'a> {
        let empty = Fields::new(&[]);
        let mut stack = [empty; 4];
        stack[0] = Fields::new(self.root);
        MsgFields { stack, depth: 0, path: self.path, len: self.len }
    }

    /// Whether the optional message `tag` occurs.
    fn has(&self, tag: u32) -> bool {
        self.fields().any(|(t, w)| t == tag && matches!(w, Wire::Len(_)))
    }

    /// The elements of the repeated message `tag`.
    fn repeated(&self, tag: u32) -> impl Iterator<Item = Msg<'a>> + use<'a> {
        self.fields().filter_map(move |(t, w)| match w {
            Wire::Len(b) if t == tag => Some(Msg::root(b)),
            _ => None,
        })
    }

    fn last_varint(&self, tag: u32) -> Option<u64> {
        self.fields()
            .filter_map(|(t, w)| match w {
                Wire::Varint(v) if t == tag => Some(v),
                _ => None,
            })
            .last()
    }

    fn f64(&self, tag: u32) -> f64 {
        self.fields()
            .filter_map(|(t, w)| match w {
                Wire::I64(v) if t == tag => Some(f64::from_bits(v)),
                _ => None,
            })
            .last()
            .unwrap_or(0.0)
    }

    fn timestamp(&self, tag: u32) -> Option<proto::Timestamp> {
        self.has(tag).then(|| {
            let t = self.child(tag);
            proto::Timestamp {
                seconds: t.last_varint(1).unwrap_or(0) as i64,
                nanos: t.last_varint(2).unwrap_or(0) as i32,
            }
        })
    }

    fn pairs(&self, tag: u32) -> LabelPairs<'a> {
        LabelPairs { fields: self.fields(), tag }
    }

    fn exemplar(&self, tag: u32) -> Option<ExemplarView<'a>> {
        self.has(tag).then(|| ExemplarView { m: self.child(tag) })
    }
}

/// The iterator of [`Msg::fields`].
#[derive(Debug, Clone)]
struct MsgFields<'a> {
    stack: [Fields<'a>; 4],
    depth: usize,
    path: [u32; 3],
    len: usize,
}

impl<'a> Iterator for MsgFields<'a> {
    type Item = (u32, Wire<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.stack[self.depth].next() {
                None if self.depth == 0 => return None,
                None => self.depth -= 1,
                Some(f) if self.depth == self.len => return Some(f),
                Some((t, Wire::Len(b))) if t == self.path[self.depth] => {
                    self.depth += 1;
                    self.stack[self.depth] = Fields::new(b);
                }
                Some(_) => {}
            }
        }
    }
}

/// The `(name, value)` label pairs of a metric or exemplar, in written order.
#[derive(Debug, Clone)]
pub struct LabelPairs<'a> {
    fields: MsgFields<'a>,
    tag: u32,
}

impl<'a> Iterator for LabelPairs<'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        for (t, w) in self.fields.by_ref() {
            if let Wire::Len(b) = w
                && t == self.tag
            {
                let (mut name, mut value) = ("", "");
                for (t, w) in Fields::new(b) {
                    if let Wire::Len(s) = w {
                        match t {
                            1 => name = std::str::from_utf8(s).unwrap_or(""),
                            2 => value = std::str::from_utf8(s).unwrap_or(""),
                            _ => {}
                        }
                    }
                }
                return Some((name, value));
            }
        }
        None
    }
}

/// One `MetricFamily` message of a stream, borrowed from the input; see the
/// [module docs](self).
#[derive(Debug, Clone, Copy)]
pub struct FamilyView<'a> {
    name: &'a str,
    help: &'a str,
    unit: &'a str,
    metric_type: i32,
    body: &'a [u8],
    /// Absolute offsets of the body and of the message's length prefix.
    base: usize,
    offset: usize,
}

impl<'a> FamilyView<'a> {
    /// The family name as sent.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The help text (empty when none was sent).
    pub fn help(&self) -> &'a str {
        self.help
    }

    /// The unit (empty when none was sent).
    pub fn unit(&self) -> &'a str {
        self.unit
    }

    /// The type as sent; [`proto::MetricType::try_from`] tells a known one.
    pub fn metric_type(&self) -> i32 {
        self.metric_type
    }

    /// The family's metrics, in order, each checked as it is reached.
    pub fn metrics(&self) -> Metrics<'a> {
        Metrics { fields: Fields::new(self.body), base: self.base, offset: self.offset, failed: false }
    }

    /// The owned message this view reads, as [`decode`](super::decode) returns it, or the
    /// error `decode` reports for it.
    pub fn to_proto(&self) -> Result<proto::MetricFamily, ProtobufError> {
        Ok(proto::MetricFamily {
            name: self.name.into(),
            help: self.help.into(),
            r#type: self.metric_type,
            metric: self.metrics().map(|m| m.map(|m| m.to_proto())).collect::<Result<_, _>>()?,
            unit: self.unit.into(),
        })
    }
}

/// The metrics of a [`FamilyView`]: each is checked when reached, and the first that is
/// malformed ends the iteration with the error [`decode`](super::decode) would report for
/// the family.
#[derive(Debug, Clone)]
pub struct Metrics<'a> {
    fields: Fields<'a>,
    base: usize,
    offset: usize,
    failed: bool,
}

impl<'a> Metrics<'a> {
    /// The next metric, with its label pairs (in written order) put in `labels`, which is
    /// cleared first: the labels come from the same pass that checks the metric, so a
    /// caller that reuses `labels` reads each metric once and allocates nothing.
    #[inline]
    pub fn next_into(&mut self, labels: &mut Vec<(&'a str, &'a str)>) -> Option<Result<MetricView<'a>, ProtobufError>> {
        labels.clear();
        self.next_metric(Some(labels))
    }

    fn next_metric(
        &mut self,
        labels: Option<&mut Vec<(&'a str, &'a str)>>,
    ) -> Option<Result<MetricView<'a>, ProtobufError>> {
        if self.failed {
            return None;
        }
        while let Some((t, w)) = self.fields.next() {
            if let Wire::Len(b) = w
                && t == 4
            {
                let at = self.base + self.fields.pos - b.len();
                let r = check_metric_view(b, at, RECURSION_LIMIT - 1, labels).map_err(|bad| ProtobufError {
                    offset: self.offset,
                    kind: ProtobufErrorKind::Malformed { at: bad.at, problem: bad.problem },
                });
                self.failed = r.is_err();
                return Some(r);
            }
        }
        None
    }
}

impl<'a> Iterator for Metrics<'a> {
    type Item = Result<MetricView<'a>, ProtobufError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_metric(None)
    }
}

/// One `Metric` message, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct MetricView<'a> {
    m: Msg<'a>,
    /// Which value fields occur, bit `n` for field number `n`.
    present: u8,
    /// Which value fields occur more than once (and must be merged).
    repeated: u8,
    /// The last occurrence of each value field, by field number.
    last: [&'a [u8]; 8],
    timestamp_ms: Option<i64>,
}

impl<'a> MetricView<'a> {
    fn has(&self, tag: u32) -> bool {
        self.present & (1 << tag) != 0
    }

    /// The value message `tag`: its one occurrence, or all of them merged.
    fn sub(&self, tag: u32) -> Msg<'a> {
        if self.repeated & (1 << tag) == 0 { Msg::root(self.last[tag as usize]) } else { self.m.child(tag) }
    }

    /// The label pairs in written order (names may repeat; the owned model keeps the last).
    pub fn labels(&self) -> LabelPairs<'a> {
        self.m.pairs(1)
    }

    /// The metric's timestamp in milliseconds, if it has one.
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }

    /// The gauge value, when the metric has a gauge.
    pub fn gauge(&self) -> Option<f64> {
        self.has(2).then(|| self.sub(2).f64(1))
    }

    /// The untyped value, when the metric has one.
    pub fn untyped(&self) -> Option<f64> {
        self.has(5).then(|| self.sub(5).f64(1))
    }

    /// The counter, when the metric has one.
    pub fn counter(&self) -> Option<CounterView<'a>> {
        self.has(3).then(|| CounterView { m: self.sub(3) })
    }

    /// The summary, when the metric has one.
    pub fn summary(&self) -> Option<SummaryView<'a>> {
        self.has(4).then(|| SummaryView { m: self.sub(4) })
    }

    /// The histogram, when the metric has one.
    pub fn histogram(&self) -> Option<HistogramView<'a>> {
        self.has(7).then(|| HistogramView { m: self.sub(7) })
    }

    /// The owned message this view reads.
    pub fn to_proto(&self) -> proto::Metric {
        proto::Metric {
            label: self.labels().map(pair).collect(),
            gauge: self.gauge().map(|value| proto::Gauge { value }),
            counter: self.counter().map(|c| {
                Box::new(proto::Counter {
                    value: c.value(),
                    exemplar: c.exemplar().map(|e| e.to_proto()),
                    created_timestamp: c.created(),
                })
            }),
            summary: self.summary().map(|s| {
                Box::new(proto::Summary {
                    sample_count: s.sample_count(),
                    sample_sum: s.sample_sum(),
                    quantile: s.quantiles().map(|(quantile, value)| proto::Quantile { quantile, value }).collect(),
                    created_timestamp: s.created(),
                })
            }),
            untyped: self.untyped().map(|value| proto::Untyped { value }),
            histogram: self.histogram().map(|h| Box::new(h.to_proto())),
            timestamp_ms: self.timestamp_ms,
        }
    }
}

fn pair((name, value): (&str, &str)) -> proto::LabelPair {
    proto::LabelPair { name: name.into(), value: value.into() }
}

/// A metric's counter, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct CounterView<'a> {
    m: Msg<'a>,
}

/// Reads the `Timestamp` message `b` into `t` (merging, as protobuf does).
fn merge_timestamp(t: &mut Option<proto::Timestamp>, b: &[u8]) {
    let t = t.get_or_insert_default();
    for (f, w) in Fields::new(b) {
        match (f, w) {
            (1, Wire::Varint(v)) => t.seconds = v as i64,
            (2, Wire::Varint(v)) => t.nanos = v as i32,
            _ => {}
        }
    }
}

/// The value, exemplar presence and created timestamp of a counter, read in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CounterScalars {
    /// The value.
    pub value: f64,
    /// Whether the counter has an exemplar ([`CounterView::exemplar`] reads it).
    pub has_exemplar: bool,
    /// The created timestamp, if any.
    pub created: Option<proto::Timestamp>,
}

impl<'a> CounterView<'a> {
    /// Value, exemplar presence and created timestamp, in one pass.
    pub fn scalars(&self) -> CounterScalars {
        let mut s = CounterScalars::default();
        for (t, w) in self.m.fields() {
            match (t, w) {
                (1, Wire::I64(v)) => s.value = f64::from_bits(v),
                (2, Wire::Len(_)) => s.has_exemplar = true,
                (3, Wire::Len(b)) => merge_timestamp(&mut s.created, b),
                _ => {}
            }
        }
        s
    }

    /// The value.
    pub fn value(&self) -> f64 {
        self.m.f64(1)
    }

    /// The exemplar, if any.
    pub fn exemplar(&self) -> Option<ExemplarView<'a>> {
        self.m.exemplar(2)
    }

    /// The created timestamp, if any.
    pub fn created(&self) -> Option<proto::Timestamp> {
        self.m.timestamp(3)
    }
}

/// A metric's summary, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct SummaryView<'a> {
    m: Msg<'a>,
}

/// The count, sum and created timestamp of a summary, read in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SummaryScalars {
    /// `sample_count`.
    pub sample_count: u64,
    /// `sample_sum`.
    pub sample_sum: f64,
    /// The created timestamp, if any.
    pub created: Option<proto::Timestamp>,
}

impl<'a> SummaryView<'a> {
    /// Count, sum and created timestamp, in one pass.
    pub fn scalars(&self) -> SummaryScalars {
        let mut s = SummaryScalars::default();
        for (t, w) in self.m.fields() {
            match (t, w) {
                (1, Wire::Varint(v)) => s.sample_count = v,
                (2, Wire::I64(v)) => s.sample_sum = f64::from_bits(v),
                (4, Wire::Len(b)) => merge_timestamp(&mut s.created, b),
                _ => {}
            }
        }
        s
    }

    /// The observation count.
    pub fn sample_count(&self) -> u64 {
        self.m.last_varint(1).unwrap_or(0)
    }

    /// The sum of observations.
    pub fn sample_sum(&self) -> f64 {
        self.m.f64(2)
    }

    /// The `(quantile, value)` pairs in order.
    pub fn quantiles(&self) -> impl Iterator<Item = (f64, f64)> + use<'a> {
        self.m.repeated(3).map(|q| (q.f64(1), q.f64(2)))
    }

    /// The created timestamp, if any.
    pub fn created(&self) -> Option<proto::Timestamp> {
        self.m.timestamp(4)
    }
}

/// A metric's histogram, borrowed: its classic part directly, the rest through
/// [`HistogramView::to_proto`].
#[derive(Debug, Clone, Copy)]
pub struct HistogramView<'a> {
    m: Msg<'a>,
}

/// One classic bucket of a [`HistogramView`].
#[derive(Debug, Clone, Copy)]
pub struct BucketView<'a> {
    /// The cumulative count as an integer.
    pub cumulative_count: u64,
    /// The cumulative count as a float (used when positive).
    pub cumulative_count_float: f64,
    /// The upper bound.
    pub upper_bound: f64,
    /// Whether the bucket has an exemplar ([`BucketView::exemplar`] reads it).
    pub has_exemplar: bool,
    m: Msg<'a>,
}

impl<'a> BucketView<'a> {
    /// The cumulative count, as [`proto::Bucket::count`] gives it.
    pub fn count(&self) -> f64 {
        if self.cumulative_count_float > 0.0 { self.cumulative_count_float } else { self.cumulative_count as f64 }
    }

    /// The bucket's exemplar, if any.
    pub fn exemplar(&self) -> Option<ExemplarView<'a>> {
        if !self.has_exemplar {
            return None;
        }
        self.m.exemplar(3)
    }
}

/// The scalar fields of a histogram, read in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HistogramScalars {
    /// `sample_count`.
    pub sample_count: u64,
    /// `sample_count_float`.
    pub sample_count_float: f64,
    /// `sample_sum`.
    pub sample_sum: f64,
    /// The created timestamp, if any.
    pub created: Option<proto::Timestamp>,
}

impl HistogramScalars {
    /// The observation count, as [`proto::Histogram::count`] gives it.
    pub fn count(&self) -> f64 {
        if self.sample_count_float > 0.0 { self.sample_count_float } else { self.sample_count as f64 }
    }
}

impl<'a> HistogramView<'a> {
    /// Count, sum and created timestamp, in one pass.
    pub fn scalars(&self) -> HistogramScalars {
        let mut s = HistogramScalars::default();
        for (t, w) in self.m.fields() {
            match (t, w) {
                (1, Wire::Varint(v)) => s.sample_count = v,
                (4, Wire::I64(v)) => s.sample_count_float = f64::from_bits(v),
                (2, Wire::I64(v)) => s.sample_sum = f64::from_bits(v),
                (15, Wire::Len(b)) => merge_timestamp(&mut s.created, b),
                _ => {}
            }
        }
        s
    }

    /// The classic buckets in order.
    pub fn buckets(&self) -> impl Iterator<Item = BucketView<'a>> + use<'a> {
        self.m.repeated(3).map(|b| {
            let mut v = BucketView {
                cumulative_count: 0,
                cumulative_count_float: 0.0,
                upper_bound: 0.0,
                has_exemplar: false,
                m: b,
            };
            for (t, w) in b.fields() {
                match (t, w) {
                    (1, Wire::Varint(x)) => v.cumulative_count = x,
                    (4, Wire::I64(x)) => v.cumulative_count_float = f64::from_bits(x),
                    (2, Wire::I64(x)) => v.upper_bound = f64::from_bits(x),
                    (3, Wire::Len(_)) => v.has_exemplar = true,
                    _ => {}
                }
            }
            v
        })
    }

    /// The created timestamp, if any.
    pub fn created(&self) -> Option<proto::Timestamp> {
        self.m.timestamp(15)
    }

    /// The owned message this view reads, native fields included.
    pub fn to_proto(&self) -> proto::Histogram {
        let s = self.scalars();
        let m = &self.m;
        let spans = |tag| {
            m.repeated(tag)
                .map(|s| proto::BucketSpan {
                    offset: zigzag32(s.last_varint(1).unwrap_or(0)),
                    length: s.last_varint(2).unwrap_or(0) as u32,
                })
                .collect()
        };
        let deltas = |tag| {
            let mut out = Vec::new();
            for (_, w) in m.fields().filter(|(t, _)| *t == tag) {
                match w {
                    Wire::Varint(v) => out.push(zigzag64(v)),
                    Wire::Len(b) => {
                        let mut pos = 0;
                        while let Ok(v) = varint(b, &mut pos) {
                            out.push(zigzag64(v));
                            if pos >= b.len() {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
            out
        };
        let counts = |tag| {
            let mut out = Vec::new();
            for (_, w) in m.fields().filter(|(t, _)| *t == tag) {
                match w {
                    Wire::I64(v) => out.push(f64::from_bits(v)),
                    Wire::Len(b) => {
                        out.extend(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))))
                    }
                    _ => {}
                }
            }
            out
        };
        proto::Histogram {
            sample_count: s.sample_count,
            sample_count_float: s.sample_count_float,
            sample_sum: s.sample_sum,
            bucket: self
                .buckets()
                .map(|b| proto::Bucket {
                    cumulative_count: b.cumulative_count,
                    cumulative_count_float: b.cumulative_count_float,
                    upper_bound: b.upper_bound,
                    exemplar: b.exemplar().map(|e| e.to_proto()),
                })
                .collect(),
            created_timestamp: self.created(),
            schema: zigzag32(m.last_varint(5).unwrap_or(0)),
            zero_threshold: m.f64(6),
            zero_count: m.last_varint(7).unwrap_or(0),
            zero_count_float: m.f64(8),
            negative_span: spans(9),
            negative_delta: deltas(10),
            negative_count: counts(11),
            positive_span: spans(12),
            positive_delta: deltas(13),
            positive_count: counts(14),
            exemplars: m.repeated(16).map(|e| ExemplarView { m: e }.to_proto()).collect(),
        }
    }
}

fn zigzag32(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ (-((v & 1) as i32))
}

fn zigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ (-((v & 1) as i64))
}

/// An exemplar, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct ExemplarView<'a> {
    m: Msg<'a>,
}

impl<'a> ExemplarView<'a> {
    /// The exemplar's label pairs in written order.
    pub fn labels(&self) -> LabelPairs<'a> {
        self.m.pairs(1)
    }

    /// The value.
    pub fn value(&self) -> f64 {
        self.m.f64(2)
    }

    /// The timestamp, if any.
    pub fn timestamp(&self) -> Option<proto::Timestamp> {
        self.m.timestamp(3)
    }

    /// The owned message this view reads.
    pub fn to_proto(&self) -> proto::Exemplar {
        proto::Exemplar { label: self.labels().map(pair).collect(), value: self.value(), timestamp: self.timestamp() }
    }
}

// ---- Checking a message before handing out views. ----

/// What a known field's wire value must be.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Varint,
    F64,
    /// A message checked by the function, with the budget of its own fields.
    Msg(fn(&[u8], usize, u32) -> Result<(), Bad>),
    /// A `LabelPair`, checked and handed on as [`Wire::Pair`].
    Pair,
    /// A message checked later.
    Bytes,
    PackedVarint,
    PackedF64,
}

/// A problem and the absolute offset of the field it is in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bad {
    pub(crate) at: usize,
    pub(crate) problem: Malformed,
}

/// Checks the message `b` (at absolute offset `base`, fields with budget `ctx`) whose
/// field `tag` has kind `schema(tag)`, calling `seen` with every known field's value.
fn check<'a>(
    b: &'a [u8],
    base: usize,
    ctx: u32,
    message: &'static str,
    schema: impl Fn(u32) -> Option<(&'static str, Kind)>,
    mut seen: impl FnMut(u32, Wire<'a>),
) -> Result<(), Bad> {
    let mut pos = 0;
    while pos < b.len() {
        let at = base + pos;
        let bad = |problem| Bad { at, problem };
        let (tag, w) = read_field(b, &mut pos, ctx).map_err(bad)?;
        let Some((field, kind)) = schema(tag) else {
            if matches!(w, Wire::EndGroup) {
                return Err(bad(Malformed::EndGroup));
            }
            continue;
        };
        let wrong = || bad(Malformed::WireType { message, field });
        match (kind, w) {
            (Kind::Str, Wire::Len(s)) => {
                if std::str::from_utf8(s).is_err() {
                    return Err(bad(Malformed::Utf8 { message, field }));
                }
            }
            (Kind::Varint | Kind::PackedVarint, Wire::Varint(_)) | (Kind::F64 | Kind::PackedF64, Wire::I64(_)) => {}
            (Kind::Msg(f), Wire::Len(s)) => f(s, base + pos - s.len(), ctx - 1)?,
            (Kind::Bytes, Wire::Len(_)) => {}
            (Kind::Pair, Wire::Len(s)) => {
                let (n, v) = check_pair(s, base + pos - s.len(), ctx - 1)?;
                seen(tag, Wire::Pair(n, v));
                continue;
            }
            (Kind::PackedVarint, Wire::Len(s)) => {
                let mut p = 0;
                while p < s.len() {
                    varint(s, &mut p).map_err(|_| bad(Malformed::Packed { message, field }))?;
                }
            }
            (Kind::PackedF64, Wire::Len(s)) => {
                if s.len() % 8 != 0 {
                    return Err(bad(Malformed::Packed { message, field }));
                }
            }
            _ => return Err(wrong()),
        }
        seen(tag, w);
    }
    Ok(())
}

fn no_seen(_: u32, _: Wire<'_>) {}

fn check_label_pair(b: &[u8], base: usize, ctx: u32) -> Result<(), Bad> {
    check(
        b,
        base,
        ctx,
        "LabelPair",
        |t| match t {
            1 => Some(("name", Kind::Str)),
            2 => Some(("value", Kind::Str)),
            _ => None,
        },
        no_seen,
    )
}

fn check_timestamp(b: &[u8], base: usize, ctx: u32) -> Result<(), Bad> {
    check(
        b,
        base,
        ctx,
        "Timestamp",
        |t| match t {
            1 => Some(("seconds", Kind::Varint)),
            2 => Some(("nanos", Kind::Varint)),
            _ => None,
        },
        no_seen,
    )
}

fn check_exemplar(b: &[u8], base: usize, ctx: u32) -> Result<(), Bad> {
    check(
        b,
        base,
        ctx,
        "Exemplar",
        |t| match t {
            1 => Some(("label", Kind::Msg(check_label_pair))),
            2 => Some(("value", Kind::F64)),
            3 => Some(("timestamp", Kind::Msg(check_timestamp))),
            _ => None,
        },
        no_seen,
    )
}

fn check_value(b: &[u8], base: usize, ctx: u32) -> Result<(), Bad> {
    check(b, base, ctx, "Gauge", |t| (t == 1).then_some(("value", Kind::F64)), no_seen)
}

fn check_counter(b: &[u8], base: usize, ctx: u32) -> Result<(), Bad> {
    check(
        b,
        base,
        ctx,
        "Counter",
        |t| match t {
            1 => Some(("value", Kind::F64)),
            2 => Some(("exemplar", Kind::Msg(check_exemplar))),
            3 => Some(("created_timestamp", Kind::Msg(check_timestamp))),
            _ => None,
        },
        no_seen,
    )
}

fn check_quantile(b: &[u8], base: usize, ctx: u32) -> Result<(), Bad> {
    check(
        b,
        base,
        ctx,
        "Quantile",
        |t| match t {
            1 => Some(("quantile", Kind::F64)),
            2 => Some(("value", Kind::F64)),
            _ => None,
        },
        no_seen,
    )
}

fn check_summary(b: &[u8], base: usize, ctx: u32) -> Result<(), Bad> {
    check(
        b,
        base,
        ctx,
        "Summary",
        |t| match t {
            1 => Some(("sample_count", Kind::Varint)),
            2 => Some(("sample_sum", Kind::F64)),
            3 => Some(("quantile", Kind::Msg(check_quantile))),
            4 => Some(("created_timestamp", Kind::Msg(check_timestamp))),
            _ => None,
        },
        no_seen,
    )
}

fn check_bucket(b: &[u8], base: usize, ctx: u32) -> Result<(), Bad> {
    check(
        b,
        base,
        ctx,
        "Bucket",
        |t| match t {
            1 => Some(("cumulative_count", Kind::Varint)),
            4 => Some(("cumulative_count_float", Kind::F64)),
            2 => Some(("upper_bound", Kind::F64)),
            3 => Some(("exemplar", Kind::Msg(check_exemplar))),
            _ => None,
        },
        no_seen,
    )
}

fn check_span(b: &[u8], base: usize, ctx: u32) -> Result<(), Bad> {
    check(
        b,
        base,
        ctx,
        "BucketSpan",
        |t| match t {
            1 => Some(("offset", Kind::Varint)),
            2 => Some(("length", Kind::Varint)),
            _ => None,
        },
        no_seen,
    )
}

fn check_histogram(b: &[u8], base: usize, ctx: u32) -> Result<(), Bad> {
    check(
        b,
        base,
        ctx,
        "Histogram",
        |t| match t {
            1 => Some(("sample_count", Kind::Varint)),
            4 => Some(("sample_count_float", Kind::F64)),
            2 => Some(("sample_sum", Kind::F64)),
            3 => Some(("bucket", Kind::Msg(check_bucket))),
            15 => Some(("created_timestamp", Kind::Msg(check_timestamp))),
            5 => Some(("schema", Kind::Varint)),
            6 => Some(("zero_threshold", Kind::F64)),
            7 => Some(("zero_count", Kind::Varint)),
            8 => Some(("zero_count_float", Kind::F64)),
            9 => Some(("negative_span", Kind::Msg(check_span))),
            10 => Some(("negative_delta", Kind::PackedVarint)),
            11 => Some(("negative_count", Kind::PackedF64)),
            12 => Some(("positive_span", Kind::Msg(check_span))),
            13 => Some(("positive_delta", Kind::PackedVarint)),
            14 => Some(("positive_count", Kind::PackedF64)),
            16 => Some(("exemplars", Kind::Msg(check_exemplar))),
            _ => None,
        },
        no_seen,
    )
}

/// Checks a `LabelPair` and returns it (the last name and value win, as in protobuf).
fn check_pair(b: &[u8], base: usize, ctx: u32) -> Result<(&str, &str), Bad> {
    let (mut name, mut value) = ("", "");
    let mut pos = 0;
    while pos < b.len() {
        let at = base + pos;
        let bad = |problem| Bad { at, problem };
        let (tag, w) = read_field(b, &mut pos, ctx).map_err(bad)?;
        match (tag, w) {
            (1 | 2, Wire::Len(s)) => {
                let field = if tag == 1 { "name" } else { "value" };
                let s = std::str::from_utf8(s).map_err(|_| bad(Malformed::Utf8 { message: "LabelPair", field }))?;
                if tag == 1 { name = s } else { value = s }
            }
            (1, _) => return Err(bad(Malformed::WireType { message: "LabelPair", field: "name" })),
            (2, _) => return Err(bad(Malformed::WireType { message: "LabelPair", field: "value" })),
            (_, Wire::EndGroup) => return Err(bad(Malformed::EndGroup)),
            _ => {}
        }
    }
    Ok((name, value))
}

/// Checks one `Metric` message and returns its view, its label pairs pushed to `labels`.
fn check_metric_view<'a>(
    b: &'a [u8],
    base: usize,
    ctx: u32,
    mut labels: Option<&mut Vec<(&'a str, &'a str)>>,
) -> Result<MetricView<'a>, Bad> {
    let (mut present, mut repeated, mut timestamp_ms) = (0u8, 0u8, None);
    let mut last: [&'a [u8]; 8] = [&[]; 8];
    check(
        b,
        base,
        ctx,
        "Metric",
        |t| match t {
            1 => Some(("label", Kind::Pair)),
            2 => Some(("gauge", Kind::Msg(check_value))),
            3 => Some(("counter", Kind::Msg(check_counter))),
            4 => Some(("summary", Kind::Msg(check_summary))),
            5 => Some(("untyped", Kind::Msg(check_value))),
            7 => Some(("histogram", Kind::Msg(check_histogram))),
            6 => Some(("timestamp_ms", Kind::Varint)),
            _ => None,
        },
        |t, w| match (t, w) {
            (_, Wire::Pair(n, v)) => {
                if let Some(l) = labels.as_deref_mut() {
                    l.push((n, v));
                }
            }
            (2..=5 | 7, Wire::Len(v)) => {
                repeated |= present & (1 << t);
                present |= 1 << t;
                last[t as usize] = v;
            }
            (6, Wire::Varint(v)) => timestamp_ms = Some(v as i64),
            _ => {}
        },
    )?;
    Ok(MetricView { m: Msg::root(b), present, repeated, last, timestamp_ms })
}

/// Checks one `MetricFamily` message at absolute offset `base` and returns its view.
/// Its metrics are checked later, one by one, by [`Metrics`].
pub(crate) fn check_family(b: &[u8], base: usize, offset: usize) -> Result<FamilyView<'_>, Bad> {
    let mut v = FamilyView { name: "", help: "", unit: "", metric_type: 0, body: b, base, offset };
    check(
        b,
        base,
        RECURSION_LIMIT,
        "MetricFamily",
        |t| match t {
            1 => Some(("name", Kind::Str)),
            2 => Some(("help", Kind::Str)),
            3 => Some(("type", Kind::Varint)),
            4 => Some(("metric", Kind::Bytes)),
            5 => Some(("unit", Kind::Str)),
            _ => None,
        },
        |t, w| match (t, w) {
            (1 | 2 | 5, Wire::Len(s)) => {
                let s = std::str::from_utf8(s).unwrap_or("");
                match t {
                    1 => v.name = s,
                    2 => v.help = s,
                    _ => v.unit = s,
                }
            }
            (3, Wire::Varint(x)) => v.metric_type = x as i32,
            _ => {}
        },
    )?;
    Ok(v)
}

/// An iterator over the families of a delimited stream as views; see
/// [`Decoder::views`](super::Decoder::views).
#[derive(Debug, Clone)]
pub struct FamilyViews<'a> {
    pub(crate) input: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) max_message_len: usize,
    pub(crate) failed: bool,
}

impl<'a> FamilyViews<'a> {
    /// Byte offset of the next message's length prefix.
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn next_message(&mut self) -> Result<FamilyView<'a>, ProtobufError> {
        let start = self.pos;
        let err = |kind| ProtobufError { offset: start, kind };
        let (body, end) = super::delimited(self.input, start, self.max_message_len).map_err(err)?;
        let body_start = end - body.len();
        let v = check_family(body, body_start, start)
            .map_err(|b| err(ProtobufErrorKind::Malformed { at: b.at, problem: b.problem }))?;
        self.pos = end;
        Ok(v)
    }
}

impl<'a> Iterator for FamilyViews<'a> {
    type Item = Result<FamilyView<'a>, ProtobufError>;

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
mod tests {
    use super::super::{Decoder, ProtobufErrorKind, decode, encode, proto::*};
    use super::Malformed;

    /// The views accept exactly what `decode` accepts and read the same families
    /// (compared by their encodings, so NaNs count).
    #[track_caller]
    fn same_as_decode(input: &[u8]) {
        let owned = decode(input);
        let views: Result<Vec<MetricFamily>, _> =
            Decoder::new().views(input).map(|v| v.and_then(|v| v.to_proto())).collect();
        match (owned, views) {
            (Ok(a), Ok(b)) => {
                let (mut ea, mut eb) = (Vec::new(), Vec::new());
                encode(&a, &mut ea);
                encode(&b, &mut eb);
                assert_eq!(ea, eb, "input {input:02x?}");
            }
            (Err(a), Err(b)) => assert_eq!(a.offset, b.offset, "input {input:02x?}: {a} / {b}"),
            (a, b) => panic!("input {input:02x?}: decode {a:?}, views {b:?}"),
        }
    }

    fn sample() -> Vec<u8> {
        let ts = Timestamp { seconds: 1_700_000_000, nanos: 5 };
        let ex = Exemplar {
            label: vec![LabelPair { name: "trace_id".into(), value: "abc".into() }],
            value: 0.5,
            timestamp: Some(ts),
        };
        let lp = |n: &str, v: &str| LabelPair { name: n.into(), value: v.into() };
        let fams = vec![
            MetricFamily {
                name: "c_total".into(),
                help: "C.".into(),
                r#type: MetricType::Counter as i32,
                metric: vec![Metric {
                    label: vec![lp("b", "2"), lp("a", "1")],
                    counter: Some(Box::new(Counter {
                        value: 3.0,
                        exemplar: Some(ex.clone()),
                        created_timestamp: Some(ts),
                    })),
                    timestamp_ms: Some(-5),
                    ..Default::default()
                }],
                unit: "u".into(),
            },
            MetricFamily {
                name: "s".into(),
                r#type: MetricType::Summary as i32,
                metric: vec![Metric {
                    summary: Some(Box::new(Summary {
                        sample_count: 4,
                        sample_sum: 1.5,
                        quantile: vec![Quantile { quantile: 0.5, value: 1.0 }, Quantile { quantile: 0.9, value: 2.0 }],
                        created_timestamp: None,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            },
            MetricFamily {
                name: "h".into(),
                r#type: MetricType::Histogram as i32,
                metric: vec![Metric {
                    label: vec![lp("x", "y")],
                    histogram: Some(Box::new(Histogram {
                        sample_count: 3,
                        sample_sum: 2.0,
                        bucket: vec![Bucket {
                            cumulative_count: 1,
                            upper_bound: 0.1,
                            exemplar: Some(ex.clone()),
                            ..Default::default()
                        }],
                        schema: -1,
                        positive_span: vec![BucketSpan { offset: -2, length: 2 }],
                        positive_delta: vec![1, -1],
                        negative_count: vec![0.5],
                        zero_threshold: 1e-9,
                        exemplars: vec![ex],
                        created_timestamp: Some(ts),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            },
            MetricFamily {
                name: "g".into(),
                r#type: MetricType::Gauge as i32,
                metric: vec![Metric { gauge: Some(Gauge { value: 7.0 }), ..Default::default() }],
                ..Default::default()
            },
        ];
        let mut buf = Vec::new();
        encode(&fams, &mut buf);
        buf
    }

    #[test]
    fn views_read_what_decode_reads() {
        let buf = sample();
        same_as_decode(&buf);
        same_as_decode(&[]);
        // Every truncation, and every single-byte change to a few telling values.
        for n in 0..buf.len() {
            same_as_decode(&buf[..n]);
            for v in [0x00, 0x01, 0x02, 0x03, 0x04, 0x07, 0x0b, 0x0c, 0x7f, 0x80, 0xff] {
                let mut t = buf.clone();
                t[n] = v;
                same_as_decode(&t);
            }
        }
    }

    #[test]
    fn merged_fields_unknown_fields_and_groups() {
        // A metric whose gauge occurs twice (merged, the later value wins), with an unknown
        // varint field (9) and an unknown group (10, holding a varint) in between.
        let g1 = [0x12, 0x09, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f];
        let g2 = [0x12, 0x09, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x40];
        let m = [&g1[..], &[0x48, 0x05, 0x53, 0x08, 0x01, 0x54], &g2].concat();
        let body = [&[0x0a, 0x01, b'g', 0x18, 0x01, 0x22, m.len() as u8][..], &m].concat();
        let input = [&[body.len() as u8][..], &body].concat();
        same_as_decode(&input);
        let v = Decoder::new().views(&input).next().unwrap().unwrap();
        assert_eq!(v.metrics().next().unwrap().unwrap().gauge(), Some(2.0));
        // Groups nested past the recursion budget are refused by both.
        let deep = |n: usize| {
            let mut b = vec![0x53; n];
            b.extend([0x08, 0x01]);
            b.extend(std::iter::repeat_n(0x54, n));
            [&[b.len() as u8][..], &b].concat()
        };
        for n in [1, 50, 98, 99, 100, 101] {
            if 2 * n + 2 < 128 {
                same_as_decode(&deep(n));
            }
        }
        let mut b = vec![0x53u8; 100];
        b.extend([0x08, 0x01]);
        b.extend(std::iter::repeat_n(0x54, 100));
        let mut input = Vec::new();
        crate::protobuf::encode_varint_for_tests(b.len() as u64, &mut input);
        input.extend(&b);
        same_as_decode(&input);
        let err = Decoder::new().views(&input).next().unwrap().unwrap_err();
        assert!(matches!(err.kind, ProtobufErrorKind::Malformed { problem: Malformed::RecursionLimit, .. }), "{err}");
    }

    #[test]
    fn errors_say_what_and_where() {
        // MetricFamily { metric { label { name: <invalid UTF-8> } } }, at byte 7 of the input.
        let body = [0x0a, 0x01, b'a', 0x22, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xff];
        let input = [&[body.len() as u8][..], &body].concat();
        same_as_decode(&input);
        let family = Decoder::new().views(&input).next().unwrap().unwrap();
        assert_eq!(family.name(), "a");
        let err = family.metrics().next().unwrap().unwrap_err();
        assert_eq!(err.offset, 0);
        assert_eq!(
            err.kind,
            ProtobufErrorKind::Malformed { at: 8, problem: Malformed::Utf8 { message: "LabelPair", field: "name" } }
        );
        assert_eq!(
            err.to_string(),
            "protobuf exposition, message at byte 0: invalid MetricFamily: LabelPair.name is not UTF-8 at byte 8"
        );
    }
}
