//! Pushes to a real Pushgateway (`/usr/bin/prometheus-pushgateway`, or the binary named by
//! `EMBER_PUSHGATEWAY_BIN`) started on a free port of 127.0.0.1; skips with a printed
//! reason when the binary is absent (or fails, when `EMBER_REQUIRE_PUSHGATEWAY=1`).
#![cfg(feature = "push")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ember_client::push::Pusher;
use ember_client::{Counter, Family, Gauge, Registry};

struct Gateway {
    child: Child,
    port: u16,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn start() -> Option<Gateway> {
    let bin = std::env::var_os("EMBER_PUSHGATEWAY_BIN")
        .map(PathBuf::from)
        .unwrap_or("/usr/bin/prometheus-pushgateway".into());
    if !bin.exists() {
        let msg = format!("skipping: no Pushgateway binary at {}", bin.display());
        if std::env::var("EMBER_REQUIRE_PUSHGATEWAY").as_deref() == Ok("1") {
            panic!("{msg}");
        }
        eprintln!("{msg}");
        return None;
    }
    // A free port: bind port 0, read it, release it for the gateway.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pushgateway");
    let gw = Gateway { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if http_get(port, "/-/ready").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            return Some(gw);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("pushgateway on port {port} did not become ready");
}

#[test]
fn push_push_add_and_delete_against_a_real_pushgateway() {
    let Some(gw) = start() else { return };
    let url = format!("http://127.0.0.1:{}", gw.port);
    let pusher = Pusher::new(&url, "ember_test").unwrap().grouping("instance", "host/a").unwrap();
    let metrics = || http_get(gw.port, "/metrics").unwrap();

    let reg = Registry::new();
    let done = Counter::<u64>::new();
    reg.register("jobs_done", "Jobs done.", done.clone()).unwrap();
    let fam = Family::<Counter>::new(&["kind"]).unwrap();
    reg.register("items", "Items.", fam.clone()).unwrap();
    done.inc_by(3);
    fam.with_label_values(&["x\"y"]).inc();
    pusher.push(&reg).unwrap();
    let m = metrics();
    // The base64 grouping value arrives decoded, with the slash.
    assert!(m.contains(r#"jobs_done_total{instance="host/a",job="ember_test"} 3"#), "{m}");
    assert!(m.contains(r#"items_total{instance="host/a",job="ember_test",kind="x\"y"} 1"#), "{m}");

    // push_add (POST) replaces only the families sent.
    let reg2 = Registry::new();
    let last = Gauge::<f64>::new();
    reg2.register("last_run_seconds", "When.", last.clone()).unwrap();
    last.set(1.5e9);
    pusher.push_add(&reg2).unwrap();
    let m = metrics();
    assert!(m.contains(r#"jobs_done_total{instance="host/a",job="ember_test"} 3"#), "{m}");
    assert!(m.contains(r#"last_run_seconds{instance="host/a",job="ember_test"} 1.5e+09"#), "{m}");

    // push (PUT) replaces the whole group.
    pusher.push(&reg2).unwrap();
    let m = metrics();
    assert!(!m.contains("jobs_done_total{"), "{m}");
    assert!(m.contains("last_run_seconds{"), "{m}");

    // Another group is independent; delete removes one group only.
    let other = Pusher::new(&url, "ember_test").unwrap().grouping("instance", "b").unwrap();
    other.push(&reg).unwrap();
    pusher.delete().unwrap();
    let m = metrics();
    assert!(!m.contains(r#"instance="host/a""#), "{m}");
    assert!(m.contains(r#"jobs_done_total{instance="b",job="ember_test"} 3"#), "{m}");

    // A push the gateway refuses comes back as a typed status error: a gauge named like
    // the counter another group already has.
    let bad = Registry::new();
    bad.register("jobs_done_total", "Clash.", Gauge::<i64>::new()).unwrap();
    let err = Pusher::new(&url, "ember_test").unwrap().grouping("instance", "c").unwrap().push(&bad).unwrap_err();
    assert!(matches!(err.kind(), ember_client::ErrorKind::HttpStatus { status: 400, .. }), "{err}");
}
