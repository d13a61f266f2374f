//! Previous snapshots of a source and their directories, for reusing unchanged entries
//! without reading them (object-format §7.5).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kopia_proto::compression;
use kopia_proto::ids::ObjectId;
use kopia_proto::manifest::{DirEntry, DirManifest, SnapshotManifest, SourceInfo};
use kopia_proto::object::{MAX_NESTING, decode_index};

use crate::repo::Repository;
use crate::{Error, Result};

/// Largest directory object read (kopia keeps whole directories in memory too).
const MAX_DIR_OBJECT: usize = 1 << 30;
/// Largest index object read (about a million chunks).
const MAX_INDEX: usize = 64 << 20;

/// The snapshot manifests of `source` (all of them, unordered).
pub(crate) async fn snapshots_of(
    repo: &dyn Repository,
    source: &SourceInfo,
) -> Result<Vec<SnapshotManifest>> {
    let found = repo.find_manifests(&source.snapshot_labels()).await?;
    let mut out = Vec::with_capacity(found.len());
    for m in found {
        let entry = repo.get_manifest(&m.id).await?;
        let mut s = SnapshotManifest::from_json(&entry.payload)
            .map_err(|e| Error::Corrupt(format!("snapshot manifest {}: {e}", m.id)))?;
        s.id = m.id;
        out.push(s);
    }
    Ok(out)
}

/// Reads a whole object (at most `limit` bytes).
pub(crate) async fn read_object(
    repo: &dyn Repository,
    id: ObjectId,
    limit: usize,
) -> Result<Bytes> {
    let mut id = id;
    let mut levels = Vec::new();
    while let Some(inner) = id.index_object_id() {
        if levels.len() >= MAX_NESTING {
            return Err(Error::Corrupt(format!("object {id} nests too deeply")));
        }
        levels.push(id);
        id = inner;
    }
    // An index is not part of the object's bytes: it has its own bound.
    let first_limit = if levels.is_empty() { limit } else { MAX_INDEX };
    let mut data = read_direct(repo, id, first_limit).await?;
    // Resolve one level of indirection at a time, innermost index first.
    for (i, outer) in levels.into_iter().enumerate().rev() {
        // Intermediate results are indexes again; only the outermost is the object.
        let limit = if i == 0 { limit } else { MAX_INDEX };
        let entries = decode_index(&data)
            .map_err(|e| Error::Corrupt(format!("index of object {outer}: {e}")))?;
        let mut buf = BytesMut::new();
        for e in entries {
            let len = usize::try_from(e.length).unwrap_or(usize::MAX);
            if buf.len().saturating_add(len) > limit {
                return Err(Error::Corrupt(format!(
                    "object {outer} is larger than {limit} bytes"
                )));
            }
            let part = Box::pin(read_object(repo, e.object, len)).await?;
            if part.len() != len {
                return Err(Error::Corrupt(format!(
                    "chunk {} of {outer} has {} bytes, index says {len}",
                    e.object,
                    part.len()
                )));
            }
            buf.extend_from_slice(&part);
        }
        data = buf.freeze();
    }
    Ok(data)
}

async fn read_direct(repo: &dyn Repository, id: ObjectId, limit: usize) -> Result<Bytes> {
    let (content, compressed) = id
        .direct_content()
        .ok_or_else(|| Error::Corrupt(format!("object {id} is not direct")))?;
    let data = repo.get_content(&content).await?;
    if compressed {
        let plain = compression::decompress(&data, limit)
            .map_err(|e| Error::Corrupt(format!("object {id}: {e}")))?;
        return Ok(Bytes::from(plain));
    }
    if data.len() > limit {
        return Err(Error::Corrupt(format!(
            "object {id} is larger than {limit} bytes"
        )));
    }
    Ok(data)
}

/// A directory of a previous snapshot, entries by stored name.
#[derive(Debug)]
pub(crate) struct PrevDir {
    entries: HashMap<Vec<u8>, DirEntry>,
}

impl PrevDir {
    /// The entry named `name`, if any.
    pub fn child(&self, name: &[u8]) -> Option<&DirEntry> {
        self.entries.get(name)
    }
}

/// Loads a previous directory; `None` (after logging) when it cannot be read, as kopia
/// silently skips previous directories it cannot list.
pub(crate) async fn load_dir(repo: &dyn Repository, object_id: &str) -> Option<Arc<PrevDir>> {
    let result = async {
        let id: ObjectId = object_id
            .parse()
            .map_err(|e| Error::Corrupt(format!("directory object ID {object_id:?}: {e}")))?;
        let bytes = read_object(repo, id, MAX_DIR_OBJECT).await?;
        let m = DirManifest::from_json(&bytes)
            .map_err(|e| Error::Corrupt(format!("directory {object_id}: {e}")))?;
        Ok::<_, Error>(m)
    }
    .await;
    match result {
        Ok(m) => Some(Arc::new(PrevDir {
            entries: m.entries.into_iter().map(|e| (e.name.clone(), e)).collect(),
        })),
        Err(e) => {
            tracing::warn!("previous directory {object_id} not usable: {e}");
            None
        }
    }
}

/// Loads each of `ids` once (first occurrence wins), in order.
pub(crate) async fn load_unique(repo: &dyn Repository, ids: Vec<String>) -> Vec<Arc<PrevDir>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for id in ids {
        if seen.insert(id.clone()) {
            if let Some(d) = load_dir(repo, &id).await {
                out.push(d);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{MemoryRepository, RepoParameters};

    #[tokio::test]
    async fn reads_direct_and_indirect_objects() {
        let repo = MemoryRepository::new(RepoParameters {
            hash_function: "BLAKE2B-256-128".into(),
            hmac_secret: vec![1; 32],
            splitter: "FIXED-128K".into(),
            supports_content_compression: true,
        })
        .unwrap();
        let a = repo
            .write_content(None, Bytes::from_static(b"abc"), 0)
            .await
            .unwrap();
        let b = repo
            .write_content(None, Bytes::from_static(b"de"), 0)
            .await
            .unwrap();
        let idx = format!(
            "{{\"stream\":\"kopia:indirect\",\"entries\":[{{\"l\":3,\"o\":\"{a}\"}},{{\"s\":3,\"l\":2,\"o\":\"{b}\"}}]}}\n"
        );
        let x = repo
            .write_content(Some(b'x'), Bytes::from(idx), 0)
            .await
            .unwrap();
        let id: ObjectId = format!("I{x}").parse().unwrap();
        assert_eq!(&read_object(&repo, id, 100).await.unwrap()[..], b"abcde");
        assert!(read_object(&repo, id, 4).await.is_err());
        // An index entry with the wrong length is corruption.
        let bad =
            format!("{{\"stream\":\"kopia:indirect\",\"entries\":[{{\"l\":4,\"o\":\"{a}\"}}]}}");
        let y = repo
            .write_content(Some(b'x'), Bytes::from(bad), 0)
            .await
            .unwrap();
        let id: ObjectId = format!("I{y}").parse().unwrap();
        assert!(matches!(
            read_object(&repo, id, 100).await,
            Err(Error::Corrupt(_))
        ));
        // Unreadable directories are skipped.
        assert!(load_dir(&repo, &a.to_string()).await.is_none());
        assert!(load_dir(&repo, "not-an-id").await.is_none());
        let d = repo
            .write_content(
                Some(b'k'),
                Bytes::from_static(b"{\"stream\":\"kopia:directory\",\"entries\":[{\"name\":\"f\",\"obj\":\"aa\"}]}"),
                0,
            )
            .await
            .unwrap();
        let dirs = load_unique(&repo, vec![d.to_string(), d.to_string()]).await;
        assert_eq!(dirs.len(), 1);
        assert_eq!(dirs[0].child(b"f").unwrap().object_id, "aa");
    }
}
