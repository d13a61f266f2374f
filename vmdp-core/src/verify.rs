//! Verifying a snapshot: read back every content of every object in a tree and
//! re-hash it with the repository's keyed hash, so a missing or corrupt
//! content anywhere in the snapshot is found (and named by path).
//!
//! Each object is read once even when several entries share it. Failures are
//! collected per entry and the walk goes on; only cancellation stops it early.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use kopia_proto::hashing::HashFunction;
use kopia_proto::ids::ObjectId;
use kopia_proto::manifest::{DirEntry, EntryType};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::browse::{TreeLimits, entry_object_id, join_path, read_dir_checked};
use crate::object_reader::{ChunkCheck, ObjectReader};
use crate::progress::{CancellationToken, Progress, SharedProgress};
use crate::{Error, Repository, Result};

/// How a verification runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Files read at the same time (at least 1).
    pub parallelism: usize,
    /// Bounds on the snapshot data.
    pub limits: TreeLimits,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            parallelism: 8,
            limits: TreeLimits::default(),
        }
    }
}

/// One entry whose data could not be read back intact.
#[derive(Debug)]
pub struct VerifyError {
    /// `/`-separated path relative to the verified root.
    pub path: String,
    /// What went wrong.
    pub error: Error,
}

/// What a verification read.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Directories read.
    pub dirs: u64,
    /// Files and symlinks whose objects were read (shared objects counted once).
    pub objects: u64,
    /// Bytes of object data read and re-hashed.
    pub bytes: u64,
    /// Entries that failed.
    pub errors: Vec<VerifyError>,
}

impl VerifyReport {
    /// True when every content read back intact.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Reads back every content below `root` (a directory or a single file entry),
/// checking each against its content ID.
pub async fn verify(
    repo: Arc<dyn Repository>,
    root: &DirEntry,
    options: &VerifyOptions,
    progress: SharedProgress,
    cancel: &CancellationToken,
) -> Result<VerifyReport> {
    let params = repo.parameters();
    let hasher = HashFunction::new(&params.hash_function, &params.hmac_secret).map_err(|e| {
        Error::Repository(format!(
            "hash function {:?} of the repository: {e}",
            params.hash_function
        ))
    })?;
    let check = ChunkCheck {
        hasher: Some(Arc::new(hasher)),
    };
    let report = Arc::new(Mutex::new(VerifyReport::default()));
    let seen: Arc<Mutex<HashSet<ObjectId>>> = Arc::default();
    let permits = Arc::new(Semaphore::new(options.parallelism.max(1)));
    let mut files = JoinSet::new();
    let mut pending_dirs = vec![(String::new(), root.clone(), 0usize)];

    while let Some((path, entry, depth)) = pending_dirs.pop() {
        if cancel.is_cancelled() {
            files.abort_all();
            return Err(Error::Cancelled);
        }
        let id = match entry_object_id(&entry, &path) {
            Ok(id) => id,
            Err(error) => {
                record(&report, &progress, path, error);
                continue;
            }
        };
        if !seen.lock().map(|mut s| s.insert(id)).unwrap_or(true) {
            continue;
        }
        if entry.entry_type != EntryType::Directory {
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Error::Cancelled)?;
            let (repo, check, report, progress) = (
                repo.clone(),
                check.clone(),
                report.clone(),
                progress.clone(),
            );
            files.spawn(async move {
                let result = read_object(repo, id, &entry, &check, &progress).await;
                drop(permit);
                match result {
                    Ok(bytes) => {
                        if let Ok(mut r) = report.lock() {
                            r.objects += 1;
                            r.bytes += bytes;
                        }
                        progress.report(Progress::FileDone {
                            path: Path::new(&path),
                            bytes,
                            cached: false,
                        });
                    }
                    Err(error) => record(&report, &progress, path, error),
                }
            });
            continue;
        }
        if depth > options.limits.max_depth {
            let error = Error::Corrupt(format!(
                "directory {path:?} is nested deeper than {} levels",
                options.limits.max_depth
            ));
            record(&report, &progress, path, error);
            continue;
        }
        progress.report(Progress::Directory {
            path: Path::new(&path),
        });
        match read_dir_checked(&*repo, id, &path, &options.limits, &check).await {
            Ok(dir) => {
                if let Ok(mut r) = report.lock() {
                    r.dirs += 1;
                }
                for child in dir.entries.into_iter().rev() {
                    let child_path = join_path(&path, &child.name);
                    pending_dirs.push((child_path, child, depth + 1));
                }
            }
            Err(error) => record(&report, &progress, path, error),
        }
    }
    tokio::select! {
        () = cancel.cancelled() => {
            files.abort_all();
            return Err(Error::Cancelled);
        }
        () = async { while files.join_next().await.is_some() {} } => {}
    }
    let report = Arc::try_unwrap(report)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .unwrap_or_default();
    Ok(report)
}

/// Reads one file or symlink object to the end, checking every chunk and the
/// total length against the entry's size (files only).
async fn read_object(
    repo: Arc<dyn Repository>,
    id: ObjectId,
    entry: &DirEntry,
    check: &ChunkCheck,
    progress: &SharedProgress,
) -> Result<u64> {
    let limits = crate::object_reader::ReaderLimits::default();
    let mut reader = ObjectReader::open_checked(repo, id, limits, check.clone()).await?;
    let mut total = 0u64;
    while let Some(chunk) = reader.next_chunk().await? {
        total += chunk.len() as u64;
        progress.report(Progress::BytesProcessed(chunk.len() as u64));
    }
    if entry.entry_type == EntryType::File && i64::try_from(total).ok() != Some(entry.size) {
        return Err(Error::Corrupt(format!(
            "object {id} holds {total} bytes but the entry says {}",
            entry.size
        )));
    }
    Ok(total)
}

fn record(report: &Mutex<VerifyReport>, progress: &SharedProgress, path: String, error: Error) {
    let message = error.to_string();
    progress.report(Progress::Error {
        path: Path::new(&path),
        message: &message,
        ignored: false,
    });
    if let Ok(mut r) = report.lock() {
        r.errors.push(VerifyError { path, error });
    }
}
