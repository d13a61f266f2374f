//! Snapshot creation (kopia's `snapshot/upload`): walk a local tree in parallel, apply the
//! effective policy, split/hash/deduplicate file data, reuse unchanged entries of previous
//! snapshots, and write directory objects and the snapshot manifest exactly as kopia does,
//! so the same tree with the same repository parameters gives the same root object ID.

mod checkpoint;
mod estimate;
#[cfg(test)]
mod failure_tests;
mod file;
mod local;
mod policy_tree;
mod previous;
mod scan;
mod small;
mod stats;
#[cfg(test)]
mod tests;
mod upload;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use kopia_proto::manifest::{
    DirEntry, DirectorySummary, EntryType, SnapshotManifest, SnapshotStats, SourceInfo,
};

use crate::progress::{CancellationToken, SharedProgress};
use crate::repo::{ManifestId, Repository};
use crate::{Error, Result};

use checkpoint::{DirState, REASON_CHECKPOINT, checkpoint_item};
use local::{Kind, stat_entry};
use upload::{DirJob, UploadSettings, Uploader};

/// Kopia's default (and largest allowed) interval between checkpoints.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(45 * 60);

/// Default for [`CreateOptions::flush_interval`].
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(60);

/// How to create a snapshot.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Host name of the source (`user@host:/path`).
    pub host: String,
    /// User name of the source.
    pub user_name: String,
    /// Free-text description stored in the manifest.
    pub description: String,
    /// Tags (`tag:<key>` → value) stored in the manifest and as labels.
    pub tags: BTreeMap<String, String>,
    /// Interval between checkpoint manifests; at most [`DEFAULT_CHECKPOINT_INTERVAL`].
    pub checkpoint_interval: Duration,
    /// How often the data uploaded so far is made durable (a repository flush), so an
    /// interrupted backup (server gone, Ctrl-C) loses at most this much work and the
    /// next one reuses the rest. Zero disables it.
    pub flush_interval: Duration,
    /// Files read at once; `None` = policy `upload.maxParallelFileReads`, else CPU count.
    pub parallel: Option<usize>,
    /// Stop with `incomplete: "limit reached"` after reading this many bytes (0 = no limit).
    pub max_upload_bytes: i64,
    /// Cancel at the first error that policy does not ignore.
    pub fail_fast: bool,
    /// Percentage of unchanged files hashed again anyway (kopia's `--force-hash`).
    pub force_hash_percent: f64,
    /// About how many bytes of chunk data may wait for the repository at once.
    pub inflight_bytes: usize,
    /// Walk the tree once more in the background to report [`crate::Progress::Estimate`].
    pub estimate: bool,
}

impl CreateOptions {
    /// Defaults like `kopia snapshot create` for `user_name@host`.
    pub fn new(host: impl Into<String>, user_name: impl Into<String>) -> Self {
        CreateOptions {
            host: host.into(),
            user_name: user_name.into(),
            description: String::new(),
            tags: BTreeMap::new(),
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            parallel: None,
            max_upload_bytes: 0,
            fail_fast: false,
            force_hash_percent: 0.0,
            inflight_bytes: 16 << 20,
            estimate: true,
        }
    }
}

/// What [`create`] did.
#[derive(Debug, Clone)]
pub struct CreateOutcome {
    /// ID of the saved snapshot manifest; `None` when not saved because policy
    /// `retention.ignoreIdenticalSnapshots` is set and nothing changed.
    pub manifest_id: Option<ManifestId>,
    /// The snapshot manifest (its `incomplete` says whether it was canceled or limited).
    pub manifest: SnapshotManifest,
    /// Entries that failed and were not ignored by policy (kopia exits non-zero then).
    pub error_count: u64,
    /// Entries that failed and were ignored by policy.
    pub ignored_error_count: u64,
    /// Bytes of contents sent to the repository (data and metadata).
    pub uploaded_bytes: u64,
    /// Contents sent to the repository.
    pub uploaded_contents: u64,
    /// Bytes of contents the repository already had (data contents under
    /// [`crate::server::PROBE_BEFORE_WRITE_BYTES`] are sent without asking, so
    /// they count as uploaded).
    pub deduplicated_bytes: u64,
    /// Checkpoint manifests written during the run.
    pub checkpoints: u32,
    /// Snapshots of the source deleted by its retention policy after this one was
    /// saved (empty when it was not saved).
    pub expired: Vec<ManifestId>,
}

impl CreateOutcome {
    /// The snapshot's statistics.
    pub fn stats(&self) -> &SnapshotStats {
        &self.manifest.stats
    }

    /// The root object ID.
    pub fn root_object_id(&self) -> &str {
        self.manifest.root_object_id()
    }

    /// True when some entries could not be read (and policy did not ignore that).
    pub fn has_errors(&self) -> bool {
        self.error_count > 0
    }
}

fn now_nanos() -> i64 {
    match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The source of `path` for `opts`' user@host: absolute and cleaned, not symlink-resolved.
pub fn source_info(path: &Path, opts: &CreateOptions) -> Result<SourceInfo> {
    let abs = std::path::absolute(path).map_err(io_err(path))?;
    let s = abs
        .to_str()
        .ok_or_else(|| Error::InvalidInput(format!("source path {abs:?} is not valid UTF-8")))?;
    // `C:\dir` is not kopia's textual source form; kopia keeps the cleaned path.
    if cfg!(windows) {
        let path = crate::winpath::clean_source_path(s);
        return Ok(SourceInfo::new(&opts.host, &opts.user_name, path));
    }
    SourceInfo::parse(s, &opts.host, &opts.user_name)
        .map_err(|e| Error::InvalidInput(format!("source path {s}: {e}")))
}

/// Creates a snapshot of `source` (a directory or a file) in `repo`, like
/// `kopia snapshot create`: the effective policy of the source applies, unchanged
/// entries of the latest previous snapshots are reused, checkpoints are saved every
/// `checkpoint_interval`, and the snapshot manifest is saved and flushed.
///
/// Unreadable entries are recorded in the directory summaries and counted in the
/// outcome; the snapshot goes on. On cancellation the manifest is saved with
/// `incomplete: "canceled"` (never as complete). Errors reading the source root or
/// from the repository fail the whole operation, and no snapshot manifest is saved.
///
/// After the manifest is saved, the source's retention policy is applied and the
/// snapshots it expires are deleted ([`CreateOutcome::expired`]), as kopia does
/// (it has no option to skip that). When that fails the new snapshot is kept and
/// flushed, and the error is returned.
pub async fn create(
    repo: Arc<dyn Repository>,
    source: &Path,
    options: CreateOptions,
    progress: SharedProgress,
    cancel: CancellationToken,
) -> Result<CreateOutcome> {
    if options.checkpoint_interval > DEFAULT_CHECKPOINT_INTERVAL
        || options.checkpoint_interval.is_zero()
    {
        return Err(Error::InvalidInput(format!(
            "checkpoint interval must be between 0 and {DEFAULT_CHECKPOINT_INTERVAL:?}, got {:?}",
            options.checkpoint_interval
        )));
    }
    let si = source_info(source, &options)?;
    let real = std::fs::canonicalize(source).map_err(io_err(source))?;
    let tree = policy_tree::load_policy_tree(&*repo, &si).await?;
    let effective = tree.effective().clone();
    let parallel = options.parallel.unwrap_or_else(|| {
        effective
            .policy
            .upload
            .max_parallel_file_reads
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    });
    let all = previous::snapshots_of(&*repo, &si).await?;
    let prev_manifests: Vec<SnapshotManifest> = SnapshotManifest::find_previous(&all, None)
        .into_iter()
        .cloned()
        .collect();
    let prev_roots = prev_manifests
        .iter()
        .filter_map(|m| m.root_entry.as_ref())
        .filter(|e| e.entry_type == EntryType::Directory)
        .map(|e| e.object_id.clone())
        .collect();

    let writer = Arc::new(writer::Writer::new(
        repo.clone(),
        options.inflight_bytes,
        progress.clone(),
    )?);
    let u = Uploader::new(
        writer.clone(),
        progress.clone(),
        cancel.child_token(),
        UploadSettings {
            parallel,
            max_upload_bytes: options.max_upload_bytes,
            fail_fast: options.fail_fast,
            force_hash_percent: options.force_hash_percent,
        },
    );
    let mut meta = stat_entry(&real, root_name(&real)).map_err(io_err(&real))?;
    meta.name = root_name(&real);
    let prototype = SnapshotManifest {
        source: si.clone(),
        description: options.description.clone(),
        start_time: now_nanos(),
        ..Default::default()
    };
    let holder = DirState::new(meta.clone(), PathBuf::new(), None);
    let stop = CancellationToken::new();
    let checkpointer = tokio::spawn(checkpoint_loop(
        u.clone(),
        holder.clone(),
        prototype.clone(),
        options.checkpoint_interval,
        stop.clone(),
    ));

    let flusher = (!options.flush_interval.is_zero()).then(|| {
        tokio::spawn(flush_loop(
            repo.clone(),
            u.cancel.clone(),
            options.flush_interval,
            stop.clone(),
        ))
    });

    let estimate_stop = Arc::new(AtomicBool::new(false));
    let estimator = (options.estimate && meta.kind == Kind::Dir).then(|| {
        let (dir, tree, dev, progress, stop) = (
            real.clone(),
            tree.clone(),
            meta.dev,
            progress.clone(),
            estimate_stop.clone(),
        );
        tokio::task::spawn_blocking(move || {
            estimate::estimate_tree(&dir, &tree, dev, &progress, &stop)
        })
    });

    let result = async {
        match meta.kind {
            Kind::Dir => {
                let job = DirJob {
                    path: real.clone(),
                    rel: PathBuf::new(),
                    meta: meta.clone(),
                    node: tree.clone(),
                    ignore: scan::IgnoreContext::root(),
                    prev: previous::load_unique(&*repo, prev_roots).await,
                };
                u.upload_dir(job, Some(&holder)).await?.map_err(|m| {
                    Error::InvalidInput(format!("cannot snapshot {}: {m}", real.display()))
                })
            }
            Kind::File => {
                let mut de = u
                    .upload_root_file(&real, &meta, &tree, &holder)
                    .await?
                    .map_err(|m| {
                        Error::InvalidInput(format!("cannot snapshot {}: {m}", real.display()))
                    })?;
                de.summary = Some(DirectorySummary {
                    total_file_count: 1,
                    total_file_size: de.size,
                    max_mod_time: de.mtime,
                    ..Default::default()
                });
                de.size = meta.size;
                Ok(de)
            }
            _ => Err(Error::InvalidInput(format!(
                "unsupported source {}: not a directory or regular file",
                real.display()
            ))),
        }
    }
    .await;
    stop.cancel();
    estimate_stop.store(true, Ordering::Relaxed);
    if let Some(e) = estimator {
        // The estimate only feeds progress; its failure does not matter.
        let _ = e.await;
    }
    let checkpoints = checkpointer
        .await
        .map_err(|e| Error::Repository(format!("checkpoint task failed: {e}")))?;
    if let Some(f) = flusher {
        f.await
            .map_err(|e| Error::Repository(format!("flush task failed: {e}")))??;
    }
    let root: DirEntry = result?;

    let mut manifest = prototype;
    manifest.root_entry = Some(root);
    manifest.incomplete_reason = u.incomplete_reason().to_string();
    manifest.end_time = now_nanos();
    manifest.stats = u.stats.snapshot();
    manifest.tags = options.tags.clone();

    let ignore_identical = effective.policy.retention.ignore_identical_snapshots == Some(true);
    let identical = prev_manifests
        .first()
        .is_some_and(|p| p.root_object_id() == manifest.root_object_id());
    // Asynchronous writes (server) report failures at a flush: make the data durable,
    // and learn of any failed write, before a manifest can refer to it.
    repo.flush()
        .await
        .map_err(|e| e.context("cannot store the snapshot's data"))?;
    let manifest_id = if ignore_identical && identical {
        tracing::info!("not saving snapshot: nothing changed since the previous snapshot");
        None
    } else {
        Some(
            save_manifest(&*repo, &manifest)
                .await
                .map_err(|e| e.context("cannot save the snapshot manifest"))?,
        )
    };
    // As kopia's `snapshot create`: retention runs only after a snapshot was saved,
    // and the session is flushed even when it fails (the new snapshot stays).
    let retention = match manifest_id {
        Some(_) => repo.apply_retention_policy(&si, true).await,
        None => Ok(Vec::new()),
    };
    repo.flush().await?;
    let expired =
        retention.map_err(|e| e.context(&format!("unable to apply retention policy to {si}")))?;
    if !expired.is_empty() {
        tracing::info!(source = %si, count = expired.len(), "deleted expired snapshots");
    }
    if let Some(id) = &manifest_id {
        manifest.id = id.clone();
    }
    let c = &writer.counters;
    Ok(CreateOutcome {
        manifest_id,
        error_count: u64::try_from(manifest.stats.error_count).unwrap_or(0),
        ignored_error_count: u64::try_from(manifest.stats.ignored_error_count).unwrap_or(0),
        manifest,
        uploaded_bytes: c.uploaded_bytes.load(Ordering::Relaxed),
        uploaded_contents: c.uploaded_contents.load(Ordering::Relaxed),
        deduplicated_bytes: c.deduplicated_bytes.load(Ordering::Relaxed),
        checkpoints,
        expired,
    })
}

/// The root entry's name: the base name of the resolved source, `/` for the root.
fn root_name(real: &Path) -> std::ffi::OsString {
    real.file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "/".into())
}

/// Saves a snapshot manifest with kopia's labels (`id` is never stored in the payload).
async fn save_manifest(repo: &dyn Repository, m: &SnapshotManifest) -> Result<ManifestId> {
    let labels = m
        .labels()
        .map_err(|e| Error::InvalidInput(format!("snapshot manifest: {e}")))?;
    let stored = SnapshotManifest {
        id: String::new(),
        ..m.clone()
    };
    repo.put_manifest(&labels, &stored.to_json()).await
}

/// Kopia's `periodicallyCheckpoint`: every `interval`, saves a checkpoint manifest of what
/// is done so far; a failing checkpoint cancels the upload. Returns how many were saved.
async fn checkpoint_loop(
    u: Arc<Uploader>,
    holder: Arc<DirState>,
    prototype: SnapshotManifest,
    interval: Duration,
    stop: CancellationToken,
) -> u32 {
    let mut saved = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return saved,
            _ = tokio::time::sleep(interval) => {}
        }
        match checkpoint_root(&u, &holder, &prototype).await {
            Ok(true) => saved += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!("error checkpointing: {e}");
                u.cancel.cancel();
                return saved;
            }
        }
    }
}

/// Every `interval`, makes what was uploaded so far durable, so an interrupted backup
/// can reuse it. A failing flush cancels the upload and is returned: it may have
/// reported failed writes that the final flush would no longer see.
async fn flush_loop(
    repo: Arc<dyn Repository>,
    cancel: CancellationToken,
    interval: Duration,
    stop: CancellationToken,
) -> Result<()> {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
        // Not raced against `stop`: a flush cut short could swallow write failures.
        if let Err(e) = repo.flush().await {
            tracing::error!("error flushing uploaded data: {e}");
            cancel.cancel();
            return Err(e);
        }
    }
}

/// Kopia's `checkpointRoot`: returns false when there was nothing to checkpoint.
async fn checkpoint_root(
    u: &Arc<Uploader>,
    holder: &Arc<DirState>,
    prototype: &SnapshotManifest,
) -> Result<bool> {
    let (_, items) = holder.snapshot();
    let mut roots = Vec::new();
    for item in &items {
        if let Some(de) = checkpoint_item(u, item).await? {
            roots.push(de);
        }
    }
    let root = match roots.len() {
        0 => return Ok(false),
        1 => roots.remove(0),
        n => {
            return Err(Error::Repository(format!(
                "produced more than one checkpoint: {n}"
            )));
        }
    };
    let mut m = prototype.clone();
    m.root_entry = Some(root);
    m.end_time = now_nanos();
    m.incomplete_reason = REASON_CHECKPOINT.to_string();
    let repo = &*u.writer.repo;
    save_manifest(repo, &m).await?;
    repo.flush().await?;
    Ok(true)
}
