//! Test-only access to the golden repositories made by real kopia
//! (`vmdp_testkit::golden_repos()`, layout in `fixtures/golden/README.md`).
//!
//! kopia-proto does no I/O, so everything that touches the file system lives here:
//! loading `index.json`/`expect.json` (this module), listing and reading blobs
//! ([`storage`]), and kopia's ECC layer ([`ecc`]). The checks themselves are split by
//! layer: [`repository`] (format, indexes, packs, contents), [`snapshot`] (objects,
//! manifests) and [`rebuild`] (the snapshot re-created from the tree).

#![allow(dead_code)]

pub mod ecc;
pub mod rebuild;
pub mod repository;
pub mod snapshot;
pub mod storage;

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use kopia_proto::compression::Compressor;
use serde_json::Value;

/// Upper bound for a decompressed `Z` chunk or manifest (kopia's largest chunk is 16 MiB).
pub const MAX_PLAIN: usize = 64 << 20;

/// Reads and parses a JSON file, panicking with the path on failure.
pub fn load_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The golden output directory and its `index.json`.
pub struct Golden {
    /// `OUTDIR`.
    pub root: PathBuf,
    /// Parsed `index.json`.
    pub index: Value,
}

impl Golden {
    /// Loads (generating on first use) the golden repositories.
    pub fn load() -> Golden {
        let root = vmdp_testkit::golden_repos().to_path_buf();
        let index = load_json(&root.join("index.json"));
        assert_eq!(index["schema"], 1, "index.json schema");
        Golden { root, index }
    }

    /// Repository names in matrix order.
    pub fn repo_names(&self) -> Vec<String> {
        self.index["repos"]
            .as_array()
            .expect("index.json repos")
            .iter()
            .map(|v| v.as_str().expect("repo name").to_string())
            .collect()
    }

    /// The shared tree every repository snapshotted.
    pub fn tree(&self) -> PathBuf {
        self.root
            .join(self.index["tree_dir"].as_str().expect("tree_dir"))
    }

    /// The repository password.
    pub fn password(&self) -> &str {
        self.index["password"].as_str().expect("password")
    }

    /// Directory `OUTDIR/<name>` with its parsed `expect.json`.
    pub fn case(&self, name: &str) -> (PathBuf, Value) {
        let dir = self.root.join(name);
        let expect = load_json(&dir.join("expect.json"));
        assert_eq!(expect["name"], name);
        (dir, expect)
    }
}

/// The string `v` holds (panics otherwise).
pub fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// Go's `json.Marshal` of a value re-serialized by the generator (tests compare parsed
/// structures, never these bytes).
pub fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// Header ID of a policy compressor name (`None` for no compression).
pub fn header_of(name: &str) -> Option<u32> {
    (!name.is_empty() && name != "none").then(|| Compressor::from_name(name).unwrap().header_id())
}

/// One node of a directory tree as a snapshot records it (ownership aside).
#[derive(Debug, PartialEq, Eq)]
pub struct Node {
    /// `lstat` mode: file type and permission bits.
    pub mode: u32,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// File bytes or symlink target; empty for directories.
    pub data: Vec<u8>,
}

/// Every node under `root` by relative path (`""` is `root` itself), without following
/// symlinks.
pub fn tree_listing(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    fn walk(path: &Path, rel: Vec<u8>, out: &mut BTreeMap<Vec<u8>, Node>) {
        let md = std::fs::symlink_metadata(path)
            .unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
        let data = if md.file_type().is_symlink() {
            std::fs::read_link(path)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec()
        } else if md.is_file() {
            std::fs::read(path).unwrap()
        } else {
            Vec::new()
        };
        if md.is_dir() {
            for e in std::fs::read_dir(path).unwrap() {
                let name = e.unwrap().file_name();
                let mut child = rel.clone();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(name.as_bytes());
                walk(&path.join(&name), child, out);
            }
        }
        let mtime_ns = md.mtime() * 1_000_000_000 + md.mtime_nsec();
        out.insert(
            rel,
            Node {
                mode: md.mode(),
                mtime_ns,
                data,
            },
        );
    }
    let mut out = BTreeMap::new();
    walk(root, Vec::new(), &mut out);
    out
}

/// Byte-level diff summary for assertion messages: lengths and the first difference.
pub fn first_difference(a: &[u8], b: &[u8]) -> String {
    let pos = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let ctx = |s: &[u8]| {
        let lo = pos.saturating_sub(40);
        let hi = (pos + 40).min(s.len());
        String::from_utf8_lossy(&s[lo.min(hi)..hi]).into_owned()
    };
    format!(
        "lengths {} vs {}, first difference at byte {pos}: …{}… vs …{}…",
        a.len(),
        b.len(),
        ctx(a),
        ctx(b)
    )
}
