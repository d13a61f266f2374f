//! Building session requests: one constructor per request type, request IDs,
//! and the checks kopia makes before sending.

use std::fmt;

use prost::Message as _;
use prost::bytes::Bytes;

use super::MAX_MESSAGE_SIZE;
use super::error::SessionError;
use super::pb::{
    ApplyRetentionPolicyRequest, DeleteManifestRequest, FindManifestsRequest, FlushRequest,
    GetContentInfoRequest, GetContentRequest, GetManifestRequest, InitializeSessionRequest,
    NotificationEventArgType, PrefetchContentsRequest, PutManifestRequest, SendNotificationRequest,
    SessionRequest, WriteContentRequest, session_request::Request, session_response::Response,
};
use crate::ids::ContentId;

/// The request types of the protocol; responses reuse the same names and field numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `initialize_session` (10): first request of a stream.
    InitializeSession,
    /// `get_content_info` (11).
    GetContentInfo,
    /// `flush` (12).
    Flush,
    /// `write_content` (13).
    WriteContent,
    /// `get_content` (14).
    GetContent,
    /// `get_manifest` (15).
    GetManifest,
    /// `put_manifest` (16).
    PutManifest,
    /// `find_manifests` (17): the only request answered by several responses.
    FindManifests,
    /// `delete_manifest` (18).
    DeleteManifest,
    /// `prefetch_contents` (19).
    PrefetchContents,
    /// `apply_retention_policy` (20).
    ApplyRetentionPolicy,
    /// `send_notification` (21).
    SendNotification,
}

impl RequestKind {
    /// Every kind, in field-number order.
    pub const ALL: [RequestKind; 12] = [
        RequestKind::InitializeSession,
        RequestKind::GetContentInfo,
        RequestKind::Flush,
        RequestKind::WriteContent,
        RequestKind::GetContent,
        RequestKind::GetManifest,
        RequestKind::PutManifest,
        RequestKind::FindManifests,
        RequestKind::DeleteManifest,
        RequestKind::PrefetchContents,
        RequestKind::ApplyRetentionPolicy,
        RequestKind::SendNotification,
    ];

    /// The protobuf field name of this kind in both oneofs (e.g. `get_content`).
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::InitializeSession => "initialize_session",
            RequestKind::GetContentInfo => "get_content_info",
            RequestKind::Flush => "flush",
            RequestKind::WriteContent => "write_content",
            RequestKind::GetContent => "get_content",
            RequestKind::GetManifest => "get_manifest",
            RequestKind::PutManifest => "put_manifest",
            RequestKind::FindManifests => "find_manifests",
            RequestKind::DeleteManifest => "delete_manifest",
            RequestKind::PrefetchContents => "prefetch_contents",
            RequestKind::ApplyRetentionPolicy => "apply_retention_policy",
            RequestKind::SendNotification => "send_notification",
        }
    }

    /// The oneof field number, identical in `SessionRequest` and `SessionResponse` (10..=21).
    pub fn field_number(self) -> u32 {
        match self {
            RequestKind::InitializeSession => 10,
            RequestKind::GetContentInfo => 11,
            RequestKind::Flush => 12,
            RequestKind::WriteContent => 13,
            RequestKind::GetContent => 14,
            RequestKind::GetManifest => 15,
            RequestKind::PutManifest => 16,
            RequestKind::FindManifests => 17,
            RequestKind::DeleteManifest => 18,
            RequestKind::PrefetchContents => 19,
            RequestKind::ApplyRetentionPolicy => 20,
            RequestKind::SendNotification => 21,
        }
    }

    /// Whether kopia's reference client re-sends this request on a fresh stream after
    /// `STREAM_BROKEN`: `get_manifest`, `find_manifests`, `get_content_info`,
    /// `get_content` and `send_notification`. Everything else changes server state
    /// or belongs to the broken stream's session and is never retried.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            RequestKind::GetManifest
                | RequestKind::FindManifests
                | RequestKind::GetContentInfo
                | RequestKind::GetContent
                | RequestKind::SendNotification
        )
    }

    /// Whether the server may answer with several responses (`has_more`).
    pub fn is_paged(self) -> bool {
        self == RequestKind::FindManifests
    }

    /// The kind of a request oneof value.
    pub fn of_request(r: &Request) -> Self {
        match r {
            Request::InitializeSession(_) => RequestKind::InitializeSession,
            Request::GetContentInfo(_) => RequestKind::GetContentInfo,
            Request::Flush(_) => RequestKind::Flush,
            Request::WriteContent(_) => RequestKind::WriteContent,
            Request::GetContent(_) => RequestKind::GetContent,
            Request::GetManifest(_) => RequestKind::GetManifest,
            Request::PutManifest(_) => RequestKind::PutManifest,
            Request::FindManifests(_) => RequestKind::FindManifests,
            Request::DeleteManifest(_) => RequestKind::DeleteManifest,
            Request::PrefetchContents(_) => RequestKind::PrefetchContents,
            Request::ApplyRetentionPolicy(_) => RequestKind::ApplyRetentionPolicy,
            Request::SendNotification(_) => RequestKind::SendNotification,
        }
    }

    /// The kind of a response oneof value; `None` for `error`.
    pub fn of_response(r: &Response) -> Option<Self> {
        Some(match r {
            Response::Error(_) => return None,
            Response::InitializeSession(_) => RequestKind::InitializeSession,
            Response::GetContentInfo(_) => RequestKind::GetContentInfo,
            Response::Flush(_) => RequestKind::Flush,
            Response::WriteContent(_) => RequestKind::WriteContent,
            Response::GetContent(_) => RequestKind::GetContent,
            Response::GetManifest(_) => RequestKind::GetManifest,
            Response::PutManifest(_) => RequestKind::PutManifest,
            Response::FindManifests(_) => RequestKind::FindManifests,
            Response::DeleteManifest(_) => RequestKind::DeleteManifest,
            Response::PrefetchContents(_) => RequestKind::PrefetchContents,
            Response::ApplyRetentionPolicy(_) => RequestKind::ApplyRetentionPolicy,
            Response::SendNotification(_) => RequestKind::SendNotification,
        })
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Hands out request IDs for one stream: 1, 2, 3, ... like kopia.
///
/// IDs only need to be unique among a stream's outstanding requests; after
/// `i64::MAX` the sequence starts again at 1.
#[derive(Debug, Clone)]
pub struct RequestIdGen {
    next: i64,
}

impl Default for RequestIdGen {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestIdGen {
    /// A generator whose first ID is 1.
    pub fn new() -> Self {
        RequestIdGen { next: 1 }
    }

    /// Returns the next ID (never 0 or negative).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> i64 {
        let id = self.next;
        self.next = id.checked_add(1).unwrap_or(1);
        id
    }
}

/// Notification severities of `send_notification` (kopia `notification.Severity*`).
pub mod severity {
    /// Verbose messages.
    pub const VERBOSE: i32 = -100;
    /// Success reports.
    pub const SUCCESS: i32 = -10;
    /// Regular reports (the default).
    pub const REPORT: i32 = 0;
    /// Warnings.
    pub const WARNING: i32 = 10;
    /// Errors.
    pub const ERROR: i32 = 20;
}

fn labels_map<K, V>(
    labels: impl IntoIterator<Item = (K, V)>,
) -> std::collections::HashMap<String, String>
where
    K: Into<String>,
    V: Into<String>,
{
    labels
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

impl SessionRequest {
    fn wrap(request_id: i64, request: Request) -> Self {
        SessionRequest {
            request_id,
            trace_context: Default::default(),
            request: Some(request),
        }
    }

    /// The type of this request; `None` when the oneof is unset.
    pub fn kind(&self) -> Option<RequestKind> {
        self.request.as_ref().map(RequestKind::of_request)
    }

    /// Fails with [`SessionError::TooLarge`] when the encoded request exceeds
    /// [`MAX_MESSAGE_SIZE`], which the server would refuse (killing the stream).
    pub fn check_size(&self) -> Result<(), SessionError> {
        let size = self.encoded_len();
        if size > MAX_MESSAGE_SIZE {
            return Err(SessionError::TooLarge {
                what: "request",
                size,
                limit: MAX_MESSAGE_SIZE,
            });
        }
        Ok(())
    }

    /// `initialize_session`: must be the first request of every stream.
    /// `purpose` is free text for the server's logs (kopia: `""` or `cli:<command>`).
    pub fn initialize_session(
        request_id: i64,
        purpose: impl Into<String>,
        read_only: bool,
    ) -> Self {
        Self::wrap(
            request_id,
            Request::InitializeSession(InitializeSessionRequest {
                purpose: purpose.into(),
                read_only,
            }),
        )
    }

    /// `get_content_info`: index entry of one content.
    pub fn get_content_info(request_id: i64, content_id: &ContentId) -> Self {
        Self::wrap(
            request_id,
            Request::GetContentInfo(GetContentInfoRequest {
                content_id: content_id.to_string(),
            }),
        )
    }

    /// `get_content`: the plaintext of one content.
    pub fn get_content(request_id: i64, content_id: &ContentId) -> Self {
        Self::wrap(
            request_id,
            Request::GetContent(GetContentRequest {
                content_id: content_id.to_string(),
            }),
        )
    }

    /// `flush`: makes everything written on the stream durable and visible.
    pub fn flush(request_id: i64) -> Self {
        Self::wrap(request_id, Request::Flush(FlushRequest {}))
    }

    /// `write_content`: stores `data` (plaintext, uncompressed) under `prefix`,
    /// asking the server to compress with header ID `compression` (0 = none; only
    /// non-zero when the session's `supports_content_compression` is true).
    ///
    /// Like kopia's client, refuses a prefix other than `g`..`z` and the
    /// manifest prefix `m`; also refuses data over the message limit.
    pub fn write_content(
        request_id: i64,
        prefix: Option<u8>,
        data: Bytes,
        compression: u32,
    ) -> Result<Self, SessionError> {
        let prefix = match prefix {
            None => String::new(),
            Some(b'm') => {
                return Err(SessionError::InvalidRequest {
                    kind: RequestKind::WriteContent,
                    reason: "prefix 'm' is reserved for manifests".into(),
                });
            }
            Some(p @ b'g'..=b'z') => char::from(p).to_string(),
            Some(p) => {
                return Err(SessionError::InvalidRequest {
                    kind: RequestKind::WriteContent,
                    reason: format!(
                        "invalid content prefix {:?}: must be one letter g..z",
                        char::from(p)
                    ),
                });
            }
        };
        let req = Self::wrap(
            request_id,
            Request::WriteContent(WriteContentRequest {
                prefix,
                data,
                compression,
            }),
        );
        req.check_size()?;
        Ok(req)
    }

    /// `get_manifest`: payload and metadata of one manifest.
    pub fn get_manifest(request_id: i64, manifest_id: impl Into<String>) -> Self {
        Self::wrap(
            request_id,
            Request::GetManifest(GetManifestRequest {
                manifest_id: manifest_id.into(),
            }),
        )
    }

    /// `put_manifest`: stores a new manifest (`json_data` = its JSON payload).
    ///
    /// Refuses labels without a non-empty `type`, which the server would reject.
    pub fn put_manifest<K, V>(
        request_id: i64,
        json_data: impl Into<Bytes>,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, SessionError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let labels = labels_map(labels);
        if labels.get("type").is_none_or(|t| t.is_empty()) {
            return Err(SessionError::InvalidRequest {
                kind: RequestKind::PutManifest,
                reason: "'type' label is required".into(),
            });
        }
        let req = Self::wrap(
            request_id,
            Request::PutManifest(PutManifestRequest {
                json_data: json_data.into(),
                labels,
            }),
        );
        req.check_size()?;
        Ok(req)
    }

    /// `find_manifests`: manifests carrying all `labels` (empty = all), in pages of
    /// `page_size` entries (≤ 0: one answer; kopia sends
    /// [`super::FIND_MANIFESTS_PAGE_SIZE`]).
    pub fn find_manifests<K, V>(
        request_id: i64,
        labels: impl IntoIterator<Item = (K, V)>,
        page_size: i32,
    ) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self::wrap(
            request_id,
            Request::FindManifests(FindManifestsRequest {
                labels: labels_map(labels),
                page_size,
            }),
        )
    }

    /// `delete_manifest`: deletes one manifest (durable at flush).
    pub fn delete_manifest(request_id: i64, manifest_id: impl Into<String>) -> Self {
        Self::wrap(
            request_id,
            Request::DeleteManifest(DeleteManifestRequest {
                manifest_id: manifest_id.into(),
            }),
        )
    }

    /// `prefetch_contents`: asks the server to warm its cache; `hint` is `""`,
    /// `default`, `contents` or `blobs`.
    pub fn prefetch_contents<'a>(
        request_id: i64,
        content_ids: impl IntoIterator<Item = &'a ContentId>,
        hint: impl Into<String>,
    ) -> Self {
        Self::wrap(
            request_id,
            Request::PrefetchContents(PrefetchContentsRequest {
                content_ids: content_ids.into_iter().map(ContentId::to_string).collect(),
                hint: hint.into(),
            }),
        )
    }

    /// `apply_retention_policy`: expires snapshots of the caller's own source
    /// `source_path`; deletes them only when `really_delete`.
    pub fn apply_retention_policy(
        request_id: i64,
        source_path: impl Into<String>,
        really_delete: bool,
    ) -> Self {
        Self::wrap(
            request_id,
            Request::ApplyRetentionPolicy(ApplyRetentionPolicyRequest {
                source_path: source_path.into(),
                really_delete,
            }),
        )
    }

    /// `send_notification`: delivers a notification through the server's profiles.
    /// `event_args` is the JSON of the arguments, `severity` one of [`severity`].
    pub fn send_notification(
        request_id: i64,
        template_name: impl Into<String>,
        event_args: impl Into<Bytes>,
        event_args_type: NotificationEventArgType,
        severity: i32,
    ) -> Self {
        Self::wrap(
            request_id,
            Request::SendNotification(SendNotificationRequest {
                template_name: template_name.into(),
                event_args: event_args.into(),
                severity,
                event_args_type: event_args_type as i32,
            }),
        )
    }
}

#[cfg(test)]
mod tests;
