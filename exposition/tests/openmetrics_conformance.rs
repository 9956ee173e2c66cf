//! Runs the OpenMetrics conformance suite from `$EMBER_CONFORMANCE_DIR/openmetrics/`
//! (default `../shared/conformance` from the workspace root).
//!
//! Each case folder holds `metrics` and `test.json` with `shouldParse`; a case with
//! `"format": "prometheus-text"` goes through the text 0.0.4 parser instead. Every case
//! that parses must also round-trip: encode, parse again, same families.

use std::path::{Path, PathBuf};

use ember_exposition::{MetricFamily, ParseError, openmetrics, text};

fn conformance_dir() -> PathBuf {
    match std::env::var_os("EMBER_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    }
}

type Parse = fn(&str) -> Result<Vec<MetricFamily>, ParseError>;
type Encode = fn(&mut String, &[MetricFamily]) -> std::fmt::Result;

fn run_case(dir: &Path) -> Result<(), String> {
    let spec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("test.json")).map_err(|e| format!("reading test.json: {e}"))?,
    )
    .map_err(|e| format!("test.json: {e}"))?;
    let file = spec["file"].as_str().unwrap_or("metrics");
    let should_parse = spec["shouldParse"].as_bool().ok_or("test.json has no shouldParse")?;
    let input = std::fs::read(dir.join(file)).map_err(|e| format!("reading {file}: {e}"))?;
    let (parse, encode): (Parse, Encode) = match spec["format"].as_str() {
        Some("prometheus-text") => (text::parse, |o, f| text::encode(o, f)),
        _ => (openmetrics::parse, |o, f| openmetrics::encode(o, f)),
    };
    let result = match std::str::from_utf8(&input) {
        Ok(s) => parse(s),
        Err(_) => openmetrics::Parser::from_bytes(&input).map(|_| Vec::new()),
    };
    match (result, should_parse) {
        (Ok(families), true) => {
            let mut out = String::new();
            encode(&mut out, &families).map_err(|e| format!("encode: {e}"))?;
            let again = parse(&out).map_err(|e| format!("re-parse of encoded output failed: {e}\n{out}"))?;
            if again.len() != families.len() || !again.iter().zip(&families).all(|(a, b)| a.bit_eq(b)) {
                return Err(format!("round trip changed the families:\n{out}"));
            }
            Ok(())
        }
        (Err(_), false) => Ok(()),
        (Ok(_), false) => Err("parsed, but should not".into()),
        (Err(e), true) => Err(format!("should parse: {e}")),
    }
}

#[test]
fn openmetrics_conformance() {
    let root = conformance_dir().join("openmetrics");
    if !root.is_dir() {
        let msg = format!("openmetrics conformance: skipped, {} not found", root.display());
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg} (CI=true requires it)");
        }
        println!("{msg}");
        return;
    }
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    cases.sort();
    let mut failed = Vec::new();
    for case in &cases {
        if let Err(why) = run_case(case) {
            failed.push(format!("{}: {why}", case.file_name().unwrap().to_string_lossy()));
        }
    }
    println!("openmetrics conformance: {} passed, {} failed", cases.len() - failed.len(), failed.len());
    for f in &failed {
        println!("  FAILED {f}");
    }
    assert!(!cases.is_empty(), "no cases in {}", root.display());
    assert!(failed.is_empty(), "{} of {} conformance cases failed", failed.len(), cases.len());
}
