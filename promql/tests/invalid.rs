//! Invalid queries: the error text (as Prometheus words it) and the byte range it points at.

use ember_promql::parser::{Feature, ParseErrorKind, ParseOptions, parse};

/// `want` is `(message, start, end)`; the message is the error without its `line:col:` prefix.
#[track_caller]
fn check(input: &str, want: (&str, usize, usize)) {
    let err = match ParseOptions::experimental().parse(input) {
        Ok(e) => panic!("{input:?} parsed as {e}"),
        Err(e) => e,
    };
    // Multi-line messages (the regex compiler's) are compared by their first line.
    let msg = err.kind().to_string();
    let got = (msg.lines().next().unwrap_or_default().to_string(), err.pos().start, err.pos().end);
    assert_eq!((got.0.as_str(), got.1, got.2), want, "{input:?}: {err}");
    let col = err.column();
    assert!(err.to_string().starts_with(&format!("{}:{col}: parse error: ", err.line())), "{err}");
}

#[test]
fn invalid_queries() {
    let cases: &[(&str, (&str, usize, usize))] = &[
        ("", ("no expression found in input", 0, 0)),
        ("# only a comment", ("no expression found in input", 16, 16)),
        ("1 +", ("unexpected end of input", 3, 3)),
        ("foo{", ("unexpected end of input inside braces", 3, 4)),
        ("foo{a=\"b\"", ("unexpected end of input inside braces", 3, 4)),
        ("foo{a}", ("unexpected \"}\" in label matching, expected label matching operator", 5, 6)),
        ("foo{a=b}", ("unexpected identifier \"b\" in label matching, expected string", 6, 7)),
        ("foo{a==\"b\"}", ("unexpected <op:==> in label matching, expected label matching operator", 5, 7)),
        ("foo{a=~\"(\"}", ("invalid regular expression \"(\" for label \"a\": regex parse error:", 7, 10)),
        ("(1 + 2", ("unclosed left parenthesis", 0, 1)),
        ("1 + 2)", ("unexpected right parenthesis ')'", 5, 6)),
        (")", ("unexpected right parenthesis ')'", 0, 1)),
        ("\"abc", ("unterminated quoted string", 0, 4)),
        ("'a\\qb'", ("unknown escape sequence \\q", 2, 4)),
        ("1.5h", ("bad number or duration syntax: \"1.5h\"", 0, 4)),
        ("foo[1m1h]", ("bad number or duration syntax: \"1m1h\"", 4, 8)),
        ("0xABm", ("bad number or duration syntax: \"0xABm\"", 0, 5)),
        ("foo ! bar", ("unexpected character: '!'", 4, 5)),
        ("foo $ bar", ("unexpected character: '$'", 4, 5)),
        ("{}", ("vector selector must contain at least one non-empty matcher", 0, 2)),
        ("{job=~\".*\"}", ("vector selector must contain at least one non-empty matcher", 0, 11)),
        ("foo{\"bar\"}", ("metric name must not be set twice: \"foo\" or \"bar\"", 4, 9)),
        ("foo{__name__=\"bar\"}", ("metric name must not be set twice: \"foo\" or \"bar\"", 0, 19)),
        ("{\"foo\", __name__=~\"b.*\"}", ("metric name must not be set twice: \"foo\" or \"b.*\"", 0, 24)),
        ("on{}", ("unexpected <on>", 0, 2)),
        ("rate(foo)", ("expected type range vector in call to function \"rate\", got instant vector", 5, 8)),
        ("abs(foo[5m])", ("expected type instant vector in call to function \"abs\", got range vector", 4, 11)),
        ("abs()", ("expected 1 argument(s) in call to \"abs\", got 0", 0, 5)),
        ("round(a, 1, 2)", ("expected at most 2 argument(s) in call to \"round\", got 3", 0, 14)),
        ("label_join(a)", ("expected at least 3 argument(s) in call to \"label_join\", got 1", 0, 13)),
        ("rate(a[5m],)", ("trailing commas not allowed in function call args", 10, 11)),
        ("foo(bar)", ("unknown function with name \"foo\"", 0, 3)),
        ("sum(a, b)", ("wrong number of arguments for aggregate expression provided, expected 1, got 2", 0, 9)),
        ("topk(a)", ("wrong number of arguments for aggregate expression provided, expected 2, got 1", 0, 7)),
        ("topk(\"a\", b)", ("expected type scalar in aggregation parameter, got string", 5, 8)),
        ("count_values(1, b)", ("expected type string in aggregation parameter, got scalar", 13, 14)),
        ("sum(a[5m])", ("expected type instant vector in aggregation expression, got range vector", 4, 9)),
        ("sum by (a) (b) by (c)", ("unexpected <by> in aggregation", 15, 17)),
        ("sum by (\"a\" (b)", ("unexpected \"(\" in grouping opts, expected \",\" or \")\"", 12, 13)),
        ("1 == 2", ("comparisons between scalars must use BOOL modifier", 0, 6)),
        ("a + bool b", ("bool modifier can only be used on comparison operators", 0, 10)),
        ("1 and b", ("set operator \"and\" not allowed in binary scalar expression", 0, 7)),
        ("a and on(x) group_left b", ("no grouping allowed for \"and\" operation", 0, 24)),
        ("1 + on(x) b", ("vector matching only allowed between instant vectors", 0, 11)),
        ("a + on(x) group_left(x) b", ("label \"x\" must not occur in ON and GROUP clause at once", 0, 25)),
        ("a[5m] + b", ("binary expression must contain only scalar and instant vector types", 0, 5)),
        ("\"a\" + b", ("binary expression must contain only scalar and instant vector types", 0, 3)),
        (
            "-\"a\"",
            ("unary expression only allowed on expressions of type scalar or instant vector, got \"string\"", 1, 4),
        ),
        ("sum(a)[5m]", ("ranges only allowed for vector selectors", 6, 10)),
        ("a offset 5m [5m]", ("no offset modifiers allowed before range", 12, 16)),
        ("a @ 10 [5m]", ("no @ modifiers allowed before range", 7, 11)),
        ("a[5m:][1m]", ("ranges only allowed for vector selectors", 6, 10)),
        ("a[5m][1m:]", ("subquery is only allowed on instant vector, got range vector instead", 0, 5)),
        ("a offset 5m offset 1m", ("offset may not be set multiple times", 12, 18)),
        ("a @ 1 @ 2", ("@ <timestamp> may not be set multiple times", 6, 7)),
        (
            "sum(a) offset 5m",
            (
                "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                7,
                13,
            ),
        ),
        (
            "sum(a) @ 5",
            ("@ modifier must be preceded by an instant vector selector or range vector selector or a subquery", 7, 8),
        ),
        ("a @ Inf", ("timestamp out of bounds for @ modifier: inf", 4, 7)),
        ("a @ foo", ("unexpected identifier \"foo\" in @, expected timestamp", 4, 7)),
        ("a offset", ("unexpected end of input in offset, expected number, duration, or duration expression", 8, 8)),
        ("a[0s]", ("duration must be greater than 0", 2, 4)),
        ("a[5m", ("unclosed left bracket", 1, 2)),
        ("a[]", ("unexpected \"]\" in subquery selector, expected number or duration", 2, 3)),
        ("a[5m:1m", ("unexpected end of input in subquery selector, expected \"]\"", 7, 7)),
        (
            "a[foo]",
            (
                "unexpected identifier \"foo\" in duration expression, expected number, duration or duration function",
                2,
                5,
            ),
        ),
        ("a + fill(1) fill(2) b", ("fill modifier may not be set multiple times for a side", 12, 16)),
        ("a and fill(1) b", ("fill modifiers are not allowed for set operator \"and\"", 0, 15)),
        (
            "sum(a) smoothed",
            ("smoothed modifier must be preceded by an instant vector selector or range vector selector", 7, 15),
        ),
    ];
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|(input, want)| std::panic::catch_unwind(|| check(input, *want)).err().map(|_| input.to_string()))
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

#[test]
fn experimental_switch() {
    for q in
        ["limitk(2, a)", "limit_ratio(0.5, a)", "sort_by_label(a, \"x\")", "info(a)", "step()", "mad_over_time(a[5m])"]
    {
        let err = parse(q).unwrap_err();
        assert!(
            matches!(err.kind(), ParseErrorKind::NotEnabled(_) | ParseErrorKind::ExperimentalAggregationNotEnabled(_)),
            "{q}: {err}"
        );
        assert_eq!(err.kind().feature(), Some(Feature::ExperimentalFunctions), "{q}");
        assert!(ParseOptions::experimental().parse(q).is_ok(), "{q}");
    }
}

/// A query, the feature it needs, `(message, start, end)` and `(line, column)` without it.
type Gated = (&'static str, Feature, (&'static str, usize, usize), (usize, usize));

/// Each experimental construct fails with Prometheus's words and the position Prometheus
/// reports (the modified selector, the whole binary expression) while its switch is off,
/// parses with only its own switch on, and still fails with every other switch on.
#[test]
fn feature_switches() {
    let anchored = "anchored modifier is experimental and not enabled";
    let smoothed = "smoothed modifier is experimental and not enabled";
    let fill = "binop fill modifiers are experimental and not enabled";
    #[rustfmt::skip]
    let cases: &[Gated] = &[
        ("a anchored", Feature::ExtendedRangeSelectors, (anchored, 0, 1), (1, 1)),
        ("rate(foo[5m] smoothed)", Feature::ExtendedRangeSelectors, (smoothed, 5, 12), (1, 6)),
        ("foo{x=\"y\"} @ 10 anchored", Feature::ExtendedRangeSelectors, (anchored, 0, 15), (1, 1)),
        // The switch is checked before what precedes the modifier.
        ("sum(a) smoothed", Feature::ExtendedRangeSelectors, (smoothed, 0, 6), (1, 1)),
        ("sum(\n  increase(foo[5m] anchored)\n)", Feature::ExtendedRangeSelectors, (anchored, 16, 23), (2, 12)),
        ("a + fill(0) b", Feature::BinopFillModifiers, (fill, 0, 13), (1, 1)),
        ("1 + (a - on(x) fill_left(1) fill_right(-2) b)", Feature::BinopFillModifiers, (fill, 5, 44), (1, 6)),
        ("a\n  > fill_right(0)\nb", Feature::BinopFillModifiers, (fill, 0, 21), (1, 1)),
        // Before the set-operator check, as in Prometheus.
        ("a and fill(1) b", Feature::BinopFillModifiers, (fill, 0, 15), (1, 1)),
    ];
    for &(q, feature, want, (line, column)) in cases {
        let err = ParseOptions::default().parse(q).unwrap_err();
        let msg = err.kind().to_string();
        assert_eq!((msg.as_str(), err.pos().start, err.pos().end), want, "{q:?}: {err}");
        assert_eq!((err.line(), err.column()), (line, column), "{q:?}: {err}");
        assert_eq!(err.to_string(), format!("{line}:{column}: parse error: {}", want.0));
        assert_eq!(err.kind().feature(), Some(feature), "{q:?}");
        match feature {
            Feature::ExtendedRangeSelectors => {
                assert!(matches!(err.kind(), ParseErrorKind::ExtendedRangeSelectorNotEnabled(_)), "{q:?}")
            }
            _ => assert_eq!(err.kind(), &ParseErrorKind::FillModifiersNotEnabled, "{q:?}"),
        }
        let mut others = ParseOptions::experimental();
        others.set_feature(feature, false);
        assert!(!others.feature(feature));
        assert_eq!(others.parse(q).unwrap_err().kind(), err.kind(), "{q:?} with the other switches on");
        let own = ParseOptions::default().with_feature(feature);
        if q.starts_with("sum(a)") || q.starts_with("a and") {
            // Past the switch, the query is still wrong.
            let e = own.parse(q).unwrap_err();
            assert_eq!(e.kind().feature(), None, "{q:?}: {e}");
        } else {
            own.parse(q).unwrap_or_else(|e| panic!("{q:?} with {feature}: {e}"));
        }
    }
    // The words stay identifiers where no modifier can be.
    for q in ["fill", "fill + fill_left", "anchored", "smoothed + 1", "a + fill"] {
        parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
    }
    assert_eq!(
        ParseOptions::experimental(),
        Feature::ALL.iter().fold(ParseOptions::default(), |o, &f| o.with_feature(f))
    );
    for f in Feature::ALL {
        assert_eq!(Feature::from_flag(f.flag()), Some(f));
        assert!(ParseOptions::experimental().feature(f) && !ParseOptions::default().feature(f));
    }
    assert_eq!(Feature::from_flag("promql-experimental-functions"), Some(Feature::ExperimentalFunctions));
    assert_eq!(Feature::from_flag("exemplar-storage"), None);
    // Experimental functions and aggregations, in Prometheus's words: the function name, the
    // whole aggregation (checked once its arguments are read).
    let e = parse("1 + sort_by_label(a, \"x\")").unwrap_err();
    assert_eq!(
        (e.to_string().as_str(), e.pos().start, e.pos().end),
        ("1:5: parse error: function \"sort_by_label\" is not enabled", 4, 17)
    );
    let e = parse("1 + limitk by (x) (1, a)").unwrap_err();
    let want = "1:5: parse error: limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions";
    assert_eq!((e.to_string().as_str(), e.pos().start, e.pos().end), (want, 4, 24));
    assert_eq!(e.kind().feature(), Some(Feature::ExperimentalFunctions));
    let e = parse("limit_ratio(0.5, sum(").unwrap_err();
    assert_eq!(e.kind().feature(), None, "errors inside the arguments come first: {e}");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    // Run on a thread with a small stack to show the limit keeps well within it.
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let n = 100_000;
            let deep = format!("{}1{}", "(".repeat(n), ")".repeat(n));
            let err = parse(&deep).unwrap_err();
            assert!(matches!(err.kind(), ParseErrorKind::TooDeep(256)), "{err}");
            let chain = vec!["1"; n].join(" + ");
            assert!(matches!(parse(&chain).unwrap_err().kind(), ParseErrorKind::TooDeep(_)));
            let unary = format!("{}a", "-".repeat(n));
            assert!(matches!(parse(&unary).unwrap_err().kind(), ParseErrorKind::TooDeep(_)));
            let calls = format!("{}a{}", "abs(".repeat(n), ")".repeat(n));
            assert!(matches!(parse(&calls).unwrap_err().kind(), ParseErrorKind::TooDeep(_)));
            let dur = format!("a[{}1{}]", "(".repeat(n), ")".repeat(n));
            assert!(matches!(parse(&dur).unwrap_err().kind(), ParseErrorKind::TooDeep(_)));
            // Just inside the limit parses, prints and drops fine.
            let ok = format!("{}1{}", "(".repeat(200), ")".repeat(200));
            let e = parse(&ok).unwrap();
            assert_eq!(e.to_string(), ok);
        })
        .unwrap()
        .join()
        .unwrap();
}
