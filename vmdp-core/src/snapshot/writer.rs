//! Writing objects asynchronously (kopia's `repo/object` writer, object-format §5):
//! chunk boundaries are found sequentially, chunks are stored concurrently with bounded
//! memory, and the index entries keep object order whatever the completion order.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kopia_proto::compression::Compressor;
use kopia_proto::hashing::HashFunction;
use kopia_proto::ids::{ContentId, ObjectId};
use kopia_proto::object::{
    IndexOutcome, IndirectEntry, IndirectIndexBuilder, WriterOptions, WrittenObject,
    concatenate_entries, encode_index,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::progress::{Progress, SharedProgress};
use crate::repo::Repository;
use crate::server::PROBE_BEFORE_WRITE_BYTES;
use crate::{Error, Result};

/// Memory accounting unit for chunks in flight.
const UNIT: usize = 64 * 1024;
/// Objects up to this size are stored chunk after chunk in the calling task.
pub(crate) const INLINE_OBJECT: usize = 256 << 10;

/// Stores chunks and small objects in a repository; shared by every upload of a snapshot.
///
/// Each chunk's content ID is computed locally; contents the repository already has
/// (`content_info`) are not sent again, except data contents smaller than
/// [`PROBE_BEFORE_WRITE_BYTES`], which are sent without asking (one round trip fewer
/// per small file; the repository deduplicates them).
pub(crate) struct Writer {
    /// The repository.
    pub repo: Arc<dyn Repository>,
    /// Options with the repository splitter and nothing else set.
    pub base: WriterOptions,
    /// The repository's keyed hash (content IDs).
    hasher: HashFunction,
    /// Legacy (index version 1) repository: compress data chunks at object level (`Z`).
    object_level_compression: bool,
    /// Bytes of chunk data in flight, in [`UNIT`]s.
    inflight: Arc<Semaphore>,
    capacity: u32,
    /// Contents known to be in the repository.
    known: Mutex<HashSet<ContentId>>,
    /// Where upload events go.
    progress: SharedProgress,
    /// Counters of what was stored.
    pub counters: WriteCounters,
}

/// What a [`Writer`] stored, for statistics and tests.
#[derive(Debug, Default)]
pub(crate) struct WriteCounters {
    /// Bytes of contents sent to the repository (after object-level compression).
    pub uploaded_bytes: AtomicU64,
    /// Contents sent.
    pub uploaded_contents: AtomicU64,
    /// Bytes of contents the repository already had.
    pub deduplicated_bytes: AtomicU64,
}

impl Writer {
    /// A writer for `repo` allowing about `inflight_bytes` of chunk data in flight.
    pub fn new(
        repo: Arc<dyn Repository>,
        inflight_bytes: usize,
        progress: SharedProgress,
    ) -> Result<Self> {
        let params = repo.parameters();
        let base = WriterOptions::new(&params.splitter).map_err(|e| {
            Error::Repository(format!("repository splitter {:?}: {e}", params.splitter))
        })?;
        let hasher =
            HashFunction::new(&params.hash_function, &params.hmac_secret).map_err(|e| {
                Error::Repository(format!("repository hash {:?}: {e}", params.hash_function))
            })?;
        let object_level_compression = !params.supports_content_compression;
        let capacity = u32::try_from((inflight_bytes / UNIT).max(1)).unwrap_or(u32::MAX >> 4);
        Ok(Writer {
            repo,
            base,
            hasher,
            object_level_compression,
            inflight: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
            known: Mutex::new(HashSet::new()),
            progress,
            counters: WriteCounters::default(),
        })
    }

    /// Options for file data: the policy's splitter (unknown → repository default), the
    /// file's compressor and the metadata compressor for its index.
    pub fn file_options(
        &self,
        splitter: &str,
        compression: Option<u32>,
        metadata: Option<u32>,
    ) -> WriterOptions {
        self.base
            .clone()
            .with_splitter(splitter)
            .with_compression(compression)
            .with_metadata_compression(metadata)
    }

    /// Options for an object with `prefix` (directories: `k`) compressed with `metadata`.
    pub fn metadata_options(&self, prefix: Option<u8>, metadata: Option<u32>) -> WriterOptions {
        // Prefixes used here are constants (`k`), which are always valid.
        let base = self.base.clone();
        base.clone()
            .with_prefix(prefix)
            .unwrap_or(base)
            .with_compression(metadata)
            .with_metadata_compression(metadata)
    }

    /// Stores one chunk and returns its object ID.
    async fn put_chunk(
        &self,
        prefix: Option<u8>,
        data: Bytes,
        compression: Option<u32>,
    ) -> Result<ObjectId> {
        if self.object_level_compression {
            // Index version 1: only unprefixed chunks are compressed, at object level.
            if let (None, Some(h)) = (prefix, compression) {
                let c = Compressor::from_header_id(h)
                    .map_err(|e| Error::InvalidInput(format!("compressor {h:#x}: {e}")))?;
                let packed = c
                    .compress(&data)
                    .map_err(|e| Error::InvalidInput(format!("compression failed: {e}")))?;
                if packed.len() < data.len() {
                    let id = self.store(None, Bytes::from(packed), 0).await?;
                    return Ok(ObjectId::compressed(id));
                }
            }
            let id = self.store(prefix, data, 0).await?;
            return Ok(ObjectId::direct(id));
        }
        let id = self.store(prefix, data, compression.unwrap_or(0)).await?;
        Ok(ObjectId::direct(id))
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashSet<ContentId>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores one content unless the repository already has it.
    async fn store(&self, prefix: Option<u8>, data: Bytes, compression: u32) -> Result<ContentId> {
        let id = self
            .hasher
            .content_id(prefix, &data)
            .map_err(|e| Error::InvalidInput(format!("content prefix: {e}")))?;
        let len = data.len() as u64;
        if self.known().contains(&id) {
            self.counters
                .deduplicated_bytes
                .fetch_add(len, Ordering::Relaxed);
            return Ok(id);
        }
        // Asking first costs a round trip per content. Like kopia, small data
        // contents are just written (the repository deduplicates writes itself);
        // metadata contents (few) and large chunks are asked about, so unchanged
        // data is neither sent again nor counted as uploaded.
        let probe = prefix.is_some() || data.len() >= PROBE_BEFORE_WRITE_BYTES;
        let present = probe
            && self
                .repo
                .content_info(&id)
                .await?
                .is_some_and(|info| !info.deleted);
        if present {
            self.counters
                .deduplicated_bytes
                .fetch_add(len, Ordering::Relaxed);
        } else {
            self.repo
                .write_content_with_id(id, data, compression)
                .await?;
            self.counters
                .uploaded_bytes
                .fetch_add(len, Ordering::Relaxed);
            self.counters
                .uploaded_contents
                .fetch_add(1, Ordering::Relaxed);
            self.progress.report(Progress::BytesUploaded(len));
        }
        self.known().insert(id);
        Ok(id)
    }

    /// Writes an index JSON as an object with `opts.for_index()` and returns `I` + its ID.
    pub async fn write_index(
        self: &Arc<Self>,
        opts: &WriterOptions,
        json: Vec<u8>,
    ) -> Result<ObjectId> {
        let inner = Box::pin(self.write_bytes(&opts.for_index(), Bytes::from(json))).await?;
        ObjectId::indirect(inner.id).map_err(|e| Error::Repository(e.to_string()))
    }

    /// Writes `data` as one object (split with `opts`' splitter) and returns it.
    /// Small objects (a directory, a small file) are stored without a task per
    /// chunk, which costs more than the store itself.
    pub async fn write_bytes(
        self: &Arc<Self>,
        opts: &WriterOptions,
        data: Bytes,
    ) -> Result<WrittenObject> {
        let mut chunks = ChunkSet::new(self.clone(), opts, None);
        let inline = data.len() <= INLINE_OBJECT;
        let mut splitter = opts.new_splitter();
        let mut pos = 0;
        while pos < data.len() || chunks.is_empty() {
            let n = splitter
                .next_boundary(&data[pos..])
                .unwrap_or(data.len() - pos);
            let chunk = data.slice(pos..pos + n);
            if inline {
                chunks.store_now(chunk).await?;
            } else {
                chunks.push(chunk).await?;
            }
            pos += n;
        }
        chunks.finish().await
    }

    /// Concatenates written parts as kopia's `ConcatenateObjects` (object-format §5.7).
    pub async fn concatenate(
        self: &Arc<Self>,
        opts: &WriterOptions,
        parts: &[WrittenObject],
    ) -> Result<ObjectId> {
        match parts {
            [] => Err(Error::InvalidInput("nothing to concatenate".into())),
            [only] => Ok(only.id),
            many => {
                let entries = concatenate_entries(many.iter().map(|p| p.entries.as_slice()));
                let index_opts = opts
                    .clone()
                    .with_prefix(None)
                    .unwrap_or_else(|_| opts.clone());
                self.write_index(&index_opts, encode_index(&entries)).await
            }
        }
    }
}

/// Chunk slots of an object in progress, shared with checkpoints (§5.6).
#[derive(Debug, Default)]
pub(crate) struct ChunkProgress {
    slots: Mutex<Vec<(u64, Option<ObjectId>)>>,
}

impl ChunkProgress {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Option<ObjectId>)>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The chunks stored so far without gaps from the start of the object.
    pub fn stored_prefix(&self) -> Vec<IndirectEntry> {
        let slots = self.lock();
        let mut out = Vec::new();
        let mut start = 0u64;
        for &(len, id) in slots.iter() {
            let Some(object) = id else { break };
            out.push(IndirectEntry {
                start,
                length: len,
                object,
            });
            start += len;
        }
        out
    }
}

/// The chunks of one object being stored concurrently.
pub(crate) struct ChunkSet {
    writer: Arc<Writer>,
    opts: WriterOptions,
    index: IndirectIndexBuilder,
    tasks: JoinSet<Result<(usize, ObjectId)>>,
    progress: Option<Arc<ChunkProgress>>,
}

impl ChunkSet {
    /// An empty object written with `opts`; `progress` mirrors slots for checkpoints.
    pub fn new(
        writer: Arc<Writer>,
        opts: &WriterOptions,
        progress: Option<Arc<ChunkProgress>>,
    ) -> Self {
        ChunkSet {
            writer,
            opts: opts.clone(),
            index: IndirectIndexBuilder::new(),
            tasks: JoinSet::new(),
            progress,
        }
    }

    /// True before the first chunk.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn fill(
        &mut self,
        done: Result<Result<(usize, ObjectId)>, tokio::task::JoinError>,
    ) -> Result<()> {
        let (slot, id) =
            done.map_err(|e| Error::Repository(format!("chunk upload task failed: {e}")))??;
        self.index
            .fill(slot, id)
            .map_err(|e| Error::Repository(e.to_string()))?;
        if let Some(p) = &self.progress {
            if let Some(s) = p.lock().get_mut(slot) {
                s.1 = Some(id);
            }
        }
        Ok(())
    }

    /// Stores the next chunk in this task (for small objects: no task to spawn).
    pub async fn store_now(&mut self, chunk: Bytes) -> Result<()> {
        self.store(chunk, false).await
    }

    /// Stores the next chunk (in the background once memory allows it).
    pub async fn push(&mut self, chunk: Bytes) -> Result<()> {
        self.store(chunk, true).await
    }

    async fn store(&mut self, chunk: Bytes, background: bool) -> Result<()> {
        let len = chunk.len();
        let slot = self.index.reserve(len as u64);
        if let Some(p) = &self.progress {
            p.lock().push((len as u64, None));
        }
        let w = self.writer.clone();
        let units = u32::try_from(len.div_ceil(UNIT).max(1))
            .unwrap_or(u32::MAX)
            .min(w.capacity);
        // Collect finished uploads while waiting for memory, so errors surface early.
        let permit = loop {
            match w.inflight.clone().try_acquire_many_owned(units) {
                Ok(p) => break p,
                Err(_) => match self.tasks.join_next().await {
                    Some(done) => self.fill(done)?,
                    None => {
                        break w
                            .inflight
                            .clone()
                            .acquire_many_owned(units)
                            .await
                            .map_err(|e| Error::Repository(e.to_string()))?;
                    }
                },
            }
        };
        while let Some(done) = self.tasks.try_join_next() {
            self.fill(done)?;
        }
        let (prefix, comp) = (self.opts.prefix(), self.opts.compression());
        let put = async move {
            let id = w.put_chunk(prefix, chunk, comp).await;
            drop(permit);
            id.map(|id| (slot, id))
        };
        if background {
            self.tasks.spawn(put);
            Ok(())
        } else {
            let done = put.await;
            self.fill(Ok(done))
        }
    }

    /// Waits for every chunk and returns the object (writing its index when needed).
    pub async fn finish(mut self) -> Result<WrittenObject> {
        while let Some(done) = self.tasks.join_next().await {
            self.fill(done)?;
        }
        let entries = self
            .index
            .entries()
            .map_err(|e| Error::Repository(e.to_string()))?;
        let length = self.index.total_length();
        let id = match self
            .index
            .outcome()
            .map_err(|e| Error::Repository(e.to_string()))?
        {
            IndexOutcome::Single(id) => id,
            IndexOutcome::Index(json) => self.writer.write_index(&self.opts, json).await?,
            IndexOutcome::Empty => {
                return Err(Error::Repository("object has no chunks".into()));
            }
        };
        Ok(WrittenObject {
            id,
            length,
            entries,
        })
    }
}

/// The object made of `entries` (a checkpoint of an unfinished object): `None` when
/// empty, the chunk itself when single, else an index object.
pub(crate) async fn object_of_entries(
    writer: &Arc<Writer>,
    opts: &WriterOptions,
    entries: &[IndirectEntry],
) -> Result<Option<ObjectId>> {
    match entries {
        [] => Ok(None),
        [only] => Ok(Some(only.object)),
        many => writer.write_index(opts, encode_index(many)).await.map(Some),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::repo::{MemoryRepository, RepoParameters};
    use kopia_proto::hashing::HashFunction;
    use kopia_proto::object::{ContentSink, write_object};

    fn params(splitter: &str) -> RepoParameters {
        RepoParameters {
            hash_function: "BLAKE2B-256-128".into(),
            hmac_secret: (0u8..32).collect(),
            splitter: splitter.into(),
            supports_content_compression: true,
        }
    }

    /// A synchronous sink computing IDs only, to compare with kopia-proto's writer.
    /// Computes content IDs only: object IDs as kopia-proto's synchronous writer
    /// gives them, to compare the asynchronous writers with.
    pub(in crate::snapshot) struct HashSink(pub HashFunction);
    impl ContentSink for HashSink {
        type Error = kopia_proto::ids::IdError;
        fn put(
            &mut self,
            prefix: Option<u8>,
            data: &[u8],
            _c: Option<u32>,
        ) -> Result<kopia_proto::ids::ContentId, Self::Error> {
            self.0.content_id(prefix, data)
        }
    }

    fn data(n: usize) -> Vec<u8> {
        let mut x = 0x9E3779B97F4A7C15u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_ids_as_the_synchronous_writer() {
        let p = params("DYNAMIC-128K-BUZHASH");
        let repo = Arc::new(MemoryRepository::new(p.clone()).unwrap());
        // A tiny in-flight budget forces waiting on memory.
        let w = Arc::new(Writer::new(repo.clone(), 1, Arc::new(crate::NoProgress)).unwrap());
        let mut sink = HashSink(HashFunction::new(&p.hash_function, &p.hmac_secret).unwrap());
        for n in [0usize, 1, 100_000, 3_000_000] {
            let d = data(n);
            for opts in [
                w.file_options("", Some(0x1101), Some(0x1101)),
                w.metadata_options(Some(b'k'), None),
                w.file_options("FIXED-128K", None, None),
            ] {
                let got = w.write_bytes(&opts, Bytes::from(d.clone())).await.unwrap();
                let want = write_object(&mut sink, opts.clone(), &d).unwrap();
                assert_eq!(got.id, want, "n={n}");
                assert_eq!(got.length, n as u64);
            }
        }
        let a = w
            .write_bytes(&w.file_options("", None, None), Bytes::from(data(300_000)))
            .await
            .unwrap();
        let b = w
            .write_bytes(&w.file_options("", None, None), Bytes::from(data(10)))
            .await
            .unwrap();
        let c = w
            .concatenate(&w.file_options("", None, None), &[a.clone(), b])
            .await
            .unwrap();
        assert!(c.to_string().starts_with("Ix"), "{c}");
        assert_eq!(
            w.concatenate(&w.base, std::slice::from_ref(&a))
                .await
                .unwrap(),
            a.id
        );
        assert!(w.concatenate(&w.base, &[]).await.is_err());
    }

    #[test]
    fn stored_prefix_stops_at_gap() {
        let p = ChunkProgress::default();
        let id: ObjectId = "00aa".parse().unwrap();
        p.lock()
            .extend([(3, Some(id)), (4, Some(id)), (5, None), (6, Some(id))]);
        let e = p.stored_prefix();
        assert_eq!(e.len(), 2);
        assert_eq!((e[1].start, e[1].length), (3, 4));
    }
}
