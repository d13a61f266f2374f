//! Checksummed copies of `kopia.repository` embedded in format-v1 packs, and their
//! recovery (kopia's `addFormatBlobChecksumAndLength` / `RecoverFormatBlob`).
//!
//! Layout: `L ‖ J ‖ HMAC-SHA256("kopia-repository", J) ‖ L`, `J` the exact bytes of
//! `kopia.repository`, `L = len(J) + 32` as little-endian u16.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::FormatError;

const CHECKSUM_SECRET: &[u8] = b"kopia-repository";
const CHECKSUM_LEN: usize = 32;
/// Largest `len(J) + 32` kopia writes or accepts.
pub const MAX_CHECKSUMMED_LEN: usize = 65_000;
/// Kopia reads at most this many bytes from each end of a blob when recovering.
const MAX_RECOVER_CHUNK: usize = 65_536;
const LEN_BYTES: usize = 2;

fn mac(data: &[u8]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(CHECKSUM_SECRET)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    m.update(data);
    m
}

/// The checksummed form of the exact `kopia.repository` bytes, as format-v1 packs
/// start with it.
pub fn checksummed_format_bytes(format_blob: &[u8]) -> Result<Vec<u8>, FormatError> {
    let l = format_blob.len() + CHECKSUM_LEN;
    if l > MAX_CHECKSUMMED_LEN {
        return Err(FormatError::TooLarge {
            len: format_blob.len(),
            max: MAX_CHECKSUMMED_LEN - CHECKSUM_LEN,
        });
    }
    let len = (l as u16).to_le_bytes();
    let mut out = Vec::with_capacity(l + 2 * LEN_BYTES);
    out.extend_from_slice(&len);
    out.extend_from_slice(format_blob);
    out.extend_from_slice(&mac(format_blob).finalize().into_bytes());
    out.extend_from_slice(&len);
    Ok(out)
}

/// Splits `J ‖ checksum` and verifies the checksum.
fn verify(b: &[u8]) -> Option<&[u8]> {
    let split = b.len().checked_sub(CHECKSUM_LEN)?;
    let (data, sum) = b.split_at(split);
    mac(data).verify_slice(sum).ok().map(|()| data)
}

/// Finds a checksummed `kopia.repository` at the start or the end of `blob` (the
/// whole blob, e.g. a format-v1 pack), the way kopia's `RecoverFormatBlob` does.
pub fn recover_format_blob(blob: &[u8]) -> Option<&[u8]> {
    let chunk_len = blob.len().min(MAX_RECOVER_CHUNK);
    if chunk_len <= 2 * LEN_BYTES {
        return None;
    }
    let prefix = &blob[..chunk_len];
    let l = u16::from_le_bytes([prefix[0], prefix[1]]) as usize;
    if l <= MAX_CHECKSUMMED_LEN && l + LEN_BYTES < prefix.len() {
        if let Some(j) = verify(&prefix[LEN_BYTES..LEN_BYTES + l]) {
            return Some(j);
        }
    }
    let suffix = &blob[blob.len() - chunk_len..];
    let end = suffix.len() - LEN_BYTES;
    let l = u16::from_le_bytes([suffix[end], suffix[end + 1]]) as usize;
    if l <= MAX_CHECKSUMMED_LEN && l + LEN_BYTES < suffix.len() {
        return verify(&suffix[end - l..end]);
    }
    None
}
