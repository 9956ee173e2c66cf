//! End-to-end: configuration as the API shows it and as reload applies it. Secrets never
//! leave the server (`/api/v1/status/config`, the embedded Alertmanager's
//! `/api/v2/status`); a reload replaces the external Alertmanagers; the `timeout`
//! parameter of `/api/v1/query` and `/api/v1/query_range` bounds a query.

mod common;

use std::time::Instant;

use common::{Webhook, eventually, form, get, start, write};
use ember_server::cli::tsdb::backfill::{BackfillOptions, create_blocks_from_openmetrics};
use ember_server::cli::tsdb::generate::{GenerateOptions, generate};

/// Every secret the files below hold; none may appear in a response.
const SECRETS: &[&str] = &[
    "SECRET-am-basic",
    "SECRET-scrape-basic",
    "SECRET-scrape-bearer",
    "SECRET-httpsd-basic",
    "SECRET-rw-urlpass",
    "SECRET-oauth",
    "SECRET-tls-key",
    "SECRET-sigv4",
    "SECRET-rr-bearer",
    "SECRET-header",
    "SECRET-comment",
    "SECRET-slack-global",
    "SECRET-slack-url",
    "SECRET-webhook-url",
    "SECRET-pd-routing",
    "SECRET-pd-routing2",
];

const PROMETHEUS_YML: &str = r#"# an old password: SECRET-comment
global:
  scrape_interval: 1h
  external_labels:
    password: shown-because-it-is-a-label
alerting:
  alertmanager_config_file: am.yml
  alertmanagers:
  - basic_auth:
      username: amuser
      password: SECRET-am-basic
    static_configs:
    - targets: ['127.0.0.1:1']
scrape_configs:
- job_name: basic
  basic_auth:
    username: scrapeuser
    password: SECRET-scrape-basic
  static_configs:
  - targets: ['127.0.0.1:1']
- job_name: bearer
  authorization:
    credentials: SECRET-scrape-bearer
  static_configs:
  - targets: ['127.0.0.1:1']
- job_name: files
  authorization:
    credentials_file: /etc/ember/token
  static_configs:
  - targets: ['127.0.0.1:1']
- job_name: httpsd
  http_sd_configs:
  - url: http://127.0.0.1:1/sd
    refresh_interval: 1h
    basic_auth:
      username: sd
      password: SECRET-httpsd-basic
remote_write:
- url: http://rwuser:SECRET-rw-urlpass@127.0.0.1:1/api/v1/write
  oauth2:
    client_id: rw
    client_secret: SECRET-oauth
    token_url: http://127.0.0.1:1/token
  tls_config:
    cert_file: /etc/ember/rw.crt
    key: SECRET-tls-key
  sigv4:
    access_key: AKIDEXAMPLE
    secret_key: SECRET-sigv4
remote_read:
- url: http://127.0.0.1:1/read
  bearer_token: SECRET-rr-bearer
  basic_auth:
    username: rr
    password_file: /etc/ember/rr-password
  http_headers:
    X-Token:
      values: [plain-header]
      secrets: [SECRET-header]
"#;

const ALERTMANAGER_YML: &str = r#"global:
  slack_api_url: http://127.0.0.1:1/SECRET-slack-global
route:
  receiver: hook
receivers:
- name: hook
  webhook_configs:
  - url: http://127.0.0.1:1/SECRET-webhook-url
  - url_file: URL_FILE
  slack_configs:
  - api_url: http://127.0.0.1:1/SECRET-slack-url
    channel: '#alerts'
  pagerduty_configs:
  - routing_key: SECRET-pd-routing
  - routing_key: SECRET-pd-routing2
    url: http://127.0.0.1:1/pagerduty
"#;

#[track_caller]
fn assert_redacted(what: &str, body: &str, yaml: &str, visible: &[&str]) {
    for s in SECRETS {
        assert!(!body.contains(s), "{what} leaks {s}: {body}");
    }
    assert!(yaml.contains("<secret>"), "{what}: {yaml}");
    for v in visible {
        assert!(yaml.contains(v), "{what} hides {v:?}: {yaml}");
    }
    let _: serde_norway::Value =
        serde_norway::from_str(yaml).unwrap_or_else(|e| panic!("{what} is not YAML ({e}): {yaml}"));
}

#[test]
fn status_endpoints_hide_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let url_file = write(dir.path(), "webhook-url", "http://127.0.0.1:1/SECRET-webhook-url\n");
    write(dir.path(), "am.yml", &ALERTMANAGER_YML.replace("URL_FILE", &url_file));
    let cfg = write(dir.path(), "prometheus.yml", PROMETHEUS_YML);
    let s = start(&[&format!("--config.file={cfg}")], dir.path());

    let (code, body) = get(&s.addr, "/api/v1/status/config");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let yaml = v["data"]["yaml"].as_str().unwrap();
    assert_redacted(
        "/api/v1/status/config",
        &body,
        yaml,
        &[
            "credentials_file: /etc/ember/token",
            "password_file: /etc/ember/rr-password",
            "cert_file: /etc/ember/rw.crt",
            "username: scrapeuser",
            "access_key: AKIDEXAMPLE",
            "plain-header",
            "password: shown-because-it-is-a-label",
            "http://rwuser:xxxxx@127.0.0.1:1/api/v1/write",
        ],
    );
    let tree: serde_norway::Value = serde_norway::from_str(yaml).unwrap();
    for (path, want) in [
        (&["scrape_configs", "0", "basic_auth", "password"][..], "<secret>"),
        (&["scrape_configs", "1", "authorization", "credentials"], "<secret>"),
        (&["scrape_configs", "3", "http_sd_configs", "0", "basic_auth", "password"], "<secret>"),
        (&["alerting", "alertmanagers", "0", "basic_auth", "password"], "<secret>"),
        (&["remote_write", "0", "oauth2", "client_secret"], "<secret>"),
        (&["remote_write", "0", "tls_config", "key"], "<secret>"),
        (&["remote_write", "0", "sigv4", "secret_key"], "<secret>"),
        (&["remote_read", "0", "bearer_token"], "<secret>"),
        (&["remote_read", "0", "http_headers", "X-Token", "secrets", "0"], "<secret>"),
    ] {
        let mut at = &tree;
        for k in path {
            at = match k.parse::<usize>() {
                Ok(i) => &at[i],
                Err(_) => &at[*k],
            };
        }
        assert_eq!(at.as_str(), Some(want), "{path:?} in {yaml}");
    }

    let (code, body) = get(&s.addr, "/api/v2/status");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let yaml = v["config"]["original"].as_str().unwrap();
    assert_redacted(
        "/api/v2/status",
        &body,
        yaml,
        &[&format!("url_file: {url_file}"), "url: http://127.0.0.1:1/pagerduty", "channel: '#alerts'"],
    );
    let tree: serde_norway::Value = serde_norway::from_str(yaml).unwrap();
    let hook = &tree["receivers"][0];
    assert_eq!(tree["global"]["slack_api_url"].as_str(), Some("<secret>"));
    assert_eq!(hook["webhook_configs"][0]["url"].as_str(), Some("<secret>"));
    assert_eq!(hook["slack_configs"][0]["api_url"].as_str(), Some("<secret>"));
    assert_eq!(hook["pagerduty_configs"][0]["routing_key"].as_str(), Some("<secret>"));
    assert_eq!(hook["pagerduty_configs"][1]["routing_key"].as_str(), Some("<secret>"));
}

#[test]
fn check_config_prints_no_secret_and_checks_alertmanagers() {
    let dir = tempfile::tempdir().unwrap();
    let url_file = write(dir.path(), "webhook-url", "http://127.0.0.1:1/SECRET-webhook-url\n");
    write(dir.path(), "am.yml", &ALERTMANAGER_YML.replace("URL_FILE", &url_file));
    let cfg = write(dir.path(), "prometheus.yml", PROMETHEUS_YML);
    let mut out = Vec::new();
    assert_eq!(ember_server::cli::check::config(std::slice::from_ref(&cfg), Default::default(), &mut out), 0);
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("is valid prometheus config file syntax"), "{out}");
    for s in SECRETS {
        assert!(!out.contains(s), "{s}: {out}");
    }
    // An Alertmanager entry the notifier cannot use fails the check, as it fails a reload.
    let bad = PROMETHEUS_YML.replace(
        "  - basic_auth:\n      username: amuser",
        "  - api_version: v1\n    basic_auth:\n      username: amuser",
    );
    write(dir.path(), "prometheus.yml", &bad);
    let mut out = Vec::new();
    assert_eq!(ember_server::cli::check::config(&[cfg], Default::default(), &mut out), 1);
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("FAILED") && out.contains("alerting.alertmanagers[0]: unsupported api_version \"v1\""),
        "{out}"
    );
}

const ALWAYS_FIRING: &str = "groups:\n- name: g\n  interval: 500ms\n  rules:\n  - alert: AlwaysOn\n    expr: vector(1)\n    labels: {severity: page}\n";

fn alertmanagers(addr: &str) -> Vec<String> {
    let (code, body) = get(addr, "/api/v1/alertmanagers");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["droppedAlertmanagers"], serde_json::json!([]), "{body}");
    v["data"]["activeAlertmanagers"].as_array().unwrap().iter().map(|a| a["url"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn reload_replaces_external_alertmanagers() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (Webhook::start(), Webhook::start());
    write(dir.path(), "rules.yml", "groups: []\n");
    let cfg = write(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  evaluation_interval: 500ms\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['{}']\n",
            first.addr()
        ),
    );
    let s = start(&[&format!("--config.file={cfg}"), "--web.enable-lifecycle"], dir.path());
    assert_eq!(alertmanagers(&s.addr), vec![format!("http://{}/api/v2/alerts", first.addr())]);

    // The second Alertmanager sits under a path prefix, with credentials and a timeout.
    write(dir.path(), "rules.yml", ALWAYS_FIRING);
    std::fs::write(
        &cfg,
        format!(
            "global:\n  evaluation_interval: 500ms\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n  - path_prefix: /am/\n    timeout: 5s\n    api_version: v2\n    basic_auth: {{username: ember, password: pw}}\n    static_configs:\n    - targets: ['{}']\n",
            second.addr()
        ),
    )
    .unwrap();
    let (code, body) = form(&s.addr, "POST", "/-/reload", "");
    assert_eq!(code, 200, "{body}");
    let want = format!("http://{}/am/api/v2/alerts", second.addr());
    assert_eq!(alertmanagers(&s.addr), vec![want.clone()]);
    assert!(get(&s.addr, "/metrics").1.contains("\nprometheus_notifications_alertmanagers_discovered 1.0\n"));

    let got = || second.take().into_iter().flat_map(|b| b.as_array().cloned().unwrap_or_default()).collect::<Vec<_>>();
    let mut alerts = Vec::new();
    assert!(
        eventually(20, || {
            alerts.extend(got());
            !alerts.is_empty()
        }),
        "the second Alertmanager got the alert"
    );
    assert_eq!(alerts[0]["labels"]["alertname"], "AlwaysOn", "{alerts:?}");
    let heads = second.take_heads();
    assert!(heads[0].starts_with("POST /am/api/v2/alerts HTTP/1.1"), "{heads:?}");
    // base64("ember:pw")
    assert!(heads[0].to_ascii_lowercase().contains("authorization: basic ZW1iZXI6cHc=".to_ascii_lowercase().as_str()));
    assert!(first.take().is_empty() && first.take_heads().is_empty(), "the first Alertmanager got nothing");

    // A bad Alertmanager entry fails the reload and keeps the set in force.
    std::fs::write(
        &cfg,
        "rule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n  - api_version: v1\n    static_configs:\n    - targets: ['127.0.0.1:1']\n",
    )
    .unwrap();
    let (code, body) = form(&s.addr, "POST", "/-/reload", "");
    assert_eq!(code, 500, "{body}");
    assert!(body.contains("alerting.alertmanagers[0]") && body.contains("api_version"), "{body}");
    assert_eq!(alertmanagers(&s.addr), vec![want]);
}

/// Starts ember over `series` generated series covering the last six hours.
fn server_with_data(dir: &std::path::Path, series: usize) -> common::Server {
    let now = jiff::Timestamp::now().as_millisecond();
    let g = GenerateOptions { series, duration_ms: 6 * 3_600_000, start_ms: now - 6 * 3_600_000, ..Default::default() };
    let mut text = Vec::new();
    generate(&g, &mut text).unwrap();
    let input = dir.join("gen.om");
    std::fs::write(&input, &text).unwrap();
    create_blocks_from_openmetrics(&input, &dir.join("data"), &BackfillOptions { threads: 1, ..Default::default() })
        .unwrap();
    std::fs::remove_file(&input).unwrap();
    let cfg = write(dir, "prometheus.yml", "scrape_configs: []\n");
    start(&[&format!("--config.file={cfg}")], dir)
}

#[test]
fn timeout_parameter_bounds_queries() {
    let dir = tempfile::tempdir().unwrap();
    let s = server_with_data(dir.path(), 200);
    let heavy = "query=max_over_time(sum(rate(%7B__name__%3D~%22.%2B%22%7D%5B5m%5D))%5B6h%3A15s%5D)";
    // Without a timeout the query succeeds and provably takes well over a millisecond.
    let t0 = Instant::now();
    let (code, body) = get(&s.addr, &format!("/api/v1/query?{heavy}"));
    let took = t0.elapsed();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""resultType":"vector""#) && body.contains(r#""value":["#), "{body}");
    eprintln!("the heavy query took {took:?} without a timeout");
    assert!(took.as_millis() >= 5, "the heavy query took only {took:?}");

    let timed_out = |code: u16, body: &str| {
        assert_eq!(code, 503, "{body}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["status"], "error", "{body}");
        assert_eq!(v["errorType"], "timeout", "{body}");
        assert!(v["error"].as_str().unwrap().starts_with("query timed out in "), "{body}");
    };
    let (code, body) = get(&s.addr, &format!("/api/v1/query?{heavy}&timeout=1ms"));
    timed_out(code, &body);
    let (code, body) = form(&s.addr, "POST", "/api/v1/query", &format!("{heavy}&timeout=0.001"));
    timed_out(code, &body);
    let now = jiff::Timestamp::now().as_second();
    let range = format!(
        "query=sum(rate(%7B__name__%3D~%22.%2B%22%7D%5B5m%5D))&start={}&end={now}&step=15&timeout=1ms",
        now - 6 * 3600
    );
    let (code, body) = get(&s.addr, &format!("/api/v1/query_range?{range}"));
    timed_out(code, &body);
    let (code, body) = form(&s.addr, "POST", "/api/v1/query_range", &range);
    timed_out(code, &body);
    // A generous timeout changes nothing.
    let (code, body) = get(&s.addr, &format!("/api/v1/query?{heavy}&timeout=2m"));
    assert_eq!(code, 200, "{body}");

    for (path, method) in [("/api/v1/query", "GET"), ("/api/v1/query_range", "POST")] {
        let params = "query=up&start=0&end=1&step=1&timeout=soon";
        let (code, body) = if method == "GET" {
            get(&s.addr, &format!("{path}?{params}"))
        } else {
            form(&s.addr, "POST", path, params)
        };
        assert_eq!(
            (code, body.as_str()),
            (
                400,
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration"}"#
            ),
            "{method} {path}"
        );
    }
}

/// The rule groups `/api/v1/rules` lists: (name, interval in seconds).
fn rule_groups(addr: &str) -> Vec<(String, f64)> {
    let (code, body) = get(addr, "/api/v1/rules");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap().to_owned(), g["interval"].as_f64().unwrap()))
        .collect()
}

/// A reload re-applies the global rule settings (`evaluation_interval`, `external_labels`,
/// `alert_relabel_configs`), and one that fails anywhere changes nothing: not the rules,
/// although they were fine, and not the configuration served.
#[test]
fn reload_reapplies_global_settings_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    // One group inheriting the global interval.
    write(dir.path(), "rules.yml", "groups:\n- name: inherits\n  rules:\n  - alert: AlwaysOn\n    expr: vector(1)\n");
    let config = |extra: &str| {
        format!(
            "global:\n  evaluation_interval: {extra}\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['{}']\n",
            hook.addr()
        )
    };
    let cfg = write(dir.path(), "prometheus.yml", &config("500ms\n  external_labels: {cluster: eu}"));
    let s = start(
        &[&format!("--config.file={cfg}"), "--web.enable-lifecycle", "--rules.alert.resend-delay=500ms"],
        dir.path(),
    );
    assert_eq!(rule_groups(&s.addr), vec![("inherits".to_owned(), 0.5)]);
    let alerts = |want: &dyn Fn(&serde_json::Value) -> bool| {
        eventually(20, || {
            hook.take().into_iter().flat_map(|b| b.as_array().cloned().unwrap_or_default()).any(|a| want(&a))
        })
    };
    assert!(alerts(&|a| a["labels"]["cluster"] == "eu"), "the alert carries the external labels");

    // New interval, external labels and alert relabeling.
    std::fs::write(
        &cfg,
        config("1s\n  external_labels: {cluster: us}")
            + "  alert_relabel_configs:\n  - target_label: team\n    replacement: sre\n",
    )
    .unwrap();
    let (code, body) = form(&s.addr, "POST", "/-/reload", "");
    assert_eq!(code, 200, "{body}");
    assert_eq!(rule_groups(&s.addr), vec![("inherits".to_owned(), 1.0)]);
    hook.take();
    assert!(
        alerts(&|a| a["labels"]["cluster"] == "us" && a["labels"]["team"] == "sre"),
        "the alert carries the new external labels and relabeling"
    );

    // Valid new rules, but a scrape job whose CA file does not exist: nothing changes.
    write(dir.path(), "rules.yml", "groups:\n- name: replaced\n  rules:\n  - record: r\n    expr: vector(1)\n");
    let missing = dir.path().join("missing-ca.pem");
    std::fs::write(
        &cfg,
        config("2s\n  external_labels: {cluster: ap}")
            + &format!(
                "scrape_configs:\n- job_name: tls\n  scheme: https\n  tls_config:\n    ca_file: {}\n  static_configs:\n  - targets: ['127.0.0.1:1']\n",
                missing.display()
            ),
    )
    .unwrap();
    let (code, body) = form(&s.addr, "POST", "/-/reload", "");
    assert_eq!(code, 500, "{body}");
    assert_eq!(rule_groups(&s.addr), vec![("inherits".to_owned(), 1.0)], "the rules were not swapped");
    let served = get(&s.addr, "/api/v1/status/config").1;
    assert!(served.contains("cluster: us") && !served.contains("ap"), "{served}");
    let (_, m) = get(&s.addr, "/metrics");
    assert!(m.contains("\nprometheus_config_last_reload_successful 0"), "the failure is reported");
}
