//! `vmdp` against a real `kopia server` (filesystem repository, TLS with its
//! generated certificate, two users), interchangeably with real kopia.

mod support;

use std::path::Path;

use support::*;
use vmdp_testkit::KopiaServer;
use vmdp_testkit::tree::{assert_same_tree, make_tree};

const ALICE: &str = "alice@vm1:alice-password-1";
const BOB: &str = "bob@vm2:bob-password-2";

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

/// Adds what make-tree lacks for these tests: a 1 GiB sparse file.
fn add_sparse_file(tree: &Path) {
    let f = std::fs::File::create(tree.join("sparse-1g.img")).unwrap();
    f.set_len(1 << 30).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_at(b"middle", 512 << 20).unwrap();
    drop(f);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    std::fs::File::options()
        .write(true)
        .open(tree.join("sparse-1g.img"))
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn vmdp_and_kopia_back_up_and_restore_interchangeably() {
    let server = KopiaServer::start(&[ALICE, BOB]);
    let (vhome, khome) = connect_both(&server);

    let tree = scratch(&server, "tree");
    make_tree(&tree);
    add_sparse_file(&tree);

    // vmdp backs up; kopia sees the snapshot and restores it identically.
    let created = vmdp_json(
        &vhome,
        &["backup", "create", s(&tree), "--description", "first"],
    );
    let id = created["id"].as_str().expect("id").to_string();
    let vmdp_root = created["rootObjectID"]
        .as_str()
        .expect("rootObjectID")
        .to_string();
    assert_eq!(created["source"]["path"], s(&tree));
    let listed = kopia_snapshots(&khome, &tree);
    assert!(
        listed.iter().any(|m| m["id"] == id.as_str()),
        "kopia does not list vmdp's snapshot {id}: {listed:?}"
    );
    let out1 = scratch(&server, "kopia-restored");
    vmdp_testkit::run_kopia(&khome, &["snapshot", "restore", &id, s(&out1)]);
    assert_same_tree(&tree, &out1);

    // kopia backs up the same tree: same root object ID.
    vmdp_testkit::run_kopia(&khome, &["snapshot", "create", s(&tree)]);
    let listed = kopia_snapshots(&khome, &tree);
    let kopia_snap = listed
        .iter()
        .find(|m| m["id"] != id.as_str())
        .expect("kopia's own snapshot");
    assert_eq!(
        kopia_snap["rootEntry"]["obj"].as_str(),
        Some(vmdp_root.as_str()),
        "kopia and vmdp must produce the same root object ID"
    );

    // vmdp restores kopia's snapshot identically, and lists both.
    let kid = kopia_snap["id"].as_str().unwrap().to_string();
    let out2 = scratch(&server, "vmdp-restored");
    vmdp_ok(&vhome, &["backup", "restore", &kid, s(&out2)]);
    assert_same_tree(&tree, &out2);
    let list = vmdp_json(&vhome, &["backup", "list", s(&tree)]);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&id.as_str()) && ids.contains(&kid.as_str()),
        "{ids:?}"
    );

    // A sub-path restores as a single file; existing files are not overwritten.
    let one = scratch(&server, "one-file");
    std::fs::create_dir_all(&one).unwrap();
    let target = one.join("words.txt");
    vmdp_ok(
        &vhome,
        &[
            "backup",
            "restore",
            &format!("{id}/data/words.txt"),
            s(&target),
        ],
    );
    assert_eq!(
        std::fs::read(&target).unwrap(),
        std::fs::read(tree.join("data/words.txt")).unwrap()
    );
    let again = run(vmdp(&vhome).args([
        "backup",
        "restore",
        &format!("{id}/data/words.txt"),
        s(&target),
    ]));
    assert_eq!(
        again.status.code(),
        Some(1),
        "restoring over an existing file must fail"
    );
    vmdp_ok(
        &vhome,
        &[
            "backup",
            "restore",
            &format!("{id}/data/words.txt"),
            s(&target),
            "--overwrite",
        ],
    );

    // ls, verify and diff work on both snapshots.
    let ls = vmdp_json(&vhome, &["backup", "ls", &format!("{id}/data")]);
    assert!(
        ls["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "words.txt"),
        "{ls}"
    );
    let verified = vmdp_json(&vhome, &["backup", "verify", &id]);
    assert_eq!(verified["ok"], true, "{verified}");
    let diff = vmdp_json(&vhome, &["backup", "diff", &id, &kid]);
    assert_eq!(diff["changes"].as_array().unwrap().len(), 0, "{diff}");
}

#[test]
fn unchanged_tree_uploads_nothing_and_one_byte_edit_uploads_little() {
    let server = KopiaServer::start(&[ALICE]);
    let alice = server.user(0).clone();
    let home = server.client_home("vmdp");
    connect_ok(&home, &server, &alice);
    let tree = scratch(&server, "tree");
    make_tree(&tree);
    let big = tree.join("big.bin");
    let mut x = 0x1234_5678_9abc_def0u64;
    let data: Vec<u8> = (0..48 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&big, &data).unwrap();

    let first = vmdp_json(&home, &["backup", "create", s(&tree)]);
    assert!(
        first["upload"]["bytesUploaded"].as_u64().unwrap() >= data.len() as u64,
        "{first}"
    );

    let second = vmdp_json(&home, &["backup", "create", s(&tree)]);
    assert_eq!(
        second["upload"]["bytesUploaded"], 0,
        "unchanged tree: {second}"
    );
    assert_eq!(second["rootObjectID"], first["rootObjectID"]);

    let mut edited = data.clone();
    edited[20 << 20] ^= 0xff;
    std::fs::write(&big, &edited).unwrap();
    let third = vmdp_json(&home, &["backup", "create", s(&tree)]);
    let uploaded = third["upload"]["bytesUploaded"].as_u64().unwrap();
    assert!(uploaded > 0, "{third}");
    assert!(
        uploaded < 20 << 20,
        "a one-byte edit uploaded {uploaded} bytes of a {} byte file",
        data.len()
    );
}

#[test]
fn users_cannot_see_each_others_snapshots() {
    let server = KopiaServer::start(&[ALICE, BOB]);
    let (alice, bob) = (server.user(0).clone(), server.user(1).clone());
    let ahome = server.client_home("alice");
    let bhome = server.client_home("bob");
    connect_ok(&ahome, &server, &alice);
    connect_ok(&bhome, &server, &bob);
    let tree = scratch(&server, "tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("secret.txt"), b"alice only").unwrap();
    let created = vmdp_json(&ahome, &["backup", "create", s(&tree)]);
    let id = created["id"].as_str().unwrap();

    let bob_list = vmdp_json(&bhome, &["backup", "list"]);
    assert_eq!(
        bob_list.as_array().unwrap().len(),
        0,
        "bob sees: {bob_list}"
    );
    let out = run(vmdp(&bhome).args(["backup", "ls", id]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "bob opened alice's snapshot by ID"
    );
    let out = run(vmdp(&bhome).args(["backup", "delete", id]));
    assert_eq!(out.status.code(), Some(1), "bob deleted alice's snapshot");
    let alice_list = vmdp_json(&ahome, &["backup", "list"]);
    assert_eq!(alice_list.as_array().unwrap().len(), 1);

    // Documented limitation of kopia's server: contents are not protected per
    // user, so a root object ID works as a read capability for any user.
    let root = created["rootObjectID"].as_str().unwrap();
    let ls = vmdp_json(&bhome, &["backup", "ls", root]);
    assert!(
        ls["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "secret.txt"),
        "object IDs are expected to be readable by other users (README, security notes): {ls}"
    );
}

#[test]
fn bad_credentials_and_pins_fail_clearly_and_write_no_config() {
    let server = KopiaServer::start(&[ALICE]);
    let alice = server.user(0).clone();
    let home = server.client_home("vmdp");

    let out = vmdp_connect(&home, &server, &alice, "wrong-password");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("password") || err.contains("authentic") || err.contains("credential"),
        "unclear error: {err}"
    );
    assert!(!home.join("repository.config").exists());

    let wrong_fp = "00".repeat(32);
    let out = vmdp_connect_with(&home, server.url(), &wrong_fp, &alice, &alice.password);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains(&wrong_fp),
        "expected fingerprint missing: {err}"
    );
    assert!(
        err.contains(&server.fingerprint().to_lowercase()),
        "actual fingerprint missing: {err}"
    );
    assert!(!home.join("repository.config").exists());

    let out = run(vmdp(&home).args(["backup", "list"]));
    assert_eq!(out.status.code(), Some(1), "no config: must fail");
    let out = run(vmdp(&home).args(["backup", "frobnicate"]));
    assert_eq!(out.status.code(), Some(2), "usage error");
}

#[test]
fn config_is_shared_with_kopia_both_ways() {
    let server = KopiaServer::start(&[ALICE]);
    let alice = server.user(0).clone();
    let tree = scratch(&server, "tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("a.txt"), b"a").unwrap();

    // vmdp connect, then kopia uses the same config (and persisted password).
    let home = server.client_home("shared");
    connect_ok(&home, &server, &alice);
    let cfg = home.join("repository.config");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "config mode");
    }
    let created = vmdp_json(&home, &["backup", "create", s(&tree)]);
    let listed = kopia_snapshots(&home, &tree);
    assert!(
        listed.iter().any(|m| m["id"] == created["id"]),
        "{listed:?}"
    );

    // kopia connect, then vmdp uses kopia's config.
    let khome = server.client_home("kopia-first");
    server.connect_kopia_server(&khome, &alice);
    let list = vmdp_json(&khome, &["backup", "list", s(&tree)]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let status = vmdp_json(&khome, &["status"]);
    assert_eq!(status["status"]["identity"], "alice@vm1");

    vmdp_ok(&home, &["disconnect"]);
    assert!(!cfg.exists());
}
