//! Service discovery: providers that emit [`TargetGroup`]s, and the [`Manager`] that
//! coalesces their updates into one full target-group set per job.
//!
//! Every provider sends its *complete* current set of groups each time something changes
//! (latest wins per provider), so a consumer never has to merge deltas, and a provider that
//! fails keeps its last good set by simply not sending. The manager debounces bursts: it
//! publishes at most once per `debounce` period on a `tokio::sync::watch` channel, whose
//! receivers always see the latest state.

pub mod dns;
pub mod file;
pub mod http;
pub mod kubernetes;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ember_exposition::Labels;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{ScrapeConfig, StaticConfig};
use crate::target::{ADDRESS_LABEL, TargetGroup};

/// Why a provider could not refresh (it keeps its last good targets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryError {
    /// What was being read: a file path, a URL, a DNS name, a Kubernetes resource.
    pub source: String,
    /// What went wrong.
    pub kind: DiscoveryErrorKind,
}

/// What went wrong in a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryErrorKind {
    /// Reading a file or a socket failed.
    Io(String),
    /// The content does not decode (file SD, HTTP SD, Kubernetes objects).
    Decode(String),
    /// An HTTP request failed or returned an unexpected status or content type.
    Http(String),
    /// A DNS query failed.
    Dns(String),
    /// Kubernetes credentials or configuration are unusable.
    Credentials(String),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, m) = match &self.kind {
            DiscoveryErrorKind::Io(m) => ("I/O error", m),
            DiscoveryErrorKind::Decode(m) => ("cannot decode", m),
            DiscoveryErrorKind::Http(m) => ("HTTP error", m),
            DiscoveryErrorKind::Dns(m) => ("DNS error", m),
            DiscoveryErrorKind::Credentials(m) => ("credentials error", m),
        };
        write!(f, "{}: {what}: {m}", self.source)
    }
}

impl std::error::Error for DiscoveryError {}

/// What a provider tells the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The provider's complete current set of groups.
    Groups(Vec<TargetGroup>),
    /// A refresh failed; the provider's last groups stand.
    Error(DiscoveryError),
}

/// The sending side given to a provider.
#[derive(Debug, Clone)]
pub struct Sink {
    tx: mpsc::Sender<Event>,
}

impl Sink {
    /// A sink and the receiver of its events.
    pub fn channel(capacity: usize) -> (Sink, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Sink { tx }, rx)
    }

    /// Sends the provider's full current set; false when nobody listens any more.
    pub async fn groups(&self, groups: Vec<TargetGroup>) -> bool {
        self.tx.send(Event::Groups(groups)).await.is_ok()
    }

    /// Reports a failed refresh; false when nobody listens any more.
    pub async fn error(&self, e: DiscoveryError) -> bool {
        self.tx.send(Event::Error(e)).await.is_ok()
    }

    /// Whether the receiving side is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A boxed provider future.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A discovery provider: runs until its sink closes, sending full group sets.
pub trait Discoverer: Send + 'static {
    /// Runs the provider.
    fn run(self: Box<Self>, sink: Sink) -> BoxFuture;
}

/// `static_configs`: sends its groups once.
#[derive(Debug, Clone)]
pub struct StaticDiscovery {
    groups: Vec<TargetGroup>,
}

impl StaticDiscovery {
    /// The groups of `configs`, with sources `"0"`, `"1"`, ... as Prometheus names them.
    pub fn new(configs: &[StaticConfig]) -> Self {
        let groups =
            configs.iter().enumerate().map(|(i, c)| static_group(c, i.to_string(), std::iter::empty())).collect();
        StaticDiscovery { groups }
    }
}

impl Discoverer for StaticDiscovery {
    fn run(self: Box<Self>, sink: Sink) -> BoxFuture {
        Box::pin(async move {
            sink.groups(self.groups).await;
        })
    }
}

/// A target group from a static config, with `extra` labels (e.g. `__meta_filepath`) added
/// to the group labels.
pub(crate) fn static_group<'a>(
    c: &'a StaticConfig,
    source: String,
    extra: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> TargetGroup {
    let labels = Labels::from_pairs(c.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(extra));
    TargetGroup::from_addresses(source, &c.targets, labels)
}

/// Parses a JSON or YAML list of static configs (the file SD and HTTP SD format) and checks
/// targets and label names.
pub(crate) fn parse_static_configs(text: &[u8], json: bool) -> Result<Vec<StaticConfig>, String> {
    let list: Vec<StaticConfig> = if json {
        serde_json::from_slice(text).map_err(|e| e.to_string())?
    } else if text.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        serde_norway::from_slice(text).map_err(|e| e.to_string())?
    };
    for c in &list {
        c.validate()?;
    }
    Ok(list)
}

/// Options for building providers that configuration does not cover (test servers,
/// alternative credentials paths).
#[derive(Debug, Clone, Default)]
pub struct ProviderOptions {
    /// The DNS server to query instead of the first `nameserver` in `/etc/resolv.conf`.
    pub dns_server: Option<std::net::SocketAddr>,
    /// How often file SD checks file modification times; default 1s.
    pub file_watch_interval: Option<Duration>,
    /// The in-cluster service-account directory for Kubernetes SD; default
    /// `/var/run/secrets/kubernetes.io/serviceaccount`.
    pub kubernetes_service_account_dir: Option<std::path::PathBuf>,
}

/// A provider with its configuration path (e.g. `file_sd_configs[0]`).
pub type NamedProvider = (String, Box<dyn Discoverer>);

/// The providers of one scrape config, each named by its config path (e.g.
/// `file_sd_configs[0]`).
pub fn providers(cfg: &ScrapeConfig, opts: &ProviderOptions) -> Result<Vec<NamedProvider>, DiscoveryError> {
    let mut out: Vec<NamedProvider> = Vec::new();
    if !cfg.static_configs.is_empty() {
        out.push(("static_configs".into(), Box::new(StaticDiscovery::new(&cfg.static_configs))));
    }
    for (i, c) in cfg.file_sd_configs.iter().enumerate() {
        let mut d = file::FileDiscovery::new(c);
        if let Some(w) = opts.file_watch_interval {
            d = d.watch_interval(w);
        }
        out.push((format!("file_sd_configs[{i}]"), Box::new(d)));
    }
    for (i, c) in cfg.dns_sd_configs.iter().enumerate() {
        let server = match opts.dns_server {
            Some(s) => s,
            None => dns::system_nameserver()?,
        };
        out.push((format!("dns_sd_configs[{i}]"), Box::new(dns::DnsDiscovery::new(c, server))));
    }
    for (i, c) in cfg.http_sd_configs.iter().enumerate() {
        out.push((format!("http_sd_configs[{i}]"), Box::new(http::HttpDiscovery::new(c)?)));
    }
    for (i, c) in cfg.kubernetes_sd_configs.iter().enumerate() {
        let d = kubernetes::KubernetesDiscovery::new(c, opts.kubernetes_service_account_dir.as_deref())?;
        out.push((format!("kubernetes_sd_configs[{i}]"), Box::new(d)));
    }
    Ok(out)
}

/// What the manager publishes: every job's full set of groups, and the last error of each
/// provider whose latest refresh failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryState {
    /// Job name to all of its providers' groups.
    pub groups: BTreeMap<String, Vec<TargetGroup>>,
    /// `(job, provider)` to the provider's latest error, while its last refresh failed.
    pub errors: BTreeMap<(String, String), DiscoveryError>,
}

impl DiscoveryState {
    /// The groups of `job` (empty when it has none).
    pub fn job(&self, job: &str) -> &[TargetGroup] {
        self.groups.get(job).map_or(&[], Vec::as_slice)
    }
}

/// Runs providers and publishes their coalesced state.
#[derive(Debug)]
pub struct Manager {
    state: watch::Receiver<Arc<DiscoveryState>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Manager {
    /// Starts `providers` (`(job, provider name, provider)`), publishing at most once per
    /// `debounce`. Must be called inside a tokio runtime.
    pub fn start(providers: Vec<(String, String, Box<dyn Discoverer>)>, debounce: Duration) -> Manager {
        let (events_tx, mut events_rx) = mpsc::channel::<(usize, Event)>(64);
        let (state_tx, state_rx) = watch::channel(Arc::new(DiscoveryState::default()));
        let mut tasks = Vec::new();
        let mut slots: Vec<(String, String, Vec<TargetGroup>)> = Vec::new();
        for (i, (job, name, provider)) in providers.into_iter().enumerate() {
            slots.push((job, name, Vec::new()));
            let (sink, mut rx) = Sink::channel(16);
            tasks.push(tokio::spawn(provider.run(sink)));
            let fwd = events_tx.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    if fwd.send((i, ev)).await.is_err() {
                        return;
                    }
                }
            }));
        }
        drop(events_tx);
        tasks.push(tokio::spawn(async move {
            let mut errors: BTreeMap<(String, String), DiscoveryError> = BTreeMap::new();
            let mut dirty = false;
            let mut tick = tokio::time::interval(debounce);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    ev = events_rx.recv() => {
                        let Some((i, ev)) = ev else { break };
                        let (job, name, groups) = &mut slots[i];
                        let key = (job.clone(), name.clone());
                        match ev {
                            Event::Groups(g) => {
                                *groups = g;
                                errors.remove(&key);
                            }
                            Event::Error(e) => {
                                errors.insert(key, e);
                            }
                        }
                        dirty = true;
                    }
                    _ = tick.tick(), if dirty => {
                        dirty = false;
                        if state_tx.send(Arc::new(snapshot(&slots, &errors))).is_err() {
                            return;
                        }
                    }
                }
            }
            if dirty {
                let _ = state_tx.send(Arc::new(snapshot(&slots, &errors)));
            }
            // Every provider has finished: keep the state published until dropped.
            state_tx.closed().await;
        }));
        Manager { state: state_rx, tasks }
    }

    /// A receiver of the published state; `changed()` wakes on each publication.
    pub fn subscribe(&self) -> watch::Receiver<Arc<DiscoveryState>> {
        self.state.clone()
    }

    /// The latest published state.
    pub fn state(&self) -> Arc<DiscoveryState> {
        self.state.borrow().clone()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn snapshot(
    slots: &[(String, String, Vec<TargetGroup>)],
    errors: &BTreeMap<(String, String), DiscoveryError>,
) -> DiscoveryState {
    let mut groups: BTreeMap<String, Vec<TargetGroup>> = BTreeMap::new();
    for (job, _, g) in slots {
        groups.entry(job.clone()).or_default().extend(g.iter().cloned());
    }
    DiscoveryState { groups, errors: errors.clone() }
}

/// `host:port`, bracketing IPv6 hosts.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// A target label set from `(name, value)` pairs with `__address__` first.
pub(crate) fn target_labels<'a>(address: &'a str, meta: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
    Labels::from_pairs(std::iter::once((ADDRESS_LABEL, address)).chain(meta).filter(|(_, v)| !v.is_empty()))
}
