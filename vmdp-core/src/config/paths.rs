//! Where kopia keeps its config and cache, and the environment variables that move them.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// File name of the default config inside the kopia config directory.
pub const CONFIG_FILE_NAME: &str = "repository.config";
/// Suffix of the persisted-password file next to the config.
pub const PASSWORD_FILE_SUFFIX: &str = ".kopia-password";
/// vmdp's config-path variable (takes precedence over kopia's).
pub const ENV_VMDP_CONFIG_PATH: &str = "VMDP_CONFIG_PATH";
/// kopia's config-path variable.
pub const ENV_KOPIA_CONFIG_PATH: &str = "KOPIA_CONFIG_PATH";
/// kopia's cache-directory variable (used at connect, and overrides the stored
/// directory at load time when absolute).
pub const ENV_KOPIA_CACHE_DIRECTORY: &str = "KOPIA_CACHE_DIRECTORY";

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

#[cfg(not(target_os = "windows"))]
fn home() -> Result<PathBuf> {
    env_path("HOME").ok_or_else(|| {
        Error::InvalidInput(
            "cannot determine the home directory ($HOME is not set); pass --config-file".into(),
        )
    })
}

/// The OS user configuration directory (Go's `os.UserConfigDir`).
pub fn user_config_dir() -> Result<PathBuf> {
    #[cfg(target_os = "windows")]
    {
        env_path("APPDATA")
            .ok_or_else(|| Error::InvalidInput("%AppData% is not set; pass --config-file".into()))
    }
    #[cfg(target_os = "macos")]
    {
        Ok(home()?.join("Library").join("Application Support"))
    }
    #[cfg(not(any(target_os = "windows", target_os = "macos")))]
    {
        match env_path("XDG_CONFIG_HOME") {
            Some(p) if p.is_absolute() => Ok(p),
            _ => Ok(home()?.join(".config")),
        }
    }
}

/// The OS user cache directory (Go's `os.UserCacheDir`).
pub fn user_cache_dir() -> Result<PathBuf> {
    #[cfg(target_os = "windows")]
    {
        env_path("LOCALAPPDATA")
            .ok_or_else(|| Error::InvalidInput("%LocalAppData% is not set".into()))
    }
    #[cfg(target_os = "macos")]
    {
        Ok(home()?.join("Library").join("Caches"))
    }
    #[cfg(not(any(target_os = "windows", target_os = "macos")))]
    {
        match env_path("XDG_CACHE_HOME") {
            Some(p) if p.is_absolute() => Ok(p),
            _ => Ok(home()?.join(".cache")),
        }
    }
}

/// kopia's default config file: `<user config dir>/kopia/repository.config`.
pub fn default_config_path() -> Result<PathBuf> {
    Ok(user_config_dir()?.join("kopia").join(CONFIG_FILE_NAME))
}

/// The config file to use: `explicit` (`--config-file`), else `$VMDP_CONFIG_PATH`,
/// else `$KOPIA_CONFIG_PATH`, else the default. A bare file name without any
/// directory is placed in the default directory, as kopia does.
pub fn resolve_config_path(explicit: Option<&Path>) -> Result<PathBuf> {
    let chosen = explicit
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .or_else(|| env_path(ENV_VMDP_CONFIG_PATH))
        .or_else(|| env_path(ENV_KOPIA_CONFIG_PATH));
    match chosen {
        None => default_config_path(),
        Some(p) => {
            let bare = p.components().count() == 1
                && matches!(p.components().next(), Some(Component::Normal(_)));
            if bare {
                Ok(user_config_dir()?.join("kopia").join(p))
            } else {
                Ok(p)
            }
        }
    }
}

/// `<config>.kopia-password`, where kopia persists the password.
pub fn password_file_path(config: &Path) -> PathBuf {
    let mut s = config.as_os_str().to_owned();
    s.push(PASSWORD_FILE_SUFFIX);
    PathBuf::from(s)
}

/// kopia's default cache directory of a server connection:
/// `<user cache dir>/kopia/<first 16 hex of SHA-256(url ∥ config path)>`.
pub fn default_cache_directory(url: &str, config: &Path) -> Result<PathBuf> {
    let mut h = Sha256::new();
    h.update(url.as_bytes());
    h.update(config.as_os_str().as_encoded_bytes());
    let hex = hex::encode(h.finalize());
    Ok(user_cache_dir()?.join("kopia").join(&hex[..16]))
}

/// `target` relative to `base` (Go's `filepath.Rel`, lexical), when both are absolute.
pub fn relative_path(base: &Path, target: &Path) -> Option<PathBuf> {
    if !base.is_absolute() || !target.is_absolute() {
        return None;
    }
    fn norm(p: &Path) -> Vec<Component<'_>> {
        let mut out: Vec<Component<'_>> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    if matches!(out.last(), Some(Component::Normal(_))) {
                        out.pop();
                    }
                }
                c => out.push(c),
            }
        }
        out
    }
    let (b, t) = (norm(base), norm(target));
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return None; // different roots (Windows drives)
    }
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c.as_os_str());
    }
    if rel.as_os_str().is_empty() {
        rel.push(".");
    }
    Some(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_is_a_sibling() {
        assert_eq!(
            password_file_path(Path::new("/a/b/repository.config")),
            PathBuf::from("/a/b/repository.config.kopia-password")
        );
    }

    #[test]
    fn cache_directory_is_a_hash_under_the_user_cache_dir() {
        // Equality with kopia's choice is checked against real kopia in
        // tests/server_config.rs.
        let d = default_cache_directory(
            "https://127.0.0.1:59721",
            Path::new("/home/alice/.config/kopia/repository.config"),
        )
        .unwrap();
        let name = d.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), 16);
        assert!(name.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        assert!(d.parent().unwrap().ends_with("kopia"));
        let other = default_cache_directory(
            "https://127.0.0.1:59722",
            Path::new("/home/alice/.config/kopia/repository.config"),
        )
        .unwrap();
        assert_ne!(d, other);
    }

    #[test]
    fn relative_paths_like_go() {
        let r = |a: &str, b: &str| relative_path(Path::new(a), Path::new(b));
        assert_eq!(
            r("/h/c1", "/h/c1/.cache/kopia/x"),
            Some(PathBuf::from(".cache/kopia/x"))
        );
        assert_eq!(
            r("/h/.config/kopia", "/h/.cache/kopia/x"),
            Some(PathBuf::from("../../.cache/kopia/x"))
        );
        assert_eq!(r("/a", "/a"), Some(PathBuf::from(".")));
        assert_eq!(r("rel", "/a"), None);
    }

    #[test]
    fn explicit_path_wins_and_bare_names_go_to_the_default_dir() {
        let p = resolve_config_path(Some(Path::new("/x/y.config"))).unwrap();
        assert_eq!(p, PathBuf::from("/x/y.config"));
        let p = resolve_config_path(Some(Path::new("other.config"))).unwrap();
        assert!(p.ends_with("kopia/other.config"), "{}", p.display());
        let p = resolve_config_path(Some(Path::new("./other.config"))).unwrap();
        assert_eq!(p, PathBuf::from("./other.config"));
    }
}
