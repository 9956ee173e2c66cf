//! Scrape pools (one per job), their loops (one per target) and the manager that keeps
//! them in step with discovery.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ember_exposition::{Labels, LabelsBuilder, METRIC_NAME_LABEL, STALE_NAN, Timestamp};
use ember_tsdb::storage::{AppendOptions, Appendable, Appender, SeriesRef, Value};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{
    AppendStats, Limits, MetricMetadata, ScrapeCache, ScrapeClient, ScrapeError, ScrapeErrorKind, SeriesRules,
    TargetMetadata,
};
use crate::api::{Health, ScrapeStatus, TargetDiscovery};
use crate::config::ScrapeConfig;
use crate::discovery::DiscoveryState;
use crate::target::{Target, TargetBuilder, Targets};

/// Options of a [`ScrapeManager`] that configuration does not cover.
#[derive(Debug, Clone, Default)]
pub struct ScrapeOptions {
    /// Mixed into every target's offset, so that two servers scraping the same targets
    /// (an HA pair) spread differently; Prometheus derives it from the host name and
    /// external labels.
    pub offset_seed: u64,
    /// Replaces a loopback host in the targets view's `globalUrl`.
    pub hostname: Option<String>,
    /// Pass scraped exemplars to the storage (Prometheus does with
    /// `--enable-feature=exemplar-storage`); off, they are skipped unread.
    pub exemplars: bool,
}

/// Totals over every loop since the manager started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrapeStats {
    /// Loops running now.
    pub targets: u64,
    /// Scrapes attempted.
    pub scrapes: u64,
    /// Scrapes that failed (`up` 0).
    pub failures: u64,
    /// Scheduled scrapes skipped because the loop was still busy with an earlier one or
    /// the runtime did not get to it within an interval.
    pub missed: u64,
    /// Scrapes that started more than a tenth of their interval after their slot.
    pub late: u64,
    /// Samples in scraped bodies.
    pub samples_scraped: u64,
    /// Samples appended after metric relabeling.
    pub samples_appended: u64,
    /// Series new to the scrape caches.
    pub series_added: u64,
    /// Samples the storage rejected (out of order, out of bounds, duplicate timestamp).
    pub samples_rejected: u64,
    /// Sum of scrape durations, in microseconds.
    pub scrape_micros: u64,
    /// Heap bytes of the running loops' scrape caches now.
    pub cache_bytes: u64,
}

#[derive(Default)]
struct Counters {
    scrapes: AtomicU64,
    failures: AtomicU64,
    missed: AtomicU64,
    late: AtomicU64,
    samples_scraped: AtomicU64,
    samples_appended: AtomicU64,
    series_added: AtomicU64,
    samples_rejected: AtomicU64,
    scrape_micros: AtomicU64,
}

impl Counters {
    fn add(c: &AtomicU64, n: u64) {
        if n > 0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Body buffers shared by all loops, so memory follows concurrent scrapes, not targets.
#[derive(Default)]
struct Buffers(Mutex<Vec<Vec<u8>>>);

impl Buffers {
    fn take(&self) -> Vec<u8> {
        self.0.lock().expect("buffer pool").pop().unwrap_or_default()
    }
    fn put(&self, b: Vec<u8>) {
        let mut pool = self.0.lock().expect("buffer pool");
        if pool.len() < 16 {
            pool.push(b);
        }
    }
}

/// The scrape offset of `target` within its interval: a hash of its labels and URL, mixed
/// with `seed`, modulo the interval. A loop scrapes when wall-clock time modulo the interval
/// equals the offset, so targets spread evenly and keep their slot across restarts.
pub fn target_offset(target: &Target, interval: Duration, seed: u64) -> Duration {
    let mut h = target.full_labels().stable_hash();
    for b in target.url().bytes().chain(interval.as_nanos().to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let n = interval.as_nanos().max(1) as u64;
    Duration::from_nanos((h ^ seed) % n)
}

fn now_ms() -> Timestamp {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// How a loop is told to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The target went away: write staleness markers for all its series.
    Removed,
    /// The manager shuts down: leave the series as they are (a restart continues them).
    Shutdown,
}

/// What a loop shares with the manager.
#[derive(Default)]
struct LoopShared {
    status: Mutex<ScrapeStatus>,
    cache_bytes: AtomicU64,
    metadata: Arc<TargetMetadata>,
}

/// One active target's metric metadata, as [`ScrapeManager::targets_metadata`] lists it.
#[derive(Debug, Clone)]
pub struct TargetMetadataView {
    /// The target's scrape pool (its job name).
    pub scrape_pool: String,
    /// The target's labels (`job`, `instance`, …), as stored series carry them.
    pub labels: Labels,
    /// Its families' metadata, sorted by family name; empty until a scrape reported some.
    pub metadata: Arc<[MetricMetadata]>,
}

struct Running {
    shared: Arc<LoopShared>,
    stop: Option<oneshot::Sender<Stop>>,
    task: JoinHandle<()>,
}

/// Everything a pool's loops share.
struct PoolShared {
    client: ScrapeClient,
    honor_labels: bool,
    honor_timestamps: bool,
    track_timestamps_staleness: bool,
    metric_relabel: Vec<ember_exposition::relabel::Relabel>,
    limits: Limits,
}

struct Pool {
    builder: TargetBuilder,
    shared: Arc<PoolShared>,
    targets: Targets,
    loops: HashMap<u64, Running>,
}

struct Inner {
    pools: Mutex<BTreeMap<String, Pool>>,
    storage: Arc<dyn Appendable>,
    opts: ScrapeOptions,
    counters: Arc<Counters>,
    buffers: Arc<Buffers>,
    watcher: Mutex<Option<JoinHandle<()>>>,
}

/// Runs the scrape loops of every job and keeps them in step with discovery.
///
/// Cloning gives another handle on the same manager.
#[derive(Clone)]
pub struct ScrapeManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ScrapeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeManager").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

fn target_key(t: &Target) -> u64 {
    let mut h = t.full_labels().stable_hash();
    for b in t.url().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl ScrapeManager {
    /// A manager for `configs` writing into `storage`. Fails when a job's HTTP client or
    /// relabel rules cannot be built. No loop runs until [`ScrapeManager::sync`] or
    /// [`ScrapeManager::watch`] gives it targets.
    pub fn new(
        configs: &[ScrapeConfig],
        storage: Arc<dyn Appendable>,
        opts: ScrapeOptions,
    ) -> Result<Self, ScrapeError> {
        let mut pools = BTreeMap::new();
        for cfg in configs {
            let relabel_err = |e: ember_exposition::relabel::RelabelError| {
                ScrapeError::new(ScrapeErrorKind::Client(format!("job {}: {e}", cfg.job_name)))
            };
            let shared = PoolShared {
                client: ScrapeClient::new(cfg)?,
                honor_labels: cfg.honor_labels,
                honor_timestamps: cfg.honor_timestamps,
                track_timestamps_staleness: cfg.track_timestamps_staleness,
                metric_relabel: cfg.metric_relabel().map_err(relabel_err)?,
                limits: Limits {
                    sample_limit: cfg.sample_limit,
                    label_limit: cfg.label_limit,
                    label_name_length_limit: cfg.label_name_length_limit,
                    label_value_length_limit: cfg.label_value_length_limit,
                    body_size_limit: cfg.body_size_limit.0,
                },
            };
            let pool = Pool {
                builder: TargetBuilder::new(cfg).map_err(relabel_err)?,
                shared: Arc::new(shared),
                targets: Targets::default(),
                loops: HashMap::new(),
            };
            pools.insert(cfg.job_name.clone(), pool);
        }
        Ok(ScrapeManager {
            inner: Arc::new(Inner {
                pools: Mutex::new(pools),
                storage,
                opts,
                counters: Arc::default(),
                buffers: Arc::default(),
                watcher: Mutex::new(None),
            }),
        })
    }

    /// Brings every pool in line with `state`: starts loops for new targets and stops those
    /// of targets that are gone (writing their staleness markers). Must be called inside a
    /// tokio runtime.
    pub fn sync(&self, state: &DiscoveryState) {
        let mut pools = self.inner.pools.lock().expect("pools");
        for (job, pool) in pools.iter_mut() {
            let targets = pool.builder.build(state.job(job));
            let mut keep: HashMap<u64, &Target> = HashMap::with_capacity(targets.active.len());
            for t in &targets.active {
                keep.insert(target_key(t), t);
            }
            pool.loops.retain(|k, running| {
                if keep.contains_key(k) {
                    return true;
                }
                if let Some(stop) = running.stop.take() {
                    let _ = stop.send(Stop::Removed);
                }
                false
            });
            for (k, t) in keep {
                if pool.loops.contains_key(&k) {
                    continue;
                }
                pool.loops.insert(k, self.spawn(t.clone(), Arc::clone(&pool.shared)));
            }
            pool.targets = targets;
        }
    }

    /// Follows a discovery manager's published state (see
    /// [`Manager::subscribe`](crate::discovery::Manager::subscribe)) until
    /// [`ScrapeManager::stop`], syncing on every change.
    pub fn watch(&self, mut rx: watch::Receiver<Arc<DiscoveryState>>) {
        let me = self.clone();
        let task = tokio::spawn(async move {
            loop {
                let state = rx.borrow_and_update().clone();
                me.sync(&state);
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
        if let Some(old) = self.inner.watcher.lock().expect("watcher").replace(task) {
            old.abort();
        }
    }

    /// Stops following discovery and ends every loop without staleness markers (a restart
    /// continues the series), waiting for in-flight scrapes to be abandoned.
    pub async fn stop(&self) {
        if let Some(w) = self.inner.watcher.lock().expect("watcher").take() {
            w.abort();
        }
        let mut tasks = Vec::new();
        {
            let mut pools = self.inner.pools.lock().expect("pools");
            for pool in pools.values_mut() {
                for (_, mut running) in pool.loops.drain() {
                    if let Some(stop) = running.stop.take() {
                        let _ = stop.send(Stop::Shutdown);
                    }
                    tasks.push(running.task);
                }
                pool.targets = Targets::default();
            }
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    /// The `/api/v1/targets` data: every pool's active targets with their scrape status,
    /// and the dropped ones.
    pub fn targets(&self) -> TargetDiscovery {
        let pools = self.inner.pools.lock().expect("pools");
        let mut out = TargetDiscovery::default();
        for (job, pool) in pools.iter() {
            let status = |t: &Target| {
                pool.loops
                    .get(&target_key(t))
                    .map(|r| r.shared.status.lock().expect("status").clone())
                    .unwrap_or_default()
            };
            out.add_pool(job, &pool.targets, status, self.inner.opts.hostname.as_deref());
        }
        out
    }

    /// The metric metadata of every active target, pool by pool in name order and in the
    /// pool's target order: the data of Prometheus's `/api/v1/targets/metadata` and
    /// `/api/v1/metadata`. Each target's list is the snapshot its last scrape that changed
    /// anything published (kept up to date by the loops at the cost of one hash lookup per
    /// metadata line, nothing per sample).
    pub fn targets_metadata(&self) -> Vec<TargetMetadataView> {
        let pools = self.inner.pools.lock().expect("pools");
        let mut out = Vec::new();
        for (job, pool) in pools.iter() {
            for t in &pool.targets.active {
                if let Some(r) = pool.loops.get(&target_key(t)) {
                    out.push(TargetMetadataView {
                        scrape_pool: job.clone(),
                        labels: t.labels().clone(),
                        metadata: r.shared.metadata.list(),
                    });
                }
            }
        }
        out
    }

    /// Totals over every loop so far.
    pub fn stats(&self) -> ScrapeStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (targets, cache_bytes) = self.inner.pools.lock().map_or((0, 0), |p| {
            let loops = p.values().flat_map(|p| p.loops.values());
            loops.fold((0, 0), |(n, b), l| (n + 1, b + get(&l.shared.cache_bytes)))
        });
        ScrapeStats {
            targets,
            scrapes: get(&c.scrapes),
            failures: get(&c.failures),
            missed: get(&c.missed),
            late: get(&c.late),
            samples_scraped: get(&c.samples_scraped),
            samples_appended: get(&c.samples_appended),
            series_added: get(&c.series_added),
            samples_rejected: get(&c.samples_rejected),
            scrape_micros: get(&c.scrape_micros),
            cache_bytes,
        }
    }

    fn spawn(&self, target: Target, pool: Arc<PoolShared>) -> Running {
        let cache = ScrapeCache::new();
        let shared = Arc::new(LoopShared {
            status: Mutex::default(),
            cache_bytes: AtomicU64::new(0),
            metadata: Arc::clone(cache.metadata()),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let offset = target_offset(&target, target.interval(), self.inner.opts.offset_seed);
        let lp = ScrapeLoop {
            rules: SeriesRules {
                target_labels: target.labels().clone(),
                honor_labels: pool.honor_labels,
                honor_timestamps: pool.honor_timestamps,
                track_timestamps_staleness: pool.track_timestamps_staleness,
                metric_relabel: pool.metric_relabel.clone(),
                limits: pool.limits,
                exemplars: self.inner.opts.exemplars,
            },
            report: Report::new(target.labels()),
            target,
            pool,
            storage: Arc::clone(&self.inner.storage),
            shared: Arc::clone(&shared),
            counters: Arc::clone(&self.inner.counters),
            buffers: Arc::clone(&self.inner.buffers),
            cache,
            last_t: i64::MIN,
        };
        let task = tokio::spawn(lp.run(offset, stop_rx));
        Running { shared, stop: Some(stop_tx), task }
    }
}

/// The synthetic series of a target, with their cached references.
struct Report {
    series: [(Labels, Option<SeriesRef>); 5],
}

const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

impl Report {
    fn new(target: &Labels) -> Self {
        let series = REPORT_NAMES.map(|name| {
            let mut lb = LabelsBuilder::from_labels(target);
            lb.set(METRIC_NAME_LABEL, name);
            (lb.into_labels(), None)
        });
        Report { series }
    }

    fn append(&mut self, app: &mut dyn Appender, t: Timestamp, values: [f64; 5]) {
        for ((labels, r), v) in self.series.iter_mut().zip(values) {
            if let Ok(nr) = app.append(*r, labels, t, Value::Float(v), AppendOptions::NONE) {
                *r = Some(nr);
            }
        }
    }
}

struct ScrapeLoop {
    target: Target,
    pool: Arc<PoolShared>,
    rules: SeriesRules,
    storage: Arc<dyn Appendable>,
    shared: Arc<LoopShared>,
    counters: Arc<Counters>,
    buffers: Arc<Buffers>,
    cache: ScrapeCache,
    report: Report,
    last_t: Timestamp,
}

impl ScrapeLoop {
    async fn run(mut self, offset: Duration, mut stop: oneshot::Receiver<Stop>) {
        let interval = self.target.interval();
        let iv = interval.as_nanos().max(1);
        let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let wait = (offset.as_nanos() + iv - now_ns % iv) % iv;
        let start = tokio::time::Instant::now() + Duration::from_nanos(wait as u64);
        let mut ticker = tokio::time::interval_at(start, interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut expected = start;
        loop {
            let tick = tokio::select! {
                biased;
                m = &mut stop => return self.finish(m.unwrap_or(Stop::Shutdown)),
                tick = ticker.tick() => tick,
            };
            if tick > expected {
                let skipped = (tick - expected).as_nanos() / iv;
                Counters::add(&self.counters.missed, skipped as u64);
            }
            expected = tick + interval;
            if tokio::time::Instant::now().saturating_duration_since(tick) > interval / 10 {
                Counters::add(&self.counters.late, 1);
            }
            let mut body = self.buffers.take();
            let started = Instant::now();
            let wall = SystemTime::now();
            let t = now_ms().max(self.last_t + 1);
            let fetched = tokio::select! {
                biased;
                m = &mut stop => {
                    self.buffers.put(body);
                    return self.finish(m.unwrap_or(Stop::Shutdown));
                }
                r = self.pool.client.scrape(self.target.url(), self.target.timeout(), &mut body) => r,
            };
            self.scrape_done(fetched.map(|r| (r, body.as_slice())), t, started, wall);
            self.buffers.put(body);
        }
    }

    /// Appends one scrape's outcome and its report, then commits.
    fn scrape_done(
        &mut self,
        fetched: Result<(super::ScrapeResponse, &[u8]), ScrapeError>,
        t: Timestamp,
        started: Instant,
        wall: SystemTime,
    ) {
        self.last_t = t;
        let mut app = self.storage.appender();
        let res =
            fetched.and_then(|(r, body)| self.cache.append_body(&mut *app, &self.rules, &body[..r.len], r.format, t));
        let (stats, err) = match res {
            Ok(st) => (st, None),
            Err(e) => {
                let _ = app.rollback();
                app = self.storage.appender();
                self.cache.append_failure(&mut *app, &self.rules, t);
                (AppendStats::default(), Some(e))
            }
        };
        let took = started.elapsed();
        let up = if err.is_none() { 1.0 } else { 0.0 };
        self.report.append(
            &mut *app,
            t,
            [up, took.as_secs_f64(), stats.scraped as f64, stats.post_relabel as f64, stats.series_added as f64],
        );
        let err = match app.commit() {
            Ok(()) => err,
            Err(e) => Some(err.unwrap_or(ScrapeError::new(ScrapeErrorKind::Storage(e)))),
        };
        let c = &self.counters;
        Counters::add(&c.scrapes, 1);
        Counters::add(&c.failures, u64::from(err.is_some()));
        Counters::add(&c.samples_scraped, stats.scraped);
        Counters::add(&c.samples_appended, stats.post_relabel - stats.rejected.min(stats.post_relabel));
        Counters::add(&c.series_added, stats.series_added);
        Counters::add(&c.samples_rejected, stats.rejected);
        Counters::add(&c.scrape_micros, took.as_micros() as u64);
        self.shared.cache_bytes.store(self.cache.heap_bytes() as u64, Ordering::Relaxed);
        let mut s = self.shared.status.lock().expect("status");
        s.health = if err.is_none() { Health::Up } else { Health::Down };
        s.last_error = err.map(|e| e.to_string()).unwrap_or_default();
        s.last_scrape = Some(wall);
        s.last_scrape_duration = took;
    }

    fn finish(mut self, how: Stop) {
        if how == Stop::Shutdown || self.last_t == i64::MIN {
            return;
        }
        let t = now_ms().max(self.last_t + 1);
        let mut app = self.storage.appender();
        self.cache.append_stale_all(&mut *app, &self.rules, t);
        self.report.append(&mut *app, t, [STALE_NAN; 5]);
        let _ = app.commit();
    }
}
