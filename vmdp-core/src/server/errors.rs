//! Mapping session errors and gRPC statuses to [`crate::Error`].

use kopia_proto::session::SessionError;
use tonic::{Code, Status};

use super::tls::{ConnectError, find_connect_error};
use crate::Error;

/// Maps a per-request session error; `ctx` names the operation (and object).
///
/// Not-found codes are mapped by the callers, which know the ID.
pub(crate) fn session_error(e: SessionError, ctx: &str) -> Error {
    match e {
        SessionError::AccessDenied { message } => Error::AccessDenied(format!("{ctx}: {message}")),
        SessionError::StreamBroken { message } => Error::Transport {
            message: format!("{ctx}: the session stream to the server broke: {message}"),
            retryable: true,
        },
        e @ (SessionError::Unsupported { .. } | SessionError::UnknownResponse { .. }) => {
            Error::Unsupported(format!("{ctx}: {e}"))
        }
        e @ (SessionError::UnexpectedResponse { .. }
        | SessionError::Malformed { .. }
        | SessionError::Decode(_)) => Error::Protocol(format!("{ctx}: {e}")),
        e @ (SessionError::TooLarge { .. }
        | SessionError::InvalidRequest { .. }
        | SessionError::InvalidCredentials { .. }) => Error::InvalidInput(format!("{ctx}: {e}")),
        e @ (SessionError::ContentNotFound { .. }
        | SessionError::ManifestNotFound { .. }
        | SessionError::ObjectNotFound { .. }
        | SessionError::Server { .. }) => Error::Repository(format!("{ctx}: {e}")),
    }
}

/// Maps a connection-setup failure found in an error chain.
pub(crate) fn connect_error(c: &ConnectError) -> Error {
    match c {
        ConnectError::PinMismatch(m) => Error::CertificateMismatch {
            expected: m.expected.to_string(),
            actual: m.actual.to_string(),
        },
        other => Error::Transport {
            message: other.to_string(),
            retryable: other.is_retryable(),
        },
    }
}

/// Maps the gRPC status that ended (or refused) a session stream.
pub(crate) fn status_error(status: &Status, identity: &str, server: &str) -> Error {
    if let Some(c) = find_connect_error(status) {
        return connect_error(c);
    }
    let msg = status.message();
    match status.code() {
        Code::PermissionDenied | Code::Unauthenticated => Error::AuthenticationFailed {
            identity: identity.to_owned(),
            message: msg.to_owned(),
        },
        Code::Unavailable => Error::Transport {
            message: format!("server {server} unavailable: {}", detail(status)),
            retryable: true,
        },
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::ResourceExhausted
        | Code::Internal => Error::Transport {
            message: format!("session with {server} failed: {}", detail(status)),
            retryable: true,
        },
        Code::Unimplemented => Error::Protocol(format!(
            "{server} does not implement kopia's repository session protocol ({msg}); is it a \
             kopia server?"
        )),
        Code::Unknown => Error::Protocol(format!("server {server} ended the session: {msg}")),
        _ => Error::Transport {
            message: format!("session with {server} failed: {}", detail(status)),
            retryable: false,
        },
    }
}

/// Status message plus the transport cause, if any.
fn detail(status: &Status) -> String {
    let mut s = format!("{:?}: {}", status.code(), status.message());
    let mut cur = std::error::Error::source(status);
    while let Some(e) = cur {
        let t = e.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = e.source();
    }
    s
}

/// Maps a tonic transport error from connecting the channel.
pub(crate) fn transport_error(e: &tonic::transport::Error, server: &str) -> Error {
    if let Some(c) = find_connect_error(e) {
        return connect_error(c);
    }
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    Error::Transport {
        message: format!("cannot connect to {server}: {s}"),
        retryable: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session error and a check of the error it must map to.
    type Case = (SessionError, fn(&Error) -> bool);

    #[test]
    fn every_session_error_has_a_typed_mapping() {
        let cases: Vec<Case> = vec![
            (
                SessionError::AccessDenied {
                    message: "access denied".into(),
                },
                |e| matches!(e, Error::AccessDenied(_)),
            ),
            (
                SessionError::StreamBroken {
                    message: "EOF".into(),
                },
                |e| e.is_retryable(),
            ),
            (
                SessionError::Unsupported {
                    message: "unhandled session request".into(),
                },
                |e| matches!(e, Error::Unsupported(_)),
            ),
            (SessionError::UnknownResponse { request_id: 3 }, |e| {
                matches!(e, Error::Unsupported(_))
            }),
            (
                SessionError::Malformed {
                    kind: kopia_proto::session::RequestKind::Flush,
                    reason: "x".into(),
                },
                |e| matches!(e, Error::Protocol(_)),
            ),
            (
                SessionError::TooLarge {
                    what: "request",
                    size: 1,
                    limit: 0,
                },
                |e| matches!(e, Error::InvalidInput(_)),
            ),
            (
                SessionError::Server {
                    code: 0,
                    message: "disk full".into(),
                },
                |e| matches!(e, Error::Repository(m) if m.contains("disk full")),
            ),
            (
                SessionError::ObjectNotFound {
                    message: "x".into(),
                },
                |e| matches!(e, Error::Repository(_)),
            ),
        ];
        for (se, check) in cases {
            let text = se.to_string();
            let e = session_error(se, "op X");
            assert!(check(&e), "{text} -> {e:?}");
            assert!(e.to_string().contains("op X"), "{e}");
        }
        assert!(
            !session_error(
                SessionError::AccessDenied {
                    message: "x".into()
                },
                "c"
            )
            .is_retryable()
        );
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let e = status_error(
            &Status::permission_denied("access denied for alice@vm1"),
            "alice@vm1",
            "https://h:1",
        );
        match &e {
            Error::AuthenticationFailed { identity, message } => {
                assert_eq!(identity, "alice@vm1");
                assert_eq!(message, "access denied for alice@vm1");
            }
            other => panic!("{other:?}"),
        }
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("not (yet) known"), "{e}");

        let e = status_error(
            &Status::unavailable("not connected to a direct repository"),
            "a@b",
            "https://h:1",
        );
        assert!(e.is_retryable(), "{e:?}");
        assert!(e.to_string().contains("not connected"), "{e}");

        let e = status_error(
            &Status::unknown("missing initialization request"),
            "a@b",
            "s",
        );
        assert!(matches!(e, Error::Protocol(_)), "{e:?}");
        let e = status_error(&Status::unimplemented("x"), "a@b", "s");
        assert!(matches!(e, Error::Protocol(_)), "{e:?}");
        let e = status_error(&Status::invalid_argument("x"), "a@b", "s");
        assert!(!e.is_retryable(), "{e:?}");
    }
}
