//! Repository layer checks: the format blob, index blobs, packs, the other blobs, and
//! every content decrypted, decompressed and hashed back to its ID.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::sync::Arc;

use kopia_proto::compression;
use kopia_proto::encryption::aes256_gcm_open;
use kopia_proto::format_blob::{
    BlobStorageConfig, FormatBlob, FormatError, FormatKey, RepositoryConfig,
    checksummed_format_bytes, recover_format_blob,
};
use kopia_proto::gojson::parse_time;
use kopia_proto::hashing::HashFunction;
use kopia_proto::ids::ContentId;
use kopia_proto::index::epoch::{BlobMetadata, EpochState};
use kopia_proto::index::legacy::{active_legacy_index_blobs, parse_compaction_log};
use kopia_proto::index::{Index, IndexEntry, MergedIndex, build_index};
use kopia_proto::object::ContentSource;
use kopia_proto::pack::{
    content_slice, decrypt_content, find_postamble, parse_pack_id, recover_local_index,
};
use serde_json::Value;

use super::ecc::Crypter;
use super::{Golden, MAX_PLAIN, first_difference, s};

/// A kopia `content list --json` element as an index entry (Go `omitempty` fields).
pub fn entry_from_kopia(v: &Value) -> IndexEntry {
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
pub struct Contents {
    pub plain: HashMap<ContentId, Vec<u8>>,
    /// Header IDs of `Z` (object-level compressed) contents read.
    pub z_headers: BTreeMap<u32, usize>,
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
pub fn check_format(
    g: &Golden,
    expect: &Value,
    blobs: &BTreeMap<String, Vec<u8>>,
) -> (FormatBlob, FormatKey, RepositoryConfig) {
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
    (fb, key, cfg)
}

/// Step 2: index blob selection, index bytes, merged entries. Returns the live (not
/// deleted) entries and the IDs of the index blobs read.
pub fn check_indexes(
    expect: &Value,
    cfg: &RepositoryConfig,
    crypter: &Crypter,
    hash: &HashFunction,
    blobs: &BTreeMap<String, Vec<u8>>,
) -> (Vec<IndexEntry>, BTreeSet<String>) {
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
    let read: BTreeSet<String> = selected.iter().map(|id| id.to_string()).collect();
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
    (ours.into_iter().filter(|e| !e.deleted).collect(), read)
}

/// Step 2 (packs): postambles, local indexes, preambles; every content in every pack's
/// local index decrypts, decompresses and hashes to its ID.
pub fn check_packs(
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
    let (mut packs, mut contents) = (0, 0);
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
        let mut spans = Vec::new();
        for e in ndx.iter() {
            assert_eq!(&*e.pack_blob_id, id.as_str());
            assert_eq!(
                id.starts_with('q'),
                e.content_id.prefix().is_some(),
                "{id}: prefixed contents go to q packs, others to p packs"
            );
            spans.push((e.pack_offset as usize, e.packed_length as usize));
            let m = by_id
                .get(&e.content_id)
                .unwrap_or_else(|| panic!("{id}: {e:?} not merged"));
            assert!(
                **m == e || m.timestamp_seconds > e.timestamp_seconds,
                "{id}: {e:?}"
            );
            // Superseded copies too: every content of every pack decrypts.
            open_content(crypter, hash, bytes, &e);
            contents += 1;
        }
        // Layout (spec §6.2): [format bytes] 32 random bytes, the contents back to back,
        // 1..=4096 bytes of padding up to a multiple of 4096, the local index.
        spans.sort_unstable();
        let mut end = preamble + 32;
        for (offset, len) in spans {
            assert_eq!(
                offset, end,
                "{id}: contents are back to back after the preamble"
            );
            end += len;
        }
        let index_at = p.local_index_offset as usize;
        assert!(
            index_at > end && index_at - end <= 4096 && index_at % 4096 == 0,
            "{id}: contents end at {end}, local index at {index_at}"
        );
        assert!(index_at + p.local_index_length as usize <= bytes.len());
    }
    assert!(contents >= live.len(), "every live content is in a pack");
    packs
}

/// kopia's maintenance task names (spec §10.2).
const MAINTENANCE_TASKS: &[&str] = &[
    "snapshot-gc",
    "quick-delete-blobs",
    "full-delete-blobs",
    "quick-rewrite-contents",
    "full-rewrite-contents",
    "full-drop-deleted-content",
    "index-compaction",
    "extend-blob-retention-time",
    "cleanup-logs",
    "advance-epoch",
    "delete-superseded-epoch-indexes",
    "cleanup-epoch-markers",
    "generate-epoch-range-index",
    "compact-single-epoch",
];

/// Step 2 (the remaining blobs): every blob is one the other steps read or one of
/// these; `kopia.maintenance` decrypts with the derived purpose key (spec §10.2) to a
/// schedule naming only known tasks; every `_log_` blob decrypts with blob crypto,
/// carries its plaintext hash in its name and gunzips to one timestamped object per line
/// (spec §10.6).
/// Returns the number of log blobs.
pub fn check_other_blobs(
    fb: &FormatBlob,
    key: &FormatKey,
    cfg: &RepositoryConfig,
    crypter: &Crypter,
    hash: &HashFunction,
    blobs: &BTreeMap<String, Vec<u8>>,
    index_blobs: &BTreeSet<String>,
) -> usize {
    let (mut logs, mut invalid_log_lines) = (0, 0);
    for (id, bytes) in blobs {
        match id.as_str() {
            "kopia.repository" | "kopia.blobcfg" => {}
            "kopia.maintenance" => {
                let k = cfg
                    .derive_purpose_key(key, &fb.unique_id, "maintenance schedule", 32)
                    .unwrap();
                let k: [u8; 32] = k.try_into().unwrap();
                let json = aes256_gcm_open(&k, b"maintenance", bytes)
                    .expect("kopia.maintenance decrypts with the purpose key");
                let v: Value = serde_json::from_slice(&json).expect("schedule JSON");
                for field in ["nextFullMaintenance", "nextQuickMaintenance"] {
                    parse_time(s(&v[field])).unwrap_or_else(|e| panic!("{field}: {e}"));
                }
                let runs = v["runs"].as_object().expect("schedule runs");
                assert!(!runs.is_empty(), "maintenance ran after the snapshot");
                for (task, list) in runs {
                    assert!(MAINTENANCE_TASKS.contains(&task.as_str()), "task {task}");
                    for run in list.as_array().unwrap() {
                        let (start, end) = (s(&run["start"]), s(&run["end"]));
                        assert!(parse_time(start).unwrap() <= parse_time(end).unwrap());
                    }
                }
            }
            _ if id.starts_with(['p', 'q']) || index_blobs.contains(id) => {}
            _ if id.starts_with('m') && !cfg.epoch_parameters.enabled => {}
            _ if id.starts_with("_log_") => {
                let plain = crypter
                    .open_blob(id, bytes)
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                assert!(
                    id.ends_with(&hex::encode(hash.hash(&plain))),
                    "{id}: name carries the hash"
                );
                let mut text = String::new();
                flate2::read::MultiGzDecoder::new(&plain[..])
                    .read_to_string(&mut text)
                    .unwrap_or_else(|e| panic!("{id}: gunzip: {e}"));
                assert!(!text.is_empty(), "{id}: empty log");
                // kopia's logger writes one object per line, but not always valid JSON:
                // arrays of objects come out without commas between the elements.
                for line in text.lines() {
                    assert!(
                        line.starts_with("{\"t\":\"") && line.ends_with('}'),
                        "{id}: log line {line}"
                    );
                    let t = &line[6..line[6..].find('"').map_or(6, |n| n + 6)];
                    parse_time(t).unwrap_or_else(|e| panic!("{id}: time {t}: {e}"));
                    if serde_json::from_str::<Value>(line).is_err() {
                        invalid_log_lines += 1;
                    }
                }
                logs += 1;
            }
            _ => panic!("blob {id} read by no step"),
        }
    }
    if invalid_log_lines > 0 {
        println!("{invalid_log_lines} log lines are not valid JSON");
    }
    logs
}

/// Decrypts and decompresses content `e` of `pack`, checking its length and that it
/// hashes to its ID.
fn open_content(crypter: &Crypter, hash: &HashFunction, pack: &[u8], e: &IndexEntry) -> Vec<u8> {
    let id = e.content_id;
    let stored = content_slice(pack, e).unwrap_or_else(|err| panic!("{id}: {err}"));
    let dec = decrypt_content(crypter, e, stored).unwrap_or_else(|err| panic!("{id}: {err}"));
    let data = compression::decompress_expecting(
        &dec,
        e.compression_header_id,
        e.original_length as usize,
    )
    .unwrap_or_else(|err| panic!("{id}: {err}"));
    assert_eq!(data.len(), e.original_length as usize, "{id}: length");
    assert_eq!(
        hash.content_id(id.prefix(), &data).unwrap(),
        id,
        "content hashes to its ID"
    );
    data
}

/// Step 3: every content decrypts, decompresses and hashes to its ID.
pub fn read_contents(
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
        let data = open_content(crypter, hash, pack, e);
        *by_header.entry(e.compression_header_id).or_default() += 1;
        plain.insert(e.content_id, data);
    }
    let contents = Contents {
        plain,
        z_headers: BTreeMap::new(),
    };
    (contents, by_header)
}
