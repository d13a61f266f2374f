//! Checkpoints of a running upload (kopia's `checkpoint_registry.go`, object-format
//! §5.6, §7.6): every directory in progress registers itself and its in-progress children;
//! a checkpoint encodes finished entries, in-progress subdirectories (summary
//! `incomplete: "checkpoint"`) and partial files under `.checkpointed.<name>.<uuid>`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use kopia_proto::manifest::{DirEntry, DirManifestBuilder, EntryType};
use kopia_proto::object::WriterOptions;

use super::local::LocalEntry;
use super::upload::Uploader;
use super::writer::{ChunkProgress, object_of_entries};
use crate::Result;

/// `incomplete` reason of checkpoint manifests and directories.
pub(crate) const REASON_CHECKPOINT: &str = "checkpoint";

/// Something in progress that a checkpoint can capture.
pub(crate) enum Inflight {
    /// A subdirectory being uploaded.
    Dir(Arc<DirState>),
    /// A file (or a part of one) being uploaded.
    File(Arc<InflightFile>),
}

/// A file (or a part of one) being uploaded.
pub(crate) struct InflightFile {
    /// Entry name (a random UUID for parts of a file uploaded in parallel).
    pub name: Vec<u8>,
    /// The file's listing metadata.
    pub meta: LocalEntry,
    /// Options the object is written with (for its partial index).
    pub opts: WriterOptions,
    /// Its chunks stored so far.
    pub chunks: Arc<ChunkProgress>,
}

/// A directory in progress: its finished children and what is still running.
pub(crate) struct DirState {
    meta: LocalEntry,
    rel: PathBuf,
    metadata_compression: Option<u32>,
    builder: Mutex<DirManifestBuilder>,
    inflight: Mutex<BTreeMap<u64, Inflight>>,
    next_key: AtomicU64,
}

impl DirState {
    /// State of the directory `meta` at `rel`, written with `metadata_compression`.
    pub fn new(meta: LocalEntry, rel: PathBuf, metadata_compression: Option<u32>) -> Arc<Self> {
        Arc::new(DirState {
            meta,
            rel,
            metadata_compression,
            builder: Mutex::new(DirManifestBuilder::new()),
            inflight: Mutex::new(BTreeMap::new()),
            next_key: AtomicU64::new(0),
        })
    }

    /// The builder holding finished children.
    pub fn builder(&self) -> MutexGuard<'_, DirManifestBuilder> {
        self.builder.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn inflight(&self) -> MutexGuard<'_, BTreeMap<u64, Inflight>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a child in progress; returns the key to unregister it with.
    pub fn register(&self, item: Inflight) -> u64 {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        self.inflight().insert(key, item);
        key
    }

    /// Forgets a child (finished or failed).
    pub fn unregister(&self, key: u64) {
        self.inflight().remove(&key);
    }

    /// Takes a snapshot of what is in progress.
    pub fn snapshot(&self) -> (DirManifestBuilder, Vec<Inflight>) {
        let builder = self.builder().clone();
        let items = self
            .inflight()
            .values()
            .map(|i| match i {
                Inflight::Dir(d) => Inflight::Dir(d.clone()),
                Inflight::File(f) => Inflight::File(f.clone()),
            })
            .collect();
        (builder, items)
    }
}

/// The checkpoint entry of one in-progress item, `None` when it has nothing stored yet.
/// Files get kopia's `.checkpointed.<name>.<uuid>` name so later runs never reuse them.
pub(crate) async fn checkpoint_item(
    u: &Arc<Uploader>,
    item: &Inflight,
) -> Result<Option<DirEntry>> {
    match item {
        Inflight::Dir(d) => Box::pin(checkpoint_dir(u, d)).await.map(Some),
        Inflight::File(f) => {
            let InflightFile {
                name,
                meta,
                opts,
                chunks,
            } = &**f;
            let entries = chunks.stored_prefix();
            let Some(oid) = object_of_entries(&u.writer, opts, &entries).await? else {
                return Ok(None);
            };
            let mut de = meta.dir_entry(oid.to_string());
            let mut n = b".checkpointed.".to_vec();
            n.extend_from_slice(name);
            n.push(b'.');
            n.extend_from_slice(uuid_string().as_bytes());
            de.name = n;
            Ok(Some(de))
        }
    }
}

/// Writes the checkpoint of a directory in progress and returns its entry.
pub(crate) async fn checkpoint_dir(u: &Arc<Uploader>, d: &Arc<DirState>) -> Result<DirEntry> {
    let (mut builder, items) = d.snapshot();
    for item in &items {
        if let Some(de) = checkpoint_item(u, item).await? {
            builder.add_entry(de);
        }
    }
    let manifest = builder.build(d.meta.mtime, REASON_CHECKPOINT);
    tracing::debug!("checkpointing directory {:?}", d.rel);
    let oid = u
        .write_dir(&manifest.to_json(), d.metadata_compression)
        .await?;
    let mut de = d.meta.dir_entry(oid);
    de.summary = manifest.summary;
    debug_assert_eq!(de.entry_type, EntryType::Directory);
    Ok(de)
}

/// A random (version 4) UUID string, as kopia names parts and checkpointed entries.
pub(crate) fn uuid_string() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
