//! Password KDF, format-blob crypto and checksummed-format-bytes vectors of
//! `repo-crypto.json`, and the format blob of `repo-mini.json`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kopia_proto::format_blob::{
    BlobStorageConfig, FormatBlob, FormatError, FormatKey, KeyDerivation, RepositoryConfig,
    checksummed_format_bytes, recover_format_blob,
};
use serde_json::Value;

mod common;
use common::{h, load, s};

#[test]
fn password_kdf_vectors() {
    let v = load("repo-crypto.json");
    let cases = v["passwordKdf"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for c in cases {
        let kdf = KeyDerivation::from_name(s(c, "algorithm")).unwrap();
        assert_eq!(c["keyLength"], 32);
        let key = kdf.derive(s(c, "password"), &h(c, "saltHex")).unwrap();
        assert_eq!(
            key.as_bytes().to_vec(),
            h(c, "keyHex"),
            "{}",
            s(c, "algorithm")
        );
    }
}

#[test]
fn blobcfg_example_vector() {
    let v = load("repo-crypto.json");
    let f = &v["formatBlobCrypto"];
    let key = FormatKey::from_bytes(h(f, "formatKeyHex").try_into().unwrap());
    let blob = FormatBlob {
        tool: String::new(),
        build_version: String::new(),
        build_info: String::new(),
        unique_id: h(f, "uniqueIDHex"),
        key_algo: s(f, "keyAlgo").into(),
        encryption: "AES256_GCM".into(),
        encrypted_block_format: Vec::new(),
    };
    let ex = &f["example"];
    let stored = h(ex, "ciphertextHex");
    assert_eq!(
        key.open(&blob.unique_id, &stored).unwrap(),
        s(ex, "plaintext").as_bytes()
    );
    let cfg = BlobStorageConfig::decrypt(&stored, &blob, &key).unwrap();
    assert_eq!(cfg.retention_mode, "COMPLIANCE");
    assert_eq!(cfg.retention_period, 86_400_000_000_000);
    assert!(cfg.is_retention_enabled());
    // Our encoding of the same settings is kopia's plaintext.
    let mut plain_blob = blob.clone();
    plain_blob.encryption = "NONE".into();
    assert_eq!(
        cfg.encrypt(&plain_blob, &key).unwrap(),
        s(ex, "plaintext").as_bytes()
    );
}

#[test]
fn checksummed_format_bytes_vector() {
    let v = load("repo-crypto.json");
    let f = &v["formatBytesForV1Packs"];
    assert_eq!(s(f, "hmacKey"), "kopia-repository");
    let j = s(f, "formatBlobBytes").as_bytes();
    let out = checksummed_format_bytes(j).unwrap();
    assert_eq!(out, h(f, "resultHex"));
    assert_eq!(recover_format_blob(&out), Some(j));
}

fn mini_blob(mini: &Value, id: &str) -> Vec<u8> {
    let b = mini["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("blob {id} missing"));
    STANDARD.decode(s(b, "base64")).unwrap()
}

#[test]
fn mini_repository_format_blob() {
    let mini = load("repo-mini.json");
    let fixed = &mini["fixedInputs"];
    let bytes = mini_blob(&mini, "kopia.repository");
    let blob = FormatBlob::parse(&bytes).unwrap();
    // Serializing back gives kopia's exact bytes (key order, indentation, newline).
    assert_eq!(
        String::from_utf8(blob.to_bytes()).unwrap(),
        String::from_utf8(bytes).unwrap()
    );
    assert_eq!(blob.unique_id, h(fixed, "uniqueIDHex"));

    let key = blob.derive_format_key(s(&mini, "password")).unwrap();
    assert_eq!(
        key.as_bytes().to_vec(),
        h(&mini["expected"], "formatKeyHex")
    );
    let cfg = blob.decrypt_config_with_key(&key).unwrap();
    cfg.check_supported().unwrap();
    assert_eq!(cfg.master_key, h(fixed, "masterKeyHex"));
    assert_eq!(cfg.hmac_secret, h(fixed, "hmacSecretHex"));
    assert_eq!(cfg.version, 3);
    assert_eq!(cfg.index_version, 2);
    // The plaintext the vector's author encrypted is what we would write.
    assert_eq!(
        String::from_utf8(cfg.to_json()).unwrap(),
        s(fixed, "formatConfigPlaintext")
    );
    assert_eq!(
        RepositoryConfig::from_json(s(fixed, "formatConfigPlaintext").as_bytes()).unwrap(),
        cfg
    );

    let blobcfg = mini_blob(&mini, "kopia.blobcfg");
    assert_eq!(blobcfg.len(), 30);
    assert_eq!(
        BlobStorageConfig::decrypt(&blobcfg, &blob, &key).unwrap(),
        BlobStorageConfig::default()
    );

    let wrong = blob.derive_format_key("not the password").unwrap();
    assert_eq!(
        blob.decrypt_config_with_key(&wrong),
        Err(FormatError::InvalidPassword)
    );
}

#[test]
fn purpose_and_cache_keys() {
    let v = load("repo-crypto.json");
    let m = &v["hkdf"]["maintenanceScheduleKey"];
    let l = &v["hkdf"]["localCacheIntegrity"];
    let mut cfg = RepositoryConfig::new_default();
    cfg.master_key = h(m, "masterKeyHex");
    cfg.hmac_secret = h(l, "ikmHex(hmacSecret)");
    let uid = h(m, "saltHex(uniqueID)");
    let fk = FormatKey::from_bytes([9; 32]);
    let k = cfg
        .derive_purpose_key(&fk, &uid, "maintenance schedule", 32)
        .unwrap();
    assert_eq!(k, h(m, "outHex"));
    assert_eq!(
        cfg.local_cache_integrity_key(&fk, &uid).unwrap(),
        h(l, "outHex")
    );
    // Format v1: both come from the format key instead.
    cfg.enable_password_change = false;
    let k1 = cfg
        .derive_purpose_key(&fk, &uid, "maintenance schedule", 32)
        .unwrap();
    assert_eq!(
        k1,
        kopia_proto::encryption::derive_key(&[9; 32], &uid, b"maintenance schedule", 32).unwrap()
    );
    assert_ne!(
        cfg.local_cache_integrity_key(&fk, &uid).unwrap(),
        h(l, "outHex")
    );
    // An empty master key cannot derive anything (kopia: "invalid primary key").
    cfg.enable_password_change = true;
    cfg.master_key.clear();
    assert!(matches!(
        cfg.derive_purpose_key(&fk, &uid, "x", 32),
        Err(FormatError::InvalidConfig(_))
    ));
}
