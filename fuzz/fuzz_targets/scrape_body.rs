//! Scrape bodies into storage: any body in any format, scraped twice into a head through
//! one scrape cache (so the cached path and staleness run too), never panics; a failed
//! scrape rolls back and marks staleness as the scrape loop does; exemplars are kept only
//! when enabled, and never more than the ring holds.
#![no_main]

use ember_discovery::scrape::{ScrapeCache, SeriesRules};
use ember_exposition::format::Format;
use ember_exposition::labels;
use ember_tsdb::head::Head;
use ember_tsdb::storage::{Appendable, Queryable};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    let format = Format::ALL[usize::from(sel & 3)];
    let mut rules = SeriesRules::new(labels! {"job" => "fuzz", "instance" => "x:1"});
    rules.honor_labels = sel & 4 != 0;
    rules.honor_timestamps = sel & 8 != 0;
    rules.track_timestamps_staleness = sel & 16 != 0;
    // Bit 5: exemplar storage on (a small ring, so eviction runs too).
    rules.exemplars = sel & 32 != 0;
    let head = Head::builder().max_exemplars(std::num::NonZeroUsize::new(4).unwrap()).build();
    let mut cache = ScrapeCache::new();
    // The second scrape sees half the body: some series stay, some go stale.
    for (t, body) in [(10_000, body), (25_000, &body[..body.len() / 2])] {
        let mut app = Appendable::appender(&head);
        match cache.append_body(&mut *app, &rules, body, format, t) {
            Ok(_) => app.commit().unwrap(),
            Err(e) => {
                let _ = e.to_string();
                app.rollback().unwrap();
                let mut app = Appendable::appender(&head);
                cache.append_failure(&mut *app, &rules, t);
                app.commit().unwrap();
            }
        }
    }
    let q = Queryable::querier(&head, i64::MIN, i64::MAX).unwrap();
    let _ = q.label_names(&[]);
    let all = [vec![ember_exposition::Matcher::regex("__name__", ".*").unwrap()]];
    let got = head.query_exemplars(i64::MIN, i64::MAX, &all);
    assert!(rules.exemplars || got.is_empty(), "exemplars stored while off");
    assert!(got.iter().map(|s| s.exemplars.len()).sum::<usize>() <= 4, "ring overflow");
});
