//! Exemplar storage through the database: committed with their sample batch, dropped on
//! rollback, selected by matchers, resized, and replayed from the WAL.

use std::num::NonZeroUsize;

use ember_exposition::{Exemplar, Labels, Matcher, labels};
use ember_tsdb::db::Db;
use ember_tsdb::head::{HeadBuilder, SeriesExemplars};
use ember_tsdb::storage::{AppendOptions, Value};

fn ex(trace: &str, v: f64, t: Option<i64>) -> Exemplar {
    Exemplar { labels: labels! {"trace_id" => trace}, value: v, timestamp: t }
}

fn opts(e: Exemplar) -> AppendOptions {
    AppendOptions { exemplars: vec![e], ..AppendOptions::default() }
}

fn open(dir: &std::path::Path, max: usize) -> Db {
    Db::builder(dir).head(HeadBuilder::default().max_exemplars(NonZeroUsize::new(max).unwrap())).open().unwrap()
}

/// (trace, value, timestamp) of an exemplar.
type Ex = (String, f64, i64);

/// (series labels, exemplars) per series.
fn summary(got: &[SeriesExemplars]) -> Vec<(Labels, Vec<Ex>)> {
    got.iter()
        .map(|s| {
            let ex = s
                .exemplars
                .iter()
                .map(|e| (e.labels.get("trace_id").unwrap_or("").to_owned(), e.value, e.timestamp.unwrap()))
                .collect();
            (s.labels.clone(), ex)
        })
        .collect()
}

fn all(name: &str) -> Vec<Vec<Matcher>> {
    vec![vec![Matcher::equal("__name__", name)]]
}

#[test]
fn committed_with_the_batch_rolled_back_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), 10);
    let a = labels! {"__name__" => "req_total", "job" => "a"};
    let b = labels! {"__name__" => "req_total", "job" => "b"};
    let mut app = db.appender();
    app.append(None, &a, 1_000, Value::Float(1.0), &opts(ex("t1", 0.5, Some(900)))).unwrap();
    app.append(None, &b, 1_000, Value::Float(1.0), &opts(ex("t2", 0.7, None))).unwrap();
    assert!(db.query_exemplars(0, 5_000, &all("req_total")).is_empty(), "not visible before commit");
    app.commit().unwrap();

    let mut app = db.appender();
    app.append(None, &a, 2_000, Value::Float(2.0), &opts(ex("lost", 9.0, Some(2_000)))).unwrap();
    app.rollback().unwrap();

    let got = db.query_exemplars(0, 5_000, &all("req_total"));
    assert_eq!(
        summary(&got),
        vec![(a.clone(), vec![("t1".into(), 0.5, 900)]), (b.clone(), vec![("t2".into(), 0.7, 1_000)])],
        "an exemplar without timestamp takes the sample's"
    );
    // The range and the matchers select.
    assert_eq!(db.query_exemplars(950, 5_000, &all("req_total")).len(), 1);
    let job_b = vec![vec![Matcher::equal("job", "b")], vec![Matcher::equal("job", "nope")]];
    assert_eq!(summary(&db.query_exemplars(0, 5_000, &job_b))[0].0, b);
    assert_eq!(db.head().exemplar_store().stats().exemplars_in_storage, 2);
}

#[test]
fn per_series_order_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), 10);
    let a = labels! {"__name__" => "x"};
    let mut app = db.appender();
    let r = app.append(None, &a, 1_000, Value::Float(1.0), &opts(ex("t", 1.0, Some(1_000)))).unwrap();
    app.commit().unwrap();
    let mut app = db.appender();
    // Same exemplar again with the next sample: a silent duplicate; an older one: out of order.
    app.append(Some(r), &a, 2_000, Value::Float(1.0), &opts(ex("t", 1.0, Some(1_000)))).unwrap();
    app.append(Some(r), &a, 3_000, Value::Float(1.0), &opts(ex("old", 2.0, Some(500)))).unwrap();
    app.append(Some(r), &a, 4_000, Value::Float(1.0), &opts(ex("long", 2.0, Some(4_000)))).unwrap();
    let too_long = Exemplar { labels: labels! {"trace_id" => "x".repeat(200)}, value: 3.0, timestamp: Some(5_000) };
    app.append(Some(r), &a, 5_000, Value::Float(1.0), &opts(too_long)).unwrap();
    app.commit().unwrap();
    let got = summary(&db.query_exemplars(0, 10_000, &all("x")));
    assert_eq!(got[0].1, vec![("t".into(), 1.0, 1_000), ("long".into(), 2.0, 4_000)]);
    let st = db.head().exemplar_store().stats();
    assert_eq!((st.out_of_order_total, st.invalid_total, st.appended_total), (1, 1, 2));
}

#[test]
fn disabled_store_keeps_nothing_and_resize_enables_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder(dir.path()).open().unwrap();
    let a = labels! {"__name__" => "x"};
    let mut app = db.appender();
    app.append(None, &a, 1_000, Value::Float(1.0), &opts(ex("t", 1.0, None))).unwrap();
    app.commit().unwrap();
    assert!(db.query_exemplars(0, 10_000, &all("x")).is_empty());
    db.head().resize_exemplars(4);
    let mut app = db.appender();
    app.append(None, &a, 2_000, Value::Float(1.0), &opts(ex("t", 1.0, None))).unwrap();
    app.commit().unwrap();
    assert_eq!(db.query_exemplars(0, 10_000, &all("x")).len(), 1);
}

#[test]
fn wal_replay_restores_exemplars() {
    let dir = tempfile::tempdir().unwrap();
    let a = labels! {"__name__" => "h_bucket", "le" => "1"};
    {
        let db = open(dir.path(), 3);
        for i in 0..5i64 {
            let mut app = db.appender();
            let t = 1_000 * (i + 1);
            app.append(None, &a, t, Value::Float(i as f64), &opts(ex(&format!("t{i}"), 0.1, Some(t)))).unwrap();
            app.commit().unwrap();
        }
        db.close().unwrap();
    }
    let db = open(dir.path(), 3);
    assert_eq!(db.open_report().replay.exemplars, 5);
    let got = summary(&db.query_exemplars(0, 10_000, &all("h_bucket")));
    let traces: Vec<&str> = got[0].1.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(traces, ["t2", "t3", "t4"], "the newest that fit");
    drop(db);
    // Opened without exemplar storage, the records are read and ignored.
    let db = Db::builder(dir.path()).open().unwrap();
    assert_eq!(db.head().num_series(), 1);
    assert!(db.query_exemplars(0, 10_000, &all("h_bucket")).is_empty());
}

#[test]
fn checkpoint_keeps_recent_exemplars() {
    let dir = tempfile::tempdir().unwrap();
    let a = labels! {"__name__" => "x"};
    {
        let db = open(dir.path(), 10);
        for t in [1_000, 5_000] {
            let mut app = db.appender();
            app.append(None, &a, t, Value::Float(1.0), &opts(ex(&format!("t{t}"), 1.0, Some(t)))).unwrap();
            app.commit().unwrap();
        }
        db.truncate_head(3_000).unwrap();
        db.close().unwrap();
    }
    let db = open(dir.path(), 10);
    let got = summary(&db.query_exemplars(0, 10_000, &all("x")));
    assert_eq!(got[0].1, vec![("t5000".into(), 1.0, 5_000)]);
}
