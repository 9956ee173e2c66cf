//! Opt-in: the webhook notifications Ember sends equal what a real Alertmanager sends
//! for the same configuration and alerts (Debian's prometheus-alertmanager 0.25).
//!
//! Run with `EMBER_ALERTMANAGER=1 cargo test -p ember-alerting --test alertmanager_compat`
//! (binary from `EMBER_ALERTMANAGER_BIN`, default `prometheus-alertmanager`). The test
//! starts Alertmanager on a free 127.0.0.1 port with clustering off, feeds it alerts
//! through Ember's own [`AlertmanagerNotifier`] (so it also checks that Alertmanager
//! accepts that client's `POST /api/v2/alerts`), captures its webhooks on a local
//! receiver, replays the same alerts through Ember's dispatcher on a manual clock,
//! and compares the bodies field by field. Fingerprints are left out: Ember's are
//! xxh3 label hashes, Alertmanager's are FNV.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use common::serve;
use ember_alerting::dispatch::{
    AlertSink, AlertmanagerNotifier, Config, Dispatcher, DispatcherService, HttpTransport, ManualClock, PostableAlert,
};
use ember_exposition::{Labels, labels};
use serde_json::Value;

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn alert(l: Labels, start: i64, end: i64) -> PostableAlert {
    PostableAlert {
        labels: l,
        annotations: labels! {"summary" => "something broke"},
        starts_at: Some(start),
        ends_at: Some(end),
        generator_url: "http://prometheus:9090/graph".into(),
    }
}

/// The body without fingerprints, keyed for comparison.
fn normalise(mut v: Value) -> Value {
    if let Some(alerts) = v["alerts"].as_array_mut() {
        for a in alerts {
            a.as_object_mut().unwrap().remove("fingerprint");
        }
    }
    v
}

fn by_group_key(bodies: Vec<(String, Value)>) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> =
        bodies.into_iter().map(|(_, b)| (b["groupKey"].as_str().unwrap_or("").to_string(), normalise(b))).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

async fn wait_for(rec: &common::Received, n: usize, secs: u64) -> Vec<(String, Value)> {
    let start = std::time::Instant::now();
    while rec.0.lock().unwrap().len() < n && start.elapsed() < StdDuration::from_secs(secs) {
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    rec.take()
}

#[tokio::test]
async fn webhooks_match_real_alertmanager() {
    if std::env::var("EMBER_ALERTMANAGER").as_deref() != Ok("1") {
        eprintln!("skipping: set EMBER_ALERTMANAGER=1 to compare against a real Alertmanager");
        return;
    }
    let bin = std::env::var("EMBER_ALERTMANAGER_BIN").unwrap_or_else(|_| "prometheus-alertmanager".into());
    let (hook, rec) = serve(vec![]).await;
    let yaml = format!(
        r#"
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 3s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      group_by: ['...']
      continue: true
receivers:
  - name: team
    webhook_configs: [{{url: "{hook}/team", max_alerts: 2}}]
  - name: pager
    webhook_configs: [{{url: "{hook}/pager"}}]
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("alertmanager.yml");
    std::fs::write(&cfg_path, &yaml).unwrap();
    let port = free_port();
    let external = "http://am.example:9093";
    let _am = Kill(
        std::process::Command::new(&bin)
            .arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--web.external-url={external}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}")),
    );

    // Whole seconds, so both sides print the same RFC 3339 text.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 * 1000;
    let start = now - 60_000;
    let firing = vec![
        alert(
            labels! {"alertname" => "Disk", "instance" => "a", "job" => "node", "severity" => "warning"},
            start,
            now + 3_600_000,
        ),
        alert(
            labels! {"alertname" => "Disk", "instance" => "b", "job" => "node", "severity" => "warning"},
            start,
            now + 3_600_000,
        ),
        alert(
            labels! {"alertname" => "Disk", "instance" => "c", "job" => "node", "severity" => "warning"},
            start,
            now + 3_600_000,
        ),
        alert(
            labels! {"alertname" => "Down", "instance" => "a", "job" => "api", "severity" => "page"},
            start,
            now + 3_600_000,
        ),
    ];

    // Feed Alertmanager through Ember's notifier, retrying until it is up.
    let notifier = AlertmanagerNotifier::new([format!("http://127.0.0.1:{port}")], Arc::new(HttpTransport));
    let mut up = false;
    for _ in 0..100 {
        notifier.send(firing.clone()).await;
        if notifier.flush().await.is_empty() {
            up = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(up, "Alertmanager did not accept alerts");
    let theirs_first = by_group_key(wait_for(&rec, 3, 15).await);

    // Resolve Disk/b and wait for the group_interval notification.
    let resolved_at = now + 1000;
    let resolve = vec![alert(
        labels! {"alertname" => "Disk", "instance" => "b", "job" => "node", "severity" => "warning"},
        start,
        resolved_at,
    )];
    notifier.send(resolve.clone()).await;
    assert!(notifier.flush().await.is_empty());
    let theirs_second = by_group_key(wait_for(&rec, 1, 15).await);

    // The same through Ember, on a manual clock.
    let clock = ManualClock::new(now);
    let cfg = Arc::new(Config::from_yaml(&yaml).unwrap());
    let d = Dispatcher::builder(cfg).external_url(external).build(clock.clone()).unwrap();
    let svc = DispatcherService::new(d, Arc::new(HttpTransport));
    svc.put(firing).await;
    svc.step().await;
    let ours_first = by_group_key(rec.take());
    clock.set(resolved_at);
    svc.put(resolve).await;
    for t in 1..=10 {
        clock.set(now + t * 1000);
        svc.step().await;
    }
    let ours_second = by_group_key(rec.take());

    let keys = |v: &[(String, Value)]| v.iter().map(|(k, b)| format!("{k} {}", b["receiver"])).collect::<Vec<_>>();
    eprintln!("theirs: {:#?}\nours: {:#?}", keys(&theirs_first), keys(&ours_first));
    assert_eq!(theirs_first.len(), 2, "{theirs_first:#?}");
    for ((tk, tb), (ok, ob)) in theirs_first.iter().zip(&ours_first) {
        assert_eq!(tk, ok);
        assert_eq!(tb, ob, "first notification for {tk}");
    }
    assert_eq!(ours_first.len(), theirs_first.len());
    assert_eq!(theirs_second.len(), 1, "{theirs_second:#?}");
    assert_eq!(ours_second, theirs_second, "resolution notification");
    eprintln!("Alertmanager and Ember sent identical webhooks for {} groups", theirs_first.len());
}
