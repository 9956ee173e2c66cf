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
        .map(|(i, c)| {
            AlertmanagerSet::new(c).map_err(|e| {
                let e = crate::redact::scrub(&e, &crate::redact::secret_values(&config.source));
                format!("alerting.alertmanagers[{i}]: {e}")
            })
        })
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::extract::State;
    use axum::http::{HeaderMap, Uri};
    use ember_exposition::labels;

    use super::*;
    use crate::config::StaticTargets;

    fn am(targets: &[&str]) -> AlertmanagerConfig {
        AlertmanagerConfig {
            scheme: "http".into(),
            static_configs: vec![StaticTargets {
                targets: targets.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn sets_are_checked_and_their_urls_built() {
        let mut c = am(&["a:9093", "b:9093"]);
        c.path_prefix = "am/".into();
        let set = AlertmanagerSet::new(&c).unwrap();
        assert_eq!(set.urls(), ["http://a:9093/am/api/v2/alerts", "http://b:9093/am/api/v2/alerts"]);
        assert_eq!(set.timeout, DEFAULT_TIMEOUT);
        c.timeout = Some("2s".into());
        assert_eq!(AlertmanagerSet::new(&c).unwrap().timeout, Duration::from_secs(2));
        for (edit, want) in [
            (
                &(|c: &mut AlertmanagerConfig| c.api_version = Some("v1".into())) as &dyn Fn(&mut AlertmanagerConfig),
                "api_version",
            ),
            (&|c: &mut AlertmanagerConfig| c.scheme = "ftp".into(), "scheme"),
            (&|c: &mut AlertmanagerConfig| c.timeout = Some("soon".into()), "timeout"),
            (&|c: &mut AlertmanagerConfig| c.timeout = Some("0s".into()), "timeout"),
        ] {
            let mut c = am(&["a:9093"]);
            edit(&mut c);
            let e = AlertmanagerSet::new(&c).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    type Received = Arc<parking_lot::Mutex<Vec<(String, Option<String>, String)>>>;

    /// An Alertmanager stand-in on 127.0.0.1 keeping (path, authorization, body) of each POST.
    async fn receiver() -> (String, Received) {
        let got = Received::default();
        let app = axum::Router::new()
            .fallback(|State(got): State<Received>, uri: Uri, headers: HeaderMap, body: String| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
                got.lock().push((uri.path().to_owned(), auth, body));
            })
            .with_state(got.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(l, app).await });
        (addr, got)
    }

    fn alert(name: &str) -> PostableAlert {
        PostableAlert { labels: labels! {"alertname" => name}, ..Default::default() }
    }

    #[tokio::test]
    async fn queued_alerts_go_to_the_sets_in_force_when_sent() {
        let ((a, got_a), (b, got_b)) = (receiver().await, receiver().await);
        let n = Notifier::new(vec![AlertmanagerSet::new(&am(&[&a])).unwrap()]);
        n.enqueue(vec![alert("one")]);
        assert!(n.flush().await.is_empty());
        assert_eq!(got_a.lock().len(), 1);
        // Queued before the reload, sent after it: the new set gets it, with its credentials.
        n.enqueue(vec![alert("two")]);
        let mut c = am(&[&b]);
        c.path_prefix = "/prefix".into();
        c.authorization =
            Some(ember_discovery::config::Authorization { credentials: Some("tok".into()), ..Default::default() });
        n.apply(vec![AlertmanagerSet::new(&c).unwrap()]);
        assert_eq!(n.active(), [format!("http://{b}/prefix/api/v2/alerts")]);
        assert_eq!(n.queue_len(), 1);
        assert!(n.flush().await.is_empty());
        assert_eq!(got_a.lock().len(), 1, "nothing more to the old set");
        let got = got_b.lock().clone();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0.as_str(), got[0].1.as_deref()), ("/prefix/api/v2/alerts", Some("Bearer tok")));
        assert!(got[0].2.contains(r#""alertname":"two""#), "{}", got[0].2);
        assert_eq!(n.stats(), (2, 0, 0));
        // With no Alertmanagers configured, alerts are dropped (as Prometheus does).
        n.apply(Vec::new());
        n.enqueue(vec![alert("three")]);
        n.flush().await;
        assert_eq!((n.queue_len(), n.stats().1), (0, 1));
    }
}
