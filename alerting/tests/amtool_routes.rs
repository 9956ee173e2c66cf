//! Routing agrees with the real Alertmanager.
//!
//! `testdata/routes/*.yml` are three non-trivial configurations; `*.labels` hold one
//! label set per line (as `amtool` arguments); `*.golden` hold what
//! `amtool config routes test --config.file=X.yml <labels>` printed for each line
//! (amtool 0.25.0, Debian's prometheus-alertmanager).
//!
//! - `golden_routes` always runs: Ember's answer must equal the recorded amtool output.
//! - `live_amtool_routes` is opt-in: set `EMBER_AMTOOL=1` (and optionally
//!   `EMBER_AMTOOL_BIN=/path/to/amtool`, default `amtool` on `PATH`) to run amtool for
//!   every label set and compare with Ember's [`format_amtool_routes`] byte for byte:
//!   `EMBER_AMTOOL=1 cargo test -p ember-alerting --test amtool_routes`.

use std::path::PathBuf;

use ember_alerting::dispatch::{Config, format_amtool_routes, parse_matcher};
use ember_exposition::{Labels, MatchType};

const CONFIGS: [&str; 3] = ["nested", "continue", "realistic"];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/routes")
}

/// Parses amtool's `name=value` arguments into a label set.
fn labels_of(args: &[&str]) -> Labels {
    Labels::from_pairs(args.iter().map(|a| {
        let m = parse_matcher(a).unwrap_or_else(|e| panic!("bad label argument {a}: {e}"));
        assert_eq!(m.kind(), MatchType::Equal, "{a}");
        (m.name().to_string(), m.value().to_string())
    }))
}

fn label_lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(dir().join(format!("{name}.labels")))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn ember_routes(cfg: &Config, line: &str) -> String {
    let args: Vec<&str> = line.split_whitespace().collect();
    format_amtool_routes(&cfg.route.receivers_for(&labels_of(&args)))
}

#[test]
fn golden_routes() {
    let mut checked = 0;
    for name in CONFIGS {
        let cfg = Config::from_file(dir().join(format!("{name}.yml"))).unwrap();
        let golden = std::fs::read_to_string(dir().join(format!("{name}.golden"))).unwrap();
        let lines = label_lines(name);
        assert!(lines.len() >= 30, "{name}: want at least 30 label sets");
        let golden: Vec<&str> = golden.lines().collect();
        assert_eq!(golden.len(), lines.len(), "{name}: golden file out of date");
        for (line, want) in lines.iter().zip(golden) {
            let (glabels, want) = want.split_once(" => ").unwrap();
            assert_eq!(glabels, line, "{name}: golden file out of date");
            assert_eq!(ember_routes(&cfg, line), format!("{want}\n"), "{name}: {line}");
            checked += 1;
        }
    }
    assert!(checked >= 90);
}

#[test]
fn live_amtool_routes() {
    if std::env::var("EMBER_AMTOOL").as_deref() != Ok("1") {
        eprintln!("skipping: set EMBER_AMTOOL=1 to compare against a real amtool");
        return;
    }
    let bin = std::env::var("EMBER_AMTOOL_BIN").unwrap_or_else(|_| "amtool".into());
    let (mut agree, mut total) = (0, 0);
    let mut failures = Vec::new();
    for name in CONFIGS {
        let path = dir().join(format!("{name}.yml"));
        let cfg = Config::from_file(&path).unwrap();
        for line in label_lines(name) {
            let out = std::process::Command::new(&bin)
                .arg("config")
                .arg("routes")
                .arg("test")
                .arg(format!("--config.file={}", path.display()))
                .args(line.split_whitespace())
                .output()
                .unwrap_or_else(|e| panic!("running {bin}: {e}"));
            assert!(out.status.success(), "amtool failed on {name}: {line}: {}", String::from_utf8_lossy(&out.stderr));
            let theirs = String::from_utf8(out.stdout).unwrap();
            let ours = ember_routes(&cfg, &line);
            total += 1;
            if theirs == ours {
                agree += 1;
            } else {
                failures.push(format!("{name}: {line}: amtool {theirs:?}, ember {ours:?}"));
            }
        }
    }
    eprintln!("amtool agreement: {agree}/{total}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
