//! Kopia's JSON documents above the object layer: directory objects, snapshot manifests,
//! the manifest store, policies, repository users, ACLs and maintenance parameters.
//!
//! Every type here serializes byte-for-byte like kopia v0.23.1 (via [`crate::gojson`]) and
//! parses whatever kopia writes, as tolerantly as Go's `encoding/json` (unknown keys ignored,
//! missing keys and `null` = zero values). Object IDs are kept as plain strings for now.
//! All functions are pure: loading and writing contents is the caller's job.

mod acl;
mod dir_builder;
mod directory;
mod maintenance;
mod mode;
mod policy;
mod policy_merge;
mod snapshot;
mod source;
mod store;
mod user;

pub use acl::{
    AccessLevel, AclEntry, OWN_HOST, OWN_USER, default_acl_entries, effective_access, legacy_access,
};
pub use dir_builder::DirManifestBuilder;
pub use directory::{
    DIRECTORY_STREAM_TYPE, DirEntry, DirManifest, DirectorySummary, EntryType, EntryWithError,
};
pub use maintenance::{CycleParams, LogRetentionOptions, MaintenanceParams};
pub use mode::Permissions;
pub use policy::{
    ActionCommand, ActionsPolicy, CompressionPolicy, DirLoggingPolicy, EntryLoggingPolicy,
    ErrorHandlingPolicy, FilesPolicy, LoggingPolicy, MetadataCompressionPolicy, OsSnapshotPolicy,
    Policy, RetentionPolicy, SchedulingPolicy, SplitterPolicy, TimeOfDay, UploadPolicy,
    VolumeShadowCopyPolicy,
};
pub use policy_merge::{
    builtin_default_policy, effective_policy, merge_policies, parent_policy_path, policy_labels,
    policy_search_order,
};
pub use snapshot::{
    SnapshotManifest, SnapshotStats, StorageStats, StorageUsageDetails, entry_metadata_equal,
};
pub use source::SourceInfo;
pub use store::{
    AUTO_COMPACTION_THRESHOLD, Labels, MIN_REPLACE_TIME_DELTA_NS, ManifestEntry, ManifestMetadata,
    ManifestSet, decode_manifest_content, decode_manifest_json, encode_manifest_content,
    encode_manifest_json, new_manifest_id,
};
pub use user::{
    PASSWORD_KEY_LEN, PASSWORD_SALT_LEN, PasswordHashVersion, UserProfile, compute_password_hash,
    decode_password_hash_token, dummy_password_check, encode_password_hash_token,
    validate_username, verify_password_hash,
};

/// Label key every manifest carries (`snapshot`, `policy`, `user`, `acl`, `maintenance`, ...).
pub const TYPE_LABEL: &str = "type";

/// Errors from decoding or validating manifest-layer documents.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The JSON is malformed or a value has the wrong type.
    #[error("malformed {what} JSON: {source}")]
    Json {
        /// Which document was being decoded.
        what: &'static str,
        /// The underlying decoder error.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is syntactically malformed (raw scanner).
    #[error("malformed {what} JSON: {source}")]
    Syntax {
        /// Which document was being decoded.
        what: &'static str,
        /// The underlying scanner error.
        #[source]
        source: crate::gojson::JsonError,
    },
    /// A directory object whose `stream` is not `kopia:directory`.
    #[error("invalid directory stream type {0:?}, expected \"kopia:directory\"")]
    BadStreamType(String),
    /// A manifest content could not be gunzipped.
    #[error("manifest content is not valid gzip: {0}")]
    Gzip(#[source] std::io::Error),
    /// A decoded manifest content is larger than the caller's limit.
    #[error("manifest content expands to more than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A value is well-formed JSON but not acceptable (bad mode string, bad label, ...).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which field or document is invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

impl ManifestError {
    pub(crate) fn json(what: &'static str) -> impl FnOnce(serde_json::Error) -> ManifestError {
        move |source| ManifestError::Json { what, source }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> ManifestError {
        ManifestError::Invalid {
            what,
            reason: reason.into(),
        }
    }
}
