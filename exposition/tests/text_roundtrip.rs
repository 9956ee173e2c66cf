//! Property tests: generated families, valid for each format, survive encode -> parse.

use ember_exposition::{Exemplar, Labels, MetricFamily, MetricType, Sample, openmetrics, text};
use proptest::prelude::*;

fn float_string(v: f64) -> String {
    if v == f64::INFINITY {
        return "+Inf".into();
    }
    format!("{v:?}")
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => any::<f64>().prop_map(|v| if v.is_nan() { f64::NAN } else { v }),
        2 => (-1000i64..1000).prop_map(|v| v as f64),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => (0u32..1000, 0u32..1000).prop_map(|(a, b)| a as f64 / (b as f64 + 1.0)),
    ]
}

fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z_][a-zA-Z0-9_]{0,6}",
        1 => "[a-z.ü\" \\\\-]{1,5}",
    ]
    .prop_filter("reserved", |n| !matches!(n.as_str(), "le" | "quantile" | "__name__" | "id"))
}

fn label_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 \"\\\\\n{}#,=ü\u{0}\t]{0,10}"
}

/// A set of labels plus a distinguishing `id`, so metrics of one family never collide.
fn labels(id: usize) -> impl Strategy<Value = Labels> {
    prop::collection::vec((label_name(), label_value()), 0..4).prop_map(move |mut v| {
        v.push(("id".into(), id.to_string()));
        Labels::from_pairs(v)
    })
}

fn with(labels: &Labels, name: &str, value: String) -> Labels {
    let mut b = labels.builder();
    b.set(name, value);
    b.into_labels()
}

fn family_name(i: usize) -> impl Strategy<Value = String> {
    prop_oneof![Just(format!("m{i}x")), Just(format!("m{i}.dotted")), Just(format!("m{i} ü"))]
}

fn help() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[a-zA-Z0-9\"\\\\\nü#{} ]{1,12}")
}

fn ts() -> impl Strategy<Value = Option<i64>> {
    prop::option::of(any::<i64>())
}

fn sample(name: String, labels: Labels, value: f64, timestamp: Option<i64>) -> Sample {
    Sample { name, labels, value, timestamp, exemplar: None }
}

// ---------------------------------------------------------------------------------------
// Text 0.0.4

fn text_family(i: usize) -> impl Strategy<Value = MetricFamily> {
    let types = prop::sample::select(vec![
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Summary,
        MetricType::Unknown,
    ]);
    (family_name(i), types, help(), 0usize..4).prop_flat_map(|(name, t, help, n)| {
        let metrics: Vec<_> = (0..n).map(|j| (labels(j), any_value(), ts(), 0usize..5)).collect();
        (Just(name), Just(t), Just(help), metrics).prop_map(|(name, t, help, metrics)| {
            let mut samples = Vec::new();
            for (labels, v, ts, k) in metrics {
                let s = |suffix: &str, l: &Labels, v: f64| sample(format!("{name}{suffix}"), l.clone(), v, ts);
                match t {
                    MetricType::Counter => {
                        samples.push(s("_total", &labels, v));
                        if k % 2 == 0 {
                            samples.push(s("_created", &labels, v));
                        }
                    }
                    MetricType::Histogram => {
                        for b in 0..k {
                            let le = with(&labels, "le", float_string(b as f64 * 0.5 - 1.0));
                            samples.push(s("_bucket", &le, b as f64));
                        }
                        samples.push(s("_sum", &labels, v));
                        samples.push(s("_count", &labels, k as f64));
                    }
                    MetricType::Summary => {
                        for q in 0..k {
                            samples.push(s("", &with(&labels, "quantile", float_string(q as f64 / 4.0)), v));
                        }
                        samples.push(s("_count", &labels, v));
                    }
                    _ => samples.push(s("", &labels, v)),
                }
            }
            MetricFamily { name, metric_type: t, help, unit: None, samples }
        })
    })
}

fn text_families() -> impl Strategy<Value = Vec<MetricFamily>> {
    (0usize..6).prop_flat_map(|n| (0..n).map(text_family).collect::<Vec<_>>()).prop_map(|mut fams| {
        // A text HELP cannot start with whitespace (the separator swallows it).
        for f in &mut fams {
            if let Some(h) = &mut f.help {
                *h = h.trim_start_matches([' ', '\t']).to_string();
            }
        }
        fams
    })
}

// ---------------------------------------------------------------------------------------
// OpenMetrics

fn exemplar() -> impl Strategy<Value = Option<Exemplar>> {
    prop::option::of((prop::collection::vec(("[a-z_]{1,5}", "[a-z0-9\"\\\\ü]{0,8}"), 0..3), any_value(), ts()))
        .prop_map(|e| e.map(|(l, value, timestamp)| Exemplar { labels: Labels::from_pairs(l), value, timestamp }))
}

fn om_metric(name: String, t: MetricType, j: usize) -> impl Strategy<Value = Vec<Sample>> {
    let nonneg = any_value().prop_map(|v| if v.is_nan() { 1.5 } else { v.abs() });
    let les = prop::collection::btree_set(-5i32..20, 0..5);
    let counts = prop::collection::vec(0u32..50, 6);
    (labels(j), nonneg, ts(), any_value(), les, counts, exemplar(), exemplar(), any::<bool>()).prop_map(
        move |(labels, nonneg, ts, v, les, counts, ex1, ex2, flag)| {
            let s = |suffix: &str, l: &Labels, v: f64| sample(format!("{name}{suffix}"), l.clone(), v, ts);
            let mut out = Vec::new();
            match t {
                MetricType::Counter => {
                    let mut total = s("_total", &labels, nonneg);
                    total.exemplar = ex1;
                    out.push(total);
                    if flag {
                        out.push(s("_created", &labels, 1.6e9));
                    }
                }
                MetricType::Histogram | MetricType::GaugeHistogram => {
                    let mut cum = 0.0;
                    let negative = les.iter().any(|&l| l < 0);
                    let mut les: Vec<String> = les.iter().map(|&l| float_string(f64::from(l) / 4.0)).collect();
                    les.push("+Inf".into());
                    for (i, le) in les.iter().enumerate() {
                        cum += f64::from(counts[i]);
                        let mut b = s("_bucket", &with(&labels, "le", le.clone()), cum);
                        if i == 0 {
                            b.exemplar = ex2.clone();
                        }
                        out.push(b);
                    }
                    let hist = t == MetricType::Histogram;
                    if flag && (!hist || !negative) {
                        out.push(s(if hist { "_count" } else { "_gcount" }, &labels, cum));
                        let sum = if hist || !negative { nonneg } else { -nonneg - 1.0 };
                        out.push(s(if hist { "_sum" } else { "_gsum" }, &labels, sum));
                    }
                    if hist && !flag {
                        out.push(s("_created", &labels, 1.7e9));
                    }
                }
                MetricType::Summary => {
                    for (i, q) in [0.0, 0.5, 0.99, 1.0].iter().enumerate().take(counts[0] as usize % 5) {
                        let qv = if counts[i + 1] % 3 == 0 { f64::NAN } else { f64::from(counts[i + 1]) };
                        out.push(s("", &with(&labels, "quantile", float_string(*q)), qv));
                    }
                    if flag {
                        out.push(s("_count", &labels, f64::from(counts[5])));
                        out.push(s("_sum", &labels, nonneg));
                    }
                }
                MetricType::Info => out.push(s("_info", &labels, 1.0)),
                MetricType::StateSet => {
                    for (i, state) in ["a", "b\"q", "c d"].iter().enumerate() {
                        let v = f64::from(u8::from((counts[i] % 2 == 0) == flag));
                        out.push(s("", &with(&labels, &name, (*state).to_string()), v));
                    }
                }
                _ => out.push(s("", &labels, v)),
            }
            out
        },
    )
}

fn om_family(i: usize) -> impl Strategy<Value = MetricFamily> {
    let types = prop::sample::select(MetricType::ALL.to_vec());
    (family_name(i), types, help(), 0usize..4, any::<bool>()).prop_flat_map(|(name, t, help, n, with_unit)| {
        let unit_ok = with_unit && !matches!(t, MetricType::Info | MetricType::StateSet);
        let name = if unit_ok { format!("{name}_seconds") } else { name };
        let metrics: Vec<_> = (0..n).map(|j| om_metric(name.clone(), t, j)).collect();
        (Just(name), Just(help), metrics).prop_map(move |(name, help, metrics)| MetricFamily {
            name,
            metric_type: t,
            help,
            unit: unit_ok.then(|| "seconds".to_string()),
            samples: metrics.into_iter().flatten().collect(),
        })
    })
}

fn om_families() -> impl Strategy<Value = Vec<MetricFamily>> {
    (0usize..6).prop_flat_map(|n| (0..n).map(om_family).collect::<Vec<_>>())
}

#[track_caller]
fn assert_same(got: &[MetricFamily], want: &[MetricFamily], encoded: &str) {
    assert_eq!(got.len(), want.len(), "{encoded}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.bit_eq(w), "{g:#?}\n!=\n{w:#?}\nencoded:\n{encoded}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn text_round_trip(families in text_families()) {
        let mut out = String::new();
        text::encode(&mut out, &families).unwrap();
        let parsed = text::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_same(&parsed, &families, &out);
    }

    #[test]
    fn openmetrics_round_trip(families in om_families()) {
        let mut out = String::new();
        openmetrics::encode(&mut out, &families).unwrap();
        let parsed = openmetrics::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_same(&parsed, &families, &out);
    }

    #[test]
    fn streaming_and_owned_agree(families in text_families()) {
        let mut out = String::new();
        text::encode(&mut out, &families).unwrap();
        let streamed: Vec<Sample> = text::Parser::new(&out)
            .filter_map(|e| match e.unwrap() {
                ember_exposition::Entry::Sample(s) => Some(s.to_sample()),
                _ => None,
            })
            .collect();
        let owned: Vec<Sample> = families.into_iter().flat_map(|f| f.samples).collect();
        prop_assert_eq!(streamed.len(), owned.len());
        for (a, b) in streamed.iter().zip(&owned) {
            prop_assert!(a.bit_eq(b), "{:?} != {:?}", a, b);
        }
    }
}
