//! `prometheus.yml` as the server reads it: `global` and `scrape_configs` through
//! ember-discovery, plus `rule_files` and `alerting`.

use std::fmt;
use std::path::{Path, PathBuf};

use ember_discovery::config::Config as ScrapeConfig;
use serde::Deserialize;

/// A configuration problem, naming the file.
#[derive(Debug)]
pub struct ConfigFileError {
    /// The file.
    pub file: PathBuf,
    /// What is wrong (from the section's own parser, which names field and position).
    pub message: String,
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

impl std::error::Error for ConfigFileError {}

/// One external Alertmanager set from `alerting.alertmanagers`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// `http` or `https`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Prefix for the API path.
    #[serde(default)]
    pub path_prefix: String,
    /// Per-request timeout (`10s`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// `v2` (the only version Prometheus 3 speaks).
    #[serde(default)]
    pub api_version: Option<String>,
    /// Static targets.
    #[serde(default)]
    pub static_configs: Vec<StaticTargets>,
}

fn default_scheme() -> String {
    "http".to_owned()
}

/// A `static_configs` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticTargets {
    /// `host:port` addresses.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels (unused for Alertmanagers beyond relabeling).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The `alerting` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertingSection {
    /// Relabeling applied to alerts before they are sent.
    #[serde(default)]
    pub alert_relabel_configs: Vec<ember_exposition::relabel::RelabelConfig>,
    /// External Alertmanagers.
    #[serde(default)]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

#[derive(Deserialize)]
struct OtherSections {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    alerting: AlertingSection,
    #[serde(flatten)]
    _rest: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
}

/// The whole server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `global` and `scrape_configs`.
    pub scrape: ScrapeConfig,
    /// Rule file patterns, relative to the config file's directory.
    pub rule_files: Vec<String>,
    /// The `alerting` section.
    pub alerting: AlertingSection,
    /// The directory relative paths resolve against.
    pub base_dir: PathBuf,
    /// The file's text, for `/api/v1/status/config`.
    pub source: String,
}

impl ServerConfig {
    /// Parses configuration text; `base_dir` resolves relative paths.
    pub fn parse(file: &Path, text: &str, base_dir: &Path) -> Result<ServerConfig, ConfigFileError> {
        let err = |message: String| ConfigFileError { file: file.to_path_buf(), message };
        let mut scrape = ScrapeConfig::from_yaml(text).map_err(|e| err(e.to_string()))?;
        scrape.resolve_paths(base_dir);
        let other: OtherSections = if text.trim().is_empty() {
            OtherSections { rule_files: Vec::new(), alerting: AlertingSection::default(), _rest: Default::default() }
        } else {
            serde_norway::from_str(text).map_err(|e| err(e.to_string()))?
        };
        Ok(ServerConfig {
            scrape,
            rule_files: other.rule_files,
            alerting: other.alerting,
            base_dir: base_dir.to_path_buf(),
            source: text.to_owned(),
        })
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigFileError { file: path.to_path_buf(), message: e.to_string() })?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        ServerConfig::parse(path, &text, dir)
    }

    /// The rule files the patterns match now (a `*` or `?` may appear in the last path
    /// segment), sorted and without duplicates.
    pub fn rule_file_paths(&self) -> Result<Vec<PathBuf>, ConfigFileError> {
        let mut out = Vec::new();
        for pat in &self.rule_files {
            let path = self.base_dir.join(pat);
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !name.contains(['*', '?']) {
                out.push(path);
                continue;
            }
            let dir = path.parent().unwrap_or(Path::new("."));
            let entries = std::fs::read_dir(dir).map_err(|e| ConfigFileError {
                file: dir.to_path_buf(),
                message: format!("rule_files pattern {pat:?}: {e}"),
            })?;
            for e in entries.flatten() {
                if wildcard_match(name.as_bytes(), e.file_name().to_string_lossy().as_bytes()) && e.path().is_file() {
                    out.push(e.path());
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// `*` matches any run of bytes, `?` one byte.
fn wildcard_match(pat: &[u8], s: &[u8]) -> bool {
    match (pat.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard_match(&pat[1..], s) || (!s.is_empty() && wildcard_match(pat, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard_match(&pat[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard_match(&pat[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_read_and_unknown_fields_rejected() {
        let y = "global:\n  scrape_interval: 15s\nrule_files: ['rules/*.yml']\nalerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['127.0.0.1:9093']\nscrape_configs:\n- job_name: self\n  static_configs:\n  - targets: ['127.0.0.1:9090']\n";
        let c = ServerConfig::parse(Path::new("p.yml"), y, Path::new("/etc/ember")).unwrap();
        assert_eq!(c.rule_files, vec!["rules/*.yml"]);
        assert_eq!(c.alerting.alertmanagers[0].static_configs[0].targets, vec!["127.0.0.1:9093"]);
        assert_eq!(c.scrape.scrape_configs.len(), 1);
        let bad = "alerting:\n  alertmanager: []\n";
        let e = ServerConfig::parse(Path::new("p.yml"), bad, Path::new(".")).unwrap_err();
        assert!(e.to_string().starts_with("p.yml: "), "{e}");
        assert!(e.to_string().contains("alertmanager"), "{e}");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"*.yml", b"a.yml"));
        assert!(wildcard_match(b"r?.yml", b"r1.yml"));
        assert!(!wildcard_match(b"*.yml", b"a.yaml"));
        assert!(wildcard_match(b"*", b""));
    }
}
