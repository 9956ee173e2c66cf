//! Rule-file YAML: parsing and validation never panic.
#![no_main]

use ember_alerting::rules::file::RuleFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let _ = RuleFile::parse("fuzz.yml", src, &|_| Ok(()));
});
