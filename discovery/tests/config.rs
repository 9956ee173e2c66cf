//! Configuration table tests: good YAML and the values it yields, bad YAML and the error text.

use std::time::Duration;

use ember_discovery::config::{Config, ConfigErrorKind, DnsRecordType, KubernetesRole, Scheme, ScrapeProtocol};

/// Decodes `yaml` and expects an error whose text contains every `want` fragment.
#[track_caller]
fn check_err(yaml: &str, want: &[&str]) {
    let e = Config::from_yaml(yaml).expect_err("configuration should be rejected");
    let text = e.to_string();
    for w in want {
        assert!(text.contains(w), "error {text:?} does not contain {w:?}");
    }
}

#[track_caller]
fn check_ok(yaml: &str) -> Config {
    Config::from_yaml(yaml).unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

#[test]
fn defaults_and_inheritance() {
    let c = check_ok("scrape_configs:\n  - job_name: a\n");
    let a = &c.scrape_configs[0];
    assert_eq!(a.interval().get(), Duration::from_secs(60));
    assert_eq!(a.timeout().get(), Duration::from_secs(10));
    assert_eq!(a.metrics_path, "/metrics");
    assert_eq!(a.scheme, Scheme::Http);
    assert!(a.honor_timestamps && a.enable_compression && a.follow_redirects && !a.honor_labels);
    assert_eq!(a.scrape_protocols.as_deref(), Some(&ScrapeProtocol::defaults(false)[..]));

    let c = check_ok(
        "global:\n  scrape_interval: 5s\n  sample_limit: 100\n  body_size_limit: 10MB\n  scrape_protocols: [PrometheusProto]\n\
         scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 1h30m\n    scrape_timeout: 1m\n    sample_limit: 7\n",
    );
    let (a, b) = (&c.scrape_configs[0], &c.scrape_configs[1]);
    // Global timeout unset and interval below 10s: the timeout follows the interval.
    assert_eq!(a.timeout().get(), Duration::from_secs(5));
    assert_eq!(a.sample_limit, 100);
    assert_eq!(a.body_size_limit.0, 10 << 20);
    assert_eq!(a.scrape_protocols.as_deref(), Some(&[ScrapeProtocol::PrometheusProto][..]));
    assert_eq!(b.interval().get(), Duration::from_secs(5400));
    assert_eq!(b.timeout().get(), Duration::from_secs(60));
    assert_eq!(b.sample_limit, 7);

    // Native histograms put the protobuf format first.
    let c = check_ok("scrape_configs:\n  - job_name: a\n    scrape_native_histograms: true\n");
    assert_eq!(c.scrape_configs[0].scrape_protocols.as_ref().unwrap()[0], ScrapeProtocol::PrometheusProto);

    // Empty documents and sections owned elsewhere are fine.
    assert!(check_ok("").scrape_configs.is_empty());
    check_ok("rule_files: [a.yml]\nalerting:\n  alertmanagers: []\nremote_write: []\n");
}

#[test]
fn full_scrape_config() {
    let c = check_ok(
        r#"
scrape_configs:
  - job_name: full
    scrape_interval: 30s
    scrape_timeout: 30s
    scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]
    fallback_scrape_protocol: PrometheusText0.0.4
    metrics_path: /probe
    scheme: https
    params:
      module: [http_2xx]
    honor_labels: true
    honor_timestamps: false
    track_timestamps_staleness: true
    enable_compression: false
    basic_auth:
      username: u
      password_file: /etc/pass
    tls_config:
      ca_file: /etc/ca.pem
      insecure_skip_verify: true
      min_version: TLS12
    proxy_url: http://proxy:3128
    follow_redirects: false
    label_limit: 10
    label_name_length_limit: 20
    label_value_length_limit: 30
    target_limit: 5
    body_size_limit: 1GB
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
    metric_relabel_configs:
      - action: labeldrop
        regex: tmp_.*
    static_configs:
      - targets: [a:1, b:2]
        labels: {env: prod}
    file_sd_configs:
      - files: [/etc/sd/*.json, targets.yml]
        refresh_interval: 1m
    dns_sd_configs:
      - names: [_prometheus._tcp.example.org]
      - names: [db.example.org]
        type: AAAA
        port: 9187
    http_sd_configs:
      - url: http://127.0.0.1:8000/sd
        authorization:
          credentials: secret
    kubernetes_sd_configs:
      - role: endpointslice
        api_server: https://127.0.0.1:6443
        namespaces: {names: [default]}
        selectors:
          - role: pod
            label: app=web
"#,
    );
    let f = &c.scrape_configs[0];
    assert_eq!(f.scheme, Scheme::Https);
    assert_eq!(f.params["module"], vec!["http_2xx"]);
    assert_eq!(f.fallback_scrape_protocol, Some(ScrapeProtocol::PrometheusText0_0_4));
    assert_eq!(f.basic_auth.as_ref().unwrap().password_file.as_deref(), Some("/etc/pass"));
    assert!(!f.http_client_config().follow_redirects);
    assert_eq!(f.body_size_limit.0, 1 << 30);
    assert_eq!(f.static_configs[0].targets, vec!["a:1", "b:2"]);
    assert_eq!(f.file_sd_configs[0].refresh_interval.get(), Duration::from_secs(60));
    assert_eq!(f.dns_sd_configs[0].record_type, DnsRecordType::Srv);
    assert_eq!(f.dns_sd_configs[0].refresh_interval.get(), Duration::from_secs(30));
    assert_eq!(f.dns_sd_configs[1].port, Some(9187));
    assert_eq!(f.http_sd_configs[0].refresh_interval.get(), Duration::from_secs(60));
    assert_eq!(f.kubernetes_sd_configs[0].role, KubernetesRole::EndpointSlice);
    assert_eq!(f.target_relabel().unwrap().len(), 1);
}

#[test]
fn bad_configs() {
    let cases: &[(&str, &[&str])] = &[
        (
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 5x\n",
            &["scrape_configs[0].scrape_interval", "not a valid duration string: \"5x\"", "line 3", "job name \"a\""],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n",
            &["unknown field `scrape_intervall`", "job name \"a\""],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
            &["scrape_configs[0].scrape_timeout", "scrape timeout greater than scrape interval", "job name \"a\""],
        ),
        (
            "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
            &["global.scrape_timeout", "greater than scrape interval"],
        ),
        ("global:\n  foo: 1\n", &["global", "unknown field `foo`"]),
        (
            "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
            &["scrape_configs[1].job_name", "multiple scrape configs", "\"a\""],
        ),
        ("scrape_configs:\n  - scrape_interval: 5s\n", &["missing field `job_name`"]),
        ("scrape_configs:\n  - job_name: ''\n", &["job_name must be set"]),
        ("scrape_configs:\n  - job_name: a\n    scheme: ftp\n", &["scheme", "unknown variant `ftp`"]),
        (
            "scrape_configs:\n  - job_name: a\n    body_size_limit: 10XB\n",
            &["body_size_limit", "not a valid size string"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scrape_protocols: [PrometheusProto, PrometheusProto]\n",
            &["duplicated protocol PrometheusProto"],
        ),
        ("scrape_configs:\n  - job_name: a\n    scrape_protocols: [Foo]\n", &["unknown variant `Foo`"]),
        (
            "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    authorization: {credentials: c}\n",
            &["at most one of basic_auth and authorization"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    authorization: {credentials: c, credentials_file: f}\n",
            &["authorization", "credentials and credentials_file"],
        ),
        ("scrape_configs:\n  - job_name: a\n    authorization: {type: Basic}\n", &["use \"basic_auth\" instead"]),
        ("scrape_configs:\n  - job_name: a\n    tls_config: {cert_file: c}\n", &["tls_config", "without a client key"]),
        (
            "scrape_configs:\n  - job_name: a\n    tls_config: {min_version: TLS9}\n",
            &["tls_config.min_version", "TLS9"],
        ),
        ("scrape_configs:\n  - job_name: a\n    proxy_url: '::nope'\n", &["proxy_url", "invalid proxy URL"]),
        ("scrape_configs:\n  - job_name: a\n    metrics_path: metrics\n", &["metrics_path", "must start with '/'"]),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: hashmod\n        target_label: x\n",
            &["relabel_configs[0]", "non-zero modulus"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: explode\n",
            &["relabel_configs[0].action", "unknown variant `explode`"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://a:1']\n",
            &["static_configs[0]", "is not a valid hostname"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [a.txt]\n",
            &["file_sd_configs[0].files", "not valid for file discovery"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: ['*/a.json']\n",
            &["not valid for file discovery"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - names: [x]\n        type: A\n",
            &["dns_sd_configs[0].port", "must be set"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - names: [x]\n        type: TXT\n",
            &["unknown variant `TXT`"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    http_sd_configs:\n      - url: ftp://x/\n",
            &["http_sd_configs[0].url", "URL scheme must be 'http' or 'https'"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: pods\n",
            &["unknown variant `pods`"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: node\n        selectors: [{role: pod, label: a=b}]\n",
            &["selectors[0].role", "node role supports only node selectors"],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: pod\n        api_server: https://x\n        kubeconfig_file: k\n",
            &["api_server and kubeconfig_file"],
        ),
        ("scrape_configs:\n  - job_name: a\n    consul_sd_configs: []\n", &["unknown field `consul_sd_configs`"]),
        ("scrape_configs: [\n", &["line"]),
    ];
    for (yaml, want) in cases {
        check_err(yaml, want);
    }
}

#[test]
fn error_is_typed() {
    let e = Config::from_yaml("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n")
        .unwrap_err();
    assert_eq!(e.kind, ConfigErrorKind::TimeoutExceedsInterval);
    assert_eq!(e.job.as_deref(), Some("a"));
    assert_eq!(e.path, "scrape_configs[0].scrape_timeout");
    let e = Config::from_yaml("scrape_configs:\n  - job_name: b\n    honor_labels: maybe\n").unwrap_err();
    assert!(matches!(e.kind, ConfigErrorKind::Decode(_)));
    assert_eq!((e.line, e.job.as_deref()), (Some(3), Some("b")));
    assert_eq!(e.path, "scrape_configs[0].honor_labels");
}

#[test]
fn load_file_resolves_relative_paths() {
    let dir = std::env::temp_dir().join(format!("ember-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("prometheus.yml");
    std::fs::write(
        &path,
        "scrape_configs:\n  - job_name: a\n    authorization: {credentials_file: token}\n    tls_config: {ca_file: /abs/ca.pem}\n    file_sd_configs: [{files: ['sd/*.json']}]\n    kubernetes_sd_configs: [{role: pod, kubeconfig_file: kube.yml}]\n",
    )
    .unwrap();
    let c = Config::load_file(&path).unwrap();
    let a = &c.scrape_configs[0];
    let d = dir.display();
    assert_eq!(a.authorization.as_ref().unwrap().credentials_file, Some(format!("{d}/token")));
    assert_eq!(a.tls_config.ca_file.as_deref(), Some("/abs/ca.pem"));
    assert_eq!(a.file_sd_configs[0].files, vec![format!("{d}/sd/*.json")]);
    assert_eq!(a.kubernetes_sd_configs[0].kubeconfig_file, Some(format!("{d}/kube.yml")));
    let e = Config::load_file(dir.join("missing.yml")).unwrap_err();
    assert!(matches!(e.kind, ConfigErrorKind::Io(_)));
    std::fs::remove_dir_all(dir).unwrap();
}
