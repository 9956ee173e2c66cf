//! [`Labels`]: the sorted, de-duplicated label set that identifies a series.

use std::fmt;
use std::sync::Arc;

use crate::names::{METRIC_NAME_LABEL, is_valid_legacy_metric_name, write_escaped_label_value, write_label_name};

/// One label: a name and a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// The label name.
    pub name: String,
    /// The label value.
    pub value: String,
}

impl Label {
    /// A label from a name and a value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label { name: name.into(), value: value.into() }
    }
}

/// A set of labels sorted by name, with each name at most once.
///
/// Cloning is a reference-count increment; equality, ordering and hashing look at the
/// pairs in order, so two sets compare as Prometheus compares them (name, then value,
/// then length). A label with an empty value is the same as a missing label everywhere
/// labels are matched; [`LabelsBuilder`] drops such labels, [`Labels::from_pairs`] keeps
/// what it is given.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels {
    inner: Arc<[Label]>,
}

impl Default for Labels {
    fn default() -> Self {
        Labels::empty()
    }
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        thread_local! {
            static EMPTY: Arc<[Label]> = Arc::from(Vec::new());
        }
        Labels { inner: EMPTY.with(Arc::clone) }
    }

    /// Builds a set from pairs in any order. When a name repeats, the last value wins.
    pub fn from_pairs<N, V, I>(pairs: I) -> Self
    where
        N: Into<String>,
        V: Into<String>,
        I: IntoIterator<Item = (N, V)>,
    {
        let v: Vec<Label> = pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect();
        Labels::from_vec(v)
    }

    /// Builds a set from labels in any order. When a name repeats, the last value wins.
    pub fn from_vec(mut v: Vec<Label>) -> Self {
        if !v.windows(2).all(|w| w[0].name < w[1].name) {
            // Stable sort keeps the input order among equal names, so the last one wins below.
            v.sort_by(|a, b| a.name.cmp(&b.name));
            let mut out: Vec<Label> = Vec::with_capacity(v.len());
            for l in v {
                match out.last_mut() {
                    Some(last) if last.name == l.name => *last = l,
                    _ => out.push(l),
                }
            }
            v = out;
        }
        Labels { inner: Arc::from(v) }
    }

    /// Builds a set from labels that the caller guarantees are sorted by name with no
    /// name twice; checked in debug builds.
    pub fn from_sorted_vec(v: Vec<Label>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].name < w[1].name), "labels not sorted and unique");
        Labels { inner: Arc::from(v) }
    }

    /// A builder that starts from this set.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder::from_labels(self)
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The labels, sorted by name.
    pub fn as_slice(&self) -> &[Label] {
        &self.inner
    }

    /// Iterates over the labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.inner.iter()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        if self.inner.len() <= 8 {
            return self.inner.iter().find(|l| l.name == name).map(|l| l.value.as_str());
        }
        self.inner.binary_search_by(|l| l.name.as_str().cmp(name)).ok().map(|i| self.inner[i].value.as_str())
    }

    /// The value of `name`, or `""` when absent (how matchers see a missing label).
    pub fn get_or_empty(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME_LABEL)
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        if !self.contains(METRIC_NAME_LABEL) {
            return self.clone();
        }
        self.filter(|l| l.name != METRIC_NAME_LABEL)
    }

    /// A copy keeping only the labels for which `keep` is true.
    pub fn filter(&self, mut keep: impl FnMut(&Label) -> bool) -> Labels {
        Labels::from_sorted_vec(self.inner.iter().filter(|l| keep(l)).cloned().collect())
    }

    /// A copy keeping only the named labels (`by (…)` in PromQL).
    pub fn keep_names<S: AsRef<str>>(&self, names: &[S]) -> Labels {
        self.filter(|l| names.iter().any(|n| n.as_ref() == l.name))
    }

    /// A copy without the named labels (`without (…)` in PromQL).
    pub fn drop_names<S: AsRef<str>>(&self, names: &[S]) -> Labels {
        self.filter(|l| !names.iter().any(|n| n.as_ref() == l.name))
    }

    /// A stable 64-bit hash of the set (xxh3 over `name 0xff value 0xff …`), the same in
    /// every process and version; use it for sharding and fingerprints, and compare the
    /// labels themselves on a hash collision.
    pub fn stable_hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for l in self.inner.iter() {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }

    /// Formats as a series in PromQL text: `name{a="b"}`, or the quoted form
    /// `{"my.metric", "a.b"="c"}` when the metric name is not a legacy name.
    pub fn to_series_string(&self) -> String {
        let mut s = String::new();
        self.write_series(&mut s).expect("writing to a String cannot fail");
        s
    }

    /// Writes the series form of [`Labels::to_series_string`].
    pub fn write_series<W: fmt::Write + ?Sized>(&self, out: &mut W) -> fmt::Result {
        let name = self.metric_name();
        let mut first = true;
        match name {
            Some(n) if is_valid_legacy_metric_name(n) => {
                out.write_str(n)?;
                if self.len() == 1 {
                    return Ok(());
                }
                out.write_char('{')?;
            }
            Some(n) => {
                out.write_str("{\"")?;
                write_escaped_label_value(out, n)?;
                out.write_char('"')?;
                first = false;
            }
            None => out.write_char('{')?,
        }
        for l in self.inner.iter().filter(|l| l.name != METRIC_NAME_LABEL) {
            if !first {
                out.write_str(", ")?;
            }
            first = false;
            write_label_name(out, &l.name)?;
            out.write_str("=\"")?;
            write_escaped_label_value(out, &l.value)?;
            out.write_char('"')?;
        }
        out.write_char('}')
    }
}

/// `{a="b", c="d"}`, every label including `__name__`, names quoted when they are not
/// legacy label names.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        f.write_char('{')?;
        for (i, l) in self.inner.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write_label_name(f, &l.name)?;
            f.write_str("=\"")?;
            write_escaped_label_value(f, &l.value)?;
            f.write_char('"')?;
        }
        f.write_char('}')
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.inner.iter()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Labels {
    fn from_iter<T: IntoIterator<Item = (N, V)>>(iter: T) -> Self {
        Labels::from_pairs(iter)
    }
}

/// Builds a [`Labels`] from `name => value` pairs.
///
/// ```
/// use ember_exposition::labels;
/// let l = labels! { "job" => "api", "__name__" => "up" };
/// assert_eq!(l.to_string(), r#"{__name__="up", job="api"}"#);
/// assert_eq!(labels! {}.len(), 0);
/// ```
#[macro_export]
macro_rules! labels {
    () => { $crate::Labels::empty() };
    ($($name:expr => $value:expr),+ $(,)?) => {
        $crate::Labels::from_pairs([$(($name, $value)),+])
    };
}

/// Edits a label set: set, delete, then build. Setting an empty value deletes the label,
/// as Prometheus's builder does.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        LabelsBuilder::default()
    }

    /// A builder starting from `base`.
    pub fn from_labels(base: &Labels) -> Self {
        LabelsBuilder { labels: base.as_slice().to_vec() }
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.labels.binary_search_by(|l| l.name.as_str().cmp(name))
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let (name, value) = (name.into(), value.into());
        if value.is_empty() {
            return self.del(&name);
        }
        match self.position(&name) {
            Ok(i) => self.labels[i].value = value,
            Err(i) => self.labels.insert(i, Label { name, value }),
        }
        self
    }

    /// Removes `name` if present.
    pub fn del(&mut self, name: &str) -> &mut Self {
        if let Ok(i) = self.position(name) {
            self.labels.remove(i);
        }
        self
    }

    /// Keeps only the labels for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Label) -> bool) -> &mut Self {
        self.labels.retain(|l| keep(l));
        self
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).ok().map(|i| self.labels[i].value.as_str())
    }

    /// The labels as they stand, sorted by name.
    pub fn as_slice(&self) -> &[Label] {
        &self.labels
    }

    /// Builds the set; the builder can be used again.
    pub fn build(&self) -> Labels {
        Labels::from_sorted_vec(self.labels.clone())
    }

    /// Builds the set, consuming the builder.
    pub fn into_labels(self) -> Labels {
        Labels::from_sorted_vec(self.labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_deduplicated() {
        let l = Labels::from_pairs([("b", "1"), ("a", "2"), ("b", "3")]);
        assert_eq!(l.to_string(), r#"{a="2", b="3"}"#);
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
        assert_eq!(l.get_or_empty("c"), "");
    }

    #[test]
    fn ordering_matches_prometheus() {
        let a = labels! {"a" => "1"};
        let ab = labels! {"a" => "1", "b" => "1"};
        let b = labels! {"b" => "0"};
        assert!(a < ab);
        assert!(ab < b);
        assert_eq!(a.clone(), labels! {"a" => "1"});
        assert_eq!(a.stable_hash(), labels! {"a" => "1"}.stable_hash());
        assert_ne!(a.stable_hash(), ab.stable_hash());
        // name/value boundary is part of the hash
        assert_ne!(labels! {"ab" => "c"}.stable_hash(), labels! {"a" => "bc"}.stable_hash());
    }

    #[test]
    fn series_form() {
        let l = labels! {"__name__" => "up", "job" => "a\"b"};
        assert_eq!(l.to_series_string(), r#"up{job="a\"b"}"#);
        assert_eq!(labels! {"__name__" => "up"}.to_series_string(), "up");
        let u = labels! {"__name__" => "my.metric", "a.b" => "c"};
        assert_eq!(u.to_series_string(), r#"{"my.metric", "a.b"="c"}"#);
        assert_eq!(labels! {"a" => "b"}.to_series_string(), r#"{a="b"}"#);
        assert_eq!(Labels::empty().to_series_string(), "{}");
    }

    #[test]
    fn many_labels_lookup() {
        let l: Labels = (0..20).map(|i| (format!("l{i:02}"), i.to_string())).collect();
        for i in 0..20 {
            assert_eq!(l.get(&format!("l{i:02}")), Some(i.to_string().as_str()));
        }
        assert_eq!(l.get("zz"), None);
    }

    #[test]
    fn builder() {
        let base = labels! {"a" => "1", "b" => "2"};
        let mut b = base.builder();
        b.set("c", "3").set("a", "").del("b").set("d", "4");
        assert_eq!(b.build().to_string(), r#"{c="3", d="4"}"#);
        assert_eq!(base.keep_names(&["a"]).to_string(), r#"{a="1"}"#);
        assert_eq!(base.drop_names(&["a"]).to_string(), r#"{b="2"}"#);
    }
}
