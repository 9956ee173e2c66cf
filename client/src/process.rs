//! [`ProcessCollector`]: the `process_*` metrics Prometheus clients expose, from Linux `/proc`.

use std::fs;

use ember_exposition::{Labels, MetricFamily, MetricType, Sample};

use crate::registry::Collector;

/// Linux's `USER_HZ`: the unit of the CPU times in `/proc/<pid>/stat` (fixed by the ABI).
const USER_HZ: f64 = 100.0;

/// Exposes CPU seconds, resident and virtual memory, open and maximum file descriptors and
/// the start time of a process (this one by default), read from `/proc` at every scrape.
///
/// Values that cannot be read (another OS, a vanished process) are left out, never faked.
#[derive(Debug, Clone)]
pub struct ProcessCollector {
    proc_dir: String,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector { proc_dir: "/proc/self".into() }
    }
}

fn gauge(name: &str, help: &str, t: MetricType, sample: &str, v: f64) -> MetricFamily {
    let mut f = MetricFamily::new(name, t);
    f.help = Some(help.into());
    f.samples.push(Sample::new(sample, Labels::empty(), v));
    f
}

/// The fields of `/proc/<pid>/stat` after the command name (field 3 is index 0).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().collect())
}

impl ProcessCollector {
    /// The collector for this process.
    pub fn new() -> Self {
        Self::default()
    }

    /// The collector for another process of this machine.
    pub fn for_pid(pid: u32) -> Self {
        ProcessCollector { proc_dir: format!("/proc/{pid}") }
    }

    fn read(&self, file: &str) -> Option<String> {
        fs::read_to_string(format!("{}/{file}", self.proc_dir)).ok()
    }
}

impl Collector for ProcessCollector {
    fn collect(&self) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        let stat = self.read("stat");
        if let Some(f) = stat.as_deref().and_then(stat_fields) {
            // Field numbers as in proc(5): utime 14, stime 15, starttime 22, vsize 23.
            let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok());
            if let (Some(u), Some(s)) = (field(14), field(15)) {
                out.push(gauge(
                    "process_cpu_seconds",
                    "Total user and system CPU time spent in seconds.",
                    MetricType::Counter,
                    "process_cpu_seconds_total",
                    (u + s) / USER_HZ,
                ));
            }
            if let Some(v) = field(23) {
                out.push(gauge(
                    "process_virtual_memory_bytes",
                    "Virtual memory size in bytes.",
                    MetricType::Gauge,
                    "process_virtual_memory_bytes",
                    v,
                ));
            }
            let btime = fs::read_to_string("/proc/stat").ok().and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse::<f64>().ok())
            });
            if let (Some(start), Some(btime)) = (field(22), btime) {
                out.push(gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    MetricType::Gauge,
                    "process_start_time_seconds",
                    btime + start / USER_HZ,
                ));
            }
        }
        let rss = self.read("status").and_then(|s| {
            let line = s.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
            line.trim().strip_suffix("kB")?.trim().parse::<f64>().ok()
        });
        if let Some(kb) = rss {
            out.push(gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                MetricType::Gauge,
                "process_resident_memory_bytes",
                kb * 1024.0,
            ));
        }
        if let Ok(dir) = fs::read_dir(format!("{}/fd", self.proc_dir)) {
            out.push(gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                MetricType::Gauge,
                "process_open_fds",
                dir.count() as f64,
            ));
        }
        let max_fds = self.read("limits").and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Max open files"))?;
            line["Max open files".len()..].split_whitespace().next()?.parse::<f64>().ok()
        });
        if let Some(m) = max_fds {
            out.push(gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                MetricType::Gauge,
                "process_max_fds",
                m,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_the_name() {
        let f = stat_fields("42 (a b) c) S 1 2 3").unwrap();
        assert_eq!(f, vec!["S", "1", "2", "3"]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let fams = ProcessCollector::new().collect();
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        for want in [
            "process_cpu_seconds",
            "process_virtual_memory_bytes",
            "process_start_time_seconds",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let start = fams.iter().find(|f| f.name == "process_start_time_seconds").unwrap().samples[0].value;
        let now = crate::exemplar::now_seconds();
        assert!(start > now - 86_400.0 * 365.0 && start <= now + 1.0, "start time {start} vs now {now}");
        let rss = fams.iter().find(|f| f.name == "process_resident_memory_bytes").unwrap().samples[0].value;
        assert!(rss > 1e5, "rss {rss}");
    }
}
