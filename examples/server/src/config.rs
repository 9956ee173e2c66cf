//! `prometheus.yml` as the server reads it: `global` and `scrape_configs` through
//! ember-discovery, plus `rule_files` and `alerting`.
//!
//! ## The embedded dispatcher (an Ember extension)
//!
//! Besides Prometheus's `alerting.alertmanagers` (external Alertmanagers), the
//! `alerting` section takes one Ember-only key, `alertmanager_config_file`: the path of
//! an `alertmanager.yml`, relative to this file's directory. When it is set, alerts of
//! the rule manager also go to an in-process Alertmanager-like dispatcher (routing,
//! grouping, inhibition, silences, webhook/Slack/PagerDuty delivery) and the
//! Alertmanager API v2 is served under `/api/v2/` on the server's listener. Both may be
//! on together:
//!
//! ```yaml
//! alerting:
//!   alertmanager_config_file: alertmanager.yml   # embedded dispatcher
//!   alertmanagers:                               # and/or external Alertmanagers
//!     - static_configs: [{targets: ['am:9093']}]
//! ```
//!
//! The referenced file is read and validated together with this one (at start, on
//! reload and by `ember check config`): a bad `alertmanager.yml` fails the whole load,
//! naming that file and the line of the problem.
//!
//! ## External Alertmanagers
//!
//! Each `alerting.alertmanagers` entry takes `static_configs`, `scheme`, `path_prefix`,
//! `timeout`, `api_version` (`v2`) and the `<http_config>` settings inline (`basic_auth`,
//! `authorization`, `tls_config`, `http_headers`, proxy settings). A reload rebuilds the
//! sets; alerts still queued go to the new ones ([`crate::notifier`]).
//!
//! ## Secrets
//!
//! [`ServerConfig::source`] and [`EmbeddedAlertmanagerConfig::source`] hold the files as
//! read, secrets included; the API serves only the `redacted` text ([`crate::redact`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ember_discovery::config::{
    Authorization, BasicAuth, Config as ScrapeConfig, HeaderValues, HttpClientConfig, TlsConfig,
};
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
    /// `basic_auth` (an `<http_config>` setting, inline as in Prometheus).
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`.
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// `tls_config`.
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    /// `follow_redirects` (default true).
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// `enable_http2` (default true).
    #[serde(default)]
    pub enable_http2: Option<bool>,
    /// `proxy_url`.
    #[serde(default)]
    pub proxy_url: Option<String>,
    /// `no_proxy`.
    #[serde(default)]
    pub no_proxy: Option<String>,
    /// `proxy_from_environment`.
    #[serde(default)]
    pub proxy_from_environment: Option<bool>,
    /// `proxy_connect_header`.
    #[serde(default)]
    pub proxy_connect_header: std::collections::BTreeMap<String, Vec<String>>,
    /// `http_headers`.
    #[serde(default)]
    pub http_headers: std::collections::BTreeMap<String, HeaderValues>,
}

impl AlertmanagerConfig {
    /// The `<http_config>` settings of this set, for the HTTP client.
    pub fn http_client_config(&self) -> HttpClientConfig {
        let d = HttpClientConfig::default();
        HttpClientConfig {
            basic_auth: self.basic_auth.clone(),
            authorization: self.authorization.clone(),
            follow_redirects: self.follow_redirects.unwrap_or(d.follow_redirects),
            enable_http2: self.enable_http2.unwrap_or(d.enable_http2),
            tls_config: self.tls_config.clone().unwrap_or_default(),
            proxy_url: self.proxy_url.clone(),
            no_proxy: self.no_proxy.clone(),
            proxy_from_environment: self.proxy_from_environment.unwrap_or(d.proxy_from_environment),
            proxy_connect_header: self.proxy_connect_header.clone(),
            http_headers: self.http_headers.clone(),
        }
    }
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
    /// Ember extension: an `alertmanager.yml` (relative to the configuration file's
    /// directory) that turns on the embedded dispatcher.
    #[serde(default)]
    pub alertmanager_config_file: Option<String>,
}

/// The embedded dispatcher's configuration, read from `alerting.alertmanager_config_file`.
#[derive(Debug, Clone)]
pub struct EmbeddedAlertmanagerConfig {
    /// The file, resolved against the configuration file's directory.
    pub path: PathBuf,
    /// Its text as read, secrets included: never serve it.
    pub source: String,
    /// Its text with secrets hidden ([`crate::redact`]), for `GET /api/v2/status`.
    pub redacted: String,
    /// The parsed and validated configuration.
    pub config: Arc<ember_alerting::dispatch::Config>,
}

impl EmbeddedAlertmanagerConfig {
    /// Reads and validates `path`; errors name the file and, where known, the line.
    pub fn load(path: &Path) -> Result<EmbeddedAlertmanagerConfig, ConfigFileError> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| ConfigFileError { file: path.to_path_buf(), message: e.to_string() })?;
        let err = |message: String| ConfigFileError { file: path.to_path_buf(), message: scrub(&source, &message) };
        let config = ember_alerting::dispatch::Config::from_yaml(&source).map_err(|e| err(e.to_string()))?;
        let redacted = crate::redact::redact_secrets(&source).map_err(|e| err(e.to_string()))?;
        Ok(EmbeddedAlertmanagerConfig { path: path.to_path_buf(), source, redacted, config: Arc::new(config) })
    }
}

#[derive(Deserialize)]
struct OtherSections {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    alerting: AlertingSection,
    #[serde(default)]
    storage: StorageSection,
    #[serde(flatten)]
    _rest: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
}

/// The `storage` section (only `exemplars` is read here; `tsdb` is ignored).
#[derive(Deserialize, Default)]
struct StorageSection {
    #[serde(default)]
    exemplars: ExemplarsSection,
}

/// `storage.exemplars`.
#[derive(Deserialize)]
struct ExemplarsSection {
    /// Negative counts as 0 (no exemplars kept), as in Prometheus.
    #[serde(default = "default_max_exemplars")]
    max_exemplars: i64,
}

impl Default for ExemplarsSection {
    fn default() -> Self {
        ExemplarsSection { max_exemplars: default_max_exemplars() }
    }
}

/// Prometheus's default `storage.exemplars.max_exemplars`.
pub const DEFAULT_MAX_EXEMPLARS: usize = 100_000;

fn default_max_exemplars() -> i64 {
    DEFAULT_MAX_EXEMPLARS as i64
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
    /// The file's text as read, secrets included: never serve it.
    pub source: String,
    /// The file's text with secrets hidden ([`crate::redact`]), for `/api/v1/status/config`.
    pub redacted: String,
    /// The embedded dispatcher's configuration, when `alerting.alertmanager_config_file` is set.
    pub embedded_alertmanager: Option<EmbeddedAlertmanagerConfig>,
    /// `storage.exemplars.max_exemplars` (default 100000; used with
    /// `--enable-feature=exemplar-storage`).
    pub max_exemplars: usize,
}

impl ServerConfig {
    /// Parses configuration text; `base_dir` resolves relative paths.
    pub fn parse(file: &Path, text: &str, base_dir: &Path) -> Result<ServerConfig, ConfigFileError> {
        let err = |message: String| ConfigFileError { file: file.to_path_buf(), message: scrub(text, &message) };
        let mut scrape = ScrapeConfig::from_yaml(text).map_err(|e| err(e.to_string()))?;
        scrape.resolve_paths(base_dir);
        let other: OtherSections = if text.trim().is_empty() {
            OtherSections {
                rule_files: Vec::new(),
                alerting: AlertingSection::default(),
                storage: StorageSection::default(),
                _rest: Default::default(),
            }
        } else {
            serde_norway::from_str(text).map_err(|e| err(e.to_string()))?
        };
        let redacted = crate::redact::redact_secrets(text).map_err(|e| err(e.to_string()))?;
        let embedded_alertmanager = match &other.alerting.alertmanager_config_file {
            Some(f) if f.trim().is_empty() => {
                return Err(err("alerting.alertmanager_config_file: must not be empty".into()));
            }
            Some(f) => Some(EmbeddedAlertmanagerConfig::load(&base_dir.join(f))?),
            None => None,
        };
        Ok(ServerConfig {
            scrape,
            rule_files: other.rule_files,
            alerting: other.alerting,
            base_dir: base_dir.to_path_buf(),
            source: text.to_owned(),
            redacted,
            embedded_alertmanager,
            max_exemplars: usize::try_from(other.storage.exemplars.max_exemplars).unwrap_or(0),
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

/// A parser's message about `text`, without the secret values `text` holds (section
/// parsers quote offending values, which may be a secret such as a webhook URL).
fn scrub(text: &str, message: &str) -> String {
    crate::redact::scrub(message, &crate::redact::secret_values(text))
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
    fn embedded_alertmanager_file_is_read_relative_and_validated() {
        let dir = tempfile::tempdir().unwrap();
        let y = "alerting:\n  alertmanager_config_file: am/alertmanager.yml\n";
        std::fs::create_dir(dir.path().join("am")).unwrap();
        let am = dir.path().join("am/alertmanager.yml");
        std::fs::write(&am, "route:\n  receiver: r\nreceivers:\n- name: r\n").unwrap();
        let c = ServerConfig::parse(Path::new("p.yml"), y, dir.path()).unwrap();
        let e = c.embedded_alertmanager.as_ref().unwrap();
        assert_eq!(e.path, am);
        assert_eq!(e.config.receivers[0].name, "r");
        // A bad file fails the load, naming the file and the line.
        std::fs::write(&am, "route:\n  receiver: r\nreceivers:\n- name: r\n  bogus: 1\n").unwrap();
        let err = ServerConfig::parse(Path::new("p.yml"), y, dir.path()).unwrap_err();
        assert_eq!(err.file, am);
        assert!(err.message.contains("line 5") && err.message.contains("bogus"), "{err}");
        std::fs::remove_file(&am).unwrap();
        let err = ServerConfig::parse(Path::new("p.yml"), y, dir.path()).unwrap_err();
        assert_eq!(err.file, am, "{err}");
        let none = ServerConfig::parse(Path::new("p.yml"), "alerting: {}\n", dir.path()).unwrap();
        assert!(none.embedded_alertmanager.is_none());
    }

    #[test]
    fn errors_do_not_quote_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let am = dir.path().join("am.yml");
        std::fs::write(
            &am,
            "route:\n  receiver: r\nreceivers:\n- name: r\n  webhook_configs:\n  - url: ftp://h/t0ps3cret\n",
        )
        .unwrap();
        let y = "alerting:\n  alertmanager_config_file: am.yml\n";
        let err = ServerConfig::parse(Path::new("p.yml"), y, dir.path()).unwrap_err();
        assert!(err.message.contains("webhook_configs[0].url") && err.message.contains("<secret>"), "{err}");
        assert!(!err.message.contains("t0ps3cret"), "{err}");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"*.yml", b"a.yml"));
        assert!(wildcard_match(b"r?.yml", b"r1.yml"));
        assert!(!wildcard_match(b"*.yml", b"a.yaml"));
        assert!(wildcard_match(b"*", b""));
    }
}
