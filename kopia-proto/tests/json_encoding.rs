//! Vector tests from `json-encoding.json`: Go-compatible string, time, mode, directory,
//! snapshot-manifest, policy and manifest-store encodings.

use kopia_proto::gojson;
use serde_json::Value;

fn vectors() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/json-encoding.json"
    ))
    .expect("vector file");
    serde_json::from_str(&text).expect("vector JSON")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string vector")
}

#[test]
fn string_escapes() {
    let v = vectors();
    let cases = v["string_escapes"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for c in cases {
        let input = hex::decode(s(&c["input_hex"])).unwrap();
        let mut out = Vec::new();
        gojson::write_string(&mut out, &input);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            s(&c["json"]),
            "input {}",
            s(&c["input_hex"])
        );
    }
}

#[test]
fn utc_timestamps() {
    let v = vectors();
    let cases = v["utc_timestamp_nanoseconds_to_json"].as_object().unwrap();
    assert_eq!(cases.len(), 7);
    for (ns, want) in cases {
        let ns: i64 = ns.parse().unwrap();
        let mut out = Vec::new();
        gojson::write_time(&mut out, ns);
        assert_eq!(String::from_utf8(out).unwrap(), s(want));
        let unquoted = s(want).trim_matches('"');
        assert_eq!(gojson::parse_time(unquoted).unwrap(), ns);
    }
}

#[test]
fn permissions_field_examples() {
    use kopia_proto::manifest::{DirEntry, Permissions};
    let v = vectors();
    let cases = v["permissions_field_examples"]["cases"]
        .as_object()
        .unwrap();
    assert_eq!(cases.len(), 7);
    for (mode, want) in cases {
        let mode: i32 = mode.parse().unwrap();
        let p = Permissions(mode);
        // The vector shows `{mode: ...}` alone; encode an entry and cut out the mode member.
        let json = if mode == 0 {
            "{}".to_string()
        } else {
            format!("{{\"mode\":\"{}\"}}", p.to_go_string())
        };
        assert_eq!(json, s(want));
        let e = DirEntry {
            mode: p,
            ..DirEntry::default()
        };
        let enc = String::from_utf8(e.to_json()).unwrap();
        let inner = s(want).trim_start_matches('{').trim_end_matches('}');
        if mode == 0 {
            assert_eq!(enc, r#"{"obj":""}"#);
        } else {
            assert_eq!(enc, format!("{{{inner},\"obj\":\"\"}}"));
        }
        assert_eq!(DirEntry::from_json(enc.as_bytes()).unwrap().mode, p);
    }
}

#[test]
fn directory_object_with_12_failed_entries() {
    use kopia_proto::manifest::{DirManifest, DirManifestBuilder};
    let v = vectors();
    let want = s(&v["directory_object_with_12_failed_entries"]);
    // Rebuild: 12 failures f00..f11 added in reverse, alternating ignored/fatal, no entries.
    let mut b = DirManifestBuilder::new();
    for i in 0..12 {
        let path = format!("f{:02}", 11 - i);
        b.add_failed_entry(path, i % 2 == 1, format!("err {i}"));
    }
    let built = b.build(gojson::parse_time("2020-01-01T00:00:00Z").unwrap(), "");
    assert_eq!(String::from_utf8(built.to_json()).unwrap(), want);
    let parsed = DirManifest::from_json(want.as_bytes()).unwrap();
    let s = parsed.summary.as_ref().unwrap();
    assert_eq!(
        (
            s.fatal_error_count,
            s.ignored_error_count,
            s.failed_entries.len()
        ),
        (6, 6, 12)
    );
    assert_eq!(String::from_utf8(parsed.to_json()).unwrap(), want);
}

#[test]
fn snapshot_manifest_payloads() {
    use kopia_proto::manifest::SnapshotManifest;
    let v = vectors();
    for key in [
        "snapshot_manifest_payload",
        "snapshot_manifest_payload_with_tags_pins_incomplete",
    ] {
        let want = s(&v[key]);
        let m = SnapshotManifest::from_json(want.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(m.to_json()).unwrap(), want, "{key}");
        assert_eq!(m.root_object_id(), "k0123456789abcdef0123456789abcdef");
        assert_eq!(m.source.to_string(), "user1@host1:/home/user1/data");
    }
    // Build the tagged one from scratch.
    let base = SnapshotManifest::from_json(s(&v["snapshot_manifest_payload"]).as_bytes()).unwrap();
    let mut m = base.clone();
    m.incomplete_reason = "checkpoint".into();
    m.tags.insert("tag:b".into(), "2".into());
    m.tags.insert("tag:a".into(), "1".into());
    m.update_pins(&["keep".into()], &[]);
    assert_eq!(
        String::from_utf8(m.to_json()).unwrap(),
        s(&v["snapshot_manifest_payload_with_tags_pins_incomplete"])
    );
    let labels = m.labels().unwrap();
    assert_eq!(labels["tag:a"], "1");
    assert_eq!(labels["hostname"], "host1");
}

#[test]
fn manifest_content_plaintext_before_gzip() {
    use kopia_proto::manifest::{
        Labels, ManifestEntry, ManifestSet, decode_manifest_content, decode_manifest_json,
        encode_manifest_content, encode_manifest_json,
    };
    let v = vectors();
    let want = s(&v["manifest_content_plaintext_before_gzip"]);
    let entries = decode_manifest_json(want.as_bytes()).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        String::from_utf8(encode_manifest_json(&entries)).unwrap(),
        want
    );
    // Build it from scratch.
    let labels: Labels = [
        ("hostname", "h"),
        ("path", "/p"),
        ("type", "snapshot"),
        ("username", "u"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let built = vec![
        ManifestEntry {
            id: "00112233445566778899aabbccddeeff".into(),
            labels,
            modified: gojson::parse_time("2024-01-02T03:04:05.6Z").unwrap(),
            deleted: false,
            data: br#"{"x":1}"#.to_vec(),
        },
        ManifestEntry::deletion_marker(
            "ffeeddccbbaa99887766554433221100",
            gojson::parse_time("2024-01-02T03:04:06Z").unwrap(),
        ),
    ];
    assert_eq!(built, entries);
    assert_eq!(
        String::from_utf8(encode_manifest_json(&built)).unwrap(),
        want
    );
    // Through gzip, then merge: the deletion marker is dropped, the other entry is live.
    let back = decode_manifest_content(&encode_manifest_content(&built), 1 << 20).unwrap();
    let set = ManifestSet::from_contents([back]);
    assert_eq!(set.len(), 1);
    assert_eq!(
        set.get("00112233445566778899aabbccddeeff").unwrap().data,
        br#"{"x":1}"#
    );
}

#[test]
fn policy_payloads() {
    use kopia_proto::manifest::{Policy, SourceInfo, builtin_default_policy, effective_policy};
    let v = vectors();
    let empty = s(&v["policy_payload_empty"]);
    let defaults = s(&v["policy_payload_builtin_defaults"]);
    assert_eq!(
        String::from_utf8(Policy::default().to_json()).unwrap(),
        empty
    );
    assert_eq!(
        String::from_utf8(builtin_default_policy().to_json()).unwrap(),
        defaults
    );
    for json in [empty, defaults] {
        assert_eq!(
            String::from_utf8(Policy::from_json(json.as_bytes()).unwrap().to_json()).unwrap(),
            json
        );
    }
    // With no policies at all, the effective policy is exactly the built-in defaults.
    let e = effective_policy(&SourceInfo::new("h", "u", "/p"), &[]);
    assert_eq!(String::from_utf8(e.to_json()).unwrap(), defaults);
}
