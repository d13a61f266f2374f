//! Golden tests: kopia-proto reads, and re-creates, every repository that real kopia
//! v0.23.1 made for the golden matrix (`vmdp_testkit::golden_repos()`,
//! `fixtures/golden/README.md`). One test per repository; each asserts:
//!
//! 1. format blob: parses and re-serializes byte-identically; the config decrypts with
//!    the password (a wrong one gives `InvalidPassword`), re-encodes byte-identically
//!    and matches `expect.json` `create`; `kopia.blobcfg` decrypts;
//! 2. index blobs: selection (epoch manager or legacy) equals `kopia index list`; each
//!    decrypts, carries its hash in its name and re-encodes byte-identically; the merged
//!    entries equal `kopia content list --deleted` field by field; every pack's
//!    postamble, local index (IV = hash) and v1 format-bytes preamble check out;
//! 3. every content decrypts, decompresses (bounded by its original length) and hashes
//!    to its ID; the policy's compressors actually occur;
//! 4. every saved object (`objects/`) is rebuilt byte-identically from contents and
//!    re-encodes byte-identically (directory and indirect index objects); every entry
//!    reads back equal to the tree; chunk lengths equal kopia's;
//! 5. every manifest content gunzips, decodes and re-encodes byte-identically (whole
//!    content and per entry); snapshot, policy and maintenance payloads re-encode
//!    byte-identically; metadata equals `kopia manifest list`;
//! 6. the snapshot is rebuilt from `tree/` with kopia-proto only and yields kopia's root
//!    object ID, directory bytes, content set and compression decisions.

mod golden_support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use golden_support::rebuild::{HashSink, Rebuild};
use golden_support::{Crypter, Ecc, Golden, Shards, first_difference, read_blobs};
use kopia_proto::compression::{self, Compressor};
use kopia_proto::encryption::Encryptor;
use kopia_proto::format_blob::{
    BlobStorageConfig, FormatBlob, FormatError, RepositoryConfig, checksummed_format_bytes,
    recover_format_blob,
};
use kopia_proto::gojson::{parse_time, raw};
use kopia_proto::hashing::HashFunction;
use kopia_proto::ids::{ContentId, ObjectId};
use kopia_proto::index::epoch::{BlobMetadata, EpochState};
use kopia_proto::index::legacy::{active_legacy_index_blobs, parse_compaction_log};
use kopia_proto::index::{Index, IndexEntry, MergedIndex, build_index};
use kopia_proto::manifest::{
    DirManifest, MaintenanceParams, ManifestEntry, ManifestMetadata, ManifestSet, Permissions,
    Policy, SnapshotManifest, decode_manifest_content, decode_manifest_json, effective_policy,
    encode_manifest_json, policy_labels, policy_search_order,
};
use kopia_proto::object::{
    ContentSource, WriterOptions, decode_index, encode_index, load_index, read_object,
};
use kopia_proto::pack::{
    content_slice, decrypt_content, find_postamble, parse_pack_id, recover_local_index,
};
use kopia_proto::splitter;
use serde_json::Value;

/// Upper bound for a decompressed `Z` chunk or manifest (kopia's largest chunk is 16 MiB).
const MAX_PLAIN: usize = 64 << 20;

macro_rules! golden_repo_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check_repo($name);
            }
        )*
        /// Repositories with a test of their own.
        const TESTED: &[&str] = &[$($name),*];
    };
}

golden_repo_tests! {
    default => "default",
    aes_blake2b256_zstd => "aes-blake2b256-zstd",
    chacha_blake2s128_s2 => "chacha-blake2s128-s2",
    aes_blake2s256_gzip => "aes-blake2s256-gzip",
    chacha_blake3_deflate => "chacha-blake3-deflate",
    aes_blake3128_pgzip => "aes-blake3128-pgzip",
    chacha_sha224_zstdfastest_nometa => "chacha-sha224-zstdfastest-nometa",
    aes_sha256_zstdbetter => "aes-sha256-zstdbetter",
    chacha_sha256128_s2better_s2meta => "chacha-sha256128-s2better-s2meta",
    aes_sha3224_gzipfast => "aes-sha3224-gzipfast",
    chacha_sha3256_gzipbest => "chacha-sha3256-gzipbest",
    aes_sha256_pgzipbest => "aes-sha256-pgzipbest",
    chacha_blake2s256_s2par4 => "chacha-blake2s256-s2par4",
    aes_sha3256_s2par8_policysplitter => "aes-sha3256-s2par8-policysplitter",
    chacha_zstdbest_deprecated => "chacha-zstdbest-deprecated",
    v1_zstd => "v1-zstd",
    v2_chacha_fixed_deflatefast => "v2-chacha-fixed-deflatefast",
    pbkdf2_blake3_dynamic_deflatebest => "pbkdf2-blake3-dynamic-deflatebest",
    ecc_chacha_pgzipfast => "ecc-chacha-pgzipfast",
}

#[test]
fn every_golden_repository_is_tested() {
    let g = Golden::load();
    assert_eq!(g.index["kopia_version"], vmdp_testkit::KOPIA_VERSION);
    let mut listed = g.repo_names();
    listed.sort();
    let mut tested: Vec<String> = TESTED.iter().map(|s| s.to_string()).collect();
    tested.sort();
    assert_eq!(listed, tested, "index.json repos vs the tests in this file");
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// Go's `json.Marshal` of a value re-serialized by the generator (tests compare parsed
/// structures, never these bytes).
fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// A kopia `content list --json` element as an index entry (Go `omitempty` fields).
fn entry_from_kopia(v: &Value) -> IndexEntry {
    IndexEntry {
        content_id: s(&v["contentID"]).parse().unwrap(),
        pack_blob_id: Arc::from(v["packFile"].as_str().unwrap_or("")),
        pack_offset: v["packOffset"].as_u64().unwrap_or(0) as u32,
        packed_length: v["length"].as_u64().unwrap() as u32,
        original_length: v["originalLength"].as_u64().unwrap() as u32,
        timestamp_seconds: v["time"].as_i64().unwrap(),
        deleted: v["deleted"].as_bool().unwrap(),
        format_version: v["formatVersion"].as_u64().unwrap() as u8,
        compression_header_id: v["compression"].as_u64().unwrap_or(0) as u32,
        encryption_key_id: v["encryptionKeyID"].as_u64().unwrap_or(0) as u8,
    }
}

/// The decrypted, decompressed contents of a repository, as a [`ContentSource`].
struct Contents {
    plain: HashMap<ContentId, Vec<u8>>,
    /// Header IDs of `Z` (object-level compressed) contents read.
    z_headers: BTreeMap<u32, usize>,
}

impl ContentSource for Contents {
    type Error = String;

    fn read_direct(&mut self, content: ContentId, compressed: bool) -> Result<Vec<u8>, String> {
        let data = self
            .plain
            .get(&content)
            .ok_or_else(|| format!("content {content} not in the index"))?;
        if !compressed {
            return Ok(data.clone());
        }
        let h = compression::header_id_of(data).map_err(|e| e.to_string())?;
        *self.z_headers.entry(h).or_default() += 1;
        compression::decompress(data, MAX_PLAIN).map_err(|e| e.to_string())
    }
}

/// Step 1: the format blob and the repository configuration.
fn check_format(
    g: &Golden,
    expect: &Value,
    blobs: &BTreeMap<String, Vec<u8>>,
) -> (FormatBlob, RepositoryConfig) {
    let bytes = &blobs["kopia.repository"];
    let fb = FormatBlob::parse(bytes).expect("format blob parses");
    assert_eq!(
        fb.to_bytes(),
        *bytes,
        "format blob re-serializes: {}",
        first_difference(&fb.to_bytes(), bytes)
    );
    let create = &expect["create"];
    assert_eq!(
        fb.key_derivation().unwrap().name(),
        s(&create["key_derivation"])
    );
    let key = fb.derive_format_key(g.password()).unwrap();
    let wrong = format!("{}x", g.password());
    assert_eq!(
        fb.decrypt_config(&wrong).unwrap_err(),
        FormatError::InvalidPassword,
        "wrong password"
    );
    let plain = key
        .open(&fb.unique_id, &fb.encrypted_block_format)
        .expect("config decrypts with the password");
    let cfg = fb.decrypt_config_with_key(&key).unwrap();
    assert_eq!(RepositoryConfig::from_json(&plain).unwrap(), cfg);
    assert_eq!(
        cfg.to_json(),
        plain,
        "config re-encodes: {}",
        first_difference(&cfg.to_json(), &plain)
    );
    assert_eq!(cfg.hash, s(&create["hash"]));
    assert_eq!(cfg.encryption, s(&create["encryption"]));
    assert_eq!(cfg.splitter, s(&create["splitter"]));
    assert_eq!(cfg.version, create["format_version"].as_i64().unwrap());
    assert_eq!(
        cfg.effective_index_version(),
        create["index_version"].as_i64().unwrap()
    );
    assert_eq!(cfg.ecc, create["ecc"].as_str().unwrap_or(""));
    assert_eq!(
        cfg.ecc_overhead_percent,
        create["ecc_overhead_percent"].as_i64().unwrap_or(0)
    );
    match cfg.check_supported() {
        Ok(()) => assert!(!cfg.ecc_enabled()),
        Err(FormatError::EccUnsupported(name)) => assert_eq!(name, cfg.ecc),
        Err(e) => panic!("config not supported: {e}"),
    }
    let status = &expect["kopia"]["status"];
    assert_eq!(s(&status["uniqueIDHex"]), hex::encode(&fb.unique_id));
    let cf = &status["contentFormat"];
    assert_eq!(cf["maxPackSize"].as_i64().unwrap(), cfg.max_pack_size);
    assert_eq!(
        cf["epochParameters"]["Enabled"].as_bool().unwrap_or(false),
        cfg.epoch_parameters.enabled
    );
    let blobcfg = BlobStorageConfig::decrypt(&blobs["kopia.blobcfg"], &fb, &key)
        .expect("kopia.blobcfg decrypts");
    assert!(!blobcfg.is_retention_enabled());
    (fb, cfg)
}

/// Step 2: index blob selection, index bytes, merged entries.
fn check_indexes(
    expect: &Value,
    cfg: &RepositoryConfig,
    crypter: &Crypter,
    hash: &HashFunction,
    blobs: &BTreeMap<String, Vec<u8>>,
) -> Vec<IndexEntry> {
    let listing: Vec<BlobMetadata> = blobs.keys().map(BlobMetadata::named).collect();
    let (selected, watermark) = if cfg.epoch_parameters.enabled {
        let st = EpochState::from_listing(&listing);
        (st.complete_index_set(None), st.deletion_watermark)
    } else {
        let logs: Vec<_> = blobs
            .iter()
            .filter(|(id, _)| id.starts_with('m'))
            .map(|(id, b)| parse_compaction_log(&crypter.open_blob(id, b).unwrap()).unwrap())
            .collect();
        (active_legacy_index_blobs(&listing, &logs), None)
    };
    let selected: BTreeSet<&str> = selected.iter().map(|b| b.id.as_str()).collect();
    let kopia_selected: BTreeSet<&str> = expect["kopia"]["index_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| s(&v["id"]))
        .collect();
    assert_eq!(selected, kopia_selected, "index blob selection");
    let version = cfg.effective_index_version() as u8;
    let mut indexes = Vec::new();
    for id in selected {
        let plain = crypter
            .open_blob(id, &blobs[id])
            .expect("index blob decrypts");
        // `xn<epoch>_<hash>-<session>-c<n>` or legacy `n<hash>-<session>`.
        let head = id.split('-').next().unwrap();
        let name_hash = &head[head.len().saturating_sub(2 * hash.digest_len())..];
        let prefix = &head[..head.len() - name_hash.len()];
        assert!(
            prefix == "n" || (prefix.starts_with("xn") && prefix.ends_with('_')),
            "{id}"
        );
        assert_eq!(
            hex::encode(hash.hash(&plain)),
            name_hash,
            "{id}: name carries the hash"
        );
        let ndx = Index::open(plain, 28).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(ndx.version(), version, "{id}: index version");
        let entries: Vec<IndexEntry> = ndx.iter().collect();
        let rebuilt = build_index(&entries, version).unwrap();
        assert!(
            rebuilt == ndx.bytes(),
            "{id}: index re-encodes: {}",
            first_difference(&rebuilt, ndx.bytes())
        );
        indexes.push(ndx);
    }
    let merged = MergedIndex::new(indexes, watermark);
    let ours: Vec<IndexEntry> = merged.iter().collect();
    let mut theirs: Vec<IndexEntry> = expect["kopia"]["content_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(entry_from_kopia)
        .collect();
    theirs.sort_by_key(|e| e.content_id);
    assert_eq!(
        ours.len(),
        theirs.len(),
        "merged index size vs kopia content list"
    );
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b, "merged entry vs kopia content list");
    }
    ours.into_iter().filter(|e| !e.deleted).collect()
}

/// Step 2 (packs): postambles, local indexes, preambles.
fn check_packs(
    cfg: &RepositoryConfig,
    crypter: &Crypter,
    hash: &HashFunction,
    blobs: &BTreeMap<String, Vec<u8>>,
    live: &[IndexEntry],
) -> usize {
    let by_id: HashMap<ContentId, &IndexEntry> = live.iter().map(|e| (e.content_id, e)).collect();
    let preamble = if cfg.enable_password_change {
        0
    } else {
        let fbytes = checksummed_format_bytes(&blobs["kopia.repository"]).unwrap();
        fbytes.len()
    };
    let mut packs = 0;
    for (id, bytes) in blobs.iter().filter(|(id, _)| id.starts_with(['p', 'q'])) {
        packs += 1;
        parse_pack_id(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        if preamble > 0 {
            assert_eq!(
                recover_format_blob(bytes),
                Some(&blobs["kopia.repository"][..]),
                "{id}: v1 pack starts with the format bytes"
            );
        }
        let p = find_postamble(bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
        let local = recover_local_index(crypter, bytes, 0).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            p.local_index_iv,
            hash.hash(&local).as_bytes(),
            "{id}: local index IV"
        );
        let ndx = Index::open(&local[..], 28).unwrap();
        let mut min_offset = u32::MAX;
        for e in ndx.iter() {
            assert_eq!(&*e.pack_blob_id, id.as_str());
            min_offset = min_offset.min(e.pack_offset);
            let m = by_id
                .get(&e.content_id)
                .unwrap_or_else(|| panic!("{id}: {e:?} not merged"));
            assert!(
                **m == e || m.timestamp_seconds > e.timestamp_seconds,
                "{id}: {e:?}"
            );
        }
        assert_eq!(
            min_offset as usize,
            preamble + 32,
            "{id}: first content offset"
        );
    }
    packs
}

/// Step 3: every content decrypts, decompresses and hashes to its ID.
fn read_contents(
    crypter: &Crypter,
    hash: &HashFunction,
    blobs: &BTreeMap<String, Vec<u8>>,
    live: &[IndexEntry],
) -> (Contents, BTreeMap<u32, usize>) {
    let mut plain = HashMap::new();
    let mut by_header = BTreeMap::new();
    for e in live {
        let pack = blobs
            .get(&*e.pack_blob_id)
            .unwrap_or_else(|| panic!("{}: pack {} missing", e.content_id, e.pack_blob_id));
        let stored = content_slice(pack, e).unwrap();
        let dec = decrypt_content(crypter, e, stored).unwrap();
        let data = compression::decompress_expecting(
            &dec,
            e.compression_header_id,
            e.original_length as usize,
        )
        .unwrap_or_else(|err| panic!("{}: {err}", e.content_id));
        assert_eq!(
            data.len(),
            e.original_length as usize,
            "{}: length",
            e.content_id
        );
        assert_eq!(
            hash.content_id(e.content_id.prefix(), &data).unwrap(),
            e.content_id,
            "content hashes to its ID"
        );
        *by_header.entry(e.compression_header_id).or_default() += 1;
        plain.insert(e.content_id, data);
    }
    let contents = Contents {
        plain,
        z_headers: BTreeMap::new(),
    };
    (contents, by_header)
}

/// Step 4: saved objects and every snapshot entry.
fn check_objects(
    dir: &Path,
    tree: &Path,
    expect: &Value,
    policy_splitter: &str,
    contents: &mut Contents,
) -> (usize, usize) {
    let (mut dirs, mut indexes) = (0, 0);
    let objects = expect["objects"].as_object().unwrap();
    for (key, rel) in objects {
        let want = std::fs::read(dir.join(s(rel))).unwrap();
        let oid: ObjectId = key.parse().unwrap();
        let got = read_object(contents, oid).unwrap_or_else(|e| panic!("object {key}: {e}"));
        assert!(
            got == want,
            "object {key} from contents: {}",
            first_difference(&got, &want)
        );
        if want.starts_with(b"{\"stream\":\"kopia:indirect\"") {
            let entries = decode_index(&want).unwrap();
            assert_eq!(
                encode_index(&entries),
                want,
                "index object {key} re-encodes"
            );
            indexes += 1;
        } else {
            let dm = DirManifest::from_json(&want).unwrap();
            let re = dm.to_json();
            assert!(
                re == want,
                "directory {key} re-encodes: {}",
                first_difference(&re, &want)
            );
            dirs += 1;
        }
    }
    for e in expect["entries"].as_array().unwrap() {
        let path = s(&e["path"]);
        let oid: ObjectId = s(&e["obj"]).parse().unwrap();
        let on_disk = tree.join(path);
        let md = std::fs::symlink_metadata(&on_disk).unwrap();
        // The golden tree copy must still carry what kopia saw.
        assert_eq!(
            Permissions::from_posix(md.mode() & 0o7777).to_go_string(),
            s(&e["mode"]),
            "{path}: mode"
        );
        assert_eq!(
            md.mtime() * 1_000_000_000 + md.mtime_nsec(),
            parse_time(s(&e["mtime"])).unwrap(),
            "{path}: mtime of the tree copy"
        );
        assert_eq!(
            u64::from(md.uid()),
            e["uid"].as_u64().unwrap_or(0),
            "{path}: uid"
        );
        assert_eq!(
            u64::from(md.gid()),
            e["gid"].as_u64().unwrap_or(0),
            "{path}: gid"
        );
        match s(&e["type"]) {
            "f" => {
                let data = read_object(contents, oid).unwrap_or_else(|e| panic!("{path}: {e}"));
                let want = std::fs::read(&on_disk).unwrap();
                assert!(data == want, "{path}: file bytes");
                assert_eq!(e["size"].as_u64().unwrap_or(0), data.len() as u64);
                let ours = splitter::chunk_lengths(policy_splitter, &data).unwrap();
                match e["chunk_lengths"].as_array() {
                    Some(l) => {
                        let theirs: Vec<u64> = l.iter().map(|x| x.as_u64().unwrap()).collect();
                        let index = load_index(contents, oid.index_object_id().unwrap()).unwrap();
                        let lens: Vec<u64> = index.iter().map(|c| c.length).collect();
                        assert_eq!(lens, theirs, "{path}: chunk lengths in the index");
                        let ours: Vec<u64> = ours.iter().map(|&n| n as u64).collect();
                        assert_eq!(ours, theirs, "{path}: our splitter");
                    }
                    None => {
                        assert!(!oid.is_indirect(), "{path}");
                        assert!(ours.len() <= 1, "{path}: one chunk");
                    }
                }
            }
            "s" => {
                let data = read_object(contents, oid).unwrap();
                let target = std::fs::read_link(&on_disk).unwrap();
                assert_eq!(
                    data,
                    target.as_os_str().as_bytes(),
                    "{path}: symlink target"
                );
            }
            "d" => assert!(
                objects.contains_key(s(&e["obj"])),
                "{path}: directory saved"
            ),
            t => panic!("{path}: unexpected type {t}"),
        }
    }
    (dirs, indexes)
}

/// Kopia's stored bytes of `json`'s top-level `entries` array elements.
fn entry_elements(json: &[u8]) -> Vec<&[u8]> {
    let (members, _) = raw::object_members(json, 0).unwrap();
    let (_, value) = members.into_iter().find(|(k, _)| k == "entries").unwrap();
    raw::array_elements(value).unwrap()
}

/// Step 5: manifest contents and payloads. Returns the snapshot manifest and the
/// effective policy of its source.
fn check_manifests(
    expect: &Value,
    live: &[IndexEntry],
    contents: &Contents,
) -> (SnapshotManifest, Policy, usize) {
    let mut decoded = Vec::new();
    for e in live.iter().filter(|e| e.content_id.prefix() == Some(b'm')) {
        let gz = &contents.plain[&e.content_id];
        let mut json = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut json)
            .expect("manifest content gunzips");
        let entries = decode_manifest_content(gz, MAX_PLAIN).unwrap();
        assert_eq!(decode_manifest_json(&json).unwrap(), entries);
        let re = encode_manifest_json(&entries);
        assert!(
            re == json,
            "manifest content {}: {}",
            e.content_id,
            first_difference(&re, &json)
        );
        for (m, raw_el) in entries.iter().zip(entry_elements(&json)) {
            let mut one = Vec::new();
            m.write_json(&mut one);
            assert_eq!(one, raw_el, "manifest entry {}", m.id);
        }
        decoded.push(entries);
    }
    let n_contents = decoded.len();
    let set = ManifestSet::from_contents(decoded);
    let mut listed: Vec<ManifestMetadata> = expect["kopia"]["manifest_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap())
        .collect();
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    let ours: Vec<ManifestMetadata> = set.iter().map(ManifestEntry::metadata).collect();
    assert_eq!(ours, listed, "manifest metadata vs kopia manifest list");

    let mut snapshot = None;
    let mut policies = Vec::new();
    for m in set.iter() {
        let t = m.labels["type"].as_str();
        let re = match t {
            "snapshot" => {
                let sm = SnapshotManifest::from_json(&m.data).unwrap();
                assert!(snapshot.is_none(), "one snapshot");
                snapshot = Some((m.id.clone(), sm.clone()));
                sm.to_json()
            }
            "policy" => {
                let mut p = Policy::from_json(&m.data).unwrap();
                let re = p.to_json();
                p.labels = m.labels.clone();
                policies.push(p);
                re
            }
            "maintenance" => MaintenanceParams::from_json(&m.data).unwrap().to_json(),
            other => panic!("unexpected manifest type {other}"),
        };
        assert!(
            re == m.data,
            "{t} payload {}: {}",
            m.id,
            first_difference(&re, &m.data)
        );
    }
    let (snap_id, mut snap) = snapshot.expect("a snapshot manifest");
    assert_eq!(snap_id, s(&expect["snapshot"]["id"]));
    assert_eq!(snap.root_object_id(), s(&expect["snapshot"]["root_oid"]));
    assert!(snap.id.is_empty(), "stored payloads have an empty id");
    snap.id = snap_id;
    let printed = SnapshotManifest::from_json(&to_bytes(&expect["snapshot"]["manifest"])).unwrap();
    assert_eq!(printed.id, snap.id);
    assert_eq!(printed.source, snap.source);
    assert_eq!(
        (printed.start_time, printed.end_time),
        (snap.start_time, snap.end_time)
    );
    assert_eq!(printed.root_entry, snap.root_entry);
    let list = expect["kopia"]["snapshot_list"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        SnapshotManifest::from_json(&to_bytes(&list[0])).unwrap(),
        snap
    );

    let global = policies
        .iter()
        .find(|p| p.labels.get("policyType").map(String::as_str) == Some("global"))
        .expect("a global policy");
    let mut shown = Policy::from_json(&to_bytes(&expect["kopia"]["policy_global"])).unwrap();
    shown.labels = global.labels.clone();
    assert_eq!(
        &shown, global,
        "global policy vs kopia policy show --global"
    );
    let found: Vec<Policy> = policy_search_order(&snap.source)
        .iter()
        .flat_map(|si| {
            let labels = policy_labels(si);
            policies.iter().filter(move |p| p.labels == labels).cloned()
        })
        .collect();
    let effective = effective_policy(&snap.source, &found);
    let pol = &expect["policy"];
    assert_eq!(
        effective.compression.compressor_name,
        s(&pol["compression"])
    );
    assert_eq!(
        effective.metadata_compression.compressor_name,
        s(&pol["metadata_compression"])
    );
    assert_eq!(
        effective.splitter.algorithm,
        pol["splitter"].as_str().unwrap_or("")
    );
    (snap, effective, n_contents)
}

fn header_of(name: &str) -> Option<u32> {
    (!name.is_empty() && name != "none").then(|| Compressor::from_name(name).unwrap().header_id())
}

/// Step 6: rebuild the snapshot from the tree with kopia-proto only.
#[allow(clippy::too_many_arguments)]
fn rebuild(
    tree: &Path,
    dir: &Path,
    expect: &Value,
    cfg: &RepositoryConfig,
    hash: &HashFunction,
    policy: &Policy,
    snap: &SnapshotManifest,
    live: &[IndexEntry],
    contents: &mut Contents,
) -> String {
    let legacy = cfg.effective_index_version() == 1;
    let mut sink = HashSink::new(hash.clone(), legacy);
    if legacy {
        // Map every `Z` chunk kopia stored to the hash of its uncompressed bytes.
        let mut z = Vec::new();
        for (key, rel) in expect["objects"].as_object().unwrap() {
            let bytes = std::fs::read(dir.join(s(rel))).unwrap();
            if key.starts_with('I') || !bytes.starts_with(b"{\"stream\":\"kopia:indirect\"") {
                continue;
            }
            z.extend(decode_index(&bytes).unwrap().into_iter().map(|e| e.object));
        }
        z.extend(
            expect["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| s(&e["obj"]).parse::<ObjectId>().unwrap()),
        );
        for oid in z.into_iter().filter(ObjectId::is_compressed) {
            let data = read_object(contents, oid).unwrap();
            sink.z_oracle
                .insert(hash.hash(&data).as_bytes().to_vec(), oid.content_id());
        }
    }
    let meta = header_of(&policy.metadata_compression.compressor_name);
    let base = WriterOptions::new(&cfg.splitter).unwrap();
    let mut r = Rebuild {
        sink: &mut sink,
        file_opts: base
            .clone()
            .with_splitter(&policy.splitter.algorithm)
            .with_metadata_compression(meta),
        compression: policy.compression.clone(),
        symlink_opts: base.clone().with_metadata_compression(meta),
        dir_opts: base
            .with_prefix(Some(b'k'))
            .unwrap()
            .with_compression(meta)
            .with_metadata_compression(meta),
        oids: BTreeMap::new(),
        dir_bytes: BTreeMap::new(),
    };
    let root_name = tree.file_name().unwrap().as_bytes();
    let root = r
        .dir(tree, "", root_name)
        .unwrap_or_else(|e| panic!("rebuild: {e}"));

    // Per entry and per directory first: precise failure messages.
    let objects = expect["objects"].as_object().unwrap();
    for e in expect["entries"].as_array().unwrap() {
        let path = s(&e["path"]);
        assert_eq!(
            r.oids.get(path).map(String::as_str),
            Some(s(&e["obj"])),
            "{path}: object ID"
        );
    }
    for (rel, bytes) in &r.dir_bytes {
        let oid = if rel.is_empty() {
            root.object_id.as_str()
        } else {
            r.oids[rel].as_str()
        };
        let want = std::fs::read(dir.join(s(&objects[oid]))).unwrap();
        assert!(
            *bytes == want,
            "directory /{rel}: {}",
            first_difference(bytes, &want)
        );
    }
    assert_eq!(
        root.object_id,
        s(&expect["snapshot"]["root_oid"]),
        "root object ID"
    );
    let want_root = snap.root_entry.as_ref().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&root.to_json()),
        String::from_utf8_lossy(&want_root.to_json())
    );
    assert_eq!(&root, want_root);
    let substituted = r.sink.z_substituted;

    // The rebuilt contents are exactly kopia's non-manifest contents, and kopia kept the
    // same compression decision for each.
    let kopia: BTreeMap<ContentId, &IndexEntry> = live
        .iter()
        .filter(|e| e.content_id.prefix() != Some(b'm'))
        .map(|e| (e.content_id, e))
        .collect();
    let ours: BTreeSet<&ContentId> = sink.stored.keys().collect();
    let theirs: BTreeSet<&ContentId> = kopia.keys().collect();
    assert_eq!(ours, theirs, "rebuilt content set vs kopia's");
    // Compressed bytes differ between kopia's Go encoders and ours, so the keep-or-discard
    // decision may differ where the frame overhead dominates: inputs of at most
    // TINY bytes that only kopia-proto manages to shrink. Everything else must agree.
    const TINY: usize = 256;
    let (mut differing, mut tiny) = (Vec::new(), 0);
    for (id, st) in &sink.stored {
        let theirs = kopia[id].compression_header_id;
        if theirs == st.recorded {
            continue;
        }
        if theirs == 0 && Some(st.recorded) == st.requested && st.len <= TINY {
            tiny += 1;
            continue;
        }
        differing.push(format!(
            "{id} ({} bytes): requested {:?}, kopia recorded {theirs:#x}, kopia-proto would record {:#x}",
            st.len, st.requested, st.recorded
        ));
    }
    assert!(
        differing.is_empty(),
        "compression decisions:\n{}",
        differing.join("\n")
    );
    let mut note = format!("root rebuilt; {} contents", sink.stored.len());
    if tiny > 0 {
        note += &format!(", {tiny} tiny ones that only kopia-proto compresses");
    }
    if legacy {
        note += &format!(", {substituted} Z chunk IDs from kopia's compressed bytes");
    }
    note
}

fn check_repo(name: &str) {
    let g = Golden::load();
    let (dir, expect) = g.case(name);
    assert_eq!(s(&expect["password"]), g.password());
    assert_eq!(expect["kopia_version"], vmdp_testkit::KOPIA_VERSION);
    let repo_dir = dir.join(s(&expect["repo_dir"]));
    let tree = g.tree();
    assert_eq!(
        tree.canonicalize().unwrap(),
        dir.join(s(&expect["tree_dir"])).canonicalize().unwrap()
    );

    // Storage: listing, shard layout, lengths as kopia lists them.
    let shards = Shards::parse(&std::fs::read(repo_dir.join(".shards")).unwrap());
    let listed = read_blobs(&repo_dir);
    for (id, (path, _)) in &listed {
        assert_eq!(&shards.path_of(id), path, "{id}: sharded path");
    }
    let blobs: BTreeMap<String, Vec<u8>> = listed.into_iter().map(|(k, (_, b))| (k, b)).collect();
    let kopia_blobs: BTreeMap<&str, u64> = expect["kopia"]["blob_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (s(&v["id"]), v["length"].as_u64().unwrap()))
        .collect();
    let our_blobs: BTreeMap<&str, u64> = blobs
        .iter()
        .map(|(k, v)| (k.as_str(), v.len() as u64))
        .collect();
    assert_eq!(our_blobs, kopia_blobs, "blob listing vs kopia blob list");

    // 1. Format.
    let (_fb, cfg) = check_format(&g, &expect, &blobs);
    let ecc = cfg
        .ecc_enabled()
        .then(|| Ecc::new(cfg.ecc_overhead_percent));
    let crypter = Crypter {
        enc: Encryptor::new(&cfg.encryption, &cfg.master_key).unwrap(),
        ecc,
    };
    let hash = HashFunction::new(&cfg.hash, &cfg.hmac_secret).unwrap();

    // 2. Indexes and packs.
    let live = check_indexes(&expect, &cfg, &crypter, &hash, &blobs);
    let packs = check_packs(&cfg, &crypter, &hash, &blobs, &live);

    // 3. Contents.
    let (mut contents, by_header) = read_contents(&crypter, &hash, &blobs, &live);

    // 5 (first: step 4 needs the effective policy's splitter). Manifests.
    let (snap, policy, manifest_contents) = check_manifests(&expect, &live, &contents);
    let policy_splitter = if policy.splitter.algorithm.is_empty() {
        cfg.splitter.clone()
    } else {
        policy.splitter.algorithm.clone()
    };

    // 4. Objects and entries.
    let (dirs, index_objects) =
        check_objects(&dir, &tree, &expect, &policy_splitter, &mut contents);

    // 3 (cont.). Every compressor the policy names occurred.
    let data_comp = header_of(s(&expect["policy"]["compression"]));
    let meta_comp = header_of(s(&expect["policy"]["metadata_compression"]));
    let legacy = cfg.effective_index_version() == 1;
    if legacy {
        // Index v1 has no content-level compression: data is compressed at object level
        // (`Z` IDs) and metadata (prefixed contents) is never compressed.
        assert_eq!(by_header.keys().copied().collect::<Vec<_>>(), [0]);
        if let Some(h) = data_comp {
            assert!(
                contents.z_headers.contains_key(&h),
                "{h:#x} used for Z objects"
            );
        }
    } else {
        for h in [data_comp, meta_comp].into_iter().flatten() {
            assert!(
                by_header.contains_key(&h),
                "compressor {h:#x} occurs in the index"
            );
        }
        for h in by_header.keys().filter(|&&h| h != 0) {
            assert!(
                Some(*h) == data_comp || Some(*h) == meta_comp,
                "unexpected compressor {h:#x}"
            );
        }
    }

    // 6. Root object ID from scratch.
    let rebuilt = rebuild(
        &tree,
        &dir,
        &expect,
        &cfg,
        &hash,
        &policy,
        &snap,
        &live,
        &mut contents,
    );

    let headers: Vec<String> = by_header
        .iter()
        .chain(&contents.z_headers)
        .map(|(h, n)| format!("{h:#x}×{n}"))
        .collect();
    println!(
        "{name}: v{}/index v{} {} {} {}{}: {} blobs, {packs} packs, {} contents [{}], \
         {dirs} dirs + {index_objects} index objects, {} entries, {manifest_contents} \
         manifest contents; {rebuilt}",
        cfg.version,
        cfg.effective_index_version(),
        cfg.encryption,
        cfg.hash,
        cfg.splitter,
        if cfg.ecc_enabled() { " +ECC" } else { "" },
        blobs.len(),
        live.len(),
        headers.join(" "),
        expect["entries"].as_array().unwrap().len(),
    );
}
