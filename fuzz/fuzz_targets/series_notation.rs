//! The expanding series notation and the PromQL test-script parser never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    // Expansion counts are user-controlled: keep one line's expansion bounded here.
    if src.len() > 4096 {
        return;
    }
    let _ = ember_promql::series::parse_series_desc(src);
    let _ = ember_promql::testing::script::parse_script(src);
});
