//! Index format 1 (`repo/content/index/index_v1.go`, spec §7.3): header parsing,
//! entry decoding and the byte-exact writer.

use std::collections::HashMap;
use std::sync::Arc;

use super::entry::IndexEntry;
use super::{IndexError, MAX_KEY_SIZE, VERSION_1, be_uint, key_of};

/// Size of the fixed v1 header.
pub(crate) const HEADER_SIZE: usize = 8;
/// Size of every v1 entry value.
pub const V1_ENTRY_SIZE: usize = 20;
/// Key size kopia writes for an index with no entries.
const EMPTY_KEY_SIZE: u8 = 255;
const DELETED_FLAG: u32 = 0x8000_0000;
const MAX_TIMESTAMP: i64 = (1 << 48) - 1;

/// Parsed v1 header plus all pack names, pre-read and checked.
#[derive(Debug, Clone)]
pub(crate) struct V1Layout {
    pub(crate) key_size: usize,
    pub(crate) count: usize,
    /// (name offset, name length) → name.
    names: HashMap<(u32, u8), Arc<str>>,
    overhead: u32,
}

fn bad_header(reason: impl Into<String>) -> IndexError {
    IndexError::BadHeader {
        version: VERSION_1,
        reason: reason.into(),
    }
}

/// Validates the header, every entry and every referenced pack name against `data`.
///
/// `overhead` is the encryption overhead used to derive `original_length`
/// (v1 stores only the packed length).
pub(crate) fn parse(data: &[u8], overhead: u32) -> Result<V1Layout, IndexError> {
    let len = data.len();
    let header = data.get(..HEADER_SIZE).ok_or(IndexError::Truncated {
        what: "v1 header",
        start: 0,
        end: HEADER_SIZE as u64,
        len,
    })?;
    if header[0] != VERSION_1 {
        return Err(IndexError::BadVersion(header[0]));
    }
    let key_size = header[1] as usize;
    let value_size = be_uint(&header[2..4]) as usize;
    let count = be_uint(&header[4..8]);
    if key_size <= 1 {
        return Err(bad_header(format!("key size {key_size} must be > 1")));
    }
    if value_size != V1_ENTRY_SIZE {
        return Err(bad_header(format!(
            "entry size {value_size} (expected {V1_ENTRY_SIZE})"
        )));
    }
    if count > 0 && key_size > MAX_KEY_SIZE {
        return Err(bad_header(format!(
            "key size {key_size} exceeds {MAX_KEY_SIZE} (1 + longest hash)"
        )));
    }
    let stride = key_size + value_size;
    let end = HEADER_SIZE as u64 + count * stride as u64;
    if end > len as u64 {
        return Err(IndexError::Truncated {
            what: "v1 entries",
            start: HEADER_SIZE as u64,
            end,
            len,
        });
    }
    let count = count as usize;

    let mut names: HashMap<(u32, u8), Arc<str>> = HashMap::new();
    for (i, e) in data[HEADER_SIZE..end as usize]
        .chunks_exact(stride)
        .enumerate()
    {
        let v = &e[key_size..];
        let name_len = v[7];
        let name_off = be_uint(&v[8..12]) as u32;
        if names.contains_key(&(name_off, name_len)) {
            continue;
        }
        let name_end = u64::from(name_off) + u64::from(name_len);
        if name_end > len as u64 {
            return Err(IndexError::BadPackName {
                position: i,
                reason: format!(
                    "name bytes {name_off}..{name_end} are outside the {len}-byte index"
                ),
            });
        }
        let name =
            std::str::from_utf8(&data[name_off as usize..name_end as usize]).map_err(|_| {
                IndexError::BadPackName {
                    position: i,
                    reason: "name is not UTF-8".to_string(),
                }
            })?;
        names.insert((name_off, name_len), Arc::from(name));
    }

    Ok(V1Layout {
        key_size,
        count,
        names,
        overhead,
    })
}

impl V1Layout {
    /// Decodes one 20-byte entry value (already bounds-checked at parse time).
    pub(crate) fn decode(&self, content_id: crate::ids::ContentId, v: &[u8]) -> IndexEntry {
        let name_key = (be_uint(&v[8..12]) as u32, v[7]);
        let offset_and_flags = be_uint(&v[12..16]) as u32;
        let packed_length = be_uint(&v[16..20]) as u32;
        IndexEntry {
            content_id,
            pack_blob_id: self
                .names
                .get(&name_key)
                .cloned()
                .unwrap_or_else(|| Arc::from(super::entry::INVALID_PACK_BLOB_ID)),
            pack_offset: offset_and_flags & !DELETED_FLAG,
            packed_length,
            // Go computes this in uint32 and wraps; so do we.
            original_length: packed_length.wrapping_sub(self.overhead),
            timestamp_seconds: be_uint(&v[0..6]) as i64,
            deleted: offset_and_flags & DELETED_FLAG != 0,
            format_version: v[6],
            compression_header_id: 0,
            encryption_key_id: 0,
        }
    }
}

fn build_err(reason: impl Into<String>) -> IndexError {
    IndexError::Build {
        version: VERSION_1,
        reason: reason.into(),
    }
}

/// Writes index v1 for entries already sorted by content ID with no duplicates,
/// byte-for-byte like kopia's `buildV1` (without the random suffix).
/// Zero entries give kopia's empty index (key size 255).
pub(crate) fn build(sorted: &[&IndexEntry]) -> Result<Vec<u8>, IndexError> {
    let mut kbuf = [0u8; MAX_KEY_SIZE];
    let key_size = match sorted.first() {
        Some(e) => key_of(&e.content_id, &mut kbuf).len(),
        None => EMPTY_KEY_SIZE as usize,
    };
    let stride = key_size + V1_ENTRY_SIZE;
    let count = u32::try_from(sorted.len()).map_err(|_| build_err("too many entries"))?;
    let names_off = HEADER_SIZE + sorted.len() * stride;

    let mut name_offsets: HashMap<&str, u32> = HashMap::new();
    let mut names: Vec<u8> = Vec::new();
    for e in sorted {
        if !name_offsets.contains_key(&*e.pack_blob_id) {
            name_offsets.insert(&e.pack_blob_id, names.len() as u32);
            names.extend_from_slice(e.pack_blob_id.as_bytes());
        }
    }
    if u32::try_from(names_off + names.len()).is_err() {
        return Err(build_err("index would exceed 4 GiB"));
    }

    let mut out = Vec::with_capacity(names_off + names.len());
    out.push(VERSION_1);
    out.push(key_size as u8);
    out.extend_from_slice(&(V1_ENTRY_SIZE as u16).to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    for e in sorted {
        let id = e.content_id;
        let key = key_of(&id, &mut kbuf);
        if key.len() != key_size {
            return Err(build_err(format!(
                "inconsistent key length: {id} has {} bytes, first entry {key_size}",
                key.len()
            )));
        }
        if e.compression_header_id != 0 {
            return Err(build_err(format!("{id}: compression is not supported")));
        }
        if e.encryption_key_id != 0 {
            return Err(build_err(format!(
                "{id}: encryption key ID is not supported"
            )));
        }
        let pack = &*e.pack_blob_id;
        if pack.is_empty() || pack.len() > 255 {
            return Err(build_err(format!(
                "{id}: pack blob ID length {} is outside 1..=255",
                pack.len()
            )));
        }
        if !(0..=MAX_TIMESTAMP).contains(&e.timestamp_seconds) {
            return Err(build_err(format!(
                "{id}: timestamp {} does not fit in 48 unsigned bits",
                e.timestamp_seconds
            )));
        }
        if e.pack_offset & DELETED_FLAG != 0 {
            return Err(build_err(format!(
                "{id}: pack offset {} ≥ 2^31",
                e.pack_offset
            )));
        }
        out.extend_from_slice(key);
        let ts_and_flags = ((e.timestamp_seconds as u64) << 16)
            | (u64::from(e.format_version) << 8)
            | pack.len() as u64;
        out.extend_from_slice(&ts_and_flags.to_be_bytes());
        let name_off = names_off as u32 + name_offsets.get(pack).copied().unwrap_or(0);
        out.extend_from_slice(&name_off.to_be_bytes());
        let flags = if e.deleted { DELETED_FLAG } else { 0 };
        out.extend_from_slice(&(e.pack_offset | flags).to_be_bytes());
        out.extend_from_slice(&e.packed_length.to_be_bytes());
    }
    out.extend_from_slice(&names);
    Ok(out)
}
