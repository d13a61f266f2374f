//! Valid seed inputs per fuzz body: built with the crate's own writers and taken from
//! `tests/vectors/`. Every seed must be accepted by its body (the test checks that), so
//! mutations start from inputs that reach the deep code paths.

use std::collections::BTreeMap;

use base64::Engine;
use kopia_proto::compression::Compressor;
use kopia_proto::encryption::{Algorithm, Encryptor, blob_iv};
use kopia_proto::format_blob::{
    FormatBlob, KOPIA_TOOL, RepositoryConfig, checksummed_format_bytes,
};
use kopia_proto::hashing::{DEFAULT_HASH, HashFunction};
use kopia_proto::ids::{ContentId, ObjectId};
use kopia_proto::index::{IndexEntry, build_index};
use kopia_proto::manifest::{
    AclEntry, DirEntry, DirManifestBuilder, EntryType, MaintenanceParams, ManifestEntry,
    Permissions, SnapshotManifest, SourceInfo, UserProfile, builtin_default_policy,
    default_acl_entries, encode_manifest_content, encode_password_hash_token,
};
use kopia_proto::object::{IndirectEntry, encode_index};
use kopia_proto::pack::{ContentCipher, PackBuilder};
use kopia_proto::session::{self, session_response::Response};
use rand::SeedableRng;
use serde_json::Value;

use super::bodies::{MASTER_KEY, PlainCipher, RepoCipher, format_key};

fn vector(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read vector")).expect("json")
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

fn text(v: &Value) -> Vec<u8> {
    v.as_str().expect("string").as_bytes().to_vec()
}

fn hasher() -> HashFunction {
    HashFunction::new(DEFAULT_HASH, &[7u8; 32]).expect("default hash")
}

fn cid(prefix: Option<u8>, data: &[u8]) -> ContentId {
    hasher().content_id(prefix, data).expect("content ID")
}

/// The seeds of the body named `target`.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "content_id" => content_ids(),
        "object_id" => object_ids(),
        "indirect_index" => indirect_indexes(),
        "directory" => directories(),
        "snapshot_manifest" => snapshots(),
        "policy" => policies(),
        "manifest_content" => manifest_contents(),
        "user_acl" => users(),
        "go_time" => times(),
        "format_blob" => format_blobs(),
        "repository_config" => repository_configs(),
        "index" => indexes(),
        "pack" => packs(),
        "decompress" => compressed(),
        "decrypt" => encrypted(),
        "session_response" => session_responses(),
        "splitter" => splitter_params(),
        "epoch" => listings(),
        other => panic!("no seeds for {other}"),
    }
}

fn content_ids() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (p, d) in [
        (None, &b"a"[..]),
        (Some(b'k'), b"b"),
        (Some(b'x'), b""),
        (Some(b'm'), b"c"),
    ] {
        let id = cid(p, d);
        out.push(id.to_string().into_bytes());
        out.push(id.to_binary());
    }
    let long = HashFunction::new("BLAKE2B-256", &[1u8; 32]).expect("hash");
    let id = long.content_id(Some(b'z'), b"long").expect("id");
    out.push(id.to_string().into_bytes());
    out.push(id.to_binary());
    out
}

fn object_ids() -> Vec<Vec<u8>> {
    let objects = vector("objects.json");
    let mut out: Vec<Vec<u8>> = objects["objects"]
        .as_object()
        .expect("objects")
        .iter()
        .filter(|(k, _)| !k.ends_with("index_object_bytes"))
        .map(|(_, v)| text(v))
        .collect();
    out.push(text(&objects["two_level_indirection"]["object_id"]));
    let c = cid(Some(b'k'), b"x");
    out.push(ObjectId::compressed(c).to_string().into_bytes());
    let ii = ObjectId::indirect(ObjectId::indirect(ObjectId::direct(c)).expect("I")).expect("II");
    out.push(ii.to_string().into_bytes());
    out
}

fn indirect_indexes() -> Vec<Vec<u8>> {
    let objects = vector("objects.json");
    let mut out: Vec<Vec<u8>> = objects["objects"]
        .as_object()
        .expect("objects")
        .iter()
        .filter(|(k, _)| k.ends_with("index_object_bytes"))
        .map(|(_, v)| text(v))
        .collect();
    out.push(text(&objects["concatenation"]["index_object_bytes"]));
    out.push(text(
        &objects["two_level_indirection"]["level2_index_object_bytes"],
    ));
    let entries = [
        IndirectEntry {
            start: 0,
            length: 10,
            object: ObjectId::direct(cid(None, b"1")),
        },
        IndirectEntry {
            start: 10,
            length: 5,
            object: ObjectId::compressed(cid(Some(b'k'), b"2")),
        },
    ];
    out.push(encode_index(&entries));
    out
}

fn dir_entry(name: &str, t: EntryType, obj: &str) -> DirEntry {
    DirEntry {
        name: name.as_bytes().to_vec(),
        entry_type: t,
        mode: Permissions::from_posix(0o100644),
        size: 12,
        mtime: 1_700_000_000_123_456_789,
        uid: 1000,
        gid: 100,
        object_id: obj.to_string(),
        summary: None,
    }
}

fn directories() -> Vec<Vec<u8>> {
    let tree = vector("snapshot-tree.json");
    let mut out: Vec<Vec<u8>> = tree["expected"]["directory_object_bytes"]
        .as_object()
        .expect("dirs")
        .values()
        .map(text)
        .collect();
    out.push(text(&tree["expected"]["root_entry_json"]));
    out.push(text(
        &vector("json-encoding.json")["directory_object_with_12_failed_entries"],
    ));
    let mut b = DirManifestBuilder::new();
    b.add_entry(dir_entry(
        "file <&>",
        EntryType::File,
        &cid(None, b"f").to_string(),
    ));
    b.add_entry(dir_entry(
        "sub",
        EntryType::Directory,
        &format!("k{}", cid(None, b"d")),
    ));
    b.add_entry(dir_entry(
        "link",
        EntryType::Symlink,
        &cid(None, b"l").to_string(),
    ));
    b.add_failed_entry("bad/path", false, "permission denied");
    out.push(b.build(1_600_000_000_000_000_000, "").to_json());
    out
}

fn snapshots() -> Vec<Vec<u8>> {
    let enc = vector("json-encoding.json");
    let mut m = SnapshotManifest {
        source: SourceInfo::parse("alice@host:/home/alice", "h", "u").expect("source"),
        description: "fuzz \"seed\"".into(),
        start_time: 1_700_000_000_000_000_001,
        end_time: 1_700_000_100_000_000_000,
        incomplete_reason: "checkpoint".into(),
        root_entry: Some(dir_entry("root", EntryType::Directory, "kabc")),
        tags: BTreeMap::from([("tag:a".to_string(), "b".to_string())]),
        pins: vec!["p1".into(), "p2".into()],
        ..Default::default()
    };
    m.stats.file_count = 3;
    vec![
        text(&enc["snapshot_manifest_payload"]),
        text(&enc["snapshot_manifest_payload_with_tags_pins_incomplete"]),
        m.to_json(),
    ]
}

fn policies() -> Vec<Vec<u8>> {
    let enc = vector("json-encoding.json");
    vec![
        text(&enc["policy_payload_empty"]),
        text(&enc["policy_payload_builtin_defaults"]),
        builtin_default_policy().to_json(),
        br#"{"retention":{"keepLatest":3,"ignoreIdenticalSnapshots":true},
            "files":{"ignore":["*.tmp","/cache"],"noParentIgnore":true,"maxFileSize":100,
            "oneFileSystem":false},
            "scheduling":{"intervalSeconds":3600,"timeOfDay":[{"hour":1,"min":30}],
            "cron":["0 * * * *"],"runMissed":false},
            "compression":{"compressorName":"zstd","onlyCompress":[".txt"],"minSize":10},
            "actions":{"beforeFolder":{"path":"/bin/true","args":["a"],"timeout":5,
            "mode":"essential"},"afterSnapshotRoot":{"script":"echo","timeout":1}},
            "osSnapshots":{"volumeShadowCopy":{"enable":1}},
            "logging":{"entries":{"cacheHit":5}},"upload":{"maxParallelFileReads":4},
            "noParent":true}"#
            .to_vec(),
    ]
}

fn manifest_entries() -> Vec<ManifestEntry> {
    let labels = |t: &str| BTreeMap::from([("type".to_string(), t.to_string())]);
    vec![
        ManifestEntry::new(
            labels("snapshot"),
            1_700_000_000_000_000_000,
            b"{\"a\": [1, 2]}".to_vec(),
        )
        .expect("entry"),
        ManifestEntry::new(labels("policy"), 5, b"\"<html>\"".to_vec()).expect("entry"),
        ManifestEntry::deletion_marker("00112233445566778899aabbccddeeff", 7),
    ]
}

fn manifest_contents() -> Vec<Vec<u8>> {
    let entries = manifest_entries();
    vec![
        text(&vector("json-encoding.json")["manifest_content_plaintext_before_gzip"]),
        kopia_proto::manifest::encode_manifest_json(&entries),
        encode_manifest_content(&entries),
    ]
}

fn users() -> Vec<Vec<u8>> {
    let mini = vector("repo-mini.json");
    let profile = &mini["expected"]["userProfiles"]["alice@vm1"]["profile"];
    let u = UserProfile {
        username: "bob@host".into(),
        password_hash_version: 2,
        password_hash: vec![9u8; 64],
    };
    let mut out = vec![
        serde_json::to_vec(profile).expect("json"),
        u.to_json(),
        MaintenanceParams::defaults("owner@host").to_json(),
        AclEntry::new(
            "*@*",
            &[("type", "policy"), ("hostname", "OWN_HOST")],
            Default::default(),
        )
        .to_json(),
        encode_password_hash_token(1, &[3u8; 64]).into_bytes(),
        b"alice@vm1".to_vec(),
        b"0o755".to_vec(),
        b"user@host:/path/to".to_vec(),
    ];
    out.extend(default_acl_entries().iter().map(AclEntry::to_json));
    out
}

fn times() -> Vec<Vec<u8>> {
    let enc = vector("json-encoding.json");
    let mut out: Vec<Vec<u8>> = enc["utc_timestamp_nanoseconds_to_json"]
        .as_object()
        .expect("times")
        .values()
        .map(|v| {
            v.as_str()
                .expect("str")
                .trim_matches('"')
                .as_bytes()
                .to_vec()
        })
        .collect();
    out.push(b"2024-02-29T12:00:00.123456789+05:30".to_vec());
    out.push(b"1677-09-21T00:12:43.145224192Z".to_vec());
    out
}

fn format_blobs() -> Vec<Vec<u8>> {
    let mini = vector("repo-mini.json");
    let real = mini["blobs"]
        .as_array()
        .expect("blobs")
        .iter()
        .find(|b| b["id"] == "kopia.repository")
        .map(|b| b64(b["base64"].as_str().expect("b64")))
        .expect("format blob");
    let mut blob = FormatBlob {
        tool: KOPIA_TOOL.into(),
        build_version: "v0.23.1".into(),
        build_info: String::new(),
        unique_id: vec![5u8; 32],
        key_algo: "pbkdf2-sha256-600000".into(),
        encryption: "AES256_GCM".into(),
        encrypted_block_format: Vec::new(),
    };
    blob.encrypt_config(&RepositoryConfig::new_default(), &format_key())
        .expect("encrypt");
    let mut none = blob.clone();
    none.encryption = "NONE".into();
    vec![
        checksummed_format_bytes(&real).expect("checksummed"),
        real,
        blob.to_bytes(),
        none.to_bytes(),
    ]
}

fn repository_configs() -> Vec<Vec<u8>> {
    let mini = vector("repo-mini.json");
    let mut cfg = RepositoryConfig::new_default();
    cfg.upgrade_lock = serde_json::from_str(
        r#"{"ownerID":"o","creationTime":"2025-01-01T00:00:00Z","advanceNoticeDuration":100,
            "ioDrainTimeout":1,"statusPollInterval":1,"message":"m","maxPermittedClockDrift":1}"#,
    )
    .ok();
    vec![
        text(&mini["fixedInputs"]["formatConfigPlaintext"]),
        RepositoryConfig::new_default().to_json(),
        cfg.to_json(),
    ]
}

fn entry(id: ContentId, offset: u32, len: u32, deleted: bool) -> IndexEntry {
    IndexEntry {
        content_id: id,
        pack_blob_id: "p0123456789abcdef0123456789abcdef-s0123456789abcdef1".into(),
        pack_offset: offset,
        packed_length: len,
        original_length: len.saturating_sub(28),
        timestamp_seconds: 1_735_689_600,
        deleted,
        format_version: 2,
        compression_header_id: if deleted { 0 } else { 0x1100 },
        encryption_key_id: 0,
    }
}

fn indexes() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vector("repo-index.json")["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| hex::decode(c["indexHex"].as_str().expect("hex")).expect("hex"))
        .collect();
    let mini = vector("repo-mini.json");
    out.push(
        hex::decode(mini["expected"]["indexPlaintextHex"].as_str().expect("hex")).expect("hex"),
    );
    let entries = [
        entry(cid(None, b"1"), 32, 100, false),
        entry(cid(Some(b'k'), b"2"), 132, 50, true),
        entry(cid(Some(b'm'), b"3"), 182, 29, false),
    ];
    out.push(build_index(&entries, 2).expect("index v2"));
    // Format 1 has no compression or format-version fields.
    let v1: Vec<IndexEntry> = entries
        .iter()
        .map(|e| IndexEntry {
            compression_header_id: 0,
            format_version: 1,
            ..e.clone()
        })
        .collect();
    out.push(build_index(&v1, 1).expect("index v1"));
    out
}

fn build_pack<C: ContentCipher>(cipher: &C, version: u8) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(version));
    let mut b = PackBuilder::new("p00112233445566778899aabbccddeeff-s1", &[], &mut rng);
    for (i, data) in [&b"first"[..], b"second content", b""].iter().enumerate() {
        let id = cid(if i == 1 { Some(b'k') } else { None }, data);
        b.add_content(cipher, id, data, 0, data.len() as u32, 1_735_689_600, 2)
            .expect("add");
    }
    let h = hasher();
    let hash = move |d: &[u8]| h.hash(d).as_bytes().to_vec();
    b.finish(cipher, &hash, version, &mut rng)
        .expect("finish")
        .bytes
        .expect("pack bytes")
}

fn packs() -> Vec<Vec<u8>> {
    let mini = vector("repo-mini.json");
    let mut out: Vec<Vec<u8>> = mini["blobs"]
        .as_array()
        .expect("blobs")
        .iter()
        .filter(
            |b| matches!(b["id"].as_str(), Some(id) if id.starts_with('p') || id.starts_with('q')),
        )
        .map(|b| b64(b["base64"].as_str().expect("b64")))
        .collect();
    out.push(build_pack(&RepoCipher::fixed(), 2));
    out.push(build_pack(&RepoCipher::fixed(), 1));
    out.push(build_pack(&PlainCipher, 2));
    out
}

fn compressed() -> Vec<Vec<u8>> {
    let dir = format!("{}/tests/vectors/compression", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("compression vectors")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        // The 1.2 MB `sample` streams exceed the bodies' output limit.
        .filter(|p| !p.to_string_lossy().ends_with("-sample.bin"))
        .collect();
    files.sort();
    let all = Compressor::ALL.len() as u8;
    let mut out: Vec<Vec<u8>> = files
        .iter()
        .map(|p| [&[all][..], &std::fs::read(p).expect("read")].concat())
        .collect();
    let sample = b"hello hello hello hello, fuzzing compressors; hello again".repeat(3);
    for (i, c) in Compressor::ALL.iter().enumerate() {
        let packed = c.compress(&sample).expect("compress");
        out.push([&[i as u8][..], &packed[4..]].concat());
    }
    out
}

fn encrypted() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (a, alg) in [
        Algorithm::Aes256GcmHmacSha256,
        Algorithm::Chacha20Poly1305HmacSha256,
    ]
    .into_iter()
    .enumerate()
    {
        let enc = Encryptor::with_algorithm(alg, &MASTER_KEY);
        let iv = cid(None, b"iv").iv();
        let blob_id = format!("q{}-s1", hex::encode([0xabu8; 16]));
        let mut seed = vec![a as u8, 32];
        seed.extend_from_slice(&MASTER_KEY);
        seed.push(16);
        seed.extend_from_slice(&iv);
        seed.extend_from_slice(blob_id.as_bytes());
        seed.push(b'\n');
        seed.extend(enc.encrypt(b"secret payload", &iv));
        out.push(seed);
        // The IV is the blob ID's: the payload also decrypts as a blob.
        let biv = blob_iv(&blob_id).expect("blob IV");
        let mut seed = vec![a as u8, 0, 16];
        seed.extend_from_slice(&biv);
        seed.extend_from_slice(blob_id.as_bytes());
        seed.push(b'\n');
        seed.extend(Encryptor::with_algorithm(alg, &[]).encrypt(b"{}", &biv));
        out.push(seed);
    }
    // The repo-mini index blob, under its real ID.
    let mini = vector("repo-mini.json");
    for b in mini["blobs"].as_array().expect("blobs") {
        let id = b["id"].as_str().expect("id");
        if id.starts_with("xn") {
            let mut seed = vec![0, 0, 0];
            seed.extend_from_slice(id.as_bytes());
            seed.push(b'\n');
            seed.extend(b64(b["base64"].as_str().expect("b64")));
            out.push(seed);
        }
    }
    out
}

fn session_responses() -> Vec<Vec<u8>> {
    use session::*;
    let c = cid(Some(b'k'), b"c").to_string();
    let meta = ManifestEntryMetadata {
        id: "00112233445566778899aabbccddeeff".into(),
        mod_time_nanos: 5,
        length: 2,
        labels: [("type".to_string(), "snapshot".to_string())].into(),
    };
    let responses = vec![
        Response::InitializeSession(InitializeSessionResponse {
            parameters: Some(RepositoryParameters {
                hash_function: DEFAULT_HASH.into(),
                hmac_secret: vec![1u8; 32].into(),
                splitter: "DYNAMIC-4M-BUZHASH".into(),
                supports_content_compression: true,
            }),
        }),
        Response::GetContentInfo(GetContentInfoResponse {
            info: Some(ContentInfo {
                id: c.clone(),
                packed_length: 9,
                ..Default::default()
            }),
        }),
        Response::Flush(FlushResponse {}),
        Response::WriteContent(WriteContentResponse {
            content_id: c.clone(),
        }),
        Response::GetContent(GetContentResponse {
            data: b"data"[..].into(),
        }),
        Response::GetManifest(GetManifestResponse {
            json_data: b"{}"[..].into(),
            metadata: Some(meta.clone()),
        }),
        Response::PutManifest(PutManifestResponse {
            manifest_id: meta.id.clone(),
        }),
        Response::FindManifests(FindManifestsResponse {
            metadata: vec![meta.clone(), meta],
        }),
        Response::DeleteManifest(DeleteManifestResponse {}),
        Response::PrefetchContents(PrefetchContentsResponse {
            content_ids: vec![c],
        }),
        Response::ApplyRetentionPolicy(ApplyRetentionPolicyResponse {
            manifest_ids: vec!["a".into()],
        }),
        Response::SendNotification(SendNotificationResponse {}),
        Response::Error(ErrorResponse {
            code: 2,
            message: "not found".into(),
        }),
    ];
    responses
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            SessionResponse {
                request_id: i as i64 + 1,
                has_more: i == 7,
                response: Some(r),
            }
            .encode_to_vec()
        })
        .collect()
}

fn splitter_params() -> Vec<Vec<u8>> {
    // [splitter pick][len/10 u16][state u64][64-byte pattern][mode][write sizes...]
    let mut out = Vec::new();
    for (pick, len, mode) in [
        (0u8, 40_000u16, 0u8),
        (1, 30_000, 0),
        (2, 30_000, 0),
        (3, 5000, 1),
    ] {
        let mut s = vec![pick];
        s.extend_from_slice(&len.to_le_bytes());
        s.extend_from_slice(&0x1234_5678_9abc_def0u64.to_le_bytes());
        s.extend((0..64u8).map(|i| i.wrapping_mul(37)));
        s.push(mode);
        s.extend_from_slice(&[255, 1, 0, 17, 64, 200]);
        out.push(s);
    }
    out
}

fn listings() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vector("repo-epoch.json")["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| {
            let mut names: Vec<&str> = s["listing"]
                .as_array()
                .expect("listing")
                .iter()
                .map(|v| v.as_str().expect("id"))
                .filter(|n| n.starts_with('x'))
                .collect();
            names.sort_by_key(|n| !n.starts_with("xe"));
            names.join("\n").into_bytes()
        })
        .collect();
    out.push(
        b"xe3\nxw1735689600\nxr0_2_abc-s1-c1\nxs1_def-s2-c2\nxs1_fed-s2-c2\nxn3_aa-s3-c1\nn1\n\
          {\"inputMetadata\":[{\"id\":\"n1\"}],\"outputMetadata\":[{\"id\":\"n1\"}]}"
            .to_vec(),
    );
    out
}
