//! Question: what does target building cost per target, next to the relabeling it wraps?
//!
//! Kubernetes-like pod targets (seeded), a typical relabel config (keep on an annotation,
//! labelmap of pod labels, namespace/pod copies). `build` is the whole
//! `TargetBuilder::build`; `relabel_only` runs just `relabel::process` over the same
//! discovered label sets, the floor target building cannot go below.

use criterion::{Criterion, criterion_group, criterion_main};
use ember_discovery::config::Config;
use ember_discovery::target::{TargetBuilder, TargetGroup};
use ember_exposition::Labels;
use ember_exposition::relabel::process;

const CONFIG: &str = r#"
scrape_configs:
  - job_name: pods
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: "true"
      - action: labelmap
        regex: __meta_kubernetes_pod_label_(.+)
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
"#;

/// A small deterministic generator (64-bit LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn groups(n_groups: usize, per_group: usize) -> Vec<TargetGroup> {
    let mut rng = Rng(42);
    (0..n_groups)
        .map(|g| {
            let mut labels: Vec<(String, String)> = vec![
                ("__meta_kubernetes_namespace".into(), format!("ns-{}", rng.next() % 20)),
                ("__meta_kubernetes_pod_name".into(), format!("pod-{g}")),
                ("__meta_kubernetes_pod_ip".into(), format!("10.{}.{}.{}", g / 65536 % 256, g / 256 % 256, g % 256)),
                ("__meta_kubernetes_pod_annotation_prometheus_io_scrape".into(), (rng.next() % 4 != 0).to_string()),
                ("__meta_kubernetes_pod_node_name".into(), format!("node-{}", rng.next() % 50)),
                ("__meta_kubernetes_pod_phase".into(), "Running".into()),
                ("__meta_kubernetes_pod_ready".into(), "true".into()),
            ];
            for i in 0..6 {
                labels.push((format!("__meta_kubernetes_pod_label_l{i}"), format!("v{}", rng.next() % 100)));
                labels.push((format!("__meta_kubernetes_pod_labelpresent_l{i}"), "true".into()));
            }
            let targets = (0..per_group)
                .map(|p| {
                    Labels::from_pairs([
                        ("__address__".to_string(), format!("10.0.{}.{}:{}", g % 256, p, 8000 + p)),
                        ("__meta_kubernetes_pod_container_name".to_string(), format!("c{p}")),
                        ("__meta_kubernetes_pod_container_port_number".to_string(), (8000 + p).to_string()),
                    ])
                })
                .collect();
            TargetGroup { source: format!("pod/ns/pod-{g}"), targets, labels: Labels::from_pairs(labels) }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let cfg = Config::from_yaml(CONFIG).unwrap();
    let sc = &cfg.scrape_configs[0];
    let builder = TargetBuilder::new(sc).unwrap();
    let rules = sc.target_relabel().unwrap();
    let groups = groups(1000, 3);
    let discovered: Vec<Labels> =
        groups.iter().flat_map(|g| g.targets.iter().map(|t| builder.discovered_labels(&g.labels, t))).collect();
    let mut group = c.benchmark_group("target");
    group.throughput(criterion::Throughput::Elements(discovered.len() as u64));
    group.bench_function("build_3000", |b| b.iter(|| builder.build(&groups)));
    group.bench_function("relabel_only_3000", |b| {
        b.iter(|| discovered.iter().filter_map(|l| process(l, &rules)).count())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
