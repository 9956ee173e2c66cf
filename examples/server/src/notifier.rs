//! Alerts to the external Alertmanagers of `alerting.alertmanagers`, reconfigured on
//! every reload as Prometheus's notifier is.
//!
//! One queue lives as long as the server; the Alertmanager sets it sends to are replaced
//! by [`Notifier::apply`]. Alerts still queued when the configuration changes go to the
//! new sets (as Prometheus keeps its queue across `ApplyConfig`); a batch already on the
//! wire finishes against the sets it started with. Each set has its own HTTP client
//! (`basic_auth`, `authorization`, `tls_config`, `http_headers`, proxy), `timeout`,
//! `scheme`, `path_prefix` and `api_version` (only `v2`, as in Prometheus 3). A batch goes
//! to every Alertmanager of every set at once and counts as sent when any of them took it;
//! with no Alertmanagers configured, queued alerts are dropped.
//!
//! [`ember_alerting::dispatch::AlertmanagerNotifier`] does the same for a fixed list of
//! plain-HTTP URLs; the server needs sets that change and authenticate, hence this type.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ember_alerting::dispatch::{AlertSink, BoxFuture, PostableAlert};
use ember_discovery::discovery::http::HttpClient;
use parking_lot::{Mutex, RwLock};

use crate::config::{AlertmanagerConfig, ServerConfig};

/// The most alerts queued; beyond it the oldest are dropped (Prometheus's default
/// `--alertmanager.notification-queue-capacity`).
pub const QUEUE_CAPACITY: usize = 10_000;
/// The most alerts per request.
pub const MAX_BATCH: usize = 256;
/// The request timeout when `timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One `alerting.alertmanagers` entry, ready to send.
pub struct AlertmanagerSet {
    urls: Vec<String>,
    client: HttpClient,
    timeout: Duration,
}

impl std::fmt::Debug for AlertmanagerSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertmanagerSet").field("urls", &self.urls).field("timeout", &self.timeout).finish()
    }
}

impl AlertmanagerSet {
    /// Checks the entry and builds its client; errors say which setting is wrong.
    pub fn new(c: &AlertmanagerConfig) -> Result<AlertmanagerSet, String> {
        match c.api_version.as_deref() {
            None | Some("v2") => {}
            Some(v) => return Err(format!("unsupported api_version {v:?}: expected one of [v2]")),
        }
        if !matches!(c.scheme.as_str(), "http" | "https") {
            return Err(format!("unsupported scheme {:?}: expected http or https", c.scheme));
        }
        let timeout = match &c.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => ember_exposition::duration::parse_duration(t)
                .ok()
                .filter(|ms| *ms > 0)
                .map(|ms| Duration::from_millis(ms as u64))
                .ok_or_else(|| format!("invalid timeout {t:?}"))?,
        };
        let client = HttpClient::new(&c.http_client_config())?;
        let prefix = c.path_prefix.trim_matches('/');
        let path = if prefix.is_empty() { "/api/v2/alerts".to_owned() } else { format!("/{prefix}/api/v2/alerts") };
        let urls = c
            .static_configs
            .iter()
            .flat_map(|sc| sc.targets.iter())
            .map(|t| format!("{}://{t}{path}", c.scheme))
            .collect();
        Ok(AlertmanagerSet { urls, client, timeout })
    }

    /// The `POST /api/v2/alerts` URLs of this set.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    async fn post(&self, url: &str, body: &[u8]) -> Result<(), String> {
        // The shared client adds authentication and headers to a GET; the request is
        // turned into the POST Alertmanager expects.
        let builder = self.client.get(url)?.timeout(self.timeout);
        let (client, req) =
            builder.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_vec()).build_split();
        let mut req = req.map_err(|e| e.to_string())?;
        *req.method_mut() = reqwest::Method::POST;
        let resp = client.execute(req).await.map_err(|e| e.to_string())?;
        if resp.status().is_success() { Ok(()) } else { Err(format!("bad response status {}", resp.status())) }
    }
}

/// Every set of `config`'s `alerting.alertmanagers`; the first bad entry fails the lot.
pub fn build_sets(config: &ServerConfig) -> Result<Vec<AlertmanagerSet>, String> {
    config
        .alerting
        .alertmanagers
        .iter()
        .enumerate()
        .map(|(i, c)| AlertmanagerSet::new(c).map_err(|e| format!("alerting.alertmanagers[{i}]: {e}")))
        .collect()
}

/// The queue to external Alertmanagers and the sets it sends to.
pub struct Notifier {
    queue: Mutex<VecDeque<PostableAlert>>,
    sets: RwLock<Arc<Vec<AlertmanagerSet>>>,
    wake: tokio::sync::Notify,
    sent: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
}

impl Notifier {
    /// A notifier sending to `sets`.
    pub fn new(sets: Vec<AlertmanagerSet>) -> Notifier {
        Notifier {
            queue: Mutex::new(VecDeque::new()),
            sets: RwLock::new(Arc::new(sets)),
            wake: tokio::sync::Notify::new(),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Replaces the Alertmanager sets (a reload); queued alerts stay and go to the new ones.
    pub fn apply(&self, sets: Vec<AlertmanagerSet>) {
        *self.sets.write() = Arc::new(sets);
        self.wake.notify_one();
    }

    /// The URLs alerts go to now (`/api/v1/alertmanagers`' `activeAlertmanagers`).
    pub fn active(&self) -> Vec<String> {
        self.sets.read().iter().flat_map(|s| s.urls.iter().cloned()).collect()
    }

    /// Queues alerts without waiting, dropping the oldest beyond [`QUEUE_CAPACITY`].
    pub fn enqueue(&self, alerts: Vec<PostableAlert>) {
        let mut q = self.queue.lock();
        q.extend(alerts);
        let over = q.len().saturating_sub(QUEUE_CAPACITY);
        q.drain(..over);
        drop(q);
        self.dropped.fetch_add(over as u64, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Alerts queued and not yet sent.
    pub fn queue_len(&self) -> usize {
        self.queue.lock().len()
    }

    /// (sent, dropped, errors) counters: alerts delivered, alerts dropped, failed requests.
    pub fn stats(&self) -> (u64, u64, u64) {
        (self.sent.load(Ordering::Relaxed), self.dropped.load(Ordering::Relaxed), self.errors.load(Ordering::Relaxed))
    }

    /// Sends everything queued now, batch by batch; returns the failed requests' errors.
    pub async fn flush(&self) -> Vec<String> {
        let mut errors = Vec::new();
        loop {
            let batch: Vec<PostableAlert> = {
                let mut q = self.queue.lock();
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                return errors;
            }
            let sets = self.sets.read().clone();
            let body = ember_alerting::dispatch::payload::alertmanager_body(&batch).to_string().into_bytes();
            let body = &body;
            let mut sends = Vec::new();
            for s in sets.iter() {
                for u in &s.urls {
                    sends.push(async move { s.post(u, body).await.map_err(|e| format!("{u}: {e}")) });
                }
            }
            let results = futures_join(sends).await;
            let any_ok = results.iter().any(Result::is_ok);
            for e in results.into_iter().filter_map(Result::err) {
                self.errors.fetch_add(1, Ordering::Relaxed);
                errors.push(e);
            }
            let counter = if any_ok { &self.sent } else { &self.dropped };
            counter.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    }

    /// Sends queued alerts as they arrive until `shutdown` resolves.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            for e in self.flush().await {
                eprintln!("ember: sending alerts to Alertmanager {e}");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.wake.notified() => {}
            }
        }
    }
}

/// Runs the futures concurrently, collecting their outputs in order.
async fn futures_join<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().flatten().collect()
}

impl AlertSink for Notifier {
    fn send(&self, alerts: Vec<PostableAlert>) -> BoxFuture<'_, ()> {
        self.enqueue(alerts);
        Box::pin(std::future::ready(()))
    }
}
