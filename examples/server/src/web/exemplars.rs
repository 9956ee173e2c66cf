//! `/api/v1/query_exemplars`.
//!
//! With `--enable-feature=exemplar-storage` the head keeps scraped exemplars in a bounded
//! ring ([`ember_tsdb::exemplars`]); a request selects the series of every selector in the
//! query (Prometheus's `ExtractSelectors`: each selector's matchers, the selectors OR-ed)
//! and answers their exemplars in `[start, end]`, per series, oldest first:
//! `[{"seriesLabels":{…},"exemplars":[{"labels":{…},"value":"6","timestamp":1600096945.479}]}]`.
//! Without the feature nothing is stored and every valid request gets an empty list — or,
//! when the query selects no series at all (`1+1`), no data, which Prometheus's API sends as
//! `204 No Content`. Parameters are validated exactly as Prometheus does, with its messages,
//! so clients that probe the endpoint (Grafana sends `query=test` on start-up) see the same
//! success or error.

use ember_exposition::Matcher;
use ember_promql::parser::{self, Expr};
use ember_tsdb::head::SeriesExemplars;

use super::api::{ApiError, ApiSuccess, push_labels};
use super::json::{push_float, push_timestamp};
use super::params::{MAX_TIME_MS, MIN_TIME_MS, Params};

/// The matchers of every selector in `expr`, in the order written (Prometheus's
/// `ExtractSelectors`); empty when the query selects no series.
pub fn selectors(expr: &Expr) -> Vec<Vec<Matcher>> {
    let mut out = Vec::new();
    parser::inspect(expr, |e, _| match e {
        Expr::VectorSelector(v) => out.push(v.matchers.clone()),
        Expr::MatrixSelector(m) => out.push(m.selector.matchers.clone()),
        _ => {}
    });
    out
}

/// Writes the API's `data` for `series`.
pub fn exemplars_json(series: &[SeriesExemplars]) -> String {
    let mut d = String::from("[");
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            d.push(',');
        }
        d.push_str("{\"seriesLabels\":");
        push_labels(&mut d, &s.labels);
        d.push_str(",\"exemplars\":[");
        for (j, e) in s.exemplars.iter().enumerate() {
            if j > 0 {
                d.push(',');
            }
            d.push_str("{\"labels\":");
            push_labels(&mut d, &e.labels);
            d.push_str(",\"value\":\"");
            push_float(&mut d, e.value);
            d.push_str("\",\"timestamp\":");
            push_timestamp(&mut d, e.timestamp.unwrap_or(0));
            d.push('}');
        }
        d.push_str("]}");
    }
    d.push(']');
    d
}

/// Reads the exemplar store: the selectors' matcher sets, start and end (inclusive ms).
pub type SelectExemplars<'a> = &'a dyn Fn(&[Vec<Matcher>], i64, i64) -> Vec<SeriesExemplars>;

/// Answers a `/api/v1/query_exemplars` request. `select` reads the store (the selectors'
/// matcher sets, start, end, all inclusive ms); `None` when exemplar storage is off, which
/// answers as an empty store does. `Ok(None)` is the answer without data (`204 No Content`).
/// The query is parsed with `opts` (the server's `--enable-feature` switches).
pub fn query_exemplars(
    p: &Params,
    opts: parser::ParseOptions,
    select: Option<SelectExemplars<'_>>,
) -> Result<Option<ApiSuccess>, ApiError> {
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start timestamp"));
    }
    let expr = opts.parse(p.get("query").unwrap_or("")).map_err(|e| ApiError::bad_data(e.to_string()))?;
    let sets = selectors(&expr);
    if sets.is_empty() {
        return Ok(None);
    }
    let found = match select {
        Some(select) => select(&sets, start, end),
        None => Vec::new(),
    };
    Ok(Some(ApiSuccess::new(exemplars_json(&found))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(query: &str, want: &str) {
        let got = match query_exemplars(&Params::new(Some(query), None), parser::ParseOptions::default(), None) {
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
        let err =
            query_exemplars(&Params::new(Some("query=sum("), None), parser::ParseOptions::default(), None).unwrap_err();
        assert!(err.message.contains("parse error"), "{}", err.message);
        assert!(
            query_exemplars(&Params::new(None, None), parser::ParseOptions::default(), None).is_err(),
            "an empty query does not parse"
        );
    }

    #[test]
    fn selectors_and_json_shape() {
        use ember_exposition::{Exemplar, labels};
        let expr = parser::parse("rate(a_total{job=\"x\"}[5m]) / on() b").unwrap();
        let sets = selectors(&expr);
        assert_eq!(sets.len(), 2);
        assert!(sets[0].iter().any(|m| m.name() == "job" && m.value() == "x"), "{sets:?}");
        let series = vec![SeriesExemplars {
            labels: labels! {"__name__" => "a_total", "job" => "x"},
            exemplars: vec![Exemplar {
                labels: labels! {"trace_id" => "EpTx"},
                value: 6.0,
                timestamp: Some(1_600_096_945_479),
            }],
        }];
        assert_eq!(
            exemplars_json(&series),
            r#"[{"seriesLabels":{"__name__":"a_total","job":"x"},"exemplars":[{"labels":{"trace_id":"EpTx"},"value":"6","timestamp":1600096945.479}]}]"#
        );
        let select = |sets: &[Vec<Matcher>], start: i64, end: i64| {
            assert_eq!((sets.len(), start, end), (1, 1_000, 2_000));
            series.clone()
        };
        let got = query_exemplars(
            &Params::new(Some("query=a_total&start=1&end=2"), None),
            parser::ParseOptions::default(),
            Some(&select),
        );
        assert!(got.unwrap().unwrap().data.contains("EpTx"));
    }
}
