//! The routing tree: which routes (and so which receivers and grouping options) an
//! alert's labels reach.

use std::collections::HashSet;

use ember_exposition::names::is_valid_legacy_label_name;
use ember_exposition::{Labels, Matcher};

use super::config::{RawRoute, build_matchers, parse_duration};
use super::duration::Duration;
use super::error::{ConfigError, ConfigErrorKind};
use super::matchers::format_matchers;

/// Index of a route in its [`RouteTree`].
pub type RouteId = usize;

/// How a route groups alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `group_by: ['...']`: every distinct label set is its own group.
    All,
    /// Group by these labels (sorted); empty means one group for the route.
    Labels(Vec<String>),
}

impl GroupBy {
    /// The group labels of an alert.
    pub fn group_labels(&self, labels: &Labels) -> Labels {
        match self {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => labels.keep_names(names),
        }
    }
}

/// The options a route applies to the alerts it takes (inherited from the parent
/// unless the route sets them, except the time intervals, which are per route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOpts {
    /// The receiver name.
    pub receiver: String,
    /// Grouping.
    pub group_by: GroupBy,
    /// Wait before the first notification of a new group.
    pub group_wait: Duration,
    /// Wait between notifications of a group with changes.
    pub group_interval: Duration,
    /// Wait before re-sending an unchanged group.
    pub repeat_interval: Duration,
    /// Names of time intervals during which the route sends nothing.
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which the route sends nothing (empty: always).
    pub active_time_intervals: Vec<String>,
}

/// One node of the routing tree.
#[derive(Debug, Clone)]
pub struct Route {
    id: RouteId,
    parent: Option<RouteId>,
    children: Vec<RouteId>,
    /// Matchers an alert must satisfy to enter this route (sorted as Alertmanager sorts).
    pub matchers: Vec<Matcher>,
    /// Whether matching continues with the next sibling after this route matched.
    pub continue_matching: bool,
    /// The effective options.
    pub opts: RouteOpts,
    key: String,
}

impl Route {
    /// This route's index.
    pub fn id(&self) -> RouteId {
        self.id
    }

    /// The parent route, if any.
    pub fn parent(&self) -> Option<RouteId> {
        self.parent
    }

    /// The child routes, in configuration order.
    pub fn children(&self) -> &[RouteId] {
        &self.children
    }

    /// Alertmanager's route key, the path of matcher sets from the root: `{}/{team="db"}`.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The routing tree, stored flat; the root is [`RouteTree::root`].
#[derive(Debug, Clone)]
pub struct RouteTree {
    routes: Vec<Route>,
}

type Check<'a> = &'a dyn Fn(&str, &str) -> Result<(), ConfigError>;

impl RouteTree {
    pub(crate) fn build(
        root: RawRoute,
        defaults: RouteOpts,
        check_receiver: Check<'_>,
        check_interval: Check<'_>,
    ) -> Result<RouteTree, ConfigError> {
        let mut tree = RouteTree { routes: Vec::new() };
        tree.add(root, None, &defaults, "route", check_receiver, check_interval)?;
        Ok(tree)
    }

    fn add(
        &mut self,
        raw: RawRoute,
        parent: Option<RouteId>,
        inherited: &RouteOpts,
        path: &str,
        check_receiver: Check<'_>,
        check_interval: Check<'_>,
    ) -> Result<RouteId, ConfigError> {
        let matchers =
            build_matchers(path, ("match", &raw.match_), ("match_re", &raw.match_re), ("matchers", &raw.matchers))?;
        let mut opts = inherited.clone();
        if let Some(r) = raw.receiver.filter(|r| !r.is_empty()) {
            check_receiver(path, &r)?;
            opts.receiver = r;
        }
        if let Some(gb) = raw.group_by {
            opts.group_by = parse_group_by(&gb, &format!("{path}.group_by"))?;
        }
        for (field, d, target) in [
            ("group_wait", raw.group_wait, &mut opts.group_wait),
            ("group_interval", raw.group_interval, &mut opts.group_interval),
            ("repeat_interval", raw.repeat_interval, &mut opts.repeat_interval),
        ] {
            if let Some(d) = d {
                let d = parse_duration(&d, &format!("{path}.{field}"))?;
                if d.as_millis() == 0 && field != "group_wait" {
                    return Err(ConfigError::new(
                        format!("{path}.{field}"),
                        ConfigErrorKind::InvalidValue(format!("{field} cannot be zero")),
                    ));
                }
                *target = d;
            }
        }
        for (field, list) in
            [("mute_time_intervals", &raw.mute_time_intervals), ("active_time_intervals", &raw.active_time_intervals)]
        {
            for (i, name) in list.iter().enumerate() {
                check_interval(&format!("{path}.{field}[{i}]"), name)?;
            }
        }
        opts.mute_time_intervals = raw.mute_time_intervals;
        opts.active_time_intervals = raw.active_time_intervals;

        let id = self.routes.len();
        let own = format_matchers(&matchers);
        let key = match parent {
            Some(p) => format!("{}/{own}", self.routes[p].key),
            None => own,
        };
        self.routes.push(Route {
            id,
            parent,
            children: Vec::new(),
            matchers,
            continue_matching: raw.continue_,
            opts: opts.clone(),
            key,
        });
        for (i, child) in raw.routes.into_iter().enumerate() {
            let cid =
                self.add(child, Some(id), &opts, &format!("{path}.routes[{i}]"), check_receiver, check_interval)?;
            self.routes[id].children.push(cid);
        }
        Ok(id)
    }

    /// The root route.
    pub fn root(&self) -> &Route {
        &self.routes[0]
    }

    /// The route with index `id`.
    pub fn get(&self, id: RouteId) -> &Route {
        &self.routes[id]
    }

    /// Every route, root first, in depth-first configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// The routes `labels` reach, in tree order, honouring `continue`.
    ///
    /// A route takes an alert when its matchers accept it and none of its children
    /// do; children are tried in order, and the first child that matches ends the
    /// search unless it has `continue: true`. The root accepts everything.
    pub fn match_routes(&self, labels: &Labels) -> Vec<RouteId> {
        let mut out = Vec::new();
        self.match_into(0, labels, &mut out);
        out
    }

    fn match_into(&self, id: RouteId, labels: &Labels, out: &mut Vec<RouteId>) -> bool {
        let r = &self.routes[id];
        if id != 0 && !r.matchers.iter().all(|m| m.matches_labels(labels)) {
            return false;
        }
        let before = out.len();
        for &c in &r.children {
            if self.match_into(c, labels, out) && !self.routes[c].continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(id);
        }
        true
    }

    /// The receiver names `labels` reach, in tree order (a name may repeat, as in
    /// `amtool config routes test`).
    pub fn receivers_for(&self, labels: &Labels) -> Vec<&str> {
        self.match_routes(labels).into_iter().map(|id| self.routes[id].opts.receiver.as_str()).collect()
    }
}

fn parse_group_by(names: &[String], path: &str) -> Result<GroupBy, ConfigError> {
    if names.iter().any(|n| n == "...") {
        if names.len() != 1 {
            return Err(ConfigError::new(
                path,
                ConfigErrorKind::InvalidValue(
                    "cannot have wildcard group_by (`...`) and other labels at the same time".into(),
                ),
            ));
        }
        return Ok(GroupBy::All);
    }
    let mut seen = HashSet::new();
    for n in names {
        if !is_valid_legacy_label_name(n) {
            return Err(ConfigError::new(path, ConfigErrorKind::InvalidLabelName(n.clone())));
        }
        if !seen.insert(n.as_str()) {
            return Err(ConfigError::new(
                path,
                ConfigErrorKind::InvalidValue(format!("duplicated label {n:?} in group_by")),
            ));
        }
    }
    let mut v = names.to_vec();
    v.sort();
    Ok(GroupBy::Labels(v))
}

/// Formats receiver names exactly as `amtool config routes test` prints them: joined
/// by commas, no spaces, in tree order (repeats kept), followed by a newline.
pub fn format_amtool_routes<S: AsRef<str>>(receivers: &[S]) -> String {
    let mut s = receivers.iter().map(|r| r.as_ref()).collect::<Vec<_>>().join(",");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::super::config::Config;
    use ember_exposition::labels;

    const CFG: &str = r#"
receivers: [{name: default}, {name: db}, {name: pager}, {name: child}, {name: deep}]
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: [team="db"]
      receiver: db
      continue: true
      routes:
        - match: {severity: page}
          receiver: deep
    - match_re: {severity: "crit.*"}
      receiver: pager
    - receiver: child
      matchers: ['env=~"prod|stage"', 'env!=stage']
"#;

    #[track_caller]
    fn check(labels: ember_exposition::Labels, want: &str) {
        let c = Config::from_yaml(CFG).unwrap();
        assert_eq!(super::format_amtool_routes(&c.route.receivers_for(&labels)), format!("{want}\n"), "{labels}");
    }

    #[test]
    fn routing() {
        check(labels! {"team" => "db", "severity" => "critical"}, "db,pager");
        check(labels! {"team" => "db", "severity" => "page"}, "deep");
        check(labels! {"foo" => "bar"}, "default");
        check(labels! {"team" => "db"}, "db");
        check(labels! {"env" => "prod"}, "child");
        check(labels! {"env" => "stage"}, "default");
        check(labels! {"severity" => "xcritical"}, "default");
        check(labels! {"team" => "db", "env" => "prod"}, "db,child");
    }

    #[test]
    fn keys() {
        let c = Config::from_yaml(CFG).unwrap();
        let keys: Vec<_> = c.route.iter().map(|r| r.key().to_string()).collect();
        assert_eq!(
            keys,
            [
                "{}",
                r#"{}/{team="db"}"#,
                r#"{}/{team="db"}/{severity="page"}"#,
                r#"{}/{severity=~"crit.*"}"#,
                r#"{}/{env=~"prod|stage",env!="stage"}"#
            ]
        );
    }
}
