//! Reading from packs: one content given its index entry (spec §6.4) and the local
//! index for recovery (kopia `readPackFileLocalIndex`).

use super::postamble::find_postamble;
use super::{ContentCipher, PackError};
use crate::index::IndexEntry;

/// How many trailing bytes kopia reads first when recovering a local index (the whole
/// blob is read if that fails).
pub const LOCAL_INDEX_TAIL_SIZE: u64 = 8192;

/// The stored bytes of `entry` inside `pack` (the whole pack blob), bounds-checked.
pub fn content_slice<'a>(pack: &'a [u8], entry: &IndexEntry) -> Result<&'a [u8], PackError> {
    let start = entry.pack_offset as usize;
    let end = start + entry.packed_length as usize;
    pack.get(start..end).ok_or_else(|| PackError::OutOfBounds {
        content_id: entry.content_id.to_string(),
        pack_blob_id: entry.pack_blob_id.to_string(),
        offset: u64::from(entry.pack_offset),
        length: u64::from(entry.packed_length),
        len: pack.len(),
    })
}

/// Decrypts the stored bytes of one content (exactly `packed_length` bytes, e.g. from a
/// range read of `pack_offset..+packed_length`) with the IV of its content ID.
///
/// The result is the plaintext as stored: when `compression_header_id != 0` it still
/// starts with the 4-byte compression header and must be decompressed by the caller.
pub fn decrypt_content<C: ContentCipher + ?Sized>(
    cipher: &C,
    entry: &IndexEntry,
    stored: &[u8],
) -> Result<Vec<u8>, PackError> {
    if entry.encryption_key_id != 0 {
        return Err(PackError::UnsupportedKeyId {
            content_id: entry.content_id.to_string(),
            key_id: entry.encryption_key_id,
        });
    }
    if stored.len() != entry.packed_length as usize {
        return Err(PackError::LengthMismatch {
            content_id: entry.content_id.to_string(),
            got: stored.len(),
            expected: entry.packed_length,
        });
    }
    cipher
        .decrypt(stored, &entry.content_id.iv())
        .map_err(|source| PackError::Cipher {
            context: format!(
                "invalid checksum at {} offset {} length {}",
                entry.pack_blob_id, entry.pack_offset, entry.packed_length
            ),
            source,
        })
}

/// Decrypts the local index of a pack for recovery. `tail` holds the last bytes of the
/// pack (at least the local index and postamble; [`LOCAL_INDEX_TAIL_SIZE`] usually
/// suffices) and `tail_offset` is the absolute offset of `tail[0]` in the pack (0 when
/// `tail` is the whole pack). Returns the index bytes (with kopia's 32-byte random
/// suffix), ready for `Index::open`.
pub fn recover_local_index<C: ContentCipher + ?Sized>(
    cipher: &C,
    tail: &[u8],
    tail_offset: u64,
) -> Result<Vec<u8>, PackError> {
    let p = find_postamble(tail)?;
    let offset = u64::from(p.local_index_offset);
    let length = u64::from(p.local_index_length);
    let end_read = tail_offset + tail.len() as u64;
    if offset < tail_offset || offset + length > end_read {
        return Err(PackError::LocalIndexOutOfRange {
            offset,
            length,
            start: tail_offset,
            end: end_read,
        });
    }
    let rel = (offset - tail_offset) as usize;
    let encrypted = &tail[rel..rel + length as usize];
    cipher
        .decrypt(encrypted, &p.local_index_iv)
        .map_err(|source| PackError::Cipher {
            context: "decrypting local pack index".to_string(),
            source,
        })
}
