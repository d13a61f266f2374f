//! Snapshot layer checks: every saved object and entry, every manifest.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use kopia_proto::gojson::{parse_time, raw};
use kopia_proto::ids::ObjectId;
use kopia_proto::index::IndexEntry;
use kopia_proto::manifest::{
    DirManifest, MaintenanceParams, ManifestEntry, ManifestMetadata, ManifestSet, Permissions,
    Policy, SnapshotManifest, decode_manifest_content, decode_manifest_json, effective_policy,
    encode_manifest_json, policy_labels, policy_search_order,
};
use kopia_proto::object::{decode_index, encode_index, load_index, read_object};
use kopia_proto::splitter;
use serde_json::Value;

use super::repository::Contents;
use super::{MAX_PLAIN, first_difference, s, to_bytes};

/// Step 4: saved objects and every snapshot entry.
pub fn check_objects(
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
pub fn entry_elements(json: &[u8]) -> Vec<&[u8]> {
    let (members, _) = raw::object_members(json, 0).unwrap();
    let (_, value) = members.into_iter().find(|(k, _)| k == "entries").unwrap();
    raw::array_elements(value).unwrap()
}

/// Step 5: manifest contents and payloads. Returns the snapshot manifest and the
/// effective policy of its source.
pub fn check_manifests(
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
