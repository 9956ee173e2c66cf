//! Typed configuration: the `global` and `scrape_configs` parts of `prometheus.yml`, with
//! Prometheus's field names, defaults and validation.
//!
//! [`Config::from_yaml`] decodes (unknown fields are errors, with the YAML path and line),
//! fills in what scrape configs inherit from `global`, and validates. The other top-level
//! sections of `prometheus.yml` (`rule_files`, `alerting`, `remote_write`, ...) are accepted
//! and left for the crates that own them.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use ember_exposition::relabel::{Relabel, RelabelConfig, RelabelError};
use serde::{Deserialize, Serialize};

use crate::units::{ByteSize, PromDuration};

/// Where a configuration problem is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The job (scrape config) the problem is in, when it is in one.
    pub job: Option<String>,
    /// The YAML path of the offending field, e.g. `scrape_configs[0].scrape_timeout`; empty
    /// when the problem is with the document as a whole.
    pub path: String,
    /// 1-based line of the offending value, when the YAML decoder knows it.
    pub line: Option<usize>,
    /// 1-based column of the offending value, when the YAML decoder knows it.
    pub column: Option<usize>,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// What is wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The YAML does not decode into the schema: bad syntax, an unknown field, a value of the
    /// wrong type or format (the decoder's message, which names the field).
    Decode(String),
    /// The file could not be read.
    Io(String),
    /// A required field is missing or empty.
    Missing(&'static str),
    /// `scrape_timeout` is greater than `scrape_interval`.
    TimeoutExceedsInterval,
    /// Two scrape configs share a `job_name`.
    DuplicateJobName,
    /// A protocol appears twice in `scrape_protocols`.
    DuplicateProtocol(ScrapeProtocol),
    /// Two fields that exclude each other are both set.
    MutuallyExclusive(&'static str, &'static str),
    /// A field's value is not allowed; the string says why.
    Invalid(String),
    /// A relabel rule does not validate.
    Relabel(RelabelError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ConfigErrorKind::Decode(m) = &self.kind {
            // The decoder's message already carries the path and the position.
            f.write_str(m)?;
        } else {
            if !self.path.is_empty() {
                write!(f, "{}: ", self.path)?;
            }
            match &self.kind {
                ConfigErrorKind::Decode(_) => {}
                ConfigErrorKind::Io(m) => write!(f, "cannot read configuration: {m}")?,
                ConfigErrorKind::Missing(what) => write!(f, "{what} must be set")?,
                ConfigErrorKind::TimeoutExceedsInterval => {
                    f.write_str("scrape timeout greater than scrape interval")?
                }
                ConfigErrorKind::DuplicateJobName => f.write_str("found multiple scrape configs with this job name")?,
                ConfigErrorKind::DuplicateProtocol(p) => write!(f, "duplicated protocol {p} in scrape_protocols")?,
                ConfigErrorKind::MutuallyExclusive(a, b) => write!(f, "at most one of {a} and {b} may be set")?,
                ConfigErrorKind::Invalid(m) => f.write_str(m)?,
                ConfigErrorKind::Relabel(e) => write!(f, "{e}")?,
            }
        }
        if let Some(job) = &self.job {
            write!(f, " (scrape config with job name {job:?})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The crate's result type for configuration.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// Builds errors for one place in the document.
struct At<'a> {
    job: Option<&'a str>,
    path: String,
}

impl At<'_> {
    fn err(&self, field: &str, kind: ConfigErrorKind) -> ConfigError {
        let path = match (self.path.is_empty(), field.is_empty()) {
            (true, _) => field.to_string(),
            (false, true) => self.path.clone(),
            (false, false) => format!("{}.{field}", self.path),
        };
        ConfigError { job: self.job.map(str::to_string), path, line: None, column: None, kind }
    }

    fn sub(&self, field: &str) -> Self {
        At {
            job: self.job,
            path: if self.path.is_empty() { field.to_string() } else { format!("{}.{field}", self.path) },
        }
    }
}

/// A scrape protocol to negotiate with targets, with Prometheus's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum ScrapeProtocol {
    /// The protobuf format (`application/vnd.google.protobuf`).
    PrometheusProto,
    /// OpenMetrics text 0.0.1.
    #[serde(rename = "OpenMetricsText0.0.1")]
    OpenMetricsText0_0_1,
    /// OpenMetrics text 1.0.0.
    #[serde(rename = "OpenMetricsText1.0.0")]
    OpenMetricsText1_0_0,
    /// The Prometheus text format 0.0.4.
    #[serde(rename = "PrometheusText0.0.4")]
    PrometheusText0_0_4,
    /// The Prometheus text format 1.0.0 (UTF-8 names).
    #[serde(rename = "PrometheusText1.0.0")]
    PrometheusText1_0_0,
}

impl ScrapeProtocol {
    /// The name as written in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
            ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
            ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
        }
    }

    /// The negotiation order used when neither `global` nor the scrape config sets
    /// `scrape_protocols`, which depends on whether native histograms are scraped.
    pub fn defaults(native_histograms: bool) -> Vec<ScrapeProtocol> {
        use ScrapeProtocol as P;
        let text = [P::OpenMetricsText1_0_0, P::OpenMetricsText0_0_1, P::PrometheusText1_0_0, P::PrometheusText0_0_4];
        native_histograms.then_some(P::PrometheusProto).into_iter().chain(text).collect()
    }
}

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The whole configuration this crate reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// Defaults for every scrape config.
    pub global: GlobalConfig,
    /// One entry per job, with inherited values filled in.
    pub scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: GlobalConfig,
    #[serde(default)]
    scrape_configs: Vec<ScrapeConfig>,
    // Sections owned by other crates: accepted here, decoded there.
    #[serde(default, rename = "rule_files")]
    _rule_files: serde::de::IgnoredAny,
    #[serde(default, rename = "scrape_config_files")]
    _scrape_config_files: serde::de::IgnoredAny,
    #[serde(default, rename = "alerting")]
    _alerting: serde::de::IgnoredAny,
    #[serde(default, rename = "remote_write")]
    _remote_write: serde::de::IgnoredAny,
    #[serde(default, rename = "remote_read")]
    _remote_read: serde::de::IgnoredAny,
    #[serde(default, rename = "storage")]
    _storage: serde::de::IgnoredAny,
    #[serde(default, rename = "tracing")]
    _tracing: serde::de::IgnoredAny,
    #[serde(default, rename = "runtime")]
    _runtime: serde::de::IgnoredAny,
    #[serde(default, rename = "otlp")]
    _otlp: serde::de::IgnoredAny,
}

/// The `global` section (the parts scrape configs inherit, plus the rest decoded for
/// completeness).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalConfig {
    /// Default scrape interval; `1m`.
    pub scrape_interval: PromDuration,
    /// Default scrape timeout; `10s`, or the interval when that is shorter and the timeout
    /// was not set.
    pub scrape_timeout: Option<PromDuration>,
    /// Default negotiation order; unset means [`ScrapeProtocol::defaults`].
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    /// Rule evaluation interval; `1m`.
    pub evaluation_interval: PromDuration,
    /// Rule query offset; `0s`.
    pub rule_query_offset: PromDuration,
    /// Labels added when talking to external systems.
    pub external_labels: BTreeMap<String, String>,
    /// PromQL query log file.
    pub query_log_file: Option<String>,
    /// Scrape failure log file.
    pub scrape_failure_log_file: Option<String>,
    /// Default body size limit; 0 means none.
    pub body_size_limit: ByteSize,
    /// Default sample limit; 0 means none.
    pub sample_limit: u64,
    /// Default label limit; 0 means none.
    pub label_limit: u64,
    /// Default label name length limit; 0 means none.
    pub label_name_length_limit: u64,
    /// Default label value length limit; 0 means none.
    pub label_value_length_limit: u64,
    /// Default target limit; 0 means none.
    pub target_limit: u64,
    /// Default number of dropped targets kept; 0 means all.
    pub keep_dropped_targets: u64,
    /// `utf8` (default) or `legacy`.
    pub metric_name_validation_scheme: Option<String>,
    /// `allow-utf-8`, `underscores`, `dots` or `values`.
    pub metric_name_escaping_scheme: Option<String>,
    /// Whether native histograms are scraped by default.
    pub scrape_native_histograms: Option<bool>,
    /// Whether classic histogram parts are always scraped.
    pub always_scrape_classic_histograms: Option<bool>,
    /// Whether classic histograms become native histograms with custom buckets.
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    /// Whether the extra scrape metrics are stored.
    pub extra_scrape_metrics: Option<bool>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: PromDuration::from_secs(60),
            scrape_timeout: None,
            scrape_protocols: None,
            evaluation_interval: PromDuration::from_secs(60),
            rule_query_offset: PromDuration::default(),
            external_labels: BTreeMap::new(),
            query_log_file: None,
            scrape_failure_log_file: None,
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            target_limit: 0,
            keep_dropped_targets: 0,
            metric_name_validation_scheme: None,
            metric_name_escaping_scheme: None,
            scrape_native_histograms: None,
            always_scrape_classic_histograms: None,
            convert_classic_histograms_to_nhcb: None,
            extra_scrape_metrics: None,
        }
    }
}

/// The default scrape timeout.
pub const DEFAULT_SCRAPE_TIMEOUT: PromDuration = PromDuration::from_secs(10);

impl GlobalConfig {
    /// The effective default scrape timeout.
    pub fn timeout(&self) -> PromDuration {
        self.scrape_timeout.unwrap_or(DEFAULT_SCRAPE_TIMEOUT.min(self.scrape_interval))
    }

    fn validate(&mut self) -> Result<()> {
        let at = At { job: None, path: "global".into() };
        if self.scrape_interval.0.is_zero() {
            return Err(at.err("scrape_interval", ConfigErrorKind::Invalid("scrape interval must be positive".into())));
        }
        if self.timeout() > self.scrape_interval {
            return Err(at.err("scrape_timeout", ConfigErrorKind::TimeoutExceedsInterval));
        }
        self.scrape_timeout = Some(self.timeout());
        if let Some(p) = &self.scrape_protocols {
            check_protocols(&at, p)?;
        }
        if let Some(s) = &self.metric_name_validation_scheme
            && !matches!(s.as_str(), "" | "utf8" | "legacy")
        {
            return Err(at.err(
                "metric_name_validation_scheme",
                ConfigErrorKind::Invalid(format!("unknown name validation scheme {s:?}")),
            ));
        }
        if let Some(s) = &self.metric_name_escaping_scheme
            && !matches!(s.as_str(), "" | "allow-utf-8" | "underscores" | "dots" | "values")
        {
            return Err(at.err(
                "metric_name_escaping_scheme",
                ConfigErrorKind::Invalid(format!("unknown escaping scheme {s:?}")),
            ));
        }
        for name in self.external_labels.keys() {
            if name.is_empty() {
                return Err(at.err("external_labels", ConfigErrorKind::Invalid("empty label name".into())));
            }
        }
        Ok(())
    }
}

fn check_protocols(at: &At<'_>, protocols: &[ScrapeProtocol]) -> Result<()> {
    let mut seen = HashSet::new();
    for p in protocols {
        if !seen.insert(*p) {
            return Err(at.err("scrape_protocols", ConfigErrorKind::DuplicateProtocol(*p)));
        }
    }
    if protocols.is_empty() {
        return Err(at.err("scrape_protocols", ConfigErrorKind::Missing("at least one protocol")));
    }
    Ok(())
}

/// `basic_auth`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    pub username: Option<String>,
    /// A file holding the user name.
    pub username_file: Option<String>,
    /// The password.
    pub password: Option<String>,
    /// A file holding the password.
    pub password_file: Option<String>,
}

/// `authorization`: an `Authorization: <type> <credentials>` header.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Authorization {
    /// The scheme; default `Bearer`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The credentials.
    pub credentials: Option<String>,
    /// A file holding the credentials, re-read on every request.
    pub credentials_file: Option<String>,
}

impl Authorization {
    /// The scheme, `Bearer` unless set.
    pub fn scheme(&self) -> &str {
        self.kind.as_deref().filter(|s| !s.is_empty()).unwrap_or("Bearer")
    }
}

/// `tls_config`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM CA certificates, inline.
    pub ca: Option<String>,
    /// A file of PEM CA certificates.
    pub ca_file: Option<String>,
    /// PEM client certificate, inline.
    pub cert: Option<String>,
    /// A file holding the PEM client certificate.
    pub cert_file: Option<String>,
    /// PEM client key, inline.
    pub key: Option<String>,
    /// A file holding the PEM client key.
    pub key_file: Option<String>,
    /// The SNI server name.
    pub server_name: Option<String>,
    /// Skip verification of the server certificate.
    pub insecure_skip_verify: bool,
    /// `TLS10` .. `TLS13`.
    pub min_version: Option<String>,
    /// `TLS10` .. `TLS13`.
    pub max_version: Option<String>,
}

impl TlsConfig {
    fn validate(&self, at: &At<'_>) -> Result<()> {
        let pairs = [
            (&self.ca, &self.ca_file, "ca", "ca_file"),
            (&self.cert, &self.cert_file, "cert", "cert_file"),
            (&self.key, &self.key_file, "key", "key_file"),
        ];
        for (a, b, na, nb) in pairs {
            if a.is_some() && b.is_some() {
                return Err(at.err("", ConfigErrorKind::MutuallyExclusive(na, nb)));
            }
        }
        let has_cert = self.cert.is_some() || self.cert_file.is_some();
        let has_key = self.key.is_some() || self.key_file.is_some();
        if has_cert != has_key {
            let msg = if has_cert {
                "client cert specified without a client key"
            } else {
                "client key specified without a client cert"
            };
            return Err(at.err("", ConfigErrorKind::Invalid(msg.into())));
        }
        for (v, name) in [(&self.min_version, "min_version"), (&self.max_version, "max_version")] {
            if let Some(v) = v
                && !matches!(v.as_str(), "TLS10" | "TLS11" | "TLS12" | "TLS13")
            {
                return Err(at.err(name, ConfigErrorKind::Invalid(format!("unknown TLS version: {v}"))));
            }
        }
        Ok(())
    }
}

/// One entry of `http_headers`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeaderValues {
    /// Plain values.
    pub values: Vec<String>,
    /// Secret values.
    pub secrets: Vec<String>,
    /// Files to read values from.
    pub files: Vec<String>,
}

/// The `<http_config>` settings shared by scrape configs and HTTP-based discovery.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpClientConfig {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`.
    pub authorization: Option<Authorization>,
    /// `follow_redirects`; default true.
    pub follow_redirects: bool,
    /// `enable_http2`; default true.
    pub enable_http2: bool,
    /// `tls_config`.
    pub tls_config: TlsConfig,
    /// `proxy_url` (parsed and validated; not yet used for connections).
    pub proxy_url: Option<String>,
    /// `no_proxy`.
    pub no_proxy: Option<String>,
    /// `proxy_from_environment`.
    pub proxy_from_environment: bool,
    /// `proxy_connect_header`.
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
    /// `http_headers`.
    pub http_headers: BTreeMap<String, HeaderValues>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            follow_redirects: true,
            enable_http2: true,
            tls_config: TlsConfig::default(),
            proxy_url: None,
            no_proxy: None,
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            http_headers: BTreeMap::new(),
        }
    }
}

impl HttpClientConfig {
    fn validate(&self, at: &At<'_>) -> Result<()> {
        if self.basic_auth.is_some() && self.authorization.is_some() {
            return Err(at.err("", ConfigErrorKind::MutuallyExclusive("basic_auth", "authorization")));
        }
        if let Some(b) = &self.basic_auth {
            let at = at.sub("basic_auth");
            if b.username.is_some() && b.username_file.is_some() {
                return Err(at.err("", ConfigErrorKind::MutuallyExclusive("username", "username_file")));
            }
            if b.password.is_some() && b.password_file.is_some() {
                return Err(at.err("", ConfigErrorKind::MutuallyExclusive("password", "password_file")));
            }
        }
        if let Some(a) = &self.authorization {
            let at = at.sub("authorization");
            if a.credentials.is_some() && a.credentials_file.is_some() {
                return Err(at.err("", ConfigErrorKind::MutuallyExclusive("credentials", "credentials_file")));
            }
            if a.scheme().eq_ignore_ascii_case("basic") {
                return Err(at.err(
                    "type",
                    ConfigErrorKind::Invalid(
                        "authorization type cannot be set to \"basic\", use \"basic_auth\" instead".into(),
                    ),
                ));
            }
        }
        self.tls_config.validate(&at.sub("tls_config"))?;
        if let Some(p) = &self.proxy_url {
            let url = reqwest::Url::parse(p)
                .map_err(|e| at.err("proxy_url", ConfigErrorKind::Invalid(format!("invalid proxy URL {p:?}: {e}"))))?;
            if !matches!(url.scheme(), "http" | "https" | "socks5") {
                return Err(at.err(
                    "proxy_url",
                    ConfigErrorKind::Invalid(format!("unsupported proxy scheme {:?}", url.scheme())),
                ));
            }
            if self.proxy_from_environment {
                return Err(at.err("", ConfigErrorKind::MutuallyExclusive("proxy_url", "proxy_from_environment")));
            }
        } else if self.no_proxy.is_some() {
            return Err(at.err(
                "no_proxy",
                ConfigErrorKind::Invalid("if no_proxy is configured, proxy_url must also be configured".into()),
            ));
        }
        Ok(())
    }
}

/// `static_configs` entries and the groups in `file_sd_configs` files: targets with common
/// labels.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels for every target.
    pub labels: BTreeMap<String, String>,
}

impl StaticConfig {
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        for t in &self.targets {
            if t.contains('/') {
                return Err(format!("{t:?} is not a valid hostname"));
            }
        }
        for name in self.labels.keys() {
            if name.is_empty() {
                return Err(format!("{name:?} is not a valid label name"));
            }
        }
        Ok(())
    }
}

/// `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// Path patterns; the last segment may contain `*`.
    pub files: Vec<String>,
    /// How often to re-read; default `5m`.
    #[serde(default = "five_minutes")]
    pub refresh_interval: PromDuration,
}

fn five_minutes() -> PromDuration {
    PromDuration::from_secs(300)
}

/// The record type a `dns_sd_configs` entry asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
pub enum DnsRecordType {
    /// SRV (the default): host and port from the record.
    #[default]
    #[serde(rename = "SRV")]
    Srv,
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    #[serde(rename = "AAAA")]
    Aaaa,
    /// Mail exchangers.
    #[serde(rename = "MX")]
    Mx,
    /// Name servers.
    #[serde(rename = "NS")]
    Ns,
}

/// `dns_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSdConfig {
    /// Names to query.
    pub names: Vec<String>,
    /// The record type; default SRV.
    #[serde(default, rename = "type")]
    pub record_type: DnsRecordType,
    /// The port for every record type but SRV.
    #[serde(default)]
    pub port: Option<u16>,
    /// How often to re-query; default `30s`.
    #[serde(default = "thirty_seconds")]
    pub refresh_interval: PromDuration,
}

fn thirty_seconds() -> PromDuration {
    PromDuration::from_secs(30)
}

fn sixty_seconds() -> PromDuration {
    PromDuration::from_secs(60)
}

fn default_true() -> bool {
    true
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

/// Makes a relative file name relative to `dir`, as Prometheus does with names in a
/// configuration file.
fn resolve(dir: &Path, f: &mut Option<String>) {
    if let Some(name) = f
        && !name.is_empty()
        && Path::new(name.as_str()).is_relative()
    {
        *name = dir.join(name.as_str()).display().to_string();
    }
}

/// Declares a struct that embeds the `<http_config>` fields inline (serde cannot combine
/// `flatten` with `deny_unknown_fields`), plus an accessor that collects them.
macro_rules! with_http_config {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        pub struct $name {
            $($body)*
            /// `basic_auth` (see [`HttpClientConfig`]).
            #[serde(default)]
            pub basic_auth: Option<BasicAuth>,
            /// `authorization` (see [`HttpClientConfig`]).
            #[serde(default)]
            pub authorization: Option<Authorization>,
            /// `follow_redirects`; default true.
            #[serde(default = "default_true")]
            pub follow_redirects: bool,
            /// `enable_http2`; default true.
            #[serde(default = "default_true")]
            pub enable_http2: bool,
            /// `tls_config`.
            #[serde(default)]
            pub tls_config: TlsConfig,
            /// `proxy_url`.
            #[serde(default)]
            pub proxy_url: Option<String>,
            /// `no_proxy`.
            #[serde(default)]
            pub no_proxy: Option<String>,
            /// `proxy_from_environment`.
            #[serde(default)]
            pub proxy_from_environment: bool,
            /// `proxy_connect_header`.
            #[serde(default)]
            pub proxy_connect_header: BTreeMap<String, Vec<String>>,
            /// `http_headers`.
            #[serde(default)]
            pub http_headers: BTreeMap<String, HeaderValues>,
        }

        impl $name {
            /// Makes the relative file names of the `<http_config>` part relative to `dir`.
            fn resolve_http_paths(&mut self, dir: &Path) {
                if let Some(b) = &mut self.basic_auth {
                    resolve(dir, &mut b.username_file);
                    resolve(dir, &mut b.password_file);
                }
                if let Some(a) = &mut self.authorization {
                    resolve(dir, &mut a.credentials_file);
                }
                let t = &mut self.tls_config;
                for f in [&mut t.ca_file, &mut t.cert_file, &mut t.key_file] {
                    resolve(dir, f);
                }
                for h in self.http_headers.values_mut() {
                    for f in &mut h.files {
                        if Path::new(f.as_str()).is_relative() {
                            *f = dir.join(f.as_str()).display().to_string();
                        }
                    }
                }
            }

            /// The `<http_config>` part of this entry.
            pub fn http_client_config(&self) -> HttpClientConfig {
                HttpClientConfig {
                    basic_auth: self.basic_auth.clone(),
                    authorization: self.authorization.clone(),
                    follow_redirects: self.follow_redirects,
                    enable_http2: self.enable_http2,
                    tls_config: self.tls_config.clone(),
                    proxy_url: self.proxy_url.clone(),
                    no_proxy: self.no_proxy.clone(),
                    proxy_from_environment: self.proxy_from_environment,
                    proxy_connect_header: self.proxy_connect_header.clone(),
                    http_headers: self.http_headers.clone(),
                }
            }
        }
    };
}

with_http_config! {
    /// `http_sd_configs` entry.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct HttpSdConfig {
        /// The URL to fetch groups from.
        pub url: String,
        /// How often to re-fetch; default `60s`.
        #[serde(default = "sixty_seconds")]
        pub refresh_interval: PromDuration,
    }
}

/// The kind of Kubernetes object a `kubernetes_sd_configs` entry discovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KubernetesRole {
    /// One target per node.
    Node,
    /// One target per declared container port (or per container).
    Pod,
    /// One target per service port.
    Service,
    /// One target per endpoint address and port.
    Endpoints,
    /// One target per endpointslice endpoint and port.
    #[serde(rename = "endpointslice")]
    EndpointSlice,
    /// One target per ingress path.
    Ingress,
}

impl KubernetesRole {
    /// The name as written in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            KubernetesRole::Node => "node",
            KubernetesRole::Pod => "pod",
            KubernetesRole::Service => "service",
            KubernetesRole::Endpoints => "endpoints",
            KubernetesRole::EndpointSlice => "endpointslice",
            KubernetesRole::Ingress => "ingress",
        }
    }
}

/// `namespaces` of a Kubernetes SD config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamespaceDiscovery {
    /// Include the namespace Ember runs in (from the service account).
    pub own_namespace: bool,
    /// Namespaces to watch; empty means all (unless `own_namespace`).
    pub names: Vec<String>,
}

/// One `selectors` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSelector {
    /// The role whose list/watch this selector filters.
    pub role: KubernetesRole,
    /// A label selector.
    #[serde(default)]
    pub label: Option<String>,
    /// A field selector.
    #[serde(default)]
    pub field: Option<String>,
}

/// `attach_metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachMetadata {
    /// Attach node labels (pod, endpoints, endpointslice).
    pub node: bool,
    /// Attach namespace labels.
    pub namespace: bool,
    /// Attach the deployment name (pod).
    pub deployment: bool,
    /// Attach the job name (pod).
    pub job: bool,
    /// Attach the cronjob name (pod).
    pub cronjob: bool,
}

with_http_config! {
    /// `kubernetes_sd_configs` entry.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct KubernetesSdConfig {
        /// The API server URL; unset means in-cluster (or `kubeconfig_file`).
        #[serde(default)]
        pub api_server: Option<String>,
        /// What to discover.
        pub role: KubernetesRole,
        /// A kubeconfig file to take the server and credentials from.
        #[serde(default)]
        pub kubeconfig_file: Option<String>,
        /// Which namespaces to watch.
        #[serde(default)]
        pub namespaces: NamespaceDiscovery,
        /// Label and field selectors per role.
        #[serde(default)]
        pub selectors: Vec<KubernetesSelector>,
        /// Extra metadata to attach.
        #[serde(default)]
        pub attach_metadata: AttachMetadata,
    }
}

impl KubernetesSdConfig {
    fn validate(&self, at: &At<'_>) -> Result<()> {
        if self.api_server.is_some() && self.kubeconfig_file.is_some() {
            return Err(at.err("", ConfigErrorKind::MutuallyExclusive("api_server", "kubeconfig_file")));
        }
        if let Some(s) = &self.api_server {
            reqwest::Url::parse(s)
                .map_err(|e| at.err("api_server", ConfigErrorKind::Invalid(format!("invalid URL {s:?}: {e}"))))?;
        }
        if self.kubeconfig_file.is_some() && self.http_client_config() != HttpClientConfig::default() {
            return Err(at.err(
                "",
                ConfigErrorKind::Invalid("cannot use custom HTTP client configuration together with kubeconfig".into()),
            ));
        }
        use KubernetesRole as R;
        let allowed: &[R] = match self.role {
            R::Endpoints | R::EndpointSlice => &[R::Pod, R::Service, self.role],
            R::Pod if self.attach_metadata.node => &[R::Pod, R::Node],
            r => std::slice::from_ref(match r {
                R::Node => &R::Node,
                R::Pod => &R::Pod,
                R::Service => &R::Service,
                R::Ingress => &R::Ingress,
                R::Endpoints | R::EndpointSlice => &R::Endpoints,
            }),
        };
        let mut seen = HashSet::new();
        for (i, s) in self.selectors.iter().enumerate() {
            let at = at.sub(&format!("selectors[{i}]"));
            if !allowed.contains(&s.role) {
                return Err(at.err(
                    "role",
                    ConfigErrorKind::Invalid(format!(
                        "{} role supports only {} selectors",
                        self.role.as_str(),
                        allowed.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                ));
            }
            if !seen.insert(s.role) {
                return Err(
                    at.err("role", ConfigErrorKind::Invalid(format!("duplicated selector role: {}", s.role.as_str())))
                );
            }
        }
        self.http_client_config().validate(at)
    }
}

with_http_config! {
    /// One `scrape_configs` entry. After [`Config::from_yaml`] the inherited `Option` fields
    /// are all `Some`.
    #[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct ScrapeConfig {
        /// The job name, unique across scrape configs.
        pub job_name: String,
        /// How often to scrape; inherits `global.scrape_interval`.
        #[serde(default)]
        pub scrape_interval: Option<PromDuration>,
        /// Per-scrape timeout, at most the interval; inherits `global.scrape_timeout`.
        #[serde(default)]
        pub scrape_timeout: Option<PromDuration>,
        /// Negotiation order; inherits `global.scrape_protocols`.
        #[serde(default)]
        pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
        /// The protocol to assume when the response's content type is unusable.
        #[serde(default)]
        pub fallback_scrape_protocol: Option<ScrapeProtocol>,
        /// The path to scrape; default `/metrics`.
        #[serde(default = "default_metrics_path")]
        pub metrics_path: String,
        /// Keep scraped labels on conflict instead of renaming them `exported_*`.
        #[serde(default)]
        pub honor_labels: bool,
        /// Use the timestamps targets expose; default true.
        #[serde(default = "default_true")]
        pub honor_timestamps: bool,
        /// Write staleness markers for series with explicit timestamps.
        #[serde(default)]
        pub track_timestamps_staleness: bool,
        /// `http` (default) or `https`.
        #[serde(default)]
        pub scheme: Scheme,
        /// URL query parameters.
        #[serde(default)]
        pub params: BTreeMap<String, Vec<String>>,
        /// Ask for compressed responses; default true.
        #[serde(default = "default_true")]
        pub enable_compression: bool,
        /// Scrape failure log file.
        #[serde(default)]
        pub scrape_failure_log_file: Option<String>,
        /// Body size limit; 0 inherits the global one (0 there means none).
        #[serde(default)]
        pub body_size_limit: ByteSize,
        /// Sample limit; 0 inherits.
        #[serde(default)]
        pub sample_limit: u64,
        /// Label limit; 0 inherits.
        #[serde(default)]
        pub label_limit: u64,
        /// Label name length limit; 0 inherits.
        #[serde(default)]
        pub label_name_length_limit: u64,
        /// Label value length limit; 0 inherits.
        #[serde(default)]
        pub label_value_length_limit: u64,
        /// Target limit; 0 inherits.
        #[serde(default)]
        pub target_limit: u64,
        /// Number of dropped targets kept; 0 inherits.
        #[serde(default)]
        pub keep_dropped_targets: u64,
        /// `utf8` or `legacy`; inherits.
        #[serde(default)]
        pub metric_name_validation_scheme: Option<String>,
        /// Escaping scheme; inherits.
        #[serde(default)]
        pub metric_name_escaping_scheme: Option<String>,
        /// Native histogram bucket limit; 0 means none.
        #[serde(default)]
        pub native_histogram_bucket_limit: u64,
        /// Native histogram minimum bucket growth factor.
        #[serde(default)]
        pub native_histogram_min_bucket_factor: f64,
        /// Scrape native histograms; inherits.
        #[serde(default)]
        pub scrape_native_histograms: Option<bool>,
        /// Convert classic histograms to NHCB; inherits.
        #[serde(default)]
        pub convert_classic_histograms_to_nhcb: Option<bool>,
        /// Always scrape classic histogram parts; inherits.
        #[serde(default)]
        pub always_scrape_classic_histograms: Option<bool>,
        /// Store extra scrape metrics; inherits.
        #[serde(default)]
        pub extra_scrape_metrics: Option<bool>,
        /// Target relabeling rules.
        #[serde(default)]
        pub relabel_configs: Vec<RelabelConfig>,
        /// Metric relabeling rules.
        #[serde(default)]
        pub metric_relabel_configs: Vec<RelabelConfig>,
        /// Static targets.
        #[serde(default)]
        pub static_configs: Vec<StaticConfig>,
        /// File-based discovery.
        #[serde(default)]
        pub file_sd_configs: Vec<FileSdConfig>,
        /// DNS-based discovery.
        #[serde(default)]
        pub dns_sd_configs: Vec<DnsSdConfig>,
        /// HTTP-based discovery.
        #[serde(default)]
        pub http_sd_configs: Vec<HttpSdConfig>,
        /// Kubernetes discovery.
        #[serde(default)]
        pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    }
}

impl ScrapeConfig {
    /// A scrape config for `job` with every other field at its default, as if decoded from
    /// `job_name: <job>` under a default `global`.
    pub fn new(job: &str) -> Self {
        let mut c: ScrapeConfig =
            serde_json::from_value(serde_json::json!({ "job_name": job })).expect("defaults decode");
        c.inherit(&GlobalConfig::default());
        c
    }

    /// The scrape interval (inherited value after loading).
    pub fn interval(&self) -> PromDuration {
        self.scrape_interval.unwrap_or(GlobalConfig::default().scrape_interval)
    }

    /// The scrape timeout (inherited value after loading).
    pub fn timeout(&self) -> PromDuration {
        self.scrape_timeout.unwrap_or(DEFAULT_SCRAPE_TIMEOUT.min(self.interval()))
    }

    /// Compiles `relabel_configs`.
    pub fn target_relabel(&self) -> std::result::Result<Vec<Relabel>, RelabelError> {
        self.relabel_configs.iter().cloned().map(Relabel::new).collect()
    }

    /// Compiles `metric_relabel_configs`.
    pub fn metric_relabel(&self) -> std::result::Result<Vec<Relabel>, RelabelError> {
        self.metric_relabel_configs.iter().cloned().map(Relabel::new).collect()
    }

    fn inherit(&mut self, g: &GlobalConfig) {
        let interval = *self.scrape_interval.get_or_insert(g.scrape_interval);
        if self.scrape_timeout.is_none() {
            let t = g.timeout();
            self.scrape_timeout = Some(if t > interval { interval } else { t });
        }
        if self.scrape_native_histograms.is_none() {
            self.scrape_native_histograms = Some(g.scrape_native_histograms.unwrap_or(false));
        }
        if self.scrape_protocols.is_none() {
            self.scrape_protocols = Some(
                g.scrape_protocols
                    .clone()
                    .unwrap_or_else(|| ScrapeProtocol::defaults(self.scrape_native_histograms == Some(true))),
            );
        }
        if self.body_size_limit.0 == 0 {
            self.body_size_limit = g.body_size_limit;
        }
        for (mine, theirs) in [
            (&mut self.sample_limit, g.sample_limit),
            (&mut self.label_limit, g.label_limit),
            (&mut self.label_name_length_limit, g.label_name_length_limit),
            (&mut self.label_value_length_limit, g.label_value_length_limit),
            (&mut self.target_limit, g.target_limit),
            (&mut self.keep_dropped_targets, g.keep_dropped_targets),
        ] {
            if *mine == 0 {
                *mine = theirs;
            }
        }
        for (mine, theirs) in [
            (&mut self.metric_name_validation_scheme, &g.metric_name_validation_scheme),
            (&mut self.metric_name_escaping_scheme, &g.metric_name_escaping_scheme),
        ] {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        for (mine, theirs) in [
            (&mut self.always_scrape_classic_histograms, g.always_scrape_classic_histograms),
            (&mut self.convert_classic_histograms_to_nhcb, g.convert_classic_histograms_to_nhcb),
            (&mut self.extra_scrape_metrics, g.extra_scrape_metrics),
        ] {
            if mine.is_none() {
                *mine = Some(theirs.unwrap_or(false));
            }
        }
    }

    fn validate(&self, index: usize) -> Result<()> {
        let job = (!self.job_name.is_empty()).then_some(self.job_name.as_str());
        let at = At { job, path: format!("scrape_configs[{index}]") };
        if self.job_name.is_empty() {
            return Err(at.err("job_name", ConfigErrorKind::Missing("job_name")));
        }
        if self.interval().0.is_zero() {
            return Err(at.err("scrape_interval", ConfigErrorKind::Invalid("scrape interval must be positive".into())));
        }
        if self.timeout() > self.interval() {
            return Err(at.err("scrape_timeout", ConfigErrorKind::TimeoutExceedsInterval));
        }
        if let Some(p) = &self.scrape_protocols {
            check_protocols(&at, p)?;
        }
        if !self.metrics_path.starts_with('/') {
            return Err(at.err(
                "metrics_path",
                ConfigErrorKind::Invalid(format!("metrics path {:?} must start with '/'", self.metrics_path)),
            ));
        }
        if let Some(s) = &self.metric_name_validation_scheme
            && !matches!(s.as_str(), "" | "utf8" | "legacy")
        {
            return Err(at.err(
                "metric_name_validation_scheme",
                ConfigErrorKind::Invalid(format!("unknown name validation scheme {s:?}")),
            ));
        }
        self.http_client_config().validate(&at)?;
        for (field, rules) in
            [("relabel_configs", &self.relabel_configs), ("metric_relabel_configs", &self.metric_relabel_configs)]
        {
            for (i, r) in rules.iter().enumerate() {
                Relabel::new(r.clone()).map_err(|e| at.err(&format!("{field}[{i}]"), ConfigErrorKind::Relabel(e)))?;
            }
        }
        for (i, s) in self.static_configs.iter().enumerate() {
            s.validate().map_err(|m| at.err(&format!("static_configs[{i}]"), ConfigErrorKind::Invalid(m)))?;
        }
        for (i, f) in self.file_sd_configs.iter().enumerate() {
            let at = at.sub(&format!("file_sd_configs[{i}]"));
            if f.files.is_empty() {
                return Err(at.err("files", ConfigErrorKind::Missing("at least one path name")));
            }
            for p in &f.files {
                let ok = [".json", ".yml", ".yaml"].iter().any(|ext| p.ends_with(ext));
                let base = Path::new(p).parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
                if !ok || base.contains('*') || p.matches('*').count() > 1 {
                    return Err(at.err(
                        "files",
                        ConfigErrorKind::Invalid(format!("path name {p:?} is not valid for file discovery")),
                    ));
                }
            }
        }
        for (i, d) in self.dns_sd_configs.iter().enumerate() {
            let at = at.sub(&format!("dns_sd_configs[{i}]"));
            if d.names.is_empty() {
                return Err(at.err("names", ConfigErrorKind::Missing("at least one record name")));
            }
            if d.record_type != DnsRecordType::Srv && d.port.is_none() {
                return Err(at.err("port", ConfigErrorKind::Missing("a port for record types other than SRV")));
            }
        }
        for (i, h) in self.http_sd_configs.iter().enumerate() {
            let at = at.sub(&format!("http_sd_configs[{i}]"));
            let url = reqwest::Url::parse(&h.url)
                .map_err(|e| at.err("url", ConfigErrorKind::Invalid(format!("invalid URL {:?}: {e}", h.url))))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(at.err("url", ConfigErrorKind::Invalid("URL scheme must be 'http' or 'https'".into())));
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err(at.err("url", ConfigErrorKind::Invalid("host is missing in URL".into())));
            }
            h.http_client_config().validate(&at)?;
        }
        for (i, k) in self.kubernetes_sd_configs.iter().enumerate() {
            k.validate(&at.sub(&format!("kubernetes_sd_configs[{i}]")))?;
        }
        Ok(())
    }
}

impl Config {
    /// Decodes, fills in inherited values and validates a `prometheus.yml` document.
    pub fn from_yaml(text: &str) -> Result<Config> {
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig {
                global: GlobalConfig::default(),
                scrape_configs: Vec::new(),
                _rule_files: serde::de::IgnoredAny,
                _scrape_config_files: serde::de::IgnoredAny,
                _alerting: serde::de::IgnoredAny,
                _remote_write: serde::de::IgnoredAny,
                _remote_read: serde::de::IgnoredAny,
                _storage: serde::de::IgnoredAny,
                _tracing: serde::de::IgnoredAny,
                _runtime: serde::de::IgnoredAny,
                _otlp: serde::de::IgnoredAny,
            }
        } else {
            serde_norway::from_str(text).map_err(|e| decode_error(text, &e))?
        };
        let mut cfg = Config { global: raw.global, scrape_configs: raw.scrape_configs };
        cfg.global.validate()?;
        let mut names = HashSet::new();
        for (i, sc) in cfg.scrape_configs.iter_mut().enumerate() {
            sc.inherit(&cfg.global);
            sc.validate(i)?;
            if !names.insert(sc.job_name.clone()) {
                return Err(ConfigError {
                    job: Some(sc.job_name.clone()),
                    path: format!("scrape_configs[{i}].job_name"),
                    line: None,
                    column: None,
                    kind: ConfigErrorKind::DuplicateJobName,
                });
            }
        }
        Ok(cfg)
    }

    /// Reads and decodes a configuration file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            job: None,
            path: String::new(),
            line: None,
            column: None,
            kind: ConfigErrorKind::Io(format!("{}: {e}", path.display())),
        })?;
        let mut cfg = Config::from_yaml(&text)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        cfg.resolve_paths(dir);
        Ok(cfg)
    }

    /// Makes every relative file name (file SD patterns, kubeconfig, credential, CA,
    /// certificate and key files) relative to `dir`, normally the configuration file's
    /// directory; [`Config::load_file`] does this.
    pub fn resolve_paths(&mut self, dir: &Path) {
        for sc in &mut self.scrape_configs {
            sc.resolve_http_paths(dir);
            for f in &mut sc.file_sd_configs {
                for p in &mut f.files {
                    if Path::new(p.as_str()).is_relative() {
                        *p = dir.join(p.as_str()).display().to_string();
                    }
                }
            }
            for h in &mut sc.http_sd_configs {
                h.resolve_http_paths(dir);
            }
            for k in &mut sc.kubernetes_sd_configs {
                k.resolve_http_paths(dir);
                resolve(dir, &mut k.kubeconfig_file);
            }
        }
    }

    /// The scrape config for `job`.
    pub fn scrape_config(&self, job: &str) -> Option<&ScrapeConfig> {
        self.scrape_configs.iter().find(|c| c.job_name == job)
    }
}

/// Turns a decoder error into a [`ConfigError`], naming the job when the path points into a
/// scrape config whose `job_name` can still be read.
fn decode_error(text: &str, e: &serde_norway::Error) -> ConfigError {
    let msg = e.to_string();
    let (line, column) = e.location().map_or((None, None), |l| (Some(l.line()), Some(l.column())));
    let path = msg.split_once(": ").map(|(p, _)| p).filter(|p| !p.contains(' ')).unwrap_or("").to_string();
    let job = path
        .strip_prefix("scrape_configs[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(n, _)| n.parse::<usize>().ok())
        .and_then(|i| {
            let v: serde_norway::Value = serde_norway::from_str(text).ok()?;
            v.get("scrape_configs")?.get(i)?.get("job_name")?.as_str().map(str::to_string)
        });
    ConfigError { job, path, line, column, kind: ConfigErrorKind::Decode(msg) }
}
