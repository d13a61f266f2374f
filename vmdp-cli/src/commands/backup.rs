//! `vmdp backup create | list | delete`.

use serde_json::json;
use vmdp_core::proto::manifest::{SnapshotManifest, SourceInfo};
use vmdp_core::{snapshot, snapshots};

use super::{CliError, CmdResult, Session};
use crate::cli::{CreateArgs, DeleteArgs, GlobalArgs, ListArgs};
use crate::output::{human_bytes, print_json, snapshot_json, snapshot_line};
use crate::{exit, progress_bar};

/// The source (`user@host:/abs/path`) a local path is backed up as.
fn source_of(s: &Session, path: &std::path::Path) -> Result<SourceInfo, CliError> {
    let options = snapshot::CreateOptions::new(&s.hostname, &s.username);
    Ok(snapshot::source_info(path, &options)?)
}

/// `vmdp backup create PATH…`: one snapshot per path; exit code 3 when some
/// files could not be read (the snapshot is still saved, as kopia does).
pub async fn create(g: &GlobalArgs, s: &Session, a: CreateArgs) -> CmdResult {
    let cancel = super::browse::ctrl_c_token();
    let mut results = Vec::new();
    let mut failed_files = 0u64;
    for path in &a.paths {
        let mut options = snapshot::CreateOptions::new(&s.hostname, &s.username);
        options.description = a.description.clone();
        options.flush_interval = std::time::Duration::from_secs(a.flush_interval);
        let (progress, _counters) = progress_bar::for_operation(g.quiet || g.json, "hashed");
        let outcome =
            snapshot::create(s.repo.clone(), path, options, progress, cancel.clone()).await?;
        if cancel.is_cancelled() || !outcome.manifest.is_complete() {
            return Err(CliError::Local(format!(
                "backup of {} did not complete ({}); nothing was marked complete",
                path.display(),
                outcome.manifest.incomplete_reason
            )));
        }
        failed_files += outcome.error_count;
        let mut m = outcome.manifest.clone();
        m.id = outcome.manifest_id.clone().unwrap_or_default();
        if !g.json {
            println!(
                "Created backup {} of {}: {} files, {} directories, {} ({} uploaded){}.",
                m.id,
                m.source,
                m.stats.file_count,
                m.stats.dir_count,
                human_bytes(u64::try_from(m.stats.total_size).unwrap_or(0)),
                human_bytes(outcome.uploaded_bytes),
                if outcome.error_count > 0 {
                    format!(", {} files failed", outcome.error_count)
                } else {
                    String::new()
                }
            );
            if !outcome.expired.is_empty() {
                println!(
                    "Deleted {} expired backup(s) of {} by retention policy: {}.",
                    outcome.expired.len(),
                    m.source,
                    outcome.expired.join(", ")
                );
            }
        }
        let mut v = snapshot_json(&m);
        v["upload"] = json!({
            "bytesUploaded": outcome.uploaded_bytes,
            "contentsUploaded": outcome.uploaded_contents,
            "bytesDeduplicated": outcome.deduplicated_bytes,
            "errors": outcome.error_count,
            "ignoredErrors": outcome.ignored_error_count,
            "checkpoints": outcome.checkpoints,
        });
        v["retention"] = json!({ "deleted": outcome.expired });
        results.push(v);
    }
    if g.json {
        if results.len() == 1 {
            print_json(&results[0]);
        } else {
            print_json(&json!(results));
        }
    }
    Ok(if failed_files > 0 {
        exit::PARTIAL
    } else {
        exit::OK
    })
}

/// `vmdp backup list [PATH]`.
pub async fn list(g: &GlobalArgs, s: &Session, a: ListArgs) -> CmdResult {
    let source = a.path.as_deref().map(|p| source_of(s, p)).transpose()?;
    let manifests = snapshots::list(&*s.repo, source.as_ref(), a.incomplete).await?;
    if g.json {
        let items: Vec<_> = manifests.iter().map(snapshot_json).collect();
        print_json(&json!(items));
        return Ok(exit::OK);
    }
    if manifests.is_empty() {
        println!(
            "No backups{}.",
            source.map(|s| format!(" of {s}")).unwrap_or_default()
        );
    }
    for group in SnapshotManifest::group_by_source(&manifests) {
        println!("{}", group[0].source);
        for m in group {
            println!("{}", snapshot_line(m));
        }
    }
    Ok(exit::OK)
}

/// `vmdp backup delete SNAPSHOT…`.
pub async fn delete(g: &GlobalArgs, s: &Session, a: DeleteArgs) -> CmdResult {
    let mut deleted = Vec::new();
    for id in &a.snapshots {
        let m = snapshots::delete(&*s.repo, id).await?;
        if !g.json {
            println!(
                "Deleted backup {id} of {} ({}).",
                m.source,
                crate::output::human_time(m.start_time)
            );
        }
        deleted.push(snapshot_json(&m));
    }
    if g.json {
        print_json(&json!({ "deleted": deleted }));
    }
    Ok(exit::OK)
}
