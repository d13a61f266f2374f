//! The server transport against a real kopia v0.23.1 server: session setup,
//! contents, manifests, authorization, and what kopia itself sees afterwards.

use std::collections::BTreeMap;

use bytes::Bytes;
use vmdp_core::server::{ServerOptions, ServerRepository};
use vmdp_core::{Error, Repository};
use vmdp_testkit::{KopiaServer, ServerUser, run_kopia};

const ALICE: &str = "alice@vm1:alice-pw";
const BOB: &str = "bob@vm2:bob-pw";

fn options(server: &KopiaServer, user: &ServerUser) -> ServerOptions {
    ServerOptions::new(
        server.url(),
        Some(server.fingerprint().to_owned()),
        &user.username,
        &user.hostname,
        &user.password,
    )
}

async fn connect(server: &KopiaServer, user: &ServerUser) -> ServerRepository {
    ServerRepository::connect(options(server, user))
        .await
        .unwrap_or_else(|e| panic!("connecting as {} failed: {e}", user.identity()))
}

/// Deterministic pseudo-random bytes (incompressible, distinct per seed).
fn data(seed: u64, len: usize) -> Bytes {
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

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_come_from_the_server() {
    let server = KopiaServer::start(&[ALICE]);
    let repo = connect(&server, server.user(0)).await;
    let p = repo.parameters();
    // `kopia repository create` defaults of v0.23.1.
    assert_eq!(p.hash_function, "BLAKE2B-256-128");
    assert_eq!(p.splitter, "DYNAMIC-4M-BUZHASH");
    assert_eq!(p.hmac_secret.len(), 32);
    assert!(p.supports_content_compression);
    let status = repo.status();
    assert_eq!(status.identity, "alice@vm1");
    assert_eq!(status.fingerprint.as_deref(), Some(server.fingerprint()));
    repo.close().await.unwrap();
}
