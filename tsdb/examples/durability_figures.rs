//! Measures the durable layer once, on the realistic data of the benches: append rate
//! with the WAL on (synced by interval), WAL replay rate and reopen time, and the
//! on-disk size of a 2 h block per sample, index included.
//!
//! `cargo run --release -p ember-tsdb --example durability_figures -- [series] [hours]`
//! (defaults: 100,000 series, 2 h at 15 s).
//!
//! Times are printed as wall time and as CPU time of the process (the machine may be
//! shared; CPU time is what the work costs on a free core). The data directory is a
//! temporary directory, removed at the end.

#[path = "../benches/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ember_tsdb::block::Block;
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

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64() / 1e6
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let hours: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let scrapes = hours * 3600 / 15;
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { sync: SyncPolicy::Interval(Duration::from_secs(1)), ..WalOptions::default() };

    let mut all = support::series(n);
    let mut refs: Vec<Option<SeriesRef>> = vec![None; all.len()];
    let mut rng = support::Rng::new(7);
    // `scrape_time` starts at 1_700_000_000_000; shift so the 2 h lie in one block range
    // (a few ms in, as jitter can be negative).
    let base = -1_700_000_000_000 + (1_700_000_000_000 / 7_200_000 + 1) * 7_200_000 + 10;
    let db = Db::builder(dir.path()).wal(opts).open().unwrap();
    let (w0, c0) = (Instant::now(), cpu(libc::CLOCK_THREAD_CPUTIME_ID));
    let mut samples = 0u64;
    let mut values = vec![0f64; 1000];
    let mut times = vec![0i64; 1000];
    let mut append_wall = Duration::ZERO;
    let mut append_cpu = Duration::ZERO;
    for k in 0..scrapes {
        for (chunk_no, batch) in all.chunks_mut(1000).enumerate() {
            // Generating values is not the storage's work: done outside the timed part.
            for (i, s) in batch.iter_mut().enumerate() {
                times[i] = base + support::scrape_time(&mut rng, k);
                values[i] = s.next_value(times[i]);
            }
            let (w, c) = (Instant::now(), cpu(libc::CLOCK_THREAD_CPUTIME_ID));
            let mut app = db.appender();
            for (i, s) in batch.iter().enumerate() {
                let r = &mut refs[chunk_no * 1000 + i];
                *r = Some(app.append(*r, &s.labels, times[i], Value::Float(values[i]), AppendOptions::NONE).unwrap());
            }
            app.commit().unwrap();
            append_wall += w.elapsed();
            append_cpu += cpu(libc::CLOCK_THREAD_CPUTIME_ID) - c;
            samples += batch.len() as u64;
        }
    }
    let _ = (w0, c0);
    println!("series {n}, {hours} h at 15 s: {samples} samples");
    println!(
        "append with WAL (sync every 1 s), 1 thread, batches of 1000 by cached ref: {:.2} M samples/s wall, {:.2} M samples/s CPU",
        rate(samples, append_wall),
        rate(samples, append_cpu)
    );
    db.sync().unwrap();
    let wal_bytes: u64 =
        std::fs::read_dir(dir.path().join("wal")).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum();
    println!(
        "WAL on disk: {:.1} MiB, {:.2} bytes/sample",
        wal_bytes as f64 / (1 << 20) as f64,
        wal_bytes as f64 / samples as f64
    );
    drop(db);
    drop(all);

    let (w, c) = (Instant::now(), cpu(libc::CLOCK_PROCESS_CPUTIME_ID));
    let db = Db::builder(dir.path()).wal(opts).open().unwrap();
    let (wall, cpu_t) = (w.elapsed(), cpu(libc::CLOCK_PROCESS_CPUTIME_ID) - c);
    let r = db.open_report();
    println!(
        "reopen (WAL replay of {} samples, {} series): {:.2} s wall, {:.2} s CPU (decoding, routing and applying threads)",
        r.replay.samples,
        r.replay.series,
        wall.as_secs_f64(),
        cpu_t.as_secs_f64(),
    );
    println!(
        "replay rate: {:.2} M samples/s wall on this (shared) machine; {:.2} M samples per CPU second",
        rate(r.replay.samples, wall),
        rate(r.replay.samples, cpu_t)
    );
    assert_eq!(r.replay.samples, samples);

    let snap = dir.path().join("snapshot");
    let (w, c) = (Instant::now(), cpu(libc::CLOCK_PROCESS_CPUTIME_ID));
    db.snapshot(&snap).unwrap();
    let snap_wall = w.elapsed();
    let snap_cpu = cpu(libc::CLOCK_PROCESS_CPUTIME_ID) - c;
    for e in std::fs::read_dir(&snap).unwrap().flatten() {
        let b = Block::open(&e.path()).unwrap();
        let size = b.size();
        let index = std::fs::metadata(e.path().join("index")).unwrap().len();
        let st = b.meta().stats;
        println!(
            "block of {} h: {} series, {} chunks, {} samples; {:.1} MiB on disk = {:.3} bytes/sample (index {:.3}, chunks {:.3}); written in {:.2} s wall, {:.2} s CPU",
            hours,
            st.num_series,
            st.num_chunks,
            st.num_samples,
            size as f64 / (1 << 20) as f64,
            size as f64 / st.num_samples as f64,
            index as f64 / st.num_samples as f64,
            (size - index) as f64 / st.num_samples as f64,
            snap_wall.as_secs_f64(),
            snap_cpu.as_secs_f64()
        );
    }
}
