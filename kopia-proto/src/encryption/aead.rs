//! AEAD plumbing shared by content encryption and the AES-256-GCM helpers used
//! for the format blob, `kopia.blobcfg` and `kopia.maintenance`.
//!
//! Layout everywhere: `nonce(12) ‖ ciphertext ‖ tag(16)`, sealed in place so that
//! each call makes exactly one allocation (or none when appending to a buffer).

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use chacha20poly1305::ChaCha20Poly1305;
use rand::RngCore;

use super::{Algorithm, EncryptionError, NONCE_LEN, OVERHEAD, TAG_LEN};

/// 12 bytes from the thread-local CSPRNG.
pub(super) fn random_nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut n);
    n
}

/// Appends `nonce ‖ seal(plaintext) ‖ tag` to `out`.
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
    let n = Nonce::from_slice(nonce);
    let buf = &mut out[start..];
    // Encryption only fails for inputs beyond 64 GiB (GCM's limit), which kopia
    // contents never reach.
    let tag = match algorithm {
        Algorithm::Aes256GcmHmacSha256 => {
            Aes256Gcm::new(key.into()).encrypt_in_place_detached(n, aad, buf)
        }
        Algorithm::Chacha20Poly1305HmacSha256 => {
            ChaCha20Poly1305::new(key.into()).encrypt_in_place_detached(n, aad, buf)
        }
    }
    .unwrap_or_else(|_| {
        panic!(
            "AEAD input of {} bytes exceeds the cipher's limit",
            plaintext.len()
        )
    });
    out.extend_from_slice(&tag);
}

/// Opens `nonce ‖ ciphertext ‖ tag` (length already checked ≥ 28) and appends the
/// plaintext to `out`; `out` is restored on failure.
pub(super) fn open_into(
    algorithm: Algorithm,
    key: &[u8; 32],
    aad: &[u8],
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncryptionError> {
    let (nonce, rest) = data.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let start = out.len();
    out.extend_from_slice(ciphertext);
    let n = Nonce::from_slice(nonce);
    let t = Tag::from_slice(tag);
    let buf = &mut out[start..];
    let res = match algorithm {
        Algorithm::Aes256GcmHmacSha256 => {
            Aes256Gcm::new(key.into()).decrypt_in_place_detached(n, aad, buf, t)
        }
        Algorithm::Chacha20Poly1305HmacSha256 => {
            ChaCha20Poly1305::new(key.into()).decrypt_in_place_detached(n, aad, buf, t)
        }
    };
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
