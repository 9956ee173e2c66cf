//! `--enable-feature` for the experimental parts of PromQL, end to end: queries, query
//! formatting, rule files at start and on reload, `ember check rules`, unknown names.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Server, form, get, write};

const RULES_OK: &str = "groups:\n- name: g\n  rules:\n  - record: r\n    expr: vector(1)\n";
const RULES_FILL: &str = "groups:\n- name: g\n  rules:\n  - record: r\n    expr: vector(1) + fill(0) vector(2)\n";
const FILL_OFF: &str = "binop fill modifiers are experimental and not enabled";

fn config(dir: &Path, rules: &str) -> String {
    write(dir, "rules.yml", rules);
    write(dir, "prometheus.yml", "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs: []\n")
}

/// Starts `ember` with `flags`; returns the server and the stderr lines before it listened,
/// or, when it exits first, its exit status and stderr.
fn start(dir: &Path, flags: &[&str]) -> Result<(Server, Vec<String>), (i32, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .arg("--web.listen-address=127.0.0.1:0")
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .args(flags)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start ember");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("ember: listening on http://") {
            let addr = a.to_owned();
            std::thread::spawn(move || for _ in lines {});
            return Ok((Server { child, addr }, before));
        }
        before.push(line);
    }
    let status = child.wait().unwrap();
    Err((status.code().unwrap_or(-1), before.join("\n")))
}

fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn query(addr: &str, q: &str) -> (u16, serde_json::Value) {
    let (code, body) = get(addr, &format!("/api/v1/query?query={}&time=100", enc(q)));
    (code, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}")))
}

fn query_range(addr: &str, q: &str) -> (u16, serde_json::Value) {
    let (code, body) = get(addr, &format!("/api/v1/query_range?query={}&start=0&end=60&step=15", enc(q)));
    (code, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}")))
}

const GATED: [(&str, &str); 3] = [
    ("limitk(1, vector(1))", "1:1: parse error: limitk() is experimental"),
    ("rate(up[5m] anchored)", "1:6: parse error: anchored modifier is experimental and not enabled"),
    ("vector(1) + fill(0) vector(2)", "1:1: parse error: binop fill modifiers are experimental and not enabled"),
];

#[test]
fn without_the_features_gated_promql_is_bad_data_and_gated_rules_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A rule file with a fill modifier: the server does not start.
    let cfg = config(dir.path(), RULES_FILL);
    let (code, stderr) = start(dir.path(), &[&format!("--config.file={cfg}")]).map(|_| ()).unwrap_err();
    assert_ne!(code, 0);
    assert!(stderr.contains(FILL_OFF) && stderr.contains("rules.yml"), "{stderr}");

    // A good rule file and an unknown feature name: a warning, and the server runs.
    let cfg = config(dir.path(), RULES_OK);
    let (s, before) = start(
        dir.path(),
        &[
            &format!("--config.file={cfg}"),
            "--web.enable-lifecycle",
            "--enable-feature=no-such-feature,exemplar-storage",
        ],
    )
    .unwrap();
    assert!(
        before
            .iter()
            .any(|l| l.starts_with("ember: warning: unknown option for --enable-feature: \"no-such-feature\"")),
        "{before:?}"
    );
    assert!(!before.iter().any(|l| l.contains("exemplar-storage\" (ignored")), "{before:?}");
    for (q, words) in GATED {
        for (code, v) in [query(&s.addr, q), query_range(&s.addr, q)] {
            assert_eq!(
                (code, v["status"].as_str(), v["errorType"].as_str()),
                (400, Some("error"), Some("bad_data")),
                "{q}: {v}"
            );
            let err = v["error"].as_str().unwrap();
            assert!(err.starts_with(&format!("invalid parameter \"query\": {words}")), "{q}: {err}");
        }
        let (code, body) = get(&s.addr, &format!("/api/v1/format_query?query={}", enc(q)));
        assert!(code == 400 && body.contains(words), "{q}: {body}");
    }
    // A reload to a gated rule file fails and keeps the rules.
    write(dir.path(), "rules.yml", RULES_FILL);
    let (code, body) = form(&s.addr, "POST", "/-/reload", "");
    assert_ne!(code, 200, "{body}");
    assert!(body.contains(FILL_OFF), "{body}");
    let (_, rules) = get(&s.addr, "/api/v1/rules");
    assert!(rules.contains("vector(1)") && !rules.contains("fill(0)"), "{rules}");
}

#[test]
fn with_the_features_gated_promql_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), RULES_FILL);
    let flags = [
        format!("--config.file={cfg}"),
        "--enable-feature=promql-experimental-functions".into(),
        "--enable-feature=promql-extended-range-selectors,promql-binop-fill-modifiers".into(),
    ];
    let (s, before) = start(dir.path(), &flags.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    assert!(!before.iter().any(|l| l.contains("warning")), "{before:?}");
    for (q, _) in GATED {
        for (code, v) in [query(&s.addr, q), query_range(&s.addr, q)] {
            assert_eq!((code, v["status"].as_str()), (200, Some("success")), "{q}: {v}");
        }
        let (code, body) = get(&s.addr, &format!("/api/v1/format_query?query={}", enc(q)));
        assert_eq!(code, 200, "{q}: {body}");
    }
    let (_, v) = query(&s.addr, "limitk(1, vector(7))");
    assert_eq!(v["data"]["result"][0]["value"][1], "7", "{v}");
    let (_, flags) = get(&s.addr, "/api/v1/status/flags");
    let flags: serde_json::Value = serde_json::from_str(&flags).unwrap();
    assert_eq!(
        flags["data"]["enable-feature"],
        "promql-experimental-functions,promql-extended-range-selectors,promql-binop-fill-modifiers"
    );
    let (_, rules) = get(&s.addr, "/api/v1/rules");
    assert!(rules.contains("fill(0)"), "the gated rule is loaded: {rules}");
}

#[test]
fn check_rules_follows_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "rules.yml", RULES_FILL);
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_ember")).args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, _) = run(&["check", "rules", &rules]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(FILL_OFF), "{out}");
    let (code, out, _) = run(&["--enable-feature=promql-binop-fill-modifiers", "check", "rules", &rules]);
    assert_eq!(code, Some(0), "{out}");
    // After the subcommand too, and an unknown name only warns.
    let (code, out, err) = run(&["check", "rules", &rules, "--enable-feature=promql-binop-fill-modifiers,bogus"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(err.contains("unknown option for --enable-feature: \"bogus\""), "{err}");
}
