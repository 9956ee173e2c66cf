//! Errors of the durable parts (WAL, blocks, the database directory): a struct with the
//! file and byte offset, plus a `#[non_exhaustive]` kind.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O operation failed.
    Io(io::ErrorKind),
    /// Another process (or another `Db` in this one) holds the directory's lock file.
    Locked,
    /// Bytes on disk do not decode; the detail says what was expected.
    Corrupt(&'static str),
    /// A checksum did not match.
    Checksum {
        /// Checksum stored in the file.
        stored: u32,
        /// Checksum of the bytes read.
        computed: u32,
    },
    /// The file's format version or magic is not one this version reads.
    Format(&'static str),
    /// An argument was invalid (e.g. a bad time range).
    Invalid(&'static str),
}

/// An error of the durable storage, with the file and byte offset it concerns when known.
#[derive(Debug)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The file or directory concerned.
    pub file: Option<PathBuf>,
    /// Byte offset in `file`.
    pub offset: Option<u64>,
    source: Option<io::Error>,
}

/// `Result` with this crate's durable-storage [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error of `kind` with no location.
    pub fn new(kind: ErrorKind) -> Self {
        Error { kind, file: None, offset: None, source: None }
    }

    /// A corruption at `offset` of `file`.
    pub fn corrupt(file: &Path, offset: u64, what: &'static str) -> Self {
        Error { kind: ErrorKind::Corrupt(what), file: Some(file.to_path_buf()), offset: Some(offset), source: None }
    }

    /// An I/O error on `file`.
    pub fn io(file: &Path, e: io::Error) -> Self {
        Error { kind: ErrorKind::Io(e.kind()), file: Some(file.to_path_buf()), offset: None, source: Some(e) }
    }

    /// Sets the file, keeping an offset already set.
    pub fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }

    /// Sets the offset.
    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.file {
            write!(f, "{}", p.display())?;
            if let Some(o) = self.offset {
                write!(f, " at offset {o}")?;
            }
            f.write_str(": ")?;
        }
        match &self.kind {
            ErrorKind::Io(k) => match &self.source {
                Some(e) => write!(f, "I/O error: {e}"),
                None => write!(f, "I/O error: {k}"),
            },
            ErrorKind::Locked => f.write_str("directory is locked by another open database (lock file held)"),
            ErrorKind::Corrupt(what) => write!(f, "corrupt data: {what}"),
            ErrorKind::Checksum { stored, computed } => {
                write!(f, "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            ErrorKind::Format(what) => write!(f, "unsupported format: {what}"),
            ErrorKind::Invalid(what) => write!(f, "invalid argument: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// Adds a path to I/O results.
pub(crate) trait IoContext<T> {
    fn ctx(self, file: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, file: &Path) -> Result<T> {
        self.map_err(|e| Error::io(file, e))
    }
}
