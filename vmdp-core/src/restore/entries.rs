//! Restoring single files and symlinks: temporary name, data (optionally sparse),
//! attributes, then rename into place.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use kopia_proto::manifest::DirEntry;

use super::{Ctx, ExistingKind, sys};
use crate::browse::entry_object_id;
use crate::object_reader::{ObjectReader, read_all};
use crate::progress::Progress;
use crate::{Error, Result};

/// Removes a temporary file or symlink unless disarmed (also when the restoring
/// task is aborted).
struct TempGuard<'a> {
    dir: &'a sys::Dir,
    name: OsString,
    armed: bool,
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.dir.remove(&self.name);
        }
    }
}

fn temp_name() -> OsString {
    OsString::from(format!(
        ".vmdp-restore-{}.tmp",
        hex::encode(rand::random::<[u8; 8]>())
    ))
}

fn check_existing(
    ctx: &Ctx,
    dir: &sys::Dir,
    name: &OsStr,
    rel: &str,
    replaceable: ExistingKind,
) -> Result<()> {
    let existing = dir.existing(name).map_err(|e| ctx.io(rel, e))?;
    let problem = match existing {
        None => return Ok(()),
        Some(k) if k == replaceable && ctx.opts.overwrite => return Ok(()),
        Some(k) if k == replaceable => "already exists (overwriting was not requested)",
        Some(ExistingKind::Dir) => "exists and is a directory",
        Some(_) if replaceable == ExistingKind::Symlink => "exists and is not a symlink",
        Some(ExistingKind::Symlink) if ctx.opts.overwrite => return Ok(()),
        Some(ExistingKind::Symlink) => "already exists (overwriting was not requested)",
        Some(_) => "exists and is not a regular file",
    };
    Err(ctx.io(
        rel,
        std::io::Error::new(std::io::ErrorKind::AlreadyExists, problem),
    ))
}

/// Restores the file entry `e` as `name` in `dir`.
pub(super) async fn restore_file(
    ctx: &Arc<Ctx>,
    dir: &sys::Dir,
    e: &DirEntry,
    name: &OsStr,
    rel: &str,
) -> Result<()> {
    let limits = &ctx.opts.limits;
    let size = u64::try_from(e.size)
        .ok()
        .filter(|s| *s <= limits.max_file_size)
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "file {rel:?} has an absurd size {} (limit {})",
                e.size, limits.max_file_size
            ))
        })?;
    let id = entry_object_id(e, rel)?;
    check_existing(ctx, dir, name, rel, ExistingKind::File)?;
    let mut reader = ObjectReader::open_with(Arc::clone(&ctx.repo), id, limits.reader)
        .await
        .map_err(|err| in_entry(rel, err))?;
    if reader.len() != size {
        return Err(Error::Corrupt(format!(
            "file {rel:?}: object {id} has {} bytes but the entry says {size}",
            reader.len()
        )));
    }
    let tmp = temp_name();
    let file = Arc::new(dir.create_temp(&tmp).map_err(|err| ctx.io(rel, err))?);
    let mut guard = TempGuard {
        dir,
        name: tmp,
        armed: true,
    };
    let sparse = ctx.opts.write_sparse && sys::SPARSE_SUPPORTED;
    let block = sys::block_size(&file).clamp(512, 1 << 20);
    if sparse {
        sys::set_len(&file, size).map_err(|err| ctx.io(rel, err))?;
    }
    let mut offset = 0u64;
    while let Some(chunk) = reader
        .next_chunk()
        .await
        .map_err(|err| in_entry(rel, err))?
    {
        ctx.check_cancel()?;
        let n = chunk.len() as u64;
        let f = Arc::clone(&file);
        tokio::task::spawn_blocking(move || write_chunk(&f, offset, &chunk, sparse, block))
            .await
            .map_err(|err| Error::Repository(format!("file writer task failed: {err}")))?
            .map_err(|err| ctx.io(rel, err))?;
        offset += n;
        ctx.bytes.fetch_add(n, Ordering::Relaxed);
        ctx.progress.report(Progress::BytesProcessed(n));
    }
    let attrs = ctx.attrs(e, e.mtime);
    ctx.attr_result(rel, sys::set_file_attrs(&file, &attrs))?;
    drop(file);
    dir.commit(&guard.name, name, ctx.opts.overwrite)
        .map_err(|err| ctx.io(rel, err))?;
    guard.armed = false;
    ctx.files.fetch_add(1, Ordering::Relaxed);
    ctx.progress.report(Progress::FileDone {
        path: Path::new(rel),
        bytes: size,
        cached: false,
    });
    Ok(())
}

/// Restores the symlink entry `e` as `name` in `dir`, with its stored target
/// (absolute targets included: the link is created, never followed).
pub(super) async fn restore_symlink(
    ctx: &Arc<Ctx>,
    dir: &sys::Dir,
    e: &DirEntry,
    name: &OsStr,
    rel: &str,
) -> Result<()> {
    let id = entry_object_id(e, rel)?;
    check_existing(ctx, dir, name, rel, ExistingKind::Symlink)?;
    let target = read_all(&*ctx.repo, id, ctx.opts.limits.max_symlink_len)
        .await
        .map_err(|err| in_entry(rel, err))?;
    if target.is_empty() || target.contains(&0) {
        return Err(Error::Corrupt(format!(
            "symlink {rel:?} has an empty target or one containing NUL"
        )));
    }
    let tmp = temp_name();
    dir.create_symlink(&target, &tmp)
        .map_err(|err| ctx.io(rel, err))?;
    let mut guard = TempGuard {
        dir,
        name: tmp,
        armed: true,
    };
    let attrs = ctx.attrs(e, e.mtime);
    ctx.attr_result(rel, dir.set_symlink_attrs(&guard.name, &attrs))?;
    dir.commit(&guard.name, name, ctx.opts.overwrite)
        .map_err(|err| ctx.io(rel, err))?;
    guard.armed = false;
    ctx.symlinks.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn in_entry(rel: &str, err: Error) -> Error {
    match err {
        Error::Corrupt(m) => Error::Corrupt(format!("{rel:?}: {m}")),
        other => other,
    }
}

/// Writes `data` at `offset`; when `sparse`, blocks (aligned to `block` in the
/// file) that are all zero are skipped, leaving holes in the pre-sized file.
fn write_chunk(
    file: &File,
    offset: u64,
    data: &Bytes,
    sparse: bool,
    block: u64,
) -> std::io::Result<()> {
    if !sparse {
        return sys::write_at(file, offset, data);
    }
    let len = data.len();
    let mut pos = 0usize;
    let mut run: Option<usize> = None;
    while pos < len {
        let abs = offset + pos as u64;
        let block_end = (abs / block + 1) * block;
        let end = len.min(pos + (block_end - abs) as usize);
        let piece = &data[pos..end];
        if is_zero(piece) {
            if let Some(start) = run.take() {
                sys::write_at(file, offset + start as u64, &data[start..pos])?;
            }
        } else if run.is_none() {
            run = Some(pos);
        }
        pos = end;
    }
    if let Some(start) = run {
        sys::write_at(file, offset + start as u64, &data[start..])?;
    }
    Ok(())
}

/// True when every byte is zero (vectorizes well).
pub(crate) fn is_zero(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(128);
    chunks.all(|c| c.iter().fold(0u8, |a, &x| a | x) == 0)
        && chunks.remainder().iter().all(|&x| x == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[]));
        assert!(is_zero(&[0u8; 1000]));
        for i in [0usize, 127, 128, 999] {
            let mut v = vec![0u8; 1000];
            v[i] = 1;
            assert!(!is_zero(&v), "{i}");
        }
    }

    #[test]
    fn sparse_chunk_writes_only_nonzero_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        file.set_len(64 * 1024).unwrap();
        let mut data = vec![0u8; 40 * 1024];
        data[5000] = 7; // second 4 KiB block of the file when written at offset 1024
        data[40 * 1024 - 1] = 9;
        write_chunk(&file, 1024, &Bytes::from(data.clone()), true, 4096).unwrap();
        drop(file);
        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len(), 64 * 1024);
        assert_eq!(&back[1024..1024 + data.len()], &data[..]);
        assert!(back[..1024].iter().all(|&b| b == 0));
    }
}
