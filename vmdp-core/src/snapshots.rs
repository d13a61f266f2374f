//! Snapshot manifests in a repository: list, load, delete, and resolve what a
//! user typed (`SNAPSHOT[/SUBPATH]`) to a tree entry.
//!
//! A snapshot is a manifest with label `type=snapshot` and the source labels
//! `hostname`, `username`, `path` (kopia's `snapshot.SaveSnapshot`). What the
//! caller may see is decided by the repository: a kopia server only returns
//! the connected user's own snapshots.

use std::collections::BTreeMap;
use std::sync::Arc;

use kopia_proto::ids::ObjectId;
use kopia_proto::manifest::{
    DIRECTORY_STREAM_TYPE, DirEntry, EntryType, SnapshotManifest, SourceInfo, TYPE_LABEL,
};

use crate::browse::{TreeLimits, lookup};
use crate::object_reader::ObjectReader;
use crate::{Error, Labels, Repository, Result};

/// The `type` label value of snapshot manifests.
pub const SNAPSHOT_TYPE: &str = "snapshot";

/// Labels that select every snapshot, or those of one source.
pub fn snapshot_labels(source: Option<&SourceInfo>) -> Labels {
    let mut labels = source.map_or_else(BTreeMap::new, SourceInfo::snapshot_labels);
    labels.insert(TYPE_LABEL.to_string(), SNAPSHOT_TYPE.to_string());
    labels
}

/// Snapshots visible to this connection (of one source, or all), oldest first,
/// each with its manifest ID in [`SnapshotManifest::id`]. Incomplete snapshots
/// (checkpoints, cancelled runs) are included only when `include_incomplete`.
pub async fn list(
    repo: &dyn Repository,
    source: Option<&SourceInfo>,
    include_incomplete: bool,
) -> Result<Vec<SnapshotManifest>> {
    let entries = repo.find_manifests(&snapshot_labels(source)).await?;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let m = load(repo, &entry.id).await?;
        if include_incomplete || m.is_complete() {
            out.push(m);
        }
    }
    SnapshotManifest::sort_by_time(&mut out, false);
    Ok(out)
}

/// Loads one snapshot manifest by ID; an ID that names another kind of
/// manifest is refused rather than misread.
pub async fn load(repo: &dyn Repository, id: &str) -> Result<SnapshotManifest> {
    let entry = repo.get_manifest(id).await?;
    if entry.labels.get(TYPE_LABEL).map(String::as_str) != Some(SNAPSHOT_TYPE) {
        return Err(Error::InvalidInput(format!(
            "manifest {id} is not a snapshot (type {:?})",
            entry.labels.get(TYPE_LABEL).cloned().unwrap_or_default()
        )));
    }
    let mut m = SnapshotManifest::from_json(&entry.payload)
        .map_err(|e| Error::Corrupt(format!("snapshot manifest {id}: {e}")))?;
    m.id = entry.id;
    Ok(m)
}

/// Deletes a snapshot manifest (its contents stay until maintenance collects
/// them). Refuses IDs that are not snapshots.
pub async fn delete(repo: &dyn Repository, id: &str) -> Result<SnapshotManifest> {
    let m = load(repo, id).await?;
    repo.delete_manifest(id).await?;
    repo.flush().await?;
    Ok(m)
}

/// The latest complete snapshot of `source`, if any.
pub async fn latest(
    repo: &dyn Repository,
    source: &SourceInfo,
) -> Result<Option<SnapshotManifest>> {
    Ok(list(repo, Some(source), false).await?.pop())
}

/// What a `SNAPSHOT[/SUBPATH]` argument resolved to.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The snapshot it came from (`None` when the user gave a bare object ID).
    pub snapshot: Option<SnapshotManifest>,
    /// The entry at the requested sub-path (the snapshot root when there is none),
    /// named after the last path component.
    pub entry: DirEntry,
    /// The sub-path inside the snapshot, `/`-separated, empty for the root.
    pub subpath: String,
}

/// Resolves `spec`: a snapshot manifest ID, a root object ID, or a local path
/// (the latest snapshot of the nearest snapshotted ancestor of it, as
/// `host`/`user`), optionally followed by `/SUBPATH` inside the snapshot.
pub async fn resolve(
    repo: &Arc<dyn Repository>,
    spec: &str,
    host: &str,
    user: &str,
    limits: &TreeLimits,
) -> Result<Resolved> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(Error::InvalidInput("empty snapshot specification".into()));
    }
    let (head, rest) = spec.split_once('/').unwrap_or((spec, ""));
    let shared = repo;
    let repo: &dyn Repository = &**shared;
    if !head.is_empty() && looks_like_manifest_id(head) {
        if let Ok(m) = load(repo, head).await {
            return resolved_in(repo, Some(m), rest, limits).await;
        }
    }
    if !head.is_empty() && head.parse::<ObjectId>().is_ok() {
        let root = root_entry_for_object(shared, head).await?;
        return finish(repo, None, root, rest, limits).await;
    }
    resolve_local_path(repo, spec, host, user, limits).await
}

/// True for the 32-hex-character IDs kopia gives manifests.
fn looks_like_manifest_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A bare object ID: a directory if its data is a kopia directory object,
/// otherwise a file.
async fn root_entry_for_object(repo: &Arc<dyn Repository>, id: &str) -> Result<DirEntry> {
    let oid: ObjectId = id
        .parse()
        .map_err(|e| Error::InvalidInput(format!("invalid object ID {id:?}: {e}")))?;
    let mut reader = ObjectReader::open(repo.clone(), oid).await?;
    let size = reader.len();
    let first = reader.next_chunk().await?.unwrap_or_default();
    let marker = format!("{{\"stream\":\"{DIRECTORY_STREAM_TYPE}\"");
    let is_dir = first.starts_with(marker.as_bytes());
    Ok(DirEntry {
        name: id.as_bytes().to_vec(),
        entry_type: if is_dir {
            EntryType::Directory
        } else {
            EntryType::File
        },
        size: if is_dir { 0 } else { size as i64 },
        object_id: id.to_string(),
        ..DirEntry::default()
    })
}

/// Finds the nearest ancestor of `path` (itself included) that has complete
/// snapshots for `user@host`, and the remaining components as the sub-path.
async fn resolve_local_path(
    repo: &dyn Repository,
    spec: &str,
    host: &str,
    user: &str,
    limits: &TreeLimits,
) -> Result<Resolved> {
    let absolute = absolute_path(spec)?;
    let mut candidate = absolute.as_path();
    let mut tail: Vec<String> = Vec::new();
    loop {
        let source = SourceInfo::new(host, user, candidate.to_string_lossy());
        if let Some(m) = latest(repo, &source).await? {
            tail.reverse();
            return resolved_in(repo, Some(m), &tail.join("/"), limits).await;
        }
        match (candidate.parent(), candidate.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_string_lossy().into_owned());
                candidate = parent;
            }
            _ => {
                return Err(Error::InvalidInput(format!(
                    "{spec:?} is not a snapshot ID or object ID, and no snapshot of {} \
                     or a parent directory exists for {user}@{host}",
                    absolute.display()
                )));
            }
        }
    }
}

/// `spec` made absolute against the current directory (without touching the
/// file system beyond that, so it works for paths that no longer exist).
fn absolute_path(spec: &str) -> Result<std::path::PathBuf> {
    std::path::absolute(spec)
        .map_err(|e| Error::InvalidInput(format!("{spec:?}: cannot make the path absolute: {e}")))
}

async fn resolved_in(
    repo: &dyn Repository,
    snapshot: Option<SnapshotManifest>,
    subpath: &str,
    limits: &TreeLimits,
) -> Result<Resolved> {
    let root = snapshot
        .as_ref()
        .and_then(|m| m.root_entry.clone())
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "snapshot {} has no root entry",
                snapshot.as_ref().map_or("", |m| m.id.as_str())
            ))
        })?;
    finish(repo, snapshot, root, subpath, limits).await
}

async fn finish(
    repo: &dyn Repository,
    snapshot: Option<SnapshotManifest>,
    root: DirEntry,
    subpath: &str,
    limits: &TreeLimits,
) -> Result<Resolved> {
    let parts: Vec<&str> = subpath.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(Error::InvalidInput(format!(
            "sub-path {subpath:?} may not contain '.' or '..'"
        )));
    }
    let entry = lookup(repo, &root, &parts, limits).await?;
    Ok(Resolved {
        snapshot,
        entry,
        subpath: parts.join("/"),
    })
}
