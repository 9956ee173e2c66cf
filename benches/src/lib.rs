//! # ember-benches
//!
//! Cross-crate benchmarks: the whole path a Prometheus-compatible server built from Ember
//! takes, measured as one thing. A [`Fleet`] of simulated targets instruments itself with
//! `ember-client` (node-exporter-like CPU, memory, network and filesystem metrics, plus an
//! HTTP server's request counters and latency histograms) and encodes its `/metrics` body in
//! any exposition format; a [`Pipeline`] scrapes those bodies through
//! `ember-discovery`'s scrape path (parse, per-target cache, target labels, staleness) into
//! an `ember-tsdb` database with its write-ahead log, and answers PromQL over it with
//! `ember-promql`. Per-crate benches live in each crate's own `benches/`; these answer what
//! the crates cost together (`cargo bench -p ember-benches`).
//!
//! ```
//! use ember_benches::{Fleet, Pipeline};
//! use ember_exposition::format::Format;
//!
//! let dir = std::env::temp_dir().join(format!("ember-benches-doc-{}", std::process::id()));
//! let mut fleet = Fleet::new(3, 7);
//! let mut pipeline = Pipeline::open(&dir, fleet.len()).unwrap();
//! // Ten scrapes, 15 s apart, of every target, in the OpenMetrics format.
//! for i in 0..10 {
//!     fleet.tick();
//!     let stats = pipeline.scrape(&fleet.bodies(Format::OpenMetrics100), Format::OpenMetrics100, i * 15_000).unwrap();
//!     assert_eq!(stats.rejected, 0);
//! }
//! // Every target's 64 CPU series arrived, labelled with their target: one scrape path,
//! // one database and one engine composed, with nothing in between.
//! let r = pipeline.instant_query("count by (instance) (node_cpu_seconds_total)", 135_000).unwrap();
//! let ember_promql::engine::Value::Vector(v) = r.value else { panic!("a vector") };
//! assert_eq!(v.len(), 3);
//! assert!(v.iter().all(|s| s.f == 64.0));
//! drop(pipeline);
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::path::Path;
use std::time::Duration;

use ember_client::{Buckets, Counter, Family, Gauge, Histogram, Registry};
use ember_discovery::scrape::{ScrapeCache, SeriesRules};
use ember_exposition::format::Format;
use ember_exposition::labels;
use ember_promql::engine::{Engine, EngineError, EngineOptions, QueryResult};
use ember_tsdb::db::Db;
use ember_tsdb::storage::Appendable;
use ember_tsdb::wal::SyncPolicy;

/// CPUs and modes of a target's `node_cpu_seconds_total`.
const CPUS: usize = 8;
const MODES: [&str; 8] = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"];
const MEMORY: [&str; 10] = [
    "MemTotal",
    "MemFree",
    "MemAvailable",
    "Buffers",
    "Cached",
    "SwapTotal",
    "SwapFree",
    "Active",
    "Inactive",
    "Dirty",
];
const DEVICES: [&str; 4] = ["eth0", "eth1", "lo", "docker0"];
const MOUNTS: [(&str, &str); 4] =
    [("/dev/sda1", "/"), ("/dev/sda2", "/home"), ("/dev/sdb1", "/var"), ("tmpfs", "/run")];
const HANDLERS: [&str; 10] = [
    "/",
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/metrics",
    "/-/healthy",
    "/login",
    "/static",
    "/graph",
];
const METHODS: [&str; 2] = ["GET", "POST"];
const CODES: [&str; 3] = ["200", "404", "500"];
/// Latency observations per handler per tick.
const OBSERVATIONS: usize = 20;

/// One simulated target: its registry and the metrics it updates every tick.
struct Target {
    registry: Registry,
    cpu: Family<Counter<f64>>,
    memory: Vec<Gauge<f64>>,
    network: [Family<Counter<u64>>; 2],
    filesystem: [Family<Gauge<f64>>; 3],
    load: [Gauge<f64>; 3],
    requests: Family<Counter<u64>>,
    latency: Family<Histogram>,
    rng: Rng,
}

/// A seeded xorshift generator.
struct Rng(u64);

impl Rng {
    /// A number in `[0, 1)`.
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Simulated scrape targets with seeded, evolving metrics (see the crate docs).
pub struct Fleet {
    targets: Vec<Target>,
}

impl Target {
    fn new(seed: u64) -> Target {
        let registry = Registry::new();
        let cpu = Family::<Counter<f64>>::new(&["cpu", "mode"]).expect("valid names");
        registry.register("node_cpu_seconds", "Seconds the CPUs spent in each mode.", cpu.clone()).expect("unique");
        let memory: Vec<Gauge<f64>> = MEMORY
            .iter()
            .map(|m| {
                let g = Gauge::<f64>::new();
                registry
                    .register(&format!("node_memory_{m}_bytes"), "Memory information field.", g.clone())
                    .expect("unique");
                g
            })
            .collect();
        let network = ["receive", "transmit"].map(|dir| {
            let f = Family::<Counter<u64>>::new(&["device"]).expect("valid names");
            registry
                .register(&format!("node_network_{dir}_bytes"), "Network device statistic.", f.clone())
                .expect("unique");
            f
        });
        let filesystem = ["size", "avail", "free"].map(|what| {
            let f = Family::<Gauge<f64>>::new(&["device", "mountpoint"]).expect("valid names");
            registry
                .register(&format!("node_filesystem_{what}_bytes"), "Filesystem space in bytes.", f.clone())
                .expect("unique");
            f
        });
        let load = ["1", "5", "15"].map(|m| {
            let g = Gauge::<f64>::new();
            registry.register(&format!("node_load{m}"), "Load average.", g.clone()).expect("unique");
            g
        });
        let requests = Family::<Counter<u64>>::new(&["handler", "method", "code"]).expect("valid names");
        registry.register("http_requests", "Requests served.", requests.clone()).expect("unique");
        let buckets = Buckets::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]).expect("sorted");
        let latency = Family::<Histogram>::new_with(&["handler"], move || Histogram::new(&buckets)).expect("names");
        registry.register("http_request_duration_seconds", "Time to answer.", latency.clone()).expect("unique");
        let mut t = Target {
            registry,
            cpu,
            memory,
            network,
            filesystem,
            load,
            requests,
            latency,
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
        };
        // Every series exists from the first scrape on.
        for c in 0..CPUS {
            for m in MODES {
                t.cpu.with_label_values(&[&c.to_string(), m]).inc_by(0.0);
            }
        }
        for h in HANDLERS {
            for m in METHODS {
                for c in CODES {
                    t.requests.with_label_values(&[h, m, c]).inc_by(0);
                }
            }
            let _ = t.latency.with_label_values(&[h]);
        }
        t.tick();
        t
    }

    /// One scrape interval (15 s) of activity.
    fn tick(&mut self) {
        let rng = &mut self.rng;
        for c in 0..CPUS {
            let cpu = c.to_string();
            let mut left = 15.0;
            for m in MODES {
                // The modes share the interval exactly: each CPU counts 15 s per tick.
                let spent = match m {
                    "user" => left,
                    "idle" => left * 0.5,
                    _ => left * rng.next() * 0.2,
                };
                left -= spent;
                self.cpu.with_label_values(&[&cpu, m]).inc_by(spent);
            }
        }
        for (i, g) in self.memory.iter().enumerate() {
            let base = (i as f64 + 1.0) * 1e9;
            g.set(base * (0.9 + 0.1 * rng.next()));
        }
        for (k, f) in self.network.iter().enumerate() {
            for d in DEVICES {
                let bytes = (rng.next() * 1e6) as u64 * (k as u64 + 1);
                f.with_label_values(&[d]).inc_by(bytes);
            }
        }
        for (k, f) in self.filesystem.iter().enumerate() {
            for (d, m) in MOUNTS {
                let v = 1e11 / (k as f64 + 1.0) * (0.5 + 0.01 * rng.next());
                f.with_label_values(&[d, m]).set(v);
            }
        }
        for g in &self.load {
            let v = 4.0 * rng.next();
            g.set(v);
        }
        for h in HANDLERS {
            for m in METHODS {
                for c in CODES {
                    let n = (rng.next() * if c == "200" { 100.0 } else { 3.0 }) as u64;
                    self.requests.with_label_values(&[h, m, c]).inc_by(n);
                }
            }
            for _ in 0..OBSERVATIONS {
                let x = rng.next();
                let latency = 0.001 * (1.0 / (1.0 - x * 0.999)).powf(1.5);
                self.latency.with_label_values(&[h]).observe(latency);
            }
        }
    }
}

impl Fleet {
    /// `targets` simulated targets, seeded by `seed` (the same seed gives the same bodies).
    pub fn new(targets: usize, seed: u64) -> Fleet {
        Fleet { targets: (0..targets).map(|i| Target::new(seed ^ (i as u64 + 1))).collect() }
    }

    /// How many targets.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no targets.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Advances every target by one 15 s scrape interval.
    pub fn tick(&mut self) {
        self.targets.iter_mut().for_each(Target::tick);
    }

    /// Each target's `/metrics` body in `format`.
    pub fn bodies(&self, format: Format) -> Vec<Vec<u8>> {
        self.targets.iter().map(|t| t.registry.encode_format(format).expect("encodable")).collect()
    }
}

/// What went wrong in a [`Pipeline`].
#[derive(Debug)]
pub struct PipelineError {
    kind: PipelineErrorKind,
}

/// The kinds of [`PipelineError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum PipelineErrorKind {
    /// The database could not be opened.
    Open(ember_tsdb::Error),
    /// A target's body did not scrape (the target index and the error).
    Scrape(usize, ember_discovery::scrape::ScrapeError),
    /// The storage refused a commit (the target index and the error).
    Commit(usize, ember_tsdb::storage::AppendError),
    /// More bodies than targets.
    TooManyBodies {
        /// Bodies given.
        bodies: usize,
        /// Targets the pipeline was opened for.
        targets: usize,
    },
}

impl PipelineError {
    /// What went wrong.
    pub fn kind(&self) -> &PipelineErrorKind {
        &self.kind
    }
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PipelineErrorKind::Open(e) => write!(f, "opening the database: {e}"),
            PipelineErrorKind::Scrape(i, e) => write!(f, "scraping target {i}: {e}"),
            PipelineErrorKind::Commit(i, e) => write!(f, "committing target {i}: {e}"),
            PipelineErrorKind::TooManyBodies { bodies, targets } => {
                write!(f, "{bodies} bodies for a pipeline of {targets} targets")
            }
        }
    }
}

impl std::error::Error for PipelineError {}

/// What one scrape of every target added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleStats {
    /// Samples appended (after the scrape path's relabeling and deduplication).
    pub samples: u64,
    /// Series new to the targets' scrape caches.
    pub series_added: u64,
    /// Samples the storage rejected.
    pub rejected: u64,
}

/// Scrape path, database and engine, composed as a server composes them.
pub struct Pipeline {
    db: Db,
    targets: Vec<(SeriesRules, ScrapeCache)>,
    engine: Engine,
}

impl Pipeline {
    /// Opens a database with its write-ahead log (synced every second) in `dir`, for
    /// `targets` targets labelled `job="node"`, `instance="host-<i>:9100"`.
    pub fn open(dir: &Path, targets: usize) -> Result<Pipeline, PipelineError> {
        let db = Db::builder(dir)
            .sync(SyncPolicy::Interval(Duration::from_secs(1)))
            .open()
            .map_err(|e| PipelineError { kind: PipelineErrorKind::Open(e) })?;
        let targets = (0..targets)
            .map(|i| {
                let instance = format!("host-{i}:9100");
                (SeriesRules::new(labels! {"job" => "node", "instance" => instance.as_str()}), ScrapeCache::new())
            })
            .collect();
        Ok(Pipeline { db, targets, engine: Engine::new(EngineOptions::default()) })
    }

    /// Scrapes body `i` as target `i`'s at `t` (ms), each target in its own commit as the
    /// scrape loop does; a body that fails is rolled back and reported.
    pub fn scrape(&mut self, bodies: &[Vec<u8>], format: Format, t: i64) -> Result<CycleStats, PipelineError> {
        if bodies.len() > self.targets.len() {
            let kind = PipelineErrorKind::TooManyBodies { bodies: bodies.len(), targets: self.targets.len() };
            return Err(PipelineError { kind });
        }
        let mut cycle = CycleStats::default();
        for (i, (body, (rules, cache))) in bodies.iter().zip(&mut self.targets).enumerate() {
            let mut app = Appendable::appender(&self.db);
            match cache.append_body(&mut *app, rules, body, format, t) {
                Ok(st) => {
                    app.commit().map_err(|e| PipelineError { kind: PipelineErrorKind::Commit(i, e) })?;
                    cycle.samples += st.post_relabel - st.rejected - st.duplicates;
                    cycle.series_added += st.series_added;
                    cycle.rejected += st.rejected;
                }
                Err(e) => {
                    let _ = app.rollback();
                    return Err(PipelineError { kind: PipelineErrorKind::Scrape(i, e) });
                }
            }
        }
        Ok(cycle)
    }

    /// Evaluates `query` at `t` (ms).
    pub fn instant_query(&self, query: &str, t: i64) -> Result<QueryResult, EngineError> {
        self.engine.instant_query(&self.db, query, t)
    }

    /// Evaluates `query` from `start` to `end` every `step` (ms).
    pub fn range_query(&self, query: &str, start: i64, end: i64, step: i64) -> Result<QueryResult, EngineError> {
        self.engine.range_query(&self.db, query, start, end, step)
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }
}
