use std::collections::HashMap;

use super::*;
use crate::hashing::HashFunction;
use crate::ids::ContentId;
use crate::object::{ContentSource, read_object};

/// In-memory store keyed by BLAKE2B-256-128 with a fixed secret.
struct MemStore {
    hash: HashFunction,
    contents: HashMap<ContentId, (Vec<u8>, Option<u32>)>,
    puts: usize,
    fail_after: Option<usize>,
}

impl MemStore {
    fn new() -> Self {
        let secret: Vec<u8> = (0..32).collect();
        MemStore {
            hash: HashFunction::new("BLAKE2B-256-128", &secret).unwrap(),
            contents: HashMap::new(),
            puts: 0,
            fail_after: None,
        }
    }
}

impl ContentSink for MemStore {
    type Error = String;
    fn put(
        &mut self,
        prefix: Option<u8>,
        data: &[u8],
        compression: Option<u32>,
    ) -> Result<ContentId, String> {
        if self.fail_after.is_some_and(|n| self.puts >= n) {
            return Err("disk full".into());
        }
        self.puts += 1;
        let id = self
            .hash
            .content_id(prefix, data)
            .map_err(|e| e.to_string())?;
        self.contents.insert(id, (data.to_vec(), compression));
        Ok(id)
    }
}

impl ContentSource for MemStore {
    type Error = String;
    fn read_direct(&mut self, content: ContentId, _compressed: bool) -> Result<Vec<u8>, String> {
        self.contents
            .get(&content)
            .map(|c| c.0.clone())
            .ok_or_else(|| format!("{content} not found"))
    }
}

fn data(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

#[test]
fn empty_object_is_one_empty_content() {
    let mut s = MemStore::new();
    let opts = WriterOptions::new("").unwrap();
    assert_eq!(opts.splitter_name(), "FIXED");
    let id = write_object(&mut s, opts, b"").unwrap();
    assert_eq!(id.to_string(), "4e51e7a913fc80137da52880fecca175");
    assert_eq!(s.puts, 1);
}

#[test]
fn small_object_is_direct_and_prefixed() {
    let mut s = MemStore::new();
    let opts = WriterOptions::new("DYNAMIC-4M-BUZHASH")
        .unwrap()
        .with_prefix(Some(b'k'))
        .unwrap()
        .with_compression(Some(0x1101));
    let id = write_object(&mut s, opts, b"hello").unwrap();
    assert!(id.to_string().starts_with('k'));
    assert_eq!(s.contents[&id.content_id()].1, Some(0x1101));
    assert_eq!(read_object(&mut s, id).unwrap(), b"hello");
}

#[test]
fn options_validation_and_fallback() {
    assert!(WriterOptions::new("NOPE").is_err());
    let o = WriterOptions::new("FIXED-1M").unwrap();
    assert!(o.clone().with_prefix(Some(b'a')).is_err());
    assert!(o.clone().with_prefix(Some(b'K')).is_err());
    assert_eq!(o.clone().with_splitter("NOPE").splitter_name(), "FIXED-1M");
    assert_eq!(o.clone().with_splitter("").splitter_name(), "FIXED-1M");
    let o = o
        .with_splitter("FIXED-128K")
        .with_metadata_compression(Some(7));
    assert_eq!(o.splitter_name(), "FIXED-128K");
    let i = o.for_index();
    assert_eq!(i.prefix(), Some(b'x'));
    assert_eq!(i.splitter_name(), "FIXED-1M");
    assert_eq!(i.compression(), Some(7));
    let k = o.with_prefix(Some(b'k')).unwrap().for_index();
    assert_eq!(k.prefix(), Some(b'k'));
}

#[test]
fn write_sizes_do_not_change_ids() {
    let d = data(700 << 10);
    let opts = WriterOptions::new("DYNAMIC-128K-BUZHASH").unwrap();
    let mut s = MemStore::new();
    let whole = write_object(&mut s, opts.clone(), &d).unwrap();
    assert_eq!(whole.indirection(), 1);
    for step in [1usize << 10, 4097, 65536, 300_000] {
        let mut w = ObjectWriter::new(opts.clone());
        for piece in d.chunks(step) {
            w.write(&mut s, piece).unwrap();
        }
        assert_eq!(w.length(), d.len() as u64);
        assert_eq!(w.finish(&mut s).unwrap(), whole, "step {step}");
        // The writer is reusable.
        w.write(&mut s, &d).unwrap();
        assert_eq!(w.finish(&mut s).unwrap(), whole);
    }
    assert_eq!(read_object(&mut s, whole).unwrap(), d);
}

#[test]
fn checkpoint_covers_flushed_chunks_only() {
    let mut s = MemStore::new();
    let opts = WriterOptions::new("FIXED-128K").unwrap();
    let mut w = ObjectWriter::new(opts.clone());
    assert_eq!(w.checkpoint(&mut s).unwrap(), None);
    let d = data(3 << 17);
    w.write(&mut s, &d[..100]).unwrap();
    assert_eq!(w.checkpoint(&mut s).unwrap(), None);
    w.write(&mut s, &d[100..(1 << 17) + 5]).unwrap();
    let one = w.checkpoint(&mut s).unwrap().unwrap();
    assert_eq!(
        one,
        write_object(&mut s, opts.clone(), &d[..1 << 17]).unwrap()
    );
    w.write(&mut s, &d[(1 << 17) + 5..]).unwrap();
    let cp = w.checkpoint(&mut s).unwrap().unwrap();
    assert_eq!(cp, write_object(&mut s, opts.clone(), &d).unwrap());
    let full = w.finish(&mut s).unwrap();
    assert_eq!(full, cp);
}

#[test]
fn finish_with_entries_reports_chunks() {
    let mut s = MemStore::new();
    let opts = WriterOptions::new("FIXED-128K").unwrap();
    let mut w = ObjectWriter::new(opts);
    let d = data((1 << 17) + 3);
    w.write(&mut s, &d).unwrap();
    let o = w.finish_with_entries(&mut s).unwrap();
    assert_eq!(o.length, d.len() as u64);
    assert_eq!(o.entries.len(), 2);
    assert_eq!((o.entries[1].start, o.entries[1].length), (1 << 17, 3));
    assert_eq!(load_entries(&mut s, o.id), o.entries);
    w.write(&mut s, b"abc").unwrap();
    let o = w.finish_with_entries(&mut s).unwrap();
    assert_eq!(o.entries.len(), 1);
    assert_eq!(
        (o.entries[0].start, o.entries[0].length, o.entries[0].object),
        (0, 3, o.id)
    );
}

fn load_entries(s: &mut MemStore, id: ObjectId) -> Vec<IndirectEntry> {
    crate::object::load_index(s, id.index_object_id().unwrap()).unwrap()
}

#[test]
fn sink_errors_propagate() {
    let mut s = MemStore::new();
    s.fail_after = Some(1);
    let opts = WriterOptions::new("FIXED-128K").unwrap();
    let mut w = ObjectWriter::new(opts.clone());
    let d = data(3 << 17);
    let err = w.write(&mut s, &d).unwrap_err();
    assert!(
        matches!(&err, WriteError::Sink(m) if m == "disk full"),
        "{err}"
    );
    let mut s = MemStore::new();
    s.fail_after = Some(2);
    let mut w = ObjectWriter::new(opts);
    w.write(&mut s, &d[..(2 << 17)]).unwrap();
    // Both chunks are stored; the index write fails.
    assert!(matches!(w.finish(&mut s), Err(WriteError::Sink(_))));
}

#[test]
fn chunker_zero_copy_and_buffering() {
    let mut c = Chunker::new(crate::splitter::new("FIXED-128K").unwrap());
    let d = data(3 << 17);
    let (n, chunk) = c.feed(&d);
    assert_eq!(n, 1 << 17);
    assert_eq!(chunk.unwrap().as_ptr(), d.as_ptr());
    let (n, chunk) = c.feed(&d[..10]);
    assert_eq!((n, chunk), (10, None));
    assert_eq!(c.buffered(), 10);
    let (n, chunk) = c.feed(&d[10..]);
    assert_eq!(n, (1 << 17) - 10);
    assert_eq!(chunk.unwrap(), &d[..1 << 17]);
    assert_eq!(c.buffered(), 0);
    let (n, _) = c.feed(&d[..7]);
    assert_eq!(n, 7);
    assert_eq!(c.finish(), &d[..7]);
    assert_eq!(c.buffered(), 0);
    assert_eq!(c.finish(), b"");
}

#[test]
fn read_detects_wrong_chunk_length() {
    let mut s = MemStore::new();
    let opts = WriterOptions::new("FIXED-128K").unwrap();
    let d = data((1 << 17) + 3);
    let id = write_object(&mut s, opts.clone(), &d).unwrap();
    // Replace the index with one whose first entry claims a wrong length.
    let mut entries = load_entries(&mut s, id);
    entries[0].length += 1;
    let bad = crate::object::writer::write_index_object(
        &mut s,
        &opts,
        &crate::object::encode_index(&entries),
    )
    .unwrap();
    assert!(matches!(
        read_object(&mut s, bad),
        Err(crate::object::ReadError::Index(
            IndexError::ChunkLength { .. }
        ))
    ));
    let missing: ObjectId = "Ix00".parse().unwrap();
    assert!(matches!(
        read_object(&mut s, missing),
        Err(crate::object::ReadError::Source(_))
    ));
}
