//! The crate's only `unsafe` code: read-only memory maps of immutable block files, and
//! the advisory lock on a database directory.
//!
//! **Immutability contract.** Block files are written once into a temporary directory,
//! synced, and renamed into place; nothing in Ember writes to them afterwards. Blocks
//! are deleted by renaming/removing their directory, which keeps mapped pages valid on
//! Unix until the map is dropped. Modifying a block file from outside while it is mapped
//! is outside the contract (reads may then see changed bytes, never out-of-bounds memory:
//! every access goes through bounds-checked slices of the mapped length).
#![allow(unsafe_code)]

use std::fs::File;
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{Error, ErrorKind, IoContext, Result};

/// A read-only memory map of a whole file (empty files map to an empty slice).
pub(crate) struct Mmap {
    map: Option<memmap2::Mmap>,
}

impl Mmap {
    pub(crate) fn open(path: &Path) -> Result<Mmap> {
        let f = File::open(path).ctx(path)?;
        let len = f.metadata().ctx(path)?.len();
        if len == 0 {
            return Ok(Mmap { map: None });
        }
        // SAFETY: the file is part of an immutable block (see the module docs): Ember never
        // writes to it after it was renamed into place, so the mapped bytes do not change
        // under the `&[u8]` handed out, and all reads index that slice with bounds checks.
        let map = unsafe { memmap2::Mmap::map(&f) }.ctx(path)?;
        Ok(Mmap { map: Some(map) })
    }
}

impl Deref for Mmap {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

/// Takes an exclusive `flock` on `path` (created if missing) without waiting; the lock
/// lives as long as the returned file. Another holder gives [`ErrorKind::Locked`].
pub(crate) fn lock_file(path: &Path) -> Result<File> {
    let f = File::options().create(true).truncate(false).write(true).open(path).ctx(path)?;
    // SAFETY: `flock` takes a file descriptor that `f` owns and keeps open for the call;
    // it reads no memory of ours.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(f);
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Err(Error::new(ErrorKind::Locked).in_file(path))
    } else {
        Err(Error::io(path, e))
    }
}
