//! The HTTP API: wire formats, parameters and handlers.

pub mod alertmanager;
pub mod api;
pub mod exemplars;
pub mod federate;
pub mod json;
pub mod metadata;
pub mod params;
pub mod query;
pub mod rules;
