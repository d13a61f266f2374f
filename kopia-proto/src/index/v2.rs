//! Index format 2 (`repo/content/index/index_v2.go`, spec §7.2): header parsing,
//! entry decoding and the byte-exact writer.

use std::collections::HashMap;
use std::sync::Arc;

use super::entry::{INVALID_PACK_BLOB_ID, IndexEntry};
use super::{IndexError, MAX_KEY_SIZE, VERSION_2, be_uint, key_of};

/// Size of the fixed v2 header.
pub(crate) const HEADER_SIZE: usize = 17;
const PACK_INFO_SIZE: usize = 5;
const FORMAT_INFO_SIZE: usize = 6;
const MIN_ENTRY_SIZE: usize = 16;
const MAX_ENTRY_SIZE: usize = 19;
const MAX_STRIDE: usize = 256;
const MAX_FORMATS: usize = 255;
const MAX_PACKS: usize = 1 << 24;
const MAX_SHORT_PACKS: usize = 1 << 16;
const MAX_SHORT_CONTENT_LENGTH: u32 = 1 << 24;
const DELETED_FLAG: u32 = 0x8000_0000;

/// Contents must be shorter than this (2^28 bytes) to be indexed in format 2.
pub const V2_MAX_CONTENT_LENGTH: u32 = 1 << 28;
/// Pack offsets must be below this (2^30) to be indexed in format 2.
pub const V2_MAX_PACK_OFFSET: u32 = 1 << 30;

const INVALID_FORMAT_VERSION: u8 = 0xFF;
const INVALID_COMPRESSION_HEADER_ID: u32 = 0xFFFF;
const INVALID_ENCRYPTION_KEY_ID: u8 = 0xFF;

/// One row of the format table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FormatInfo {
    compression_header_id: u32,
    format_version: u8,
    encryption_key_id: u8,
}

impl FormatInfo {
    fn of(e: &IndexEntry) -> Self {
        FormatInfo {
            compression_header_id: e.compression_header_id,
            format_version: e.format_version,
            encryption_key_id: e.encryption_key_id,
        }
    }
}

/// Parsed v2 header plus the pre-read pack and format tables.
#[derive(Debug, Clone)]
pub(crate) struct V2Layout {
    pub(crate) key_size: usize,
    pub(crate) entry_size: usize,
    pub(crate) count: usize,
    base_timestamp: u32,
    packs: Vec<Arc<str>>,
    formats: Vec<FormatInfo>,
    invalid_pack: Arc<str>,
}

fn truncated(what: &'static str, start: u64, end: u64, len: usize) -> IndexError {
    IndexError::Truncated {
        what,
        start,
        end,
        len,
    }
}

fn bad_header(reason: impl Into<String>) -> IndexError {
    IndexError::BadHeader {
        version: VERSION_2,
        reason: reason.into(),
    }
}

/// Validates the header and every table against `data` and pre-reads pack names and formats.
pub(crate) fn parse(data: &[u8]) -> Result<V2Layout, IndexError> {
    let header = data
        .get(..HEADER_SIZE)
        .ok_or_else(|| truncated("v2 header", 0, HEADER_SIZE as u64, data.len()))?;
    if header[0] != VERSION_2 {
        return Err(IndexError::BadVersion(header[0]));
    }
    let key_size = header[1] as usize;
    let entry_size = be_uint(&header[2..4]) as usize;
    let count = be_uint(&header[4..8]);
    let pack_count = be_uint(&header[8..12]);
    let format_count = header[12] as usize;
    let base_timestamp = be_uint(&header[13..17]) as u32;

    if key_size <= 1 {
        return Err(bad_header(format!("key size {key_size} must be > 1")));
    }
    if !(MIN_ENTRY_SIZE..=MAX_ENTRY_SIZE).contains(&entry_size) {
        return Err(bad_header(format!(
            "entry size {entry_size} is outside 16..=19"
        )));
    }
    let stride = key_size + entry_size;
    if stride > MAX_STRIDE {
        return Err(bad_header(format!(
            "entry stride {stride} exceeds {MAX_STRIDE}"
        )));
    }
    if count > 0 && key_size > MAX_KEY_SIZE {
        return Err(bad_header(format!(
            "key size {key_size} exceeds {MAX_KEY_SIZE} (1 + longest hash)"
        )));
    }

    let len = data.len();
    let packs_off = HEADER_SIZE as u64 + count * stride as u64;
    if packs_off > len as u64 {
        return Err(truncated("v2 entries", HEADER_SIZE as u64, packs_off, len));
    }
    let formats_off = packs_off + pack_count * PACK_INFO_SIZE as u64;
    if formats_off > len as u64 {
        return Err(truncated("v2 pack table", packs_off, formats_off, len));
    }
    let formats_end = formats_off + (format_count * FORMAT_INFO_SIZE) as u64;
    if formats_end > len as u64 {
        return Err(truncated("v2 format table", formats_off, formats_end, len));
    }
    // All three regions fit in `data`, so the offsets below fit in usize.
    let (packs_off, formats_off) = (packs_off as usize, formats_off as usize);

    let formats = data[formats_off..formats_end as usize]
        .chunks_exact(FORMAT_INFO_SIZE)
        .map(|f| FormatInfo {
            compression_header_id: be_uint(&f[0..4]) as u32,
            format_version: f[4],
            encryption_key_id: f[5],
        })
        .collect();

    let mut packs: Vec<Arc<str>> = Vec::with_capacity(pack_count as usize);
    for (i, p) in data[packs_off..formats_off]
        .chunks_exact(PACK_INFO_SIZE)
        .enumerate()
    {
        let name_len = p[0] as usize;
        let name_off = be_uint(&p[1..5]);
        let end = name_off + name_len as u64;
        if end > len as u64 {
            return Err(IndexError::BadPackName {
                position: i,
                reason: format!("name bytes {name_off}..{end} are outside the {len}-byte index"),
            });
        }
        let name = &data[name_off as usize..end as usize];
        let name = std::str::from_utf8(name).map_err(|_| IndexError::BadPackName {
            position: i,
            reason: "name is not UTF-8".to_string(),
        })?;
        packs.push(Arc::from(name));
    }

    Ok(V2Layout {
        key_size,
        entry_size,
        count: count as usize,
        base_timestamp,
        packs,
        formats,
        invalid_pack: Arc::from(INVALID_PACK_BLOB_ID),
    })
}

impl V2Layout {
    /// Decodes one entry value (`entry_size` bytes, already bounds-checked).
    pub(crate) fn decode(&self, content_id: crate::ids::ContentId, v: &[u8]) -> IndexEntry {
        let high = v.get(18).copied().unwrap_or(0);
        let offset_and_flags = be_uint(&v[4..8]) as u32;
        // The format byte is optional; a missing one means format 0.
        let format = self.formats.get(v.get(16).map_or(0, |&f| f as usize));
        let pack_index =
            (be_uint(&v[14..16]) as usize) | (v.get(17).map_or(0, |&b| b as usize) << 16);
        let (format_version, compression_header_id, encryption_key_id) = match format {
            Some(f) => (
                f.format_version,
                f.compression_header_id,
                f.encryption_key_id,
            ),
            None => (
                INVALID_FORMAT_VERSION,
                INVALID_COMPRESSION_HEADER_ID,
                INVALID_ENCRYPTION_KEY_ID,
            ),
        };
        IndexEntry {
            content_id,
            pack_blob_id: self
                .packs
                .get(pack_index)
                .unwrap_or(&self.invalid_pack)
                .clone(),
            pack_offset: offset_and_flags & !DELETED_FLAG,
            packed_length: be_uint(&v[11..14]) as u32 | (u32::from(high & 0x0F) << 24),
            original_length: be_uint(&v[8..11]) as u32 | (u32::from(high >> 4) << 24),
            timestamp_seconds: be_uint(&v[0..4]) as i64 + i64::from(self.base_timestamp),
            deleted: offset_and_flags & DELETED_FLAG != 0,
            format_version,
            compression_header_id,
            encryption_key_id,
        }
    }
}

fn build_err(reason: impl Into<String>) -> IndexError {
    IndexError::Build {
        version: VERSION_2,
        reason: reason.into(),
    }
}

/// Writes index v2 for entries already sorted by content ID with no duplicates,
/// byte-for-byte like kopia's `buildV2` (without the random suffix).
pub(crate) fn build(sorted: &[&IndexEntry]) -> Result<Vec<u8>, IndexError> {
    let first = sorted
        .first()
        .ok_or_else(|| build_err("an index with zero entries cannot be written in format 2"))?;
    let mut kbuf = [0u8; MAX_KEY_SIZE];
    let key_size = key_of(&first.content_id, &mut kbuf).len();

    // Number formats and packs in order of first appearance.
    let mut format_ids: HashMap<FormatInfo, u8> = HashMap::new();
    let mut formats: Vec<FormatInfo> = Vec::new();
    let mut pack_ids: HashMap<&str, u32> = HashMap::new();
    let mut packs: Vec<&str> = Vec::new();
    let (mut max_packed, mut max_original, mut max_offset) = (0u32, 0u32, 0u32);
    for e in sorted {
        let f = FormatInfo::of(e);
        if let std::collections::hash_map::Entry::Vacant(slot) = format_ids.entry(f) {
            if formats.len() >= MAX_FORMATS {
                return Err(build_err(format!(
                    "more than {MAX_FORMATS} distinct formats"
                )));
            }
            slot.insert(formats.len() as u8);
            formats.push(f);
        }
        if !pack_ids.contains_key(&*e.pack_blob_id) {
            if e.pack_blob_id.len() > 255 {
                return Err(build_err(format!(
                    "pack blob ID {:?} is longer than 255 bytes",
                    e.pack_blob_id
                )));
            }
            if packs.len() >= MAX_PACKS {
                return Err(build_err(format!("more than {MAX_PACKS} distinct packs")));
            }
            pack_ids.insert(&e.pack_blob_id, packs.len() as u32);
            packs.push(&e.pack_blob_id);
        }
        max_packed = max_packed.max(e.packed_length);
        max_original = max_original.max(e.original_length);
        max_offset = max_offset.max(e.pack_offset);
    }
    if max_packed >= V2_MAX_CONTENT_LENGTH || max_original >= V2_MAX_CONTENT_LENGTH {
        return Err(build_err(format!(
            "content length too large (packed {max_packed}, original {max_original}, limit {V2_MAX_CONTENT_LENGTH})"
        )));
    }
    if max_offset >= V2_MAX_PACK_OFFSET {
        return Err(build_err(format!(
            "pack offset {max_offset} is not below {V2_MAX_PACK_OFFSET}"
        )));
    }

    let mut entry_size = MIN_ENTRY_SIZE;
    if formats.len() > 1 {
        entry_size = 17;
    }
    if packs.len() > MAX_SHORT_PACKS {
        entry_size = 18;
    }
    if max_packed >= MAX_SHORT_CONTENT_LENGTH || max_original >= MAX_SHORT_CONTENT_LENGTH {
        entry_size = 19;
    }

    let names_len: usize = packs.iter().map(|p| p.len()).sum();
    let names_off = HEADER_SIZE
        + sorted.len() * (key_size + entry_size)
        + packs.len() * PACK_INFO_SIZE
        + formats.len() * FORMAT_INFO_SIZE;
    let count = u32::try_from(sorted.len()).map_err(|_| build_err("too many entries"))?;
    if u32::try_from(names_off + names_len).is_err() {
        return Err(build_err("index would exceed 4 GiB"));
    }

    let mut out = Vec::with_capacity(names_off + names_len);
    out.push(VERSION_2);
    out.push(key_size as u8);
    out.extend_from_slice(&(entry_size as u16).to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&(packs.len() as u32).to_be_bytes());
    out.push(formats.len() as u8);
    out.extend_from_slice(&0u32.to_be_bytes()); // base timestamp: kopia always writes 0

    for e in sorted {
        let key = key_of(&e.content_id, &mut kbuf);
        if key.len() != key_size {
            return Err(build_err(format!(
                "inconsistent key length: {} has {} bytes, first entry {key_size}",
                e.content_id,
                key.len()
            )));
        }
        let ts = u32::try_from(e.timestamp_seconds).map_err(|_| {
            build_err(format!(
                "timestamp {} of {} does not fit in 32 unsigned bits",
                e.timestamp_seconds, e.content_id
            ))
        })?;
        out.extend_from_slice(key);
        let mut v = [0u8; MAX_ENTRY_SIZE];
        v[0..4].copy_from_slice(&ts.to_be_bytes());
        let flags = if e.deleted { DELETED_FLAG } else { 0 };
        v[4..8].copy_from_slice(&(e.pack_offset | flags).to_be_bytes());
        v[8..11].copy_from_slice(&e.original_length.to_be_bytes()[1..]);
        v[11..14].copy_from_slice(&e.packed_length.to_be_bytes()[1..]);
        let pack_index = pack_ids.get(&*e.pack_blob_id).copied().unwrap_or(0);
        v[14..16].copy_from_slice(&(pack_index as u16).to_be_bytes());
        v[16] = format_ids.get(&FormatInfo::of(e)).copied().unwrap_or(0);
        v[17] = (pack_index >> 16) as u8;
        v[18] = ((e.packed_length >> 24) as u8) | (((e.original_length >> 24) as u8) << 4);
        out.extend_from_slice(&v[..entry_size]);
    }

    let mut name_off = names_off as u32;
    for p in &packs {
        out.push(p.len() as u8);
        // kopia stores an empty pack ID at relative name offset 0 (it never enters its offset map).
        let off = if p.is_empty() {
            names_off as u32
        } else {
            name_off
        };
        out.extend_from_slice(&off.to_be_bytes());
        name_off += p.len() as u32;
    }
    for f in &formats {
        out.extend_from_slice(&f.compression_header_id.to_be_bytes());
        out.push(f.format_version);
        out.push(f.encryption_key_id);
    }
    for p in &packs {
        out.extend_from_slice(p.as_bytes());
    }
    Ok(out)
}
