//! A minimal blocking `/metrics` endpoint on `std::net` (feature `http-server`), for
//! applications without a web framework.
//!
//! One thread accepts connections and answers them one at a time: `GET` or `HEAD` of the
//! metrics path gets the registry in the format the `Accept` header asks for, anything
//! else a 404 or 405. Requests are read with a timeout and a size cap, so a slow or hostile
//! client cannot hold the endpoint for long.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::Result;
use crate::registry::Registry;

const MAX_REQUEST: usize = 16 * 1024;

/// A running `/metrics` endpoint; see [`serve`].
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    handle: JoinHandle<()>,
}

impl MetricsServer {
    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until the server thread ends (it runs until the process exits).
    pub fn join(self) {
        let _ = self.handle.join();
    }
}

/// Binds `addr` and serves `registry` at `path` (e.g. `/metrics`) on a background thread.
pub fn serve(addr: impl ToSocketAddrs, path: &str, registry: Registry) -> Result<MetricsServer> {
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let path = path.to_string();
    let handle = std::thread::Builder::new().name("ember-metrics-http".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            // A failed connection concerns that client only.
            let _ = handle(stream, &path, &registry);
        }
    })?;
    Ok(MetricsServer { addr, handle })
}

fn handle(mut stream: TcpStream, path: &str, registry: &Registry) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_REQUEST {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"request too large\n",
                true,
            );
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let mut request = lines.next().unwrap_or("").split(' ');
    let (method, target) = (request.next().unwrap_or(""), request.next().unwrap_or(""));
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let target_path = target.split('?').next().unwrap_or("");
    if target_path != path {
        return respond(&mut stream, "404 Not Found", "text/plain", b"not found\n", true);
    }
    if method != "GET" && method != "HEAD" {
        return respond(&mut stream, "405 Method Not Allowed", "text/plain", b"method not allowed\n", true);
    }
    match registry.scrape(&accept) {
        Ok(s) => respond(&mut stream, "200 OK", s.content_type(), &s.body, method == "GET"),
        Err(e) => respond(&mut stream, "500 Internal Server Error", "text/plain", e.to_string().as_bytes(), true),
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Counter;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_the_negotiated_format() {
        let reg = Registry::new();
        let c = Counter::<u64>::new();
        reg.register("hits", "Hits.", c.clone()).unwrap();
        c.inc();
        let srv = serve("127.0.0.1:0", "/metrics", reg).unwrap();
        let text = get(srv.local_addr(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "{text}");
        assert!(text.ends_with("hits_total 1\n"), "{text}");
        let om = get(
            srv.local_addr(),
            "GET /metrics HTTP/1.1\r\nhost: x\r\naccept: application/openmetrics-text;version=1.0.0\r\n\r\n",
        );
        assert!(om.contains("application/openmetrics-text; version=1.0.0"), "{om}");
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(get(srv.local_addr(), "GET /other HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(srv.local_addr(), "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    }
}
