//! End-to-end checks of the endpoints added for issue #10: metric metadata from scraped
//! targets, target metadata, exemplars, clean tombstones and `numLabelPairs`.

mod common;

use common::{Server, eventually, form, get, start, write};

/// A server scraping itself every second (pointed at its own port by a reload), with the
/// admin API on.
fn self_scraping(dir: &std::path::Path) -> Server {
    let cfg = write(dir, "prometheus.yml", "global:\n  scrape_interval: 1s\nscrape_configs: []\n");
    let s = start(&[&format!("--config.file={cfg}"), "--web.enable-lifecycle", "--web.enable-admin-api"], dir);
    let text = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: self\n  static_configs:\n  - targets: ['{}']\n",
        s.addr
    );
    std::fs::write(&cfg, text).unwrap();
    assert_eq!(form(&s.addr, "POST", "/-/reload", "").0, 200);
    s
}

#[test]
fn metadata_of_scraped_targets() {
    let dir = tempfile::tempdir().unwrap();
    let s = self_scraping(dir.path());
    let path = "/api/v1/metadata?metric=process_resident_memory_bytes";
    assert!(
        eventually(30, || get(&s.addr, path).1.contains(r#""process_resident_memory_bytes":[{"type":"gauge""#)),
        "metadata of the scraped target: {}",
        get(&s.addr, path).1
    );
    let (code, body) = get(&s.addr, path);
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let entries = v["data"]["process_resident_memory_bytes"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{body}");
    assert_eq!(entries[0]["help"], "Resident memory size in bytes.");
    assert!(entries[0]["unit"].is_string(), "{body}");
    assert_eq!(v["data"].as_object().unwrap().len(), 1);

    let (_, body) = get(&s.addr, "/api/v1/metadata?limit=2&limit_per_metric=1");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"].as_object().unwrap().len(), 2, "{body}");
    assert_eq!(
        get(&s.addr, "/api/v1/metadata?limit=x"),
        (400, r#"{"status":"error","errorType":"bad_data","error":"limit must be a number"}"#.into())
    );

    let (code, body) = get(
        &s.addr,
        "/api/v1/targets/metadata?match_target=%7Bjob%3D%22self%22%7D&metric=process_resident_memory_bytes",
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let list = v["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    assert_eq!(list[0]["target"], serde_json::json!({"instance": s.addr, "job": "self"}));
    assert_eq!(list[0]["type"], "gauge");
    assert!(list[0].get("metric").is_none(), "no metric field when one is asked for: {body}");
    let (_, body) = get(&s.addr, "/api/v1/targets/metadata?match_target=%7Bjob%3D%22self%22%7D");
    assert!(body.contains(r#""metric":"process_resident_memory_bytes","type":"gauge""#), "{body}");
    assert_eq!(
        get(&s.addr, "/api/v1/targets/metadata?match_target=%7Bjob%3D%22nope%22%7D"),
        (200, r#"{"status":"success","data":[]}"#.into())
    );
    let (code, body) = get(&s.addr, "/api/v1/targets/metadata?match_target=%7Bjob%3D");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains(r#""error":"invalid parameter \"match_target\": "#), "{body}");

    // numLabelPairs counts every label pair of the head, not the top-N list.
    let stable = eventually(30, || {
        let all: serde_json::Value = serde_json::from_str(&get(&s.addr, "/api/v1/status/tsdb?limit=10000").1).unwrap();
        let one: serde_json::Value = serde_json::from_str(&get(&s.addr, "/api/v1/status/tsdb?limit=1").1).unwrap();
        let pairs = all["data"]["seriesCountByLabelValuePair"].as_array().unwrap().len() as u64;
        let n = all["data"]["headStats"]["numLabelPairs"].as_u64().unwrap();
        n == pairs && one["data"]["headStats"]["numLabelPairs"].as_u64() == Some(n) && n > 1
    });
    assert!(stable, "{}", get(&s.addr, "/api/v1/status/tsdb?limit=1").1);
}

#[test]
fn exemplars_and_clean_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let s = self_scraping(dir.path());
    assert_eq!(get(&s.addr, "/api/v1/query_exemplars?query=up"), (200, r#"{"status":"success","data":[]}"#.into()));
    assert_eq!(form(&s.addr, "POST", "/api/v1/query_exemplars", "query=1%2B1").0, 204);
    let (code, body) = form(&s.addr, "POST", "/api/v1/query_exemplars", "query=sum(");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains(r#""errorType":"bad_data""#), "{body}");
    let (code, body) = get(&s.addr, "/api/v1/query_exemplars?query=up&start=2&end=1");
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            r#"{"status":"error","errorType":"bad_data","error":"end timestamp must not be before start timestamp"}"#
        )
    );

    assert!(eventually(30, || get(&s.addr, "/api/v1/query?query=up").1.contains(r#","1"]"#)), "self scraped");
    assert_eq!(form(&s.addr, "POST", "/api/v1/admin/tsdb/delete_series", "match[]=up&end=4102444800").0, 204);
    assert_eq!(form(&s.addr, "POST", "/api/v1/admin/tsdb/clean_tombstones", ""), (204, String::new()));
    assert_eq!(form(&s.addr, "PUT", "/api/v1/admin/tsdb/clean_tombstones", ""), (204, String::new()));
    assert_eq!(get(&s.addr, "/api/v1/admin/tsdb/clean_tombstones").0, 405);

    let plain = tempfile::tempdir().unwrap();
    let p = start(&[], plain.path());
    let (code, body) = form(&p.addr, "POST", "/api/v1/admin/tsdb/clean_tombstones", "");
    assert_eq!(
        (code, body.as_str()),
        (503, r#"{"status":"error","errorType":"unavailable","error":"admin APIs disabled"}"#)
    );
}
