//! Kubernetes SD against an API stand-in on 127.0.0.1 serving list and watch responses in the
//! Kubernetes API's JSON shapes (fixtures in `testdata/kubernetes/`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Req, Resp, next_event, serve};
use ember_discovery::config::{HttpClientConfig, KubernetesSdConfig};
use ember_discovery::discovery::kubernetes::{ApiAccess, KubernetesDiscovery, from_kubeconfig};
use ember_discovery::discovery::{Discoverer, Event, Sink};
use ember_discovery::target::TargetGroup;
use ember_exposition::{Labels, labels};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/kubernetes/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The API stand-in: lists from fixtures; watches stay open with nothing to say. With
/// `pod_churn`, the pod watch from version 100 replays the first three events of
/// `pods-watch.jsonl` and ends, the watch from 151 sends its last event (410 Gone), and later
/// pod lists return `pods-relist.json`; both watches answer after 300ms so each step is
/// published on its own.
async fn api_server_with(pod_churn: bool) -> (String, Arc<Mutex<Vec<Req>>>) {
    let pod_lists = Arc::new(AtomicUsize::new(0));
    let (addr, log) = serve(move |req| {
        let path = req.path();
        let resource = path.rsplit('/').next().unwrap_or("");
        if req.query("watch").is_some() {
            if pod_churn && resource == "pods" {
                let events = fixture("pods-watch.jsonl");
                let lines: Vec<&[u8]> = events.split_inclusive(|b| *b == b'\n').collect();
                let delay = Duration::from_millis(300);
                match req.query("resourceVersion").as_deref() {
                    Some("100") => return Resp { delay, ..Resp::json(lines[..3].concat()) },
                    Some("151") => return Resp { delay, ..Resp::json(lines[3]) },
                    _ => {}
                }
            }
            return Resp { keep_open: true, ..Resp::json("") };
        }
        let file = match resource {
            "pods" if pod_churn && pod_lists.fetch_add(1, Ordering::SeqCst) > 0 => "pods-relist.json",
            "pods" => "pods.json",
            "services" => "services.json",
            "endpoints" => "endpoints.json",
            "endpointslices" => "endpointslices.json",
            "ingresses" => "ingresses.json",
            "nodes" => "nodes.json",
            "namespaces" => "namespaces.json",
            "replicasets" => "replicasets.json",
            "jobs" => "jobs.json",
            _ => return Resp::status(404, "not found"),
        };
        Resp::json(fixture(file))
    })
    .await;
    (format!("http://{addr}"), log)
}

async fn api_server() -> (String, Arc<Mutex<Vec<Req>>>) {
    api_server_with(false).await
}

fn config(yaml: &str) -> KubernetesSdConfig {
    serde_norway::from_str(yaml).unwrap()
}

fn start(cfg: &KubernetesSdConfig, server: &str) -> tokio::sync::mpsc::Receiver<Event> {
    let access =
        ApiAccess { server: server.to_string(), http: HttpClientConfig::default(), namespace: Some("default".into()) };
    let d = KubernetesDiscovery::with_access(cfg, access).unwrap().retry_interval(Duration::from_millis(50));
    let (sink, rx) = Sink::channel(16);
    tokio::spawn(Box::new(d).run(sink));
    rx
}

/// Waits for a group set satisfying `ok`.
async fn wait_for(
    rx: &mut tokio::sync::mpsc::Receiver<Event>,
    ok: impl Fn(&[TargetGroup]) -> bool,
) -> Vec<TargetGroup> {
    loop {
        match next_event(rx).await {
            Event::Groups(g) if ok(&g) => return g,
            Event::Groups(_) => {}
            Event::Error(e) => panic!("unexpected error: {e}"),
        }
    }
}

fn group<'a>(groups: &'a [TargetGroup], source: &str) -> &'a TargetGroup {
    groups.iter().find(|g| g.source == source).unwrap_or_else(|| panic!("no group {source} in {groups:?}"))
}

#[tokio::test]
async fn node_role() {
    let (server, _) = api_server().await;
    let mut rx = start(&config("role: node"), &server);
    let g = wait_for(&mut rx, |g| !g.is_empty()).await;
    let n1 = group(&g, "node/n1");
    assert_eq!(
        n1.labels,
        labels! {
            "__meta_kubernetes_node_annotation_note" => "x",
            "__meta_kubernetes_node_annotationpresent_note" => "true",
            "__meta_kubernetes_node_condition_memorypressure" => "false",
            "__meta_kubernetes_node_condition_ready" => "true",
            "__meta_kubernetes_node_label_kubernetes_io_os" => "linux",
            "__meta_kubernetes_node_labelpresent_kubernetes_io_os" => "true",
            "__meta_kubernetes_node_name" => "n1",
            "__meta_kubernetes_node_provider_id" => "aws:///eu-west-1a/i-1"
        }
    );
    assert_eq!(
        n1.targets,
        vec![labels! {
            "__address__" => "192.168.1.10:10250",
            "__meta_kubernetes_node_address_Hostname" => "n1.internal",
            "__meta_kubernetes_node_address_InternalIP" => "192.168.1.10",
            "instance" => "n1"
        }]
    );
}

fn web1_pod_labels() -> Vec<(&'static str, &'static str)> {
    vec![
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_pod_annotation_prometheus_io_scrape", "true"),
        ("__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape", "true"),
        ("__meta_kubernetes_pod_controller_kind", "ReplicaSet"),
        ("__meta_kubernetes_pod_controller_name", "web-5d4f8"),
        ("__meta_kubernetes_pod_host_ip", "192.168.1.10"),
        ("__meta_kubernetes_pod_ip", "10.1.0.5"),
        ("__meta_kubernetes_pod_label_app_kubernetes_io_name", "web"),
        ("__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name", "true"),
        ("__meta_kubernetes_pod_name", "web-1"),
        ("__meta_kubernetes_pod_node_name", "n1"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_ready", "true"),
        ("__meta_kubernetes_pod_uid", "7f1c0b1e-0000-4000-8000-000000000001"),
    ]
}

fn app_port(port: &str, name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("__meta_kubernetes_pod_container_id", "containerd://a1".into()),
        ("__meta_kubernetes_pod_container_image", "web:1.2".into()),
        ("__meta_kubernetes_pod_container_init", "false".into()),
        ("__meta_kubernetes_pod_container_name", "app".into()),
        ("__meta_kubernetes_pod_container_port_name", name.into()),
        ("__meta_kubernetes_pod_container_port_number", port.into()),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP".into()),
    ]
}

#[tokio::test]
async fn pod_role_list_watch_and_relist_on_410() {
    let (server, log) = api_server_with(true).await;
    let mut rx = start(
        &config("role: pod\nselectors:\n  - role: pod\n    label: app=web\n    field: status.phase=Running\n"),
        &server,
    );
    let g = wait_for(&mut rx, |g| g.len() == 2).await;
    let web1 = group(&g, "pod/default/web-1");
    assert_eq!(web1.labels, Labels::from_pairs(web1_pod_labels()));
    let mut want_http = app_port("8080", "http");
    want_http.push(("__address__", "10.1.0.5:8080".into()));
    assert_eq!(web1.targets[0], Labels::from_pairs(want_http));
    assert_eq!(web1.targets[1].get("__address__"), Some("10.1.0.5:9090"));
    // A container without ports: the bare pod IP.
    assert_eq!(
        web1.targets[2],
        labels! {
            "__address__" => "10.1.0.5",
            "__meta_kubernetes_pod_container_id" => "containerd://s1",
            "__meta_kubernetes_pod_container_image" => "proxy:3",
            "__meta_kubernetes_pod_container_init" => "false",
            "__meta_kubernetes_pod_container_name" => "sidecar"
        }
    );
    assert_eq!(web1.targets[3].get("__meta_kubernetes_pod_container_init"), Some("true"));
    // A pod without an IP yet has no targets.
    assert!(group(&g, "pod/default/pending-1").targets.is_empty());

    // The watch adds web-2 and deletes pending-1, then expires (410): the re-list replaces
    // everything with web-3.
    let g = wait_for(&mut rx, |g| g.iter().map(|g| g.source.as_str()).eq(["pod/default/web-3"])).await;
    assert_eq!(g[0].labels.get("__meta_kubernetes_pod_ready"), Some("false"));
    assert_eq!(g[0].targets[0].get("__address__"), Some("10.1.0.7:8080"));
    assert_eq!(g[0].targets[0].get("__meta_kubernetes_pod_container_port_protocol"), Some("TCP"));

    let reqs: Vec<String> = log.lock().unwrap().iter().map(|r| r.target.clone()).collect();
    assert!(reqs[0].starts_with("/api/v1/pods?"), "{reqs:?}");
    let first = log.lock().unwrap()[0].clone();
    assert_eq!(first.query("labelSelector").as_deref(), Some("app=web"));
    assert_eq!(first.query("fieldSelector").as_deref(), Some("status.phase=Running"));
    let watches: Vec<_> =
        log.lock().unwrap().iter().filter_map(|r| r.query("watch").and(r.query("resourceVersion"))).collect();
    assert_eq!(&watches[..3], ["100", "151", "200"]);
    let lists = log.lock().unwrap().iter().filter(|r| r.query("watch").is_none()).count();
    assert!(lists >= 2);
}

#[tokio::test]
async fn intermediate_watch_events_are_applied() {
    // Collect every published set: web-2 (ADDED) must appear before the relist.
    let (server, _) = api_server_with(true).await;
    let mut rx = start(&config("role: pod"), &server);
    let mut saw_web2 = false;
    loop {
        match next_event(&mut rx).await {
            Event::Groups(g) => {
                saw_web2 |= g.iter().any(|g| g.source == "pod/default/web-2");
                if g.iter().any(|g| g.source == "pod/default/web-3") {
                    break;
                }
            }
            Event::Error(e) => panic!("{e}"),
        }
    }
    assert!(saw_web2);
}

#[tokio::test]
async fn pod_role_attach_metadata() {
    let (server, log) = api_server().await;
    let cfg = config("role: pod\nattach_metadata: {deployment: true, job: true, cronjob: true, node: true}\n");
    let mut rx = start(&cfg, &server);
    let g = wait_for(&mut rx, |g| {
        g.len() == 2
            && g.iter().any(|g| g.labels.contains("__meta_kubernetes_pod_deployment_name"))
            && g.iter().any(|g| g.labels.contains("__meta_kubernetes_pod_cronjob_name"))
            && g.iter().any(|g| g.labels.contains("__meta_kubernetes_node_name"))
    })
    .await;
    let web1 = group(&g, "pod/default/web-1");
    assert_eq!(web1.labels.get("__meta_kubernetes_pod_deployment_name"), Some("web"));
    assert_eq!(web1.labels.get("__meta_kubernetes_node_label_kubernetes_io_os"), Some("linux"));
    let job = group(&g, "pod/default/pending-1");
    assert_eq!(job.labels.get("__meta_kubernetes_pod_job_name"), Some("backup-28000000"));
    assert_eq!(job.labels.get("__meta_kubernetes_pod_cronjob_name"), Some("backup"));
    let paths: Vec<String> = log.lock().unwrap().iter().map(|r| r.path().to_string()).collect();
    assert!(
        paths.iter().any(|p| p == "/apis/apps/v1/replicasets") && paths.iter().any(|p| p == "/apis/batch/v1/jobs"),
        "{paths:?}"
    );
}

#[tokio::test]
async fn service_role() {
    let (server, _) = api_server().await;
    let mut rx = start(&config("role: service\nnamespaces:\n  names: [default]\n"), &server);
    let g = wait_for(&mut rx, |g| g.len() == 3).await;
    let web = group(&g, "svc/default/web");
    assert_eq!(
        web.labels,
        labels! {
            "__meta_kubernetes_namespace" => "default",
            "__meta_kubernetes_service_cluster_ip" => "10.96.0.10",
            "__meta_kubernetes_service_label_tier" => "frontend",
            "__meta_kubernetes_service_labelpresent_tier" => "true",
            "__meta_kubernetes_service_name" => "web",
            "__meta_kubernetes_service_type" => "ClusterIP"
        }
    );
    assert_eq!(
        web.targets,
        vec![labels! {
            "__address__" => "web.default.svc:80",
            "__meta_kubernetes_service_port_name" => "http",
            "__meta_kubernetes_service_port_number" => "80",
            "__meta_kubernetes_service_port_protocol" => "TCP"
        }]
    );
    let ext = group(&g, "svc/default/ext");
    assert_eq!(ext.labels.get("__meta_kubernetes_service_external_name"), Some("db.example.org"));
    assert_eq!(ext.labels.get("__meta_kubernetes_service_cluster_ip"), None);
    assert_eq!(ext.targets[0].get("__address__"), Some("db.example.org:5432"));
    let lb = group(&g, "svc/default/lb");
    assert_eq!(lb.labels.get("__meta_kubernetes_service_loadbalancer_ip"), Some("203.0.113.1,203.0.113.2"));
}

#[tokio::test]
async fn endpoints_role_joins_pods_and_services() {
    let (server, log) = api_server().await;
    let mut rx = start(&config("role: endpoints\nnamespaces:\n  own_namespace: true\n"), &server);
    let g = wait_for(&mut rx, |g| {
        g.len() == 1 && g[0].labels.contains("__meta_kubernetes_service_name") && g[0].targets.len() == 3
    })
    .await;
    let ep = &g[0];
    assert_eq!(ep.source, "endpoints/default/web");
    assert_eq!(ep.labels.get("__meta_kubernetes_endpoints_name"), Some("web"));
    assert_eq!(ep.labels.get("__meta_kubernetes_endpoints_label_tier"), Some("frontend"));
    assert_eq!(ep.labels.get("__meta_kubernetes_service_cluster_ip"), Some("10.96.0.10"));
    // The ready address backed by web-1: endpoint, pod and container labels.
    let mut want: Vec<(&str, String)> = web1_pod_labels().into_iter().map(|(k, v)| (k, v.to_string())).collect();
    want.extend(app_port("8080", "http"));
    want.extend([
        ("__address__", "10.1.0.5:8080".to_string()),
        ("__meta_kubernetes_endpoint_address_target_kind", "Pod".into()),
        ("__meta_kubernetes_endpoint_address_target_name", "web-1".into()),
        ("__meta_kubernetes_endpoint_node_name", "n1".into()),
        ("__meta_kubernetes_endpoint_port_name", "http".into()),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP".into()),
        ("__meta_kubernetes_endpoint_ready", "true".into()),
    ]);
    assert_eq!(ep.targets[0], Labels::from_pairs(want));
    assert_eq!(
        ep.targets[1],
        labels! {
            "__address__" => "10.1.0.9:8080",
            "__meta_kubernetes_endpoint_hostname" => "spare",
            "__meta_kubernetes_endpoint_port_name" => "http",
            "__meta_kubernetes_endpoint_port_protocol" => "TCP",
            "__meta_kubernetes_endpoint_ready" => "false"
        }
    );
    // The pod's other container port, not bound to an endpoint port.
    let extra = &ep.targets[2];
    assert_eq!(extra.get("__address__"), Some("10.1.0.5:9090"));
    assert_eq!(extra.get("__meta_kubernetes_pod_container_port_name"), Some("metrics"));
    assert_eq!(extra.get("__meta_kubernetes_endpoint_ready"), None);
    // own_namespace scoped every request to the namespace.
    assert!(log.lock().unwrap().iter().all(|r| r.path().starts_with("/api/v1/namespaces/default/")));
}

#[tokio::test]
async fn endpointslice_role() {
    let (server, log) = api_server().await;
    let mut rx = start(&config("role: endpointslice\nattach_metadata:\n  node: true\n  namespace: true\n"), &server);
    let g = wait_for(&mut rx, |g| {
        g.len() == 1
            && g[0].labels.contains("__meta_kubernetes_service_name")
            && g[0].labels.contains("__meta_kubernetes_namespace_label_team")
            && g[0].targets.len() == 2
            && g[0].targets[0].contains("__meta_kubernetes_node_name")
    })
    .await;
    let s = &g[0];
    assert_eq!(s.source, "endpointslice/default/web-abc12");
    assert_eq!(s.labels.get("__meta_kubernetes_endpointslice_name"), Some("web-abc12"));
    assert_eq!(s.labels.get("__meta_kubernetes_endpointslice_address_type"), None);
    assert_eq!(s.labels.get("__meta_kubernetes_namespace_label_team"), Some("core"));
    let t = &s.targets[0];
    for (k, v) in [
        ("__address__", "10.1.0.5:8080"),
        ("__meta_kubernetes_endpointslice_address_type", "IPv4"),
        ("__meta_kubernetes_endpointslice_port", "8080"),
        ("__meta_kubernetes_endpointslice_port_name", "http"),
        ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        ("__meta_kubernetes_endpointslice_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpointslice_address_target_name", "web-1"),
        ("__meta_kubernetes_endpointslice_endpoint_conditions_ready", "true"),
        ("__meta_kubernetes_endpointslice_endpoint_conditions_serving", "true"),
        ("__meta_kubernetes_endpointslice_endpoint_conditions_terminating", "false"),
        ("__meta_kubernetes_endpointslice_endpoint_node_name", "n1"),
        ("__meta_kubernetes_endpointslice_endpoint_zone", "z1"),
        ("__meta_kubernetes_pod_name", "web-1"),
        ("__meta_kubernetes_pod_container_port_name", "http"),
        ("__meta_kubernetes_node_name", "n1"),
        ("__meta_kubernetes_node_label_kubernetes_io_os", "linux"),
    ] {
        assert_eq!(t.get(k), Some(v), "{k} in {t}");
    }
    assert_eq!(s.targets[1].get("__address__"), Some("10.1.0.5:9090"));
    // Only targets from the slice itself carry the slice's endpoint labels.
    assert_eq!(s.targets[1].get("__meta_kubernetes_endpointslice_address_type"), None);
    let paths: Vec<String> = log.lock().unwrap().iter().map(|r| r.path().to_string()).collect();
    assert!(paths.iter().any(|p| p == "/apis/discovery.k8s.io/v1/endpointslices"), "{paths:?}");
}

#[tokio::test]
async fn ingress_role() {
    let (server, _) = api_server().await;
    let mut rx = start(&config("role: ingress"), &server);
    let g = wait_for(&mut rx, |g| !g.is_empty()).await;
    let ing = group(&g, "ingress/default/site");
    assert_eq!(
        ing.labels,
        labels! {
            "__meta_kubernetes_ingress_class_name" => "nginx",
            "__meta_kubernetes_ingress_name" => "site",
            "__meta_kubernetes_namespace" => "default"
        }
    );
    assert_eq!(
        ing.targets,
        vec![
            labels! {"__address__" => "a.example.com", "__meta_kubernetes_ingress_path" => "/api", "__meta_kubernetes_ingress_scheme" => "https"},
            labels! {"__address__" => "b.example.com", "__meta_kubernetes_ingress_path" => "/", "__meta_kubernetes_ingress_scheme" => "http"},
        ]
    );
}

#[tokio::test]
async fn kubeconfig_credentials() {
    let (server, log) = api_server().await;
    let dir = common::temp_dir("kubeconfig");
    std::fs::write(dir.join("token"), "file-token\n").unwrap();
    let kc = dir.join("config");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\ncontexts:\n- name: other\n  context: {{cluster: none, user: none}}\n\
             - name: test\n  context:\n    cluster: local\n    user: robot\n    namespace: default\nclusters:\n- name: local\n  cluster:\n    server: {server}/\n\
             users:\n- name: robot\n  user:\n    tokenFile: token\n"
        ),
    )
    .unwrap();
    let access = from_kubeconfig(&kc).unwrap();
    assert_eq!(access.server, server);
    assert_eq!(access.namespace.as_deref(), Some("default"));
    let cfg = config(&format!("role: node\nkubeconfig_file: {}\n", kc.display()));
    let d = KubernetesDiscovery::new(&cfg, None).unwrap();
    let (sink, mut rx) = Sink::channel(16);
    tokio::spawn(Box::new(d).run(sink));
    wait_for(&mut rx, |g| !g.is_empty()).await;
    assert_eq!(log.lock().unwrap()[0].header("authorization"), Some("Bearer file-token"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn api_errors_are_reported() {
    let (addr, _) = serve(|_| Resp::status(403, "forbidden")).await;
    let mut rx = start(&config("role: pod"), &format!("http://{addr}"));
    match next_event(&mut rx).await {
        Event::Error(e) => assert!(e.to_string().contains("403"), "{e}"),
        Event::Groups(g) => panic!("unexpected groups {g:?}"),
    }
}
