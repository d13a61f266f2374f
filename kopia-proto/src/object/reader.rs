//! Reading objects: index lookup by offset, chunk length checks, and a whole-object
//! reader over a caller-provided [`ContentSource`].

use super::indirect::{IndexError, IndirectEntry, decode_index};
use crate::ids::{ContentId, ObjectId};

/// Deepest nesting of index objects [`read_object`] follows (kopia writes at most a
/// few levels; the limit stops hostile repositories from exhausting the stack).
pub const MAX_NESTING: usize = 64;

/// The read side of a content store.
pub trait ContentSource {
    /// Error of the underlying store.
    type Error;

    /// Returns the bytes of a direct object: the content's plaintext, and for a
    /// `compressed` (`Z`) object that plaintext decompressed by its 4-byte header.
    fn read_direct(&mut self, content: ContentId, compressed: bool)
    -> Result<Vec<u8>, Self::Error>;
}

impl<S: ContentSource + ?Sized> ContentSource for &mut S {
    type Error = S::Error;

    fn read_direct(&mut self, content: ContentId, compressed: bool) -> Result<Vec<u8>, S::Error> {
        (**self).read_direct(content, compressed)
    }
}

/// Why reading an object failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    /// The content store failed.
    #[error("reading a content of the object failed: {0}")]
    Source(E),
    /// An index object is malformed or a chunk has the wrong length.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Index objects nest deeper than [`MAX_NESTING`].
    #[error("object {0} nests index objects deeper than {MAX_NESTING} levels")]
    TooDeep(ObjectId),
}

/// The entries of an indirect object, ready for offset lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeekTable {
    entries: Vec<IndirectEntry>,
}

impl SeekTable {
    /// Wraps decoded entries; an index needs at least one.
    pub fn new(entries: Vec<IndirectEntry>) -> Result<Self, IndexError> {
        if entries.is_empty() {
            return Err(IndexError::NoEntries);
        }
        Ok(SeekTable { entries })
    }

    /// The entries in object order.
    pub fn entries(&self) -> &[IndirectEntry] {
        &self.entries
    }

    /// Object length as kopia computes it: end of the last entry.
    pub fn total_length(&self) -> u64 {
        self.entries.last().map_or(0, IndirectEntry::end)
    }

    /// Index of the entry whose `[start, start+length)` holds `offset` (binary
    /// search, as kopia's reader); `None` when no entry does.
    pub fn find(&self, offset: u64) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.entries.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = &self.entries[mid];
            if offset < e.start {
                hi = mid;
            } else if offset >= e.end() {
                lo = mid + 1;
            } else {
                return Some(mid);
            }
        }
        None
    }
}

/// Checks that a chunk read for `entry` has exactly the length the index states.
pub fn check_chunk_length(entry: &IndirectEntry, actual: usize) -> Result<(), IndexError> {
    if actual as u64 == entry.length {
        Ok(())
    } else {
        Err(IndexError::ChunkLength {
            object: entry.object,
            expected: entry.length,
            actual: actual as u64,
        })
    }
}

/// Reads and parses the index object `index_object` (the ID with one `I` removed).
pub fn load_index<S: ContentSource + ?Sized>(
    src: &mut S,
    index_object: ObjectId,
) -> Result<Vec<IndirectEntry>, ReadError<S::Error>> {
    load_index_at(src, index_object, 0)
}

/// Reads a whole object into memory (directory listings, small files, tests).
pub fn read_object<S: ContentSource + ?Sized>(
    src: &mut S,
    id: ObjectId,
) -> Result<Vec<u8>, ReadError<S::Error>> {
    let mut out = Vec::new();
    read_into(src, id, &mut out, 0)?;
    Ok(out)
}

fn load_index_at<S: ContentSource + ?Sized>(
    src: &mut S,
    index_object: ObjectId,
    depth: usize,
) -> Result<Vec<IndirectEntry>, ReadError<S::Error>> {
    let mut json = Vec::new();
    read_into(src, index_object, &mut json, depth + 1)?;
    Ok(decode_index(&json)?)
}

fn read_into<S: ContentSource + ?Sized>(
    src: &mut S,
    id: ObjectId,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), ReadError<S::Error>> {
    if depth > MAX_NESTING {
        return Err(ReadError::TooDeep(id));
    }
    if let Some(index) = id.index_object_id() {
        let entries = load_index_at(src, index, depth)?;
        for e in &entries {
            let before = out.len();
            read_into(src, e.object, out, depth + 1)?;
            check_chunk_length(e, out.len() - before)?;
        }
        return Ok(());
    }
    let data = src
        .read_direct(id.content_id(), id.is_compressed())
        .map_err(ReadError::Source)?;
    if out.is_empty() {
        *out = data;
    } else {
        out.extend_from_slice(&data);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(start: u64, length: u64) -> IndirectEntry {
        IndirectEntry {
            start,
            length,
            object: "00".parse().unwrap(),
        }
    }

    #[test]
    fn find_by_offset() {
        let t =
            SeekTable::new(vec![entry(0, 10), entry(10, 5), entry(15, 1), entry(16, 0)]).unwrap();
        assert_eq!(t.total_length(), 16);
        assert_eq!(t.find(0), Some(0));
        assert_eq!(t.find(9), Some(0));
        assert_eq!(t.find(10), Some(1));
        assert_eq!(t.find(14), Some(1));
        assert_eq!(t.find(15), Some(2));
        assert_eq!(t.find(16), None);
        assert_eq!(t.find(u64::MAX), None);
        assert!(SeekTable::new(vec![]).is_err());
    }

    #[test]
    fn chunk_length_mismatch() {
        assert!(check_chunk_length(&entry(0, 3), 3).is_ok());
        assert!(matches!(
            check_chunk_length(&entry(0, 3), 4),
            Err(IndexError::ChunkLength {
                expected: 3,
                actual: 4,
                ..
            })
        ));
    }
}
