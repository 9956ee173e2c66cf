//! Silences: create, update, expire, query, persist, garbage-collect.
//!
//! Persistence is a JSON snapshot written to `<path>.tmp`, fsynced, and renamed over
//! `<path>` after every change, so a crash leaves either the old or the new file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ember_exposition::{Labels, MatchType, Matcher, Timestamp};
use serde::{Deserialize, Serialize};

use super::error::{SilenceError, SilenceErrorKind};

/// A silence: alerts matching every matcher are muted between `starts_at` and `ends_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    /// The ID; empty when creating.
    pub id: String,
    /// Matchers an alert must satisfy to be silenced.
    pub matchers: Vec<Matcher>,
    /// Start (Unix ms).
    pub starts_at: Timestamp,
    /// End (Unix ms).
    pub ends_at: Timestamp,
    /// Last change (Unix ms), set by [`Silences`].
    pub updated_at: Timestamp,
    /// Author.
    pub created_by: String,
    /// Comment.
    pub comment: String,
}

/// A silence's state at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SilenceState {
    /// Starts in the future.
    Pending,
    /// Muting now.
    Active,
    /// Ended.
    Expired,
}

impl Silence {
    /// The state at `now`.
    pub fn state(&self, now: Timestamp) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether the silence's matchers all accept `labels` (whatever its state).
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches_labels(labels))
    }
}

/// The silence store.
#[derive(Debug)]
pub struct Silences {
    by_id: HashMap<String, Silence>,
    retention_ms: i64,
    path: Option<PathBuf>,
    seq: u64,
}

/// Default retention of expired silences (Alertmanager's `--data.retention`).
pub const DEFAULT_SILENCE_RETENTION_MS: i64 = 120 * 3_600_000;

impl Silences {
    /// An in-memory store keeping expired silences for `retention_ms`.
    pub fn new(retention_ms: i64) -> Self {
        Silences { by_id: HashMap::new(), retention_ms, path: None, seq: 0 }
    }

    /// A store persisted to `path`, loading the snapshot there if it exists.
    pub fn open(path: impl Into<PathBuf>, retention_ms: i64) -> Result<Self, SilenceError> {
        let path = path.into();
        let mut s = Silences::new(retention_ms);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let snap: Snapshot = serde_json::from_slice(&bytes).map_err(|e| SilenceError {
                    id: None,
                    kind: SilenceErrorKind::Corrupt(format!("{}: {e}", path.display())),
                })?;
                for rs in snap.silences {
                    let sil = rs.into_silence()?;
                    s.by_id.insert(sil.id.clone(), sil);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path, e)),
        }
        s.path = Some(path);
        Ok(s)
    }

    /// Creates a silence (empty `id`) or updates one, returning its ID.
    ///
    /// As in Alertmanager, an update that changes the matchers, moves the start of an
    /// active silence, ends it in the past, or touches an expired one instead expires
    /// the old silence (if active) and creates a new one with a new ID.
    pub fn set(&mut self, mut s: Silence, now: Timestamp) -> Result<String, SilenceError> {
        validate(&s)?;
        s.updated_at = now;
        if !s.id.is_empty() {
            let prev = self
                .by_id
                .get(&s.id)
                .cloned()
                .ok_or_else(|| SilenceError { id: Some(s.id.clone()), kind: SilenceErrorKind::NotFound })?;
            if can_update(&prev, &s, now) {
                let id = s.id.clone();
                self.by_id.insert(id.clone(), s);
                self.persist()?;
                return Ok(id);
            }
            if prev.state(now) != SilenceState::Expired {
                self.expire_in_place(&prev.id, now);
            }
        }
        if s.ends_at <= now {
            return Err(SilenceError {
                id: None,
                kind: SilenceErrorKind::Invalid("end time can't be in the past".into()),
            });
        }
        if s.starts_at < now {
            s.starts_at = now;
        }
        s.id = self.new_id(now);
        let id = s.id.clone();
        self.by_id.insert(id.clone(), s);
        self.persist()?;
        Ok(id)
    }

    /// Expires the silence now.
    pub fn expire(&mut self, id: &str, now: Timestamp) -> Result<(), SilenceError> {
        let s =
            self.by_id.get(id).ok_or_else(|| SilenceError { id: Some(id.into()), kind: SilenceErrorKind::NotFound })?;
        if s.state(now) == SilenceState::Expired {
            return Err(SilenceError { id: Some(id.into()), kind: SilenceErrorKind::AlreadyExpired });
        }
        self.expire_in_place(id, now);
        self.persist()
    }

    fn expire_in_place(&mut self, id: &str, now: Timestamp) {
        if let Some(s) = self.by_id.get_mut(id) {
            if s.state(now) == SilenceState::Pending {
                s.starts_at = now;
            }
            s.ends_at = now;
            s.updated_at = now;
        }
    }

    /// The silence with this ID.
    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.by_id.get(id)
    }

    /// Silences whose matchers satisfy every `filter` matcher (as Alertmanager's
    /// `GET /api/v2/silences?filter=` does: a silence's equality matchers are read as
    /// labels), optionally only those in one of `states`; sorted by ID.
    pub fn query(&self, filter: &[Matcher], states: Option<&[SilenceState]>, now: Timestamp) -> Vec<&Silence> {
        let mut out: Vec<&Silence> = self
            .by_id
            .values()
            .filter(|s| states.is_none_or(|st| st.contains(&s.state(now))))
            .filter(|s| {
                filter.iter().all(|f| {
                    let v = s.matchers.iter().find(|m| m.name() == f.name()).map(|m| m.value());
                    match f.kind() {
                        MatchType::NotEqual | MatchType::NotRegex => f.matches(v.unwrap_or("")),
                        _ => v.is_some_and(|v| f.matches(v)),
                    }
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// IDs of the active silences that mute `labels` at `now`.
    pub fn mutes(&self, labels: &Labels, now: Timestamp) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .by_id
            .values()
            .filter(|s| s.state(now) == SilenceState::Active && s.matches(labels))
            .map(|s| s.id.as_str())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Whether any active silence mutes `labels` at `now`.
    pub fn is_silenced(&self, labels: &Labels, now: Timestamp) -> bool {
        self.by_id.values().any(|s| s.state(now) == SilenceState::Active && s.matches(labels))
    }

    /// Whether there is any active silence (a fast path for the dispatcher).
    pub fn any_active(&self, now: Timestamp) -> bool {
        self.by_id.values().any(|s| s.state(now) == SilenceState::Active)
    }

    /// Removes silences that expired more than the retention ago; returns how many.
    pub fn gc(&mut self, now: Timestamp) -> Result<usize, SilenceError> {
        let before = self.by_id.len();
        let retention = self.retention_ms;
        self.by_id.retain(|_, s| s.ends_at.saturating_add(retention) > now);
        let n = before - self.by_id.len();
        if n > 0 {
            self.persist()?;
        }
        Ok(n)
    }

    /// Number of silences held (any state).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no silences are held.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn new_id(&mut self, now: Timestamp) -> String {
        // A version-4-shaped UUID from a process-unique seed; IDs need to be unique,
        // not secret.
        loop {
            self.seq += 1;
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(&now.to_le_bytes());
            h.update(&self.seq.to_le_bytes());
            h.update(&std::process::id().to_le_bytes());
            let addr = self as *const Self as usize;
            h.update(&addr.to_le_bytes());
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
            h.update(&nanos.to_le_bytes());
            let v = h.digest128().to_be_bytes();
            let mut b = v;
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            let id = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    fn persist(&self) -> Result<(), SilenceError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut silences: Vec<RawSilence> = self.by_id.values().map(RawSilence::from).collect();
        silences.sort_by(|a, b| a.id.cmp(&b.id));
        let snap = Snapshot { version: 1, silences };
        let bytes = serde_json::to_vec_pretty(&snap).expect("serialising plain data cannot fail");
        write_atomic(path, &bytes).map_err(|e| io_err(path, e))
    }
}

fn io_err(path: &Path, e: std::io::Error) -> SilenceError {
    SilenceError { id: None, kind: SilenceErrorKind::Io(format!("{}: {e}", path.display())) }
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename durable; not all platforms allow opening a directory.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn validate(s: &Silence) -> Result<(), SilenceError> {
    let invalid = |m: &str| SilenceError {
        id: (!s.id.is_empty()).then(|| s.id.clone()),
        kind: SilenceErrorKind::Invalid(m.into()),
    };
    if s.matchers.is_empty() {
        return Err(invalid("at least one matcher required"));
    }
    if s.matchers.iter().all(|m| m.matches_empty()) {
        return Err(invalid("at least one matcher must not match the empty string"));
    }
    if s.ends_at < s.starts_at {
        return Err(invalid("end time must not be before start time"));
    }
    Ok(())
}

fn can_update(prev: &Silence, new: &Silence, now: Timestamp) -> bool {
    if prev.matchers != new.matchers {
        return false;
    }
    match prev.state(now) {
        SilenceState::Active => new.starts_at == prev.starts_at && new.ends_at >= now,
        SilenceState::Pending => new.starts_at >= now,
        SilenceState::Expired => false,
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    silences: Vec<RawSilence>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSilence {
    id: String,
    matchers: Vec<RawMatcher>,
    starts_at: Timestamp,
    ends_at: Timestamp,
    updated_at: Timestamp,
    created_by: String,
    comment: String,
}

#[derive(Serialize, Deserialize)]
struct RawMatcher {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

impl From<&Silence> for RawSilence {
    fn from(s: &Silence) -> Self {
        RawSilence {
            id: s.id.clone(),
            matchers: s
                .matchers
                .iter()
                .map(|m| RawMatcher { name: m.name().into(), kind: m.kind().as_str().into(), value: m.value().into() })
                .collect(),
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            updated_at: s.updated_at,
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
        }
    }
}

impl RawSilence {
    fn into_silence(self) -> Result<Silence, SilenceError> {
        let corrupt = |m: String| SilenceError { id: Some(self.id.clone()), kind: SilenceErrorKind::Corrupt(m) };
        let mut matchers = Vec::with_capacity(self.matchers.len());
        for m in &self.matchers {
            let kind = match m.kind.as_str() {
                "=" => MatchType::Equal,
                "!=" => MatchType::NotEqual,
                "=~" => MatchType::Regex,
                "!~" => MatchType::NotRegex,
                k => return Err(corrupt(format!("unknown matcher type {k:?}"))),
            };
            matchers.push(Matcher::new(kind, &m.name, &m.value).map_err(|e| corrupt(e.to_string()))?);
        }
        Ok(Silence {
            id: self.id,
            matchers,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            updated_at: self.updated_at,
            created_by: self.created_by,
            comment: self.comment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::parse_matchers;
    use ember_exposition::labels;

    fn sil(m: &str, start: i64, end: i64) -> Silence {
        Silence {
            id: String::new(),
            matchers: parse_matchers(m).unwrap(),
            starts_at: start,
            ends_at: end,
            updated_at: 0,
            created_by: "me".into(),
            comment: "c".into(),
        }
    }

    #[test]
    fn lifecycle_and_expiry() {
        let mut s = Silences::new(1000);
        let id = s.set(sil(r#"job="api""#, 100, 200), 100).unwrap();
        let l = labels! {"job" => "api"};
        assert_eq!(s.mutes(&l, 150), vec![id.as_str()]);
        assert!(!s.is_silenced(&l, 200), "ends_at is exclusive");
        assert!(!s.is_silenced(&labels! {"job" => "web"}, 150));
        // Extending an active silence keeps its ID.
        let mut upd = s.get(&id).unwrap().clone();
        upd.ends_at = 300;
        assert_eq!(s.set(upd, 150).unwrap(), id);
        assert!(s.is_silenced(&l, 250));
        // Changing matchers replaces it: old expired, new ID.
        let mut upd = s.get(&id).unwrap().clone();
        upd.matchers = parse_matchers(r#"job="web""#).unwrap();
        let id2 = s.set(upd, 160).unwrap();
        assert_ne!(id, id2);
        assert_eq!(s.get(&id).unwrap().state(160), SilenceState::Expired);
        s.expire(&id2, 170).unwrap();
        assert_eq!(s.expire(&id2, 171).unwrap_err().kind, SilenceErrorKind::AlreadyExpired);
        // Retention: gone 1000 ms after expiry.
        assert_eq!(s.gc(1159).unwrap(), 0);
        assert_eq!(s.gc(1160).unwrap(), 1);
        assert_eq!(s.gc(1169).unwrap(), 0);
        assert_eq!(s.gc(1170).unwrap(), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn pending_and_validation() {
        let mut s = Silences::new(1000);
        let id = s.set(sil("a=b", 500, 600), 100).unwrap();
        assert_eq!(s.get(&id).unwrap().state(100), SilenceState::Pending);
        s.expire(&id, 200).unwrap();
        assert_eq!(s.get(&id).unwrap().starts_at, 200);
        assert!(s.set(sil("a=~.*", 0, 600), 100).is_err());
        assert!(s.set(sil("a=b", 0, 50), 100).is_err());
        assert!(s.set(sil("a=b", 300, 200), 100).is_err());
        let mut missing = sil("a=b", 0, 500);
        missing.id = "nope".into();
        assert_eq!(s.set(missing, 100).unwrap_err().kind, SilenceErrorKind::NotFound);
    }

    #[test]
    fn query() {
        let mut s = Silences::new(1000);
        let a = s.set(sil(r#"job="api", env="prod""#, 0, 100), 0).unwrap();
        let b = s.set(sil(r#"job=~"web.*""#, 0, 100), 0).unwrap();
        let q =
            |f: &str| s.query(&parse_matchers(f).unwrap(), None, 50).iter().map(|x| x.id.clone()).collect::<Vec<_>>();
        assert_eq!(q(r#"job="api""#), vec![a.clone()]);
        assert_eq!(q(r#"env!="dev""#).len(), 2);
        assert_eq!(q(r#"job=~"web.*""#), vec![b.clone()]);
        assert!(q("team=x").is_empty());
        assert_eq!(s.query(&[], Some(&[SilenceState::Expired]), 50).len(), 0);
        assert_eq!(s.query(&[], Some(&[SilenceState::Expired]), 100).len(), 2);
    }

    #[test]
    fn persistence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silences.json");
        let id = {
            let mut s = Silences::open(&path, 1000).unwrap();
            s.set(sil(r#"job=~"a|b", x!="y""#, 0, 100), 0).unwrap()
        };
        let s = Silences::open(&path, 1000).unwrap();
        let got = s.get(&id).unwrap();
        assert_eq!(got.matchers, parse_matchers(r#"job=~"a|b", x!="y""#).unwrap());
        assert!(s.is_silenced(&labels! {"job" => "a"}, 50));
        assert!(!path.with_extension("json.tmp").exists());
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(Silences::open(&path, 1000).unwrap_err().kind, SilenceErrorKind::Corrupt(_)));
    }
}
