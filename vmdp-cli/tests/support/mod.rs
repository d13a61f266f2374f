//! Running the `vmdp` binary and real kopia side by side against one real
//! kopia server.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use vmdp_testkit::{KopiaServer, ServerUser};

/// A `vmdp` command with its config under `home` (nothing from the real user).
pub fn vmdp(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vmdp"));
    c.env("VMDP_CONFIG_PATH", home.join("repository.config"))
        .env("KOPIA_CACHE_DIRECTORY", home.join("cache"))
        .env("HOME", home)
        .env_remove("VMDP_PASSWORD")
        .env_remove("KOPIA_PASSWORD")
        .env_remove("KOPIA_CONFIG_PATH")
        .stdin(Stdio::null());
    c
}

/// Runs a command, returning its output (never panics on a non-zero exit).
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `vmdp ARGS` under `home` and requires success; returns stdout.
pub fn vmdp_ok(home: &Path, args: &[&str]) -> String {
    let out = run(vmdp(home).args(args));
    assert!(
        out.status.success(),
        "vmdp {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `vmdp ARGS --json` under `home`, requires success, parses stdout.
pub fn vmdp_json(home: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = vmdp_ok(home, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("vmdp {args:?}: bad JSON {e}: {text}"))
}

/// `vmdp connect` as `user` with the password on stdin; returns the output.
pub fn vmdp_connect(
    home: &Path,
    server: &KopiaServer,
    user: &ServerUser,
    password: &str,
) -> Output {
    vmdp_connect_with(home, server.url(), server.fingerprint(), user, password)
}

/// `vmdp connect` with an explicit URL and fingerprint.
pub fn vmdp_connect_with(
    home: &Path,
    url: &str,
    fingerprint: &str,
    user: &ServerUser,
    password: &str,
) -> Output {
    let mut child = vmdp(home)
        .args([
            "connect",
            "--url",
            url,
            "--server-cert-fingerprint",
            fingerprint,
            "--username",
            &user.identity(),
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run vmdp: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{password}");
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("vmdp connect: {e}"))
}

/// Connects `vmdp` as `user` and requires success.
pub fn connect_ok(home: &Path, server: &KopiaServer, user: &ServerUser) {
    let out = vmdp_connect(home, server, user, &user.password);
    assert!(
        out.status.success(),
        "vmdp connect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Client homes for the server's first user, connected with vmdp (first) and with
/// kopia (second), to compare the two tools on the same account.
pub fn connect_both(server: &KopiaServer) -> (PathBuf, PathBuf) {
    let user = server.user(0).clone();
    let vhome = server.client_home("vmdp-alice");
    let khome = server.client_home("kopia-alice");
    connect_ok(&vhome, server, &user);
    server.connect_kopia_server(&khome, &user);
    (vhome, khome)
}

/// A fresh scratch directory under the server's directory.
pub fn scratch(server: &KopiaServer, name: &str) -> PathBuf {
    let p = server.dir().join("scratch").join(name);
    std::fs::create_dir_all(p.parent().expect("scratch has a parent"))
        .unwrap_or_else(|e| panic!("{e}"));
    p
}

/// Kopia's root object ID of its newest snapshot of `source` (as `kopia
/// snapshot list --json` reports it).
pub fn kopia_snapshots(home: &Path, source: &Path) -> Vec<Value> {
    let out = vmdp_testkit::run_kopia(
        home,
        &[
            "snapshot",
            "list",
            "--json",
            source.to_str().expect("UTF-8 path"),
        ],
    );
    serde_json::from_slice(&out).unwrap_or_else(|e| panic!("kopia snapshot list: {e}"))
}
