//! `/api/v1/rules` and `/api/v1/alerts` from the rule manager's views.

use ember_alerting::rules::eval::{Alert, AlertState};
use ember_alerting::rules::manager::{GroupView, RuleViewKind};

use super::api::push_labels;
use super::json::push_str;

fn rfc3339_ms(t: Option<i64>) -> String {
    match t.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()) {
        Some(ts) => ts.to_string(),
        None => "0001-01-01T00:00:00Z".to_owned(),
    }
}

fn push_map(out: &mut String, m: &std::collections::BTreeMap<String, String>) {
    out.push('{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, k);
        out.push(':');
        push_str(out, v);
    }
    out.push('}');
}

/// Appends one alert as `/api/v1/alerts` and `/api/v1/rules` show it.
pub fn push_alert(out: &mut String, a: &Alert) {
    out.push_str("{\"labels\":");
    push_labels(out, &a.labels);
    out.push_str(",\"annotations\":");
    push_map(out, &a.annotations);
    out.push_str(",\"state\":");
    push_str(out, a.state.as_str());
    out.push_str(",\"activeAt\":");
    push_str(out, &rfc3339_ms(Some(a.active_at)));
    out.push_str(",\"value\":");
    push_str(out, &go_exp(a.value));
    out.push('}');
}

/// The `data` of `/api/v1/alerts`: pending and firing alerts.
pub fn alerts_json(alerts: &[Alert]) -> String {
    let mut d = String::from("{\"alerts\":[");
    let mut first = true;
    for a in alerts.iter().filter(|a| a.state != AlertState::Inactive) {
        if !first {
            d.push(',');
        }
        first = false;
        push_alert(&mut d, a);
    }
    d.push_str("]}");
    d
}

/// The `data` of `/api/v1/rules`; `kind` is `alert`, `record` or `None` for both.
pub fn rules_json(groups: &[GroupView], kind: Option<&str>) -> String {
    let mut d = String::from("{\"groups\":[");
    for (gi, g) in groups.iter().enumerate() {
        if gi > 0 {
            d.push(',');
        }
        d.push_str("{\"name\":");
        push_str(&mut d, &g.name);
        d.push_str(",\"file\":");
        push_str(&mut d, &g.file);
        d.push_str(",\"rules\":[");
        let mut first = true;
        for r in &g.rules {
            let is_alert = matches!(r.kind, RuleViewKind::Alerting { .. });
            match kind {
                Some("alert") if !is_alert => continue,
                Some("record") if is_alert => continue,
                _ => {}
            }
            if !first {
                d.push(',');
            }
            first = false;
            d.push('{');
            if let RuleViewKind::Alerting { state, for_ms, keep_firing_for_ms, annotations, alerts } = &r.kind {
                d.push_str("\"state\":");
                push_str(&mut d, state.as_str());
                d.push_str(",\"name\":");
                push_str(&mut d, &r.name);
                d.push_str(",\"query\":");
                push_str(&mut d, &r.query);
                d.push_str(&format!(",\"duration\":{},\"keepFiringFor\":{}", for_ms / 1000, keep_firing_for_ms / 1000));
                d.push_str(",\"labels\":");
                push_labels(&mut d, &r.labels);
                d.push_str(",\"annotations\":");
                push_map(&mut d, annotations);
                d.push_str(",\"alerts\":[");
                for (i, a) in alerts.iter().filter(|a| a.state != AlertState::Inactive).enumerate() {
                    if i > 0 {
                        d.push(',');
                    }
                    push_alert(&mut d, a);
                }
                d.push(']');
            } else {
                d.push_str("\"name\":");
                push_str(&mut d, &r.name);
                d.push_str(",\"query\":");
                push_str(&mut d, &r.query);
                d.push_str(",\"labels\":");
                push_labels(&mut d, &r.labels);
            }
            d.push_str(",\"health\":");
            push_str(&mut d, r.status.health.as_str());
            if let Some(e) = &r.status.last_error {
                d.push_str(",\"lastError\":");
                push_str(&mut d, &e.to_string());
            }
            d.push_str(&format!(",\"evaluationTime\":{}", r.status.evaluation_time.as_secs_f64()));
            d.push_str(",\"lastEvaluation\":");
            push_str(&mut d, &rfc3339_ms(r.status.last_evaluation));
            d.push_str(",\"type\":");
            push_str(&mut d, if is_alert { "alerting" } else { "recording" });
            d.push('}');
        }
        d.push_str(&format!(
            "],\"interval\":{},\"limit\":{},\"evaluationTime\":{},\"lastEvaluation\":",
            g.interval_ms as f64 / 1000.0,
            g.limit,
            g.evaluation_time.as_secs_f64()
        ));
        push_str(&mut d, &rfc3339_ms(g.last_evaluation));
        d.push('}');
    }
    d.push_str("]}");
    d
}

/// Formats like Go's `strconv.FormatFloat(v, 'e', -1, 64)`, which Prometheus uses for alert
/// values (`1e+00`, `2.5e-03`).
pub fn go_exp(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_values_use_go_exponent_format() {
        assert_eq!(go_exp(1.0), "1e+00");
        assert_eq!(go_exp(0.0025), "2.5e-03");
        assert_eq!(go_exp(-123456.0), "-1.23456e+05");
        assert_eq!(go_exp(1e100), "1e+100");
    }
}
