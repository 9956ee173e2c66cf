//! Any input: the parser returns a value or an error, never panics or overflows the stack;
//! what parses prints to text that parses back to the same tree.
#![no_main]

use ember_promql::parser::{ParseOptions, pretty, print};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let opts = ParseOptions::experimental();
    if let Ok(expr) = opts.parse(query) {
        let printed = print(&expr);
        let again = opts.parse(&printed).unwrap_or_else(|e| panic!("{query:?} printed as {printed:?}: {e}"));
        assert!(again.same_structure(&expr), "{query:?} printed as {printed:?} parses differently");
        let p = pretty(&expr);
        let again = opts.parse(&p).unwrap_or_else(|e| panic!("{query:?} pretty {p:?}: {e}"));
        assert!(again.same_structure(&expr), "{query:?} pretty {p:?} parses differently");
    }
});
