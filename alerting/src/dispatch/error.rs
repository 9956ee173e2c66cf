//! Errors of the dispatcher: configuration, silences, and notification delivery.

use std::fmt;

/// A configuration file or fragment was rejected.
///
/// `path` names the field (`route.routes[1].group_wait`); `line`/`column` are set when
/// the YAML parser located the problem (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field, as a dotted path with list indices; empty for the document itself.
    pub path: String,
    /// 1-based line in the YAML document, when known.
    pub line: Option<usize>,
    /// 1-based column in the YAML document, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// What is wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The YAML did not parse or did not fit the schema (unknown field, wrong type, …).
    Yaml(String),
    /// A duration such as `5m` did not parse.
    InvalidDuration(String),
    /// A matcher string or `match_re` regex did not parse.
    InvalidMatcher(String),
    /// A label name is not a valid label name.
    InvalidLabelName(String),
    /// A value is out of range or otherwise invalid.
    InvalidValue(String),
    /// A required field is missing.
    Missing,
    /// A route names a receiver that is not defined.
    UndefinedReceiver(String),
    /// A route names a time interval that is not defined.
    UndefinedTimeInterval(String),
    /// A name (receiver, time interval) is defined twice.
    Duplicate(String),
    /// A field Alertmanager knows but Ember does not implement.
    Unsupported(String),
    /// The configuration file could not be read.
    Io(String),
}

impl ConfigError {
    pub(crate) fn new(path: impl Into<String>, kind: ConfigErrorKind) -> Self {
        ConfigError { path: path.into(), line: None, column: None, kind }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, "line {l} column {c}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        match &self.kind {
            ConfigErrorKind::Yaml(m) => write!(f, "{m}"),
            ConfigErrorKind::InvalidDuration(m) => write!(f, "invalid duration: {m}"),
            ConfigErrorKind::InvalidMatcher(m) => write!(f, "invalid matcher: {m}"),
            ConfigErrorKind::InvalidLabelName(n) => write!(f, "invalid label name {n:?}"),
            ConfigErrorKind::InvalidValue(m) => write!(f, "{m}"),
            ConfigErrorKind::Missing => write!(f, "missing required field"),
            ConfigErrorKind::UndefinedReceiver(r) => write!(f, "undefined receiver {r:?} used in route"),
            ConfigErrorKind::UndefinedTimeInterval(t) => write!(f, "undefined time interval {t:?} used in route"),
            ConfigErrorKind::Duplicate(n) => write!(f, "name {n:?} is not unique"),
            ConfigErrorKind::Unsupported(m) => write!(f, "not supported by Ember: {m}"),
            ConfigErrorKind::Io(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A silence was rejected or could not be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceError {
    /// The silence concerned, when it has an ID.
    pub id: Option<String>,
    /// What went wrong.
    pub kind: SilenceErrorKind,
}

/// What went wrong with a silence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SilenceErrorKind {
    /// No silence has this ID.
    NotFound,
    /// The silence is already expired.
    AlreadyExpired,
    /// The silence is invalid (no matchers, ends before it starts, …).
    Invalid(String),
    /// Reading or writing the snapshot file failed.
    Io(String),
    /// The snapshot file is not a valid snapshot.
    Corrupt(String),
}

impl fmt::Display for SilenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(id) = &self.id {
            write!(f, "silence {id}: ")?;
        }
        match &self.kind {
            SilenceErrorKind::NotFound => write!(f, "not found"),
            SilenceErrorKind::AlreadyExpired => write!(f, "already expired"),
            SilenceErrorKind::Invalid(m) => write!(f, "invalid: {m}"),
            SilenceErrorKind::Io(m) => write!(f, "i/o error: {m}"),
            SilenceErrorKind::Corrupt(m) => write!(f, "corrupt snapshot: {m}"),
        }
    }
}

impl std::error::Error for SilenceError {}

/// A notification could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyError {
    /// The receiver (integration) that failed, as `name/kind[index]`.
    pub integration: String,
    /// Whether sending again may succeed.
    pub retryable: bool,
    /// What went wrong.
    pub kind: NotifyErrorKind,
}

/// What went wrong delivering a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyErrorKind {
    /// The URL is malformed or uses a scheme the transport cannot handle.
    BadUrl(String),
    /// Connecting or talking to the endpoint failed.
    Transport(String),
    /// The endpoint answered with a non-2xx status.
    Status(u16),
    /// The attempt (including retries) ran out of time.
    Timeout,
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.integration)?;
        match &self.kind {
            NotifyErrorKind::BadUrl(m) => write!(f, "bad url: {m}"),
            NotifyErrorKind::Transport(m) => write!(f, "transport error: {m}"),
            NotifyErrorKind::Status(s) => write!(f, "unexpected status code {s}"),
            NotifyErrorKind::Timeout => write!(f, "timed out"),
        }
    }
}

impl std::error::Error for NotifyError {}

/// A notification-log snapshot could not be read, decoded or written.
///
/// Decoding errors carry the byte `offset` and the `field` being read (`"entry 3
/// firing[1]"` style names are split: `field` is the format's field name, `entry` the
/// index of the entry it belongs to), so a corrupt file can be inspected with a hex dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NflogError {
    /// The snapshot file, when the error concerns one.
    pub file: Option<std::path::PathBuf>,
    /// Byte offset of the bad field in the snapshot, for decoding errors.
    pub offset: Option<usize>,
    /// The field being read (`magic`, `version`, `entry count`, `group key hash`,
    /// `integration`, `timestamp`, `expires at`, `firing`, `resolved`, `checksum`), for
    /// decoding errors.
    pub field: Option<&'static str>,
    /// Index of the entry the field belongs to, when it belongs to one.
    pub entry: Option<usize>,
    /// What went wrong.
    pub kind: NflogErrorKind,
}

/// What went wrong with a notification-log snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NflogErrorKind {
    /// Reading or writing the file failed.
    Io(std::io::ErrorKind, String),
    /// The file does not start with the snapshot magic bytes.
    BadMagic,
    /// The snapshot was written by a newer (or unknown) format version.
    UnsupportedVersion(u8),
    /// The data ends in the middle of a field.
    Truncated,
    /// The trailing CRC-32C does not match the content.
    ChecksumMismatch {
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum of the content read.
        computed: u32,
    },
    /// The integration name is not UTF-8.
    InvalidUtf8,
    /// A fingerprint list is not strictly ascending.
    Unsorted,
    /// Two entries have the same group and integration.
    DuplicateEntry,
    /// Bytes are left between the last entry and the checksum.
    TrailingBytes(usize),
}

impl NflogError {
    pub(crate) fn decode(offset: usize, field: &'static str, entry: Option<usize>, kind: NflogErrorKind) -> Self {
        NflogError { file: None, offset: Some(offset), field: Some(field), entry, kind }
    }

    pub(crate) fn io(path: &std::path::Path, e: &std::io::Error) -> Self {
        NflogError {
            file: Some(path.to_path_buf()),
            offset: None,
            field: None,
            entry: None,
            kind: NflogErrorKind::Io(e.kind(), e.to_string()),
        }
    }

    /// Whether the snapshot's content is bad (as opposed to an I/O failure): such a
    /// file will never load and is set aside.
    pub fn is_corrupt(&self) -> bool {
        !matches!(self.kind, NflogErrorKind::Io(..))
    }
}

impl fmt::Display for NflogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "notification log snapshot")?;
        if let Some(p) = &self.file {
            write!(f, " {}", p.display())?;
        }
        if let Some(o) = self.offset {
            write!(f, " at offset {o}")?;
        }
        match (self.entry, self.field) {
            (Some(i), Some(field)) => write!(f, " (entry {i}, {field})")?,
            (None, Some(field)) => write!(f, " ({field})")?,
            _ => {}
        }
        write!(f, ": ")?;
        match &self.kind {
            NflogErrorKind::Io(_, m) => write!(f, "i/o error: {m}"),
            NflogErrorKind::BadMagic => write!(f, "not a notification log snapshot (bad magic)"),
            NflogErrorKind::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            NflogErrorKind::Truncated => write!(f, "truncated"),
            NflogErrorKind::ChecksumMismatch { stored, computed } => {
                write!(f, "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            NflogErrorKind::InvalidUtf8 => write!(f, "invalid UTF-8"),
            NflogErrorKind::Unsorted => write!(f, "fingerprints not strictly ascending"),
            NflogErrorKind::DuplicateEntry => write!(f, "duplicate entry for the same group and integration"),
            NflogErrorKind::TrailingBytes(n) => write!(f, "{n} unexpected bytes before the checksum"),
        }
    }
}

impl std::error::Error for NflogError {}
