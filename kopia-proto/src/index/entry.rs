//! The logical index entry (kopia `index.Info`) and the rules that compare entries.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::ids::ContentId;

/// Pack blob ID kopia reports for an entry whose pack-table slot does not exist.
pub const INVALID_PACK_BLOB_ID: &str = "---invalid---";

/// Unix seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z): the deletion
/// watermark of repositories that have none.
pub const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// One content's location and format, as stored in index blobs (spec §7.1).
///
/// `pack_blob_id` is shared (`Arc<str>`) because thousands of entries name the same pack.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    /// The content ID (key of the index).
    pub content_id: ContentId,
    /// Pack blob holding the bytes (deletion markers keep the pack of the content they delete).
    pub pack_blob_id: Arc<str>,
    /// Byte offset of the stored content in the pack.
    pub pack_offset: u32,
    /// Stored (encrypted, maybe compressed) length.
    pub packed_length: u32,
    /// Plaintext length before compression.
    pub original_length: u32,
    /// Unix seconds when the entry was written (writer's clock).
    pub timestamp_seconds: i64,
    /// Deletion marker.
    pub deleted: bool,
    /// Repository format version at write time.
    pub format_version: u8,
    /// Compression header ID of the stored bytes, 0 = uncompressed.
    pub compression_header_id: u32,
    /// Reserved, always 0 in valid repositories.
    pub encryption_key_id: u8,
}

impl IndexEntry {
    /// Kopia's merge precedence (`contentInfoGreaterThanStruct`): larger timestamp wins,
    /// then not-deleted beats deleted, then the lexicographically larger pack blob ID.
    pub fn precedence_cmp(&self, other: &IndexEntry) -> Ordering {
        self.timestamp_seconds
            .cmp(&other.timestamp_seconds)
            .then_with(|| other.deleted.cmp(&self.deleted))
            .then_with(|| {
                self.pack_blob_id
                    .as_bytes()
                    .cmp(other.pack_blob_id.as_bytes())
            })
    }

    /// True when `self` wins over `other` for the same content ID (strictly greater).
    pub fn supersedes(&self, other: &IndexEntry) -> bool {
        self.precedence_cmp(other) == Ordering::Greater
    }

    /// A deletion marker for this entry written at `timestamp_seconds`
    /// (kopia `deletedInfo`: same pack, offset and lengths, `deleted` set).
    pub fn to_deleted(&self, timestamp_seconds: i64) -> IndexEntry {
        IndexEntry {
            deleted: true,
            timestamp_seconds,
            ..self.clone()
        }
    }
}

/// True when a merged winner must be treated as nonexistent: it is deleted and not newer
/// than the deletion watermark (`None` = Go's zero time, as in legacy repositories).
pub fn should_ignore(entry: &IndexEntry, deletion_watermark: Option<i64>) -> bool {
    entry.deleted && entry.timestamp_seconds <= deletion_watermark.unwrap_or(GO_ZERO_TIME_UNIX)
}

/// Timestamp for a new entry (kopia `contentWriteTime`): `now`, or `previous + 1` when the
/// content already exists with a timestamp ≥ `now`, so that the new entry wins the merge.
pub fn content_write_time(now_unix: i64, previous: Option<i64>) -> i64 {
    match previous {
        Some(p) if p >= now_unix => p.saturating_add(1),
        _ => now_unix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: i64, deleted: bool, pack: &str) -> IndexEntry {
        IndexEntry {
            content_id: "0011".parse().unwrap(),
            pack_blob_id: pack.into(),
            pack_offset: 0,
            packed_length: 1,
            original_length: 1,
            timestamp_seconds: ts,
            deleted,
            format_version: 2,
            compression_header_id: 0,
            encryption_key_id: 0,
        }
    }

    #[test]
    fn precedence_timestamp_then_deleted_then_pack() {
        assert!(entry(2, true, "a").supersedes(&entry(1, false, "z")));
        assert!(entry(1, false, "a").supersedes(&entry(1, true, "z")));
        assert!(!entry(1, true, "z").supersedes(&entry(1, false, "a")));
        assert!(entry(1, true, "b").supersedes(&entry(1, true, "a")));
        assert!(!entry(1, true, "a").supersedes(&entry(1, true, "a")));
    }

    #[test]
    fn watermark_hides_old_deletions_only() {
        assert!(should_ignore(&entry(10, true, "p"), Some(10)));
        assert!(!should_ignore(&entry(11, true, "p"), Some(10)));
        assert!(!should_ignore(&entry(5, false, "p"), Some(10)));
        assert!(!should_ignore(&entry(5, true, "p"), None));
        assert!(should_ignore(&entry(GO_ZERO_TIME_UNIX, true, "p"), None));
    }

    #[test]
    fn write_time_beats_previous() {
        assert_eq!(content_write_time(100, None), 100);
        assert_eq!(content_write_time(100, Some(50)), 100);
        assert_eq!(content_write_time(100, Some(100)), 101);
        assert_eq!(content_write_time(100, Some(200)), 201);
    }

    #[test]
    fn deleted_copy_keeps_location() {
        let e = entry(5, false, "p1").to_deleted(9);
        assert!(e.deleted);
        assert_eq!(e.timestamp_seconds, 9);
        assert_eq!(&*e.pack_blob_id, "p1");
    }
}
