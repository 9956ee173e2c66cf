//! Every script of the PromQL conformance suite parses as a test script (commands, series
//! notation, expect lines). Evaluating them is the engine's business.

use std::path::PathBuf;

use ember_promql::testing::script::{Command, parse_script};

fn conformance_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("EMBER_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    };
    let dir = dir.join("promqltest");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the PromQL conformance suite is missing at {}",
        dir.display()
    );
    println!("skipping: PromQL conformance suite not found at {} (set EMBER_CONFORMANCE_DIR)", dir.display());
    None
}

#[test]
fn every_conformance_script_parses() {
    let Some(dir) = conformance_dir() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let (mut evals, mut loads, mut failed) = (0, 0, Vec::new());
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        match parse_script(&src) {
            Ok(s) => {
                for c in &s.commands {
                    match c {
                        Command::Eval(_) => evals += 1,
                        Command::Load { .. } => loads += 1,
                        Command::Clear { .. } => {}
                    }
                }
            }
            Err(e) => failed.push(format!("{}: {e}", f.file_name().unwrap().to_string_lossy())),
        }
    }
    println!(
        "promqltest scripts: {} files, {} parsed, {} failed; {loads} loads, {evals} evals",
        files.len(),
        files.len() - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "scripts that do not parse:\n{}", failed.join("\n"));
}
