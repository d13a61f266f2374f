//! The `repository.config` JSON document, read and written like kopia v0.23.1.
//!
//! Keys, their order, `omitempty` rules, two-space indentation, Go's HTML-safe
//! string escaping and the missing trailing newline all match
//! `json.MarshalIndent(LocalConfig, "", "  ")`. Unknown keys are kept on rewrite
//! (kopia itself drops them when it rewrites the file).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::{Error, Result};

/// Default `localCacheKeyDerivationAlgorithm` kopia writes.
pub const DEFAULT_LOCAL_CACHE_KEY_DERIVATION: &str = "scrypt-65536-8-1";
/// `maxCacheSize` / `maxMetadataCacheSize` kopia writes at connect (5000 MiB).
pub const DEFAULT_CACHE_SIZE: i64 = 5000 << 20;
/// `maxListCacheDuration` kopia writes at connect (seconds).
pub const DEFAULT_LIST_CACHE_SECONDS: u64 = 30;
/// `formatBlobCacheDuration` kopia writes at connect (15 minutes, in nanoseconds).
pub const DEFAULT_FORMAT_BLOB_CACHE_NANOS: i64 = 900_000_000_000;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// The whole config file (kopia's `repo.LocalConfig` with `ClientOptions` inlined).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalConfig {
    /// Present exactly for server connections.
    #[serde(rename = "apiServer", default, skip_serializing_if = "Option::is_none")]
    pub api_server: Option<ApiServerInfo>,
    /// Present exactly for direct connections (kept verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Value>,
    /// Local cache settings (`{}` when caching is disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching: Option<CachingOptions>,
    /// Identity host; sent as `kopia-hostname`.
    #[serde(default)]
    pub hostname: String,
    /// Identity user; sent as `kopia-username`.
    #[serde(default)]
    pub username: String,
    /// Read-only connection.
    #[serde(default, skip_serializing_if = "is_false")]
    pub readonly: bool,
    /// Direct mode only.
    #[serde(
        rename = "permissiveCacheLoading",
        default,
        skip_serializing_if = "is_false"
    )]
    pub permissive_cache_loading: bool,
    /// Human-readable description (`API Server: <url>`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Whether snapshot actions may run on this client.
    #[serde(rename = "enableActions", default)]
    pub enable_actions: bool,
    /// Nanoseconds (direct mode); kopia writes 15 minutes at connect.
    #[serde(
        rename = "formatBlobCacheDuration",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub format_blob_cache_duration: i64,
    /// Direct-mode throttling (kept verbatim).
    #[serde(
        rename = "throttlingLimits",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub throttling_limits: Option<Value>,
    /// Keys this version does not know, preserved on rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `apiServer`: how to reach the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiServerInfo {
    /// Server URL without trailing slash.
    #[serde(default)]
    pub url: String,
    /// Pin: 64 lowercase hex characters; empty = system roots.
    #[serde(rename = "serverCertFingerprint", default)]
    pub server_cert_fingerprint: String,
    /// Key derivation for the local cache key (`scrypt-65536-8-1` when absent).
    #[serde(
        rename = "localCacheKeyDerivationAlgorithm",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub local_cache_key_derivation_algorithm: String,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `caching`: kopia's `content.CachingOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CachingOptions {
    /// Cache directory; relative paths are relative to the config file's directory.
    #[serde(
        rename = "cacheDirectory",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cache_directory: String,
    /// Content cache soft limit, bytes.
    #[serde(rename = "maxCacheSize", default, skip_serializing_if = "is_zero")]
    pub max_cache_size: i64,
    /// Content cache hard limit, bytes.
    #[serde(
        rename = "contentCacheSizeLimitBytes",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub content_cache_size_limit_bytes: i64,
    /// Metadata cache soft limit, bytes.
    #[serde(
        rename = "maxMetadataCacheSize",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub max_metadata_cache_size: i64,
    /// Metadata cache hard limit, bytes.
    #[serde(
        rename = "metadataCacheSizeLimitBytes",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub metadata_cache_size_limit_bytes: i64,
    /// Seconds (a JSON number, possibly fractional).
    #[serde(
        rename = "maxListCacheDuration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_list_cache_duration: Option<Number>,
    /// Seconds.
    #[serde(
        rename = "minMetadataSweepAge",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub min_metadata_sweep_age: Option<Number>,
    /// Seconds.
    #[serde(
        rename = "minContentSweepAge",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub min_content_sweep_age: Option<Number>,
    /// Seconds.
    #[serde(
        rename = "minIndexSweepAge",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub min_index_sweep_age: Option<Number>,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl LocalConfig {
    /// Parses a config document.
    pub fn from_json(bytes: &[u8]) -> std::result::Result<Self, serde_json::Error> {
        let mut c: LocalConfig = serde_json::from_slice(bytes)?;
        // Go's omitempty drops zero values; a file that spells them out must not
        // grow "duration": 0 entries on rewrite.
        if let Some(caching) = &mut c.caching {
            for d in [
                &mut caching.max_list_cache_duration,
                &mut caching.min_metadata_sweep_age,
                &mut caching.min_content_sweep_age,
                &mut caching.min_index_sweep_age,
            ] {
                if d.as_ref().and_then(Number::as_f64) == Some(0.0) {
                    *d = None;
                }
            }
        }
        Ok(c)
    }

    /// Encodes like Go's `json.MarshalIndent(v, "", "  ")`: two-space indent,
    /// HTML-safe escaping, no trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs and JSON values cannot fail.
        let s = serde_json::to_string_pretty(self).unwrap_or_default();
        go_html_escape(&s).into_bytes()
    }

    /// Reads and parses `path`; errors name the file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Config {
                    path: path.display().to_string(),
                    message: "not found; connect to a repository first (vmdp connect / kopia \
                              repository connect)"
                        .into(),
                }
            } else {
                Error::Io {
                    path: path.display().to_string(),
                    source: e,
                }
            }
        })?;
        LocalConfig::from_json(&bytes).map_err(|e| Error::Config {
            path: path.display().to_string(),
            message: format!("invalid JSON: {e}"),
        })
    }

    /// Writes atomically (temporary file + rename) with mode 0600, creating the
    /// directory with mode 0700 if needed.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_private_file(path, &self.to_json())
    }
}

/// Go's encoder escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings; serde_json
/// does not. Those characters can only occur inside strings in JSON text, so a
/// textual replacement is exact.
fn go_html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Atomically writes `data` to `path` with mode 0600 (directory 0700).
///
/// On Windows there are no modes: the file gets the access rules of its
/// directory, which for the default location under `%AppData%` is the user
/// only (kopia does the same).
pub fn write_private_file(path: &Path, data: &[u8]) -> Result<()> {
    let io_err = |p: &Path| {
        let p = p.display().to_string();
        move |source| Error::Io { path: p, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).map_err(io_err(&dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
        f.write_all(data).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io_err(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by `kopia repository connect server` v0.23.1 (default options).
    const KOPIA_WRITTEN: &str = r#"{
  "apiServer": {
    "url": "https://127.0.0.1:59721",
    "serverCertFingerprint": "9f5b1df955b44a23a5ba3461daae15229f13ab56ec158a6a480720fc54ac3cfa",
    "localCacheKeyDerivationAlgorithm": "scrypt-65536-8-1"
  },
  "caching": {
    "cacheDirectory": ".cache/kopia/b6439b1c5c29ea03",
    "maxCacheSize": 5242880000,
    "maxMetadataCacheSize": 5242880000,
    "maxListCacheDuration": 30
  },
  "hostname": "vm1",
  "username": "alice",
  "description": "API Server: https://127.0.0.1:59721",
  "enableActions": false,
  "formatBlobCacheDuration": 900000000000
}"#;

    #[test]
    fn kopia_file_round_trips_byte_for_byte() {
        let c = LocalConfig::from_json(KOPIA_WRITTEN.as_bytes()).unwrap();
        let api = c.api_server.as_ref().unwrap();
        assert_eq!(api.url, "https://127.0.0.1:59721");
        assert_eq!(c.username, "alice");
        assert_eq!(c.hostname, "vm1");
        assert_eq!(
            c.caching.as_ref().unwrap().max_cache_size,
            DEFAULT_CACHE_SIZE
        );
        assert_eq!(String::from_utf8(c.to_json()).unwrap(), KOPIA_WRITTEN);
    }

    #[test]
    fn unknown_keys_are_preserved_and_html_is_escaped() {
        let src = r#"{"apiServer":{"url":"u","serverCertFingerprint":"","future":1},
            "hostname":"h","username":"u","enableActions":true,"zzz":{"a":[1,2]},
            "description":"a<b>&c","caching":{"maxListCacheDuration":0.5,"minIndexSweepAge":0}}"#;
        let c = LocalConfig::from_json(src.as_bytes()).unwrap();
        let out = String::from_utf8(c.to_json()).unwrap();
        assert!(out.contains("\"future\": 1"), "{out}");
        assert!(out.contains("\"zzz\""), "{out}");
        assert!(out.contains(r#""a\u003cb\u003e\u0026c""#), "{out}");
        assert!(out.contains("\"maxListCacheDuration\": 0.5"), "{out}");
        assert!(!out.contains("minIndexSweepAge"), "{out}");
        // The fingerprint is written even when empty (no omitempty in kopia).
        assert!(out.contains("\"serverCertFingerprint\": \"\""), "{out}");
        let again = LocalConfig::from_json(out.as_bytes()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn bad_json_is_an_error() {
        for bad in [&b""[..], b"{", b"[]", b"{\"hostname\": 5}", b"\xff"] {
            assert!(LocalConfig::from_json(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn save_is_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/repository.config");
        let c = LocalConfig::from_json(KOPIA_WRITTEN.as_bytes()).unwrap();
        c.save(&path).unwrap();
        c.save(&path).unwrap(); // overwrite works
        assert_eq!(std::fs::read(&path).unwrap(), KOPIA_WRITTEN.as_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dmode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dmode, 0o700);
        }
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "temporary files left behind: {names:?}");
        let e = LocalConfig::load(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e:?}");
    }
}
