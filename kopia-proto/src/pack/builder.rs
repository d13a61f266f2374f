//! Building one pack blob (kopia `pendingPackInfo`, `addToPackUnlocked`,
//! `preparePackDataContent`, `appendPackFileIndexRecoveryData`; spec §6.2).

use std::collections::HashMap;
use std::sync::Arc;

use rand::RngCore;

use super::postamble::Postamble;
use super::{ContentCipher, PackError};
use crate::ids::ContentId;
use crate::index::{IndexEntry, build_index};

/// Random bytes at the start of every pack (after the format bytes of format-v1 repositories).
pub const PACK_PREAMBLE_LENGTH: usize = 32;
/// Packs are padded with 1..=4096 random bytes to the next multiple of this before the local index.
pub const PACK_PADDING_UNIT: usize = 4096;
/// Random bytes kopia appends to a local index so that equal indexes encrypt differently.
const LOCAL_INDEX_RANDOM_SUFFIX: usize = 32;

/// A pack being filled: the bytes written so far and the index entries that belong to it.
///
/// Entries are kept one per content ID; adding the same ID again replaces the entry (the
/// earlier bytes stay in the pack, unreferenced), as kopia's `currentPackItems` map does.
#[derive(Debug, Clone)]
pub struct PackBuilder {
    pack_id: Arc<str>,
    data: Vec<u8>,
    items: HashMap<ContentId, IndexEntry>,
}

/// The result of [`PackBuilder::finish`].
#[derive(Debug, Clone)]
pub struct FinishedPack {
    /// The pack blob ID.
    pub pack_id: Arc<str>,
    /// Bytes to put as the pack blob; `None` when the pack holds no content of its own
    /// (only deletion markers of contents stored elsewhere), which kopia does not write.
    pub bytes: Option<Vec<u8>>,
    /// Index entries for the session's index, sorted by content ID.
    pub entries: Vec<IndexEntry>,
}

impl PackBuilder {
    /// Starts a pack: `format_bytes` (only in format-v1 repositories, else empty) then
    /// [`PACK_PREAMBLE_LENGTH`] random bytes from `rng`.
    pub fn new<R: RngCore + ?Sized>(
        pack_id: impl Into<Arc<str>>,
        format_bytes: &[u8],
        rng: &mut R,
    ) -> Self {
        let mut preamble = [0u8; PACK_PREAMBLE_LENGTH];
        rng.fill_bytes(&mut preamble);
        Self::with_preamble(pack_id, format_bytes, &preamble)
    }

    /// Starts a pack with an explicit preamble (reproducible output for tests and vectors).
    pub fn with_preamble(
        pack_id: impl Into<Arc<str>>,
        format_bytes: &[u8],
        preamble: &[u8],
    ) -> Self {
        let mut data = Vec::with_capacity(format_bytes.len() + preamble.len());
        data.extend_from_slice(format_bytes);
        data.extend_from_slice(preamble);
        PackBuilder {
            pack_id: pack_id.into(),
            data,
            items: HashMap::new(),
        }
    }

    /// The pack blob ID.
    pub fn pack_id(&self) -> &Arc<str> {
        &self.pack_id
    }

    /// Bytes written so far (compare with `maxPackSize` after each content).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when no entry has been added.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// True once the pack reached `max_pack_size` and should be finished and written.
    pub fn is_full(&self, max_pack_size: usize) -> bool {
        self.data.len() >= max_pack_size
    }

    /// The entry for `id` added to this pack, if any.
    pub fn entry(&self, id: &ContentId) -> Option<&IndexEntry> {
        self.items.get(id)
    }

    /// All entries added so far, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &IndexEntry> {
        self.items.values()
    }

    /// Stored (encrypted) bytes of an entry of this pack, for reads before the pack is written.
    pub fn pending_content(&self, entry: &IndexEntry) -> Option<&[u8]> {
        if *entry.pack_blob_id != *self.pack_id {
            return None;
        }
        let start = entry.pack_offset as usize;
        self.data
            .get(start..start.checked_add(entry.packed_length as usize)?)
    }

    /// Encrypts `payload` (the content bytes, already compressed and prefixed with the
    /// 4-byte header when `compression_header_id != 0`) with the content's IV, appends it
    /// and records the entry. `original_length` is the uncompressed length.
    #[allow(clippy::too_many_arguments)]
    pub fn add_content<C: ContentCipher + ?Sized>(
        &mut self,
        cipher: &C,
        content_id: ContentId,
        payload: &[u8],
        compression_header_id: u32,
        original_length: u32,
        timestamp_seconds: i64,
        format_version: u8,
    ) -> Result<IndexEntry, PackError> {
        let offset = self.data.len();
        let pack_offset = u32::try_from(offset).map_err(|_| self.too_large())?;
        if let Err(source) = cipher.encrypt_into(payload, &content_id.iv(), &mut self.data) {
            self.data.truncate(offset);
            return Err(PackError::Cipher {
                context: format!("encrypting content {content_id}"),
                source,
            });
        }
        let Ok(packed_length) = u32::try_from(self.data.len() - offset) else {
            self.data.truncate(offset);
            return Err(PackError::BadContent {
                content_id: content_id.to_string(),
                reason: "encrypted length does not fit in 32 bits".to_string(),
            });
        };
        let entry = IndexEntry {
            content_id,
            pack_blob_id: self.pack_id.clone(),
            pack_offset,
            packed_length,
            original_length,
            timestamp_seconds,
            deleted: false,
            format_version,
            compression_header_id,
            encryption_key_id: 0,
        };
        self.items.insert(content_id, entry.clone());
        Ok(entry)
    }

    /// Records a deletion marker (see [`IndexEntry::to_deleted`]); it keeps the pack,
    /// offset and lengths of the content it deletes and adds no bytes.
    pub fn add_deletion_marker(&mut self, marker: IndexEntry) -> Result<(), PackError> {
        if !marker.deleted {
            return Err(PackError::BadContent {
                content_id: marker.content_id.to_string(),
                reason: "deletion marker without the deleted flag".to_string(),
            });
        }
        self.items.insert(marker.content_id, marker);
        Ok(())
    }

    fn too_large(&self) -> PackError {
        PackError::TooLarge {
            pack_blob_id: self.pack_id.to_string(),
            len: self.data.len(),
        }
    }

    /// Completes the pack: random padding to a multiple of [`PACK_PADDING_UNIT`] (always
    /// 1..=4096 bytes), the local index (format `index_version` over all entries, then 32
    /// random bytes) encrypted with IV = `hash(local index)`, and the postamble.
    pub fn finish<C: ContentCipher + ?Sized, R: RngCore + ?Sized>(
        mut self,
        cipher: &C,
        hash: &dyn Fn(&[u8]) -> Vec<u8>,
        index_version: u8,
        rng: &mut R,
    ) -> Result<FinishedPack, PackError> {
        let mut entries: Vec<IndexEntry> = self.items.into_values().collect();
        entries.sort_unstable_by_key(|e| e.content_id);
        let has_content = entries.iter().any(|e| e.pack_blob_id == self.pack_id);
        if !has_content {
            return Ok(FinishedPack {
                pack_id: self.pack_id,
                bytes: None,
                entries,
            });
        }

        let missing = PACK_PADDING_UNIT - self.data.len() % PACK_PADDING_UNIT;
        let start = self.data.len();
        self.data.resize(start + missing, 0);
        rng.fill_bytes(&mut self.data[start..]);

        let mut local = build_index(&entries, index_version)?;
        let start = local.len();
        local.resize(start + LOCAL_INDEX_RANDOM_SUFFIX, 0);
        rng.fill_bytes(&mut local[start..]);
        let iv = hash(&local);

        let offset = self.data.len();
        cipher
            .encrypt_into(&local, &iv, &mut self.data)
            .map_err(|source| PackError::Cipher {
                context: format!("encrypting local index of pack {}", self.pack_id),
                source,
            })?;
        let length = self.data.len() - offset;
        let (Ok(local_index_offset), Ok(local_index_length)) =
            (u32::try_from(offset), u32::try_from(length))
        else {
            return Err(PackError::TooLarge {
                pack_blob_id: self.pack_id.to_string(),
                len: self.data.len(),
            });
        };
        let postamble = Postamble {
            local_index_iv: iv,
            local_index_offset,
            local_index_length,
        }
        .to_bytes()?;
        self.data.extend_from_slice(&postamble);
        Ok(FinishedPack {
            pack_id: self.pack_id,
            bytes: Some(self.data),
            entries,
        })
    }
}
