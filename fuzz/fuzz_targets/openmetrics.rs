//! OpenMetrics: parsing never panics; whatever parses, encodes and parses back equal.
#![no_main]

use ember_exposition::openmetrics;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = openmetrics::Parser::from_bytes(data) {
        for entry in p {
            if let Ok(ember_exposition::Entry::Sample(s)) = &entry {
                for (n, v) in s.labels.iter() {
                    std::hint::black_box((n, v));
                }
            }
            if entry.is_err() {
                break;
            }
        }
    }
    let Ok(input) = std::str::from_utf8(data) else { return };
    let Ok(families) = openmetrics::parse(input) else { return };
    let mut out = String::new();
    openmetrics::encode(&mut out, &families).unwrap();
    let again = openmetrics::parse(&out).unwrap_or_else(|e| panic!("re-parse failed: {e}\n{out}"));
    assert!(
        again.len() == families.len() && again.iter().zip(&families).all(|(a, b)| a.bit_eq(b)),
        "round trip changed the families:\n{families:#?}\n{out}\n{again:#?}"
    );
});
