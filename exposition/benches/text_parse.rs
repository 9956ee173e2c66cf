//! How fast do the text-format parsers and encoder go, against `prometheus-parse`?
//!
//! Two generated payloads (fixed seed): a node_exporter-like scrape of ~2,000 samples,
//! and 50,000 series with 8 labels each. Throughput is in bytes of exposition text.
//! Streaming parse touches every value, timestamp and label, as an ingester would.

use std::fmt::Write;
use std::hint::black_box;
use std::io;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_exposition::{Entry, openmetrics, text};

/// A small, fixed-seed generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn value(&mut self) -> f64 {
        match self.below(4) {
            0 => self.below(100_000) as f64,
            1 => self.below(1 << 40) as f64 / 1024.0,
            2 => (self.next() >> 11) as f64 / (1u64 << 53) as f64,
            _ => self.below(1_000_000) as f64 * 1e3,
        }
    }
}

/// Families shaped like a node_exporter scrape: CPU modes, filesystems, network
/// devices, disk histograms, plus many single-sample gauges.
fn node_exporter_like() -> String {
    let mut r = Rng(0x5eed_0001);
    let mut s = String::new();
    let mut samples = 0;
    writeln!(s, "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.").unwrap();
    writeln!(s, "# TYPE node_cpu_seconds_total counter").unwrap();
    for cpu in 0..32 {
        for mode in ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"] {
            writeln!(s, "node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}} {}", r.value()).unwrap();
            samples += 1;
        }
    }
    for metric in ["avail_bytes", "free_bytes", "size_bytes", "files", "files_free", "readonly"] {
        writeln!(s, "# HELP node_filesystem_{metric} Filesystem {metric}.").unwrap();
        writeln!(s, "# TYPE node_filesystem_{metric} gauge").unwrap();
        for dev in 0..20 {
            writeln!(
                s,
                "node_filesystem_{metric}{{device=\"/dev/sd{dev}\",fstype=\"ext4\",mountpoint=\"/mnt/data{dev}\"}} {}",
                r.value()
            )
            .unwrap();
            samples += 1;
        }
    }
    for metric in ["receive_bytes", "transmit_bytes", "receive_packets", "transmit_packets", "receive_errs"] {
        writeln!(s, "# HELP node_network_{metric}_total Network device statistic {metric}.").unwrap();
        writeln!(s, "# TYPE node_network_{metric}_total counter").unwrap();
        for dev in 0..40 {
            writeln!(s, "node_network_{metric}_total{{device=\"eth{dev}\"}} {}", r.value()).unwrap();
            samples += 1;
        }
    }
    writeln!(s, "# HELP node_disk_io_duration_seconds Disk I/O latency.").unwrap();
    writeln!(s, "# TYPE node_disk_io_duration_seconds histogram").unwrap();
    for dev in 0..16 {
        let mut cum = 0;
        for le in ["0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"] {
            cum += r.below(1000);
            writeln!(s, "node_disk_io_duration_seconds_bucket{{device=\"sd{dev}\",le=\"{le}\"}} {cum}").unwrap();
            samples += 1;
        }
        writeln!(s, "node_disk_io_duration_seconds_sum{{device=\"sd{dev}\"}} {}", r.value()).unwrap();
        writeln!(s, "node_disk_io_duration_seconds_count{{device=\"sd{dev}\"}} {cum}").unwrap();
        samples += 2;
    }
    let mut i = 0;
    while samples < 2000 {
        writeln!(s, "# HELP node_misc_metric_{i} Some scalar statistic number {i}.").unwrap();
        writeln!(s, "# TYPE node_misc_metric_{i} gauge").unwrap();
        writeln!(s, "node_misc_metric_{i} {}", r.value()).unwrap();
        samples += 1;
        i += 1;
    }
    s
}

/// 50,000 series with 8 labels each, in 50 families, with millisecond timestamps.
fn series_50k() -> String {
    let mut r = Rng(0x5eed_0002);
    let mut s = String::new();
    for f in 0..50 {
        writeln!(s, "# HELP app_request_stat_{f} Request statistic {f}.").unwrap();
        writeln!(s, "# TYPE app_request_stat_{f} gauge").unwrap();
        for _ in 0..1000 {
            write!(
                s,
                "app_request_stat_{f}{{cluster=\"prod-eu-{}\",namespace=\"team-{}\",pod=\"api-{:08x}\",\
                 container=\"server\",method=\"{}\",route=\"/api/v1/items/{}\",status=\"{}\",instance=\"10.0.{}.{}:8080\"}} ",
                r.below(4),
                r.below(30),
                r.next() as u32,
                ["GET", "POST", "PUT", "DELETE"][r.below(4) as usize],
                r.below(200),
                [200, 201, 404, 500][r.below(4) as usize],
                r.below(256),
                r.below(256),
            )
            .unwrap();
            writeln!(s, "{} {}", r.value(), 1_700_000_000_000u64 + r.below(100_000)).unwrap();
        }
    }
    s
}

fn touch(entry: Entry<'_>, acc: &mut f64) {
    if let Entry::Sample(s) = entry {
        *acc += s.value + s.timestamp.unwrap_or(0) as f64;
        for (n, v) in s.labels.iter() {
            *acc += (n.len() ^ v.len()) as f64;
        }
    }
}

fn bench_payload(c: &mut Criterion, name: &str, input: &str) {
    let families = text::parse(input).unwrap();
    let mut om = String::new();
    openmetrics::encode(&mut om, &families).unwrap();
    let samples: usize = families.iter().map(|f| f.samples.len()).sum();
    eprintln!("{name}: {} bytes, {samples} samples, {} families", input.len(), families.len());

    let mut g = c.benchmark_group(format!("text_parse/{name}"));
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("ember_streaming", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for e in text::Parser::new(black_box(input)) {
                touch(e.unwrap(), &mut acc);
            }
            acc
        })
    });
    g.bench_function("ember_owned", |b| b.iter(|| text::parse(black_box(input)).unwrap()));
    g.bench_function("prometheus_parse", |b| {
        b.iter(|| {
            let lines = black_box(input).lines().map(|l| Ok::<_, io::Error>(l.to_owned()));
            prometheus_parse::Scrape::parse(lines).unwrap()
        })
    });
    g.bench_function("ember_encode", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(input.len());
            text::encode(&mut out, black_box(&families)).unwrap();
            out
        })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("openmetrics_parse/{name}"));
    g.throughput(Throughput::Bytes(om.len() as u64));
    g.bench_function("ember_streaming", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for e in openmetrics::Parser::new(black_box(&om)) {
                touch(e.unwrap(), &mut acc);
            }
            acc
        })
    });
    g.bench_function("ember_encode", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(om.len());
            openmetrics::encode(&mut out, black_box(&families)).unwrap();
            out
        })
    });
    g.finish();
}

/// This process's user+system CPU time in seconds (Linux `/proc/self/stat`, 100 Hz ticks).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Throughput by CPU time rather than wall time, so a loaded machine does not skew the
/// comparison: runs `f` for about `secs` CPU seconds and returns MB/s (10^6 bytes).
fn cpu_throughput(bytes: usize, secs: f64, mut f: impl FnMut()) -> Option<f64> {
    let start = cpu_seconds()?;
    let mut runs = 0u64;
    loop {
        f();
        runs += 1;
        let used = cpu_seconds()? - start;
        if used >= secs {
            return Some(bytes as f64 * runs as f64 / used / 1e6);
        }
    }
}

/// Prints CPU-time throughput of streaming parse against `prometheus-parse` for the
/// 50k-series payload (set `EMBER_BENCH_CPU_SECS`, default 2, to 0 to skip).
fn cpu_time_comparison() {
    let secs: f64 = std::env::var("EMBER_BENCH_CPU_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    if secs <= 0.0 {
        return;
    }
    let input = series_50k();
    let streaming = cpu_throughput(input.len(), secs, || {
        let mut acc = 0.0;
        for e in text::Parser::new(black_box(&input)) {
            touch(e.unwrap(), &mut acc);
        }
        black_box(acc);
    });
    let peer = cpu_throughput(input.len(), secs, || {
        let lines = black_box(&input).lines().map(|l| Ok::<_, io::Error>(l.to_owned()));
        black_box(prometheus_parse::Scrape::parse(lines).unwrap());
    });
    if let (Some(s), Some(p)) = (streaming, peer) {
        eprintln!(
            "series_50k by CPU time: ember streaming {s:.0} MB/s, prometheus-parse {p:.1} MB/s, ratio {:.1}x",
            s / p
        );
    }
}

fn benches(c: &mut Criterion) {
    cpu_time_comparison();
    bench_payload(c, "node_exporter", &node_exporter_like());
    bench_payload(c, "series_50k", &series_50k());
}

criterion_group! {
    name = text_parse;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(text_parse);
