//! Server mode: a [`Repository`](crate::Repository) backed by a `kopia server`.
//!
//! The client speaks kopia's repository session protocol (one gRPC method,
//! bidirectional stream of `SessionRequest`/`SessionResponse`) over HTTP/2 inside
//! TLS, with the server certificate pinned by the SHA-256 fingerprint of its
//! leaf. Content is sent in plaintext inside TLS; the **server** compresses,
//! encrypts and packs it with the repository key. The client computes content
//! IDs itself with the hash function and secret the server hands out, which
//! lets it pipeline writes and verify every answer.
//!
//! Modules: [`fingerprint`] (pin parsing), [`url`] (server addresses), [`tls`]
//! (pin verifier and connector), `session` (one stream, routing by request ID),
//! `pool` (a few streams on the one connection: lazy opening, routing of
//! unflushed contents and manifests, flush order, reconnects), `writes`
//! (asynchronous writes, byte budget), `errors` (status and session error
//! mapping), `options` ([`ServerOptions`], [`ServerStatus`]) and `repository`
//! ([`ServerRepository`]).
//!
//! Limitation: writes are not resumed after a stream breaks; the next
//! [`flush`](crate::Repository::flush) then fails with a retryable error saying
//! that changes since the previous flush may be lost.
//!
//! With several streams, the order "content streams before the manifest
//! stream" holds for explicit flushes. The server also flushes a session on
//! its own when the stream ends (close, or best effort when it breaks), which
//! the client cannot order; [`close`](crate::Repository::close) ends the
//! content streams before the manifest stream for that reason.

pub mod fingerprint;
pub mod tls;
pub mod url;

mod errors;
mod options;
mod pool;
mod repository;
mod session;
mod writes;

pub use fingerprint::Fingerprint;
pub use options::{DEFAULT_STREAMS, ServerOptions, ServerStatus};
pub use repository::ServerRepository;
pub use url::ServerUrl;
pub use writes::DEFAULT_WRITE_BUDGET;

/// Data contents of at least this many bytes are first probed with
/// `get_content_info` by the snapshot writer and not sent when the server
/// already has them; smaller ones are just written (kopia's rule).
pub const PROBE_BEFORE_WRITE_BYTES: usize = 50_000;
