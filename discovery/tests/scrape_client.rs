//! The HTTP side of a scrape against a raw server on 127.0.0.1: negotiation, credentials,
//! gzip, and the limits and failures that make a scrape fail.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ember_discovery::config::Config;
use ember_discovery::scrape::{ScrapeClient, ScrapeErrorKind};
use ember_exposition::format::Format;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `reply` (status line and headers, then body) to every request; returns the base
/// URL and the request heads seen.
async fn raw_server(headers: String, body: Vec<u8>, delay: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let (headers, body, seen) = (headers.clone(), body.clone(), Arc::clone(&seen2));
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                seen.lock().unwrap().push(String::from_utf8_lossy(&buf).to_lowercase());
                tokio::time::sleep(delay).await;
                let head = format!("{headers}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (url, seen)
}

fn client(extra: &str) -> ScrapeClient {
    let yaml = format!("scrape_configs:\n  - job_name: t\n{extra}");
    let cfg = Config::from_yaml(&yaml).unwrap();
    ScrapeClient::new(&cfg.scrape_configs[0]).unwrap()
}

const TEXT: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n";

#[tokio::test]
async fn negotiation_auth_and_gzip() {
    let dir = std::env::temp_dir().join(format!("ember-scrape-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "s3cr3t\n").unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"a 1\n").unwrap();
    let gz = gz.finish().unwrap();
    let (url, seen) = raw_server(format!("{TEXT}Content-Encoding: gzip\r\n"), gz, Duration::ZERO).await;

    let c = client(&format!(
        "    scrape_protocols: [PrometheusProto, PrometheusText0.0.4]\n    authorization:\n      credentials_file: {}\n",
        token.display()
    ));
    let mut body = Vec::new();
    let r = c.scrape(&url, Duration::from_secs(10), &mut body).await.unwrap();
    assert_eq!((r.format, body.as_slice()), (Format::Text004, b"a 1\n".as_slice()));
    let req = seen.lock().unwrap().pop().unwrap();
    assert!(req.contains("authorization: bearer s3cr3t\r\n"), "{req}");
    assert!(req.contains("accept: application/vnd.google.protobuf;proto=io.prometheus.client.metricfamily;encoding=delimited;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4"), "{req}");
    assert!(req.contains("accept-encoding: gzip"), "{req}");
    assert!(req.contains("x-prometheus-scrape-timeout-seconds: 10"), "{req}");

    // The token file is read on every scrape.
    std::fs::write(&token, "rotated").unwrap();
    c.scrape(&url, Duration::from_secs(10), &mut body).await.unwrap();
    assert!(seen.lock().unwrap().pop().unwrap().contains("authorization: bearer rotated\r\n"));

    let c = client("    enable_compression: false\n    basic_auth: {username: u, password: p}\n");
    let (url, seen) = raw_server(TEXT.into(), b"a 1\n".to_vec(), Duration::ZERO).await;
    c.scrape(&url, Duration::from_secs(10), &mut body).await.unwrap();
    let req = seen.lock().unwrap().pop().unwrap();
    assert!(req.contains("authorization: basic dtpw\r\n"), "{req}");
    assert!(req.contains("accept-encoding: identity"), "{req}");
    let _ = std::fs::remove_dir_all(dir);
}

#[track_caller]
fn check(kind: &ScrapeErrorKind, want: &str) {
    let got = ember_discovery::scrape::ScrapeError::new(kind.clone()).to_string();
    assert!(got.contains(want), "{got:?} does not contain {want:?}");
}

#[tokio::test]
async fn failures() {
    let mut body = Vec::new();
    let ten = Duration::from_secs(10);
    // Over the body size limit, with and without Content-Length known up front.
    let c = client("    body_size_limit: 10B\n");
    let (url, _) = raw_server(TEXT.into(), vec![b'#'; 11], Duration::ZERO).await;
    let e = c.scrape(&url, ten, &mut body).await.unwrap_err();
    assert_eq!(e.kind, ScrapeErrorKind::BodySizeLimit(10));
    check(&e.kind, "body size limit exceeded");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&[b'#'; 1000]).unwrap();
    let (url, _) = raw_server(format!("{TEXT}Content-Encoding: gzip\r\n"), gz.finish().unwrap(), Duration::ZERO).await;
    assert_eq!(c.scrape(&url, ten, &mut body).await.unwrap_err().kind, ScrapeErrorKind::BodySizeLimit(10));

    let c = client("");
    let (url, _) = raw_server("HTTP/1.1 503 Busy\r\n".into(), Vec::new(), Duration::ZERO).await;
    assert_eq!(c.scrape(&url, ten, &mut body).await.unwrap_err().kind, ScrapeErrorKind::Status(503));

    let (url, _) =
        raw_server("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n".into(), b"<p>".to_vec(), Duration::ZERO).await;
    let e = c.scrape(&url, ten, &mut body).await.unwrap_err();
    check(&e.kind, "unsupported Content-Type \"text/html\"");
    let fallback = client("    fallback_scrape_protocol: PrometheusText0.0.4\n");
    assert_eq!(fallback.scrape(&url, ten, &mut body).await.unwrap().format, Format::Text004);

    let (url, _) = raw_server(TEXT.into(), b"a 1\n".to_vec(), Duration::from_secs(5)).await;
    let e = c.scrape(&url, Duration::from_millis(200), &mut body).await.unwrap_err();
    assert_eq!(e.kind, ScrapeErrorKind::Timeout(Duration::from_millis(200)));
}
