//! Previous snapshots of a source and their directories, for reusing unchanged entries
//! without reading them (object-format §7.5).

use std::collections::HashMap;
use std::sync::Arc;

use kopia_proto::ids::ObjectId;
use kopia_proto::manifest::{DirEntry, SnapshotManifest, SourceInfo};

use crate::browse::{TreeLimits, read_dir};
use crate::repo::Repository;
use crate::{Error, Result};

/// The snapshot manifests of `source`, complete or not, oldest first.
pub(crate) async fn snapshots_of(
    repo: &dyn Repository,
    source: &SourceInfo,
) -> Result<Vec<SnapshotManifest>> {
    crate::snapshots::list(repo, Some(source), true).await
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
        read_dir(repo, id, object_id, &TreeLimits::default()).await
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
    use crate::object_reader::read_all;
    use crate::repo::{MemoryRepository, RepoParameters};
    use bytes::Bytes;

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
        assert_eq!(&read_all(&repo, id, 100).await.unwrap()[..], b"abcde");
        assert!(read_all(&repo, id, 4).await.is_err());
        // An index entry with the wrong length is corruption.
        let bad =
            format!("{{\"stream\":\"kopia:indirect\",\"entries\":[{{\"l\":4,\"o\":\"{a}\"}}]}}");
        let y = repo
            .write_content(Some(b'x'), Bytes::from(bad), 0)
            .await
            .unwrap();
        let id: ObjectId = format!("I{y}").parse().unwrap();
        assert!(matches!(
            read_all(&repo, id, 100).await,
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
