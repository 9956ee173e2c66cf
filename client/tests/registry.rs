//! Public-API tests of the registry: registration errors, views, collectors, formats.

use ember_client::{
    Collector, Counter, ErrorKind, Family, Format, Gauge, Histogram, Info, Registry, StateSet, Summary, SummaryOpts,
    TextFormat,
};
use ember_exposition::{Labels, MetricFamily, MetricType, Sample, openmetrics, text};
use proptest::prelude::*;

#[track_caller]
fn check_err(r: ember_client::Result<()>, want: ErrorKind) {
    assert_eq!(r.unwrap_err().kind(), &want);
}

#[test]
fn registration_errors_are_typed() {
    let reg = Registry::new();
    reg.register("a", "A.", Counter::<u64>::new()).unwrap();
    check_err(reg.register("a_total", "A.", Counter::<u64>::new()), ErrorKind::AlreadyRegistered("a".into()));
    check_err(
        reg.register("a", "A.", Gauge::<i64>::new()),
        ErrorKind::ConflictingType { name: "a".into(), existing: MetricType::Counter, new: MetricType::Gauge },
    );
    check_err(
        reg.register("a_total", "A.", Gauge::<i64>::new()),
        ErrorKind::NameCollision { sample: "a_total".into(), existing: "a".into() },
    );
    check_err(reg.register("9x", "Bad.", Gauge::<i64>::new()), ErrorKind::InvalidMetricName("9x".into()));
    check_err(reg.unregister("nope"), ErrorKind::NotRegistered("nope".into()));
    reg.unregister("a_total").unwrap();
    reg.register("a_total", "A again, as a gauge.", Gauge::<i64>::new()).unwrap();
    assert!(matches!(
        Family::<Histogram>::new(&["le"]).unwrap_err().kind(),
        ErrorKind::ReservedLabelName(n) if n == "le"
    ));
    assert!(matches!(Family::<Counter>::new(&["a", "a"]).unwrap_err().kind(), ErrorKind::DuplicateLabelName(_)));
    assert!(matches!(Family::<Counter>::new(&["__x"]).unwrap_err().kind(), ErrorKind::InvalidLabelName(_)));
}

#[test]
fn prefixes_and_constant_labels() {
    let reg = Registry::new();
    let view = reg.with_prefix("app").unwrap().with_const_label("env", "prod").unwrap();
    let g = Gauge::<f64>::new();
    view.register("temperature", "Temp.", g.clone()).unwrap();
    g.set(21.5);
    assert_eq!(
        reg.encode(TextFormat::Text),
        "# HELP app_temperature Temp.\n# TYPE app_temperature gauge\napp_temperature{env=\"prod\"} 21.5\n"
    );
    check_err(
        reg.register("app_temperature", "Again.", Gauge::<f64>::new()),
        ErrorKind::AlreadyRegistered("app_temperature".into()),
    );
    view.unregister("temperature").unwrap();
    assert_eq!(reg.encode(TextFormat::Text), "");
}

struct Fixed;

impl Collector for Fixed {
    fn collect(&self) -> Vec<MetricFamily> {
        let mut f = MetricFamily::new("queue_depth", MetricType::Gauge);
        f.help = Some("Items waiting.".into());
        f.samples.push(Sample::new("queue_depth", Labels::from_pairs([("queue", "a")]), 3.0));
        vec![f]
    }
}

#[test]
fn collectors_reserve_names_and_are_scraped() {
    let reg = Registry::new();
    let id = reg.with_const_label("region", "eu").unwrap().register_collector(Fixed).unwrap();
    check_err(
        reg.register("queue_depth", "Clash.", Gauge::<i64>::new()),
        ErrorKind::NameCollision { sample: "queue_depth".into(), existing: "queue_depth".into() },
    );
    assert_eq!(
        reg.encode(TextFormat::Text),
        "# HELP queue_depth Items waiting.\n# TYPE queue_depth gauge\nqueue_depth{region=\"eu\",queue=\"a\"} 3.0\n"
    );
    let gathered = reg.gather();
    assert_eq!(gathered[0].samples[0].labels, Labels::from_pairs([("queue", "a"), ("region", "eu")]));
    assert!(reg.unregister_collector(id));
    reg.register("queue_depth", "Now mine.", Gauge::<i64>::new()).unwrap();
}

#[test]
fn openmetrics_output_has_types_created_exemplars_and_eof() {
    let reg = Registry::new();
    let c = Counter::<f64>::new();
    reg.register_with_unit("energy", "Energy used.", "joules", c.clone()).unwrap();
    c.inc_by_with_exemplar(2.5, &[("trace_id", "abc")]).unwrap();
    let info = Info::new(&[("version", "1.0")]).unwrap();
    reg.register("build_info", "Build.", info).unwrap();
    let s = StateSet::new(&["a", "b"]).unwrap();
    s.set("b", true);
    reg.register("mode", "Mode.", s).unwrap();
    let sum = Summary::new(SummaryOpts::default().quantiles(&[0.5])).unwrap();
    sum.observe(4.0);
    reg.register("size", "Size.", sum).unwrap();
    let om = reg.encode(TextFormat::OpenMetrics);
    let created = format!("{}", c.created());
    for want in [
        "# TYPE build info\nbuild_info{version=\"1.0\"} 1\n",
        "# TYPE energy_joules counter\n# UNIT energy_joules joules\nenergy_joules_total 2.5 # {trace_id=\"abc\"} 2.5 ",
        "# TYPE mode stateset\nmode{mode=\"a\"} 0\nmode{mode=\"b\"} 1\n",
        "size{quantile=\"0.5\"} 4.0",
        "size_sum 4.0\nsize_count 1\nsize_created ",
    ] {
        assert!(om.contains(want), "missing {want:?} in\n{om}");
    }
    assert!(om.contains(&format!("energy_joules_created {}", &created[..created.len().min(8)])), "{om}");
    assert!(om.ends_with("# EOF\n"));
    let parsed = openmetrics::parse(&om).unwrap();
    assert_eq!(parsed.len(), 4);
    let text_out = reg.encode(TextFormat::Text);
    assert!(!text_out.contains("_created") && !text_out.contains(" # {"), "{text_out}");
    text::parse(&text_out).unwrap();
}

#[test]
fn scrape_negotiates_the_format() {
    let reg = Registry::new();
    let c = Counter::<u64>::new();
    reg.register("hits", "Hits.", c.clone()).unwrap();
    c.inc();
    assert_eq!(reg.scrape("").unwrap().format, Format::Text004);
    let om = reg.scrape("application/openmetrics-text; version=1.0.0").unwrap();
    assert_eq!(om.content_type(), "application/openmetrics-text; version=1.0.0; charset=utf-8");
    #[cfg(feature = "protobuf")]
    {
        let pb = reg
            .scrape("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
            .unwrap();
        assert_eq!(pb.format, Format::Protobuf);
        let decoded = ember_exposition::protobuf::decode(&pb.body).unwrap();
        assert_eq!(decoded.len(), 1);
        let flat = ember_exposition::protobuf::to_families(&decoded);
        let f = &flat.families[0];
        assert_eq!(f.metric_type, MetricType::Counter);
        assert!(f.samples.iter().any(|s| s.name == "hits_total" && s.value == 1.0), "{f:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any label values and counts survive the text and OpenMetrics writers, as parsed back
    /// by ember-exposition (escaping of `\`, `"` and newlines included).
    #[test]
    fn writer_round_trips_through_the_parsers(
        children in proptest::collection::btree_map("[a-z\"\\\\\n é/{}=,]{0,8}", 0u64..1_000_000, 1..20),
        gauge in -1e12f64..1e12,
    ) {
        let reg = Registry::new();
        let fam = Family::<Counter>::new(&["v"]).unwrap();
        reg.register("c", "Help with \\ and \n newline.", fam.clone()).unwrap();
        let g = Gauge::<f64>::new();
        reg.register("g", "G.", g.clone()).unwrap();
        g.set(gauge);
        for (v, n) in &children {
            fam.with_label_values(&[v]).inc_by(*n);
        }
        for (format, parsed) in [
            (TextFormat::Text, text::parse(&reg.encode(TextFormat::Text))),
            (TextFormat::OpenMetrics, openmetrics::parse(&reg.encode(TextFormat::OpenMetrics))),
        ] {
            let families = parsed.unwrap_or_else(|e| panic!("{format:?}: {e}"));
            let c = families.iter().find(|f| f.name == "c" || f.name == "c_total").unwrap();
            let totals: Vec<_> = c.samples.iter().filter(|s| s.name == "c_total").collect();
            prop_assert_eq!(totals.len(), children.len());
            for s in totals {
                let v = s.labels.get("v").unwrap_or("");
                prop_assert_eq!(Some(&(s.value as u64)), children.get(v));
            }
            let gs = &families.iter().find(|f| f.name == "g").unwrap().samples[0];
            prop_assert_eq!(gs.value.to_bits(), gauge.to_bits());
        }
    }
}
