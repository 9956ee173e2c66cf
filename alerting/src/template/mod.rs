//! Go `text/template` as Prometheus alert labels/annotations and Alertmanager notifications
//! use it.
//!
//! The language: text with `{{ … }}` actions, trim markers (`{{-`, `-}}`), comments,
//! pipelines (`a | b`), variables (`$x := …`, `$x = …`, `$`), fields (`.Labels.job`,
//! `$labels.job`), `if`/`else if`/`else`, `range` (with `$i, $v :=`, `else`, `break`,
//! `continue`), `with`, `define`/`template`/`block`, and the built-in functions (`and`, `or`,
//! `not`, `len`, `index`, `slice`, `print`, `printf`, `println`, `eq`, `ne`, `lt`, `le`, `gt`,
//! `ge`, `html`, `js`, `urlquery`). On top come Prometheus's functions from
//! `template_reference.md`: `query`, `first`, `label`, `value`, `strvalue`, `sortByLabel`,
//! `humanize`, `humanize1024`, `humanizeDuration`, `humanizePercentage`,
//! `humanizeTimestamp`, `toTime`, `toDuration`, `now`, `title`, `toUpper`, `toLower`,
//! `stripPort`, `stripDomain`, `match`, `reReplaceAll`, `graphLink`, `tableLink`,
//! `parseDuration`, `urlQueryEscape`, `args`, `safeHtml`, `externalURL`, `pathPrefix`.
//!
//! Values print as Go's `fmt` prints them (`1e+06`, `map[a:1]`, `<no value>`), because
//! users compare alert text with what Prometheus produced. Errors are values, never
//! panics: a rule manager reports them on the alert and carries on.
//!
//! ```
//! use ember_alerting::template::{expand_alert_template, AlertTemplateData, Context};
//!
//! let data = AlertTemplateData {
//!     labels: [("instance".to_string(), "db-1:9100".to_string())].into(),
//!     value: 0.9731,
//!     ..Default::default()
//! };
//! let text = "{{ $labels.instance | stripPort }} is at {{ $value | humanizePercentage }}";
//! let out = expand_alert_template("summary", text, &data, &Context::default()).unwrap();
//! assert_eq!(out, "db-1 is at 97.31%");
//! ```

mod exec;
mod funcs;
mod parse;
mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use funcs::{humanize, humanize_duration, humanize1024, parse_prom_duration};
pub use parse::Pos;
pub use value::{Value, format_g};

/// One sample of a `query` result: labels (including `__name__`) and a value.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    /// The sample's labels.
    pub labels: BTreeMap<String, String>,
    /// The sample's value.
    pub value: f64,
}

/// The `query` hook: runs an instant PromQL query and returns its vector, or an error message.
pub type QueryFn = dyn Fn(&str) -> Result<Vec<QuerySample>, String> + Send + Sync;

/// What functions see of the outside world.
#[derive(Clone, Default)]
pub struct Context {
    /// Runs `query`; without it, `query` fails with an error.
    pub query: Option<Arc<QueryFn>>,
    /// `externalURL` (and the path for `pathPrefix`).
    pub external_url: String,
    /// `now`, in seconds since the epoch (the evaluation time, so results are reproducible).
    pub now: f64,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("query", &self.query.as_ref().map(|_| "<fn>"))
            .field("external_url", &self.external_url)
            .field("now", &self.now)
            .finish()
    }
}

/// Whether parsing or execution failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateErrorKind {
    /// The source is not a valid template.
    Parse(String),
    /// Execution failed (unknown function, bad argument, missing template, …).
    Exec(String),
}

/// A template that failed to parse or execute, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The template's name.
    pub template: String,
    /// Where in the source.
    pub pos: Pos,
    /// What went wrong.
    pub kind: TemplateErrorKind,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, msg) = match &self.kind {
            TemplateErrorKind::Parse(m) => ("", m),
            TemplateErrorKind::Exec(m) => ("executing: ", m),
        };
        write!(f, "template: {}:{}:{}: {what}{msg}", self.template, self.pos.line, self.pos.column)
    }
}

impl std::error::Error for TemplateError {}

/// A parsed template, with the templates it `define`s.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    tree: parse::Tree,
}

impl Template {
    /// Parses `src`; the name appears in error messages.
    pub fn parse(name: &str, src: &str) -> Result<Template, TemplateError> {
        Ok(Template { name: name.to_string(), tree: parse::parse(name, src)? })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Names of the templates this source `define`s, sorted.
    pub fn defined(&self) -> Vec<String> {
        exec::defined_names(&self.tree)
    }

    /// Executes the main template with `data` as dot.
    pub fn execute(&self, data: &Value, ctx: &Context) -> Result<String, TemplateError> {
        let mut e = exec::Exec::new(&self.name, &self.tree, ctx);
        e.run(&self.tree.root, data)?;
        Ok(e.out)
    }

    /// Executes the `define`d template `name` with `data` as dot.
    pub fn execute_defined(&self, name: &str, data: &Value, ctx: &Context) -> Result<String, TemplateError> {
        let Some(body) = self.tree.defines.get(name) else {
            return Err(TemplateError {
                template: self.name.clone(),
                pos: Pos::default(),
                kind: TemplateErrorKind::Exec(format!("no such template {name:?}")),
            });
        };
        let mut e = exec::Exec::new(&self.name, &self.tree, ctx);
        e.run(body, data)?;
        Ok(e.out)
    }
}

/// What an alerting rule's label and annotation templates see.
#[derive(Debug, Clone, Default)]
pub struct AlertTemplateData {
    /// The alert's labels (`.Labels`, `$labels`).
    pub labels: BTreeMap<String, String>,
    /// The configured external labels (`.ExternalLabels`, `$externalLabels`).
    pub external_labels: BTreeMap<String, String>,
    /// The external URL (`.ExternalURL`, `$externalURL`).
    pub external_url: String,
    /// The alert's value (`.Value`, `$value`).
    pub value: f64,
}

impl AlertTemplateData {
    /// The data as a template value.
    pub fn to_value(&self) -> Value {
        Value::map([
            ("Labels", Value::StrMap(Arc::new(self.labels.clone()))),
            ("ExternalLabels", Value::StrMap(Arc::new(self.external_labels.clone()))),
            ("ExternalURL", Value::str(&self.external_url)),
            ("Value", Value::Float(self.value)),
        ])
    }
}

/// The variables Prometheus defines in front of every alert label and annotation template.
pub const ALERT_TEMPLATE_HEADER: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Expands one alert label or annotation template as Prometheus does: the header of
/// variables, then `text`, executed over `data`.
pub fn expand_alert_template(
    name: &str,
    text: &str,
    data: &AlertTemplateData,
    ctx: &Context,
) -> Result<String, TemplateError> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let src = format!("{ALERT_TEMPLATE_HEADER}{text}");
    Template::parse(name, &src)?.execute(&data.to_value(), ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Value {
        Value::map([
            ("Labels", Value::str_map([("instance", "host:9100"), ("job", "node")])),
            ("Value", Value::Float(1234567.0)),
            ("List", Value::list([Value::str("a"), Value::str("b"), Value::str("c")])),
            ("Empty", Value::list([])),
            ("N", Value::Int(3)),
            ("M", Value::map([("x", Value::Int(1)), ("y", Value::Int(2))])),
        ])
    }

    fn ctx() -> Context {
        let q: Arc<QueryFn> = Arc::new(|q: &str| {
            if q == "bad" {
                return Err("parse error".into());
            }
            Ok(vec![
                QuerySample {
                    labels: [("__name__".into(), "up".into()), ("instance".into(), "b".into())].into(),
                    value: 1.0,
                },
                QuerySample {
                    labels: [("__name__".into(), "up".into()), ("instance".into(), "a".into())].into(),
                    value: 0.0,
                },
            ])
        });
        Context { query: Some(q), external_url: "http://prom.example:9090/sub/".into(), now: 1_700_000_000.0 }
    }

    #[track_caller]
    fn check(src: &str, want: &str) {
        let t = Template::parse("t", src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
        let got = t.execute(&data(), &ctx()).unwrap_or_else(|e| panic!("{src:?}: {e}"));
        assert_eq!(got, want, "{src:?}");
    }

    #[track_caller]
    fn check_err(src: &str, want: &str) {
        let e = Template::parse("t", src).and_then(|t| t.execute(&data(), &ctx())).unwrap_err();
        assert_eq!(e.to_string(), want, "{src:?}");
    }

    #[test]
    fn basics() {
        check("plain", "plain");
        check("{{ .Labels.instance }}", "host:9100");
        check("{{ .Labels.missing }}|{{ .Missing }}", "|<no value>");
        check("{{ .Value }}", "1.234567e+06");
        check("{{ .Value | humanize }}", "1.235M");
        check("a {{- \" b \" -}} c", "a b c");
        check("a  {{- /* comment */ -}}  c", "ac");
        check("{{/* c */}}x", "x");
        check("{{ $x := 5 }}{{ $x }}{{ $x = 6 }}{{ $x }}", "56");
        check("{{ $ }}", &data().to_go_string());
        check("{{ $.N }}", "3");
        check(
            "{{ 1.5 }} {{ 0x10 }} {{ 'a' }} {{ -2 }} {{ true }} {{ \"\\t\" }}{{ `raw\\n` }}",
            "1.5 16 97 -2 true \traw\\n",
        );
        check("{{ (len .List) }}{{ len \"héllo\" }}", "36");
        check("{{ index .List 1 }}{{ index .Labels \"job\" }}{{ index .M \"x\" }}", "bnode1");
        check("{{ slice \"abcdef\" 1 3 }}{{ slice .List 2 }}", "bc[c]");
    }

    #[test]
    fn control() {
        check("{{ if .N }}yes{{ else }}no{{ end }}", "yes");
        check("{{ if .Empty }}yes{{ else if eq .N 3 }}three{{ else }}no{{ end }}", "three");
        check("{{ with .Labels.job }}job={{ . }}{{ end }}", "job=node");
        check("{{ with .Labels.nope }}x{{ else }}none{{ end }}", "none");
        check("{{ range .List }}<{{ . }}>{{ end }}", "<a><b><c>");
        check("{{ range $i, $v := .List }}{{ $i }}={{ $v }} {{ end }}", "0=a 1=b 2=c ");
        check("{{ range $k, $v := .M }}{{ $k }}:{{ $v }};{{ end }}", "x:1;y:2;");
        check("{{ range .Empty }}x{{ else }}empty{{ end }}", "empty");
        check("{{ range .List }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}", "a");
        check("{{ range .List }}{{ if eq . \"b\" }}{{ continue }}{{ end }}{{ . }}{{ end }}", "ac");
        check("{{ range 3 }}{{ . }}{{ end }}", "012");
        check("{{ define \"x\" }}[{{ . }}]{{ end }}{{ template \"x\" .N }}", "[3]");
        check("{{ block \"b\" .N }}<{{ . }}>{{ end }}", "<3>");
        check("{{ and 1 0 2 }}|{{ or 0 \"\" \"z\" }}|{{ not 0 }}", "0|z|true");
        check("{{ if and .N (gt .N 2) }}big{{ end }}", "big");
        check("{{ $v := 1 }}{{ if true }}{{ $v = 2 }}{{ end }}{{ $v }}", "2");
    }

    #[test]
    fn functions() {
        check("{{ printf \"%s-%d\" .Labels.job .N }}", "node-3");
        check("{{ .N | printf \"%03d\" }}", "003");
        check("{{ print 1 2 \"x\" }}", "1 2x");
        check("{{ eq .Labels.job \"x\" \"node\" }}{{ ne 1 2 }}{{ lt 1.5 2 }}{{ ge \"b\" \"a\" }}", "truetruetruetrue");
        check("{{ \"a<b\" | html }} {{ \"a b\" | urlquery }}", "a&lt;b a+b");
        check("{{ toUpper \"ab\" }}{{ toLower \"CD\" }}{{ title \"ef gh\" }}", "ABcdEf Gh");
        check("{{ reReplaceAll \"(a+)\" \"<$1>\" \"baab\" }}{{ match \"^a\" \"ab\" }}", "b<aa>btrue");
        check("{{ stripPort .Labels.instance }}", "host");
        check("{{ 3.5 | humanizeDuration }} {{ 0.25 | humanizePercentage }} {{ 2048 | humanize1024 }}", "3.5s 25% 2ki");
        check("{{ \"1.5\" | humanize }}", "1.5");
        check("{{ 1700000000 | humanizeTimestamp }}", "2023-11-14 22:13:20 +0000 UTC");
        check("{{ 90 | toDuration }}", "1m30s");
        check("{{ parseDuration \"1m30s\" }}", "90");
        check("{{ now }}", "1.7e+09");
        check("{{ externalURL }} {{ pathPrefix }}", "http://prom.example:9090/sub/ /sub/");
        check("{{ graphLink \"up == 0\" }}", "/graph?g0.expr=up+%3D%3D+0&g0.tab=0");
        check("{{ with query \"up\" }}{{ . | first | value }}{{ end }}", "1");
        check(
            "{{ range query \"up\" | sortByLabel \"instance\" }}{{ .Labels.instance }}={{ .Value }} {{ end }}",
            "a=0 b=1 ",
        );
        check("{{ query \"up\" | first | label \"instance\" }}", "b");
        check("{{ template \"t2\" args 1 \"x\" }}{{ define \"t2\" }}{{ .arg0 }}{{ .arg1 }}{{ end }}", "1x");
    }

    #[test]
    fn errors() {
        check_err("{{ .Labels.job", "template: t:1:1: unclosed action");
        check_err("{{ if .N }}x", "template: t:1:1: unexpected EOF in if");
        check_err("{{ end }}", "template: t:1:1: unexpected {{end}}");
        check_err(
            "{{ nosuch 1 }}",
            "template: t:1:4: executing: error calling nosuch: function \"nosuch\" not defined",
        );
        check_err("x\n{{ $undefined }}", "template: t:2:4: executing: undefined variable: $undefined");
        check_err("{{ query \"bad\" }}", "template: t:1:4: executing: error calling query: parse error");
        check_err("{{ template \"none\" }}", "template: t:1:1: executing: no such template \"none\"");
        check_err("{{ break }}", "template: t:1:1: {{break}} outside {{range}}");
        check_err("{{ index .List 9 }}", "template: t:1:4: executing: error calling index: index out of range: 9");
        check_err("{{ .N 1 }}", "template: t:1:4: executing: can't give argument to non-function .N");
        check_err("{{ \"unterminated }}", "template: t:1:4: unterminated quoted string");
        // Fuzz finding: a combining mark is not a name; it is an error, not an endless token stream.
        check_err("x{{z\u{344}z;x", "template: t:1:5: unexpected '\\u{344}' in command");
        check_err(
            "{{ range 100000000000 }}x{{ end }}",
            "template: t:1:10: executing: range over 100000000000 exceeds the step budget",
        );
        check_err(
            "{{ range 3000000 }}{{ range 5 }}{{ end }}{{ end }}",
            "template: t:1:29: executing: template execution exceeded its step or output budget",
        );
        check_err(
            "{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}",
            "template: t:1:17: executing: exceeded maximum template depth (100)",
        );
    }

    #[test]
    fn alert_templates() {
        let d = AlertTemplateData {
            labels: [("alertname".to_string(), "Down".to_string()), ("instance".to_string(), "x:1".to_string())].into(),
            external_labels: [("cluster".to_string(), "eu".to_string())].into(),
            external_url: "http://p".into(),
            value: 0.0,
        };
        let c = Context::default();
        let t = "{{ $labels.alertname }} on {{ $labels.instance }} in {{ $externalLabels.cluster }} ({{ $value }}) {{ $externalURL }}";
        assert_eq!(expand_alert_template("a", t, &d, &c).unwrap(), "Down on x:1 in eu (0) http://p");
        assert_eq!(expand_alert_template("a", "no template", &d, &c).unwrap(), "no template");
        let e = expand_alert_template("a", "{{ $nope }}", &d, &c).unwrap_err();
        assert!(e.to_string().contains("undefined variable: $nope"), "{e}");
    }
}
