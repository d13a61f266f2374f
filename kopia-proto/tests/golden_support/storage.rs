//! The blobs of a kopia filesystem repository: sharded paths (`.shards`, spec §2.3) and
//! the listing kopia's filesystem storage produces.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// Sharding parameters from a repository's `.shards` file (spec §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shards {
    /// Default shard widths.
    pub default: Vec<usize>,
    /// IDs up to this length are never sharded.
    pub max_non_sharded_length: usize,
    /// `(prefix, widths)` overrides, first match wins.
    pub overrides: Vec<(String, Vec<usize>)>,
}

impl Shards {
    /// Parses `.shards`.
    pub fn parse(bytes: &[u8]) -> Shards {
        let v: Value = serde_json::from_slice(bytes).expect(".shards JSON");
        let widths = |v: &Value| -> Vec<usize> {
            v.as_array()
                .map(|a| a.iter().map(|x| x.as_u64().unwrap() as usize).collect())
                .unwrap_or_default()
        };
        Shards {
            default: widths(&v["default"]),
            max_non_sharded_length: v["maxNonShardedLength"].as_u64().unwrap_or(0) as usize,
            overrides: v["overrides"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| {
                            (
                                o["prefix"].as_str().unwrap().to_string(),
                                widths(&o["shards"]),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Relative file path of blob `id` (`GetShardDirectoryAndBlob` + `.f`).
    pub fn path_of(&self, id: &str) -> String {
        if id.len() <= self.max_non_sharded_length {
            return format!("{id}.f");
        }
        let widths = self
            .overrides
            .iter()
            .find(|(p, _)| id.starts_with(p.as_str()))
            .map_or(&self.default, |(_, w)| w);
        let mut path = String::new();
        let mut rest = id;
        for &w in widths {
            if rest.len() <= w {
                break;
            }
            path.push_str(&rest[..w]);
            path.push('/');
            rest = &rest[w..];
        }
        format!("{path}{rest}.f")
    }
}

/// Every blob of a filesystem repository, listed as kopia's sharded storage does: walk
/// the tree, a file `f` ending in `.f` under accumulated prefix `P` is blob `P + f[..-2]`.
/// Returns blob ID → (relative path, bytes).
pub fn read_blobs(repo: &Path) -> BTreeMap<String, (String, Vec<u8>)> {
    fn walk(dir: &Path, prefix: &str, rel: &str, out: &mut BTreeMap<String, (String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let e = e.unwrap();
            let name = e.file_name().into_string().expect("UTF-8 blob file name");
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(
                    &path,
                    &format!("{prefix}{name}"),
                    &format!("{rel}{name}/"),
                    out,
                );
            } else if let Some(stem) = name.strip_suffix(".f") {
                let bytes = std::fs::read(&path).unwrap();
                let prev = out.insert(format!("{prefix}{stem}"), (format!("{rel}{name}"), bytes));
                assert!(prev.is_none(), "blob {prefix}{stem} listed twice");
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(repo, "", "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_paths() {
        let s = Shards::parse(br#"{"default":[1,3],"maxNonShardedLength":20}"#);
        assert_eq!(s.path_of("kopia.repository"), "kopia.repository.f");
        assert_eq!(
            s.path_of("p9620360462ea7f08da6e996cf0fcb6c7-s12889c210644806f130"),
            "p/962/0360462ea7f08da6e996cf0fcb6c7-s12889c210644806f130.f"
        );
    }
}
