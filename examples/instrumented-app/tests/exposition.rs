//! The app's exposition in both text formats: parsed back by ember-exposition and linted by
//! `promtool check metrics` (skipped with a printed reason when promtool is absent).

use std::io::Write;
use std::process::{Command, Stdio};

use ember_client::TextFormat;
use ember_exposition::{MetricType, openmetrics, text};
use ember_instrumented_app::AppMetrics;

/// Runs `promtool check metrics` on `input`; `None` when promtool is not installed.
fn promtool(input: &str) -> Option<(bool, String)> {
    let bin = std::env::var("EMBER_PROMTOOL").unwrap_or_else(|_| "/usr/bin/promtool".into());
    if !std::path::Path::new(&bin).exists() {
        eprintln!("skipping promtool lint: no promtool at {bin}");
        return None;
    }
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let findings = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Some((out.status.success() && findings.trim().is_empty(), findings))
}

fn app() -> AppMetrics {
    let m = AppMetrics::new().unwrap();
    m.simulate();
    m
}

#[test]
fn text_format_parses_back_and_passes_promtool() {
    let body = app().registry.encode(TextFormat::Text);
    let families = text::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    let requests = families.iter().find(|f| f.name == "demo_http_requests").expect("request counter");
    assert_eq!(requests.metric_type, MetricType::Counter);
    let total: f64 = requests.samples.iter().map(|s| s.value).sum();
    assert_eq!(total, 500.0);
    assert!(families.iter().any(|f| f.name == "process_cpu_seconds"));
    if let Some((clean, findings)) = promtool(&body) {
        assert!(clean, "promtool findings:\n{findings}\n{body}");
    }
}

#[test]
fn openmetrics_parses_back_and_its_content_passes_promtool() {
    let body = app().registry.encode(TextFormat::OpenMetrics);
    let families = openmetrics::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    let ty = |name: &str| families.iter().find(|f| f.name == name).map(|f| f.metric_type);
    assert_eq!(ty("demo_build"), Some(MetricType::Info));
    assert_eq!(ty("demo_health"), Some(MetricType::StateSet));
    assert_eq!(ty("demo_http_request_duration_seconds"), Some(MetricType::Histogram));
    assert_eq!(ty("demo_http_response_size_bytes"), Some(MetricType::Summary));
    let work = families.iter().find(|f| f.name == "demo_work_items").unwrap();
    assert!(work.samples.iter().any(|s| s.exemplar.is_some()), "exemplar lost");
    // promtool's linter reads only the text format 0.0.4 (OpenMetrics' info/stateset types
    // and exemplars are syntax errors to it), so lint what the OpenMetrics body says, in the
    // text format, through ember-exposition's encoder. The text format has no `_created`
    // samples (client_golang leaves them out too), so they are dropped first.
    let mut families = families;
    for f in &mut families {
        f.samples.retain(|s| !s.name.ends_with("_created"));
    }
    let mut as_text = String::new();
    text::encode(&mut as_text, &families).unwrap();
    if let Some((clean, findings)) = promtool(&as_text) {
        assert!(clean, "promtool findings:\n{findings}\n{as_text}");
    }
}
