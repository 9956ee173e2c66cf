//! Seeded, realistic-looking series for benches and footprint measurements.
//!
//! Two kinds of targets, in the proportions of a typical Kubernetes Prometheus:
//! - node_exporter hosts (`job="node"`, `instance="host-N:9100"`), 106 series each: CPU
//!   seconds with two decimals, memory and filesystem bytes that move by pages, load
//!   averages with two decimals, network and disk counters, temperatures with one
//!   decimal, clocks, info and status series that never change;
//! - kube-state-metrics pods (`job="kube-state-metrics"`), 14 series each with wide label
//!   sets (namespace, pod, uid, node, container, …) whose values are mostly constant.
//!
//! Label value cardinality ranges from 1 (`job`) to 10,000s (`pod`, `uid`, `instance`).
//! Scrapes are every 15 s; 5 % of timestamps carry a few milliseconds of jitter.
#![allow(dead_code)]

use ember_exposition::{Label, Labels};

/// SplitMix64: small, seeded, good enough for data generation.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How a series' value evolves from scrape to scrape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Never changes (info, status, sizes, requests).
    Constant(f64),
    /// Integer counter growing by about `rate` per scrape (0 = almost never).
    IntCounter { rate: f64 },
    /// Counter with `decimals` decimals growing by about `rate` per scrape.
    FloatCounter { rate: f64, decimals: i32 },
    /// Gauge moving by multiples of `step` on a fraction `p` of scrapes.
    Stepped { base: f64, step: f64, p: f64 },
    /// Gauge with `decimals` decimals, changing on a fraction `p` of scrapes.
    Decimal { base: f64, spread: f64, decimals: i32, p: f64 },
    /// A clock in seconds with millisecond-ish decimals, changing every scrape.
    Clock,
}

/// One generated series: labels, kind, and its evolving state.
pub struct GenSeries {
    pub labels: Labels,
    pub kind: Kind,
    value: f64,
    rng: Rng,
}

fn round(v: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (v * p).round() / p
}

impl GenSeries {
    fn new(labels: Labels, kind: Kind, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let value = match kind {
            Kind::Constant(v) => v,
            Kind::IntCounter { rate } => (rate * 1000.0 * rng.unit()).round(),
            Kind::FloatCounter { rate, decimals } => round(rate * 5000.0 * rng.unit(), decimals),
            Kind::Stepped { base, step, .. } => base + step * (rng.below(1000) as f64),
            Kind::Decimal { base, spread, decimals, .. } => round(base + spread * rng.unit(), decimals),
            Kind::Clock => 1.7e9,
        };
        GenSeries { labels, kind, value, rng }
    }

    /// The value of the next scrape at time `t` (ms).
    pub fn next_value(&mut self, t: i64) -> f64 {
        let r = &mut self.rng;
        self.value = match self.kind {
            Kind::Constant(v) => v,
            Kind::IntCounter { rate } => {
                if rate == 0.0 {
                    self.value + (r.below(500) == 0) as u64 as f64
                } else {
                    self.value + (rate * 2.0 * r.unit()).round()
                }
            }
            Kind::FloatCounter { rate, decimals } => round(self.value + rate * 2.0 * r.unit(), decimals),
            Kind::Stepped { step, p, .. } => {
                if r.unit() < p {
                    self.value + step * (r.below(64) as f64 - 31.0)
                } else {
                    self.value
                }
            }
            Kind::Decimal { base, spread, decimals, p } => {
                if r.unit() < p {
                    round(base + spread * r.unit(), decimals)
                } else {
                    self.value
                }
            }
            Kind::Clock => round(t as f64 / 1000.0 + r.unit() * 0.01, 6),
        };
        self.value
    }
}

/// The timestamp of scrape `k` of a series, with occasional jitter.
pub fn scrape_time(rng: &mut Rng, k: i64) -> i64 {
    let base = 1_700_000_000_000 + k * 15_000;
    if rng.below(20) == 0 { base + rng.below(7) as i64 - 3 } else { base }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_vec(pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect())
}

/// The 106 series of one node_exporter host.
pub fn node_host(host: usize, out: &mut Vec<GenSeries>) {
    let instance = format!("host-{host}:9100");
    let base = [("job", "node"), ("instance", instance.as_str())];
    let seed = (host as u64) << 20;
    let mut n = 0u64;
    let mut push = |name: &str, extra: &[(&str, &str)], kind: Kind| {
        let mut pairs: Vec<(&str, &str)> = vec![("__name__", name)];
        pairs.extend_from_slice(&base);
        pairs.extend_from_slice(extra);
        n += 1;
        out.push(GenSeries::new(labels(&pairs), kind, seed + n));
    };
    for cpu in ["0", "1", "2", "3"] {
        for (mode, rate) in [
            ("idle", 12.0),
            ("user", 2.0),
            ("system", 0.8),
            ("iowait", 0.05),
            ("irq", 0.0),
            ("nice", 0.0),
            ("softirq", 0.05),
            ("steal", 0.0),
        ] {
            let kind = if rate == 0.0 { Kind::Constant(0.0) } else { Kind::FloatCounter { rate, decimals: 2 } };
            push("node_cpu_seconds_total", &[("cpu", cpu), ("mode", mode)], kind);
        }
    }
    for (m, kind) in [
        ("node_memory_MemTotal_bytes", Kind::Constant(16_777_216_000.0)),
        ("node_memory_SwapTotal_bytes", Kind::Constant(2_147_479_552.0)),
        ("node_memory_MemFree_bytes", Kind::Stepped { base: 4e9, step: 4096.0, p: 0.6 }),
        ("node_memory_MemAvailable_bytes", Kind::Stepped { base: 9e9, step: 4096.0, p: 0.6 }),
        ("node_memory_Buffers_bytes", Kind::Stepped { base: 3e8, step: 4096.0, p: 0.2 }),
        ("node_memory_Cached_bytes", Kind::Stepped { base: 5e9, step: 4096.0, p: 0.4 }),
        ("node_memory_SwapFree_bytes", Kind::Constant(2_147_479_552.0)),
        ("node_memory_Active_bytes", Kind::Stepped { base: 6e9, step: 4096.0, p: 0.5 }),
        ("node_memory_Inactive_bytes", Kind::Stepped { base: 4e9, step: 4096.0, p: 0.3 }),
        ("node_memory_Dirty_bytes", Kind::Stepped { base: 1e6, step: 4096.0, p: 0.5 }),
    ] {
        push(m, &[], kind);
    }
    for m in ["node_load1", "node_load5", "node_load15"] {
        push(m, &[], Kind::Decimal { base: 0.2, spread: 2.0, decimals: 2, p: 0.9 });
    }
    for (dev, mp) in [("/dev/sda1", "/"), ("/dev/sda2", "/var"), ("tmpfs", "/run")] {
        let l = [("device", dev), ("fstype", "ext4"), ("mountpoint", mp)];
        push("node_filesystem_size_bytes", &l, Kind::Constant(107_374_182_400.0));
        push("node_filesystem_files", &l, Kind::Constant(6_553_600.0));
        push("node_filesystem_avail_bytes", &l, Kind::Stepped { base: 5e10, step: 4096.0, p: 0.3 });
        push("node_filesystem_free_bytes", &l, Kind::Stepped { base: 5.5e10, step: 4096.0, p: 0.3 });
        push("node_filesystem_files_free", &l, Kind::Stepped { base: 6e6, step: 1.0, p: 0.2 });
    }
    for dev in ["eth0", "lo"] {
        let l = [("device", dev)];
        push("node_network_receive_bytes_total", &l, Kind::IntCounter { rate: 150_000.0 });
        push("node_network_transmit_bytes_total", &l, Kind::IntCounter { rate: 90_000.0 });
        push("node_network_receive_packets_total", &l, Kind::IntCounter { rate: 300.0 });
        push("node_network_transmit_packets_total", &l, Kind::IntCounter { rate: 200.0 });
        push("node_network_receive_errs_total", &l, Kind::IntCounter { rate: 0.0 });
        push("node_network_transmit_errs_total", &l, Kind::IntCounter { rate: 0.0 });
        push("node_network_receive_drop_total", &l, Kind::IntCounter { rate: 0.0 });
        push("node_network_transmit_drop_total", &l, Kind::IntCounter { rate: 0.0 });
        push("node_network_up", &l, Kind::Constant(1.0));
        push("node_network_mtu_bytes", &l, Kind::Constant(1500.0));
    }
    for dev in ["sda", "sdb"] {
        let l = [("device", dev)];
        push("node_disk_reads_completed_total", &l, Kind::IntCounter { rate: 20.0 });
        push("node_disk_writes_completed_total", &l, Kind::IntCounter { rate: 60.0 });
        push("node_disk_read_bytes_total", &l, Kind::IntCounter { rate: 80_000.0 });
        push("node_disk_written_bytes_total", &l, Kind::IntCounter { rate: 250_000.0 });
        push("node_disk_io_time_seconds_total", &l, Kind::FloatCounter { rate: 0.3, decimals: 3 });
    }
    for chip in ["0", "1", "2", "3"] {
        push(
            "node_hwmon_temp_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", chip)],
            Kind::Decimal { base: 40.0, spread: 15.0, decimals: 0, p: 0.3 },
        );
    }
    push("node_uname_info", &[("release", "6.1.0-18-amd64"), ("machine", "x86_64")], Kind::Constant(1.0));
    push("node_boot_time_seconds", &[], Kind::Constant(1_699_000_000.0));
    push("node_time_seconds", &[], Kind::Clock);
    push("node_context_switches_total", &[], Kind::IntCounter { rate: 30_000.0 });
    push("node_intr_total", &[], Kind::IntCounter { rate: 20_000.0 });
    push("node_forks_total", &[], Kind::IntCounter { rate: 40.0 });
    push("node_procs_running", &[], Kind::Decimal { base: 1.0, spread: 4.0, decimals: 0, p: 0.5 });
    push("node_procs_blocked", &[], Kind::Decimal { base: 0.0, spread: 1.4, decimals: 0, p: 0.1 });
    push("up", &[], Kind::Constant(1.0));
    push("scrape_duration_seconds", &[], Kind::Decimal { base: 0.01, spread: 0.03, decimals: 6, p: 1.0 });
    push("scrape_samples_scraped", &[], Kind::Constant(1034.0));
    push("scrape_series_added", &[], Kind::Constant(0.0));
}

/// The 14 series of one kube-state-metrics pod.
pub fn ksm_pod(pod: usize, out: &mut Vec<GenSeries>) {
    let ns = format!("team-{}", pod % 50);
    let name = format!("app-{}-{:x}-{:05x}", pod % 700, (pod * 2_654_435_761) & 0xffff_ffff, pod & 0xfffff);
    let uid = format!("{:016x}-{:08x}", (pod as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15), pod);
    let node = format!("host-{}", pod % 6000);
    let container = format!("app-{}", pod % 700);
    let base =
        [("job", "kube-state-metrics"), ("instance", "10.0.0.7:8080"), ("namespace", ns.as_str()), ("pod", &name)];
    let seed = (1 << 60) | (pod as u64) << 20;
    let mut n = 0u64;
    let mut push = |metric: &str, extra: &[(&str, &str)], kind: Kind| {
        let mut pairs: Vec<(&str, &str)> = vec![("__name__", metric)];
        pairs.extend_from_slice(&base);
        pairs.extend_from_slice(extra);
        n += 1;
        out.push(GenSeries::new(labels(&pairs), kind, seed + n));
    };
    let ip = format!("10.{}.{}.{}", pod / 65536 % 256, pod / 256 % 256, pod % 256);
    push(
        "kube_pod_info",
        &[("uid", &uid), ("node", &node), ("pod_ip", &ip), ("created_by_kind", "ReplicaSet")],
        Kind::Constant(1.0),
    );
    for phase in ["Pending", "Running", "Succeeded", "Failed", "Unknown"] {
        push(
            "kube_pod_status_phase",
            &[("phase", phase), ("uid", &uid)],
            Kind::Constant((phase == "Running") as u8 as f64),
        );
    }
    for cond in ["true", "false", "unknown"] {
        push(
            "kube_pod_status_ready",
            &[("condition", cond), ("uid", &uid)],
            Kind::Constant((cond == "true") as u8 as f64),
        );
    }
    push(
        "kube_pod_container_resource_requests",
        &[("container", &container), ("resource", "cpu"), ("unit", "core")],
        Kind::Constant(0.25),
    );
    push(
        "kube_pod_container_resource_requests",
        &[("container", &container), ("resource", "memory"), ("unit", "byte")],
        Kind::Constant(268_435_456.0),
    );
    push("kube_pod_container_status_restarts_total", &[("container", &container)], Kind::IntCounter { rate: 0.0 });
    push("kube_pod_start_time", &[("uid", &uid)], Kind::Constant(1_699_500_000.0));
    push("kube_pod_owner", &[("owner_kind", "ReplicaSet"), ("owner_name", &container)], Kind::Constant(1.0));
}

/// About `n` series: 60 % node_exporter hosts, 40 % kube-state-metrics pods, interleaved
/// so any prefix has the same mix. Calls `f` per series so callers need not keep them.
pub fn for_each_series(n: usize, mut f: impl FnMut(GenSeries)) {
    let mut buf = Vec::new();
    let (mut hosts, mut pods, mut made) = (0usize, 0usize, 0usize);
    while made < n {
        // 106 node series per host, 14 per pod: 60/40 split by series count.
        if (hosts * 106) as f64 <= 0.6 * (made as f64 + 1.0) {
            node_host(hosts, &mut buf);
            hosts += 1;
        } else {
            ksm_pod(pods, &mut buf);
            pods += 1;
        }
        for s in buf.drain(..) {
            if made < n {
                f(s);
                made += 1;
            }
        }
    }
}

/// [`for_each_series`], collected.
pub fn series(n: usize) -> Vec<GenSeries> {
    let mut v = Vec::with_capacity(n);
    for_each_series(n, |s| v.push(s));
    v
}

/// Reads resident memory in bytes from /proc/self/statm (Linux).
pub fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
