//! Unix file-system operations for restore, all relative to open directory
//! descriptors so that no path is ever resolved through a symlink inside the target.
//!
//! Every directory below the target is opened with `O_NOFOLLOW | O_DIRECTORY`
//! relative to its parent's descriptor, files are created with
//! `O_CREAT | O_EXCL | O_NOFOLLOW` under a fresh temporary name, and attributes are
//! set through descriptors (`fchown`, `fchmod`, `futimens`) or with
//! `AT_SYMLINK_NOFOLLOW`. A symlink restored earlier (or planted by someone else)
//! can therefore never redirect a later write.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;

use super::{Attrs, ExistingKind};

/// An open directory of the restore target.
#[derive(Debug)]
pub(super) struct Dir {
    fd: OwnedFd,
}

fn io_err(e: Errno) -> io::Error {
    io::Error::from(e)
}

impl Dir {
    /// Opens (creating it and its parents first if needed) the target directory
    /// chosen by the user. The user's own path is resolved normally; only what the
    /// restore creates below it is protected.
    pub(super) fn open_target(path: &Path) -> io::Result<Dir> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir_all(path)?,
            Err(e) => return Err(e),
        }
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOTDIR => io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a directory",
            ),
            e => io_err(e),
        })?;
        Ok(Dir { fd })
    }

    /// What exists at `name` in this directory (symlinks are not followed).
    pub(super) fn existing(&self, name: &OsStr) -> io::Result<Option<ExistingKind>> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let kind = match rustix::fs::FileType::from_raw_mode(st.st_mode) {
                    rustix::fs::FileType::RegularFile => ExistingKind::File,
                    rustix::fs::FileType::Directory => ExistingKind::Dir,
                    rustix::fs::FileType::Symlink => ExistingKind::Symlink,
                    _ => ExistingKind::Other,
                };
                Ok(Some(kind))
            }
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Opens the subdirectory `name`, creating it (mode 0700) if it does not exist.
    /// Anything else at that name, including a symlink to a directory, is an error.
    pub(super) fn subdir(&self, name: &OsStr) -> io::Result<Dir> {
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(io_err(e)),
        }
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::LOOP | Errno::NOTDIR => io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a directory (symlinks are never followed)",
            ),
            e => io_err(e),
        })?;
        Ok(Dir { fd })
    }

    /// Creates a new empty file (mode 0600) under the unused name `tmp`.
    pub(super) fn create_temp(&self, tmp: &OsStr) -> io::Result<File> {
        let fd = rustix::fs::openat(
            &self.fd,
            tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(io_err)?;
        Ok(File::from(fd))
    }

    /// Creates the symlink `tmp -> target`.
    pub(super) fn create_symlink(&self, target: &[u8], tmp: &OsStr) -> io::Result<()> {
        rustix::fs::symlinkat(OsStr::from_bytes(target), &self.fd, tmp).map_err(io_err)
    }

    /// Renames `tmp` to `name`; without `overwrite` an existing `name` is an error
    /// (atomically where the kernel supports it).
    pub(super) fn commit(&self, tmp: &OsStr, name: &OsStr, overwrite: bool) -> io::Result<()> {
        if overwrite {
            return rustix::fs::renameat(&self.fd, tmp, &self.fd, name).map_err(io_err);
        }
        #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
        {
            match rustix::fs::renameat_with(
                &self.fd,
                tmp,
                &self.fd,
                name,
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => return Ok(()),
                Err(Errno::EXIST) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "already exists (overwriting was not requested)",
                    ));
                }
                // File systems without RENAME_NOREPLACE: check, then rename.
                Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        if self.existing(name)?.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "already exists (overwriting was not requested)",
            ));
        }
        rustix::fs::renameat(&self.fd, tmp, &self.fd, name).map_err(io_err)
    }

    /// Removes the file or symlink `name` (best effort cleanup of temporaries).
    pub(super) fn remove(&self, name: &OsStr) {
        let _ = rustix::fs::unlinkat(&self.fd, name, AtFlags::empty());
    }

    /// Sets this directory's own attributes.
    pub(super) fn set_attrs(&self, attrs: &Attrs) -> io::Result<()> {
        set_fd_attrs(&self.fd, attrs)
    }

    /// Sets the attributes of the symlink `name` without following it.
    pub(super) fn set_symlink_attrs(&self, name: &OsStr, attrs: &Attrs) -> io::Result<()> {
        if let Some((uid, gid)) = attrs.owner {
            rustix::fs::chownat(
                &self.fd,
                name,
                owner_uid(uid),
                owner_gid(gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io_err)?;
        }
        // Linux cannot change a symlink's permissions; macOS can (lchmod-style).
        #[cfg(target_vendor = "apple")]
        if let Some(mode) = attrs.mode {
            rustix::fs::chmodat(
                &self.fd,
                name,
                Mode::from_raw_mode(mode as _),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io_err)?;
        }
        if let Some(t) = attrs.mtime {
            rustix::fs::utimensat(&self.fd, name, &timestamps(t), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(io_err)?;
        }
        Ok(())
    }
}

/// Sets the attributes of an open file.
pub(super) fn set_file_attrs(file: &File, attrs: &Attrs) -> io::Result<()> {
    set_fd_attrs(file, attrs)
}

/// Preferred I/O block size of the file system holding `file` (for sparse writes).
pub(super) fn block_size(file: &File) -> u64 {
    rustix::fs::fstat(file).map_or(4096, |st| st.st_blksize as u64)
}

/// Sets the file's length (creating a hole when it grows).
pub(super) fn set_len(file: &File, len: u64) -> io::Result<()> {
    file.set_len(len)
}

/// Writes all of `data` at `offset`.
pub(super) fn write_at(file: &File, offset: u64, data: &[u8]) -> io::Result<()> {
    file.write_all_at(data, offset)
}

/// True when sparse files can be written here.
pub(super) const SPARSE_SUPPORTED: bool = true;

/// True when this process may give files away to other owners.
pub(super) fn can_chown() -> bool {
    rustix::process::geteuid().is_root()
}

fn set_fd_attrs<Fd: std::os::fd::AsFd>(fd: Fd, attrs: &Attrs) -> io::Result<()> {
    let fd = fd.as_fd();
    if attrs.owner.is_some() || attrs.mode.is_some() {
        let st = rustix::fs::fstat(fd).map_err(io_err)?;
        if let Some((uid, gid)) = attrs.owner {
            if st.st_uid != uid || st.st_gid != gid {
                rustix::fs::fchown(fd, owner_uid(uid), owner_gid(gid)).map_err(io_err)?;
            }
        }
        if let Some(mode) = attrs.mode {
            // chown may have cleared setuid/setgid, so compare with a fresh stat.
            let current = rustix::fs::fstat(fd).map_err(io_err)?.st_mode as u32 & 0o7777;
            if current != mode {
                rustix::fs::fchmod(fd, Mode::from_raw_mode(mode as _)).map_err(io_err)?;
            }
        }
    }
    if let Some(t) = attrs.mtime {
        rustix::fs::futimens(fd, &timestamps(t)).map_err(io_err)?;
    }
    Ok(())
}

/// `u32::MAX` is "no change" to chown, never a real owner: skip it.
fn owner_uid(uid: u32) -> Option<rustix::fs::Uid> {
    (uid != u32::MAX).then(|| rustix::fs::Uid::from_raw_unchecked(uid))
}

fn owner_gid(gid: u32) -> Option<rustix::fs::Gid> {
    (gid != u32::MAX).then(|| rustix::fs::Gid::from_raw_unchecked(gid))
}

/// atime = mtime = `ns` nanoseconds since the epoch.
fn timestamps(ns: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: ns.div_euclid(1_000_000_000) as _,
        tv_nsec: ns.rem_euclid(1_000_000_000) as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Turns an entry name into a path component.
pub(super) fn os_name(name: &[u8]) -> io::Result<&OsStr> {
    Ok(OsStr::from_bytes(name))
}
