//! Building index bytes (kopia `index.Builder`, `buildSortedContents`, `BuildShards`).

use std::collections::HashMap;

use super::entry::IndexEntry;
use super::{IndexError, VERSION_1, VERSION_2, v1, v2};
use crate::ids::ContentId;

/// Kopia's `DefaultIndexShardSize`: a flush splits its index only above this many entries.
pub const DEFAULT_SHARD_SIZE: usize = 16_000_000;

/// Writes an index of `version` (1 or 2) over `entries`, byte-for-byte like kopia
/// (sorted by content ID, no random suffix). Duplicate content IDs are an error.
pub fn build_index<'a>(
    entries: impl IntoIterator<Item = &'a IndexEntry>,
    version: u8,
) -> Result<Vec<u8>, IndexError> {
    let mut sorted: Vec<&IndexEntry> = entries.into_iter().collect();
    sorted.sort_unstable_by_key(|e| e.content_id);
    if let Some(w) = sorted
        .windows(2)
        .find(|w| w[0].content_id == w[1].content_id)
    {
        return Err(IndexError::Build {
            version,
            reason: format!("duplicate content ID {}", w[0].content_id),
        });
    }
    build_index_sorted(&sorted, version)
}

/// Like [`build_index`] for entries already strictly ascending by content ID (checked).
pub fn build_index_sorted(sorted: &[&IndexEntry], version: u8) -> Result<Vec<u8>, IndexError> {
    if let Some(w) = sorted
        .windows(2)
        .find(|w| w[0].content_id >= w[1].content_id)
    {
        return Err(IndexError::Build {
            version,
            reason: format!(
                "entries not strictly ascending: {} then {}",
                w[0].content_id, w[1].content_id
            ),
        });
    }
    match version {
        VERSION_1 => v1::build(sorted),
        VERSION_2 => v2::build(sorted),
        v => Err(IndexError::UnsupportedVersion(v)),
    }
}

/// Entries waiting to be written into an index, one per content ID; adding an entry for
/// an ID already present keeps whichever wins by [`IndexEntry::precedence_cmp`].
#[derive(Debug, Clone, Default)]
pub struct IndexBuilder {
    entries: HashMap<ContentId, IndexEntry>,
}

impl IndexBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `e` unless an entry for the same ID that wins over it is already present.
    pub fn add(&mut self, e: IndexEntry) {
        match self.entries.get(&e.content_id) {
            Some(old) if !e.supersedes(old) => {}
            _ => {
                self.entries.insert(e.content_id, e);
            }
        }
    }

    /// The entry for `id`, if any.
    pub fn get(&self, id: &ContentId) -> Option<&IndexEntry> {
        self.entries.get(id)
    }

    /// Number of distinct content IDs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &IndexEntry> {
        self.entries.values()
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Writes one index (no random suffix) of the given version over all entries.
    pub fn build(&self, version: u8) -> Result<Vec<u8>, IndexError> {
        build_index(self.entries.values(), version)
    }

    /// Kopia's `BuildShards(version, stable=true, shard_size)`: one index when there are
    /// at most `shard_size` entries (none when empty), otherwise entries are spread over
    /// `ceil(len / shard_size)` shards by FNV-1a-32 of the content ID string and empty
    /// shards are dropped.
    pub fn build_shards(&self, version: u8, shard_size: usize) -> Result<Vec<Vec<u8>>, IndexError> {
        if shard_size == 0 {
            return Err(IndexError::Build {
                version,
                reason: "shard size must be > 0".to_string(),
            });
        }
        let n = self.entries.len().div_ceil(shard_size);
        if n <= 1 {
            return if self.entries.is_empty() {
                Ok(Vec::new())
            } else {
                Ok(vec![self.build(version)?])
            };
        }
        let mut shards: Vec<Vec<&IndexEntry>> = vec![Vec::new(); n];
        for e in self.entries.values() {
            let s = fnv1a32(e.content_id.to_string().as_bytes()) as usize % n;
            shards[s].push(e);
        }
        shards
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| build_index(s, version))
            .collect()
    }
}

/// 32-bit FNV-1a (Go `hash/fnv.New32a`).
fn fnv1a32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a32_known_values() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }
}
