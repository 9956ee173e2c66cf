//! Parsing of PromQL test scripts (`*.test`, the format of Prometheus's `promqltest`).
//!
//! A script is a list of commands: `load <interval>` (also `load_with_nhcb`) followed by
//! series lines, `clear`, and `eval instant at <time> <query>` / `eval range from <start>
//! to <end> step <step> <query>` followed by `expect …` lines and the expected result.
//! Lines are trimmed, comments (`#`) count as blank lines, and a blank line ends a
//! command's block, as in Prometheus's runner. The deprecated forms (`eval_fail`,
//! `eval_warn`, `eval_info`, `eval_ordered`, `expected_fail_message`,
//! `expected_fail_regexp`) are read as their `expect` equivalents.

use std::fmt;

pub use crate::series::parse_duration_ms;
use crate::series::{SeriesDesc, SeriesError, parse_float, parse_series_desc};

/// A parsed script.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The commands in file order.
    pub commands: Vec<Command>,
}

/// One command of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `load <interval>`: add series with one value per interval from time 0.
    Load {
        /// Line of the `load` keyword, from 1.
        line: usize,
        /// The step between values, in milliseconds.
        interval_ms: i64,
        /// `load_with_nhcb`: also load classic histograms as native histograms with custom buckets.
        with_nhcb: bool,
        /// The series.
        series: Vec<(usize, SeriesDesc)>,
    },
    /// `clear`: drop all data.
    Clear {
        /// Line of the command, from 1.
        line: usize,
    },
    /// `eval …`: run a query and check its result.
    Eval(Eval),
}

/// When an `eval` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    /// An instant query at a time (ms).
    Instant {
        /// Evaluation time in milliseconds.
        at_ms: i64,
    },
    /// A range query.
    Range {
        /// Start in milliseconds.
        start_ms: i64,
        /// End in milliseconds.
        end_ms: i64,
        /// Step in milliseconds.
        step_ms: i64,
    },
}

/// How an expected message is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageMatch {
    /// Exact string equality.
    Exact(String),
    /// A regular expression (unanchored, as Go's `regexp.MatchString`).
    Regex(String),
}

/// An `expect` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The query must fail, optionally with a matching message.
    Fail(Option<MessageMatch>),
    /// At least one warning (matching, if given).
    Warn(Option<MessageMatch>),
    /// At least one info annotation (matching, if given).
    Info(Option<MessageMatch>),
    /// No warning annotation.
    NoWarn,
    /// No info annotation.
    NoInfo,
    /// The result's order matters.
    Ordered,
    /// The result is this string.
    String(String),
    /// An instant query returns a range vector with these timestamps.
    RangeVector {
        /// First timestamp (ms).
        start_ms: i64,
        /// Last timestamp (ms).
        end_ms: i64,
        /// Step (ms).
        step_ms: i64,
    },
}

/// An expected result line.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A series and its values.
    Series(SeriesDesc),
    /// A scalar result.
    Scalar(f64),
}

/// An `eval` command.
#[derive(Debug, Clone, PartialEq)]
pub struct Eval {
    /// Line of the `eval` keyword, from 1.
    pub line: usize,
    /// The query text.
    pub query: String,
    /// Instant or range.
    pub kind: EvalKind,
    /// The `expect` lines.
    pub expects: Vec<Expect>,
    /// The expected results, with their lines.
    pub results: Vec<(usize, Expected)>,
}

impl Eval {
    /// Whether the query is expected to fail.
    pub fn expects_failure(&self) -> bool {
        self.expects.iter().any(|e| matches!(e, Expect::Fail(_)))
    }
}

/// A script that does not parse: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// Line, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

fn message_match(rest: &str) -> Result<Option<MessageMatch>, String> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(None);
    }
    let (kind, msg) = rest.split_once(':').ok_or_else(|| format!("expected 'msg:' or 'regex:', found {rest:?}"))?;
    let mut msg = msg.trim().to_string();
    // A message may be wrapped in quotes.
    if msg.len() >= 2 && msg.starts_with('"') && msg.ends_with('"') {
        msg = msg[1..msg.len() - 1].to_string();
    }
    match kind.trim() {
        "msg" => Ok(Some(MessageMatch::Exact(msg))),
        "regex" => Ok(Some(MessageMatch::Regex(msg))),
        other => Err(format!("unknown message match type {other:?} (want msg or regex)")),
    }
}

fn parse_expect(rest: &str) -> Result<Expect, String> {
    let rest = rest.trim();
    let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    // `fail msg:x` may be written without a space before the colon part.
    let (word, tail) = match word.split_once(':') {
        Some((w, _)) if matches!(w, "fail" | "warn" | "info") && !tail.is_empty() => (w, &rest[w.len()..]),
        _ => (word, tail),
    };
    Ok(match word {
        "fail" => Expect::Fail(message_match(tail)?),
        "warn" => Expect::Warn(message_match(tail)?),
        "info" => Expect::Info(message_match(tail)?),
        "no_warn" => Expect::NoWarn,
        "no_info" => Expect::NoInfo,
        "ordered" => Expect::Ordered,
        "string" => {
            let t = tail.trim();
            let q = t.chars().next().ok_or("expect string needs a quoted string")?;
            if !(q == '"' || q == '`') || t.len() < 2 || !t.ends_with(q) {
                return Err(format!("expect string needs a quoted string, found {t:?}"));
            }
            Expect::String(t[1..t.len() - 1].to_string())
        }
        "range" => {
            // range vector <start> to <end> step <step>
            let parts: Vec<&str> = tail.split_whitespace().collect();
            match parts.as_slice() {
                ["vector", "from", start, "to", end, "step", step] | ["vector", start, "to", end, "step", step] => {
                    Expect::RangeVector {
                        start_ms: parse_duration_ms(start).ok_or_else(|| format!("invalid start {start:?}"))?,
                        end_ms: parse_duration_ms(end).ok_or_else(|| format!("invalid end {end:?}"))?,
                        step_ms: parse_duration_ms(step).ok_or_else(|| format!("invalid step {step:?}"))?,
                    }
                }
                _ => {
                    return Err(format!("expected 'range vector from <start> to <end> step <step>', found {tail:?}"));
                }
            }
        }
        other => return Err(format!("unknown expect type {other:?}")),
    })
}

/// Parses a whole script.
pub fn parse_script(src: &str) -> Result<Script, ScriptError> {
    let lines: Vec<&str> = src
        .lines()
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') { "" } else { t }
        })
        .collect();
    let err = |i: usize, m: String| ScriptError { line: i + 1, message: m };
    let series_err = |i: usize, e: SeriesError| ScriptError { line: i + 1, message: e.to_string() };
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let (word, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
        let rest = rest.trim();
        match word {
            "clear" => {
                commands.push(Command::Clear { line: i + 1 });
                i += 1;
            }
            "load" | "load_with_nhcb" => {
                let interval_ms = parse_duration_ms(rest)
                    .filter(|d| *d > 0)
                    .ok_or_else(|| err(i, format!("invalid load interval {rest:?}")))?;
                let line = i + 1;
                let mut series = Vec::new();
                i += 1;
                while i < lines.len() && !lines[i].is_empty() {
                    series.push((i + 1, parse_series_desc(lines[i]).map_err(|e| series_err(i, e))?));
                    i += 1;
                }
                commands.push(Command::Load { line, interval_ms, with_nhcb: word == "load_with_nhcb", series });
            }
            w if w.starts_with("eval") => {
                let mut expects = Vec::new();
                match w {
                    "eval" => {}
                    "eval_fail" => expects.push(Expect::Fail(None)),
                    "eval_warn" => expects.push(Expect::Warn(None)),
                    "eval_info" => expects.push(Expect::Info(None)),
                    "eval_ordered" => expects.push(Expect::Ordered),
                    other => return Err(err(i, format!("invalid command {other:?}"))),
                }
                let words: Vec<&str> = rest.splitn(2, char::is_whitespace).collect();
                let (kind, query) = match words.as_slice() {
                    ["instant", tail] => {
                        let mut p = tail.trim().splitn(3, char::is_whitespace);
                        let (at, t, q) = (p.next(), p.next(), p.next());
                        if at != Some("at") {
                            return Err(err(i, "expected 'eval instant at <time> <query>'".into()));
                        }
                        let t = t.unwrap_or("");
                        let at_ms =
                            parse_duration_ms(t).ok_or_else(|| err(i, format!("invalid evaluation time {t:?}")))?;
                        (EvalKind::Instant { at_ms }, q.unwrap_or("").trim())
                    }
                    ["range", tail] => {
                        let mut p = tail.trim().splitn(7, char::is_whitespace);
                        let parts: Vec<&str> = (0..6).filter_map(|_| p.next()).collect();
                        let q = p.next().unwrap_or("").trim();
                        match parts.as_slice() {
                            ["from", s, "to", e, "step", st] => {
                                let d = |x: &str, what: &str| {
                                    parse_duration_ms(x).ok_or_else(|| err(i, format!("invalid {what} {x:?}")))
                                };
                                let kind = EvalKind::Range {
                                    start_ms: d(s, "start")?,
                                    end_ms: d(e, "end")?,
                                    step_ms: d(st, "step")?,
                                };
                                (kind, q)
                            }
                            _ => {
                                return Err(err(
                                    i,
                                    "expected 'eval range from <start> to <end> step <step> <query>'".into(),
                                ));
                            }
                        }
                    }
                    _ => return Err(err(i, format!("invalid eval command {l:?}"))),
                };
                if query.is_empty() {
                    return Err(err(i, "eval without a query".into()));
                }
                let line = i + 1;
                let mut results = Vec::new();
                i += 1;
                while i < lines.len() && !lines[i].is_empty() {
                    let d = lines[i];
                    if let Some(r) = d.strip_prefix("expect ") {
                        expects.push(parse_expect(r).map_err(|m| err(i, m))?);
                    } else if let Some(m) = d.strip_prefix("expected_fail_message ") {
                        expects.retain(|e| !matches!(e, Expect::Fail(None)));
                        expects.push(Expect::Fail(Some(MessageMatch::Exact(m.trim().to_string()))));
                    } else if let Some(m) = d.strip_prefix("expected_fail_regexp ") {
                        expects.retain(|e| !matches!(e, Expect::Fail(None)));
                        expects.push(Expect::Fail(Some(MessageMatch::Regex(m.trim().to_string()))));
                    } else if let Some(v) = parse_float(d) {
                        results.push((i + 1, Expected::Scalar(v)));
                    } else {
                        results.push((i + 1, Expected::Series(parse_series_desc(d).map_err(|e| series_err(i, e))?)));
                    }
                    i += 1;
                }
                commands.push(Command::Eval(Eval { line, query: query.to_string(), kind, expects, results }));
            }
            other => return Err(err(i, format!("invalid command {other:?}"))),
        }
    }
    Ok(Script { commands })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("0"), Some(0));
        assert_eq!(parse_duration_ms("1m30s"), Some(90_000));
        assert_eq!(parse_duration_ms("20s500ms"), Some(20_500));
        assert_eq!(parse_duration_ms("10s53ms"), Some(10_053));
        assert_eq!(parse_duration_ms("0h"), Some(0));
        assert_eq!(parse_duration_ms("30s1m"), None);
        assert_eq!(parse_duration_ms("1.5m"), None);
    }

    #[test]
    fn a_small_script() {
        let s = parse_script(
            "# comment\nload 5m\n  m{a=\"1\"} 0+10x3\n\neval instant at 10m m\n  expect no_warn\n  m{a=\"1\"} 20\n\n\
             eval range from 0 to 10m step 5m sum(m)\n  expect warn msg: something (1:5)\n  {} 0 10 20\n\n\
             eval_fail instant at 0 foo(\n  expected_fail_message bad\n\neval instant at 0 1+1\n  2\n\nclear\n",
        )
        .unwrap();
        assert_eq!(s.commands.len(), 6);
        let Command::Load { interval_ms, series, .. } = &s.commands[0] else { panic!() };
        assert_eq!(*interval_ms, 300_000);
        assert_eq!(series[0].1.values.len(), 4);
        let Command::Eval(e) = &s.commands[1] else { panic!() };
        assert_eq!(e.kind, EvalKind::Instant { at_ms: 600_000 });
        assert_eq!(e.expects, [Expect::NoWarn]);
        let Command::Eval(e) = &s.commands[2] else { panic!() };
        assert_eq!(e.expects, [Expect::Warn(Some(MessageMatch::Exact("something (1:5)".into())))]);
        let Command::Eval(e) = &s.commands[3] else { panic!() };
        assert_eq!(e.expects, [Expect::Fail(Some(MessageMatch::Exact("bad".into())))]);
        let Command::Eval(e) = &s.commands[4] else { panic!() };
        assert_eq!(e.results, [(17, Expected::Scalar(2.0))]);
        assert_eq!(s.commands[5], Command::Clear { line: 19 });
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_script("load 1m\n  m 1+\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse_script("bogus\n").unwrap_err();
        assert_eq!(e.to_string(), "line 1: invalid command \"bogus\"");
        let e = parse_script("eval instant at 0 x\n  expect sometimes\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: unknown expect type \"sometimes\"");
    }
}
