//! Uploading one file's data (kopia's `uploadFileData`, object-format §5.1, §5.7): a
//! blocking reader splits the file into chunks (no copies for chunks inside one read
//! block) while the async side stores them concurrently.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use kopia_proto::object::{WriterOptions, WrittenObject};
use kopia_proto::splitter::Splitter;
use tokio::sync::mpsc;

use super::writer::{ChunkProgress, ChunkSet, Writer};
use crate::Error;

/// Largest read block.
const BLOCK: usize = 8 << 20;
/// Chunks waiting between the reader and the uploader.
const QUEUE: usize = 4;
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

/// Reads `src` and sends its chunks (the final, possibly empty, chunk included).
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
    let mut remaining = src.limit.unwrap_or(u64::MAX);
    let mut expected = src.expected.min(remaining);
    let mut carry = BytesMut::new();
    let sent_any = std::cell::Cell::new(false);
    let send = |chunk: Bytes| -> Result<(), FileError> {
        sent_any.set(true);
        tx.blocking_send(chunk).map_err(|_| FileError::Cancelled)
    };
    let mut eof = false;
    while !eof && remaining > 0 {
        if stop.load(Ordering::Relaxed) {
            return Err(FileError::Cancelled);
        }
        // One byte more than expected detects end of file without another buffer.
        let want = (expected.saturating_add(1).min(BLOCK as u64).min(remaining) as usize).max(1);
        let mut buf = BytesMut::zeroed(want);
        let mut got = 0;
        while got < want {
            match f.read(&mut buf[got..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(FileError::Local(format!("read {}: {e}", path.display())));
                }
            }
        }
        buf.truncate(got);
        remaining -= got as u64;
        // Past the listed size (the file grows while it is read): keep reading in
        // large blocks rather than byte by byte, or a growing log is never caught up.
        expected = match expected.checked_sub(got as u64) {
            Some(left) => left,
            None => GROWTH_READ,
        };
        if !observer.read(got) {
            return Err(FileError::Cancelled);
        }
        let block = buf.freeze();
        let mut pos = 0;
        while pos < block.len() {
            match splitter.next_boundary(&block[pos..]) {
                Some(n) => {
                    let chunk = if carry.is_empty() {
                        block.slice(pos..pos + n)
                    } else {
                        carry.extend_from_slice(&block[pos..pos + n]);
                        carry.split().freeze()
                    };
                    send(chunk)?;
                    pos += n;
                }
                None => {
                    carry.extend_from_slice(&block[pos..]);
                    pos = block.len();
                }
            }
        }
    }
    if !carry.is_empty() || !sent_any.get() {
        send(carry.freeze())?;
    }
    Ok(())
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
    use kopia_proto::hashing::HashFunction;
    use kopia_proto::object::{ContentSink, write_object};

    struct Count(std::sync::atomic::AtomicUsize);
    impl ReadObserver for Count {
        fn read(&self, n: usize) -> bool {
            self.0.fetch_add(n, Ordering::Relaxed);
            true
        }
    }

    struct HashSink(HashFunction);
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
        let mut total = 0;
        while let Ok(c) = rx.try_recv() {
            total += c.len();
        }
        assert_eq!(total, 4 << 20);
        let n = calls.0.load(Ordering::Relaxed);
        assert!(n < 16, "{n} reads for 4 MiB listed as 5 bytes");
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
