//! `vmdp` against a real `kopia server` when things go wrong: the server dies
//! mid-backup, the user presses Ctrl-C, a file grows while it is read, the
//! server hands out hostile directory objects, and sparse restores.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;
use vmdp_testkit::KopiaServer;

const ALICE: &str = "alice@vm1:alice-password-1";

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

/// Writes `files` files of `each` pseudo-random (incompressible) bytes.
fn random_tree(dir: &Path, files: usize, each: usize) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..files {
        let mut data = vec![0u8; each];
        for word in data.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            word.copy_from_slice(&b[..word.len()]);
        }
        std::fs::write(dir.join(format!("part-{i}.bin")), &data).unwrap();
    }
    (files * each) as u64
}

/// Total size of the files under `dir` (0 when it does not exist).
fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// Number of index blobs (kopia's `x…` blobs, written by each flush) in a
/// filesystem repository.
fn index_blobs(repo: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(repo) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('x'))
        .map(|e| {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        count_files(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Starts `vmdp ARGS` with captured output.
fn spawn_vmdp(home: &Path, args: &[&str]) -> Child {
    vmdp(home)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run vmdp: {e}"))
}

/// Waits up to `limit` for `child`; kills it and panics when it takes longer.
fn wait_for(mut child: Child, limit: Duration) -> (ExitStatus, String, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(_status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                out.status,
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "vmdp did not exit within {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the repository grew by `bytes` (or `limit` passed); returns the growth.
fn wait_for_upload(repo: &Path, bytes: u64, limit: Duration, child: &mut Child) -> u64 {
    let base = dir_size(repo);
    let deadline = Instant::now() + limit;
    loop {
        let grown = dir_size(repo).saturating_sub(base);
        if grown >= bytes || Instant::now() > deadline {
            return grown;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("vmdp exited ({status}) before the test could interrupt it");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a listed snapshot manifest is complete (kopia's JSON key is
/// `incomplete`; either spelling counts).
fn is_complete(m: &Value) -> bool {
    ["incomplete", "incompleteReason"]
        .iter()
        .all(|k| m[*k].as_str().unwrap_or("").is_empty())
}

/// Complete snapshots of `tree` as vmdp lists them.
fn vmdp_complete(home: &Path, tree: &Path) -> Vec<Value> {
    let list = vmdp_json(home, &["backup", "list", s(tree)]);
    list.as_array()
        .expect("list is an array")
        .iter()
        .filter(|m| is_complete(m))
        .cloned()
        .collect()
}

/// Complete snapshots of `tree` as kopia lists them (incomplete ones included
/// in the listing, then filtered out).
fn kopia_complete(home: &Path, tree: &Path) -> Vec<Value> {
    let out = vmdp_testkit::run_kopia(
        home,
        &["snapshot", "list", "--json", "--incomplete", s(tree)],
    );
    let all: Vec<Value> =
        serde_json::from_slice(&out).unwrap_or_else(|e| panic!("kopia snapshot list: {e}"));
    all.into_iter().filter(is_complete).collect()
}

#[test]
fn server_killed_mid_backup_fails_clearly_and_next_backup_reuses_uploads() {
    let mut server = KopiaServer::start(&[ALICE]);
    let alice = server.user(0).clone();
    let home = server.client_home("vmdp");
    connect_ok(&home, &server, &alice);
    let tree = scratch(&server, "big");
    let total = random_tree(&tree, 8, 50 << 20);

    // Flushing every second makes the uploaded data durable early; the server
    // is killed after 64 MiB of packs and at least one flush (a new index blob).
    let indexes = index_blobs(&server.repo_path());
    let mut child = spawn_vmdp(
        &home,
        &[
            "backup",
            "create",
            s(&tree),
            "--json",
            "--flush-interval",
            "1",
        ],
    );
    let grown = wait_for_upload(
        &server.repo_path(),
        64 << 20,
        Duration::from_secs(60),
        &mut child,
    );
    assert!(grown > 0, "nothing was uploaded within a minute");
    let deadline = Instant::now() + Duration::from_secs(30);
    while index_blobs(&server.repo_path()) <= indexes {
        assert!(Instant::now() < deadline, "vmdp never flushed");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("vmdp exited ({status}) before the test could interrupt it");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop();
    let (status, stdout, stderr) = wait_for(child, Duration::from_secs(60));
    assert_eq!(
        status.code(),
        Some(1),
        "vmdp must fail when the server dies\nstdout: {stdout}\nstderr: {stderr}"
    );
    let err = stderr.to_lowercase();
    assert!(
        err.contains("server") || err.contains("connect"),
        "error does not mention the server or connection: {stderr}"
    );

    server.restart();
    assert!(
        vmdp_complete(&home, &tree).is_empty(),
        "vmdp lists a complete snapshot"
    );
    let khome = server.client_home("kopia");
    server.connect_kopia_server(&khome, &alice);
    assert!(
        kopia_complete(&khome, &tree).is_empty(),
        "kopia lists a complete snapshot"
    );

    let again = vmdp_json(&home, &["backup", "create", s(&tree)]);
    let uploaded = again["upload"]["bytesUploaded"].as_u64().unwrap();
    assert!(
        uploaded < total,
        "the retry uploaded {uploaded} bytes of {total}: nothing reused ({again})"
    );
    assert_eq!(kopia_complete(&khome, &tree).len(), 1);
}

#[test]
fn ctrl_c_stops_a_backup_promptly_without_a_complete_snapshot() {
    let server = KopiaServer::start(&[ALICE]);
    let alice = server.user(0).clone();
    let home = server.client_home("vmdp");
    connect_ok(&home, &server, &alice);
    let tree = scratch(&server, "big");
    random_tree(&tree, 6, 40 << 20);

    let mut child = spawn_vmdp(&home, &["backup", "create", s(&tree)]);
    wait_for_upload(
        &server.repo_path(),
        16 << 20,
        Duration::from_secs(60),
        &mut child,
    );
    let sent = Instant::now();
    let rc = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let (status, _stdout, stderr) = wait_for(child, Duration::from_secs(30));
    let took = sent.elapsed();
    assert!(!status.success(), "vmdp succeeded despite Ctrl-C: {stderr}");
    assert!(took < Duration::from_secs(20), "Ctrl-C took {took:?}");
    assert!(
        vmdp_complete(&home, &tree).is_empty(),
        "a complete snapshot exists after Ctrl-C"
    );
    let khome = server.client_home("kopia");
    server.connect_kopia_server(&khome, &alice);
    assert!(kopia_complete(&khome, &tree).is_empty());
}

#[test]
fn file_growing_during_backup_is_stored_consistently() {
    let server = KopiaServer::start(&[ALICE]);
    let alice = server.user(0).clone();
    let home = server.client_home("vmdp");
    connect_ok(&home, &server, &alice);
    let tree = scratch(&server, "growing");
    random_tree(&tree, 2, 24 << 20);
    let log = tree.join("growing.log");
    std::fs::write(&log, vec![b'x'; 8 << 20]).unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let appender = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            let mut n = 0u64;
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                writeln!(f, "line {n:012} appended while the backup runs").unwrap();
                n += 1;
                if n % 64 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let created = run(vmdp(&home).args(["backup", "create", s(&tree), "--json"]));
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let lines = appender.join().unwrap();
    assert!(lines > 0);
    assert!(
        took < Duration::from_secs(40),
        "backing up a growing file took {took:?}: reading never caught up with the writer"
    );
    assert!(
        created.status.success(),
        "backup of a growing file failed: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert!(is_complete(&created), "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let ls = vmdp_json(&home, &["backup", "ls", &format!("{id}/growing.log")]);
    let recorded = ls["entries"][0]["size"]
        .as_u64()
        .unwrap_or_else(|| panic!("no size in {ls}"));
    assert!(recorded >= 8 << 20, "{ls}");

    let out = scratch(&server, "vmdp-restored");
    vmdp_ok(&home, &["backup", "restore", &id, s(&out)]);
    let restored = std::fs::read(out.join("growing.log")).unwrap();
    assert_eq!(restored.len() as u64, recorded);
    let now = std::fs::read(&log).unwrap();
    assert_eq!(
        &now[..restored.len()],
        &restored[..],
        "restored content is not a prefix of the file"
    );

    let khome = server.client_home("kopia");
    server.connect_kopia_server(&khome, &alice);
    let kout = scratch(&server, "kopia-restored");
    vmdp_testkit::run_kopia(&khome, &["snapshot", "restore", &id, s(&kout)]);
    assert_eq!(std::fs::read(kout.join("growing.log")).unwrap(), restored);
}

/// Writes, as `config`'s user through the server, a snapshot of
/// `user@host:/hostile` whose root holds a good file and `bad` (a file);
/// returns the snapshot manifest ID.
async fn save_hostile_snapshot(config: &Path, bad: &str) -> String {
    use vmdp_core::Repository;
    use vmdp_core::proto::ids::ObjectId;
    use vmdp_core::proto::manifest::{
        DirEntry, DirManifest, EntryType, Permissions, SnapshotManifest, SourceInfo,
    };

    let repo = vmdp_core::config::open_from_config(Some(config), None)
        .await
        .expect("open the server repository");
    let data = repo
        .write_content(None, b"pwned".to_vec().into(), 0)
        .await
        .unwrap();
    let file = |name: &str| DirEntry {
        name: name.as_bytes().to_vec(),
        entry_type: EntryType::File,
        mode: Permissions::from_posix(0o644),
        size: 5,
        mtime: 1_600_000_000_000_000_000,
        object_id: ObjectId::direct(data).to_string(),
        ..DirEntry::default()
    };
    let dir = DirManifest {
        stream_type: "kopia:directory".into(),
        entries: vec![file("fine.txt"), file(bad)],
        summary: None,
    };
    let dir_id = repo
        .write_content(Some(b'k'), dir.to_json().into(), 0)
        .await
        .unwrap();
    let start = 1_700_000_000_000_000_000;
    let m = SnapshotManifest {
        source: SourceInfo::parse("/hostile", "vm1", "alice").unwrap(),
        start_time: start,
        end_time: start + 1_000_000_000,
        root_entry: Some(DirEntry {
            name: b"hostile".to_vec(),
            entry_type: EntryType::Directory,
            mode: Permissions::from_posix(0o755),
            mtime: start,
            object_id: ObjectId::direct(dir_id).to_string(),
            ..DirEntry::default()
        }),
        ..SnapshotManifest::default()
    };
    let id = repo
        .put_manifest(&m.labels().unwrap(), &m.to_json())
        .await
        .unwrap();
    repo.flush().await.unwrap();
    repo.close().await.unwrap();
    id
}

#[test]
fn hostile_entries_from_the_server_are_refused_and_nothing_escapes() {
    let server = KopiaServer::start(&[ALICE]);
    let alice = server.user(0).clone();
    let home = server.client_home("vmdp");
    connect_ok(&home, &server, &alice);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (i, bad) in ["../escape", "a/b", "/abs", ".."].into_iter().enumerate() {
        let id = runtime.block_on(save_hostile_snapshot(&home.join("repository.config"), bad));
        let area: PathBuf = scratch(&server, &format!("hostile-{i}"));
        std::fs::create_dir_all(&area).unwrap();
        let target = area.join("target");
        let out = run(vmdp(&home).args(["backup", "restore", &id, s(&target)]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "restoring an entry named {bad:?} must fail: {stderr}"
        );
        assert!(
            stderr.contains(bad),
            "the error does not name the entry {bad:?}: {stderr}"
        );
        let mut names: Vec<String> = std::fs::read_dir(&area)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.retain(|n| n != "target");
        assert!(names.is_empty(), "{bad:?} escaped the target: {names:?}");
        for p in ["escape", "abs", "a"] {
            assert!(!area.join(p).exists() && !target.join(p).exists());
        }
        assert!(!Path::new("/abs").exists());
    }
}

#[test]
fn sparse_restore_of_a_one_gib_file_allocates_little() {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let server = KopiaServer::start(&[ALICE]);
    let alice = server.user(0).clone();
    let home = server.client_home("vmdp");
    connect_ok(&home, &server, &alice);
    let tree = scratch(&server, "sparse");
    std::fs::create_dir_all(&tree).unwrap();
    let f = std::fs::File::create(tree.join("disk.img")).unwrap();
    f.set_len(1 << 30).unwrap();
    f.write_at(b"boot sector", 0).unwrap();
    f.write_at(b"middle", 512 << 20).unwrap();
    f.write_at(b"end", (1 << 30) - 3).unwrap();
    drop(f);

    let created = vmdp_json(&home, &["backup", "create", s(&tree)]);
    let id = created["id"].as_str().unwrap();
    let out = scratch(&server, "restored");
    vmdp_ok(&home, &["backup", "restore", id, s(&out), "--write-sparse"]);
    let restored = out.join("disk.img");
    let meta = std::fs::metadata(&restored).unwrap();
    assert_eq!(meta.len(), 1 << 30);
    let allocated = meta.blocks() * 512;
    assert!(
        allocated < 64 << 20,
        "restored 1 GiB file allocates {allocated} bytes: not sparse"
    );
    let g = std::fs::File::open(&restored).unwrap();
    let mut buf = [0u8; 11];
    g.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"boot sector");
    let mut buf = [0u8; 6];
    g.read_exact_at(&mut buf, 512 << 20).unwrap();
    assert_eq!(&buf, b"middle");
    let mut buf = [0u8; 3];
    g.read_exact_at(&mut buf, (1 << 30) - 3).unwrap();
    assert_eq!(&buf, b"end");
    drop(g);
    // Identical content, byte for byte.
    vmdp_testkit::tree::assert_same_tree(&tree, &out);
}
