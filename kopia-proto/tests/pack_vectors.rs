//! Packs and indexes of the mini repository vector (`repo-mini.json`, spec §6–7).
//!
//! Decryption uses the test-only crypto helpers of `common` (see there why).

mod common;

use std::collections::VecDeque;
use std::io::Read;

use common::{TestAesGcm, blake2b_256_128, blob_iv, entry_from_json, load};
use kopia_proto::index::{Index, IndexEntry};
use kopia_proto::pack::{
    ContentCipher, PackBuilder, SessionInfo, content_slice, decrypt_content, find_postamble,
    parse_pack_id, recover_local_index,
};
use serde_json::Value;

/// RNG that replays fixed bytes (padding, then the local index suffix).
struct Replay(VecDeque<u8>);

impl rand::RngCore for Replay {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for d in dst {
            *d = self.0.pop_front().expect("replay exhausted");
        }
    }
}

struct Mini {
    doc: Value,
    cipher: TestAesGcm,
    secret: Vec<u8>,
    entries: Vec<IndexEntry>,
}

impl Mini {
    fn load() -> Self {
        let doc = load("repo-mini.json");
        let fixed = &doc["fixedInputs"];
        let cipher =
            TestAesGcm::new(&hex::decode(fixed["masterKeyHex"].as_str().unwrap()).unwrap());
        let secret = hex::decode(fixed["hmacSecretHex"].as_str().unwrap()).unwrap();
        let entries = doc["expected"]["indexEntries"]
            .as_array()
            .unwrap()
            .iter()
            .map(entry_from_json)
            .collect();
        Mini {
            doc,
            cipher,
            secret,
            entries,
        }
    }

    fn blob(&self, id: &str) -> Vec<u8> {
        use base64::Engine;
        let b = self.doc["blobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == id)
            .unwrap_or_else(|| panic!("blob {id}"));
        base64::engine::general_purpose::STANDARD
            .decode(b["base64"].as_str().unwrap())
            .unwrap()
    }
}

/// Undoes content compression for the vector's header IDs (0x1000 gzip, 0x1100 zstd).
fn decompress(entry: &IndexEntry, stored_plain: &[u8]) -> Vec<u8> {
    if entry.compression_header_id == 0 {
        return stored_plain.to_vec();
    }
    let (hdr, stream) = stored_plain.split_at(4);
    assert_eq!(
        u32::from_be_bytes(hdr.try_into().unwrap()),
        entry.compression_header_id
    );
    let mut out = Vec::new();
    match entry.compression_header_id {
        0x1000 => {
            flate2::read::GzDecoder::new(stream)
                .read_to_end(&mut out)
                .unwrap();
        }
        0x1100 => out = zstd::decode_all(stream).unwrap(),
        other => panic!("unexpected compression {other:#x}"),
    }
    out
}

#[test]
fn index_blob_decrypts_to_the_expected_index() {
    let m = Mini::load();
    let id = m.doc["expected"]["indexBlob"].as_str().unwrap();
    let plain = m.cipher.decrypt(&m.blob(id), &blob_iv(id)).unwrap();
    assert_eq!(
        hex::encode(&plain),
        m.doc["expected"]["indexPlaintextHex"].as_str().unwrap()
    );
    // The blob name carries the hash of the plaintext (spec §7.4).
    assert_eq!(hex::encode(blake2b_256_128(&m.secret, &plain)), &id[4..36]);
    let ndx = Index::open(plain, 28).unwrap();
    assert_eq!(ndx.iter().collect::<Vec<_>>(), m.entries);
}

#[test]
fn every_content_reads_back() {
    let m = Mini::load();
    let contents = &m.doc["expected"]["contents"];
    for e in &m.entries {
        let pack = m.blob(&e.pack_blob_id);
        let stored = content_slice(&pack, e).unwrap();
        let plain = decompress(e, &decrypt_content(&m.cipher, e, stored).unwrap());
        assert_eq!(plain.len() as u32, e.original_length, "{}", e.content_id);
        assert_eq!(
            blake2b_256_128(&m.secret, &plain),
            e.content_id.hash(),
            "content hash of {}",
            e.content_id
        );
        let exp = &contents[e.content_id.to_string()];
        if let Some(h) = exp["plaintextHex"].as_str() {
            assert_eq!(hex::encode(&plain), h);
        } else {
            let mut json = String::new();
            flate2::read::GzDecoder::new(&plain[..])
                .read_to_string(&mut json)
                .unwrap();
            assert_eq!(json, exp["gunzippedJSON"].as_str().unwrap());
        }
    }
}

#[test]
fn packs_have_kopia_layout_and_local_indexes() {
    let m = Mini::load();
    for pack_id in [
        "p9620360462ea7f08da6e996cf0fcb6c7-s12889c210644806f130",
        "qc236abfd996d9ab04014b2c33ccab50a-s12889c210644806f130",
    ] {
        let parts = parse_pack_id(pack_id).unwrap();
        assert_eq!(parts.session_id, Some("s12889c210644806f130"));
        let pack = m.blob(pack_id);
        let own: Vec<IndexEntry> = m
            .entries
            .iter()
            .filter(|e| &*e.pack_blob_id == pack_id)
            .cloned()
            .collect();
        let contents_end = own
            .iter()
            .map(|e| e.pack_offset + e.packed_length)
            .max()
            .unwrap();
        assert_eq!(own.iter().map(|e| e.pack_offset).min(), Some(32));

        let p = find_postamble(&pack).unwrap();
        assert_eq!(p.local_index_offset, contents_end.next_multiple_of(4096));
        let local = recover_local_index(&m.cipher, &pack, 0).unwrap();
        assert_eq!(p.local_index_iv, blake2b_256_128(&m.secret, &local));
        let ndx = Index::open(&local[..], 28).unwrap();
        assert_eq!(ndx.iter().collect::<Vec<_>>(), own);

        // Rebuild byte for byte: same preamble, nonces, padding and index suffix.
        let mut nonces = VecDeque::new();
        let mut payloads = Vec::new();
        let mut by_offset = own.clone();
        by_offset.sort_by_key(|e| e.pack_offset);
        for e in &by_offset {
            let stored = content_slice(&pack, e).unwrap();
            nonces.push_back(<[u8; 12]>::try_from(&stored[..12]).unwrap());
            payloads.push(decrypt_content(&m.cipher, e, stored).unwrap());
        }
        let lo = p.local_index_offset as usize;
        nonces.push_back(<[u8; 12]>::try_from(&pack[lo..lo + 12]).unwrap());
        *m.cipher.nonces.borrow_mut() = nonces;
        let mut replay = Replay(
            pack[contents_end as usize..lo]
                .iter()
                .chain(&local[local.len() - 32..])
                .copied()
                .collect(),
        );
        let mut b = PackBuilder::with_preamble(pack_id, &[], &pack[..32]);
        for (e, payload) in by_offset.iter().zip(&payloads) {
            let got = b
                .add_content(
                    &m.cipher,
                    e.content_id,
                    payload,
                    e.compression_header_id,
                    e.original_length,
                    e.timestamp_seconds,
                    e.format_version,
                )
                .unwrap();
            assert_eq!(&got, e);
        }
        let hash = |d: &[u8]| blake2b_256_128(&m.secret, d);
        let fin = b.finish(&m.cipher, &hash, 2, &mut replay).unwrap();
        assert_eq!(fin.entries, own);
        assert!(fin.bytes.unwrap() == pack, "rebuilt {pack_id} differs");
    }
}

#[test]
fn session_marker_example() {
    let m = Mini::load();
    let ex = &m.doc["sessionMarkerExample"];
    let id = ex["id"].as_str().unwrap();
    use base64::Engine;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(ex["base64"].as_str().unwrap())
        .unwrap();
    let plain = m.cipher.decrypt(&blob, &blob_iv(id)).unwrap();
    assert_eq!(plain, ex["plaintext"].as_str().unwrap().as_bytes());
    let info: SessionInfo = serde_json::from_slice(&plain).unwrap();
    assert_eq!(info.id, "s12889c210644806f130");
    assert_eq!(id.split_once('-').unwrap().1, info.id);
    assert_eq!(serde_json::to_vec(&info).unwrap(), plain);
}

#[test]
fn session_id_vector() {
    let doc = load("repo-naming.json");
    let v = &doc["sessionID"];
    let r: [u8; 8] = hex::decode(v["random8Hex"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        kopia_proto::pack::session_id(&r, v["unixTime"].as_i64().unwrap()),
        v["sessionID"].as_str().unwrap()
    );
}
