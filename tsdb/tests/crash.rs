//! Crash safety: a child process appends and commits in a loop with fsync per commit,
//! printing each batch number once `commit` has returned; the parent SIGKILLs it at a
//! random moment, reopens the directory, and checks that every reported batch is there,
//! that at most the one batch in flight was added besides, and that nothing else changed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ember_exposition::{Labels, Matcher, labels};
use ember_tsdb::db::Db;
use ember_tsdb::storage::{AppendOptions, Point, SeriesRef, collect_points};
use ember_tsdb::wal::{SyncPolicy, WalOptions};

const CHILD_ENV: &str = "EMBER_CRASH_CHILD_DIR";
const SERIES: usize = 20;

fn series(i: usize) -> Labels {
    labels! {"__name__" => "crash", "i" => i.to_string().as_str()}
}

fn opts() -> WalOptions {
    // Small segments so kills also land around segment rotation.
    WalOptions { segment_size: 64 << 10, sync: SyncPolicy::EveryCommit, compress: false }
}

/// Every sample of every crash series, by series index.
fn read_all(db: &Db) -> Vec<Vec<Point>> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut out = vec![Vec::new(); SERIES];
    for s in q.select(true, None, &[Matcher::equal("__name__", "crash")]).collect_all().unwrap().value {
        let i: usize = s.labels().get("i").unwrap().parse().unwrap();
        out[i] = collect_points(s.iter().as_mut());
    }
    out
}

/// Batch `b` gives series `i` the sample (b * 10, b * 100 + i).
fn point(b: u64, i: usize) -> Point {
    Point::float(b as i64 * 10, (b * 100 + i as u64) as f64)
}

/// Checks the data is exactly batches `0..n` and returns `n`.
fn batches_present(data: &[Vec<Point>]) -> u64 {
    let n = data[0].len() as u64;
    for (i, pts) in data.iter().enumerate() {
        assert_eq!(pts.len() as u64, n, "series {i} has a partial batch");
        for (b, p) in pts.iter().enumerate() {
            assert!(p.bit_eq(&point(b as u64, i)), "series {i} batch {b}: {p:?}");
        }
    }
    n
}

#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let db = Db::builder(dir).wal(opts()).open().unwrap();
    let mut next = batches_present(&read_all(&db));
    let labels: Vec<Labels> = (0..SERIES).map(series).collect();
    let mut refs: Vec<Option<SeriesRef>> = vec![None; SERIES];
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let mut app = db.appender();
        for (i, l) in labels.iter().enumerate() {
            let p = point(next, i);
            refs[i] = Some(app.append(refs[i], l, p.t, p.v, AppendOptions::NONE).unwrap());
        }
        app.commit().unwrap();
        println!("committed {next}");
        next += 1;
    }
}

#[test]
fn sigkill_loses_no_committed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let seed = Instant::now().elapsed().as_nanos() as u64 ^ std::process::id() as u64;
    let mut rng = seed | 1;
    let mut rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut before = 0u64;
    let mut total_rounds_with_progress = 0;
    for round in 0..60 {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some((_, n)) = line.split_once("committed ") {
                    let _ = tx.send(n.parse::<u64>().unwrap());
                }
            }
        });
        // Wait for the child to get going (it replays first), then kill it at a random moment.
        let first = rx.recv_timeout(Duration::from_secs(60)).expect("child never committed");
        assert_eq!(first, before, "round {round}: child resumed at the wrong batch (seed {seed})");
        std::thread::sleep(Duration::from_micros(rand() % 40_000));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let last = rx.try_iter().last().unwrap_or(first);

        let db = Db::builder(dir.path()).wal(opts()).open().unwrap();
        let n = batches_present(&read_all(&db));
        assert!(
            n == last + 1 || n == last + 2,
            "round {round}: {n} batches present, last reported commit was batch {last} (seed {seed})"
        );
        let report = db.open_report();
        assert_eq!(report.replay.dropped_records, 0, "round {round}: {report:?}");
        total_rounds_with_progress += (n > before) as u32;
        before = n;
    }
    assert!(total_rounds_with_progress >= 50);
}

#[test]
fn second_open_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _db = Db::builder(dir.path()).open().unwrap();
    let err = Db::builder(dir.path()).open().unwrap_err();
    assert_eq!(err.kind, ember_tsdb::ErrorKind::Locked);
    assert!(err.to_string().contains("lock"), "{err}");
}
