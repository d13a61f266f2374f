//! Rebuilding a snapshot from the golden `tree/` with kopia-proto only: walk the tree with
//! `lstat`, write files, symlinks and directories with `object::ObjectWriter` into a
//! [`HashSink`] that computes content IDs with the repository's keyed hash, build
//! directory objects with `DirManifestBuilder`, and return the root entry.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use kopia_proto::compression::Compressor;
use kopia_proto::format_blob::RepositoryConfig;
use kopia_proto::hashing::HashFunction;
use kopia_proto::ids::{ContentId, ObjectId};
use kopia_proto::index::IndexEntry;
use kopia_proto::manifest::{
    CompressionPolicy, DirEntry, DirManifestBuilder, EntryType, Permissions, Policy,
    SnapshotManifest,
};
use kopia_proto::object::{
    ContentSink, ObjectWriter, WriterOptions, decode_index, read_object, write_object,
};
use serde_json::Value;

use super::repository::Contents;
use super::{first_difference, header_of, s};

/// What the rebuild stored for one content: the compression header kopia-proto's writer
/// requested and the one the content manager would record (0 when the compressed form,
/// header included, is not strictly smaller, as kopia decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Header ID passed to the sink (`None` = no compression requested).
    pub requested: Option<u32>,
    /// Header ID the index entry would carry.
    pub recorded: u32,
    /// Uncompressed length.
    pub len: usize,
}

/// A content store that only hashes (plus kopia's compression decision, to compare with
/// the index entries kopia wrote).
pub struct HashSink {
    hash: HashFunction,
    /// Index version 1: no content-level compression; unprefixed chunks are compressed
    /// at object level (`Z…` IDs) when that makes them smaller.
    legacy: bool,
    /// Legacy only: `hash(uncompressed chunk)` → the `Z` content kopia stored for it.
    /// kopia's compressed bytes (Go klauspost encoders) differ from ours, and a `Z`
    /// content's ID is the hash of the compressed bytes, so that ID is looked up here.
    pub z_oracle: HashMap<Vec<u8>, ContentId>,
    /// Every content written.
    pub stored: BTreeMap<ContentId, Stored>,
    /// Legacy only: `Z` chunks substituted from the oracle.
    pub z_substituted: usize,
}

impl HashSink {
    /// A sink hashing with `hash`; `legacy` for index-version-1 repositories.
    pub fn new(hash: HashFunction, legacy: bool) -> Self {
        HashSink {
            hash,
            legacy,
            z_oracle: HashMap::new(),
            stored: BTreeMap::new(),
            z_substituted: 0,
        }
    }

    fn record(&mut self, id: ContentId, s: Stored) -> Result<(), String> {
        match self.stored.insert(id, s) {
            Some(prev) if prev != s => Err(format!(
                "content {id} stored twice with different compression: {prev:?} then {s:?}"
            )),
            _ => Ok(()),
        }
    }
}

impl ContentSink for HashSink {
    type Error = String;

    fn put(
        &mut self,
        prefix: Option<u8>,
        data: &[u8],
        compression: Option<u32>,
    ) -> Result<ContentId, String> {
        let id = self
            .hash
            .content_id(prefix, data)
            .map_err(|e| e.to_string())?;
        let recorded = match compression {
            Some(h) if !self.legacy => {
                let c = Compressor::from_header_id(h).map_err(|e| e.to_string())?;
                let smaller = c.compress_if_smaller(data).map_err(|e| e.to_string())?;
                if smaller.is_some() { h } else { 0 }
            }
            _ => 0,
        };
        self.record(
            id,
            Stored {
                requested: compression,
                recorded,
                len: data.len(),
            },
        )?;
        Ok(id)
    }

    fn put_chunk(
        &mut self,
        prefix: Option<u8>,
        data: &[u8],
        compression: Option<u32>,
    ) -> Result<ObjectId, String> {
        if let (true, None, Some(h)) = (self.legacy, prefix, compression) {
            let c = Compressor::from_header_id(h).map_err(|e| e.to_string())?;
            let compressed = c.compress(data).map_err(|e| e.to_string())?;
            if compressed.len() < data.len() {
                let key = self.hash.hash(data).as_bytes().to_vec();
                let id = *self.z_oracle.get(&key).ok_or_else(|| {
                    format!(
                        "a {}-byte chunk compresses to {} bytes here, but kopia stored no Z content for it",
                        data.len(),
                        compressed.len()
                    )
                })?;
                self.z_substituted += 1;
                self.record(
                    id,
                    Stored {
                        requested: Some(h),
                        recorded: 0,
                        len: compressed.len(),
                    },
                )?;
                return Ok(ObjectId::compressed(id));
            }
        }
        Ok(ObjectId::direct(self.put(prefix, data, compression)?))
    }
}

/// kopia's `CompressionPolicy.CompressorForFile`: the compressor for a file by name and size.
pub fn compressor_for_file(p: &CompressionPolicy, name: &[u8], size: u64) -> Option<u32> {
    if p.compressor_name.is_empty() || p.compressor_name == "none" {
        return None;
    }
    let size = size as i64;
    if (p.min_size > 0 && size < p.min_size) || (p.max_size > 0 && size > p.max_size) {
        return None;
    }
    // Go's filepath.Ext: from the last '.' of the base name, dot included.
    let ext = name
        .iter()
        .rposition(|&b| b == b'.')
        .map(|p| String::from_utf8_lossy(&name[p..]).into_owned())
        .unwrap_or_default();
    let id = Compressor::from_name(&p.compressor_name)
        .expect("policy names a known compressor")
        .header_id();
    if !p.only_compress.is_empty() && p.only_compress.contains(&ext) {
        return Some(id);
    }
    if p.never_compress.contains(&ext) {
        return None;
    }
    Some(id)
}

/// How the snapshot writes objects (kopia `upload.go` / `dir_writer.go`).
pub struct Rebuild<'a> {
    /// The content store.
    pub sink: &'a mut HashSink,
    /// File data: policy splitter, policy compressor (set per file), metadata compressor.
    pub file_opts: WriterOptions,
    /// The policy's file compression rules.
    pub compression: CompressionPolicy,
    /// Symlink targets: repository splitter, no compression, metadata compressor.
    pub symlink_opts: WriterOptions,
    /// Directory objects: prefix `k`, repository splitter, metadata compressor.
    pub dir_opts: WriterOptions,
    /// Relative path → object ID of everything written (for diagnostics).
    pub oids: BTreeMap<String, String>,
    /// Relative path of a directory → its directory object bytes.
    pub dir_bytes: BTreeMap<String, Vec<u8>>,
}

fn ns(md: &std::fs::Metadata) -> i64 {
    md.mtime() * 1_000_000_000 + md.mtime_nsec()
}

fn base_entry(name: &[u8], md: &std::fs::Metadata, t: EntryType) -> DirEntry {
    DirEntry {
        name: name.to_vec(),
        entry_type: t,
        mode: Permissions::from_posix(md.mode() & 0o7777),
        mtime: ns(md),
        uid: md.uid(),
        gid: md.gid(),
        ..DirEntry::default()
    }
}

impl Rebuild<'_> {
    /// Snapshots directory `dir` (relative path `rel`, `""` for the root) and returns its
    /// entry named `name`.
    pub fn dir(&mut self, dir: &Path, rel: &str, name: &[u8]) -> Result<DirEntry, String> {
        let mut b = DirManifestBuilder::new();
        let children = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for child in children {
            let child = child.map_err(|e| e.to_string())?;
            let path = child.path();
            let md = std::fs::symlink_metadata(&path).map_err(|e| e.to_string())?;
            let cname = child.file_name().as_bytes().to_vec();
            let crel = if rel.is_empty() {
                String::from_utf8_lossy(&cname).into_owned()
            } else {
                format!("{rel}/{}", String::from_utf8_lossy(&cname))
            };
            let e = if md.is_dir() {
                self.dir(&path, &crel, &cname)?
            } else if md.file_type().is_symlink() {
                let target = std::fs::read_link(&path).map_err(|e| e.to_string())?;
                let target = target.as_os_str().as_bytes();
                let mut e = base_entry(&cname, &md, EntryType::Symlink);
                e.size = target.len() as i64;
                e.object_id = write_object(self.sink, self.symlink_opts.clone(), target)
                    .map_err(|e| e.to_string())?
                    .to_string();
                e
            } else if md.is_file() {
                let data = std::fs::read(&path).map_err(|e| e.to_string())?;
                let comp = compressor_for_file(&self.compression, &cname, md.len());
                let mut w = ObjectWriter::new(self.file_opts.clone().with_compression(comp));
                w.write(self.sink, &data).map_err(|e| e.to_string())?;
                let mut e = base_entry(&cname, &md, EntryType::File);
                e.size = data.len() as i64;
                e.object_id = w.finish(self.sink).map_err(|e| e.to_string())?.to_string();
                e
            } else {
                return Err(format!("{}: unexpected file type", path.display()));
            };
            self.oids.insert(crel, e.object_id.clone());
            b.add_entry(e);
        }
        let md = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
        let manifest = b.build(ns(&md), "");
        let bytes = manifest.to_json();
        let oid =
            write_object(self.sink, self.dir_opts.clone(), &bytes).map_err(|e| e.to_string())?;
        let mut e = base_entry(name, &md, EntryType::Directory);
        e.object_id = oid.to_string();
        e.summary = manifest.summary;
        self.dir_bytes.insert(rel.to_string(), bytes);
        Ok(e)
    }
}

/// Step 6: rebuild the snapshot from the tree with kopia-proto only and compare root
/// entry, every object ID, every directory's bytes, the content set and compression
/// decisions with kopia's. Returns a one-line summary.
#[allow(clippy::too_many_arguments)]
pub fn check_rebuild(
    tree: &Path,
    dir: &Path,
    expect: &Value,
    cfg: &RepositoryConfig,
    hash: &HashFunction,
    policy: &Policy,
    snap: &SnapshotManifest,
    live: &[IndexEntry],
    contents: &mut Contents,
) -> String {
    let legacy = cfg.effective_index_version() == 1;
    let mut sink = HashSink::new(hash.clone(), legacy);
    if legacy {
        // Map every `Z` chunk kopia stored to the hash of its uncompressed bytes.
        let mut z = Vec::new();
        for (key, rel) in expect["objects"].as_object().unwrap() {
            let bytes = std::fs::read(dir.join(s(rel))).unwrap();
            if key.starts_with('I') || !bytes.starts_with(b"{\"stream\":\"kopia:indirect\"") {
                continue;
            }
            z.extend(decode_index(&bytes).unwrap().into_iter().map(|e| e.object));
        }
        z.extend(
            expect["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| s(&e["obj"]).parse::<ObjectId>().unwrap()),
        );
        for oid in z.into_iter().filter(ObjectId::is_compressed) {
            let data = read_object(contents, oid).unwrap();
            sink.z_oracle
                .insert(hash.hash(&data).as_bytes().to_vec(), oid.content_id());
        }
    }
    let meta = header_of(&policy.metadata_compression.compressor_name);
    let base = WriterOptions::new(&cfg.splitter).unwrap();
    let mut r = Rebuild {
        sink: &mut sink,
        file_opts: base
            .clone()
            .with_splitter(&policy.splitter.algorithm)
            .with_metadata_compression(meta),
        compression: policy.compression.clone(),
        symlink_opts: base.clone().with_metadata_compression(meta),
        dir_opts: base
            .with_prefix(Some(b'k'))
            .unwrap()
            .with_compression(meta)
            .with_metadata_compression(meta),
        oids: BTreeMap::new(),
        dir_bytes: BTreeMap::new(),
    };
    let root_name = tree.file_name().unwrap().as_bytes();
    let root = r
        .dir(tree, "", root_name)
        .unwrap_or_else(|e| panic!("rebuild: {e}"));

    // Per entry and per directory first: precise failure messages.
    let objects = expect["objects"].as_object().unwrap();
    for e in expect["entries"].as_array().unwrap() {
        let path = s(&e["path"]);
        assert_eq!(
            r.oids.get(path).map(String::as_str),
            Some(s(&e["obj"])),
            "{path}: object ID"
        );
    }
    for (rel, bytes) in &r.dir_bytes {
        let oid = if rel.is_empty() {
            root.object_id.as_str()
        } else {
            r.oids[rel].as_str()
        };
        let want = std::fs::read(dir.join(s(&objects[oid]))).unwrap();
        assert!(
            *bytes == want,
            "directory /{rel}: {}",
            first_difference(bytes, &want)
        );
    }
    assert_eq!(
        root.object_id,
        s(&expect["snapshot"]["root_oid"]),
        "root object ID"
    );
    let want_root = snap.root_entry.as_ref().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&root.to_json()),
        String::from_utf8_lossy(&want_root.to_json())
    );
    assert_eq!(&root, want_root);
    let substituted = r.sink.z_substituted;

    // The rebuilt contents are exactly kopia's non-manifest contents, and kopia kept the
    // same compression decision for each.
    let kopia: BTreeMap<ContentId, &IndexEntry> = live
        .iter()
        .filter(|e| e.content_id.prefix() != Some(b'm'))
        .map(|e| (e.content_id, e))
        .collect();
    let ours: BTreeSet<&ContentId> = sink.stored.keys().collect();
    let theirs: BTreeSet<&ContentId> = kopia.keys().collect();
    assert_eq!(ours, theirs, "rebuilt content set vs kopia's");
    // Compressed bytes differ between kopia's Go encoders and ours, so the keep-or-discard
    // decision may differ where the frame overhead dominates: inputs of at most
    // TINY bytes that only kopia-proto manages to shrink. Everything else must agree.
    const TINY: usize = 256;
    let (mut differing, mut tiny) = (Vec::new(), Vec::new());
    for (id, st) in &sink.stored {
        let theirs = kopia[id].compression_header_id;
        if theirs == st.recorded {
            continue;
        }
        if theirs == 0 && Some(st.recorded) == st.requested && st.len <= TINY {
            tiny.push(format!("{:#x}:{}B", st.recorded, st.len));
            continue;
        }
        differing.push(format!(
            "{id} ({} bytes): requested {:?}, kopia recorded {theirs:#x}, kopia-proto would record {:#x}",
            st.len, st.requested, st.recorded
        ));
    }
    assert!(
        differing.is_empty(),
        "compression decisions:\n{}",
        differing.join("\n")
    );
    let mut note = format!("root rebuilt; {} contents", sink.stored.len());
    if !tiny.is_empty() {
        note += &format!(
            ", {} tiny ones that only kopia-proto compresses ({})",
            tiny.len(),
            tiny.join(" ")
        );
    }
    if legacy {
        note += &format!(", {substituted} Z chunk IDs from kopia's compressed bytes");
    }
    note
}
