//! The inner repository configuration (kopia's `RepositoryConfig` =
//! `ContentFormat` + `ObjectFormat` + upgrade lock + required features).
//!
//! Field order, `omitempty` rules and JSON names follow kopia's Go structs, so
//! [`RepositoryConfig::to_json`] reproduces kopia's bytes. Durations are Go
//! `time.Duration` values: signed nanoseconds.

use serde::{Deserialize, Serialize};

use super::{FormatError, FormatKey, go_bytes};
use crate::encryption::Algorithm;

/// Hash names kopia v0.23.1 registers (`repo/hashing`).
const HASH_NAMES: &[&str] = &[
    "BLAKE2B-256-128",
    "BLAKE2B-256",
    "BLAKE2S-128",
    "BLAKE2S-256",
    "BLAKE3-256",
    "BLAKE3-256-128",
    "HMAC-SHA256",
    "HMAC-SHA256-128",
    "HMAC-SHA224",
    "HMAC-SHA3-224",
    "HMAC-SHA3-256",
];

/// Required features kopia v0.23.1 understands.
pub const SUPPORTED_FEATURES: &[&str] = &["index-v1", "index-v2"];

/// Smallest `maxPackSize` kopia accepts when creating or changing parameters.
pub const MIN_PACK_SIZE: i64 = 10 << 20;
/// Largest `maxPackSize` kopia accepts when creating or changing parameters.
pub const MAX_PACK_SIZE: i64 = 120 << 20;
/// Pack size used when the config says 0 (and at creation).
pub const DEFAULT_PACK_SIZE: i64 = 20 << 20;

const MINUTE_NS: i64 = 60_000_000_000;
const HOUR_NS: i64 = 60 * MINUTE_NS;

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// The repository configuration stored encrypted in `kopia.repository`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryConfig {
    /// Content hash algorithm, e.g. `BLAKE2B-256-128`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
    /// Content encryption algorithm, e.g. `AES256-GCM-HMAC-SHA256`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub encryption: String,
    /// Error-correction algorithm (`REED-SOLOMON-CRC32`), empty when off.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ecc: String,
    /// ECC space overhead in percent; ECC is active only when this is > 0.
    #[serde(
        rename = "eccOverheadPercent",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub ecc_overhead_percent: i64,
    /// Secret keying the content hash (`secret`); empty when HMAC is disabled.
    #[serde(
        rename = "secret",
        default,
        with = "go_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub hmac_secret: Vec<u8>,
    /// Master key all content encryption keys derive from.
    #[serde(
        rename = "masterKey",
        default,
        with = "go_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub master_key: Vec<u8>,
    /// Format version, 1..=3.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: i64,
    /// Target pack size in bytes; 0 means 20 MiB.
    #[serde(rename = "maxPackSize", default, skip_serializing_if = "is_zero")]
    pub max_pack_size: i64,
    /// Index format written by clients; 0 means 1.
    #[serde(rename = "indexVersion", default, skip_serializing_if = "is_zero")]
    pub index_version: i64,
    /// Epoch index manager settings.
    #[serde(rename = "epochParameters", default)]
    pub epoch_parameters: EpochParameters,
    /// Password change supported; when false packs embed the format blob and purpose
    /// keys derive from the format key.
    #[serde(rename = "enablePasswordChange", default)]
    pub enable_password_change: bool,
    /// Object splitter, e.g. `DYNAMIC-4M-BUZHASH`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub splitter: String,
    /// Format-upgrade lock; a client must not write while it is present.
    #[serde(
        rename = "upgradeLock",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub upgrade_lock: Option<UpgradeLock>,
    /// Features a client must understand to open the repository.
    #[serde(
        rename = "requiredFeatures",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub required_features: Vec<RequiredFeature>,
}

/// Epoch manager parameters (kopia's `epoch.Parameters`, PascalCase keys, no omitempty).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EpochParameters {
    /// Epoch index manager in use (false in format v1).
    pub enabled: bool,
    /// How long a client trusts its view of the epoch state (ns).
    pub epoch_refresh_frequency: i64,
    /// Epochs between full range checkpoints.
    pub full_checkpoint_frequency: i64,
    /// Age a compacted set must reach before its inputs are deleted (ns).
    pub cleanup_safety_margin: i64,
    /// Minimum duration of an epoch (ns).
    pub min_epoch_duration: i64,
    /// Advance the epoch at this many index blobs …
    pub epoch_advance_on_count_threshold: i64,
    /// … or at this many bytes of index blobs.
    pub epoch_advance_on_total_size_bytes_threshold: i64,
    /// Parallelism of deletions (local tuning).
    pub delete_parallelism: i64,
}

impl EpochParameters {
    /// Kopia's `epoch.DefaultParameters()` (format v2/v3).
    pub fn kopia_default() -> Self {
        EpochParameters {
            enabled: true,
            epoch_refresh_frequency: 20 * MINUTE_NS,
            full_checkpoint_frequency: 7,
            cleanup_safety_margin: 4 * HOUR_NS,
            min_epoch_duration: 24 * HOUR_NS,
            epoch_advance_on_count_threshold: 20,
            epoch_advance_on_total_size_bytes_threshold: 10 << 20,
            delete_parallelism: 4,
        }
    }

    /// Kopia's `Parameters.Validate`: checks only apply when enabled.
    pub fn validate(&self) -> Result<(), FormatError> {
        if !self.enabled {
            return Ok(());
        }
        let bad = |m: &str| {
            Err(FormatError::InvalidParameters(format!(
                "epoch parameters: {m}"
            )))
        };
        if self.min_epoch_duration < 10 * MINUTE_NS {
            return bad("minimum epoch duration below 10 minutes");
        }
        if self.epoch_refresh_frequency.saturating_mul(3) > self.min_epoch_duration {
            return bad("refresh frequency must be at most 1/3 of the minimum epoch duration");
        }
        if self.full_checkpoint_frequency <= 0 {
            return bad("full checkpoint frequency must be positive");
        }
        if self.cleanup_safety_margin < self.epoch_refresh_frequency.saturating_mul(3) {
            return bad("cleanup safety margin must be at least 3x the refresh frequency");
        }
        if self.epoch_advance_on_count_threshold < 10 {
            return bad("advance-on-count threshold below 10");
        }
        if self.epoch_advance_on_total_size_bytes_threshold < 1 << 20 {
            return bad("advance-on-size threshold below 1 MiB");
        }
        Ok(())
    }
}

/// Kopia's `UpgradeLockIntent`. `creation_time` is kept as the RFC 3339 text Go wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeLock {
    /// Client that owns the upgrade.
    #[serde(rename = "ownerID", default, skip_serializing_if = "String::is_empty")]
    pub owner_id: String,
    /// When the lock was placed (RFC 3339; Go's zero time when absent).
    #[serde(rename = "creationTime", default = "go_zero_time")]
    pub creation_time: String,
    /// Notice given before the lock takes effect (ns).
    #[serde(
        rename = "advanceNoticeDuration",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub advance_notice_duration: i64,
    /// Time allowed for in-flight I/O to drain (ns).
    #[serde(rename = "ioDrainTimeout", default, skip_serializing_if = "is_zero")]
    pub io_drain_timeout: i64,
    /// How often clients poll the lock (ns).
    #[serde(
        rename = "statusPollInterval",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub status_poll_interval: i64,
    /// Message shown to users.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Clock drift tolerated between clients (ns).
    #[serde(
        rename = "maxPermittedClockDrift",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub max_permitted_clock_drift: i64,
}

fn go_zero_time() -> String {
    "0001-01-01T00:00:00Z".to_string()
}

impl UpgradeLock {
    /// When the lock takes effect, as an offset (ns) from `creation_time`; `None`
    /// means "locked at any time" (`advanceNoticeDuration < drain`), where
    /// `drain = maxPermittedClockDrift + 2 × ioDrainTimeout`.
    pub fn locked_from_offset_ns(&self) -> Option<i64> {
        let drain = self
            .max_permitted_clock_drift
            .saturating_add(self.io_drain_timeout.saturating_mul(2));
        (self.advance_notice_duration >= drain).then(|| self.advance_notice_duration - drain)
    }
}

/// A feature the repository requires (kopia's `feature.Required`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredFeature {
    /// Feature name, e.g. `index-v2`.
    #[serde(default)]
    pub feature: String,
    /// What to do when the feature is not understood.
    #[serde(rename = "ifNotUnderstood", default)]
    pub if_not_understood: IfNotUnderstood,
}

/// Behaviour for a client that does not understand a required feature.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IfNotUnderstood {
    /// Warn instead of refusing to open.
    #[serde(default)]
    pub warn: bool,
    /// Message for users.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// URL for users.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Version to upgrade to.
    #[serde(
        rename = "upgradeToVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub upgrade_to_version: String,
}

/// The wrapper kopia encrypts: `{"format": RepositoryConfig}`.
#[derive(Serialize, Deserialize)]
pub(super) struct Envelope<T> {
    pub(super) format: T,
}

impl RepositoryConfig {
    /// A new format-v3 config with kopia's `repository create` defaults and fresh
    /// random 32-byte `secret` and `masterKey`.
    pub fn new_default() -> Self {
        use rand::RngCore;
        let mut rng = rand::rng();
        let mut secret = vec![0u8; 32];
        let mut master = vec![0u8; 32];
        rng.fill_bytes(&mut secret);
        rng.fill_bytes(&mut master);
        RepositoryConfig {
            hash: "BLAKE2B-256-128".into(),
            encryption: crate::encryption::DEFAULT_ENCRYPTION.into(),
            ecc: String::new(),
            ecc_overhead_percent: 0,
            hmac_secret: secret,
            master_key: master,
            version: 3,
            max_pack_size: DEFAULT_PACK_SIZE,
            index_version: 2,
            epoch_parameters: EpochParameters::kopia_default(),
            enable_password_change: true,
            splitter: "DYNAMIC-4M-BUZHASH".into(),
            upgrade_lock: None,
            required_features: Vec::new(),
        }
    }

    /// Kopia's exact plaintext: compact `{"format":{…}}` as Go's `json.Marshal` writes it.
    pub fn to_json(&self) -> Vec<u8> {
        super::go_json_compact(&Envelope { format: self })
    }

    /// Parses the decrypted plaintext `{"format":{…}}`.
    pub fn from_json(plaintext: &[u8]) -> Result<Self, FormatError> {
        let env: Envelope<RepositoryConfig> = crate::gojson::de::from_slice_struct(plaintext)
            .map_err(|e| FormatError::InvalidConfig(e.to_string()))?;
        Ok(env.format)
    }

    /// `indexVersion` with kopia's default applied (0 → 1).
    pub fn effective_index_version(&self) -> i64 {
        if self.index_version == 0 {
            1
        } else {
            self.index_version
        }
    }

    /// `maxPackSize` with kopia's default applied (0 → 20 MiB).
    pub fn effective_max_pack_size(&self) -> i64 {
        if self.max_pack_size == 0 {
            DEFAULT_PACK_SIZE
        } else {
            self.max_pack_size
        }
    }

    /// True when ECC would be active (kopia: `ecc != ""` and overhead > 0).
    pub fn ecc_enabled(&self) -> bool {
        !self.ecc.is_empty() && self.ecc_overhead_percent > 0
    }

    /// The checks kopia makes before using a config to open a repository, plus the
    /// ones the spec asks of a compatible client (§12 step 3): version 1..=3, index
    /// version 1 or 2, known hash and encryption, no active ECC (not implemented),
    /// and no non-warning required feature other than `index-v1`/`index-v2`.
    /// The upgrade lock is not checked here (it needs the current time).
    pub fn check_supported(&self) -> Result<(), FormatError> {
        if !(1..=3).contains(&self.version) {
            return Err(FormatError::UnsupportedVersion(self.version));
        }
        let iv = self.effective_index_version();
        if !(1..=2).contains(&iv) {
            return Err(FormatError::UnsupportedIndexVersion(iv));
        }
        if !HASH_NAMES.contains(&self.hash.as_str()) {
            return Err(FormatError::UnknownHash(self.hash.clone()));
        }
        Algorithm::from_name(&self.encryption)
            .map_err(|_| FormatError::UnknownEncryption(self.encryption.clone()))?;
        if self.ecc_enabled() {
            return Err(FormatError::EccUnsupported(self.ecc.clone()));
        }
        for f in &self.required_features {
            if !SUPPORTED_FEATURES.contains(&f.feature.as_str()) && !f.if_not_understood.warn {
                return Err(FormatError::MissingFeature(f.feature.clone()));
            }
        }
        Ok(())
    }

    /// Kopia's `DeriveKey(purpose, len)` (§4): `HKDF(masterKey, uniqueID, purpose, len)`
    /// when password change is enabled (v2/v3), the format key instead of the master
    /// key otherwise (v1). `"maintenance schedule"` (32 bytes) keys `kopia.maintenance`.
    pub fn derive_purpose_key(
        &self,
        format_key: &FormatKey,
        unique_id: &[u8],
        purpose: &str,
        len: usize,
    ) -> Result<Vec<u8>, FormatError> {
        let ikm: &[u8] = if self.enable_password_change {
            &self.master_key
        } else {
            format_key.as_bytes()
        };
        crate::encryption::derive_key(ikm, unique_id, purpose.as_bytes(), len)
            .map_err(|e| FormatError::InvalidConfig(format!("cannot derive {purpose:?} key: {e}")))
    }

    /// The 16-byte key kopia uses to protect its local cache:
    /// `HKDF(secret, uniqueID, "local-cache-integrity", 16)`, with the format key
    /// instead of `secret` when password change is disabled (v1).
    pub fn local_cache_integrity_key(
        &self,
        format_key: &FormatKey,
        unique_id: &[u8],
    ) -> Result<Vec<u8>, FormatError> {
        let ikm: &[u8] = if self.enable_password_change {
            &self.hmac_secret
        } else {
            format_key.as_bytes()
        };
        crate::encryption::derive_key(ikm, unique_id, b"local-cache-integrity", 16)
            .map_err(|e| FormatError::InvalidConfig(format!("cannot derive cache key: {e}")))
    }

    /// Kopia's `MutableParameters.Validate`, run when creating a repository or
    /// changing parameters (not when opening).
    pub fn validate_parameters(&self) -> Result<(), FormatError> {
        if !(MIN_PACK_SIZE..=MAX_PACK_SIZE).contains(&self.max_pack_size) {
            return Err(FormatError::InvalidParameters(format!(
                "max pack size {} outside {MIN_PACK_SIZE}..={MAX_PACK_SIZE}",
                self.max_pack_size
            )));
        }
        if !(0..=2).contains(&self.index_version) {
            return Err(FormatError::InvalidParameters(format!(
                "index version {} (supported: 1, 2)",
                self.index_version
            )));
        }
        self.epoch_parameters.validate()
    }
}
