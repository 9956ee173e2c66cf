//! `/federate`: the latest sample of every selected series, in the text exposition format,
//! so another server can scrape this one.

use std::sync::Arc;

use ember_exposition::{Labels, MetricFamily, MetricType, Sample, is_stale_nan, names::METRIC_NAME_LABEL};
use ember_tsdb::storage::{Queryable, SelectHints};

use super::api::{ApiError, ErrorType, parse_match_params};
use super::params::Params;

/// Builds the federation families: for each series matching any `match[]`, its latest
/// sample at or before `time` (default `now_ms`) within `lookback_ms`, skipping stale
/// series; `external` labels are added where the series lacks them. Families are sorted
/// by name, series by labels.
pub fn federate(
    storage: &Arc<dyn Queryable>,
    p: &Params,
    now_ms: i64,
    lookback_ms: i64,
    external: &[(String, String)],
) -> Result<Vec<MetricFamily>, ApiError> {
    let sets = parse_match_params(&p.all("match[]"))?;
    let t = p.time_or("time", now_ms)?;
    let mint = t - lookback_ms;
    let q = storage.querier(mint + 1, t).map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
    let hints = SelectHints { start: mint + 1, end: t, func: Some("federate".into()), ..SelectHints::default() };
    let mut latest: Vec<(Labels, i64, f64)> = Vec::new();
    for m in &sets {
        for s in q.select(true, Some(&hints), m) {
            let s = s.map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
            let mut it = s.iter();
            let mut last = None;
            while let Some(pt) = it.next() {
                if pt.t > t {
                    break;
                }
                last = Some(pt);
            }
            let Some(pt) = last else { continue };
            let Some(v) = pt.v.as_float() else { continue };
            if is_stale_nan(v) {
                continue;
            }
            latest.push((s.labels().clone(), pt.t, v));
        }
    }
    latest.sort_by(|a, b| a.0.cmp(&b.0));
    latest.dedup_by(|a, b| a.0 == b.0);
    let mut families: std::collections::BTreeMap<String, MetricFamily> = std::collections::BTreeMap::new();
    for (labels, ts, v) in latest {
        let name = labels.get(METRIC_NAME_LABEL).unwrap_or("").to_owned();
        let mut b = labels.builder();
        b.del(METRIC_NAME_LABEL);
        for (k, val) in external {
            if labels.get(k).is_none() {
                b.set(k.as_str(), val.as_str());
            }
        }
        let mut sample = Sample::new(name.clone(), b.build(), v);
        sample.timestamp = Some(ts);
        families
            .entry(name.clone())
            .or_insert_with(|| MetricFamily::new(name, MetricType::Unknown))
            .samples
            .push(sample);
    }
    Ok(families.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_exposition::{STALE_NAN, labels};
    use ember_tsdb::head::Head;
    use ember_tsdb::storage::{AppendOptions, Value};

    #[test]
    fn latest_non_stale_samples_with_external_labels() {
        let head = Arc::new(Head::builder().build());
        let mut app = head.appender();
        let o = AppendOptions::NONE;
        let a = labels! {"__name__" => "up", "job" => "a"};
        let b = labels! {"__name__" => "up", "job" => "b"};
        let c = labels! {"__name__" => "x_total", "job" => "a", "dc" => "own"};
        for (l, t, v) in [(&a, 1000, 1.0), (&a, 2000, 0.0), (&b, 1000, 1.0), (&b, 2000, STALE_NAN), (&c, 500, 7.0)] {
            app.append(None, l, t, Value::Float(v), o).unwrap();
        }
        Box::new(app).commit().unwrap();
        let storage: Arc<dyn Queryable> = head;
        let p = Params::new(Some("match[]=up&match[]=%7Bjob%3D%22a%22%7D"), None);
        let ext = vec![("dc".to_owned(), "eu".to_owned())];
        let fams = federate(&storage, &p, 3000, 300_000, &ext).unwrap();
        let mut out = String::new();
        ember_exposition::text::encode(&mut out, &fams).unwrap();
        assert_eq!(
            out,
            "# TYPE up untyped\nup{dc=\"eu\",job=\"a\"} 0 2000\n# TYPE x_total untyped\nx_total{dc=\"own\",job=\"a\"} 7 500\n"
        );
        let err = federate(&storage, &Params::new(Some("match[]=rate(x"), None), 3000, 1, &ext).unwrap_err();
        assert_eq!(err.kind, ErrorType::BadData);
    }
}
