//! Writing objects (kopia's `objectWriter`): split, store chunks, build the index.

use super::indirect::{IndexError, IndexOutcome, IndirectEntry, IndirectIndexBuilder};
use super::{ContentSink, INDIRECT_CONTENT_PREFIX};
use crate::ids::{IdError, ObjectId};
use crate::splitter::{LEGACY_SPLITTER, Splitter, SplitterError};

/// Why writing an object failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<E> {
    /// The content store failed.
    #[error("storing a content of the object failed: {0}")]
    Sink(E),
    /// An object ID could not be formed (more than 255 levels of indirection).
    #[error(transparent)]
    Id(#[from] IdError),
    /// The chunk list is inconsistent.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// [`super::concatenate`] was given no objects.
    #[error("cannot concatenate an empty list of objects")]
    NoParts,
}

/// How an object is written: prefix, splitters and compressors.
///
/// Holds ready-made splitter prototypes, so creating writers costs no name lookups.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    prefix: Option<u8>,
    splitter: Splitter,
    repository_splitter: Splitter,
    compression: Option<u32>,
    metadata_compression: Option<u32>,
}

impl WriterOptions {
    /// Options for a repository whose configured splitter is `repository_splitter`
    /// (empty = legacy `FIXED`): no prefix, repository splitter, no compression.
    pub fn new(repository_splitter: &str) -> Result<Self, SplitterError> {
        let name = if repository_splitter.is_empty() {
            LEGACY_SPLITTER
        } else {
            repository_splitter
        };
        let s = Splitter::new(name)?;
        Ok(WriterOptions {
            prefix: None,
            splitter: s.clone(),
            repository_splitter: s,
            compression: None,
            metadata_compression: None,
        })
    }

    /// Sets the content prefix (`None` or `g`..`z`; `k` for directories).
    pub fn with_prefix(mut self, prefix: Option<u8>) -> Result<Self, IdError> {
        if let Some(p) = prefix {
            if !(b'g'..=b'z').contains(&p) {
                return Err(IdError::BadPrefix(p as char));
            }
        }
        self.prefix = prefix;
        Ok(self)
    }

    /// Uses the named splitter for this object's data (a policy's `splitter.algorithm`).
    /// Like kopia, an empty or unknown name falls back to the repository splitter.
    pub fn with_splitter(mut self, name: &str) -> Self {
        self.splitter = match Splitter::new(name) {
            Ok(s) => s,
            Err(_) => self.repository_splitter.clone(),
        };
        self
    }

    /// Compression header ID passed with every data chunk (`None` = none).
    pub fn with_compression(mut self, header_id: Option<u32>) -> Self {
        self.compression = header_id;
        self
    }

    /// Compression header ID for index objects (kopia's metadata compressor).
    pub fn with_metadata_compression(mut self, header_id: Option<u32>) -> Self {
        self.metadata_compression = header_id;
        self
    }

    /// The content prefix of data chunks.
    pub fn prefix(&self) -> Option<u8> {
        self.prefix
    }

    /// Name of the splitter used for the object's data.
    pub fn splitter_name(&self) -> &'static str {
        self.splitter.name()
    }

    /// Name of the repository splitter (used for index objects).
    pub fn repository_splitter_name(&self) -> &'static str {
        self.repository_splitter.name()
    }

    /// Compression header ID of data chunks.
    pub fn compression(&self) -> Option<u32> {
        self.compression
    }

    /// Compression header ID of index objects.
    pub fn metadata_compression(&self) -> Option<u32> {
        self.metadata_compression
    }

    /// A fresh splitter for one object's data.
    pub fn new_splitter(&self) -> Splitter {
        let mut s = self.splitter.clone();
        s.reset();
        s
    }

    /// Options for writing this object's index JSON: the writer's prefix or `x`, the
    /// repository splitter (never the per-object override), metadata compression.
    pub fn for_index(&self) -> WriterOptions {
        WriterOptions {
            prefix: Some(self.prefix.unwrap_or(INDIRECT_CONTENT_PREFIX)),
            splitter: self.repository_splitter.clone(),
            repository_splitter: self.repository_splitter.clone(),
            compression: self.metadata_compression,
            metadata_compression: self.metadata_compression,
        }
    }
}

/// Turns a byte stream into chunks: splitter plus a buffer for the chunk in progress.
///
/// A chunk that lies entirely inside one fed slice is returned without copying.
#[derive(Debug, Clone)]
pub struct Chunker {
    splitter: Splitter,
    buf: Vec<u8>,
    /// `buf` holds a chunk already handed out; clear it on the next call.
    emitted: bool,
}

impl Chunker {
    /// A chunker for one object, starting with `splitter`'s current state.
    pub fn new(splitter: Splitter) -> Self {
        Chunker {
            splitter,
            buf: Vec::new(),
            emitted: false,
        }
    }

    /// Feeds the next bytes. Returns how many were consumed and, if a chunk ended
    /// within them, the complete chunk. Call again with the unconsumed rest.
    pub fn feed<'a>(&'a mut self, data: &'a [u8]) -> (usize, Option<&'a [u8]>) {
        if self.emitted {
            self.buf.clear();
            self.emitted = false;
        }
        match self.splitter.next_boundary(data) {
            Some(n) if self.buf.is_empty() => (n, Some(&data[..n])),
            Some(n) => {
                self.buf.extend_from_slice(&data[..n]);
                self.emitted = true;
                (n, Some(&self.buf))
            }
            None => {
                self.buf.extend_from_slice(data);
                (data.len(), None)
            }
        }
    }

    /// Bytes of the unfinished chunk held in the buffer.
    pub fn buffered(&self) -> usize {
        if self.emitted { 0 } else { self.buf.len() }
    }

    /// Ends the object: returns the unfinished chunk (possibly empty) and resets the
    /// splitter so the chunker can serve the next object.
    pub fn finish(&mut self) -> &[u8] {
        if self.emitted {
            self.buf.clear();
        }
        self.emitted = true;
        self.splitter.reset();
        &self.buf
    }

    /// Drops buffered bytes and resets the splitter.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.emitted = false;
        self.splitter.reset();
    }
}

/// An object once written: its ID, length and chunk entries (for concatenation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenObject {
    /// The object ID.
    pub id: ObjectId,
    /// Total length in bytes.
    pub length: u64,
    /// The data chunks: one entry `{0, length, id}` for a direct object, otherwise
    /// the entries of its (first-level) index.
    pub entries: Vec<IndirectEntry>,
}

/// Writes one object at a time into a [`ContentSink`]; reusable after `finish`.
#[derive(Debug, Clone)]
pub struct ObjectWriter {
    opts: WriterOptions,
    chunker: Chunker,
    index: IndirectIndexBuilder,
    length: u64,
}

impl ObjectWriter {
    /// A writer for a new object.
    pub fn new(opts: WriterOptions) -> Self {
        let chunker = Chunker::new(opts.new_splitter());
        ObjectWriter {
            opts,
            chunker,
            index: IndirectIndexBuilder::new(),
            length: 0,
        }
    }

    /// The writer's options.
    pub fn options(&self) -> &WriterOptions {
        &self.opts
    }

    /// Bytes written to the current object so far.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Appends bytes; every chunk completed by them is stored right away.
    pub fn write<S: ContentSink + ?Sized>(
        &mut self,
        sink: &mut S,
        data: &[u8],
    ) -> Result<(), WriteError<S::Error>> {
        self.length += data.len() as u64;
        let mut rest = data;
        while !rest.is_empty() {
            let (n, chunk) = self.chunker.feed(rest);
            if let Some(chunk) = chunk {
                let id = sink
                    .put_chunk(self.opts.prefix, chunk, self.opts.compression)
                    .map_err(WriteError::Sink)?;
                self.index.push(chunk.len() as u64, id);
            }
            rest = &rest[n..];
        }
        Ok(())
    }

    /// ID of the object made of the chunks stored so far (buffered bytes excluded);
    /// `None` before the first chunk. Writes an index object when there are several.
    pub fn checkpoint<S: ContentSink + ?Sized>(
        &mut self,
        sink: &mut S,
    ) -> Result<Option<ObjectId>, WriteError<S::Error>> {
        match self.index.outcome()? {
            IndexOutcome::Empty => Ok(None),
            IndexOutcome::Single(id) => Ok(Some(id)),
            IndexOutcome::Index(json) => write_index_object(sink, &self.opts, &json).map(Some),
        }
    }

    /// Stores the last chunk (an empty one if the object produced none) and returns
    /// the object ID. The writer is then ready for the next object.
    pub fn finish<S: ContentSink + ?Sized>(
        &mut self,
        sink: &mut S,
    ) -> Result<ObjectId, WriteError<S::Error>> {
        self.flush_last(sink)?;
        let id = match self.index.outcome()? {
            IndexOutcome::Single(id) => id,
            IndexOutcome::Index(json) => write_index_object(sink, &self.opts, &json)?,
            // flush_last guarantees at least one chunk.
            IndexOutcome::Empty => return Err(IndexError::NoEntries.into()),
        };
        self.reset();
        Ok(id)
    }

    /// Like [`ObjectWriter::finish`], also returning the length and chunk entries.
    pub fn finish_with_entries<S: ContentSink + ?Sized>(
        &mut self,
        sink: &mut S,
    ) -> Result<WrittenObject, WriteError<S::Error>> {
        self.flush_last(sink)?;
        let entries = self.index.entries()?;
        let length = self.length;
        let id = self.finish(sink)?;
        Ok(WrittenObject {
            id,
            length,
            entries,
        })
    }

    /// Abandons the current object and starts over.
    pub fn reset(&mut self) {
        self.chunker.reset();
        self.index.clear();
        self.length = 0;
    }

    fn flush_last<S: ContentSink + ?Sized>(
        &mut self,
        sink: &mut S,
    ) -> Result<(), WriteError<S::Error>> {
        if self.chunker.buffered() > 0 || self.index.is_empty() {
            let chunk = self.chunker.finish();
            let id = sink
                .put_chunk(self.opts.prefix, chunk, self.opts.compression)
                .map_err(WriteError::Sink)?;
            self.index.push(chunk.len() as u64, id);
        }
        Ok(())
    }
}

/// Writes an index JSON (from [`IndexOutcome::Index`] or [`super::encode_index`]) as an
/// object with `opts.for_index()` and returns the indirect ID (`I` + its ID).
pub fn write_index_object<S: ContentSink + ?Sized>(
    sink: &mut S,
    opts: &WriterOptions,
    json: &[u8],
) -> Result<ObjectId, WriteError<S::Error>> {
    let id = write_object(sink, opts.for_index(), json)?;
    Ok(ObjectId::indirect(id)?)
}

/// Writes `data` as one whole object and returns its ID.
pub fn write_object<S: ContentSink + ?Sized>(
    sink: &mut S,
    opts: WriterOptions,
    data: &[u8],
) -> Result<ObjectId, WriteError<S::Error>> {
    let mut w = ObjectWriter::new(opts);
    w.write(sink, data)?;
    w.finish(sink)
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
