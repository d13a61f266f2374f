//! Content indexes: the map from content ID to (pack blob, offset, length, …).
//!
//! Kopia's index formats 1 and 2 (`repo/content/index/index_v1.go`, `index_v2.go`),
//! the logical entry and its merge precedence (`info.go`, `merged.go`), the index
//! builder (`index_builder.go`), and the pure parts of the two index blob managers:
//! epoch-manager naming and "which index blobs to load" ([`epoch`]) and the legacy
//! (format v1) active-set computation ([`legacy`]).
//!
//! Everything here works on **decrypted** index bytes; blob crypto lives in the
//! `encryption` module.

mod builder;
mod entry;
pub mod epoch;
pub mod legacy;
mod merge;
mod reader;
#[cfg(test)]
mod tests;
mod v1;
mod v2;

pub use builder::{DEFAULT_SHARD_SIZE, IndexBuilder, build_index, build_index_sorted};
pub use entry::{
    GO_ZERO_TIME_UNIX, INVALID_PACK_BLOB_ID, IndexEntry, content_write_time, should_ignore,
};
pub use merge::{MergedIndex, MergedIter};
pub use reader::{Index, IndexIter};
pub use v1::V1_ENTRY_SIZE;
pub use v2::{V2_MAX_CONTENT_LENGTH, V2_MAX_PACK_OFFSET};

use crate::ids::ContentId;

/// Index format version 1 (no compression, no original length).
pub const VERSION_1: u8 = 1;
/// Index format version 2 (content-level compression, format table).
pub const VERSION_2: u8 = 2;

/// Largest key: one prefix byte plus the longest hash.
pub(crate) const MAX_KEY_SIZE: usize = 1 + crate::ids::MAX_HASH_LEN;

/// Why index bytes could not be read or an index could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The buffer ends before a region the header promises.
    #[error("truncated index: {what} needs bytes {start}..{end} but the index has {len} bytes")]
    Truncated {
        /// Which region was being read.
        what: &'static str,
        /// First byte of the region.
        start: u64,
        /// One past the last byte of the region.
        end: u64,
        /// Actual buffer length.
        len: usize,
    },
    /// The first byte is not a known index version.
    #[error("unsupported index version {0} (expected 1 or 2)")]
    BadVersion(u8),
    /// A header field is out of its allowed range.
    #[error("invalid index v{version} header: {reason}")]
    BadHeader {
        /// Index version being parsed.
        version: u8,
        /// What is wrong.
        reason: String,
    },
    /// An entry key is not a valid binary content ID.
    #[error("invalid key of entry #{position}: {reason}")]
    BadKey {
        /// Entry number (0-based).
        position: usize,
        /// What is wrong.
        reason: String,
    },
    /// A pack blob name referenced by the index is not usable.
    #[error("invalid pack blob name #{position}: {reason}")]
    BadPackName {
        /// Pack table slot (v2) or entry number (v1).
        position: usize,
        /// What is wrong.
        reason: String,
    },
    /// A lookup used a content ID whose binary length differs from the index key size.
    #[error("content ID {id} has {len}-byte key but the index uses {key_size}-byte keys")]
    KeySizeMismatch {
        /// The ID looked up.
        id: ContentId,
        /// Its binary length.
        len: usize,
        /// The index key size.
        key_size: usize,
    },
    /// The entries cannot be written in the requested format.
    #[error("cannot build index v{version}: {reason}")]
    Build {
        /// Requested index version.
        version: u8,
        /// What prevents it.
        reason: String,
    },
    /// The requested index version cannot be written.
    #[error("unsupported index version {0} for writing (expected 1 or 2)")]
    UnsupportedVersion(u8),
}

/// Reads a big-endian integer of `N` bytes (N ≤ 8) from a slice of exactly that length.
#[inline]
pub(crate) fn be_uint(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

/// Writes the binary key of `id` into `buf` and returns the used part.
#[inline]
pub(crate) fn key_of<'a>(id: &ContentId, buf: &'a mut [u8; MAX_KEY_SIZE]) -> &'a [u8] {
    let h = id.hash();
    buf[0] = id.prefix().unwrap_or(0);
    buf[1..=h.len()].copy_from_slice(h);
    &buf[..=h.len()]
}
