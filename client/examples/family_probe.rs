//! A labelled lookup + inc in a tight loop, for profilers (`perf`, `valgrind --tool=cachegrind`):
//! the child cycling over 8 of 100 (`rot`), or the same child every time (`same`).
//!
//! `MODE=rot N=20000000 cargo run --release -p ember-client --example family_probe`
//! prints the best of 7 runs in ns per lookup + inc. `MODE` empty runs both.

use std::hint::black_box;

const ROTATE: [&str; 8] = ["200", "213", "227", "241", "250", "262", "278", "299"];

#[inline(never)]
fn rotating(f: &ember_client::Family<ember_client::Counter>, n: u64) {
    for i in 0..n {
        f.with_label_values(black_box(&["GET", ROTATE[i as usize & 7]])).inc();
    }
}

#[inline(never)]
fn same(f: &ember_client::Family<ember_client::Counter>, n: u64) {
    for _ in 0..n {
        f.with_label_values(black_box(&["GET", "250"])).inc();
    }
}

fn time(name: &str, n: u64, mut f: impl FnMut()) {
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = std::time::Instant::now();
        f();
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    println!("{name}: {best:.2} ns/op (best of 7)");
}

fn main() {
    let f = ember_client::Family::<ember_client::Counter>::new(&["method", "code"]).expect("valid names");
    for i in 0..100 {
        f.with_label_values(&["GET", &(200 + i).to_string()]).inc();
    }
    let n: u64 = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000_000);
    let mode = std::env::var("MODE").unwrap_or_default();
    if mode.is_empty() || mode == "rot" {
        time("rotating lookup + inc", n, || rotating(&f, n));
    }
    if mode.is_empty() || mode == "same" {
        time("same-child lookup + inc", n, || same(&f, n));
    }
}
