//! [`ServerOptions`] (how to reach and authenticate to a server) and
//! [`ServerStatus`] (what is shown about an open connection).

use super::writes::DEFAULT_WRITE_BUDGET;

/// Default number of session streams per connection (kopia's CLI uses two
/// for a writing command).
pub const DEFAULT_STREAMS: usize = 2;

/// How to reach and authenticate to a kopia server.
#[derive(Clone)]
pub struct ServerOptions {
    /// Server address, `https://host:port` (or `kopia://host:port`).
    pub url: String,
    /// SHA-256 fingerprint of the server's leaf certificate (any common notation).
    /// `None` (or empty) trusts the system root certificates instead.
    pub fingerprint: Option<String>,
    /// User name part of the identity (`kopia-username`).
    pub username: String,
    /// Host name part of the identity (`kopia-hostname`).
    pub hostname: String,
    /// The user's server password.
    pub password: String,
    /// Free text for the server's logs (kopia: `""` or `cli:<command>`).
    pub purpose: String,
    /// Refuse writes locally (the server does not enforce `read_only`).
    pub read_only: bool,
    /// Bound on the bytes of unanswered writes ([`DEFAULT_WRITE_BUDGET`]).
    pub write_budget: usize,
    /// Most session streams to open on the connection ([`DEFAULT_STREAMS`];
    /// 0 counts as 1). Each new stream costs the server one scrypt derivation
    /// (about 64 MiB), so extra streams open only when requests run concurrently.
    pub streams: usize,
}

impl ServerOptions {
    /// Options with an empty purpose, read-write, default write budget and streams.
    pub fn new(
        url: impl Into<String>,
        fingerprint: Option<String>,
        username: impl Into<String>,
        hostname: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        ServerOptions {
            url: url.into(),
            fingerprint,
            username: username.into(),
            hostname: hostname.into(),
            password: password.into(),
            purpose: String::new(),
            read_only: false,
            write_budget: DEFAULT_WRITE_BUDGET,
            streams: DEFAULT_STREAMS,
        }
    }
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("url", &self.url)
            .field("fingerprint", &self.fingerprint)
            .field("username", &self.username)
            .field("hostname", &self.hostname)
            .field("password", &"<redacted>")
            .field("purpose", &self.purpose)
            .field("read_only", &self.read_only)
            .field("write_budget", &self.write_budget)
            .field("streams", &self.streams)
            .finish()
    }
}

/// What `vmdp status` shows about a server connection (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerStatus {
    /// Server URL.
    pub url: String,
    /// The authenticated identity `user@host`.
    pub identity: String,
    /// Pinned certificate fingerprint (`None`: system roots).
    pub fingerprint: Option<String>,
    /// Content hash function of the repository.
    pub hash_function: String,
    /// Default splitter of the repository.
    pub splitter: String,
    /// Whether the server compresses contents on request.
    pub supports_content_compression: bool,
    /// Whether this client refuses writes.
    pub read_only: bool,
}
