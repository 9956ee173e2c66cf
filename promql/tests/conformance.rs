//! Every `eval` query of the Prometheus conformance scripts must parse (or, when the script
//! expects a failure with a message, fail with that message), and must survive
//! print → parse and pretty → parse unchanged.

use std::path::PathBuf;

use ember_promql::parser::{ParseOptions, parse, pretty, print};

struct Eval {
    file: String,
    line: usize,
    query: String,
    fail_msg: Option<String>,
}

fn conformance_dir() -> Option<PathBuf> {
    let base = std::env::var_os("EMBER_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"));
    let dir = base.join("promqltest");
    dir.is_dir().then_some(dir)
}

/// The query of an `eval` line: after `instant at <t>` or `range from <a> to <b> step <s>`.
fn query_of(rest: &str) -> Option<&str> {
    let words: Vec<&str> = rest.splitn(8, char::is_whitespace).collect();
    let skip = match *words.first()? {
        "instant" => 3,
        "range" => 7,
        _ => return None,
    };
    let mut s = rest;
    for _ in 0..skip {
        s = s.trim_start();
        s = &s[s.find(char::is_whitespace)?..];
    }
    Some(s.trim())
}

fn evals(dir: &PathBuf) -> Vec<Eval> {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "test")) {
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for (i, line) in lines.iter().enumerate() {
            let Some((cmd, rest)) = line.split_once(' ') else { continue };
            if !cmd.starts_with("eval") {
                continue;
            }
            let query = query_of(rest).unwrap_or_else(|| panic!("{file}:{}: bad eval line", i + 1)).to_string();
            let mut fail_msg = None;
            for next in &lines[i + 1..] {
                let t = next.trim();
                if t.is_empty() || t.starts_with("eval") || t == "clear" || t.starts_with("load") {
                    break;
                }
                if let Some(m) = t.strip_prefix("expect fail msg:") {
                    fail_msg = Some(m.trim().to_string());
                }
            }
            out.push(Eval { file: file.clone(), line: i + 1, query, fail_msg });
        }
    }
    out
}

#[test]
fn conformance_queries_parse() {
    let Some(dir) = conformance_dir() else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "promqltest conformance folder missing and CI=true");
        println!("SKIPPED: promqltest conformance folder not found (set EMBER_CONFORMANCE_DIR)");
        return;
    };
    let opts = ParseOptions::experimental();
    let evals = evals(&dir);
    let (mut parsed, mut expected_errors, mut failures) = (0, 0, Vec::new());
    for ev in &evals {
        match opts.parse(&ev.query) {
            Ok(e) => {
                parsed += 1;
                let printed = print(&e);
                match opts.parse(&printed) {
                    Ok(again) if again.same_structure(&e) => {}
                    other => failures.push(format!(
                        "{}:{}: {} -> print {printed:?} -> {:?}",
                        ev.file,
                        ev.line,
                        ev.query,
                        other.map(|x| print(&x))
                    )),
                }
                let p = pretty(&e);
                if !opts.parse(&p).is_ok_and(|again| again.same_structure(&e)) {
                    failures.push(format!("{}:{}: pretty form does not round-trip: {p}", ev.file, ev.line));
                }
            }
            Err(err) => match &ev.fail_msg {
                Some(msg) if *msg == err.kind().to_string() || *msg == err.to_string() => expected_errors += 1,
                _ => failures.push(format!("{}:{}: {}: {err}", ev.file, ev.line, ev.query)),
            },
        }
    }
    println!(
        "promqltest: {} eval queries, {parsed} parsed, {expected_errors} failed with the expected parse error, {} failures",
        evals.len(),
        failures.len()
    );
    assert!(evals.len() > 1000, "too few eval lines found: {}", evals.len());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    // Plain options reject experimental functions but still parse the core language.
    assert!(parse("sum(rate(x[5m]))").is_ok());
}
