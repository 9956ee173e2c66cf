//! Compaction property: query results are identical before and after compaction (head to
//! blocks, leveled and vertical merges) and after reopening, for random data.

use std::time::Duration;

use ember_exposition::{Labels, Matcher, labels};
use ember_tsdb::db::Db;
use ember_tsdb::storage::{AppendOptions, Point, Querier, Value, collect_points};
use ember_tsdb::wal::SyncPolicy;
use proptest::prelude::*;

const RANGE: i64 = 60_000;

/// One pass of appends: series and their (t, v) samples.
type Round = Vec<(Labels, Vec<(i64, f64)>)>;

fn dump(q: &dyn Querier) -> Vec<(Labels, Vec<(i64, u64)>)> {
    let set = q.select(true, None, &[Matcher::regex("s", ".+").unwrap()]).collect_all().unwrap().value;
    set.iter()
        .map(|s| {
            let pts: Vec<Point> = collect_points(s.iter().as_mut());
            (s.labels().clone(), pts.iter().map(|p| (p.t, p.v.as_float().unwrap().to_bits())).collect())
        })
        .filter(|(_, p): &(Labels, Vec<(i64, u64)>)| !p.is_empty())
        .collect()
}

fn open(dir: &std::path::Path) -> Db {
    Db::builder(dir)
        .sync(SyncPolicy::Never)
        .block_range(Duration::from_millis(RANGE as u64))
        .retention(Duration::from_secs(3600))
        .open()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn compaction_preserves_query_results(
        series in proptest::collection::vec(
            (0u8..6, proptest::collection::vec((1i64..20_000, prop_oneof![Just(1.0f64), any::<f64>(), (0u32..100).prop_map(|v| v as f64)]), 1..80)),
            1..6,
        ),
        window in (0i64..400_000, 0i64..400_000),
        rounds in 1usize..4,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let mut added = 0;
        // Appended in `rounds` passes, compacting between them, so blocks land at
        // different levels and the head keeps the newest part.
        let per_round: Vec<Round> = {
            let mut out = vec![Vec::new(); rounds];
            for (name, steps) in &series {
                let l = labels! {"s" => name.to_string().as_str()};
                let mut t = 0i64;
                let pts: Vec<(i64, f64)> = steps.iter().map(|&(d, v)| { t += d; (t, v) }).collect();
                let chunk = pts.len().div_ceil(rounds);
                for (r, part) in pts.chunks(chunk).enumerate() {
                    out[r].push((l.clone(), part.to_vec()));
                }
            }
            out
        };
        for round in per_round {
            for (l, pts) in round {
                let mut app = db.appender();
                for (t, v) in pts {
                    // Same-name series merge; their out-of-order samples are rejected the same way every time.
                    if app.append(None, &l, t, Value::Float(v), AppendOptions::NONE).is_ok() {
                        added += 1;
                    }
                }
                app.commit().unwrap();
            }
            let before = dump(db.querier(i64::MIN, i64::MAX).unwrap().as_ref());
            let (a, b) = (window.0.min(window.1), window.0.max(window.1));
            let before_window = dump(db.querier(a, b).unwrap().as_ref());
            db.compact().unwrap();
            prop_assert_eq!(&dump(db.querier(i64::MIN, i64::MAX).unwrap().as_ref()), &before, "after compaction");
            prop_assert_eq!(&dump(db.querier(a, b).unwrap().as_ref()), &before_window, "after compaction, window");
        }
        let all = dump(db.querier(i64::MIN, i64::MAX).unwrap().as_ref());
        drop(db);
        let db = open(dir.path());
        prop_assert_eq!(&dump(db.querier(i64::MIN, i64::MAX).unwrap().as_ref()), &all, "after reopen");
        prop_assert!(added > 0);
    }
}
