//! `kubernetes_sd_configs`: targets from the Kubernetes API for the roles node, pod, service,
//! endpoints, endpointslice and ingress, with the `__meta_kubernetes_*` labels Prometheus
//! documents for each.
//!
//! Each watched resource (per namespace, with the role's label and field selectors) runs
//! list-then-watch: a list gives the objects and a `resourceVersion`, a watch from that
//! version streams `ADDED`/`MODIFIED`/`DELETED`/`BOOKMARK` events, and an expired version
//! (HTTP 410 Gone, or an `ERROR` event with code 410) triggers a fresh list. Any change wakes
//! the role's builder, which rebuilds the full group set from the object stores (the
//! endpoints roles join pods and services; `attach_metadata` joins nodes and namespaces).
//!
//! Credentials come from `api_server` plus `<http_config>`, from a kubeconfig file (server,
//! CA, token or token file, client certificate and key, basic auth), or in-cluster from the
//! service account (`KUBERNETES_SERVICE_HOST`/`_PORT`, token and CA files).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ember_exposition::Labels;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::http::HttpClient;
use super::{BoxFuture, Discoverer, DiscoveryError, DiscoveryErrorKind, Sink, host_port};
use crate::config::{Authorization, BasicAuth, HttpClientConfig, KubernetesRole, KubernetesSdConfig, TlsConfig};
use crate::target::{ADDRESS_LABEL, INSTANCE_LABEL, TargetGroup};

const DEFAULT_SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const META: &str = "__meta_kubernetes_";
const NAMESPACE_LABEL: &str = "__meta_kubernetes_namespace";

/// Where and how to reach the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAccess {
    /// The server's base URL, without a trailing slash.
    pub server: String,
    /// Client settings: TLS, credentials.
    pub http: HttpClientConfig,
    /// The namespace of the credentials' context (in-cluster: the pod's namespace).
    pub namespace: Option<String>,
}

fn cred_err(m: impl Into<String>) -> DiscoveryError {
    DiscoveryError { source: "kubernetes".into(), kind: DiscoveryErrorKind::Credentials(m.into()) }
}

/// In-cluster access from the service-account directory and the service host and port.
pub fn in_cluster(host: &str, port: &str, sa_dir: &Path) -> Result<ApiAccess, DiscoveryError> {
    let token = sa_dir.join("token");
    if !token.is_file() {
        return Err(cred_err(format!("{} not found: not running in a cluster?", token.display())));
    }
    let namespace = std::fs::read_to_string(sa_dir.join("namespace")).ok().map(|s| s.trim().to_string());
    Ok(ApiAccess {
        server: format!(
            "https://{}",
            host_port(host, port.parse().map_err(|_| cred_err("bad KUBERNETES_SERVICE_PORT"))?)
        ),
        http: HttpClientConfig {
            authorization: Some(Authorization {
                kind: None,
                credentials: None,
                credentials_file: Some(token.display().to_string()),
            }),
            tls_config: TlsConfig {
                ca_file: Some(sa_dir.join("ca.crt").display().to_string()),
                ..TlsConfig::default()
            },
            ..HttpClientConfig::default()
        },
        namespace,
    })
}

#[derive(Deserialize)]
struct KubeConfig {
    #[serde(rename = "current-context", default)]
    current_context: String,
    #[serde(default)]
    contexts: Vec<Named<KubeContext>>,
    #[serde(default)]
    clusters: Vec<Named<KubeCluster>>,
    #[serde(default)]
    users: Vec<Named<KubeUser>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    value: T,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KubeContext {
    cluster: String,
    user: String,
    namespace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct KubeCluster {
    server: String,
    certificate_authority: Option<String>,
    certificate_authority_data: Option<String>,
    insecure_skip_tls_verify: bool,
    tls_server_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct KubeUser {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<String>,
    client_certificate: Option<String>,
    client_certificate_data: Option<String>,
    client_key: Option<String>,
    client_key_data: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// Standard base64 (with or without padding), as kubeconfig `*-data` fields use.
fn base64_decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return Err(format!("invalid base64 character {:?}", c as char)),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    String::from_utf8(out).map_err(|_| "base64 data is not UTF-8 PEM".to_string())
}

/// Access from a kubeconfig file's current context. Relative file paths are resolved
/// against the kubeconfig's directory.
pub fn from_kubeconfig(path: &Path) -> Result<ApiAccess, DiscoveryError> {
    let text = std::fs::read_to_string(path).map_err(|e| cred_err(format!("{}: {e}", path.display())))?;
    let kc: KubeConfig = serde_norway::from_str(&text).map_err(|e| cred_err(format!("{}: {e}", path.display())))?;
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == kc.current_context)
        .or(kc.contexts.first())
        .ok_or_else(|| cred_err("kubeconfig has no context"))?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.value.cluster)
        .ok_or_else(|| cred_err(format!("kubeconfig has no cluster {:?}", ctx.value.cluster)))?;
    let user = kc.users.iter().find(|u| u.name == ctx.value.user).map(|u| &u.value);
    let dir = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &String| dir.join(p).display().to_string();
    let data = |d: &Option<String>| d.as_deref().map(base64_decode).transpose().map_err(cred_err);
    let c = &cluster.value;
    let mut http = HttpClientConfig::default();
    http.tls_config.insecure_skip_verify = c.insecure_skip_tls_verify;
    http.tls_config.server_name.clone_from(&c.tls_server_name);
    http.tls_config.ca = data(&c.certificate_authority_data)?;
    if http.tls_config.ca.is_none() {
        http.tls_config.ca_file = c.certificate_authority.as_ref().map(resolve);
    }
    if let Some(u) = user {
        http.tls_config.cert = data(&u.client_certificate_data)?;
        if http.tls_config.cert.is_none() {
            http.tls_config.cert_file = u.client_certificate.as_ref().map(resolve);
        }
        http.tls_config.key = data(&u.client_key_data)?;
        if http.tls_config.key.is_none() {
            http.tls_config.key_file = u.client_key.as_ref().map(resolve);
        }
        if u.token.is_some() || u.token_file.is_some() {
            http.authorization = Some(Authorization {
                kind: None,
                credentials: u.token.clone(),
                credentials_file: if u.token.is_none() { u.token_file.as_ref().map(resolve) } else { None },
            });
        } else if u.username.is_some() {
            http.basic_auth =
                Some(BasicAuth { username: u.username.clone(), password: u.password.clone(), ..BasicAuth::default() });
        }
    }
    if c.server.is_empty() {
        return Err(cred_err("kubeconfig cluster has no server"));
    }
    Ok(ApiAccess { server: c.server.trim_end_matches('/').to_string(), http, namespace: ctx.value.namespace.clone() })
}

/// One resource kind the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Resource {
    Nodes,
    Pods,
    Services,
    Endpoints,
    EndpointSlices,
    Ingresses,
    Namespaces,
    ReplicaSets,
    Jobs,
}

impl Resource {
    fn path(self, namespace: Option<&str>) -> String {
        let (group, name, namespaced) = match self {
            Resource::Nodes => ("/api/v1", "nodes", false),
            Resource::Namespaces => ("/api/v1", "namespaces", false),
            Resource::Pods => ("/api/v1", "pods", true),
            Resource::Services => ("/api/v1", "services", true),
            Resource::Endpoints => ("/api/v1", "endpoints", true),
            Resource::EndpointSlices => ("/apis/discovery.k8s.io/v1", "endpointslices", true),
            Resource::Ingresses => ("/apis/networking.k8s.io/v1", "ingresses", true),
            Resource::ReplicaSets => ("/apis/apps/v1", "replicasets", true),
            Resource::Jobs => ("/apis/batch/v1", "jobs", true),
        };
        match namespace {
            Some(ns) if namespaced => format!("{group}/namespaces/{ns}/{name}"),
            _ => format!("{group}/{name}"),
        }
    }

    fn role(self) -> Option<KubernetesRole> {
        Some(match self {
            Resource::Nodes => KubernetesRole::Node,
            Resource::Pods => KubernetesRole::Pod,
            Resource::Services => KubernetesRole::Service,
            Resource::Endpoints => KubernetesRole::Endpoints,
            Resource::EndpointSlices => KubernetesRole::EndpointSlice,
            Resource::Ingresses => KubernetesRole::Ingress,
            Resource::Namespaces | Resource::ReplicaSets | Resource::Jobs => return None,
        })
    }
}

/// Objects of one resource kind by `namespace/name`.
type Store = Arc<Mutex<BTreeMap<String, Value>>>;

fn key(obj: &Value) -> String {
    let m = &obj["metadata"];
    format!("{}/{}", m["namespace"].as_str().unwrap_or(""), m["name"].as_str().unwrap_or(""))
}

/// A Kubernetes SD provider.
#[derive(Debug, Clone)]
pub struct KubernetesDiscovery {
    role: KubernetesRole,
    access: ApiAccess,
    client: HttpClient,
    namespaces: Vec<String>,
    selectors: BTreeMap<KubernetesRole, (Option<String>, Option<String>)>,
    attach: Attach,
    retry: Duration,
}

/// Which `attach_metadata` joins apply to the role.
#[derive(Debug, Clone, Copy, Default)]
struct Attach {
    node: bool,
    namespace: bool,
    deployment: bool,
    job: bool,
    cronjob: bool,
}

impl KubernetesDiscovery {
    /// A provider for `cfg`; `sa_dir` overrides the service-account directory used for
    /// in-cluster access and `own_namespace`.
    pub fn new(cfg: &KubernetesSdConfig, sa_dir: Option<&Path>) -> Result<Self, DiscoveryError> {
        let sa_dir: PathBuf = sa_dir.map_or_else(|| PathBuf::from(DEFAULT_SA_DIR), Path::to_path_buf);
        let access = if let Some(server) = &cfg.api_server {
            let namespace = std::fs::read_to_string(sa_dir.join("namespace")).ok().map(|s| s.trim().to_string());
            ApiAccess { server: server.trim_end_matches('/').to_string(), http: cfg.http_client_config(), namespace }
        } else if let Some(kc) = &cfg.kubeconfig_file {
            from_kubeconfig(Path::new(kc))?
        } else {
            let host = std::env::var("KUBERNETES_SERVICE_HOST")
                .map_err(|_| cred_err("KUBERNETES_SERVICE_HOST is not set: not running in a cluster?"))?;
            let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
            in_cluster(&host, &port, &sa_dir)?
        };
        Self::with_access(cfg, access)
    }

    /// A provider for `cfg` using `access` as given.
    pub fn with_access(cfg: &KubernetesSdConfig, access: ApiAccess) -> Result<Self, DiscoveryError> {
        let client = HttpClient::new(&access.http).map_err(cred_err)?;
        let mut namespaces = cfg.namespaces.names.clone();
        if cfg.namespaces.own_namespace {
            namespaces.push(access.namespace.clone().ok_or_else(|| cred_err("own_namespace: namespace unknown"))?);
        }
        namespaces.sort();
        namespaces.dedup();
        let selectors = cfg.selectors.iter().map(|s| (s.role, (s.label.clone(), s.field.clone()))).collect();
        let attach = &cfg.attach_metadata;
        let role = cfg.role;
        Ok(KubernetesDiscovery {
            role,
            access,
            client,
            namespaces,
            selectors,
            attach: Attach {
                node: attach.node
                    && matches!(role, KubernetesRole::Pod | KubernetesRole::Endpoints | KubernetesRole::EndpointSlice),
                namespace: attach.namespace && role != KubernetesRole::Node,
                deployment: attach.deployment && role == KubernetesRole::Pod,
                job: attach.job && role == KubernetesRole::Pod,
                cronjob: attach.cronjob && role == KubernetesRole::Pod,
            },
            retry: Duration::from_secs(1),
        })
    }

    /// How long to wait after a failed list or watch; default 1s.
    pub fn retry_interval(mut self, d: Duration) -> Self {
        self.retry = d;
        self
    }

    fn resources(&self) -> Vec<Resource> {
        let mut r = vec![match self.role {
            KubernetesRole::Node => Resource::Nodes,
            KubernetesRole::Pod => Resource::Pods,
            KubernetesRole::Service => Resource::Services,
            KubernetesRole::Endpoints => Resource::Endpoints,
            KubernetesRole::EndpointSlice => Resource::EndpointSlices,
            KubernetesRole::Ingress => Resource::Ingresses,
        }];
        if matches!(self.role, KubernetesRole::Endpoints | KubernetesRole::EndpointSlice) {
            r.extend([Resource::Pods, Resource::Services]);
        }
        if self.attach.node {
            r.push(Resource::Nodes);
        }
        if self.attach.namespace {
            r.push(Resource::Namespaces);
        }
        if self.attach.deployment {
            r.push(Resource::ReplicaSets);
        }
        if self.attach.job || self.attach.cronjob {
            r.push(Resource::Jobs);
        }
        r
    }

    fn url(&self, res: Resource, ns: Option<&str>, extra: &[(&str, &str)]) -> String {
        let mut url = format!("{}{}", self.access.server, res.path(ns));
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if let Some((label, field)) = res.role().and_then(|r| self.selectors.get(&r)) {
            if let Some(l) = label {
                pairs.push(("labelSelector", l));
            }
            if let Some(f) = field {
                pairs.push(("fieldSelector", f));
            }
        }
        pairs.extend_from_slice(extra);
        if !pairs.is_empty() {
            let q: String = reqwest::Url::parse("http://x/")
                .map(|mut u| {
                    u.query_pairs_mut().extend_pairs(pairs);
                    u.query().unwrap_or("").to_string()
                })
                .unwrap_or_default();
            url.push('?');
            url.push_str(&q);
        }
        url
    }

    /// List-then-watch of one resource in one namespace (or all), keeping `store` current and
    /// poking `changed` after every change.
    async fn informer(
        self: Arc<Self>,
        res: Resource,
        ns: Option<String>,
        store: Store,
        changed: mpsc::Sender<()>,
        sink: Sink,
    ) {
        let ns = ns.as_deref();
        'relist: loop {
            if changed.is_closed() {
                return;
            }
            let list_url = self.url(res, ns, &[]);
            let mut rv = match self.list(&list_url, ns, &store).await {
                Ok(rv) => rv,
                Err(e) => {
                    if !sink.error(e).await {
                        return;
                    }
                    tokio::time::sleep(self.retry).await;
                    continue;
                }
            };
            if changed.send(()).await.is_err() {
                return;
            }
            loop {
                let watch_url = self.url(
                    res,
                    ns,
                    &[
                        ("watch", "1"),
                        ("resourceVersion", &rv),
                        ("allowWatchBookmarks", "true"),
                        ("timeoutSeconds", "300"),
                    ],
                );
                match self.watch(&watch_url, ns, &store, &mut rv, &changed).await {
                    WatchEnd::Closed => continue,
                    WatchEnd::Gone => continue 'relist,
                    WatchEnd::Stop => return,
                    WatchEnd::Failed(e) => {
                        if !sink.error(e).await {
                            return;
                        }
                        tokio::time::sleep(self.retry).await;
                        continue 'relist;
                    }
                }
            }
        }
    }

    fn in_scope(&self, ns: Option<&str>, obj: &Value) -> bool {
        // A cluster-wide list of namespaced objects, filtered to the configured namespaces.
        ns.is_some()
            || self.namespaces.is_empty()
            || obj["metadata"]["namespace"].as_str().is_none_or(|n| self.namespaces.iter().any(|x| x == n))
    }

    async fn list(&self, url: &str, ns: Option<&str>, store: &Store) -> Result<String, DiscoveryError> {
        let err = |kind| DiscoveryError { source: url.to_string(), kind };
        let resp = self
            .client
            .get(url)
            .map_err(|m| err(DiscoveryErrorKind::Http(m)))?
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| err(DiscoveryErrorKind::Http(e.to_string())))?;
        if !resp.status().is_success() {
            return Err(err(DiscoveryErrorKind::Http(format!("server returned HTTP status {}", resp.status()))));
        }
        let body = resp.bytes().await.map_err(|e| err(DiscoveryErrorKind::Http(e.to_string())))?;
        let list: Value = serde_json::from_slice(&body).map_err(|e| err(DiscoveryErrorKind::Decode(e.to_string())))?;
        let items =
            list["items"].as_array().ok_or_else(|| err(DiscoveryErrorKind::Decode("list without items".into())))?;
        let objects = items.iter().filter(|o| self.in_scope(ns, o)).map(|o| (key(o), o.clone())).collect();
        *store.lock().unwrap_or_else(|e| e.into_inner()) = objects;
        Ok(list["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string())
    }

    async fn watch(
        &self,
        url: &str,
        ns: Option<&str>,
        store: &Store,
        rv: &mut String,
        changed: &mpsc::Sender<()>,
    ) -> WatchEnd {
        let err = |kind| WatchEnd::Failed(DiscoveryError { source: url.to_string(), kind });
        let req = match self.client.get(url) {
            Ok(r) => r,
            Err(m) => return err(DiscoveryErrorKind::Http(m)),
        };
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return err(DiscoveryErrorKind::Http(e.to_string())),
        };
        if resp.status() == reqwest::StatusCode::GONE {
            return WatchEnd::Gone;
        }
        if !resp.status().is_success() {
            return err(DiscoveryErrorKind::Http(format!("server returned HTTP status {}", resp.status())));
        }
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = tokio::select! {
                c = resp.chunk() => c,
                _ = changed.closed() => return WatchEnd::Stop,
            };
            let chunk = match chunk {
                Ok(Some(c)) => c,
                Ok(None) => return WatchEnd::Closed,
                Err(e) => return err(DiscoveryErrorKind::Http(e.to_string())),
            };
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let ev: Value = match serde_json::from_slice(&line) {
                    Ok(v) => v,
                    Err(e) => return err(DiscoveryErrorKind::Decode(format!("watch event: {e}"))),
                };
                let obj = &ev["object"];
                if let Some(v) = obj["metadata"]["resourceVersion"].as_str() {
                    rv.clone_from(&v.to_string());
                }
                let mut touched = true;
                match ev["type"].as_str().unwrap_or("") {
                    "ADDED" | "MODIFIED" if self.in_scope(ns, obj) => {
                        store.lock().unwrap_or_else(|e| e.into_inner()).insert(key(obj), obj.clone());
                    }
                    "DELETED" => {
                        store.lock().unwrap_or_else(|e| e.into_inner()).remove(&key(obj));
                    }
                    "ERROR" if obj["code"].as_u64() == Some(410) => return WatchEnd::Gone,
                    "ERROR" => {
                        return err(DiscoveryErrorKind::Http(format!(
                            "watch error: {}",
                            obj["message"].as_str().unwrap_or("unknown")
                        )));
                    }
                    _ => touched = false, // BOOKMARK, or out of scope
                }
                if touched && changed.send(()).await.is_err() {
                    return WatchEnd::Stop;
                }
            }
        }
    }
}

enum WatchEnd {
    /// The server ended the stream: watch again from the last version.
    Closed,
    /// The version expired: list again.
    Gone,
    /// Nobody listens any more.
    Stop,
    /// A failure to report before listing again.
    Failed(DiscoveryError),
}

/// The object stores one role's builder reads.
#[derive(Default, Clone)]
struct Stores {
    by_resource: BTreeMap<Resource, Store>,
}

impl Stores {
    fn get(&self, r: Resource) -> BTreeMap<String, Value> {
        self.by_resource.get(&r).map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default()
    }
}

impl Discoverer for KubernetesDiscovery {
    fn run(self: Box<Self>, sink: Sink) -> BoxFuture {
        Box::pin(async move {
            let me = Arc::new(*self);
            let (tx, mut rx) = mpsc::channel::<()>(64);
            let mut stores = Stores::default();
            let mut tasks = Vec::new();
            for res in me.resources() {
                let store: Store = Arc::default();
                stores.by_resource.insert(res, store.clone());
                let namespaced = res != Resource::Nodes && res != Resource::Namespaces;
                let scopes: Vec<Option<String>> = if namespaced && !me.namespaces.is_empty() {
                    me.namespaces.iter().cloned().map(Some).collect()
                } else {
                    vec![None]
                };
                if scopes.len() == 1 {
                    tasks.push(tokio::spawn(me.clone().informer(
                        res,
                        scopes[0].clone(),
                        store,
                        tx.clone(),
                        sink.clone(),
                    )));
                } else {
                    // One store per namespace, merged into the role's store on change.
                    let (ntx, mut nrx) = mpsc::channel::<()>(64);
                    let mut parts = Vec::new();
                    for ns in scopes {
                        let part: Store = Arc::default();
                        parts.push(part.clone());
                        tasks.push(tokio::spawn(me.clone().informer(res, ns, part, ntx.clone(), sink.clone())));
                    }
                    let tx = tx.clone();
                    tasks.push(tokio::spawn(async move {
                        while nrx.recv().await.is_some() {
                            let merged = parts
                                .iter()
                                .flat_map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).clone())
                                .collect();
                            *store.lock().unwrap_or_else(|e| e.into_inner()) = merged;
                            if tx.send(()).await.is_err() {
                                return;
                            }
                        }
                    }));
                }
            }
            drop(tx);
            let mut published: Option<Vec<TargetGroup>> = None;
            while rx.recv().await.is_some() {
                // Coalesce a burst of changes into one rebuild.
                tokio::time::sleep(Duration::from_millis(10)).await;
                while rx.try_recv().is_ok() {}
                let groups = build_groups(me.role, &stores, me.attach);
                if published.as_ref() != Some(&groups) {
                    published = Some(groups.clone());
                    if !sink.groups(groups).await {
                        break;
                    }
                }
            }
            for t in tasks {
                t.abort();
            }
        })
    }
}

// ---- labels -------------------------------------------------------------------------------

/// Replaces every character outside `[a-zA-Z0-9_]` with `_`.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

type Pairs = Vec<(String, String)>;

fn put(out: &mut Pairs, name: impl Into<String>, value: impl Into<String>) {
    let v = value.into();
    if !v.is_empty() {
        out.push((name.into(), v));
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn num(v: &Value) -> String {
    v.as_i64().map(|n| n.to_string()).unwrap_or_default()
}

/// `<prefix>_label_*`, `_labelpresent_*`, `_annotation_*`, `_annotationpresent_*`.
fn object_meta(out: &mut Pairs, prefix: &str, obj: &Value) {
    for (field, kind) in [("labels", "label"), ("annotations", "annotation")] {
        if let Some(m) = obj["metadata"][field].as_object() {
            for (k, v) in m {
                let n = sanitize(k);
                put(out, format!("{prefix}_{kind}_{n}"), s(v));
                put(out, format!("{prefix}_{kind}present_{n}"), "true");
            }
        }
    }
}

fn labels_of(pairs: Pairs) -> Labels {
    Labels::from_pairs(pairs)
}

fn node_labels(out: &mut Pairs, node: &Value) {
    let p = format!("{META}node");
    put(out, format!("{p}_name"), s(&node["metadata"]["name"]));
    put(out, format!("{p}_provider_id"), s(&node["spec"]["providerID"]));
    object_meta(out, &p, node);
}

fn namespace_labels(out: &mut Pairs, ns: Option<&Value>) {
    if let Some(ns) = ns {
        object_meta(out, &format!("{META}namespace"), ns);
    }
}

fn node_group(node: &Value) -> TargetGroup {
    let name = s(&node["metadata"]["name"]);
    let mut group = Pairs::new();
    node_labels(&mut group, node);
    for c in node["status"]["conditions"].as_array().into_iter().flatten() {
        put(
            &mut group,
            format!("{META}node_condition_{}", sanitize(&s(&c["type"]).to_lowercase())),
            s(&c["status"]).to_lowercase(),
        );
    }
    let addresses: Vec<(&str, &str)> = node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| (s(&a["type"]), s(&a["address"])))
        .collect();
    let first = |t: &str| addresses.iter().find(|(ty, _)| *ty == t).map(|(_, a)| *a);
    let addr = ["InternalIP", "ExternalIP", "LegacyHostIP", "Hostname"].into_iter().find_map(first);
    let mut targets = Vec::new();
    if let Some(addr) = addr {
        let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"].as_u64().unwrap_or(10250) as u16;
        let mut t = Pairs::new();
        put(&mut t, ADDRESS_LABEL, host_port(addr, port));
        put(&mut t, INSTANCE_LABEL, name);
        let mut seen = Vec::new();
        for (ty, a) in &addresses {
            if !seen.contains(ty) {
                seen.push(ty);
                put(&mut t, format!("{META}node_address_{}", sanitize(ty)), *a);
            }
        }
        targets.push(labels_of(t));
    }
    TargetGroup { source: format!("node/{name}"), targets, labels: labels_of(group) }
}

/// The pod-level labels (group labels of the pod role).
fn pod_labels(out: &mut Pairs, pod: &Value, ctx: &Context) {
    let p = format!("{META}pod");
    let m = &pod["metadata"];
    put(out, NAMESPACE_LABEL, s(&m["namespace"]));
    put(out, format!("{p}_name"), s(&m["name"]));
    put(out, format!("{p}_ip"), s(&pod["status"]["podIP"]));
    let ready = pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| s(&c["type"]) == "Ready")
        .map_or("unknown".to_string(), |c| s(&c["status"]).to_lowercase());
    put(out, format!("{p}_ready"), ready);
    put(out, format!("{p}_phase"), s(&pod["status"]["phase"]));
    put(out, format!("{p}_node_name"), s(&pod["spec"]["nodeName"]));
    put(out, format!("{p}_host_ip"), s(&pod["status"]["hostIP"]));
    put(out, format!("{p}_uid"), s(&m["uid"]));
    if let Some(owner) = controller(pod) {
        let (kind, name) = (s(&owner["kind"]), s(&owner["name"]));
        put(out, format!("{p}_controller_kind"), kind);
        put(out, format!("{p}_controller_name"), name);
        let ns = s(&m["namespace"]);
        let owner_of = |store: &BTreeMap<String, Value>, want: &str| {
            store
                .get(&format!("{ns}/{name}"))
                .and_then(controller)
                .filter(|o| s(&o["kind"]) == want)
                .map(|o| s(&o["name"]).to_string())
        };
        if ctx.attach.deployment && kind == "ReplicaSet" {
            put(out, format!("{p}_deployment_name"), owner_of(&ctx.replicasets, "Deployment").unwrap_or_default());
        }
        if ctx.attach.job && kind == "Job" {
            put(out, format!("{p}_job_name"), name);
        }
        if ctx.attach.cronjob && kind == "Job" {
            put(out, format!("{p}_cronjob_name"), owner_of(&ctx.jobs, "CronJob").unwrap_or_default());
        }
    }
    object_meta(out, &p, pod);
}

/// The owner reference marked as controller.
fn controller(obj: &Value) -> Option<&Value> {
    obj["metadata"]["ownerReferences"].as_array().into_iter().flatten().find(|o| o["controller"] == true)
}

/// `(container, is_init)` for every container of a pod.
fn containers(pod: &Value) -> impl Iterator<Item = (&Value, bool)> {
    let spec = &pod["spec"];
    let main = spec["containers"].as_array().into_iter().flatten().map(|c| (c, false));
    let init = spec["initContainers"].as_array().into_iter().flatten().map(|c| (c, true));
    main.chain(init)
}

fn container_id(pod: &Value, name: &str, init: bool) -> String {
    let field = if init { "initContainerStatuses" } else { "containerStatuses" };
    pod["status"][field]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| s(&c["name"]) == name)
        .map(|c| s(&c["containerID"]).to_string())
        .unwrap_or_default()
}

fn container_labels(out: &mut Pairs, pod: &Value, c: &Value, init: bool) {
    let p = format!("{META}pod_container");
    put(out, format!("{p}_name"), s(&c["name"]));
    put(out, format!("{p}_image"), s(&c["image"]));
    put(out, format!("{p}_id"), container_id(pod, s(&c["name"]), init));
    put(out, format!("{p}_init"), init.to_string());
}

fn port_labels(out: &mut Pairs, port: &Value) {
    let p = format!("{META}pod_container_port");
    put(out, format!("{p}_name"), s(&port["name"]));
    put(out, format!("{p}_number"), num(&port["containerPort"]));
    put(out, format!("{p}_protocol"), protocol(&port["protocol"]));
}

fn protocol(v: &Value) -> &str {
    v.as_str().unwrap_or("TCP")
}

fn pod_group(pod: &Value, ctx: &Context) -> TargetGroup {
    let m = &pod["metadata"];
    let mut group = Pairs::new();
    pod_labels(&mut group, pod, ctx);
    ctx.extra(&mut group, s(&m["namespace"]), Some(s(&pod["spec"]["nodeName"])));
    let ip = s(&pod["status"]["podIP"]);
    let mut targets = Vec::new();
    if !ip.is_empty() {
        for (c, init) in containers(pod) {
            let ports = c["ports"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if ports.is_empty() {
                let mut t = Pairs::new();
                put(&mut t, ADDRESS_LABEL, ip);
                container_labels(&mut t, pod, c, init);
                targets.push(labels_of(t));
            }
            for port in ports {
                let mut t = Pairs::new();
                put(&mut t, ADDRESS_LABEL, host_port(ip, port["containerPort"].as_u64().unwrap_or(0) as u16));
                container_labels(&mut t, pod, c, init);
                port_labels(&mut t, port);
                targets.push(labels_of(t));
            }
        }
    }
    TargetGroup { source: format!("pod/{}/{}", s(&m["namespace"]), s(&m["name"])), targets, labels: labels_of(group) }
}

/// Service labels without the port (what the endpoints roles attach).
fn service_labels(out: &mut Pairs, svc: &Value) {
    let p = format!("{META}service");
    let m = &svc["metadata"];
    put(out, NAMESPACE_LABEL, s(&m["namespace"]));
    put(out, format!("{p}_name"), s(&m["name"]));
    let ty = s(&svc["spec"]["type"]);
    put(out, format!("{p}_type"), ty);
    if ty == "ExternalName" {
        put(out, format!("{p}_external_name"), s(&svc["spec"]["externalName"]));
    } else {
        put(out, format!("{p}_cluster_ip"), s(&svc["spec"]["clusterIP"]));
    }
    if ty == "LoadBalancer" {
        let ips: Vec<&str> = svc["status"]["loadBalancer"]["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| i["ip"].as_str().or(i["hostname"].as_str()).unwrap_or(""))
            .filter(|s| !s.is_empty())
            .collect();
        let lb = if ips.is_empty() { s(&svc["spec"]["loadBalancerIP"]).to_string() } else { ips.join(",") };
        put(out, format!("{p}_loadbalancer_ip"), lb);
    }
    object_meta(out, &p, svc);
}

fn service_group(svc: &Value, ctx: &Context) -> TargetGroup {
    let m = &svc["metadata"];
    let (name, ns) = (s(&m["name"]), s(&m["namespace"]));
    let mut group = Pairs::new();
    service_labels(&mut group, svc);
    ctx.extra(&mut group, ns, None);
    let host = if s(&svc["spec"]["type"]) == "ExternalName" {
        s(&svc["spec"]["externalName"]).to_string()
    } else {
        format!("{name}.{ns}.svc")
    };
    let targets = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|port| {
            let mut t = Pairs::new();
            put(&mut t, ADDRESS_LABEL, host_port(&host, port["port"].as_u64().unwrap_or(0) as u16));
            let p = format!("{META}service_port");
            put(&mut t, format!("{p}_name"), s(&port["name"]));
            put(&mut t, format!("{p}_number"), num(&port["port"]));
            put(&mut t, format!("{p}_protocol"), protocol(&port["protocol"]));
            labels_of(t)
        })
        .collect();
    TargetGroup { source: format!("svc/{ns}/{name}"), targets, labels: labels_of(group) }
}

fn ingress_group(ing: &Value, ctx: &Context) -> TargetGroup {
    let m = &ing["metadata"];
    let (name, ns) = (s(&m["name"]), s(&m["namespace"]));
    let p = format!("{META}ingress");
    let mut group = Pairs::new();
    put(&mut group, NAMESPACE_LABEL, ns);
    put(&mut group, format!("{p}_name"), name);
    put(&mut group, format!("{p}_class_name"), s(&ing["spec"]["ingressClassName"]));
    object_meta(&mut group, &p, ing);
    ctx.extra(&mut group, ns, None);
    let tls_hosts: Vec<&str> = ing["spec"]["tls"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["hosts"].as_array().into_iter().flatten().map(s))
        .collect();
    let mut targets = Vec::new();
    for rule in ing["spec"]["rules"].as_array().into_iter().flatten() {
        let host = s(&rule["host"]);
        let scheme = if tls_hosts.iter().any(|h| matches_host(h, host)) { "https" } else { "http" };
        let paths: Vec<&str> = rule["http"]["paths"].as_array().into_iter().flatten().map(|p| s(&p["path"])).collect();
        for path in if paths.is_empty() { vec!["/"] } else { paths } {
            let mut t = Pairs::new();
            put(&mut t, ADDRESS_LABEL, host);
            put(&mut t, format!("{p}_scheme"), scheme);
            put(&mut t, format!("{p}_path"), if path.is_empty() { "/" } else { path });
            targets.push(labels_of(t));
        }
    }
    TargetGroup { source: format!("ingress/{ns}/{name}"), targets, labels: labels_of(group) }
}

/// Whether TLS host pattern `pattern` (possibly `*.example.com`) covers `host`.
fn matches_host(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.split_once('.').is_some_and(|(_, rest)| rest == suffix),
        None => pattern == host,
    }
}

/// Joins available while building groups.
struct Context {
    pods: BTreeMap<String, Value>,
    services: BTreeMap<String, Value>,
    nodes: BTreeMap<String, Value>,
    namespaces: BTreeMap<String, Value>,
    replicasets: BTreeMap<String, Value>,
    jobs: BTreeMap<String, Value>,
    attach: Attach,
}

impl Context {
    /// `attach_metadata` labels for an object in `ns` on `node`.
    fn extra(&self, out: &mut Pairs, ns: &str, node: Option<&str>) {
        if self.attach.namespace {
            namespace_labels(out, self.namespaces.get(&format!("/{ns}")));
        }
        if self.attach.node
            && let Some(node) = node.and_then(|n| self.nodes.get(&format!("/{n}")))
        {
            node_labels(out, node);
        }
    }
}

/// Targets for a pod's container ports that no endpoint port covered.
fn extra_pod_ports(pod: &Value, seen: &[(u64, String)], ctx: &Context, targets: &mut Vec<Labels>, base: &Pairs) {
    let ip = s(&pod["status"]["podIP"]);
    if ip.is_empty() {
        return;
    }
    for (c, init) in containers(pod) {
        if init {
            continue;
        }
        for port in c["ports"].as_array().into_iter().flatten() {
            let number = port["containerPort"].as_u64().unwrap_or(0);
            if seen.iter().any(|(n, p)| *n == number && p == protocol(&port["protocol"])) {
                continue;
            }
            let mut t = base.clone();
            put(&mut t, ADDRESS_LABEL, host_port(ip, number as u16));
            pod_labels(&mut t, pod, ctx);
            ctx.extra(&mut t, s(&pod["metadata"]["namespace"]), Some(s(&pod["spec"]["nodeName"])));
            container_labels(&mut t, pod, c, false);
            port_labels(&mut t, port);
            targets.push(labels_of(t));
        }
    }
}

/// For an endpoint backed by a pod: pod labels and those of the container declaring `port`.
fn attach_pod(t: &mut Pairs, pod: &Value, port: u64, proto: &str, ctx: &Context) {
    pod_labels(t, pod, ctx);
    ctx.extra(t, s(&pod["metadata"]["namespace"]), Some(s(&pod["spec"]["nodeName"])));
    for (c, init) in containers(pod) {
        for cp in c["ports"].as_array().into_iter().flatten() {
            if cp["containerPort"].as_u64() == Some(port) && protocol(&cp["protocol"]) == proto {
                container_labels(t, pod, c, init);
                port_labels(t, cp);
                return;
            }
        }
    }
}

fn target_pod<'a>(target_ref: &Value, ctx: &'a Context) -> Option<&'a Value> {
    if s(&target_ref["kind"]) != "Pod" {
        return None;
    }
    ctx.pods.get(&format!("{}/{}", s(&target_ref["namespace"]), s(&target_ref["name"])))
}

fn endpoints_group(ep: &Value, ctx: &Context) -> TargetGroup {
    let m = &ep["metadata"];
    let (name, ns) = (s(&m["name"]), s(&m["namespace"]));
    let p = format!("{META}endpoints");
    let mut group = Pairs::new();
    put(&mut group, NAMESPACE_LABEL, ns);
    put(&mut group, format!("{p}_name"), name);
    object_meta(&mut group, &p, ep);
    if let Some(svc) = ctx.services.get(&format!("{ns}/{name}")) {
        service_labels(&mut group, svc);
    }
    if ctx.attach.namespace {
        namespace_labels(&mut group, ctx.namespaces.get(&format!("/{ns}")));
    }
    let mut targets = Vec::new();
    let mut seen_pods: BTreeMap<String, (Value, Vec<(u64, String)>)> = BTreeMap::new();
    let e = format!("{META}endpoint");
    for subset in ep["subsets"].as_array().into_iter().flatten() {
        for port in subset["ports"].as_array().into_iter().flatten() {
            let number = port["port"].as_u64().unwrap_or(0);
            let proto = protocol(&port["protocol"]);
            let ready = subset["addresses"].as_array().into_iter().flatten().map(|a| (a, true));
            let not_ready = subset["notReadyAddresses"].as_array().into_iter().flatten().map(|a| (a, false));
            for (addr, is_ready) in ready.chain(not_ready) {
                let mut t = Pairs::new();
                put(&mut t, ADDRESS_LABEL, host_port(s(&addr["ip"]), number as u16));
                put(&mut t, format!("{e}_port_name"), s(&port["name"]));
                put(&mut t, format!("{e}_port_protocol"), proto);
                put(&mut t, format!("{e}_ready"), is_ready.to_string());
                put(&mut t, format!("{e}_hostname"), s(&addr["hostname"]));
                put(&mut t, format!("{e}_node_name"), s(&addr["nodeName"]));
                let tr = &addr["targetRef"];
                put(&mut t, format!("{e}_address_target_kind"), s(&tr["kind"]));
                put(&mut t, format!("{e}_address_target_name"), s(&tr["name"]));
                if let Some(pod) = target_pod(tr, ctx) {
                    attach_pod(&mut t, pod, number, proto, ctx);
                    seen_pods
                        .entry(key(pod))
                        .or_insert_with(|| (pod.clone(), Vec::new()))
                        .1
                        .push((number, proto.to_string()));
                }
                targets.push(labels_of(t));
            }
        }
    }
    for (pod, seen) in seen_pods.values() {
        extra_pod_ports(pod, seen, ctx, &mut targets, &Pairs::new());
    }
    TargetGroup { source: format!("endpoints/{ns}/{name}"), targets, labels: labels_of(group) }
}

fn endpointslice_group(slice: &Value, ctx: &Context) -> TargetGroup {
    let m = &slice["metadata"];
    let (name, ns) = (s(&m["name"]), s(&m["namespace"]));
    let p = format!("{META}endpointslice");
    let mut group = Pairs::new();
    put(&mut group, NAMESPACE_LABEL, ns);
    put(&mut group, format!("{p}_name"), name);
    object_meta(&mut group, &p, slice);
    let svc_name = s(&m["labels"]["kubernetes.io/service-name"]);
    if let Some(svc) = ctx.services.get(&format!("{ns}/{svc_name}")) {
        service_labels(&mut group, svc);
    }
    if ctx.attach.namespace {
        namespace_labels(&mut group, ctx.namespaces.get(&format!("/{ns}")));
    }
    let mut targets = Vec::new();
    let mut seen_pods: BTreeMap<String, (Value, Vec<(u64, String)>)> = BTreeMap::new();
    for port in slice["ports"].as_array().into_iter().flatten() {
        let number = port["port"].as_u64().unwrap_or(0);
        let proto = protocol(&port["protocol"]);
        for ep in slice["endpoints"].as_array().into_iter().flatten() {
            let Some(addr) = ep["addresses"].as_array().and_then(|a| a.first()).map(s) else { continue };
            let mut t = Pairs::new();
            put(&mut t, ADDRESS_LABEL, host_port(addr, number as u16));
            put(&mut t, format!("{p}_address_type"), s(&slice["addressType"]));
            put(&mut t, format!("{p}_port"), num(&port["port"]));
            put(&mut t, format!("{p}_port_name"), s(&port["name"]));
            put(&mut t, format!("{p}_port_protocol"), proto);
            let tr = &ep["targetRef"];
            put(&mut t, format!("{p}_address_target_kind"), s(&tr["kind"]));
            put(&mut t, format!("{p}_address_target_name"), s(&tr["name"]));
            for cond in ["ready", "serving", "terminating"] {
                if let Some(b) = ep["conditions"][cond].as_bool() {
                    put(&mut t, format!("{p}_endpoint_conditions_{cond}"), b.to_string());
                }
            }
            put(&mut t, format!("{p}_endpoint_hostname"), s(&ep["hostname"]));
            put(&mut t, format!("{p}_endpoint_node_name"), s(&ep["nodeName"]));
            put(&mut t, format!("{p}_endpoint_zone"), s(&ep["zone"]));
            if let Some(topo) = ep["deprecatedTopology"].as_object() {
                for (k, v) in topo {
                    let n = sanitize(k);
                    put(&mut t, format!("{p}_endpoint_topology_{n}"), s(v));
                    put(&mut t, format!("{p}_endpoint_topology_present_{n}"), "true");
                }
            }
            if let Some(pod) = target_pod(tr, ctx) {
                attach_pod(&mut t, pod, number, proto, ctx);
                seen_pods
                    .entry(key(pod))
                    .or_insert_with(|| (pod.clone(), Vec::new()))
                    .1
                    .push((number, proto.to_string()));
            }
            targets.push(labels_of(t));
        }
    }
    for (pod, seen) in seen_pods.values() {
        extra_pod_ports(pod, seen, ctx, &mut targets, &Pairs::new());
    }
    TargetGroup { source: format!("endpointslice/{ns}/{name}"), targets, labels: labels_of(group) }
}

fn build_groups(role: KubernetesRole, stores: &Stores, attach: Attach) -> Vec<TargetGroup> {
    let ctx = Context {
        pods: stores.get(Resource::Pods),
        services: stores.get(Resource::Services),
        nodes: stores.get(Resource::Nodes),
        namespaces: stores.get(Resource::Namespaces),
        replicasets: stores.get(Resource::ReplicaSets),
        jobs: stores.get(Resource::Jobs),
        attach,
    };
    match role {
        KubernetesRole::Node => ctx.nodes.values().map(node_group).collect(),
        KubernetesRole::Pod => ctx.pods.values().map(|p| pod_group(p, &ctx)).collect(),
        KubernetesRole::Service => ctx.services.values().map(|s| service_group(s, &ctx)).collect(),
        KubernetesRole::Endpoints => {
            stores.get(Resource::Endpoints).values().map(|e| endpoints_group(e, &ctx)).collect()
        }
        KubernetesRole::EndpointSlice => {
            stores.get(Resource::EndpointSlices).values().map(|e| endpointslice_group(e, &ctx)).collect()
        }
        KubernetesRole::Ingress => stores.get(Resource::Ingresses).values().map(|i| ingress_group(i, &ctx)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), "hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), "hello");
        assert!(base64_decode("a$").is_err());
    }

    #[test]
    fn sanitizes_names() {
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
    }

    #[test]
    fn tls_host_patterns() {
        assert!(matches_host("*.example.com", "a.example.com"));
        assert!(!matches_host("*.example.com", "a.b.example.com"));
        assert!(matches_host("x.io", "x.io"));
    }

    #[test]
    fn in_cluster_access() {
        let dir = std::env::temp_dir().join(format!("ember-sa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(in_cluster("10.0.0.1", "443", &dir).is_err());
        std::fs::write(dir.join("token"), "tok").unwrap();
        std::fs::write(dir.join("namespace"), "monitoring\n").unwrap();
        let a = in_cluster("10.0.0.1", "443", &dir).unwrap();
        assert_eq!(a.server, "https://10.0.0.1:443");
        assert_eq!(a.namespace.as_deref(), Some("monitoring"));
        assert_eq!(a.http.authorization.unwrap().credentials_file, Some(dir.join("token").display().to_string()));
        assert_eq!(a.http.tls_config.ca_file, Some(dir.join("ca.crt").display().to_string()));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
