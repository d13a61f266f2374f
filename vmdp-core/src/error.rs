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
}
