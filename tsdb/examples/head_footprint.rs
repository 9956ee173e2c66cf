//! Measures the head on realistic data, once: memory per series at 1,000,000 series,
//! matcher resolution time at that size, and chunk compression.
//!
//! `cargo run --release -p ember-tsdb --example head_footprint -- [series] [compression_series]`
//!
//! Memory method: resident set size (from /proc/self/statm) before building the head and
//! after appending one sample to each series, minus the chunk bytes the head reports.
//! Series are generated on the fly and dropped, so the figure is what the head keeps
//! (plus whatever the allocator does not return to the system, which counts against us).

#[path = "../benches/support/mod.rs"]
mod support;

use std::time::Instant;

use ember_exposition::Matcher;
use ember_tsdb::head::Head;
use ember_tsdb::storage::{AppendOptions, Querier, SeriesRef, Value, collect_points};

fn ingest(head: &Head, n: usize, scrapes: i64, filter: Option<&str>) -> u64 {
    let mut all = Vec::new();
    support::for_each_series(n, |s| {
        if filter.is_none_or(|j| s.labels.get("job") == Some(j)) {
            all.push(s)
        }
    });
    let mut refs: Vec<Option<SeriesRef>> = vec![None; all.len()];
    let mut rng = support::Rng::new(7);
    let mut samples = 0u64;
    for k in 0..scrapes {
        for (chunk_no, batch) in all.chunks_mut(1000).enumerate() {
            let mut app = head.appender();
            for (i, s) in batch.iter_mut().enumerate() {
                let t = support::scrape_time(&mut rng, k);
                let v = s.next_value(t);
                let r = &mut refs[chunk_no * 1000 + i];
                *r = Some(app.append(*r, &s.labels, t, Value::Float(v), AppendOptions::NONE).unwrap());
                samples += 1;
            }
            app.commit().unwrap();
        }
    }
    samples
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let comp_n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);

    // 1. Memory per series.
    let rss0 = support::resident_bytes().unwrap_or(0);
    let head = Head::default();
    let start = Instant::now();
    let mut app = head.appender();
    let mut in_batch = 0;
    let mut rng = support::Rng::new(1);
    support::for_each_series(n, |mut s| {
        let t = support::scrape_time(&mut rng, 0);
        let v = s.next_value(t);
        app.append(None, &s.labels, t, Value::Float(v), AppendOptions::NONE).unwrap();
        in_batch += 1;
        if in_batch == 1000 {
            std::mem::replace(&mut app, head.appender()).commit().unwrap();
            in_batch = 0;
        }
    });
    app.commit().unwrap();
    let build = start.elapsed();
    let rss1 = support::resident_bytes().unwrap_or(0);
    let st = head.stats(5);
    let overhead = (rss1 - rss0).saturating_sub(st.chunk_bytes) as f64 / st.num_series as f64;
    println!("series: {} created in {:.1?} ({:.0} series/s)", st.num_series, build, n as f64 / build.as_secs_f64());
    println!(
        "rss before {:.1} MiB, after {:.1} MiB, chunk bytes {:.1} MiB, symbols {} ({:.1} MiB)",
        rss0 as f64 / 1048576.0,
        rss1 as f64 / 1048576.0,
        st.chunk_bytes as f64 / 1048576.0,
        st.num_symbols,
        st.symbol_bytes as f64 / 1048576.0
    );
    println!("memory per series beyond chunk bytes: {overhead:.0} bytes");
    println!("top label value counts: {:?}", st.label_value_count_by_label_name);

    // 2. Matcher resolution.
    let ms = [
        Matcher::equal("__name__", "node_load1"),
        Matcher::equal("job", "node"),
        Matcher::regex("instance", "host-1.*").unwrap(),
    ];
    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..201 {
        let t = Instant::now();
        found = head.series_refs(&ms).len();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "resolve {{__name__=\"node_load1\", job=\"node\", instance=~\"host-1.*\"}}: {found} series, median {:?}, p99 {:?}",
        times[100], times[198]
    );
    let mut times = Vec::new();
    for _ in 0..51 {
        let t = Instant::now();
        let q = head.querier(i64::MIN, i64::MAX).unwrap();
        let set = q.select(true, None, &ms).collect_all().unwrap().value;
        let pts: usize = set.iter().map(|s| collect_points(s.iter().as_mut()).len()).sum();
        assert_eq!(pts, found);
        times.push(t.elapsed());
    }
    times.sort();
    println!("  full select (sorted, with samples): median {:?}", times[25]);
    for (name, ms) in [
        (
            "{job=\"kube-state-metrics\", namespace=~\"team-1|team-2|team-3\"}",
            vec![
                Matcher::equal("job", "kube-state-metrics"),
                Matcher::regex("namespace", "team-1|team-2|team-3").unwrap(),
            ],
        ),
        (
            "{__name__=\"node_cpu_seconds_total\", mode!=\"idle\"}",
            vec![Matcher::equal("__name__", "node_cpu_seconds_total"), Matcher::not_equal("mode", "idle")],
        ),
        (
            "{pod=~\".+\", uid=~\"0.*\"}",
            vec![Matcher::regex("pod", ".+").unwrap(), Matcher::regex("uid", "0.*").unwrap()],
        ),
    ] {
        let t = Instant::now();
        let found = head.series_refs(&ms).len();
        println!("resolve {name}: {found} series in {:?}", t.elapsed());
    }
    drop(head);

    // 3. Compression: three hours of scrapes.
    for (label, filter) in [("all", None), ("node", Some("node")), ("kube-state-metrics", Some("kube-state-metrics"))] {
        let head = Head::default();
        let t = Instant::now();
        let samples = ingest(&head, comp_n, 720, filter);
        let el = t.elapsed();
        let st = head.stats(1);
        println!(
            "compression [{label}]: {} series, {samples} samples, {} chunks, {:.3} bytes/sample (ingest {:.1}M samples/s incl. generation)",
            st.num_series,
            st.num_chunks,
            st.chunk_bytes as f64 / samples as f64,
            samples as f64 / el.as_secs_f64() / 1e6
        );
    }
}
