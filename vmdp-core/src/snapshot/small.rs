//! Small files of one directory read together: one blocking task reads a batch of
//! them and the batch is stored from one async task. Reading each small file in its
//! own blocking task cost more (thread wake-ups, hand-offs) than reading it.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use kopia_proto::object::parallel_upload_parts;
use tokio::sync::OwnedSemaphorePermit;

use super::checkpoint::DirState;
use super::file::read_small;
use super::local::{Kind, LocalEntry};
use super::policy_tree::{NodePolicy, PolicyTree};
use super::stats::inc;
use super::upload::{Observer, Outcome, Uploader};
use super::writer::INLINE_OBJECT;
use crate::{Error, Result};

/// Files per batch at most.
const BATCH_FILES: usize = 64;
/// Listed bytes per batch at most.
const BATCH_BYTES: u64 = 1 << 20;

/// One file of a batch.
pub(crate) struct SmallFile {
    /// Local path.
    pub path: PathBuf,
    /// Path relative to the snapshot root.
    pub rel: PathBuf,
    /// Its `lstat` metadata.
    pub entry: LocalEntry,
    /// Its policy subtree.
    pub node: Arc<PolicyTree>,
}

/// Small files waiting to be read together.
#[derive(Default)]
pub(crate) struct SmallBatch {
    files: Vec<SmallFile>,
    bytes: u64,
}

/// True for a regular file stored as one small object under `policy` (not split
/// into parallel parts).
pub(crate) fn is_small(entry: &LocalEntry, policy: &NodePolicy) -> bool {
    let Ok(size) = u64::try_from(entry.size) else {
        return false;
    };
    entry.kind == Kind::File
        && size < INLINE_OBJECT as u64
        && matches!(
            parallel_upload_parts(size, policy.parallel_upload_above_size()),
            Ok(None)
        )
}

impl SmallBatch {
    /// Adds a file; returns the full batch to start once it is large enough.
    pub fn add(&mut self, file: SmallFile) -> Option<SmallBatch> {
        self.bytes += u64::try_from(file.entry.size).unwrap_or(0);
        self.files.push(file);
        (self.files.len() >= BATCH_FILES || self.bytes >= BATCH_BYTES).then(|| std::mem::take(self))
    }

    /// True when no file is waiting.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Reads the batch in one blocking task and stores every file, adding each
    /// outcome to `state` (`ignore_file_errors`: the directory's policy). The
    /// caller takes the read slot (`_permit`) before spawning this, so listing
    /// directories does not run ahead of reading files.
    pub async fn upload(
        self,
        u: Arc<Uploader>,
        state: Arc<DirState>,
        ignore_file_errors: bool,
        _permit: OwnedSemaphorePermit,
    ) -> Result<()> {
        let wanted: Vec<(PathBuf, u64)> = self
            .files
            .iter()
            .map(|f| (f.path.clone(), u64::try_from(f.entry.size).unwrap_or(0)))
            .collect();
        let reader = u.clone();
        let reads = tokio::task::spawn_blocking(move || {
            let observer = Observer(reader);
            wanted
                .iter()
                .map(|(path, expected)| read_small(path, *expected, &observer))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| Error::Repository(format!("file reader failed: {e}")))?;
        for (f, read) in self.files.into_iter().zip(reads) {
            let policy = f.node.effective();
            let outcome = match read {
                Ok(Some(data)) => store(&u, &f, policy, data).await?,
                // It grew past the small size since it was listed: upload it alone.
                Ok(None) => {
                    u.upload_file(&f.path, &f.rel, &f.entry, policy, &state)
                        .await?
                }
                Err(e) => e.into_outcome()?,
            };
            u.finish_child(&state, &f.rel, outcome, ignore_file_errors);
        }
        Ok(())
    }
}

/// Stores one small file's data as its object and returns its entry.
async fn store(
    u: &Arc<Uploader>,
    f: &SmallFile,
    policy: &NodePolicy,
    data: Vec<u8>,
) -> Result<Outcome> {
    inc(&u.stats.non_cached_files, 1);
    let opts = u.file_options(&f.entry, policy);
    let obj = u.writer.write_bytes(&opts, Bytes::from(data)).await?;
    u.count_file(&obj);
    Ok(u.file_done(&f.rel, &f.entry, obj.id, obj.length))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kopia_proto::manifest::Policy;

    fn stat(path: &std::path::Path) -> LocalEntry {
        super::super::local::stat_entry(path, path.file_name().unwrap().to_owned()).unwrap()
    }

    fn policy(parallel_above: Option<i64>) -> NodePolicy {
        let mut p = Policy::default();
        p.upload.parallel_upload_above_size = parallel_above;
        NodePolicy {
            policy: p,
            metadata_compression: None,
        }
    }

    #[test]
    fn only_small_regular_files_without_parts_are_batched() {
        let tmp = tempfile::tempdir().unwrap();
        let small = tmp.path().join("small");
        let big = tmp.path().join("big");
        std::fs::write(&small, vec![1u8; 10_000]).unwrap();
        std::fs::write(&big, vec![1u8; INLINE_OBJECT]).unwrap();
        let (small, big) = (stat(&small), stat(&big));
        assert!(is_small(&small, &policy(None)));
        assert!(!is_small(&big, &policy(None)));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("small", tmp.path().join("link")).unwrap();
            assert!(!is_small(&stat(&tmp.path().join("link")), &policy(None)));
        }
        assert!(!is_small(&stat(tmp.path()), &policy(None)));
        // A policy that splits even this file into parts keeps it out of batches.
        assert!(!is_small(&small, &policy(Some(4096))));
        assert!(is_small(&small, &policy(Some(1 << 20))));
    }

    #[test]
    fn batches_close_at_the_file_or_byte_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        std::fs::write(&p, vec![0u8; 100]).unwrap();
        let node = PolicyTree::single(Policy::default());
        let file = |size: i64| SmallFile {
            path: p.clone(),
            rel: PathBuf::from("f"),
            entry: LocalEntry { size, ..stat(&p) },
            node: node.clone(),
        };
        let mut b = SmallBatch::default();
        for _ in 0..BATCH_FILES - 1 {
            assert!(b.add(file(100)).is_none());
        }
        let full = b.add(file(100)).expect("full at BATCH_FILES files");
        assert_eq!(full.files.len(), BATCH_FILES);
        assert!(b.is_empty());
        assert!(b.add(file(BATCH_BYTES as i64 / 2)).is_none());
        assert_eq!(b.add(file(BATCH_BYTES as i64 / 2)).unwrap().files.len(), 2);
    }
}
