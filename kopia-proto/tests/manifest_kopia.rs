//! Checks the manifest-layer types against real kopia v0.23.1: a repository with a small
//! deterministic tree (symlink, empty dir and file, unicode, `<>&`, U+2028 and invalid UTF-8
//! names, setuid/setgid/sticky modes, uid/gid, nanosecond mtimes), a path policy, a user and
//! the default ACLs. Everything kopia prints or stores is parsed with our types and must
//! re-serialize byte-identically; directory objects are also rebuilt from the file system.

use kopia_proto::gojson::raw;
use kopia_proto::manifest::{
    AclEntry, DirEntry, DirManifest, DirManifestBuilder, EntryType, MaintenanceParams,
    ManifestMetadata, ManifestSet, Permissions, Policy, SnapshotManifest, SourceInfo, UserProfile,
    decode_manifest_json, effective_policy, encode_manifest_json, policy_labels,
    policy_search_order,
};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

const PW: &str = "--password=test-password";

fn kopia(home: &Path, args: &[&str]) -> Vec<u8> {
    let mut all = args.to_vec();
    all.push(PW);
    vmdp_testkit::run_kopia(home, &all)
}

fn touch(p: &Path, stamp: &str) {
    let st = Command::new("touch")
        .arg("-h")
        .arg("-d")
        .arg(stamp)
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success(), "touch {}", p.display());
}

/// Builds the tree; returns the source directory.
fn make_tree(base: &Path) -> std::path::PathBuf {
    let src = base.join("src");
    let name = |s: &[u8]| src.join(OsStr::from_bytes(s));
    std::fs::create_dir_all(src.join("sub")).unwrap();
    for d in ["emptydir", "sticky", "setgid"] {
        std::fs::create_dir(src.join(d)).unwrap();
    }
    std::fs::write(src.join("a.txt"), b"hello").unwrap();
    std::fs::write(src.join("empty"), b"").unwrap();
    std::fs::write(src.join("Upper"), b"U").unwrap();
    std::fs::write(name("we<ird>&name\u{2028}.txt".as_bytes()), b"x").unwrap();
    std::fs::write(name("ünï 漢".as_bytes()), b"u").unwrap();
    std::fs::write(name(b"bad\xffname"), b"b").unwrap();
    std::fs::write(src.join("sub/suid"), b"s").unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    let chmod = |p: &str, m: u32| {
        std::fs::set_permissions(src.join(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    chmod("sub/suid", 0o4755);
    chmod("sticky", 0o1777);
    chmod("setgid", 0o2750);
    chmod("a.txt", 0o640);
    std::os::unix::fs::lchown(src.join("a.txt"), Some(1000), Some(100)).unwrap();
    std::os::unix::fs::lchown(src.join("link"), Some(1001), Some(0)).unwrap();
    std::os::unix::fs::lchown(src.join("sub"), Some(0), Some(100)).unwrap();
    touch(&src.join("link"), "@1612325106.123456789");
    touch(&src.join("empty"), "@0");
    touch(&src.join("Upper"), "@1700000000.1");
    let mut all: Vec<_> = walk(&src);
    all.sort();
    for p in all.iter().rev() {
        if p.file_name() != Some(OsStr::new("link"))
            && p.file_name() != Some(OsStr::new("empty"))
            && p.file_name() != Some(OsStr::new("Upper"))
        {
            touch(p, "@1641092645.987654321");
        }
    }
    touch(&src.join("sticky"), "@1641092645");
    touch(&src, "@1650000000.5");
    src
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut v = vec![p.to_path_buf()];
    if std::fs::symlink_metadata(p).unwrap().is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            v.extend(walk(&e.unwrap().path()));
        }
    }
    v
}

/// Reads kopia's directory object `oid`, checks the round trip, rebuilds it from `dir` on
/// disk with our builder (object IDs taken from kopia's entries), compares the bytes, and
/// returns the directory's summary entry. Recurses into subdirectories.
fn check_dir(home: &Path, dir: &Path, oid: &str, count: &mut usize) -> DirManifest {
    let bytes = kopia(home, &["show", oid]);
    let parsed = DirManifest::from_json(&bytes).unwrap();
    // A name with invalid UTF-8 is stored as the escape `\ufffd`; decoding yields U+FFFD,
    // which Go (and we) re-encode literally. Everything else round-trips byte for byte.
    let lossy = String::from_utf8_lossy(&bytes).replace("\\ufffd", "\u{fffd}");
    assert_eq!(
        String::from_utf8_lossy(&parsed.to_json()),
        lossy,
        "round trip of {oid}"
    );
    *count += 1;
    let kopia_ids: BTreeMap<Vec<u8>, &DirEntry> =
        parsed.entries.iter().map(|e| (e.name.clone(), e)).collect();
    let mut b = DirManifestBuilder::new();
    for child in std::fs::read_dir(dir).unwrap() {
        let child = child.unwrap();
        let md = std::fs::symlink_metadata(child.path()).unwrap();
        let raw_name = child.file_name().as_bytes().to_vec();
        // Kopia stores invalid UTF-8 lossily; look the entry up under its decoded name.
        let stored_name = String::from_utf8_lossy(&raw_name).into_owned().into_bytes();
        let theirs = kopia_ids
            .get(&stored_name)
            .unwrap_or_else(|| panic!("{:?} missing", child.path()));
        let mut e = DirEntry {
            name: raw_name,
            mode: Permissions::from_posix(md.mode() & 0o7777),
            mtime: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
            uid: md.uid(),
            gid: md.gid(),
            object_id: theirs.object_id.clone(),
            ..DirEntry::default()
        };
        if md.is_dir() {
            e.entry_type = EntryType::Directory;
            let sub = check_dir(home, &child.path(), &theirs.object_id, count);
            e.summary = sub.summary;
        } else if md.file_type().is_symlink() {
            e.entry_type = EntryType::Symlink;
            e.size = std::fs::read_link(child.path()).unwrap().as_os_str().len() as i64;
        } else {
            e.entry_type = EntryType::File;
            e.size = md.len() as i64;
        }
        b.add_entry(e);
    }
    let md = std::fs::symlink_metadata(dir).unwrap();
    let ours = b.build(md.mtime() * 1_000_000_000 + md.mtime_nsec(), "");
    assert_eq!(
        String::from_utf8_lossy(&ours.to_json()),
        String::from_utf8_lossy(&bytes),
        "rebuilt {}",
        dir.display()
    );
    ours
}

fn elements(json: &[u8]) -> Vec<Vec<u8>> {
    raw::array_elements(json)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}

/// Removes the `"key":value` member (and its comma) that kopia's CLI adds to a payload.
fn strip_member(el: &[u8], key: &str) -> Vec<u8> {
    let (members, _) = raw::object_members(el, 0).unwrap();
    let mut out = b"{".to_vec();
    let mut first = true;
    for (k, v) in members {
        if k == key {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        kopia_proto::gojson::write_string(&mut out, k.as_bytes());
        out.push(b':');
        out.extend_from_slice(v);
    }
    out.push(b'}');
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end().to_string()
}

#[test]
fn real_kopia_repository_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let src = make_tree(home);
    let repo = home.join("repo");
    kopia(
        home,
        &[
            "repository",
            "create",
            "filesystem",
            "--path",
            repo.to_str().unwrap(),
            "--override-hostname=h1",
            "--override-username=u1",
        ],
    );
    let src_s = src.to_str().unwrap();
    kopia(
        home,
        &[
            "policy",
            "set",
            src_s,
            "--add-ignore",
            "*.tmp",
            "--add-ignore",
            "a<b&c",
            "--compression=zstd",
            "--keep-latest",
            "5",
            "--add-never-compress",
            ".zip",
            "--before-folder-action",
            "/bin/true x",
            "--snapshot-time",
            "10:30",
            "--max-file-size=100000",
        ],
    );
    kopia(
        home,
        &["policy", "set", "--global", "--add-only-compress", ".txt"],
    );
    kopia(home, &["snapshot", "create", src_s]);
    kopia(
        home,
        &[
            "server",
            "users",
            "add",
            "alice@vm1",
            "--user-password=alice-password",
        ],
    );
    kopia(home, &["server", "acl", "enable"]);

    // Snapshot list: the CLI adds the manifest ID and a "retentionReason" member.
    let list = kopia(home, &["snapshot", "list", "--json"]);
    let snaps = elements(&list);
    assert_eq!(snaps.len(), 1);
    let want = strip_member(&snaps[0], "retentionReason");
    let snap = SnapshotManifest::from_json(&snaps[0]).unwrap();
    assert_eq!(text(&snap.to_json()), text(&want));
    assert_eq!(snap.source, SourceInfo::new("h1", "u1", src_s));

    // Directory objects: round trip and rebuild from the file system.
    let root = snap.root_entry.clone().unwrap();
    let mut dirs = 0;
    let built = check_dir(home, &src, &root.object_id, &mut dirs);
    assert_eq!(dirs, 5);
    assert_eq!(built.summary.as_ref(), root.summary.as_ref());
    let md = std::fs::symlink_metadata(&src).unwrap();
    let our_root = DirEntry {
        name: b"src".to_vec(),
        entry_type: EntryType::Directory,
        mode: Permissions::from_posix(md.mode() & 0o7777),
        mtime: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        uid: md.uid(),
        gid: md.gid(),
        object_id: root.object_id.clone(),
        summary: built.summary.clone(),
        size: 0,
    };
    assert_eq!(text(&our_root.to_json()), text(&root.to_json()));

    // Manifest contents, decompressed by kopia: exact re-encoding, then every payload.
    let ids_out = String::from_utf8(kopia(home, &["content", "list", "--prefix", "m"])).unwrap();
    let mut contents = Vec::new();
    for id in ids_out.lines().filter_map(|l| l.split_whitespace().next()) {
        let plain = kopia(home, &["content", "show", "-z", id]);
        let entries = decode_manifest_json(&plain).unwrap();
        assert_eq!(
            text(&encode_manifest_json(&entries)),
            text(&plain),
            "manifest content {id}"
        );
        contents.push(entries);
    }
    let set = ManifestSet::from_contents(contents);
    let mut seen = BTreeMap::new();
    for e in set.iter() {
        let t = e.labels["type"].clone();
        let re = match t.as_str() {
            "snapshot" => SnapshotManifest::from_json(&e.data).unwrap().to_json(),
            "policy" => Policy::from_json(&e.data).unwrap().to_json(),
            "maintenance" => MaintenanceParams::from_json(&e.data).unwrap().to_json(),
            "user" => {
                let u = UserProfile::from_json(&e.data).unwrap();
                assert!(u.is_valid_password("alice-password").unwrap());
                assert!(!u.is_valid_password("nope").unwrap());
                assert_eq!(e.labels, u.labels());
                u.to_json()
            }
            "acl" => {
                let a = AclEntry::from_json(&e.data).unwrap();
                a.validate().unwrap();
                a.to_json()
            }
            other => panic!("unexpected manifest type {other}"),
        };
        assert_eq!(text(&re), text(&e.data), "payload of {t} manifest {}", e.id);
        *seen.entry(t).or_insert(0) += 1;
    }
    assert_eq!(seen.get("snapshot"), Some(&1));
    assert_eq!(seen.get("user"), Some(&1));
    assert_eq!(seen.get("acl"), Some(&6));
    assert_eq!(seen.get("policy"), Some(&2));
    assert_eq!(seen.get("maintenance"), Some(&1));
    let snap_entry = set.find(&SourceInfo::new("h1", "u1", src_s).snapshot_labels());
    assert_eq!(snap_entry.len(), 1);
    assert_eq!(snap_entry[0].id, snap.id);

    // Manifest metadata listing.
    let listing = kopia(home, &["manifest", "list", "--json"]);
    let metas = elements(&listing);
    assert_eq!(metas.len(), set.len());
    for m in &metas {
        let parsed: ManifestMetadata = serde_json::from_slice(m).unwrap();
        let mut re = Vec::new();
        parsed.write_json(&mut re);
        assert_eq!(text(&re), text(m));
        assert_eq!(set.get(&parsed.id).unwrap().metadata(), parsed);
    }

    // Policies: global payload and the effective policy of the source, computed by us.
    let global = kopia(home, &["policy", "show", "--global", "--json"]);
    assert_eq!(
        text(&Policy::from_json(&global).unwrap().to_json()),
        text(&global)
    );
    let found: Vec<Policy> = policy_search_order(&snap.source)
        .iter()
        .flat_map(|si| set.find(&policy_labels(si)))
        .map(|e| {
            let mut p = Policy::from_json(&e.data).unwrap();
            p.labels = e.labels.clone();
            p
        })
        .collect();
    assert_eq!(found.len(), 2);
    let effective = kopia(home, &["policy", "show", src_s, "--json"]);
    assert_eq!(
        text(&effective_policy(&snap.source, &found).to_json()),
        text(&effective)
    );
}
