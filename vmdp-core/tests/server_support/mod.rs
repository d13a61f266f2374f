//! Helpers for tests against a real kopia server: connection options,
//! deterministic data, labels, and what real kopia reports about the repository.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use kopia_proto::ids::ContentId;
use vmdp_core::server::{ServerOptions, ServerRepository};
use vmdp_testkit::{KopiaServer, ServerUser, run_kopia};

pub const ALICE: &str = "alice@vm1:alice-pw";
pub const BOB: &str = "bob@vm2:bob-pw";

pub fn options(server: &KopiaServer, user: &ServerUser) -> ServerOptions {
    ServerOptions::new(
        server.url(),
        Some(server.fingerprint().to_owned()),
        &user.username,
        &user.hostname,
        &user.password,
    )
}

pub async fn connect(server: &KopiaServer, user: &ServerUser) -> ServerRepository {
    ServerRepository::connect(options(server, user))
        .await
        .unwrap_or_else(|e| panic!("connecting as {} failed: {e}", user.identity()))
}

/// Deterministic pseudo-random bytes (incompressible, distinct per seed).
pub fn data(seed: u64, len: usize) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `kopia content show ID` through a direct connection to the repository files.
pub fn kopia_content(home: &Path, id: &ContentId) -> Vec<u8> {
    run_kopia(home, &["content", "show", &id.to_string()])
}

/// `kopia manifest show ID` (direct connection): labels and payload JSON.
pub fn kopia_manifest(home: &Path, id: &str) -> (BTreeMap<String, String>, serde_json::Value) {
    let out = String::from_utf8(run_kopia(home, &["manifest", "show", id])).unwrap();
    let mut labels = BTreeMap::new();
    let mut json = String::new();
    for line in out.lines() {
        if let Some(l) = line.strip_prefix("// label ") {
            let (k, v) = l.split_once(':').unwrap();
            labels.insert(k.to_owned(), v.to_owned());
        } else if !line.starts_with("//") {
            json.push_str(line);
            json.push('\n');
        }
    }
    (labels, serde_json::from_str(&json).unwrap())
}

/// IDs `kopia manifest list --filter type:...` reports (direct connection).
pub fn kopia_manifest_ids(home: &Path, ty: &str) -> Vec<String> {
    let out = run_kopia(
        home,
        &["manifest", "list", "--json", &format!("--filter=type:{ty}")],
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}
