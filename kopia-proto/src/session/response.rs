//! Decoding session responses into typed results or [`SessionError`]s.
//!
//! Every answer from the server is untrusted: garbled bytes, a response type that
//! does not match the request, missing sub-messages or unparsable IDs all become
//! errors, never panics.

use prost::Message as _;
use prost::bytes::{Buf, Bytes};

use super::MAX_MESSAGE_SIZE;
use super::error::SessionError;
use super::pb::{
    ContentInfo, ManifestEntryMetadata, RepositoryParameters, SessionResponse,
    session_response::Response,
};
use super::request::RequestKind;
use crate::ids::ContentId;

/// Decodes one `SessionResponse` message (the gRPC frame payload).
///
/// Passing [`Bytes`] makes the `bytes` fields share the buffer instead of copying.
pub fn decode_response(buf: impl Buf) -> Result<SessionResponse, SessionError> {
    let size = buf.remaining();
    if size > MAX_MESSAGE_SIZE {
        return Err(SessionError::TooLarge {
            what: "response",
            size,
            limit: MAX_MESSAGE_SIZE,
        });
    }
    Ok(SessionResponse::decode(buf)?)
}

/// A manifest as returned by `get_manifest`.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestPayload {
    /// ID, modification time, length and labels.
    pub metadata: ManifestEntryMetadata,
    /// The payload JSON as stored (compact).
    pub json_data: Bytes,
}

/// One answer to `find_manifests`.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestPage {
    /// The manifests of this page.
    pub entries: Vec<ManifestEntryMetadata>,
    /// More pages with the same request ID follow.
    pub has_more: bool,
}

fn malformed(kind: RequestKind, reason: impl Into<String>) -> SessionError {
    SessionError::Malformed {
        kind,
        reason: reason.into(),
    }
}

fn parse_content_id(kind: RequestKind, s: &str) -> Result<ContentId, SessionError> {
    s.parse()
        .map_err(|e| malformed(kind, format!("bad content ID: {e}")))
}

impl SessionResponse {
    /// The type of this response; `None` for an error or an unset/unknown oneof.
    pub fn kind(&self) -> Option<RequestKind> {
        self.response.as_ref().and_then(RequestKind::of_response)
    }

    /// The response oneof, or the server's error mapped to a [`SessionError`];
    /// an unset (or unknown to us) oneof gives [`SessionError::UnknownResponse`].
    pub fn into_result(self) -> Result<Response, SessionError> {
        match self.response {
            Some(Response::Error(e)) => Err(SessionError::from_error_response(e)),
            Some(r) => Ok(r),
            None => Err(SessionError::UnknownResponse {
                request_id: self.request_id,
            }),
        }
    }

    /// Like [`SessionResponse::into_result`], and also checks that the response has
    /// type `expected` and that `has_more` is set only on paged (`find_manifests`)
    /// answers.
    pub fn expect(self, expected: RequestKind) -> Result<Response, SessionError> {
        let has_more = self.has_more;
        let r = self.into_result()?;
        match RequestKind::of_response(&r) {
            Some(got) if got != expected => Err(SessionError::UnexpectedResponse { expected, got }),
            _ if has_more && !expected.is_paged() => Err(malformed(
                expected,
                "has_more is set on a request that has exactly one answer",
            )),
            _ => Ok(r),
        }
    }

    /// Answer to `initialize_session`: the repository parameters (required).
    pub fn into_initialize_session(self) -> Result<RepositoryParameters, SessionError> {
        const K: RequestKind = RequestKind::InitializeSession;
        let Response::InitializeSession(r) = self.expect(K)? else {
            return Err(malformed(K, "wrong variant"));
        };
        let p = r.parameters.ok_or_else(|| malformed(K, "no parameters"))?;
        if p.hash_function.is_empty() {
            return Err(malformed(K, "empty hash_function"));
        }
        if p.splitter.is_empty() {
            return Err(malformed(K, "empty splitter"));
        }
        Ok(p)
    }

    /// Answer to `get_content_info`: the content's index entry (required).
    pub fn into_get_content_info(self) -> Result<ContentInfo, SessionError> {
        const K: RequestKind = RequestKind::GetContentInfo;
        let Response::GetContentInfo(r) = self.expect(K)? else {
            return Err(malformed(K, "wrong variant"));
        };
        r.info.ok_or_else(|| malformed(K, "no info"))
    }

    /// Answer to `flush`.
    pub fn into_flush(self) -> Result<(), SessionError> {
        self.expect(RequestKind::Flush).map(drop)
    }

    /// Answer to `write_content`: the content ID the server computed, parsed.
    /// Compare it with the locally computed ID (kopia: `unexpected content ID`).
    pub fn into_write_content(self) -> Result<ContentId, SessionError> {
        const K: RequestKind = RequestKind::WriteContent;
        let Response::WriteContent(r) = self.expect(K)? else {
            return Err(malformed(K, "wrong variant"));
        };
        parse_content_id(K, &r.content_id)
    }

    /// Answer to `get_content`: the plaintext bytes.
    pub fn into_get_content(self) -> Result<Bytes, SessionError> {
        const K: RequestKind = RequestKind::GetContent;
        let Response::GetContent(r) = self.expect(K)? else {
            return Err(malformed(K, "wrong variant"));
        };
        Ok(r.data)
    }

    /// Answer to `get_manifest`: payload and metadata (required).
    pub fn into_get_manifest(self) -> Result<ManifestPayload, SessionError> {
        const K: RequestKind = RequestKind::GetManifest;
        let Response::GetManifest(r) = self.expect(K)? else {
            return Err(malformed(K, "wrong variant"));
        };
        let metadata = r.metadata.ok_or_else(|| malformed(K, "no metadata"))?;
        Ok(ManifestPayload {
            metadata,
            json_data: r.json_data,
        })
    }

    /// Answer to `put_manifest`: the ID the server assigned (non-empty).
    pub fn into_put_manifest(self) -> Result<String, SessionError> {
        const K: RequestKind = RequestKind::PutManifest;
        let Response::PutManifest(r) = self.expect(K)? else {
            return Err(malformed(K, "wrong variant"));
        };
        if r.manifest_id.is_empty() {
            return Err(malformed(K, "empty manifest_id"));
        }
        Ok(r.manifest_id)
    }

    /// One page of the answer to `find_manifests`; keep reading responses with the
    /// same request ID while [`ManifestPage::has_more`] is true.
    pub fn into_find_manifests(self) -> Result<ManifestPage, SessionError> {
        const K: RequestKind = RequestKind::FindManifests;
        let has_more = self.has_more;
        let Response::FindManifests(r) = self.expect(K)? else {
            return Err(malformed(K, "wrong variant"));
        };
        Ok(ManifestPage {
            entries: r.metadata,
            has_more,
        })
    }

    /// Answer to `delete_manifest`.
    pub fn into_delete_manifest(self) -> Result<(), SessionError> {
        self.expect(RequestKind::DeleteManifest).map(drop)
    }

    /// Answer to `prefetch_contents`: the IDs the server actually prefetched.
    pub fn into_prefetch_contents(self) -> Result<Vec<ContentId>, SessionError> {
        const K: RequestKind = RequestKind::PrefetchContents;
        let Response::PrefetchContents(r) = self.expect(K)? else {
            return Err(malformed(K, "wrong variant"));
        };
        r.content_ids
            .iter()
            .map(|s| parse_content_id(K, s))
            .collect()
    }

    /// Answer to `apply_retention_policy`: IDs of the snapshot manifests that were
    /// (or, without `really_delete`, would be) deleted.
    pub fn into_apply_retention_policy(self) -> Result<Vec<String>, SessionError> {
        const K: RequestKind = RequestKind::ApplyRetentionPolicy;
        let Response::ApplyRetentionPolicy(r) = self.expect(K)? else {
            return Err(malformed(K, "wrong variant"));
        };
        Ok(r.manifest_ids)
    }

    /// Answer to `send_notification`.
    pub fn into_send_notification(self) -> Result<(), SessionError> {
        self.expect(RequestKind::SendNotification).map(drop)
    }
}

#[cfg(test)]
mod tests;
