//! Support for running Prometheus's PromQL test scripts (feature `test-util`).
//!
//! [`script`] parses the `*.test` format; [`runner`] loads data into a storage and evaluates
//! each `eval` through the engine, with the tolerance and options of Prometheus's runner.

pub mod runner;
pub mod script;

pub use runner::{
    CaseOutcome, CaseReport, DirReport, LoadError, LoadReport, ScriptReport, almost_equal, conformance_engine_options,
    load, run_dir, run_script,
};
