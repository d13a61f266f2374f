//! Password → format key (kopia's `internal/crypto/pb_key_deriver_*.go`) and the
//! AES-256-GCM scheme that protects the inner config and `kopia.blobcfg`
//! (`internal/crypto/aesgcm.go`).

use sha2::Sha256;

use super::FormatError;
use crate::encryption::{self, EncryptionError};

/// Length of the format key.
pub const FORMAT_KEY_LEN: usize = 32;

/// Shortest salt (`uniqueID`) kopia's password KDFs accept.
pub const MIN_SALT_LEN: usize = 16;

/// Names of the password KDFs kopia v0.23.1 accepts for `keyAlgo`.
pub const KEY_DERIVATION_NAMES: &[&str] = &["scrypt-65536-8-1", "pbkdf2-sha256-600000"];

/// A password-based key derivation function usable as `keyAlgo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyDerivation {
    /// `scrypt-65536-8-1`: scrypt with N = 65536, r = 8, p = 1 (kopia's default).
    #[default]
    Scrypt65536,
    /// `pbkdf2-sha256-600000`: PBKDF2-HMAC-SHA256 with 600 000 iterations.
    Pbkdf2Sha256,
}

impl KeyDerivation {
    /// Looks a KDF up by its `keyAlgo` name (`testing-only-insecure` is refused).
    pub fn from_name(name: &str) -> Result<Self, FormatError> {
        match name {
            "scrypt-65536-8-1" => Ok(KeyDerivation::Scrypt65536),
            "pbkdf2-sha256-600000" => Ok(KeyDerivation::Pbkdf2Sha256),
            other => Err(FormatError::UnsupportedKeyAlgorithm(other.to_string())),
        }
    }

    /// The `keyAlgo` value.
    pub fn name(self) -> &'static str {
        match self {
            KeyDerivation::Scrypt65536 => "scrypt-65536-8-1",
            KeyDerivation::Pbkdf2Sha256 => "pbkdf2-sha256-600000",
        }
    }

    /// Derives the 32-byte format key from `password` (UTF-8) and `salt` (`uniqueID`).
    /// Deliberately slow: scrypt needs 64 MiB and a fraction of a second.
    pub fn derive(self, password: &str, salt: &[u8]) -> Result<FormatKey, FormatError> {
        if salt.len() < MIN_SALT_LEN {
            return Err(FormatError::SaltTooShort {
                len: salt.len(),
                min: MIN_SALT_LEN,
            });
        }
        let mut key = [0u8; FORMAT_KEY_LEN];
        match self {
            KeyDerivation::Scrypt65536 => {
                let params = scrypt::Params::new(16, 8, 1, FORMAT_KEY_LEN)
                    .unwrap_or_else(|_| unreachable!("fixed scrypt parameters are valid"));
                scrypt::scrypt(password.as_bytes(), salt, &params, &mut key)
                    .unwrap_or_else(|_| unreachable!("32-byte output is valid for scrypt"));
            }
            KeyDerivation::Pbkdf2Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, 600_000, &mut key);
            }
        }
        Ok(FormatKey(key))
    }
}

/// The key derived from the repository password: protects the inner config and
/// `kopia.blobcfg`, and (format v1 only) replaces the master key for purpose keys.
#[derive(Clone, PartialEq, Eq)]
pub struct FormatKey([u8; FORMAT_KEY_LEN]);

impl FormatKey {
    /// Wraps raw key bytes (e.g. a key cached by the caller).
    pub fn from_bytes(bytes: [u8; FORMAT_KEY_LEN]) -> Self {
        FormatKey(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; FORMAT_KEY_LEN] {
        &self.0
    }

    /// The AES-256-GCM key and AAD of kopia's `EncryptAes256Gcm(data, formatKey, uniqueID)`:
    /// `HKDF(formatKey, uniqueID, "AES", 32)` and `HKDF(formatKey, uniqueID, "CHECKSUM", 32)`.
    fn aead_params(&self, unique_id: &[u8]) -> ([u8; 32], Vec<u8>) {
        let key = encryption::derive_key(&self.0, unique_id, b"AES", 32)
            .unwrap_or_else(|_| unreachable!("non-empty key, 32-byte output"));
        let aad = encryption::derive_key(&self.0, unique_id, b"CHECKSUM", 32)
            .unwrap_or_else(|_| unreachable!("non-empty key, 32-byte output"));
        let mut k = [0u8; 32];
        k.copy_from_slice(&key);
        (k, aad)
    }

    /// Encrypts `plaintext` as kopia's `EncryptAes256Gcm` (random 12-byte nonce prefix).
    pub fn seal(&self, unique_id: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let (key, aad) = self.aead_params(unique_id);
        encryption::aes256_gcm_seal(&key, &aad, plaintext)
    }

    /// Decrypts data produced by [`FormatKey::seal`] or kopia. An authentication
    /// failure is reported as [`FormatError::InvalidPassword`].
    pub fn open(&self, unique_id: &[u8], data: &[u8]) -> Result<Vec<u8>, FormatError> {
        let (key, aad) = self.aead_params(unique_id);
        encryption::aes256_gcm_open(&key, &aad, data).map_err(|e| match e {
            EncryptionError::TooShort { len, min } => FormatError::Corrupt(format!(
                "encrypted data is {len} bytes, shorter than the {min}-byte AES-GCM overhead"
            )),
            _ => FormatError::InvalidPassword,
        })
    }
}

impl std::fmt::Debug for FormatKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormatKey(..)")
    }
}
