//! Indirect index objects: the exact JSON kopia writes, a Go-tolerant parser, and
//! a builder that collects chunk entries in object order.

use std::fmt;
use std::io::Write as _;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::ids::ObjectId;

/// The `stream` value of every indirect index object.
pub const INDIRECT_STREAM: &str = "kopia:indirect";

/// One entry of an indirect index: bytes `[start, start+length)` of the object are
/// the object `object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndirectEntry {
    /// Offset of the chunk in the object (`s`).
    pub start: u64,
    /// Length of the chunk (`l`).
    pub length: u64,
    /// The chunk's object ID (`o`).
    pub object: ObjectId,
}

impl IndirectEntry {
    /// Offset just after the chunk.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.length)
    }
}

/// Why an indirect index cannot be parsed or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// Not valid JSON, or a value of the wrong type.
    #[error("invalid indirect object: {0}")]
    Json(String),
    /// The `stream` field is missing or not `kopia:indirect`.
    #[error("invalid indirect object: stream is {0:?}, expected \"kopia:indirect\"")]
    WrongStream(Option<String>),
    /// The index lists no entries (kopia would crash reading such an object).
    #[error("invalid indirect object: no entries")]
    NoEntries,
    /// An entry has no object ID (`o` missing, null or empty).
    #[error("invalid indirect object: entry {0} has no object ID")]
    MissingObject(usize),
    /// An entry has a negative start or length.
    #[error("invalid indirect object: entry {index} has negative {field} {value}")]
    Negative {
        /// Entry index.
        index: usize,
        /// `s` or `l`.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// A chunk's data does not have the length its entry states.
    #[error("chunk {object} has {actual} bytes, index entry says {expected}")]
    ChunkLength {
        /// The chunk's object ID.
        object: ObjectId,
        /// Length from the index entry.
        expected: u64,
        /// Length read.
        actual: u64,
    },
    /// An entry reserved with [`IndirectIndexBuilder::reserve`] was never filled.
    #[error("indirect index entry {0} has no object ID yet")]
    Unfilled(usize),
    /// [`IndirectIndexBuilder::fill`] was called with a slot that does not exist.
    #[error("indirect index slot {0} does not exist")]
    NoSuchSlot(usize),
}

/// Encodes entries exactly as kopia's `json.Encoder` does:
/// `{"stream":"kopia:indirect","entries":[{"s":..,"l":..,"o":".."},..]}\n`, with
/// `s` and `l` omitted when zero.
pub fn encode_index(entries: &[IndirectEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + entries.len() * 64);
    out.extend_from_slice(b"{\"stream\":\"kopia:indirect\",\"entries\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        let mut sep = "";
        if e.start != 0 {
            // Writing into a Vec cannot fail.
            let _ = write!(out, "\"s\":{}", e.start);
            sep = ",";
        }
        if e.length != 0 {
            let _ = write!(out, "{sep}\"l\":{}", e.length);
            sep = ",";
        }
        // Object IDs are letters and hex digits only: nothing to escape.
        let _ = write!(out, "{sep}\"o\":\"{}\"}}", e.object);
    }
    out.extend_from_slice(b"]}\n");
    out
}

/// Parses an indirect index object the way kopia (Go `encoding/json`) does: keys match
/// case-insensitively, unknown keys are ignored, missing or null `s`/`l` are 0, and
/// anything after the first JSON value is ignored. Stricter than kopia where kopia
/// would fail later anyway: `stream` must be `kopia:indirect`, there must be at least
/// one entry, every entry needs an object ID, and offsets must not be negative.
pub fn decode_index(data: &[u8]) -> Result<Vec<IndirectEntry>, IndexError> {
    let mut de = serde_json::Deserializer::from_slice(data);
    let raw = de::Deserialize::deserialize(&mut de)
        .map_err(|e: serde_json::Error| IndexError::Json(e.to_string()))?;
    let RawIndex { stream, entries } = raw;
    if stream.as_deref() != Some(INDIRECT_STREAM) {
        return Err(IndexError::WrongStream(stream));
    }
    let entries = entries.unwrap_or_default();
    if entries.is_empty() {
        return Err(IndexError::NoEntries);
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(index, e)| {
            let start = u64::try_from(e.start).map_err(|_| IndexError::Negative {
                index,
                field: "s",
                value: e.start,
            })?;
            let length = u64::try_from(e.length).map_err(|_| IndexError::Negative {
                index,
                field: "l",
                value: e.length,
            })?;
            let object = e.object.ok_or(IndexError::MissingObject(index))?;
            Ok(IndirectEntry {
                start,
                length,
                object,
            })
        })
        .collect()
}

/// Go's `encoding/json` key folding (`ToUpper(ToLower(r))`) restricted to what can
/// equal an ASCII key: ASCII letters plus the four non-ASCII runes that fold to ASCII.
fn fold_eq(key: &str, want: &str) -> bool {
    let mut k = key.chars();
    for w in want.chars() {
        let folded = match k.next() {
            Some(c) if c.is_ascii() => c.to_ascii_uppercase(),
            Some('\u{017F}') => 'S', // LATIN SMALL LETTER LONG S
            Some('\u{212A}') => 'K', // KELVIN SIGN
            Some('\u{0130}') | Some('\u{0131}') => 'I', // dotted / dotless I
            _ => return false,
        };
        if folded != w.to_ascii_uppercase() {
            return false;
        }
    }
    k.next().is_none()
}

/// A JSON key matched against a fixed set of names without allocating.
struct Key<const N: usize> {
    names: [&'static str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for Key<N> {
    /// Index into `names`, or `N` for an unknown key.
    type Value = usize;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Key<N> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        Ok(self.names.iter().position(|n| fold_eq(v, n)).unwrap_or(N))
    }
}

/// An object ID value: `null` and `""` (Go's empty ID) give `None`.
struct ObjectValue;

impl<'de> DeserializeSeed<'de> for ObjectValue {
    type Value = Option<ObjectId>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ObjectValue {
    type Value = Option<ObjectId>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object ID string")
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Ok(None);
        }
        v.parse().map(Some).map_err(E::custom)
    }
}

#[derive(Default)]
struct RawIndex {
    stream: Option<String>,
    entries: Option<Vec<RawEntry>>,
}

#[derive(Default)]
struct RawEntry {
    start: i64,
    length: i64,
    object: Option<ObjectId>,
}

impl<'de> de::Deserialize<'de> for RawIndex {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawIndex;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an indirect object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawIndex, A::Error> {
                let mut out = RawIndex::default();
                let names = ["stream", "entries"];
                while let Some(key) = m.next_key_seed(Key { names })? {
                    match key {
                        // null leaves the field as it was, like Go.
                        0 => {
                            if let Some(s) = m.next_value::<Option<String>>()? {
                                out.stream = Some(s);
                            }
                        }
                        1 => out.entries = m.next_value_seed(EntriesSeed)?,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// Deserializes `entries` (null → no entries, like a nil Go slice).
struct EntriesSeed;

impl<'de> DeserializeSeed<'de> for EntriesSeed {
    type Value = Option<Vec<RawEntry>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<Vec<RawEntry>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of entries")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_seq(V)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(s.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(e) = s.next_element::<Option<RawEntry>>()? {
                    // A null element stays a zero entry, as in Go.
                    v.push(e.unwrap_or_default());
                }
                Ok(Some(v))
            }
        }
        d.deserialize_option(V)
    }
}

impl<'de> de::Deserialize<'de> for RawEntry {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an indirect object entry")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawEntry, A::Error> {
                let mut out = RawEntry::default();
                let names = ["s", "l", "o"];
                while let Some(key) = m.next_key_seed(Key { names })? {
                    match key {
                        // null leaves a number as it was, like Go.
                        0 => {
                            if let Some(v) = m.next_value::<Option<i64>>()? {
                                out.start = v;
                            }
                        }
                        1 => {
                            if let Some(v) = m.next_value::<Option<i64>>()? {
                                out.length = v;
                            }
                        }
                        // Go parses null and "" as the empty ID; both end up as "missing".
                        2 => out.object = m.next_value_seed(ObjectValue)?,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// Result of an object's chunk list once all chunks are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexOutcome {
    /// No chunk at all (a checkpoint before the first chunk was flushed).
    Empty,
    /// Exactly one chunk: the object is that chunk (a direct object).
    Single(ObjectId),
    /// Several chunks: this index JSON must be written as an object (prefix `x` or
    /// the writer's prefix, repository splitter, metadata compressor), and the
    /// object's ID is `I` + that object's ID.
    Index(Vec<u8>),
}

/// Collects the chunk entries of one object in order; chunks may be stored out of
/// order (reserve a slot when the boundary is found, fill it when the store returns).
#[derive(Debug, Clone, Default)]
pub struct IndirectIndexBuilder {
    starts: Vec<(u64, u64)>,
    objects: Vec<Option<ObjectId>>,
    position: u64,
}

impl IndirectIndexBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a chunk of `length` bytes whose object ID is not known yet; returns its slot.
    pub fn reserve(&mut self, length: u64) -> usize {
        self.starts.push((self.position, length));
        self.objects.push(None);
        self.position = self.position.saturating_add(length);
        self.starts.len() - 1
    }

    /// Sets the object ID of a reserved slot.
    pub fn fill(&mut self, slot: usize, object: ObjectId) -> Result<(), IndexError> {
        let o = self
            .objects
            .get_mut(slot)
            .ok_or(IndexError::NoSuchSlot(slot))?;
        *o = Some(object);
        Ok(())
    }

    /// Appends a stored chunk.
    pub fn push(&mut self, length: u64, object: ObjectId) {
        let slot = self.reserve(length);
        self.objects[slot] = Some(object);
    }

    /// Number of chunks so far.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True before the first chunk.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Total length of the chunks so far.
    pub fn total_length(&self) -> u64 {
        self.position
    }

    /// The entries so far; fails if a reserved slot is still unfilled.
    pub fn entries(&self) -> Result<Vec<IndirectEntry>, IndexError> {
        self.starts
            .iter()
            .zip(&self.objects)
            .enumerate()
            .map(|(i, (&(start, length), o))| {
                Ok(IndirectEntry {
                    start,
                    length,
                    object: o.ok_or(IndexError::Unfilled(i))?,
                })
            })
            .collect()
    }

    /// What the object is, given the chunks so far (see [`IndexOutcome`]).
    pub fn outcome(&self) -> Result<IndexOutcome, IndexError> {
        let entries = self.entries()?;
        Ok(match entries.as_slice() {
            [] => IndexOutcome::Empty,
            [only] => IndexOutcome::Single(only.object),
            many => IndexOutcome::Index(encode_index(many)),
        })
    }

    /// Forgets all chunks (for reuse with the next object).
    pub fn clear(&mut self) {
        self.starts.clear();
        self.objects.clear();
        self.position = 0;
    }
}

#[cfg(test)]
#[path = "indirect_tests.rs"]
mod tests;
