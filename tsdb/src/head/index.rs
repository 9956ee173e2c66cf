//! The inverted index: label name → value → series ids, as roaring bitmaps, and matcher
//! evaluation by bitmap algebra.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use ember_exposition::{MatchType, Matcher};
use hashbrown::HashMap;
use roaring::{MultiOps, RoaringBitmap};

/// Postings of one label name, by value in string order (so prefixes are ranges).
pub(crate) type Values = BTreeMap<Arc<str>, RoaringBitmap>;

#[derive(Default)]
pub(crate) struct Index {
    names: HashMap<Arc<str>, Values>,
    all: RoaringBitmap,
}

/// What one matcher contributes: series to keep, or series to drop.
enum Part<'a> {
    /// Only these series can match.
    Include(Cow<'a, RoaringBitmap>),
    /// These series cannot match; series lacking the label may.
    Exclude(Cow<'a, RoaringBitmap>),
    /// The matcher accepts every series.
    Everything,
    /// The matcher accepts no series.
    Nothing,
}

fn union<'a>(it: impl Iterator<Item = &'a RoaringBitmap>) -> Cow<'a, RoaringBitmap> {
    let bitmaps: Vec<&RoaringBitmap> = it.collect();
    match bitmaps.as_slice() {
        [] => return Cow::Owned(RoaringBitmap::new()),
        [one] => return Cow::Borrowed(one),
        _ => {}
    }
    let total: u64 = bitmaps.iter().map(|b| b.len()).sum();
    let max = bitmaps.iter().filter_map(|b| b.max()).max().unwrap_or(0) as u64;
    // Many small bitmaps (a label with thousands of values) merge slowly container by
    // container; setting bits in a flat bitset and converting once is linear in the
    // bitset's size. Used when that size is small next to the number of bitmaps (about
    // 64 bytes of merging each) or there are hundreds of them, and at most 8 bytes per id.
    let bitset_bytes = max / 8 + 1;
    if (bitmaps.len() >= 256 || bitmaps.len() as u64 * 64 >= bitset_bytes) && bitset_bytes <= total * 8 {
        let mut bits = vec![0u8; bitset_bytes as usize];
        for b in &bitmaps {
            for id in b.iter() {
                bits[(id >> 3) as usize] |= 1 << (id & 7);
            }
        }
        return Cow::Owned(RoaringBitmap::from_lsb0_bytes(0, &bits));
    }
    // Roaring's multi-way union merges container by container, faster than a chain of `|=`.
    Cow::Owned(bitmaps.into_iter().union())
}

impl Index {
    pub(crate) fn add<'s>(&mut self, id: u32, labels: impl Iterator<Item = (&'s Arc<str>, &'s Arc<str>)>) {
        for (n, v) in labels {
            let values = match self.names.get_mut(&**n) {
                Some(v) => v,
                None => self.names.entry(Arc::clone(n)).or_default(),
            };
            match values.get_mut(&**v) {
                Some(b) => {
                    b.insert(id);
                }
                None => {
                    values.insert(Arc::clone(v), std::iter::once(id).collect());
                }
            }
        }
        self.all.insert(id);
    }

    pub(crate) fn remove<'s>(&mut self, id: u32, labels: impl Iterator<Item = (&'s str, &'s str)>) {
        for (n, v) in labels {
            if let Some(values) = self.names.get_mut(n) {
                if let Some(b) = values.get_mut(v) {
                    b.remove(id);
                    if b.is_empty() {
                        values.remove(v);
                    }
                }
                if values.is_empty() {
                    self.names.remove(n);
                }
            }
        }
        self.all.remove(id);
    }

    pub(crate) fn all(&self) -> &RoaringBitmap {
        &self.all
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = (&Arc<str>, &Values)> {
        self.names.iter()
    }

    pub(crate) fn values(&self, name: &str) -> Option<&Values> {
        self.names.get(name)
    }

    fn part<'a>(&'a self, m: &Matcher) -> Part<'a> {
        let Some(values) = self.names.get(m.name()) else {
            // No series has the label: every series carries "" for it.
            return if m.matches_empty() { Part::Everything } else { Part::Nothing };
        };
        let all_values = || union(values.values());
        let get = |v: &str| values.get(v);
        let scan = |keep: &dyn Fn(&str) -> bool| union(values.iter().filter(|(v, _)| keep(v)).map(|(_, b)| b));
        let prefixed = |p: &str| {
            let range = values.range::<str, _>((Bound::Included(p), Bound::Unbounded));
            union(range.take_while(|(v, _)| v.starts_with(p)).map(|(_, b)| b))
        };
        match m.kind() {
            MatchType::Equal if m.value().is_empty() => Part::Exclude(all_values()),
            MatchType::Equal => get(m.value()).map_or(Part::Nothing, |b| Part::Include(Cow::Borrowed(b))),
            MatchType::NotEqual if m.value().is_empty() => Part::Include(all_values()),
            MatchType::NotEqual => get(m.value()).map_or(Part::Everything, |b| Part::Exclude(Cow::Borrowed(b))),
            MatchType::Regex | MatchType::NotRegex => {
                let negate = m.kind() == MatchType::NotRegex;
                // What the regex itself (before negation) selects among present values,
                // and whether it accepts the empty string.
                let (selected, re_empty) = if m.is_any() {
                    (None, true)
                } else if m.is_any_non_empty() {
                    (Some(all_values()), false)
                } else if let Some(set) = m.set_matches() {
                    let has_empty = set.iter().any(String::is_empty);
                    (Some(union(set.iter().filter_map(|s| get(s)))), has_empty)
                } else if let Some(p) = m.prefix().filter(|p| !p.is_empty()) {
                    (Some(prefixed(p)), false)
                } else {
                    let re_empty = m.matches("") != negate;
                    let keep = |v: &str| m.matches(v) != negate;
                    (Some(scan(&keep)), re_empty)
                };
                match (selected, re_empty, negate) {
                    (None, _, false) => Part::Everything,
                    (None, _, true) => Part::Nothing,
                    (Some(sel), false, false) => Part::Include(sel),
                    (Some(sel), false, true) => Part::Exclude(sel),
                    // The regex accepts "": series without the label match `=~`, and
                    // `!~` needs the label present with a value outside `sel`.
                    (Some(sel), true, false) => {
                        let rest = all_values();
                        Part::Exclude(Cow::Owned(rest.as_ref() - sel.as_ref()))
                    }
                    (Some(sel), true, true) => {
                        let rest = all_values();
                        Part::Include(Cow::Owned(rest.as_ref() - sel.as_ref()))
                    }
                }
            }
        }
    }

    /// The ids of series matching every matcher. No matchers select nothing.
    pub(crate) fn postings_for_matchers(&self, matchers: &[Matcher]) -> RoaringBitmap {
        if matchers.is_empty() {
            return RoaringBitmap::new();
        }
        let mut includes: Vec<Cow<'_, RoaringBitmap>> = Vec::new();
        let mut excludes: Vec<Cow<'_, RoaringBitmap>> = Vec::new();
        for m in matchers {
            match self.part(m) {
                Part::Include(b) => {
                    if b.is_empty() {
                        return RoaringBitmap::new();
                    }
                    includes.push(b)
                }
                Part::Exclude(b) => excludes.push(b),
                Part::Everything => {}
                Part::Nothing => return RoaringBitmap::new(),
            }
        }
        includes.sort_by_key(|b| b.len());
        let mut it = includes.into_iter();
        let mut acc = match it.next() {
            Some(first) => first.into_owned(),
            None => self.all.clone(),
        };
        for b in it {
            if acc.is_empty() {
                return acc;
            }
            acc &= b.as_ref();
        }
        for b in excludes {
            acc -= b.as_ref();
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_exposition::{Labels, labels};
    use proptest::prelude::*;

    fn build(series: &[Labels]) -> Index {
        let mut idx = Index::default();
        for (i, l) in series.iter().enumerate() {
            let pairs: Vec<(Arc<str>, Arc<str>)> =
                l.iter().map(|l| (Arc::from(l.name.as_str()), Arc::from(l.value.as_str()))).collect();
            idx.add(i as u32, pairs.iter().map(|(a, b)| (a, b)));
        }
        idx
    }

    fn brute(series: &[Labels], ms: &[Matcher]) -> Vec<u32> {
        if ms.is_empty() {
            return Vec::new();
        }
        (0..series.len() as u32).filter(|&i| ms.iter().all(|m| m.matches_labels(&series[i as usize]))).collect()
    }

    #[track_caller]
    fn check(idx: &Index, series: &[Labels], ms: &[Matcher]) {
        let got: Vec<u32> = idx.postings_for_matchers(ms).iter().collect();
        assert_eq!(got, brute(series, ms), "matchers {ms:?}");
    }

    #[test]
    fn table() {
        let series = vec![
            labels! {"__name__" => "up", "job" => "a", "instance" => "host-1"},
            labels! {"__name__" => "up", "job" => "b", "instance" => "host-10"},
            labels! {"__name__" => "up", "job" => "b", "instance" => "host-2", "extra" => "x"},
            labels! {"__name__" => "down", "job" => "a"},
        ];
        let idx = build(&series);
        let re = |n: &str, v: &str| Matcher::regex(n, v).unwrap();
        let nre = |n: &str, v: &str| Matcher::not_regex(n, v).unwrap();
        for ms in [
            vec![Matcher::equal("__name__", "up")],
            vec![Matcher::equal("__name__", "up"), re("instance", "host-1.*")],
            vec![Matcher::equal("extra", "")],
            vec![Matcher::not_equal("extra", "")],
            vec![Matcher::not_equal("job", "a")],
            vec![re("job", "a|b"), nre("instance", "host-1|")],
            vec![re("instance", ".*")],
            vec![nre("instance", ".*")],
            vec![re("instance", ".+")],
            vec![nre("instance", ".+")],
            vec![re("instance", "|host-2")],
            vec![nre("instance", "host-[12]")],
            vec![re("instance", "h.*-1\\d*")],
            vec![re("missing", ".*x")],
            vec![nre("missing", "x")],
            vec![Matcher::equal("job", "zzz")],
        ] {
            check(&idx, &series, &ms);
        }
        idx.values("job").unwrap();
        let mut idx = idx;
        idx.remove(2, series[2].iter().map(|l| (l.name.as_str(), l.value.as_str())));
        assert!(idx.values("extra").is_none());
        assert_eq!(idx.all().len(), 3);
    }

    #[test]
    fn unions_agree_with_naive() {
        for (n, spread) in [(2u32, 10u32), (40, 7), (200, 13), (50, 100_000), (3000, 5)] {
            let bitmaps: Vec<RoaringBitmap> = (0..n).map(|i| (0..20).map(|j| i * spread + j * 3).collect()).collect();
            let want = bitmaps.iter().fold(RoaringBitmap::new(), |a, b| a | b);
            assert_eq!(union(bitmaps.iter()).into_owned(), want, "{n} bitmaps");
        }
    }

    fn labels_strategy() -> impl Strategy<Value = Labels> {
        proptest::collection::vec((0usize..4, 0usize..5), 1..5).prop_map(|pairs| {
            let names = ["__name__", "job", "instance", "le"];
            let values = ["", "a", "ab", "b", "host-1"];
            Labels::from_pairs(pairs.into_iter().map(|(n, v)| (names[n], values[v])).filter(|(_, v)| !v.is_empty()))
        })
    }

    fn matcher_strategy() -> impl Strategy<Value = Matcher> {
        let names = prop_oneof![Just("__name__"), Just("job"), Just("instance"), Just("le"), Just("zz")];
        let values = prop_oneof![
            Just(""),
            Just("a"),
            Just("ab"),
            Just("a|b"),
            Just("a.*"),
            Just(".*"),
            Just(".+"),
            Just("|a"),
            Just("host-.*"),
            Just("a?b"),
            Just("[ab]+"),
            Just(".*b")
        ];
        let kinds = prop_oneof![
            Just(MatchType::Equal),
            Just(MatchType::NotEqual),
            Just(MatchType::Regex),
            Just(MatchType::NotRegex)
        ];
        (kinds, names, values).prop_map(|(k, n, v)| Matcher::new(k, n, v).unwrap())
    }

    proptest! {
        #[test]
        fn index_agrees_with_brute_force(
            series in proptest::collection::vec(labels_strategy(), 0..40),
            matchers in proptest::collection::vec(matcher_strategy(), 0..4),
        ) {
            let idx = build(&series);
            let got: Vec<u32> = idx.postings_for_matchers(&matchers).iter().collect();
            prop_assert_eq!(got, brute(&series, &matchers));
        }
    }
}
