//! Public-API tests of the head through the storage traits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ember_exposition::{Labels, Matcher, STALE_NAN, is_stale_nan, labels};
use ember_tsdb::head::Head;
use ember_tsdb::storage::{
    AppendErrorKind, AppendOptions, Appendable, MemStorage, Point, Queryable, SeriesRef, Value, collect_points,
};
use proptest::prelude::*;

const NONE: &AppendOptions = AppendOptions::NONE;

fn f(v: f64) -> Value {
    Value::Float(v)
}

/// Every series matching `ms` in `[mint, maxt]` with its points, in label order.
fn read(q: &dyn Queryable, mint: i64, maxt: i64, ms: &[Matcher]) -> Vec<(Labels, Vec<Point>)> {
    let q = q.querier(mint, maxt).unwrap();
    let set = q.select(true, None, ms).collect_all().unwrap().value;
    let all = set.iter().map(|s| (s.labels().clone(), collect_points(s.iter().as_mut())));
    // A series may have chunks overlapping the range but no sample in it.
    all.filter(|(_, pts)| !pts.is_empty()).collect()
}

fn bits(pts: &[Point]) -> Vec<(i64, u64)> {
    pts.iter().map(|p| (p.t, p.v.as_float().unwrap().to_bits())).collect()
}

#[test]
fn append_commit_select() {
    let head = Head::default();
    let a = labels! {"__name__" => "up", "job" => "a"};
    let b = labels! {"__name__" => "up", "job" => "b"};
    let mut app = head.appender();
    let ra = app.append(None, &a, 1000, f(1.0), NONE).unwrap();
    let rb = app.append(None, &b, 1000, f(0.0), NONE).unwrap();
    assert_ne!(ra, rb);
    app.commit().unwrap();
    let mut app = head.appender();
    assert_eq!(app.append(Some(ra), &a, 2000, f(STALE_NAN), NONE).unwrap(), ra);
    // An unknown reference falls back to the labels.
    assert_eq!(app.append(Some(SeriesRef(999_999)), &b, 2000, f(1.0), NONE).unwrap(), rb);
    app.commit().unwrap();

    let got = read(&head, 0, 10_000, &[Matcher::equal("__name__", "up")]);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, a);
    assert_eq!(got[0].1[0], Point::float(1000, 1.0));
    assert!(is_stale_nan(got[0].1[1].v.as_float().unwrap()), "staleness markers are samples");
    assert_eq!(bits(&got[1].1), [(1000, 0f64.to_bits()), (2000, 1f64.to_bits())]);
    // Time range is inclusive.
    assert_eq!(read(&head, 2000, 2000, &[Matcher::equal("job", "b")])[0].1, [Point::float(2000, 1.0)]);
    assert!(read(&head, 3000, 4000, &[Matcher::equal("job", "b")]).is_empty());
    assert!(read(&head, 0, 4000, &[]).is_empty(), "no matchers select nothing");

    let q = head.querier(0, 10_000).unwrap();
    assert_eq!(Queryable::querier(&head, 0, 10_000).unwrap().label_names(&[]).unwrap().value, ["__name__", "job"]);
    use ember_tsdb::storage::Querier;
    assert_eq!(q.label_values("job", &[]).unwrap().value, ["a", "b"]);
    assert_eq!(q.label_values("job", &[Matcher::equal("job", "b")]).unwrap().value, ["b"]);
    assert_eq!(head.min_time(), Some(1000));
    assert_eq!(head.max_time(), Some(2000));
}

#[test]
fn append_errors_are_typed() {
    let head = Head::default();
    let s = labels! {"__name__" => "x"};
    let mut app = head.appender();
    let r = app.append(None, &s, 10_000, f(1.0), NONE).unwrap();
    app.commit().unwrap();
    let mut app = head.appender();
    let kind =
        |app: &mut ember_tsdb::head::HeadAppender, t, v| app.append(Some(r), &s, t, f(v), NONE).unwrap_err().kind;
    assert_eq!(kind(&mut app, 9_000, 1.0), AppendErrorKind::OutOfOrder);
    assert_eq!(kind(&mut app, 10_000, 2.0), AppendErrorKind::DuplicateTimestamp);
    // The same sample again is accepted and stored once.
    app.append(Some(r), &s, 10_000, f(1.0), NONE).unwrap();
    assert_eq!(app.append(None, &Labels::empty(), 1, f(1.0), NONE).unwrap_err().kind, AppendErrorKind::InvalidLabels);
    app.commit().unwrap();
    assert_eq!(read(&head, 0, 20_000, &[Matcher::equal("__name__", "x")])[0].1.len(), 1);

    head.truncate(5_000);
    let mut app = head.appender();
    assert_eq!(kind(&mut app, 4_000, 1.0), AppendErrorKind::OutOfBounds);
}

#[test]
fn out_of_order_window() {
    let head = Head::builder().ooo_window(Duration::from_secs(60)).build();
    let s = labels! {"__name__" => "x"};
    let mut app = head.appender();
    let r = app.append(None, &s, 100_000, f(1.0), NONE).unwrap();
    app.commit().unwrap();
    let mut app = head.appender();
    app.append(Some(r), &s, 50_000, f(0.5), NONE).unwrap();
    app.append(Some(r), &s, 70_000, f(0.7), NONE).unwrap();
    assert_eq!(app.append(Some(r), &s, 30_000, f(0.3), NONE).unwrap_err().kind, AppendErrorKind::TooOld);
    app.append(Some(r), &s, 110_000, f(1.1), NONE).unwrap();
    app.commit().unwrap();
    let mut app = head.appender();
    assert_eq!(app.append(Some(r), &s, 50_000, f(9.0), NONE).unwrap_err().kind, AppendErrorKind::DuplicateTimestamp);
    drop(app);
    let got = read(&head, 0, 200_000, &[Matcher::equal("__name__", "x")]);
    let ts: Vec<i64> = got[0].1.iter().map(|p| p.t).collect();
    assert_eq!(ts, [50_000, 70_000, 100_000, 110_000]);
    let q = head.querier(0, 200_000).unwrap();
    use ember_tsdb::storage::Querier;
    let set = q.select(false, None, &[Matcher::equal("__name__", "x")]).collect_all().unwrap().value;
    let mut it = set[0].iter();
    assert_eq!(it.seek(60_000).unwrap().t, 70_000);
    assert_eq!(it.next().unwrap().t, 100_000);
}

#[test]
fn rollback_leaves_no_trace() {
    let head = Head::default();
    let keep = labels! {"__name__" => "keep", "job" => "a"};
    let mut app = head.appender();
    let r = app.append(None, &keep, 1000, f(1.0), NONE).unwrap();
    app.commit().unwrap();

    let mut app = head.appender();
    app.append(Some(r), &keep, 2000, f(2.0), NONE).unwrap();
    app.append(None, &labels! {"__name__" => "gone", "secret" => "x"}, 2000, f(1.0), NONE).unwrap();
    assert_eq!(head.num_series(), 2, "series exist while the batch is open");
    app.rollback().unwrap();

    assert_eq!(head.num_series(), 1);
    let q = head.querier(i64::MIN, i64::MAX).unwrap();
    use ember_tsdb::storage::Querier;
    assert_eq!(q.label_names(&[]).unwrap().value, ["__name__", "job"]);
    assert_eq!(q.label_values("__name__", &[]).unwrap().value, ["keep"]);
    let got = read(&head, i64::MIN, i64::MAX, &[Matcher::regex("__name__", ".+").unwrap()]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, [Point::float(1000, 1.0)]);
    // Dropping an appender is a rollback too.
    let mut app = head.appender();
    app.append(None, &labels! {"__name__" => "dropped"}, 1, f(1.0), NONE).unwrap();
    drop(app);
    assert_eq!(head.num_series(), 1);
    assert_eq!(head.append_counts(), (1, 0));
}

#[test]
fn chunks_are_cut_and_seek_skips() {
    let head = Head::builder().chunk_range(Duration::from_secs(3600)).build();
    let s = labels! {"__name__" => "c"};
    let mut r = None;
    for i in 0..1000i64 {
        let mut app = head.appender();
        r = Some(app.append(r, &s, i * 15_000, f(i as f64), NONE).unwrap());
        app.commit().unwrap();
    }
    let stats = head.stats(10);
    // 120 samples per chunk, and a cut at every hour boundary (240 samples an hour).
    assert_eq!(stats.num_chunks, 9);
    assert!(stats.chunk_bytes > 0);
    let q = head.querier(0, i64::MAX).unwrap();
    use ember_tsdb::storage::Querier;
    let set = q.select(false, None, &[Matcher::equal("__name__", "c")]).collect_all().unwrap().value;
    let mut it = set[0].iter();
    assert_eq!(it.seek(600 * 15_000 + 1).unwrap(), Point::float(601 * 15_000, 601.0));
    assert_eq!(it.next().unwrap().t, 602 * 15_000);
    assert_eq!(it.seek(999 * 15_000).unwrap().t, 999 * 15_000);
    assert_eq!(it.next(), None);
    let all = read(&head, 100 * 15_000, 200 * 15_000, &[Matcher::equal("__name__", "c")]);
    assert_eq!(all[0].1.len(), 101);

    // Truncation drops whole chunks and collects empty series.
    let t = head.truncate(500 * 15_000);
    assert!(t.chunks_removed >= 3);
    assert_eq!(t.series_removed, 0);
    let left = read(&head, 0, i64::MAX, &[Matcher::equal("__name__", "c")]);
    assert!(left[0].1[0].t <= 500 * 15_000 && left[0].1.last().unwrap().t == 999 * 15_000);
    assert_eq!(head.truncate(i64::MAX).series_removed, 1);
    assert_eq!(head.num_series(), 0);
    assert_eq!(head.min_time(), None);
}

#[test]
fn stats_report_cardinality() {
    let head = Head::default();
    let mut app = head.appender();
    for i in 0..10 {
        for m in ["a", "b"] {
            let l = labels! {"__name__" => m.to_string(), "instance" => format!("h{i}"), "job" => "j".to_string()};
            app.append(None, &l, 1, f(1.0), NONE).unwrap();
        }
    }
    app.append(None, &labels! {"__name__" => "c", "job" => "j"}, 1, f(1.0), NONE).unwrap();
    app.commit().unwrap();
    let st = head.stats(2);
    assert_eq!(st.num_series, 21);
    assert_eq!(st.series_count_by_metric_name, [("a".to_string(), 10), ("b".to_string(), 10)]);
    assert_eq!(st.label_value_count_by_label_name[0], ("instance".to_string(), 10));
    assert_eq!(st.series_count_by_label_value_pair[0], ("job=j".to_string(), 21));
    // Every distinct pair, not the top-2 list: 3 names, 10 instances, 1 job.
    assert_eq!(st.num_label_pairs, 14);
    assert_eq!(st.num_chunks, 21);
}

#[test]
fn metadata_exemplars_created_timestamps() {
    use ember_exposition::{Exemplar, MetricType};
    use ember_tsdb::storage::Metadata;
    let head = Head::builder()
        .created_timestamp_zero_ingestion(true)
        .max_exemplars(std::num::NonZeroUsize::new(2).unwrap())
        .build();
    let s = labels! {"__name__" => "req_total"};
    let md = Metadata { metric_type: MetricType::Counter, help: "Requests.".into(), unit: String::new() };
    let ex = |v: f64| Exemplar { labels: labels! {"trace_id" => "abc"}, value: v, timestamp: None };
    let opts = AppendOptions {
        exemplars: vec![ex(1.0), ex(2.0), ex(3.0)],
        metadata: Some(md.clone()),
        created_timestamp: Some(500),
    };
    let mut app = head.appender();
    let r = app.append(None, &s, 1000, f(5.0), &opts).unwrap();
    app.commit().unwrap();
    assert_eq!(head.metadata(r), Some(md));
    assert_eq!(head.exemplars(r).iter().map(|e| e.value).collect::<Vec<_>>(), [2.0, 3.0]);
    let got = read(&head, 0, 2000, &[Matcher::equal("__name__", "req_total")]);
    assert_eq!(got[0].1, [Point::float(500, 0.0), Point::float(1000, 5.0)]);
    assert_eq!(head.series_labels(r), Some(s));
}

#[test]
fn many_threads_lose_nothing() {
    let head = Head::default();
    let threads = 4;
    let per = 250;
    let rounds = 40;
    std::thread::scope(|sc| {
        for th in 0..threads {
            let head = head.clone();
            sc.spawn(move || {
                let ls: Vec<Labels> = (0..per)
                    .map(|i| {
                        Labels::from_pairs([
                            ("__name__", "m".to_string()),
                            ("thread", th.to_string()),
                            ("i", i.to_string()),
                            ("shared", "x".into()),
                        ])
                    })
                    .collect();
                let mut refs = vec![None; per];
                for round in 0..rounds {
                    let mut app = head.appender();
                    for (i, l) in ls.iter().enumerate() {
                        refs[i] = Some(app.append(refs[i], l, round * 15_000, f(round as f64), NONE).unwrap());
                    }
                    app.commit().unwrap();
                }
            });
        }
    });
    assert_eq!(head.num_series(), threads * per);
    let got = read(&head, 0, i64::MAX, &[Matcher::equal("shared", "x")]);
    assert_eq!(got.len(), threads * per);
    for (l, pts) in &got {
        assert_eq!(pts.len(), rounds as usize, "{l}");
        assert!(pts.iter().enumerate().all(|(i, p)| *p == Point::float(i as i64 * 15_000, i as f64)));
    }
    assert_eq!(head.append_counts().0, (threads * per) as u64 * rounds as u64);
}

#[test]
fn a_series_collected_under_an_open_appender_gets_its_samples_in_a_successor() {
    let head = Head::default();
    let l = labels! {"__name__" => "m"};
    let mut app = head.appender();
    let r = app.append(None, &l, 1_000, f(1.0), NONE).unwrap();
    app.commit().unwrap();
    let mut app = head.appender();
    app.append(Some(r), &l, 2_000, f(2.0), NONE).unwrap();
    // Collected while `app` holds it by reference: its memory must outlive `app`, and
    // the sample goes to a new series with the same labels.
    assert_eq!(head.truncate(1_500).series_removed, 1);
    assert_eq!(head.series_labels(r), None);
    app.commit().unwrap();
    let want = vec![(l.clone(), vec![Point::float(2_000, 2.0)])];
    assert_eq!(read(&head, 0, i64::MAX, &[Matcher::equal("__name__", "m")]), want);
    // The stale reference falls back to the labels.
    let mut app = head.appender();
    let r2 = app.append(Some(r), &l, 3_000, f(3.0), NONE).unwrap();
    assert_ne!(r2, r);
    app.commit().unwrap();
    assert_eq!(head.num_series(), 1);
}

#[test]
fn truncation_racing_appends_by_reference_loses_no_sample_it_accepted() {
    let head = Head::default();
    let n = 400;
    let rounds = 60i64;
    let series: Vec<Labels> =
        (0..n).map(|i| Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])).collect();
    let (first, second) = series.split_at(n / 2);
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut refs = vec![None; n];
            for round in 0..rounds {
                let t = round * 1_000;
                let mut app = head.appender();
                for (i, l) in first.iter().enumerate() {
                    refs[i] = Some(app.append(refs[i], l, t, f(round as f64), NONE).unwrap());
                }
                app.commit().unwrap();
                // The second half is now older than the head's newest sample: the
                // truncation below collects it while this appender holds it by reference.
                let mut app = head.appender();
                for (i, l) in second.iter().enumerate() {
                    let i = i + n / 2;
                    refs[i] = Some(app.append(refs[i], l, t, f(round as f64), NONE).unwrap());
                }
                barrier.wait();
                if round % 2 == 0 {
                    // Even rounds: the truncation is over before the commit; odd: they race.
                    barrier.wait();
                }
                app.commit().unwrap();
                barrier.wait();
            }
        });
        for round in 0..rounds {
            barrier.wait();
            let removed = head.truncate(head.max_time().unwrap_or(0)).series_removed;
            if round % 2 == 0 {
                assert_eq!(removed, n / 2, "round {round}");
                barrier.wait();
            }
            barrier.wait();
        }
    });
    let got = read(&head, 0, i64::MAX, &[Matcher::equal("__name__", "m")]);
    assert_eq!(got.len(), n, "every series has its last round");
    for (l, pts) in got {
        assert_eq!(pts.last(), Some(&Point::float((rounds - 1) * 1_000, (rounds - 1) as f64)), "{l}");
        assert!(pts.windows(2).all(|w| w[0].t < w[1].t), "{l}: {pts:?}");
    }
}

#[test]
fn a_query_never_sees_half_a_batch() {
    let head = Head::default();
    let n = 2000;
    let batches = 300;
    let done = AtomicBool::new(false);
    let series: Vec<Labels> =
        (0..n).map(|i| Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])).collect();
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut refs = vec![None; n];
            for b in 0..batches {
                let mut app = head.appender();
                for (i, l) in series.iter().enumerate() {
                    refs[i] = Some(app.append(refs[i], l, b * 1000, f(b as f64), NONE).unwrap());
                }
                if b % 7 == 3 {
                    app.rollback().unwrap();
                } else {
                    app.commit().unwrap();
                }
            }
            done.store(true, Ordering::Release);
        });
        let mut checks = 0;
        let mut saw_partial_progress = 0;
        while !done.load(Ordering::Acquire) || checks < 20 {
            let q = head.querier(0, i64::MAX).unwrap();
            use ember_tsdb::storage::Querier;
            // Slow readers: sleep between selecting and iterating, and between series.
            let set = q.select(false, None, &[Matcher::equal("__name__", "m")]).collect_all().unwrap().value;
            let counts: Vec<(usize, Option<i64>)> = set
                .iter()
                .map(|s| {
                    let pts = collect_points(s.iter().as_mut());
                    (pts.len(), pts.last().map(|p| p.t))
                })
                .collect();
            if !counts.is_empty() {
                assert_eq!(counts.len(), n, "a batch creates all its series at once");
                assert!(counts.iter().all(|c| *c == counts[0]), "half a batch visible: {:?}", &counts[..5]);
                assert!(counts[0].1.is_none_or(|t| (t / 1000) % 7 != 3), "rolled-back batch visible");
                saw_partial_progress += 1;
            }
            checks += 1;
        }
        assert!(saw_partial_progress > 0);
    });
    let got = read(&head, 0, i64::MAX, &[Matcher::equal("__name__", "m")]);
    assert_eq!(got[0].1.len(), (0..batches).filter(|b| b % 7 != 3).count());
}

fn appendable_apply(a: &dyn Appendable, data: &[(Labels, i64, f64)]) {
    let mut app = a.appender();
    for (l, t, v) in data {
        let _ = app.append(None, l, *t, f(*v), NONE);
    }
    app.commit().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// The head answers selects exactly as the obviously-correct MemStorage does.
    #[test]
    fn head_agrees_with_mem_storage(
        data in proptest::collection::vec(((0usize..3, 0usize..4, 0usize..3), 0i64..50, -5i32..5), 1..120),
        matcher in (0usize..3, 0usize..6),
        range in (0i64..50, 0i64..50),
    ) {
        let names = ["a", "b", "c"];
        let vals = ["", "x", "xy", "y"];
        let rows: Vec<(Labels, i64, f64)> = data.iter().map(|&((n, v, w), t, val)| {
            let mut b = labels! {"__name__" => names[n]}.builder();
            b.set("k", vals[v]).set("w", vals[w]);
            (b.build(), t * 1000, val as f64 / 2.0)
        }).collect();
        let head = Head::default();
        let mem = MemStorage::new();
        // Two batches, so the second meets committed data.
        let (first, second) = rows.split_at(rows.len() / 2);
        for part in [first, second] {
            appendable_apply(&head, part);
            appendable_apply(&mem, part);
        }
        let ms = match matcher.1 {
            0 => vec![Matcher::equal("k", vals[matcher.0])],
            1 => vec![Matcher::regex("__name__", "a|b").unwrap(), Matcher::not_equal("k", vals[matcher.0])],
            2 => vec![Matcher::regex("k", "x.*").unwrap()],
            3 => vec![Matcher::not_regex("w", "y|").unwrap()],
            4 => vec![Matcher::regex("w", ".*").unwrap(), Matcher::equal("__name__", names[matcher.0])],
            _ => vec![Matcher::regex("k", ".+").unwrap(), Matcher::regex("w", "|x").unwrap()],
        };
        let (mint, maxt) = (range.0.min(range.1) * 1000, range.0.max(range.1) * 1000);
        let h = read(&head, mint, maxt, &ms);
        let m = read(&mem, mint, maxt, &ms);
        prop_assert_eq!(h.len(), m.len());
        for (a, b) in h.iter().zip(&m) {
            prop_assert_eq!(&a.0, &b.0);
            prop_assert_eq!(bits(&a.1), bits(&b.1));
        }
    }
}

#[test]
fn fanout_and_merge_over_head_and_mem() {
    use ember_tsdb::storage::{Fanout, Storage};
    let head = Head::default();
    let mem = MemStorage::new();
    let fan = Fanout::new(Arc::new(head.clone()) as Arc<dyn Storage>, vec![Arc::new(mem.clone()) as Arc<dyn Storage>]);
    let l = labels! {"__name__" => "up"};
    appendable_apply(&fan, &[(l.clone(), 1000, 1.0)]);
    appendable_apply(&mem, &[(l.clone(), 2000, 2.0)]);
    assert_eq!(head.num_series(), 1);
    let got = read(&fan, 0, 5000, &[Matcher::equal("__name__", "up")]);
    assert_eq!(got, [(l, vec![Point::float(1000, 1.0), Point::float(2000, 2.0)])]);
}

/// Chunks start decimal and switch to XOR at the first value that is not a short decimal;
/// every value reads back bit for bit, also by a querier opened before the switch.
#[test]
fn values_survive_the_decimal_to_xor_switch() {
    let head = Head::default();
    let l = labels! {"__name__" => "g"};
    let values = [12.5, 12.75, 13.0, 1e-9, 0.1 + 0.2, -0.0, STALE_NAN, 7.0, f64::INFINITY, 3.25];
    let mut r = None;
    let mut early = None;
    for (i, v) in values.iter().enumerate() {
        let mut app = head.appender();
        r = Some(app.append(r, &l, i as i64 * 15_000, f(*v), NONE).unwrap());
        app.commit().unwrap();
        if i == 3 {
            early = Some(head.querier(0, i64::MAX).unwrap());
        }
    }
    let want: Vec<(i64, u64)> = values.iter().enumerate().map(|(i, v)| (i as i64 * 15_000, v.to_bits())).collect();
    let got = read(&head, 0, i64::MAX, &[Matcher::equal("__name__", "g")]);
    assert_eq!(bits(&got[0].1), want);
    use ember_tsdb::storage::Querier;
    let set = early.unwrap().select(true, None, &[Matcher::equal("__name__", "g")]).collect_all().unwrap().value;
    assert_eq!(bits(&collect_points(set[0].iter().as_mut())), want[..4], "a reader keeps its snapshot");
}

/// `append_ref` adds by reference alone where the storage can, and says `None` (adding
/// nothing) where it cannot: an unknown or collected reference, a storage without it, or a
/// fanout whose secondaries need labels.
#[test]
fn append_by_reference_alone() {
    use ember_tsdb::storage::{Fanout, Storage};
    let head = Head::default();
    let l = labels! {"__name__" => "up"};
    let mut app = Appendable::appender(&head);
    let r = app.append(None, &l, 1000, f(1.0), NONE).unwrap();
    app.commit().unwrap();
    let mut app = Appendable::appender(&head);
    assert_eq!(app.append_ref(r, 2000, f(2.0), NONE).unwrap(), Some(r));
    assert_eq!(app.append_ref(SeriesRef(r.0 + 100), 2000, f(2.0), NONE).unwrap(), None);
    app.commit().unwrap();
    assert_eq!(head.truncate(500).series_removed, 0);
    let mut app = Appendable::appender(&head);
    assert_eq!(app.append_ref(r, 1500, f(3.0), NONE).unwrap_err().kind, AppendErrorKind::OutOfOrder);
    assert_eq!(app.append_ref(r, 400, f(3.0), NONE).unwrap_err().kind, AppendErrorKind::OutOfBounds);
    drop(app);
    let got = read(&head, 0, 5000, &[Matcher::equal("__name__", "up")]);
    assert_eq!(got, [(l.clone(), vec![Point::float(1000, 1.0), Point::float(2000, 2.0)])]);
    // Collected: the reference is unknown.
    assert_eq!(head.truncate(3000).series_removed, 1);
    let mut app = Appendable::appender(&head);
    assert_eq!(app.append_ref(r, 4000, f(4.0), NONE).unwrap(), None);

    let mem = MemStorage::new();
    assert_eq!(Appendable::appender(&mem).append_ref(SeriesRef(1), 1000, f(1.0), NONE).unwrap(), None);
    let head = Head::default();
    let primary = Arc::new(head.clone()) as Arc<dyn Storage>;
    let alone = Fanout::new(Arc::clone(&primary), vec![]);
    let mut app = alone.appender();
    let r = app.append(None, &l, 1000, f(1.0), NONE).unwrap();
    assert_eq!(app.append_ref(r, 2000, f(2.0), NONE).unwrap(), Some(r));
    app.commit().unwrap();
    let fan = Fanout::new(primary, vec![Arc::new(mem.clone()) as Arc<dyn Storage>]);
    assert_eq!(fan.appender().append_ref(r, 3000, f(3.0), NONE).unwrap(), None);
}
