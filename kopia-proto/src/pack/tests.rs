//! Unit tests of pack building and reading with a toy cipher (real AES-GCM is exercised
//! by the `pack_vectors` integration test).

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::ids::ContentId;
use crate::index::{Index, IndexEntry};

/// Toy AEAD: XOR with the IV's first byte, followed by a 28-byte "tag" repeating the
/// IV's first and last bytes and the length. Not secure; only shape and binding matter.
struct ToyCipher;

impl ContentCipher for ToyCipher {
    fn encrypt_into(&self, p: &[u8], iv: &[u8], out: &mut Vec<u8>) -> Result<(), CipherError> {
        let k = *iv.first().ok_or_else(|| CipherError("empty IV".into()))?;
        out.extend(p.iter().map(|b| b ^ k));
        let mut tag = [k; 28];
        tag[27] = *iv.last().unwrap_or(&0);
        tag[..4].copy_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(&tag);
        Ok(())
    }

    fn decrypt(&self, c: &[u8], iv: &[u8]) -> Result<Vec<u8>, CipherError> {
        let k = *iv.first().ok_or_else(|| CipherError("empty IV".into()))?;
        let n = c
            .len()
            .checked_sub(28)
            .ok_or_else(|| CipherError("too short".into()))?;
        let (body, tag) = c.split_at(n);
        let ok = tag[..4] == (n as u32).to_be_bytes()[..]
            && tag[4..27].iter().all(|&b| b == k)
            && tag[27] == *iv.last().unwrap_or(&0);
        if !ok {
            return Err(CipherError("invalid checksum".into()));
        }
        Ok(body.iter().map(|b| b ^ k).collect())
    }
}

fn toy_hash(data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 16];
    for (i, b) in data.iter().enumerate() {
        h[i % 16] = h[i % 16].wrapping_mul(31).wrapping_add(*b);
    }
    h.to_vec()
}

fn cid(s: &str) -> ContentId {
    s.parse().unwrap()
}

const PACK: &str = "p0123456789abcdef0123456789abcdef-s12889c210644806f130";

fn build_sample(rng: &mut StdRng) -> (FinishedPack, Vec<(ContentId, Vec<u8>)>) {
    let mut b = PackBuilder::new(PACK, &[], rng);
    assert_eq!(b.len(), PACK_PREAMBLE_LENGTH);
    let contents = vec![
        (cid("11111111111111111111111111111111"), b"hello".to_vec()),
        (cid("22222222222222222222222222222222"), vec![7u8; 5000]),
        (cid("33333333333333333333333333333333"), Vec::new()),
    ];
    let mut offset = PACK_PREAMBLE_LENGTH as u32;
    for (id, data) in &contents {
        let e = b
            .add_content(
                &ToyCipher,
                *id,
                data,
                0,
                data.len() as u32,
                1_735_689_600,
                3,
            )
            .unwrap();
        assert_eq!(e.pack_offset, offset);
        assert_eq!(e.packed_length, data.len() as u32 + 28);
        assert_eq!(
            b.pending_content(&e).map(<[u8]>::len),
            Some(data.len() + 28)
        );
        offset += e.packed_length;
    }
    // A deletion marker of a content living in another pack.
    let other = IndexEntry {
        content_id: cid("44444444444444444444444444444444"),
        pack_blob_id: "pffffffffffffffffffffffffffffffff-s1".into(),
        pack_offset: 99,
        packed_length: 40,
        original_length: 12,
        timestamp_seconds: 5,
        deleted: false,
        format_version: 3,
        compression_header_id: 0,
        encryption_key_id: 0,
    };
    assert!(b.add_deletion_marker(other.clone()).is_err());
    b.add_deletion_marker(other.to_deleted(1_735_689_601))
        .unwrap();
    assert!(
        b.pending_content(b.entry(&other.content_id).unwrap())
            .is_none()
    );
    assert!(b.is_full(100) && !b.is_full(1 << 20));
    (b.finish(&ToyCipher, &toy_hash, 2, rng).unwrap(), contents)
}

#[test]
fn built_pack_reads_back_and_recovers_its_index() {
    let mut rng = StdRng::seed_from_u64(7);
    let (fin, contents) = build_sample(&mut rng);
    let bytes = fin.bytes.as_deref().unwrap();
    assert_eq!(fin.entries.len(), 4);
    assert!(
        fin.entries
            .windows(2)
            .all(|w| w[0].content_id < w[1].content_id)
    );

    for (id, data) in &contents {
        let e = fin.entries.iter().find(|e| e.content_id == *id).unwrap();
        let stored = content_slice(bytes, e).unwrap();
        assert_eq!(&decrypt_content(&ToyCipher, e, stored).unwrap(), data);
    }

    let p = find_postamble(bytes).unwrap();
    assert_eq!(p.local_index_offset as usize % PACK_PADDING_UNIT, 0);
    let contents_end = PACK_PREAMBLE_LENGTH + 5 + 5000 + 3 * 28;
    assert_eq!(
        p.local_index_offset as usize,
        contents_end.next_multiple_of(4096)
    );
    let local = recover_local_index(&ToyCipher, bytes, 0).unwrap();
    assert_eq!(p.local_index_iv, toy_hash(&local));
    let ndx = Index::open(&local[..], 28).unwrap();
    assert_eq!(ndx.iter().collect::<Vec<_>>(), fin.entries);

    // From the tail only, as kopia reads the last 8192 bytes.
    let off = bytes.len().saturating_sub(LOCAL_INDEX_TAIL_SIZE as usize);
    assert_eq!(
        recover_local_index(&ToyCipher, &bytes[off..], off as u64).unwrap(),
        local
    );
    // A tail that starts after the local index is an error, not a panic.
    let late = p.local_index_offset as usize + 1;
    assert!(matches!(
        recover_local_index(&ToyCipher, &bytes[late..], late as u64),
        Err(PackError::LocalIndexOutOfRange { .. })
    ));
}

#[test]
fn padding_is_a_full_unit_when_already_aligned() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut b = PackBuilder::with_preamble(PACK, &[], &[0u8; 32]);
    // 32 + (4036 + 28) = 4096 exactly.
    b.add_content(&ToyCipher, cid("1111"), &[1u8; 4036], 0, 4036, 1, 3)
        .unwrap();
    assert_eq!(b.len(), 4096);
    let fin = b.finish(&ToyCipher, &toy_hash, 2, &mut rng).unwrap();
    let p = find_postamble(fin.bytes.as_deref().unwrap()).unwrap();
    assert_eq!(p.local_index_offset, 8192);
}

#[test]
fn format_bytes_precede_the_preamble() {
    let b = PackBuilder::with_preamble(PACK, b"FMT", &[9u8; 32]);
    assert_eq!(b.len(), 35);
    let mut b = b;
    let e = b
        .add_content(&ToyCipher, cid("1111"), b"x", 0, 1, 1, 1)
        .unwrap();
    assert_eq!(e.pack_offset, 35);
}

#[test]
fn pack_of_only_foreign_deletion_markers_is_not_written() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut b = PackBuilder::new(PACK, &[], &mut rng);
    let e = IndexEntry {
        content_id: cid("5555"),
        pack_blob_id: "pother".into(),
        pack_offset: 1,
        packed_length: 29,
        original_length: 1,
        timestamp_seconds: 9,
        deleted: true,
        format_version: 3,
        compression_header_id: 0,
        encryption_key_id: 0,
    };
    b.add_deletion_marker(e.clone()).unwrap();
    let fin = b.finish(&ToyCipher, &toy_hash, 2, &mut rng).unwrap();
    assert!(fin.bytes.is_none());
    assert_eq!(fin.entries, vec![e]);
    let empty = PackBuilder::new(PACK, &[], &mut rng)
        .finish(&ToyCipher, &toy_hash, 2, &mut rng)
        .unwrap();
    assert!(empty.bytes.is_none() && empty.entries.is_empty());
}

#[test]
fn re_adding_a_content_replaces_its_entry() {
    let mut b = PackBuilder::with_preamble(PACK, &[], &[0u8; 32]);
    b.add_content(&ToyCipher, cid("1111"), b"a", 0, 1, 1, 3)
        .unwrap();
    let second = b
        .add_content(&ToyCipher, cid("1111"), b"bb", 0, 2, 2, 3)
        .unwrap();
    assert_eq!(b.entry(&cid("1111")), Some(&second));
    assert_eq!(b.entries().count(), 1);
}

#[test]
fn read_errors() {
    let mut rng = StdRng::seed_from_u64(9);
    let (fin, _) = build_sample(&mut rng);
    let bytes = fin.bytes.as_deref().unwrap();
    let mut e = fin.entries[0].clone();
    e.pack_offset = bytes.len() as u32 - 3;
    assert!(matches!(
        content_slice(bytes, &e),
        Err(PackError::OutOfBounds { .. })
    ));
    let e = fin.entries[0].clone();
    let stored = content_slice(bytes, &e).unwrap();
    assert!(matches!(
        decrypt_content(&ToyCipher, &e, &stored[1..]),
        Err(PackError::LengthMismatch { .. })
    ));
    let mut tampered = stored.to_vec();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(matches!(
        decrypt_content(&ToyCipher, &e, &tampered),
        Err(PackError::Cipher { .. })
    ));
    let mut k = e.clone();
    k.encryption_key_id = 1;
    assert!(matches!(
        decrypt_content(&ToyCipher, &k, stored),
        Err(PackError::UnsupportedKeyId { key_id: 1, .. })
    ));
    assert!(recover_local_index(&ToyCipher, &bytes[..bytes.len() - 1], 0).is_err());
    assert!(recover_local_index(&ToyCipher, &[], 0).is_err());
}

#[test]
fn cipher_failure_leaves_the_pack_unchanged() {
    struct Failing;
    impl ContentCipher for Failing {
        fn encrypt_into(&self, _: &[u8], _: &[u8], out: &mut Vec<u8>) -> Result<(), CipherError> {
            out.push(1);
            Err(CipherError("boom".into()))
        }
        fn decrypt(&self, _: &[u8], _: &[u8]) -> Result<Vec<u8>, CipherError> {
            Err(CipherError("boom".into()))
        }
    }
    let mut b = PackBuilder::with_preamble(PACK, &[], &[0u8; 32]);
    assert!(
        b.add_content(&Failing, cid("1111"), b"a", 0, 1, 1, 3)
            .is_err()
    );
    assert_eq!(b.len(), 32);
    assert!(b.is_empty());
}
