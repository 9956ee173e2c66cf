//! End-to-end: the dispatcher delivers over real HTTP to receivers this test starts on
//! 127.0.0.1 (ephemeral ports).

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use common::serve;
use ember_alerting::dispatch::{
    AlertSink, AlertmanagerNotifier, Config, Dispatcher, DispatcherService, HttpTransport, ManualClock,
    NotifyErrorKind, PostableAlert, RetryPolicy, SystemClock, payload::group_key_hash,
};
use ember_exposition::{Labels, Timestamp, labels};

const T0: Timestamp = 1_704_067_200_000;

fn alert(l: Labels, annotations: Labels, start: Timestamp, end: Option<Timestamp>) -> PostableAlert {
    PostableAlert {
        labels: l,
        annotations,
        starts_at: Some(start),
        ends_at: end,
        generator_url: "http://prom/graph".into(),
    }
}

fn service(yaml: &str, clock: ManualClock) -> DispatcherService<ManualClock> {
    let cfg = Arc::new(Config::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}")));
    let d = Dispatcher::builder(cfg).external_url("http://am.example:9093").build(clock).unwrap();
    DispatcherService::new(d, Arc::new(HttpTransport)).with_retry_policy(RetryPolicy {
        initial_backoff: StdDuration::from_millis(10),
        max_backoff: StdDuration::from_millis(50),
        attempt_timeout: StdDuration::from_secs(5),
    })
}

#[tokio::test]
async fn webhook_payload_and_resolution() {
    let (url, rec) = serve(vec![]).await;
    let yaml = format!(
        r#"
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 1m
receivers:
  - name: team
    webhook_configs:
      - url: {url}/hook
        max_alerts: 2
"#
    );
    let clock = ManualClock::new(T0);
    let svc = service(&yaml, clock.clone());
    let ann = labels! {"summary" => "disk full"};
    svc.send(vec![
        alert(labels! {"alertname" => "Disk", "instance" => "a", "job" => "node"}, labels! {}, T0, Some(T0 + 45_000)),
        alert(
            labels! {"alertname" => "Disk", "instance" => "b", "job" => "node"},
            ann.clone(),
            T0,
            Some(T0 + 3_600_000),
        ),
        alert(
            labels! {"alertname" => "Disk", "instance" => "c", "job" => "node"},
            ann.clone(),
            T0,
            Some(T0 + 3_600_000),
        ),
    ])
    .await;
    clock.set(T0 + 30_000);
    let results = svc.step().await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].1.as_ref().unwrap(), &1, "delivered on the first attempt");
    let got = rec.take();
    assert_eq!(got.len(), 1);
    let (path, body) = &got[0];
    assert_eq!(path, "/hook");
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "team");
    assert_eq!(body["groupKey"], r#"{}:{alertname="Disk"}"#);
    assert_eq!(body["groupLabels"], serde_json::json!({"alertname": "Disk"}));
    assert_eq!(body["commonLabels"], serde_json::json!({"alertname": "Disk", "job": "node"}));
    assert_eq!(body["commonAnnotations"], serde_json::json!({}));
    assert_eq!(body["externalURL"], "http://am.example:9093");
    assert_eq!(body["truncatedAlerts"], 1);
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["labels"]["instance"], "a");
    assert_eq!(alerts[0]["status"], "firing");
    assert_eq!(alerts[0]["startsAt"], "2024-01-01T00:00:00Z");
    assert_eq!(alerts[0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alerts[0]["generatorURL"], "http://prom/graph");
    assert_eq!(alerts[1]["annotations"]["summary"], "disk full");
    assert_eq!(alerts[1]["labels"]["instance"], "b");
    let fp = format!("{:016x}", labels! {"alertname" => "Disk", "instance" => "a", "job" => "node"}.stable_hash());
    assert_eq!(alerts[0]["fingerprint"], fp);

    // Instance a resolved at +45s: the next tick reports it.
    clock.set(T0 + 90_000);
    svc.step().await;
    let got = rec.take();
    assert_eq!(got.len(), 1);
    let alerts = got[0].1["alerts"].as_array().unwrap();
    assert_eq!(alerts[0]["labels"]["instance"], "a");
    assert_eq!(alerts[0]["status"], "resolved");
    assert_eq!(alerts[0]["endsAt"], "2024-01-01T00:00:45Z");
    assert_eq!(got[0].1["status"], "firing");
    // Nothing changed: nothing sent.
    clock.set(T0 + 150_000);
    assert!(svc.step().await.is_empty());
    assert!(rec.take().is_empty());
}

#[tokio::test]
async fn retries_with_backoff_then_gives_up_on_4xx() {
    let (url, rec) = serve(vec![503, 500, 200, 400]).await;
    let yaml = format!(
        "route: {{receiver: r, group_wait: 0s, group_interval: 1m}}\nreceivers: [{{name: r, webhook_configs: [{{url: '{url}/x'}}]}}]\n"
    );
    let clock = ManualClock::new(T0);
    let svc = service(&yaml, clock.clone());
    svc.put(vec![alert(labels! {"alertname" => "A"}, labels! {}, T0, None)]).await;
    let results = svc.step().await;
    assert_eq!(results[0].1.as_ref().unwrap(), &3, "two 5xx answers retried");
    assert_eq!(rec.take().len(), 3);
    svc.put(vec![alert(labels! {"alertname" => "B"}, labels! {}, T0, None)]).await;
    clock.set(T0 + 60_000);
    let results = svc.step().await;
    let err = results[0].1.as_ref().unwrap_err();
    assert_eq!(err.kind, NotifyErrorKind::Status(400));
    assert!(!err.retryable);
    assert_eq!(rec.take().len(), 1, "4xx is not retried");
    assert_eq!(svc.failures(), 1);
    let counts = svc.notification_counts();
    assert_eq!(
        counts[0],
        ember_alerting::dispatch::NotificationCounts { integration: "webhook", total: 2, failed: 1 },
        "{counts:?}"
    );
    assert_eq!((counts[1].total, counts[2].total), (0, 0));
    // Next interval: the log has no record of B, so it is sent again.
    clock.set(T0 + 120_000);
    assert!(svc.step().await[0].1.is_ok());
}

#[tokio::test]
async fn unreachable_endpoint_times_out_within_group_interval() {
    // Bind then drop a listener to get a closed port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let yaml = format!(
        "route: {{receiver: r, group_wait: 0s, group_interval: 300ms}}\nreceivers: [{{name: r, webhook_configs: [{{url: 'http://127.0.0.1:{port}/'}}]}}]\n"
    );
    let svc = service(&yaml, ManualClock::new(T0));
    svc.put(vec![alert(labels! {"alertname" => "A"}, labels! {}, T0, None)]).await;
    let start = std::time::Instant::now();
    let results = svc.step().await;
    assert!(matches!(results[0].1.as_ref().unwrap_err().kind, NotifyErrorKind::Transport(_)));
    assert!(start.elapsed() < StdDuration::from_secs(2));
}

#[tokio::test]
async fn slack_and_pagerduty() {
    let (url, rec) = serve(vec![]).await;
    let yaml = format!(
        r#"
global: {{slack_api_url: "{url}/slack"}}
route: {{receiver: r, group_by: [alertname], group_wait: 0s, group_interval: 1m}}
receivers:
  - name: r
    slack_configs: [{{channel: '#ops', send_resolved: true}}]
    pagerduty_configs: [{{routing_key: key123, url: "{url}/pd", severity: '{{{{ .CommonLabels.severity }}}}'}}]
"#
    );
    let clock = ManualClock::new(T0);
    let svc = service(&yaml, clock.clone());
    svc.put(vec![alert(
        labels! {"alertname" => "Down", "severity" => "critical", "job" => "api"},
        labels! {"summary" => "api is down"},
        T0,
        Some(T0 + 30_000),
    )])
    .await;
    svc.step().await;
    let mut got = rec.take();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let (p, pd) = &got[0];
    assert_eq!(p, "/pd");
    assert_eq!(pd["routing_key"], "key123");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["dedup_key"], group_key_hash(r#"{}:{alertname="Down"}"#));
    assert_eq!(pd["payload"]["summary"], "[FIRING:1] Down (api critical)");
    assert_eq!(pd["payload"]["severity"], "critical");
    assert_eq!(pd["payload"]["source"], "Alertmanager");
    assert_eq!(pd["client_url"], "http://am.example:9093/#/alerts?receiver=r");
    let (p, slack) = &got[1];
    assert_eq!(p, "/slack");
    assert_eq!(slack["channel"], "#ops");
    assert_eq!(slack["attachments"][0]["title"], "[FIRING:1] Down (api critical)");
    assert_eq!(slack["attachments"][0]["color"], "danger");
    assert_eq!(slack["attachments"][0]["text"], "• [firing] Down: api is down");

    clock.set(T0 + 60_000);
    svc.step().await;
    let mut got = rec.take();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got[0].1["event_action"], "resolve");
    assert_eq!(got[0].1["dedup_key"], pd["dedup_key"]);
    assert_eq!(got[1].1["attachments"][0]["color"], "good");
}

#[tokio::test]
async fn external_alertmanager_notifier() {
    let (url_a, rec_a) = serve(vec![]).await;
    let (url_b, rec_b) = serve(vec![500]).await;
    let n = AlertmanagerNotifier::new([url_a, format!("{url_b}/")], Arc::new(HttpTransport));
    let alerts: Vec<PostableAlert> = (0..70)
        .map(|i| {
            alert(
                labels! {"alertname" => "X", "i" => i.to_string().as_str()},
                labels! {"d" => "e"},
                T0,
                Some(T0 + 1000),
            )
        })
        .collect();
    n.send(alerts).await;
    assert_eq!(n.queue_len(), 70);
    let errors = n.flush().await;
    assert_eq!(errors.len(), 1, "b failed its first batch");
    assert_eq!(n.stats(), (70, 0, 1));
    let a = rec_a.take();
    assert_eq!(a.len(), 2, "64 + 6");
    assert_eq!(a[0].0, "/api/v2/alerts");
    assert_eq!(a[0].1.as_array().unwrap().len() + a[1].1.as_array().unwrap().len(), 70);
    let first = &a[0].1[0];
    assert_eq!(first["labels"]["alertname"], "X");
    assert_eq!(first["annotations"]["d"], "e");
    assert_eq!(first["startsAt"], "2024-01-01T00:00:00Z");
    assert_eq!(first["endsAt"], "2024-01-01T00:00:01Z");
    assert_eq!(first["generatorURL"], "http://prom/graph");
    assert_eq!(rec_b.take().len(), 2);
}

#[tokio::test]
async fn run_loop_on_wall_clock() {
    let (url, rec) = serve(vec![]).await;
    let yaml = format!(
        "route: {{receiver: r, group_wait: 100ms, group_interval: 1h}}\nreceivers: [{{name: r, webhook_configs: [{{url: '{url}/'}}]}}]\n"
    );
    let cfg = Arc::new(Config::from_yaml(&yaml).unwrap());
    let svc = Arc::new(DispatcherService::new(Dispatcher::new(cfg, SystemClock), Arc::new(HttpTransport)));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let s = svc.clone();
    let task = tokio::spawn(async move {
        s.run(async {
            stop_rx.await.ok();
        })
        .await
    });
    svc.put(vec![PostableAlert { labels: labels! {"alertname" => "Live"}, ..Default::default() }]).await;
    let start = std::time::Instant::now();
    while rec.0.lock().unwrap().is_empty() && start.elapsed() < StdDuration::from_secs(5) {
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    let got = rec.take();
    assert_eq!(got.len(), 1, "delivered by the run loop");
    assert!(start.elapsed() >= StdDuration::from_millis(90), "group_wait honoured");
    stop_tx.send(()).unwrap();
    task.await.unwrap();
}
