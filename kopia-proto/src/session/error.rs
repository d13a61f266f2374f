//! Errors of the session protocol: server `ErrorResponse` codes and protocol violations.

use super::pb::{ErrorResponse, error_response};
use super::request::RequestKind;

/// The `ErrorResponse.Code` enum of the protocol (0 `UNKNOWN_ERROR` .. 6 `STREAM_BROKEN`).
pub type ErrorCode = error_response::Code;

/// What went wrong with one session request.
///
/// The first group mirrors the server's `ErrorResponse` codes (kopia v0.23.1
/// `errorFromSessionResponse`); the second reports answers that break the
/// protocol (garbled bytes, wrong response type, missing fields), which a
/// client should treat like a broken stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// `CONTENT_NOT_FOUND` (2): the server has no such content.
    #[error("content not found on the repository server: {message}")]
    ContentNotFound {
        /// The server's message.
        message: String,
    },
    /// `MANIFEST_NOT_FOUND` (3): the server has no such manifest.
    #[error("manifest not found on the repository server: {message}")]
    ManifestNotFound {
        /// The server's message.
        message: String,
    },
    /// `OBJECT_NOT_FOUND` (4): no such object (not reachable through v0.23.1 requests).
    #[error("object not found on the repository server: {message}")]
    ObjectNotFound {
        /// The server's message.
        message: String,
    },
    /// `ACCESS_DENIED` (5): the authenticated user may not do this (ACLs, `m` prefix, ...).
    #[error("access denied by the repository server: {message}")]
    AccessDenied {
        /// The server's message (kopia sends `access denied`).
        message: String,
    },
    /// `STREAM_BROKEN` (6): the stream failed before an answer arrived.
    ///
    /// Never sent by a server; clients synthesise it for outstanding requests.
    /// The only retryable error (see [`SessionError::is_retryable`]).
    #[error("session stream broken: {message}")]
    StreamBroken {
        /// The transport error text.
        message: String,
    },
    /// `UNKNOWN_ERROR` `unhandled session request`: the server does not know this request type.
    #[error("the repository server does not support this request ({message})")]
    Unsupported {
        /// The server's message.
        message: String,
    },
    /// Any other server failure: `UNKNOWN_ERROR` (0), `CLIENT_ERROR` (1), or a code this
    /// crate does not know (e.g. 7 `NOT_A_VOLUME` of kopia's development branch).
    #[error("repository server error ({}): {message}", code_name(*.code))]
    Server {
        /// The raw code number from the wire.
        code: i32,
        /// The server's message.
        message: String,
    },
    /// The response's oneof is unset or carries a field number this crate does not know
    /// (a newer server answering with a new response type).
    #[error("response to request {request_id} has no response type known to this client")]
    UnknownResponse {
        /// The request the response was addressed to.
        request_id: i64,
    },
    /// The response type does not match the request (e.g. a `flush` answer to `get_content`).
    #[error("expected a {expected} response, got a {got} response")]
    UnexpectedResponse {
        /// Type of the request that was sent.
        expected: RequestKind,
        /// Type of the response that arrived.
        got: RequestKind,
    },
    /// The response has the right type but is unusable (missing field, bad ID, ...).
    #[error("malformed {kind} response: {reason}")]
    Malformed {
        /// Type of the response.
        kind: RequestKind,
        /// What is wrong with it.
        reason: String,
    },
    /// The bytes are not a valid protobuf `SessionResponse`.
    #[error("cannot decode session response: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A message exceeds the 20 MiB gRPC limit and would be refused by the peer.
    #[error("{what} of {size} bytes exceeds the {limit}-byte gRPC message limit")]
    TooLarge {
        /// Which message (`request`, `response`).
        what: &'static str,
        /// Its encoded size.
        size: usize,
        /// The limit ([`super::MAX_MESSAGE_SIZE`]).
        limit: usize,
    },
    /// A request argument kopia's server (or client) would refuse; checked before sending.
    #[error("invalid {kind} request: {reason}")]
    InvalidRequest {
        /// Type of the request.
        kind: RequestKind,
        /// What is wrong with it.
        reason: String,
    },
    /// A credential cannot be sent as gRPC metadata.
    #[error("invalid {field}: {reason}")]
    InvalidCredentials {
        /// Which credential (`username`, `hostname`, `password`).
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Name of a wire error code, or `code N` for numbers outside the enum.
fn code_name(code: i32) -> String {
    match ErrorCode::try_from(code) {
        Ok(c) => c.as_str_name().to_owned(),
        Err(_) => format!("code {code}"),
    }
}

impl SessionError {
    /// Maps a server `ErrorResponse` the way kopia's client does, plus
    /// `unhandled session request` → [`SessionError::Unsupported`].
    pub fn from_error_response(e: ErrorResponse) -> Self {
        let message = e.message;
        match ErrorCode::try_from(e.code) {
            Ok(ErrorCode::ContentNotFound) => SessionError::ContentNotFound { message },
            Ok(ErrorCode::ManifestNotFound) => SessionError::ManifestNotFound { message },
            Ok(ErrorCode::ObjectNotFound) => SessionError::ObjectNotFound { message },
            Ok(ErrorCode::AccessDenied) => SessionError::AccessDenied { message },
            Ok(ErrorCode::StreamBroken) => SessionError::StreamBroken { message },
            Ok(ErrorCode::UnknownError) if message == super::UNHANDLED_REQUEST_MESSAGE => {
                SessionError::Unsupported { message }
            }
            _ => SessionError::Server {
                code: e.code,
                message,
            },
        }
    }

    /// The wire code this error corresponds to, if it came from (or stands for) an
    /// `ErrorResponse`; `None` for local protocol violations.
    pub fn code(&self) -> Option<i32> {
        let c = match self {
            SessionError::ContentNotFound { .. } => ErrorCode::ContentNotFound,
            SessionError::ManifestNotFound { .. } => ErrorCode::ManifestNotFound,
            SessionError::ObjectNotFound { .. } => ErrorCode::ObjectNotFound,
            SessionError::AccessDenied { .. } => ErrorCode::AccessDenied,
            SessionError::StreamBroken { .. } => ErrorCode::StreamBroken,
            SessionError::Unsupported { .. } => ErrorCode::UnknownError,
            SessionError::Server { code, .. } => return Some(*code),
            _ => return None,
        };
        Some(c as i32)
    }

    /// True when the request may be sent again on a new stream: only
    /// `STREAM_BROKEN`, and only for requests whose [`RequestKind::is_retryable`]
    /// is true (kopia retries nothing else; every other code is a final answer).
    pub fn is_retryable(&self) -> bool {
        matches!(self, SessionError::StreamBroken { .. })
    }

    /// True for the three "not found" codes.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            SessionError::ContentNotFound { .. }
                | SessionError::ManifestNotFound { .. }
                | SessionError::ObjectNotFound { .. }
        )
    }

    /// True when the server does not implement the request (old server):
    /// `unhandled session request` or an unknown response type.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            SessionError::Unsupported { .. } | SessionError::UnknownResponse { .. }
        )
    }

    /// True when the answer itself broke the protocol (garbled, wrong type,
    /// missing fields); the stream should be considered unreliable.
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            SessionError::UnexpectedResponse { .. }
                | SessionError::Malformed { .. }
                | SessionError::Decode(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: i32, msg: &str) -> SessionError {
        SessionError::from_error_response(ErrorResponse {
            code,
            message: msg.into(),
        })
    }

    #[test]
    fn code_numbers_match_kopia() {
        assert_eq!(ErrorCode::UnknownError as i32, 0);
        assert_eq!(ErrorCode::ClientError as i32, 1);
        assert_eq!(ErrorCode::ContentNotFound as i32, 2);
        assert_eq!(ErrorCode::ManifestNotFound as i32, 3);
        assert_eq!(ErrorCode::ObjectNotFound as i32, 4);
        assert_eq!(ErrorCode::AccessDenied as i32, 5);
        assert_eq!(ErrorCode::StreamBroken as i32, 6);
        assert_eq!(ErrorCode::StreamBroken.as_str_name(), "STREAM_BROKEN");
        assert!(ErrorCode::try_from(7).is_err());
    }

    #[test]
    fn maps_every_code() {
        assert!(matches!(
            err(0, "boom"),
            SessionError::Server { code: 0, .. }
        ));
        assert!(matches!(err(1, "x"), SessionError::Server { code: 1, .. }));
        assert!(matches!(err(2, "x"), SessionError::ContentNotFound { .. }));
        assert!(matches!(err(3, "x"), SessionError::ManifestNotFound { .. }));
        assert!(matches!(err(4, "x"), SessionError::ObjectNotFound { .. }));
        assert!(matches!(err(5, "x"), SessionError::AccessDenied { .. }));
        assert!(matches!(err(6, "x"), SessionError::StreamBroken { .. }));
        assert!(matches!(err(7, "x"), SessionError::Server { code: 7, .. }));
        assert!(matches!(
            err(-5, "x"),
            SessionError::Server { code: -5, .. }
        ));
        assert!(matches!(
            err(0, "unhandled session request"),
            SessionError::Unsupported { .. }
        ));
        // Only UNKNOWN_ERROR with exactly that text means "unsupported".
        assert!(matches!(
            err(1, "unhandled session request"),
            SessionError::Server { code: 1, .. }
        ));
    }

    #[test]
    fn code_round_trips() {
        for c in [0, 1, 2, 3, 4, 5, 6, 7, 99] {
            assert_eq!(err(c, "m").code(), Some(c), "code {c}");
        }
        assert_eq!(err(0, "unhandled session request").code(), Some(0));
        assert_eq!(SessionError::UnknownResponse { request_id: 1 }.code(), None);
    }

    #[test]
    fn classification() {
        assert!(err(6, "EOF").is_retryable());
        for c in [0, 1, 2, 3, 4, 5, 7] {
            assert!(!err(c, "x").is_retryable(), "code {c}");
        }
        assert!(
            err(2, "").is_not_found() && err(3, "").is_not_found() && err(4, "").is_not_found()
        );
        assert!(!err(5, "").is_not_found());
        assert!(err(0, "unhandled session request").is_unsupported());
        assert!(SessionError::UnknownResponse { request_id: 3 }.is_unsupported());
        assert!(!err(0, "other").is_unsupported());
        assert!(
            SessionError::Malformed {
                kind: RequestKind::Flush,
                reason: "x".into()
            }
            .is_protocol_violation()
        );
        assert!(!err(0, "x").is_protocol_violation());
    }

    #[test]
    fn messages_are_informative() {
        assert_eq!(
            err(0, "disk full").to_string(),
            "repository server error (UNKNOWN_ERROR): disk full"
        );
        assert_eq!(
            err(7, "no volume").to_string(),
            "repository server error (code 7): no volume"
        );
        assert_eq!(
            err(5, "access denied").to_string(),
            "access denied by the repository server: access denied"
        );
        assert_eq!(
            SessionError::UnexpectedResponse {
                expected: RequestKind::GetContent,
                got: RequestKind::Flush
            }
            .to_string(),
            "expected a get_content response, got a flush response"
        );
    }
}
