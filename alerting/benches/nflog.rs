//! What does a notification-log snapshot cost, and what does the binary format buy over
//! JSON (the format of the silences snapshot)?
//!
//! `cargo bench -p ember-alerting --bench nflog -- --warm-up-time 1 --measurement-time 3`
//!
//! - `encode/10k` and `decode/10k`: the binary snapshot of 10,000 entries (1,000 groups ×
//!   10 integrations, 10 firing fingerprints each), seeded data.
//! - `encode-json/10k` and `decode-json/10k`: the peer, the same entries through
//!   `serde_json` with the same fields.
//!
//! Sizes are printed once per run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ember_alerting::dispatch::NotificationLog;
use serde::{Deserialize, Serialize};

const T0: i64 = 1_704_067_200_000;

#[derive(Serialize, Deserialize)]
struct JsonEntry {
    group: u64,
    integration: String,
    firing: Vec<u64>,
    resolved: Vec<u64>,
    timestamp: i64,
    expires_at: i64,
}

fn log() -> NotificationLog {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut log = NotificationLog::new(120 * 3_600_000);
    for g in 0..1000 {
        let group = next();
        for i in 0..10 {
            let mut firing: Vec<u64> = (0..10).map(|_| next()).collect();
            firing.sort_unstable();
            log.log(group, &format!("team-{g}/webhook[{i}]"), firing, Vec::new(), T0);
        }
    }
    log
}

fn to_json(log: &NotificationLog) -> Vec<u8> {
    let entries: Vec<JsonEntry> = log
        .iter()
        .map(|(group, name, e)| JsonEntry {
            group,
            integration: name.to_owned(),
            firing: e.firing.clone(),
            resolved: e.resolved.clone(),
            timestamp: e.timestamp,
            expires_at: e.expires_at,
        })
        .collect();
    serde_json::to_vec(&entries).unwrap()
}

fn from_json(bytes: &[u8]) -> NotificationLog {
    let entries: Vec<JsonEntry> = serde_json::from_slice(bytes).unwrap();
    let mut log = NotificationLog::new(120 * 3_600_000);
    for e in entries {
        log.log(e.group, &e.integration, e.firing, e.resolved, e.timestamp);
    }
    log
}

fn bench(c: &mut Criterion) {
    let log = log();
    let bin = log.encode(T0);
    let json = to_json(&log);
    assert_eq!(from_json(&json).len(), NotificationLog::decode(&bin, 1, T0).unwrap().0.len());
    eprintln!("10k entries: binary {} bytes, JSON {} bytes", bin.len(), json.len());
    c.bench_function("encode/10k", |b| b.iter(|| black_box(log.encode(T0))));
    c.bench_function("encode-json/10k", |b| b.iter(|| black_box(to_json(&log))));
    c.bench_function("decode/10k", |b| b.iter(|| black_box(NotificationLog::decode(&bin, 1, T0).unwrap())));
    c.bench_function("decode-json/10k", |b| b.iter(|| black_box(from_json(&json))));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
