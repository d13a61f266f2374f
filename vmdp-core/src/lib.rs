//! vmdp client library.
//!
//! Snapshot, restore, list and verify are written once against the
//! [`Repository`] trait; transports implement it (server mode: a gRPC session
//! to `kopia server`; direct mode: blob storage with client-side encryption).
//! Formats come from [`kopia_proto`], re-exported as [`proto`].

pub mod browse;
pub mod config;
pub mod diff;
pub mod error;
pub mod object_reader;
pub mod progress;
pub mod repo;
pub mod restore;
pub mod server;
pub mod snapshot;
pub mod snapshots;
pub mod verify;
pub mod winpath;

pub use error::{Error, Result};
pub use kopia_proto as proto;
pub use progress::{CancellationToken, NoProgress, Progress, ProgressSink, SharedProgress};
pub use repo::{ContentInfo, Labels, ManifestEntry, ManifestId, RepoParameters, Repository};
