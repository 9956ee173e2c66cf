//! The composed path gives the answers the simulated targets imply, in every format.

use ember_benches::{Fleet, Pipeline, PipelineErrorKind};
use ember_exposition::format::Format;
use ember_promql::engine::Value;

fn vector(p: &Pipeline, q: &str, t: i64) -> Vec<(String, f64)> {
    match p.instant_query(q, t).expect("the query runs").value {
        Value::Vector(v) => v.into_iter().map(|s| (s.metric.to_string(), s.f)).collect(),
        other => panic!("{q}: not a vector: {other:?}"),
    }
}

#[test]
fn every_format_stores_what_the_targets_expose() {
    for format in [Format::Text004, Format::OpenMetrics100, Format::Protobuf] {
        let dir = tempfile::tempdir().unwrap();
        let mut fleet = Fleet::new(2, 11);
        let mut p = Pipeline::open(dir.path(), fleet.len()).unwrap();
        let mut first = None;
        for i in 0..8 {
            fleet.tick();
            let st = p.scrape(&fleet.bodies(format), format, i * 15_000).unwrap();
            assert_eq!(st.rejected, 0, "{format:?}");
            // The first scrape creates every series; the later ones add none and the same samples.
            match first {
                None => {
                    assert_eq!(st.series_added, st.samples, "{format:?}");
                    first = Some(st.samples);
                }
                Some(n) => {
                    assert_eq!(st.series_added, 0, "{format:?}");
                    assert_eq!(st.samples, n, "{format:?}");
                }
            }
        }
        let t = 7 * 15_000;
        let cpus = vector(&p, "count by (instance) (node_cpu_seconds_total)", t);
        assert_eq!(cpus.len(), 2, "{format:?}");
        assert!(cpus.iter().all(|(_, v)| *v == 64.0), "{format:?}: {cpus:?}");
        // Each of the 8 CPUs counts exactly 15 s per 15 s tick, split over the modes.
        let busy = vector(&p, "sum by (instance) (rate(node_cpu_seconds_total[1m]))", t);
        assert!(busy.iter().all(|(_, v)| (v - 8.0).abs() < 1e-9), "{format:?}: {busy:?}");
        // Latency quantiles fall inside the bucket layout.
        let p99 =
            vector(&p, "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))", t);
        assert_eq!(p99.len(), 1, "{format:?}");
        assert!(p99[0].1 > 0.0 && p99[0].1 <= 10.0, "{format:?}: {p99:?}");
    }
}

#[test]
fn text_samples_are_the_body_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut fleet = Fleet::new(1, 3);
    fleet.tick();
    let bodies = fleet.bodies(Format::Text004);
    let lines = std::str::from_utf8(&bodies[0]).unwrap().lines().filter(|l| !l.starts_with('#')).count();
    let mut p = Pipeline::open(dir.path(), 1).unwrap();
    assert_eq!(p.scrape(&bodies, Format::Text004, 0).unwrap().samples, lines as u64);
}

#[test]
fn more_bodies_than_targets_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(2, 5);
    let mut p = Pipeline::open(dir.path(), 1).unwrap();
    let e = p.scrape(&fleet.bodies(Format::Text004), Format::Text004, 0).unwrap_err();
    assert!(matches!(e.kind(), PipelineErrorKind::TooManyBodies { bodies: 2, targets: 1 }), "{e}");
}

#[test]
fn a_bad_body_is_reported_with_its_target_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pipeline::open(dir.path(), 2).unwrap();
    let bodies = vec![b"ok_metric 1\n".to_vec(), b"bad metric{ 1\n".to_vec()];
    let e = p.scrape(&bodies, Format::Text004, 0).unwrap_err();
    assert!(matches!(e.kind(), PipelineErrorKind::Scrape(1, _)), "{e}");
    assert_eq!(vector(&p, "count(ok_metric)", 0), vec![("{}".to_string(), 1.0)]);
    assert!(vector(&p, r#"count({__name__=~"bad.*"})"#, 0).is_empty());
}
