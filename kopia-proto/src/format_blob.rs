//! The format blob `kopia.repository` and `kopia.blobcfg` (kopia's `repo/format`).
//!
//! `kopia.repository` is plaintext JSON ([`FormatBlob`]) whose
//! `encryptedBlockFormat` holds the [`RepositoryConfig`] (hash, encryption,
//! master key, …) encrypted with AES-256-GCM under keys derived from the
//! password-based format key ([`FormatKey`], [`KeyDerivation`]). An authentication
//! failure means a wrong password ([`FormatError::InvalidPassword`]).

mod blobcfg;
mod config;
mod kdf;
mod recovery;

pub use blobcfg::{BLOBCFG_BLOB_ID, BlobStorageConfig, MIN_RETENTION_PERIOD_NS};
pub use config::{
    DEFAULT_PACK_SIZE, EpochParameters, IfNotUnderstood, MAX_PACK_SIZE, MIN_PACK_SIZE,
    RepositoryConfig, RequiredFeature, SUPPORTED_FEATURES, UpgradeLock,
};
pub use kdf::{FORMAT_KEY_LEN, FormatKey, KEY_DERIVATION_NAMES, KeyDerivation, MIN_SALT_LEN};
pub use recovery::{MAX_CHECKSUMMED_LEN, checksummed_format_bytes, recover_format_blob};

use serde::{Deserialize, Serialize};

/// Name of the format blob.
pub const FORMAT_BLOB_ID: &str = "kopia.repository";

/// Largest format blob a reader accepts (real ones are about 1 KiB).
pub const MAX_FORMAT_BLOB_LEN: usize = 64 * 1024;

/// The `tool` value kopia writes.
pub const KOPIA_TOOL: &str = "https://github.com/kopia/kopia";

/// The only format-blob encryption kopia knows (note the underscore).
pub const FORMAT_ENCRYPTION_AES256_GCM: &str = "AES256_GCM";

/// Length of the random `uniqueID` chosen at creation.
pub const UNIQUE_ID_LEN: usize = 32;

/// Why a format blob, its inner config or `kopia.blobcfg` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The blob is larger than a format blob can be.
    #[error("format blob too large: {len} bytes (max {max})")]
    TooLarge {
        /// Actual length.
        len: usize,
        /// Accepted maximum.
        max: usize,
    },
    /// `kopia.repository` is not valid JSON of the expected shape.
    #[error("invalid format blob: {0}")]
    InvalidJson(String),
    /// `keyAlgo` names a password KDF kopia v0.23.1 does not support.
    #[error(
        "unsupported key derivation algorithm {0:?} (supported: scrypt-65536-8-1, pbkdf2-sha256-600000)"
    )]
    UnsupportedKeyAlgorithm(String),
    /// `uniqueID` is too short to salt the password KDF.
    #[error("uniqueID is {len} bytes, the password KDF needs at least {min}")]
    SaltTooShort {
        /// Actual length.
        len: usize,
        /// Required minimum.
        min: usize,
    },
    /// The outer `encryption` is not `AES256_GCM`.
    #[error("unknown format blob encryption algorithm {0:?}")]
    UnsupportedFormatEncryption(String),
    /// The configuration does not authenticate under the password's key.
    #[error("invalid repository password")]
    InvalidPassword,
    /// Encrypted data is structurally broken (e.g. truncated) or `kopia.blobcfg` is unreadable.
    #[error("corrupt repository format data: {0}")]
    Corrupt(String),
    /// The decrypted configuration is not valid JSON of the expected shape.
    #[error("invalid repository configuration: {0}")]
    InvalidConfig(String),
    /// Format version outside 1..=3.
    #[error("unsupported repository format version {0} (supported: 1..=3)")]
    UnsupportedVersion(i64),
    /// Index version outside 1..=2.
    #[error("unsupported index version {0} (supported: 1, 2)")]
    UnsupportedIndexVersion(i64),
    /// Unknown content hash algorithm.
    #[error("unknown hash algorithm {0:?}")]
    UnknownHash(String),
    /// Unknown content encryption algorithm.
    #[error("unknown encryption algorithm {0:?}")]
    UnknownEncryption(String),
    /// ECC is enabled; it is not implemented.
    #[error("repository uses error correction {0:?}, which is not supported")]
    EccUnsupported(String),
    /// A required feature is not understood and must not be ignored.
    #[error("repository requires feature {0:?}, which this client does not support")]
    MissingFeature(String),
    /// Parameters fail kopia's validation for creating or changing a repository.
    #[error("invalid repository parameters: {0}")]
    InvalidParameters(String),
}

/// The outer JSON of `kopia.repository` (kopia's `KopiaRepositoryJSON`), fields in
/// kopia's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatBlob {
    /// Always `https://github.com/kopia/kopia` in kopia's blobs; informational.
    #[serde(default)]
    pub tool: String,
    /// Version of the client that wrote the blob; informational.
    #[serde(rename = "buildVersion", default)]
    pub build_version: String,
    /// Build revision; informational.
    #[serde(rename = "buildInfo", default)]
    pub build_info: String,
    /// Random repository ID: salt of the password KDF and of every HKDF. Never changes.
    #[serde(rename = "uniqueID", default, with = "go_bytes")]
    pub unique_id: Vec<u8>,
    /// Password KDF name (`keyAlgo`); empty in very old blobs means scrypt.
    #[serde(rename = "keyAlgo", default)]
    pub key_algo: String,
    /// Algorithm protecting `encryptedBlockFormat`: `AES256_GCM`.
    #[serde(default)]
    pub encryption: String,
    /// The encrypted [`RepositoryConfig`].
    #[serde(
        rename = "encryptedBlockFormat",
        default,
        with = "go_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub encrypted_block_format: Vec<u8>,
}

impl FormatBlob {
    /// Parses the bytes of `kopia.repository` (any key order, unknown keys ignored).
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() > MAX_FORMAT_BLOB_LEN {
            return Err(FormatError::TooLarge {
                len: bytes.len(),
                max: MAX_FORMAT_BLOB_LEN,
            });
        }
        crate::gojson::de::from_slice_struct(bytes)
            .map_err(|e| FormatError::InvalidJson(e.to_string()))
    }

    /// The bytes kopia would write: Go's JSON encoder with 2-space indentation and a
    /// trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.encrypted_block_format.len() * 4 / 3);
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"  ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        self.serialize(&mut ser)
            .unwrap_or_else(|_| unreachable!("plain strings serialize infallibly"));
        let mut out = go_escape_html(out);
        out.push(b'\n');
        out
    }

    /// The password KDF named by `keyAlgo` (empty → scrypt, as kopia assumes for
    /// legacy blobs when initializing).
    pub fn key_derivation(&self) -> Result<KeyDerivation, FormatError> {
        if self.key_algo.is_empty() {
            return Ok(KeyDerivation::Scrypt65536);
        }
        KeyDerivation::from_name(&self.key_algo)
    }

    /// Derives the format key from `password` (slow: scrypt or PBKDF2).
    pub fn derive_format_key(&self, password: &str) -> Result<FormatKey, FormatError> {
        self.key_derivation()?.derive(password, &self.unique_id)
    }

    /// Derives the format key and decrypts the configuration. Call
    /// [`RepositoryConfig::check_supported`] before using it to open the repository.
    pub fn decrypt_config(&self, password: &str) -> Result<RepositoryConfig, FormatError> {
        let key = self.derive_format_key(password)?;
        self.decrypt_config_with_key(&key)
    }

    /// Decrypts the configuration with an already derived (e.g. cached) format key.
    pub fn decrypt_config_with_key(
        &self,
        key: &FormatKey,
    ) -> Result<RepositoryConfig, FormatError> {
        self.check_encryption()?;
        let plain = key.open(&self.unique_id, &self.encrypted_block_format)?;
        RepositoryConfig::from_json(&plain)
    }

    /// Encrypts `config` into `encryptedBlockFormat` with `key` (fresh random nonce).
    pub fn encrypt_config(
        &mut self,
        config: &RepositoryConfig,
        key: &FormatKey,
    ) -> Result<(), FormatError> {
        self.check_encryption()?;
        self.encrypted_block_format = key.seal(&self.unique_id, &config.to_json());
        Ok(())
    }

    /// Re-encrypts `config` under a new password and KDF, keeping `uniqueID` (what
    /// kopia's password change does). Returns the new format key, which must also be
    /// used to rewrite `kopia.blobcfg`.
    pub fn set_password(
        &mut self,
        config: &RepositoryConfig,
        password: &str,
        kdf: KeyDerivation,
    ) -> Result<FormatKey, FormatError> {
        let key = kdf.derive(password, &self.unique_id)?;
        self.key_algo = kdf.name().to_string();
        self.encrypt_config(config, &key)?;
        Ok(key)
    }

    /// A new format blob for a new repository: random 32-byte `uniqueID`, `config`
    /// encrypted under `password`. Returns the format key too (needed for
    /// `kopia.blobcfg`), so the slow KDF runs once. `config` is validated with
    /// kopia's creation rules first.
    pub fn create(
        config: &RepositoryConfig,
        password: &str,
        kdf: KeyDerivation,
    ) -> Result<(FormatBlob, FormatKey), FormatError> {
        use rand::RngCore;
        let mut unique_id = vec![0u8; UNIQUE_ID_LEN];
        rand::rng().fill_bytes(&mut unique_id);
        config.check_supported()?;
        config.validate_parameters()?;
        let mut blob = FormatBlob {
            tool: KOPIA_TOOL.to_string(),
            build_version: concat!("vmdp-", env!("CARGO_PKG_VERSION")).to_string(),
            build_info: String::new(),
            unique_id,
            key_algo: String::new(),
            encryption: FORMAT_ENCRYPTION_AES256_GCM.to_string(),
            encrypted_block_format: Vec::new(),
        };
        let key = blob.set_password(config, password, kdf)?;
        Ok((blob, key))
    }

    fn check_encryption(&self) -> Result<(), FormatError> {
        if self.encryption != FORMAT_ENCRYPTION_AES256_GCM {
            return Err(FormatError::UnsupportedFormatEncryption(
                self.encryption.clone(),
            ));
        }
        Ok(())
    }
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings;
/// serde_json does not. Those characters can only occur inside strings, so a plain
/// byte substitution reproduces Go's output.
fn go_escape_html(json: Vec<u8>) -> Vec<u8> {
    let needs = json
        .windows(3)
        .any(|w| w[0] == 0xe2 && w[1] == 0x80 && (w[2] == 0xa8 || w[2] == 0xa9))
        || json.iter().any(|b| matches!(b, b'<' | b'>' | b'&'));
    if !needs {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 32);
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xe2 if json.get(i + 1) == Some(&0x80)
                && matches!(json.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                out.extend_from_slice(if json[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Compact JSON as Go's `json.Marshal` writes it.
fn go_json_compact<T: Serialize>(v: &T) -> Vec<u8> {
    let out =
        serde_json::to_vec(v).unwrap_or_else(|_| unreachable!("config types serialize infallibly"));
    go_escape_html(out)
}

/// Go's `[]byte` JSON form: standard padded base64, `null` for nil.
mod go_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if v.is_empty() {
            s.serialize_none()
        } else {
            s.serialize_str(&STANDARD.encode(v))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(Vec::new()),
            Some(s) => STANDARD
                .decode(s.as_bytes())
                .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests;
