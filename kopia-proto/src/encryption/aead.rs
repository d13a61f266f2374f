//! AEAD plumbing shared by content encryption and the AES-256-GCM helpers used
//! for the format blob, `kopia.blobcfg` and `kopia.maintenance`.
//!
//! Layout everywhere: `nonce(12) ‖ ciphertext ‖ tag(16)`, sealed in place so that
//! each call makes exactly one allocation (or none when appending to a buffer).
//!
//! The ciphers are `ring`'s (BoringSSL's assembly: AES-NI/VAES + CLMUL for GCM,
//! AVX2 for ChaCha20-Poly1305, chosen at run time), several times faster than
//! portable implementations and at least as fast as kopia's Go assembly.

use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};

use super::{Algorithm, EncryptionError, NONCE_LEN, OVERHEAD, TAG_LEN};

/// 12 bytes from the thread-local CSPRNG.
pub(super) fn random_nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut n);
    n
}

/// The AEAD key for `algorithm` (both take 32-byte keys, so this cannot fail).
fn aead_key(algorithm: Algorithm, key: &[u8; 32]) -> LessSafeKey {
    let alg = match algorithm {
        Algorithm::Aes256GcmHmacSha256 => &AES_256_GCM,
        Algorithm::Chacha20Poly1305HmacSha256 => &CHACHA20_POLY1305,
    };
    let unbound = UnboundKey::new(alg, key)
        .unwrap_or_else(|_| unreachable!("AES-256-GCM and ChaCha20-Poly1305 take 32-byte keys"));
    LessSafeKey::new(unbound)
}

/// Appends `nonce ‖ AEAD(key).seal(plaintext, aad) ‖ tag` to `out`.
pub(super) fn seal_into(
    algorithm: Algorithm,
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) {
    out.reserve(plaintext.len() + OVERHEAD);
    out.extend_from_slice(nonce);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let buf = &mut out[start..];
    // Sealing only fails for inputs beyond the cipher's limit (64 GiB for GCM),
    // which kopia contents never reach.
    let tag = aead_key(algorithm, key)
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), buf)
        .unwrap_or_else(|_| {
            panic!(
                "AEAD input of {} bytes exceeds the cipher's limit",
                plaintext.len()
            )
        });
    out.extend_from_slice(tag.as_ref());
}

/// Opens `nonce ‖ ciphertext ‖ tag` (at least [`OVERHEAD`] bytes, checked by the
/// callers), appending the plaintext to `out`; `out` is unchanged on failure.
pub(super) fn open_into(
    algorithm: Algorithm,
    key: &[u8; 32],
    aad: &[u8],
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncryptionError> {
    let (Some((nonce, rest)), true) = (
        data.split_first_chunk::<NONCE_LEN>(),
        data.len() >= OVERHEAD,
    ) else {
        return Err(EncryptionError::TooShort {
            len: data.len(),
            min: OVERHEAD,
        });
    };
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let tag: [u8; TAG_LEN] = tag
        .try_into()
        .unwrap_or_else(|_| unreachable!("split at TAG_LEN from the end"));
    let start = out.len();
    out.extend_from_slice(ciphertext);
    let res = aead_key(algorithm, key).open_in_place_separate_tag(
        Nonce::assume_unique_for_key(*nonce),
        Aad::from(aad),
        Tag::from(tag),
        &mut out[start..],
        0..,
    );
    if res.is_err() {
        out.truncate(start);
        return Err(EncryptionError::AuthenticationFailed);
    }
    Ok(())
}

/// AES-256-GCM with a random nonce: returns `nonce ‖ ciphertext ‖ tag`.
///
/// Kopia uses this scheme (with different keys and AAD) for the inner repository
/// config, `kopia.blobcfg` and the `kopia.maintenance` schedule blob.
pub fn aes256_gcm_seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    aes256_gcm_seal_with_nonce(key, &random_nonce(), aad, plaintext)
}

/// [`aes256_gcm_seal`] with a caller-chosen nonce (tests and vectors only).
pub fn aes256_gcm_seal_with_nonce(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
    seal_into(
        Algorithm::Aes256GcmHmacSha256,
        key,
        nonce,
        aad,
        plaintext,
        &mut out,
    );
    out
}

/// Opens `nonce ‖ ciphertext ‖ tag` produced by [`aes256_gcm_seal`] (or by kopia).
pub fn aes256_gcm_open(
    key: &[u8; 32],
    aad: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, EncryptionError> {
    if data.len() < OVERHEAD {
        return Err(EncryptionError::TooShort {
            len: data.len(),
            min: OVERHEAD,
        });
    }
    let mut out = Vec::with_capacity(data.len() - OVERHEAD);
    open_into(Algorithm::Aes256GcmHmacSha256, key, aad, data, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod cross_tests {
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use aes_gcm::{Aes256Gcm, Nonce as RcNonce};
    use chacha20poly1305::ChaCha20Poly1305;

    use super::*;

    /// ring's output equals the RustCrypto implementations' for every length
    /// around the block and batch sizes, and each opens the other's output.
    #[test]
    fn matches_rustcrypto() {
        let key = [0x42u8; 32];
        let nonce = [7u8; NONCE_LEN];
        let aad = b"content-iv-0123456789abcdef";
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        for alg in [
            Algorithm::Aes256GcmHmacSha256,
            Algorithm::Chacha20Poly1305HmacSha256,
        ] {
            for len in [
                0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1000, 4096, 5000,
            ] {
                let pt = &data[..len];
                let mut ours = Vec::new();
                seal_into(alg, &key, &nonce, aad, pt, &mut ours);
                let mut theirs = pt.to_vec();
                let n = RcNonce::from_slice(&nonce);
                let tag = match alg {
                    Algorithm::Aes256GcmHmacSha256 => {
                        Aes256Gcm::new((&key).into()).encrypt_in_place_detached(n, aad, &mut theirs)
                    }
                    Algorithm::Chacha20Poly1305HmacSha256 => ChaCha20Poly1305::new((&key).into())
                        .encrypt_in_place_detached(n, aad, &mut theirs),
                }
                .unwrap();
                let expected = [&nonce[..], &theirs, &tag].concat();
                assert_eq!(ours, expected, "{alg:?} len {len}");
                let mut back = vec![9u8; 3];
                open_into(alg, &key, aad, &expected, &mut back).unwrap();
                assert_eq!(&back[3..], pt, "{alg:?} len {len}");
                // Any flipped bit is rejected and leaves the output untouched.
                let mut bad = expected.clone();
                let last = bad.len() - 1;
                bad[last] ^= 1;
                assert_eq!(
                    open_into(alg, &key, aad, &bad, &mut back),
                    Err(EncryptionError::AuthenticationFailed)
                );
                assert_eq!(back.len(), 3 + len);
            }
        }
    }

    #[test]
    fn open_rejects_short_input() {
        let mut out = Vec::new();
        assert_eq!(
            open_into(
                Algorithm::Aes256GcmHmacSha256,
                &[0; 32],
                b"",
                &[0; 27],
                &mut out
            ),
            Err(EncryptionError::TooShort { len: 27, min: 28 })
        );
    }
}
