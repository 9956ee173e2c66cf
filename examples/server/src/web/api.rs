//! The parts of Prometheus's `/api/v1` that read storage directly: series, label names,
//! label values, and the response envelope every endpoint shares.

use std::fmt;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ember_exposition::{Labels, Matcher};
use ember_promql::parser::{self, Expr};
use ember_tsdb::storage::{Querier, Queryable, SelectHints};

use super::json::{push_str, push_timestamp};
use super::params::{MAX_TIME_MS, MIN_TIME_MS, ParamError, Params};

/// Prometheus's `errorType` values, with their HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// 400: the request is malformed.
    BadData,
    /// 422: the query could not be executed.
    Execution,
    /// 503: the query timed out.
    Timeout,
    /// 503: the query was cancelled.
    Canceled,
    /// 500: something broke inside.
    Internal,
    /// 404: no such thing.
    NotFound,
    /// 503: not ready or not enabled.
    Unavailable,
}

impl ErrorType {
    /// The `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
            ErrorType::Unavailable => "unavailable",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout | ErrorType::Canceled | ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

/// An API error: its type and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The `errorType`.
    pub kind: ErrorType,
    /// The `error` message.
    pub message: String,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError { kind, message: message.into() }
    }

    /// A `bad_data` error.
    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError::new(ErrorType::BadData, message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError::bad_data(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = String::from(r#"{"status":"error","errorType":"#);
        push_str(&mut body, self.kind.as_str());
        body.push_str(r#","error":"#);
        push_str(&mut body, &self.message);
        body.push('}');
        json_response(self.kind.status(), body)
    }
}

/// A successful response: the `data` member, already JSON, with warnings and infos.
#[derive(Debug, Clone, Default)]
pub struct ApiSuccess {
    /// The JSON of `data`.
    pub data: String,
    /// Warning messages.
    pub warnings: Vec<String>,
    /// Info messages.
    pub infos: Vec<String>,
}

impl ApiSuccess {
    /// A response whose data is `data` (JSON text).
    pub fn new(data: String) -> Self {
        ApiSuccess { data, warnings: Vec::new(), infos: Vec::new() }
    }
}

impl IntoResponse for ApiSuccess {
    fn into_response(self) -> Response {
        let mut body = String::with_capacity(self.data.len() + 40);
        body.push_str(r#"{"status":"success","data":"#);
        body.push_str(&self.data);
        for (key, list) in [("warnings", &self.warnings), ("infos", &self.infos)] {
            if !list.is_empty() {
                body.push_str(",\"");
                body.push_str(key);
                body.push_str("\":[");
                for (i, w) in list.iter().enumerate() {
                    if i > 0 {
                        body.push(',');
                    }
                    push_str(&mut body, w);
                }
                body.push(']');
            }
        }
        body.push('}');
        json_response(StatusCode::OK, body)
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// What a handler returns.
pub type ApiResult = Result<ApiSuccess, ApiError>;

/// Appends a label set as a JSON object.
pub fn push_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, &l.name);
        out.push(':');
        push_str(out, &l.value);
    }
    out.push('}');
}

/// Parses the `match[]` selectors of a request into matcher sets.
pub fn parse_match_params(selectors: &[&str]) -> Result<Vec<Vec<Matcher>>, ApiError> {
    selectors
        .iter()
        .map(|s| match parser::parse(s) {
            Ok(Expr::VectorSelector(vs)) => Ok(vs.matchers.clone()),
            Ok(_) => Err(ApiError::bad_data(format!("invalid parameter \"match[]\": {s:?} is not a series selector"))),
            Err(e) => Err(ApiError::bad_data(format!("invalid parameter \"match[]\": {e}"))),
        })
        .collect()
}

/// The `start`/`end` window of a metadata request (the whole time range by default).
fn window(p: &Params) -> Result<(i64, i64), ApiError> {
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data("invalid parameter \"end\": end timestamp must not be before start time"));
    }
    Ok((start, end))
}

/// The `limit` parameter: 0 or absent means no limit.
fn limit(p: &Params) -> Result<usize, ApiError> {
    match p.get("limit") {
        None => Ok(0),
        Some(s) => s.parse::<i64>().ok().filter(|n| *n >= 0).map(|n| n as usize).ok_or_else(|| {
            ApiError::bad_data(format!("invalid parameter \"limit\": cannot parse {s:?} to a valid limit"))
        }),
    }
}

fn storage_err(e: impl fmt::Display) -> ApiError {
    ApiError::new(ErrorType::Execution, e.to_string())
}

/// `/api/v1/series`.
pub fn series(storage: &Arc<dyn Queryable>, p: &Params) -> ApiResult {
    let selectors = p.all("match[]");
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let sets = parse_match_params(&selectors)?;
    let (start, end) = window(p)?;
    let limit = limit(p)?;
    let q = storage.querier(start, end).map_err(storage_err)?;
    let hints = SelectHints { start, end, func: Some("series".into()), ..SelectHints::default() };
    let mut all: Vec<Labels> = Vec::new();
    let mut warnings = Vec::new();
    for m in &sets {
        let mut set = q.select(true, Some(&hints), m);
        warnings.extend(set.take_warnings().iter().map(|w| w.to_string()));
        for s in set {
            all.push(s.map_err(storage_err)?.labels().clone());
        }
    }
    all.sort();
    all.dedup();
    if limit > 0 && all.len() > limit {
        all.truncate(limit);
        warnings.push("results truncated due to limit".to_owned());
    }
    let mut data = String::from("[");
    for (i, l) in all.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        push_labels(&mut data, l);
    }
    data.push(']');
    Ok(ApiSuccess { data, warnings, infos: Vec::new() })
}

/// `/api/v1/labels` (`name` = None) and `/api/v1/label/<name>/values`.
pub fn labels(storage: &Arc<dyn Queryable>, p: &Params, name: Option<&str>) -> ApiResult {
    let sets = parse_match_params(&p.all("match[]"))?;
    let (start, end) = window(p)?;
    let limit = limit(p)?;
    let q = storage.querier(start, end).map_err(storage_err)?;
    let fetch = |q: &dyn Querier, m: &[Matcher]| match name {
        None => q.label_names(m),
        Some(n) => q.label_values(n, m),
    };
    let mut values: Vec<String> = Vec::new();
    let mut warnings = Vec::new();
    if sets.is_empty() {
        let w = fetch(q.as_ref(), &[]).map_err(storage_err)?;
        values = w.value;
        warnings.extend(w.warnings.iter().map(|w| w.to_string()));
    } else {
        for m in &sets {
            let w = fetch(q.as_ref(), m).map_err(storage_err)?;
            values.extend(w.value);
            warnings.extend(w.warnings.iter().map(|w| w.to_string()));
        }
        values.sort();
        values.dedup();
    }
    if limit > 0 && values.len() > limit {
        values.truncate(limit);
        warnings.push("results truncated due to limit".to_owned());
    }
    let mut data = String::from("[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        push_str(&mut data, v);
    }
    data.push(']');
    Ok(ApiSuccess { data, warnings, infos: Vec::new() })
}

/// `/api/v1/format_query`, parsing with `opts` (the server's `--enable-feature` switches).
pub fn format_query(p: &Params, opts: parser::ParseOptions) -> ApiResult {
    let q = p.get("query").ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": query must not be empty"))?;
    let expr = opts.parse(q).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    let mut data = String::new();
    push_str(&mut data, &parser::pretty(&expr));
    Ok(ApiSuccess::new(data))
}

/// Writes `t` as Prometheus writes API timestamps (helper for other modules).
pub fn timestamp_json(t: i64) -> String {
    let mut s = String::new();
    push_timestamp(&mut s, t);
    s
}
