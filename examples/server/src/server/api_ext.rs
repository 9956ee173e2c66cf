//! Endpoints added for issue #10, kept apart from the core router: metric metadata,
//! exemplars and the clean-tombstones admin call. [`routes`] is merged into
//! [`router`](super::router).

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ember_discovery::scrape::TargetMetadataView;

use super::{App, Shared, admin_enabled, blocking, params};
use crate::web::api::{ApiError, ApiResult, ErrorType};
use crate::web::params::Params;

/// The routes of this module, to merge into the main router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/targets/metadata", get(targets_metadata))
        .route("/api/v1/query_exemplars", get(query_exemplars).post(query_exemplars))
        .route("/api/v1/admin/tsdb/clean_tombstones", post(clean_tombstones).put(clean_tombstones))
}

/// Every active target's metadata (none before scraping starts).
fn targets(app: &App) -> Vec<TargetMetadataView> {
    app.scraping.lock().as_ref().map(|s| s.scrape.targets_metadata()).unwrap_or_default()
}

async fn metadata(State(app): Shared, RawQuery(q): RawQuery) -> ApiResult {
    crate::web::metadata::metric_metadata(&targets(&app), &Params::new(q.as_deref(), None))
}

async fn targets_metadata(State(app): Shared, RawQuery(q): RawQuery) -> ApiResult {
    crate::web::metadata::target_metadata(&targets(&app), &Params::new(q.as_deref(), None))
}

async fn query_exemplars(State(app): Shared, method: Method, RawQuery(q): RawQuery, body: String) -> Response {
    let p = params(&method, q, &body);
    let db = app.opts.exemplar_storage().then(|| app.db.clone());
    let opts = app.engine.parse_options();
    let res = blocking(move || {
        let select = |sets: &[Vec<ember_exposition::Matcher>], start: i64, end: i64| match &db {
            Some(db) => db.query_exemplars(start, end, sets),
            None => Vec::new(),
        };
        crate::web::exemplars::query_exemplars(&p, opts, db.is_some().then_some(&select as _))
    })
    .await;
    match res {
        Ok(Some(data)) => data.into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn clean_tombstones(State(app): Shared) -> Response {
    if let Err(e) = admin_enabled(&app) {
        return e.into_response();
    }
    let res =
        blocking(move || app.db.clean_tombstones().map_err(|e| ApiError::new(ErrorType::Internal, e.to_string())))
            .await;
    match res {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}
