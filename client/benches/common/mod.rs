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
