//! Kopia's snapshot statistics (`snapshot.Stats`), counted concurrently by the uploader.

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

use kopia_proto::manifest::SnapshotStats;

/// Kopia's snapshot statistics, updated concurrently.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub total_size: AtomicI64,
    pub excluded_total_size: AtomicI64,
    pub file_count: AtomicI32,
    pub cached_files: AtomicI32,
    pub non_cached_files: AtomicI32,
    pub dir_count: AtomicI32,
    pub excluded_file_count: AtomicI32,
    pub excluded_dir_count: AtomicI32,
    pub ignored_error_count: AtomicI32,
    pub error_count: AtomicI32,
}

impl Stats {
    /// The statistics as stored in a snapshot manifest.
    pub fn snapshot(&self) -> SnapshotStats {
        let g32 = |a: &AtomicI32| a.load(Ordering::Relaxed);
        SnapshotStats {
            total_size: self.total_size.load(Ordering::Relaxed),
            excluded_total_size: self.excluded_total_size.load(Ordering::Relaxed),
            file_count: g32(&self.file_count),
            cached_files: g32(&self.cached_files),
            non_cached_files: g32(&self.non_cached_files),
            dir_count: g32(&self.dir_count),
            excluded_file_count: g32(&self.excluded_file_count),
            excluded_dir_count: g32(&self.excluded_dir_count),
            ignored_error_count: g32(&self.ignored_error_count),
            error_count: g32(&self.error_count),
        }
    }
}

pub(crate) fn inc(a: &AtomicI32, n: i32) {
    a.fetch_add(n, Ordering::Relaxed);
}
