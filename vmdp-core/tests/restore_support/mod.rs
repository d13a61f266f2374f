//! Builders for restore/verify/diff tests: trees written into a MemoryRepository
//! with kopia-proto's object writer and directory builder.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use vmdp_core::proto::hashing::HashFunction;
use vmdp_core::proto::ids::{ContentId, IdError, ObjectId};
use vmdp_core::proto::manifest::{
    DirEntry, DirManifest, DirManifestBuilder, EntryType, Permissions, SnapshotManifest, SourceInfo,
};
use vmdp_core::proto::object::{
    ContentSink, IndirectEntry, WriterOptions, encode_index, write_object,
};
use vmdp_core::repo::MemoryRepository;
use vmdp_core::{RepoParameters, Repository};

pub const SECRET: [u8; 32] = [7u8; 32];

pub fn repo() -> Arc<MemoryRepository> {
    Arc::new(
        MemoryRepository::new(RepoParameters {
            hash_function: "BLAKE2B-256-128".into(),
            hmac_secret: SECRET.to_vec(),
            splitter: "DYNAMIC-4M-BUZHASH".into(),
            supports_content_compression: true,
        })
        .unwrap(),
    )
}

pub fn dynrepo(r: &Arc<MemoryRepository>) -> Arc<dyn Repository> {
    r.clone()
}

/// A synchronous sink that hashes like the repository and remembers the chunks.
struct CollectSink {
    hasher: HashFunction,
    out: Vec<(Option<u8>, Vec<u8>)>,
}

impl ContentSink for CollectSink {
    type Error = IdError;
    fn put(
        &mut self,
        prefix: Option<u8>,
        data: &[u8],
        _c: Option<u32>,
    ) -> Result<ContentId, IdError> {
        let id = self.hasher.content_id(prefix, data)?;
        self.out.push((prefix, data.to_vec()));
        Ok(id)
    }
}

/// Writes `data` as an object with kopia's writer (repository splitter).
pub async fn write_obj(repo: &MemoryRepository, prefix: Option<u8>, data: &[u8]) -> ObjectId {
    let mut sink = CollectSink {
        hasher: HashFunction::new("BLAKE2B-256-128", &SECRET).unwrap(),
        out: Vec::new(),
    };
    let opts = WriterOptions::new("DYNAMIC-4M-BUZHASH")
        .unwrap()
        .with_prefix(prefix)
        .unwrap();
    let id = write_object(&mut sink, opts, data).unwrap();
    for (p, d) in sink.out {
        repo.write_content(p, Bytes::from(d), 0).await.unwrap();
    }
    id
}

/// Stores one content and returns its direct object ID.
pub async fn put(repo: &MemoryRepository, prefix: Option<u8>, data: &[u8]) -> ObjectId {
    ObjectId::direct(
        repo.write_content(prefix, Bytes::copy_from_slice(data), 0)
            .await
            .unwrap(),
    )
}

/// Stores `entries` as an index object; returns the `I…` ID.
pub async fn put_index(repo: &MemoryRepository, entries: &[IndirectEntry]) -> ObjectId {
    ObjectId::indirect(put(repo, Some(b'x'), &encode_index(entries)).await).unwrap()
}

/// Stores a (possibly hostile) directory object as given.
pub async fn put_dir(repo: &MemoryRepository, m: &DirManifest) -> ObjectId {
    write_obj(repo, Some(b'k'), &m.to_json()).await
}

/// A tree to write.
pub enum Node {
    File {
        data: Vec<u8>,
        mode: u32,
        mtime: i64,
        uid: u32,
        gid: u32,
    },
    Dir {
        children: Vec<(String, Node)>,
        mode: u32,
        mtime: i64,
    },
    Symlink {
        target: String,
        mtime: i64,
    },
}

pub fn file(data: &[u8], mode: u32, mtime: i64) -> Node {
    Node::File {
        data: data.to_vec(),
        mode,
        mtime,
        uid: 0,
        gid: 0,
    }
}

pub fn dir(mode: u32, mtime: i64, children: Vec<(&str, Node)>) -> Node {
    Node::Dir {
        children: children
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect(),
        mode,
        mtime,
    }
}

pub fn symlink(target: &str, mtime: i64) -> Node {
    Node::Symlink {
        target: target.to_string(),
        mtime,
    }
}

/// Writes `node` and returns its entry named `name` (directories with summaries).
pub fn write_tree<'a>(
    repo: &'a MemoryRepository,
    name: &'a str,
    node: &'a Node,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = DirEntry> + 'a>> {
    Box::pin(async move {
        match node {
            Node::File {
                data,
                mode,
                mtime,
                uid,
                gid,
            } => DirEntry {
                name: name.as_bytes().to_vec(),
                entry_type: EntryType::File,
                mode: Permissions::from_posix(*mode),
                size: data.len() as i64,
                mtime: *mtime,
                uid: *uid,
                gid: *gid,
                object_id: write_obj(repo, None, data).await.to_string(),
                summary: None,
            },
            Node::Symlink { target, mtime } => DirEntry {
                name: name.as_bytes().to_vec(),
                entry_type: EntryType::Symlink,
                mode: Permissions::from_posix(0o777),
                size: target.len() as i64,
                mtime: *mtime,
                object_id: write_obj(repo, None, target.as_bytes()).await.to_string(),
                ..DirEntry::default()
            },
            Node::Dir {
                children,
                mode,
                mtime,
            } => {
                let mut b = DirManifestBuilder::new();
                for (n, c) in children {
                    b.add_entry(write_tree(repo, n, c).await);
                }
                let m = b.build(*mtime, "");
                let id = put_dir(repo, &m).await;
                DirEntry {
                    name: name.as_bytes().to_vec(),
                    entry_type: EntryType::Directory,
                    mode: Permissions::from_posix(*mode),
                    mtime: *mtime,
                    object_id: id.to_string(),
                    summary: m.summary,
                    ..DirEntry::default()
                }
            }
        }
    })
}

/// A directory entry for a hand-made directory object.
pub fn dir_entry(name: &str, id: ObjectId) -> DirEntry {
    DirEntry {
        name: name.as_bytes().to_vec(),
        entry_type: EntryType::Directory,
        mode: Permissions::from_posix(0o755),
        mtime: 1_600_000_000_000_000_000,
        object_id: id.to_string(),
        ..DirEntry::default()
    }
}

/// A raw manifest with the given entries (no validation, no sorting).
pub fn raw_dir(entries: Vec<DirEntry>) -> DirManifest {
    DirManifest {
        stream_type: "kopia:directory".into(),
        entries,
        summary: None,
    }
}

/// A file entry pointing at `id`.
pub fn file_entry(name: &[u8], id: ObjectId, size: i64) -> DirEntry {
    DirEntry {
        name: name.to_vec(),
        entry_type: EntryType::File,
        mode: Permissions::from_posix(0o644),
        size,
        mtime: 1_600_000_000_000_000_000,
        object_id: id.to_string(),
        ..DirEntry::default()
    }
}

/// Saves a snapshot manifest for `root` and returns its manifest ID.
pub async fn save_snapshot(
    repo: &MemoryRepository,
    source: &SourceInfo,
    root: &DirEntry,
    start: i64,
    incomplete: &str,
) -> String {
    let m = SnapshotManifest {
        source: source.clone(),
        description: String::new(),
        start_time: start,
        end_time: start + 1_000_000_000,
        incomplete_reason: incomplete.to_string(),
        root_entry: Some(root.clone()),
        ..SnapshotManifest::default()
    };
    repo.put_manifest(&m.labels().unwrap(), &m.to_json())
        .await
        .unwrap()
}
