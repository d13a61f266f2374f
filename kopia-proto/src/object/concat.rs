//! Concatenation of objects and the part layout of kopia's large-file parallel
//! upload (`Manager.Concatenate`, `upload.parallelUploadAboveSize`).

use std::ops::Range;

use super::ContentSink;
use super::indirect::{IndirectEntry, encode_index};
use super::writer::{WriteError, WriterOptions, WrittenObject, write_index_object};
use crate::ids::ObjectId;

/// Why a parallel-upload layout cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConcatError {
    /// `parallelUploadAboveSize` is 0: kopia v0.23.1 divides by zero on any
    /// non-empty file, so there is no behaviour to reproduce.
    #[error("parallel upload threshold 0 is not supported (kopia v0.23.1 crashes on it)")]
    ZeroThreshold,
}

/// The byte ranges a file of `file_size` bytes is uploaded in when the policy's
/// `parallelUploadAboveSize` is `threshold`; `None` when it is uploaded as one object
/// (threshold negative, or size not above it).
///
/// Parts `0..n` are exactly `threshold` bytes (`n = size / threshold`); the last part
/// starts at `n·threshold` and, in kopia, reads until end of file — its range here
/// ends at `file_size` and may be empty.
pub fn parallel_upload_parts(
    file_size: u64,
    threshold: i64,
) -> Result<Option<Vec<Range<u64>>>, ConcatError> {
    let p = match u64::try_from(threshold) {
        Err(_) => return Ok(None),
        Ok(0) => return Err(ConcatError::ZeroThreshold),
        Ok(p) => p,
    };
    if file_size <= p {
        return Ok(None);
    }
    let n = file_size / p;
    let mut parts: Vec<Range<u64>> = (0..n).map(|i| i * p..(i + 1) * p).collect();
    parts.push(n * p..file_size);
    Ok(Some(parts))
}

/// The entries of the concatenation of objects given by their chunk entries: each
/// part's entries shifted by the sum of the lengths of the entries before it.
pub fn concatenate_entries<'a, I>(parts: I) -> Vec<IndirectEntry>
where
    I: IntoIterator<Item = &'a [IndirectEntry]>,
{
    let mut out = Vec::new();
    let mut total = 0u64;
    for part in parts {
        for e in part {
            out.push(IndirectEntry {
                start: e.start.saturating_add(total),
                length: e.length,
                object: e.object,
            });
        }
        total = part.iter().fold(total, |t, e| t.saturating_add(e.length));
    }
    out
}

/// Concatenates written objects into one, as kopia's `Concatenate`: a single part is
/// returned as is; otherwise the combined index is written with prefix `x`, the
/// repository splitter and the metadata compressor of `opts`, and its `I` ID returned.
pub fn concatenate<S: ContentSink + ?Sized>(
    sink: &mut S,
    parts: &[WrittenObject],
    opts: &WriterOptions,
) -> Result<ObjectId, WriteError<S::Error>> {
    match parts {
        [] => Err(WriteError::NoParts),
        [only] => Ok(only.id),
        many => {
            let entries = concatenate_entries(many.iter().map(|p| p.entries.as_slice()));
            // Kopia always uses "x" here, whatever the parts' prefix.
            let index_opts = opts.clone().with_prefix(None)?;
            write_index_object(sink, &index_opts, &encode_index(&entries))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_layout() {
        assert_eq!(parallel_upload_parts(10, -1).unwrap(), None);
        assert_eq!(parallel_upload_parts(10, 10).unwrap(), None);
        assert_eq!(parallel_upload_parts(0, 10).unwrap(), None);
        assert_eq!(
            parallel_upload_parts(11, 10).unwrap(),
            Some(vec![0..10, 10..11])
        );
        assert_eq!(
            parallel_upload_parts(20, 10).unwrap(),
            Some(vec![0..10, 10..20, 20..20])
        );
        assert_eq!(
            parallel_upload_parts(25, 8).unwrap(),
            Some(vec![0..8, 8..16, 16..24, 24..25])
        );
        assert_eq!(
            parallel_upload_parts(5, 0).unwrap_err(),
            ConcatError::ZeroThreshold
        );
    }

    #[test]
    fn entries_are_shifted_by_running_length() {
        let a: ObjectId = "00aa".parse().unwrap();
        let b: ObjectId = "00bb".parse().unwrap();
        let p1 = [
            IndirectEntry {
                start: 0,
                length: 3,
                object: a,
            },
            IndirectEntry {
                start: 3,
                length: 4,
                object: b,
            },
        ];
        let p2 = [IndirectEntry {
            start: 0,
            length: 0,
            object: a,
        }];
        let p3 = [IndirectEntry {
            start: 0,
            length: 5,
            object: b,
        }];
        let got = concatenate_entries([&p1[..], &p2[..], &p3[..]]);
        let starts: Vec<u64> = got.iter().map(|e| e.start).collect();
        assert_eq!(starts, vec![0, 3, 7, 7]);
        assert_eq!(got[3].object, b);
    }
}
