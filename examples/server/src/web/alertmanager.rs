//! Alertmanager's API v2 over the embedded dispatcher, served on the server's listener
//! only while the dispatcher is on (404 otherwise, like any unknown path).
//!
//! Shapes, status codes and error bodies follow Alertmanager's OpenAPI description:
//! errors found by Alertmanager's own checks are a JSON string (`"bad matcher format:
//! x"`), errors of the request's form (a missing required field, a boolean that is not
//! one) are `{"code":…,"message":…}` objects as its generated server writes them, and
//! times are RFC 3339 in UTC with milliseconds (`2024-01-01T00:00:00.000Z`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as AxPath, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ember_alerting::dispatch::{
    Alert, Clock, Dispatcher, PostableAlert, Silence, SilenceErrorKind, SilenceState, parse_matcher,
    payload::fingerprint_hex,
};
use ember_exposition::{Labels, MatchType, Matcher, Timestamp};
use serde::Deserialize;

use super::api::push_labels;
use super::json::push_str;
use super::params::Params;
use crate::embedded::Embedded;
use crate::server::App;

type Shared = State<Arc<App>>;

/// The `/api/v2/` routes (merged into the server's router).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silences))
        .route("/api/v2/silence/{id}", get(get_silence).delete(delete_silence))
        .route("/api/v2/status", get(get_status))
        .route("/api/v2/receivers", get(get_receivers))
}

/// Go's zero time in Unix milliseconds (`0001-01-01T00:00:00Z`), which clients send for
/// "not set".
const GO_ZERO_TIME_MS: i64 = -62_135_596_800_000;

/// Formats Unix milliseconds as Alertmanager's API does: `2024-01-01T00:00:00.000Z`.
pub fn api_time(ms: Timestamp) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "0001-01-01T00:00:00.000Z".into(),
    }
}

/// Parses an RFC 3339 time to Unix milliseconds; Go's zero time reads as `None`.
fn parse_api_time(field: &str, s: &str) -> Result<Option<Timestamp>, String> {
    let t: jiff::Timestamp = s.parse().map_err(|e| format!("{field}: invalid date-time {s:?}: {e}"))?;
    let ms = t.as_millisecond();
    Ok((ms != GO_ZERO_TIME_MS).then_some(ms))
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An API v2 error: the status and what Alertmanager sends with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub kind: AmErrorKind,
}

/// The body of an [`AmError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AmErrorKind {
    /// Found by Alertmanager's own checks: the message as a JSON string.
    Message(String),
    /// An error of the request's form, as the generated server writes it:
    /// `{"code":…,"message":…}`.
    Form {
        /// The generated server's code (the HTTP status, or 6xx for validation).
        code: u16,
        /// What is wrong.
        message: String,
    },
    /// No such thing; no body.
    Empty,
    /// The embedded dispatcher is off: the server's usual 404 page.
    Disabled,
}

impl IntoResponse for AmError {
    fn into_response(self) -> Response {
        match self.kind {
            AmErrorKind::Message(m) => {
                let mut s = String::new();
                push_str(&mut s, &m);
                json(self.status, s)
            }
            AmErrorKind::Form { code, message } => {
                let mut s = format!("{{\"code\":{code},\"message\":");
                push_str(&mut s, &message);
                s.push('}');
                json(self.status, s)
            }
            AmErrorKind::Empty => self.status.into_response(),
            AmErrorKind::Disabled => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
        }
    }
}

type AmResult = Result<Response, AmError>;

fn error_string(status: StatusCode, msg: &str) -> AmError {
    AmError { status, kind: AmErrorKind::Message(msg.to_owned()) }
}

fn error_object(status: StatusCode, code: u16, msg: &str) -> AmError {
    AmError { status, kind: AmErrorKind::Form { code, message: msg.to_owned() } }
}

fn required(field: &str) -> AmError {
    error_object(StatusCode::UNPROCESSABLE_ENTITY, 602, &format!("{field} in body is required"))
}

fn embedded(app: &App) -> Result<Arc<Embedded>, AmError> {
    app.embedded_alertmanager().ok_or(AmError { status: StatusCode::NOT_FOUND, kind: AmErrorKind::Disabled })
}

/// Reads a boolean query parameter the way the generated server does.
fn bool_param(p: &Params, name: &str) -> Result<bool, AmError> {
    match p.get(name) {
        None | Some("") => Ok(true),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" | "y" | "yes" | "on" | "ok" | "enabled" | "checked" | "selected" => Ok(true),
            "false" | "0" | "f" | "n" | "no" | "off" | "disabled" => Ok(false),
            _ => Err(error_object(
                StatusCode::BAD_REQUEST,
                400,
                &format!("{name} in query must be of type boolean: {v:?}"),
            )),
        },
    }
}

/// The `filter` matchers of a request (one matcher per parameter).
fn filter_param(p: &Params) -> Result<Vec<Matcher>, AmError> {
    p.all("filter")
        .into_iter()
        .map(|f| parse_matcher(f).map_err(|e| error_string(StatusCode::BAD_REQUEST, &e)))
        .collect()
}

/// The filters of `GET /api/v2/alerts` and `GET /api/v2/alerts/groups`.
struct AlertFilter {
    matchers: Vec<Matcher>,
    receiver: Option<regex::Regex>,
    active: bool,
    silenced: bool,
    inhibited: bool,
}

impl AlertFilter {
    fn parse(q: Option<&str>) -> Result<AlertFilter, AmError> {
        let p = Params::new(q, None);
        let receiver =
            match p.get("receiver") {
                None | Some("") => None,
                Some(r) => Some(regex::Regex::new(&format!("^(?:{r})$")).map_err(|e| {
                    error_string(StatusCode::BAD_REQUEST, &format!("failed to parse receiver param: {e}"))
                })?),
            };
        // Checked for its form only: alerts are matched against silences and inhibitions
        // as they are listed, so none is ever `unprocessed`.
        bool_param(&p, "unprocessed")?;
        Ok(AlertFilter {
            matchers: filter_param(&p)?,
            receiver,
            active: bool_param(&p, "active")?,
            silenced: bool_param(&p, "silenced")?,
            inhibited: bool_param(&p, "inhibited")?,
        })
    }

    /// Whether `a` (muted as `why`) passes the label and state filters.
    fn keeps(&self, a: &Alert, why: &ember_alerting::dispatch::MutedBy) -> bool {
        self.matchers.iter().all(|m| m.matches_labels(&a.labels))
            && (self.active || why.is_muted())
            && (self.silenced || why.silenced_by.is_empty())
            && (self.inhibited || why.inhibited_by.is_none())
    }
}

/// Appends one alert as `GET /api/v2/alerts` lists it.
fn push_alert(out: &mut String, a: &Alert, receivers: &[&str], why: &ember_alerting::dispatch::MutedBy) {
    out.push_str("{\"annotations\":");
    push_labels(out, &a.annotations);
    out.push_str(",\"endsAt\":");
    push_str(out, &api_time(a.ends_at.unwrap_or(GO_ZERO_TIME_MS)));
    out.push_str(",\"fingerprint\":");
    push_str(out, &fingerprint_hex(a.fingerprint()));
    out.push_str(",\"receivers\":[");
    for (i, r) in receivers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_str(out, r);
        out.push('}');
    }
    out.push_str("],\"startsAt\":");
    push_str(out, &api_time(a.starts_at));
    out.push_str(",\"status\":{\"inhibitedBy\":[");
    if let Some(fp) = why.inhibited_by {
        push_str(out, &fingerprint_hex(fp));
    }
    out.push_str("],\"silencedBy\":[");
    for (i, id) in why.silenced_by.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, id);
    }
    out.push_str("],\"state\":");
    push_str(out, if why.is_muted() { "suppressed" } else { "active" });
    out.push_str("},\"updatedAt\":");
    push_str(out, &api_time(a.updated_at));
    if !a.generator_url.is_empty() {
        out.push_str(",\"generatorURL\":");
        push_str(out, &a.generator_url);
    }
    out.push_str(",\"labels\":");
    push_labels(out, &a.labels);
    out.push('}');
}

/// The distinct receivers `labels` is routed to, in tree order.
fn receivers_of<'a, C: Clock>(d: &'a Dispatcher<C>, labels: &Labels) -> Vec<&'a str> {
    let mut v: Vec<&str> = Vec::new();
    for r in d.config().route.receivers_for(labels) {
        if !v.contains(&r) {
            v.push(r);
        }
    }
    v
}

async fn get_alerts(State(app): Shared, RawQuery(q): RawQuery) -> AmResult {
    let e = embedded(&app)?;
    let f = AlertFilter::parse(q.as_deref())?;
    let d = e.service.dispatcher().lock().await;
    let now = d.now();
    let mut listed: Vec<(u64, String)> = Vec::new();
    for a in d.alerts().filter(|a| !a.resolved_at(now)) {
        let receivers = receivers_of(&d, &a.labels);
        if let Some(re) = &f.receiver {
            if !receivers.iter().any(|r| re.is_match(r)) {
                continue;
            }
        }
        let why = d.muted_by(&a.labels);
        if !f.keeps(a, &why) {
            continue;
        }
        let mut s = String::new();
        push_alert(&mut s, a, &receivers, &why);
        listed.push((a.fingerprint(), s));
    }
    drop(d);
    listed.sort_by_key(|(fp, _)| *fp);
    let mut out = String::from("[");
    for (i, (_, s)) in listed.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(s);
    }
    out.push(']');
    Ok(json(StatusCode::OK, out))
}

async fn get_groups(State(app): Shared, RawQuery(q): RawQuery) -> AmResult {
    let e = embedded(&app)?;
    let f = AlertFilter::parse(q.as_deref())?;
    let d = e.service.dispatcher().lock().await;
    let now = d.now();
    let mut groups: Vec<(Labels, String, String)> = Vec::new();
    for (g, alerts) in d.group_alerts() {
        if f.receiver.as_ref().is_some_and(|re| !re.is_match(&g.receiver)) {
            continue;
        }
        let mut body = String::from("{\"alerts\":[");
        let mut n = 0;
        for a in alerts.into_iter().filter(|a| !a.resolved_at(now)) {
            let why = d.muted_by(&a.labels);
            if !f.keeps(a, &why) {
                continue;
            }
            if n > 0 {
                body.push(',');
            }
            n += 1;
            push_alert(&mut body, a, &receivers_of(&d, &a.labels), &why);
        }
        if n == 0 {
            continue;
        }
        body.push_str("],\"labels\":");
        push_labels(&mut body, &g.labels);
        body.push_str(",\"receiver\":{\"name\":");
        push_str(&mut body, &g.receiver);
        body.push_str("}}");
        groups.push((g.labels, g.receiver, body));
    }
    drop(d);
    groups.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut out = String::from("[");
    for (i, (_, _, s)) in groups.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(s);
    }
    out.push(']');
    Ok(json(StatusCode::OK, out))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostedAlert {
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    #[serde(rename = "generatorURL", default)]
    generator_url: String,
}

async fn post_alerts(State(app): Shared, body: String) -> AmResult {
    let e = embedded(&app)?;
    let parse_err = |why: String| {
        error_object(StatusCode::BAD_REQUEST, 400, &format!("parsing alerts body from \"\" failed, because {why}"))
    };
    let posted: Vec<PostedAlert> = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(err) => return Err(parse_err(err.to_string())),
    };
    let mut alerts = Vec::with_capacity(posted.len());
    let mut invalid = Vec::new();
    for (i, p) in posted.into_iter().enumerate() {
        let Some(labels) = p.labels else { return Err(required(&format!("{i}.labels"))) };
        let times = p.starts_at.as_deref().map(|s| parse_api_time("startsAt", s)).transpose().and_then(|start| {
            let end = p.ends_at.as_deref().map(|s| parse_api_time("endsAt", s)).transpose()?;
            Ok((start.flatten(), end.flatten()))
        });
        let (starts_at, ends_at) = match times {
            Ok(t) => t,
            Err(why) => return Err(parse_err(why)),
        };
        if let Err(why) = validate_alert(&labels, starts_at, ends_at) {
            invalid.push(why);
            continue;
        }
        alerts.push(PostableAlert {
            labels: Labels::from_pairs(labels),
            annotations: Labels::from_pairs(p.annotations),
            starts_at,
            ends_at,
            generator_url: p.generator_url,
        });
    }
    if !alerts.is_empty() {
        e.service.put(alerts).await;
    }
    if invalid.is_empty() {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(error_string(StatusCode::BAD_REQUEST, &invalid.join("; ")))
    }
}

/// Alertmanager's checks of a posted alert.
fn validate_alert(
    labels: &BTreeMap<String, String>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<(), String> {
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            return Err("start time must be before end time".into());
        }
    }
    if labels.is_empty() {
        return Err("at least one label pair required".into());
    }
    if let Some(n) = labels.keys().find(|n| !ember_exposition::names::is_valid_legacy_label_name(n)) {
        return Err(format!("invalid label set: invalid name {n:?}"));
    }
    Ok(())
}

fn silence_state(s: SilenceState) -> &'static str {
    match s {
        SilenceState::Pending => "pending",
        SilenceState::Active => "active",
        SilenceState::Expired => "expired",
    }
}

/// Appends one silence as `GET /api/v2/silences` lists it.
fn push_silence(out: &mut String, s: &Silence, now: Timestamp) {
    out.push_str("{\"id\":");
    push_str(out, &s.id);
    out.push_str(",\"status\":{\"state\":");
    push_str(out, silence_state(s.state(now)));
    out.push_str("},\"updatedAt\":");
    push_str(out, &api_time(s.updated_at));
    out.push_str(",\"comment\":");
    push_str(out, &s.comment);
    out.push_str(",\"createdBy\":");
    push_str(out, &s.created_by);
    out.push_str(",\"endsAt\":");
    push_str(out, &api_time(s.ends_at));
    out.push_str(",\"matchers\":[");
    for (i, m) in s.matchers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let (is_equal, is_regex) = match m.kind() {
            MatchType::Equal => (true, false),
            MatchType::NotEqual => (false, false),
            MatchType::Regex => (true, true),
            MatchType::NotRegex => (false, true),
        };
        out.push_str(&format!("{{\"isEqual\":{is_equal},\"isRegex\":{is_regex},\"name\":"));
        push_str(out, m.name());
        out.push_str(",\"value\":");
        push_str(out, m.value());
        out.push('}');
    }
    out.push_str("],\"startsAt\":");
    push_str(out, &api_time(s.starts_at));
    out.push('}');
}

/// Alertmanager's listing order: active (ending soonest first), then pending (starting
/// soonest first), then expired (most recently ended first).
fn sort_silences(v: &mut [&Silence], now: Timestamp) {
    let rank = |s: &Silence| match s.state(now) {
        SilenceState::Active => 0,
        SilenceState::Pending => 1,
        SilenceState::Expired => 2,
    };
    v.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| match a.state(now) {
            SilenceState::Active => a.ends_at.cmp(&b.ends_at),
            SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
            SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
        })
    });
}

async fn get_silences(State(app): Shared, RawQuery(q): RawQuery) -> AmResult {
    let e = embedded(&app)?;
    let p = Params::new(q.as_deref(), None);
    let filter = filter_param(&p)?;
    let d = e.service.dispatcher().lock().await;
    let now = d.now();
    let mut v = d.query_silences(&filter, None);
    sort_silences(&mut v, now);
    let mut out = String::from("[");
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_silence(&mut out, s, now);
    }
    out.push(']');
    Ok(json(StatusCode::OK, out))
}

/// Whether `s` is a UUID as the generated server checks path parameters.
fn is_uuid(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let groups: Vec<usize> = s.split('-').map(str::len).collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) && (groups == [32] || groups == [8, 4, 4, 4, 12])
}

fn check_uuid(id: &str) -> Result<(), AmError> {
    if is_uuid(id) {
        Ok(())
    } else {
        Err(error_object(
            StatusCode::UNPROCESSABLE_ENTITY,
            601,
            &format!("silenceID in path must be of type uuid: {id:?}"),
        ))
    }
}

async fn get_silence(State(app): Shared, AxPath(id): AxPath<String>) -> AmResult {
    let e = embedded(&app)?;
    check_uuid(&id)?;
    let d = e.service.dispatcher().lock().await;
    match d.silences().get(&id) {
        Some(s) => {
            let mut out = String::new();
            push_silence(&mut out, s, d.now());
            Ok(json(StatusCode::OK, out))
        }
        None => Err(AmError { status: StatusCode::NOT_FOUND, kind: AmErrorKind::Empty }),
    }
}

async fn delete_silence(State(app): Shared, AxPath(id): AxPath<String>) -> AmResult {
    let e = embedded(&app)?;
    check_uuid(&id)?;
    let res = e.service.dispatcher().lock().await.expire_silence(&id);
    match res {
        Ok(()) => Ok(StatusCode::OK.into_response()),
        Err(err) if err.kind == SilenceErrorKind::NotFound => {
            Err(AmError { status: StatusCode::NOT_FOUND, kind: AmErrorKind::Empty })
        }
        Err(err) => Err(error_string(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string())),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostedSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Option<Vec<PostedMatcher>>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    created_by: Option<String>,
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostedMatcher {
    name: Option<String>,
    value: Option<String>,
    is_regex: Option<bool>,
    is_equal: Option<bool>,
}

async fn post_silences(State(app): Shared, body: String) -> AmResult {
    let e = embedded(&app)?;
    let parse_err = |why: String| {
        error_object(StatusCode::BAD_REQUEST, 400, &format!("parsing silence body from \"\" failed, because {why}"))
    };
    let p: PostedSilence = match serde_json::from_str(&body) {
        Ok(p) => p,
        Err(err) => return Err(parse_err(err.to_string())),
    };
    let Some(posted) = p.matchers else { return Err(required("matchers")) };
    if posted.is_empty() {
        return Err(error_object(
            StatusCode::UNPROCESSABLE_ENTITY,
            604,
            "matchers in body should have at least 1 items",
        ));
    }
    let Some(starts_at) = p.starts_at else { return Err(required("startsAt")) };
    let Some(ends_at) = p.ends_at else { return Err(required("endsAt")) };
    let Some(created_by) = p.created_by else { return Err(required("createdBy")) };
    let Some(comment) = p.comment else { return Err(required("comment")) };
    let mut matchers = Vec::with_capacity(posted.len());
    for (i, m) in posted.into_iter().enumerate() {
        let (Some(name), Some(value), Some(is_regex)) = (m.name, m.value, m.is_regex) else {
            return Err(required(&format!("matchers.{i}.name, value and isRegex")));
        };
        if !ember_exposition::names::is_valid_legacy_label_name(&name) {
            return Err(error_string(
                StatusCode::BAD_REQUEST,
                &format!("invalid label matcher {i}: invalid label name {name:?}"),
            ));
        }
        let kind = match (is_regex, m.is_equal.unwrap_or(true)) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regex,
            (true, false) => MatchType::NotRegex,
        };
        match Matcher::new(kind, name, value) {
            Ok(m) => matchers.push(m),
            Err(err) => {
                return Err(error_string(StatusCode::BAD_REQUEST, &format!("invalid label matcher {i}: {err}")));
            }
        }
    }
    let (start, end) = match (parse_api_time("startsAt", &starts_at), parse_api_time("endsAt", &ends_at)) {
        (Ok(s), Ok(e)) => (s.unwrap_or(GO_ZERO_TIME_MS), e.unwrap_or(GO_ZERO_TIME_MS)),
        (Err(why), _) | (_, Err(why)) => return Err(parse_err(why)),
    };
    if start >= end {
        return Err(error_string(
            StatusCode::BAD_REQUEST,
            "Failed to create silence: start time must be before end time",
        ));
    }
    let mut d = e.service.dispatcher().lock().await;
    if end < d.now() {
        return Err(error_string(StatusCode::BAD_REQUEST, "Failed to create silence: end time can't be in the past"));
    }
    let silence = Silence {
        id: p.id.unwrap_or_default(),
        matchers,
        starts_at: start,
        ends_at: end,
        updated_at: 0,
        created_by,
        comment,
    };
    match d.set_silence(silence) {
        Ok(id) => {
            let mut out = String::from("{\"silenceID\":");
            push_str(&mut out, &id);
            out.push('}');
            Ok(json(StatusCode::OK, out))
        }
        Err(err) if err.kind == SilenceErrorKind::NotFound => {
            Err(error_string(StatusCode::NOT_FOUND, &err.to_string()))
        }
        Err(err) => Err(error_string(StatusCode::BAD_REQUEST, &err.to_string())),
    }
}

async fn get_status(State(app): Shared) -> AmResult {
    let e = embedded(&app)?;
    let mut out = String::from("{\"cluster\":{\"peers\":[],\"status\":\"disabled\"},\"config\":{\"original\":");
    push_str(&mut out, &e.config.read().redacted);
    out.push_str("},\"uptime\":");
    let started = jiff::Timestamp::try_from(e.started).map(|t| t.as_millisecond()).unwrap_or(0);
    push_str(&mut out, &api_time(started));
    out.push_str(",\"versionInfo\":{\"branch\":\"\",\"buildDate\":\"\",\"buildUser\":\"\",\"goVersion\":");
    push_str(&mut out, &format!("rust (ember {})", env!("CARGO_PKG_VERSION")));
    out.push_str(",\"revision\":\"\",\"version\":");
    push_str(&mut out, env!("CARGO_PKG_VERSION"));
    out.push_str("}}");
    Ok(json(StatusCode::OK, out))
}

async fn get_receivers(State(app): Shared) -> AmResult {
    let e = embedded(&app)?;
    let config = e.config.read().config.clone();
    let mut out = String::from("[");
    for (i, r) in config.receivers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_str(&mut out, &r.name);
        out.push('}');
    }
    out.push(']');
    Ok(json(StatusCode::OK, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_milliseconds_and_zulu() {
        assert_eq!(api_time(1_704_067_200_000), "2024-01-01T00:00:00.000Z");
        assert_eq!(api_time(1_704_067_200_123), "2024-01-01T00:00:00.123Z");
        assert_eq!(parse_api_time("x", "2024-01-01T01:00:00+01:00").unwrap(), Some(1_704_067_200_000));
        assert_eq!(parse_api_time("x", "0001-01-01T00:00:00Z").unwrap(), None);
        assert!(parse_api_time("startsAt", "yesterday").unwrap_err().starts_with("startsAt: invalid date-time"));
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(is_uuid("0f8fad5bd9cb469fa16570867728950e"));
        assert!(!is_uuid("0f8fad5b-d9cb-469f-a165-70867728950"));
        assert!(!is_uuid("nope"));
    }

    #[test]
    fn alert_checks() {
        let l = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(validate_alert(&l(&[]), None, None).unwrap_err(), "at least one label pair required");
        assert_eq!(
            validate_alert(&l(&[("a", "b")]), Some(2), Some(1)).unwrap_err(),
            "start time must be before end time"
        );
        assert!(validate_alert(&l(&[("a-b", "c")]), None, None).unwrap_err().contains("invalid name \"a-b\""));
        assert!(validate_alert(&l(&[("a", "b")]), Some(1), None).is_ok());
    }
}
