//! `Db::clean_tombstones`: deleted data leaves the disk for good, other data stays, blocks
//! that become empty go, and a crash between writing the rewritten block and removing the old
//! one neither resurrects deleted samples nor shows data twice after reopening.

use std::path::Path;

use ember_exposition::{Labels, Matcher, labels};
use ember_tsdb::db::Db;
use ember_tsdb::storage::{AppendOptions, Point, Value, collect_points};

const SERIES: usize = 10;
const STEP: i64 = 60_000;
const END: i64 = 6 * 3_600_000;

fn series(i: usize) -> Labels {
    labels! {"__name__" => "m", "i" => i.to_string().as_str()}
}

/// Every sample of every `m` series, by series index.
fn read_all(db: &Db) -> Vec<Vec<Point>> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut out = vec![Vec::new(); SERIES];
    for s in q.select(true, None, &[Matcher::equal("__name__", "m")]).collect_all().unwrap().value {
        let i: usize = s.labels().get("i").unwrap().parse().unwrap();
        out[i] = collect_points(s.iter().as_mut());
    }
    out
}

fn expected(i: usize) -> Vec<Point> {
    (0..END / STEP).map(|k| Point::float(k * STEP, (k * 10 + i as i64) as f64)).collect()
}

/// Ten series over six hours: two blocks ([0, 2h), [2h, 4h)) and the rest in the head; then
/// series 0-4 deleted everywhere.
fn setup(dir: &Path) -> Db {
    let db = Db::builder(dir).open().unwrap();
    let mut app = db.appender();
    for k in 0..END / STEP {
        for i in 0..SERIES {
            let v = Value::Float((k * 10 + i as i64) as f64);
            app.append(None, &series(i), k * STEP, v, AppendOptions::NONE).unwrap();
        }
    }
    app.commit().unwrap();
    assert_eq!(db.compact().unwrap(), 2);
    assert_eq!(db.blocks().len(), 2);
    db.delete(i64::MIN, i64::MAX, &[Matcher::regex("i", "[0-4]").unwrap()]).unwrap();
    assert!(db.blocks().iter().all(|b| b.tombstone_count() == 5));
    db
}

#[track_caller]
fn check_data(db: &Db, path: &str) {
    let data = read_all(db);
    for (i, pts) in data.iter().enumerate() {
        if i < 5 {
            assert!(pts.is_empty(), "{path}: deleted series {i} came back with {} samples", pts.len());
        } else {
            assert_eq!(pts, &expected(i), "{path}: series {i} changed");
        }
    }
}

fn blocks_size(db: &Db) -> u64 {
    db.blocks().iter().map(|b| b.size()).sum()
}

/// Block-like directories (26-character names) on disk, and any leftovers.
fn dirs(dir: &Path) -> (usize, Vec<String>) {
    let mut blocks = 0;
    let mut other = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.len() == 26 {
            blocks += 1;
        } else if name.ends_with(".tmp") || name.ends_with(".deleted") {
            other.push(name);
        }
    }
    (blocks, other)
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

#[test]
fn deleted_data_leaves_the_disk_and_stays_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let before;
    {
        let db = setup(dir.path());
        check_data(&db, "before cleaning");
        before = blocks_size(&db);
        let st = db.clean_tombstones().unwrap();
        assert_eq!((st.blocks_rewritten, st.blocks_removed), (2, 0));
        assert!(db.blocks().iter().all(|b| b.tombstone_count() == 0));
        for b in db.blocks() {
            assert_eq!(b.index_series().unwrap().len(), 5, "only series 5-9 are left in {}", b.meta().ulid);
            b.verify().unwrap();
        }
        let after = blocks_size(&db);
        eprintln!("bytes in blocks: {before} before cleaning, {after} after");
        // Half the series go: their chunks and index entries leave, meta.json and the symbol
        // table stay, so with compact (packed) chunks the total lands a little above half.
        assert!(after * 4 < before * 3, "on-disk size shrinks: {before} -> {after} bytes");
        check_data(&db, "after cleaning");
        assert_eq!(db.clean_tombstones().unwrap(), Default::default(), "nothing left to clean");
    }
    let db = Db::builder(dir.path()).open().unwrap();
    assert_eq!(dirs(dir.path()), (2, vec![]));
    check_data(&db, "after reopening");
    assert!(blocks_size(&db) * 4 < before * 3);
}

#[test]
fn blocks_left_empty_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let db = setup(dir.path());
    // Everything in the first block's range: it has nothing left.
    db.delete(0, 2 * 3_600_000 - 1, &[Matcher::equal("__name__", "m")]).unwrap();
    let st = db.clean_tombstones().unwrap();
    assert_eq!((st.blocks_rewritten, st.blocks_removed), (1, 1));
    assert_eq!(db.blocks().len(), 1);
    assert_eq!(db.blocks()[0].meta().min_time, 2 * 3_600_000);
    drop(db);
    assert_eq!(dirs(dir.path()), (1, vec![]));
    let db = Db::builder(dir.path()).open().unwrap();
    let data = read_all(&db);
    for (i, pts) in data.iter().enumerate() {
        let want: Vec<Point> =
            if i < 5 { vec![] } else { expected(i).into_iter().filter(|p| p.t >= 2 * 3_600_000).collect() };
        assert_eq!(pts, &want, "series {i}");
    }
}

/// The state a crash leaves after the rewritten blocks were renamed into place but before
/// the old ones were removed: both on disk. Opening removes the old ones.
#[test]
fn crash_between_write_and_remove_loses_nothing_and_shows_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let old_ids: Vec<String>;
    {
        let db = setup(dir.path());
        old_ids = db.blocks().iter().map(|b| b.meta().ulid.clone()).collect();
        for b in db.blocks() {
            copy_dir(b.dir(), &saved.path().join(&b.meta().ulid));
        }
        db.clean_tombstones().unwrap();
    }
    for id in &old_ids {
        copy_dir(&saved.path().join(id), &dir.path().join(id));
    }
    assert_eq!(dirs(dir.path()).0, 4, "old and new blocks side by side");
    let db = Db::builder(dir.path()).open().unwrap();
    assert_eq!(dirs(dir.path()), (2, vec![]), "the replaced blocks are gone");
    assert!(db.blocks().iter().all(|b| !old_ids.contains(&b.meta().ulid)));
    check_data(&db, "after the simulated crash");
}
