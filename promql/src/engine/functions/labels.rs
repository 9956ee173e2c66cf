//! Label kernels: `label_replace`, `label_join`, the labels of `absent`/`absent_over_time`,
//! and the natural ordering of `sort_by_label`.
//!
//! They work on one label set at a time; the evaluator maps them over a vector and then
//! rejects duplicate label sets ("vector cannot contain metrics with the same labelset"),
//! keeps or drops the metric name (a `dst` of `__name__` keeps it), and attaches positions.
//! Argument checks that fail the whole query even when no series is selected are available
//! up front as [`LabelReplace::new`] and [`LabelJoin::new`].
//!
//! ```
//! use ember_exposition::labels;
//! use ember_promql::engine::functions::labels::{natural_cmp, LabelReplace};
//!
//! // The regex must match the whole source value; `$1` takes the first group.
//! let lr = LabelReplace::new("dst", "value-$1", "src", "source-value-(.*)").unwrap();
//! let out = lr.apply(&labels! {"src" => "source-value-10"});
//! assert_eq!(out.get("dst"), Some("value-10"));
//! assert_eq!(lr.apply(&labels! {"src" => "other-value-10"}).get("dst"), None);
//!
//! // sort_by_label compares digit runs as numbers: cpu 2 < cpu 10, 1.2.3 < 1.11.3.
//! assert!(natural_cmp("cpu2", "cpu10").is_lt());
//! assert!(natural_cmp("1.2.3", "1.11.3").is_lt());
//! ```

use std::cmp::Ordering;
use std::fmt;

use ember_exposition::{Labels, LabelsBuilder, METRIC_NAME_LABEL, MatchType, Matcher, ValidationScheme};
use regex::Regex;

/// A label function's argument that fails the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFnError {
    /// The function: `label_replace` or `label_join`.
    pub function: &'static str,
    /// What is wrong.
    pub kind: LabelFnErrorKind,
}

/// What is wrong with a label function's argument.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LabelFnErrorKind {
    /// The regular expression does not compile.
    InvalidRegex {
        /// The expression as written.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// The destination label name is not valid.
    InvalidDestinationLabel(String),
    /// A source label name is not valid.
    InvalidSourceLabel(String),
}

impl fmt::Display for LabelFnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Prometheus's wording.
        let func = self.function;
        match &self.kind {
            LabelFnErrorKind::InvalidRegex { pattern, .. } => {
                write!(f, "invalid regular expression in {func}(): {pattern}")
            }
            LabelFnErrorKind::InvalidDestinationLabel(name) => {
                write!(f, "invalid destination label name in {func}(): {name}")
            }
            LabelFnErrorKind::InvalidSourceLabel(name) => write!(f, "invalid source label name in {func}(): {name}"),
        }
    }
}

impl std::error::Error for LabelFnError {}

/// Label names as Prometheus 3 accepts them (any non-empty UTF-8).
fn check_name(function: &'static str, name: &str, kind: fn(String) -> LabelFnErrorKind) -> Result<(), LabelFnError> {
    if ValidationScheme::Utf8.is_valid_label_name(name) {
        Ok(())
    } else {
        Err(LabelFnError { function, kind: kind(name.to_owned()) })
    }
}

/// Compiles `pattern` anchored at both ends as Prometheus anchors it, `^(?s:pattern)$`, for
/// [`label_replace`].
pub fn compile_anchored(pattern: &str) -> Result<Regex, LabelFnError> {
    Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| LabelFnError {
        function: "label_replace",
        kind: LabelFnErrorKind::InvalidRegex { pattern: pattern.to_owned(), message: e.to_string() },
    })
}

/// `label_replace(v, dst, replacement, src, regex)` on one label set: when `regex` matches
/// the whole value of `src` (empty when missing), `dst` is set to `replacement` with `$1`,
/// `${1}`, `$name`, `${name}` expanded (`$$` is a literal `$`; an unknown group expands to
/// nothing); an empty result deletes `dst`. Without a match the labels are returned
/// unchanged. `regex` must be anchored ([`compile_anchored`]). An empty `dst` is an error.
pub fn label_replace(
    labels: &Labels,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &Regex,
) -> Result<Labels, LabelFnError> {
    check_name("label_replace", dst, LabelFnErrorKind::InvalidDestinationLabel)?;
    Ok(replace(labels, dst, replacement, src, regex))
}

fn replace(labels: &Labels, dst: &str, replacement: &str, src: &str, regex: &Regex) -> Labels {
    let Some(caps) = regex.captures(labels.get_or_empty(src)) else { return labels.clone() };
    let mut value = String::new();
    caps.expand(replacement, &mut value);
    if labels.get_or_empty(dst) == value {
        return labels.clone();
    }
    let mut b = LabelsBuilder::from_labels(labels);
    b.set(dst, value);
    b.into_labels()
}

/// A `label_replace` call with its arguments checked and its regex compiled once.
#[derive(Debug, Clone)]
pub struct LabelReplace {
    dst: String,
    replacement: String,
    src: String,
    regex: Regex,
}

impl LabelReplace {
    /// Checks `dst` and compiles `pattern` (anchored); Prometheus fails the query on either
    /// error before looking at any series.
    pub fn new(dst: &str, replacement: &str, src: &str, pattern: &str) -> Result<Self, LabelFnError> {
        let regex = compile_anchored(pattern)?;
        check_name("label_replace", dst, LabelFnErrorKind::InvalidDestinationLabel)?;
        Ok(LabelReplace { dst: dst.to_owned(), replacement: replacement.to_owned(), src: src.to_owned(), regex })
    }

    /// The destination label.
    pub fn dst(&self) -> &str {
        &self.dst
    }

    /// Applies the replacement to one label set.
    pub fn apply(&self, labels: &Labels) -> Labels {
        replace(labels, &self.dst, &self.replacement, &self.src, &self.regex)
    }
}

/// `label_join(v, dst, separator, src...)` on one label set: `dst` becomes the values of
/// `srcs` (empty when missing) joined by `separator`; an empty result deletes `dst`. Empty
/// label names are errors.
pub fn label_join(labels: &Labels, dst: &str, separator: &str, srcs: &[&str]) -> Result<Labels, LabelFnError> {
    for src in srcs {
        check_name("label_join", src, LabelFnErrorKind::InvalidSourceLabel)?;
    }
    check_name("label_join", dst, LabelFnErrorKind::InvalidDestinationLabel)?;
    Ok(join(labels, dst, separator, srcs.iter().copied()))
}

fn join<'a>(labels: &Labels, dst: &str, separator: &str, srcs: impl Iterator<Item = &'a str>) -> Labels {
    let mut value = String::new();
    for (i, src) in srcs.enumerate() {
        if i > 0 {
            value.push_str(separator);
        }
        value.push_str(labels.get_or_empty(src));
    }
    if labels.get_or_empty(dst) == value {
        return labels.clone();
    }
    let mut b = LabelsBuilder::from_labels(labels);
    b.set(dst, value);
    b.into_labels()
}

/// A `label_join` call with its label names checked once.
#[derive(Debug, Clone)]
pub struct LabelJoin {
    dst: String,
    separator: String,
    srcs: Vec<String>,
}

impl LabelJoin {
    /// Checks the source and destination names (sources first, as Prometheus does).
    pub fn new(dst: &str, separator: &str, srcs: &[&str]) -> Result<Self, LabelFnError> {
        for src in srcs {
            check_name("label_join", src, LabelFnErrorKind::InvalidSourceLabel)?;
        }
        check_name("label_join", dst, LabelFnErrorKind::InvalidDestinationLabel)?;
        Ok(LabelJoin {
            dst: dst.to_owned(),
            separator: separator.to_owned(),
            srcs: srcs.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// The destination label.
    pub fn dst(&self) -> &str {
        &self.dst
    }

    /// Applies the join to one label set.
    pub fn apply(&self, labels: &Labels) -> Labels {
        join(labels, &self.dst, &self.separator, self.srcs.iter().map(String::as_str))
    }
}

/// The labels `absent(sel)` and `absent_over_time(sel[r])` give their output sample: the
/// selector's equality matchers other than `__name__`, in order, where a label that has
/// already been set, or that any other matcher names, is dropped (so `{job="a", job="b"}`
/// and `{job="a", job=~"b"}` give no `job`, while a non-equality matcher *before* the first
/// equality one does not remove it). An empty equality value sets nothing. For any other
/// argument expression the evaluator uses the empty set.
pub fn absent_labels(matchers: &[Matcher]) -> Labels {
    let mut b = LabelsBuilder::new();
    let mut set: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name() == METRIC_NAME_LABEL {
            continue;
        }
        if m.kind() == MatchType::Equal && !set.contains(&m.name()) {
            b.set(m.name(), m.value());
            set.push(m.name());
        } else {
            b.del(m.name());
        }
    }
    b.into_labels()
}

/// The "natural" order `sort_by_label` and `sort_by_label_desc` compare label values by:
/// both strings are cut into runs of ASCII digits and runs of other bytes; runs are
/// compared pairwise, two digit runs by numeric value (leading zeros ignored, any length),
/// anything else bytewise; a string that runs out of runs first is smaller.
///
/// This is Prometheus's order (the `natsort` package) wherever that one is consistent.
/// Where it is not — runs that tie numerically (`"01"` vs `"1"`), which Prometheus calls
/// "less" both ways, and the empty string, which it calls "greater" both ways — this
/// function stays a total order (so sorting is well defined): numeric ties fall back to
/// bytewise comparison and the empty string sorts first. Digit runs longer than 19 digits
/// are compared numerically here, bytewise in Prometheus.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut ra, mut rb) = (Runs(a.as_bytes()), Runs(b.as_bytes()));
    loop {
        match (ra.next(), rb.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = if x[0].is_ascii_digit() && y[0].is_ascii_digit() { cmp_digits(x, y) } else { x.cmp(y) };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Compares two runs of ASCII digits by value.
fn cmp_digits(x: &[u8], y: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let (x, y) = (&x[strip(x)..], &y[strip(y)..]);
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

/// Maximal runs of ASCII digits and of other bytes. Digits are ASCII, so a cut never falls
/// inside a UTF-8 sequence.
struct Runs<'a>(&'a [u8]);

impl<'a> Iterator for Runs<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let first = *self.0.first()?;
        let digit = first.is_ascii_digit();
        let len = self.0.iter().position(|c| c.is_ascii_digit() != digit).unwrap_or(self.0.len());
        let (run, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(run)
    }
}

#[cfg(test)]
mod tests {
    use ember_exposition::labels;
    use proptest::prelude::*;

    use super::*;

    #[track_caller]
    fn check_replace(input: &Labels, args: (&str, &str, &str, &str), want: &Labels) {
        let (dst, repl, src, re) = args;
        let got = label_replace(input, dst, repl, src, &compile_anchored(re).unwrap()).unwrap();
        assert_eq!(&got, want, "label_replace({input}, {dst:?}, {repl:?}, {src:?}, {re:?})");
        assert_eq!(&LabelReplace::new(dst, repl, src, re).unwrap().apply(input), want);
    }

    #[test]
    fn label_replace_cases() {
        // functions.test's label_replace cases.
        let m = labels! {"__name__" => "testmetric", "src" => "source-value-10", "dst" => "original-destination-value"};
        let with_dst = |v: &str| {
            let mut b = LabelsBuilder::from_labels(&m);
            b.set("dst", v);
            b.into_labels()
        };
        check_replace(
            &m,
            ("dst", "destination-value-$1", "src", "source-value-(.*)"),
            &with_dst("destination-value-10"),
        );
        check_replace(&m, ("dst", "destination-value-$1", "src", "value-(.*)"), &m);
        check_replace(&m, ("dst", "$1-value-$2", "src", "(.*)-value-(.*)"), &with_dst("source-value-10"));
        check_replace(&m, ("dst", "value-$1", "nonexistent-src", "source-value-(.*)"), &m);
        check_replace(&m, ("dst", "value-$1", "nonexistent-src", "(.*)"), &with_dst("value-"));
        check_replace(&m, ("dst", "value-$1", "src", "non-matching-regex"), &m);
        check_replace(&m, ("dst", "", "dst", ".*"), &with_dst(""));
        check_replace(
            &m,
            ("src", "", "", ""),
            &labels! {"__name__" => "testmetric", "dst" => "original-destination-value"},
        );
        // Named groups, braces, `$$`, unknown groups, and `.` matching a newline.
        check_replace(
            &labels! {"a" => "x-y"},
            ("b", "${second}_$first", "a", "(?P<first>.)-(?P<second>.)"),
            &labels! {"a" => "x-y", "b" => "y_x"},
        );
        check_replace(&labels! {"a" => "x"}, ("b", "$$1${1}z$1z", "a", "(.)"), &labels! {"a" => "x", "b" => "$1xz"});
        check_replace(
            &labels! {"a" => "l1\nl2"},
            ("b", "$1", "a", "(.*)"),
            &labels! {"a" => "l1\nl2", "b" => "l1\nl2"},
        );
        check_replace(
            &labels! {"a" => "x"},
            ("__name__", "m_$1", "a", "(.*)"),
            &labels! {"__name__" => "m_x", "a" => "x"},
        );
    }

    #[test]
    fn label_replace_errors() {
        let err = compile_anchored("(.*").unwrap_err();
        assert_eq!(err.to_string(), "invalid regular expression in label_replace(): (.*");
        assert!(matches!(err.kind, LabelFnErrorKind::InvalidRegex { .. }));
        let re = compile_anchored("(.*)").unwrap();
        let err = label_replace(&labels! {"a" => "b"}, "", "x", "a", &re).unwrap_err();
        assert_eq!(err.to_string(), "invalid destination label name in label_replace(): ");
        assert!(LabelReplace::new("", "x", "a", "(.*)").is_err());
        assert!(LabelReplace::new("d", "x", "a", "(.*").is_err());
        // UTF-8 names are valid in Prometheus 3.
        assert!(LabelReplace::new("ünïcode.name", "x", "a", "(.*)").is_ok());
    }

    #[test]
    fn label_join_cases() {
        let m = labels! {"src" => "a", "src1" => "b", "src2" => "c", "dst" => "original-destination-value"};
        let with_dst = |v: &str| {
            let mut b = LabelsBuilder::from_labels(&m);
            b.set("dst", v);
            b.into_labels()
        };
        let check = |sep: &str, srcs: &[&str], want: Labels| {
            assert_eq!(label_join(&m, "dst", sep, srcs).unwrap(), want, "{sep:?} {srcs:?}");
            assert_eq!(LabelJoin::new("dst", sep, srcs).unwrap().apply(&m), want);
        };
        check("-", &["src", "src1", "src2"], with_dst("a-b-c"));
        check("-", &["src", "src3", "src1"], with_dst("a--b"));
        check("", &["emptysrc", "emptysrc1", "emptysrc2"], with_dst(""));
        check(", ", &[], with_dst(""));
        let m1 = labels! {"src" => "foo", "src1" => "bar", "src2" => "foobar"};
        assert_eq!(
            label_join(&m1, "dst", ", ", &["src", "src1", "src2"]).unwrap().get("dst"),
            Some("foo, bar, foobar")
        );
        let err = label_join(&m, "dst", "-", &["src", ""]).unwrap_err();
        assert_eq!(err.to_string(), "invalid source label name in label_join(): ");
        let err = LabelJoin::new("", "-", &["src"]).unwrap_err();
        assert_eq!(err.to_string(), "invalid destination label name in label_join(): ");
    }

    fn eq(n: &str, v: &str) -> Matcher {
        Matcher::equal(n, v)
    }

    #[test]
    fn absent_label_sets() {
        let check = |ms: Vec<Matcher>, want: Labels| assert_eq!(absent_labels(&ms), want);
        check(vec![eq("__name__", "nonexistent")], labels! {});
        check(
            vec![
                eq("__name__", "nonexistent"),
                eq("job", "testjob"),
                eq("instance", "testinstance"),
                Matcher::regex("method", ".x").unwrap(),
            ],
            labels! {"instance" => "testinstance", "job" => "testjob"},
        );
        check(vec![eq("job", "testjob"), eq("job", "testjob2"), eq("foo", "bar")], labels! {"foo" => "bar"});
        check(vec![eq("job", "a"), eq("job", "b"), eq("job", "c"), eq("foo", "bar")], labels! {"foo" => "bar"});
        check(vec![eq("job", "a"), Matcher::regex("job", "b").unwrap(), eq("foo", "bar")], labels! {"foo" => "bar"});
        check(vec![eq("__name__", "x"), Matcher::not_equal("handler", "/foo")], labels! {});
        check(
            vec![eq("handler", "/foo"), eq("handler", "/bar"), eq("instance", "127.0.0.1")],
            labels! {"instance" => "127.0.0.1"},
        );
        // Order matters as in Prometheus: a negative matcher before the equality one is harmless.
        check(vec![Matcher::not_equal("job", "b"), eq("job", "a")], labels! {"job" => "a"});
        check(vec![eq("job", "")], labels! {});
    }

    #[test]
    fn natural_order() {
        let mut cpus = ["0", "1", "2", "3", "10", "11", "12", "20", "21", "100"].map(String::from);
        cpus.reverse();
        cpus.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(cpus, ["0", "1", "2", "3", "10", "11", "12", "20", "21", "100"]);
        let mut inst = ["4m600", "4m5", "4m1000"];
        inst.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(inst, ["4m5", "4m600", "4m1000"]);
        let mut rel = ["1.2.3", "1.11.3", "1.111.3"];
        rel.sort_by(|a, b| natural_cmp(b, a));
        assert_eq!(rel, ["1.111.3", "1.11.3", "1.2.3"]);
        // natsort's own examples.
        let mut z: Vec<String> = (1..=20).chain([100, 101, 102]).map(|i| format!("z{i}.doc")).collect();
        let want = z.clone();
        z.sort();
        z.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(z, want);
        let mut r = [
            "1000X Radonius Maximus",
            "000050X Radonius",
            "10X Radonius",
            "200X Radonius",
            "20X Radonius",
            "20X Radonius Prime",
            "Allegia 50B Clasteron",
            "Allegia 500 Clasteron",
            "Allegia 6R Clasteron",
            "Alpha 2A-8000",
            "Alpha 2A-900",
            "Alpha 2",
            "Alpha 2A",
            "Alpha 100",
        ];
        r.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            r,
            [
                "10X Radonius",
                "20X Radonius",
                "20X Radonius Prime",
                "000050X Radonius",
                "200X Radonius",
                "1000X Radonius Maximus",
                "Allegia 6R Clasteron",
                "Allegia 50B Clasteron",
                "Allegia 500 Clasteron",
                "Alpha 2",
                "Alpha 2A",
                "Alpha 2A-900",
                "Alpha 2A-8000",
                "Alpha 100"
            ]
        );
        assert_eq!(natural_cmp("a", "a"), Ordering::Equal);
        assert_eq!(natural_cmp("", "a"), Ordering::Less);
        assert_eq!(natural_cmp("a", "a1"), Ordering::Less);
        assert_eq!(natural_cmp("a.", "a1"), Ordering::Greater); // runs "a." vs "a": a prefix is smaller
        assert_eq!(natural_cmp("a~", "a1"), Ordering::Greater);
        assert_eq!(natural_cmp("01", "1"), Ordering::Less); // numeric tie, bytewise
        assert_eq!(natural_cmp("1", "01"), Ordering::Greater);
        assert_eq!(natural_cmp("99999999999999999999", "100000000000000000000"), Ordering::Less);
        assert_eq!(natural_cmp("é2", "é10"), Ordering::Less);
    }

    proptest! {
        #[test]
        fn natural_cmp_is_a_total_order(
            a in "[a0-9.é]{0,6}",
            b in "[a0-9.é]{0,6}",
            c in "[a0-9.é]{0,6}",
        ) {
            prop_assert_eq!(natural_cmp(&a, &b), natural_cmp(&b, &a).reverse());
            prop_assert_eq!(natural_cmp(&a, &b) == Ordering::Equal, a == b);
            if natural_cmp(&a, &b).is_le() && natural_cmp(&b, &c).is_le() {
                prop_assert!(natural_cmp(&a, &c).is_le());
            }
        }
    }
}
