//! `ember config routes test`, printing what `amtool config routes test` prints.

use std::io::Write;

use ember_alerting::dispatch::{Config, format_amtool_routes, parse_matcher};
use ember_exposition::{Labels, MatchType};

/// Resolves the receivers for the label set given as `name=value` arguments. With
/// `verify`, a mismatch prints amtool's warning and exits 1.
pub fn test(config_file: &str, verify: Option<&str>, args: &[String], out: &mut dyn Write) -> i32 {
    let cfg = match Config::from_file(config_file) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(out, "amtool: error: failed to load config from {config_file:?}: {e}");
            return 1;
        }
    };
    let mut pairs = Vec::with_capacity(args.len());
    for a in args {
        match parse_matcher(a) {
            Ok(m) if m.kind() == MatchType::Equal => pairs.push((m.name().to_string(), m.value().to_string())),
            Ok(_) => {
                let _ = writeln!(out, "amtool: error: {a:?} is not a label=value pair");
                return 1;
            }
            Err(e) => {
                let _ = writeln!(out, "amtool: error: bad label {a:?}: {e}");
                return 1;
            }
        }
    }
    let labels = Labels::from_pairs(pairs);
    let receivers = cfg.route.receivers_for(&labels);
    let printed = format_amtool_routes(&receivers);
    let _ = out.write_all(printed.as_bytes());
    if let Some(want) = verify {
        if printed.trim_end() != want {
            let _ = writeln!(out, "WARNING: Expected receivers did not match resolved receivers.");
            return 1;
        }
    }
    0
}
