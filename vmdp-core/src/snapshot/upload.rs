//! The uploader (kopia's `snapshot/upload`): directories are walked in parallel, each
//! child is reused from a previous snapshot, uploaded, or recorded as failed, and every
//! directory object is written once its children are done (object-format §6, §7.5).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use bytes::Bytes;
use kopia_proto::ids::ObjectId;
use kopia_proto::manifest::{DirEntry, EntryType, entry_metadata_equal};
use kopia_proto::object::{WriterOptions, WrittenObject, parallel_upload_parts};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::checkpoint::{DirState, Inflight, InflightFile, uuid_string};
use super::file::{FileError, ReadObserver, Source, upload_object};
use super::local::{Kind, LocalEntry};
use super::policy_tree::{NodePolicy, PolicyTree};
use super::previous::{PrevDir, load_unique};
use super::scan::{IgnoreContext, scan_dir};
use super::small::{SmallBatch, SmallFile, is_small};
use super::stats::{Stats, inc};
use super::writer::{ChunkProgress, Writer};
use crate::progress::{CancellationToken, Progress, SharedProgress};
use crate::{Error, Result};

/// `incomplete` reason of a canceled upload.
pub(crate) const REASON_CANCELED: &str = "canceled";
/// `incomplete` reason of an upload stopped by the upload byte limit.
pub(crate) const REASON_LIMIT: &str = "limit reached";
/// Directory object prefix.
const DIR_PREFIX: u8 = b'k';

/// A directory's entry, or why the directory could not be read.
pub(crate) type DirResult = std::result::Result<DirEntry, String>;
/// The boxed future of a subdirectory upload.
type DirFuture = Pin<Box<dyn Future<Output = Result<DirResult>> + Send>>;

/// Settings of one upload.
#[derive(Debug, Clone)]
pub(crate) struct UploadSettings {
    /// Files read (and directories listed) at once.
    pub parallel: usize,
    /// Stop with `limit reached` after reading more than this many bytes (0 = no limit).
    pub max_upload_bytes: i64,
    /// Cancel the upload at the first error that is not ignored.
    pub fail_fast: bool,
    /// Percentage (0..=100) of reusable entries hashed again anyway (kopia's `--force-hash`).
    pub force_hash_percent: f64,
}

/// Shared state of one upload.
pub(crate) struct Uploader {
    /// Stores objects.
    pub writer: Arc<Writer>,
    progress: SharedProgress,
    /// Cancellation of this upload (the caller's token's child; checkpoint failures cancel it).
    pub cancel: CancellationToken,
    reads: Arc<Semaphore>,
    /// Statistics.
    pub stats: Stats,
    settings: UploadSettings,
    read_bytes: AtomicI64,
    limit_hit: AtomicBool,
}

/// What happened to one child.
pub(super) enum Outcome {
    Entry(DirEntry),
    Failed { message: String, ignored: bool },
    Skipped,
}

/// Where a directory is and what applies to it.
#[derive(Clone)]
pub(crate) struct DirJob {
    /// Local path.
    pub path: PathBuf,
    /// Path relative to the snapshot root (`""` for the root).
    pub rel: PathBuf,
    /// Its `lstat` metadata.
    pub meta: LocalEntry,
    /// Its policy subtree.
    pub node: Arc<PolicyTree>,
    /// The ignore context of its parent.
    pub ignore: Arc<IgnoreContext>,
    /// The same directory in previous snapshots.
    pub prev: Vec<Arc<PrevDir>>,
}

/// Kopia's relative entry path: `name` at the root, `dir/name` below.
fn child_rel(rel: &Path, name: &std::ffi::OsStr) -> PathBuf {
    if rel.as_os_str().is_empty() {
        PathBuf::from(name)
    } else {
        rel.join(name)
    }
}

/// Relative path bytes with `/` separators, as stored in `errors[].path`.
fn rel_bytes(rel: &Path) -> Vec<u8> {
    let b = rel.as_os_str().as_encoded_bytes();
    if std::path::MAIN_SEPARATOR == '/' {
        b.to_vec()
    } else {
        b.iter()
            .map(|&c| {
                if c == std::path::MAIN_SEPARATOR as u8 {
                    b'/'
                } else {
                    c
                }
            })
            .collect()
    }
}

impl FileError {
    /// What a file that could not be uploaded becomes: a recorded failure (the
    /// snapshot goes on), nothing (cancelled), or the repository error that ends it.
    pub(super) fn into_outcome(self) -> Result<Outcome> {
        match self {
            FileError::Local(message) => Ok(Outcome::Failed {
                message,
                ignored: false,
            }),
            FileError::Cancelled => Ok(Outcome::Skipped),
            FileError::Repo(e) => Err(e),
        }
    }
}

/// Counts bytes read and stops reads on cancellation or when the byte limit is exceeded.
pub(super) struct Observer(pub(super) Arc<Uploader>);

impl ReadObserver for Observer {
    fn read(&self, n: usize) -> bool {
        let u = &self.0;
        let total = u.read_bytes.fetch_add(n as i64, Ordering::Relaxed) + n as i64;
        u.progress.report(Progress::BytesProcessed(n as u64));
        let max = u.settings.max_upload_bytes;
        if max > 0 && total > max {
            u.limit_hit.store(true, Ordering::Relaxed);
        }
        !u.is_canceled()
    }
}

impl Uploader {
    /// An uploader storing through `writer`.
    pub fn new(
        writer: Arc<Writer>,
        progress: SharedProgress,
        cancel: CancellationToken,
        settings: UploadSettings,
    ) -> Arc<Self> {
        Arc::new(Uploader {
            writer,
            progress,
            cancel,
            reads: Arc::new(Semaphore::new(settings.parallel.max(1))),
            stats: Stats::default(),
            settings,
            read_bytes: AtomicI64::new(0),
            limit_hit: AtomicBool::new(false),
        })
    }

    /// Kopia's `incompleteReason`: `canceled`, `limit reached` or empty.
    pub fn incomplete_reason(&self) -> &'static str {
        if self.cancel.is_cancelled() {
            REASON_CANCELED
        } else if self.limit_hit.load(Ordering::Relaxed) {
            REASON_LIMIT
        } else {
            ""
        }
    }

    fn is_canceled(&self) -> bool {
        !self.incomplete_reason().is_empty()
    }

    /// One of the `parallel` read slots.
    pub(super) async fn permit(&self) -> Result<OwnedSemaphorePermit> {
        self.reads
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Repository(format!("upload worker pool closed: {e}")))
    }

    /// Kopia's `reportErrorAndMaybeCancel`.
    fn report_error(&self, dmb: &DirState, rel: &Path, message: &str, ignored: bool) {
        if ignored {
            inc(&self.stats.ignored_error_count, 1);
        } else {
            inc(&self.stats.error_count, 1);
        }
        self.progress.report(Progress::Error {
            path: rel,
            message,
            ignored,
        });
        dmb.builder()
            .add_failed_entry(rel_bytes(rel), ignored, message);
        if self.settings.fail_fast && !ignored {
            self.cancel.cancel();
        }
    }

    /// Uploads a directory and returns its entry (with summary). Errors reading the
    /// directory itself come back as `Ok(Err(message))`.
    pub async fn upload_dir(
        self: &Arc<Self>,
        job: DirJob,
        parent: Option<&Arc<DirState>>,
    ) -> Result<DirResult> {
        inc(&self.stats.dir_count, 1);
        self.progress.report(Progress::Directory { path: &job.rel });
        let node_policy = job.node.effective().clone();
        let metadata = node_policy.metadata_compression;
        let state = DirState::new(job.meta.clone(), job.rel.clone(), metadata);
        let key = parent.map(|p| p.register(Inflight::Dir(state.clone())));
        let result = self.finish_dir(&job, &state, metadata).await;
        // Stay visible to checkpoints until the directory object is written.
        if let (Some(p), Some(k)) = (parent, key) {
            p.unregister(k);
        }
        result
    }

    async fn finish_dir(
        self: &Arc<Self>,
        job: &DirJob,
        state: &Arc<DirState>,
        metadata: Option<u32>,
    ) -> Result<DirResult> {
        if let Err(message) = self.process_dir(job, state).await? {
            return Ok(Err(message));
        }
        let dmb = state.builder().clone();
        let manifest = dmb.build(job.meta.mtime, self.incomplete_reason());
        let oid = self.write_dir(&manifest.to_json(), metadata).await?;
        let mut de = job.meta.dir_entry(oid);
        de.summary = manifest.summary;
        Ok(Ok(de))
    }

    /// [`Uploader::upload_dir`] for a subdirectory, boxed (the recursion needs a named
    /// `Send` future type).
    fn upload_dir_boxed(self: Arc<Self>, job: DirJob, parent: Arc<DirState>) -> DirFuture {
        Box::pin(async move { self.upload_dir(job, Some(&parent)).await })
    }

    /// Writes a directory object (`k` prefix, metadata compression).
    pub async fn write_dir(&self, json: &[u8], metadata: Option<u32>) -> Result<String> {
        let opts = self.writer.metadata_options(Some(DIR_PREFIX), metadata);
        let obj = self
            .writer
            .write_bytes(&opts, Bytes::copy_from_slice(json))
            .await?;
        Ok(obj.id.to_string())
    }

    /// Lists the directory and processes every child concurrently.
    async fn process_dir(
        self: &Arc<Self>,
        job: &DirJob,
        state: &Arc<DirState>,
    ) -> Result<std::result::Result<(), String>> {
        let scan = {
            let _permit = self.permit().await?;
            let (path, node, ignore, dev) = (
                job.path.clone(),
                job.node.clone(),
                job.ignore.clone(),
                job.meta.dev,
            );
            let rel = if job.rel.as_os_str().is_empty() {
                b".".to_vec()
            } else {
                let mut r = b"./".to_vec();
                r.extend_from_slice(&rel_bytes(&job.rel));
                r
            };
            tokio::task::spawn_blocking(move || scan_dir(&path, &rel, &node, &ignore, dev))
                .await
                .map_err(|e| Error::Repository(format!("directory scan task failed: {e}")))?
        };
        let scan = match scan {
            Ok(s) => s,
            Err(message) => return Ok(Err(message)),
        };
        for x in &scan.excluded {
            let times = i32::try_from(x.times).unwrap_or(i32::MAX);
            if x.is_dir {
                inc(&self.stats.excluded_dir_count, times);
            } else {
                inc(&self.stats.excluded_file_count, times);
                self.stats
                    .excluded_total_size
                    .fetch_add(x.size * i64::from(times), Ordering::Relaxed);
            }
        }
        let mut tasks: JoinSet<Result<()>> = JoinSet::new();
        let mut small = SmallBatch::default();
        for entry in scan.entries {
            if self.is_canceled() {
                break;
            }
            while let Some(done) = tasks.try_join_next() {
                done.map_err(|e| Error::Repository(format!("upload task failed: {e}")))??;
            }
            let rel = child_rel(&job.rel, &entry.name);
            let child_node = job.node.child(entry.name_bytes());
            if entry.kind != Kind::Dir {
                if let Some(de) = self.find_cached(&entry, &job.prev) {
                    inc(&self.stats.cached_files, 1);
                    self.stats.total_size.fetch_add(de.size, Ordering::Relaxed);
                    self.progress.report(Progress::FileDone {
                        path: &rel,
                        bytes: u64::try_from(de.size).unwrap_or(0),
                        cached: true,
                    });
                    state.builder().add_entry(de);
                    continue;
                }
            }
            let u = self.clone();
            let state = state.clone();
            let dir_policy = job.node.effective().clone();
            match entry.kind {
                Kind::Dir => {
                    let child = DirJob {
                        path: job.path.join(&entry.name),
                        rel,
                        meta: entry.clone(),
                        node: child_node.clone(),
                        ignore: scan.context.clone(),
                        prev: Vec::new(),
                    };
                    let prev_ids = job
                        .prev
                        .iter()
                        .filter_map(|p| p.child(entry.name_bytes()))
                        .filter(|e| e.entry_type == EntryType::Directory)
                        .map(|e| e.object_id.clone())
                        .collect();
                    tasks.spawn(async move {
                        let mut child = child;
                        child.prev = load_unique(&*u.writer.repo, prev_ids).await;
                        let (rel, ignored) = (
                            child.rel.clone(),
                            child_node.effective().ignore_directory_errors(),
                        );
                        match u.clone().upload_dir_boxed(child, state.clone()).await? {
                            Ok(de) => state.builder().add_entry(de),
                            Err(m) => u.report_error(&state, &rel, &m, ignored),
                        }
                        Ok(())
                    });
                }
                Kind::File if is_small(&entry, child_node.effective()) => {
                    let file = SmallFile {
                        path: job.path.join(&entry.name),
                        rel,
                        entry,
                        node: child_node,
                    };
                    if let Some(full) = small.add(file) {
                        let ignore = dir_policy.ignore_file_errors();
                        let permit = self.permit().await?;
                        tasks.spawn(full.upload(u, state, ignore, permit));
                    }
                }
                Kind::File | Kind::Symlink => {
                    let permit = self.permit().await?;
                    let path = job.path.join(&entry.name);
                    tasks.spawn(async move {
                        let outcome = if entry.kind == Kind::File {
                            u.upload_file(&path, &rel, &entry, child_node.effective(), &state)
                                .await?
                        } else {
                            u.upload_symlink(&path, &rel, &entry, child_node.effective())
                                .await?
                        };
                        drop(permit);
                        u.finish_child(&state, &rel, outcome, dir_policy.ignore_file_errors());
                        Ok(())
                    });
                }
                Kind::Unknown => {
                    let p = child_node.effective();
                    if !p.ignore_unknown_types() {
                        self.report_error(
                            state.as_ref(),
                            &rel,
                            "unknown or unsupported entry type",
                            false,
                        );
                    }
                }
                Kind::Error(ref m) => {
                    let p = child_node.effective();
                    let ignored = if entry.is_dir {
                        p.ignore_directory_errors()
                    } else {
                        p.ignore_file_errors()
                    };
                    self.report_error(state.as_ref(), &rel, m, ignored);
                }
            }
        }
        if !small.is_empty() && !self.is_canceled() {
            let ignore = job.node.effective().ignore_file_errors();
            let permit = self.permit().await?;
            tasks.spawn(small.upload(self.clone(), state.clone(), ignore, permit));
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| Error::Repository(format!("upload task failed: {e}")))??;
        }
        Ok(Ok(()))
    }

    /// Adds a child's outcome to its directory (an entry, or a recorded error).
    pub(super) fn finish_child(
        &self,
        state: &DirState,
        rel: &Path,
        outcome: Outcome,
        ignore_errors: bool,
    ) {
        match outcome {
            Outcome::Entry(de) => state.builder().add_entry(de),
            Outcome::Failed { message, ignored } => {
                self.report_error(state, rel, &message, ignored || ignore_errors)
            }
            Outcome::Skipped => {}
        }
    }

    /// Kopia's `findCachedEntry` + `maybeIgnoreCachedEntry`: the first previous entry of
    /// the same name whose metadata equals the current one, as a new entry.
    fn find_cached(&self, entry: &LocalEntry, prev: &[Arc<PrevDir>]) -> Option<DirEntry> {
        if !matches!(entry.kind, Kind::File | Kind::Symlink) {
            return None;
        }
        let current = entry.dir_entry(String::new());
        let found = prev
            .iter()
            .filter_map(|p| p.child(entry.name_bytes()))
            .find(|p| entry_metadata_equal(p, &current, false))?;
        let pct = self.settings.force_hash_percent;
        if pct > 0.0 && rand::random::<f64>() * 100.0 < pct {
            return None;
        }
        Some(DirEntry {
            object_id: found.object_id.clone(),
            ..current
        })
    }

    /// Uploads a symlink's target as a small object. Reported as one
    /// [`Progress::FileDone`], like a cached symlink (kopia's `FinishedFile`).
    async fn upload_symlink(
        &self,
        path: &Path,
        rel: &Path,
        entry: &LocalEntry,
        policy: &NodePolicy,
    ) -> Result<Outcome> {
        let p = path.to_path_buf();
        let target = tokio::task::spawn_blocking(move || std::fs::read_link(&p))
            .await
            .map_err(|e| Error::Repository(format!("symlink task failed: {e}")))?;
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                return Ok(Outcome::Failed {
                    message: format!("unable to read symlink: readlink {}: {e}", path.display()),
                    ignored: false,
                });
            }
        };
        let bytes = Bytes::copy_from_slice(target.as_os_str().as_encoded_bytes());
        let opts = self
            .writer
            .file_options("", None, policy.metadata_compression);
        let obj = self.writer.write_bytes(&opts, bytes).await?;
        Ok(self.file_done(rel, entry, obj.id, obj.length))
    }

    /// Kopia's `uploadFileInternal`: one object, or parts concatenated above
    /// `parallelUploadAboveSize`.
    pub(super) async fn upload_file(
        self: &Arc<Self>,
        path: &Path,
        rel: &Path,
        entry: &LocalEntry,
        policy: &NodePolicy,
        state: &Arc<DirState>,
    ) -> Result<Outcome> {
        inc(&self.stats.non_cached_files, 1);
        let name = entry.name_bytes();
        let opts = self.file_options(entry, policy);
        let listed = u64::try_from(entry.size).unwrap_or(0);
        let parts = parallel_upload_parts(listed, policy.parallel_upload_above_size())
            .map_err(|e| Error::InvalidInput(format!("policy for {}: {e}", rel.display())))?;
        let ranges = match parts {
            None => vec![(0, None, name.to_vec())],
            Some(ranges) => {
                let last = ranges.len() - 1;
                ranges
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let limit = (i < last).then_some(r.end - r.start);
                        (r.start, limit, uuid_string().into_bytes())
                    })
                    .collect()
            }
        };
        let single = ranges.len() == 1;
        // Parts (files above `parallelUploadAboveSize`) are read and stored
        // concurrently, as in kopia, at most `parallel` at a time.
        let gate = Arc::new(Semaphore::new(self.settings.parallel.max(1)));
        let mut parts = JoinSet::new();
        let mut written: Vec<Option<WrittenObject>> = vec![None; ranges.len()];
        for (i, (offset, limit, part_name)) in ranges.into_iter().enumerate() {
            let (u, state, opts, entry) =
                (self.clone(), state.clone(), opts.clone(), entry.clone());
            let (path, gate) = (path.to_path_buf(), gate.clone());
            let part = async move {
                let _turn = gate.acquire_owned().await;
                let chunks = Arc::new(ChunkProgress::default());
                let key = state.register(Inflight::File(Arc::new(InflightFile {
                    name: part_name,
                    meta: entry,
                    opts: opts.clone(),
                    chunks: chunks.clone(),
                })));
                let src = Source {
                    path,
                    offset,
                    limit,
                    expected: limit.unwrap_or_else(|| listed.saturating_sub(offset)),
                };
                let observer = Arc::new(Observer(u.clone()));
                let result = upload_object(&u.writer, src, &opts, observer, Some(chunks)).await;
                state.unregister(key);
                result
            };
            if single {
                // The common case: no task to spawn.
                let result = part.await;
                if let Some(failed) = self.part_done(&mut written[i], result)? {
                    return Ok(failed);
                }
            } else {
                parts.spawn(async move { (i, part.await) });
            }
        }
        while let Some(done) = parts.join_next().await {
            let (i, result) =
                done.map_err(|e| Error::Repository(format!("file part upload failed: {e}")))?;
            // Returning drops the other parts (their tasks are aborted).
            if let Some(failed) = self.part_done(&mut written[i], result)? {
                return Ok(failed);
            }
        }
        let written: Vec<WrittenObject> = written.into_iter().flatten().collect();
        let length: u64 = written.iter().map(|w| w.length).sum();
        let oid = if single {
            written[0].id
        } else {
            self.writer.concatenate(&opts, &written).await?
        };
        Ok(self.file_done(rel, entry, oid, length))
    }

    /// The entry of an uploaded file or symlink whose object is `oid` (`length`
    /// bytes), reported as one [`Progress::FileDone`] (kopia's `FinishedFile`).
    pub(super) fn file_done(
        &self,
        rel: &Path,
        entry: &LocalEntry,
        oid: ObjectId,
        length: u64,
    ) -> Outcome {
        self.progress.report(Progress::FileDone {
            path: rel,
            bytes: length,
            cached: false,
        });
        let mut de = entry.dir_entry(oid.to_string());
        de.size = i64::try_from(length).unwrap_or(i64::MAX);
        Outcome::Entry(de)
    }

    /// Counts a stored file (or part: kopia counts each part as a file) in the stats.
    pub(super) fn count_file(&self, obj: &WrittenObject) {
        inc(&self.stats.file_count, 1);
        self.stats
            .total_size
            .fetch_add(i64::try_from(obj.length).unwrap_or(0), Ordering::Relaxed);
    }

    /// Writer options for a file's data under `policy`.
    pub(super) fn file_options(&self, entry: &LocalEntry, policy: &NodePolicy) -> WriterOptions {
        self.writer.file_options(
            policy.splitter(),
            policy.file_compression(entry.name_bytes(), entry.size),
            policy.metadata_compression,
        )
    }

    /// Records one uploaded part (counted as a file, as kopia does) into `slot`, or
    /// returns the outcome that ends the file's upload.
    fn part_done(
        &self,
        slot: &mut Option<WrittenObject>,
        result: std::result::Result<WrittenObject, FileError>,
    ) -> Result<Option<Outcome>> {
        match result {
            Ok(obj) => {
                self.count_file(&obj);
                *slot = Some(obj);
                Ok(None)
            }
            Err(e) => e.into_outcome().map(Some),
        }
    }

    /// Uploads a single-file source; `Ok(Err(message))` when the file cannot be read.
    pub async fn upload_root_file(
        self: &Arc<Self>,
        path: &Path,
        entry: &LocalEntry,
        node: &Arc<PolicyTree>,
        state: &Arc<DirState>,
    ) -> Result<DirResult> {
        let rel = PathBuf::from(&entry.name);
        match self
            .upload_file(path, &rel, entry, node.effective(), state)
            .await?
        {
            Outcome::Entry(de) => Ok(Ok(de)),
            Outcome::Failed { message, .. } => Ok(Err(message)),
            Outcome::Skipped => Err(Error::Cancelled),
        }
    }
}
