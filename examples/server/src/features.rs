//! `--enable-feature`: the feature names `ember` knows, as Prometheus 3 names them.
//!
//! | name | what it turns on |
//! |---|---|
//! | `exemplar-storage` | keeping scraped exemplars (`/api/v1/query_exemplars`) |
//! | `promql-experimental-functions` | experimental functions and aggregations (`limitk`, `sort_by_label`, `info`, …) |
//! | `promql-extended-range-selectors` | the `anchored` and `smoothed` selector modifiers |
//! | `promql-binop-fill-modifiers` | the `fill`, `fill_left`, `fill_right` binary-operator modifiers |
//!
//! The PromQL ones reach every place the server parses PromQL: instant and range queries,
//! `/api/v1/format_query`, `/api/v1/query_exemplars`, rule files at start and on reload, and
//! `ember check rules|config` / `ember test rules`. An unknown name is not an error: like
//! Prometheus, `ember` warns on stderr and goes on.
//!
//! ```
//! use ember_server::features::Features;
//!
//! let f = Features::parse(["promql-binop-fill-modifiers,exemplar-storage", "no-such-thing", ""]);
//! assert!(f.exemplar_storage && f.promql.binop_fill_modifiers && !f.promql.experimental_functions);
//! assert_eq!(f.unknown, ["no-such-thing"]);
//! assert_eq!(
//!     f.warnings(),
//!     ["ember: warning: unknown option for --enable-feature: \"no-such-thing\" (ignored; known: exemplar-storage, promql-experimental-functions, promql-extended-range-selectors, promql-binop-fill-modifiers)"]
//! );
//! ```

use ember_promql::parser::{Feature, ParseOptions};

/// The `exemplar-storage` feature name.
pub const EXEMPLAR_STORAGE: &str = "exemplar-storage";

/// Every feature name `--enable-feature` accepts.
pub fn known() -> Vec<&'static str> {
    std::iter::once(EXEMPLAR_STORAGE).chain(Feature::ALL.iter().map(|f| f.flag())).collect()
}

/// What a list of `--enable-feature` values turns on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Features {
    /// `exemplar-storage`.
    pub exemplar_storage: bool,
    /// The PromQL parser switches (`promql-experimental-functions`,
    /// `promql-extended-range-selectors`, `promql-binop-fill-modifiers`); everything else
    /// at its default.
    pub promql: ParseOptions,
    /// The names not known, in the order given (each once).
    pub unknown: Vec<String>,
}

impl Features {
    /// Reads `--enable-feature` values: each may hold several comma-separated names
    /// (surrounding spaces and empty names are ignored), and the flag may be repeated.
    pub fn parse<I>(values: I) -> Features
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut f = Features::default();
        for v in values {
            for name in v.as_ref().split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if name == EXEMPLAR_STORAGE {
                    f.exemplar_storage = true;
                } else if let Some(p) = Feature::from_flag(name) {
                    f.promql.set_feature(p, true);
                } else if !f.unknown.iter().any(|u| u == name) {
                    f.unknown.push(name.to_string());
                }
            }
        }
        f
    }

    /// One stderr line per unknown name, naming it and the known ones.
    pub fn warnings(&self) -> Vec<String> {
        let known = known().join(", ");
        self.unknown
            .iter()
            .map(|n| format!("ember: warning: unknown option for --enable-feature: {n:?} (ignored; known: {known})"))
            .collect()
    }

    /// Prints [`Features::warnings`] to stderr.
    pub fn warn_unknown(&self) {
        for w in self.warnings() {
            eprintln!("{w}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_repeats() {
        let f = Features::parse(["promql-experimental-functions", " promql-extended-range-selectors , x", "x,y"]);
        assert!(f.promql.experimental_functions && f.promql.extended_range_selectors);
        assert!(!f.promql.binop_fill_modifiers && !f.exemplar_storage);
        assert_eq!(f.unknown, ["x", "y"]);
        let all = Features::parse([known().join(",")]);
        assert!(all.exemplar_storage && all.unknown.is_empty());
        assert_eq!(all.promql, ParseOptions::experimental());
        assert_eq!(Features::parse(Vec::<String>::new()), Features::default());
        assert_eq!(Features::default().promql, ParseOptions::default());
    }
}
