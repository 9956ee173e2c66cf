//! The HTTP API's wire formats.

pub mod json;
pub mod params;
