//! Entries of the local file system as kopia's `fs/localfs` sees them (object-format
//! §6.6): `lstat` of every name, symlinks never followed. Blocking functions; callers run
//! them on tokio's blocking pool.

use std::ffi::OsString;
use std::fs::Metadata;
use std::io;
use std::path::Path;

use kopia_proto::manifest::{DirEntry, EntryType, Permissions};

/// What a listed name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A FIFO, socket or device: kopia's "unknown or unsupported entry type".
    Unknown,
    /// `lstat` failed with permission denied (kopia keeps such names as error entries).
    Error(String),
}

/// One name of a directory with its `lstat` metadata.
#[derive(Debug, Clone)]
pub(crate) struct LocalEntry {
    /// The name as the OS returned it.
    pub name: OsString,
    /// Its kind.
    pub kind: Kind,
    /// True for directories (for error entries: what the directory listing said).
    pub is_dir: bool,
    /// Go `FileMode` permission bits (§6.2).
    pub perm: Permissions,
    /// `lstat` size; 0 for directories (kopia forces it) and error entries.
    pub size: i64,
    /// Modification time, ns since the epoch.
    pub mtime: i64,
    /// Owner user ID.
    pub uid: u32,
    /// Owner group ID.
    pub gid: u32,
    /// Device ID (for `oneFileSystem`).
    pub dev: u64,
}

impl LocalEntry {
    /// The name's bytes (raw on Unix).
    pub fn name_bytes(&self) -> &[u8] {
        self.name.as_encoded_bytes()
    }

    /// The entry type a directory object records for this kind.
    pub fn entry_type(&self) -> EntryType {
        match self.kind {
            Kind::Dir => EntryType::Directory,
            Kind::File => EntryType::File,
            Kind::Symlink => EntryType::Symlink,
            _ => EntryType::Unknown,
        }
    }

    /// A directory entry with this metadata (kopia's `newDirEntry`): `size` is the listed
    /// size; callers set the object ID and adjust the size to what was written.
    pub fn dir_entry(&self, object_id: String) -> DirEntry {
        DirEntry {
            name: self.name_bytes().to_vec(),
            entry_type: self.entry_type(),
            mode: self.perm,
            size: self.size,
            mtime: self.mtime,
            uid: self.uid,
            gid: self.gid,
            object_id,
            summary: None,
        }
    }

    /// Builds an entry from `lstat` metadata.
    pub fn from_metadata(name: OsString, md: &Metadata) -> Self {
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Unknown
        };
        let (perm, uid, gid, dev, mtime) = platform_metadata(md);
        LocalEntry {
            name,
            is_dir: kind == Kind::Dir,
            size: if kind == Kind::Dir {
                0
            } else {
                i64::try_from(md.len()).unwrap_or(i64::MAX)
            },
            kind,
            perm,
            mtime,
            uid,
            gid,
            dev,
        }
    }
}

#[cfg(unix)]
fn platform_metadata(md: &Metadata) -> (Permissions, u32, u32, u64, i64) {
    use std::os::unix::fs::MetadataExt;
    let mtime = md
        .mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(md.mtime_nsec());
    (
        Permissions::from_posix(md.mode() & 0o7777),
        md.uid(),
        md.gid(),
        md.dev(),
        mtime,
    )
}

#[cfg(not(unix))]
fn platform_metadata(md: &Metadata) -> (Permissions, u32, u32, u64, i64) {
    // Go on Windows: 0444 for read-only entries, 0666 otherwise, plus 0111 for directories.
    let mut perm = if md.permissions().readonly() {
        0o444
    } else {
        0o666
    };
    if md.is_dir() {
        perm |= 0o111;
    }
    let mtime = md
        .modified()
        .ok()
        .and_then(|t| match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).ok(),
            Err(e) => i64::try_from(e.duration().as_nanos()).ok().map(|n| -n),
        })
        .unwrap_or(0);
    (Permissions(perm), 0, 0, 0, mtime)
}

/// `lstat` of one path as an entry named `name`.
pub(crate) fn stat_entry(path: &Path, name: OsString) -> io::Result<LocalEntry> {
    let md = std::fs::symlink_metadata(path)?;
    Ok(LocalEntry::from_metadata(name, &md))
}

/// Lists a directory like kopia's local file system: names that vanish before `lstat`
/// are skipped, names whose `lstat` is denied become error entries, any other error fails
/// the whole directory (the message says what failed).
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<LocalEntry>, String> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| format!("unable to read directory: open {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for item in rd {
        let item = item.map_err(|e| format!("error reading directory {}: {e}", dir.display()))?;
        let name = item.file_name();
        let path = item.path();
        match std::fs::symlink_metadata(&path) {
            Ok(md) => out.push(LocalEntry::from_metadata(name, &md)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                let is_dir = item.file_type().map(|t| t.is_dir()).unwrap_or(false);
                out.push(LocalEntry {
                    name,
                    kind: Kind::Error(format!("lstat {}: {e}", path.display())),
                    is_dir,
                    perm: Permissions(0),
                    size: 0,
                    mtime: 0,
                    uid: 0,
                    gid: 0,
                    dev: 0,
                });
            }
            Err(e) => {
                return Err(format!(
                    "error reading directory: lstat {}: {e}",
                    path.display()
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_types_and_metadata() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("f"), b"abc").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("target-xyz", d.join("l")).unwrap();
        let mut got = list_dir(d).unwrap();
        got.sort_by(|a, b| a.name.cmp(&b.name));
        let f = got.iter().find(|e| e.name == "f").unwrap();
        assert_eq!((f.kind.clone(), f.size), (Kind::File, 3));
        let s = got.iter().find(|e| e.name == "sub").unwrap();
        assert!(s.is_dir && s.size == 0 && s.kind == Kind::Dir);
        #[cfg(unix)]
        {
            let l = got.iter().find(|e| e.name == "l").unwrap();
            assert_eq!((l.kind.clone(), l.size), (Kind::Symlink, 10));
            assert_eq!(l.dir_entry("x".into()).entry_type, EntryType::Symlink);
        }
        assert!(
            list_dir(&d.join("missing"))
                .unwrap_err()
                .contains("unable to read directory")
        );
    }

    #[cfg(unix)]
    #[test]
    fn fifo_is_unknown() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("fifo");
        let st = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        let e = stat_entry(&p, "fifo".into()).unwrap();
        assert_eq!(e.kind, Kind::Unknown);
        assert_eq!(e.entry_type(), EntryType::Unknown);
    }
}
