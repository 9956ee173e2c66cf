//! Property tests: optimised structures against naive references, and the matcher
//! string round trip.

use std::collections::HashMap;
use std::sync::Arc;

use ember_alerting::dispatch::{Alert, Config, Inhibitor, PostableAlert, format_matchers, parse_matchers};
use ember_exposition::{Labels, MatchType, Matcher};
use proptest::prelude::*;

fn label_set() -> impl Strategy<Value = Labels> {
    proptest::collection::vec((0..4usize, 0..3usize), 0..5).prop_map(|pairs| {
        let names = ["severity", "cluster", "team", "alertname"];
        let values = [["critical", "warning", "info"], ["a", "b", ""], ["x", "y", "z"], ["A", "B", "C"]];
        Labels::from_pairs(pairs.into_iter().map(|(n, v)| (names[n], values[n][v])).filter(|(_, v)| !v.is_empty()))
    })
}

/// Inhibition decided the obvious way: scan every alert.
fn naive_mutes(cfg: &Config, labels: &Labels, alerts: &[Alert], now: i64) -> bool {
    cfg.inhibit_rules.iter().any(|r| {
        let all = |ms: &[Matcher], l: &Labels| ms.iter().all(|m| m.matches_labels(l));
        all(&r.target_matchers, labels)
            && alerts.iter().any(|src| {
                !src.resolved_at(now)
                    && all(&r.source_matchers, &src.labels)
                    && r.equal.iter().all(|n| src.labels.get_or_empty(n) == labels.get_or_empty(n))
                    && !(all(&r.source_matchers, labels) && all(&r.target_matchers, &src.labels))
            })
    })
}

proptest! {
    #[test]
    fn inhibitor_index_matches_naive_scan(
        sources in proptest::collection::vec((label_set(), 0..3i64), 0..20),
        targets in proptest::collection::vec(label_set(), 1..20),
    ) {
        let cfg = Config::from_yaml(r#"
route: {receiver: r}
receivers: [{name: r}]
inhibit_rules:
  - source_matchers: [severity=critical]
    target_matchers: ['severity=~"warning|critical"']
    equal: [cluster]
  - source_matchers: [alertname=A]
    target_matchers: [team!=x]
  - source_matchers: ['team=~"x|y"']
    target_matchers: ['team=~"y|z"']
    equal: [alertname, cluster]
"#).unwrap();
        let now = 1_000;
        let mut inh = Inhibitor::new(&cfg.inhibit_rules);
        let mut store: HashMap<u64, Arc<Alert>> = HashMap::new();
        for (labels, end) in sources {
            // end 0: resolved; otherwise firing at `now`.
            let ends_at = Some(if end == 0 { now - 1 } else { now + end * 1000 });
            let a = Alert::from_postable(PostableAlert { labels, ends_at, starts_at: Some(0), ..Default::default() }, 0, 0);
            inh.observe(&a);
            store.insert(a.fingerprint(), Arc::new(a));
        }
        let all: Vec<Alert> = store.values().map(|a| Alert::clone(a)).collect();
        for t in targets {
            prop_assert_eq!(inh.mutes(&t, &store, now), naive_mutes(&cfg, &t, &all, now), "target {}", t);
        }
    }

    #[test]
    fn matcher_strings_round_trip(
        items in proptest::collection::vec(("[a-z_][a-z0-9_]{0,6}", 0..4usize, "[ -~\n]{0,8}"), 1..4),
    ) {
        let ms: Vec<Matcher> = items
            .iter()
            .map(|(n, k, v)| {
                let kind = [MatchType::Equal, MatchType::NotEqual, MatchType::Regex, MatchType::NotRegex][*k];
                // Escape regex metacharacters so every value is a valid regex.
                let v = if matches!(kind, MatchType::Regex | MatchType::NotRegex) {
                    v.chars().map(|c| if c.is_ascii_alphanumeric() || c == ' ' { c.to_string() } else { format!("\\x{:02x}", c as u32) }).collect()
                } else {
                    v.clone()
                };
                Matcher::new(kind, n.as_str(), v).unwrap()
            })
            .collect();
        let s = format_matchers(&ms);
        let back = parse_matchers(&s).unwrap();
        prop_assert_eq!(back, ms, "{}", s);
    }
}
