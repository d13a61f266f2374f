//! Snapshot sources (`user@host:/path`), their JSON form and manifest labels
//! (`snapshot/source.go`, object-format §7.3).

use super::{ManifestError, TYPE_LABEL};
use crate::gojson::{ObjectWriter, de};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// Identifies what was snapshotted: host, user and absolute path. All empty = global scope.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(default)]
pub struct SourceInfo {
    /// `host`.
    #[serde(deserialize_with = "de::null_default")]
    pub host: String,
    /// `userName`.
    #[serde(rename = "userName", deserialize_with = "de::null_default")]
    pub user_name: String,
    /// `path`.
    #[serde(deserialize_with = "de::null_default")]
    pub path: String,
}

impl SourceInfo {
    /// A source with all three parts.
    pub fn new(
        host: impl Into<String>,
        user_name: impl Into<String>,
        path: impl Into<String>,
    ) -> Self {
        SourceInfo {
            host: host.into(),
            user_name: user_name.into(),
            path: path.into(),
        }
    }

    /// Parses kopia's textual source form like `ParseSourceInfo`: `(global)`, `user@host`,
    /// `user@host:/path`, or else an absolute path for `default_host`/`default_user` (cleaned
    /// lexically). Relative paths are rejected because resolving them needs the process's
    /// working directory.
    pub fn parse(s: &str, default_host: &str, default_user: &str) -> Result<Self, ManifestError> {
        if s == "(global)" {
            return Ok(SourceInfo::default());
        }
        let at = s.find('@');
        let colon = s.find(':');
        match (at, colon) {
            (Some(p1), Some(p2)) if p1 > 0 && p1 < p2 => {
                return Ok(SourceInfo::new(&s[p1 + 1..p2], &s[..p1], &s[p2 + 1..]));
            }
            (Some(p1), None) => {
                if p1 + 1 < s.len() {
                    return Ok(SourceInfo::new(&s[p1 + 1..], &s[..p1], ""));
                }
                return Err(ManifestError::invalid(
                    "source",
                    format!("invalid hostname in {s:?}"),
                ));
            }
            _ => {}
        }
        if !s.starts_with('/') {
            return Err(ManifestError::invalid(
                "source",
                format!("{s:?} is neither user@host[:path] nor an absolute path"),
            ));
        }
        Ok(SourceInfo::new(default_host, default_user, clean_path(s)))
    }

    /// Labels of a snapshot manifest for this source: `type=snapshot`, `hostname` (always),
    /// `username` and `path` when non-empty.
    pub fn snapshot_labels(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert(TYPE_LABEL.to_string(), "snapshot".to_string());
        m.insert("hostname".to_string(), self.host.clone());
        if !self.user_name.is_empty() {
            m.insert("username".to_string(), self.user_name.clone());
        }
        if !self.path.is_empty() {
            m.insert("path".to_string(), self.path.clone());
        }
        m
    }

    /// The source named by a manifest's `hostname`/`username`/`path` labels.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        SourceInfo::new(get("hostname"), get("username"), get("path"))
    }

    /// Appends the Go encoding `{"host":..,"userName":..,"path":..}`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = ObjectWriter::new(out);
        o.str("host", &self.host);
        o.str("userName", &self.user_name);
        o.str("path", &self.path);
        o.finish();
    }
}

impl fmt::Display for SourceInfo {
    /// `(global)`, `user@host` or `user@host:/path`, as kopia prints sources.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.is_empty() && self.path.is_empty() && self.user_name.is_empty() {
            return f.write_str("(global)");
        }
        if self.path.is_empty() {
            return write!(f, "{}@{}", self.user_name, self.host);
        }
        write!(f, "{}@{}:{}", self.user_name, self.host, self.path)
    }
}

/// Lexical clean of an absolute `/` path (Go `filepath.Clean` on Unix).
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse() {
        let s = SourceInfo::new("h", "u", "/a/b");
        assert_eq!(s.to_string(), "u@h:/a/b");
        assert_eq!(SourceInfo::parse("u@h:/a/b", "x", "y").unwrap(), s);
        assert_eq!(
            SourceInfo::parse("u@h", "x", "y").unwrap(),
            SourceInfo::new("h", "u", "")
        );
        assert_eq!(SourceInfo::new("h", "u", "").to_string(), "u@h");
        assert_eq!(SourceInfo::default().to_string(), "(global)");
        assert_eq!(
            SourceInfo::parse("(global)", "x", "y").unwrap(),
            SourceInfo::default()
        );
        assert_eq!(
            SourceInfo::parse("/a//b/./c/../d/", "x", "y").unwrap(),
            SourceInfo::new("x", "y", "/a/b/d")
        );
        assert!(SourceInfo::parse("u@", "x", "y").is_err());
        assert!(SourceInfo::parse("relative/dir", "x", "y").is_err());
    }

    #[test]
    fn labels_and_json() {
        let s = SourceInfo::new("h", "", "/p");
        let l = s.snapshot_labels();
        assert_eq!(l.len(), 3);
        assert_eq!(l["type"], "snapshot");
        assert_eq!(SourceInfo::from_labels(&l), s);
        let mut out = Vec::new();
        s.write_json(&mut out);
        assert_eq!(out, br#"{"host":"h","userName":"","path":"/p"}"#);
        let back: SourceInfo = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, s);
    }
}
