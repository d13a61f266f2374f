//! Progress reporting shared by every long operation (snapshot, restore, verify).
//!
//! Operations report [`Progress`] events to a [`ProgressSink`]; the CLI turns
//! them into a progress bar, the Python bindings into a callback. Sinks must be
//! cheap: events arrive from many tasks at once.

use std::path::Path;
use std::sync::Arc;

/// One thing that happened during a long operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<'a> {
    /// A directory is being listed/processed.
    Directory {
        /// Path relative to the operation's root (`""` for the root).
        path: &'a Path,
    },
    /// Total work estimate changed (files and bytes expected in all).
    Estimate {
        /// Files expected in all.
        files: u64,
        /// Bytes expected in all.
        bytes: u64,
    },
    /// A file is done.
    FileDone {
        /// Path relative to the operation's root.
        path: &'a Path,
        /// Its size in bytes.
        bytes: u64,
        /// True when its data was reused from an earlier snapshot without reading it.
        cached: bool,
    },
    /// Bytes read and hashed (snapshot) or written (restore).
    BytesProcessed(u64),
    /// Bytes actually sent to the repository (not already present there).
    BytesUploaded(u64),
    /// An entry failed; the operation goes on.
    Error {
        /// Path relative to the operation's root.
        path: &'a Path,
        /// What went wrong.
        message: &'a str,
        /// True when policy says this error is ignored.
        ignored: bool,
    },
}

/// Receives [`Progress`] events. Implementations must be thread-safe and fast.
pub trait ProgressSink: Send + Sync {
    /// Called for each event.
    fn report(&self, event: Progress<'_>);
}

/// A sink that drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn report(&self, _event: Progress<'_>) {}
}

impl<F> ProgressSink for F
where
    F: Fn(Progress<'_>) + Send + Sync,
{
    fn report(&self, event: Progress<'_>) {
        self(event)
    }
}

/// A shareable sink handle.
pub type SharedProgress = Arc<dyn ProgressSink>;

/// Cancellation of long operations (re-exported so callers need not depend on tokio-util).
pub use tokio_util::sync::CancellationToken;
