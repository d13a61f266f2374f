//! The policy tree of a snapshot source (object-format §9.2, §9.4): the merged effective
//! policy at the root, and path policies of the same user@host attached, unmerged, to the
//! subdirectories they name.

use std::collections::HashMap;
use std::sync::Arc;

use kopia_proto::compression::Compressor;
use kopia_proto::manifest::{
    CompressionPolicy, Labels, Policy, SourceInfo, TYPE_LABEL, effective_policy, policy_labels,
    policy_search_order,
};

use crate::repo::Repository;
use crate::{Error, Result};

/// A policy as it applies to entries, with the values kopia derives from it.
#[derive(Debug)]
pub(crate) struct NodePolicy {
    /// The policy (merged at the root, as stored for a subdirectory with its own policy).
    pub policy: Policy,
    /// Header ID of the metadata compressor (`None` = no compression).
    pub metadata_compression: Option<u32>,
}

impl NodePolicy {
    fn new(policy: Policy) -> Self {
        let metadata_compression = compressor_id(&policy.metadata_compression.compressor_name);
        NodePolicy {
            policy,
            metadata_compression,
        }
    }

    /// `errorHandling.ignoreFileErrors` (default false).
    pub fn ignore_file_errors(&self) -> bool {
        self.policy
            .error_handling
            .ignore_file_errors
            .unwrap_or(false)
    }

    /// `errorHandling.ignoreDirectoryErrors` (default false).
    pub fn ignore_directory_errors(&self) -> bool {
        self.policy
            .error_handling
            .ignore_directory_errors
            .unwrap_or(false)
    }

    /// `errorHandling.ignoreUnknownTypes` (default true).
    pub fn ignore_unknown_types(&self) -> bool {
        self.policy
            .error_handling
            .ignore_unknown_types
            .unwrap_or(true)
    }

    /// `files.ignoreCacheDirs` (default true).
    pub fn ignore_cache_dirs(&self) -> bool {
        self.policy.files.ignore_cache_dirs.unwrap_or(true)
    }

    /// `upload.parallelUploadAboveSize` (unset = -1, parallel upload disabled).
    pub fn parallel_upload_above_size(&self) -> i64 {
        self.policy.upload.parallel_upload_above_size.unwrap_or(-1)
    }

    /// `splitter.algorithm` (empty = repository default).
    pub fn splitter(&self) -> &str {
        &self.policy.splitter.algorithm
    }

    /// Compressor for a file named `name` of listed size `size` (kopia's `CompressorForFile`).
    pub fn file_compression(&self, name: &[u8], size: i64) -> Option<u32> {
        compressor_for_file(&self.policy.compression, name, size)
    }
}

/// A compressor name from a policy → header ID; `none`, empty and unknown names → none
/// (kopia looks names up in its registry and compresses with nothing when absent).
pub(crate) fn compressor_id(name: &str) -> Option<u32> {
    if name.is_empty() || name == "none" {
        return None;
    }
    Compressor::from_name(name).ok().map(Compressor::header_id)
}

/// Go's `sort.SearchStrings` + equality: reliable only on sorted lists, exactly like kopia.
fn in_sorted(list: &[String], s: &[u8]) -> bool {
    let (mut lo, mut hi) = (0usize, list.len());
    while lo < hi {
        let h = lo + (hi - lo) / 2;
        if list[h].as_bytes() < s {
            lo = h + 1;
        } else {
            hi = h;
        }
    }
    list.get(lo).is_some_and(|x| x.as_bytes() == s)
}

/// Go's `filepath.Ext`: from the last `.` of the base name, empty when there is none.
fn extension(name: &[u8]) -> &[u8] {
    for i in (0..name.len()).rev() {
        match name[i] {
            b'.' => return &name[i..],
            b'/' => break,
            _ => {}
        }
    }
    &[]
}

/// Kopia's `CompressionPolicy.CompressorForFile` (object-format §4.4).
pub(crate) fn compressor_for_file(p: &CompressionPolicy, name: &[u8], size: i64) -> Option<u32> {
    if p.compressor_name == "none" {
        return None;
    }
    if p.min_size > 0 && size < p.min_size {
        return None;
    }
    if p.max_size > 0 && size > p.max_size {
        return None;
    }
    let ext = extension(name);
    if !p.only_compress.is_empty() && in_sorted(&p.only_compress, ext) {
        return compressor_id(&p.compressor_name);
    }
    if in_sorted(&p.never_compress, ext) {
        return None;
    }
    compressor_id(&p.compressor_name)
}

/// Policies defined below a node: path components and the policy.
type Defined = Vec<(Vec<String>, Arc<NodePolicy>)>;

/// A node of the policy tree (kopia's `policy.Tree`).
#[derive(Debug)]
pub(crate) struct PolicyTree {
    effective: Arc<NodePolicy>,
    inherited: bool,
    children: HashMap<String, Arc<PolicyTree>>,
}

impl PolicyTree {
    /// A tree with only `root` (no nested policies).
    #[cfg(test)]
    pub fn single(root: Policy) -> Arc<Self> {
        Self::build(root, Vec::new())
    }

    /// Builds the tree from the root policy and `(relative path, policy)` pairs of nested
    /// path policies (`a/b` below the source).
    pub fn build(root: Policy, nested: Vec<(String, Policy)>) -> Arc<Self> {
        let root = Arc::new(NodePolicy::new(root));
        let defined: Defined = nested
            .into_iter()
            .map(|(rel, p)| {
                let parts = rel.split('/').map(str::to_string).collect();
                (parts, Arc::new(NodePolicy::new(p)))
            })
            .collect();
        Arc::new(Self::node(Some(root.clone()), &defined, 0, &root))
    }

    fn node(
        own: Option<Arc<NodePolicy>>,
        defined: &[(Vec<String>, Arc<NodePolicy>)],
        depth: usize,
        parent: &Arc<NodePolicy>,
    ) -> PolicyTree {
        let inherited = own.is_none();
        let effective = own.unwrap_or_else(|| parent.clone());
        let mut groups: HashMap<String, Defined> = HashMap::new();
        for (parts, p) in defined {
            if let Some(first) = parts.get(depth) {
                groups
                    .entry(first.clone())
                    .or_default()
                    .push((parts.clone(), p.clone()));
            }
        }
        let children = groups
            .into_iter()
            .map(|(name, descendants)| {
                let own = descendants
                    .iter()
                    .find(|(parts, _)| parts.len() == depth + 1)
                    .map(|(_, p)| p.clone());
                let deeper: Vec<_> = descendants
                    .into_iter()
                    .filter(|(parts, _)| parts.len() > depth + 1)
                    .collect();
                let child = Self::node(own, &deeper, depth + 1, &effective);
                (name, Arc::new(child))
            })
            .collect();
        PolicyTree {
            effective,
            inherited,
            children,
        }
    }

    /// The policy in force here (own or inherited).
    pub fn effective(&self) -> &Arc<NodePolicy> {
        &self.effective
    }

    /// The policy defined exactly here, if any (the root always has one).
    pub fn defined(&self) -> Option<&NodePolicy> {
        (!self.inherited).then_some(&*self.effective)
    }

    /// The subtree of the entry `name` (kopia's `Tree.Child`).
    pub fn child(self: &Arc<Self>, name: &[u8]) -> Arc<PolicyTree> {
        if let Some(c) = std::str::from_utf8(name)
            .ok()
            .and_then(|n| self.children.get(n))
        {
            return c.clone();
        }
        if self.children.is_empty() && self.inherited {
            return self.clone();
        }
        Arc::new(PolicyTree {
            effective: self.effective.clone(),
            inherited: true,
            children: HashMap::new(),
        })
    }
}

/// Loads one policy manifest.
async fn load_policy(repo: &dyn Repository, id: &str) -> Result<Policy> {
    let m = repo.get_manifest(id).await?;
    let mut p = Policy::from_json(&m.payload)
        .map_err(|e| Error::Corrupt(format!("policy manifest {id}: {e}")))?;
    p.labels = m.labels;
    Ok(p)
}

/// Kopia's `nestedRelativePathNormalizedToSlashes`: `child` relative to `parent` when it
/// lies strictly below it, else `None`.
fn nested_relative(parent: &str, child: &str) -> Option<String> {
    let pb = parent.as_bytes();
    let is_win = pb.len() >= 3 && pb[1] == b':' && (pb[2] == b'/' || pb[2] == b'\\');
    let parent = parent.strip_suffix('/').unwrap_or(parent);
    let parent = parent.strip_suffix('\\').unwrap_or(parent);
    let rest = child
        .strip_prefix(parent)
        .filter(|r| r.starts_with('/') || r.starts_with('\\'))?;
    let rel = &rest[1..];
    if rel.is_empty() {
        return None;
    }
    Some(if is_win {
        rel.replace('\\', "/")
    } else {
        rel.to_string()
    })
}

/// The policy tree of `source` from the repository's policy manifests: the merged
/// effective policy (path, ancestors, user@host, host, global, built-in defaults) at the
/// root, and every path policy of the same user@host below the source path.
pub(crate) async fn load_policy_tree(
    repo: &dyn Repository,
    source: &SourceInfo,
) -> Result<Arc<PolicyTree>> {
    let mut found = Vec::new();
    for si in policy_search_order(source) {
        for m in repo.find_manifests(&policy_labels(&si)).await? {
            found.push(load_policy(repo, &m.id).await?);
        }
    }
    let root = effective_policy(source, &found);
    let mut labels = Labels::new();
    labels.insert(TYPE_LABEL.into(), "policy".into());
    labels.insert("policyType".into(), "path".into());
    labels.insert("username".into(), source.user_name.clone());
    labels.insert("hostname".into(), source.host.clone());
    let mut nested = Vec::new();
    for m in repo.find_manifests(&labels).await? {
        let path = m.labels.get("path").cloned().unwrap_or_default();
        if let Some(rel) = nested_relative(&source.path, &path) {
            nested.push((rel, load_policy(repo, &m.id).await?));
        }
    }
    Ok(PolicyTree::build(root, nested))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kopia_proto::manifest::builtin_default_policy;

    #[test]
    fn compressor_selection_follows_kopia() {
        let mut p = CompressionPolicy {
            compressor_name: "zstd".into(),
            never_compress: vec![".gz".into(), ".zip".into()],
            ..Default::default()
        };
        assert_eq!(compressor_for_file(&p, b"a.txt", 10), Some(0x1100));
        assert_eq!(compressor_for_file(&p, b"a.zip", 10), None);
        assert_eq!(compressor_for_file(&p, b".gz", 10), None);
        p.only_compress = vec![".zip".into()];
        assert_eq!(compressor_for_file(&p, b"a.zip", 10), Some(0x1100));
        p.min_size = 100;
        assert_eq!(compressor_for_file(&p, b"a.txt", 10), None);
        p.min_size = 0;
        p.max_size = 5;
        assert_eq!(compressor_for_file(&p, b"a.txt", 10), None);
        p.compressor_name = "no-such".into();
        p.max_size = 0;
        assert_eq!(compressor_for_file(&p, b"a.txt", 10), None);
        // Unsorted lists are searched like Go's sort.SearchStrings: ".c" is missed here.
        let unsorted = CompressionPolicy {
            compressor_name: "s2-default".into(),
            never_compress: vec![".c".into(), ".a".into(), ".b".into()],
            ..Default::default()
        };
        assert_eq!(compressor_for_file(&unsorted, b"x.a", 1), Some(0x1200));
        assert_eq!(compressor_for_file(&unsorted, b"x.c", 1), Some(0x1200));
        assert_eq!(compressor_for_file(&unsorted, b"x.b", 1), None);
    }

    #[test]
    fn tree_children_and_inheritance() {
        let mut sub = Policy::default();
        sub.splitter.algorithm = "FIXED-1M".into();
        let t = PolicyTree::build(builtin_default_policy(), vec![("a/b".into(), sub)]);
        assert!(t.defined().is_some());
        let a = t.child(b"a");
        assert!(a.defined().is_none());
        assert_eq!(a.effective().splitter(), "");
        let b = a.child(b"b");
        assert_eq!(b.defined().map(NodePolicy::splitter), Some("FIXED-1M"));
        // Unset fields of a nested policy fall back to hard-coded defaults, not the parent.
        assert_eq!(b.effective().parallel_upload_above_size(), -1);
        assert_eq!(b.effective().metadata_compression, None);
        assert_eq!(t.effective().metadata_compression, Some(0x1101));
        let c = b.child(b"c");
        assert!(c.defined().is_none());
        assert_eq!(c.effective().splitter(), "FIXED-1M");
        assert!(t.child(b"other").defined().is_none());
    }

    #[test]
    fn nested_paths() {
        assert_eq!(nested_relative("/a", "/a/b/c").as_deref(), Some("b/c"));
        assert_eq!(nested_relative("/a/", "/a/b").as_deref(), Some("b"));
        assert_eq!(nested_relative("/a", "/ab"), None);
        assert_eq!(nested_relative("/a", "/a"), None);
        assert_eq!(nested_relative("/", "/x").as_deref(), Some("x"));
        assert_eq!(
            nested_relative("C:\\x", "C:\\x\\y\\z").as_deref(),
            Some("y/z")
        );
    }
}
