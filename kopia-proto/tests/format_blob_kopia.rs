//! The format blob against real kopia v0.23.1: we read what kopia writes (for
//! every encryption, format version and KDF), and kopia opens what we write
//! (a re-keyed format blob and a repository created from scratch).

use std::path::Path;

use kopia_proto::format_blob::{
    BlobStorageConfig, FormatBlob, FormatError, KeyDerivation, RepositoryConfig,
};
use serde_json::Value;
use vmdp_testkit::{kopia_command, run_kopia};

const PASSWORD: &str = "kopia-test-pw";

fn read_blob(repo: &Path, id: &str) -> Vec<u8> {
    std::fs::read(repo.join(format!("{id}.f"))).unwrap()
}

fn write_blob(repo: &Path, id: &str, data: &[u8]) {
    std::fs::write(repo.join(format!("{id}.f")), data).unwrap();
}

fn status(home: &Path) -> Value {
    serde_json::from_slice(&run_kopia(home, &["repository", "status", "--json"])).unwrap()
}

/// Checks our decoding of the repository at `repo` against `kopia repository status`.
fn assert_matches_status(blob: &FormatBlob, cfg: &RepositoryConfig, st: &Value) {
    assert_eq!(st["uniqueIDHex"], hex::encode(&blob.unique_id));
    // status prints ContentFormat without the sensitive fields; our serialization of
    // the same fields must be identical, key for key.
    let mut ours: Value = serde_json::from_slice(&cfg.to_json()).unwrap();
    let ours = ours["format"].as_object_mut().unwrap();
    ours.remove("secret");
    ours.remove("masterKey");
    let splitter = ours.remove("splitter").unwrap_or(Value::Null);
    assert_eq!(Value::Object(ours.clone()), st["contentFormat"]);
    assert_eq!(splitter, st["objectFormat"]["splitter"]);
    assert_eq!(cfg.master_key.len(), 32);
}

fn create(tmp: &Path, name: &str, extra: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
    let home = tmp.join(name).join("home");
    let repo = tmp.join(name).join("repo");
    std::fs::create_dir_all(&home).unwrap();
    let mut args = vec!["repository", "create", "filesystem", "--path"];
    let repo_s = repo.to_str().unwrap().to_string();
    args.push(&repo_s);
    let pw = format!("--password={PASSWORD}");
    args.push(&pw);
    args.extend_from_slice(extra);
    run_kopia(&home, &args);
    (home, repo)
}

#[test]
fn we_read_what_kopia_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("default", &[]),
        ("chacha", &["--encryption=CHACHA20-POLY1305-HMAC-SHA256"]),
        ("v1", &["--format-version=1"]),
        ("v2", &["--format-version=2"]),
        (
            "pbkdf2",
            &["--format-block-key-derivation-algorithm=pbkdf2-sha256-600000"],
        ),
        (
            "blake3",
            &["--block-hash=BLAKE3-256", "--object-splitter=FIXED-1M"],
        ),
        (
            "ecc",
            &["--ecc=REED-SOLOMON-CRC32", "--ecc-overhead-percent=2"],
        ),
    ];
    for &(name, extra) in cases {
        let (home, repo) = create(tmp.path(), name, extra);
        let bytes = read_blob(&repo, "kopia.repository");
        let blob = FormatBlob::parse(&bytes).unwrap();
        // Our serialization reproduces kopia's file byte for byte.
        assert_eq!(
            String::from_utf8(blob.to_bytes()).unwrap(),
            String::from_utf8(bytes).unwrap(),
            "{name}"
        );
        let key = blob.derive_format_key(PASSWORD).unwrap();
        let cfg = blob.decrypt_config_with_key(&key).unwrap();
        // Our inner JSON is kopia's plaintext byte for byte.
        let plaintext = key
            .open(&blob.unique_id, &blob.encrypted_block_format)
            .unwrap();
        assert_eq!(
            String::from_utf8(cfg.to_json()).unwrap(),
            String::from_utf8(plaintext).unwrap(),
            "{name}"
        );
        let st = status(&home);
        assert_matches_status(&blob, &cfg, &st);
        let blobcfg =
            BlobStorageConfig::decrypt(&read_blob(&repo, "kopia.blobcfg"), &blob, &key).unwrap();
        assert_eq!(blobcfg, BlobStorageConfig::default());
        assert_eq!(st["blobRetention"], serde_json::json!({}));

        match name {
            "ecc" => {
                assert_eq!(cfg.ecc, "REED-SOLOMON-CRC32");
                assert_eq!(cfg.ecc_overhead_percent, 2);
                assert!(matches!(
                    cfg.check_supported(),
                    Err(FormatError::EccUnsupported(_))
                ));
            }
            "v1" => {
                assert_eq!((cfg.version, cfg.index_version), (1, 1));
                assert!(!cfg.enable_password_change && !cfg.epoch_parameters.enabled);
                cfg.check_supported().unwrap();
            }
            "pbkdf2" => {
                assert_eq!(blob.key_derivation().unwrap(), KeyDerivation::Pbkdf2Sha256);
                cfg.check_supported().unwrap();
            }
            _ => cfg.check_supported().unwrap(),
        }
        if name == "default" || name == "pbkdf2" {
            assert_eq!(
                blob.decrypt_config("wrong password"),
                Err(FormatError::InvalidPassword)
            );
        }
    }
}

fn connect(home: &Path, repo: &Path, password: &str) -> std::process::Output {
    std::fs::create_dir_all(home).unwrap();
    kopia_command(home)
        .args(["repository", "connect", "filesystem", "--path"])
        .arg(repo)
        .arg(format!("--password={password}"))
        .output()
        .unwrap()
}

#[test]
fn kopia_opens_a_format_blob_we_re_encrypted() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, extra) in [
        ("rekey-v3", &[][..]),
        ("rekey-v1", &["--format-version=1"][..]),
    ] {
        let (_home, repo) = create(tmp.path(), name, extra);
        let old = FormatBlob::parse(&read_blob(&repo, "kopia.repository")).unwrap();
        let old_key = old.derive_format_key(PASSWORD).unwrap();
        let cfg = old.decrypt_config_with_key(&old_key).unwrap();
        let blobcfg =
            BlobStorageConfig::decrypt(&read_blob(&repo, "kopia.blobcfg"), &old, &old_key).unwrap();

        // New password, other KDF, fresh nonce; uniqueID and config unchanged.
        let mut blob = old.clone();
        let new_key = blob
            .set_password(&cfg, "a new password", KeyDerivation::Pbkdf2Sha256)
            .unwrap();
        assert_ne!(blob.encrypted_block_format, old.encrypted_block_format);
        write_blob(&repo, "kopia.repository", &blob.to_bytes());
        write_blob(
            &repo,
            "kopia.blobcfg",
            &blobcfg.encrypt(&blob, &new_key).unwrap(),
        );

        let home2 = tmp.path().join(name).join("home2");
        let out = connect(&home2, &repo, "a new password");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let st = status(&home2);
        assert_matches_status(&blob, &cfg, &st);
        assert_eq!(st["uniqueIDHex"], hex::encode(&old.unique_id));
        // A kopia write session (policy change) still works with the re-keyed blob.
        run_kopia(&home2, &["policy", "set", "--global", "--keep-latest=7"]);

        let home3 = tmp.path().join(name).join("home3");
        let out = connect(&home3, &repo, PASSWORD);
        assert!(
            !out.status.success(),
            "{name}: old password must stop working"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("invalid repository password"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn kopia_connects_to_a_repository_we_created() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("ours");
    std::fs::create_dir_all(&repo).unwrap();
    let cfg = RepositoryConfig::new_default();
    let (blob, key) = FormatBlob::create(&cfg, PASSWORD, KeyDerivation::Scrypt65536).unwrap();
    // kopia.blobcfg first, then kopia.repository, as kopia does.
    let blobcfg = BlobStorageConfig::default().encrypt(&blob, &key).unwrap();
    assert_eq!(blobcfg.len(), 30);
    write_blob(&repo, "kopia.blobcfg", &blobcfg);
    write_blob(&repo, "kopia.repository", &blob.to_bytes());

    let home = tmp.path().join("home");
    let out = connect(&home, &repo, PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = status(&home);
    assert_matches_status(&blob, &cfg, &st);

    // Kopia can write and read back a snapshot with our keys.
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("a.txt"),
        b"hello from a repository created by vmdp\n",
    )
    .unwrap();
    run_kopia(&home, &["snapshot", "create", src.to_str().unwrap()]);
    let list: Value =
        serde_json::from_slice(&run_kopia(&home, &["snapshot", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    run_kopia(&home, &["snapshot", "verify", "--verify-files-percent=100"]);

    let out = connect(&tmp.path().join("home-wrong"), &repo, "wrong");
    assert!(!out.status.success());
}
