//! Restoring data from a hostile repository: every trick is refused with an
//! error and nothing appears outside the restore target.

mod restore_support;

use std::path::Path;
use std::sync::Arc;

use restore_support::*;
use vmdp_core::proto::manifest::DirEntry;
use vmdp_core::restore::{RestoreOptions, restore};
use vmdp_core::{CancellationToken, Error, NoProgress};

/// A scratch area: `target` to restore into and `outside` that must stay empty.
struct Scratch {
    _tmp: tempfile::TempDir,
    target: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn scratch() -> Scratch {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    Scratch {
        target,
        outside,
        _tmp: tmp,
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

async fn restore_root(
    repo: &Arc<vmdp_core::repo::MemoryRepository>,
    root: &DirEntry,
    target: &Path,
) -> vmdp_core::Result<vmdp_core::restore::RestoreReport> {
    restore(
        dynrepo(repo),
        root,
        target,
        &RestoreOptions::default(),
        Arc::new(NoProgress),
        &CancellationToken::new(),
    )
    .await
}

#[tokio::test]
async fn hostile_names_are_refused_and_nothing_escapes() {
    let bad_names: [&[u8]; 9] = [
        b"..",
        b".",
        b"",
        b"../outside/evil",
        b"a/b",
        b"/abs",
        b"back\\slash",
        b"nul\0byte",
        b"../../../../../../tmp/evil",
    ];
    for bad in bad_names {
        let repo = repo();
        let s = scratch();
        let data = put(&repo, None, b"pwned").await;
        let good = file_entry(b"fine.txt", data, 5);
        let evil = file_entry(bad, data, 5);
        let dir = put_dir(&repo, &raw_dir(vec![good, evil])).await;
        let err = restore_root(&repo, &dir_entry("root", dir), &s.target)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Corrupt(_)),
            "name {:?}: expected a refusal, got {err:?}",
            String::from_utf8_lossy(bad)
        );
        assert!(names_in(&s.outside).is_empty(), "name {bad:?} escaped");
    }
}

#[tokio::test]
async fn duplicate_names_are_refused() {
    let repo = repo();
    let s = scratch();
    let a = put(&repo, None, b"one").await;
    let b = put(&repo, None, b"two").await;
    let dir = put_dir(
        &repo,
        &raw_dir(vec![file_entry(b"same", a, 3), file_entry(b"same", b, 3)]),
    )
    .await;
    let err = restore_root(&repo, &dir_entry("root", dir), &s.target)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("more than once"), "{err}");
}

#[tokio::test]
async fn symlink_in_target_is_not_followed() {
    let repo = repo();
    let s = scratch();
    std::fs::create_dir(&s.target).unwrap();
    std::os::unix::fs::symlink(&s.outside, s.target.join("sub")).unwrap();
    let data = put(&repo, None, b"pwned").await;
    let sub = put_dir(&repo, &raw_dir(vec![file_entry(b"f", data, 5)])).await;
    let root = put_dir(&repo, &raw_dir(vec![dir_entry("sub", sub)])).await;
    let result = restore_root(&repo, &dir_entry("root", root), &s.target).await;
    assert!(result.is_err(), "restore through a symlink must fail");
    assert!(names_in(&s.outside).is_empty(), "wrote through the symlink");
}

#[tokio::test]
async fn snapshot_symlink_then_directory_of_same_path_cannot_escape() {
    // A symlink entry pointing outside is restored as a symlink, and a later
    // restore of a tree with a directory of that name must not write through it.
    let repo = repo();
    let s = scratch();
    let link = put(&repo, None, s.outside.to_string_lossy().as_bytes()).await;
    let mut link_entry = file_entry(b"escape", link, s.outside.to_string_lossy().len() as i64);
    link_entry.entry_type = vmdp_core::proto::manifest::EntryType::Symlink;
    let first = put_dir(&repo, &raw_dir(vec![link_entry])).await;
    restore_root(&repo, &dir_entry("root", first), &s.target)
        .await
        .unwrap();
    assert!(
        s.target
            .join("escape")
            .symlink_metadata()
            .unwrap()
            .is_symlink()
    );

    let data = put(&repo, None, b"pwned").await;
    let sub = put_dir(&repo, &raw_dir(vec![file_entry(b"f", data, 5)])).await;
    let second = put_dir(&repo, &raw_dir(vec![dir_entry("escape", sub)])).await;
    let result = restore_root(&repo, &dir_entry("root", second), &s.target).await;
    assert!(result.is_err(), "restoring into a symlinked name must fail");
    assert!(names_in(&s.outside).is_empty(), "wrote through the symlink");
}

#[tokio::test]
async fn absurd_sizes_are_refused() {
    let repo = repo();
    let s = scratch();
    let data = put(&repo, None, b"tiny").await;
    let dir = put_dir(&repo, &raw_dir(vec![file_entry(b"huge", data, 1 << 60)])).await;
    let err = restore_root(&repo, &dir_entry("root", dir), &s.target)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
    let negative = put_dir(&repo, &raw_dir(vec![file_entry(b"neg", data, -5)])).await;
    let err = restore_root(&repo, &dir_entry("root", negative), &s.target)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
}
