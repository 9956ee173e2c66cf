//! The rule files under `testdata/rules/` (which Prometheus's `promtool check rules`
//! accepts) load and validate, expressions checked by the PromQL parser.

use std::path::PathBuf;

use ember_alerting::rules::file::{RuleFile, promql_check};

#[test]
fn testdata_rule_files_validate() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/rules");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yml") {
            let f = RuleFile::load(&p, &promql_check).unwrap_or_else(|e| panic!("{}: {e:?}", p.display()));
            assert!(!f.groups.is_empty(), "{}", p.display());
            n += 1;
        }
    }
    assert!(n >= 10, "expected at least 10 rule files, found {n}");
}
