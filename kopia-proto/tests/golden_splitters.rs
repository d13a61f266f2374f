//! Golden splitter test: chunk lengths of every splitter real kopia v0.23.1 lists, over
//! 64 MiB of splitmix64(seed=0), as measured by kopia itself
//! (`vmdp_testkit::splitter_goldens()`, `splitters.json`).

mod hashsplit_common;

use hashsplit_common::splitmix64;
use kopia_proto::splitter::{self, SPLITTER_NAMES};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn goldens() -> Value {
    let path = vmdp_testkit::splitter_goldens().join("splitters.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON in {}: {e}", path.display()))
}

fn lengths(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("chunk length list")
        .iter()
        .map(|x| x.as_u64().expect("chunk length") as usize)
        .collect()
}

#[test]
fn every_kopia_splitter_matches_on_64_mib() {
    let g = goldens();
    assert_eq!(g["schema"], 1);
    assert_eq!(g["kopia_version"], vmdp_testkit::KOPIA_VERSION);
    assert_eq!(g["input"]["generator"], "splitmix64(seed=0)");
    let n = g["input"]["length"].as_u64().unwrap() as usize;
    assert_eq!(n, 64 << 20);
    let data = splitmix64(0, n);
    assert_eq!(
        hex::encode(&data[..16]),
        g["input"]["first16_hex"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(Sha256::digest(&data)),
        g["input"]["sha256"].as_str().unwrap(),
        "regenerated input differs from the one kopia split"
    );

    // kopia's list of splitters is exactly ours.
    let mut listed: Vec<&str> = g["splitters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut ours: Vec<&str> = SPLITTER_NAMES.to_vec();
    ours.sort_unstable();
    assert_eq!(listed, ours, "splitter names");

    let expected: Vec<(String, Vec<usize>)> = g["chunk_lengths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), lengths(v)))
        .collect();
    assert_eq!(expected.len(), listed.len(), "one length list per splitter");

    // Two workers: the machine has two cores and 23 × 64 MiB is the bulk of the work.
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (data, expected) = (&data, &expected);
                s.spawn(move || {
                    let mut bad = Vec::new();
                    for (name, want) in expected.iter().skip(w).step_by(2) {
                        let got = splitter::chunk_lengths(name, data)
                            .unwrap_or_else(|e| panic!("{name}: {e}"));
                        assert_eq!(got.iter().sum::<usize>(), data.len(), "{name}");
                        if &got != want {
                            let first = got.iter().zip(want).position(|(a, b)| a != b);
                            bad.push(format!(
                                "{name}: {} chunks vs kopia's {}, first difference at chunk {first:?}",
                                got.len(),
                                want.len()
                            ));
                        }
                    }
                    bad
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|h| h.join().expect("worker panicked"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "splitters differ from kopia:\n{}",
        failures.join("\n")
    );
}
