//! Response decoding: hand-built wire bytes, every typed accessor, and hostile input.

use super::*;
use crate::session::pb::{
    ErrorResponse, FindManifestsResponse, FlushResponse, GetContentResponse,
    InitializeSessionResponse, WriteContentResponse,
};

// A tiny independent protobuf writer so the expected bytes do not come from prost.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
fn f_varint(field: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(field) << 3, &mut out);
    varint(v, &mut out);
    out
}
fn f_len(field: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint((u64::from(field) << 3) | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}
fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn dec(b: &[u8]) -> SessionResponse {
    decode_response(b).unwrap()
}

#[test]
fn error_response_from_wire() {
    // 1:7 | 2:LEN { 1:varint 2 | 2:"nf" }
    let b = [0x08, 0x07, 0x12, 0x06, 0x08, 0x02, 0x12, 0x02, b'n', b'f'];
    let r = dec(&b);
    assert_eq!(r.request_id, 7);
    assert_eq!(r.kind(), None);
    assert_eq!(
        r.clone().into_get_content().unwrap_err(),
        SessionError::ContentNotFound {
            message: "nf".into()
        }
    );
    // An error answers any request type, even with has_more set.
    let mut r = r;
    r.has_more = true;
    assert!(matches!(
        r.into_find_manifests(),
        Err(SessionError::ContentNotFound { .. })
    ));
    // Error with default (omitted) code 0 = UNKNOWN_ERROR.
    let b = cat(&[
        f_varint(1, 1),
        f_len(2, &f_len(2, b"unhandled session request")),
    ]);
    let e = dec(&b).into_flush().unwrap_err();
    assert!(e.is_unsupported(), "{e}");
}

#[test]
fn initialize_session_from_wire() {
    let params = cat(&[
        f_len(1, b"BLAKE2B-256-128"),
        f_len(2, &[1, 2, 3, 4]),
        f_len(3, b"DYNAMIC-4M-BUZHASH"),
        f_varint(4, 1),
    ]);
    let b = cat(&[f_varint(1, 1), f_len(10, &f_len(1, &params))]);
    let r = dec(&b);
    assert_eq!(r.kind(), Some(RequestKind::InitializeSession));
    let p = r.into_initialize_session().unwrap();
    assert_eq!(p.hash_function, "BLAKE2B-256-128");
    assert_eq!(&p.hmac_secret[..], &[1, 2, 3, 4]);
    assert_eq!(p.splitter, "DYNAMIC-4M-BUZHASH");
    assert!(p.supports_content_compression);

    // Missing parameters, or empty hash/splitter names, are malformed.
    for bad in [
        cat(&[f_varint(1, 1), f_len(10, &[])]),
        cat(&[f_varint(1, 1), f_len(10, &f_len(1, &f_len(3, b"FIXED-1M")))]),
        cat(&[
            f_varint(1, 1),
            f_len(10, &f_len(1, &f_len(1, b"HMAC-SHA256"))),
        ]),
    ] {
        let e = dec(&bad).into_initialize_session().unwrap_err();
        assert!(
            matches!(
                e,
                SessionError::Malformed {
                    kind: RequestKind::InitializeSession,
                    ..
                }
            ),
            "{e}"
        );
    }
}

#[test]
fn content_info_from_wire() {
    let info = cat(&[
        f_len(1, b"k0102"),
        f_varint(2, 100),
        f_varint(3, 1_700_000_000),
        f_len(4, b"qabc-s1"),
        f_varint(5, 4096),
        f_varint(6, 1),
        f_varint(7, 2),
        f_varint(8, 90),
    ]);
    let b = cat(&[f_varint(1, 3), f_len(11, &f_len(1, &info))]);
    let i = dec(&b).into_get_content_info().unwrap();
    assert_eq!(
        i,
        ContentInfo {
            id: "k0102".into(),
            packed_length: 100,
            timestamp_seconds: 1_700_000_000,
            pack_blob_id: "qabc-s1".into(),
            pack_offset: 4096,
            deleted: true,
            format_version: 2,
            original_length: 90,
        }
    );
    let e = dec(&cat(&[f_varint(1, 3), f_len(11, &[])]))
        .into_get_content_info()
        .unwrap_err();
    assert!(matches!(e, SessionError::Malformed { .. }), "{e}");
}

#[test]
fn manifests_from_wire() {
    let entry = |id: &[u8], t: u64| {
        cat(&[
            f_len(1, id),
            f_varint(2, t),
            f_varint(3, 42),
            f_len(4, &cat(&[f_len(1, b"type"), f_len(2, b"snapshot")])),
        ])
    };
    // find_manifests page: 1:3 | 3:has_more | 17:{ 1:entry, 1:entry }
    let page = cat(&[f_len(1, &entry(b"aa", 5)), f_len(1, &entry(b"bb", 6))]);
    let b = cat(&[f_varint(1, 3), f_varint(3, 1), f_len(17, &page)]);
    let p = dec(&b).into_find_manifests().unwrap();
    assert!(p.has_more);
    assert_eq!(p.entries.len(), 2);
    assert_eq!(p.entries[1].id, "bb");
    assert_eq!(p.entries[1].mod_time_nanos, 6);
    assert_eq!(p.entries[1].length, 42);
    assert_eq!(p.entries[0].labels["type"], "snapshot");
    // Last page, empty.
    let p = dec(&cat(&[f_varint(1, 3), f_len(17, &[])]))
        .into_find_manifests()
        .unwrap();
    assert!(!p.has_more && p.entries.is_empty());

    // get_manifest: 15:{ 1:json | 2:metadata }
    let b = cat(&[
        f_varint(1, 4),
        f_len(
            15,
            &cat(&[f_len(1, b"{\"a\":1}"), f_len(2, &entry(b"cc", 7))]),
        ),
    ]);
    let m = dec(&b).into_get_manifest().unwrap();
    assert_eq!(&m.json_data[..], b"{\"a\":1}");
    assert_eq!(m.metadata.id, "cc");
    let e = dec(&cat(&[f_varint(1, 4), f_len(15, &f_len(1, b"{}"))]))
        .into_get_manifest()
        .unwrap_err();
    assert!(matches!(e, SessionError::Malformed { .. }), "{e}");

    // put_manifest: 16:{ 1:id }
    let b = cat(&[f_varint(1, 5), f_len(16, &f_len(1, b"0123abcd"))]);
    assert_eq!(dec(&b).into_put_manifest().unwrap(), "0123abcd");
    assert!(
        dec(&cat(&[f_varint(1, 5), f_len(16, &[])]))
            .into_put_manifest()
            .is_err()
    );

    // delete_manifest: 18:{}
    assert!(
        dec(&cat(&[f_varint(1, 6), f_len(18, &[])]))
            .into_delete_manifest()
            .is_ok()
    );
}

#[test]
fn content_answers_from_wire() {
    let b = cat(&[f_varint(1, 9), f_len(13, &f_len(1, b"kab01"))]);
    assert_eq!(
        dec(&b).into_write_content().unwrap(),
        "kab01".parse::<ContentId>().unwrap()
    );
    for bad in [&b""[..], b"zz", b"a", b"Aab"] {
        let b = cat(&[f_varint(1, 9), f_len(13, &f_len(1, bad))]);
        let e = dec(&b).into_write_content().unwrap_err();
        assert!(matches!(e, SessionError::Malformed { .. }), "{bad:?}: {e}");
    }

    let b = Bytes::from(cat(&[f_varint(1, 2), f_len(14, &f_len(1, b"hello"))]));
    assert_eq!(
        &decode_response(b).unwrap().into_get_content().unwrap()[..],
        b"hello"
    );

    let b = cat(&[f_len(19, &cat(&[f_len(1, b"ab"), f_len(1, b"kcd")]))]);
    let ids = dec(&b).into_prefetch_contents().unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[1].to_string(), "kcd");
    let b = cat(&[f_len(19, &f_len(1, b"nothex"))]);
    assert!(dec(&b).into_prefetch_contents().is_err());

    let b = cat(&[f_len(20, &cat(&[f_len(1, b"s1"), f_len(1, b"s2")]))]);
    assert_eq!(dec(&b).into_apply_retention_policy().unwrap(), ["s1", "s2"]);
    assert!(dec(&f_len(21, &[])).into_send_notification().is_ok());
    assert!(dec(&f_len(12, &[])).into_flush().is_ok());
}

#[test]
fn response_oneof_numbering() {
    for kind in RequestKind::ALL {
        let b = cat(&[f_varint(1, 5), f_len(kind.field_number(), &[])]);
        let r = dec(&b);
        assert_eq!(r.kind(), Some(kind), "field {}", kind.field_number());
        assert_eq!(r.request_id, 5);
        // And back: prost writes the same bytes.
        assert_eq!(r.encode_to_vec(), b);
    }
    // has_more is field 3, error is field 2.
    let r = SessionResponse {
        request_id: 1,
        has_more: true,
        response: Some(Response::Error(ErrorResponse {
            code: 5,
            message: String::new(),
        })),
    };
    // Written in field-number order: the oneof's error (2) before has_more (3) ...
    assert_eq!(
        r.encode_to_vec(),
        [0x08, 0x01, 0x12, 0x02, 0x08, 0x05, 0x18, 0x01]
    );
    // ... but any field order decodes to the same message.
    assert_eq!(dec(&[0x18, 0x01, 0x12, 0x02, 0x08, 0x05, 0x08, 0x01]), r);
}

#[test]
fn wrong_type_and_has_more_are_rejected() {
    let flush = SessionResponse {
        request_id: 1,
        has_more: false,
        response: Some(Response::Flush(FlushResponse {})),
    };
    assert_eq!(
        flush.clone().into_get_content().unwrap_err(),
        SessionError::UnexpectedResponse {
            expected: RequestKind::GetContent,
            got: RequestKind::Flush
        }
    );
    let mut more = flush;
    more.has_more = true;
    let e = more.into_flush().unwrap_err();
    assert!(
        matches!(
            e,
            SessionError::Malformed {
                kind: RequestKind::Flush,
                ..
            }
        ),
        "{e}"
    );
    let paged = SessionResponse {
        request_id: 1,
        has_more: true,
        response: Some(Response::FindManifests(FindManifestsResponse::default())),
    };
    assert!(paged.into_find_manifests().unwrap().has_more);
    // into_result passes any non-error variant through.
    let r = SessionResponse {
        request_id: 1,
        has_more: false,
        response: Some(Response::GetContent(GetContentResponse::default())),
    };
    assert!(matches!(r.into_result(), Ok(Response::GetContent(_))));
    let r = SessionResponse {
        request_id: 1,
        has_more: false,
        response: Some(Response::InitializeSession(
            InitializeSessionResponse::default(),
        )),
    };
    assert!(r.into_write_content().is_err());
    let r = SessionResponse {
        request_id: 1,
        has_more: false,
        response: Some(Response::WriteContent(WriteContentResponse::default())),
    };
    assert!(r.into_initialize_session().is_err());
}

#[test]
fn unknown_response_field_is_unsupported() {
    // 22:LEN {} (get_capacity on kopia's development branch) is unknown here.
    let b = cat(&[f_varint(1, 8), f_len(22, &f_len(1, &f_varint(1, 5)))]);
    let r = dec(&b);
    assert_eq!(r.kind(), None);
    let e = r.into_flush().unwrap_err();
    assert_eq!(e, SessionError::UnknownResponse { request_id: 8 });
    assert!(e.is_unsupported());
    // Completely empty message: request 0, nothing set.
    assert!(matches!(
        dec(&[]).into_result(),
        Err(SessionError::UnknownResponse { request_id: 0 })
    ));
}

#[test]
fn malformed_bytes_are_errors() {
    let cases: &[(&str, &[u8])] = &[
        ("request_id as LEN", &[0x0a, 0x01, 0x00]),
        ("flush as varint", &[0x60, 0x01]),
        ("error as fixed64", &[0x11, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("field number 0", &[0x00, 0x01]),
        ("truncated varint", &[0x08, 0xff]),
        (
            "overlong varint",
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ),
        ("length past end", &[0x72, 0x05, 0x0a, 0x01]),
        ("huge length", &[0x72, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        ("inner length past outer", &[0x72, 0x02, 0x0a, 0x05]),
        (
            "invalid utf-8 message",
            &[0x12, 0x04, 0x12, 0x02, 0xff, 0xfe],
        ),
        ("invalid utf-8 content id", &[0x6a, 0x03, 0x0a, 0x01, 0xc3]),
        ("wire type 7", &[0x0f]),
        ("group end without start", &[0x0c]),
    ];
    for (what, b) in cases {
        match decode_response(*b) {
            Err(SessionError::Decode(_)) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn every_truncation_fails_or_decodes_without_panic() {
    let info = cat(&[f_len(1, b"k0102"), f_varint(2, 100), f_len(4, b"pack")]);
    let full = cat(&[
        f_varint(1, 300),
        f_varint(3, 1),
        f_len(11, &f_len(1, &info)),
    ]);
    assert!(dec(&full).has_more);
    for n in 0..full.len() {
        let cut = &full[..n];
        // Cutting inside the oneof's payload must fail; elsewhere it may decode a prefix.
        if n > 6 {
            assert!(decode_response(cut).is_err(), "cut at {n}");
        } else if let Ok(r) = decode_response(cut) {
            let _ = r.into_get_content_info();
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    // xorshift64*, deterministic.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let seed = cat(&[
        f_varint(1, 1),
        f_len(10, &f_len(1, &f_len(1, b"BLAKE3-256"))),
    ]);
    let mut decoded = 0;
    for _ in 0..20_000 {
        let mut b = seed.clone();
        let flips = 1 + next() % 4;
        for _ in 0..flips {
            let i = (next() as usize) % b.len();
            b[i] = next() as u8;
        }
        if let Ok(r) = decode_response(b.as_slice()) {
            decoded += 1;
            let _ = r.clone().into_initialize_session();
            let _ = r.into_find_manifests();
        }
    }
    // Some mutations still decode; the point is nothing panicked.
    assert!(decoded > 0);
}

#[test]
fn oversized_response_is_refused_before_decoding() {
    let b = vec![0u8; MAX_MESSAGE_SIZE + 1];
    assert!(matches!(
        decode_response(b.as_slice()),
        Err(SessionError::TooLarge {
            what: "response",
            ..
        })
    ));
}
