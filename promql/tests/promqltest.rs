//! Prometheus's PromQL test scripts, run through the engine.
//!
//! Reads `$EMBER_CONFORMANCE_DIR/promqltest` (default `../shared/conformance` from the
//! workspace root). A missing directory skips the test with a reason, except under
//! `CI=true`, where it fails. Prints one line per script and a total.
//!
//! Every case of the required scripts must pass (`FLOORS`: `ALL`; a number would be a
//! floor of passes for a script not yet passing entirely). Skips are only for cases that
//! load or expect native histograms, which the engine does not evaluate yet.

use std::path::PathBuf;

use ember_promql::testing::run_dir;

/// Every case of the script must pass (skips only for native histograms).
const ALL: usize = usize::MAX;

/// Required scripts and the passes they must reach.
const FLOORS: &[(&str, usize)] = &[
    ("aggregators", ALL),
    ("at_modifier", ALL),
    ("collision", ALL),
    ("duration_expression", ALL),
    ("extended_vectors", ALL),
    ("fill-modifier", ALL),
    ("functions", ALL),
    ("histograms", ALL),
    ("info", ALL),
    ("limit", ALL),
    ("literals", ALL),
    ("name_label_dropping", ALL),
    ("operators", ALL),
    ("range_queries", ALL),
    ("selectors", ALL),
    ("staleness", ALL),
    ("subquery", ALL),
    ("trig_functions", ALL),
    ("type_and_unit", ALL),
];

fn conformance_dir() -> PathBuf {
    match std::env::var_os("EMBER_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    }
}

#[test]
fn promqltest_scripts() {
    let dir = conformance_dir().join("promqltest");
    if !dir.is_dir() {
        let msg = format!("promqltest: {} not found; set EMBER_CONFORMANCE_DIR", dir.display());
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("skipping: {msg}");
        return;
    }
    let report = run_dir(&dir).expect("reading the conformance directory");
    let mut problems = Vec::new();
    for s in &report.scripts {
        println!("{}", s.summary());
        let Some(&(_, floor)) = FLOORS.iter().find(|(n, _)| *n == s.name) else { continue };
        if floor == ALL {
            if s.failed() > 0 {
                problems.push(format!("{}: {} failed: {:#?}", s.name, s.failed(), s.failures()));
            }
        } else if s.passed() < floor {
            problems.push(format!(
                "{}: {} passed, below the floor of {floor}: {:#?}",
                s.name,
                s.passed(),
                s.failures()
            ));
        }
    }
    println!("{}", report.summary());
    for (name, _) in FLOORS {
        assert!(report.script(name).is_some(), "required script {name}.test is missing");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
