//! Objects: byte streams stored as one content or as chunks listed by an indirect
//! index, exactly as kopia's `repo/object` writes and reads them.
//!
//! Pure logic over caller-provided stores: [`ContentSink`] (write side) and
//! [`ContentSource`] (read side). The building blocks are public so that an
//! asynchronous, parallel writer can reuse them:
//!
//! * [`Chunker`] turns a byte stream into chunks (splitter + buffering),
//! * [`IndirectIndexBuilder`] records chunk entries in object order (slots may be
//!   filled out of order) and yields the index JSON,
//! * [`write_index_object`] stores that JSON as an object (with
//!   [`WriterOptions::for_index`]) and returns the `I…` ID,
//! * [`ObjectWriter`] is the synchronous composition of all of the above.

mod concat;
mod indirect;
mod reader;
mod writer;

pub use concat::{ConcatError, concatenate, concatenate_entries, parallel_upload_parts};
pub use indirect::{
    INDIRECT_STREAM, IndexError, IndexOutcome, IndirectEntry, IndirectIndexBuilder, decode_index,
    encode_index,
};
pub use reader::{
    ContentSource, MAX_NESTING, ReadError, SeekTable, check_chunk_length, load_index, read_object,
};
pub use writer::{
    Chunker, ObjectWriter, WriteError, WriterOptions, WrittenObject, write_index_object,
    write_object,
};

use crate::ids::{ContentId, ObjectId};

/// Prefix of index objects written for objects without a prefix.
pub const INDIRECT_CONTENT_PREFIX: u8 = b'x';

/// The content store an object writer puts chunks into (kopia's content manager).
///
/// `compression` is the 4-byte compression header ID to apply at content level
/// (`None` = store uncompressed); the content ID is always the hash of the
/// uncompressed `data`. Stores of repositories with index version 1 (no content
/// compression) ignore it.
pub trait ContentSink {
    /// Error of the underlying store.
    type Error;

    /// Stores `data` as a content under `prefix` and returns its ID.
    fn put(
        &mut self,
        prefix: Option<u8>,
        data: &[u8],
        compression: Option<u32>,
    ) -> Result<ContentId, Self::Error>;

    /// Stores one chunk of an object and returns the chunk's object ID.
    ///
    /// The default stores it with [`ContentSink::put`] and returns the direct ID. A
    /// legacy (index version 1) store overrides this to compress unprefixed chunks
    /// at object level and return a `Z` ID when the compressed form is kept.
    fn put_chunk(
        &mut self,
        prefix: Option<u8>,
        data: &[u8],
        compression: Option<u32>,
    ) -> Result<ObjectId, Self::Error> {
        Ok(ObjectId::direct(self.put(prefix, data, compression)?))
    }
}

impl<S: ContentSink + ?Sized> ContentSink for &mut S {
    type Error = S::Error;

    fn put(
        &mut self,
        prefix: Option<u8>,
        data: &[u8],
        compression: Option<u32>,
    ) -> Result<ContentId, S::Error> {
        (**self).put(prefix, data, compression)
    }

    fn put_chunk(
        &mut self,
        prefix: Option<u8>,
        data: &[u8],
        compression: Option<u32>,
    ) -> Result<ObjectId, S::Error> {
        (**self).put_chunk(prefix, data, compression)
    }
}
