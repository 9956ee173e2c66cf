//! Message bodies: Alertmanager's webhook JSON (version "4"), Slack incoming
//! webhooks, PagerDuty Events v2, and `POST /api/v2/alerts` for external
//! Alertmanagers.
//!
//! Go templates are not implemented. Text fields accept plain text with the
//! placeholders `{{ .Status }}`, `{{ .Receiver }}`, `{{ .ExternalURL }}`,
//! `{{ .GroupKey }}`, `{{ .GroupLabels.NAME }}`, `{{ .CommonLabels.NAME }}` and
//! `{{ .CommonAnnotations.NAME }}`; defaults approximate Alertmanager's default
//! templates (`[FIRING:2] alertname cluster (extra common values)` subjects, links to
//! the Alertmanager UI).

use ember_exposition::{Labels, Timestamp};
use serde_json::{Map, Value, json};
use sha2::Digest;

use super::AlertStatus;
use super::alert::{Alert, PostableAlert};
use super::config::{PagerdutyConfig, SlackConfig, WebhookConfig};
use super::dispatcher::{Integration, Notification};

/// An HTTP POST to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Absolute URL.
    pub url: String,
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Formats Unix milliseconds as RFC 3339 (`0001-01-01T00:00:00Z` for `None`, as Go
/// prints a zero time).
pub fn rfc3339(t: Option<Timestamp>) -> String {
    match t.and_then(|t| jiff::Timestamp::from_millisecond(t).ok()) {
        Some(ts) => ts.to_string(),
        None => "0001-01-01T00:00:00Z".into(),
    }
}

fn labels_json(l: &Labels) -> Value {
    Value::Object(l.iter().map(|l| (l.name.clone(), Value::String(l.value.clone()))).collect::<Map<_, _>>())
}

/// The labels every alert has with the same value.
pub fn common(sets: impl Iterator<Item = Labels>) -> Labels {
    let mut acc: Option<Labels> = None;
    for s in sets {
        acc = Some(match acc {
            None => s,
            Some(a) => a.filter(|l| s.get(&l.name) == Some(l.value.as_str())),
        });
    }
    acc.unwrap_or_default()
}

/// Alertmanager's alert fingerprint rendering: 16 hex digits.
pub fn fingerprint_hex(fp: u64) -> String {
    format!("{fp:016x}")
}

/// The template data of a notification.
#[derive(Debug, Clone)]
pub struct TemplateData<'a> {
    /// The notification.
    pub n: &'a Notification,
    /// `firing` or `resolved`.
    pub status: AlertStatus,
    /// Labels common to all alerts.
    pub common_labels: Labels,
    /// Annotations common to all alerts.
    pub common_annotations: Labels,
}

impl<'a> TemplateData<'a> {
    /// Template data for `n`.
    pub fn new(n: &'a Notification) -> Self {
        TemplateData {
            n,
            status: n.status(),
            common_labels: common(n.alerts.iter().map(|a| a.labels.clone())),
            common_annotations: common(n.alerts.iter().map(|a| a.annotations.clone())),
        }
    }

    fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.n.alerts.iter().filter(|a| a.ends_at.is_none())
    }

    fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.n.alerts.iter().filter(|a| a.ends_at.is_some())
    }

    /// Alertmanager's `__subject`: `[FIRING:2] group values (other common values)`.
    pub fn subject(&self) -> String {
        let mut s = format!("[{}", self.status.as_str().to_uppercase());
        if self.status == AlertStatus::Firing {
            s.push_str(&format!(":{}", self.firing().count()));
        }
        s.push_str("] ");
        let gv: Vec<&str> = self.n.group_labels.iter().map(|l| l.value.as_str()).collect();
        s.push_str(&gv.join(" "));
        if self.common_labels.len() > self.n.group_labels.len() {
            let rest: Vec<&str> = self
                .common_labels
                .iter()
                .filter(|l| !self.n.group_labels.contains(&l.name))
                .map(|l| l.value.as_str())
                .collect();
            s.push_str(&format!(" ({})", rest.join(" ")));
        }
        s
    }

    /// Alertmanager's `__alertmanagerURL`: the UI filtered to this receiver.
    pub fn alertmanager_url(&self) -> String {
        format!("{}/#/alerts?receiver={}", self.n.external_url, query_escape(&self.n.receiver))
    }

    /// Expands the supported `{{ .Field }}` placeholders in `tmpl`.
    pub fn expand(&self, tmpl: &str) -> String {
        let mut out = String::with_capacity(tmpl.len());
        let mut rest = tmpl;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find("}}") else {
                out.push_str(&rest[start..]);
                return out;
            };
            let inner = rest[start + 2..start + end].trim();
            match self.lookup(inner) {
                Some(v) => out.push_str(&v),
                None => out.push_str(&rest[start..start + end + 2]),
            }
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn lookup(&self, field: &str) -> Option<String> {
        let f = field.strip_prefix('.')?;
        let (head, tail) = match f.split_once('.') {
            Some((h, t)) => (h, Some(t)),
            None => (f, None),
        };
        match (head, tail) {
            ("Status", None) => Some(self.status.as_str().into()),
            ("Receiver", None) => Some(self.n.receiver.clone()),
            ("ExternalURL", None) => Some(self.n.external_url.clone()),
            ("GroupKey", None) => Some(self.n.group_key.clone()),
            ("GroupLabels", Some(k)) => Some(self.n.group_labels.get_or_empty(k).into()),
            ("CommonLabels", Some(k)) => Some(self.common_labels.get_or_empty(k).into()),
            ("CommonAnnotations", Some(k)) => Some(self.common_annotations.get_or_empty(k).into()),
            _ => None,
        }
    }

    fn alert_lines(&self, alerts: &mut dyn Iterator<Item = &Alert>) -> String {
        let mut s = String::new();
        for a in alerts {
            s.push_str("Labels:\n");
            for l in &a.labels {
                s.push_str(&format!(" - {} = {}\n", l.name, l.value));
            }
            if !a.annotations.is_empty() {
                s.push_str("Annotations:\n");
                for l in &a.annotations {
                    s.push_str(&format!(" - {} = {}\n", l.name, l.value));
                }
            }
            if !a.generator_url.is_empty() {
                s.push_str(&format!("Source: {}\n", a.generator_url));
            }
        }
        s
    }
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Alertmanager's webhook body, version "4".
pub fn webhook_body(n: &Notification, cfg: &WebhookConfig) -> Value {
    let d = TemplateData::new(n);
    let max = cfg.max_alerts as usize;
    let (alerts, truncated) =
        if max > 0 && n.alerts.len() > max { (&n.alerts[..max], n.alerts.len() - max) } else { (&n.alerts[..], 0) };
    json!({
        "receiver": n.receiver,
        "status": d.status.as_str(),
        "alerts": alerts.iter().map(|a| json!({
            "status": if a.ends_at.is_some() { "resolved" } else { "firing" },
            "labels": labels_json(&a.labels),
            "annotations": labels_json(&a.annotations),
            "startsAt": rfc3339(Some(a.starts_at)),
            "endsAt": rfc3339(a.ends_at),
            "generatorURL": a.generator_url,
            "fingerprint": fingerprint_hex(a.fingerprint()),
        })).collect::<Vec<_>>(),
        "groupLabels": labels_json(&n.group_labels),
        "commonLabels": labels_json(&d.common_labels),
        "commonAnnotations": labels_json(&d.common_annotations),
        "externalURL": n.external_url,
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": truncated,
    })
}

/// A Slack incoming-webhook body: one attachment with title, link, text and color.
pub fn slack_body(n: &Notification, cfg: &SlackConfig) -> Value {
    let d = TemplateData::new(n);
    let subject = d.subject();
    let title = cfg.title.as_deref().map(|t| d.expand(t)).unwrap_or_else(|| subject.clone());
    let link = cfg.title_link.as_deref().map(|t| d.expand(t)).unwrap_or_else(|| d.alertmanager_url());
    let text = match cfg.text.as_deref() {
        Some(t) => d.expand(t),
        None => n
            .alerts
            .iter()
            .map(|a| {
                let name = a.labels.get_or_empty("alertname");
                let status = if a.ends_at.is_some() { "resolved" } else { "firing" };
                let summary = a.annotations.get("summary").or(a.annotations.get("description")).unwrap_or("");
                let mut line = format!("• [{status}] {name}");
                if !summary.is_empty() {
                    line.push_str(&format!(": {summary}"));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let color = cfg
        .color
        .as_deref()
        .map(|c| d.expand(c))
        .unwrap_or_else(|| if d.status == AlertStatus::Firing { "danger".into() } else { "good".into() });
    let fallback =
        cfg.fallback.as_deref().map(|f| d.expand(f)).unwrap_or_else(|| format!("{subject} | {}", d.alertmanager_url()));
    let mut att = Map::new();
    att.insert("title".into(), title.into());
    att.insert("title_link".into(), link.into());
    if let Some(p) = &cfg.pretext {
        att.insert("pretext".into(), d.expand(p).into());
    }
    att.insert("text".into(), text.into());
    att.insert("fallback".into(), fallback.into());
    att.insert("color".into(), color.into());
    att.insert("mrkdwn_in".into(), json!(["fallback", "pretext", "text"]));
    let mut body = Map::new();
    if let Some(c) = &cfg.channel {
        body.insert("channel".into(), d.expand(c).into());
    }
    body.insert(
        "username".into(),
        cfg.username.as_deref().map(|u| d.expand(u)).unwrap_or_else(|| "Alertmanager".into()).into(),
    );
    if let Some(e) = &cfg.icon_emoji {
        body.insert("icon_emoji".into(), d.expand(e).into());
    }
    if let Some(u) = &cfg.icon_url {
        body.insert("icon_url".into(), d.expand(u).into());
    }
    body.insert("text".into(), Value::String(String::new()));
    body.insert("attachments".into(), Value::Array(vec![Value::Object(att)]));
    Value::Object(body)
}

/// The PagerDuty dedup key of a group: the hex SHA-256 of its group key, as
/// Alertmanager computes it.
pub fn group_key_hash(group_key: &str) -> String {
    let digest = sha2::Sha256::digest(group_key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn truncate(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// A PagerDuty Events API v2 body: `trigger` while anything fires, `resolve` after.
pub fn pagerduty_body(n: &Notification, cfg: &PagerdutyConfig) -> Value {
    let d = TemplateData::new(n);
    let client = cfg.client.as_deref().map(|c| d.expand(c)).unwrap_or_else(|| "Alertmanager".into());
    let details: Map<String, Value> = match &cfg.details {
        Some(m) => m.iter().map(|(k, v)| (k.clone(), Value::String(d.expand(v)))).collect(),
        None => {
            let mut m = Map::new();
            m.insert("firing".into(), d.alert_lines(&mut d.firing()).into());
            m.insert("resolved".into(), d.alert_lines(&mut d.resolved()).into());
            m.insert("num_firing".into(), d.firing().count().to_string().into());
            m.insert("num_resolved".into(), d.resolved().count().to_string().into());
            m
        }
    };
    let mut payload = Map::new();
    payload.insert(
        "summary".into(),
        truncate(cfg.description.as_deref().map(|s| d.expand(s)).unwrap_or_else(|| d.subject()), 1024).into(),
    );
    payload
        .insert("source".into(), cfg.source.as_deref().map(|s| d.expand(s)).unwrap_or_else(|| client.clone()).into());
    payload.insert(
        "severity".into(),
        cfg.severity.as_deref().map(|s| d.expand(s)).unwrap_or_else(|| "error".into()).into(),
    );
    for (k, v) in [("class", &cfg.class), ("component", &cfg.component), ("group", &cfg.group)] {
        if let Some(v) = v {
            payload.insert(k.into(), d.expand(v).into());
        }
    }
    payload.insert("custom_details".into(), Value::Object(details));
    json!({
        "routing_key": cfg.routing_key.as_deref().unwrap_or_default(),
        "dedup_key": group_key_hash(&n.group_key),
        "event_action": if d.status == AlertStatus::Firing { "trigger" } else { "resolve" },
        "client": client,
        "client_url": cfg.client_url.as_deref().map(|c| d.expand(c)).unwrap_or_else(|| d.alertmanager_url()),
        "payload": Value::Object(payload),
    })
}

/// The request that delivers `n`.
pub fn request_for(n: &Notification) -> HttpRequest {
    let (url, body) = match &n.integration {
        Integration::Webhook(c) => (c.url.clone().unwrap_or_default(), webhook_body(n, c)),
        Integration::Slack(c) => (c.api_url.clone().unwrap_or_default(), slack_body(n, c)),
        Integration::Pagerduty(c) => (c.url.clone().unwrap_or_default(), pagerduty_body(n, c)),
    };
    HttpRequest {
        url,
        content_type: "application/json",
        body: serde_json::to_vec(&body).expect("JSON values serialise"),
    }
}

/// The `POST /api/v2/alerts` body for external Alertmanagers.
pub fn alertmanager_body(alerts: &[PostableAlert]) -> Value {
    Value::Array(
        alerts
            .iter()
            .map(|a| {
                let mut m = Map::new();
                m.insert("labels".into(), labels_json(&a.labels));
                m.insert("annotations".into(), labels_json(&a.annotations));
                if let Some(s) = a.starts_at {
                    m.insert("startsAt".into(), rfc3339(Some(s)).into());
                }
                if let Some(e) = a.ends_at {
                    m.insert("endsAt".into(), rfc3339(Some(e)).into());
                }
                m.insert("generatorURL".into(), a.generator_url.clone().into());
                Value::Object(m)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(rfc3339(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(1_500)), "1970-01-01T00:00:01.5Z");
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
        assert_eq!(query_escape("team a/b"), "team+a%2Fb");
        assert_eq!(group_key_hash("{}:{}").len(), 64);
        let c = common(
            [ember_exposition::labels! {"a" => "1", "b" => "2"}, ember_exposition::labels! {"a" => "1", "b" => "3"}]
                .into_iter(),
        );
        assert_eq!(c.to_string(), r#"{a="1"}"#);
    }
}
