//! Epoch manager (format v2/v3 index blob manager, kopia `internal/epoch`,
//! `internal/completeset`; spec §7.5–7.6): blob names, and which index blobs a reader
//! loads, as pure functions over a blob listing.

use std::collections::{BTreeMap, HashMap};

use super::entry::GO_ZERO_TIME_UNIX;

/// Prefix of epoch-manager blobs.
pub const EPOCH_PREFIX: &str = "x";
/// Prefix of epoch markers `xe<E>`.
pub const EPOCH_MARKER_PREFIX: &str = "xe";
/// Prefix of uncompacted index blobs `xn<E>_…`.
pub const UNCOMPACTED_PREFIX: &str = "xn";
/// Prefix of single-epoch compaction sets `xs<E>_…`.
pub const SINGLE_EPOCH_COMPACTION_PREFIX: &str = "xs";
/// Prefix of range checkpoint sets `xr<E1>_<E2>_…`.
pub const RANGE_CHECKPOINT_PREFIX: &str = "xr";
/// Prefix of deletion watermarks `xw<unixSeconds>`.
pub const DELETION_WATERMARK_PREFIX: &str = "xw";
/// Plaintext content of an epoch marker blob.
pub const EPOCH_MARKER_CONTENT: &[u8] = b"epoch-marker";
/// Plaintext content of a deletion watermark blob.
pub const DELETION_WATERMARK_CONTENT: &[u8] = b"deletion-watermark";
/// Epochs up to `write_epoch - UNSETTLED_EPOCHS` are settled.
pub const UNSETTLED_EPOCHS: i64 = 2;

/// Metadata of one listed blob (kopia `blob.Metadata`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobMetadata {
    /// Blob ID.
    pub id: String,
    /// Length in bytes.
    pub length: i64,
    /// Storage modification time, Unix nanoseconds.
    pub timestamp_nanos: i64,
}

impl BlobMetadata {
    /// Metadata with only an ID (length and timestamp zero), for selection logic and tests.
    pub fn named(id: impl Into<String>) -> Self {
        BlobMetadata {
            id: id.into(),
            length: 0,
            timestamp_nanos: 0,
        }
    }
}

/// Blob-ID prefix of the uncompacted index blobs of `epoch`: `xn<E>_`.
pub fn uncompacted_epoch_prefix(epoch: i64) -> String {
    format!("{UNCOMPACTED_PREFIX}{epoch}_")
}

/// Blob-ID prefix of a single-epoch compaction of `epoch`: `xs<E>_`.
pub fn single_epoch_compaction_prefix(epoch: i64) -> String {
    format!("{SINGLE_EPOCH_COMPACTION_PREFIX}{epoch}_")
}

/// Blob-ID prefix of a range checkpoint over `min..=max`: `xr<min>_<max>_`.
pub fn range_checkpoint_prefix(min: i64, max: i64) -> String {
    format!("{RANGE_CHECKPOINT_PREFIX}{min}_{max}_")
}

/// Epoch marker blob ID `xe<E>`.
pub fn epoch_marker_blob_id(epoch: i64) -> String {
    format!("{EPOCH_MARKER_PREFIX}{epoch}")
}

/// Deletion watermark blob ID `xw<unixSeconds>`.
pub fn deletion_watermark_blob_id(unix_seconds: i64) -> String {
    format!("{DELETION_WATERMARK_PREFIX}{unix_seconds}")
}

/// Blob-crypto suffix of a flushed index shard: `<sessionID>-c<shardCount>`, so the
/// full name is `xn<E>_<hash>-<sessionID>-c<N>`.
pub fn index_blob_suffix(session_id: &str, shard_count: usize) -> String {
    format!("{session_id}-c{shard_count}")
}

/// Full name of a flushed index shard: `xn<E>_<hashHex>-<sessionID>-c<N>`.
pub fn index_blob_id(epoch: i64, hash_hex: &str, session_id: &str, shard_count: usize) -> String {
    format!(
        "{}{hash_hex}-{}",
        uncompacted_epoch_prefix(epoch),
        index_blob_suffix(session_id, shard_count)
    )
}

/// Blob-crypto suffix of a compaction output set: `s<hex(random8)>-c<N>`.
pub fn compaction_set_suffix(random: &[u8; 8], count: usize) -> String {
    format!("s{}-c{count}", hex::encode(random))
}

fn parse_go_int(s: &str) -> Option<i64> {
    s.parse().ok()
}

/// Kopia `epochNumberFromBlobID`: cut at the first `_`, strip leading non-digits, parse.
pub fn epoch_number_from_blob_id(id: &str) -> Option<i64> {
    let head = id.split_once('_').map_or(id, |(h, _)| h);
    parse_go_int(head.trim_start_matches(|c: char| !c.is_ascii_digit()))
}

/// Kopia `epochRangeFromBlobID`: split on `_` (≥ 3 parts), first part with leading
/// non-digits stripped and the second part are the range bounds.
pub fn epoch_range_from_blob_id(id: &str) -> Option<(i64, i64)> {
    let mut parts = id.split('_');
    let (first, second) = (parts.next()?, parts.next()?);
    parts.next()?;
    let a = parse_go_int(first.trim_start_matches(|c: char| !c.is_ascii_digit()))?;
    Some((a, parse_go_int(second)?))
}

/// Kopia `deletionWatermarkFromBlobID`: Unix seconds after the `xw` prefix.
pub fn deletion_watermark_from_blob_id(id: &str) -> Option<i64> {
    parse_go_int(id.strip_prefix(DELETION_WATERMARK_PREFIX).unwrap_or(id))
}

/// Kopia `completeset.FindAll`: groups `<any>-s<set>-c<count>` blobs by set and returns,
/// in the order they complete while walking `blobs`, every complete set; blobs not
/// following the pattern are single-blob sets of their own.
pub fn find_complete_sets(blobs: &[BlobMetadata]) -> Vec<Vec<BlobMetadata>> {
    let mut sets: HashMap<&str, Vec<BlobMetadata>> = HashMap::new();
    let mut complete = Vec::new();
    for b in blobs {
        let mut parts = b.id.split('-');
        let (_, set, count) = (parts.next(), parts.next(), parts.next());
        let parsed = match (set, count) {
            (Some(s), Some(c)) if s.starts_with('s') && c.starts_with('c') => {
                parse_go_int(&c[1..]).map(|n| (s, n))
            }
            _ => None,
        };
        let Some((set, count)) = parsed else {
            complete.push(vec![b.clone()]);
            continue;
        };
        let members = sets.entry(set).or_default();
        members.push(b.clone());
        if members.len() as i64 == count {
            complete.push(members.clone());
        }
    }
    complete
}

/// Kopia `completeset.FindFirst`: the first complete set, if any.
pub fn find_first_complete_set(blobs: &[BlobMetadata]) -> Option<Vec<BlobMetadata>> {
    find_complete_sets(blobs).into_iter().next()
}

/// One range checkpoint set covering epochs `min..=max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet {
    /// First epoch covered.
    pub min: i64,
    /// Last epoch covered.
    pub max: i64,
    /// The complete set of `xr` blobs.
    pub blobs: Vec<BlobMetadata>,
}

/// Kopia `findLongestRangeCheckpoint`: the chain `[0,a],[a+1,b],…` reaching the highest
/// epoch, ties broken by fewer ranges (a chain ending at epoch 0 is never chosen).
pub fn longest_range_chain(ranges: &[RangeSet]) -> Vec<RangeSet> {
    let mut by_min: BTreeMap<i64, Vec<&RangeSet>> = BTreeMap::new();
    for r in ranges.iter().filter(|r| r.max >= r.min) {
        by_min.entry(r.min).or_default().push(r);
    }
    let mut memo: HashMap<i64, Vec<RangeSet>> = HashMap::new();
    longest_from(0, &by_min, &mut memo)
}

fn longest_from(
    start: i64,
    by_min: &BTreeMap<i64, Vec<&RangeSet>>,
    memo: &mut HashMap<i64, Vec<RangeSet>>,
) -> Vec<RangeSet> {
    if let Some(v) = memo.get(&start) {
        return v.clone();
    }
    let mut longest = 0i64;
    let mut best: Vec<RangeSet> = Vec::new();
    for cp in by_min.get(&start).map(Vec::as_slice).unwrap_or(&[]) {
        let mut combined = vec![(*cp).clone()];
        if let Some(next) = cp.max.checked_add(1) {
            combined.extend(longest_from(next, by_min, memo));
        }
        let m = combined.last().map_or(0, |r| r.max);
        if m > longest || (m == longest && combined.len() < best.len()) {
            longest = m;
            best = combined;
        }
    }
    memo.insert(start, best.clone());
    best
}

/// The epoch manager's view of a repository (kopia `CurrentSnapshot`), computed from a
/// listing of the `x` blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochState {
    /// Highest epoch with an `xe` marker, 0 if none.
    pub write_epoch: i64,
    /// Highest `xw` deletion watermark (Unix seconds); `None` if there is none after
    /// Go's zero time.
    pub deletion_watermark: Option<i64>,
    /// First complete `xs` set per epoch.
    pub single_epoch_compaction_sets: BTreeMap<i64, Vec<BlobMetadata>>,
    /// The longest chain of complete `xr` sets starting at epoch 0.
    pub longest_range_checkpoint_sets: Vec<RangeSet>,
    /// `xn` blobs by epoch (IDs starting with exactly `xn<E>_`), in listing order.
    pub uncompacted_epoch_sets: BTreeMap<i64, Vec<BlobMetadata>>,
    /// All `xe` blobs.
    pub epoch_markers: Vec<BlobMetadata>,
    /// All `xw` blobs.
    pub deletion_watermark_blobs: Vec<BlobMetadata>,
}

impl EpochState {
    /// Computes the state from a listing (other blobs in it are ignored); listing order
    /// decides which of several equivalent complete sets is used, as in kopia.
    pub fn from_listing(listing: &[BlobMetadata]) -> Self {
        let with = |p: &str| -> Vec<BlobMetadata> {
            listing
                .iter()
                .filter(|b| b.id.starts_with(p))
                .cloned()
                .collect()
        };
        let markers = with(EPOCH_MARKER_PREFIX);
        let watermarks = with(DELETION_WATERMARK_PREFIX);
        let write_epoch = markers
            .iter()
            .filter_map(|b| epoch_number_from_blob_id(&b.id))
            .fold(0, i64::max);
        let deletion_watermark = watermarks
            .iter()
            .filter_map(|b| deletion_watermark_from_blob_id(&b.id))
            .filter(|&t| t > GO_ZERO_TIME_UNIX)
            .max();

        let mut by_epoch: BTreeMap<i64, Vec<BlobMetadata>> = BTreeMap::new();
        for b in with(SINGLE_EPOCH_COMPACTION_PREFIX) {
            if let Some(e) = epoch_number_from_blob_id(&b.id) {
                by_epoch.entry(e).or_default().push(b);
            }
        }
        let single_epoch_compaction_sets = by_epoch
            .into_iter()
            .filter_map(|(e, bs)| find_first_complete_set(&bs).map(|s| (e, s)))
            .collect();

        let mut by_range: BTreeMap<(i64, i64), Vec<BlobMetadata>> = BTreeMap::new();
        for b in with(RANGE_CHECKPOINT_PREFIX) {
            if let Some(r) = epoch_range_from_blob_id(&b.id) {
                by_range.entry(r).or_default().push(b);
            }
        }
        let ranges: Vec<RangeSet> = by_range
            .into_iter()
            .filter_map(|((min, max), bs)| {
                find_first_complete_set(&bs).map(|blobs| RangeSet { min, max, blobs })
            })
            .collect();

        let mut uncompacted_epoch_sets: BTreeMap<i64, Vec<BlobMetadata>> = BTreeMap::new();
        for b in with(UNCOMPACTED_PREFIX) {
            // Kopia lists `xn<E>_` per epoch, so only canonical numbers count.
            if let Some(e) = epoch_number_from_blob_id(&b.id)
                .filter(|&e| b.id.starts_with(&uncompacted_epoch_prefix(e)))
            {
                uncompacted_epoch_sets.entry(e).or_default().push(b);
            }
        }

        EpochState {
            write_epoch,
            deletion_watermark,
            single_epoch_compaction_sets,
            longest_range_checkpoint_sets: longest_range_chain(&ranges),
            uncompacted_epoch_sets,
            epoch_markers: markers,
            deletion_watermark_blobs: watermarks,
        }
    }

    /// True when `epoch ≤ write_epoch − 2` (no writer can add to it any more).
    pub fn is_settled(&self, epoch: i64) -> bool {
        epoch <= self.write_epoch - UNSETTLED_EPOCHS
    }

    /// The `xn` blobs of one epoch (IDs starting with `xn<E>_`), in listing order.
    pub fn uncompacted_blobs(&self, epoch: i64) -> &[BlobMetadata] {
        self.uncompacted_epoch_sets
            .get(&epoch)
            .map_or(&[], Vec::as_slice)
    }

    /// Kopia `GetCompleteIndexSet(maxEpoch)`: range sets of the longest chain, then per
    /// epoch its complete `xs` set if settled, else all its `xn` blobs. `None` means
    /// `LatestEpoch`, i.e. up to `write_epoch + 1`.
    pub fn complete_index_set(&self, max_epoch: Option<i64>) -> Vec<BlobMetadata> {
        let max_epoch = max_epoch.unwrap_or(self.write_epoch.saturating_add(1));
        let mut result = Vec::new();
        let mut start = 0i64;
        for r in &self.longest_range_checkpoint_sets {
            if r.max > start {
                result.extend(r.blobs.iter().cloned());
                start = r.max.saturating_add(1);
            }
        }
        if start > max_epoch {
            return result;
        }
        // Only epochs that have blobs contribute; walk those instead of every number.
        let mut epochs: Vec<i64> = self
            .uncompacted_epoch_sets
            .range(start..=max_epoch)
            .map(|(e, _)| *e)
            .chain(
                self.single_epoch_compaction_sets
                    .range(start..=max_epoch)
                    .map(|(e, _)| *e),
            )
            .collect();
        epochs.sort_unstable();
        epochs.dedup();
        for epoch in epochs {
            match self.single_epoch_compaction_sets.get(&epoch) {
                Some(set) if self.is_settled(epoch) => result.extend(set.iter().cloned()),
                _ => result.extend(self.uncompacted_blobs(epoch).iter().cloned()),
            }
        }
        result
    }

    /// Kopia `MaybeAdvanceWriteEpoch` decision: advance when the write epoch's `xn`
    /// blobs span at least `min_epoch_duration_nanos` and their count or total size
    /// reaches its threshold.
    pub fn should_advance(
        &self,
        min_epoch_duration_nanos: i64,
        count_threshold: i64,
        total_size_threshold: i64,
    ) -> bool {
        should_advance(
            self.uncompacted_blobs(self.write_epoch),
            min_epoch_duration_nanos,
            count_threshold,
            total_size_threshold,
        )
    }
}

/// Kopia `shouldAdvance` over the blobs of one epoch.
pub fn should_advance(
    blobs: &[BlobMetadata],
    min_epoch_duration_nanos: i64,
    count_threshold: i64,
    total_size_threshold: i64,
) -> bool {
    let Some(first) = blobs.first() else {
        return false;
    };
    let (mut lo, mut hi) = (first.timestamp_nanos, first.timestamp_nanos);
    let mut total = 0i64;
    for b in blobs {
        lo = lo.min(b.timestamp_nanos);
        hi = hi.max(b.timestamp_nanos);
        total = total.saturating_add(b.length);
    }
    if hi.saturating_sub(lo) < min_epoch_duration_nanos {
        return false;
    }
    blobs.len() as i64 >= count_threshold || total >= total_size_threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[BlobMetadata]) -> Vec<&str> {
        v.iter().map(|b| b.id.as_str()).collect()
    }

    fn listing(ids: &[&str]) -> Vec<BlobMetadata> {
        ids.iter().map(|s| BlobMetadata::named(*s)).collect()
    }

    #[test]
    fn parsing_like_go() {
        assert_eq!(epoch_number_from_blob_id("xe17"), Some(17));
        assert_eq!(epoch_number_from_blob_id("xn5_abc-s1-c1"), Some(5));
        assert_eq!(epoch_number_from_blob_id("xn_5"), None);
        assert_eq!(epoch_number_from_blob_id("xe1a"), None);
        assert_eq!(epoch_number_from_blob_id("xe"), None);
        assert_eq!(epoch_number_from_blob_id("xe99999999999999999999"), None);
        assert_eq!(epoch_range_from_blob_id("xr0_7_abc"), Some((0, 7)));
        assert_eq!(epoch_range_from_blob_id("xr0_7"), None);
        assert_eq!(epoch_range_from_blob_id("xr0_-7_x"), Some((0, -7)));
        assert_eq!(epoch_range_from_blob_id("xr0_x_y"), None);
        assert_eq!(
            deletion_watermark_from_blob_id("xw1735689600"),
            Some(1_735_689_600)
        );
        assert_eq!(deletion_watermark_from_blob_id("xw-5"), Some(-5));
        assert_eq!(deletion_watermark_from_blob_id("xwabc"), None);
    }

    #[test]
    fn names_are_built_like_kopia() {
        assert_eq!(
            index_blob_id(
                0,
                "8f79372c908f5bf20a46014f97093197",
                "s12889c210644806f130",
                1
            ),
            "xn0_8f79372c908f5bf20a46014f97093197-s12889c210644806f130-c1"
        );
        assert_eq!(epoch_marker_blob_id(3), "xe3");
        assert_eq!(deletion_watermark_blob_id(5), "xw5");
        assert_eq!(single_epoch_compaction_prefix(2), "xs2_");
        assert_eq!(range_checkpoint_prefix(0, 7), "xr0_7_");
        assert_eq!(compaction_set_suffix(&[0xab; 8], 2), "sabababababababab-c2");
    }

    #[test]
    fn complete_sets_follow_listing_order() {
        let l = listing(&[
            "xs1_a-sB-c2",
            "xs1_b-sA-c1",
            "xs1_c-sB-c2",
            "odd-name",
            "xs1_d-sC-cX",
            "xs1_e-sD-c3",
        ]);
        let sets = find_complete_sets(&l);
        let got: Vec<Vec<&str>> = sets.iter().map(|s| names(s)).collect();
        assert_eq!(
            got,
            vec![
                vec!["xs1_b-sA-c1"],
                vec!["xs1_a-sB-c2", "xs1_c-sB-c2"],
                vec!["odd-name"],
                vec!["xs1_d-sC-cX"],
            ]
        );
        assert_eq!(
            names(&find_first_complete_set(&l).unwrap()),
            ["xs1_b-sA-c1"]
        );
        assert!(find_first_complete_set(&listing(&["x-s1-c2"])).is_none());
    }

    fn range(min: i64, max: i64) -> RangeSet {
        RangeSet {
            min,
            max,
            blobs: vec![BlobMetadata::named(format!(
                "xr{min}_{max}_h-s{min}{max}-c1"
            ))],
        }
    }

    #[test]
    fn longest_chain_prefers_reach_then_fewer_ranges() {
        let chain = longest_range_chain(&[range(0, 7), range(8, 15), range(0, 15)]);
        assert_eq!(chain, vec![range(0, 15)]);
        let chain = longest_range_chain(&[range(0, 7), range(8, 20), range(0, 15)]);
        assert_eq!(chain, vec![range(0, 7), range(8, 20)]);
        assert!(longest_range_chain(&[range(0, 0)]).is_empty());
        assert!(longest_range_chain(&[range(1, 5)]).is_empty());
        assert!(longest_range_chain(&[range(0, -3)]).is_empty());
    }

    #[test]
    fn zero_zero_range_is_skipped_as_in_kopia() {
        // Chain [0,0],[1,5]: kopia adds only ranges whose max exceeds the start (0),
        // so the [0,0] blobs are not loaded.
        let l = listing(&["xr0_0_a-s1-c1", "xr1_5_b-s2-c1", "xe6", "xn6_c-s3-c1"]);
        let st = EpochState::from_listing(&l);
        assert_eq!(st.longest_range_checkpoint_sets.len(), 2);
        assert_eq!(
            names(&st.complete_index_set(None)),
            ["xr1_5_b-s2-c1", "xn6_c-s3-c1"]
        );
    }

    #[test]
    fn settledness_decides_between_xs_and_xn() {
        let l = listing(&[
            "xe2",
            "xs1_a-s1-c1",
            "xs0_b-s2-c1",
            "xn0_c-s3-c1",
            "xn1_d-s4-c1",
        ]);
        let st = EpochState::from_listing(&l);
        assert!(st.is_settled(0) && !st.is_settled(1));
        assert_eq!(
            names(&st.complete_index_set(None)),
            ["xs0_b-s2-c1", "xn1_d-s4-c1"]
        );
        assert_eq!(names(&st.complete_index_set(Some(0))), ["xs0_b-s2-c1"]);
    }

    #[test]
    fn non_canonical_and_huge_epochs_do_not_hang() {
        let l = listing(&[
            "xe9223372036854775807",
            "xn01_a-s1-c1",
            "xn9223372036854775807_b-s1-c1",
            "xr0_9223372036854775807_c-s2-c1",
            "xw99999999999999999999",
        ]);
        let st = EpochState::from_listing(&l);
        assert_eq!(st.write_epoch, i64::MAX);
        assert_eq!(st.deletion_watermark, None);
        assert!(st.uncompacted_blobs(1).is_empty());
        assert_eq!(
            names(&st.complete_index_set(None)),
            [
                "xr0_9223372036854775807_c-s2-c1",
                "xn9223372036854775807_b-s1-c1"
            ]
        );
    }

    #[test]
    fn advancement_needs_span_and_volume() {
        let hour = 3_600_000_000_000i64;
        let mk = |ts: i64, len: i64| BlobMetadata {
            id: "xn0_a-s1-c1".into(),
            length: len,
            timestamp_nanos: ts,
        };
        assert!(!should_advance(&[], 0, 0, 0));
        let blobs: Vec<_> = (0..20).map(|i| mk(i * hour, 10)).collect();
        assert!(should_advance(&blobs, 19 * hour, 20, 1 << 20));
        assert!(!should_advance(&blobs, 20 * hour, 20, 1 << 20));
        assert!(!should_advance(&blobs, 19 * hour, 21, 1 << 20));
        assert!(should_advance(&blobs, 19 * hour, 21, 200));
        let st = EpochState::from_listing(&blobs);
        assert!(st.should_advance(19 * hour, 20, 1 << 20));
    }
}
