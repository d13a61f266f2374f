//! Snapshot creation against real kopia v0.23.1, without the server transport: kopia
//! creates a filesystem repository, we read its hash function, HMAC secret and splitter
//! from the format blob, snapshot the same tree with vmdp (into an in-memory repository
//! with those parameters) and with `kopia snapshot create`, and compare root entries.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kopia_proto::format_blob::FormatBlob;
use kopia_proto::manifest::{Policy, SourceInfo, policy_labels};
use serde_json::Value;
use vmdp_core::repo::MemoryRepository;
use vmdp_core::snapshot::{CreateOptions, CreateOutcome, create};
use vmdp_core::{CancellationToken, NoProgress, RepoParameters, Repository};
use vmdp_testkit::{run_kopia, workspace_root};

const PASSWORD: &str = "snapshot-test-pw";

/// A kopia filesystem repository and the parameters vmdp needs to produce its IDs.
struct KopiaRepo {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    params: RepoParameters,
}

impl KopiaRepo {
    fn create() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&home).unwrap();
        run_kopia(
            &home,
            &[
                "repository",
                "create",
                "filesystem",
                "--path",
                repo.to_str().unwrap(),
                &format!("--password={PASSWORD}"),
                "--override-hostname=host",
                "--override-username=user",
            ],
        );
        let blob =
            FormatBlob::parse(&std::fs::read(repo.join("kopia.repository.f")).unwrap()).unwrap();
        let cfg = blob.decrypt_config(PASSWORD).unwrap();
        let params = RepoParameters {
            hash_function: cfg.hash.clone(),
            hmac_secret: cfg.hmac_secret.clone(),
            splitter: cfg.splitter.clone(),
            supports_content_compression: cfg.index_version >= 2,
        };
        KopiaRepo {
            _tmp: tmp,
            home,
            params,
        }
    }

    /// `kopia snapshot create DIR --json`: the manifest as JSON.
    fn snapshot(&self, dir: &Path) -> Value {
        let out = run_kopia(
            &self.home,
            &["snapshot", "create", dir.to_str().unwrap(), "--json"],
        );
        serde_json::from_slice(&out).unwrap()
    }

    fn memory(&self) -> Arc<MemoryRepository> {
        Arc::new(MemoryRepository::new(self.params.clone()).unwrap())
    }
}

async fn vmdp_snapshot(repo: &Arc<MemoryRepository>, dir: &Path) -> CreateOutcome {
    let r: Arc<dyn Repository> = repo.clone();
    create(
        r,
        dir,
        CreateOptions::new("host", "user"),
        Arc::new(NoProgress),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

/// Our root entry as kopia would print it in `snapshot create --json`.
fn root_json(o: &CreateOutcome) -> Value {
    let e = o.manifest.root_entry.as_ref().unwrap();
    serde_json::from_slice(&e.to_json()).unwrap()
}

fn stats_json(o: &CreateOutcome) -> Value {
    let m: Value = serde_json::from_slice(&o.manifest.to_json()).unwrap();
    m["stats"].clone()
}

fn make_tree(dir: &Path) {
    let st = std::process::Command::new("python3")
        .arg(workspace_root().join("fixtures/make-tree"))
        .arg(dir)
        .status()
        .expect("python3 is needed to build the test tree");
    assert!(st.success(), "fixtures/make-tree failed");
}

fn is_root() -> bool {
    let out = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_root_as_kopia_and_incremental() {
    let k = KopiaRepo::create();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree);
    let theirs = k.snapshot(&tree);
    let mem = k.memory();
    let ours = vmdp_snapshot(&mem, &tree).await;
    assert_eq!(
        ours.root_object_id(),
        theirs["rootEntry"]["obj"].as_str().unwrap()
    );
    // The whole root entry (name, mode, mtime, owner, summary) is the same.
    assert_eq!(root_json(&ours), theirs["rootEntry"]);
    assert_eq!(ours.error_count, 0);
    assert!(ours.manifest.is_complete());
    let files = ours.stats().file_count;
    assert!(files > 10, "{:?}", ours.stats());
    assert_eq!(ours.stats().cached_files, 0);
    // The manifest is stored under kopia's labels and reads back.
    let id = ours.manifest_id.clone().unwrap();
    let stored = mem.get_manifest(&id).await.unwrap();
    assert_eq!(
        stored.labels.get("type").map(String::as_str),
        Some("snapshot")
    );
    assert_eq!(
        stored.labels.get("hostname").map(String::as_str),
        Some("host")
    );

    // Second run: every file is reused, nothing at all is uploaded.
    let again = vmdp_snapshot(&mem, &tree).await;
    assert_eq!(again.root_object_id(), ours.root_object_id());
    assert_eq!(again.uploaded_bytes, 0, "{again:?}");
    assert_eq!(again.stats().non_cached_files, 0);
    assert_eq!(again.stats().cached_files, files + symlinks(&again));
    // Statistics count like kopia's, for the full and the incremental run (kopia adds
    // reused symlinks to `totalSize`, fresh ones not).
    assert_eq!(stats_json(&ours), k.latest(&tree)["stats"]);
    let theirs2 = k.snapshot(&tree);
    assert_eq!(theirs2["rootEntry"]["obj"], theirs["rootEntry"]["obj"]);
    assert_eq!(stats_json(&again), k.latest(&tree)["stats"]);
}

/// Symlinks count as cached files when reused (kopia reuses every non-directory).
fn symlinks(o: &CreateOutcome) -> i32 {
    let s = o
        .manifest
        .root_entry
        .as_ref()
        .unwrap()
        .summary
        .as_ref()
        .unwrap();
    i32::try_from(s.total_symlink_count).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_byte_edit_uploads_only_affected_chunks() {
    let k = KopiaRepo::create();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("big");
    std::fs::create_dir(&tree).unwrap();
    let mut x = 0x1234_5678_9abc_def0u64;
    let data: Vec<u8> = (0..(40usize << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let big = tree.join("big.bin");
    std::fs::write(&big, &data).unwrap();
    std::fs::write(tree.join("small.txt"), b"hello").unwrap();
    // A sparse 1 GiB file (cheap on disk; hashed by both tools).
    let sparse = std::fs::File::create(tree.join("sparse.img")).unwrap();
    sparse.set_len(1 << 30).unwrap();
    drop(sparse);

    let mem = k.memory();
    let first = vmdp_snapshot(&mem, &tree).await;
    let theirs = k.snapshot(&tree);
    assert_eq!(root_json(&first), theirs["rootEntry"]);

    // Change one byte in the middle of the big file (same size, new mtime).
    let mut edited = data.clone();
    edited[20 << 20] ^= 0xff;
    std::fs::write(&big, &edited).unwrap();
    let second = vmdp_snapshot(&mem, &tree).await;
    assert_eq!(second.stats().non_cached_files, 1);
    assert_eq!(second.stats().cached_files, 2);
    // Only the chunk(s) around the edit, the file's index and the directory are new:
    // kopia's DYNAMIC-4M-BUZHASH chunks are at most 8 MiB, and a byte flip moves at most
    // the boundaries within one rolling window of it.
    assert!(second.uploaded_bytes > 0);
    assert!(
        second.uploaded_bytes < 2 * (8 << 20) + 64 * 1024,
        "uploaded {} bytes for a one-byte edit",
        second.uploaded_bytes
    );
    assert!(second.uploaded_contents <= 5, "{second:?}");
    let theirs2 = k.snapshot(&tree);
    assert_eq!(root_json(&second), theirs2["rootEntry"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_entries_are_recorded_and_counted() {
    let k = KopiaRepo::create();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("ok.txt"), b"fine").unwrap();
    let st = std::process::Command::new("mkfifo")
        .arg(tree.join("pipe"))
        .status()
        .unwrap();
    assert!(st.success());
    let mem = k.memory();

    // Unknown entry types are skipped silently by default, as in kopia.
    let o = vmdp_snapshot(&mem, &tree).await;
    assert_eq!(o.error_count, 0);
    assert_eq!(root_json(&o), k.snapshot(&tree)["rootEntry"]);

    // With `ignoreUnknownTypes: false` the FIFO is a recorded error, in both tools.
    let mut p = Policy::default();
    p.error_handling.ignore_unknown_types = Some(false);
    run_kopia(
        &k.home,
        &["policy", "set", "--global", "--ignore-unknown-types=false"],
    );
    let global = policy_labels(&SourceInfo::default());
    mem.put_manifest(&global, &p.to_json()).await.unwrap();
    // Running as root, permissions cannot make reads fail; otherwise also an unreadable file.
    let root = is_root();
    if !root {
        let f = tree.join("secret.txt");
        std::fs::write(&f, b"no").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let o = vmdp_snapshot(&mem, &tree).await;
    let expected = if root { 1 } else { 2 };
    assert_eq!(o.error_count, expected);
    assert!(o.has_errors());
    let summ = o
        .manifest
        .root_entry
        .as_ref()
        .unwrap()
        .summary
        .clone()
        .unwrap();
    assert_eq!(summ.fatal_error_count, expected as i64);
    let paths: Vec<&[u8]> = summ
        .failed_entries
        .iter()
        .map(|e| e.path.as_slice())
        .collect();
    assert!(paths.contains(&&b"pipe"[..]), "{paths:?}");
    assert_eq!(summ.total_file_count, 1);
    let theirs = k.snapshot_allowing_errors(&tree);
    assert_eq!(theirs["rootEntry"]["summ"]["numFailed"], expected);
    assert_eq!(theirs["rootEntry"]["summ"]["files"], 1);
}

impl KopiaRepo {
    /// `kopia snapshot create` that exits non-zero because of entry errors (the manifest
    /// is saved anyway): the latest manifest of the source.
    fn snapshot_allowing_errors(&self, dir: &Path) -> Value {
        let out = vmdp_testkit::kopia_command(&self.home)
            .args(["snapshot", "create", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success(), "kopia should report the fatal error");
        self.latest(dir)
    }

    /// The latest snapshot manifest of `dir`, as `kopia snapshot list --json` shows it.
    fn latest(&self, dir: &Path) -> Value {
        let list = run_kopia(
            &self.home,
            &["snapshot", "list", dir.to_str().unwrap(), "--json"],
        );
        let v: Value = serde_json::from_slice(&list).unwrap();
        v.as_array().unwrap().last().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_policies_and_ignore_files_like_kopia() {
    let k = KopiaRepo::create();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree);
    std::fs::write(tree.join("docs/.kopiaignore"), b"lorem.txt\n").unwrap();
    std::fs::create_dir(tree.join("cache")).unwrap();
    std::fs::write(
        tree.join("cache/CACHEDIR.TAG"),
        b"Signature: 8a477f597d28d172789f06886806bc55\n",
    )
    .unwrap();
    std::fs::write(tree.join("cache/blob"), b"cached data").unwrap();
    let t = tree.to_str().unwrap();
    let data = tree.join("data");
    run_kopia(
        &k.home,
        &[
            "policy",
            "set",
            t,
            "--add-ignore",
            "*.key",
            "--add-ignore",
            "/many",
        ],
    );
    run_kopia(
        &k.home,
        &[
            "policy",
            "set",
            data.to_str().unwrap(),
            "--add-ignore",
            "random.bin",
        ],
    );
    let mem = k.memory();
    for (path, rules) in [
        (t, vec!["*.key", "/many"]),
        (data.to_str().unwrap(), vec!["random.bin"]),
    ] {
        let mut p = Policy::default();
        p.files.ignore_rules = rules.into_iter().map(String::from).collect();
        let si = SourceInfo::new("host", "user", path);
        mem.put_manifest(&policy_labels(&si), &p.to_json())
            .await
            .unwrap();
    }
    let theirs = k.snapshot(&tree);
    let ours = vmdp_snapshot(&mem, &tree).await;
    assert_eq!(root_json(&ours), theirs["rootEntry"]);
    let st = stats_json(&ours);
    assert_eq!(st, k.latest(&tree)["stats"]);
    // *.key, random.bin, lorem.txt; the cache directory and /many.
    assert_eq!(st["excludedFileCount"], 3);
    assert_eq!(st["excludedDirCount"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_upload_parts_like_kopia() {
    let k = KopiaRepo::create();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("parts");
    std::fs::create_dir(&tree).unwrap();
    let mut x = 42u64;
    let data: Vec<u8> = (0..(20usize << 20) + 123)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect();
    std::fs::write(tree.join("large.bin"), &data).unwrap();
    std::fs::write(tree.join("exactly-8m.bin"), &data[..8 << 20]).unwrap();
    run_kopia(
        &k.home,
        &[
            "policy",
            "set",
            "--global",
            "--parallel-upload-above-size-mib=8",
        ],
    );
    let mem = k.memory();
    let mut p = Policy::default();
    p.upload.parallel_upload_above_size = Some(8 << 20);
    mem.put_manifest(&policy_labels(&SourceInfo::default()), &p.to_json())
        .await
        .unwrap();
    let theirs = k.snapshot(&tree);
    let ours = vmdp_snapshot(&mem, &tree).await;
    assert_eq!(root_json(&ours), theirs["rootEntry"]);
    // kopia counts every part as a file.
    assert_eq!(stats_json(&ours), k.latest(&tree)["stats"]);
    assert_eq!(ours.stats().file_count, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_file_size_and_one_file_system_policies_like_kopia() {
    let k = KopiaRepo::create();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("small.txt"), vec![b's'; 900]).unwrap();
    std::fs::write(tree.join("exact.txt"), vec![b'e'; 1000]).unwrap();
    std::fs::write(tree.join("big.txt"), vec![b'b'; 1001]).unwrap();
    std::fs::write(tree.join("sub/huge.bin"), vec![b'h'; 50_000]).unwrap();
    let t = tree.to_str().unwrap();
    run_kopia(
        &k.home,
        &[
            "policy",
            "set",
            t,
            "--max-file-size=1000",
            "--one-file-system=true",
        ],
    );
    let mem = k.memory();
    let mut p = Policy::default();
    p.files.max_file_size = 1000;
    p.files.one_file_system = Some(true);
    mem.put_manifest(
        &policy_labels(&SourceInfo::new("host", "user", t)),
        &p.to_json(),
    )
    .await
    .unwrap();
    let theirs = k.snapshot(&tree);
    let ours = vmdp_snapshot(&mem, &tree).await;
    assert_eq!(root_json(&ours), theirs["rootEntry"]);
    let st = stats_json(&ours);
    assert_eq!(st, k.latest(&tree)["stats"]);
    // big.txt and sub/huge.bin are above the limit and left out; kopia does
    // not count size-limited files as excluded.
    assert_eq!(st["fileCount"], 2, "{st}");
    assert_eq!(st["totalSize"], 1900, "{st}");
    assert_eq!(st["excludedFileCount"], 0, "{st}");
}
