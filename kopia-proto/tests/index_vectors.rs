//! Index v1/v2 vectors from `repo-index.json` (spec §7.2–7.3): decode, lookup, and
//! byte-exact re-encoding.

mod common;

use common::{entry_from_json, load};
use kopia_proto::ids::ContentId;
use kopia_proto::index::{Index, IndexEntry, MergedIndex, build_index};

#[test]
fn every_index_vector_decodes_and_reencodes() {
    let doc = load("repo-index.json");
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let version = case["version"].as_u64().unwrap() as u8;
        let bytes = hex::decode(case["indexHex"].as_str().unwrap()).unwrap();
        let expected: Vec<IndexEntry> = case["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(entry_from_json)
            .collect();

        let ndx = Index::open(bytes.as_slice(), 28).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ndx.version(), version, "{name}");
        assert_eq!(ndx.len(), expected.len(), "{name}");
        if let Some(es) = case["entrySize"].as_u64() {
            assert_eq!(
                u16::from_be_bytes([bytes[2], bytes[3]]) as u64,
                es,
                "{name}"
            );
        }
        let got: Vec<IndexEntry> = ndx.iter().collect();
        assert_eq!(got, expected, "{name}: decoded entries");
        for e in &expected {
            assert_eq!(ndx.get(&e.content_id).unwrap().as_ref(), Some(e), "{name}");
        }
        let absent: ContentId = "00000000000000000000000000000000".parse().unwrap();
        assert_eq!(ndx.get(&absent).unwrap(), None, "{name}");

        // Writing the same entries (in any input order) gives the same bytes.
        let rebuilt = build_index(expected.iter().rev(), version).unwrap();
        assert_eq!(
            hex::encode(&rebuilt),
            hex::encode(&bytes),
            "{name}: re-encoding"
        );
    }
}

#[test]
fn index_vectors_with_random_suffix_still_parse() {
    let doc = load("repo-index.json");
    for case in doc["cases"].as_array().unwrap() {
        let mut bytes = hex::decode(case["indexHex"].as_str().unwrap()).unwrap();
        bytes.extend_from_slice(&[0xAB; 32]);
        let ndx = Index::open(bytes, 28).unwrap();
        assert_eq!(ndx.len(), case["entries"].as_array().unwrap().len());
    }
}

#[test]
fn mini_repository_index_plaintext_matches_its_entries() {
    let doc = load("repo-mini.json");
    let exp = &doc["expected"];
    let bytes = hex::decode(exp["indexPlaintextHex"].as_str().unwrap()).unwrap();
    let entries: Vec<IndexEntry> = exp["indexEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(entry_from_json)
        .collect();
    let ndx = Index::open(bytes.as_slice(), 28).unwrap();
    assert_eq!(ndx.iter().collect::<Vec<_>>(), entries);
    assert_eq!(build_index(&entries, 2).unwrap(), bytes);

    // Manifest scan: only the `m` content.
    let m: Vec<_> = ndx.iter_prefix(Some(b'm')).collect();
    assert_eq!(m.len(), 1);
    assert_eq!(
        m[0].content_id.to_string(),
        "mfc85969625fb16ca7a56335d474c031a"
    );
    assert_eq!(ndx.iter_prefix(None).count(), 3);
}

#[test]
fn merging_all_vector_indexes_picks_newest_and_hides_old_deletions() {
    let doc = load("repo-index.json");
    let indexes: Vec<Index<Vec<u8>>> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["version"] == 2)
        .map(|c| Index::open(hex::decode(c["indexHex"].as_str().unwrap()).unwrap(), 28).unwrap())
        .collect();
    // m39c6… is deleted at 1735689602 in every v2 case.
    let m: ContentId = "m39c63ddb96a31b9610cd976b896ad4f0".parse().unwrap();
    let merged = MergedIndex::new(indexes.clone(), None);
    assert!(merged.get(&m).unwrap().unwrap().deleted);
    let all: Vec<_> = merged.iter().map(|e| e.content_id.to_string()).collect();
    assert_eq!(
        all,
        [
            "b8a9f715dbb64fd5c56e7783c6820a61",
            "f97c5d29941bfb1b2fdab0874906ab82",
            "k736007832d2167baaae763fd3a3f3cf1",
            "m39c63ddb96a31b9610cd976b896ad4f0"
        ]
    );
    let hidden = MergedIndex::new(indexes, Some(1_735_689_602));
    assert_eq!(hidden.get(&m).unwrap(), None);
    assert_eq!(hidden.iter().count(), 3);
}
