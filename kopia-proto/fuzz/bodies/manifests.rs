//! Bodies for the manifest layer: directory objects, snapshot manifests, policies, the
//! manifest store's contents, user profiles, ACL entries and maintenance parameters.
//!
//! Round-trip property for every document type: `p1 = parse(x)` succeeds ⇒
//! `p2 = parse(to_json(p1))` succeeds, `p2 == p1`, and `to_json(p2) == to_json(p1)`.

use std::fmt::Debug;

use kopia_proto::compression::Compressor;
use kopia_proto::ids::ObjectId;
use kopia_proto::manifest::{
    AccessLevel, AclEntry, DirEntry, DirManifest, MaintenanceParams, ManifestEntry, ManifestSet,
    PasswordHashVersion, Permissions, Policy, SnapshotManifest, SourceInfo, UserProfile,
    builtin_default_policy, decode_manifest_content, decode_manifest_json,
    decode_password_hash_token, effective_access, effective_policy, encode_manifest_content,
    encode_manifest_json, legacy_access, merge_policies, policy_search_order, validate_username,
};

/// Decompression limit for manifest contents in the bodies.
const MAX_JSON: usize = 1 << 20;

/// Checks the round-trip property for one parsed document and returns the re-parsed value.
fn round_trip<T, E>(
    what: &str,
    first: &T,
    to_json: impl Fn(&T) -> Vec<u8>,
    parse: impl Fn(&[u8]) -> Result<T, E>,
) -> T
where
    T: PartialEq + Debug,
    E: Debug,
{
    let j1 = to_json(first);
    let second = match parse(&j1) {
        Ok(v) => v,
        Err(e) => panic!(
            "{what}: own output does not parse: {e:?}\n{}",
            String::from_utf8_lossy(&j1)
        ),
    };
    assert_eq!(
        second, *first,
        "{what}: parse(to_json(parse(x))) != parse(x)"
    );
    assert_eq!(to_json(&second), j1, "{what}: to_json is not a fixed point");
    second
}

/// Kopia writes a negative mode as `"0-…"`, which its own reader (`ParseInt(s, 0, 32)`)
/// rejects; we do the same, so such documents have no round trip.
fn mode_round_trips(e: &DirEntry) -> bool {
    !e.mode.to_go_string().contains('-')
}

fn check_entry(e: &DirEntry) {
    let _ = (e.is_dir(), e.effective_size(), e.effective_mtime());
    let _ = (
        e.mode.to_posix(),
        e.mode.to_go_string(),
        e.entry_type.as_str(),
    );
    let _ = e.object_id.parse::<ObjectId>();
}

/// `DirManifest::from_json` and `DirEntry::from_json` with the round-trip property
/// (accepted when either parses).
pub fn directory(data: &[u8]) -> bool {
    let entry = DirEntry::from_json(data);
    if let Ok(e) = &entry {
        if mode_round_trips(e) {
            round_trip("directory entry", e, DirEntry::to_json, DirEntry::from_json);
        }
        check_entry(e);
    }
    let Ok(m) = DirManifest::from_json(data) else {
        return entry.is_ok();
    };
    if m.entries.iter().all(mode_round_trips) {
        round_trip(
            "directory",
            &m,
            DirManifest::to_json,
            DirManifest::from_json,
        );
    }
    m.entries.iter().for_each(check_entry);
    true
}

/// `SnapshotManifest::from_json` with the round-trip property and its accessors.
pub fn snapshot_manifest(data: &[u8]) -> bool {
    let Ok(mut m) = SnapshotManifest::from_json(data) else {
        return false;
    };
    if m.root_entry.as_ref().is_none_or(mode_round_trips) {
        round_trip(
            "snapshot",
            &m,
            SnapshotManifest::to_json,
            SnapshotManifest::from_json,
        );
    }
    let _ = (
        m.root_object_id().parse::<ObjectId>(),
        m.is_complete(),
        m.labels(),
    );
    let pins = m.pins.clone();
    m.update_pins(&["fuzz".to_string()], &pins);
    true
}

/// `Policy::from_json` with the round-trip property, and merging it with the built-in
/// defaults along its own search order.
pub fn policy(data: &[u8]) -> bool {
    let Ok(p) = Policy::from_json(data) else {
        return false;
    };
    round_trip("policy", &p, Policy::to_json, Policy::from_json);
    let target = p.target();
    let _ = policy_search_order(&target);
    let mut merged = merge_policies(&[p.clone(), builtin_default_policy()], &target);
    // Labels are manifest metadata, not part of the JSON payload.
    merged.labels.clear();
    round_trip("merged policy", &merged, Policy::to_json, Policy::from_json);
    let _ = effective_policy(&target, std::slice::from_ref(&p));
    true
}

/// A manifest content: the input as gzip'd content (mostly invalid gzip), the input as
/// the plaintext JSON, and the input gzip'd by us (valid gzip, arbitrary JSON). Decoded
/// entries must encode and decode back to themselves; the merged set must be consistent.
pub fn manifest_content(data: &[u8]) -> bool {
    let gunzipped = decode_manifest_content(data, MAX_JSON);
    if let Ok(entries) = &gunzipped {
        check_manifest_entries(entries);
    }
    let gz = Compressor::Gzip
        .compress(data)
        .expect("gzip compresses anything");
    let via_gzip = decode_manifest_content(&gz[4..], MAX_JSON);
    let Ok(entries) = decode_manifest_json(data) else {
        assert!(
            via_gzip.is_err(),
            "gzip'd JSON decodes but plain JSON does not"
        );
        return gunzipped.is_ok();
    };
    assert_eq!(
        via_gzip.ok().as_ref(),
        Some(&entries),
        "gzip'd and plain JSON differ"
    );
    check_manifest_entries(&entries);
    true
}

fn check_manifest_entries(entries: &[ManifestEntry]) {
    // No round trip for an empty list: like kopia, the writer emits `"entries":null`,
    // which the reader (like kopia's) rejects; kopia never writes an empty content.
    if entries.is_empty() {
        return;
    }
    let as_json = |e: &Vec<ManifestEntry>| encode_manifest_json(e);
    let again = round_trip(
        "manifest content",
        &entries.to_vec(),
        as_json,
        decode_manifest_json,
    );
    let gz = encode_manifest_content(&again);
    assert_eq!(decode_manifest_content(&gz, usize::MAX).ok(), Some(again));
    let mut set = ManifestSet::from_contents([entries.to_vec()]);
    set.finish();
    for e in set.iter() {
        assert!(!e.deleted, "finished set holds no deletion markers");
        assert_eq!(set.get(&e.id), Some(e));
        assert!(set.find(&e.labels).contains(&e));
        let _ = e.metadata();
    }
    let found: Vec<_> = set.iter().collect();
    if let Some(latest) = ManifestSet::pick_latest(&found) {
        let _ = set.delete(&latest.id, i64::MAX);
        let _ = set.replace(&latest.labels, latest.clone(), i64::MIN);
    }
    assert!(set.compacted().len() <= set.len());
}

/// User profiles, ACL entries and maintenance parameters from the input as JSON, and the
/// string parsers of that layer (password-hash tokens, user names, modes, sources) from
/// the input as text. Password hashes are not verified (the KDFs are too slow).
pub fn user_acl(data: &[u8]) -> bool {
    let mut any = false;
    if let Ok(u) = UserProfile::from_json(data) {
        round_trip(
            "user profile",
            &u,
            UserProfile::to_json,
            UserProfile::from_json,
        );
        let _ = (
            u.labels(),
            PasswordHashVersion::from_number(u.password_hash_version),
        );
        any = true;
    }
    if let Ok(a) = AclEntry::from_json(data) {
        round_trip("ACL entry", &a, AclEntry::to_json, AclEntry::from_json);
        let _ = a.validate();
        let labels = a.target.clone();
        let _ = a.applies("fuzz", "host", &labels);
        let _ = effective_access("fuzz", "host", &labels, std::slice::from_ref(&a));
        let _ = legacy_access(&a.user, Some(&labels));
        let _ = a.access.as_str().map(AccessLevel::from_name);
        any = true;
    }
    if let Ok(m) = MaintenanceParams::from_json(data) {
        round_trip(
            "maintenance",
            &m,
            MaintenanceParams::to_json,
            MaintenanceParams::from_json,
        );
        any = true;
    }
    let text = String::from_utf8_lossy(data);
    any |= decode_password_hash_token(&text).is_ok();
    any |= validate_username(&text).is_ok();
    let _ = legacy_access(&text, None);
    if let Ok(p) = Permissions::parse(&text) {
        any = true;
        // Negative modes have no round trip (see `mode_round_trips`).
        if !p.to_go_string().contains('-') {
            let again = Permissions::parse(&p.to_go_string()).ok();
            assert_eq!(again, Some(p), "mode round trip");
        }
        let _ = Permissions::from_posix(p.to_posix());
    }
    if let Ok(si) = SourceInfo::parse(&text, "host", "user") {
        any = true;
        let _ = SourceInfo::from_labels(&si.snapshot_labels());
        let mut out = Vec::new();
        si.write_json(&mut out);
    }
    any
}
