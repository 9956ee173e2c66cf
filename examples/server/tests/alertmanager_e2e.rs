//! End-to-end: the embedded dispatcher (`alerting.alertmanager_config_file`) delivers a
//! firing rule's alert to a webhook on 127.0.0.1; silences posted through Alertmanager's
//! API v2 mute it, survive a restart, and expire on DELETE. With `EMBER_AMTOOL=1` the real
//! `amtool` drives the same API.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Server, Webhook, eventually, get, http, start, write};

const RULES: &str = "groups:\n- name: g\n  interval: 500ms\n  rules:\n  - alert: AlwaysOn\n    expr: vector(1)\n    labels: {severity: page}\n    annotations: {summary: always on}\n";

fn am_config(hook: &str, receiver: &str) -> String {
    format!(
        "route:\n  receiver: {receiver}\n  group_by: [alertname]\n  group_wait: 500ms\n  group_interval: 1s\n  repeat_interval: 2s\nreceivers:\n- name: {receiver}\n  webhook_configs:\n  - url: '{hook}'\n"
    )
}

/// Writes prometheus.yml, rules.yml and alertmanager.yml into `dir` and starts ember.
fn setup(dir: &Path, hook: &Webhook) -> String {
    write(dir, "rules.yml", RULES);
    write(dir, "alertmanager.yml", &am_config(&hook.url, "hook"));
    write(
        dir,
        "prometheus.yml",
        "global:\n  evaluation_interval: 500ms\nrule_files: ['rules.yml']\nalerting:\n  alertmanager_config_file: alertmanager.yml\nscrape_configs: []\n",
    )
}

fn boot(dir: &Path, cfg: &str) -> Server {
    start(&[&format!("--config.file={cfg}"), "--web.enable-lifecycle"], dir)
}

fn json_post(addr: &str, path: &str, body: &str) -> (u16, String) {
    http(addr, "POST", path, "application/json", body)
}

fn silence_body(matcher_value: &str) -> String {
    let now = jiff::Timestamp::now();
    let end = now + jiff::SignedDuration::from_secs(3600);
    format!(
        r#"{{"matchers":[{{"name":"alertname","value":"{matcher_value}","isRegex":false,"isEqual":true}}],"startsAt":"{now}","endsAt":"{end}","createdBy":"e2e","comment":"maintenance"}}"#
    )
}

fn firing_hooks(hook: &Webhook) -> usize {
    hook.take()
        .iter()
        .filter(|b| b["status"] == "firing" && b["alerts"][0]["labels"]["alertname"] == "AlwaysOn")
        .count()
}

#[test]
fn rule_alert_is_delivered_silenced_and_silence_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let cfg = setup(dir.path(), &hook);
    let s = boot(dir.path(), &cfg);

    // The rule fires and the embedded dispatcher delivers it to the webhook.
    let mut first = Vec::new();
    assert!(
        eventually(20, || {
            first.extend(hook.take());
            !first.is_empty()
        }),
        "webhook received a notification"
    );
    let n = &first[0];
    assert_eq!(n["version"], "4");
    assert_eq!(n["status"], "firing");
    assert_eq!(n["receiver"], "hook");
    assert_eq!(n["groupLabels"], serde_json::json!({"alertname": "AlwaysOn"}));
    assert_eq!(n["alerts"][0]["labels"]["severity"], "page");
    assert_eq!(n["alerts"][0]["annotations"]["summary"], "always on");
    assert!(n["alerts"][0]["generatorURL"].as_str().unwrap().contains("/graph?g0.expr="), "{n}");

    let (code, body) = get(&s.addr, "/api/v2/alerts");
    assert_eq!(code, 200, "{body}");
    let alerts: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{body}");
    assert_eq!(alerts[0]["labels"]["alertname"], "AlwaysOn");
    assert_eq!(alerts[0]["status"], serde_json::json!({"inhibitedBy": [], "silencedBy": [], "state": "active"}));
    assert_eq!(alerts[0]["receivers"], serde_json::json!([{"name": "hook"}]));
    assert!(
        alerts[0]["startsAt"].as_str().unwrap().ends_with(".000Z")
            || alerts[0]["startsAt"].as_str().unwrap().ends_with('Z')
    );
    let (code, body) = get(&s.addr, "/api/v2/alerts/groups");
    assert_eq!(code, 200);
    let groups: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(groups[0]["labels"], serde_json::json!({"alertname": "AlwaysOn"}), "{body}");
    assert_eq!(groups[0]["receiver"]["name"], "hook");
    assert_eq!(get(&s.addr, "/api/v2/receivers"), (200, r#"[{"name":"hook"}]"#.into()));
    let (code, body) = get(&s.addr, "/api/v2/status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["cluster"]["status"], "disabled");
    assert!(status["config"]["original"].as_str().unwrap().contains("repeat_interval: 2s"), "{body}");

    // A silence mutes it.
    let (code, body) = json_post(&s.addr, "/api/v2/silences", &silence_body("AlwaysOn"));
    assert_eq!(code, 200, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["silenceID"].as_str().unwrap().to_owned();
    let (_, body) = get(&s.addr, "/api/v2/alerts");
    let alerts: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(alerts[0]["status"], serde_json::json!({"inhibitedBy": [], "silencedBy": [id], "state": "suppressed"}));
    assert_eq!(get(&s.addr, "/api/v2/alerts?silenced=false"), (200, "[]".into()));
    assert_eq!(get(&s.addr, "/api/v2/alerts?filter=alertname%3D%22Other%22"), (200, "[]".into()));
    let (_, body) = get(&s.addr, "/api/v2/alerts?receiver=ho.*&active=false");
    assert!(body.contains("AlwaysOn"), "suppressed alerts listed without active: {body}");
    // Once the silence is in force no more notifications go out (repeat_interval is 2s).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    hook.take();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(firing_hooks(&hook), 0, "silenced alert not notified");
    let (code, body) = get(&s.addr, &format!("/api/v2/silence/{id}"));
    assert_eq!(code, 200);
    let sil: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sil["status"]["state"], "active");
    assert_eq!(
        sil["matchers"],
        serde_json::json!([{"isEqual": true, "isRegex": false, "name": "alertname", "value": "AlwaysOn"}])
    );
    assert_eq!((sil["createdBy"].as_str(), sil["comment"].as_str()), (Some("e2e"), Some("maintenance")));
    // Posting it back with its ID and a new comment updates it in place (what `amtool
    // silence update` does): times round-trip exactly.
    let mut update = sil.clone();
    update["comment"] = "extended".into();
    let (code, body) = json_post(&s.addr, "/api/v2/silences", &update.to_string());
    assert_eq!((code, body), (200, format!(r#"{{"silenceID":"{id}"}}"#)));
    assert!(get(&s.addr, &format!("/api/v2/silence/{id}")).1.contains(r#""comment":"extended""#));

    // Self-instrumentation.
    let (_, metrics) = get(&s.addr, "/metrics");
    for want in [
        r#"alertmanager_alerts{state="suppressed"} 1"#,
        r#"alertmanager_alerts{state="active"} 0"#,
        r#"alertmanager_silences{state="active"} 1"#,
        r#"alertmanager_notifications_failed_total{integration="webhook"} 0"#,
    ] {
        assert!(metrics.contains(want), "{want} in\n{metrics}");
    }
    assert!(!metrics.contains(r#"alertmanager_notifications_total{integration="webhook"} 0"#), "{metrics}");

    // Bad input: 400/422 with a message, and the server keeps serving.
    let (code, body) = json_post(&s.addr, "/api/v2/silences", "{not json");
    assert_eq!(code, 400, "{body}");
    assert!(body.starts_with(r#"{"code":400,"message":"parsing silence body"#), "{body}");
    let (code, body) = json_post(
        &s.addr,
        "/api/v2/silences",
        r#"{"matchers":[],"startsAt":"2030-01-01T00:00:00Z","endsAt":"2030-01-02T00:00:00Z","createdBy":"a","comment":"b"}"#,
    );
    assert_eq!(code, 422, "{body}");
    let (code, body) = json_post(
        &s.addr,
        "/api/v2/silences",
        r#"{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2020-01-02T00:00:00Z","createdBy":"a","comment":"b"}"#,
    );
    assert_eq!((code, body.as_str()), (400, r#""Failed to create silence: end time can't be in the past""#));
    let (code, body) = get(&s.addr, "/api/v2/alerts?filter=%3D%3D%3D");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("bad matcher format"), "{body}");
    assert_eq!(get(&s.addr, "/api/v2/alerts?active=maybe").0, 400);
    assert_eq!(get(&s.addr, "/api/v2/silence/not-a-uuid").0, 422);
    assert_eq!(get(&s.addr, "/api/v2/silence/00000000-0000-4000-8000-000000000000").0, 404);
    assert_eq!(http(&s.addr, "DELETE", "/api/v2/silence/00000000-0000-4000-8000-000000000000", "", "").0, 404);
    let (code, body) = json_post(&s.addr, "/api/v2/alerts", r#"[{"labels":{}},{"labels":{"alertname":"Posted"}}]"#);
    assert_eq!((code, body.as_str()), (400, r#""at least one label pair required""#));
    assert!(get(&s.addr, "/api/v2/alerts").1.contains(r#""alertname":"Posted""#), "valid alerts of a batch kept");

    // Reload: a bad alertmanager.yml keeps the old one and says where it is wrong.
    write(dir.path(), "alertmanager.yml", "route:\n  receiver: hook\nreceivers:\n- name: hook\n  bogus: 1\n");
    let (code, body) = http(&s.addr, "POST", "/-/reload", "", "");
    assert_eq!(code, 500, "{body}");
    assert!(body.contains("alertmanager.yml") && body.contains("line 5"), "{body}");
    assert_eq!(get(&s.addr, "/api/v2/receivers").1, r#"[{"name":"hook"}]"#, "old config kept");
    write(dir.path(), "alertmanager.yml", &am_config(&hook.url, "renamed"));
    assert_eq!(http(&s.addr, "POST", "/-/reload", "", "").0, 200);
    assert_eq!(get(&s.addr, "/api/v2/receivers").1, r#"[{"name":"renamed"}]"#);
    assert!(
        get(&s.addr, "/api/v2/alerts").1.contains(r#""receivers":[{"name":"renamed"}]"#),
        "alerts kept and re-routed"
    );
    assert!(get(&s.addr, "/api/v2/silences").1.contains(&id), "silences kept across reload");

    // Restart: the silence survives.
    s.terminate();
    let s = boot(dir.path(), &cfg);
    let (code, body) = get(&s.addr, "/api/v2/silences");
    assert_eq!(code, 200);
    let sils: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sils[0]["id"], id.as_str(), "{body}");
    assert_eq!(sils[0]["status"]["state"], "active");
    assert!(
        eventually(20, || get(&s.addr, "/api/v2/alerts").1.contains(r#""state":"suppressed""#)),
        "the rule's alert is muted again after restart"
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(firing_hooks(&hook), 0, "silence in force after restart");

    // DELETE expires it: the alert is active again and delivered.
    assert_eq!(http(&s.addr, "DELETE", &format!("/api/v2/silence/{id}"), "", ""), (200, String::new()));
    let (_, body) = get(&s.addr, &format!("/api/v2/silence/{id}"));
    assert!(body.contains(r#""state":"expired""#), "{body}");
    let (code, body) = http(&s.addr, "DELETE", &format!("/api/v2/silence/{id}"), "", "");
    assert_eq!(code, 500, "expiring twice: {body}");
    assert!(get(&s.addr, "/api/v2/alerts").1.contains(r#""state":"active""#));
    assert!(eventually(10, || firing_hooks(&hook) > 0), "notified again once the silence is gone");
}

#[test]
fn shutdown_does_not_wait_out_an_unreachable_receiver() {
    let dir = tempfile::tempdir().unwrap();
    // A closed port: bind, note it, drop.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    write(dir.path(), "rules.yml", RULES);
    write(dir.path(), "alertmanager.yml", &am_config(&format!("http://{closed}/"), "down"));
    let cfg = write(
        dir.path(),
        "prometheus.yml",
        "global:\n  evaluation_interval: 500ms\nrule_files: ['rules.yml']\nalerting:\n  alertmanager_config_file: alertmanager.yml\n",
    );
    let s = boot(dir.path(), &cfg);
    // The attempt is counted while its retries are still running.
    let attempted = r#"alertmanager_notifications_total{integration="webhook"} 1"#;
    assert!(eventually(20, || get(&s.addr, "/metrics").1.contains(attempted)), "{}", get(&s.addr, "/metrics").1);
    let started = std::time::Instant::now();
    s.terminate();
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "shutdown took {:?}", started.elapsed());
}

#[test]
fn api_v2_is_404_without_the_embedded_dispatcher() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&[], dir.path());
    for path in ["/api/v2/status", "/api/v2/alerts", "/api/v2/silences", "/api/v2/receivers"] {
        assert_eq!(get(&s.addr, path).0, 404, "{path}");
    }
    assert!(!get(&s.addr, "/metrics").1.contains("alertmanager_"));
}

#[test]
fn check_config_validates_the_alertmanager_file() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let cfg = setup(dir.path(), &hook);
    let run = || {
        let o = Command::new(env!("CARGO_BIN_EXE_ember")).args(["check", "config", &cfg]).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (code, out) = run();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("alertmanager.yml is valid alertmanager config file syntax (1 receivers, 0 inhibit rules)"),
        "{out}"
    );
    write(dir.path(), "alertmanager.yml", "route:\n  receiver: nobody\nreceivers:\n- name: hook\n");
    let (code, out) = run();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("alertmanager.yml: ") && out.contains("undefined receiver \"nobody\""), "{out}");
}

/// Runs amtool against the server; returns (success, stdout). Its stderr (a warning that
/// the server's version is not Alertmanager's) is shown when the call fails.
fn amtool(addr: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new("amtool")
        .arg(format!("--alertmanager.url=http://{addr}"))
        .args(args)
        .output()
        .expect("run amtool");
    if !o.status.success() {
        eprintln!("amtool {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn amtool_queries_silences_and_expires() {
    if std::env::var("EMBER_AMTOOL").as_deref() != Ok("1") {
        eprintln!("skipping: set EMBER_AMTOOL=1 to run amtool against ember");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let cfg = setup(dir.path(), &hook);
    let s = boot(dir.path(), &cfg);
    assert!(eventually(20, || get(&s.addr, "/api/v2/alerts").1.contains("AlwaysOn")), "alert received");

    let (ok, out) = amtool(&s.addr, &["alert", "query"]);
    assert!(ok && out.contains("AlwaysOn") && out.contains("always on"), "{out}");
    let (ok, out) = amtool(&s.addr, &["alert", "query", "alertname=Nope"]);
    assert!(ok && !out.contains("AlwaysOn"), "{out}");

    let (ok, out) = amtool(
        &s.addr,
        &["silence", "add", "alertname=AlwaysOn", "--comment=from amtool", "--author=tester", "--duration=1h"],
    );
    assert!(ok, "{out}");
    let id = out.trim().to_owned();
    assert_eq!(id.len(), 36, "amtool prints the new ID: {out}");

    let (ok, out) = amtool(&s.addr, &["silence", "query"]);
    assert!(ok && out.contains(&id) && out.contains("tester") && out.contains("from amtool"), "{out}");
    assert!(out.contains(r#"alertname="AlwaysOn""#), "{out}");
    let (ok, out) = amtool(&s.addr, &["silence", "query", "-q"]);
    assert!(ok && out.trim() == id, "{out}");
    // Silenced alerts are hidden by default and shown with --silenced.
    let (ok, out) = amtool(&s.addr, &["alert", "query"]);
    assert!(ok && !out.contains("AlwaysOn"), "{out}");
    let (ok, out) = amtool(&s.addr, &["alert", "query", "--silenced"]);
    assert!(ok && out.contains("AlwaysOn"), "{out}");

    let (ok, out) = amtool(&s.addr, &["silence", "expire", &id]);
    assert!(ok, "{out}");
    let (ok, out) = amtool(&s.addr, &["silence", "query", "-q"]);
    assert!(ok && out.trim().is_empty(), "{out}");
    let (ok, out) = amtool(&s.addr, &["silence", "query", "--expired", "-q"]);
    assert!(ok && out.trim() == id, "{out}");
    let (ok, out) = amtool(&s.addr, &["alert", "query"]);
    assert!(ok && out.contains("AlwaysOn"), "{out}");
}
