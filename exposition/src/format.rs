//! Content negotiation: which exposition format a server answers with, and what a scraper
//! asks for and how it reads the answer.
//!
//! The strings are the ones the Prometheus ecosystem puts on the wire: [`Format::content_type`]
//! gives client_golang's Content-Type values, [`negotiate`] picks a format from an `Accept`
//! header as client_golang's `expfmt` negotiation does, and [`scrape_accept_header`] builds
//! the `Accept` header Prometheus 3 sends for its `scrape_protocols`.
//!
//! ```
//! use ember_exposition::format::{negotiate, scrape_accept_header, Format, ScrapeProtocol};
//!
//! let accept = scrape_accept_header(&ScrapeProtocol::DEFAULT);
//! assert_eq!(
//!     accept,
//!     "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
//!      application/openmetrics-text;version=0.0.1;q=0.5,\
//!      text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
//!      text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
//! );
//! assert_eq!(negotiate(&accept), Format::OpenMetrics100);
//! // Anything else, including no Accept header at all, gets the text format 0.0.4.
//! assert_eq!(negotiate(""), Format::Text004);
//! assert_eq!(Format::Text004.content_type(), "text/plain; version=0.0.4; charset=utf-8");
//! ```

use std::fmt;
use std::str::FromStr;

/// An exposition format a server can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format 0.0.4, the default.
    Text004,
    /// OpenMetrics text 0.0.1 (what a request without a version gets).
    OpenMetrics001,
    /// OpenMetrics text 1.0.0.
    OpenMetrics100,
    /// Length-delimited `io.prometheus.client.MetricFamily` protobuf messages.
    Protobuf,
}

const PROTO_TYPE: &str = "application/vnd.google.protobuf";
const PROTO_PROTOCOL: &str = "io.prometheus.client.MetricFamily";
const OPENMETRICS_TYPE: &str = "application/openmetrics-text";

impl Format {
    /// Every format.
    pub const ALL: [Format; 4] = [Format::Text004, Format::OpenMetrics001, Format::OpenMetrics100, Format::Protobuf];

    /// The Content-Type a server sends for this format (client_golang's strings, without
    /// an `escaping` parameter; see [`Negotiated::content_type`]).
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics001 => "application/openmetrics-text; version=0.0.1; charset=utf-8",
            Format::OpenMetrics100 => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }

    /// Whether this is one of the OpenMetrics text formats.
    pub fn is_openmetrics(self) -> bool {
        matches!(self, Format::OpenMetrics001 | Format::OpenMetrics100)
    }

    /// How a scraper reads a response's Content-Type, as Prometheus does: the media type
    /// decides. Any `text/plain` is the text format; `application/openmetrics-text` is
    /// OpenMetrics 0.0.1 when its version is `0.0.1` or missing, else 1.0.0; protobuf is
    /// accepted unless its `proto` or `encoding` parameter names something else. `None`
    /// for anything else (the caller applies its `fallback_scrape_protocol`).
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let m = MediaRange::parse(content_type)?;
        match m.essence.as_str() {
            "text/plain" => Some(Format::Text004),
            OPENMETRICS_TYPE => match m.param("version") {
                None | Some("0.0.1") => Some(Format::OpenMetrics001),
                Some(_) => Some(Format::OpenMetrics100),
            },
            PROTO_TYPE => {
                let ok = m.param("proto").is_none_or(|p| p == PROTO_PROTOCOL)
                    && m.param("encoding").is_none_or(|e| e == "delimited");
                ok.then_some(Format::Protobuf)
            }
            _ => None,
        }
    }

    /// Whether one `Accept` media range asks for this format.
    fn accepted_by(self, m: &MediaRange) -> bool {
        let version = m.param("version");
        match self {
            // Wildcards get the default format only: OpenMetrics and protobuf must be asked for.
            Format::Text004 => {
                matches!(m.essence.as_str(), "*/*" | "text/*")
                    || m.essence == "text/plain" && matches!(version, None | Some("0.0.4"))
            }
            Format::OpenMetrics001 => m.essence == OPENMETRICS_TYPE && matches!(version, None | Some("0.0.1")),
            Format::OpenMetrics100 => m.essence == OPENMETRICS_TYPE && version == Some("1.0.0"),
            Format::Protobuf => {
                m.essence == PROTO_TYPE
                    && m.param("proto") == Some(PROTO_PROTOCOL)
                    && m.param("encoding") == Some("delimited")
            }
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.content_type())
    }
}

/// How names outside the legacy character set are to be escaped (the `escaping` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EscapingScheme {
    /// `allow-utf-8`: names are sent as they are (quoted where needed).
    AllowUtf8,
    /// `underscores`: every invalid character becomes `_`.
    Underscores,
    /// `dots`: `.` becomes `_dot_`, `_` becomes `__`, others `_`.
    Dots,
    /// `values`: `U__` prefix and invalid characters as `_<hex>_`.
    Values,
}

impl EscapingScheme {
    /// The parameter value.
    pub const fn as_str(self) -> &'static str {
        match self {
            EscapingScheme::AllowUtf8 => "allow-utf-8",
            EscapingScheme::Underscores => "underscores",
            EscapingScheme::Dots => "dots",
            EscapingScheme::Values => "values",
        }
    }
}

impl fmt::Display for EscapingScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `escaping` value that is not a known scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEscapingScheme(pub String);

impl fmt::Display for UnknownEscapingScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown escaping scheme {:?}", self.0)
    }
}

impl std::error::Error for UnknownEscapingScheme {}

impl FromStr for EscapingScheme {
    type Err = UnknownEscapingScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "allow-utf-8" => EscapingScheme::AllowUtf8,
            "underscores" => EscapingScheme::Underscores,
            "dots" => EscapingScheme::Dots,
            "values" => EscapingScheme::Values,
            other => return Err(UnknownEscapingScheme(other.to_string())),
        })
    }
}

/// The outcome of [`negotiate_offered`]: a format and the escaping the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Negotiated {
    /// The format to answer with.
    pub format: Format,
    /// The last known `escaping` parameter seen on the `Accept` entries considered up to and
    /// including the chosen one (as client_golang reads it), if any.
    pub escaping: Option<EscapingScheme>,
}

impl Negotiated {
    /// The Content-Type to send: the format's, plus `; escaping=…` when one was asked for.
    /// (client_golang always appends its process-wide default; Ember leaves the parameter
    /// out when the client did not ask, and the caller escapes names as it sees fit.)
    pub fn content_type(&self) -> String {
        match self.escaping {
            Some(e) => format!("{}; escaping={}", self.format.content_type(), e),
            None => self.format.content_type().to_string(),
        }
    }
}

/// The format a server offering every [`Format`] answers an `Accept` header with.
///
/// Entries are tried in order of decreasing `q` (ties keep their order, specific ranges
/// before wildcards; `q=0` means "not acceptable" and is skipped). OpenMetrics is chosen
/// only when asked for by media type, protobuf only with `proto=io.prometheus.client.MetricFamily`
/// and `encoding=delimited`, text for `text/plain` without a version or with `0.0.4` and
/// for wildcards; when nothing matches, the text format 0.0.4.
pub fn negotiate(accept: &str) -> Format {
    negotiate_offered(accept, &Format::ALL).format
}

/// Like [`negotiate`] for a server offering only `offered`; when nothing matches, the
/// text format if offered, else the first offered format (text if none).
pub fn negotiate_offered(accept: &str, offered: &[Format]) -> Negotiated {
    let mut ranges: Vec<(f32, MediaRange)> =
        accept.split(',').filter_map(MediaRange::parse).map(|m| (m.quality(), m)).filter(|(q, _)| *q > 0.0).collect();
    ranges.sort_by(|(qa, a), (qb, b)| qb.total_cmp(qa).then_with(|| a.wildcards().cmp(&b.wildcards())));
    let mut escaping = None;
    for (_, m) in &ranges {
        if let Some(e) = m.param("escaping").and_then(|e| e.parse().ok()) {
            escaping = Some(e);
        }
        if let Some(&format) = offered.iter().find(|f| f.accepted_by(m)) {
            return Negotiated { format, escaping };
        }
    }
    let format = if offered.is_empty() || offered.contains(&Format::Text004) { Format::Text004 } else { offered[0] };
    Negotiated { format, escaping }
}

/// A protocol a scraper can ask for, as named in Prometheus' `scrape_protocols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    /// `PrometheusProto`.
    PrometheusProto,
    /// `OpenMetricsText1.0.0`.
    OpenMetricsText100,
    /// `OpenMetricsText0.0.1`.
    OpenMetricsText001,
    /// `PrometheusText1.0.0`.
    PrometheusText100,
    /// `PrometheusText0.0.4`.
    PrometheusText004,
}

impl ScrapeProtocol {
    /// Every protocol.
    pub const ALL: [ScrapeProtocol; 5] = [
        ScrapeProtocol::PrometheusProto,
        ScrapeProtocol::OpenMetricsText100,
        ScrapeProtocol::OpenMetricsText001,
        ScrapeProtocol::PrometheusText100,
        ScrapeProtocol::PrometheusText004,
    ];

    /// Prometheus 3's default order when `scrape_native_histograms` is false.
    pub const DEFAULT: [ScrapeProtocol; 4] = [
        ScrapeProtocol::OpenMetricsText100,
        ScrapeProtocol::OpenMetricsText001,
        ScrapeProtocol::PrometheusText100,
        ScrapeProtocol::PrometheusText004,
    ];

    /// Prometheus 3's default order when `scrape_native_histograms` is true.
    pub const DEFAULT_PROTO_FIRST: [ScrapeProtocol; 5] = ScrapeProtocol::ALL;

    /// The name used in configuration, e.g. `OpenMetricsText1.0.0`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
            ScrapeProtocol::OpenMetricsText100 => "OpenMetricsText1.0.0",
            ScrapeProtocol::OpenMetricsText001 => "OpenMetricsText0.0.1",
            ScrapeProtocol::PrometheusText100 => "PrometheusText1.0.0",
            ScrapeProtocol::PrometheusText004 => "PrometheusText0.0.4",
        }
    }

    /// The media range this protocol asks for, without weight or escaping.
    pub const fn media_range(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
            ScrapeProtocol::OpenMetricsText100 => "application/openmetrics-text;version=1.0.0",
            ScrapeProtocol::OpenMetricsText001 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::PrometheusText100 => "text/plain;version=1.0.0",
            ScrapeProtocol::PrometheusText004 => "text/plain;version=0.0.4",
        }
    }
}

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a scrape protocol (names are case sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScrapeProtocol(pub String);

impl fmt::Display for UnknownScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown scrape protocol {:?}", self.0)
    }
}

impl std::error::Error for UnknownScrapeProtocol {}

impl FromStr for ScrapeProtocol {
    type Err = UnknownScrapeProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScrapeProtocol::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownScrapeProtocol(s.to_string()))
    }
}

/// The `Accept` header Prometheus 3 sends for `protocols` with UTF-8 names allowed
/// (`escaping=allow-utf-8`, its default).
pub fn scrape_accept_header(protocols: &[ScrapeProtocol]) -> String {
    scrape_accept_header_with_escaping(protocols, EscapingScheme::AllowUtf8)
}

/// The `Accept` header for `protocols` in order of preference: weights `q=0.6` down by
/// `0.1` per protocol, `escaping` on the 1.0.0 text formats only, then `*/*` at the next
/// weight. A protocol listed twice is sent once (Prometheus' configuration refuses
/// duplicates), so the weights stay positive.
pub fn scrape_accept_header_with_escaping(protocols: &[ScrapeProtocol], escaping: EscapingScheme) -> String {
    let mut out = String::with_capacity(64 * (protocols.len() + 1));
    let mut weight = ScrapeProtocol::ALL.len() + 1;
    for (i, p) in protocols.iter().enumerate() {
        if protocols[..i].contains(p) {
            continue;
        }
        out.push_str(p.media_range());
        if matches!(p, ScrapeProtocol::PrometheusText100 | ScrapeProtocol::OpenMetricsText100) {
            out.push_str(";escaping=");
            out.push_str(escaping.as_str());
        }
        out.push_str(&format!(";q=0.{weight},"));
        weight -= 1;
    }
    out.push_str(&format!("*/*;q=0.{weight}"));
    out
}

/// One media range of an `Accept` or `Content-Type` header, with lower-cased type and
/// parameter names and unquoted parameter values.
struct MediaRange {
    essence: String,
    params: Vec<(String, String)>,
}

impl MediaRange {
    fn parse(s: &str) -> Option<MediaRange> {
        let mut parts = s.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        let (ty, sub) = essence.split_once('/')?;
        if ty.is_empty() || sub.is_empty() {
            return None;
        }
        let params = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                let v = v.trim();
                let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
                Some((k.trim().to_ascii_lowercase(), v.to_string()))
            })
            .collect();
        Some(MediaRange { essence, params })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The `q` weight, 1 when absent; an unreadable weight counts as 0 (not acceptable).
    fn quality(&self) -> f32 {
        self.param("q").map_or(1.0, |q| q.parse::<f32>().ok().filter(|q| q.is_finite()).unwrap_or(0.0))
    }

    /// 0 for `type/sub`, 1 for `type/*`, 2 for `*/*`: specific ranges sort first on ties.
    fn wildcards(&self) -> u8 {
        match self.essence.split_once('/') {
            Some(("*", _)) => 2,
            Some((_, "*")) => 1,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROM3_DEFAULT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    const PROM3_PROTO_FIRST: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

    #[track_caller]
    fn check(accept: &str, want: Format, want_content_type: &str) {
        let got = negotiate_offered(accept, &Format::ALL);
        assert_eq!(got.format, want, "Accept: {accept}");
        assert_eq!(negotiate(accept), want, "Accept: {accept}");
        assert_eq!(got.content_type(), want_content_type, "Accept: {accept}");
    }

    #[test]
    fn server_negotiation() {
        const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
        const OM1: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        const OM0: &str = "application/openmetrics-text; version=0.0.1; charset=utf-8";
        const PB: &str = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
        check("", Format::Text004, TEXT);
        check("*/*", Format::Text004, TEXT);
        check("text/*", Format::Text004, TEXT);
        check("application/json", Format::Text004, TEXT);
        check("garbage;;;,", Format::Text004, TEXT);
        check("text/plain", Format::Text004, TEXT);
        check("text/plain;version=0.0.4", Format::Text004, TEXT);
        check("text/plain;version=0.0.2", Format::Text004, TEXT); // no match: default
        check("application/openmetrics-text", Format::OpenMetrics001, OM0);
        check("application/openmetrics-text; version=1.0.0", Format::OpenMetrics100, OM1);
        check("application/openmetrics-text; version=\"1.0.0\"", Format::OpenMetrics100, OM1);
        check("Application/OpenMetrics-Text; Version=1.0.0", Format::OpenMetrics100, OM1);
        check("application/openmetrics-text; version=2.0.0", Format::Text004, TEXT);
        check(PB, Format::Protobuf, PB);
        check(
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
            Format::Text004,
            TEXT,
        );
        check("application/vnd.google.protobuf;encoding=delimited", Format::Text004, TEXT);
        check("application/vnd.google.protobuf", Format::Text004, TEXT);
        // q-values decide, not position; ties keep header order.
        check("text/plain;q=0.5,application/openmetrics-text;version=1.0.0;q=0.9", Format::OpenMetrics100, OM1);
        check("application/openmetrics-text;version=1.0.0,text/plain", Format::OpenMetrics100, OM1);
        check("text/plain,application/openmetrics-text;version=1.0.0", Format::Text004, TEXT);
        check("*/*,application/openmetrics-text;version=1.0.0", Format::OpenMetrics100, OM1); // specific first on ties
        check("application/openmetrics-text;version=1.0.0;q=0,text/plain;q=0.1", Format::Text004, TEXT);
        check("application/openmetrics-text;version=1.0.0;q=bogus,*/*;q=0.1", Format::Text004, TEXT);
        // Prometheus 3's headers, and the escaping they ask for.
        check(PROM3_DEFAULT, Format::OpenMetrics100, &format!("{OM1}; escaping=allow-utf-8"));
        check(PROM3_PROTO_FIRST, Format::Protobuf, PB);
        check(
            "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3",
            Format::Text004,
            &format!("{TEXT}; escaping=allow-utf-8"),
        );
        check("text/plain;escaping=underscores", Format::Text004, &format!("{TEXT}; escaping=underscores"));
        check("text/plain;escaping=bogus", Format::Text004, TEXT);
    }

    #[test]
    fn server_offering_less() {
        let got = negotiate_offered(PROM3_DEFAULT, &[Format::Text004, Format::Protobuf]);
        assert_eq!(got.format, Format::Text004);
        assert_eq!(got.escaping, Some(EscapingScheme::AllowUtf8));
        assert_eq!(negotiate_offered("application/json", &[Format::Protobuf]).format, Format::Protobuf);
        assert_eq!(negotiate_offered("application/json", &[]).format, Format::Text004);
    }

    #[track_caller]
    fn check_ct(content_type: &str, want: Option<Format>) {
        assert_eq!(Format::from_content_type(content_type), want, "Content-Type: {content_type}");
    }

    #[test]
    fn scraper_reads_content_type() {
        for f in Format::ALL {
            check_ct(f.content_type(), Some(f));
            check_ct(&Negotiated { format: f, escaping: Some(EscapingScheme::Underscores) }.content_type(), Some(f));
        }
        check_ct("text/plain", Some(Format::Text004));
        check_ct("text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8", Some(Format::Text004));
        check_ct("TEXT/PLAIN;charset=UTF-8", Some(Format::Text004));
        check_ct("application/openmetrics-text", Some(Format::OpenMetrics001));
        check_ct("application/openmetrics-text;version=1.0.0", Some(Format::OpenMetrics100));
        check_ct("application/vnd.google.protobuf", Some(Format::Protobuf));
        check_ct("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text", None);
        check_ct("application/vnd.google.protobuf; proto=other.Message", None);
        check_ct("application/json", None);
        check_ct("", None);
        check_ct("text", None);
    }

    #[track_caller]
    fn check_accept(protocols: &[ScrapeProtocol], escaping: EscapingScheme, want: &str) {
        assert_eq!(scrape_accept_header_with_escaping(protocols, escaping), want, "{protocols:?}");
    }

    #[test]
    fn scraper_accept_header() {
        check_accept(&ScrapeProtocol::DEFAULT, EscapingScheme::AllowUtf8, PROM3_DEFAULT);
        check_accept(&ScrapeProtocol::DEFAULT_PROTO_FIRST, EscapingScheme::AllowUtf8, PROM3_PROTO_FIRST);
        check_accept(&[], EscapingScheme::AllowUtf8, "*/*;q=0.6");
        check_accept(
            &[ScrapeProtocol::PrometheusText100, ScrapeProtocol::PrometheusText100, ScrapeProtocol::PrometheusText004],
            EscapingScheme::Underscores,
            "text/plain;version=1.0.0;escaping=underscores;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4",
        );
        assert_eq!(scrape_accept_header(&ScrapeProtocol::DEFAULT), PROM3_DEFAULT);
        for p in ScrapeProtocol::ALL {
            assert_eq!(p.as_str().parse::<ScrapeProtocol>(), Ok(p));
        }
        assert!("prometheusproto".parse::<ScrapeProtocol>().is_err());
        // Each protocol's own media range negotiates to the format it names.
        let want = [Format::Protobuf, Format::OpenMetrics100, Format::OpenMetrics001, Format::Text004, Format::Text004];
        for (p, f) in ScrapeProtocol::ALL.into_iter().zip(want) {
            assert_eq!(Format::from_content_type(p.media_range()), Some(f), "{p}");
        }
    }
}
