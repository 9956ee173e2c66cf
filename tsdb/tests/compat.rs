//! Golden data of format version 1 (`testdata/compat/v1/db`: blocks with tombstones, a
//! WAL with a checkpoint and segments), opened by this test forever: a later version must
//! keep reading what this one wrote. `testdata/compat/v1-packed/db` is the same data
//! written once blocks held packed chunks (encoding 0x42).
//!
//! Write a new golden directory (only when the format changes, into a new directory; never
//! over an existing one): `EMBER_WRITE_GOLDEN=<dir under testdata/compat> cargo test -p
//! ember-tsdb --test compat -- --ignored`

use std::path::{Path, PathBuf};
use std::time::Duration;

use ember_exposition::{Labels, Matcher, labels};
use ember_tsdb::db::Db;
use ember_tsdb::storage::{AppendOptions, Point, Value, collect_points};
use ember_tsdb::wal::SyncPolicy;

const HOUR: i64 = 3600 * 1000;

fn golden_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/compat").join(name).join("db")
}

/// 12 series, a sample every 5 minutes for 5 h; deleted: job="a" in [1 h, 2 h].
fn data() -> Vec<(Labels, Vec<Point>)> {
    let mut out = Vec::new();
    for i in 0..12u32 {
        let job = if i % 2 == 0 { "a" } else { "b" };
        let l = labels! {"__name__" => "golden", "job" => job, "i" => i.to_string().as_str()};
        let pts = (0..60).map(|k| Point::float(k * 300_000 + i as i64, (k as f64) * 1.5 + i as f64)).collect();
        out.push((l, pts));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn deleted() -> (Matcher, i64, i64) {
    (Matcher::equal("job", "a"), HOUR, 2 * HOUR)
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

#[test]
#[ignore]
fn write_golden() {
    let Some(name) = std::env::var_os("EMBER_WRITE_GOLDEN") else { return };
    let dir = golden_dir(name.to_str().unwrap());
    assert!(!dir.exists(), "{} exists: golden data is never rewritten", dir.display());
    let db = Db::builder(&dir).sync(SyncPolicy::Never).retention(Duration::from_secs(100 * 3600)).open().unwrap();
    let data = data();
    for k in 0..60 {
        let mut app = db.appender();
        for (l, pts) in &data {
            let p = pts[k];
            app.append(None, l, p.t, p.v, AppendOptions::NONE).unwrap();
        }
        app.commit().unwrap();
    }
    db.compact().unwrap();
    let (m, a, b) = deleted();
    db.delete(a, b, &[m]).unwrap();
    db.close().unwrap();
    drop(db);
    std::fs::remove_file(dir.join("lock")).unwrap();
}

#[test]
fn compat_v1_opens_forever() {
    check_golden("v1");
}

#[test]
fn compat_v1_packed_opens_forever() {
    check_golden("v1-packed");
}

#[track_caller]
fn check_golden(name: &str) {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&golden_dir(name), tmp.path());
    let db = Db::builder(tmp.path()).sync(SyncPolicy::Never).open().unwrap();
    let report = db.open_report();
    assert!(report.corrupt_blocks.is_empty(), "{report:?}");
    assert_eq!(report.replay.dropped_records, 0);
    assert!(!db.blocks().is_empty(), "golden data has blocks");
    assert!(db.head().min_time().is_some(), "golden data has a WAL");
    let (m, a, b) = deleted();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let got = q.select(true, None, &[Matcher::equal("__name__", "golden")]).collect_all().unwrap().value;
    let want: Vec<(Labels, Vec<Point>)> = data()
        .into_iter()
        .map(|(l, mut pts)| {
            if m.matches(l.get_or_empty(m.name())) {
                pts.retain(|p| p.t < a || p.t > b);
            }
            (l, pts)
        })
        .collect();
    assert_eq!(got.len(), want.len());
    for (s, (l, pts)) in got.iter().zip(&want) {
        assert_eq!(s.labels(), l);
        assert_eq!(&collect_points(s.iter().as_mut()), pts, "{l}");
    }
    let _ = Value::Float(0.0);
}
