//! Listing, resolving, deleting, verifying and diffing snapshots written into an
//! in-memory repository (formats from kopia-proto; kopia-compatibility of the
//! trees themselves is covered by the end-to-end tests against a real server).

mod restore_support;

use std::sync::Arc;

use bytes::Bytes;
use restore_support::*;
use vmdp_core::browse::TreeLimits;
use vmdp_core::diff::{Change, diff};
use vmdp_core::proto::ids::ObjectId;
use vmdp_core::proto::manifest::SourceInfo;
use vmdp_core::verify::{VerifyOptions, verify};
use vmdp_core::{CancellationToken, Error, NoProgress, Repository, SharedProgress, snapshots};

fn noprog() -> SharedProgress {
    Arc::new(NoProgress)
}

fn tree(big: &[u8], note: &[u8]) -> Node {
    dir(
        0o755,
        1_700_000_000_000_000_000,
        vec![
            ("big.bin", file(big, 0o644, 1_700_000_000_000_000_001)),
            ("note.txt", file(note, 0o600, 1_700_000_000_000_000_002)),
            (
                "sub",
                dir(
                    0o700,
                    1_700_000_000_000_000_003,
                    vec![("link", symlink("../note.txt", 1_700_000_000_000_000_004))],
                ),
            ),
        ],
    )
}

fn big_data() -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..9_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn list_latest_load_delete() {
    let r = repo();
    let root = write_tree(&r, "data", &tree(b"x", b"hello")).await;
    let src = SourceInfo::new("vm1", "alice", "/data");
    let other = SourceInfo::new("vm1", "alice", "/other");
    let first = save_snapshot(&r, &src, &root, 1_000, "").await;
    let second = save_snapshot(&r, &src, &root, 2_000, "").await;
    let _checkpoint = save_snapshot(&r, &src, &root, 3_000, "checkpoint").await;
    save_snapshot(&r, &other, &root, 500, "").await;

    let all = snapshots::list(&*r, None, false).await.unwrap();
    assert_eq!(all.len(), 3, "incomplete snapshot must be left out");
    let of_src = snapshots::list(&*r, Some(&src), false).await.unwrap();
    assert_eq!(
        of_src.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        [first.as_str(), second.as_str()]
    );
    assert_eq!(
        snapshots::list(&*r, Some(&src), true).await.unwrap().len(),
        3
    );
    assert_eq!(
        snapshots::latest(&*r, &src).await.unwrap().unwrap().id,
        second
    );

    let deleted = snapshots::delete(&*r, &second).await.unwrap();
    assert_eq!(deleted.start_time, 2_000);
    assert_eq!(
        snapshots::latest(&*r, &src).await.unwrap().unwrap().id,
        first
    );
    assert!(matches!(
        snapshots::load(&*r, &second).await,
        Err(Error::ManifestNotFound(_))
    ));
}

#[tokio::test]
async fn non_snapshot_manifests_are_refused() {
    let r = repo();
    let mut labels = vmdp_core::Labels::new();
    labels.insert("type".into(), "policy".into());
    let id = r.put_manifest(&labels, b"{}").await.unwrap();
    let err = snapshots::delete(&*r, &id).await.unwrap_err();
    assert!(err.to_string().contains("not a snapshot"), "{err}");
    assert!(
        r.get_manifest(&id).await.is_ok(),
        "policy manifest must survive"
    );
}

#[tokio::test]
async fn resolve_by_id_object_and_path() {
    let r = repo();
    let dynr = dynrepo(&r);
    let root = write_tree(&r, "data", &tree(b"abc", b"hello")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let src = SourceInfo::new("vm1", "alice", path.to_string_lossy());
    let id = save_snapshot(&r, &src, &root, 1_000, "").await;
    let limits = TreeLimits::default();

    let by_id = snapshots::resolve(&dynr, &format!("{id}/sub/link"), "vm1", "alice", &limits)
        .await
        .unwrap();
    assert_eq!(by_id.snapshot.unwrap().id, id);
    assert_eq!(by_id.subpath, "sub/link");
    assert_eq!(by_id.entry.name, b"link");

    let by_oid = snapshots::resolve(
        &dynr,
        &format!("{}/note.txt", root.object_id),
        "h",
        "u",
        &limits,
    )
    .await
    .unwrap();
    assert!(by_oid.snapshot.is_none());
    assert_eq!(by_oid.entry.size, 5);

    let bare = snapshots::resolve(&dynr, &root.object_id, "h", "u", &limits)
        .await
        .unwrap();
    assert!(
        bare.entry.is_dir(),
        "a directory object resolves as a directory"
    );
    let note_oid = by_oid.entry.object_id.clone();
    let bare_file = snapshots::resolve(&dynr, &note_oid, "h", "u", &limits)
        .await
        .unwrap();
    assert!(!bare_file.entry.is_dir());
    assert_eq!(bare_file.entry.size, 5);

    let by_path = snapshots::resolve(
        &dynr,
        &path.join("sub").to_string_lossy(),
        "vm1",
        "alice",
        &limits,
    )
    .await
    .unwrap();
    assert_eq!(by_path.snapshot.unwrap().id, id);
    assert_eq!(by_path.subpath, "sub");

    let err = snapshots::resolve(&dynr, &path.to_string_lossy(), "vm1", "bob", &limits)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no snapshot"), "{err}");
    let err = snapshots::resolve(&dynr, &format!("{id}/../x"), "vm1", "alice", &limits)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(".."), "{err}");
    let err = snapshots::resolve(&dynr, &format!("{id}/missing"), "vm1", "alice", &limits)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_everything_and_names_corrupt_and_missing_contents() {
    let r = repo();
    let big = big_data();
    let root = write_tree(&r, "data", &tree(&big, b"hello")).await;
    let cancel = CancellationToken::new();
    let report = verify(
        dynrepo(&r),
        &root,
        &VerifyOptions::default(),
        noprog(),
        &cancel,
    )
    .await
    .unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.dirs, 2);
    assert_eq!(report.objects, 3);
    assert_eq!(
        report.bytes,
        big.len() as u64 + 5 + "../note.txt".len() as u64
    );

    // Corrupt note.txt's content (same length), remove one chunk of big.bin.
    let note: ObjectId = find(&r, &root, "note.txt").await.object_id.parse().unwrap();
    let (note_cid, _) = note.direct_content().unwrap();
    r.put_raw_content(note_cid, Bytes::from_static(b"jello"));
    let big_oid: ObjectId = find(&r, &root, "big.bin").await.object_id.parse().unwrap();
    assert!(big_oid.is_indirect(), "9 MB must be split into chunks");
    let chunks = vmdp_core::object_reader::ObjectReader::open(dynrepo(&r), big_oid)
        .await
        .unwrap()
        .chunks()
        .to_vec();
    let (chunk_cid, _) = chunks[1].object.direct_content().unwrap();
    assert!(r.remove_content(&chunk_cid));

    let report = verify(
        dynrepo(&r),
        &root,
        &VerifyOptions::default(),
        noprog(),
        &cancel,
    )
    .await
    .unwrap();
    let mut paths: Vec<&str> = report.errors.iter().map(|e| e.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["big.bin", "note.txt"], "{:?}", report.errors);
    let note_err = report.errors.iter().find(|e| e.path == "note.txt").unwrap();
    assert!(
        note_err.error.to_string().contains("corrupt"),
        "{}",
        note_err.error
    );
}

#[tokio::test]
async fn verify_stops_when_cancelled() {
    let r = repo();
    let root = write_tree(&r, "data", &tree(b"abc", b"hello")).await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = verify(
        dynrepo(&r),
        &root,
        &VerifyOptions::default(),
        noprog(),
        &cancel,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled));
}

#[tokio::test]
async fn diff_reports_added_removed_and_modified() {
    let r = repo();
    let old = write_tree(&r, "data", &tree(b"abc", b"hello")).await;
    let new_tree = dir(
        0o755,
        1_700_000_000_000_000_000,
        vec![
            ("big.bin", file(b"abc", 0o644, 1_700_000_000_000_000_001)),
            (
                "note.txt",
                file(b"hello!", 0o640, 1_700_000_000_000_000_009),
            ),
            ("new.txt", file(b"n", 0o644, 1_700_000_000_000_000_001)),
        ],
    );
    let new = write_tree(&r, "data", &new_tree).await;
    let limits = TreeLimits::default();
    let d = diff(&*r, &old, &new, &limits).await.unwrap();
    let lines: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "added file ./new.txt",
            "modified file ./note.txt (contents, size, mtime, mode)",
            "removed directory ./sub",
        ]
    );
    assert!(matches!(d[0].change, Change::Added));
    assert!(diff(&*r, &old, &old, &limits).await.unwrap().is_empty());
}

async fn find(
    r: &vmdp_core::repo::MemoryRepository,
    root: &vmdp_core::proto::manifest::DirEntry,
    name: &str,
) -> vmdp_core::proto::manifest::DirEntry {
    vmdp_core::browse::lookup(r, root, &[name], &TreeLimits::default())
        .await
        .unwrap()
}
