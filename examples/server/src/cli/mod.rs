//! The promtool- and amtool-like subcommands of `ember`.

pub mod check;
pub mod query;
pub mod routes;
pub mod tsdb;
