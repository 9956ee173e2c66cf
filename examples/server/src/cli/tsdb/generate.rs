//! `ember tsdb generate-openmetrics`: a deterministic OpenMetrics data set for backfill
//! benchmarks and comparisons, shaped like node_exporter and kube-state-metrics output
//! (counters, gauges with few significant digits, request-latency histograms, pods that
//! come and go).

use std::io::{self, Write};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Number of series.
    pub series: usize,
    /// Span of the data, in milliseconds.
    pub duration_ms: i64,
    /// Scrape interval, in milliseconds.
    pub interval_ms: i64,
    /// Start time (Unix milliseconds).
    pub start_ms: i64,
    /// Seed of the pseudo-random generator.
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            series: 1000,
            duration_ms: 6 * 3600 * 1000,
            interval_ms: 15_000,
            start_ms: 1_700_000_000_000,
            seed: 1,
        }
    }
}

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How a family's values move.
#[derive(Clone, Copy)]
enum Shape {
    /// A counter in hundredths, growing by up to `rate` per scrape.
    Cents { rate: u64 },
    /// An integer counter growing by up to `rate` per scrape.
    Count { rate: u64 },
    /// A gauge around `base` with `digits` significant digits.
    Gauge { base: f64, digits: i32 },
    /// 0 or 1, flipping rarely.
    Flag,
    /// A classic histogram (`_bucket` per bound plus `+Inf`, `_count`, `_sum`) receiving up
    /// to `rate` observations per scrape. One histogram costs `bounds.len() + 3` series.
    Histogram { rate: u64, bounds: &'static [&'static str] },
}

/// Request-latency bucket bounds, written as OpenMetrics writes them.
const LATENCY_BOUNDS: &[&str] = &["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5"];

struct Family {
    name: &'static str,
    help: &'static str,
    counter: bool,
    /// Share of the series, in percent.
    share: usize,
    shape: Shape,
    /// Label names other than instance/job; values come from the series number.
    labels: &'static [(&'static str, &'static [&'static str])],
    /// Kubernetes objects: series live for part of the range.
    churn: bool,
}

const MODES: &[&str] = &["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"];
const DEVICES: &[&str] = &["eth0", "eth1", "lo", "docker0"];
const MOUNTS: &[&str] = &["/", "/boot", "/var/lib/docker", "/home"];
const NAMESPACES: &[&str] = &["default", "kube-system", "monitoring", "payments", "search", "checkout"];
const PHASES: &[&str] = &["Failed", "Pending", "Running", "Succeeded", "Unknown"];
const CODES: &[&str] = &["200", "201", "304", "400", "404", "500", "503"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];
const HANDLERS: &[&str] = &["/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/metrics", "/-/healthy"];
const RESOURCES: &[&str] = &["cpu", "memory"];

fn families() -> Vec<Family> {
    vec![
        Family {
            name: "node_cpu_seconds",
            help: "Seconds the CPUs spent in each mode.",
            counter: true,
            share: 30,
            shape: Shape::Cents { rate: 1500 },
            labels: &[("cpu", &["0", "1", "2", "3", "4", "5", "6", "7"]), ("mode", MODES)],
            churn: false,
        },
        Family {
            name: "node_network_receive_bytes",
            help: "Network device statistic receive_bytes.",
            counter: true,
            share: 8,
            shape: Shape::Count { rate: 2_000_000 },
            labels: &[("device", DEVICES)],
            churn: false,
        },
        Family {
            name: "node_filesystem_avail_bytes",
            help: "Filesystem space available to non-root users in bytes.",
            counter: false,
            share: 8,
            shape: Shape::Gauge { base: 5.0e10, digits: 4 },
            labels: &[
                ("device", &["/dev/sda1", "/dev/sda2", "/dev/nvme0n1p1", "/dev/nvme0n1p2"]),
                ("mountpoint", MOUNTS),
            ],
            churn: false,
        },
        Family {
            name: "node_memory_MemAvailable_bytes",
            help: "Memory information field MemAvailable_bytes.",
            counter: false,
            share: 4,
            shape: Shape::Gauge { base: 8.0e9, digits: 5 },
            labels: &[],
            churn: false,
        },
        Family {
            name: "node_load1",
            help: "1m load average.",
            counter: false,
            share: 4,
            shape: Shape::Gauge { base: 2.0, digits: 3 },
            labels: &[],
            churn: false,
        },
        Family {
            name: "http_requests",
            help: "Requests handled, by code, method and handler.",
            counter: true,
            share: 16,
            shape: Shape::Count { rate: 40 },
            labels: &[("code", CODES), ("handler", HANDLERS), ("method", METHODS)],
            churn: false,
        },
        Family {
            name: "http_request_duration_seconds",
            help: "Request latency, by handler and method.",
            counter: false,
            share: 11,
            shape: Shape::Histogram { rate: 60, bounds: LATENCY_BOUNDS },
            labels: &[("handler", HANDLERS), ("method", METHODS)],
            churn: false,
        },
        Family {
            name: "kube_pod_status_phase",
            help: "The pods current phase.",
            counter: false,
            share: 20,
            shape: Shape::Flag,
            labels: &[("namespace", NAMESPACES), ("phase", PHASES)],
            churn: true,
        },
        Family {
            name: "kube_pod_container_resource_requests",
            help: "The number of requested request resource by a container.",
            counter: false,
            share: 10,
            shape: Shape::Gauge { base: 0.5, digits: 2 },
            labels: &[("namespace", NAMESPACES), ("resource", RESOURCES)],
            churn: true,
        },
    ]
}

/// Rounds `v` to `digits` significant digits.
fn round_sig(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let p = 10f64.powi(digits - 1 - v.abs().log10().floor() as i32);
    (v * p).round() / p
}

fn write_seconds(out: &mut Vec<u8>, ms: i64) {
    let _ = write!(out, "{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000));
}

/// Writes the data set to `out`: families one after another, each series' samples
/// together and in time order, then `# EOF`. Returns the number of samples.
pub fn generate(opts: &GenerateOptions, out: &mut dyn Write) -> io::Result<u64> {
    let mut rng = Rng(opts.seed);
    let fams = families();
    let total_share: usize = fams.iter().map(|f| f.share).sum();
    let steps = (opts.duration_ms / opts.interval_ms.max(1)).max(1);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut samples = 0u64;
    let mut left = opts.series;
    for (fi, f) in fams.iter().enumerate() {
        let n = if fi + 1 == fams.len() { left } else { (opts.series * f.share / total_share).min(left) };
        if let Shape::Histogram { bounds, .. } = f.shape {
            // Whole histograms only; what is left over goes to the next families.
            let per = bounds.len() + 3;
            let h = n / per;
            left -= h * per;
            if h > 0 {
                let _ = writeln!(buf, "# HELP {} {}", f.name, f.help);
                let _ = writeln!(buf, "# TYPE {} histogram", f.name);
            }
            for k in 0..h {
                samples += write_histogram(&mut buf, f, bounds, k, opts, steps, &mut rng);
                if buf.len() >= 1 << 20 {
                    out.write_all(&buf)?;
                    buf.clear();
                }
            }
            continue;
        }
        left -= n;
        if n == 0 {
            continue;
        }
        let _ = writeln!(buf, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(buf, "# TYPE {} {}", f.name, if f.counter { "counter" } else { "gauge" });
        let combos: usize = f.labels.iter().map(|(_, vs)| vs.len()).product::<usize>().max(1);
        let mut line_prefix = String::new();
        for k in 0..n {
            // Label values from k in mixed radix; the rest of k picks the instance/pod.
            line_prefix.clear();
            line_prefix.push_str(f.name);
            if f.counter {
                line_prefix.push_str("_total");
            }
            line_prefix.push('{');
            let owner = k / combos;
            let mut rest = k % combos;
            let mut parts: Vec<(String, String)> = Vec::with_capacity(f.labels.len() + 3);
            for (name, vs) in f.labels.iter().rev() {
                parts.push((name.to_string(), vs[rest % vs.len()].to_string()));
                rest /= vs.len();
            }
            if f.churn {
                parts.push((
                    "pod".into(),
                    format!("{}-{:x}", f.name.split('_').nth(1).unwrap_or("pod"), owner * 7919 % 65_521 + 4096),
                ));
                parts.push(("uid".into(), format!("{:016x}", (owner as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))));
                parts.push(("job".into(), "kube-state-metrics".into()));
            } else {
                parts.push((
                    "instance".into(),
                    format!("10.{}.{}.{}:9100", owner / 65_536 % 256, owner / 256 % 256, owner % 256),
                ));
                parts.push(("job".into(), "node".into()));
            }
            parts.sort();
            for (i, (n, v)) in parts.iter().enumerate() {
                if i > 0 {
                    line_prefix.push(',');
                }
                line_prefix.push_str(n);
                line_prefix.push_str("=\"");
                line_prefix.push_str(v);
                line_prefix.push('"');
            }
            line_prefix.push_str("} ");

            // Lifetime: a quarter of the Kubernetes series start late or end early.
            let (mut from, mut to) = (0, steps);
            if f.churn && rng.below(4) == 0 {
                from = rng.below(steps as u64 / 2) as i64;
                to = from + 1 + rng.below((steps - from) as u64) as i64;
            }
            let offset = rng.below(opts.interval_ms as u64) as i64;
            let (mut cents, mut count) = (rng.below(1_000_000), rng.below(1_000_000_000));
            let scale = 0.5 + rng.unit();
            let mut flag = u64::from(rng.below(5) == 0);
            for step in from..to {
                // Scrapes land a few milliseconds late now and then.
                let jitter = if rng.below(8) == 0 { rng.below(4) as i64 } else { 0 };
                let t = opts.start_ms + offset + step * opts.interval_ms + jitter;
                buf.extend_from_slice(line_prefix.as_bytes());
                match f.shape {
                    Shape::Cents { rate } => {
                        cents += rng.below(rate);
                        let _ = write!(buf, "{}.{:02}", cents / 100, cents % 100);
                    }
                    Shape::Count { rate } => {
                        count += rng.below(rate);
                        let _ = write!(buf, "{count}");
                    }
                    Shape::Gauge { base, digits } => {
                        let v = round_sig(base * scale * (1.0 + 0.05 * (rng.unit() - 0.5)), digits);
                        let _ = write!(buf, "{v}");
                    }
                    Shape::Flag => {
                        if rng.below(200) == 0 {
                            flag ^= 1;
                        }
                        let _ = write!(buf, "{flag}");
                    }
                    Shape::Histogram { .. } => unreachable!("histogram families are written by write_histogram"),
                }
                buf.push(b' ');
                write_seconds(&mut buf, t);
                buf.push(b'\n');
                samples += 1;
                if buf.len() >= 1 << 20 {
                    out.write_all(&buf)?;
                    buf.clear();
                }
            }
        }
    }
    buf.extend_from_slice(b"# EOF\n");
    out.write_all(&buf)?;
    out.flush()?;
    Ok(samples)
}

/// The label set of series `k` of a family without churn: the family's labels in mixed
/// radix, then `instance` and `job`, sorted by name, as `name="value"` pairs joined by `,`.
fn node_labels(f: &Family, k: usize) -> String {
    let combos: usize = f.labels.iter().map(|(_, vs)| vs.len()).product::<usize>().max(1);
    let owner = k / combos;
    let mut rest = k % combos;
    let mut parts: Vec<(&str, String)> = Vec::with_capacity(f.labels.len() + 2);
    for (name, vs) in f.labels.iter().rev() {
        parts.push((name, vs[rest % vs.len()].to_string()));
        rest /= vs.len();
    }
    parts.push(("instance", format!("10.{}.{}.{}:9100", owner / 65_536 % 256, owner / 256 % 256, owner % 256)));
    parts.push(("job", "node".into()));
    parts.sort();
    parts.iter().map(|(n, v)| format!("{n}=\"{v}\"")).collect::<Vec<_>>().join(",")
}

/// Writes histogram `k` of `f` for every step; returns the number of samples written.
fn write_histogram(
    buf: &mut Vec<u8>,
    f: &Family,
    bounds: &[&str],
    k: usize,
    opts: &GenerateOptions,
    steps: i64,
    rng: &mut Rng,
) -> u64 {
    let Shape::Histogram { rate, .. } = f.shape else { return 0 };
    let labels = node_labels(f, k);
    let limits: Vec<f64> = bounds.iter().map(|b| b.parse().unwrap_or(f64::INFINITY)).collect();
    // Per-bucket counts (not cumulative; the last is above every bound) and the sum in
    // microseconds, so the text stays exact.
    let mut counts = vec![0u64; bounds.len() + 1];
    let mut sum_us: u64 = 0;
    // Each histogram has its own typical latency.
    let typical = 0.01 + 0.3 * rng.unit();
    let offset = rng.below(opts.interval_ms as u64) as i64;
    let mut samples = 0;
    for step in 0..steps {
        for _ in 0..rng.below(rate) {
            // Roughly log-normal: the typical latency scaled by e^(±2).
            let v = typical * (4.0 * (rng.unit() - 0.5)).exp();
            let b = limits.iter().position(|l| v <= *l).unwrap_or(bounds.len());
            counts[b] += 1;
            sum_us += (v * 1e6) as u64;
        }
        let jitter = if rng.below(8) == 0 { rng.below(4) as i64 } else { 0 };
        let t = opts.start_ms + offset + step * opts.interval_ms + jitter;
        let mut cumulative = 0;
        for (i, le) in bounds.iter().chain(std::iter::once(&"+Inf")).enumerate() {
            cumulative += counts[i];
            let _ = write!(buf, "{}_bucket{{{labels},le=\"{le}\"}} {cumulative} ", f.name);
            write_seconds(buf, t);
            buf.push(b'\n');
        }
        let _ = write!(buf, "{}_count{{{labels}}} {cumulative} ", f.name);
        write_seconds(buf, t);
        let _ = write!(buf, "\n{}_sum{{{labels}}} {}.{:06} ", f.name, sum_us / 1_000_000, sum_us % 1_000_000);
        write_seconds(buf, t);
        buf.push(b'\n');
        samples += bounds.len() as u64 + 3;
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid() {
        let opts = GenerateOptions { series: 50, duration_ms: 3_600_000, ..GenerateOptions::default() };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let n = generate(&opts, &mut a).unwrap();
        generate(&opts, &mut b).unwrap();
        assert_eq!(a, b);
        assert!(n > 50 * 100, "{n}");
        let families = ember_exposition::openmetrics::parse(std::str::from_utf8(&a).unwrap()).unwrap();
        let series: usize = families
            .iter()
            .map(|f| {
                let mut s: Vec<_> = f.samples.iter().map(|s| (s.name.clone(), s.labels.clone())).collect();
                s.dedup();
                s.len()
            })
            .sum();
        assert_eq!(series, 50);
        // With enough series the histogram family is there, with whole histograms.
        let opts = GenerateOptions { series: 400, duration_ms: 600_000, ..GenerateOptions::default() };
        let mut a = Vec::new();
        generate(&opts, &mut a).unwrap();
        let families = ember_exposition::openmetrics::parse(std::str::from_utf8(&a).unwrap()).unwrap();
        let h = families.iter().find(|f| f.name == "http_request_duration_seconds").expect("histogram family");
        assert_eq!(h.metric_type, ember_exposition::MetricType::Histogram);
        let mut s: Vec<_> = h.samples.iter().map(|s| (s.name.clone(), s.labels.clone())).collect();
        s.sort();
        s.dedup();
        assert!(!s.is_empty() && s.len() % 12 == 0, "{}", s.len());
        let total: usize = families
            .iter()
            .map(|f| {
                let mut s: Vec<_> = f.samples.iter().map(|s| (s.name.clone(), s.labels.clone())).collect();
                s.sort();
                s.dedup();
                s.len()
            })
            .sum();
        assert_eq!(total, 400);
    }

    #[test]
    fn rounding() {
        assert_eq!(round_sig(123_456.0, 3), 123_000.0);
        assert_eq!(round_sig(0.012_345, 2), 0.012);
    }
}
