//! WAL damage seen through `Db::open`: flipped bytes and truncated segments never panic,
//! keep every batch before the damage, and report what was dropped in the open result
//! and the metrics.

use std::sync::atomic::Ordering;

use ember_exposition::{Matcher, labels};
use ember_tsdb::db::Db;
use ember_tsdb::storage::{AppendOptions, Value, collect_points};
use ember_tsdb::wal::{SyncPolicy, WalOptions};

fn opts() -> WalOptions {
    WalOptions { segment_size: 1024, sync: SyncPolicy::Never, compress: false }
}

/// Writes `n` batches; batch b puts (b, b) into 3 series.
fn write(dir: &std::path::Path, n: i64) {
    let db = Db::builder(dir).wal(opts()).open().unwrap();
    for b in 0..n {
        let mut app = db.appender();
        for i in 0..3 {
            let l = labels! {"__name__" => "m", "i" => i.to_string().as_str()};
            app.append(None, &l, b, Value::Float(b as f64), AppendOptions::NONE).unwrap();
        }
        app.commit().unwrap();
    }
}

/// The batches present, checked to be a prefix 0..n in every series.
fn prefix(db: &Db) -> i64 {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let set = q.select(true, None, &[Matcher::equal("__name__", "m")]).collect_all().unwrap().value;
    let lens: Vec<usize> = set
        .iter()
        .map(|s| {
            let pts = collect_points(s.iter().as_mut());
            for (k, p) in pts.iter().enumerate() {
                assert_eq!((p.t, p.v.as_float().unwrap()), (k as i64, k as f64));
            }
            pts.len()
        })
        .collect();
    assert!(lens.windows(2).all(|w| w[0].abs_diff(w[1]) <= 1), "batches are whole: {lens:?}");
    lens.iter().copied().min().unwrap_or(0) as i64
}

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> =
        std::fs::read_dir(dir.join("wal")).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    v.sort();
    v
}

#[test]
fn flipped_byte_in_a_middle_segment_truncates_there_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 200);
    let segs = segments(dir.path());
    assert!(segs.len() >= 4, "{segs:?}");
    let victim = &segs[1];
    let mut b = std::fs::read(victim).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x80;
    std::fs::write(victim, &b).unwrap();

    let db = Db::builder(dir.path()).wal(opts()).open().unwrap();
    let r = &db.open_report().replay;
    let repair = r.repair.as_ref().expect("repair reported");
    assert_eq!(&repair.file, victim);
    assert!(repair.offset <= at as u64);
    assert!(r.dropped_records > 0);
    assert_eq!(db.metrics().wal_records_dropped.load(Ordering::Relaxed), r.dropped_records);
    assert_eq!(db.metrics().wal_corruptions.load(Ordering::Relaxed), 1);
    let n = prefix(&db);
    assert!(n > 0 && n < 200, "{n}");
    // New commits after the repair survive another reopen.
    let mut app = db.appender();
    app.append(None, &labels! {"__name__" => "after"}, 1_000, Value::Float(1.0), AppendOptions::NONE).unwrap();
    app.commit().unwrap();
    drop(db);
    let db = Db::builder(dir.path()).wal(opts()).open().unwrap();
    assert_eq!(db.open_report().replay.dropped_records, 0);
    assert_eq!(prefix(&db), n);
    assert_eq!(db.head_series(&[Matcher::equal("__name__", "after")]).len(), 1);
}

#[test]
fn every_truncation_and_many_flips_of_the_last_segment_are_survived() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 40);
    let segs = segments(dir.path());
    let last = segs.iter().rev().find(|p| std::fs::metadata(p).unwrap().len() > 0).unwrap().clone();
    let orig = std::fs::read(&last).unwrap();
    let backup: Vec<(std::path::PathBuf, Vec<u8>)> =
        segs.iter().map(|p| (p.clone(), std::fs::read(p).unwrap())).collect();
    let restore = || {
        for (p, b) in &backup {
            std::fs::write(p, b).unwrap();
        }
        for p in segments(dir.path()) {
            if !backup.iter().any(|(q, _)| *q == p) {
                std::fs::remove_file(p).unwrap();
            }
        }
    };
    for cut in (0..orig.len()).step_by(13) {
        restore();
        std::fs::write(&last, &orig[..cut]).unwrap();
        let db = Db::builder(dir.path()).wal(opts()).open().unwrap();
        let n = prefix(&db);
        assert!(n <= 40);
        let r = &db.open_report().replay;
        assert!(r.repair.is_none(), "a cut at {cut} is a torn tail, not corruption: {r:?}");
    }
    for at in (0..orig.len()).step_by(17) {
        restore();
        let mut b = orig.clone();
        b[at] ^= 0x08;
        std::fs::write(&last, &b).unwrap();
        let db = Db::builder(dir.path()).wal(opts()).open().unwrap();
        assert!(prefix(&db) <= 40);
    }
}
