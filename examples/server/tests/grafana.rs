//! Grafana's Prometheus data source against `ember`, replayed request by request.
//!
//! Grafana is not installable here, so this test sends exactly what its Prometheus data
//! source sends, with the data source's defaults (HTTP method POST, cache level "Low",
//! series limit 40000), and checks what Grafana reads from each answer. The requests come
//! from Grafana's sources:
//!
//! - `pkg/promlib/healthcheck.go` ("Save & test"): an instant query `1+1` over the range
//!   1 s – 4 s, sent by `pkg/promlib/client/client.go` as `POST api/v1/query` with the form
//!   `query=1%2B1&time=4` (`url.Values.Encode`: sorted keys; times as `FormatFloat(secs, 'f', -1)`);
//!   any status but 200 fails the check.
//! - `pkg/promlib/heuristics.go`: `GET api/v1/status/buildinfo`; an empty or missing
//!   `data.features` means "Prometheus" (features make it "Mimir").
//! - `pkg/promlib/querydata/request.go` + `client.go` (panels, alerting): `POST
//!   api/v1/query_range` with `end, query, start, step`, `POST api/v1/query` with `query,
//!   time`, and with exemplars on `POST api/v1/query_exemplars` with `end, query, start`; a
//!   data source set to GET sends the same as a query string.
//! - `packages/grafana-prometheus/src/datasource.ts`: on start-up `GET api/v1/rules`
//!   (recording-rule names) and the exemplar probe `GET api/v1/query_exemplars?query=test`
//!   with `start`/`end` in *milliseconds* (`dateTime().valueOf()`), which must answer
//!   `"status":"success"`.
//! - `packages/grafana-prometheus/src/language_provider.ts` and `resource_clients.ts` (query
//!   editor, label browser, variables), proxied by `client.go`'s `QueryResource`, which sends
//!   `api/v1/query`, `query_range`, `series` and `labels` as POST with the browser's form body
//!   and retries as GET on 400/405, and everything else (label values, metadata, rules,
//!   exemplars, status) as GET: `GET api/v1/label/__name__/values?limit=40000&start=&end=`,
//!   `POST api/v1/labels` with `limit, start, end[, match[]]`, `GET api/v1/metadata?limit=40000`,
//!   `GET api/v1/label/<name>/values` with `match[]`, and `POST api/v1/series` with
//!   `start, end, match[], limit`.
//!
//! Grafana's Go client identifies itself with `User-Agent: Grafana/<version>` and sends
//! `Accept-Encoding: gzip`; responses are read as JSON whatever else they carry.

mod common;

use common::{Resp, Server, eventually, request, start, write};
use serde_json::Value;

const UA: &str = "Grafana/12.1.0";

/// Go's `url.QueryEscape`.
fn esc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A form body or query string from pairs, in the given order.
fn enc(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", esc(k), esc(v))).collect::<Vec<_>>().join("&")
}

/// What Grafana's backend sends for a POST (query, query_range, series, labels, exemplars).
fn post(s: &Server, path: &str, pairs: &[(&str, &str)]) -> Resp {
    let headers =
        [("User-Agent", UA), ("Accept-Encoding", "gzip"), ("Content-Type", "application/x-www-form-urlencoded")];
    request(&s.addr, "POST", path, &headers, &enc(pairs))
}

/// What Grafana's backend sends for a GET.
fn get(s: &Server, path: &str, pairs: &[(&str, &str)]) -> Resp {
    let path = if pairs.is_empty() { path.to_owned() } else { format!("{path}?{}", enc(pairs)) };
    request(&s.addr, "GET", &path, &[("User-Agent", UA), ("Accept-Encoding", "gzip")], "")
}

/// Status 200, a JSON body with `"status":"success"`; returns `data`.
#[track_caller]
fn ok(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{:?}", r.headers);
    let v = r.json();
    assert_eq!(v["status"], "success", "{}", r.body);
    v["data"].clone()
}

#[track_caller]
fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}")).iter().map(|s| s.as_str().unwrap().to_owned()).collect()
}

#[test]
fn grafana_prometheus_data_source() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "prometheus.yml", "global:\n  scrape_interval: 1s\nscrape_configs: []\n");
    let s = start(&[&format!("--config.file={cfg}"), "--web.enable-lifecycle"], dir.path());
    let text = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: self\n  static_configs:\n  - targets: ['{}']\n",
        s.addr
    );
    std::fs::write(&cfg, text).unwrap();
    assert_eq!(request(&s.addr, "POST", "/-/reload", &[], "").status, 200);
    assert!(
        eventually(30, || get(&s, "/api/v1/query", &[("query", "up")]).body.contains(r#","1"]"#)),
        "own target scraped"
    );
    // Wait for a few scrapes so range queries have points and metadata is in.
    assert!(eventually(30, || get(&s, "/api/v1/metadata", &[("limit", "40000")]).body.contains("process_")));

    // 1. "Save & test": health check, then the build-info heuristics.
    let d = ok(&post(&s, "/api/v1/query", &[("query", "1+1"), ("time", "4")]));
    assert_eq!(d, serde_json::json!({"resultType": "scalar", "result": [4, "2"]}));
    let d = ok(&get(&s, "/api/v1/status/buildinfo", &[]));
    assert!(d["version"].is_string(), "{d}");
    assert!(d.get("features").is_none_or(|f| f.as_object().is_some_and(|o| o.is_empty())), "reads as Prometheus: {d}");

    // 2. Data source start-up in the browser: rules, then the exemplar probe (milliseconds).
    let d = ok(&get(&s, "/api/v1/rules", &[]));
    assert!(d["groups"].is_array(), "{d}");
    let now_s = jiff::Timestamp::now().as_second();
    let (now_ms, ago_ms) = ((now_s * 1000).to_string(), ((now_s - 1800) * 1000).to_string());
    let d = ok(&get(&s, "/api/v1/query_exemplars", &[("query", "test"), ("start", &ago_ms), ("end", &now_ms)]));
    assert_eq!(d, serde_json::json!([]));

    // 3. Query editor start: metric names, label names, metadata (times snapped to minutes).
    let (start_s, end_s) = (((now_s - 3600) / 60 * 60).to_string(), ((now_s + 59) / 60 * 60).to_string());
    let range = [("start", start_s.as_str()), ("end", end_s.as_str())];
    let lim = ("limit", "40000");
    let names = strings(&ok(&get(&s, "/api/v1/label/__name__/values", &[lim, range[0], range[1]])));
    assert!(names.contains(&"up".to_owned()) && names.contains(&"scrape_duration_seconds".to_owned()), "{names:?}");
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    let labels = strings(&ok(&post(&s, "/api/v1/labels", &[lim, range[0], range[1]])));
    for want in ["__name__", "instance", "job"] {
        assert!(labels.contains(&want.to_owned()), "{labels:?}");
    }
    let meta = ok(&get(&s, "/api/v1/metadata", &[lim]));
    let meta = meta.as_object().unwrap();
    let rss = &meta["process_resident_memory_bytes"][0];
    assert_eq!((rss["type"].as_str(), rss["help"].as_str()), (Some("gauge"), Some("Resident memory size in bytes.")));
    assert!(meta.values().all(|v| v.as_array().is_some_and(|a| a.iter().all(|m| m["type"].is_string()))));

    // 4. Label browser and variables: values with a matcher, names with a matcher, series.
    let d = ok(&get(&s, "/api/v1/label/job/values", &[lim, range[0], range[1], ("match[]", "up")]));
    assert_eq!(strings(&d), ["self"]);
    let d = ok(&get(&s, "/api/v1/label/instance/values", &[("match[]", "up"), range[0], range[1]]));
    assert_eq!(strings(&d), [s.addr.as_str()]);
    let d = ok(&post(&s, "/api/v1/labels", &[lim, range[0], range[1], ("match[]", r#"{job="self"}"#)]));
    assert!(strings(&d).contains(&"instance".to_owned()));
    let d = ok(&post(&s, "/api/v1/series", &[range[0], range[1], ("match[]", "up"), lim]));
    assert_eq!(d, serde_json::json!([{"__name__": "up", "instance": s.addr, "job": "self"}]));
    let d = ok(&post(&s, "/api/v1/series", &[range[0], range[1], ("match[]", r#"{__name__!=""}"#), ("limit", "2")]));
    assert_eq!(d.as_array().unwrap().len(), 2, "limit honoured");

    // 5. A panel: range, instant and exemplar queries as the backend sends them (POST), then
    // the same range query from a data source set to GET.
    // Grafana aligns start and end down to the step; with a one-second step the end is the
    // second after the last scrape seen.
    let step = "1";
    let now_s = jiff::Timestamp::now().as_second() + 1;
    let (qs, qe) = ((now_s - 600).to_string(), now_s.to_string());
    let range_q = [("end", qe.as_str()), ("query", "up"), ("start", qs.as_str()), ("step", step)];
    let d = ok(&post(&s, "/api/v1/query_range", &range_q));
    assert_eq!(d["resultType"], "matrix");
    let series = d["result"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{d}");
    assert_eq!(series[0]["metric"], serde_json::json!({"__name__": "up", "instance": s.addr, "job": "self"}));
    let values = series[0]["values"].as_array().unwrap();
    assert!(!values.is_empty());
    for v in values {
        assert!(v[0].is_number() && v[1] == "1", "[seconds, \"value\"] pairs: {v}");
    }
    assert_eq!(ok(&get(&s, "/api/v1/query_range", &range_q)), d, "GET answers as POST");
    let d = ok(&post(&s, "/api/v1/query", &[("query", "up"), ("time", &qe)]));
    assert_eq!(d["resultType"], "vector");
    assert_eq!(d["result"][0]["value"][1], "1");
    let d = ok(&post(&s, "/api/v1/query_exemplars", &[("end", &qe), ("query", "up"), ("start", &qs)]));
    assert_eq!(d, serde_json::json!([]));
    // A query timeout from the data source settings is accepted.
    let d = ok(&post(&s, "/api/v1/query", &[("query", "up"), ("time", &qe), ("timeout", "60s")]));
    assert_eq!(d["resultType"], "vector");

    // 6. Errors come back in the shape Grafana's converter reads.
    let r = post(&s, "/api/v1/query_range", &[("end", &qe), ("query", "sum("), ("start", &qs), ("step", step)]);
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!((v["status"].as_str(), v["errorType"].as_str()), (Some("error"), Some("bad_data")));
    assert!(v["error"].as_str().is_some_and(|e| e.contains("parse error")), "{v}");
}
