//! Relabeling: the `relabel_configs` step as a pure function of a label set.
//!
//! A [`RelabelConfig`] is what one entry of `relabel_configs`, `metric_relabel_configs` or
//! `alert_relabel_configs` says; [`Relabel::new`] validates and compiles it once, and
//! [`process`] runs a list of them over a [`Labels`], giving `None` when a rule drops the
//! set. Regexes are anchored as Prometheus anchors them (`^(?s:<re>)$`), replacement
//! templates use `$1`, `${1}` and `${name}` (the longest run of `[A-Za-z0-9_]` after `$` is
//! the group name; an unknown group expands to nothing), and `hashmod` hashes with MD5 like
//! Prometheus, so the same target lands in the same shard in both.
//!
//! ```
//! use ember_exposition::labels;
//! use ember_exposition::relabel::{process, Relabel, RelabelAction, RelabelConfig};
//!
//! let rules = [
//!     Relabel::new(RelabelConfig {
//!         source_labels: vec!["__meta_pod".into()],
//!         target_label: "pod".into(),
//!         ..RelabelConfig::default()
//!     })
//!     .unwrap(),
//!     Relabel::new(RelabelConfig {
//!         action: RelabelAction::Drop,
//!         source_labels: vec!["pod".into()],
//!         regex: "canary-.*".into(),
//!         ..RelabelConfig::default()
//!     })
//!     .unwrap(),
//! ];
//! let out = process(&labels! {"__meta_pod" => "api-1"}, &rules).unwrap();
//! assert_eq!(out.get("pod"), Some("api-1"));
//! assert!(process(&labels! {"__meta_pod" => "canary-7"}, &rules).is_none());
//! ```

use std::fmt;

use md5::{Digest, Md5};
use regex::Regex;

use crate::labels::{Labels, LabelsBuilder};
use crate::names::ValidationScheme;

/// What a relabel rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum RelabelAction {
    /// Set `target_label` to the expanded `replacement` when `regex` matches.
    #[default]
    Replace,
    /// Drop the set unless `regex` matches.
    Keep,
    /// Drop the set when `regex` matches.
    Drop,
    /// Drop the set unless the joined source values equal the value of `target_label`.
    KeepEqual,
    /// Drop the set when the joined source values equal the value of `target_label`.
    DropEqual,
    /// Set `target_label` to the MD5 hash of the joined source values modulo `modulus`.
    HashMod,
    /// Copy every label whose name matches `regex` to the name given by `replacement`.
    LabelMap,
    /// Remove every label whose name matches `regex`.
    LabelDrop,
    /// Remove every label whose name does not match `regex`.
    LabelKeep,
    /// Set `target_label` to the joined source values in lower case.
    Lowercase,
    /// Set `target_label` to the joined source values in upper case.
    Uppercase,
}

impl RelabelAction {
    /// The action's name as written in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            RelabelAction::Replace => "replace",
            RelabelAction::Keep => "keep",
            RelabelAction::Drop => "drop",
            RelabelAction::KeepEqual => "keepequal",
            RelabelAction::DropEqual => "dropequal",
            RelabelAction::HashMod => "hashmod",
            RelabelAction::LabelMap => "labelmap",
            RelabelAction::LabelDrop => "labeldrop",
            RelabelAction::LabelKeep => "labelkeep",
            RelabelAction::Lowercase => "lowercase",
            RelabelAction::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for RelabelAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The default `separator`.
pub const DEFAULT_SEPARATOR: &str = ";";
/// The default `regex`.
pub const DEFAULT_REGEX: &str = "(.*)";
/// The default `replacement`.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// One relabel rule as configured, with Prometheus's field names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` (missing ones count as `""`).
    pub source_labels: Vec<String>,
    /// Placed between the source values; default `;`.
    pub separator: String,
    /// The label to write (replace, hashmod, lowercase, uppercase) or compare
    /// (keepequal, dropequal); may use `$1`-style references for replace. Empty means unset.
    pub target_label: String,
    /// The regex, anchored at both ends; default `(.*)`.
    pub regex: String,
    /// The modulus for hashmod; 0 means unset.
    pub modulus: u64,
    /// The replacement template; default `$1`.
    pub replacement: String,
    /// The action; default replace.
    pub action: RelabelAction,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_string(),
            target_label: String::new(),
            regex: DEFAULT_REGEX.to_string(),
            modulus: 0,
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: RelabelAction::Replace,
        }
    }
}

/// Why a relabel rule is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelabelErrorKind {
    /// `regex` does not compile.
    InvalidRegex(String),
    /// The action needs `target_label`.
    MissingTargetLabel,
    /// `target_label` is not a valid label name (nor a template of one).
    InvalidTargetLabel(String),
    /// hashmod needs a non-zero `modulus`.
    ZeroModulus,
    /// labelmap's `replacement` is not a valid label name (nor a template of one).
    InvalidReplacement(String),
    /// The action only takes some fields; this one was set too.
    UnexpectedField(&'static str),
}

/// A relabel rule that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelabelError {
    /// The rule's action.
    pub action: RelabelAction,
    /// What is wrong.
    pub kind: RelabelErrorKind,
}

impl fmt::Display for RelabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.action;
        match &self.kind {
            RelabelErrorKind::InvalidRegex(m) => write!(f, "relabel configuration for {a} action: invalid regex: {m}"),
            RelabelErrorKind::MissingTargetLabel => {
                write!(f, "relabel configuration for {a} action requires 'target_label' value")
            }
            RelabelErrorKind::InvalidTargetLabel(t) => write!(f, "{t:?} is invalid 'target_label' for {a} action"),
            RelabelErrorKind::ZeroModulus => write!(f, "relabel configuration for hashmod requires non-zero modulus"),
            RelabelErrorKind::InvalidReplacement(r) => write!(f, "{r:?} is invalid 'replacement' for {a} action"),
            RelabelErrorKind::UnexpectedField(field) => {
                write!(f, "{a} action requires only the fields it uses; {field:?} must not be set")
            }
        }
    }
}

impl std::error::Error for RelabelError {}

/// A validated, compiled relabel rule.
#[derive(Debug, Clone)]
pub struct Relabel {
    cfg: RelabelConfig,
    re: Regex,
    /// `regex` is the default `(.*)`: every value matches and `$1` is the whole value.
    default_regex: bool,
}

/// Whether `s` is a label name or a template that expands to one under the legacy rules
/// (letters, digits, `_`, and `$name`/`${name}` references).
fn is_legacy_template(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut first = true;
    while i < b.len() {
        match b[i] {
            b'$' => {
                i += 1;
                if b.get(i) == Some(&b'{') {
                    let Some(end) = s[i..].find('}') else { return false };
                    let name = &s[i + 1..i + end];
                    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                        return false;
                    }
                    i += end + 1;
                } else {
                    let start = i;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                        i += 1;
                    }
                    if i == start {
                        return false;
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || (!first && c.is_ascii_digit()) => i += 1,
            _ => return false,
        }
        first = false;
    }
    !s.is_empty()
}

impl Relabel {
    /// Validates and compiles `cfg` under Prometheus 3's UTF-8 name rules.
    pub fn new(cfg: RelabelConfig) -> Result<Self, RelabelError> {
        Relabel::with_scheme(cfg, ValidationScheme::Utf8)
    }

    /// Validates and compiles `cfg`, checking label names under `scheme`.
    pub fn with_scheme(cfg: RelabelConfig, scheme: ValidationScheme) -> Result<Self, RelabelError> {
        use RelabelAction as A;
        let err = |kind| RelabelError { action: cfg.action, kind };
        let needs_target =
            matches!(cfg.action, A::Replace | A::HashMod | A::Lowercase | A::Uppercase | A::KeepEqual | A::DropEqual);
        if needs_target && cfg.target_label.is_empty() {
            return Err(err(RelabelErrorKind::MissingTargetLabel));
        }
        if cfg.action == A::HashMod && cfg.modulus == 0 {
            return Err(err(RelabelErrorKind::ZeroModulus));
        }
        let valid_target = match (cfg.action, scheme) {
            (A::Replace, ValidationScheme::Legacy) => is_legacy_template(&cfg.target_label),
            (A::Lowercase | A::Uppercase | A::HashMod | A::KeepEqual | A::DropEqual, s) => {
                s.is_valid_label_name(&cfg.target_label)
            }
            _ => true,
        };
        if !valid_target {
            return Err(err(RelabelErrorKind::InvalidTargetLabel(cfg.target_label.clone())));
        }
        if cfg.action == A::LabelMap && scheme == ValidationScheme::Legacy && !is_legacy_template(&cfg.replacement) {
            return Err(err(RelabelErrorKind::InvalidReplacement(cfg.replacement.clone())));
        }
        // Some actions take only some fields; the others must keep their defaults.
        let set_fields = [
            ("source_labels", !cfg.source_labels.is_empty()),
            ("target_label", !cfg.target_label.is_empty()),
            ("regex", cfg.regex != DEFAULT_REGEX),
            ("modulus", cfg.modulus != 0),
            ("separator", cfg.separator != DEFAULT_SEPARATOR),
            ("replacement", cfg.replacement != DEFAULT_REPLACEMENT),
        ];
        let allowed: &[&str] = match cfg.action {
            A::LabelDrop | A::LabelKeep => &["regex"],
            A::KeepEqual | A::DropEqual => &["source_labels", "target_label"],
            _ => &["source_labels", "target_label", "regex", "modulus", "separator", "replacement"],
        };
        if let Some((field, _)) = set_fields.iter().find(|(f, set)| *set && !allowed.contains(f)) {
            return Err(err(RelabelErrorKind::UnexpectedField(field)));
        }
        let re = Regex::new(&format!("^(?s:{})$", cfg.regex))
            .map_err(|e| err(RelabelErrorKind::InvalidRegex(e.to_string())))?;
        let default_regex = cfg.regex == DEFAULT_REGEX;
        Ok(Relabel { cfg, re, default_regex })
    }

    /// The rule as configured.
    pub fn config(&self) -> &RelabelConfig {
        &self.cfg
    }

    fn source_value(&self, lb: &LabelsBuilder, buf: &mut String) {
        buf.clear();
        for (i, name) in self.cfg.source_labels.iter().enumerate() {
            if i > 0 {
                buf.push_str(&self.cfg.separator);
            }
            buf.push_str(lb.get(name).unwrap_or(""));
        }
    }

    /// Applies the rule to `lb`; returns false when the rule drops the label set.
    pub fn apply(&self, lb: &mut LabelsBuilder) -> bool {
        let mut val = String::new();
        self.apply_with_buffer(lb, &mut val)
    }

    fn apply_with_buffer(&self, lb: &mut LabelsBuilder, val: &mut String) -> bool {
        use RelabelAction as A;
        let cfg = &self.cfg;
        if !matches!(cfg.action, A::LabelMap | A::LabelDrop | A::LabelKeep) {
            self.source_value(lb, val);
        }
        match cfg.action {
            A::Keep => return self.re.is_match(val),
            A::Drop => return !self.re.is_match(val),
            A::KeepEqual => return lb.get(&cfg.target_label).unwrap_or("") == val.as_str(),
            A::DropEqual => return lb.get(&cfg.target_label).unwrap_or("") != val.as_str(),
            A::Replace => {
                if self.default_regex && cfg.replacement == DEFAULT_REPLACEMENT && !cfg.target_label.contains('$') {
                    let v = std::mem::take(val);
                    lb.set(cfg.target_label.as_str(), v);
                    return true;
                }
                let Some(caps) = self.re.captures(val) else { return true };
                let mut target = String::new();
                caps.expand(&cfg.target_label, &mut target);
                if target.is_empty() {
                    return true;
                }
                let mut res = String::new();
                caps.expand(&cfg.replacement, &mut res);
                if res.is_empty() {
                    lb.del(&target);
                } else {
                    lb.set(target, res);
                }
            }
            A::Lowercase => {
                let v = val.to_lowercase();
                lb.set(cfg.target_label.as_str(), v);
            }
            A::Uppercase => {
                let v = val.to_uppercase();
                lb.set(cfg.target_label.as_str(), v);
            }
            A::HashMod => {
                let digest = Md5::digest(val.as_bytes());
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&digest[8..16]);
                let m = u64::from_be_bytes(tail) % cfg.modulus;
                lb.set(cfg.target_label.as_str(), m.to_string());
            }
            A::LabelMap => {
                let matched: Vec<(String, String)> = lb
                    .as_slice()
                    .iter()
                    .filter(|l| self.re.is_match(&l.name))
                    .map(|l| (self.re.replace_all(&l.name, cfg.replacement.as_str()).into_owned(), l.value.clone()))
                    .collect();
                for (name, value) in matched {
                    if !name.is_empty() {
                        lb.set(name, value);
                    }
                }
            }
            A::LabelDrop => {
                lb.retain(|l| !self.re.is_match(&l.name));
            }
            A::LabelKeep => {
                lb.retain(|l| self.re.is_match(&l.name));
            }
        }
        true
    }
}

/// Runs `rules` in order over `labels`; `None` when a rule drops the set.
pub fn process(labels: &Labels, rules: &[Relabel]) -> Option<Labels> {
    if rules.is_empty() {
        return Some(labels.clone());
    }
    let mut lb = labels.builder();
    process_builder(&mut lb, rules).then(|| lb.into_labels())
}

/// Runs `rules` in order over `lb` in place; false when a rule drops the set (then `lb`
/// holds whatever the rules had done up to that point).
pub fn process_builder(lb: &mut LabelsBuilder, rules: &[Relabel]) -> bool {
    let mut buf = String::new();
    rules.iter().all(|r| r.apply_with_buffer(lb, &mut buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;

    fn rule(f: impl FnOnce(&mut RelabelConfig)) -> Relabel {
        let mut c = RelabelConfig::default();
        f(&mut c);
        Relabel::new(c).unwrap()
    }

    #[track_caller]
    fn check(input: Labels, rules: &[Relabel], want: Option<Labels>) {
        assert_eq!(process(&input, rules), want, "input {input}");
    }

    #[test]
    fn replace() {
        let r = rule(|c| {
            c.source_labels = vec!["a".into(), "b".into()];
            c.regex = "(.*);(.*)".into();
            c.target_label = "t_${2}".into();
            c.replacement = "$1-$2".into();
        });
        check(labels! {"a" => "x", "b" => "y"}, &[r], Some(labels! {"a" => "x", "b" => "y", "t_y" => "x-y"}));
        // No match: unchanged.
        let r2 = rule(|c| {
            c.source_labels = vec!["a".into()];
            c.regex = "nomatch".into();
            c.target_label = "t".into();
        });
        check(labels! {"a" => "x"}, &[r2], Some(labels! {"a" => "x"}));
        // Empty result deletes the target.
        let r3 = rule(|c| {
            c.source_labels = vec!["missing".into()];
            c.target_label = "a".into();
        });
        check(labels! {"a" => "x"}, &[r3], Some(Labels::empty()));
        // `$1x` names group "1x", which does not exist: it expands to nothing.
        let r4 = rule(|c| {
            c.source_labels = vec!["a".into()];
            c.target_label = "t".into();
            c.replacement = "$1x".into();
        });
        check(labels! {"a" => "v"}, &[r4], Some(labels! {"a" => "v"}));
        let r5 = rule(|c| {
            c.source_labels = vec!["a".into()];
            c.target_label = "t".into();
            c.replacement = "${1}x".into();
        });
        check(labels! {"a" => "v"}, &[r5], Some(labels! {"a" => "v", "t" => "vx"}));
    }

    #[test]
    fn keep_drop_equal() {
        let keep = rule(|c| {
            c.action = RelabelAction::Keep;
            c.source_labels = vec!["job".into()];
            c.regex = "api|web".into();
        });
        check(labels! {"job" => "api"}, std::slice::from_ref(&keep), Some(labels! {"job" => "api"}));
        check(labels! {"job" => "apix"}, std::slice::from_ref(&keep), None);
        let drop = rule(|c| {
            c.action = RelabelAction::Drop;
            c.source_labels = vec!["job".into()];
            c.regex = "a.*".into();
        });
        check(labels! {"job" => "api"}, std::slice::from_ref(&drop), None);
        check(labels! {}, &[drop], Some(labels! {}));
        let ke = rule(|c| {
            c.action = RelabelAction::KeepEqual;
            c.source_labels = vec!["a".into()];
            c.target_label = "b".into();
        });
        check(labels! {"a" => "1", "b" => "1"}, std::slice::from_ref(&ke), Some(labels! {"a" => "1", "b" => "1"}));
        check(labels! {"a" => "1", "b" => "2"}, &[ke], None);
        let de = rule(|c| {
            c.action = RelabelAction::DropEqual;
            c.source_labels = vec!["a".into()];
            c.target_label = "b".into();
        });
        check(labels! {"a" => "1", "b" => "1"}, &[de], None);
    }

    #[test]
    fn hashmod_and_case() {
        let h = rule(|c| {
            c.action = RelabelAction::HashMod;
            c.source_labels = vec!["a".into()];
            c.target_label = "shard".into();
            c.modulus = 1000;
        });
        let out = process(&labels! {"a" => "foo"}, &[h]).unwrap();
        // md5("foo") = acbd18db4cc2f85cedef654fccc4a4d8; low 8 bytes 0xedef654fccc4a4d8 % 1000.
        assert_eq!(out.get("shard"), Some((0xedef654fccc4a4d8u64 % 1000).to_string().as_str()));
        let lc = rule(|c| {
            c.action = RelabelAction::Lowercase;
            c.source_labels = vec!["a".into()];
            c.target_label = "b".into();
        });
        check(labels! {"a" => "FoO"}, &[lc], Some(labels! {"a" => "FoO", "b" => "foo"}));
        let uc = rule(|c| {
            c.action = RelabelAction::Uppercase;
            c.source_labels = vec!["a".into()];
            c.target_label = "b".into();
        });
        check(labels! {"a" => "FoO"}, &[uc], Some(labels! {"a" => "FoO", "b" => "FOO"}));
    }

    #[test]
    fn label_map_drop_keep() {
        let m = rule(|c| {
            c.action = RelabelAction::LabelMap;
            c.regex = "__meta_(.+)".into();
        });
        check(
            labels! {"__meta_pod" => "p", "job" => "j"},
            &[m],
            Some(labels! {"__meta_pod" => "p", "job" => "j", "pod" => "p"}),
        );
        let d = rule(|c| {
            c.action = RelabelAction::LabelDrop;
            c.regex = "__meta_.*".into();
        });
        check(labels! {"__meta_pod" => "p", "job" => "j"}, &[d], Some(labels! {"job" => "j"}));
        let k = rule(|c| {
            c.action = RelabelAction::LabelKeep;
            c.regex = "job".into();
        });
        check(labels! {"__meta_pod" => "p", "job" => "j"}, &[k], Some(labels! {"job" => "j"}));
    }

    #[test]
    fn validation() {
        let bad = |f: fn(&mut RelabelConfig)| {
            let mut c = RelabelConfig::default();
            f(&mut c);
            Relabel::new(c).unwrap_err().kind
        };
        assert_eq!(bad(|_| {}), RelabelErrorKind::MissingTargetLabel);
        assert_eq!(
            bad(|c| {
                c.action = RelabelAction::HashMod;
                c.target_label = "x".into();
            }),
            RelabelErrorKind::ZeroModulus
        );
        assert_eq!(
            bad(|c| {
                c.action = RelabelAction::LabelDrop;
                c.source_labels = vec!["a".into()];
            }),
            RelabelErrorKind::UnexpectedField("source_labels")
        );
        assert_eq!(
            bad(|c| {
                c.action = RelabelAction::KeepEqual;
                c.target_label = "x".into();
                c.regex = "a".into();
            }),
            RelabelErrorKind::UnexpectedField("regex")
        );
        assert!(matches!(
            bad(|c| {
                c.target_label = "x".into();
                c.regex = "(".into();
            }),
            RelabelErrorKind::InvalidRegex(_)
        ));
        let legacy = |t: &str| {
            Relabel::with_scheme(
                RelabelConfig { target_label: t.into(), ..Default::default() },
                ValidationScheme::Legacy,
            )
            .is_ok()
        };
        assert!(legacy("foo_${1}"));
        assert!(legacy("$1"));
        assert!(!legacy("a.b"));
        assert!(!legacy("1a"));
        assert!(Relabel::new(RelabelConfig { target_label: "a.b".into(), ..Default::default() }).is_ok());
    }
}
