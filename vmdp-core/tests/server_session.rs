//! The server transport against a real kopia v0.23.1 server: session setup,
//! contents, manifests, authorization, and what kopia itself sees afterwards.

mod server_support;

use bytes::Bytes;
use kopia_proto::compression::Compressor;
use kopia_proto::hashing::HashFunction;
use kopia_proto::ids::ContentId;
use server_support::*;
use vmdp_core::server::ServerRepository;
use vmdp_core::{Error, Repository};
use vmdp_testkit::{KopiaServer, ServerUser};

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

#[tokio::test(flavor = "multi_thread")]
async fn contents_round_trip_and_kopia_reads_them() {
    let server = KopiaServer::start(&[ALICE]);
    let repo = connect(&server, server.user(0)).await;
    let cases: Vec<(Option<u8>, Bytes)> = vec![
        (None, data(1, 100)),
        (Some(b'k'), data(2, 100)),
        (None, data(3, 200_000)),
        (Some(b'x'), data(4, 70_000)),
        (None, Bytes::new()),
    ];
    let mut ids = Vec::new();
    for (prefix, d) in &cases {
        let id = repo.write_content(*prefix, d.clone(), 0).await.unwrap();
        assert_eq!(id.prefix(), *prefix);
        // Visible on the same session before flush.
        assert_eq!(repo.get_content(&id).await.unwrap(), *d);
        ids.push(id);
    }
    // Same data again: same ID.
    for ((prefix, d), id) in cases.iter().zip(&ids) {
        assert_eq!(
            repo.write_content(*prefix, d.clone(), 0).await.unwrap(),
            *id
        );
    }
    // Compressed at the server, read back as plaintext.
    let text = Bytes::from("compressible text ".repeat(5_000));
    let zid = repo
        .write_content(
            None,
            text.clone(),
            Compressor::from_name("zstd").unwrap().header_id(),
        )
        .await
        .unwrap();
    repo.flush().await.unwrap();
    assert_eq!(repo.outstanding_writes(), 0);
    assert_eq!(repo.get_content(&zid).await.unwrap(), text);
    let zinfo = repo.content_info(&zid).await.unwrap().unwrap();
    assert_eq!(zinfo.original_length as usize, text.len());
    assert!((zinfo.packed_length as usize) < text.len() / 4, "{zinfo:?}");

    for ((_, d), id) in cases.iter().zip(&ids) {
        let info = repo
            .content_info(id)
            .await
            .unwrap()
            .expect("content exists");
        assert_eq!(info.id, *id);
        assert_eq!(info.original_length as usize, d.len());
        assert!(!info.deleted);
        assert!(info.timestamp_seconds > 1_700_000_000, "{info:?}");
    }
    let missing = ContentId::new(None, &[7u8; 16]).unwrap();
    assert_eq!(repo.content_info(&missing).await.unwrap(), None);
    assert!(matches!(
        repo.get_content(&missing).await,
        Err(Error::ContentNotFound(id)) if id == missing
    ));
    // Prefix `m` is reserved for manifests: refused before sending.
    let e = repo
        .write_content(Some(b'm'), data(5, 10), 0)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
    repo.flush().await.unwrap();
    repo.close().await.unwrap();

    // Real kopia, reading the repository files directly, sees the same bytes.
    let home = server.client_home("direct");
    server.connect_kopia_direct(&home);
    for ((_, d), id) in cases.iter().zip(&ids) {
        assert_eq!(kopia_content(&home, id), d.as_ref(), "content {id}");
    }
    assert_eq!(kopia_content(&home, &zid), text.as_ref());
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_round_trip_and_kopia_lists_them() {
    let server = KopiaServer::start(&[ALICE]);
    let repo = connect(&server, server.user(0)).await;
    let l = labels(&[
        ("type", "vmdp-test"),
        ("username", "alice"),
        ("hostname", "vm1"),
        ("path", "/data"),
    ]);
    let payload = br#"{"hello":"world","n":[1,2,3]}"#;
    let id = repo.put_manifest(&l, payload).await.unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    let m = repo.get_manifest(&id).await.unwrap();
    assert_eq!(m.id, id);
    assert_eq!(m.labels, l);
    let got: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
    let want: serde_json::Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(got, want);
    assert!(m.mod_time_nanos > 1_700_000_000_000_000_000);

    let id2 = repo.put_manifest(&l, br#"{"second":true}"#).await.unwrap();
    let found = repo
        .find_manifests(&labels(&[("type", "vmdp-test")]))
        .await
        .unwrap();
    let found_ids: Vec<_> = found.iter().map(|m| m.id.clone()).collect();
    assert_eq!(found_ids.len(), 2, "{found_ids:?}");
    assert!(found_ids.contains(&id) && found_ids.contains(&id2));
    assert!(found.iter().all(|m| m.labels == l));
    let none = repo
        .find_manifests(&labels(&[("type", "vmdp-test"), ("path", "/other")]))
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    // A manifest needs a type label.
    let e = repo
        .put_manifest(&labels(&[("username", "alice")]), b"{}")
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e:?}");
    repo.flush().await.unwrap();

    let home = server.client_home("direct");
    server.connect_kopia_direct(&home);
    let mut listed = kopia_manifest_ids(&home, "vmdp-test");
    listed.sort();
    let mut expected = vec![id.clone(), id2.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    let (klabels, kjson) = kopia_manifest(&home, &id);
    assert_eq!(klabels, l);
    assert_eq!(kjson, want);

    repo.delete_manifest(&id2).await.unwrap();
    assert!(matches!(
        repo.get_manifest(&id2).await,
        Err(Error::ManifestNotFound(x)) if x == id2
    ));
    assert!(matches!(
        repo.delete_manifest(&id2).await,
        Err(Error::ManifestNotFound(_))
    ));
    repo.flush().await.unwrap();
    repo.close().await.unwrap();
    assert_eq!(kopia_manifest_ids(&home, "vmdp-test"), vec![id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn users_do_not_see_each_others_manifests() {
    let server = KopiaServer::start(&[ALICE, BOB]);
    let alice = connect(&server, server.user(0)).await;
    let bob = connect(&server, server.user(1)).await;
    let snap = |user: &str, host: &str| {
        labels(&[
            ("type", "snapshot"),
            ("username", user),
            ("hostname", host),
            ("path", "/data"),
        ])
    };
    let a_id = alice
        .put_manifest(&snap("alice", "vm1"), br#"{"owner":"alice"}"#)
        .await
        .unwrap();
    let b_id = bob
        .put_manifest(&snap("bob", "vm2"), br#"{"owner":"bob"}"#)
        .await
        .unwrap();
    alice.flush().await.unwrap();
    bob.flush().await.unwrap();

    let all = labels(&[("type", "snapshot")]);
    let seen_by_alice: Vec<_> = alice
        .find_manifests(&all)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(seen_by_alice, vec![a_id.clone()]);
    let seen_by_bob: Vec<_> = bob
        .find_manifests(&all)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(seen_by_bob, vec![b_id.clone()]);

    let e = alice.get_manifest(&b_id).await.unwrap_err();
    assert!(matches!(e, Error::AccessDenied(_)), "{e:?}");
    let e = alice.delete_manifest(&b_id).await.unwrap_err();
    assert!(matches!(e, Error::AccessDenied(_)), "{e:?}");
    // Alice may not write manifests in Bob's name either.
    let e = alice
        .put_manifest(&snap("bob", "vm2"), b"{}")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AccessDenied(_)), "{e:?}");
    assert!(bob.get_manifest(&b_id).await.is_ok());
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_or_unknown_user_is_an_authentication_error() {
    let server = KopiaServer::start(&[ALICE]);
    let mut bad = server.user(0).clone();
    bad.password = "not-the-password".into();
    let started = std::time::Instant::now();
    let e = ServerRepository::connect(options(&server, &bad))
        .await
        .err()
        .expect("wrong password must fail");
    match &e {
        Error::AuthenticationFailed { identity, message } => {
            assert_eq!(identity, "alice@vm1");
            assert!(message.contains("access denied"), "{message}");
        }
        other => panic!("expected AuthenticationFailed, got {other:?}"),
    }
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("alice@vm1"), "{e}");
    // Not retried: a refusal comes back at once.
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    let stranger = ServerUser::parse("mallory@vm9:alice-pw");
    let e = ServerRepository::connect(options(&server, &stranger))
        .await
        .err()
        .expect("unknown user must fail");
    assert!(
        matches!(&e, Error::AuthenticationFailed { identity, .. } if identity == "mallory@vm9"),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn many_writes_in_flight_within_a_small_budget() {
    let server = KopiaServer::start(&[ALICE]);
    let mut opts = options(&server, server.user(0));
    opts.write_budget = 128 << 10;
    let repo = ServerRepository::connect(opts).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200u64 {
        let repo = repo.clone();
        tasks.spawn(async move {
            let d = data(1000 + i, 10_000 + (i as usize % 7) * 1_000);
            let id = repo.write_content(None, d.clone(), 0).await.unwrap();
            assert!(repo.outstanding_writes() <= 200);
            (id, d)
        });
    }
    let written = tasks.join_all().await;
    repo.flush().await.unwrap();
    assert_eq!(repo.outstanding_writes(), 0);
    for (id, d) in &written {
        assert_eq!(repo.get_content(id).await.unwrap(), *d);
    }
    repo.close().await.unwrap();
    // Closed: later calls fail clearly.
    let e = repo.content_info(&written[0].0).await.unwrap_err();
    assert!(e.to_string().contains("closed"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnects_after_a_server_restart() {
    let mut server = KopiaServer::start(&[ALICE]);
    let repo = connect(&server, server.user(0)).await;
    let d = data(77, 1_000);
    let id = repo.write_content(None, d.clone(), 0).await.unwrap();
    repo.flush().await.unwrap();

    server.restart();
    // Reads are re-sent on a new stream.
    assert_eq!(repo.get_content(&id).await.unwrap(), d);
    // Flushed state survives; new writes work on the new stream.
    let id2 = repo.write_content(None, data(78, 1_000), 0).await.unwrap();
    repo.flush().await.unwrap();
    assert!(repo.content_info(&id2).await.unwrap().is_some());

    // Unflushed writes across a restart: the next flush says they may be lost.
    let _ = repo.write_content(None, data(79, 1_000), 0).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.restart();
    let _ = repo.content_info(&id).await.unwrap();
    let e = repo.flush().await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(e.to_string().contains("may be lost"), "{e}");
    // ... once: the flush after that succeeds.
    repo.flush().await.unwrap();
    repo.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn unflushed_writes_are_private_to_the_session_and_read_only_is_enforced() {
    let server = KopiaServer::start(&[ALICE]);
    let writer = connect(&server, server.user(0)).await;
    let reader = connect(&server, server.user(0)).await;
    let d = data(4242, 5_000);
    let id = writer.write_content(None, d.clone(), 0).await.unwrap();
    assert!(writer.content_info(&id).await.unwrap().is_some());
    assert_eq!(reader.content_info(&id).await.unwrap(), None);
    writer.flush().await.unwrap();
    assert_eq!(reader.get_content(&id).await.unwrap(), d);

    let mut opts = options(&server, server.user(0));
    opts.read_only = true;
    let ro = ServerRepository::connect(opts).await.unwrap();
    assert!(ro.status().read_only);
    assert_eq!(ro.get_content(&id).await.unwrap(), d);
    let e = ro.write_content(None, data(1, 10), 0).await.unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput(ref m) if m.contains("read-only")),
        "{e:?}"
    );
    let e = ro
        .put_manifest(&labels(&[("type", "vmdp-test")]), b"{}")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
    for r in [writer, reader, ro] {
        r.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn write_with_a_precomputed_id_is_checked_by_the_server() {
    let server = KopiaServer::start(&[ALICE]);
    let repo = connect(&server, server.user(0)).await;
    let d = data(90, 3_000);
    let id = repo.write_content(None, d.clone(), 0).await.unwrap();
    // The right ID: stored without hashing again here, readable, flushes.
    let d2 = data(91, 70_000);
    let p = repo.parameters();
    let id2 = HashFunction::new(&p.hash_function, &p.hmac_secret)
        .unwrap()
        .content_id(None, &d2)
        .unwrap();
    repo.write_content_with_id(id2, d2.clone(), 0)
        .await
        .unwrap();
    repo.flush().await.unwrap();
    assert_eq!(repo.get_content(&id2).await.unwrap(), d2);
    // A wrong ID (another content's) is caught when the server answers: the flush fails.
    repo.write_content_with_id(id, data(92, 3_000), 0)
        .await
        .unwrap();
    let e = repo.flush().await.unwrap_err();
    assert!(e.to_string().contains("locally computed ID"), "{e}");
    // A prefix kopia refuses is refused before sending.
    let m = ContentId::new(Some(b'm'), &[1u8; 16]).unwrap();
    assert!(matches!(
        repo.write_content_with_id(m, d, 0).await,
        Err(Error::InvalidInput(_))
    ));
    repo.close().await.unwrap();
}
