//! Pack blobs (spec §6): naming, session IDs, building a pack (preamble, encrypted
//! contents, padding, encrypted local index, postamble) and reading contents back.
//!
//! Encryption and hashing are parameters ([`ContentCipher`], a hash closure): this module
//! only lays out bytes. Compression is applied by the caller before
//! [`PackBuilder::add_content`] and undone after [`decrypt_content`].

mod builder;
mod naming;
mod postamble;
mod read;
#[cfg(test)]
mod tests;

pub use builder::{FinishedPack, PACK_PADDING_UNIT, PACK_PREAMBLE_LENGTH, PackBuilder};
pub use naming::{
    PACK_PREFIX_DATA, PACK_PREFIX_METADATA, PackIdParts, SessionInfo, generate_pack_id,
    generate_session_id, pack_id, pack_prefix_for, parse_pack_id, session_id, session_month,
};
pub use postamble::{Postamble, find_postamble};
pub use read::{LOCAL_INDEX_TAIL_SIZE, content_slice, decrypt_content, recover_local_index};

use crate::index::IndexError;

/// Failure reported by a [`ContentCipher`] (wrong key, tag mismatch, short input, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CipherError(pub String);

/// Content encryption as used inside packs (spec §5.4): an AEAD keyed per IV.
///
/// The `encryption` module's encryptor implements this; tests may use a local one.
/// `iv` is 16 bytes for contents and the full hash (16 or 32 bytes) for local indexes.
pub trait ContentCipher {
    /// Appends the ciphertext of `plaintext` (nonce ‖ sealed ‖ tag) to `out`.
    fn encrypt_into(
        &self,
        plaintext: &[u8],
        iv: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CipherError>;
    /// Decrypts and authenticates one ciphertext produced by `encrypt_into`.
    fn decrypt(&self, ciphertext: &[u8], iv: &[u8]) -> Result<Vec<u8>, CipherError>;
}

/// Why a pack could not be built, parsed or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// Encryption or decryption failed.
    #[error("{context}: {source}")]
    Cipher {
        /// What was being encrypted or decrypted.
        context: String,
        /// The cipher's error.
        source: CipherError,
    },
    /// An index entry points outside the pack bytes given.
    #[error(
        "content {content_id} at {offset}+{length} lies outside pack {pack_blob_id} ({len} bytes)"
    )]
    OutOfBounds {
        /// Content being read.
        content_id: String,
        /// Pack named by the entry.
        pack_blob_id: String,
        /// Entry offset.
        offset: u64,
        /// Entry length.
        length: u64,
        /// Bytes available.
        len: usize,
    },
    /// The stored bytes handed to [`decrypt_content`] are not `packed_length` long.
    #[error("content {content_id}: got {got} stored bytes, index says {expected}")]
    LengthMismatch {
        /// Content being read.
        content_id: String,
        /// Bytes given.
        got: usize,
        /// `packed_length` from the index.
        expected: u32,
    },
    /// The entry names an encryption key other than 0 (reserved by kopia).
    #[error("content {content_id}: unsupported encryption key ID {key_id}")]
    UnsupportedKeyId {
        /// Content being read.
        content_id: String,
        /// The key ID found.
        key_id: u8,
    },
    /// No valid postamble at the end of the bytes.
    #[error("no valid pack postamble: {0}")]
    BadPostamble(String),
    /// The postamble's local index is not inside the bytes that were read.
    #[error("local index at {offset}+{length} is outside the bytes read ({start}..{end})")]
    LocalIndexOutOfRange {
        /// Absolute offset from the postamble.
        offset: u64,
        /// Length from the postamble.
        length: u64,
        /// Absolute offset of the first byte read.
        start: u64,
        /// Absolute offset one past the last byte read.
        end: u64,
    },
    /// A pack or session ID is malformed.
    #[error("invalid {what} {id:?}: {reason}")]
    BadId {
        /// "pack blob ID" or "session ID".
        what: &'static str,
        /// The offending input.
        id: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A content was added with parameters that cannot be indexed.
    #[error("cannot add content {content_id} to pack: {reason}")]
    BadContent {
        /// The content.
        content_id: String,
        /// What is wrong.
        reason: String,
    },
    /// Building the local index failed.
    #[error("local index: {0}")]
    Index(#[from] IndexError),
    /// The pack grew beyond what 32-bit offsets can address.
    #[error("pack {pack_blob_id} is {len} bytes; offsets must fit in 32 bits")]
    TooLarge {
        /// The pack.
        pack_blob_id: String,
        /// Its size.
        len: usize,
    },
}
