//! Typed label sets through the derive macros.
#![cfg(feature = "derive")]

use ember_client::{Counter, LabelSet, LabelValue, Registry, TextFormat, TypedFamily};

#[derive(LabelValue, Clone, Copy)]
enum Method {
    #[label(rename = "GET")]
    Get,
    Post,
}

#[derive(LabelSet)]
struct Request<'a> {
    method: Method,
    #[label(rename = "handler")]
    path: &'a str,
    cached: bool,
}

#[test]
fn typed_family_encodes_field_order() {
    assert_eq!(<Request<'_> as LabelSet>::NAMES, &["method", "handler", "cached"]);
    let reg = Registry::new();
    let fam = TypedFamily::<Request<'static>, Counter>::new().unwrap();
    reg.register("requests", "Requests.", fam.clone()).unwrap();
    fam.with_labels(&Request { method: Method::Get, path: "/a", cached: true }).inc();
    fam.get(&Request { method: Method::Post, path: "/b", cached: false }).unwrap().inc_by(2);
    assert_eq!(
        reg.encode(TextFormat::Text),
        "# HELP requests_total Requests.\n# TYPE requests_total counter\n\
         requests_total{method=\"GET\",handler=\"/a\",cached=\"true\"} 1\n\
         requests_total{method=\"Post\",handler=\"/b\",cached=\"false\"} 2\n"
    );
    assert!(fam.remove(&Request { method: Method::Get, path: "/a", cached: true }));
    assert_eq!(fam.family().len(), 1);
}
