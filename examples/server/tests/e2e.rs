//! End-to-end: start the `ember` binary on 127.0.0.1 with an ephemeral port and talk to it
//! over HTTP.

mod common;

use common::{eventually, form as http, get, start, write};

#[test]
fn status_endpoints_and_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&[], dir.path());
    assert_eq!(get(&s.addr, "/-/healthy"), (200, "Prometheus Server is Healthy.\n".into()));
    assert_eq!(get(&s.addr, "/-/ready").0, 200);
    let (code, body) = get(&s.addr, "/api/v1/status/buildinfo");
    assert_eq!(code, 200);
    assert!(body.starts_with(r#"{"status":"success","data":{"version":"#), "{body}");
    let (code, body) = get(&s.addr, "/api/v1/status/config");
    assert_eq!(code, 200);
    assert!(body.contains("job_name: ember"), "embedded defaults scrape the server itself: {body}");
    // Bad requests get Prometheus's error shape and the server keeps serving.
    let (code, body) = get(&s.addr, "/api/v1/series");
    assert_eq!(
        (code, body.as_str()),
        (400, r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#)
    );
    let (code, body) = get(&s.addr, "/api/v1/labels?start=yesterday");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains(r#"cannot parse \"yesterday\" to a valid timestamp"#), "{body}");
    let (code, body) = get(&s.addr, "/api/v1/series?match[]=rate(");
    assert_eq!(code, 400, "{body}");
    let (code, body) = http(&s.addr, "POST", "/api/v1/format_query", "query=sum(x)by(job)");
    assert_eq!((code, body.as_str()), (200, r#"{"status":"success","data":"sum by (job) (x)"}"#));
    assert_eq!(get(&s.addr, "/no/such/page").0, 404);
    // Lifecycle endpoints are off by default.
    assert_eq!(http(&s.addr, "POST", "/-/reload", "").0, 403);
    let (code, body) = get(&s.addr, "/metrics");
    assert_eq!(code, 200);
    assert!(body.contains("process_cpu_seconds_total"), "{body}");
    assert_eq!(get(&s.addr, "/-/healthy").0, 200, "still serving after bad requests");
}

#[test]
fn reload_keeps_old_config_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "prometheus.yml",
        "global:\n  scrape_interval: 1m\nscrape_configs:\n- job_name: a\n  static_configs:\n  - targets: ['127.0.0.1:1']\n",
    );
    let s = start(&[&format!("--config.file={cfg}"), "--web.enable-lifecycle"], dir.path());
    let (_, before) = get(&s.addr, "/api/v1/status/config");
    assert!(before.contains("job_name: a"));
    std::fs::write(&cfg, "scrape_configs:\n- job_name: b\n  static_configs:\n  - targets: ['127.0.0.1:1']\n").unwrap();
    assert_eq!(http(&s.addr, "POST", "/-/reload", "").0, 200);
    assert!(get(&s.addr, "/api/v1/status/config").1.contains("job_name: b"));
    std::fs::write(&cfg, "scrape_configs:\n- job_nam: c\n").unwrap();
    let (code, body) = http(&s.addr, "POST", "/-/reload", "");
    assert_eq!(code, 500, "{body}");
    assert!(body.contains("job_nam"), "the error names the field: {body}");
    assert!(get(&s.addr, "/api/v1/status/config").1.contains("job_name: b"), "old config kept");
    assert!(get(&s.addr, "/api/v1/status/runtimeinfo").1.contains(r#""reloadConfigSuccess":false"#));
}

#[test]
fn scrapes_itself_and_keeps_data_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let want = |addr: &str| format!(r#"{{"__name__":"up","instance":"{addr}","job":"ember"}}"#);
    let first_addr;
    {
        let s = start(&[], dir.path());
        first_addr = s.addr.clone();
        assert!(
            eventually(20, || get(&s.addr, "/api/v1/series?match[]=up").1.contains(&want(&s.addr))),
            "own target scraped within 20 s"
        );
        // The acceptance check: `up` answers 1 for the server's own target.
        let q = get(&s.addr, "/api/v1/query?query=up").1;
        assert!(q.contains(&format!(r#""metric":{}"#, want(&s.addr))) && q.contains(r#","1"]"#), "{q}");
        let (code, body) = get(&s.addr, "/api/v1/query_range?query=up&start=0&end=1&step=0");
        assert_eq!(code, 400, "{body}");
        let (code, body) = get(&s.addr, "/api/v1/query?query=sum(");
        assert_eq!(code, 400, "{body}");
        assert!(body.contains(r#""errorType":"bad_data""#), "{body}");
        // Admin API is off by default.
        let (code, body) = http(&s.addr, "POST", "/api/v1/admin/tsdb/snapshot", "");
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("admin APIs disabled"), "{body}");
        let (code, body) = get(&s.addr, "/api/v1/targets?state=active");
        assert_eq!(code, 200);
        assert!(body.contains(r#""health":"up""#), "{body}");
        // Graceful shutdown flushes.
        s.terminate();
    }
    let s = start(&[], dir.path());
    let (_, body) = get(&s.addr, "/api/v1/series?match[]=up");
    assert!(body.contains(&want(&first_addr)), "data kept across restart: {body}");
}

#[test]
fn admin_api_deletes_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&["--web.enable-admin-api"], dir.path());
    assert!(eventually(20, || get(&s.addr, "/api/v1/query?query=up").1.contains(r#","1"]"#)), "own target scraped");
    let (code, body) = http(&s.addr, "POST", "/api/v1/admin/tsdb/delete_series", "match[]=up");
    assert_eq!(code, 204, "{body}");
    let (_, body) = get(&s.addr, "/api/v1/query?query=up");
    assert!(!body.contains(r#""__name__":"up""#) || body.contains(r#"[]"#), "deleted: {body}");
    let (code, body) = http(&s.addr, "POST", "/api/v1/admin/tsdb/delete_series", "");
    assert_eq!(code, 400, "{body}");
    let (code, body) = http(&s.addr, "POST", "/api/v1/admin/tsdb/snapshot", "");
    assert_eq!(code, 200, "{body}");
    let name = body.split(r#""name":""#).nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    assert!(dir.path().join("data/snapshots").join(&name).is_dir(), "{body}");
}

#[test]
fn rules_record_and_alert() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rules.yml",
        "groups:\n- name: g\n  interval: 1s\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  - alert: SelfUp\n    expr: up == 1\n    labels: {severity: info}\n    annotations: {summary: '{{ $labels.instance }} is up'}\n",
    );
    // The server's port is known only after start: start without targets, then point a
    // job at the server and reload.
    let cfg = write(
        dir.path(),
        "prometheus.yml",
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\nscrape_configs: []\n",
    );
    let s = start(&[&format!("--config.file={cfg}"), "--web.enable-lifecycle"], dir.path());
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\nscrape_configs:\n- job_name: self\n  static_configs:\n  - targets: ['{}']\n",
            s.addr
        ),
    )
    .unwrap();
    assert_eq!(http(&s.addr, "POST", "/-/reload", "").0, 200);
    assert!(
        eventually(30, || get(&s.addr, "/api/v1/query?query=job:up:sum").1.contains(r#""job":"self""#)),
        "recording rule result stored"
    );
    assert!(eventually(30, || get(&s.addr, "/api/v1/alerts").1.contains(r#""alertname":"SelfUp""#)), "alert active");
    let (_, body) = get(&s.addr, "/api/v1/alerts");
    assert!(body.contains(r#""state":"firing""#), "{body}");
    assert!(body.contains(&format!(r#""summary":"{} is up""#, s.addr)), "{body}");
    let (code, body) = get(&s.addr, "/api/v1/rules?type=record");
    assert_eq!(code, 200);
    assert!(body.contains(r#""name":"job:up:sum""#) && !body.contains("SelfUp"), "{body}");
    assert!(body.contains(r#""health":"ok""#), "{body}");
    assert_eq!(get(&s.addr, "/api/v1/rules?type=nope").0, 400);
    let ok = eventually(10, || get(&s.addr, "/api/v1/query?query=ALERTS").1.contains(r#""alertstate":"firing""#));
    assert!(ok, "{}", get(&s.addr, "/api/v1/query?query=ALERTS").1);
}
