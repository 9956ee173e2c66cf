//! Configuration text with its secrets hidden, as `/api/v1/status/config` and the
//! embedded Alertmanager's `GET /api/v2/status` serve it.
//!
//! Prometheus and Alertmanager never show a secret they were configured with: they
//! re-marshal the parsed configuration, and every field of their secret type prints as
//! `<secret>` (a URL's password as `xxxxx`). File paths (`password_file`,
//! `credentials_file`, `key_file`, …) stay visible.
//!
//! ## Design: redact the YAML tree by key, not the parsed structs
//!
//! The server's configuration types cover only what Ember acts on (sections such as
//! `remote_write` or most service-discovery mechanisms are accepted and kept as text), so
//! re-serialising them would drop whole sections. Instead the file is parsed into a
//! generic YAML tree and every value under a secret key is replaced, wherever it sits:
//! an `http_config` nested in a service-discovery block, an `oauth2` inside a
//! `remote_write`, a receiver's `webhook_configs`. The rules are by key name, with the
//! context where a name is secret only in some places (`key` inside `tls_config`; `url`
//! inside `webhook_configs`; `api_url` inside `slack_configs`). Erring towards hiding, a
//! key that merely looks secret (ends in `_password`, `_secret` or `_token`) is hidden
//! too. Comments cannot carry a secret out, because the tree is printed anew. Maps
//! whose keys are label names (`labels`, `external_labels`, `match`, …) are left as
//! they are.
//!
//! ```
//! use ember_server::redact::redact_secrets;
//!
//! let yaml = "scrape_configs:\n- job_name: a\n  basic_auth:\n    username: u\n    password: hunter2\n  \
//!             tls_config:\n    key_file: /etc/k.pem\n";
//! let out = redact_secrets(yaml).unwrap();
//! assert!(!out.contains("hunter2"));
//! assert!(out.contains("password: <secret>"));
//! assert!(out.contains("key_file: /etc/k.pem"));
//! ```

use std::fmt;

use serde_norway::Value;

/// What a secret value prints as.
pub const SECRET: &str = "<secret>";

/// What the password of a URL's user information prints as (Go's `url.Redacted`).
pub const URL_PASSWORD: &str = "xxxxx";

/// Why configuration text could not be redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactError {
    /// What went wrong.
    pub kind: RedactErrorKind,
}

/// The kinds of [`RedactError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedactErrorKind {
    /// The text is not YAML (the parser's message, with its position).
    Parse(String),
    /// The redacted tree could not be printed.
    Print(String),
}

impl fmt::Display for RedactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RedactErrorKind::Parse(m) => write!(f, "redacting secrets: {m}"),
            RedactErrorKind::Print(m) => write!(f, "printing the redacted configuration: {m}"),
        }
    }
}

impl std::error::Error for RedactError {}

/// Keys whose value is secret wherever they appear (Prometheus's and Alertmanager's
/// `<secret>` fields).
const SECRET_KEYS: &[&str] = &[
    "password",
    "credentials",
    "bearer_token",
    "client_secret",
    "client_certificate_key",
    "secret_key",
    "token",
    "token_id",
    "auth_token",
    "application_secret",
    "application_credential_secret",
    "consumer_key",
    "key_passphrase",
    "certificate_password",
    "api_key",
    "routing_key",
    "service_key",
    "user_key",
    "slack_api_url",
    "secrets",
    "proxy_connect_header",
];

/// Name endings that mark a secret (`smtp_auth_password`, `wechat_api_secret`,
/// `telegram_bot_token`, `victorops_api_key`, `mattermost_webhook_url`, …).
const SECRET_SUFFIXES: &[&str] = &["password", "_secret", "_token", "_token_id", "_api_key", "webhook_url"];

/// (parent key, key) pairs secret only in that place.
const SECRET_IN: &[(&str, &str)] =
    &[("tls_config", "key"), ("webhook_configs", "url"), ("webhook_outputs", "url"), ("slack_configs", "api_url")];

/// Maps whose keys are label names, not configuration fields.
const LABEL_MAPS: &[&str] = &[
    "labels",
    "external_labels",
    "match",
    "match_re",
    "source_match",
    "source_match_re",
    "target_match",
    "target_match_re",
];

/// Whether the value of `key`, inside a mapping that is the value of `parent`, is secret.
fn is_secret(key: &str, parent: Option<&str>) -> bool {
    if key.ends_with("_file") || key.ends_with("_files") {
        return false;
    }
    SECRET_KEYS.contains(&key)
        || SECRET_SUFFIXES.iter().any(|s| key.ends_with(s))
        || parent.is_some_and(|p| SECRET_IN.contains(&(p, key)))
}

/// Whether `key` holds a URL whose user information should lose its password.
fn is_url_key(key: &str) -> bool {
    matches!(key, "url" | "urls" | "server" | "servers" | "endpoint" | "api_server") || key.ends_with("_url")
}

/// Returns `text` (a `prometheus.yml` or an `alertmanager.yml`) printed anew with every
/// secret value replaced by [`SECRET`] and every URL password by [`URL_PASSWORD`].
/// Empty text stays empty.
pub fn redact_secrets(text: &str) -> Result<String, RedactError> {
    let mut tree: Value =
        serde_norway::from_str(text).map_err(|e| RedactError { kind: RedactErrorKind::Parse(e.to_string()) })?;
    if tree.is_null() {
        return Ok(String::new());
    }
    walk(&mut tree, None, &mut Vec::new());
    serde_norway::to_string(&tree).map_err(|e| RedactError { kind: RedactErrorKind::Print(e.to_string()) })
}

/// The secret values [`redact_secrets`] would hide in `text` (nothing when it is not YAML).
pub fn secret_values(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(mut tree) = serde_norway::from_str::<Value>(text) {
        walk(&mut tree, None, &mut found);
    }
    found
}

/// The shortest secret [`scrub`] replaces: shorter ones would mangle the message more than
/// they reveal.
pub const MIN_SCRUBBED_LEN: usize = 4;

/// `message` (say, a parser's error about a bad file) with every occurrence of one of
/// `secrets` (as [`secret_values`] finds them, at least [`MIN_SCRUBBED_LEN`] bytes long)
/// replaced by [`SECRET`], longest first.
pub fn scrub(message: &str, secrets: &[String]) -> String {
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= MIN_SCRUBBED_LEN).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = message.to_owned();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), SECRET);
        }
    }
    out
}

/// Hides the secrets under `v`, a value of `parent`; the originals go to `found`.
fn walk(v: &mut Value, parent: Option<&str>, found: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, val) in m.iter_mut() {
                let Some(key) = k.as_str() else {
                    walk(val, None, found);
                    continue;
                };
                if LABEL_MAPS.contains(&key) {
                    continue;
                }
                if is_secret(key, parent) {
                    hide(val, found);
                } else {
                    if is_url_key(key) {
                        hide_url_passwords(val, found);
                    }
                    walk(val, Some(key), found);
                }
            }
        }
        // List items belong to the key that holds the list (`webhook_configs: [{url: …}]`).
        Value::Sequence(s) => s.iter_mut().for_each(|x| walk(x, parent, found)),
        Value::Tagged(t) => walk(&mut t.value, parent, found),
        _ => {}
    }
}

/// Replaces every scalar under `v` (keeping the shape of lists and maps); null and the
/// empty string are left alone, as Prometheus prints an unset secret as nothing.
fn hide(v: &mut Value, found: &mut Vec<String>) {
    match v {
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        Value::Sequence(s) => s.iter_mut().for_each(|x| hide(x, found)),
        Value::Mapping(m) => m.values_mut().for_each(|x| hide(x, found)),
        Value::Tagged(t) => hide(&mut t.value, found),
        _ => {
            let old = std::mem::replace(v, Value::String(SECRET.to_owned()));
            match old {
                Value::String(s) => found.push(s),
                Value::Number(n) => found.push(n.to_string()),
                Value::Bool(b) => found.push(b.to_string()),
                _ => {}
            }
        }
    }
}

fn hide_url_passwords(v: &mut Value, found: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if let Some((r, password)) = redact_url_password(s) {
                found.push(password);
                *s = r;
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(|x| hide_url_passwords(x, found)),
        Value::Tagged(t) => hide_url_passwords(&mut t.value, found),
        _ => {}
    }
}

/// `scheme://user:pass@host/…` → (`scheme://user:xxxxx@host/…`, `pass`); `None` when `s`
/// is not a URL with a password.
fn redact_url_password(s: &str) -> Option<(String, String)> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    let start = scheme.len() + 3;
    let redacted = format!("{}{URL_PASSWORD}{}", &s[..start + colon + 1], &s[start + at..]);
    Some((redacted, s[start + colon + 1..start + at].to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, want: &str) {
        assert_eq!(redact_secrets(input).unwrap(), want);
    }

    #[test]
    fn secrets_by_key_and_context() {
        check("password: p\npassword_file: /f\n", "password: <secret>\npassword_file: /f\n");
        check("tls_config:\n  key: k\n  key_file: /k\n", "tls_config:\n  key: <secret>\n  key_file: /k\n");
        check("key: not-tls\n", "key: not-tls\n");
        check("webhook_configs:\n- url: http://h/x\n", "webhook_configs:\n- url: <secret>\n");
        check("pagerduty_configs:\n- url: http://h/x\n", "pagerduty_configs:\n- url: http://h/x\n");
        check("slack_configs:\n- api_url: http://s\n", "slack_configs:\n- api_url: <secret>\n");
        check("global:\n  smtp_auth_password: x\n", "global:\n  smtp_auth_password: <secret>\n");
        check(
            "http_headers:\n  X:\n    values: [a]\n    secrets: [b, c]\n",
            "http_headers:\n  X:\n    values:\n    - a\n    secrets:\n    - <secret>\n    - <secret>\n",
        );
        check("proxy_connect_header:\n  A: [x]\n", "proxy_connect_header:\n  A:\n  - <secret>\n");
        check("labels:\n  password: shown\n", "labels:\n  password: shown\n");
        check("password: ''\n", "password: ''\n");
        check("token: 12345\n", "token: <secret>\n");
        check("", "");
    }

    /// Every `<secret>` field of Prometheus's and Alertmanager's configuration documents
    /// (`../shared/specs`), each holding a value containing `S3CR3T`, beside file paths
    /// that must stay.
    #[test]
    fn every_documented_secret_is_hidden() {
        let prometheus = r#"
scrape_configs:
- job_name: k
  kubernetes_sd_configs:
  - role: pod
    api_server: https://k8s:S3CR3T-k8s-url@k8s:6443
    basic_auth: {username: u, password: S3CR3T-k8s}
    tls_config: {key: S3CR3T-k8s-key, key_file: /k8s.key}
  consul_sd_configs:
  - {server: 'c:8500', token: S3CR3T-consul, password: S3CR3T-consul-pw}
  ec2_sd_configs: [{secret_key: S3CR3T-ec2, access_key: AK}]
  azure_sd_configs: [{client_secret: S3CR3T-azure}]
  marathon_sd_configs: [{auth_token: S3CR3T-marathon, auth_token_file: /m}]
  openstack_sd_configs: [{password: S3CR3T-os, application_credential_secret: S3CR3T-os2}]
  ovhcloud_sd_configs: [{application_secret: S3CR3T-ovh, consumer_key: S3CR3T-ovh2}]
  http_sd_configs:
  - url: http://h/sd
    oauth2: {client_id: i, client_secret: S3CR3T-oauth, client_certificate_key: S3CR3T-jwt,
             client_secret_file: /oauth, tls_config: {key: S3CR3T-oauth-tls}}
    proxy_connect_header: {Proxy-Authorization: [S3CR3T-proxy]}
    http_headers: {X-A: {values: [shown-header], secrets: [S3CR3T-header], files: [/h]}}
  authorization: {type: Bearer, credentials: S3CR3T-bearer, credentials_file: /c}
  bearer_token: S3CR3T-old-bearer
remote_write:
- url: http://h/w
  sigv4: {secret_key: S3CR3T-sigv4}
  azuread: {oauth: {client_secret: S3CR3T-azuread}}
  tls_config: {key_passphrase: S3CR3T-pass}
"#;
        let alertmanager = r#"
global:
  smtp_auth_password: S3CR3T-smtp
  smtp_auth_secret: S3CR3T-smtp2
  smtp_auth_password_file: /smtp
  slack_api_url: https://hooks/S3CR3T-slack-global
  slack_app_token: S3CR3T-slack-app
  victorops_api_key: S3CR3T-vo-global
  opsgenie_api_key: S3CR3T-og-global
  rocketchat_token: S3CR3T-rc
  rocketchat_token_id: S3CR3T-rc-id
  wechat_api_secret: S3CR3T-wechat-global
  telegram_bot_token: S3CR3T-tg-global
  mattermost_webhook_url: https://mm/S3CR3T-mm-global
receivers:
- name: all
  discord_configs: [{webhook_url: https://d/S3CR3T-discord}]
  email_configs: [{auth_password: S3CR3T-email, auth_secret: S3CR3T-email2, auth_password_file: /e}]
  mattermost_configs: [{webhook_url: https://mm/S3CR3T-mm}]
  msteams_configs: [{webhook_url: https://t/S3CR3T-teams}]
  msteamsv2_configs: [{webhook_url: https://t/S3CR3T-teams2}]
  opsgenie_configs: [{api_key: S3CR3T-og, api_url: https://og/}]
  pagerduty_configs: [{routing_key: S3CR3T-pd, url: https://pd/enqueue}, {service_key: S3CR3T-pd1}]
  pushover_configs: [{user_key: S3CR3T-po, token: S3CR3T-po2, url: https://shown}]
  rocketchat_configs: [{token: S3CR3T-rc3, token_id: S3CR3T-rc4}]
  slack_configs: [{api_url: https://hooks/S3CR3T-slack, app_token: S3CR3T-slack2, api_url_file: /s}]
  sns_configs: [{sigv4: {secret_key: S3CR3T-sns}}]
  telegram_configs: [{bot_token: S3CR3T-tg, bot_token_file: /tg}]
  victorops_configs: [{api_key: S3CR3T-vo}]
  webhook_configs:
  - url: https://hook/S3CR3T-webhook
    http_config: {basic_auth: {password: S3CR3T-webhook-basic}}
  incidentio_configs: [{url: https://inc/shown, alert_source_token: S3CR3T-inc}]
  wechat_configs: [{api_secret: S3CR3T-wechat}]
  webex_configs: [{http_config: {authorization: {credentials: S3CR3T-webex}}}]
inhibit_rules:
- source_match: {token: shown-label-value}
"#;
        for (text, visible) in [
            (prometheus, &["/k8s.key", "/oauth", "/m", "shown-header", "- /h", "/c", "access_key: AK"][..]),
            (alertmanager, &["/smtp", "/e", "/s", "/tg", "https://pd/enqueue", "https://shown", "shown-label-value"]),
        ] {
            let out = redact_secrets(text).unwrap();
            assert!(
                !out.contains("S3CR3T"),
                "{}",
                out.lines().filter(|l| l.contains("S3CR3T")).collect::<Vec<_>>().join("\n")
            );
            assert_eq!(
                out.matches(SECRET).count() + out.matches(URL_PASSWORD).count(),
                text.matches("S3CR3T").count(),
                "{out}"
            );
            for v in visible {
                assert!(out.contains(v), "{v} hidden: {out}");
            }
        }
    }

    #[test]
    fn url_passwords() {
        assert_eq!(
            redact_url_password("http://u:p@h:1/x@y"),
            Some(("http://u:xxxxx@h:1/x@y".to_owned(), "p".to_owned()))
        );
        assert_eq!(redact_url_password("https://u@h/"), None);
        assert_eq!(redact_url_password("http://h/a:b@c"), None);
        assert_eq!(redact_url_password("(.*)://a:b@c"), None);
        check("url: http://u:p@h/\n", "url: http://u:xxxxx@h/\n");
        check("regex: http://u:p@h/\n", "regex: http://u:p@h/\n");
    }

    #[test]
    fn messages_are_scrubbed_of_the_secrets_found() {
        let text = "basic_auth: {password: hunter22}\nremote_write: [{url: 'http://u:pa55word@h/'}]\ntoken: abc\n";
        let found = secret_values(text);
        assert_eq!(found, ["hunter22", "pa55word", "abc"]);
        assert_eq!(
            scrub("bad value hunter22 in http://u:pa55word@h/ (abc)", &found),
            "bad value <secret> in http://u:<secret>@h/ (abc)"
        );
        assert!(secret_values("a: [").is_empty());
    }

    #[test]
    fn comments_and_anchors_do_not_leak() {
        let out = redact_secrets("# password: c0mment\nbasic_auth:\n  password: &p anch0r\nother:\n  password: *p\n")
            .unwrap();
        assert!(!out.contains("c0mment") && !out.contains("anch0r"), "{out}");
    }
}
