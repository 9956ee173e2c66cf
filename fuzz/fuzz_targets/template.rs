//! The Go-template engine: parsing and executing arbitrary source never panics and
//! always ends (nested `template` calls are depth-limited, ranges are over finite data).
#![no_main]

use ember_alerting::template::{Context, Template, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if let Ok(t) = Template::parse("fuzz", src) {
        let dot = Value::map([
            ("Labels", Value::str_map([("instance", "a:1"), ("job", "j")])),
            ("Value", Value::Float(1.5)),
            ("List", Value::list([Value::Int(1), Value::str("x")])),
        ]);
        let _ = t.execute(&dot, &Context::default());
    }
});
