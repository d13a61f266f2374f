//! Maintenance parameters (`type=maintenance` manifest, `repo/maintenance/maintenance_params.go`,
//! repository-format §10.1).

use super::{Labels, ManifestError, TYPE_LABEL};
use crate::gojson::{ObjectWriter, de};
use serde::Deserialize;

/// One maintenance cycle (`quick` / `full`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CycleParams {
    /// `enabled`.
    #[serde(deserialize_with = "de::null_default")]
    pub enabled: bool,
    /// `interval`: Go `time.Duration`, nanoseconds.
    #[serde(deserialize_with = "de::null_default")]
    pub interval: i64,
}

/// `logRetention`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LogRetentionOptions {
    /// `maxTotalSize` (bytes).
    #[serde(deserialize_with = "de::null_default")]
    pub max_total_size: i64,
    /// `maxCount`.
    #[serde(deserialize_with = "de::null_default")]
    pub max_count: i64,
    /// `maxAge`: nanoseconds.
    #[serde(deserialize_with = "de::null_default")]
    pub max_age: i64,
}

/// Maintenance parameters payload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct MaintenanceParams {
    /// `owner`: `user@host` allowed to run maintenance.
    #[serde(deserialize_with = "de::null_default")]
    pub owner: String,
    /// `quick`.
    #[serde(rename = "quick", deserialize_with = "de::null_default")]
    pub quick_cycle: CycleParams,
    /// `full`.
    #[serde(rename = "full", deserialize_with = "de::null_default")]
    pub full_cycle: CycleParams,
    /// `logRetention`.
    #[serde(rename = "logRetention", deserialize_with = "de::null_default")]
    pub log_retention: LogRetentionOptions,
    /// `extendObjectLocks`.
    #[serde(rename = "extendObjectLocks", deserialize_with = "de::null_default")]
    pub extend_object_locks: bool,
    /// `listParallelism`.
    #[serde(rename = "listParallelism", deserialize_with = "de::null_default")]
    pub list_parallelism: i64,
}

const HOUR_NS: i64 = 3_600_000_000_000;

impl MaintenanceParams {
    /// Kopia's defaults (`DefaultParams`) for the given owner: quick every hour, full every
    /// 24 h, logs kept up to 1 GiB / 10 000 files / 30 days.
    pub fn defaults(owner: impl Into<String>) -> Self {
        MaintenanceParams {
            owner: owner.into(),
            quick_cycle: CycleParams {
                enabled: true,
                interval: HOUR_NS,
            },
            full_cycle: CycleParams {
                enabled: true,
                interval: 24 * HOUR_NS,
            },
            log_retention: LogRetentionOptions {
                max_total_size: 1 << 30,
                max_count: 10_000,
                max_age: 30 * 24 * HOUR_NS,
            },
            extend_object_locks: false,
            list_parallelism: 0,
        }
    }

    /// Manifest labels: `{"type":"maintenance"}`.
    pub fn labels() -> Labels {
        Labels::from([(TYPE_LABEL.to_string(), "maintenance".to_string())])
    }

    /// Parses the payload.
    pub fn from_json(json: &[u8]) -> Result<Self, ManifestError> {
        de::from_slice_first(json).map_err(ManifestError::json("maintenance parameters"))
    }

    /// The Go encoding of the payload.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let mut o = ObjectWriter::new(&mut out);
        o.str("owner", &self.owner);
        for (key, c) in [("quick", &self.quick_cycle), ("full", &self.full_cycle)] {
            let mut w = ObjectWriter::new(o.key(key));
            w.bool("enabled", c.enabled);
            w.i64("interval", c.interval);
            w.finish();
        }
        let mut w = ObjectWriter::new(o.key("logRetention"));
        w.i64("maxTotalSize", self.log_retention.max_total_size);
        w.i64("maxCount", self.log_retention.max_count);
        w.i64("maxAge", self.log_retention.max_age);
        w.finish();
        o.bool("extendObjectLocks", self.extend_object_locks);
        o.i64("listParallelism", self.list_parallelism);
        o.finish();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"owner":"user@host","quick":{"enabled":true,"interval":3600000000000},"full":{"enabled":true,"interval":86400000000000},"logRetention":{"maxTotalSize":1073741824,"maxCount":10000,"maxAge":2592000000000000},"extendObjectLocks":false,"listParallelism":0}"#;

    #[test]
    fn defaults_match_spec_bytes() {
        assert_eq!(
            String::from_utf8(MaintenanceParams::defaults("user@host").to_json()).unwrap(),
            SPEC
        );
        assert_eq!(
            MaintenanceParams::from_json(SPEC.as_bytes()).unwrap(),
            MaintenanceParams::defaults("user@host")
        );
        assert_eq!(MaintenanceParams::labels()["type"], "maintenance");
    }

    #[test]
    fn malformed_rejected() {
        assert!(MaintenanceParams::from_json(b"{\"quick\":{\"interval\":\"1h\"}}").is_err());
        assert!(MaintenanceParams::from_json(b"").is_err());
    }
}
