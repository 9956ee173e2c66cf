//! Runs PromQL test scripts: `cargo run -p ember-promql --example promqltest --features
//! test-util -- DIR [-v]`. Prints one line per file and a total; `-v` lists failures.

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: promqltest DIR [-v]");
        std::process::exit(2);
    };
    let verbose = args.any(|a| a == "-v");
    let report = match ember_promql::testing::run_dir(&PathBuf::from(&dir)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("promqltest: reading {dir}: {e}");
            std::process::exit(2);
        }
    };
    for s in &report.scripts {
        println!("{}", s.summary());
        if verbose {
            for f in s.failures() {
                println!("  FAIL {f}");
            }
        }
    }
    println!("{}", report.summary());
    if report.totals().1 > 0 {
        std::process::exit(1);
    }
}
