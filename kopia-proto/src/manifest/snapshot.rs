//! Snapshot manifests (`type=snapshot` payloads), listing order and the choice of previous
//! snapshots for incremental uploads (`snapshot/manifest.go`, `snapshot/manager.go`,
//! object-format §7).

use super::{DirEntry, EntryType, ManifestError, SourceInfo};
use crate::gojson::{ObjectWriter, de};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Upload statistics stored in a snapshot manifest (`stats`; every key always written).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SnapshotStats {
    /// `totalSize`.
    #[serde(deserialize_with = "de::null_default")]
    pub total_size: i64,
    /// `excludedTotalSize`.
    #[serde(deserialize_with = "de::null_default")]
    pub excluded_total_size: i64,
    /// `fileCount`.
    #[serde(deserialize_with = "de::null_default")]
    pub file_count: i32,
    /// `cachedFiles`.
    #[serde(deserialize_with = "de::null_default")]
    pub cached_files: i32,
    /// `nonCachedFiles`.
    #[serde(deserialize_with = "de::null_default")]
    pub non_cached_files: i32,
    /// `dirCount`.
    #[serde(deserialize_with = "de::null_default")]
    pub dir_count: i32,
    /// `excludedFileCount`.
    #[serde(deserialize_with = "de::null_default")]
    pub excluded_file_count: i32,
    /// `excludedDirCount`.
    #[serde(deserialize_with = "de::null_default")]
    pub excluded_dir_count: i32,
    /// `ignoredErrorCount`.
    #[serde(deserialize_with = "de::null_default")]
    pub ignored_error_count: i32,
    /// `errorCount`.
    #[serde(deserialize_with = "de::null_default")]
    pub error_count: i32,
}

impl SnapshotStats {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = ObjectWriter::new(out);
        o.i64("totalSize", self.total_size);
        o.i64("excludedTotalSize", self.excluded_total_size);
        o.i64("fileCount", self.file_count.into());
        o.i64("cachedFiles", self.cached_files.into());
        o.i64("nonCachedFiles", self.non_cached_files.into());
        o.i64("dirCount", self.dir_count.into());
        o.i64("excludedFileCount", self.excluded_file_count.into());
        o.i64("excludedDirCount", self.excluded_dir_count.into());
        o.i64("ignoredErrorCount", self.ignored_error_count.into());
        o.i64("errorCount", self.error_count.into());
        o.finish();
    }
}

/// Storage usage of one snapshot (`storageStats.newData` / `runningTotal`); computed on
/// demand by kopia and normally not persisted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct StorageUsageDetails {
    /// `objectBytes`.
    #[serde(rename = "objectBytes", deserialize_with = "de::null_default")]
    pub object_bytes: i64,
    /// `originalContentBytes`.
    #[serde(rename = "originalContentBytes", deserialize_with = "de::null_default")]
    pub original_content_bytes: i64,
    /// `packedContentBytes`.
    #[serde(rename = "packedContentBytes", deserialize_with = "de::null_default")]
    pub packed_content_bytes: i64,
    /// `fileObjects`.
    #[serde(rename = "fileObjects", deserialize_with = "de::null_default")]
    pub file_object_count: i32,
    /// `dirObjects`.
    #[serde(rename = "dirObjects", deserialize_with = "de::null_default")]
    pub dir_object_count: i32,
    /// `contents`.
    #[serde(rename = "contents", deserialize_with = "de::null_default")]
    pub content_count: i32,
}

impl StorageUsageDetails {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = ObjectWriter::new(out);
        o.i64("objectBytes", self.object_bytes);
        o.i64("originalContentBytes", self.original_content_bytes);
        o.i64("packedContentBytes", self.packed_content_bytes);
        o.i64("fileObjects", self.file_object_count.into());
        o.i64("dirObjects", self.dir_object_count.into());
        o.i64("contents", self.content_count.into());
        o.finish();
    }
}

/// `storageStats` of a snapshot manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct StorageStats {
    /// `newData`: bytes this snapshot added.
    #[serde(rename = "newData", deserialize_with = "de::null_default")]
    pub new_data: StorageUsageDetails,
    /// `runningTotal`: cumulative usage.
    #[serde(rename = "runningTotal", deserialize_with = "de::null_default")]
    pub running_total: StorageUsageDetails,
}

/// A snapshot manifest payload (`type=snapshot`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SnapshotManifest {
    /// `id`: `""` in stored payloads; kopia fills in the manifest ID when listing.
    #[serde(deserialize_with = "de::null_default")]
    pub id: String,
    /// `source`.
    #[serde(deserialize_with = "de::null_default")]
    pub source: SourceInfo,
    /// `description`.
    #[serde(deserialize_with = "de::null_default")]
    pub description: String,
    /// `startTime` (ns since the epoch).
    #[serde(rename = "startTime", deserialize_with = "de::time")]
    pub start_time: i64,
    /// `endTime` (ns since the epoch).
    #[serde(rename = "endTime", deserialize_with = "de::time")]
    pub end_time: i64,
    /// `stats`.
    #[serde(deserialize_with = "de::null_default")]
    pub stats: SnapshotStats,
    /// `incomplete`: `checkpoint`, `canceled`, `limit reached`, or empty when complete.
    #[serde(rename = "incomplete", deserialize_with = "de::null_default")]
    pub incomplete_reason: String,
    /// `rootEntry` (with `summ`); `None` is written as `null`.
    #[serde(rename = "rootEntry", deserialize_with = "de::null_default")]
    pub root_entry: Option<DirEntry>,
    /// `tags`: keys are `tag:<name>`.
    #[serde(deserialize_with = "de::null_default")]
    pub tags: BTreeMap<String, String>,
    /// `storageStats` (omitted when `None`).
    #[serde(rename = "storageStats", deserialize_with = "de::null_default")]
    pub storage_stats: Option<StorageStats>,
    /// `pins`: sorted, de-duplicated.
    #[serde(deserialize_with = "de::null_default")]
    pub pins: Vec<String>,
}

impl SnapshotManifest {
    /// Parses a payload (or one element of `kopia snapshot list --json`).
    pub fn from_json(json: &[u8]) -> Result<Self, ManifestError> {
        de::from_slice_first(json).map_err(ManifestError::json("snapshot manifest"))
    }

    /// Appends the Go encoding (what kopia stores as the manifest's `data`).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = ObjectWriter::new(out);
        o.str("id", &self.id);
        self.source.write_json(o.key("source"));
        o.str("description", &self.description);
        o.time("startTime", self.start_time);
        o.time("endTime", self.end_time);
        self.stats.write_json(o.key("stats"));
        o.str_omitempty("incomplete", &self.incomplete_reason);
        match &self.root_entry {
            Some(e) => e.write_json(o.key("rootEntry")),
            None => o.raw("rootEntry", b"null"),
        }
        if !self.tags.is_empty() {
            o.string_map("tags", Some(&self.tags));
        }
        if let Some(s) = &self.storage_stats {
            let buf = o.key("storageStats");
            let mut so = ObjectWriter::new(buf);
            s.new_data.write_json(so.key("newData"));
            s.running_total.write_json(so.key("runningTotal"));
            so.finish();
        }
        o.strings_omitempty("pins", &self.pins);
        o.finish();
    }

    /// The Go encoding (no trailing newline), as stored in the manifest entry's `data`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(768);
        self.write_json(&mut out);
        out
    }

    /// Root object ID, or `""` when there is no root entry.
    pub fn root_object_id(&self) -> &str {
        self.root_entry
            .as_ref()
            .map_or("", |e| e.object_id.as_str())
    }

    /// `true` when the snapshot is complete (no `incomplete` reason).
    pub fn is_complete(&self) -> bool {
        self.incomplete_reason.is_empty()
    }

    /// Manifest labels for saving, as kopia's `SaveSnapshot`: source labels plus tags.
    /// Host, user and path must be set and tags may not collide with the source labels.
    pub fn labels(&self) -> Result<BTreeMap<String, String>, ManifestError> {
        let s = &self.source;
        for (what, v) in [
            ("host", &s.host),
            ("username", &s.user_name),
            ("path", &s.path),
        ] {
            if v.is_empty() {
                return Err(ManifestError::invalid(
                    "snapshot manifest",
                    format!("missing {what}"),
                ));
            }
        }
        let mut labels = s.snapshot_labels();
        for (k, v) in &self.tags {
            if labels.contains_key(k) {
                return Err(ManifestError::invalid(
                    "snapshot manifest",
                    format!("invalid or duplicate tag key {k:?}"),
                ));
            }
            labels.insert(k.clone(), v.clone());
        }
        Ok(labels)
    }

    /// Adds and removes pins (result sorted, de-duplicated); returns whether anything changed.
    pub fn update_pins(&mut self, add: &[String], remove: &[String]) -> bool {
        let mut set: std::collections::BTreeSet<String> = self.pins.iter().cloned().collect();
        let mut changed = false;
        for a in add {
            changed |= set.insert(a.clone());
        }
        for r in remove {
            changed |= set.remove(r);
        }
        self.pins = set.into_iter().collect();
        changed
    }

    /// Sorts by `startTime` (ties by `endTime`), ascending or (with `reverse`) descending,
    /// as kopia's `SortByTime`.
    pub fn sort_by_time(manifests: &mut [SnapshotManifest], reverse: bool) {
        manifests.sort_by(|a, b| {
            let ord = (a.start_time, a.end_time).cmp(&(b.start_time, b.end_time));
            if reverse { ord.reverse() } else { ord }
        });
    }

    /// Groups manifests by source; groups ordered by the source's string form, manifests in
    /// input order within a group (kopia's `GroupBySource`).
    pub fn group_by_source(manifests: &[SnapshotManifest]) -> Vec<Vec<&SnapshotManifest>> {
        let mut map: BTreeMap<String, Vec<&SnapshotManifest>> = BTreeMap::new();
        for m in manifests {
            map.entry(m.source.to_string()).or_default().push(m);
        }
        map.into_values().collect()
    }

    /// Previous manifests used for entry reuse (kopia's `FindPreviousManifests`): the
    /// complete snapshot with the latest `startTime` (first one wins on ties), followed by every
    /// incomplete snapshot started after it (all incomplete ones if none is complete), in
    /// input order. Manifests started after `no_later_than` are ignored.
    pub fn find_previous(
        manifests: &[SnapshotManifest],
        no_later_than: Option<i64>,
    ) -> Vec<&SnapshotManifest> {
        let eligible = |m: &&SnapshotManifest| no_later_than.is_none_or(|t| m.start_time <= t);
        let mut complete: Option<&SnapshotManifest> = None;
        for m in manifests.iter().filter(eligible) {
            if m.is_complete() && complete.is_none_or(|c| m.start_time > c.start_time) {
                complete = Some(m);
            }
        }
        let after = complete.map_or(0, |c| c.start_time);
        let mut result: Vec<&SnapshotManifest> = complete.into_iter().collect();
        result.extend(
            manifests
                .iter()
                .filter(eligible)
                .filter(|m| !m.is_complete() && m.start_time > after),
        );
        result
    }
}

/// Whether a previous snapshot's entry may be reused for the current one without reading
/// the file (§7.5): equal mtime, type + mode bits, uid/gid, and (unless `streaming`) size.
pub fn entry_metadata_equal(previous: &DirEntry, current: &DirEntry, streaming: bool) -> bool {
    let type_matches = previous.entry_type == current.entry_type
        || (previous.entry_type == EntryType::Unknown && current.entry_type == EntryType::Unknown);
    previous.mtime == current.mtime
        && type_matches
        && previous.mode == current.mode
        && previous.uid == current.uid
        && previous.gid == current.gid
        && (streaming || previous.size == current.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(start: i64, incomplete: &str) -> SnapshotManifest {
        SnapshotManifest {
            start_time: start,
            end_time: start + 1,
            incomplete_reason: incomplete.into(),
            description: format!("{start}{incomplete}"),
            ..Default::default()
        }
    }

    #[test]
    fn previous_selection() {
        let list = vec![
            m(5, "checkpoint"),
            m(10, ""),
            m(3, ""),
            m(12, "checkpoint"),
            m(11, "canceled"),
        ];
        let p: Vec<i64> = SnapshotManifest::find_previous(&list, None)
            .iter()
            .map(|x| x.start_time)
            .collect();
        assert_eq!(p, vec![10, 12, 11]);
        let p: Vec<i64> = SnapshotManifest::find_previous(&list, Some(9))
            .iter()
            .map(|x| x.start_time)
            .collect();
        assert_eq!(p, vec![3, 5]);
        let only_incomplete = vec![m(5, "checkpoint"), m(2, "checkpoint")];
        assert_eq!(
            SnapshotManifest::find_previous(&only_incomplete, None).len(),
            2
        );
        assert!(SnapshotManifest::find_previous(&[], None).is_empty());
    }

    #[test]
    fn sorting_grouping_pins_labels() {
        let mut list = vec![m(5, ""), m(1, ""), m(3, "")];
        list[0].source = SourceInfo::new("b", "u", "/x");
        SnapshotManifest::sort_by_time(&mut list, true);
        assert_eq!(
            list.iter().map(|x| x.start_time).collect::<Vec<_>>(),
            vec![5, 3, 1]
        );
        let groups = SnapshotManifest::group_by_source(&list);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].len(), 2); // "(global)" sorts before "u@b:/x"
        let mut x = m(1, "");
        assert!(x.update_pins(&["b".into(), "a".into(), "b".into()], &[]));
        assert_eq!(x.pins, vec!["a", "b"]);
        assert!(!x.update_pins(&["a".into()], &["zz".into()]));
        assert!(x.labels().is_err());
        x.source = SourceInfo::new("h", "u", "/p");
        x.tags.insert("tag:k".into(), "v".into());
        assert_eq!(x.labels().unwrap().len(), 5);
        x.tags.insert("path".into(), "v".into());
        assert!(x.labels().is_err());
    }

    #[test]
    fn reuse_rule() {
        let a = DirEntry {
            entry_type: EntryType::File,
            size: 3,
            mtime: 7,
            ..Default::default()
        };
        let mut b = a.clone();
        b.object_id = "different is fine".into();
        assert!(entry_metadata_equal(&a, &b, false));
        b.size = 4;
        assert!(!entry_metadata_equal(&a, &b, false));
        assert!(entry_metadata_equal(&a, &b, true));
        b.size = 3;
        b.mode = super::super::Permissions(0o644);
        assert!(!entry_metadata_equal(&a, &b, false));
    }

    #[test]
    fn malformed_rejected() {
        assert!(SnapshotManifest::from_json(b"{\"startTime\":5}").is_err());
        assert!(SnapshotManifest::from_json(b"{\"stats\":{\"fileCount\":3000000000}}").is_err());
        assert!(SnapshotManifest::from_json(b"{\"rootEntry\":\"x\"}").is_err());
        assert!(SnapshotManifest::from_json(b"{").is_err());
        let e = SnapshotManifest::from_json(
            b"{\"rootEntry\":null,\"tags\":null,\"pins\":null,\"other\":1}",
        )
        .unwrap();
        assert_eq!(e, SnapshotManifest::default());
    }
}
