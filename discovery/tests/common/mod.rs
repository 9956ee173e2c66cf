//! Test servers on 127.0.0.1: a tiny HTTP/1.1 server for HTTP SD and the Kubernetes API
//! stand-in.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A canned response.
pub struct Resp {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Keep the connection open after the body (a watch that has nothing more to say).
    pub keep_open: bool,
    /// Wait this long before sending anything.
    pub delay: Duration,
}

impl Resp {
    pub fn json(body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status: 200,
            content_type: "application/json",
            body: body.into(),
            keep_open: false,
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16, body: &str) -> Resp {
        Resp {
            status,
            content_type: "text/plain",
            body: body.as_bytes().to_vec(),
            keep_open: false,
            delay: Duration::ZERO,
        }
    }
}

/// One request as seen by the server: the request target and lower-cased headers.
#[derive(Debug, Clone)]
pub struct Req {
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Req {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self, key: &str) -> Option<String> {
        let q = self.target.split_once('?')?.1;
        q.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| decode(v))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves `handler` on 127.0.0.1; returns the address and the log of requests.
pub async fn serve<F>(handler: F) -> (SocketAddr, Arc<Mutex<Vec<Req>>>)
where
    F: Fn(&Req) -> Resp + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let handler = Arc::new(handler);
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let handler = handler.clone();
            let log = log2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let mut lines = head.split("\r\n");
                let target = lines.next().unwrap_or("").split(' ').nth(1).unwrap_or("").to_string();
                let headers = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let req = Req { target, headers };
                log.lock().unwrap().push(req.clone());
                let resp = handler(&req);
                tokio::time::sleep(resp.delay).await;
                let head = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: {}\r\nConnection: close\r\n\r\n",
                    resp.status, resp.content_type
                );
                if sock.write_all(head.as_bytes()).await.is_err() || sock.write_all(&resp.body).await.is_err() {
                    return;
                }
                let _ = sock.flush().await;
                if resp.keep_open {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, log)
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let d = std::env::temp_dir().join(format!("ember-discovery-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Waits up to 10s for the next event.
pub async fn next_event(
    rx: &mut tokio::sync::mpsc::Receiver<ember_discovery::discovery::Event>,
) -> ember_discovery::discovery::Event {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no event within 10s")
        .expect("provider ended")
}
