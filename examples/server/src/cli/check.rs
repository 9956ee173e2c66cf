//! `ember check config` and `ember check rules`, worded like `promtool check`.

use std::io::Write;
use std::path::Path;

use ember_alerting::rules::file::{RuleFile, promql_checker};
use ember_promql::parser::ParseOptions;

use crate::config::ServerConfig;

/// Checks rule files, parsing their expressions with `opts` (the `--enable-feature`
/// switches); returns the process exit code (0 all good, 1 some file failed).
pub fn rules(files: &[String], opts: ParseOptions, out: &mut dyn Write) -> i32 {
    let mut failed = false;
    let check = promql_checker(opts);
    for f in files {
        let _ = writeln!(out, "Checking {f}");
        match RuleFile::load(Path::new(f), &check) {
            Ok(rf) => {
                let n: usize = rf.groups.iter().map(|g| g.rules.len()).sum();
                let _ = writeln!(out, "  SUCCESS: {n} rules found");
            }
            Err(errs) => {
                failed = true;
                let _ = writeln!(out, "  FAILED:");
                for e in errs {
                    let _ = writeln!(out, "{e}");
                }
            }
        }
        let _ = writeln!(out);
    }
    i32::from(failed)
}

/// Checks a server configuration file and the rule files it names (their expressions parsed
/// with `opts`).
pub fn config(files: &[String], opts: ParseOptions, out: &mut dyn Write) -> i32 {
    let mut failed = false;
    for f in files {
        let _ = writeln!(out, "Checking {f}");
        match ServerConfig::load(Path::new(f)) {
            Ok(cfg) => {
                if let Err(e) = crate::notifier::build_sets(&cfg) {
                    failed = true;
                    let _ = writeln!(out, "  FAILED: {f}: {e}");
                    let _ = writeln!(out);
                    continue;
                }
                let rule_files = match cfg.rule_file_paths() {
                    Ok(p) => p,
                    Err(e) => {
                        failed = true;
                        let _ = writeln!(out, "  FAILED: {e}");
                        continue;
                    }
                };
                let _ = writeln!(out, "  SUCCESS: {} rule files found", rule_files.len());
                if let Some(am) = &cfg.embedded_alertmanager {
                    let _ = writeln!(
                        out,
                        "  SUCCESS: {} is valid alertmanager config file syntax ({} receivers, {} inhibit rules)",
                        am.path.display(),
                        am.config.receivers.len(),
                        am.config.inhibit_rules.len()
                    );
                }
                let _ = writeln!(out, " SUCCESS: {f} is valid prometheus config file syntax");
                let _ = writeln!(out);
                let names: Vec<String> = rule_files.iter().map(|p| p.display().to_string()).collect();
                if rules(&names, opts, out) != 0 {
                    failed = true;
                }
            }
            Err(e) => {
                failed = true;
                let _ = writeln!(out, "  FAILED: {e}");
                let _ = writeln!(out);
            }
        }
    }
    i32::from(failed)
}

/// Runs rule unit-test files (the `promtool test rules` format) through the PromQL engine
/// over an in-memory head, the engine and the rule-file check both with `opts`'s
/// experimental switches; returns the exit code.
pub fn test_rules(files: &[String], opts: ParseOptions, out: &mut dyn Write) -> i32 {
    use std::sync::Arc;

    use ember_alerting::rules::unittest::{EngineBackend, run_file};
    use ember_promql::engine::Engine;
    use ember_tsdb::head::Head;

    let mut failed = false;
    for f in files {
        let _ = writeln!(out, "Unit Testing:  {f}");
        let engine = Engine::new(EngineBackend::engine_options(60_000).with_parse_features(opts));
        let check = promql_checker(engine.parse_options());
        let mut backend = EngineBackend::new(engine, || Arc::new(Head::builder().build()));
        let report = run_file(Path::new(f), &check, &mut backend);
        if report.passed() {
            let _ = writeln!(out, "  SUCCESS");
        } else {
            failed = true;
            let _ = writeln!(out, "  FAILED:");
            for e in &report.failures {
                let _ = writeln!(out, "{e}");
            }
        }
        let _ = writeln!(out);
    }
    i32::from(failed)
}
