//! Target building table tests.

use ember_discovery::api::{Health, ScrapeStatus, TargetDiscovery};
use ember_discovery::config::Config;
use ember_discovery::target::{DropReason, TargetBuilder, TargetErrorKind, TargetGroup, Targets};
use ember_exposition::{Labels, labels};

fn build(yaml_job: &str, group_labels: Labels, target: Labels) -> Targets {
    let cfg = Config::from_yaml(&format!("scrape_configs:\n  - job_name: j\n{yaml_job}"))
        .unwrap_or_else(|e| panic!("bad test config: {e}"));
    let b = TargetBuilder::new(&cfg.scrape_configs[0]).unwrap();
    let g = TargetGroup { source: "0".into(), targets: vec![target], labels: group_labels };
    b.build([&g])
}

/// What one discovered target should become.
#[derive(Debug)]
enum Want<'a> {
    /// Active, with these public labels and this URL.
    Active(Labels, &'a str),
    /// Dropped for this reason.
    Dropped(DropReason),
    /// Rejected with this error.
    Error(TargetErrorKind),
}

#[track_caller]
fn check(yaml_job: &str, group_labels: Labels, target: Labels, want: Want<'_>) {
    let t = build(yaml_job, group_labels, target);
    match want {
        Want::Active(labels, url) => {
            assert_eq!(t.active.len(), 1, "{t:?}");
            assert_eq!(t.active[0].labels(), &labels);
            assert_eq!(t.active[0].url(), url);
        }
        Want::Dropped(reason) => {
            assert!(t.active.is_empty(), "{t:?}");
            assert_eq!(t.dropped.len(), 1);
            assert_eq!(t.dropped[0].reason, reason);
        }
        Want::Error(kind) => {
            assert!(t.active.is_empty() && t.dropped.is_empty(), "{t:?}");
            assert_eq!(t.errors[0].kind, kind);
        }
    }
}

#[test]
fn target_label_rules() {
    let addr = || labels! {"__address__" => "h:9"};
    check("", Labels::empty(), addr(), Want::Active(labels! {"instance" => "h:9", "job" => "j"}, "http://h:9/metrics"));
    // Target labels win over group labels; group labels reach the target.
    check(
        "",
        labels! {"env" => "g", "team" => "t"},
        labels! {"__address__" => "h:9", "env" => "t"},
        Want::Active(labels! {"env" => "t", "instance" => "h:9", "job" => "j", "team" => "t"}, "http://h:9/metrics"),
    );
    // Discovery may override the config's scheme, path, job and params.
    check(
        "    params: {a: [x, y]}\n",
        Labels::empty(),
        labels! {"__address__" => "h:9", "__scheme__" => "https", "__metrics_path__" => "/m", "job" => "other", "__param_a" => "z"},
        Want::Active(labels! {"instance" => "h:9", "job" => "other"}, "https://h:9/m?a=z&a=y"),
    );
    // `instance` set by relabeling is kept; __meta and __tmp go.
    check(
        "    relabel_configs:\n      - source_labels: [__meta_x]\n        target_label: instance\n      - source_labels: [__meta_x]\n        target_label: __tmp_y\n",
        labels! {"__meta_x" => "nice"},
        addr(),
        Want::Active(labels! {"instance" => "nice", "job" => "j"}, "http://h:9/metrics"),
    );
    // __param_ labels added by relabeling become parameters (blackbox style).
    check(
        "    metrics_path: /probe\n    relabel_configs:\n      - source_labels: [__address__]\n        target_label: __param_target\n      - target_label: __address__\n        replacement: bb:9115\n",
        Labels::empty(),
        labels! {"__address__" => "https://site.example/x?y"},
        Want::Active(
            labels! {"instance" => "bb:9115", "job" => "j"},
            "http://bb:9115/probe?target=https%3A%2F%2Fsite.example%2Fx%3Fy",
        ),
    );
    // IPv6 addresses.
    check(
        "",
        Labels::empty(),
        labels! {"__address__" => "[::1]:9"},
        Want::Active(labels! {"instance" => "[::1]:9", "job" => "j"}, "http://[::1]:9/metrics"),
    );
    // Dropped by rule, and for lack of an address.
    check(
        "    relabel_configs:\n      - action: drop\n        source_labels: [__address__]\n        regex: h:.*\n",
        Labels::empty(),
        addr(),
        Want::Dropped(DropReason::Relabeling),
    );
    check(
        "    relabel_configs:\n      - action: labeldrop\n        regex: __address__\n",
        Labels::empty(),
        addr(),
        Want::Dropped(DropReason::NoAddress),
    );
    check(
        "",
        Labels::empty(),
        labels! {"__address__" => "http://h:9"},
        Want::Error(TargetErrorKind::InvalidAddress("http://h:9".into())),
    );
    // Interval and timeout overrides are checked.
    check(
        "",
        Labels::empty(),
        labels! {"__address__" => "h:9", "__scrape_interval__" => "5s"},
        Want::Error(TargetErrorKind::TimeoutExceedsInterval),
    );
    check(
        "",
        Labels::empty(),
        labels! {"__address__" => "h:9", "__scrape_timeout__" => "soon"},
        Want::Error(TargetErrorKind::InvalidTimeout("soon".into())),
    );
    check(
        "",
        Labels::empty(),
        labels! {"__address__" => "h:9", "__scheme__" => "ftp"},
        Want::Error(TargetErrorKind::InvalidScheme("ftp".into())),
    );
}

#[test]
fn overrides_steer_the_target() {
    let t = build(
        "",
        Labels::empty(),
        labels! {"__address__" => "h:9", "__scrape_interval__" => "30s", "__scrape_timeout__" => "5s"},
    );
    let t = &t.active[0];
    assert_eq!(t.interval().as_secs(), 30);
    assert_eq!(t.timeout().as_secs(), 5);
    assert_eq!(
        t.discovered_labels(),
        &labels! {"__address__" => "h:9", "__metrics_path__" => "/metrics", "__scheme__" => "http", "__scrape_interval__" => "30s", "__scrape_timeout__" => "5s", "job" => "j"}
    );
    assert_eq!(t.full_labels().get("__scrape_interval__"), Some("30s"));
}

#[test]
fn duplicates_and_dropped_limit() {
    let cfg = Config::from_yaml(
        "scrape_configs:\n  - job_name: j\n    keep_dropped_targets: 1\n    relabel_configs:\n      - action: keep\n        source_labels: [__address__]\n        regex: keep.*\n",
    )
    .unwrap();
    let b = TargetBuilder::new(&cfg.scrape_configs[0]).unwrap();
    let g1 = TargetGroup::from_addresses("a", &["keep:1", "drop:1", "drop:2"], Labels::empty());
    let g2 = TargetGroup::from_addresses("b", &["keep:1"], Labels::empty());
    let t = b.build([&g1, &g2]);
    assert_eq!(t.active.len(), 1);
    assert_eq!((t.dropped.len(), t.dropped_count), (1, 2));
}

#[test]
fn api_view_json() {
    let cfg = Config::from_yaml(
        "scrape_configs:\n  - job_name: prometheus\n    relabel_configs:\n      - action: drop\n        source_labels: [__address__]\n        regex: .*9100\n",
    )
    .unwrap();
    let b = TargetBuilder::new(&cfg.scrape_configs[0]).unwrap();
    let g = TargetGroup::from_addresses("0", &["localhost:9090", "127.0.0.1:9100"], Labels::empty());
    let targets = b.build([&g]);
    let mut view = TargetDiscovery::default();
    view.add_pool(
        "prometheus",
        &targets,
        |_| ScrapeStatus { health: Health::Up, ..Default::default() },
        Some("example-prometheus"),
    );
    let json = serde_json::to_value(&view).unwrap();
    let want = serde_json::json!({
        "activeTargets": [{
            "discoveredLabels": {
                "__address__": "localhost:9090", "__metrics_path__": "/metrics", "__scheme__": "http",
                "__scrape_interval__": "1m", "__scrape_timeout__": "10s", "job": "prometheus"
            },
            "labels": {"instance": "localhost:9090", "job": "prometheus"},
            "scrapePool": "prometheus",
            "scrapeUrl": "http://localhost:9090/metrics",
            "globalUrl": "http://example-prometheus:9090/metrics",
            "lastError": "",
            "lastScrape": "0001-01-01T00:00:00Z",
            "lastScrapeDuration": 0.0,
            "health": "up",
            "scrapeInterval": "1m",
            "scrapeTimeout": "10s"
        }],
        "droppedTargets": [{
            "discoveredLabels": {
                "__address__": "127.0.0.1:9100", "__metrics_path__": "/metrics", "__scheme__": "http",
                "__scrape_interval__": "1m", "__scrape_timeout__": "10s", "job": "prometheus"
            },
            "scrapePool": "prometheus"
        }],
        "droppedTargetCounts": {"prometheus": 1}
    });
    assert_eq!(json, want);
}
