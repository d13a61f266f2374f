//! Blob-level encryption ("blob crypto", kopia's `internal/blobcrypto`): index
//! blobs, session markers, log blobs and legacy `n`/`m`/`l` blobs are named after
//! the hash of their payload, and the IV comes from that name.

use super::{EncryptionError, Encryptor};

/// Hex characters of the IV at the end of the hash part of a blob ID.
const IV_HEX_LEN: usize = 32;

/// The 16-byte IV of an encrypted blob: the last 32 characters of the ID before
/// its first `-`, hex-decoded (either case, as Go's `hex.DecodeString`).
pub fn blob_iv(blob_id: &str) -> Result<[u8; 16], EncryptionError> {
    let bytes = blob_id.as_bytes();
    let head = match bytes.iter().position(|&b| b == b'-') {
        Some(p) => &bytes[..p],
        None => bytes,
    };
    if head.len() < IV_HEX_LEN {
        return Err(EncryptionError::BadBlobId {
            id: blob_id.to_string(),
            reason: "blob ID too short to contain a 16-byte IV",
        });
    }
    let mut iv = [0u8; 16];
    hex::decode_to_slice(&head[head.len() - IV_HEX_LEN..], &mut iv).map_err(|_| {
        EncryptionError::BadBlobId {
            id: blob_id.to_string(),
            reason: "the 32 characters before the first '-' are not hexadecimal",
        }
    })?;
    Ok(iv)
}

/// Encrypts a blob payload the way kopia does (§5.5): the ID is
/// `prefix ‖ hex(hash(payload))` plus `"-" ‖ suffix` when `suffix` is non-empty, and
/// the IV is taken from that ID. Returns `(blob ID, stored bytes)`.
///
/// `hash` is the repository's keyed content hash (kept as a closure so this module
/// does not depend on the hashing module); it must produce at least 16 bytes.
pub fn encrypt_blob<H, D>(
    enc: &Encryptor,
    hash: H,
    prefix: &str,
    suffix: &str,
    payload: &[u8],
) -> Result<(String, Vec<u8>), EncryptionError>
where
    H: FnOnce(&[u8]) -> D,
    D: AsRef<[u8]>,
{
    let digest = hash(payload);
    let digest = digest.as_ref();
    let mut id = String::with_capacity(prefix.len() + 2 * digest.len() + 1 + suffix.len());
    id.push_str(prefix);
    id.push_str(&hex::encode(digest));
    if !suffix.is_empty() {
        id.push('-');
        id.push_str(suffix);
    }
    let iv = blob_iv(&id)?;
    let data = enc.encrypt(payload, &iv);
    Ok((id, data))
}

/// Decrypts the stored bytes of blob `blob_id` (IV recomputed from the ID).
///
/// Like kopia, the payload hash is not re-checked against the name: the AEAD with
/// the ID-derived key and AAD already authenticates it.
pub fn decrypt_blob(
    enc: &Encryptor,
    blob_id: &str,
    data: &[u8],
) -> Result<Vec<u8>, EncryptionError> {
    let iv = blob_iv(blob_id)?;
    enc.decrypt(data, &iv)
}
