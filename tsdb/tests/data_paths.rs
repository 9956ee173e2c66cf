//! One set of queries run over every data path — head only, block only, head and blocks
//! merged, after WAL replay, after compaction (leveled merges), after reopening — each
//! failure naming the path. Plus block corruption and deletion tests.

use std::path::Path;
use std::time::Duration;

use ember_exposition::{Labels, Matcher, labels};
use ember_tsdb::db::Db;
use ember_tsdb::storage::{AppendOptions, Point, Querier, Value, collect_points};
use ember_tsdb::wal::SyncPolicy;

const HOUR: i64 = 3600 * 1000;

/// Deterministic data: 30 series, a sample every 60 s for `hours`, some gaps, stale markers.
fn data(hours: i64) -> Vec<(Labels, Vec<Point>)> {
    let mut out = Vec::new();
    for i in 0..30u64 {
        let job = ["api", "db", "web"][i as usize % 3];
        let l = labels! {"__name__" => if i % 2 == 0 { "up" } else { "req_total" }, "job" => job, "i" => i.to_string().as_str()};
        let mut pts = Vec::new();
        let mut t = (i as i64) * 1000;
        let mut v = i as f64;
        while t < hours * HOUR {
            if !(i % 5 == 0 && (t / HOUR) % 3 == 1) {
                let val = if (t / 60_000) % 97 == 13 { ember_exposition::STALE_NAN } else { v };
                pts.push(Point::float(t, val));
            }
            v += (i % 4) as f64 * 0.25;
            t += 60_000;
        }
        out.push((l, pts));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn load(db: &Db, data: &[(Labels, Vec<Point>)]) {
    // Scrape-like: one batch per timestamp step across all series.
    let max = data.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
    let mut refs = vec![None; data.len()];
    for k in 0..max {
        let mut app = db.appender();
        for (i, (l, pts)) in data.iter().enumerate() {
            if let Some(p) = pts.get(k) {
                refs[i] = Some(app.append(refs[i], l, p.t, p.v, AppendOptions::NONE).unwrap());
            }
        }
        app.commit().unwrap();
    }
}

fn queries() -> Vec<(Vec<Matcher>, i64, i64)> {
    vec![
        (vec![Matcher::equal("__name__", "up")], i64::MIN, i64::MAX),
        (vec![Matcher::equal("job", "api")], HOUR, 3 * HOUR + 30_000),
        (vec![Matcher::regex("i", "1.*").unwrap(), Matcher::not_equal("job", "db")], 0, 9 * HOUR),
        (vec![Matcher::not_regex("job", "a.*").unwrap()], 2 * HOUR - 1, 2 * HOUR + 1),
        (vec![Matcher::equal("missing", "")], 5 * HOUR, 7 * HOUR),
        (vec![Matcher::equal("job", "nope")], i64::MIN, i64::MAX),
    ]
}

fn expected(data: &[(Labels, Vec<Point>)], ms: &[Matcher], mint: i64, maxt: i64) -> Vec<(Labels, Vec<Point>)> {
    data.iter()
        .filter(|(l, _)| ms.iter().all(|m| m.matches(l.get_or_empty(m.name()))))
        .map(|(l, p)| (l.clone(), p.iter().filter(|p| p.t >= mint && p.t <= maxt).copied().collect::<Vec<_>>()))
        .filter(|(_, p)| !p.is_empty())
        .collect()
}

fn run(q: &dyn Querier, ms: &[Matcher]) -> Vec<(Labels, Vec<Point>)> {
    let set = q.select(true, None, ms).collect_all().unwrap().value;
    set.iter().map(|s| (s.labels().clone(), collect_points(s.iter().as_mut()))).filter(|(_, p)| !p.is_empty()).collect()
}

fn same(got: &[(Labels, Vec<Point>)], want: &[(Labels, Vec<Point>)]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(a, b)| a.0 == b.0 && a.1.len() == b.1.len() && a.1.iter().zip(&b.1).all(|(x, y)| x.bit_eq(y)))
}

#[track_caller]
fn check_path(path: &str, db: &Db, data: &[(Labels, Vec<Point>)]) {
    for (ms, mint, maxt) in queries() {
        let q = db.querier(mint, maxt).unwrap();
        let got = run(q.as_ref(), &ms);
        let want = expected(data, &ms, mint, maxt);
        assert!(
            same(&got, &want),
            "data path `{path}`: query {ms:?} [{mint}, {maxt}] differs\n got {} series, want {}",
            got.len(),
            want.len()
        );
        // Label names and values agree with the data too.
        let names = q.label_values("job", &ms).unwrap().value;
        let mut want_names: Vec<String> = want.iter().filter_map(|(l, _)| l.get("job").map(str::to_string)).collect();
        want_names.sort();
        want_names.dedup();
        if mint == i64::MIN {
            assert_eq!(names, want_names, "data path `{path}`: label values of job for {ms:?}");
        }
    }
}

fn open(dir: &Path) -> Db {
    Db::builder(dir).sync(SyncPolicy::Never).retention(Duration::from_secs(3600 * 200)).open().unwrap()
}

#[test]
fn every_data_path_answers_the_same() {
    let data = data(13);
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    load(&db, &data);
    check_path("head only", &db, &data);
    drop(db);

    let db = open(dir.path());
    assert_eq!(db.open_report().replay.dropped_records, 0);
    check_path("head after WAL replay", &db, &data);

    db.compact().unwrap();
    assert!(db.blocks().len() >= 2, "{:?}", db.blocks());
    assert!(db.blocks().iter().any(|b| b.meta().compaction.level > 1), "a leveled merge happened");
    assert!(db.head().min_time().is_some());
    check_path("head and blocks after compaction", &db, &data);

    let snap = tempfile::tempdir().unwrap();
    db.snapshot(&snap.path().join("s")).unwrap();
    drop(db);
    let blocks_only = Db::builder(snap.path().join("s")).without_wal().open().unwrap();
    assert!(blocks_only.head().min_time().is_none());
    check_path("blocks only (snapshot)", &blocks_only, &data);

    let db = open(dir.path());
    check_path("blocks and replayed head after reopen", &db, &data);
}

#[test]
fn overlapping_blocks_merge_vertically_and_dedupe() {
    let data = data(5);
    let a = tempfile::tempdir().unwrap();
    let db = open(a.path());
    load(&db, &data);
    let snap = a.path().join("snap");
    db.snapshot(&snap).unwrap();
    // A second snapshot of the same head: two blocks with identical samples.
    let snap2 = a.path().join("snap2");
    db.snapshot(&snap2).unwrap();
    drop(db);
    for e in std::fs::read_dir(&snap2).unwrap() {
        let e = e.unwrap();
        std::fs::rename(e.path(), snap.join(e.file_name())).unwrap();
    }
    let db = Db::builder(&snap).without_wal().open().unwrap();
    assert_eq!(db.blocks().len(), 2);
    check_path("two overlapping blocks", &db, &data);
    db.compact().unwrap();
    assert_eq!(db.blocks().len(), 1);
    assert_eq!(db.blocks()[0].meta().compaction.level, 2);
    check_path("after vertical merge", &db, &data);
}

#[test]
fn corrupt_block_is_reported_and_skipped_while_others_serve() {
    let data = data(9);
    let dir = tempfile::tempdir().unwrap();
    // Retention of 20 h caps merged blocks at 2 h: the blocks stay apart.
    let open =
        || Db::builder(dir.path()).sync(SyncPolicy::Never).retention(Duration::from_secs(20 * 3600)).open().unwrap();
    let db = open();
    load(&db, &data);
    db.compact().unwrap();
    let blocks = db.blocks();
    assert!(blocks.len() >= 2);
    drop(db);
    let victim = blocks[0].dir().to_path_buf();
    let index = victim.join("index");
    let mut b = std::fs::read(&index).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x55;
    std::fs::write(&index, &b).unwrap();

    let db = open();
    let report = db.open_report();
    assert_eq!(report.corrupt_blocks.len(), 1, "{report:?}");
    assert_eq!(report.corrupt_blocks[0].0, victim);
    assert!(report.corrupt_blocks[0].1.contains("index"), "names the file: {}", report.corrupt_blocks[0].1);
    assert_eq!(db.blocks().len(), blocks.len() - 1);
    // Data outside the broken block is still served.
    let lo = blocks[0].meta().max_time;
    let q = db.querier(lo, i64::MAX).unwrap();
    let got = run(q.as_ref(), &[Matcher::equal("__name__", "up")]);
    assert!(same(&got, &expected(&data, &[Matcher::equal("__name__", "up")], lo, i64::MAX)));
}

#[test]
fn block_file_damage_is_an_error_with_file_and_offset() {
    let data = data(5);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder(dir.path()).sync(SyncPolicy::Never).open().unwrap();
    load(&db, &data);
    db.compact().unwrap();
    let block = db.blocks()[0].clone();
    drop(db);
    for file in ["index", "tombstones", "meta.json"] {
        let p = block.dir().join(file);
        let orig = std::fs::read(&p).unwrap();
        for cut in [0, 3, orig.len() / 3, orig.len() - 1] {
            std::fs::write(&p, &orig[..cut]).unwrap();
            let err = ember_tsdb::block::Block::open(block.dir()).unwrap_err();
            assert!(err.file.as_deref() == Some(p.as_path()), "{file} cut at {cut}: {err}");
        }
        for i in (0..orig.len()).step_by(7) {
            let mut b = orig.clone();
            b[i] ^= 0x21;
            std::fs::write(&p, &b).unwrap();
            if let Err(err) = ember_tsdb::block::Block::open(block.dir()) {
                assert!(err.file.is_some(), "{file} flip at {i}: {err}");
            }
        }
        std::fs::write(&p, &orig).unwrap();
    }
    // A damaged chunk: the read fails with a corruption naming the block, never a panic.
    let seg = block.dir().join("chunks").join("000001");
    let mut b = std::fs::read(&seg).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x10;
    std::fs::write(&seg, &b).unwrap();
    let opened = ember_tsdb::block::Block::open(block.dir()).unwrap();
    let err = opened.verify().unwrap_err();
    assert!(err.file.as_deref() == Some(seg.as_path()) && err.offset.is_some(), "{err}");
    let q = opened.querier(i64::MIN, i64::MAX);
    let mut failed = false;
    for s in q.select(true, None, &[Matcher::regex("job", ".+").unwrap()]) {
        let s = s.unwrap();
        let mut it = s.iter();
        while it.next().is_some() {}
        failed |= it.error().is_some();
    }
    assert!(failed);
}

#[test]
fn deletion_through_tombstones_applies_at_query_and_compaction() {
    let data = data(9);
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    load(&db, &data);
    db.compact().unwrap();
    let ms = [Matcher::equal("job", "api")];
    let (mint, maxt) = (HOUR, 3 * HOUR);
    assert!(db.delete(mint, maxt, &ms).unwrap() > 0);
    // And a range still in the head.
    let head_ms = [Matcher::equal("job", "db")];
    let (hmin, hmax) = (7 * HOUR, 8 * HOUR + 30_000);
    assert!(db.head().min_time().unwrap() < hmin);
    assert!(db.delete(hmin, hmax, &head_ms).unwrap() > 0);
    let mut want = data.clone();
    for (l, pts) in &mut want {
        if l.get("job") == Some("api") {
            pts.retain(|p| p.t < mint || p.t > maxt);
        }
        if l.get("job") == Some("db") {
            pts.retain(|p| p.t < hmin || p.t > hmax);
        }
    }
    check_path("blocks and head with tombstones", &db, &want);
    drop(db);
    let db = open(dir.path());
    check_path("tombstones after reopen (WAL replay)", &db, &want);
    // Compaction applies block tombstones; cutting the head applies the head's.
    let snap = dir.path().join("snap");
    db.snapshot(&snap).unwrap();
    drop(db);
    let db = Db::builder(&snap).without_wal().retention(Duration::from_secs(3)).open().unwrap();
    check_path("tombstones in a snapshot", &db, &want);
}

#[test]
fn retention_drops_old_blocks() {
    let data = data(13);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder(dir.path()).sync(SyncPolicy::Never).retention(Duration::from_secs(5 * 3600)).open().unwrap();
    load(&db, &data);
    db.compact().unwrap();
    let newest = db.head().max_time().unwrap();
    assert!(db.blocks().iter().all(|b| b.meta().max_time > newest - 5 * HOUR), "{:?}", db.blocks());
    assert!(db.metrics().retention_deletions.load(std::sync::atomic::Ordering::Relaxed) > 0);

    let db2dir = tempfile::tempdir().unwrap();
    let db2 = Db::builder(db2dir.path()).sync(SyncPolicy::Never).retention_bytes(1).open().unwrap();
    load(&db2, &data);
    db2.compact().unwrap();
    assert!(db2.blocks().is_empty());
    let _ = Value::Float(0.0);
}

#[test]
fn background_compaction_cuts_blocks() {
    let data = data(5);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder(dir.path()).sync(SyncPolicy::Never).compact_every(Duration::from_millis(20)).open().unwrap();
    load(&db, &data);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while db.blocks().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!db.blocks().is_empty());
    check_path("after background compaction", &db, &data);
}
