//! One HTTP(S) scrape: request with negotiation and credentials, bounded body read.

use std::time::Duration;

use ember_exposition::format::{self, Format, scrape_accept_header};
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, USER_AGENT};

use super::{ScrapeError, ScrapeErrorKind};
use crate::config::{self, ScrapeConfig};
use crate::discovery::http::HttpClient;

/// The `User-Agent` of scrapes.
const AGENT: &str = concat!("Ember/", env!("CARGO_PKG_VERSION"));

/// The HTTP side of a job's scrapes: one connection-pooling client with the job's
/// `<http_config>` (basic auth, authorization/bearer token and its file, TLS CA, client
/// certificate, `server_name`, `insecure_skip_verify`, proxy, headers), its `Accept` header
/// from `scrape_protocols`, compression and body size limit.
#[derive(Debug, Clone)]
pub struct ScrapeClient {
    http: HttpClient,
    accept: String,
    compression: bool,
    body_size_limit: u64,
    fallback: Option<Format>,
}

/// A fetched body and the format to read it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeResponse {
    /// The format from the response's `Content-Type` (or the fallback).
    pub format: Format,
    /// Bytes of the uncompressed body.
    pub len: usize,
}

fn protocol(p: config::ScrapeProtocol) -> format::ScrapeProtocol {
    use config::ScrapeProtocol as C;
    use format::ScrapeProtocol as F;
    match p {
        C::PrometheusProto => F::PrometheusProto,
        C::OpenMetricsText0_0_1 => F::OpenMetricsText001,
        C::OpenMetricsText1_0_0 => F::OpenMetricsText100,
        C::PrometheusText0_0_4 => F::PrometheusText004,
        C::PrometheusText1_0_0 => F::PrometheusText100,
    }
}

fn protocol_format(p: config::ScrapeProtocol) -> Format {
    use config::ScrapeProtocol as C;
    match p {
        C::PrometheusProto => Format::Protobuf,
        C::OpenMetricsText0_0_1 => Format::OpenMetrics001,
        C::OpenMetricsText1_0_0 => Format::OpenMetrics100,
        C::PrometheusText0_0_4 | C::PrometheusText1_0_0 => Format::Text004,
    }
}

impl ScrapeClient {
    /// The client of `cfg`'s job.
    pub fn new(cfg: &ScrapeConfig) -> Result<Self, ScrapeError> {
        let http =
            HttpClient::new(&cfg.http_client_config()).map_err(|m| ScrapeError::new(ScrapeErrorKind::Client(m)))?;
        let protocols: Vec<_> = match &cfg.scrape_protocols {
            Some(p) => p.iter().copied().map(protocol).collect(),
            None => config::ScrapeProtocol::defaults(cfg.scrape_native_histograms.unwrap_or(false))
                .into_iter()
                .map(protocol)
                .collect(),
        };
        Ok(ScrapeClient {
            http,
            accept: scrape_accept_header(&protocols),
            compression: cfg.enable_compression,
            body_size_limit: cfg.body_size_limit.0,
            fallback: cfg.fallback_scrape_protocol.map(protocol_format),
        })
    }

    /// The `Accept` header sent.
    pub fn accept_header(&self) -> &str {
        &self.accept
    }

    /// Scrapes `url` into `body` (cleared first) within `timeout`.
    pub async fn scrape(
        &self,
        url: &str,
        timeout: Duration,
        body: &mut Vec<u8>,
    ) -> Result<ScrapeResponse, ScrapeError> {
        body.clear();
        match tokio::time::timeout(timeout, self.fetch(url, timeout, body)).await {
            Ok(r) => r,
            Err(_) => Err(ScrapeError::new(ScrapeErrorKind::Timeout(timeout))),
        }
    }

    async fn fetch(&self, url: &str, timeout: Duration, body: &mut Vec<u8>) -> Result<ScrapeResponse, ScrapeError> {
        let http = |e: reqwest::Error| ScrapeError::new(ScrapeErrorKind::Http(e.without_url().to_string()));
        let mut req = self
            .http
            .get(url)
            .map_err(|m| ScrapeError::new(ScrapeErrorKind::Client(m)))?
            .header(ACCEPT, self.accept.as_str())
            .header(USER_AGENT, AGENT)
            .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{}", timeout.as_secs_f64()));
        if !self.compression {
            req = req.header(ACCEPT_ENCODING, "identity");
        }
        let mut resp = req.send().await.map_err(http)?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(ScrapeError::new(ScrapeErrorKind::Status(resp.status().as_u16())));
        }
        let content_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let format = Format::from_content_type(&content_type)
            .or(self.fallback)
            .ok_or_else(|| ScrapeError::new(ScrapeErrorKind::UnsupportedContentType(content_type)))?;
        let limit = self.body_size_limit;
        if limit > 0
            && let Some(len) = resp.content_length()
            && resp.headers().get(reqwest::header::CONTENT_ENCODING).is_none()
            && len > limit
        {
            return Err(ScrapeError::new(ScrapeErrorKind::BodySizeLimit(limit)));
        }
        if let Some(len) = resp.content_length() {
            body.reserve(len.min(64 << 20) as usize);
        }
        while let Some(chunk) = resp.chunk().await.map_err(http)? {
            if limit > 0 && (body.len() + chunk.len()) as u64 > limit {
                return Err(ScrapeError::new(ScrapeErrorKind::BodySizeLimit(limit)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(ScrapeResponse { format, len: body.len() })
    }
}
