//! Legacy index blob manager of format-v1 repositories (kopia
//! `repo/content/indexblob/index_blob_manager_v0.go`, spec §7.7): which `n` blobs are
//! active given the decrypted `m` compaction logs. Read-only support.

use std::collections::HashSet;

use super::epoch::BlobMetadata;

/// Prefix of legacy index blobs.
pub const LEGACY_INDEX_PREFIX: &str = "n";
/// Prefix of legacy compaction logs (not manifests!).
pub const COMPACTION_LOG_PREFIX: &str = "m";
/// Prefix of legacy cleanup logs.
pub const CLEANUP_LOG_PREFIX: &str = "l";
/// Blob written by a format upgrade so that old clients fail; never an index.
pub const LEGACY_INDEX_POISON_BLOB_ID: &str = "n00000000000000000000000000000000-repository_unreadable_by_this_kopia_version_upgrade_required";

/// Why a compaction log could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid legacy compaction log: {0}")]
pub struct CompactionLogError(#[from] serde_json::Error);

/// Blob metadata as serialised inside compaction logs (timestamp kept as Go wrote it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct LogBlobMetadata {
    /// Blob ID.
    pub id: String,
    /// Length in bytes.
    #[serde(default)]
    pub length: i64,
    /// RFC 3339 timestamp.
    #[serde(default)]
    pub timestamp: String,
}

/// Decrypted content of an `m` compaction log blob.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
pub struct CompactionLog {
    /// Index blobs that were merged.
    #[serde(rename = "inputMetadata", default)]
    pub input_metadata: Vec<LogBlobMetadata>,
    /// Index blobs that replaced them.
    #[serde(rename = "outputMetadata", default)]
    pub output_metadata: Vec<LogBlobMetadata>,
}

/// Parses the decrypted JSON of a compaction log (`null` lists count as empty).
pub fn parse_compaction_log(json: &[u8]) -> Result<CompactionLog, CompactionLogError> {
    #[derive(serde::Deserialize)]
    struct Raw {
        #[serde(rename = "inputMetadata", default)]
        input: Option<Vec<LogBlobMetadata>>,
        #[serde(rename = "outputMetadata", default)]
        output: Option<Vec<LogBlobMetadata>>,
    }
    let raw: Raw = serde_json::from_slice(json)?;
    Ok(CompactionLog {
        input_metadata: raw.input.unwrap_or_default(),
        output_metadata: raw.output.unwrap_or_default(),
    })
}

/// Kopia `ListActiveIndexBlobs` + `removeCompactedIndexes`: the `n` blobs of `listing`
/// (in listing order, duplicates and the upgrade poison blob removed) minus the inputs of
/// every compaction log whose outputs are **all** present in the listing.
pub fn active_legacy_index_blobs(
    listing: &[BlobMetadata],
    compaction_logs: &[CompactionLog],
) -> Vec<BlobMetadata> {
    let present: HashSet<&str> = listing
        .iter()
        .filter(|b| b.id.starts_with(LEGACY_INDEX_PREFIX))
        .map(|b| b.id.as_str())
        .collect();
    let mut superseded: HashSet<&str> = HashSet::new();
    for log in compaction_logs {
        if log
            .output_metadata
            .iter()
            .all(|o| present.contains(o.id.as_str()))
        {
            superseded.extend(log.input_metadata.iter().map(|i| i.id.as_str()));
        }
    }
    let mut seen: HashSet<&str> = HashSet::new();
    listing
        .iter()
        .filter(|b| b.id.starts_with(LEGACY_INDEX_PREFIX))
        .filter(|b| b.id != LEGACY_INDEX_POISON_BLOB_ID)
        .filter(|b| !superseded.contains(b.id.as_str()))
        .filter(|b| seen.insert(b.id.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[BlobMetadata]) -> Vec<&str> {
        v.iter().map(|b| b.id.as_str()).collect()
    }

    #[test]
    fn compacted_inputs_disappear_only_when_all_outputs_exist() {
        let listing: Vec<BlobMetadata> = [
            "n1",
            "n2",
            "n3",
            "n4",
            "mlog",
            "p1",
            LEGACY_INDEX_POISON_BLOB_ID,
        ]
        .into_iter()
        .map(BlobMetadata::named)
        .collect();
        let complete = parse_compaction_log(
            br#"{"inputMetadata":[{"id":"n1","length":5,"timestamp":"2020-01-01T00:00:00Z"},{"id":"n2"}],
                "outputMetadata":[{"id":"n3","length":9,"timestamp":"2020-01-01T00:00:01Z"}]}"#,
        )
        .unwrap();
        let incomplete = parse_compaction_log(
            br#"{"inputMetadata":[{"id":"n4"}],"outputMetadata":[{"id":"n3"},{"id":"n9"}]}"#,
        )
        .unwrap();
        assert_eq!(complete.input_metadata[0].length, 5);
        let active = active_legacy_index_blobs(&listing, &[complete, incomplete]);
        assert_eq!(names(&active), ["n3", "n4"]);
    }

    #[test]
    fn null_lists_and_bad_json() {
        let log = parse_compaction_log(br#"{"inputMetadata":null,"outputMetadata":null}"#).unwrap();
        assert_eq!(log, CompactionLog::default());
        assert!(parse_compaction_log(b"{").is_err());
        assert!(parse_compaction_log(br#"{"inputMetadata":5}"#).is_err());
        // A log with no outputs supersedes its inputs (all zero outputs are present).
        let listing = vec![BlobMetadata::named("n1")];
        let log = parse_compaction_log(br#"{"inputMetadata":[{"id":"n1"}]}"#).unwrap();
        assert!(active_legacy_index_blobs(&listing, &[log]).is_empty());
    }
}
