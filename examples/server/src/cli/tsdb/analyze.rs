//! `ember tsdb analyze DIR [BLOCK_ID] [--limit N]`: cardinality and churn of one block,
//! with promtool's section headings.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use ember_tsdb::block::{Block, BlockMeta};

/// The figures of one block, computed from its index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Block id.
    pub ulid: String,
    /// `maxTime - minTime` in milliseconds.
    pub duration_ms: i64,
    /// Number of series.
    pub series: u64,
    /// Distinct label names.
    pub label_names: u64,
    /// Distinct label pairs (postings lists).
    pub postings: u64,
    /// Label pairs over all series (postings entries).
    pub postings_entries: u64,
    /// `name=value` → series not covering the whole block, weighted by the uncovered share.
    pub pair_churn: Vec<(u64, String)>,
    /// Label name → the same, per name.
    pub name_churn: Vec<(u64, String)>,
    /// `name=value` → series count.
    pub common_pairs: Vec<(u64, String)>,
    /// Label name → total length of its distinct values.
    pub value_length: Vec<(u64, String)>,
    /// Label name → distinct values.
    pub cardinality: Vec<(u64, String)>,
    /// Metric name → series.
    pub metric_names: Vec<(u64, String)>,
}

/// Sorts by count (descending), then key, and keeps `limit`.
fn top(map: HashMap<String, u64>, limit: usize) -> Vec<(u64, String)> {
    let mut v: Vec<(u64, String)> = map.into_iter().map(|(k, n)| (n, k)).collect();
    v.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    v.truncate(limit);
    v
}

/// Analyzes `block`, keeping `limit` entries per list.
pub fn analyze_block(block: &Block, limit: usize) -> ember_tsdb::Result<Analysis> {
    let meta: &BlockMeta = block.meta();
    let range = (meta.max_time - meta.min_time).max(1) as u64;
    let mut pair_uncovered: HashMap<String, u64> = HashMap::new();
    let mut name_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pair_count: HashMap<String, u64> = HashMap::new();
    let mut values: HashMap<String, HashMap<String, ()>> = HashMap::new();
    let mut entries = 0u64;
    let series = block.index_series()?;
    for s in &series {
        let covered = if s.num_chunks == 0 { 0 } else { s.max_time.saturating_sub(s.min_time).max(0) as u64 };
        let uncovered = range.saturating_sub(covered);
        for l in s.labels.iter() {
            let key = format!("{}={}", l.name, l.value);
            *name_uncovered.entry(l.name.clone()).or_default() += uncovered;
            *pair_uncovered.entry(key.clone()).or_default() += uncovered;
            *pair_count.entry(key).or_default() += 1;
            values.entry(l.name.clone()).or_default().insert(l.value.clone(), ());
            entries += 1;
        }
    }
    let scale = |m: HashMap<String, u64>| -> HashMap<String, u64> {
        m.into_iter().map(|(k, v)| (k, (v as f64 / range as f64) as u64)).collect()
    };
    let postings = pair_count.len() as u64;
    let metric_names: HashMap<String, u64> =
        pair_count.iter().filter_map(|(k, &n)| k.strip_prefix("__name__=").map(|name| (name.to_string(), n))).collect();
    let value_length = values.iter().map(|(n, vs)| (n.clone(), vs.keys().map(|v| v.len() as u64).sum())).collect();
    let cardinality = values.iter().map(|(n, vs)| (n.clone(), vs.len() as u64)).collect();
    Ok(Analysis {
        ulid: meta.ulid.clone(),
        duration_ms: meta.max_time - meta.min_time,
        series: series.len() as u64,
        label_names: values.len() as u64,
        postings,
        postings_entries: entries,
        pair_churn: top(scale(pair_uncovered), limit),
        name_churn: top(scale(name_uncovered), limit),
        common_pairs: top(pair_count, limit),
        value_length: top(value_length, limit),
        cardinality: top(cardinality, limit),
        metric_names: top(metric_names, limit),
    })
}

/// A duration the way Go prints one (`2h0m0s`, `1h59m59.999s`, `250ms`).
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{neg}{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:03}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => format!("{neg}{secs}"),
        (0, m) => format!("{neg}{m}m{secs}"),
        (h, m) => format!("{neg}{h}h{m}m{secs}"),
    }
}

/// Prints `a` like promtool does.
pub fn print(a: &Analysis, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "Block ID: {}", a.ulid)?;
    writeln!(out, "Duration: {}", go_duration(a.duration_ms))?;
    writeln!(out, "Series: {}", a.series)?;
    writeln!(out, "Label names: {}", a.label_names)?;
    writeln!(out, "Postings (unique label pairs): {}", a.postings)?;
    writeln!(out, "Postings entries (total label pairs): {}", a.postings_entries)?;
    let sections: [(&str, &[(u64, String)]); 6] = [
        ("Label pairs most involved in churning", &a.pair_churn),
        ("Label names most involved in churning", &a.name_churn),
        ("Most common label pairs", &a.common_pairs),
        ("Label names with highest cumulative label value length", &a.value_length),
        ("Highest cardinality labels", &a.cardinality),
        ("Highest cardinality metric names", &a.metric_names),
    ];
    for (title, rows) in sections {
        writeln!(out, "\n{title}:")?;
        for (n, k) in rows {
            writeln!(out, "{n} {k}")?;
        }
    }
    Ok(())
}

/// `ember tsdb analyze`: analyzes block `id` (default: the newest) of the data directory
/// `dir`, printing to `out`; errors go to `err`. Returns the exit code.
pub fn run(dir: &Path, id: Option<&str>, limit: usize, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut metas: Vec<(String, std::path::PathBuf)> = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.len() == 26 && e.path().join("meta.json").is_file() {
                    metas.push((name, e.path()));
                }
            }
        }
        Err(e) => {
            let _ = writeln!(err, "ember: {}: {e}", dir.display());
            return 1;
        }
    }
    metas.sort();
    let chosen = match id {
        Some(id) => metas.iter().find(|(n, _)| n == id),
        None => metas.last(),
    };
    let Some((_, path)) = chosen else {
        let what = id.map_or_else(|| "no blocks found".to_string(), |id| format!("block {id} not found"));
        let _ = writeln!(err, "ember: {}: {what}", dir.display());
        return 1;
    };
    let res = Block::open(path).and_then(|b| analyze_block(&b, limit));
    match res {
        Ok(a) => i32::from(print(&a, out).is_err()),
        Err(e) => {
            let _ = writeln!(err, "ember: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::go_duration;

    #[track_caller]
    fn check(ms: i64, want: &str) {
        assert_eq!(go_duration(ms), want);
    }

    #[test]
    fn durations() {
        check(7_200_000, "2h0m0s");
        check(7_199_999, "1h59m59.999s");
        check(61_500, "1m1.5s");
        check(250, "250ms");
        check(0, "0s");
        check(5_000, "5s");
    }
}
