//! The error type of every vmdp-core operation.

use kopia_proto::ids::ContentId;

/// Result alias used throughout vmdp-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with enough context to act on it.
///
/// Front ends map variants to exit codes and Python exceptions; they never
/// parse the message text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A content the caller asked for does not exist in the repository.
    #[error("content {0} not found in the repository")]
    ContentNotFound(ContentId),
    /// A manifest the caller asked for does not exist (or is not visible to this user).
    #[error("manifest {0} not found")]
    ManifestNotFound(String),
    /// The server refused the operation for this user.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The repository returned data that violates the format (corrupt or hostile).
    #[error("corrupt repository data: {0}")]
    Corrupt(String),
    /// Bad input from the caller (path, ID, option).
    #[error("{0}")]
    InvalidInput(String),
    /// The operation was cancelled by the caller.
    #[error("operation cancelled")]
    Cancelled,
    /// Transport failure; `retryable` says whether trying again may help.
    #[error("transport error: {message}")]
    Transport {
        /// What failed.
        message: String,
        /// True when a retry may succeed (connection reset, server restart).
        retryable: bool,
    },
    /// A local I/O error on `path`.
    #[error("{path}: {source}")]
    Io {
        /// The local path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The server or repository reported an error not covered above.
    #[error("repository error: {0}")]
    Repository(String),
    /// The server refused the credentials (`PERMISSION_DENIED` when opening a session).
    /// Never retried: the same credentials will be refused again.
    #[error(
        "authentication failed: wrong user name/password, or account {identity} not (yet) \
         known to the server (server said: {message})"
    )]
    AuthenticationFailed {
        /// The identity `user@host` that was refused.
        identity: String,
        /// The server's status message (e.g. `access denied for alice@vm1`).
        message: String,
    },
    /// The server's TLS certificate does not match the pinned fingerprint; the
    /// connection was aborted during the handshake, before any credential was sent.
    #[error(
        "server certificate fingerprint mismatch: expected {expected}, but the server presented \
         {actual}; refusing to send credentials (if the server's certificate was renewed, \
         reconnect with the new fingerprint)"
    )]
    CertificateMismatch {
        /// The pinned fingerprint (64 lowercase hex characters).
        expected: String,
        /// SHA-256 of the leaf certificate the server presented.
        actual: String,
    },
    /// The server does not implement a request (older server version).
    #[error("not supported by this server: {0}")]
    Unsupported(String),
    /// The peer broke the protocol (garbled or mismatched answer).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A local configuration file is missing, unreadable or invalid.
    #[error("config file {path}: {message}")]
    Config {
        /// The config file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// True when retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Transport {
                retryable: true,
                ..
            }
        )
    }

    /// The same error with `ctx` (what was being done) in front of its message,
    /// keeping its kind, so callers can still match on it. Errors whose message
    /// is a fixed sentence or names its own object are returned unchanged.
    pub fn context(self, ctx: &str) -> Error {
        match self {
            Error::AccessDenied(m) => Error::AccessDenied(format!("{ctx}: {m}")),
            Error::Corrupt(m) => Error::Corrupt(format!("{ctx}: {m}")),
            Error::InvalidInput(m) => Error::InvalidInput(format!("{ctx}: {m}")),
            Error::Transport { message, retryable } => Error::Transport {
                message: format!("{ctx}: {message}"),
                retryable,
            },
            Error::Repository(m) => Error::Repository(format!("{ctx}: {m}")),
            Error::Unsupported(m) => Error::Unsupported(format!("{ctx}: {m}")),
            Error::Protocol(m) => Error::Protocol(format!("{ctx}: {m}")),
            Error::ContentNotFound(id) => {
                Error::Repository(format!("{ctx}: content {id} not found in the repository"))
            }
            Error::ManifestNotFound(id) => {
                Error::Repository(format!("{ctx}: manifest {id} not found"))
            }
            e => e,
        }
    }
}
