//! Self-instrumentation: the server's own figures on `/metrics`, read from the TSDB, the
//! scrape manager and the query path when scraped (nothing is copied on the hot paths).

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};

use ember_client::Collector;
use ember_exposition::{Labels, MetricFamily, MetricType, Sample};

use crate::server::App;

/// Reads the server's state at scrape time.
pub struct ServerCollector {
    app: Arc<OnceLock<Weak<App>>>,
}

impl ServerCollector {
    /// A collector that reports nothing until `slot` is filled with the running app.
    pub fn new(slot: Arc<OnceLock<Weak<App>>>) -> Self {
        ServerCollector { app: slot }
    }
}

fn family(name: &str, help: &str, t: MetricType, v: f64) -> MetricFamily {
    let mut f = MetricFamily::new(name, t);
    f.help = Some(help.to_owned());
    let sample_name = if t == MetricType::Counter { format!("{name}_total") } else { name.to_owned() };
    f.samples.push(Sample::new(sample_name, Labels::default(), v));
    f
}

impl Collector for ServerCollector {
    fn collect(&self) -> Vec<MetricFamily> {
        let Some(app) = self.app.get().and_then(Weak::upgrade) else { return Vec::new() };
        use MetricType::{Counter as C, Gauge as G};
        let head = app.db.head();
        let m = app.db.metrics();
        let (appended, dropped) = head.append_counts();
        let blocks = app.db.blocks();
        let block_bytes: u64 = blocks.iter().map(|b| b.size()).sum();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
        let mut out = vec![
            family(
                "prometheus_tsdb_head_series",
                "Total number of series in the head block.",
                G,
                head.num_series() as f64,
            ),
            family("prometheus_tsdb_head_samples_appended", "Total number of appended samples.", C, appended as f64),
            family(
                "ember_tsdb_head_samples_rejected",
                "Samples the head rejected (out of order, out of bounds, duplicates).",
                C,
                dropped as f64,
            ),
            family(
                "prometheus_tsdb_head_min_time",
                "Minimum time bound of the head block (ms).",
                G,
                head.min_time().unwrap_or(0) as f64,
            ),
            family(
                "prometheus_tsdb_head_max_time",
                "Maximum timestamp of the head block (ms).",
                G,
                head.max_time().unwrap_or(0) as f64,
            ),
            family("prometheus_tsdb_blocks_loaded", "Number of currently loaded data blocks.", G, blocks.len() as f64),
            family(
                "prometheus_tsdb_storage_blocks_bytes",
                "The number of bytes that are currently used for local storage by all blocks.",
                G,
                block_bytes as f64,
            ),
            family(
                "prometheus_tsdb_compactions",
                "Total number of compactions that were executed.",
                C,
                load(&m.compactions),
            ),
            family(
                "prometheus_tsdb_checkpoint_creations",
                "Total number of checkpoint creations attempted.",
                C,
                load(&m.checkpoints),
            ),
            family("prometheus_tsdb_wal_corruptions", "Total number of WAL corruptions.", C, load(&m.wal_corruptions)),
            family(
                "ember_tsdb_wal_records_dropped",
                "WAL records dropped by repair at replay.",
                C,
                load(&m.wal_records_dropped),
            ),
            family(
                "ember_tsdb_wal_write_failures",
                "Commits that failed because the WAL could not be written.",
                C,
                load(&m.wal_write_failures),
            ),
            family(
                "prometheus_tsdb_time_retentions",
                "Blocks deleted because the retention limit was exceeded.",
                C,
                load(&m.retention_deletions),
            ),
            family(
                "ember_tsdb_corrupt_blocks",
                "Blocks skipped at open because they could not be read.",
                G,
                load(&m.corrupt_blocks),
            ),
            family(
                "prometheus_config_last_reload_successful",
                "Whether the last configuration reload attempt was successful.",
                G,
                if app.last_reload_ok.load(Ordering::Relaxed) { 1.0 } else { 0.0 },
            ),
            family(
                "prometheus_notifications_alertmanagers_discovered",
                "The number of alertmanagers discovered and active.",
                G,
                app.notifier.active().len() as f64,
            ),
            family(
                "prometheus_notifications_queue_length",
                "The number of alert notifications in the queue.",
                G,
                app.notifier.queue_len() as f64,
            ),
            family(
                "prometheus_notifications_queue_capacity",
                "The capacity of the alert notifications queue.",
                G,
                crate::notifier::QUEUE_CAPACITY as f64,
            ),
            family(
                "prometheus_notifications_dropped",
                "Total number of alerts dropped due to errors when sending to Alertmanager.",
                C,
                app.notifier.stats().1 as f64,
            ),
        ];
        let ex = head.exemplar_store().stats();
        out.extend([
            family(
                "prometheus_tsdb_exemplar_exemplars_in_storage",
                "Number of exemplars currently in circular storage.",
                G,
                ex.exemplars_in_storage as f64,
            ),
            family(
                "prometheus_tsdb_exemplar_series_with_exemplars_in_storage",
                "Number of series with exemplars currently in circular storage.",
                G,
                ex.series_with_exemplars as f64,
            ),
            family(
                "prometheus_tsdb_exemplar_max_exemplars",
                "Total number of exemplars the exemplar storage can store, resizeable.",
                G,
                ex.max_exemplars as f64,
            ),
            family(
                "prometheus_tsdb_exemplar_exemplars_appended",
                "Total number of appended exemplars.",
                C,
                ex.appended_total as f64,
            ),
            family(
                "prometheus_tsdb_exemplar_out_of_order_exemplars",
                "Total number of out of order exemplar ingestion failed attempts.",
                C,
                ex.out_of_order_total as f64,
            ),
            family(
                "prometheus_tsdb_exemplar_last_exemplars_timestamp_seconds",
                "The timestamp of the oldest exemplar stored in circular storage.",
                G,
                ex.oldest_timestamp.unwrap_or(0) as f64 / 1000.0,
            ),
        ]);
        if let Some(e) = app.embedded_alertmanager() {
            out.extend(alertmanager_families(&e));
        }
        if let Some(s) = app.scraping.lock().as_ref() {
            let st = s.scrape.stats();
            out.extend([
                family("ember_scrape_targets", "Targets being scraped.", G, st.targets as f64),
                family("ember_scrapes", "Scrapes attempted.", C, st.scrapes as f64),
                family("ember_scrape_failures", "Scrapes that failed (up 0).", C, st.failures as f64),
                family(
                    "ember_scrapes_missed",
                    "Scheduled scrapes skipped because the previous one was still running.",
                    C,
                    st.missed as f64,
                ),
                family("ember_scrape_samples_scraped", "Samples in scraped bodies.", C, st.samples_scraped as f64),
                family(
                    "ember_scrape_samples_appended",
                    "Samples appended after metric relabeling.",
                    C,
                    st.samples_appended as f64,
                ),
                family("ember_scrape_samples_rejected", "Samples the storage rejected.", C, st.samples_rejected as f64),
            ]);
        }
        out
    }
}

/// A family with one sample per label value of `label`.
fn labelled(name: &str, help: &str, t: MetricType, label: &str, values: &[(&str, f64)]) -> MetricFamily {
    let mut f = MetricFamily::new(name, t);
    f.help = Some(help.to_owned());
    let sample_name = if t == MetricType::Counter { format!("{name}_total") } else { name.to_owned() };
    for (v, x) in values {
        f.samples.push(Sample::new(sample_name.clone(), Labels::from_pairs([(label, *v)]), *x));
    }
    f
}

/// Alertmanager's own figures for the embedded dispatcher: alerts by state,
/// notifications per integration, silences by state. Waits for the dispatcher's lock,
/// so it must run off the async threads (the `/metrics` handler scrapes on a blocking
/// thread).
fn alertmanager_families(e: &crate::embedded::Embedded) -> Vec<MetricFamily> {
    use MetricType::{Counter as C, Gauge as G};
    use ember_alerting::dispatch::SilenceState;
    let (mut active, mut suppressed) = (0.0, 0.0);
    let mut silences = [0.0; 3];
    {
        let d = e.service.dispatcher().blocking_lock();
        let now = d.now();
        for a in d.alerts().filter(|a| !a.resolved_at(now)) {
            if d.muted_by(&a.labels).is_muted() {
                suppressed += 1.0;
            } else {
                active += 1.0;
            }
        }
        for s in d.query_silences(&[], None) {
            silences[match s.state(now) {
                SilenceState::Active => 0,
                SilenceState::Pending => 1,
                SilenceState::Expired => 2,
            }] += 1.0;
        }
    }
    let counts = e.service.notification_counts();
    let total: Vec<(&str, f64)> = counts.iter().map(|c| (c.integration, c.total as f64)).collect();
    let failed: Vec<(&str, f64)> = counts.iter().map(|c| (c.integration, c.failed as f64)).collect();
    vec![
        labelled(
            "alertmanager_alerts",
            "How many alerts by state.",
            G,
            "state",
            &[("active", active), ("suppressed", suppressed)],
        ),
        labelled(
            "alertmanager_notifications",
            "The total number of attempted notifications.",
            C,
            "integration",
            &total,
        ),
        labelled(
            "alertmanager_notifications_failed",
            "The total number of failed notifications.",
            C,
            "integration",
            &failed,
        ),
        labelled(
            "alertmanager_silences",
            "How many silences by state.",
            G,
            "state",
            &[("active", silences[0]), ("pending", silences[1]), ("expired", silences[2])],
        ),
    ]
}
