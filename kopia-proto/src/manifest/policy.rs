//! Policy payloads (`type=policy` manifests, `snapshot/policy/*.go`, object-format §9.1):
//! the types and their exact Go encoding. Merging and defaults are in `policy_merge`.

use super::{Labels, ManifestError, SourceInfo};
use crate::gojson::{ObjectWriter, de, write_i64};
use serde::Deserialize;

/// `retention`: how many snapshots to keep per time bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RetentionPolicy {
    /// `keepLatest`.
    pub keep_latest: Option<i64>,
    /// `keepHourly`.
    pub keep_hourly: Option<i64>,
    /// `keepDaily`.
    pub keep_daily: Option<i64>,
    /// `keepWeekly`.
    pub keep_weekly: Option<i64>,
    /// `keepMonthly`.
    pub keep_monthly: Option<i64>,
    /// `keepAnnual`.
    pub keep_annual: Option<i64>,
    /// `ignoreIdenticalSnapshots`.
    pub ignore_identical_snapshots: Option<bool>,
}

/// `files`: which entries are included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FilesPolicy {
    /// `ignore`: `.gitignore`-style rules.
    #[serde(rename = "ignore", deserialize_with = "de::null_default")]
    pub ignore_rules: Vec<String>,
    /// `noParentIgnore`.
    #[serde(rename = "noParentIgnore", deserialize_with = "de::null_default")]
    pub no_parent_ignore_rules: bool,
    /// `ignoreDotFiles`: names of dot-ignore files.
    #[serde(rename = "ignoreDotFiles", deserialize_with = "de::null_default")]
    pub dot_ignore_files: Vec<String>,
    /// `noParentDotFiles`.
    #[serde(rename = "noParentDotFiles", deserialize_with = "de::null_default")]
    pub no_parent_dot_ignore_files: bool,
    /// `ignoreCacheDirs`.
    #[serde(rename = "ignoreCacheDirs")]
    pub ignore_cache_dirs: Option<bool>,
    /// `maxFileSize` (0 = unlimited).
    #[serde(rename = "maxFileSize", deserialize_with = "de::null_default")]
    pub max_file_size: i64,
    /// `oneFileSystem`.
    #[serde(rename = "oneFileSystem")]
    pub one_file_system: Option<bool>,
}

/// `errorHandling`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ErrorHandlingPolicy {
    /// `ignoreFileErrors`.
    pub ignore_file_errors: Option<bool>,
    /// `ignoreDirectoryErrors`.
    pub ignore_directory_errors: Option<bool>,
    /// `ignoreUnknownTypes`.
    pub ignore_unknown_types: Option<bool>,
}

/// One `scheduling.timeOfDay` element (both keys always written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(default)]
pub struct TimeOfDay {
    /// `hour`.
    #[serde(deserialize_with = "de::null_default")]
    pub hour: i64,
    /// `min`.
    #[serde(rename = "min", deserialize_with = "de::null_default")]
    pub minute: i64,
}

/// `scheduling`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SchedulingPolicy {
    /// `intervalSeconds`.
    #[serde(rename = "intervalSeconds", deserialize_with = "de::null_default")]
    pub interval_seconds: i64,
    /// `timeOfDay`.
    #[serde(rename = "timeOfDay", deserialize_with = "de::null_default")]
    pub times_of_day: Vec<TimeOfDay>,
    /// `noParentTimeOfDay`.
    #[serde(rename = "noParentTimeOfDay", deserialize_with = "de::null_default")]
    pub no_parent_times_of_day: bool,
    /// `manual`.
    #[serde(deserialize_with = "de::null_default")]
    pub manual: bool,
    /// `cron`.
    #[serde(deserialize_with = "de::null_default")]
    pub cron: Vec<String>,
    /// `runMissed`.
    #[serde(rename = "runMissed")]
    pub run_missed: Option<bool>,
}

/// `compression` (file data).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CompressionPolicy {
    /// `compressorName`.
    #[serde(deserialize_with = "de::null_default")]
    pub compressor_name: String,
    /// `onlyCompress`: extensions.
    #[serde(deserialize_with = "de::null_default")]
    pub only_compress: Vec<String>,
    /// `noParentOnlyCompress`.
    #[serde(deserialize_with = "de::null_default")]
    pub no_parent_only_compress: bool,
    /// `neverCompress`: extensions.
    #[serde(deserialize_with = "de::null_default")]
    pub never_compress: Vec<String>,
    /// `noParentNeverCompress`.
    #[serde(deserialize_with = "de::null_default")]
    pub no_parent_never_compress: bool,
    /// `minSize`.
    #[serde(deserialize_with = "de::null_default")]
    pub min_size: i64,
    /// `maxSize`.
    #[serde(deserialize_with = "de::null_default")]
    pub max_size: i64,
}

/// `metadataCompression`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MetadataCompressionPolicy {
    /// `compressorName`.
    #[serde(deserialize_with = "de::null_default")]
    pub compressor_name: String,
}

/// `splitter`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SplitterPolicy {
    /// `algorithm`: splitter name for file data; empty = repository default.
    #[serde(deserialize_with = "de::null_default")]
    pub algorithm: String,
}

/// A before/after action command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ActionCommand {
    /// `path`.
    #[serde(rename = "path", deserialize_with = "de::null_default")]
    pub command: String,
    /// `args`.
    #[serde(rename = "args", deserialize_with = "de::null_default")]
    pub arguments: Vec<String>,
    /// `script`.
    #[serde(deserialize_with = "de::null_default")]
    pub script: String,
    /// `timeout` (seconds).
    #[serde(rename = "timeout", deserialize_with = "de::null_default")]
    pub timeout_seconds: i64,
    /// `mode`: `essential`, `optional` or `async`.
    #[serde(deserialize_with = "de::null_default")]
    pub mode: String,
}

/// `actions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActionsPolicy {
    /// `beforeFolder` (not inherited).
    pub before_folder: Option<ActionCommand>,
    /// `afterFolder` (not inherited).
    pub after_folder: Option<ActionCommand>,
    /// `beforeSnapshotRoot`.
    pub before_snapshot_root: Option<ActionCommand>,
    /// `afterSnapshotRoot`.
    pub after_snapshot_root: Option<ActionCommand>,
}

/// `osSnapshots.volumeShadowCopy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct VolumeShadowCopyPolicy {
    /// `enable`: 0 never, 1 always, 2 when available.
    pub enable: Option<u8>,
}

/// `osSnapshots`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct OsSnapshotPolicy {
    /// `volumeShadowCopy`.
    #[serde(rename = "volumeShadowCopy", deserialize_with = "de::null_default")]
    pub volume_shadow_copy: VolumeShadowCopyPolicy,
}

/// `logging.directories` (levels 0–10).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DirLoggingPolicy {
    /// `snapshotted`.
    pub snapshotted: Option<i64>,
    /// `ignored`.
    pub ignored: Option<i64>,
}

/// `logging.entries` (levels 0–10).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntryLoggingPolicy {
    /// `snapshotted`.
    pub snapshotted: Option<i64>,
    /// `ignored`.
    pub ignored: Option<i64>,
    /// `cacheHit`.
    pub cache_hit: Option<i64>,
    /// `cacheMiss`.
    pub cache_miss: Option<i64>,
}

/// `logging`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LoggingPolicy {
    /// `directories`.
    #[serde(deserialize_with = "de::null_default")]
    pub directories: DirLoggingPolicy,
    /// `entries`.
    #[serde(deserialize_with = "de::null_default")]
    pub entries: EntryLoggingPolicy,
}

/// `upload`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UploadPolicy {
    /// `maxParallelSnapshots`.
    pub max_parallel_snapshots: Option<i64>,
    /// `maxParallelFileReads`.
    pub max_parallel_file_reads: Option<i64>,
    /// `parallelUploadAboveSize` (bytes).
    pub parallel_upload_above_size: Option<i64>,
}

/// A policy payload. `labels` is not part of the JSON; it holds the manifest's labels
/// (which say whose policy it is).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Manifest labels (`json:"-"` in kopia).
    #[serde(skip)]
    pub labels: Labels,
    /// `retention`.
    #[serde(deserialize_with = "de::null_default")]
    pub retention: RetentionPolicy,
    /// `files`.
    #[serde(deserialize_with = "de::null_default")]
    pub files: FilesPolicy,
    /// `errorHandling`.
    #[serde(rename = "errorHandling", deserialize_with = "de::null_default")]
    pub error_handling: ErrorHandlingPolicy,
    /// `scheduling`.
    #[serde(deserialize_with = "de::null_default")]
    pub scheduling: SchedulingPolicy,
    /// `compression`.
    #[serde(deserialize_with = "de::null_default")]
    pub compression: CompressionPolicy,
    /// `metadataCompression`.
    #[serde(rename = "metadataCompression", deserialize_with = "de::null_default")]
    pub metadata_compression: MetadataCompressionPolicy,
    /// `splitter`.
    #[serde(deserialize_with = "de::null_default")]
    pub splitter: SplitterPolicy,
    /// `actions`.
    #[serde(deserialize_with = "de::null_default")]
    pub actions: ActionsPolicy,
    /// `osSnapshots`.
    #[serde(rename = "osSnapshots", deserialize_with = "de::null_default")]
    pub os_snapshots: OsSnapshotPolicy,
    /// `logging`.
    #[serde(deserialize_with = "de::null_default")]
    pub logging: LoggingPolicy,
    /// `upload`.
    #[serde(deserialize_with = "de::null_default")]
    pub upload: UploadPolicy,
    /// `noParent`: stop merging with parents (and with built-in defaults).
    #[serde(rename = "noParent", deserialize_with = "de::null_default")]
    pub no_parent: bool,
}

fn write_action(o: &mut ObjectWriter<'_>, key: &str, a: &Option<ActionCommand>) {
    if let Some(a) = a {
        let mut w = ObjectWriter::new(o.key(key));
        w.str_omitempty("path", &a.command);
        w.strings_omitempty("args", &a.arguments);
        w.str_omitempty("script", &a.script);
        w.i64_omitempty("timeout", a.timeout_seconds);
        w.str_omitempty("mode", &a.mode);
        w.finish();
    }
}

impl Policy {
    /// Parses a policy payload (labels left empty; set them from the manifest).
    pub fn from_json(json: &[u8]) -> Result<Self, ManifestError> {
        de::from_slice_first(json).map_err(ManifestError::json("policy"))
    }

    /// The source this policy belongs to, from its `hostname`/`username`/`path` labels.
    pub fn target(&self) -> SourceInfo {
        SourceInfo::from_labels(&self.labels)
    }

    /// Appends the Go encoding of the payload.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = ObjectWriter::new(out);
        let r = &self.retention;
        let mut w = ObjectWriter::new(o.key("retention"));
        w.opt_i64("keepLatest", r.keep_latest);
        w.opt_i64("keepHourly", r.keep_hourly);
        w.opt_i64("keepDaily", r.keep_daily);
        w.opt_i64("keepWeekly", r.keep_weekly);
        w.opt_i64("keepMonthly", r.keep_monthly);
        w.opt_i64("keepAnnual", r.keep_annual);
        w.opt_bool("ignoreIdenticalSnapshots", r.ignore_identical_snapshots);
        w.finish();

        let f = &self.files;
        let mut w = ObjectWriter::new(o.key("files"));
        w.strings_omitempty("ignore", &f.ignore_rules);
        w.bool_omitempty("noParentIgnore", f.no_parent_ignore_rules);
        w.strings_omitempty("ignoreDotFiles", &f.dot_ignore_files);
        w.bool_omitempty("noParentDotFiles", f.no_parent_dot_ignore_files);
        w.opt_bool("ignoreCacheDirs", f.ignore_cache_dirs);
        w.i64_omitempty("maxFileSize", f.max_file_size);
        w.opt_bool("oneFileSystem", f.one_file_system);
        w.finish();

        let e = &self.error_handling;
        let mut w = ObjectWriter::new(o.key("errorHandling"));
        w.opt_bool("ignoreFileErrors", e.ignore_file_errors);
        w.opt_bool("ignoreDirectoryErrors", e.ignore_directory_errors);
        w.opt_bool("ignoreUnknownTypes", e.ignore_unknown_types);
        w.finish();

        let s = &self.scheduling;
        let mut w = ObjectWriter::new(o.key("scheduling"));
        w.i64_omitempty("intervalSeconds", s.interval_seconds);
        if !s.times_of_day.is_empty() {
            let buf = w.key("timeOfDay");
            buf.push(b'[');
            for (i, t) in s.times_of_day.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(b"{\"hour\":");
                write_i64(buf, t.hour);
                buf.extend_from_slice(b",\"min\":");
                write_i64(buf, t.minute);
                buf.push(b'}');
            }
            buf.push(b']');
        }
        w.bool_omitempty("noParentTimeOfDay", s.no_parent_times_of_day);
        w.bool_omitempty("manual", s.manual);
        w.strings_omitempty("cron", &s.cron);
        w.opt_bool("runMissed", s.run_missed);
        w.finish();

        let c = &self.compression;
        let mut w = ObjectWriter::new(o.key("compression"));
        w.str_omitempty("compressorName", &c.compressor_name);
        w.strings_omitempty("onlyCompress", &c.only_compress);
        w.bool_omitempty("noParentOnlyCompress", c.no_parent_only_compress);
        w.strings_omitempty("neverCompress", &c.never_compress);
        w.bool_omitempty("noParentNeverCompress", c.no_parent_never_compress);
        w.i64_omitempty("minSize", c.min_size);
        w.i64_omitempty("maxSize", c.max_size);
        w.finish();

        let mut w = ObjectWriter::new(o.key("metadataCompression"));
        w.str_omitempty("compressorName", &self.metadata_compression.compressor_name);
        w.finish();

        let mut w = ObjectWriter::new(o.key("splitter"));
        w.str_omitempty("algorithm", &self.splitter.algorithm);
        w.finish();

        let a = &self.actions;
        let mut w = ObjectWriter::new(o.key("actions"));
        write_action(&mut w, "beforeFolder", &a.before_folder);
        write_action(&mut w, "afterFolder", &a.after_folder);
        write_action(&mut w, "beforeSnapshotRoot", &a.before_snapshot_root);
        write_action(&mut w, "afterSnapshotRoot", &a.after_snapshot_root);
        w.finish();

        let mut w = ObjectWriter::new(o.key("osSnapshots"));
        let mut v = ObjectWriter::new(w.key("volumeShadowCopy"));
        v.opt_i64(
            "enable",
            self.os_snapshots.volume_shadow_copy.enable.map(i64::from),
        );
        v.finish();
        w.finish();

        let l = &self.logging;
        let mut w = ObjectWriter::new(o.key("logging"));
        let mut d = ObjectWriter::new(w.key("directories"));
        d.opt_i64("snapshotted", l.directories.snapshotted);
        d.opt_i64("ignored", l.directories.ignored);
        d.finish();
        let mut en = ObjectWriter::new(w.key("entries"));
        en.opt_i64("snapshotted", l.entries.snapshotted);
        en.opt_i64("ignored", l.entries.ignored);
        en.opt_i64("cacheHit", l.entries.cache_hit);
        en.opt_i64("cacheMiss", l.entries.cache_miss);
        en.finish();
        w.finish();

        let u = &self.upload;
        let mut w = ObjectWriter::new(o.key("upload"));
        w.opt_i64("maxParallelSnapshots", u.max_parallel_snapshots);
        w.opt_i64("maxParallelFileReads", u.max_parallel_file_reads);
        w.opt_i64("parallelUploadAboveSize", u.parallel_upload_above_size);
        w.finish();

        o.bool_omitempty("noParent", self.no_parent);
        o.finish();
    }

    /// The Go encoding of the payload (no trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_json(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_policy_encoding() {
        assert_eq!(
            String::from_utf8(Policy::default().to_json()).unwrap(),
            r#"{"retention":{},"files":{},"errorHandling":{},"scheduling":{},"compression":{},"metadataCompression":{},"splitter":{},"actions":{},"osSnapshots":{"volumeShadowCopy":{}},"logging":{"directories":{},"entries":{}},"upload":{}}"#
        );
    }

    #[test]
    fn full_round_trip() {
        let json = r#"{"retention":{"keepLatest":0,"ignoreIdenticalSnapshots":true},"files":{"ignore":["*.tmp","/a\u003cb"],"noParentIgnore":true,"ignoreDotFiles":[".x"],"noParentDotFiles":true,"ignoreCacheDirs":false,"maxFileSize":5,"oneFileSystem":true},"errorHandling":{"ignoreFileErrors":true},"scheduling":{"intervalSeconds":3600,"timeOfDay":[{"hour":0,"min":0},{"hour":23,"min":5}],"noParentTimeOfDay":true,"manual":true,"cron":["0 * * * *"],"runMissed":false},"compression":{"compressorName":"zstd","onlyCompress":[".txt"],"noParentOnlyCompress":true,"neverCompress":[".zip"],"noParentNeverCompress":true,"minSize":1,"maxSize":2},"metadataCompression":{"compressorName":"none"},"splitter":{"algorithm":"FIXED-1M"},"actions":{"beforeFolder":{"path":"/bin/x","args":["a"],"timeout":5,"mode":"async"},"afterSnapshotRoot":{"script":"echo \u0026"}},"osSnapshots":{"volumeShadowCopy":{"enable":2}},"logging":{"directories":{"snapshotted":0},"entries":{"cacheMiss":10}},"upload":{"maxParallelSnapshots":2,"maxParallelFileReads":0,"parallelUploadAboveSize":8388608},"noParent":true}"#;
        let p = Policy::from_json(json.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(p.to_json()).unwrap(), json);
        assert_eq!(p.retention.keep_latest, Some(0));
        assert_eq!(p.actions.before_folder.as_ref().unwrap().timeout_seconds, 5);
    }

    #[test]
    fn malformed_rejected_and_nulls_tolerated() {
        assert!(Policy::from_json(b"{\"retention\":{\"keepLatest\":\"3\"}}").is_err());
        assert!(
            Policy::from_json(b"{\"osSnapshots\":{\"volumeShadowCopy\":{\"enable\":300}}}")
                .is_err()
        );
        assert!(Policy::from_json(b"{\"files\":{\"ignore\":\"x\"}}").is_err());
        assert!(Policy::from_json(b"{").is_err());
        let p = Policy::from_json(
            b"{\"retention\":null,\"files\":{\"ignore\":null},\"unknown\":{\"a\":[1]}}",
        )
        .unwrap();
        assert_eq!(p, Policy::default());
    }
}
