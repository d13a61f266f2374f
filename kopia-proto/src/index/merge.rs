//! Merging entries from many index blobs (kopia `index.Merged` plus the deletion
//! watermark filter of `committedContentIndex`, spec §7.8).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::entry::{IndexEntry, should_ignore};
use super::reader::{Index, IndexIter};
use super::{IndexError, MAX_KEY_SIZE};
use crate::ids::ContentId;

/// The set of loaded index blobs of a repository, read as one index.
///
/// For a content ID present in several indexes the winner is the entry with the greatest
/// [`IndexEntry::precedence_cmp`]; a deleted winner not newer than the deletion watermark
/// is treated as absent. A deleted winner newer than the watermark **is** returned (kopia's
/// read-by-ID path returns it; listings should skip entries with `deleted` set).
#[derive(Debug, Clone)]
pub struct MergedIndex<B = Vec<u8>> {
    indexes: Vec<Index<B>>,
    deletion_watermark: Option<i64>,
}

impl<B: AsRef<[u8]>> MergedIndex<B> {
    /// Merges `indexes` with the given deletion watermark (Unix seconds; `None` for
    /// legacy repositories and epoch repositories without `xw` blobs).
    pub fn new(indexes: Vec<Index<B>>, deletion_watermark: Option<i64>) -> Self {
        MergedIndex {
            indexes,
            deletion_watermark,
        }
    }

    /// The underlying indexes.
    pub fn indexes(&self) -> &[Index<B>] {
        &self.indexes
    }

    /// The deletion watermark in effect.
    pub fn deletion_watermark(&self) -> Option<i64> {
        self.deletion_watermark
    }

    /// Sum of the entry counts of all indexes (duplicates counted once per index).
    pub fn approximate_len(&self) -> usize {
        self.indexes.iter().map(Index::len).sum()
    }

    /// The winning entry for `id` across all indexes, ignoring the watermark.
    pub fn get_winner(&self, id: &ContentId) -> Result<Option<IndexEntry>, IndexError> {
        let mut best: Option<IndexEntry> = None;
        for ndx in &self.indexes {
            if let Some(e) = ndx.get(id)? {
                match &best {
                    Some(b) if !e.supersedes(b) => {}
                    _ => best = Some(e),
                }
            }
        }
        Ok(best)
    }

    /// Looks up `id` as kopia's `ContentInfo` does: the winner, or `None` when absent or
    /// hidden by the deletion watermark. The result may be a (recent) deletion marker.
    pub fn get(&self, id: &ContentId) -> Result<Option<IndexEntry>, IndexError> {
        Ok(self
            .get_winner(id)?
            .filter(|e| !should_ignore(e, self.deletion_watermark)))
    }

    /// All winners in content-ID order, minus those hidden by the watermark.
    /// Deletion markers newer than the watermark are included.
    pub fn iter(&self) -> MergedIter<'_, B> {
        MergedIter::new(
            self.indexes.iter().map(Index::iter),
            self.deletion_watermark,
        )
    }

    /// Like [`MergedIndex::iter`] restricted to content IDs with the given prefix letter.
    pub fn iter_prefix(&self, prefix: Option<u8>) -> MergedIter<'_, B> {
        MergedIter::new(
            self.indexes.iter().map(|i| i.iter_prefix(prefix)),
            self.deletion_watermark,
        )
    }
}

/// Heap item: the next key of one source (smallest key first, ties by source number).
#[derive(PartialEq, Eq)]
struct Head {
    key: [u8; MAX_KEY_SIZE],
    key_len: u8,
    source: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key[..self.key_len as usize]
            .cmp(&other.key[..other.key_len as usize])
            .then(self.source.cmp(&other.source))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordered k-way merge over several indexes, yielding one winner per content ID.
pub struct MergedIter<'a, B> {
    sources: Vec<IndexIter<'a, B>>,
    heap: BinaryHeap<Reverse<Head>>,
    watermark: Option<i64>,
}

impl<'a, B: AsRef<[u8]>> MergedIter<'a, B> {
    fn new(sources: impl Iterator<Item = IndexIter<'a, B>>, watermark: Option<i64>) -> Self {
        let sources: Vec<_> = sources.collect();
        let mut it = MergedIter {
            heap: BinaryHeap::with_capacity(sources.len()),
            sources,
            watermark,
        };
        for s in 0..it.sources.len() {
            it.push_head(s);
        }
        it
    }

    fn push_head(&mut self, source: usize) {
        let src = &self.sources[source];
        if src.len() == 0 {
            return;
        }
        let index = src.index();
        let pos = src.position();
        let mut key = [0u8; MAX_KEY_SIZE];
        let k = index.raw_key(pos);
        key[..k.len()].copy_from_slice(k);
        self.heap.push(Reverse(Head {
            key,
            key_len: k.len() as u8,
            source,
        }));
    }

    /// Next winner regardless of the watermark.
    fn next_winner(&mut self) -> Option<IndexEntry> {
        let Reverse(first) = self.heap.pop()?;
        let mut best = self.take(first.source)?;
        while let Some(Reverse(h)) = self.heap.peek() {
            if h.key[..h.key_len as usize] != first.key[..first.key_len as usize] {
                break;
            }
            let source = h.source;
            self.heap.pop();
            if let Some(e) = self.take(source) {
                if e.supersedes(&best) {
                    best = e;
                }
            }
        }
        Some(best)
    }

    /// Takes the current entry of `source` and re-queues its next key.
    fn take(&mut self, source: usize) -> Option<IndexEntry> {
        let e = self.sources[source].next();
        self.push_head(source);
        e
    }
}

impl<B: AsRef<[u8]>> Iterator for MergedIter<'_, B> {
    type Item = IndexEntry;

    fn next(&mut self) -> Option<IndexEntry> {
        loop {
            let e = self.next_winner()?;
            if !should_ignore(&e, self.watermark) {
                return Some(e);
            }
        }
    }
}
