//! Every encryption/HKDF vector of `repo-crypto.json`, plus the encrypted blobs
//! of `repo-mini.json` (index blob, session marker).

use kopia_proto::encryption::{
    Encryptor, aes256_gcm_open, aes256_gcm_seal_with_nonce, content_key_derivation_secret,
    decrypt_blob, derive_key, encrypt_blob,
};
use serde_json::Value;

mod common;
use common::{h, load, s};

#[test]
fn content_encryption_kopia_kats() {
    let v = load("repo-crypto.json");
    let kat = &v["contentEncryption"]["kopiaTestKATs"];
    let master = s(kat, "masterKey").as_bytes();
    let cases = kat["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let iv = s(case, "ivAscii").as_bytes();
        let pt = s(case, "plaintext").as_bytes();
        for alg in ["AES256-GCM-HMAC-SHA256", "CHACHA20-POLY1305-HMAC-SHA256"] {
            let e = Encryptor::new(alg, master).unwrap();
            let stored = h(case, alg);
            assert_eq!(e.decrypt(&stored, iv).unwrap(), pt, "{alg}");
            let nonce: [u8; 12] = stored[..12].try_into().unwrap();
            assert_eq!(e.encrypt_with_nonce(pt, iv, &nonce), stored, "{alg}");
        }
    }
}

#[test]
fn content_encryption_generated() {
    let v = load("repo-crypto.json");
    let cases = v["contentEncryption"]["generated"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let e = Encryptor::new(s(case, "algorithm"), &h(case, "masterKeyHex")).unwrap();
        let iv = h(case, "ivHex(last 16 bytes of hash)");
        assert_eq!(iv, h(case, "contentIDHex"));
        assert_eq!(
            e.content_key(&iv).to_vec(),
            h(case, "perContentKeyHex(HMAC-SHA256(secret, iv))")
        );
        let nonce: [u8; 12] = h(case, "nonceHex").try_into().unwrap();
        let pt = h(case, "plaintextHex");
        let expected = h(case, "ciphertextHex(nonce||ct||tag)");
        assert_eq!(e.encrypt_with_nonce(&pt, &iv, &nonce), expected);
        assert_eq!(e.decrypt(&expected, &iv).unwrap(), pt);
    }
}

#[test]
fn hkdf_vectors() {
    let v = load("repo-crypto.json");
    let k = &v["hkdf"];

    let kat = &k["kopiaTestKAT"];
    let out = derive_key(
        s(kat, "ikm").as_bytes(),
        s(kat, "salt").as_bytes(),
        s(kat, "info").as_bytes(),
        32,
    )
    .unwrap();
    assert_eq!(out, h(kat, "outHex"));

    let c = &k["contentKeyDerivationSecret"];
    assert_eq!(s(c, "salt"), "encryption");
    assert_eq!(
        content_key_derivation_secret(&h(c, "masterKeyHex")).to_vec(),
        h(c, "outHex")
    );
    let generic = derive_key(&h(c, "masterKeyHex"), b"encryption", b"", 32).unwrap();
    assert_eq!(generic, h(c, "outHex"));

    let m = &k["maintenanceScheduleKey"];
    let out = derive_key(
        &h(m, "masterKeyHex"),
        &h(m, "saltHex(uniqueID)"),
        s(m, "info").as_bytes(),
        32,
    )
    .unwrap();
    assert_eq!(out, h(m, "outHex"));

    let l = &k["localCacheIntegrity"];
    let out = derive_key(
        &h(l, "ikmHex(hmacSecret)"),
        &h(l, "saltHex(uniqueID)"),
        s(l, "info").as_bytes(),
        16,
    )
    .unwrap();
    assert_eq!(out, h(l, "outHex"));
}

#[test]
fn maintenance_schedule_blob() {
    let v = load("repo-crypto.json");
    let m = &v["maintenanceScheduleBlob"];
    let key = derive_key(
        &h(m, "masterKeyHex"),
        &h(m, "uniqueIDHex"),
        b"maintenance schedule",
        32,
    )
    .unwrap();
    assert_eq!(key, h(m, "keyHex"));
    let key: [u8; 32] = key.try_into().unwrap();
    let nonce: [u8; 12] = h(m, "nonceHex").try_into().unwrap();
    let blob = h(m, "blobHex(nonce||ct||tag)");
    let aad = s(m, "aad").as_bytes();
    let pt = s(m, "plaintext").as_bytes();
    assert_eq!(aes256_gcm_seal_with_nonce(&key, &nonce, aad, pt), blob);
    assert_eq!(aes256_gcm_open(&key, aad, &blob).unwrap(), pt);
}

#[test]
fn format_blob_crypto_example() {
    let v = load("repo-crypto.json");
    let f = &v["formatBlobCrypto"];
    let fk = h(f, "formatKeyHex");
    let uid = h(f, "uniqueIDHex");
    let aes_key = derive_key(&fk, &uid, b"AES", 32).unwrap();
    assert_eq!(aes_key, h(f, "aesKeyHex(HKDF info=AES)"));
    let aad = derive_key(&fk, &uid, b"CHECKSUM", 32).unwrap();
    assert_eq!(aad, h(f, "aadHex(HKDF info=CHECKSUM)"));
    let ex = &f["example"];
    let key: [u8; 32] = aes_key.try_into().unwrap();
    let nonce: [u8; 12] = h(ex, "nonceHex").try_into().unwrap();
    let expected = h(ex, "ciphertextHex");
    let pt = s(ex, "plaintext").as_bytes();
    assert_eq!(aes256_gcm_seal_with_nonce(&key, &nonce, &aad, pt), expected);
    assert_eq!(aes256_gcm_open(&key, &aad, &expected).unwrap(), pt);
}

/// BLAKE2B-256-128 keyed with the HMAC secret (test-only stand-in for the hashing module).
fn blake2b_256_128(secret: &[u8], data: &[u8]) -> [u8; 16] {
    use blake2::digest::{Mac, consts::U32};
    let mut m = blake2::Blake2bMac::<U32>::new_from_slice(secret).unwrap();
    m.update(data);
    m.finalize().into_bytes()[..16].try_into().unwrap()
}

fn mini_blob<'a>(mini: &'a Value, id: &str) -> &'a Value {
    mini["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("blob {id} not in repo-mini.json"))
}

#[test]
fn mini_repo_index_blob() {
    use base64::Engine;
    let mini = load("repo-mini.json");
    let fixed = &mini["fixedInputs"];
    let e = Encryptor::new("AES256-GCM-HMAC-SHA256", &h(fixed, "masterKeyHex")).unwrap();
    let secret = h(fixed, "hmacSecretHex");
    let id = s(&mini["expected"], "indexBlob");
    let stored = base64::engine::general_purpose::STANDARD
        .decode(s(mini_blob(&mini, id), "base64"))
        .unwrap();
    let plaintext = decrypt_blob(&e, id, &stored).unwrap();
    assert_eq!(plaintext, h(&mini["expected"], "indexPlaintextHex"));

    // Writing it again must give the same name (the bytes differ by the nonce).
    let sid = s(fixed, "sessionID");
    let (new_id, new_bytes) = encrypt_blob(
        &e,
        |p: &[u8]| blake2b_256_128(&secret, p),
        "xn0_",
        &format!("{sid}-c1"),
        &plaintext,
    )
    .unwrap();
    assert_eq!(new_id, id);
    assert_eq!(new_bytes.len(), stored.len());
    assert_eq!(decrypt_blob(&e, &new_id, &new_bytes).unwrap(), plaintext);
}

#[test]
fn mini_repo_session_marker() {
    use base64::Engine;
    let mini = load("repo-mini.json");
    let fixed = &mini["fixedInputs"];
    let e = Encryptor::new("AES256-GCM-HMAC-SHA256", &h(fixed, "masterKeyHex")).unwrap();
    let m = &mini["sessionMarkerExample"];
    let stored = base64::engine::general_purpose::STANDARD
        .decode(s(m, "base64"))
        .unwrap();
    let pt = decrypt_blob(&e, s(m, "id"), &stored).unwrap();
    assert_eq!(pt, s(m, "plaintext").as_bytes());
    let secret = h(fixed, "hmacSecretHex");
    let (id, _) = encrypt_blob(
        &e,
        |p: &[u8]| blake2b_256_128(&secret, p),
        "s",
        s(fixed, "sessionID"),
        &pt,
    )
    .unwrap();
    assert_eq!(id, s(m, "id"));
}
