//! Bodies for identifiers and names: content IDs, object IDs, Go timestamps and the
//! blob names of the epoch / legacy index managers.

use kopia_proto::gojson::{format_time, parse_time, write_time};
use kopia_proto::ids::{ContentId, ObjectId};
use kopia_proto::index::epoch::{
    BlobMetadata, EpochState, deletion_watermark_from_blob_id, epoch_number_from_blob_id,
    epoch_range_from_blob_id, find_complete_sets, should_advance, uncompacted_epoch_prefix,
};
use kopia_proto::index::legacy::{active_legacy_index_blobs, parse_compaction_log};

use super::Input;

/// `ContentId` from text and from its binary form; whatever parses must format and
/// parse back to the same ID. Accepted when either form parses.
pub fn content_id(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let parsed = text.parse::<ContentId>();
    if let Ok(id) = &parsed {
        let again: ContentId = id.to_string().parse().expect("formatted content ID parses");
        assert_eq!(again, *id, "content ID text round trip");
        let bin = id.to_binary();
        assert_eq!(
            ContentId::from_binary(&bin).expect("own binary form parses"),
            *id
        );
        let _ = (id.iv(), id.prefix(), id.hash(), id.has_prefix());
    }
    let binary = ContentId::from_binary(data);
    if let Ok(id) = &binary {
        assert_eq!(
            ContentId::from_binary(&id.to_binary()).ok().as_ref(),
            Some(id)
        );
        let again: ContentId = id.to_string().parse().expect("formatted content ID parses");
        assert_eq!(again, *id, "binary content ID text round trip");
    }
    parsed.is_ok() || binary.is_ok()
}

/// `ObjectId` from text; whatever parses must format and parse back to the same ID.
pub fn object_id(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let parsed = text.parse::<ObjectId>();
    if let Ok(id) = &parsed {
        let again: ObjectId = id.to_string().parse().expect("formatted object ID parses");
        assert_eq!(again, *id, "object ID text round trip");
        let _ = (id.indirection(), id.is_compressed(), id.content_id());
        match id.index_object_id() {
            Some(inner) => {
                assert!(id.is_indirect());
                assert_eq!(ObjectId::indirect(inner).ok(), Some(*id));
            }
            None => assert!(id.direct_content().is_some()),
        }
    }
    parsed.is_ok()
}

/// Go RFC 3339 timestamps: parsed times format back to the same instant, and every
/// `i64` formats to a timestamp that parses back to itself.
pub fn go_time(data: &[u8]) -> bool {
    let mut input = Input(data);
    let ns = input.u64() as i64;
    let formatted = format_time(ns);
    assert_eq!(
        parse_time(&formatted).ok(),
        Some(ns),
        "format_time({ns}) round trip"
    );
    let mut quoted = Vec::new();
    write_time(&mut quoted, ns);
    assert_eq!(quoted, format!("\"{formatted}\"").into_bytes());

    let parsed = parse_time(&String::from_utf8_lossy(data));
    if let Ok(t) = parsed {
        assert_eq!(
            parse_time(&format_time(t)).ok(),
            Some(t),
            "parse_time round trip"
        );
    }
    parsed.is_ok()
}

/// Epoch and legacy index selection over a listing whose blob names are the input's
/// lines (length and timestamp derived from the line number). Lines that parse as JSON
/// are also tried as legacy compaction logs.
pub fn epoch(data: &[u8]) -> bool {
    let mut input = Input(data);
    let mut listing = Vec::new();
    let mut logs = Vec::new();
    let mut first_parsed = None;
    while !input.0.is_empty() {
        let line = input.line();
        if let Ok(log) = parse_compaction_log(line) {
            logs.push(log);
        }
        let id = String::from_utf8_lossy(line).into_owned();
        let n = epoch_number_from_blob_id(&id);
        if let Some(e) = n {
            // Only canonical numbers name an uncompacted set: check the prefix writer.
            let _ = uncompacted_epoch_prefix(e);
        }
        if let Some((lo, hi)) = epoch_range_from_blob_id(&id) {
            let _ = lo.checked_sub(hi);
        }
        let _ = deletion_watermark_from_blob_id(&id);
        if first_parsed.is_none() {
            first_parsed = Some(n.is_some());
        }
        let i = listing.len() as i64;
        listing.push(BlobMetadata {
            id,
            length: i.wrapping_mul(1_000_003),
            timestamp_nanos: i.wrapping_mul(7_919_000_000_000),
        });
    }
    let sets = find_complete_sets(&listing);
    assert!(
        sets.iter().all(|s| !s.is_empty()),
        "complete sets are never empty"
    );
    let state = EpochState::from_listing(&listing);
    for max in [
        None,
        Some(0),
        Some(1),
        Some(state.write_epoch),
        Some(i64::MAX),
    ] {
        for b in state.complete_index_set(max) {
            assert!(
                listing.contains(&b),
                "selected blob {:?} is from the listing",
                b.id
            );
        }
    }
    let _ = state.is_settled(i64::MIN);
    let _ = state.should_advance(0, 1, 1);
    let _ = should_advance(&listing, i64::MIN, i64::MAX, i64::MAX);
    for b in active_legacy_index_blobs(&listing, &logs) {
        assert!(
            listing.contains(&b),
            "active legacy blob {:?} is from the listing",
            b.id
        );
    }
    first_parsed.unwrap_or(false)
}
