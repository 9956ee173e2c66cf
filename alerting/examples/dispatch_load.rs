//! Dispatcher load test: 100,000 active alerts across 1,000 aggregation groups.
//!
//! ```text
//! cargo run --release -p ember-alerting --example dispatch_load [ALERTS] [GROUPS]
//! ```
//!
//! Measures, on a virtual clock (no sleeping, no network), the CPU time (user+system,
//! from /proc/self/stat) of:
//! - ingest: `put` of every alert (routing, grouping, inhibition index);
//! - first flush: every group due, 1,000 notifications built and acknowledged;
//! - evaluation cycle: all alerts re-sent with a refreshed `endsAt` (what a rule
//!   evaluator does every interval) followed by a flush where the notification log
//!   suppresses every unchanged group;
//! - webhook JSON rendering of the first flush's notifications;
//!
//! and the resident set size (VmRSS / VmHWM from /proc/self/status).

use std::sync::Arc;

use ember_alerting::dispatch::{
    Config, Dispatcher, ManualClock, PostableAlert, Silence, parse_matchers, payload::request_for,
};
use ember_exposition::Labels;

const T0: i64 = 1_704_067_200_000;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0)))
        .unwrap_or(0)
}

/// Wall and CPU time of `f`.
fn measure<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (c0, w0) = (cpu_seconds(), std::time::Instant::now());
    let v = f();
    (v, w0.elapsed().as_secs_f64(), cpu_seconds() - c0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n_alerts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let n_groups: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let yaml = r#"
route:
  receiver: default
  group_by: [alertname, cluster]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="page"']
      receiver: pager
    - matchers: ['team=~"db|storage"']
      receiver: db
receivers:
  - {name: default, webhook_configs: [{url: "http://127.0.0.1:9/default"}]}
  - {name: pager, webhook_configs: [{url: "http://127.0.0.1:9/pager"}]}
  - {name: db, webhook_configs: [{url: "http://127.0.0.1:9/db"}]}
inhibit_rules:
  - source_matchers: [severity="page"]
    target_matchers: [severity="warning"]
    equal: [cluster]
"#;
    let cfg = Arc::new(Config::from_yaml(yaml).expect("valid config"));
    let clock = ManualClock::new(T0);
    let mut d = Dispatcher::new(cfg, clock.clone());
    // One silence that matches nothing, so the silence check runs for every alert.
    d.silences_mut()
        .set(
            Silence {
                id: String::new(),
                matchers: parse_matchers(r#"alertname="NoSuchAlert""#).unwrap(),
                starts_at: T0,
                ends_at: T0 + 86_400_000,
                updated_at: 0,
                created_by: "load".into(),
                comment: String::new(),
            },
            T0,
        )
        .unwrap();

    let teams = ["web", "db", "storage", "api"];
    let severities = ["warning", "critical", "info", "page"];
    let make = |i: usize, ends: i64| {
        let g = i % n_groups;
        let labels = Labels::from_pairs([
            ("alertname", format!("Alert{}", g % 50)),
            ("cluster", format!("c{}", g / 50)),
            ("instance", format!("host-{i}:9100")),
            ("job", "node".to_string()),
            ("team", teams[g % 4].to_string()),
            // Severity is per group so that inhibition does not empty groups.
            ("severity", severities[(g / 4) % 4].to_string()),
        ]);
        PostableAlert {
            labels,
            annotations: Labels::from_pairs([("summary", format!("alert {i} is firing"))]),
            starts_at: Some(T0),
            ends_at: Some(ends),
            generator_url: "http://prometheus:9090/graph".into(),
        }
    };
    let rss0 = status_kb("VmRSS:");
    let alerts: Vec<PostableAlert> = (0..n_alerts).map(|i| make(i, T0 + 3_600_000)).collect();
    let ((), w, c) = measure(|| d.put(alerts));
    println!(
        "ingest {n_alerts} alerts: wall {:.3}s cpu {:.3}s, {} groups; VmRSS after ingest {} MiB",
        w,
        c,
        d.groups().len(),
        status_kb("VmRSS:") / 1024
    );

    clock.set(T0 + 30_000);
    let (ns, w, c) = measure(|| d.poll());
    let sent: usize = ns.iter().map(|n| n.alerts.len()).sum();
    println!("first flush: wall {:.3}s cpu {:.3}s, {} notifications carrying {} alerts", w, c, ns.len(), sent);
    let (bytes, w, c) = measure(|| ns.iter().map(|n| request_for(n).body.len()).sum::<usize>());
    println!("render webhook JSON: wall {:.3}s cpu {:.3}s, {} bytes", w, c, bytes);
    for n in &ns {
        d.complete(n, true);
    }
    drop(ns);

    let cycles = 5;
    let (mut put_cpu, mut flush_cpu, mut put_wall, mut flush_wall) = (0.0, 0.0, 0.0, 0.0);
    for k in 1..=cycles {
        let now = T0 + 30_000 + k * 300_000;
        clock.set(now - 1_000);
        let alerts: Vec<PostableAlert> = (0..n_alerts).map(|i| make(i, now + 3_600_000)).collect();
        let ((), w, c) = measure(|| d.put(alerts));
        put_wall += w;
        put_cpu += c;
        clock.set(now);
        let (ns, w, c) = measure(|| d.poll());
        flush_wall += w;
        flush_cpu += c;
        assert!(ns.is_empty(), "unchanged groups must not be re-sent before repeat_interval");
    }
    let cycles = cycles as f64;
    println!(
        "evaluation cycle (re-put {n_alerts} + flush {n_groups} groups), mean of {cycles}: put wall {:.3}s cpu {:.3}s; flush wall {:.3}s cpu {:.3}s",
        put_wall / cycles,
        put_cpu / cycles,
        flush_wall / cycles,
        flush_cpu / cycles
    );
    println!(
        "memory: VmRSS {} MiB (start {} MiB), VmHWM {} MiB; {} alerts held",
        status_kb("VmRSS:") / 1024,
        rss0 / 1024,
        status_kb("VmHWM:") / 1024,
        d.alert_count()
    );
}
