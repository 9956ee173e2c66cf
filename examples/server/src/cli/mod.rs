//! The promtool- and amtool-like subcommands of `ember`.

pub mod check;
pub mod routes;
