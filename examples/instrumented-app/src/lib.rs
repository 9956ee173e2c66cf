//! An axum application instrumented with ember-client: the metrics it keeps, the traffic
//! simulation used by `--dump`, and the router serving `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ember_client::{
    Counter, Family, Gauge, Histogram, Info, LabelSet, LabelValue, ProcessCollector, Registry, StateSet, Summary,
    SummaryOpts, TypedFamily,
};

/// The HTTP method label.
#[derive(LabelValue, Clone, Copy, Debug)]
pub enum Method {
    /// GET
    #[label(rename = "GET")]
    Get,
    /// POST
    #[label(rename = "POST")]
    Post,
    /// Anything else.
    #[label(rename = "OTHER")]
    Other,
}

/// Labels of the request counter.
#[derive(LabelSet, Debug)]
pub struct RequestLabels {
    /// The method.
    pub method: Method,
    /// The matched route.
    pub route: String,
    /// The status code.
    pub code: String,
}

/// Everything the app measures.
#[derive(Clone)]
pub struct AppMetrics {
    /// Where everything is registered.
    pub registry: Registry,
    /// Requests by method, route and code.
    pub requests: TypedFamily<RequestLabels, Counter>,
    /// Latency by route.
    pub latency: Family<Histogram>,
    /// Requests being served.
    pub in_flight: Gauge,
    /// Size of responses.
    pub response_size: Summary,
    /// Work items processed, with exemplars.
    pub work_items: Counter,
    /// The app's health state.
    pub health: StateSet,
}

impl AppMetrics {
    /// Creates and registers the app's metrics, the build info and the process collector.
    pub fn new() -> ember_client::Result<Self> {
        let registry = Registry::new();
        let app = registry.with_prefix("demo")?.with_const_label("service", "instrumented-app")?;
        let requests = TypedFamily::<RequestLabels, Counter>::new()?;
        app.register("http_requests", "HTTP requests served.", requests.clone())?;
        let buckets = ember_client::exponential_buckets(0.0005, 4.0, 8)?;
        let latency = Family::new_with(&["route"], move || Histogram::new(&buckets))?;
        app.register_with_unit("http_request_duration", "Time to answer a request.", "seconds", latency.clone())?;
        let in_flight = Gauge::new();
        app.register("http_requests_in_flight", "Requests being served.", in_flight.clone())?;
        let response_size = Summary::new(SummaryOpts::default().quantiles(&[0.5, 0.9, 0.99]))?;
        app.register_with_unit("http_response_size", "Size of response bodies.", "bytes", response_size.clone())?;
        let work_items = Counter::new();
        app.register("work_items", "Work items processed.", work_items.clone())?;
        let health = StateSet::new(&["ok", "degraded", "down"])?;
        health.set_only("ok");
        app.register("health", "Health of the app.", health.clone())?;
        let info = Info::new(&[("version", env!("CARGO_PKG_VERSION")), ("language", "rust")])?;
        app.register("build", "Build information.", info)?;
        registry.register_collector(ProcessCollector::new())?;
        Ok(AppMetrics { registry, requests, latency, in_flight, response_size, work_items, health })
    }

    /// Records one request.
    pub fn record(&self, method: Method, route: &str, code: u16, seconds: f64, bytes: usize) {
        let labels = RequestLabels { method, route: route.to_string(), code: code.to_string() };
        self.requests.with_labels(&labels).inc();
        self.latency.with_label_values(&[route]).observe(seconds);
        self.response_size.observe(bytes as f64);
    }

    /// Simulates some traffic, so a dump has every kind of sample.
    pub fn simulate(&self) {
        let mut x: u64 = 42;
        for i in 0..500 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let route = ["/", "/work", "/users/{id}"][i % 3];
            let code = if x % 10 == 0 { 500 } else { 200 };
            let method = if i % 5 == 0 { Method::Post } else { Method::Get };
            self.record(method, route, code, (x % 1000) as f64 / 4000.0, (x % 5000) as usize);
        }
        for i in 0..20 {
            let trace = format!("{:016x}", 0xabc0_u64 + i);
            self.work_items.inc_by_with_exemplar(1, &[("trace_id", trace.as_str())]).expect("short exemplar");
        }
        self.latency
            .with_label_values(&["/work"])
            .observe_with_exemplar(0.01, &[("trace_id", "00000000000abcde")])
            .expect("short exemplar");
    }
}

async fn track(State(m): State<Arc<AppMetrics>>, req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = match req.method().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        _ => Method::Other,
    };
    m.in_flight.inc();
    let start = Instant::now();
    let resp = next.run(req).await;
    m.in_flight.dec();
    let size = resp.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
    m.record(method, &route, resp.status().as_u16(), start.elapsed().as_secs_f64(), size);
    resp
}

async fn metrics_handler(State(m): State<Arc<AppMetrics>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    match m.registry.scrape(accept) {
        Ok(s) => ([(header::CONTENT_TYPE, s.content_type())], s.body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn work(State(m): State<Arc<AppMetrics>>) -> &'static str {
    m.work_items.inc();
    "done\n"
}

/// The app: `/`, `/work`, and `/metrics` (not itself tracked).
pub fn router(m: Arc<AppMetrics>) -> Router {
    Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route("/work", get(work).post(work))
        .route_layer(middleware::from_fn_with_state(m.clone(), track))
        .route("/metrics", get(metrics_handler))
        .with_state(m)
}
