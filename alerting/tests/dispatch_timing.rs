//! Every timing rule of the dispatcher, checked synchronously on a [`ManualClock`]:
//! group_wait, group_interval, repeat_interval, resolve_timeout, silence expiry,
//! mute/active time intervals, inhibition, send_resolved and failed deliveries.

use std::sync::Arc;

use ember_alerting::dispatch::{Config, Dispatcher, ManualClock, Notification, PostableAlert, Silence, parse_matchers};
use ember_exposition::{Labels, Timestamp, labels};

const S: i64 = 1000;
const M: i64 = 60 * S;
/// 2024-01-01T00:00:00Z, a Monday.
const T0: Timestamp = 1_704_067_200_000;

fn setup(yaml: &str) -> (Dispatcher<ManualClock>, ManualClock) {
    let clock = ManualClock::new(T0);
    let cfg = Arc::new(Config::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}")));
    (Dispatcher::new(cfg, clock.clone()), clock)
}

fn firing(l: Labels) -> PostableAlert {
    PostableAlert { labels: l, ..Default::default() }
}

fn with_times(l: Labels, start: Option<Timestamp>, end: Option<Timestamp>) -> PostableAlert {
    PostableAlert { labels: l, starts_at: start, ends_at: end, ..Default::default() }
}

/// Polls and acknowledges every notification; returns a compact description of each:
/// `receiver: alertname[status] ...`.
fn step(d: &mut Dispatcher<ManualClock>, ok: bool) -> Vec<String> {
    let ns = d.poll();
    let out = ns.iter().map(describe).collect();
    for n in &ns {
        d.complete(n, ok);
    }
    out
}

fn describe(n: &Notification) -> String {
    let alerts: Vec<String> = n
        .alerts
        .iter()
        .map(|a| {
            format!("{}{}", a.labels.get_or_empty("alertname"), if a.ends_at.is_some() { "[resolved]" } else { "" })
        })
        .collect();
    format!("{}: {}", n.integration_name, alerts.join(" "))
}

/// Advances to `t` (ms after T0) and steps.
#[track_caller]
fn at(d: &mut Dispatcher<ManualClock>, c: &ManualClock, t: i64, want: &[&str]) {
    c.set(T0 + t);
    let got = step(d, true);
    assert_eq!(got, want, "at T0+{}s", t as f64 / 1000.0);
}

const BASIC: &str = r#"
route:
  receiver: hook
  group_by: [job]
  group_wait: 30s
  group_interval: 1m
  repeat_interval: 3m
receivers:
  - name: hook
    webhook_configs: [{url: "http://127.0.0.1:9/"}]
"#;

#[test]
fn group_wait_then_group_interval() {
    let (mut d, c) = setup(BASIC);
    d.put([firing(labels! {"alertname" => "A", "job" => "x"})]);
    at(&mut d, &c, 29_999, &[]);
    at(&mut d, &c, 30 * S, &["hook/webhook[0]: A"]);
    // A new alert in the same group waits for the next group_interval tick.
    c.set(T0 + 40 * S);
    d.put([firing(labels! {"alertname" => "B", "job" => "x"})]);
    at(&mut d, &c, 89_999, &[]);
    at(&mut d, &c, 90 * S, &["hook/webhook[0]: A B"]);
    // A different group has its own group_wait.
    c.set(T0 + 100 * S);
    d.put([firing(labels! {"alertname" => "C", "job" => "y"})]);
    at(&mut d, &c, 129_999, &[]);
    at(&mut d, &c, 130 * S, &["hook/webhook[0]: C"]);
    assert_eq!(d.next_deadline(), Some(T0 + 150 * S));
}

#[test]
fn repeat_interval() {
    let (mut d, c) = setup(BASIC);
    // Producers re-send firing alerts with an end time in the future, as Prometheus does.
    let a = || with_times(labels! {"alertname" => "A", "job" => "x"}, Some(T0), Some(T0 + 3600 * S));
    d.put([a()]);
    at(&mut d, &c, 30 * S, &["hook/webhook[0]: A"]);
    at(&mut d, &c, 90 * S, &[]);
    at(&mut d, &c, 150 * S, &[]);
    // Exactly repeat_interval after the last send is not yet "before now - repeat"
    // (Alertmanager compares strictly), so the repeat goes out one tick later.
    at(&mut d, &c, 210 * S, &[]);
    at(&mut d, &c, 270 * S, &["hook/webhook[0]: A"]);
    at(&mut d, &c, 330 * S, &[]);
    at(&mut d, &c, 510 * S, &["hook/webhook[0]: A"]);
}

#[test]
fn resolve_timeout_and_send_resolved() {
    let yaml = BASIC.replace("route:", "global: {resolve_timeout: 2m}\nroute:");
    let (mut d, c) = setup(&yaml);
    d.put([firing(labels! {"alertname" => "A", "job" => "x"})]); // no endsAt
    at(&mut d, &c, 30 * S, &["hook/webhook[0]: A"]);
    at(&mut d, &c, 90 * S, &[]);
    // Resolved at T0+120s by the resolve timeout; the next tick sends the resolution.
    at(&mut d, &c, 150 * S, &["hook/webhook[0]: A[resolved]"]);
    assert!(d.groups().is_empty(), "group removed once its resolved alerts were sent");
    at(&mut d, &c, 210 * S, &[]);
    // A refresh before the timeout keeps it firing.
    c.set(T0 + 300 * S);
    d.put([firing(labels! {"alertname" => "B", "job" => "x"})]);
    at(&mut d, &c, 330 * S, &["hook/webhook[0]: B"]);
    c.set(T0 + 400 * S);
    d.put([firing(labels! {"alertname" => "B", "job" => "x"})]);
    at(&mut d, &c, 450 * S, &[]);
    at(&mut d, &c, 510 * S, &[]);
    at(&mut d, &c, 570 * S, &["hook/webhook[0]: B[resolved]"]);
}

#[test]
fn resolved_before_group_wait_is_never_sent() {
    let (mut d, c) = setup(BASIC);
    d.put([firing(labels! {"alertname" => "A", "job" => "x"})]);
    c.set(T0 + 10 * S);
    d.put([with_times(labels! {"alertname" => "A", "job" => "x"}, None, Some(T0 + 10 * S))]);
    at(&mut d, &c, 30 * S, &[]);
    assert!(d.groups().is_empty());
}

#[test]
fn old_alert_skips_group_wait() {
    let (mut d, c) = setup(BASIC);
    c.set(T0 + 3600 * S);
    d.put([with_times(labels! {"alertname" => "A", "job" => "x"}, Some(T0), None)]);
    at(&mut d, &c, 3600 * S, &["hook/webhook[0]: A"]);
}

#[test]
fn send_resolved_false_still_logs() {
    let yaml = r#"
route: {receiver: r, group_wait: 10s, group_interval: 1m, repeat_interval: 1h}
receivers:
  - name: r
    webhook_configs: [{url: "http://127.0.0.1:9/a", send_resolved: false}, {url: "http://127.0.0.1:9/b"}]
"#;
    let (mut d, c) = setup(yaml);
    d.put([
        with_times(labels! {"alertname" => "A"}, Some(T0), Some(T0 + 30 * S)),
        with_times(labels! {"alertname" => "B"}, Some(T0), Some(T0 + 3600 * S)),
    ]);
    at(&mut d, &c, 10 * S, &["r/webhook[0]: A B", "r/webhook[1]: A B"]);
    // A resolved: only the send_resolved integration hears about it, with B still firing.
    at(&mut d, &c, 70 * S, &["r/webhook[1]: A[resolved] B"]);
    at(&mut d, &c, 130 * S, &[]);
}

#[test]
fn silence_expiry() {
    let (mut d, c) = setup(BASIC);
    let id = d
        .set_silence(Silence {
            id: String::new(),
            matchers: parse_matchers(r#"alertname="A""#).unwrap(),
            starts_at: T0,
            ends_at: T0 + 100 * S,
            updated_at: 0,
            created_by: "test".into(),
            comment: "maintenance".into(),
        })
        .unwrap();
    assert_eq!(d.query_silences(&parse_matchers("alertname=A").unwrap(), None).len(), 1);
    d.put([with_times(labels! {"alertname" => "A", "job" => "x"}, Some(T0), Some(T0 + 3600 * S))]);
    assert!(d.is_muted(&labels! {"alertname" => "A", "job" => "x"}));
    let why = d.muted_by(&labels! {"alertname" => "A", "job" => "x"});
    assert_eq!((why.silenced_by, why.inhibited_by), (vec![id.clone()], None));
    assert!(!d.muted_by(&labels! {"alertname" => "B"}).is_muted());
    at(&mut d, &c, 30 * S, &[]);
    at(&mut d, &c, 90 * S, &[]);
    // The silence ended at T0+100s.
    at(&mut d, &c, 150 * S, &["hook/webhook[0]: A"]);
    assert!(d.silences().get(&id).is_some());
    // Expired silences are garbage-collected after the retention (120h by default).
    c.set(T0 + 100 * S + 120 * 3600 * S);
    d.poll();
    assert!(d.silences().get(&id).is_none());
}

#[test]
fn mute_and_active_time_intervals() {
    let yaml = r#"
route:
  receiver: default
  group_wait: 30s
  group_interval: 30m
  repeat_interval: 30m
  routes:
    - matchers: [team=night]
      receiver: night
      active_time_intervals: [first-hour]
    - matchers: [team=day]
      receiver: day
      mute_time_intervals: [first-hour]
time_intervals:
  - name: first-hour
    time_intervals:
      - times: [{start_time: '00:00', end_time: '01:00'}]
receivers:
  - {name: default, webhook_configs: [{url: "http://127.0.0.1:9/"}]}
  - {name: night, webhook_configs: [{url: "http://127.0.0.1:9/"}]}
  - {name: day, webhook_configs: [{url: "http://127.0.0.1:9/"}]}
"#;
    let (mut d, c) = setup(yaml);
    let end = Some(T0 + 24 * 3600 * S);
    d.put([
        with_times(labels! {"alertname" => "N", "team" => "night"}, Some(T0), end),
        with_times(labels! {"alertname" => "D", "team" => "day"}, Some(T0), end),
    ]);
    // 00:00:30: inside first-hour: night is active, day is muted.
    at(&mut d, &c, 30 * S, &["night/webhook[0]: N"]);
    at(&mut d, &c, 30 * M + 30 * S, &[]);
    // 01:00:30: outside: day sends, night is inactive.
    at(&mut d, &c, 60 * M + 30 * S, &["day/webhook[0]: D"]);
}

#[test]
fn inhibition() {
    let yaml = r#"
route: {receiver: r, group_by: ['...'], group_wait: 10s, group_interval: 1m}
receivers: [{name: r, webhook_configs: [{url: "http://127.0.0.1:9/"}]}]
inhibit_rules:
  - source_matchers: [severity=critical]
    target_matchers: [severity=warning]
    equal: [cluster]
"#;
    let (mut d, c) = setup(yaml);
    d.put([
        with_times(
            labels! {"alertname" => "Crit", "severity" => "critical", "cluster" => "a"},
            Some(T0),
            Some(T0 + 90 * S),
        ),
        with_times(
            labels! {"alertname" => "WarnA", "severity" => "warning", "cluster" => "a"},
            Some(T0),
            Some(T0 + 3600 * S),
        ),
        with_times(
            labels! {"alertname" => "WarnB", "severity" => "warning", "cluster" => "b"},
            Some(T0),
            Some(T0 + 3600 * S),
        ),
    ]);
    let crit = labels! {"alertname" => "Crit", "severity" => "critical", "cluster" => "a"}.stable_hash();
    let warn_a = labels! {"alertname" => "WarnA", "severity" => "warning", "cluster" => "a"};
    assert_eq!(d.muted_by(&warn_a).inhibited_by, Some(crit));
    let groups = d.group_alerts();
    assert_eq!(groups.len(), 3, "group_by ... puts each alert in its own group");
    assert!(groups.iter().all(|(g, a)| g.receiver == "r" && a.len() == 1 && g.alerts == 1));
    let mut got = step_at(&mut d, &c, 10 * S);
    got.sort();
    assert_eq!(got, ["r/webhook[0]: Crit", "r/webhook[0]: WarnB"]);
    // Crit resolves at T0+90s: WarnA is no longer inhibited.
    let mut got = step_at(&mut d, &c, 130 * S);
    got.sort();
    assert_eq!(got, ["r/webhook[0]: Crit[resolved]", "r/webhook[0]: WarnA"]);
    assert_eq!(d.muted_by(&warn_a).inhibited_by, None);
}

fn step_at(d: &mut Dispatcher<ManualClock>, c: &ManualClock, t: i64) -> Vec<String> {
    c.set(T0 + t);
    step(d, true)
}

#[test]
fn failed_delivery_is_retried_next_interval() {
    let (mut d, c) = setup(BASIC);
    let a = |end| with_times(labels! {"alertname" => "A", "job" => "x"}, Some(T0), Some(end));
    d.put([a(T0 + 3600 * S)]);
    c.set(T0 + 30 * S);
    assert_eq!(step(&mut d, false), ["hook/webhook[0]: A"]);
    // Nothing was logged, so the next tick sends again.
    at(&mut d, &c, 90 * S, &["hook/webhook[0]: A"]);
    at(&mut d, &c, 150 * S, &[]);
    // A resolution whose delivery fails keeps the resolved alert in its group...
    c.set(T0 + 160 * S);
    d.put([a(T0 + 160 * S)]);
    c.set(T0 + 210 * S);
    assert_eq!(step(&mut d, false), ["hook/webhook[0]: A[resolved]"]);
    assert_eq!(d.groups().len(), 1, "resolved alert kept after a failed flush");
    // ...and is sent again, then dropped.
    at(&mut d, &c, 270 * S, &["hook/webhook[0]: A[resolved]"]);
    assert!(d.groups().is_empty());
}

#[test]
fn continue_and_group_by_all() {
    let yaml = r#"
route:
  receiver: a
  group_wait: 5s
  routes:
    - {matchers: [x=1], receiver: a, continue: true, group_by: ['...']}
    - {matchers: [x=1], receiver: b}
receivers:
  - {name: a, webhook_configs: [{url: "http://127.0.0.1:9/"}]}
  - {name: b, webhook_configs: [{url: "http://127.0.0.1:9/"}]}
"#;
    let (mut d, c) = setup(yaml);
    d.put([firing(labels! {"alertname" => "P", "x" => "1"}), firing(labels! {"alertname" => "Q", "x" => "1"})]);
    let mut got = step_at(&mut d, &c, 5 * S);
    got.sort();
    assert_eq!(got, ["a/webhook[0]: P", "a/webhook[0]: Q", "b/webhook[0]: P Q"]);
    let keys: Vec<String> = d.groups().into_iter().map(|g| g.key).collect();
    assert!(keys.contains(&r#"{}/{x="1"}:{alertname="P", x="1"}"#.to_string()), "{keys:?}");
    assert!(keys.contains(&r#"{}/{x="1"}:{}"#.to_string()), "{keys:?}");
}
