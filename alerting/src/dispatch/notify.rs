//! Network edges: an HTTP [`Transport`], delivery with retries and backoff, the async
//! [`DispatcherService`] loop, and the [`AlertmanagerNotifier`] for external
//! Alertmanager clusters. Everything async lives here.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use tokio::sync::Mutex;

use super::alert::PostableAlert;
use super::clock::Clock;
use super::dispatcher::{Dispatcher, Notification};
use super::error::{NflogError, NotifyError, NotifyErrorKind};
use super::payload::{HttpRequest, alertmanager_body, request_for};

/// A boxed future, for object-safe async traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends one HTTP POST and returns the response status.
///
/// [`HttpTransport`] speaks plain HTTP/1.1; a host that needs HTTPS (Slack, PagerDuty)
/// plugs in a TLS-capable implementation.
pub trait Transport: Send + Sync {
    /// POSTs `req`, failing after `timeout`.
    fn post<'a>(&'a self, req: &'a HttpRequest, timeout: StdDuration) -> BoxFuture<'a, Result<u16, NotifyErrorKind>>;
}

/// Plain-HTTP transport on hyper, one connection per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpTransport;

#[derive(Debug)]
struct ParsedUrl<'a> {
    authority: &'a str,
    host: &'a str,
    port: u16,
    path: &'a str,
}

fn parse_http_url(url: &str) -> Result<ParsedUrl<'_>, NotifyErrorKind> {
    let rest = match url.strip_prefix("http://") {
        Some(r) => r,
        None if url.starts_with("https://") => {
            return Err(NotifyErrorKind::BadUrl(format!("{url}: https needs a TLS-capable Transport")));
        }
        None => return Err(NotifyErrorKind::BadUrl(format!("{url}: scheme must be http"))),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], &rest[i..]),
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h, p.parse().map_err(|_| NotifyErrorKind::BadUrl(format!("{url}: bad port")))?)
        }
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(NotifyErrorKind::BadUrl(format!("{url}: missing host")));
    }
    Ok(ParsedUrl { authority, host, port, path })
}

impl Transport for HttpTransport {
    fn post<'a>(&'a self, req: &'a HttpRequest, timeout: StdDuration) -> BoxFuture<'a, Result<u16, NotifyErrorKind>> {
        Box::pin(async move {
            let u = parse_http_url(&req.url)?;
            let fut = async {
                let t = |e: &dyn std::fmt::Display| NotifyErrorKind::Transport(e.to_string());
                let stream = tokio::net::TcpStream::connect((u.host, u.port)).await.map_err(|e| t(&e))?;
                let io = hyper_util::rt::TokioIo::new(stream);
                let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| t(&e))?;
                let conn = tokio::spawn(conn);
                let path = if u.path.starts_with('?') { format!("/{}", u.path) } else { u.path.to_string() };
                let request = hyper::Request::post(path)
                    .header(hyper::header::HOST, u.authority)
                    .header(hyper::header::CONTENT_TYPE, req.content_type)
                    .header(hyper::header::USER_AGENT, concat!("Ember-Alerting/", env!("CARGO_PKG_VERSION")))
                    .body(Full::new(Bytes::from(req.body.clone())))
                    .map_err(|e| t(&e))?;
                let resp = sender.send_request(request).await.map_err(|e| t(&e))?;
                let status = resp.status().as_u16();
                // Drain the body so the connection closes cleanly.
                let _ = resp.into_body().collect().await;
                conn.abort();
                Ok(status)
            };
            tokio::time::timeout(timeout, fut).await.unwrap_or(Err(NotifyErrorKind::Timeout))
        })
    }
}

/// Retry policy for deliveries: exponential backoff between attempts, giving up at
/// the notification's deadline.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// First pause.
    pub initial_backoff: StdDuration,
    /// Longest pause.
    pub max_backoff: StdDuration,
    /// Per-attempt timeout cap.
    pub attempt_timeout: StdDuration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: StdDuration::from_millis(100),
            max_backoff: StdDuration::from_secs(10),
            attempt_timeout: StdDuration::from_secs(30),
        }
    }
}

fn retryable_status(s: u16) -> bool {
    s == 429 || s >= 500
}

/// POSTs `req`, retrying transport errors, 429 and 5xx with backoff for at most
/// `budget`; returns the number of attempts on success.
pub async fn deliver(
    transport: &dyn Transport,
    req: &HttpRequest,
    budget: StdDuration,
    policy: RetryPolicy,
    integration: &str,
) -> Result<u32, NotifyError> {
    let start = tokio::time::Instant::now();
    let deadline = start + budget;
    let mut backoff = policy.initial_backoff;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let err = |kind, retryable| NotifyError { integration: integration.to_string(), retryable, kind };
        let kind = match transport.post(req, remaining.min(policy.attempt_timeout)).await {
            Ok(s) if (200..300).contains(&s) => return Ok(attempts),
            Ok(s) if !retryable_status(s) => return Err(err(NotifyErrorKind::Status(s), false)),
            Ok(s) => NotifyErrorKind::Status(s),
            Err(k @ NotifyErrorKind::BadUrl(_)) => return Err(err(k, false)),
            Err(k) => k,
        };
        let now = tokio::time::Instant::now();
        if now + backoff >= deadline {
            return Err(err(kind, true));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(policy.max_backoff);
    }
}

/// Something that accepts alerts: the in-process dispatcher
/// ([`DispatcherService`]) or an HTTP client for external Alertmanagers
/// ([`AlertmanagerNotifier`]). Rule evaluation hands its alerts to one of these.
pub trait AlertSink: Send + Sync {
    /// Hands over alerts; never blocks on the network.
    fn send(&self, alerts: Vec<PostableAlert>) -> BoxFuture<'_, ()>;
}

/// The async driver of a [`Dispatcher`]: delivers notifications over a [`Transport`].
pub struct DispatcherService<C: Clock> {
    dispatcher: Mutex<Dispatcher<C>>,
    transport: Arc<dyn Transport>,
    policy: RetryPolicy,
    wake: tokio::sync::Notify,
    /// Deliveries that failed after retries.
    failures: AtomicU64,
    /// Per integration kind ([`INTEGRATION_KINDS`] order): notifications attempted, failed.
    counts: [[AtomicU64; 2]; 3],
    /// Shortest time between two notification-log snapshots written by `run`.
    nflog_save_interval: StdDuration,
    /// Serialises snapshot writes (they share a temporary file name), even those of a
    /// cancelled `save_nflog` still running on a blocking thread; holds the newest
    /// generation written, so an older snapshot never replaces a newer one.
    nflog_writer: Arc<std::sync::Mutex<u64>>,
}

/// Default of [`DispatcherService::with_nflog_save_interval`].
pub const DEFAULT_NFLOG_SAVE_INTERVAL: StdDuration = StdDuration::from_secs(5);

/// The integration kinds, in the order [`DispatcherService::notification_counts`] lists them.
const INTEGRATION_KINDS: [&str; 3] = ["webhook", "slack", "pagerduty"];

fn kind_index(i: &super::dispatcher::Integration) -> usize {
    INTEGRATION_KINDS.iter().position(|k| *k == i.kind()).unwrap_or(0)
}

/// Notifications sent through one kind of integration since start (Alertmanager's
/// `alertmanager_notifications_total` and `alertmanager_notifications_failed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationCounts {
    /// `webhook`, `slack` or `pagerduty`.
    pub integration: &'static str,
    /// Notifications attempted (each counted once, however many retries it took).
    pub total: u64,
    /// Notifications that failed after their retries.
    pub failed: u64,
}

impl<C: Clock + 'static> DispatcherService<C> {
    /// A service over `dispatcher` delivering through `transport`.
    pub fn new(dispatcher: Dispatcher<C>, transport: Arc<dyn Transport>) -> Self {
        DispatcherService {
            dispatcher: Mutex::new(dispatcher),
            transport,
            policy: RetryPolicy::default(),
            wake: tokio::sync::Notify::new(),
            failures: AtomicU64::new(0),
            counts: Default::default(),
            nflog_save_interval: DEFAULT_NFLOG_SAVE_INTERVAL,
            nflog_writer: Arc::default(),
        }
    }

    /// How often at most [`run`](Self::run) writes the notification log after deliveries
    /// changed it (default [`DEFAULT_NFLOG_SAVE_INTERVAL`]). A crash loses at most this
    /// much of the log (those notifications may be sent again after the restart); each
    /// save rewrites the whole snapshot (about 50 bytes per group and integration) and
    /// fsyncs it.
    pub fn with_nflog_save_interval(mut self, every: StdDuration) -> Self {
        self.nflog_save_interval = every;
        self
    }

    /// Writes the notification log's snapshot to the dispatcher's
    /// [`nflog_file`](super::DispatcherBuilder::nflog_file) if it changed since the last
    /// save; returns whether it wrote. The snapshot is encoded under the dispatcher's
    /// lock and written (with its fsync) on a blocking thread, outside it.
    pub async fn save_nflog(&self) -> Result<bool, NflogError> {
        let Some((path, bytes, generation)) = self.dispatcher.lock().await.nflog_snapshot() else {
            return Ok(false);
        };
        let writer = self.nflog_writer.clone();
        let write = tokio::task::spawn_blocking(move || {
            let mut newest = writer.lock().unwrap_or_else(|e| e.into_inner());
            if *newest >= generation {
                return Ok(false);
            }
            super::nflog::write_snapshot(&path, &bytes)?;
            *newest = generation;
            Ok(true)
        });
        match write.await {
            Ok(Ok(wrote)) => {
                self.dispatcher.lock().await.nflog_saved(generation);
                Ok(wrote)
            }
            Ok(Err(e)) => Err(e),
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }

    /// Replaces the retry policy.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The dispatcher, for silences, inspection and reloads.
    pub fn dispatcher(&self) -> &Mutex<Dispatcher<C>> {
        &self.dispatcher
    }

    /// Deliveries that failed after all retries, so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Notifications sent so far, per integration kind (every kind listed, zeros included).
    pub fn notification_counts(&self) -> Vec<NotificationCounts> {
        INTEGRATION_KINDS
            .iter()
            .zip(&self.counts)
            .map(|(kind, [total, failed])| NotificationCounts {
                integration: kind,
                total: total.load(Ordering::Relaxed),
                failed: failed.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Receives alerts and wakes the loop.
    pub async fn put(&self, alerts: Vec<PostableAlert>) {
        self.dispatcher.lock().await.put(alerts);
        self.wake.notify_one();
    }

    /// Flushes due groups once and delivers their notifications concurrently, waiting
    /// for all of them; returns the outcomes. Tests drive a [`ManualClock`](super::ManualClock)
    /// with this.
    pub async fn step(&self) -> Vec<(Notification, Result<u32, NotifyError>)> {
        let notifications = self.dispatcher.lock().await.poll();
        // Counted when attempted, as Alertmanager does, so a delivery still retrying shows.
        for n in &notifications {
            self.counts[kind_index(&n.integration)][0].fetch_add(1, Ordering::Relaxed);
        }
        let sends = notifications.into_iter().map(|n| async move {
            let req = request_for(&n);
            let budget = StdDuration::from_millis((n.deadline - n.flushed_at).max(1) as u64);
            let res = deliver(self.transport.as_ref(), &req, budget, self.policy, &n.integration_name).await;
            (n, res)
        });
        let results = join_all(sends).await;
        let mut d = self.dispatcher.lock().await;
        for (n, r) in &results {
            if r.is_err() {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.counts[kind_index(&n.integration)][1].fetch_add(1, Ordering::Relaxed);
            }
            d.complete(n, r.is_ok());
        }
        results
    }

    /// Runs until `shutdown` resolves: sleeps until the next group is due (by the
    /// dispatcher's clock, read as wall time) or new alerts arrive, then [`step`](Self::step)s.
    /// When the dispatcher has an [`nflog_file`](super::DispatcherBuilder::nflog_file),
    /// the notification log is saved after it changes (at most once per
    /// [`with_nflog_save_interval`](Self::with_nflog_save_interval)) and on shutdown;
    /// a failed save is logged (`tracing`) and retried at the next occasion.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_save: Option<tokio::time::Instant> = None;
        loop {
            self.step().await;
            let (mut wait, unsaved) = {
                let d = self.dispatcher.lock().await;
                let wait = d.next_deadline().map(|t| (t - d.now()).clamp(0, 60_000)).unwrap_or(60_000);
                (StdDuration::from_millis(wait as u64), d.nflog_file().is_some() && d.nflog_unsaved())
            };
            if unsaved {
                let due = last_save.map_or(tokio::time::Instant::now(), |t| t + self.nflog_save_interval);
                if due <= tokio::time::Instant::now() {
                    last_save = Some(tokio::time::Instant::now());
                    self.save_nflog_logged().await;
                } else {
                    wait = wait.min(due - tokio::time::Instant::now());
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        self.save_nflog_logged().await;
    }

    async fn save_nflog_logged(&self) {
        if let Err(e) = self.save_nflog().await {
            tracing::warn!("saving the notification log: {e}");
        }
    }
}

impl<C: Clock + 'static> AlertSink for DispatcherService<C> {
    fn send(&self, alerts: Vec<PostableAlert>) -> BoxFuture<'_, ()> {
        Box::pin(self.put(alerts))
    }
}

/// Runs futures concurrently on the current task and collects their outputs in order.
async fn join_all<F: Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.expect("all ready")).collect()
}

/// Sends alerts to one or more external Alertmanagers (`POST /api/v2/alerts`), for
/// users who run an Alertmanager cluster instead of the in-process dispatcher.
///
/// Alerts queue in memory (oldest dropped beyond the capacity) and go out in batches
/// to every Alertmanager; a batch counts as delivered when any Alertmanager took it.
pub struct AlertmanagerNotifier {
    urls: Vec<String>,
    transport: Arc<dyn Transport>,
    queue: std::sync::Mutex<VecDeque<PostableAlert>>,
    capacity: usize,
    batch: usize,
    timeout: StdDuration,
    wake: tokio::sync::Notify,
    sent: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
}

impl AlertmanagerNotifier {
    /// A notifier for Alertmanagers at `base_urls` (`http://am:9093`; the API path is
    /// appended), queueing up to 10,000 alerts, 64 per request, 10 s timeout.
    pub fn new(base_urls: impl IntoIterator<Item = String>, transport: Arc<dyn Transport>) -> Self {
        AlertmanagerNotifier {
            urls: base_urls.into_iter().map(|u| format!("{}/api/v2/alerts", u.trim_end_matches('/'))).collect(),
            transport,
            queue: std::sync::Mutex::new(VecDeque::new()),
            capacity: 10_000,
            batch: 64,
            timeout: StdDuration::from_secs(10),
            wake: tokio::sync::Notify::new(),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Queues alerts without waiting.
    pub fn enqueue(&self, alerts: Vec<PostableAlert>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.extend(alerts);
        while q.len() > self.capacity {
            q.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop(q);
        self.wake.notify_one();
    }

    /// Alerts queued and not yet sent.
    pub fn queue_len(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// (sent, dropped, errors) counters.
    pub fn stats(&self) -> (u64, u64, u64) {
        (self.sent.load(Ordering::Relaxed), self.dropped.load(Ordering::Relaxed), self.errors.load(Ordering::Relaxed))
    }

    /// Sends everything queued now; returns the per-Alertmanager errors.
    pub async fn flush(&self) -> Vec<NotifyError> {
        let mut errors = Vec::new();
        loop {
            let batch: Vec<PostableAlert> = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                let n = q.len().min(self.batch);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                return errors;
            }
            let req_body = serde_json::to_vec(&alertmanager_body(&batch)).expect("JSON values serialise");
            let sends = self.urls.iter().map(|u| {
                let req = HttpRequest { url: u.clone(), content_type: "application/json", body: req_body.clone() };
                async move {
                    match self.transport.post(&req, self.timeout).await {
                        Ok(s) if (200..300).contains(&s) => Ok(()),
                        Ok(s) => Err(NotifyError {
                            integration: req.url,
                            retryable: retryable_status(s),
                            kind: NotifyErrorKind::Status(s),
                        }),
                        Err(kind) => Err(NotifyError { integration: req.url, retryable: true, kind }),
                    }
                }
            });
            let results = join_all(sends).await;
            let any_ok = results.iter().any(Result::is_ok);
            for r in results {
                if let Err(e) = r {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    errors.push(e);
                }
            }
            if any_ok {
                self.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
            } else {
                self.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// Sends queued alerts as they arrive until `shutdown` resolves.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            self.flush().await;
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.wake.notified() => {}
            }
        }
    }
}

impl AlertSink for AlertmanagerNotifier {
    fn send(&self, alerts: Vec<PostableAlert>) -> BoxFuture<'_, ()> {
        self.enqueue(alerts);
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_http_url("http://127.0.0.1:8080/hook?x=1").unwrap();
        assert_eq!((u.host, u.port, u.path, u.authority), ("127.0.0.1", 8080, "/hook?x=1", "127.0.0.1:8080"));
        let u = parse_http_url("http://example.com").unwrap();
        assert_eq!((u.host, u.port, u.path), ("example.com", 80, "/"));
        let u = parse_http_url("http://[::1]:9/x").unwrap();
        assert_eq!((u.host, u.port), ("::1", 9));
        assert!(matches!(parse_http_url("https://x").unwrap_err(), NotifyErrorKind::BadUrl(_)));
        assert!(parse_http_url("ftp://x").is_err());
        assert!(parse_http_url("http://:80/").is_err());
    }
}
