//! Directory objects (`{"stream":"kopia:directory","entries":[...],"summary":{...}}`):
//! entries, summaries and their exact Go encoding (object-format §6.1, §6.7, §6.8).

use super::{ManifestError, Permissions};
use crate::gojson::{ObjectWriter, de, write_string};
use serde::{Deserialize, Deserializer};

/// The `stream` value of every directory object.
pub const DIRECTORY_STREAM_TYPE: &str = "kopia:directory";

/// Kind of a directory entry (`type` key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// `""` (never written by kopia v0.23.1; key omitted).
    #[default]
    Unknown,
    /// `"f"`: regular file.
    File,
    /// `"d"`: directory.
    Directory,
    /// `"s"`: symbolic link.
    Symlink,
    /// Any other string, kept so that it round-trips.
    Other(String),
}

impl EntryType {
    /// The JSON string value.
    pub fn as_str(&self) -> &str {
        match self {
            EntryType::Unknown => "",
            EntryType::File => "f",
            EntryType::Directory => "d",
            EntryType::Symlink => "s",
            EntryType::Other(s) => s,
        }
    }

    /// Maps a JSON string value to a type.
    pub fn from_json_str(s: &str) -> Self {
        match s {
            "" => EntryType::Unknown,
            "f" => EntryType::File,
            "d" => EntryType::Directory,
            "s" => EntryType::Symlink,
            other => EntryType::Other(other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for EntryType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        Ok(s.map(|s| EntryType::from_json_str(&s)).unwrap_or_default())
    }
}

/// One failed child recorded in a summary (`{"path":P,"error":E}`); byte strings because
/// both hold file names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct EntryWithError {
    /// Path relative to the snapshot root, `/`-separated.
    #[serde(deserialize_with = "de::bytes")]
    pub path: Vec<u8>,
    /// Error text.
    #[serde(deserialize_with = "de::bytes")]
    pub error: Vec<u8>,
}

/// Summary of a directory subtree (`summary` of a directory object, `summ` of its entry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DirectorySummary {
    /// `size`: total bytes of all files in the subtree.
    #[serde(rename = "size", deserialize_with = "de::null_default")]
    pub total_file_size: i64,
    /// `files`: number of files in the subtree.
    #[serde(rename = "files", deserialize_with = "de::null_default")]
    pub total_file_count: i64,
    /// `symlinks`: number of symlinks in the subtree.
    #[serde(rename = "symlinks", deserialize_with = "de::null_default")]
    pub total_symlink_count: i64,
    /// `dirs`: number of directories in the subtree, including this one.
    #[serde(rename = "dirs", deserialize_with = "de::null_default")]
    pub total_dir_count: i64,
    /// `maxTime`: latest modification time in the subtree (ns since the epoch).
    #[serde(rename = "maxTime", deserialize_with = "de::time")]
    pub max_mod_time: i64,
    /// `incomplete`: reason the directory is incomplete, empty when complete.
    #[serde(rename = "incomplete", deserialize_with = "de::null_default")]
    pub incomplete_reason: String,
    /// `numFailed`: fatal errors in the subtree.
    #[serde(rename = "numFailed", deserialize_with = "de::null_default")]
    pub fatal_error_count: i64,
    /// `numIgnoredErrors`: ignored errors in the subtree.
    #[serde(rename = "numIgnoredErrors", deserialize_with = "de::null_default")]
    pub ignored_error_count: i64,
    /// `errors`: failed entries, sorted by path.
    #[serde(rename = "errors", deserialize_with = "de::null_default")]
    pub failed_entries: Vec<EntryWithError>,
}

impl DirectorySummary {
    /// Appends the Go encoding of this summary.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = ObjectWriter::new(out);
        o.i64("size", self.total_file_size);
        o.i64("files", self.total_file_count);
        o.i64("symlinks", self.total_symlink_count);
        o.i64("dirs", self.total_dir_count);
        o.time("maxTime", self.max_mod_time);
        o.str_omitempty("incomplete", &self.incomplete_reason);
        o.i64("numFailed", self.fatal_error_count);
        o.i64_omitempty("numIgnoredErrors", self.ignored_error_count);
        if !self.failed_entries.is_empty() {
            let out = o.key("errors");
            out.push(b'[');
            for (i, e) in self.failed_entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let mut eo = ObjectWriter::new(out);
                eo.bytes("path", &e.path);
                eo.bytes("error", &e.error);
                eo.finish();
            }
            out.push(b']');
        }
        o.finish();
    }
}

/// One entry of a directory object (also the `rootEntry` of a snapshot manifest).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DirEntry {
    /// `name`: base name, raw bytes (written with invalid UTF-8 replaced, as kopia does).
    #[serde(deserialize_with = "de::bytes")]
    pub name: Vec<u8>,
    /// `type`.
    #[serde(rename = "type")]
    pub entry_type: EntryType,
    /// `mode`: Go permission bits.
    pub mode: Permissions,
    /// `size`: file bytes, symlink target length, 0 for directories.
    #[serde(deserialize_with = "de::null_default")]
    pub size: i64,
    /// `mtime`: modification time, ns since the epoch (0 = omitted).
    #[serde(deserialize_with = "de::time")]
    pub mtime: i64,
    /// `uid`.
    #[serde(deserialize_with = "de::null_default")]
    pub uid: u32,
    /// `gid`.
    #[serde(deserialize_with = "de::null_default")]
    pub gid: u32,
    /// `obj`: object ID string (kept unparsed here; validated by the object layer).
    #[serde(rename = "obj", deserialize_with = "de::null_default")]
    pub object_id: String,
    /// `summ`: the subtree summary (directories only).
    #[serde(rename = "summ", deserialize_with = "de::null_default")]
    pub summary: Option<DirectorySummary>,
}

impl DirEntry {
    /// Appends the Go encoding of this entry (key order and omissions as kopia).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = ObjectWriter::new(out);
        o.bytes_omitempty("name", &self.name);
        o.str_omitempty("type", self.entry_type.as_str());
        if self.mode.0 != 0 {
            self.mode.write_json(o.key("mode"));
        }
        o.i64_omitempty("size", self.size);
        if self.mtime != 0 {
            o.time("mtime", self.mtime);
        }
        o.i64_omitempty("uid", i64::from(self.uid));
        o.i64_omitempty("gid", i64::from(self.gid));
        o.str("obj", &self.object_id);
        if let Some(s) = &self.summary {
            s.write_json(o.key("summ"));
        }
        o.finish();
    }

    /// The Go encoding of this entry as a standalone JSON document (no trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        out
    }

    /// Parses a JSON entry (e.g. a `.kopia-entry` placeholder or a manifest's `rootEntry`).
    pub fn from_json(json: &[u8]) -> Result<Self, ManifestError> {
        de::from_slice_first(json).map_err(ManifestError::json("directory entry"))
    }

    /// `true` for `type == "d"`.
    pub fn is_dir(&self) -> bool {
        self.entry_type == EntryType::Directory
    }

    /// Size as kopia's snapshot file system reports it (§6.8): `summ.size` for a
    /// subdirectory that has a summary, otherwise `size`.
    pub fn effective_size(&self) -> i64 {
        match (&self.summary, self.is_dir()) {
            (Some(s), true) => s.total_file_size,
            _ => self.size,
        }
    }

    /// Modification time as kopia's snapshot file system reports it (§6.8): `summ.maxTime`
    /// for a subdirectory that has a summary, otherwise `mtime`.
    pub fn effective_mtime(&self) -> i64 {
        match (&self.summary, self.is_dir()) {
            (Some(s), true) => s.max_mod_time,
            _ => self.mtime,
        }
    }
}

/// A decoded directory object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DirManifest {
    /// `stream`: always `kopia:directory` for valid objects.
    #[serde(rename = "stream", deserialize_with = "de::null_default")]
    pub stream_type: String,
    /// `entries`: directories first, then the rest, each group by name (when built by kopia).
    #[serde(deserialize_with = "de::null_default")]
    pub entries: Vec<DirEntry>,
    /// `summary` of this directory's subtree.
    #[serde(deserialize_with = "de::null_default")]
    pub summary: Option<DirectorySummary>,
}

impl DirManifest {
    /// Parses a directory object like kopia's reader: tolerant JSON, but the stream type must
    /// be `kopia:directory`. Bytes after the first JSON value are ignored, as in Go.
    pub fn from_json(json: &[u8]) -> Result<Self, ManifestError> {
        let m: DirManifest =
            de::from_slice_first(json).map_err(ManifestError::json("directory object"))?;
        if m.stream_type != DIRECTORY_STREAM_TYPE {
            return Err(ManifestError::BadStreamType(m.stream_type));
        }
        Ok(m)
    }

    /// Appends the exact bytes kopia stores for this directory, including the trailing newline.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(self.entries.len() * 160 + 200);
        let mut o = ObjectWriter::new(out);
        write_string(o.key("stream"), self.stream_type.as_bytes());
        let buf = o.key("entries");
        if self.entries.is_empty() {
            buf.extend_from_slice(b"null");
        } else {
            buf.push(b'[');
            for (i, e) in self.entries.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                e.write_json(buf);
            }
            buf.push(b']');
        }
        match &self.summary {
            Some(s) => s.write_json(o.key("summary")),
            None => o.raw("summary", b"null"),
        }
        o.finish();
        out.push(b'\n');
    }

    /// The exact bytes kopia stores for this directory (the content of the `k` object).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZDIR: &str = "{\"stream\":\"kopia:directory\",\"entries\":[{\"name\":\"we\\u003cird\\u003e\\u0026name\\u2028.txt\",\"type\":\"f\",\"mode\":\"040000755\",\"size\":1,\"mtime\":\"2024-02-29T12:00:00.01Z\",\"uid\":1000,\"gid\":100,\"obj\":\"86b9c82c6bf2c78ddefacfe841e2f3ca\"}],\"summary\":{\"size\":1,\"files\":1,\"symlinks\":0,\"dirs\":1,\"maxTime\":\"2024-02-29T12:00:00.01Z\",\"numFailed\":0}}\n";

    #[test]
    fn round_trip_exact() {
        let m = DirManifest::from_json(ZDIR.as_bytes()).unwrap();
        assert_eq!(m.entries[0].name, "we<ird>&name\u{2028}.txt".as_bytes());
        assert_eq!(m.entries[0].mode, Permissions::from_posix(0o4755));
        assert_eq!(String::from_utf8(m.to_json()).unwrap(), ZDIR);
    }

    #[test]
    fn tolerant_reader() {
        // Other key order, unknown keys, mode as 0o/decimal/hex, non-UTC offset, nulls.
        let variant = r#"{"summary":{"maxTime":"2024-02-29T13:00:00.01+01:00","dirs":1,"files":1,"size":1,
            "symlinks":0,"numFailed":0,"extra":[1,2]},"x":{"y":null},"stream":"kopia:directory",
            "entries":[{"obj":"86b9c82c6bf2c78ddefacfe841e2f3ca","gid":100,"uid":1000,
            "mtime":"2024-02-29T07:00:00.01-05:00","size":1,"mode":"0o40000755","type":"f",
            "name":"we<ird>&name\u2028.txt","future":{"a":"b"},"summ":null}]}"#;
        let m = DirManifest::from_json(variant.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(m.to_json()).unwrap(), ZDIR);
        for mode in [
            "\"420\"",
            "\"0x1a4\"",
            "\"0o644\"",
            "\"0644\"",
            "\"0b110100100\"",
        ] {
            let e =
                DirEntry::from_json(format!(r#"{{"mode":{mode},"obj":"a"}}"#).as_bytes()).unwrap();
            assert_eq!(e.mode, Permissions(0o644), "{mode}");
        }
        let e = DirEntry::from_json(
            br#"{"name":null,"type":null,"mode":null,"size":null,"mtime":null,"obj":null}"#,
        )
        .unwrap();
        assert_eq!(e, DirEntry::default());
        let m = DirManifest::from_json(br#"{"stream":"kopia:directory"}"#).unwrap();
        assert!(m.entries.is_empty() && m.summary.is_none());
        assert_eq!(
            m.to_json(),
            b"{\"stream\":\"kopia:directory\",\"entries\":null,\"summary\":null}\n"
        );
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"stream\":\"kopia:directory\",\"entries\":[}",
            b"{\"stream\":\"kopia:directory\",\"entries\":{}}",
            b"{\"stream\":\"kopia:directory\",\"entries\":[{\"mode\":420}]}",
            b"{\"stream\":\"kopia:directory\",\"entries\":[{\"mode\":\"abc\"}]}",
            b"{\"stream\":\"kopia:directory\",\"entries\":[{\"mtime\":\"yesterday\"}]}",
            b"{\"stream\":\"kopia:directory\",\"entries\":[{\"uid\":-1}]}",
            b"{\"stream\":\"kopia:directory\",\"entries\":[{\"size\":1.5}]}",
            b"[1,2]",
        ] {
            assert!(
                matches!(DirManifest::from_json(bad), Err(ManifestError::Json { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            DirManifest::from_json(br#"{"stream":"kopia:indirect","entries":[]}"#),
            Err(ManifestError::BadStreamType(s)) if s == "kopia:indirect"
        ));
        assert!(matches!(
            DirManifest::from_json(b"{}"),
            Err(ManifestError::BadStreamType(_))
        ));
    }

    #[test]
    fn effective_size_and_mtime_of_subdirectories() {
        let mut e = DirEntry {
            entry_type: EntryType::Directory,
            size: 0,
            mtime: 5,
            summary: Some(DirectorySummary {
                total_file_size: 10,
                max_mod_time: 9,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!((e.effective_size(), e.effective_mtime()), (10, 9));
        e.entry_type = EntryType::File;
        assert_eq!((e.effective_size(), e.effective_mtime()), (0, 5));
    }

    #[test]
    fn hundred_thousand_entries_encode_and_decode_fast() {
        let entries: Vec<DirEntry> = (0..100_000)
            .map(|i| DirEntry {
                name: format!("file-{i:06}.dat").into_bytes(),
                entry_type: EntryType::File,
                mode: Permissions(0o644),
                size: i * 37,
                mtime: 1_700_000_000_123_456_789 + i,
                uid: 1000,
                gid: 1000,
                object_id: "2a1e56c1ea339fd31208fe6591e79df7".into(),
                summary: None,
            })
            .collect();
        let m = DirManifest {
            stream_type: DIRECTORY_STREAM_TYPE.into(),
            entries,
            summary: Some(DirectorySummary::default()),
        };
        let t = std::time::Instant::now();
        let bytes = m.to_json();
        let enc = t.elapsed();
        let t = std::time::Instant::now();
        let back = DirManifest::from_json(&bytes).unwrap();
        let dec = t.elapsed();
        assert_eq!(back, m);
        assert!(enc.as_millis() < 500, "encoding took {enc:?}");
        assert!(dec.as_millis() < 1500, "decoding took {dec:?}");
    }
}
