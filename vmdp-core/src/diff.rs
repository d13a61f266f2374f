//! Comparing two snapshot trees (`vmdp backup diff`): which entries were added,
//! removed or changed between them.
//!
//! Subtrees with the same object ID are identical and are not read (kopia's
//! directory objects are content-addressed), so diffing two snapshots of a
//! mostly unchanged tree reads only the directories on changed paths.

use std::cmp::Ordering;
use std::future::Future;
use std::pin::Pin;

use kopia_proto::manifest::DirEntry;

use crate::browse::{TreeLimits, entry_object_id, join_path, read_dir};
use crate::{Error, Repository, Result};

/// How an entry differs between the old and the new tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Only in the new tree.
    Added,
    /// Only in the old tree.
    Removed,
    /// In both, with a different kind (file, directory, symlink).
    TypeChanged,
    /// In both, same kind; says what differs.
    Modified {
        /// The data (file contents, symlink target) differs.
        content: bool,
        /// Size differs (files).
        size: bool,
        /// Modification time differs.
        mtime: bool,
        /// Permission bits differ.
        mode: bool,
        /// Owner or group differs.
        owner: bool,
    },
}

/// One difference, at a `/`-separated path relative to the compared roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Path of the entry.
    pub path: String,
    /// What changed.
    pub change: Change,
    /// The entry in the old tree, if any.
    pub old: Option<DirEntry>,
    /// The entry in the new tree, if any.
    pub new: Option<DirEntry>,
}

/// Compares the trees under `old` and `new` (directories, or single entries)
/// and returns the differences in path order. Directories that exist on both
/// sides are reported only for their own metadata changes; their children are
/// reported individually. Added or removed directories are reported once,
/// not entry by entry.
pub async fn diff(
    repo: &dyn Repository,
    old: &DirEntry,
    new: &DirEntry,
    limits: &TreeLimits,
) -> Result<Vec<Difference>> {
    let mut out = Vec::new();
    compare(repo, old, new, String::new(), 0, limits, &mut out).await?;
    Ok(out)
}

fn compare<'a>(
    repo: &'a dyn Repository,
    old: &'a DirEntry,
    new: &'a DirEntry,
    path: String,
    depth: usize,
    limits: &'a TreeLimits,
    out: &'a mut Vec<Difference>,
) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
    Box::pin(async move {
        if old.entry_type != new.entry_type {
            out.push(difference(path, Change::TypeChanged, old, new));
            return Ok(());
        }
        let change = Change::Modified {
            content: old.object_id != new.object_id && !old.is_dir(),
            size: old.size != new.size && !old.is_dir(),
            mtime: old.mtime != new.mtime,
            mode: old.mode != new.mode,
            owner: (old.uid, old.gid) != (new.uid, new.gid),
        };
        if change != unchanged() && !path.is_empty() {
            out.push(difference(path.clone(), change, old, new));
        }
        if !old.is_dir() || old.object_id == new.object_id {
            return Ok(());
        }
        if depth >= limits.max_depth {
            return Err(Error::Corrupt(format!(
                "directory {path:?} is nested deeper than {} levels",
                limits.max_depth
            )));
        }
        let old_dir = read_dir(repo, entry_object_id(old, &path)?, &path, limits).await?;
        let new_dir = read_dir(repo, entry_object_id(new, &path)?, &path, limits).await?;
        let mut olds: Vec<&DirEntry> = old_dir.entries.iter().collect();
        let mut news: Vec<&DirEntry> = new_dir.entries.iter().collect();
        olds.sort_by(|a, b| a.name.cmp(&b.name));
        news.sort_by(|a, b| a.name.cmp(&b.name));
        let (mut i, mut j) = (0, 0);
        while i < olds.len() || j < news.len() {
            let order = match (olds.get(i), news.get(j)) {
                (Some(a), Some(b)) => a.name.cmp(&b.name),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    let e = olds[i];
                    out.push(Difference {
                        path: join_path(&path, &e.name),
                        change: Change::Removed,
                        old: Some(e.clone()),
                        new: None,
                    });
                    i += 1;
                }
                Ordering::Greater => {
                    let e = news[j];
                    out.push(Difference {
                        path: join_path(&path, &e.name),
                        change: Change::Added,
                        old: None,
                        new: Some(e.clone()),
                    });
                    j += 1;
                }
                Ordering::Equal => {
                    let child = join_path(&path, &olds[i].name);
                    compare(repo, olds[i], news[j], child, depth + 1, limits, out).await?;
                    i += 1;
                    j += 1;
                }
            }
        }
        Ok(())
    })
}

fn unchanged() -> Change {
    Change::Modified {
        content: false,
        size: false,
        mtime: false,
        mode: false,
        owner: false,
    }
}

fn difference(path: String, change: Change, old: &DirEntry, new: &DirEntry) -> Difference {
    Difference {
        path,
        change,
        old: Some(old.clone()),
        new: Some(new.clone()),
    }
}

impl std::fmt::Display for Difference {
    /// One line per difference, like `kopia diff`: `added file ./a/b (12 bytes)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entry = self.new.as_ref().or(self.old.as_ref());
        let kind = entry.map_or("entry", |e| kind_name(e));
        let path = if self.path.is_empty() {
            ".".to_string()
        } else {
            format!("./{}", self.path)
        };
        match &self.change {
            Change::Added => write!(f, "added {kind} {path}"),
            Change::Removed => write!(f, "removed {kind} {path}"),
            Change::TypeChanged => write!(f, "changed type of {path}"),
            Change::Modified {
                content,
                size,
                mtime,
                mode,
                owner,
            } => {
                let mut what = Vec::new();
                if *content {
                    what.push("contents");
                }
                if *size {
                    what.push("size");
                }
                if *mtime {
                    what.push("mtime");
                }
                if *mode {
                    what.push("mode");
                }
                if *owner {
                    what.push("owner");
                }
                write!(f, "modified {kind} {path} ({})", what.join(", "))
            }
        }
    }
}

fn kind_name(e: &DirEntry) -> &'static str {
    use kopia_proto::manifest::EntryType;
    match e.entry_type {
        EntryType::File => "file",
        EntryType::Directory => "directory",
        EntryType::Symlink => "symlink",
        _ => "entry",
    }
}
