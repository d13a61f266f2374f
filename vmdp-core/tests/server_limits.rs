//! The server transport at the session protocol's limits, against a real kopia
//! v0.23.1 server: paged `find_manifests` answers and the message size limit.

use std::collections::BTreeMap;

use bytes::Bytes;
use kopia_proto::session::{FIND_MANIFESTS_PAGE_SIZE, MAX_MESSAGE_SIZE};
use vmdp_core::server::{ServerOptions, ServerRepository};
use vmdp_core::{Error, Repository};
use vmdp_testkit::KopiaServer;

const ALICE: &str = "alice@vm1:alice-pw";

async fn connect(server: &KopiaServer) -> ServerRepository {
    let user = server.user(0);
    ServerRepository::connect(ServerOptions::new(
        server.url(),
        Some(server.fingerprint().to_owned()),
        &user.username,
        &user.hostname,
        &user.password,
    ))
    .await
    .unwrap_or_else(|e| panic!("connecting as {} failed: {e}", user.identity()))
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// More manifests than one page (kopia answers at most 1000 per message, with
/// `has_more`): all come back, oldest first (kopia sorts by modification time),
/// before and after a flush.
#[tokio::test(flavor = "multi_thread")]
async fn find_manifests_returns_every_page_in_kopias_order() {
    let server = KopiaServer::start(&[ALICE]);
    let repo = connect(&server).await;
    let page = usize::try_from(FIND_MANIFESTS_PAGE_SIZE).unwrap();
    let count = 2 * page + 150;
    let l = labels(&[
        ("type", "vmdp-paging"),
        ("username", "alice"),
        ("hostname", "vm1"),
    ]);
    let mut put = Vec::with_capacity(count);
    for i in 0..count {
        let id = repo
            .put_manifest(&l, format!("{{\"n\":{i}}}").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("put_manifest {i}: {e}"));
        put.push(id);
    }
    // Another type is not returned.
    repo.put_manifest(
        &labels(&[
            ("type", "vmdp-other"),
            ("username", "alice"),
            ("hostname", "vm1"),
        ]),
        b"{}",
    )
    .await
    .unwrap();
    let check = |found: Vec<vmdp_core::ManifestEntry>, when: &str| {
        assert_eq!(found.len(), count, "{when}");
        assert!(
            found
                .windows(2)
                .all(|w| w[0].mod_time_nanos <= w[1].mod_time_nanos),
            "{when}: not sorted by modification time"
        );
        let ids: Vec<String> = found.into_iter().map(|m| m.id).collect();
        assert_eq!(ids, put, "{when}: not in the order they were put");
    };
    let query = labels(&[("type", "vmdp-paging")]);
    check(repo.find_manifests(&query).await.unwrap(), "before flush");
    repo.flush().await.unwrap();
    check(repo.find_manifests(&query).await.unwrap(), "after flush");
    repo.close().await.unwrap();

    // A new session reads them from the committed index.
    let again = connect(&server).await;
    check(again.find_manifests(&query).await.unwrap(), "new session");
    again.close().await.unwrap();
}

/// A content whose write request would exceed the 20 MiB message limit is
/// refused locally (the server would end the stream); the session stays usable.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_write_is_refused_locally_and_the_session_goes_on() {
    let server = KopiaServer::start(&[ALICE]);
    let repo = connect(&server).await;
    let big = Bytes::from(vec![7u8; MAX_MESSAGE_SIZE]);
    let e = repo.write_content(None, big, 0).await.unwrap_err();
    match &e {
        Error::InvalidInput(m) => assert!(
            m.contains("write content") && m.contains(&MAX_MESSAGE_SIZE.to_string()),
            "{m}"
        ),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert!(!e.is_retryable());
    assert_eq!(repo.outstanding_writes(), 0);

    // Just below the limit still goes through, and so does a small write.
    let near = Bytes::from(vec![9u8; MAX_MESSAGE_SIZE - 1024]);
    let near_id = repo
        .write_content(Some(b'k'), near.clone(), 0)
        .await
        .unwrap();
    let small = Bytes::from_static(b"still usable");
    let id = repo.write_content(None, small.clone(), 0).await.unwrap();
    repo.flush().await.unwrap();
    assert_eq!(repo.get_content(&id).await.unwrap(), small);
    assert_eq!(repo.get_content(&near_id).await.unwrap(), near);
    repo.close().await.unwrap();
}
