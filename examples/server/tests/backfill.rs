//! `ember tsdb create-blocks-from openmetrics` and `ember tsdb analyze` through the
//! library API: round trip into `Db`, errors with line numbers, no partial output.

use std::path::Path;

use ember_exposition::{Matcher, labels};
use ember_server::cli::tsdb::analyze::{analyze_block, run as analyze_run};
use ember_server::cli::tsdb::backfill::{BackfillErrorKind, BackfillOptions, create_blocks_from_openmetrics};
use ember_server::cli::tsdb::generate::{GenerateOptions, generate};
use ember_tsdb::block::Block;
use ember_tsdb::db::Db;
use ember_tsdb::storage::{Point, collect_points};

const H: i64 = 3_600_000;

fn opts() -> BackfillOptions {
    BackfillOptions { threads: 2, ..BackfillOptions::default() }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn round_trip_into_db() {
    let tmp = tempfile::tempdir().unwrap();
    // Two series over 5 h (three 2 h windows), one with escapes in a label value.
    let mut text = String::from("# HELP up Up.\n# TYPE up gauge\n");
    for i in 0..(5 * 240) {
        let t = 1_700_000_000_000i64 + i * 15_000;
        text.push_str(&format!("up{{job=\"a\\\"b\",instance=\"x\"}} {} {}.{:03}\n", i % 2, t / 1000, t % 1000));
    }
    text.push_str("# TYPE req counter\n");
    for i in 0..100 {
        let t = 1_700_000_000_000i64 + i * 60_000 + 7;
        text.push_str(&format!("req_total{{code=\"200\"}} {}.5 {}.{:03}\n", i * 3, t / 1000, t % 1000));
    }
    text.push_str("# EOF\n");
    let input = write(tmp.path(), "in.om", &text);
    let out = tmp.path().join("data");
    let metas = create_blocks_from_openmetrics(&input, &out, &opts()).unwrap();
    assert_eq!(metas.len(), 3);
    for m in &metas {
        assert_eq!(m.min_time.div_euclid(2 * H), (m.max_time - 1).div_euclid(2 * H), "{m:?}");
        Block::open(&out.join(&m.ulid)).unwrap().verify().unwrap();
    }
    assert_eq!(metas.iter().map(|m| m.stats.num_samples).sum::<u64>(), 1300);
    assert_eq!(entries(&out).len(), 3, "only the blocks: {:?}", entries(&out));

    let db = Db::builder(&out).without_wal().open().unwrap();
    assert_eq!(db.blocks().len(), 3);
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let set = q.select(true, None, &[Matcher::equal("__name__", "up")]).collect_all().unwrap().value;
    assert_eq!(set.len(), 1);
    assert_eq!(set[0].labels(), &labels! {"__name__" => "up", "instance" => "x", "job" => "a\"b"});
    let pts = collect_points(set[0].iter().as_mut());
    let want: Vec<Point> = (0..1200).map(|i| Point::float(1_700_000_000_000 + i * 15_000, (i % 2) as f64)).collect();
    assert_eq!(pts, want);
    let set = q.select(true, None, &[Matcher::equal("code", "200")]).collect_all().unwrap().value;
    let pts = collect_points(set[0].iter().as_mut());
    assert_eq!(pts.len(), 100);
    assert_eq!(pts[99], Point::float(1_700_000_000_000 + 99 * 60_000 + 7, 297.5));

    let newest = Block::open(&out.join(&metas[2].ulid)).unwrap();
    let a = analyze_block(&newest, 5).unwrap();
    assert_eq!((a.series, a.label_names), (1, 3));
    let (mut so, mut se) = (Vec::new(), Vec::new());
    assert_eq!(analyze_run(&out, None, 5, &mut so, &mut se), 0);
    let so = String::from_utf8(so).unwrap();
    assert!(so.starts_with(&format!("Block ID: {}\n", metas[2].ulid)), "{so}");
    assert!(so.contains("\nHighest cardinality metric names:\n1 up\n"), "{so}");
}

#[test]
fn generated_data_set_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let g = GenerateOptions { series: 300, duration_ms: 5 * H, ..GenerateOptions::default() };
    let mut text = Vec::new();
    let n = generate(&g, &mut text).unwrap();
    let input = tmp.path().join("gen.om");
    std::fs::write(&input, &text).unwrap();
    let out = tmp.path().join("data");
    let metas = create_blocks_from_openmetrics(&input, &out, &opts()).unwrap();
    assert_eq!(metas.iter().map(|m| m.stats.num_samples).sum::<u64>(), n);
    // Every series reads back exactly as the reference parser reads the file.
    let families = ember_exposition::openmetrics::parse(std::str::from_utf8(&text).unwrap()).unwrap();
    let db = Db::builder(&out).without_wal().open().unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let sample = &families[0].samples;
    let first = &sample[0];
    let mut ms: Vec<Matcher> = vec![Matcher::equal("__name__", first.name.as_str())];
    ms.extend(first.labels.iter().map(|l| Matcher::equal(l.name.as_str(), l.value.as_str())));
    let set = q.select(true, None, &ms).collect_all().unwrap().value;
    assert_eq!(set.len(), 1);
    let want: Vec<Point> = sample
        .iter()
        .filter(|s| s.labels == first.labels)
        .map(|s| Point::float(s.timestamp.unwrap(), s.value))
        .collect();
    assert_eq!(collect_points(set[0].iter().as_mut()), want);
    let total: usize = families.iter().map(|f| f.samples.len()).sum();
    assert_eq!(total as u64, n);
}

#[track_caller]
fn check_error(input: &str, line: usize, want: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "bad.om", input);
    let out = tmp.path().join("data");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep"), "x").unwrap();
    let err = create_blocks_from_openmetrics(&path, &out, &opts()).unwrap_err();
    assert_eq!(err.line, line, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(want), "{msg:?} lacks {want:?}");
    assert!(msg.starts_with(&format!("{}:{line}", path.display())), "{msg}");
    assert_eq!(entries(&out), ["keep"], "nothing else written");
}

#[test]
fn bad_input_errors_name_the_line() {
    check_error("a 1 1\na 2\n# EOF\n", 2, "expected timestamp for series a");
    check_error("a 1 1\na{x=\"1\"} 1 2\nb 1 3\n", 4, "expected '# EOF'");
    check_error("# TYPE a gauge\na 1 1\na 2 0.5\n# EOF\n", 3, "timestamps of a metric must not decrease");
    check_error("a 1 1\na 2 1\n# EOF\n", 2, "duplicate sample for timestamp");
    check_error("a 1 1\nb 1 1\na 1 0.5\n# EOF\n", 3, "out of order sample for series a");
    check_error("a{x=\"1\" 1 1\n# EOF\n", 1, "expected");
}

#[test]
fn errors_late_in_a_big_file_have_the_right_line() {
    // Several pieces: the error is far past the first cut.
    let mut text = String::new();
    let mut line = 0;
    for f in 0..3000 {
        text.push_str(&format!("# TYPE m{f} gauge\n"));
        line += 1;
        for i in 0..200 {
            text.push_str(&format!("m{f}{{instance=\"host-{f}.example.org:9100\",job=\"node\"}} {i} {}\n", 1000 + i));
            line += 1;
        }
    }
    text.push_str("broken line here\n# EOF\n");
    line += 1;
    assert!(text.len() > 20 << 20, "{}", text.len());
    check_error(&text, line, "expected");
}

#[test]
fn duplicates_with_equal_values_are_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write(tmp.path(), "in.om", "a 1 1\na 1 1\na 2 2\n# EOF\n");
    let out = tmp.path().join("data");
    let metas = create_blocks_from_openmetrics(&input, &out, &opts()).unwrap();
    assert_eq!(metas[0].stats.num_samples, 2);
}

#[test]
fn max_block_duration_widens_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..(5 * 60) {
        text.push_str(&format!("a 1 {}\n", 1_700_006_400 + i * 60));
    }
    text.push_str("# EOF\n");
    let input = write(tmp.path(), "in.om", &text);
    let out = tmp.path().join("data");
    let o = BackfillOptions { max_block_duration_ms: 7 * H, ..opts() };
    let metas = create_blocks_from_openmetrics(&input, &out, &o).unwrap();
    // 1_700_006_400 s is 2 h-aligned but not 6 h-aligned: 5 h fit two 6 h windows.
    assert!(metas.len() <= 2, "{metas:?}");
    let bad = BackfillOptions { max_block_duration_ms: H, ..opts() };
    let e = create_blocks_from_openmetrics(&input, &tmp.path().join("x"), &bad).unwrap_err();
    assert!(matches!(e.kind, BackfillErrorKind::BlockDuration(_)));
}
