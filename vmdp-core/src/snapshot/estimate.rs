//! Estimation of the work of an upload (kopia's "classic" estimator): a separate walk of
//! the tree with the same inclusion rules, counting files and bytes, reported as
//! [`Progress::Estimate`] so front ends can show a percentage and an ETA.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::local::Kind;
use super::policy_tree::PolicyTree;
use super::scan::{IgnoreContext, scan_dir};
use crate::progress::{Progress, SharedProgress};

/// Entries between intermediate estimates.
const REPORT_EVERY: u64 = 1000;

/// Running totals of the estimate.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Estimate {
    /// Files found.
    pub files: u64,
    /// Their listed bytes.
    pub bytes: u64,
}

/// Walks `dir` (blocking) and reports estimates until done or `stop` is set. Directories
/// that cannot be listed are skipped (the upload reports them).
pub(crate) fn estimate_tree(
    dir: &Path,
    tree: &Arc<PolicyTree>,
    dev: u64,
    progress: &SharedProgress,
    stop: &AtomicBool,
) -> Estimate {
    let mut total = Estimate::default();
    let mut since = 0u64;
    let mut stack = vec![(
        dir.to_path_buf(),
        b".".to_vec(),
        tree.clone(),
        IgnoreContext::root(),
        dev,
    )];
    while let Some((path, rel, node, ignore, dev)) = stack.pop() {
        if stop.load(Ordering::Relaxed) {
            return total;
        }
        let Ok(scan) = scan_dir(&path, &rel, &node, &ignore, dev) else {
            continue;
        };
        for e in scan.entries {
            match e.kind {
                Kind::Dir => {
                    let mut child_rel = rel.clone();
                    child_rel.push(b'/');
                    child_rel.extend_from_slice(e.name_bytes());
                    stack.push((
                        path.join(&e.name),
                        child_rel,
                        node.child(e.name_bytes()),
                        scan.context.clone(),
                        e.dev,
                    ));
                }
                Kind::File => {
                    total.files += 1;
                    total.bytes += u64::try_from(e.size).unwrap_or(0);
                    since += 1;
                }
                _ => {}
            }
        }
        if since >= REPORT_EVERY {
            since = 0;
            progress.report(Progress::Estimate {
                files: total.files,
                bytes: total.bytes,
            });
        }
    }
    progress.report(Progress::Estimate {
        files: total.files,
        bytes: total.bytes,
    });
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use kopia_proto::manifest::builtin_default_policy;
    use std::sync::Mutex;

    #[test]
    fn counts_included_files() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("a/b/f"), vec![0u8; 100]).unwrap();
        std::fs::write(d.join("g"), b"xyz").unwrap();
        std::fs::write(d.join("skip.log"), b"ignored").unwrap();
        std::fs::write(d.join(".kopiaignore"), b"*.log\n").unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let sink: SharedProgress = Arc::new(move |e: Progress<'_>| {
            if let Progress::Estimate { files, bytes } = e {
                s2.lock().unwrap().push((files, bytes));
            }
        });
        let tree = PolicyTree::single(builtin_default_policy());
        let est = estimate_tree(d, &tree, 0, &sink, &AtomicBool::new(false));
        assert_eq!(
            est,
            Estimate {
                files: 3,
                bytes: 100 + 3 + 6
            }
        );
        assert_eq!(seen.lock().unwrap().last(), Some(&(3, 109)));
        let stopped = estimate_tree(d, &tree, 0, &sink, &AtomicBool::new(true));
        assert_eq!(stopped, Estimate::default());
    }
}
