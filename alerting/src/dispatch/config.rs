//! `alertmanager.yml`: parsing, validation and the compiled [`Config`].
//!
//! Unknown fields are errors. Alertmanager integrations Ember does not implement
//! (email, OpsGenie, …) are rejected with [`ConfigErrorKind::Unsupported`] naming the
//! field, rather than silently dropped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use ember_exposition::names::is_valid_legacy_label_name;
use ember_exposition::{MatchType, Matcher};
use serde::Deserialize;

use super::duration::Duration;
use super::error::{ConfigError, ConfigErrorKind};
use super::matchers::parse_matchers;
use super::route::{GroupBy, RouteOpts, RouteTree};
use super::timeinterval::{RawTimeInterval, TimeInterval};

/// Alertmanager's default `group_wait`.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
/// Alertmanager's default `group_interval`.
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_mins(5);
/// Alertmanager's default `repeat_interval`.
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_mins(240);
/// Alertmanager's default `resolve_timeout`.
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_mins(5);
/// PagerDuty's Events API v2 endpoint.
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A validated, compiled configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Global settings.
    pub global: GlobalConfig,
    /// The routing tree.
    pub route: RouteTree,
    /// Receivers by position; [`Config::receiver`] looks one up by name.
    pub receivers: Vec<Receiver>,
    /// Inhibition rules.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Named time intervals (from `time_intervals` and the deprecated `mute_time_intervals`).
    pub time_intervals: HashMap<String, Arc<TimeInterval>>,
}

/// The `global` section (the parts Ember uses).
#[derive(Debug, Clone)]
pub struct GlobalConfig {
    /// How long an alert without `endsAt` stays firing after its last update.
    pub resolve_timeout: Duration,
    /// Default Slack webhook URL.
    pub slack_api_url: Option<String>,
    /// Default PagerDuty Events API URL.
    pub pagerduty_url: String,
}

/// A named receiver and its integrations.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// The name routes refer to.
    pub name: String,
    /// `webhook_configs`.
    pub webhook_configs: Vec<WebhookConfig>,
    /// `slack_configs`.
    pub slack_configs: Vec<SlackConfig>,
    /// `pagerduty_configs`.
    pub pagerduty_configs: Vec<PagerdutyConfig>,
}

/// A generic webhook (Alertmanager's webhook JSON, version "4").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Whether to notify about resolved alerts (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The endpoint.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the endpoint (read at load time).
    #[serde(default)]
    pub url_file: Option<String>,
    /// At most this many alerts per message; 0 means all.
    #[serde(default)]
    pub max_alerts: u64,
    /// Per-request timeout; none means the notification's own deadline.
    #[serde(default)]
    pub timeout: Option<Duration>,
}

/// A Slack-compatible incoming webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Whether to notify about resolved alerts (default false).
    #[serde(default)]
    pub send_resolved: bool,
    /// The incoming-webhook URL; falls back to `global.slack_api_url`.
    #[serde(default)]
    pub api_url: Option<String>,
    /// A file holding the URL (read at load time).
    #[serde(default)]
    pub api_url_file: Option<String>,
    /// Channel override.
    #[serde(default)]
    pub channel: Option<String>,
    /// Username override (default `Alertmanager`).
    #[serde(default)]
    pub username: Option<String>,
    /// Attachment color (default `danger` when firing, `good` when resolved).
    #[serde(default)]
    pub color: Option<String>,
    /// Attachment title (default: the subject line).
    #[serde(default)]
    pub title: Option<String>,
    /// Attachment title link (default: the Alertmanager URL).
    #[serde(default)]
    pub title_link: Option<String>,
    /// Attachment pretext.
    #[serde(default)]
    pub pretext: Option<String>,
    /// Attachment text (default: one line per alert).
    #[serde(default)]
    pub text: Option<String>,
    /// Attachment fallback (default: subject and link).
    #[serde(default)]
    pub fallback: Option<String>,
    /// Icon emoji.
    #[serde(default)]
    pub icon_emoji: Option<String>,
    /// Icon URL.
    #[serde(default)]
    pub icon_url: Option<String>,
}

/// PagerDuty Events API v2.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    /// Whether to notify about resolved alerts (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The integration's routing key.
    #[serde(default)]
    pub routing_key: Option<String>,
    /// A file holding the routing key (read at load time).
    #[serde(default)]
    pub routing_key_file: Option<String>,
    /// Events API v1 key: not supported.
    #[serde(default)]
    pub service_key: Option<String>,
    /// Endpoint; falls back to `global.pagerduty_url`.
    #[serde(default)]
    pub url: Option<String>,
    /// `client` (default `Alertmanager`).
    #[serde(default)]
    pub client: Option<String>,
    /// `client_url` (default: the Alertmanager URL).
    #[serde(default)]
    pub client_url: Option<String>,
    /// `payload.summary` (default: the subject line).
    #[serde(default)]
    pub description: Option<String>,
    /// `payload.severity` (default `error`).
    #[serde(default)]
    pub severity: Option<String>,
    /// `payload.source` (default: the client).
    #[serde(default)]
    pub source: Option<String>,
    /// `payload.class`.
    #[serde(default)]
    pub class: Option<String>,
    /// `payload.component`.
    #[serde(default)]
    pub component: Option<String>,
    /// `payload.group`.
    #[serde(default)]
    pub group: Option<String>,
    /// `payload.custom_details` (default: firing/resolved counts and lists).
    #[serde(default)]
    pub details: Option<BTreeMap<String, String>>,
}

fn yes() -> bool {
    true
}

/// An inhibition rule: target alerts are muted while a firing source alert with the
/// same values for the `equal` labels exists.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    /// Optional name.
    pub name: Option<String>,
    /// Matchers the inhibiting (source) alert must satisfy.
    pub source_matchers: Vec<Matcher>,
    /// Matchers the muted (target) alert must satisfy.
    pub target_matchers: Vec<Matcher>,
    /// Labels that must have equal values in source and target (missing = empty).
    pub equal: Vec<String>,
}

impl Config {
    /// Parses and validates a YAML document.
    pub fn from_yaml(yaml: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_norway::from_str(yaml).map_err(|e| {
            let loc = e.location();
            ConfigError {
                path: String::new(),
                line: loc.as_ref().map(|l| l.line()),
                column: loc.as_ref().map(|l| l.column()),
                kind: ConfigErrorKind::Yaml(e.to_string()),
            }
        })?;
        raw.compile()
    }

    /// Reads, parses and validates a file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let s = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("", ConfigErrorKind::Io(format!("reading {}: {e}", path.display()))))?;
        Config::from_yaml(&s)
    }

    /// The receiver named `name`.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Option<RawGlobal>,
    route: Option<RawRoute>,
    #[serde(default)]
    receivers: Vec<RawReceiver>,
    #[serde(default)]
    inhibit_rules: Vec<RawInhibitRule>,
    #[serde(default)]
    time_intervals: Vec<RawTimeInterval>,
    #[serde(default)]
    mute_time_intervals: Vec<RawTimeInterval>,
    #[serde(default)]
    templates: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    resolve_timeout: Option<String>,
    slack_api_url: Option<String>,
    slack_api_url_file: Option<String>,
    pagerduty_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub receiver: Option<String>,
    pub group_by: Option<Vec<String>>,
    #[serde(rename = "continue", default)]
    pub continue_: bool,
    #[serde(rename = "match", default)]
    pub match_: BTreeMap<String, String>,
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub matchers: Vec<String>,
    pub group_wait: Option<String>,
    pub group_interval: Option<String>,
    pub repeat_interval: Option<String>,
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    name: Option<String>,
    #[serde(default)]
    webhook_configs: Vec<WebhookConfig>,
    #[serde(default)]
    slack_configs: Vec<SlackConfig>,
    #[serde(default)]
    pagerduty_configs: Vec<PagerdutyConfig>,
    // Alertmanager integrations Ember does not implement: accepted by the schema so the
    // error can name them.
    email_configs: Option<serde_norway::Value>,
    opsgenie_configs: Option<serde_norway::Value>,
    pushover_configs: Option<serde_norway::Value>,
    sns_configs: Option<serde_norway::Value>,
    telegram_configs: Option<serde_norway::Value>,
    victorops_configs: Option<serde_norway::Value>,
    webex_configs: Option<serde_norway::Value>,
    wechat_configs: Option<serde_norway::Value>,
    discord_configs: Option<serde_norway::Value>,
    msteams_configs: Option<serde_norway::Value>,
    msteamsv2_configs: Option<serde_norway::Value>,
    jira_configs: Option<serde_norway::Value>,
    rocketchat_configs: Option<serde_norway::Value>,
    incidentio_configs: Option<serde_norway::Value>,
    mattermost_configs: Option<serde_norway::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInhibitRule {
    name: Option<String>,
    #[serde(default)]
    source_match: BTreeMap<String, String>,
    #[serde(default)]
    source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_match: BTreeMap<String, String>,
    #[serde(default)]
    target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    equal: Vec<String>,
}

fn err(path: impl Into<String>, kind: ConfigErrorKind) -> ConfigError {
    ConfigError::new(path, kind)
}

fn read_secret_file(path: &str, field: String) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| err(field, ConfigErrorKind::Io(format!("reading {path}: {e}"))))
}

/// Builds matchers from the `match` / `match_re` maps and `matchers` strings, in
/// Alertmanager's order (by name, then value, then operator).
pub(crate) fn build_matchers(
    path: &str,
    (eq_field, eq): (&str, &BTreeMap<String, String>),
    (re_field, re): (&str, &BTreeMap<String, String>),
    (ms_field, ms): (&str, &[String]),
) -> Result<Vec<Matcher>, ConfigError> {
    let mut out = Vec::new();
    for (n, v) in eq {
        if !is_valid_legacy_label_name(n) {
            return Err(err(format!("{path}.{eq_field}"), ConfigErrorKind::InvalidLabelName(n.clone())));
        }
        out.push(Matcher::equal(n, v));
    }
    for (n, v) in re {
        if !is_valid_legacy_label_name(n) {
            return Err(err(format!("{path}.{re_field}"), ConfigErrorKind::InvalidLabelName(n.clone())));
        }
        let m = Matcher::new(MatchType::Regex, n, v)
            .map_err(|e| err(format!("{path}.{re_field}.{n}"), ConfigErrorKind::InvalidMatcher(e.to_string())))?;
        out.push(m);
    }
    for (i, s) in ms.iter().enumerate() {
        let parsed = parse_matchers(s)
            .map_err(|e| err(format!("{path}.{ms_field}[{i}]"), ConfigErrorKind::InvalidMatcher(e)))?;
        out.extend(parsed);
    }
    out.sort_by(|a, b| {
        a.name()
            .cmp(b.name())
            .then_with(|| a.value().cmp(b.value()))
            .then_with(|| op_rank(a.kind()).cmp(&op_rank(b.kind())))
    });
    Ok(out)
}

fn op_rank(k: MatchType) -> u8 {
    match k {
        MatchType::Equal => 0,
        MatchType::NotEqual => 1,
        MatchType::Regex => 2,
        MatchType::NotRegex => 3,
    }
}

impl RawConfig {
    fn compile(self) -> Result<Config, ConfigError> {
        let g = self.global.unwrap_or_default();
        let slack_api_url = match (g.slack_api_url, g.slack_api_url_file) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "global.slack_api_url_file",
                    ConfigErrorKind::InvalidValue("at most one of slack_api_url and slack_api_url_file".into()),
                ));
            }
            (Some(u), None) => Some(u),
            (None, Some(f)) => Some(read_secret_file(&f, "global.slack_api_url_file".into())?),
            (None, None) => None,
        };
        let global = GlobalConfig {
            resolve_timeout: match g.resolve_timeout {
                Some(d) => parse_duration(&d, "global.resolve_timeout")?,
                None => DEFAULT_RESOLVE_TIMEOUT,
            },
            slack_api_url,
            pagerduty_url: g.pagerduty_url.unwrap_or_else(|| DEFAULT_PAGERDUTY_URL.to_string()),
        };
        if !self.templates.is_empty() {
            return Err(err("templates", ConfigErrorKind::Unsupported("Go notification templates".into())));
        }

        let mut time_intervals = HashMap::new();
        for (field, list) in
            [("mute_time_intervals", self.mute_time_intervals), ("time_intervals", self.time_intervals)]
        {
            for (i, ti) in list.into_iter().enumerate() {
                let path = format!("{field}[{i}]");
                let ti = ti.compile(&path)?;
                if time_intervals.contains_key(&ti.name) {
                    return Err(err(format!("{path}.name"), ConfigErrorKind::Duplicate(ti.name)));
                }
                time_intervals.insert(ti.name.clone(), Arc::new(ti));
            }
        }

        let mut receivers = Vec::new();
        let mut names = HashSet::new();
        for (i, r) in self.receivers.into_iter().enumerate() {
            let rec = r.compile(&format!("receivers[{i}]"), &global)?;
            if !names.insert(rec.name.clone()) {
                return Err(err(format!("receivers[{i}].name"), ConfigErrorKind::Duplicate(rec.name)));
            }
            receivers.push(rec);
        }

        let root = self.route.ok_or_else(|| err("route", ConfigErrorKind::Missing))?;
        if root.receiver.as_deref().is_none_or(str::is_empty) {
            return Err(err("route.receiver", ConfigErrorKind::Missing));
        }
        if !root.match_.is_empty() || !root.match_re.is_empty() || !root.matchers.is_empty() {
            return Err(err(
                "route.matchers",
                ConfigErrorKind::InvalidValue("root route must not have any matchers".into()),
            ));
        }
        if root.continue_ {
            return Err(err(
                "route.continue",
                ConfigErrorKind::InvalidValue("cannot have continue in root route".into()),
            ));
        }
        if !root.mute_time_intervals.is_empty() {
            return Err(err(
                "route.mute_time_intervals",
                ConfigErrorKind::InvalidValue("root route must not have any mute time intervals".into()),
            ));
        }
        if !root.active_time_intervals.is_empty() {
            return Err(err(
                "route.active_time_intervals",
                ConfigErrorKind::InvalidValue("root route must not have any active time intervals".into()),
            ));
        }
        let defaults = RouteOpts {
            receiver: String::new(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        };
        let route = RouteTree::build(
            root,
            defaults,
            &|path, name| {
                if !names.contains(name) {
                    return Err(err(format!("{path}.receiver"), ConfigErrorKind::UndefinedReceiver(name.into())));
                }
                Ok(())
            },
            &|path, name| {
                if !time_intervals.contains_key(name) {
                    return Err(err(path.to_string(), ConfigErrorKind::UndefinedTimeInterval(name.into())));
                }
                Ok(())
            },
        )?;

        let mut inhibit_rules = Vec::new();
        for (i, r) in self.inhibit_rules.into_iter().enumerate() {
            let path = format!("inhibit_rules[{i}]");
            let source_matchers = build_matchers(
                &path,
                ("source_match", &r.source_match),
                ("source_match_re", &r.source_match_re),
                ("source_matchers", &r.source_matchers),
            )?;
            let target_matchers = build_matchers(
                &path,
                ("target_match", &r.target_match),
                ("target_match_re", &r.target_match_re),
                ("target_matchers", &r.target_matchers),
            )?;
            for n in &r.equal {
                if !is_valid_legacy_label_name(n) {
                    return Err(err(format!("{path}.equal"), ConfigErrorKind::InvalidLabelName(n.clone())));
                }
            }
            inhibit_rules.push(InhibitRule { name: r.name, source_matchers, target_matchers, equal: r.equal });
        }

        Ok(Config { global, route, receivers, inhibit_rules, time_intervals })
    }
}

impl RawReceiver {
    fn compile(self, path: &str, global: &GlobalConfig) -> Result<Receiver, ConfigError> {
        let name =
            self.name.filter(|n| !n.is_empty()).ok_or_else(|| err(format!("{path}.name"), ConfigErrorKind::Missing))?;
        for (field, v) in [
            ("email_configs", &self.email_configs),
            ("opsgenie_configs", &self.opsgenie_configs),
            ("pushover_configs", &self.pushover_configs),
            ("sns_configs", &self.sns_configs),
            ("telegram_configs", &self.telegram_configs),
            ("victorops_configs", &self.victorops_configs),
            ("webex_configs", &self.webex_configs),
            ("wechat_configs", &self.wechat_configs),
            ("discord_configs", &self.discord_configs),
            ("msteams_configs", &self.msteams_configs),
            ("msteamsv2_configs", &self.msteamsv2_configs),
            ("jira_configs", &self.jira_configs),
            ("rocketchat_configs", &self.rocketchat_configs),
            ("incidentio_configs", &self.incidentio_configs),
            ("mattermost_configs", &self.mattermost_configs),
        ] {
            if v.is_some() {
                return Err(err(format!("{path}.{field}"), ConfigErrorKind::Unsupported(field.into())));
            }
        }
        let mut webhook_configs = self.webhook_configs;
        for (i, w) in webhook_configs.iter_mut().enumerate() {
            let p = format!("{path}.webhook_configs[{i}]");
            match (&w.url, &w.url_file) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        format!("{p}.url_file"),
                        ConfigErrorKind::InvalidValue("one of url or url_file must be configured, not both".into()),
                    ));
                }
                (None, Some(f)) => w.url = Some(read_secret_file(f, format!("{p}.url_file"))?),
                (None, None) => return Err(err(format!("{p}.url"), ConfigErrorKind::Missing)),
                (Some(u), None) => check_url(u, &format!("{p}.url"))?,
            }
        }
        let mut slack_configs = self.slack_configs;
        for (i, s) in slack_configs.iter_mut().enumerate() {
            let p = format!("{path}.slack_configs[{i}]");
            if let Some(f) = &s.api_url_file {
                if s.api_url.is_some() {
                    return Err(err(
                        format!("{p}.api_url_file"),
                        ConfigErrorKind::InvalidValue("at most one of api_url and api_url_file".into()),
                    ));
                }
                s.api_url = Some(read_secret_file(f, format!("{p}.api_url_file"))?);
            }
            if s.api_url.is_none() {
                s.api_url = global.slack_api_url.clone();
            }
            match &s.api_url {
                None => return Err(err(format!("{p}.api_url"), ConfigErrorKind::Missing)),
                Some(u) => check_url(u, &format!("{p}.api_url"))?,
            }
        }
        let mut pagerduty_configs = self.pagerduty_configs;
        for (i, pd) in pagerduty_configs.iter_mut().enumerate() {
            let p = format!("{path}.pagerduty_configs[{i}]");
            if pd.service_key.is_some() {
                return Err(err(
                    format!("{p}.service_key"),
                    ConfigErrorKind::Unsupported("PagerDuty Events API v1 (service_key); use routing_key".into()),
                ));
            }
            if let Some(f) = &pd.routing_key_file {
                if pd.routing_key.is_some() {
                    return Err(err(
                        format!("{p}.routing_key_file"),
                        ConfigErrorKind::InvalidValue("at most one of routing_key and routing_key_file".into()),
                    ));
                }
                pd.routing_key = Some(read_secret_file(f, format!("{p}.routing_key_file"))?);
            }
            if pd.routing_key.as_deref().is_none_or(str::is_empty) {
                return Err(err(format!("{p}.routing_key"), ConfigErrorKind::Missing));
            }
            if pd.url.is_none() {
                pd.url = Some(global.pagerduty_url.clone());
            }
            check_url(pd.url.as_deref().unwrap_or_default(), &format!("{p}.url"))?;
        }
        Ok(Receiver { name, webhook_configs, slack_configs, pagerduty_configs })
    }
}

pub(crate) fn parse_duration(s: &str, path: &str) -> Result<Duration, ConfigError> {
    Duration::parse(s).map_err(|e| err(path, ConfigErrorKind::InvalidDuration(e)))
}

fn check_url(u: &str, path: &str) -> Result<(), ConfigError> {
    if u.starts_with("http://") || u.starts_with("https://") {
        Ok(())
    } else {
        Err(err(path, ConfigErrorKind::InvalidValue(format!("unsupported URL {u:?}: scheme must be http or https"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_err(yaml: &str, path: &str) {
        match Config::from_yaml(yaml) {
            Ok(_) => panic!("expected an error at {path}"),
            Err(e) => assert!(e.path == path || e.to_string().contains(path), "want {path}, got {e}"),
        }
    }

    const BASE: &str = "receivers: [{name: a}, {name: b}]\n";

    #[test]
    fn validation_names_the_field() {
        check_err("receivers: [{name: a}]", "route");
        check_err(&format!("{BASE}route: {{}}"), "route.receiver");
        check_err(&format!("{BASE}route: {{receiver: c}}"), "route.receiver");
        check_err(&format!("{BASE}route: {{receiver: a, matchers: ['x=y']}}"), "route.matchers");
        check_err(&format!("{BASE}route: {{receiver: a, routes: [{{receiver: c}}]}}"), "route.routes[0].receiver");
        check_err(
            &format!("{BASE}route: {{receiver: a, routes: [{{matchers: ['x=~(']}}]}}"),
            "route.routes[0].matchers[0]",
        );
        check_err(&format!("{BASE}route: {{receiver: a, routes: [{{match: {{1x: y}}}}]}}"), "route.routes[0].match");
        check_err(&format!("{BASE}route: {{receiver: a, group_by: ['...', x]}}"), "route.group_by");
        check_err(&format!("{BASE}route: {{receiver: a, group_by: [x, x]}}"), "route.group_by");
        check_err(
            &format!("{BASE}route: {{receiver: a, routes: [{{group_interval: 0s}}]}}"),
            "route.routes[0].group_interval",
        );
        check_err(
            &format!("{BASE}route: {{receiver: a, routes: [{{}}, {{repeat_interval: 1}}]}}"),
            "route.routes[1].repeat_interval",
        );
        check_err(&format!("{BASE}route: {{receiver: a}}\nglobal: {{resolve_timeout: x}}"), "global.resolve_timeout");
        check_err(
            &format!("{BASE}route: {{receiver: a, routes: [{{mute_time_intervals: [x]}}]}}"),
            "route.routes[0].mute_time_intervals[0]",
        );
        check_err(&format!("{BASE}route: {{receiver: a, bogus: 1}}"), "unknown field `bogus`");
        check_err(&format!("{BASE}route: {{receiver: a, group_wait: 5x}}"), "route.group_wait");
        check_err("receivers: [{name: a}, {name: a}]\nroute: {receiver: a}", "receivers[1].name");
        check_err("receivers: [{name: a, email_configs: []}]\nroute: {receiver: a}", "receivers[0].email_configs");
        check_err(
            "receivers: [{name: a, webhook_configs: [{}]}]\nroute: {receiver: a}",
            "receivers[0].webhook_configs[0].url",
        );
        check_err(
            "receivers: [{name: a, slack_configs: [{}]}]\nroute: {receiver: a}",
            "receivers[0].slack_configs[0].api_url",
        );
        check_err(
            "receivers: [{name: a, pagerduty_configs: [{}]}]\nroute: {receiver: a}",
            "receivers[0].pagerduty_configs[0].routing_key",
        );
        check_err(
            &format!("{BASE}route: {{receiver: a}}\ninhibit_rules: [{{source_matchers: ['a=']}}, {{equal: ['a-b']}}]"),
            "inhibit_rules[1].equal",
        );
    }

    #[test]
    fn yaml_errors_have_positions() {
        let e = Config::from_yaml("route:\n  receiver: a\n  unknown_thing: 1\nreceivers: [{name: a}]").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(matches!(e.kind, ConfigErrorKind::Yaml(_)));
    }

    #[test]
    fn defaults_and_inheritance() {
        let c = Config::from_yaml(
            "receivers: [{name: a}, {name: b}]\nroute:\n  receiver: a\n  group_by: [x]\n  group_wait: 10s\n  routes:\n  - receiver: b\n    matchers: [y=z]\n    repeat_interval: 1h\n",
        )
        .unwrap();
        let child = c.route.get(c.route.root().children()[0]);
        assert_eq!(child.opts.group_wait, Duration::from_secs(10));
        assert_eq!(child.opts.group_interval, DEFAULT_GROUP_INTERVAL);
        assert_eq!(child.opts.repeat_interval, Duration::from_mins(60));
        assert_eq!(child.opts.group_by, GroupBy::Labels(vec!["x".into()]));
        assert_eq!(child.opts.receiver, "b");
        assert_eq!(c.global.resolve_timeout, DEFAULT_RESOLVE_TIMEOUT);
    }
}
