//! Support for running Prometheus's PromQL test scripts (feature `test-util`).
//!
//! [`script`] parses the `*.test` format; the runner that loads data into a storage and
//! evaluates each `eval` through the engine arrives with the PromQL engine.

pub mod script;
