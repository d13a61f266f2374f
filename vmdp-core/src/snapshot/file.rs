//! Uploading one file's data (kopia's `uploadFileData`, object-format §5.1, §5.7): a
//! blocking reader splits the file into chunks (no copies for chunks inside one read
//! block) while the async side stores them concurrently.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use kopia_proto::object::{WriterOptions, WrittenObject};
use kopia_proto::splitter::Splitter;
use tokio::sync::mpsc;

use super::writer::{ChunkProgress, ChunkSet, INLINE_OBJECT, Writer};
use crate::Error;

/// Largest single read.
const READ: usize = 1 << 20;
/// Chunks waiting between the reader and the uploader.
const QUEUE: usize = 1;
/// Read size once a file turned out longer than listed (it grows while read).
const GROWTH_READ: u64 = 1 << 20;

/// Why a file could not be uploaded.
#[derive(Debug)]
pub(crate) enum FileError {
    /// Reading the local file failed: recorded in the directory, the snapshot goes on.
    Local(String),
    /// The upload was cancelled (not recorded, as in kopia).
    Cancelled,
    /// The repository failed: the snapshot fails.
    Repo(Error),
}

impl From<Error> for FileError {
    fn from(e: Error) -> Self {
        FileError::Repo(e)
    }
}

/// Where and how much to read.
pub(crate) struct Source {
    /// The file.
    pub path: PathBuf,
    /// Start offset.
    pub offset: u64,
    /// Bytes to read at most (`None` = to end of file).
    pub limit: Option<u64>,
    /// Expected length (the listed size), to size read buffers.
    pub expected: u64,
}

/// Observes the bytes read (progress, statistics, upload limits).
pub(crate) trait ReadObserver: Send + Sync {
    /// `n` more bytes were read; returns false to stop (cancelled).
    fn read(&self, n: usize) -> bool;
}

/// Capacity for a new chunk buffer already holding `held` bytes: enough for the rest
/// of the chunk (at most the splitter's largest chunk), or for the rest of the file
/// plus the one byte that detects its end when the file is shorter.
fn chunk_capacity(max_chunk: usize, held: usize, expected: u64) -> usize {
    let rest = usize::try_from(expected.saturating_add(1)).unwrap_or(usize::MAX);
    max_chunk.min(held.saturating_add(rest)).max(held + 1)
}

/// Reads `src` and sends its chunks (the final, possibly empty, chunk included).
///
/// Each chunk is read straight into its own buffer, sized for the chunk (or for a
/// small file), so memory in flight is the chunks themselves: no read block is kept
/// alive by a slice, and no buffer grows by doubling. Bytes read past a boundary (at
/// most one read) are copied into the next chunk's buffer.
fn read_chunks(
    src: &Source,
    mut splitter: Splitter,
    tx: &mpsc::Sender<Bytes>,
    observer: &dyn ReadObserver,
    stop: &AtomicBool,
) -> Result<(), FileError> {
    let path = &src.path;
    let mut f = std::fs::File::open(path).map_err(|e| {
        FileError::Local(format!("unable to open file: open {}: {e}", path.display()))
    })?;
    if src.offset != 0 {
        f.seek(SeekFrom::Start(src.offset))
            .map_err(|e| FileError::Local(format!("seek error: {}: {e}", path.display())))?;
    }
    let max_chunk = splitter.max_size().max(1);
    let mut remaining = src.limit.unwrap_or(u64::MAX);
    let mut expected = src.expected.min(remaining);
    let mut cur: Vec<u8> = Vec::with_capacity(chunk_capacity(max_chunk, 0, expected));
    let mut sent_any = false;
    // Set once the file turned out longer than listed: size buffers for growth.
    let mut grown = false;
    let send = |mut chunk: Vec<u8>| -> Result<(), FileError> {
        chunk.shrink_to_fit();
        tx.blocking_send(Bytes::from(chunk))
            .map_err(|_| FileError::Cancelled)
    };
    while remaining > 0 {
        if stop.load(Ordering::Relaxed) {
            return Err(FileError::Cancelled);
        }
        if cur.len() == cur.capacity() {
            // Past the listed size (the file grows while it is read): keep reading in
            // large blocks rather than byte by byte, or a growing log is never caught up.
            grown = true;
            let want = chunk_capacity(max_chunk, cur.len(), GROWTH_READ);
            cur.reserve_exact(want - cur.len());
        }
        let want = (cur.capacity() - cur.len())
            .min(READ)
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let start = cur.len();
        // `take` + `read_to_end` fills the spare capacity without zeroing it first,
        // and never grows `cur` (at most `want` bytes fit).
        let got = (&mut f)
            .take(want as u64)
            .read_to_end(&mut cur)
            .map_err(|e| FileError::Local(format!("read {}: {e}", path.display())))?;
        remaining -= got as u64;
        grown |= got as u64 > expected;
        expected = expected.saturating_sub(got as u64);
        let hint = if grown { GROWTH_READ } else { expected };
        if got > 0 && !observer.read(got) {
            return Err(FileError::Cancelled);
        }
        let mut scan = start;
        while let Some(n) = splitter.next_boundary(&cur[scan..]) {
            let end = scan + n;
            let mut next = Vec::with_capacity(chunk_capacity(max_chunk, cur.len() - end, hint));
            next.extend_from_slice(&cur[end..]);
            cur.truncate(end);
            send(std::mem::replace(&mut cur, next))?;
            sent_any = true;
            scan = 0;
        }
        if got < want {
            break; // end of file
        }
    }
    if !cur.is_empty() || !sent_any {
        send(cur)?;
    }
    Ok(())
}

/// Reads a whole small file in one go (no chunk channel; see `snapshot::small`):
/// `None` when it turned out longer than [`INLINE_OBJECT`] (it grew since it was
/// listed, and is then streamed by [`upload_object`]).
pub(super) fn read_small(
    path: &Path,
    expected: u64,
    observer: &dyn ReadObserver,
) -> Result<Option<Vec<u8>>, FileError> {
    let f = std::fs::File::open(path).map_err(|e| {
        FileError::Local(format!("unable to open file: open {}: {e}", path.display()))
    })?;
    // One byte more than listed detects the end of file without growing the buffer.
    let mut data = Vec::with_capacity(usize::try_from(expected).unwrap_or(0).saturating_add(1));
    f.take(INLINE_OBJECT as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| FileError::Local(format!("read {}: {e}", path.display())))?;
    if data.len() > INLINE_OBJECT {
        return Ok(None);
    }
    if !observer.read(data.len()) {
        return Err(FileError::Cancelled);
    }
    Ok(Some(data))
}

/// Uploads `src` as one object written with `opts`. `progress` mirrors the chunk slots
/// for checkpoints.
pub(crate) async fn upload_object(
    writer: &Arc<Writer>,
    src: Source,
    opts: &WriterOptions,
    observer: Arc<dyn ReadObserver>,
    progress: Option<Arc<ChunkProgress>>,
) -> Result<WrittenObject, FileError> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    let splitter = opts.new_splitter();
    let reader = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || read_chunks(&src, splitter, &tx, &*observer, &stop))
    };
    let mut chunks = ChunkSet::new(writer.clone(), opts, progress);
    let mut failure = None;
    while let Some(chunk) = rx.recv().await {
        if let Err(e) = chunks.push(chunk).await {
            failure = Some(e);
            break;
        }
    }
    if failure.is_some() {
        stop.store(true, Ordering::Relaxed);
        rx.close();
    }
    let read = reader
        .await
        .map_err(|e| FileError::Local(format!("file reader failed: {e}")))?;
    if let Some(e) = failure {
        return Err(FileError::Repo(e));
    }
    read?;
    Ok(chunks.finish().await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{MemoryRepository, RepoParameters};
    use crate::snapshot::writer::tests::HashSink;
    use kopia_proto::hashing::HashFunction;
    use kopia_proto::object::write_object;

    struct Count(std::sync::atomic::AtomicUsize);
    impl ReadObserver for Count {
        fn read(&self, n: usize) -> bool {
            self.0.fetch_add(n, Ordering::Relaxed);
            true
        }
    }

    struct Calls(std::sync::atomic::AtomicUsize);
    impl ReadObserver for Calls {
        fn read(&self, _n: usize) -> bool {
            self.0.fetch_add(1, Ordering::Relaxed);
            true
        }
    }

    #[test]
    fn file_longer_than_listed_is_read_in_large_blocks() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("grown");
        std::fs::write(&path, vec![1u8; 4 << 20]).unwrap();
        let src = Source {
            path,
            offset: 0,
            limit: None,
            expected: 5,
        };
        let (tx, mut rx) = mpsc::channel(4096);
        let calls = Calls(Default::default());
        let splitter = kopia_proto::splitter::new("DYNAMIC-128K-BUZHASH").unwrap();
        read_chunks(&src, splitter, &tx, &calls, &AtomicBool::new(false)).unwrap();
        drop(tx);
        let (mut total, mut chunks) = (0, 0);
        while let Ok(c) = rx.try_recv() {
            total += c.len();
            chunks += 1;
        }
        assert_eq!(total, 4 << 20);
        // About one read per chunk (a chunk's buffer is filled by one read), plus the
        // reads that cross a boundary: far from one read per byte.
        let n = calls.0.load(Ordering::Relaxed);
        assert!(
            n <= 2 * chunks + 2,
            "{n} reads for {chunks} chunks of 4 MiB listed as 5 bytes"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streamed_file_matches_whole_object() {
        let p = RepoParameters {
            hash_function: "BLAKE2B-256-128".into(),
            hmac_secret: vec![7; 32],
            splitter: "DYNAMIC-128K-BUZHASH".into(),
            supports_content_compression: true,
        };
        let repo = Arc::new(MemoryRepository::new(p.clone()).unwrap());
        let w = Arc::new(Writer::new(repo, 1 << 20, Arc::new(crate::NoProgress)).unwrap());
        let tmp = tempfile::tempdir().unwrap();
        let mut x = 1u32;
        let data: Vec<u8> = (0..(20 << 20) + 17)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        std::fs::write(tmp.path().join("f"), &data).unwrap();
        std::fs::write(tmp.path().join("e"), b"").unwrap();
        let mut sink = HashSink(HashFunction::new(&p.hash_function, &p.hmac_secret).unwrap());
        let opts = w.file_options("", None, Some(0x1101));
        for (name, expected, content) in [
            ("f", data.len() as u64, &data[..]),
            ("f", 5, &data[..]), // listed smaller than actual (file grew)
            ("f", data.len() as u64 + 4096, &data[..]), // listed larger (file shrank)
            ("e", 0, &b""[..]),
        ] {
            let count = Arc::new(Count(Default::default()));
            let src = Source {
                path: tmp.path().join(name),
                offset: 0,
                limit: None,
                expected,
            };
            let got = upload_object(&w, src, &opts, count.clone(), None)
                .await
                .unwrap();
            assert_eq!(
                got.id,
                write_object(&mut sink, opts.clone(), content).unwrap()
            );
            assert_eq!(count.0.load(Ordering::Relaxed), content.len());
        }
        // A part: offset and limit.
        let src = Source {
            path: tmp.path().join("f"),
            offset: 1000,
            limit: Some(3 << 20),
            expected: 3 << 20,
        };
        let count = Arc::new(Count(Default::default()));
        let got = upload_object(&w, src, &opts, count, None).await.unwrap();
        let want = write_object(&mut sink, opts.clone(), &data[1000..1000 + (3 << 20)]).unwrap();
        assert_eq!((got.id, got.length), (want, 3 << 20));
        let missing = Source {
            path: tmp.path().join("missing"),
            offset: 0,
            limit: None,
            expected: 0,
        };
        let count = Arc::new(Count(Default::default()));
        match upload_object(&w, missing, &opts, count, None).await {
            Err(FileError::Local(m)) => assert!(m.contains("unable to open file"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
