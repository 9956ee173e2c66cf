//! End to end: 50 HTTP targets on 127.0.0.1 found through file SD, relabeled, scraped into
//! a head; what is stored is exactly what the targets served; removing a target from the
//! file writes staleness markers; a target serving garbage is `up` 0 and harms nobody.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ember_discovery::api::Health;
use ember_discovery::config::Config;
use ember_discovery::discovery::{Manager, ProviderOptions, providers};
use ember_discovery::scrape::{ScrapeManager, ScrapeOptions};
use ember_exposition::{Matcher, is_stale_nan};
use ember_tsdb::head::Head;
use ember_tsdb::storage::{Queryable, collect_points};

use common::{Resp, serve, temp_dir};

const TARGETS: usize = 50;
const GARBAGE: usize = 0;
const REMOVED: usize = 49;

/// The value target `i` serves for series `s` on its `k`-th request (1-based).
fn value(i: usize, s: usize, k: u64) -> f64 {
    match s {
        0 => k as f64,
        1 => i as f64 * 1000.0 + k as f64 / 8.0,
        _ => -1e-3 * k as f64 - i as f64 * 1e12,
    }
}

fn body(i: usize, k: u64) -> String {
    format!(
        "# TYPE e2e_requests_total counter\ne2e_requests_total{{path=\"/x\"}} {}\n\
         # TYPE e2e_gauge gauge\ne2e_gauge{{kind=\"a\"}} {}\ne2e_gauge{{kind=\"b\",q=\"say \\\"hi\\\"\"}} {}\n\
         e2e_dropme 1\n",
        value(i, 0, k),
        value(i, 1, k),
        value(i, 2, k)
    )
}

/// `series string -> [(t, value)]` for every series matching `name`.
fn dump(head: &Head, name: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
    let q = Queryable::querier(head, i64::MIN, i64::MAX).unwrap();
    let set = q.select(true, None, &[Matcher::regex("__name__", name).unwrap()]);
    set.map(|s| {
        let s = s.unwrap();
        let pts = collect_points(&mut *s.iter()).into_iter().map(|p| (p.t, p.v.as_float().unwrap())).collect();
        (s.labels().to_series_string(), pts)
    })
    .collect()
}

fn sd_file(dir: &std::path::Path, addrs: &[(usize, String)]) {
    let groups: Vec<_> = addrs
        .iter()
        .map(|(i, a)| serde_json::json!({"targets": [a], "labels": {"idx": i.to_string(), "__meta_zone": "z1"}}))
        .collect();
    // Write then rename, so the watcher never reads half a file.
    let tmp = dir.join("targets.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&groups).unwrap()).unwrap();
    std::fs::rename(tmp, dir.join("targets.json")).unwrap();
}

async fn poll(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_targets_through_file_sd() {
    let served: Arc<Vec<AtomicU64>> = Arc::new((0..TARGETS).map(|_| AtomicU64::new(0)).collect());
    let mut addrs = Vec::new();
    for i in 0..TARGETS {
        let served = Arc::clone(&served);
        let (addr, _) = serve(move |_| {
            let k = served[i].fetch_add(1, Ordering::SeqCst) + 1;
            let text = if i == GARBAGE { "this is { not an exposition\n".to_string() } else { body(i, k) };
            Resp { content_type: "text/plain; version=0.0.4; charset=utf-8", ..Resp::json(text) }
        })
        .await;
        addrs.push((i, addr.to_string()));
    }
    let dir = temp_dir("scrape-e2e");
    sd_file(&dir, &addrs);
    let yaml = format!(
        r#"
scrape_configs:
  - job_name: e2e
    scrape_interval: 1s
    scrape_timeout: 1s
    file_sd_configs:
      - files: ['{}/*.json']
    relabel_configs:
      - source_labels: [__meta_zone, idx]
        separator: '-'
        target_label: zone_idx
      - source_labels: [__address__]
        regex: '127\.0\.0\.1:(\d+)'
        target_label: port
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: e2e_dropme
        action: drop
"#,
        dir.display()
    );
    let cfg = Config::from_yaml(&yaml).unwrap();
    let sc = cfg.scrape_config("e2e").unwrap();
    let opts = ProviderOptions { file_watch_interval: Some(Duration::from_millis(100)), ..Default::default() };
    let provs = providers(sc, &opts).unwrap().into_iter().map(|(n, p)| ("e2e".to_string(), n, p)).collect();
    let discovery = Manager::start(provs, Duration::from_millis(50));
    let head = Arc::new(Head::default());
    let scrape = ScrapeManager::new(&cfg.scrape_configs, head.clone(), ScrapeOptions::default()).unwrap();
    scrape.watch(discovery.subscribe());

    // Every target scraped a few times, each with the health it deserves.
    let limit = Duration::from_secs(60);
    poll("three scrapes of every target", limit, || served.iter().all(|s| s.load(Ordering::SeqCst) >= 3)).await;
    poll("every target's health", limit, || {
        let view = scrape.targets();
        view.active_targets.len() == TARGETS
            && view.active_targets.iter().all(|t| {
                let garbage = t.labels.get("idx") == Some(&GARBAGE.to_string());
                t.health == if garbage { Health::Down } else { Health::Up }
            })
    })
    .await;
    let view = scrape.targets();
    let bad = view.active_targets.iter().find(|t| t.health == Health::Down).unwrap();
    assert!(bad.last_error.contains("parse error"), "{}", bad.last_error);
    assert!(bad.last_scrape.is_some() && bad.last_scrape_duration > 0.0);
    let good = view.active_targets.iter().find(|t| t.health == Health::Up).unwrap();
    assert_eq!(good.last_error, "");
    assert!(good.labels.get("zone_idx").is_some_and(|z| z.starts_with("z1-")), "{:?}", good.labels);
    assert_eq!(good.labels.get("port"), Some(good.scrape_url.split(':').nth(2).unwrap().trim_end_matches("/metrics")));

    // Remove one target from the file: its series go stale.
    let removed_addr = addrs[REMOVED].1.clone();
    sd_file(&dir, &addrs[..REMOVED]);
    let instance = format!("instance=\"{removed_addr}\"");
    poll("staleness markers of the removed target", limit, || {
        let d = dump(&head, "e2e_.*|up");
        let mine: Vec<_> = d.iter().filter(|(k, _)| k.contains(&instance)).collect();
        mine.len() == 4 && mine.iter().all(|(_, pts)| pts.last().is_some_and(|p| is_stale_nan(p.1)))
    })
    .await;
    assert_eq!(scrape.targets().active_targets.len(), TARGETS - 1);
    scrape.stop().await;
    assert_eq!(scrape.stats().targets, 0);

    // Stored samples are exactly what was served, request by request.
    let data = dump(&head, "e2e_.*");
    let ups = dump(&head, "up");
    for (i, addr) in &addrs {
        let instance = format!("instance=\"{addr}\"");
        let mine: Vec<_> = data.iter().filter(|(k, _)| k.contains(&instance)).collect();
        let up = ups.iter().find(|(k, _)| k.contains(&instance)).map(|(_, v)| v.clone()).unwrap_or_default();
        let n_served = served[*i].load(Ordering::SeqCst);
        if *i == GARBAGE {
            assert!(mine.is_empty(), "garbage target stored {mine:?}");
            assert!(up.len() >= 3 && up.iter().all(|p| p.1 == 0.0), "{up:?}");
            continue;
        }
        assert_eq!(mine.len(), 3, "target {i}: {mine:?}");
        let want_names = [
            format!("e2e_gauge{{idx=\"{i}\", {instance}, job=\"e2e\", kind=\"a\""),
            format!("e2e_gauge{{idx=\"{i}\", {instance}, job=\"e2e\", kind=\"b\""),
            format!("e2e_requests_total{{idx=\"{i}\", {instance}, job=\"e2e\", path=\"/x\""),
        ];
        for ((name, pts), (want, s)) in mine.iter().zip(want_names.iter().zip([1, 2, 0])) {
            assert!(name.starts_with(want.as_str()), "{name} vs {want}");
            let mut pts: Vec<(i64, f64)> = (*pts).clone();
            if *i == REMOVED {
                assert!(is_stale_nan(pts.pop().unwrap().1));
            }
            // The last request may have been in flight when the loop stopped.
            assert!(pts.len() as u64 == n_served || pts.len() as u64 + 1 == n_served, "{name}: {n_served} served");
            for (k, p) in pts.iter().enumerate() {
                assert_eq!(p.1.to_bits(), value(*i, s, k as u64 + 1).to_bits(), "{name} sample {k}");
            }
            assert!(pts.windows(2).all(|w| w[0].0 < w[1].0));
        }
        let up_vals: Vec<f64> = up.iter().map(|p| p.1).collect();
        let n = up_vals.len() - usize::from(*i == REMOVED);
        assert!(up_vals[..n].iter().all(|&v| v == 1.0), "target {i} up {up_vals:?}");
        if *i == REMOVED {
            assert!(is_stale_nan(up_vals[n]));
        }
    }
    // The report series of one good target.
    let one = format!("instance=\"{}\"", addrs[1].1);
    let scraped = dump(&head, "scrape_samples_scraped");
    let post = dump(&head, "scrape_samples_post_metric_relabeling");
    let added = dump(&head, "scrape_series_added");
    let get = |d: &BTreeMap<String, Vec<(i64, f64)>>| d.iter().find(|(k, _)| k.contains(&one)).unwrap().1.clone();
    assert!(get(&scraped).iter().all(|p| p.1 == 4.0));
    assert!(get(&post).iter().all(|p| p.1 == 3.0));
    let added = get(&added);
    assert_eq!(added[0].1, 3.0, "the three kept series are new; the dropped one is not counted");
    assert!(added[1..].iter().all(|p| p.1 == 0.0));
    let _ = std::fs::remove_dir_all(dir);
}
