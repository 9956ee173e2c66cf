//! Public-API tests of the protobuf exposition: conversion tables and property tests.
#![cfg(feature = "protobuf")]

use ember_exposition::protobuf::{self, LossKind, proto};
use ember_exposition::{Exemplar, Labels, MetricFamily, MetricType, Sample};
use proptest::prelude::*;

/// Renders a flat family one sample a line: `name{labels} value [@ts] [# {ex} value @ts]`.
fn render(f: &MetricFamily) -> String {
    let mut s = format!("# {} {}\n", f.name, f.metric_type);
    for x in &f.samples {
        s.push_str(&format!("{}{} {}", x.name, x.labels, x.value));
        if let Some(t) = x.timestamp {
            s.push_str(&format!(" @{t}"));
        }
        if let Some(e) = &x.exemplar {
            s.push_str(&format!(" # {} {}", e.labels, e.value));
            if let Some(t) = e.timestamp {
                s.push_str(&format!(" @{t}"));
            }
        }
        s.push('\n');
    }
    s
}

#[track_caller]
fn check(input: proto::MetricFamily, want: &str, want_losses: &[LossKind]) {
    let conv = protobuf::to_families(std::slice::from_ref(&input));
    let got: String = conv.families.iter().map(render).collect();
    assert_eq!(got.trim(), want.trim(), "flat form of {input:?}");
    let losses: Vec<LossKind> = conv.losses.iter().map(|l| l.kind.clone()).collect();
    assert_eq!(losses, want_losses);
    if conv.is_lossless() {
        // Lossless conversions come back as the same flat families.
        let back = protobuf::from_families(&conv.families).unwrap();
        let again = protobuf::to_families(&back);
        assert!(again.is_lossless());
        assert_eq!(again.families.iter().map(render).collect::<String>(), got);
    }
}

fn pairs(l: &[(&str, &str)]) -> Vec<proto::LabelPair> {
    l.iter().map(|(n, v)| proto::LabelPair { name: n.to_string(), value: v.to_string() }).collect()
}

fn family(name: &str, t: proto::MetricType, metric: Vec<proto::Metric>) -> proto::MetricFamily {
    proto::MetricFamily { name: name.into(), r#type: t as i32, metric, ..Default::default() }
}

fn ts(seconds: i64, nanos: i32) -> Option<proto::Timestamp> {
    Some(proto::Timestamp { seconds, nanos })
}

fn exemplar(trace: &str, value: f64, t: Option<proto::Timestamp>) -> Option<proto::Exemplar> {
    Some(proto::Exemplar { label: pairs(&[("trace_id", trace)]), value, timestamp: t })
}

#[test]
fn counters() {
    let m = |labels: &[(&str, &str)], value, created| proto::Metric {
        label: pairs(labels),
        counter: Some(Box::new(proto::Counter { value, exemplar: None, created_timestamp: created })),
        ..Default::default()
    };
    check(
        family(
            "http_requests_total",
            proto::MetricType::Counter,
            vec![m(&[("code", "200")], 7.0, ts(1_700_000_000, 500_000_000)), m(&[("code", "500")], 1.0, None)],
        ),
        r#"
# http_requests counter
http_requests_total{code="200"} 7
http_requests_created{code="200"} 1700000000.5
http_requests_total{code="500"} 1
"#,
        &[],
    );
    // A counter named without _total gets it; exemplars and timestamps come along.
    let mut with_ex = m(&[], 3.0, None);
    with_ex.counter.as_mut().unwrap().exemplar = exemplar("abc", 1.0, ts(1_700_000_000, 123_000_000));
    with_ex.timestamp_ms = Some(1_700_000_001_000);
    check(
        family("jobs", proto::MetricType::Counter, vec![with_ex]),
        r#"
# jobs counter
jobs_total{} 3 @1700000001000 # {trace_id="abc"} 1 @1700000000123
"#,
        &[],
    );
}

#[test]
fn gauges_and_untyped() {
    let g = |v| proto::Metric { gauge: Some(proto::Gauge { value: v }), ..Default::default() };
    let u = |v| proto::Metric { untyped: Some(proto::Untyped { value: v }), ..Default::default() };
    let mut fam = family("temp_celsius", proto::MetricType::Gauge, vec![g(21.5), g(f64::NEG_INFINITY)]);
    fam.help = "Temperature.".into();
    fam.unit = "celsius".into();
    let conv = protobuf::to_families(std::slice::from_ref(&fam));
    assert_eq!(conv.families[0].help.as_deref(), Some("Temperature."));
    assert_eq!(conv.families[0].unit.as_deref(), Some("celsius"));
    check(fam, "# temp_celsius gauge\ntemp_celsius{} 21.5\ntemp_celsius{} -inf", &[]);
    check(family("x", proto::MetricType::Untyped, vec![u(1.0)]), "# x unknown\nx{} 1", &[]);
}

#[test]
fn summaries() {
    let s = proto::Summary {
        sample_count: 10,
        sample_sum: 2.5,
        quantile: vec![
            proto::Quantile { quantile: 0.5, value: 0.2 },
            proto::Quantile { quantile: 0.99, value: 0.9 },
            proto::Quantile { quantile: 1.0, value: 1.2 },
        ],
        created_timestamp: ts(1_600_000_000, 0),
    };
    check(
        family(
            "rpc_seconds",
            proto::MetricType::Summary,
            vec![proto::Metric { label: pairs(&[("m", "get")]), summary: Some(Box::new(s)), ..Default::default() }],
        ),
        r#"
# rpc_seconds summary
rpc_seconds{m="get", quantile="0.5"} 0.2
rpc_seconds{m="get", quantile="0.99"} 0.9
rpc_seconds{m="get", quantile="1.0"} 1.2
rpc_seconds_sum{m="get"} 2.5
rpc_seconds_count{m="get"} 10
rpc_seconds_created{m="get"} 1600000000
"#,
        &[],
    );
}

fn bucket(le: f64, count: u64) -> proto::Bucket {
    proto::Bucket { cumulative_count: count, upper_bound: le, ..Default::default() }
}

#[test]
fn classic_histograms() {
    let mut h = proto::Histogram {
        sample_count: 9,
        sample_sum: 4.25,
        bucket: vec![bucket(0.005, 1), bucket(1.0, 4), bucket(1e6, 8)],
        created_timestamp: ts(1_600_000_000, 250_000_000),
        ..Default::default()
    };
    h.bucket[1].exemplar = exemplar("t1", 0.7, None);
    let fam = family(
        "lat",
        proto::MetricType::Histogram,
        vec![proto::Metric { histogram: Some(Box::new(h.clone())), ..Default::default() }],
    );
    check(
        fam,
        r#"
# lat histogram
lat_bucket{le="0.005"} 1
lat_bucket{le="1.0"} 4 # {trace_id="t1"} 0.7
lat_bucket{le="1e+06"} 8
lat_bucket{le="+Inf"} 9
lat_sum{} 4.25
lat_count{} 9
lat_created{} 1600000000.25
"#,
        &[],
    );
    // An explicit +Inf bucket is not doubled; float counts override integer ones.
    let mut f = h.clone();
    f.bucket.push(proto::Bucket { cumulative_count_float: 9.5, upper_bound: f64::INFINITY, ..Default::default() });
    f.sample_count_float = 9.5;
    f.created_timestamp = None;
    f.bucket[1].exemplar = None;
    check(
        family(
            "lat",
            proto::MetricType::Histogram,
            vec![proto::Metric { histogram: Some(Box::new(f)), ..Default::default() }],
        ),
        r#"
# lat histogram
lat_bucket{le="0.005"} 1
lat_bucket{le="1.0"} 4
lat_bucket{le="1e+06"} 8
lat_bucket{le="+Inf"} 9.5
lat_sum{} 4.25
lat_count{} 9.5
"#,
        &[],
    );
    // Gauge histograms use _gcount and _gsum and have no _created.
    let mut g = h;
    g.bucket[1].exemplar = None;
    check(
        family(
            "queue",
            proto::MetricType::GaugeHistogram,
            vec![proto::Metric { histogram: Some(Box::new(g)), ..Default::default() }],
        ),
        r#"
# queue gaugehistogram
queue_bucket{le="0.005"} 1
queue_bucket{le="1.0"} 4
queue_bucket{le="1e+06"} 8
queue_bucket{le="+Inf"} 9
queue_gcount{} 9
queue_gsum{} 4.25
"#,
        &[LossKind::GaugeHistogramCreated],
    );
}

#[test]
fn native_parts_are_reported_not_dropped_silently() {
    let native = proto::Histogram {
        sample_count: 3,
        sample_sum: 1.5,
        schema: 3,
        zero_threshold: 1e-128,
        positive_span: vec![proto::BucketSpan { offset: 0, length: 2 }],
        positive_delta: vec![1, 1],
        ..Default::default()
    };
    let mut both = native.clone();
    both.bucket = vec![bucket(1.0, 2)];
    let mut noop = proto::Histogram::default();
    noop.positive_span.push(proto::BucketSpan { offset: 0, length: 0 });
    let fam = family(
        "h",
        proto::MetricType::Histogram,
        vec![
            proto::Metric { histogram: Some(Box::new(native)), ..Default::default() },
            proto::Metric { label: pairs(&[("a", "b")]), histogram: Some(Box::new(both)), ..Default::default() },
            proto::Metric { label: pairs(&[("a", "c")]), histogram: Some(Box::new(noop)), ..Default::default() },
        ],
    );
    check(
        fam,
        r#"
# h histogram
h_bucket{le="+Inf"} 3
h_sum{} 1.5
h_count{} 3
h_bucket{a="b", le="1.0"} 2
h_bucket{a="b", le="+Inf"} 3
h_sum{a="b"} 1.5
h_count{a="b"} 3
h_bucket{a="c", le="+Inf"} 0
h_sum{a="c"} 0
h_count{a="c"} 0
"#,
        &[LossKind::NativeHistogram, LossKind::NativeHistogram, LossKind::NativeHistogram],
    );
    // Native fields Prometheus would not look at (no span, no zero bucket) are still reported.
    let stray = proto::Histogram {
        sample_count: 1,
        bucket: vec![bucket(1.0, 1)],
        schema: 2,
        positive_count: vec![1.0],
        ..Default::default()
    };
    assert!(!stray.is_native() && stray.has_native_fields());
    check(
        family(
            "s",
            proto::MetricType::Histogram,
            vec![proto::Metric { histogram: Some(Box::new(stray)), ..Default::default() }],
        ),
        "# s histogram\ns_bucket{le=\"1.0\"} 1\ns_bucket{le=\"+Inf\"} 1\ns_sum{} 0\ns_count{} 1",
        &[LossKind::NativeHistogram],
    );
    let conv = protobuf::to_families(&[family(
        "h",
        proto::MetricType::Histogram,
        vec![
            proto::Metric::default(),
            proto::Metric {
                gauge: Some(proto::Gauge { value: 1.0 }),
                counter: Some(Box::default()),
                ..Default::default()
            },
        ],
    )]);
    let losses: Vec<_> = conv.losses.iter().map(|l| (l.family, l.metric, l.kind.clone())).collect();
    assert_eq!(losses, vec![(0, Some(0), LossKind::MissingValue), (0, Some(1), LossKind::MissingValue)]);
    let conv = protobuf::to_families(&[proto::MetricFamily { r#type: 42, ..Default::default() }]);
    assert!(conv.families.is_empty());
    assert_eq!(conv.losses[0].kind, LossKind::UnknownType(42));
    let conv = protobuf::to_families(&[family(
        "g",
        proto::MetricType::Gauge,
        vec![proto::Metric {
            gauge: Some(proto::Gauge { value: 1.0 }),
            untyped: Some(proto::Untyped { value: 2.0 }),
            ..Default::default()
        }],
    )]);
    assert_eq!(conv.losses[0].kind, LossKind::ExtraValue);
    assert_eq!(conv.families[0].samples.len(), 1);
}

fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    Sample::new(name, Labels::from_pairs(labels.iter().copied()), value)
}

#[track_caller]
fn check_err(f: MetricFamily, want_sample: Option<usize>, want: protobuf::ConvertErrorKind) {
    let err = protobuf::from_family(&f).unwrap_err();
    assert_eq!((err.sample, err.kind.clone()), (want_sample, want), "{err}");
    assert_eq!(err.family, f.name);
}

#[test]
fn flat_families_that_protobuf_cannot_hold() {
    use protobuf::ConvertErrorKind as K;
    let fam =
        |name: &str, t, samples| MetricFamily { name: name.into(), metric_type: t, samples, ..Default::default() };
    check_err(fam("h", MetricType::Histogram, vec![sample("h_bucket", &[], 1.0)]), Some(0), K::MissingLabel("le"));
    check_err(
        fam("h", MetricType::Histogram, vec![sample("h_bucket", &[("le", "x")], 1.0)]),
        Some(0),
        K::InvalidLabelValue { label: "le", value: "x".into() },
    );
    check_err(
        fam("h", MetricType::Histogram, vec![sample("h_total", &[], 1.0)]),
        Some(0),
        K::UnexpectedSample("h_total".into()),
    );
    check_err(
        fam("h", MetricType::Histogram, vec![sample("h_bucket", &[("le", "1")], -1.0)]),
        Some(0),
        K::InvalidCount(-1.0),
    );
    check_err(fam("s", MetricType::Summary, vec![sample("s", &[], 1.0)]), Some(0), K::MissingLabel("quantile"));
    check_err(fam("s", MetricType::Summary, vec![sample("s_count", &[], 1.5)]), None, K::InvalidCount(1.5));
    check_err(
        fam("c", MetricType::Counter, vec![sample("c_total", &[], 1.0), sample("c_total", &[], 2.0)]),
        Some(1),
        K::DuplicateSample,
    );
    let err =
        protobuf::from_family(&fam("c", MetricType::Counter, vec![sample("c_created", &[], f64::NAN)])).unwrap_err();
    assert!(matches!(err.kind, K::InvalidCreated(v) if v.is_nan()) && err.sample == Some(0), "{err}");
    check_err(fam("c", MetricType::Counter, vec![sample("c_created", &[], 1.0)]), None, K::MissingValue);
    let mut ts = sample("c_created", &[], 1.0);
    ts.timestamp = Some(5);
    check_err(fam("c", MetricType::Counter, vec![sample("c_total", &[], 1.0), ts]), Some(1), K::InconsistentTimestamp);
    let mut ex = sample("g", &[], 1.0);
    ex.exemplar = Some(Exemplar { labels: Labels::empty(), value: 1.0, timestamp: None });
    check_err(fam("g", MetricType::Gauge, vec![ex]), Some(0), K::UnsupportedExemplar);
    check_err(
        fam("g", MetricType::Gauge, vec![sample("g", &[], 1.0), sample("other", &[], 1.0)]),
        Some(1),
        K::UnexpectedSample("other".into()),
    );

    // Info and state sets become gauges named as their samples.
    let info =
        protobuf::from_family(&fam("build", MetricType::Info, vec![sample("build_info", &[("v", "1")], 1.0)])).unwrap();
    assert_eq!((info.name.as_str(), info.r#type()), ("build_info", proto::MetricType::Gauge));
    let mut buf = Vec::new();
    protobuf::encode_families(&[fam("g", MetricType::Gauge, vec![sample("g", &[], 2.0)])], &mut buf).unwrap();
    assert_eq!(protobuf::decode(&buf).unwrap()[0].metric[0].gauge, Some(proto::Gauge { value: 2.0 }));
    assert!(
        protobuf::encode_families(
            &[fam("g", MetricType::Gauge, vec![sample("g", &[], 2.0), sample("x", &[], 2.0)])],
            &mut buf
        )
        .is_err()
    );
    // Text 0.0.4 counters without _total keep their sample name.
    let c = protobuf::from_family(&fam("c", MetricType::Counter, vec![sample("c", &[], 1.0)])).unwrap();
    assert_eq!(c.name, "c");
}

// ---------------------------------------------------------------------------------------
// Property tests

/// Any f64 but -0.0, which proto3 writes as absent and so reads back as +0.0.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => (0u32..1000).prop_map(f64::from),
    ]
    .prop_map(|v| if v == 0.0 { 0.0 } else { v })
}

fn count() -> impl Strategy<Value = f64> {
    prop_oneof![(0u64..1 << 40).prop_map(|c| c as f64), (1e-3..1e12f64)]
}

fn label_set() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[a-z_][a-z0-9_.]{0,6}", "[ -~é]{1,8}"), 0..3)
        .prop_map(|v| v.into_iter().filter(|(n, _)| n != "le" && n != "quantile").collect())
}

fn opt_exemplar() -> impl Strategy<Value = Option<Exemplar>> {
    prop::option::of(
        (label_set(), value(), prop::option::of(-1_000_000_000_000_000i64..1_000_000_000_000_000))
            .prop_map(|(l, value, timestamp)| Exemplar { labels: Labels::from_pairs(l), value, timestamp }),
    )
}

#[derive(Debug, Clone)]
struct Series {
    labels: Labels,
    timestamp: Option<i64>,
    values: Vec<f64>,
    counts: Vec<f64>,
    exemplars: Vec<Option<Exemplar>>,
    created: Option<f64>,
}

fn series() -> impl Strategy<Value = Series> {
    (
        label_set(),
        prop::option::of(any::<i64>()),
        prop::collection::vec(value(), 6),
        prop::collection::vec(count(), 6),
        prop::collection::vec(opt_exemplar(), 6),
        prop::option::of(0i64..4_000_000_000_000).prop_map(|ms| ms.map(|ms| ms as f64 / 1000.0)),
    )
        .prop_map(|(l, timestamp, values, counts, exemplars, created)| Series {
            labels: Labels::from_pairs(l),
            timestamp,
            values,
            counts,
            exemplars,
            created,
        })
}

/// A flat family shaped as `to_families` shapes one.
fn classic_family() -> impl Strategy<Value = MetricFamily> {
    let types = prop::sample::select(vec![
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Unknown,
        MetricType::Summary,
        MetricType::Histogram,
        MetricType::GaugeHistogram,
    ]);
    let bounds = prop::collection::btree_set(-1000i32..1000, 0..4)
        .prop_map(|s| s.into_iter().map(|b| f64::from(b) / 8.0).collect::<Vec<_>>());
    let quantiles = prop::collection::btree_set(0u32..=100, 0..4)
        .prop_map(|s| s.into_iter().map(|q| f64::from(q) / 100.0).collect::<Vec<_>>());
    (
        types,
        "[a-z][a-z0-9_]{0,8}",
        prop::option::of("[ -~]{1,12}"),
        prop::option::of("[a-z]{1,6}"),
        prop::collection::vec(series(), 0..4),
        bounds,
        quantiles,
    )
        .prop_map(|(t, name, help, unit, series, bounds, quantiles)| {
            let mut f = MetricFamily::new(name.clone(), t);
            f.help = help;
            f.unit = unit;
            let mut seen = std::collections::HashSet::new();
            for s in series.into_iter().filter(|s| seen.insert(s.labels.clone())) {
                let mut push = |suffix: &str, labels: &Labels, value: f64, exemplar: Option<Exemplar>| {
                    f.samples.push(Sample {
                        name: format!("{name}{suffix}"),
                        labels: labels.clone(),
                        value,
                        timestamp: s.timestamp,
                        exemplar,
                    });
                };
                let with = |k: &str, v: f64| {
                    let mut b = s.labels.builder();
                    b.set(k, fmt_float(v));
                    b.into_labels()
                };
                match t {
                    MetricType::Gauge | MetricType::Unknown => push("", &s.labels, s.values[0], None),
                    MetricType::Counter => {
                        push("_total", &s.labels, s.values[0], s.exemplars[0].clone());
                        if let Some(c) = s.created {
                            push("_created", &s.labels, c, None);
                        }
                    }
                    MetricType::Summary => {
                        for (i, q) in quantiles.iter().enumerate() {
                            push("", &with("quantile", *q), s.values[i], None);
                        }
                        push("_sum", &s.labels, s.values[5], None);
                        push("_count", &s.labels, s.counts[0].floor(), None);
                        if let Some(c) = s.created {
                            push("_created", &s.labels, c, None);
                        }
                    }
                    _ => {
                        let mut cum = 0.0;
                        for (i, b) in bounds.iter().enumerate() {
                            cum += s.counts[i];
                            push("_bucket", &with("le", *b), cum, s.exemplars[i].clone());
                        }
                        let total = cum + s.counts[5];
                        push("_bucket", &with("le", f64::INFINITY), total, s.exemplars[5].clone());
                        if t == MetricType::Histogram {
                            push("_sum", &s.labels, s.values[5], None);
                            push("_count", &s.labels, total, None);
                            if let Some(c) = s.created {
                                push("_created", &s.labels, c, None);
                            }
                        } else {
                            push("_gcount", &s.labels, total, None);
                            push("_gsum", &s.labels, s.values[5], None);
                        }
                    }
                }
            }
            f
        })
}

/// The canonical `le`/`quantile` form, via a protobuf round trip of one bucket.
fn fmt_float(v: f64) -> String {
    let h = proto::Histogram { bucket: vec![bucket(v, 0)], ..Default::default() };
    let conv = protobuf::to_families(&[family(
        "x",
        proto::MetricType::Histogram,
        vec![proto::Metric { histogram: Some(Box::new(h)), ..Default::default() }],
    )]);
    conv.families[0].samples[0].labels.get("le").unwrap().to_string()
}

fn proto_timestamp() -> impl Strategy<Value = proto::Timestamp> {
    (any::<i64>(), 0i32..1_000_000_000).prop_map(|(seconds, nanos)| proto::Timestamp { seconds, nanos })
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("NaN compares unequal", |v| !v.is_nan()).prop_map(|v| if v == 0.0 { 0.0 } else { v })
}

fn proto_exemplar() -> impl Strategy<Value = proto::Exemplar> {
    (label_set(), finite(), prop::option::of(proto_timestamp())).prop_map(|(l, value, timestamp)| proto::Exemplar {
        label: l.into_iter().map(|(name, value)| proto::LabelPair { name, value }).collect(),
        value,
        timestamp,
    })
}

fn proto_histogram() -> impl Strategy<Value = proto::Histogram> {
    let spans = || {
        prop::collection::vec(
            (any::<i32>(), any::<u32>()).prop_map(|(offset, length)| proto::BucketSpan { offset, length }),
            0..3,
        )
    };
    let buckets = prop::collection::vec(
        (any::<u64>(), finite(), finite(), prop::option::of(proto_exemplar())).prop_map(|(c, cf, ub, ex)| {
            proto::Bucket { cumulative_count: c, cumulative_count_float: cf, upper_bound: ub, exemplar: ex }
        }),
        0..3,
    );
    (
        (any::<u64>(), finite(), finite(), buckets, prop::option::of(proto_timestamp())),
        (any::<i32>(), finite(), any::<u64>(), finite(), spans(), prop::collection::vec(any::<i64>(), 0..4)),
        (prop::collection::vec(finite(), 0..4), spans(), prop::collection::vec(any::<i64>(), 0..4)),
        (prop::collection::vec(finite(), 0..4), prop::collection::vec(proto_exemplar(), 0..2)),
    )
        .prop_map(|((sc, scf, sum, bucket, ct), (schema, zt, zc, zcf, ns, nd), (nc, ps, pd), (pc, ex))| {
            proto::Histogram {
                sample_count: sc,
                sample_count_float: scf,
                sample_sum: sum,
                bucket,
                created_timestamp: ct,
                schema,
                zero_threshold: zt,
                zero_count: zc,
                zero_count_float: zcf,
                negative_span: ns,
                negative_delta: nd,
                negative_count: nc,
                positive_span: ps,
                positive_delta: pd,
                positive_count: pc,
                exemplars: ex,
            }
        })
}

fn proto_metric() -> impl Strategy<Value = proto::Metric> {
    (
        label_set(),
        prop::option::of(finite().prop_map(|value| proto::Gauge { value })),
        prop::option::of((finite(), prop::option::of(proto_exemplar()), prop::option::of(proto_timestamp())).prop_map(
            |(value, exemplar, created_timestamp)| Box::new(proto::Counter { value, exemplar, created_timestamp }),
        )),
        prop::option::of(
            (
                any::<u64>(),
                finite(),
                prop::collection::vec(
                    (finite(), finite()).prop_map(|(quantile, value)| proto::Quantile { quantile, value }),
                    0..3,
                ),
                prop::option::of(proto_timestamp()),
            )
                .prop_map(|(sample_count, sample_sum, quantile, created_timestamp)| {
                    Box::new(proto::Summary { sample_count, sample_sum, quantile, created_timestamp })
                }),
        ),
        prop::option::of(finite().prop_map(|value| proto::Untyped { value })),
        prop::option::of(proto_histogram().prop_map(Box::new)),
        prop::option::of(any::<i64>()),
    )
        .prop_map(|(l, gauge, counter, summary, untyped, histogram, timestamp_ms)| proto::Metric {
            label: l.into_iter().map(|(name, value)| proto::LabelPair { name, value }).collect(),
            gauge,
            counter,
            summary,
            untyped,
            histogram,
            timestamp_ms,
        })
}

fn proto_family() -> impl Strategy<Value = proto::MetricFamily> {
    (
        "[ -~]{0,10}",
        "[ -~]{0,10}",
        prop_oneof![5 => 0i32..6, 1 => any::<i32>()],
        prop::collection::vec(proto_metric(), 0..3),
        "[a-z]{0,5}",
    )
        .prop_map(|(name, help, r#type, metric, unit)| proto::MetricFamily { name, help, r#type, metric, unit })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn classic_families_round_trip_through_protobuf(families in prop::collection::vec(classic_family(), 0..4)) {
        let protos = protobuf::from_families(&families).unwrap();
        let mut buf = Vec::new();
        protobuf::encode(&protos, &mut buf);
        let decoded = protobuf::decode(&buf).unwrap();
        let conv = protobuf::to_families(&decoded);
        prop_assert!(conv.is_lossless(), "{:?}", conv.losses);
        prop_assert_eq!(conv.families.len(), families.len());
        for (got, want) in conv.families.iter().zip(&families) {
            prop_assert!(got.bit_eq(want), "\n got: {}\nwant: {}", render(got), render(want));
        }
    }

    #[test]
    fn proto_messages_round_trip(families in prop::collection::vec(proto_family(), 0..4)) {
        let mut buf = Vec::new();
        protobuf::encode(&families, &mut buf);
        let decoded = protobuf::decode(&buf).unwrap();
        prop_assert_eq!(&decoded, &families);
        let mut again = Vec::new();
        protobuf::encode(&decoded, &mut again);
        prop_assert_eq!(again, buf);
        // Converting arbitrary messages never panics, and whatever converts comes back.
        let conv = protobuf::to_families(&decoded);
        if let Ok(back) = protobuf::from_families(&conv.families) {
            let conv2 = protobuf::to_families(&back);
            for (a, b) in conv.families.iter().zip(&conv2.families) {
                prop_assert!(a.bit_eq(b), "\n got: {}\nwant: {}", render(b), render(a));
            }
        }
    }

    #[test]
    fn truncated_streams_fail_cleanly(families in prop::collection::vec(proto_family(), 1..3), cut in any::<prop::sample::Index>()) {
        let mut buf = Vec::new();
        protobuf::encode(&families, &mut buf);
        let cut = cut.index(buf.len());
        match protobuf::decode(&buf[..cut]) {
            Ok(got) => prop_assert!(got.len() < families.len() || cut == buf.len()),
            Err(e) => prop_assert!(e.offset < cut.max(1)),
        }
    }
}

proptest! {
    /// A `_created` value read from any protobuf timestamp converts back to a timestamp that
    /// gives the same value, so flat families survive a second trip.
    #[test]
    fn created_seconds_survive_a_second_trip(seconds in -1i64 << 40..1i64 << 40, nanos in any::<i32>()) {
        let s = proto::Timestamp { seconds, nanos }.to_seconds_f64();
        let t = proto::Timestamp::from_seconds_f64(s).unwrap();
        prop_assert!((0..1_000_000_000).contains(&t.nanos));
        prop_assert_eq!(t.to_seconds_f64().to_bits(), s.to_bits(), "{:?} -> {} -> {:?}", (seconds, nanos), s, t);
    }
}
