//! Decodes arbitrary bytes as a delimited protobuf exposition. Whatever decodes must encode
//! to a stream that decodes to the same bytes again (compared as bytes, so NaNs count), and
//! must convert to the flat model and back without panicking.
#![no_main]

use ember_exposition::protobuf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(families) = protobuf::decode(data) else { return };
    let mut once = Vec::new();
    protobuf::encode(&families, &mut once);
    let again = protobuf::decode(&once).expect("re-encoded stream decodes");
    let mut twice = Vec::new();
    protobuf::encode(&again, &mut twice);
    assert_eq!(once, twice, "encode(decode(encode(x))) differs from encode(x)");

    let conv = protobuf::to_families(&families);
    if let Ok(back) = protobuf::from_families(&conv.families) {
        // Whatever the flat model held must survive a second trip unchanged.
        let conv2 = protobuf::to_families(&back);
        assert_eq!(conv2.families.len(), conv.families.len());
        for (a, b) in conv.families.iter().zip(&conv2.families) {
            assert!(a.bit_eq(b), "flat round trip changed {a:?} into {b:?}");
        }
    }
});
