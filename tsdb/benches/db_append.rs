//! What does the write-ahead log cost on the append path? The head issue's workload —
//! 100,000 realistic series, 1,000 samples per commit by cached reference, one thread —
//! on the bare head (the peer) and on a `Db` with the WAL synced by interval (1 s), in
//! the same run.

mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_exposition::Labels;
use ember_tsdb::db::Db;
use ember_tsdb::head::Head;
use ember_tsdb::storage::{AppendOptions, Appendable, SeriesRef, Value};
use ember_tsdb::wal::{SyncPolicy, WalOptions};

const SERIES: usize = 100_000;
const BATCH: usize = 1_000;
const ROUNDS: usize = 16;

struct Feed {
    refs: Vec<SeriesRef>,
    labels: Vec<Labels>,
    values: Vec<f64>,
    next: usize,
    round: usize,
}

impl Feed {
    fn new() -> Feed {
        let mut generated = support::series(SERIES);
        let mut values = Vec::with_capacity(SERIES * ROUNDS);
        for s in &mut generated {
            for k in 0..ROUNDS {
                values.push(s.next_value(k as i64 * 15_000));
            }
        }
        let labels = generated.into_iter().map(|s| s.labels).collect();
        Feed { refs: Vec::new(), labels, values, next: 0, round: 0 }
    }

    /// The first scrape, by labels: creates the series and caches their references.
    fn create(&mut self, store: &dyn Appendable) {
        self.refs.clear();
        for chunk in self.labels.chunks(BATCH) {
            let mut app = store.appender();
            for l in chunk {
                self.refs.push(app.append(None, l, 1_700_000_000_000, Value::Float(0.0), AppendOptions::NONE).unwrap());
            }
            app.commit().unwrap();
        }
        self.round = 1;
    }

    fn t(&self) -> i64 {
        1_700_000_000_000 + self.round as i64 * 15_000
    }

    fn advance(&mut self) {
        self.next += BATCH;
        if self.next == self.refs.len() {
            self.next = 0;
            self.round += 1;
        }
    }
}

/// CPU time this thread has used (`CLOCK_THREAD_CPUTIME_ID`, user and system: the WAL's
/// `write` calls count).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall time, or on-CPU time when `EMBER_BENCH_CPU_TIME` is set (the machine is shared:
/// wall time includes waiting for a core).
fn clock() -> Box<dyn Fn() -> Duration> {
    if std::env::var_os("EMBER_BENCH_CPU_TIME").is_some() {
        Box::new(thread_cpu)
    } else {
        let start = Instant::now();
        Box::new(move || start.elapsed())
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("db_append");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    let mut feed = Feed::new();

    {
        let head = Head::default();
        feed.create(&head);
        g.bench_function("head_only_by_ref_1_thread", |b| {
            b.iter_custom(|iters| {
                let clock = clock();
                let start = clock();
                for _ in 0..iters {
                    let mut app = head.appender();
                    let (t, slot) = (feed.t(), feed.round % ROUNDS);
                    for i in feed.next..feed.next + BATCH {
                        let v = Value::Float(feed.values[i * ROUNDS + slot]);
                        app.append(Some(feed.refs[i]), &feed.labels[i], t, v, AppendOptions::NONE).unwrap();
                    }
                    app.commit().unwrap();
                    feed.advance();
                }
                clock() - start
            })
        });
    }
    {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions { sync: SyncPolicy::Interval(Duration::from_secs(1)), ..WalOptions::default() };
        let db = Db::builder(dir.path()).wal(opts).open().unwrap();
        feed.next = 0;
        feed.create(&db);
        g.bench_function("wal_interval_by_ref_1_thread", |b| {
            b.iter_custom(|iters| {
                let clock = clock();
                let start = clock();
                for _ in 0..iters {
                    let mut app = db.appender();
                    let (t, slot) = (feed.t(), feed.round % ROUNDS);
                    for i in feed.next..feed.next + BATCH {
                        let v = Value::Float(feed.values[i * ROUNDS + slot]);
                        app.append(Some(feed.refs[i]), &feed.labels[i], t, v, AppendOptions::NONE).unwrap();
                    }
                    app.commit().unwrap();
                    feed.advance();
                }
                clock() - start
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
