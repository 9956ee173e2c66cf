//! The embedded Alertmanager-like dispatcher: turned on by
//! `alerting.alertmanager_config_file` (see [`crate::config`]).
//!
//! The rule manager hands its alerts to an [`EmbeddedSink`], which forwards them to the
//! current [`Embedded`] dispatcher in-process (no HTTP hop). The dispatcher delivers
//! notifications from a tokio task running [`DispatcherService::run`]; its silences
//! persist in `<storage.tsdb.path>/alertmanager/silences.json` and its notification log
//! in `<storage.tsdb.path>/alertmanager/nflog`, so a restart re-sends nothing delivered
//! before `repeat_interval` (the log is saved a few seconds after deliveries change it,
//! on reload and on shutdown; a corrupt snapshot is reported, set aside as
//! `nflog.corrupt`, and the dispatcher starts with an empty log). A reload swaps the
//! configuration in place (alerts, silences and the log are kept), starts the dispatcher
//! when the key appears and stops it, flushing what is due, when the key goes away.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ember_alerting::dispatch::{
    AlertSink, BoxFuture, Dispatcher, DispatcherService, HttpTransport, NflogLoad, PostableAlert, SystemClock,
};
use parking_lot::{Mutex, RwLock};

use crate::config::EmbeddedAlertmanagerConfig;

/// The dispatcher service the server runs.
pub type Service = DispatcherService<SystemClock>;

/// The longest shutdown waits for the last notifications to go out.
const FINAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// A running embedded dispatcher.
pub struct Embedded {
    /// The dispatcher and its delivery loop's state.
    pub service: Arc<Service>,
    /// The configuration in force (for `GET /api/v2/status`).
    pub config: RwLock<EmbeddedAlertmanagerConfig>,
    /// When this dispatcher started (the `uptime` of `GET /api/v2/status`).
    pub started: SystemTime,
    stop: Arc<tokio::sync::Notify>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Where the silences of a server whose TSDB lives in `tsdb_path` are kept.
pub fn silences_path(tsdb_path: &Path) -> PathBuf {
    tsdb_path.join("alertmanager").join("silences.json")
}

/// Where the notification log of a server whose TSDB lives in `tsdb_path` is kept.
pub fn nflog_path(tsdb_path: &Path) -> PathBuf {
    tsdb_path.join("alertmanager").join("nflog")
}

impl Embedded {
    /// Opens the silences under `tsdb_path` and starts the delivery loop. Must run inside
    /// the tokio runtime. `external_url` is where notifications link back to.
    pub fn start(
        cfg: &EmbeddedAlertmanagerConfig,
        tsdb_path: &Path,
        external_url: &str,
    ) -> Result<Arc<Embedded>, String> {
        let silences = silences_path(tsdb_path);
        if let Some(dir) = silences.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let dispatcher = Dispatcher::builder(cfg.config.clone())
            .external_url(external_url)
            .silences_file(&silences)
            .nflog_file(nflog_path(tsdb_path))
            .build(SystemClock)
            .map_err(|e| format!("opening the silences at {}: {e}", silences.display()))?;
        match dispatcher.nflog_load() {
            Some(NflogLoad::Corrupt { error, moved_to }) => {
                let aside = moved_to.as_ref().map_or("left in place".into(), |p| format!("moved to {}", p.display()));
                eprintln!("ember: {error} ({aside}); starting with an empty notification log");
            }
            Some(NflogLoad::Unreadable(error)) => {
                eprintln!("ember: {error}; starting with an empty notification log");
            }
            _ => {}
        }
        let service = Arc::new(DispatcherService::new(dispatcher, Arc::new(HttpTransport)));
        let stop = Arc::new(tokio::sync::Notify::new());
        let (svc, signal) = (service.clone(), stop.clone());
        let task = tokio::spawn(async move { svc.run(async move { signal.notified().await }).await });
        Ok(Arc::new(Embedded {
            service,
            config: RwLock::new(cfg.clone()),
            started: SystemTime::now(),
            stop,
            task: Mutex::new(Some(task)),
        }))
    }

    /// Applies a new configuration: alerts are regrouped under the new routes, silences kept.
    pub async fn reload(&self, cfg: &EmbeddedAlertmanagerConfig) {
        self.service.dispatcher().lock().await.reload(cfg.config.clone());
        *self.config.write() = cfg.clone();
        self.save_nflog().await;
    }

    /// Writes the notification log if it changed since the last save; failures are reported.
    pub async fn save_nflog(&self) {
        if let Err(e) = self.service.save_nflog().await {
            eprintln!("ember: saving the notification log: {e}");
        }
    }

    /// Stops the delivery loop, then delivers whatever is due now. Deliveries still
    /// retrying (an unreachable receiver) are abandoned after a few seconds in all, so
    /// shutdown and reload never wait out a `group_interval`.
    pub async fn stop(&self) {
        let deadline = tokio::time::Instant::now() + FINAL_FLUSH_TIMEOUT;
        self.stop.notify_one();
        let task = self.task.lock().take();
        if let Some(mut t) = task {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                t.abort();
            }
        }
        let _ = tokio::time::timeout_at(deadline, self.service.step()).await;
        self.save_nflog().await;
    }
}

/// The slot holding the current embedded dispatcher, if it is on.
pub type Slot = Arc<RwLock<Option<Arc<Embedded>>>>;

/// The rule manager's destination for the embedded dispatcher: forwards to whatever
/// dispatcher the slot holds now, and drops alerts while it is off.
pub struct EmbeddedSink {
    slot: Slot,
}

impl EmbeddedSink {
    /// A sink reading `slot`.
    pub fn new(slot: Slot) -> Self {
        EmbeddedSink { slot }
    }
}

impl AlertSink for EmbeddedSink {
    fn send(&self, alerts: Vec<PostableAlert>) -> BoxFuture<'_, ()> {
        let current = self.slot.read().clone();
        Box::pin(async move {
            if let Some(e) = current {
                e.service.put(alerts).await;
            }
        })
    }
}

/// Brings the slot in line with `want` (start, reload or stop the dispatcher).
pub async fn apply(
    slot: &Slot,
    want: Option<&EmbeddedAlertmanagerConfig>,
    tsdb_path: &Path,
    external_url: &str,
) -> Result<(), String> {
    let current = slot.read().clone();
    match (current, want) {
        (Some(e), Some(cfg)) => e.reload(cfg).await,
        (None, Some(cfg)) => *slot.write() = Some(Embedded::start(cfg, tsdb_path, external_url)?),
        (Some(_), None) => {
            let old = slot.write().take();
            if let Some(e) = old {
                e.stop().await;
            }
        }
        (None, None) => {}
    }
    Ok(())
}
