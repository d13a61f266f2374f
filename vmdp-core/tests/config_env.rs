//! Environment variables of the local config: `VMDP_CONFIG_PATH` /
//! `KOPIA_CONFIG_PATH`, `VMDP_PASSWORD` / `KOPIA_PASSWORD`, and kopia's default
//! location. One test function in its own binary, because it changes the
//! process environment.

use std::path::{Path, PathBuf};

use vmdp_core::config::{self, password, paths};

fn set(key: &str, value: Option<&str>) {
    // SAFETY: this binary has a single test and spawns no threads that read
    // the environment while it is changed.
    unsafe {
        match value {
            Some(v) => std::env::set_var(key, v),
            None => std::env::remove_var(key),
        }
    }
}

#[test]
fn environment_selects_config_and_password() {
    for k in [
        "VMDP_CONFIG_PATH",
        "KOPIA_CONFIG_PATH",
        "VMDP_PASSWORD",
        "KOPIA_PASSWORD",
        "XDG_CONFIG_HOME",
    ] {
        set(k, None);
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    set("HOME", Some(home.to_str().unwrap()));

    // Default: like kopia, <user config dir>/kopia/repository.config.
    let default = paths::resolve_config_path(None).unwrap();
    #[cfg(target_os = "linux")]
    assert_eq!(default, home.join(".config/kopia/repository.config"));
    #[cfg(target_os = "macos")]
    assert_eq!(
        default,
        home.join("Library/Application Support/kopia/repository.config")
    );
    assert!(default.ends_with("kopia/repository.config"));

    // KOPIA_CONFIG_PATH, then VMDP_CONFIG_PATH on top; an explicit path wins.
    set("KOPIA_CONFIG_PATH", Some("/k/repository.config"));
    assert_eq!(
        paths::resolve_config_path(None).unwrap(),
        PathBuf::from("/k/repository.config")
    );
    set("VMDP_CONFIG_PATH", Some("/v/repository.config"));
    assert_eq!(
        paths::resolve_config_path(None).unwrap(),
        PathBuf::from("/v/repository.config")
    );
    assert_eq!(
        paths::resolve_config_path(Some(Path::new("/x.config"))).unwrap(),
        PathBuf::from("/x.config")
    );

    // Passwords: trimmed like kopia; VMDP_PASSWORD wins over KOPIA_PASSWORD;
    // both win over the persisted file.
    assert_eq!(password::password_from_env(), None);
    set("KOPIA_PASSWORD", Some("  kopia-pw \n"));
    assert_eq!(password::password_from_env().as_deref(), Some("kopia-pw"));
    set("VMDP_PASSWORD", Some("vmdp-pw"));
    assert_eq!(password::password_from_env().as_deref(), Some("vmdp-pw"));

    let config_path = dir.path().join("c/repository.config");
    std::fs::create_dir_all(config_path.parent().unwrap()).unwrap();
    std::fs::write(
        &config_path,
        r#"{"apiServer":{"url":"https://h:1","serverCertFingerprint":""},"hostname":"vm1","username":"alice","enableActions":false}"#,
    )
    .unwrap();
    password::write_password_file(&config_path, "file-pw").unwrap();
    set("VMDP_CONFIG_PATH", Some(config_path.to_str().unwrap()));
    let opts = config::load_server_options(None, None).unwrap();
    assert_eq!(opts.password, "vmdp-pw");
    set("VMDP_PASSWORD", None);
    set("KOPIA_PASSWORD", None);
    let opts = config::load_server_options(None, None).unwrap();
    assert_eq!(opts.password, "file-pw");
    assert_eq!(opts.url, "https://h:1");
    assert_eq!(opts.fingerprint, None);
}
