//! `ember query instant|range URL EXPR`: queries a Prometheus-compatible HTTP API and prints
//! the result the way `promtool query` does.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

/// What to ask.
#[derive(Debug, Clone)]
pub enum QueryKind {
    /// An instant query, at `time` (API time syntax) or now.
    Instant {
        /// Evaluation time.
        time: Option<String>,
    },
    /// A range query.
    Range {
        /// Start time.
        start: String,
        /// End time.
        end: String,
        /// Resolution step.
        step: String,
    },
}

/// Runs the query; returns the exit code.
pub fn run(server: &str, expr: &str, kind: &QueryKind, out: &mut dyn Write) -> i32 {
    let server = server.trim_end_matches('/');
    let (path, mut form) = match kind {
        QueryKind::Instant { time } => {
            let mut f = vec![("query", expr.to_owned())];
            if let Some(t) = time {
                f.push(("time", t.clone()));
            }
            ("/api/v1/query", f)
        }
        QueryKind::Range { start, end, step } => (
            "/api/v1/query_range",
            vec![("query", expr.to_owned()), ("start", start.clone()), ("end", end.clone()), ("step", step.clone())],
        ),
    };
    form.retain(|(_, v)| !v.is_empty());
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(out, "error starting the runtime: {e}");
            return 1;
        }
    };
    let url = format!("{server}{path}");
    let res = rt.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
        let resp = client.post(&url).form(&form).send().await?;
        resp.text().await
    });
    let body = match res {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(out, "query error: {e}");
            return 1;
        }
    };
    let v: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(
                out,
                "query error: response is not JSON ({e}): {}",
                body.chars().take(200).collect::<String>()
            );
            return 1;
        }
    };
    if v["status"] != "success" {
        let _ = writeln!(
            out,
            "query error: {}: {}",
            v["errorType"].as_str().unwrap_or("?"),
            v["error"].as_str().unwrap_or("?")
        );
        return 1;
    }
    let _ = out.write_all(format_result(&v["data"]).as_bytes());
    0
}

fn metric(m: &Value) -> String {
    let Some(obj) = m.as_object() else { return "{}".into() };
    let name = obj.get("__name__").and_then(Value::as_str).unwrap_or("");
    let rest: Vec<String> = obj
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
        .collect();
    if rest.is_empty() && !name.is_empty() { name.to_owned() } else { format!("{name}{{{}}}", rest.join(", ")) }
}

fn point(p: &Value) -> String {
    format!("{} @[{}]", p[1].as_str().unwrap_or("?"), p[0])
}

/// Formats the `data` member of a query response as promtool prints it.
pub fn format_result(data: &Value) -> String {
    let mut s = String::new();
    let empty = Vec::new();
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("vector") => {
            for e in result.as_array().unwrap_or(&empty) {
                s.push_str(&format!("{} => {}\n", metric(&e["metric"]), point(&e["value"])));
            }
        }
        Some("matrix") => {
            for e in result.as_array().unwrap_or(&empty) {
                s.push_str(&format!("{} =>\n", metric(&e["metric"])));
                for p in e["values"].as_array().unwrap_or(&empty) {
                    s.push_str(&point(p));
                    s.push('\n');
                }
            }
        }
        Some("scalar") => s.push_str(&format!("scalar: {}\n", point(result))),
        Some("string") => s.push_str(&format!("{:?} @[{}]\n", result[1].as_str().unwrap_or(""), result[0])),
        _ => s.push_str(&format!("{data}\n")),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_promtool() {
        let v: Value = serde_json::from_str(
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a","instance":"x:1"},"value":[1435781451.781,"1"]}]}"#,
        )
        .unwrap();
        assert_eq!(format_result(&v), "up{instance=\"x:1\", job=\"a\"} => 1 @[1435781451.781]\n");
        let v: Value = serde_json::from_str(
            r#"{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1,"2"],[2,"3"]]}]}"#,
        )
        .unwrap();
        assert_eq!(format_result(&v), "{a=\"b\"} =>\n2 @[1]\n3 @[2]\n");
        let v: Value = serde_json::from_str(r#"{"resultType":"scalar","result":[1,"5"]}"#).unwrap();
        assert_eq!(format_result(&v), "scalar: 5 @[1]\n");
    }
}
