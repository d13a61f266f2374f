//! An in-memory [`Repository`], for unit tests of code written against the trait.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use kopia_proto::hashing::HashFunction;
use kopia_proto::ids::ContentId;
use kopia_proto::manifest::SourceInfo;

use super::{ContentInfo, Labels, ManifestEntry, ManifestId, RepoParameters, Repository};
use crate::{Error, Result};

/// A repository held in memory: contents by ID and manifests by ID.
///
/// Behaves like a kopia repository for IDs (same keyed hash), so code tested
/// against it computes the same object IDs as against a real server. It does
/// not evaluate retention policies: [`Repository::apply_retention_policy`]
/// records the request ([`MemoryRepository::retention_requests`]) and expires
/// nothing, as if every snapshot were kept.
pub struct MemoryRepository {
    params: RepoParameters,
    hasher: HashFunction,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    contents: HashMap<ContentId, Bytes>,
    manifests: HashMap<ManifestId, ManifestEntry>,
    clock: i64,
    retention_requests: Vec<(SourceInfo, bool)>,
}

impl MemoryRepository {
    /// Creates an empty repository with the given parameters.
    pub fn new(params: RepoParameters) -> Result<Self> {
        let hasher = HashFunction::new(&params.hash_function, &params.hmac_secret)
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        Ok(MemoryRepository {
            params,
            hasher,
            state: Mutex::new(State::default()),
        })
    }

    /// Number of stored contents (for assertions on dedup).
    pub fn content_count(&self) -> usize {
        self.lock().contents.len()
    }

    /// Removes a content (to test how readers handle a missing content); returns
    /// whether it existed.
    pub fn remove_content(&self, id: &ContentId) -> bool {
        self.lock().contents.remove(id).is_some()
    }

    /// Stores `data` under `id` without hashing it (to simulate a corrupt content).
    pub fn put_raw_content(&self, id: ContentId, data: Bytes) {
        self.lock().contents.insert(id, data);
    }

    /// Every `apply_retention_policy` call so far: the source and `really_delete`.
    pub fn retention_requests(&self) -> Vec<(SourceInfo, bool)> {
        self.lock().retention_requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Repository for MemoryRepository {
    fn parameters(&self) -> &RepoParameters {
        &self.params
    }

    async fn content_info(&self, id: &ContentId) -> Result<Option<ContentInfo>> {
        Ok(self.lock().contents.get(id).map(|d| ContentInfo {
            id: *id,
            original_length: d.len() as u32,
            packed_length: d.len() as u32,
            timestamp_seconds: 0,
            deleted: false,
        }))
    }

    async fn get_content(&self, id: &ContentId) -> Result<Bytes> {
        self.lock()
            .contents
            .get(id)
            .cloned()
            .ok_or(Error::ContentNotFound(*id))
    }

    async fn write_content(
        &self,
        prefix: Option<u8>,
        data: Bytes,
        _compression: u32,
    ) -> Result<ContentId> {
        let id = self
            .hasher
            .content_id(prefix, &data)
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.lock().contents.entry(id).or_insert(data);
        Ok(id)
    }

    async fn flush(&self) -> Result<()> {
        Ok(())
    }

    async fn put_manifest(&self, labels: &Labels, payload: &[u8]) -> Result<ManifestId> {
        if labels.get("type").is_none_or(|t| t.is_empty()) {
            return Err(Error::InvalidInput("'type' label is required".into()));
        }
        let id = hex::encode(rand::random::<[u8; 16]>());
        let mut st = self.lock();
        st.clock += 1;
        let entry = ManifestEntry {
            id: id.clone(),
            labels: labels.clone(),
            mod_time_nanos: st.clock,
            payload: Bytes::copy_from_slice(payload),
        };
        st.manifests.insert(id.clone(), entry);
        Ok(id)
    }

    async fn get_manifest(&self, id: &str) -> Result<ManifestEntry> {
        self.lock()
            .manifests
            .get(id)
            .cloned()
            .ok_or_else(|| Error::ManifestNotFound(id.to_string()))
    }

    async fn find_manifests(&self, labels: &Labels) -> Result<Vec<ManifestEntry>> {
        let st = self.lock();
        let mut found: Vec<ManifestEntry> = st
            .manifests
            .values()
            .filter(|m| labels.iter().all(|(k, v)| m.labels.get(k) == Some(v)))
            .map(|m| ManifestEntry {
                payload: Bytes::new(),
                ..m.clone()
            })
            .collect();
        found.sort_by_key(|m| m.mod_time_nanos);
        Ok(found)
    }

    async fn apply_retention_policy(
        &self,
        source: &SourceInfo,
        really_delete: bool,
    ) -> Result<Vec<ManifestId>> {
        self.lock()
            .retention_requests
            .push((source.clone(), really_delete));
        Ok(Vec::new())
    }

    async fn delete_manifest(&self, id: &str) -> Result<()> {
        self.lock()
            .manifests
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| Error::ManifestNotFound(id.to_string()))
    }
}
