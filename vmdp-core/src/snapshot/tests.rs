//! Unit tests of snapshot creation against the in-memory repository.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;
use crate::progress::{NoProgress, Progress};
use crate::repo::{MemoryRepository, RepoParameters};

pub(super) fn repo() -> Arc<MemoryRepository> {
    Arc::new(
        MemoryRepository::new(RepoParameters {
            hash_function: "BLAKE2B-256-128".into(),
            hmac_secret: (0u8..32).collect(),
            splitter: "DYNAMIC-1M-BUZHASH".into(),
            supports_content_compression: true,
        })
        .unwrap(),
    )
}

pub(super) fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

pub(super) fn tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("a.txt"), b"alpha").unwrap();
    std::fs::write(d.join("empty"), b"").unwrap();
    std::fs::create_dir_all(d.join("sub/deeper")).unwrap();
    std::fs::write(d.join("sub/big.bin"), data(5 << 20, 7)).unwrap();
    std::fs::write(d.join("sub/deeper/x"), b"x").unwrap();
    std::fs::write(d.join("skip.log"), b"ignored").unwrap();
    std::fs::write(d.join(".kopiaignore"), b"*.log\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("a.txt", d.join("link")).unwrap();
    t
}

pub(super) async fn run(
    r: &Arc<MemoryRepository>,
    path: &std::path::Path,
    opts: CreateOptions,
    progress: SharedProgress,
    cancel: CancellationToken,
) -> CreateOutcome {
    let dynrepo: Arc<dyn Repository> = r.clone();
    create(dynrepo, path, opts, progress, cancel).await.unwrap()
}

/// [`run`] with [`opts`], no progress and no cancellation.
pub(super) async fn run_default(
    r: &Arc<MemoryRepository>,
    path: &std::path::Path,
) -> CreateOutcome {
    run(
        r,
        path,
        opts(),
        Arc::new(NoProgress),
        CancellationToken::new(),
    )
    .await
}

pub(super) fn opts() -> CreateOptions {
    CreateOptions::new("h", "u")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_incremental() {
    let r = repo();
    let t = tree();
    let bytes = Arc::new(AtomicU64::new(0));
    let b2 = bytes.clone();
    let sink: SharedProgress = Arc::new(move |e: Progress<'_>| {
        if let Progress::BytesProcessed(n) = e {
            b2.fetch_add(n, Ordering::Relaxed);
        }
    });
    let first = run(&r, t.path(), opts(), sink, CancellationToken::new()).await;
    assert!(first.manifest.is_complete());
    let s = first.stats();
    // a.txt, empty, .kopiaignore, big.bin, x; skip.log excluded; the symlink is not a file.
    assert_eq!(
        (s.file_count, s.dir_count, s.excluded_file_count),
        (5, 3, 1)
    );
    assert_eq!(bytes.load(Ordering::Relaxed), (5 << 20) + 5 + 1 + 6);
    let root = first.manifest.root_entry.clone().unwrap();
    assert!(root.object_id.starts_with('k'), "{}", root.object_id);
    let summ = root.summary.unwrap();
    assert_eq!((summ.total_file_count, summ.total_symlink_count), (5, 1));
    assert!(first.uploaded_bytes >= 5 << 20);

    // Unchanged: everything reused, nothing uploaded, the same root.
    let second = run_default(&r, t.path()).await;
    assert_eq!(second.root_object_id(), first.root_object_id());
    assert_eq!(second.uploaded_bytes, 0);
    assert_eq!(second.stats().cached_files, 6);
    assert_eq!(second.stats().non_cached_files, 0);

    // A changed mtime means re-reading (but the data dedups).
    let f = std::fs::File::options()
        .write(true)
        .open(t.path().join("sub/big.bin"))
        .unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1234))
        .unwrap();
    drop(f);
    let third = run_default(&r, t.path()).await;
    assert_eq!(third.stats().non_cached_files, 1);
    assert!(third.deduplicated_bytes >= 5 << 20);
    assert!(third.uploaded_bytes < 4096, "{}", third.uploaded_bytes);
    let found = r
        .find_manifests(&third.manifest.source.snapshot_labels())
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_file_source() {
    let r = repo();
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("one.txt");
    std::fs::write(&f, b"just a file").unwrap();
    let o = run_default(&r, &f).await;
    let root = o.manifest.root_entry.clone().unwrap();
    assert_eq!(root.name, b"one.txt");
    assert_eq!(root.size, 11);
    let s = root.summary.unwrap();
    assert_eq!(
        (s.total_file_count, s.total_file_size, s.total_dir_count),
        (1, 11, 0)
    );
    assert_eq!(s.max_mod_time, root.mtime);
    assert!(o.manifest.source.path.ends_with("one.txt"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_never_saves_a_complete_snapshot() {
    let r = repo();
    let t = tempfile::tempdir().unwrap();
    for i in 0..4 {
        std::fs::write(t.path().join(format!("f{i}")), data(6 << 20, i + 1)).unwrap();
    }
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let sink: SharedProgress = Arc::new(move |e: Progress<'_>| {
        if matches!(e, Progress::BytesProcessed(_)) {
            c2.cancel();
        }
    });
    let mut o = opts();
    o.parallel = Some(1);
    let out = run(&r, t.path(), o, sink, cancel).await;
    assert_eq!(out.manifest.incomplete_reason, "canceled");
    // Files interrupted by the cancellation are left out, not recorded as errors.
    assert_eq!(out.error_count, 0);
    assert!(out.stats().file_count < 4, "{:?}", out.stats());
    let stored = r
        .get_manifest(out.manifest_id.as_ref().unwrap())
        .await
        .unwrap();
    let m = SnapshotManifest::from_json(&stored.payload).unwrap();
    assert!(!m.is_complete());
    assert_eq!(
        m.root_entry.unwrap().summary.unwrap().incomplete_reason,
        "canceled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_limit_stops_with_limit_reached() {
    let r = repo();
    let t = tempfile::tempdir().unwrap();
    for i in 0..3 {
        std::fs::write(t.path().join(format!("f{i}")), data(3 << 20, i + 9)).unwrap();
    }
    let mut o = opts();
    o.parallel = Some(1);
    o.max_upload_bytes = 1 << 20;
    let out = run(
        &r,
        t.path(),
        o,
        Arc::new(NoProgress),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.manifest.incomplete_reason, "limit reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_saved_as_incomplete_and_reused() {
    let r = repo();
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("d")).unwrap();
    for i in 0..3 {
        std::fs::write(t.path().join(format!("d/f{i}")), data(8 << 20, i + 3)).unwrap();
    }
    let mut o = opts();
    o.checkpoint_interval = Duration::from_millis(1);
    o.parallel = Some(1);
    let out = run(
        &r,
        t.path(),
        o,
        Arc::new(NoProgress),
        CancellationToken::new(),
    )
    .await;
    assert!(out.manifest.is_complete());
    assert!(out.checkpoints > 0);
    let all = previous::snapshots_of(&*r, &out.manifest.source)
        .await
        .unwrap();
    let checkpoints: Vec<_> = all
        .iter()
        .filter(|m| m.incomplete_reason == "checkpoint")
        .collect();
    assert_eq!(checkpoints.len(), out.checkpoints as usize);
    for c in &checkpoints {
        let root = c.root_entry.as_ref().unwrap();
        assert_eq!(
            root.summary.as_ref().unwrap().incomplete_reason,
            "checkpoint"
        );
    }
    let mut bad = opts();
    bad.checkpoint_interval = DEFAULT_CHECKPOINT_INTERVAL + Duration::from_secs(1);
    let dynrepo: Arc<dyn Repository> = r.clone();
    let err = create(
        dynrepo,
        t.path(),
        bad,
        Arc::new(NoProgress),
        CancellationToken::new(),
    )
    .await;
    assert!(matches!(err, Err(Error::InvalidInput(_))));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_removed_after_listing_is_a_recorded_error() {
    use upload::UploadSettings;
    let r = repo();
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("gone");
    std::fs::write(&p, b"soon gone").unwrap();
    let entry = stat_entry(&p, "gone".into()).unwrap();
    std::fs::remove_file(&p).unwrap();
    let dynrepo: Arc<dyn Repository> = r.clone();
    let w = Arc::new(writer::Writer::new(dynrepo, 1 << 20, Arc::new(NoProgress)).unwrap());
    let u = Uploader::new(
        w,
        Arc::new(NoProgress),
        CancellationToken::new(),
        UploadSettings {
            parallel: 1,
            max_upload_bytes: 0,
            fail_fast: false,
            force_hash_percent: 0.0,
        },
    );
    let tree = policy_tree::PolicyTree::single(kopia_proto::manifest::builtin_default_policy());
    let holder = DirState::new(entry.clone(), PathBuf::new(), None);
    let got = u
        .upload_root_file(&p, &entry, &tree, &holder)
        .await
        .unwrap();
    let msg = got.unwrap_err();
    assert!(msg.contains("unable to open file"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_grown_after_listing_gets_the_size_written() {
    use upload::UploadSettings;
    let r = repo();
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("growing");
    std::fs::write(&p, b"short").unwrap();
    let entry = stat_entry(&p, "growing".into()).unwrap();
    let longer = data(3 << 20, 5);
    std::fs::write(&p, &longer).unwrap();
    let dynrepo: Arc<dyn Repository> = r.clone();
    let w = Arc::new(writer::Writer::new(dynrepo, 1 << 20, Arc::new(NoProgress)).unwrap());
    let u = Uploader::new(
        w,
        Arc::new(NoProgress),
        CancellationToken::new(),
        UploadSettings {
            parallel: 1,
            max_upload_bytes: 0,
            fail_fast: false,
            force_hash_percent: 0.0,
        },
    );
    let tree = policy_tree::PolicyTree::single(kopia_proto::manifest::builtin_default_policy());
    let holder = DirState::new(entry.clone(), PathBuf::new(), None);
    let de = u
        .upload_root_file(&p, &entry, &tree, &holder)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(de.size, longer.len() as i64);
    let oid = de.object_id.parse().unwrap();
    let back = crate::object_reader::read_all(&*r, oid, 8 << 20)
        .await
        .unwrap();
    assert_eq!(&back[..], &longer[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_snapshot_not_saved_when_policy_says_so() {
    use kopia_proto::manifest::{Policy, policy_labels};
    let r = repo();
    let t = tree();
    let mut p = Policy::default();
    p.retention.ignore_identical_snapshots = Some(true);
    r.put_manifest(&policy_labels(&SourceInfo::default()), &p.to_json())
        .await
        .unwrap();
    let first = run_default(&r, t.path()).await;
    assert!(first.manifest_id.is_some());
    let second = run_default(&r, t.path()).await;
    assert_eq!(second.manifest_id, None);
    assert_eq!(second.root_object_id(), first.root_object_id());
    std::fs::write(t.path().join("new"), b"changed").unwrap();
    let third = run_default(&r, t.path()).await;
    assert!(third.manifest_id.is_some());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_types_are_errors_by_policy_and_fail_fast_cancels() {
    use kopia_proto::manifest::{Policy, policy_labels};
    let r = repo();
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("f"), b"data").unwrap();
    let st = std::process::Command::new("mkfifo")
        .arg(t.path().join("pipe"))
        .status()
        .unwrap();
    assert!(st.success());
    let mut p = Policy::default();
    p.error_handling.ignore_unknown_types = Some(false);
    r.put_manifest(&policy_labels(&SourceInfo::default()), &p.to_json())
        .await
        .unwrap();
    let o = run_default(&r, t.path()).await;
    assert_eq!((o.error_count, o.ignored_error_count), (1, 0));
    let s = o.manifest.root_entry.unwrap().summary.unwrap();
    assert_eq!(s.failed_entries[0].path, b"pipe");
    assert_eq!(
        s.failed_entries[0].error,
        b"unknown or unsupported entry type"
    );
    assert!(o.manifest.incomplete_reason.is_empty());
    let mut ff = opts();
    ff.fail_fast = true;
    let o = run(
        &r,
        t.path(),
        ff,
        Arc::new(NoProgress),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(o.manifest.incomplete_reason, "canceled");
}
