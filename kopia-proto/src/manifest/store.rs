//! The manifest store (`repo/manifest`, object-format §8, repository-format §8): entries,
//! their stored form (gzip of `{"entries":[...]}\n`), and merge / find / delete / replace /
//! compaction as pure functions over decoded entries.

use super::{ManifestError, TYPE_LABEL};
use crate::gojson::{ObjectWriter, de, parse_time, raw};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// Number of manifest contents at which kopia compacts them on load (writable repositories).
pub const AUTO_COMPACTION_THRESHOLD: usize = 16;

/// Minimum age kopia gives a replaced manifest before its tombstone (100 ms, in ns).
pub const MIN_REPLACE_TIME_DELTA_NS: i64 = 100_000_000;

/// Labels of a manifest (sorted, as Go writes map keys).
pub type Labels = BTreeMap<String, String>;

/// One manifest (or deletion marker) as stored in a manifest content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManifestEntry {
    /// `id`: 32 lower-case hex characters.
    pub id: String,
    /// `labels`; written as `null` when empty (deletion markers).
    pub labels: Labels,
    /// `modified`: write time, ns since the epoch (UTC).
    pub modified: i64,
    /// `deleted`: this entry is a deletion marker.
    pub deleted: bool,
    /// `data`: the payload's JSON bytes, embedded verbatim; empty = `null`.
    pub data: Vec<u8>,
}

impl ManifestEntry {
    /// A new manifest with a fresh random ID. Fails without a non-empty `type` label or
    /// when `data` is not one valid JSON value.
    pub fn new(labels: Labels, modified: i64, data: Vec<u8>) -> Result<Self, ManifestError> {
        if labels.get(TYPE_LABEL).is_none_or(String::is_empty) {
            return Err(ManifestError::invalid(
                "manifest labels",
                "'type' label is required",
            ));
        }
        let end = raw::value_end(&data, 0).map_err(|source| ManifestError::Syntax {
            what: "manifest payload",
            source,
        })?;
        if raw::skip_ws(&data, end) != data.len() {
            return Err(ManifestError::invalid(
                "manifest payload",
                "trailing data after the JSON value",
            ));
        }
        Ok(ManifestEntry {
            id: new_manifest_id(),
            labels,
            modified,
            deleted: false,
            data,
        })
    }

    /// A deletion marker (tombstone) for `id`.
    pub fn deletion_marker(id: impl Into<String>, modified: i64) -> Self {
        ManifestEntry {
            id: id.into(),
            labels: Labels::new(),
            modified,
            deleted: true,
            data: Vec::new(),
        }
    }

    /// `true` when every `(key, value)` of `wanted` is among this entry's labels.
    pub fn matches(&self, wanted: &Labels) -> bool {
        wanted.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }

    /// Metadata as kopia reports it (`kopia manifest list --json`).
    pub fn metadata(&self) -> ManifestMetadata {
        ManifestMetadata {
            id: self.id.clone(),
            length: self.data.len() as i64,
            labels: self.labels.clone(),
            mtime: self.modified,
        }
    }

    /// Appends the Go encoding of this entry.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = ObjectWriter::new(out);
        o.str("id", &self.id);
        o.string_map("labels", (!self.labels.is_empty()).then_some(&self.labels));
        o.time("modified", self.modified);
        o.bool_omitempty("deleted", self.deleted);
        if self.data.is_empty() {
            o.raw("data", b"null");
        } else {
            // Go compacts (and HTML-escapes) a json.RawMessage when marshalling it.
            o.raw("data", &raw::compact(&self.data));
        }
        o.finish();
    }

    fn from_json(element: &[u8]) -> Result<Self, ManifestError> {
        let syntax = |source| ManifestError::Syntax {
            what: "manifest entry",
            source,
        };
        let json = |source| ManifestError::Json {
            what: "manifest entry",
            source,
        };
        if element == b"null" {
            return Err(ManifestError::invalid("manifest entry", "null entry"));
        }
        let (members, _) = raw::object_members(element, 0).map_err(syntax)?;
        let mut e = ManifestEntry::default();
        // Go matches keys case-insensitively; a repeated key overwrites the earlier value.
        for (key, value) in members {
            let is_null = value == b"null";
            match key.to_ascii_lowercase().as_str() {
                "id" => {
                    e.id = serde_json::from_slice::<Option<String>>(value)
                        .map_err(json)?
                        .unwrap_or_default()
                }
                "labels" => {
                    e.labels = serde_json::from_slice::<Option<Labels>>(value)
                        .map_err(json)?
                        .unwrap_or_default()
                }
                "modified" if is_null => e.modified = 0,
                "modified" => {
                    let s: String = serde_json::from_slice(value).map_err(json)?;
                    e.modified = parse_time(&s).map_err(|err| {
                        ManifestError::invalid("manifest entry time", err.to_string())
                    })?;
                }
                "deleted" => {
                    e.deleted = serde_json::from_slice::<Option<bool>>(value)
                        .map_err(json)?
                        .unwrap_or(false)
                }
                "data" => e.data = if is_null { Vec::new() } else { value.to_vec() },
                _ => {}
            }
        }
        Ok(e)
    }
}

/// Random manifest ID: 16 random bytes as lower-case hex.
pub fn new_manifest_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// `EntryMetadata` as printed by `kopia manifest list --json`: `{"id","length","labels","mtime"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ManifestMetadata {
    /// `id`.
    #[serde(deserialize_with = "de::null_default")]
    pub id: String,
    /// `length`: payload length in bytes.
    #[serde(deserialize_with = "de::null_default")]
    pub length: i64,
    /// `labels`.
    #[serde(deserialize_with = "de::null_default")]
    pub labels: Labels,
    /// `mtime` (ns since the epoch).
    #[serde(deserialize_with = "de::time")]
    pub mtime: i64,
}

impl ManifestMetadata {
    /// Appends the Go encoding.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = ObjectWriter::new(out);
        o.str("id", &self.id);
        o.i64("length", self.length);
        o.string_map("labels", (!self.labels.is_empty()).then_some(&self.labels));
        o.time("mtime", self.mtime);
        o.finish();
    }
}

/// The plaintext JSON of a manifest content: `{"entries":[...]}` plus a newline. `entries`
/// is the only top-level key (kopia's streaming reader cannot skip others).
pub fn encode_manifest_json(entries: &[ManifestEntry]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(64 + entries.iter().map(|e| e.data.len() + 160).sum::<usize>());
    out.extend_from_slice(b"{\"entries\":");
    if entries.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        out.push(b'[');
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            e.write_json(&mut out);
        }
        out.push(b']');
    }
    out.extend_from_slice(b"}\n");
    out
}

/// A manifest content as stored: gzip of [`encode_manifest_json`] (store it with prefix `m`).
/// The gzip bytes need not match Go's; readers find manifest contents by prefix, not by ID.
pub fn encode_manifest_content(entries: &[ManifestEntry]) -> Vec<u8> {
    let json = encode_manifest_json(entries);
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(json.len() / 3 + 64),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(&json);
    gz.finish().unwrap_or_default()
}

/// Parses the plaintext JSON of a manifest content (`{"entries":[...]}`). Other top-level
/// keys are skipped; a repeated `entries` key is an error, as in kopia.
pub fn decode_manifest_json(json: &[u8]) -> Result<Vec<ManifestEntry>, ManifestError> {
    let syntax = |source| ManifestError::Syntax {
        what: "manifest content",
        source,
    };
    let (members, _) = raw::object_members(json, 0).map_err(syntax)?;
    let mut result = None;
    for (key, value) in members {
        if !key.eq_ignore_ascii_case("entries") {
            continue;
        }
        if result.is_some() {
            return Err(ManifestError::invalid(
                "manifest content",
                "repeated entries field",
            ));
        }
        let elements = raw::array_elements(value).map_err(syntax)?;
        let entries = elements
            .into_iter()
            .map(ManifestEntry::from_json)
            .collect::<Result<Vec<_>, _>>()?;
        result = Some(entries);
    }
    Ok(result.unwrap_or_default())
}

/// Gunzips (at most `max_len` bytes of output) and parses a manifest content.
pub fn decode_manifest_content(
    gz: &[u8],
    max_len: usize,
) -> Result<Vec<ManifestEntry>, ManifestError> {
    let mut json = Vec::new();
    let dec = flate2::read::MultiGzDecoder::new(gz);
    dec.take(max_len as u64 + 1)
        .read_to_end(&mut json)
        .map_err(ManifestError::Gzip)?;
    if json.len() > max_len {
        return Err(ManifestError::TooLarge { limit: max_len });
    }
    decode_manifest_json(&json)
}

/// The merged view of all manifest contents: for each ID the entry with the latest
/// `modified` (on a tie the first one merged stays), deletion markers dropped by [`ManifestSet::finish`].
#[derive(Clone, Debug, Default)]
pub struct ManifestSet {
    entries: BTreeMap<String, ManifestEntry>,
}

impl ManifestSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Merges the decoded contents and drops deleted entries (kopia's load).
    pub fn from_contents<I: IntoIterator<Item = Vec<ManifestEntry>>>(contents: I) -> Self {
        let mut s = ManifestSet::new();
        for c in contents {
            for e in c {
                s.merge(e);
            }
        }
        s.finish();
        s
    }

    /// Merges one entry: it replaces the current one only if strictly newer.
    pub fn merge(&mut self, e: ManifestEntry) {
        match self.entries.get(&e.id) {
            Some(prev) if e.modified <= prev.modified => {}
            _ => {
                self.entries.insert(e.id.clone(), e);
            }
        }
    }

    /// Drops entries whose winner is a deletion marker.
    pub fn finish(&mut self) {
        self.entries.retain(|_, e| !e.deleted);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry with this ID.
    pub fn get(&self, id: &str) -> Option<&ManifestEntry> {
        self.entries.get(id)
    }

    /// All entries, ordered by ID.
    pub fn iter(&self) -> impl Iterator<Item = &ManifestEntry> {
        self.entries.values()
    }

    /// Kopia's `Find`: live entries whose labels contain all of `labels`, sorted by
    /// `modified` ascending (ties by ID for determinism).
    pub fn find(&self, labels: &Labels) -> Vec<&ManifestEntry> {
        let mut v: Vec<&ManifestEntry> = self
            .entries
            .values()
            .filter(|e| !e.deleted && e.matches(labels))
            .collect();
        v.sort_by(|a, b| a.modified.cmp(&b.modified).then_with(|| a.id.cmp(&b.id)));
        v
    }

    /// Kopia's `PickLatestID` over `find` results: newest `modified`, ties to the largest ID.
    pub fn pick_latest<'a>(matches: &[&'a ManifestEntry]) -> Option<&'a ManifestEntry> {
        let mut latest: Option<&'a ManifestEntry> = None;
        for &e in matches {
            if latest.is_none_or(|l| e.modified > l.modified || e.id > l.id) {
                latest = Some(e);
            }
        }
        latest
    }

    /// Entries to write for kopia's Replace: a tombstone for every live entry matching
    /// `labels` (dated at least 100 ms after the entry it deletes), then `new_entry`.
    pub fn replace(
        &self,
        labels: &Labels,
        new_entry: ManifestEntry,
        now: i64,
    ) -> Vec<ManifestEntry> {
        let mut out: Vec<ManifestEntry> = self
            .find(labels)
            .into_iter()
            .map(|e| {
                ManifestEntry::deletion_marker(
                    e.id.clone(),
                    now.max(e.modified.saturating_add(MIN_REPLACE_TIME_DELTA_NS)),
                )
            })
            .collect();
        out.push(new_entry);
        out
    }

    /// A deletion marker for `id` dated strictly after the live entry, or `None` when there
    /// is no such entry (kopia's Delete is then a no-op).
    pub fn delete(&self, id: &str, now: i64) -> Option<ManifestEntry> {
        self.entries
            .get(id)
            .map(|e| ManifestEntry::deletion_marker(id, now.max(e.modified.saturating_add(1))))
    }

    /// Live entries to rewrite into one new content when compacting (tombstones are not
    /// carried over); the caller then deletes the old contents.
    pub fn compacted(&self) -> Vec<ManifestEntry> {
        self.entries
            .values()
            .filter(|e| !e.deleted)
            .cloned()
            .collect()
    }

    /// Whether kopia would auto-compact `content_count` manifest contents on load.
    pub fn needs_compaction(content_count: usize) -> bool {
        content_count >= AUTO_COMPACTION_THRESHOLD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, t: &str, modified: i64, data: &str) -> ManifestEntry {
        ManifestEntry {
            id: id.into(),
            labels: Labels::from([("type".to_string(), t.to_string())]),
            modified,
            deleted: false,
            data: data.as_bytes().to_vec(),
        }
    }

    #[test]
    fn merge_delete_find() {
        let c1 = vec![
            entry("a", "snapshot", 10, "1"),
            entry("b", "policy", 10, "2"),
        ];
        let c2 = vec![
            ManifestEntry::deletion_marker("a", 11),
            entry("b", "policy", 10, "3"),
            entry("c", "snapshot", 5, "4"),
        ];
        let s = ManifestSet::from_contents([c1.clone(), c2.clone()]);
        assert_eq!(s.len(), 2);
        assert!(s.get("a").is_none());
        assert_eq!(s.get("b").unwrap().data, b"2"); // tie: first seen stays
        let found = s.find(&Labels::from([("type".into(), "snapshot".into())]));
        assert_eq!(found.len(), 1);
        // An older tombstone does not delete.
        let s = ManifestSet::from_contents([c1, vec![ManifestEntry::deletion_marker("a", 9)]]);
        assert!(s.get("a").is_some());
        let t = s.delete("a", 0).unwrap();
        assert!(t.deleted && t.modified == 11);
        assert!(s.delete("zz", 0).is_none());
    }

    #[test]
    fn pick_latest_and_replace() {
        let s = ManifestSet::from_contents([vec![
            entry("b", "user", 5, "1"),
            entry("a", "user", 5, "2"),
            entry("c", "user", 1, "3"),
        ]]);
        let f = s.find(&Labels::from([("type".into(), "user".into())]));
        assert_eq!(
            f.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            vec!["c", "a", "b"]
        );
        assert_eq!(ManifestSet::pick_latest(&f).unwrap().id, "b");
        let new = entry("n", "user", 100, "{}");
        let plan = s.replace(&Labels::from([("type".into(), "user".into())]), new, 100);
        assert_eq!(plan.len(), 4);
        assert!(plan[..3].iter().all(|e| e.deleted && e.modified >= 100));
        assert_eq!(plan[3].id, "n");
        let plan = s.replace(&Labels::new(), entry("m", "x", 0, "1"), 0);
        assert_eq!(plan[0].modified, 1 + MIN_REPLACE_TIME_DELTA_NS);
        assert_eq!(s.compacted().len(), 3);
        assert!(ManifestSet::needs_compaction(16) && !ManifestSet::needs_compaction(15));
    }

    #[test]
    fn new_entry_validation() {
        assert!(ManifestEntry::new(Labels::new(), 0, b"{}".to_vec()).is_err());
        let l = Labels::from([("type".to_string(), "x".to_string())]);
        assert!(ManifestEntry::new(l.clone(), 0, b"{".to_vec()).is_err());
        assert!(ManifestEntry::new(l.clone(), 0, b"{} x".to_vec()).is_err());
        let e = ManifestEntry::new(l, 0, b"{}".to_vec()).unwrap();
        assert_eq!(e.id.len(), 32);
        assert!(
            e.id.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn gzip_round_trip_and_limits() {
        let entries = vec![
            entry("a", "t", 1_500_000_000, r#"{"x": [1, "<"]}"#),
            ManifestEntry::deletion_marker("b", 2),
        ];
        let gz = encode_manifest_content(&entries);
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let back = decode_manifest_content(&gz, 1 << 20).unwrap();
        assert_eq!(back[0].data, br#"{"x":[1,"\u003c"]}"#);
        assert_eq!(back[1], entries[1]);
        assert!(matches!(
            decode_manifest_content(&gz, 10),
            Err(ManifestError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_manifest_content(b"not gzip", 100),
            Err(ManifestError::Gzip(_))
        ));
        assert!(decode_manifest_content(&gz[..gz.len() / 2], 1 << 20).is_err());
        assert_eq!(encode_manifest_json(&[]), b"{\"entries\":null}\n");
    }

    #[test]
    fn tolerant_and_strict_parsing() {
        let ok = br#"{"other":{"k":[1]},"ENTRIES":[{"data":{"a":1},"Labels":{"type":"t"},"id":"x","modified":"2024-01-01T01:00:00+01:00","extra":1}]}"#;
        let e = decode_manifest_json(ok).unwrap();
        assert_eq!(e[0].modified, parse_time("2024-01-01T00:00:00Z").unwrap());
        assert_eq!(e[0].labels["type"], "t");
        assert_eq!(decode_manifest_json(b"{}").unwrap().len(), 0);
        for bad in [
            &b"{\"entries\":[],\"entries\":[]}"[..],
            b"{\"entries\":null}",
            b"{\"entries\":[null]}",
            b"{\"entries\":[{\"modified\":\"bad\"}]}",
            b"{\"entries\":[{\"labels\":{\"a\":1}}]}",
            b"{\"entries\":[{\"deleted\":\"yes\"}]}",
            b"{\"entries\":[{]}",
            b"[]",
            b"",
        ] {
            assert!(
                decode_manifest_json(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn metadata_json() {
        let m = entry("a", "t", 0, "{}").metadata();
        let mut out = Vec::new();
        m.write_json(&mut out);
        assert_eq!(
            out,
            br#"{"id":"a","length":2,"labels":{"type":"t"},"mtime":"1970-01-01T00:00:00Z"}"#
        );
        let back: ManifestMetadata = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, m);
    }
}
