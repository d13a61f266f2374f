//! Windows file-system operations for restore (path based, std only).
//!
//! Windows has no descriptor-relative `openat`, so every step re-checks with
//! `symlink_metadata` that nothing on the way is a symlink or junction, files are
//! created with `create_new`, and names that Windows would interpret (drive
//! letters, alternate data streams, device names) are refused.

use std::ffi::OsStr;
use std::fs::{File, FileTimes, OpenOptions};
use std::io;
use std::os::windows::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Attrs, ExistingKind};

const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;

/// A directory of the restore target.
#[derive(Debug)]
pub(super) struct Dir {
    path: PathBuf,
}

fn not_a_dir() -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        "exists and is not a directory (symlinks and junctions are never followed)",
    )
}

impl Dir {
    /// Opens (creating it if needed) the target directory chosen by the user.
    pub(super) fn open_target(path: &Path) -> io::Result<Dir> {
        if !path.exists() {
            std::fs::create_dir_all(path)?;
        }
        if !std::fs::metadata(path)?.is_dir() {
            return Err(not_a_dir());
        }
        Ok(Dir {
            path: path.to_path_buf(),
        })
    }

    /// What exists at `name` (links are not followed).
    pub(super) fn existing(&self, name: &OsStr) -> io::Result<Option<ExistingKind>> {
        match std::fs::symlink_metadata(self.path.join(name)) {
            Ok(m) => {
                let reparse = m.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0;
                Ok(Some(if m.file_type().is_symlink() || reparse {
                    ExistingKind::Symlink
                } else if m.is_dir() {
                    ExistingKind::Dir
                } else if m.is_file() {
                    ExistingKind::File
                } else {
                    ExistingKind::Other
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the subdirectory `name`, creating it if missing; anything else
    /// there (including a symlink or junction) is an error.
    pub(super) fn subdir(&self, name: &OsStr) -> io::Result<Dir> {
        let path = self.path.join(name);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        if self.existing(name)? != Some(ExistingKind::Dir) {
            return Err(not_a_dir());
        }
        Ok(Dir { path })
    }

    /// Creates a new empty file under the unused name `tmp`.
    pub(super) fn create_temp(&self, tmp: &OsStr) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.path.join(tmp))
    }

    /// Creates the symlink `tmp -> target` (needs the symlink privilege).
    pub(super) fn create_symlink(&self, target: &[u8], tmp: &OsStr) -> io::Result<()> {
        let target = std::str::from_utf8(target).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "symlink target is not UTF-8")
        })?;
        std::os::windows::fs::symlink_file(target, self.path.join(tmp))
    }

    /// Renames `tmp` to `name`; without `overwrite` an existing `name` is an error.
    pub(super) fn commit(&self, tmp: &OsStr, name: &OsStr, overwrite: bool) -> io::Result<()> {
        if !overwrite && self.existing(name)?.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "already exists (overwriting was not requested)",
            ));
        }
        if self.existing(name)? == Some(ExistingKind::Dir) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is a directory",
            ));
        }
        std::fs::rename(self.path.join(tmp), self.path.join(name))
    }

    /// Removes the file or symlink `name` (best effort).
    pub(super) fn remove(&self, name: &OsStr) {
        let _ = std::fs::remove_file(self.path.join(name));
    }

    /// Sets this directory's own attributes (times only; owners and POSIX modes
    /// do not exist on Windows).
    pub(super) fn set_attrs(&self, attrs: &Attrs) -> io::Result<()> {
        if let Some(t) = attrs.mtime {
            use std::os::windows::fs::OpenOptionsExt;
            // FILE_FLAG_BACKUP_SEMANTICS is required to open a directory handle.
            let dir = OpenOptions::new()
                .write(true)
                .custom_flags(0x0200_0000)
                .open(&self.path)?;
            dir.set_times(times(t))?;
        }
        Ok(())
    }

    /// Symlink attributes are not restored on Windows.
    pub(super) fn set_symlink_attrs(&self, _name: &OsStr, _attrs: &Attrs) -> io::Result<()> {
        Ok(())
    }
}

/// Sets the attributes of an open file: read-only when no write bit is set, and
/// the modification time.
pub(super) fn set_file_attrs(file: &File, attrs: &Attrs) -> io::Result<()> {
    if let Some(t) = attrs.mtime {
        file.set_times(times(t))?;
    }
    if let Some(mode) = attrs.mode {
        let mut perms = file.metadata()?.permissions();
        perms.set_readonly(mode & 0o222 == 0);
        file.set_permissions(perms)?;
    }
    Ok(())
}

fn times(ns: i64) -> FileTimes {
    let t = if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_nanos(ns.unsigned_abs()))
            .unwrap_or(UNIX_EPOCH)
    };
    let t: SystemTime = t;
    FileTimes::new().set_accessed(t).set_modified(t)
}

/// Block size used for zero detection (sparse writing is not supported).
pub(super) fn block_size(_file: &File) -> u64 {
    4096
}

/// Sets the file's length.
pub(super) fn set_len(file: &File, len: u64) -> io::Result<()> {
    file.set_len(len)
}

/// Writes all of `data` at `offset`.
pub(super) fn write_at(file: &File, mut offset: u64, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = file.seek_write(data, offset)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0"));
        }
        data = &data[n..];
        offset += n as u64;
    }
    Ok(())
}

/// Sparse files are not written on Windows (as kopia).
pub(super) const SPARSE_SUPPORTED: bool = false;

/// Owners are never restored on Windows.
pub(super) fn can_chown() -> bool {
    false
}

/// Turns an entry name into a path component, refusing names Windows would
/// interpret specially.
pub(super) fn os_name(name: &[u8]) -> io::Result<&OsStr> {
    let s = std::str::from_utf8(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "name is not UTF-8"))?;
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("name {why}"));
    if s.contains(':') {
        return Err(bad("contains ':' (drive or alternate data stream)"));
    }
    if s.chars().any(|c| c < ' ' || "<>\"|?*".contains(c)) {
        return Err(bad("contains a character Windows does not allow"));
    }
    let stem = s
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    let reserved = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];
    let numbered = ["COM", "LPT"]
        .iter()
        .any(|p| stem.len() == 4 && stem.starts_with(p) && stem.as_bytes()[3].is_ascii_digit());
    if reserved.contains(&stem.as_str()) || numbered {
        return Err(bad("is a reserved device name"));
    }
    if s.ends_with('.') || s.ends_with(' ') {
        return Err(bad("ends with '.' or ' '"));
    }
    Ok(OsStr::new(s))
}
