//! The running server: shared state, the HTTP router, and lifecycle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path as AxPath, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ember_client::Registry;
use ember_discovery::discovery::{Manager as DiscoveryManager, ProviderOptions, providers};
use ember_discovery::scrape::{ScrapeManager, ScrapeOptions};
use ember_tsdb::db::Db;
use ember_tsdb::storage::{Appendable, Queryable};
use parking_lot::RwLock;

use crate::config::ServerConfig;
use crate::web::api::{self, ApiError, ApiResult, ApiSuccess, ErrorType};
use crate::web::json::push_str;
use crate::web::params::Params;

mod api_ext;

/// The command-line options the server runs with (Prometheus's flag names).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// `--config.file`; `None` runs on the embedded defaults.
    pub config_file: Option<String>,
    /// `--storage.tsdb.path`.
    pub tsdb_path: String,
    /// `--storage.tsdb.retention.time`.
    pub retention_time: Option<String>,
    /// `--storage.tsdb.retention.size`.
    pub retention_size: Option<String>,
    /// `--web.listen-address`.
    pub listen_address: String,
    /// `--web.enable-lifecycle`.
    pub enable_lifecycle: bool,
    /// `--web.enable-admin-api`.
    pub enable_admin_api: bool,
    /// `--query.lookback-delta`.
    pub lookback_delta: Duration,
    /// `--query.timeout`.
    pub query_timeout: Duration,
    /// `--query.max-samples`.
    pub max_samples: usize,
    /// `--query.max-concurrency`.
    pub max_concurrency: usize,
    /// `--rules.alert.resend-delay`: the least time between two sends of a firing alert.
    pub alert_resend_delay: Duration,
    /// `--rules.alert.for-outage-tolerance`: how long an outage may last for `for` state
    /// to be restored.
    pub alert_for_outage_tolerance: Duration,
    /// `--rules.alert.for-grace-period`: the least `for` time left after a restore.
    pub alert_for_grace_period: Duration,
    /// `--enable-feature`, as given (each value may hold comma-separated names): see
    /// [`crate::features`] for the known names; unknown ones are warned about and ignored.
    pub enable_features: Vec<String>,
}

impl ServerOptions {
    /// What `--enable-feature` turns on.
    pub fn features(&self) -> crate::features::Features {
        crate::features::Features::parse(&self.enable_features)
    }

    /// Whether `--enable-feature=exemplar-storage` is set.
    pub fn exemplar_storage(&self) -> bool {
        self.features().exemplar_storage
    }

    /// The PromQL parser options `--enable-feature` implies
    /// (`promql-experimental-functions`, `promql-extended-range-selectors`,
    /// `promql-binop-fill-modifiers`); the engine, the rule loader and the query APIs all
    /// parse with them.
    pub fn parse_options(&self) -> ember_promql::parser::ParseOptions {
        self.features().promql
    }

    /// The scrape options the flags imply.
    pub fn scrape_options(&self) -> ScrapeOptions {
        ScrapeOptions { exemplars: self.exemplar_storage(), ..ScrapeOptions::default() }
    }

    /// The flags as `/api/v1/status/flags` lists them.
    pub fn flags(&self) -> Vec<(&'static str, String)> {
        vec![
            ("config.file", self.config_file.clone().unwrap_or_default()),
            ("enable-feature", self.enable_features.join(",")),
            ("query.lookback-delta", format_duration(self.lookback_delta)),
            ("query.max-concurrency", self.max_concurrency.to_string()),
            ("query.max-samples", self.max_samples.to_string()),
            ("query.timeout", format_duration(self.query_timeout)),
            ("rules.alert.for-grace-period", format_duration(self.alert_for_grace_period)),
            ("rules.alert.for-outage-tolerance", format_duration(self.alert_for_outage_tolerance)),
            ("rules.alert.resend-delay", format_duration(self.alert_resend_delay)),
            ("storage.tsdb.path", self.tsdb_path.clone()),
            ("storage.tsdb.retention.size", self.retention_size.clone().unwrap_or_else(|| "0B".into())),
            ("storage.tsdb.retention.time", self.retention_time.clone().unwrap_or_else(|| "15d".into())),
            ("web.enable-admin-api", self.enable_admin_api.to_string()),
            ("web.enable-lifecycle", self.enable_lifecycle.to_string()),
            ("web.listen-address", self.listen_address.clone()),
        ]
    }
}

/// Formats a duration the way Prometheus prints flag values (model durations like `5m`,
/// not Go's `5m0s`).
pub fn format_duration(d: Duration) -> String {
    ember_exposition::duration::format_duration(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Everything the handlers share.
pub struct App {
    /// The options the server started with.
    pub opts: ServerOptions,
    /// The current configuration (replaced on reload).
    pub config: RwLock<Arc<ServerConfig>>,
    /// The durable database (head, WAL, blocks).
    pub db: Db,
    /// What queries read.
    pub storage: Arc<dyn Queryable>,
    /// The PromQL engine.
    pub engine: ember_promql::engine::Engine,
    /// Query durations (`prometheus_engine_query_duration_seconds`).
    pub query_duration: ember_client::Histogram,
    /// Bounds how many queries evaluate at once (`--query.max-concurrency`).
    pub query_slots: Arc<tokio::sync::Semaphore>,
    /// What scrapes and rules write.
    pub appendable: Arc<dyn Appendable>,
    /// The rule manager (recording and alerting rules).
    pub rules: ember_alerting::rules::manager::Manager,
    /// The queue to the external Alertmanagers of `alerting.alertmanagers` (rebuilt on reload).
    pub notifier: Arc<crate::notifier::Notifier>,
    /// The embedded dispatcher, while `alerting.alertmanager_config_file` is set.
    pub alertmanager: crate::embedded::Slot,
    /// The URL the server is reached at (links in alerts and notifications).
    pub external_url: String,
    /// Discovery and scraping for the current configuration.
    pub scraping: parking_lot::Mutex<Option<Scraping>>,
    /// The server's own metrics.
    pub registry: Registry,
    /// When the server started.
    pub start_time: SystemTime,
    /// Whether start-up has finished.
    pub ready: AtomicBool,
    /// The last reload's outcome.
    pub last_reload_ok: AtomicBool,
    /// When the configuration was last loaded.
    pub last_reload_time: RwLock<SystemTime>,
}

impl App {
    /// The current configuration.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.read().clone()
    }

    /// The embedded dispatcher, if it is on.
    pub fn embedded_alertmanager(&self) -> Option<Arc<crate::embedded::Embedded>> {
        self.alertmanager.read().clone()
    }

    /// Loads the configuration file again (with the `alertmanager.yml` it names) and applies
    /// it: rules and their global settings (`evaluation_interval`, `rule_query_offset`,
    /// `external_labels`, `alert_relabel_configs`), discovery and scraping, the external
    /// Alertmanagers and the embedded dispatcher. All or nothing: everything that can fail
    /// is checked before anything changes, so on failure the old configuration keeps
    /// running untouched.
    pub async fn reload(&self) -> Result<(), String> {
        let Some(file) = self.opts.config_file.clone() else {
            return Ok(());
        };
        let res = self.try_reload(std::path::Path::new(&file)).await;
        self.last_reload_ok.store(res.is_ok(), Ordering::Relaxed);
        if res.is_ok() {
            *self.last_reload_time.write() = SystemTime::now();
        }
        res
    }

    async fn try_reload(&self, file: &std::path::Path) -> Result<(), String> {
        // What can fail, while nothing has changed yet.
        let c = ServerConfig::load(file).map_err(|e| e.to_string())?;
        let alertmanagers = crate::notifier::build_sets(&c)?;
        let settings = rule_settings(&c)?;
        let scraping = Scraping::prepare(&c, self.appendable.clone(), self.opts.scrape_options())?;
        let tsdb = std::path::Path::new(&self.opts.tsdb_path);
        let want = c.embedded_alertmanager.as_ref();
        let current = self.alertmanager.read().clone();
        // Turning the embedded dispatcher on can fail (its directory, its silences file).
        let started = match (&current, want) {
            (None, Some(cfg)) => Some(crate::embedded::Embedded::start(cfg, tsdb, &self.external_url)?),
            _ => None,
        };
        let (rules, patterns) = (self.rules.clone(), rule_patterns(&c));
        let loaded = tokio::task::spawn_blocking(move || rules.reload(&patterns, settings))
            .await
            .map_err(|e| format!("loading the rule files: {e}"))
            .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(e) = loaded {
            if let Some(e2) = started {
                e2.stop().await;
            }
            return Err(e);
        }
        // Nothing below fails.
        if let Some(old) = self.scraping.lock().replace(scraping.start()) {
            old.stop_in_background();
        }
        self.notifier.apply(alertmanagers);
        match (current, want, started) {
            (_, _, Some(new)) => *self.alertmanager.write() = Some(new),
            (Some(e), Some(cfg), None) => e.reload(cfg).await,
            (Some(_), None, None) => {
                let old = self.alertmanager.write().take();
                if let Some(e) = old {
                    e.stop().await;
                }
            }
            (None, _, None) => {}
        }
        if self.opts.exemplar_storage() {
            self.db.head().resize_exemplars(c.max_exemplars);
        }
        *self.config.write() = Arc::new(c);
        Ok(())
    }
}

/// The rule manager's reloadable settings in `c`.
fn rule_settings(c: &ServerConfig) -> Result<ember_alerting::rules::manager::Settings, String> {
    let global = &c.scrape.global;
    let alert_relabel = c
        .alerting
        .alert_relabel_configs
        .iter()
        .map(|c| ember_exposition::relabel::Relabel::new(c.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("alerting.alert_relabel_configs: {e}"))?;
    Ok(ember_alerting::rules::manager::Settings {
        evaluation_interval: global.evaluation_interval.get(),
        query_offset: global.rule_query_offset.get(),
        external_labels: ember_exposition::Labels::from_pairs(
            global.external_labels.iter().map(|(k, v)| (k.clone(), v.clone())),
        ),
        alert_relabel,
    })
}

/// The configured rule file patterns, resolved against the configuration's directory.
pub fn rule_patterns(c: &ServerConfig) -> Vec<String> {
    c.rule_files.iter().map(|p| c.base_dir.join(p).display().to_string()).collect()
}

/// Builds the rule manager: results into `db`, queries through `engine`, alerts to the
/// configured Alertmanagers.
fn build_rules(
    opts: &ServerOptions,
    config: &ServerConfig,
    db: &Db,
    engine: &ember_promql::engine::Engine,
    external_url: String,
    embedded: crate::embedded::Slot,
) -> Result<(ember_alerting::rules::manager::Manager, Arc<crate::notifier::Notifier>), String> {
    use ember_alerting::rules::eval::engine_query_fn;
    use ember_alerting::rules::manager::ManagerBuilder;
    let queryable: Arc<dyn Queryable> = Arc::new(db.clone());
    let settings = rule_settings(config)?;
    let mut b = ManagerBuilder::new(
        Arc::new(db.clone()),
        queryable.clone(),
        engine_query_fn(Arc::new(engine.clone()), queryable),
    )
    .evaluation_interval(settings.evaluation_interval)
    .query_offset(settings.query_offset)
    .external_labels(settings.external_labels)
    .external_url(external_url)
    .alert_relabel(settings.alert_relabel)
    .resend_delay(opts.alert_resend_delay)
    .outage_tolerance(opts.alert_for_outage_tolerance)
    .for_grace_period(opts.alert_for_grace_period)
    .sink(Arc::new(crate::embedded::EmbeddedSink::new(embedded)))
    // Rule files are checked, at start and on every reload, as the engine will parse them.
    .parse_options(engine.parse_options());
    let notifier = Arc::new(crate::notifier::Notifier::new(crate::notifier::build_sets(config)?));
    b = b.sink(notifier.clone());
    let m = b.build();
    m.load(&rule_patterns(config)).map_err(|e| e.to_string())?;
    Ok((m, notifier))
}

/// Discovery providers and scrape pools checked and built for one configuration, not yet
/// running ([`Scraping::prepare`]).
pub struct PreparedScraping {
    providers: Vec<(String, String, Box<dyn ember_discovery::discovery::Discoverer>)>,
    scrape: ScrapeManager,
}

impl PreparedScraping {
    /// Starts discovery and the scrape loops. Must run inside the tokio runtime.
    pub fn start(self) -> Scraping {
        let discovery = DiscoveryManager::start(self.providers, Duration::from_secs(5));
        self.scrape.watch(discovery.subscribe());
        Scraping { discovery, scrape: self.scrape }
    }
}

/// Service discovery feeding the scrape loops, for one configuration.
pub struct Scraping {
    /// Keeps the discovery providers running (dropping it stops them).
    pub discovery: DiscoveryManager,
    /// The scrape loops.
    pub scrape: ScrapeManager,
}

impl Scraping {
    /// Starts discovery and scraping for `config`, appending into `storage`. Must run
    /// inside the tokio runtime.
    pub fn start(config: &ServerConfig, storage: Arc<dyn Appendable>) -> Result<Scraping, String> {
        Scraping::start_with(config, storage, ScrapeOptions::default())
    }

    /// [`Scraping::start`] with scrape options (exemplars on or off).
    pub fn start_with(
        config: &ServerConfig,
        storage: Arc<dyn Appendable>,
        scrape_opts: ScrapeOptions,
    ) -> Result<Scraping, String> {
        Ok(Self::prepare(config, storage, scrape_opts)?.start())
    }

    /// Builds the providers and scrape pools for `config` (every check that can fail),
    /// starting nothing yet.
    pub fn prepare(
        config: &ServerConfig,
        storage: Arc<dyn Appendable>,
        scrape_opts: ScrapeOptions,
    ) -> Result<PreparedScraping, String> {
        let opts = ProviderOptions::default();
        let mut all = Vec::new();
        for sc in &config.scrape.scrape_configs {
            let provs = providers(sc, &opts).map_err(|e| format!("job {:?}: {e}", sc.job_name))?;
            all.extend(provs.into_iter().map(|(name, p)| (sc.job_name.clone(), name, p)));
        }
        let scrape =
            ScrapeManager::new(&config.scrape.scrape_configs, storage, scrape_opts).map_err(|e| e.to_string())?;
        Ok(PreparedScraping { providers: all, scrape })
    }

    /// Stops the loops (writing staleness markers for their targets) without waiting.
    pub fn stop_in_background(self) {
        tokio::spawn(async move {
            drop(self.discovery);
            self.scrape.stop().await;
        });
    }
}

type Shared = State<Arc<App>>;

/// The router with every endpoint.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/-/healthy", get(|| async { "Prometheus Server is Healthy.\n" }).head(|| async { "" }))
        .route("/-/ready", get(ready).head(ready))
        .route("/-/reload", post(reload).put(reload))
        .route("/metrics", get(metrics))
        .route("/federate", get(federate))
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/status/runtimeinfo", get(runtimeinfo))
        .route("/api/v1/status/flags", get(flags))
        .route("/api/v1/status/config", get(status_config))
        .route("/api/v1/status/tsdb", get(status_tsdb))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alertmanagers", get(alertmanagers))
        .route("/api/v1/admin/tsdb/delete_series", post(delete_series).put(delete_series))
        .route("/api/v1/admin/tsdb/snapshot", post(snapshot).put(snapshot))
        .merge(api_ext::routes())
        .merge(crate::web::alertmanager::routes())
        .fallback(not_found)
        .with_state(app)
}

/// The answer to a path no route serves.
pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

async fn ready(State(app): Shared) -> Response {
    if app.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "Prometheus Server is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
    }
}

async fn reload(State(app): Shared) -> Response {
    if !app.opts.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    match app.reload().await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {e}")).into_response(),
    }
}

async fn metrics(State(app): Shared, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    // Collectors may wait on locks (the embedded dispatcher's), so scrape off the async threads.
    let accept = accept.to_owned();
    let scraped = tokio::task::spawn_blocking(move || app.registry.scrape(&accept)).await;
    let Ok(scraped) = scraped else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "scrape failed").into_response();
    };
    match scraped {
        Ok(s) => ([(header::CONTENT_TYPE, s.content_type())], s.body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn federate(State(app): Shared, RawQuery(q): RawQuery) -> Response {
    let p = Params::new(q.as_deref(), None);
    let storage = app.storage.clone();
    let lookback = app.opts.lookback_delta.as_millis() as i64;
    let external: Vec<(String, String)> =
        app.config().scrape.global.external_labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let now = jiff::Timestamp::now().as_millisecond();
    let res = blocking(move || crate::web::federate::federate(&storage, &p, now, lookback, &external)).await;
    match res {
        Ok(families) => {
            let mut out = String::new();
            let _ = ember_exposition::text::encode(&mut out, &families);
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Reads the parameters of a GET (query string) or POST (query string + form body).
fn params(method: &Method, raw: Option<String>, body: &str) -> Params {
    let body = (method == Method::POST).then_some(body);
    Params::new(raw.as_deref(), body)
}

async fn query(State(app): Shared, method: Method, RawQuery(q): RawQuery, body: String) -> ApiResult {
    let p = params(&method, q, &body);
    let req = crate::web::query::instant_request(&p, jiff::Timestamp::now().as_millisecond())?;
    run_query(app, req).await
}

async fn query_range(State(app): Shared, method: Method, RawQuery(q): RawQuery, body: String) -> ApiResult {
    let p = params(&method, q, &body);
    let req = crate::web::query::range_request(&p)?;
    run_query(app, req).await
}

/// Evaluates off the async threads, within the concurrency limit; a client that goes
/// away cancels its query. The request's `timeout` runs from its arrival (waiting for a
/// slot included, as in Prometheus); evaluation also stops at `--query.timeout`.
async fn run_query(app: Arc<App>, req: crate::web::query::QueryRequest) -> ApiResult {
    use crate::web::query::{engine_for, timeout_error};
    let arrived = std::time::Instant::now();
    let deadline = req.timeout.map(|t| arrived + t);
    let acquire = app.query_slots.clone().acquire_owned();
    let slot = match deadline {
        Some(d) => tokio::time::timeout_at(d.into(), acquire).await.map_err(|_| timeout_error("query queue"))?,
        None => acquire.await,
    };
    let _slot = slot.map_err(|_| ApiError::new(ErrorType::Unavailable, "server is shutting down"))?;
    let cancel = ember_promql::engine::CancelToken::new();
    let guard = CancelOnDrop(cancel.clone());
    let started = std::time::Instant::now();
    let timer = app.clone();
    let res = blocking(move || {
        let engine = engine_for(&app.engine, deadline, std::time::Instant::now())?;
        crate::web::query::run(&engine, &app.storage, &req, &cancel)
    })
    .await;
    timer.query_duration.observe(started.elapsed().as_secs_f64());
    std::mem::forget(guard);
    res
}

/// Cancels a query when the request future is dropped (the client disconnected).
struct CancelOnDrop(ember_promql::engine::CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

async fn series(State(app): Shared, method: Method, RawQuery(q): RawQuery, body: String) -> ApiResult {
    let p = params(&method, q, &body);
    let storage = app.storage.clone();
    blocking(move || api::series(&storage, &p)).await
}

async fn labels(State(app): Shared, method: Method, RawQuery(q): RawQuery, body: String) -> ApiResult {
    let p = params(&method, q, &body);
    let storage = app.storage.clone();
    blocking(move || api::labels(&storage, &p, None)).await
}

async fn label_values(State(app): Shared, AxPath(name): AxPath<String>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::new(q.as_deref(), None);
    let name = decode_label_name(&name)?;
    let storage = app.storage.clone();
    blocking(move || api::labels(&storage, &p, Some(&name))).await
}

/// Label names in the path may use the `U__` escaping for UTF-8 names.
fn decode_label_name(name: &str) -> Result<String, ApiError> {
    let Some(rest) = name.strip_prefix("U__") else {
        return Ok(name.to_owned());
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let hex: String = chars.by_ref().take_while(|c| *c != '_').collect();
        let ch = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
        match ch {
            Some(ch) => out.push(ch),
            None => return Err(ApiError::bad_data(format!("invalid label name: {name:?}"))),
        }
    }
    Ok(out)
}

async fn format_query(State(app): Shared, method: Method, RawQuery(q): RawQuery, body: String) -> ApiResult {
    api::format_query(&params(&method, q, &body), app.engine.parse_options())
}

async fn buildinfo() -> ApiResult {
    let mut d = String::from("{\"version\":");
    push_str(&mut d, env!("CARGO_PKG_VERSION"));
    d.push_str(",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":");
    push_str(&mut d, &format!("rust (ember {})", env!("CARGO_PKG_VERSION")));
    d.push('}');
    Ok(ApiSuccess::new(d))
}

fn rfc3339(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t).map(|t| t.to_string()).unwrap_or_default()
}

async fn runtimeinfo(State(app): Shared) -> ApiResult {
    let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
    let mut d = String::from("{\"startTime\":");
    push_str(&mut d, &rfc3339(app.start_time));
    d.push_str(",\"CWD\":");
    push_str(&mut d, &cwd);
    d.push_str(",\"reloadConfigSuccess\":");
    d.push_str(if app.last_reload_ok.load(Ordering::Relaxed) { "true" } else { "false" });
    d.push_str(",\"lastConfigTime\":");
    push_str(&mut d, &rfc3339(*app.last_reload_time.read()));
    d.push_str(&format!(
        ",\"corruptionCount\":0,\"goroutineCount\":0,\"GOMAXPROCS\":{},\"GOMEMLIMIT\":0,\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    ));
    push_str(&mut d, &app.opts.retention_time.clone().unwrap_or_else(|| "15d".into()));
    d.push('}');
    Ok(ApiSuccess::new(d))
}

async fn flags(State(app): Shared) -> ApiResult {
    let mut d = String::from("{");
    for (i, (k, v)) in app.opts.flags().iter().enumerate() {
        if i > 0 {
            d.push(',');
        }
        push_str(&mut d, k);
        d.push(':');
        push_str(&mut d, v);
    }
    d.push('}');
    Ok(ApiSuccess::new(d))
}

async fn status_config(State(app): Shared) -> ApiResult {
    let mut d = String::from("{\"yaml\":");
    push_str(&mut d, &app.config().redacted);
    d.push('}');
    Ok(ApiSuccess::new(d))
}

async fn status_tsdb(State(app): Shared, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::new(q.as_deref(), None);
    let limit = match p.get("limit") {
        None => 10,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::bad_data("limit must be a positive number"))?,
    };
    let db = app.db.clone();
    let st = blocking(move || Ok::<_, ApiError>(db.head().stats(limit))).await?;
    let mut d = String::from("{\"headStats\":{");
    d.push_str(&format!(
        "\"numSeries\":{},\"numLabelPairs\":{},\"chunkCount\":{},\"minTime\":{},\"maxTime\":{}}}",
        st.num_series,
        st.num_label_pairs,
        st.num_chunks,
        st.min_time.unwrap_or(i64::MAX),
        st.max_time.unwrap_or(i64::MIN)
    ));
    for (key, list) in [
        ("seriesCountByMetricName", &st.series_count_by_metric_name),
        ("labelValueCountByLabelName", &st.label_value_count_by_label_name),
        ("memoryInBytesByLabelName", &st.memory_in_bytes_by_label_name),
        ("seriesCountByLabelValuePair", &st.series_count_by_label_value_pair),
    ] {
        d.push_str(&format!(",\"{key}\":["));
        for (i, (name, value)) in list.iter().enumerate() {
            if i > 0 {
                d.push(',');
            }
            d.push_str("{\"name\":");
            push_str(&mut d, name);
            d.push_str(&format!(",\"value\":{value}}}"));
        }
        d.push(']');
    }
    d.push('}');
    Ok(ApiSuccess::new(d))
}

fn admin_enabled(app: &App) -> Result<(), ApiError> {
    if app.opts.enable_admin_api { Ok(()) } else { Err(ApiError::new(ErrorType::Unavailable, "admin APIs disabled")) }
}

async fn delete_series(State(app): Shared, RawQuery(q): RawQuery, body: String) -> Response {
    if let Err(e) = admin_enabled(&app) {
        return e.into_response();
    }
    let p = params(&Method::POST, q, &body);
    let run = move || -> Result<(), ApiError> {
        let selectors = p.all("match[]");
        if selectors.is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        let sets = api::parse_match_params(&selectors)?;
        let start = p.time_or("start", crate::web::params::MIN_TIME_MS)?;
        let end = p.time_or("end", crate::web::params::MAX_TIME_MS)?;
        for m in &sets {
            app.db.delete(start, end, m).map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
        }
        Ok(())
    };
    match blocking(run).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn snapshot(State(app): Shared) -> ApiResult {
    admin_enabled(&app)?;
    blocking(move || {
        let now = jiff::Timestamp::now();
        let name =
            format!("{}-{:016x}", now.strftime("%Y%m%dT%H%M%SZ"), now.as_nanosecond() as u64 ^ 0x9e37_79b9_7f4a_7c15);
        let dir = app.db.dir().join("snapshots").join(&name);
        app.db.snapshot(&dir).map_err(|e| ApiError::new(ErrorType::Internal, format!("create snapshot: {e}")))?;
        let mut d = String::from("{\"name\":");
        push_str(&mut d, &name);
        d.push('}');
        Ok(ApiSuccess::new(d))
    })
    .await
}

async fn rules(State(app): Shared, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::new(q.as_deref(), None);
    let kind = p.get("type");
    if let Some(k) = kind {
        if k != "alert" && k != "record" {
            return Err(ApiError::bad_data(format!("invalid parameter \"type\": unknown rule type {k:?}")));
        }
    }
    Ok(ApiSuccess::new(crate::web::rules::rules_json(&app.rules.rule_groups(), kind)))
}

async fn alerts(State(app): Shared) -> ApiResult {
    Ok(ApiSuccess::new(crate::web::rules::alerts_json(&app.rules.alerts())))
}

async fn alertmanagers(State(app): Shared) -> ApiResult {
    let mut d = String::from("{\"activeAlertmanagers\":[");
    for (i, url) in app.notifier.active().iter().enumerate() {
        if i > 0 {
            d.push(',');
        }
        d.push_str("{\"url\":");
        push_str(&mut d, url);
        d.push('}');
    }
    d.push_str("],\"droppedAlertmanagers\":[]}");
    Ok(ApiSuccess::new(d))
}

async fn targets(State(app): Shared, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::new(q.as_deref(), None);
    let state = p.get("state").unwrap_or("any").to_ascii_lowercase();
    let pool = p.get("scrapePool").map(str::to_owned);
    let mut view = match app.scraping.lock().as_ref() {
        Some(s) => s.scrape.targets(),
        None => Default::default(),
    };
    if let Some(pool) = &pool {
        view.active_targets.retain(|t| &t.scrape_pool == pool);
        view.dropped_targets.retain(|t| &t.scrape_pool == pool);
        view.dropped_target_counts.retain(|k, _| k == pool);
    }
    match state.as_str() {
        "active" => view.dropped_targets.clear(),
        "dropped" => view.active_targets.clear(),
        _ => {}
    }
    let data = serde_json::to_string(&view).map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
    Ok(ApiSuccess::new(data))
}

/// Runs storage work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ApiError::new(ErrorType::Internal, format!("handler failed: {e}"))))
}

/// Binds the listener; returns it with the bound address (port 0 picks a free port).
pub async fn bind(addr: &str) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let l = tokio::net::TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}

/// The configuration used when no `--config.file` is given: scrape the server's own
/// `/metrics` every 15 s.
pub fn default_config_text(listen: &str) -> String {
    format!(
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs:\n  - job_name: ember\n    static_configs:\n      - targets: ['{listen}']\n"
    )
}

/// Builds the shared state: configuration, storage and self-instrumentation.
/// `self_addr` is the address the server is reachable at, which the embedded configuration
/// scrapes.
pub fn build_app(opts: ServerOptions, self_addr: SocketAddr) -> Result<Arc<App>, String> {
    let config = match &opts.config_file {
        Some(f) => ServerConfig::load(std::path::Path::new(f)).map_err(|e| e.to_string())?,
        None => {
            let text = default_config_text(&self_addr.to_string());
            ServerConfig::parse(std::path::Path::new("<embedded>"), &text, std::path::Path::new("."))
                .map_err(|e| e.to_string())?
        }
    };
    let mut builder = Db::builder(&opts.tsdb_path).compact_every(Duration::from_secs(60));
    if let Some(n) = std::num::NonZeroUsize::new(config.max_exemplars).filter(|_| opts.exemplar_storage()) {
        builder = builder.head(ember_tsdb::head::HeadBuilder::default().max_exemplars(n));
    }
    if let Some(r) = &opts.retention_time {
        let ms = ember_promql::series::parse_duration_ms(r)
            .filter(|ms| *ms > 0)
            .ok_or_else(|| format!("invalid --storage.tsdb.retention.time {r:?}"))?;
        builder = builder.retention(Duration::from_millis(ms as u64));
    } else {
        builder = builder.retention(Duration::from_secs(15 * 86_400));
    }
    if let Some(sz) = &opts.retention_size {
        let b: ember_discovery::units::ByteSize =
            sz.parse().map_err(|e| format!("invalid --storage.tsdb.retention.size {sz:?}: {e}"))?;
        if b.0 > 0 {
            builder = builder.retention_bytes(b.0);
        }
    }
    let db = builder.open().map_err(|e| format!("opening the TSDB at {}: {e}", opts.tsdb_path))?;
    for (path, why) in &db.open_report().corrupt_blocks {
        eprintln!("ember: skipping corrupt block {}: {why}", path.display());
    }
    let registry = Registry::new();
    registry
        .register_collector(ember_client::ProcessCollector::new())
        .map_err(|e| format!("registering process metrics: {e}"))?;
    let slot = Arc::new(std::sync::OnceLock::new());
    registry
        .register_collector(crate::telemetry::ServerCollector::new(slot.clone()))
        .map_err(|e| format!("registering server metrics: {e}"))?;
    let query_duration =
        ember_client::Histogram::new(&ember_client::exponential_buckets(0.001, 4.0, 8).map_err(|e| e.to_string())?);
    registry
        .register(
            "prometheus_engine_query_duration_seconds",
            "Query evaluation time, by query.",
            query_duration.clone(),
        )
        .map_err(|e| format!("registering query metrics: {e}"))?;
    let engine = ember_promql::engine::Engine::new(
        ember_promql::engine::EngineOptions {
            lookback_delta: opts.lookback_delta,
            max_samples: opts.max_samples,
            timeout: Some(opts.query_timeout),
            ..Default::default()
        }
        .with_parse_features(opts.parse_options()),
    );
    let query_slots = Arc::new(tokio::sync::Semaphore::new(opts.max_concurrency.max(1)));
    let external_url = format!("http://{self_addr}");
    let alertmanager = crate::embedded::Slot::default();
    let (rules, notifier) = build_rules(&opts, &config, &db, &engine, external_url.clone(), alertmanager.clone())?;
    let now = SystemTime::now();
    let app = Arc::new(App {
        opts,
        config: RwLock::new(Arc::new(config)),
        storage: Arc::new(db.clone()),
        engine,
        rules,
        notifier,
        alertmanager,
        external_url,
        query_duration,
        query_slots,
        appendable: Arc::new(db.clone()),
        db,
        scraping: parking_lot::Mutex::new(None),
        registry,
        start_time: now,
        ready: AtomicBool::new(false),
        last_reload_ok: AtomicBool::new(true),
        last_reload_time: RwLock::new(now),
    });
    let _ = slot.set(Arc::downgrade(&app));
    Ok(app)
}

/// Runs the server until SIGINT or SIGTERM; SIGHUP reloads the configuration.
pub fn run(opts: ServerOptions) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    rt.block_on(async move {
        let (listener, addr) =
            bind(&opts.listen_address).await.map_err(|e| format!("listening on {}: {e}", opts.listen_address))?;
        opts.features().warn_unknown();
        let app = build_app(opts, addr)?;
        eprintln!("ember: listening on http://{addr}");
        let scraping = Scraping::start_with(&app.config(), app.appendable.clone(), app.opts.scrape_options())?;
        *app.scraping.lock() = Some(scraping);
        let config = app.config();
        let tsdb = std::path::Path::new(&app.opts.tsdb_path);
        crate::embedded::apply(&app.alertmanager, config.embedded_alertmanager.as_ref(), tsdb, &app.external_url)
            .await?;
        let rules = app.rules.clone();
        let rules_task = tokio::spawn(async move { rules.run().await });
        let (stop_notifier, mut notifier_stopped) = tokio::sync::watch::channel(false);
        let notifier_task = {
            let n = app.notifier.clone();
            tokio::spawn(async move {
                n.run(async move {
                    let _ = notifier_stopped.wait_for(|stopped| *stopped).await;
                })
                .await
            })
        };
        app.ready.store(true, Ordering::Relaxed);
        let reload_app = app.clone();
        tokio::spawn(async move {
            let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                match reload_app.reload().await {
                    Ok(()) => eprintln!("ember: configuration reloaded"),
                    Err(e) => eprintln!("ember: reload failed, keeping the old configuration: {e}"),
                }
            }
        });
        axum::serve(listener, router(app.clone()))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| format!("serving: {e}"))?;
        app.ready.store(false, Ordering::Relaxed);
        app.rules.stop();
        let _ = rules_task.await;
        let embedded = app.alertmanager.write().take();
        if let Some(e) = embedded {
            e.stop().await;
        }
        // Alerts of the last evaluations still go out (Prometheus drains its queue on
        // shutdown), within a bound: an unreachable Alertmanager does not hold the exit.
        let _ = stop_notifier.send(true);
        let drain = async {
            let _ = notifier_task.await;
            app.notifier.flush().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        let scraping = app.scraping.lock().take();
        if let Some(s) = scraping {
            drop(s.discovery);
            s.scrape.stop().await;
        }
        app.db.close().map_err(|e| format!("closing the TSDB: {e}"))?;
        eprintln!("ember: shut down");
        Ok(())
    })
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
