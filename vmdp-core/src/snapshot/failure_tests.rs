//! Unit tests of how snapshot creation ends: repository failures, progress of
//! non-file entries, retention after saving, and chunk sizes against the
//! session's message limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use kopia_proto::ids::ContentId;
use kopia_proto::manifest::{Policy, SourceInfo, policy_labels};

use super::tests::{opts, repo, run, run_default, tree};
use super::*;
use crate::progress::{NoProgress, Progress};
use crate::repo::{ContentInfo, Labels, ManifestEntry, MemoryRepository, RepoParameters};
use crate::snapshots;

/// Which repository operation [`Failing`] makes fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailOn {
    WriteContent,
    PutManifest,
    Flush,
}

/// Error-path double: a [`MemoryRepository`] whose `fail` operation always fails.
struct Failing {
    inner: Arc<MemoryRepository>,
    fail: FailOn,
}

impl Failing {
    fn check(&self, op: FailOn) -> Result<()> {
        if op == self.fail {
            return Err(Error::Repository(format!("injected {op:?} failure")));
        }
        Ok(())
    }
}

#[async_trait]
impl Repository for Failing {
    fn parameters(&self) -> &RepoParameters {
        self.inner.parameters()
    }
    async fn content_info(&self, id: &ContentId) -> Result<Option<ContentInfo>> {
        self.inner.content_info(id).await
    }
    async fn get_content(&self, id: &ContentId) -> Result<Bytes> {
        self.inner.get_content(id).await
    }
    async fn write_content(
        &self,
        prefix: Option<u8>,
        data: Bytes,
        compression: u32,
    ) -> Result<ContentId> {
        self.check(FailOn::WriteContent)?;
        self.inner.write_content(prefix, data, compression).await
    }
    async fn flush(&self) -> Result<()> {
        self.check(FailOn::Flush)?;
        self.inner.flush().await
    }
    async fn put_manifest(&self, labels: &Labels, payload: &[u8]) -> Result<ManifestId> {
        self.check(FailOn::PutManifest)?;
        self.inner.put_manifest(labels, payload).await
    }
    async fn get_manifest(&self, id: &str) -> Result<ManifestEntry> {
        self.inner.get_manifest(id).await
    }
    async fn find_manifests(&self, labels: &Labels) -> Result<Vec<ManifestEntry>> {
        self.inner.find_manifests(labels).await
    }
    async fn delete_manifest(&self, id: &str) -> Result<()> {
        self.inner.delete_manifest(id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_failure_fails_the_snapshot_and_saves_no_manifest() {
    let t = tree();
    for (fail, names) in [
        (FailOn::WriteContent, "injected WriteContent failure"),
        (FailOn::PutManifest, "cannot save the snapshot manifest"),
        (FailOn::Flush, "cannot store the snapshot's data"),
    ] {
        let inner = repo();
        let failing: Arc<dyn Repository> = Arc::new(Failing {
            inner: inner.clone(),
            fail,
        });
        let r = tokio::time::timeout(
            Duration::from_secs(60),
            create(
                failing,
                t.path(),
                opts(),
                Arc::new(NoProgress),
                CancellationToken::new(),
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("{fail:?}: snapshot create hangs"));
        let e = match r {
            Ok(o) => panic!("{fail:?}: snapshot succeeded: {:?}", o.manifest_id),
            Err(e) => e,
        };
        let msg = e.to_string();
        assert!(
            msg.contains(names) && msg.contains(&format!("injected {fail:?} failure")),
            "{fail:?}: {msg}"
        );
        assert!(matches!(e, Error::Repository(_)), "{fail:?}: {e:?}");
        let saved = snapshots::list(&*inner, None, true).await.unwrap();
        assert!(saved.is_empty(), "{fail:?}: saved {saved:?}");
        assert!(inner.retention_requests().is_empty(), "{fail:?}");
    }
}

/// `FileDone` events by path: how many, and the first one's `cached` and `bytes`.
type DoneEvents = HashMap<String, (u32, bool, u64)>;

/// Every file and symlink is reported done exactly once, uploaded or cached
/// (kopia's `FinishedFile`); directories are not.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_file_and_symlink_is_reported_done_once() {
    let r = repo();
    let t = tree();
    let expected: Vec<&str> = vec![
        ".kopiaignore",
        "a.txt",
        "empty",
        "link",
        "sub/big.bin",
        "sub/deeper/x",
    ];
    for (round, cached) in [(1, false), (2, true)] {
        let seen: Arc<Mutex<DoneEvents>> = Arc::default();
        let s2 = seen.clone();
        let sink: SharedProgress = Arc::new(move |e: Progress<'_>| {
            if let Progress::FileDone {
                path,
                bytes,
                cached,
            } = e
            {
                let mut m = s2.lock().unwrap();
                let v = m
                    .entry(path.to_string_lossy().into_owned())
                    .or_insert((0, cached, bytes));
                v.0 += 1;
            }
        });
        let o = run(&r, t.path(), opts(), sink, CancellationToken::new()).await;
        let seen = seen.lock().unwrap().clone();
        let mut paths: Vec<&str> = seen.keys().map(String::as_str).collect();
        paths.sort();
        assert_eq!(paths, expected, "round {round}");
        for (p, (n, c, _)) in &seen {
            assert_eq!((*n, *c), (1, cached), "round {round}: {p}");
        }
        // The symlink's size is its target's length, as in its directory entry.
        assert_eq!(seen["link"].2, 5, "round {round}");
        let st = o.stats();
        let files = i32::try_from(expected.len()).unwrap();
        if cached {
            assert_eq!(st.cached_files, files);
        } else {
            // kopia counts symlinks in neither cached nor non-cached files on upload.
            assert_eq!((st.non_cached_files, st.file_count), (files - 1, files - 1));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_is_applied_only_after_a_snapshot_is_saved() {
    let r = repo();
    let t = tree();
    let first = run_default(&r, t.path()).await;
    assert!(first.manifest_id.is_some() && first.expired.is_empty());
    let si = source_info(t.path(), &opts()).unwrap();
    assert_eq!(r.retention_requests(), vec![(si.clone(), true)]);

    // Not saved (identical, policy says so): no retention, as in kopia.
    let mut p = Policy::default();
    p.retention.ignore_identical_snapshots = Some(true);
    r.put_manifest(&policy_labels(&SourceInfo::default()), &p.to_json())
        .await
        .unwrap();
    let second = run_default(&r, t.path()).await;
    assert!(second.manifest_id.is_none());
    assert_eq!(r.retention_requests().len(), 1);
}

/// Repositories that cannot evaluate retention fail the create after the
/// snapshot is saved and flushed, naming the retention step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_retention_fails_after_saving() {
    struct NoRetention(Arc<MemoryRepository>);
    #[async_trait]
    impl Repository for NoRetention {
        fn parameters(&self) -> &RepoParameters {
            self.0.parameters()
        }
        async fn content_info(&self, id: &ContentId) -> Result<Option<ContentInfo>> {
            self.0.content_info(id).await
        }
        async fn get_content(&self, id: &ContentId) -> Result<Bytes> {
            self.0.get_content(id).await
        }
        async fn write_content(&self, p: Option<u8>, d: Bytes, c: u32) -> Result<ContentId> {
            self.0.write_content(p, d, c).await
        }
        async fn flush(&self) -> Result<()> {
            self.0.flush().await
        }
        async fn put_manifest(&self, labels: &Labels, payload: &[u8]) -> Result<ManifestId> {
            self.0.put_manifest(labels, payload).await
        }
        async fn get_manifest(&self, id: &str) -> Result<ManifestEntry> {
            self.0.get_manifest(id).await
        }
        async fn find_manifests(&self, labels: &Labels) -> Result<Vec<ManifestEntry>> {
            self.0.find_manifests(labels).await
        }
        async fn delete_manifest(&self, id: &str) -> Result<()> {
            self.0.delete_manifest(id).await
        }
    }
    let inner = repo();
    let t = tree();
    let e = create(
        Arc::new(NoRetention(inner.clone())),
        t.path(),
        opts(),
        Arc::new(NoProgress),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, Error::Unsupported(m) if m.contains("unable to apply retention policy")),
        "{e:?}"
    );
    assert_eq!(
        snapshots::list(&*inner, None, false).await.unwrap().len(),
        1
    );
}

/// Everything the snapshot writer stores goes through a splitter, so a content
/// is at most the largest splitter's maximum chunk (16 MiB for the 8M dynamic
/// splitters), below the session's 20 MiB message limit with room for the
/// request's framing: no chunk is ever refused for its size.
#[test]
fn largest_chunk_fits_in_one_session_message() {
    use kopia_proto::session::{MAX_MESSAGE_SIZE, SessionRequest};
    use kopia_proto::splitter::{SPLITTER_NAMES, Splitter};
    let largest = SPLITTER_NAMES
        .iter()
        .map(|n| Splitter::new(n).unwrap().max_size())
        .max()
        .unwrap();
    assert!(largest <= 16 << 20, "{largest}");
    let req = SessionRequest::write_content(1, Some(b'k'), Bytes::from(vec![0u8; largest]), 0x1234);
    assert!(req.is_ok(), "{largest}-byte chunk: {:?}", req.err());
    assert!(largest + 1024 < MAX_MESSAGE_SIZE);
}
