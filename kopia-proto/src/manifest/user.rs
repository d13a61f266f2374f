//! Repository-server user accounts (`type=user` manifests, `internal/user`,
//! repository-format §9.1–§9.2, server-protocol §2.3): profile JSON, password hashing
//! (scrypt / PBKDF2 as kopia), verification and the `--user-password-hash` token.

use super::{Labels, ManifestError, TYPE_LABEL};
use crate::gojson::{ObjectWriter, de};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

/// Salt length of a password hash.
pub const PASSWORD_SALT_LEN: usize = 32;
/// Derived-key length of a password hash.
pub const PASSWORD_KEY_LEN: usize = 32;

/// Password hashing algorithm of a profile (`passwordHashVersion`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordHashVersion {
    /// Version 1 (and 0/absent): `scrypt-65536-8-1`. Default for new users.
    Scrypt,
    /// Version 2: `pbkdf2-sha256-600000`.
    Pbkdf2,
}

impl PasswordHashVersion {
    /// Maps the stored number to an algorithm (0 and 1 are scrypt).
    pub fn from_number(v: i64) -> Result<Self, ManifestError> {
        match v {
            0 | 1 => Ok(PasswordHashVersion::Scrypt),
            2 => Ok(PasswordHashVersion::Pbkdf2),
            other => Err(ManifestError::invalid(
                "password hash version",
                format!("unsupported hash version ({other})"),
            )),
        }
    }

    /// The number kopia stores for new hashes.
    pub fn number(self) -> i64 {
        match self {
            PasswordHashVersion::Scrypt => 1,
            PasswordHashVersion::Pbkdf2 => 2,
        }
    }

    /// Derives the 32-byte key for `password` and `salt`.
    pub fn derive(
        self,
        password: &str,
        salt: &[u8],
    ) -> Result<[u8; PASSWORD_KEY_LEN], ManifestError> {
        let mut out = [0u8; PASSWORD_KEY_LEN];
        match self {
            PasswordHashVersion::Scrypt => {
                let params = scrypt::Params::new(16, 8, 1, PASSWORD_KEY_LEN)
                    .map_err(|e| ManifestError::invalid("scrypt parameters", e.to_string()))?;
                scrypt::scrypt(password.as_bytes(), salt, &params, &mut out)
                    .map_err(|e| ManifestError::invalid("scrypt output", e.to_string()))?;
            }
            PasswordHashVersion::Pbkdf2 => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, 600_000, &mut out);
            }
        }
        Ok(out)
    }
}

/// `salt ‖ derive(password, salt)` (64 bytes).
pub fn compute_password_hash(
    password: &str,
    salt: &[u8; PASSWORD_SALT_LEN],
    version: PasswordHashVersion,
) -> Result<Vec<u8>, ManifestError> {
    let key = version.derive(password, salt)?;
    let mut h = Vec::with_capacity(PASSWORD_SALT_LEN + PASSWORD_KEY_LEN);
    h.extend_from_slice(salt);
    h.extend_from_slice(&key);
    Ok(h)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks `password` against a stored hash: `false` unless it is 64 bytes and matches.
/// An unknown version is an error.
pub fn verify_password_hash(
    password: &str,
    stored: &[u8],
    version: i64,
) -> Result<bool, ManifestError> {
    let v = PasswordHashVersion::from_number(version)?;
    let Some(salt) = stored.get(..PASSWORD_SALT_LEN) else {
        return Ok(false);
    };
    if stored.len() != PASSWORD_SALT_LEN + PASSWORD_KEY_LEN {
        return Ok(false);
    }
    let key = v.derive(password, salt)?;
    Ok(constant_time_eq(&key, &stored[PASSWORD_SALT_LEN..]))
}

/// A password check for an unknown user: runs one scrypt derivation against a hash that never
/// matches (all `0xFF`), as kopia does, so timing does not reveal whether the user exists.
pub fn dummy_password_check(password: &str) -> bool {
    let dummy = [0xFFu8; PASSWORD_SALT_LEN + PASSWORD_KEY_LEN];
    let _ = verify_password_hash(password, &dummy, 1);
    false
}

/// Checks the username syntax kopia enforces: `^[a-z0-9\-_.]+@[a-z0-9\-_.]+$`.
pub fn validate_username(name: &str) -> Result<(), ManifestError> {
    let part_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.'))
    };
    match name.split_once('@') {
        Some((u, h)) if part_ok(u) && part_ok(h) => Ok(()),
        _ => Err(ManifestError::invalid(
            "username",
            format!(
                "{name:?} must look like user@host (lower-case letters, digits, '-', '_', '.')"
            ),
        )),
    }
}

/// Encodes the `--user-password-hash` token: base64 of
/// `{"passwordHashVersion":v,"passwordHash":"<base64 of 64 bytes>"}`.
pub fn encode_password_hash_token(version: i64, hash: &[u8]) -> String {
    let mut json = Vec::with_capacity(128);
    let mut o = ObjectWriter::new(&mut json);
    o.i64("passwordHashVersion", version);
    o.str("passwordHash", &B64.encode(hash));
    o.finish();
    B64.encode(json)
}

#[derive(Deserialize)]
struct HashToken {
    #[serde(
        rename = "passwordHashVersion",
        default,
        deserialize_with = "de::null_default"
    )]
    version: i64,
    #[serde(
        rename = "passwordHash",
        default,
        deserialize_with = "de::base64_bytes"
    )]
    hash: Vec<u8>,
}

/// Decodes and validates a `--user-password-hash` token into `(version, 64-byte hash)`.
pub fn decode_password_hash_token(token: &str) -> Result<(i64, Vec<u8>), ManifestError> {
    let json = B64
        .decode(token.trim().as_bytes())
        .map_err(|e| ManifestError::invalid("password hash token", format!("not base64: {e}")))?;
    let t: HashToken =
        serde_json::from_slice(&json).map_err(ManifestError::json("password hash token"))?;
    PasswordHashVersion::from_number(t.version)?;
    if t.hash.len() != PASSWORD_SALT_LEN + PASSWORD_KEY_LEN {
        return Err(ManifestError::invalid(
            "password hash token",
            format!("invalid hash length: {}", t.hash.len()),
        ));
    }
    Ok((t.version, t.hash))
}

/// A user profile payload: `{"username":..,"passwordHashVersion":..,"passwordHash":..}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UserProfile {
    /// `username` (`user@host`, same as the `username` label).
    #[serde(deserialize_with = "de::null_default")]
    pub username: String,
    /// `passwordHashVersion` (omitted when 0; 0 means scrypt).
    #[serde(rename = "passwordHashVersion", deserialize_with = "de::null_default")]
    pub password_hash_version: i64,
    /// `passwordHash`: salt ‖ key (base64 in JSON, `null` when empty).
    #[serde(rename = "passwordHash", deserialize_with = "de::base64_bytes")]
    pub password_hash: Vec<u8>,
}

impl UserProfile {
    /// A new profile hashed with `version` and the given random salt.
    pub fn new(
        username: &str,
        password: &str,
        version: PasswordHashVersion,
        salt: &[u8; PASSWORD_SALT_LEN],
    ) -> Result<Self, ManifestError> {
        validate_username(username)?;
        Ok(UserProfile {
            username: username.to_string(),
            password_hash_version: version.number(),
            password_hash: compute_password_hash(password, salt, version)?,
        })
    }

    /// Manifest labels: `{"type":"user","username":<username>}`.
    pub fn labels(&self) -> Labels {
        Labels::from([
            (TYPE_LABEL.to_string(), "user".to_string()),
            ("username".to_string(), self.username.clone()),
        ])
    }

    /// Re-hashes with the profile's current version (0 → scrypt) and a fresh `salt`.
    pub fn set_password(
        &mut self,
        password: &str,
        salt: &[u8; PASSWORD_SALT_LEN],
    ) -> Result<(), ManifestError> {
        let v = PasswordHashVersion::from_number(self.password_hash_version)?;
        self.password_hash = compute_password_hash(password, salt, v)?;
        Ok(())
    }

    /// Applies a `--user-password-hash` token (validated).
    pub fn set_password_hash_token(&mut self, token: &str) -> Result<(), ManifestError> {
        let (v, h) = decode_password_hash_token(token)?;
        self.password_hash_version = v;
        self.password_hash = h;
        Ok(())
    }

    /// Whether `password` matches this profile.
    pub fn is_valid_password(&self, password: &str) -> Result<bool, ManifestError> {
        verify_password_hash(password, &self.password_hash, self.password_hash_version)
    }

    /// Parses a payload.
    pub fn from_json(json: &[u8]) -> Result<Self, ManifestError> {
        de::from_slice_first(json).map_err(ManifestError::json("user profile"))
    }

    /// The Go encoding of the payload.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        let mut o = ObjectWriter::new(&mut out);
        o.str("username", &self.username);
        o.i64_omitempty("passwordHashVersion", self.password_hash_version);
        if self.password_hash.is_empty() {
            o.raw("passwordHash", b"null");
        } else {
            o.str("passwordHash", &B64.encode(&self.password_hash));
        }
        o.finish();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["alice@vm1", "a.b-c_d@h.example-1"] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "Alice@vm1",
            "alice",
            "@vm1",
            "alice@",
            "a@b@c",
            "a b@c",
            "é@c",
        ] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn verification_edge_cases() {
        let p = UserProfile {
            username: "a@b".into(),
            password_hash_version: 1,
            password_hash: vec![1; 10],
        };
        assert!(!p.is_valid_password("x").unwrap());
        let p = UserProfile {
            password_hash_version: 3,
            ..p
        };
        assert!(p.is_valid_password("x").is_err());
        assert!(!dummy_password_check("anything"));
    }

    #[test]
    fn tokens_rejected() {
        assert!(decode_password_hash_token("!!!").is_err());
        assert!(decode_password_hash_token(&B64.encode(b"{")).is_err());
        let short = encode_password_hash_token(1, &[0u8; 63]);
        assert!(decode_password_hash_token(&short).is_err());
        let bad_version = encode_password_hash_token(7, &[0u8; 64]);
        assert!(decode_password_hash_token(&bad_version).is_err());
        assert_eq!(
            decode_password_hash_token(&encode_password_hash_token(2, &[9u8; 64]))
                .unwrap()
                .0,
            2
        );
    }

    #[test]
    fn json_forms() {
        let p = UserProfile {
            username: "a@b".into(),
            ..Default::default()
        };
        assert_eq!(p.to_json(), br#"{"username":"a@b","passwordHash":null}"#);
        assert_eq!(UserProfile::from_json(&p.to_json()).unwrap(), p);
        assert!(UserProfile::from_json(br#"{"passwordHash":"***"}"#).is_err());
        assert_eq!(p.labels()["username"], "a@b");
    }
}
