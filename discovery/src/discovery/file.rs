//! `file_sd_configs`: target groups from JSON or YAML files matched by patterns whose last
//! segment may hold one `*`.
//!
//! Files are watched by polling their modification time and size (every second by default,
//! no OS-specific watcher needed) and re-read in full every `refresh_interval`. A file that
//! fails to read or decode keeps its last good groups and is reported; a file that
//! disappears takes its groups with it. Each group gets `__meta_filepath`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::{BoxFuture, Discoverer, DiscoveryError, DiscoveryErrorKind, Sink, parse_static_configs, static_group};
use crate::config::FileSdConfig;
use crate::target::TargetGroup;

/// The `__meta_filepath` label.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// A file SD provider.
#[derive(Debug, Clone)]
pub struct FileDiscovery {
    patterns: Vec<String>,
    refresh: Duration,
    watch: Duration,
}

/// What was last read from one file.
struct FileState {
    stamp: Option<(SystemTime, u64)>,
    groups: Vec<TargetGroup>,
}

impl FileDiscovery {
    /// A provider for `cfg`.
    pub fn new(cfg: &FileSdConfig) -> Self {
        FileDiscovery {
            patterns: cfg.files.clone(),
            refresh: cfg.refresh_interval.get(),
            watch: Duration::from_secs(1),
        }
    }

    /// How often to check modification times.
    pub fn watch_interval(mut self, d: Duration) -> Self {
        self.watch = d;
        self
    }

    /// The files the patterns match now, sorted.
    pub fn matching_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for p in &self.patterns {
            let path = Path::new(p);
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let Some((prefix, suffix)) = name.split_once('*') else {
                if path.is_file() {
                    out.push(path.to_path_buf());
                }
                continue;
            };
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.len() >= prefix.len() + suffix.len()
                    && n.starts_with(prefix)
                    && n.ends_with(suffix)
                    && e.path().is_file()
                {
                    out.push(dir.join(n));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Reads one file into groups.
    pub fn read_file(path: &Path) -> Result<Vec<TargetGroup>, DiscoveryError> {
        let shown = path.display().to_string();
        let err = |kind| DiscoveryError { source: shown.clone(), kind };
        let bytes = std::fs::read(path).map_err(|e| err(DiscoveryErrorKind::Io(e.to_string())))?;
        let json = path.extension().is_some_and(|e| e == "json");
        let configs = parse_static_configs(&bytes, json).map_err(|m| err(DiscoveryErrorKind::Decode(m)))?;
        Ok(configs
            .iter()
            .enumerate()
            .map(|(i, c)| static_group(c, format!("{shown}:{i}"), [(FILEPATH_LABEL, shown.as_str())]))
            .collect())
    }

    fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
        let m = std::fs::metadata(path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    /// Re-scans; returns whether the published set changed and the errors met.
    fn scan(&self, files: &mut BTreeMap<PathBuf, FileState>, force: bool) -> (bool, Vec<DiscoveryError>) {
        let mut changed = false;
        let mut errors = Vec::new();
        let now = self.matching_files();
        let before = files.len();
        files.retain(|p, _| now.contains(p));
        changed |= files.len() != before;
        for p in now {
            let stamp = Self::stamp(&p);
            let state = files.entry(p.clone()).or_insert(FileState { stamp: None, groups: Vec::new() });
            if !force && state.stamp.is_some() && state.stamp == stamp {
                continue;
            }
            state.stamp = stamp;
            match Self::read_file(&p) {
                Ok(g) => {
                    if g != state.groups {
                        state.groups = g;
                        changed = true;
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        (changed, errors)
    }
}

impl Discoverer for FileDiscovery {
    fn run(self: Box<Self>, sink: Sink) -> BoxFuture {
        Box::pin(async move {
            let mut files = BTreeMap::new();
            let mut last_full = Instant::now();
            let mut first = true;
            loop {
                let force = last_full.elapsed() >= self.refresh;
                if force {
                    last_full = Instant::now();
                }
                let (changed, errors) = self.scan(&mut files, force);
                for e in errors {
                    if !sink.error(e).await {
                        return;
                    }
                }
                if changed || first {
                    first = false;
                    let all = files.values().flat_map(|s| s.groups.iter().cloned()).collect();
                    if !sink.groups(all).await {
                        return;
                    }
                }
                tokio::time::sleep(self.watch.min(self.refresh)).await;
                if sink.is_closed() {
                    return;
                }
            }
        })
    }
}
