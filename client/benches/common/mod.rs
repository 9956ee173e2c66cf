//! Shared helpers: seeded data, per-thread CPU time, and two pinned threads updating the
//! same metric at once.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// `n` seeded pseudo-random values in `[0, 2)` (xorshift; the same every run).
pub fn values(n: usize) -> Vec<f64> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0
        })
        .collect()
}

/// Short measurements: the machine is shared.
pub fn config() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

/// Nanoseconds this thread has spent on a CPU (`CLOCK_THREAD_CPUTIME_ID`), so a loaded
/// machine's waiting time does not count.
pub fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// CPU nanoseconds per call of each named op, measured in interleaved rounds (so changing
/// load and clock speed affect all alike) whose order alternates (forward, then reversed,
/// so no op always runs first or right after the same neighbour); prints each and its
/// ratio to the fastest op not named `ember*`.
pub fn cpu_compare(title: &str, iters: u64, ops: &mut [(&str, &mut dyn FnMut(u64) -> u64)]) {
    let rounds = 10;
    let mut ns = vec![0u64; ops.len()];
    for round in 0..rounds {
        for k in 0..ops.len() {
            let i = if round % 2 == 0 { k } else { ops.len() - 1 - k };
            match (ops[i].1)(iters) {
                0 => return eprintln!("{title}: no CPU clock here"),
                t => ns[i] += t,
            }
        }
    }
    let per: Vec<f64> = ns.iter().map(|t| *t as f64 / (rounds * iters) as f64).collect();
    let best_peer = ops
        .iter()
        .zip(&per)
        .filter(|((n, _), _)| !n.starts_with("ember"))
        .map(|(_, p)| *p)
        .fold(f64::INFINITY, f64::min);
    for ((name, _), p) in ops.iter().zip(&per) {
        println!("cpu-time {title}/{name}: {p:.2} ns/op (x{:.2} of the faster peer)", p / best_peer);
    }
}

/// CPU ns of `iters` calls of `op` on this thread.
pub fn cpu_ns(iters: u64, mut op: impl FnMut(u64)) -> u64 {
    let start = thread_cpu_ns().unwrap_or(0);
    for i in 0..iters {
        op(i);
    }
    thread_cpu_ns().unwrap_or(0).saturating_sub(start)
}

/// The CPUs this process may run on (from `sched_getaffinity`).
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    // SAFETY: CPU_ISSET reads the set only; the index is below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
}

/// Pins the calling thread to one CPU.
fn pin_to(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t and `cpu` is below CPU_SETSIZE (it came from one).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; 0 means this thread.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// One round of one thread: wall nanoseconds, and how often the scheduler took the CPU away
/// from it (involuntary context switches; waiting on a lock is voluntary and still counts).
#[derive(Clone, Copy, Default)]
struct Round {
    wall: u64,
    /// When the round started and ended on this thread, in ns since the rounds' common
    /// origin.
    start: u64,
    end: u64,
    preempted: u64,
    /// Times it went to sleep of its own accord (waiting for a lock the other thread held).
    slept: u64,
    /// Whether, at some check (one per [`CHUNK`] calls), the other thread had made no
    /// progress for longer than [`ABSENT`]: it was not running (a virtual CPU the host paused
    /// looks like a running thread from inside) or had finished its round long before.
    alone: bool,
}

/// A gap in the other thread's progress this long is absence, not contention (a contended
/// cache line or lock hands over within microseconds; a paused CPU comes back after
/// milliseconds).
const ABSENT: Duration = Duration::from_micros(100);

/// Calls between two looks at the other thread's progress.
const CHUNK: u64 = 256;

/// A counter on its own cache line.
#[repr(align(128))]
#[derive(Default)]
struct Progress(std::sync::atomic::AtomicU64);

/// This thread's involuntary and voluntary context switches so far
/// (`getrusage(RUSAGE_THREAD)`).
fn switches() -> Option<(u64, u64)> {
    // SAFETY: a zeroed rusage is a valid value to be overwritten.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for the duration of the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    (rc == 0).then_some((ru.ru_nivcsw as u64, ru.ru_nvcsw as u64))
}

/// Spins until `count` has reached `target` (both threads arrived); yields now and then so
/// a waiting thread does not starve other work on a shared machine.
fn wait_for(count: &AtomicUsize, target: usize) {
    let mut spins = 0u32;
    while count.load(Ordering::Acquire) < target {
        spins += 1;
        if spins % 1024 == 0 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Runs `op` on two threads pinned to two different CPUs, in `rounds` rounds of `ops`
/// calls each; both threads start every round together (a spinning barrier, so both are
/// on a CPU when it opens). Returns, per round, both threads' wall and CPU time.
fn pinned_rounds<F: Fn(u64) + Sync>(cpus: [usize; 2], op: &F, rounds: usize, ops: u64) -> Vec<[Round; 2]> {
    let arrived = AtomicUsize::new(0);
    let origin = Instant::now();
    let progress = [Progress::default(), Progress::default()];
    let mut out = vec![[Round::default(); 2]; rounds];
    let (first, second): (Vec<Round>, Vec<Round>) = std::thread::scope(|s| {
        let run = |k: usize| {
            let (arrived, progress, origin) = (&arrived, &progress, &origin);
            move || {
                assert!(pin_to(cpus[k]), "could not pin a thread to CPU {}", cpus[k]);
                let mut mine = Vec::with_capacity(rounds);
                let mut i = k as u64 * 7919;
                for r in 0..rounds {
                    arrived.fetch_add(1, Ordering::AcqRel);
                    wait_for(arrived, 2 * (r + 1));
                    let (w0, (p0, s0)) = (Instant::now(), switches().unwrap_or_default());
                    let (mut done, mut seen, mut since, mut alone) =
                        (0, progress[1 - k].0.load(Ordering::Relaxed), w0, false);
                    while done < ops {
                        for _ in 0..CHUNK.min(ops - done) {
                            op(i);
                            i = i.wrapping_add(1);
                        }
                        done += CHUNK.min(ops - done);
                        progress[k].0.fetch_add(1, Ordering::Relaxed);
                        let other = progress[1 - k].0.load(Ordering::Relaxed);
                        if other != seen {
                            (seen, since) = (other, Instant::now());
                        } else {
                            alone |= since.elapsed() > ABSENT;
                        }
                    }
                    let wall = w0.elapsed().as_nanos() as u64;
                    let (p1, s1) = switches().unwrap_or_default();
                    let start = w0.duration_since(*origin).as_nanos() as u64;
                    mine.push(Round { wall, start, end: start + wall, preempted: p1 - p0, slept: s1 - s0, alone });
                }
                mine
            }
        };
        let a = s.spawn(run(0));
        let b = s.spawn(run(1));
        (a.join().expect("thread 0"), b.join().expect("thread 1"))
    });
    for (r, (a, b)) in out.iter_mut().zip(first.into_iter().zip(second)) {
        *r = [a, b];
    }
    out
}

/// A round counts when the scheduler preempted neither thread during it, neither saw the
/// other stop progressing for longer than [`ABSENT`] (unless the other was asleep waiting for
/// a lock: that is contention, not absence), and the thread that finished first ran
/// alongside the other for at least 80% of its run: then its calls really overlapped with
/// the other thread's. (The threads need not take equally long: a design where one thread
/// is cheaper than the other is judged by when both are done, see [`round_ns`].) Time a
/// thread spends waiting for the other (spinning, or asleep on a lock) is part of the
/// figure.
fn clean(r: &[Round; 2]) -> bool {
    let saw_other = |me: &Round, other: &Round| !me.alone || other.slept > 0;
    let together =
        r.iter().all(|t| t.wall > 0 && t.preempted == 0) && saw_other(&r[0], &r[1]) && saw_other(&r[1], &r[0]);
    let overlap = r[0].end.min(r[1].end).saturating_sub(r[0].start.max(r[1].start));
    let shorter = r[0].wall.min(r[1].wall);
    together && overlap * 10 >= shorter * 8
}

/// A round's figure: from the first thread's start to the last thread's end, per call of
/// one thread, i.e. how long two threads take to make `ops` calls each. For threads that
/// take equally long this is each thread's time per call; when one is faster, the slower
/// one sets the figure.
fn round_ns(r: &[Round; 2], ops: u64) -> f64 {
    let span = r[0].end.max(r[1].end) - r[0].start.min(r[1].start);
    span as f64 / ops as f64
}

/// Nanoseconds per call of each named op with two pinned threads calling it on the same
/// metric at once: the median over clean rounds (see above) of [`round_ns`], the
/// contenders taking turns of a few rounds so changing load affects all alike. Prints
/// each figure with its ratio to the fastest op not named `ember*`, and how many rounds
/// were clean.
pub fn pinned_compare(title: &str, ops: u64, rounds: usize, contenders: &[(&str, &(dyn Fn(u64) + Sync))]) {
    let cpus = allowed_cpus();
    if cpus.len() < 2 {
        return println!("pinned {title}: needs 2 CPUs, this process may use {}", cpus.len());
    }
    if switches().is_none() {
        return println!("pinned {title}: no per-thread context switch count here");
    }
    let cpus = [cpus[0], cpus[1]];
    // Short turns: the host may move the two virtual CPUs between sibling hyperthreads and
    // separate cores (cheap or dear cache-line transfers), and that should hit all alike.
    let per_turn = 4;
    let passes = rounds.div_ceil(per_turn);
    let mut per_op: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut total = vec![0usize; contenders.len()];
    for _ in 0..passes {
        for (k, (_, op)) in contenders.iter().enumerate() {
            for r in pinned_rounds(cpus, op, per_turn, ops) {
                total[k] += 1;
                if clean(&r) {
                    per_op[k].push(round_ns(&r, ops));
                }
            }
        }
    }
    let medians: Vec<Option<f64>> = per_op
        .iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            (!v.is_empty()).then(|| v[v.len() / 2])
        })
        .collect();
    let best_peer = contenders
        .iter()
        .zip(&medians)
        .filter(|((n, _), _)| !n.starts_with("ember"))
        .filter_map(|(_, m)| *m)
        .fold(f64::INFINITY, f64::min);
    for (k, (name, _)) in contenders.iter().enumerate() {
        let clean = per_op[k].len();
        match medians[k] {
            Some(m) => println!(
                "pinned {title}/{name}: {m:.2} ns/op (x{:.2} of the faster peer; {clean}/{} rounds clean, quartiles {:.2}..{:.2})",
                m / best_peer,
                total[k],
                per_op[k][clean / 4],
                per_op[k][(3 * clean) / 4 - usize::from(clean >= 2 && (3 * clean) % 4 == 0)],
            ),
            None => println!("pinned {title}/{name}: no clean round of {} (machine too busy)", total[k]),
        }
    }
}
