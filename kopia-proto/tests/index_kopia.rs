//! Reads a repository written by real kopia v0.23.1 with the `index` and `pack` modules:
//! blob names, epoch selection, index v2 bytes (re-encoded byte for byte), merged entries
//! versus `kopia content list`, pack layout, postambles and local indexes, and every
//! content's bytes. Decryption uses the test-only helpers of `common`.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    TestAesGcm, b64, blake2b_256_128, blob_iv, decrypt_format_blob, entry_from_kopia_json,
};
use kopia_proto::index::epoch::{BlobMetadata, EpochState, epoch_number_from_blob_id};
use kopia_proto::index::{Index, IndexEntry, MergedIndex, build_index};
use kopia_proto::pack::{
    ContentCipher, content_slice, decrypt_content, find_postamble, parse_pack_id,
    recover_local_index,
};
use serde_json::Value;

const PASSWORD: &str = "index-test-password";

struct Kopia {
    root: PathBuf,
}

impl Kopia {
    fn new() -> Self {
        Kopia {
            root: vmdp_testkit::unique_temp_dir("vmdp-index-kopia"),
        }
    }

    fn repo(&self) -> PathBuf {
        self.root.join("repo")
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(vmdp_testkit::kopia())
            .args(args)
            .env("KOPIA_CONFIG_PATH", self.root.join("cfg/repo.config"))
            .env("KOPIA_CACHE_DIRECTORY", self.root.join("cache"))
            .env("KOPIA_LOG_DIR", self.root.join("logs"))
            .env("KOPIA_CHECK_FOR_UPDATES", "false")
            .env("KOPIA_PASSWORD", PASSWORD)
            .output()
            .expect("run kopia");
        assert!(
            out.status.success(),
            "kopia {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Kopia {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// All blobs of a filesystem repository: blob ID (path without `/` and `.f`) → bytes.
fn read_blobs(repo: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else if let Some(rel) = p.strip_prefix(base).unwrap().to_str() {
                if let Some(stem) = rel.strip_suffix(".f") {
                    out.insert(stem.replace('/', ""), std::fs::read(&p).unwrap());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(repo, repo, &mut out);
    out
}

fn make_source(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    std::fs::write(dir.join("hello.txt"), b"hello from vmdp\n").unwrap();
    let text: String = (0..4000)
        .map(|i| format!("line {i} of compressible text\n"))
        .collect();
    std::fs::write(dir.join("sub/text.txt"), text).unwrap();
    let mut x = 0x1234_5678_9abc_def0u64;
    let noise: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(dir.join("sub/deeper/noise.bin"), noise).unwrap();
}

fn decompress(e: &IndexEntry, plain: Vec<u8>) -> Vec<u8> {
    match e.compression_header_id {
        0 => plain,
        0x1100..=0x1103 => {
            assert_eq!(
                u32::from_be_bytes(plain[..4].try_into().unwrap()),
                e.compression_header_id
            );
            zstd::decode_all(&plain[4..]).unwrap()
        }
        other => panic!("unexpected compression {other:#x} for {}", e.content_id),
    }
}

#[test]
fn reads_a_real_kopia_repository() {
    let k = Kopia::new();
    let repo = k.repo();
    let repo_s = repo.to_str().unwrap();
    k.run(&[
        "repository",
        "create",
        "filesystem",
        "--path",
        repo_s,
        "--password",
        PASSWORD,
    ]);
    k.run(&["policy", "set", "--global", "--compression=zstd"]);
    let src = k.root.join("src");
    make_source(&src);
    k.run(&["snapshot", "create", src.to_str().unwrap()]);

    // Delete one data content so that a deletion marker exists (in an index blob of its own).
    let listed: Vec<Value> = serde_json::from_str(&k.run(&["content", "list", "--json"])).unwrap();
    let victim = listed
        .iter()
        .map(|v| v["contentID"].as_str().unwrap().to_string())
        .find(|id| id.len() == 32)
        .expect("a data content");
    k.run(&["content", "delete", "--dangerous-commands=enabled", &victim]);
    let kopia_entries: Vec<Value> =
        serde_json::from_str(&k.run(&["content", "list", "--deleted", "--json"])).unwrap();
    let kopia_index_blobs: Vec<Value> =
        serde_json::from_str(&k.run(&["index", "list", "--json"])).unwrap();

    let blobs = read_blobs(&repo);
    let format = decrypt_format_blob(&blobs["kopia.repository"], PASSWORD);
    assert_eq!(format["hash"], "BLAKE2B-256-128");
    assert_eq!(format["encryption"], "AES256-GCM-HMAC-SHA256");
    assert_eq!(format["indexVersion"], 2);
    let cipher = TestAesGcm::new(&b64(format["masterKey"].as_str().unwrap()));
    let secret = b64(format["secret"].as_str().unwrap());
    let hash = |d: &[u8]| blake2b_256_128(&secret, d);

    // Index blob selection equals kopia's `index list`.
    let listing: Vec<BlobMetadata> = blobs
        .keys()
        .map(|id| BlobMetadata::named(id.as_str()))
        .collect();
    let state = EpochState::from_listing(&listing);
    let mut selected: Vec<String> = state
        .complete_index_set(None)
        .into_iter()
        .map(|b| b.id)
        .collect();
    let mut expected: Vec<String> = kopia_index_blobs
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    selected.sort();
    expected.sort();
    assert_eq!(selected, expected);
    assert!(expected.len() >= 2);

    // Each index blob: name `xn0_<hash>-<session>-c1`, plaintext index v2 that we re-encode
    // to the identical bytes (flushed indexes carry no random suffix).
    let mut indexes = Vec::new();
    let mut sessions_with_index = Vec::new();
    for id in &selected {
        assert_eq!(epoch_number_from_blob_id(id), Some(0));
        let plain = cipher.decrypt(&blobs[id], &blob_iv(id)).unwrap();
        assert_eq!(
            hex::encode(hash(&plain)),
            &id[4..36],
            "{id}: name carries the hash"
        );
        let (_, rest) = id.split_once('-').unwrap();
        let (session, count) = rest.rsplit_once('-').unwrap();
        assert_eq!(count, "c1");
        sessions_with_index.push(session.to_string());
        let ndx = Index::open(plain.clone(), 28).unwrap();
        assert_eq!(ndx.version(), 2);
        let entries: Vec<IndexEntry> = ndx.iter().collect();
        assert_eq!(
            build_index(&entries, 2).unwrap(),
            plain,
            "{id}: re-encoding"
        );
        indexes.push(ndx);
    }

    // Merged view equals `kopia content list --deleted`.
    let merged = MergedIndex::new(indexes, state.deletion_watermark);
    let ours: Vec<IndexEntry> = merged.iter().collect();
    let mut theirs: Vec<IndexEntry> = kopia_entries.iter().map(entry_from_kopia_json).collect();
    theirs.sort_by_key(|e| e.content_id);
    assert_eq!(ours, theirs);
    let victim_id = victim.parse().unwrap();
    assert!(merged.get(&victim_id).unwrap().unwrap().deleted);
    assert!(ours.iter().any(|e| e.compression_header_id == 0x1100));

    // Packs: IDs, layout, postamble, local index.
    let mut by_pack: HashMap<&str, Vec<&IndexEntry>> = HashMap::new();
    for e in &ours {
        by_pack.entry(&e.pack_blob_id).or_default().push(e);
    }
    let packs: Vec<&String> = blobs
        .keys()
        .filter(|id| id.starts_with(['p', 'q']))
        .collect();
    assert!(!packs.is_empty());
    for id in packs {
        let parts = parse_pack_id(id).unwrap();
        let session = parts.session_id.unwrap();
        assert!(
            sessions_with_index.iter().any(|s| s == session),
            "{id}: session has an index"
        );
        let bytes = &blobs[id.as_str()];
        let p = find_postamble(bytes).unwrap();
        assert_eq!(p.local_index_offset % 4096, 0, "{id}: padded to 4096");
        let local = recover_local_index(&cipher, bytes, 0).unwrap();
        assert_eq!(p.local_index_iv, hash(&local), "{id}: local index IV");
        let local_entries: Vec<IndexEntry> = Index::open(&local[..], 28).unwrap().iter().collect();
        let own = &by_pack[id.as_str()];
        let contents_end = own
            .iter()
            .map(|e| e.pack_offset + e.packed_length)
            .max()
            .unwrap();
        assert_eq!(
            p.local_index_offset,
            contents_end.next_multiple_of(4096),
            "{id}"
        );
        assert_eq!(
            own.iter().map(|e| e.pack_offset).min(),
            Some(32),
            "{id}: preamble"
        );
        for e in &local_entries {
            let m = merged.get_winner(&e.content_id).unwrap().unwrap();
            assert!(
                m == *e || m.timestamp_seconds > e.timestamp_seconds,
                "{id}: {e:?}"
            );
        }
        // Tail read as kopia does it.
        let off = bytes.len().saturating_sub(8192);
        assert_eq!(
            recover_local_index(&cipher, &bytes[off..], off as u64).unwrap(),
            local
        );
    }

    // Every content decrypts, decompresses and hashes to its ID.
    for e in &ours {
        let stored = content_slice(&blobs[&*e.pack_blob_id], e).unwrap();
        let plain = decompress(e, decrypt_content(&cipher, e, stored).unwrap());
        assert_eq!(plain.len() as u32, e.original_length, "{}", e.content_id);
        assert_eq!(hash(&plain), e.content_id.hash(), "{}", e.content_id);
    }
}

impl Kopia {
    /// Runs kopia and returns (stdout, stderr).
    fn run_both(&self, args: &[&str]) -> (Vec<u8>, String) {
        let out = Command::new(vmdp_testkit::kopia())
            .args(args)
            .env("KOPIA_CONFIG_PATH", self.root.join("cfg/repo.config"))
            .env("KOPIA_CACHE_DIRECTORY", self.root.join("cache"))
            .env("KOPIA_LOG_DIR", self.root.join("logs"))
            .env("KOPIA_CHECK_FOR_UPDATES", "false")
            .env("KOPIA_PASSWORD", PASSWORD)
            .output()
            .expect("run kopia");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "kopia {args:?} failed: {stderr}");
        (out.stdout, stderr)
    }

    /// Writes a blob into the filesystem repository using its `[1,3]` sharding.
    fn put_blob(&self, id: &str, data: &[u8]) {
        let dir = self.repo().join(&id[..1]).join(&id[1..4]);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{}.f", &id[4..])), data).unwrap();
    }
}

#[test]
fn kopia_reads_a_pack_and_index_written_by_us() {
    use kopia_proto::ids::ContentId;
    use kopia_proto::index::epoch::index_blob_id;
    use kopia_proto::pack::{PackBuilder, generate_pack_id, generate_session_id};
    use rand::RngCore;

    let k = Kopia::new();
    let repo = k.repo();
    k.run(&[
        "repository",
        "create",
        "filesystem",
        "--path",
        repo.to_str().unwrap(),
        "--password",
        PASSWORD,
    ]);
    let blobs = read_blobs(&repo);
    let format = decrypt_format_blob(&blobs["kopia.repository"], PASSWORD);
    let cipher = TestAesGcm::new(&b64(format["masterKey"].as_str().unwrap()));
    let secret = b64(format["secret"].as_str().unwrap());
    let hash = |d: &[u8]| blake2b_256_128(&secret, d);
    let mut rng = rand::rng();
    let mut nonce = || {
        let mut n = [0u8; 12];
        rng.fill_bytes(&mut n);
        n
    };
    for _ in 0..8 {
        cipher.nonces.borrow_mut().push_back(nonce());
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut rng = rand::rng();
    let session = generate_session_id(&mut rng, now);
    let plain_a = b"written by the vmdp pack builder\n".to_vec();
    let plain_b: Vec<u8> = (0..20_000).map(|i| (i % 7) as u8 + b'a').collect();
    let id_a = ContentId::new(None, &hash(&plain_a)).unwrap();
    let id_b = ContentId::new(None, &hash(&plain_b)).unwrap();
    let pack_id = generate_pack_id(&mut rng, &id_a, &session);
    let mut b = PackBuilder::new(pack_id.as_str(), &[], &mut rng);
    b.add_content(&cipher, id_a, &plain_a, 0, plain_a.len() as u32, now, 3)
        .unwrap();
    let mut zb = 0x1100u32.to_be_bytes().to_vec();
    zb.extend(zstd::encode_all(&plain_b[..], 1).unwrap());
    b.add_content(&cipher, id_b, &zb, 0x1100, plain_b.len() as u32, now, 3)
        .unwrap();
    let fin = b.finish(&cipher, &hash, 2, &mut rng).unwrap();
    k.put_blob(&pack_id, fin.bytes.as_ref().unwrap());

    let index = build_index(&fin.entries, 2).unwrap();
    let index_hash = hex::encode(hash(&index));
    let index_id = index_blob_id(0, &index_hash, &session, 1);
    let mut enc = Vec::new();
    cipher
        .encrypt_into(&index, &blob_iv(&index_id), &mut enc)
        .unwrap();
    k.put_blob(&index_id, &enc);

    // kopia sees our entries exactly and returns our bytes.
    let listed: Vec<Value> = serde_json::from_str(&k.run(&["content", "list", "--json"])).unwrap();
    let mut theirs: Vec<IndexEntry> = listed
        .iter()
        .map(entry_from_kopia_json)
        .filter(|e| *e.pack_blob_id == *pack_id)
        .collect();
    theirs.sort_by_key(|e| e.content_id);
    assert_eq!(theirs, fin.entries);
    for (id, plain) in [(id_a, &plain_a), (id_b, &plain_b)] {
        let (out, _) = k.run_both(&["content", "show", &id.to_string()]);
        assert_eq!(&out, plain, "content show {id}");
    }
    k.run(&["content", "verify", "--full"]);

    // kopia finds our postamble and local index.
    let (_, err) = k.run_both(&[
        "index",
        "recover",
        "--dangerous-commands=enabled",
        &format!("--blobs={pack_id}"),
        "--no-commit",
    ]);
    assert!(
        err.contains("Found 2 contents to recover from 1 blobs"),
        "{err}"
    );
}
