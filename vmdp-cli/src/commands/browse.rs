//! Commands that read a backup's tree: `ls`, `restore`, `verify`, `diff`.

use std::path::PathBuf;

use serde_json::json;
use vmdp_core::browse::{self, TreeLimits};
use vmdp_core::restore::RestoreOptions;
use vmdp_core::snapshots::{self, Resolved};
use vmdp_core::verify::VerifyOptions;
use vmdp_core::{
    CancellationToken, diff as tree_diff, restore as tree_restore, verify as tree_verify,
};

use super::{CliError, CmdResult, Session};
use crate::cli::{DiffArgs, GlobalArgs, LsArgs, RestoreArgs, VerifyArgs};
use crate::output::{entry_json, entry_line, human_bytes, print_json};
use crate::{exit, progress_bar};

/// Resolves `SNAPSHOT[/SUBPATH]` for the session's user and host.
async fn resolve(session: &Session, spec: &str) -> Result<Resolved, CliError> {
    Ok(snapshots::resolve(
        &session.repo,
        spec,
        &session.hostname,
        &session.username,
        &TreeLimits::default(),
    )
    .await?)
}

/// A token cancelled by Ctrl-C, so long operations stop cleanly.
pub(super) fn ctrl_c_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted, stopping…");
            t.cancel();
        }
    });
    token
}

/// `vmdp backup ls`.
pub async fn ls(g: &GlobalArgs, s: &Session, a: LsArgs) -> CmdResult {
    let r = resolve(s, &a.snapshot).await?;
    let listing = if r.entry.is_dir() {
        browse::ls(&*s.repo, &r.entry, a.recursive, &TreeLimits::default()).await?
    } else {
        vec![browse::ListedEntry {
            path: browse::display_name(&r.entry.name),
            entry: r.entry.clone(),
        }]
    };
    if g.json {
        let entries: Vec<_> = listing
            .iter()
            .map(|l| entry_json(&l.path, &l.entry))
            .collect();
        print_json(&json!({ "entries": entries }));
    } else {
        for l in &listing {
            println!("{}", entry_line(&l.path, &l.entry, a.long));
        }
    }
    Ok(exit::OK)
}

/// `vmdp backup restore`.
pub async fn restore(g: &GlobalArgs, s: &Session, a: RestoreArgs) -> CmdResult {
    let r = resolve(s, &a.snapshot).await?;
    let target = match (&a.target, &r.snapshot) {
        (Some(t), _) => t.clone(),
        (None, Some(m)) => {
            let mut p = PathBuf::from(&m.source.path);
            p.extend(r.subpath.split('/').filter(|c| !c.is_empty()));
            p
        }
        (None, None) => {
            return Err(CliError::Usage(
                "restoring an object ID needs a TARGET (there is no original location)".into(),
            ));
        }
    };
    let options = RestoreOptions {
        overwrite: a.overwrite,
        skip_owners: a.skip_owners,
        skip_permissions: a.skip_permissions,
        skip_times: a.skip_times,
        write_sparse: a.write_sparse,
        ignore_errors: a.ignore_errors,
        parallelism: a.parallel.max(1),
        ..RestoreOptions::default()
    };
    let (progress, _counters) = progress_bar::for_operation(g.quiet || g.json, "restored");
    let cancel = ctrl_c_token();
    let report = tree_restore::restore(
        s.repo.clone(),
        &r.entry,
        &target,
        &options,
        progress,
        &cancel,
    )
    .await?;
    let failed = report.errors.len();
    if g.json {
        let errors: Vec<_> = report
            .errors
            .iter()
            .map(|e| json!({ "path": e.path, "error": e.error.to_string() }))
            .collect();
        print_json(&json!({
            "target": target,
            "files": report.files,
            "dirs": report.dirs,
            "symlinks": report.symlinks,
            "bytes": report.bytes,
            "errors": errors,
        }));
    } else {
        for e in &report.errors {
            eprintln!("error: {}: {}", e.path, e.error);
        }
        println!(
            "Restored {} files, {} directories, {} symlinks ({}) to {}{}.",
            report.files,
            report.dirs,
            report.symlinks,
            human_bytes(report.bytes),
            target.display(),
            if failed > 0 {
                format!(", {failed} failed")
            } else {
                String::new()
            }
        );
    }
    Ok(if failed > 0 { exit::PARTIAL } else { exit::OK })
}

/// `vmdp backup verify`: one snapshot, or the latest of every source.
pub async fn verify(g: &GlobalArgs, s: &Session, a: VerifyArgs) -> CmdResult {
    let targets: Vec<(String, vmdp_core::proto::manifest::DirEntry)> = match &a.snapshot {
        Some(spec) => {
            let r = resolve(s, spec).await?;
            vec![(spec.clone(), r.entry)]
        }
        None => {
            let all = snapshots::list(&*s.repo, None, false).await?;
            let mut latest = std::collections::BTreeMap::new();
            for m in all {
                latest.insert(m.source.to_string(), m);
            }
            latest
                .into_values()
                .filter_map(|m| m.root_entry.clone().map(|e| (m.id.clone(), e)))
                .collect()
        }
    };
    let options = VerifyOptions {
        parallelism: a.parallel.max(1),
        ..VerifyOptions::default()
    };
    let cancel = ctrl_c_token();
    let mut results = Vec::new();
    let mut failed = 0usize;
    for (name, entry) in targets {
        let (progress, _c) = progress_bar::for_operation(g.quiet || g.json, "verified");
        let report =
            tree_verify::verify(s.repo.clone(), &entry, &options, progress, &cancel).await?;
        failed += report.errors.len();
        if !g.json {
            for e in &report.errors {
                eprintln!("error: {name}: {}: {}", e.path, e.error);
            }
            println!(
                "{name}: {} directories, {} objects, {} read back, {} errors",
                report.dirs,
                report.objects,
                human_bytes(report.bytes),
                report.errors.len()
            );
        }
        let errors: Vec<_> = report
            .errors
            .iter()
            .map(|e| json!({ "path": e.path, "error": e.error.to_string() }))
            .collect();
        results.push(json!({
            "snapshot": name,
            "dirs": report.dirs,
            "objects": report.objects,
            "bytes": report.bytes,
            "errors": errors,
        }));
    }
    if g.json {
        print_json(&json!({ "verified": results, "ok": failed == 0 }));
    }
    if failed > 0 {
        return Err(CliError::Local(format!(
            "verification found {failed} damaged or missing entries"
        )));
    }
    Ok(exit::OK)
}

/// `vmdp backup diff`.
pub async fn diff(g: &GlobalArgs, s: &Session, a: DiffArgs) -> CmdResult {
    let old = resolve(s, &a.old).await?;
    let new = resolve(s, &a.new).await?;
    let changes = tree_diff::diff(&*s.repo, &old.entry, &new.entry, &TreeLimits::default()).await?;
    if g.json {
        let items: Vec<_> = changes
            .iter()
            .map(|d| {
                json!({
                    "path": d.path,
                    "change": d.to_string(),
                    "old": d.old.as_ref().map(|e| entry_json(&d.path, e)),
                    "new": d.new.as_ref().map(|e| entry_json(&d.path, e)),
                })
            })
            .collect();
        print_json(&json!({ "changes": items }));
    } else {
        for d in &changes {
            println!("{d}");
        }
    }
    Ok(exit::OK)
}
