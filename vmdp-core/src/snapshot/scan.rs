//! Which entries of a directory take part in a snapshot (kopia's `fs/ignorefs`,
//! object-format §9.5): ignore rules from policies and dot-ignore files accumulated from
//! the root down, `CACHEDIR.TAG` directories, `maxFileSize` and `oneFileSystem`.
//! Blocking; run on tokio's blocking pool.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use kopia_proto::manifest::ignore::{IgnoreRule, apply_rules, go_runes, parse_ignore_file};

use super::local::{LocalEntry, list_dir};
use super::policy_tree::PolicyTree;

/// Name of the cache directory marker file.
const CACHEDIR_TAG: &str = "CACHEDIR.TAG";
/// Its required first bytes.
const CACHEDIR_SIGNATURE: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55";

/// The rules in force for a directory, chained to its parent's (kopia's `ignoreContext`).
#[derive(Debug, Default)]
pub(crate) struct IgnoreContext {
    parent: Option<Arc<IgnoreContext>>,
    dot_ignore_files: Vec<String>,
    rules: Vec<IgnoreRule>,
    max_file_size: i64,
    one_file_system: bool,
    /// True when this context or an ancestor has at least one rule.
    any_rules: bool,
}

impl IgnoreContext {
    /// The context above the snapshot root: no rules, no dot-ignore files.
    pub fn root() -> Arc<Self> {
        Arc::new(IgnoreContext::default())
    }

    /// Judges `path` (`/dir/name` from the snapshot root) by the enclosing rule sets,
    /// outermost first. Returns whether it is excluded and how many levels excluded it
    /// (kopia reports an exclusion once per such level, which its statistics count).
    fn judge(&self, path: &[char], is_dir: bool) -> (bool, u32) {
        let (ignored, reports) = match &self.parent {
            Some(p) => p.judge(path, is_dir),
            None => (false, 0),
        };
        let ignored = apply_rules(ignored, &self.rules, path, is_dir);
        (ignored, reports + u32::from(ignored))
    }
}

/// An entry left out of the snapshot, for the `excluded*` statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Excluded {
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Its listed size.
    pub size: i64,
    /// How many times kopia would count it.
    pub times: u32,
}

/// The result of scanning one directory.
#[derive(Debug)]
pub(crate) struct Scan {
    /// Entries that take part in the snapshot, in listing order.
    pub entries: Vec<LocalEntry>,
    /// The ignore context for the subdirectories.
    pub context: Arc<IgnoreContext>,
    /// Entries excluded by ignore rules (or the directory itself when it is a cache dir).
    pub excluded: Vec<Excluded>,
}

/// Kopia's `trimLeadingCurrentDir`: `.` → ``, `./a/b` → `/a/b`.
fn trim_current_dir(rel: &[u8]) -> &[u8] {
    if rel == b"." || rel.starts_with(b"./") {
        &rel[1..]
    } else {
        rel
    }
}

/// True when `dir` holds a regular `CACHEDIR.TAG` starting with the cache signature.
fn is_cache_dir(dir: &Path) -> bool {
    let path = dir.join(CACHEDIR_TAG);
    let Ok(md) = std::fs::symlink_metadata(&path) else {
        return false;
    };
    if !md.file_type().is_file() || md.len() < CACHEDIR_SIGNATURE.len() as u64 {
        return false;
    }
    let mut sig = [0u8; CACHEDIR_SIGNATURE.len()];
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_exact(&mut sig))
        .is_ok()
        && sig == CACHEDIR_SIGNATURE
}

/// Reads a dot-ignore file of `dir`; `None` when absent or not a file or symlink. A
/// symlink must resolve to a regular file, else the directory fails (as in kopia).
fn read_dot_ignore(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, String> {
    let path = dir.join(name);
    let Ok(md) = std::fs::symlink_metadata(&path) else {
        return Ok(None);
    };
    let ft = md.file_type();
    if ft.is_symlink() {
        match std::fs::metadata(&path) {
            Ok(t) if t.is_file() => {}
            Ok(_) => {
                return Err(format!(
                    "{name} does not eventually link to a file: Symlink does not link to a file"
                ));
            }
            Err(e) => {
                return Err(format!(
                    "when resolving symlink {name}: cannot resolve symlink for '{}': {e}",
                    path.display()
                ));
            }
        }
    } else if !ft.is_file() {
        return Ok(None);
    }
    std::fs::read(&path)
        .map(Some)
        .map_err(|e| format!("unable to parse ignore file {name}: unable to open ignore file: {e}"))
}

/// Kopia's `buildContext`: the parent's context when this directory defines nothing new,
/// otherwise a child context with this directory's policy rules and dot-ignore files.
fn build_context(
    dir: &Path,
    rel: &[u8],
    node: &PolicyTree,
    parent: &Arc<IgnoreContext>,
) -> Result<Arc<IgnoreContext>, String> {
    let defined = node.defined();
    let dot_names: &[String] = match defined {
        Some(p) => &p.policy.files.dot_ignore_files,
        None => &parent.dot_ignore_files,
    };
    let mut contents = Vec::new();
    for name in dot_names {
        if let Some(data) = read_dot_ignore(dir, name)? {
            contents.push((name, data));
        }
    }
    if contents.is_empty() && defined.is_none() {
        return Ok(parent.clone());
    }
    let base = trim_current_dir(rel);
    let mut ctx = IgnoreContext {
        parent: Some(parent.clone()),
        dot_ignore_files: dot_names.to_vec(),
        rules: Vec::new(),
        max_file_size: parent.max_file_size,
        one_file_system: parent.one_file_system,
        any_rules: parent.any_rules,
    };
    if let Some(p) = defined {
        let files = &p.policy.files;
        let mut seen = std::collections::HashSet::new();
        ctx.dot_ignore_files = files
            .dot_ignore_files
            .iter()
            .filter(|n| seen.insert(n.as_str()))
            .cloned()
            .collect();
        if files.max_file_size != 0 {
            ctx.max_file_size = files.max_file_size;
        }
        ctx.one_file_system = files.one_file_system.unwrap_or(false);
        for rule in &files.ignore_rules {
            ctx.rules.push(
                IgnoreRule::new(rule.as_bytes(), base)
                    .map_err(|e| format!("unable to parse ignore entry: {e}"))?,
            );
        }
    }
    for (name, data) in contents {
        ctx.rules.extend(
            parse_ignore_file(&data, base)
                .map_err(|e| format!("unable to parse ignore file {name}: {e}"))?,
        );
    }
    ctx.any_rules |= !ctx.rules.is_empty();
    Ok(Arc::new(ctx))
}

/// Lists `dir` (relative path `rel`: `.` for the root, `./a/b` below) and applies the
/// inclusion rules. A cache directory lists as empty. Errors fail the whole directory.
pub(crate) fn scan_dir(
    dir: &Path,
    rel: &[u8],
    node: &PolicyTree,
    parent: &Arc<IgnoreContext>,
    dir_dev: u64,
) -> Result<Scan, String> {
    if node.effective().ignore_cache_dirs() && is_cache_dir(dir) {
        return Ok(Scan {
            entries: Vec::new(),
            context: parent.clone(),
            excluded: vec![Excluded {
                is_dir: true,
                size: 0,
                times: 1,
            }],
        });
    }
    let context = build_context(dir, rel, node, parent)?;
    let listed = list_dir(dir)?;
    let mut entries = Vec::with_capacity(listed.len());
    let mut excluded = Vec::new();
    let base = trim_current_dir(rel);
    let mut path = Vec::with_capacity(base.len() + 64);
    for e in listed {
        path.clear();
        path.extend_from_slice(base);
        path.push(b'/');
        path.extend_from_slice(e.name_bytes());
        let (ignored, times) = if context.any_rules {
            context.judge(&go_runes(&path), e.is_dir)
        } else {
            (false, 0)
        };
        if ignored {
            excluded.push(Excluded {
                is_dir: e.is_dir,
                size: e.size,
                times,
            });
            continue;
        }
        if context.max_file_size > 0 && e.size > context.max_file_size {
            continue;
        }
        if context.one_file_system && e.dev != dir_dev {
            continue;
        }
        if times > 0 {
            // Excluded by an outer level but re-included here: kopia still counts it.
            excluded.push(Excluded {
                is_dir: e.is_dir,
                size: e.size,
                times,
            });
        }
        entries.push(e);
    }
    Ok(Scan {
        entries,
        context,
        excluded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kopia_proto::manifest::{Policy, builtin_default_policy};

    fn names(s: &Scan) -> Vec<String> {
        let mut v: Vec<String> = s
            .entries
            .iter()
            .map(|e| e.name.to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn policy_rules_dot_files_and_nesting() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for f in ["a.log", "b.txt", "keep.log", "big.bin"] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        std::fs::write(d.join("big.bin"), vec![0u8; 100]).unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/c.log"), b"x").unwrap();
        std::fs::write(d.join("sub/d.log"), b"x").unwrap();
        std::fs::write(d.join("sub/.kopiaignore"), b"# comment\n!c.log\n").unwrap();
        std::fs::write(d.join(".kopiaignore"), b"!keep.log\n").unwrap();
        let mut pol = builtin_default_policy();
        pol.files.ignore_rules = vec!["*.log".into()];
        pol.files.max_file_size = 50;
        let tree = PolicyTree::single(pol);
        let root = scan_dir(d, b".", &tree, &IgnoreContext::root(), 0).unwrap();
        assert_eq!(
            names(&root),
            vec![".kopiaignore", "b.txt", "keep.log", "sub"]
        );
        assert_eq!(root.excluded.len(), 1);
        let sub_node = tree.child(b"sub");
        let sub = scan_dir(&d.join("sub"), b"./sub", &sub_node, &root.context, 0).unwrap();
        assert_eq!(names(&sub), vec![".kopiaignore", "c.log"]);
        // d.log is reported by both levels that ignore it (kopia copies the callback into
        // every child context); c.log by the root level only, although re-included below.
        assert_eq!(sub.excluded.iter().map(|e| e.times).sum::<u32>(), 3);
    }

    #[test]
    fn cache_dirs_and_bad_ignore_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(
            d.join(CACHEDIR_TAG),
            b"Signature: 8a477f597d28d172789f06886806bc55 x",
        )
        .unwrap();
        std::fs::write(d.join("f"), b"x").unwrap();
        let tree = PolicyTree::single(builtin_default_policy());
        let s = scan_dir(d, b".", &tree, &IgnoreContext::root(), 0).unwrap();
        assert!(s.entries.is_empty() && s.excluded[0].is_dir);
        let mut off = builtin_default_policy();
        off.files.ignore_cache_dirs = Some(false);
        let s = scan_dir(d, b".", &PolicyTree::single(off), &IgnoreContext::root(), 0).unwrap();
        assert_eq!(s.entries.len(), 2);
        std::fs::write(d.join(".kopiaignore"), b"[unterminated\n").unwrap();
        std::fs::remove_file(d.join(CACHEDIR_TAG)).unwrap();
        let err = scan_dir(d, b".", &tree, &IgnoreContext::root(), 0).unwrap_err();
        assert!(err.contains("unterminated"), "{err}");
        #[cfg(unix)]
        {
            std::fs::remove_file(d.join(".kopiaignore")).unwrap();
            std::os::unix::fs::symlink("nowhere", d.join(".kopiaignore")).unwrap();
            assert!(scan_dir(d, b".", &tree, &IgnoreContext::root(), 0).is_err());
        }
        // A nested policy without `.kopiaignore` in its list does not read the file.
        let mut nested = Policy::default();
        nested.files.ignore_rules = vec!["f".into()];
        let t = PolicyTree::build(builtin_default_policy(), vec![("s".into(), nested)]);
        std::fs::create_dir(d.join("s")).unwrap();
        std::fs::write(d.join("s/f"), b"x").unwrap();
        std::fs::write(d.join("s/.kopiaignore"), b"[bad").unwrap();
        let s = scan_dir(
            &d.join("s"),
            b"./s",
            &t.child(b"s"),
            &IgnoreContext::root(),
            0,
        )
        .unwrap();
        assert_eq!(names(&s), vec![".kopiaignore"]);
    }
}
