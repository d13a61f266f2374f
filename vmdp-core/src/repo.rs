//! The repository abstraction every higher-level operation is written against.

mod memory;

use std::collections::BTreeMap;

use async_trait::async_trait;
use bytes::Bytes;
use kopia_proto::ids::ContentId;
use kopia_proto::manifest::SourceInfo;

use crate::{Error, Result};

pub use memory::MemoryRepository;

/// Manifest labels (`type`, `hostname`, `username`, `path`, ...), sorted like kopia's.
pub type Labels = BTreeMap<String, String>;

/// A manifest ID: 32 lower-case hex characters assigned by the repository.
pub type ManifestId = String;

/// Parameters of an open repository that decide content and object IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoParameters {
    /// Name of the keyed hash function, e.g. `BLAKE2B-256-128`.
    pub hash_function: String,
    /// The key of that hash function (the repository's HMAC secret).
    pub hmac_secret: Vec<u8>,
    /// The repository default splitter, e.g. `DYNAMIC-4M-BUZHASH`.
    pub splitter: String,
    /// True when contents may be compressed at content level (index v2).
    pub supports_content_compression: bool,
}

/// What the repository knows about one stored content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentInfo {
    /// The content's ID.
    pub id: ContentId,
    /// Plaintext length in bytes.
    pub original_length: u32,
    /// Stored length (after compression and encryption).
    pub packed_length: u32,
    /// Unix seconds when the content was written.
    pub timestamp_seconds: i64,
    /// Marked deleted by maintenance but still indexed; treat as absent for dedup.
    pub deleted: bool,
}

/// A manifest's metadata and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The manifest ID.
    pub id: ManifestId,
    /// Its labels.
    pub labels: Labels,
    /// Modification time, Unix nanoseconds (UTC).
    pub mod_time_nanos: i64,
    /// Payload JSON as stored (empty in results of [`Repository::find_manifests`]).
    pub payload: Bytes,
}

/// An open Kopia repository: contents addressed by keyed hash, and manifests.
///
/// Cheap to share (`Arc<dyn Repository>`); all methods take `&self` and may be
/// called concurrently. Writes become durable only after [`Repository::flush`].
#[async_trait]
pub trait Repository: Send + Sync {
    /// Hash function, secret and splitter that content and object IDs depend on.
    fn parameters(&self) -> &RepoParameters;

    /// Information about a content, or `None` if the repository does not have it.
    async fn content_info(&self, id: &ContentId) -> Result<Option<ContentInfo>>;

    /// The plaintext bytes of a content.
    async fn get_content(&self, id: &ContentId) -> Result<Bytes>;

    /// Stores plaintext `data` under `prefix` (compressed with `compression`,
    /// a kopia header ID, 0 = none) and returns its content ID. Idempotent, but
    /// the data is sent even when the repository has it: callers holding large
    /// contents ask [`Repository::content_info`] first (as the snapshot writer does).
    async fn write_content(
        &self,
        prefix: Option<u8>,
        data: Bytes,
        compression: u32,
    ) -> Result<ContentId>;

    /// [`Repository::write_content`] for data whose content ID the caller already
    /// computed with this repository's [`RepoParameters`], so that it is not hashed a
    /// second time on this side. An `id` that does not match the data is an error,
    /// reported by this call or, for asynchronous writes, by the next flush.
    async fn write_content_with_id(
        &self,
        id: ContentId,
        data: Bytes,
        compression: u32,
    ) -> Result<()> {
        let stored = self.write_content(id.prefix(), data, compression).await?;
        if stored != id {
            return Err(Error::Repository(format!(
                "repository stored content as {stored}, expected {id}: hash parameters differ"
            )));
        }
        Ok(())
    }

    /// Makes every write and manifest change so far durable and visible to others.
    async fn flush(&self) -> Result<()>;

    /// Stores a new manifest and returns the ID the repository assigned.
    async fn put_manifest(&self, labels: &Labels, payload: &[u8]) -> Result<ManifestId>;

    /// Reads one manifest, payload included.
    async fn get_manifest(&self, id: &str) -> Result<ManifestEntry>;

    /// All live manifests whose labels include every given label, oldest first
    /// (payloads left empty).
    async fn find_manifests(&self, labels: &Labels) -> Result<Vec<ManifestEntry>>;

    /// Deletes a manifest.
    async fn delete_manifest(&self, id: &str) -> Result<()>;

    /// Applies the retention policy of `source` to its snapshots (kopia's
    /// `policy.ApplyRetentionPolicy`, which `kopia snapshot create` runs after
    /// saving each snapshot): snapshot manifests the policy does not keep are
    /// deleted when `really_delete` (durable at the next flush). Returns the IDs
    /// of the expired snapshots, deleted or not.
    ///
    /// The default fails with [`Error::Unsupported`]: evaluating retention rules
    /// in the client is not implemented, only asking a kopia server to do it.
    async fn apply_retention_policy(
        &self,
        source: &SourceInfo,
        really_delete: bool,
    ) -> Result<Vec<ManifestId>> {
        let _ = really_delete;
        Err(Error::Unsupported(format!(
            "applying the retention policy of {source} in the client is not implemented"
        )))
    }

    /// Ends the connection cleanly (waits for outstanding requests, releases
    /// server sessions). Does not replace [`Repository::flush`]. Later calls on
    /// this repository (and its clones) fail. The default does nothing.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
