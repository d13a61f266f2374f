//! `kopia.blobcfg`: blob retention settings, encrypted like the inner config
//! (kopia's `repo/format/blobcfg_blob.go`).

use serde::{Deserialize, Serialize};

use super::{FORMAT_ENCRYPTION_AES256_GCM, FormatBlob, FormatError, FormatKey};

/// Name of the blob holding [`BlobStorageConfig`].
pub const BLOBCFG_BLOB_ID: &str = "kopia.blobcfg";

/// Shortest retention period kopia accepts (24 h, in ns).
pub const MIN_RETENTION_PERIOD_NS: i64 = 24 * 3_600_000_000_000;

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Blob retention (object lock) settings; the default means "no retention".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BlobStorageConfig {
    /// `GOVERNANCE` or `COMPLIANCE` (S3), `Locked` (Azure); empty when off.
    #[serde(
        rename = "retentionMode",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub retention_mode: String,
    /// Retention period in ns; 0 when off.
    #[serde(rename = "retentionPeriod", default, skip_serializing_if = "is_zero")]
    pub retention_period: i64,
}

impl BlobStorageConfig {
    /// Retention is on only when both mode and period are set.
    pub fn is_retention_enabled(&self) -> bool {
        !self.retention_mode.is_empty() && self.retention_period != 0
    }

    /// Kopia's validation: both fields or neither, and at least 24 h.
    pub fn validate(&self) -> Result<(), FormatError> {
        if self.retention_mode.is_empty() != (self.retention_period == 0) {
            return Err(FormatError::InvalidParameters(
                "both retention mode and period must be set, or neither".into(),
            ));
        }
        if self.retention_period != 0 && self.retention_period < MIN_RETENTION_PERIOD_NS {
            return Err(FormatError::InvalidParameters(
                "retention period must be at least 24 hours".into(),
            ));
        }
        Ok(())
    }

    /// The stored bytes of `kopia.blobcfg` for the repository described by `blob`
    /// (`{}` encrypts to 30 bytes).
    pub fn encrypt(&self, blob: &FormatBlob, key: &FormatKey) -> Result<Vec<u8>, FormatError> {
        let json = super::go_json_compact(self);
        match blob.encryption.as_str() {
            FORMAT_ENCRYPTION_AES256_GCM => Ok(key.seal(&blob.unique_id, &json)),
            "NONE" => Ok(json),
            other => Err(FormatError::UnsupportedFormatEncryption(other.to_string())),
        }
    }

    /// Reads the stored bytes of `kopia.blobcfg`. Kopia reports a decryption
    /// failure here as a corrupt blob, not as a wrong password.
    pub fn decrypt(data: &[u8], blob: &FormatBlob, key: &FormatKey) -> Result<Self, FormatError> {
        let plain;
        let json: &[u8] = match blob.encryption.as_str() {
            FORMAT_ENCRYPTION_AES256_GCM => {
                plain = key
                    .open(&blob.unique_id, data)
                    .map_err(|_| FormatError::Corrupt("unable to decrypt kopia.blobcfg".into()))?;
                &plain
            }
            "NONE" => data,
            other => return Err(FormatError::UnsupportedFormatEncryption(other.to_string())),
        };
        crate::gojson::de::from_slice_struct(json)
            .map_err(|e| FormatError::Corrupt(format!("invalid kopia.blobcfg: {e}")))
    }
}
