//! Windows file-system operations for restore (path based, std only).
//!
//! Windows has no descriptor-relative `openat`, so every step re-checks with
//! `symlink_metadata` that nothing on the way is a symlink or junction, files are
//! created with `create_new`, and names that Windows would interpret (drive
//! letters, alternate data streams, device names) are refused.

use std::ffi::OsStr;
use std::fs::{File, FileTimes, OpenOptions};
use std::io;
use std::os::windows::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Attrs, ExistingKind};

const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
/// Access right to change times and attributes (and nothing else).
const FILE_WRITE_ATTRIBUTES: u32 = 0x100;
/// Needed to open a directory handle.
const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
/// Open a symlink or junction itself instead of what it points to.
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;

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
        // Read access too: setting the read-only attribute reads the current ones.
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.path.join(tmp))
    }

    /// Creates the symlink `tmp -> target` (needs the symlink privilege or
    /// developer mode). As kopia (Go's `os.Symlink`): `/` in the target becomes
    /// `\`, and the link is a directory link when the target, resolved from this
    /// directory, is an existing directory. The target is only looked at, never
    /// written through.
    pub(super) fn create_symlink(&self, target: &[u8], tmp: &OsStr) -> io::Result<()> {
        let target = std::str::from_utf8(target).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "symlink target is not UTF-8")
        })?;
        let target = target.replace('/', "\\");
        let link = self.path.join(tmp);
        if std::fs::metadata(self.path.join(&target)).is_ok_and(|m| m.is_dir()) {
            std::os::windows::fs::symlink_dir(&target, link)
        } else {
            std::os::windows::fs::symlink_file(&target, link)
        }
    }

    /// Renames `tmp` to `name`; without `overwrite` an existing `name` is an error.
    /// A read-only file being replaced has its read-only attribute cleared
    /// first (Windows refuses to replace it otherwise).
    pub(super) fn commit(&self, tmp: &OsStr, name: &OsStr, overwrite: bool) -> io::Result<()> {
        let existing = self.existing(name)?;
        match existing {
            Some(_) if !overwrite => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "already exists (overwriting was not requested)",
                ));
            }
            Some(ExistingKind::Dir) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "exists and is a directory",
                ));
            }
            Some(ExistingKind::File) => clear_readonly(&self.path.join(name))?,
            _ => {}
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
            let dir = OpenOptions::new()
                .access_mode(FILE_WRITE_ATTRIBUTES)
                .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
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

/// Sets the attributes of an open file: the modification time, and read-only
/// when the owner write bit (0o200) is clear, as Go's `os.Chmod` (and so kopia)
/// does on Windows.
pub(super) fn set_file_attrs(file: &File, attrs: &Attrs) -> io::Result<()> {
    if let Some(t) = attrs.mtime {
        file.set_times(times(t))?;
    }
    if let Some(mode) = attrs.mode {
        let mut perms = file.metadata()?.permissions();
        perms.set_readonly(mode & 0o200 == 0);
        file.set_permissions(perms)?;
    }
    Ok(())
}

/// Clears the read-only attribute of the file at `path` (no symlink followed:
/// the caller has just seen a regular file there).
fn clear_readonly(path: &Path) -> io::Result<()> {
    let mut perms = std::fs::symlink_metadata(path)?.permissions();
    if perms.readonly() {
        // On Windows this only clears FILE_ATTRIBUTE_READONLY.
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(path, perms)?;
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
/// interpret specially or store under another name ([`crate::winpath::name_problem`]).
pub(super) fn os_name(name: &[u8]) -> io::Result<&OsStr> {
    if let Some(why) = crate::winpath::name_problem(name) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("name {why}"),
        ));
    }
    // name_problem refused anything that is not UTF-8.
    let s = std::str::from_utf8(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "name is not UTF-8"))?;
    Ok(OsStr::new(s))
}
