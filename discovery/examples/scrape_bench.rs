//! Scrape throughput: N local targets x S series at an interval, served from a child process
//! on 127.0.0.1 with pre-encoded bodies, scraped, parsed, relabeled and appended into a
//! head. Reports sustained samples/s, missed and late scrapes, the scraper's CPU (user +
//! system from /proc), its RSS and bytes per series (head + scrape caches).
//!
//! ```text
//! cargo run --release -p ember-discovery --example scrape_bench -- \
//!     [--targets 1000] [--series 10000] [--interval 10] [--warmup 30] [--measure 60] [--force]
//! ```
//!
//! The child serves every target the same two bodies in turn (values differ, series do
//! not); targets differ by their `instance` label, so the head holds targets x series
//! series. The first interval creates every series (the expensive scrape); the
//! measurement window starts once every series exists, two intervals have passed and at
//! least `--warmup` seconds are over, so it covers steady state. Before starting, the bench
//! estimates its memory (about 1 KiB per series) and refuses to run when that would leave
//! less than 4 GiB available, unless `--force`.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ember_discovery::config::ScrapeConfig;
use ember_discovery::discovery::DiscoveryState;
use ember_discovery::scrape::{ScrapeManager, ScrapeOptions, ScrapeStats};
use ember_discovery::target::TargetGroup;
use ember_exposition::Labels;
use ember_tsdb::head::Head;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One target's exposition of `series` series; `variant` shifts the values.
fn exposition(series: u64, variant: u64) -> Vec<u8> {
    let mut s = String::with_capacity(series as usize * 80);
    for m in 0..series.div_ceil(100) {
        s.push_str(&format!("# HELP bench_metric_{m} A benchmark metric.\n# TYPE bench_metric_{m} gauge\n"));
        for j in m * 100..((m + 1) * 100).min(series) {
            let v = (j * 7 + variant * 13) % 1000;
            s.push_str(&format!("bench_metric_{m}{{series=\"{j}\",path=\"/api/v1/items\",code=\"200\"}} {v}.5\n"));
        }
    }
    s.into_bytes()
}

/// The child: serves `targets` listeners on 127.0.0.1, printing their ports.
fn serve(targets: u64, series: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async move {
        let bodies: Arc<[Vec<u8>; 2]> = Arc::new([exposition(series, 0), exposition(series, 1)]);
        let mut out = std::io::stdout().lock();
        for _ in 0..targets {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            writeln!(out, "{}", l.local_addr().unwrap().port()).unwrap();
            let bodies = Arc::clone(&bodies);
            tokio::spawn(async move {
                let mut n = 0usize;
                while let Ok((mut sock, _)) = l.accept().await {
                    let _ = sock.set_nodelay(true);
                    let bodies = Arc::clone(&bodies);
                    n += 1;
                    let start = n;
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 8192];
                        let mut have = 0;
                        let mut k = start;
                        loop {
                            match sock.read(&mut buf[have..]).await {
                                Ok(0) | Err(_) => return,
                                Ok(r) => have += r,
                            }
                            while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                                buf.copy_within(end + 4..have, 0);
                                have -= end + 4;
                                k += 1;
                                let body = &bodies[k % 2];
                                let head = format!(
                                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
                                     Content-Length: {}\r\n\r\n",
                                    body.len()
                                );
                                if sock.write_all(head.as_bytes()).await.is_err() || sock.write_all(body).await.is_err()
                                {
                                    return;
                                }
                            }
                            if have == buf.len() {
                                return;
                            }
                        }
                    });
                }
            });
        }
        drop(out);
        std::future::pending::<()>().await;
    });
}

/// (user, system) CPU seconds of a process from /proc (clock ticks of 1/100 s).
fn cpu_seconds(pid: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) / 100.0, tick(12) / 100.0)
}

/// A `kB` field of /proc/self/status or /proc/meminfo, in bytes.
fn kb_field(file: &str, field: &str) -> u64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn rss_bytes() -> u64 {
    kb_field("/proc/self/status", "VmRSS:")
}

fn rss_mib() -> f64 {
    rss_bytes() as f64 / (1 << 20) as f64
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (targets, series) = (arg("--targets", 1000), arg("--series", 10_000));
    if args.get(1).map(String::as_str) == Some("serve") {
        return serve(targets, series);
    }
    let interval = arg("--interval", 10).max(1);
    let (warmup, measure) = (arg("--warmup", 30), arg("--measure", 60));
    let total = targets * series;
    // About 1 KiB per series (head + caches), generously, plus the bodies and runtime.
    let need = total * 1024 + (512 << 20);
    let avail = kb_field("/proc/meminfo", "MemAvailable:");
    if avail > 0 && need + (4 << 30) > avail && !args.iter().any(|a| a == "--force") {
        eprintln!(
            "{total} series need about {} MiB; {} MiB available would leave less than 4 GiB spare (--force to run anyway)",
            need >> 20,
            avail >> 20
        );
        std::process::exit(2);
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["serve", "--targets", &targets.to_string(), "--series", &series.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the target process");
    let child_pid = child.id().to_string();
    let mut ports = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while ports.len() < targets as usize {
        ports.push(lines.next().expect("child ended").unwrap());
    }
    let body_len = exposition(series, 0).len();
    println!(
        "{targets} targets x {series} series every {interval}s = {} samples/s offered; body {} KiB",
        total / interval,
        body_len / 1024
    );

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let mut cfg = ScrapeConfig::new("bench");
        cfg.scrape_interval = Some(ember_discovery::units::PromDuration(Duration::from_secs(interval)));
        cfg.scrape_timeout = Some(ember_discovery::units::PromDuration(Duration::from_secs(interval)));
        let head = Arc::new(Head::default());
        let mgr = ScrapeManager::new(&[cfg], head.clone(), ScrapeOptions::default()).unwrap();
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut state = DiscoveryState::default();
        state.groups.insert("bench".into(), vec![TargetGroup::from_addresses("0", &addrs, Labels::empty())]);
        let rss0 = rss_bytes();
        let t0 = Instant::now();
        mgr.sync(&state);

        let snap = |label: &str, s: &ScrapeStats, el: f64| {
            println!(
                "{label:>8} {el:6.1}s: scrapes {:6} failed {:4} missed {:5} late {:5} appended {:11} series {:9} rss {:7.0} MiB load {}",
                s.scrapes,
                s.failures,
                s.missed,
                s.late,
                s.samples_appended,
                head.num_series(),
                rss_mib(),
                loadavg()
            );
        };
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        ticker.tick().await;
        // Warm up: every series created, two more intervals, and at least `--warmup` seconds.
        let mut all_at = None;
        loop {
            ticker.tick().await;
            let el = t0.elapsed();
            snap("warmup", &mgr.stats(), el.as_secs_f64());
            // + 5: the report series of each target.
            if all_at.is_none() && head.num_series() as u64 >= total + 5 * targets {
                all_at = Some(el);
                println!("all {} series created after {:.1}s", head.num_series(), el.as_secs_f64());
            }
            if all_at.is_some_and(|a| el >= a + Duration::from_secs(2 * interval)) && el >= Duration::from_secs(warmup) {
                break;
            }
        }
        let (s0, c0, cc0, m0) = (mgr.stats(), cpu_seconds("self"), cpu_seconds(&child_pid), Instant::now());
        while m0.elapsed() < Duration::from_secs(measure) {
            ticker.tick().await;
            snap("measure", &mgr.stats(), t0.elapsed().as_secs_f64());
        }
        let (s1, c1, cc1, el) = (mgr.stats(), cpu_seconds("self"), cpu_seconds(&child_pid), m0.elapsed().as_secs_f64());
        let appended = s1.samples_appended - s0.samples_appended;
        let scrapes = s1.scrapes - s0.scrapes;
        let expected = (targets as f64 * el / interval as f64).floor();
        let (user, sys) = (c1.0 - c0.0, c1.1 - c0.1);
        let rss = rss_bytes();
        let n = head.num_series().max(1) as f64;
        println!("--- measurement window {el:.1}s (after {:.1}s warm-up) ---", m0.duration_since(t0).as_secs_f64());
        println!("sustained: {:.0} samples/s appended (offered {})", appended as f64 / el, total / interval);
        println!(
            "scrapes: {scrapes} (≈{expected:.0} scheduled), series added {}, failed {}, missed {}, late {}, mean scrape {:.1} ms",
            s1.series_added - s0.series_added,
            s1.failures - s0.failures,
            s1.missed - s0.missed,
            s1.late - s0.late,
            (s1.scrape_micros - s0.scrape_micros) as f64 / scrapes.max(1) as f64 / 1000.0
        );
        println!(
            "CPU: scraper {:.2} cores (user {:.1}s + sys {:.1}s = {:.0} ns/sample), target process {:.2} cores; load avg {}",
            (user + sys) / el,
            user,
            sys,
            (user + sys) * 1e9 / appended.max(1) as f64,
            (cc1.0 + cc1.1 - cc0.0 - cc0.1) / el,
            loadavg()
        );
        println!(
            "memory: rss {:.0} MiB ({:.0} MiB before the targets), head series {}, {:.0} bytes/series (rss growth / series), \
             of which scrape caches {:.0} bytes/series",
            rss as f64 / (1 << 20) as f64,
            rss0 as f64 / (1 << 20) as f64,
            head.num_series(),
            rss.saturating_sub(rss0) as f64 / n,
            s1.cache_bytes as f64 / n,
        );
        mgr.stop().await;
    });
    let _ = child.kill();
    let _ = child.wait();
}
