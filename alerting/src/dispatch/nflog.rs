//! The notification log: what was last sent to each integration for each group, so an
//! unchanged group is not re-sent before `repeat_interval`, and its snapshot format, so
//! a restart does not re-send either (the format is documented on [`NotificationLog`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};

use ember_exposition::Timestamp;

use super::error::{NflogError, NflogErrorKind};

/// What was last sent to one integration for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NflogEntry {
    /// Fingerprints of the firing alerts notified (sorted).
    pub firing: Vec<u64>,
    /// Fingerprints of the resolved alerts notified (sorted).
    pub resolved: Vec<u64>,
    /// When it was sent.
    pub timestamp: Timestamp,
    /// When the entry may be forgotten.
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    integration: Box<str>,
    entry: NflogEntry,
}

/// The log, keyed by (group key hash, integration), and its snapshot.
///
/// # Snapshot format (version 1)
///
/// A snapshot is little-endian binary; the entries are written sorted by
/// (group key hash, integration), so the same log always encodes to the same bytes.
///
/// ```text
/// ┌──────────────────────────────┬───────────────┬─────────────────────┐
/// │ magic "ENFL" (4 bytes)       │ version u8 =1 │ entry count u32     │
/// ├──────────────────────────────┴───────────────┴─────────────────────┤
/// │ entry 0 … entry count-1                                           │
/// ├────────────────────────────────────────────────────────────────────┤
/// │ CRC-32C (Castagnoli) of every preceding byte, u32                 │
/// └────────────────────────────────────────────────────────────────────┘
///
/// entry:
/// ┌───────────────────────┬──────────────┬──────────────────────────────┐
/// │ group key hash u64    │ name len u16 │ integration name (UTF-8)     │
/// ├───────────────────────┼──────────────┴──────────────────────────────┤
/// │ timestamp i64 (ms)    │ expires at i64 (ms)                          │
/// ├───────────────────────┼──────────────────────────────────────────────┤
/// │ firing count u32      │ firing fingerprints, u64 each, ascending     │
/// ├───────────────────────┼──────────────────────────────────────────────┤
/// │ resolved count u32    │ resolved fingerprints, u64 each, ascending   │
/// └───────────────────────┴──────────────────────────────────────────────┘
/// ```
///
/// The group key hash is the xxh3-64 (unseeded) of Alertmanager's group key
/// (`{route key}:{group labels}`), the integration name is `receiver/kind[index]`, and
/// fingerprints are [`Labels::stable_hash`](ember_exposition::Labels::stable_hash)
/// (unseeded xxh3 over the sorted labels): all three are functions of the configuration
/// and the alerts only, so a snapshot written by one process is understood by the next.
/// Entries already expired are neither written nor loaded. A decoder rejects, with the
/// offset and field: a wrong magic, an unknown version, a checksum mismatch, a
/// truncated field, a non-UTF-8 name, an unsorted fingerprint list, a duplicate entry,
/// and stray bytes before the checksum. A version-1 golden file,
/// `alerting/testdata/compat/nflog-v1.bin`, is read by a test forever.
#[derive(Debug, Default, Clone)]
pub struct NotificationLog {
    /// Keyed by (group key hash, integration name hash).
    entries: HashMap<(u64, u64), Slot>,
    retention_ms: i64,
    /// Bumped by every change, so a host can tell whether a snapshot is stale.
    generation: u64,
}

/// The first bytes of a snapshot.
pub const NFLOG_MAGIC: [u8; 4] = *b"ENFL";
/// The snapshot format version written.
pub const NFLOG_FORMAT_VERSION: u8 = 1;
/// magic + version + entry count.
const HEADER_LEN: usize = 9;
const CHECKSUM_LEN: usize = 4;

fn subset(small: &[u64], big: &[u64]) -> bool {
    small.iter().all(|x| big.binary_search(x).is_ok())
}

fn name_hash(integration: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(integration.as_bytes())
}

/// What [`NotificationLog::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NflogLoad {
    /// No snapshot file: a first start.
    Missing,
    /// The snapshot loaded.
    Loaded {
        /// Entries loaded.
        entries: usize,
        /// Entries dropped because they had expired.
        expired: usize,
    },
    /// The snapshot is corrupt: the log starts empty and the file was renamed to
    /// `moved_to` (`None` if the rename failed too), so the next snapshot does not
    /// overwrite the evidence.
    Corrupt {
        /// What is wrong with it.
        error: NflogError,
        /// Where the bad file now is.
        moved_to: Option<PathBuf>,
    },
    /// The snapshot could not be read (permissions, I/O): the log starts empty and the
    /// file is left alone.
    Unreadable(NflogError),
}

impl NotificationLog {
    /// A log keeping entries for `retention_ms`.
    pub fn new(retention_ms: i64) -> Self {
        NotificationLog { entries: HashMap::new(), retention_ms, generation: 0 }
    }

    /// The entry for a group and integration.
    pub fn get(&self, group: u64, integration: &str) -> Option<&NflogEntry> {
        self.entries.get(&(group, name_hash(integration))).map(|s| &s.entry)
    }

    /// Every entry as (group key hash, integration name, entry), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &str, &NflogEntry)> {
        self.entries.iter().map(|(&(g, _), s)| (g, &*s.integration, &s.entry))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A counter bumped by every change ([`log`](Self::log), and [`gc`](Self::gc) when
    /// it drops something): equal generations mean equal contents.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Records a successful notification.
    pub fn log(&mut self, group: u64, integration: &str, firing: Vec<u64>, resolved: Vec<u64>, now: Timestamp) {
        let entry = NflogEntry { firing, resolved, timestamp: now, expires_at: now.saturating_add(self.retention_ms) };
        self.insert(group, integration, entry);
    }

    fn insert(&mut self, group: u64, integration: &str, entry: NflogEntry) {
        self.generation += 1;
        match self.entries.entry((group, name_hash(integration))) {
            Entry::Occupied(mut o) => o.get_mut().entry = entry,
            Entry::Vacant(v) => {
                v.insert(Slot { integration: integration.into(), entry });
            }
        }
    }

    /// Forgets expired entries.
    pub fn gc(&mut self, now: Timestamp) {
        let before = self.entries.len();
        self.entries.retain(|_, s| s.entry.expires_at > now);
        if self.entries.len() != before {
            self.generation += 1;
        }
    }

    /// Alertmanager's dedup decision: notify when something new fires, when all
    /// alerts resolved after a firing notification, when (with `send_resolved`) new
    /// alerts resolved, or when `repeat_ms` has passed since the last notification.
    /// `firing` and `resolved` must be sorted.
    pub fn needs_update(
        entry: Option<&NflogEntry>,
        firing: &[u64],
        resolved: &[u64],
        send_resolved: bool,
        repeat_ms: i64,
        now: Timestamp,
    ) -> bool {
        let Some(e) = entry else {
            return !firing.is_empty();
        };
        if !subset(firing, &e.firing) {
            return true;
        }
        if firing.is_empty() {
            return !e.firing.is_empty();
        }
        if send_resolved && !subset(resolved, &e.resolved) {
            return true;
        }
        e.timestamp < now - repeat_ms
    }

    /// Encodes the entries not expired at `now` as a snapshot (see [`NotificationLog`] for
    /// the format); the same contents always give the same bytes.
    pub fn encode(&self, now: Timestamp) -> Vec<u8> {
        let mut live: Vec<(u64, &Slot)> =
            self.entries.iter().filter(|(_, s)| s.entry.expires_at > now).map(|(&(g, _), s)| (g, s)).collect();
        live.sort_unstable_by(|a, b| (a.0, &a.1.integration).cmp(&(b.0, &b.1.integration)));
        let size: usize = live
            .iter()
            .map(|(_, s)| {
                34 + s.integration.len().min(u16::MAX as usize) + 8 * (s.entry.firing.len() + s.entry.resolved.len())
            })
            .sum();
        let mut out = Vec::with_capacity(HEADER_LEN + size + CHECKSUM_LEN);
        out.extend_from_slice(&NFLOG_MAGIC);
        out.push(NFLOG_FORMAT_VERSION);
        out.extend_from_slice(&(live.len() as u32).to_le_bytes());
        for (group, s) in live {
            out.extend_from_slice(&group.to_le_bytes());
            // Names are `receiver/kind[i]`; a receiver name over 64 KiB is cut at a
            // character boundary (it then reads back as a different integration).
            let mut name = &*s.integration;
            if name.len() > u16::MAX as usize {
                let mut end = u16::MAX as usize;
                while !name.is_char_boundary(end) {
                    end -= 1;
                }
                name = &name[..end];
            }
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&s.entry.timestamp.to_le_bytes());
            out.extend_from_slice(&s.entry.expires_at.to_le_bytes());
            for list in [&s.entry.firing, &s.entry.resolved] {
                out.extend_from_slice(&(list.len() as u32).to_le_bytes());
                for fp in list {
                    out.extend_from_slice(&fp.to_le_bytes());
                }
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a snapshot into a log keeping new entries for `retention_ms`, dropping
    /// entries expired at `now`. Returns the log and the number of entries dropped.
    pub fn decode(bytes: &[u8], retention_ms: i64, now: Timestamp) -> Result<(NotificationLog, usize), NflogError> {
        let mut r = Reader { buf: bytes, pos: 0, entry: None };
        let magic = r.take(4, "magic")?;
        if magic != NFLOG_MAGIC {
            return Err(NflogError::decode(0, "magic", None, NflogErrorKind::BadMagic));
        }
        let version = r.take(1, "version")?[0];
        if version != NFLOG_FORMAT_VERSION {
            return Err(NflogError::decode(4, "version", None, NflogErrorKind::UnsupportedVersion(version)));
        }
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
            let field = if bytes.len() < HEADER_LEN { "entry count" } else { "checksum" };
            return Err(NflogError::decode(r.pos, field, None, NflogErrorKind::Truncated));
        }
        let body_len = bytes.len() - CHECKSUM_LEN;
        let stored = u32::from_le_bytes(bytes[body_len..].try_into().expect("4 bytes"));
        let computed = crc32c::crc32c(&bytes[..body_len]);
        if stored != computed {
            return Err(NflogError::decode(
                body_len,
                "checksum",
                None,
                NflogErrorKind::ChecksumMismatch { stored, computed },
            ));
        }
        r.buf = &bytes[..body_len];
        let count = r.u32("entry count")? as usize;
        let mut log = NotificationLog::new(retention_ms);
        let mut expired = 0;
        for i in 0..count {
            r.entry = Some(i);
            let group = r.u64("group key hash")?;
            let name_at = r.pos;
            let name_len = r.u16("integration")? as usize;
            let name = std::str::from_utf8(r.take(name_len, "integration")?)
                .map_err(|_| NflogError::decode(name_at, "integration", Some(i), NflogErrorKind::InvalidUtf8))?;
            let timestamp = r.i64("timestamp")?;
            let expires_at = r.i64("expires at")?;
            let firing = r.fingerprints("firing")?;
            let resolved = r.fingerprints("resolved")?;
            if log.entries.contains_key(&(group, name_hash(name))) {
                return Err(NflogError::decode(name_at - 8, "group key hash", Some(i), NflogErrorKind::DuplicateEntry));
            }
            // Expired entries are dropped after the loop: they still count as duplicates.
            expired += usize::from(expires_at <= now);
            log.insert(group, name, NflogEntry { firing, resolved, timestamp, expires_at });
        }
        r.entry = None;
        if r.pos != r.buf.len() {
            let n = r.buf.len() - r.pos;
            return Err(NflogError::decode(r.pos, "checksum", None, NflogErrorKind::TrailingBytes(n)));
        }
        log.entries.retain(|_, s| s.entry.expires_at > now);
        log.generation = 0;
        Ok((log, expired))
    }

    /// Reads the snapshot at `path`: `Ok(None)` if there is none.
    pub fn read(
        path: &Path,
        retention_ms: i64,
        now: Timestamp,
    ) -> Result<Option<(NotificationLog, usize)>, NflogError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(NflogError::io(path, &e)),
        };
        Self::decode(&bytes, retention_ms, now)
            .map(Some)
            .map_err(|e| NflogError { file: Some(path.to_path_buf()), ..e })
    }

    /// Loads the snapshot at `path` and never fails: a missing file gives an empty log;
    /// a corrupt one is logged (`tracing` warning), renamed to `<path>.corrupt` and
    /// gives an empty log; an unreadable one is logged and gives an empty log. The
    /// outcome says which.
    pub fn open(path: &Path, retention_ms: i64, now: Timestamp) -> (NotificationLog, NflogLoad) {
        let empty = || NotificationLog::new(retention_ms);
        match Self::read(path, retention_ms, now) {
            Ok(None) => (empty(), NflogLoad::Missing),
            Ok(Some((log, expired))) => {
                let entries = log.len();
                (log, NflogLoad::Loaded { entries, expired })
            }
            Err(error) if error.is_corrupt() => {
                let mut aside = path.as_os_str().to_owned();
                aside.push(".corrupt");
                let aside = PathBuf::from(aside);
                let moved_to = match std::fs::rename(path, &aside) {
                    Ok(()) => Some(aside),
                    Err(e) => {
                        tracing::warn!(file = %path.display(), "cannot set the corrupt snapshot aside: {e}");
                        None
                    }
                };
                tracing::warn!(
                    moved_to = ?moved_to,
                    "{error}; starting with an empty notification log (notifications may repeat)"
                );
                (empty(), NflogLoad::Corrupt { error, moved_to })
            }
            Err(error) => {
                tracing::warn!("{error}; starting with an empty notification log (notifications may repeat)");
                (empty(), NflogLoad::Unreadable(error))
            }
        }
    }

    /// Writes the snapshot of the entries live at `now` to `path` atomically (temporary
    /// file, fsync, rename); returns the number of bytes written.
    pub fn write(&self, path: &Path, now: Timestamp) -> Result<usize, NflogError> {
        let bytes = self.encode(now);
        write_snapshot(path, &bytes)?;
        Ok(bytes.len())
    }
}

/// Writes encoded snapshot bytes to `path` atomically.
pub(crate) fn write_snapshot(path: &Path, bytes: &[u8]) -> Result<(), NflogError> {
    super::silence::write_atomic(path, bytes).map_err(|e| NflogError::io(path, &e))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    entry: Option<usize>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], NflogError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(NflogError::decode(self.pos, field, self.entry, NflogErrorKind::Truncated));
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], NflogError> {
        Ok(self.take(N, field)?.try_into().expect("N bytes"))
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, NflogError> {
        self.array(field).map(u16::from_le_bytes)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, NflogError> {
        self.array(field).map(u32::from_le_bytes)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, NflogError> {
        self.array(field).map(u64::from_le_bytes)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, NflogError> {
        self.array(field).map(i64::from_le_bytes)
    }

    fn fingerprints(&mut self, field: &'static str) -> Result<Vec<u64>, NflogError> {
        let n = self.u32(field)? as usize;
        let start = self.pos;
        // Checked before allocating, so a huge count in a short file costs nothing.
        let raw = self.take(n.saturating_mul(8), field).map_err(|e| NflogError { offset: Some(start), ..e })?;
        let mut out = Vec::with_capacity(n);
        for (k, c) in raw.chunks_exact(8).enumerate() {
            let fp = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            if out.last().is_some_and(|&prev| prev >= fp) {
                return Err(NflogError::decode(start + 8 * k, field, self.entry, NflogErrorKind::Unsorted));
            }
            out.push(fp);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Timestamp = 1_700_000_000_000;

    fn sorted(log: &NotificationLog) -> Vec<(u64, String, NflogEntry)> {
        let mut v: Vec<_> = log.iter().map(|(g, n, e)| (g, n.to_owned(), e.clone())).collect();
        v.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        v
    }

    fn sample() -> NotificationLog {
        let mut log = NotificationLog::new(3_600_000);
        log.log(7, "team/webhook[0]", vec![1, 2, 3], vec![], T);
        log.log(7, "team/slack[0]", vec![2], vec![9], T + 1);
        log.log(1, "pager/pagerduty[1]", vec![], vec![u64::MAX], T - 10);
        log
    }

    #[test]
    fn round_trip_and_expiry() {
        let log = sample();
        let bytes = log.encode(T);
        assert_eq!(&bytes[..4], b"ENFL");
        assert_eq!(bytes, log.clone().encode(T), "deterministic");
        let (back, expired) = NotificationLog::decode(&bytes, 1, T).unwrap();
        assert_eq!((sorted(&back), expired), (sorted(&log), 0));
        // Entries expiring before a later load are dropped, and not written at all after.
        let later = T - 10 + 3_600_000;
        let (back, expired) = NotificationLog::decode(&bytes, 1, later).unwrap();
        assert_eq!((back.len(), expired), (2, 1));
        let (back, expired) = NotificationLog::decode(&log.encode(later), 1, later).unwrap();
        assert_eq!((back.len(), expired), (2, 0));
        // An empty log.
        let empty = NotificationLog::new(1).encode(T);
        assert_eq!(empty.len(), HEADER_LEN + CHECKSUM_LEN);
        assert!(NotificationLog::decode(&empty, 1, T).unwrap().0.is_empty());
    }

    #[track_caller]
    fn check(bytes: &[u8], offset: usize, field: &str, entry: Option<usize>, kind: NflogErrorKind) {
        let e = NotificationLog::decode(bytes, 1, T).unwrap_err();
        assert_eq!((e.offset, e.field, e.entry, &e.kind), (Some(offset), Some(field), entry, &kind), "{e}");
        assert!(e.is_corrupt());
    }

    /// Rewrites the checksum after tampering with the body.
    fn reseal(mut b: Vec<u8>) -> Vec<u8> {
        let n = b.len() - 4;
        let crc = crc32c::crc32c(&b[..n]);
        b[n..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn decode_errors_name_offset_and_field() {
        let good = sample().encode(T);
        check(b"", 0, "magic", None, NflogErrorKind::Truncated);
        check(b"XNFL\x01", 0, "magic", None, NflogErrorKind::BadMagic);
        check(b"ENFL", 4, "version", None, NflogErrorKind::Truncated);
        check(b"ENFL\x02rest", 4, "version", None, NflogErrorKind::UnsupportedVersion(2));
        check(b"ENFL\x01\0\0", 5, "entry count", None, NflogErrorKind::Truncated);
        check(b"ENFL\x01\0\0\0\0\0\0", 5, "checksum", None, NflogErrorKind::Truncated);
        let mut flipped = good.clone();
        flipped[20] ^= 1;
        let computed = crc32c::crc32c(&flipped[..flipped.len() - 4]);
        let stored = u32::from_le_bytes(flipped[flipped.len() - 4..].try_into().unwrap());
        check(&flipped, good.len() - 4, "checksum", None, NflogErrorKind::ChecksumMismatch { stored, computed });
        // Body problems, with a valid checksum. Entry 0 is group 1, "pager/pagerduty[1]".
        let name_at = HEADER_LEN + 8;
        let mut b = good.clone();
        b[name_at + 2] = 0xff;
        check(&reseal(b), name_at, "integration", Some(0), NflogErrorKind::InvalidUtf8);
        // Entry count one higher than written: the next entry is cut off.
        let mut b = good.clone();
        b[5] = 4;
        check(&reseal(b), good.len() - 4, "group key hash", Some(3), NflogErrorKind::Truncated);
        let mut b = good.clone();
        b[5] = 2;
        let last_len = good.len() - 4 - (HEADER_LEN + entry_len(&good, 0) + entry_len(&good, 1));
        check(&reseal(b), good.len() - 4 - last_len, "checksum", None, NflogErrorKind::TrailingBytes(last_len));
        // Entries are sorted: 0 is (1, pager), 1 is (7, slack), 2 is (7, webhook).
        // Entry 1 written twice in place of entry 2 is a duplicate.
        let e1 = HEADER_LEN + entry_len(&good, 0);
        let e2 = e1 + entry_len(&good, 1);
        let dup = [&good[..e2], &good[e1..e2], &good[e2 + entry_len(&good, 2)..]].concat();
        check(&reseal(dup), e2, "group key hash", Some(2), NflogErrorKind::DuplicateEntry);
        // Entry 2 (group 7, webhook): firing [1, 2, 3] -> [1, 1, 3].
        let fp_at = e2 + 8 + 2 + "team/webhook[0]".len() + 16 + 4;
        let mut b = good.clone();
        b[fp_at + 8] = 1;
        check(&reseal(b), fp_at + 8, "firing", Some(2), NflogErrorKind::Unsorted);
        // A firing count far beyond the data: an error, not an allocation.
        let mut b = good.clone();
        b[fp_at - 4..fp_at].copy_from_slice(&u32::MAX.to_le_bytes());
        check(&reseal(b), fp_at, "firing", Some(2), NflogErrorKind::Truncated);
    }

    /// The length of entry `i` of a snapshot written by `encode`.
    fn entry_len(b: &[u8], i: usize) -> usize {
        let mut pos = HEADER_LEN;
        for k in 0..=i {
            let start = pos;
            let name = u16::from_le_bytes(b[pos + 8..pos + 10].try_into().unwrap()) as usize;
            pos += 10 + name + 16;
            for _ in 0..2 {
                let n = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
                pos += 4 + 8 * n;
            }
            if k == i {
                return pos - start;
            }
        }
        unreachable!()
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error() {
        let good = sample().encode(T);
        for n in 0..good.len() {
            assert!(NotificationLog::decode(&good[..n], 1, T).is_err(), "truncated to {n}");
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                assert!(NotificationLog::decode(&b, 1, T).is_err(), "bit {bit} of byte {i}");
            }
        }
    }

    #[test]
    fn open_sets_a_corrupt_file_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nflog");
        let (log, load) = NotificationLog::open(&path, 1000, T);
        assert!(log.is_empty());
        assert_eq!(load, NflogLoad::Missing);
        let n = sample().write(&path, T).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, n);
        let (log, load) = NotificationLog::open(&path, 1000, T);
        assert_eq!((sorted(&log), load), (sorted(&sample()), NflogLoad::Loaded { entries: 3, expired: 0 }));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&path, &bytes).unwrap();
        let (log, load) = NotificationLog::open(&path, 1000, T);
        assert!(log.is_empty());
        let aside = dir.path().join("nflog.corrupt");
        let NflogLoad::Corrupt { error, moved_to } = load else { panic!("{load:?}") };
        assert_eq!(moved_to.as_deref(), Some(aside.as_path()));
        assert_eq!(error.file.as_deref(), Some(path.as_path()));
        assert!(error.to_string().contains("checksum mismatch"), "{error}");
        assert_eq!(std::fs::read(&aside).unwrap(), bytes, "kept for inspection");
        assert!(!path.exists());
        assert_eq!(NotificationLog::open(&path, 1000, T).1, NflogLoad::Missing);
    }

    #[test]
    fn generation_counts_changes() {
        let mut log = NotificationLog::new(10);
        let g0 = log.generation();
        log.gc(T);
        assert_eq!(log.generation(), g0, "gc dropping nothing is no change");
        log.log(1, "a", vec![1], vec![], T);
        assert!(log.generation() > g0);
        let g1 = log.generation();
        log.gc(T + 10);
        assert!(log.generation() > g1 && log.is_empty());
    }

    fn arb_log() -> impl Strategy<Value = Vec<(u64, String, NflogEntry)>> {
        let fps = || proptest::collection::btree_set(any::<u64>(), 0..5).prop_map(|s| s.into_iter().collect());
        let entry = (fps(), fps(), any::<i64>(), T..T + 1000).prop_map(|(firing, resolved, timestamp, expires_at)| {
            NflogEntry { firing, resolved, timestamp, expires_at }
        });
        proptest::collection::vec((0u64..4, "[a-z/\\[\\]0-9é]{0,12}", entry), 0..12)
    }

    proptest! {
        #[test]
        fn snapshot_round_trips(entries in arb_log(), now in T - 10..T + 1010) {
            let mut log = NotificationLog::new(1);
            for (g, n, e) in entries {
                log.insert(g, &n, e);
            }
            let bytes = log.encode(now);
            let (back, expired) = NotificationLog::decode(&bytes, 1, now).unwrap();
            prop_assert_eq!(expired, 0);
            log.gc(now);
            prop_assert_eq!(sorted(&back), sorted(&log));
            prop_assert_eq!(back.encode(now), bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), seal in any::<bool>()) {
            let mut b = [&NFLOG_MAGIC[..], &[NFLOG_FORMAT_VERSION]].concat();
            b.extend_from_slice(&bytes);
            b.extend_from_slice(&[0; 4]);
            let b = if seal { reseal(b) } else { b };
            let _ = NotificationLog::decode(&b, 1, T);
        }
    }
}
