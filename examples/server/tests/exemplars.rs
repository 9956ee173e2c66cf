//! `--enable-feature=exemplar-storage` end to end: ember scrapes an OpenMetrics target
//! served by the test (a counter and histogram buckets carrying exemplars), answers
//! `/api/v1/query_exemplars` with them in Prometheus's shape, keeps them across a restart
//! (WAL), resizes the store on reload, and without the flag keeps none.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{eventually, get, start, write};

/// Serves an OpenMetrics body on 127.0.0.1 to every request; returns its address.
fn target(counter_exemplar_ts: f64) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let body = format!(
        "# TYPE req counter\n\
         req_total{{path=\"/a\"}} 7 # {{trace_id=\"abc123\"}} 0.5 {counter_exemplar_ts}\n\
         # TYPE lat histogram\n\
         lat_bucket{{le=\"0.1\"}} 1 # {{trace_id=\"def456\",span_id=\"s1\"}} 0.05\n\
         lat_bucket{{le=\"1\"}} 3 # {{trace_id=\"ghi789\"}} 0.7\n\
         lat_bucket{{le=\"+Inf\"}} 3\n\
         lat_count 3\n\
         lat_sum 1.2\n\
         # EOF\n"
    );
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut tmp) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = c.write_all(resp.as_bytes());
        }
    });
    addr
}

fn config(target: Option<&str>, max_exemplars: i64) -> String {
    let jobs = match target {
        Some(t) => format!(
            "scrape_configs:\n  - job_name: app\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['{t}']\n"
        ),
        None => "scrape_configs: []\n".to_owned(),
    };
    format!("global:\n  scrape_interval: 1s\nstorage:\n  exemplars:\n    max_exemplars: {max_exemplars}\n{jobs}")
}

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `query_exemplars` for `query` (encoded here) and `extra` parameters.
fn exemplars_in(addr: &str, query: &str, extra: &str) -> serde_json::Value {
    let (status, body) = get(addr, &format!("/api/v1/query_exemplars?query={}{extra}", enc(query)));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success", "{body}");
    v["data"].clone()
}

fn exemplars(addr: &str, query: &str) -> serde_json::Value {
    exemplars_in(addr, query, "")
}

fn metric(addr: &str, name: &str) -> Option<f64> {
    let (_, body) = get(addr, "/metrics");
    body.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn scraped_exemplars_are_queryable_survive_restart_and_resize() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let ts = (now * 1000.0).floor() / 1000.0 - 60.0;
    let t = target(ts);
    let cfg = write(dir.path(), "prometheus.yml", &config(Some(&t), 1000));
    let server = start(
        &[&format!("--config.file={cfg}"), "--enable-feature=exemplar-storage", "--web.enable-lifecycle"],
        dir.path(),
    );
    let addr = server.addr.clone();
    assert!(
        eventually(30, || exemplars(&addr, "req_total").as_array().is_some_and(|a| !a.is_empty())),
        "the counter's exemplar arrives"
    );
    let data = exemplars(&addr, "req_total");
    assert_eq!(data.as_array().unwrap().len(), 1, "{data}");
    let s = &data[0];
    assert_eq!(s["seriesLabels"]["__name__"], "req_total");
    assert_eq!(s["seriesLabels"]["job"], "app");
    assert_eq!(s["seriesLabels"]["path"], "/a");
    let ex = s["exemplars"].as_array().unwrap();
    assert_eq!(ex.len(), 1, "the same exemplar scraped again is a duplicate: {data}");
    assert_eq!(ex[0]["labels"]["trace_id"], "abc123");
    assert_eq!(ex[0]["value"], "0.5");
    assert!((ex[0]["timestamp"].as_f64().unwrap() - ts).abs() < 0.0005, "{data}");

    // Histogram buckets: a selector with a regex over two buckets, and a time range.
    let data = exemplars(&addr, "sum(rate(lat_bucket{le=~\"0.1|1\"}[5m]))");
    let by_le: Vec<(String, String)> = data
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (s["seriesLabels"]["le"].as_str().unwrap().to_owned(), s["exemplars"][0]["labels"]["trace_id"].to_string())
        })
        .collect();
    assert_eq!(by_le, [("0.1".into(), "\"def456\"".into()), ("1".into(), "\"ghi789\"".into())], "{data}");
    let future = exemplars_in(&addr, "lat_bucket", &format!("&start={}&end={}", now + 3600.0, now + 7200.0));
    assert_eq!(future, serde_json::json!([]));
    assert!(metric(&addr, "prometheus_tsdb_exemplar_exemplars_in_storage").unwrap() >= 3.0);
    assert_eq!(metric(&addr, "prometheus_tsdb_exemplar_max_exemplars"), Some(1000.0));
    server.terminate();

    // Restart without targets: the exemplars come back from the WAL; a reload resizes.
    let cfg = write(dir.path(), "prometheus.yml", &config(None, 1000));
    let server = start(
        &[&format!("--config.file={cfg}"), "--enable-feature=exemplar-storage", "--web.enable-lifecycle"],
        dir.path(),
    );
    let addr = server.addr.clone();
    let data = exemplars(&addr, "req_total");
    assert_eq!(data[0]["exemplars"][0]["labels"]["trace_id"], "abc123", "replayed: {data}");
    assert!(!exemplars(&addr, "lat_bucket").as_array().unwrap().is_empty());
    write(dir.path(), "prometheus.yml", &config(None, 1));
    let (status, body) = common::http(&addr, "POST", "/-/reload", "text/plain", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(metric(&addr, "prometheus_tsdb_exemplar_max_exemplars"), Some(1.0));
    assert_eq!(metric(&addr, "prometheus_tsdb_exemplar_exemplars_in_storage"), Some(1.0));
    server.terminate();
}

#[test]
fn without_the_feature_nothing_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let t = target(1_600_000_000.0);
    let cfg = write(dir.path(), "prometheus.yml", &config(Some(&t), 1000));
    let server = start(&[&format!("--config.file={cfg}")], dir.path());
    let addr = server.addr.clone();
    assert!(
        eventually(30, || get(&addr, "/api/v1/query?query=req_total").1.contains("\"7\"")),
        "the target is scraped"
    );
    assert_eq!(exemplars(&addr, "req_total"), serde_json::json!([]));
    assert_eq!(metric(&addr, "prometheus_tsdb_exemplar_max_exemplars"), Some(0.0));
    let (status, _) = get(&addr, "/api/v1/query_exemplars?query=1%2B1");
    assert_eq!(status, 204);
}
