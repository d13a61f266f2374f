//! Restoring trees built in a MemoryRepository: contents, modes, times, owners,
//! symlinks, empty directories, unicode names, sub-paths, overwrite rules, sparse files.

mod restore_support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use restore_support::*;
use vmdp_core::browse::{TreeLimits, lookup};
use vmdp_core::proto::manifest::DirEntry;
use vmdp_core::proto::object::IndirectEntry;
use vmdp_core::restore::{RestoreOptions, restore};
use vmdp_core::{CancellationToken, Error, NoProgress, SharedProgress};

const T0: i64 = 1_700_000_000_123_456_789;

fn noprog() -> SharedProgress {
    Arc::new(NoProgress)
}

fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sample_tree() -> Node {
    dir(
        0o755,
        T0,
        vec![
            ("plain.txt", file(b"hello world\n", 0o644, T0 + 1)),
            ("secret", file(b"s3cr3t", 0o600, T0 + 2)),
            ("run.sh", file(b"#!/bin/sh\necho hi\n", 0o755, T0 + 3)),
            ("suid", file(b"x", 0o4755, T0 + 4)),
            ("readonly", file(b"ro", 0o444, T0 + 5)),
            ("empty-file", file(b"", 0o644, T0 + 6)),
            ("old", file(b"1969", 0o644, -999_999_995)),
            ("ünïcødé 文件.txt", file("ünï".as_bytes(), 0o644, T0 + 7)),
            ("we<ird>&name\u{2028}.txt", file(b"w", 0o644, T0 + 8)),
            ("big.bin", file(&pseudo_random(9 << 20, 42), 0o640, T0 + 9)),
            (
                "owned",
                Node::File {
                    data: b"o".to_vec(),
                    mode: 0o644,
                    mtime: T0,
                    uid: 1234,
                    gid: 5678,
                },
            ),
            ("link-rel", symlink("plain.txt", T0 + 10)),
            ("link-abs", symlink("/etc/passwd", T0 + 11)),
            ("link-dangling", symlink("../../nowhere", T0 + 12)),
            ("empty-dir", dir(0o750, T0 + 13, vec![])),
            (
                "locked",
                dir(
                    0o555,
                    T0 + 14,
                    vec![("inside.txt", file(b"in", 0o444, T0 + 15))],
                ),
            ),
            (
                "a",
                dir(
                    0o700,
                    T0 + 16,
                    vec![(
                        "b",
                        dir(
                            0o755,
                            T0 - 100,
                            vec![("deep.txt", file(b"deep", 0o644, T0 + 99))],
                        ),
                    )],
                ),
            ),
        ],
    )
}

/// Latest mtime in a subtree as kopia computes `summ.maxTime` (§6.5).
fn max_time(node: &Node) -> i64 {
    match node {
        Node::Dir {
            children, mtime, ..
        } if children.is_empty() => *mtime,
        Node::Dir { children, .. } => children
            .iter()
            .map(|(_, c)| match c {
                Node::Dir { mtime, .. } => (*mtime).max(max_time(c)),
                Node::File { mtime, .. } | Node::Symlink { mtime, .. } => *mtime,
            })
            .max()
            .unwrap_or(0),
        Node::File { mtime, .. } | Node::Symlink { mtime, .. } => *mtime,
    }
}

fn ns(m: &std::fs::Metadata) -> i64 {
    m.mtime() * 1_000_000_000 + m.mtime_nsec()
}

/// Compares what is on disk at `path` with `node`.
fn check(path: &Path, node: &Node, expected_dir_mtime: i64) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match node {
        Node::File {
            data,
            mode,
            mtime,
            uid,
            gid,
        } => {
            assert!(m.file_type().is_file(), "{}", path.display());
            assert_eq!(&std::fs::read(path).unwrap(), data, "{}", path.display());
            assert_eq!(m.mode() & 0o7777, *mode, "{}", path.display());
            assert_eq!(ns(&m), *mtime, "{}", path.display());
            assert_eq!((m.uid(), m.gid()), (*uid, *gid), "{}", path.display());
        }
        Node::Symlink { target, mtime } => {
            assert!(m.file_type().is_symlink(), "{}", path.display());
            assert_eq!(std::fs::read_link(path).unwrap(), Path::new(target));
            assert_eq!(ns(&m), *mtime, "{}", path.display());
        }
        Node::Dir { children, mode, .. } => {
            assert!(m.is_dir(), "{}", path.display());
            assert_eq!(m.mode() & 0o7777, *mode, "{}", path.display());
            assert_eq!(ns(&m), expected_dir_mtime, "{}", path.display());
            let mut names: Vec<_> = std::fs::read_dir(path)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            let mut want: Vec<_> = children.iter().map(|(n, _)| n.clone()).collect();
            want.sort();
            assert_eq!(names, want, "{}", path.display());
            for (n, c) in children {
                // Subdirectories are restored with their summary's maxTime (§6.8/§10).
                check(&path.join(n), c, max_time(c));
            }
        }
    }
}

async fn build(repo: &vmdp_core::repo::MemoryRepository, node: &Node) -> DirEntry {
    write_tree(repo, "root", node).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_tree_exactly() {
    let repo = repo();
    let tree = sample_tree();
    let root = build(&repo, &tree).await;
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out");
    let report = restore(
        dynrepo(&repo),
        &root,
        &target,
        &RestoreOptions::default(),
        noprog(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    // The restore root keeps its own mtime, not its maxTime.
    check(&target, &tree, T0);
    assert_eq!(report.files, 13);
    assert_eq!(report.symlinks, 3);
    assert_eq!(report.dirs, 5);
    assert_eq!(
        report.bytes,
        (9 << 20) + 12 + 6 + 18 + 1 + 2 + 4 + "ünï".len() as u64 + 1 + 1 + 2 + 4
    );
    assert!(report.errors.is_empty());
    // The big file came through an index object (several chunks).
    assert!(root.object_id.starts_with('k'));
}

#[tokio::test]
async fn restores_sub_paths_as_file_and_directory() {
    let repo = repo();
    let tree = sample_tree();
    let root = build(&repo, &tree).await;
    let limits = TreeLimits::default();
    let tmp = tempfile::tempdir().unwrap();
    let opts = RestoreOptions::default();
    let cancel = CancellationToken::new();

    let f = lookup(&*repo, &root, &["a", "b", "deep.txt"], &limits)
        .await
        .unwrap();
    let out = tmp.path().join("copy.txt");
    let rep = restore(dynrepo(&repo), &f, &out, &opts, noprog(), &cancel)
        .await
        .unwrap();
    assert_eq!(rep.files, 1);
    assert_eq!(std::fs::read(&out).unwrap(), b"deep");
    assert_eq!(ns(&std::fs::metadata(&out).unwrap()), T0 + 99);

    let d = lookup(&*repo, &root, &["a"], &limits).await.unwrap();
    let out = tmp.path().join("sub");
    restore(dynrepo(&repo), &d, &out, &opts, noprog(), &cancel)
        .await
        .unwrap();
    assert_eq!(std::fs::read(out.join("b/deep.txt")).unwrap(), b"deep");
    // A looked-up directory shows its maxTime, and that is what the root gets.
    assert_eq!(ns(&std::fs::metadata(&out).unwrap()), T0 + 99);

    let l = lookup(&*repo, &root, &["link-abs"], &limits).await.unwrap();
    let out = tmp.path().join("l");
    restore(dynrepo(&repo), &l, &out, &opts, noprog(), &cancel)
        .await
        .unwrap();
    assert_eq!(std::fs::read_link(&out).unwrap(), Path::new("/etc/passwd"));
}

#[tokio::test]
async fn existing_files_are_kept_unless_overwrite() {
    let repo = repo();
    let tree = dir(
        0o755,
        T0,
        vec![
            ("a.txt", file(b"from snapshot", 0o644, T0)),
            ("l", symlink("a.txt", T0)),
        ],
    );
    let root = build(&repo, &tree).await;
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("a.txt"), b"precious").unwrap();
    let cancel = CancellationToken::new();
    let err = restore(
        dynrepo(&repo),
        &root,
        &target,
        &RestoreOptions::default(),
        noprog(),
        &cancel,
    )
    .await
    .unwrap_err();
    match &err {
        Error::Io { path, source } => {
            assert!(path.ends_with("a.txt"), "{path}");
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"precious");
    let leftovers: Vec<_> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".vmdp-restore-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let opts = RestoreOptions {
        overwrite: true,
        ..RestoreOptions::default()
    };
    restore(dynrepo(&repo), &root, &target, &opts, noprog(), &cancel)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(target.join("a.txt")).unwrap(),
        b"from snapshot"
    );
    // Restoring again over the restored symlink with overwrite works too.
    restore(dynrepo(&repo), &root, &target, &opts, noprog(), &cancel)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_link(target.join("l")).unwrap(),
        Path::new("a.txt")
    );
    // Without overwrite, the existing symlink is an error.
    assert!(
        restore(
            dynrepo(&repo),
            &root,
            &target,
            &RestoreOptions::default(),
            noprog(),
            &cancel
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn skip_options_leave_attributes_alone() {
    let repo = repo();
    let tree = dir(0o755, T0, vec![("a", file(b"x", 0o600, 1_000_000_000))]);
    let root = build(&repo, &tree).await;
    let tmp = tempfile::tempdir().unwrap();
    let opts = RestoreOptions {
        skip_permissions: true,
        skip_times: true,
        skip_owners: true,
        ..RestoreOptions::default()
    };
    restore(
        dynrepo(&repo),
        &root,
        tmp.path(),
        &opts,
        noprog(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    let m = std::fs::metadata(tmp.path().join("a")).unwrap();
    assert_ne!(ns(&m), 1_000_000_000);
    assert_eq!(m.mode() & 0o777, 0o600); // created 0600, left alone
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_sparse_file_restores_fast_and_sparse() {
    let repo = repo();
    const CHUNK: usize = 4 << 20;
    let zeros = put(&repo, None, &vec![0u8; CHUNK]).await;
    let mut first = vec![0u8; CHUNK];
    first[..5].copy_from_slice(b"start");
    let mut last = vec![0u8; CHUNK];
    last[CHUNK - 3..].copy_from_slice(b"end");
    let first = put(&repo, None, &first).await;
    let last = put(&repo, None, &last).await;
    let n = 256usize;
    let entries: Vec<_> = (0..n)
        .map(|i| IndirectEntry {
            start: (i * CHUNK) as u64,
            length: CHUNK as u64,
            object: if i == 0 {
                first
            } else if i == n - 1 {
                last
            } else {
                zeros
            },
        })
        .collect();
    let obj = put_index(&repo, &entries).await;
    let size = (n * CHUNK) as i64;
    assert_eq!(size, 1 << 30);
    let root_dir = raw_dir(vec![file_entry(b"disk.img", obj, size)]);
    let root = dir_entry("root", put_dir(&repo, &root_dir).await);
    let tmp = tempfile::tempdir().unwrap();
    let opts = RestoreOptions {
        write_sparse: true,
        ..RestoreOptions::default()
    };
    let started = std::time::Instant::now();
    let rep = restore(
        dynrepo(&repo),
        &root,
        tmp.path(),
        &opts,
        noprog(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    assert_eq!(rep.bytes, 1 << 30);
    let path = tmp.path().join("disk.img");
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!(m.len(), 1 << 30);
    assert!(
        m.blocks() * 512 < (1 << 20),
        "allocated {} bytes",
        m.blocks() * 512
    );
    assert!(took.as_secs() < 30, "took {took:?}");
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(&path).unwrap();
    let mut head = [0u8; 8];
    f.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"start\0\0\0");
    f.seek(SeekFrom::End(-4)).unwrap();
    let mut tail = [0u8; 4];
    f.read_exact(&mut tail).unwrap();
    assert_eq!(&tail, b"\0end");
}

#[tokio::test]
async fn errors_are_collected_with_ignore_errors_and_stop_otherwise() {
    let repo = repo();
    let tree = dir(
        0o755,
        T0,
        vec![
            ("good.txt", file(b"good", 0o644, T0)),
            ("bad.txt", file(b"this content will vanish", 0o644, T0)),
            (
                "sub",
                dir(0o755, T0, vec![("also-good", file(b"ok", 0o644, T0))]),
            ),
        ],
    );
    let root = build(&repo, &tree).await;
    let bad = lookup(&*repo, &root, &["bad.txt"], &TreeLimits::default())
        .await
        .unwrap();
    let id: vmdp_core::proto::ids::ObjectId = bad.object_id.parse().unwrap();
    assert!(repo.remove_content(&id.content_id()));

    let tmp = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let err = restore(
        dynrepo(&repo),
        &root,
        &tmp.path().join("a"),
        &RestoreOptions::default(),
        noprog(),
        &cancel,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::ContentNotFound(_)), "{err}");

    let opts = RestoreOptions {
        ignore_errors: true,
        ..RestoreOptions::default()
    };
    let rep = restore(
        dynrepo(&repo),
        &root,
        &tmp.path().join("b"),
        &opts,
        noprog(),
        &cancel,
    )
    .await
    .unwrap();
    assert_eq!(rep.errors.len(), 1);
    assert_eq!(rep.errors[0].path, "bad.txt");
    assert_eq!(rep.files, 2);
    assert_eq!(
        std::fs::read(tmp.path().join("b/sub/also-good")).unwrap(),
        b"ok"
    );
    assert!(!tmp.path().join("b/bad.txt").exists());
}

#[tokio::test]
async fn cancelled_restore_stops() {
    let repo = repo();
    let root = build(&repo, &sample_tree()).await;
    let tmp = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = restore(
        dynrepo(&repo),
        &root,
        tmp.path(),
        &RestoreOptions::default(),
        noprog(),
        &cancel,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
}
