//! `connect`, `disconnect` and opening a server repository from a config file.

use std::path::{Path, PathBuf};

use serde_json::Number;

use super::file::{
    ApiServerInfo, CachingOptions, DEFAULT_CACHE_SIZE, DEFAULT_FORMAT_BLOB_CACHE_NANOS,
    DEFAULT_LIST_CACHE_SECONDS, DEFAULT_LOCAL_CACHE_KEY_DERIVATION, LocalConfig,
};
use super::identity::{default_hostname, default_username, validate_identity_part};
use super::password::{
    delete_password_file, password_from_env, read_password_file, write_password_file,
};
use super::paths::{
    ENV_KOPIA_CACHE_DIRECTORY, default_cache_directory, relative_path, resolve_config_path,
};
use crate::server::{Fingerprint, ServerOptions, ServerRepository, ServerUrl};
use crate::{Error, Result};

/// Options of [`connect`] (kopia: `repository connect server`).
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// Config file (`--config-file`); `None`: environment or default location.
    pub config_path: Option<PathBuf>,
    /// Server URL, `https://host:port`.
    pub url: String,
    /// Server certificate fingerprint (any common notation); `None`: system roots.
    pub fingerprint: Option<String>,
    /// Identity user; `None`: the OS user name.
    pub username: Option<String>,
    /// Identity host; `None`: the host name, lower-cased up to the first dot.
    pub hostname: Option<String>,
    /// The user's server password; `None`: `$VMDP_PASSWORD` / `$KOPIA_PASSWORD`.
    pub password: Option<String>,
    /// Keep the password in `<config>.kopia-password` (kopia's default: yes).
    pub persist_password: bool,
    /// Cache directory; `None`: `$KOPIA_CACHE_DIRECTORY` or kopia's default.
    pub cache_directory: Option<PathBuf>,
    /// Description; `None`: `API Server: <url>`.
    pub description: Option<String>,
    /// Connect read-only.
    pub read_only: bool,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("config_path", &self.config_path)
            .field("url", &self.url)
            .field("fingerprint", &self.fingerprint)
            .field("username", &self.username)
            .field("hostname", &self.hostname)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("persist_password", &self.persist_password)
            .field("cache_directory", &self.cache_directory)
            .field("read_only", &self.read_only)
            .finish()
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|source| Error::Io {
        path: p.display().to_string(),
        source,
    })
}

/// Connects to a server and, once a session has been established (so bad URLs,
/// pins and passwords never leave a config behind), writes kopia's config file
/// and, with `persist_password`, the password file. Returns the config path and
/// the open repository.
pub async fn connect(opts: ConnectOptions) -> Result<(PathBuf, ServerRepository)> {
    let config_path = resolve_config_path(opts.config_path.as_deref())?;
    let url = ServerUrl::parse(&opts.url)?;
    let fingerprint = match opts.fingerprint.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(Fingerprint::parse(s)?),
    };
    let username = opts.username.clone().unwrap_or_else(default_username);
    let hostname = opts.hostname.clone().unwrap_or_else(default_hostname);
    validate_identity_part("user name", &username)?;
    validate_identity_part("host name", &hostname)?;
    let password = opts
        .password
        .clone()
        .or_else(password_from_env)
        .ok_or_else(|| {
            Error::InvalidInput(
                "no password given (pass it or set VMDP_PASSWORD / KOPIA_PASSWORD)".into(),
            )
        })?;

    let mut server_opts = ServerOptions::new(
        url.as_str(),
        fingerprint.map(|f| f.to_string()),
        &username,
        &hostname,
        &password,
    );
    server_opts.read_only = opts.read_only;
    let repo = ServerRepository::connect(server_opts).await?;

    let cache_dir = match opts.cache_directory.clone().or_else(|| {
        std::env::var_os(ENV_KOPIA_CACHE_DIRECTORY)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }) {
        Some(d) => absolute(&d)?,
        None => default_cache_directory(url.as_str(), &config_path)?,
    };
    let config_dir = absolute(config_path.parent().unwrap_or(Path::new(".")))?;
    let stored_cache = relative_path(&config_dir, &cache_dir).unwrap_or(cache_dir);

    let config = LocalConfig {
        api_server: Some(ApiServerInfo {
            url: url.as_str().to_owned(),
            server_cert_fingerprint: fingerprint.map(|f| f.to_string()).unwrap_or_default(),
            local_cache_key_derivation_algorithm: DEFAULT_LOCAL_CACHE_KEY_DERIVATION.into(),
            extra: Default::default(),
        }),
        caching: Some(CachingOptions {
            cache_directory: stored_cache.to_string_lossy().into_owned(),
            max_cache_size: DEFAULT_CACHE_SIZE,
            max_metadata_cache_size: DEFAULT_CACHE_SIZE,
            max_list_cache_duration: Some(Number::from(DEFAULT_LIST_CACHE_SECONDS)),
            ..Default::default()
        }),
        hostname,
        username,
        readonly: opts.read_only,
        description: opts
            .description
            .clone()
            .unwrap_or_else(|| format!("API Server: {url}")),
        enable_actions: false,
        format_blob_cache_duration: DEFAULT_FORMAT_BLOB_CACHE_NANOS,
        ..Default::default()
    };
    config.save(&config_path)?;
    if opts.persist_password {
        write_password_file(&config_path, &password)?;
    } else {
        delete_password_file(&config_path)?;
    }
    Ok((config_path, repo))
}

/// Removes the config file and its persisted password. Returns the config path.
/// Succeeds if they do not exist.
pub fn disconnect(config_path: Option<&Path>) -> Result<PathBuf> {
    let path = resolve_config_path(config_path)?;
    delete_password_file(&path)?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(path),
        Err(source) => Err(Error::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Reads a server connection from a config file (kopia's or vmdp's) into
/// [`ServerOptions`]. Password order: `password`, `$VMDP_PASSWORD`,
/// `$KOPIA_PASSWORD`, the persisted password file.
pub fn load_server_options(
    config_path: Option<&Path>,
    password: Option<&str>,
) -> Result<ServerOptions> {
    let path = resolve_config_path(config_path)?;
    let config = LocalConfig::load(&path)?;
    let cfg_err = |message: &str| Error::Config {
        path: path.display().to_string(),
        message: message.to_owned(),
    };
    let api = config.api_server.as_ref().ok_or_else(|| {
        cfg_err(
            "this config is for a direct repository connection (no apiServer); server mode \
             needs a config written by `vmdp connect` or `kopia repository connect server`",
        )
    })?;
    if config.username.is_empty() || config.hostname.is_empty() {
        return Err(cfg_err("username and hostname must be set"));
    }
    let password = match password.map(str::to_owned).or_else(password_from_env) {
        Some(p) => p,
        None => read_password_file(&path)?.ok_or_else(|| {
            cfg_err(
                "no password: none persisted next to the config and VMDP_PASSWORD / \
                 KOPIA_PASSWORD are not set",
            )
        })?,
    };
    let fingerprint = Some(api.server_cert_fingerprint.clone()).filter(|f| !f.trim().is_empty());
    let mut opts = ServerOptions::new(
        &api.url,
        fingerprint,
        &config.username,
        &config.hostname,
        password,
    );
    opts.read_only = config.readonly;
    Ok(opts)
}

/// Opens the server repository a config file points to (see [`load_server_options`]).
pub async fn open_from_config(
    config_path: Option<&Path>,
    password: Option<&str>,
) -> Result<ServerRepository> {
    ServerRepository::connect(load_server_options(config_path, password)?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_configs_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repository.config");
        std::fs::write(
            &path,
            r#"{"storage":{"type":"filesystem","config":{"path":"/r"}},"hostname":"h","username":"u","enableActions":false}"#,
        )
        .unwrap();
        let e = load_server_options(Some(&path), Some("pw")).unwrap_err();
        assert!(
            matches!(&e, Error::Config { message, .. } if message.contains("direct")),
            "{e:?}"
        );
    }

    #[test]
    fn missing_identity_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repository.config");
        std::fs::write(
            &path,
            r#"{"apiServer":{"url":"https://h:1","serverCertFingerprint":""},"hostname":"","username":"u","enableActions":false}"#,
        )
        .unwrap();
        let e = load_server_options(Some(&path), Some("pw")).unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e:?}");
    }

    #[test]
    fn options_come_from_the_file_and_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repository.config");
        std::fs::write(
            &path,
            r#"{"apiServer":{"url":"https://h:1","serverCertFingerprint":"AB"},"hostname":"vm1","username":"alice","readonly":true,"enableActions":false}"#,
        )
        .unwrap();
        write_password_file(&path, "secret").unwrap();
        let o = load_server_options(Some(&path), Some("explicit")).unwrap();
        assert_eq!(o.password, "explicit");
        assert_eq!((o.username.as_str(), o.hostname.as_str()), ("alice", "vm1"));
        assert_eq!(o.fingerprint.as_deref(), Some("AB"));
        assert!(o.read_only);
        if password_from_env().is_none() {
            let o = load_server_options(Some(&path), None).unwrap();
            assert_eq!(o.password, "secret");
        }
    }

    #[test]
    fn disconnect_removes_config_and_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repository.config");
        std::fs::write(&path, "{}").unwrap();
        write_password_file(&path, "pw").unwrap();
        assert_eq!(disconnect(Some(&path)).unwrap(), path);
        assert!(!path.exists());
        assert!(!super::super::paths::password_file_path(&path).exists());
        disconnect(Some(&path)).unwrap();
    }
}
