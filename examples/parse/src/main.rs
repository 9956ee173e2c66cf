//! Parses a Prometheus exposition payload and prints a summary: families by type,
//! sample and series counts, the families with the most series, and parse time.
//!
//! ```text
//! cargo run -p ember-parse-example                  # the shipped Prometheus 2.42 scrape
//! cargo run -p ember-parse-example -- path/to/file  # text 0.0.4, or OpenMetrics if it ends with `# EOF`
//! ```
//!
//! Shipped payloads (`data/`), scraped over HTTP from locally running exposers:
//! `prometheus.txt` (Prometheus 2.42's own `/metrics`, text 0.0.4), and
//! `python_client.txt` / `python_client.om.txt` (a `prometheus_client` app, text and
//! OpenMetrics).
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;
use std::time::Instant;

use ember_exposition::{MetricFamily, openmetrics, text};

const DEFAULT: &str = include_str!("../data/prometheus.txt");

fn is_openmetrics(input: &str) -> bool {
    input.trim_end().ends_with("# EOF")
}

fn summarize(input: &str) -> Result<String, ember_exposition::ParseError> {
    let om = is_openmetrics(input);
    let start = Instant::now();
    let families: Vec<MetricFamily> = if om { openmetrics::parse(input)? } else { text::parse(input)? };
    let owned = start.elapsed();
    let start = Instant::now();
    let mut streamed = 0usize;
    if om {
        for e in openmetrics::Parser::new(input) {
            streamed += usize::from(matches!(e?, ember_exposition::Entry::Sample(_)));
        }
    } else {
        for e in text::Parser::new(input) {
            streamed += usize::from(matches!(e?, ember_exposition::Entry::Sample(_)));
        }
    }
    let streaming = start.elapsed();

    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut samples = 0;
    let mut all_series = HashSet::new();
    let mut top: Vec<(usize, &str)> = Vec::new();
    for f in &families {
        *by_type.entry(f.metric_type.as_str()).or_default() += 1;
        samples += f.samples.len();
        let series: HashSet<_> = f.samples.iter().map(|s| s.series_labels()).collect();
        top.push((series.len(), &f.name));
        all_series.extend(series);
    }
    top.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));

    let mut out = String::new();
    use std::fmt::Write;
    let format = if om { "OpenMetrics 1.0" } else { "text 0.0.4" };
    writeln!(out, "format:   {format}, {} bytes", input.len()).unwrap();
    writeln!(out, "families: {}", families.len()).unwrap();
    for (t, n) in &by_type {
        writeln!(out, "  {t:<15} {n}").unwrap();
    }
    writeln!(out, "samples:  {samples} (streaming parser saw {streamed})").unwrap();
    writeln!(out, "series:   {}", all_series.len()).unwrap();
    writeln!(out, "top families by series:").unwrap();
    for (n, name) in top.iter().take(5) {
        writeln!(out, "  {n:>5}  {name}").unwrap();
    }
    writeln!(out, "parse time: owned {owned:?}, streaming {streaming:?}").unwrap();
    Ok(out)
}

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    let owned;
    let (input, source) = match &arg {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(s) => {
                owned = s;
                (owned.as_str(), path.as_str())
            }
            Err(e) => {
                eprintln!("error: reading {path}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => (DEFAULT, "data/prometheus.txt (shipped)"),
    };
    println!("payload:  {source}");
    match summarize(input) {
        Ok(s) => {
            print!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {source}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_payloads_parse() {
        for (name, input) in [
            ("prometheus.txt", DEFAULT),
            ("python_client.txt", include_str!("../data/python_client.txt")),
            ("python_client.om.txt", include_str!("../data/python_client.om.txt")),
        ] {
            let summary = summarize(input).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(summary.contains("series:"), "{name}");
        }
        assert!(is_openmetrics(include_str!("../data/python_client.om.txt")));
        assert!(!is_openmetrics(DEFAULT));
    }

    #[test]
    fn malformed_payload_reports_line_and_column() {
        let err = summarize("# TYPE a gauge\na{b=\"c\" d=\"e\"} 1\n").unwrap_err();
        assert_eq!(err.to_string(), "line 2, column 9: expected ',' or '}' after label, found 'd'");
    }
}
