//! Rule files in Prometheus's YAML format, validated as `promtool check rules` validates
//! them.
//!
//! ```yaml
//! groups:
//!   - name: example
//!     interval: 30s
//!     rules:
//!       - record: job:up:sum
//!         expr: sum by (job) (up)
//!       - alert: InstanceDown
//!         expr: up == 0
//!         for: 5m
//!         labels: { severity: page }
//!         annotations: { summary: "{{ $labels.instance }} is down" }
//! ```
//!
//! Unknown fields are errors; every semantic problem is reported (not only the first),
//! each naming the file, the group and the rule as `promtool` does.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ember_exposition::names::{METRIC_NAME_LABEL, ValidationScheme};
use serde::Deserialize;

use crate::template::{ALERT_TEMPLATE_HEADER, Template, parse_prom_duration};

/// A duration as rule files write it (`5m`, `1h30m`), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub i64);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_prom_duration(&s).map(Duration).map_err(serde::de::Error::custom)
    }
}

/// A rule file: a list of groups.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The groups, evaluated independently.
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

/// A group of rules evaluated in order at one interval.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    /// The group's name, unique within the file.
    pub name: String,
    /// How often to evaluate; the global evaluation interval when absent.
    #[serde(default)]
    pub interval: Option<Duration>,
    /// How far back to evaluate (the rules see data as of `now - query_offset`).
    #[serde(default)]
    pub query_offset: Option<Duration>,
    /// At most this many series per rule result (alerts or recorded series); 0 is no limit.
    #[serde(default)]
    pub limit: u64,
    /// Labels added to every rule's results.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The rules, in evaluation order.
    #[serde(default)]
    pub rules: Vec<RuleNode>,
}

/// One rule as written: recording (`record`) or alerting (`alert`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleNode {
    /// The recorded metric name, for a recording rule.
    pub record: Option<String>,
    /// The alert name, for an alerting rule.
    pub alert: Option<String>,
    /// The PromQL expression.
    pub expr: String,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for")]
    pub for_: Option<Duration>,
    /// How long an alert keeps firing after the condition stops holding.
    pub keep_firing_for: Option<Duration>,
    /// Labels added to (or overriding) the results.
    pub labels: BTreeMap<String, String>,
    /// Annotations of alerts (templates).
    pub annotations: BTreeMap<String, String>,
}

impl RuleNode {
    /// The rule's name: the recorded metric or the alert.
    pub fn name(&self) -> &str {
        self.record.as_deref().or(self.alert.as_deref()).unwrap_or("")
    }
}

/// What is wrong with a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleErrorKind {
    /// The file could not be read.
    Io(String),
    /// The YAML is malformed or has unknown fields or wrong types (message includes line and column).
    Yaml(String),
    /// A group has no name.
    EmptyGroupName,
    /// Two groups share a name.
    DuplicateGroup(String),
    /// Both `record` and `alert` are set.
    RecordAndAlert,
    /// Neither `record` nor `alert` is set.
    NoRecordOrAlert,
    /// `expr` is missing.
    MissingExpr,
    /// `expr` does not parse.
    BadExpr(String),
    /// A recording rule has a field only alerting rules take (`for`, `keep_firing_for`, `annotations`).
    InvalidRecordingField(&'static str),
    /// The recording rule's name is not a valid metric name.
    InvalidRecordName(String),
    /// A label name is invalid (or is `__name__`).
    InvalidLabelName(String),
    /// An annotation name is invalid.
    InvalidAnnotationName(String),
    /// A label or annotation template does not parse.
    BadTemplate(String),
}

/// A rule file problem, naming the file, group and rule where it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file (as given to the loader).
    pub file: String,
    /// The group name, when the problem is in a group.
    pub group: Option<String>,
    /// The rule's index (from 1) and name, when the problem is in a rule.
    pub rule: Option<(usize, String)>,
    /// What is wrong.
    pub kind: RuleErrorKind,
}

impl fmt::Display for RuleErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleErrorKind::Io(m) | RuleErrorKind::Yaml(m) | RuleErrorKind::BadTemplate(m) => f.write_str(m),
            RuleErrorKind::EmptyGroupName => f.write_str("Groupname must not be empty"),
            RuleErrorKind::DuplicateGroup(g) => write!(f, "groupname: {g:?} is repeated in the same file"),
            RuleErrorKind::RecordAndAlert => f.write_str("only one of 'record' and 'alert' must be set"),
            RuleErrorKind::NoRecordOrAlert => f.write_str("one of 'record' or 'alert' must be set"),
            RuleErrorKind::MissingExpr => f.write_str("field 'expr' must be set in rule"),
            RuleErrorKind::BadExpr(m) => write!(f, "could not parse expression: {m}"),
            RuleErrorKind::InvalidRecordingField(field) => write!(f, "invalid field '{field}' in recording rule"),
            RuleErrorKind::InvalidRecordName(n) => write!(f, "invalid recording rule name: {n}"),
            RuleErrorKind::InvalidLabelName(n) => write!(f, "invalid label name: {n}"),
            RuleErrorKind::InvalidAnnotationName(n) => write!(f, "invalid annotation name: {n}"),
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(g) = &self.group {
            write!(f, "group {g:?}, ")?;
        }
        if let Some((i, name)) = &self.rule {
            write!(f, "rule {i}, {name:?}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for RuleError {}

/// Checks a PromQL expression; returns the parser's message on failure.
pub type ExprCheck<'a> = &'a dyn Fn(&str) -> Result<(), String>;

/// The most permissive expression check: the PromQL parser with Prometheus's type checks
/// and every experimental feature switched on
/// ([`ParseOptions::experimental`](ember_promql::parser::ParseOptions::experimental)). A host
/// that evaluates rules with an engine whose experimental switches may be off should check
/// with [`promql_checker`] and the engine's
/// [`parse_options`](ember_promql::engine::Engine::parse_options) instead, so a rule file
/// the engine could not evaluate is refused when it is loaded.
pub fn promql_check(expr: &str) -> Result<(), String> {
    ember_promql::parser::ParseOptions::experimental().parse(expr).map(|_| ()).map_err(|e| e.to_string())
}

/// An expression check parsing with `opts`: a rule using an experimental construct that
/// `opts` leaves off (an experimental function, `anchored`/`smoothed`, `fill` modifiers) is
/// refused with the parser's message, as Prometheus refuses it without the matching
/// `--enable-feature`.
///
/// ```
/// use ember_alerting::rules::file::{RuleFile, promql_checker};
/// use ember_promql::parser::{Feature, ParseOptions};
///
/// let src = "groups:\n- name: g\n  rules:\n  - record: r\n    expr: a + fill(0) b\n";
/// let errs = RuleFile::parse("r.yml", src, &promql_checker(ParseOptions::default())).unwrap_err();
/// assert!(errs[0].to_string().contains("binop fill modifiers are experimental and not enabled"));
/// let on = promql_checker(ParseOptions::default().with_feature(Feature::BinopFillModifiers));
/// assert!(RuleFile::parse("r.yml", src, &on).is_ok());
/// ```
pub fn promql_checker(
    opts: ember_promql::parser::ParseOptions,
) -> impl Fn(&str) -> Result<(), String> + Send + Sync + 'static {
    move |expr| opts.parse(expr).map(|_| ()).map_err(|e| e.to_string())
}

impl RuleFile {
    /// Parses and validates rule-file YAML; `file` names it in errors and `check_expr`
    /// validates expressions (the rule manager passes the PromQL parser).
    pub fn parse(file: &str, src: &str, check_expr: ExprCheck<'_>) -> Result<RuleFile, Vec<RuleError>> {
        let err = |kind| RuleError { file: file.to_string(), group: None, rule: None, kind };
        // An empty file has no groups.
        if src.trim().is_empty() {
            return Ok(RuleFile { groups: Vec::new() });
        }
        let rf: RuleFile = serde_norway::from_str(src).map_err(|e| vec![err(RuleErrorKind::Yaml(e.to_string()))])?;
        let errs = rf.validate(file, check_expr);
        if errs.is_empty() { Ok(rf) } else { Err(errs) }
    }

    /// Reads, parses and validates a rule file.
    pub fn load(path: &Path, check_expr: ExprCheck<'_>) -> Result<RuleFile, Vec<RuleError>> {
        let file = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| {
            vec![RuleError { file: file.clone(), group: None, rule: None, kind: RuleErrorKind::Io(e.to_string()) }]
        })?;
        RuleFile::parse(&file, &src, check_expr)
    }

    /// Every semantic problem of the file, in file order.
    pub fn validate(&self, file: &str, check_expr: ExprCheck<'_>) -> Vec<RuleError> {
        let mut errs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let scheme = ValidationScheme::Utf8;
        for g in &self.groups {
            let gerr = |kind| RuleError { file: file.to_string(), group: Some(g.name.clone()), rule: None, kind };
            if g.name.is_empty() {
                errs.push(gerr(RuleErrorKind::EmptyGroupName));
            }
            if !seen.insert(g.name.as_str()) {
                errs.push(gerr(RuleErrorKind::DuplicateGroup(g.name.clone())));
            }
            for name in g.labels.keys() {
                if !scheme.is_valid_label_name(name) || name == METRIC_NAME_LABEL {
                    errs.push(gerr(RuleErrorKind::InvalidLabelName(name.clone())));
                }
            }
            for (i, r) in g.rules.iter().enumerate() {
                let mut push = |kind| {
                    errs.push(RuleError {
                        file: file.to_string(),
                        group: Some(g.name.clone()),
                        rule: Some((i + 1, r.name().to_string())),
                        kind,
                    })
                };
                let is_record = match (&r.record, &r.alert) {
                    (Some(_), Some(_)) => {
                        push(RuleErrorKind::RecordAndAlert);
                        continue;
                    }
                    (None, None) => {
                        push(RuleErrorKind::NoRecordOrAlert);
                        continue;
                    }
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                };
                if r.expr.trim().is_empty() {
                    push(RuleErrorKind::MissingExpr);
                } else if let Err(m) = check_expr(&r.expr) {
                    push(RuleErrorKind::BadExpr(m));
                }
                if is_record {
                    if !r.annotations.is_empty() {
                        push(RuleErrorKind::InvalidRecordingField("annotations"));
                    }
                    if r.for_.is_some_and(|d| d.0 != 0) {
                        push(RuleErrorKind::InvalidRecordingField("for"));
                    }
                    if r.keep_firing_for.is_some_and(|d| d.0 != 0) {
                        push(RuleErrorKind::InvalidRecordingField("keep_firing_for"));
                    }
                    if !scheme.is_valid_metric_name(r.name()) {
                        push(RuleErrorKind::InvalidRecordName(r.name().to_string()));
                    }
                }
                for name in r.labels.keys() {
                    if !scheme.is_valid_label_name(name) || name == METRIC_NAME_LABEL {
                        push(RuleErrorKind::InvalidLabelName(name.clone()));
                    }
                }
                for name in r.annotations.keys() {
                    if !scheme.is_valid_label_name(name) {
                        push(RuleErrorKind::InvalidAnnotationName(name.clone()));
                    }
                }
                if !is_record {
                    let tname = format!("__alert_{}", r.name());
                    for text in r.labels.values().chain(r.annotations.values()) {
                        if text.contains("{{")
                            && let Err(e) = Template::parse(&tname, &format!("{ALERT_TEMPLATE_HEADER}{text}"))
                        {
                            push(RuleErrorKind::BadTemplate(e.to_string()));
                        }
                    }
                }
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_expr(_: &str) -> Result<(), String> {
        Ok(())
    }

    fn check_expr(e: &str) -> Result<(), String> {
        if e.contains('(') && !e.contains(')') { Err("unclosed left parenthesis".into()) } else { Ok(()) }
    }

    #[track_caller]
    fn check(src: &str, want: &[&str]) {
        let got = match RuleFile::parse("rules.yml", src, &check_expr) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        };
        assert_eq!(got, want, "{src}");
    }

    #[test]
    fn good_file() {
        let src = r#"
groups:
  - name: g
    interval: 30s
    query_offset: 1m
    limit: 10
    labels: { team: db }
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels: { source: rule }
      - alert: Down
        expr: up == 0
        for: 5m
        keep_firing_for: 1m
        labels: { severity: page }
        annotations:
          summary: "{{ $labels.instance }} down ({{ $value | humanize }})"
"#;
        let f = RuleFile::parse("rules.yml", src, &ok_expr).unwrap();
        let g = &f.groups[0];
        assert_eq!((g.interval, g.query_offset, g.limit), (Some(Duration(30_000)), Some(Duration(60_000)), 10));
        assert_eq!(g.rules[1].for_, Some(Duration(300_000)));
        assert_eq!(g.rules[0].name(), "job:up:sum");
        assert!(RuleFile::parse("empty.yml", "", &ok_expr).unwrap().groups.is_empty());
    }

    #[test]
    fn promtool_like_errors() {
        check(
            "groups:\n- name: g\n  rules:\n  - record: a\n    alert: b\n    expr: x\n",
            &["rules.yml: group \"g\", rule 1, \"a\": only one of 'record' and 'alert' must be set"],
        );
        check(
            "groups:\n- name: g\n  rules:\n  - expr: x\n",
            &["rules.yml: group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set"],
        );
        check(
            "groups:\n- name: g\n  rules:\n  - record: 'bad name'\n    expr: x\n    for: 1m\n    annotations: {a: b}\n",
            &[
                "rules.yml: group \"g\", rule 1, \"bad name\": invalid field 'annotations' in recording rule",
                "rules.yml: group \"g\", rule 1, \"bad name\": invalid field 'for' in recording rule",
            ],
        );
        check(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(x\n  - alert: B\n",
            &[
                "rules.yml: group \"g\", rule 1, \"A\": could not parse expression: unclosed left parenthesis",
                "rules.yml: group \"g\", rule 2, \"B\": field 'expr' must be set in rule",
            ],
        );
        check(
            "groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n",
            &["rules.yml: group \"g\", groupname: \"g\" is repeated in the same file"],
        );
        check(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n    labels: {__name__: x}\n",
            &["rules.yml: group \"g\", rule 1, \"A\": invalid label name: __name__"],
        );
        check(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n    annotations: {s: '{{ if }}'}\n",
            &["rules.yml: group \"g\", rule 1, \"A\": template: __alert_A:1:119: missing value for if"],
        );
        let e = RuleFile::parse("r.yml", "groups:\n- name: g\n  rulez: []\n", &ok_expr).unwrap_err();
        assert!(e[0].to_string().starts_with("r.yml: groups[0]: unknown field `rulez`"), "{}", e[0]);
        let e =
            RuleFile::parse("r.yml", "groups:\n- name: g\n  rules:\n  - record: r\n    expr: rate(x)\n", &promql_check)
                .unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "r.yml: group \"g\", rule 1, \"r\": could not parse expression: 1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"
        );
        let e = RuleFile::parse("r.yml", "groups:\n- name: g\n  interval: 5 minutes\n", &ok_expr).unwrap_err();
        assert!(e[0].to_string().contains("not a valid duration string"), "{}", e[0]);
    }
}
