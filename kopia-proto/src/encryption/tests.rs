use super::*;

const MASTER: &[u8] = b"01234567890123456789012345678901";

fn all() -> Vec<Encryptor> {
    ENCRYPTION_NAMES
        .iter()
        .map(|n| Encryptor::new(n, MASTER).unwrap())
        .collect()
}

#[test]
fn kopia_known_answers_from_spec() {
    // repo/encryption/encryption_test.go TestCiphertextSamples, quoted in §5.4.
    let iv = b"aabbccddeeffgghhiijjkkllmmnnoopp";
    for (name, hex_out) in [
        (
            "AES256-GCM-HMAC-SHA256",
            "e43ba07f85a6d70c5f1102ca06cf19c597e5f91e527b21f00fb76e8bec3fd1",
        ),
        (
            "CHACHA20-POLY1305-HMAC-SHA256",
            "118359f3d4d589d939efbbc3168ae4c77c51bcebce6845fe6ef5d11342faa6",
        ),
    ] {
        let e = Encryptor::new(name, MASTER).unwrap();
        let stored = hex::decode(hex_out).unwrap();
        assert_eq!(e.decrypt(&stored, iv).unwrap(), b"foo", "{name}");
        let nonce: [u8; 12] = stored[..12].try_into().unwrap();
        assert_eq!(e.encrypt_with_nonce(b"foo", iv, &nonce), stored, "{name}");
    }
}

#[test]
fn hkdf_kopia_known_answer() {
    let k = derive_key(
        b"ABCDEFGHIJKLMNOP",
        b"0123456789012345",
        b"the-test-purpose",
        32,
    )
    .unwrap();
    assert_eq!(
        hex::encode(k),
        "828769ee8969bc37f11dbaa32838f8db6c19daa6e3ae5f5eed2da2d94d8faddb"
    );
}

#[test]
fn derive_key_rejects_empty_ikm_and_huge_lengths() {
    assert!(matches!(
        derive_key(b"", b"salt", b"x", 32),
        Err(EncryptionError::KeyDerivation(_))
    ));
    assert!(matches!(
        derive_key(b"k", b"salt", b"x", 255 * 32 + 1),
        Err(EncryptionError::KeyDerivation(_))
    ));
    assert_eq!(
        derive_key(b"k", b"salt", b"x", 255 * 32).unwrap().len(),
        8160
    );
}

#[test]
fn round_trip_every_algorithm_and_size() {
    let iv = [7u8; 16];
    for e in all() {
        for len in [0usize, 1, 15, 16, 17, 1000, 65536 + 3] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let ct = e.encrypt(&pt, &iv);
            assert_eq!(ct.len(), len + e.overhead());
            assert_eq!(e.decrypt(&ct, &iv).unwrap(), pt, "{} len {len}", e.name());
        }
    }
}

#[test]
fn nonces_are_random() {
    for e in all() {
        let a = e.encrypt(b"same", &[1; 16]);
        let b = e.encrypt(b"same", &[1; 16]);
        assert_ne!(a[..12], b[..12]);
    }
}

#[test]
fn tampered_ciphertext_is_rejected() {
    let iv = [9u8; 16];
    for e in all() {
        let ct = e.encrypt(b"some content bytes", &iv);
        for pos in [0, 11, 12, ct.len() - 17, ct.len() - 1] {
            let mut bad = ct.clone();
            bad[pos] ^= 0x01;
            assert_eq!(
                e.decrypt(&bad, &iv),
                Err(EncryptionError::AuthenticationFailed)
            );
        }
    }
}

#[test]
fn wrong_iv_or_key_is_rejected() {
    let e = Encryptor::new("AES256-GCM-HMAC-SHA256", MASTER).unwrap();
    let ct = e.encrypt(b"payload", &[1; 16]);
    assert_eq!(
        e.decrypt(&ct, &[2; 16]),
        Err(EncryptionError::AuthenticationFailed)
    );
    let other = Encryptor::new("AES256-GCM-HMAC-SHA256", b"another master key......").unwrap();
    assert_eq!(
        other.decrypt(&ct, &[1; 16]),
        Err(EncryptionError::AuthenticationFailed)
    );
    let chacha = Encryptor::new("CHACHA20-POLY1305-HMAC-SHA256", MASTER).unwrap();
    assert_eq!(
        chacha.decrypt(&ct, &[1; 16]),
        Err(EncryptionError::AuthenticationFailed)
    );
}

#[test]
fn truncated_ciphertext_is_rejected() {
    for e in all() {
        for len in [0usize, 1, 12, 27] {
            assert_eq!(
                e.decrypt(&vec![0u8; len], &[0; 16]),
                Err(EncryptionError::TooShort { len, min: 28 })
            );
        }
        // 28 bytes is structurally valid (empty plaintext) but fails authentication.
        assert_eq!(
            e.decrypt(&[0u8; 28], &[0; 16]),
            Err(EncryptionError::AuthenticationFailed)
        );
    }
}

#[test]
fn decrypt_into_appends_and_restores_on_error() {
    let e = Encryptor::new("CHACHA20-POLY1305-HMAC-SHA256", MASTER).unwrap();
    let ct = e.encrypt(b"tail", &[3; 16]);
    let mut out = b"head:".to_vec();
    e.decrypt_into(&ct, &[3; 16], &mut out).unwrap();
    assert_eq!(out, b"head:tail");
    assert!(e.decrypt_into(&ct, &[4; 16], &mut out).is_err());
    assert_eq!(out, b"head:tail");
}

#[test]
fn unknown_algorithm_is_rejected() {
    for name in ["", "aes256-gcm-hmac-sha256", "AES256_GCM", "SALSA20-HMAC"] {
        assert_eq!(
            Encryptor::new(name, MASTER).unwrap_err(),
            EncryptionError::UnknownAlgorithm(name.to_string())
        );
    }
    for name in ENCRYPTION_NAMES {
        assert_eq!(Algorithm::from_name(name).unwrap().name(), *name);
    }
}

#[test]
fn blob_iv_rules() {
    let h = "0123456789abcdef0123456789ABCDEF";
    assert_eq!(
        hex::encode(blob_iv(&format!("xn0_{h}-s1-c1")).unwrap()),
        h.to_lowercase()
    );
    assert_eq!(
        hex::encode(blob_iv(&format!("q{h}")).unwrap()),
        h.to_lowercase()
    );
    // 32-byte hash: last 16 bytes.
    let long = format!("n{}{h}", "ff".repeat(16));
    assert_eq!(hex::encode(blob_iv(&long).unwrap()), h.to_lowercase());
    for bad in [
        "",
        "x",
        "xn0_0123456789abcdef0123456789abcde-s1", // 31 hex chars
        "-0123456789abcdef0123456789abcdef",
        "xn0_0123456789abcdef0123456789abcdeg-s1", // not hex
        "xn0_0123456789abcdef0123456789abcdé-s",   // multi-byte char straddles the cut
    ] {
        assert!(
            matches!(blob_iv(bad), Err(EncryptionError::BadBlobId { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn blob_round_trip_and_errors() {
    let e = Encryptor::new("AES256-GCM-HMAC-SHA256", MASTER).unwrap();
    let fake_hash = |p: &[u8]| {
        let mut h = [0u8; 16];
        for (i, b) in p.iter().enumerate() {
            h[i % 16] ^= *b;
        }
        h
    };
    let (id, data) = encrypt_blob(&e, fake_hash, "xn0_", "s123-c1", b"index bytes").unwrap();
    assert!(id.starts_with("xn0_") && id.ends_with("-s123-c1"), "{id}");
    assert_eq!(id.len(), 4 + 32 + 8);
    assert_eq!(decrypt_blob(&e, &id, &data).unwrap(), b"index bytes");
    let (id2, _) = encrypt_blob(&e, fake_hash, "n", "", b"x").unwrap();
    assert_eq!(id2.len(), 33);
    // A different hash in the name means a different IV: authentication must fail.
    let mut renamed = id.clone().into_bytes();
    renamed[4] = if renamed[4] == b'0' { b'1' } else { b'0' };
    let renamed = String::from_utf8(renamed).unwrap();
    assert_eq!(
        decrypt_blob(&e, &renamed, &data),
        Err(EncryptionError::AuthenticationFailed)
    );
    // Only the last 32 hex characters before '-' matter, as in kopia.
    let longer = id.replacen("xn0_", "xn0_0", 1);
    assert_eq!(decrypt_blob(&e, &longer, &data).unwrap(), b"index bytes");
    // Hash shorter than 16 bytes cannot produce an IV.
    let short = encrypt_blob(&e, |_: &[u8]| [0u8; 8], "x", "", b"p");
    assert!(matches!(short, Err(EncryptionError::BadBlobId { .. })));
    assert!(matches!(
        decrypt_blob(&e, "bogus", &data),
        Err(EncryptionError::BadBlobId { .. })
    ));
    assert!(matches!(
        decrypt_blob(&e, &id, &data[..20]),
        Err(EncryptionError::TooShort { .. })
    ));
}

#[test]
fn aes_gcm_helpers() {
    let key = [5u8; 32];
    let sealed = aes256_gcm_seal(&key, b"aad", b"hello");
    assert_eq!(sealed.len(), 5 + 28);
    assert_eq!(aes256_gcm_open(&key, b"aad", &sealed).unwrap(), b"hello");
    assert_eq!(
        aes256_gcm_open(&key, b"other", &sealed),
        Err(EncryptionError::AuthenticationFailed)
    );
    assert!(matches!(
        aes256_gcm_open(&key, b"aad", &sealed[..27]),
        Err(EncryptionError::TooShort { len: 27, min: 28 })
    ));
}

#[test]
fn encryptor_is_send_sync_clone_and_debug_hides_keys() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Encryptor>();
    let e = Encryptor::new("AES256-GCM-HMAC-SHA256", MASTER).unwrap();
    let s = format!("{e:?}");
    assert!(
        s.contains("Aes256GcmHmacSha256") && !s.contains("0123"),
        "{s}"
    );
}
