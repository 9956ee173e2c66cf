//! Reopen time at scale: writes `series` realistic series (default 1,000,000) for 2 h at
//! 15 s through a [`Db`] with its WAL, closes it, then reopens it in a fresh child
//! process (so its peak RSS is the reopen's own) and prints the reopen time, the WAL
//! replay rate and the peak resident memory.
//!
//! `cargo run --release -p ember-tsdb --example reopen_1m -- [series] [hours]`
//!
//! Needs about 8 GiB of memory free at 1,000,000 series and a few GiB of disk for the
//! WAL, under a temporary directory removed at the end. Times are printed as wall time
//! and as CPU time (the machine may be shared).

#[path = "../benches/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ember_tsdb::db::Db;
use ember_tsdb::storage::{AppendOptions, SeriesRef, Value};
use ember_tsdb::wal::{SyncPolicy, WalOptions};

fn cpu(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn opts() -> WalOptions {
    WalOptions { sync: SyncPolicy::Interval(Duration::from_secs(1)), ..WalOptions::default() }
}

/// The child: opens the database and reports.
fn reopen(dir: &Path) {
    let (w, c) = (Instant::now(), cpu(libc::CLOCK_PROCESS_CPUTIME_ID));
    let db = Db::builder(dir).wal(opts()).open().unwrap();
    let (wall, cpu_t) = (w.elapsed(), cpu(libc::CLOCK_PROCESS_CPUTIME_ID) - c);
    let r = db.open_report();
    println!(
        "reopen: {:.2} s wall, {:.2} s CPU; replayed {} samples of {} series ({} skipped) = {:.2} M samples/s wall, {:.2} M samples/s per CPU second",
        wall.as_secs_f64(),
        cpu_t.as_secs_f64(),
        r.replay.samples,
        r.replay.series,
        r.samples_skipped,
        r.replay.samples as f64 / wall.as_secs_f64() / 1e6,
        r.replay.samples as f64 / cpu_t.as_secs_f64() / 1e6,
    );
    println!("reopen peak RSS: {:.2} GiB", peak_rss() as f64 / (1u64 << 30) as f64);
    println!("head after reopen: {} series", db.head().stats(1).num_series);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--reopen") {
        reopen(Path::new(&args.next().expect("--reopen <dir>")));
        return;
    }
    let n: usize = first.and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let hours: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let scrapes = hours * 3600 / 15;
    let dir = tempfile::tempdir().unwrap();

    let mut all = support::series(n);
    let mut refs: Vec<Option<SeriesRef>> = vec![None; all.len()];
    let mut rng = support::Rng::new(7);
    let db = Db::builder(dir.path()).wal(opts()).open().unwrap();
    let (w0, c0) = (Instant::now(), cpu(libc::CLOCK_PROCESS_CPUTIME_ID));
    let mut samples = 0u64;
    for k in 0..scrapes {
        for (chunk_no, batch) in all.chunks_mut(1000).enumerate() {
            let mut app = db.appender();
            for (i, s) in batch.iter_mut().enumerate() {
                let t = support::scrape_time(&mut rng, k);
                let v = s.next_value(t);
                let r = &mut refs[chunk_no * 1000 + i];
                *r = Some(app.append(*r, &s.labels, t, Value::Float(v), AppendOptions::NONE).unwrap());
            }
            app.commit().unwrap();
            samples += batch.len() as u64;
        }
    }
    db.close().unwrap();
    drop(db);
    drop(all);
    drop(refs);
    let wal_bytes: u64 =
        std::fs::read_dir(dir.path().join("wal")).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum();
    println!(
        "wrote {n} series x {hours} h at 15 s = {samples} samples in {:.1} s wall, {:.1} s CPU (incl. data generation); WAL {:.2} GiB",
        w0.elapsed().as_secs_f64(),
        (cpu(libc::CLOCK_PROCESS_CPUTIME_ID) - c0).as_secs_f64(),
        wal_bytes as f64 / (1u64 << 30) as f64
    );
    println!("writer peak RSS: {:.2} GiB", peak_rss() as f64 / (1u64 << 30) as f64);

    let exe = std::env::current_exe().unwrap();
    let status = Command::new(exe).arg("--reopen").arg(dir.path()).status().unwrap();
    assert!(status.success(), "reopen failed: {status}");
}
