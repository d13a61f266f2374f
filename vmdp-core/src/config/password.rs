//! The server password: environment variables and kopia's password file.
//!
//! kopia persists the password next to the config as `<config>.kopia-password`,
//! holding standard base64 (with padding, no newline) of the password bytes,
//! mode 0600. Keyring storage (kopia's `--use-keyring`) is not supported.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::file::write_private_file;
use super::paths::password_file_path;
use crate::{Error, Result};

/// vmdp's password variable (takes precedence).
pub const ENV_VMDP_PASSWORD: &str = "VMDP_PASSWORD";
/// kopia's password variable.
pub const ENV_KOPIA_PASSWORD: &str = "KOPIA_PASSWORD";

/// The password from `$VMDP_PASSWORD` or `$KOPIA_PASSWORD`, trimmed like kopia does.
pub fn password_from_env() -> Option<String> {
    [ENV_VMDP_PASSWORD, ENV_KOPIA_PASSWORD]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

/// Reads the persisted password of `config`; `None` if there is no password file.
pub fn read_password_file(config: &Path) -> Result<Option<String>> {
    let path = password_file_path(config);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let bad = |why: String| Error::Config {
        path: path.display().to_string(),
        message: format!("invalid persisted password: {why}"),
    };
    // Go's base64 decoder skips CR and LF; so do we (an editor may add a newline).
    let cleaned: Vec<u8> = bytes
        .into_iter()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    let decoded = STANDARD.decode(&cleaned).map_err(|e| bad(e.to_string()))?;
    String::from_utf8(decoded)
        .map(Some)
        .map_err(|_| bad("not UTF-8".into()))
}

/// Persists `password` for `config` exactly like kopia (base64, mode 0600).
pub fn write_password_file(config: &Path, password: &str) -> Result<()> {
    write_private_file(
        &password_file_path(config),
        STANDARD.encode(password.as_bytes()).as_bytes(),
    )
}

/// Removes the persisted password of `config` (no error if there is none).
pub fn delete_password_file(config: &Path) -> Result<()> {
    let path = password_file_path(config);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_format_matches_kopia() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("repository.config");
        assert_eq!(read_password_file(&config).unwrap(), None);
        write_password_file(&config, "pw").unwrap();
        // kopia v0.23.1 wrote "cHc=" for the password "pw".
        let path = password_file_path(&config);
        assert_eq!(std::fs::read(&path).unwrap(), b"cHc=");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(read_password_file(&config).unwrap().as_deref(), Some("pw"));
        delete_password_file(&config).unwrap();
        delete_password_file(&config).unwrap();
        assert_eq!(read_password_file(&config).unwrap(), None);
    }

    #[test]
    fn corrupt_password_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("c");
        std::fs::write(password_file_path(&config), b"cHc=\n").unwrap();
        assert_eq!(read_password_file(&config).unwrap().as_deref(), Some("pw"));
        for bad in [&b"not base64!"[..], b"cHc", b"/w=="] {
            std::fs::write(password_file_path(&config), bad).unwrap();
            let e = read_password_file(&config).unwrap_err();
            assert!(matches!(e, Error::Config { .. }), "{bad:?}: {e:?}");
        }
    }
}
