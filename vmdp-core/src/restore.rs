//! Restoring a snapshot (or a file or directory inside one) to the local file
//! system, with kopia's semantics (object-format §10) and safety rules for data
//! that comes from a possibly hostile repository.
//!
//! * Directories are created first (mode 0700); files are restored in parallel;
//!   a directory's owner, permissions and times are set only after all of its
//!   children are done. Subdirectories get `summ.maxTime` as their mtime (§6.8),
//!   the restore root its own stored mtime.
//! * Files are written to a temporary name in their directory and renamed into
//!   place; an existing file or symlink is an error unless
//!   [`RestoreOptions::overwrite`] is set. Existing directories are merged into.
//! * Owners are restored only when running as root (and not on Windows).
//! * Sparse writing skips all-zero blocks and always sets the final size.
//! * Safety: every entry name must be a plain path component (no `/`, `\`, NUL,
//!   `.`, `..`, empty, or absolute), names are unique per directory, sizes,
//!   counts and depth are bounded, and nothing is ever written through a symlink
//!   inside the target (all operations are relative to directory descriptors opened
//!   without following symlinks). Refused data is an error; nothing is created
//!   outside the target.

mod entries;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
use unix as sys;
#[cfg(windows)]
use windows as sys;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kopia_proto::ids::ObjectId;
use kopia_proto::manifest::{DirEntry, EntryType};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::browse::{TreeLimits, entry_object_id, join_path, read_dir};
use crate::progress::{CancellationToken, Progress, SharedProgress};
use crate::{Error, Repository, Result};

/// How a restore behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Replace existing files and symlinks (never directories). Default off:
    /// an existing file is an error.
    pub overwrite: bool,
    /// Do not restore owners (they are only restored when running as root anyway).
    pub skip_owners: bool,
    /// Do not restore permission bits.
    pub skip_permissions: bool,
    /// Do not restore modification times.
    pub skip_times: bool,
    /// Leave holes for all-zero blocks (not on Windows).
    pub write_sparse: bool,
    /// Files restored at the same time (at least 1).
    pub parallelism: usize,
    /// Record failing entries in the report and go on, instead of stopping at the
    /// first error.
    pub ignore_errors: bool,
    /// Ignore "permission denied" when setting owners, modes and times (kopia's
    /// default).
    pub ignore_permission_errors: bool,
    /// Bounds on the snapshot data.
    pub limits: TreeLimits,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            overwrite: false,
            skip_owners: false,
            skip_permissions: false,
            skip_times: false,
            write_sparse: false,
            parallelism: 8,
            ignore_errors: false,
            ignore_permission_errors: true,
            limits: TreeLimits::default(),
        }
    }
}

/// One entry that could not be restored.
#[derive(Debug)]
pub struct RestoreError {
    /// `/`-separated path relative to the restore root.
    pub path: String,
    /// What went wrong.
    pub error: Error,
}

/// What a restore did.
#[derive(Debug, Default)]
pub struct RestoreReport {
    /// Files written.
    pub files: u64,
    /// Directories created or merged into (including the root).
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// File bytes written (logical, holes included).
    pub bytes: u64,
    /// Entries that failed (only with [`RestoreOptions::ignore_errors`]).
    pub errors: Vec<RestoreError>,
}

/// Attributes to apply to one restored entry (`None` = leave as is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attrs {
    /// uid and gid.
    pub(crate) owner: Option<(u32, u32)>,
    /// POSIX permission bits (0o7777 range).
    pub(crate) mode: Option<u32>,
    /// Modification (and access) time, ns since the epoch.
    pub(crate) mtime: Option<i64>,
}

/// What is already present at a name in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExistingKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// Shared state of one restore run.
struct Ctx {
    repo: Arc<dyn Repository>,
    opts: RestoreOptions,
    target: PathBuf,
    progress: SharedProgress,
    /// Cancelled by the caller or after a fatal error.
    stop: CancellationToken,
    file_slots: Arc<Semaphore>,
    chown: bool,
    files: AtomicU64,
    dirs: AtomicU64,
    symlinks: AtomicU64,
    bytes: AtomicU64,
    errors: Mutex<Vec<RestoreError>>,
    fatal: Mutex<Option<Error>>,
}

impl Ctx {
    fn attrs(&self, e: &DirEntry, mtime: i64) -> Attrs {
        Attrs {
            owner: (self.chown && !self.opts.skip_owners).then_some((e.uid, e.gid)),
            mode: (!self.opts.skip_permissions).then(|| e.mode.to_posix()),
            mtime: (!self.opts.skip_times).then_some(mtime),
        }
    }

    fn local(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.target.display().to_string()
        } else {
            // `rel` is `/`-separated; join component-wise for the platform's separator.
            rel.split('/')
                .fold(self.target.clone(), |p, c| p.join(c))
                .display()
                .to_string()
        }
    }

    fn io(&self, rel: &str, source: std::io::Error) -> Error {
        Error::Io {
            path: self.local(rel),
            source,
        }
    }

    /// Applies the result of setting attributes, ignoring permission errors if asked.
    fn attr_result(&self, rel: &str, r: std::io::Result<()>) -> Result<()> {
        match r {
            Err(e)
                if self.opts.ignore_permission_errors
                    && e.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                tracing::warn!(path = %self.local(rel), error = %e, "could not set attributes");
                Ok(())
            }
            r => r.map_err(|e| self.io(rel, e)),
        }
    }

    fn check_cancel(&self) -> Result<()> {
        if self.stop.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Handles a failed entry: records it and goes on (with `ignore_errors`), or
    /// stores it as the fatal error and stops the whole restore.
    fn fail(&self, rel: &str, err: Error) -> Result<()> {
        if matches!(err, Error::Cancelled) {
            return Err(err);
        }
        let message = err.to_string();
        self.progress.report(Progress::Error {
            path: Path::new(rel),
            message: &message,
            ignored: self.opts.ignore_errors,
        });
        if self.opts.ignore_errors {
            lock(&self.errors).push(RestoreError {
                path: rel.to_string(),
                error: err,
            });
            return Ok(());
        }
        let mut fatal = lock(&self.fatal);
        if fatal.is_none() {
            *fatal = Some(err);
        }
        self.stop.cancel();
        Err(Error::Cancelled)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Restores `root` (a directory, file or symlink entry, e.g. a snapshot's root
/// entry or one found with [`crate::browse::lookup`]) to `target`.
///
/// A directory is restored *into* `target` (created if missing); a file or symlink
/// is restored *as* `target`. Returns the counts, or the first error unless
/// [`RestoreOptions::ignore_errors`] is set.
pub async fn restore(
    repo: Arc<dyn Repository>,
    root: &DirEntry,
    target: &Path,
    options: &RestoreOptions,
    progress: SharedProgress,
    cancel: &CancellationToken,
) -> Result<RestoreReport> {
    let ctx = Arc::new(Ctx {
        repo,
        opts: options.clone(),
        target: target.to_path_buf(),
        progress,
        stop: cancel.child_token(),
        file_slots: Arc::new(Semaphore::new(options.parallelism.max(1))),
        chown: sys::can_chown(),
        files: AtomicU64::new(0),
        dirs: AtomicU64::new(0),
        symlinks: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        errors: Mutex::new(Vec::new()),
        fatal: Mutex::new(None),
    });
    if let Some(s) = &root.summary {
        ctx.progress.report(Progress::Estimate {
            files: u64::try_from(s.total_file_count).unwrap_or(0),
            bytes: u64::try_from(s.total_file_size).unwrap_or(0),
        });
    }
    let result = restore_root(&ctx, root, target).await;
    let result = match result {
        Err(e) => ctx.fail("", e),
        Ok(()) => Ok(()),
    };
    if let Some(fatal) = lock(&ctx.fatal).take() {
        return Err(fatal);
    }
    result?;
    let errors = std::mem::take(&mut *lock(&ctx.errors));
    Ok(RestoreReport {
        files: ctx.files.load(Ordering::Relaxed),
        dirs: ctx.dirs.load(Ordering::Relaxed),
        symlinks: ctx.symlinks.load(Ordering::Relaxed),
        bytes: ctx.bytes.load(Ordering::Relaxed),
        errors,
    })
}

async fn restore_root(ctx: &Arc<Ctx>, root: &DirEntry, target: &Path) -> Result<()> {
    match root.entry_type {
        EntryType::Directory => {
            let id = entry_object_id(root, "")?;
            let dir = sys::Dir::open_target(target).map_err(|e| ctx.io("", e))?;
            let dir = Arc::new(dir);
            restore_dir(ctx, Arc::clone(&dir), id, String::new(), 0).await?;
            let attrs = ctx.attrs(root, root.mtime);
            ctx.attr_result("", dir.set_attrs(&attrs))?;
            ctx.dirs.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        EntryType::File | EntryType::Symlink => {
            let name = target.file_name().ok_or_else(|| {
                Error::InvalidInput(format!(
                    "restore target {} has no file name",
                    target.display()
                ))
            })?;
            let parent = match target.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let dir = Arc::new(sys::Dir::open_target(parent).map_err(|e| ctx.io("", e))?);
            let rel = name.to_string_lossy().into_owned();
            if root.entry_type == EntryType::File {
                entries::restore_file(ctx, &dir, root, name, &rel).await
            } else {
                entries::restore_symlink(ctx, &dir, root, name, &rel).await
            }
        }
        ref other => Err(Error::Corrupt(format!(
            "cannot restore an entry of type {:?}",
            other.as_str()
        ))),
    }
}

type BoxFut<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Restores the children of directory object `id` into `dir`.
fn restore_dir<'a>(
    ctx: &'a Arc<Ctx>,
    dir: Arc<sys::Dir>,
    id: ObjectId,
    path: String,
    depth: usize,
) -> BoxFut<'a> {
    Box::pin(async move {
        ctx.check_cancel()?;
        let limits = &ctx.opts.limits;
        if depth > limits.max_depth {
            return Err(Error::Corrupt(format!(
                "directory {path:?} is nested deeper than {} levels",
                limits.max_depth
            )));
        }
        ctx.progress.report(Progress::Directory {
            path: Path::new(&path),
        });
        let listing = read_dir(&*ctx.repo, id, &path, limits).await?;
        let (subdirs, others): (Vec<DirEntry>, Vec<DirEntry>) =
            listing.entries.into_iter().partition(DirEntry::is_dir);

        let mut tasks: JoinSet<(String, Result<()>)> = JoinSet::new();
        for e in others {
            ctx.check_cancel()?;
            let rel = join_path(&path, &e.name);
            match e.entry_type {
                EntryType::File => {
                    let permit = Arc::clone(&ctx.file_slots)
                        .acquire_owned()
                        .await
                        .map_err(|_| Error::Cancelled)?;
                    let (ctx2, dir2) = (Arc::clone(ctx), Arc::clone(&dir));
                    tasks.spawn(async move {
                        let _permit = permit;
                        let r = match sys::os_name(&e.name) {
                            Ok(name) => entries::restore_file(&ctx2, &dir2, &e, name, &rel).await,
                            Err(err) => Err(bad_name(&rel, err)),
                        };
                        (rel, r)
                    });
                }
                EntryType::Symlink => {
                    let r = match sys::os_name(&e.name) {
                        Ok(name) => entries::restore_symlink(ctx, &dir, &e, name, &rel).await,
                        Err(err) => Err(bad_name(&rel, err)),
                    };
                    if let Err(err) = r {
                        ctx.fail(&rel, err)?;
                    }
                }
                ref other => ctx.fail(
                    &rel,
                    Error::Corrupt(format!(
                        "entry {rel:?} has unsupported type {:?}",
                        other.as_str()
                    )),
                )?,
            }
            while let Some(done) = tasks.try_join_next() {
                reap(ctx, done)?;
            }
        }
        for e in subdirs {
            let rel = join_path(&path, &e.name);
            if let Err(err) = restore_subdir(ctx, &dir, &e, &rel, depth).await {
                ctx.fail(&rel, err)?;
            }
        }
        while let Some(done) = tasks.join_next().await {
            reap(ctx, done)?;
        }
        Ok(())
    })
}

fn bad_name(rel: &str, err: std::io::Error) -> Error {
    Error::Corrupt(format!("entry {rel:?} cannot be restored here: {err}"))
}

fn reap(
    ctx: &Ctx,
    done: std::result::Result<(String, Result<()>), tokio::task::JoinError>,
) -> Result<()> {
    match done {
        Ok((_, Ok(()))) => Ok(()),
        Ok((rel, Err(e))) => ctx.fail(&rel, e),
        Err(e) => ctx.fail("", Error::Repository(format!("restore task failed: {e}"))),
    }
}

async fn restore_subdir(
    ctx: &Arc<Ctx>,
    parent: &sys::Dir,
    e: &DirEntry,
    rel: &str,
    depth: usize,
) -> Result<()> {
    let name = sys::os_name(&e.name).map_err(|err| bad_name(rel, err))?;
    let id = entry_object_id(e, rel)?;
    let sub = Arc::new(parent.subdir(name).map_err(|err| ctx.io(rel, err))?);
    restore_dir(ctx, Arc::clone(&sub), id, rel.to_string(), depth + 1).await?;
    let attrs = ctx.attrs(e, e.effective_mtime());
    ctx.attr_result(rel, sub.set_attrs(&attrs))?;
    ctx.dirs.fetch_add(1, Ordering::Relaxed);
    Ok(())
}
