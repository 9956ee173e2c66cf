//! `/api/v1/query` and `/api/v1/query_range`: parameters, engine errors mapped to
//! Prometheus's `errorType`s, and the result JSON.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ember_promql::engine::{CancelToken, Engine, EngineErrorKind, EngineOptions, QueryKind, QueryResult, Value};
use ember_tsdb::storage::Queryable;

use super::api::{ApiError, ApiResult, ApiSuccess, ErrorType, push_labels};
use super::json::{push_float, push_str, push_timestamp};
use super::params::{Params, parse_duration, parse_time};

/// The most points a range query may return per series (Prometheus's limit).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// A parsed query request.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    /// The expression.
    pub query: String,
    /// Instant or range.
    pub kind: QueryKind,
    /// The `timeout` parameter: the query fails with `errorType` `timeout` when it has not
    /// finished this long after the request arrived (waiting for a query slot included).
    /// `--query.timeout` bounds evaluation either way.
    pub timeout: Option<Duration>,
}

/// Reads the optional `timeout` parameter (float seconds or a Prometheus duration).
/// Zero or negative values are accepted and time the query out at once, as in Prometheus.
pub fn timeout_param(p: &Params) -> Result<Option<Duration>, ApiError> {
    match p.get("timeout") {
        None => Ok(None),
        Some(s) => Ok(Some(Duration::from_millis(parse_duration("timeout", s)?.max(0) as u64))),
    }
}

/// The error of a query that ran out of time in `phase` (`query queue`, `query
/// execution`), worded as Prometheus words it.
pub fn timeout_error(phase: &str) -> ApiError {
    ApiError::new(ErrorType::Timeout, format!("query timed out in {phase}"))
}

/// The engine a query with `deadline` runs on: `base` itself when there is no deadline
/// or `base`'s timeout ends first, otherwise a copy whose timeout ends at the deadline.
/// Fails with a timeout when the deadline has passed already. (An [`Engine`] holds
/// only options, so the copy is cheap.)
pub fn engine_for(base: &Engine, deadline: Option<Instant>, now: Instant) -> Result<Cow<'_, Engine>, ApiError> {
    let Some(deadline) = deadline else {
        return Ok(Cow::Borrowed(base));
    };
    let left = deadline.saturating_duration_since(now);
    if left.is_zero() {
        return Err(timeout_error("query queue"));
    }
    match base.options().timeout {
        Some(t) if t <= left => Ok(Cow::Borrowed(base)),
        _ => Ok(Cow::Owned(Engine::new(EngineOptions { timeout: Some(left), ..base.options().clone() }))),
    }
}

/// Reads an instant query's parameters; `now_ms` is the default time.
pub fn instant_request(p: &Params, now_ms: i64) -> Result<QueryRequest, ApiError> {
    let query =
        p.get("query").ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": query must not be empty"))?;
    let t = p.time_or("time", now_ms)?;
    let timeout = timeout_param(p)?;
    Ok(QueryRequest { query: query.to_owned(), kind: QueryKind::Instant(t), timeout })
}

/// Reads a range query's parameters, with Prometheus's checks and messages.
pub fn range_request(p: &Params) -> Result<QueryRequest, ApiError> {
    let query =
        p.get("query").ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": query must not be empty"))?;
    let start = parse_time("start", p.get("start").unwrap_or(""))?;
    let end = parse_time("end", p.get("end").unwrap_or(""))?;
    if end < start {
        return Err(ApiError::bad_data("invalid parameter \"end\": end timestamp must not be before start time"));
    }
    let step = parse_duration("step", p.get("step").unwrap_or(""))?;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout = timeout_param(p)?;
    Ok(QueryRequest { query: query.to_owned(), kind: QueryKind::Range { start, end, step }, timeout })
}

/// Maps an engine error to the API's error type, as Prometheus does.
pub fn engine_error(e: &ember_promql::engine::EngineError) -> ApiError {
    let kind = match e.kind() {
        EngineErrorKind::Parse(_) | EngineErrorKind::InvalidRangeQueryType(_) | EngineErrorKind::InvalidRange => {
            ErrorType::BadData
        }
        EngineErrorKind::Timeout => ErrorType::Timeout,
        EngineErrorKind::Cancelled => ErrorType::Canceled,
        EngineErrorKind::Storage(_) => ErrorType::Internal,
        _ => ErrorType::Execution,
    };
    let msg = match e.kind() {
        EngineErrorKind::Parse(_) | EngineErrorKind::InvalidRangeQueryType(_) => {
            format!("invalid parameter \"query\": {e}")
        }
        _ => e.to_string(),
    };
    ApiError::new(kind, msg)
}

/// Runs the request and renders the response.
pub fn run(engine: &Engine, storage: &Arc<dyn Queryable>, req: &QueryRequest, cancel: &CancelToken) -> ApiResult {
    let res = engine.query(storage.as_ref(), &req.query, req.kind, Some(cancel)).map_err(|e| engine_error(&e))?;
    Ok(render(&req.query, &res))
}

/// The `data` of a query response, with annotations as warnings and infos.
pub fn render(query: &str, res: &QueryResult) -> ApiSuccess {
    let mut d = String::with_capacity(256);
    match &res.value {
        Value::Scalar { t, v } => {
            d.push_str("{\"resultType\":\"scalar\",\"result\":[");
            push_timestamp(&mut d, *t);
            d.push_str(",\"");
            push_float(&mut d, *v);
            d.push_str("\"]");
        }
        Value::String { t, v } => {
            d.push_str("{\"resultType\":\"string\",\"result\":[");
            push_timestamp(&mut d, *t);
            d.push(',');
            push_str(&mut d, v);
            d.push(']');
        }
        Value::Vector(samples) => {
            d.push_str("{\"resultType\":\"vector\",\"result\":[");
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    d.push(',');
                }
                d.push_str("{\"metric\":");
                push_labels(&mut d, &s.metric);
                d.push_str(",\"value\":[");
                push_timestamp(&mut d, s.t);
                d.push_str(",\"");
                push_float(&mut d, s.f);
                d.push_str("\"]}");
            }
            d.push(']');
        }
        Value::Matrix(series) => {
            d.push_str("{\"resultType\":\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    d.push(',');
                }
                d.push_str("{\"metric\":");
                push_labels(&mut d, &s.metric);
                d.push_str(",\"values\":[");
                for (j, p) in s.points.iter().enumerate() {
                    if j > 0 {
                        d.push(',');
                    }
                    d.push('[');
                    push_timestamp(&mut d, p.t);
                    d.push_str(",\"");
                    push_float(&mut d, p.f);
                    d.push_str("\"]");
                }
                d.push_str("]}");
            }
            d.push(']');
        }
    }
    d.push('}');
    let mut out = ApiSuccess::new(d);
    for a in res.annotations.warnings() {
        out.warnings.push(a.message(query));
    }
    for a in res.annotations.infos() {
        out.infos.push(a.message(query));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_exposition::labels;
    use ember_tsdb::head::Head;
    use ember_tsdb::storage::{AppendOptions, Value as SValue};

    fn storage() -> Arc<dyn Queryable> {
        let head = Arc::new(Head::builder().build());
        let mut app = head.appender();
        let up = labels! {"__name__" => "up", "job" => "a"};
        for t in 0..10 {
            app.append(None, &up, t * 15_000, SValue::Float(1.0), AppendOptions::NONE).unwrap();
        }
        Box::new(app).commit().unwrap();
        head
    }

    fn body(r: ApiResult) -> String {
        let s = r.unwrap();
        format!("{}|{:?}|{:?}", s.data, s.warnings, s.infos)
    }

    #[test]
    fn instant_and_range_results_match_prometheus_json() {
        let (e, st, c) = (Engine::default(), storage(), CancelToken::new());
        let p = Params::new(Some("query=up&time=60"), None);
        let req = instant_request(&p, 0).unwrap();
        assert_eq!(
            body(run(&e, &st, &req, &c)),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[60,"1"]}]}|[]|[]"#
        );
        let p = Params::new(Some("query=sum(up)&start=0&end=30&step=15"), None);
        let req = range_request(&p).unwrap();
        assert_eq!(
            body(run(&e, &st, &req, &c)),
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[0,"1"],[15,"1"],[30,"1"]]}]}|[]|[]"#
        );
        let req = instant_request(&Params::new(Some("query=1%2B1&time=1.5"), None), 0).unwrap();
        assert_eq!(body(run(&e, &st, &req, &c)), r#"{"resultType":"scalar","result":[1.5,"2"]}|[]|[]"#);
        let req = instant_request(&Params::new(Some("query=rate(up[1m])&time=60"), None), 0).unwrap();
        let b = body(run(&e, &st, &req, &c));
        assert!(b.contains("metric might not be a counter"), "{b}");
    }

    #[test]
    fn timeout_parameter() {
        let t = |q: &str| instant_request(&Params::new(Some(q), None), 0).map(|r| r.timeout);
        assert_eq!(t("query=up"), Ok(None));
        assert_eq!(t("query=up&timeout=1ms"), Ok(Some(Duration::from_millis(1))));
        assert_eq!(t("query=up&timeout=1.5"), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(t("query=up&timeout=-3"), Ok(Some(Duration::ZERO)));
        let r = range_request(&Params::new(Some("query=up&start=0&end=1&step=1"), Some("timeout=2m"))).unwrap();
        assert_eq!(r.timeout, Some(Duration::from_secs(120)));
        let e = t("query=up&timeout=1x").unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorType::BadData, r#"invalid parameter "timeout": cannot parse "1x" to a valid duration"#)
        );
    }

    #[test]
    fn the_earlier_deadline_wins() {
        let base = Engine::new(EngineOptions { timeout: Some(Duration::from_secs(120)), ..Default::default() });
        let now = Instant::now();
        let timeout = |d: Option<Instant>| engine_for(&base, d, now).map(|e| e.options().timeout);
        assert_eq!(timeout(None), Ok(Some(Duration::from_secs(120))));
        assert_eq!(timeout(Some(now + Duration::from_secs(5))), Ok(Some(Duration::from_secs(5))));
        assert_eq!(timeout(Some(now + Duration::from_secs(600))), Ok(Some(Duration::from_secs(120))));
        let e = timeout(Some(now)).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorType::Timeout, "query timed out in query queue"));
        // The engine's own timeout error maps to 503 timeout.
        let (st, c) = (storage(), CancelToken::new());
        let tiny = Engine::new(EngineOptions { timeout: Some(Duration::from_nanos(1)), ..Default::default() });
        let req = range_request(&Params::new(Some("query=sum(up)&start=0&end=10000&step=1"), None)).unwrap();
        let e = run(&tiny, &st, &req, &c).unwrap_err();
        assert_eq!((e.kind, e.kind.status().as_u16()), (ErrorType::Timeout, 503), "{e}");
    }

    #[test]
    fn bad_requests() {
        let (e, st, c) = (Engine::default(), storage(), CancelToken::new());
        let err = instant_request(&Params::new(Some("time=1"), None), 0).unwrap_err();
        assert_eq!(err.kind, ErrorType::BadData);
        let req = instant_request(&Params::new(Some("query=sum("), None), 0).unwrap();
        let err = run(&e, &st, &req, &c).unwrap_err();
        assert_eq!(err.kind, ErrorType::BadData);
        assert!(
            err.message.starts_with("invalid parameter \"query\": 1:4: parse error: unclosed left parenthesis"),
            "{}",
            err.message
        );
        let err = range_request(&Params::new(Some("query=up&start=10&end=0&step=1"), None)).unwrap_err();
        assert!(err.message.contains("end timestamp must not be before start time"));
        let err = range_request(&Params::new(Some("query=up&start=0&end=100000&step=1"), None)).unwrap_err();
        assert!(err.message.contains("11,000 points"));
        let err = range_request(&Params::new(Some("query=up&start=0&end=10&step=0"), None)).unwrap_err();
        assert!(err.message.contains("zero or negative"));
        let req = range_request(&Params::new(Some("query=up[5m]&start=0&end=10&step=1"), None)).unwrap();
        let err = run(&e, &st, &req, &c).unwrap_err();
        assert_eq!(err.kind, ErrorType::BadData);
        assert_eq!(
            err.message,
            "invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
        );
        c.cancel();
        let req = instant_request(&Params::new(Some("query=up"), None), 60_000).unwrap();
        assert_eq!(run(&e, &st, &req, &c).unwrap_err().kind, ErrorType::Canceled);
    }
}
