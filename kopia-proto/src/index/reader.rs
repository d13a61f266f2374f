//! A parsed, validated index (format 1 or 2) over decrypted bytes: lookup by content ID
//! with binary search over the raw entries (nothing is materialised) and ordered iteration.

use super::entry::IndexEntry;
use super::v1::{self, V1Layout};
use super::v2::{self, V2Layout};
use super::{IndexError, MAX_KEY_SIZE, VERSION_1, VERSION_2, key_of};
use crate::ids::ContentId;

#[derive(Debug, Clone)]
enum Layout {
    V1(V1Layout),
    V2(V2Layout),
}

/// One decrypted index blob (or local pack index), validated at [`Index::open`].
///
/// `B` is the byte storage: `&[u8]`, `Vec<u8>`, `Arc<[u8]>`, … Lookups binary-search the
/// raw sorted entries; only the pack-name and format tables are decoded up front.
#[derive(Debug, Clone)]
pub struct Index<B = Vec<u8>> {
    data: B,
    layout: Layout,
    entries_offset: usize,
    key_size: usize,
    stride: usize,
    count: usize,
}

impl<B: AsRef<[u8]>> Index<B> {
    /// Parses index bytes of either version (chosen by the first byte).
    ///
    /// `v1_overhead` is the encryption overhead (28 for both supported algorithms) from
    /// which format 1 derives `original_length = packed_length - overhead`; format 2 ignores it.
    /// Every offset, count and length is checked against the buffer; trailing bytes (the
    /// random suffix of local pack indexes) are ignored.
    pub fn open(data: B, v1_overhead: u32) -> Result<Self, IndexError> {
        let bytes = data.as_ref();
        let (layout, entries_offset, key_size, entry_size, count) = match bytes.first() {
            None => {
                return Err(IndexError::Truncated {
                    what: "index version byte",
                    start: 0,
                    end: 1,
                    len: 0,
                });
            }
            Some(&VERSION_1) => {
                let l = v1::parse(bytes, v1_overhead)?;
                let (k, c) = (l.key_size, l.count);
                (Layout::V1(l), v1::HEADER_SIZE, k, v1::V1_ENTRY_SIZE, c)
            }
            Some(&VERSION_2) => {
                let l = v2::parse(bytes)?;
                let (k, e, c) = (l.key_size, l.entry_size, l.count);
                (Layout::V2(l), v2::HEADER_SIZE, k, e, c)
            }
            Some(&v) => return Err(IndexError::BadVersion(v)),
        };
        let index = Index {
            data,
            layout,
            entries_offset,
            key_size,
            stride: key_size + entry_size,
            count,
        };
        index.check_keys()?;
        Ok(index)
    }

    /// Every key must be a valid binary content ID (prefix byte 0 or `g`..`z`), so that
    /// lookups and iteration cannot fail later.
    fn check_keys(&self) -> Result<(), IndexError> {
        for i in 0..self.count {
            let p = self.raw_key(i)[0];
            if p != 0 && !(b'g'..=b'z').contains(&p) {
                return Err(IndexError::BadKey {
                    position: i,
                    reason: format!("prefix byte 0x{p:02x} is neither 0 nor a letter g..z"),
                });
            }
        }
        Ok(())
    }

    /// Index format version (1 or 2).
    pub fn version(&self) -> u8 {
        match self.layout {
            Layout::V1(_) => VERSION_1,
            Layout::V2(_) => VERSION_2,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the index holds no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Key size in bytes (1 + hash length), as stored in the header.
    pub fn key_size(&self) -> usize {
        self.key_size
    }

    /// The underlying bytes.
    pub fn bytes(&self) -> &[u8] {
        self.data.as_ref()
    }

    /// Raw key of entry `i` (`i < count`, so inside the region validated by `open`).
    #[inline]
    pub(crate) fn raw_key(&self, i: usize) -> &[u8] {
        let off = self.entries_offset + i * self.stride;
        &self.data.as_ref()[off..off + self.key_size]
    }

    /// Decodes entry `i` (`i < count`).
    fn entry_at(&self, i: usize) -> IndexEntry {
        let off = self.entries_offset + i * self.stride;
        let raw = &self.data.as_ref()[off..off + self.stride];
        let (key, value) = raw.split_at(self.key_size);
        let id = ContentId::from_binary(key)
            .expect("index keys are validated by Index::open (size 2..=33, prefix 0 or g..z)");
        match &self.layout {
            Layout::V1(l) => l.decode(id, value),
            Layout::V2(l) => l.decode(id, value),
        }
    }

    /// First position whose key is ≥ `key` (bytewise).
    fn lower_bound(&self, key: &[u8]) -> usize {
        let (mut lo, mut hi) = (0usize, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.raw_key(mid) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Looks up a content ID. `Ok(None)` when absent (or the index is empty); an error
    /// when the ID's binary length differs from the index key size (as kopia).
    pub fn get(&self, id: &ContentId) -> Result<Option<IndexEntry>, IndexError> {
        if self.count == 0 {
            return Ok(None);
        }
        let mut buf = [0u8; MAX_KEY_SIZE];
        let key = key_of(id, &mut buf);
        if key.len() != self.key_size {
            return Err(IndexError::KeySizeMismatch {
                id: *id,
                len: key.len(),
                key_size: self.key_size,
            });
        }
        let pos = self.lower_bound(key);
        if pos < self.count && self.raw_key(pos) == key {
            Ok(Some(self.entry_at(pos)))
        } else {
            Ok(None)
        }
    }

    /// All entries in content-ID order.
    pub fn iter(&self) -> IndexIter<'_, B> {
        IndexIter {
            index: self,
            pos: 0,
            end: self.count,
        }
    }

    /// Entries whose content ID has the given prefix letter (`None` = unprefixed data
    /// contents), in order. Used e.g. to scan all `m` (manifest) contents.
    pub fn iter_prefix(&self, prefix: Option<u8>) -> IndexIter<'_, B> {
        let p = prefix.unwrap_or(0);
        let (mut lo, mut hi) = (0usize, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.raw_key(mid)[0] < p {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let start = lo;
        let mut hi = self.count;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.raw_key(mid)[0] <= p {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        IndexIter {
            index: self,
            pos: start,
            end: lo,
        }
    }

    /// Entries with content ID ≥ `start`, in order.
    pub fn iter_from(&self, start: &ContentId) -> IndexIter<'_, B> {
        let mut buf = [0u8; MAX_KEY_SIZE];
        let key = key_of(start, &mut buf);
        IndexIter {
            index: self,
            pos: self.lower_bound(key),
            end: self.count,
        }
    }
}

/// Iterator over a contiguous range of entries of one [`Index`].
#[derive(Debug, Clone)]
pub struct IndexIter<'a, B> {
    index: &'a Index<B>,
    pos: usize,
    end: usize,
}

impl<'a, B: AsRef<[u8]>> IndexIter<'a, B> {
    /// Position of the next entry in the index (for merging).
    pub(crate) fn position(&self) -> usize {
        self.pos
    }
    /// The index iterated.
    pub(crate) fn index(&self) -> &'a Index<B> {
        self.index
    }
}

impl<B: AsRef<[u8]>> Iterator for IndexIter<'_, B> {
    type Item = IndexEntry;

    fn next(&mut self) -> Option<IndexEntry> {
        if self.pos >= self.end {
            return None;
        }
        let e = self.index.entry_at(self.pos);
        self.pos += 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end.saturating_sub(self.pos);
        (n, Some(n))
    }
}

impl<B: AsRef<[u8]>> ExactSizeIterator for IndexIter<'_, B> {}
