//! How fast does the head take scrape-sized batches, by cached reference, on one and
//! two threads? 100,000 realistic series, 1,000 samples per commit, 15 s apart.

mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_exposition::Labels;
use ember_tsdb::head::Head;
use ember_tsdb::storage::{AppendOptions, SeriesRef, Value};

const SERIES: usize = 100_000;
const BATCH: usize = 1_000;
const ROUNDS: usize = 16;

/// Series with their cached references, precomputed values, and a cursor.
struct Feed {
    refs: Vec<SeriesRef>,
    labels: Vec<Labels>,
    /// `ROUNDS` scrapes' values, scrape-major (`values[round * n + series]`): a batch
    /// reads its values in sequence, as a scraper reads them from a body, so the harness
    /// adds no cache miss per sample of its own.
    values: Vec<f64>,
    next: usize,
    round: usize,
}

impl Feed {
    /// Appends the next batch of `BATCH` samples and commits it.
    #[inline]
    fn batch(&mut self, head: &Head) {
        let mut app = head.appender();
        let t = 1_700_000_000_000 + self.round as i64 * 15_000;
        let slot = self.round % ROUNDS;
        for i in self.next..self.next + BATCH {
            let v = self.values[slot * self.refs.len() + i];
            app.append(Some(self.refs[i]), &self.labels[i], t, Value::Float(v), AppendOptions::NONE).unwrap();
        }
        app.commit().unwrap();
        self.next += BATCH;
        if self.next == self.refs.len() {
            self.next = 0;
            self.round += 1;
        }
    }
}

fn setup() -> (Head, Feed) {
    let head = Head::default();
    let mut generated = support::series(SERIES);
    let mut values = vec![0.0; SERIES * ROUNDS];
    for (i, s) in generated.iter_mut().enumerate() {
        for k in 0..ROUNDS {
            values[k * SERIES + i] = s.next_value(k as i64 * 15_000);
        }
    }
    let labels: Vec<Labels> = generated.into_iter().map(|s| s.labels).collect();
    // The first scrape creates the series.
    let mut refs = Vec::with_capacity(SERIES);
    for (c, chunk) in labels.chunks(BATCH).enumerate() {
        let mut app = head.appender();
        for (i, l) in chunk.iter().enumerate() {
            let v = values[c * BATCH + i];
            refs.push(app.append(None, l, 1_700_000_000_000, Value::Float(v), AppendOptions::NONE).unwrap());
        }
        app.commit().unwrap();
    }
    (head, Feed { refs, labels, values, next: 0, round: 1 })
}

fn split(feed: &Feed, parts: usize) -> Vec<Feed> {
    let per = feed.refs.len() / parts;
    (0..parts)
        .map(|p| Feed {
            refs: feed.refs[p * per..(p + 1) * per].to_vec(),
            labels: feed.labels[p * per..(p + 1) * per].to_vec(),
            values: (0..ROUNDS)
                .flat_map(|k| &feed.values[k * SERIES + p * per..k * SERIES + (p + 1) * per])
                .copied()
                .collect(),
            next: 0,
            round: feed.round,
        })
        .collect()
}

/// CPU time this thread has used (`CLOCK_THREAD_CPUTIME_ID`).
///
/// The machine is shared: wall time includes waiting for a core, CPU time does not.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall time, or on-CPU time when `EMBER_BENCH_CPU_TIME` is set.
fn clock() -> Box<dyn Fn() -> Duration> {
    if std::env::var_os("EMBER_BENCH_CPU_TIME").is_some() {
        Box::new(thread_cpu)
    } else {
        let start = Instant::now();
        Box::new(move || start.elapsed())
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("head_append");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    {
        let (head, mut feed) = setup();
        g.bench_function("by_ref_1_thread", |b| {
            b.iter_custom(|iters| {
                let clock = clock();
                let start = clock();
                for _ in 0..iters {
                    feed.batch(&head);
                }
                clock() - start
            })
        });
    }
    {
        let (head, feed) = setup();
        let mut feeds = split(&feed, 2);
        drop(feed);
        // Each iteration is one batch per thread; elapsed wall time is divided by two so
        // the reported throughput is the total of both threads.
        g.bench_function("by_ref_2_threads_disjoint", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let cpu: Vec<Duration> = std::thread::scope(|s| {
                    let handles: Vec<_> = feeds
                        .iter_mut()
                        .map(|f| {
                            let head = &head;
                            s.spawn(move || {
                                let t0 = thread_cpu();
                                for _ in 0..iters {
                                    f.batch(head);
                                }
                                thread_cpu() - t0
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap()).collect()
                });
                if std::env::var_os("EMBER_BENCH_CPU_TIME").is_some() {
                    // The slower thread's CPU time: what the pair would take on two free cores.
                    cpu.into_iter().max().unwrap_or_default() / 2
                } else {
                    start.elapsed() / 2
                }
            })
        });
    }
    {
        let (head, mut feed) = setup();
        g.bench_function("by_labels_1_thread", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut app = head.appender();
                    let t = 1_700_000_000_000 + feed.round as i64 * 15_000;
                    for i in feed.next..feed.next + BATCH {
                        app.append(None, &feed.labels[i], t, Value::Float(1.0), AppendOptions::NONE).unwrap();
                    }
                    app.commit().unwrap();
                    feed.next += BATCH;
                    if feed.next == SERIES {
                        feed.next = 0;
                        feed.round += 1;
                    }
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
