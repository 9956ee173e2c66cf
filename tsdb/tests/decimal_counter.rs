//! Regression: an integer counter stepping by 100 across a chunk boundary, through the head
//! and through a reopened database.

use ember_exposition::{Matcher, labels};
use ember_tsdb::db::Db;
use ember_tsdb::head::Head;
use ember_tsdb::storage::{AppendOptions, Point, Queryable, Value, collect_points};

fn want(n: u64) -> Vec<Point> {
    (0..n).map(|b| Point::float(b as i64 * 10, (b * 100) as f64)).collect()
}

fn read(q: &dyn Queryable) -> Vec<Point> {
    let q = q.querier(i64::MIN, i64::MAX).unwrap();
    let s = q.select(true, None, &[Matcher::equal("__name__", "c")]).collect_all().unwrap().value;
    collect_points(s[0].iter().as_mut())
}

#[test]
fn stepping_counter_round_trips_in_head() {
    let head = Head::builder().build();
    let l = labels! {"__name__" => "c"};
    for b in 0..300u64 {
        let mut app = head.appender();
        app.append(None, &l, b as i64 * 10, Value::Float((b * 100) as f64), AppendOptions::NONE).unwrap();
        app.commit().unwrap();
    }
    let got = read(&head);
    assert_eq!(got, want(300));
}

#[test]
fn stepping_counter_round_trips_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let l = labels! {"__name__" => "c"};
    for round in 0..3u64 {
        let db = Db::builder(dir.path()).open().unwrap();
        for b in round * 100..(round + 1) * 100 {
            let mut app = db.appender();
            app.append(None, &l, b as i64 * 10, Value::Float((b * 100) as f64), AppendOptions::NONE).unwrap();
            app.commit().unwrap();
        }
        assert_eq!(read(&db), want((round + 1) * 100), "round {round}");
    }
}
