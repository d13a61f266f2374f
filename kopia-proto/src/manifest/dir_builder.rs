//! Building a directory object from its processed children, with kopia's summary rules and
//! entry order (`snapshotfs/dir_manifest_builder.go`, object-format §6.5).

use super::{
    DIRECTORY_STREAM_TYPE, DirEntry, DirManifest, DirectorySummary, EntryType, EntryWithError,
};

/// Accumulates the children of one directory and produces its [`DirManifest`].
///
/// Children may be added in any order; [`DirManifestBuilder::build`] sorts them.
#[derive(Clone, Debug, Default)]
pub struct DirManifestBuilder {
    summary: DirectorySummary,
    entries: Vec<DirEntry>,
}

impl DirManifestBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        DirManifestBuilder {
            summary: DirectorySummary::default(),
            entries: Vec::with_capacity(n),
        }
    }

    /// Adds a successfully processed child and folds it into the summary.
    pub fn add_entry(&mut self, e: DirEntry) {
        let s = &mut self.summary;
        if e.mtime > s.max_mod_time {
            s.max_mod_time = e.mtime;
        }
        match e.entry_type {
            EntryType::Symlink => s.total_symlink_count += 1,
            EntryType::File => {
                s.total_file_count += 1;
                s.total_file_size += e.size;
            }
            EntryType::Directory => {
                if let Some(c) = &e.summary {
                    s.total_file_count += c.total_file_count;
                    s.total_file_size += c.total_file_size;
                    s.total_dir_count += c.total_dir_count;
                    s.total_symlink_count += c.total_symlink_count;
                    s.fatal_error_count += c.fatal_error_count;
                    s.ignored_error_count += c.ignored_error_count;
                    s.failed_entries.extend(c.failed_entries.iter().cloned());
                    if c.max_mod_time > s.max_mod_time {
                        s.max_mod_time = c.max_mod_time;
                    }
                }
            }
            _ => {}
        }
        self.entries.push(e);
    }

    /// Records a child that could not be processed (`rel_path` from the snapshot root).
    pub fn add_failed_entry(
        &mut self,
        rel_path: impl Into<Vec<u8>>,
        ignored: bool,
        error: impl Into<Vec<u8>>,
    ) {
        if ignored {
            self.summary.ignored_error_count += 1;
        } else {
            self.summary.fatal_error_count += 1;
        }
        self.summary.failed_entries.push(EntryWithError {
            path: rel_path.into(),
            error: error.into(),
        });
    }

    /// Number of entries added so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when no entries were added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Finishes the directory: counts itself, applies the empty-directory `maxTime` rule,
    /// sets `incomplete`, sorts errors by path and entries directories-first then by name.
    pub fn build(self, dir_mtime: i64, incomplete_reason: &str) -> DirManifest {
        let DirManifestBuilder {
            mut summary,
            mut entries,
        } = self;
        summary.total_dir_count += 1;
        if entries.is_empty() {
            summary.max_mod_time = dir_mtime;
        }
        summary.incomplete_reason = incomplete_reason.to_string();
        // All errors are kept (kopia's truncation to 10 does not reach the stored summary).
        summary.failed_entries.sort_by(|a, b| a.path.cmp(&b.path));
        entries.sort_unstable_by(|a, b| {
            b.is_dir()
                .cmp(&a.is_dir())
                .then_with(|| a.name.cmp(&b.name))
        });
        DirManifest {
            stream_type: DIRECTORY_STREAM_TYPE.to_string(),
            entries,
            summary: Some(summary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, t: EntryType, size: i64, mtime: i64) -> DirEntry {
        DirEntry {
            name: name.as_bytes().to_vec(),
            entry_type: t,
            size,
            mtime,
            object_id: "x".into(),
            ..DirEntry::default()
        }
    }

    #[test]
    fn sorts_dirs_first_then_bytewise() {
        let mut b = DirManifestBuilder::new();
        b.add_entry(entry("b", EntryType::File, 1, 5));
        b.add_entry(entry("z", EntryType::Directory, 0, 1));
        b.add_entry(entry("Upper", EntryType::File, 2, 3));
        b.add_entry(entry("a", EntryType::Symlink, 3, 4));
        let m = b.build(99, "");
        let names: Vec<&[u8]> = m.entries.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(names, vec![&b"z"[..], b"Upper", b"a", b"b"]);
        let s = m.summary.unwrap();
        assert_eq!(
            (s.total_file_count, s.total_file_size, s.total_symlink_count),
            (2, 3, 1)
        );
        // The subdirectory had no summary: only its own mtime and no counts are folded in.
        assert_eq!((s.total_dir_count, s.max_mod_time), (1, 5));
    }

    #[test]
    fn empty_directory_uses_own_mtime_even_with_failures() {
        let mut b = DirManifestBuilder::new();
        b.add_failed_entry("d/y", true, "e1");
        b.add_failed_entry("d/x", false, "e2");
        let m = b.build(42, "checkpoint");
        let s = m.summary.as_ref().unwrap();
        assert_eq!(s.max_mod_time, 42);
        assert_eq!((s.fatal_error_count, s.ignored_error_count), (1, 1));
        assert_eq!(s.failed_entries[0].path, b"d/x");
        assert!(
            m.to_json()
                .starts_with(b"{\"stream\":\"kopia:directory\",\"entries\":null,")
        );
        assert!(
            String::from_utf8(m.to_json())
                .unwrap()
                .contains("\"incomplete\":\"checkpoint\"")
        );
    }

    #[test]
    fn nested_summaries_accumulate() {
        let mut child = DirManifestBuilder::new();
        child.add_entry(entry("f", EntryType::File, 10, 7));
        child.add_failed_entry("c/bad", false, "boom");
        let cs = child.build(1, "").summary.unwrap();
        let mut d = entry("c", EntryType::Directory, 0, 2);
        d.summary = Some(cs);
        let mut parent = DirManifestBuilder::new();
        parent.add_entry(d);
        let s = parent.build(0, "").summary.unwrap();
        assert_eq!(
            (s.total_dir_count, s.total_file_size, s.fatal_error_count),
            (2, 10, 1)
        );
        assert_eq!(s.max_mod_time, 7);
        assert_eq!(s.failed_entries.len(), 1);
    }
}
