//! `/api/v1/query_exemplars`.
//!
//! The server keeps no exemplars (the head's optional in-memory ring is not enabled and has no
//! selection by matchers), so every valid request gets what Prometheus answers when its
//! exemplar storage holds nothing for the selection: an empty list — or, when the query
//! selects no series at all (`1+1`), no data, which Prometheus's API sends as `204 No Content`. Parameters are validated exactly as Prometheus does, with
//! its messages, so clients that probe the endpoint (Grafana sends `query=test` on start-up)
//! see the same success or error.

use ember_promql::parser::{self, Expr};

use super::api::{ApiError, ApiSuccess};
use super::params::{MAX_TIME_MS, MIN_TIME_MS, Params};

/// Whether `expr` contains a series selector (Prometheus's `ExtractSelectors` is non-empty).
fn has_selector(expr: &Expr) -> bool {
    let mut found = false;
    parser::inspect(expr, |e, _| found |= matches!(e, Expr::VectorSelector(_) | Expr::MatrixSelector(_)));
    found
}

/// Answers a `/api/v1/query_exemplars` request from an exemplar store that holds nothing;
/// `None` is the answer without data (`204 No Content`).
pub fn query_exemplars(p: &Params) -> Result<Option<ApiSuccess>, ApiError> {
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start timestamp"));
    }
    let expr = parser::parse(p.get("query").unwrap_or("")).map_err(|e| ApiError::bad_data(e.to_string()))?;
    Ok(has_selector(&expr).then(|| ApiSuccess::new("[]".to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(query: &str, want: &str) {
        let got = match query_exemplars(&Params::new(Some(query), None)) {
            Ok(Some(s)) => s.data,
            Ok(None) => "204".to_owned(),
            Err(e) => format!("{}: {}", e.kind.as_str(), e.message),
        };
        assert_eq!(got, want, "{query}");
    }

    #[test]
    fn empty_answers_and_prometheus_errors() {
        check("query=test", "[]");
        // Grafana's probe sends milliseconds, which parse as (far future) seconds.
        check("query=test&start=1700000000000&end=1700001800000", "[]");
        check("query=rate(http_requests_total%5B5m%5D)&start=0&end=60", "[]");
        check("query=1%2B1", "204");
        check("query=test&start=10&end=5", "bad_data: end timestamp must not be before start timestamp");
        check(
            "query=test&start=yesterday",
            r#"bad_data: invalid parameter "start": cannot parse "yesterday" to a valid timestamp"#,
        );
        check("query=test&end=x", r#"bad_data: invalid parameter "end": cannot parse "x" to a valid timestamp"#);
        let err = query_exemplars(&Params::new(Some("query=sum("), None)).unwrap_err();
        assert!(err.message.contains("parse error"), "{}", err.message);
        assert!(query_exemplars(&Params::new(None, None)).is_err(), "an empty query does not parse");
    }
}
