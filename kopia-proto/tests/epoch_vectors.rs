//! Epoch-manager vectors (`repo-epoch.json`, spec §7.6) and the epoch parts of
//! `repo-naming.json` (§7.5). The `shardPaths` of `repo-naming.json` belong to the
//! filesystem storage (§2.3) and are tested there; `sessionID` is in `pack_vectors.rs`.

use kopia_proto::index::epoch::{
    BlobMetadata, EpochState, epoch_number_from_blob_id, epoch_range_from_blob_id,
};
use serde_json::Value;

mod common;
use common::load;

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_epoch_scenario_selects_the_expected_index_blobs() {
    let doc = load("repo-epoch.json");
    let scenarios = doc["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 4);
    for sc in scenarios {
        let name = sc["name"].as_str().unwrap();
        let listing: Vec<BlobMetadata> = strings(&sc["listing"])
            .into_iter()
            .map(BlobMetadata::named)
            .collect();
        let st = EpochState::from_listing(&listing);
        let exp = &sc["expected"];
        assert_eq!(
            st.write_epoch,
            exp["writeEpoch"].as_i64().unwrap(),
            "{name}"
        );
        assert_eq!(
            st.deletion_watermark.unwrap_or(0),
            exp["deletionWatermark"].as_i64().unwrap(),
            "{name}"
        );
        let got: Vec<String> = st
            .complete_index_set(None)
            .into_iter()
            .map(|b| b.id)
            .collect();
        assert_eq!(got, strings(&exp["indexBlobs"]), "{name}");
    }
}

#[test]
fn epoch_number_and_range_parsing_vectors() {
    let doc = load("repo-naming.json");
    for v in doc["epochNumberFromBlobID"].as_array().unwrap() {
        let id = v["blobID"].as_str().unwrap();
        assert_eq!(
            epoch_number_from_blob_id(id),
            Some(v["epoch"].as_i64().unwrap()),
            "{id}"
        );
    }
    for v in doc["epochRangeFromBlobID"].as_array().unwrap() {
        let id = v["blobID"].as_str().unwrap();
        let r = v["range"].as_array().unwrap();
        assert_eq!(
            epoch_range_from_blob_id(id),
            Some((r[0].as_i64().unwrap(), r[1].as_i64().unwrap())),
            "{id}"
        );
    }
}
