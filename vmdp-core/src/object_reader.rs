//! Streaming reads of objects: an object opens as a tokio `AsyncRead + AsyncSeek`
//! (object-format §5.3), so a caller can pull one file out of a snapshot without
//! restoring it.
//!
//! Everything read here comes from a repository that may be corrupt or hostile, so
//! every step is bounded and checked: index objects nest at most
//! [`ReaderLimits::max_depth`] levels and are at most [`ReaderLimits::max_index_len`]
//! bytes, index entries must tile the object exactly (first at 0, no gaps, no
//! overlaps), every chunk must have exactly the length its entry declares (`Z`
//! chunks are decompressed into at most that length), and no chunk may be larger
//! than [`ReaderLimits::max_chunk_len`].

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use kopia_proto::hashing::HashFunction;
use kopia_proto::ids::ObjectId;
use kopia_proto::object::{IndirectEntry, decode_index};
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use tokio::task::JoinHandle;

use crate::{Error, Repository, Result};

/// Bounds applied while reading objects from an untrusted repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderLimits {
    /// Largest single chunk (one content, after `Z` decompression). Kopia's largest
    /// splitter cuts at 16 MiB; the default leaves room above that.
    pub max_chunk_len: u64,
    /// Largest index object (`kopia:indirect` JSON) read while resolving an `I…` ID.
    pub max_index_len: u64,
    /// Most direct chunks one object may resolve to.
    pub max_chunks: usize,
    /// Deepest nesting of index objects.
    pub max_depth: usize,
    /// Chunks fetched ahead of the read position by [`ObjectReader`] (0 = none).
    pub prefetch: usize,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        ReaderLimits {
            max_chunk_len: 64 << 20,
            max_index_len: 512 << 20,
            max_chunks: 1 << 24,
            max_depth: 8,
            prefetch: 2,
        }
    }
}

/// Checks applied to each fetched chunk, shared by the reader's prefetch tasks.
#[derive(Clone, Default)]
pub(crate) struct ChunkCheck {
    /// When set, the content's plaintext is re-hashed and compared with its ID.
    pub(crate) hasher: Option<Arc<HashFunction>>,
}

/// A seekable async reader over one object of a repository.
///
/// Opening resolves the whole index (so [`ObjectReader::len`] is known and every
/// hostile index is refused up front); data chunks are fetched on demand, with up
/// to [`ReaderLimits::prefetch`] chunks fetched ahead in background tasks. Must be
/// used inside a tokio runtime.
pub struct ObjectReader {
    repo: Arc<dyn Repository>,
    id: ObjectId,
    chunks: Arc<[IndirectEntry]>,
    len: u64,
    pos: u64,
    current: Option<(usize, Bytes)>,
    pending: VecDeque<(usize, JoinHandle<Result<Bytes>>)>,
    prefetch: usize,
    check: ChunkCheck,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("id", &self.id)
            .field("len", &self.len)
            .field("pos", &self.pos)
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl ObjectReader {
    /// Opens `id` with the default [`ReaderLimits`].
    pub async fn open(repo: Arc<dyn Repository>, id: ObjectId) -> Result<Self> {
        Self::open_with(repo, id, ReaderLimits::default()).await
    }

    /// Opens `id`: resolves and validates its index (for `I…` IDs) or fetches its
    /// only chunk (direct IDs).
    pub async fn open_with(
        repo: Arc<dyn Repository>,
        id: ObjectId,
        limits: ReaderLimits,
    ) -> Result<Self> {
        Self::open_checked(repo, id, limits, ChunkCheck::default()).await
    }

    pub(crate) async fn open_checked(
        repo: Arc<dyn Repository>,
        id: ObjectId,
        limits: ReaderLimits,
        check: ChunkCheck,
    ) -> Result<Self> {
        let (chunks, current) = if id.is_indirect() {
            let chunks = resolve_chunks(&*repo, id, &limits, &check).await?;
            (chunks, None)
        } else {
            let data = fetch_direct(&*repo, id, None, limits.max_chunk_len, &check).await?;
            let entry = IndirectEntry {
                start: 0,
                length: data.len() as u64,
                object: id,
            };
            (vec![entry], Some((0, data)))
        };
        let len = chunks.last().map_or(0, IndirectEntry::end);
        Ok(ObjectReader {
            repo,
            id,
            chunks: chunks.into(),
            len,
            pos: 0,
            current,
            pending: VecDeque::new(),
            prefetch: limits.prefetch,
            check,
        })
    }

    /// The object's ID.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// Total length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for a zero-length object.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Current read position.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The object's direct chunks in order (one entry for a direct object).
    pub fn chunks(&self) -> &[IndirectEntry] {
        &self.chunks
    }

    /// Returns the bytes from the current position to the end of its chunk and
    /// advances past them; `None` at the end of the object. Zero-copy: the bytes
    /// are the fetched content itself.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if self.pos >= self.len {
            return Ok(None);
        }
        std::future::poll_fn(|cx| self.poll_fill(cx)).await?;
        let Some((idx, data)) = &self.current else {
            return Err(Error::Corrupt(format!(
                "object {}: chunk vanished",
                self.id
            )));
        };
        let off = (self.pos - self.chunks[*idx].start) as usize;
        let out = data.slice(off..);
        self.pos += out.len() as u64;
        Ok(Some(out))
    }

    /// Makes `current` hold the chunk containing `pos` (`pos < len`).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let idx = self.chunk_at(self.pos)?;
        if matches!(self.current, Some((i, _)) if i == idx) {
            return Poll::Ready(Ok(()));
        }
        // Drop fetches for chunks we no longer need (after a seek).
        while let Some((i, _)) = self.pending.front() {
            if *i == idx {
                break;
            }
            if let Some((_, h)) = self.pending.pop_front() {
                h.abort();
            }
        }
        if self.pending.is_empty() {
            self.spawn_fetch(idx);
        }
        self.top_up(idx);
        let Some((_, handle)) = self.pending.front_mut() else {
            return Poll::Ready(Err(Error::Corrupt("no pending chunk fetch".into())));
        };
        let joined = ready!(Pin::new(handle).poll(cx));
        self.pending.pop_front();
        let data = match joined {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return Poll::Ready(Err(e)),
            Err(e) => {
                return Poll::Ready(Err(Error::Repository(format!(
                    "fetching a chunk of object {} failed: {e}",
                    self.id
                ))));
            }
        };
        self.current = Some((idx, data));
        self.top_up(idx);
        Poll::Ready(Ok(()))
    }

    /// Index of the chunk holding `pos`.
    fn chunk_at(&self, pos: u64) -> Result<usize> {
        let i = self.chunks.partition_point(|e| e.end() <= pos);
        match self.chunks.get(i) {
            Some(e) if e.start <= pos => Ok(i),
            _ => Err(Error::Corrupt(format!(
                "object {}: no chunk holds offset {pos}",
                self.id
            ))),
        }
    }

    /// Keeps up to `prefetch` fetches running after chunk `idx`.
    fn top_up(&mut self, idx: usize) {
        let mut next = self.pending.back().map_or(idx + 1, |(i, _)| i + 1);
        while self.pending.len() < self.prefetch + 1 && next < self.chunks.len() {
            if self.chunks[next].length > 0 {
                self.spawn_fetch(next);
            }
            next += 1;
        }
    }

    fn spawn_fetch(&mut self, idx: usize) {
        let repo = Arc::clone(&self.repo);
        let entry = self.chunks[idx];
        let check = self.check.clone();
        let handle = tokio::spawn(async move { fetch_chunk(&*repo, &entry, &check).await });
        self.pending.push_back((idx, handle));
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        for (_, h) in self.pending.drain(..) {
            h.abort();
        }
    }
}

impl AsyncRead for ObjectReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos >= this.len || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_fill(cx)).map_err(io::Error::other)?;
        if let Some((idx, data)) = &this.current {
            let off = (this.pos - this.chunks[*idx].start) as usize;
            let avail = data.get(off..).unwrap_or_default();
            let n = avail.len().min(buf.remaining());
            buf.put_slice(&avail[..n]);
            this.pos += n as u64;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for ObjectReader {
    fn start_seek(self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        let target = match position {
            io::SeekFrom::Start(p) => Some(p),
            io::SeekFrom::End(d) => this.len.checked_add_signed(d),
            io::SeekFrom::Current(d) => this.pos.checked_add_signed(d),
        };
        this.pos = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )
        })?;
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.pos))
    }
}

/// Reads a whole object into memory, refusing objects longer than `max_len`.
///
/// For directory listings, symlink targets and other small objects; a direct
/// object is returned without copying.
pub async fn read_all(repo: &dyn Repository, id: ObjectId, max_len: u64) -> Result<Bytes> {
    read_all_checked(repo, id, max_len, &ChunkCheck::default()).await
}

/// [`read_all`] with per-chunk checks (verification re-hashes every content).
pub(crate) async fn read_all_checked(
    repo: &dyn Repository,
    id: ObjectId,
    max_len: u64,
    check: &ChunkCheck,
) -> Result<Bytes> {
    let limits = ReaderLimits::default();
    read_all_at(repo, id, max_len, &limits, check, 0).await
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

fn read_all_at<'a>(
    repo: &'a dyn Repository,
    id: ObjectId,
    max_len: u64,
    limits: &'a ReaderLimits,
    check: &'a ChunkCheck,
    depth: usize,
) -> BoxFut<'a, Bytes> {
    Box::pin(async move {
        if !id.is_indirect() {
            return fetch_direct(repo, id, None, max_len, check).await;
        }
        let chunks = resolve_at(repo, id, limits, check, depth).await?;
        let total = chunks.last().map_or(0, IndirectEntry::end);
        if total > max_len {
            return Err(Error::Corrupt(format!(
                "object {id} is {total} bytes, more than the {max_len} allowed here"
            )));
        }
        let mut out = Vec::with_capacity(total as usize);
        for e in chunks.iter() {
            out.extend_from_slice(&fetch_chunk(repo, e, check).await?);
        }
        Ok(Bytes::from(out))
    })
}

/// Resolves an indirect object into its validated list of direct chunks.
async fn resolve_chunks(
    repo: &dyn Repository,
    id: ObjectId,
    limits: &ReaderLimits,
    check: &ChunkCheck,
) -> Result<Vec<IndirectEntry>> {
    resolve_at(repo, id, limits, check, 0).await
}

fn resolve_at<'a>(
    repo: &'a dyn Repository,
    id: ObjectId,
    limits: &'a ReaderLimits,
    check: &'a ChunkCheck,
    depth: usize,
) -> BoxFut<'a, Vec<IndirectEntry>> {
    Box::pin(async move {
        if depth >= limits.max_depth {
            return Err(Error::Corrupt(format!(
                "object {id} nests index objects deeper than {} levels",
                limits.max_depth
            )));
        }
        let Some(index_id) = id.index_object_id() else {
            return Err(Error::Corrupt(format!("object {id} is not indirect")));
        };
        let json = read_all_at(
            repo,
            index_id,
            limits.max_index_len,
            limits,
            check,
            depth + 1,
        )
        .await?;
        let entries = decode_index(&json)
            .map_err(|e| Error::Corrupt(format!("index of object {id}: {e}")))?;
        let mut out: Vec<IndirectEntry> = Vec::with_capacity(entries.len());
        let mut expected_start = 0u64;
        for (n, e) in entries.iter().enumerate() {
            if e.start != expected_start {
                return Err(Error::Corrupt(format!(
                    "index of object {id}: entry {n} starts at {} but the previous one ends at \
                     {expected_start} (gap or overlap)",
                    e.start
                )));
            }
            let end = e.start.checked_add(e.length).ok_or_else(|| {
                Error::Corrupt(format!("index of object {id}: entry {n} overflows"))
            })?;
            if e.object.is_indirect() {
                let sub = resolve_at(repo, e.object, limits, check, depth + 1).await?;
                let sub_len = sub.last().map_or(0, IndirectEntry::end);
                if sub_len != e.length {
                    return Err(Error::Corrupt(format!(
                        "index of object {id}: entry {n} ({}) declares {} bytes but resolves \
                         to {sub_len}",
                        e.object, e.length
                    )));
                }
                for s in sub {
                    out.push(IndirectEntry {
                        start: s.start + e.start,
                        ..s
                    });
                }
            } else {
                if e.length > limits.max_chunk_len {
                    return Err(Error::Corrupt(format!(
                        "index of object {id}: chunk {} declares {} bytes, more than the \
                         {} allowed",
                        e.object, e.length, limits.max_chunk_len
                    )));
                }
                out.push(*e);
            }
            if out.len() > limits.max_chunks {
                return Err(Error::Corrupt(format!(
                    "object {id} has more than {} chunks",
                    limits.max_chunks
                )));
            }
            expected_start = end;
        }
        Ok(out)
    })
}

/// Fetches one direct chunk and checks it has exactly its declared length.
pub(crate) async fn fetch_chunk(
    repo: &dyn Repository,
    entry: &IndirectEntry,
    check: &ChunkCheck,
) -> Result<Bytes> {
    fetch_direct(repo, entry.object, Some(entry.length), entry.length, check).await
}

/// Fetches a direct object: the content (hash-checked when asked), decompressed
/// for `Z` IDs into at most `max_len` bytes; `expected` is the exact length required.
async fn fetch_direct(
    repo: &dyn Repository,
    id: ObjectId,
    expected: Option<u64>,
    max_len: u64,
    check: &ChunkCheck,
) -> Result<Bytes> {
    let Some((cid, compressed)) = id.direct_content() else {
        return Err(Error::Corrupt(format!("object {id} is not a direct chunk")));
    };
    let raw = repo.get_content(&cid).await?;
    if let Some(h) = &check.hasher {
        let actual = h
            .content_id(cid.prefix(), &raw)
            .map_err(|e| Error::Corrupt(format!("content {cid}: {e}")))?;
        if actual != cid {
            return Err(Error::Corrupt(format!(
                "content {cid} is corrupt: its data hashes to {actual}"
            )));
        }
    }
    let data = if compressed {
        let limit = usize::try_from(max_len).unwrap_or(usize::MAX);
        kopia_proto::compression::decompress(&raw, limit)
            .map(Bytes::from)
            .map_err(|e| Error::Corrupt(format!("compressed chunk {id}: {e}")))?
    } else {
        raw
    };
    let actual = data.len() as u64;
    match expected {
        Some(want) if want != actual => Err(Error::Corrupt(format!(
            "chunk {id} has {actual} bytes, its index entry says {want}"
        ))),
        None if actual > max_len => Err(Error::Corrupt(format!(
            "object {id} is {actual} bytes, more than the {max_len} allowed here"
        ))),
        _ => Ok(data),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::repo::{MemoryRepository, RepoParameters};
    use kopia_proto::compression::Compressor;
    use kopia_proto::ids::ContentId;
    use kopia_proto::object::encode_index;
    use tokio::io::{AsyncReadExt, AsyncSeekExt};

    /// A fresh in-memory repository with kopia's default hash and a fixed secret.
    pub(crate) fn memory_repo() -> Arc<MemoryRepository> {
        Arc::new(
            MemoryRepository::new(RepoParameters {
                hash_function: "BLAKE2B-256-128".into(),
                hmac_secret: (0u8..32).collect(),
                splitter: "DYNAMIC-4M-BUZHASH".into(),
                supports_content_compression: true,
            })
            .unwrap(),
        )
    }

    pub(crate) async fn put(repo: &MemoryRepository, prefix: Option<u8>, data: &[u8]) -> ObjectId {
        let cid: ContentId = repo
            .write_content(prefix, Bytes::copy_from_slice(data), 0)
            .await
            .unwrap();
        ObjectId::direct(cid)
    }

    /// Writes `entries` as an index object and returns the `I…` ID.
    pub(crate) async fn put_index(repo: &MemoryRepository, entries: &[IndirectEntry]) -> ObjectId {
        let idx = put(repo, Some(b'x'), &encode_index(entries)).await;
        ObjectId::indirect(idx).unwrap()
    }

    /// Stores `data` in chunks of `chunk` bytes behind an index; returns the ID.
    pub(crate) async fn put_chunked(
        repo: &MemoryRepository,
        data: &[u8],
        chunk: usize,
    ) -> ObjectId {
        let mut entries = Vec::new();
        for (i, c) in data.chunks(chunk).enumerate() {
            entries.push(IndirectEntry {
                start: (i * chunk) as u64,
                length: c.len() as u64,
                object: put(repo, None, c).await,
            });
        }
        put_index(repo, &entries).await
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn dynrepo(r: &Arc<MemoryRepository>) -> Arc<dyn Repository> {
        r.clone()
    }

    #[tokio::test]
    async fn direct_and_indirect_read_and_seek() {
        let repo = memory_repo();
        let data = pattern(100_000);
        let direct = put(&repo, None, &data).await;
        let indirect = put_chunked(&repo, &data, 7_000).await;
        for id in [direct, indirect] {
            let mut r = ObjectReader::open(dynrepo(&repo), id).await.unwrap();
            assert_eq!(r.len(), data.len() as u64);
            let mut out = Vec::new();
            r.read_to_end(&mut out).await.unwrap();
            assert_eq!(out, data);
            // Seek into the middle of a chunk, backwards, and past the end.
            for start in [65_432u64, 3, 99_999, 0] {
                r.seek(io::SeekFrom::Start(start)).await.unwrap();
                let mut buf = vec![0u8; 20_000];
                let n = r.read(&mut buf).await.unwrap();
                assert!(n > 0);
                assert_eq!(&buf[..n], &data[start as usize..start as usize + n]);
            }
            assert_eq!(r.seek(io::SeekFrom::End(-10)).await.unwrap(), 99_990);
            let mut tail = Vec::new();
            r.read_to_end(&mut tail).await.unwrap();
            assert_eq!(tail, &data[99_990..]);
            r.seek(io::SeekFrom::Start(1 << 40)).await.unwrap();
            assert_eq!(r.read(&mut [0u8; 8]).await.unwrap(), 0);
            assert!(r.seek(io::SeekFrom::Current(-(1 << 41))).await.is_err());
            assert_eq!(read_all(&*repo, id, 100_000).await.unwrap(), data);
            assert!(read_all(&*repo, id, 99_999).await.is_err());
        }
    }

    #[tokio::test]
    async fn next_chunk_is_zero_copy_and_covers_object() {
        let repo = memory_repo();
        let data = pattern(50_000);
        let id = put_chunked(&repo, &data, 10_000).await;
        let mut r = ObjectReader::open(dynrepo(&repo), id).await.unwrap();
        assert_eq!(r.chunks().len(), 5);
        r.seek(io::SeekFrom::Start(15_000)).await.unwrap();
        let first = r.next_chunk().await.unwrap().unwrap();
        assert_eq!(&first[..], &data[15_000..20_000]);
        let mut rest = first.to_vec();
        while let Some(c) = r.next_chunk().await.unwrap() {
            rest.extend_from_slice(&c);
        }
        assert_eq!(rest, &data[15_000..]);
    }

    #[tokio::test]
    async fn nested_index_entries_are_flattened() {
        let repo = memory_repo();
        let data = pattern(30_000);
        let inner = put_chunked(&repo, &data[..20_000], 5_000).await;
        let tail = put(&repo, None, &data[20_000..]).await;
        let outer = put_index(
            &repo,
            &[
                IndirectEntry {
                    start: 0,
                    length: 20_000,
                    object: inner,
                },
                IndirectEntry {
                    start: 20_000,
                    length: 10_000,
                    object: tail,
                },
            ],
        )
        .await;
        let r = ObjectReader::open(dynrepo(&repo), outer).await.unwrap();
        assert_eq!(r.chunks().len(), 5);
        assert_eq!(read_all(&*repo, outer, 1 << 20).await.unwrap(), data);
        // A two-level ID (`II…`): the index object is itself indirect.
        let json = encode_index(&[IndirectEntry {
            start: 0,
            length: 30_000,
            object: outer,
        }]);
        let idx2 = put_chunked(&repo, &json, 16).await;
        let double = ObjectId::indirect(idx2).unwrap();
        assert_eq!(double.indirection(), 2);
        assert_eq!(read_all(&*repo, double, 1 << 20).await.unwrap(), data);
        let shallow = ReaderLimits {
            max_depth: 1,
            ..ReaderLimits::default()
        };
        let err = ObjectReader::open_with(dynrepo(&repo), double, shallow)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("deeper"), "{err}");
    }

    async fn open_err(repo: &Arc<MemoryRepository>, entries: &[IndirectEntry]) -> String {
        let id = put_index(repo, entries).await;
        let r = ObjectReader::open(dynrepo(repo), id).await;
        match r {
            Ok(mut r) => {
                let mut out = Vec::new();
                r.read_to_end(&mut out).await.unwrap_err().to_string()
            }
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn hostile_indexes_are_refused() {
        let repo = memory_repo();
        let a = put(&repo, None, &[1u8; 100]).await;
        let e = |start, length| IndirectEntry {
            start,
            length,
            object: a,
        };
        let gap = open_err(&repo, &[e(0, 100), e(150, 100)]).await;
        assert!(gap.contains("gap or overlap"), "{gap}");
        let overlap = open_err(&repo, &[e(0, 100), e(50, 100)]).await;
        assert!(overlap.contains("gap or overlap"), "{overlap}");
        let late = open_err(&repo, &[e(10, 100)]).await;
        assert!(late.contains("gap or overlap"), "{late}");
        let absurd = open_err(&repo, &[e(0, 1 << 50)]).await;
        assert!(absurd.contains("allowed"), "{absurd}");
        let overflow = open_err(&repo, &[e(0, 100), e(100, i64::MAX as u64)]).await;
        assert!(
            overflow.contains("overflows") || overflow.contains("allowed"),
            "{overflow}"
        );
        let longer = open_err(&repo, &[e(0, 50), e(50, 100)]).await;
        assert!(
            longer.contains("has 100 bytes, its index entry says 50"),
            "{longer}"
        );
        let shorter = open_err(&repo, &[e(0, 100), e(100, 200)]).await;
        assert!(shorter.contains("its index entry says 200"), "{shorter}");
        // Malformed index JSON and a missing content.
        let bad =
            ObjectId::indirect(put(&repo, Some(b'x'), b"{\"stream\":\"nope\"}").await).unwrap();
        assert!(ObjectReader::open(dynrepo(&repo), bad).await.is_err());
        let missing: ObjectId = "Ix0123456789abcdef0123456789abcdef".parse().unwrap();
        assert!(matches!(
            ObjectReader::open(dynrepo(&repo), missing).await,
            Err(Error::ContentNotFound(_))
        ));
        // Too many chunks.
        let many: Vec<_> = (0..10).map(|i| e(i * 100, 100)).collect();
        let id = put_index(&repo, &many).await;
        let limits = ReaderLimits {
            max_chunks: 5,
            ..ReaderLimits::default()
        };
        let err = ObjectReader::open_with(dynrepo(&repo), id, limits)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("more than 5 chunks"), "{err}");
    }

    #[tokio::test]
    async fn compressed_chunks_are_decompressed_within_bounds() {
        let repo = memory_repo();
        let plain = vec![b'a'; 10_000];
        let packed = Compressor::Zstd.compress(&plain).unwrap();
        let cid = put(&repo, None, &packed).await.content_id();
        let z = ObjectId::compressed(cid);
        assert_eq!(read_all(&*repo, z, 10_000).await.unwrap(), plain);
        // A decompression bomb: declared 100 bytes, decompresses to 10000.
        let bomb = open_err(
            &repo,
            &[IndirectEntry {
                start: 0,
                length: 100,
                object: z,
            }],
        )
        .await;
        assert!(bomb.contains("compressed chunk"), "{bomb}");
        assert!(read_all(&*repo, z, 9_999).await.is_err());
    }

    #[tokio::test]
    async fn hash_check_detects_corrupt_content() {
        let repo = memory_repo();
        let id = put(&repo, None, b"hello").await;
        let (cid, _) = id.direct_content().unwrap();
        repo.put_raw_content(cid, Bytes::from_static(b"jello"));
        let hasher = HashFunction::new("BLAKE2B-256-128", &(0u8..32).collect::<Vec<_>>()).unwrap();
        let check = ChunkCheck {
            hasher: Some(Arc::new(hasher)),
        };
        let err = ObjectReader::open_checked(dynrepo(&repo), id, ReaderLimits::default(), check)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is corrupt"), "{err}");
        // Without the hash check the (same-length) corruption goes unnoticed.
        assert_eq!(read_all(&*repo, id, 10).await.unwrap(), &b"jello"[..]);
    }
}
