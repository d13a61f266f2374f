//! Reading the directory tree of a snapshot: loading and validating directory
//! objects, looking up nested paths, and listing (`ls`) with the sizes and times
//! kopia's snapshot file system shows (object-format §6.8).
//!
//! Directory objects come from a repository that may be hostile, so every listing
//! is validated before use: entry names must be plain single path components
//! (not empty, `.`, `..`, and without `/`, `\` or NUL), names must be unique within
//! a directory, and object sizes, entry counts and nesting depth are bounded.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use kopia_proto::ids::ObjectId;
use kopia_proto::manifest::{DirEntry, DirManifest, EntryType};

use crate::object_reader::{ChunkCheck, ReaderLimits, read_all_checked};
use crate::{Error, Repository, Result};

/// Bounds applied while walking a snapshot tree from an untrusted repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    /// Largest directory object (JSON bytes) that is loaded.
    pub max_dir_object_len: u64,
    /// Most entries one directory may have.
    pub max_entries_per_dir: usize,
    /// Deepest directory nesting below the starting directory.
    pub max_depth: usize,
    /// Longest symlink target.
    pub max_symlink_len: u64,
    /// Largest file size accepted (bytes).
    pub max_file_size: u64,
    /// Limits for reading the objects themselves.
    pub reader: ReaderLimits,
}

impl Default for TreeLimits {
    fn default() -> Self {
        TreeLimits {
            max_dir_object_len: 1 << 30,
            max_entries_per_dir: 4 << 20,
            max_depth: 1024,
            max_symlink_len: 64 << 10,
            max_file_size: 1 << 50,
            reader: ReaderLimits::default(),
        }
    }
}

/// Why `name` cannot be used as a single path component, or `None` if it can.
pub fn name_problem(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name == b"." || name == b".." {
        Some("is a relative path component")
    } else if name.contains(&b'/') {
        Some("contains '/'")
    } else if name.contains(&b'\\') {
        Some("contains '\\'")
    } else if name.contains(&0) {
        Some("contains a NUL byte")
    } else {
        None
    }
}

/// The name as text for messages and paths (invalid UTF-8 replaced).
pub fn display_name(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Joins a `/`-separated relative path and a name.
pub fn join_path(parent: &str, name: &[u8]) -> String {
    if parent.is_empty() {
        display_name(name)
    } else {
        format!("{parent}/{}", display_name(name))
    }
}

/// Parses an entry's object ID, naming the entry in the error.
pub fn entry_object_id(entry: &DirEntry, path: &str) -> Result<ObjectId> {
    entry.object_id.parse().map_err(|e| {
        Error::Corrupt(format!(
            "entry {path:?} has an invalid object ID {:?}: {e}",
            entry.object_id
        ))
    })
}

/// Validates a loaded directory: entry count, names, and uniqueness of names.
pub fn validate_dir(dir: &DirManifest, path: &str, limits: &TreeLimits) -> Result<()> {
    if dir.entries.len() > limits.max_entries_per_dir {
        return Err(Error::Corrupt(format!(
            "directory {path:?} has {} entries, more than the {} allowed",
            dir.entries.len(),
            limits.max_entries_per_dir
        )));
    }
    let mut seen = HashSet::with_capacity(dir.entries.len());
    for e in &dir.entries {
        if let Some(why) = name_problem(&e.name) {
            return Err(Error::Corrupt(format!(
                "directory {path:?} has an entry named {:?} that {why}; refusing it",
                display_name(&e.name)
            )));
        }
        if !seen.insert(e.name.as_slice()) {
            return Err(Error::Corrupt(format!(
                "directory {path:?} lists {:?} more than once",
                display_name(&e.name)
            )));
        }
    }
    Ok(())
}

/// Loads the directory object `id` (bounded) and validates it; `path` names the
/// directory in errors.
pub async fn read_dir(
    repo: &dyn Repository,
    id: ObjectId,
    path: &str,
    limits: &TreeLimits,
) -> Result<DirManifest> {
    read_dir_checked(repo, id, path, limits, &ChunkCheck::default()).await
}

/// [`read_dir`] with per-chunk checks on the directory object's contents.
pub(crate) async fn read_dir_checked(
    repo: &dyn Repository,
    id: ObjectId,
    path: &str,
    limits: &TreeLimits,
    check: &ChunkCheck,
) -> Result<DirManifest> {
    let json = read_all_checked(repo, id, limits.max_dir_object_len, check)
        .await
        .map_err(|e| match e {
            Error::Corrupt(m) => Error::Corrupt(format!("directory {path:?}: {m}")),
            other => other,
        })?;
    let dir = DirManifest::from_json(&json).map_err(|e| {
        Error::Corrupt(format!(
            "directory {path:?} (object {id}) is not valid: {e}"
        ))
    })?;
    validate_dir(&dir, path, limits)?;
    Ok(dir)
}

/// An entry as kopia's snapshot file system presents a child (§6.8): a
/// subdirectory with a summary shows `summ.size` and `summ.maxTime`.
pub fn effective_entry(mut e: DirEntry) -> DirEntry {
    e.size = e.effective_size();
    e.mtime = e.effective_mtime();
    e
}

/// Follows `path` (components, empty ones skipped) from `start` and returns the
/// entry found, with §6.8 sizes and times; `start` itself is returned unchanged
/// when `path` is empty.
pub async fn lookup(
    repo: &dyn Repository,
    start: &DirEntry,
    path: &[&str],
    limits: &TreeLimits,
) -> Result<DirEntry> {
    let mut current = start.clone();
    let mut walked = String::new();
    for part in path.iter().filter(|p| !p.is_empty()) {
        if !current.is_dir() {
            return Err(Error::InvalidInput(format!(
                "{part:?} not found: {walked:?} is not a directory"
            )));
        }
        let id = entry_object_id(&current, &walked)?;
        let dir = read_dir(repo, id, &walked, limits).await?;
        let found = dir.entries.into_iter().find(|e| e.name == part.as_bytes());
        walked = join_path(&walked, part.as_bytes());
        current = match found {
            Some(e) => effective_entry(e),
            None => {
                return Err(Error::InvalidInput(format!(
                    "{walked:?} does not exist in the snapshot"
                )));
            }
        };
    }
    Ok(current)
}

/// One line of a listing: the path relative to the listed directory and the entry
/// (sizes and times as in §6.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEntry {
    /// `/`-separated path relative to the listed directory.
    pub path: String,
    /// The entry.
    pub entry: DirEntry,
}

impl ListedEntry {
    /// True for a subdirectory.
    pub fn is_dir(&self) -> bool {
        self.entry.entry_type == EntryType::Directory
    }
}

/// Lists the directory `dir` (`kopia ls`): its entries in stored order, and with
/// `recursive` each subdirectory's entries right after it.
pub async fn ls(
    repo: &dyn Repository,
    dir: &DirEntry,
    recursive: bool,
    limits: &TreeLimits,
) -> Result<Vec<ListedEntry>> {
    if !dir.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{:?} is not a directory",
            display_name(&dir.name)
        )));
    }
    let mut out = Vec::new();
    let id = entry_object_id(dir, "")?;
    ls_into(repo, id, String::new(), 0, recursive, limits, &mut out).await?;
    Ok(out)
}

fn ls_into<'a>(
    repo: &'a dyn Repository,
    id: ObjectId,
    path: String,
    depth: usize,
    recursive: bool,
    limits: &'a TreeLimits,
    out: &'a mut Vec<ListedEntry>,
) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
    Box::pin(async move {
        if depth > limits.max_depth {
            return Err(Error::Corrupt(format!(
                "directory {path:?} is nested deeper than {} levels",
                limits.max_depth
            )));
        }
        let listing = read_dir(repo, id, &path, limits).await?;
        for e in listing.entries {
            let child_path = join_path(&path, &e.name);
            let sub = if recursive && e.is_dir() {
                Some(entry_object_id(&e, &child_path)?)
            } else {
                None
            };
            out.push(ListedEntry {
                path: child_path.clone(),
                entry: effective_entry(e),
            });
            if let Some(sub) = sub {
                ls_into(repo, sub, child_path, depth + 1, recursive, limits, out).await?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_reader::tests::{memory_repo, put};
    use kopia_proto::manifest::{DirManifestBuilder, DirectorySummary, Permissions};

    fn file(name: &str, obj: ObjectId, size: i64, mtime: i64) -> DirEntry {
        DirEntry {
            name: name.as_bytes().to_vec(),
            entry_type: EntryType::File,
            mode: Permissions::from_posix(0o644),
            size,
            mtime,
            object_id: obj.to_string(),
            ..DirEntry::default()
        }
    }

    fn dir_entry(name: &str, obj: ObjectId, summary: DirectorySummary, mtime: i64) -> DirEntry {
        DirEntry {
            name: name.as_bytes().to_vec(),
            entry_type: EntryType::Directory,
            mode: Permissions::from_posix(0o755),
            mtime,
            object_id: obj.to_string(),
            summary: Some(summary),
            ..DirEntry::default()
        }
    }

    #[test]
    fn names() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"/etc", b"a\\b", b"a\0b"] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
        for good in [&b"a"[..], b"...", b".hidden", "ünï côdé".as_bytes(), b"a b"] {
            assert_eq!(name_problem(good), None);
        }
    }

    #[tokio::test]
    async fn ls_lookup_and_effective_values() {
        let repo = memory_repo();
        let f = put(&repo, None, b"hello").await;
        let mut sub = DirManifestBuilder::new();
        sub.add_entry(file("inner.txt", f, 5, 9_000));
        let sub = sub.build(100, "");
        let sub_summary = sub.summary.clone().unwrap();
        let sub_id = put(&repo, Some(b'k'), &sub.to_json()).await;
        let mut root = DirManifestBuilder::new();
        root.add_entry(file("a.txt", f, 5, 1_000));
        root.add_entry(dir_entry("sub", sub_id, sub_summary, 50));
        let root = root.build(0, "");
        let root_id = put(&repo, Some(b'k'), &root.to_json()).await;
        let root_entry = dir_entry("root", root_id, root.summary.clone().unwrap(), 7);

        let flat = ls(&*repo, &root_entry, false, &TreeLimits::default())
            .await
            .unwrap();
        let paths: Vec<_> = flat.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(paths, ["sub", "a.txt"]);
        // §6.8: the subdirectory shows its summary's size and maxTime.
        assert_eq!(flat[0].entry.size, 5);
        assert_eq!(flat[0].entry.mtime, 9_000);
        let deep = ls(&*repo, &root_entry, true, &TreeLimits::default())
            .await
            .unwrap();
        let paths: Vec<_> = deep.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(paths, ["sub", "sub/inner.txt", "a.txt"]);

        let found = lookup(
            &*repo,
            &root_entry,
            &["sub", "", "inner.txt"],
            &TreeLimits::default(),
        )
        .await
        .unwrap();
        assert_eq!(found.object_id, f.to_string());
        let subdir = lookup(&*repo, &root_entry, &["sub"], &TreeLimits::default())
            .await
            .unwrap();
        assert_eq!(subdir.mtime, 9_000);
        assert!(
            lookup(&*repo, &root_entry, &["nope"], &TreeLimits::default())
                .await
                .is_err()
        );
        assert!(
            lookup(&*repo, &root_entry, &["a.txt", "x"], &TreeLimits::default())
                .await
                .is_err()
        );
        assert!(
            ls(&*repo, &found, false, &TreeLimits::default())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn hostile_listings_are_refused() {
        let repo = memory_repo();
        let f = put(&repo, None, b"x").await;
        for bad in ["../x", "a/b", "/etc/x", "..", ".", "a\0b", "a\\b", ""] {
            let m = DirManifest {
                stream_type: "kopia:directory".into(),
                entries: vec![file(bad, f, 1, 0)],
                summary: None,
            };
            let id = put(&repo, Some(b'k'), &m.to_json()).await;
            let err = read_dir(&*repo, id, "d", &TreeLimits::default())
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Corrupt(_)), "{bad:?}: {err}");
        }
        let dup = DirManifest {
            stream_type: "kopia:directory".into(),
            entries: vec![file("same", f, 1, 0), file("same", f, 1, 0)],
            summary: None,
        };
        let id = put(&repo, Some(b'k'), &dup.to_json()).await;
        let err = read_dir(&*repo, id, "d", &TreeLimits::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
        let not_dir = put(&repo, Some(b'k'), b"{\"stream\":\"kopia:indirect\"}").await;
        assert!(
            read_dir(&*repo, not_dir, "d", &TreeLimits::default())
                .await
                .is_err()
        );
        let small = TreeLimits {
            max_dir_object_len: 10,
            ..TreeLimits::default()
        };
        assert!(read_dir(&*repo, id, "d", &small).await.is_err());
    }
}
