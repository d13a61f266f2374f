//! Several session streams on one connection, against a real kopia v0.23.1
//! server: each stream is its own server-side write session, so unflushed
//! contents must be read on the stream that wrote them, manifests must stay on
//! one stream, and a flush must cover every stream.

mod server_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kopia_proto::ids::ContentId;
use server_support::*;
use vmdp_core::Repository;
use vmdp_core::server::ServerRepository;
use vmdp_testkit::{KopiaServer, run_kopia};

async fn connect_with(server: &KopiaServer, streams: usize) -> ServerRepository {
    let mut opts = options(server, server.user(0));
    opts.streams = streams;
    ServerRepository::connect(opts).await.unwrap()
}

/// Writes `n` contents concurrently (seeds from `seed`), then reads each back
/// at once, before any flush: whichever stream wrote a content must serve it.
async fn burst(repo: &ServerRepository, seed: u64, n: u64) -> Vec<(ContentId, Bytes)> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let repo = repo.clone();
        tasks.spawn(async move {
            let d = data(seed + i, 2_000 + (i as usize % 5) * 3_000);
            let id = repo.write_content(None, d.clone(), 0).await.unwrap();
            let back = repo.get_content(&id).await.unwrap_or_else(|e| {
                panic!("unflushed content {id} not readable right after its write: {e}")
            });
            assert_eq!(back, d, "content {id}");
            let info = repo.content_info(&id).await.unwrap();
            assert_eq!(info.map(|i| i.original_length as usize), Some(d.len()));
            (id, d)
        });
    }
    tasks.join_all().await
}

/// Bursts of concurrent writes until `want` streams are open (each stream
/// opens in the background once all open ones are busy). Returns the writes.
async fn until_open(repo: &ServerRepository, want: usize) -> Vec<(ContentId, Bytes)> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut written = Vec::new();
    let mut seed = 10_000;
    while repo.open_streams() < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} streams opened under concurrent writes",
            repo.open_streams()
        );
        written.extend(burst(repo, seed, 48).await);
        seed += 48;
    }
    written
}

/// `kopia content list` (direct connection): the IDs of all contents.
fn kopia_content_ids(home: &std::path::Path) -> BTreeSet<String> {
    let out = String::from_utf8(run_kopia(home, &["content", "list"])).unwrap();
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The identities of the sessions the server started, from its log.
fn server_sessions(server: &KopiaServer) -> usize {
    let out = std::fs::read_to_string(server.dir().join("server/server.out")).unwrap();
    out.lines()
        .filter(|l| l.contains("starting session for user"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_on_three_streams_are_readable_before_and_after_flush() {
    let server = KopiaServer::start(&[ALICE]);
    let repo = connect_with(&server, 3).await;
    assert_eq!(repo.open_streams(), 1, "extra streams open only under load");
    let mut written = until_open(&repo, 3).await;
    // All three streams are open now: another burst spreads over all of them.
    let before = repo.requests_per_stream();
    written.extend(burst(&repo, 1, 96).await);
    let after = repo.requests_per_stream();
    assert_eq!(after.len(), 3);
    for (i, (a, b)) in after.iter().zip(&before).enumerate() {
        assert!(
            a > b,
            "stream {i} carried no request: {before:?} -> {after:?}"
        );
    }
    // Every unflushed content is still readable (pinned to its stream).
    for (id, d) in &written {
        assert_eq!(repo.get_content(id).await.unwrap(), *d);
    }
    // Nothing is visible to another client before the flush ...
    let other = connect_with(&server, 1).await;
    assert_eq!(other.content_info(&written[0].0).await.unwrap(), None);
    repo.flush().await.unwrap();
    // ... and everything after it, whichever stream wrote it.
    for (id, d) in &written {
        assert_eq!(other.get_content(id).await.unwrap(), *d, "content {id}");
    }
    other.close().await.unwrap();
    repo.close().await.unwrap();
    assert!(
        server_sessions(&server) >= 4,
        "the server started fewer sessions than 3 streams + 1 other client"
    );

    let home = server.client_home("direct");
    server.connect_kopia_direct(&home);
    let listed = kopia_content_ids(&home);
    for (id, _) in &written {
        assert!(listed.contains(&id.to_string()), "kopia does not list {id}");
    }
    let (id, d) = &written[written.len() / 2];
    assert_eq!(kopia_content(&home, id), d.as_ref());
    run_kopia(&home, &["content", "verify", "--full"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_stream_stays_one_stream() {
    let server = KopiaServer::start(&[ALICE]);
    let repo = connect_with(&server, 1).await;
    let written = burst(&repo, 500, 64).await;
    assert_eq!(repo.open_streams(), 1);
    assert_eq!(repo.requests_per_stream().len(), 1);
    repo.flush().await.unwrap();
    assert_eq!(repo.get_content(&written[3].0).await.unwrap(), written[3].1);
    repo.close().await.unwrap();
    assert_eq!(server_sessions(&server), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_are_visible_before_flush_while_contents_spread() {
    let server = KopiaServer::start(&[ALICE]);
    let repo = connect_with(&server, 2).await;
    let written = until_open(&repo, 2).await;
    let l = labels(&[
        ("type", "vmdp-test"),
        ("username", "alice"),
        ("hostname", "vm1"),
    ]);
    // Manifest requests interleaved with concurrent content writes.
    let writer = {
        let repo = repo.clone();
        tokio::spawn(async move { burst(&repo, 900, 64).await })
    };
    let mut ids = Vec::new();
    for n in 0..5 {
        let payload = format!(r#"{{"n":{n}}}"#);
        let id = repo.put_manifest(&l, payload.as_bytes()).await.unwrap();
        let m = repo.get_manifest(&id).await.unwrap();
        assert_eq!(m.labels, l);
        let json: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(json["n"], n);
        ids.push(id);
        let found = repo
            .find_manifests(&labels(&[("type", "vmdp-test")]))
            .await
            .unwrap();
        assert_eq!(found.len(), ids.len(), "{found:?}");
    }
    repo.delete_manifest(&ids[0]).await.unwrap();
    let more = writer.await.unwrap();
    assert_eq!(repo.open_streams(), 2);
    let used = repo.requests_per_stream();
    assert!(used.iter().all(|&n| n > 0), "{used:?}");
    repo.flush().await.unwrap();
    repo.close().await.unwrap();

    let home = server.client_home("direct");
    server.connect_kopia_direct(&home);
    let mut listed = kopia_manifest_ids(&home, "vmdp-test");
    listed.sort();
    let mut expected = ids[1..].to_vec();
    expected.sort();
    assert_eq!(listed, expected);
    let (_, json) = kopia_manifest(&home, &ids[4]);
    assert_eq!(json["n"], 4);
    let contents = kopia_content_ids(&home);
    for (id, _) in written.iter().chain(&more) {
        assert!(
            contents.contains(&id.to_string()),
            "kopia does not list {id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_with_two_dirty_streams_reports_the_loss_once() {
    let mut server = KopiaServer::start(&[ALICE]);
    let repo = connect_with(&server, 2).await;
    let flushed = until_open(&repo, 2).await;
    repo.flush().await.unwrap();

    // Unflushed writes on both streams, then the server goes away.
    let before = repo.requests_per_stream();
    let _unflushed = burst(&repo, 7_000, 64).await;
    let after = repo.requests_per_stream();
    assert!(
        after.iter().zip(&before).all(|(a, b)| a > b),
        "both streams must carry unflushed writes: {before:?} -> {after:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    // Reads of flushed contents reconnect (whichever stream they pick).
    for (id, d) in flushed.iter().take(8) {
        assert_eq!(repo.get_content(id).await.unwrap(), *d);
    }
    let e = repo.flush().await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(e.to_string().contains("may be lost"), "{e}");
    // Once: the next flush succeeds, and so do new writes on both streams.
    repo.flush().await.unwrap();
    let again = until_open(&repo, 2).await;
    let again2 = burst(&repo, 8_000, 48).await;
    repo.flush().await.unwrap();
    let other = connect_with(&server, 1).await;
    for (id, d) in again.iter().chain(&again2) {
        assert_eq!(other.get_content(id).await.unwrap(), *d);
    }
    other.close().await.unwrap();
    repo.close().await.unwrap();
}
