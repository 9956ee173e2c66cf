//! `http_sd_configs`: target groups fetched as JSON from an HTTP endpoint, and the HTTP client
//! built from `<http_config>` that HTTP SD, Kubernetes SD (and the scrape loop) share.
//!
//! The client is `reqwest` with rustls (no OpenSSL). Credentials given as files are read when
//! each request is made, so rotated tokens are picked up.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};

use super::{BoxFuture, Discoverer, DiscoveryError, DiscoveryErrorKind, Sink, parse_static_configs, static_group};
use crate::config::{HttpClientConfig, HttpSdConfig};
use crate::target::TargetGroup;

/// The `__meta_url` label.
pub const URL_LABEL: &str = "__meta_url";

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).map_err(|e| format!("{path}: {e}"))
}

/// An HTTP client configured from `<http_config>`, adding authentication per request.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    cfg: HttpClientConfig,
}

impl HttpClient {
    /// Builds the client: TLS roots and client certificate, redirects, proxy.
    pub fn new(cfg: &HttpClientConfig) -> Result<Self, String> {
        let tls = &cfg.tls_config;
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(if cfg.follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            })
            .danger_accept_invalid_certs(tls.insecure_skip_verify);
        if !cfg.enable_http2 {
            b = b.http1_only();
        }
        let ca = match (&tls.ca, &tls.ca_file) {
            (Some(c), _) => Some(c.clone().into_bytes()),
            (None, Some(f)) => Some(std::fs::read(f).map_err(|e| format!("ca_file {f}: {e}"))?),
            _ => None,
        };
        if let Some(pem) = ca {
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("CA certificate: {e}"))? {
                b = b.add_root_certificate(cert);
            }
        }
        let cert = match (&tls.cert, &tls.cert_file) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(f)) => Some(read(f)?),
            _ => None,
        };
        let key = match (&tls.key, &tls.key_file) {
            (Some(k), _) => Some(k.clone()),
            (None, Some(f)) => Some(read(f)?),
            _ => None,
        };
        if let (Some(cert), Some(key)) = (cert, key) {
            let pem = format!("{cert}\n{key}\n");
            b = b
                .identity(reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| format!("client certificate: {e}"))?);
        }
        if let Some(p) = &cfg.proxy_url {
            b = b.proxy(reqwest::Proxy::all(p).map_err(|e| format!("proxy_url: {e}"))?);
        } else if !cfg.proxy_from_environment {
            b = b.no_proxy();
        }
        let client = b.build().map_err(|e| e.to_string())?;
        Ok(HttpClient { client, cfg: cfg.clone() })
    }

    /// A GET request for `url` with the configured authentication and headers.
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        let mut r = self.client.get(url);
        if let Some(a) = &self.cfg.authorization {
            let creds = match (&a.credentials, &a.credentials_file) {
                (Some(c), _) => c.clone(),
                (None, Some(f)) => read(f)?,
                _ => String::new(),
            };
            let v = HeaderValue::from_str(&format!("{} {creds}", a.scheme())).map_err(|e| e.to_string())?;
            r = r.header(AUTHORIZATION, v);
        }
        if let Some(b) = &self.cfg.basic_auth {
            let user = match (&b.username, &b.username_file) {
                (Some(u), _) => u.clone(),
                (None, Some(f)) => read(f)?,
                _ => String::new(),
            };
            let pass = match (&b.password, &b.password_file) {
                (Some(p), _) => Some(p.clone()),
                (None, Some(f)) => Some(read(f)?),
                _ => None,
            };
            r = r.basic_auth(user, pass);
        }
        for (name, h) in &self.cfg.http_headers {
            let mut values = h.values.iter().chain(&h.secrets).cloned().collect::<Vec<_>>();
            for f in &h.files {
                values.push(read(f)?);
            }
            for v in values {
                r = r.header(name.as_str(), v);
            }
        }
        if let Some(sn) = &self.cfg.tls_config.server_name {
            // reqwest has no per-request SNI override; the Host header is the closest match.
            r = r.header(reqwest::header::HOST, sn.as_str());
        }
        Ok(r)
    }
}

/// An HTTP SD provider.
#[derive(Debug, Clone)]
pub struct HttpDiscovery {
    url: String,
    refresh: Duration,
    client: HttpClient,
}

impl HttpDiscovery {
    /// A provider for `cfg`.
    pub fn new(cfg: &HttpSdConfig) -> Result<Self, DiscoveryError> {
        let client = HttpClient::new(&cfg.http_client_config())
            .map_err(|m| DiscoveryError { source: cfg.url.clone(), kind: DiscoveryErrorKind::Http(m) })?;
        Ok(HttpDiscovery { url: cfg.url.clone(), refresh: cfg.refresh_interval.get(), client })
    }

    /// Fetches the endpoint once.
    pub async fn refresh(&self) -> Result<Vec<TargetGroup>, DiscoveryError> {
        let err = |kind| DiscoveryError { source: self.url.clone(), kind };
        let resp = self
            .client
            .get(&self.url)
            .map_err(|m| err(DiscoveryErrorKind::Http(m)))?
            .header("X-Prometheus-Refresh-Interval-Seconds", self.refresh.as_secs_f64().to_string())
            .send()
            .await
            .map_err(|e| err(DiscoveryErrorKind::Http(e.to_string())))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(err(DiscoveryErrorKind::Http(format!("server returned HTTP status {}", resp.status()))));
        }
        let ct = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media = ct.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/json") {
            return Err(err(DiscoveryErrorKind::Http(format!("unsupported content type {ct:?}"))));
        }
        let body = resp.bytes().await.map_err(|e| err(DiscoveryErrorKind::Http(e.to_string())))?;
        let configs = parse_static_configs(&body, true).map_err(|m| err(DiscoveryErrorKind::Decode(m)))?;
        Ok(configs
            .iter()
            .enumerate()
            .map(|(i, c)| static_group(c, format!("{}:{i}", self.url), [(URL_LABEL, self.url.as_str())]))
            .collect())
    }
}

impl Discoverer for HttpDiscovery {
    fn run(self: Box<Self>, sink: Sink) -> BoxFuture {
        Box::pin(async move {
            let mut last: Option<Vec<TargetGroup>> = None;
            let mut failed = false;
            loop {
                let ok = match self.refresh().await {
                    Ok(g) if !failed && last.as_ref() == Some(&g) => true,
                    Ok(g) => {
                        failed = false;
                        last = Some(g.clone());
                        sink.groups(g).await
                    }
                    Err(e) => {
                        failed = true;
                        sink.error(e).await
                    }
                };
                if !ok {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.refresh) => {}
                    _ = sink.tx.closed() => return,
                }
            }
        })
    }
}
