//! The PromQL engine on any parseable query over a tiny head: evaluation returns a value or
//! a typed error, never panics, as an instant query and as a short range query.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use ember_exposition::labels;
use ember_promql::engine::{Engine, EngineOptions};
use ember_tsdb::head::Head;
use ember_tsdb::storage::{AppendOptions, Appendable, Value};
use libfuzzer_sys::fuzz_target;

fn head() -> &'static Head {
    static H: OnceLock<Head> = OnceLock::new();
    H.get_or_init(|| {
        let head = Head::builder().build();
        let series = [
            labels! {"__name__" => "up", "job" => "api", "instance" => "a"},
            labels! {"__name__" => "up", "job" => "db", "instance" => "b"},
            labels! {"__name__" => "http_requests_total", "job" => "api", "code" => "200"},
            labels! {"__name__" => "http_requests_total", "job" => "api", "code" => "500"},
            labels! {"__name__" => "temp", "le" => "0.5"},
            labels! {"__name__" => "req_bucket", "le" => "0.1"},
            labels! {"__name__" => "req_bucket", "le" => "1"},
            labels! {"__name__" => "req_bucket", "le" => "+Inf"},
        ];
        for (i, l) in series.iter().enumerate() {
            let mut app = Appendable::appender(&head);
            let mut r = None;
            for k in 0..40i64 {
                let v = match i {
                    4 => (k as f64 * 0.7).sin() * 10.0,
                    _ if k == 17 && i == 1 => ember_exposition::STALE_NAN,
                    _ => (k * (i as i64 + 1)) as f64,
                };
                r = Some(app.append(r, l, k * 15_000, Value::Float(v), AppendOptions::NONE).unwrap());
            }
            app.commit().unwrap();
        }
        head
    })
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        Engine::new(EngineOptions {
            max_samples: 200_000,
            timeout: Some(Duration::from_secs(2)),
            experimental_functions: true,
            extended_range_selectors: true,
            binop_fill_modifiers: true,
            ..EngineOptions::default()
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let e = engine();
    if e.parse_options().parse(query).is_err() {
        return;
    }
    let h = head();
    let _ = e.instant_query(h, query, 300_000);
    let _ = e.range_query(h, query, 0, 600_000, 60_000);
});
