//! Shared helpers: seeded data and a background thread hammering the same metric.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Times `iters` calls of `op` on this thread while another thread runs `op` in a loop.
pub fn contended<F: Fn(u64) + Send + Sync + 'static>(iters: u64, op: Arc<F>) -> Duration {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let bg = {
        let (stop, started, op) = (stop.clone(), started.clone(), op.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            started.store(true, Ordering::Release);
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    op(i);
                    i = i.wrapping_add(1);
                }
            }
        })
    };
    while !started.load(Ordering::Acquire) {
        std::hint::spin_loop();
    }
    let t = Instant::now();
    for i in 0..iters {
        op(i);
    }
    let d = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    bg.join().unwrap();
    d
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
/// load affects all alike); prints each and its ratio to the fastest op not named `ember*`.
pub fn cpu_compare(title: &str, iters: u64, ops: &mut [(&str, &mut dyn FnMut(u64) -> u64)]) {
    let rounds = 5;
    let mut ns = vec![0u64; ops.len()];
    for _ in 0..rounds {
        for (i, (_, op)) in ops.iter_mut().enumerate() {
            match op(iters) {
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

/// CPU ns of `iters` calls of `op` on this thread while another thread runs `op` in a loop.
pub fn cpu_ns_contended<F: Fn(u64) + Send + Sync + 'static>(iters: u64, op: Arc<F>) -> u64 {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let bg = {
        let (stop, started, op) = (stop.clone(), started.clone(), op.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            started.store(true, Ordering::Release);
            while !stop.load(Ordering::Relaxed) {
                op(i);
                i = i.wrapping_add(1);
            }
        })
    };
    while !started.load(Ordering::Acquire) {
        std::hint::spin_loop();
    }
    let t = cpu_ns(iters, |i| op(i));
    stop.store(true, Ordering::Relaxed);
    bg.join().unwrap();
    t
}
