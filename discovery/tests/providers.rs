//! Static, file, HTTP and DNS providers and the manager, against real servers and files.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Resp, next_event, serve, temp_dir};
use ember_discovery::config::{Config, DnsRecordType, DnsSdConfig, FileSdConfig, HttpSdConfig, StaticConfig};
use ember_discovery::discovery::dns::{DnsDiscovery, Record, lookup};
use ember_discovery::discovery::file::FileDiscovery;
use ember_discovery::discovery::http::HttpDiscovery;
use ember_discovery::discovery::{
    Discoverer, DiscoveryErrorKind, Event, Manager, ProviderOptions, Sink, StaticDiscovery, providers,
};
use ember_discovery::target::TargetGroup;
use ember_exposition::{Labels, labels};

fn start(d: impl Discoverer) -> tokio::sync::mpsc::Receiver<Event> {
    let (sink, rx) = Sink::channel(16);
    tokio::spawn(Box::new(d).run(sink));
    rx
}

async fn next_groups(rx: &mut tokio::sync::mpsc::Receiver<Event>) -> Vec<TargetGroup> {
    match next_event(rx).await {
        Event::Groups(g) => g,
        Event::Error(e) => panic!("unexpected error: {e}"),
    }
}

async fn next_error(rx: &mut tokio::sync::mpsc::Receiver<Event>) -> ember_discovery::discovery::DiscoveryError {
    match next_event(rx).await {
        Event::Error(e) => e,
        Event::Groups(g) => panic!("expected an error, got groups {g:?}"),
    }
}

#[tokio::test]
async fn static_provider() {
    let cfg = StaticConfig { targets: vec!["a:1".into()], labels: [("env".to_string(), "p".to_string())].into() };
    let mut rx = start(StaticDiscovery::new(&[cfg]));
    let g = next_groups(&mut rx).await;
    assert_eq!(
        g,
        vec![TargetGroup {
            source: "0".into(),
            targets: vec![labels! {"__address__" => "a:1"}],
            labels: labels! {"env" => "p"}
        }]
    );
}

#[tokio::test]
async fn file_provider_watches_and_keeps_last_good() {
    let dir = temp_dir("file");
    let a = dir.join("a.json");
    let b = dir.join("tg_b.yml");
    std::fs::write(&a, r#"[{"targets": ["a:1", "a:2"], "labels": {"env": "json"}}]"#).unwrap();
    std::fs::write(&b, "- targets: ['b:1']\n  labels:\n    env: yaml\n").unwrap();
    let cfg = FileSdConfig {
        files: vec![a.display().to_string(), dir.join("tg_*.yml").display().to_string()],
        refresh_interval: "5m".parse().unwrap(),
    };
    let mut rx = start(FileDiscovery::new(&cfg).watch_interval(Duration::from_millis(50)));
    let g = next_groups(&mut rx).await;
    assert_eq!(g.len(), 2);
    let a_name = a.display().to_string();
    assert_eq!(g[0].source, format!("{a_name}:0"));
    assert_eq!(g[0].labels, labels! {"__meta_filepath" => a_name.as_str(), "env" => "json"});
    assert_eq!(g[0].targets, vec![labels! {"__address__" => "a:1"}, labels! {"__address__" => "a:2"}]);
    assert_eq!(g[1].labels.get("env"), Some("yaml"));

    // A broken file is reported and its last good groups stand (nothing new is sent).
    std::fs::write(&b, "- targets: [b:1\n").unwrap();
    let e = next_error(&mut rx).await;
    assert_eq!(e.source, b.display().to_string());
    assert!(matches!(e.kind, DiscoveryErrorKind::Decode(_)), "{e:?}");
    // Invalid content that decodes is rejected too.
    std::fs::write(&b, "- targets: ['http://b:1']\n").unwrap();
    assert!(next_error(&mut rx).await.to_string().contains("is not a valid hostname"));

    // Fixing it, adding a file matching the glob and removing one all show up.
    std::fs::write(&b, "- targets: ['b:2']\n").unwrap();
    let g = next_groups(&mut rx).await;
    assert_eq!(g[1].targets, vec![labels! {"__address__" => "b:2"}]);
    std::fs::write(dir.join("tg_c.yml"), "- targets: ['c:1']\n").unwrap();
    std::fs::remove_file(&a).unwrap();
    let mut g = next_groups(&mut rx).await;
    // The two changes may arrive in one scan or two.
    if g.len() != 2 || g.iter().any(|g| g.source.starts_with(&a_name)) {
        g = next_groups(&mut rx).await;
    }
    let sources: Vec<_> = g.iter().map(|g| g.targets[0].get("__address__").unwrap().to_string()).collect();
    assert_eq!(sources, vec!["b:2", "c:1"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn http_provider() {
    let mode = Arc::new(Mutex::new(0));
    let m = mode.clone();
    let (addr, log) = serve(move |req| {
        assert_eq!(req.path(), "/sd");
        match *m.lock().unwrap() {
            0 => Resp::json(r#"[{"targets": ["h:1"], "labels": {"dc": "x"}}, {"targets": ["h:2"]}]"#),
            1 => Resp::status(500, "boom"),
            2 => Resp { content_type: "text/plain", ..Resp::json("[]") },
            _ => Resp::json("[{\"targets\": 1}]"),
        }
    })
    .await;
    let url = format!("http://{addr}/sd");
    let cfg: HttpSdConfig =
        serde_norway::from_str(&format!("url: {url}\nrefresh_interval: 100ms\nauthorization:\n  credentials: tok\n"))
            .unwrap();
    let mut rx = start(HttpDiscovery::new(&cfg).unwrap());
    let g = next_groups(&mut rx).await;
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].source, format!("{url}:0"));
    assert_eq!(g[0].labels, labels! {"__meta_url" => url.as_str(), "dc" => "x"});
    assert_eq!(g[1].targets, vec![labels! {"__address__" => "h:2"}]);
    {
        let req = log.lock().unwrap()[0].clone();
        assert_eq!(req.header("authorization"), Some("Bearer tok"));
        assert_eq!(req.header("x-prometheus-refresh-interval-seconds"), Some("0.1"));
    }
    for (mode_no, want) in [(1, "500"), (2, "content type"), (3, "invalid type")] {
        *mode.lock().unwrap() = mode_no;
        let e = loop {
            // Skip any refresh that raced with the mode change.
            match next_event(&mut rx).await {
                Event::Error(e) if e.to_string().contains(want) => break e,
                _ => continue,
            }
        };
        assert_eq!(e.source, url);
    }
    // Recovering re-sends the groups (and clears the error in the manager).
    *mode.lock().unwrap() = 0;
    loop {
        if let Event::Groups(g) = next_event(&mut rx).await {
            assert_eq!(g.len(), 2);
            break;
        }
    }
}

/// A DNS responder on 127.0.0.1 (UDP, and TCP on the same port for truncated answers).
async fn dns_server(zone: HashMap<(String, u16), Vec<Vec<u8>>>) -> SocketAddr {
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    let zone = Arc::new(zone);
    let z = zone.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else { return };
            let reply = answer(&buf[..n], &z, true);
            let _ = udp.send_to(&reply, peer).await;
        }
    });
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut s, _)) = tcp.accept().await else { return };
            let len = s.read_u16().await.unwrap() as usize;
            let mut q = vec![0; len];
            s.read_exact(&mut q).await.unwrap();
            let reply = answer(&q, &zone, false);
            s.write_all(&(reply.len() as u16).to_be_bytes()).await.unwrap();
            s.write_all(&reply).await.unwrap();
        }
    });
    addr
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in name.trim_end_matches('.').split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

/// Builds the reply to `q`; names starting with `big` are truncated over UDP.
fn answer(q: &[u8], zone: &HashMap<(String, u16), Vec<Vec<u8>>>, udp: bool) -> Vec<u8> {
    // Question: name labels from offset 12, then type and class.
    let mut pos = 12;
    let mut name = String::new();
    while q[pos] != 0 {
        let l = q[pos] as usize;
        name.push_str(std::str::from_utf8(&q[pos + 1..pos + 1 + l]).unwrap());
        name.push('.');
        pos += 1 + l;
    }
    let qtype = u16::from_be_bytes([q[pos + 1], q[pos + 2]]);
    let question = &q[12..pos + 5];
    let records = zone.get(&(name.clone(), qtype));
    let truncated = udp && name.starts_with("big");
    let mut flags: u16 = 0x8180; // reply, RD, RA
    if records.is_none() {
        flags |= 3; // NXDOMAIN
    }
    if truncated {
        flags |= 0x0200;
    }
    let records: &[Vec<u8>] = if truncated { &[] } else { records.map_or(&[], Vec::as_slice) };
    let mut m = Vec::new();
    m.extend_from_slice(&q[0..2]);
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    // A CNAME first (which the client must skip), then the records.
    let with_cname = !records.is_empty();
    m.extend_from_slice(&((records.len() + usize::from(with_cname)) as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(question);
    if with_cname {
        let target = encode_name("alias.example.");
        m.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60]);
        m.extend_from_slice(&(target.len() as u16).to_be_bytes());
        m.extend_from_slice(&target);
    }
    for rdata in records {
        // Owner name as a compression pointer to the question.
        m.extend_from_slice(&[0xC0, 12]);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(rdata);
    }
    m
}

fn srv(port: u16, target: &str) -> Vec<u8> {
    let mut r = vec![0, 10, 0, 5];
    r.extend_from_slice(&port.to_be_bytes());
    r.extend_from_slice(&encode_name(target));
    r
}

fn test_zone() -> HashMap<(String, u16), Vec<Vec<u8>>> {
    let mut zone = HashMap::new();
    zone.insert(("_prom._tcp.example.".into(), 33), vec![srv(9100, "node1.example."), srv(9200, "node2.example.")]);
    zone.insert(("web.example.".into(), 1), vec![vec![10, 0, 0, 1], vec![10, 0, 0, 2]]);
    let mut v6 = vec![0u8; 16];
    v6[15] = 1;
    zone.insert(("web.example.".into(), 28), vec![v6]);
    let mut mx = vec![0, 10];
    mx.extend_from_slice(&encode_name("mail.example."));
    zone.insert(("example.".into(), 15), vec![mx]);
    zone.insert(("big.example.".into(), 1), (1..=3).map(|i| vec![192, 0, 2, i]).collect());
    zone
}

#[tokio::test]
async fn dns_lookups() {
    let server = dns_server(test_zone()).await;
    let recs = lookup(server, "_prom._tcp.example", DnsRecordType::Srv).await.unwrap();
    assert_eq!(
        recs,
        vec![
            Record::Srv { port: 9100, target: "node1.example.".into() },
            Record::Srv { port: 9200, target: "node2.example.".into() }
        ]
    );
    assert_eq!(
        lookup(server, "web.example", DnsRecordType::Aaaa).await.unwrap(),
        vec![Record::Aaaa("::1".parse().unwrap())]
    );
    assert_eq!(lookup(server, "example.", DnsRecordType::Mx).await.unwrap(), vec![Record::Mx("mail.example.".into())]);
    assert!(lookup(server, "missing.example", DnsRecordType::A).await.unwrap().is_empty());
    // Truncated over UDP: the client retries over TCP.
    assert_eq!(lookup(server, "big.example", DnsRecordType::A).await.unwrap().len(), 3);
}

#[tokio::test]
async fn dns_provider() {
    let server = dns_server(test_zone()).await;
    let srv_cfg = DnsSdConfig {
        names: vec!["_prom._tcp.example".into()],
        record_type: DnsRecordType::Srv,
        port: None,
        refresh_interval: "30s".parse().unwrap(),
    };
    let g = next_groups(&mut start(DnsDiscovery::new(&srv_cfg, server))).await;
    assert_eq!(g[0].source, "_prom._tcp.example");
    assert_eq!(
        g[0].targets[0],
        labels! {
            "__address__" => "node1.example:9100",
            "__meta_dns_name" => "_prom._tcp.example",
            "__meta_dns_srv_record_port" => "9100",
            "__meta_dns_srv_record_target" => "node1.example."
        }
    );
    let a_cfg = DnsSdConfig {
        names: vec!["web.example".into()],
        record_type: DnsRecordType::A,
        port: Some(80),
        ..srv_cfg.clone()
    };
    let g = next_groups(&mut start(DnsDiscovery::new(&a_cfg, server))).await;
    assert_eq!(
        g[0].targets,
        vec![
            labels! {"__address__" => "10.0.0.1:80", "__meta_dns_name" => "web.example"},
            labels! {"__address__" => "10.0.0.2:80", "__meta_dns_name" => "web.example"},
        ]
    );
    let v6 = DnsSdConfig { record_type: DnsRecordType::Aaaa, ..a_cfg.clone() };
    let g = next_groups(&mut start(DnsDiscovery::new(&v6, server))).await;
    assert_eq!(g[0].targets[0].get("__address__"), Some("[::1]:80"));
    let mx = DnsSdConfig {
        names: vec!["example".into()],
        record_type: DnsRecordType::Mx,
        port: Some(25),
        ..srv_cfg.clone()
    };
    let g = next_groups(&mut start(DnsDiscovery::new(&mx, server))).await;
    assert_eq!(
        g[0].targets[0],
        labels! {"__address__" => "mail.example:25", "__meta_dns_mx_record_target" => "mail.example.", "__meta_dns_name" => "example"}
    );

    // A server that never answers: the provider reports an error.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rx = start(DnsDiscovery::new(&a_cfg, silent.local_addr().unwrap()).timeout(Duration::from_millis(100)));
    let e = next_error(&mut rx).await;
    assert_eq!(e.kind, DiscoveryErrorKind::Dns("timeout".into()));
}

#[tokio::test]
async fn manager_coalesces_per_job() {
    let (addr, _log) = serve(|_| Resp::json(r#"[{"targets": ["h:1"]}]"#)).await;
    let dns = dns_server(test_zone()).await;
    let cfg = Config::from_yaml(&format!(
        "scrape_configs:
  - job_name: a
    static_configs: [{{targets: ['s:1']}}, {{targets: ['s:2']}}]
    http_sd_configs: [{{url: 'http://{addr}/sd'}}]
  - job_name: b
    dns_sd_configs: [{{names: [web.example], type: A, port: 80}}]
"
    ))
    .unwrap();
    let opts = ProviderOptions { dns_server: Some(dns), ..Default::default() };
    let mut all = Vec::new();
    for sc in &cfg.scrape_configs {
        for (name, p) in providers(sc, &opts).unwrap() {
            all.push((sc.job_name.clone(), name, p));
        }
    }
    let manager = Manager::start(all, Duration::from_millis(50));
    let mut sub = manager.subscribe();
    let state = loop {
        tokio::time::timeout(Duration::from_secs(10), sub.changed()).await.unwrap().unwrap();
        let s = sub.borrow().clone();
        if s.job("a").len() == 3 && s.job("b").len() == 1 {
            break s;
        }
    };
    let addrs = |job: &str| -> Vec<String> {
        state
            .job(job)
            .iter()
            .flat_map(|g| g.targets.iter().map(|t| t.get_or_empty("__address__").to_string()))
            .collect()
    };
    assert_eq!(addrs("a"), vec!["s:1", "s:2", "h:1"]);
    assert_eq!(addrs("b"), vec!["10.0.0.1:80", "10.0.0.2:80"]);
    assert!(state.errors.is_empty());
    assert_eq!(manager.state().job("a").len(), 3);
    assert_eq!(state.job("missing"), &[] as &[TargetGroup]);
    let _ = Labels::empty();
}

#[tokio::test]
async fn manager_reports_and_clears_provider_errors() {
    let healthy = Arc::new(Mutex::new(false));
    let h = healthy.clone();
    let (addr, _log) =
        serve(
            move |_| {
                if *h.lock().unwrap() { Resp::json(r#"[{"targets": ["h:1"]}]"#) } else { Resp::status(503, "down") }
            },
        )
        .await;
    let cfg = Config::from_yaml(&format!(
        "scrape_configs:\n  - job_name: a\n    static_configs: [{{targets: ['s:1']}}]\n    http_sd_configs: [{{url: 'http://{addr}/sd', refresh_interval: 100ms}}]\n"
    ))
    .unwrap();
    let all = providers(&cfg.scrape_configs[0], &ProviderOptions::default())
        .unwrap()
        .into_iter()
        .map(|(name, p)| ("a".to_string(), name, p))
        .collect();
    let manager = Manager::start(all, Duration::from_millis(20));
    let mut sub = manager.subscribe();
    let key = ("a".to_string(), "http_sd_configs[0]".to_string());
    let wait = |pred: fn(&ember_discovery::discovery::DiscoveryState, &(String, String)) -> bool| {
        let mut sub = sub.clone();
        let key = key.clone();
        async move {
            loop {
                tokio::time::timeout(Duration::from_secs(10), sub.changed()).await.unwrap().unwrap();
                let s = sub.borrow().clone();
                if pred(&s, &key) {
                    return s;
                }
            }
        }
    };
    let s = wait(|s, k| s.errors.contains_key(k) && s.job("a").len() == 1).await;
    assert!(s.errors[&key].to_string().contains("503"), "{:?}", s.errors);
    *healthy.lock().unwrap() = true;
    let s = wait(|s, k| !s.errors.contains_key(k) && s.job("a").len() == 2).await;
    assert!(s.errors.is_empty());
    sub.mark_unchanged();
}
