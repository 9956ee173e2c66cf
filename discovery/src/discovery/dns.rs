//! `dns_sd_configs`: targets from SRV, A, AAAA, MX and NS records.
//!
//! A small DNS client (RFC 1035 over UDP, falling back to TCP when a reply is truncated)
//! instead of a resolver library: discovery needs exactly one question per name and the
//! records of one type, and the server must be configurable so tests can point it at a
//! responder on 127.0.0.1. The default server is the first `nameserver` in
//! `/etc/resolv.conf`; names are queried as given (no search list).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::{BoxFuture, Discoverer, DiscoveryError, DiscoveryErrorKind, Sink, host_port, target_labels};
use crate::config::{DnsRecordType, DnsSdConfig};
use crate::target::TargetGroup;

/// `__meta_dns_name`.
pub const NAME_LABEL: &str = "__meta_dns_name";
/// `__meta_dns_srv_record_target`.
pub const SRV_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
/// `__meta_dns_srv_record_port`.
pub const SRV_PORT_LABEL: &str = "__meta_dns_srv_record_port";
/// `__meta_dns_mx_record_target`.
pub const MX_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
/// `__meta_dns_ns_record_target`.
pub const NS_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

/// One answer record of the asked-for type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A service location; `target` is the fully qualified name with its trailing dot.
    Srv {
        /// The port.
        port: u16,
        /// The target host name.
        target: String,
    },
    /// A mail exchanger (with trailing dot).
    Mx(String),
    /// A name server (with trailing dot).
    Ns(String),
}

impl DnsRecordType {
    fn code(self) -> u16 {
        match self {
            DnsRecordType::A => 1,
            DnsRecordType::Ns => 2,
            DnsRecordType::Mx => 15,
            DnsRecordType::Aaaa => 28,
            DnsRecordType::Srv => 33,
        }
    }
}

/// The first `nameserver` of `/etc/resolv.conf`, port 53.
pub fn system_nameserver() -> Result<SocketAddr, DiscoveryError> {
    let err = |m: String| DiscoveryError { source: "/etc/resolv.conf".into(), kind: DiscoveryErrorKind::Dns(m) };
    let text = std::fs::read_to_string("/etc/resolv.conf").map_err(|e| err(e.to_string()))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or_else(|| err("no nameserver configured".into()))
}

fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, String> {
    let mut m = Vec::with_capacity(32 + name.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("invalid name {name:?}"));
        }
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes()); // IN
    Ok(m)
}

/// Reads a possibly compressed name at `pos`; returns it with a trailing dot and the position
/// after it in the original stream.
fn read_name(msg: &[u8], mut pos: usize) -> Result<(String, usize), String> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos).ok_or("truncated name")? as usize;
        if len & 0xC0 == 0xC0 {
            let lo = *msg.get(pos + 1).ok_or("truncated pointer")? as usize;
            end.get_or_insert(pos + 2);
            pos = ((len & 0x3F) << 8) | lo;
            jumps += 1;
            if jumps > 64 {
                return Err("compression loop".into());
            }
            continue;
        }
        if len == 0 {
            if name.is_empty() {
                name.push('.');
            }
            return Ok((name, end.unwrap_or(pos + 1)));
        }
        let label = msg.get(pos + 1..pos + 1 + len).ok_or("truncated label")?;
        name.push_str(&String::from_utf8_lossy(label));
        name.push('.');
        pos += 1 + len;
    }
}

fn be16(msg: &[u8], pos: usize) -> Result<u16, String> {
    msg.get(pos..pos + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "truncated message".into())
}

/// Parsed reply: truncated flag and records of `qtype`.
fn decode_reply(msg: &[u8], id: u16, qtype: u16) -> Result<(bool, Vec<Record>), String> {
    if msg.len() < 12 || be16(msg, 0)? != id {
        return Err("reply does not match the query".into());
    }
    let flags = be16(msg, 2)?;
    if flags & 0x8000 == 0 {
        return Err("not a reply".into());
    }
    let truncated = flags & 0x0200 != 0;
    match flags & 0x000F {
        0 => {}
        3 => return Ok((truncated, Vec::new())), // NXDOMAIN: no records
        rcode => return Err(format!("server returned rcode {rcode}")),
    }
    let (qd, an) = (be16(msg, 4)?, be16(msg, 6)?);
    let mut pos = 12;
    for _ in 0..qd {
        pos = read_name(msg, pos)?.1 + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        pos = read_name(msg, pos)?.1;
        let (rtype, rdlen) = (be16(msg, pos)?, be16(msg, pos + 8)? as usize);
        let rdata = pos + 10;
        let data = msg.get(rdata..rdata + rdlen).ok_or("truncated record")?;
        pos = rdata + rdlen;
        if rtype != qtype {
            continue; // e.g. a CNAME on the way
        }
        out.push(match rtype {
            1 => Record::A(Ipv4Addr::from(<[u8; 4]>::try_from(data).map_err(|_| "bad A record")?)),
            28 => Record::Aaaa(Ipv6Addr::from(<[u8; 16]>::try_from(data).map_err(|_| "bad AAAA record")?)),
            33 => Record::Srv { port: be16(msg, rdata + 4)?, target: read_name(msg, rdata + 6)?.0 },
            15 => Record::Mx(read_name(msg, rdata + 2)?.0),
            2 => Record::Ns(read_name(msg, rdata)?.0),
            _ => continue,
        });
    }
    Ok((truncated, out))
}

/// How long to wait for each of the three UDP attempts by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks `server` for the `rtype` records of `name`, waiting [`DEFAULT_TIMEOUT`] per attempt.
pub async fn lookup(server: SocketAddr, name: &str, rtype: DnsRecordType) -> Result<Vec<Record>, String> {
    lookup_with_timeout(server, name, rtype, DEFAULT_TIMEOUT).await
}

/// Asks `server` for the `rtype` records of `name`, waiting `timeout` per UDP attempt (three
/// attempts) and for a TCP retry.
pub async fn lookup_with_timeout(
    server: SocketAddr,
    name: &str,
    rtype: DnsRecordType,
    timeout: Duration,
) -> Result<Vec<Record>, String> {
    let id = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos()
        & 0xFFFF) as u16;
    let query = encode_query(id, name, rtype.code())?;
    let bind: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
    let sock = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    sock.connect(server).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_535];
    let mut last_err = String::from("timeout");
    for _ in 0..3 {
        sock.send(&query).await.map_err(|e| e.to_string())?;
        match tokio::time::timeout(timeout, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => match decode_reply(&buf[..n], id, rtype.code()) {
                Ok((false, recs)) => return Ok(recs),
                Ok((true, _)) => return lookup_tcp(server, &query, id, rtype, timeout).await,
                Err(e) => last_err = e,
            },
            Ok(Err(e)) => last_err = e.to_string(),
            Err(_) => last_err = "timeout".into(),
        }
    }
    Err(last_err)
}

async fn lookup_tcp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    rtype: DnsRecordType,
    timeout: Duration,
) -> Result<Vec<Record>, String> {
    let fut = async {
        let mut s = TcpStream::connect(server).await.map_err(|e| e.to_string())?;
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        s.write_all(&framed).await.map_err(|e| e.to_string())?;
        let len = s.read_u16().await.map_err(|e| e.to_string())? as usize;
        let mut msg = vec![0; len];
        s.read_exact(&mut msg).await.map_err(|e| e.to_string())?;
        decode_reply(&msg, id, rtype.code()).map(|(_, r)| r)
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| "timeout".to_string())?
}

/// A DNS SD provider.
#[derive(Debug, Clone)]
pub struct DnsDiscovery {
    names: Vec<String>,
    rtype: DnsRecordType,
    port: u16,
    refresh: Duration,
    server: SocketAddr,
    timeout: Duration,
}

impl DnsDiscovery {
    /// A provider for `cfg` asking `server`.
    pub fn new(cfg: &DnsSdConfig, server: SocketAddr) -> Self {
        DnsDiscovery {
            names: cfg.names.clone(),
            rtype: cfg.record_type,
            port: cfg.port.unwrap_or(0),
            refresh: cfg.refresh_interval.get(),
            server,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// How long to wait per query attempt; default [`DEFAULT_TIMEOUT`].
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The group for one name's records (source: the name).
    pub fn group(&self, name: &str, records: &[Record]) -> TargetGroup {
        let port = self.port;
        let targets = records
            .iter()
            .map(|r| match r {
                Record::A(ip) => target_labels(&host_port(&ip.to_string(), port), [(NAME_LABEL, name)]),
                Record::Aaaa(ip) => target_labels(&host_port(&ip.to_string(), port), [(NAME_LABEL, name)]),
                Record::Srv { port, target } => target_labels(
                    &host_port(target.trim_end_matches('.'), *port),
                    [(NAME_LABEL, name), (SRV_TARGET_LABEL, target.as_str()), (SRV_PORT_LABEL, &port.to_string())],
                ),
                Record::Mx(t) => target_labels(
                    &host_port(t.trim_end_matches('.'), port),
                    [(NAME_LABEL, name), (MX_TARGET_LABEL, t.as_str())],
                ),
                Record::Ns(t) => target_labels(
                    &host_port(t.trim_end_matches('.'), port),
                    [(NAME_LABEL, name), (NS_TARGET_LABEL, t.as_str())],
                ),
            })
            .collect();
        TargetGroup { source: name.to_string(), targets, labels: Default::default() }
    }
}

impl Discoverer for DnsDiscovery {
    fn run(self: Box<Self>, sink: Sink) -> BoxFuture {
        Box::pin(async move {
            let mut groups: BTreeMap<String, TargetGroup> = BTreeMap::new();
            let mut published: Option<Vec<TargetGroup>> = None;
            let mut failed = false;
            loop {
                let was_failed = std::mem::take(&mut failed);
                for name in &self.names {
                    match lookup_with_timeout(self.server, name, self.rtype, self.timeout).await {
                        Ok(recs) => {
                            groups.insert(name.clone(), self.group(name, &recs));
                        }
                        Err(m) => {
                            failed = true;
                            let e = DiscoveryError { source: name.clone(), kind: DiscoveryErrorKind::Dns(m) };
                            if !sink.error(e).await {
                                return;
                            }
                        }
                    }
                }
                let all: Vec<TargetGroup> = groups.values().cloned().collect();
                if !failed && (was_failed || published.as_ref() != Some(&all)) {
                    published = Some(all.clone());
                    if !sink.groups(all).await {
                        return;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.refresh) => {}
                    _ = sink.tx.closed() => return,
                }
            }
        })
    }
}
