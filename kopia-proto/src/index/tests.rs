//! Unit tests of the index readers and writers: round trips, writer limits and
//! malformed inputs (every one must be an error, never a panic).

use std::sync::Arc;

use super::*;
use crate::ids::ContentId;

fn id(s: &str) -> ContentId {
    s.parse().unwrap()
}

fn entry(cid: &str, pack: &str, ts: i64) -> IndexEntry {
    IndexEntry {
        content_id: id(cid),
        pack_blob_id: Arc::from(pack),
        pack_offset: 32,
        packed_length: 100,
        original_length: 72,
        timestamp_seconds: ts,
        deleted: false,
        format_version: 2,
        compression_header_id: 0,
        encryption_key_id: 0,
    }
}

fn sample() -> Vec<IndexEntry> {
    let mut v = vec![
        entry("00112233445566778899aabbccddeeff", "pA", 10),
        entry("f0112233445566778899aabbccddeeff", "pB", 11),
        entry("k00112233445566778899aabbccddeeff", "qC", 12),
        entry("m00112233445566778899aabbccddeeff", "qC", 13),
        entry("x00112233445566778899aabbccddeeff", "qD", 14),
    ];
    v[1].deleted = true;
    v[2].compression_header_id = 0x1100;
    v
}

#[test]
fn v2_round_trip_and_lookup() {
    let entries = sample();
    let bytes = build_index(&entries, VERSION_2).unwrap();
    let ndx = Index::open(&bytes[..], 28).unwrap();
    assert_eq!(ndx.iter().collect::<Vec<_>>(), entries);
    for e in &entries {
        assert_eq!(ndx.get(&e.content_id).unwrap().as_ref(), Some(e));
    }
    assert!(matches!(
        ndx.get(&id("k00")),
        Err(IndexError::KeySizeMismatch {
            len: 2,
            key_size: 17,
            ..
        })
    ));
    assert_eq!(
        ndx.get(&id("00112233445566778899aabbccddeefe")).unwrap(),
        None
    );
    assert_eq!(
        ndx.get(&id("ff112233445566778899aabbccddeeff")).unwrap(),
        None
    );
    assert_eq!(ndx.iter_prefix(Some(b'k')).count(), 1);
    assert_eq!(ndx.iter_prefix(None).count(), 2);
    assert_eq!(ndx.iter_prefix(Some(b'z')).count(), 0);
    let from: Vec<_> = ndx
        .iter_from(&id("m00000000000000000000000000000000"))
        .collect();
    assert_eq!(from.len(), 2);
}

#[test]
fn v1_round_trip_and_empty_index() {
    let mut entries = sample();
    for e in &mut entries {
        e.compression_header_id = 0;
        e.original_length = e.packed_length - 28;
    }
    let bytes = build_index(&entries, VERSION_1).unwrap();
    let ndx = Index::open(bytes.clone(), 28).unwrap();
    assert_eq!(ndx.version(), 1);
    assert_eq!(ndx.iter().collect::<Vec<_>>(), entries);

    let empty = build_index(std::iter::empty(), VERSION_1).unwrap();
    assert_eq!(hex::encode(&empty), "01ff001400000000");
    let ndx = Index::open(empty, 28).unwrap();
    assert!(ndx.is_empty());
    assert_eq!(ndx.get(&id("00112233")).unwrap(), None);
}

#[test]
fn v1_original_length_wraps_like_go() {
    let mut e = entry("0011", "p", 1);
    e.packed_length = 10;
    e.original_length = 10u32.wrapping_sub(28);
    let bytes = build_index([&e], VERSION_1).unwrap();
    let got = Index::open(bytes, 28).unwrap().iter().next().unwrap();
    assert_eq!(got.original_length, 10u32.wrapping_sub(28));
}

#[test]
fn v2_entry_size_grows_with_needs() {
    let mut e = sample();
    for x in &mut e {
        x.compression_header_id = 0;
        x.deleted = false;
    }
    let size = |entries: &[IndexEntry]| {
        let b = build_index(entries, VERSION_2).unwrap();
        u16::from_be_bytes([b[2], b[3]])
    };
    assert_eq!(size(&e), 16);
    e[0].compression_header_id = 0x1000;
    assert_eq!(size(&e), 17);
    e[1].original_length = 1 << 24;
    assert_eq!(size(&e), 19);
    let b = build_index(&e, VERSION_2).unwrap();
    let back: Vec<_> = Index::open(b, 0).unwrap().iter().collect();
    assert_eq!(back, e);
}

#[test]
fn v2_more_than_65536_packs_uses_18_byte_entries() {
    let entries: Vec<IndexEntry> = (0..65_537u32)
        .map(|i| {
            let hash = [i.to_be_bytes(), [0; 4], [0; 4], [0; 4]].concat();
            let mut e = entry("00", &format!("p{i}"), 1);
            e.content_id = ContentId::new(None, &hash).unwrap();
            e
        })
        .collect();
    let b = build_index(&entries, VERSION_2).unwrap();
    assert_eq!(u16::from_be_bytes([b[2], b[3]]), 18);
    let ndx = Index::open(b, 0).unwrap();
    let last = entries.last().unwrap();
    assert_eq!(ndx.get(&last.content_id).unwrap().as_ref(), Some(last));
}

#[test]
fn writer_rejects_what_kopia_rejects() {
    let mut e = sample();
    assert!(build_index(std::iter::empty(), VERSION_2).is_err());
    assert!(matches!(
        build_index(&e, 3),
        Err(IndexError::UnsupportedVersion(3))
    ));
    // v1 cannot hold compression.
    assert!(build_index(&e, VERSION_1).is_err());
    e[0].packed_length = V2_MAX_CONTENT_LENGTH;
    assert!(build_index(&e, VERSION_2).is_err());
    e[0].packed_length = 1;
    e[0].pack_offset = V2_MAX_PACK_OFFSET;
    assert!(build_index(&e, VERSION_2).is_err());
    e[0].pack_offset = 0;
    e[0].timestamp_seconds = -1;
    assert!(build_index(&e, VERSION_2).is_err());
    e[0].timestamp_seconds = 1;
    e[0].content_id = id("0011");
    assert!(build_index(&e, VERSION_2).is_err(), "mixed key sizes");
    let dup = [entry("0011", "p", 1), entry("0011", "q", 2)];
    assert!(build_index(&dup, VERSION_2).is_err());
    let refs: Vec<&IndexEntry> = dup.iter().rev().collect();
    assert!(build_index_sorted(&refs, VERSION_2).is_err());
    let long = entry("0011", &"p".repeat(256), 1);
    assert!(build_index([&long], VERSION_2).is_err());
    assert!(build_index([&long], VERSION_1).is_err());
}

#[test]
fn builder_keeps_the_winner() {
    let mut b = IndexBuilder::new();
    b.add(entry("0011", "pA", 5));
    b.add(entry("0011", "pB", 4));
    assert_eq!(&*b.get(&id("0011")).unwrap().pack_blob_id, "pA");
    b.add(entry("0011", "pC", 6).to_deleted(6));
    assert!(b.get(&id("0011")).unwrap().deleted);
    b.add(entry("0011", "pD", 6));
    assert_eq!(&*b.get(&id("0011")).unwrap().pack_blob_id, "pD");
    assert_eq!(b.len(), 1);
    assert_eq!(
        b.build_shards(VERSION_2, DEFAULT_SHARD_SIZE).unwrap().len(),
        1
    );
    assert!(b.build_shards(VERSION_2, 0).is_err());
    b.add(entry("0022", "pD", 6));
    b.add(entry("0033", "pD", 6));
    let shards = b.build_shards(VERSION_2, 1).unwrap();
    let total: usize = shards
        .iter()
        .map(|s| Index::open(&s[..], 0).unwrap().len())
        .sum();
    assert_eq!(total, 3);
    b.clear();
    assert!(b.build_shards(VERSION_2, 1).unwrap().is_empty());
}

#[test]
fn merged_precedence_and_iteration() {
    let a = build_index(&[entry("0011", "pA", 5), entry("0022", "pA", 5)], VERSION_2).unwrap();
    let b = build_index(
        &[
            entry("0011", "pB", 5).to_deleted(5),
            entry("0022", "pB", 6).to_deleted(6),
            entry("0033", "pB", 1),
        ],
        VERSION_2,
    )
    .unwrap();
    let m = MergedIndex::new(
        vec![Index::open(a, 0).unwrap(), Index::open(b, 0).unwrap()],
        Some(5),
    );
    // Same timestamp: not-deleted wins.
    assert_eq!(&*m.get(&id("0011")).unwrap().unwrap().pack_blob_id, "pA");
    // Newer deletion (after watermark) wins and is returned.
    assert!(m.get(&id("0022")).unwrap().unwrap().deleted);
    let all: Vec<_> = m
        .iter()
        .map(|e| (e.content_id.to_string(), e.deleted))
        .collect();
    assert_eq!(
        all,
        [
            ("0011".to_string(), false),
            ("0022".to_string(), true),
            ("0033".to_string(), false)
        ]
    );
    let m6 = MergedIndex::new(m.indexes().to_vec(), Some(6));
    assert_eq!(m6.get(&id("0022")).unwrap(), None);
    assert_eq!(m6.iter().count(), 2);
    assert_eq!(m6.approximate_len(), 5);
}

#[test]
fn dangling_format_and_pack_references_decode_as_invalid() {
    let e = sample();
    let mut b = build_index(&e, VERSION_2).unwrap();
    // Entry 0: pack index := 0x7777, format index := 0x77.
    b[17 + 17 + 14] = 0x77;
    b[17 + 17 + 15] = 0x77;
    b[17 + 17 + 16] = 0x77;
    let got = Index::open(&b[..], 0).unwrap().iter().next().unwrap();
    assert_eq!(&*got.pack_blob_id, INVALID_PACK_BLOB_ID);
    assert_eq!(got.format_version, 0xFF);
    assert_eq!(got.compression_header_id, 0xFFFF);
    assert_eq!(got.encryption_key_id, 0xFF);
}

#[test]
fn base_timestamp_is_added() {
    let mut b = build_index(&sample(), VERSION_2).unwrap();
    b[13..17].copy_from_slice(&1000u32.to_be_bytes());
    let got = Index::open(b, 0).unwrap().iter().next().unwrap();
    assert_eq!(got.timestamp_seconds, 1010);
}

fn assert_err(bytes: &[u8], what: &str) {
    assert!(Index::open(bytes, 28).is_err(), "{what} must be rejected");
}

#[test]
fn malformed_headers_are_errors() {
    let good = build_index(&sample(), VERSION_2).unwrap();
    assert_err(&[], "empty");
    assert_err(&[0], "version 0");
    assert_err(&[3, 17, 0, 16], "version 3");
    let mut b = good.clone();
    b[1] = 1;
    assert_err(&b, "key size 1");
    let mut b = good.clone();
    b[1] = 40;
    assert_err(&b, "key size 40 with entries");
    for es in [15u16, 20, 0xFFFF] {
        let mut b = good.clone();
        b[2..4].copy_from_slice(&es.to_be_bytes());
        assert_err(&b, "entry size");
    }
    let mut b = good.clone();
    b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_err(&b, "huge count");
    let mut b = good.clone();
    b[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_err(&b, "huge pack count");
    let mut b = good.clone();
    b[12] = 255;
    assert_err(&b, "huge format count");
    // Pack name offset outside the buffer.
    let packs = 17 + 5 * 34;
    let mut b = good.clone();
    b[packs + 1..packs + 5].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_err(&b, "pack name offset");
    // Non-UTF-8 pack name.
    let mut b = good.clone();
    let n = b.len();
    b[n - 1] = 0xFF;
    assert_err(&b, "non-UTF-8 name");
    // Key with a prefix byte that is not g..z.
    let mut b = good.clone();
    b[17] = b'A';
    assert!(matches!(
        Index::open(&b[..], 0),
        Err(IndexError::BadKey { position: 0, .. })
    ));

    let mut v1 = sample();
    for e in &mut v1 {
        e.compression_header_id = 0;
    }
    let good1 = build_index(&v1, VERSION_1).unwrap();
    let mut b = good1.clone();
    b[2..4].copy_from_slice(&21u16.to_be_bytes());
    assert_err(&b, "v1 entry size 21");
    let mut b = good1.clone();
    b[1] = 0;
    assert_err(&b, "v1 key size 0");
    let mut b = good1.clone();
    b[4..8].copy_from_slice(&1000u32.to_be_bytes());
    assert_err(&b, "v1 count too big");
    let mut b = good1.clone();
    // Entry 0 name offset far away.
    b[8 + 17 + 8..8 + 17 + 12].copy_from_slice(&0xFFFF_FF00u32.to_be_bytes());
    assert_err(&b, "v1 name offset");
}

#[test]
fn every_truncation_is_an_error() {
    let mut v1 = sample();
    for e in &mut v1 {
        e.compression_header_id = 0;
    }
    for bytes in [
        build_index(&sample(), VERSION_2).unwrap(),
        build_index(&v1, VERSION_1).unwrap(),
    ] {
        for n in 0..bytes.len() {
            assert!(
                Index::open(&bytes[..n], 28).is_err(),
                "v{} truncated to {n} of {} bytes was accepted",
                bytes[0],
                bytes.len()
            );
        }
    }
}

/// Deterministic xorshift for the mutation test.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn random_mutations_never_panic() {
    let mut v1 = sample();
    for e in &mut v1 {
        e.compression_header_id = 0;
    }
    let seeds = [
        build_index(&sample(), VERSION_2).unwrap(),
        build_index(&v1, VERSION_1).unwrap(),
    ];
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for seed in &seeds {
        for _ in 0..20_000 {
            let mut b = seed.clone();
            let flips = 1 + xorshift(&mut rng) % 4;
            for _ in 0..flips {
                let pos = (xorshift(&mut rng) % b.len() as u64) as usize;
                b[pos] = xorshift(&mut rng) as u8;
            }
            if xorshift(&mut rng) % 4 == 0 {
                let cut = (xorshift(&mut rng) % b.len() as u64) as usize;
                b.truncate(cut);
            }
            if let Ok(ndx) = Index::open(&b[..], 28) {
                for e in ndx.iter() {
                    let _ = ndx.get(&e.content_id);
                }
                let _ = ndx.iter_prefix(Some(b'k')).count();
            }
        }
    }
}
