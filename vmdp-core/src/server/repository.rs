//! [`ServerRepository`]: the [`Repository`] trait over a kopia server session.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use kopia_proto::hashing::HashFunction;
use kopia_proto::ids::ContentId;
use kopia_proto::manifest::SourceInfo;
use kopia_proto::session::{
    FIND_MANIFESTS_PAGE_SIZE, ManifestEntryMetadata, SessionCredentials, SessionError,
    SessionRequest, SessionResponse,
};
use tonic::transport::Endpoint;

use super::errors::{session_error, transport_error};
use super::fingerprint::Fingerprint;
use super::options::{ServerOptions, ServerStatus};
use super::pool::{MANIFEST_STREAM, StreamPool};
use super::session::Pending;
use super::tls;
use super::url::ServerUrl;
use super::writes::WriteTracker;
use crate::repo::{ContentInfo, Labels, ManifestEntry, ManifestId, RepoParameters, Repository};
use crate::{Error, Result};

/// A repository reached through a kopia server.
///
/// Cheap to clone (`Arc` inside), `Send + Sync`. Requests are pipelined on a
/// small pool of session streams sharing one HTTP/2 connection
/// ([`ServerOptions::streams`]; extra streams are opened only when requests
/// run concurrently). Each stream is its own server-side write session, so
/// reads of an unflushed content go to the stream that wrote it, manifest
/// requests all go to the first stream, and a flush flushes the other streams
/// before the first one (a snapshot manifest never becomes durable before its
/// contents). Idempotent reads are re-sent on a new stream after their stream
/// breaks; writes are not, and the next flush reports that unflushed writes
/// may be lost.
#[derive(Clone)]
pub struct ServerRepository {
    inner: Arc<Inner>,
}

struct Inner {
    url: ServerUrl,
    fingerprint: Option<Fingerprint>,
    identity: String,
    read_only: bool,
    params: RepoParameters,
    hasher: HashFunction,
    pool: Arc<StreamPool>,
    writes: Arc<WriteTracker>,
}

impl ServerRepository {
    /// Connects, authenticates and initializes a session.
    ///
    /// Fails with [`Error::CertificateMismatch`] (nothing sent),
    /// [`Error::AuthenticationFailed`] (never retried), [`Error::Transport`] or
    /// [`Error::InvalidInput`] for a bad URL, fingerprint or credential.
    pub async fn connect(options: ServerOptions) -> Result<ServerRepository> {
        let url = ServerUrl::parse(&options.url)?;
        let fingerprint = match options.fingerprint.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(Fingerprint::parse(s)?),
        };
        let creds =
            SessionCredentials::new(&options.username, &options.hostname, &options.password)
                .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let tls_config = tls::client_config(fingerprint)?;
        let endpoint = Endpoint::from_shared(format!("https://{}", url.authority()))
            .map_err(|e| Error::InvalidInput(format!("server address {url}: {e}")))?
            .connect_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true)
            .initial_stream_window_size(Some(8 << 20))
            .initial_connection_window_size(Some(32 << 20));
        let channel = endpoint
            .connect_with_connector(tls::connector(url.clone(), tls_config))
            .await
            .map_err(|e| transport_error(&e, url.as_str()))?;
        let identity = creds.identity();
        let pool = StreamPool::open(
            channel,
            creds,
            options.purpose,
            options.read_only,
            url.clone(),
            options.streams,
        )
        .await?;
        let p = pool.params();
        let params = RepoParameters {
            hash_function: p.hash_function.clone(),
            hmac_secret: p.hmac_secret.to_vec(),
            splitter: p.splitter.clone(),
            supports_content_compression: p.supports_content_compression,
        };
        let hasher =
            HashFunction::new(&params.hash_function, &params.hmac_secret).map_err(|e| {
                Error::Unsupported(format!(
                    "server {url} uses hash function {:?}: {e}",
                    params.hash_function
                ))
            })?;
        tracing::debug!(server = %url, %identity, "session established");
        Ok(ServerRepository {
            inner: Arc::new(Inner {
                url,
                fingerprint,
                identity,
                read_only: options.read_only,
                params,
                hasher,
                pool,
                writes: Arc::new(WriteTracker::new(options.write_budget)),
            }),
        })
    }

    /// Connection facts for display (URL, identity, pin, repository parameters).
    pub fn status(&self) -> ServerStatus {
        let i = &self.inner;
        ServerStatus {
            url: i.url.to_string(),
            identity: i.identity.clone(),
            fingerprint: i.fingerprint.map(|f| f.to_string()),
            hash_function: i.params.hash_function.clone(),
            splitter: i.params.splitter.clone(),
            supports_content_compression: i.params.supports_content_compression,
            read_only: i.read_only,
        }
    }

    /// The server URL.
    pub fn url(&self) -> &ServerUrl {
        &self.inner.url
    }

    /// The identity `user@host` this client authenticates as.
    pub fn identity(&self) -> String {
        self.inner.identity.clone()
    }

    /// Number of writes whose answer has not arrived yet.
    pub fn outstanding_writes(&self) -> usize {
        self.inner.writes.outstanding()
    }

    /// Number of session streams currently open (at most [`ServerOptions::streams`];
    /// extra streams open only when requests run concurrently).
    pub fn open_streams(&self) -> usize {
        self.inner.pool.open_streams()
    }

    /// Requests sent on each stream so far (index 0: the stream that carries
    /// the manifest requests), for diagnostics.
    pub fn requests_per_stream(&self) -> Vec<u64> {
        self.inner.pool.requests_sent()
    }

    fn check_writable(&self, what: &str) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::InvalidInput(format!(
                "cannot {what}: the repository is connected read-only"
            )));
        }
        Ok(())
    }

    fn local_id(&self, prefix: Option<u8>, data: &[u8]) -> Result<ContentId> {
        check_prefix(prefix)?;
        self.inner
            .hasher
            .content_id(prefix, data)
            .map_err(|e| Error::InvalidInput(format!("content ID: {e}")))
    }

    /// Sends `write_content` for content `id` and returns once it is sent; the
    /// answer is checked in the background (failures are reported by the next flush).
    async fn send_write(&self, id: ContentId, data: Bytes, compression: u32) -> Result<()> {
        self.check_writable("write content")?;
        if compression != 0 && !self.inner.params.supports_content_compression {
            return Err(Error::InvalidInput(format!(
                "compression {compression:#x} requested but the repository does not support \
                 content-level compression (index v1)"
            )));
        }
        let prefix = id.prefix();
        let guard = self.inner.writes.begin(id, data.len()).await;
        let ctx = format!("write content {id}");
        let pool = &self.inner.pool;
        // A rewrite of an unflushed content goes where the server already has it.
        let stream = pool.pick(Some(&id));
        pool.pin(id, stream);
        let (_, mut pending) = pool
            .send(
                stream,
                |rid| SessionRequest::write_content(rid, prefix, data.clone(), compression),
                true,
                &ctx,
            )
            .await?;
        let writes = self.inner.writes.clone();
        tokio::spawn(async move {
            let result = match pending.next().await.and_then(|r| r.into_write_content()) {
                Ok(got) if got == id => Ok(()),
                Ok(got) => Err(Error::Protocol(format!(
                    "server stored content as {got}, but its locally computed ID is {id}"
                ))),
                Err(e) => Err(session_error(e, &ctx)),
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "asynchronous write failed");
                writes.fail(e);
            }
            drop(guard);
        });
        Ok(())
    }
}

/// Refuses content prefixes kopia does not allow (`m` is for manifests).
fn check_prefix(prefix: Option<u8>) -> Result<()> {
    match prefix {
        None | Some(b'g'..=b'l' | b'n'..=b'z') => Ok(()),
        Some(b'm') => Err(Error::InvalidInput(
            "content prefix 'm' is reserved for manifests".into(),
        )),
        Some(p) => Err(Error::InvalidInput(format!(
            "invalid content prefix {:?}: must be one letter g..z",
            char::from(p)
        ))),
    }
}

fn to_content_info(info: kopia_proto::session::ContentInfo) -> Result<ContentInfo> {
    let id: ContentId = info.id.parse().map_err(|e| {
        Error::Protocol(format!(
            "get_content_info answer has a bad content ID {:?}: {e}",
            info.id
        ))
    })?;
    Ok(ContentInfo {
        id,
        original_length: info.original_length,
        packed_length: info.packed_length,
        timestamp_seconds: info.timestamp_seconds,
        deleted: info.deleted,
    })
}

fn to_entry(m: ManifestEntryMetadata, payload: Bytes) -> ManifestEntry {
    ManifestEntry {
        id: m.id,
        labels: m.labels.into_iter().collect(),
        mod_time_nanos: m.mod_time_nanos,
        payload,
    }
}

#[async_trait]
impl Repository for ServerRepository {
    fn parameters(&self) -> &RepoParameters {
        &self.inner.params
    }

    async fn content_info(&self, id: &ContentId) -> Result<Option<ContentInfo>> {
        self.inner.writes.wait_for(id).await;
        let ctx = format!("get info of content {id}");
        let pool = &self.inner.pool;
        let r = pool
            .read(
                pool.pick(Some(id)),
                |rid| SessionRequest::get_content_info(rid, id),
                async |p: &mut Pending| p.next().await?.into_get_content_info(),
                |e| match e {
                    SessionError::ContentNotFound { .. } => Error::ContentNotFound(*id),
                    e => session_error(e, &ctx),
                },
            )
            .await;
        match r {
            Ok(info) => to_content_info(info).map(Some),
            Err(Error::ContentNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_content(&self, id: &ContentId) -> Result<Bytes> {
        self.inner.writes.wait_for(id).await;
        let ctx = format!("get content {id}");
        let pool = &self.inner.pool;
        let data = pool
            .read(
                pool.pick(Some(id)),
                |rid| SessionRequest::get_content(rid, id),
                async |p: &mut Pending| p.next().await?.into_get_content(),
                |e| match e {
                    SessionError::ContentNotFound { .. } => Error::ContentNotFound(*id),
                    e => session_error(e, &ctx),
                },
            )
            .await?;
        let actual = self.inner.hasher.content_id(id.prefix(), &data).ok();
        if actual.as_ref() != Some(id) {
            return Err(Error::Corrupt(format!(
                "the server returned {} bytes for content {id} that hash to a different ID",
                data.len()
            )));
        }
        Ok(data)
    }

    async fn write_content(
        &self,
        prefix: Option<u8>,
        data: Bytes,
        compression: u32,
    ) -> Result<ContentId> {
        let id = self.local_id(prefix, &data)?;
        self.send_write(id, data, compression).await?;
        Ok(id)
    }

    async fn write_content_with_id(
        &self,
        id: ContentId,
        data: Bytes,
        compression: u32,
    ) -> Result<()> {
        check_prefix(id.prefix())?;
        self.send_write(id, data, compression).await
    }

    async fn flush(&self) -> Result<()> {
        let mark = self.inner.pool.flush_mark();
        self.inner.writes.wait_idle().await;
        self.inner.writes.take_failure()?;
        self.inner.pool.flush(mark).await
    }

    async fn put_manifest(&self, labels: &Labels, payload: &[u8]) -> Result<ManifestId> {
        self.check_writable("put manifest")?;
        let payload = Bytes::copy_from_slice(payload);
        let ctx = format!(
            "put manifest of type {:?}",
            labels.get("type").map(String::as_str).unwrap_or("")
        );
        let _change = self.inner.writes.begin_change();
        let resp = self
            .inner
            .pool
            .send_once(
                MANIFEST_STREAM,
                |id| SessionRequest::put_manifest(id, payload.clone(), labels.clone()),
                true,
                &ctx,
            )
            .await?;
        resp.into_put_manifest().map_err(|e| session_error(e, &ctx))
    }

    async fn get_manifest(&self, id: &str) -> Result<ManifestEntry> {
        let ctx = format!("get manifest {id}");
        let m = self
            .inner
            .pool
            .read(
                MANIFEST_STREAM,
                |rid| SessionRequest::get_manifest(rid, id),
                async |p: &mut Pending| p.next().await?.into_get_manifest(),
                |e| match e {
                    SessionError::ManifestNotFound { .. } => Error::ManifestNotFound(id.into()),
                    e => session_error(e, &ctx),
                },
            )
            .await?;
        Ok(to_entry(m.metadata, m.json_data))
    }

    async fn find_manifests(&self, labels: &Labels) -> Result<Vec<ManifestEntry>> {
        let ctx = "find manifests";
        self.inner
            .pool
            .read(
                MANIFEST_STREAM,
                |rid| SessionRequest::find_manifests(rid, labels.clone(), FIND_MANIFESTS_PAGE_SIZE),
                async |p: &mut Pending| {
                    let mut out = Vec::new();
                    loop {
                        let page = p.next().await?.into_find_manifests()?;
                        out.extend(page.entries.into_iter().map(|m| to_entry(m, Bytes::new())));
                        if !page.has_more {
                            return Ok(out);
                        }
                    }
                },
                |e| session_error(e, ctx),
            )
            .await
    }

    /// Asks the server to apply the retention policy (kopia's client does the
    /// same for its own sources). The server evaluates it for this connection's
    /// identity, so sources of other users or hosts are refused here.
    async fn apply_retention_policy(
        &self,
        source: &SourceInfo,
        really_delete: bool,
    ) -> Result<Vec<ManifestId>> {
        self.check_writable("apply retention policy")?;
        let identity = self.identity();
        if format!("{}@{}", source.user_name, source.host) != identity {
            return Err(Error::Unsupported(format!(
                "applying the retention policy of {source} as {identity}: the server only \
                 applies it to the connected user's own sources"
            )));
        }
        let ctx = format!("apply retention policy to {source}");
        let _change = really_delete.then(|| self.inner.writes.begin_change());
        let resp = self
            .inner
            .pool
            .send_once(
                MANIFEST_STREAM,
                |id| {
                    Ok(SessionRequest::apply_retention_policy(
                        id,
                        &source.path,
                        really_delete,
                    ))
                },
                really_delete,
                &ctx,
            )
            .await?;
        resp.into_apply_retention_policy()
            .map_err(|e| session_error(e, &ctx))
    }

    async fn close(&self) -> Result<()> {
        self.inner.writes.wait_idle().await;
        self.inner.pool.close().await
    }

    async fn delete_manifest(&self, id: &str) -> Result<()> {
        self.check_writable("delete manifest")?;
        let ctx = format!("delete manifest {id}");
        let _change = self.inner.writes.begin_change();
        let resp = self
            .inner
            .pool
            .send_once(
                MANIFEST_STREAM,
                |rid| Ok(SessionRequest::delete_manifest(rid, id)),
                true,
                &ctx,
            )
            .await;
        match resp.map(SessionResponse::into_delete_manifest) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(SessionError::ManifestNotFound { .. })) => {
                Err(Error::ManifestNotFound(id.into()))
            }
            Ok(Err(e)) => Err(session_error(e, &ctx)),
            Err(e) => Err(e),
        }
    }
}
