//! Effective-policy computation (`snapshot/policy/policy_merge.go`, `policy_manager.go`,
//! object-format §9.1–§9.3): policy labels, the search hierarchy, field-by-field merge and
//! the built-in defaults.

use super::policy::*;
use super::{Labels, SourceInfo, TYPE_LABEL};

/// Manifest labels of the policy for `si` (kopia's `LabelsForSource`): `type=policy`,
/// `policyType` = `path` / `user` / `host` / `global`, plus the identifying labels.
pub fn policy_labels(si: &SourceInfo) -> Labels {
    let mut m = Labels::new();
    m.insert(TYPE_LABEL.into(), "policy".into());
    let kind = if !si.path.is_empty() {
        m.insert("username".into(), si.user_name.clone());
        m.insert("hostname".into(), si.host.clone());
        m.insert("path".into(), si.path.clone());
        "path"
    } else if !si.user_name.is_empty() {
        m.insert("username".into(), si.user_name.clone());
        m.insert("hostname".into(), si.host.clone());
        "user"
    } else if !si.host.is_empty() {
        m.insert("hostname".into(), si.host.clone());
        "host"
    } else {
        "global"
    };
    m.insert("policyType".into(), kind.into());
    m
}

fn is_sep(c: u8) -> bool {
    c == b'/' || c == b'\\'
}

/// Parent of a policy path, OS-independent (`/` and `\` separators, `X:\` roots); returns
/// the input unchanged at a root (kopia's `getParentPathOSIndependent`).
pub fn parent_policy_path(p: &str) -> String {
    let b = p.as_bytes();
    let (vol, pth) = if b.len() >= 3 && b[1] == b':' && is_sep(b[2]) {
        p.split_at(2)
    } else {
        ("", p)
    };
    let mut pth = pth;
    let last_sep = |s: &str| s.bytes().rposition(is_sep);
    let mut last = last_sep(pth);
    if let Some(l) = last {
        if l == pth.len() - 1 && l != 0 {
            pth = &pth[..l];
            last = last_sep(pth);
        }
    }
    match last {
        None => p.to_string(),
        Some(0) => format!("{vol}{}", &pth[..1]),
        Some(l) => format!("{vol}{}", &pth[..l]),
    }
}

/// Sources whose policies apply to `si`, most specific first (kopia's `GetPolicyHierarchy`):
/// the path and each ancestor path, then `user@host`, `host`, global. Find the manifests
/// labelled [`policy_labels`] of each, in this order, and pass them to [`effective_policy`].
pub fn policy_search_order(si: &SourceInfo) -> Vec<SourceInfo> {
    let mut out = Vec::new();
    if !si.path.is_empty() {
        let mut tmp = si.clone();
        loop {
            out.push(tmp.clone());
            let parent = parent_policy_path(&tmp.path);
            if parent == tmp.path {
                break;
            }
            tmp.path = parent;
        }
    }
    out.push(SourceInfo::new(si.host.clone(), si.user_name.clone(), ""));
    out.push(SourceInfo::new(si.host.clone(), "", ""));
    out.push(SourceInfo::default());
    out
}

/// The effective policy of `si` from the policies found along [`policy_search_order`]
/// (each with its manifest labels set): if the first is not exactly `si`'s, an empty policy
/// for `si` is put in front, then [`merge_policies`] applies.
pub fn effective_policy(si: &SourceInfo, found: &[Policy]) -> Policy {
    match found.first() {
        Some(p) if p.target() == *si => merge_policies(found, si),
        _ => {
            let mut all = Vec::with_capacity(found.len() + 1);
            all.push(Policy {
                labels: policy_labels(si),
                ..Policy::default()
            });
            all.extend_from_slice(found);
            merge_policies(&all, si)
        }
    }
}

/// Kopia's built-in defaults (merged last unless a `noParent` policy stops the walk).
pub fn builtin_default_policy() -> Policy {
    Policy {
        retention: RetentionPolicy {
            keep_latest: Some(10),
            keep_hourly: Some(48),
            keep_daily: Some(7),
            keep_weekly: Some(4),
            keep_monthly: Some(24),
            keep_annual: Some(3),
            ignore_identical_snapshots: Some(false),
        },
        files: FilesPolicy {
            dot_ignore_files: vec![".kopiaignore".into()],
            ..Default::default()
        },
        error_handling: ErrorHandlingPolicy {
            ignore_file_errors: Some(false),
            ignore_directory_errors: Some(false),
            ignore_unknown_types: Some(true),
        },
        scheduling: SchedulingPolicy {
            run_missed: Some(true),
            ..Default::default()
        },
        compression: CompressionPolicy {
            compressor_name: "none".into(),
            ..Default::default()
        },
        metadata_compression: MetadataCompressionPolicy {
            compressor_name: "zstd-fastest".into(),
        },
        os_snapshots: OsSnapshotPolicy {
            volume_shadow_copy: VolumeShadowCopyPolicy { enable: Some(0) },
        },
        logging: LoggingPolicy {
            directories: DirLoggingPolicy {
                snapshotted: Some(5),
                ignored: Some(5),
            },
            entries: EntryLoggingPolicy {
                snapshotted: Some(0),
                ignored: Some(5),
                cache_hit: Some(0),
                cache_miss: Some(0),
            },
        },
        upload: UploadPolicy {
            max_parallel_snapshots: Some(1),
            max_parallel_file_reads: None,
            parallel_upload_above_size: Some(2 << 30),
        },
        ..Default::default()
    }
}

fn opt<T: Clone>(t: &mut Option<T>, s: &Option<T>) {
    if t.is_none() {
        t.clone_from(s);
    }
}

fn string(t: &mut String, s: &str) {
    if t.is_empty() && !s.is_empty() {
        *t = s.to_string();
    }
}

fn int(t: &mut i64, s: i64) {
    if *t == 0 && s != 0 {
        *t = s;
    }
}

fn flag(t: &mut bool, s: bool) {
    *t |= s;
}

fn list(t: &mut Vec<String>, s: &[String]) {
    if t.is_empty() && !s.is_empty() {
        *t = s.to_vec();
    }
}

/// Union (sorted, de-duplicated) until a level sets the `noParent` flag of the list.
fn union(t: &mut Vec<String>, t_no_parent: &mut bool, s: &[String], s_no_parent: bool) {
    if *t_no_parent {
        return;
    }
    let mut v: Vec<String> = t.iter().chain(s).cloned().collect();
    v.sort();
    v.dedup();
    *t = v;
    if s_no_parent {
        *t_no_parent = true;
    }
}

fn merge_one(m: &mut Policy, p: &Policy) {
    let (r, s) = (&mut m.retention, &p.retention);
    opt(&mut r.keep_latest, &s.keep_latest);
    opt(&mut r.keep_hourly, &s.keep_hourly);
    opt(&mut r.keep_daily, &s.keep_daily);
    opt(&mut r.keep_weekly, &s.keep_weekly);
    opt(&mut r.keep_monthly, &s.keep_monthly);
    opt(&mut r.keep_annual, &s.keep_annual);
    opt(
        &mut r.ignore_identical_snapshots,
        &s.ignore_identical_snapshots,
    );

    let (f, s) = (&mut m.files, &p.files);
    list(&mut f.ignore_rules, &s.ignore_rules);
    flag(&mut f.no_parent_ignore_rules, s.no_parent_ignore_rules);
    list(&mut f.dot_ignore_files, &s.dot_ignore_files);
    flag(
        &mut f.no_parent_dot_ignore_files,
        s.no_parent_dot_ignore_files,
    );
    opt(&mut f.ignore_cache_dirs, &s.ignore_cache_dirs);
    int(&mut f.max_file_size, s.max_file_size);
    opt(&mut f.one_file_system, &s.one_file_system);

    let (e, s) = (&mut m.error_handling, &p.error_handling);
    opt(&mut e.ignore_file_errors, &s.ignore_file_errors);
    opt(&mut e.ignore_directory_errors, &s.ignore_directory_errors);
    opt(&mut e.ignore_unknown_types, &s.ignore_unknown_types);

    let (sc, s) = (&mut m.scheduling, &p.scheduling);
    int(&mut sc.interval_seconds, s.interval_seconds);
    if !s.times_of_day.is_empty() && !sc.no_parent_times_of_day {
        let mut v: Vec<TimeOfDay> = s
            .times_of_day
            .iter()
            .chain(&sc.times_of_day)
            .copied()
            .collect();
        v.sort();
        v.dedup();
        sc.times_of_day = v;
    }
    list(&mut sc.cron, &s.cron);
    flag(&mut sc.no_parent_times_of_day, s.no_parent_times_of_day);
    flag(&mut sc.manual, s.manual);
    opt(&mut sc.run_missed, &s.run_missed);

    let (u, s) = (&mut m.upload, &p.upload);
    opt(&mut u.max_parallel_snapshots, &s.max_parallel_snapshots);
    opt(&mut u.max_parallel_file_reads, &s.max_parallel_file_reads);
    opt(
        &mut u.parallel_upload_above_size,
        &s.parallel_upload_above_size,
    );

    let (c, s) = (&mut m.compression, &p.compression);
    string(&mut c.compressor_name, &s.compressor_name);
    int(&mut c.min_size, s.min_size);
    int(&mut c.max_size, s.max_size);
    union(
        &mut c.only_compress,
        &mut c.no_parent_only_compress,
        &s.only_compress,
        s.no_parent_only_compress,
    );
    union(
        &mut c.never_compress,
        &mut c.no_parent_never_compress,
        &s.never_compress,
        s.no_parent_never_compress,
    );

    string(
        &mut m.metadata_compression.compressor_name,
        &p.metadata_compression.compressor_name,
    );
    string(&mut m.splitter.algorithm, &p.splitter.algorithm);
    opt(
        &mut m.actions.before_snapshot_root,
        &p.actions.before_snapshot_root,
    );
    opt(
        &mut m.actions.after_snapshot_root,
        &p.actions.after_snapshot_root,
    );
    opt(
        &mut m.os_snapshots.volume_shadow_copy.enable,
        &p.os_snapshots.volume_shadow_copy.enable,
    );

    let (d, s) = (&mut m.logging.directories, &p.logging.directories);
    opt(&mut d.snapshotted, &s.snapshotted);
    opt(&mut d.ignored, &s.ignored);
    let (en, s) = (&mut m.logging.entries, &p.logging.entries);
    opt(&mut en.snapshotted, &s.snapshotted);
    opt(&mut en.ignored, &s.ignored);
    opt(&mut en.cache_hit, &s.cache_hit);
    opt(&mut en.cache_miss, &s.cache_miss);
}

/// Kopia's `MergePolicies`: merges `policies` (most specific first) field by field, stops
/// after a `noParent` policy, otherwise merges the built-in defaults last; `beforeFolder` /
/// `afterFolder` come from the first policy only (and not at all after a `noParent` stop,
/// as in kopia v0.23.1). The result carries `si`'s policy labels.
pub fn merge_policies(policies: &[Policy], si: &SourceInfo) -> Policy {
    let mut merged = Policy {
        labels: policy_labels(si),
        ..Policy::default()
    };
    for p in policies {
        merge_one(&mut merged, p);
        if p.no_parent {
            return merged;
        }
    }
    merge_one(&mut merged, &builtin_default_policy());
    if let Some(first) = policies.first() {
        merged
            .actions
            .before_folder
            .clone_from(&first.actions.before_folder);
        merged
            .actions
            .after_folder
            .clone_from(&first.actions.after_folder);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_per_scope() {
        let l = policy_labels(&SourceInfo::new("h", "u", "/p"));
        assert_eq!((l["policyType"].as_str(), l.len()), ("path", 5));
        assert_eq!(
            policy_labels(&SourceInfo::new("h", "u", ""))["policyType"],
            "user"
        );
        assert_eq!(policy_labels(&SourceInfo::new("h", "", "")).len(), 3);
        assert_eq!(policy_labels(&SourceInfo::default()).len(), 2);
    }

    #[test]
    fn parents() {
        assert_eq!(parent_policy_path("/a/b"), "/a");
        assert_eq!(parent_policy_path("/a/b/"), "/a");
        assert_eq!(parent_policy_path("/a"), "/");
        assert_eq!(parent_policy_path("/"), "/");
        assert_eq!(parent_policy_path("C:\\x\\y"), "C:\\x");
        assert_eq!(parent_policy_path("C:\\x"), "C:\\");
        assert_eq!(parent_policy_path("C:\\"), "C:\\");
        assert_eq!(parent_policy_path("rel"), "rel");
        let order = policy_search_order(&SourceInfo::new("h", "u", "/a/b"));
        let paths: Vec<String> = order.iter().map(ToString::to_string).collect();
        assert_eq!(
            paths,
            vec!["u@h:/a/b", "u@h:/a", "u@h:/", "u@h", "@h", "(global)"]
        );
    }

    fn with_labels(si: &SourceInfo, mut p: Policy) -> Policy {
        p.labels = policy_labels(si);
        p
    }

    #[test]
    fn merge_rules() {
        let si = SourceInfo::new("h", "u", "/a");
        let mut path = Policy::default();
        path.retention.keep_latest = Some(3);
        path.files.ignore_rules = vec!["x".into()];
        path.compression.only_compress = vec![".b".into()];
        path.scheduling.times_of_day = vec![TimeOfDay { hour: 5, minute: 0 }];
        path.actions.before_folder = Some(ActionCommand {
            command: "cmd".into(),
            ..Default::default()
        });
        let mut global = Policy::default();
        global.retention.keep_latest = Some(99);
        global.files.ignore_rules = vec!["y".into()];
        global.compression.only_compress = vec![".a".into(), ".b".into()];
        global.compression.no_parent_only_compress = true;
        global.scheduling.times_of_day = vec![
            TimeOfDay { hour: 1, minute: 2 },
            TimeOfDay { hour: 5, minute: 0 },
        ];
        global.files.no_parent_ignore_rules = true;
        let found = vec![
            with_labels(&si, path),
            with_labels(&SourceInfo::default(), global),
        ];
        let e = effective_policy(&si, &found);
        assert_eq!(e.retention.keep_latest, Some(3));
        assert_eq!(e.retention.keep_hourly, Some(48)); // from defaults
        assert_eq!(e.files.ignore_rules, vec!["x"]);
        assert!(e.files.no_parent_ignore_rules);
        assert_eq!(e.compression.only_compress, vec![".a", ".b"]);
        assert_eq!(e.scheduling.times_of_day.len(), 2);
        assert_eq!(e.files.dot_ignore_files, vec![".kopiaignore"]);
        assert_eq!(e.actions.before_folder.unwrap().command, "cmd");
        assert_eq!(e.labels["policyType"], "path");

        // The first found policy is for an ancestor: an empty one is put in front, so the
        // ancestor's beforeFolder is not inherited.
        let child = SourceInfo::new("h", "u", "/a/b");
        let e = effective_policy(&child, &found);
        assert!(e.actions.before_folder.is_none());
        assert_eq!(e.retention.keep_latest, Some(3));

        // noParent stops before the defaults.
        let mut np = with_labels(&si, Policy::default());
        np.no_parent = true;
        let e = effective_policy(&si, &[np]);
        assert_eq!(e.retention.keep_latest, None);
        assert!(e.files.dot_ignore_files.is_empty());
    }

    #[test]
    fn no_policies_gives_defaults() {
        let e = effective_policy(&SourceInfo::default(), &[]);
        let mut want = builtin_default_policy();
        want.labels = policy_labels(&SourceInfo::default());
        assert_eq!(e, want);
    }
}
