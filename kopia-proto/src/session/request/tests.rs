//! Request encoding checked against bytes written by hand from the field numbers
//! of kopia's `repository_server.proto` (so a wrong number or type fails).

use super::*;
use crate::session::pb::session_request::Request;

fn cid(s: &str) -> ContentId {
    s.parse().unwrap()
}

fn enc(r: &SessionRequest) -> Vec<u8> {
    r.encode_to_vec()
}

/// Encodes, decodes back and checks equality; returns the bytes.
fn round_trip(r: &SessionRequest) -> Vec<u8> {
    let b = enc(r);
    let back = SessionRequest::decode(b.as_slice()).unwrap();
    assert_eq!(&back, r);
    b
}

#[test]
fn golden_flush() {
    // 1:varint 7 | 12:LEN 0
    assert_eq!(
        round_trip(&SessionRequest::flush(7)),
        [0x08, 0x07, 0x62, 0x00]
    );
}

#[test]
fn golden_initialize_session() {
    let r = SessionRequest::initialize_session(1, "cli:x", true);
    // 1:varint 1 | 10:LEN 9 { 1:LEN "cli:x" | 2:varint 1 }
    let want = [
        0x08, 0x01, 0x52, 0x09, 0x0a, 0x05, b'c', b'l', b'i', b':', b'x', 0x10, 0x01,
    ];
    assert_eq!(round_trip(&r), want);
    // proto3: false/empty fields are omitted.
    assert_eq!(
        enc(&SessionRequest::initialize_session(1, "", false)),
        [0x08, 0x01, 0x52, 0x00]
    );
}

#[test]
fn golden_write_content() {
    let r =
        SessionRequest::write_content(300, Some(b'k'), Bytes::from_static(b"abc"), 0x1101).unwrap();
    // 1:varint 300 | 13:LEN 11 { 1:"k" | 2:"abc" | 3:varint 4353 }
    let want = [
        0x08, 0xac, 0x02, 0x6a, 0x0b, 0x0a, 0x01, b'k', 0x12, 0x03, b'a', b'b', b'c', 0x18, 0x81,
        0x22,
    ];
    assert_eq!(round_trip(&r), want);
    let r = SessionRequest::write_content(2, None, Bytes::from_static(b"z"), 0).unwrap();
    assert_eq!(enc(&r), [0x08, 0x02, 0x6a, 0x03, 0x12, 0x01, b'z']);
}

#[test]
fn golden_content_lookups() {
    // 11:LEN { 1:"k0102" }
    assert_eq!(
        round_trip(&SessionRequest::get_content_info(1, &cid("k0102"))),
        [
            0x08, 0x01, 0x5a, 0x07, 0x0a, 0x05, b'k', b'0', b'1', b'0', b'2'
        ]
    );
    // 14:LEN { 1:"ab" }
    assert_eq!(
        round_trip(&SessionRequest::get_content(1, &cid("AB"))),
        [0x08, 0x01, 0x72, 0x04, 0x0a, 0x02, b'a', b'b']
    );
    // 19:LEN 16 { 1:"ab" | 1:"kcd" | 2:"blobs" }
    let ids = [cid("ab"), cid("kcd")];
    let mut want = vec![0x08, 0x06, 0x9a, 0x01, 0x10];
    want.extend_from_slice(b"\x0a\x02ab\x0a\x03kcd\x12\x05blobs");
    assert_eq!(
        round_trip(&SessionRequest::prefetch_contents(6, &ids, "blobs")),
        want
    );
}

#[test]
fn golden_manifest_requests() {
    // 2: map {"a": "b"} | 15:LEN { 1:"m1" }
    let mut r = SessionRequest::get_manifest(0, "m1");
    r.trace_context.insert("a".into(), "b".into());
    assert_eq!(
        round_trip(&r),
        [
            0x12, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b', 0x7a, 0x04, 0x0a, 0x02, b'm', b'1'
        ]
    );

    // 16:LEN 20 { 1:"{}" | 2: map entry {1:"type" 2:"policy"} }
    let r = SessionRequest::put_manifest(9, &b"{}"[..], [("type", "policy")]).unwrap();
    let mut want = vec![
        0x08, 0x09, 0x82, 0x01, 0x14, 0x0a, 0x02, b'{', b'}', 0x12, 0x0e,
    ];
    want.extend_from_slice(b"\x0a\x04type\x12\x06policy");
    assert_eq!(round_trip(&r), want);

    // 17:LEN 21 { 1: map entry {"type": "snapshot"} | 2:varint 1000 }
    let r = SessionRequest::find_manifests(3, [("type", "snapshot")], 1000);
    let mut want = vec![0x08, 0x03, 0x8a, 0x01, 0x15, 0x0a, 0x10];
    want.extend_from_slice(b"\x0a\x04type\x12\x08snapshot\x10\xe8\x07");
    assert_eq!(round_trip(&r), want);

    // 18:LEN { 1:"abc" }
    assert_eq!(
        round_trip(&SessionRequest::delete_manifest(4, "abc")),
        [0x08, 0x04, 0x92, 0x01, 0x05, 0x0a, 0x03, b'a', b'b', b'c']
    );
}

#[test]
fn golden_retention_and_notification() {
    // 20:LEN { 1:"/src" | 2:varint 1 }
    assert_eq!(
        round_trip(&SessionRequest::apply_retention_policy(5, "/src", true)),
        [
            0x08, 0x05, 0xa2, 0x01, 0x08, 0x0a, 0x04, b'/', b's', b'r', b'c', 0x10, 0x01
        ]
    );
    // 21:LEN 20 { 1:"t" | 2:"{}" | 3:varint -10 (10 bytes) | 4:varint 2 }
    let r = SessionRequest::send_notification(
        2,
        "t",
        &b"{}"[..],
        NotificationEventArgType::ArgTypeErrorInfo,
        severity::SUCCESS,
    );
    let want = [
        0x08, 0x02, 0xaa, 0x01, 0x14, 0x0a, 0x01, b't', 0x12, 0x02, b'{', b'}', 0x18, 0xf6, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x20, 0x02,
    ];
    assert_eq!(round_trip(&r), want);
}

#[test]
fn notification_enum_numbers() {
    assert_eq!(NotificationEventArgType::ArgTypeUnknown as i32, 0);
    assert_eq!(NotificationEventArgType::ArgTypeEmpty as i32, 1);
    assert_eq!(NotificationEventArgType::ArgTypeErrorInfo as i32, 2);
    assert_eq!(
        NotificationEventArgType::ArgTypeMultiSnapshotStatus as i32,
        3
    );
    assert_eq!(
        NotificationEventArgType::ArgTypeMultiSnapshotStatus.as_str_name(),
        "ARG_TYPE_MULTI_SNAPSHOT_STATUS"
    );
}

/// One request of every kind, for table tests.
fn one_of_each() -> Vec<SessionRequest> {
    vec![
        SessionRequest::initialize_session(1, "p", false),
        SessionRequest::get_content_info(2, &cid("ab")),
        SessionRequest::flush(3),
        SessionRequest::write_content(4, None, Bytes::from_static(b"x"), 0).unwrap(),
        SessionRequest::get_content(5, &cid("ab")),
        SessionRequest::get_manifest(6, "x"),
        SessionRequest::put_manifest(7, &b"{}"[..], [("type", "t")]).unwrap(),
        SessionRequest::find_manifests(8, [("k", "v")], 0),
        SessionRequest::delete_manifest(9, "x"),
        SessionRequest::prefetch_contents(10, &[cid("ab")], ""),
        SessionRequest::apply_retention_policy(11, "/", false),
        SessionRequest::send_notification(
            12,
            "t",
            Bytes::new(),
            NotificationEventArgType::ArgTypeEmpty,
            0,
        ),
    ]
}

#[test]
fn oneof_numbering_matches_kind() {
    let reqs = one_of_each();
    for (i, (r, kind)) in reqs.iter().zip(RequestKind::ALL).enumerate() {
        assert_eq!(r.kind(), Some(kind));
        assert_eq!(r.request_id, i as i64 + 1);
        let b = round_trip(r);
        // Bytes: 0x08 <id < 128> then the oneof key: varint((field << 3) | 2).
        let key = (kind.field_number() << 3) | 2;
        let want_key: Vec<u8> = if key < 0x80 {
            vec![key as u8]
        } else {
            vec![(key as u8) | 0x80, (key >> 7) as u8]
        };
        assert_eq!(&b[2..2 + want_key.len()], want_key.as_slice(), "{kind}");
    }
    let mut numbers: Vec<u32> = RequestKind::ALL.iter().map(|k| k.field_number()).collect();
    assert_eq!(numbers, (10..=21).collect::<Vec<_>>());
    numbers.dedup();
    assert_eq!(numbers.len(), 12);
}

#[test]
fn kind_names_and_retry_policy() {
    assert_eq!(RequestKind::GetContentInfo.to_string(), "get_content_info");
    assert_eq!(
        RequestKind::ApplyRetentionPolicy.name(),
        "apply_retention_policy"
    );
    let retryable: Vec<_> = RequestKind::ALL
        .into_iter()
        .filter(|k| k.is_retryable())
        .collect();
    assert_eq!(
        retryable,
        [
            RequestKind::GetContentInfo,
            RequestKind::GetContent,
            RequestKind::GetManifest,
            RequestKind::FindManifests,
            RequestKind::SendNotification
        ]
    );
    let paged: Vec<_> = RequestKind::ALL
        .into_iter()
        .filter(|k| k.is_paged())
        .collect();
    assert_eq!(paged, [RequestKind::FindManifests]);
}

#[test]
fn unset_oneof_has_no_kind() {
    let r = SessionRequest {
        request_id: 1,
        ..Default::default()
    };
    assert_eq!(r.kind(), None);
    assert!(matches!(
        SessionRequest::flush(1).request,
        Some(Request::Flush(_))
    ));
}

#[test]
fn write_content_refuses_bad_prefixes() {
    for p in [b'm', b'a', b'f', b'A', b'{', 0] {
        let e = SessionRequest::write_content(1, Some(p), Bytes::new(), 0).unwrap_err();
        assert!(
            matches!(
                e,
                SessionError::InvalidRequest {
                    kind: RequestKind::WriteContent,
                    ..
                }
            ),
            "{p}: {e}"
        );
    }
    for p in [b'g', b'k', b'x', b'z'] {
        assert!(SessionRequest::write_content(1, Some(p), Bytes::new(), 0).is_ok());
    }
}

#[test]
fn refuses_oversized_requests() {
    let big = Bytes::from(vec![0u8; MAX_MESSAGE_SIZE]);
    let e = SessionRequest::write_content(1, None, big.clone(), 0).unwrap_err();
    assert!(
        matches!(e, SessionError::TooLarge { what: "request", size, limit } if size > limit),
        "{e}"
    );
    assert!(matches!(
        SessionRequest::put_manifest(1, big, [("type", "x")]),
        Err(SessionError::TooLarge { .. })
    ));
    // Just under the limit passes.
    let ok = Bytes::from(vec![0u8; MAX_MESSAGE_SIZE - 64]);
    assert!(SessionRequest::write_content(1, None, ok, 0).is_ok());
}

#[test]
fn put_manifest_requires_type_label() {
    for labels in [vec![], vec![("type", "")], vec![("kind", "snapshot")]] {
        assert!(matches!(
            SessionRequest::put_manifest(1, &b"{}"[..], labels),
            Err(SessionError::InvalidRequest {
                kind: RequestKind::PutManifest,
                ..
            })
        ));
    }
}

#[test]
fn request_ids_count_from_one() {
    let mut g = RequestIdGen::new();
    assert_eq!([g.next(), g.next(), g.next()], [1, 2, 3]);
    let mut g = RequestIdGen { next: i64::MAX };
    assert_eq!(g.next(), i64::MAX);
    assert_eq!(g.next(), 1);
}
