//! Local configuration shared with real kopia v0.23.1: a config written by
//! `vmdp_core::config::connect` is byte-identical to kopia's and usable by
//! `kopia snapshot ...`; a config written by `kopia repository connect server`
//! opens with vmdp.

use std::collections::BTreeMap;
use std::path::Path;

use vmdp_core::Repository;
use vmdp_core::config::{self, ConnectOptions, paths};
use vmdp_testkit::{KopiaServer, kopia_command, run_kopia};

const ALICE: &str = "alice@vm1:alice-pw";

fn snapshot_labels() -> BTreeMap<String, String> {
    [("type", "snapshot")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn our_config_equals_kopias_and_kopia_uses_it() {
    let server = KopiaServer::start(&[ALICE]);
    let alice = server.user(0).clone();
    let home = server.client_home("shared");
    let config_path = home.join("repository.config");
    let password_path = paths::password_file_path(&config_path);

    // What kopia writes (cache directory from KOPIA_CACHE_DIRECTORY=<home>/cache).
    server.connect_kopia_server(&home, &alice);
    let kopia_config = std::fs::read(&config_path).unwrap();
    let kopia_password = std::fs::read(&password_path).unwrap();
    assert_eq!(kopia_password, b"YWxpY2UtcHc="); // base64("alice-pw")
    config::disconnect(Some(&config_path)).unwrap();
    assert!(!config_path.exists() && !password_path.exists());

    let (written, repo) = config::connect(ConnectOptions {
        config_path: Some(config_path.clone()),
        url: server.url().to_owned(),
        fingerprint: Some(server.fingerprint().to_ascii_uppercase()),
        username: Some(alice.username.clone()),
        hostname: Some(alice.hostname.clone()),
        password: Some(alice.password.clone()),
        persist_password: true,
        cache_directory: Some(home.join("cache")),
        ..Default::default()
    })
    .await
    .unwrap();
    repo.close().await.unwrap();
    assert_eq!(written, config_path);
    assert_eq!(
        String::from_utf8(std::fs::read(&config_path).unwrap()).unwrap(),
        String::from_utf8(kopia_config).unwrap()
    );
    assert_eq!(std::fs::read(&password_path).unwrap(), kopia_password);
    #[cfg(unix)]
    {
        assert_eq!(mode(&config_path), 0o600);
        assert_eq!(mode(&password_path), 0o600);
    }

    // kopia works with our config and persisted password (no KOPIA_PASSWORD).
    let source = home.join("src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("file.txt"), b"hello from kopia").unwrap();
    run_kopia(&home, &["snapshot", "create", source.to_str().unwrap()]);
    let listed: serde_json::Value =
        serde_json::from_slice(&run_kopia(&home, &["snapshot", "list", "--json"])).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");

    // ... and we see kopia's snapshot through the same config.
    let repo = config::open_from_config(Some(&config_path), None)
        .await
        .unwrap();
    let snaps = repo.find_manifests(&snapshot_labels()).await.unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].id, listed[0]["id"].as_str().unwrap());
    assert_eq!(snaps[0].labels["username"], "alice");
    repo.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn kopia_written_config_opens_with_vmdp() {
    let server = KopiaServer::start(&[ALICE]);
    let alice = server.user(0).clone();
    let home = server.client_home("kopia");
    server.connect_kopia_server(&home, &alice);
    let config_path = home.join("repository.config");

    let opts = config::load_server_options(Some(&config_path), None).unwrap();
    assert_eq!(opts.url, server.url());
    assert_eq!(opts.fingerprint.as_deref(), Some(server.fingerprint()));
    assert_eq!(
        (opts.username.as_str(), opts.hostname.as_str()),
        ("alice", "vm1")
    );
    if std::env::var_os("VMDP_PASSWORD").is_none() && std::env::var_os("KOPIA_PASSWORD").is_none() {
        assert_eq!(opts.password, "alice-pw", "read from kopia's password file");
    }
    let repo = config::open_from_config(Some(&config_path), Some("alice-pw"))
        .await
        .unwrap();
    let id = repo
        .put_manifest(
            &[
                ("type", "vmdp-test"),
                ("username", "alice"),
                ("hostname", "vm1"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            br#"{"x":1}"#,
        )
        .await
        .unwrap();
    repo.flush().await.unwrap();
    repo.close().await.unwrap();
    // kopia, through the server with its own config, sees our manifest.
    let out = run_kopia(
        &home,
        &["manifest", "list", "--json", "--filter=type:vmdp-test"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v[0]["id"].as_str(), Some(id.as_str()), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn default_cache_directory_matches_kopia() {
    let server = KopiaServer::start(&[ALICE]);
    let alice = server.user(0).clone();
    let home = server.client_home("defaults");
    let config_path = home.join("repository.config");
    let out = kopia_command(&home)
        .env_remove("KOPIA_CACHE_DIRECTORY")
        .env("KOPIA_PASSWORD", &alice.password)
        .args([
            "repository",
            "connect",
            "server",
            "--url",
            server.url(),
            "--server-cert-fingerprint",
            server.fingerprint(),
            "--override-username",
            &alice.username,
            "--override-hostname",
            &alice.hostname,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = config::LocalConfig::load(&config_path).unwrap();
    let kopia_dir = cfg.caching.unwrap().cache_directory;
    let ours = paths::default_cache_directory(server.url(), &config_path).unwrap();
    let name = ours.file_name().unwrap().to_str().unwrap();
    assert!(
        kopia_dir.ends_with(&format!("kopia/{name}")),
        "kopia chose {kopia_dir}, vmdp would choose {}",
        ours.display()
    );
}
