//! Test-only crypto and vector helpers shared by the pack/index integration tests.
//!
//! Content encryption (spec §5.4), blob IVs (§5.5), the default content hash (§5.1) and
//! the format-blob decryption (§3.2–3.3) belong to the `encryption`/`hashing`/
//! `format_blob` modules. These helpers rebuild just enough of them from the `aes-gcm`,
//! `hkdf`, `hmac`, `sha2`, `blake2` and `scrypt` crates so that the pack and index
//! tests do not depend on those modules.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use blake2::Blake2bMac;
use blake2::digest::Mac;
use blake2::digest::consts::U32;
use hmac::Hmac;
use kopia_proto::index::IndexEntry;
use kopia_proto::pack::{CipherError, ContentCipher};
use serde_json::Value;
use sha2::Sha256;

/// Loads a JSON vector from `tests/vectors`.
pub fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read vector")).expect("json")
}

/// The string at `key` of a vector object (panics naming the key).
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {key}"))
}

/// The hex-decoded string at `key` of a vector object.
pub fn h(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(s(v, key)).unwrap()
}

/// Standard base64 decoding.
pub fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// `HKDF-SHA256(ikm, salt, info)` with 32 bytes of output.
pub fn hkdf32(ikm: &[u8], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

/// Test-only `AES256-GCM-HMAC-SHA256` content cipher (spec §5.4). Encryption takes nonces
/// from a queue (for byte-exact rebuilds) or fails when the queue is empty.
pub struct TestAesGcm {
    k_enc: [u8; 32],
    pub nonces: RefCell<VecDeque<[u8; 12]>>,
}

impl TestAesGcm {
    pub fn new(master_key: &[u8]) -> Self {
        TestAesGcm {
            k_enc: hkdf32(master_key, b"encryption", b""),
            nonces: RefCell::new(VecDeque::new()),
        }
    }

    fn aead(&self, iv: &[u8]) -> Aes256Gcm {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.k_enc).unwrap();
        m.update(iv);
        Aes256Gcm::new_from_slice(&m.finalize().into_bytes()).unwrap()
    }
}

impl ContentCipher for TestAesGcm {
    fn encrypt_into(&self, p: &[u8], iv: &[u8], out: &mut Vec<u8>) -> Result<(), CipherError> {
        let nonce = self
            .nonces
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| CipherError("no nonce queued".into()))?;
        let ct = self
            .aead(iv)
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: p, aad: iv })
            .map_err(|_| CipherError("encrypt".into()))?;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(())
    }

    fn decrypt(&self, c: &[u8], iv: &[u8]) -> Result<Vec<u8>, CipherError> {
        if c.len() < 28 {
            return Err(CipherError("too short".into()));
        }
        let (nonce, ct) = c.split_at(12);
        self.aead(iv)
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: iv })
            .map_err(|_| CipherError("invalid checksum".into()))
    }
}

/// Test-only `BLAKE2B-256-128` keyed hash (spec §5.1).
pub fn blake2b_256_128(secret: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Blake2bMac<U32> as Mac>::new_from_slice(secret).unwrap();
    m.update(data);
    m.finalize().into_bytes()[..16].to_vec()
}

/// IV of a blob-crypto blob (spec §5.5): last 32 hex chars before the first `-`.
pub fn blob_iv(id: &str) -> Vec<u8> {
    let head = id.split('-').next().unwrap();
    hex::decode(&head[head.len() - 32..]).unwrap()
}

/// Decrypts the inner configuration of a `kopia.repository` blob (spec §3.1–3.4,
/// scrypt key derivation only) and returns its `format` object.
pub fn decrypt_format_blob(outer_json: &[u8], password: &str) -> Value {
    let outer: Value = serde_json::from_slice(outer_json).unwrap();
    assert_eq!(outer["keyAlgo"], "scrypt-65536-8-1");
    let unique_id = b64(outer["uniqueID"].as_str().unwrap());
    let mut format_key = [0u8; 32];
    let params = scrypt::Params::new(16, 8, 1, 32).unwrap();
    scrypt::scrypt(password.as_bytes(), &unique_id, &params, &mut format_key).unwrap();
    let aes_key = hkdf32(&format_key, &unique_id, b"AES");
    let aad = hkdf32(&format_key, &unique_id, b"CHECKSUM");
    let enc = b64(outer["encryptedBlockFormat"].as_str().unwrap());
    let (nonce, ct) = enc.split_at(12);
    let plain = Aes256Gcm::new_from_slice(&aes_key)
        .unwrap()
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
        .expect("format blob decrypts with the password");
    let inner: Value = serde_json::from_slice(&plain).unwrap();
    inner["format"].clone()
}

/// An index entry from the JSON form used by the vectors.
pub fn entry_from_json(v: &Value) -> IndexEntry {
    IndexEntry {
        content_id: v["contentID"].as_str().unwrap().parse().unwrap(),
        pack_blob_id: v["packBlobID"].as_str().unwrap().into(),
        pack_offset: v["packOffset"].as_u64().unwrap() as u32,
        packed_length: v["packedLength"].as_u64().unwrap() as u32,
        original_length: v["originalLength"].as_u64().unwrap() as u32,
        timestamp_seconds: v["timestampSeconds"].as_i64().unwrap(),
        deleted: v["deleted"].as_bool().unwrap(),
        format_version: v["formatVersion"].as_u64().unwrap() as u8,
        compression_header_id: v["compressionHeaderID"].as_u64().unwrap() as u32,
        encryption_key_id: v["encryptionKeyID"].as_u64().unwrap() as u8,
    }
}

/// An index entry from `kopia content list --json` output (Go `index.Info` JSON with
/// its `omitempty` fields).
pub fn entry_from_kopia_json(v: &Value) -> IndexEntry {
    IndexEntry {
        content_id: v["contentID"].as_str().unwrap().parse().unwrap(),
        pack_blob_id: v["packFile"].as_str().unwrap_or("").into(),
        pack_offset: v["packOffset"].as_u64().unwrap_or(0) as u32,
        packed_length: v["length"].as_u64().unwrap() as u32,
        original_length: v["originalLength"].as_u64().unwrap() as u32,
        timestamp_seconds: v["time"].as_i64().unwrap(),
        deleted: v["deleted"].as_bool().unwrap(),
        format_version: v["formatVersion"].as_u64().unwrap() as u8,
        compression_header_id: v["compression"].as_u64().unwrap_or(0) as u32,
        encryption_key_id: v["encryptionKeyID"].as_u64().unwrap_or(0) as u8,
    }
}
