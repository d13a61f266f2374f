//! Vector tests for `kopia_proto::hashing` (vectors/hashes.json).

mod hashsplit_common;

use hashsplit_common::{splitmix64, vectors};
use kopia_proto::hashing::{HASH_NAMES, HashError, HashFunction};

fn secret(v: &serde_json::Value, name: &str) -> Vec<u8> {
    hex::decode(v["secrets_hex"][name].as_str().unwrap()).unwrap()
}

#[test]
fn every_vector_matches() {
    let v = vectors("hashes.json");
    assert_eq!(
        hex::encode(splitmix64(0, 16)),
        v["inputs"]["splitmix1000"]["first16_hex"].as_str().unwrap()
    );
    let input = |name: &str| -> Vec<u8> {
        match name {
            "splitmix1000" => splitmix64(0, 1000),
            other => hex::decode(v["inputs"][other]["hex"].as_str().unwrap()).unwrap(),
        }
    };
    let rows = v["vectors"].as_array().unwrap();
    assert!(rows.len() >= 100);
    let mut seen = std::collections::BTreeSet::new();
    for row in rows {
        let name = row["hash"].as_str().unwrap();
        let h = HashFunction::new(name, &secret(&v, row["secret"].as_str().unwrap())).unwrap();
        let got = hex::encode(h.hash(&input(row["input"].as_str().unwrap())).as_bytes());
        assert_eq!(got, row["digest_hex"].as_str().unwrap(), "{row}");
        seen.insert(name.to_string());
    }
    let all: std::collections::BTreeSet<String> =
        HASH_NAMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(seen, all, "vectors cover every hash function");
}

#[test]
fn rejected_combinations() {
    let v = vectors("hashes.json");
    let rows = v["rejected_parameter_combinations"].as_array().unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let name = row["hash"].as_str().unwrap();
        let err =
            HashFunction::new(name, &secret(&v, row["secret"].as_str().unwrap())).unwrap_err();
        match err {
            HashError::BadSecret { reason, .. } => {
                let kopia = row["kopia_error"].as_str().unwrap();
                assert!(kopia.ends_with(reason), "{kopia} vs {reason}");
            }
            other => panic!("unexpected error {other:?}"),
        }
    }
}
