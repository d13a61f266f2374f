//! Request metadata (HTTP/2 headers) sent on every session stream.
//!
//! The server authenticates each stream from exactly one value of each of
//! `kopia-username`, `kopia-hostname` and `kopia-password`; the other keys are
//! informational and ignored by the server.

use std::fmt;

use super::error::SessionError;

/// User name part of the identity (required).
pub const METADATA_USERNAME: &str = "kopia-username";
/// Host name part of the identity (required).
pub const METADATA_HOSTNAME: &str = "kopia-hostname";
/// The user's server password, cleartext inside TLS (required).
pub const METADATA_PASSWORD: &str = "kopia-password";
/// Client version (informational; kopia sends e.g. `0.23.1`).
pub const METADATA_VERSION: &str = "kopia-version";
/// Build description (informational).
pub const METADATA_BUILD_INFO: &str = "kopia-build-info";
/// Source repository of the build (informational).
pub const METADATA_REPO: &str = "kopia-repo";
/// Operating system, Go spelling: `linux`, `darwin`, `windows` (informational).
pub const METADATA_OS: &str = "kopia-os";
/// CPU architecture, Go spelling: `amd64`, `arm64` (informational).
pub const METADATA_ARCH: &str = "kopia-arch";

/// The credentials of one identity `username@hostname`, checked to be sendable as
/// gRPC metadata (printable ASCII, space included). Kopia does not encode them,
/// so anything else cannot be transmitted at all.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    username: String,
    hostname: String,
    password: String,
}

fn check_ascii(field: &'static str, value: &str, allow_empty: bool) -> Result<(), SessionError> {
    if !allow_empty && value.is_empty() {
        return Err(SessionError::InvalidCredentials {
            field,
            reason: "must not be empty",
        });
    }
    if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(SessionError::InvalidCredentials {
            field,
            reason: "only printable ASCII characters can be sent to a kopia server",
        });
    }
    Ok(())
}

impl SessionCredentials {
    /// Validates and stores the three required credentials.
    pub fn new(
        username: impl Into<String>,
        hostname: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, SessionError> {
        let (username, hostname, password) = (username.into(), hostname.into(), password.into());
        check_ascii("username", &username, false)?;
        check_ascii("hostname", &hostname, false)?;
        check_ascii("password", &password, true)?;
        Ok(SessionCredentials {
            username,
            hostname,
            password,
        })
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The host name.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The password (handle with care).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The identity the server authenticates: `username@hostname`.
    pub fn identity(&self) -> String {
        format!("{}@{}", self.username, self.hostname)
    }

    /// The three required metadata entries, `(key, value)`, in kopia's order.
    pub fn metadata(&self) -> [(&'static str, &str); 3] {
        [
            (METADATA_HOSTNAME, &self.hostname),
            (METADATA_USERNAME, &self.username),
            (METADATA_PASSWORD, &self.password),
        ]
    }

    /// Puts the required entries, plus `kopia-version: <client_version>` when given,
    /// into a tonic request's metadata (replacing earlier values).
    #[cfg(feature = "grpc")]
    pub fn apply(
        &self,
        map: &mut tonic::metadata::MetadataMap,
        client_version: Option<&str>,
    ) -> Result<(), SessionError> {
        use tonic::metadata::AsciiMetadataValue;
        let value = |field: &'static str, v: &str| {
            AsciiMetadataValue::try_from(v).map_err(|_| SessionError::InvalidCredentials {
                field,
                reason: "not a valid gRPC metadata value",
            })
        };
        for (key, v) in self.metadata() {
            map.insert(key, value(key, v)?);
        }
        if let Some(v) = client_version {
            map.insert(METADATA_VERSION, value("client version", v)?);
        }
        Ok(())
    }
}

impl fmt::Debug for SessionCredentials {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("username", &self.username)
            .field("hostname", &self.hostname)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_ascii() {
        let c = SessionCredentials::new("alice", "laptop", "p@ss w0rd!~").unwrap();
        assert_eq!(c.identity(), "alice@laptop");
        assert_eq!(
            c.metadata(),
            [
                ("kopia-hostname", "laptop"),
                ("kopia-username", "alice"),
                ("kopia-password", "p@ss w0rd!~"),
            ]
        );
        assert_eq!(c.password(), "p@ss w0rd!~");
    }

    #[test]
    fn refuses_unsendable_values() {
        for (u, h, p, field) in [
            ("", "h", "p", "username"),
            ("u", "", "p", "hostname"),
            ("ü", "h", "p", "username"),
            ("u", "h\n", "p", "hostname"),
            ("u", "h", "pässwort", "password"),
            ("u", "h", "tab\there", "password"),
            ("u", "h", "del\x7f", "password"),
        ] {
            match SessionCredentials::new(u, h, p) {
                Err(SessionError::InvalidCredentials { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{u:?} {h:?} {p:?}: {other:?}"),
            }
        }
        // An empty password is sendable (the server decides).
        assert!(SessionCredentials::new("u", "h", "").is_ok());
    }

    #[test]
    fn debug_hides_password() {
        let c = SessionCredentials::new("alice", "laptop", "hunter2").unwrap();
        let s = format!("{c:?}");
        assert!(s.contains("alice") && !s.contains("hunter2"), "{s}");
    }

    #[cfg(feature = "grpc")]
    #[test]
    fn applies_to_tonic_metadata() {
        let c = SessionCredentials::new("alice", "laptop", "hunter 2").unwrap();
        let mut map = tonic::metadata::MetadataMap::new();
        map.insert("kopia-password", "old".parse().unwrap());
        c.apply(&mut map, Some("vmdp/0.1.0")).unwrap();
        assert_eq!(map.get("kopia-username").unwrap(), "alice");
        assert_eq!(map.get("kopia-hostname").unwrap(), "laptop");
        assert_eq!(map.get_all("kopia-password").iter().count(), 1);
        assert_eq!(map.get("kopia-password").unwrap(), "hunter 2");
        assert_eq!(map.get("kopia-version").unwrap(), "vmdp/0.1.0");
        assert!(matches!(
            c.apply(&mut map, Some("bad\nversion")),
            Err(SessionError::InvalidCredentials { .. })
        ));
    }
}
