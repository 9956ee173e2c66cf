//! A blocking Pushgateway client on `std::net` (feature `push`).
//!
//! [`Pusher::push`] replaces the group's metrics (`PUT`), [`Pusher::push_add`] replaces only
//! the families it sends (`POST`), [`Pusher::delete`] removes the group (`DELETE`). The group
//! is the job plus a grouping key; a value containing `/` (or an empty one) travels as
//! `name@base64/<base64url>`, as the Pushgateway documents. Only plain `http://` URLs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::encode::TextFormat;
use crate::error::{ErrorKind, Result};
use crate::registry::Registry;

/// Pushes a registry to a Pushgateway under a job and grouping key.
#[derive(Debug, Clone)]
pub struct Pusher {
    host: String,
    port: u16,
    base_path: String,
    job: String,
    grouping: Vec<(String, String)>,
    authorization: Option<String>,
    timeout: Duration,
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with `=` padding over `alphabet`.
fn base64(input: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn escape_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/name/value`, or `/name@base64/<value>` when the value has a `/` or is empty.
fn path_pair(name: &str, value: &str) -> String {
    if value.is_empty() {
        format!("/{name}@base64/=")
    } else if value.contains('/') {
        format!("/{name}@base64/{}", base64(value.as_bytes(), URL))
    } else {
        format!("/{name}/{}", escape_segment(value))
    }
}

impl Pusher {
    /// A pusher to the Pushgateway at `url` (`http://host[:port][/prefix]`) for `job`.
    pub fn new(url: &str, job: &str) -> Result<Self> {
        let bad = || ErrorKind::InvalidUrl(url.to_string());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) =
            rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, String::new()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h.to_string(), p.parse::<u16>().map_err(|_| bad())?)
            }
            _ => (authority.to_string(), 80),
        };
        if host.is_empty() || job.is_empty() {
            return Err(bad().into());
        }
        Ok(Pusher {
            host,
            port,
            base_path: path.trim_end_matches('/').to_string(),
            job: job.to_string(),
            grouping: Vec::new(),
            authorization: None,
            timeout: Duration::from_secs(10),
        })
    }

    /// Adds a grouping key label (e.g. `instance`).
    pub fn grouping(mut self, name: &str, value: &str) -> Result<Self> {
        crate::error::check_label_names(&[name])?;
        self.grouping.push((name.to_string(), value.to_string()));
        Ok(self)
    }

    /// Sends HTTP basic authentication.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.authorization = Some(format!("Basic {}", base64(format!("{user}:{password}").as_bytes(), STD)));
        self
    }

    /// The timeout for connecting, sending and reading the answer (default 10 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The request path of the group.
    pub fn group_path(&self) -> String {
        let mut p = format!("{}/metrics", self.base_path);
        p.push_str(&path_pair("job", &self.job));
        for (n, v) in &self.grouping {
            p.push_str(&path_pair(n, v));
        }
        p
    }

    /// Replaces every metric of the group with the registry's (`PUT`).
    pub fn push(&self, registry: &Registry) -> Result<()> {
        self.request("PUT", Some(registry.encode(TextFormat::Text)))
    }

    /// Replaces only the families the registry has (`POST`).
    pub fn push_add(&self, registry: &Registry) -> Result<()> {
        self.request("POST", Some(registry.encode(TextFormat::Text)))
    }

    /// Deletes the group (`DELETE`).
    pub fn delete(&self) -> Result<()> {
        self.request("DELETE", None)
    }

    fn request(&self, method: &str, body: Option<String>) -> Result<()> {
        let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(self.host.trim_matches(['[', ']']), self.port))?;
        let mut last = None;
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let mut stream = match (stream, last) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(e.into()),
            (None, None) => return Err(ErrorKind::Io(format!("{} resolves to no address", self.host)).into()),
        };
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let body = body.unwrap_or_default();
        let mut req = format!(
            "{method} {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: ember-client\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.group_path(),
            self.host,
            self.port,
            body.len()
        );
        if !body.is_empty() {
            req.push_str("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
        }
        if let Some(a) = &self.authorization {
            req.push_str(&format!("Authorization: {a}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        stream.flush()?;
        let mut resp = Vec::new();
        stream.read_to_end(&mut resp)?;
        let resp = String::from_utf8_lossy(&resp);
        let status = resp
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| ErrorKind::Io(format!("malformed HTTP response: {:?}", resp.lines().next())))?;
        if (200..300).contains(&status) {
            return Ok(());
        }
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        Err(ErrorKind::HttpStatus { status, body: body.chars().take(1024).collect() }.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_answers() {
        #[track_caller]
        fn check(input: &str, want: &str) {
            assert_eq!(base64(input.as_bytes(), STD), want);
        }
        check("", "");
        check("f", "Zg==");
        check("fo", "Zm8=");
        check("foo", "Zm9v");
        check("foob", "Zm9vYg==");
        check("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(base64(b"\xfb\xff", URL), "-_8=");
    }

    #[test]
    fn group_paths() {
        let p = Pusher::new("http://localhost:9091/", "batch").unwrap().grouping("instance", "a/b").unwrap();
        assert_eq!(p.group_path(), "/metrics/job/batch/instance@base64/YS9i");
        let p = Pusher::new("http://gw/prefix", "a b").unwrap().grouping("x", "").unwrap();
        assert_eq!(p.group_path(), "/prefix/metrics/job/a%20b/x@base64/=");
        assert!(Pusher::new("https://gw", "j").is_err());
        assert!(Pusher::new("http://gw:notaport", "j").is_err());
        assert!(Pusher::new("http://gw", "j").unwrap().grouping("bad-name", "v").is_err());
    }

    #[test]
    fn sends_basic_auth_and_reports_status() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope").unwrap();
            String::from_utf8(got).unwrap()
        });
        let err = Pusher::new(&format!("http://127.0.0.1:{port}"), "j")
            .unwrap()
            .basic_auth("Aladdin", "open sesame")
            .delete();
        let req = server.join().unwrap();
        assert!(req.starts_with("DELETE /metrics/job/j HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"), "{req}");
        assert_eq!(err.unwrap_err().kind(), &ErrorKind::HttpStatus { status: 401, body: "nope".into() });
    }
}
