//! Decodes arbitrary bytes as a delimited protobuf exposition. Whatever decodes must encode
//! to a stream that decodes to the same bytes again (compared as bytes, so NaNs count), and
//! must convert to the flat model and back without panicking. The borrowing views
//! (`Decoder::views`) must accept exactly the families `decode` accepts, fail at the same
//! message, and read the same families.
#![no_main]

use ember_exposition::protobuf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoder = protobuf::Decoder::new();
    let mut owned = decoder.iter(data);
    let mut views = decoder.views(data);
    loop {
        let view = views.next().map(|v| v.and_then(|v| v.to_proto().map(|p| (v, p))));
        match (owned.next(), view) {
            (None, None) => break,
            (Some(Ok(a)), Some(Ok((v, b)))) => {
                let (mut ea, mut eb) = (Vec::new(), Vec::new());
                protobuf::encode_one(&a, &mut ea);
                protobuf::encode_one(&b, &mut eb);
                assert_eq!(ea, eb, "the views read another family");
                let mut labels = Vec::new();
                let mut metrics = v.metrics();
                while let Some(m) = metrics.next_into(&mut labels) {
                    // Everything the scrape path reads, without panicking.
                    let m = m.expect("checked above");
                    assert_eq!(m.labels().collect::<Vec<_>>(), labels);
                    let _ = (m.timestamp_ms(), m.gauge(), m.untyped());
                    if let Some(c) = m.counter() {
                        let _ = (c.scalars(), c.exemplar().map(|e| e.labels().count()));
                    }
                    if let Some(s) = m.summary() {
                        let _ = (s.scalars(), s.quantiles().count());
                    }
                    if let Some(h) = m.histogram() {
                        let _ = (h.scalars(), h.buckets().map(|b| b.exemplar().is_some()).count());
                    }
                }
            }
            (Some(Err(a)), Some(Err(b))) => {
                assert_eq!(a.offset, b.offset, "{a} / {b}");
                break;
            }
            (a, b) => panic!("decode {a:?}, views {:?}", b.map(|b| b.map(|(_, p)| p))),
        }
    }
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
