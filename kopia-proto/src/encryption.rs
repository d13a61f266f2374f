//! Content encryption and key derivation, as in kopia's `repo/encryption` and
//! `internal/crypto/key_derivation.go`.
//!
//! Every content (and every encrypted blob, see [`encrypt_blob`]) is sealed with
//! a key of its own: `key = HMAC-SHA256(K_enc, iv)` where
//! `K_enc = HKDF(masterKey, salt = "encryption", info = "", 32)` and `iv` is
//! derived from the content hash. The stored form is
//! `nonce(12) ‖ AEAD(key).seal(nonce, plaintext, aad = iv)` (28 bytes overhead).

mod aead;
mod blob;

pub use aead::{aes256_gcm_open, aes256_gcm_seal, aes256_gcm_seal_with_nonce};
pub use blob::{blob_iv, decrypt_blob, encrypt_blob};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Names of the content encryption algorithms kopia v0.23.1 registers.
pub const ENCRYPTION_NAMES: &[&str] = &["AES256-GCM-HMAC-SHA256", "CHACHA20-POLY1305-HMAC-SHA256"];

/// Algorithm `kopia repository create` uses unless told otherwise.
pub const DEFAULT_ENCRYPTION: &str = "AES256-GCM-HMAC-SHA256";

/// Length of the random nonce that prefixes every ciphertext.
pub const NONCE_LEN: usize = 12;

/// Length of the AEAD authentication tag that ends every ciphertext.
pub const TAG_LEN: usize = 16;

/// Bytes an encrypted content is longer than its plaintext (nonce + tag).
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// HKDF salt ("purpose") of the content key-derivation secret `K_enc`.
const PURPOSE_ENCRYPTION_KEY: &[u8] = b"encryption";

/// Why encryption, decryption or key derivation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptionError {
    /// The algorithm name is not one of [`ENCRYPTION_NAMES`].
    #[error(
        "unknown encryption algorithm {0:?} (supported: AES256-GCM-HMAC-SHA256, CHACHA20-POLY1305-HMAC-SHA256)"
    )]
    UnknownAlgorithm(String),
    /// The ciphertext cannot even hold the nonce and the tag.
    #[error("ciphertext too short: {len} bytes, need at least {min}")]
    TooShort {
        /// Length of the input.
        len: usize,
        /// Minimum valid length.
        min: usize,
    },
    /// The AEAD tag does not match: wrong key, wrong IV or corrupted bytes.
    #[error("unable to decrypt content: invalid checksum (wrong key/IV or corrupted data)")]
    AuthenticationFailed,
    /// A blob ID does not carry a usable IV (§5.5 of the repository format).
    #[error("invalid blob ID {id:?}: {reason}")]
    BadBlobId {
        /// The offending blob ID.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// HKDF was asked for an empty key or more than 255 × 32 bytes.
    #[error("cannot derive key: {0}")]
    KeyDerivation(&'static str),
}

/// A content encryption algorithm known to kopia.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `AES256-GCM-HMAC-SHA256` (kopia's default).
    Aes256GcmHmacSha256,
    /// `CHACHA20-POLY1305-HMAC-SHA256`.
    Chacha20Poly1305HmacSha256,
}

impl Algorithm {
    /// Looks an algorithm up by kopia's name (case-sensitive, as kopia does).
    pub fn from_name(name: &str) -> Result<Self, EncryptionError> {
        match name {
            "AES256-GCM-HMAC-SHA256" => Ok(Algorithm::Aes256GcmHmacSha256),
            "CHACHA20-POLY1305-HMAC-SHA256" => Ok(Algorithm::Chacha20Poly1305HmacSha256),
            other => Err(EncryptionError::UnknownAlgorithm(other.to_string())),
        }
    }

    /// Kopia's name of the algorithm, as stored in the repository config.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Aes256GcmHmacSha256 => "AES256-GCM-HMAC-SHA256",
            Algorithm::Chacha20Poly1305HmacSha256 => "CHACHA20-POLY1305-HMAC-SHA256",
        }
    }
}

/// Encrypts and decrypts contents of one repository.
///
/// Holds the HMAC state keyed with `K_enc`, so per-content work is one HMAC plus
/// one AEAD. Cheap to clone and safe to share between threads.
#[derive(Clone)]
pub struct Encryptor {
    algorithm: Algorithm,
    key_mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Encryptor")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// Creates the encryptor named `name` (see [`ENCRYPTION_NAMES`]) for `master_key`
    /// (the inner config's `masterKey`).
    pub fn new(name: &str, master_key: &[u8]) -> Result<Self, EncryptionError> {
        Ok(Self::with_algorithm(
            Algorithm::from_name(name)?,
            master_key,
        ))
    }

    /// Creates an encryptor for an already-resolved algorithm.
    pub fn with_algorithm(algorithm: Algorithm, master_key: &[u8]) -> Self {
        let k_enc = content_key_derivation_secret(master_key);
        let key_mac = <Hmac<Sha256> as Mac>::new_from_slice(&k_enc)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        Encryptor { algorithm, key_mac }
    }

    /// The algorithm in use.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Kopia's name of the algorithm in use.
    pub fn name(&self) -> &'static str {
        self.algorithm.name()
    }

    /// Bytes added by encryption (always 28 for kopia's algorithms).
    pub fn overhead(&self) -> usize {
        OVERHEAD
    }

    /// The per-content key `HMAC-SHA256(K_enc, iv)`; exposed for tests and tools.
    pub fn content_key(&self, iv: &[u8]) -> [u8; 32] {
        let mut mac = self.key_mac.clone();
        mac.update(iv);
        mac.finalize().into_bytes().into()
    }

    /// Encrypts `plaintext` for the content with IV `iv` using a fresh random nonce.
    ///
    /// # Panics
    /// Only if `plaintext` exceeds the AEAD's limit (64 GiB for AES-GCM), far beyond
    /// any kopia content.
    pub fn encrypt(&self, plaintext: &[u8], iv: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        self.encrypt_into(plaintext, iv, &mut out);
        out
    }

    /// Like [`Encryptor::encrypt`] but appends to `out` (avoids a copy when building packs).
    pub fn encrypt_into(&self, plaintext: &[u8], iv: &[u8], out: &mut Vec<u8>) {
        self.encrypt_into_with_nonce(plaintext, iv, &aead::random_nonce(), out);
    }

    /// Encrypts with a caller-chosen nonce. Only for tests and vectors: reusing a
    /// nonce for the same IV destroys confidentiality.
    pub fn encrypt_with_nonce(
        &self,
        plaintext: &[u8],
        iv: &[u8],
        nonce: &[u8; NONCE_LEN],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        self.encrypt_into_with_nonce(plaintext, iv, nonce, &mut out);
        out
    }

    fn encrypt_into_with_nonce(
        &self,
        plaintext: &[u8],
        iv: &[u8],
        nonce: &[u8; NONCE_LEN],
        out: &mut Vec<u8>,
    ) {
        let key = self.content_key(iv);
        aead::seal_into(self.algorithm, &key, nonce, iv, plaintext, out);
    }

    /// Decrypts a stored content (`nonce ‖ ciphertext ‖ tag`) with IV `iv`.
    pub fn decrypt(&self, data: &[u8], iv: &[u8]) -> Result<Vec<u8>, EncryptionError> {
        let mut out = Vec::with_capacity(data.len().saturating_sub(OVERHEAD));
        self.decrypt_into(data, iv, &mut out)?;
        Ok(out)
    }

    /// Like [`Encryptor::decrypt`] but appends the plaintext to `out`. On error `out`
    /// is left as it was.
    pub fn decrypt_into(
        &self,
        data: &[u8],
        iv: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EncryptionError> {
        if data.len() < OVERHEAD {
            return Err(EncryptionError::TooShort {
                len: data.len(),
                min: OVERHEAD,
            });
        }
        let key = self.content_key(iv);
        aead::open_into(self.algorithm, &key, iv, data, out)
    }
}

/// HKDF-SHA256 (RFC 5869, extract + expand) of `len` bytes, as kopia's
/// `DeriveKeyFromMasterKey(ikm, salt, info, len)`.
///
/// Used for the format keys (`salt = uniqueID`, info `"AES"`/`"CHECKSUM"`), purpose
/// keys such as `"maintenance schedule"` and the local cache integrity key. Like
/// kopia, an empty `ikm` is refused.
pub fn derive_key(
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    len: usize,
) -> Result<Vec<u8>, EncryptionError> {
    if ikm.is_empty() {
        return Err(EncryptionError::KeyDerivation("empty input key"));
    }
    let mut out = vec![0u8; len];
    hkdf_into(ikm, salt, info, &mut out)?;
    Ok(out)
}

/// `K_enc = HKDF(masterKey, salt = "encryption", info = "", 32)`: the secret every
/// per-content key is derived from. Note the purpose goes in the salt here.
pub fn content_key_derivation_secret(master_key: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf_into(master_key, PURPOSE_ENCRYPTION_KEY, b"", &mut out)
        .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 length"));
    out
}

fn hkdf_into(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), EncryptionError> {
    hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|_| EncryptionError::KeyDerivation("output longer than 8160 bytes"))
}

#[cfg(test)]
mod tests;
