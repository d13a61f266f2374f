//! What commands print: one JSON document with `--json`, readable text otherwise.
//! JSON uses kopia's field names (`rootObjectID`, `startTime`, `userName`, …).

use serde_json::{Value, json};
use vmdp_core::proto::gojson::format_time;
use vmdp_core::proto::manifest::{DirEntry, EntryType, SnapshotManifest};

/// A snapshot manifest as JSON: kopia's manifest fields plus `rootObjectID`.
pub fn snapshot_json(m: &SnapshotManifest) -> Value {
    let mut v: Value = serde_json::from_slice(&m.to_json()).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut v {
        map.insert("id".into(), json!(m.id));
        map.insert("rootObjectID".into(), json!(m.root_object_id()));
    }
    v
}

/// A directory entry as JSON (name, type, mode, size, mtime, uid, gid, obj).
pub fn entry_json(path: &str, e: &DirEntry) -> Value {
    json!({
        "path": path,
        "type": type_name(&e.entry_type),
        "mode": e.mode.to_go_string(),
        "size": e.size,
        "mtime": format_time(e.mtime),
        "uid": e.uid,
        "gid": e.gid,
        "obj": e.object_id,
    })
}

/// `file`, `directory`, `symlink`, or the raw type string.
pub fn type_name(t: &EntryType) -> &str {
    match t {
        EntryType::File => "file",
        EntryType::Directory => "directory",
        EntryType::Symlink => "symlink",
        EntryType::Unknown => "unknown",
        EntryType::Other(s) => s,
    }
}

/// A Go timestamp (ns since the epoch, UTC) as `2026-12-04 21:03:05 UTC`.
pub fn human_time(ns: i64) -> String {
    let s = format_time(ns);
    let trimmed = s.split('.').next().unwrap_or(&s).trim_end_matches('Z');
    format!("{} UTC", trimmed.replacen('T', " ", 1))
}

/// A byte count with a binary unit (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// One line of `vmdp backup list`: time, ID, root object, size, counts, notes.
pub fn snapshot_line(m: &SnapshotManifest) -> String {
    let mut line = format!(
        "  {}  {}  {}  {}  files:{} dirs:{}",
        human_time(m.start_time),
        m.id,
        m.root_object_id(),
        human_bytes(u64::try_from(m.stats.total_size).unwrap_or(0)),
        m.stats.file_count,
        m.stats.dir_count,
    );
    if m.stats.error_count > 0 {
        line.push_str(&format!(" errors:{}", m.stats.error_count));
    }
    if !m.is_complete() {
        line.push_str(&format!(" (incomplete: {})", m.incomplete_reason));
    }
    if !m.description.is_empty() {
        line.push_str(&format!(" {:?}", m.description));
    }
    line
}

/// One line of `vmdp backup ls`: mode, size, time, object ID (with `long`), name (`/` after dirs).
pub fn entry_line(path: &str, e: &DirEntry, long: bool) -> String {
    let suffix = if e.is_dir() { "/" } else { "" };
    let object = if long {
        format!("{:<36} ", e.object_id)
    } else {
        String::new()
    };
    format!(
        "{} {:>12} {} {}{}{}",
        e.mode.to_go_string(),
        e.size,
        human_time(e.mtime),
        object,
        path,
        suffix
    )
}

/// Prints a JSON document (pretty, one document per command).
pub fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_time_drops_fraction_and_zone_letter() {
        assert_eq!(
            human_time(1_709_208_000_010_000_000),
            "2024-02-29 12:00:00 UTC"
        );
        assert_eq!(human_time(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn snapshot_json_has_kopia_names() {
        let m = SnapshotManifest {
            id: "abc".into(),
            root_entry: Some(DirEntry {
                object_id: "k123".into(),
                entry_type: EntryType::Directory,
                ..DirEntry::default()
            }),
            ..SnapshotManifest::default()
        };
        let v = snapshot_json(&m);
        assert_eq!(v["id"], "abc");
        assert_eq!(v["rootObjectID"], "k123");
        assert!(v.get("startTime").is_some(), "{v}");
        assert!(v.get("source").is_some(), "{v}");
    }
}
