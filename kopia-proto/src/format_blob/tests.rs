use super::*;

fn test_key() -> FormatKey {
    FormatKey::from_bytes([0x42; 32])
}

fn blob_with(config: &RepositoryConfig) -> FormatBlob {
    let mut b = FormatBlob {
        tool: KOPIA_TOOL.into(),
        build_version: "v0.23.1".into(),
        build_info: String::new(),
        unique_id: vec![7; 32],
        key_algo: "scrypt-65536-8-1".into(),
        encryption: FORMAT_ENCRYPTION_AES256_GCM.into(),
        encrypted_block_format: Vec::new(),
    };
    b.encrypt_config(config, &test_key()).unwrap();
    b
}

#[test]
fn key_derivation_names() {
    for name in KEY_DERIVATION_NAMES {
        assert_eq!(KeyDerivation::from_name(name).unwrap().name(), *name);
    }
    for bad in ["", "testing-only-insecure", "scrypt", "pbkdf2-sha256-1000"] {
        assert_eq!(
            KeyDerivation::from_name(bad),
            Err(FormatError::UnsupportedKeyAlgorithm(bad.into()))
        );
    }
    assert_eq!(KeyDerivation::default(), KeyDerivation::Scrypt65536);
}

#[test]
fn short_salt_is_refused() {
    for kdf in [KeyDerivation::Scrypt65536, KeyDerivation::Pbkdf2Sha256] {
        assert_eq!(
            kdf.derive("pw", &[0; 15]).unwrap_err(),
            FormatError::SaltTooShort { len: 15, min: 16 }
        );
    }
}

#[test]
fn config_round_trip_and_wrong_key() {
    let cfg = RepositoryConfig::new_default();
    let blob = blob_with(&cfg);
    assert_eq!(blob.decrypt_config_with_key(&test_key()).unwrap(), cfg);
    assert_eq!(
        blob.decrypt_config_with_key(&FormatKey::from_bytes([0x43; 32])),
        Err(FormatError::InvalidPassword)
    );
    // Same key, different uniqueID: HKDF salts differ, so authentication fails.
    let mut other = blob.clone();
    other.unique_id = vec![8; 32];
    assert_eq!(
        other.decrypt_config_with_key(&test_key()),
        Err(FormatError::InvalidPassword)
    );
    let reparsed = FormatBlob::parse(&blob.to_bytes()).unwrap();
    assert_eq!(reparsed, blob);
}

#[test]
fn tampered_or_truncated_config_is_rejected() {
    let blob = blob_with(&RepositoryConfig::new_default());
    let mut t = blob.clone();
    let n = t.encrypted_block_format.len();
    t.encrypted_block_format[n / 2] ^= 1;
    assert_eq!(
        t.decrypt_config_with_key(&test_key()),
        Err(FormatError::InvalidPassword)
    );
    let mut t = blob.clone();
    t.encrypted_block_format.truncate(27);
    assert!(matches!(
        t.decrypt_config_with_key(&test_key()),
        Err(FormatError::Corrupt(_))
    ));
    t.encrypted_block_format.clear();
    assert!(matches!(
        t.decrypt_config_with_key(&test_key()),
        Err(FormatError::Corrupt(_))
    ));
    let mut t = blob.clone();
    t.encryption = "NONE".into();
    assert_eq!(
        t.decrypt_config_with_key(&test_key()),
        Err(FormatError::UnsupportedFormatEncryption("NONE".into()))
    );
}

#[test]
fn decrypted_garbage_config_is_invalid_config() {
    let mut blob = blob_with(&RepositoryConfig::new_default());
    blob.encrypted_block_format = test_key().seal(&blob.unique_id, b"{\"format\": 5}");
    assert!(matches!(
        blob.decrypt_config_with_key(&test_key()),
        Err(FormatError::InvalidConfig(_))
    ));
    blob.encrypted_block_format = test_key().seal(&blob.unique_id, b"not json");
    assert!(matches!(
        blob.decrypt_config_with_key(&test_key()),
        Err(FormatError::InvalidConfig(_))
    ));
}

#[test]
fn parse_errors() {
    assert!(matches!(
        FormatBlob::parse(b""),
        Err(FormatError::InvalidJson(_))
    ));
    assert!(matches!(
        FormatBlob::parse(b"[1,2]"),
        Err(FormatError::InvalidJson(_))
    ));
    assert!(matches!(
        FormatBlob::parse(b"{\"uniqueID\":\"***\"}"),
        Err(FormatError::InvalidJson(_))
    ));
    assert!(matches!(
        FormatBlob::parse(b"{\"tool\":5}"),
        Err(FormatError::InvalidJson(_))
    ));
    let big = vec![b' '; MAX_FORMAT_BLOB_LEN + 1];
    assert_eq!(
        FormatBlob::parse(&big),
        Err(FormatError::TooLarge {
            len: MAX_FORMAT_BLOB_LEN + 1,
            max: MAX_FORMAT_BLOB_LEN
        })
    );
    // Unknown keys (e.g. the historical "version") are ignored; null bytes are empty.
    let b = FormatBlob::parse(b"{\"version\":1,\"uniqueID\":null,\"keyAlgo\":\"\"}").unwrap();
    assert!(b.unique_id.is_empty());
    assert_eq!(b.key_derivation().unwrap(), KeyDerivation::Scrypt65536);
    // Missing uniqueID cannot salt the KDF.
    assert_eq!(
        b.derive_format_key("pw").unwrap_err(),
        FormatError::SaltTooShort { len: 0, min: 16 }
    );
}

#[test]
fn go_layout_of_outer_json() {
    let b = FormatBlob {
        tool: "t<&>".into(),
        build_version: "v".into(),
        build_info: "\u{2028}".into(),
        unique_id: Vec::new(),
        key_algo: "k".into(),
        encryption: "e".into(),
        encrypted_block_format: Vec::new(),
    };
    let s = String::from_utf8(b.to_bytes()).unwrap();
    assert_eq!(
        s,
        "{\n  \"tool\": \"t\\u003c\\u0026\\u003e\",\n  \"buildVersion\": \"v\",\n  \"buildInfo\": \"\\u2028\",\n  \"uniqueID\": null,\n  \"keyAlgo\": \"k\",\n  \"encryption\": \"e\"\n}\n"
    );
    assert_eq!(FormatBlob::parse(s.as_bytes()).unwrap(), b);
}

#[test]
fn default_config_json_matches_kopia() {
    let mut cfg = RepositoryConfig::new_default();
    cfg.hmac_secret = vec![1; 32];
    cfg.master_key = vec![2; 32];
    let s = String::from_utf8(cfg.to_json()).unwrap();
    let expected = concat!(
        r#"{"format":{"hash":"BLAKE2B-256-128","encryption":"AES256-GCM-HMAC-SHA256","#,
        r#""secret":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","#,
        r#""masterKey":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=","#,
        r#""version":3,"maxPackSize":20971520,"indexVersion":2,"epochParameters":{"Enabled":true,"#,
        r#""EpochRefreshFrequency":1200000000000,"FullCheckpointFrequency":7,"#,
        r#""CleanupSafetyMargin":14400000000000,"MinEpochDuration":86400000000000,"#,
        r#""EpochAdvanceOnCountThreshold":20,"EpochAdvanceOnTotalSizeBytesThreshold":10485760,"#,
        r#""DeleteParallelism":4},"enablePasswordChange":true,"splitter":"DYNAMIC-4M-BUZHASH"}}"#
    );
    assert_eq!(s, expected);
    assert_eq!(RepositoryConfig::from_json(s.as_bytes()).unwrap(), cfg);
    assert!(cfg.check_supported().is_ok());
    assert!(cfg.validate_parameters().is_ok());
    let other = RepositoryConfig::new_default();
    assert_ne!(other.master_key, cfg.master_key);
    assert_ne!(other.hmac_secret, other.master_key);
}

#[test]
fn optional_fields_json() {
    let mut cfg = RepositoryConfig::new_default();
    cfg.ecc = "REED-SOLOMON-CRC32".into();
    cfg.ecc_overhead_percent = 2;
    cfg.upgrade_lock = Some(UpgradeLock {
        owner_id: "me".into(),
        creation_time: "2025-01-01T00:00:00Z".into(),
        advance_notice_duration: 0,
        io_drain_timeout: 5,
        status_poll_interval: 0,
        message: "a&b".into(),
        max_permitted_clock_drift: 1,
    });
    cfg.required_features = vec![RequiredFeature {
        feature: "index-v2".into(),
        if_not_understood: IfNotUnderstood::default(),
    }];
    let s = String::from_utf8(cfg.to_json()).unwrap();
    assert!(
        s.contains(r#""ecc":"REED-SOLOMON-CRC32","eccOverheadPercent":2,"secret""#),
        "{s}"
    );
    assert!(s.ends_with(concat!(
        r#""upgradeLock":{"ownerID":"me","creationTime":"2025-01-01T00:00:00Z","ioDrainTimeout":5,"#,
        r#""message":"a\u0026b","maxPermittedClockDrift":1},"#,
        r#""requiredFeatures":[{"feature":"index-v2","ifNotUnderstood":{"warn":false}}]}}"#
    )), "{s}");
    assert_eq!(RepositoryConfig::from_json(s.as_bytes()).unwrap(), cfg);
    // Zero-valued fields disappear; a format-v1 style config still parses.
    let v1 = br#"{"format":{"hash":"HMAC-SHA256","encryption":"AES256-GCM-HMAC-SHA256","masterKey":null,"version":1,"epochParameters":{"Enabled":false}}}"#;
    let c = RepositoryConfig::from_json(v1).unwrap();
    assert_eq!(c.effective_index_version(), 1);
    assert_eq!(c.effective_max_pack_size(), 20 << 20);
    assert!(c.check_supported().is_ok());
}

#[test]
fn upgrade_lock_timing() {
    let mut l = UpgradeLock {
        owner_id: "o".into(),
        creation_time: "2025-01-01T00:00:00Z".into(),
        advance_notice_duration: 100,
        io_drain_timeout: 10,
        status_poll_interval: 0,
        message: String::new(),
        max_permitted_clock_drift: 5,
    };
    assert_eq!(l.locked_from_offset_ns(), Some(75));
    l.advance_notice_duration = 24;
    assert_eq!(l.locked_from_offset_ns(), None);
    let parsed: UpgradeLock = serde_json::from_str("{}").unwrap();
    assert_eq!(parsed.creation_time, "0001-01-01T00:00:00Z");
}

#[test]
fn unsupported_configs_are_refused() {
    let ok = RepositoryConfig::new_default();
    let check = |f: &dyn Fn(&mut RepositoryConfig)| {
        let mut c = ok.clone();
        f(&mut c);
        c.check_supported()
    };
    assert_eq!(
        check(&|c| c.version = 0),
        Err(FormatError::UnsupportedVersion(0))
    );
    assert_eq!(
        check(&|c| c.version = 4),
        Err(FormatError::UnsupportedVersion(4))
    );
    assert_eq!(
        check(&|c| c.index_version = 3),
        Err(FormatError::UnsupportedIndexVersion(3))
    );
    assert_eq!(
        check(&|c| c.index_version = -1),
        Err(FormatError::UnsupportedIndexVersion(-1))
    );
    assert_eq!(
        check(&|c| c.hash = "MD5".into()),
        Err(FormatError::UnknownHash("MD5".into()))
    );
    assert_eq!(
        check(&|c| c.encryption = "NONE".into()),
        Err(FormatError::UnknownEncryption("NONE".into()))
    );
    assert_eq!(
        check(&|c| {
            c.ecc = "REED-SOLOMON-CRC32".into();
            c.ecc_overhead_percent = 1;
        }),
        Err(FormatError::EccUnsupported("REED-SOLOMON-CRC32".into()))
    );
    // ECC named but with 0 overhead is inactive, as in kopia.
    assert_eq!(check(&|c| c.ecc = "REED-SOLOMON-CRC32".into()), Ok(()));
    let feature = |name: &str, warn: bool| RequiredFeature {
        feature: name.into(),
        if_not_understood: IfNotUnderstood {
            warn,
            ..Default::default()
        },
    };
    assert_eq!(
        check(&|c| c.required_features = vec![feature("index-v1", false), feature("future", false)]),
        Err(FormatError::MissingFeature("future".into()))
    );
    assert_eq!(
        check(&|c| c.required_features = vec![feature("future", true)]),
        Ok(())
    );
}

#[test]
fn parameter_validation() {
    let ok = RepositoryConfig::new_default();
    let check = |f: &dyn Fn(&mut RepositoryConfig)| {
        let mut c = ok.clone();
        f(&mut c);
        c.validate_parameters()
    };
    assert!(check(&|c| c.max_pack_size = MIN_PACK_SIZE).is_ok());
    assert!(check(&|c| c.max_pack_size = MAX_PACK_SIZE).is_ok());
    for bad in [
        check(&|c| c.max_pack_size = MIN_PACK_SIZE - 1),
        check(&|c| c.max_pack_size = MAX_PACK_SIZE + 1),
        check(&|c| c.index_version = 3),
        check(&|c| c.epoch_parameters.min_epoch_duration = 60_000_000_000),
        check(&|c| c.epoch_parameters.full_checkpoint_frequency = 0),
        check(&|c| c.epoch_parameters.epoch_advance_on_count_threshold = 9),
        check(&|c| {
            c.epoch_parameters
                .epoch_advance_on_total_size_bytes_threshold = 1000
        }),
        check(&|c| c.epoch_parameters.cleanup_safety_margin = 1),
        check(&|c| c.epoch_parameters.epoch_refresh_frequency = i64::MAX),
    ] {
        assert!(
            matches!(bad, Err(FormatError::InvalidParameters(_))),
            "{bad:?}"
        );
    }
    // Disabled epochs skip the epoch checks (format v1).
    assert!(check(&|c| c.epoch_parameters = EpochParameters::default()).is_ok());
}

#[test]
fn blobcfg_round_trip() {
    let blob = blob_with(&RepositoryConfig::new_default());
    let key = test_key();
    let empty = BlobStorageConfig::default().encrypt(&blob, &key).unwrap();
    assert_eq!(empty.len(), 30, "{{}} encrypts to 30 bytes");
    assert_eq!(
        BlobStorageConfig::decrypt(&empty, &blob, &key).unwrap(),
        BlobStorageConfig::default()
    );
    let r = BlobStorageConfig {
        retention_mode: "COMPLIANCE".into(),
        retention_period: MIN_RETENTION_PERIOD_NS,
    };
    assert!(r.validate().is_ok() && r.is_retention_enabled());
    let enc = r.encrypt(&blob, &key).unwrap();
    assert_eq!(BlobStorageConfig::decrypt(&enc, &blob, &key).unwrap(), r);
    assert!(matches!(
        BlobStorageConfig::decrypt(&enc, &blob, &FormatKey::from_bytes([0; 32])),
        Err(FormatError::Corrupt(_))
    ));
    assert!(matches!(
        BlobStorageConfig::decrypt(&enc[..10], &blob, &key),
        Err(FormatError::Corrupt(_))
    ));
    // Outer encryption NONE stores the JSON as is.
    let mut plain_blob = blob.clone();
    plain_blob.encryption = "NONE".into();
    let p = r.encrypt(&plain_blob, &key).unwrap();
    assert_eq!(
        p,
        br#"{"retentionMode":"COMPLIANCE","retentionPeriod":86400000000000}"#
    );
    assert_eq!(
        BlobStorageConfig::decrypt(&p, &plain_blob, &key).unwrap(),
        r
    );
    assert!(matches!(
        BlobStorageConfig::decrypt(b"[", &plain_blob, &key),
        Err(FormatError::Corrupt(_))
    ));
    plain_blob.encryption = "ROT13".into();
    assert!(matches!(
        r.encrypt(&plain_blob, &key),
        Err(FormatError::UnsupportedFormatEncryption(_))
    ));
    for bad in [
        BlobStorageConfig {
            retention_mode: "GOVERNANCE".into(),
            retention_period: 0,
        },
        BlobStorageConfig {
            retention_mode: String::new(),
            retention_period: MIN_RETENTION_PERIOD_NS,
        },
        BlobStorageConfig {
            retention_mode: "GOVERNANCE".into(),
            retention_period: 1,
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn checksummed_format_bytes_and_recovery() {
    let j = br#"{"tool":"x"}"#;
    let c = checksummed_format_bytes(j).unwrap();
    assert_eq!(c.len(), j.len() + 32 + 4);
    assert_eq!(recover_format_blob(&c), Some(&j[..]));
    // At the start of a pack, and at the end of another blob.
    let mut pack = c.clone();
    pack.extend_from_slice(&[0xaa; 5000]);
    assert_eq!(recover_format_blob(&pack), Some(&j[..]));
    let mut tail = vec![0x55u8; 70_000];
    tail.extend_from_slice(&c);
    assert_eq!(recover_format_blob(&tail), Some(&j[..]));
    // Corrupted checksum, garbage, tiny inputs.
    let mut bad = c.clone();
    bad[5] ^= 1;
    assert_eq!(recover_format_blob(&bad), None);
    assert_eq!(recover_format_blob(&[0xff; 100]), None);
    for n in 0..6 {
        assert_eq!(recover_format_blob(&vec![0u8; n]), None);
    }
    assert!(matches!(
        checksummed_format_bytes(&vec![b'x'; 65_000 - 31]),
        Err(FormatError::TooLarge { .. })
    ));
    assert!(checksummed_format_bytes(&vec![b'x'; 65_000 - 32]).is_ok());
}

#[test]
fn create_produces_a_usable_blob() {
    // PBKDF2 keeps this unit test fast enough; scrypt is covered by the vector tests.
    let cfg = RepositoryConfig::new_default();
    let (blob, key) = FormatBlob::create(&cfg, "pw", KeyDerivation::Pbkdf2Sha256).unwrap();
    assert_eq!(blob.unique_id.len(), 32);
    assert_eq!(blob.key_algo, "pbkdf2-sha256-600000");
    assert_eq!(blob.encryption, "AES256_GCM");
    assert_eq!(blob.decrypt_config_with_key(&key).unwrap(), cfg);
    let reparsed = FormatBlob::parse(&blob.to_bytes()).unwrap();
    assert_eq!(reparsed.decrypt_config("pw").unwrap(), cfg);
    assert_eq!(
        reparsed.decrypt_config("wrong"),
        Err(FormatError::InvalidPassword)
    );
    let mut bad = cfg.clone();
    bad.max_pack_size = 1;
    assert!(matches!(
        FormatBlob::create(&bad, "pw", KeyDerivation::Pbkdf2Sha256),
        Err(FormatError::InvalidParameters(_))
    ));
    let key_dbg = format!("{key:?}");
    assert_eq!(key_dbg, "FormatKey(..)");
}
