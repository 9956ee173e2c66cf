//! `/api/v1/metadata` and `/api/v1/targets/metadata`: what the active scrape targets said
//! about their metric families (type, help, unit), answered from the scrape manager's
//! per-target snapshots ([`TargetMetadataView`]).
//!
//! Parameters, limits and errors follow Prometheus. Where Prometheus's answer depends on Go's
//! random map order (which families survive `limit`, the order of a family's entries), these
//! answers are deterministic: families by name, entries in target order.

use std::collections::BTreeMap;

use ember_discovery::scrape::{MetricMetadata, TargetMetadataView};
use ember_exposition::Matcher;
use ember_promql::parser::{self, Expr};

use super::api::{ApiError, ApiResult, ApiSuccess, push_labels};
use super::json::push_str;
use super::params::Params;

/// An integer parameter as Go's `strconv.Atoi` reads it; `-1` when absent.
fn int_param(p: &Params, key: &str) -> Result<i64, ApiError> {
    match p.get(key) {
        None => Ok(-1),
        Some(s) => s.parse::<i64>().map_err(|_| ApiError::bad_data(format!("{key} must be a number"))),
    }
}

fn push_entry(out: &mut String, metric_family: Option<&str>, md: &MetricMetadata) {
    if let Some(f) = metric_family {
        out.push_str("\"metric\":");
        push_str(out, f);
        out.push(',');
    }
    out.push_str("\"type\":");
    push_str(out, md.metric_type.as_str());
    out.push_str(",\"help\":");
    push_str(out, &md.help);
    out.push_str(",\"unit\":");
    push_str(out, &md.unit);
    out.push('}');
}

fn find<'a>(t: &'a TargetMetadataView, family: &str) -> Option<&'a MetricMetadata> {
    t.metadata.binary_search_by(|m| m.metric_family.as_str().cmp(family)).ok().map(|i| &t.metadata[i])
}

/// `/api/v1/metadata`: per metric family, the distinct metadata its targets report.
/// `limit` bounds the families (negative: no bound), `limit_per_metric` the entries of each
/// (zero or negative: no bound), `metric` picks one family.
pub fn metric_metadata(targets: &[TargetMetadataView], p: &Params) -> ApiResult {
    let limit = int_param(p, "limit")?;
    let per_metric = int_param(p, "limit_per_metric")?;
    let metric = p.get("metric");
    let mut families: BTreeMap<&str, Vec<&MetricMetadata>> = BTreeMap::new();
    let found = targets.iter().flat_map(|t| match metric {
        None => &t.metadata[..],
        Some(name) => find(t, name).map_or(&[][..], std::slice::from_ref),
    });
    for md in found {
        let set = families.entry(md.metric_family.as_str()).or_default();
        if per_metric > 0 && set.len() as i64 >= per_metric {
            continue;
        }
        if !set.iter().any(|m| m.metric_type == md.metric_type && m.help == md.help && m.unit == md.unit) {
            set.push(md);
        }
    }
    let mut d = String::from("{");
    for (i, (name, entries)) in families.iter().enumerate() {
        if limit >= 0 && i as i64 >= limit {
            break;
        }
        if i > 0 {
            d.push(',');
        }
        push_str(&mut d, name);
        d.push_str(":[");
        for (j, md) in entries.iter().enumerate() {
            if j > 0 {
                d.push(',');
            }
            d.push('{');
            push_entry(&mut d, None, md);
        }
        d.push(']');
    }
    d.push('}');
    Ok(ApiSuccess::new(d))
}

/// Parses `match_target` (a series selector such as `{job="node"}`) into matchers.
fn match_target(s: &str) -> Result<Vec<Matcher>, ApiError> {
    let bad = |e: String| ApiError::bad_data(format!("invalid parameter \"match_target\": {e}"));
    match parser::parse(s) {
        Ok(Expr::VectorSelector(vs)) => Ok(vs.matchers.clone()),
        Ok(_) => Err(bad(format!("{s:?} is not a series selector"))),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// `/api/v1/targets/metadata`: one entry per (target, family), with the target's labels;
/// `match_target` selects targets by their labels, `metric` one family (its entries then
/// leave out the `metric` field, as Prometheus's do), and `limit` stops taking targets once
/// that many entries are collected (negative: no limit).
pub fn target_metadata(targets: &[TargetMetadataView], p: &Params) -> ApiResult {
    let limit = int_param(p, "limit")?;
    let matchers = p.get("match_target").map(match_target).transpose()?.unwrap_or_default();
    let metric = p.get("metric");
    let mut d = String::from("[");
    let mut n = 0i64;
    for t in targets {
        if limit >= 0 && n >= limit {
            break;
        }
        if !matchers.iter().all(|m| m.matches(t.labels.get_or_empty(m.name()))) {
            continue;
        }
        let mut push = |family: Option<&str>, md: &MetricMetadata| {
            if n > 0 {
                d.push(',');
            }
            d.push_str("{\"target\":");
            push_labels(&mut d, &t.labels);
            d.push(',');
            push_entry(&mut d, family, md);
            n += 1;
        };
        match metric {
            None => t.metadata.iter().for_each(|md| push(Some(&md.metric_family), md)),
            Some(name) => find(t, name).into_iter().for_each(|md| push(None, md)),
        }
    }
    d.push(']');
    Ok(ApiSuccess::new(d))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ember_exposition::{Labels, MetricType, labels};

    use super::*;

    fn md(f: &str, t: MetricType, help: &str) -> MetricMetadata {
        MetricMetadata { metric_family: f.into(), metric_type: t, help: help.into(), unit: String::new() }
    }

    fn target(job: &str, instance: &str, mut mds: Vec<MetricMetadata>) -> TargetMetadataView {
        mds.sort_by(|a, b| a.metric_family.cmp(&b.metric_family));
        let labels: Labels = labels! {"instance" => instance.to_string(), "job" => job.to_string()};
        TargetMetadataView { scrape_pool: job.into(), labels, metadata: Arc::from(mds) }
    }

    fn targets() -> Vec<TargetMetadataView> {
        vec![
            target(
                "a",
                "h1:1",
                vec![md("http_requests_total", MetricType::Counter, "Requests."), md("up_x", MetricType::Gauge, "Up.")],
            ),
            target("a", "h2:1", vec![md("http_requests_total", MetricType::Counter, "Number of requests.")]),
            target("b", "h3:1", vec![md("http_requests_total", MetricType::Counter, "Requests.")]),
        ]
    }

    #[track_caller]
    fn check(f: fn(&[TargetMetadataView], &Params) -> ApiResult, query: &str, want: &str) {
        let got = match f(&targets(), &Params::new(Some(query), None)) {
            Ok(s) => s.data,
            Err(e) => format!("{}: {}", e.kind.as_str(), e.message),
        };
        assert_eq!(got, want, "{query}");
    }

    #[test]
    fn metric_metadata_like_prometheus() {
        let requests = r#""http_requests_total":[{"type":"counter","help":"Requests.","unit":""},{"type":"counter","help":"Number of requests.","unit":""}]"#;
        let up = r#""up_x":[{"type":"gauge","help":"Up.","unit":""}]"#;
        check(metric_metadata, "", &format!("{{{requests},{up}}}"));
        check(metric_metadata, "limit=-1", &format!("{{{requests},{up}}}"));
        check(metric_metadata, "limit=1", &format!("{{{requests}}}"));
        check(metric_metadata, "limit=0", "{}");
        check(
            metric_metadata,
            "limit_per_metric=1",
            &format!(r#"{{"http_requests_total":[{{"type":"counter","help":"Requests.","unit":""}}],{up}}}"#),
        );
        check(metric_metadata, "limit_per_metric=0", &format!("{{{requests},{up}}}"));
        check(metric_metadata, "metric=up_x", &format!("{{{up}}}"));
        check(metric_metadata, "metric=nope", "{}");
        check(metric_metadata, "limit=x", "bad_data: limit must be a number");
        check(metric_metadata, "limit_per_metric=1.5", "bad_data: limit_per_metric must be a number");
    }

    #[test]
    fn target_metadata_like_prometheus() {
        let t1 = r#"{"instance":"h1:1","job":"a"}"#;
        check(target_metadata, "metric=up_x", &format!(r#"[{{"target":{t1},"type":"gauge","help":"Up.","unit":""}}]"#));
        check(
            target_metadata,
            "match_target=%7Binstance%3D%22h1%3A1%22%7D",
            &format!(
                r#"[{{"target":{t1},"metric":"http_requests_total","type":"counter","help":"Requests.","unit":""}},{{"target":{t1},"metric":"up_x","type":"gauge","help":"Up.","unit":""}}]"#
            ),
        );
        // `limit` is checked before each target: the first target's two entries both count.
        let got = target_metadata(&targets(), &Params::new(Some("limit=1"), None)).unwrap().data;
        assert_eq!(got.matches("\"target\"").count(), 2, "{got}");
        check(target_metadata, "limit=0", "[]");
        check(target_metadata, "metric=nope", "[]");
        let got = target_metadata(&targets(), &Params::new(Some("match_target=%7Bjob%3D%22b%22%7D"), None)).unwrap();
        assert_eq!(got.data.matches("\"target\"").count(), 1, "{}", got.data);
        check(target_metadata, "limit=two", "bad_data: limit must be a number");
        let err = target_metadata(&targets(), &Params::new(Some("match_target=%7Bjob%3D"), None)).unwrap_err();
        assert!(err.message.starts_with("invalid parameter \"match_target\": "), "{}", err.message);
    }
}
