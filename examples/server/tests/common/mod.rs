//! The harness shared by the end-to-end tests that start the `ember` binary: start it on
//! 127.0.0.1 with an ephemeral port, send raw HTTP/1.1 requests, poll.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running server, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "clean exit on SIGTERM: {status}");
    }
}

/// Starts `ember` with its data under `dir` and the extra flags.
pub fn start(extra: &[&str], dir: &Path) -> Server {
    let data = dir.join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .arg("--web.listen-address=127.0.0.1:0")
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start ember");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        assert!(Instant::now() < deadline, "ember did not report its address");
        let line = lines.next().expect("ember exited before listening").unwrap();
        if let Some(a) = line.strip_prefix("ember: listening on http://") {
            break a.to_owned();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

/// A response: status, headers (names lower-cased) and body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request with the given extra headers.
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Resp { status, headers, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// A request with a body of the given content type; returns (status, body).
pub fn http(addr: &str, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
    let r = request(addr, method, path, &[("Content-Type", content_type)], body);
    (r.status, r.body)
}

/// A GET; returns (status, body).
pub fn get(addr: &str, path: &str) -> (u16, String) {
    let r = request(addr, "GET", path, &[], "");
    (r.status, r.body)
}

/// A form POST (or PUT); returns (status, body).
pub fn form(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let r = request(addr, method, path, &[("Content-Type", "application/x-www-form-urlencoded")], body);
    (r.status, r.body)
}

/// Polls `f` until it returns true or `secs` pass.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Writes `text` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A webhook receiver on 127.0.0.1 answering 200 and keeping the JSON bodies it gets
/// (and each request's head: request line and headers).
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (b, h) = (bodies.clone(), heads.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { return };
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut tmp = [0u8; 8192];
                let mut req_head = String::new();
                let body = loop {
                    let Ok(n) = c.read(&mut tmp) else { break None };
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    req_head = String::from_utf8_lossy(&buf[..i]).into_owned();
                    let head = req_head.to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= i + 4 + len {
                        break Some(buf[i + 4..i + 4 + len].to_vec());
                    }
                };
                if let Some(body) = body {
                    h.lock().unwrap().push(req_head);
                    if let Ok(v) = serde_json::from_slice(&body) {
                        b.lock().unwrap().push(v);
                    }
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                }
            }
        });
        Webhook { url, bodies, heads }
    }

    /// `host:port` of the listener.
    pub fn addr(&self) -> &str {
        let rest = self.url.strip_prefix("http://").unwrap();
        &rest[..rest.find('/').unwrap()]
    }

    /// The heads (request line and headers) of the requests received so far, emptying the list.
    pub fn take_heads(&self) -> Vec<String> {
        std::mem::take(&mut *self.heads.lock().unwrap())
    }

    /// The bodies received so far, emptying the list.
    pub fn take(&self) -> Vec<serde_json::Value> {
        std::mem::take(&mut *self.bodies.lock().unwrap())
    }
}
