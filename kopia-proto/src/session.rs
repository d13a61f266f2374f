//! The repository-server session protocol (kopia's `kopia_repository` gRPC API).
//!
//! A client talks to `kopia server` over one gRPC method,
//! `/kopia_repository.KopiaRepository/Session`: a bidirectional stream of
//! [`SessionRequest`] / [`SessionResponse`] envelopes matched by `request_id`.
//! This module holds the message types (generated at build time from
//! `proto/repository_server.proto` without `protoc`), constructors for every
//! request, typed decoding of responses into [`SessionError`]s, the request
//! metadata, and, with the `grpc` feature, the tonic client stub. The stream
//! handling itself (routing by ID, flow control, reconnects) lives in
//! `vmdp-core`; nothing here does I/O.

mod error;
mod metadata;
mod request;
mod response;

pub use error::{ErrorCode, SessionError};
pub use metadata::{
    METADATA_ARCH, METADATA_BUILD_INFO, METADATA_HOSTNAME, METADATA_OS, METADATA_PASSWORD,
    METADATA_REPO, METADATA_USERNAME, METADATA_VERSION, SessionCredentials,
};
pub use request::{RequestIdGen, RequestKind, severity};
pub use response::{ManifestPage, ManifestPayload, decode_response};

pub use pb::{
    ApplyRetentionPolicyRequest, ApplyRetentionPolicyResponse, ContentInfo, DeleteManifestRequest,
    DeleteManifestResponse, ErrorResponse, FindManifestsRequest, FindManifestsResponse,
    FlushRequest, FlushResponse, GetContentInfoRequest, GetContentInfoResponse, GetContentRequest,
    GetContentResponse, GetManifestRequest, GetManifestResponse, InitializeSessionRequest,
    InitializeSessionResponse, ManifestEntryMetadata, NotificationEventArgType,
    PrefetchContentsRequest, PrefetchContentsResponse, PutManifestRequest, PutManifestResponse,
    RepositoryParameters, SendNotificationRequest, SendNotificationResponse, SessionRequest,
    SessionResponse, WriteContentRequest, WriteContentResponse, session_request, session_response,
};

/// prost's trait for encoding and decoding the messages (`encode_to_vec`, `decode`, ...).
pub use prost::Message;
/// `bytes::Bytes`, the type of every `bytes` field (re-exported so callers need no extra crate).
pub use prost::bytes::Bytes;

#[cfg(feature = "grpc")]
pub use pb::kopia_repository_client::KopiaRepositoryClient;

/// Messages and client generated from `proto/repository_server.proto`.
///
/// Everything useful is re-exported from [`crate::session`]; this module exists
/// so the generated code keeps its own namespace and lint exemptions.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    rustdoc::bare_urls,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags
)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/kopia_repository.rs"));
}

/// Protobuf package of the session API.
pub const PACKAGE: &str = "kopia_repository";
/// Fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "kopia_repository.KopiaRepository";
/// HTTP/2 path of the only method, `Session`.
pub const SESSION_METHOD_PATH: &str = "/kopia_repository.KopiaRepository/Session";

/// Largest gRPC message either side accepts: 20 MiB (kopia's `repo.MaxGRPCMessageSize`).
///
/// Applies to the encoded protobuf message, in both directions. tonic's default
/// decoding limit (4 MiB) is too small for `get_content` answers.
pub const MAX_MESSAGE_SIZE: usize = 20 << 20;

/// Page size kopia always sends in `find_manifests` (kopia PR #2733).
pub const FIND_MANIFESTS_PAGE_SIZE: i32 = 1000;

/// Text of the `UNKNOWN_ERROR` a server sends for a request type it does not know.
pub const UNHANDLED_REQUEST_MESSAGE: &str = "unhandled session request";

/// Text of the `UNKNOWN_ERROR` a server sends for a repeated `initialize_session`.
pub const INITIALIZE_NOT_FIRST_MESSAGE: &str =
    "InitializeSession must be the first request in a session";

/// Creates a session client with kopia's 20 MiB message limits in both directions.
///
/// `inner` is any tonic gRPC service (normally a connected channel). Use this
/// instead of `KopiaRepositoryClient::new`, whose 4 MiB decoding limit breaks
/// `get_content`.
#[cfg(feature = "grpc")]
pub fn new_client<T>(inner: T) -> KopiaRepositoryClient<T>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    KopiaRepositoryClient::new(inner)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE)
}

impl std::fmt::Debug for RepositoryParameters {
    /// Shows everything except the HMAC secret, which would let anyone who sees
    /// a log compute content IDs; only its length is printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositoryParameters")
            .field("hash_function", &self.hash_function)
            .field(
                "hmac_secret",
                &format_args!("<{} bytes redacted>", self.hmac_secret.len()),
            )
            .field("splitter", &self.splitter)
            .field(
                "supports_content_compression",
                &self.supports_content_compression,
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_kopia() {
        assert_eq!(MAX_MESSAGE_SIZE, 20_971_520);
        assert_eq!(SESSION_METHOD_PATH, format!("/{SERVICE_NAME}/Session"));
        assert_eq!(SERVICE_NAME, format!("{PACKAGE}.KopiaRepository"));
    }

    #[test]
    fn repository_parameters_debug_redacts_secret() {
        let p = RepositoryParameters {
            hash_function: "BLAKE2B-256-128".into(),
            hmac_secret: Bytes::from_static(b"\x01\x02supersecretkeymaterial"),
            splitter: "DYNAMIC-4M-BUZHASH".into(),
            supports_content_compression: true,
        };
        let s = format!("{p:?}");
        assert!(s.contains("BLAKE2B-256-128"), "{s}");
        assert!(s.contains("<24 bytes redacted>"), "{s}");
        assert!(!s.contains("supersecret"), "{s}");
        assert!(!s.contains("1, 2"), "{s}");
    }
}
