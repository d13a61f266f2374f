//! Bodies for JSON documents below the manifest layer: indirect object indexes, the
//! `kopia.repository` format blob and its decrypted repository configuration.

use kopia_proto::encryption::Encryptor;
use kopia_proto::format_blob::{
    BlobStorageConfig, FormatBlob, MAX_CHECKSUMMED_LEN, RepositoryConfig, checksummed_format_bytes,
    recover_format_blob,
};
use kopia_proto::hashing::HashFunction;
use kopia_proto::object::{SeekTable, decode_index, encode_index};
use kopia_proto::splitter::Splitter;

use super::format_key;

/// `object::decode_index` (kopia's indirect object JSON). Decoded entries must encode
/// and decode back to themselves, and offset lookups must stay in bounds.
pub fn indirect_index(data: &[u8]) -> bool {
    let Ok(entries) = decode_index(data) else {
        return false;
    };
    let again = decode_index(&encode_index(&entries)).expect("encoded index decodes");
    assert_eq!(again, entries, "indirect index round trip");
    let table = SeekTable::new(entries).expect("decode_index never returns no entries");
    let total = table.total_length();
    for offset in [0, 1, total / 2, total.saturating_sub(1), total, u64::MAX] {
        if let Some(i) = table.find(offset) {
            let e = &table.entries()[i];
            assert!(
                e.start <= offset && offset < e.end(),
                "find({offset}) -> {e:?}"
            );
        }
    }
    for e in table.entries() {
        if e.length > 0 {
            assert!(table.find(e.start).is_some() || !sorted(table.entries()));
        }
    }
    true
}

fn sorted(entries: &[kopia_proto::object::IndirectEntry]) -> bool {
    entries.windows(2).all(|w| w[0].end() <= w[1].start)
}

/// `FormatBlob::parse`, then decryption of the inner configuration with a fixed format
/// key (the password KDF is far too slow to fuzz), `kopia.blobcfg` decryption, and the
/// checksummed recovery form. Parsed blobs must re-serialize to an equal blob.
pub fn format_blob(data: &[u8]) -> bool {
    let recovered = recover_format_blob(data);
    if let Some(found) = recovered {
        assert!(found.len() <= data.len());
    }
    if data.len() + 32 <= MAX_CHECKSUMMED_LEN {
        let wrapped = checksummed_format_bytes(data).expect("small blobs can be checksummed");
        assert_eq!(
            recover_format_blob(&wrapped),
            Some(data),
            "checksummed round trip"
        );
    }
    // A checksummed (recovery) form stands for the blob it wraps.
    let parsed = FormatBlob::parse(data).or_else(|e| {
        recovered
            .filter(|r| r.len() < data.len())
            .map_or(Err(e), FormatBlob::parse)
    });
    let Ok(blob) = parsed else {
        return false;
    };
    let again = FormatBlob::parse(&blob.to_bytes()).expect("serialized format blob parses");
    assert_eq!(again, blob, "format blob round trip");
    let _ = blob.key_derivation();
    let key = format_key();
    if let Ok(cfg) = blob.decrypt_config_with_key(&key) {
        check_config(&cfg);
        let _ = cfg.derive_purpose_key(&key, &blob.unique_id, "maintenance schedule", 32);
        let _ = cfg.local_cache_integrity_key(&key, &blob.unique_id);
    }
    // The blob bytes double as a stored `kopia.blobcfg` (encrypted or `NONE`).
    if let Ok(bc) = BlobStorageConfig::decrypt(data, &blob, &key) {
        let _ = (bc.validate(), bc.is_retention_enabled());
    }
    true
}

/// `RepositoryConfig::from_json` (the decrypted `{"format":{…}}`), the checks run when
/// opening a repository, and construction of the hash, encryption and splitter it names.
pub fn repository_config(data: &[u8]) -> bool {
    let Ok(cfg) = RepositoryConfig::from_json(data) else {
        return false;
    };
    check_config(&cfg);
    true
}

fn check_config(cfg: &RepositoryConfig) {
    let again = RepositoryConfig::from_json(&cfg.to_json()).expect("serialized config parses");
    assert_eq!(again, *cfg, "repository config round trip");
    let _ = (cfg.check_supported(), cfg.validate_parameters());
    let _ = (
        cfg.effective_index_version(),
        cfg.effective_max_pack_size(),
        cfg.ecc_enabled(),
    );
    let _ = cfg.epoch_parameters.validate();
    if let Some(lock) = &cfg.upgrade_lock {
        let _ = lock.locked_from_offset_ns();
    }
    if let Ok(h) = HashFunction::new(&cfg.hash, &cfg.hmac_secret) {
        let _ = h.content_id(Some(b'k'), b"fuzz");
    }
    if let Ok(enc) = Encryptor::new(&cfg.encryption, &cfg.master_key) {
        let sealed = enc.encrypt(b"fuzz", &[0u8; 16]);
        assert_eq!(
            enc.decrypt(&sealed, &[0u8; 16]).ok().as_deref(),
            Some(&b"fuzz"[..])
        );
    }
    let _ = Splitter::new(&cfg.splitter);
}
